//! The Kubernetes API server (listener `k8s`, port 6443 over TLS;
//! `k8s_insecure`, port 8080, the old unauthenticated insecure port, on
//! request): a site of the HTTP front end in Go's `net/http` style, answering
//! as kube-apiserver of the persona's release — its headers (`Audit-Id`,
//! `Cache-Control`, the priority-and-fairness UIDs), `Status` errors, RBAC's
//! 403 wording for `system:anonymous`, discovery, and server-side tables
//! for kubectl.
//!
//! - [`spec`]: what a pod create asks for (images, commands, hostPath, privileges)
//! - [`api`]: authentication, the routes and their JSON
//!
//! Events: every request is an `http_request` (a bearer token is its
//! credential, kind `token`); a token is also a `login_attempt` saying
//! whether it was accepted; a pod create and a pod exec are `command` events.
//! Secrets hold the bait world's planted credentials (honeytokens).

pub mod api;
pub mod spec;

use std::sync::Arc;

use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use crate::http::front::{self, Front};
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::TlsProfile;
use crate::service::{DeckyRuntime, Instance, Service, ServiceError};

/// The release shown when the persona names none.
const DEFAULT_VERSION: &str = "v1.28.4";

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "k8s_version",
        kind: KeyKind::Text,
        doc: "Kubernetes release the API server reports (`/version`: gitVersion, gitCommit, buildDate, goVersion), `v1.MINOR.PATCH` from v1.19 to v1.31 (default v1.28.4)",
    },
    PersonaKey {
        name: "k8s_token",
        kind: KeyKind::Text,
        doc: "Bearer token the API server accepts beside the bait world's planted ones (default: a service-account token drawn from the decky's seed, kept in the `deploy-bot-token` secret); any other token gets 401",
    },
    PersonaKey {
        name: "anonymous_auth",
        kind: KeyKind::Bool,
        doc: "kube-apiserver's --anonymous-auth (default true, as kubeadm sets it): requests without credentials are system:anonymous (version and health answered, the rest 403); false: they get 401",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("k8s", 6443).with_tls(),
    ListenerInfo::tcp("k8s_insecure", 8080).on_request(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "k8s",
    summary: "Kubernetes API server (6443 TLS; insecure port 8080 on request): kubectl get/run/exec work, \
              tokens captured, secrets hold planted credentials, pod creates and execs captured as commands",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `k8s` service.
#[derive(Debug, Clone, Copy, Default)]
pub struct K8s;

impl Service for K8s {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let site = site_from_persona(&decky, cfg)?;
        // kube-apiserver offers h2 too; the front end speaks HTTP/1.1 only.
        let tls = front::acceptor(
            "k8s",
            &decky.config.hostname,
            &[b"http/1.1"],
            TlsProfile::Go,
            &decky,
            cfg,
        )?;
        Ok(Arc::new(Front::new(Arc::new(site), tls)))
    }
}

/// A release's build facts: (gitCommit, buildDate, goVersion).
fn release_facts(minor: u32, patch: u32, seed: &[u8; 32]) -> (String, String, String) {
    if (minor, patch) == (28, 4) {
        return (
            "bae2c62678db2b5053817bc97181fcc2e8388103".into(),
            "2023-11-15T16:48:54Z".into(),
            "go1.20.11".into(),
        );
    }
    let go = match minor {
        0..=20 => "go1.15.15",
        21 => "go1.16.15",
        22 => "go1.16.15",
        23 => "go1.17.13",
        24 => "go1.18.10",
        25 => "go1.19.13",
        26 => "go1.20.10",
        27 | 28 => "go1.20.13",
        29 => "go1.21.13",
        30 => "go1.22.12",
        _ => "go1.22.12",
    };
    use sha2::Digest as _;
    let commit = hex::encode(
        sha2::Sha256::new()
            .chain_update(seed)
            .chain_update(format!("k8s-commit/{minor}.{patch}"))
            .finalize(),
    );
    // Releases come about monthly from v1.19.0 (August 2020).
    let secs = 1_598_000_000
        + i64::from(minor.saturating_sub(19)) * 10_368_000
        + i64::from(patch) * 2_592_000;
    let date = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    (
        commit.get(..40).unwrap_or_default().to_owned(),
        date,
        go.into(),
    )
}

fn site_from_persona(
    decky: &DeckyRuntime,
    cfg: &ServiceConfig,
) -> Result<api::KubeSite, ServiceError> {
    let keys = PersonaKeys::new(INFO.name, cfg);
    let version = keys
        .raw("k8s_version")
        .map_or(DEFAULT_VERSION, str::trim)
        .to_owned();
    let nums: Option<Vec<u32>> = version
        .strip_prefix('v')
        .map(|v| {
            v.split('.')
                .map(|p| {
                    (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| p.parse().ok())
                        .flatten()
                })
                .collect::<Option<Vec<u32>>>()
        })
        .unwrap_or_default();
    let (minor, patch) = match nums.as_deref() {
        Some([1, minor @ 19..=31, patch]) => (*minor, *patch),
        _ => {
            return Err(keys.error(
                "k8s_version",
                format!("expected a release v1.MINOR.PATCH from v1.19 to v1.31, got {version:?}"),
            ))
        }
    };
    let seed = decky.seed.derive(b"k8s");
    let token = match keys.raw("k8s_token").map(str::trim) {
        Some(t) if t.is_empty() || t.bytes().any(|b| !b.is_ascii_graphic()) => {
            return Err(keys.error("k8s_token", "must be printable ASCII without spaces"))
        }
        Some(t) => t.to_owned(),
        None => api::service_account_token(&seed, &decky.config.hostname),
    };
    let anonymous = keys.bool("anonymous_auth")?.unwrap_or(true);
    let (git_commit, build_date, go_version) = release_facts(minor, patch, &seed);
    Ok(api::KubeSite::new(api::Persona {
        version,
        minor,
        git_commit,
        build_date,
        go_version,
        token,
        anonymous,
        node: decky.config.hostname.clone(),
        ip: decky.config.ip.to_string(),
        seed,
        bait: api::bait_credentials(&decky.bait),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> DeckyRuntime {
        DeckyRuntime {
            config: decnet_core::config::model::DeckyConfig {
                name: "d".into(),
                ip: "127.0.0.1".parse().unwrap(),
                hostname: "cp-01".into(),
                os_family: decnet_core::persona::OsFamily::Linux,
                distro: decnet_core::persona::distro("ubuntu22").unwrap(),
                windows: None,
                archetype: None,
                services: vec![],
            },
            seed: decnet_core::seed::InstanceSeed::derive_for(b"k", "d"),
            data_dir: std::env::temp_dir(),
            limits: decnet_core::config::model::Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        }
    }

    fn cfg(persona: &[(&str, &str)]) -> ServiceConfig {
        let mut cfg = ServiceConfig::defaults(&INFO, None);
        cfg.persona = persona
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cfg
    }

    #[test]
    fn versions_and_tokens_are_validated() {
        let s = site_from_persona(&runtime(), &cfg(&[])).unwrap();
        assert_eq!(s.p.version, "v1.28.4");
        assert_eq!(s.p.go_version, "go1.20.11");
        assert!(s.p.token.starts_with("eyJhbGciOiJSUzI1NiIsImtpZCI6"));
        let s = site_from_persona(&runtime(), &cfg(&[("k8s_version", "v1.30.2")])).unwrap();
        assert_eq!(s.p.git_commit.len(), 40);
        for (key, value) in [
            ("k8s_version", "1.28.4"),
            ("k8s_version", "v1.40.0"),
            ("k8s_version", "v1.28"),
            ("k8s_token", "a b"),
        ] {
            match site_from_persona(&runtime(), &cfg(&[(key, value)])) {
                Err(ServiceError::Persona { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}={value:?} gave {:?}", other.map(|_| ())),
            }
        }
    }
}
