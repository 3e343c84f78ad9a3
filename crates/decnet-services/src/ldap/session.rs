//! One LDAP connection: messages framed under slapd's size caps, each
//! operation answered as the vendor answers it, events emitted.

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use decnet_core::fields::{names, Command, LoginMethod, LoginOutcome, Query};
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::ber::{self, Frame, Writer};
use super::directory::{normalize, Entry, Vendor};
use super::message::{self, code, op, Auth, Decoded, Request, Response, Scope, Search};
use super::rootdse::root_dse;
use super::Shared;
use crate::conn::{LimitTrip, TripFlag};
use crate::kit::ntlmssp::{self, Captured};
use crate::kit::tls::ClientFacts;
use crate::service::{ConnCtx, ServiceError};

/// slapd's `sockbuf_max_incoming` before a bind (262143 bytes).
const MAX_ANONYMOUS: usize = (1 << 18) - 1;
/// slapd's `sockbuf_max_incoming_auth` once bound (4194303 bytes).
const MAX_AUTHENTICATED: usize = (1 << 22) - 1;
/// slapd's default `sizelimit`.
const SLAPD_SIZE_LIMIT: usize = 500;
/// AD's MaxPageSize, which caps an unpaged search.
const AD_SIZE_LIMIT: usize = 1000;
/// Longest filter text kept in an event.
const FILTER_FIELD_MAX: usize = 4096;

const AD_BAD_CREDENTIALS: &str =
    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563\0";
const AD_BIND_FIRST: &str = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\0";
const AD_UNKNOWN_EXTENDED: &str =
    "0000203D: LdapErr: DSID-0C091253, comment: Unknown extended request OID, data 0, v4563\0";
const AD_NO_TLS: &str =
    "00000000: LdapErr: DSID-0C09105A, comment: Error initializing SSL/TLS, data 0, v4563\0";
const AD_INSUFFICIENT: &str =
    "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n\0";

/// An NTLM exchange waiting for its AUTHENTICATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// SASL (GSS-SPNEGO or NTLM); `wrapped` when the client spoke SPNEGO.
    Sasl { challenge: [u8; 8], wrapped: bool },
    /// Sicily (`[10]` then `[11]`).
    Sicily { challenge: [u8; 8] },
}

struct State<'a> {
    sh: &'a Shared,
    ctx: &'a ConnCtx,
    tls: Option<ClientFacts>,
    /// The DN (or name) bound as, once a bind succeeded with a credential.
    bound: Option<String>,
    pending: Option<Pending>,
    out: Vec<u8>,
    close: bool,
}

