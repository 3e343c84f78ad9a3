//! The event field contract: the typed fields that later consumers (the
//! ingester, the API, the dashboard) read, written and read back through the
//! same types so a wire name lives in exactly one place ([`names`]).
//!
//! Writers build a body ([`Command`], [`FileTransfer`], [`Query`],
//! [`SessionRecorded`], [`Login`]) and let [`EventBody::write_fields`] put it
//! on an event; readers call [`EventBody::from_event`]. Reading is lenient on
//! purpose: events also arrive from other hosts' syslog lines and older
//! versions, so a field of the wrong JSON type reads as absent rather than
//! failing the event. Protocol-specific extras (an SSH `hassh`, an HTTP
//! `path`) stay plain [`Fields`] entries of their service.

use uuid::Uuid;

use crate::event::{Event, EventType, Fields};

/// Wire names of the contract's fields, as they appear in `Event::fields`.
pub mod names {
    /// The command line entered (`command`, and the one behind a `file_download`).
    pub const COMMAND: &str = "command";
    /// Working directory a command ran in.
    pub const CWD: &str = "cwd";
    /// User a command ran as.
    pub const USER: &str = "user";
    /// URL a download asked for.
    pub const URL: &str = "url";
    /// File name or path of a transfer.
    pub const NAME: &str = "name";
    /// Older or third-party spellings of [`NAME`], accepted when reading.
    pub const NAME_ALIASES: [&str; 2] = ["filename", "path"];
    /// Tool that performed a transfer (`wget`, `curl`, …).
    pub const TOOL: &str = "tool";
    /// Size in bytes.
    pub const SIZE: &str = "size";
    /// SHA-256 (lower-case hex) of a transferred file.
    pub const SHA256: &str = "sha256";
    /// Whether a cap cut the transfer or recording.
    pub const TRUNCATED: &str = "truncated";
    /// Whether an upload's bytes were kept as an artifact.
    pub const STORED: &str = "stored";
    /// Where an upload's bytes were kept (the artifact file's path).
    pub const ARTIFACT: &str = "artifact";
    /// A database or directory query's text.
    pub const QUERY: &str = "query";
    /// On a login event: the bait world's honeytoken the credential is, with
    /// where it was planted (`planted`: decky, service, document) and where it is valid.
    pub const HONEYTOKEN: &str = "honeytoken";
    /// Recording session id.
    pub const SID: &str = "sid";
    /// Transcript shard a session was written to.
    pub const SHARD: &str = "shard";
    /// Payload bytes recorded.
    pub const BYTES: &str = "bytes";
    /// Seconds a recording lasted.
    pub const DURATION_S: &str = "duration_s";
    /// Why a session was not recorded.
    pub const SKIPPED: &str = "skipped";
    /// How a login was attempted (`password`, `publickey`, …).
    pub const METHOD: &str = "method";
    /// The TLS client's JA4 fingerprint (FoxIO), on every event after a handshake.
    pub const TLS_JA4: &str = "tls_ja4";
    /// The TLS client's JA3 string (`771,4865-…,0-23-…,29-23-24,0`).
    pub const TLS_JA3: &str = "tls_ja3";
    /// MD5 (lower-case hex) of [`TLS_JA3`].
    pub const TLS_JA3_HASH: &str = "tls_ja3_hash";
}

/// A typed set of fields for one kind of event.
pub trait EventBody: Sized {
    /// The event type these fields belong to.
    fn event_type(&self) -> EventType;
    /// Writes the fields under their wire names (keys already present are replaced).
    fn write_fields(&self, fields: &mut Fields);
    /// Reads the fields back; `None` when the event is of another type or lacks
    /// what the body cannot do without.
    fn from_event(event: &Event) -> Option<Self>;
}

