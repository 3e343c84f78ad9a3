//! One connection: the connection phase (greeting, the client's response, an
//! auth switch when the client answered with another plugin, the
//! `caching_sha2_password` full authentication, the optional cleartext
//! switch, the verdict and its event), then the command phase of a session
//! that got in.

use decnet_core::fields::{names, LoginMethod, LoginOutcome, Query};
use decnet_core::{Credential, EventType, Fields, SecretKind};
use serde_json::{Map, Value as Json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::handshake::{
    self, caching_sha2_scramble, native_scramble, ClientHello, Greeting, Plugin, Response,
    CLIENT_PLUGIN_AUTH, CLIENT_QUERY_ATTRIBUTES, SALT_LEN,
};
use super::packet::Cursor;
use super::query::{self, Answer, ServerFacts, Session as SqlSession};
use super::reply::{eof_payload, ok_payload, Shape, SqlError, STATUS_AUTOCOMMIT};
use super::wire::{Recv, Wire};
use super::Shared;
use crate::conn::{Conn, LimitTrip};
use crate::service::{ConnCtx, ServiceError};

/// Largest packet taken before the login (a response with every attribute fits in a few KiB).
const PRE_AUTH_CAP: usize = 64 * 1024;
/// Largest command packet taken after it (a decoy's `max_allowed_packet`).
const COMMAND_CAP: usize = 1 << 20;

/// `caching_sha2_password`'s fast-auth verdicts and the public-key request.
const FAST_AUTH_SUCCESS: [u8; 2] = [0x01, 0x03];
const PERFORM_FULL_AUTH: [u8; 2] = [0x01, 0x04];
const REQUEST_PUBLIC_KEY: [u8; 1] = [0x02];

fn bad_handshake() -> SqlError {
    SqlError::new(1043, "08S01", "Bad handshake")
}

/// How a plaintext password reached the decoy.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// The client sent an empty response: no password.
    Empty,
    /// RSA-encrypted under the server key (`caching_sha2_password` full auth).
    Rsa,
    /// In the clear (full auth by a client that believes the channel secure).
    Cleartext,
    /// After the switch to `mysql_clear_password`.
    ClearPlugin,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Empty => "empty",
            Via::Rsa => "caching_sha2_rsa",
            Via::Cleartext => "caching_sha2_cleartext",
            Via::ClearPlugin => "mysql_clear_password",
        }
    }
}

/// What the connection phase learnt.
struct Attempt {
    user: String,
    plugin: Plugin,
    response: Vec<u8>,
    plaintext: Option<(Vec<u8>, Via)>,
    matched: Option<String>,
    /// The client left before the verdict (nothing more can be sent).
    gone: bool,
    /// The next sequence number the server sends.
    seq: u8,
}

/// The connection's fields every login event carries.
fn client_fields(r: &Response, announced: &str) -> Fields {
    let mut f = Fields::new();
    f.insert(
        "user".into(),
        String::from_utf8_lossy(&r.user).into_owned().into(),
    );
    if let Some(db) = &r.database {
        f.insert(
            "database".into(),
            String::from_utf8_lossy(db).into_owned().into(),
        );
    }
    f.insert(
        "client_capabilities".into(),
        format!("0x{:08x}", r.capabilities).into(),
    );
    if r.extended_capabilities != 0 {
        f.insert(
            "client_extended_capabilities".into(),
            format!("0x{:08x}", r.extended_capabilities).into(),
        );
    }
    f.insert("client_charset".into(), r.charset.into());
    f.insert("max_packet".into(), r.max_packet.into());
    if let Some(p) = &r.plugin {
        f.insert("client_plugin".into(), p.clone().into());
    }
    if !r.attributes.is_empty() {
        let attrs: Map<String, Json> = r
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.clone())))
            .collect();
        for (k, name) in [
            ("_client_name", "client_name"),
            ("_client_version", "client_version"),
            ("_os", "client_os"),
            ("_platform", "client_platform"),
            ("_pid", "client_pid"),
            ("program_name", "program_name"),
        ] {
            if let Some(v) = attrs.get(k) {
                f.insert(name.into(), v.clone());
            }
        }
        f.insert("client_attributes".into(), Json::Object(attrs));
    }
    if let Some(z) = r.zstd_level {
        f.insert("zstd_level".into(), z.into());
    }
    f.insert("server_version".into(), announced.into());
    f
}

