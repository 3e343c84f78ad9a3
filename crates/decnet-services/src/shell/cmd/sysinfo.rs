//! System tools answering from the persona: identity (`uname`, `id`, …),
//! processes (`ps`, `top`, `kill`), sessions (`w`, `who`, `last`), resources
//! (`free`, `df`, `lscpu`, …), services (`systemctl`, `service`, `ss`,
//! `netstat`), packages (`apt`, `dnf`, …), accounts and interpreters.

use chrono::{DateTime, Utc};

use super::Outcome;
use crate::shell::tree::{load, session, swap_kb};
use crate::shell::State;

/// Runs a system tool; `None` when `name` is not one.
pub fn run(name: &str, st: &mut State, args: &[String], stdin: &[u8]) -> Option<Outcome> {
    let _ = stdin;
    let p = &st.persona;
    Some(match name {
        "uname" => uname(st, args),
        "arch" => Outcome::ok("x86_64\n"),
        "id" => id(st, args),
        "whoami" => Outcome::ok(format!("{}\n", st.user)),
        "groups" => {
            let user = args.first().cloned().unwrap_or_else(|| st.user.clone());
            let g: Vec<String> = st.groups_of(&user).into_iter().map(|(n, _)| n).collect();
            if g.is_empty() {
                return Some(Outcome::fail_err(format!("groups: '{user}': no such user\n"), 1));
            }
            if args.is_empty() {
                Outcome::ok(format!("{}\n", g.join(" ")))
            } else {
                Outcome::ok(format!("{user} : {}\n", g.join(" ")))
            }
        }
        "hostname" => match args.first().map(String::as_str) {
            Some("-I") => Outcome::ok(format!("{} \n", p.ip)),
            Some("-i") => Outcome::ok(format!("{}\n", p.ip)),
            Some("-f" | "--fqdn") => Outcome::ok(format!("{}\n", p.hostname)),
            Some(a) if !a.starts_with('-') => Outcome::fail_err("hostname: you must be root to change the host name\n", 1),
            _ => Outcome::ok(format!("{}\n", p.hostname.split('.').next().unwrap_or(""))),
        },
        "nproc" => Outcome::ok(format!("{}\n", p.cpus)),
        "uptime" => {
            if args.iter().any(|a| a == "-p") {
                let up = st.now() - p.boot;
                let (d, h, m) = (up / 86_400, up % 86_400 / 3_600, up % 3_600 / 60);
                Outcome::ok(format!("up {d} days, {h} hours, {m} minutes\n"))
            } else if args.iter().any(|a| a == "-s") {
                Outcome::ok(format!("{}\n", fmt_ts(p.boot, "%Y-%m-%d %H:%M:%S")))
            } else {
                Outcome::ok(format!("{}\n", uptime_line(st)))
            }
        }
        "w" => {
            let from = st.peer.ip().to_string();
            Outcome::ok(format!(
                "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n{:<8} pts/0    {:<16} {}    0.00s  0.02s  0.00s w\n",
                uptime_line(st),
                st.user,
                from,
                fmt_ts(st.login, "%H:%M")
            ))
        }
        "who" => {
            if args.iter().any(|a| a == "-b") {
                return Some(Outcome::ok(format!("         system boot  {}\n", fmt_ts(p.boot, "%Y-%m-%d %H:%M"))));
            }
            let from = st.peer.ip().to_string();
            Outcome::ok(format!("{:<8} pts/0        {} ({from})\n", st.user, fmt_ts(st.login, "%Y-%m-%d %H:%M")))
        }
        "last" => last(st),
        "lastlog" => lastlog(st),
        "ps" => ps(st, args),
        "top" => top(st),
        "free" => free(st, args),
        "df" => df(st, args),
        "mount" => Outcome::ok(mount_text()),
        "lscpu" => lscpu(st),
        "hostnamectl" => hostnamectl(st),
        "env" | "printenv" => {
            let env = environment(st);
            if name == "printenv" && !args.is_empty() {
                let mut out = String::new();
                let mut status = 0;
                for a in args {
                    match env.iter().find(|(k, _)| k == a) {
                        Some((_, v)) => out.push_str(&format!("{v}\n")),
                        None => status = 1,
                    }
                }
                return Some(Outcome::fail(out, status));
            }
            let mut out = String::new();
            for (k, v) in env {
                out.push_str(&format!("{k}={v}\n"));
            }
            Outcome::ok(out)
        }
        "date" => date(st, args),
        "sleep" | "sync" | "clear" | "true" | "wait" => {
            if name == "clear" {
                return Some(Outcome::ok("\x1b[H\x1b[2J\x1b[3J"));
            }
            Outcome::ok("")
        }
        "false" => Outcome::fail("", 1),
        "crontab" => crontab(st, args),
        "systemctl" => systemctl(st, args),
        "service" => service(st, args),
        "apt" | "apt-get" | "apt-cache" | "dpkg" | "yum" | "dnf" | "rpm" | "apk" | "pacman" => packages(name, st, args),
        "passwd" => passwd(st, args),
        "useradd" | "usermod" | "chpasswd" | "userdel" | "groupadd" => {
            if st.uid != 0 {
                return Some(Outcome::fail_err(format!("{name}: Permission denied.\n{name}: cannot lock /etc/passwd; try again later.\n"), 1));
            }
            Outcome::ok("")
        }
        "netstat" => netstat(st, args),
        "ss" => ss(st, args),
        "python" | "python2" | "python3" | "perl" => interpreter(name, st, args),
        "pkill" | "killall" => {
            if args.iter().all(|a| a.starts_with('-')) {
                return Some(Outcome::fail_err(format!("Usage:\n {name} [options] <pattern>\n"), 2));
            }
            let pat = args.iter().rfind(|a| !a.starts_with('-')).cloned().unwrap_or_default();
            let hit = processes(st).iter().any(|pr| pr.cmd.contains(&pat));
            if !hit {
                return Some(Outcome::fail("", 1));
            }
            if st.uid != 0 {
                return Some(Outcome::fail_err(format!("{name}: killing pid {} failed: Operation not permitted\n", processes(st).iter().find(|pr| pr.cmd.contains(&pat)).map_or(1, |p| p.pid)), 1));
            }
            Outcome::ok("")
        }
        "pgrep" => {
            let pat = args.iter().rfind(|a| !a.starts_with('-')).cloned().unwrap_or_default();
            let full = args.iter().any(|a| a == "-f" || a == "-a");
            let mut out = String::new();
            for pr in processes(st) {
                let name = pr.cmd.split_whitespace().next().unwrap_or("").rsplit('/').next().unwrap_or("").trim_end_matches(':');
                if (full && pr.cmd.contains(&pat)) || (!full && name.contains(&pat)) {
                    out.push_str(&format!("{}\n", pr.pid));
                }
            }
            let status = i32::from(out.is_empty());
            Outcome::fail(out, status)
        }
        "which" => which(st, args),
        "getent" => getent(st, args),
        "dmesg" => {
            if st.uid != 0 {
                return Some(Outcome::fail_err("dmesg: read kernel buffer failed: Operation not permitted\n", 1));
            }
            Outcome::ok(format!("[    0.000000] Linux version {}", p.proc_version().trim_start_matches("Linux version ")))
        }
        "lsblk" => Outcome::ok("NAME    MAJ:MIN RM  SIZE RO TYPE MOUNTPOINTS\nsda       8:0    0   80G  0 disk \n├─sda1    8:1    0 79.9G  0 part /\n├─sda14   8:14   0    3M  0 part \n└─sda15   8:15   0  124M  0 part /boot/efi\n"),
        "iptables" => {
            if st.uid != 0 {
                return Some(Outcome::fail_err("iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n\n", 4));
            }
            Outcome::ok("Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination         \n\nChain FORWARD (policy ACCEPT)\ntarget     prot opt source               destination         \n\nChain OUTPUT (policy ACCEPT)\ntarget     prot opt source               destination         \n")
        }
        "reboot" | "shutdown" | "poweroff" | "halt" => {
            if st.uid != 0 {
                return Some(Outcome::fail_err("Call to Reboot failed: Interactive authentication required.\n", 1));
            }
            Outcome::ok("")
        }
        "tar" | "gzip" | "gunzip" => {
            if args.is_empty() {
                return Some(Outcome::fail_err(format!("{name}: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\nTry '{name} --help' or '{name} --usage' for more information.\n"), 2));
            }
            Outcome::ok("")
        }
        "kill" => kill(st, args),
        "busybox" => Outcome::ok(format!(
            "BusyBox {} multi-call binary.\nBusyBox is copyrighted by many authors between 1998-2015.\nLicensed under GPLv2. See source distribution for detailed\ncopyright notices.\n\nUsage: busybox [function [arguments]...]\n   or: busybox --list[-full]\n   or: busybox --show SCRIPT\n   or: busybox --install [-s] [DIR]\n   or: function [arguments]...\n\n\tBusyBox is a multi-call binary that combines many common Unix\n\tutilities into a single executable.  Most people will create a\n\tlink to busybox for each function they wish to use and BusyBox\n\twill act like whatever it was invoked as.\n",
            match p.distro.os_id {
                "ubuntu" => "v1.30.1 (Ubuntu 1:1.30.1-7ubuntu3)",
                "alpine" => "v1.36.1 (2023-11-07 18:53:09 UTC)",
                _ => "v1.35.0 (Debian 1:1.35.0-4+b3)",
            }
        )),
        "scp" => Outcome::fail_err("usage: scp [-346ABCOpqRrsTv] [-c cipher] [-D sftp_server_path] [-F ssh_config]\n           [-i identity_file] [-J destination] [-l limit] [-o ssh_option]\n           [-P port] [-S program] [-X sftp_option] source ... target\n", 1),
        "ssh" if args.is_empty() => Outcome::fail_err("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface] [-b bind_address]\n           [-c cipher_spec] [-D [bind_address:]port] [-E log_file]\n           [-e escape_char] [-F configfile] [-I pkcs11] [-i identity_file]\n           [-J destination] [-L address] [-l login_name] [-m mac_spec]\n           [-O ctl_cmd] [-o option] [-P tag] [-p port] [-Q query_option]\n           [-R address] [-S ctl_path] [-W host:port] [-w local_tun[:remote_tun]]\n           destination [command [argument ...]]\n", 255),
        "ssh" => {
            let host = args.iter().rfind(|a| !a.starts_with('-')).cloned().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or("").to_owned();
            Outcome::fail_err(format!("ssh: connect to host {host} port 22: Connection timed out\n"), 255)
        }
        "su" | "sudo" => return None,
        _ => return None,
    })
}

