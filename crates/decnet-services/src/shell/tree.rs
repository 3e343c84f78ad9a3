//! The persona's base file tree: the directories, system files, programs and
//! home directories a real install of the release has, with its modes,
//! owners and dates (the install date and package dates, varied by the
//! decky's seed so no two deckies share timestamps), and `/proc` generated
//! from the machine the persona describes.

use std::collections::BTreeMap;

use decnet_core::persona::accounts::Account;
use decnet_core::persona::procfs;

use super::cmd::{self, Dir, PLACEHOLDER};
use super::fs::{Kind, Node};
use super::{Persona, State};

const DAY: i64 = 86_400;

struct B<'a> {
    map: BTreeMap<String, Node>,
    p: &'a Persona,
}

impl B<'_> {
    /// A time `base + up to spread seconds`, stable for the path.
    fn t(&self, path: &str, base: i64, spread: i64) -> i64 {
        base + i64::try_from(self.p.pick(path, u64::try_from(spread.max(1)).unwrap_or(1)))
            .unwrap_or(0)
    }

    fn dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32, mtime: i64) {
        self.map
            .insert(path.to_owned(), Node::dir(mode, uid, gid, mtime));
    }

    fn file(
        &mut self,
        path: &str,
        data: impl Into<Vec<u8>>,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: i64,
    ) {
        self.map
            .insert(path.to_owned(), Node::file(data, mode, uid, gid, mtime));
    }

    fn link(&mut self, path: &str, target: &str, mtime: i64) {
        self.map.insert(
            path.to_owned(),
            Node {
                kind: Kind::Symlink(target.to_owned()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime,
            },
        );
    }
}

