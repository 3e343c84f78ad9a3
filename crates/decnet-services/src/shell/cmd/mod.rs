//! The programs the fake shell runs, one module per family: each is a pure
//! function of the session state, its arguments and its stdin, returning
//! stdout, stderr, a status and events. The executor decides where the
//! streams go (terminal, pipe, file).

pub mod builtin;
pub mod files;
pub mod net;
pub mod sysinfo;
pub mod text;

use super::{ShellEvent, State};

/// What running one program produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// stdout.
    pub out: Vec<u8>,
    /// stderr.
    pub err: String,
    /// Exit status.
    pub status: i32,
    /// Events besides the command line itself.
    pub events: Vec<ShellEvent>,
}

impl Outcome {
    /// Success with output.
    pub fn ok(out: impl Into<Vec<u8>>) -> Outcome {
        Outcome {
            out: out.into(),
            ..Outcome::default()
        }
    }

    /// Output on stdout with a status.
    pub fn fail(out: impl Into<Vec<u8>>, status: i32) -> Outcome {
        Outcome {
            out: out.into(),
            status,
            ..Outcome::default()
        }
    }

    /// A message on stderr with a status.
    pub fn fail_err(err: impl Into<String>, status: i32) -> Outcome {
        Outcome {
            err: err.into(),
            status,
            ..Outcome::default()
        }
    }

    /// Both streams and a status.
    pub fn both(out: impl Into<Vec<u8>>, err: impl Into<String>, status: i32) -> Outcome {
        Outcome {
            out: out.into(),
            err: err.into(),
            status,
            ..Outcome::default()
        }
    }
}

/// Where a program lives in the persona's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// `/usr/bin`.
    Bin,
    /// `/usr/sbin`.
    Sbin,
}

/// Every program the tree ships (besides the interpreters, which depend on the distro).
pub const PROGRAMS: &[(&str, Dir)] = &[
    ("bash", Dir::Bin),
    ("sh", Dir::Bin),
    ("dash", Dir::Bin),
    ("ls", Dir::Bin),
    ("cat", Dir::Bin),
    ("echo", Dir::Bin),
    ("printf", Dir::Bin),
    ("true", Dir::Bin),
    ("false", Dir::Bin),
    ("test", Dir::Bin),
    ("[", Dir::Bin),
    ("pwd", Dir::Bin),
    ("kill", Dir::Bin),
    ("mkdir", Dir::Bin),
    ("rmdir", Dir::Bin),
    ("rm", Dir::Bin),
    ("touch", Dir::Bin),
    ("mv", Dir::Bin),
    ("cp", Dir::Bin),
    ("ln", Dir::Bin),
    ("chmod", Dir::Bin),
    ("chown", Dir::Bin),
    ("chgrp", Dir::Bin),
    ("chattr", Dir::Bin),
    ("lsattr", Dir::Bin),
    ("stat", Dir::Bin),
    ("find", Dir::Bin),
    ("tee", Dir::Bin),
    ("du", Dir::Bin),
    ("readlink", Dir::Bin),
    ("realpath", Dir::Bin),
    ("basename", Dir::Bin),
    ("dirname", Dir::Bin),
    ("wc", Dir::Bin),
    ("grep", Dir::Bin),
    ("egrep", Dir::Bin),
    ("fgrep", Dir::Bin),
    ("head", Dir::Bin),
    ("tail", Dir::Bin),
    ("cut", Dir::Bin),
    ("sort", Dir::Bin),
    ("uniq", Dir::Bin),
    ("tr", Dir::Bin),
    ("awk", Dir::Bin),
    ("sed", Dir::Bin),
    ("base64", Dir::Bin),
    ("md5sum", Dir::Bin),
    ("sha1sum", Dir::Bin),
    ("sha256sum", Dir::Bin),
    ("rev", Dir::Bin),
    ("seq", Dir::Bin),
    ("yes", Dir::Bin),
    ("tac", Dir::Bin),
    ("nl", Dir::Bin),
    ("uname", Dir::Bin),
    ("id", Dir::Bin),
    ("whoami", Dir::Bin),
    ("groups", Dir::Bin),
    ("hostname", Dir::Bin),
    ("ps", Dir::Bin),
    ("w", Dir::Bin),
    ("who", Dir::Bin),
    ("last", Dir::Bin),
    ("lastlog", Dir::Bin),
    ("uptime", Dir::Bin),
    ("free", Dir::Bin),
    ("df", Dir::Bin),
    ("mount", Dir::Bin),
    ("nproc", Dir::Bin),
    ("lscpu", Dir::Bin),
    ("hostnamectl", Dir::Bin),
    ("env", Dir::Bin),
    ("printenv", Dir::Bin),
    ("date", Dir::Bin),
    ("sleep", Dir::Bin),
    ("sync", Dir::Bin),
    ("clear", Dir::Bin),
    ("arch", Dir::Bin),
    ("crontab", Dir::Bin),
    ("systemctl", Dir::Bin),
    ("passwd", Dir::Bin),
    ("su", Dir::Bin),
    ("sudo", Dir::Bin),
    ("nohup", Dir::Bin),
    ("nice", Dir::Bin),
    ("timeout", Dir::Bin),
    ("xargs", Dir::Bin),
    ("setsid", Dir::Bin),
    ("pkill", Dir::Bin),
    ("pgrep", Dir::Bin),
    ("killall", Dir::Bin),
    ("which", Dir::Bin),
    ("getent", Dir::Bin),
    ("netstat", Dir::Bin),
    ("ss", Dir::Bin),
    ("ip", Dir::Bin),
    ("wget", Dir::Bin),
    ("curl", Dir::Bin),
    ("tar", Dir::Bin),
    ("gzip", Dir::Bin),
    ("top", Dir::Bin),
    ("dmesg", Dir::Bin),
    ("lsblk", Dir::Bin),
    ("busybox", Dir::Bin),
    ("scp", Dir::Bin),
    ("ssh", Dir::Bin),
    ("ssh-keygen", Dir::Bin),
    ("ifconfig", Dir::Sbin),
    ("service", Dir::Sbin),
    ("useradd", Dir::Sbin),
    ("usermod", Dir::Sbin),
    ("chpasswd", Dir::Sbin),
    ("iptables", Dir::Sbin),
    ("reboot", Dir::Sbin),
    ("shutdown", Dir::Sbin),
];

