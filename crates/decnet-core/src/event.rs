//! The captured `Event` and its `Credential`, in the one shape every service emits.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// JSON object of service-specific event fields.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// What happened, as a short snake_case verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A peer opened a connection.
    Connect,
    /// A connection ended.
    Disconnect,
    /// A credential was offered and refused (or its outcome is unknown).
    LoginAttempt,
    /// A credential was offered and let in.
    LoginSuccess,
    /// A command line was entered in a shell or protocol.
    Command,
    /// The peer sent us a file.
    FileUpload,
    /// The peer asked to fetch a file (URL captured, never fetched).
    FileDownload,
    /// One HTTP request.
    HttpRequest,
    /// One database or directory query.
    Query,
    /// A probe that looks like scanning rather than use.
    Scan,
    /// The peer spoke something the protocol does not allow.
    ProtocolError,
    /// An interactive session's recording was closed.
    SessionRecorded,
    /// A connection hit one of the supervisor's limits.
    LimitExceeded,
    /// A mail message was received (SMTP DATA/BDAT) and kept as an artifact.
    MailReceived,
}

impl EventType {
    /// Every variant, in declaration order.
    pub const ALL: [EventType; 14] = [
        EventType::Connect,
        EventType::Disconnect,
        EventType::LoginAttempt,
        EventType::LoginSuccess,
        EventType::Command,
        EventType::FileUpload,
        EventType::FileDownload,
        EventType::HttpRequest,
        EventType::Query,
        EventType::Scan,
        EventType::ProtocolError,
        EventType::SessionRecorded,
        EventType::LimitExceeded,
        EventType::MailReceived,
    ];

    /// The wire name (`login_attempt`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connect => "connect",
            EventType::Disconnect => "disconnect",
            EventType::LoginAttempt => "login_attempt",
            EventType::LoginSuccess => "login_success",
            EventType::Command => "command",
            EventType::FileUpload => "file_upload",
            EventType::FileDownload => "file_download",
            EventType::HttpRequest => "http_request",
            EventType::Query => "query",
            EventType::Scan => "scan",
            EventType::ProtocolError => "protocol_error",
            EventType::SessionRecorded => "session_recorded",
            EventType::LimitExceeded => "limit_exceeded",
            EventType::MailReceived => "mail_received",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The form a captured secret takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A plaintext password.
    Password,
    /// NTLMv1 challenge response.
    NtlmsspV1,
    /// NetNTLMv2 challenge response.
    NtlmsspV2,
    /// MySQL native-password scramble.
    MysqlNative,
    /// MySQL 8 `caching_sha2_password` fast-auth scramble: SHA256(password)
    /// XOR SHA256(SHA256(SHA256(password)), nonce); its event carries the nonce.
    MysqlCachingSha2,
    /// PostgreSQL md5 challenge response.
    PgMd5,
    /// SCRAM-SHA-1 client proof.
    // snake_case alone would give `scram_sha1`; DESIGN §6 and `as_str` say `scram_sha_1`.
    #[serde(rename = "scram_sha_1", alias = "scram_sha1")]
    ScramSha1,
    /// SCRAM-SHA-256 client proof.
    #[serde(rename = "scram_sha_256", alias = "scram_sha256")]
    ScramSha256,
    /// VNC DES challenge response.
    VncDes,
    /// SIP digest response.
    SipDigest,
    /// CRAM-MD5 response (SMTP, IMAP): HMAC-MD5 of the challenge, which its event carries.
    CramMd5,
    /// POP3 APOP digest: MD5 of the greeting's timestamp and the password.
    Apop,
    /// An SSH public key offered for authentication.
    SshPubkey,
    /// An SNMP community string.
    SnmpCommunity,
    /// An RDP `mstshash` cookie.
    RdpCookie,
    /// HTTP Basic credentials.
    HttpBasic,
    /// A bearer token or API key.
    Token,
}