/// Serves one connection until it ends.
pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    sh: &Shared,
    ctx: &ConnCtx,
    mut io: S,
    tls: Option<ClientFacts>,
    trip: TripFlag,
) -> Result<(), ServiceError> {
    let mut st = State {
        sh,
        ctx,
        tls,
        bound: None,
        pending: None,
        out: Vec::new(),
        close: false,
    };
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut messages = 0u64;
    loop {
        loop {
            let cap = if st.bound.is_some() {
                MAX_AUTHENTICATED
            } else {
                MAX_ANONYMOUS
            };
            let (header, len) = match ber::frame(&buf) {
                Ok(Frame::Incomplete) => break,
                Ok(Frame::Sized { header, len }) => (header, len),
                Err(e) => {
                    // liblber gives up on the element: slapd closes without a word.
                    return Err(ctx.protocol_error(format!("ber: {e}")).await);
                }
            };
            if len > cap {
                return Err(ctx
                    .protocol_error(format!("message of {len} bytes past the {cap} byte cap"))
                    .await);
            }
            let total = header + len;
            if buf.len() < total {
                break;
            }
            let msg = buf.split_to(total);
            messages += 1;
            match message::decode(&msg) {
                Decoded::Garbage(why) => {
                    io.write_all(&st.out).await?;
                    return Err(ctx.protocol_error(why).await);
                }
                Decoded::Unknown { text, reason } => {
                    st.out
                        .extend(message::notice_of_disconnection(sh.lengths(), text));
                    io.write_all(&st.out).await?;
                    let _ = io.shutdown().await;
                    return Err(ctx.protocol_error(reason).await);
                }
                Decoded::Request { id, req } => st.handle(id, req).await,
            }
            if st.close {
                io.write_all(&st.out).await?;
                let _ = io.shutdown().await;
                return Ok(());
            }
        }
        if !st.out.is_empty() {
            io.write_all(&st.out).await?;
            st.out.clear();
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let n = match io.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    if messages == 0 && trip.get() != Some(LimitTrip::Idle) {
        let mut e = ctx.event(EventType::Scan);
        e.fields.insert("bytes".into(), buf.len().into());
        ctx.emit(e).await;
    }
    Ok(())
}

fn dn_field(s: &str) -> serde_json::Value {
    s.to_owned().into()
}

impl State<'_> {
    fn ad(&self) -> bool {
        self.sh.dir.vendor == Vendor::ActiveDirectory
    }

    fn reply(&mut self, id: i64, op: u8, code: i64, matched: &str, text: &str) {
        self.reply_extra(id, op, code, matched, text, &[]);
    }

    fn reply_extra(
        &mut self,
        id: i64,
        op: u8,
        code: i64,
        matched: &str,
        text: &str,
        extra: &[(u8, &[u8])],
    ) {
        let r = Response {
            op,
            code,
            matched,
            text,
            extra,
        };
        let b = message::response(self.sh.lengths(), id, &r);
        self.out.extend(b);
    }

    fn base_fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert(
            "ldap_vendor".into(),
            match self.sh.dir.vendor {
                Vendor::OpenLdap => "openldap",
                Vendor::ActiveDirectory => "active-directory",
            }
            .into(),
        );
        if let Some(t) = &self.tls {
            t.write_fields(&mut f);
        }
        f
    }

    async fn command(&self, text: String, extra: Fields) {
        let mut e = self.ctx.event_of(&Command::new(text));
        e.fields.extend(self.base_fields());
        e.fields.extend(extra);
        e.fields
            .insert("authenticated".into(), self.bound.is_some().into());
        self.ctx.emit(e).await;
    }

    async fn handle(&mut self, id: i64, req: Request) {
        match req {
            Request::Bind {
                version,
                name,
                auth,
            } => self.bind(id, version, name, auth).await,
            Request::Unbind => {
                self.close = true;
                self.command("unbind".into(), Fields::new()).await;
            }
            Request::Abandon(n) => {
                let mut f = Fields::new();
                f.insert("abandon_id".into(), n.into());
                self.command(format!("abandon {n}"), f).await;
            }
            Request::Search(s) => self.search(id, s).await,
            Request::Extended { oid, value } => self.extended(id, oid, value).await,
            Request::Update { tag, dn } => self.update(id, tag, dn).await,
        }
    }

    async fn bind(&mut self, id: i64, version: i64, name: String, auth: Auth) {
        // A new bind drops the old identity and any exchange in progress.
        let pending = self.pending.take();
        let mut f = Fields::new();
        f.insert("bind_dn".into(), dn_field(&name));
        f.insert("ldap_version".into(), version.into());
        let ad = self.ad();
        if !ad && version != 3 {
            let text = if version == 2 {
                "historical protocol version requested, use LDAPv3 instead"
            } else {
                "requested protocol version not supported"
            };
            self.reply(id, op::BIND_RESPONSE, code::PROTOCOL_ERROR, "", text);
            f.insert("mechanism".into(), "simple".into());
            self.command(format!("bind v{version}"), f).await;
            return;
        }
        if ad && !(2..=3).contains(&version) {
            self.reply(id, op::BIND_RESPONSE, code::PROTOCOL_ERROR, "", "");
            self.command(format!("bind v{version}"), f).await;
            return;
        }
        match auth {
            Auth::Simple(pw) => self.simple(id, name, pw, f).await,
            Auth::Sasl {
                mechanism,
                credentials,
            } => {
                self.sasl(id, name, mechanism, credentials, pending, f)
                    .await
            }
            Auth::Sicily { choice, data } if ad => self.sicily(id, choice, data, pending, f).await,
            Auth::Sicily { .. } | Auth::Other(_) => {
                self.bound = None;
                self.reply(
                    id,
                    op::BIND_RESPONSE,
                    code::AUTH_METHOD_NOT_SUPPORTED,
                    "",
                    if ad {
                        ""
                    } else {
                        "unknown authentication method"
                    },
                );
                f.insert("mechanism".into(), "unknown".into());
                self.command("bind".into(), f).await;
            }
        }
    }

    async fn simple(&mut self, id: i64, name: String, pw: Vec<u8>, mut f: Fields) {
        let ad = self.ad();
        f.insert("mechanism".into(), "simple".into());
        self.bound = None;
        if pw.is_empty() {
            if name.is_empty() || ad {
                self.reply(id, op::BIND_RESPONSE, code::SUCCESS, "", "");
                self.command("bind anonymous".into(), f).await;
            } else {
                self.reply(
                    id,
                    op::BIND_RESPONSE,
                    code::UNWILLING,
                    "",
                    "unauthenticated bind (DN with no password) disallowed",
                );
                self.command("bind unauthenticated".into(), f).await;
            }
            return;
        }
        if !ad && normalize(&name).is_none() {
            self.reply(
                id,
                op::BIND_RESPONSE,
                code::INVALID_DN_SYNTAX,
                "",
                "invalid DN",
            );
            let cred = Credential::new(name.clone(), &pw, SecretKind::Password);
            self.ctx
                .login_attempt(LoginMethod::Password, cred, self.with_base(f))
                .await;
            return;
        }
        let login = self.sh.dir.login_of(&name);
        let ok = login.as_deref().is_some_and(|l| self.sh.accepts(l, &pw));
        if let Some(l) = &login {
            f.insert(names::USER.into(), l.clone().into());
        }
        let cred = Credential::new(name.clone(), &pw, SecretKind::Password);
        let outcome = if ok {
            LoginOutcome::Success
        } else {
            LoginOutcome::Attempt
        };
        let mut e = self
            .ctx
            .login_event(outcome, LoginMethod::Password, cred, self.with_base(f));
        if !e.fields.contains_key(names::HONEYTOKEN) {
            if let Some(t) = login
                .as_deref()
                .and_then(|l| self.sh.bait.honeytoken(l, &pw))
            {
                e.fields.insert(names::HONEYTOKEN.into(), t.field());
            }
        }
        self.ctx.emit(e).await;
        if ok {
            self.bound = Some(name);
            self.ctx.pre_auth.done();
            self.reply(id, op::BIND_RESPONSE, code::SUCCESS, "", "");
        } else {
            let text = if ad { AD_BAD_CREDENTIALS } else { "" };
            self.reply(id, op::BIND_RESPONSE, code::INVALID_CREDENTIALS, "", text);
        }
    }

    fn with_base(&self, mut f: Fields) -> Fields {
        f.extend(self.base_fields());
        f
    }

    fn challenge(&self) -> [u8; 8] {
        let n = self.sh.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let d = decnet_core::seed::InstanceSeed::derive_for(
            &self.sh.challenge_key,
            &format!("{n}/{nanos}/{}", self.ctx.peer),
        )
        .derive(b"ntlm");
        let mut c = [0u8; 8];
        c.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        c
    }

    fn challenge_message(&self, negotiate: &[u8], challenge: [u8; 8]) -> Vec<u8> {
        let client = ntlmssp::Negotiate::parse(negotiate).map_or(0xe208_8297, |n| n.flags);
        let dir = &self.sh.dir;
        let host = dir.host.to_uppercase().chars().take(15).collect::<String>();
        let target = ntlmssp::Target {
            nb_domain: dir.netbios.clone(),
            nb_computer: host.clone(),
            dns_domain: dir.domain.clone(),
            dns_computer: format!("{}.{}", host.to_lowercase(), dir.domain),
            dns_tree: dir.domain.clone(),
            version: dir.windows_version,
        };
        ntlmssp::challenge_message(
            ntlmssp::reply_flags(client),
            challenge,
            &target,
            ntlmssp::filetime(chrono::Utc::now().timestamp_micros()),
        )
    }

    async fn sasl(
        &mut self,
        id: i64,
        name: String,
        mechanism: String,
        credentials: Option<Vec<u8>>,
        pending: Option<Pending>,
        mut f: Fields,
    ) {
        self.bound = None;
        f.insert("mechanism".into(), mechanism.clone().into());
        let ad = self.ad();
        let mech = mechanism.to_ascii_uppercase();
        let creds = credentials.unwrap_or_default();
        if ad && (mech == "GSS-SPNEGO" || mech == "NTLM") {
            if let Some(raw) = ntlmssp::find(&creds) {
                let wrapped = raw.len() != creds.len();
                match ntlmssp::message_type(raw) {
                    Some(1) => {
                        let challenge = self.challenge();
                        let msg = self.challenge_message(raw, challenge);
                        let token = if wrapped { spnego_challenge(&msg) } else { msg };
                        self.pending = Some(Pending::Sasl { challenge, wrapped });
                        self.reply_extra(
                            id,
                            op::BIND_RESPONSE,
                            code::SASL_BIND_IN_PROGRESS,
                            "",
                            "",
                            &[(0x87, &token)],
                        );
                        f.insert("ntlm_challenge".into(), hex::encode(challenge).into());
                        self.command(format!("bind sasl {mechanism} ntlm negotiate"), f)
                            .await;
                        return;
                    }
                    Some(3) => {
                        let challenge = match pending {
                            Some(Pending::Sasl { challenge, .. }) => Some(challenge),
                            _ => None,
                        };
                        let wrapped_reply =
                            matches!(pending, Some(Pending::Sasl { wrapped: true, .. }));
                        let ok = self.ntlm_authenticate(raw, challenge, name, f, true).await;
                        if ok {
                            let done: &[u8] = b"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x00";
                            let extra: &[(u8, &[u8])] =
                                if wrapped_reply { &[(0x87, done)] } else { &[] };
                            self.reply_extra(id, op::BIND_RESPONSE, code::SUCCESS, "", "", extra);
                        } else {
                            self.reply(
                                id,
                                op::BIND_RESPONSE,
                                code::INVALID_CREDENTIALS,
                                "",
                                AD_BAD_CREDENTIALS,
                            );
                        }
                        return;
                    }
                    _ => {}
                }
            }
            self.reply(
                id,
                op::BIND_RESPONSE,
                code::INVALID_CREDENTIALS,
                "",
                AD_BAD_CREDENTIALS,
            );
            self.command(format!("bind sasl {mechanism}"), f).await;
            return;
        }
        if !ad && mech == "NTLM" {
            self.cyrus_ntlm(id, name, creds, pending, f).await;
            return;
        }
        if mech == "PLAIN" {
            // authzid NUL authcid NUL password: captured though the server refuses it.
            let mut parts = creds.split(|b| *b == 0);
            let (_authz, user, pw) = (parts.next(), parts.next(), parts.next());
            if let (Some(user), Some(pw)) = (user, pw) {
                let cred = Credential::new(String::from_utf8_lossy(user), pw, SecretKind::Password);
                f.insert("bind_name".into(), dn_field(&name));
                self.ctx
                    .login_attempt(LoginMethod::Password, cred, self.with_base(f.clone()))
                    .await;
            }
        }
        if ad {
            let known = ["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"].contains(&mech.as_str());
            let (c, text) = if known {
                (code::INVALID_CREDENTIALS, AD_BAD_CREDENTIALS)
            } else {
                (code::AUTH_METHOD_NOT_SUPPORTED, "00002027: LdapErr: DSID-0C0905F9, comment: Unknown authentication mechanism, data 0, v4563\0")
            };
            self.reply(id, op::BIND_RESPONSE, c, "", text);
        } else if mech == "PLAIN" || mech == "LOGIN" {
            self.reply(
                id,
                op::BIND_RESPONSE,
                code::INAPPROPRIATE_AUTH,
                "",
                "SASL(-16): encryption needed to use mechanism: security flags do not match required",
            );
        } else {
            let text = format!("SASL(-4): no mechanism available: Couldn't find mech {mechanism}");
            self.reply(
                id,
                op::BIND_RESPONSE,
                code::AUTH_METHOD_NOT_SUPPORTED,
                "",
                &text,
            );
        }
        self.command(format!("bind sasl {mechanism}"), f).await;
    }

    /// slapd's NTLM through Cyrus SASL's ntlm plugin: a bare CHALLENGE
    /// (no target info) naming the host, then "no secret in database" since
    /// Debian's slapd has no sasldb; the AUTHENTICATE is captured first.
    async fn cyrus_ntlm(
        &mut self,
        id: i64,
        name: String,
        creds: Vec<u8>,
        pending: Option<Pending>,
        mut f: Fields,
    ) {
        match ntlmssp::message_type(&creds) {
            Some(1) => {
                let challenge = self.challenge();
                let client = ntlmssp::Negotiate::parse(&creds).map_or(0, |n| n.flags);
                let unicode = client & ntlmssp::flags::UNICODE != 0;
                let flags = cyrus_flags(client);
                let host = self.sh.dir.host.to_uppercase();
                let target = if unicode {
                    ntlmssp::utf16le(&host)
                } else {
                    host.into_bytes()
                };
                let len = u16::try_from(target.len()).unwrap_or(0).to_le_bytes();
                let mut m = ntlmssp::SIGNATURE.to_vec();
                m.extend_from_slice(&2u32.to_le_bytes());
                m.extend_from_slice(&len);
                m.extend_from_slice(&len);
                m.extend_from_slice(&48u32.to_le_bytes());
                m.extend_from_slice(&flags.to_le_bytes());
                m.extend_from_slice(&challenge);
                m.extend_from_slice(&[0; 16]);
                m.extend_from_slice(&target);
                self.pending = Some(Pending::Sasl {
                    challenge,
                    wrapped: false,
                });
                self.reply_extra(
                    id,
                    op::BIND_RESPONSE,
                    code::SASL_BIND_IN_PROGRESS,
                    "",
                    "SASL(0): successful result: ",
                    &[(0x87, &m)],
                );
                f.insert("ntlm_challenge".into(), hex::encode(challenge).into());
                self.command("bind sasl NTLM ntlm negotiate".into(), f)
                    .await;
            }
            Some(3) => {
                let challenge = match pending {
                    Some(Pending::Sasl { challenge, .. }) => Some(challenge),
                    _ => None,
                };
                // Without a sasldb no password can succeed, whatever it proves.
                let _ = self
                    .ntlm_authenticate(&creds, challenge, name, f, false)
                    .await;
                self.bound = None;
                self.reply(
                    id,
                    op::BIND_RESPONSE,
                    code::INVALID_CREDENTIALS,
                    "",
                    "SASL(-13): user not found: no secret in database",
                );
            }
            _ => {
                self.reply(
                    id,
                    op::BIND_RESPONSE,
                    80,
                    "",
                    "SASL(-5): bad protocol / cancel: client didn't issue valid NTLM request",
                );
                self.command("bind sasl NTLM".into(), f).await;
            }
        }
    }

    async fn sicily(
        &mut self,
        id: i64,
        choice: u8,
        data: Vec<u8>,
        pending: Option<Pending>,
        mut f: Fields,
    ) {
        self.bound = None;
        f.insert("mechanism".into(), "sicily".into());
        match choice {
            9 => {
                self.reply(id, op::BIND_RESPONSE, code::SUCCESS, "NTLM", "");
                self.command("bind sicily package discovery".into(), f)
                    .await;
            }
            10 => {
                let challenge = self.challenge();
                let raw = ntlmssp::find(&data).unwrap_or(&data);
                let msg = self.challenge_message(raw, challenge);
                self.pending = Some(Pending::Sicily { challenge });
                // Sicily carries the CHALLENGE in the BindResponse's matchedDN.
                let r = Response {
                    op: op::BIND_RESPONSE,
                    code: code::SUCCESS,
                    matched: "",
                    text: "",
                    extra: &[],
                };
                let mut w = Writer::new(self.sh.lengths());
                w.open(ber::tag::SEQUENCE)
                    .int(ber::tag::INTEGER, id)
                    .open(r.op)
                    .int(ber::tag::ENUMERATED, r.code)
                    .octets(&msg)
                    .octets(r.text);
                self.out.extend(w.finish());
                f.insert("ntlm_challenge".into(), hex::encode(challenge).into());
                self.command("bind sicily ntlm negotiate".into(), f).await;
            }
            _ => {
                let challenge = match pending {
                    Some(Pending::Sicily { challenge }) => Some(challenge),
                    _ => None,
                };
                let raw = ntlmssp::find(&data).unwrap_or(&data).to_vec();
                let ok = self
                    .ntlm_authenticate(&raw, challenge, String::new(), f, true)
                    .await;
                if ok {
                    self.reply(id, op::BIND_RESPONSE, code::SUCCESS, "", "");
                } else {
                    self.reply(
                        id,
                        op::BIND_RESPONSE,
                        code::INVALID_CREDENTIALS,
                        "",
                        AD_BAD_CREDENTIALS,
                    );
                }
            }
        }
    }

    /// Captures an AUTHENTICATE; whether it proves a password the directory accepts.
    async fn ntlm_authenticate(
        &mut self,
        raw: &[u8],
        challenge: Option<[u8; 8]>,
        name: String,
        mut f: Fields,
        accept: bool,
    ) -> bool {
        let a = match ntlmssp::Authenticate::parse(raw) {
            Ok(a) => a,
            Err(e) => {
                f.insert("error".into(), e.to_string().into());
                self.command("bind ntlm authenticate (malformed)".into(), f)
                    .await;
                return false;
            }
        };
        let Some(challenge) = challenge else {
            f.insert("ntlm_user".into(), a.user.clone().into());
            self.command("bind ntlm authenticate without a challenge".into(), f)
                .await;
            return false;
        };
        if !name.is_empty() {
            f.insert("bind_name".into(), dn_field(&name));
        }
        f.insert("ntlm_challenge".into(), hex::encode(challenge).into());
        f.insert("workstation".into(), a.workstation.clone().into());
        f.insert("ntlm_flags".into(), format!("{:#010x}", a.flags).into());
        let principal = if a.domain.is_empty() {
            a.user.clone()
        } else {
            format!("{}\\{}", a.domain, a.user)
        };
        let Some(captured) = a.hashcat(&challenge) else {
            self.command(format!("bind ntlm anonymous {principal}"), f)
                .await;
            return false;
        };
        let login = self.sh.dir.login_of(&a.user);
        let proved = login.as_deref().and_then(|l| {
            self.sh
                .candidates(l)
                .into_iter()
                .find(|p| a.proves(&challenge, p))
        });
        if let Some(l) = &login {
            f.insert(names::USER.into(), l.clone().into());
        }
        let (line, kind, mode) = match captured {
            Captured::V2(l) => (l, SecretKind::NtlmsspV2, 5600),
            Captured::V1(l) => (l, SecretKind::NtlmsspV1, 5500),
        };
        f.insert("hashcat_mode".into(), mode.into());
        f.insert("hashcat".into(), line.clone().into());
        let mut cred = Credential::new(principal, line.as_bytes(), kind);
        if !a.domain.is_empty() {
            cred = cred.with_realm(a.domain.clone());
        }
        let ok = accept && proved.is_some();
        let outcome = if ok {
            LoginOutcome::Success
        } else {
            LoginOutcome::Attempt
        };
        let mut e = self
            .ctx
            .login_event(outcome, LoginMethod::Password, cred, self.with_base(f));
        if let (Some(l), Some(p)) = (&login, &proved) {
            if let Some(t) = self.sh.bait.honeytoken(l, p.as_bytes()) {
                e.fields.insert(names::HONEYTOKEN.into(), t.field());
            }
        }
        self.ctx.emit(e).await;
        if ok {
            self.bound = Some(a.user.clone());
            self.ctx.pre_auth.done();
            true
        } else {
            false
        }
    }

    async fn search(&mut self, id: i64, s: Search) {
        let ad = self.ad();
        let mut filter = s.filter.text();
        if filter.len() > FILTER_FIELD_MAX {
            let mut cut = FILTER_FIELD_MAX;
            while !filter.is_char_boundary(cut) {
                cut -= 1;
            }
            filter.truncate(cut);
        }
        let scope_text = match s.scope {
            Ok(sc) => sc.as_str().to_owned(),
            Err(n) => n.to_string(),
        };
        let (code_sent, returned) = self.answer_search(id, &s, ad);
        let text = format!(
            "base=\"{}\" scope={scope_text} filter=\"{filter}\" attrs=\"{}\"",
            s.base,
            s.attrs.join(",")
        );
        let mut e = self.ctx.event_of(&Query::new(text));
        e.fields.extend(self.base_fields());
        e.fields.insert("base".into(), s.base.clone().into());
        e.fields.insert("scope".into(), scope_text.into());
        e.fields.insert("filter".into(), filter.into());
        e.fields.insert("attributes".into(), s.attrs.clone().into());
        e.fields.insert("size_limit".into(), s.size_limit.into());
        e.fields.insert("entries".into(), returned.into());
        e.fields.insert("result_code".into(), code_sent.into());
        e.fields
            .insert("authenticated".into(), self.bound.is_some().into());
        self.ctx.emit(e).await;
    }

    /// Writes the answer; (resultCode, entries sent).
    fn answer_search(&mut self, id: i64, s: &Search, ad: bool) -> (i64, usize) {
        let scope = match s.scope {
            Ok(sc) => sc,
            Err(_) => {
                self.reply(
                    id,
                    op::SEARCH_DONE,
                    code::PROTOCOL_ERROR,
                    "",
                    if ad { "" } else { "invalid scope" },
                );
                return (code::PROTOCOL_ERROR, 0);
            }
        };
        let Some(base) = normalize(&s.base) else {
            let text = if ad {
                "0000208F: NameErr: DSID-03100233, problem 2006 (BAD_NAME), data 8350, best match of:\n\t''\n\0"
            } else {
                "invalid DN"
            };
            self.reply(id, op::SEARCH_DONE, code::INVALID_DN_SYNTAX, "", text);
            return (code::INVALID_DN_SYNTAX, 0);
        };
        let lengths = self.sh.lengths();
        if base.is_empty() && scope == Scope::Base {
            let now = chrono::Utc::now().timestamp();
            let dse = root_dse(&self.sh.dir, self.sh.usn, now);
            let mut n = 0;
            if self.sh.dir.eval(&s.filter, &dse) == Some(true) {
                self.out.extend(entry_bytes(lengths, id, &dse, s, ad));
                n = 1;
            }
            self.reply(id, op::SEARCH_DONE, code::SUCCESS, "", "");
            return (code::SUCCESS, n);
        }
        if ad && self.bound.is_none() {
            self.reply(
                id,
                op::SEARCH_DONE,
                code::OPERATIONS_ERROR,
                "",
                AD_BIND_FIRST,
            );
            return (code::OPERATIONS_ERROR, 0);
        }
        let found = match self.sh.dir.scope(&base, scope) {
            Ok(v) => v,
            Err(matched) => {
                let text = if ad {
                    format!("0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'{matched}'\n\0")
                } else {
                    String::new()
                };
                self.reply(id, op::SEARCH_DONE, code::NO_SUCH_OBJECT, &matched, &text);
                return (code::NO_SUCH_OBJECT, 0);
            }
        };
        let server = if ad { AD_SIZE_LIMIT } else { SLAPD_SIZE_LIMIT };
        let limit = match usize::try_from(s.size_limit) {
            Ok(0) | Err(_) => server,
            Ok(n) => n.min(server),
        };
        let mut sent = 0usize;
        let mut out = Vec::new();
        for e in found {
            if self.sh.dir.eval(&s.filter, e) != Some(true) {
                continue;
            }
            if sent == limit {
                self.out.extend(out);
                self.reply(id, op::SEARCH_DONE, code::SIZE_LIMIT_EXCEEDED, "", "");
                return (code::SIZE_LIMIT_EXCEEDED, sent);
            }
            out.extend(entry_bytes(lengths, id, e, s, ad));
            sent += 1;
        }
        self.out.extend(out);
        self.reply(id, op::SEARCH_DONE, code::SUCCESS, "", "");
        (code::SUCCESS, sent)
    }

    async fn extended(&mut self, id: i64, oid: String, value: Option<Vec<u8>>) {
        let ad = self.ad();
        let mut f = Fields::new();
        f.insert("oid".into(), oid.clone().into());
        if let Some(v) = &value {
            f.insert(
                "value".into(),
                hex::encode(v.get(..1024).unwrap_or(v)).into(),
            );
        }
        match oid.as_str() {
            "1.3.6.1.4.1.4203.1.11.3" => {
                let who = match &self.bound {
                    Some(dn) if ad => format!(
                        "u:{}\\{}",
                        self.sh.dir.netbios,
                        self.sh.dir.login_of(dn).unwrap_or_else(|| dn.clone())
                    ),
                    Some(dn) => format!("dn:{dn}"),
                    None => String::new(),
                };
                self.reply_extra(
                    id,
                    op::EXTENDED_RESPONSE,
                    code::SUCCESS,
                    "",
                    "",
                    &[(0x8b, who.as_bytes())],
                );
            }
            "1.3.6.1.4.1.1466.20037" if ad => {
                self.reply(id, op::EXTENDED_RESPONSE, 52, "", AD_NO_TLS);
            }
            _ if ad => {
                self.reply(
                    id,
                    op::EXTENDED_RESPONSE,
                    code::PROTOCOL_ERROR,
                    "",
                    AD_UNKNOWN_EXTENDED,
                );
            }
            _ => {
                // Debian's slapd has no TLS configured, so StartTLS is unknown too.
                self.reply(
                    id,
                    op::EXTENDED_RESPONSE,
                    code::PROTOCOL_ERROR,
                    "",
                    "unsupported extended operation",
                );
            }
        }
        self.command(format!("extended {oid}"), f).await;
    }

    async fn update(&mut self, id: i64, tag: u8, dn: String) {
        let ad = self.ad();
        let (resp, verb) = match tag {
            op::MODIFY => (op::MODIFY_RESPONSE, "modify"),
            op::ADD => (op::ADD_RESPONSE, "add"),
            op::DEL => (op::DEL_RESPONSE, "delete"),
            op::MODDN => (op::MODDN_RESPONSE, "modrdn"),
            _ => (op::COMPARE_RESPONSE, "compare"),
        };
        if ad && self.bound.is_none() {
            self.reply(id, resp, code::OPERATIONS_ERROR, "", AD_BIND_FIRST);
        } else if verb == "compare" {
            let exists = normalize(&dn).is_some_and(|n| self.sh.dir.get(&n).is_some());
            let c = if exists {
                code::COMPARE_FALSE
            } else {
                code::NO_SUCH_OBJECT
            };
            self.reply(id, resp, c, "", "");
        } else if ad {
            self.reply(id, resp, code::INSUFFICIENT_ACCESS, "", AD_INSUFFICIENT);
        } else if self.bound.is_none() {
            self.reply(
                id,
                resp,
                code::STRONGER_AUTH_REQUIRED,
                "",
                "modifications require authentication",
            );
        } else {
            self.reply(id, resp, code::INSUFFICIENT_ACCESS, "", "");
        }
        let mut f = Fields::new();
        f.insert("dn".into(), dn_field(&dn));
        self.command(format!("{verb} {dn}"), f).await;
    }
}

