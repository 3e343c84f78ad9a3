//! POP3 (listener `pop3`, port 110, with STLS; listener `pop3s`, port 995, TLS
//! from the first byte): Dovecot 2.3's pop3-login and pop3 over the same bait
//! mailbox IMAP shows.
//!
//! The greeting carries an APOP timestamp (`<pid.conn.time.random@host>`, as
//! Dovecot writes it when `auth_mechanisms` includes `apop`). Debian's Dovecot
//! does not offer APOP out of the box, but a client can only send APOP after a
//! greeting with a timestamp, and APOP is the one login a plaintext-refusing
//! server still takes before TLS: the timestamp is what makes those digests
//! (crackable offline, hashcat mode 20 `md5($salt.$pass)`) reach us. As Debian
//! ships it, USER/PASS and AUTH PLAIN are refused before STLS
//! (`disable_plaintext_auth = yes`); the user name is still captured.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::{LoginMethod, LoginOutcome};
use decnet_core::{Credential, Fields, SecretKind};
use md5::{Digest as _, Md5};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use crate::conn::Conn;
use crate::imap::account::{self, Accounts, LOGIN_MAX_BAD};
use crate::imap::TLS_TIMEOUT;
use crate::kit::line::{Eol, LineOutcome, LineReader, LineRule};
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, ClientFacts, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// Longest command line: room for any SASL response a real client sends.
const LINE_MAX: usize = 8192;
/// Bad commands the pop3 process takes before hanging up.
const MAX_BAD: u32 = 20;

