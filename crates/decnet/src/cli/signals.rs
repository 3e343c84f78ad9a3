//! Waiting for the operator to stop a foreground command.

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops this command");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Exit status after a second stop request: 128 + SIGINT, as shells report an interrupt.
const INTERRUPTED: i32 = 130;

/// Once a stop has begun: a second Ctrl-C or SIGTERM ends the process at once
/// instead of waiting for the orderly stop (an operator should never need SIGKILL).
/// Every event `emit` reported as recorded is already fsynced, and every stored
/// offset is committed with its events, so nothing recorded is lost.
pub fn exit_on_second_request() {
    tokio::spawn(async {
        stop_requested().await;
        eprintln!(
            "stopped at once on a second request; the ingester resumes from its stored offset at the next start"
        );
        std::process::exit(INTERRUPTED);
    });
}
