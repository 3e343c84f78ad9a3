//! `decnet audit`: DECNET's own detectability checks against the deckies of a
//! config (the demo fleet by default). Without `--running` the fleet is started
//! in-process on its loopback addresses with a throwaway data dir, probed and
//! stopped; with `--running` the addresses of an already running fleet are probed.
//!
//! Exit code 0: no tell; 1: at least one tell; 2: the audit could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use decnet_audit::{Report, Target};
use decnet_core::config::model::FleetConfig;
use decnet_core::config::{demo_fleet, load_ini};
use decnet_core::paths::DataDir;
use decnet_engine::{installation_key, Engine, EngineOptions};
use decnet_journal::JournalOptions;
use decnet_services::Registry;

use super::DataDirArg;

/// `decnet audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// A DECNET INI file describing the fleet (default: the demo fleet `decnet up` runs).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Add N to every service port (as the fleet was or will be started with).
    #[arg(long, env = "DECNET_PORT_OFFSET")]
    pub port_offset: Option<u16>,
    /// Print one JSON document instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Probe an already running fleet of this config instead of starting it.
    #[arg(long)]
    pub running: bool,
    /// The installation's data dir: its installation key gives the deckies their seeds
    /// (read only; without one, a throwaway key is used).
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs the audit; any error is printed here and becomes exit code 2.
pub async fn audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    match run(&a).await {
        Ok(report) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(if report.tells == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("error: decnet audit could not run: {msg}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Resolves the fleet like `decnet up` does with the same flags.
fn plan(a: &AuditArgs, registry: &Registry, key: &[u8]) -> anyhow::Result<FleetConfig> {
    let mut fleet = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            load_ini(&text, &path.display().to_string(), registry, key)?
        }
        None => demo_fleet(registry, key, a.port_offset.unwrap_or(0))?,
    };
    if let Some(off) = a.port_offset {
        fleet.general.port_offset = off;
    }
    Ok(fleet)
}

async fn run(a: &AuditArgs) -> anyhow::Result<Report> {
    let registry = Registry::builtin();
    if a.running {
        let key_file = DataDir::new(&a.data.data_dir).installation_key();
        if !key_file.exists() {
            anyhow::bail!(
                "no installation key at {}: pass the --data-dir (or DECNET_DATA_DIR) the running fleet uses",
                key_file.display()
            );
        }
        let key = installation_key(&a.data.data_dir)?;
        let fleet = plan(a, &registry, &key)?;
        let off = fleet.general.port_offset;
        let targets: Vec<Target> = fleet
            .deckies
            .iter()
            .map(|d| {
                Target::from_config(d, |name| {
                    d.services
                        .iter()
                        .flat_map(|s| &s.listeners)
                        .find(|l| l.name == name && l.port != 0)
                        .map(|l| d.bind_addr(l, off))
                })
            })
            .collect();
        return Ok(decnet_audit::audit(&targets).await?);
    }
    let data =
        tempfile::tempdir().context("creating a temporary data dir for the audited fleet")?;
    // The installation's own key when it has one, so the audited deckies are the
    // ones `decnet up` runs (same seeds, keys, certificates); never created here.
    let key = if DataDir::new(&a.data.data_dir).installation_key().exists() {
        installation_key(&a.data.data_dir)?
    } else {
        installation_key(data.path())?
    };
    let fleet = plan(a, &registry, &key)?;
    let engine = Engine::start(
        &fleet,
        &registry,
        EngineOptions {
            data_dir: data.path().to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await
    .context("starting the fleet to audit (or audit a running one with --running)")?;
    let targets: Vec<Target> = fleet
        .deckies
        .iter()
        .map(|d| Target::from_config(d, |name| engine.addr_of(&d.name, name)))
        .collect();
    let report = decnet_audit::audit(&targets).await;
    engine
        .shutdown()
        .await
        .context("stopping the audited fleet")?;
    drop(data);
    Ok(report?)
}
