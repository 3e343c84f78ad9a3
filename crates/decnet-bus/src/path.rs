//! Where the bus socket lives (DESIGN §8).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Overrides the socket path.
pub const SOCKET_ENV: &str = "DECNET_BUS_SOCKET";
/// `false` turns the bus off (a [`NullBus`](crate::NullBus)).
pub const ENABLED_ENV: &str = "DECNET_BUS_ENABLED";
/// The system runtime directory for the socket.
pub const RUN_DIR: &str = "/run/decnet";

/// `DECNET_BUS_SOCKET`, else `/run/decnet/bus.sock` when that directory exists or can be
/// made, else `~/.decnet/bus.sock`.
pub fn default_socket_path() -> PathBuf {
    resolve_socket_path(
        std::env::var_os(SOCKET_ENV),
        Path::new(RUN_DIR),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// [`default_socket_path`] with its inputs spelled out (for tests).
pub fn resolve_socket_path(
    env_socket: Option<OsString>,
    run_dir: &Path,
    home: Option<PathBuf>,
) -> PathBuf {
    if let Some(p) = env_socket.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if run_dir.is_dir() || std::fs::create_dir_all(run_dir).is_ok() {
        return run_dir.join("bus.sock");
    }
    let dir = home.unwrap_or_else(|| PathBuf::from(".")).join(".decnet");
    // Only this fallback is created on demand; /run/decnet belongs to the service manager.
    let _ = std::fs::create_dir_all(&dir);
    dir.join("bus.sock")
}
