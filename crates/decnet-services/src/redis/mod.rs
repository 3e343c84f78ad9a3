//! The Redis emulator (listener `redis`, port 6379): `redis-server` as the
//! decky's distro ships it (Debian 12 7.0.15, Ubuntu 22.04 6.0.16, Ubuntu 20.04
//! 5.0.7, …), left open to the network the way the servers worms hunt for are:
//! `protected-mode no`, and the protected configs and MODULE command enabled,
//! so an attack script's `CONFIG SET dir` / `dbfilename` / `SAVE` goes through
//! and its next step shows.
//!
//! - [`resp`]: the sans-IO RESP2 and inline parser (Redis's own errors and
//!   limits, capped) and the reply encoder
//! - [`cmd`]: command execution, one family per file, in Redis's check order
//! - [`keyspace`]: the per-decky keyspace (byte-capped) and glob matching
//! - [`state`]: what the decky's connections share (config, replication, counters)
//! - [`info`]: `INFO`'s sections and fields per release
//!
//! Events: every command is a `command` event with its full arguments (as
//! `MONITOR` prints them); AUTH and HELLO AUTH are `login_attempt` /
//! `login_success` with the exact password; a written value that looks like
//! a payload (SSH key, cron line, shell script, web shell) is kept as an
//! artifact and reported as `file_upload`; a visitor that sends no command is
//! a `scan`; a protocol error is answered as Redis answers it, then
//! `protocol_error` and the connection closes.

pub mod cmd;
pub mod info;
pub mod keyspace;
pub mod resp;
pub mod state;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Buf as _, BytesMut};
use decnet_core::bait::redis::{BaitKey, BaitValue};
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::{Command, FileTransfer, LoginMethod, LoginOutcome};
use decnet_core::persona::Package;
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::conn::{Conn, LimitTrip};
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use cmd::{Effect, Session};
use resp::{Parsed, Reply, CAPS};
use state::{Inner, Shared};

/// Longest `command` field of an event; the rest of the arguments are counted, not kept
/// (a payload they carry is kept whole as an artifact).
const COMMAND_FIELD_MAX: usize = 64 * 1024;
/// Largest `bait_file`.
const BAIT_FILE_MAX: usize = 1024 * 1024;
/// The version a release that ships no redis package shows.
const DEFAULT_VERSION: &str = "7.0.15";

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "redis_version",
        kind: KeyKind::Text,
        doc: "Version `INFO` and `HELLO` report (`7.0.15`, `6.0.16`, `5.0.14`); it also picks that release's error texts (5.x: `-ERR invalid password`, one-argument AUTH only; 6.0: `-WRONGPASS invalid username-password pair`; 6.2+: `… or user is disabled.`), INFO fields and `COMMAND COUNT`. Default: the version the decky's distro ships (Debian 12 7.0.15, Ubuntu 22.04 6.0.16, Ubuntu 20.04 5.0.7, Rocky 9 6.2.7; 7.0.15 where the release has no package).",
    },
    PersonaKey {
        name: "requirepass",
        kind: KeyKind::Text,
        doc: "Password of the default user. Unset (the default): no password, as the exposed servers worms look for are; `AUTH <password>` answers Redis's \"called without any password configured\" error and every command works. Set: everything but AUTH, HELLO and QUIT answers `-NOAUTH Authentication required.` until AUTH gives this password (or a credential the bait world accepts on this decky). Every AUTH is captured either way.",
    },
    PersonaKey {
        name: "bait_file",
        kind: KeyKind::Text,
        doc: "A keyspace dump of your own, laid over the bait world's keys: the path of a UTF-8 text file (at most 1 MiB, read at start) of commands in redis-cli's inline syntax, one per line: `SELECT <db>`, `SET <key> <value> [EX <seconds>]`, `HSET <key> <field> <value> …`, `RPUSH <key> <value> …`; quote with `\"…\"` (`\\n`, `\\xHH` escapes) or `'…'`; blank lines and `#` comments are skipped. Unlike the decky's `bait_file` (files the shell shows), this fills the keyspace. Default: the bait world's keys only (sessions, cached API tokens, the application's cached SMTP, database and S3 credentials, a mail queue).",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "redis",
    summary: "redis-server of the distro's release over a bait keyspace: AUTH captured, every command (CONFIG SET dir, SAVE, SLAVEOF, MODULE LOAD, EVAL) an event, payloads written to keys kept",
    listeners: &[ListenerInfo::tcp("redis", 6379)],
    persona_keys: &KEYS,
};

