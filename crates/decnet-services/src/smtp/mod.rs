//! SMTP (listeners `smtp` 25, `submission` 587, and `smtps` 465 with implicit TLS):
//! Postfix, Exim or Sendmail as the persona's distro ships them. Greeting and EHLO
//! capabilities in the MTA's own words, STARTTLS on the decky's own certificate,
//! AUTH PLAIN/LOGIN/CRAM-MD5 captured (every attempt a `login_attempt`), relaying to
//! foreign domains flagged and refused unless `open_relay`, and every message kept
//! whole as an artifact with a `mail_received` event summarising it.
//!
//! - [`wire`]: command lines and message content (DATA, BDAT) off one capped buffer
//! - [`command`]: command lines parsed into one enum
//! - [`dialect`]: what each MTA says
//! - [`auth`]: SASL decoding and the one accept decision
//! - [`message`]: the capped MIME walk behind `mail_received`
//!
//! Every event after a TLS handshake (implicit or STARTTLS) carries the client's
//! TLS facts, JA4 and JA3 included ([`ClientFacts::write_fields`]).

pub mod auth;
pub mod command;
pub mod dialect;
pub mod message;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::LoginMethod;
use decnet_core::{Event, EventType, Fields};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use self::auth::{Attempt, Mechanism};
use self::command::{Command, Verb};
use self::dialect::{Dialect, Mta, Reply};
use self::wire::{Line, Wire};
use crate::conn::Conn;
use crate::kit::artifact::{self, MAX_ARTIFACT};
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, ClientFacts, TlsAcceptor};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// Time for a TLS handshake (Postfix's `smtpd_starttls_timeout` is 300 s; scanners
/// are not worth that long).
const TLS_TIMEOUT: Duration = Duration::from_secs(30);
/// Postfix's `smtpd_hard_error_limit`: the server hangs up after this many errors.
const HARD_ERROR_LIMIT: u32 = 20;

static KEYS: [PersonaKey; 4] = [
    PersonaKey {
        name: "smtp_banner",
        kind: KeyKind::Text,
        doc: "Greeting text after `220 ` (default: the MTA's own, e.g. `<hostname> ESMTP Postfix (Debian/GNU)`)",
    },
    PersonaKey {
        name: "smtp_mta",
        kind: KeyKind::Choice(Mta::NAMES),
        doc: "Mail server whose greeting, EHLO capabilities and replies the decky copies (default postfix)",
    },
    PersonaKey {
        name: "open_relay",
        kind: KeyKind::Bool,
        doc: "Accept recipients in foreign domains instead of refusing them with `Relay access denied` (default false; attempts are flagged either way)",
    },
    PersonaKey {
        name: "max_message_bytes",
        kind: KeyKind::Int,
        doc: "Largest message accepted and advertised in `SIZE` (default: the MTA's, 10240000 for Postfix's message_size_limit, 52428800 for Exim); bigger ones are kept up to the cap, flagged truncated, and refused",
    },
];

