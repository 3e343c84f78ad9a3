//! One node's cluster as the API shows it: the release it claims (with the
//! Lucene version, build and wire compatibility that release really has), its
//! names and identifiers, and the bait indices built from the bait world.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::TimeZone as _;
use decnet_core::bait::World;
use sha2::{Digest as _, Sha256};

use super::json::{obj, Json};

/// Releases whose build facts are known: (major, minor, lowest patch, Lucene).
const LUCENE: [(u32, u32, u32, &str); 12] = [
    (6, 8, 0, "7.7.3"),
    (7, 10, 0, "8.7.0"),
    (7, 16, 0, "8.10.1"),
    (7, 17, 0, "8.11.1"),
    (7, 17, 14, "8.11.3"),
    (8, 10, 0, "9.7.0"),
    (8, 11, 0, "9.8.0"),
    (8, 12, 0, "9.9.2"),
    (8, 13, 0, "9.10.0"),
    (8, 14, 0, "9.10.0"),
    (8, 15, 0, "9.11.1"),
    (8, 17, 0, "9.12.0"),
];

/// The release a node claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `7.10.2`.
    pub number: String,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
    /// Lucene release it bundles.
    pub lucene: &'static str,
    /// Git hash of the build.
    pub build_hash: String,
    /// Build time.
    pub build_date: String,
}

impl Version {
    /// Parses an `es_version` value: `major.minor.patch` of a 6.8, 7.x or 8.x release.
    pub fn parse(s: &str) -> Result<Version, String> {
        let parts: Vec<u32> = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| ()))
            .collect::<Result<_, _>>()
            .map_err(|()| format!("expected a release number such as 7.10.2, got {s:?}"))?;
        let [major, minor, patch] = parts[..] else {
            return Err(format!(
                "expected major.minor.patch such as 7.10.2, got {s:?}"
            ));
        };
        let lucene = LUCENE
            .iter()
            .rev()
            .find(|(ma, mi, pa, _)| (*ma, *mi, *pa) <= (major, minor, patch) && *ma == major)
            .map(|e| e.3)
            .filter(|_| (6, 8) <= (major, minor) && major <= 8)
            .ok_or_else(|| {
                format!("{s} is not a release this service can be (6.8.x, 7.x or 8.x)")
            })?;
        let number = format!("{major}.{minor}.{patch}");
        // 7.10.2's build is the one most exposed clusters run; other releases get a
        // hash and a date that are stable per release, as real builds are.
        let (build_hash, build_date) = if number == "7.10.2" {
            (
                "747e1cc71def077253878a59143c1f785afa92b9".to_owned(),
                "2021-01-13T00:42:12.435326Z".to_owned(),
            )
        } else {
            let h = Sha256::digest(format!("elasticsearch-build/{number}"));
            let days = i64::from(major * 400 + minor * 30 + patch * 7);
            let secs =
                1_420_070_400 + days * 86_400 + i64::from(h.first().copied().unwrap_or(0)) * 300;
            let date = chrono::Utc
                .timestamp_opt(secs, u32::from(h.get(1).copied().unwrap_or(0)) * 3_900_000)
                .single()
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .unwrap_or_default();
            (hex::encode(h.get(..20).unwrap_or_default()), date)
        };
        Ok(Version {
            number,
            major,
            minor,
            patch,
            lucene,
            build_hash,
            build_date,
        })
    }

    /// Whether security is on by default (8.0 and later).
    pub fn security(&self) -> bool {
        self.major >= 8
    }

    /// Whether responses carry `X-elastic-product` (7.14 and later).
    pub fn product_header(&self) -> bool {
        (self.major, self.minor) >= (7, 14)
    }

    fn wire_compat(&self) -> (&'static str, &'static str) {
        match self.major {
            6 => ("5.6.0", "5.0.0"),
            7 => ("6.8.0", "6.0.0-beta1"),
            _ => ("7.17.0", "7.0.0"),
        }
    }

    /// The numeric id ES stores in `index.version.created` (`7100299`).
    fn id(&self) -> u64 {
        u64::from(self.major) * 1_000_000
            + u64::from(self.minor) * 10_000
            + u64::from(self.patch) * 100
            + 99
    }

    /// The JDK the release bundles.
    fn jdk(&self) -> &'static str {
        match (self.major, self.minor) {
            (6, _) => "11.0.14.1",
            (7, m) if m < 12 => "15.0.1",
            (7, _) => "17.0.8",
            _ => "21.0.1",
        }
    }
}

