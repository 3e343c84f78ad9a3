//! The VNC emulator: an RFB server with VNC authentication, as x11vnc or
//! TightVNC with a password answer it. Every client gets a fresh 16-byte
//! challenge; its DES response is captured (`vnc_des`, with the challenge and
//! a John the Ripper line, so the password can be cracked offline), then the
//! server fails the login ("Authentication failed") and closes.
//!
//! - [`rfb`]: the handshake state machine, the challenge and the DES response
//!
//! A visitor that leaves before answering the challenge (nmap's version scan
//! reads the banner and goes) is a `scan`; one that speaks something else is
//! a `protocol_error`.

pub mod rfb;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::fields::LoginMethod;
use decnet_core::{Credential, EventType, Fields, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::{Conn, LimitTrip};
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use rfb::{Handshake, Outcome, Version};

/// What a failed VNC authentication says (RFB 3.8 sends a reason).
pub const AUTH_FAILED: &str = "Authentication failed";
/// Versions `vnc_version` takes.
const VERSIONS: [&str; 3] = ["3.3", "3.7", "3.8"];

static KEYS: [PersonaKey; 2] = [
    PersonaKey {
        name: "vnc_version",
        kind: KeyKind::Choice(&VERSIONS),
        doc: "RFB protocol version the server offers: `3.3` (server-chosen security type), `3.7` or `3.8` (a list, and 3.8's failure reason). Default: `3.8`, as x11vnc, TigerVNC and TightVNC offer.",
    },
    PersonaKey {
        name: "desktop_name",
        kind: KeyKind::Text,
        doc: "Desktop name the server would send after a login (ServerInit); every login is refused, so it is kept for the capture's fields. Default: `<hostname>:0`, as x11vnc names display :0.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "vnc",
    summary: "VNC (RFB) server with VNC authentication: captures the DES challenge response of every login",
    listeners: &[ListenerInfo::tcp("vnc", 5900)],
    persona_keys: &KEYS,
};

/// The VNC service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vnc;

/// One decky's VNC instance.
#[derive(Debug)]
pub struct VncInstance {
    version: Version,
    desktop_name: String,
    /// The decky's challenge key, from its instance seed.
    key: [u8; 32],
    /// Connections served, mixed into each challenge.
    counter: AtomicU64,
}

impl Service for Vnc {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let version = keys
            .choice("vnc_version", &VERSIONS, Version::parse)?
            .unwrap_or(Version::V3_8);
        let desktop_name = match keys.text("desktop_name") {
            Some(n) => {
                if n.chars().count() > 255 || n.chars().any(char::is_control) {
                    return Err(keys.error(
                        "desktop_name",
                        "must be at most 255 characters without control characters",
                    ));
                }
                n.to_owned()
            }
            None => format!("{}:0", decky.config.hostname),
        };
        Ok(Arc::new(VncInstance {
            version,
            desktop_name,
            key: decky.seed.derive(b"vnc-challenge"),
            counter: AtomicU64::new(0),
        }))
    }
}

impl VncInstance {
    fn challenge(&self, ctx: &ConnCtx) -> [u8; rfb::CHALLENGE_LEN] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        rfb::challenge(&self.key, n, &ctx.peer.to_string(), nanos)
    }
}

/// Fields every event of a handshake carries.
fn handshake_fields(h: &Handshake) -> Fields {
    let mut f = Fields::new();
    if let Some((major, minor)) = h.client_version() {
        f.insert("client_version".into(), format!("{major}.{minor}").into());
    }
    if let Some(v) = h.agreed() {
        f.insert("rfb_version".into(), v.as_str().into());
    }
    f
}

#[async_trait]
impl Instance for VncInstance {
    async fn serve(&self, mut conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let trip = conn.trip_flag();
        let mut h = Handshake::new(self.version, self.challenge(&ctx), AUTH_FAILED);
        conn.write_all(h.greeting()).await?;
        let deadline = ctx.accepted + ctx.decky.limits.pre_auth_timeout;
        let mut buf = [0u8; 64];
        let outcome = loop {
            let read = tokio::select! {
                r = conn.read(&mut buf) => r,
                () = tokio::time::sleep_until(deadline) => {
                    let mut e = ctx.event(EventType::LimitExceeded);
                    e.fields.insert("limit".into(), crate::ssh::LIMIT_PRE_AUTH.into());
                    e.fields.insert("max_secs".into(), ctx.decky.limits.pre_auth_timeout.as_secs().into());
                    e.fields.extend(handshake_fields(&h));
                    ctx.emit(e).await;
                    return Ok(());
                }
            };
            let n = match read {
                Ok(0) | Err(_) => break None,
                Ok(n) => n,
            };
            let step = h.feed(buf.get(..n).unwrap_or(&[]));
            match step.outcome {
                None => {
                    if !step.out.is_empty() {
                        conn.write_all(&step.out).await?;
                    }
                }
                Some(o) => break Some((o, step.out)),
            }
        };
        match outcome {
            Some((Outcome::Response(response), out)) => {
                let challenge = *h.challenge();
                let mut fields = handshake_fields(&h);
                fields.insert("challenge".into(), hex::encode(challenge).into());
                fields.insert("response".into(), hex::encode(response).into());
                fields.insert("john".into(), rfb::john_line(&challenge, &response).into());
                fields.insert("desktop_name".into(), self.desktop_name.clone().into());
                // VNC authentication has no user name: the principal is empty.
                let cred = Credential::new("", &response, SecretKind::VncDes);
                ctx.login_attempt(LoginMethod::Password, cred, fields).await;
                conn.write_all(&out).await?;
                let _ = conn.shutdown().await;
                Ok(())
            }
            Some((Outcome::Refused(r), _)) => {
                let mut e = ctx.event(EventType::Scan);
                e.fields.extend(handshake_fields(&h));
                e.fields.insert("reason".into(), r.as_str().into());
                ctx.emit(e).await;
                Err(ctx.protocol_error(r.as_str()).await)
            }
            None => {
                if trip.get() != Some(LimitTrip::Idle) {
                    // Left before answering the challenge: a banner grab or a probe.
                    let mut e = ctx.event(EventType::Scan);
                    e.fields.extend(handshake_fields(&h));
                    e.fields.insert("challenged".into(), h.challenged().into());
                    ctx.emit(e).await;
                }
                Ok(())
            }
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}
