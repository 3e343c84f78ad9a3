//! The Docker Engine API (listener `docker_api`, port 2375, plaintext as
//! the exposed daemons worms hunt for; `docker_api_tls`, port 2376, Go's
//! `crypto/tls` with docker's server suites): a site of the HTTP front end in
//! Go's `net/http` style, answering as dockerd of the persona's version does —
//! its middleware headers (`Api-Version`, `Docker-Experimental`, `Ostype`,
//! `Server: Docker/<v> (linux)`), `/v1.xx` prefixes and version checks, error
//! JSON, and its bare `{"message":"page not found"}` 404.
//!
//! - [`spec`]: what a create or exec body asks for (image, command, host mounts, privileges)
//! - [`api`]: the routes and their JSON
//!
//! Events: every request is an `http_request`; a container create, an exec
//! create or start, an image pull and a build are also `command` events with
//! what they would run (`command` the shell line, `op` the API call, and the
//! image, binds, privileges). `docker run` gets through create, attach,
//! start and wait, and sees its command's output where the decky knows it.

pub mod api;
pub mod spec;

use std::sync::{Arc, Mutex};

use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use crate::http::front::{self, Front};
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::TlsProfile;
use crate::service::{DeckyRuntime, Instance, Service, ServiceError};

/// The version shown when the persona names none.
const DEFAULT_VERSION: &str = "24.0.7";

static KEYS: [PersonaKey; 2] = [
    PersonaKey {
        name: "docker_version",
        kind: KeyKind::Text,
        doc: "Docker Engine version the daemon reports (`Server: Docker/<v> (linux)`, `/version`, `/info`); 17.x to 28.x as `MAJOR.MINOR.PATCH` (default 24.0.7)",
    },
    PersonaKey {
        name: "api_version",
        kind: KeyKind::Text,
        doc: "Highest API version it serves (`Api-Version` header; newer `/v1.xx` prefixes are refused as dockerd refuses them); default: the one the engine version ships (24.0 → 1.43, 25.0 → 1.44, 27.1 → 1.46, 28.0 → 1.48)",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("docker_api", 2375),
    ListenerInfo::tcp("docker_api_tls", 2376)
        .with_tls()
        .on_request(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "docker_api",
    summary: "Docker Engine API as an exposed dockerd answers it (2375 plain, 2376 TLS): docker version/ps/run work, \
              container and exec creates, pulls and builds captured as commands",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `docker_api` service.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerApi;

impl Service for DockerApi {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let site = site_from_persona(&decky, cfg)?;
        // dockerd's TLS listener sets no NextProtos: no ALPN is negotiated.
        let tls = front::acceptor(
            "docker_api_tls",
            &site.p.hostname,
            &[],
            TlsProfile::Dockerd,
            &decky,
            cfg,
        )?;
        Ok(Arc::new(Front::new(Arc::new(site), tls)))
    }
}

/// A `MAJOR.MINOR` API version.
pub type ApiVersion = (u32, u32);

/// Parses `1.43`.
pub fn parse_api(v: &str) -> Option<ApiVersion> {
    let (a, b) = v.trim().split_once('.')?;
    let ok = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(a) || !ok(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The API version and Go release an engine version shipped with.
fn release_facts(major: u32, minor: u32) -> (&'static str, &'static str) {
    match (major, minor) {
        (0..=17, _) => ("1.35", "go1.9.4"),
        (18, _) => ("1.39", "go1.10.8"),
        (19, _) => ("1.40", "go1.12.17"),
        (20, _) => ("1.41", "go1.18.10"),
        (23, _) => ("1.42", "go1.19.9"),
        (24, _) => ("1.43", "go1.20.10"),
        (25, _) => ("1.44", "go1.21.6"),
        (26, _) => ("1.45", "go1.21.10"),
        (27, 0 | 1) => ("1.46", "go1.21.12"),
        (27, _) => ("1.47", "go1.22.11"),
        (28, 0) => ("1.48", "go1.23.6"),
        (28, 1) => ("1.49", "go1.23.8"),
        _ => ("1.50", "go1.24.3"),
    }
}

fn site_from_persona(
    decky: &DeckyRuntime,
    cfg: &ServiceConfig,
) -> Result<api::DockerSite, ServiceError> {
    let keys = PersonaKeys::new(INFO.name, cfg);
    let version = keys
        .raw("docker_version")
        .map_or(DEFAULT_VERSION, str::trim)
        .to_owned();
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| {
            if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<Vec<u32>>>()
        .unwrap_or_default();
    let (major, minor) = match parts.as_slice() {
        [major @ 17..=28, minor, _patch] => (*major, *minor),
        _ => {
            return Err(keys.error(
                "docker_version",
                format!("expected a Docker Engine release MAJOR.MINOR.PATCH from 17.x to 28.x, got {version:?}"),
            ))
        }
    };
    let (default_api, go_version) = release_facts(major, minor);
    let api_text = keys
        .raw("api_version")
        .map_or(default_api, str::trim)
        .to_owned();
    let api = parse_api(&api_text)
        .filter(|v| *v >= (1, 24) && *v <= (1, 99) && v.0 == 1)
        .ok_or_else(|| {
            keys.error(
                "api_version",
                format!("expected an API version such as 1.43 (1.24 to 1.99), got {api_text:?}"),
            )
        })?;
    // dockerd 25 raised the oldest API it serves from 1.12 to 1.24.
    let min_api = if major >= 25 { (1, 24) } else { (1, 12) };
    Ok(api::DockerSite::new(api::Persona {
        version,
        api,
        min_api,
        go_version: go_version.to_owned(),
        hostname: decky.config.hostname.clone(),
        kernel: decky.config.distro.kernel_release.to_owned(),
        os_name: decky.config.distro.display_name.to_owned(),
        os_version: decky.config.distro.version_id.to_owned(),
        seed: decky.seed.derive(b"docker_api"),
        state: Mutex::default(),
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
                hostname: "build-prod-01".into(),
                os_family: decnet_core::persona::OsFamily::Linux,
                distro: decnet_core::persona::distro("debian").unwrap(),
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
    fn versions_default_follow_the_release_and_bad_ones_name_the_key() {
        let s = site_from_persona(&runtime(), &cfg(&[])).unwrap();
        assert_eq!((s.p.version.as_str(), s.p.api), ("24.0.7", (1, 43)));
        let s = site_from_persona(&runtime(), &cfg(&[("docker_version", "27.1.2")])).unwrap();
        assert_eq!(s.p.api, (1, 46));
        assert_eq!(s.p.min_api, (1, 24));
        for (key, value) in [
            ("docker_version", "24.0"),
            ("docker_version", "99.0.1"),
            ("docker_version", "24.0.7\r\nX: y"),
            ("api_version", "2.0"),
            ("api_version", "1.x"),
        ] {
            match site_from_persona(&runtime(), &cfg(&[(key, value)])) {
                Err(ServiceError::Persona { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}={value:?} gave {:?}", other.map(|_| ())),
            }
        }
    }
}