fn get_str(f: &Fields, key: &str) -> Option<String> {
    f.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

fn put_opt(f: &mut Fields, key: &str, v: Option<impl Into<serde_json::Value>>) {
    if let Some(v) = v {
        f.insert(key.into(), v.into());
    }
}

/// A command line entered in a shell or protocol (`command`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command line as entered.
    pub command: String,
    /// Working directory, when the protocol has one.
    pub cwd: Option<String>,
    /// User it ran as, when the protocol has one.
    pub user: Option<String>,
}

impl Command {
    /// A command line with no working directory or user.
    pub fn new(command: impl Into<String>) -> Command {
        Command {
            command: command.into(),
            cwd: None,
            user: None,
        }
    }

    /// Sets where and as whom it ran.
    pub fn in_shell(mut self, cwd: impl Into<String>, user: impl Into<String>) -> Command {
        self.cwd = Some(cwd.into());
        self.user = Some(user.into());
        self
    }
}

impl EventBody for Command {
    fn event_type(&self) -> EventType {
        EventType::Command
    }

    fn write_fields(&self, f: &mut Fields) {
        f.insert(names::COMMAND.into(), self.command.clone().into());
        put_opt(f, names::CWD, self.cwd.clone());
        put_opt(f, names::USER, self.user.clone());
    }

    fn from_event(e: &Event) -> Option<Command> {
        if e.event_type != EventType::Command {
            return None;
        }
        Some(Command {
            command: get_str(&e.fields, names::COMMAND)?,
            cwd: get_str(&e.fields, names::CWD),
            user: get_str(&e.fields, names::USER),
        })
    }
}

/// Which way a file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer sent us a file (`file_upload`).
    Upload,
    /// The peer asked to fetch a file (`file_download`).
    Download,
}

/// What a transfer names: a URL (never fetched; the URL is the indicator) or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRef {
    /// A URL, written as `url`.
    Url(String),
    /// A file name or path, written as `name`; empty when an upload named none.
    Name(String),
}

/// A file sent to or asked of a decky (`file_upload` / `file_download`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransfer {
    /// Upload or download.
    pub direction: Direction,
    /// The URL or file it names.
    pub target: FileRef,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// SHA-256 (lower-case hex) of the bytes captured, when any were.
    pub sha256: Option<String>,
    /// Whether a cap cut the capture.
    pub truncated: Option<bool>,
    /// Tool that did it (`wget`, `curl`, `tftp`, …).
    pub tool: Option<String>,
    /// Command line that asked for it.
    pub command: Option<String>,
    /// Whether the captured bytes were kept as an artifact.
    pub stored: Option<bool>,
    /// The artifact file holding them.
    pub artifact: Option<String>,
}

impl FileTransfer {
    /// A transfer with nothing known but its direction and target.
    pub fn new(direction: Direction, target: FileRef) -> FileTransfer {
        FileTransfer {
            direction,
            target,
            size: None,
            sha256: None,
            truncated: None,
            tool: None,
            command: None,
            stored: None,
            artifact: None,
        }
    }

    /// A download of `url` by `tool`, asked for by `command`.
    pub fn download_url(
        url: impl Into<String>,
        tool: impl Into<String>,
        command: impl Into<String>,
    ) -> FileTransfer {
        FileTransfer {
            tool: Some(tool.into()),
            command: Some(command.into()),
            ..FileTransfer::new(Direction::Download, FileRef::Url(url.into()))
        }
    }

    /// An upload of file `name` whose captured bytes are `size` long and hash to `sha256`.
    pub fn upload(name: impl Into<String>, size: u64, sha256: impl Into<String>) -> FileTransfer {
        FileTransfer {
            size: Some(size),
            sha256: Some(sha256.into()),
            ..FileTransfer::new(Direction::Upload, FileRef::Name(name.into()))
        }
    }
}

impl EventBody for FileTransfer {
    fn event_type(&self) -> EventType {
        match self.direction {
            Direction::Upload => EventType::FileUpload,
            Direction::Download => EventType::FileDownload,
        }
    }

