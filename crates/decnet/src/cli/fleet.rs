//! `decnet up` and `decnet deploy`: resolve a fleet, run it in the foreground.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use decnet_api::auth::ADMIN_PASSWORD_ENV;
use decnet_api::{
    bootstrap_admin, serve_on, ApiConfig, AppState, Bootstrap, DeckyInfo, DeckyService, JwtSecret,
};
use decnet_bus::{bus_enabled, Bus, InProcessBus, NullBus};
use decnet_core::catalog::Transport;
use decnet_core::config::model::{Driver, FleetConfig};
use decnet_core::config::{demo_fleet, load_ini, plan_deploy, DeployRequest};
use decnet_core::paths::DataDir;
use decnet_engine::{check_fleet, installation_key, Engine, EngineOptions};
use decnet_intel::{BusNotifier, Ingester};
use decnet_journal::JournalOptions;
use decnet_services::Registry;
use decnet_store::Store;
use tokio_util::sync::CancellationToken;

use super::output::table;
use super::DataDirArg;

/// `decnet up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// A DECNET INI file describing the fleet (default: the three-decky demo on 127.42.0.0/24).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDirArg,
    /// Add N to every service port (e.g. 10000, to run unprivileged).
    #[arg(long, env = "DECNET_PORT_OFFSET")]
    pub port_offset: Option<u16>,
    /// Print the fleet the config resolves to and exit without binding anything.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    #[command(flatten)]
    pub run: RunOpts,
}

/// Where the API listens and which database the ingester fills.
#[derive(Debug, clap::Args, Clone)]
pub struct RunOpts {
    /// API listen address, ADDR:PORT (default 127.0.0.1:8000; DECNET_API_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
    /// Database URL (postgres://…); SQLite at DATA_DIR/decnet.db when unset.
    #[arg(long, env = "DECNET_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub privacy: super::privacy::PrivacyOpts,
}

/// `decnet deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// How many deckies.
    #[arg(long, default_value_t = 1)]
    pub deckies: u32,
    /// Services every decky runs (comma list).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["randomize_services", "archetype"])]
    pub services: Option<Vec<String>>,
    /// Give each decky a random set of implemented services.
    #[arg(long, conflicts_with = "archetype")]
    pub randomize_services: bool,
    /// Build every decky from this archetype (see `decnet archetypes`).
    #[arg(long)]
    pub archetype: Option<String>,
    /// Distro persona of every decky (see `decnet distros`).
    #[arg(long, conflicts_with = "randomize_distros")]
    pub distro: Option<String>,
    /// Pick each decky's distro from its archetype's list.
    #[arg(long)]
    pub randomize_distros: bool,
    /// First address to allocate.
    #[arg(long)]
    pub ip_start: Option<IpAddr>,
    /// Network driver: loopback or host.
    #[arg(long, default_value = "loopback", value_parser = parse_driver)]
    pub driver: Driver,
    /// Name prefix of the deckies.
    #[arg(long)]
    pub name_prefix: Option<String>,
    /// Print the plan and exit without binding anything.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Add N to every service port.
    #[arg(long, env = "DECNET_PORT_OFFSET", default_value_t = 0)]
    pub port_offset: u16,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub run: RunOpts,
}

fn parse_driver(s: &str) -> Result<Driver, String> {
    Driver::parse(s).ok_or_else(|| format!("unknown driver {s:?}: use loopback or host"))
}

pub async fn up(a: UpArgs) -> anyhow::Result<ExitCode> {
    let registry = Registry::builtin();
    let key = installation_key(&a.data.data_dir)?;
    let mut fleet = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            load_ini(&text, &path.display().to_string(), &registry, &key)?
        }
        None => demo_fleet(&registry, &key, a.port_offset.unwrap_or(0))?,
    };
    if let Some(off) = a.port_offset {
        fleet.general.port_offset = off;
    }
    if a.dry_run {
        return print_plan(&fleet, &registry, &key, a.json);
    }
    run_fleet(fleet, &registry, a.data.data_dir, &a.run).await
}

