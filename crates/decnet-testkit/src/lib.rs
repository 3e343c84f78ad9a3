//! What DECNET's integration tests share: per-process loopback addresses so
//! parallel test processes never collide, the guard for tests that drive
//! real client programs, and [`service`], the harness that serves one protocol
//! emulator on loopback for its tests.

use std::net::{IpAddr, Ipv4Addr};

// Test support fails loudly by design; it is never a runtime dependency.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod service;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the effective user is root, read from `/proc` (the workspace bans
/// the `unsafe` a `geteuid` call needs). Tests that start real servers,
/// namespaces or raw sockets skip with a message when it is false.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .is_some_and(|u| u == "0")
}

/// A free TCP port on 127.0.0.1 for a real server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Waits, at most `within`, until something accepts on 127.0.0.1:`port`: a
/// real server a test started is up. Polls, since another process's listen
/// cannot be awaited.
pub fn accepting(port: u16, within: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// A loopback address unique to this test process and call, in 127.`band`…
/// Each crate passes its own band (an octet in 1..=250) so crates never collide either.
pub fn unique_ip(band: u8) -> IpAddr {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    IpAddr::V4(Ipv4Addr::new(
        127,
        band,
        ((pid % 250) + 1) as u8,
        ((pid / 250 + n) % 250 + 1) as u8,
    ))
}

/// Whether a client program is on PATH. In CI (`CI` set) a missing client is a
/// failure, because `.ci/run` installs it; elsewhere the caller skips with a message.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(tool);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed, but .ci/run should have installed it"
        );
        eprintln!("SKIPPED: {tool} is not installed (apt-get install it to run this test)");
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_differ_between_calls_and_stay_in_the_band() {
        let a = super::unique_ip(77);
        let b = super::unique_ip(77);
        assert_ne!(a, b);
        assert!(a.is_loopback());
        assert!(a.to_string().starts_with("127.77."));
    }

    #[test]
    fn a_shell_is_found() {
        assert!(super::have("sh"));
    }
}
