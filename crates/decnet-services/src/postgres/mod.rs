//! PostgreSQL (listener `postgres`, port 5432) as the distro's package
//! ships it: the release and its build string come from the persona
//! ([`version`]), and every answer a scanner compares — the SSLRequest and
//! GSSENCRequest bytes, the ErrorResponse of a bad startup packet (what nmap
//! names the product by), of a failed password, of an unknown database — is
//! the real server's, field for field.
//!
//! - [`wire`]: the sans-IO message parser (startup packet and message caps) and the backend's messages
//! - [`auth`]: md5 and SCRAM-SHA-256, what cracking needs from each
//! - [`query`]: the simple-query surface a logged-in client sees
//! - [`version`]: the release, its `server_version`, `version()` and error sites
//!
//! The server asks for a cleartext password by default (`auth_method =
//! password`) so the password itself is captured; `md5` keeps the salt and
//! the response (John/hashcat line), `scram-sha-256` the whole exchange
//! (nonces, the user's salt and iteration count, the auth message, the
//! proof). Logins follow the bait world (the planted `app` account where the
//! world says it is valid, the `users` key); every Query is a `query` event.

pub mod auth;
pub mod query;
pub mod version;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::{names, LoginMethod, LoginOutcome, Query};
use decnet_core::persona::distro::Packaging;
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::conn::{Conn, LimitTrip};
use crate::imap::account::Accounts;
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, ClientFacts, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use version::{Release, Site};
use wire::{Decoded, Startup};

/// How long a client has to finish its TLS handshake after `S`.
const TLS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The real server's `PQ_GSS_RECV_BUFFER_SIZE`: the cap on a GSSAPI token.
const MAX_GSS_TOKEN: usize = 16_384;
/// `auth_method` values.
const METHODS: [&str; 3] = ["password", "md5", "scram-sha-256"];

static KEYS: [PersonaKey; 4] = [
    PersonaKey {
        name: "pg_version",
        kind: KeyKind::Text,
        doc: "PostgreSQL release the server claims (`15.8`). Default: the distro's own (Debian 12: 15.x, Ubuntu 22.04: 14.x, RHEL 9: 13.x); a release the distro does not ship is named as PGDG's build of it",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "role:password accounts let in besides the bait world's (the planted `app` database account where it is valid). Default: none",
    },
    PersonaKey {
        name: "auth_method",
        kind: KeyKind::Choice(&METHODS),
        doc: "What pg_hba.conf asks every client for: `password` (cleartext, captured as sent), `md5` (salted MD5 response, captured with its salt as a `$postgres$` John/hashcat line) or `scram-sha-256` (the SCRAM exchange with the role's salt and 4096 iterations, captured with everything cracking needs). Default: `password`",
    },
    PersonaKey {
        name: "ssl",
        kind: KeyKind::Bool,
        doc: "Answer SSLRequest with `S` and TLS (a snakeoil-shaped certificate for the host name) rather than `N`. Default: on for Debian and Ubuntu (their packaged clusters set `ssl = on`), off elsewhere",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "postgres",
    summary: "PostgreSQL server of the distro's release: cleartext, md5 or SCRAM-SHA-256 logins captured crackable, the real server's startup and authentication errors, a small query surface where every query is an event",
    listeners: &[ListenerInfo::tcp("postgres", 5432)],
    persona_keys: &KEYS,
};

/// The PostgreSQL service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

/// The password exchange pg_hba.conf asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// AuthenticationCleartextPassword.
    Password,
    /// AuthenticationMD5Password.
    Md5,
    /// AuthenticationSASL with SCRAM-SHA-256.
    Scram,
}

impl Method {
    fn parse(s: &str) -> Option<Method> {
        match s {
            "password" => Some(Method::Password),
            "md5" => Some(Method::Md5),
            "scram-sha-256" => Some(Method::Scram),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Md5 => "md5",
            Method::Scram => "scram-sha-256",
        }
    }
}

struct PgInstance {
    release: Release,
    method: Method,
    accounts: Accounts,
    tls: Option<TlsAcceptor>,
    /// The decky's key for per-role SCRAM salts.
    salt_key: [u8; 32],
    /// The next backend's process id.
    next_pid: AtomicU32,
    /// Databases of the cluster: (name, owner).
    databases: Vec<(String, String)>,
}