impl SecretKind {
    /// Every variant, in declaration order.
    pub const ALL: [SecretKind; 17] = [
        SecretKind::Password,
        SecretKind::NtlmsspV1,
        SecretKind::NtlmsspV2,
        SecretKind::MysqlNative,
        SecretKind::MysqlCachingSha2,
        SecretKind::PgMd5,
        SecretKind::ScramSha1,
        SecretKind::ScramSha256,
        SecretKind::VncDes,
        SecretKind::SipDigest,
        SecretKind::CramMd5,
        SecretKind::Apop,
        SecretKind::SshPubkey,
        SecretKind::SnmpCommunity,
        SecretKind::RdpCookie,
        SecretKind::HttpBasic,
        SecretKind::Token,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<SecretKind> {
        SecretKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The wire name (`password`, `ssh_pubkey`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::NtlmsspV1 => "ntlmssp_v1",
            SecretKind::NtlmsspV2 => "ntlmssp_v2",
            SecretKind::MysqlNative => "mysql_native",
            SecretKind::MysqlCachingSha2 => "mysql_caching_sha2",
            SecretKind::PgMd5 => "pg_md5",
            SecretKind::ScramSha1 => "scram_sha_1",
            SecretKind::ScramSha256 => "scram_sha_256",
            SecretKind::VncDes => "vnc_des",
            SecretKind::SipDigest => "sip_digest",
            SecretKind::CramMd5 => "cram_md5",
            SecretKind::Apop => "apop",
            SecretKind::SshPubkey => "ssh_pubkey",
            SecretKind::SnmpCommunity => "snmp_community",
            SecretKind::RdpCookie => "rdp_cookie",
            SecretKind::HttpBasic => "http_basic",
            SecretKind::Token => "token",
        }
    }
}

/// A captured secret in transit. `Debug` redacts it so it reaches storage on
/// purpose and logs never by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret itself; call only where it is meant to be stored.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A credential as captured, whatever the protocol.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Who the peer claimed to be (user name, DN, `DOMAIN\user`, …).
    pub principal: String,
    /// The secret as text, only when it is valid UTF-8 without control characters.
    pub secret_printable: Option<String>,
    /// The exact secret bytes, base64 (standard alphabet, padded).
    pub secret_b64: String,
    /// What form the secret takes.
    pub secret_kind: SecretKind,
    /// Realm or domain the secret belongs to, when the protocol has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

impl Credential {
    /// Builds a credential from the exact secret bytes.
    pub fn new(principal: impl Into<String>, secret: &[u8], kind: SecretKind) -> Self {
        Credential {
            principal: principal.into(),
            secret_printable: printable(secret),
            secret_b64: base64::engine::general_purpose::STANDARD.encode(secret),
            secret_kind: kind,
            realm: None,
        }
    }

    /// Sets the realm.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Decodes the exact secret bytes (None if `secret_b64` is not valid base64).
    pub fn secret_bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.secret_b64)
            .ok()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .field("secret_kind", &self.secret_kind)
            .field("realm", &self.realm)
            .finish()
    }
}

/// The secret as text when it is UTF-8 without control characters.
fn printable(secret: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(secret).ok()?;
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(s.to_owned())
}

/// One captured interaction, the unit of the journal, bus, store and API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7: sortable by creation time, unique across hosts.
    pub id: Uuid,
    /// UTC, microsecond precision.
    #[serde(with = "ts_micros")]
    pub ts: DateTime<Utc>,
    /// Decky name.
    pub decky: String,
    /// Service name (`ssh`, `http`, …).
    pub service: String,
    /// What happened.
    pub event_type: EventType,
    /// Peer address.
    pub src_ip: IpAddr,
    /// Peer port.
    pub src_port: u16,
    /// Decky address the peer reached.
    pub dst_ip: IpAddr,
    /// Decky port the peer reached.
    pub dst_port: u16,
    /// Connection/session the event belongs to.
    #[serde(default)]
    pub session_id: Option<Uuid>,
    /// Service-specific details.
    #[serde(default)]
    pub fields: Fields,
    /// The credential, when the event captured one.
    #[serde(default)]
    pub credential: Option<Credential>,
}

