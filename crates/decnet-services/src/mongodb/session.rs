//! One connection: messages read under caps and deadlines, each answered as
//! mongod answers it, every command recorded before its reply goes out.

use decnet_core::fields::{names, Command, LoginMethod, LoginOutcome, Query};
use decnet_core::{Credential, Event, EventType, Fields, SecretKind};

use super::bson::{Document, Value};
use super::commands::{self, Answer, ConnState, Note};
use super::wire::{self, Frame, Recv, Request, Wire};
use super::Shared;
use crate::conn::{Conn, LimitTrip};
use crate::service::{ConnCtx, ServiceError};

/// Largest message taken before the client has sent one well-formed message
/// or logged in (a driver's handshake is a few hundred bytes).
const PRE_AUTH_CAP: usize = 1024 * 1024;
/// Largest message buffered once logged in: one maximal document and its envelope.
const MESSAGE_CAP: usize = super::bson::MAX_DOCUMENT + 64 * 1024;
/// Message bytes one connection may send in all.
const CONNECTION_BUDGET: usize = 256 * 1024 * 1024;
/// Longest an awaitable `hello` is held (drivers ask for their heartbeat, 10 s).
const MAX_AWAIT_MS: u64 = 30_000;
/// Longest command text kept in an event.
const EVENT_TEXT_MAX: usize = 64 * 1024;

/// What mongod 5.1+ says to an OP_QUERY command other than the handshake.
fn unsupported_op_query(name: &str) -> Document {
    commands::error(
        352,
        "UnsupportedOpQueryCommand",
        format!("Unsupported OP_QUERY command: {name}. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"),
    )
}