/// A SearchResultEntry with the attributes a search selects, in the entry's order.
fn entry_bytes(lengths: ber::Lengths, id: i64, e: &Entry, s: &Search, ad: bool) -> Vec<u8> {
    let want = |n: &str| s.attrs.iter().any(|a| a.eq_ignore_ascii_case(n));
    let none = s.attrs.iter().any(|a| a == "1.1") && s.attrs.len() == 1;
    let all_user = s.attrs.is_empty() || want("*");
    let all_op = want("+");
    let mut attrs: Vec<(&str, Vec<&[u8]>)> = Vec::new();
    if !none {
        for (n, v) in &e.attrs {
            if all_user || want(n) {
                attrs.push((
                    n,
                    if s.types_only {
                        Vec::new()
                    } else {
                        v.iter().map(Vec::as_slice).collect()
                    },
                ));
            }
        }
        for (n, v) in &e.operational {
            if (!ad && all_op) || want(n) {
                attrs.push((
                    n,
                    if s.types_only {
                        Vec::new()
                    } else {
                        v.iter().map(Vec::as_slice).collect()
                    },
                ));
            }
        }
    }
    message::entry(lengths, id, &e.dn, &attrs)
}

/// The flags Cyrus SASL's ntlm plugin answers with: the client's low 16
/// bits as read through signed chars (a low byte of 0x80 or more sets all of
/// bits 8-15 too, as the real plugin does), OEM dropped for unicode, and
/// "target is a server".
fn cyrus_flags(client: u32) -> u32 {
    let [b0, b1, ..] = client.to_le_bytes();
    let sx = |b: u8| i32::from(i8::from_ne_bytes([b])) as u32;
    let mut v = (sx(b0) | (sx(b1) << 8)) & 0xffff;
    if v & ntlmssp::flags::UNICODE != 0 {
        v &= !ntlmssp::flags::OEM;
    }
    v | 0x0002_0000
}

/// A SPNEGO negTokenResp (accept-incomplete, NTLMSSP) carrying a CHALLENGE.
fn spnego_challenge(challenge: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(ber::Lengths::Minimal);
    w.open(0xa1).open(ber::tag::SEQUENCE);
    w.open(0xa0).prim(ber::tag::ENUMERATED, &[1]).close();
    w.open(0xa1)
        .prim(
            0x06,
            &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a],
        )
        .close();
    w.open(0xa2).octets(challenge).close();
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrus_flags_match_what_slapd_answered() {
        // Recorded from Debian's slapd 2.5.13 with libsasl2-modules 2.1.28.
        assert_eq!(cyrus_flags(0xa208_8207), 0x0002_8205);
        assert_eq!(cyrus_flags(0xe208_8297), 0x0002_ff95);
    }
}
