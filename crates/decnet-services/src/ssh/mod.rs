//! The SSH emulator: russh speaks the protocol with the persona's
//! identification string, algorithm order and host key; every password,
//! keyboard-interactive and public-key attempt becomes an event; accepted users
//! get the fake [`crate::shell`], recorded by [`crate::recorder`].
//!
//! - [`hassh`]: the tap that copies the client's hello and computes HASSH
//! - `keys`: host keys from the instance seed
//! - `handler`: russh callbacks, translated into events and `session::SessionMsg`s
//! - `session`: the per-connection task that owns the shells and recordings
//! - `sever`: the stream wrapper that ends russh's session task when `serve` ends
//!
//! A connection that has not logged in within the decky's `pre_auth_timeout`
//! (identification string and key exchange included, like OpenSSH's
//! `LoginGraceTime`) is closed with a `limit_exceeded` event (`pre_auth_timeout`).
//! Inactivity is the supervised connection's `idle_timeout`, reported by the
//! supervisor as `limit_exceeded`; only a visitor that leaves without trying to
//! log in is a `scan`.

pub(crate) mod handler;
pub mod hassh;
pub(crate) mod keys;
pub(crate) mod session;
pub(crate) mod sever;

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::EventType;
use russh::{cipher, compression, kex, mac, MethodKind, MethodSet, Preferred, SshId};

use crate::conn::{Conn, LimitTrip};
use crate::kit::persona::PersonaKeys;
use crate::recorder::{Recorder, RecorderLimits};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use crate::shell::Persona;

/// Users let in when the persona names none.
pub const DEFAULT_USERS: &str = "root:root,admin:admin";
/// OpenSSH with PAM answers a wrong password after about two seconds (pam_faildelay).
pub const DEFAULT_AUTH_DELAY_MS: u64 = 2000;
/// Refused attempts one connection may make before it is dropped. Higher than
/// OpenSSH's `MaxAuthTries` (6) on purpose: russh drops the request past the cap
/// unseen, and brute-forcers then retry it elsewhere, so a low cap loses
/// captures. The refusal delay and the pre-auth deadline bound a connection anyway.
pub const MAX_AUTH_ATTEMPTS: usize = 100;
/// `limit` of the `limit_exceeded` event of a connection closed before it logged in.
pub const LIMIT_PRE_AUTH: &str = "pre_auth_timeout";
/// Refusal delays shorter than this sync their attempt's event at once.
pub const MIN_SLACK_DELAY: Duration = Duration::from_millis(100);
/// Longest a refused attempt's event waits to be synced with others.
pub const MAX_SYNC_SLACK: Duration = Duration::from_secs(1);

/// How long a refused attempt's event may wait to share an fsync: half the
/// refusal delay (at most [`MAX_SYNC_SLACK`]), so the other half is left for the
/// write and fsync themselves and the refusal still goes out when the persona's
/// delay ends; none for delays too short to share.
pub fn sync_slack(auth_delay: Duration) -> Duration {
    if auth_delay < MIN_SLACK_DELAY {
        Duration::ZERO
    } else {
        (auth_delay / 2).min(MAX_SYNC_SLACK)
    }
}

/// Session channels one connection may open (OpenSSH `MaxSessions` is 10).
pub const MAX_CHANNELS: usize = 10;

