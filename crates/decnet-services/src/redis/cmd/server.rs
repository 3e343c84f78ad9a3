//! Server commands: INFO, CONFIG GET/SET/RESETSTAT/REWRITE, SAVE, BGSAVE,
//! LASTSAVE, SLAVEOF/REPLICAOF, MODULE, COMMAND, DBSIZE, TIME, MONITOR. What an
//! attack script changes (dir, dbfilename, the master) stays changed for the
//! whole decky, and the command's event carries it.

use super::{arity_err, command_count, int, lower, syntax, table, Effect, Session};
use crate::redis::info;
use crate::redis::keyspace::glob;
use crate::redis::resp::Reply;
use crate::redis::state::IMMUTABLE;

fn arg(args: &[Vec<u8>], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], Vec::as_slice)
}

fn config(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let sub_raw = arg(args, 1);
    let seven = s.sh.version.major >= 7;
    match lower(sub_raw).as_str() {
        "get" => {
            if args.len() < 3 || (!seven && args.len() != 3) {
                return if seven {
                    arity_err("config|get")
                } else {
                    s.unknown_sub("config", sub_raw)
                };
            }
            let inner = s.sh.lock();
            let mut out = Vec::new();
            for (k, v) in &inner.config {
                if args.iter().skip(2).any(|p| glob(p, k.as_bytes(), true)) {
                    out.push(Reply::bulk(k));
                    if k == "port" {
                        out.push(Reply::bulk(s.local.port().to_string()));
                    } else {
                        out.push(Reply::bulk(v));
                    }
                }
            }
            Reply::Array(out)
        }
        "set" => {
            if args.len() < 4 || !args.len().is_multiple_of(2) || (!seven && args.len() != 4) {
                return if seven && args.len() < 4 {
                    arity_err("config|set")
                } else if seven {
                    Reply::err(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(arg(args, 2))
                    ))
                } else {
                    s.unknown_sub("config", sub_raw)
                };
            }
            let mut inner = s.sh.lock();
            for pair in args.get(2..).unwrap_or_default().chunks(2) {
                let (Some(k), Some(v)) = (pair.first(), pair.get(1)) else {
                    continue;
                };
                let name = lower(k);
                if inner.config(&name).is_none() {
                    return Reply::err(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(k)
                    ));
                }
                if IMMUTABLE.contains(&name.as_str()) {
                    return Reply::err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                    ));
                }
                if name == "dir" && v.is_empty() {
                    return Reply::err(
                        "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory",
                    );
                }
                if name == "dbfilename" && v.contains(&b'/') {
                    return Reply::err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename");
                }
                let value: String = String::from_utf8_lossy(v).chars().take(4096).collect();
                inner.set_config(&name, value);
            }
            let (dir, file) = (
                inner.config("dir").unwrap_or_default().to_owned(),
                inner.config("dbfilename").unwrap_or_default().to_owned(),
            );
            drop(inner);
            s.effects.push(Effect::Field("dir", dir.into()));
            s.effects.push(Effect::Field("dbfilename", file.into()));
            Reply::ok()
        }
        "resetstat" => {
            let mut inner = s.sh.lock();
            inner.cmdstats.clear();
            inner.errorstats.clear();
            Reply::ok()
        }
        "rewrite" => Reply::ok(),
        "help" => Reply::bulks([
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Print this help.",
        ]),
        _ => s.unknown_sub("config", sub_raw),
    }
}

/// Records a save: where the dump would have gone, and that it did.
fn save(s: &mut Session<'_>) {
    let mut inner = s.sh.lock();
    let dir = inner.config("dir").unwrap_or("/var/lib/redis").to_owned();
    let file = inner.config("dbfilename").unwrap_or("dump.rdb").to_owned();
    inner.saves += 1;
    inner.last_save = s.now_ms / 1000;
    inner.ks.dirty = 0;
    drop(inner);
    let path = if dir.ends_with('/') {
        format!("{dir}{file}")
    } else {
        format!("{dir}/{file}")
    };
    s.effects.push(Effect::Field("path", path.into()));
}

fn replicaof(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    let (host, port) = (arg(args, 1), arg(args, 2));
    if lower(host) == "no" && lower(port) == "one" {
        let mut inner = s.sh.lock();
        if inner.master.take().is_some() {
            inner.replid2 = std::mem::take(&mut inner.replid);
            inner.replid = hex::encode(rand::random::<[u8; 20]>());
        }
        s.effects
            .push(Effect::Field("master_host", "NO ONE".into()));
        return Reply::ok();
    }
    let Some(p) = int(port).filter(|p| (0..=65535).contains(p)) else {
        return Reply::err("ERR Invalid master port");
    };
    let host_s: String = String::from_utf8_lossy(host).chars().take(255).collect();
    let mut inner = s.sh.lock();
    let already = inner
        .master
        .as_ref()
        .is_some_and(|(h, q)| h == &host_s && i64::from(*q) == p);
    inner.master = Some((host_s.clone(), u16::try_from(p).unwrap_or(0)));
    if !already {
        inner.replid2 = inner.replid.clone();
        inner.replid = hex::encode(rand::random::<[u8; 20]>());
    }
    drop(inner);
    s.effects.push(Effect::Field("master_host", host_s.into()));
    s.effects.push(Effect::Field("master_port", p.into()));
    let _ = name;
    if already {
        Reply::Simple("OK Already connected to specified master".to_owned())
    } else {
        Reply::ok()
    }
}