impl Service for Postgres {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let d = decky.config.distro;
        let pg_version = keys.text("pg_version");
        if let Some(v) = pg_version {
            let ok = v.split('.').count() <= 3
                && v.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && v.len() <= 12;
            if !ok {
                return Err(keys.error("pg_version", "expected a release number like 15.8"));
            }
        }
        let release = Release::new(d, pg_version);
        let method = keys
            .choice("auth_method", &METHODS, Method::parse)?
            .unwrap_or(Method::Password);
        if method == Method::Scram && !release.has_scram() {
            return Err(keys.error(
                "auth_method",
                format!(
                    "scram-sha-256 needs PostgreSQL 10 or later; this persona is {}",
                    release.upstream
                ),
            ));
        }
        let users = keys.users_or("users", "")?;
        let ssl = keys.bool("ssl")?.unwrap_or(d.packaging == Packaging::Deb);
        let tls = if ssl {
            Some(
                AcceptorBuilder::new(INFO.name, decky.config.hostname.clone())
                    .profile(TlsProfile::Apache)
                    .build(&decky)?,
            )
        } else {
            None
        };
        let pid = 1_000 + u32::try_from(decky.seed.pick(b"postgres-pid", 60_000)).unwrap_or(0);
        Ok(Arc::new(PgInstance {
            release,
            method,
            accounts: Accounts {
                users,
                decky: decky.config.name.clone(),
                bait: decky.bait.clone(),
            },
            tls,
            salt_key: decky.seed.derive(b"postgres-scram-salt"),
            next_pid: AtomicU32::new(pid),
            databases: vec![
                ("appdb".to_owned(), "app".to_owned()),
                ("postgres".to_owned(), "postgres".to_owned()),
                ("template0".to_owned(), "postgres".to_owned()),
                ("template1".to_owned(), "postgres".to_owned()),
            ],
        }))
    }
}

/// A stream and the bytes read from it not yet decoded.
struct Reader<S> {
    io: S,
    buf: Vec<u8>,
}

/// What one read brought.
enum Fill {
    Data,
    Eof,
    Deadline,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Reader<S> {
    fn new(io: S) -> Reader<S> {
        Reader {
            io,
            buf: Vec::new(),
        }
    }

    /// Reads once more (up to 4 KiB), until `deadline` if one is given.
    async fn fill(&mut self, deadline: Option<Instant>) -> Fill {
        let mut chunk = [0u8; 4096];
        let read = async { self.io.read(&mut chunk).await };
        let n = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read).await {
                Err(_) => return Fill::Deadline,
                Ok(r) => r,
            },
            None => read.await,
        };
        match n {
            Ok(0) | Err(_) => Fill::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                Fill::Data
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), ServiceError> {
        self.io.write_all(data).await?;
        self.io.flush().await?;
        Ok(())
    }
}

/// Why a message could not be had.
enum Got {
    Msg(wire::Message),
    /// The peer left (or the deadline passed, already recorded).
    Gone,
    /// The bytes broke the framing; the `protocol_error` is recorded.
    Broken(ServiceError),
}

/// The startup packet's outcome.
enum Negotiated {
    /// A StartupMessage with its minor version and parameters.
    Startup(u16, Vec<(String, String)>),
    /// `S` was sent: TLS comes next.
    Tls,
    /// The connection is over.
    End,
}

/// What the connection negotiated before its StartupMessage.
#[derive(Debug, Default, Clone, Copy)]
struct Preamble {
    ssl_requested: bool,
    gss_requested: bool,
}

impl PgInstance {
    /// A FATAL ErrorResponse as the release sends it.
    fn fatal(&self, code: &str, message: &str, detail: Option<&str>, site: Site) -> Vec<u8> {
        let line = site.1.to_string();
        let mut f: Vec<(u8, &str)> = vec![(b'S', "FATAL")];
        if self.release.has_v_field() {
            f.push((b'V', "FATAL"));
        }
        f.push((b'C', code));
        f.push((b'M', message));
        if let Some(d) = detail {
            f.push((b'D', d));
        }
        f.extend([(b'F', site.0), (b'L', line.as_str()), (b'R', site.2)]);
        wire::error_response(&f)
    }

    fn pre_auth_deadline(ctx: &ConnCtx) -> Instant {
        ctx.accepted + ctx.decky.limits.pre_auth_timeout
    }

    async fn deadline_passed(ctx: &ConnCtx, f: Fields) {
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields
            .insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
        e.fields.insert(
            "max_secs".into(),
            ctx.decky.limits.pre_auth_timeout.as_secs().into(),
        );
        e.fields.extend(f);
        ctx.emit(e).await;
    }

