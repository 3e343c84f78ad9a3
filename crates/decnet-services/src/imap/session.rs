//! One IMAP connection: Dovecot's imap-login until a login succeeds, then its
//! imap process over the login's bait mailbox. Replies are Dovecot 2.3's,
//! word for word, including its bad-command limits (3 before login, 20 after).

use base64::Engine as _;
use bytes::BufMut as _;
use bytes::{Bytes, BytesMut};
use decnet_core::bait::MailMessage;
use decnet_core::fields::LoginMethod;
use decnet_core::{Credential, Fields, SecretKind};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::account::{self, LOGIN_MAX_BAD};
use super::message;
use super::parse::{self, Assembler, ParseError, SeqSet, Step, Value};
use super::Shared;
use crate::kit::tls::ClientFacts;
use crate::service::{ConnCtx, ServiceError};

/// Dovecot's `imap_max_line_length`: a command, literals included.
const COMMAND_CAP: usize = 64 * 1024;
/// FETCH items one command may ask for: real clients ask for a dozen; the
/// bound keeps one reply (every message times every item) to a few megabytes.
const MAX_FETCH_ITEMS: usize = 64;
/// Bad commands the imap process takes before `* BYE`.
const MAX_BAD: u32 = 20;
/// The mailboxes of Dovecot's default namespace a mail client has created.
const MAILBOXES: [(&str, &str); 4] = [
    ("INBOX", ""),
    ("Drafts", " \\Drafts"),
    ("Sent", " \\Sent"),
    ("Trash", " \\Trash"),
];
const FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// How a session ended.
pub(crate) enum Ended<'a, S> {
    /// The connection is over.
    Done,
    /// STARTTLS was accepted: run the handshake on the stream, then the session on.
    StartTls(S, Box<Session<'a>>),
}

/// The stream and the command being assembled.
struct Wire<S> {
    s: S,
    buf: BytesMut,
    asm: Assembler,
}

enum Got {
    Cmd(Bytes),
    TooLong,
    Eof,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    async fn next(&mut self) -> std::io::Result<Got> {
        loop {
            match self.asm.step(&mut self.buf) {
                Step::Command(c) => return Ok(Got::Cmd(c)),
                Step::TooLong => return Ok(Got::TooLong),
                Step::Continue => {
                    self.s.write_all(b"+ OK\r\n").await?;
                    self.s.flush().await?;
                    continue;
                }
                Step::Incomplete => {}
            }
            let room = self.asm.room(self.buf.len());
            self.buf.reserve(room);
            let mut limited = (&mut self.buf).limit(room);
            if self.s.read_buf(&mut limited).await? == 0 {
                return Ok(Got::Eof);
            }
        }
    }

    async fn send(&mut self, out: &[u8]) -> std::io::Result<()> {
        self.s.write_all(out).await?;
        self.s.flush().await
    }
}

/// A message as this session sees it (flags and expunges are per session).
struct Msg {
    m: MailMessage,
    flags: Vec<&'static str>,
}

impl Msg {
    fn has(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x.eq_ignore_ascii_case(f))
    }

    fn flag_list(&self) -> String {
        format!("({})", self.flags.join(" "))
    }
}

/// The system flag a client names, as Dovecot spells it.
fn system_flag(f: &str) -> Option<&'static str> {
    ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(f))
}

struct Selected {
    name: String,
    read_only: bool,
    inbox: bool,
}

struct User {
    login: String,
    inbox: Vec<Msg>,
    empty: Vec<Msg>,
    uidnext: u32,
    selected: Option<Selected>,
}

impl User {
    fn view(&mut self) -> &mut Vec<Msg> {
        match &self.selected {
            Some(s) if s.inbox => &mut self.inbox,
            _ => {
                self.empty.clear();
                &mut self.empty
            }
        }
    }
}

/// What a command asks of the loop.
enum Flow {
    Go,
    Close,
    StartTls,
}

/// One connection's state.
pub(crate) struct Session<'a> {
    sh: &'a Shared,
    ctx: &'a ConnCtx,
    facts: Option<ClientFacts>,
    bad: u32,
    user: Option<User>,
}

/// The name of a mailbox a client gave, as Dovecot's namespace knows it.
fn mailbox_name(given: &str) -> Option<&'static str> {
    // INBOX is case-insensitive (RFC 3501 §5.1); Dovecot's other names are not.
    MAILBOXES
        .iter()
        .map(|(n, _)| *n)
        .find(|n| *n == given || (*n == "INBOX" && given.eq_ignore_ascii_case("INBOX")))
}

/// IMAP LIST wildcard match (`*` anything, `%` anything but the separator),
/// by dynamic programming so a pattern of many wildcards costs
/// pattern × name steps, never a backtracking blow-up.
fn wild(pattern: &[u8], name: &[u8]) -> bool {
    if pattern.len() > 1024 {
        return false;
    }
    // ok[j]: the pattern so far matches the first j bytes of the name.
    let mut ok = vec![false; name.len() + 1];
    if let Some(first) = ok.first_mut() {
        *first = true;
    }
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        for j in 0..=name.len() {
            let here = ok.get(j).copied().unwrap_or(false);
            let prev_next = j > 0 && next.get(j - 1).copied().unwrap_or(false);
            let c = if j > 0 {
                name.get(j - 1).copied()
            } else {
                None
            };
            let v = match p {
                b'*' => here || (prev_next && c.is_some()),
                b'%' => here || (prev_next && c.is_some_and(|c| c != b'.')),
                lit => {
                    j > 0
                        && ok.get(j - 1).copied().unwrap_or(false)
                        && c.is_some_and(|c| c.eq_ignore_ascii_case(&lit))
                }
            };
            if let Some(slot) = next.get_mut(j) {
                *slot = v;
            }
        }
        ok = next;
    }
    ok.last().copied().unwrap_or(false)
}

