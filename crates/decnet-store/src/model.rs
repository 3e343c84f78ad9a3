//! Row types and query parameters shared by the ingester and the API.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stored event: indexed columns plus the event JSON exactly as captured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Event id (UUIDv7).
    pub id: Uuid,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// Decky name.
    pub decky: String,
    /// Service name.
    pub service: String,
    /// Event type (`login_attempt`, …).
    pub event_type: String,
    /// Peer address.
    pub src_ip: String,
    /// Peer port.
    pub src_port: u16,
    /// Decky address.
    pub dst_ip: String,
    /// Decky port.
    pub dst_port: u16,
    /// Session the event belongs to.
    pub session_id: Option<Uuid>,
    /// The attacker this event was attributed to.
    pub attacker_uuid: Uuid,
    /// The event as one JSON object, verbatim.
    pub raw: String,
}

/// Filters for [`Store::list_events`](crate::Store::list_events) and the histogram; all optional, ANDed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventFilter {
    /// Exact decky name.
    pub decky: Option<String>,
    /// Exact service name.
    pub service: Option<String>,
    /// Exact event type.
    pub event_type: Option<String>,
    /// Exact source IP.
    pub attacker_ip: Option<String>,
    /// Attacker UUID.
    pub attacker_uuid: Option<Uuid>,
    /// Session id.
    pub session_id: Option<Uuid>,
    /// Case-insensitive substring of the event JSON (≤ 512 characters).
    pub search: Option<String>,
    /// Inclusive lower bound on `ts`.
    pub start: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `ts`.
    pub end: Option<DateTime<Utc>>,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The rows, newest (or largest) first.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Page size and position.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageRequest {
    /// Rows per page, 1–500.
    pub limit: u32,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> PageRequest {
        PageRequest {
            limit,
            cursor: None,
        }
    }

    /// The page after `cursor`.
    pub fn after(limit: u32, cursor: Option<String>) -> PageRequest {
        PageRequest { limit, cursor }
    }
}

/// Events per time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the bucket.
    pub start: DateTime<Utc>,
    /// Events in `[start, start + bucket)`.
    pub count: u64,
}

/// An attacker: one observed source, keyed by UUID.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attacker {
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

/// How to order attackers (always descending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackerSort {
    /// Most recently active first.
    #[default]
    LastSeen,
    /// Most recently first seen first.
    FirstSeen,
    /// Most events first.
    EventCount,
}

/// Attacker list filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttackerFilter {
    /// Exact source IP.
    pub ip: Option<String>,
    /// Touched this decky.
    pub decky: Option<String>,
    /// Touched this service.
    pub service: Option<String>,
}

/// A captured credential, hoisted out of its event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialRecord {
    /// The event that carried it (unique).
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
    /// Form of the secret (`password`, `ntlmssp_v2`, …).
    pub secret_kind: String,
    /// Realm or domain.
    pub realm: Option<String>,
    /// SHA-256 (hex) of the exact secret bytes: the reuse key.
    pub secret_sha256: String,
    /// `success` (login_success) or `failure`/`observed`.
    pub outcome: String,
}

/// Credential list filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialFilter {
    /// Exact principal.
    pub principal: Option<String>,
    /// Exact secret kind.
    pub secret_kind: Option<String>,
    /// Decky.
    pub decky: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// Attacker.
    pub attacker_uuid: Option<Uuid>,
}

/// Most deckies, principals and attackers a [`ReuseGroup`] lists: the first
/// of each by sort order; the group's counts say how many there are in all.
pub const REUSE_SAMPLE: usize = 20;

/// One secret seen more than once: who tried it where, as whom. The lists
/// are bounded samples (the first [`REUSE_SAMPLE`] of each, sorted); the
/// counts are exact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReuseGroup {
    /// SHA-256 of the secret bytes.
    pub secret_sha256: String,
    /// Secret kind.
    pub secret_kind: String,
    /// The secret as text, when printable.
    pub secret_printable: Option<String>,
    /// The first [`REUSE_SAMPLE`] distinct deckies it was tried against, sorted.
    pub deckies: Vec<String>,
    /// The first [`REUSE_SAMPLE`] distinct principals it was offered for, sorted.
    pub principals: Vec<String>,
    /// The first [`REUSE_SAMPLE`] distinct attackers who offered it, sorted.
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

