//! Command-line interface: argument definitions and dispatch.

mod audit;
mod bench;
mod bus;
mod catalog;
mod events;
mod fleet;
mod output;
mod privacy;
mod signals;
mod status;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Default data dir when neither --data-dir nor DECNET_DATA_DIR is given.
pub const DEFAULT_DATA_DIR: &str = "./decnet-data";

/// DECNET: a fleet of fake LAN hosts that captures every interaction.
#[derive(Debug, Parser)]
#[command(name = "decnet", version, about, long_about = None)]
pub struct Cli {
    /// More logging (-v debug, -vv trace); DECNET_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Where the journal, keys and transcripts live.
#[derive(Debug, clap::Args, Clone)]
pub struct DataDirArg {
    /// Data directory (journal, keys, certificates, transcripts).
    #[arg(long, env = "DECNET_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a fleet in the foreground until Ctrl-C or SIGTERM (the demo fleet without --config).
    Up(fleet::UpArgs),
    /// Plan a fleet from flags; print it with --dry-run, else run it like `up`.
    Deploy(fleet::DeployArgs),
    /// List the services this build implements.
    Services(catalog::ListArgs),
    /// List the archetypes and whether each can be deployed.
    Archetypes(catalog::ListArgs),
    /// List the distro personas.
    Distros(catalog::ListArgs),
    /// Print captured events as JSON lines.
    Events(events::EventsArgs),
    /// Print the config file reference (Markdown).
    ConfigReference,
    /// Print the REST API's OpenAPI document (JSON).
    Openapi,
    /// Probe the deckies as a detector would and report every tell (exit 0 none, 1 tells, 2 could not run).
    Audit(audit::AuditArgs),
    /// Measure a service under load: throughput, journal completeness, peak memory.
    Bench(bench::BenchArgs),
    /// Run one worker alone: `ingester` moves the journal into the database.
    Worker(worker::WorkerArgs),
    /// Run the host's bus broker in the foreground until Ctrl-C or SIGTERM.
    Bus(bus::BusArgs),
    /// Journal size, retention, consumer lag and the running fleet's health (exit 0 ok, 1 degraded, 2 not running).
    Status(status::StatusArgs),
}

/// Sets the process umask to 077: everything DECNET writes is private by default.
pub fn set_private_umask() {
    privacy::set_umask(privacy::PRIVATE_UMASK);
}

/// Sets up `tracing` on stderr.
pub fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("DECNET_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(a) => fleet::up(a).await,
        Command::Deploy(a) => fleet::deploy(a).await,
        Command::Services(a) => catalog::services(a),
        Command::Archetypes(a) => catalog::archetypes(a),
        Command::Distros(a) => catalog::distros(a),
        Command::Events(a) => events::events(a).await,
        Command::ConfigReference => catalog::config_reference(),
        Command::Openapi => {
            let doc: serde_json::Value = serde_json::from_str(&decnet_api::openapi_json())?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(a) => audit::audit(a).await,
        Command::Bench(a) => bench::bench(a).await,
        Command::Worker(a) => worker::worker(a).await,
        Command::Bus(a) => bus::bus(a).await,
        Command::Status(a) => status::status(a).await,
    }
}