/// Package managers by packaging.
pub fn package_managers(d: &decnet_core::persona::Distro) -> &'static [&'static str] {
    use decnet_core::persona::Packaging;
    match d.packaging {
        Packaging::Deb => &["apt", "apt-get", "apt-cache", "dpkg"],
        Packaging::Rpm if d.slug == "centos7" => &["yum", "rpm"],
        Packaging::Rpm => &["dnf", "yum", "rpm"],
        Packaging::Apk => &["apk"],
        Packaging::Pacman => &["pacman"],
    }
}

/// What a program file in the base tree holds: the 64-byte ELF header of an
/// x86-64 PIE, so `head -c4`, `file` and `xxd` see a binary.
pub const PLACEHOLDER: &[u8] = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00\x01\x00\x00\x00\x30\x6d\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\xb0\x4e\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x38\x00\x0d\x00\x40\x00\x1f\x00\x1e\x00";

/// Whether file bytes are the shell's own program placeholder.
pub fn is_placeholder(d: &[u8]) -> bool {
    d == PLACEHOLDER
}

/// Applets a BusyBox build answers to.
pub fn busybox_applet(name: &str) -> bool {
    PROGRAMS.iter().any(|(n, _)| *n == name)
        || matches!(name, "ash" | "tftp" | "ftpget" | "nc" | "telnet" | "wget")
}

/// Written files at least this long are captured whatever they hold.
///
/// What a bot or intruder writes by hand through a shell (an `authorized_keys`
/// line, a crontab entry, a config tweak, a copy of `/etc/passwd`) stays well
/// under it, while a payload carried as text (the base64 or hex of even a small
/// static dropper, a packed script) is longer: 16 KiB of base64 is a 12 KiB
/// binary. ELFs, scripts and binary blobs are captured at any size.
pub const PAYLOAD_SIZE: usize = 16 * 1024;

/// Whether a file the session wrote, with its mode bits, is worth keeping:
/// anything that looks like a payload, anything made executable, anything of
/// [`PAYLOAD_SIZE`] or more; never the shell's own program placeholder.
pub fn is_payload(d: &[u8], mode: u32) -> bool {
    if d.is_empty() || is_placeholder(d) {
        return false;
    }
    mode & 0o111 != 0 || d.len() >= PAYLOAD_SIZE || looks_like_payload(d)
}

/// Whether written bytes look like something an intruder dropped: an ELF, a
/// script, a binary blob, or shell text that fetches or runs things.
pub fn looks_like_payload(d: &[u8]) -> bool {
    if d.len() < 4 || is_placeholder(d) {
        return false;
    }
    if d.starts_with(b"\x7fELF") || d.starts_with(b"#!") {
        return true;
    }
    if d.iter().take(4096).any(|&b| b == 0) || std::str::from_utf8(d).is_err() {
        return true;
    }
    let t = String::from_utf8_lossy(d);
    [
        "wget ",
        "curl ",
        "tftp ",
        "chmod ",
        "/dev/tcp/",
        "base64 -d",
        "nohup ",
        "ssh-rsa ",
        "ssh-ed25519 ",
    ]
    .iter()
    .any(|m| t.contains(m))
}

/// Runs a program by its base name; `None` when the shell does not model it.
pub fn run(name: &str, st: &mut State, args: &[String], stdin: &[u8]) -> Option<Outcome> {
    if let Some(o) = text::run(name, st, args, stdin) {
        return Some(o);
    }
    if let Some(o) = files::run(name, st, args, stdin) {
        return Some(o);
    }
    if let Some(o) = sysinfo::run(name, st, args, stdin) {
        return Some(o);
    }
    net::run(name, st, args, stdin)
}
