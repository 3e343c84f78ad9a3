//! Wire types of the API with their OpenAPI schemas. Store rows are mirrored
//! here (not serialised directly) so the documented schema is the one sent.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use decnet_core::fields::CredentialOutcome;
use decnet_core::SecretKind;
use decnet_store as store;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// One page of a list: `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The rows, newest (or largest) first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Converts a store page.
    pub fn from_store<U>(p: store::Page<U>, f: impl FnMut(U) -> T) -> Page<T> {
        Page {
            items: p.items.into_iter().map(f).collect(),
            next_cursor: p.next_cursor,
        }
    }

    /// Converts a store page whose rows may not convert (a damaged or foreign value).
    pub fn try_from_store<U, E>(
        p: store::Page<U>,
        f: impl FnMut(U) -> Result<T, E>,
    ) -> Result<Page<T>, E> {
        Ok(Page {
            items: p.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: p.next_cursor,
        })
    }
}

/// OpenAPI schema of a `secret_kind`: a string, one of DESIGN §6's names.
fn secret_kind_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("Form of the secret (DESIGN §6)."))
        .enum_values(Some(SecretKind::ALL.map(SecretKind::as_str)))
        .build()
}

/// OpenAPI schema of a credential `outcome`.
fn outcome_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "`success` (login let in), `failure` (login refused) or `observed` (carried by another event).",
        ))
        .enum_values(Some(CredentialOutcome::ALL.map(CredentialOutcome::as_str)))
        .build()
}

/// A stored `secret_kind` as the enum; the store only holds names core wrote.
fn secret_kind(stored: &str, row: &dyn std::fmt::Display) -> Result<SecretKind, ApiError> {
    SecretKind::parse(stored).ok_or_else(|| {
        ApiError::Internal(format!(
            "stored credential {row} has secret_kind {stored:?}, which this version does not know"
        ))
    })
}

/// A running decky, as the binary describes its fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeckyInfo {
    /// Unique name.
    pub name: String,
    /// Address its services listen on.
    #[schema(value_type = String, example = "127.42.0.10")]
    pub ip: IpAddr,
    /// Hostname the persona shows.
    pub hostname: String,
    /// OS family (`linux`, `windows`, `bsd`, `embedded`, `cisco`).
    pub os_family: String,
    /// Distro persona (`debian`, `ubuntu22`, …).
    pub distro: String,
    /// Archetype it was built from, if any.
    pub archetype: Option<String>,
    /// Services it runs.
    pub services: Vec<DeckyService>,
}

/// One service of a decky.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeckyService {
    /// Service name (`ssh`, `http`, …).
    pub name: String,
    /// Port it listens on.
    pub port: u16,
    /// `tcp` or `udp`.
    pub transport: String,
}

/// A stored event: the captured event JSON (DESIGN §6) plus `attacker_uuid`.
/// Documentation type; the handler sends the stored JSON verbatim.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventDoc {
    /// Event id (UUIDv7).
    pub id: Uuid,
    /// When (RFC 3339, UTC, microseconds).
    pub ts: DateTime<Utc>,
    /// Decky name.
    pub decky: String,
    /// Service name.
    pub service: String,
    /// `connect`, `login_attempt`, `command`, …
    pub event_type: String,
    /// Peer address.
    pub src_ip: String,
    /// Peer port.
    pub src_port: u16,
    /// Decky address.
    pub dst_ip: String,
    /// Decky port.
    pub dst_port: u16,
    /// Session id, when the event belongs to one.
    pub session_id: Option<Uuid>,
    /// Service-specific fields.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Captured credential, when any.
    pub credential: Option<CredentialDoc>,
    /// The attacker the event was attributed to.
    pub attacker_uuid: Uuid,
}

/// A credential inside an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialDoc {
    /// Claimed identity.
    pub principal: String,
    /// The secret as text, when printable.
    pub secret_printable: Option<String>,
    /// The exact secret, base64.
    pub secret_b64: String,
    /// Form of the secret.
    #[schema(schema_with = secret_kind_schema)]
    pub secret_kind: SecretKind,
    /// Realm or domain.
    pub realm: Option<String>,
}