fn fmt_ts(t: i64, f: &str) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format(f).to_string())
        .unwrap_or_default()
}

fn uname(st: &State, args: &[String]) -> Outcome {
    let mut flags = String::new();
    for a in args {
        match a.as_str() {
            "--all" => flags.push('a'),
            "--kernel-name" => flags.push('s'),
            "--nodename" => flags.push('n'),
            "--kernel-release" => flags.push('r'),
            "--kernel-version" => flags.push('v'),
            "--machine" => flags.push('m'),
            "--processor" => flags.push('p'),
            "--hardware-platform" => flags.push('i'),
            "--operating-system" => flags.push('o'),
            s if s.starts_with('-') && !s.starts_with("--") => {
                flags.push_str(s.get(1..).unwrap_or(""))
            }
            s => {
                return Outcome::fail_err(
                    format!(
                        "uname: extra operand '{s}'\nTry 'uname --help' for more information.\n"
                    ),
                    1,
                );
            }
        }
    }
    if let Some(c) = flags.chars().find(|c| !"asnrvmpio".contains(*c)) {
        return Outcome::fail_err(
            format!("uname: invalid option -- '{c}'\nTry 'uname --help' for more information.\n"),
            1,
        );
    }
    let p = &st.persona;
    Outcome::ok(format!(
        "{}\n",
        p.distro.uname(&flags, &p.hostname, &p.kernel_release)
    ))
}

fn id(st: &State, args: &[String]) -> Outcome {
    let (opts, names): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| a.starts_with('-'));
    let user = names.first().map_or(st.user.clone(), |s| (*s).clone());
    let Some(uid) = st.uid_of(&user).or((user == st.user).then_some(st.uid)) else {
        return Outcome::fail_err(format!("id: '{user}': no such user\n"), 1);
    };
    let groups = st.groups_of(&user);
    let (gname, gid) = groups
        .first()
        .cloned()
        .unwrap_or_else(|| (user.clone(), uid));
    let flag = |c: char| opts.iter().any(|o| o.contains(c));
    if flag('u') {
        return Outcome::ok(if flag('n') {
            format!("{user}\n")
        } else {
            format!("{uid}\n")
        });
    }
    if flag('G') {
        let v: Vec<String> = groups
            .iter()
            .map(|(n, g)| if flag('n') { n.clone() } else { g.to_string() })
            .collect();
        return Outcome::ok(format!("{}\n", v.join(" ")));
    }
    if flag('g') {
        return Outcome::ok(if flag('n') {
            format!("{gname}\n")
        } else {
            format!("{gid}\n")
        });
    }
    let gs: Vec<String> = groups.iter().map(|(n, g)| format!("{g}({n})")).collect();
    let ctx =
        if matches!(st.persona.distro.os_id, "rocky" | "centos" | "fedora") && names.is_empty() {
            " context=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"
        } else {
            ""
        };
    Outcome::ok(format!(
        "uid={uid}({user}) gid={gid}({gname}) groups={}{ctx}\n",
        gs.join(",")
    ))
}

fn uptime_line(st: &State) -> String {
    let now = st.now();
    let up = (now - st.persona.boot).max(0);
    let days = up / 86_400;
    let h = up % 86_400 / 3_600;
    let m = up % 3_600 / 60;
    let l = load(st);
    let upstr = match days {
        0 if h == 0 => format!("{m} min"),
        0 => format!("{h:>2}:{m:02}"),
        1 => format!("1 day, {h:>2}:{m:02}"),
        d => format!("{d} days, {h:>2}:{m:02}"),
    };
    format!(
        " {} up {upstr},  1 user,  load average: {}.{:02}, {}.{:02}, {}.{:02}",
        fmt_ts(now, "%H:%M:%S"),
        l[0] / 100,
        l[0] % 100,
        l[1] / 100,
        l[1] % 100,
        l[2] / 100,
        l[2] % 100
    )
}

/// A process `ps` lists.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Owner.
    pub user: String,
    /// PID.
    pub pid: u32,
    /// Start time (Unix seconds).
    pub start: i64,
    /// VSZ kB.
    pub vsz: u32,
    /// RSS kB.
    pub rss: u32,
    /// TTY.
    pub tty: &'static str,
    /// STAT.
    pub stat: &'static str,
    /// Command line.
    pub cmd: String,
}