/// An index and its documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// Name.
    pub name: String,
    /// `uuid` (22 characters of URL-safe base64).
    pub uuid: String,
    /// Creation time (Unix milliseconds).
    pub created: i64,
    /// Documents by id, in insertion order.
    pub docs: Vec<(String, Json)>,
}

impl Index {
    /// Stores (or replaces) a document.
    pub fn put(&mut self, id: &str, source: Json) {
        match self.docs.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1 = source,
            None => self.docs.push((id.to_owned(), source)),
        }
    }

    /// A document by id.
    pub fn get(&self, id: &str) -> Option<&Json> {
        self.docs.iter().find(|(i, _)| i == id).map(|(_, d)| d)
    }

    /// Removes a document, returning it.
    pub fn remove(&mut self, id: &str) -> Option<Json> {
        let at = self.docs.iter().position(|(i, _)| i == id)?;
        Some(self.docs.remove(at).1)
    }

    /// Bytes on disk, as `_cat/indices` sizes them (Lucene's overhead plus the sources twice: primary and translog).
    fn store_bytes(&self) -> u64 {
        let src: usize = self
            .docs
            .iter()
            .map(|(i, d)| i.len() + d.compact().len())
            .sum();
        208 + 3 * src as u64
    }
}

/// One node's cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The release.
    pub version: Version,
    /// `cluster.name`.
    pub cluster_name: String,
    /// `node.name`.
    pub node_name: String,
    /// The cluster's uuid.
    pub cluster_uuid: String,
    /// The node's id.
    pub node_id: String,
    /// The node's address.
    pub ip: String,
    /// The node's host name.
    pub hostname: String,
    /// Kernel release (`os.version`).
    pub kernel: String,
    /// Distro's display name (`os.pretty_name`).
    pub os_name: String,
    /// Start time (Unix milliseconds).
    pub started: i64,
    /// Seed for ids the node generates.
    pub seed: [u8; 32],
    /// Documents indexed so far (auto-generated ids differ per write).
    pub writes: AtomicU64,
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `len` URL-safe base64 characters drawn from `seed` and `label`.
pub fn ident(seed: &[u8; 32], label: &str, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut round = 0u32;
    while out.len() < len {
        let h = Sha256::new()
            .chain_update(seed)
            .chain_update(label.as_bytes())
            .chain_update(round.to_be_bytes())
            .finalize();
        for b in h {
            if out.len() == len {
                break;
            }
            if let Some(&c) = B64URL.get(usize::from(b & 63)) {
                out.push(char::from(c));
            }
        }
        round += 1;
    }
    out
}

/// Formats bytes as ES's `ByteSizeValue` does (`208b`, `4.5kb`, `1.2mb`).
pub fn byte_size(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("tb", 1 << 40),
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            let r = (v * 10.0).round() / 10.0;
            return if r.fract() == 0.0 {
                format!("{r:.0}{unit}")
            } else {
                format!("{r:.1}{unit}")
            };
        }
    }
    format!("{n}b")
}