    fn write_fields(&self, f: &mut Fields) {
        match &self.target {
            FileRef::Url(u) => f.insert(names::URL.into(), u.clone().into()),
            FileRef::Name(n) => f.insert(names::NAME.into(), n.clone().into()),
        };
        put_opt(f, names::SIZE, self.size);
        put_opt(f, names::SHA256, self.sha256.clone());
        put_opt(f, names::TRUNCATED, self.truncated);
        put_opt(f, names::TOOL, self.tool.clone());
        put_opt(f, names::COMMAND, self.command.clone());
        put_opt(f, names::STORED, self.stored);
        put_opt(f, names::ARTIFACT, self.artifact.clone());
    }

    /// A download needs something it names (its URL first, else a file); an
    /// upload always reads (its file first, else a URL, else an empty name).
    fn from_event(e: &Event) -> Option<FileTransfer> {
        let direction = match e.event_type {
            EventType::FileUpload => Direction::Upload,
            EventType::FileDownload => Direction::Download,
            _ => return None,
        };
        let f = &e.fields;
        let name = std::iter::once(names::NAME)
            .chain(names::NAME_ALIASES)
            .find_map(|k| get_str(f, k))
            .map(FileRef::Name);
        let url = get_str(f, names::URL).map(FileRef::Url);
        let target = match direction {
            Direction::Download => url.or(name)?,
            Direction::Upload => name.or(url).unwrap_or_else(|| FileRef::Name(String::new())),
        };
        Some(FileTransfer {
            direction,
            target,
            size: f.get(names::SIZE).and_then(|v| v.as_u64()),
            sha256: get_str(f, names::SHA256),
            truncated: f.get(names::TRUNCATED).and_then(|v| v.as_bool()),
            tool: get_str(f, names::TOOL),
            command: get_str(f, names::COMMAND),
            stored: f.get(names::STORED).and_then(|v| v.as_bool()),
            artifact: get_str(f, names::ARTIFACT),
        })
    }
}

/// One database or directory query (`query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The query text as sent.
    pub query: String,
}

impl Query {
    /// A query with this text.
    pub fn new(query: impl Into<String>) -> Query {
        Query {
            query: query.into(),
        }
    }
}

impl EventBody for Query {
    fn event_type(&self) -> EventType {
        EventType::Query
    }

    fn write_fields(&self, f: &mut Fields) {
        f.insert(names::QUERY.into(), self.query.clone().into());
    }

    fn from_event(e: &Event) -> Option<Query> {
        if e.event_type != EventType::Query {
            return None;
        }
        get_str(&e.fields, names::QUERY).map(Query::new)
    }
}

/// Why a session was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Less than the recorder's free-space floor left on the data disk.
    DiskPressure,
    /// The shard could not be opened or written.
    ShardOpenFailed,
}

impl SkipReason {
    /// Every variant, in declaration order.
    pub const ALL: [SkipReason; 2] = [SkipReason::DiskPressure, SkipReason::ShardOpenFailed];

    /// Name used in `session_recorded` (`skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DiskPressure => "disk_pressure",
            SkipReason::ShardOpenFailed => "shard_open_failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<SkipReason> {
        SkipReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An interactive session's recording was closed (`session_recorded`).
///
/// Every field is optional on the read side (a forwarded syslog line carries
/// numbers as text); a recorder always writes all but `skipped`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecorded {
    /// Session id the transcript lines are tagged with.
    pub sid: Option<Uuid>,
    /// Shard the session was written to.
    pub shard: Option<String>,
    /// Payload bytes recorded.
    pub bytes: Option<u64>,
    /// Seconds from start to finish.
    pub duration_s: Option<f64>,
    /// Whether the per-session cap cut the recording.
    pub truncated: Option<bool>,
    /// Why nothing was recorded, if so.
    pub skipped: Option<SkipReason>,
}