pub async fn deploy(a: DeployArgs) -> anyhow::Result<ExitCode> {
    let registry = Registry::builtin();
    let key = installation_key(&a.data.data_dir)?;
    let req = DeployRequest {
        deckies: a.deckies,
        services: a.services.clone(),
        randomize_services: a.randomize_services,
        archetype: a.archetype.clone(),
        distro: a.distro.clone(),
        randomize_distros: a.randomize_distros,
        ip_start: a.ip_start,
        driver: a.driver,
        port_offset: a.port_offset,
        name_prefix: a.name_prefix.clone(),
    };
    let fleet = plan_deploy(&req, &registry, &key)?;
    if a.dry_run {
        return print_plan(&fleet, &registry, &key, a.json);
    }
    run_fleet(fleet, &registry, a.data.data_dir, &a.run).await
}

/// Checks what `up` would check before binding (binds, every persona value the services
/// take) and prints the plan (table or JSON) without binding anything or writing to the data dir.
fn print_plan(
    fleet: &FleetConfig,
    registry: &Registry,
    key: &[u8],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir().context("creating a scratch dir for the dry run")?;
    check_fleet(fleet, registry, key, scratch.path())?;
    if json {
        println!("{}", serde_json::to_string_pretty(fleet)?);
    } else {
        print!("{}", plan_table(fleet, None));
    }
    Ok(ExitCode::SUCCESS)
}