/// The processes the decky runs: the release's base system, the decky's
/// services, and this session; PIDs and start times from the seed and boot time.
pub fn processes(st: &State) -> Vec<Proc> {
    let p = &st.persona;
    let boot = p.boot;
    let debian = matches!(p.distro.os_id, "debian" | "ubuntu" | "kali");
    let el = matches!(p.distro.os_id, "rocky" | "centos" | "fedora");
    let mut v: Vec<Proc> = Vec::new();
    let mut pid: u32 = 1;
    let mut add =
        |user: &str, cmd: &str, vsz: u32, rss: u32, stat: &'static str, gap: u32, start: i64| {
            v.push(Proc {
                user: user.to_owned(),
                pid,
                start,
                vsz,
                rss,
                tty: "?",
                stat,
                cmd: cmd.to_owned(),
            });
            pid += gap;
        };
    let j = |label: &str, n: u64| u32::try_from(p.pick(label, n)).unwrap_or(0);
    add(
        "root",
        if el {
            "/usr/lib/systemd/systemd --switched-root --system --deserialize 31"
        } else {
            "/sbin/init"
        },
        167_744,
        12_940,
        "Ss",
        1,
        boot,
    );
    add("root", "[kthreadd]", 0, 0, "S", 1, boot);
    add("root", "[rcu_gp]", 0, 0, "I<", 1, boot);
    add("root", "[rcu_par_gp]", 0, 0, "I<", 1, boot);
    add("root", "[slub_flushwq]", 0, 0, "I<", 1, boot);
    add("root", "[netns]", 0, 0, "I<", 4, boot);
    add("root", "[mm_percpu_wq]", 0, 0, "I<", 1, boot);
    add("root", "[rcu_tasks_kthread]", 0, 0, "I", 1, boot);
    add("root", "[ksoftirqd/0]", 0, 0, "S", 1, boot);
    add("root", "[rcu_preempt]", 0, 0, "I", 1, boot);
    add("root", "[migration/0]", 0, 0, "S", 1, boot);
    add("root", "[cpuhp/0]", 0, 0, "S", 8 * p.cpus.max(1), boot);
    add("root", "[kdevtmpfs]", 0, 0, "S", 1, boot);
    add("root", "[kauditd]", 0, 0, "S", 1, boot);
    add("root", "[khungtaskd]", 0, 0, "S", 1, boot);
    add("root", "[oom_reaper]", 0, 0, "S", 2, boot);
    add("root", "[kcompactd0]", 0, 0, "S", 1, boot);
    add(
        "root",
        "[khugepaged]",
        0,
        0,
        "SN",
        60 + j("kthreads", 40),
        boot,
    );
    add("root", "[jbd2/sda1-8]", 0, 0, "S", 1, boot + 1);
    add(
        "root",
        "[ext4-rsv-conver]",
        0,
        0,
        "I<",
        60 + j("journald", 200),
        boot + 1,
    );
    let t = boot + 2;
    add(
        "root",
        if debian {
            "/lib/systemd/systemd-journald"
        } else {
            "/usr/lib/systemd/systemd-journald"
        },
        48_004,
        16_180,
        "Ss",
        20 + j("udevd", 30),
        t,
    );
    add(
        "root",
        if debian {
            "/lib/systemd/systemd-udevd"
        } else {
            "/usr/lib/systemd/systemd-udevd"
        },
        25_876,
        6_472,
        "Ss",
        150 + j("svc", 300),
        t,
    );
    if p.distro.os_id == "ubuntu" {
        add(
            "systemd+",
            "/lib/systemd/systemd-networkd",
            16_108,
            8_104,
            "Ss",
            2,
            t + 3,
        );
        add(
            "systemd+",
            "/lib/systemd/systemd-resolved",
            25_532,
            12_632,
            "Ss",
            30,
            t + 3,
        );
    }
    if p.distro.os_id == "debian" {
        add("root", "dhclient -4 -v -i -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0.leases -I -df /var/lib/dhcp/dhclient6.eth0.leases eth0", 5_972, 3_612, "Ss", 40, t + 3);
    }
    if el {
        add("root", "/sbin/auditd", 23_236, 2_688, "S<sl", 20, t + 3);
        add(
            "dbus",
            "/usr/bin/dbus-broker-launch --scope system --audit",
            10_960,
            5_504,
            "Ss",
            2,
            t + 3,
        );
        add(
            "root",
            "/usr/sbin/NetworkManager --no-daemon",
            256_012,
            18_420,
            "Ssl",
            4,
            t + 3,
        );
        add(
            "chrony",
            "/usr/sbin/chronyd -F 2",
            84_600,
            3_532,
            "S",
            3,
            t + 3,
        );
    } else {
        add("root", "/usr/sbin/cron -f", 6_608, 2_716, "Ss", 1, t + 4);
        add("message+", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only", 8_600, 4_804, "Ss", 2, t + 4);
        if p.distro.os_id == "ubuntu" {
            add(
                "syslog",
                "/usr/sbin/rsyslogd -n -iNONE",
                222_404,
                6_036,
                "Ssl",
                3,
                t + 4,
            );
        }
    }
    add(
        "root",
        if debian {
            "/lib/systemd/systemd-logind"
        } else {
            "/usr/lib/systemd/systemd-logind"
        },
        17_196,
        7_772,
        "Ss",
        2,
        t + 4,
    );
    add(
        "root",
        "/sbin/agetty -o -p -- \\u --noclear - linux",
        5_876,
        1_036,
        "Ss+",
        30 + j("services", 80),
        t + 5,
    );
    let svc_t = t + 6;
    let mut web = false;
    let mut dovecot = false;
    for s in &p.services {
        match s.as_str() {
            "ssh" => add("root", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", 15_436, 9_204, "Ss", 9, svc_t),
            "http" | "https" if !web => {
                web = true;
                match p.distro.web_server {
                    decnet_core::persona::WebServer::Nginx => {
                        add("root", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", 10_352, 1_796, "Ss", 1, svc_t);
                        for _ in 0..p.cpus {
                            add("www-data", "nginx: worker process", 10_928, 4_332, "S", 1, svc_t);
                        }
                    }
                    decnet_core::persona::WebServer::Apache if debian => {
                        add("root", "/usr/sbin/apache2 -k start", 6_652, 4_608, "Ss", 1, svc_t);
                        add("www-data", "/usr/sbin/apache2 -k start", 1_213_340, 5_596, "Sl", 1, svc_t);
                        add("www-data", "/usr/sbin/apache2 -k start", 1_213_340, 5_596, "Sl", 1, svc_t);
                    }
                    decnet_core::persona::WebServer::Apache => {
                        add("root", "/usr/sbin/httpd -DFOREGROUND", 20_432, 11_472, "Ss", 1, svc_t);
                        for _ in 0..4 {
                            add("apache", "/usr/sbin/httpd -DFOREGROUND", 21_892, 7_344, "S", 1, svc_t);
                        }
                    }
                }
            }
            "mysql" => add("mysql", "/usr/sbin/mariadbd", 1_324_480, 98_212, "Ssl", 3, svc_t),
            "postgres" => {
                let major = p.distro.package(decnet_core::persona::Package::Postgresql).map_or("15", |v| v.upstream.split('.').next().unwrap_or("15"));
                add("postgres", &format!("/usr/lib/postgresql/{major}/bin/postgres -D /var/lib/postgresql/{major}/main -c config_file=/etc/postgresql/{major}/main/postgresql.conf"), 218_588, 30_012, "Ss", 1, svc_t);
                for w in ["checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher"] {
                    add("postgres", &format!("postgres: {major}/main: {w} "), 218_720, 6_880, "Ss", 1, svc_t);
                }
            }
            "redis" => add("redis", "/usr/bin/redis-server 127.0.0.1:6379", 67_216, 11_696, "Ssl", 3, svc_t),
            "smtp" => {
                add("root", "/usr/lib/postfix/sbin/master -w", 42_868, 4_596, "Ss", 1, svc_t);
                add("postfix", "pickup -l -t unix -u -c", 42_964, 7_364, "S", 1, svc_t);
                add("postfix", "qmgr -l -t unix -u", 43_012, 7_528, "S", 2, svc_t);
            }
            "imap" | "pop3" if !dovecot => {
                dovecot = true;
                add("root", "/usr/sbin/dovecot -F", 7_408, 3_208, "Ss", 1, svc_t);
                add("dovecot", "dovecot/anvil", 5_724, 2_048, "S", 1, svc_t);
                add("root", "dovecot/log", 5_856, 2_568, "S", 1, svc_t);
                add("root", "dovecot/config", 7_552, 4_296, "S", 2, svc_t);
            }
            "ftp" => add("root", "/usr/sbin/vsftpd /etc/vsftpd.conf", 7_784, 2_532, "Ss", 2, svc_t),
            "snmp" => add("Debian-+", "/usr/sbin/snmpd -LOw -u Debian-snmp -g Debian-snmp -I -smux mteTrigger mteTriggerConf -f -p /run/snmpd.pid", 24_044, 9_316, "Ss", 2, svc_t),
            "mqtt" => add("mosquit+", "/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf", 13_284, 5_652, "Ss", 2, svc_t),
            "docker_api" => {
                add("root", "/usr/bin/containerd", 1_875_092, 45_012, "Ssl", 3, svc_t);
                add("root", "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", 2_165_884, 88_304, "Ssl", 3, svc_t);
            }
            "telnet" => add("root", "/usr/sbin/inetd", 3_108, 1_468, "Ss", 2, svc_t),
            _ => {}
        }
    }
    // This login: sshd's per-connection processes and the shell.
    let login = st.login;
    let spid = st.pid.saturating_sub(12);
    v.push(Proc {
        user: "root".into(),
        pid: spid,
        start: login,
        vsz: 17_184,
        rss: 10_840,
        tty: "?",
        stat: "Ss",
        cmd: format!("sshd: {} [priv]", st.user),
    });
    if st.uid != 0 {
        v.push(Proc {
            user: st.user.clone(),
            pid: spid + 6,
            start: login,
            vsz: 17_184,
            rss: 6_920,
            tty: "?",
            stat: "S",
            cmd: format!("sshd: {}@pts/0", st.user),
        });
    }
    let user = if st.user.len() > 8 {
        format!("{}+", st.user.get(..7).unwrap_or(""))
    } else {
        st.user.clone()
    };
    v.push(Proc {
        user: user.clone(),
        pid: st.pid,
        start: login,
        vsz: 8_756,
        rss: 5_420,
        tty: "pts/0",
        stat: "Ss",
        cmd: "-bash".into(),
    });
    v
}

fn ps(st: &State, args: &[String]) -> Outcome {
    let a = args.join(" ");
    let full = a.contains('a') && a.contains('x')
        || a.contains("-e")
        || a.contains("-A")
        || a.contains("aux");
    let now = st.now();
    let me = st.peek_pid();
    let user = if st.user.len() > 8 {
        format!("{}+", st.user.get(..7).unwrap_or(""))
    } else {
        st.user.clone()
    };
    if !full {
        return Outcome::ok(format!("    PID TTY          TIME CMD\n{:>7} pts/0    00:00:00 bash\n{:>7} pts/0    00:00:00 ps\n", st.pid, me));
    }
    let bsd = !a.contains('-') || a.contains("aux");
    let procs = processes(st);
    let total_kb = st.persona.mem_kb.max(1);
    let start = |t: i64| {
        if now - t > 86_400 {
            fmt_ts(t, "%b%d")
        } else {
            fmt_ts(t, "%H:%M")
        }
    };
    let mut out = String::new();
    if bsd {
        out.push_str(
            "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n",
        );
        for p in &procs {
            let mem = u64::from(p.rss) * 1000 / total_kb;
            let cpu_time = (now - p.start).max(0) / 86_400 / 3;
            out.push_str(&format!(
                "{:<8} {:>7}  0.0 {:>2}.{} {:>6} {:>5} {:<8} {:<4} {:>5} {:>3}:{:02} {}\n",
                p.user,
                p.pid,
                mem / 10,
                mem % 10,
                p.vsz,
                p.rss,
                p.tty,
                p.stat,
                start(p.start),
                cpu_time / 60,
                cpu_time % 60,
                p.cmd
            ));
        }
        out.push_str(&format!(
            "{user:<8} {me:>7}  0.0  0.0  11084  4492 pts/0    R+   {:>5}   0:00 ps {}\n",
            fmt_ts(now, "%H:%M"),
            args.join(" ")
        ));
    } else {
        out.push_str("UID          PID    PPID  C STIME TTY          TIME CMD\n");
        for p in &procs {
            let ppid = match p.pid {
                1 | 2 => 0,
                _ if p.cmd.starts_with('[') => 2,
                _ => 1,
            };
            out.push_str(&format!(
                "{:<8} {:>7} {:>7}  0 {:>5} {:<8} 00:00:00 {}\n",
                p.user,
                p.pid,
                ppid,
                start(p.start),
                p.tty,
                p.cmd
            ));
        }
        out.push_str(&format!(
            "{user:<8} {me:>7} {:>7}  0 {} pts/0    00:00:00 ps {}\n",
            st.pid,
            fmt_ts(now, "%H:%M"),
            args.join(" ")
        ));
    }
    Outcome::ok(out)
}

fn top(st: &State) -> Outcome {
    let p = &st.persona;
    let n = processes(st).len();
    let mem = p.mem_kb as f64 / 1024.0;
    let free = mem / 3.0;
    Outcome::ok(format!(
        "top - {}\nTasks: {n:>3} total,   1 running, {:>3} sleeping,   0 stopped,   0 zombie\n%Cpu(s):  0.3 us,  0.2 sy,  0.0 ni, 99.5 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st \nMiB Mem : {mem:>8.1} total, {free:>8.1} free, {:>8.1} used, {:>8.1} buff/cache     \nMiB Swap: {:>8.1} total, {:>8.1} free,      0.0 used. {:>8.1} avail Mem \n",
        uptime_line(st).trim_start().trim_start_matches(|c: char| c.is_ascii_digit() || c == ':').trim_start(),
        n.saturating_sub(1),
        mem / 5.0,
        mem - free - mem / 5.0,
        swap_kb(p) as f64 / 1024.0,
        swap_kb(p) as f64 / 1024.0,
        mem / 2.0
    ))
}

fn free(st: &State, args: &[String]) -> Outcome {
    let p = &st.persona;
    let a = args.join(" ");
    let total = p.mem_kb;
    let freek = total / 3 + p.pick(&format!("free{}", st.now() / 60), total / 50);
    let cache = total / 4 + total / 40;
    let used = total.saturating_sub(freek).saturating_sub(cache);
    let shared = 1_204;
    let avail = (freek + cache).min(total);
    let swap = swap_kb(p);
    let f = |k: u64| -> String {
        if a.contains('h') {
            human(k)
        } else if a.contains('g') {
            (k / 1_048_576).to_string()
        } else if a.contains('m') {
            (k / 1024).to_string()
        } else {
            k.to_string()
        }
    };
    Outcome::ok(format!(
        "               total        used        free      shared  buff/cache   available\nMem:     {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\nSwap:    {:>11} {:>11} {:>11}\n",
        f(total),
        f(used),
        f(freek),
        f(shared),
        f(cache),
        f(avail),
        f(swap),
        f(0),
        f(swap)
    ))
}

fn human(kb: u64) -> String {
    let k = kb as f64;
    if k >= 1_048_576.0 {
        format!("{:.1}Gi", k / 1_048_576.0)
    } else if k >= 1024.0 {
        format!("{}Mi", (k / 1024.0).round())
    } else if kb == 0 {
        "0B".to_owned()
    } else {
        format!("{kb}Ki")
    }
}

fn df(st: &State, args: &[String]) -> Outcome {
    let p = &st.persona;
    let size_kb: u64 = [20_466_256, 41_022_688, 81_106_868]
        .get(usize::try_from(p.pick("disk", 3)).unwrap_or(0))
        .copied()
        .unwrap_or(41_022_688);
    let used = size_kb / 100 * (8 + p.pick("disk-used", 40)) + st.fs.overlay_bytes() as u64 / 1024;
    let avail = size_kb.saturating_sub(used).saturating_sub(size_kb / 20);
    let run = p.mem_kb / 10;
    let shm = p.mem_kb / 2;
    let pct = |u: u64, s: u64| {
        if s == 0 {
            "-".to_owned()
        } else {
            format!("{}%", (u * 100).div_ceil(s.max(1)))
        }
    };
    let h = args.iter().any(|a| a.starts_with('-') && a.contains('h'));
    let rows: Vec<(&str, u64, u64, u64, &str)> = vec![
        ("udev", p.mem_kb / 2, 0, p.mem_kb / 2, "/dev"),
        ("tmpfs", run, 1_096, run - 1_096, "/run"),
        ("/dev/sda1", size_kb, used, avail, "/"),
        ("tmpfs", shm, 0, shm, "/dev/shm"),
        ("tmpfs", 5_120, 0, 5_120, "/run/lock"),
        ("/dev/sda15", 126_678, 11_840, 114_838, "/boot/efi"),
        ("tmpfs", run, 4, run - 4, "/run/user/0"),
    ];
    let mut out = if h {
        "Filesystem      Size  Used Avail Use% Mounted on\n".to_owned()
    } else {
        "Filesystem     1K-blocks     Used Available Use% Mounted on\n".to_owned()
    };
    for (fs, s, u, a, m) in rows {
        if h {
            out.push_str(&format!(
                "{fs:<15} {:>4} {:>5} {:>5} {:>4} {m}\n",
                dfh(s),
                dfh(u),
                dfh(a),
                pct(u, s)
            ));
        } else {
            out.push_str(&format!(
                "{fs:<14} {s:>9} {u:>8} {a:>9} {:>4} {m}\n",
                pct(u, s)
            ));
        }
    }
    Outcome::ok(out)
}

fn dfh(kb: u64) -> String {
    let k = kb as f64;
    if kb == 0 {
        "0".to_owned()
    } else if k >= 1_048_576.0 {
        let g = k / 1_048_576.0;
        if g < 10.0 {
            format!("{g:.1}G")
        } else {
            format!("{}G", g.ceil())
        }
    } else if k >= 1024.0 {
        let m = k / 1024.0;
        if m < 10.0 {
            format!("{m:.1}M")
        } else {
            format!("{}M", m.ceil())
        }
    } else {
        format!("{kb}K")
    }
}

fn mount_text() -> String {
    "sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)\nproc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\nudev on /dev type devtmpfs (rw,nosuid,relatime,size=1994500k,nr_inodes=498625,mode=755,inode64)\ndevpts on /dev/pts type devpts (rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000)\ntmpfs on /run type tmpfs (rw,nosuid,nodev,noexec,relatime,size=402124k,mode=755,inode64)\n/dev/sda1 on / type ext4 (rw,relatime,errors=remount-ro)\ntmpfs on /dev/shm type tmpfs (rw,nosuid,nodev,inode64)\ntmpfs on /run/lock type tmpfs (rw,nosuid,nodev,noexec,relatime,size=5120k,inode64)\ncgroup2 on /sys/fs/cgroup type cgroup2 (rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot)\n/dev/sda15 on /boot/efi type vfat (rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro)\ntmpfs on /run/user/0 type tmpfs (rw,nosuid,nodev,relatime,size=402120k,nr_inodes=100530,mode=700,inode64)\n".to_owned()
}

fn lscpu(st: &State) -> Outcome {
    let p = &st.persona;
    let m = p.cpu();
    let amd = m.vendor == "AuthenticAMD";
    Outcome::ok(format!(
        "Architecture:            x86_64\n  CPU op-mode(s):        32-bit, 64-bit\n  Address sizes:         {}\n  Byte Order:            Little Endian\nCPU(s):                  {n}\n  On-line CPU(s) list:   0{}\nVendor ID:               {}\n  Model name:            {}\n    CPU family:          {}\n    Model:               {}\n    Thread(s) per core:  1\n    Core(s) per socket:  {n}\n    Socket(s):           1\n    Stepping:            {}\n    BogoMIPS:            {}.{:02}\n    Flags:               {}\nVirtualization features: \n  Hypervisor vendor:     KVM\n  Virtualization type:   full\nCaches (sum of all):     \n  L1d:                   {} KiB ({n} instances)\n  L1i:                   {} KiB ({n} instances)\n  L2:                    {} MiB ({n} instances)\n  L3:                    {} MiB (1 instance)\nNUMA:                    \n  NUMA node(s):          1\n  NUMA node0 CPU(s):     0{}\n",
        m.address_sizes,
        if p.cpus > 1 { format!("-{}", p.cpus - 1) } else { String::new() },
        m.vendor,
        m.name,
        m.family,
        m.model,
        m.stepping,
        m.bogomips_centi / 100,
        m.bogomips_centi % 100,
        m.flags,
        32 * p.cpus,
        32 * p.cpus,
        if amd { p.cpus / 2 + 1 } else { p.cpus },
        if amd { 16 } else { m.cache_kb / 1024 },
        if p.cpus > 1 { format!("-{}", p.cpus - 1) } else { String::new() },
        n = p.cpus,
    ))
}

fn hostnamectl(st: &State) -> Outcome {
    let p = &st.persona;
    let mid = hex::encode(&p.seed[..16]);
    let boot_id = hex::encode(&p.seed[16..32]);
    Outcome::ok(format!(
        " Static hostname: {}\n       Icon name: computer-vm\n         Chassis: vm 🖴\n      Machine ID: {mid}\n         Boot ID: {boot_id}\n  Virtualization: kvm\nOperating System: {}\n          Kernel: Linux {}\n    Architecture: x86-64\n Hardware Vendor: QEMU\n  Hardware Model: Standard PC _i440FX + PIIX, 1996_\nFirmware Version: 1.16.2-debian-1.16.2-1\n",
        p.hostname, p.distro.display_name, p.kernel_release
    ))
}

fn environment(st: &State) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = st
        .exported
        .iter()
        .filter_map(|k| st.vars.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    let from = st.peer.ip();
    let port = st.peer.port();
    v.push(("SSH_CLIENT".to_owned(), format!("{from} {port} 22")));
    v.push((
        "SSH_CONNECTION".to_owned(),
        format!("{from} {port} {} 22", st.persona.ip),
    ));
    v.push(("SSH_TTY".to_owned(), "/dev/pts/0".to_owned()));
    v.push(("XDG_SESSION_ID".to_owned(), session(st).to_string()));
    v.push((
        "XDG_RUNTIME_DIR".to_owned(),
        format!("/run/user/{}", st.uid),
    ));
    v.push(("_".to_owned(), "/usr/bin/env".to_owned()));
    v
}

fn date(st: &State, args: &[String]) -> Outcome {
    let now = st.now();
    if let Some(f) = args.iter().find_map(|a| a.strip_prefix('+')) {
        let f = f.replace("%N", "000000000");
        return Outcome::ok(format!("{}\n", fmt_ts(now, &f)));
    }
    if args.iter().any(|a| a == "-u" || a == "--utc") || args.is_empty() {
        return Outcome::ok(format!("{}\n", fmt_ts(now, "%a %b %e %H:%M:%S UTC %Y")));
    }
    Outcome::ok(format!("{}\n", fmt_ts(now, "%a %b %e %H:%M:%S UTC %Y")))
}

fn crontab(st: &mut State, args: &[String]) -> Outcome {
    let user = st.user.clone();
    let path = if matches!(st.persona.distro.os_id, "rocky" | "centos" | "fedora") {
        format!("/var/spool/cron/{user}")
    } else {
        format!("/var/spool/cron/crontabs/{user}")
    };
    match args.first().map(String::as_str) {
        Some("-l") => match st.fs.read(&path) {
            Ok(d) => Outcome::ok(d.to_vec()),
            Err(_) => Outcome::fail_err(format!("no crontab for {user}\n"), 1),
        },
        Some("-r") => {
            if st.fs.remove(&path, false, false, 0).is_err() {
                return Outcome::fail_err(format!("no crontab for {user}\n"), 1);
            }
            Outcome::ok("")
        }
        Some("-e") => Outcome::fail_err(format!("no crontab for {user} - using an empty one\ncrontab: \"/usr/bin/sensible-editor\" exited with status 1\n"), 1),
        Some(file) if !file.starts_with('-') || file == "-" => {
            let data = if file == "-" {
                Vec::new()
            } else {
                match super::text::read_file(st, file) {
                    Ok(d) => d,
                    Err(e) => return Outcome::fail_err(format!("{file}: {e}\n"), 1),
                }
            };
            let now = st.now();
            let _ = st.fs.mkdir("/var/spool/cron/crontabs", true, 0, now);
            let _ = st.fs.write(&path, &data, false, 0, now);
            Outcome::ok("")
        }
        _ => Outcome::fail_err("crontab: usage error: file name or - (for stdin) must be specified\nUsage:\n crontab [options] file\n crontab [options]\n crontab -n [hostname]\n", 1),
    }
}

/// systemd units the decky runs, with their descriptions.
fn units(st: &State) -> Vec<(&'static str, &'static str)> {
    let p = &st.persona;
    let el = matches!(p.distro.os_id, "rocky" | "centos" | "fedora");
    let mut u = vec![
        (
            "cron.service",
            "Regular background program processing daemon",
        ),
        ("dbus.service", "D-Bus System Message Bus"),
        ("getty@tty1.service", "Getty on tty1"),
        ("systemd-journald.service", "Journal Service"),
        ("systemd-logind.service", "User Login Management"),
        (
            "systemd-udevd.service",
            "Rule-based Manager for Device Events and Files",
        ),
    ];
    if el {
        u.retain(|(n, _)| *n != "cron.service");
        u.push(("crond.service", "Command Scheduler"));
        u.push(("chronyd.service", "NTP client/server"));
        u.push(("NetworkManager.service", "Network Manager"));
        u.push(("auditd.service", "Security Auditing Service"));
    }
    for s in &p.services {
        u.push(match s.as_str() {
            "ssh" if el => ("sshd.service", "OpenSSH server daemon"),
            "ssh" => ("ssh.service", "OpenBSD Secure Shell server"),
            "http" | "https" => match p.distro.web_server {
                decnet_core::persona::WebServer::Nginx => (
                    "nginx.service",
                    "A high performance web server and a reverse proxy server",
                ),
                _ if el => ("httpd.service", "The Apache HTTP Server"),
                _ => ("apache2.service", "The Apache HTTP Server"),
            },
            "mysql" => ("mariadb.service", "MariaDB 10.11.6 database server"),
            "postgres" => ("postgresql@15-main.service", "PostgreSQL Cluster 15-main"),
            "redis" => ("redis-server.service", "Advanced key-value store"),
            "smtp" => (
                "postfix@-.service",
                "Postfix Mail Transport Agent (instance -)",
            ),
            "imap" | "pop3" => ("dovecot.service", "Dovecot IMAP/POP3 email server"),
            "ftp" => ("vsftpd.service", "vsftpd FTP server"),
            "snmp" => (
                "snmpd.service",
                "Simple Network Management Protocol (SNMP) Daemon.",
            ),
            "mqtt" => ("mosquitto.service", "Mosquitto MQTT Broker"),
            "docker_api" => ("docker.service", "Docker Application Container Engine"),
            _ => continue,
        });
    }
    u.sort();
    u.dedup();
    u
}

fn systemctl(st: &State, args: &[String]) -> Outcome {
    let verb = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map_or("list-units", String::as_str);
    let unit_args: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .skip(1)
        .collect();
    let units = units(st);
    let find = |name: &str| {
        let n = if name.contains('.') {
            name.to_owned()
        } else {
            format!("{name}.service")
        };
        units.iter().find(|(u, _)| *u == n).copied()
    };
    match verb {
        "list-units" | "list-unit-files" => {
            let mut out =
                "  UNIT                          LOAD   ACTIVE SUB     DESCRIPTION\n".to_owned();
            for (u, d) in &units {
                out.push_str(&format!("  {u:<29} loaded active running {d}\n"));
            }
            out.push_str(&format!("\nLOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state, i.e. generalization of SUB.\nSUB    = The low-level unit activation state, values depend on unit type.\n{} loaded units listed.\n", units.len()));
            Outcome::ok(out)
        }
        "status" | "is-active" | "is-enabled" => {
            let Some(name) = unit_args.first() else {
                return Outcome::ok(format!("● {}\n    State: running\n    Units: {} loaded (incl. loaded aliases)\n     Jobs: 0 queued\n   Failed: 0 units\n", st.persona.hostname, units.len() + 180));
            };
            match find(name) {
                Some((u, d)) => match verb {
                    "is-active" => Outcome::ok("active\n"),
                    "is-enabled" => Outcome::ok("enabled\n"),
                    _ => {
                        let since = fmt_ts(st.persona.boot + 8, "%a %Y-%m-%d %H:%M:%S UTC");
                        let days = (st.now() - st.persona.boot) / 86_400;
                        let pid = processes(st).iter().find(|p| p.cmd.contains(u.trim_end_matches(".service").split('@').next().unwrap_or(""))).map_or(700, |p| p.pid);
                        Outcome::ok(format!("● {u} - {d}\n     Loaded: loaded (/lib/systemd/system/{u}; enabled; preset: enabled)\n     Active: active (running) since {since}; {days} days ago\n   Main PID: {pid}\n      Tasks: 1 (limit: 4644)\n     Memory: 6.1M\n        CPU: 1.204s\n     CGroup: /system.slice/{u}\n"))
                    }
                },
                None => match verb {
                    "is-active" => Outcome::fail("inactive\n", 3),
                    "is-enabled" => Outcome::fail_err(format!("Failed to get unit file state for {name}.service: No such file or directory\n"), 1),
                    _ => Outcome::fail_err(format!("Unit {}.service could not be found.\n", name.trim_end_matches(".service")), 4),
                },
            }
        }
        "start" | "stop" | "restart" | "enable" | "disable" | "reload" | "daemon-reload"
        | "mask" => {
            if st.uid != 0 {
                return Outcome::fail_err(format!("Failed to {verb} {}: Interactive authentication required.\nSee system logs and 'systemctl status {}' for details.\n", unit_args.first().map_or("", |s| s.as_str()), unit_args.first().map_or("", |s| s.as_str())), 1);
            }
            for n in &unit_args {
                if find(n).is_none() && verb != "daemon-reload" {
                    let unit = if n.contains('.') {
                        (*n).clone()
                    } else {
                        format!("{n}.service")
                    };
                    return Outcome::fail_err(
                        format!("Failed to {verb} {unit}: Unit {unit} not found.\n"),
                        5,
                    );
                }
            }
            Outcome::ok("")
        }
        other => Outcome::fail_err(format!("Unknown command verb {other}.\n"), 1),
    }
}

fn service(st: &State, args: &[String]) -> Outcome {
    match args {
        [] => Outcome::fail_err("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]\n", 1),
        [a] if a == "--status-all" => {
            let mut out = String::new();
            for (u, _) in units(st) {
                out.push_str(&format!(" [ + ]  {}\n", u.trim_end_matches(".service")));
            }
            Outcome::ok(out)
        }
        [name, verb, ..] => {
            let mut a = vec![verb.clone(), name.clone()];
            a.dedup();
            systemctl(st, &a)
        }
        [name] => Outcome::fail_err(format!("Usage: /etc/init.d/{name} {{start|stop|restart|reload|force-reload|status}}\n"), 1),
    }
}

fn packages(name: &str, st: &State, args: &[String]) -> Outcome {
    let verb = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map_or("", String::as_str);
    let pkgs: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .skip(1)
        .collect();
    match name {
        "apt" | "apt-get" => match verb {
            "" => Outcome::fail_err(if name == "apt" { "apt 2.6.1 (amd64)\nUsage: apt [options] command\n" } else { "apt 2.6.1 (amd64)\nUsage: apt-get [options] command\n" }, 1),
            "update" | "upgrade" | "install" | "remove" | "purge" | "dist-upgrade" | "full-upgrade" | "autoremove" => {
                if st.uid != 0 {
                    return Outcome::fail_err("E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)\nE: Unable to lock directory /var/lib/apt/lists/\n", 100);
                }
                if verb == "update" {
                    // The decky has no route out: every mirror times out, as on a firewalled box.
                    return Outcome::both("Ign:1 http://deb.debian.org/debian bookworm InRelease\nIgn:2 http://deb.debian.org/debian-security bookworm-security InRelease\nErr:1 http://deb.debian.org/debian bookworm InRelease\n  Temporary failure resolving 'deb.debian.org'\nReading package lists... Done\n", "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'\nW: Some index files failed to download. They have been ignored, or old ones used instead.\n", 0);
                }
                if verb == "install" && !pkgs.is_empty() {
                    let p = pkgs.first().map_or("", |s| s.as_str());
                    return Outcome::both("Reading package lists... Done\nBuilding dependency tree... Done\nReading state information... Done\n", format!("E: Unable to locate package {p}\n"), 100);
                }
                Outcome::ok("Reading package lists... Done\nBuilding dependency tree... Done\nReading state information... Done\nCalculating upgrade... Done\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
            }
            "list" => Outcome::ok("Listing... Done\n"),
            _ => Outcome::fail_err(format!("E: Invalid operation {verb}\n"), 100),
        },
        "yum" | "dnf" => match verb {
            "" => Outcome::fail_err("usage: dnf [options] COMMAND\n", 1),
            "install" | "update" | "upgrade" | "remove" | "makecache" => {
                if st.uid != 0 {
                    return Outcome::fail_err("Error: This command has to be run with superuser privileges (under the root user on most systems).\n", 1);
                }
                Outcome::fail_err("Errors during downloading metadata for repository 'baseos':\n  - Curl error (6): Couldn't resolve host name for https://mirrors.rockylinux.org/mirrorlist?arch=x86_64&repo=BaseOS-9 [Could not resolve host: mirrors.rockylinux.org]\nError: Failed to download metadata for repo 'baseos': Cannot prepare internal mirrorlist: Curl error (6): Couldn't resolve host name\n", 1)
            }
            _ => Outcome::fail_err(format!("No such command: {verb}. Please use /usr/bin/{name} --help\n"), 1),
        },
        "dpkg" | "rpm" => {
            if args.iter().any(|a| a == "-l" || a == "-qa" || a == "--list") {
                let mut out = String::new();
                for (pkg, v) in st.persona.distro.packages {
                    if name == "dpkg" {
                        out.push_str(&format!("ii  {:<30} {:<30} amd64\n", pkg.as_str(), v.full()));
                    } else {
                        out.push_str(&format!("{}-{}.x86_64\n", pkg.as_str(), v.full()));
                    }
                }
                return Outcome::ok(out);
            }
            Outcome::fail_err(format!("{name}: need an action option\n"), 2)
        }
        _ => Outcome::fail_err("ERROR: Unable to lock database: Permission denied\nERROR: Failed to open apk database: Permission denied\n", 99),
    }
}

fn passwd(st: &State, args: &[String]) -> Outcome {
    if let Some(u) = args.iter().find(|a| !a.starts_with('-')) {
        if st.uid != 0 && *u != st.user {
            return Outcome::fail_err(
                format!("passwd: You may not view or modify password information for {u}.\n"),
                1,
            );
        }
    }
    // No terminal answers its prompts in a one-shot run: it fails as passwd does on EOF.
    Outcome::fail_err(
        if st.uid == 0 {
            "New password: \nRetype new password: \nSorry, passwords do not match.\npasswd: Authentication token manipulation error\npasswd: password unchanged\n".to_owned()
        } else {
            format!("Changing password for {}.\nCurrent password: \npasswd: Authentication token manipulation error\npasswd: password unchanged\n", st.user)
        },
        10,
    )
}

/// Listening sockets: (proto, local address, process).
fn listeners(st: &State) -> Vec<(&'static str, String, &'static str)> {
    let ip = st.persona.ip;
    let mut v = Vec::new();
    for s in &st.persona.services {
        let (proto, port, prog) = match s.as_str() {
            "ssh" => ("tcp", 22, "sshd"),
            "http" => (
                "tcp",
                80,
                if st.persona.distro.web_server == decnet_core::persona::WebServer::Nginx {
                    "nginx"
                } else {
                    "apache2"
                },
            ),
            "https" => (
                "tcp",
                443,
                if st.persona.distro.web_server == decnet_core::persona::WebServer::Nginx {
                    "nginx"
                } else {
                    "apache2"
                },
            ),
            "mysql" => ("tcp", 3306, "mariadbd"),
            "postgres" => ("tcp", 5432, "postgres"),
            "redis" => ("tcp", 6379, "redis-server"),
            // Mail daemons listen on their TLS and submission ports too.
            "smtp" => {
                for port in [587, 465] {
                    v.push(("tcp", format!("{ip}:{port}"), "master"));
                }
                ("tcp", 25, "master")
            }
            "imap" => {
                v.push(("tcp", format!("{ip}:993"), "dovecot"));
                ("tcp", 143, "dovecot")
            }
            "pop3" => {
                v.push(("tcp", format!("{ip}:995"), "dovecot"));
                ("tcp", 110, "dovecot")
            }
            "ftp" => ("tcp", 21, "vsftpd"),
            "telnet" => ("tcp", 23, "inetd"),
            "snmp" => ("udp", 161, "snmpd"),
            "mqtt" => ("tcp", 1883, "mosquitto"),
            "docker_api" => ("tcp", 2375, "dockerd"),
            _ => continue,
        };
        let addr = if port == 22 || port == 80 || port == 443 {
            format!("0.0.0.0:{port}")
        } else {
            format!("{ip}:{port}")
        };
        v.push((proto, addr, prog));
    }
    v
}

fn netstat(st: &State, args: &[String]) -> Outcome {
    let a = args.join(" ");
    let mut out = "Active Internet connections (only servers)\nProto Recv-Q Send-Q Local Address           Foreign Address         State      ".to_owned();
    let pid = a.contains('p');
    if pid {
        out.push_str(" PID/Program name    ");
    }
    out.push('\n');
    for (proto, addr, prog) in listeners(st) {
        let state = if proto == "tcp" {
            "LISTEN     "
        } else {
            "           "
        };
        out.push_str(&format!(
            "{proto:<5}      0      0 {addr:<23} 0.0.0.0:*               {state}"
        ));
        if pid {
            let p = processes(st)
                .into_iter()
                .find(|p| p.cmd.contains(prog))
                .map_or(1, |p| p.pid);
            out.push_str(&format!(
                " {}",
                if st.uid == 0 {
                    format!("{p}/{prog}")
                } else {
                    "-".to_owned()
                }
            ));
        }
        out.push('\n');
    }
    Outcome::ok(out)
}

fn ss(st: &State, args: &[String]) -> Outcome {
    let a = args.join(" ");
    let mut out =
        "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n".to_owned();
    for (proto, addr, prog) in listeners(st) {
        let state = if proto == "tcp" { "LISTEN" } else { "UNCONN" };
        let procs = if a.contains('p') && st.uid == 0 {
            let p = processes(st)
                .into_iter()
                .find(|p| p.cmd.contains(prog))
                .map_or(1, |p| p.pid);
            format!("users:((\"{prog}\",pid={p},fd=3))")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{proto:<5} {state:<6} 0      128    {addr:>18}      0.0.0.0:*     {procs}\n"
        ));
    }
    Outcome::ok(out)
}

fn interpreter(name: &str, st: &mut State, args: &[String]) -> Outcome {
    let d = st.persona.distro;
    let version = match name {
        "perl" => d.perl,
        "python" | "python2" if d.slug == "centos7" => Some("2.7.5"),
        "python3" => d.python3,
        _ => None,
    };
    let Some(version) = version else {
        return Outcome::fail_err(format!("-bash: {name}: command not found\n"), 127);
    };
    let mut o = if args
        .iter()
        .any(|a| a == "--version" || a == "-V" || a == "-v")
    {
        if name == "perl" {
            Outcome::ok(format!("\nThis is perl 5, version {}, subversion {} (v{version}) built for x86_64-linux-gnu-thread-multi\n\nCopyright 1987-2022, Larry Wall\n", version.split('.').nth(1).unwrap_or("36"), version.split('.').nth(2).unwrap_or("0")))
        } else if version.starts_with('2') {
            Outcome::fail_err(format!("Python {version}\n"), 0)
        } else {
            Outcome::ok(format!("Python {version}\n"))
        }
    } else {
        let script = args.join(" ");
        let net = ["socket", "Socket", "urllib", "requests", "http", "connect"]
            .iter()
            .any(|k| script.contains(k));
        match (name, args.is_empty(), net) {
            // No script and no terminal input: the interpreter reads EOF and exits.
            ("perl", true, _) => Outcome::ok(""),
            (_, true, _) => Outcome::fail_err(
                format!("Python {version} (main, Mar 13 2023, 10:26:41) [GCC 12.2.0] on linux\nType \"help\", \"copyright\", \"credits\" or \"license\" for more information.\n>>> \n"),
                0,
            ),
            ("perl", false, true) => Outcome::fail_err("Network is unreachable at -e line 1.\n", 101),
            (_, false, true) => Outcome::fail_err(
                "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nOSError: [Errno 101] Network is unreachable\n",
                1,
            ),
            // Anything else (pty.spawn, a one-liner) runs and ends at once.
            _ => Outcome::ok(""),
        }
    };
    o.events.push(crate::shell::ShellEvent::Exec {
        path: format!("/usr/bin/{name}"),
        command: args.join(" "),
    });
    o
}

fn which(st: &State, args: &[String]) -> Outcome {
    let path = st.vars.get("PATH").cloned().unwrap_or_default();
    let mut out = String::new();
    let mut status = 0;
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        let found = if a.contains('/') {
            st.fs.get(a).map(|_| a.clone())
        } else {
            path.split(':')
                .map(|d| format!("{}/{a}", d.trim_end_matches('/')))
                .find(|p| {
                    st.fs.get(p).is_some_and(|n| {
                        matches!(n.kind, crate::shell::fs::Kind::File(_)) && n.mode & 0o111 != 0
                    })
                })
        };
        match found {
            Some(p) => {
                out.push_str(&p);
                out.push('\n');
            }
            None => status = 1,
        }
    }
    Outcome::fail(out, status)
}

fn getent(st: &State, args: &[String]) -> Outcome {
    let db = args.first().map_or("", String::as_str);
    let keys: Vec<&String> = args.iter().skip(1).collect();
    let text = match db {
        "passwd" => st.accounts().iter().map(decnet_core::persona::accounts::Account::line).collect::<String>(),
        "group" => String::from_utf8_lossy(st.fs.read("/etc/group").unwrap_or(&[])).into_owned(),
        "hosts" => format!("127.0.0.1       localhost\n{}       {}\n", st.persona.ip, st.persona.hostname),
        _ => return Outcome::fail_err(format!("Unknown database: {db}\nTry `getent --help' or `getent --usage' for more information.\n"), 1),
    };
    if keys.is_empty() {
        return Outcome::ok(text);
    }
    let out: String = text
        .lines()
        .filter(|l| keys.iter().any(|k| l.split(':').next() == Some(k.as_str())))
        .map(|l| format!("{l}\n"))
        .collect();
    let status = if out.is_empty() { 2 } else { 0 };
    Outcome::fail(out, status)
}

fn last(st: &State) -> Outcome {
    let now = st.now();
    let mut out = String::new();
    out.push_str(&format!(
        "{:<8} pts/0        {:<16} {}   still logged in\n",
        st.user,
        st.peer.ip().to_string(),
        fmt_ts(st.login, "%a %b %e %H:%M")
    ));
    let mut t = st.persona.last_login(now).0;
    for i in 0..4 {
        let (_, from) = st.persona.last_login(now - i64::from(i) * 86_400);
        let dur = 300 + i64::try_from(st.persona.pick(&format!("last{i}"), 5_000)).unwrap_or(0);
        out.push_str(&format!(
            "{:<8} pts/0        {:<16} {} - {}  ({:02}:{:02})\n",
            st.accounts()
                .iter()
                .find(|a| a.uid >= 1000 && a.uid < 60_000)
                .map_or("root", |a| a.name.as_str()),
            from,
            fmt_ts(t, "%a %b %e %H:%M"),
            fmt_ts(t + dur, "%H:%M"),
            dur / 3_600,
            dur % 3_600 / 60
        ));
        t -= 86_400 + i64::try_from(st.persona.pick(&format!("lastgap{i}"), 80_000)).unwrap_or(0);
    }
    out.push_str(&format!(
        "reboot   system boot  {:<16} {}   still running\n",
        st.persona.kernel_release,
        fmt_ts(st.persona.boot, "%a %b %e %H:%M")
    ));
    out.push_str(&format!(
        "\nwtmp begins {}\n",
        fmt_ts(st.persona.installed(), "%a %b %e %H:%M:%S %Y")
    ));
    Outcome::ok(out)
}

fn lastlog(st: &State) -> Outcome {
    let now = st.now();
    let (t, from) = st.persona.last_login(now);
    let mut out =
        "Username         Port     From                                       Latest\n".to_owned();
    for a in st.accounts() {
        if a.uid == 0 || (a.uid >= 1000 && a.uid < 60_000) {
            let when = if a.uid == 0 { st.login } else { t };
            out.push_str(&format!(
                "{:<16} pts/0    {:<42} {}\n",
                a.name,
                from,
                fmt_ts(when, "%a %b %e %H:%M:%S +0000 %Y")
            ));
        } else {
            out.push_str(&format!(
                "{:<16}                                            **Never logged in**\n",
                a.name
            ));
        }
    }
    Outcome::ok(out)
}

/// `kill`: signals to the decky's processes fail as a non-root user's would; the session's own succeed.
pub fn kill(st: &State, args: &[String]) -> Outcome {
    let pids: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if pids.is_empty() {
        if args.iter().any(|a| a == "-l") {
            return Outcome::ok(" 1) SIGHUP\t 2) SIGINT\t 3) SIGQUIT\t 4) SIGILL\t 5) SIGTRAP\n 6) SIGABRT\t 7) SIGBUS\t 8) SIGFPE\t 9) SIGKILL\t10) SIGUSR1\n11) SIGSEGV\t12) SIGUSR2\t13) SIGPIPE\t14) SIGALRM\t15) SIGTERM\n");
        }
        return Outcome::fail_err("kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]\n", 2);
    }
    let procs = processes(st);
    let mut err = String::new();
    for p in pids {
        match p.parse::<u32>() {
            Ok(n) if procs.iter().any(|x| x.pid == n) => {
                if st.uid != 0 {
                    err.push_str(&format!("-bash: kill: ({n}) - Operation not permitted\n"));
                }
            }
            Ok(n) => err.push_str(&format!("-bash: kill: ({n}) - No such process\n")),
            Err(_) => err.push_str(&format!(
                "-bash: kill: {p}: arguments must be process or job IDs\n"
            )),
        }
    }
    let status = i32::from(!err.is_empty());
    Outcome::both("", err, status)
}

/// `sudo -l`: what the account may run.
pub fn sudo_list(st: &State) -> Outcome {
    let h = st
        .persona
        .hostname
        .split('.')
        .next()
        .unwrap_or("")
        .to_owned();
    if st.uid == 0 {
        return Outcome::ok(format!("Matching Defaults entries for root on {h}:\n    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin, use_pty\n\nUser root may run the following commands on {h}:\n    (ALL : ALL) ALL\n"));
    }
    Outcome::fail_err(
        format!(
            "[sudo] password for {}: \nsudo: a password is required\n",
            st.user
        ),
        1,
    )
}
