//! The keyspace commands: strings, hashes, lists, expiry, KEYS/SCAN/TYPE,
//! EXISTS/DEL, RANDOMKEY, FLUSHDB/FLUSHALL. Writes go through the keyspace's
//! byte cap; a written value that looks like a payload is flagged for keeping.

use super::{arity_err, int, lower, not_int, syntax, Effect, Session};
use crate::redis::keyspace::{glob, Value, WRONGTYPE};
use crate::redis::resp::Reply;

fn arg(args: &[Vec<u8>], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], Vec::as_slice)
}

fn wrongtype() -> Reply {
    Reply::err(WRONGTYPE)
}

impl Session<'_> {
    fn read(&self, key: &[u8]) -> Option<(Value, Option<i64>)> {
        let mut inner = self.sh.lock();
        let got = inner
            .ks
            .get(self.db, key, self.now_ms)
            .map(|e| (e.value.clone(), e.expires_at));
        if got.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        got
    }

    fn write(&mut self, key: &[u8], value: Value, expires_at: Option<i64>) -> Reply {
        if let Some(r) = self.readonly() {
            return r;
        }
        if let Value::Str(v) = &value {
            if let Some(kind) = super::payload_kind(v) {
                self.effects.push(Effect::Payload {
                    key: key.to_vec(),
                    value: v.clone(),
                    kind,
                });
            }
        }
        match self.sh.lock().ks.put(self.db, key, value, expires_at) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::err(e),
        }
    }
}

fn set(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let key = arg(args, 1);
    let val = arg(args, 2).to_vec();
    let mut exp: Option<i64> = None;
    let (mut nx, mut xx, mut get, mut keep) = (false, false, false, false);
    let mut i = 3;
    while i < args.len() {
        let o = lower(arg(args, i));
        match o.as_str() {
            "nx" => nx = true,
            "xx" => xx = true,
            "get" => get = true,
            "keepttl" => keep = true,
            "ex" | "px" | "exat" | "pxat" => {
                let Some(n) = args.get(i + 1) else {
                    return syntax();
                };
                let Some(n) = int(n) else {
                    return not_int();
                };
                if n <= 0 {
                    return Reply::err("ERR invalid expire time in 'set' command");
                }
                exp = Some(match o.as_str() {
                    "ex" => s.now_ms.saturating_add(n.saturating_mul(1000)),
                    "px" => s.now_ms.saturating_add(n),
                    "exat" => n.saturating_mul(1000),
                    _ => n,
                });
                i += 1;
            }
            _ => return syntax(),
        }
        i += 1;
    }
    if nx && xx {
        return syntax();
    }
    let old = s.read(key);
    let old_reply = match &old {
        Some((Value::Str(v), _)) => Reply::Bulk(v.clone()),
        Some(_) if get => return wrongtype(),
        _ => Reply::Nil,
    };
    if (nx && old.is_some()) || (xx && old.is_none()) {
        return if get { old_reply } else { Reply::Nil };
    }
    if keep {
        exp = old.as_ref().and_then(|(_, e)| *e);
    }
    let r = s.write(key, Value::Str(val), exp);
    if r.is_error() || !get {
        r
    } else {
        old_reply
    }
}

fn ttl(s: &Session<'_>, key: &[u8], ms: bool) -> Reply {
    match s.read(key) {
        None => Reply::Int(-2),
        Some((_, None)) => Reply::Int(-1),
        Some((_, Some(t))) => {
            let left = (t - s.now_ms).max(0);
            Reply::Int(if ms { left } else { (left + 500) / 1000 })
        }
    }
}