/// A Redis release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// As written (`7.0.15`).
    pub text: String,
}

impl Version {
    /// `a.b.c` (two or three numbers).
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        if let Some(p) = it.next() {
            p.parse::<u32>().ok()?;
        }
        if it.next().is_some() || !(2..=9).contains(&major) {
            return None;
        }
        Some(Version {
            major,
            minor,
            text: s.to_owned(),
        })
    }

    /// Whether it is `major.minor` or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// The `redis` service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;

/// The `gcc_version` of a distro's build, read from its kernel's compiler string.
fn gcc_of(compiler: &str) -> String {
    compiler
        .split([' ', ')', '(', ','])
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or("12.2.0")
        .to_owned()
}

/// Reads a `bait_file`: lines of inline commands.
fn read_bait_file(keys: &PersonaKeys<'_>, path: &str) -> Result<Vec<BaitKey>, ServiceError> {
    let bad = |m: String| keys.error("bait_file", m);
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("{path}: {e}")))?;
    if meta.len() > BAIT_FILE_MAX as u64 {
        return Err(bad(format!("{path}: larger than 1 MiB")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("{path}: {e}")))?;
    let mut db = 0u8;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let args = resp::split_args(t.as_bytes())
            .ok_or_else(|| bad(format!("{path}:{n}: unbalanced quotes")))?;
        let s: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let verb = s
            .first()
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        match (verb.as_str(), s.as_slice()) {
            ("SELECT", [_, d]) => {
                db = d
                    .parse()
                    .ok()
                    .filter(|d| usize::from(*d) < keyspace::DATABASES)
                    .ok_or_else(|| bad(format!("{path}:{n}: SELECT takes 0 to 15")))?;
            }
            ("SET", [_, k, v, rest @ ..]) => {
                let ttl = match rest {
                    [] => None,
                    [ex, secs] if ex.eq_ignore_ascii_case("ex") => Some(
                        secs.parse()
                            .map_err(|_| bad(format!("{path}:{n}: EX takes seconds")))?,
                    ),
                    _ => return Err(bad(format!("{path}:{n}: SET <key> <value> [EX <seconds>]"))),
                };
                out.push(BaitKey {
                    db,
                    key: k.clone(),
                    value: BaitValue::Str(v.clone()),
                    ttl,
                });
            }
            ("HSET", [_, k, rest @ ..]) if !rest.is_empty() && rest.len() % 2 == 0 => {
                let pairs = rest.chunks(2).filter_map(|c| match c {
                    [f, v] => Some((f.clone(), v.clone())),
                    _ => None,
                });
                out.push(BaitKey {
                    db,
                    key: k.clone(),
                    value: BaitValue::Hash(pairs.collect()),
                    ttl: None,
                });
            }
            ("RPUSH", [_, k, rest @ ..]) if !rest.is_empty() => {
                out.push(BaitKey {
                    db,
                    key: k.clone(),
                    value: BaitValue::List(rest.to_vec()),
                    ttl: None,
                });
            }
            _ => {
                return Err(bad(format!(
                    "{path}:{n}: expected SELECT, SET, HSET or RPUSH, got {verb:?}"
                )))
            }
        }
    }
    Ok(out)
}

