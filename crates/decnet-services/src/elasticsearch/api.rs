//! The REST API of one Elasticsearch node: which answer a request gets, as a
//! pure function of the cluster's state and the request, so every route is
//! tested without sockets.
//!
//! Versions before 8 run without security, as the exposed clusters that leak
//! data do: credentials are captured but not needed. From 8 on security is on
//! by default, so every request needs a login the bait world accepts.

use std::sync::Mutex;

use super::data::{Cluster, Index, Version};
use super::json::{from_serde, obj, Json};

/// Most indices an attacker may create on one node.
const MAX_INDICES: usize = 64;
/// Most documents kept per index (older writes are still captured in events).
const MAX_DOCS: usize = 200;

/// A request as the API sees it.
#[derive(Debug, Clone, Copy)]
pub struct EsRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Path, still percent-encoded, without the query.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: &'a str,
    /// Body bytes (capped by the front end).
    pub body: &'a [u8],
    /// User of a Basic `Authorization` header.
    pub user: Option<&'a str>,
    /// Whether that login is one the node accepts.
    pub authenticated: bool,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct EsAnswer {
    /// Status code.
    pub status: u16,
    /// `content-type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
    /// `WWW-Authenticate` values, in order.
    pub challenge: Vec<&'static str>,
    /// What the request did, for its event (`search`, `index_document`, `delete_index`, …).
    pub action: &'static str,
    /// The index it named, if any.
    pub index: Option<String>,
    /// Whether it changed data (its body is the payload an operator wants).
    pub write: bool,
}

const JSON_UTF8: &str = "application/json; charset=UTF-8";
const TEXT_UTF8: &str = "text/plain; charset=UTF-8";
const BASIC_CHALLENGE: &str = "Basic realm=\"security\" charset=\"UTF-8\"";

impl EsAnswer {
    fn json(status: u16, v: &Json, pretty: bool, action: &'static str) -> EsAnswer {
        EsAnswer {
            status,
            content_type: JSON_UTF8,
            body: if pretty { v.pretty() } else { v.compact() },
            challenge: Vec::new(),
            action,
            index: None,
            write: false,
        }
    }

    fn text(body: String, action: &'static str) -> EsAnswer {
        EsAnswer {
            status: 200,
            content_type: TEXT_UTF8,
            body,
            challenge: Vec::new(),
            action,
            index: None,
            write: false,
        }
    }

    fn on(mut self, index: &str) -> EsAnswer {
        self.index = Some(index.to_owned());
        self
    }

    fn writing(mut self) -> EsAnswer {
        self.write = true;
        self
    }
}

/// Query parameters ES reads.
struct Params {
    pretty: bool,
    verbose: bool,
    size: Option<usize>,
    from: usize,
    q: Option<String>,
}

fn params(query: &str) -> Params {
    let mut p = Params {
        pretty: false,
        verbose: false,
        size: None,
        from: 0,
        q: None,
    };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        // `?pretty` and `?pretty=true` both turn it on; `?pretty=false` does not.
        let on = v.is_empty() || v == "true";
        match k.as_ref() {
            "pretty" => p.pretty = on,
            "v" => p.verbose = on,
            "size" => p.size = v.parse().ok(),
            "from" => p.from = v.parse().unwrap_or(0),
            "q" => p.q = Some(v.into_owned()),
            _ => {}
        }
    }
    p
}

/// Percent-decodes a path segment; invalid escapes stay as written.
fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            c,
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ES's error object: `{"error":{"root_cause":[cause],…cause},"status":n}`.
fn error(
    status: u16,
    kind: &str,
    reason: &str,
    extra: Vec<(String, Json)>,
    pretty: bool,
) -> EsAnswer {
    let mut cause = vec![
        ("type".to_owned(), Json::from(kind)),
        ("reason".to_owned(), Json::from(reason)),
    ];
    cause.extend(extra);
    let mut top = cause.clone();
    top.insert(
        0,
        ("root_cause".to_owned(), Json::Arr(vec![Json::Obj(cause)])),
    );
    let v = Json::Obj(vec![
        ("error".to_owned(), Json::Obj(top)),
        ("status".to_owned(), Json::Int(i64::from(status))),
    ]);
    EsAnswer::json(status, &v, pretty, "error")
}

