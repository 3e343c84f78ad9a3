//! kube-apiserver's routes as a [`Site`]: authentication as the server does
//! it (a bearer token, anonymous, or 401), RBAC's 403 wording, discovery,
//! lists and gets of a small cluster drawn from the decky's seed, server-side
//! tables for kubectl, pod creates and execs captured.

use base64::Engine as _;
use decnet_core::bait::World;
use decnet_core::{Credential, EventType, SecretKind};
use serde_json::Value;

use super::spec::PodSpec;
use crate::http::json::{arr, s, strs, Obj};
use crate::http::site::{Note, Record, Server, Site, Style};
use crate::http::wire::Refusal;
use crate::http::{Flavor, Page, Req};

/// Key/value pairs of a secret or config map.
pub type Pairs = Vec<(String, String)>;
/// A planted credential a secret shows: (secret name, key/value pairs).
pub type BaitSecret = (String, Pairs);

/// The cluster a decky pretends to be.
#[derive(Debug)]
pub struct Persona {
    /// `v1.28.4`.
    pub version: String,
    /// Minor release (28).
    pub minor: u32,
    /// `gitCommit`.
    pub git_commit: String,
    /// `buildDate`.
    pub build_date: String,
    /// `goVersion`.
    pub go_version: String,
    /// The bearer token accepted beside the bait world's.
    pub token: String,
    /// `--anonymous-auth`.
    pub anonymous: bool,
    /// The one node's name.
    pub node: String,
    /// The decky's address (discovery's serverAddress).
    pub ip: String,
    /// Seed of everything drawn.
    pub seed: [u8; 32],
    /// Secrets holding the bait world's planted credentials.
    pub bait: Vec<BaitSecret>,
}

/// The secrets the bait world's planted credentials go in (every one a honeytoken).
pub fn bait_credentials(world: &World) -> Vec<BaitSecret> {
    let mut out: Vec<BaitSecret> = Vec::new();
    for t in world.tokens().iter().take(4) {
        let (name, pairs) = if t.principal.starts_with("AKIA") {
            (
                "aws-s3-backup",
                vec![
                    ("AWS_ACCESS_KEY_ID", t.principal.clone()),
                    ("AWS_SECRET_ACCESS_KEY", t.secret.clone()),
                ],
            )
        } else if t.principal.contains('@') {
            (
                "smtp-relay",
                vec![
                    ("username", t.principal.clone()),
                    ("password", t.secret.clone()),
                ],
            )
        } else {
            (
                "db-credentials",
                vec![
                    ("username", t.principal.clone()),
                    ("password", t.secret.clone()),
                ],
            )
        };
        if out.iter().all(|(n, _)| n != name) {
            out.push((
                name.to_owned(),
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ));
        }
    }
    out
}

fn hex_of(seed: &[u8; 32], label: &str, len: usize) -> String {
    use sha2::Digest as _;
    let mut out = String::new();
    let mut i = 0u32;
    while out.len() < len {
        out.push_str(&hex::encode(
            sha2::Sha256::new()
                .chain_update(seed)
                .chain_update(label.as_bytes())
                .chain_update(i.to_le_bytes())
                .finalize(),
        ));
        i += 1;
    }
    out.truncate(len);
    out
}