    /// Reads the startup packet (after any SSLRequest/GSSENCRequest), answering as the release does.
    async fn negotiate<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        pre: &mut Preamble,
        tls_done: bool,
    ) -> Result<Negotiated, ServiceError> {
        let deadline = Self::pre_auth_deadline(ctx);
        loop {
            let packet = match wire::decode_startup(&r.buf) {
                Err(e) => {
                    // The real server logs this and closes without a word.
                    let mut ev = ctx.event(EventType::ProtocolError);
                    ev.fields.insert("reason".into(), e.reason().into());
                    ev.fields.insert(
                        "head".into(),
                        hex::encode(r.buf.get(..8).unwrap_or(&r.buf)).into(),
                    );
                    ctx.emit(ev).await;
                    return Err(ServiceError::Protocol(e.reason().into()));
                }
                Ok(Decoded::Incomplete(_)) => match r.fill(Some(deadline)).await {
                    Fill::Data => continue,
                    Fill::Deadline => {
                        Self::deadline_passed(ctx, preamble_fields(pre)).await;
                        return Ok(Negotiated::End);
                    }
                    Fill::Eof => {
                        let mut e = ctx.event(EventType::Scan);
                        e.fields.extend(preamble_fields(pre));
                        e.fields.insert("bytes".into(), r.buf.len().into());
                        ctx.emit(e).await;
                        return Ok(Negotiated::End);
                    }
                },
                Ok(Decoded::Done(p, n)) => {
                    r.buf.drain(..n.min(r.buf.len()));
                    p
                }
            };
            match packet {
                Startup::Ssl if !pre.ssl_requested && !tls_done => {
                    pre.ssl_requested = true;
                    if self.tls.is_some() {
                        if !r.buf.is_empty() {
                            // CVE-2021-23214: nothing may ride in the clear after the request.
                            let out = self.fatal(
                                "08P01",
                                "received unencrypted data after SSL request",
                                Some("This could be either a client-software bug or evidence of an attempted man-in-the-middle attack."),
                                ("postmaster.c", 2179, "ProcessStartupPacket"),
                            );
                            let err = ctx.protocol_error("data_after_ssl_request").await;
                            r.send(&out).await?;
                            return Err(err);
                        }
                        r.send(b"S").await?;
                        return Ok(Negotiated::Tls);
                    }
                    r.send(b"N").await?;
                }
                Startup::Gss
                    if !pre.gss_requested && !tls_done && self.release.gss_encryption() =>
                {
                    pre.gss_requested = true;
                    r.send(b"G").await?;
                    return self.gss_token(r, ctx, pre).await;
                }
                Startup::Cancel { pid, key } => {
                    let mut e = ctx.event(EventType::Command);
                    e.fields
                        .insert(names::COMMAND.into(), "CancelRequest".into());
                    e.fields.insert("pid".into(), pid.into());
                    e.fields.insert("key".into(), key.into());
                    ctx.emit(e).await;
                    return Ok(Negotiated::End);
                }
                Startup::Version {
                    major: 3,
                    minor,
                    body,
                } => {
                    return match wire::parse_params(&body) {
                        Ok(params) => Ok(Negotiated::Startup(minor, params)),
                        Err(wire::Layout::NoTerminator) => {
                            let out = self.fatal(
                                "08P01",
                                "invalid startup packet layout: expected terminator as last byte",
                                None,
                                self.release.sites.bad_layout,
                            );
                            let err = ctx.protocol_error("invalid_startup_layout").await;
                            r.send(&out).await?;
                            Err(err)
                        }
                    };
                }
                other => {
                    // A second SSLRequest, an unknown request or another version.
                    let code = other.code();
                    let msg = format!(
                        "unsupported frontend protocol {}.{}: server supports {} to 3.0",
                        code >> 16,
                        code & 0xffff,
                        self.release.earliest_protocol()
                    );
                    let mut e = ctx.event(EventType::Scan);
                    e.fields.extend(preamble_fields(pre));
                    e.fields.insert(
                        "protocol".into(),
                        format!("{}.{}", code >> 16, code & 0xffff).into(),
                    );
                    e.fields
                        .insert("reason".into(), "unsupported frontend protocol".into());
                    ctx.emit(e).await;
                    let out =
                        self.fatal("0A000", &msg, None, self.release.sites.unsupported_protocol);
                    r.send(&out).await?;
                    return Ok(Negotiated::End);
                }
            }
        }
    }

    /// After `G`: the client's first GSSAPI token, kept; the server has no
    /// keytab, so the context fails and it closes without a word, as the real
    /// one does (libpq then reconnects without GSSAPI encryption).
    async fn gss_token<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        pre: &Preamble,
    ) -> Result<Negotiated, ServiceError> {
        let deadline = Self::pre_auth_deadline(ctx);
        loop {
            let len = wire::be32(&r.buf, 0).map(|n| n as usize);
            if let Some(len) = len {
                if len > MAX_GSS_TOKEN {
                    return Err(ctx.protocol_error("gss_token_too_long").await);
                }
                if let Some(token) = r.buf.get(4..4 + len) {
                    let mut e = ctx.event(EventType::LoginAttempt);
                    e.fields.insert("method".into(), "gss".into());
                    e.fields.extend(preamble_fields(pre));
                    e.fields.insert("gss_token_len".into(), len.into());
                    e.fields.insert(
                        "gss_token_b64".into(),
                        base64::engine::general_purpose::STANDARD
                            .encode(token)
                            .into(),
                    );
                    ctx.emit(e).await;
                    return Ok(Negotiated::End);
                }
            }
            match r.fill(Some(deadline)).await {
                Fill::Data => {}
                Fill::Deadline => {
                    Self::deadline_passed(ctx, preamble_fields(pre)).await;
                    return Ok(Negotiated::End);
                }
                Fill::Eof => {
                    let mut e = ctx.event(EventType::Scan);
                    e.fields.extend(preamble_fields(pre));
                    ctx.emit(e).await;
                    return Ok(Negotiated::End);
                }
            }
        }
    }

    /// Reads one message of at most `cap` body bytes, until `deadline` if given.
    async fn message<S: AsyncRead + AsyncWrite + Unpin + Send>(
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        cap: usize,
        deadline: Option<Instant>,
        fields: &Fields,
    ) -> Got {
        loop {
            match wire::decode_message(&r.buf, cap) {
                Err(e) => return Got::Broken(ctx.protocol_error(e.reason()).await),
                Ok(Decoded::Done(m, n)) => {
                    r.buf.drain(..n.min(r.buf.len()));
                    return Got::Msg(m);
                }
                Ok(Decoded::Incomplete(_)) => match r.fill(deadline).await {
                    Fill::Data => {}
                    Fill::Eof => return Got::Gone,
                    Fill::Deadline => {
                        Self::deadline_passed(ctx, fields.clone()).await;
                        return Got::Gone;
                    }
                },
            }
        }
    }
}

