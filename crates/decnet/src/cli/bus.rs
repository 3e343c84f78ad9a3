//! `decnet bus`: the host's bus broker in the foreground (`decnet bench bus`
//! measures it: see `bench/bus.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use decnet_bus::{default_socket_path, Broker, BrokerOptions};

/// `decnet bus`.
#[derive(Debug, clap::Args)]
pub struct BusArgs {
    /// Socket path [default: DECNET_BUS_SOCKET, else /run/decnet/bus.sock, else ~/.decnet/bus.sock].
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Group given to the socket when it exists and we may.
    #[arg(long, env = "DECNET_BUS_GROUP", default_value = "decnet")]
    pub group: String,
}

/// Runs the broker until Ctrl-C or SIGTERM, then removes the socket.
pub async fn bus(a: BusArgs) -> anyhow::Result<ExitCode> {
    let path = a.socket.unwrap_or_else(default_socket_path);
    let broker = Broker::start(
        &path,
        BrokerOptions {
            group: Some(a.group),
            ..Default::default()
        },
    )
    .await
    .with_context(|| format!("cannot start the bus broker on {}", path.display()))?;
    let mut stop = super::signals::watch();
    println!("bus broker listening on {}", path.display());
    stop.next().await;
    tracing::info!("stopping the bus broker");
    broker.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
