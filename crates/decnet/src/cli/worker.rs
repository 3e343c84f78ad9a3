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

/// Longest the ingester worker waits, after a stop request, for its batch in
/// flight and then for the database to close.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
    let mut running = tokio::spawn(ing.run(stop.clone()));
    tokio::select! {
        () = super::signals::stop_requested() => {}
        // It runs until stopped; ending on its own (a panic) must not go unnoticed.
        r = &mut running => {
            store.close().await;
            anyhow::bail!("the ingester stopped unexpectedly ({r:?}); restart it: it resumes from its stored offset");
        }
    }
    super::signals::exit_on_second_request();
    stop.cancel();
    // A batch in flight under a slow derivation must not hold the stop: dropped,
    // its transaction rolls back and its events are ingested at the next start.
    match tokio::time::timeout(STOP_GRACE, &mut running).await {
        Ok(Ok(stats)) => tracing::info!(
            events = stats.events,
            batches = stats.batches,
            "ingester worker done"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "ingester task failed while stopping"),
        Err(_) => {
            running.abort();
            let _ = running.await;
            tracing::info!(
                "ingester worker stopped mid-batch; the batch was rolled back and is ingested at the next start"
            );
        }
    }
    if tokio::time::timeout(STOP_GRACE, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close in time; exiting without waiting for it");
    }
    Ok(ExitCode::SUCCESS)
}