fn preamble_fields(p: &Preamble) -> Fields {
    let mut f = Fields::new();
    if p.ssl_requested {
        f.insert("ssl_requested".into(), true.into());
    }
    if p.gss_requested {
        f.insert("gss_requested".into(), true.into());
    }
    f
}

#[async_trait]
impl Instance for PgInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let trip = conn.trip_flag();
        let mut pre = Preamble::default();
        let mut r = Reader::new(conn);
        let res = match self.negotiate(&mut r, &ctx, &mut pre, false).await? {
            Negotiated::End => Ok(()),
            Negotiated::Startup(minor, params) => {
                self.session(r, &ctx, pre, None, minor, params).await
            }
            Negotiated::Tls => {
                let Some(acceptor) = &self.tls else {
                    return Ok(());
                };
                let stream = match tls::accept(acceptor, r.io, TLS_TIMEOUT).await {
                    Ok(s) => s,
                    Err(tls::HandshakeError::Closed) => {
                        let mut e = ctx.event(EventType::Scan);
                        e.fields.extend(preamble_fields(&pre));
                        e.fields.insert("tls".into(), "closed".into());
                        ctx.emit(e).await;
                        return Ok(());
                    }
                    Err(e) => {
                        return Err(ctx
                            .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                            .await)
                    }
                };
                let facts = ClientFacts::of(&stream);
                let mut r = Reader::new(stream);
                match self.negotiate(&mut r, &ctx, &mut pre, true).await? {
                    Negotiated::Startup(minor, params) => {
                        self.session(r, &ctx, pre, Some(facts), minor, params).await
                    }
                    Negotiated::Tls | Negotiated::End => Ok(()),
                }
            }
        };
        if trip.get() == Some(LimitTrip::Idle) {
            return Ok(());
        }
        res
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

/// What a login presented, for its event.
struct Presented {
    credential: Credential,
    fields: Fields,
    accepted: bool,
    /// The password it was checked against, when a digest matched one.
    matched: Option<String>,
    /// SASL's server-final message to send before AuthenticationOk.
    server_final: Option<Vec<u8>>,
}