fn expire(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    let Some(n) = int(arg(args, 2)) else {
        return not_int();
    };
    if let Some(r) = s.readonly() {
        return r;
    }
    let at = match name {
        "expire" => s.now_ms.saturating_add(n.saturating_mul(1000)),
        "pexpire" => s.now_ms.saturating_add(n),
        "expireat" => n.saturating_mul(1000),
        _ => n,
    };
    let key = arg(args, 1);
    let mut inner = s.sh.lock();
    if at <= s.now_ms {
        return Reply::Int(i64::from(inner.ks.remove(s.db, key)));
    }
    Reply::Int(i64::from(inner.ks.set_expiry(
        s.db,
        key,
        Some(at),
        s.now_ms,
    )))
}

fn scan(s: &mut Session<'_>, args: &[Vec<u8>]) -> Reply {
    let Some(cursor) = std::str::from_utf8(arg(args, 1))
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
    else {
        return Reply::err("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut ty) = (None, 10usize, None);
    let mut i = 2;
    while i < args.len() {
        let o = lower(arg(args, i));
        let Some(v) = args.get(i + 1) else {
            return syntax();
        };
        match o.as_str() {
            "match" => pattern = Some(v.clone()),
            "count" => match int(v) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(10).min(10_000),
                Some(_) => return syntax(),
                None => return not_int(),
            },
            "type" => ty = Some(lower(v)),
            _ => return syntax(),
        }
        i += 2;
    }
    let keys = s.sh.lock().ks.keys(s.db, s.now_ms);
    let start = usize::try_from(cursor).unwrap_or(usize::MAX);
    let end = start.saturating_add(count).min(keys.len());
    let mut out = Vec::new();
    for k in keys.get(start.min(keys.len())..end).unwrap_or_default() {
        if pattern.as_ref().is_some_and(|p| !glob(p, k, false)) {
            continue;
        }
        if let Some(t) = &ty {
            let matches =
                s.sh.lock()
                    .ks
                    .get(s.db, k, s.now_ms)
                    .is_some_and(|e| e.value.type_name() == t);
            if !matches {
                continue;
            }
        }
        out.push(Reply::Bulk(k.clone()));
    }
    let next = if end >= keys.len() { 0 } else { end };
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

/// A hash's fields and values.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn hash_of(s: &Session<'_>, key: &[u8]) -> Result<Fields, Reply> {
    match s.read(key) {
        None => Ok(Vec::new()),
        Some((Value::Hash(h), _)) => Ok(h),
        Some(_) => Err(wrongtype()),
    }
}

fn list_of(s: &Session<'_>, key: &[u8]) -> Result<(Vec<Vec<u8>>, Option<i64>), Reply> {
    match s.read(key) {
        None => Ok((Vec::new(), None)),
        Some((Value::List(l), e)) => Ok((l, e)),
        Some(_) => Err(wrongtype()),
    }
}

fn range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (a, b) = (norm(start), norm(stop).min(len - 1));
    if a > b || a >= len {
        return None;
    }
    Some((usize::try_from(a).ok()?, usize::try_from(b).ok()?))
}

fn incr(s: &mut Session<'_>, key: &[u8], by: i64) -> Reply {
    let (cur, exp) = match s.read(key) {
        None => (0, None),
        Some((Value::Str(v), e)) => match int(&v) {
            Some(n) => (n, e),
            None => return not_int(),
        },
        Some(_) => return wrongtype(),
    };
    let Some(n) = cur.checked_add(by) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    let r = s.write(key, Value::Str(n.to_string().into_bytes()), exp);
    if r.is_error() {
        r
    } else {
        Reply::Int(n)
    }
}