impl Event {
    /// A new event stamped now with a fresh UUIDv7.
    pub fn now(
        decky: impl Into<String>,
        service: impl Into<String>,
        event_type: EventType,
        src: std::net::SocketAddr,
        dst: std::net::SocketAddr,
    ) -> Event {
        Event {
            id: Uuid::now_v7(),
            ts: Utc::now().trunc_subsecs(6),
            decky: decky.into(),
            service: service.into(),
            event_type,
            src_ip: src.ip(),
            src_port: src.port(),
            dst_ip: dst.ip(),
            dst_port: dst.port(),
            session_id: None,
            fields: Fields::new(),
            credential: None,
        }
    }

    /// The event as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising a struct of strings, numbers and JSON maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `ts` as RFC 3339 with exactly six fractional digits and `Z`.
pub mod ts_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises `2026-11-24T22:37:31.123456Z`.
    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    /// Accepts any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::now(
            "decky-01",
            "ssh",
            EventType::LoginAttempt,
            "203.0.113.9:51234".parse().unwrap(),
            "127.42.0.10:22".parse().unwrap(),
        );
        e.session_id = Some(Uuid::now_v7());
        e.fields.insert("method".into(), "password".into());
        e.credential = Some(Credential::new("root", b"hunter2", SecretKind::Password));
        e
    }

    #[test]
    fn json_has_the_documented_top_level_keys() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json_line()).unwrap();
        let obj = v.as_object().unwrap();
        for key in [
            "id",
            "ts",
            "decky",
            "service",
            "event_type",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "session_id",
            "fields",
            "credential",
        ] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        let cred = obj["credential"].as_object().unwrap();
        assert_eq!(cred["principal"], "root");
        assert_eq!(cred["secret_printable"], "hunter2");
        assert_eq!(cred["secret_b64"], "aHVudGVyMg==");
        assert_eq!(cred["secret_kind"], "password");
        assert_eq!(obj["event_type"], "login_attempt");
        let ts = obj["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-24T22:37:31.123456Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn json_round_trips() {
        let e = sample();
        let back: Event = serde_json::from_str(&e.to_json_line()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn printable_is_withheld_for_binary_and_control_characters() {
        let c = Credential::new("u", &[0xff, 0x00, 0x41], SecretKind::Password);
        assert_eq!(c.secret_printable, None);
        assert_eq!(c.secret_bytes().unwrap(), vec![0xff, 0x00, 0x41]);
        let c = Credential::new("u", b"a\tb", SecretKind::Password);
        assert_eq!(c.secret_printable, None);
        let c = Credential::new("u", "pässwörd".as_bytes(), SecretKind::Password);
        assert_eq!(c.secret_printable.as_deref(), Some("pässwörd"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential::new("root", b"hunter2", SecretKind::Password);
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("aHVudGVyMg"),
            "{dbg}"
        );
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn secret_kind_names_round_trip() {
        for k in SecretKind::ALL {
            assert_eq!(SecretKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(SecretKind::parse("rot13"), None);
        // Lines written before the serde name was fixed still read.
        let old: SecretKind = serde_json::from_str("\"scram_sha1\"").unwrap();
        assert_eq!(old, SecretKind::ScramSha1);
    }

    proptest::proptest! {
        #[test]
        fn any_secret_bytes_survive(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let c = Credential::new("p", &bytes, SecretKind::Token);
            proptest::prop_assert_eq!(c.secret_bytes().unwrap(), bytes.clone());
            if let Some(p) = &c.secret_printable {
                proptest::prop_assert_eq!(p.as_bytes(), &bytes[..]);
            }
        }
    }
}