fn index_not_found(name: &str, pretty: bool) -> EsAnswer {
    let extra = vec![
        ("resource.type".to_owned(), Json::from("index_or_alias")),
        ("resource.id".to_owned(), Json::from(name)),
        ("index_uuid".to_owned(), Json::from("_na_")),
        ("index".to_owned(), Json::from(name)),
    ];
    error(
        404,
        "index_not_found_exception",
        &format!("no such index [{name}]"),
        extra,
        pretty,
    )
    .on(name)
}

fn no_handler(req: &EsRequest<'_>) -> EsAnswer {
    let v = obj([
        (
            "error",
            format!(
                "no handler found for uri [{}] and method [{}]",
                req.path, req.method
            )
            .into(),
        ),
        ("status", Json::Int(400)),
    ]);
    EsAnswer::json(400, &v, false, "unknown")
}

fn wrong_method(req: &EsRequest<'_>, allowed: &str) -> EsAnswer {
    let v = obj([
        (
            "error",
            format!(
                "Incorrect HTTP method for uri [{}] and method [{}], allowed: [{allowed}]",
                req.path, req.method
            )
            .into(),
        ),
        ("status", Json::Int(405)),
    ]);
    EsAnswer::json(405, &v, false, "unknown")
}

/// The answer to one request.
pub fn answer(cluster: &Cluster, state: &Mutex<Vec<Index>>, req: &EsRequest<'_>) -> EsAnswer {
    let p = params(req.query);
    let v = &cluster.version;
    if v.security() && !req.authenticated {
        let reason = match req.user {
            Some(u) => format!(
                "unable to authenticate user [{u}] for REST request [{}]",
                req.path
            ),
            None => format!(
                "missing authentication credentials for REST request [{}]",
                req.path
            ),
        };
        let header = obj([(
            "WWW-Authenticate",
            Json::Arr(vec![BASIC_CHALLENGE.into(), "ApiKey".into()]),
        )]);
        let mut a = error(
            401,
            "security_exception",
            &reason,
            vec![("header".to_owned(), header)],
            p.pretty,
        );
        a.challenge = vec![BASIC_CHALLENGE, "ApiKey"];
        a.action = "unauthenticated";
        return a;
    }
    let segs: Vec<String> = req
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method;
    let read = m == "GET" || m == "HEAD";
    let Ok(mut indices) = state.lock() else {
        return error(500, "exception", "internal error", Vec::new(), p.pretty);
    };
    match seg.as_slice() {
        [] => match m {
            // The root answers pretty-printed even without `?pretty`.
            "GET" | "HEAD" => EsAnswer::json(200, &cluster.root(), true, "info"),
            _ => wrong_method(req, "GET, HEAD"),
        },
        ["_cluster", "health", ..] if read => {
            EsAnswer::json(200, &cluster.health(&indices), p.pretty, "cluster_health")
        }
        ["_cat"] if read => EsAnswer::text(CAT_HELP.to_owned(), "cat"),
        ["_cat", "indices", rest @ ..] if read => {
            let only = rest.first().copied();
            if let Some(name) = only.filter(|n| !n.contains('*')) {
                if !indices.iter().any(|i| i.name == name) {
                    return index_not_found(name, p.pretty);
                }
            }
            EsAnswer::text(cluster.cat_indices(&indices, only, p.verbose), "cat_indices")
        }
        ["_cat", "nodes"] if read => EsAnswer::text(cluster.cat_nodes(p.verbose), "cat_nodes"),
        ["_cat", "health"] if read => {
            EsAnswer::text(cluster.cat_health(&indices, p.verbose), "cat_health")
        }
        ["_nodes", ..] if read => EsAnswer::json(200, &cluster.nodes(), p.pretty, "nodes"),
        ["_security", "_authenticate"] if read => match v.security() {
            true => EsAnswer::json(200, &cluster.authenticate(req.user.unwrap_or("elastic")), p.pretty, "authenticate"),
            false => error(
                500,
                "exception",
                "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.",
                Vec::new(),
                p.pretty,
            ),
        },
        ["_search"] | ["_all", "_search"] | ["*", "_search"] if read || m == "POST" => {
            let all: Vec<&Index> = indices.iter().collect();
            search(cluster, &all, req, &p)
        }
        [name, "_search"] if read || m == "POST" => {
            let hit: Vec<&Index> = indices.iter().filter(|i| matches(name, &i.name)).collect();
            if hit.is_empty() && !name.contains('*') {
                return index_not_found(name, p.pretty);
            }
            search(cluster, &hit, req, &p).on(name)
        }
        ["_bulk"] | [_, "_bulk"] if m == "POST" || m == "PUT" => bulk(cluster, &mut indices, req, &p),
        ["_all"] | ["*"] if m == "DELETE" => {
            indices.clear();
            let v = obj([("acknowledged", true.into())]);
            EsAnswer::json(200, &v, p.pretty, "delete_index").on("_all").writing()
        }
        [name] if name.starts_with('_') => {
            let reason = format!("Invalid index name [{name}], must not start with '_', '-', or '+'");
            let extra = vec![
                ("index_uuid".to_owned(), Json::from("_na_")),
                ("index".to_owned(), Json::from(*name)),
            ];
            error(400, "invalid_index_name_exception", &reason, extra, p.pretty)
        }
        [name] => index_route(cluster, &mut indices, name, req, &p),
        [name, "_doc" | "_create"] if m == "POST" => {
            put_doc(cluster, &mut indices, name, None, req, &p)
        }
        [name, "_doc" | "_create", id] => match m {
            "PUT" | "POST" => put_doc(cluster, &mut indices, name, Some(id), req, &p),
            "GET" | "HEAD" => get_doc(cluster, &indices, name, id, &p),
            "DELETE" => {
                let found = indices
                    .iter_mut()
                    .find(|i| i.name == *name)
                    .and_then(|i| i.remove(id));
                let v = doc_result(cluster, name, id, if found.is_some() { "deleted" } else { "not_found" });
                EsAnswer::json(if found.is_some() { 200 } else { 404 }, &v, p.pretty, "delete_document")
                    .on(name)
                    .writing()
            }
            _ => wrong_method(req, "PUT, DELETE, POST, GET, HEAD"),
        },
        _ => no_handler(req),
    }
}