/// Lays out a `_cat` table: columns padded to their widest cell, numbers right-aligned.
fn table(header: &[&str], rows: &[Vec<String>], verbose: bool) -> String {
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| {
            rows.iter().all(|r| {
                r.get(c).is_some_and(|v| {
                    v.parse::<f64>().is_ok()
                        || v.ends_with('b')
                            && v.len() > 1
                            && v.as_bytes().first().is_some_and(u8::is_ascii_digit)
                        || v.ends_with('%')
                })
            })
        })
        .collect();
    let mut all: Vec<Vec<String>> = Vec::new();
    if verbose {
        all.push(header.iter().map(|h| (*h).to_owned()).collect());
    }
    all.extend(rows.iter().cloned());
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            all.iter()
                .map(|r| r.get(c).map_or(0, |v| v.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (ri, r) in all.iter().enumerate() {
        for (c, w) in widths.iter().enumerate() {
            let v = r.get(c).map_or("", String::as_str);
            let pad = w.saturating_sub(v.chars().count());
            // The header row is left-aligned; numbers in data rows are right-aligned.
            if numeric.get(c).copied().unwrap_or(false) && !(verbose && ri == 0) {
                out.push_str(&" ".repeat(pad));
                out.push_str(v);
            } else {
                out.push_str(v);
                out.push_str(&" ".repeat(pad));
            }
            if c + 1 < widths.len() {
                out.push(' ');
            }
        }
        out.push('\n');
    }
    out
}

impl Cluster {
    /// `GET /`.
    pub fn root(&self) -> Json {
        let (wire, index) = self.version.wire_compat();
        let mut version = vec![(
            "number".to_owned(),
            Json::from(self.version.number.as_str()),
        )];
        version.push(("build_flavor".to_owned(), "default".into()));
        version.extend([
            ("build_type".to_owned(), Json::from("deb")),
            (
                "build_hash".to_owned(),
                Json::from(self.version.build_hash.as_str()),
            ),
            (
                "build_date".to_owned(),
                Json::from(self.version.build_date.as_str()),
            ),
            ("build_snapshot".to_owned(), Json::Bool(false)),
            ("lucene_version".to_owned(), Json::from(self.version.lucene)),
            (
                "minimum_wire_compatibility_version".to_owned(),
                Json::from(wire),
            ),
            (
                "minimum_index_compatibility_version".to_owned(),
                Json::from(index),
            ),
        ]);
        obj([
            ("name", self.node_name.as_str().into()),
            ("cluster_name", self.cluster_name.as_str().into()),
            ("cluster_uuid", self.cluster_uuid.as_str().into()),
            ("version", Json::Obj(version)),
            ("tagline", "You Know, for Search".into()),
        ])
    }

    /// `GET /_cluster/health`: one node, replicas unassigned, so yellow.
    pub fn health(&self, indices: &[Index]) -> Json {
        let n = indices.len();
        let status = if n == 0 { "green" } else { "yellow" };
        let pct = if n == 0 { 100.0 } else { 50.0 };
        obj([
            ("cluster_name", self.cluster_name.as_str().into()),
            ("status", status.into()),
            ("timed_out", false.into()),
            ("number_of_nodes", Json::Int(1)),
            ("number_of_data_nodes", Json::Int(1)),
            ("active_primary_shards", n.into()),
            ("active_shards", n.into()),
            ("relocating_shards", Json::Int(0)),
            ("initializing_shards", Json::Int(0)),
            ("unassigned_shards", n.into()),
            ("delayed_unassigned_shards", Json::Int(0)),
            ("number_of_pending_tasks", Json::Int(0)),
            ("number_of_in_flight_fetch", Json::Int(0)),
            ("task_max_waiting_in_queue_millis", Json::Int(0)),
            ("active_shards_percent_as_number", Json::Float(pct)),
        ])
    }

    /// `GET /_cat/indices`.
    pub fn cat_indices(&self, indices: &[Index], only: Option<&str>, verbose: bool) -> String {
        let rows: Vec<Vec<String>> = indices
            .iter()
            .filter(|i| {
                only.is_none_or(|p| {
                    p.split(',').any(|p| {
                        p == i.name
                            || p.ends_with('*') && i.name.starts_with(p.trim_end_matches('*'))
                    })
                })
            })
            .map(|i| {
                let size = byte_size(i.store_bytes());
                vec![
                    "yellow".into(),
                    "open".into(),
                    i.name.clone(),
                    i.uuid.clone(),
                    "1".into(),
                    "1".into(),
                    i.docs.len().to_string(),
                    "0".into(),
                    size.clone(),
                    size,
                ]
            })
            .collect();
        table(
            &[
                "health",
                "status",
                "index",
                "uuid",
                "pri",
                "rep",
                "docs.count",
                "docs.deleted",
                "store.size",
                "pri.store.size",
            ],
            &rows,
            verbose,
        )
    }

    /// Roles of a default node, as `_cat/nodes` abbreviates them.
    fn role_letters(&self) -> &'static str {
        match (self.version.major, self.version.minor) {
            (6, _) => "mdi",
            (7, m) if m < 10 => "dilmrt",
            (7, _) => "cdhilmrstw",
            _ => "cdfhilmrstw",
        }
    }

    /// `GET /_cat/nodes`.
    pub fn cat_nodes(&self, verbose: bool) -> String {
        let load = |k: u8| {
            format!(
                "0.{:02}",
                (self.seed.get(usize::from(k)).copied().unwrap_or(0) % 40) + 1
            )
        };
        let row = vec![
            self.ip.clone(),
            format!("{}", 20 + self.seed[3] % 40),
            format!("{}", 60 + self.seed[4] % 38),
            format!("{}", 1 + self.seed[5] % 6),
            load(6),
            load(7),
            load(8),
            self.role_letters().into(),
            "*".into(),
            self.node_name.clone(),
        ];
        table(
            &[
                "ip",
                "heap.percent",
                "ram.percent",
                "cpu",
                "load_1m",
                "load_5m",
                "load_15m",
                "node.role",
                "master",
                "name",
            ],
            &[row],
            verbose,
        )
    }

    /// `GET /_cat/health`.
    pub fn cat_health(&self, indices: &[Index], verbose: bool) -> String {
        let now = chrono::Utc::now();
        let n = indices.len().to_string();
        let (status, pct) = if indices.is_empty() {
            ("green", "100.0%")
        } else {
            ("yellow", "50.0%")
        };
        let row = vec![
            now.timestamp().to_string(),
            now.format("%H:%M:%S").to_string(),
            self.cluster_name.clone(),
            status.into(),
            "1".into(),
            "1".into(),
            n.clone(),
            n.clone(),
            "0".into(),
            "0".into(),
            n,
            "0".into(),
            "-".into(),
            pct.into(),
        ];
        table(
            &[
                "epoch",
                "timestamp",
                "cluster",
                "status",
                "node.total",
                "node.data",
                "shards",
                "pri",
                "relo",
                "init",
                "unassign",
                "pending_tasks",
                "max_task_wait_time",
                "active_shards_percent",
            ],
            &[row],
            verbose,
        )
    }

    fn roles(&self) -> Json {
        let names: &[&str] = match (self.version.major, self.version.minor) {
            (6, _) => &["master", "data", "ingest"],
            (7, m) if m < 10 => &[
                "data",
                "ingest",
                "master",
                "ml",
                "remote_cluster_client",
                "transform",
            ],
            (7, _) => &[
                "data",
                "data_cold",
                "data_content",
                "data_hot",
                "data_warm",
                "ingest",
                "master",
                "ml",
                "remote_cluster_client",
                "transform",
            ],
            _ => &[
                "data",
                "data_cold",
                "data_content",
                "data_frozen",
                "data_hot",
                "data_warm",
                "ingest",
                "master",
                "ml",
                "remote_cluster_client",
                "transform",
            ],
        };
        Json::Arr(names.iter().map(|n| Json::from(*n)).collect())
    }

    /// `GET /_nodes`.
    pub fn nodes(&self) -> Json {
        let transport = format!("{}:9300", self.ip);
        let node = obj([
            ("name", self.node_name.as_str().into()),
            ("transport_address", transport.clone().into()),
            ("host", self.ip.as_str().into()),
            ("ip", self.ip.as_str().into()),
            ("version", self.version.number.as_str().into()),
            ("build_flavor", "default".into()),
            ("build_type", "deb".into()),
            ("build_hash", self.version.build_hash.as_str().into()),
            ("total_indexing_buffer", Json::Int(103_795_916)),
            ("roles", self.roles()),
            (
                "attributes",
                obj([
                    ("ml.machine_memory", Json::from("4125638656")),
                    ("xpack.installed", Json::from("true")),
                    ("transform.node", Json::from("true")),
                    ("ml.max_open_jobs", Json::from("20")),
                ]),
            ),
            (
                "settings",
                obj([
                    (
                        "cluster",
                        obj([("name", self.cluster_name.as_str().into())]),
                    ),
                    ("node", obj([("name", self.node_name.as_str().into())])),
                    (
                        "path",
                        obj([
                            ("logs", "/var/log/elasticsearch".into()),
                            ("home", "/usr/share/elasticsearch".into()),
                        ]),
                    ),
                    ("network", obj([("host", "0.0.0.0".into())])),
                    ("discovery", obj([("type", "single-node".into())])),
                ]),
            ),
            (
                "os",
                obj([
                    ("refresh_interval_in_millis", Json::Int(1000)),
                    ("name", "Linux".into()),
                    ("pretty_name", self.os_name.as_str().into()),
                    ("arch", "amd64".into()),
                    ("version", self.kernel.as_str().into()),
                    ("available_processors", Json::Int(2)),
                    ("allocated_processors", Json::Int(2)),
                ]),
            ),
            (
                "process",
                obj([
                    ("refresh_interval_in_millis", Json::Int(1000)),
                    ("id", Json::Int(600 + i64::from(self.seed[9]) * 7)),
                    ("mlockall", false.into()),
                ]),
            ),
            (
                "jvm",
                obj([
                    ("pid", Json::Int(600 + i64::from(self.seed[9]) * 7)),
                    ("version", self.version.jdk().into()),
                    ("vm_name", "OpenJDK 64-Bit Server VM".into()),
                    ("vm_vendor", "AdoptOpenJDK".into()),
                    ("bundled_jdk", true.into()),
                    ("using_bundled_jdk", true.into()),
                    ("start_time_in_millis", Json::Int(self.started)),
                ]),
            ),
            (
                "http",
                obj([
                    ("bound_address", Json::Arr(vec!["[::]:9200".into()])),
                    ("publish_address", format!("{}:9200", self.ip).into()),
                    ("max_content_length_in_bytes", Json::Int(104_857_600)),
                ]),
            ),
            (
                "transport",
                obj([
                    ("bound_address", Json::Arr(vec!["[::]:9300".into()])),
                    ("publish_address", transport.into()),
                ]),
            ),
        ]);
        obj([
            (
                "_nodes",
                obj([
                    ("total", Json::Int(1)),
                    ("successful", Json::Int(1)),
                    ("failed", Json::Int(0)),
                ]),
            ),
            ("cluster_name", self.cluster_name.as_str().into()),
            ("nodes", Json::Obj(vec![(self.node_id.clone(), node)])),
        ])
    }

    /// `GET /_security/_authenticate` for an accepted user.
    pub fn authenticate(&self, user: &str) -> Json {
        let (roles, realm) = if user == "elastic" {
            (vec![Json::from("superuser")], "reserved")
        } else {
            (
                vec![Json::from("kibana_admin"), Json::from("monitoring_user")],
                "native",
            )
        };
        let realm_name = if realm == "reserved" {
            "reserved"
        } else {
            "default_native"
        };
        let reserved = if realm == "reserved" {
            obj([("_reserved", true.into())])
        } else {
            Json::Obj(vec![])
        };
        obj([
            ("username", user.into()),
            ("roles", Json::Arr(roles)),
            ("full_name", Json::Null),
            ("email", Json::Null),
            ("metadata", reserved),
            ("enabled", true.into()),
            (
                "authentication_realm",
                obj([("name", realm_name.into()), ("type", realm.into())]),
            ),
            (
                "lookup_realm",
                obj([("name", realm_name.into()), ("type", realm.into())]),
            ),
            ("authentication_type", "realm".into()),
        ])
    }

    /// `GET /{index}`: aliases, mappings guessed from the first document, settings.
    pub fn index_info(&self, i: &Index) -> Json {
        let mut props = Vec::new();
        if let Some((_, Json::Obj(fields))) = i.docs.first() {
            for (k, v) in fields {
                let m = match v {
                    Json::Int(_) => obj([("type", "long".into())]),
                    Json::Float(_) => obj([("type", "float".into())]),
                    Json::Bool(_) => obj([("type", "boolean".into())]),
                    Json::Str(s)
                        if s.len() == 20 && s.as_bytes().get(10) == Some(&b'T')
                            || k.ends_with("_at")
                            || k == "@timestamp" =>
                    {
                        obj([("type", "date".into())])
                    }
                    _ => obj([
                        ("type", "text".into()),
                        (
                            "fields",
                            obj([(
                                "keyword",
                                obj([("type", "keyword".into()), ("ignore_above", Json::Int(256))]),
                            )]),
                        ),
                    ]),
                };
                props.push((k.clone(), m));
            }
        }
        let mappings = if props.is_empty() {
            Json::Obj(vec![])
        } else {
            Json::Obj(vec![("properties".into(), Json::Obj(props))])
        };
        let settings = obj([(
            "index",
            obj([
                ("creation_date", i.created.to_string().into()),
                ("number_of_shards", "1".into()),
                ("number_of_replicas", "1".into()),
                ("uuid", i.uuid.as_str().into()),
                (
                    "version",
                    obj([("created", self.version.id().to_string().into())]),
                ),
                ("provided_name", i.name.as_str().into()),
            ]),
        )]);
        Json::Obj(vec![(
            i.name.clone(),
            obj([
                ("aliases", Json::Obj(vec![])),
                ("mappings", mappings),
                ("settings", settings),
            ]),
        )])
    }

    /// A fresh index an attacker created.
    pub fn new_index(&self, name: &str) -> Index {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        Index {
            name: name.to_owned(),
            uuid: ident(&self.seed, &format!("index/{name}/{n}"), 22),
            created: chrono::Utc::now().timestamp_millis(),
            docs: Vec::new(),
        }
    }

    /// An auto-generated document id (20 characters, as ES's time-based ids are).
    pub fn doc_id(&self, index: &str, salt: usize) -> String {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        ident(&self.seed, &format!("doc/{index}/{salt}/{n}"), 20)
    }
}