fn clip(mut s: String) -> String {
    if s.len() > EVENT_TEXT_MAX {
        let mut end = EVENT_TEXT_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The client metadata as event fields.
fn metadata_fields(meta: &Document, f: &mut Fields) {
    let sub = |a: &str, b: &str| {
        meta.get(a)
            .and_then(Value::as_doc)
            .and_then(|d| d.str(b))
            .map(str::to_owned)
    };
    for (field, v) in [
        ("client_name", sub("driver", "name")),
        ("client_version", sub("driver", "version")),
        ("client_os", sub("os", "type")),
        ("client_os_name", sub("os", "name")),
        ("client_arch", sub("os", "architecture")),
        ("program_name", sub("application", "name")),
        ("client_platform", meta.str("platform").map(str::to_owned)),
    ] {
        if let Some(v) = v {
            f.insert(field.into(), v.into());
        }
    }
    f.insert("client_metadata".into(), meta.to_json());
}

pub(super) async fn run(
    sh: &Shared,
    ctx: &ConnCtx,
    conn: Conn,
    id: i32,
) -> Result<(), ServiceError> {
    let trip = conn.trip_flag();
    let mut w = Wire::new(conn, PRE_AUTH_CAP, CONNECTION_BUDGET);
    let mut st = ConnState::new(id, ctx.peer.to_string(), ctx.local.port());
    let deadline = ctx.accepted + ctx.decky.limits.pre_auth_timeout;
    let mut served = 0u64;
    loop {
        let dl = (!ctx.pre_auth.is_done()).then_some(deadline);
        let msg = match w.recv(dl).await {
            Recv::Message(m) => m,
            Recv::Eof { partial } => {
                if partial > 0 {
                    return Err(ctx
                        .protocol_error(format!(
                            "truncated message: connection closed after {partial} bytes of it"
                        ))
                        .await);
                }
                if served == 0 && trip.get() != Some(LimitTrip::Idle) {
                    let mut e = ctx.event(EventType::Scan);
                    e.fields.insert("requests".into(), 0.into());
                    ctx.emit(e).await;
                }
                return Ok(());
            }
            Recv::Deadline => {
                let mut e = ctx.event(EventType::LimitExceeded);
                e.fields
                    .insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
                e.fields.insert(
                    "max_secs".into(),
                    ctx.decky.limits.pre_auth_timeout.as_secs().into(),
                );
                ctx.emit(e).await;
                return Ok(());
            }
            Recv::Refused(Frame::Http) => {
                let err = ctx.protocol_error("http_on_driver_port").await;
                w.send(wire::HTTP_RESPONSE).await?;
                w.shutdown().await;
                return Err(err);
            }
            Recv::Refused(Frame::BadLength(n)) => {
                return Err(ctx
                    .protocol_error(format!(
                        "message length {n} is invalid (min 16, max {})",
                        wire::MAX_MESSAGE_SIZE
                    ))
                    .await)
            }
            Recv::Refused(Frame::TooLarge(n)) => {
                return Err(ctx
                    .protocol_error(format!(
                        "message of {n} bytes is larger than this decoy buffers"
                    ))
                    .await)
            }
            Recv::Refused(Frame::Message(_) | Frame::Incomplete) => return Ok(()),
            Recv::Budget => {
                return Err(ctx
                    .protocol_error("connection sent more message bytes than its budget")
                    .await)
            }
        };
        served += 1;
        let (h, req) = match wire::parse(&msg) {
            Ok(x) => x,
            Err(e) => return Err(ctx.protocol_error(format!("bad message: {e}")).await),
        };
        match req {
            Request::Msg(m) => {
                let mut body = m.body;
                for (id, docs) in m.sequences {
                    body.push(
                        id,
                        docs.into_iter().map(Value::Document).collect::<Vec<_>>(),
                    );
                }
                let db = body.str("$db").map(str::to_owned);
                let ans = match &db {
                    Some(db) => commands::run(sh, &mut st, &body, db),
                    None => Answer {
                        reply: commands::error(
                            40571,
                            "Location40571",
                            "OP_MSG requests require a $db argument",
                        ),
                        error: Some(40571),
                        notes: Vec::new(),
                        data: false,
                    },
                };
                record(
                    sh,
                    ctx,
                    &st,
                    "op_msg",
                    db.as_deref().unwrap_or(""),
                    &body,
                    &ans,
                )
                .await;
                if let Some(ms) = st.await_ms.take() {
                    // Exhaust replies are not streamed: the monitor asks again after each wait.
                    tokio::time::sleep(std::time::Duration::from_millis(ms.min(MAX_AWAIT_MS)))
                        .await;
                }
                if m.flags & wire::FLAG_MORE_TO_COME == 0 {
                    w.send(&wire::op_msg(sh.request_id(), h.request_id, 0, &ans.reply))
                        .await?;
                }
            }
            Request::Query(q) => {
                let Some(db) = q.collection.strip_suffix(".$cmd").map(str::to_owned) else {
                    // A legacy find on a collection: gone since 5.1 (and unauthorized before).
                    let reply = if sh.version.legacy_removed() {
                        Document::new()
                            .with("$err", "OP_QUERY is no longer supported. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal")
                            .with("code", 5_739_101i32)
                    } else {
                        Document::new()
                            .with("$err", "command find requires authentication")
                            .with("code", 13i32)
                    };
                    let mut e =
                        ctx.event_of(&Query::new(clip(Value::Document(q.query.clone()).shell())));
                    e.fields.insert("op".into(), "op_query".into());
                    e.fields.insert("ns".into(), q.collection.clone().into());
                    e.fields.insert("result".into(), "error".into());
                    ctx.emit(e).await;
                    w.send(&wire::op_reply(
                        sh.request_id(),
                        h.request_id,
                        wire::REPLY_QUERY_FAILURE | wire::REPLY_AWAIT_CAPABLE,
                        &[reply],
                    ))
                    .await?;
                    continue;
                };
                // Old drivers wrap the command: { $query: { isMaster: 1 }, $readPreference: … }.
                let cmd = match q.query.first() {
                    Some(("$query" | "query", Value::Document(inner))) => inner.clone(),
                    _ => q.query.clone(),
                };
                let name = cmd.first().map_or("", |(k, _)| k).to_owned();
                let handshake = matches!(name.as_str(), "hello" | "isMaster" | "ismaster");
                let ans = if handshake || !sh.version.legacy_removed() {
                    commands::run(sh, &mut st, &cmd, &db)
                } else {
                    let mut reply = unsupported_op_query(&name);
                    sh.cluster_time(&mut reply);
                    Answer {
                        reply,
                        error: Some(352),
                        notes: Vec::new(),
                        data: false,
                    }
                };
                record(sh, ctx, &st, "op_query", &db, &cmd, &ans).await;
                w.send(&wire::op_reply(
                    sh.request_id(),
                    h.request_id,
                    wire::REPLY_AWAIT_CAPABLE,
                    &[ans.reply],
                ))
                .await?;
            }
            Request::Compressed(c) => {
                // No compressor was negotiated (hello never offers one).
                return Err(ctx
                    .protocol_error(format!(
                        "compressed message (compressor {}, original opcode {}) without a negotiated compressor",
                        c.compressor, c.original_op
                    ))
                    .await);
            }
            Request::Other(
                op @ (wire::OP_INSERT
                | wire::OP_UPDATE
                | wire::OP_DELETE
                | wire::OP_KILL_CURSORS
                | wire::OP_GET_MORE),
            ) => {
                // Removed legacy opcodes: recorded, never answered (their writes never were).
                let mut e = ctx.event_of(&Command::new(format!("legacy opcode {op}")));
                e.fields.insert("op".into(), op.into());
                e.fields.insert("bytes".into(), msg.len().into());
                ctx.emit(e).await;
                if op == wire::OP_GET_MORE {
                    let reply = Document::new()
                        .with("$err", "OP_GET_MORE is no longer supported. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal")
                        .with("code", 5_739_102i32);
                    w.send(&wire::op_reply(
                        sh.request_id(),
                        h.request_id,
                        wire::REPLY_QUERY_FAILURE | wire::REPLY_AWAIT_CAPABLE,
                        &[reply],
                    ))
                    .await?;
                }
            }
            Request::Other(op) => {
                return Err(ctx.protocol_error(format!("unknown opcode {op}")).await);
            }
        }
        ctx.pre_auth.done();
        if st.user.is_some() {
            w.set_cap(MESSAGE_CAP);
        }
    }
}

/// Records one command: its `command` (or `query`) event, then its logins.
async fn record(
    sh: &Shared,
    ctx: &ConnCtx,
    st: &ConnState,
    op: &str,
    db: &str,
    cmd: &Document,
    ans: &Answer,
) {
    let name = cmd.first().map_or("", |(k, _)| k);
    // What mongod's log would show, minus the SASL payloads (they are in the login event).
    let shown = Document(
        cmd.0
            .iter()
            .filter(|(k, _)| k != "payload")
            .cloned()
            .collect(),
    );
    let text = clip(Value::Document(shown).shell());
    let mut f = Fields::new();
    f.insert("op".into(), op.into());
    f.insert("db".into(), db.into());
    f.insert("cmd".into(), name.into());
    match ans.error {
        Some(code) => {
            f.insert("result".into(), "error".into());
            f.insert("error_code".into(), code.into());
        }
        None => {
            f.insert("result".into(), "ok".into());
        }
    }
    if let Some((u, d)) = &st.user {
        f.insert("user".into(), u.clone().into());
        f.insert("auth_db".into(), d.clone().into());
    }
    let mut e = if ans.data {
        ctx.event_of(&Query::new(text))
    } else {
        ctx.event_of(&Command::new(text))
    };
    e.fields.extend(f);
    if matches!(name, "hello" | "isMaster" | "ismaster") {
        if let Some(meta) = cmd.get("client").and_then(Value::as_doc) {
            metadata_fields(meta, &mut e.fields);
        }
    }
    for note in &ans.notes {
        if let Note::Query { ns, rows } = note {
            e.fields.insert("ns".into(), ns.clone().into());
            if let Some(n) = rows {
                e.fields.insert("rows".into(), (*n).into());
            }
        }
    }
    ctx.emit(e).await;
    for note in &ans.notes {
        match note {
            Note::Query { .. } => {}
            Note::Malformed(why) => {
                let mut e = ctx.event(EventType::ProtocolError);
                e.fields.insert("reason".into(), why.clone().into());
                ctx.emit(e).await;
            }
            Note::Plain { user, password, db } => {
                let mut f = Fields::new();
                f.insert("mechanism".into(), "PLAIN".into());
                f.insert("auth_db".into(), db.clone().into());
                client_fields(st, &mut f);
                let cred = Credential::new(user.clone(), password, SecretKind::Password)
                    .with_realm(db.clone());
                ctx.login(LoginOutcome::Attempt, LoginMethod::Password, cred, f)
                    .await;
            }
            Note::Login(l) => {
                let mut f = l.fields.clone();
                client_fields(st, &mut f);
                let cred = Credential::new(l.user.clone(), &l.proof, l.mech.kind())
                    .with_realm(l.db.clone());
                let outcome = if l.matched.is_some() {
                    LoginOutcome::Success
                } else {
                    LoginOutcome::Attempt
                };
                let mut e: Event = ctx.login_event(outcome, LoginMethod::Password, cred, f);
                if let Some(t) = l
                    .matched
                    .as_deref()
                    .and_then(|p| sh.bait.honeytoken(&l.user, p.as_bytes()))
                {
                    // The proof is not the secret: mark what it proved.
                    e.fields.insert(names::HONEYTOKEN.into(), t.field());
                }
                ctx.emit(e).await;
            }
        }
    }
}

fn client_fields(st: &ConnState, f: &mut Fields) {
    if let Some(meta) = &st.metadata {
        metadata_fields(meta, f);
    }
}