/// Builds the base tree of a persona.
pub fn build(p: &Persona, accounts: &[Account], group: &str) -> BTreeMap<String, Node> {
    let installed = p.installed();
    let boot = p.boot;
    let pkg = p.distro.installed - 40 * DAY;
    let mut b = B {
        map: BTreeMap::new(),
        p,
    };
    let merged_usr = p.distro.slug != "alpine";
    let inst = |b: &B<'_>, path: &str| b.t(path, installed, 3_600);
    for d in [
        "/",
        "/boot",
        "/etc",
        "/etc/ssh",
        "/etc/cron.d",
        "/etc/cron.daily",
        "/etc/systemd",
        "/etc/default",
        "/home",
        "/media",
        "/mnt",
        "/opt",
        "/srv",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/share",
        "/var",
        "/var/log",
        "/var/lib",
        "/var/cache",
        "/var/spool",
        "/var/spool/cron",
        "/var/www",
        "/var/www/html",
        "/var/backups",
        "/var/mail",
    ] {
        let t = inst(&b, d);
        b.dir(d, 0o755, 0, 0, t);
    }
    b.dir("/var/spool/cron/crontabs", 0o1730, 0, 0, installed);
    b.dir("/tmp", 0o1777, 0, 0, b.t("/tmp", boot, 600));
    b.dir("/var/tmp", 0o1777, 0, 0, b.t("/var/tmp", boot, 3_600));
    b.dir("/dev", 0o755, 0, 0, boot);
    b.dir("/dev/shm", 0o1777, 0, 0, boot);
    b.dir("/run", 0o755, 0, 0, boot);
    b.dir("/run/user", 0o755, 0, 0, boot);
    b.dir("/proc", 0o555, 0, 0, boot);
    b.dir("/proc/self", 0o555, 0, 0, boot);
    b.dir("/proc/1", 0o555, 0, 0, boot);
    b.dir("/sys", 0o555, 0, 0, boot);
    b.dir("/root", 0o700, 0, 0, b.t("/root", boot, 30 * DAY));
    b.dir("/root/.ssh", 0o700, 0, 0, inst(&b, "/root/.ssh"));
    if merged_usr {
        for (l, t) in [
            ("/bin", "usr/bin"),
            ("/sbin", "usr/sbin"),
            ("/lib", "usr/lib"),
            ("/lib64", "usr/lib64"),
        ] {
            b.link(l, t, pkg);
        }
        b.dir("/usr/lib64", 0o755, 0, 0, pkg);
    } else {
        b.dir("/bin", 0o755, 0, 0, pkg);
        b.dir("/sbin", 0o755, 0, 0, pkg);
        b.dir("/lib", 0o755, 0, 0, pkg);
    }
    for name in ["null", "zero", "random", "urandom", "tty", "full"] {
        b.map.insert(
            format!("/dev/{name}"),
            Node {
                kind: Kind::CharDev,
                mode: 0o666,
                uid: 0,
                gid: 0,
                mtime: boot,
            },
        );
    }

    // Programs: every one the shell models, where the release keeps it.
    let bin = |d: Dir| match d {
        Dir::Bin => "/usr/bin",
        Dir::Sbin => "/usr/sbin",
    };
    for (name, d) in cmd::PROGRAMS {
        let path = format!("{}/{name}", bin(*d));
        let mode = match *name {
            "passwd" | "su" | "sudo" | "mount" => 0o4755,
            "crontab" => 0o2755,
            _ => 0o755,
        };
        let t = b.t(&path, pkg, 200 * DAY);
        b.file(&path, PLACEHOLDER, mode, 0, 0, t);
    }
    for name in cmd::package_managers(p.distro) {
        let path = format!("/usr/bin/{name}");
        let t = b.t(&path, pkg, 100 * DAY);
        b.file(&path, PLACEHOLDER, 0o755, 0, 0, t);
    }
    if let Some(v) = p.distro.python3 {
        let minor = v.rsplit_once('.').map_or(v, |(a, _)| a);
        let path = format!("/usr/bin/python{minor}");
        b.file(&path, PLACEHOLDER, 0o755, 0, 0, pkg);
        b.link("/usr/bin/python3", &format!("python{minor}"), pkg);
    }
    if p.distro.slug == "centos7" {
        b.file("/usr/bin/python2.7", PLACEHOLDER, 0o755, 0, 0, pkg);
        b.link("/usr/bin/python", "python2", pkg);
        b.link("/usr/bin/python2", "python2.7", pkg);
    }
    if p.distro.perl.is_some() {
        b.file("/usr/bin/perl", PLACEHOLDER, 0o755, 0, 0, pkg);
    }
    if p.distro.slug == "alpine" {
        b.file("/bin/busybox", PLACEHOLDER, 0o755, 0, 0, pkg);
    } else {
        b.map.remove("/usr/bin/dash");
        if matches!(p.distro.os_id, "debian" | "ubuntu" | "kali") {
            b.file("/usr/bin/dash", PLACEHOLDER, 0o755, 0, 0, pkg);
            b.link("/usr/bin/sh", "dash", pkg);
        } else {
            b.link("/usr/bin/sh", "bash", pkg);
        }
    }

    // /etc.
    let etc = |b: &B<'_>, path: &str| b.t(path, installed, 2 * 3_600);
    let mut passwd = String::new();
    let mut shadow = String::new();
    let days = installed / DAY;
    for a in accounts {
        passwd.push_str(&a.line());
        let pw = if a.uid == 0 || (a.uid >= 1000 && a.uid < 60_000) {
            format!("$y$j9T${}$", hex::encode(&p.seed[..8]))
        } else {
            "*".to_owned()
        };
        shadow.push_str(&format!("{}:{pw}:{days}:0:99999:7:::\n", a.name));
    }
    let t = etc(&b, "/etc/passwd");
    b.file("/etc/passwd", passwd, 0o644, 0, 0, t);
    let t = etc(&b, "/etc/group");
    b.file("/etc/group", group, 0o644, 0, 0, t);
    let shadow_gid = if p.distro.slug.starts_with("debian") {
        42
    } else {
        0
    };
    let t = etc(&b, "/etc/shadow");
    b.file("/etc/shadow", shadow, 0o640, 0, shadow_gid, t);
    let h = &p.hostname;
    b.file("/etc/hostname", format!("{h}\n"), 0o644, 0, 0, installed);
    let hosts = if p.distro.prompt == decnet_core::persona::PromptStyle::Rhel {
        "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n".to_owned()
    } else {
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{h}\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n")
    };
    b.file("/etc/hosts", hosts, 0o644, 0, 0, installed);
    let t = b.t("/etc/os-release", pkg, 30 * DAY);
    b.file("/usr/lib/os-release", p.distro.os_release(), 0o644, 0, 0, t);
    b.link("/etc/os-release", "../usr/lib/os-release", t);
    b.file("/etc/issue", p.distro.issue, 0o644, 0, 0, t);
    if matches!(p.distro.os_id, "debian" | "kali") {
        b.file("/etc/debian_version", "12.9\n", 0o644, 0, 0, t);
    }
    if matches!(p.distro.os_id, "rocky" | "centos" | "fedora") {
        let rel = p.distro.display_name.replace(" (Server Edition)", "");
        b.file("/etc/redhat-release", format!("{rel}\n"), 0o644, 0, 0, t);
    }
    b.file("/etc/shells", "# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n", 0o644, 0, 0, installed);
    let resolv = if p.distro.os_id == "ubuntu" {
        "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n".to_owned()
    } else {
        let gw = gateway(p);
        format!("nameserver {gw}\n")
    };
    b.file("/etc/resolv.conf", resolv, 0o644, 0, 0, boot);
    b.file("/etc/crontab", CRONTAB, 0o644, 0, 0, pkg);
    b.file("/etc/ssh/sshd_config", SSHD_CONFIG, 0o644, 0, 0, pkg);
    b.file("/etc/sudoers", "Defaults\tenv_reset\nDefaults\tmail_badpass\nroot\tALL=(ALL:ALL) ALL\n%sudo\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n", 0o440, 0, 0, pkg);
    b.file("/etc/fstab", "UUID=0d9d5e2a-6c1e-4d7c-9a4b-3f1e5c7b2a10 /               ext4    errors=remount-ro 0       1\nUUID=6C1E-4D7C  /boot/efi       vfat    umask=0077      0       1\n", 0o644, 0, 0, installed);
    b.file("/etc/motd", if matches!(p.distro.os_id, "debian" | "kali") { "\nThe programs included with the Debian GNU/Linux system are free software;\nthe exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\nDebian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n" } else { "" }, 0o644, 0, 0, pkg);

    // Homes.
    let hist_t = b.t("/root/.bash_history", boot, 20 * DAY);
    b.file("/root/.bash_history", ROOT_HISTORY, 0o600, 0, 0, hist_t);
    b.file("/root/.bashrc", BASHRC, 0o644, 0, 0, installed);
    b.file("/root/.profile", ROOT_PROFILE, 0o644, 0, 0, installed);
    b.file("/root/.ssh/authorized_keys", "", 0o600, 0, 0, installed);
    for a in accounts.iter().filter(|a| a.uid >= 1000 && a.uid < 60_000) {
        let home = a.home.clone();
        let created = b.t(&home, installed, 20 * DAY);
        b.dir(&home, 0o755, a.uid, a.gid, created);
        b.file(
            &format!("{home}/.bashrc"),
            BASHRC,
            0o644,
            a.uid,
            a.gid,
            created,
        );
        b.file(
            &format!("{home}/.profile"),
            PROFILE,
            0o644,
            a.uid,
            a.gid,
            created,
        );
        b.file(&format!("{home}/.bash_logout"), "# ~/.bash_logout: executed by bash(1) when login shell exits.\n\nif [ \"$SHLVL\" = 1 ]; then\n    [ -x /usr/bin/clear_console ] && /usr/bin/clear_console -q\nfi\n", 0o644, a.uid, a.gid, created);
        let ht = b.t(&format!("{home}/h"), boot, 10 * DAY);
        b.file(
            &format!("{home}/.bash_history"),
            USER_HISTORY,
            0o600,
            a.uid,
            a.gid,
            ht,
        );
    }

    plant_bait(&mut b, accounts);

    // Web root and logs.
    b.file(
        "/var/www/html/index.html",
        "<html><body><h1>It works!</h1></body></html>\n",
        0o644,
        0,
        0,
        b.t("/var/www/html/index.html", installed, 10 * DAY),
    );
    let log_gid = if p.distro.os_id == "ubuntu" { 4 } else { 0 };
    b.file("/var/log/auth.log", "", 0o640, 0, log_gid, boot);
    b.file("/var/log/syslog", "", 0o640, 0, log_gid, boot);
    b.file("/var/log/lastlog", "", 0o664, 0, 43, boot);
    b.file("/var/log/wtmp", "", 0o664, 0, 43, boot);

    // /proc.
    b.file("/proc/version", p.proc_version(), 0o444, 0, 0, boot);
    b.file(
        "/proc/cpuinfo",
        procfs::cpuinfo(&p.cpu(), p.cpus),
        0o444,
        0,
        0,
        boot,
    );
    for f in ["meminfo", "uptime", "loadavg", "mounts", "stat"] {
        b.file(&format!("/proc/{f}"), "", 0o444, 0, 0, boot);
    }
    b.file("/proc/self/cgroup", "", 0o444, 0, 0, boot);
    b.file("/proc/self/status", "", 0o444, 0, 0, boot);
    b.file("/proc/1/environ", procfs::init_environ(), 0o400, 0, 0, boot);
    b.file("/proc/1/cgroup", "0::/init.scope\n", 0o444, 0, 0, boot);
    b.file("/proc/1/comm", "systemd\n", 0o644, 0, 0, boot);
    b.link("/proc/self/exe", "/usr/bin/bash", boot);
    b.map
}