/// A stored event on the wire: its JSON as captured, with `attacker_uuid` added.
#[derive(Debug)]
pub enum EventOut {
    /// The stored JSON, spliced.
    Raw(Box<RawValue>),
    /// Rebuilt from the indexed columns (the stored JSON was damaged).
    Columns(serde_json::Value),
}

impl Serialize for EventOut {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EventOut::Raw(r) => r.serialize(s),
            EventOut::Columns(v) => v.serialize(s),
        }
    }
}

impl EventOut {
    /// The stored JSON with `attacker_uuid` spliced in (no re-serialisation
    /// of the event, so what was captured is what is sent).
    pub fn from_stored(e: store::StoredEvent) -> EventOut {
        let raw = e.raw.trim();
        let spliced = raw.strip_prefix('{').map(|rest| {
            let rest = rest.trim_start();
            let sep = if rest.starts_with('}') { "" } else { "," };
            format!("{{\"attacker_uuid\":\"{}\"{sep}{rest}", e.attacker_uuid)
        });
        if let Some(v) = spliced.and_then(|s| RawValue::from_string(s).ok()) {
            return EventOut::Raw(v);
        }
        tracing::warn!(id = %e.id, "stored event JSON is malformed; sending its columns");
        EventOut::Columns(serde_json::json!({
            "attacker_uuid": e.attacker_uuid, "id": e.id, "ts": e.ts, "decky": e.decky,
            "service": e.service, "event_type": e.event_type, "src_ip": e.src_ip,
            "src_port": e.src_port, "dst_ip": e.dst_ip, "dst_port": e.dst_port,
            "session_id": e.session_id, "fields": {},
        }))
    }
}

/// An attacker: one observed source, keyed by UUID.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttackerDto {
    /// Canonical key.
    pub uuid: Uuid,
    /// Source IP (not unique across attackers).
    pub ip: String,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Latest event.
    pub last_seen: DateTime<Utc>,
    /// Events attributed.
    pub event_count: u64,
    /// Deckies touched, in first-contact order.
    pub deckies: Vec<String>,
    /// Services touched, in first-contact order.
    pub services: Vec<String>,
    /// Credentials captured.
    pub credential_count: u64,
    /// Sessions opened.
    pub session_count: u64,
}

impl From<store::Attacker> for AttackerDto {
    fn from(a: store::Attacker) -> Self {
        AttackerDto {
            uuid: a.uuid,
            ip: a.ip,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            event_count: a.event_count,
            deckies: a.deckies,
            services: a.services,
            credential_count: a.credential_count,
            session_count: a.session_count,
        }
    }
}

/// A captured credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialDto {
    /// The event that carried it.
    pub event_id: Uuid,
    /// When.
    pub ts: DateTime<Utc>,
    /// Who offered it.
    pub attacker_uuid: Uuid,
    /// From where.
    pub src_ip: String,
    /// Decky.
    pub decky: String,
    /// Service.
    pub service: String,
    /// Session.
    pub session_id: Option<Uuid>,
    /// Claimed identity.
    pub principal: String,
    /// The secret as text, when printable.
    pub secret_printable: Option<String>,
    /// The exact secret, base64.
    pub secret_b64: String,
    /// Form of the secret.
    #[schema(schema_with = secret_kind_schema)]
    pub secret_kind: SecretKind,
    /// Realm or domain.
    pub realm: Option<String>,
    /// SHA-256 (hex) of the secret bytes: the reuse key.
    pub secret_sha256: String,
    /// `success`, `failure` or `observed`.
    #[schema(schema_with = outcome_schema)]
    pub outcome: CredentialOutcome,
}

impl TryFrom<store::CredentialRecord> for CredentialDto {
    type Error = ApiError;

