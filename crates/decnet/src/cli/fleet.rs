//! `decnet up` and `decnet deploy`: resolve a fleet, run it in the foreground.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use decnet_core::config::model::{Driver, FleetConfig};
use decnet_core::config::{demo_fleet, load_ini, plan_deploy, DeployRequest};
use decnet_engine::journal::JournalOptions;
use decnet_engine::{installation_key, Engine, EngineOptions};
use decnet_services::Registry;

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
    run_fleet(fleet, &registry, a.data.data_dir).await
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
    fleet.check_binds()?;
    if a.dry_run {
        if a.json {
            println!("{}", serde_json::to_string_pretty(&fleet)?);
        } else {
            print!("{}", plan_table(&fleet, None));
        }
        return Ok(ExitCode::SUCCESS);
    }
    run_fleet(fleet, &registry, a.data.data_dir).await
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
                .map(|s| {
                    let port = engine
                        .and_then(|e| e.addr_of(&d.name, &s.name))
                        .map(|a| a.port())
                        .unwrap_or_else(|| d.bind_addr(s, fleet.general.port_offset).port());
                    format!("{}:{}", s.name, port)
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

async fn run_fleet(
    fleet: FleetConfig,
    registry: &Registry,
    data_dir: PathBuf,
) -> anyhow::Result<ExitCode> {
    let engine = Engine::start(
        &fleet,
        registry,
        EngineOptions {
            data_dir: data_dir.clone(),
            journal: JournalOptions::default(),
        },
    )
    .await?;
    print!("{}", plan_table(&fleet, Some(&engine)));
    println!(
        "\n{} deckies up; events go to {}. Watch them with: decnet events --follow --data-dir {}\nCtrl-C stops.",
        fleet.deckies.len(),
        data_dir.join("journal").display(),
        data_dir.display()
    );
    wait_for_stop().await;
    tracing::info!("stopping: closing listeners and flushing the journal");
    let stats = engine.shutdown().await?;
    println!("stopped; {} events recorded this run", stats.written);
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the fleet");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