static LISTENERS: [ListenerInfo; 3] = [
    ListenerInfo::tcp("smtp", 25),
    ListenerInfo::tcp("submission", 587),
    ListenerInfo::tcp("smtps", 465).with_tls(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "smtp",
    summary: "Mail server (Postfix, Exim or Sendmail persona) on 25 and 587 with STARTTLS and on 465 with \
              implicit TLS; captures AUTH credentials, relay attempts and every message with its attachments",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The SMTP service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smtp;

impl Service for Smtp {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new("smtp", cfg);
        let mta = keys
            .choice("smtp_mta", Mta::NAMES, Mta::parse)?
            .unwrap_or(Mta::Postfix);
        let hostname = decky.config.hostname.clone();
        let banner = match keys.text("smtp_banner") {
            Some(b) => b.to_owned(),
            None => Dialect::default_banner(mta, decky.config.distro, &hostname),
        };
        let max_set = keys.int_in("max_message_bytes", 1..=u64::MAX)?;
        let max_message = max_set.unwrap_or(Dialect::default_max_message(mta));
        let open_relay = keys.bool("open_relay")?.unwrap_or(false);
        let acceptor = AcceptorBuilder::new("smtp", hostname.clone())
            .alpn(&[b"smtp"])
            .build(&decky)?;
        let mut local_domains = vec![
            hostname.to_ascii_lowercase(),
            "localhost".to_owned(),
            "localhost.localdomain".to_owned(),
            format!("[{}]", decky.config.ip),
        ];
        if let Some((_, parent)) = hostname.split_once('.') {
            if parent.contains('.') {
                local_domains.push(parent.to_ascii_lowercase());
            }
        }
        Ok(Arc::new(SmtpInstance {
            dialect: Dialect {
                mta,
                hostname,
                banner,
                max_message,
                size_shown: max_set.is_some() || mta != Mta::Sendmail,
            },
            open_relay,
            acceptor,
            local_domains,
            artifacts: decky.artifacts_dir("smtp"),
            decky,
        }))
    }
}

/// One decky's SMTP server.
pub struct SmtpInstance {
    dialect: Dialect,
    open_relay: bool,
    acceptor: TlsAcceptor,
    local_domains: Vec<String>,
    artifacts: std::path::PathBuf,
    decky: Arc<DeckyRuntime>,
}

impl std::fmt::Debug for SmtpInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpInstance")
            .field("mta", &self.dialect.mta)
            .field("open_relay", &self.open_relay)
            .finish_non_exhaustive()
    }
}

impl SmtpInstance {
    /// Whether a recipient's domain is one this host receives mail for.
    fn is_local(&self, rcpt: &str) -> bool {
        match rcpt.rsplit_once('@') {
            None => true,
            Some((_, domain)) => {
                let d = domain.trim_end_matches('.').to_ascii_lowercase();
                self.local_domains.contains(&d)
            }
        }
    }
}

#[async_trait]
impl Instance for SmtpInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let mut s = Session::new(self, &ctx);
        if ctx.listener.tls {
            let stream = s.handshake(conn).await?;
            let mut w = Wire::new(stream, Bytes::new());
            s.write(&mut w, &self.dialect.greeting()).await?;
            s.run(&mut w).await?;
            return Ok(());
        }
        let mut w = Wire::new(conn, Bytes::new());
        s.write(&mut w, &self.dialect.greeting()).await?;
        if let End::StartTls = s.run(&mut w).await? {
            // Anything pipelined after STARTTLS is dropped (see `apply`).
            let (stream, _plaintext) = w.into_parts();
            let tls = s.handshake(stream).await?;
            // RFC 3207: the client starts over with EHLO.
            s.helo = None;
            s.reset();
            let mut w = Wire::new(tls, Bytes::new());
            s.run(&mut w).await?;
        }
        Ok(())
    }
}

/// How a command loop ended.
enum End {
    /// The session is over.
    Closed,
    /// STARTTLS was accepted: the caller runs the handshake.
    StartTls,
}

/// One connection's SMTP state.
struct Session<'a> {
    inst: &'a SmtpInstance,
    ctx: &'a ConnCtx,
    tls: Option<ClientFacts>,
    helo: Option<String>,
    authed: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
    bdat: Option<wire::Content>,
    errors: u32,
    auth_attempts: u64,
}

impl<'a> Session<'a> {
    fn new(inst: &'a SmtpInstance, ctx: &'a ConnCtx) -> Session<'a> {
        Session {
            inst,
            ctx,
            tls: None,
            helo: None,
            authed: None,
            from: None,
            rcpts: Vec::new(),
            bdat: None,
            errors: 0,
            auth_attempts: 0,
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
        self.bdat = None;
    }

    /// An event of this session, carrying the TLS facts once there are some.
    fn event(&self, t: EventType) -> Event {
        let mut e = self.ctx.event(t);
        if let Some(facts) = &self.tls {
            facts.write_fields(&mut e.fields);
        }
        e
    }

