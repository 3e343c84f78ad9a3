//! Starting and stopping a fleet: build every service instance, bind every
//! listener (all or nothing), start the journal, run the accept loops, and on
//! shutdown close the listeners, end the connections and flush the journal.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use decnet_core::bait::World;
use decnet_core::catalog::{ListenerInfo, Transport};
use decnet_core::config::model::{DeckyConfig, FleetConfig, ServiceConfig};
use decnet_core::config::ConfigError;
use decnet_core::health::Condition;
use decnet_core::paths::DataDir;
use decnet_core::seed::InstanceSeed;
use decnet_services::{DeckyRuntime, Emitter, Instance, Registry, ServiceError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::driver;
use decnet_journal::{JournalError, JournalOptions, JournalStats};

use crate::journal::JournalFeed;
use crate::limits::{ConnectionBudget, DeckySlots, RefusalLog};
use crate::supervisor::{
    Endpoint, Listener, PacketLimiter, SourceLimiter, UdpListener, UDP_WINDOW,
};

/// Why a fleet could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The fleet is inconsistent (e.g. two services claim one address and port).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A service named in the fleet is not in this build.
    #[error(
        "decky {decky}: service {service} is not implemented in this build (see `decnet services`)"
    )]
    UnknownService {
        /// Decky name.
        decky: String,
        /// Service name.
        service: String,
    },
    /// A service instance could not be built.
    #[error("decky {decky}: {source}")]
    Service {
        /// Decky name.
        decky: String,
        /// What the service said.
        source: ServiceError,
    },
    /// A listener could not be bound.
    #[error(
        "decky {decky} service {service}: cannot listen on {addr}/{transport}: {source}. {hint}"
    )]
    Bind {
        /// Decky name.
        decky: String,
        /// Listener name.
        service: String,
        /// Its transport.
        transport: Transport,
        /// Address and port.
        addr: SocketAddr,
        /// OS error.
        source: io::Error,
        /// What to do about it.
        hint: String,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The data dir could not be used.
    #[error(
        "data dir {path}: {op}: {source} (check the path and its permissions, or pass --data-dir)"
    )]
    DataDir {
        /// Path.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// OS error.
        source: io::Error,
    },
}

fn bind_hint(err: &io::Error, addr: SocketAddr) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "Ports below 1024 need privileges. Fix it one of three ways: run decnet as root; \
             or grant the binary the capability: `sudo setcap cap_net_bind_service=+ep $(command -v decnet)`; \
             or lower the limit: `sudo sysctl net.ipv4.ip_unprivileged_port_start={}`. \
             For an unprivileged demo, add `--port-offset 10000` to shift every service port",
            addr.port()
        ),
        io::ErrorKind::AddrInUse => {
            "Another program already uses this address and port: stop it, or move the service \
             (`port=` in its [decky.service] section, or --port-offset)"
                .to_owned()
        }
        io::ErrorKind::AddrNotAvailable => {
            "The address is not configured on this host: with driver=host, add it to an interface \
             first (`ip addr add`), or use driver=loopback"
                .to_owned()
        }
        _ => "Check the address and the host's network configuration".to_owned(),
    }
}

/// Loads the installation key from the data dir, creating it (mode 0600) on first use.
pub fn installation_key(data_dir: &Path) -> Result<[u8; 32], EngineError> {
    use std::io::Write;
    let path = DataDir::new(data_dir).installation_key();
    let dd = |op, source| EngineError::DataDir {
        path: path.clone(),
        op,
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            return bytes.as_slice().try_into().map_err(|_| {
                dd(
                    "read installation key",
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "expected exactly 32 bytes; restore it from a backup, or delete it to give every decky new keys",
                    ),
                )
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(dd("read installation key", e)),
    }
    std::fs::create_dir_all(data_dir).map_err(|e| dd("create data dir", e))?;
    let key: [u8; 32] = rand::random();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&path)
        .map_err(|e| dd("create installation key", e))?;
    f.write_all(&key)
        .and_then(|_| f.sync_all())
        .map_err(|e| dd("write installation key", e))?;
    Ok(key)
}