fn module(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let sub_raw = arg(args, 1);
    match lower(sub_raw).as_str() {
        "list" => Reply::Array(Vec::new()),
        "load" | "loadex" => {
            s.effects.push(Effect::Field(
                "module",
                String::from_utf8_lossy(arg(args, 2)).into_owned().into(),
            ));
            // The file never arrives (no replication link is made), so loading fails as it would.
            Reply::err("ERR Error loading the extension. Please check the server logs.")
        }
        "unload" => Reply::err("ERR Error unloading module: no such module with that name"),
        "help" => Reply::bulks([
            "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
            "HELP",
            "    Print this help.",
        ]),
        _ => s.unknown_sub("module", sub_raw),
    }
}

/// `COMMAND INFO`'s entry of one command (name, arity, no flags, key positions unknown).
fn command_entry(name: &str, arity: i64) -> Reply {
    let (first, last, step) = if arity == 1 || arity == -1 {
        (0, 0, 0)
    } else {
        (1, 1, 1)
    };
    Reply::Array(vec![
        Reply::bulk(name),
        Reply::Int(arity),
        Reply::Array(Vec::new()),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn command(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let top = || {
        let mut v: Vec<(&String, &i64)> =
            table().iter().filter(|(k, _)| !k.contains('|')).collect();
        v.sort();
        v
    };
    match args.get(1).map(|a| lower(a)).as_deref() {
        None => Reply::Array(
            top()
                .into_iter()
                .map(|(k, a)| command_entry(k, *a))
                .collect(),
        ),
        Some("count") => Reply::Int(command_count(s.sh)),
        Some("docs") => Reply::Array(Vec::new()),
        Some("info") => Reply::Array(
            args.iter()
                .skip(2)
                .map(|n| {
                    let n = lower(n);
                    table()
                        .get(&n)
                        .map_or(Reply::NilArray, |a| command_entry(&n, *a))
                })
                .collect(),
        ),
        Some("list") => Reply::bulks(top().into_iter().map(|(k, _)| k.clone())),
        Some("getkeys") | Some("getkeysandflags") => match args.get(3) {
            Some(k) => Reply::Array(vec![Reply::Bulk(k.clone())]),
            None => Reply::err("ERR Invalid arguments specified for command"),
        },
        Some(_) => s.unknown_sub("command", arg(args, 1)),
    }
}

/// Runs a server command.
pub fn run(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    match name {
        "info" => {
            let micros = u16::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_micros() % 1000),
            )
            .unwrap_or(0);
            let snap = s.sh.lock().snapshot(s.now_ms, micros, s.local.port());
            Reply::Bulk(info::render(s.sh, &snap, args.get(1..).unwrap_or_default()).into_bytes())
        }
        "config" => config(s, args),
        "save" => {
            save(s);
            Reply::ok()
        }
        "bgsave" => {
            if args.len() > 2 || args.get(1).is_some_and(|a| lower(a) != "schedule") {
                return syntax();
            }
            save(s);
            Reply::Simple("Background saving started".to_owned())
        }
        "bgrewriteaof" => Reply::Simple("Background append only file rewriting started".to_owned()),
        "lastsave" => Reply::Int(s.sh.lock().last_save),
        "slaveof" | "replicaof" => replicaof(s, name, args),
        "module" => module(s, args),
        "command" => command(s, args),
        "dbsize" => {
            let db = s.db;
            Reply::Int(i64::try_from(s.sh.lock().ks.counts(db, s.now_ms).0).unwrap_or(0))
        }
        "time" => Reply::bulks([
            (s.now_ms / 1000).to_string(),
            ((s.now_ms % 1000) * 1000).to_string(),
        ]),
        "monitor" => Reply::ok(),
        "role" => match s.sh.lock().master.clone() {
            Some((h, p)) => Reply::Array(vec![
                Reply::bulk("slave"),
                Reply::bulk(h),
                Reply::Int(i64::from(p)),
                Reply::bulk("connect"),
                Reply::Int(-1),
            ]),
            None => Reply::Array(vec![Reply::bulk("master"), Reply::Int(0), Reply::Array(Vec::new())]),
        },
        "shutdown" => Reply::err("ERR Errors trying to SHUTDOWN. Check logs."),
        "debug" => Reply::err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."),
        "acl" => match lower(arg(args, 1)).as_str() {
            "whoami" => Reply::bulk(&s.user),
            "users" => Reply::bulks(["default"]),
            "list" => Reply::bulks([if s.sh.requirepass.is_some() {
                "user default on sanitize-payload #<hash> ~* &* +@all"
            } else {
                "user default on nopass sanitize-payload ~* &* +@all"
            }]),
            "cat" => Reply::bulks(["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting"]),
            _ => Reply::ok(),
        },
        "slowlog" => match lower(arg(args, 1)).as_str() {
            "len" => Reply::Int(0),
            "reset" => Reply::ok(),
            _ => Reply::Array(Vec::new()),
        },
        "memory" => match lower(arg(args, 1)).as_str() {
            "usage" => Reply::Int(72),
            "doctor" => Reply::bulk("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."),
            _ => Reply::Array(Vec::new()),
        },
        "lolwut" => Reply::bulk(format!("Redis ver. {}\n", s.sh.version.text)),
        _ => Reply::Array(Vec::new()),
    }
}
