//! Waiting for the operator to stop a foreground command.

/// Ctrl-C and SIGTERM, caught from the moment this is made: made before a
/// command says it is up, so a stop sent the instant after that line is an
/// orderly stop, not the default action that kills the process.
pub struct StopRequests {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

/// Starts catching Ctrl-C and SIGTERM now.
pub fn watch() -> StopRequests {
    use tokio::signal::unix::{signal, SignalKind};
    let catch = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch {name}; it will not stop this command in order");
            None
        }
    };
    StopRequests {
        term: catch(SignalKind::terminate(), "SIGTERM"),
        int: catch(SignalKind::interrupt(), "Ctrl-C"),
    }
}

impl StopRequests {
    /// Resolves on the next Ctrl-C or SIGTERM.
    pub async fn next(&mut self) {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.term) => {}
            () = recv(&mut self.int) => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (caught from the call on).
pub async fn stop_requested() {
    watch().next().await;
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