/// When the installation key was made (Unix seconds), or now when that is
/// unknown: the bait world's mail and files are dated back from it, so they
/// keep their dates across restarts.
fn key_made(data_dir: &Path) -> i64 {
    std::fs::metadata(DataDir::new(data_dir).installation_key())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp())
}

/// What every instance of one decky shares: its seed, the fleet's bait world
/// and the prefix of the network it pretends to be on (`net`, else /24).
fn decky_runtime(
    fleet: &FleetConfig,
    d: &DeckyConfig,
    installation_key: &[u8],
    data_dir: &Path,
    bait: &Arc<World>,
) -> Arc<DeckyRuntime> {
    let prefix = fleet
        .general
        .net_cidr()
        .filter(|c| c.contains(d.ip))
        .map_or(24, |c| c.prefix);
    Arc::new(DeckyRuntime {
        config: d.clone(),
        seed: InstanceSeed::derive_for(installation_key, &d.name),
        data_dir: data_dir.to_path_buf(),
        limits: fleet.general.limits,
        bait: Arc::clone(bait),
        prefix,
    })
}

/// A service's refusal of its config: a persona value it rejects becomes a config error
/// at the file and line that set it, so `up` and `--dry-run` point at the same place.
fn service_error(
    fleet: &FleetConfig,
    decky: &str,
    cfg: &ServiceConfig,
    source: ServiceError,
) -> EngineError {
    if let ServiceError::Persona { key, message, .. } = &source {
        if let Some(at) = fleet.origins.get(decky, &cfg.name, key) {
            return EngineError::Config(ConfigError::InvalidValue {
                at: Box::new(at.clone()),
                value: cfg.get(key).unwrap_or_default().to_owned(),
                reason: format!("{message} (refused by the {} service)", cfg.name),
            });
        }
    }
    EngineError::Service {
        decky: decky.to_owned(),
        source,
    }
}

/// Checks everything `Engine::start` checks before it binds — the binds and every
/// service's acceptance of its persona — without binding, and without touching the
/// data dir: instances build their keys and certificates under `scratch`.
pub fn check_fleet(
    fleet: &FleetConfig,
    registry: &Registry,
    installation_key: &[u8],
    scratch: &Path,
) -> Result<(), EngineError> {
    fleet.check_binds()?;
    let bait = Arc::new(
        World::derive(
            installation_key,
            &fleet.deckies,
            chrono::Utc::now().timestamp(),
        )
        .with_overrides(&fleet.bait_files),
    );
    for d in &fleet.deckies {
        let runtime = decky_runtime(fleet, d, installation_key, scratch, &bait);
        for s in &d.services {
            let service = registry
                .get(&s.name)
                .ok_or_else(|| EngineError::UnknownService {
                    decky: d.name.clone(),
                    service: s.name.clone(),
                })?;
            service
                .instance(runtime.clone(), s)
                .map_err(|source| service_error(fleet, &d.name, s, source))?;
        }
    }
    Ok(())
}

/// One listening socket of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundService {
    /// Decky name.
    pub decky: String,
    /// Service name.
    pub service: String,
    /// Listener name (`https` of `http`).
    pub listener: String,
    /// Its transport.
    pub transport: Transport,
    /// Where it listens (the real port when the config asked for 0).
    pub addr: SocketAddr,
}

/// One listener to bind, built in phase one.
struct Planned {
    runtime: Arc<DeckyRuntime>,
    service: &'static str,
    info: &'static ListenerInfo,
    addr: SocketAddr,
    instance: Arc<dyn Instance>,
    slots: Arc<DeckySlots>,
}

