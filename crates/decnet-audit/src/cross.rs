//! Outputs no two real machines share: a detector that scans a subnet and
//! finds the same host key, certificate, process list, `/proc/cpuinfo` or
//! `/etc` file dates on two addresses has found a honeypot farm.

use std::collections::BTreeMap;

use crate::{CheckResult, DeckyReport};

/// SSH host key fingerprints differ per decky.
pub const SSH_HOST_KEY: &str = "cross.ssh-host-key-unique";
/// TLS certificate fingerprints differ per decky.
pub const TLS_CERT: &str = "cross.tls-certificate-unique";
/// `ps aux` differs per decky.
pub const PS: &str = "cross.ps-unique";
/// `cat /proc/cpuinfo` is not byte-identical on two deckies.
pub const CPUINFO: &str = "cross.cpuinfo-unique";
/// The file dates of `ls -l /etc` differ per decky.
pub const ETC_DATES: &str = "cross.etc-dates-unique";

/// What one decky showed that must be its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Decky name.
    pub decky: String,
    /// SHA-256 fingerprint of its SSH host key.
    pub ssh_host_key: Option<String>,
    /// SHA-256 of its TLS certificate.
    pub tls_cert: Option<String>,
    /// `ps aux`.
    pub ps: Option<String>,
    /// `cat /proc/cpuinfo`.
    pub cpuinfo: Option<String>,
    /// Date columns of `ls -l /etc`.
    pub etc_dates: Option<Vec<String>>,
}

impl Observed {
    /// Nothing seen yet.
    pub fn new(decky: &str) -> Observed {
        Observed {
            decky: decky.to_owned(),
            ..Observed::default()
        }
    }
}

/// Reads one observed value of a decky.
type Getter = fn(&Observed) -> Option<String>;

/// Adds each cross-decky result to the reports of the deckies it concerns
/// (a shared value is a tell on every decky sharing it, naming them all).
pub fn run(seen: &[Observed], reports: &mut [DeckyReport]) {
    let kinds: [(&'static str, Getter); 5] = [
        (SSH_HOST_KEY, |o| o.ssh_host_key.clone()),
        (TLS_CERT, |o| o.tls_cert.clone()),
        (PS, |o| o.ps.clone()),
        (CPUINFO, |o| o.cpuinfo.clone()),
        (ETC_DATES, |o| o.etc_dates.as_ref().map(|d| d.join("\n"))),
    ];
    for (id, get) in kinds {
        let mut by_value: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for o in seen {
            if let Some(v) = get(o) {
                by_value.entry(v).or_default().push(&o.decky);
            }
        }
        for (value, names) in &by_value {
            for name in names {
                let Some(r) = reports.iter_mut().find(|r| &r.decky == name) else {
                    continue;
                };
                r.checks.push(if names.len() > 1 {
                    let mut v = value.clone();
                    if v.len() > 120 {
                        v.truncate(v.char_indices().nth(120).map_or(v.len(), |(i, _)| i));
                        v.push('…');
                    }
                    CheckResult::tell(
                        id,
                        "a value of its own",
                        format!("identical on {}: {v}", names.join(" and ")),
                    )
                } else if seen.len() < 2 {
                    CheckResult::skip(id, "only one decky audited")
                } else {
                    CheckResult::pass(id)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn a_shared_value_is_a_tell_naming_every_decky_that_shares_it() {
        let mk = |n: &str, key: &str| Observed {
            ssh_host_key: Some(key.into()),
            ..Observed::new(n)
        };
        let seen = [
            mk("a", "SHA256:x"),
            mk("b", "SHA256:y"),
            mk("c", "SHA256:x"),
        ];
        let mut reports: Vec<DeckyReport> = ["a", "b", "c"]
            .iter()
            .map(|n| DeckyReport::new((*n).into(), vec![]))
            .collect();
        run(&seen, &mut reports);
        let key = |r: &DeckyReport| {
            r.checks
                .iter()
                .find(|c| c.id == SSH_HOST_KEY)
                .unwrap()
                .clone()
        };
        assert_eq!(key(&reports[0]).status, Status::Tell);
        assert!(key(&reports[0]).seen.unwrap().contains("a and c"));
        assert_eq!(key(&reports[1]).status, Status::Pass);
        assert_eq!(key(&reports[2]).status, Status::Tell);
        // Nothing observed, nothing reported: the decky runs no such service.
        assert!(reports[1].checks.iter().all(|c| c.id != PS));
    }
}