impl PgInstance {
    #[allow(clippy::too_many_arguments)]
    async fn session<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        mut r: Reader<S>,
        ctx: &ConnCtx,
        pre: Preamble,
        facts: Option<ClientFacts>,
        minor: u16,
        params: Vec<(String, String)>,
    ) -> Result<(), ServiceError> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut fields = preamble_fields(&pre);
        fields.insert("protocol".into(), format!("3.{minor}").into());
        let all: BTreeMap<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
            .collect();
        fields.insert(
            "params".into(),
            serde_json::Value::Object(all.into_iter().collect()),
        );
        for k in ["application_name", "client_encoding"] {
            if let Some(v) = get(k) {
                fields.insert(k.into(), v.into());
            }
        }
        if let Some(f) = &facts {
            fields.insert("tls".into(), true.into());
            f.write_fields(&mut fields);
        }
        let user = get("user").unwrap_or_default();
        if user.is_empty() {
            let out = self.fatal(
                "28000",
                "no PostgreSQL user name specified in startup packet",
                None,
                self.release.sites.no_user,
            );
            let mut e = ctx.event(EventType::Scan);
            e.fields.extend(fields);
            e.fields.insert("reason".into(), "no user name".into());
            ctx.emit(e).await;
            r.send(&out).await?;
            return Ok(());
        }
        let database = get("database")
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        fields.insert("user".into(), user.clone().into());
        fields.insert("database".into(), database.clone().into());
        fields.insert("auth_method".into(), self.method.as_str().into());
        let unknown: Vec<String> = params
            .iter()
            .filter(|(k, _)| k.starts_with("_pq_."))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        if self.release.negotiates_minor() && (minor > 0 || !unknown.is_empty()) {
            out.extend(wire::negotiate_protocol_version(0, &unknown));
        }
        let presented = match self.method {
            Method::Password => self.cleartext(&mut r, ctx, &user, &fields, out).await?,
            Method::Md5 => self.md5(&mut r, ctx, &user, &fields, out).await?,
            Method::Scram => {
                self.scram(&mut r, ctx, &user, &fields, facts.is_some(), out)
                    .await?
            }
        };
        let Some(p) = presented else {
            return Ok(());
        };
        let mut p = p;
        let known = self.databases.iter().any(|(n, _)| *n == database);
        if p.accepted && !known {
            p.fields.insert("database_missing".into(), true.into());
        }
        let outcome = if p.accepted {
            LoginOutcome::Success
        } else {
            LoginOutcome::Attempt
        };
        let mut e = ctx.login_event(outcome, LoginMethod::Password, p.credential, p.fields);
        if let Some(pw) = &p.matched {
            if let Some(t) = ctx.decky.bait.honeytoken(&user, pw.as_bytes()) {
                e.fields.insert(names::HONEYTOKEN.into(), t.field());
            }
        }
        ctx.emit(e).await;
        if !p.accepted {
            let msg = format!("password authentication failed for user \"{user}\"");
            let out = self.fatal("28P01", &msg, None, self.release.sites.auth_failed);
            r.send(&out).await?;
            return Ok(());
        }
        ctx.pre_auth.done();
        let mut out = p.server_final.unwrap_or_default();
        out.extend(wire::auth(0, &[]));
        if database == "template0" {
            out.extend(self.fatal(
                "55000",
                "database \"template0\" is not currently accepting connections",
                None,
                self.release.sites.not_accepting,
            ));
            r.send(&out).await?;
            return Ok(());
        }
        if !known {
            out.extend(self.fatal(
                "3D000",
                &format!("database \"{database}\" does not exist"),
                None,
                self.release.sites.no_database,
            ));
            r.send(&out).await?;
            return Ok(());
        }
        let superuser = user == "postgres";
        let client_encoding = get("client_encoding").unwrap_or_else(|| "UTF8".to_owned());
        let application_name = get("application_name").unwrap_or_default();
        let on = |b: bool| if b { "on" } else { "off" };
        let mut status: Vec<(&str, String)> = vec![
            ("application_name", application_name.clone()),
            ("client_encoding", client_encoding.clone()),
            ("DateStyle", "ISO, MDY".into()),
        ];
        if self.release.reports_hot_standby() {
            status.push(("default_transaction_read_only", "off".into()));
            status.push(("in_hot_standby", "off".into()));
        }
        status.extend([
            ("integer_datetimes", "on".into()),
            ("IntervalStyle", "postgres".into()),
            ("is_superuser", on(superuser).into()),
            ("server_encoding", "UTF8".into()),
            ("server_version", self.release.server_version.clone()),
            ("session_authorization", user.clone()),
            ("standard_conforming_strings", "on".into()),
            ("TimeZone", "Etc/UTC".into()),
        ]);
        for (k, v) in &status {
            out.extend(wire::parameter_status(k, v));
        }
        let pid = self
            .next_pid
            .fetch_add(1 + rand::random::<u32>() % 3, Ordering::Relaxed);
        out.extend(wire::backend_key_data(pid, rand::random()));
        out.extend(wire::ready_for_query(b'I'));
        r.send(&out).await?;
        let q = query::Session {
            user: &user,
            database: &database,
            release: &self.release,
            superuser,
            databases: &self.databases,
            client_encoding: &client_encoding,
            application_name: &application_name,
        };
        self.queries(r, ctx, &q).await
    }

    /// Reads the password message; `None` when the client left (recorded).
    async fn password_message<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        user: &str,
        fields: &Fields,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        let deadline = Self::pre_auth_deadline(ctx);
        match Self::message(r, ctx, wire::MAX_AUTH_LEN, Some(deadline), fields).await {
            Got::Broken(e) => Err(e),
            Got::Gone => {
                // psql asks for the password only now, and reconnects with it.
                let mut f = fields.clone();
                f.insert("abandoned".into(), true.into());
                let cred = Credential::new(user, b"", SecretKind::Password);
                ctx.login_attempt(LoginMethod::None, cred, f).await;
                Ok(None)
            }
            Got::Msg(m) if m.tag == b'p' => Ok(Some(m.body)),
            Got::Msg(m) => {
                let out = self.fatal(
                    "08P01",
                    &format!("expected password response, got message type {}", m.tag),
                    None,
                    self.release.sites.expected_password,
                );
                let err = ctx.protocol_error("expected_password_response").await;
                r.send(&out).await?;
                Err(err)
            }
        }
    }

    async fn cleartext<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        user: &str,
        fields: &Fields,
        mut out: Vec<u8>,
    ) -> Result<Option<Presented>, ServiceError> {
        out.extend(wire::auth(3, &[]));
        r.send(&out).await?;
        let Some(body) = self.password_message(r, ctx, user, fields).await? else {
            return Ok(None);
        };
        let pw = match wire::cstr(&body) {
            Some((pw, [])) => pw.to_vec(),
            _ => {
                let out = self.fatal(
                    "08P01",
                    "invalid password packet size",
                    None,
                    self.release.sites.password_size,
                );
                let err = ctx.protocol_error("invalid_password_packet_size").await;
                r.send(&out).await?;
                return Err(err);
            }
        };
        if pw.is_empty() {
            let mut f = fields.clone();
            f.insert("refused".into(), "empty_password".into());
            let cred = Credential::new(user, b"", SecretKind::Password);
            ctx.login_attempt(LoginMethod::Password, cred, f).await;
            let out = self.fatal(
                "28P01",
                "empty password returned by client",
                None,
                self.release.sites.empty_password,
            );
            r.send(&out).await?;
            return Ok(None);
        }
        let accepted = self.accounts.accepts(user, &pw);
        Ok(Some(Presented {
            credential: Credential::new(user, &pw, SecretKind::Password),
            fields: fields.clone(),
            accepted,
            matched: None,
            server_final: None,
        }))
    }

    async fn md5<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        user: &str,
        fields: &Fields,
        mut out: Vec<u8>,
    ) -> Result<Option<Presented>, ServiceError> {
        let salt: [u8; 4] = rand::random();
        out.extend(wire::auth(5, &salt));
        r.send(&out).await?;
        let Some(body) = self.password_message(r, ctx, user, fields).await? else {
            return Ok(None);
        };
        let response = match wire::cstr(&body) {
            Some((resp, rest)) if rest.is_empty() && !resp.is_empty() => resp.to_vec(),
            _ => {
                let out = self.fatal(
                    "08P01",
                    "invalid password packet size",
                    None,
                    self.release.sites.password_size,
                );
                let err = ctx.protocol_error("invalid_password_packet_size").await;
                r.send(&out).await?;
                return Err(err);
            }
        };
        let text = String::from_utf8_lossy(&response).into_owned();
        let mut f = fields.clone();
        f.insert("salt".into(), hex::encode(salt).into());
        if text.len() == 35 && text.starts_with("md5") {
            let line = auth::md5_crack_line(user, &salt, &text);
            f.insert("john".into(), line.clone().into());
            f.insert("hashcat".into(), line.into());
            f.insert("hashcat_mode".into(), 11_100.into());
        }
        let matched = self
            .accounts
            .candidates(user)
            .into_iter()
            .find(|p| auth::md5_response(user, p.as_bytes(), &salt) == text);
        Ok(Some(Presented {
            credential: Credential::new(user, &response, SecretKind::PgMd5),
            fields: f,
            accepted: matched.is_some(),
            matched,
            server_final: None,
        }))
    }

    /// The SCRAM salt of a role on this decky (real for any name, as the
    /// real server's mock salt is for unknown roles).
    fn salt(&self, user: &str) -> [u8; auth::SCRAM_SALT_LEN] {
        let mut label = b"postgres-scram-salt:".to_vec();
        label.extend_from_slice(user.as_bytes());
        let d = crate::postgres::auth_hmac(&self.salt_key, &label);
        let mut s = [0u8; auth::SCRAM_SALT_LEN];
        for (o, b) in s.iter_mut().zip(d.iter()) {
            *o = *b;
        }
        s
    }

    async fn scram<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        r: &mut Reader<S>,
        ctx: &ConnCtx,
        user: &str,
        fields: &Fields,
        tls: bool,
        mut out: Vec<u8>,
    ) -> Result<Option<Presented>, ServiceError> {
        let mut mechs = Vec::new();
        if tls {
            mechs.extend_from_slice(b"SCRAM-SHA-256-PLUS\0");
        }
        mechs.extend_from_slice(b"SCRAM-SHA-256\0\0");
        out.extend(wire::auth(10, &mechs));
        r.send(&out).await?;
        let Some(body) = self.password_message(r, ctx, user, fields).await? else {
            return Ok(None);
        };
        let sites = &self.release.sites;
        // SASLInitialResponse: mechanism, then the length-prefixed client-first.
        let parsed = wire::cstr(&body).and_then(|(mech, rest)| {
            let len = wire::be32(rest, 0)?;
            let data = rest.get(4..)?;
            (usize::try_from(len).ok() == Some(data.len()) || (len == u32::MAX && data.is_empty()))
                .then(|| (mech.to_vec(), data.to_vec()))
        });
        let Some((mech, data)) = parsed else {
            let out = self.fatal(
                "08P01",
                "invalid SASL authentication message",
                None,
                sites.sasl_mechanism,
            );
            let err = ctx.protocol_error("invalid_sasl_message").await;
            r.send(&out).await?;
            return Err(err);
        };
        let plus = mech == b"SCRAM-SHA-256-PLUS";
        if !(mech == b"SCRAM-SHA-256" || (plus && tls)) {
            let out = self.fatal(
                "08P01",
                "client selected an invalid SASL authentication mechanism",
                None,
                sites.sasl_mechanism,
            );
            let err = ctx.protocol_error("invalid_sasl_mechanism").await;
            r.send(&out).await?;
            return Err(err);
        }
        let first = match auth::parse_client_first(&data) {
            Ok(f) => f,
            Err(auth::Malformed(detail)) => {
                let out = self.fatal(
                    "08P01",
                    "malformed SCRAM message",
                    Some(&detail),
                    sites.scram_malformed,
                );
                let err = ctx.protocol_error("malformed_scram_message").await;
                r.send(&out).await?;
                return Err(err);
            }
        };
        let salt = self.salt(user);
        let snonce = auth::server_nonce(&rand::random());
        let server_first = auth::server_first(&first.nonce, &snonce, &salt);
        r.send(&wire::auth(11, server_first.as_bytes())).await?;
        let Some(body) = self.password_message(r, ctx, user, fields).await? else {
            return Ok(None);
        };
        let fin = match auth::parse_client_final(&body) {
            Ok(f) => f,
            Err(auth::Malformed(detail)) => {
                let out = self.fatal(
                    "08P01",
                    "malformed SCRAM message",
                    Some(&detail),
                    sites.scram_malformed,
                );
                let err = ctx.protocol_error("malformed_scram_message").await;
                r.send(&out).await?;
                return Err(err);
            }
        };
        if fin.nonce != format!("{}{snonce}", first.nonce) {
            let out = self.fatal(
                "08P01",
                "invalid SCRAM response",
                Some("Nonce does not match."),
                sites.scram_malformed,
            );
            let err = ctx.protocol_error("scram_nonce_mismatch").await;
            r.send(&out).await?;
            return Err(err);
        }
        let auth_message = format!("{},{server_first},{}", first.bare, fin.without_proof);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut f = fields.clone();
        f.insert(
            "mechanism".into(),
            String::from_utf8_lossy(&mech).into_owned().into(),
        );
        f.insert("gs2_header".into(), first.gs2_header.clone().into());
        f.insert("scram_user".into(), first.user.clone().into());
        f.insert("client_nonce".into(), first.nonce.clone().into());
        f.insert("server_nonce".into(), snonce.clone().into());
        f.insert("salt".into(), b64.encode(salt).into());
        f.insert("iterations".into(), auth::SCRAM_ITERATIONS.into());
        f.insert("auth_message".into(), auth_message.clone().into());
        f.insert("client_proof".into(), b64.encode(&fin.proof).into());
        f.insert("channel_binding".into(), fin.channel_binding.clone().into());
        let matched = self.accounts.candidates(user).into_iter().find(|p| {
            auth::scram_proof(
                p.as_bytes(),
                &salt,
                auth::SCRAM_ITERATIONS,
                auth_message.as_bytes(),
            )
            .as_slice()
                == fin.proof.as_slice()
        });
        let server_final = matched.as_ref().map(|p| {
            let sig = auth::scram_server_signature(
                p.as_bytes(),
                &salt,
                auth::SCRAM_ITERATIONS,
                auth_message.as_bytes(),
            );
            wire::auth(12, auth::server_final(&sig).as_bytes())
        });
        Ok(Some(Presented {
            credential: Credential::new(user, &fin.proof, SecretKind::ScramSha256),
            fields: f,
            accepted: matched.is_some(),
            matched,
            server_final,
        }))
    }

    /// The logged-in session: simple queries answered, the extended protocol's
    /// messages acknowledged, every query an event.
    async fn queries<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        mut r: Reader<S>,
        ctx: &ConnCtx,
        q: &query::Session<'_>,
    ) -> Result<(), ServiceError> {
        let mut tx = query::Tx::Idle;
        // The extended protocol: the statement parsed last, and whether an
        // error makes the server skip to the next Sync.
        let mut parsed: Option<String> = None;
        let mut skipping = false;
        let none = Fields::new();
        loop {
            let m = match Self::message(&mut r, ctx, wire::MAX_QUERY_LEN, None, &none).await {
                Got::Msg(m) => m,
                Got::Gone => return Ok(()),
                Got::Broken(e) => return Err(e),
            };
            if skipping && m.tag != b'S' {
                continue;
            }
            match m.tag {
                b'Q' => {
                    let text = wire::cstr(&m.body).map_or_else(
                        || String::from_utf8_lossy(&m.body).into_owned(),
                        |(t, _)| String::from_utf8_lossy(t).into_owned(),
                    );
                    let a = query::answer(&text, q, &mut tx);
                    self.query_event(ctx, q, &text, &a, false).await;
                    let mut out = a.out;
                    out.extend(wire::ready_for_query(tx.status()));
                    r.send(&out).await?;
                }
                b'P' => {
                    let text = wire::cstr(&m.body)
                        .and_then(|(_, rest)| wire::cstr(rest))
                        .map(|(t, _)| String::from_utf8_lossy(t).into_owned())
                        .unwrap_or_default();
                    let mut probe = tx;
                    let a = query::answer(&text, q, &mut probe);
                    self.query_event(ctx, q, &text, &a, true).await;
                    if a.error.is_some() {
                        tx = probe;
                        skipping = true;
                        r.send(&a.out).await?;
                    } else {
                        parsed = Some(text);
                        r.send(&wire::message(b'1', &[])).await?;
                    }
                }
                b'B' => r.send(&wire::message(b'2', &[])).await?,
                b'D' => {
                    let a = parsed
                        .as_deref()
                        .map(|t| query::answer(t, q, &mut tx.clone()).out)
                        .unwrap_or_default();
                    match a.first() {
                        Some(b'T') => {
                            let len = wire::be32(&a, 1).map_or(0, |n| n as usize);
                            r.send(a.get(..len + 1).unwrap_or(&[])).await?;
                        }
                        _ => r.send(&wire::message(b'n', &[])).await?,
                    }
                }
                b'E' => {
                    let a = parsed
                        .as_deref()
                        .map(|t| query::answer(t, q, &mut tx).out)
                        .unwrap_or_else(|| wire::message(b'I', &[]));
                    let body = match a.first() {
                        Some(b'T') => {
                            let len = wire::be32(&a, 1).map_or(0, |n| n as usize);
                            a.get(len + 1..).unwrap_or(&[]).to_vec()
                        }
                        _ => a,
                    };
                    r.send(&body).await?;
                }
                b'C' => r.send(&wire::message(b'3', &[])).await?,
                b'H' => {}
                b'S' => {
                    skipping = false;
                    r.send(&wire::ready_for_query(tx.status())).await?;
                }
                b'X' => return Ok(()),
                tag => {
                    let out = self.fatal(
                        "08P01",
                        &format!("invalid frontend message type {tag}"),
                        None,
                        ("postgres.c", 4908, "PostgresMain"),
                    );
                    let err = ctx.protocol_error("invalid_frontend_message_type").await;
                    r.send(&out).await?;
                    return Err(err);
                }
            }
        }
    }

    async fn query_event(
        &self,
        ctx: &ConnCtx,
        q: &query::Session<'_>,
        text: &str,
        a: &query::Answer,
        extended: bool,
    ) {
        let mut e = ctx.event_of(&Query::new(text));
        e.fields.insert("user".into(), q.user.into());
        e.fields.insert("database".into(), q.database.into());
        if extended {
            e.fields.insert("extended".into(), true.into());
        }
        if let Some(code) = a.error {
            e.fields.insert("sqlstate".into(), code.into());
        }
        ctx.emit(e).await;
    }
}

/// HMAC-SHA-256 of `data` under `key` (per-role salts from the decky's key).
fn auth_hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let Ok(mut m) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    m.update(data);
    m.finalize().into_bytes().into()
}