/// Decky table; with a running engine, the ports actually bound.
fn plan_table(fleet: &FleetConfig, engine: Option<&Engine>) -> String {
    let rows: Vec<Vec<String>> = fleet
        .deckies
        .iter()
        .map(|d| {
            let services = d
                .services
                .iter()
                .flat_map(|s| &s.listeners)
                .map(|l| {
                    let port = engine
                        .and_then(|e| e.addr_of(&d.name, l.name))
                        .map(|a| a.port())
                        .unwrap_or_else(|| d.bind_addr(l, fleet.general.port_offset).port());
                    let udp = if l.transport == Transport::Udp {
                        "/udp"
                    } else {
                        ""
                    };
                    format!("{}:{port}{udp}", l.name)
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                d.name.clone(),
                d.ip.to_string(),
                d.hostname.clone(),
                d.os_family.to_string(),
                d.distro.slug.to_owned(),
                services,
            ]
        })
        .collect();
    table(
        &["DECKY", "IP", "HOSTNAME", "OS", "DISTRO", "SERVICES"],
        &rows,
    )
}

/// Runs engine, bus, ingester and API in this process until Ctrl-C or SIGTERM.
async fn run_fleet(
    fleet: FleetConfig,
    registry: &Registry,
    data_dir: PathBuf,
    run: &RunOpts,
) -> anyhow::Result<ExitCode> {
    // Everything that can fail on configuration fails before a decky listens.
    let group = super::privacy::prepare(&data_dir, &run.privacy)?;
    let drop_to = super::privacy::plan_drop(&data_dir, &run.privacy, group)?;
    let forwarder = match &fleet.general.log_target {
        Some(t) => Some(decnet_fleet::Forwarder::new(
            &DataDir::new(&data_dir),
            t.clone(),
            fleet.general.log_target_ca.as_deref().map(Path::new),
        )?),
        None => None,
    };
    let store = open_store(&data_dir, run.database_url.as_deref()).await?;
    let api_config = ApiConfig::from_env(run.listen.as_deref())?;
    let secret = JwtSecret::from_env_or_file(&data_dir)?;
    let api_listener = tokio::net::TcpListener::bind(api_config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for the API on {}: choose another address with --listen or DECNET_API_LISTEN",
                api_config.listen
            )
        })?;
    let api_addr = api_listener.local_addr()?;

    let engine = Engine::start(
        &fleet,
        registry,
        EngineOptions {
            data_dir: data_dir.clone(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await?;
    // Every socket is bound (deckies and API): root is no longer needed.
    if let Some(plan) = &drop_to {
        super::privacy::drop_privileges(&data_dir, plan)?;
    }
    // Only once the fleet is up: a start that fails must not leave an admin
    // whose generated password was never shown.
    let bootstrap = bootstrap_admin(&store, std::env::var(ADMIN_PASSWORD_ENV).ok()).await?;

    // One process: an in-process bus with the broker's semantics, no socket.
    let bus: Arc<dyn Bus> = if bus_enabled(std::env::var("DECNET_BUS_ENABLED").ok().as_deref()) {
        Arc::new(InProcessBus::new())
    } else {
        Arc::new(NullBus)
    };
    let stop = CancellationToken::new();
    let notifier = Arc::new(BusNotifier(bus.clone()));
    let journal_dir = DataDir::new(&data_dir).journal();
    let ingester = tokio::spawn(
        Ingester::new(store.clone(), journal_dir.clone(), notifier.clone()).run(stop.child_token()),
    );
    // Its own stop: it drains after the engine has written its last events.
    let fwd_stop = CancellationToken::new();
    let forwarding = forwarder.is_some();
    let forward = forwarder.map(|f| tokio::spawn(f.run(fwd_stop.clone())));
    let retention = super::status::spawn_retention(
        store.clone(),
        DataDir::new(&data_dir),
        forwarding,
        fleet.general.journal_retention,
        stop.child_token(),
    );
    let state = AppState::new(store.clone(), &secret, &api_config, &data_dir)
        .with_bus(bus.clone())
        .with_deckies(decky_infos(&fleet, &engine))
        .with_journal(engine.journal_condition());
    let api_stop = stop.clone();
    let api = tokio::spawn(serve_on(api_listener, state, async move {
        api_stop.cancelled().await
    }));

    // Caught before the ready lines below: a stop sent right after them is orderly.
    let mut stop_signal = super::signals::watch();
    print!("{}", plan_table(&fleet, Some(&engine)));
    println!(
        "\n{} deckies up; events go to {}. Watch them with: decnet events --follow --data-dir {}",
        fleet.deckies.len(),
        journal_dir.display(),
        data_dir.display()
    );
    println!(
        "API listening on http://{api_addr}/api/v1 (database: {:?})",
        store.backend()
    );
    if !api_addr.ip().is_loopback() {
        eprintln!(
            "warning: the API on {api_addr} speaks plain HTTP: passwords and tokens cross the \
             network in clear. Put it behind a TLS proxy, or listen on 127.0.0.1 (--listen)"
        );
    }
    if let Bootstrap::Generated(password) = &bootstrap {
        println!(
            "First start: log in to the API as `admin` with password {password} (shown only now; you must change it at first login)"
        );
    }
    println!("Ctrl-C stops.");
    stop_signal.next().await;
    // A second Ctrl-C or SIGTERM while stopping ends the process at once.
    super::signals::exit_on_second_request();

    let stopping = Stopping::begin();
    tracing::info!("stopping: closing listeners, flushing the journal, stopping the ingester");
    stop.cancel();
    // The engine (its journal holds the last disconnects), the API and the
    // ingester stop side by side, each within its own bound.
    let (stats, (), ()) = tokio::join!(
        engine.shutdown(),
        stopping.bounded("API server", API_GRACE, api, |r| {
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "API server ended with an error");
            }
        }),
        // Dropping a batch in flight rolls its transaction back: its events
        // stay after the stored offset and are ingested at the next start.
        stopping.bounded("ingester", INGEST_GRACE, ingester, |_| {}),
    );
    let stats = stats?;
    fwd_stop.cancel();
    if let Some(f) = forward {
        // Its offset moves only when the target confirms: what is cut short is re-sent.
        stopping
            .bounded("log_target forwarder", FORWARD_GRACE, f, |r| {
                if let Ok(s) = r {
                    tracing::info!(sent = s.sent, committed = %s.committed, "log_target forwarder stopped");
                }
            })
            .await;
    }
    if let Some(r) = retention {
        stopping
            .bounded("journal retention", RETENTION_GRACE, r, |_| {})
            .await;
    }
    // Catch up with the last events (disconnects at shutdown) so the database
    // usually holds this whole run when `up` returns; but never hold a stop
    // hostage to a backlog: each batch commits with its offset, so whatever is
    // left is ingested from there at the next start.
    let mut drain = Ingester::new(store.clone(), journal_dir, notifier);
    let caught_up = tokio::time::timeout_at(stopping.drain_until(), async {
        loop {
            match drain.ingest_once().await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match caught_up {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "final ingest at stop failed; the ingester resumes from its stored offset at the next start");
        }
        Err(_) => println!(
            "the database is behind the journal; the ingester catches up from where it stopped at the next start"
        ),
    }
    drop(drain);
    if tokio::time::timeout(STORE_CLOSE_GRACE, store.close())
        .await
        .is_err()
    {
        // Whatever was committed is durable; an open transaction rolls back.
        tracing::warn!("the database did not close within {STORE_CLOSE_GRACE:?}; exiting without waiting for it");
    }
    tracing::info!(
        elapsed_ms = stopping.elapsed().as_millis() as u64,
        "stopped"
    );
    println!("stopped; {} events recorded this run", stats.written);
    Ok(ExitCode::SUCCESS)
}

/// The whole stop of `up`, from the signal to exit, stays under 5 s: the
/// parts below run side by side or within what is left of this.
const STOP_BUDGET: std::time::Duration = std::time::Duration::from_millis(4_000);
/// Longest the API's open connections (SSE streams end at once) may take to finish.
const API_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest the running ingester may take to finish the batch it is applying.
const INGEST_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest the log forwarder may take to have its last events confirmed.
const FORWARD_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest the retention task may take to finish a prune.
const RETENTION_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// Longest the database pool may take to close.
const STORE_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// When the stop began, and the bounded waits of its parts.
struct Stopping {
    began: tokio::time::Instant,
}

impl Stopping {
    fn begin() -> Stopping {
        Stopping {
            began: tokio::time::Instant::now(),
        }
    }

    fn elapsed(&self) -> std::time::Duration {
        self.began.elapsed()
    }

    /// The final ingest drain uses what is left of [`STOP_BUDGET`].
    fn drain_until(&self) -> tokio::time::Instant {
        self.began + STOP_BUDGET
    }

    /// Waits up to `grace` for `task`, then aborts it; `done` sees its result when it finished.
    async fn bounded<T>(
        &self,
        what: &'static str,
        grace: std::time::Duration,
        mut task: tokio::task::JoinHandle<T>,
        done: impl FnOnce(Result<T, tokio::task::JoinError>),
    ) {
        match tokio::time::timeout(grace, &mut task).await {
            Ok(r) => done(r),
            Err(_) => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "{what} did not stop in time; cut short (nothing committed is lost)"
                );
                task.abort();
                let _ = task.await;
            }
        }
    }
}