impl Service for Redis {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let d = decky.config.distro;
        let shipped = d.package(Package::Redis);
        let version = match keys.text("redis_version") {
            Some(v) => Version::parse(v).ok_or_else(|| {
                keys.error(
                    "redis_version",
                    format!("expected a version like 7.0.15, got {v:?}"),
                )
            })?,
            None => {
                Version::parse(shipped.map_or(DEFAULT_VERSION, |p| p.upstream)).unwrap_or(Version {
                    major: 7,
                    minor: 0,
                    text: DEFAULT_VERSION.to_owned(),
                })
            }
        };
        let requirepass = keys
            .raw("requirepass")
            .filter(|p| !p.is_empty())
            .map(|p| p.as_bytes().to_vec());
        let mut seed = decnet_core::bait::redis::keyspace(&decky.bait, &decky.config.name);
        if let Some(path) = keys.text("bait_file") {
            let own = read_bait_file(&keys, path)?;
            seed.retain(|k| !own.iter().any(|o| o.db == k.db && o.key == k.key));
            seed.extend(own);
        }
        // Debian's build of 7.0.15 reports this id; other builds get their own.
        let build_id = match (version.text.as_str(), d.os_id) {
            ("7.0.15", "debian") => "ae4d7c971a948f0".to_owned(),
            _ => {
                let h =
                    decnet_core::seed::InstanceSeed::derive_for(version.text.as_bytes(), d.slug);
                hex::encode(h.derive(b"redis-build-id"))
                    .chars()
                    .take(15)
                    .collect()
            }
        };
        let persona = crate::shell::Persona::for_decky(&decky, None, None, Vec::new());
        let started =
            persona.boot + 7 + i64::try_from(decky.seed.pick(b"redis-start", 9)).unwrap_or(0);
        let port = cfg.listener("redis").map_or(6379, |l| l.port);
        let run_id = hex::encode(decky.seed.derive(b"redis-run-id"))
            .chars()
            .take(40)
            .collect();
        let replid = hex::encode(decky.seed.derive(b"redis-replid"))
            .chars()
            .take(40)
            .collect();
        let mut inner = Inner::new(
            state::config_table(port, requirepass.as_deref()),
            replid,
            started,
        );
        let now_ms = chrono::Utc::now().timestamp_millis();
        inner.keys_loaded = state::seed(&mut inner, &seed, now_ms);
        inner.connections = 3 + decky.seed.pick(b"redis-connections", 400);
        inner.commands = inner.connections * 7 + decky.seed.pick(b"redis-commands", 5000);
        let sh = Shared {
            version,
            requirepass,
            decky: decky.config.name.clone(),
            build_id,
            os: format!("Linux {} x86_64", persona.kernel_release),
            gcc: gcc_of(d.kernel_compiler),
            run_id,
            pid: 400 + u32::try_from(decky.seed.pick(b"redis-pid", 900)).unwrap_or(0),
            started,
            mem_total: persona.mem_kb * 1024,
            artifacts: decky.artifacts_dir(INFO.name),
            bait: decky.bait.clone(),
            seed,
            ids: AtomicU64::new(3 + decky.seed.pick(b"redis-client-id", 500)),
            inner: Mutex::new(inner),
        };
        Ok(Arc::new(RedisInstance { sh: Arc::new(sh) }))
    }
}

struct RedisInstance {
    sh: Arc<Shared>,
}

/// Leaves the connected-clients count right however the connection ends.
struct ClientGuard<'a>(&'a Shared);

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        let mut i = self.0.lock();
        i.clients = i.clients.saturating_sub(1);
    }
}

/// The `command` field: arguments as MONITOR prints them, capped.
fn command_line(args: &[Vec<u8>]) -> (String, bool) {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let r = resp::repr(a.get(..COMMAND_FIELD_MAX).unwrap_or(a));
        if s.len() + r.len() > COMMAND_FIELD_MAX {
            return (s, true);
        }
        s.push_str(&r);
    }
    (s, false)
}

impl RedisInstance {
    async fn effects(
        &self,
        ctx: &ConnCtx,
        sess: &Session<'_>,
        args: &[Vec<u8>],
        framing: resp::Framing,
        reply: &Reply,
    ) {
        let mut logged = false;
        let mut fields = Fields::new();
        for e in &sess.effects {
            match e {
                Effect::Login {
                    user,
                    password,
                    ok,
                    via,
                } => {
                    logged = true;
                    let principal = String::from_utf8_lossy(user).into_owned();
                    let mut f = Fields::new();
                    f.insert("command".into(), (*via).into());
                    f.insert("redis_version".into(), self.sh.version.text.clone().into());
                    f.insert(
                        "requirepass_set".into(),
                        self.sh.requirepass.is_some().into(),
                    );
                    if let Reply::Error(text) = reply {
                        f.insert("reply".into(), text.clone().into());
                    }
                    let cred = Credential::new(principal, password, SecretKind::Password);
                    let outcome = if *ok {
                        LoginOutcome::Success
                    } else {
                        LoginOutcome::Attempt
                    };
                    ctx.login(outcome, LoginMethod::Password, cred, f).await;
                    if *ok {
                        ctx.pre_auth.done();
                    }
                }
                Effect::Payload { key, value, kind } => {
                    let kept = crate::kit::artifact::keep(&self.sh.artifacts, value).await;
                    let (command, _) = command_line(args);
                    let mut e = ctx.event_of(&FileTransfer {
                        tool: Some("redis".to_owned()),
                        command: Some(command),
                        ..kept.upload(String::from_utf8_lossy(key), value.len() as u64)
                    });
                    e.fields.insert("payload".into(), (*kind).into());
                    e.fields.insert("db".into(), sess.db.into());
                    ctx.emit(e).await;
                }
                Effect::Field(k, v) => {
                    fields.insert((*k).into(), v.clone());
                }
                Effect::Close | Effect::Drop => {}
            }
        }
        if logged {
            // The login event holds the credential; no second copy in a command event.
            return;
        }
        let (line, truncated) = command_line(args);
        let mut e = ctx.event_of(&Command::new(line));
        e.fields.insert("db".into(), sess.db.into());
        e.fields.insert(
            "framing".into(),
            match framing {
                resp::Framing::Multibulk => "resp",
                resp::Framing::Inline => "inline",
            }
            .into(),
        );
        e.fields.insert("authenticated".into(), sess.authed.into());
        if truncated {
            e.fields.insert("truncated".into(), true.into());
        }
        if let Reply::Error(text) = reply {
            e.fields.insert("reply".into(), text.clone().into());
        }
        e.fields.extend(fields);
        ctx.emit(e).await;
    }
}