/// Runs a keyspace command (or answers a known command it does not model).
pub fn run(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    let key = arg(args, 1);
    match name {
        "get" => match s.read(key) {
            None => Reply::Nil,
            Some((Value::Str(v), _)) => Reply::Bulk(v),
            Some(_) => wrongtype(),
        },
        "getdel" => {
            let r = run(s, "get", args);
            if matches!(r, Reply::Bulk(_)) {
                s.sh.lock().ks.remove(s.db, key);
            }
            r
        }
        "set" => set(s, args),
        "setnx" => {
            let r = set(
                s,
                &[
                    b"set".to_vec(),
                    key.to_vec(),
                    arg(args, 2).to_vec(),
                    b"nx".to_vec(),
                ],
            );
            Reply::Int(i64::from(r == Reply::ok()))
        }
        "setex" | "psetex" => {
            let unit = if name == "setex" {
                b"ex".to_vec()
            } else {
                b"px".to_vec()
            };
            match int(arg(args, 2)) {
                None => not_int(),
                Some(n) if n <= 0 => {
                    Reply::err(format!("ERR invalid expire time in '{name}' command"))
                }
                Some(_) => set(
                    s,
                    &[
                        b"set".to_vec(),
                        key.to_vec(),
                        arg(args, 3).to_vec(),
                        unit,
                        arg(args, 2).to_vec(),
                    ],
                ),
            }
        }
        "getset" => {
            let r = set(
                s,
                &[
                    b"set".to_vec(),
                    key.to_vec(),
                    arg(args, 2).to_vec(),
                    b"get".to_vec(),
                ],
            );
            r
        }
        "mset" | "msetnx" => {
            if args.len().is_multiple_of(2) {
                return arity_err(name);
            }
            for pair in args.get(1..).unwrap_or_default().chunks(2) {
                if let [k, v] = pair {
                    let r = s.write(k, Value::Str(v.clone()), None);
                    if r.is_error() {
                        return r;
                    }
                }
            }
            if name == "mset" {
                Reply::ok()
            } else {
                Reply::Int(1)
            }
        }
        "mget" => Reply::Array(
            args.iter()
                .skip(1)
                .map(|k| match s.read(k) {
                    Some((Value::Str(v), _)) => Reply::Bulk(v),
                    _ => Reply::Nil,
                })
                .collect(),
        ),
        "append" => {
            let (mut cur, exp) = match s.read(key) {
                None => (Vec::new(), None),
                Some((Value::Str(v), e)) => (v, e),
                Some(_) => return wrongtype(),
            };
            cur.extend_from_slice(arg(args, 2));
            let len = cur.len();
            let r = s.write(key, Value::Str(cur), exp);
            if r.is_error() {
                r
            } else {
                Reply::Int(i64::try_from(len).unwrap_or(0))
            }
        }
        "strlen" => match s.read(key) {
            None => Reply::Int(0),
            Some((Value::Str(v), _)) => Reply::Int(i64::try_from(v.len()).unwrap_or(0)),
            Some(_) => wrongtype(),
        },
        "incr" => incr(s, key, 1),
        "decr" => incr(s, key, -1),
        "incrby" | "decrby" => match int(arg(args, 2)) {
            None => not_int(),
            Some(n) => incr(
                s,
                key,
                if name == "incrby" {
                    n
                } else {
                    n.saturating_neg()
                },
            ),
        },
        "del" | "unlink" => {
            if let Some(r) = s.readonly() {
                return r;
            }
            let mut inner = s.sh.lock();
            let mut n = 0;
            for k in args.iter().skip(1) {
                if inner.ks.get(s.db, k, s.now_ms).is_some() && inner.ks.remove(s.db, k) {
                    n += 1;
                }
            }
            Reply::Int(n)
        }
        "exists" => {
            let n = args.iter().skip(1).filter(|k| s.read(k).is_some()).count();
            Reply::Int(i64::try_from(n).unwrap_or(0))
        }
        "type" => Reply::Simple(
            s.read(key)
                .map_or("none", |(v, _)| v.type_name())
                .to_owned(),
        ),
        "ttl" => ttl(s, key, false),
        "pttl" => ttl(s, key, true),
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(s, name, args),
        "persist" => {
            let mut inner = s.sh.lock();
            let had = inner
                .ks
                .get(s.db, key, s.now_ms)
                .and_then(|e| e.expires_at)
                .is_some();
            if had {
                inner.ks.set_expiry(s.db, key, None, s.now_ms);
            }
            Reply::Int(i64::from(had))
        }
        "keys" => {
            let keys = s.sh.lock().ks.keys(s.db, s.now_ms);
            Reply::Array(
                keys.into_iter()
                    .filter(|k| glob(key, k, false))
                    .map(Reply::Bulk)
                    .collect(),
            )
        }
        "scan" => scan(s, args),
        "randomkey" => {
            let keys = s.sh.lock().ks.keys(s.db, s.now_ms);
            match keys.get(usize::try_from(s.now_ms).unwrap_or(0) % keys.len().max(1)) {
                Some(k) => Reply::Bulk(k.clone()),
                None => Reply::Nil,
            }
        }
        "flushdb" | "flushall" => {
            match args.get(1).map(|a| lower(a)) {
                None => {}
                Some(o) if (o == "async" || o == "sync") && args.len() == 2 => {}
                Some(_) => return syntax(),
            }
            let mut inner = s.sh.lock();
            if name == "flushall" {
                inner.ks.flush_all();
            } else {
                inner.ks.flush_db(s.db);
            }
            Reply::ok()
        }
        "hget" => match hash_of(s, key) {
            Ok(h) => h
                .into_iter()
                .find(|(f, _)| f.as_slice() == arg(args, 2))
                .map_or(Reply::Nil, |(_, v)| Reply::Bulk(v)),
            Err(e) => e,
        },
        "hmget" => match hash_of(s, key) {
            Ok(h) => Reply::Array(
                args.iter()
                    .skip(2)
                    .map(|f| {
                        h.iter()
                            .find(|(x, _)| x == f)
                            .map_or(Reply::Nil, |(_, v)| Reply::Bulk(v.clone()))
                    })
                    .collect(),
            ),
            Err(e) => e,
        },
        "hgetall" | "hkeys" | "hvals" | "hlen" => match hash_of(s, key) {
            Ok(h) => match name {
                "hlen" => Reply::Int(i64::try_from(h.len()).unwrap_or(0)),
                "hkeys" => Reply::Array(h.into_iter().map(|(f, _)| Reply::Bulk(f)).collect()),
                "hvals" => Reply::Array(h.into_iter().map(|(_, v)| Reply::Bulk(v)).collect()),
                _ => Reply::Array(
                    h.into_iter()
                        .flat_map(|(f, v)| [Reply::Bulk(f), Reply::Bulk(v)])
                        .collect(),
                ),
            },
            Err(e) => e,
        },
        "hexists" => match hash_of(s, key) {
            Ok(h) => Reply::Int(i64::from(
                h.iter().any(|(f, _)| f.as_slice() == arg(args, 2)),
            )),
            Err(e) => e,
        },
        "hset" | "hmset" | "hsetnx" => {
            if !args.len().is_multiple_of(2) {
                return arity_err(name);
            }
            let mut h = match hash_of(s, key) {
                Ok(h) => h,
                Err(e) => return e,
            };
            let mut added = 0;
            for pair in args.get(2..).unwrap_or_default().chunks(2) {
                if let [f, v] = pair {
                    match h.iter_mut().find(|(x, _)| x == f) {
                        Some(_) if name == "hsetnx" => return Reply::Int(0),
                        Some((_, old)) => *old = v.clone(),
                        None => {
                            h.push((f.clone(), v.clone()));
                            added += 1;
                        }
                    }
                    if let Some(kind) = super::payload_kind(v) {
                        s.effects.push(Effect::Payload {
                            key: key.to_vec(),
                            value: v.clone(),
                            kind,
                        });
                    }
                }
            }
            let exp = s.read(key).and_then(|(_, e)| e);
            let r = s.write(key, Value::Hash(h), exp);
            match (r.is_error(), name) {
                (true, _) => r,
                (false, "hmset") => Reply::ok(),
                (false, _) => Reply::Int(added),
            }
        }
        "hdel" => {
            let mut h = match hash_of(s, key) {
                Ok(h) => h,
                Err(e) => return e,
            };
            let before = h.len();
            h.retain(|(f, _)| !args.iter().skip(2).any(|x| x == f));
            let n = before - h.len();
            if h.is_empty() {
                s.sh.lock().ks.remove(s.db, key);
            } else if n > 0 {
                let exp = s.read(key).and_then(|(_, e)| e);
                let _ = s.write(key, Value::Hash(h), exp);
            }
            Reply::Int(i64::try_from(n).unwrap_or(0))
        }
        "lrange" => match (int(arg(args, 2)), int(arg(args, 3))) {
            (Some(a), Some(b)) => match list_of(s, key) {
                Ok((l, _)) => match range(l.len(), a, b) {
                    Some((a, b)) => Reply::Array(
                        l.get(a..=b)
                            .unwrap_or_default()
                            .iter()
                            .cloned()
                            .map(Reply::Bulk)
                            .collect(),
                    ),
                    None => Reply::Array(Vec::new()),
                },
                Err(e) => e,
            },
            _ => not_int(),
        },
        "llen" => match list_of(s, key) {
            Ok((l, _)) => Reply::Int(i64::try_from(l.len()).unwrap_or(0)),
            Err(e) => e,
        },
        "lindex" => match (int(arg(args, 2)), list_of(s, key)) {
            (None, _) => not_int(),
            (_, Err(e)) => e,
            (Some(i), Ok((l, _))) => {
                let len = i64::try_from(l.len()).unwrap_or(0);
                let i = if i < 0 { len + i } else { i };
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.get(i).cloned())
                    .map_or(Reply::Nil, Reply::Bulk)
            }
        },
        "lpush" | "rpush" => {
            let (mut l, exp) = match list_of(s, key) {
                Ok(l) => l,
                Err(e) => return e,
            };
            for v in args.iter().skip(2) {
                if name == "lpush" {
                    l.insert(0, v.clone());
                } else {
                    l.push(v.clone());
                }
            }
            let n = l.len();
            let r = s.write(key, Value::List(l), exp);
            if r.is_error() {
                r
            } else {
                Reply::Int(i64::try_from(n).unwrap_or(0))
            }
        }
        "lpop" | "rpop" => {
            let (mut l, exp) = match list_of(s, key) {
                Ok(l) => l,
                Err(e) => return e,
            };
            let v = if name == "lpop" {
                (!l.is_empty()).then(|| l.remove(0))
            } else {
                l.pop()
            };
            if l.is_empty() {
                s.sh.lock().ks.remove(s.db, key);
            } else {
                let _ = s.write(key, Value::List(l), exp);
            }
            v.map_or(Reply::Nil, Reply::Bulk)
        }
        "multi" | "watch" | "unwatch" | "discard" => Reply::ok(),
        "exec" => Reply::err("ERR EXEC without MULTI"),
        "subscribe" | "psubscribe" => Reply::Array(vec![
            Reply::bulk(name),
            Reply::Bulk(key.to_vec()),
            Reply::Int(1),
        ]),
        "publish" => Reply::Int(0),
        "object" => match lower(key).as_str() {
            "encoding" => match s.read(arg(args, 2)) {
                None => Reply::Nil,
                Some((Value::Str(v), _)) if int(&v).is_some() => Reply::bulk("int"),
                Some((Value::Str(v), _)) if v.len() <= 44 => Reply::bulk("embstr"),
                Some((Value::Str(_), _)) => Reply::bulk("raw"),
                Some((Value::Hash(_), _)) => Reply::bulk("listpack"),
                Some((Value::List(_), _)) => Reply::bulk("quicklist"),
            },
            "freq" | "idletime" | "refcount" => match s.read(arg(args, 2)) {
                None => Reply::Nil,
                Some(_) => Reply::Int(1),
            },
            _ => s.unknown_sub("object", key),
        },
        // A command of the release the decoy does not model: an empty answer
        // of the usual kind rather than an error a scanner would notice.
        _ => Reply::Array(Vec::new()),
    }
}
