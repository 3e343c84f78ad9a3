//! The MQTT broker (listener `mqtt`, port 1883): Eclipse Mosquitto as the
//! decky's distro ships it (2.0.11 on Debian 12 and Ubuntu 22.04, 1.6.9 on
//! Ubuntu 20.04, 2.0.18 on Alpine), speaking MQTT 3.1, 3.1.1 and 5.0.
//!
//! - [`packet`]: the sans-IO packet decoder (capped) and the encoders of what the broker sends
//! - [`topic`]: topic names and filters, and which filter matches which topic
//! - [`session`]: one client connection: CONNECT and its CONNACK, the QoS flows, subscriptions
//! - [`sys`]: the `$SYS/broker/…` tree Mosquitto publishes
//! - [`sensors`]: the devices whose retained readings make the broker look in use
//!
//! Every CONNECT is a login event: with a user name, its principal and the
//! exact password bytes (`password`); without one, an anonymous login (empty
//! principal and secret, method `none`, `anonymous: true`), since "does this
//! broker let anyone in" is exactly what the visitor is asking. The event
//! carries everything else the CONNECT said (client id, clean session, will,
//! keepalive, 5.0 properties).
//!
//! By default (`accept_all = true`) every CONNECT is accepted, as Mosquitto
//! with `allow_anonymous true` and no password file accepts it (1.x's default,
//! and the exposed brokers scanners look for): what a visitor publishes and
//! subscribes to is the intelligence, and a refusal ends it. With
//! `accept_all = false` the broker is Mosquitto 2's `allow_anonymous false`
//! with a `password_file`: the `users` accounts and the bait world's
//! credentials valid on this decky are let in, the rest refused with the
//! return code Mosquitto 2.0.11 sends (3.x: 5 not authorised, 5.0: 0x87 Not
//! authorized; it does not use 4/0x86 for a wrong password).
//!
//! After CONNECT, every SUBSCRIBE, UNSUBSCRIBE and PUBLISH is a `command`
//! event with its full topic or filters; a PUBLISH's payload rides in the
//! event up to [`PAYLOAD_CAP`] bytes, and a larger one is kept whole as an
//! artifact. The broker relays nothing between connections (a decky must not
//! serve as anyone's message relay): a client sees its own publishes on its
//! own subscriptions, the retained bait and `$SYS`, and their periodic updates.

pub mod packet;
pub mod sensors;
pub mod session;
pub mod sys;
pub mod topic;

use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::persona::distro::Package;

use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use sensors::{Noise, Plant};
use sys::SysTree;

/// Payload bytes of a PUBLISH carried in its `command` event; a longer one is kept as an artifact.
pub const PAYLOAD_CAP: usize = 4096;
/// Mosquitto version where the distro ships none (EPEL's for Rocky and CentOS).
const FALLBACK_VERSION: &str = "2.0.11";

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "mqtt_version",
        kind: KeyKind::Text,
        doc: "Mosquitto version the broker announces in `$SYS/broker/version` (`mosquitto version <v>`), e.g. `2.0.11`. Default: the version the decky's distro ships (2.0.11 on Debian 12 and Ubuntu 22.04, 1.6.9 on Ubuntu 20.04, 2.0.18 on Alpine, Fedora, Kali and Arch; 2.0.11 elsewhere).",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "user:password accounts of the broker's password file, let in besides the bait world's credentials when `accept_all` is false (default: none).",
    },
    PersonaKey {
        name: "accept_all",
        kind: KeyKind::Bool,
        doc: "Accept every CONNECT, anonymous or with any password, as Mosquitto with `allow_anonymous true` and no password file does, so everything a visitor publishes and subscribes to is seen. Default: true. False is Mosquitto 2's `allow_anonymous false` with a password file: `users` and the bait world's credentials are let in, the rest refused (3.x return code 5, 5.0 reason 0x87, as Mosquitto 2.0.11 answers); every CONNECT is captured either way.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "mqtt",
    summary: "Mosquitto MQTT broker (3.1, 3.1.1, 5.0) with $SYS and retained sensor readings; every CONNECT captured as a login, every publish and subscription as a command",
    listeners: &[ListenerInfo::tcp("mqtt", 1883)],
    persona_keys: &KEYS,
};

/// The MQTT service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mqtt;

/// What every connection of one decky's broker shares.
#[derive(Debug)]
pub struct Shared {
    /// `users` accounts.
    pub users: Vec<(String, String)>,
    /// `accept_all`.
    pub accept_all: bool,
    /// The decky (for the bait world's decision).
    pub decky: String,
    /// The fleet's bait world.
    pub bait: Arc<decnet_core::bait::World>,
    /// The `$SYS` tree.
    pub sys: SysTree,
    /// The devices and their readings.
    pub plant: Plant,
}

/// Why a credential was let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// `accept_all`: any CONNECT.
    AcceptAll,
    /// A `users` account.
    Users,
    /// A credential the bait world accepts on this decky.
    BaitWorld,
}

impl Admit {
    /// The `accepted_by` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Admit::AcceptAll => "accept_all",
            Admit::Users => "users",
            Admit::BaitWorld => "bait_world",
        }
    }
}

impl Shared {
    /// Whether a CONNECT with this user name and password is let in, and why.
    pub fn admit(&self, username: Option<&str>, password: Option<&[u8]>) -> Option<Admit> {
        if self.accept_all {
            return Some(Admit::AcceptAll);
        }
        let (Some(user), Some(pass)) = (username, password) else {
            return None;
        };
        if self
            .users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == pass)
        {
            return Some(Admit::Users);
        }
        self.bait
            .accepts(&self.decky, user, pass)
            .then_some(Admit::BaitWorld)
    }
}

fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Where building-automation topics say they are: the company's first word, else the hostname.
fn site(decky: &DeckyRuntime) -> String {
    let from_company: String = decky
        .bait
        .company
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if from_company.is_empty() {
        decky
            .config
            .hostname
            .split('.')
            .next()
            .unwrap_or("site")
            .to_owned()
    } else {
        from_company
    }
}

impl Service for Mqtt {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let version = match keys.text("mqtt_version") {
            Some(v) if valid_version(v) => v.to_owned(),
            Some(_) => {
                return Err(keys.error(
                    "mqtt_version",
                    "expected a Mosquitto version such as 2.0.11",
                ))
            }
            None => decky
                .config
                .distro
                .package(Package::Mosquitto)
                .map_or(FALLBACK_VERSION, |p| p.upstream)
                .to_owned(),
        };
        let users = keys.users_or("users", "")?;
        let accept_all = keys.bool("accept_all")?.unwrap_or(true);
        let noise = Noise::new(decky.seed.derive(b"mqtt-bait"));
        let plant = Plant::new(noise.clone(), &site(&decky));
        let retained = plant.retained(chrono::Utc::now().timestamp()).len();
        let sys = SysTree::new(&version, plant.devices(), retained, noise);
        Ok(Arc::new(MqttInstance {
            shared: Arc::new(Shared {
                users,
                accept_all,
                decky: decky.config.name.clone(),
                bait: decky.bait.clone(),
                sys,
                plant,
            }),
        }))
    }
}

/// One decky's broker.
#[derive(Debug)]
pub struct MqttInstance {
    shared: Arc<Shared>,
}

#[async_trait]
impl Instance for MqttInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        session::Session::new(&self.shared, &ctx).run(conn).await
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_look_like_mosquittos() {
        assert!(valid_version("2.0.11"));
        assert!(valid_version("1.6"));
        assert!(!valid_version("2.0.11-beta"));
        assert!(!valid_version("x"));
        assert!(!valid_version("2..1"));
    }
}
