//! The MongoDB emulator (listener `mongodb`, port 27017): a `mongod` of
//! MongoDB's own packages (7.0 by default), standalone or the primary of a
//! replica set, started with `security.authorization: enabled`.
//!
//! Why authorization on: the exposed servers worth imitating today are the
//! ones administrators did secure (since 3.6 a package binds to localhost
//! unless told otherwise; whoever opens it to the network is told to enable
//! auth), and a server that asks for a login captures credentials, the
//! thing a sensor is for. So, as such a mongod does: `hello`/`isMaster`,
//! `buildInfo`, `ping`, `whatsmyuri`, `connectionStatus`, `endSessions`,
//! `logout` and the SASL commands work unauthenticated; every other command
//! gets error 13 `Unauthorized` ("Command find requires authentication",
//! lowercase `command` before 6.0); an unknown name gets 59
//! `CommandNotFound` ("no such command: 'x'") before any auth check, and
//! an admin-only command elsewhere gets mongod's "may only be run against
//! the admin database." first.
//!
//! Logins are SCRAM-SHA-1 and SCRAM-SHA-256 over `saslStart`/`saslContinue`
//! or `speculativeAuthenticate` inside `hello`, with mongod's iteration
//! counts, salt and nonce lengths; every unknown user gets a salt as real as
//! a known one's (mongod's mock SCRAM), and a wrong proof gets
//! "Authentication failed." (18). The proof is captured with everything
//! cracking needs (`scram_sha_1` / `scram_sha_256`, PostgreSQL's field
//! names); a credential the bait world plants or accepts here gets in with
//! the right server signature and sees the world's `appdb` as collections.
//! PLAIN (an enterprise mechanism) is refused as a community server
//! refuses it, after its cleartext password is captured.
//! Writes are acknowledged and never reach the bait; a connection reads
//! back what it inserted (up to 1000 documents, 4 MiB), so an intruder's
//! test write or ransom note is there when they look.
//!
//! Events: every command is a `command` event (opcode, database, the command
//! in the shell's notation; `hello` with the client's metadata: driver, OS,
//! application); data commands (`find`, `insert`, `update`, `delete`,
//! `count`, `aggregate`, `listDatabases`, `listCollections`, …) are `query`
//! events instead, answered or refused; logins are `login_attempt` /
//! `login_success`; a message that breaks the wire protocol is a
//! `protocol_error` and the connection closes, as mongod closes it.
//!
//! - [`bson`]: the BSON reader and writer (capped, sans-IO)
//! - [`wire`]: headers, OP_MSG, OP_QUERY, OP_COMPRESSED, replies, the capped reader
//! - [`scram`]: SCRAM-SHA-1/256 as mongod computes them
//! - [`commands`]: the command surface (sans-IO)
//! - `session`: one connection's loop and its events

pub mod bson;
pub mod commands;
pub mod scram;
mod session;
pub mod wire;

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::bait::World;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// The release a decky runs unless `mongo_version` says otherwise.
pub const DEFAULT_VERSION: &str = "7.0.14";

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "mongo_version",
        kind: KeyKind::Text,
        doc: "The mongod release `buildInfo`, `serverStatus` and the wire version show: 4.4.x, 5.0.x, 6.0.x, 7.0.x, 8.0.x (or a rapid release such as 6.2.1). It picks `maxWireVersion` (4.4: 9, 5.0: 13, 6.0: 17, 7.0: 21, 8.0: 25) and that release's error wording. Default: `7.0.14`.",
    },
    PersonaKey {
        name: "repl_set",
        kind: KeyKind::Text,
        doc: "Replica set name: when set, the decky answers as the primary of that set (`hello` reports `setName`, `hosts`, `primary`, `me`, `electionId`, `lastWrite`; replies carry `$clusterTime` and `operationTime`). Default: unset, a standalone mongod.",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "user:password accounts let in (over either SCRAM mechanism, from any authentication database) besides the bait world's (the planted `app` account, people with an account on the decky). Default: none.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "mongodb",
    summary: "mongod with authorization enabled: OP_MSG and the legacy OP_QUERY handshake, client metadata captured, SCRAM-SHA-1/256 proofs captured crackable, planted credentials get the bait world's appdb as collections, every command an event",
    listeners: &[ListenerInfo::tcp("mongodb", 27017)],
    persona_keys: &KEYS,
};

