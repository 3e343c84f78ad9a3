//! What one decky's `redis-server` shares between its connections: the
//! keyspace, the runtime configuration (`CONFIG SET dir` stays set for the next
//! client, as on a real server), replication, loaded scripts and the counters
//! INFO reports. Locked briefly by each command; never held across an await.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use decnet_core::bait::redis::{BaitKey, BaitValue};

use super::keyspace::{Keyspace, Value, DATABASES};
use super::Version;

/// The configuration `CONFIG GET *` lists (Redis 7.0.15 as Debian configures it).
const CONFIG: &str = include_str!("config.txt");

/// Parameters the decoy refuses to change at runtime, as Redis does.
pub const IMMUTABLE: [&str; 12] = [
    "daemonize",
    "supervised",
    "pidfile",
    "port",
    "bind",
    "unixsocket",
    "databases",
    "enable-protected-configs",
    "enable-module-command",
    "enable-debug-command",
    "io-threads",
    "logfile",
];

/// The per-decky server.
#[derive(Debug)]
pub struct Shared {
    /// The persona's release.
    pub version: Version,
    /// `requirepass`, when set.
    pub requirepass: Option<Vec<u8>>,
    /// The decky's name (the bait world's key for it).
    pub decky: String,
    /// `redis_build_id`.
    pub build_id: String,
    /// `os` (`Linux <kernel> x86_64`).
    pub os: String,
    /// `gcc_version` of the distro's build.
    pub gcc: String,
    /// `run_id`, per decky.
    pub run_id: String,
    /// `process_id`.
    pub pid: u32,
    /// When the server started (Unix seconds): a little after the decky booted.
    pub started: i64,
    /// `total_system_memory`.
    pub mem_total: u64,
    /// `<artifacts>/<decky>/redis`.
    pub artifacts: PathBuf,
    /// The fleet's bait world (who AUTH lets in).
    pub bait: std::sync::Arc<decnet_core::bait::World>,
    /// The keys the keyspace is seeded with (bait world, then `bait_file`).
    pub seed: Vec<BaitKey>,
    /// Client ids.
    pub ids: AtomicU64,
    /// Everything that changes.
    pub inner: Mutex<Inner>,
}

/// The changing part of [`Shared`].
#[derive(Debug)]
pub struct Inner {
    /// The keyspace.
    pub ks: Keyspace,
    /// `CONFIG GET`'s table, in its order.
    pub config: Vec<(String, String)>,
    /// `SLAVEOF host port` in force.
    pub master: Option<(String, u16)>,
    /// Scripts by SHA-1 (SCRIPT LOAD, EVAL).
    pub scripts: BTreeMap<String, Vec<u8>>,
    /// Modules loaded (none ever load; kept for INFO and MODULE LIST).
    pub modules: Vec<String>,
    /// `rdb_last_save_time`.
    pub last_save: i64,
    /// `rdb_saves`.
    pub saves: u64,
    /// Calls per command (INFO commandstats).
    pub cmdstats: BTreeMap<String, u64>,
    /// Error replies per prefix (INFO errorstats).
    pub errorstats: BTreeMap<String, u64>,
    /// `total_connections_received`.
    pub connections: u64,
    /// `total_commands_processed`.
    pub commands: u64,
    /// `total_error_replies`.
    pub errors: u64,
    /// `keyspace_hits` / `keyspace_misses`.
    pub hits: u64,
    /// See `hits`.
    pub misses: u64,
    /// `total_net_input_bytes` / `total_net_output_bytes`.
    pub net_in: u64,
    /// See `net_in`.
    pub net_out: u64,
    /// `connected_clients`.
    pub clients: usize,
    /// `used_memory_peak`.
    pub peak: u64,
    /// `master_replid` and `master_replid2`.
    pub replid: String,
    /// See `replid`.
    pub replid2: String,
    /// Keys loaded at start (`rdb_last_load_keys_loaded`).
    pub keys_loaded: usize,
}