    fn try_from(c: store::CredentialRecord) -> Result<Self, ApiError> {
        let secret_kind = secret_kind(&c.secret_kind, &c.event_id)?;
        let outcome = CredentialOutcome::parse(&c.outcome).ok_or_else(|| {
            ApiError::Internal(format!(
                "stored credential {} has outcome {:?}, which this version does not know",
                c.event_id, c.outcome
            ))
        })?;
        Ok(CredentialDto {
            event_id: c.event_id,
            ts: c.ts,
            attacker_uuid: c.attacker_uuid,
            src_ip: c.src_ip,
            decky: c.decky,
            service: c.service,
            session_id: c.session_id,
            principal: c.principal,
            secret_printable: c.secret_printable,
            secret_b64: c.secret_b64,
            secret_kind,
            realm: c.realm,
            secret_sha256: c.secret_sha256,
            outcome,
        })
    }
}

/// One secret seen against several deckies or principals. The three lists
/// are samples: at most the first 20 of each (sorted), so a sprayed password
/// with a million usernames still fits a page; the `*_count` fields are exact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReuseGroupDto {
    /// SHA-256 of the secret bytes.
    pub secret_sha256: String,
    /// Secret kind.
    #[schema(schema_with = secret_kind_schema)]
    pub secret_kind: SecretKind,
    /// The secret as text, when printable.
    pub secret_printable: Option<String>,
    /// Deckies it was tried against: the first 20 by name (all of them are
    /// counted in `decky_count`).
    #[schema(max_items = 20)]
    pub deckies: Vec<String>,
    /// Principals it was offered for: the first 20 by name (all of them are
    /// counted in `principal_count`).
    #[schema(max_items = 20)]
    pub principals: Vec<String>,
    /// Attackers who offered it: the first 20 by UUID (all of them are
    /// counted in `attacker_count`).
    #[schema(max_items = 20)]
    pub attacker_uuids: Vec<Uuid>,
    /// Distinct deckies it was tried against.
    pub decky_count: u64,
    /// Distinct principals it was offered for.
    pub principal_count: u64,
    /// Distinct attackers who offered it.
    pub attacker_count: u64,
    /// Times captured.
    pub count: u64,
    /// First capture.
    pub first_seen: DateTime<Utc>,
    /// Latest capture.
    pub last_seen: DateTime<Utc>,
}

// The schema above documents the store's sample size.
const _: () = assert!(store::REUSE_SAMPLE == 20);

impl TryFrom<store::ReuseGroup> for ReuseGroupDto {
    type Error = ApiError;

    fn try_from(g: store::ReuseGroup) -> Result<Self, ApiError> {
        Ok(ReuseGroupDto {
            secret_kind: secret_kind(&g.secret_kind, &format_args!("group {}", g.secret_sha256))?,
            secret_sha256: g.secret_sha256,
            secret_printable: g.secret_printable,
            deckies: g.deckies,
            principals: g.principals,
            attacker_uuids: g.attacker_uuids,
            decky_count: g.decky_count,
            principal_count: g.principal_count,
            attacker_count: g.attacker_count,
            count: g.count,
            first_seen: g.first_seen,
            last_seen: g.last_seen,
        })
    }
}

/// A connection's session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// Session id.
    pub sid: Uuid,
    /// Attacker.
    pub attacker_uuid: Uuid,
    /// Decky.
    pub decky: String,
    /// Service.
    pub service: String,
    /// Peer address.
    pub src_ip: String,
    /// Peer port.
    pub src_port: u16,
    /// First event.
    pub started_at: DateTime<Utc>,
    /// The disconnect, once seen.
    pub ended_at: Option<DateTime<Utc>>,
    /// Events in the session.
    pub event_count: u64,
    /// Commands in the session.
    pub command_count: u64,
    /// Whether a transcript was recorded.
    pub recorded: bool,
    /// Transcript payload bytes.
    pub recording_bytes: Option<u64>,
    /// Recorded duration, seconds.
    pub recording_duration_s: Option<f64>,
    /// Whether the recording hit its cap.
    pub recording_truncated: Option<bool>,
}