#[async_trait]
impl Instance for RedisInstance {
    async fn serve(&self, mut conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let sh = &*self.sh;
        let trip = conn.trip_flag();
        let now_ms = || chrono::Utc::now().timestamp_millis();
        {
            let mut i = sh.lock();
            i.connections += 1;
            i.clients += 1;
            if i.ks.is_empty() && !sh.seed.is_empty() {
                // The application refills its cache after a FLUSHALL.
                let n = state::seed(&mut i, &sh.seed, now_ms());
                i.keys_loaded = n;
            }
        }
        let _guard = ClientGuard(sh);
        let mut sess = Session::new(sh, ctx.peer, ctx.local, now_ms());
        if sess.authed {
            ctx.pre_auth.done();
        }
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut commands = 0u64;
        loop {
            // Every whole command in the buffer, answered in order.
            let mut out: Vec<u8> = Vec::new();
            let mut close = false;
            loop {
                // Redis 5 had no pre-AUTH limits on what a request announces.
                let unlimited = sess.authed || sh.version.major < 6;
                match resp::parse(&buf, unlimited, &CAPS) {
                    Parsed::Incomplete => break,
                    Parsed::Error(e) => {
                        out.extend_from_slice(&Reply::err(e.reply()).to_bytes());
                        let _ = conn.write_all(&out).await;
                        let _ = conn.shutdown().await;
                        return Err(ctx.protocol_error(e.reason()).await);
                    }
                    Parsed::Command {
                        args,
                        consumed,
                        framing,
                    } => {
                        buf.advance(consumed);
                        if args.is_empty() {
                            continue;
                        }
                        commands += 1;
                        sess.now_ms = now_ms();
                        let reply = sess.execute(&args);
                        if sess.effects.contains(&Effect::Drop) {
                            let mut e = ctx.event(EventType::ProtocolError);
                            e.fields.insert(
                                "reason".into(),
                                "cross protocol scripting (POST or Host: seen)".into(),
                            );
                            let (line, _) = command_line(&args);
                            e.fields.insert("command".into(), line.into());
                            ctx.emit(e).await;
                            return Ok(());
                        }
                        self.effects(&ctx, &sess, &args, framing, &reply).await;
                        reply.encode(&mut out);
                        if sess.effects.contains(&Effect::Close) {
                            close = true;
                            break;
                        }
                    }
                }
            }
            if !out.is_empty() {
                sh.lock().net_out += out.len() as u64;
                conn.write_all(&out).await?;
            }
            if close {
                let _ = conn.shutdown().await;
                return Ok(());
            }
            if buf.len() > CAPS.buffer() {
                return Err(ctx.protocol_error("command past the buffer cap").await);
            }
            let n = match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            sh.lock().net_in += n as u64;
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        if commands == 0 && trip.get() != Some(LimitTrip::Idle) {
            let mut e = ctx.event(EventType::Scan);
            e.fields.insert("bytes".into(), buf.len().into());
            ctx.emit(e).await;
        }
        Ok(())
    }

    fn pre_auth_deadline(&self) -> bool {
        self.sh.requirepass.is_some()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        let v = Version::parse("6.2.7").unwrap();
        assert!(v.at_least(6, 2) && !v.at_least(7, 0));
        assert!(Version::parse("7.0").is_some());
        assert!(Version::parse("x").is_none());
        assert!(Version::parse("7.0.15.1").is_none());
    }

    #[test]
    fn gcc_comes_from_the_distros_compiler_string() {
        let d = decnet_core::persona::distro("debian").unwrap();
        assert_eq!(gcc_of(d.kernel_compiler), "12.2.0");
        let u = decnet_core::persona::distro("ubuntu22").unwrap();
        assert_eq!(gcc_of(u.kernel_compiler), "11.4.0");
    }
}