/// What INFO reads, taken under the lock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Now, in ms since the epoch.
    pub now_ms: i64,
    /// Sub-millisecond part of now.
    pub micros: u16,
    /// The port the client reached.
    pub port: u16,
    /// Connected clients.
    pub clients: usize,
    /// Keyspace bytes.
    pub bytes: usize,
    /// Peak memory.
    pub peak: u64,
    /// Cached scripts.
    pub scripts: u64,
    /// Writes since the last save.
    pub dirty: u64,
    /// Last save.
    pub last_save: i64,
    /// Saves done.
    pub saves: u64,
    /// Keys loaded at start.
    pub keys_loaded: usize,
    /// Connections received.
    pub connections: u64,
    /// Commands processed.
    pub commands: u64,
    /// Bytes in.
    pub net_in: u64,
    /// Bytes out.
    pub net_out: u64,
    /// Keys expired.
    pub expired: u64,
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Error replies.
    pub errors: u64,
    /// Master, when a replica.
    pub master: Option<(String, u16)>,
    /// Replication ids.
    pub replid: String,
    /// Previous replication id.
    pub replid2: String,
    /// Loaded modules.
    pub modules: Vec<String>,
    /// Calls per command.
    pub cmdstats: BTreeMap<String, u64>,
    /// Errors per prefix.
    pub errorstats: BTreeMap<String, u64>,
    /// (db, keys, expires, avg_ttl) of every non-empty database.
    pub dbs: Vec<(usize, usize, usize, i64)>,
}

impl Shared {
    /// Locks the changing part (a poisoned lock is taken over: the data stays usable).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The configuration table as Debian's redis.conf sets it.
pub fn config_table(port: u16, requirepass: Option<&[u8]>) -> Vec<(String, String)> {
    CONFIG
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| {
            let v = match k {
                "port" => port.to_string(),
                "requirepass" => requirepass
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_default(),
                _ => v.to_owned(),
            };
            (k.to_owned(), v)
        })
        .collect()
}

/// Fills an empty keyspace with the seed (an application refills its cache).
pub fn seed(inner: &mut Inner, keys: &[BaitKey], now_ms: i64) -> usize {
    let mut n = 0;
    for k in keys {
        let db = usize::from(k.db);
        if db >= DATABASES {
            continue;
        }
        let value = match &k.value {
            BaitValue::Str(s) => Value::Str(s.clone().into_bytes()),
            BaitValue::Hash(h) => Value::Hash(
                h.iter()
                    .map(|(f, v)| (f.clone().into_bytes(), v.clone().into_bytes()))
                    .collect(),
            ),
            BaitValue::List(l) => Value::List(l.iter().map(|v| v.clone().into_bytes()).collect()),
        };
        let exp = k
            .ttl
            .map(|t| now_ms + i64::try_from(t.saturating_mul(1000)).unwrap_or(i64::MAX / 2));
        if inner.ks.put(db, k.key.as_bytes(), value, exp).is_ok() {
            n += 1;
        }
    }
    inner.ks.dirty = 0;
    n
}

impl Inner {
    /// A fresh server state.
    pub fn new(config: Vec<(String, String)>, replid: String, started: i64) -> Inner {
        Inner {
            ks: Keyspace::default(),
            config,
            master: None,
            scripts: BTreeMap::new(),
            modules: Vec::new(),
            last_save: started,
            saves: 0,
            cmdstats: BTreeMap::new(),
            errorstats: BTreeMap::new(),
            connections: 0,
            commands: 0,
            errors: 0,
            hits: 0,
            misses: 0,
            net_in: 0,
            net_out: 0,
            clients: 0,
            peak: 0,
            replid,
            replid2: "0".repeat(40),
            keys_loaded: 0,
        }
    }

    /// A configuration value.
    pub fn config(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a configuration value; false when the parameter does not exist.
    pub fn set_config(&mut self, name: &str, value: String) -> bool {
        match self.config.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => {
                *v = value;
                true
            }
            None => false,
        }
    }

    /// What INFO reads.
    pub fn snapshot(&mut self, now_ms: i64, micros: u16, port: u16) -> Snapshot {
        let mut dbs = Vec::new();
        for db in 0..DATABASES {
            let (keys, expires) = self.ks.counts(db, now_ms);
            if keys > 0 {
                dbs.push((db, keys, expires, self.ks.avg_ttl(db, now_ms)));
            }
        }
        let used = 876_200 + (self.ks.bytes() as u64) * 3 / 2;
        self.peak = self.peak.max(used);
        Snapshot {
            now_ms,
            micros,
            port,
            clients: self.clients,
            bytes: self.ks.bytes(),
            peak: self.peak,
            scripts: self.scripts.len() as u64,
            dirty: self.ks.dirty,
            last_save: self.last_save,
            saves: self.saves,
            keys_loaded: self.keys_loaded,
            connections: self.connections,
            commands: self.commands,
            net_in: self.net_in,
            net_out: self.net_out,
            expired: 0,
            hits: self.hits,
            misses: self.misses,
            errors: self.errors,
            master: self.master.clone(),
            replid: self.replid.clone(),
            replid2: self.replid2.clone(),
            modules: self.modules.clone(),
            cmdstats: self.cmdstats.clone(),
            errorstats: self.errorstats.clone(),
            dbs,
        }
    }
}
