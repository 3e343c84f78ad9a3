//! `uname`, `id`, `whoami`, `hostname`, `ps`, `w`, `uptime`, `free`, `df`, `nproc`.

use chrono::Utc;

use super::Outcome;
use crate::shell::State;

/// A system-information verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sys {
    /// `uname [-asnrvmpio]`.
    Uname,
    /// `id`.
    Id,
    /// `whoami`.
    Whoami,
    /// `hostname`.
    Hostname,
    /// `ps`.
    Ps,
    /// `w`.
    W,
    /// `uptime`.
    Uptime,
    /// `free`.
    Free,
    /// `df`.
    Df,
    /// `nproc`.
    Nproc,
}

impl Sys {
    /// The verb of a command name.
    pub fn parse(name: &str) -> Option<Sys> {
        Some(match name {
            "uname" => Sys::Uname,
            "id" => Sys::Id,
            "whoami" => Sys::Whoami,
            "hostname" => Sys::Hostname,
            "ps" => Sys::Ps,
            "w" => Sys::W,
            "uptime" => Sys::Uptime,
            "free" => Sys::Free,
            "df" => Sys::Df,
            "nproc" => Sys::Nproc,
            _ => return None,
        })
    }

    /// Runs it.
    pub fn run(self, st: &mut State, args: &[String]) -> Outcome {
        let p = &st.persona;
        match self {
            Sys::Uname => uname(st, args),
            Sys::Id => Outcome::ok(id(st)),
            Sys::Whoami => Outcome::ok(format!("{}\n", st.user)),
            Sys::Hostname => Outcome::ok(format!("{}\n", p.hostname)),
            Sys::Nproc => Outcome::ok(format!("{}\n", p.cpus)),
            Sys::Uptime => Outcome::ok(format!("{}\n", uptime_line(st))),
            Sys::W => Outcome::ok(format!(
                "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n{:<8} pts/0    -                {}    0.00s  0.02s  0.00s w\n",
                uptime_line(st),
                st.user,
                Utc::now().format("%H:%M")
            )),
            Sys::Ps => Outcome::ok(ps(st, args)),
            Sys::Free => {
                let human = args.iter().any(|a| a == "-h");
                let mega = args.iter().any(|a| a == "-m");
                let total = p.mem_kb;
                let used = total / 5;
                let free = total / 3;
                let shared = 1_204;
                let cache = total.saturating_sub(used).saturating_sub(free);
                let avail = total / 2;
                let swap = 2_097_148;
                let f = |k: u64| -> String {
                    if human {
                        format!("{:.1}Gi", k as f64 / 1_048_576.0)
                    } else if mega {
                        (k / 1024).to_string()
                    } else {
                        k.to_string()
                    }
                };
                Outcome::ok(format!(
                    "               total        used        free      shared  buff/cache   available\nMem:     {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\nSwap:    {:>11} {:>11} {:>11}\n",
                    f(total), f(used), f(free), f(shared), f(cache), f(avail), f(swap), f(0), f(swap)
                ))
            }
            Sys::Df => {
                if args.iter().any(|a| a.starts_with('-') && a.contains('h')) {
                    Outcome::ok("Filesystem      Size  Used Avail Use% Mounted on\ntmpfs           393M  1.1M  392M   1% /run\n/dev/sda1        78G   12G   63G  16% /\ntmpfs           2.0G     0  2.0G   0% /dev/shm\ntmpfs           5.0M     0  5.0M   0% /run/lock\n/dev/sda15      105M  6.1M   99M   6% /boot/efi\ntmpfs           393M  4.0K  393M   1% /run/user/0\n")
                } else {
                    Outcome::ok("Filesystem     1K-blocks     Used Available Use% Mounted on\ntmpfs             402124     1096    401028   1% /run\n/dev/sda1       81106868 12503436  65268180  17% /\ntmpfs            2010604        0   2010604   0% /dev/shm\ntmpfs               5120        0      5120   0% /run/lock\n/dev/sda15        106858     6186    100672   6% /boot/efi\ntmpfs             402120        4    402116   1% /run/user/0\n")
                }
            }
        }
    }
}