    async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
    ) -> Result<tls::TlsStream<S>, ServiceError> {
        match tls::accept_fingerprinted(&self.inst.acceptor, stream, TLS_TIMEOUT).await {
            (Ok(stream), _) => {
                self.tls = Some(ClientFacts::of(&stream));
                Ok(stream)
            }
            (Err(e), fingerprint) => {
                let mut ev = self.ctx.event(EventType::ProtocolError);
                ev.fields
                    .insert("reason".into(), "tls_handshake_failed".into());
                ev.fields.insert("detail".into(), e.to_string().into());
                ev.fields.insert("tls_error".into(), e.reason().into());
                // A scanner whose handshake failed is still known by its hello.
                if let Some(fp) = fingerprint {
                    let facts = ClientFacts {
                        ja4: Some(fp.ja4),
                        ja3: Some(fp.ja3),
                        ja3_hash: Some(fp.ja3_hash),
                        ..ClientFacts::default()
                    };
                    facts.write_fields(&mut ev.fields);
                }
                self.ctx.emit(ev).await;
                Err(ServiceError::Protocol(format!("TLS handshake: {e}")))
            }
        }
    }

    async fn write<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
        reply: &str,
    ) -> Result<(), ServiceError> {
        if reply.starts_with('4') || reply.starts_with('5') {
            self.errors += 1;
        }
        let s = w.get_mut();
        s.write_all(reply.as_bytes()).await?;
        s.flush().await?;
        Ok(())
    }

    async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
        r: Reply,
        verb: &str,
    ) -> Result<(), ServiceError> {
        let text = self.inst.dialect.reply(r, verb);
        self.write(w, &text).await
    }

    async fn command_event(&self, line: &str, extra: Fields) {
        let mut e = self.event(EventType::Command);
        e.fields.insert("command".into(), line.into());
        e.fields.extend(extra);
        self.ctx.emit(e).await;
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
    ) -> Result<End, ServiceError> {
        loop {
            if self.errors >= HARD_ERROR_LIMIT {
                self.reply(w, Reply::TooManyErrors, "").await?;
                return Ok(End::Closed);
            }
            let line = match w.line().await? {
                Line::Eof => return Ok(End::Closed),
                Line::TooLong => {
                    self.command_event("", fields([("too_long", true.into())]))
                        .await;
                    self.reply(w, Reply::TooLong, "").await?;
                    continue;
                }
                Line::Line(l) => l,
            };
            let cmd = command::parse(&line);
            // AUTH's initial response is a credential, not a command line to log.
            let logged = match &cmd {
                Command::Auth { mechanism, .. } => format!("AUTH {mechanism}"),
                _ => String::from_utf8_lossy(&line).into_owned(),
            };
            let mut extra = Fields::new();
            if let Command::Rcpt(to) = &cmd {
                let relay = !self.inst.is_local(to);
                extra.insert("rcpt".into(), to.clone().into());
                extra.insert("relay".into(), relay.into());
                if relay {
                    let denied = !self.inst.open_relay && self.authed.is_none();
                    extra.insert("relay_denied".into(), denied.into());
                }
            }
            self.command_event(&logged, extra).await;
            if let Some(end) = self.apply(w, cmd).await? {
                return Ok(end);
            }
        }
    }

    /// Answers one command; `Some` when the loop ends.
    async fn apply<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
        cmd: Command,
    ) -> Result<Option<End>, ServiceError> {
        let d = &self.inst.dialect;
        let peer_ip = self.ctx.peer.ip().to_string();
        match cmd {
            Command::Helo(name) => {
                let text = d.helo(&name, &peer_ip);
                self.helo = Some(name);
                self.reset();
                self.write(w, &text).await?;
            }
            Command::Ehlo(name) => {
                let text = d.ehlo(&name, &peer_ip, self.tls.is_some(), self.authed.is_some());
                self.helo = Some(name);
                self.reset();
                self.write(w, &text).await?;
            }
            Command::MissingArgument(v) => {
                let verb = verb_name(v);
                self.reply(w, Reply::Syntax, verb).await?;
            }
            Command::Mail(from) => {
                if self.helo.is_none() && d.helo_required() {
                    self.reply(w, Reply::NeedHelo, "MAIL").await?;
                } else if self.from.is_some() {
                    self.reply(w, Reply::NestedMail, "MAIL").await?;
                } else {
                    self.from = Some(from);
                    self.reply(w, Reply::SenderOk, "MAIL").await?;
                }
            }
            Command::Rcpt(to) => {
                if self.from.is_none() {
                    self.reply(w, Reply::NeedMail, "RCPT").await?;
                } else if !self.inst.is_local(&to) && !self.inst.open_relay && self.authed.is_none()
                {
                    let text = d.relay_denied(&to);
                    self.write(w, &text).await?;
                } else {
                    self.rcpts.push(to);
                    self.reply(w, Reply::RecipientOk, "RCPT").await?;
                }
            }
            Command::BadAddress(v) => {
                let r = match v {
                    Verb::Mail => Reply::MailSyntax,
                    _ => Reply::RcptSyntax,
                };
                self.reply(w, r, verb_name(v)).await?;
            }
            Command::Data => {
                if self.rcpts.is_empty() {
                    self.reply(w, Reply::NeedRcpt, "DATA").await?;
                } else {
                    self.reply(w, Reply::StartData, "DATA").await?;
                    let content = w.data(self.keep_cap()).await?;
                    if !self.received(w, content).await? {
                        return Ok(Some(End::Closed));
                    }
                }
            }
            Command::Bdat { size, last } => {
                let mut content = self.bdat.take().unwrap_or_default();
                let cap = self.keep_cap();
                if !w.chunk(size, cap, &mut content).await? {
                    return Ok(Some(End::Closed));
                }
                if self.rcpts.is_empty() {
                    self.reply(w, Reply::NeedRcpt, "BDAT").await?;
                } else if last {
                    content.complete = true;
                    self.received(w, content).await?;
                } else {
                    self.bdat = Some(content);
                    let text = format!("250 2.0.0 Ok: {size} bytes\r\n");
                    self.write(w, &text).await?;
                }
            }
            Command::BadBdat => {
                self.reply(w, Reply::BdatSyntax, "BDAT").await?;
                if d.bdat_error_is_fatal() {
                    return Ok(Some(End::Closed));
                }
            }
            Command::Rset => {
                self.reset();
                self.reply(w, Reply::Ok, "RSET").await?;
            }
            Command::Noop => self.reply(w, Reply::Ok, "NOOP").await?,
            Command::Quit => {
                self.reply(w, Reply::Bye, "QUIT").await?;
                let _ = w.get_mut().shutdown().await;
                return Ok(Some(End::Closed));
            }
            Command::Vrfy(who) => {
                let text = d.vrfy(who.trim_matches(['<', '>']));
                self.write(w, &text).await?;
            }
            Command::Expn(_) => self.reply(w, Reply::Expn, "EXPN").await?,
            Command::Help => self.reply(w, Reply::Help, "HELP").await?,
            Command::Etrn(domain) => self.reply(w, Reply::Etrn, &domain).await?,
            Command::StartTls => {
                if self.tls.is_some() {
                    self.reply(w, Reply::TlsNotAvailable, "STARTTLS").await?;
                } else {
                    if w.buffered() > 0 {
                        // Commands pipelined after STARTTLS came in plaintext: running
                        // them after the handshake is CVE-2011-0411. Postfix discards
                        // them and goes on with the handshake; so does the caller.
                        let _ = self.ctx.protocol_error("pipelining_after_starttls").await;
                    }
                    self.reply(w, Reply::ReadyTls, "STARTTLS").await?;
                    return Ok(Some(End::StartTls));
                }
            }
            Command::Auth { mechanism, initial } => {
                if !self.auth(w, &mechanism, initial).await? {
                    return Ok(Some(End::Closed));
                }
            }
            Command::Empty => self.reply(w, Reply::Empty, "").await?,
            Command::Unknown(verb) => self.reply(w, Reply::Unknown, &verb).await?,
        }
        Ok(None)
    }

    /// Bytes of a message kept: the size limit, bounded by the artifact cap.
    fn keep_cap(&self) -> usize {
        usize::try_from(self.inst.dialect.max_message)
            .unwrap_or(usize::MAX)
            .min(MAX_ARTIFACT)
    }

    /// Keeps a received message, emits `mail_received` and answers; false when
    /// the peer had closed mid-message.
    async fn received<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
        content: wire::Content,
    ) -> Result<bool, ServiceError> {
        let d = &self.inst.dialect;
        let too_big = content.size > d.max_message;
        let kept = artifact::keep(&self.inst.artifacts, &content.kept).await;
        let summary = message::summarise(&content.kept);
        let queue_id = d.queue_id(rand::random());
        let mut e = self.event(EventType::MailReceived);
        let f = &mut e.fields;
        f.insert("from".into(), self.from.clone().unwrap_or_default().into());
        f.insert("rcpts".into(), json!(self.rcpts));
        f.insert(
            "subject".into(),
            summary.subject.clone().map_or(Value::Null, Value::from),
        );
        if let Some(id) = &summary.message_id {
            f.insert("message_id".into(), id.clone().into());
        }
        f.insert("size".into(), content.size.into());
        f.insert("sha256".into(), kept.sha256.clone().into());
        f.insert("truncated".into(), content.truncated.into());
        f.insert("stored".into(), kept.stored.into());
        f.insert("artifact".into(), kept.path.display().to_string().into());
        f.insert("extension".into(), "eml".into());
        f.insert("complete".into(), content.complete.into());
        f.insert("helo".into(), self.helo.clone().unwrap_or_default().into());
        if let Some(user) = &self.authed {
            f.insert("auth_user".into(), user.clone().into());
        }
        let attachments: Vec<Value> = summary
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                })
            })
            .collect();
        f.insert("attachments".into(), Value::Array(attachments));
        if too_big {
            f.insert("refused".into(), "too_big".into());
        } else if content.complete {
            f.insert("queue_id".into(), queue_id.clone().into());
        }
        self.ctx.emit(e).await;
        self.reset();
        if !content.complete {
            return Ok(false);
        }
        let text = if too_big {
            self.inst.dialect.reply(Reply::TooBig, "DATA")
        } else {
            self.inst.dialect.queued(&queue_id)
        };
        self.write(w, &text).await?;
        Ok(true)
    }

    /// One AUTH dialogue; false when the peer closed during it.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
        mechanism: &str,
        initial: Option<String>,
    ) -> Result<bool, ServiceError> {
        if self.helo.is_none() {
            self.reply(w, Reply::NeedHelo, "AUTH").await?;
            return Ok(true);
        }
        if self.authed.is_some() {
            self.reply(w, Reply::AuthAgain, "AUTH").await?;
            return Ok(true);
        }
        let Some(mech) = Mechanism::parse(mechanism) else {
            self.reply(w, Reply::AuthBadMechanism, "AUTH").await?;
            return Ok(true);
        };
        let attempt = match mech {
            Mechanism::Plain => {
                let resp = match initial {
                    Some(r) => Some(r),
                    None => {
                        self.write(w, "334 \r\n").await?;
                        match self.response(w).await? {
                            Step::Got(r) => Some(r),
                            Step::Stop(go_on) => return Ok(go_on),
                        }
                    }
                };
                match resp.as_deref().and_then(auth::b64) {
                    Some(raw) => auth::plain(&raw),
                    None => None,
                }
            }
            Mechanism::Login => {
                let user = match initial {
                    Some(r) => r,
                    None => {
                        let prompt = self.inst.dialect.challenge(auth::LOGIN_USER_PROMPT);
                        self.write(w, &prompt).await?;
                        match self.response(w).await? {
                            Step::Got(r) => r,
                            Step::Stop(go_on) => return Ok(go_on),
                        }
                    }
                };
                let prompt = self.inst.dialect.challenge(auth::LOGIN_PASS_PROMPT);
                self.write(w, &prompt).await?;
                let pass = match self.response(w).await? {
                    Step::Got(r) => r,
                    Step::Stop(go_on) => return Ok(go_on),
                };
                match (auth::b64(&user), auth::b64(&pass)) {
                    (Some(u), Some(p)) => Some(Attempt::Password {
                        mechanism: Mechanism::Login,
                        authzid: None,
                        user: String::from_utf8_lossy(&u).into_owned(),
                        password: p,
                    }),
                    _ => None,
                }
            }
            Mechanism::CramMd5 => {
                let challenge = self.cram_challenge();
                let b64 = base64::engine::general_purpose::STANDARD.encode(&challenge);
                let line = self.inst.dialect.challenge(&b64);
                self.write(w, &line).await?;
                match self.response(w).await? {
                    Step::Got(r) => auth::b64(&r).and_then(|raw| auth::cram(&challenge, &raw)),
                    Step::Stop(go_on) => return Ok(go_on),
                }
            }
        };
        let Some(attempt) = attempt else {
            self.reply(w, Reply::AuthBadBase64, "AUTH").await?;
            return Ok(true);
        };
        let (credential, mut extra) = attempt.credential();
        if let Some(facts) = &self.tls {
            facts.write_fields(&mut extra);
        }
        if auth::accepts(&attempt, &self.ctx.decky.bait, &self.ctx.decky.config.name) {
            self.ctx
                .login_success(LoginMethod::Password, credential, extra)
                .await;
            self.authed = Some(attempt.user().to_owned());
            self.ctx.pre_auth.done();
            self.reply(w, Reply::AuthOk, "AUTH").await?;
        } else {
            self.ctx
                .login_attempt(LoginMethod::Password, credential, extra)
                .await;
            self.reply(w, Reply::AuthFailed, "AUTH").await?;
        }
        Ok(true)
    }

    /// The next AUTH response line; a `*` cancels.
    async fn response<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        w: &mut Wire<S>,
    ) -> Result<Step, ServiceError> {
        match w.line().await? {
            Line::Eof => Ok(Step::Stop(false)),
            Line::TooLong => {
                self.reply(w, Reply::AuthBadBase64, "AUTH").await?;
                Ok(Step::Stop(true))
            }
            Line::Line(l) if l.as_ref() == b"*" => {
                self.reply(w, Reply::AuthAborted, "AUTH").await?;
                Ok(Step::Stop(true))
            }
            Line::Line(l) => Ok(Step::Got(String::from_utf8_lossy(&l).trim().to_owned())),
        }
    }

    /// `<random.timestamp@hostname>`: the random part from the instance seed, the
    /// session and the attempt, so no two challenges repeat.
    fn cram_challenge(&mut self) -> String {
        self.auth_attempts += 1;
        let mut label = b"smtp-cram-md5-".to_vec();
        label.extend_from_slice(self.ctx.session_id.as_bytes());
        label.extend_from_slice(&self.auth_attempts.to_be_bytes());
        let random = self.inst.decky.seed.pick(&label, 1 << 31);
        auth::challenge(
            random,
            chrono::Utc::now().timestamp(),
            &self.inst.dialect.hostname,
        )
    }
}

/// How reading an AUTH response went.
enum Step {
    /// The response line.
    Got(String),
    /// No response: the dialogue ends (true) or the connection did (false).
    Stop(bool),
}

fn verb_name(v: Verb) -> &'static str {
    match v {
        Verb::Helo => "HELO",
        Verb::Ehlo => "EHLO",
        Verb::Mail => "MAIL",
        Verb::Rcpt => "RCPT",
        Verb::Vrfy => "VRFY",
        Verb::Auth => "AUTH",
        Verb::Etrn => "ETRN",
    }
}

fn fields<const N: usize>(kv: [(&str, Value); N]) -> Fields {
    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