static KEYS: [PersonaKey; 6] = [
    PersonaKey {
        name: "ssh_version",
        kind: KeyKind::Text,
        doc: "Identification string (`SSH-2.0-…`). Default: the distro's OpenSSH, e.g. `SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6`.",
    },
    PersonaKey {
        name: "kernel_version",
        kind: KeyKind::Text,
        doc: "Kernel release the shell shows (`uname -r`, /proc/version). Default: the distro's.",
    },
    PersonaKey {
        name: "hostname",
        kind: KeyKind::Text,
        doc: "Hostname the shell shows. Default: the decky's hostname.",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "Accounts let in, `user:password,…` (the password may contain `:`). Default: `root:root,admin:admin`. Every other attempt is refused and recorded.",
    },
    PersonaKey {
        name: "auth_delay_ms",
        kind: KeyKind::Int,
        doc: "Delay before a wrong password is refused, like OpenSSH with PAM. Default: 2000.",
    },
    PersonaKey {
        name: "keyboard_interactive",
        kind: KeyKind::Bool,
        doc: "Also offer keyboard-interactive authentication (Ubuntu and Debian disable it by default). Default: false.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "ssh",
    summary:
        "OpenSSH look-alike: captures passwords and keys, serves a fake shell and records sessions",
    listeners: &[ListenerInfo::tcp("ssh", 22)],
    persona_keys: &KEYS,
};

/// The SSH service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ssh;

/// What every connection of one SSH instance shares.
#[derive(Debug)]
pub struct Shared {
    /// Accounts let in.
    pub users: Vec<(String, String)>,
    /// Delay before refusing a password.
    pub auth_delay: Duration,
    /// How long a refused attempt's event may wait for the journal's fsync:
    /// [`sync_slack`] of `auth_delay`.
    pub sync_slack: Duration,
    /// What the shell shows.
    pub persona: Persona,
    /// Where sessions are recorded.
    pub recorder: Recorder,
    /// Authentication methods offered.
    pub methods: MethodSet,
}

impl Shared {
    /// Whether `user`/`password` is a configured account.
    pub fn accepts(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
    }
}

/// One decky's SSH instance.
#[derive(Debug)]
pub struct SshInstance {
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
}

/// Algorithm lists in the order OpenSSH 8.x/9.x servers send them (those russh implements).
pub fn openssh_preferred() -> Preferred {
    Preferred {
        kex: Cow::Borrowed(&[
            kex::CURVE25519,
            kex::CURVE25519_PRE_RFC_8731,
            kex::ECDH_SHA2_NISTP256,
            kex::ECDH_SHA2_NISTP384,
            kex::ECDH_SHA2_NISTP521,
            kex::DH_GEX_SHA256,
            kex::DH_G16_SHA512,
            kex::DH_G18_SHA512,
            kex::DH_G14_SHA256,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ]),
        // russh offers in KEXINIT only those it holds a host key for (ECDSA P-256
        // and Ed25519, in OpenSSH's order), and sends the whole list as the
        // `server-sig-algs` extension: OpenSSH's PubkeyAcceptedAlgorithms, so
        // clients holding RSA keys (paramiko, ssh) offer them and they are captured.
        key: Cow::Borrowed(&[
            russh::keys::Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP256,
            },
            russh::keys::Algorithm::Ed25519,
            russh::keys::Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP384,
            },
            russh::keys::Algorithm::Ecdsa {
                curve: russh::keys::EcdsaCurve::NistP521,
            },
            russh::keys::Algorithm::Rsa {
                hash: Some(russh::keys::HashAlg::Sha512),
            },
            russh::keys::Algorithm::Rsa {
                hash: Some(russh::keys::HashAlg::Sha256),
            },
        ]),
        host_key_certificates: Cow::Borrowed(&[]),
        cipher: Cow::Borrowed(&[
            cipher::CHACHA20_POLY1305,
            cipher::AES_128_CTR,
            cipher::AES_192_CTR,
            cipher::AES_256_CTR,
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
        ]),
        mac: Cow::Borrowed(&[
            mac::HMAC_SHA256_ETM,
            mac::HMAC_SHA512_ETM,
            mac::HMAC_SHA1_ETM,
            mac::HMAC_SHA256,
            mac::HMAC_SHA512,
            mac::HMAC_SHA1,
        ]),
        compression: Cow::Borrowed(&[compression::NONE, compression::ZLIB_LEGACY]),
    }
}

impl Service for Ssh {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let d = decky.config.distro;
        let keys = PersonaKeys::new(INFO.name, cfg);
        let version = match keys.text("ssh_version") {
            Some(v) => v.to_owned(),
            None => d.ssh_identification().ok_or_else(|| {
                keys.error(
                    "ssh_version",
                    format!("distro {} ships no OpenSSH; set ssh_version", d.slug),
                )
            })?,
        };
        if !version.starts_with("SSH-2.0-")
            || version.len() > 253
            || version.chars().any(|c| c.is_control())
        {
            return Err(keys.error(
                "ssh_version",
                "must start with SSH-2.0-, be at most 253 characters and hold no control characters",
            ));
        }
        let users = keys.users_or("users", DEFAULT_USERS)?;
        let auth_delay_ms = keys
            .int::<u64>("auth_delay_ms")?
            .map_or(DEFAULT_AUTH_DELAY_MS, |ms| ms.min(30_000));
        let kbd = keys.bool("keyboard_interactive")?.unwrap_or(false);
        let seed = &decky.seed;
        let persona = Persona::for_decky(
            &decky,
            cfg.get("hostname"),
            cfg.get("kernel_version"),
            users.iter().map(|(u, _)| u.clone()).collect(),
        );
        let mut methods = vec![MethodKind::PublicKey, MethodKind::Password];
        if kbd {
            methods.push(MethodKind::KeyboardInteractive);
        }
        let config = russh::server::Config {
            server_id: SshId::Standard(Cow::Owned(version)),
            methods: MethodSet::from(methods.as_slice()),
            // The handler sleeps before refusing a password; key offers and `none` are refused at once, as OpenSSH does.
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: keys::host_keys(seed),
            preferred: openssh_preferred(),
            max_auth_attempts: MAX_AUTH_ATTEMPTS,
            // The supervised connection's idle deadline covers inactivity, so the
            // close is one `limit_exceeded` (`idle_timeout`) however it races.
            inactivity_timeout: None,
            keepalive_interval: None,
            nodelay: true,
            ..Default::default()
        };
        let shared = Shared {
            users,
            auth_delay: Duration::from_millis(auth_delay_ms),
            sync_slack: sync_slack(Duration::from_millis(auth_delay_ms)),
            persona,
            recorder: Recorder::new(&decky.artifacts_dir("ssh"), RecorderLimits::from_env()),
            methods: MethodSet::from(methods.as_slice()),
        };
        Ok(Arc::new(SshInstance {
            config: Arc::new(config),
            shared: Arc::new(shared),
        }))
    }
}

