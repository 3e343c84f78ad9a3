//! Elasticsearch (listener `elasticsearch`, port 9200): one node's REST API,
//! served as a site of the HTTP front end in Netty's response style.
//!
//! - [`json`]: ES's compact and Jackson-pretty JSON, keys in ES's order
//! - [`data`]: the release, names and ids the node shows, its bait indices
//! - [`api`]: which answer a request gets
//!
//! Every request is one `http_request` event (body, Basic credential and the
//! ES action it performed); writes keep their state for the node's lifetime,
//! bounded, so a ransom bot that deletes the indices and plants its note sees
//! its work, and the operator sees every step.

pub mod api;
pub mod data;
pub mod json;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;

use self::api::{answer, EsRequest};
use self::data::{bait_indices, ident, Cluster, Index, Version};
use crate::http::apps::{Page, Req};
use crate::http::front::Front;
use crate::http::site::{Record, Server, Site, Style};
use crate::http::wire::Refusal;
use crate::http::Flavor;
use crate::kit::persona::PersonaKeys;
use crate::service::{DeckyRuntime, Instance, Service, ServiceError};

/// The release a node claims by default: the last Apache-licensed one, which
/// most of the clusters exposed without a password still run.
const DEFAULT_VERSION: &str = "7.10.2";

static KEYS: [PersonaKey; 3] = [
    PersonaKey {
        name: "es_version",
        kind: KeyKind::Text,
        doc: "Release the node claims, 6.8.x, 7.x or 8.x (default 7.10.2, open to anyone; from 8.0 security is on and every request needs a login the bait world accepts)",
    },
    PersonaKey {
        name: "cluster_name",
        kind: KeyKind::Text,
        doc: "cluster.name (default elasticsearch, as an unconfigured node calls itself)",
    },
    PersonaKey {
        name: "node_name",
        kind: KeyKind::Text,
        doc: "node.name (default: the decky's hostname, as ES names a node)",
    },
];

static LISTENERS: [ListenerInfo; 1] = [ListenerInfo::tcp("elasticsearch", 9200)];

static INFO: ServiceInfo = ServiceInfo {
    name: "elasticsearch",
    summary: "Elasticsearch node's REST API with bait indices (users, application settings, logs); captures searches, writes, deletes and Basic credentials",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `elasticsearch` service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Elasticsearch;

impl Service for Elasticsearch {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let keys = PersonaKeys::new(INFO.name, cfg);
        let version = Version::parse(keys.text_or("es_version", DEFAULT_VERSION))
            .map_err(|m| keys.error("es_version", m))?;
        let name_ok = |s: &str| {
            !s.is_empty() && s.len() <= 255 && s.chars().all(|c| !c.is_control() && c != '"')
        };
        let cluster_name = keys.text_or("cluster_name", "elasticsearch").to_owned();
        if !name_ok(&cluster_name) {
            return Err(keys.error(
                "cluster_name",
                "must be 1-255 printable characters without quotes",
            ));
        }
        let node_name = keys
            .text("node_name")
            .map_or_else(|| decky.config.hostname.clone(), str::to_owned);
        if !name_ok(&node_name) {
            return Err(keys.error(
                "node_name",
                "must be 1-255 printable characters without quotes",
            ));
        }
        let seed = decky.seed.derive(b"elasticsearch");
        let now = chrono::Utc::now().timestamp_millis();
        let uptime_ms = i64::try_from(decky.seed.pick(b"es-uptime", 40 * 86_400_000)).unwrap_or(0);
        let cluster = Cluster {
            version,
            cluster_name,
            node_name,
            cluster_uuid: ident(&seed, "cluster", 22),
            node_id: ident(&seed, "node", 22),
            ip: decky.config.ip.to_string(),
            hostname: decky.config.hostname.clone(),
            kernel: decky.config.distro.kernel_release.to_owned(),
            os_name: decky.config.distro.display_name.to_owned(),
            started: now - 3_600_000 - uptime_ms,
            seed,
            writes: AtomicU64::new(0),
        };
        let indices = bait_indices(&decky.bait, &decky.config.name, &seed, now);
        let site = EsSite {
            cluster,
            indices: Mutex::new(indices),
            decky,
        };
        Ok(Arc::new(Front::new(Arc::new(site), None)))
    }
}

/// One node: its cluster facts, its indices, and the decky (for the bait world's logins).
struct EsSite {
    cluster: Cluster,
    indices: Mutex<Vec<Index>>,
    decky: Arc<DeckyRuntime>,
}

impl EsSite {
    fn page(&self, status: u16, content_type: &'static str, body: String) -> Page {
        let mut page = Page {
            status,
            content_type,
            body,
            extra: Vec::new(),
            static_file: false,
        };
        // ES leaves its product header off the answers that refuse a login.
        if self.cluster.version.product_header() && status != 401 && status != 403 {
            page.extra
                .push(("X-elastic-product", "Elasticsearch".into()));
        }
        page
    }
}

impl Site for EsSite {
    fn server(&self) -> Server<'_> {
        Server {
            flavor: Flavor::Nginx,
            server_header: "",
            hostname: &self.cluster.hostname,
            mtime: self.cluster.started / 1000,
        }
    }

    fn style(&self) -> Style {
        Style::Netty
    }

    fn route(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let authenticated = req.basic.is_some_and(|(user, password)| {
            self.decky
                .bait
                .accepts(&self.decky.config.name, user, password)
        });
        let es = EsRequest {
            method: req.method,
            path: req.path,
            query: req.query.unwrap_or(""),
            body: req.body,
            user: req.basic.map(|(u, _)| u),
            authenticated,
        };
        let a = answer(&self.cluster, &self.indices, &es);
        record.field("es_action", a.action);
        if let Some(index) = &a.index {
            record.field("es_index", index.as_str());
        }
        if a.write {
            record.field("es_write", true);
        }
        if req.basic.is_some() {
            record.field("login_ok", authenticated);
        }
        let mut page = self.page(a.status, a.content_type, a.body);
        for c in a.challenge {
            page.extra.push(("WWW-Authenticate", c.to_owned()));
        }
        page
    }

    fn error_page(&self, _req: &Req<'_>, status: u16) -> Page {
        // Netty refuses an oversized or cut-short body with a bare status.
        self.page(status, "", String::new())
    }

    fn plain_http_on_tls(&self, _host: &str, _port: u16) -> Option<Page> {
        None
    }

    fn refusal_page(&self, _req: &Req<'_>, refusal: Refusal) -> Page {
        let (kind, reason) = match refusal {
            Refusal::UriTooLong | Refusal::HeaderTooLarge => (
                "too_long_frame_exception",
                "An HTTP line is larger than 4096 bytes.",
            ),
            _ => ("illegal_argument_exception", "invalid version format"),
        };
        let body = format!(
            r#"{{"error":{{"root_cause":[{{"type":"{kind}","reason":"{reason}"}}],"type":"{kind}","reason":"{reason}"}},"status":400}}"#
        );
        self.page(400, "application/json; charset=UTF-8", body)
    }

    fn app_name(&self) -> &'static str {
        "elasticsearch"
    }
}