/// A mongod release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// `major.minor.patch` of a release that speaks OP_MSG with SCRAM-SHA-256 (4.4 and later).
    pub fn parse(s: &str) -> Option<Version> {
        let mut it = s.split('.').map(|p| {
            (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
        });
        let v = Version {
            major: it.next()??,
            minor: it.next()??,
            patch: it.next()??,
        };
        if it.next().is_some() {
            return None;
        }
        v.max_wire_version().map(|_| v)
    }

    /// The wire version of the release (`maxWireVersion`).
    pub fn max_wire_version(&self) -> Option<i32> {
        Some(match (self.major, self.minor) {
            (4, 4) => 9,
            (5, 0) => 13,
            (5, 1) => 14,
            (5, 2) => 15,
            (5, 3) => 16,
            (6, 0) => 17,
            (6, 1) => 18,
            (6, 2) => 19,
            (6, 3) => 20,
            (7, 0) => 21,
            (7, 1) => 22,
            (7, 2) => 23,
            (7, 3) => 24,
            (8, 0) => 25,
            _ => return None,
        })
    }

    /// Whether OP_QUERY is limited to the handshake (5.1 removed the rest).
    pub fn legacy_removed(&self) -> bool {
        (self.major, self.minor) >= (5, 1)
    }

    /// As written.
    pub fn text(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The `mongodb` service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mongodb;

/// What one decky's mongod is.
#[derive(Debug)]
pub struct Shared {
    /// Its release.
    pub version: Version,
    /// The replica set it is primary of.
    pub repl_set: Option<String>,
    decky: String,
    hostname: String,
    distro: &'static str,
    bait: Arc<World>,
    /// The decky's salt key (per-user SCRAM salts).
    salt_key: [u8; 32],
    /// Seconds the process had been up when the decky started.
    uptime_base: u64,
    started: std::time::Instant,
    /// `topologyVersion.processId`.
    process_id: [u8; 12],
    pid: i64,
    next_conn: AtomicI32,
    next_request: AtomicI32,
    /// What it holds.
    data: Vec<commands::Database>,
    /// Accounts configured with `users`.
    users: Vec<(String, String)>,
}

impl Shared {
    /// The facts a decky shows, for tools that run the command surface alone.
    pub fn new(
        version: Version,
        repl_set: Option<String>,
        decky: &str,
        hostname: &str,
        bait: Arc<World>,
        seed: &decnet_core::seed::InstanceSeed,
    ) -> Shared {
        let uptime_base = 3_600 * 6 + seed.pick(b"mongodb-uptime", 86_400 * 40);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let start = u32::try_from(now.saturating_sub(uptime_base)).unwrap_or(0);
        let mut process_id = [0u8; 12];
        process_id[..4].copy_from_slice(&start.to_be_bytes());
        process_id[4..].copy_from_slice(&seed.derive(b"mongodb-process")[..8]);
        let salt_key = seed.derive(b"mongodb-scram-salt");
        let data = commands::databases(&bait, decky, &seed.derive(b"mongodb-data"));
        Shared {
            data,
            users: Vec::new(),
            version,
            repl_set,
            decky: decky.to_owned(),
            hostname: hostname.to_owned(),
            distro: "ubuntu22",
            bait,
            salt_key,
            uptime_base,
            started: std::time::Instant::now(),
            process_id,
            pid: 700 + i64::try_from(seed.pick(b"mongodb-pid", 3000)).unwrap_or(0),
            next_conn: AtomicI32::new(
                3 + i32::try_from(seed.pick(b"mongodb-conn", 400)).unwrap_or(0),
            ),
            next_request: AtomicI32::new(
                1 + i32::try_from(seed.pick(b"mongodb-request", 90_000)).unwrap_or(0),
            ),
        }
    }

    /// Seconds since the process started.
    pub fn uptime(&self) -> f64 {
        self.uptime_base as f64 + self.started.elapsed().as_secs_f64()
    }

    /// The next server message id.
    fn request_id(&self) -> i32 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }
}

impl Service for Mongodb {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let text = keys.text_or("mongo_version", DEFAULT_VERSION);
        let version = Version::parse(text).ok_or_else(|| {
            keys.error(
                "mongo_version",
                format!(
                    "expected a mongod release from 4.4.0 to 8.0.x such as 7.0.14, got {text:?}"
                ),
            )
        })?;
        let repl_set = match keys.text("repl_set") {
            None => None,
            Some(s)
                if !s.is_empty()
                    && s.len() <= 64
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(s.to_owned())
            }
            Some(s) => {
                return Err(keys.error(
                    "repl_set",
                    format!("expected a replica set name of letters, digits, - and _, got {s:?}"),
                ))
            }
        };
        let mut shared = Shared::new(
            version,
            repl_set,
            &decky.config.name,
            &decky.config.hostname,
            decky.bait.clone(),
            &decky.seed,
        );
        shared.distro = decky.config.distro.slug;
        shared.users = keys.users_or("users", "")?;
        Ok(Arc::new(MongodbInstance {
            shared: Arc::new(shared),
        }))
    }
}

/// One decky's mongod.
#[derive(Debug)]
pub struct MongodbInstance {
    shared: Arc<Shared>,
}

#[async_trait]
impl Instance for MongodbInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let id = self.shared.next_conn.fetch_add(1, Ordering::Relaxed);
        session::run(&self.shared, &ctx, conn, id).await
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_validated() {
        assert_eq!(
            Version::parse("7.0.14").unwrap().max_wire_version(),
            Some(21)
        );
        assert_eq!(
            Version::parse("6.0.19").unwrap().max_wire_version(),
            Some(17)
        );
        assert!(Version::parse("4.4.29").is_some());
        for bad in [
            "3.6.23",
            "7.0",
            "7.0.x",
            "9.0.0",
            "7.0.14.1",
            "",
            "07.0.1234",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }
}