/// `*`-patterns as ES matches index names (`logs-*`, `*`, comma-separated lists).
fn matches(pattern: &str, name: &str) -> bool {
    fn glob(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| n.get(i..).is_some_and(|t| glob(rest, t))),
            Some((c, rest)) => match n.split_first() {
                Some((h, t)) => h == c && glob(rest, t),
                None => false,
            },
        }
    }
    // Index names are short; a pattern with many stars is cut so matching stays cheap.
    pattern.split(',').any(|p| {
        p.bytes().filter(|&b| b == b'*').count() <= 4 && glob(p.as_bytes(), name.as_bytes())
    })
}

fn index_route(
    cluster: &Cluster,
    indices: &mut Vec<Index>,
    name: &str,
    req: &EsRequest<'_>,
    p: &Params,
) -> EsAnswer {
    let exists = indices.iter().any(|i| i.name == name);
    match req.method {
        "GET" | "HEAD" => match indices.iter().find(|i| i.name == name) {
            Some(i) => EsAnswer::json(200, &cluster.index_info(i), p.pretty, "get_index").on(name),
            None => index_not_found(name, p.pretty),
        },
        "PUT" if exists => {
            let uuid = indices
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.uuid.clone())
                .unwrap_or_default();
            let reason = format!("index [{name}/{uuid}] already exists");
            let extra = vec![
                ("index_uuid".to_owned(), Json::from(uuid)),
                ("index".to_owned(), Json::from(name)),
            ];
            error(
                400,
                "resource_already_exists_exception",
                &reason,
                extra,
                p.pretty,
            )
            .on(name)
            .writing()
        }
        "PUT" => {
            if indices.len() < MAX_INDICES {
                indices.push(cluster.new_index(name));
            }
            let v = obj([
                ("acknowledged", true.into()),
                ("shards_acknowledged", true.into()),
                ("index", name.into()),
            ]);
            EsAnswer::json(200, &v, p.pretty, "create_index")
                .on(name)
                .writing()
        }
        "DELETE" if exists => {
            indices.retain(|i| i.name != name);
            let v = obj([("acknowledged", true.into())]);
            EsAnswer::json(200, &v, p.pretty, "delete_index")
                .on(name)
                .writing()
        }
        "DELETE" => index_not_found(name, p.pretty).writing(),
        _ => wrong_method(req, "PUT, DELETE, GET, HEAD"),
    }
}