/// Lays the bait world's files for this decky over the tree: dated before the
/// world's anchor (never in the future), owned by the person they belong to,
/// with any missing parent directory created as its owner would have it.
fn plant_bait(b: &mut B<'_>, accounts: &[Account]) {
    let p = b.p;
    for f in p.bait.files(&p.decky) {
        let (uid, gid) = accounts
            .iter()
            .find(|a| a.name == f.owner)
            .map_or((0, 0), |a| (a.uid, a.gid));
        let when = b
            .t(&f.path, p.bait.anchor() - f.days_ago * DAY, 6 * 3_600)
            .min(chrono::Utc::now().timestamp());
        let mut dir = String::new();
        let parts: Vec<&str> = f.path.split('/').filter(|s| !s.is_empty()).collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push('/');
            dir.push_str(part);
            if !b.map.contains_key(&dir) {
                b.dir(&dir, 0o700, uid, gid, when);
            }
        }
        let mut data = Vec::new();
        if f.append {
            if let Some(Node {
                kind: Kind::File(old),
                ..
            }) = b.map.get(&f.path)
            {
                data.extend_from_slice(old);
            }
        }
        data.extend_from_slice(f.content.as_bytes());
        let (mode, uid, gid) = match b.map.get(&f.path) {
            Some(n) if f.append => (n.mode, n.uid, n.gid),
            _ => (f.mode, uid, gid),
        };
        b.file(&f.path, data, mode, uid, gid, when);
    }
}

