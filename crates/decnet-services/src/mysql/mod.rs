//! The MySQL emulator (listener `mysql`, port 3306): MariaDB or MySQL 8 as
//! the decky's distro ships it. Every connection gets a protocol-10 greeting
//! with a fresh salt; the client's HandshakeResponse41 (user, database,
//! capabilities, connection attributes) and its scramble are captured in a
//! crackable form (`mysql_native` with hashcat's mode 11200 line, or
//! `mysql_caching_sha2` with its nonce), and a wrong login gets error 1045 as
//! the real server words it. Accounts the bait world lets in (the planted
//! `app` account, people, configured `users`) get a small query surface over
//! the world's `appdb`; every statement is a `query` event.
//!
//! - [`packet`]: framing, length-encoded fields (sans-IO)
//! - [`handshake`]: greeting, client response, scrambles (sans-IO)
//! - [`reply`]: OK/ERR/EOF packets and result sets
//! - [`query`]: the statements answered after a login (sans-IO)
//! - [`persona`]: which product and version a distro runs
//! - [`wire`]: one connection's packets under caps and deadlines
//! - `session`: the connection phase and the command phase
//! - [`rsa`]: the server key `caching_sha2_password` full authentication uses

pub mod handshake;
pub mod packet;
pub mod persona;
pub mod query;
pub mod reply;
pub mod rsa;
mod session;
pub mod wire;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::bait::sql::SqlDatabase;
use decnet_core::bait::World;
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use crate::conn::Conn;
use crate::kit::persona::PersonaKeys;
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};
use persona::Flavor;

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "mysql_version",
        kind: KeyKind::Text,
        doc: "Version the server announces and `@@version` shows, e.g. `8.0.36-0ubuntu0.22.04.1` or `10.11.6-MariaDB-0+deb12u1`. `MariaDB` in it makes the server MariaDB (mysql_native_password; the greeting adds MariaDB 10's `5.5.5-` prefix), otherwise MySQL of that major (8: caching_sha2_password, 5: mysql_native_password). Default: what the distro ships: MySQL 8 on Ubuntu, MariaDB elsewhere (Debian 12: `10.11.6-MariaDB-0+deb12u1`).",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "user:password accounts let in besides the bait world's (the planted `app` account, people with an account on the decky); they see the system schemas as root does. Default: none.",
    },
    PersonaKey {
        name: "clear_password",
        kind: KeyKind::Bool,
        doc: "After a scramble that matches no account, ask the client to switch to `mysql_clear_password` (an AuthSwitchRequest, as a server with PAM authentication does) so clients that honour it (PyMySQL, `mysql --enable-cleartext-plugin`) send the password in plaintext. The scramble is captured first either way; a stock mysql client refuses the switch with error 2059 instead of seeing 1045. Default: false, as a stock server never asks.",
    },
];

static INFO: ServiceInfo = ServiceInfo {
    name: "mysql",
    summary: "MariaDB/MySQL server: handshake, client attributes and the login scramble captured crackable (native and caching_sha2, plaintext through RSA full auth or an optional cleartext switch); bait accounts get a query surface over the bait world's appdb, every statement a query event",
    listeners: &[ListenerInfo::tcp("mysql", 3306)],
    persona_keys: &KEYS,
};

/// The MySQL service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mysql;

/// What one decky's server is.
#[derive(Debug)]
pub struct Shared {
    flavor: Flavor,
    users: Vec<(String, String)>,
    clear_password: bool,
    decky: String,
    hostname: String,
    bait: Arc<World>,
    databases: Vec<SqlDatabase>,
    /// The decky's salt key, from its instance seed.
    salt_key: [u8; 32],
    /// Connections served, mixed into each salt.
    counter: AtomicU64,
    /// The next connection (thread) id.
    next_id: AtomicU32,
    rsa: rsa::ServerKey,
}

impl Shared {
    fn accepts(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
            || self.bait.accepts(&self.decky, user, password)
    }

    /// Passwords `user` could have here, to check a scramble against.
    fn candidates(&self, user: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .users
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, p)| p.clone())
            .collect();
        out.extend(self.bait.passwords_for(&self.decky, user));
        out
    }

    /// Whether the account sees the system schemas.
    fn admin(&self, user: &str) -> bool {
        user == "root" || self.users.iter().any(|(u, _)| u == user)
    }
}

impl Service for Mysql {
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
        let flavor = match keys.text("mysql_version") {
            Some(v) => Flavor::from_version(v, d).ok_or_else(|| {
                keys.error(
                    "mysql_version",
                    format!("expected a version such as 8.0.36 or 10.11.6-MariaDB, got {v:?}"),
                )
            })?,
            None => Flavor::for_distro(d),
        };
        let users = keys.users_or("users", "")?;
        let clear_password = keys.bool("clear_password")?.unwrap_or(false);
        let first_id = 8 + u32::try_from(decky.seed.pick(b"mysql-thread-id", 4000)).unwrap_or(0);
        let shared = Shared {
            flavor,
            users,
            clear_password,
            decky: decky.config.name.clone(),
            hostname: decky.config.hostname.clone(),
            databases: decky.bait.sql_databases(&decky.config.name),
            bait: decky.bait.clone(),
            salt_key: decky.seed.derive(b"mysql-salt"),
            counter: AtomicU64::new(0),
            next_id: AtomicU32::new(first_id),
            rsa: rsa::ServerKey::new(decky.state_dir(INFO.name)),
        };
        Ok(Arc::new(MysqlInstance {
            shared: Arc::new(shared),
        }))
    }
}

/// One decky's MySQL instance.
#[derive(Debug)]
pub struct MysqlInstance {
    shared: Arc<Shared>,
}

#[async_trait]
impl Instance for MysqlInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let sh = &self.shared;
        let n = sh.counter.fetch_add(1, Ordering::Relaxed);
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let salt = handshake::salt(
            sh.flavor.product,
            &sh.salt_key,
            n,
            &ctx.peer.to_string(),
            nanos,
        );
        session::run(sh, &ctx, conn, id, salt).await
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}