fn doc_result(cluster: &Cluster, index: &str, id: &str, result: &str) -> Json {
    let mut pairs = vec![("_index".to_owned(), Json::from(index))];
    if cluster.version.has_types() {
        pairs.push(("_type".to_owned(), Json::from("_doc")));
    }
    pairs.extend([
        ("_id".to_owned(), Json::from(id)),
        ("_version".to_owned(), Json::Int(1)),
        ("result".to_owned(), Json::from(result)),
        (
            "_shards".to_owned(),
            obj([
                ("total", Json::Int(2)),
                ("successful", Json::Int(1)),
                ("failed", Json::Int(0)),
            ]),
        ),
        ("_seq_no".to_owned(), Json::Int(0)),
        ("_primary_term".to_owned(), Json::Int(1)),
    ]);
    Json::Obj(pairs)
}

fn put_doc(
    cluster: &Cluster,
    indices: &mut Vec<Index>,
    name: &str,
    id: Option<&str>,
    req: &EsRequest<'_>,
    p: &Params,
) -> EsAnswer {
    let Ok(source) = serde_json::from_slice::<serde_json::Value>(req.body) else {
        let reason = "failed to parse";
        return error(
            400,
            "mapper_parsing_exception",
            reason,
            Vec::new(),
            p.pretty,
        )
        .on(name)
        .writing();
    };
    if !indices.iter().any(|i| i.name == name) && indices.len() < MAX_INDICES {
        indices.push(cluster.new_index(name));
    }
    let id = id.map_or_else(|| cluster.doc_id(name, indices.len()), str::to_owned);
    if let Some(i) = indices.iter_mut().find(|i| i.name == name) {
        if i.docs.len() < MAX_DOCS {
            i.put(&id, from_serde(&source));
        }
    }
    let v = doc_result(cluster, name, &id, "created");
    EsAnswer::json(201, &v, p.pretty, "index_document")
        .on(name)
        .writing()
}

fn get_doc(cluster: &Cluster, indices: &[Index], name: &str, id: &str, p: &Params) -> EsAnswer {
    let Some(index) = indices.iter().find(|i| i.name == name) else {
        return index_not_found(name, p.pretty);
    };
    let mut pairs = vec![("_index".to_owned(), Json::from(name))];
    if cluster.version.has_types() {
        pairs.push(("_type".to_owned(), Json::from("_doc")));
    }
    pairs.push(("_id".to_owned(), Json::from(id)));
    match index.get(id) {
        Some(source) => {
            pairs.extend([
                ("_version".to_owned(), Json::Int(1)),
                ("_seq_no".to_owned(), Json::Int(0)),
                ("_primary_term".to_owned(), Json::Int(1)),
                ("found".to_owned(), Json::Bool(true)),
                ("_source".to_owned(), source.clone()),
            ]);
            EsAnswer::json(200, &Json::Obj(pairs), p.pretty, "get_document").on(name)
        }
        None => {
            pairs.push(("found".to_owned(), Json::Bool(false)));
            EsAnswer::json(404, &Json::Obj(pairs), p.pretty, "get_document").on(name)
        }
    }
}