/// The AuthSwitchRequest to `plugin` with `data`.
fn auth_switch(plugin: Plugin, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0xfe];
    p.extend_from_slice(plugin.name().as_bytes());
    p.push(0);
    p.extend_from_slice(data);
    p
}

fn strip_nul(b: &[u8]) -> Vec<u8> {
    b.strip_suffix(&[0]).unwrap_or(b).to_vec()
}

pub(super) async fn run(
    sh: &Shared,
    ctx: &ConnCtx,
    conn: Conn,
    id: u32,
    salt: [u8; SALT_LEN],
) -> Result<(), ServiceError> {
    let trip = conn.trip_flag();
    let product = sh.flavor.product;
    let greeting = Greeting {
        product,
        version: sh.flavor.announced(),
        connection_id: id,
        salt,
        capabilities: product.capabilities(),
    };
    let mut w = Wire::new(conn, PRE_AUTH_CAP);
    w.send(0, &greeting.payload()).await?;
    let deadline = ctx.accepted + ctx.decky.limits.pre_auth_timeout;
    let first = match w.recv(Some(deadline)).await {
        Recv::Frame(f) => f,
        Recv::Eof => {
            if trip.get() != Some(LimitTrip::Idle) {
                // Read the greeting and left: a banner grab (nmap's NULL probe).
                let mut e = ctx.event(EventType::Scan);
                e.fields.insert("greeted".into(), true.into());
                e.fields
                    .insert("server_version".into(), greeting.version.clone().into());
                ctx.emit(e).await;
            }
            return Ok(());
        }
        Recv::Deadline => return pre_auth_expired(ctx).await,
        Recv::TooLarge(n, seq) => {
            if seq != 1 {
                return out_of_order(ctx, &mut w).await;
            }
            return Err(ctx
                .protocol_error(format!("packet too large: {n} bytes"))
                .await);
        }
    };
    if first.seq != 1 {
        return out_of_order(ctx, &mut w).await;
    }
    let r = match handshake::parse_response(&first.payload) {
        ClientHello::Response(r) => r,
        ClientHello::SslRequest { .. } => {
            // No TLS offered; the server reads it as a response cut short.
            w.send(2, &bad_handshake().payload()).await?;
            return Err(ctx.protocol_error("ssl_request_without_tls").await);
        }
        ClientHello::Pre41 => {
            w.send(2, &bad_handshake().payload_pre41()).await?;
            return Err(ctx.protocol_error("pre_41_handshake").await);
        }
        ClientHello::Bad(why) => {
            w.send(2, &bad_handshake().payload()).await?;
            return Err(ctx.protocol_error(why).await);
        }
    };
    let mut fields = client_fields(&r, &greeting.version);
    let a = authenticate(sh, &mut w, &r, &salt, deadline, &mut fields).await?;
    let accepted = match &a.plaintext {
        Some((pw, _)) => sh.accepts(&a.user, pw),
        None => a.matched.is_some(),
    };
    // The event: the plaintext when it reached us, else the crackable scramble.
    fields.insert("auth_plugin".into(), a.plugin.name().into());
    fields.insert("salt".into(), hex::encode(salt).into());
    if !a.response.is_empty() {
        fields.insert("response".into(), hex::encode(&a.response).into());
        if a.plugin == Plugin::Native {
            fields.insert("hashcat_mode".into(), 11200.into());
            fields.insert(
                "hashcat".into(),
                handshake::hashcat_native(&salt, &a.response).into(),
            );
        }
    }
    let using_password = !matches!(a.plaintext, Some((_, Via::Empty)));
    fields.insert("using_password".into(), using_password.into());
    let cred = match &a.plaintext {
        Some((pw, via)) => {
            fields.insert("password_via".into(), via.as_str().into());
            Credential::new(a.user.clone(), pw, SecretKind::Password)
        }
        None => {
            let kind = match a.plugin {
                Plugin::CachingSha2 => SecretKind::MysqlCachingSha2,
                Plugin::Native | Plugin::Clear => SecretKind::MysqlNative,
            };
            Credential::new(a.user.clone(), &a.response, kind)
        }
    };
    let outcome = if accepted {
        LoginOutcome::Success
    } else {
        LoginOutcome::Attempt
    };
    let mut e = ctx.login_event(outcome, LoginMethod::Password, cred, fields);
    if let Some(t) = a
        .matched
        .as_deref()
        .and_then(|p| ctx.decky.bait.honeytoken(&a.user, p.as_bytes()))
    {
        // The scramble is not the secret: mark what it proved.
        e.fields.insert(names::HONEYTOKEN.into(), t.field());
    }
    ctx.emit(e).await;
    if a.gone {
        return Ok(());
    }
    let host = ctx.peer.ip().to_canonical().to_string();
    let mut seq = a.seq;
    if !accepted {
        let e = SqlError::new(
            1045,
            "28000",
            format!(
                "Access denied for user '{}'@'{host}' (using password: {})",
                a.user,
                if using_password { "YES" } else { "NO" }
            ),
        );
        w.send(seq, &e.payload()).await?;
        w.shutdown().await;
        return Ok(());
    }
    if a.plugin == Plugin::CachingSha2 && a.plaintext.is_none() {
        w.send(seq, &FAST_AUTH_SUCCESS).await?;
        seq = seq.wrapping_add(1);
    }
    ctx.pre_auth.done();
    let shape = Shape {
        capabilities: r.capabilities & greeting.capabilities,
        extended: r.extended_capabilities & product.extended_capabilities(),
        charset: if r.charset == 0 {
            product.charset()
        } else {
            r.charset
        },
    };
    let facts = ServerFacts {
        product,
        version: &sh.flavor.version,
        comment: &sh.flavor.comment,
        hostname: &sh.hostname,
        socket: sh.flavor.socket,
        compile_os: sh.flavor.compile_os,
        databases: &sh.databases,
        connection_id: id,
    };
    let mut sql = SqlSession {
        user: a.user.clone(),
        host,
        db: None,
        admin: sh.admin(&a.user),
    };
    // A database named in the response is entered as COM_INIT_DB would.
    let mut schema = None;
    if let Some(db) = r.database.as_ref().filter(|d| !d.is_empty()) {
        let db = String::from_utf8_lossy(db).into_owned();
        match query::use_db(&db, &facts, &mut sql) {
            Answer::Err(e) => {
                w.send(seq, &e.payload()).await?;
                return Ok(());
            }
            _ => schema = Some(db),
        }
    }
    w.send(
        seq,
        &ok_payload(&shape, STATUS_AUTOCOMMIT, schema.as_deref()),
    )
    .await?;
    w.set_cap(COMMAND_CAP);
    commands(ctx, &mut w, &facts, &shape, &mut sql).await
}