/// The database: `url` (postgres://…) when given, else SQLite in the data dir.
pub(super) async fn open_store(data_dir: &Path, url: Option<&str>) -> anyhow::Result<Store> {
    let store = match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Store::connect(url).await,
        None => Store::open_data_dir(data_dir).await,
    };
    store.context("opening the database (check DECNET_DATABASE_URL or --data-dir)")
}

/// The running fleet as the API shows it, with the ports actually bound.
fn decky_infos(fleet: &FleetConfig, engine: &Engine) -> Vec<DeckyInfo> {
    fleet
        .deckies
        .iter()
        .map(|d| DeckyInfo {
            name: d.name.clone(),
            ip: d.ip,
            hostname: d.hostname.clone(),
            os_family: d.os_family.to_string(),
            distro: d.distro.slug.to_owned(),
            archetype: d.archetype.map(str::to_owned),
            services: d
                .services
                .iter()
                .flat_map(|s| &s.listeners)
                .map(|l| DeckyService {
                    name: l.name.to_owned(),
                    port: engine.addr_of(&d.name, l.name).map_or_else(
                        || d.bind_addr(l, fleet.general.port_offset).port(),
                        |a| a.port(),
                    ),
                    transport: l.transport.as_str().to_owned(),
                })
                .collect(),
        })
        .collect()
}
