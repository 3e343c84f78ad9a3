//! Connection commands: AUTH (one and two arguments), HELLO, PING, ECHO,
//! SELECT, QUIT, RESET and CLIENT.

use super::{arity_err, int, lower, not_int, Effect, Session};
use crate::redis::keyspace::DATABASES;
use crate::redis::resp::Reply;

/// Whether the server lets `user`/`password` in: the persona's `requirepass`
/// for the default user, or what the bait world accepts on this decky.
fn accepts(s: &Session<'_>, user: &[u8], password: &[u8]) -> bool {
    let default = user == b"default";
    match &s.sh.requirepass {
        // No password: the default user is `nopass`, any password works for it.
        None if default => true,
        Some(p) if default && p.as_slice() == password => true,
        _ => {
            let u = String::from_utf8_lossy(user);
            s.sh_bait_accepts(&u, password)
        }
    }
}

fn wrongpass(s: &Session<'_>) -> Reply {
    let v = &s.sh.version;
    if v.major < 6 {
        Reply::err("ERR invalid password")
    } else if v.at_least(6, 2) {
        Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
    } else {
        Reply::err("WRONGPASS invalid username-password pair")
    }
}

fn auth(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let v5 = s.sh.version.major < 6;
    if v5 && args.len() != 2 {
        return arity_err("auth");
    }
    let (user, password) = match args {
        [_, p] => (b"default".to_vec(), p.clone()),
        [_, u, p] if !v5 => (u.clone(), p.clone()),
        _ => return Reply::err("ERR syntax error"),
    };
    if args.len() == 2 && s.sh.requirepass.is_none() {
        // One-argument AUTH on a server without a password is an error, as Redis says.
        s.effects.push(Effect::Login {
            user,
            password,
            ok: false,
            via: "AUTH",
        });
        return if v5 {
            Reply::err("ERR Client sent AUTH, but no password is set")
        } else {
            Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        };
    }
    let ok = accepts(s, &user, &password);
    s.effects.push(Effect::Login {
        user: user.clone(),
        password,
        ok,
        via: "AUTH",
    });
    if ok {
        s.authed = true;
        s.user = String::from_utf8_lossy(&user).into_owned();
        Reply::ok()
    } else {
        if v5 {
            s.authed = s.sh.requirepass.is_none();
        }
        wrongpass(s)
    }
}

