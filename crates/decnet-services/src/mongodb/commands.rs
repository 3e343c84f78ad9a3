//! The commands a mongod with authorization enabled answers, sans-IO: one
//! command document in, the reply document and what the session should
//! record out. Field names, order and types follow what mongod writes
//! (`hello`'s replication fields first, `ok` as a double, `code` as an int,
//! cursor replies as `find` and `listCollections` build them).

use base64::Engine as _;
use chrono::TimeZone as _;
use decnet_core::bait::sql::SqlType;
use decnet_core::bait::World;
use decnet_core::Fields;

use super::bson::{Document, Value};
use super::scram::{self, Mechanism};
use super::Shared;
use crate::postgres::auth as rfc5802;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// HMAC-SHA-256 of `data` under `key`: the decky's stable pseudo-random values.
fn tag(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let Ok(mut m) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// mongod's limits, as `hello` reports them.
const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;
const MAX_MESSAGE_SIZE_BYTES: i32 = 48_000_000;
const MAX_WRITE_BATCH_SIZE: i32 = 100_000;
/// Documents one connection's inserts keep (beyond, they are acknowledged and dropped).
const WRITTEN_DOCS: usize = 1_000;
/// Bytes one connection's inserts keep.
const WRITTEN_BYTES: usize = 4 * 1024 * 1024;
/// Documents a cursor's first batch holds at most (no cursor is ever left open).
const BATCH: usize = 101;

/// A bait collection.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Its name.
    pub name: String,
    /// Its documents.
    pub docs: Vec<Document>,
    uuid: [u8; 16],
}

/// A bait database.
#[derive(Debug, Clone)]
pub struct Database {
    /// Its name.
    pub name: String,
    /// Its collections.
    pub collections: Vec<Collection>,
    size_on_disk: i64,
}

/// What the decky's mongod holds: the world's application databases as
/// collections (rows become documents with ObjectIds, datetimes become
/// dates), beside the server's own `admin`, `config` and `local`.
pub fn databases(world: &World, decky: &str, key: &[u8; 32]) -> Vec<Database> {
    let mut out = Vec::new();
    let mix = |label: &str| -> [u8; 32] { tag(key, label.as_bytes()) };
    let uuid = |label: &str| -> [u8; 16] {
        let h = mix(label);
        let mut u = [0u8; 16];
        u.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
        // A version 4 UUID, as mongod gives collections.
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        u
    };
    for db in world.sql_databases(decky) {
        let mut collections = Vec::new();
        let mut bytes = 0i64;
        for t in &db.tables {
            let mut docs = Vec::new();
            for (n, row) in t.rows.iter().enumerate() {
                let mut d = Document::new();
                let mut created = world.anchor();
                let mut fields = Vec::new();
                for (c, v) in t.columns.iter().zip(row.iter()) {
                    let value = match (c.kind, v) {
                        (_, None) => Value::Null,
                        (SqlType::Id, Some(_)) => continue,
                        (SqlType::Int, Some(s)) => {
                            s.parse::<i32>().map_or(Value::Null, Value::Int32)
                        }
                        (SqlType::Text(_), Some(s)) => Value::String(s.clone()),
                        (SqlType::DateTime, Some(s)) => {
                            match chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
                                Ok(t) => {
                                    let secs = chrono::Utc.from_utc_datetime(&t).timestamp();
                                    created = secs;
                                    Value::DateTime(secs * 1000)
                                }
                                Err(_) => Value::Null,
                            }
                        }
                    };
                    fields.push((c.name.to_owned(), value));
                }
                let h = mix(&format!("{}/{}/{n}", db.name, t.name));
                let mut oid = [0u8; 12];
                oid[..4].copy_from_slice(&u32::try_from(created).unwrap_or(0).to_be_bytes());
                oid[4..].copy_from_slice(h.get(..8).unwrap_or(&[0; 8]));
                d.push("_id", Value::ObjectId(oid));
                d.0.extend(fields);
                bytes += d.to_bytes().len() as i64;
                docs.push(d);
            }
            collections.push(Collection {
                name: t.name.to_owned(),
                docs,
                uuid: uuid(&format!("{}/{}", db.name, t.name)),
            });
        }
        out.push(Database {
            name: db.name.to_owned(),
            collections,
            size_on_disk: 40_960 + 4_096 * (bytes / 2_048 + 1),
        });
    }
    let system = |name: &str, colls: &[&str], size: i64| Database {
        name: name.to_owned(),
        collections: colls
            .iter()
            .map(|c| Collection {
                name: (*c).to_owned(),
                docs: Vec::new(),
                uuid: uuid(&format!("{name}/{c}")),
            })
            .collect(),
        size_on_disk: size,
    };
    out.push(system(
        "admin",
        &["system.users", "system.version"],
        184_320,
    ));
    out.push(system("config", &["system.sessions"], 110_592));
    out.push(system("local", &["startup_log"], 73_728));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The state of one SCRAM conversation.
#[derive(Debug, Clone)]
struct Conversation {
    mech: Mechanism,
    db: String,
    user: String,
    gs2_header: String,
    client_nonce: String,
    server_nonce: String,
    bare: String,
    server_first: String,
    salt: Vec<u8>,
    /// Verified: only the empty exchange is left.
    verified: bool,
    skip_empty: bool,
    speculative: bool,
}

/// One connection's state.
#[derive(Debug)]
pub struct ConnState {
    /// mongod's connection number.
    pub id: i32,
    /// The peer as `whatsmyuri` shows it.
    pub peer: String,
    /// The port it reached.
    pub port: u16,
    /// The authenticated user and database.
    pub user: Option<(String, String)>,
    /// The client metadata of the first `hello`.
    pub metadata: Option<Document>,
    seen_hello: bool,
    conv: Option<Conversation>,
    /// How long the last `hello` asked to wait for a topology change.
    pub await_ms: Option<u64>,
    /// Documents this connection inserted (namespace, document), read back by its own queries.
    written: Vec<(String, Document)>,
    written_bytes: usize,
}

impl ConnState {
    /// A fresh connection.
    pub fn new(id: i32, peer: String, port: u16) -> ConnState {
        ConnState {
            id,
            peer,
            port,
            user: None,
            metadata: None,
            seen_hello: false,
            conv: None,
            await_ms: None,
            written: Vec::new(),
            written_bytes: 0,
        }
    }
}

/// A SCRAM proof presented.
#[derive(Debug, Clone)]
pub struct Login {
    /// The mechanism.
    pub mech: Mechanism,
    /// The user as sent.
    pub user: String,
    /// The authentication database.
    pub db: String,
    /// The proof.
    pub proof: Vec<u8>,
    /// What cracking needs (salt, nonces, iterations, auth message).
    pub fields: Fields,
    /// The password it proved, if the world accepts one.
    pub matched: Option<String>,
}

