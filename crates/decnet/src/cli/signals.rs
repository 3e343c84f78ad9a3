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