/// The decky's gateway: the first address of its network.
pub fn gateway(p: &Persona) -> String {
    match p.ip {
        std::net::IpAddr::V4(v) => {
            let mask = if p.prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(p.prefix.min(32)))
            };
            let net = u32::from(v) & mask;
            // A /31 or /32 has no room for a gateway of its own: the next address stands in.
            std::net::Ipv4Addr::from(net.wrapping_add(1)).to_string()
        }
        std::net::IpAddr::V6(_) => "fe80::1".to_owned(),
    }
}

/// `/proc` files whose text is generated when read.
pub fn dynamic(st: &State, path: &str) -> Option<Vec<u8>> {
    let p = &st.persona;
    let now = st.now();
    let up = (now - p.boot).max(0);
    Some(match path {
        "/proc/uptime" => procfs::uptime(u64::try_from(up).unwrap_or(0) * 100 + u64::try_from(now.rem_euclid(97)).unwrap_or(0), p.cpus).into_bytes(),
        "/proc/loadavg" => {
            let l = load(st);
            procfs::loadavg(l, 1, 120 + u32::try_from(p.services.len()).unwrap_or(0) * 6, st.peek_pid()).into_bytes()
        }
        "/proc/meminfo" => {
            let free = p.mem_kb / 3 + p.pick(&format!("free{}", now / 60), p.mem_kb / 50);
            procfs::meminfo(p.mem_kb, free, swap_kb(p)).into_bytes()
        }
        "/proc/self/cgroup" => procfs::self_cgroup(p.distro.slug == "centos7", st.uid, session(st)).into_bytes(),
        "/proc/mounts" => MOUNTS.as_bytes().to_vec(),
        "/proc/self/status" => format!("Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{}\nUid:\t{u}\t{u}\t{u}\t{u}\nGid:\t{g}\t{g}\t{g}\t{g}\n", st.pid, pid = st.peek_pid(), u = st.uid, g = st.gid).into_bytes(),
        _ => return None,
    })
}

/// The session number logind gave this login.
pub fn session(st: &State) -> u32 {
    1 + u32::try_from(st.persona.pick("session", 400)).unwrap_or(0)
}