/// What the session should record besides the command itself.
#[derive(Debug, Clone)]
pub enum Note {
    /// A data command: a `query` event on this namespace.
    Query {
        /// `db.collection` (or the database).
        ns: String,
        /// Documents answered.
        rows: Option<usize>,
    },
    /// A SCRAM proof: the login event.
    Login(Login),
    /// A PLAIN payload: the cleartext login attempt.
    Plain {
        /// User.
        user: String,
        /// Password as sent.
        password: Vec<u8>,
        /// Authentication database.
        db: String,
    },
    /// A SASL message the client got wrong (the session goes on).
    Malformed(String),
}

/// The reply to one command and what to record.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The reply body.
    pub reply: Document,
    /// Error code, when the reply is an error.
    pub error: Option<i32>,
    /// Records beyond the `command` event.
    pub notes: Vec<Note>,
    /// Whether the command was a data command (its `query` event replaces the `command` event).
    pub data: bool,
}

/// An error reply as mongod shapes it.
pub fn error(code: i32, name: &str, msg: impl Into<String>) -> Document {
    Document::new()
        .with("ok", 0.0)
        .with("errmsg", msg.into())
        .with("code", code)
        .with("codeName", name)
}

fn ok() -> Document {
    Document::new().with("ok", 1.0)
}

/// How a command is gated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Works without a login.
    Open,
    /// Needs a login.
    Auth,
    /// Needs a login and the admin database.
    Admin,
}

/// Real mongod commands answered (or refused) here, and their gate.
const COMMANDS: &[(&str, Gate)] = &[
    ("hello", Gate::Open),
    ("isMaster", Gate::Open),
    ("ismaster", Gate::Open),
    ("buildInfo", Gate::Open),
    ("buildinfo", Gate::Open),
    ("ping", Gate::Open),
    ("whatsmyuri", Gate::Open),
    ("connectionStatus", Gate::Open),
    ("endSessions", Gate::Open),
    ("logout", Gate::Open),
    ("saslStart", Gate::Open),
    ("saslContinue", Gate::Open),
    ("authenticate", Gate::Open),
    ("listCommands", Gate::Open),
    ("serverStatus", Gate::Auth),
    ("listDatabases", Gate::Admin),
    ("listCollections", Gate::Auth),
    ("find", Gate::Auth),
    ("insert", Gate::Auth),
    ("update", Gate::Auth),
    ("delete", Gate::Auth),
    ("count", Gate::Auth),
    ("aggregate", Gate::Auth),
    ("distinct", Gate::Auth),
    ("findAndModify", Gate::Auth),
    ("getMore", Gate::Auth),
    ("killCursors", Gate::Auth),
    ("getLog", Gate::Admin),
    ("getCmdLineOpts", Gate::Admin),
    ("hostInfo", Gate::Auth),
    ("getParameter", Gate::Admin),
    ("setParameter", Gate::Admin),
    ("dbStats", Gate::Auth),
    ("collStats", Gate::Auth),
    ("listIndexes", Gate::Auth),
    ("create", Gate::Auth),
    ("createIndexes", Gate::Auth),
    ("drop", Gate::Auth),
    ("dropDatabase", Gate::Auth),
    ("createUser", Gate::Auth),
    ("dropUser", Gate::Auth),
    ("updateUser", Gate::Auth),
    ("usersInfo", Gate::Auth),
    ("rolesInfo", Gate::Auth),
    ("grantRolesToUser", Gate::Auth),
    ("currentOp", Gate::Admin),
    ("killOp", Gate::Admin),
    ("replSetGetStatus", Gate::Admin),
    ("replSetGetConfig", Gate::Admin),
    ("shutdown", Gate::Admin),
    ("fsync", Gate::Admin),
    ("renameCollection", Gate::Admin),
    ("getFreeMonitoringStatus", Gate::Admin),
    ("top", Gate::Admin),
    ("validate", Gate::Auth),
    ("explain", Gate::Auth),
    ("profile", Gate::Auth),
    ("compact", Gate::Auth),
];

/// Commands whose work is data: recorded as `query` events.
const DATA: &[&str] = &[
    "find",
    "insert",
    "update",
    "delete",
    "count",
    "aggregate",
    "distinct",
    "findAndModify",
    "getMore",
    "listDatabases",
    "listCollections",
    "create",
    "createIndexes",
    "drop",
    "dropDatabase",
    "dbStats",
    "collStats",
    "listIndexes",
];

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Shared {
    fn host_port(&self, port: u16) -> String {
        format!("{}:{port}", self.hostname)
    }

    /// `$clusterTime` and `operationTime`, which a replica set member adds to every reply.
    pub(super) fn cluster_time(&self, reply: &mut Document) {
        if self.repl_set.is_none() {
            return;
        }
        let t = u32::try_from(now_secs()).unwrap_or(0);
        let ts = Value::Timestamp { t, i: 1 };
        let key = tag(&self.salt_key, &t.to_be_bytes());
        let key_id = i64::from(u32::try_from(self.uptime_base).unwrap_or(0)) << 32 | 1;
        reply.push(
            "$clusterTime",
            Document::new().with("clusterTime", ts.clone()).with(
                "signature",
                Document::new()
                    .with(
                        "hash",
                        Value::Binary(0, key.get(..20).unwrap_or_default().to_vec()),
                    )
                    .with(
                        "keyId",
                        7_000_000_000_000_000_000i64 + key_id % 1_000_000_000,
                    ),
            ),
        );
        reply.push("operationTime", ts);
    }

    fn unauthorized(&self, name: &str) -> String {
        let word = if self.version.major >= 6 {
            "Command"
        } else {
            "command"
        };
        format!("{word} {name} requires authentication")
    }

    /// The salt of `user@db` for `mech` (mock salts for unknown users look the same).
    fn salt(&self, mech: Mechanism, db: &str, user: &str) -> Vec<u8> {
        let label = format!("{}:{db}:{user}", mech.name());
        let h = tag(&self.salt_key, label.as_bytes());
        h.get(..mech.salt_len()).unwrap_or_default().to_vec()
    }

    /// Passwords `user` could have here.
    fn candidates(&self, user: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .users
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
            .collect();
        out.extend(self.bait.passwords_for(&self.decky, user));
        out
    }

    /// Whether the user is one the server would list mechanisms for.
    fn known_user(&self, user: &str) -> bool {
        !self.candidates(user).is_empty() || matches!(user, "admin" | "root" | "app")
    }
}