fn uuid_of(seed: &[u8; 32], label: &str) -> String {
    let h = hex_of(seed, label, 32);
    format!(
        "{}-{}-4{}-a{}-{}",
        h.get(..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(13..16).unwrap_or_default(),
        h.get(17..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A service-account JWT as kube-controller-manager's token controller issues
/// them (legacy secret-based token, RS256): stable for the seed.
pub fn service_account_token(seed: &[u8; 32], node: &str) -> String {
    let kid = b64url(hex_of(seed, "sa-kid", 32).as_bytes());
    let kid = kid.get(..43).unwrap_or(&kid).to_owned();
    let header = format!("{{\"alg\":\"RS256\",\"kid\":\"{kid}\"}}");
    let secret = format!("deploy-bot-token-{}", hex_of(seed, "sa-suffix", 5));
    let payload = format!(
        "{{\"iss\":\"kubernetes/serviceaccount\",\"kubernetes.io/serviceaccount/namespace\":\"kube-system\",\
\"kubernetes.io/serviceaccount/secret.name\":\"{secret}\",\"kubernetes.io/serviceaccount/service-account.name\":\"deploy-bot\",\
\"kubernetes.io/serviceaccount/service-account.uid\":\"{}\",\"sub\":\"system:serviceaccount:kube-system:deploy-bot\"}}",
        uuid_of(seed, &format!("sa-uid/{node}"))
    );
    let mut sig = Vec::new();
    for i in 0..8 {
        sig.extend_from_slice(
            &hex::decode(hex_of(seed, &format!("sa-sig/{i}"), 64)).unwrap_or_default(),
        );
    }
    format!(
        "{}.{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes()),
        b64url(&sig)
    )
}

/// Who a request is, as authentication decided.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    /// No credentials, `--anonymous-auth` on.
    Anonymous,
    /// An accepted token (or the insecure port).
    Admin,
}

/// A resource request path: `/api/v1/namespaces/ns/pods/name/exec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Res<'a> {
    group: &'a str,
    namespace: Option<&'a str>,
    resource: &'a str,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_res(path: &str) -> Option<Res<'_>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let r = match rest {
        [] => return None,
        ["namespaces", ns, resource, tail @ ..] if !ns.is_empty() => Res {
            group,
            namespace: Some(ns),
            resource,
            name: tail.first().copied(),
            sub: tail.get(1).copied(),
        },
        [resource, tail @ ..] => Res {
            group,
            namespace: None,
            resource,
            name: tail.first().copied(),
            sub: tail.get(1).copied(),
        },
    };
    Some(r).filter(|r| !r.resource.is_empty() && r.name != Some(""))
}

/// kube-apiserver as a site.
#[derive(Debug)]
pub struct KubeSite {
    /// The persona.
    pub p: Persona,
    flowschema: String,
    prioritylevel: String,
    app_ns: &'static str,
    created: i64,
}

impl KubeSite {
    /// The site of a persona.
    pub fn new(p: Persona) -> KubeSite {
        let n = usize::from(p.seed.first().copied().unwrap_or(0)) % 3;
        let age = 86_400 * (40 + i64::from(p.seed.get(1).copied().unwrap_or(0)));
        KubeSite {
            flowschema: uuid_of(&p.seed, "flowschema/global-default"),
            prioritylevel: uuid_of(&p.seed, "prioritylevel/global-default"),
            app_ns: ["prod", "payments", "backend"]
                .get(n)
                .copied()
                .unwrap_or("prod"),
            created: chrono::Utc::now().timestamp() - age,
            p,
        }
    }

    fn rv(&self, n: u64) -> String {
        let base = u64::from_str_radix(&hex_of(&self.p.seed, "rv", 6), 16).unwrap_or(0) % 900_000;
        (100_000 + base + n).to_string()
    }

    fn ts(&self, offset: i64) -> String {
        chrono::DateTime::from_timestamp(self.created + offset, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// kube-apiserver's headers on every answer; the priority-and-fairness
    /// UIDs once a request got past authentication.
    fn headers(&self, page: Page, pf: bool) -> Page {
        let page = page
            .with("Audit-Id", uuid::Uuid::new_v4().to_string())
            .with("Cache-Control", "no-cache, private");
        if pf {
            page.with("X-Kubernetes-Pf-Flowschema-Uid", self.flowschema.clone())
                .with(
                    "X-Kubernetes-Pf-Prioritylevel-Uid",
                    self.prioritylevel.clone(),
                )
        } else {
            page
        }
    }

    fn json(&self, status: u16, body: String) -> Page {
        self.headers(
            Page::new(status, "", body + "\n").with("Content-Type", "application/json"),
            true,
        )
    }

    fn status(&self, code: u16, reason: &str, message: &str, details: Option<String>) -> Page {
        let mut o = Obj::new()
            .str("kind", "Status")
            .str("apiVersion", "v1")
            .raw("metadata", "{}")
            .str("status", "Failure")
            .str("message", message)
            .str("reason", reason);
        if let Some(d) = details {
            o = o.raw("details", d);
        }
        self.json(code, o.num("code", code).done())
    }

    fn unauthorized(&self) -> Page {
        let body = Obj::new()
            .str("kind", "Status")
            .str("apiVersion", "v1")
            .raw("metadata", "{}")
            .str("status", "Failure")
            .str("message", "Unauthorized")
            .str("reason", "Unauthorized")
            .num("code", 401)
            .done();
        // Refused before priority and fairness sees it: no Pf headers.
        self.headers(
            Page::new(401, "", body + "\n").with("Content-Type", "application/json"),
            false,
        )
    }

    fn not_found(&self, res: &Res<'_>) -> Page {
        match res.name {
            Some(name) => self.status(
                404,
                "NotFound",
                &format!("{} \"{name}\" not found", res.resource),
                Some(
                    Obj::new()
                        .str("name", name)
                        .str("kind", res.resource)
                        .done(),
                ),
            ),
            None => self.status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Some("{}".into()),
            ),
        }
    }

    fn verb(req: &Req<'_>, res: &Res<'_>) -> &'static str {
        let watch = matches!(req.param("watch").as_deref(), Some("1" | "true"));
        match (req.method, res.name.is_some()) {
            (_, _) if res.sub.is_some() && req.method == "GET" && res.sub != Some("exec") => "get",
            (_, _) if res.sub.is_some() => "create",
            ("GET" | "HEAD", false) if watch => "watch",
            ("GET" | "HEAD", false) => "list",
            ("GET" | "HEAD", true) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", false) => "deletecollection",
            ("DELETE", true) => "delete",
            _ => "get",
        }
    }

    fn forbidden(&self, req: &Req<'_>, path: &str) -> Page {
        let user = "system:anonymous";
        let Some(res) = parse_res(path) else {
            let verb = match req.method {
                "POST" => "post",
                "PUT" => "put",
                "DELETE" => "delete",
                "PATCH" => "patch",
                _ => "get",
            };
            return self.status(
                403,
                "Forbidden",
                &format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
                Some("{}".into()),
            );
        };
        let verb = Self::verb(req, &res);
        let resource = match res.sub {
            Some(sub) => format!("{}/{sub}", res.resource),
            None => res.resource.to_owned(),
        };
        let subject = match res.name {
            Some(n) => format!("{} \"{n}\"", res.resource),
            None => res.resource.to_owned(),
        };
        let scope = match res.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None if res.resource == "namespaces" && res.name.is_some() => {
                format!("in the namespace \"{}\"", res.name.unwrap_or_default())
            }
            None => "at the cluster scope".to_owned(),
        };
        let mut details = Obj::new();
        if let Some(n) = res.name {
            details = details.str("name", n);
        }
        if !res.group.is_empty() {
            details = details.str("group", res.group);
        }
        details = details.str("kind", res.resource);
        self.status(
            403,
            "Forbidden",
            &format!(
                "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
                res.group
            ),
            Some(details.done()),
        )
    }

    fn version_json(&self) -> String {
        // /version is written indented.
        format!(
            "{{\n  \"major\": \"1\",\n  \"minor\": \"{}\",\n  \"gitVersion\": {},\n  \"gitCommit\": {},\n  \"gitTreeState\": \"clean\",\n  \"buildDate\": {},\n  \"goVersion\": {},\n  \"compiler\": \"gc\",\n  \"platform\": \"linux/amd64\"\n}}",
            self.p.minor,
            s(&self.p.version),
            s(&self.p.git_commit),
            s(&self.p.build_date),
            s(&self.p.go_version)
        )
    }

    fn health(&self, path: &str) -> Page {
        let body = if path.contains("verbose") {
            format!(
                "[+]ping ok\n[+]log ok\n[+]etcd ok\n{} check passed\n",
                path.trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or("healthz")
            )
        } else {
            "ok".to_owned()
        };
        self.headers(
            Page::new(200, "", body)
                .with("Content-Type", "text/plain; charset=utf-8")
                .with("X-Content-Type-Options", "nosniff"),
            true,
        )
    }

    fn groups() -> [(&'static str, &'static [&'static str]); 8] {
        [
            ("apps", &["v1"]),
            ("batch", &["v1"]),
            ("autoscaling", &["v2", "v1"]),
            ("networking.k8s.io", &["v1"]),
            ("policy", &["v1"]),
            ("rbac.authorization.k8s.io", &["v1"]),
            ("storage.k8s.io", &["v1"]),
            ("coordination.k8s.io", &["v1"]),
        ]
    }

    fn apis_json() -> String {
        let groups = Self::groups().into_iter().map(|(name, versions)| {
            let gv = |v: &str| {
                Obj::new()
                    .str("groupVersion", &format!("{name}/{v}"))
                    .str("version", v)
                    .done()
            };
            Obj::new()
                .str("name", name)
                .raw("versions", arr(versions.iter().map(|v| gv(v))))
                .raw(
                    "preferredVersion",
                    gv(versions.first().copied().unwrap_or("v1")),
                )
                .done()
        });
        Obj::new()
            .str("kind", "APIGroupList")
            .str("apiVersion", "v1")
            .raw("groups", arr(groups))
            .done()
    }

    fn resource_list(group_version: &str) -> Option<String> {
        let namespaced = |name: &str, kind: &str, short: &[&str], verbs: &[&str]| {
            let mut o = Obj::new()
                .str("name", name)
                .str("singularName", "")
                .bool("namespaced", true)
                .str("kind", kind)
                .raw("verbs", strs(verbs));
            if !short.is_empty() {
                o = o.raw("shortNames", strs(short));
            }
            o.done()
        };
        let all = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let resources: Vec<String> = match group_version {
            "v1" => vec![
                namespaced("configmaps", "ConfigMap", &["cm"], &all),
                Obj::new()
                    .str("name", "namespaces")
                    .str("singularName", "")
                    .bool("namespaced", false)
                    .str("kind", "Namespace")
                    .raw(
                        "verbs",
                        strs([
                            "create", "delete", "get", "list", "patch", "update", "watch",
                        ]),
                    )
                    .raw("shortNames", strs(["ns"]))
                    .done(),
                Obj::new()
                    .str("name", "nodes")
                    .str("singularName", "")
                    .bool("namespaced", false)
                    .str("kind", "Node")
                    .raw("verbs", strs(all))
                    .raw("shortNames", strs(["no"]))
                    .done(),
                namespaced("pods", "Pod", &["po"], &all),
                namespaced("pods/exec", "PodExecOptions", &[], &["create", "get"]),
                namespaced("pods/log", "Pod", &[], &["get"]),
                namespaced("secrets", "Secret", &[], &all),
                namespaced("serviceaccounts", "ServiceAccount", &["sa"], &all),
                namespaced(
                    "services",
                    "Service",
                    &["svc"],
                    &[
                        "create", "delete", "get", "list", "patch", "update", "watch",
                    ],
                ),
            ],
            "apps/v1" => vec![
                namespaced("daemonsets", "DaemonSet", &["ds"], &all),
                namespaced("deployments", "Deployment", &["deploy"], &all),
                namespaced("replicasets", "ReplicaSet", &["rs"], &all),
                namespaced("statefulsets", "StatefulSet", &["sts"], &all),
            ],
            "batch/v1" => vec![
                namespaced("cronjobs", "CronJob", &["cj"], &all),
                namespaced("jobs", "Job", &[], &all),
            ],
            gv if Self::groups()
                .iter()
                .any(|(g, vs)| vs.iter().any(|v| format!("{g}/{v}") == gv)) =>
            {
                Vec::new()
            }
            _ => return None,
        };
        Some(
            Obj::new()
                .str("kind", "APIResourceList")
                .str("apiVersion", "v1")
                .str("groupVersion", group_version)
                .raw("resources", arr(resources))
                .done(),
        )
    }

    fn namespaces(&self) -> Vec<&str> {
        vec![
            "default",
            "kube-node-lease",
            "kube-public",
            "kube-system",
            self.app_ns,
            "monitoring",
        ]
    }

    /// (namespace, name, image, ip, restarts) of every pod.
    fn pods(&self) -> Vec<(&str, String, &'static str, String)> {
        let node = &self.p.node;
        let h = |l: &str, n: usize| hex_of(&self.p.seed, l, n);
        let rs = h("rs/web", 10);
        let api = h("rs/api", 10);
        let dns = h("rs/coredns", 10);
        vec![
            (
                self.app_ns,
                format!("web-{rs}-{}", h("pod/web0", 5)),
                "nginx:1.25.3",
                "10.244.0.12".into(),
            ),
            (
                self.app_ns,
                format!("web-{rs}-{}", h("pod/web1", 5)),
                "nginx:1.25.3",
                "10.244.0.13".into(),
            ),
            (
                self.app_ns,
                format!("api-{api}-{}", h("pod/api0", 5)),
                "registry.internal:5000/api:2.14.1",
                "10.244.0.15".into(),
            ),
            (
                self.app_ns,
                "postgres-0".into(),
                "postgres:15.5",
                "10.244.0.9".into(),
            ),
            (
                "kube-system",
                format!("coredns-{dns}-{}", h("pod/dns0", 5)),
                "registry.k8s.io/coredns/coredns:v1.10.1",
                "10.244.0.2".into(),
            ),
            (
                "kube-system",
                format!("coredns-{dns}-{}", h("pod/dns1", 5)),
                "registry.k8s.io/coredns/coredns:v1.10.1",
                "10.244.0.3".into(),
            ),
            (
                "kube-system",
                format!("etcd-{node}"),
                "registry.k8s.io/etcd:3.5.9-0",
                self.p.ip.clone(),
            ),
            (
                "kube-system",
                format!("kube-apiserver-{node}"),
                "registry.k8s.io/kube-apiserver",
                self.p.ip.clone(),
            ),
            (
                "kube-system",
                format!("kube-controller-manager-{node}"),
                "registry.k8s.io/kube-controller-manager",
                self.p.ip.clone(),
            ),
            (
                "kube-system",
                format!("kube-proxy-{}", h("pod/proxy", 5)),
                "registry.k8s.io/kube-proxy",
                self.p.ip.clone(),
            ),
            (
                "kube-system",
                format!("kube-scheduler-{node}"),
                "registry.k8s.io/kube-scheduler",
                self.p.ip.clone(),
            ),
            (
                "monitoring",
                format!("prometheus-{}", h("pod/prom", 5)),
                "prom/prometheus:v2.48.0",
                "10.244.0.20".into(),
            ),
        ]
    }

    fn secrets(&self, ns: &str) -> Vec<(String, &'static str, Pairs)> {
        let mut out = Vec::new();
        if ns == self.app_ns || ns == "default" {
            for (name, pairs) in &self.p.bait {
                out.push((name.clone(), "Opaque", pairs.clone()));
            }
            if out.is_empty() {
                out.push((
                    "db-credentials".into(),
                    "Opaque",
                    vec![
                        ("username".into(), "app".into()),
                        ("password".into(), hex_of(&self.p.seed, "db-pass", 20)),
                    ],
                ));
            }
            let auth = base64::engine::general_purpose::STANDARD.encode(format!(
                "ci-push:{}",
                hex_of(&self.p.seed, "registry-pass", 24)
            ));
            out.push((
                "registry-credentials".into(),
                "kubernetes.io/dockerconfigjson",
                vec![(
                    ".dockerconfigjson".into(),
                    format!("{{\"auths\":{{\"registry.internal:5000\":{{\"auth\":\"{auth}\"}}}}}}"),
                )],
            ));
        }
        if ns == "kube-system" {
            out.push((
                format!("deploy-bot-token-{}", hex_of(&self.p.seed, "sa-suffix", 5)),
                "kubernetes.io/service-account-token",
                vec![
                    ("ca.crt".into(), self.ca_pem()),
                    ("namespace".into(), "kube-system".into()),
                    ("token".into(), self.p.token.clone()),
                ],
            ));
        }
        out
    }

    fn ca_pem(&self) -> String {
        let mut raw = Vec::new();
        for i in 0..26 {
            raw.extend_from_slice(
                &hex::decode(hex_of(&self.p.seed, &format!("ca/{i}"), 64)).unwrap_or_default(),
            );
        }
        let b = base64::engine::general_purpose::STANDARD
            .encode(raw.get(..raw.len().min(800)).unwrap_or_default());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n");
        for chunk in b.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    fn meta(&self, name: &str, ns: Option<&str>, n: u64) -> String {
        let mut o = Obj::new().str("name", name);
        if let Some(ns) = ns {
            o = o.str("namespace", ns);
        }
        o.str(
            "uid",
            &uuid_of(&self.p.seed, &format!("uid/{}/{name}", ns.unwrap_or(""))),
        )
        .str("resourceVersion", &self.rv(n))
        .str(
            "creationTimestamp",
            &self.ts(i64::try_from(n).unwrap_or(0) * 60),
        )
        .done()
    }

    fn age(&self) -> String {
        let days = (chrono::Utc::now().timestamp() - self.created) / 86_400;
        format!("{days}d")
    }

    fn wants_table(req: &Req<'_>) -> bool {
        req.header("accept")
            .is_some_and(|a| String::from_utf8_lossy(a).contains("as=Table"))
    }

    fn table(&self, columns: &[(&str, &str, u8)], rows: Vec<(Vec<String>, String)>) -> String {
        let cols = columns.iter().map(|(name, format, priority)| {
            Obj::new()
                .str("name", name)
                .str(
                    "type",
                    if *name == "Restarts" || *name == "Data" {
                        "integer"
                    } else {
                        "string"
                    },
                )
                .str("format", format)
                .str("description", "")
                .num("priority", priority)
                .done()
        });
        let rows = rows.into_iter().map(|(cells, meta)| {
            let cells = cells.iter().map(|c| match c.parse::<i64>() {
                Ok(n) if !c.starts_with('0') || c == "0" => n.to_string(),
                _ => s(c),
            });
            Obj::new()
                .raw("cells", arr(cells))
                .raw(
                    "object",
                    Obj::new()
                        .str("kind", "PartialObjectMetadata")
                        .str("apiVersion", "meta.k8s.io/v1")
                        .raw("metadata", meta)
                        .done(),
                )
                .done()
        });
        Obj::new()
            .str("kind", "Table")
            .str("apiVersion", "meta.k8s.io/v1")
            .raw(
                "metadata",
                Obj::new().str("resourceVersion", &self.rv(999)).done(),
            )
            .raw("columnDefinitions", arr(cols))
            .raw("rows", arr(rows))
            .done()
    }

    fn list(&self, kind: &str, items: Vec<String>) -> String {
        Obj::new()
            .str("kind", kind)
            .str("apiVersion", "v1")
            .raw(
                "metadata",
                Obj::new().str("resourceVersion", &self.rv(999)).done(),
            )
            .raw("items", arr(items))
            .done()
    }

    fn pod_json(&self, ns: &str, name: &str, image: &str, ip: &str, n: u64) -> String {
        let container = name.split('-').next().unwrap_or(name);
        Obj::new()
            .raw("metadata", self.meta(name, Some(ns), n))
            .raw(
                "spec",
                Obj::new()
                    .raw(
                        "containers",
                        arr([Obj::new()
                            .str("name", container)
                            .str("image", image)
                            .str("imagePullPolicy", "IfNotPresent")
                            .done()]),
                    )
                    .str("restartPolicy", "Always")
                    .str("nodeName", &self.p.node)
                    .done(),
            )
            .raw(
                "status",
                Obj::new()
                    .str("phase", "Running")
                    .str("hostIP", &self.p.ip)
                    .str("podIP", ip)
                    .str("startTime", &self.ts(i64::try_from(n).unwrap_or(0) * 60))
                    .str("qosClass", "BestEffort")
                    .done(),
            )
            .done()
    }

    fn pods_answer(&self, req: &Req<'_>, ns: Option<&str>, name: Option<&str>) -> Option<Page> {
        let pods: Vec<_> = self
            .pods()
            .into_iter()
            .enumerate()
            .filter(|(_, p)| ns.is_none_or(|n| n == p.0))
            .collect();
        if let Some(name) = name {
            let (i, (pns, pname, image, ip)) = pods.into_iter().find(|(_, p)| p.1 == name)?;
            let mut pod = Obj::new().str("kind", "Pod").str("apiVersion", "v1").done();
            pod.pop();
            let body = format!(
                "{pod},{}",
                self.pod_json(pns, &pname, image, &ip, i as u64)
                    .trim_start_matches('{')
            );
            return Some(self.json(200, body));
        }
        if Self::wants_table(req) {
            let cols = [
                ("Name", "name", 0),
                ("Ready", "", 0),
                ("Status", "", 0),
                ("Restarts", "", 0),
                ("Age", "", 0),
                ("IP", "", 1),
                ("Node", "", 1),
                ("Nominated Node", "", 1),
                ("Readiness Gates", "", 1),
            ];
            let rows = pods
                .iter()
                .map(|(i, (pns, pname, _, ip))| {
                    (
                        vec![
                            pname.clone(),
                            "1/1".into(),
                            "Running".into(),
                            "0".into(),
                            self.age(),
                            ip.clone(),
                            self.p.node.clone(),
                            "<none>".into(),
                            "<none>".into(),
                        ],
                        self.meta(pname, Some(pns), *i as u64),
                    )
                })
                .collect();
            return Some(self.json(200, self.table(&cols, rows)));
        }
        let items = pods
            .iter()
            .map(|(i, (pns, pname, image, ip))| self.pod_json(pns, pname, image, ip, *i as u64))
            .collect();
        Some(self.json(200, self.list("PodList", items)))
    }

    fn secrets_answer(
        &self,
        req: &Req<'_>,
        ns: Option<&str>,
        name: Option<&str>,
        record: &mut Record,
    ) -> Option<Page> {
        let namespaces: Vec<&str> = match ns {
            Some(n) => vec![n],
            None => self.namespaces(),
        };
        let mut all = Vec::new();
        for n in namespaces {
            for (sname, kind, data) in self.secrets(n) {
                all.push((n.to_owned(), sname, kind, data));
            }
        }
        let secret_json =
            |i: usize, n: &str, sname: &str, kind: &str, data: &[(String, String)]| {
                let mut d = Obj::new();
                for (k, v) in data {
                    d = d.str(k, &base64::engine::general_purpose::STANDARD.encode(v));
                }
                Obj::new()
                    .raw("metadata", self.meta(sname, Some(n), 200 + i as u64))
                    .raw("data", d.done())
                    .str("type", kind)
                    .done()
            };
        if let Some(name) = name {
            let (i, (n, sname, kind, data)) = all.iter().enumerate().find(|(_, s)| s.1 == name)?;
            record.field("bait_secret", sname.clone());
            let body = format!(
                "{{\"kind\":\"Secret\",\"apiVersion\":\"v1\",{}",
                secret_json(i, n, sname, kind, data).trim_start_matches('{')
            );
            return Some(self.json(200, body));
        }
        record.field(
            "bait_secrets",
            all.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
        );
        if Self::wants_table(req) {
            let cols = [
                ("Name", "name", 0),
                ("Type", "", 0),
                ("Data", "", 0),
                ("Age", "", 0),
            ];
            let rows = all
                .iter()
                .enumerate()
                .map(|(i, (n, sname, kind, data))| {
                    (
                        vec![
                            sname.clone(),
                            (*kind).to_owned(),
                            data.len().to_string(),
                            self.age(),
                        ],
                        self.meta(sname, Some(n), 200 + i as u64),
                    )
                })
                .collect();
            return Some(self.json(200, self.table(&cols, rows)));
        }
        let items = all
            .iter()
            .enumerate()
            .map(|(i, (n, sname, kind, data))| secret_json(i, n, sname, kind, data))
            .collect();
        Some(self.json(200, self.list("SecretList", items)))
    }

    fn configmaps_answer(
        &self,
        req: &Req<'_>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Option<Page> {
        let namespaces: Vec<&str> = match ns {
            Some(n) => vec![n],
            None => self.namespaces(),
        };
        let mut all: Vec<(String, String, Pairs)> = Vec::new();
        for n in namespaces {
            all.push((
                n.to_owned(),
                "kube-root-ca.crt".into(),
                vec![("ca.crt".into(), self.ca_pem())],
            ));
            if n == self.app_ns {
                all.push((
                    n.to_owned(),
                    "app-config".into(),
                    vec![
                        (
                            "DATABASE_HOST".into(),
                            format!("postgres.{n}.svc.cluster.local"),
                        ),
                        ("DATABASE_NAME".into(), "app".into()),
                        ("LOG_LEVEL".into(), "info".into()),
                    ],
                ));
            }
        }
        let cm_json = |i: usize, n: &str, cname: &str, data: &[(String, String)]| {
            let mut d = Obj::new();
            for (k, v) in data {
                d = d.str(k, v);
            }
            Obj::new()
                .raw("metadata", self.meta(cname, Some(n), 300 + i as u64))
                .raw("data", d.done())
                .done()
        };
        if let Some(name) = name {
            let (i, (n, cname, data)) = all.iter().enumerate().find(|(_, c)| c.1 == name)?;
            let body = format!(
                "{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",{}",
                cm_json(i, n, cname, data).trim_start_matches('{')
            );
            return Some(self.json(200, body));
        }
        if Self::wants_table(req) {
            let cols = [("Name", "name", 0), ("Data", "", 0), ("Age", "", 0)];
            let rows = all
                .iter()
                .enumerate()
                .map(|(i, (n, cname, data))| {
                    (
                        vec![cname.clone(), data.len().to_string(), self.age()],
                        self.meta(cname, Some(n), 300 + i as u64),
                    )
                })
                .collect();
            return Some(self.json(200, self.table(&cols, rows)));
        }
        let items = all
            .iter()
            .enumerate()
            .map(|(i, (n, c, d))| cm_json(i, n, c, d))
            .collect();
        Some(self.json(200, self.list("ConfigMapList", items)))
    }

    fn namespaces_answer(&self, req: &Req<'_>, name: Option<&str>) -> Option<Page> {
        let ns_json = |i: usize, n: &str| {
            Obj::new()
                .raw("metadata", self.meta(n, None, i as u64))
                .raw(
                    "spec",
                    Obj::new().raw("finalizers", strs(["kubernetes"])).done(),
                )
                .raw("status", Obj::new().str("phase", "Active").done())
                .done()
        };
        let all = self.namespaces();
        if let Some(name) = name {
            let (i, n) = all.iter().enumerate().find(|(_, n)| **n == name)?;
            return Some(self.json(
                200,
                format!(
                    "{{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",{}",
                    ns_json(i, n).trim_start_matches('{')
                ),
            ));
        }
        if Self::wants_table(req) {
            let cols = [("Name", "name", 0), ("Status", "", 0), ("Age", "", 0)];
            let rows = all
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        vec![(*n).to_owned(), "Active".into(), self.age()],
                        self.meta(n, None, i as u64),
                    )
                })
                .collect();
            return Some(self.json(200, self.table(&cols, rows)));
        }
        Some(self.json(
            200,
            self.list(
                "NamespaceList",
                all.iter().enumerate().map(|(i, n)| ns_json(i, n)).collect(),
            ),
        ))
    }

    fn deployments_answer(&self, req: &Req<'_>, ns: Option<&str>) -> Page {
        let all: Vec<(&str, &str, &str, u32)> = vec![
            (self.app_ns, "web", "nginx:1.25.3", 2),
            (self.app_ns, "api", "registry.internal:5000/api:2.14.1", 1),
            (
                "kube-system",
                "coredns",
                "registry.k8s.io/coredns/coredns:v1.10.1",
                2,
            ),
            ("monitoring", "prometheus", "prom/prometheus:v2.48.0", 1),
        ]
        .into_iter()
        .filter(|d| ns.is_none_or(|n| n == d.0))
        .collect();
        if Self::wants_table(req) {
            let cols = [
                ("Name", "name", 0),
                ("Ready", "", 0),
                ("Up-to-date", "", 0),
                ("Available", "", 0),
                ("Age", "", 0),
            ];
            let rows = all
                .iter()
                .enumerate()
                .map(|(i, (n, d, _, r))| {
                    (
                        vec![
                            (*d).to_owned(),
                            format!("{r}/{r}"),
                            r.to_string(),
                            r.to_string(),
                            self.age(),
                        ],
                        self.meta(d, Some(n), 400 + i as u64),
                    )
                })
                .collect();
            return self.json(200, self.table(&cols, rows));
        }
        let items = all
            .iter()
            .enumerate()
            .map(|(i, (n, d, image, r))| {
                Obj::new()
                    .raw("metadata", self.meta(d, Some(n), 400 + i as u64))
                    .raw(
                        "spec",
                        Obj::new()
                            .num("replicas", r)
                            .raw(
                                "template",
                                Obj::new()
                                    .raw(
                                        "spec",
                                        Obj::new()
                                            .raw(
                                                "containers",
                                                arr([Obj::new()
                                                    .str("name", d)
                                                    .str("image", image)
                                                    .done()]),
                                            )
                                            .done(),
                                    )
                                    .done(),
                            )
                            .done(),
                    )
                    .raw(
                        "status",
                        Obj::new()
                            .num("replicas", r)
                            .num("readyReplicas", r)
                            .num("availableReplicas", r)
                            .done(),
                    )
                    .done()
            })
            .collect();
        let mut body = self.list("DeploymentList", items);
        body = body.replacen("\"apiVersion\":\"v1\"", "\"apiVersion\":\"apps/v1\"", 1);
        self.json(200, body)
    }

    fn create_pod(&self, req: &Req<'_>, ns: &str, record: &mut Record) -> Page {
        let spec = match PodSpec::parse(req.body) {
            Ok(s) => s,
            Err(e) => return self.status(400, "BadRequest", &e.to_string(), None),
        };
        let images: Vec<String> = spec.containers.iter().map(|c| c.image.clone()).collect();
        let argvs: Vec<Vec<String>> = spec.containers.iter().map(|c| c.argv.clone()).collect();
        let command = spec
            .containers
            .iter()
            .map(|c| crate::docker_api::spec::shell_line(&c.argv))
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        record.note(
            Note::new(EventType::Command)
                .field("op", "pod_create")
                .field("command", command)
                .field("namespace", ns.to_string())
                .field("pod", spec.name.clone())
                .field("images", images)
                .field("argv", argvs)
                .field("privileged", spec.privileged())
                .field("host_paths", spec.host_paths.clone())
                .field("host_namespaces", spec.host_namespaces.clone())
                .field("node_name", spec.node_name.clone())
                .field("service_account", spec.service_account.clone()),
        );
        if !spec.namespace.is_empty() && spec.namespace != ns {
            return self.status(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
                None,
            );
        }
        if spec.name.is_empty() {
            return self.status(
                422,
                "Invalid",
                "Pod \"\" is invalid: metadata.name: Required value: name or generateName is required",
                Some(Obj::new().str("kind", "Pod").done()),
            );
        }
        // The object as sent, completed as the server stores it.
        let mut obj: Value = serde_json::from_slice(req.body).unwrap_or(Value::Null);
        if let Some(m) = obj.as_object_mut() {
            m.insert("kind".into(), "Pod".into());
            m.insert("apiVersion".into(), "v1".into());
            let meta = m
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("name".into(), spec.name.clone().into());
                meta.insert("namespace".into(), ns.into());
                meta.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
                meta.insert(
                    "resourceVersion".into(),
                    self.rv(5000 + u64::from(rand::random::<u16>())).into(),
                );
                meta.insert(
                    "creationTimestamp".into(),
                    chrono::Utc::now()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                        .into(),
                );
            }
            m.insert(
                "status".into(),
                serde_json::json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        self.json(201, obj.to_string())
    }

    fn exec(&self, req: &Req<'_>, ns: &str, pod: &str, record: &mut Record) -> Page {
        let params = req.params();
        let argv: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .take(64)
            .collect();
        let container = params
            .iter()
            .find(|(k, _)| k == "container")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        record.note(
            Note::new(EventType::Command)
                .field("op", "pod_exec")
                .field("command", crate::docker_api::spec::shell_line(&argv))
                .field("argv", argv)
                .field("namespace", ns.to_string())
                .field("pod", pod.to_string())
                .field("container", container),
        );
        if !self.pods().iter().any(|p| p.0 == ns && p.1 == pod) {
            return self.not_found(&Res {
                resource: "pods",
                name: Some(pod),
                ..Res::default()
            });
        }
        // The upgrade to a stream protocol is refused: kube-apiserver's answer
        // to an exec without a usable upgrade.
        self.status(400, "BadRequest", "Upgrade request required", None)
    }

    fn authed(&self, req: &Req<'_>, path: &str, record: &mut Record) -> Page {
        match path {
            "/version" | "/version/" => return self.json(200, self.version_json()),
            "/healthz" | "/livez" | "/readyz" => return self.health(path),
            "/api" | "/api/" => {
                let body = Obj::new()
                    .str("kind", "APIVersions")
                    .raw("versions", strs(["v1"]))
                    .raw(
                        "serverAddressByClientCIDRs",
                        arr([Obj::new()
                            .str("clientCIDR", "0.0.0.0/0")
                            .str("serverAddress", &format!("{}:6443", self.p.ip))
                            .done()]),
                    )
                    .done();
                return self.json(200, body);
            }
            "/apis" | "/apis/" => return self.json(200, Self::apis_json()),
            "/api/v1" => return self.json(200, Self::resource_list("v1").unwrap_or_default()),
            _ => {}
        }
        if let Some(gv) = path.strip_prefix("/apis/") {
            if gv.matches('/').count() == 1 {
                if let Some(list) = Self::resource_list(gv) {
                    return self.json(200, list);
                }
            }
        }
        let Some(res) = parse_res(path) else {
            return self.headers(
                Page::new(404, "text/plain; charset=utf-8", "404 page not found\n")
                    .with("X-Content-Type-Options", "nosniff"),
                true,
            );
        };
        let get = matches!(req.method, "GET" | "HEAD");
        let answer = match (res.group, res.resource, res.sub) {
            ("", "pods", Some("exec")) if matches!(req.method, "GET" | "POST") => {
                return self.exec(
                    req,
                    res.namespace.unwrap_or("default"),
                    res.name.unwrap_or_default(),
                    record,
                )
            }
            ("", "pods", None) if req.method == "POST" && res.name.is_none() => match res.namespace
            {
                Some(ns) => return self.create_pod(req, ns, record),
                None => {
                    return self.status(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                        Some("{}".into()),
                    )
                }
            },
            ("", "pods", None) if get => self.pods_answer(req, res.namespace, res.name),
            ("", "secrets", None) if get => {
                self.secrets_answer(req, res.namespace, res.name, record)
            }
            ("", "configmaps", None) if get => self.configmaps_answer(req, res.namespace, res.name),
            ("", "namespaces", None) if get && res.namespace.is_none() => {
                self.namespaces_answer(req, res.name)
            }
            ("apps", "deployments", None) if get && res.name.is_none() => {
                Some(self.deployments_answer(req, res.namespace))
            }
            _ if !get => {
                use base64::Engine as _;
                let sample = req.body.get(..req.body.len().min(4096)).unwrap_or_default();
                record.note(
                    Note::new(EventType::Command)
                        .field(
                            "op",
                            format!("{}_{}", req.method.to_ascii_lowercase(), res.resource),
                        )
                        .field("command", format!("{} {path}", req.method))
                        .field(
                            "body_sample_b64",
                            base64::engine::general_purpose::STANDARD.encode(sample),
                        ),
                );
                None
            }
            _ => None,
        };
        answer.unwrap_or_else(|| self.not_found(&res))
    }
}

/// Paths RBAC's `system:public-info-viewer` opens to anyone.
fn public(path: &str) -> bool {
    matches!(
        path,
        "/version" | "/version/" | "/healthz" | "/livez" | "/readyz"
    ) || ["/healthz/", "/livez/", "/readyz/"]
        .iter()
        .any(|p| path.starts_with(p))
}

impl Site for KubeSite {
    fn server(&self) -> Server<'_> {
        Server {
            flavor: Flavor::Nginx,
            server_header: "",
            hostname: &self.p.node,
            mtime: 0,
        }
    }

    fn style(&self) -> Style {
        Style::Go
    }

    fn route(&self, req: &Req<'_>, record: &mut Record) -> Page {
        let path = req.path;
        let who = match (req.bearer, req.basic) {
            (Some(token), _) => {
                let planted = token == self.p.token.as_bytes();
                let honey = self
                    .p
                    .bait
                    .iter()
                    .any(|(_, pairs)| pairs.iter().any(|(_, v)| v.as_bytes() == token));
                let ok = planted || honey;
                record.note(
                    Note::new(EventType::LoginAttempt)
                        .field("auth_scheme", "Bearer")
                        .field("success", ok)
                        .credential(Credential::new("", token, SecretKind::Token)),
                );
                if !ok {
                    return self.unauthorized();
                }
                Who::Admin
            }
            // Basic authentication left kube-apiserver in 1.19.
            (None, Some(_)) => return self.unauthorized(),
            // The insecure port serves anyone as admin.
            (None, None) if !req.tls => Who::Admin,
            (None, None) if self.p.anonymous => Who::Anonymous,
            (None, None) => return self.unauthorized(),
        };
        record.field(
            "k8s_user",
            if who == Who::Admin {
                "admin"
            } else {
                "system:anonymous"
            },
        );
        if who == Who::Anonymous && !public(path) {
            return self.forbidden(req, path);
        }
        if public(path) && path != "/version" && path != "/version/" {
            return self.health(path);
        }
        self.authed(req, path, record)
    }

    fn error_page(&self, _req: &Req<'_>, status: u16) -> Page {
        self.status(status, "BadRequest", "the request body was cut short", None)
    }

    fn plain_http_on_tls(&self, _host: &str, _port: u16) -> Option<Page> {
        None
    }

    fn refusal_page(&self, _req: &Req<'_>, refusal: Refusal) -> Page {
        Page::new(refusal.status(), "text/plain; charset=utf-8", "")
    }

    fn app_name(&self) -> &'static str {
        "kube-apiserver"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_parse() {
        assert_eq!(
            parse_res("/api/v1/namespaces/default/pods/x/exec"),
            Some(Res {
                group: "",
                namespace: Some("default"),
                resource: "pods",
                name: Some("x"),
                sub: Some("exec")
            })
        );
        assert_eq!(
            parse_res("/apis/apps/v1/deployments"),
            Some(Res {
                group: "apps",
                resource: "deployments",
                ..Res::default()
            })
        );
        assert_eq!(
            parse_res("/api/v1/namespaces"),
            Some(Res {
                resource: "namespaces",
                ..Res::default()
            })
        );
        assert_eq!(
            parse_res("/api/v1/namespaces/kube-system"),
            Some(Res {
                resource: "namespaces",
                name: Some("kube-system"),
                ..Res::default()
            })
        );
        assert_eq!(parse_res("/api"), None);
        assert_eq!(parse_res("/healthz"), None);
    }

    #[test]
    fn tokens_look_like_service_account_jwts() {
        let t = service_account_token(&[7; 32], "cp");
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap();
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["sub"], "system:serviceaccount:kube-system:deploy-bot");
        assert_eq!(t, service_account_token(&[7; 32], "cp"));
    }
}