/// Load averages (hundredths) for this minute.
pub fn load(st: &State) -> [u32; 3] {
    let m = st.now() / 60;
    let p = &st.persona;
    let a = u32::try_from(p.pick(&format!("load{m}"), 30)).unwrap_or(0);
    let b = u32::try_from(p.pick(&format!("load{}", m / 5), 15)).unwrap_or(0);
    let c = u32::try_from(p.pick(&format!("load{}", m / 15), 8)).unwrap_or(0);
    [a, b, c]
}

/// Swap size in kB (none on cloud-style Debian/Ubuntu installs, 2 GiB on EL).
pub fn swap_kb(p: &Persona) -> u64 {
    match p.distro.os_id {
        "rocky" | "centos" | "fedora" => 2_097_148,
        _ => 0,
    }
}

const MOUNTS: &str = "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nudev /dev devtmpfs rw,nosuid,relatime,size=1994500k,nr_inodes=498625,mode=755,inode64 0 0\ndevpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0\ntmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=402124k,mode=755,inode64 0 0\n/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0\nsecurityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev,inode64 0 0\ntmpfs /run/lock tmpfs rw,nosuid,nodev,noexec,relatime,size=5120k,inode64 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n/dev/sda15 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro 0 0\ntmpfs /run/user/0 tmpfs rw,nosuid,nodev,relatime,size=402120k,nr_inodes=100530,mode=700,inode64 0 0\n";

const CRONTAB: &str = "# /etc/crontab: system-wide crontab\n# Unlike any other crontab you don't have to run the `crontab'\n# command to install the new version when you edit this file\n# and files in /etc/cron.d. These files also have username fields,\n# that none of the other crontabs do.\n\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n# Example of job definition:\n# .---------------- minute (0 - 59)\n# |  .------------- hour (0 - 23)\n# |  |  .---------- day of month (1 - 31)\n# |  |  |  .------- month (1 - 12) OR jan,feb,mar,apr ...\n# |  |  |  |  .---- day of week (0 - 6) (Sunday=0 or 7) OR sun,mon,tue,wed,thu,fri,sat\n# |  |  |  |  |\n# *  *  *  *  * user-name command to be executed\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }\n47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }\n52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }\n#\n";

const SSHD_CONFIG: &str = "Include /etc/ssh/sshd_config.d/*.conf\n\nPermitRootLogin yes\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n";

const ROOT_HISTORY: &str = "apt update && apt upgrade -y\nsystemctl status nginx\nvim /etc/nginx/sites-available/default\nsystemctl restart nginx\ncd /var/www/html\nls -la\ndf -h\nfree -m\njournalctl -u ssh --since today\nexit\n";

const USER_HISTORY: &str =
    "ls -la\nsudo apt update\nsystemctl status nginx\ntail -f /var/log/syslog\nexit\n";

const BASHRC: &str = "# ~/.bashrc: executed by bash(1) for non-login shells.\n\n# If not running interactively, don't do anything\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\n\nHISTCONTROL=ignoreboth\nshopt -s histappend\nHISTSIZE=1000\nHISTFILESIZE=2000\nshopt -s checkwinsize\n\nif [ -x /usr/bin/dircolors ]; then\n    test -r ~/.dircolors && eval \"$(dircolors -b ~/.dircolors)\" || eval \"$(dircolors -b)\"\n    alias ls='ls --color=auto'\n    alias grep='grep --color=auto'\nfi\n\nalias ll='ls -alF'\nalias la='ls -A'\nalias l='ls -CF'\n";

const PROFILE: &str = "# ~/.profile: executed by the command interpreter for login shells.\n# This file is not read by bash(1), if ~/.bash_profile or ~/.bash_login\n# exists.\n\n# if running bash\nif [ -n \"$BASH_VERSION\" ]; then\n    # include .bashrc if it exists\n    if [ -f \"$HOME/.bashrc\" ]; then\n\t. \"$HOME/.bashrc\"\n    fi\nfi\n\n# set PATH so it includes user's private bin if it exists\nif [ -d \"$HOME/bin\" ] ; then\n    PATH=\"$HOME/bin:$PATH\"\nfi\n";

const ROOT_PROFILE: &str = "# ~/.profile: executed by Bourne-compatible login shells.\n\nif [ \"$BASH\" ]; then\n  if [ -f ~/.bashrc ]; then\n    . ~/.bashrc\n  fi\nfi\n\nmesg n 2> /dev/null || true\n";