fn search(cluster: &Cluster, indices: &[&Index], req: &EsRequest<'_>, p: &Params) -> EsAnswer {
    let body: Option<serde_json::Value> = serde_json::from_slice(req.body).ok();
    let size = p
        .size
        .or_else(|| {
            body.as_ref()?
                .get("size")?
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
        })
        .unwrap_or(10)
        .min(10_000);
    let from = body
        .as_ref()
        .and_then(|b| b.get("from")?.as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(p.from);
    let needle = p.q.as_deref().map(|q| {
        q.rsplit(':')
            .next()
            .unwrap_or(q)
            .trim_matches('*')
            .to_ascii_lowercase()
    });
    let all: Vec<(&Index, &String, &Json)> = indices
        .iter()
        .flat_map(|i| i.docs.iter().map(move |(id, d)| (*i, id, d)))
        .filter(|(_, _, d)| match &needle {
            Some(n) if !n.is_empty() => d.compact().to_ascii_lowercase().contains(n.as_str()),
            _ => true,
        })
        .collect();
    let total = all.len();
    let hits: Vec<Json> = all
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(i, id, d)| {
            let mut h = vec![("_index".to_owned(), Json::from(i.name.as_str()))];
            if cluster.version.has_types() {
                h.push(("_type".to_owned(), Json::from("_doc")));
            }
            h.extend([
                ("_id".to_owned(), Json::from(id.as_str())),
                ("_score".to_owned(), Json::Float(1.0)),
                ("_source".to_owned(), d.clone()),
            ]);
            Json::Obj(h)
        })
        .collect();
    let shards = indices.len();
    let total_json = if cluster.version.major >= 7 {
        obj([("value", total.into()), ("relation", "eq".into())])
    } else {
        total.into()
    };
    let v = obj([
        ("took", Json::Int(1 + (total % 7) as i64)),
        ("timed_out", false.into()),
        (
            "_shards",
            obj([
                ("total", shards.into()),
                ("successful", shards.into()),
                ("skipped", Json::Int(0)),
                ("failed", Json::Int(0)),
            ]),
        ),
        (
            "hits",
            obj([
                ("total", total_json),
                (
                    "max_score",
                    if total == 0 {
                        Json::Null
                    } else {
                        Json::Float(1.0)
                    },
                ),
                ("hits", Json::Arr(hits)),
            ]),
        ),
    ]);
    EsAnswer::json(200, &v, p.pretty, "search")
}

/// `_bulk`: newline-delimited action and source lines; each index/create/delete is applied.
fn bulk(cluster: &Cluster, indices: &mut Vec<Index>, req: &EsRequest<'_>, p: &Params) -> EsAnswer {
    let text = String::from_utf8_lossy(req.body);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let Ok(serde_json::Value::Object(action)) = serde_json::from_str::<serde_json::Value>(line)
        else {
            return error(400, "illegal_argument_exception", "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_STRING]", Vec::new(), p.pretty).writing();
        };
        let Some((op, meta)) = action.iter().next() else {
            break;
        };
        let index = meta
            .get("_index")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_owned();
        let id = meta
            .get("_id")
            .and_then(|v| v.as_str())
            .map_or_else(|| cluster.doc_id(&index, items.len()), str::to_owned);
        let result = match op.as_str() {
            "delete" => {
                indices
                    .iter_mut()
                    .find(|i| i.name == index)
                    .and_then(|i| i.remove(&id));
                "deleted"
            }
            _ => {
                let source = lines
                    .next()
                    .and_then(|l| serde_json::from_str(l).ok())
                    .unwrap_or(serde_json::Value::Null);
                if !indices.iter().any(|i| i.name == index) && indices.len() < MAX_INDICES {
                    indices.push(cluster.new_index(&index));
                }
                if let Some(i) = indices.iter_mut().find(|i| i.name == index) {
                    if i.docs.len() < MAX_DOCS {
                        i.put(&id, from_serde(&source));
                    }
                }
                "created"
            }
        };
        let mut r = match doc_result(cluster, &index, &id, result) {
            Json::Obj(pairs) => pairs,
            _ => Vec::new(),
        };
        r.push((
            "status".to_owned(),
            Json::Int(if result == "created" { 201 } else { 200 }),
        ));
        items.push(Json::Obj(vec![(op.clone(), Json::Obj(r))]));
        if items.len() >= 1000 {
            break;
        }
    }
    let v = obj([
        ("took", Json::Int(3)),
        ("errors", false.into()),
        ("items", Json::Arr(items)),
    ]);
    EsAnswer::json(200, &v, p.pretty, "bulk").writing()
}