impl<'a> Session<'a> {
    pub(crate) fn new(sh: &'a Shared, ctx: &'a ConnCtx, facts: Option<ClientFacts>) -> Session<'a> {
        Session {
            sh,
            ctx,
            facts,
            bad: 0,
            user: None,
        }
    }

    /// The session after a STARTTLS handshake.
    pub(crate) fn upgraded(mut self: Box<Self>, facts: ClientFacts) -> Session<'a> {
        self.facts = Some(facts);
        *self
    }

    fn tls(&self) -> bool {
        self.facts.is_some()
    }

    /// Completion timing as Dovecot 2.3 appends it to tagged OKs.
    fn timing(&self) -> String {
        if self.sh.dovecot_2_2 {
            ".".to_owned()
        } else {
            format!(" (0.00{} + 0.000 secs).", 1 + rand::random::<u8>() % 3)
        }
    }

    fn pre_caps(&self) -> String {
        let mut s = String::from(if self.sh.dovecot_2_2 {
            "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE"
        } else {
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+"
        });
        if !self.tls() {
            s.push_str(" STARTTLS");
        }
        if self.tls() || self.sh.plaintext_ok {
            s.push_str(" AUTH=PLAIN");
        } else {
            s.push_str(" LOGINDISABLED");
        }
        s
    }

    fn post_caps(&self) -> &'static str {
        if self.sh.dovecot_2_2 {
            "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SPECIAL-USE"
        } else {
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
        }
    }

    fn greeting(&self) -> String {
        match &self.sh.banner {
            Some(b) => format!("* OK {b}\r\n"),
            None => format!(
                "* OK [CAPABILITY {}] {} ready.\r\n",
                self.pre_caps(),
                self.sh.greeting_name
            ),
        }
    }

    /// Serves commands until the peer leaves, logs out or asks for TLS.
    pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
        mut self,
        stream: S,
        greet: bool,
    ) -> Result<Ended<'a, S>, ServiceError> {
        let mut w = Wire {
            s: stream,
            buf: BytesMut::new(),
            asm: Assembler::new(COMMAND_CAP),
        };
        if greet {
            w.send(self.greeting().as_bytes()).await?;
        }
        loop {
            let cmd = match w.next().await? {
                Got::Eof => return Ok(Ended::Done),
                Got::TooLong => {
                    let _ = w.send(b"* BYE Too long argument.\r\n").await;
                    return Err(self.ctx.protocol_error("command_too_long").await);
                }
                Got::Cmd(c) => c,
            };
            let mut out = Vec::new();
            let flow = self.command(&cmd, &mut w, &mut out).await?;
            w.send(&out).await?;
            match flow {
                Flow::Go => {}
                Flow::Close => return Ok(Ended::Done),
                Flow::StartTls => {
                    if !w.buf.is_empty() {
                        // Commands pipelined after STARTTLS were sent in the clear
                        // (CVE-2011-0411): never run them inside TLS.
                        return Err(self.ctx.protocol_error("pipelined_after_starttls").await);
                    }
                    return Ok(Ended::StartTls(w.s, Box::new(self)));
                }
            }
        }
    }

    fn bad(&mut self, out: &mut Vec<u8>, tag: &str, text: &str) -> Flow {
        self.bad += 1;
        let limit = if self.user.is_some() {
            MAX_BAD
        } else {
            LOGIN_MAX_BAD
        };
        if self.bad >= limit {
            out.extend_from_slice(b"* BYE Too many invalid IMAP commands.\r\n");
            return Flow::Close;
        }
        out.extend_from_slice(format!("{tag} BAD {text}\r\n").as_bytes());
        Flow::Go
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &mut self,
        raw: &[u8],
        w: &mut Wire<S>,
        out: &mut Vec<u8>,
    ) -> Result<Flow, ServiceError> {
        let logged_in = self.user.is_some();
        let c = match parse::parse(raw) {
            Ok(c) => c,
            Err(e) => {
                let (tag, verb) = match e {
                    ParseError::NoTag => ("*".to_owned(), None),
                    ParseError::NoVerb(t) => (t, None),
                    ParseError::BadArgs { tag, verb } => (tag, Some(verb)),
                };
                let text = match (&verb, logged_in) {
                    (Some(v), true) => format!("Error in IMAP command {v}: Invalid arguments."),
                    _ => "Error in IMAP command received by server.".to_owned(),
                };
                return Ok(self.bad(out, &tag, &text));
            }
        };
        let tag = c.tag.as_str();
        match c.verb.as_str() {
            "CAPABILITY" => {
                if logged_in {
                    out.extend_from_slice(
                        format!(
                            "* CAPABILITY {}\r\n{tag} OK Capability completed.\r\n",
                            self.post_caps()
                        )
                        .as_bytes(),
                    );
                } else {
                    out.extend_from_slice(format!("* CAPABILITY {}\r\n{tag} OK Pre-login capabilities listed, post-login capabilities have more.\r\n", self.pre_caps()).as_bytes());
                }
            }
            "NOOP" => {
                if logged_in {
                    out.extend_from_slice(
                        format!("{tag} OK NOOP completed{}\r\n", self.timing()).as_bytes(),
                    );
                } else {
                    out.extend_from_slice(format!("{tag} OK NOOP completed.\r\n").as_bytes());
                }
            }
            "LOGOUT" => {
                out.extend_from_slice(
                    format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n").as_bytes(),
                );
                return Ok(Flow::Close);
            }
            "ID" => {
                out.extend_from_slice(
                    format!("* ID (\"name\" \"Dovecot\")\r\n{tag} OK ID completed.\r\n").as_bytes(),
                );
            }
            "STARTTLS" if !logged_in => {
                if self.tls() {
                    out.extend_from_slice(
                        format!("{tag} BAD TLS is already active.\r\n").as_bytes(),
                    );
                } else {
                    out.extend_from_slice(
                        format!("{tag} OK Begin TLS negotiation now.\r\n").as_bytes(),
                    );
                    return Ok(Flow::StartTls);
                }
            }
            "LOGIN" if !logged_in => {
                let (Some(user), Some(pass)) = (
                    c.args.first().and_then(Value::text),
                    c.args.get(1).and_then(Value::bytes),
                ) else {
                    return Ok(self.bad(out, tag, "Error in IMAP command received by server."));
                };
                self.login(tag, "LOGIN", None, &user, &pass, out).await;
            }
            "AUTHENTICATE" if !logged_in => {
                return self.authenticate(tag, &c.args, w, out).await;
            }
            "IDLE" if logged_in => {
                // Bounded by the connection's idle deadline, as Dovecot's by its
                // own inactivity timeout.
                w.send(b"+ idling\r\n").await?;
                match w.next().await? {
                    Got::Cmd(l) if l.eq_ignore_ascii_case(b"DONE") => {
                        out.extend_from_slice(
                            format!("{tag} OK Idle completed (0.001 + 1.000 secs).\r\n").as_bytes(),
                        );
                    }
                    Got::Cmd(_) => {
                        out.extend_from_slice(format!("{tag} BAD Expected DONE.\r\n").as_bytes())
                    }
                    Got::Eof | Got::TooLong => return Ok(Flow::Close),
                }
            }
            _ if !logged_in => {
                return Ok(self.bad(out, tag, "Error in IMAP command received by server."));
            }
            _ => return self.mail_command(&c, out).await,
        }
        Ok(Flow::Go)
    }

    fn login_fields(&self, command: &str, mechanism: Option<&str>) -> Fields {
        let mut f = Fields::new();
        f.insert("command".into(), command.into());
        if let Some(m) = mechanism {
            f.insert("mechanism".into(), m.into());
        }
        f.insert("tls".into(), self.tls().into());
        if let Some(t) = &self.facts {
            if let Some(v) = &t.version {
                f.insert("tls_version".into(), v.clone().into());
            }
            if let Some(v) = &t.cipher {
                f.insert("tls_cipher".into(), v.clone().into());
            }
            if let Some(v) = &t.sni {
                f.insert("sni".into(), v.clone().into());
            }
        }
        f
    }

    /// Decides one credential: captured, then let in, refused after the
    /// failure delay, or refused at once for plaintext before TLS.
    async fn login(
        &mut self,
        tag: &str,
        command: &str,
        mechanism: Option<&str>,
        user: &str,
        pass: &[u8],
        out: &mut Vec<u8>,
    ) {
        let cred = Credential::new(user, pass, SecretKind::Password);
        let mut fields = self.login_fields(command, mechanism);
        if !self.tls() && !self.sh.plaintext_ok {
            fields.insert("refused".into(), "plaintext_disallowed".into());
            self.ctx
                .login_attempt(LoginMethod::Password, cred, fields)
                .await;
            out.extend_from_slice(format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").as_bytes());
            return;
        }
        if self.sh.accounts.accepts(user, pass) {
            self.ctx
                .login_success(LoginMethod::Password, cred, fields)
                .await;
            self.ctx.pre_auth.done();
            let inbox: Vec<Msg> = self
                .sh
                .accounts
                .mailbox(user)
                .into_iter()
                .map(|m| Msg {
                    flags: if m.seen { vec!["\\Seen"] } else { Vec::new() },
                    m,
                })
                .collect();
            let uidnext = inbox.iter().map(|m| m.m.uid).max().unwrap_or(0) + 1;
            self.user = Some(User {
                login: user.to_owned(),
                inbox,
                empty: Vec::new(),
                uidnext,
                selected: None,
            });
            self.bad = 0;
            out.extend_from_slice(
                format!("{tag} OK [CAPABILITY {}] Logged in\r\n", self.post_caps()).as_bytes(),
            );
            return;
        }
        let e = self.ctx.login_event(
            decnet_core::fields::LoginOutcome::Attempt,
            LoginMethod::Password,
            cred,
            fields,
        );
        account::refuse(self.ctx, e).await;
        out.extend_from_slice(
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n").as_bytes(),
        );
    }

    /// Reads one SASL continuation line; `None` when the client aborted or left.
    async fn continuation<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &mut self,
        w: &mut Wire<S>,
        challenge: &str,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        w.send(format!("+ {challenge}\r\n").as_bytes()).await?;
        match w.next().await? {
            Got::Cmd(line) if line.as_ref() != b"*" => Ok(Some(line.to_vec())),
            _ => Ok(None),
        }
    }

    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &mut self,
        tag: &str,
        args: &[Value],
        w: &mut Wire<S>,
        out: &mut Vec<u8>,
    ) -> Result<Flow, ServiceError> {
        let Some(mech) = args.first().and_then(Value::text) else {
            return Ok(self.bad(out, tag, "Error in IMAP command received by server."));
        };
        let mech = mech.to_ascii_uppercase();
        let initial = args.get(1).and_then(Value::bytes);
        let b64 = base64::engine::general_purpose::STANDARD;
        let decode = |v: &[u8]| -> Option<Vec<u8>> {
            if v == b"=" {
                Some(Vec::new())
            } else {
                b64.decode(v).ok()
            }
        };
        let insecure = !self.tls() && !self.sh.plaintext_ok;
        let (user, pass) = match mech.as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(i) => i,
                    None if insecure => {
                        out.extend_from_slice(format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").as_bytes());
                        return Ok(Flow::Go);
                    }
                    None => match self.continuation(w, "").await? {
                        Some(r) => r,
                        None => {
                            out.extend_from_slice(
                                format!("{tag} BAD Authentication aborted by client.\r\n")
                                    .as_bytes(),
                            );
                            return Ok(Flow::Go);
                        }
                    },
                };
                let Some(plain) = decode(&resp) else {
                    out.extend_from_slice(
                        format!("{tag} BAD Invalid base64 data in continued response\r\n")
                            .as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                let mut it = plain.splitn(3, |&b| b == 0);
                let (_authz, authc, pass) = (it.next(), it.next(), it.next());
                let (Some(authc), Some(pass)) = (authc, pass) else {
                    out.extend_from_slice(
                        format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                            .as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                (String::from_utf8_lossy(authc).into_owned(), pass.to_vec())
            }
            "LOGIN" => {
                if insecure && initial.is_none() {
                    out.extend_from_slice(format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n").as_bytes());
                    return Ok(Flow::Go);
                }
                let user = match initial {
                    Some(i) => decode(&i),
                    None => self
                        .continuation(w, "VXNlcm5hbWU6")
                        .await?
                        .and_then(|r| decode(&r)),
                };
                let Some(user) = user else {
                    out.extend_from_slice(
                        format!("{tag} BAD Authentication aborted by client.\r\n").as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                let pass = self
                    .continuation(w, "UGFzc3dvcmQ6")
                    .await?
                    .and_then(|r| decode(&r));
                let Some(pass) = pass else {
                    out.extend_from_slice(
                        format!("{tag} BAD Authentication aborted by client.\r\n").as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                (String::from_utf8_lossy(&user).into_owned(), pass)
            }
            _ => {
                out.extend_from_slice(
                    format!("{tag} NO Unsupported authentication mechanism.\r\n").as_bytes(),
                );
                return Ok(Flow::Go);
            }
        };
        self.login(tag, "AUTHENTICATE", Some(&mech), &user, &pass, out)
            .await;
        Ok(Flow::Go)
    }

    async fn mail_command(
        &mut self,
        c: &parse::Command,
        out: &mut Vec<u8>,
    ) -> Result<Flow, ServiceError> {
        let tag = c.tag.as_str();
        let timing = self.timing();
        let (verb, args, uid) = if c.verb == "UID" {
            match c.args.first().and_then(Value::text) {
                Some(v) => (
                    v.to_ascii_uppercase(),
                    c.args.get(1..).unwrap_or_default(),
                    true,
                ),
                None => {
                    return Ok(self.bad(out, tag, "Error in IMAP command UID: Invalid arguments."))
                }
            }
        } else {
            (c.verb.clone(), c.args.as_slice(), false)
        };
        let verb = verb.as_str();
        let invalid = format!("Error in IMAP command {verb}: Invalid arguments.");
        let selected = self.user.as_ref().is_some_and(|u| u.selected.is_some());
        let needs_selected = matches!(
            verb,
            "FETCH"
                | "STORE"
                | "SEARCH"
                | "CLOSE"
                | "UNSELECT"
                | "EXPUNGE"
                | "CHECK"
                | "COPY"
                | "MOVE"
        );
        if uid
            && !matches!(
                verb,
                "FETCH" | "STORE" | "SEARCH" | "COPY" | "MOVE" | "EXPUNGE"
            )
        {
            return Ok(self.bad(out, tag, "Error in IMAP command UID: Unknown command."));
        }
        if needs_selected && !selected {
            return Ok(self.bad(out, tag, "No mailbox selected."));
        }
        let Some(user) = self.user.as_mut() else {
            return Ok(Flow::Go);
        };
        match verb {
            "ENABLE" => {
                out.extend_from_slice(format!("* ENABLED\r\n{tag} OK Enabled.\r\n").as_bytes());
            }
            "NAMESPACE" => {
                out.extend_from_slice(format!("* NAMESPACE ((\"\" \".\")) NIL NIL\r\n{tag} OK Namespace completed{timing}\r\n").as_bytes());
            }
            "LIST" | "LSUB" => {
                let texts: Vec<String> = args
                    .iter()
                    .filter(|a| !matches!(a, Value::List(_)))
                    .filter_map(Value::text)
                    .collect();
                let (Some(reference), Some(pattern)) = (texts.first(), texts.get(1)) else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                if pattern.is_empty() {
                    out.extend_from_slice(b"* LIST (\\Noselect) \".\" \"\"\r\n");
                } else {
                    let full = format!("{reference}{pattern}");
                    for (name, special) in MAILBOXES {
                        if wild(full.as_bytes(), name.as_bytes()) {
                            let line = if verb == "LIST" {
                                format!("* LIST (\\HasNoChildren{special}) \".\" {name}\r\n")
                            } else {
                                format!("* LSUB () \".\" {name}\r\n")
                            };
                            out.extend_from_slice(line.as_bytes());
                        }
                    }
                }
                let done = if verb == "LIST" { "List" } else { "Lsub" };
                out.extend_from_slice(format!("{tag} OK {done} completed{timing}\r\n").as_bytes());
            }
            "SELECT" | "EXAMINE" => {
                let Some(given) = args.first().and_then(Value::text) else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                user.selected = None;
                let Some(name) = mailbox_name(&given) else {
                    out.extend_from_slice(
                        format!("{tag} NO Mailbox doesn't exist: {given}\r\n").as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                let read_only = verb == "EXAMINE";
                user.selected = Some(Selected {
                    name: name.to_owned(),
                    read_only,
                    inbox: name == "INBOX",
                });
                let uidnext = if name == "INBOX" { user.uidnext } else { 1 };
                let view = user.view();
                let mut s = format!("* FLAGS ({FLAGS})\r\n");
                if read_only {
                    s.push_str("* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
                } else {
                    s.push_str(&format!(
                        "* OK [PERMANENTFLAGS ({FLAGS} \\*)] Flags permitted.\r\n"
                    ));
                }
                s.push_str(&format!("* {} EXISTS\r\n* 0 RECENT\r\n", view.len()));
                if let Some(i) = view.iter().position(|m| !m.has("\\Seen")) {
                    s.push_str(&format!("* OK [UNSEEN {}] First unseen.\r\n", i + 1));
                }
                s.push_str(&format!(
                    "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {uidnext}] Predicted next UID\r\n",
                    self.sh.uidvalidity
                ));
                let (mode, done) = if read_only {
                    ("READ-ONLY", "Examine")
                } else {
                    ("READ-WRITE", "Select")
                };
                s.push_str(&format!("{tag} OK [{mode}] {done} completed{timing}\r\n"));
                out.extend_from_slice(s.as_bytes());
            }
            "STATUS" => {
                let (Some(given), Some(Value::List(items))) =
                    (args.first().and_then(Value::text), args.get(1))
                else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                let Some(name) = mailbox_name(&given) else {
                    out.extend_from_slice(
                        format!("{tag} NO Mailbox doesn't exist: {given}\r\n").as_bytes(),
                    );
                    return Ok(Flow::Go);
                };
                let (msgs, unseen, uidnext) = if name == "INBOX" {
                    (
                        user.inbox.len(),
                        user.inbox.iter().filter(|m| !m.has("\\Seen")).count(),
                        user.uidnext,
                    )
                } else {
                    (0, 0, 1)
                };
                let mut got = Vec::new();
                for it in items.iter().filter_map(Value::text) {
                    let v = match it.to_ascii_uppercase().as_str() {
                        "MESSAGES" => msgs.to_string(),
                        "RECENT" => "0".into(),
                        "UIDNEXT" => uidnext.to_string(),
                        "UIDVALIDITY" => self.sh.uidvalidity.to_string(),
                        "UNSEEN" => unseen.to_string(),
                        _ => return Ok(self.bad(out, tag, &invalid)),
                    };
                    got.push(format!("{} {v}", it.to_ascii_uppercase()));
                }
                let shown = if name == "INBOX" {
                    name.to_owned()
                } else {
                    message::quote(Some(name))
                };
                out.extend_from_slice(
                    format!(
                        "* STATUS {shown} ({})\r\n{tag} OK Status completed{timing}\r\n",
                        got.join(" ")
                    )
                    .as_bytes(),
                );
            }
            "CREATE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let done = match verb {
                    "CREATE" => "Create",
                    "SUBSCRIBE" => "Subscribe",
                    _ => "Unsubscribe",
                };
                out.extend_from_slice(format!("{tag} OK {done} completed{timing}\r\n").as_bytes());
            }
            "DELETE" | "RENAME" | "APPEND" | "COPY" | "MOVE" => {
                out.extend_from_slice(format!("{tag} NO [SERVERBUG] Internal error occurred. Refer to server log for more information.\r\n").as_bytes());
            }
            "CHECK" => {
                out.extend_from_slice(format!("{tag} OK Check completed{timing}\r\n").as_bytes())
            }
            "CLOSE" | "UNSELECT" => {
                if verb == "CLOSE" && user.selected.as_ref().is_some_and(|s| !s.read_only) {
                    user.view().retain(|m| !m.has("\\Deleted"));
                }
                user.selected = None;
                let done = if verb == "CLOSE" { "Close" } else { "Unselect" };
                out.extend_from_slice(format!("{tag} OK {done} completed.\r\n").as_bytes());
            }
            "EXPUNGE" => {
                let ro = user.selected.as_ref().is_some_and(|s| s.read_only);
                if !ro {
                    let view = user.view();
                    let mut i = 0;
                    while i < view.len() {
                        if view.get(i).is_some_and(|m| m.has("\\Deleted")) {
                            view.remove(i);
                            out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                        } else {
                            i += 1;
                        }
                    }
                }
                out.extend_from_slice(format!("{tag} OK Expunge completed{timing}\r\n").as_bytes());
            }
            "SEARCH" => {
                let view = user.view();
                let mut keys = args;
                if keys
                    .first()
                    .and_then(Value::text)
                    .is_some_and(|k| k.eq_ignore_ascii_case("CHARSET"))
                {
                    keys = keys.get(2..).unwrap_or_default();
                }
                let max_seq = u32::try_from(view.len()).unwrap_or(u32::MAX);
                let max_uid = view.last().map_or(0, |m| m.m.uid);
                let mut hits = Vec::new();
                for (i, m) in view.iter().enumerate() {
                    let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let ctx = SearchCtx {
                        seq,
                        max_seq,
                        max_uid,
                    };
                    match search_all(keys, m, &ctx) {
                        Some(true) => hits.push(if uid { m.m.uid } else { seq }),
                        Some(false) => {}
                        None => return Ok(self.bad(out, tag, &invalid)),
                    }
                }
                if keys.is_empty() {
                    return Ok(self.bad(out, tag, &invalid));
                }
                let list: String = hits.iter().map(|n| format!(" {n}")).collect();
                out.extend_from_slice(
                    format!("* SEARCH{list}\r\n{tag} OK Search completed{timing}\r\n").as_bytes(),
                );
            }
            "STORE" => {
                let (Some(set), Some(item)) = (
                    args.first()
                        .and_then(Value::text)
                        .and_then(|s| SeqSet::parse(&s)),
                    args.get(1).and_then(Value::text),
                ) else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                let flags: Vec<&'static str> = match args.get(2..) {
                    Some([Value::List(l)]) => l
                        .iter()
                        .filter_map(Value::text)
                        .filter_map(|f| system_flag(&f))
                        .collect(),
                    Some(rest) => rest
                        .iter()
                        .filter_map(Value::text)
                        .filter_map(|f| system_flag(&f))
                        .collect(),
                    None => Vec::new(),
                };
                let item = item.to_ascii_uppercase();
                let silent = item.ends_with(".SILENT");
                let op = item.trim_end_matches(".SILENT");
                if !matches!(op, "FLAGS" | "+FLAGS" | "-FLAGS") {
                    return Ok(self.bad(out, tag, &invalid));
                }
                if user.selected.as_ref().is_some_and(|s| s.read_only) {
                    out.extend_from_slice(format!("{tag} NO Mailbox is read-only.\r\n").as_bytes());
                    return Ok(Flow::Go);
                }
                let view = user.view();
                let max_seq = u32::try_from(view.len()).unwrap_or(u32::MAX);
                let max_uid = view.last().map_or(0, |m| m.m.uid);
                for (i, m) in view.iter_mut().enumerate() {
                    let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let hit = if uid {
                        set.contains(m.m.uid, max_uid)
                    } else {
                        set.contains(seq, max_seq)
                    };
                    if !hit {
                        continue;
                    }
                    match op {
                        "FLAGS" => m.flags = flags.clone(),
                        "+FLAGS" => {
                            for f in &flags {
                                if !m.has(f) {
                                    m.flags.push(f);
                                }
                            }
                        }
                        _ => m.flags.retain(|f| !flags.contains(f)),
                    }
                    if !silent {
                        let uid_part = if uid {
                            format!(" UID {}", m.m.uid)
                        } else {
                            String::new()
                        };
                        out.extend_from_slice(
                            format!("* {seq} FETCH (FLAGS {}{uid_part})\r\n", m.flag_list())
                                .as_bytes(),
                        );
                    }
                }
                out.extend_from_slice(format!("{tag} OK Store completed{timing}\r\n").as_bytes());
            }
            "FETCH" => {
                let (Some(set), Some(items)) = (
                    args.first()
                        .and_then(Value::text)
                        .and_then(|s| SeqSet::parse(&s)),
                    args.get(1),
                ) else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                let Some(mut items) = fetch_items(items).filter(|i| i.len() <= MAX_FETCH_ITEMS)
                else {
                    return Ok(self.bad(out, tag, &invalid));
                };
                if uid && !items.contains(&Item::Uid) {
                    items.insert(0, Item::Uid);
                }
                let read_only = user.selected.as_ref().is_some_and(|s| s.read_only);
                let mailbox = user
                    .selected
                    .as_ref()
                    .map_or_else(String::new, |s| s.name.clone());
                let login = user.login.clone();
                let command = String::from_utf8_lossy(&c_raw(c)).into_owned();
                let view = user.view();
                let max_seq = u32::try_from(view.len()).unwrap_or(u32::MAX);
                let max_uid = view.last().map_or(0, |m| m.m.uid);
                let mut events = Vec::new();
                for (i, m) in view.iter_mut().enumerate() {
                    let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let hit = if uid {
                        set.contains(m.m.uid, max_uid)
                    } else {
                        set.contains(seq, max_seq)
                    };
                    if !hit {
                        continue;
                    }
                    let (bytes, read) = fetch_one(seq, m, &items, read_only);
                    if !read.is_empty() {
                        events.push(account::read_event(
                            self.ctx,
                            &m.m,
                            &login,
                            &mailbox,
                            &read.join(" "),
                            &command,
                        ));
                    }
                    out.extend_from_slice(&bytes);
                }
                // Nothing reaches the peer before its reads are on disk.
                account::emit_all(self.ctx, events).await;
                out.extend_from_slice(format!("{tag} OK Fetch completed{timing}\r\n").as_bytes());
            }
            _ => {
                let text = format!("Error in IMAP command {}: Unknown command.", c.verb);
                return Ok(self.bad(out, tag, &text));
            }
        }
        Ok(Flow::Go)
    }
}

/// The command's text for the read event (its verb and arguments, no literals).
fn c_raw(c: &parse::Command) -> Vec<u8> {
    let mut s = format!("{} {}", c.tag, c.verb);
    for a in &c.args {
        s.push(' ');
        s.push_str(&render(a));
    }
    s.into_bytes()
}

fn render(v: &Value) -> String {
    match v {
        Value::Atom(a) => a.clone(),
        Value::Str(s) => message::quote(Some(&String::from_utf8_lossy(s))),
        Value::List(l) => format!("({})", l.iter().map(render).collect::<Vec<_>>().join(" ")),
    }
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Uid,
    Flags,
    Size,
    InternalDate,
    Envelope,
    BodyStructure,
    Body,
    Section {
        peek: bool,
        section: String,
        partial: Option<(usize, usize)>,
    },
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

fn fetch_items(v: &Value) -> Option<Vec<Item>> {
    let names: Vec<String> = match v {
        Value::List(l) => l.iter().map(Value::text).collect::<Option<Vec<_>>>()?,
        other => vec![other.text()?],
    };
    let mut out = Vec::new();
    for n in names {
        let up = n.to_ascii_uppercase();
        match up.as_str() {
            "ALL" => out.extend([Item::Flags, Item::InternalDate, Item::Size, Item::Envelope]),
            "FAST" => out.extend([Item::Flags, Item::InternalDate, Item::Size]),
            "FULL" => out.extend([
                Item::Flags,
                Item::InternalDate,
                Item::Size,
                Item::Envelope,
                Item::Body,
            ]),
            "UID" => out.push(Item::Uid),
            "FLAGS" => out.push(Item::Flags),
            "RFC822.SIZE" => out.push(Item::Size),
            "INTERNALDATE" => out.push(Item::InternalDate),
            "ENVELOPE" => out.push(Item::Envelope),
            "BODYSTRUCTURE" => out.push(Item::BodyStructure),
            "BODY" => out.push(Item::Body),
            "RFC822" => out.push(Item::Rfc822),
            "RFC822.HEADER" => out.push(Item::Rfc822Header),
            "RFC822.TEXT" => out.push(Item::Rfc822Text),
            _ => {
                let (peek, rest) = if let Some(r) = up.strip_prefix("BODY.PEEK[") {
                    (true, r)
                } else if let Some(r) = up.strip_prefix("BODY[") {
                    (false, r)
                } else if let Some(r) = up.strip_prefix("BINARY.PEEK[") {
                    (true, r)
                } else if let Some(r) = up.strip_prefix("BINARY[") {
                    (false, r)
                } else {
                    return None;
                };
                let close = rest.rfind(']')?;
                let section = rest.get(..close)?.to_owned();
                let tail = rest.get(close + 1..)?;
                let partial = if tail.is_empty() {
                    None
                } else {
                    let inner = tail.strip_prefix('<')?.strip_suffix('>')?;
                    let (a, b) = inner.split_once('.')?;
                    Some((a.parse().ok()?, b.parse().ok()?))
                };
                out.push(Item::Section {
                    peek,
                    section,
                    partial,
                });
            }
        }
    }
    Some(out)
}

fn internal_date(t: i64) -> String {
    use chrono::TimeZone as _;
    chrono::Utc
        .timestamp_opt(t, 0)
        .single()
        .map(|d| d.format("%d-%b-%Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

/// One message's FETCH response, and the body items it returned (for the event).
fn fetch_one(seq: u32, m: &mut Msg, items: &[Item], read_only: bool) -> (Vec<u8>, Vec<String>) {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut read = Vec::new();
    let mut set_seen = false;
    let mut flags_shown = false;
    for it in items {
        let piece: Vec<u8> = match it {
            Item::Uid => format!("UID {}", m.m.uid).into_bytes(),
            Item::Flags => {
                flags_shown = true;
                format!("FLAGS {}", m.flag_list()).into_bytes()
            }
            Item::Size => format!("RFC822.SIZE {}", m.m.raw.len()).into_bytes(),
            Item::InternalDate => {
                format!("INTERNALDATE \"{}\"", internal_date(m.m.date)).into_bytes()
            }
            Item::Envelope => format!("ENVELOPE {}", message::envelope(&m.m.raw)).into_bytes(),
            Item::BodyStructure => {
                format!("BODYSTRUCTURE {}", message::structure(&m.m.raw, true)).into_bytes()
            }
            Item::Body => format!("BODY {}", message::structure(&m.m.raw, false)).into_bytes(),
            Item::Rfc822 | Item::Rfc822Header | Item::Rfc822Text => {
                let (name, spec) = match it {
                    Item::Rfc822 => ("RFC822", ""),
                    Item::Rfc822Header => ("RFC822.HEADER", "HEADER"),
                    _ => ("RFC822.TEXT", "TEXT"),
                };
                if !matches!(it, Item::Rfc822Header) {
                    set_seen = true;
                    read.push(name.to_owned());
                }
                let data = message::section(&m.m.raw, spec).unwrap_or_default();
                let mut p = format!("{name} ").into_bytes();
                p.extend_from_slice(&message::literal(&data));
                p
            }
            Item::Section {
                peek,
                section,
                partial,
            } => {
                if !peek {
                    set_seen = true;
                }
                let data = message::section(&m.m.raw, section).unwrap_or_default();
                let (data, origin) = match partial {
                    Some((start, len)) => {
                        let from = (*start).min(data.len());
                        let to = from.saturating_add(*len).min(data.len());
                        (
                            data.get(from..to).unwrap_or_default().to_vec(),
                            format!("<{start}>"),
                        )
                    }
                    None => (data, String::new()),
                };
                let name = format!("BODY[{section}]{origin}");
                // Headers are what a client lists a folder with; a read is a body.
                if !section.contains("HEADER") && !section.ends_with("MIME") {
                    read.push(name.clone());
                }
                let mut p = format!("{name} ").into_bytes();
                p.extend_from_slice(&message::literal(&data));
                p
            }
        };
        parts.push(piece);
    }
    if set_seen && !read_only && !m.has("\\Seen") {
        m.flags.push("\\Seen");
        if !flags_shown {
            parts.push(format!("FLAGS {}", m.flag_list()).into_bytes());
        }
    }
    let mut out = format!("* {seq} FETCH (").into_bytes();
    out.extend_from_slice(&parts.join(&b' '));
    out.extend_from_slice(b")\r\n");
    (out, read)
}

struct SearchCtx {
    seq: u32,
    max_seq: u32,
    max_uid: u32,
}

/// All keys must hold; `None` for a key this server does not know.
fn search_all(keys: &[Value], m: &Msg, c: &SearchCtx) -> Option<bool> {
    let mut i = 0;
    let mut all = true;
    while i < keys.len() {
        all &= search_key(keys, &mut i, m, c, 0)?;
    }
    Some(all)
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn search_key(keys: &[Value], i: &mut usize, m: &Msg, c: &SearchCtx, depth: usize) -> Option<bool> {
    if depth > parse::MAX_DEPTH {
        return None;
    }
    let k = keys.get(*i)?;
    *i += 1;
    let mut arg = || -> Option<String> {
        let v = keys.get(*i)?.text();
        *i += 1;
        v
    };
    if let Value::List(l) = k {
        return search_all(l, m, c);
    }
    let key = k.text()?.to_ascii_uppercase();
    let header = |name: &str| -> String {
        message::fields(
            message::section(&m.m.raw, "HEADER")
                .unwrap_or_default()
                .as_slice(),
        )
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(" ")
    };
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%d-%b-%Y").ok();
    let day = chrono::DateTime::from_timestamp(m.m.date, 0).map(|d| d.date_naive());
    Some(match key.as_str() {
        "ALL" => true,
        "SEEN" => m.has("\\Seen"),
        "UNSEEN" => !m.has("\\Seen"),
        "FLAGGED" => m.has("\\Flagged"),
        "UNFLAGGED" => !m.has("\\Flagged"),
        "DELETED" => m.has("\\Deleted"),
        "UNDELETED" => !m.has("\\Deleted"),
        "ANSWERED" => m.has("\\Answered"),
        "UNANSWERED" => !m.has("\\Answered"),
        "DRAFT" => m.has("\\Draft"),
        "UNDRAFT" => !m.has("\\Draft"),
        "NEW" | "RECENT" => false,
        "OLD" => true,
        "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => contains_ci(&header(&key), &arg()?),
        "HEADER" => {
            let name = arg()?;
            contains_ci(&header(&name), &arg()?)
        }
        "BODY" => contains_ci(
            &String::from_utf8_lossy(&message::section(&m.m.raw, "TEXT").unwrap_or_default()),
            &arg()?,
        ),
        "TEXT" => contains_ci(&String::from_utf8_lossy(&m.m.raw), &arg()?),
        "LARGER" => m.m.raw.len() > arg()?.parse::<usize>().ok()?,
        "SMALLER" => m.m.raw.len() < arg()?.parse::<usize>().ok()?,
        "SINCE" | "SENTSINCE" => day? >= date(&arg()?)?,
        "BEFORE" | "SENTBEFORE" => day? < date(&arg()?)?,
        "ON" | "SENTON" => day? == date(&arg()?)?,
        "UID" => SeqSet::parse(&arg()?)?.contains(m.m.uid, c.max_uid),
        "NOT" => !search_key(keys, i, m, c, depth + 1)?,
        "OR" => {
            let a = search_key(keys, i, m, c, depth + 1)?;
            let b = search_key(keys, i, m, c, depth + 1)?;
            a || b
        }
        _ => SeqSet::parse(&key)?.contains(c.seq, c.max_seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(wild(b"*", b"INBOX"));
        assert!(wild(b"inbox", b"INBOX"));
        assert!(wild(b"S%", b"Sent"));
        assert!(!wild(b"T", b"Trash"));
        assert!(wild(b"%", b"Drafts") && !wild(b"%", b"a.b") && wild(b"*", b"a.b"));
        // Many wildcards are cheap, not exponential.
        assert!(!wild(
            &[b'*'; 1000]
                .iter()
                .chain(b"x")
                .copied()
                .collect::<Vec<u8>>(),
            b"Drafts"
        ));
    }

    #[test]
    fn fetch_items_parse_sections_and_partials() {
        let v = Value::List(vec![
            Value::Atom("UID".into()),
            Value::Atom("BODY.PEEK[HEADER.FIELDS (FROM)]<0.100>".into()),
        ]);
        assert_eq!(
            fetch_items(&v).unwrap(),
            vec![
                Item::Uid,
                Item::Section {
                    peek: true,
                    section: "HEADER.FIELDS (FROM)".into(),
                    partial: Some((0, 100))
                }
            ]
        );
        assert!(fetch_items(&Value::Atom("BOGUS".into())).is_none());
    }
}
