//! A minimal stand-in for the engine's supervisor, for protocol tests: binds one
//! service instance on loopback, serves every accepted connection through a
//! `Conn`, and collects the events the service emits. Every protocol's
//! integration tests drive their service through it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::catalog::ServiceCatalog as _;
use decnet_core::config::model::{DeckyConfig, Limits, ServiceConfig};
use decnet_core::persona::{distro, OsFamily};
use decnet_core::seed::InstanceSeed;
use decnet_core::{Event, EventType};
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Emitter, Registry};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A running service instance and the events it has emitted.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Events as they arrive.
    pub events: mpsc::Receiver<Event>,
    /// The decky it belongs to.
    pub decky: Arc<DeckyRuntime>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    /// Waits (up to `deadline`) for the next event matching `pred`, skipping others.
    pub async fn wait_for(
        &mut self,
        deadline: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        let fut = async {
            while let Some(e) = self.events.recv().await {
                if pred(&e) {
                    return Some(e);
                }
            }
            None
        };
        tokio::time::timeout(deadline, fut).await.ok().flatten()
    }

    /// Waits for the next event of a type.
    pub async fn wait_type(&mut self, t: EventType) -> Option<Event> {
        self.wait_for(Duration::from_secs(20), |e| e.event_type == t)
            .await
    }

    /// Every event received until none arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(quiet, self.events.recv()).await {
            out.push(e);
        }
        out
    }
}

/// A decky runtime for tests, with its data dir at `data`.
pub fn decky(name: &str, ip: &str, data: &Path, services: Vec<ServiceConfig>) -> Arc<DeckyRuntime> {
    let d = distro("ubuntu22").expect("distro");
    Arc::new(DeckyRuntime {
        config: DeckyConfig {
            name: name.into(),
            ip: ip.parse().expect("ip"),
            hostname: format!("{name}-host"),
            os_family: OsFamily::Linux,
            distro: d,
            windows: None,
            archetype: None,
            services,
        },
        seed: InstanceSeed::derive_for(b"test-installation", name),
        data_dir: data.to_path_buf(),
        limits: Limits::DEFAULT,
        bait: Default::default(),
        prefix: 24,
    })
}

/// Like [`decky`], with the bait world a fleet of this decky alone derives (so a
/// decky running imap or pop3 has mailboxes and people with accounts on it).
pub fn decky_in_world(
    name: &str,
    ip: &str,
    data: &Path,
    services: Vec<ServiceConfig>,
) -> Arc<DeckyRuntime> {
    let base = decky(name, ip, data, services);
    let world = decnet_core::bait::World::derive(
        b"test-installation",
        std::slice::from_ref(&base.config),
        1_760_000_000,
    );
    let mut d = Arc::try_unwrap(base).expect("a fresh runtime has one owner");
    d.bait = Arc::new(world);
    Arc::new(d)
}

/// The config of the service a slug names (`https` is `http` with its TLS listener
/// alone), on any free port, with persona keys.
pub fn svc(slug: &str, persona: &[(&str, &str)]) -> ServiceConfig {
    let registry = Registry::builtin();
    let mut cfg = ServiceConfig::for_slug(registry.slug(slug).expect("slug registered"), 0);
    cfg.persona = persona
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cfg
}

/// Binds the listener `slug` names (`ssh`, `http`, `https`) of `decky` on `ip:0` and serves it.
pub async fn serve(decky: Arc<DeckyRuntime>, slug: &str) -> Served {
    let registry = Registry::builtin();
    let found = registry.slug(slug).expect("slug registered");
    let listener_name = found.listener.map_or(found.service.name, |l| l.name);
    let info = found
        .service
        .listener(listener_name)
        .expect("listener declared");
    let svc = registry
        .get(found.service.name)
        .expect("service registered");
    let cfg = decky
        .config
        .services
        .iter()
        .find(|s| s.listener(listener_name).is_some())
        .cloned()
        .expect("listener configured on decky");
    let instance = svc.instance(decky.clone(), &cfg).expect("instance builds");
    let name: &'static str = svc.info().name;
    let listener = TcpListener::bind(SocketAddr::new(decky.config.ip, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel(100_000);
    let emitter = Emitter::new(tx);
    let d2 = decky.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let ctx = ConnCtx {
                decky: d2.clone(),
                service: name,
                listener: info,
                peer,
                local: addr,
                session_id: uuid::Uuid::now_v7(),
                accepted: tokio::time::Instant::now(),
                emitter: emitter.clone(),
                abort: Default::default(),
                pre_auth: Default::default(),
                slots: Default::default(),
            };
            let conn = Conn::new(Box::new(stream), peer, addr, &d2.limits);
            let inst = instance.clone();
            tokio::spawn(async move {
                let _ = inst.serve(conn, ctx).await;
            });
        }
    });
    Served {
        addr,
        events: rx,
        decky,
        task,
    }
}