/// The connection phase after the client's response, up to the verdict.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    sh: &Shared,
    w: &mut Wire<S>,
    r: &Response,
    salt: &[u8; SALT_LEN],
    deadline: Instant,
    fields: &mut Fields,
) -> Result<Attempt, ServiceError> {
    let server = sh.flavor.product.plugin();
    let plugin_auth = r.capabilities & CLIENT_PLUGIN_AUTH != 0;
    let mut a = Attempt {
        user: String::from_utf8_lossy(&r.user).into_owned(),
        plugin: Plugin::Native,
        response: r.auth.clone(),
        plaintext: None,
        matched: None,
        gone: false,
        seq: 2,
    };
    if plugin_auth {
        let client = r.plugin.as_deref().and_then(Plugin::parse);
        if client == Some(server) {
            a.plugin = server;
        } else {
            // Answered with another plugin: the server asks for its own, with the same salt.
            if !r.auth.is_empty() {
                fields.insert("initial_response".into(), hex::encode(&r.auth).into());
            }
            let mut data = salt.to_vec();
            data.push(0);
            w.send(a.seq, &auth_switch(server, &data)).await?;
            a.plugin = server;
            match w.recv(Some(deadline)).await {
                Recv::Frame(f) => {
                    a.response = f.payload;
                    a.seq = f.seq.wrapping_add(1);
                }
                _ => {
                    a.gone = true;
                    a.response = r.auth.clone();
                    a.plugin = client.unwrap_or(Plugin::Native);
                    return Ok(a);
                }
            }
        }
    }
    if a.response.is_empty() {
        a.plaintext = Some((Vec::new(), Via::Empty));
        return Ok(a);
    }
    let candidates = sh.candidates(&a.user);
    a.matched = candidates.into_iter().find(|p| match a.plugin {
        Plugin::Native | Plugin::Clear => native_scramble(p.as_bytes(), salt) == a.response,
        Plugin::CachingSha2 => caching_sha2_scramble(p.as_bytes(), salt) == a.response,
    });
    if a.matched.is_some() {
        return Ok(a);
    }
    if a.plugin == Plugin::CachingSha2 {
        // Not in the cache: full authentication, as MySQL 8 asks after any miss.
        w.send(a.seq, &PERFORM_FULL_AUTH).await?;
        a.seq = a.seq.wrapping_add(1);
        let f = match w.recv(Some(deadline)).await {
            Recv::Frame(f) => f,
            _ => {
                // The mysql 8 client without TLS gives up here (error 2061).
                a.gone = true;
                return Ok(a);
            }
        };
        a.seq = f.seq.wrapping_add(1);
        if f.payload == REQUEST_PUBLIC_KEY {
            let Some(key) = sh.rsa.get().await else {
                a.gone = true;
                return Ok(a);
            };
            let mut p = vec![0x01];
            p.extend_from_slice(key.public_pem());
            w.send(a.seq, &p).await?;
            a.seq = a.seq.wrapping_add(1);
            match w.recv(Some(deadline)).await {
                Recv::Frame(f) => {
                    a.seq = f.seq.wrapping_add(1);
                    a.plaintext = key
                        .decrypt_password(&f.payload, salt)
                        .map(|p| (p, Via::Rsa));
                }
                _ => {
                    a.gone = true;
                    return Ok(a);
                }
            }
        } else if f.payload.last() == Some(&0) {
            a.plaintext = Some((strip_nul(&f.payload), Via::Cleartext));
        }
        if a.plaintext.is_some() {
            return Ok(a);
        }
    }
    if sh.clear_password && plugin_auth {
        w.send(a.seq, &auth_switch(Plugin::Clear, &[])).await?;
        a.seq = a.seq.wrapping_add(1);
        match w.recv(Some(deadline)).await {
            Recv::Frame(f) => {
                a.seq = f.seq.wrapping_add(1);
                a.plaintext = Some((strip_nul(&f.payload), Via::ClearPlugin));
            }
            _ => a.gone = true,
        }
    }
    Ok(a)
}