impl SessionRecorded {
    /// A finished recording, `duration_s` rounded to milliseconds.
    pub fn new(
        sid: Uuid,
        shard: impl Into<String>,
        bytes: u64,
        duration_s: f64,
        truncated: bool,
        skipped: Option<SkipReason>,
    ) -> SessionRecorded {
        SessionRecorded {
            sid: Some(sid),
            shard: Some(shard.into()),
            bytes: Some(bytes),
            duration_s: Some((duration_s * 1000.0).round() / 1000.0),
            truncated: Some(truncated),
            skipped,
        }
    }
}

impl EventBody for SessionRecorded {
    fn event_type(&self) -> EventType {
        EventType::SessionRecorded
    }

    fn write_fields(&self, f: &mut Fields) {
        put_opt(f, names::SID, self.sid.map(|s| s.to_string()));
        put_opt(f, names::SHARD, self.shard.clone());
        put_opt(f, names::BYTES, self.bytes);
        put_opt(f, names::DURATION_S, self.duration_s);
        put_opt(f, names::TRUNCATED, self.truncated);
        put_opt(f, names::SKIPPED, self.skipped.map(SkipReason::as_str));
    }

    fn from_event(e: &Event) -> Option<SessionRecorded> {
        if e.event_type != EventType::SessionRecorded {
            return None;
        }
        let f = &e.fields;
        Some(SessionRecorded {
            sid: get_str(f, names::SID).and_then(|v| Uuid::parse_str(&v).ok()),
            shard: get_str(f, names::SHARD),
            bytes: f.get(names::BYTES).and_then(|v| v.as_u64()),
            duration_s: f.get(names::DURATION_S).and_then(|v| v.as_f64()),
            truncated: f.get(names::TRUNCATED).and_then(|v| v.as_bool()),
            skipped: get_str(f, names::SKIPPED).and_then(|v| SkipReason::parse(&v)),
        })
    }
}

/// How a login ended, as its event type records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    /// Refused, or the outcome is unknown (`login_attempt`).
    Attempt,
    /// Let in (`login_success`).
    Success,
}

impl LoginOutcome {
    /// The event type that records this outcome.
    pub fn event_type(self) -> EventType {
        match self {
            LoginOutcome::Attempt => EventType::LoginAttempt,
            LoginOutcome::Success => EventType::LoginSuccess,
        }
    }

    /// The outcome an event type records, if it is a login event.
    pub fn of(event_type: EventType) -> Option<LoginOutcome> {
        match event_type {
            EventType::LoginAttempt => Some(LoginOutcome::Attempt),
            EventType::LoginSuccess => Some(LoginOutcome::Success),
            _ => None,
        }
    }
}

/// How a login was attempted. A protocol bringing a new method adds a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginMethod {
    /// A password (SSH `password`).
    Password,
    /// A password typed at a prompt (SSH `keyboard-interactive`).
    KeyboardInteractive,
    /// A public key offered (SSH `publickey`).
    PublicKey,
    /// Only a username, asking which methods are offered (SSH `none`; many bots start with it).
    None,
}

impl LoginMethod {
    /// Every variant, in declaration order.
    pub const ALL: [LoginMethod; 4] = [
        LoginMethod::Password,
        LoginMethod::KeyboardInteractive,
        LoginMethod::PublicKey,
        LoginMethod::None,
    ];

    /// The wire name (`password`, `keyboard-interactive`, `publickey`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::KeyboardInteractive => "keyboard-interactive",
            LoginMethod::PublicKey => "publickey",
            LoginMethod::None => "none",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<LoginMethod> {
        LoginMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A login event's own fields (`login_attempt` / `login_success`); the
/// credential itself travels in `Event::credential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// How it ended.
    pub outcome: LoginOutcome,
    /// How it was attempted; `None` when reading a method this version does not know.
    pub method: Option<LoginMethod>,
}

impl EventBody for Login {
    fn event_type(&self) -> EventType {
        self.outcome.event_type()
    }

    fn write_fields(&self, f: &mut Fields) {
        put_opt(f, names::METHOD, self.method.map(LoginMethod::as_str));
    }

