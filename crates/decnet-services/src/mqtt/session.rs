//! One client connection, answered as Mosquitto 2.0.11 answers it.
//!
//! Until its CONNECT the client has the supervisor's pre-auth deadline; after
//! it, Mosquitto's keepalive (a client silent for 1.5 times its keepalive is
//! dropped without a word). Packets are decoded by [`super::packet`] from a
//! buffer that never holds more than one [`MAX_PACKET`](packet::MAX_PACKET) and a read; a bad
//! packet is a `protocol_error`, answered on 5.0 with the DISCONNECT reason
//! Mosquitto sends (0x81 Malformed Packet, 0x82 Protocol Error), then the
//! connection closes. Nothing reaches the client before the event of what it
//! did is recorded.

use std::time::Duration;

use base64::Engine as _;
use decnet_core::fields::{Command, LoginMethod, LoginOutcome};
use decnet_core::{Credential, EventType, Fields, SecretKind};
use serde_json::{json, Value as Json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::{Instant, MissedTickBehavior};

use super::packet::{
    self, prop, AckKind, Connect, Decoded, Filter, Level, Malformed, Packet, Property, Publish,
    Subscribe, Unsubscribe, Value,
};
use super::sensors::Message;
use super::sys::{SENSOR_PERIOD, SYS_INTERVAL};
use super::{topic, Shared, PAYLOAD_CAP};
use crate::conn::{Conn, LimitTrip};
use crate::kit::artifact;
use crate::service::{ConnCtx, ServiceError};

/// Subscriptions one client may hold (Mosquitto has no limit; this bounds the matching work).
const MAX_SUBS: usize = 256;
/// Retained messages a client may leave on its own connection, and their bytes.
const MAX_OWN_RETAINED: usize = 100;
const MAX_OWN_RETAINED_BYTES: usize = 1024 * 1024;
/// Messages sent to a client per periodic round.
const MAX_PER_ROUND: usize = 64;
/// Output is written out once this much is waiting.
const FLUSH_AT: usize = 64 * 1024;
/// Topic aliases a 5.0 client may set (Mosquitto's CONNACK says 10).
const TOPIC_ALIAS_MAX: u16 = 10;
/// Mosquitto's Receive Maximum in its 5.0 CONNACK.
const RECEIVE_MAX: u16 = 20;

/// 3.x CONNACK return codes.
const RC_BAD_VERSION: u8 = 1;
const RC_IDENTIFIER_REJECTED: u8 = 2;
const RC_NOT_AUTHORISED: u8 = 5;
/// 5.0 reason codes.
const RC5_NOT_AUTHORIZED: u8 = 0x87;
const RC5_BAD_AUTH_METHOD: u8 = 0x8C;
const RC5_NO_SUBSCRIBERS: u8 = 0x10;
const RC5_NO_SUBSCRIPTION: u8 = 0x11;
const RC5_PROTOCOL_ERROR: u8 = 0x82;
const RC5_TOPIC_ALIAS_INVALID: u8 = 0x94;

struct Sub {
    filter: Vec<u8>,
    qos: u8,
    no_local: bool,
}

enum Flow {
    Go,
    Close,
}

/// What a batch of packets came to.
enum Batch {
    Go,
    Close,
    Malformed(Malformed),
}

/// A violation found after decoding: the event's reason and the 5.0 DISCONNECT code.
struct Violation {
    reason: &'static str,
    code: Option<u8>,
}

/// One client connection.
pub struct Session<'a> {
    sh: &'a Shared,
    ctx: &'a ConnCtx,
    level: Option<Level>,
    keepalive: u16,
    client_id: String,
    username: Option<String>,
    subs: Vec<Sub>,
    own_retained: Vec<(Vec<u8>, Vec<u8>)>,
    aliases: Vec<(u16, Vec<u8>)>,
    next_pid: u16,
    sensor_round: u64,
    out: Vec<u8>,
}