impl From<store::SessionRecord> for SessionDto {
    fn from(s: store::SessionRecord) -> Self {
        SessionDto {
            sid: s.sid,
            attacker_uuid: s.attacker_uuid,
            decky: s.decky,
            service: s.service,
            src_ip: s.src_ip,
            src_port: s.src_port,
            started_at: s.started_at,
            ended_at: s.ended_at,
            event_count: s.event_count,
            command_count: s.command_count,
            // The shard path is a server-side detail; clients use the transcript route.
            recorded: s.recording_shard.is_some(),
            recording_bytes: s.recording_bytes,
            recording_duration_s: s.recording_duration_s,
            recording_truncated: s.recording_truncated,
        }
    }
}

/// A file an attacker sent or asked a decky to fetch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactDto {
    /// The event that reported it.
    pub event_id: Uuid,
    /// When.
    pub ts: DateTime<Utc>,
    /// `upload` or `download`.
    pub kind: String,
    /// File name or URL.
    pub name: String,
    /// SHA-256 of the content, when known.
    pub sha256: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Decky.
    pub decky: String,
    /// Service.
    pub service: String,
    /// Attacker.
    pub attacker_uuid: Uuid,
    /// Session.
    pub session_id: Option<Uuid>,
}

impl From<store::ArtifactRecord> for ArtifactDto {
    fn from(a: store::ArtifactRecord) -> Self {
        ArtifactDto {
            event_id: a.event_id,
            ts: a.ts,
            kind: a.kind,
            name: a.name,
            sha256: a.sha256,
            size: a.size,
            decky: a.decky,
            service: a.service,
            attacker_uuid: a.attacker_uuid,
            session_id: a.session_id,
        }
    }
}

/// A value and how often it occurs.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountDto {
    /// The value.
    pub value: String,
    /// Occurrences.
    pub count: u64,
}

impl From<store::Count> for CountDto {
    fn from(c: store::Count) -> Self {
        CountDto {
            value: c.value,
            count: c.count,
        }
    }
}

/// Totals and top-N lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsDto {
    /// Events stored.
    pub events: u64,
    /// Attackers known.
    pub attackers: u64,
    /// Credentials captured.
    pub credentials: u64,
    /// Sessions seen.
    pub sessions: u64,
    /// Deckies running.
    pub deckies: u64,
    /// Busiest source IPs.
    pub top_src_ips: Vec<CountDto>,
    /// Busiest deckies.
    pub top_deckies: Vec<CountDto>,
    /// Busiest services.
    pub top_services: Vec<CountDto>,
    /// Commonest event types.
    pub top_event_types: Vec<CountDto>,
    /// Commonest principals.
    pub top_principals: Vec<CountDto>,
    /// Commonest printable passwords.
    pub top_passwords: Vec<CountDto>,
}

impl StatsDto {
    /// From the store's stats and the fleet size.
    pub fn new(s: store::Stats, deckies: usize) -> StatsDto {
        let conv = |v: Vec<store::Count>| v.into_iter().map(CountDto::from).collect();
        StatsDto {
            events: s.events,
            attackers: s.attackers,
            credentials: s.credentials,
            sessions: s.sessions,
            deckies: deckies as u64,
            top_src_ips: conv(s.top_src_ips),
            top_deckies: conv(s.top_deckies),
            top_services: conv(s.top_services),
            top_event_types: conv(s.top_event_types),
            top_principals: conv(s.top_principals),
            top_passwords: conv(s.top_passwords),
        }
    }
}

/// Events in one time bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketDto {
    /// Bucket start.
    pub start: DateTime<Utc>,
    /// Events in `[start, start + bucket)`.
    pub count: u64,
}

/// An event-count histogram.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistogramDto {
    /// Bucket width in seconds.
    pub bucket: u32,
    /// Range start (inclusive).
    pub start: DateTime<Utc>,
    /// Range end (exclusive).
    pub end: DateTime<Utc>,
    /// Every bucket of the range, empty ones with 0.
    pub buckets: Vec<BucketDto>,
}

/// Dashboard role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// Everything.
    Admin,
    /// Read only.
    Viewer,
}

impl From<store::Role> for RoleDto {
    fn from(r: store::Role) -> Self {
        match r {
            store::Role::Admin => RoleDto::Admin,
            store::Role::Viewer => RoleDto::Viewer,
        }
    }
}

