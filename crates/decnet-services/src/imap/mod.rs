//! IMAP (listener `imap`, port 143, with STARTTLS; listener `imaps`, port 993,
//! TLS from the first byte): Dovecot 2.3's imap-login and imap as the decky's
//! distro packages them, over the bait world's mailbox of whoever logs in.
//!
//! - [`parse`]: the command reader (literals, capped) and parser
//! - [`message`]: ENVELOPE, BODYSTRUCTURE and body sections of a stored message
//! - `account`: who is let in, Dovecot's persona, the read event (shared with pop3)
//! - `session`: the command loop, one verb family per function
//!
//! Plaintext authentication before TLS is refused as Debian's Dovecot refuses
//! it (`disable_plaintext_auth = yes`, `LOGINDISABLED` in the greeting), but
//! the credential a client sends anyway is captured before the refusal.

pub(crate) mod account;
pub mod message;
pub mod parse;
mod session;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use self::account::Accounts;
use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// Time for a TLS handshake (993, or after STARTTLS).
pub(crate) const TLS_TIMEOUT: Duration = Duration::from_secs(10);

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "imap_banner",
        kind: KeyKind::Text,
        doc: "Greeting line after `* OK ` (default: Dovecot's capability list and the distro's greeting, e.g. [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.)",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "user:password accounts let in besides the bait world's people and honeytokens (default: none)",
    },
    PersonaKey {
        name: "disable_plaintext_auth",
        kind: KeyKind::Bool,
        doc: "Refuse LOGIN and AUTHENTICATE before STARTTLS, as Dovecot's setting of that name (default true, as Debian ships; the credential is captured either way)",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("imap", 143),
    ListenerInfo::tcp("imaps", 993).with_tls(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "imap",
    summary: "Dovecot IMAP server over the bait world's mailboxes (STARTTLS on 143, its imaps listener on 993); every fetched message is an event",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `imap` service and its `imaps` listener.
#[derive(Debug, Clone, Copy, Default)]
pub struct Imap;

/// What every connection of one decky's imap shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub accounts: Accounts,
    /// Greeting after `* OK ` on a connection that is not yet TLS.
    pub banner: Option<String>,
    pub plaintext_ok: bool,
    pub dovecot_2_2: bool,
    pub greeting_name: &'static str,
    pub uidvalidity: u32,
}

impl Service for Imap {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let banner = keys.text("imap_banner").map(str::to_owned);
        if let Some(b) = &banner {
            if b.chars().any(char::is_control) || b.len() > 1000 {
                return Err(keys.error(
                    "imap_banner",
                    "must be one line of at most 1000 characters without control characters",
                ));
            }
        }
        let users = keys.users_or("users", "")?;
        let plaintext_ok = !keys.bool("disable_plaintext_auth")?.unwrap_or(true);
        let d = decky.config.distro;
        // Dovecot's UIDVALIDITY is the mailbox's creation time: some weeks
        // before the world's oldest mail, differently per decky.
        let base = decky.bait.anchor().max(1_600_000_000) - 60 * 86_400;
        let uidvalidity = u32::try_from(
            base - i64::try_from(decky.seed.pick(b"imap-uidvalidity", 200 * 86_400)).unwrap_or(0),
        )
        .unwrap_or(1_600_000_000);
        let tls = AcceptorBuilder::new(INFO.name, decky.config.hostname.clone())
            .alpn(&[b"imap"])
            // Dovecot leaves the cipher order to the client and offers DHE, as Apache does.
            .profile(TlsProfile::Apache)
            .build(&decky)?;
        let shared = Shared {
            accounts: Accounts {
                users,
                decky: decky.config.name.clone(),
                bait: decky.bait.clone(),
            },
            banner,
            plaintext_ok,
            dovecot_2_2: account::dovecot_2_2(d),
            greeting_name: account::dovecot_name(d),
            uidvalidity,
        };
        Ok(Arc::new(ImapInstance {
            shared: Arc::new(shared),
            tls,
        }))
    }
}

struct ImapInstance {
    shared: Arc<Shared>,
    tls: TlsAcceptor,
}

#[async_trait]
impl Instance for ImapInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        if ctx.listener.tls {
            let stream = match tls::accept(&self.tls, conn, TLS_TIMEOUT).await {
                Ok(s) => s,
                // A port scan or a client that left: nothing to answer.
                Err(tls::HandshakeError::Closed) => return Ok(()),
                Err(e) => {
                    return Err(ctx
                        .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                        .await)
                }
            };
            let facts = tls::ClientFacts::of(&stream);
            let s = session::Session::new(&self.shared, &ctx, Some(facts));
            return s.run(stream, true).await.map(|_| ());
        }
        let s = session::Session::new(&self.shared, &ctx, None);
        match s.run(conn, true).await? {
            session::Ended::Done => Ok(()),
            session::Ended::StartTls(conn, s) => {
                let stream = match tls::accept(&self.tls, conn, TLS_TIMEOUT).await {
                    Ok(s) => s,
                    Err(tls::HandshakeError::Closed) => return Ok(()),
                    Err(e) => {
                        return Err(ctx
                            .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                            .await)
                    }
                };
                let s = s.upgraded(tls::ClientFacts::of(&stream));
                s.run(stream, false).await.map(|_| ())
            }
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}