/// A bound socket of either transport.
enum Socket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `<data>`.
    pub data_dir: PathBuf,
    /// Journal tuning (its watermark is the fleet's `disk_watermark`).
    pub journal: JournalOptions,
    /// Most decky connections open at once across the fleet (each holds a descriptor);
    /// None: the open-file limit less [`crate::limits::RESERVED_DESCRIPTORS`] and the listeners.
    pub max_open_connections: Option<u64>,
}

/// Longest [`Engine::shutdown`] waits for the listeners and connections to end
/// (they end within milliseconds of the cancel; this bounds a stuck one).
pub const CONNECTIONS_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A running fleet.
#[derive(Debug)]
pub struct Engine {
    bound: Vec<BoundService>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    journal: JournalFeed,
    refusals: Arc<RefusalLog>,
}

impl Engine {
    /// Builds every instance and binds every listener; nothing is left bound on error.
    pub async fn start(
        fleet: &FleetConfig,
        registry: &Registry,
        opts: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let key = installation_key(&opts.data_dir)?;
        let offset = fleet.general.port_offset;

        fleet.check_binds()?;

        let bait = Arc::new(
            World::derive(&key, &fleet.deckies, key_made(&opts.data_dir))
                .with_overrides(&fleet.bait_files),
        );
        // Phase one: every instance builds before any socket is bound.
        let mut planned = Vec::new();
        for d in &fleet.deckies {
            let runtime = decky_runtime(fleet, d, &key, &opts.data_dir, &bait);
            let slots = DeckySlots::new(&fleet.general.limits);
            for s in &d.services {
                let service = registry
                    .get(&s.name)
                    .ok_or_else(|| EngineError::UnknownService {
                        decky: d.name.clone(),
                        service: s.name.clone(),
                    })?;
                let instance = service
                    .instance(runtime.clone(), s)
                    .map_err(|source| service_error(fleet, &d.name, s, source))?;
                for l in &s.listeners {
                    let info = service.info().listener(l.name).ok_or_else(|| {
                        EngineError::UnknownService {
                            decky: d.name.clone(),
                            service: format!("{} (listener {})", s.name, l.name),
                        }
                    })?;
                    planned.push(Planned {
                        runtime: runtime.clone(),
                        service: service.info().name,
                        info,
                        addr: d.bind_addr(l, offset),
                        instance: instance.clone(),
                        slots: slots.clone(),
                    });
                }
            }
        }

        // Phase two: bind all; on the first failure the already-bound sockets drop and close.
        let mut sockets = Vec::with_capacity(planned.len());
        for p in &planned {
            let family = p.runtime.config.os_family;
            let driver = fleet.general.driver;
            let bound = match p.info.transport {
                Transport::Tcp => driver::bind_tcp(p.addr, family, driver).map(Socket::Tcp),
                Transport::Udp => driver::bind_udp(p.addr, family, driver).map(Socket::Udp),
            };
            let socket = bound.map_err(|source| EngineError::Bind {
                decky: p.runtime.config.name.clone(),
                service: p.info.name.to_owned(),
                transport: p.info.transport,
                addr: p.addr,
                hint: bind_hint(&source, p.addr),
                source,
            })?;
            sockets.push(socket);
        }

        let journal_opts = JournalOptions {
            watermark: fleet.general.disk_watermark,
            ..opts.journal
        };
        let journal = JournalFeed::start(&DataDir::new(&opts.data_dir).journal(), journal_opts)?;
        let emitter = journal.emitter();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let limits = fleet.general.limits;
        let sources = SourceLimiter::new(limits.max_connections_per_source);
        let rate = PacketLimiter::new(
            limits.udp_packets_per_source,
            limits.udp_bytes_per_source,
            UDP_WINDOW,
        );
        let budget = ConnectionBudget::new(opts.max_open_connections.unwrap_or_else(|| {
            crate::limits::connection_budget(crate::limits::nofile_limit(), planned.len() as u64)
        }));
        tracing::debug!(
            max_open_connections = budget.max(),
            "decky connection budget"
        );
        let refusals = RefusalLog::new(
            crate::limits::REFUSAL_WINDOW,
            crate::limits::MAX_TRACKED_REFUSALS,
        );
        tracker.spawn(crate::limits::flush_refusals(
            refusals.clone(),
            emitter.clone(),
            cancel.clone(),
        ));
        let mut bound = Vec::with_capacity(planned.len());
        for (p, socket) in planned.into_iter().zip(sockets) {
            let register = |source| EngineError::DataDir {
                path: opts.data_dir.clone(),
                op: "register listener with the runtime",
                source,
            };
            let addr = match &socket {
                Socket::Tcp(l) => l.local_addr(),
                Socket::Udp(u) => u.local_addr(),
            }
            .map_err(|source| EngineError::DataDir {
                path: opts.data_dir.clone(),
                op: "read listener address",
                source,
            })?;
            bound.push(BoundService {
                decky: p.runtime.config.name.clone(),
                service: p.service.to_owned(),
                listener: p.info.name.to_owned(),
                transport: p.info.transport,
                addr,
            });
            let endpoint = Endpoint {
                instance: p.instance,
                decky: p.runtime,
                service: p.service,
                info: p.info,
                decky_slots: p.slots,
                emitter: emitter.clone(),
                refusals: refusals.clone(),
                journal: journal.condition(),
            };
            match socket {
                Socket::Tcp(socket) => {
                    let l = Listener {
                        listener: tokio::net::TcpListener::from_std(socket).map_err(register)?,
                        endpoint,
                        sources: sources.clone(),
                        budget: budget.clone(),
                    };
                    tracker.spawn(l.run(cancel.clone(), tracker.clone()));
                }
                Socket::Udp(socket) => {
                    let u = UdpListener {
                        socket: tokio::net::UdpSocket::from_std(socket).map_err(register)?,
                        endpoint,
                        rate: rate.clone(),
                    };
                    tracker.spawn(u.run(cancel.clone(), tracker.clone()));
                }
            }
        }
        tracing::info!(listeners = bound.len(), "fleet is up");
        Ok(Engine {
            bound,
            cancel,
            tracker,
            journal,
            refusals,
        })
    }