impl From<RoleDto> for store::Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Admin => store::Role::Admin,
            RoleDto::Viewer => store::Role::Viewer,
        }
    }
}

/// An API account (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    /// Key.
    pub uuid: Uuid,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: RoleDto,
    /// Must change the password before anything else works.
    pub must_change_password: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<store::User> for UserDto {
    fn from(u: store::User) -> Self {
        UserDto {
            uuid: u.uuid,
            username: u.username,
            role: u.role.into(),
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// An issued access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// When true, only `POST /auth/change-password` works until it is called.
    pub must_change_password: bool,
}

/// `POST /auth/change-password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// Current password.
    pub old_password: String,
    /// New password, 12–128 characters, different from the old one.
    pub new_password: String,
}

/// `POST /users` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Login name: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// Role.
    pub role: RoleDto,
    /// Initial password (12–128 characters); the user must change it at first login.
    pub password: String,
}

/// `PUT /users/{uuid}/role` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    /// New role.
    pub role: RoleDto,
}

/// `PUT /users/{uuid}/password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// New initial password (12–128 characters); the user must change it at next login.
    pub password: String,
}

/// Page size and position, shared by every list route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Liveness of the API and what it depends on.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok` when the database answers and the journal records, else `degraded`.
    pub status: String,
    /// Seconds since the API started.
    pub uptime_s: u64,
    /// `ok` or `error`.
    pub database: String,
    /// `enabled` or `disabled`.
    pub bus: String,
    /// `ok`, or why the journal cannot record (`journal: no space left on device (<path>)`):
    /// the deckies answer nobody meanwhile. `ok` too when this process runs no engine.
    pub journal: String,
    /// Every worker heard on `system.*.health`.
    pub workers: Vec<WorkerDto>,
}

/// One worker's last heartbeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerDto {
    /// Worker name (`bus` for the broker).
    pub worker: String,
    /// `ok` when heard within 90 s, else `stale`.
    pub status: String,
    /// Seconds since its last heartbeat.
    pub age_s: f64,
}

/// A recorded session's transcript (asciinema v2, as recorded).
#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptDto {
    /// Session id.
    pub sid: Uuid,
    /// The asciinema header (`version`, `width`, `height`, `timestamp`, `env`).
    #[schema(value_type = Object)]
    pub header: Option<serde_json::Value>,
    /// Events `[t, code, data]` in recording order: `o` output, `i` input,
    /// `r` resize (`"COLSxROWS"`); bytes that were not UTF-8 are sent as
    /// `[t, code, null, base64]`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// Whether the recording hit its size cap.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, outcome: &str) -> store::CredentialRecord {
        store::CredentialRecord {
            event_id: Uuid::now_v7(),
            ts: Utc::now(),
            attacker_uuid: Uuid::now_v7(),
            src_ip: "203.0.113.9".into(),
            decky: "decky-01".into(),
            service: "smb".into(),
            session_id: None,
            principal: "CORP\\alice".into(),
            secret_printable: None,
            secret_b64: "AAAA".into(),
            secret_kind: kind.into(),
            realm: None,
            secret_sha256: "00".into(),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn credential_kind_and_outcome_keep_their_stored_wire_names() {
        for kind in SecretKind::ALL {
            for outcome in CredentialOutcome::ALL {
                let dto = CredentialDto::try_from(row(kind.as_str(), outcome.as_str())).unwrap();
                let v = serde_json::to_value(&dto).unwrap();
                assert_eq!(v["secret_kind"], kind.as_str());
                assert_eq!(v["outcome"], outcome.as_str());
            }
        }
    }

    #[test]
    fn an_unknown_stored_kind_or_outcome_is_an_internal_error_naming_the_row() {
        for r in [row("rot13", "failure"), row("password", "maybe")] {
            let id = r.event_id;
            match CredentialDto::try_from(r) {
                Err(ApiError::Internal(cause)) => {
                    assert!(cause.contains(&id.to_string()), "{cause}")
                }
                other => panic!("expected an internal error, got {other:?}"),
            }
        }
    }
}