    fn from_event(e: &Event) -> Option<Login> {
        Some(Login {
            outcome: LoginOutcome::of(e.event_type)?,
            method: get_str(&e.fields, names::METHOD).and_then(|m| LoginMethod::parse(&m)),
        })
    }
}

/// What the store records about a captured credential's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialOutcome {
    /// Offered in a `login_success`.
    Success,
    /// Offered in a `login_attempt`.
    Failure,
    /// Seen on any other event (an HTTP request's `Authorization`, …).
    Observed,
}

impl CredentialOutcome {
    /// Every variant, in declaration order.
    pub const ALL: [CredentialOutcome; 3] = [
        CredentialOutcome::Success,
        CredentialOutcome::Failure,
        CredentialOutcome::Observed,
    ];

    /// The outcome of a credential carried by an event of this type.
    pub fn of(event_type: EventType) -> CredentialOutcome {
        match LoginOutcome::of(event_type) {
            Some(LoginOutcome::Success) => CredentialOutcome::Success,
            Some(LoginOutcome::Attempt) => CredentialOutcome::Failure,
            None => CredentialOutcome::Observed,
        }
    }

    /// The wire name (`success`, `failure`, `observed`).
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialOutcome::Success => "success",
            CredentialOutcome::Failure => "failure",
            CredentialOutcome::Observed => "observed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<CredentialOutcome> {
        CredentialOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(t: EventType) -> Event {
        Event::now(
            "decky-01",
            "ssh",
            t,
            "203.0.113.9:51234".parse().unwrap(),
            "127.42.0.10:22".parse().unwrap(),
        )
    }

    fn written<B: EventBody>(body: &B) -> Event {
        let mut e = event(body.event_type());
        body.write_fields(&mut e.fields);
        e
    }

    fn wire(e: &Event) -> serde_json::Value {
        serde_json::Value::Object(e.fields.clone())
    }

    #[test]
    fn command_has_its_wire_names_and_reads_back() {
        let c = Command::new("uname -a").in_shell("/root", "root");
        let e = written(&c);
        assert_eq!(e.event_type, EventType::Command);
        assert_eq!(
            wire(&e),
            json!({"command": "uname -a", "cwd": "/root", "user": "root"})
        );
        assert_eq!(Command::from_event(&e), Some(c));
        assert_eq!(Command::from_event(&event(EventType::Command)), None);
        assert_eq!(Command::from_event(&event(EventType::Query)), None);
    }

    #[test]
    fn download_has_its_wire_names_and_reads_back() {
        let d = FileTransfer::download_url("http://198.51.100.9/bot.sh", "wget", "wget http://…");
        let e = written(&d);
        assert_eq!(e.event_type, EventType::FileDownload);
        assert_eq!(
            wire(&e),
            json!({"url": "http://198.51.100.9/bot.sh", "tool": "wget", "command": "wget http://…"})
        );
        assert_eq!(FileTransfer::from_event(&e), Some(d));
    }

    #[test]
    fn upload_has_its_wire_names_and_reads_back() {
        let mut u = FileTransfer::upload("/tmp/x", 3, "abc");
        u.truncated = Some(true);
        u.stored = Some(true);
        u.artifact = Some("/data/artifacts/d/ssh/uploads/abc".into());
        let e = written(&u);
        assert_eq!(e.event_type, EventType::FileUpload);
        assert_eq!(
            wire(&e),
            json!({"name": "/tmp/x", "size": 3, "sha256": "abc", "truncated": true,
                   "stored": true, "artifact": "/data/artifacts/d/ssh/uploads/abc"})
        );
        assert_eq!(FileTransfer::from_event(&e), Some(u));
    }

    #[test]
    fn upload_reads_older_name_spellings_and_no_name_as_empty() {
        let mut e = event(EventType::FileUpload);
        e.fields.insert("filename".into(), "a.bin".into());
        e.fields.insert("path".into(), "/b.bin".into());
        let t = FileTransfer::from_event(&e).unwrap();
        assert_eq!(t.target, FileRef::Name("a.bin".into()));
        let t = FileTransfer::from_event(&event(EventType::FileUpload)).unwrap();
        assert_eq!(t.target, FileRef::Name(String::new()));
    }