fn id(st: &State) -> String {
    if st.user == "root" {
        "uid=0(root) gid=0(root) groups=0(root)\n".to_owned()
    } else {
        let n = st
            .persona
            .users
            .iter()
            .filter(|u| u.as_str() != "root")
            .position(|u| *u == st.user)
            .unwrap_or(0)
            + 1000;
        let u = &st.user;
        format!("uid={n}({u}) gid={n}({u}) groups={n}({u}),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev)\n")
    }
}

fn uptime_line(st: &State) -> String {
    let now = Utc::now();
    format!(
        " {} up {} days,  {}:{:02},  1 user,  load average: 0.08, 0.03, 0.01",
        now.format("%H:%M:%S"),
        st.persona.uptime_days,
        (st.persona.mac[4] % 24),
        (st.persona.mac[5] % 60)
    )
}

fn uname(st: &State, args: &[String]) -> Outcome {
    let p = &st.persona;
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
                return Outcome::fail(
                    format!(
                        "uname: extra operand '{s}'\nTry 'uname --help' for more information.\n"
                    ),
                    1,
                )
            }
        }
    }
    if let Some(c) = flags.chars().find(|c| !"asnrvmpio".contains(*c)) {
        return Outcome::fail(
            format!("uname: invalid option -- '{c}'\nTry 'uname --help' for more information.\n"),
            1,
        );
    }
    if flags.is_empty() {
        flags.push('s');
    }
    let all = flags.contains('a');
    let mut parts: Vec<&str> = Vec::new();
    let want = |c: char| all || flags.contains(c);
    if want('s') {
        parts.push("Linux");
    }
    if want('n') {
        parts.push(&p.hostname);
    }
    if want('r') {
        parts.push(&p.kernel_release);
    }
    if want('v') {
        parts.push(p.distro.kernel_build);
    }
    if want('m') {
        parts.push("x86_64");
    }
    // `-a` omits -p and -i when they are unknown; on x86_64 distros they print x86_64.
    if want('p') {
        parts.push("x86_64");
    }
    if want('i') {
        parts.push("x86_64");
    }
    if want('o') {
        parts.push("GNU/Linux");
    }
    Outcome::ok(format!("{}\n", parts.join(" ")))
}

fn ps(st: &State, args: &[String]) -> String {
    let full = args
        .iter()
        .any(|a| a.contains('a') || a.contains('e') || a.contains('x'));
    if !full {
        return "    PID TTY          TIME CMD\n   1423 pts/0    00:00:00 bash\n   1502 pts/0    00:00:00 ps\n".to_owned();
    }
    let u = &st.user;
    format!(
        "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n\
root           1  0.0  0.2 167744 11844 ?        Ss   Jan14   0:41 /sbin/init\n\
root           2  0.0  0.0      0     0 ?        S    Jan14   0:00 [kthreadd]\n\
root         412  0.0  0.4  47492 18232 ?        S<s  Jan14   0:12 /lib/systemd/systemd-journald\n\
root         455  0.0  0.1  25420  6212 ?        Ss   Jan14   0:01 /lib/systemd/systemd-udevd\n\
systemd+     602  0.0  0.1  25532 12400 ?        Ss   Jan14   0:03 /lib/systemd/systemd-resolved\n\
root         651  0.0  0.0   6896  2900 ?        Ss   Jan14   0:00 /usr/sbin/cron -f -P\n\
syslog       655  0.0  0.1 222400  5120 ?        Ssl  Jan14   0:04 /usr/sbin/rsyslogd -n -iNONE\n\
root         701  0.0  0.2  15432  9112 ?        Ss   Jan14   0:00 sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\n\
www-data     733  0.0  0.1  55280  5712 ?        S    Jan14   0:00 nginx: worker process\n\
root        1398  0.0  0.2  17184 10840 ?        Ss   10:02   0:00 sshd: {u}@pts/0\n\
{u:<8}    1423  0.0  0.1   8756  5420 pts/0    Ss   10:02   0:00 -bash\n\
{u:<8}    1502  0.0  0.0  10072  3320 pts/0    R+   10:04   0:00 ps {}\n",
        args.join(" ")
    )
}
