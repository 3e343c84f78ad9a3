//! LDAP (listener `ldap`, port 389; listener `ldaps`, port 636, TLS from the
//! first byte): Debian's slapd 2.5 or a Windows Server domain controller,
//! over a directory built from the bait world (its people, groups of them,
//! the fleet's deckies as computers).
//!
//! - [`ber`]: the BER reader and writer (definite lengths, capped nesting and elements)
//! - [`message`]: LDAPMessage requests, filters and responses
//! - [`directory`]: the entries per vendor, scopes and filter evaluation
//! - [`rootdse`]: what each vendor's root DSE says
//! - `session`: one connection's operations
//!
//! Events: a simple bind is a `login_attempt` (or `login_success` for a
//! credential the bait world accepts) with the bind DN as principal and the
//! exact password; an NTLM bind (Active Directory: SASL GSS-SPNEGO or NTLM,
//! or Microsoft's sicily choices) is answered with a CHALLENGE and its
//! AUTHENTICATE captured as NetNTLMv2/v1 in hashcat's form; every other bind
//! (SASL by mechanism, anonymous) and every other operation is a `command`,
//! every search a `query` (base, scope, filter text, attributes). Bytes slapd
//! cannot decode close the connection without a word, a message naming an
//! unknown operation gets slapd's Notice of Disconnection; both are a
//! `protocol_error`.

pub mod ber;
pub mod directory;
pub mod message;
pub mod rootdse;
mod session;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::bait::World;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use directory::{Directory, Vendor};

/// Time for the TLS handshake of `ldaps`.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "ldap_vendor",
        kind: KeyKind::Choice(&["openldap", "active-directory"]),
        doc: "Which server the decky is: `openldap` (the default) answers as Debian's slapd 2.5 (anonymous reads allowed, `inetOrgPerson`/`posixAccount` entries, nmap names it OpenLDAP); `active-directory` as a Windows Server 2019 domain controller (AD's root DSE and error texts, searches refused until a bind succeeds, NTLM binds answered with a challenge and captured as NetNTLMv2).",
    },
    PersonaKey {
        name: "domain",
        kind: KeyKind::Text,
        doc: "DNS domain of the directory (`corp.example.com`). Default: the bait world's company domain, so the directory's mail addresses and the mail deckies agree.",
    },
    PersonaKey {
        name: "base_dn",
        kind: KeyKind::Text,
        doc: "Naming context (`dc=corp,dc=example,dc=com`). Default: the `dc=` components of `domain` (`DC=` for Active Directory).",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("ldap", 389),
    ListenerInfo::tcp("ldaps", 636).with_tls(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "ldap",
    summary: "OpenLDAP slapd or an Active Directory domain controller over the bait world's people, groups and hosts (ldaps on 636): simple binds captured with their DN, NTLM binds captured as NetNTLMv2, every search an event",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `ldap` service and its `ldaps` listener.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ldap;

/// What every connection of one decky's directory shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: Directory,
    pub decky: String,
    pub bait: Arc<World>,
    /// Key the NTLM challenges are derived from.
    pub challenge_key: [u8; 32],
    /// Connections served, mixed into each challenge.
    pub counter: AtomicU64,
    /// The DC's highestCommittedUSN at start.
    pub usn: u64,
}

impl Shared {
    pub fn lengths(&self) -> ber::Lengths {
        match self.dir.vendor {
            Vendor::OpenLdap => ber::Lengths::Minimal,
            Vendor::ActiveDirectory => ber::Lengths::Wide,
        }
    }

    /// Whether `password` lets `login` in: a person's own password (the
    /// directory is where their account lives) or a honeytoken valid here.
    pub fn accepts(&self, login: &str, password: &[u8]) -> bool {
        self.bait
            .person(login)
            .is_some_and(|p| p.password.as_bytes() == password)
            || self.bait.accepts(&self.decky, login, password)
    }

    /// Passwords `login` could have here, to check an NTLM response against.
    pub fn candidates(&self, login: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .bait
            .person(login)
            .map(|p| p.password.clone())
            .into_iter()
            .collect();
        out.extend(self.bait.passwords_for(&self.decky, login));
        out.dedup();
        out
    }
}

impl Service for Ldap {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let vendor = keys
            .choice(
                "ldap_vendor",
                &["openldap", "active-directory"],
                |v| match v {
                    "openldap" => Some(Vendor::OpenLdap),
                    "active-directory" => Some(Vendor::ActiveDirectory),
                    _ => None,
                },
            )?
            .unwrap_or(Vendor::OpenLdap);
        let domain = keys
            .text("domain")
            .unwrap_or(decky.bait.domain.as_str())
            .trim()
            .trim_matches('.')
            .to_ascii_lowercase();
        if domain.is_empty()
            || !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(keys.error("domain", format!("expected a DNS domain, got {domain:?}")));
        }
        let base = match keys.text("base_dn") {
            Some(b) => {
                if directory::normalize(b).is_none_or(|n| n.is_empty()) {
                    return Err(keys.error(
                        "base_dn",
                        format!("expected a DN such as dc=corp,dc=example,dc=com, got {b:?}"),
                    ));
                }
                b.trim().to_owned()
            }
            None => directory::base_of(&domain, vendor),
        };
        let host = decky
            .config
            .hostname
            .split('.')
            .next()
            .unwrap_or("dc01")
            .to_owned();
        let mut dir = Directory::build(vendor, &decky.bait, &decky.seed, &base, &domain, &host);
        if let Some(w) = decky.config.windows {
            dir.set_windows(w.product_name, w.build, w.build_number);
        }
        let tls = if cfg.listener("ldaps").is_some() {
            Some(
                AcceptorBuilder::new(INFO.name, decky.config.hostname.clone())
                    .profile(TlsProfile::Apache)
                    .build(&decky)?,
            )
        } else {
            None
        };
        let shared = Shared {
            dir,
            decky: decky.config.name.clone(),
            bait: decky.bait.clone(),
            challenge_key: decky.seed.derive(b"ldap-ntlm-challenge"),
            counter: AtomicU64::new(0),
            usn: 12_000 + decky.seed.pick(b"ldap-usn", 90_000),
        };
        Ok(Arc::new(LdapInstance {
            shared: Arc::new(shared),
            tls,
        }))
    }
}

struct LdapInstance {
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
}

#[async_trait]
impl Instance for LdapInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let trip = conn.trip_flag();
        if ctx.listener.tls {
            let Some(acceptor) = &self.tls else {
                return Ok(());
            };
            let stream = match tls::accept(acceptor, conn, TLS_TIMEOUT).await {
                Ok(s) => s,
                Err(tls::HandshakeError::Closed) => return Ok(()),
                Err(e) => {
                    return Err(ctx
                        .protocol_error(format!("tls_handshake_failed: {}", e.reason()))
                        .await)
                }
            };
            let facts = tls::ClientFacts::of(&stream);
            return session::run(&self.shared, &ctx, stream, Some(facts), trip).await;
        }
        session::run(&self.shared, &ctx, conn, None, trip).await
    }
}