    #[test]
    fn download_without_a_target_does_not_read() {
        assert_eq!(
            FileTransfer::from_event(&event(EventType::FileDownload)),
            None
        );
        assert_eq!(FileTransfer::from_event(&event(EventType::Command)), None);
    }

    #[test]
    fn query_has_its_wire_name_and_reads_back() {
        let q = Query::new("SELECT 1");
        let e = written(&q);
        assert_eq!(e.event_type, EventType::Query);
        assert_eq!(wire(&e), json!({"query": "SELECT 1"}));
        assert_eq!(Query::from_event(&e), Some(q));
    }

    #[test]
    fn session_recorded_has_its_wire_names_and_reads_back() {
        let sid = Uuid::now_v7();
        let r = SessionRecorded::new(
            sid,
            "/d/sessions-2026-01-01.jsonl",
            42,
            1.23456,
            false,
            Some(SkipReason::DiskPressure),
        );
        let e = written(&r);
        assert_eq!(e.event_type, EventType::SessionRecorded);
        assert_eq!(
            wire(&e),
            json!({
                "sid": sid.to_string(), "shard": "/d/sessions-2026-01-01.jsonl", "bytes": 42,
                "duration_s": 1.235, "truncated": false, "skipped": "disk_pressure",
            })
        );
        assert_eq!(SessionRecorded::from_event(&e), Some(r));
    }

    #[test]
    fn session_recorded_reads_mistyped_fields_as_absent() {
        let mut e = event(EventType::SessionRecorded);
        for (k, v) in [
            ("sid", "not-a-uuid"),
            ("bytes", "321"),
            ("duration_s", "1.5"),
            ("truncated", "false"),
            ("skipped", "cosmic_rays"),
        ] {
            e.fields.insert(k.into(), v.into());
        }
        e.fields.insert("shard".into(), "s.jsonl".into());
        let r = SessionRecorded::from_event(&e).unwrap();
        assert_eq!(
            r,
            SessionRecorded {
                sid: None,
                shard: Some("s.jsonl".into()),
                bytes: None,
                duration_s: None,
                truncated: None,
                skipped: None,
            }
        );
    }

    #[test]
    fn login_outcome_is_the_event_type() {
        for (outcome, t) in [
            (LoginOutcome::Attempt, EventType::LoginAttempt),
            (LoginOutcome::Success, EventType::LoginSuccess),
        ] {
            assert_eq!(outcome.event_type(), t);
            assert_eq!(LoginOutcome::of(t), Some(outcome));
            let l = Login {
                outcome,
                method: Some(LoginMethod::KeyboardInteractive),
            };
            let e = written(&l);
            assert_eq!(e.event_type, t);
            assert_eq!(wire(&e), json!({"method": "keyboard-interactive"}));
            assert_eq!(Login::from_event(&e), Some(l));
        }
        assert_eq!(LoginOutcome::of(EventType::HttpRequest), None);
        assert_eq!(Login::from_event(&event(EventType::Command)), None);
    }

    #[test]
    fn credential_outcome_follows_the_event_type() {
        assert_eq!(
            CredentialOutcome::of(EventType::LoginSuccess),
            CredentialOutcome::Success
        );
        assert_eq!(
            CredentialOutcome::of(EventType::LoginAttempt),
            CredentialOutcome::Failure
        );
        assert_eq!(
            CredentialOutcome::of(EventType::HttpRequest),
            CredentialOutcome::Observed
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for m in LoginMethod::ALL {
            assert_eq!(LoginMethod::parse(m.as_str()), Some(m));
        }
        for r in SkipReason::ALL {
            assert_eq!(SkipReason::parse(r.as_str()), Some(r));
        }
        for o in CredentialOutcome::ALL {
            assert_eq!(CredentialOutcome::parse(o.as_str()), Some(o));
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
    }
}