/// What a scanner's HTTP or TLS probe gets: the server checks the sequence
/// number before the length.
async fn out_of_order<S: AsyncRead + AsyncWrite + Unpin + Send>(
    ctx: &ConnCtx,
    w: &mut Wire<S>,
) -> Result<(), ServiceError> {
    let e = SqlError::new(1156, "08S01", "Got packets out of order");
    w.send(1, &e.payload()).await?;
    Err(ctx.protocol_error("packets_out_of_order").await)
}

async fn pre_auth_expired(ctx: &ConnCtx) -> Result<(), ServiceError> {
    let mut e = ctx.event(EventType::LimitExceeded);
    e.fields
        .insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
    e.fields.insert(
        "max_secs".into(),
        ctx.decky.limits.pre_auth_timeout.as_secs().into(),
    );
    ctx.emit(e).await;
    Ok(())
}

/// COM_QUERY's text: with query attributes negotiated, after the (empty) parameter block.
fn query_text(shape: &Shape, rest: &[u8]) -> Vec<u8> {
    if shape.capabilities & CLIENT_QUERY_ATTRIBUTES == 0 {
        return rest.to_vec();
    }
    let mut c = Cursor::new(rest);
    match (c.lenenc_int(), c.lenenc_int()) {
        (Some(0), Some(_)) => c.rest().to_vec(),
        _ => rest.to_vec(),
    }
}