/// The bait indices of `decky`: the application's users and settings, and its recent logs.
pub fn bait_indices(world: &World, decky: &str, seed: &[u8; 32], now_ms: i64) -> Vec<Index> {
    let mut out = Vec::new();
    let iso = |s: &str| s.replacen(' ', "T", 1) + "Z";
    for db in world.sql_databases(decky) {
        for t in db.tables {
            let name = match t.name {
                "users" => "users".to_owned(),
                other => format!("app-{other}"),
            };
            let docs = t
                .rows
                .iter()
                .enumerate()
                .map(|(n, row)| {
                    let fields = t
                        .columns
                        .iter()
                        .zip(row)
                        .filter(|(c, _)| c.name != "id")
                        .map(|(c, v)| {
                            let v = match (c.kind, v) {
                                (_, None) => Json::Null,
                                (decnet_core::bait::sql::SqlType::Int, Some(v)) => v
                                    .parse::<i64>()
                                    .map_or_else(|_| Json::from(v.as_str()), Json::Int),
                                (decnet_core::bait::sql::SqlType::DateTime, Some(v)) => {
                                    Json::from(iso(v))
                                }
                                (_, Some(v)) => Json::from(v.as_str()),
                            };
                            (c.name.to_owned(), v)
                        })
                        .collect();
                    (
                        ident(seed, &format!("bait/{name}/{n}"), 20),
                        Json::Obj(fields),
                    )
                })
                .collect();
            out.push(Index {
                uuid: ident(seed, &format!("uuid/{name}"), 22),
                created: world.anchor() * 1000 - 86_400_000 * 200,
                name,
                docs,
            });
        }
    }
    // Two days of the application's logs: who logged in from where.
    for day in [1i64, 0] {
        let t = now_ms - day * 86_400_000;
        let date = chrono::Utc
            .timestamp_millis_opt(t)
            .single()
            .map(|d| d.format("%Y.%m.%d").to_string())
            .unwrap_or_default();
        let name = format!("logs-app-{date}");
        let docs = world
            .people
            .iter()
            .zip(world.hosts.iter().cycle())
            .enumerate()
            .map(|(n, (p, h))| {
                let at = t
                    - 3_600_000 * (n as i64 + 1)
                    - i64::from(seed.get(n % 32).copied().unwrap_or(0)) * 1000;
                let ts = chrono::Utc
                    .timestamp_millis_opt(at)
                    .single()
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                    .unwrap_or_default();
                let doc = obj([
                    ("@timestamp", ts.into()),
                    ("level", "INFO".into()),
                    ("logger", "auth".into()),
                    ("host", h.hostname.as_str().into()),
                    (
                        "message",
                        format!("User {} logged in from {}", p.username, h.ip).into(),
                    ),
                    (
                        "user",
                        obj([
                            ("name", p.username.as_str().into()),
                            ("email", p.email.as_str().into()),
                        ]),
                    ),
                ]);
                (ident(seed, &format!("log/{date}/{n}"), 20), doc)
            })
            .collect();
        out.push(Index {
            uuid: ident(seed, &format!("uuid/{name}"), 22),
            created: t - 3_600_000 * 20,
            name,
            docs,
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A cluster of the given release with the test world's bait.
    pub(crate) fn cluster(version: &str) -> (Cluster, Mutex<Vec<Index>>) {
        let world = World::derive(b"test-key", &[], 1_760_000_000);
        let seed = [7u8; 32];
        let c = Cluster {
            version: Version::parse(version).unwrap(),
            cluster_name: "elasticsearch".into(),
            node_name: "search-01".into(),
            cluster_uuid: ident(&seed, "cluster", 22),
            node_id: ident(&seed, "node", 22),
            ip: "10.0.0.5".into(),
            hostname: "search-01".into(),
            kernel: "6.1.0-28-amd64".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            started: 1_760_000_000_000,
            seed,
            writes: AtomicU64::new(0),
        };
        let indices = bait_indices(&world, "search-01", &seed, 1_760_000_000_000);
        (c, Mutex::new(indices))
    }

    #[test]
    fn versions_carry_their_lucene_and_refuse_unknown_lines() {
        assert_eq!(Version::parse("7.10.2").unwrap().lucene, "8.7.0");
        assert_eq!(Version::parse("8.11.3").unwrap().lucene, "9.8.0");
        assert_eq!(Version::parse("7.17.20").unwrap().lucene, "8.11.3");
        assert!(Version::parse("5.6.16").is_err());
        assert!(Version::parse("7.10").is_err());
        assert!(Version::parse("9.0.0").is_err());
        assert_eq!(Version::parse("7.10.2").unwrap().id(), 7_100_299);
    }

    #[test]
    fn sizes_print_as_byte_size_value() {
        assert_eq!(byte_size(208), "208b");
        assert_eq!(byte_size(4608), "4.5kb");
        assert_eq!(byte_size(1 << 20), "1mb");
    }

    #[test]
    fn cat_tables_align_like_es() {
        let (c, s) = cluster("7.10.2");
        let t = c.cat_indices(&s.lock().unwrap(), None, true);
        let mut lines = t.lines();
        let head = lines.next().unwrap();
        assert!(head.starts_with("health status index "), "{t}");
        let row = lines.next().unwrap();
        assert!(row.starts_with("yellow open   "), "{t}");
        // Counts are right-aligned under their header's last character.
        let end = head.find("docs.count").unwrap() + "docs.count".len();
        assert!(row.as_bytes()[end - 1].is_ascii_digit(), "{t}");
        assert_eq!(row.as_bytes()[end], b' ', "{t}");
        assert!(c
            .cat_nodes(false)
            .trim_end()
            .ends_with("cdhilmrstw * search-01"));
    }

    #[test]
    fn bait_holds_the_worlds_people() {
        let (_, s) = cluster("7.10.2");
        let s = s.lock().unwrap();
        let users = s.iter().find(|i| i.name == "users").unwrap();
        assert!(!users.docs.is_empty());
        assert!(s.iter().any(|i| i.name.starts_with("logs-app-")));
    }
}