/// `GET /_cat` lists the cat endpoints.
const CAT_HELP: &str = "=^.^=
/_cat/allocation
/_cat/shards
/_cat/shards/{index}
/_cat/master
/_cat/nodes
/_cat/tasks
/_cat/indices
/_cat/indices/{index}
/_cat/segments
/_cat/segments/{index}
/_cat/count
/_cat/count/{index}
/_cat/recovery
/_cat/recovery/{index}
/_cat/health
/_cat/pending_tasks
/_cat/aliases
/_cat/aliases/{alias}
/_cat/thread_pool
/_cat/thread_pool/{thread_pools}
/_cat/plugins
/_cat/fielddata
/_cat/fielddata/{fields}
/_cat/nodeattrs
/_cat/repositories
/_cat/snapshots/{repository}
/_cat/templates
/_cat/ml/anomaly_detectors
/_cat/ml/anomaly_detectors/{job_id}
/_cat/ml/trained_models
/_cat/ml/trained_models/{model_id}
/_cat/ml/datafeeds
/_cat/ml/datafeeds/{datafeed_id}
/_cat/ml/data_frame/analytics
/_cat/ml/data_frame/analytics/{id}
/_cat/transforms
/_cat/transforms/{transform_id}
";

impl Version {
    /// Whether documents carry `_type` (6.x and 7.x).
    fn has_types(&self) -> bool {
        self.major < 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elasticsearch::data::tests::cluster;

    fn get<'a>(path: &'a str, query: &'a str) -> EsRequest<'a> {
        EsRequest {
            method: "GET",
            path,
            query,
            body: b"",
            user: None,
            authenticated: false,
        }
    }

    #[test]
    fn root_is_pretty_and_matches_nmaps_signature() {
        let (c, s) = cluster("7.10.2");
        let a = answer(&c, &s, &get("/", ""));
        assert_eq!(a.status, 200);
        assert!(a.body.starts_with("{\n  \"name\" : \""), "{}", a.body);
        assert!(a
            .body
            .contains("\n  \"cluster_name\" : \"elasticsearch\",\n  \"cluster_uuid\" : \""));
        assert!(a
            .body
            .contains("\n  \"version\" : {\n    \"number\" : \"7.10.2\","));
        assert!(a.body.contains("\"lucene_version\" : \"8.7.0\""));
        assert!(a
            .body
            .ends_with("\n  },\n  \"tagline\" : \"You Know, for Search\"\n}\n"));
    }

    #[test]
    fn missing_index_is_index_not_found_exception() {
        let (c, s) = cluster("7.10.2");
        let a = answer(&c, &s, &get("/nope/_search", ""));
        assert_eq!(a.status, 404);
        assert_eq!(
            a.body,
            r#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [nope]","resource.type":"index_or_alias","resource.id":"nope","index_uuid":"_na_","index":"nope"}],"type":"index_not_found_exception","reason":"no such index [nope]","resource.type":"index_or_alias","resource.id":"nope","index_uuid":"_na_","index":"nope"},"status":404}"#
        );
    }

    #[test]
    fn search_returns_bait_and_honours_size() {
        let (c, s) = cluster("7.10.2");
        let a = answer(&c, &s, &get("/users/_search", "size=2"));
        assert_eq!(a.status, 200);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 2);
        assert!(v["hits"]["total"]["value"].as_u64().unwrap() > 2);
        assert_eq!(v["hits"]["hits"][0]["_type"], "_doc");
        assert!(v["hits"]["hits"][0]["_source"]["email"]
            .as_str()
            .unwrap()
            .contains('@'));
    }