/// Whether a russh error is the peer breaking the protocol (rather than leaving or timing out).
fn is_protocol_error(e: &russh::Error) -> bool {
    use russh::Error as E;
    !matches!(
        e,
        E::Disconnect
            | E::HUP
            | E::IO(_)
            | E::ConnectionTimeout
            | E::KeepaliveTimeout
            | E::InactivityTimeout
            | E::Elapsed(_)
            | E::SendError
            | E::RecvError
            | E::Join(_)
    )
}

/// How a connection ended.
enum Ended {
    /// russh ended the session (the peer left, broke the protocol, or went idle).
    Session(Result<(), russh::Error>),
    /// Nobody logged in within the pre-auth deadline.
    PreAuthTimeout,
}

/// Resolves at `deadline` unless someone logged in by then.
async fn pre_auth_expired(deadline: tokio::time::Instant, pre_auth: &crate::service::PreAuth) {
    tokio::time::sleep_until(deadline).await;
    if pre_auth.is_done() {
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl Instance for SshInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let limits = ctx.decky.limits;
        // LoginGraceTime counts from the accept, so a trickled identification
        // line or a stalled key exchange cannot hold the slot either.
        let deadline = tokio::time::Instant::now() + limits.pre_auth_timeout;
        let trip = conn.trip_flag();
        let tap = hassh::TapState::default();
        let (io, _cut) = sever::severable(hassh::Tap::new(conn, tap.clone()));
        let progress = Arc::new(handler::Progress::default());
        let h = handler::SshHandler::new(
            self.shared.clone(),
            ctx.clone(),
            tap.clone(),
            progress.clone(),
        );
        let session = async {
            russh::server::run_stream(self.config.clone(), io, h)
                .await?
                .await
        };
        let ended = tokio::select! {
            r = session => Ended::Session(r),
            () = pre_auth_expired(deadline, &ctx.pre_auth) => Ended::PreAuthTimeout,
        };
        // `_cut` goes with this function: russh's task, wherever it is, ends too.
        let hello = tap.hello();
        let result = match ended {
            Ended::PreAuthTimeout => {
                // OpenSSH just closes the connection ("Timeout before authentication").
                let mut e = ctx.event(EventType::LimitExceeded);
                e.fields.insert("limit".into(), LIMIT_PRE_AUTH.into());
                e.fields
                    .insert("max_secs".into(), limits.pre_auth_timeout.as_secs().into());
                handler::client_fields(&mut e.fields, &hello);
                ctx.emit(e).await;
                return Ok(());
            }
            Ended::Session(r) => r,
        };
        let idle = trip.get() == Some(LimitTrip::Idle);
        if !progress.auth_seen.load(Ordering::Relaxed) && !idle {
            // Nothing was tried: a banner grab, a host-key scan or a fingerprinting probe.
            let mut e = ctx.event(EventType::Scan);
            handler::client_fields(&mut e.fields, &hello);
            if let Err(err) = &result {
                e.fields.insert("reason".into(), err.to_string().into());
            }
            ctx.emit(e).await;
        }
        match result {
            Err(e) if is_protocol_error(&e) => {
                let mut reason = e.to_string();
                if let hassh::Hello::Invalid { why, .. } = &hello {
                    reason = format!("{reason}: {}", why.as_str());
                }
                Err(ctx.protocol_error(reason).await)
            }
            Err(e) => {
                tracing::debug!(peer = %ctx.peer, error = %e, "ssh connection ended");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusals_sync_slack_leaves_half_its_delay_for_the_fsync() {
        let ms = Duration::from_millis;
        assert_eq!(sync_slack(ms(2000)), ms(1000));
        assert_eq!(sync_slack(ms(1000)), ms(500));
        assert_eq!(sync_slack(ms(30_000)), MAX_SYNC_SLACK, "capped");
        assert_eq!(sync_slack(ms(50)), Duration::ZERO, "too short to share");
        assert_eq!(sync_slack(Duration::ZERO), Duration::ZERO);
        for d in [100, 250, 999, 1000, 2000, 5000, 30_000] {
            assert!(sync_slack(ms(d)) * 2 <= ms(d), "{d} ms");
        }
    }
}