/// A secret's maintained summary (table `credential_secrets`): its counts
/// without its members.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretSummary {
    /// SHA-256 of the secret bytes.
    pub secret_sha256: String,
    /// Secret kind.
    pub secret_kind: String,
    /// The secret as text, when printable.
    pub secret_printable: Option<String>,
    /// Times captured.
    pub count: u64,
    /// Distinct deckies it was tried against.
    pub decky_count: u64,
    /// Distinct principals it was offered for.
    pub principal_count: u64,
    /// Distinct attackers who offered it.
    pub attacker_count: u64,
    /// First capture.
    pub first_seen: DateTime<Utc>,
    /// Latest capture.
    pub last_seen: DateTime<Utc>,
}

impl SecretSummary {
    /// A secret counts as reused once tried against ≥ 2 deckies or for ≥ 2
    /// principals (the condition of index `credential_secrets_reused`).
    pub fn is_reuse(&self) -> bool {
        self.decky_count >= 2 || self.principal_count >= 2
    }
}

/// A secret an ingest batch added credentials to, with its summary as of
/// the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretTouched {
    /// The summary, this batch included.
    pub summary: SecretSummary,
    /// The batch tried it on a decky or for a principal it never was before.
    pub grew: bool,
}

/// What [`IngestTx::insert_credentials`](crate::IngestTx::insert_credentials) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialsInserted {
    /// Event ids whose credential was inserted (an event that already had
    /// one is skipped).
    pub inserted: HashSet<Uuid>,
    /// Every secret those credentials carried, once each, sorted by key.
    pub secrets: Vec<SecretTouched>,
}

/// A connection's session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRecord {
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
    /// First event of the session.
    pub started_at: DateTime<Utc>,
    /// The disconnect, once seen.
    pub ended_at: Option<DateTime<Utc>>,
    /// Events in the session.
    pub event_count: u64,
    /// `command` events in the session.
    pub command_count: u64,
    /// The transcript's own `sid` (the tag on its shard lines), once recorded.
    pub recording_sid: Option<Uuid>,
    /// Transcript shard path, once recorded.
    pub recording_shard: Option<String>,
    /// Transcript payload bytes.
    pub recording_bytes: Option<u64>,
    /// Recorded duration.
    pub recording_duration_s: Option<f64>,
    /// Whether the recording hit its cap.
    pub recording_truncated: Option<bool>,
}

/// A file an attacker sent (`upload`) or asked a decky to fetch (`download`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactRecord {
    /// The event that reported it.
    pub event_id: Uuid,
    /// When.
    pub ts: DateTime<Utc>,
    /// `upload` or `download`.
    pub kind: String,
    /// File name (upload) or URL (download).
    pub name: String,
    /// SHA-256 of the content, for uploads that carry one.
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

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value.
    pub value: String,
    /// Occurrences.
    pub count: u64,
}

/// Totals and top-N lists for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Events stored.
    pub events: u64,
    /// Attackers known.
    pub attackers: u64,
    /// Credentials captured.
    pub credentials: u64,
    /// Sessions seen.
    pub sessions: u64,
    /// Busiest source IPs.
    pub top_src_ips: Vec<Count>,
    /// Busiest deckies.
    pub top_deckies: Vec<Count>,
    /// Busiest services.
    pub top_services: Vec<Count>,
    /// Commonest event types.
    pub top_event_types: Vec<Count>,
    /// Commonest principals.
    pub top_principals: Vec<Count>,
    /// Commonest printable passwords (`secret_kind = password`).
    pub top_passwords: Vec<Count>,
}

/// Dashboard role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read only.
    Viewer,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A dashboard/API account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Key.
    pub uuid: Uuid,
    /// Login name (unique).
    pub username: String,
    /// Password hash (PHC string); never sent to clients.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Must change the password before anything else works.
    pub must_change_password: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Tokens issued before this instant are invalid.
    pub tokens_valid_from: DateTime<Utc>,
}

/// What [`Store::create_user`](crate::Store::create_user) needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Password hash (PHC string).
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Force a password change at first login.
    pub must_change_password: bool,
}
