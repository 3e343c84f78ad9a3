//! `decnet worker <name>`: run one worker alone, talking to the others over
//! the journal and the database.

use std::process::ExitCode;
use std::sync::Arc;

use decnet_core::paths::DataDir;
use decnet_intel::{BusNotifier, Ingester};
use tokio_util::sync::CancellationToken;

use super::DataDirArg;

/// `decnet worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(subcommand)]
    worker: Worker,
}

#[derive(Debug, clap::Subcommand)]
enum Worker {
    /// Move events from the journal into the database, exactly once, until Ctrl-C or SIGTERM.
    Ingester(IngesterArgs),
}

#[derive(Debug, clap::Args)]
struct IngesterArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Database URL (postgres://…); SQLite at DATA_DIR/decnet.db when unset.
    #[arg(long, env = "DECNET_DATABASE_URL")]
    database_url: Option<String>,
}

/// Runs the chosen worker.
pub async fn worker(a: WorkerArgs) -> anyhow::Result<ExitCode> {
    match a.worker {
        Worker::Ingester(a) => ingester(a).await,
    }
}

async fn ingester(a: IngesterArgs) -> anyhow::Result<ExitCode> {
    let store = super::fleet::open_store(&a.data.data_dir, a.database_url.as_deref()).await?;
    // The host bus when a broker runs (publications are dropped otherwise);
    // the ingester polls the journal either way.
    let bus = BusNotifier(decnet_bus::bus_from_env("ingester"));
    let ing = Ingester::new(
        store.clone(),
        DataDir::new(&a.data.data_dir).journal(),
        Arc::new(bus),
    );
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        super::signals::stop_requested().await;
        on_signal.cancel();
    });
    let stats = ing.run(stop).await;
    store.close().await;
    tracing::info!(
        events = stats.events,
        batches = stats.batches,
        "ingester worker done"
    );
    Ok(ExitCode::SUCCESS)
}