    /// Every listening service.
    pub fn bound(&self) -> &[BoundService] {
        &self.bound
    }

    /// Where a decky's listener listens (by listener name: `ssh`, `http`, `https`).
    pub fn addr_of(&self, decky: &str, listener: &str) -> Option<SocketAddr> {
        self.bound
            .iter()
            .find(|b| b.decky == decky && b.listener == listener)
            .map(|b| b.addr)
    }

    /// The event intake (for in-process producers and tests).
    pub fn emitter(&self) -> Emitter {
        self.journal.emitter()
    }

    /// The journal's health (`/health` reports it; the deckies stop answering while degraded).
    pub fn journal_condition(&self) -> Condition {
        self.journal.condition()
    }

    /// Closes the listeners, ends every connection, and flushes the journal.
    pub async fn shutdown(self) -> Result<JournalStats, EngineError> {
        let Engine {
            cancel,
            tracker,
            journal,
            refusals,
            ..
        } = self;
        cancel.cancel();
        tracker.close();
        // Each connection ends at its next await once cancelled; one that does not
        // (a service stuck outside an await point) must not hold the fleet's stop.
        if tokio::time::timeout(CONNECTIONS_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = tracker.len(),
                "connections still ending after {CONNECTIONS_GRACE:?}; stopping without waiting for them"
            );
        }
        // Refusals counted but not yet reported would otherwise be lost.
        let emitter = journal.emitter();
        for due in refusals.flush(tokio::time::Instant::now(), true) {
            emitter.emit(due.event()).await;
        }
        drop(emitter);
        let stats = journal.close().await?;
        tracing::info!(events = stats.written, "fleet stopped; journal flushed");
        Ok(stats)
    }
}