    #[test]
    fn ransom_sequence_deletes_creates_and_reads_back() {
        let (c, s) = cluster("7.10.2");
        let del = EsRequest {
            method: "DELETE",
            ..get("/users", "")
        };
        assert_eq!(answer(&c, &s, &del).status, 200);
        assert_eq!(answer(&c, &s, &get("/users", "")).status, 404);
        let note = br#"{"message":"All your data is backed up. Pay 0.01 BTC"}"#;
        let put = EsRequest {
            method: "PUT",
            body: note,
            ..get("/read_me/_doc/1", "")
        };
        let a = answer(&c, &s, &put);
        assert_eq!((a.status, a.action, a.write), (201, "index_document", true));
        let back = answer(&c, &s, &get("/read_me/_doc/1", ""));
        assert!(back.body.contains("Pay 0.01 BTC"), "{}", back.body);
        let cat = answer(&c, &s, &get("/_cat/indices", ""));
        assert!(cat.body.contains(" read_me "), "{}", cat.body);
        assert!(!cat.body.contains(" users "), "{}", cat.body);
    }

    #[test]
    fn version_8_demands_credentials() {
        let (c, s) = cluster("8.11.3");
        let a = answer(&c, &s, &get("/", ""));
        assert_eq!(a.status, 401);
        assert_eq!(a.challenge, vec![BASIC_CHALLENGE, "ApiKey"]);
        assert!(a
            .body
            .contains("missing authentication credentials for REST request [/]"));
        let wrong = EsRequest {
            user: Some("elastic"),
            ..get("/_cat/indices", "")
        };
        assert!(answer(&c, &s, &wrong)
            .body
            .contains("unable to authenticate user [elastic]"));
        let ok = EsRequest {
            user: Some("elastic"),
            authenticated: true,
            ..get("/_security/_authenticate", "")
        };
        let a = answer(&c, &s, &ok);
        assert_eq!(a.status, 200);
        assert!(a.body.contains(r#""username":"elastic""#), "{}", a.body);
    }

    #[test]
    fn unknown_routes_get_es_errors() {
        let (c, s) = cluster("7.10.2");
        let a = answer(&c, &s, &get("/a/b/c/d", ""));
        assert_eq!(
            a.body,
            r#"{"error":"no handler found for uri [/a/b/c/d] and method [GET]","status":400}"#
        );
        let a = answer(&c, &s, &get("/_foo", ""));
        assert_eq!(a.status, 400);
        assert!(a.body.contains("invalid_index_name_exception"));
        let post_root = EsRequest {
            method: "POST",
            ..get("/", "")
        };
        assert_eq!(answer(&c, &s, &post_root).status, 405);
    }

    #[test]
    fn bulk_applies_and_caps() {
        let (c, s) = cluster("7.10.2");
        let body = b"{\"index\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n";
        let req = EsRequest {
            method: "POST",
            body,
            ..get("/_bulk", "")
        };
        let a = answer(&c, &s, &req);
        assert_eq!(a.status, 200);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["items"][1]["delete"]["result"], "deleted");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_requests_never_panic(
            method in "(GET|POST|PUT|DELETE|HEAD|PATCH)",
            path in "(/[a-z_*%0-9A-F.-]{0,8}){0,4}",
            query in "[a-z=&0-9]{0,20}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let (c, s) = cluster("7.10.2");
            let req = EsRequest { method: &method, path: &path, query: &query, body: &body, user: None, authenticated: false };
            let a = answer(&c, &s, &req);
            proptest::prop_assert!((200..600).contains(&a.status));
        }
    }
}