/// The command phase.
async fn commands<S: AsyncRead + AsyncWrite + Unpin + Send>(
    ctx: &ConnCtx,
    w: &mut Wire<S>,
    facts: &ServerFacts<'_>,
    shape: &Shape,
    sql: &mut SqlSession,
) -> Result<(), ServiceError> {
    let started = Instant::now();
    let mut questions: u64 = 0;
    loop {
        let f = match w.recv(None).await {
            Recv::Frame(f) => f,
            Recv::Eof | Recv::Deadline => return Ok(()),
            Recv::TooLarge(n, _) => {
                let e = SqlError::new(
                    1153,
                    "08S01",
                    "Got a packet bigger than 'max_allowed_packet' bytes",
                );
                w.send(1, &e.payload()).await?;
                return Err(ctx
                    .protocol_error(format!("packet too large: {n} bytes"))
                    .await);
            }
        };
        let seq = f.seq.wrapping_add(1);
        let mut c = Cursor::new(&f.payload);
        let Some(cmd) = c.u8() else {
            return Err(ctx.protocol_error("empty command packet").await);
        };
        questions += 1;
        match cmd {
            // COM_QUIT.
            0x01 => return Ok(()),
            // COM_PING, COM_RESET_CONNECTION.
            0x0e | 0x1f => {
                w.send(seq, &ok_payload(shape, STATUS_AUTOCOMMIT, None))
                    .await?
            }
            // COM_INIT_DB.
            0x02 => {
                let db = String::from_utf8_lossy(c.rest()).into_owned();
                let before = sql.db.clone();
                let answer = query::use_db(&db, facts, sql);
                query_event(ctx, "COM_INIT_DB", &db, before, sql, &answer).await;
                reply(w, shape, seq, answer).await?;
            }
            // COM_QUERY.
            0x03 => {
                let text = String::from_utf8_lossy(&query_text(shape, c.rest())).into_owned();
                let before = sql.db.clone();
                let answer = query::answer(&text, facts, sql);
                query_event(ctx, "COM_QUERY", &text, before, sql, &answer).await;
                reply(w, shape, seq, answer).await?;
            }
            // COM_STMT_PREPARE: captured, not supported.
            0x16 => {
                let text = String::from_utf8_lossy(c.rest()).into_owned();
                let answer = Answer::Err(SqlError::new(
                    1295,
                    "HY000",
                    "This command is not supported in the prepared statement protocol yet",
                ));
                query_event(ctx, "COM_STMT_PREPARE", &text, sql.db.clone(), sql, &answer).await;
                reply(w, shape, seq, answer).await?;
            }
            // COM_FIELD_LIST (the mysql client's completion): no fields.
            0x04 => w.send(seq, &eof_payload(STATUS_AUTOCOMMIT)).await?,
            // COM_SET_OPTION.
            0x1b => w.send(seq, &eof_payload(STATUS_AUTOCOMMIT)).await?,
            // COM_STATISTICS.
            0x09 => {
                let up = started.elapsed().as_secs() + 86_400;
                let s = format!(
                    "Uptime: {up}  Threads: 1  Questions: {questions}  Slow queries: 0  Opens: 33  Open tables: 26  Queries per second avg: 0.000"
                );
                w.send(seq, s.as_bytes()).await?;
            }
            _ => {
                let e = SqlError::new(1047, "08S01", "Unknown command");
                w.send(seq, &e.payload()).await?;
            }
        }
    }
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin + Send>(
    w: &mut Wire<S>,
    shape: &Shape,
    seq: u8,
    answer: Answer,
) -> Result<(), ServiceError> {
    match answer {
        Answer::Rows(rs, status) => w.send_raw(&rs.packets(shape, seq, status)).await?,
        Answer::Ok { schema } => {
            w.send(
                seq,
                &ok_payload(shape, STATUS_AUTOCOMMIT, schema.as_deref()),
            )
            .await?
        }
        Answer::Err(e) => w.send(seq, &e.payload()).await?,
    }
    Ok(())
}

/// The `query` event of one statement, with how it was answered.
async fn query_event(
    ctx: &ConnCtx,
    command: &str,
    text: &str,
    db: Option<String>,
    sql: &SqlSession,
    answer: &Answer,
) {
    let mut e = ctx.event_of(&Query::new(text));
    e.fields.insert("command".into(), command.into());
    e.fields.insert("user".into(), sql.user.clone().into());
    if let Some(db) = db {
        e.fields.insert("database".into(), db.into());
    }
    match answer {
        Answer::Rows(rs, _) => {
            e.fields.insert("result".into(), "rows".into());
            e.fields.insert("rows".into(), rs.rows.len().into());
        }
        Answer::Ok { .. } => {
            e.fields.insert("result".into(), "ok".into());
        }
        Answer::Err(err) => {
            e.fields.insert("result".into(), "error".into());
            e.fields.insert("error_code".into(), err.code.into());
        }
    }
    ctx.emit(e).await;
}
