//! DECNET's own detectability checks: each decky of a fleet is probed over the
//! network the way a scanner, a bot or a skilled intruder tells a honeypot from
//! the real product, and every difference is reported as a *tell*.
//!
//! Expected values come from the persona model (which distro, which package
//! versions) and from tables written here from the real products (OpenSSH's
//! per-release defaults, nginx's and Apache's error pages, Debian's snakeoil
//! certificate), never from the decoy's own tables: a check that compared the
//! decoy with itself could not fail.
//!
//! - [`target`]: what the audit knows of a decky (addresses, persona, accounts)
//! - [`ssh`]: identification string and KEXINIT as a scanner reads them
//! - [`releases`]: the independent table of OpenSSH server defaults per release
//! - [`shell`]: the commands bots run first after logging in
//! - [`http`]: raw edge-case requests against the web listener
//! - [`tls`]: certificate shape, TLS 1.2 suites and fallback SCSV
//! - [`os`]: one OS family across banners, shell files and IP TTL
//! - [`cross`]: outputs that must differ between deckies
//! - [`report`]: results, scores, text and JSON

pub mod cross;
pub mod http;
pub mod os;
pub mod releases;
pub mod report;
pub mod shell;
pub mod ssh;
pub mod target;
pub mod tls;

use std::time::Duration;

pub use report::{CheckResult, DeckyReport, Report, Status};
pub use target::Target;

/// Longest any single probe waits for the decky (connect, read, login, command).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the audit could not run at all (as opposed to finding tells).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A decky's listener accepted no connection.
    #[error("cannot reach {decky}'s {listener} listener at {addr}: {source}; is the fleet running with this config and port offset? (drop --running to let the audit start the fleet itself)")]
    Unreachable {
        /// Decky name.
        decky: String,
        /// Listener name.
        listener: String,
        /// Address tried.
        addr: std::net::SocketAddr,
        /// What connecting said.
        source: std::io::Error,
    },
    /// The config holds no decky with a service the audit can probe.
    #[error("the fleet has no decky running ssh, http or https: nothing to audit (add one of those services to the config)")]
    NothingToAudit,
}

/// Every check the audit runs, by stable id.
pub const CHECKS: &[&str] = &[
    ssh::BANNER_RELEASE,
    ssh::BANNER_FAMILY,
    ssh::KEXINIT_RELEASE,
    ssh::HASSH_RELEASE,
    ssh::BAD_IDENT,
    ssh::PROTOCOL_MISMATCH,
    shell::LOGIN,
    shell::CPUINFO_NPROC,
    shell::UNAME_OS_RELEASE,
    shell::ARITH,
    shell::REDIRECT,
    shell::WHICH_PYTHON3,
    shell::TMP_ROOT_MODES,
    shell::PS_SERVICES,
    shell::UPTIME_PROC,
    http::STATUS_LINE,
    http::SERVER_HEADER,
    http::HEADER_CASE,
    http::NO_HOST,
    http::BIG_HEADER,
    http::BAD_VERSION,
    http::BAD_METHOD,
    tls::CERT_SHAPE,
    tls::TLS12_SUITES,
    tls::FALLBACK_SCSV,
    os::FAMILY,
    os::TTL,
    cross::SSH_HOST_KEY,
    cross::TLS_CERT,
    cross::PS,
    cross::CPUINFO,
    cross::ETC_DATES,
];

/// Audits every target: per-decky probes one decky after another (so the
/// audit's own load never trips a decky's limits), then the cross-decky checks.
pub async fn audit(targets: &[Target]) -> Result<Report, AuditError> {
    if targets
        .iter()
        .all(|t| t.ssh.is_none() && t.http.is_none() && t.https.is_none())
    {
        return Err(AuditError::NothingToAudit);
    }
    let mut deckies = Vec::new();
    let mut seen = Vec::new();
    for t in targets {
        let mut results = Vec::new();
        let mut obs = cross::Observed::new(&t.name);
        let ssh_seen = match &t.ssh {
            Some(s) => Some(ssh::run(t, s, &mut results).await?),
            None => None,
        };
        let shell_seen = match &t.ssh {
            Some(s) => shell::run(t, s, &mut results, &mut obs).await,
            None => None,
        };
        let http_seen = match t.http {
            Some(addr) => Some(http::run(t, addr, &mut results).await?),
            None => None,
        };
        if let Some(addr) = t.https {
            tls::run(t, addr, &mut results, &mut obs).await?;
        }
        os::run(
            t,
            &os::Seen {
                ssh_ident: ssh_seen.as_ref().map(|s| s.ident.as_str()),
                http_server: http_seen.as_ref().and_then(|h| h.server.as_deref()),
                shell: shell_seen.as_ref(),
            },
            &mut results,
        )
        .await;
        seen.push(obs);
        deckies.push(DeckyReport::new(t.name.clone(), results));
    }
    cross::run(&seen, &mut deckies);
    Ok(Report::new(deckies))
}
