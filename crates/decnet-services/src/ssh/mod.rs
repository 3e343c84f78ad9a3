//! The SSH emulator: DECNET's own transport ([`wire`]) speaks the protocol as
//! the persona's OpenSSH release does (identification string, KEXINIT
//! name-lists, host keys, extensions, edge answers); every password,
//! keyboard-interactive and public-key attempt becomes an event; accepted users
//! get the fake [`crate::shell`], recorded by [`crate::recorder`].
//!
//! - [`wire`]: the transport (packets, ciphers, key exchange, per-release tables)
//! - [`hassh`]: the tap that copies the client's hello and computes HASSH
//! - `decoy`: authentication and connection layers of one connection
//! - `session`: the per-connection task that owns the shells and recordings
//! - `transfer`: scp (legacy) and SFTP v3 uploads and downloads
//!
//! A connection that has not logged in within the decky's `pre_auth_timeout`
//! (identification string and key exchange included, like OpenSSH's
//! `LoginGraceTime`) is closed with a `limit_exceeded` event (`pre_auth_timeout`).
//! Inactivity is the supervised connection's `idle_timeout`, reported by the
//! supervisor as `limit_exceeded`; only a visitor that leaves without trying to
//! log in is a `scan`.

pub mod decoy;
pub(crate) mod handler;
pub mod hassh;
pub(crate) mod session;
pub(crate) mod transfer;
pub mod wire;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::EventType;

use crate::conn::{Conn, LimitTrip};
use crate::kit::persona::PersonaKeys;
use crate::recorder::{Recorder, RecorderLimits};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use crate::shell::Persona;

/// Users let in when the persona names none.
pub const DEFAULT_USERS: &str = "root:root,admin:admin";
/// OpenSSH with PAM answers a wrong password after about two seconds (pam_faildelay).
pub const DEFAULT_AUTH_DELAY_MS: u64 = 2000;
/// Refused attempts one connection may make: OpenSSH's `MaxAuthTries`. The
/// sixth is recorded like the others, then answered with sshd's disconnect
/// ("Too many authentication failures"); the client's reconnect is a new capture.
pub const MAX_AUTH_ATTEMPTS: u32 = decoy::MAX_AUTH_TRIES;
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
    /// keyboard-interactive is offered besides publickey and password.
    pub keyboard_interactive: bool,
}

impl Shared {
    /// Whether `user`/`password` is a configured account, or one the bait
    /// world says exists here (a honeytoken planted for this decky, or a
    /// person's own password where they have an account).
    pub fn accepts(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
            || self
                .persona
                .bait
                .accepts(&self.persona.decky, user, password)
    }
}

/// One decky's SSH instance.
#[derive(Debug)]
pub struct SshInstance {
    ident: String,
    release: wire::algos::Release,
    keys: Arc<wire::hostkey::HostKeys>,
    banner_delay: Duration,
    shared: Arc<Shared>,
}

/// sshd writes its identification 10–15 ms after the accept (fork, exec,
/// re-exec of the privilege-separated child); each decky has its own point in
/// that range, from its seed.
pub fn banner_delay(seed: &decnet_core::seed::InstanceSeed) -> Duration {
    let b = seed.derive(b"ssh-banner-delay");
    let micros = u64::from(u16::from_be_bytes([b[0], b[1]])) % 4000;
    Duration::from_micros(10_500 + micros)
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
        let shared = Shared {
            users,
            auth_delay: Duration::from_millis(auth_delay_ms),
            sync_slack: sync_slack(Duration::from_millis(auth_delay_ms)),
            persona,
            recorder: Recorder::new(&decky.artifacts_dir("ssh"), RecorderLimits::from_env()),
            keyboard_interactive: kbd,
        };
        let mut release = wire::algos::Release::for_ident(&version);
        if wire::algos::crypto_policy_distro(d.os_id, d.version_id) {
            release = release.under_crypto_policy();
        }
        Ok(Arc::new(SshInstance {
            release,
            ident: version,
            keys: Arc::new(wire::hostkey::HostKeys::new(seed)),
            banner_delay: banner_delay(seed),
            shared: Arc::new(shared),
        }))
    }
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
        let progress = Arc::new(handler::Progress::default());
        let io = hassh::Tap::new(conn, tap.clone());
        let mut t = wire::transport::Transport::new(
            io,
            &self.ident,
            self.release.clone(),
            self.keys.clone(),
        );
        // Within the decky's point of the range, a little per connection too,
        // counted from accept as sshd's fork and exec are (the connect event's
        // sync, see `connect_slack`, is part of it).
        let delay = (self.banner_delay + Duration::from_micros(rand::random::<u64>() % 700))
            .saturating_sub(ctx.accepted.elapsed());
        let shared = self.shared.clone();
        let session = async {
            if let Err(e) = t.exchange_ident(delay).await {
                return decoy::Ended::Wire(e);
            }
            if let Err(e) = t.first_kex().await {
                return decoy::Ended::Wire(e);
            }
            decoy::Decoy::new(t, shared, ctx.clone(), tap.clone(), progress.clone())
                .run()
                .await
        };
        let ended = tokio::select! {
            e = session => Some(e),
            () = pre_auth_expired(deadline, &ctx.pre_auth) => None,
        };
        let hello = tap.hello();
        let Some(ended) = ended else {
            // OpenSSH just closes the connection ("Timeout before authentication").
            let mut e = ctx.event(EventType::LimitExceeded);
            e.fields.insert("limit".into(), LIMIT_PRE_AUTH.into());
            e.fields
                .insert("max_secs".into(), limits.pre_auth_timeout.as_secs().into());
            handler::client_fields(&mut e.fields, &hello);
            ctx.emit(e).await;
            return Ok(());
        };
        let err = match ended {
            decoy::Ended::Aborted => return Ok(()),
            decoy::Ended::Wire(e) => e,
        };
        let idle = trip.get() == Some(LimitTrip::Idle);
        if !progress.auth_seen.load(Ordering::Relaxed) && !idle {
            // Nothing was tried: a banner grab, a host-key scan or a fingerprinting probe.
            let mut e = ctx.event(EventType::Scan);
            handler::client_fields(&mut e.fields, &hello);
            if err.is_protocol_error() {
                e.fields.insert("reason".into(), err.to_string().into());
            }
            ctx.emit(e).await;
        }
        if err.is_protocol_error() && !idle {
            let mut reason = err.to_string();
            if let hassh::Hello::Invalid { why, .. } = &hello {
                reason = format!("{reason}: {}", why.as_str());
            }
            return Err(ctx.protocol_error(reason).await);
        }
        tracing::debug!(peer = %ctx.peer, error = %err, "ssh connection ended");
        Ok(())
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }

    /// Half the banner delay: the other half is left for the write and fsync,
    /// so the banner still goes out when the delay ends.
    fn connect_slack(&self) -> Duration {
        self.banner_delay / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_decky_writes_its_identification_within_sshds_range() {
        let delays: Vec<Duration> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| banner_delay(&decnet_core::seed::InstanceSeed::derive_for(b"k", n)))
            .collect();
        for d in &delays {
            // 10.5–14.5 ms, plus at most 0.7 ms per connection: within sshd's 10–15 ms.
            assert!(*d >= Duration::from_micros(10_500) && *d < Duration::from_micros(14_500));
        }
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 1, "deckies differ: {delays:?}");
        let again = banner_delay(&decnet_core::seed::InstanceSeed::derive_for(b"k", "a"));
        assert_eq!(again, delays[0], "stable per decky");
    }

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