fn hello(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let mut proto = 2u8;
    let mut i = 1;
    if let Some(p) = args.get(1) {
        match int(p) {
            Some(2) => proto = 2,
            Some(3) => proto = 3,
            Some(_) => return Reply::err("NOPROTO unsupported protocol version"),
            None => return Reply::err("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut creds = None;
    let mut name = None;
    while let Some(opt) = args.get(i) {
        match lower(opt).as_str() {
            "auth" if args.len() > i + 2 => {
                creds = Some((
                    args.get(i + 1).cloned().unwrap_or_default(),
                    args.get(i + 2).cloned().unwrap_or_default(),
                ));
                i += 3;
            }
            "setname" if args.len() > i + 1 => {
                name = args.get(i + 1).cloned();
                i += 2;
            }
            _ => {
                let o = String::from_utf8_lossy(opt);
                return Reply::err(format!("ERR Syntax error in HELLO option '{o}'"));
            }
        }
    }
    if let Some((user, password)) = creds {
        let ok = accepts(s, &user, &password);
        s.effects.push(Effect::Login {
            user: user.clone(),
            password,
            ok,
            via: "HELLO",
        });
        if !ok {
            return wrongpass(s);
        }
        s.authed = true;
        s.user = String::from_utf8_lossy(&user).into_owned();
    }
    if !s.authed {
        return Reply::err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        s.name = n;
    }
    s.resp = proto;
    let pairs: Vec<(&str, Reply)> = vec![
        ("server", Reply::bulk("redis")),
        ("version", Reply::bulk(&s.sh.version.text)),
        ("proto", Reply::Int(i64::from(proto))),
        ("id", Reply::Int(i64::try_from(s.id).unwrap_or(0))),
        ("mode", Reply::bulk("standalone")),
        (
            "role",
            Reply::bulk(if s.sh.lock().master.is_some() {
                "replica"
            } else {
                "master"
            }),
        ),
        ("modules", Reply::Array(Vec::new())),
    ];
    if proto == 3 {
        let mut out = format!("%{}\r\n", pairs.len()).into_bytes();
        for (k, v) in pairs {
            Reply::bulk(k).encode(&mut out);
            v.encode(&mut out);
        }
        return Reply::Raw(out);
    }
    Reply::Array(
        pairs
            .into_iter()
            .flat_map(|(k, v)| [Reply::bulk(k), v])
            .collect(),
    )
}

fn client_line(s: &Session<'_>, cmd: &str) -> String {
    let age = (s.now_ms - s.created_ms).max(0) / 1000;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={age} idle=0 flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd={cmd} user={} redir=-1 resp={}\n",
        s.id,
        s.peer,
        s.local,
        8 + s.id % 40,
        String::from_utf8_lossy(&s.name),
        s.db,
        s.user,
        s.resp
    )
}

fn client(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let sub_raw = args.get(1).map_or(&[][..], Vec::as_slice);
    let sub = lower(sub_raw);
    match sub.as_str() {
        "id" => Reply::Int(i64::try_from(s.id).unwrap_or(0)),
        "getname" if s.name.is_empty() => Reply::Nil,
        "getname" => Reply::Bulk(s.name.clone()),
        "setname" => match args.get(2) {
            Some(n) if n.iter().any(|&b| b <= b' ' || b > b'~') => Reply::err(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ),
            Some(n) => {
                s.name = n.clone();
                Reply::ok()
            }
            None => arity_err("client|setname"),
        },
        "list" => Reply::Bulk(client_line(s, "client|list").into_bytes()),
        "info" => Reply::Bulk(client_line(s, "client|info").into_bytes()),
        "kill" => Reply::err("ERR No such client"),
        "getredir" => Reply::Int(-1),
        "trackinginfo" => Reply::Array(vec![
            Reply::bulk("flags"),
            Reply::bulks(["off"]),
            Reply::bulk("redirect"),
            Reply::Int(-1),
            Reply::bulk("prefixes"),
            Reply::Array(Vec::new()),
        ]),
        "unblock" => Reply::Int(0),
        "reply" | "pause" | "unpause" | "no-evict" | "tracking" | "caching" | "no-touch" => {
            Reply::ok()
        }
        "help" => Reply::bulks([
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "    Return the ID of the current connection.",
            "LIST [options ...]",
            "    Return information about client connections.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "HELP",
            "    Print this help.",
        ]),
        _ => s.unknown_sub("client", sub_raw),
    }
}

/// Runs a connection command.
pub fn run(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    match name {
        "auth" => auth(s, args),
        "hello" => hello(s, args),
        "ping" => match args {
            [_] => Reply::Simple("PONG".to_owned()),
            [_, m] => Reply::Bulk(m.clone()),
            _ => arity_err("ping"),
        },
        "echo" => Reply::Bulk(args.get(1).cloned().unwrap_or_default()),
        "select" => match args.get(1).and_then(|a| int(a)) {
            None => not_int(),
            Some(n) if n < 0 || n >= DATABASES as i64 => Reply::err("ERR DB index is out of range"),
            Some(n) => {
                s.db = usize::try_from(n).unwrap_or(0);
                Reply::ok()
            }
        },
        "quit" => {
            s.effects.push(Effect::Close);
            Reply::ok()
        }
        "reset" => {
            s.db = 0;
            s.name.clear();
            s.resp = 2;
            s.authed = s.sh.requirepass.is_none();
            Reply::Simple("RESET".to_owned())
        }
        "client" => client(s, args),
        _ => Reply::ok(),
    }
}

impl Session<'_> {
    fn sh_bait_accepts(&self, user: &str, password: &[u8]) -> bool {
        self.sh.bait.accepts(&self.sh.decky, user, password)
    }
}