static KEYS: [PersonaKey; 4] = [
    PersonaKey {
        name: "pop3_banner",
        kind: KeyKind::Text,
        doc: "Greeting after `+OK ` (default: the distro's Dovecot greeting, e.g. Dovecot (Debian) ready.); the APOP timestamp follows it",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "user:password accounts let in besides the bait world's people and honeytokens (default: none)",
    },
    PersonaKey {
        name: "disable_plaintext_auth",
        kind: KeyKind::Bool,
        doc: "Refuse USER/PASS and AUTH PLAIN before STLS, as Dovecot's setting of that name (default true, as Debian ships; the user name is captured either way)",
    },
    PersonaKey {
        name: "apop",
        kind: KeyKind::Bool,
        doc: "Offer APOP: the greeting carries a timestamp and APOP digests are captured (default true)",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("pop3", 110),
    ListenerInfo::tcp("pop3s", 995).with_tls(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "pop3",
    summary: "Dovecot POP3 server over the bait world's mailboxes (STLS on 110, its pop3s listener on 995), APOP digests captured crackable; every retrieved message is an event",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `pop3` service and its `pop3s` listener.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pop3;

#[derive(Debug)]
struct Shared {
    accounts: Accounts,
    banner: String,
    plaintext_ok: bool,
    apop: bool,
    hostname: String,
    /// Dovecot's pop3-login pid in the APOP timestamp.
    pid: u32,
    /// Its auth connection counter.
    conns: AtomicU32,
    uidvalidity: u32,
}

/// RFC 1939's APOP digest: MD5 of the timestamp and the password, in lower-case hex.
pub fn apop_digest(timestamp: &str, password: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(password);
    hex::encode(h.finalize())
}

impl Service for Pop3 {
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
        let banner = keys.text("pop3_banner").map_or_else(
            || format!("{} ready.", account::dovecot_name(d)),
            str::to_owned,
        );
        if banner.chars().any(char::is_control) || banner.len() > 500 {
            return Err(keys.error(
                "pop3_banner",
                "must be one line of at most 500 characters without control characters",
            ));
        }
        let users = keys.users_or("users", "")?;
        let plaintext_ok = !keys.bool("disable_plaintext_auth")?.unwrap_or(true);
        let apop = keys.bool("apop")?.unwrap_or(true);
        let tls = AcceptorBuilder::new(INFO.name, decky.config.hostname.clone())
            .alpn(&[b"pop3"])
            // Dovecot leaves the cipher order to the client and offers DHE, as Apache does.
            .profile(TlsProfile::Apache)
            .build(&decky)?;
        let base = decky.bait.anchor().max(1_600_000_000) - 60 * 86_400;
        let uidvalidity = u32::try_from(
            base - i64::try_from(decky.seed.pick(b"imap-uidvalidity", 200 * 86_400)).unwrap_or(0),
        )
        .unwrap_or(1_600_000_000);
        let shared = Shared {
            accounts: Accounts {
                users,
                decky: decky.config.name.clone(),
                bait: decky.bait.clone(),
            },
            banner,
            plaintext_ok,
            apop,
            hostname: decky.config.hostname.clone(),
            pid: 600 + u32::try_from(decky.seed.pick(b"pop3-login-pid", 30_000)).unwrap_or(0),
            conns: AtomicU32::new(1),
            uidvalidity,
        };
        Ok(Arc::new(Pop3Instance {
            shared: Arc::new(shared),
            tls,
        }))
    }
}

struct Pop3Instance {
    shared: Arc<Shared>,
    tls: TlsAcceptor,
}

#[async_trait]
impl Instance for Pop3Instance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let sh = &self.shared;
        if ctx.listener.tls {
            let stream = match tls::accept(&self.tls, conn, TLS_TIMEOUT).await {
                Ok(s) => s,
                Err(tls::HandshakeError::Closed) => return Ok(()),
                Err(e) => {
                    return Err(ctx
                        .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                        .await)
                }
            };
            let facts = ClientFacts::of(&stream);
            let s = Session::new(sh, &ctx, Some(facts));
            return s.run(stream, true).await.map(|_| ());
        }
        let s = Session::new(sh, &ctx, None);
        match s.run(conn, true).await? {
            Ended::Done => Ok(()),
            Ended::StartTls(conn, s) => {
                let stream = match tls::accept(&self.tls, conn, TLS_TIMEOUT).await {
                    Ok(s) => s,
                    Err(tls::HandshakeError::Closed) => return Ok(()),
                    Err(e) => {
                        return Err(ctx
                            .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                            .await)
                    }
                };
                let mut s = *s;
                s.facts = Some(ClientFacts::of(&stream));
                s.run(stream, false).await.map(|_| ())
            }
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

enum Ended<'a, S> {
    Done,
    StartTls(S, Box<Session<'a>>),
}

enum Flow {
    Go,
    Close,
    StartTls,
}

struct Maildrop {
    login: String,
    msgs: Vec<decnet_core::bait::MailMessage>,
    deleted: Vec<bool>,
}

struct Session<'a> {
    sh: &'a Shared,
    ctx: &'a ConnCtx,
    facts: Option<ClientFacts>,
    timestamp: Option<String>,
    user: Option<String>,
    bad: u32,
    drop: Option<Maildrop>,
}

/// A message's lines with leading dots doubled, then the terminating `.`.
fn dot_stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The header and the first `lines` lines of the body (POP3 TOP).
fn top(raw: &[u8], lines: usize) -> Vec<u8> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let (head, body) = raw.split_at(split.min(raw.len()));
    let mut out = head.to_vec();
    for line in body.split_inclusive(|&b| b == b'\n').take(lines) {
        out.extend_from_slice(line);
    }
    out
}

impl<'a> Session<'a> {
    fn new(sh: &'a Shared, ctx: &'a ConnCtx, facts: Option<ClientFacts>) -> Session<'a> {
        let timestamp = sh.apop.then(|| {
            let conn = sh.conns.fetch_add(1, Ordering::Relaxed);
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            let rnd = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
            format!("<{:x}.{conn:x}.{now:x}.{rnd}@{}>", sh.pid, sh.hostname)
        });
        Session {
            sh,
            ctx,
            facts,
            timestamp,
            user: None,
            bad: 0,
            drop: None,
        }
    }

    fn tls(&self) -> bool {
        self.facts.is_some()
    }

    fn insecure(&self) -> bool {
        !self.tls() && !self.sh.plaintext_ok
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
        mut self,
        stream: S,
        greet: bool,
    ) -> Result<Ended<'a, S>, ServiceError> {
        let mut r = LineReader::new(stream, LineRule::new(LINE_MAX, Eol::Lf));
        if greet {
            let g = match &self.timestamp {
                Some(t) => format!("+OK {} {t}\r\n", self.sh.banner),
                None => format!("+OK {}\r\n", self.sh.banner),
            };
            send(&mut r, g.as_bytes()).await?;
        }
        loop {
            let line = match r.read_line().await? {
                LineOutcome::Line(l) => l,
                LineOutcome::TooLong { .. } => {
                    let flow = self.bad_command(&mut r).await?;
                    if matches!(flow, Flow::Close) {
                        return Ok(Ended::Done);
                    }
                    continue;
                }
                LineOutcome::Eof | LineOutcome::EofMidLine(_) => return Ok(Ended::Done),
            };
            match self.command(&line, &mut r).await? {
                Flow::Go => {}
                Flow::Close => return Ok(Ended::Done),
                Flow::StartTls => {
                    let (stream, rest) = r.into_parts();
                    if !rest.is_empty() {
                        // Pipelined after STLS in the clear (CVE-2011-0411).
                        return Err(self.ctx.protocol_error("pipelined_after_stls").await);
                    }
                    return Ok(Ended::StartTls(stream, Box::new(self)));
                }
            }
        }
    }

    async fn bad_command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        r: &mut LineReader<S>,
    ) -> Result<Flow, ServiceError> {
        self.bad += 1;
        let limit = if self.drop.is_some() {
            MAX_BAD
        } else {
            LOGIN_MAX_BAD
        };
        if self.bad >= limit {
            send(r, b"-ERR Too many invalid commands.\r\n").await?;
            return Ok(Flow::Close);
        }
        send(r, b"-ERR Unknown command.\r\n").await?;
        Ok(Flow::Go)
    }

    fn fields(&self, mechanism: &str) -> Fields {
        let mut f = Fields::new();
        f.insert("mechanism".into(), mechanism.into());
        f.insert("tls".into(), self.tls().into());
        if let Some(t) = &self.facts {
            if let Some(v) = &t.version {
                f.insert("tls_version".into(), v.clone().into());
            }
            if let Some(v) = &t.cipher {
                f.insert("tls_cipher".into(), v.clone().into());
            }
        }
        f
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &mut self,
        line: &[u8],
        r: &mut LineReader<S>,
    ) -> Result<Flow, ServiceError> {
        let text = String::from_utf8_lossy(line).into_owned();
        let mut words = text.splitn(2, ' ');
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        let arg = words.next().unwrap_or_default().to_owned();
        if self.drop.is_some() {
            return self.transaction(&verb, &arg, r).await;
        }
        match verb.as_str() {
            "CAPA" => {
                let mut s = String::from(
                    "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n",
                );
                if !self.tls() {
                    s.push_str("STLS\r\n");
                }
                if self.insecure() {
                    s.push_str("SASL\r\n.\r\n");
                } else {
                    s.push_str("USER\r\nSASL PLAIN\r\n.\r\n");
                }
                send(r, s.as_bytes()).await?;
            }
            "NOOP" => send(r, b"+OK\r\n").await?,
            "QUIT" => {
                send(r, b"+OK Logging out\r\n").await?;
                return Ok(Flow::Close);
            }
            "STLS" => {
                if self.tls() {
                    send(r, b"-ERR TLS is already active.\r\n").await?;
                } else {
                    send(r, b"+OK Begin TLS negotiation now.\r\n").await?;
                    return Ok(Flow::StartTls);
                }
            }
            "USER" => {
                if self.insecure() {
                    // Refused before a password can follow: the name is what there is.
                    let mut f = self.fields("USER");
                    f.insert("refused".into(), "plaintext_disallowed".into());
                    let cred = Credential::new(arg.clone(), b"", SecretKind::Password);
                    self.ctx.login_attempt(LoginMethod::None, cred, f).await;
                    send(r, b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").await?;
                } else {
                    self.user = Some(arg);
                    send(r, b"+OK\r\n").await?;
                }
            }
            "PASS" => match self.user.take() {
                None => send(r, b"-ERR No username given.\r\n").await?,
                Some(user) => {
                    self.password(&user, arg.as_bytes(), "USER", r).await?;
                }
            },
            "APOP" => {
                let mut it = arg.split(' ');
                let (Some(user), Some(digest), Some(ts)) =
                    (it.next(), it.next(), self.timestamp.clone())
                else {
                    return self.bad_command(r).await;
                };
                self.apop(user, digest, &ts, r).await?;
            }
            "AUTH" => {
                if arg.is_empty() {
                    send(r, b"+OK\r\nPLAIN\r\n.\r\n").await?;
                    return Ok(Flow::Go);
                }
                let mut it = arg.splitn(2, ' ');
                let mech = it.next().unwrap_or_default().to_ascii_uppercase();
                let initial = it.next().map(str::to_owned);
                if mech != "PLAIN" {
                    send(r, b"-ERR Unsupported authentication mechanism.\r\n").await?;
                    return Ok(Flow::Go);
                }
                let resp = match initial {
                    Some(i) => i,
                    None if self.insecure() => {
                        send(r, b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").await?;
                        return Ok(Flow::Go);
                    }
                    None => {
                        send(r, b"+ \r\n").await?;
                        match r.read_line().await? {
                            LineOutcome::Line(l) if l.as_ref() != b"*" => {
                                String::from_utf8_lossy(&l).into_owned()
                            }
                            LineOutcome::Line(_) => {
                                send(r, b"-ERR Authentication aborted by client.\r\n").await?;
                                return Ok(Flow::Go);
                            }
                            _ => return Ok(Flow::Close),
                        }
                    }
                };
                let plain = if resp == "=" {
                    Some(Vec::new())
                } else {
                    base64::engine::general_purpose::STANDARD
                        .decode(resp.trim())
                        .ok()
                };
                let Some(plain) = plain else {
                    send(r, b"-ERR Invalid base64 data in continued response\r\n").await?;
                    return Ok(Flow::Go);
                };
                let mut parts = plain.splitn(3, |&b| b == 0);
                let (_authz, authc, pass) = (parts.next(), parts.next(), parts.next());
                let (Some(authc), Some(pass)) = (authc, pass) else {
                    send(r, b"-ERR [AUTH] Authentication failed.\r\n").await?;
                    return Ok(Flow::Go);
                };
                let user = String::from_utf8_lossy(authc).into_owned();
                self.password(&user, pass, "PLAIN", r).await?;
            }
            _ => return self.bad_command(r).await,
        }
        Ok(Flow::Go)
    }

    /// Decides a plaintext password (USER/PASS or AUTH PLAIN).
    async fn password<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        user: &str,
        pass: &[u8],
        mechanism: &str,
        r: &mut LineReader<S>,
    ) -> Result<(), ServiceError> {
        let cred = Credential::new(user, pass, SecretKind::Password);
        let mut f = self.fields(mechanism);
        if self.insecure() {
            f.insert("refused".into(), "plaintext_disallowed".into());
            self.ctx.login_attempt(LoginMethod::Password, cred, f).await;
            return send(r, b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").await;
        }
        if self.sh.accounts.accepts(user, pass) {
            self.ctx.login_success(LoginMethod::Password, cred, f).await;
            return self.logged_in(user, r).await;
        }
        let e = self
            .ctx
            .login_event(LoginOutcome::Attempt, LoginMethod::Password, cred, f);
        account::refuse(self.ctx, e).await;
        send(r, b"-ERR [AUTH] Authentication failed.\r\n").await
    }

    /// Decides an APOP digest: let in when it is the digest of a password the
    /// account could have here.
    async fn apop<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        user: &str,
        digest: &str,
        timestamp: &str,
        r: &mut LineReader<S>,
    ) -> Result<(), ServiceError> {
        let digest = digest.to_ascii_lowercase();
        // The digest is not the password: `token` is DESIGN §6's kind for a
        // secret no other kind describes; the fields carry what cracking needs.
        let cred = Credential::new(user, digest.as_bytes(), SecretKind::Apop);
        let mut f = self.fields("APOP");
        f.insert("apop_timestamp".into(), timestamp.into());
        f.insert("hashcat_mode".into(), 20.into());
        f.insert("hashcat".into(), format!("{digest}:{timestamp}").into());
        let ok = self
            .sh
            .accounts
            .candidates(user)
            .iter()
            .any(|p| apop_digest(timestamp, p.as_bytes()) == digest);
        if ok {
            self.ctx.login_success(LoginMethod::Password, cred, f).await;
            return self.logged_in(user, r).await;
        }
        let e = self
            .ctx
            .login_event(LoginOutcome::Attempt, LoginMethod::Password, cred, f);
        account::refuse(self.ctx, e).await;
        send(r, b"-ERR [AUTH] Authentication failed.\r\n").await
    }

    async fn logged_in<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        user: &str,
        r: &mut LineReader<S>,
    ) -> Result<(), ServiceError> {
        self.ctx.pre_auth.done();
        let msgs = self.sh.accounts.mailbox(user);
        self.drop = Some(Maildrop {
            login: user.to_owned(),
            deleted: vec![false; msgs.len()],
            msgs,
        });
        self.bad = 0;
        send(r, b"+OK Logged in.\r\n").await
    }

    async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        verb: &str,
        arg: &str,
        r: &mut LineReader<S>,
    ) -> Result<Flow, ServiceError> {
        let Some(d) = self.drop.as_mut() else {
            return Ok(Flow::Close);
        };
        let live = |d: &Maildrop| -> Vec<usize> {
            (0..d.msgs.len())
                .filter(|&i| !d.deleted.get(i).copied().unwrap_or(true))
                .collect()
        };
        // A message number the client gave, if it names a message not deleted.
        let pick = |d: &Maildrop, a: &str| -> Result<usize, String> {
            let n: usize = a
                .split(' ')
                .next()
                .unwrap_or_default()
                .parse()
                .map_err(|_| format!("-ERR Invalid message number: {a}\r\n"))?;
            match n.checked_sub(1) {
                Some(i) if i < d.msgs.len() => {
                    if d.deleted.get(i).copied().unwrap_or(true) {
                        Err("-ERR Message is deleted.\r\n".to_owned())
                    } else {
                        Ok(i)
                    }
                }
                _ => Err(format!("-ERR There's no message {n}.\r\n")),
            }
        };
        let out: Vec<u8> = match verb {
            "CAPA" => {
                b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n.\r\n"
                    .to_vec()
            }
            "NOOP" => b"+OK\r\n".to_vec(),
            "STAT" => {
                let l = live(d);
                let size: usize = l
                    .iter()
                    .filter_map(|&i| d.msgs.get(i))
                    .map(|m| m.raw.len())
                    .sum();
                format!("+OK {} {size}\r\n", l.len()).into_bytes()
            }
            "LIST" | "UIDL" => {
                let line = |i: usize, m: &decnet_core::bait::MailMessage| {
                    if verb == "LIST" {
                        format!("{} {}", i + 1, m.raw.len())
                    } else {
                        format!("{} {:08X}{:08X}", i + 1, m.uid, self.sh.uidvalidity)
                    }
                };
                if arg.is_empty() {
                    let l = live(d);
                    let mut s = if verb == "LIST" {
                        format!("+OK {} messages:\r\n", l.len())
                    } else {
                        "+OK\r\n".to_owned()
                    };
                    for i in l {
                        if let Some(m) = d.msgs.get(i) {
                            s.push_str(&line(i, m));
                            s.push_str("\r\n");
                        }
                    }
                    s.push_str(".\r\n");
                    s.into_bytes()
                } else {
                    match pick(d, arg) {
                        Ok(i) => match d.msgs.get(i) {
                            Some(m) => format!("+OK {}\r\n", line(i, m)).into_bytes(),
                            None => b"-ERR There's no such message.\r\n".to_vec(),
                        },
                        Err(e) => e.into_bytes(),
                    }
                }
            }
            "RETR" | "TOP" => {
                let i = match pick(d, arg) {
                    Ok(i) => i,
                    Err(e) => return send(r, e.as_bytes()).await.map(|()| Flow::Go),
                };
                let lines = if verb == "TOP" {
                    match arg.split(' ').nth(1).and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) => Some(n),
                        None => {
                            return send(r, b"-ERR Invalid number of lines: \r\n")
                                .await
                                .map(|()| Flow::Go)
                        }
                    }
                } else {
                    None
                };
                let Some(m) = d.msgs.get(i) else {
                    return Ok(Flow::Go);
                };
                let (head, data) = match lines {
                    Some(n) => ("+OK\r\n".to_owned(), top(&m.raw, n)),
                    None => (format!("+OK {} octets\r\n", m.raw.len()), m.raw.clone()),
                };
                let item = match lines {
                    Some(n) => format!("TOP {n}"),
                    None => "RETR".to_owned(),
                };
                let e = account::read_event(
                    self.ctx,
                    m,
                    &d.login,
                    "INBOX",
                    &item,
                    &format!("{verb} {arg}"),
                );
                // Nothing reaches the peer before its read is on disk.
                account::emit_all(self.ctx, vec![e]).await;
                let mut out = head.into_bytes();
                out.extend_from_slice(&dot_stuffed(&data));
                out
            }
            "DELE" => match pick(d, arg) {
                Ok(i) => {
                    if let Some(x) = d.deleted.get_mut(i) {
                        *x = true;
                    }
                    b"+OK Marked to be deleted.\r\n".to_vec()
                }
                Err(e) => e.into_bytes(),
            },
            "RSET" => {
                d.deleted.iter_mut().for_each(|x| *x = false);
                b"+OK\r\n".to_vec()
            }
            "QUIT" => {
                send(r, b"+OK Logging out.\r\n").await?;
                return Ok(Flow::Close);
            }
            _ => {
                self.bad += 1;
                if self.bad >= MAX_BAD {
                    send(r, b"-ERR Too many bad commands.\r\n").await?;
                    return Ok(Flow::Close);
                }
                format!("-ERR Unknown command: {verb}\r\n").into_bytes()
            }
        };
        send(r, &out).await?;
        Ok(Flow::Go)
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut LineReader<S>,
    data: &[u8],
) -> Result<(), ServiceError> {
    let s = r.get_mut();
    s.write_all(data).await?;
    s.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apop_digest_is_rfc_1939s_example() {
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn retrieved_lines_are_dot_stuffed_and_top_stops_after_n_body_lines() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a"), b"a\r\n.\r\n");
        assert_eq!(
            top(b"H: 1\r\n\r\nl1\r\nl2\r\nl3\r\n", 2),
            b"H: 1\r\n\r\nl1\r\nl2\r\n"
        );
        assert_eq!(top(b"H: 1\r\n\r\nl1\r\n", 0), b"H: 1\r\n\r\n");
    }
}