/// Runs one command.
#[allow(clippy::too_many_lines)]
pub fn run(sh: &Shared, c: &mut ConnState, cmd: &Document, db: &str) -> Answer {
    let data = sh.data.as_slice();
    let name = cmd.first().map_or("", |(k, _)| k);
    let mut ans = Answer {
        reply: Document::new(),
        error: None,
        notes: Vec::new(),
        data: DATA.contains(&name),
    };
    let gate = COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, g)| *g);
    let refused = match gate {
        None => Some(error(
            59,
            "CommandNotFound",
            format!("no such command: '{name}'"),
        )),
        Some(Gate::Admin) if db != "admin" => Some(error(
            13,
            "Unauthorized",
            format!("{name} may only be run against the admin database."),
        )),
        Some(Gate::Auth | Gate::Admin) if c.user.is_none() => {
            Some(error(13, "Unauthorized", sh.unauthorized(name)))
        }
        _ => None,
    };
    if ans.data {
        ans.notes.push(Note::Query {
            ns: namespace(cmd, name, db),
            rows: None,
        });
    }
    let mut reply = match refused {
        Some(e) => e,
        None => dispatch(sh, c, name, cmd, db, data, &mut ans),
    };
    if reply.get("ok") == Some(&Value::Double(0.0)) {
        ans.error = reply
            .get("code")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok());
    }
    sh.cluster_time(&mut reply);
    ans.reply = reply;
    ans
}

fn namespace(cmd: &Document, name: &str, db: &str) -> String {
    match cmd.get(name).and_then(Value::as_str) {
        Some(coll) if !coll.is_empty() => format!("{db}.{coll}"),
        _ => db.to_owned(),
    }
}

fn set_rows(ans: &mut Answer, n: usize) {
    for note in &mut ans.notes {
        if let Note::Query { rows, .. } = note {
            *rows = Some(n);
        }
    }
}