/// The text of a payload when it is printable UTF-8 (tabs and line breaks allowed).
fn printable(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')))
    .then_some(s)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A payload's fields: its text (or base64) up to [`PAYLOAD_CAP`], size and hash.
fn payload_fields(f: &mut Fields, prefix: &str, payload: &[u8]) {
    let kept = payload
        .get(..PAYLOAD_CAP.min(payload.len()))
        .unwrap_or(payload);
    match printable(kept) {
        Some(t) => {
            f.insert(prefix.into(), t.into());
        }
        None => {
            // A cut may split a UTF-8 sequence: the text up to it is still text.
            let text = std::str::from_utf8(kept)
                .err()
                .filter(|e| e.error_len().is_none() && payload.len() > PAYLOAD_CAP)
                .and_then(|e| kept.get(..e.valid_up_to()))
                .and_then(printable);
            match text {
                Some(t) => f.insert(prefix.into(), t.into()),
                None => f.insert(
                    format!("{prefix}_b64"),
                    base64::engine::general_purpose::STANDARD
                        .encode(kept)
                        .into(),
                ),
            };
        }
    }
    f.insert(format!("{prefix}_size"), payload.len().into());
    f.insert(
        format!("{prefix}_sha256"),
        hex::encode(Sha256::digest(payload)).into(),
    );
    if payload.len() > PAYLOAD_CAP {
        f.insert(format!("{prefix}_truncated"), true.into());
    }
}

/// 5.0 properties as an event field: names to values, user properties as pairs.
pub fn properties_json(props: &[Property]) -> Json {
    let mut m = serde_json::Map::new();
    let mut user = Vec::new();
    for p in props {
        let v = match &p.value {
            Value::Byte(b) => json!(b),
            Value::U16(v) => json!(v),
            Value::U32(v) | Value::Varint(v) => json!(v),
            Value::Str(s) => json!(lossy(s)),
            Value::Bin(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
            Value::Pair(k, v) => {
                user.push(json!([lossy(k), lossy(v)]));
                continue;
            }
        };
        m.insert(packet::property_name(p.id).into(), v);
    }
    if !user.is_empty() {
        m.insert("user_property".into(), Json::Array(user));
    }
    Json::Object(m)
}

fn find_str(props: &[Property], id: u8) -> Option<&[u8]> {
    props.iter().find_map(|p| match &p.value {
        Value::Str(s) if p.id == id => Some(s.as_slice()),
        _ => None,
    })
}

fn find_u16(props: &[Property], id: u8) -> Option<u16> {
    props.iter().find_map(|p| match p.value {
        Value::U16(v) if p.id == id => Some(v),
        _ => None,
    })
}

/// Mosquitto's assigned client identifier: `auto-` and a UUID in capitals.
fn auto_client_id() -> String {
    format!(
        "auto-{}",
        uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
    )
}

impl<'a> Session<'a> {
    /// A session of `ctx` on the broker `sh`.
    pub fn new(sh: &'a Shared, ctx: &'a ConnCtx) -> Session<'a> {
        Session {
            sh,
            ctx,
            level: None,
            keepalive: 0,
            client_id: String::new(),
            username: None,
            subs: Vec::new(),
            own_retained: Vec::new(),
            aliases: Vec::new(),
            next_pid: 0,
            sensor_round: 0,
            out: Vec::new(),
        }
    }

    /// Serves the connection until it ends.
    pub async fn run(mut self, mut conn: Conn) -> Result<(), ServiceError> {
        let trip = conn.trip_flag();
        let pre_auth = self.ctx.accepted + self.ctx.decky.limits.pre_auth_timeout;
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut last_in = Instant::now();
        let start = Instant::now();
        let mut sys_tick = tokio::time::interval_at(start + SYS_INTERVAL, SYS_INTERVAL);
        sys_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut sensor_tick = tokio::time::interval_at(start + SENSOR_PERIOD, SENSOR_PERIOD);
        sensor_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            // Every whole packet in the buffer, in order.
            let mut pos = 0;
            let mut batch = Batch::Go;
            while pos < pending.len() {
                let at = pending.get(pos..).unwrap_or(&[]);
                match packet::decode(at, self.level) {
                    Ok(Decoded::Incomplete) => break,
                    Ok(Decoded::Packet(p, n)) => {
                        pos += n;
                        if let Flow::Close = self.handle(p, &mut conn).await {
                            batch = Batch::Close;
                            break;
                        }
                    }
                    Err(m) => {
                        batch = Batch::Malformed(m);
                        break;
                    }
                }
            }
            pending.drain(..pos.min(pending.len()));
            self.flush(&mut conn).await?;
            match batch {
                Batch::Go => {}
                Batch::Close => {
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
                Batch::Malformed(m) => return self.malformed(m, &mut conn).await,
            }
            let deadline = match self.level {
                None => pre_auth,
                Some(_) if self.keepalive > 0 => {
                    last_in + Duration::from_millis(u64::from(self.keepalive) * 1500)
                }
                // Keepalive 0: only the supervisor's idle deadline applies.
                Some(_) => start + Duration::from_secs(86_400 * 365),
            };
            let connected = self.level.is_some() && !self.subs.is_empty();
            tokio::select! {
                r = conn.read(&mut chunk) => {
                    let n = match r {
                        Ok(0) | Err(_) => {
                            if self.level.is_none() && trip.get() != Some(LimitTrip::Idle) {
                                let mut e = self.ctx.event(EventType::Scan);
                                e.fields.insert("bytes".into(), conn.bytes_in().into());
                                e.fields.insert("partial_packet".into(), (!pending.is_empty()).into());
                                self.ctx.emit(e).await;
                            }
                            return Ok(());
                        }
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                    last_in = Instant::now();
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.level.is_none() {
                        let mut e = self.ctx.event(EventType::LimitExceeded);
                        e.fields.insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
                        e.fields.insert("max_secs".into(), self.ctx.decky.limits.pre_auth_timeout.as_secs().into());
                        self.ctx.emit(e).await;
                    }
                    // Mosquitto drops a client silent past 1.5 keepalives without a word.
                    return Ok(());
                }
                _ = sys_tick.tick(), if connected => {
                    let now = chrono::Utc::now().timestamp();
                    let msgs = self.sh.sys.update(now);
                    self.deliver_live(&msgs);
                    self.flush(&mut conn).await?;
                }
                _ = sensor_tick.tick(), if connected => {
                    let now = chrono::Utc::now().timestamp();
                    let msgs = self.sh.plant.update(now, self.sensor_round);
                    self.sensor_round += 1;
                    self.deliver_live(&msgs);
                    self.flush(&mut conn).await?;
                }
            }
        }
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), ServiceError> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            conn.write_all(&out).await?;
            conn.flush().await?;
        }
        Ok(())
    }

    async fn malformed(&mut self, m: Malformed, conn: &mut Conn) -> Result<(), ServiceError> {
        let mut e = self.ctx.event(EventType::ProtocolError);
        e.fields.insert("reason".into(), m.as_str().into());
        if let Malformed::NotConnect(t) | Malformed::ServerType(t) = m {
            e.fields.insert("packet_type".into(), t.into());
        }
        if let Malformed::Property(id) = m {
            e.fields.insert("property".into(), id.into());
        }
        self.level_fields(&mut e.fields);
        self.ctx.emit(e).await;
        if self.level == Some(Level::V5) {
            if let Some(code) = m.disconnect() {
                let _ = conn.write_all(&packet::disconnect(code)).await;
            }
        }
        let _ = conn.shutdown().await;
        Err(ServiceError::Protocol(m.as_str().to_owned()))
    }

    async fn violation(&mut self, v: Violation, conn: &mut Conn) -> Result<Flow, ServiceError> {
        let mut e = self.ctx.event(EventType::ProtocolError);
        e.fields.insert("reason".into(), v.reason.into());
        self.level_fields(&mut e.fields);
        self.ctx.emit(e).await;
        if self.level == Some(Level::V5) {
            if let Some(code) = v.code {
                self.out.extend_from_slice(&packet::disconnect(code));
                self.flush(conn).await?;
            }
        }
        Ok(Flow::Close)
    }

    fn level_fields(&self, f: &mut Fields) {
        if let Some(l) = self.level {
            f.insert("mqtt_version".into(), l.as_str().into());
            f.insert("client_id".into(), self.client_id.clone().into());
        }
    }

    /// Answers one packet. A service error (the socket) ends the session like a close.
    async fn handle(&mut self, p: Packet, conn: &mut Conn) -> Flow {
        let r = match p {
            Packet::Connect(c) if self.level.is_none() => Ok(self.connect(c).await),
            Packet::ConnectLevel { level } if self.level.is_none() => {
                let mut e = self.ctx.event(EventType::ProtocolError);
                e.fields
                    .insert("reason".into(), "unacceptable_protocol_version".into());
                e.fields.insert("protocol_level".into(), level.into());
                self.ctx.emit(e).await;
                self.out
                    .extend_from_slice(&packet::connack(None, false, RC_BAD_VERSION, &[]));
                Ok(Flow::Close)
            }
            Packet::Connect(_) | Packet::ConnectLevel { .. } => {
                let v = Violation {
                    reason: "second_connect",
                    code: None,
                };
                self.violation(v, conn).await
            }
            Packet::Publish(pb) => self.publish(pb, conn).await,
            Packet::Ack(a) => {
                let level = self.level.unwrap_or(Level::V311);
                match a.kind {
                    // Mosquitto completes a release it never saw the publish of, too.
                    AckKind::PubRel => self.out.extend_from_slice(&packet::ack(
                        level,
                        AckKind::PubComp,
                        a.packet_id,
                        0,
                    )),
                    AckKind::PubRec => self.out.extend_from_slice(&packet::ack(
                        level,
                        AckKind::PubRel,
                        a.packet_id,
                        0,
                    )),
                    AckKind::PubAck | AckKind::PubComp => {}
                }
                Ok(Flow::Go)
            }
            Packet::Subscribe(s) => self.subscribe(s, conn).await,
            Packet::Unsubscribe(u) => self.unsubscribe(u).await,
            Packet::PingReq => {
                self.out.extend_from_slice(&packet::PINGRESP);
                Ok(Flow::Go)
            }
            Packet::Disconnect { .. } => Ok(Flow::Close),
            // No authentication plugin: an AUTH ends the connection, as with Mosquitto.
            Packet::Auth { .. } => Ok(Flow::Close),
        };
        match r {
            Ok(f) => {
                if self.out.len() >= FLUSH_AT && self.flush(conn).await.is_err() {
                    return Flow::Close;
                }
                f
            }
            Err(_) => Flow::Close,
        }
    }

    fn command(&self, line: String) -> decnet_core::Event {
        let mut c = Command::new(line);
        c.user = self.username.clone();
        let mut e = self.ctx.event_of(&c);
        self.level_fields(&mut e.fields);
        e
    }

    async fn connect(&mut self, c: Connect) -> Flow {
        let v5 = c.level == Level::V5;
        let mut f = Fields::new();
        f.insert("mqtt_version".into(), c.level.as_str().into());
        f.insert("protocol_level".into(), c.level.byte().into());
        f.insert("client_id".into(), lossy(&c.client_id).into());
        f.insert("clean_session".into(), c.clean.into());
        f.insert("keepalive".into(), c.keepalive.into());
        if c.bridge {
            f.insert("bridge".into(), true.into());
        }
        if v5 {
            f.insert("properties".into(), properties_json(&c.properties));
        }
        if let Some(w) = &c.will {
            let mut wf = Fields::new();
            wf.insert("topic".into(), lossy(&w.topic).into());
            wf.insert("qos".into(), w.qos.into());
            wf.insert("retain".into(), w.retain.into());
            payload_fields(&mut wf, "payload", &w.payload);
            if v5 {
                wf.insert("properties".into(), properties_json(&w.properties));
            }
            f.insert("will".into(), Json::Object(wf));
        }
        let utf8_ok = std::str::from_utf8(&c.client_id).is_ok()
            && c.username
                .as_deref()
                .is_none_or(|u| std::str::from_utf8(u).is_ok());
        let username = c.username.as_deref().map(lossy);
        let anonymous = c.username.is_none();
        f.insert("anonymous".into(), anonymous.into());

        let mut assigned = None;
        let refused = if c.client_id.is_empty() && (c.level == Level::V31 || (!c.clean && !v5)) {
            Some((RC_IDENTIFIER_REJECTED, "identifier_rejected"))
        } else if v5 && find_str(&c.properties, prop::AUTHENTICATION_METHOD).is_some() {
            Some((RC5_BAD_AUTH_METHOD, "bad_authentication_method"))
        } else {
            None
        };
        let admit = match refused {
            Some(_) => None,
            None => self.sh.admit(username.as_deref(), c.password.as_deref()),
        };
        let code = match (refused, admit) {
            (Some((code, why)), _) => {
                f.insert("refused".into(), why.into());
                code
            }
            (None, Some(a)) => {
                f.insert("accepted_by".into(), a.as_str().into());
                0
            }
            (None, None) => {
                f.insert("refused".into(), "not_authorized".into());
                if v5 {
                    RC5_NOT_AUTHORIZED
                } else {
                    RC_NOT_AUTHORISED
                }
            }
        };
        if code == 0 && v5 && c.client_id.is_empty() {
            let id = auto_client_id();
            f.insert("assigned_client_id".into(), id.clone().into());
            assigned = Some(id);
        }
        f.insert("connack".into(), code.into());
        let method = match (&c.username, &c.password) {
            (Some(_), Some(_)) | (None, Some(_)) => LoginMethod::Password,
            _ => LoginMethod::None,
        };
        let cred = Credential::new(
            username.clone().unwrap_or_default(),
            c.password.as_deref().unwrap_or_default(),
            SecretKind::Password,
        );
        let outcome = if code == 0 {
            LoginOutcome::Success
        } else {
            LoginOutcome::Attempt
        };
        self.ctx.login(outcome, method, cred, f).await;
        self.client_id = assigned.clone().unwrap_or_else(|| lossy(&c.client_id));
        if !utf8_ok {
            // Mosquitto drops a CONNECT whose client id or user name is not UTF-8.
            let mut e = self.ctx.event(EventType::ProtocolError);
            e.fields.insert("reason".into(), "malformed_utf8".into());
            self.ctx.emit(e).await;
            return Flow::Close;
        }
        if code != 0 {
            let level = Some(c.level);
            self.out
                .extend_from_slice(&packet::connack(level, false, code, &[]));
            return Flow::Close;
        }
        let mut props = vec![Property {
            id: prop::TOPIC_ALIAS_MAXIMUM,
            value: Value::U16(TOPIC_ALIAS_MAX),
        }];
        if let Some(id) = assigned {
            props.push(Property {
                id: prop::ASSIGNED_CLIENT_ID,
                value: Value::Str(id.into_bytes()),
            });
        }
        props.push(Property {
            id: prop::RECEIVE_MAXIMUM,
            value: Value::U16(RECEIVE_MAX),
        });
        self.level = Some(c.level);
        self.keepalive = c.keepalive;
        self.username = username;
        self.ctx.pre_auth.done();
        self.out
            .extend_from_slice(&packet::connack(Some(c.level), false, 0, &props));
        Flow::Go
    }

    fn level(&self) -> Level {
        self.level.unwrap_or(Level::V311)
    }

    fn pid(&mut self) -> u16 {
        self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
        self.next_pid
    }

    /// Queues a PUBLISH to the client.
    fn send(&mut self, topic: &[u8], payload: &[u8], qos: u8, retain: bool) {
        let pid = if qos > 0 { self.pid() } else { 0 };
        let wire = packet::publish_to(self.level(), topic, payload, qos, retain, pid);
        self.out.extend_from_slice(&wire);
    }

    fn subscribed(&self, topic: &[u8]) -> bool {
        self.subs.iter().any(|s| topic::matches(&s.filter, topic))
    }

    /// Sends periodic updates matching the client's subscriptions, at most [`MAX_PER_ROUND`].
    fn deliver_live(&mut self, msgs: &[Message]) {
        let mut sent = 0;
        for m in msgs {
            if sent == MAX_PER_ROUND {
                break;
            }
            if self.subscribed(m.topic.as_bytes()) {
                self.send(m.topic.as_bytes(), &m.payload, 0, false);
                sent += 1;
            }
        }
    }

    async fn publish(&mut self, mut pb: Publish, conn: &mut Conn) -> Result<Flow, ServiceError> {
        let level = self.level();
        let alias = find_u16(&pb.properties, prop::TOPIC_ALIAS);
        let mut bad: Option<Violation> = None;
        if let Some(a) = alias {
            if a == 0 || a > TOPIC_ALIAS_MAX {
                bad = Some(Violation {
                    reason: "topic_alias_invalid",
                    code: Some(RC5_TOPIC_ALIAS_INVALID),
                });
            } else if pb.topic.is_empty() {
                match self.aliases.iter().find(|(k, _)| *k == a) {
                    Some((_, t)) => pb.topic = t.clone(),
                    None => {
                        bad = Some(Violation {
                            reason: "topic_alias_unknown",
                            code: Some(RC5_PROTOCOL_ERROR),
                        })
                    }
                }
            } else {
                self.aliases.retain(|(k, _)| *k != a);
                self.aliases.push((a, pb.topic.clone()));
            }
        }
        let topic_text = lossy(&pb.topic);
        let mut e = self.command(format!("PUBLISH {topic_text}"));
        e.fields.insert("topic".into(), topic_text.into());
        e.fields.insert("qos".into(), pb.qos.into());
        e.fields.insert("retain".into(), pb.retain.into());
        if pb.dup {
            e.fields.insert("dup".into(), true.into());
        }
        if let Some(id) = pb.packet_id {
            e.fields.insert("packet_id".into(), id.into());
        }
        if level == Level::V5 {
            e.fields
                .insert("properties".into(), properties_json(&pb.properties));
        }
        payload_fields(&mut e.fields, "payload", &pb.payload);
        if pb.payload.len() > PAYLOAD_CAP {
            let kept =
                artifact::keep(&self.ctx.decky.artifacts_dir(self.ctx.service), &pb.payload).await;
            e.fields
                .insert("artifact".into(), kept.path.display().to_string().into());
            e.fields.insert("stored".into(), kept.stored.into());
        }
        self.ctx.emit(e).await;
        if bad.is_none() && !topic::valid_name(&pb.topic) {
            bad = Some(Violation {
                reason: "invalid_topic_name",
                code: Some(RC5_PROTOCOL_ERROR),
            });
        }
        if let Some(v) = bad {
            return self.violation(v, conn).await;
        }
        // Delivered back on the client's own matching subscriptions.
        let echo = self
            .subs
            .iter()
            .filter(|s| !s.no_local && topic::matches(&s.filter, &pb.topic))
            .map(|s| s.qos)
            .max();
        match (pb.qos, pb.packet_id) {
            (1, Some(id)) => {
                let reason = if echo.is_some() {
                    0
                } else {
                    RC5_NO_SUBSCRIBERS
                };
                self.out
                    .extend_from_slice(&packet::ack(level, AckKind::PubAck, id, reason));
            }
            (2, Some(id)) => {
                self.out
                    .extend_from_slice(&packet::ack(level, AckKind::PubRec, id, 0));
            }
            _ => {}
        }
        if let Some(q) = echo {
            self.send(&pb.topic, &pb.payload, q.min(pb.qos), false);
        }
        if pb.retain && !pb.topic.starts_with(b"$") {
            self.keep_retained(pb.topic, pb.payload);
        }
        Ok(Flow::Go)
    }

    fn keep_retained(&mut self, topic: Vec<u8>, payload: Vec<u8>) {
        self.own_retained.retain(|(t, _)| *t != topic);
        let used: usize = self
            .own_retained
            .iter()
            .map(|(t, p)| t.len() + p.len())
            .sum();
        if self.own_retained.len() < MAX_OWN_RETAINED
            && used + topic.len() + payload.len() <= MAX_OWN_RETAINED_BYTES
        {
            // An empty payload clears the topic: kept as a tombstone over the bait.
            self.own_retained.push((topic, payload));
        }
    }

    /// Every retained message the broker holds now: `$SYS`, the bait, the client's own.
    fn retained(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let now = chrono::Utc::now().timestamp();
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = self
            .sh
            .sys
            .messages(now)
            .into_iter()
            .chain(self.sh.plant.retained(now))
            .map(|m| (m.topic.into_bytes(), m.payload))
            .filter(|(t, _)| !self.own_retained.iter().any(|(o, _)| o == t))
            .collect();
        out.extend(
            self.own_retained
                .iter()
                .filter(|(_, p)| !p.is_empty())
                .cloned(),
        );
        out
    }

    async fn subscribe(&mut self, s: Subscribe, conn: &mut Conn) -> Result<Flow, ServiceError> {
        let level = self.level();
        let list: Vec<String> = s.filters.iter().map(|f| lossy(&f.filter)).collect();
        let mut e = self.command(format!("SUBSCRIBE {}", list.join(" ")));
        let filters: Vec<Json> = s
            .filters
            .iter()
            .map(|f: &Filter| {
                if level == Level::V5 {
                    json!({
                        "filter": lossy(&f.filter),
                        "qos": f.qos,
                        "no_local": f.no_local,
                        "retain_as_published": f.retain_as_published,
                        "retain_handling": f.retain_handling,
                    })
                } else {
                    json!({"filter": lossy(&f.filter), "qos": f.qos})
                }
            })
            .collect();
        e.fields.insert("filters".into(), Json::Array(filters));
        e.fields.insert("packet_id".into(), s.packet_id.into());
        if level == Level::V5 {
            e.fields
                .insert("properties".into(), properties_json(&s.properties));
        }
        self.ctx.emit(e).await;
        if s.filters.iter().any(|f| !topic::valid_filter(&f.filter)) {
            // Mosquitto 2.0.11 drops the client; a 5.0 one hears Malformed Packet.
            let v = Violation {
                reason: "invalid_topic_filter",
                code: Some(0x81),
            };
            return self.violation(v, conn).await;
        }
        let codes: Vec<u8> = s.filters.iter().map(|f| f.qos).collect();
        self.out
            .extend_from_slice(&packet::suback(level, s.packet_id, &codes));
        let mut fresh = Vec::new();
        for f in &s.filters {
            let existed = self.subs.iter().any(|x| x.filter == f.filter);
            self.subs.retain(|x| x.filter != f.filter);
            if self.subs.len() < MAX_SUBS {
                self.subs.push(Sub {
                    filter: f.filter.clone(),
                    qos: f.qos,
                    no_local: f.no_local,
                });
            }
            let wants_retained = match f.retain_handling {
                0 => true,
                1 => !existed,
                _ => false,
            };
            // Shared subscriptions get no retained messages.
            if wants_retained && !f.filter.starts_with(b"$share/") {
                fresh.push(f.filter.clone());
            }
        }
        if !fresh.is_empty() {
            for (t, p) in self.retained() {
                if fresh.iter().any(|f| topic::matches(f, &t)) {
                    self.send(&t, &p, 0, true);
                }
            }
        }
        Ok(Flow::Go)
    }

    async fn unsubscribe(&mut self, u: Unsubscribe) -> Result<Flow, ServiceError> {
        let level = self.level();
        let list: Vec<String> = u.filters.iter().map(|f| lossy(f)).collect();
        let mut e = self.command(format!("UNSUBSCRIBE {}", list.join(" ")));
        e.fields.insert(
            "filters".into(),
            Json::Array(list.into_iter().map(Json::from).collect()),
        );
        e.fields.insert("packet_id".into(), u.packet_id.into());
        if level == Level::V5 {
            e.fields
                .insert("properties".into(), properties_json(&u.properties));
        }
        self.ctx.emit(e).await;
        let mut codes = Vec::with_capacity(u.filters.len());
        for f in &u.filters {
            let had = self.subs.iter().any(|s| s.filter == *f);
            self.subs.retain(|s| s.filter != *f);
            codes.push(if had { 0 } else { RC5_NO_SUBSCRIPTION });
        }
        self.out
            .extend_from_slice(&packet::unsuback(level, u.packet_id, &codes));
        Ok(Flow::Go)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use decnet_core::config::model::{DeckyConfig, Limits, ServiceConfig};
    use decnet_core::persona::{distro, OsFamily};
    use decnet_core::seed::InstanceSeed;
    use decnet_core::Event;
    use tokio::io::DuplexStream;
    use tokio::sync::mpsc;

    use crate::service::{DeckyRuntime, Emitter, Service as _};

    static LISTENER: decnet_core::catalog::ListenerInfo =
        decnet_core::catalog::ListenerInfo::tcp("mqtt", 1883);

    /// A broker session over an in-memory pipe: the client's end and the events.
    fn session() -> (
        DuplexStream,
        mpsc::Receiver<Event>,
        tokio::task::JoinHandle<()>,
    ) {
        let decky = Arc::new(DeckyRuntime {
            config: DeckyConfig {
                name: "mqtt-unit".into(),
                ip: "127.42.0.10".parse().unwrap(),
                hostname: "gw01".into(),
                os_family: OsFamily::Linux,
                distro: distro("debian").unwrap(),
                windows: None,
                archetype: None,
                services: Vec::new(),
            },
            seed: InstanceSeed::derive_for(b"test-installation", "mqtt-unit"),
            data_dir: std::path::PathBuf::from("/nonexistent"),
            limits: Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        });
        let cfg = ServiceConfig {
            name: "mqtt".into(),
            listeners: Vec::new(),
            persona: Default::default(),
        };
        let inst = super::super::Mqtt.instance(decky.clone(), &cfg).unwrap();
        let (tx, rx) = mpsc::channel(1024);
        let peer = "203.0.113.9:51234".parse().unwrap();
        let local = "127.42.0.10:1883".parse().unwrap();
        let ctx = ConnCtx {
            decky: decky.clone(),
            service: "mqtt",
            listener: &LISTENER,
            peer,
            local,
            session_id: uuid::Uuid::now_v7(),
            accepted: Instant::now(),
            emitter: Emitter::new(tx),
            abort: Default::default(),
            pre_auth: Default::default(),
            slots: Default::default(),
        };
        let (client, server) = tokio::io::duplex(1 << 20);
        let conn = Conn::new(Box::new(server), peer, local, &decky.limits);
        let task = tokio::spawn(async move {
            let _ = inst.serve(conn, ctx).await;
        });
        (client, rx, task)
    }

    fn connect(keepalive: u16) -> Vec<u8> {
        let mut body = b"\x00\x04MQTT\x04\x02".to_vec();
        body.extend_from_slice(&keepalive.to_be_bytes());
        body.extend_from_slice(b"\x00\x04unit");
        let mut p = vec![0x10, body.len() as u8];
        p.extend(body);
        p
    }

    /// One whole packet from the broker.
    async fn packet(c: &mut DuplexStream) -> Option<Vec<u8>> {
        let mut head = [0u8; 1];
        c.read_exact(&mut head).await.ok()?;
        let mut len = 0usize;
        let mut raw = head.to_vec();
        for i in 0..4 {
            let b = c.read_u8().await.ok()?;
            raw.push(b);
            len |= usize::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).await.ok()?;
        raw.extend(body);
        Some(raw)
    }

    /// The topic of a PUBLISH from the broker (3.1.1).
    fn topic_of(p: &[u8]) -> String {
        let i = 1 + p[1..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
        let n = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
        String::from_utf8(p[i + 2..i + 2 + n].to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_silent_past_one_and_a_half_keepalives_is_dropped() {
        let (mut c, _rx, task) = session();
        c.write_all(&connect(10)).await.unwrap();
        assert_eq!(packet(&mut c).await.unwrap(), b"\x20\x02\x00\x00");
        let t0 = Instant::now();
        // A ping inside the window keeps it alive and restarts the count.
        tokio::time::sleep(Duration::from_secs(14)).await;
        c.write_all(&[0xC0, 0]).await.unwrap();
        assert_eq!(packet(&mut c).await.unwrap(), packet::PINGRESP);
        assert_eq!(packet(&mut c).await, None, "closed without a word");
        let waited = Instant::now() - t0;
        assert!(
            waited >= Duration::from_secs(29) && waited < Duration::from_secs(30),
            "{waited:?}"
        );
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn subscribers_get_sys_every_ten_seconds_and_readings_every_thirty() {
        let (mut c, _rx, _task) = session();
        c.write_all(&connect(0)).await.unwrap();
        packet(&mut c).await.unwrap();
        // SUBSCRIBE `$SYS/broker/uptime` and `#`.
        let mut sub = vec![0x82, 0, 0, 7];
        for f in [&b"$SYS/broker/uptime"[..], b"#"] {
            sub.extend_from_slice(&(f.len() as u16).to_be_bytes());
            sub.extend_from_slice(f);
            sub.push(0);
        }
        sub[1] = (sub.len() - 2) as u8;
        c.write_all(&sub).await.unwrap();
        assert_eq!(packet(&mut c).await.unwrap(), b"\x90\x04\x00\x07\x00\x00");
        let t0 = Instant::now();
        let mut retained = Vec::new();
        let mut live: Vec<(Duration, String)> = Vec::new();
        while Instant::now() - t0 < Duration::from_secs(95) {
            let Ok(Some(p)) = tokio::time::timeout(Duration::from_secs(100), packet(&mut c)).await
            else {
                break;
            };
            if p[0] == 0x31 {
                retained.push(topic_of(&p));
            } else {
                assert_eq!(p[0], 0x30, "live messages are not retained");
                live.push((Instant::now() - t0, topic_of(&p)));
            }
        }
        assert_eq!(retained[0], "$SYS/broker/uptime");
        assert!(retained.len() >= 5, "the plant's readings: {retained:?}");
        let uptimes: Vec<u64> = live
            .iter()
            .filter(|(_, t)| t == "$SYS/broker/uptime")
            .map(|(d, _)| d.as_secs())
            .collect();
        assert_eq!(uptimes, (1..=10).map(|n| n * 10).collect::<Vec<_>>());
        let readings: Vec<u64> = live
            .iter()
            .filter(|(_, t)| !t.starts_with('$'))
            .map(|(d, _)| d.as_secs())
            .collect();
        assert!(!readings.is_empty());
        assert!(readings.iter().all(|s| s % 30 == 0), "{readings:?}");
        // Bounded: no more than one round's cap at each tick.
        assert!(live.len() <= 12 * MAX_PER_ROUND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_connects_hits_the_pre_auth_deadline() {
        let (mut c, mut rx, task) = session();
        c.write_all(b"\x10\x20").await.unwrap();
        assert_eq!(packet(&mut c).await, None);
        task.await.unwrap();
        let e = rx.recv().await.unwrap();
        assert_eq!(e.event_type, EventType::LimitExceeded);
        assert_eq!(e.fields["limit"], "pre_auth_timeout");
    }

    #[test]
    fn payloads_are_text_when_printable_else_base64_and_capped() {
        let mut f = Fields::new();
        payload_fields(&mut f, "payload", b"{\"t\":21.5}\n");
        assert_eq!(f["payload"], "{\"t\":21.5}\n");
        assert_eq!(f["payload_size"], 11);
        assert!(!f.contains_key("payload_truncated"));
        let mut f = Fields::new();
        payload_fields(&mut f, "payload", b"\x7fELF\x00");
        assert_eq!(f["payload_b64"], "f0VMRgA=");
        let big = "é".repeat(PAYLOAD_CAP);
        let mut f = Fields::new();
        payload_fields(&mut f, "payload", big.as_bytes());
        assert_eq!(f["payload_truncated"], true);
        assert_eq!(f["payload"].as_str().unwrap().len(), PAYLOAD_CAP);
        assert_eq!(f["payload_size"], big.len());
    }

    #[test]
    fn auto_ids_look_like_mosquittos() {
        let id = auto_client_id();
        assert!(id.starts_with("auto-"), "{id}");
        assert_eq!(id.len(), 41);
        assert_eq!(id[5..].to_ascii_uppercase(), id[5..]);
    }

    #[test]
    fn properties_become_named_fields() {
        let j = properties_json(&[
            Property {
                id: 0x11,
                value: Value::U32(60),
            },
            Property {
                id: 0x26,
                value: Value::Pair(b"k".to_vec(), b"v".to_vec()),
            },
            Property {
                id: 0x09,
                value: Value::Bin(vec![1, 2]),
            },
        ]);
        assert_eq!(
            j,
            json!({"session_expiry_interval": 60, "user_property": [["k", "v"]], "correlation_data": "AQI="})
        );
    }
}