fn dispatch(
    sh: &Shared,
    c: &mut ConnState,
    name: &str,
    cmd: &Document,
    db: &str,
    data: &[Database],
    ans: &mut Answer,
) -> Document {
    match name {
        "hello" | "isMaster" | "ismaster" => hello(sh, c, cmd, name != "hello", ans),
        "buildInfo" | "buildinfo" => build_info(sh),
        "ping" | "endSessions" | "logout" => ok(),
        "whatsmyuri" => Document::new().with("you", c.peer.clone()).with("ok", 1.0),
        "connectionStatus" => {
            let (users, roles): (Vec<Value>, Vec<Value>) = match &c.user {
                Some((u, d)) => (
                    vec![Document::new()
                        .with("user", u.clone())
                        .with("db", d.clone())
                        .into()],
                    vec![Document::new()
                        .with("role", "root")
                        .with("db", "admin")
                        .into()],
                ),
                None => (Vec::new(), Vec::new()),
            };
            Document::new()
                .with(
                    "authInfo",
                    Document::new()
                        .with("authenticatedUsers", users)
                        .with("authenticatedUserRoles", roles),
                )
                .with("ok", 1.0)
        }
        "saslStart" => sasl_start(sh, c, cmd, db, false, ans),
        "saslContinue" => sasl_continue(sh, c, cmd, ans),
        "authenticate" => {
            let mech = cmd.str("mechanism").unwrap_or("MONGODB-CR");
            error(
                334,
                "MechanismUnavailable",
                format!("Received authentication for mechanism {mech} which is not enabled"),
            )
        }
        "listCommands" => Document::new()
            .with(
                "commands",
                Document(
                    COMMANDS
                        .iter()
                        .map(|(n, g)| {
                            (
                                (*n).to_owned(),
                                Document::new()
                                    .with("adminOnly", *g == Gate::Admin)
                                    .with("requiresAuth", *g != Gate::Open)
                                    .into(),
                            )
                        })
                        .collect(),
                ),
            )
            .with("ok", 1.0),
        "serverStatus" => server_status(sh, c),
        "listDatabases" => list_databases(cmd, data, ans),
        "listCollections" => list_collections(cmd, db, data, ans),
        "find" | "count" | "aggregate" | "distinct" => {
            let docs = visible(c, cmd, name, db, data);
            read(name, cmd, db, &docs, ans)
        }
        "insert" => {
            let ns = namespace(cmd, name, db);
            let mut n = 0usize;
            if let Some(Value::Array(a)) = cmd.get("documents") {
                for d in a.iter().filter_map(Value::as_doc) {
                    n += 1;
                    let size = d.to_bytes().len();
                    if c.written.len() >= WRITTEN_DOCS || c.written_bytes + size > WRITTEN_BYTES {
                        continue;
                    }
                    let mut d = d.clone();
                    if d.get("_id").is_none() {
                        let mut oid = [0u8; 12];
                        oid[..4]
                            .copy_from_slice(&u32::try_from(now_secs()).unwrap_or(0).to_be_bytes());
                        oid[4..].copy_from_slice(&rand::random::<[u8; 8]>());
                        d.0.insert(0, ("_id".to_owned(), Value::ObjectId(oid)));
                    }
                    c.written_bytes += size;
                    c.written.push((ns.clone(), d));
                }
            }
            set_rows(ans, n);
            Document::new()
                .with("n", i32::try_from(n).unwrap_or(0))
                .with("ok", 1.0)
        }
        "update" | "delete" => {
            let key = if name == "update" {
                "updates"
            } else {
                "deletes"
            };
            let docs = visible(c, cmd, name, db, data);
            let mut n = 0usize;
            if let Some(Value::Array(ops)) = cmd.get(key) {
                for op in ops {
                    let q = op.as_doc().and_then(|o| o.get("q")).and_then(Value::as_doc);
                    let many = op.as_doc().is_some_and(|o| {
                        o.get("multi").is_some_and(Value::truthy)
                            || o.get("limit").and_then(Value::as_i64) == Some(0)
                    });
                    let hits = docs.iter().filter(|d| matches(d, q)).count();
                    n += if many { hits } else { hits.min(1) };
                }
            }
            set_rows(ans, n);
            let n = i32::try_from(n).unwrap_or(0);
            if name == "update" {
                Document::new()
                    .with("n", n)
                    .with("nModified", n)
                    .with("ok", 1.0)
            } else {
                Document::new().with("n", n).with("ok", 1.0)
            }
        }
        "findAndModify" => Document::new()
            .with(
                "lastErrorObject",
                Document::new()
                    .with("n", 0i32)
                    .with("updatedExisting", false),
            )
            .with("value", Value::Null)
            .with("ok", 1.0),
        "getMore" => {
            let id = cmd.get("getMore").and_then(Value::as_i64).unwrap_or(0);
            error(43, "CursorNotFound", format!("cursor id {id} not found"))
        }
        "killCursors" => {
            let ids = match cmd.get("cursors") {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            Document::new()
                .with("cursorsKilled", Vec::<Value>::new())
                .with("cursorsNotFound", ids)
                .with("cursorsAlive", Vec::<Value>::new())
                .with("cursorsUnknown", Vec::<Value>::new())
                .with("ok", 1.0)
        }
        "getLog" => get_log(sh, cmd),
        "getCmdLineOpts" => cmd_line_opts(sh),
        "dropDatabase" => Document::new().with("dropped", db).with("ok", 1.0),
        "drop" => Document::new()
            .with("nIndexesWas", 1i32)
            .with("ns", namespace(cmd, name, db))
            .with("ok", 1.0),
        _ => ok(),
    }
}

fn hello(
    sh: &Shared,
    c: &mut ConnState,
    cmd: &Document,
    legacy: bool,
    ans: &mut Answer,
) -> Document {
    if let Some(client) = cmd.get("client") {
        if c.seen_hello {
            return error(
                186,
                "ClientMetadataCannotBeMutated",
                "The client metadata document may only be sent in the first hello",
            );
        }
        c.metadata = client.as_doc().cloned();
    }
    c.seen_hello = true;
    let primary = if legacy {
        "ismaster"
    } else {
        "isWritablePrimary"
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut r = Document::new();
    // A driver that can take `hello` says so in its legacy handshake; mongod confirms first.
    if cmd.get("helloOk").is_some() {
        r.push("helloOk", true);
    }
    let topology = |counter: i64| {
        Document::new()
            .with("processId", Value::ObjectId(sh.process_id))
            .with("counter", counter)
    };
    // An awaitable hello (a driver's monitor) waits until the topology changes; ours never does.
    c.await_ms = match (
        cmd.get("topologyVersion").and_then(Value::as_doc),
        cmd.get("maxAwaitTimeMS").and_then(Value::as_i64),
    ) {
        (Some(tv), Some(ms))
            if tv.get("processId") == Some(&Value::ObjectId(sh.process_id)) && ms > 0 =>
        {
            u64::try_from(ms).ok()
        }
        _ => None,
    };
    match &sh.repl_set {
        None => {
            r.push(primary, true);
            r.push("topologyVersion", topology(0));
        }
        Some(set) => {
            let me = sh.host_port(c.port);
            let t = u32::try_from(now / 1000).unwrap_or(0).saturating_sub(2);
            let optime = || {
                Document::new()
                    .with("ts", Value::Timestamp { t, i: 1 })
                    .with("t", 1i64)
            };
            let mut election = [0u8; 12];
            election[..4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
            election[11] = 1;
            r.push("topologyVersion", topology(6));
            r.push("hosts", vec![Value::String(me.clone())]);
            r.push("setName", set.clone());
            r.push("setVersion", 1i32);
            r.push(primary, true);
            r.push("secondary", false);
            r.push("primary", me.clone());
            r.push("me", me);
            r.push("electionId", Value::ObjectId(election));
            r.push(
                "lastWrite",
                Document::new()
                    .with("opTime", optime())
                    .with("lastWriteDate", Value::DateTime(i64::from(t) * 1000))
                    .with("majorityOpTime", optime())
                    .with("majorityWriteDate", Value::DateTime(i64::from(t) * 1000)),
            );
        }
    }
    r.push("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE);
    r.push("maxMessageSizeBytes", MAX_MESSAGE_SIZE_BYTES);
    r.push("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE);
    r.push("localTime", Value::DateTime(now));
    r.push("logicalSessionTimeoutMinutes", 30i32);
    r.push("connectionId", c.id);
    r.push("minWireVersion", 0i32);
    r.push(
        "maxWireVersion",
        sh.version.max_wire_version().unwrap_or(21),
    );
    r.push("readOnly", false);
    if let Some(who) = cmd.str("saslSupportedMechs") {
        let user = who.split_once('.').map_or(who, |(_, u)| u);
        if sh.known_user(user) {
            r.push(
                "saslSupportedMechs",
                vec![Value::from("SCRAM-SHA-1"), Value::from("SCRAM-SHA-256")],
            );
        }
    }
    if let Some(spec) = cmd.get("speculativeAuthenticate").and_then(Value::as_doc) {
        let db = spec.str("db").unwrap_or("admin").to_owned();
        let started = sasl_start(sh, c, spec, &db, true, ans);
        if started.get("ok") == Some(&Value::Double(1.0)) {
            let mut s = started;
            s.0.retain(|(k, _)| k != "ok");
            r.push("speculativeAuthenticate", s);
        }
    }
    r.push("ok", 1.0);
    r
}

fn build_info(sh: &Shared) -> Document {
    let v = &sh.version;
    let (distmod, openssl) = match sh.distro {
        "ubuntu20" => ("ubuntu2004", "OpenSSL 1.1.1f  31 Mar 2020"),
        "debian" => ("debian12", "OpenSSL 3.0.15 3 Sep 2024"),
        "rocky9" => ("rhel90", "OpenSSL 3.0.7 1 Nov 2022"),
        "centos7" => ("rhel70", "OpenSSL 1.0.1e-fips 11 Feb 2013"),
        _ => ("ubuntu2204", "OpenSSL 3.0.2 15 Mar 2022"),
    };
    let git = {
        use sha1::Digest as _;
        hex::encode(sha1::Sha1::digest(format!("mongodb r{}", v.text())))
    };
    let (tool, gcc) = if v.major >= 7 {
        ("v4", "11.3.0")
    } else {
        ("v3", "8.5.0")
    };
    let cxxstd = if v.major >= 7 { "c++20" } else { "c++17" };
    Document::new()
        .with("version", v.text())
        .with("gitVersion", git)
        .with("modules", Vec::<Value>::new())
        .with("allocator", "tcmalloc")
        .with("javascriptEngine", "mozjs")
        .with("sysInfo", "deprecated")
        .with(
            "versionArray",
            vec![
                Value::Int32(v.major as i32),
                Value::Int32(v.minor as i32),
                Value::Int32(v.patch as i32),
                Value::Int32(0),
            ],
        )
        .with(
            "openssl",
            Document::new()
                .with("running", openssl)
                .with("compiled", openssl),
        )
        .with(
            "buildEnvironment",
            Document::new()
                .with("distmod", distmod)
                .with("distarch", "x86_64")
                .with("cc", format!("/opt/mongodbtoolchain/{tool}/bin/gcc: gcc (GCC) {gcc}"))
                .with("ccflags", "-Werror -include mongo/platform/basic.h -ffp-contract=off -fasynchronous-unwind-tables -g2 -Wall -Wsign-compare -Wno-unknown-pragmas -Winvalid-pch -gdwarf-5 -fno-omit-frame-pointer -fno-strict-aliasing -O2 -march=sandybridge -mtune=generic -mprefer-vector-width=128 -Wno-unused-local-typedefs -Wno-unused-function -Wno-deprecated-declarations -Wno-unused-const-variable -Wno-unused-but-set-variable -Wno-missing-braces -fstack-protector-strong -gdwarf64 -Wa,--nocompress-debug-sections -fno-builtin-memcmp -Wimplicit-fallthrough=5")
                .with("cxx", format!("/opt/mongodbtoolchain/{tool}/bin/g++: g++ (GCC) {gcc}"))
                .with("cxxflags", format!("-Woverloaded-virtual -Wpessimizing-move -Wno-maybe-uninitialized -fsized-deallocation -Wno-deprecated -std={cxxstd}"))
                .with("linkflags", format!("-Wl,--fatal-warnings -B/opt/mongodbtoolchain/{tool}/bin -gdwarf-5 -pthread -Wl,-z,now -fuse-ld=lld -fstack-protector-strong -gdwarf64 -Wl,--build-id -Wl,--hash-style=gnu -Wl,-z,noexecstack -Wl,--warn-execstack -Wl,-z,relro -Wl,--compress-debug-sections=none -Wl,-z,origin -Wl,--enable-new-dtags"))
                .with("target_arch", "x86_64")
                .with("target_os", "linux")
                .with("cppdefines", "SAFEINT_USE_INTRINSICS 0 PCRE2_STATIC NDEBUG _XOPEN_SOURCE 700 _GNU_SOURCE _FORTIFY_SOURCE 2 ABSL_FORCE_ALIGNED_ACCESS BOOST_ENABLE_ASSERT_DEBUG_HANDLER BOOST_FILESYSTEM_NO_CXX20_ATOMIC_REF BOOST_LOG_NO_SHORTHAND_NAMES BOOST_LOG_USE_NATIVE_SYSLOG BOOST_LOG_WITHOUT_THREAD_ATTR BOOST_MATH_NO_LONG_DOUBLE_MATH_FUNCTIONS BOOST_SYSTEM_NO_DEPRECATED BOOST_THREAD_USES_DATETIME BOOST_THREAD_VERSION 5"),
        )
        .with("bits", 64i32)
        .with("debug", false)
        .with("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE)
        .with(
            "storageEngines",
            vec![Value::from("devnull"), Value::from("wiredTiger")],
        )
        .with("ok", 1.0)
}

fn server_status(sh: &Shared, c: &ConnState) -> Document {
    let up = sh.uptime();
    let now = chrono::Utc::now().timestamp_millis();
    let conns = sh.next_conn.load(std::sync::atomic::Ordering::Relaxed);
    let _ = c;
    let mut d = Document::new()
        .with("host", sh.hostname.clone())
        .with("version", sh.version.text())
        .with("process", "mongod")
        .with("pid", sh.pid)
        .with("uptime", up.floor())
        .with("uptimeMillis", (up * 1000.0) as i64)
        .with("uptimeEstimate", up as i64)
        .with("localTime", Value::DateTime(now))
        .with(
            "asserts",
            Document::new()
                .with("regular", 0i32)
                .with("warning", 0i32)
                .with("msg", 0i32)
                .with("user", 41i32 + conns % 97)
                .with("tripwire", 0i32)
                .with("rollovers", 0i32),
        )
        .with(
            "connections",
            Document::new()
                .with("current", 3i32)
                .with("available", 838_857i32)
                .with("totalCreated", conns)
                .with("rejected", 0i32)
                .with("active", 2i32)
                .with("threaded", 3i32)
                .with("exhaustIsMaster", 0i32)
                .with("exhaustHello", 1i32)
                .with("awaitingTopologyChanges", 1i32),
        );
    if let Some(set) = &sh.repl_set {
        d.push(
            "repl",
            Document::new()
                .with("hosts", vec![Value::String(sh.host_port(c.port))])
                .with("setName", set.clone())
                .with("setVersion", 1i32)
                .with("ismaster", true)
                .with("secondary", false)
                .with("primary", sh.host_port(c.port))
                .with("me", sh.host_port(c.port)),
        );
    }
    d.push(
        "storageEngine",
        Document::new()
            .with("name", "wiredTiger")
            .with("supportsCommittedReads", true)
            .with(
                "oldestRequiredTimestampForCrashRecovery",
                Value::Timestamp { t: 0, i: 0 },
            )
            .with("supportsPendingDrops", true)
            .with("dropPendingIdents", 0i64)
            .with("supportsSnapshotReadConcern", true)
            .with("readOnly", false)
            .with("persistent", true)
            .with("backupCursorOpen", false),
    );
    d.push("ok", 1.0);
    d
}

fn list_databases(cmd: &Document, data: &[Database], ans: &mut Answer) -> Document {
    let name_only = cmd.get("nameOnly").is_some_and(Value::truthy);
    let dbs: Vec<Value> = data
        .iter()
        .map(|d| {
            let mut e = Document::new().with("name", d.name.clone());
            if !name_only {
                e.push("sizeOnDisk", d.size_on_disk);
                e.push("empty", false);
            }
            e.into()
        })
        .collect();
    set_rows(ans, dbs.len());
    let mut r = Document::new().with("databases", dbs);
    if !name_only {
        let total: i64 = data.iter().map(|d| d.size_on_disk).sum();
        r.push("totalSize", total);
        r.push("totalSizeMb", total / (1024 * 1024));
    }
    r.push("ok", 1.0);
    r
}

fn list_collections(cmd: &Document, db: &str, data: &[Database], ans: &mut Answer) -> Document {
    let filter = cmd.get("filter").and_then(Value::as_doc);
    let name_only = cmd.get("nameOnly").is_some_and(Value::truthy);
    let colls: Vec<Value> = data
        .iter()
        .filter(|d| d.name == db)
        .flat_map(|d| d.collections.iter())
        .map(|c| {
            Document::new()
                .with("name", c.name.clone())
                .with("type", "collection")
                .with("options", Document::new())
                .with(
                    "info",
                    Document::new()
                        .with("readOnly", false)
                        .with("uuid", Value::Binary(4, c.uuid.to_vec())),
                )
                .with(
                    "idIndex",
                    Document::new()
                        .with("v", 2i32)
                        .with("key", Document::new().with("_id", 1i32))
                        .with("name", "_id_"),
                )
        })
        .filter(|d| matches(d, filter))
        .map(|d| {
            if name_only {
                Document(
                    d.0.into_iter()
                        .filter(|(k, _)| k == "name" || k == "type")
                        .collect(),
                )
            } else {
                d
            }
        })
        .map(Value::Document)
        .collect();
    set_rows(ans, colls.len());
    Document::new()
        .with(
            "cursor",
            Document::new()
                .with("id", 0i64)
                .with("ns", format!("{db}.$cmd.listCollections"))
                .with("firstBatch", colls),
        )
        .with("ok", 1.0)
}

fn collection<'a>(
    cmd: &Document,
    name: &str,
    db: &str,
    data: &'a [Database],
) -> Option<&'a Collection> {
    let coll = cmd.get(name).and_then(Value::as_str)?;
    data.iter()
        .find(|d| d.name == db)?
        .collections
        .iter()
        .find(|c| c.name == coll)
}

/// Whether `doc` matches a filter: top-level equality; operators match anything.
fn matches(doc: &Document, filter: Option<&Document>) -> bool {
    let Some(f) = filter else {
        return true;
    };
    f.0.iter().all(|(k, want)| {
        if k.starts_with('$') || matches!(want, Value::Document(d) if d.first().is_some_and(|(o, _)| o.starts_with('$'))) {
            return true;
        }
        match doc.get(k) {
            Some(v) => v == want || (v.as_i64().is_some() && v.as_i64() == want.as_i64()),
            None => matches!(want, Value::Null),
        }
    })
}

fn project(doc: &Document, projection: Option<&Document>) -> Document {
    let Some(p) = projection.filter(|p| p.0.iter().any(|(k, v)| k != "_id" && v.truthy())) else {
        return doc.clone();
    };
    let keep_id = p.get("_id").is_none_or(Value::truthy);
    Document(
        doc.0
            .iter()
            .filter(|(k, _)| (k == "_id" && keep_id) || p.get(k).is_some_and(Value::truthy))
            .cloned()
            .collect(),
    )
}

fn cursor_reply(batch: Vec<Value>, ns: String) -> Document {
    Document::new()
        .with(
            "cursor",
            Document::new()
                .with("firstBatch", batch)
                .with("id", 0i64)
                .with("ns", ns),
        )
        .with("ok", 1.0)
}

/// The documents a command on `cmd`'s collection sees: the bait, then what
/// this connection inserted.
fn visible(
    c: &ConnState,
    cmd: &Document,
    name: &str,
    db: &str,
    data: &[Database],
) -> Vec<Document> {
    let ns = namespace(cmd, name, db);
    let mut docs = collection(cmd, name, db, data).map_or_else(Vec::new, |c| c.docs.clone());
    docs.extend(
        c.written
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, d)| d.clone()),
    );
    docs
}

fn read(name: &str, cmd: &Document, db: &str, docs: &[Document], ans: &mut Answer) -> Document {
    let ns = namespace(cmd, name, db);
    let num = |k: &str| {
        cmd.get(k)
            .and_then(Value::as_i64)
            .map(|n| usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX))
    };
    match name {
        "count" => {
            let q = cmd.get("query").and_then(Value::as_doc);
            let n = docs.iter().filter(|d| matches(d, q)).count();
            let n = n.saturating_sub(num("skip").unwrap_or(0));
            let n = match num("limit") {
                Some(l) if l > 0 => n.min(l),
                _ => n,
            };
            set_rows(ans, n);
            Document::new()
                .with("n", i32::try_from(n).unwrap_or(0))
                .with("ok", 1.0)
        }
        "distinct" => {
            let key = cmd.str("key").unwrap_or_default();
            let q = cmd.get("query").and_then(Value::as_doc);
            let mut vals: Vec<Value> = Vec::new();
            for d in docs.iter().filter(|d| matches(d, q)) {
                if let Some(v) = d.get(key) {
                    if !vals.contains(v) {
                        vals.push(v.clone());
                    }
                }
            }
            set_rows(ans, vals.len());
            Document::new().with("values", vals).with("ok", 1.0)
        }
        "aggregate" => {
            if cmd.get("cursor").is_none() && cmd.get("explain").is_none() {
                return error(
                    9,
                    "FailedToParse",
                    "The 'cursor' option is required, except for aggregate with the explain argument",
                );
            }
            let mut out: Vec<Document> = docs.to_vec();
            let mut counted = None;
            if let Some(Value::Array(stages)) = cmd.get("pipeline") {
                for s in stages.iter().filter_map(Value::as_doc) {
                    match s.first() {
                        Some(("$match", Value::Document(f))) => out.retain(|d| matches(d, Some(f))),
                        Some(("$limit", v)) => out.truncate(
                            v.as_i64()
                                .and_then(|n| usize::try_from(n).ok())
                                .unwrap_or(0),
                        ),
                        Some(("$skip", v)) => {
                            let n = v
                                .as_i64()
                                .and_then(|n| usize::try_from(n).ok())
                                .unwrap_or(0);
                            out = out.split_off(n.min(out.len()));
                        }
                        Some(("$count", Value::String(f))) => {
                            counted = Some(f.clone());
                        }
                        Some(("$group", Value::Document(g))) => {
                            // The one grouping drivers send: count_documents' {_id: 1, n: {$sum: 1}}.
                            let mut d = Document::new()
                                .with("_id", g.get("_id").cloned().unwrap_or(Value::Null));
                            for (k, acc) in g.0.iter().filter(|(k, _)| k != "_id") {
                                let n = i32::try_from(out.len()).unwrap_or(0);
                                let v = match acc.as_doc().and_then(Document::first) {
                                    Some(("$sum", Value::Int32(1))) => Value::Int32(n),
                                    _ => Value::Null,
                                };
                                d.push(k.clone(), v);
                            }
                            out = if out.is_empty() { Vec::new() } else { vec![d] };
                        }
                        Some(("$project", Value::Document(p))) => {
                            out = out.iter().map(|d| project(d, Some(p))).collect();
                        }
                        _ => {}
                    }
                }
            }
            if let Some(field) = counted {
                let n = i32::try_from(out.len()).unwrap_or(0);
                out = if n == 0 {
                    Vec::new()
                } else {
                    vec![Document::new().with(field, n)]
                };
            }
            out.truncate(BATCH);
            set_rows(ans, out.len());
            cursor_reply(out.into_iter().map(Value::Document).collect(), ns)
        }
        _ => {
            let filter = cmd.get("filter").and_then(Value::as_doc);
            let projection = cmd.get("projection").and_then(Value::as_doc);
            let skip = num("skip").unwrap_or(0);
            let limit = match num("limit") {
                Some(l) if l > 0 => l,
                _ => BATCH,
            };
            let batch: Vec<Value> = docs
                .iter()
                .filter(|d| matches(d, filter))
                .skip(skip)
                .take(limit.min(BATCH))
                .map(|d| Value::Document(project(d, projection)))
                .collect();
            set_rows(ans, batch.len());
            cursor_reply(batch, ns)
        }
    }
}

fn get_log(sh: &Shared, cmd: &Document) -> Document {
    match cmd.get("getLog").and_then(Value::as_str) {
        Some("*") => Document::new()
            .with(
                "names",
                vec![Value::from("global"), Value::from("startupWarnings")],
            )
            .with("ok", 1.0),
        Some(which @ ("global" | "startupWarnings")) => {
            let start = chrono::Utc::now() - chrono::Duration::seconds(sh.uptime() as i64);
            let t = start.format("%Y-%m-%dT%H:%M:%S%.3f+00:00");
            let mut lines = vec![format!(
                "{{\"t\":{{\"$date\":\"{t}\"}},\"s\":\"W\",  \"c\":\"CONTROL\",  \"id\":5123300, \"ctx\":\"initandlisten\",\"msg\":\"vm.max_map_count is too low\",\"attr\":{{\"currentValue\":65530,\"recommendedMinimum\":1677720,\"maxConns\":838860}},\"tags\":[\"startupWarnings\"]}}\n"
            )];
            if which == "global" {
                lines.push(format!(
                    "{{\"t\":{{\"$date\":\"{t}\"}},\"s\":\"I\",  \"c\":\"NETWORK\",  \"id\":23016,   \"ctx\":\"listener\",\"msg\":\"Waiting for connections\",\"attr\":{{\"port\":27017,\"ssl\":\"off\"}}}}\n"
                ));
            }
            let n = i32::try_from(lines.len()).unwrap_or(0);
            Document::new()
                .with("totalLinesWritten", n)
                .with(
                    "log",
                    lines.into_iter().map(Value::String).collect::<Vec<_>>(),
                )
                .with("ok", 1.0)
        }
        Some(other) => error(0, "OK", format!("no RamLog named: {other}")).with("ok", 0.0),
        None => error(
            14,
            "TypeMismatch",
            "Argument to getLog must be of type String; found 1.0 of type double",
        ),
    }
}

fn cmd_line_opts(sh: &Shared) -> Document {
    let mut parsed = Document::new()
        .with("config", "/etc/mongod.conf")
        .with(
            "net",
            Document::new()
                .with("bindIp", "0.0.0.0")
                .with("port", 27017i32),
        )
        .with(
            "processManagement",
            Document::new().with("timeZoneInfo", "/usr/share/zoneinfo"),
        );
    if let Some(set) = &sh.repl_set {
        parsed.push(
            "replication",
            Document::new().with("replSetName", set.clone()),
        );
    }
    parsed.push("security", Document::new().with("authorization", "enabled"));
    parsed.push(
        "storage",
        Document::new().with("dbPath", "/var/lib/mongodb"),
    );
    parsed.push(
        "systemLog",
        Document::new()
            .with("destination", "file")
            .with("logAppend", true)
            .with("path", "/var/log/mongodb/mongod.log"),
    );
    Document::new()
        .with(
            "argv",
            vec![
                Value::from("/usr/bin/mongod"),
                Value::from("--config"),
                Value::from("/etc/mongod.conf"),
            ],
        )
        .with("parsed", parsed)
        .with("ok", 1.0)
}

fn auth_failed() -> Document {
    error(18, "AuthenticationFailed", "Authentication failed.")
}

fn sasl_start(
    sh: &Shared,
    c: &mut ConnState,
    cmd: &Document,
    db: &str,
    speculative: bool,
    ans: &mut Answer,
) -> Document {
    let mech_name = cmd.str("mechanism").unwrap_or_default();
    let payload = cmd
        .get("payload")
        .and_then(Value::as_binary)
        .unwrap_or_default();
    if mech_name == "PLAIN" {
        let mut parts = payload.split(|b| *b == 0);
        let _authz = parts.next();
        let user = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let password = parts.next().unwrap_or_default().to_vec();
        ans.notes.push(Note::Plain {
            user,
            password,
            db: db.to_owned(),
        });
    }
    let Some(mech) = Mechanism::parse(mech_name) else {
        return error(
            334,
            "MechanismUnavailable",
            format!("Received authentication for mechanism {mech_name} which is not enabled"),
        );
    };
    let first = match rfc5802::parse_client_first(payload) {
        Ok(f) if f.channel_binding.is_none() => f,
        Ok(_) => {
            ans.notes
                .push(Note::Malformed("scram_channel_binding".into()));
            return auth_failed();
        }
        Err(rfc5802::Malformed(why)) => {
            ans.notes
                .push(Note::Malformed(format!("malformed_scram_message: {why}")));
            return auth_failed();
        }
    };
    let user = scram::decode_saslname(&first.user);
    let salt = sh.salt(mech, db, &user);
    let raw: [u8; scram::SERVER_NONCE_LEN] = rand::random();
    let server_nonce = B64.encode(raw);
    let server_first = format!(
        "r={}{server_nonce},s={},i={}",
        first.nonce,
        B64.encode(&salt),
        mech.iterations()
    );
    let skip_empty = cmd
        .get("options")
        .and_then(Value::as_doc)
        .and_then(|o| o.get("skipEmptyExchange"))
        .is_some_and(Value::truthy);
    c.conv = Some(Conversation {
        mech,
        db: db.to_owned(),
        user,
        gs2_header: first.gs2_header,
        client_nonce: first.nonce,
        server_nonce,
        bare: first.bare,
        server_first: server_first.clone(),
        salt,
        verified: false,
        // Speculative authentication always skips the empty exchange.
        skip_empty: skip_empty || speculative,
        speculative,
    });
    Document::new()
        .with("conversationId", 1i32)
        .with("done", false)
        .with("payload", Value::Binary(0, server_first.into_bytes()))
        .with("ok", 1.0)
}

fn sasl_continue(sh: &Shared, c: &mut ConnState, cmd: &Document, ans: &mut Answer) -> Document {
    let Some(conv) = c.conv.take() else {
        return error(17, "ProtocolError", "No SASL session state found");
    };
    if cmd.get("conversationId").and_then(Value::as_i64) != Some(1) {
        return error(17, "ProtocolError", "sasl: Mismatched conversation id");
    }
    let payload = cmd
        .get("payload")
        .and_then(Value::as_binary)
        .unwrap_or_default();
    if conv.verified {
        c.user = Some((conv.user.clone(), conv.db.clone()));
        return Document::new()
            .with("conversationId", 1i32)
            .with("done", true)
            .with("payload", Value::Binary(0, Vec::new()))
            .with("ok", 1.0);
    }
    let fin = match rfc5802::parse_client_final(payload) {
        Ok(f) => f,
        Err(rfc5802::Malformed(why)) => {
            ans.notes
                .push(Note::Malformed(format!("malformed_scram_message: {why}")));
            return auth_failed();
        }
    };
    if fin.nonce != format!("{}{}", conv.client_nonce, conv.server_nonce) {
        ans.notes
            .push(Note::Malformed("scram_nonce_mismatch".into()));
        return auth_failed();
    }
    let mech = conv.mech;
    let auth_message = format!("{},{},{}", conv.bare, conv.server_first, fin.without_proof);
    let mut f = Fields::new();
    f.insert("mechanism".into(), mech.name().into());
    f.insert("auth_db".into(), conv.db.clone().into());
    f.insert("gs2_header".into(), conv.gs2_header.clone().into());
    f.insert("scram_user".into(), conv.user.clone().into());
    f.insert("client_nonce".into(), conv.client_nonce.clone().into());
    f.insert("server_nonce".into(), conv.server_nonce.clone().into());
    f.insert("salt".into(), B64.encode(&conv.salt).into());
    f.insert("iterations".into(), mech.iterations().into());
    f.insert("auth_message".into(), auth_message.clone().into());
    f.insert("client_proof".into(), B64.encode(&fin.proof).into());
    f.insert("channel_binding".into(), fin.channel_binding.clone().into());
    f.insert("speculative".into(), conv.speculative.into());
    let mut signature = None;
    let matched = sh.candidates(&conv.user).into_iter().find(|p| {
        let (proof, sig) = scram::proof_and_signature(
            mech,
            &conv.user,
            p.as_bytes(),
            &conv.salt,
            mech.iterations(),
            auth_message.as_bytes(),
        );
        let hit = proof == fin.proof;
        if hit {
            signature = Some(sig);
        }
        hit
    });
    ans.notes.push(Note::Login(Login {
        mech,
        user: conv.user.clone(),
        db: conv.db.clone(),
        proof: fin.proof.clone(),
        fields: f,
        matched: matched.clone(),
    }));
    let Some(sig) = signature else {
        return auth_failed();
    };
    let done = conv.skip_empty;
    if done {
        c.user = Some((conv.user.clone(), conv.db.clone()));
    } else {
        c.conv = Some(Conversation {
            verified: true,
            ..conv
        });
    }
    Document::new()
        .with("conversationId", 1i32)
        .with("done", done)
        .with(
            "payload",
            Value::Binary(0, format!("v={}", B64.encode(sig)).into_bytes()),
        )
        .with("ok", 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(repl: Option<&str>) -> Shared {
        let seed = decnet_core::seed::InstanceSeed::derive_for(b"k", "mongo-t");
        Shared::new(
            super::super::Version::parse("7.0.14").unwrap(),
            repl.map(str::to_owned),
            "mongo-t",
            "db01",
            std::sync::Arc::new(World::empty()),
            &seed,
        )
    }

    fn keys(d: &Document) -> Vec<&str> {
        d.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn hello_has_mongods_field_order() {
        let sh = shared(None);
        let mut c = ConnState::new(12, "1.2.3.4:5".into(), 27017);
        let a = run(&sh, &mut c, &Document::new().with("hello", 1i32), "admin");
        assert_eq!(
            keys(&a.reply),
            [
                "isWritablePrimary",
                "topologyVersion",
                "maxBsonObjectSize",
                "maxMessageSizeBytes",
                "maxWriteBatchSize",
                "localTime",
                "logicalSessionTimeoutMinutes",
                "connectionId",
                "minWireVersion",
                "maxWireVersion",
                "readOnly",
                "ok"
            ]
        );
        let sh = shared(Some("rs0"));
        let a = run(
            &sh,
            &mut c,
            &Document::new().with("isMaster", 1i32),
            "admin",
        );
        assert_eq!(
            keys(&a.reply)[..11],
            [
                "topologyVersion",
                "hosts",
                "setName",
                "setVersion",
                "ismaster",
                "secondary",
                "primary",
                "me",
                "electionId",
                "lastWrite",
                "maxBsonObjectSize"
            ]
        );
        assert_eq!(keys(&a.reply).last(), Some(&"operationTime"));
    }

    #[test]
    fn unknown_and_unauthorized_commands_get_mongods_errors() {
        let sh = shared(None);
        let mut c = ConnState::new(1, String::new(), 27017);
        let a = run(&sh, &mut c, &Document::new().with("frob", 1i32), "admin");
        assert_eq!(
            a.reply,
            error(59, "CommandNotFound", "no such command: 'frob'")
        );
        let a = run(&sh, &mut c, &Document::new().with("find", "users"), "appdb");
        assert_eq!(
            a.reply,
            error(13, "Unauthorized", "Command find requires authentication")
        );
        assert_eq!(a.error, Some(13));
        assert!(a.data);
    }

    #[test]
    fn a_connection_reads_back_what_it_inserted() {
        let sh = shared(None);
        let mut c = ConnState::new(1, String::new(), 27017);
        c.user = Some(("app".into(), "appdb".into()));
        let note = Document::new().with("content", "pay 0.1 BTC");
        let ins = Document::new()
            .with("insert", "README")
            .with("documents", vec![Value::Document(note)])
            .with("$db", "loot");
        assert_eq!(
            run(&sh, &mut c, &ins, "loot").reply.get("n"),
            Some(&Value::Int32(1))
        );
        let find = Document::new()
            .with("find", "README")
            .with("filter", Document::new());
        let r = run(&sh, &mut c, &find, "loot").reply;
        let batch = r
            .get("cursor")
            .and_then(Value::as_doc)
            .and_then(|c| c.get("firstBatch"))
            .cloned();
        let Some(Value::Array(b)) = batch else {
            panic!("a cursor reply: {r:?}")
        };
        assert_eq!(b.len(), 1);
        let d = b[0].as_doc().unwrap();
        assert!(matches!(d.get("_id"), Some(Value::ObjectId(_))));
        assert_eq!(d.str("content"), Some("pay 0.1 BTC"));
        let mut other = ConnState::new(2, String::new(), 27017);
        other.user = c.user.clone();
        let r = run(&sh, &mut other, &find, "loot").reply;
        assert_eq!(
            r.get("cursor")
                .and_then(Value::as_doc)
                .and_then(|c| c.get("firstBatch")),
            Some(&Value::Array(Vec::new()))
        );
    }
}
