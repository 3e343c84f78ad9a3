//! `decnet status`: the journal's size, what retention will delete, each
//! consumer's position and lag, and the live state from the running API.
//! Also the retention task `up` runs, since both need the consumers' positions.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use decnet_core::config::model::DEFAULT_JOURNAL_RETENTION;
use decnet_core::paths::DataDir;
use decnet_journal::retention;
use decnet_journal::JournalPos;
use decnet_store::Store;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::DataDirArg;

/// How often `up` prunes the journal (it also does once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// Longest `status` waits for the API.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);
/// Consumer name of the `log_target` forwarder.
const FORWARDER: &str = "forwarder";

/// `decnet status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The fleet's INI file, for `journal_retention` and `log_target` (default retention: 7 days).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Base URL of the running API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    api: String,
    /// Database URL (postgres://…); SQLite at DATA_DIR/decnet.db when unset.
    #[arg(long, env = "DECNET_DATABASE_URL")]
    database_url: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A journal consumer and its committed position (`None`: it never committed).
#[derive(Debug, Clone)]
pub(super) struct Consumer {
    name: &'static str,
    pos: Option<JournalPos>,
}

/// The committed positions of every consumer: the ingester (from the store)
/// and, when a `log_target` is set, the forwarder (from its offset file; a
/// stale one left by an old `log_target` must not hold retention back).
pub(super) async fn consumers(
    store: Option<&Store>,
    data: &DataDir,
    forwarding: bool,
) -> anyhow::Result<Vec<Consumer>> {
    let mut out = Vec::new();
    let pos = match store {
        Some(s) => s
            .ingest_offset(decnet_intel::CONSUMER)
            .await
            .context("reading the ingester's journal offset from the database")?,
        None => None,
    };
    out.push(Consumer {
        name: decnet_intel::CONSUMER,
        pos,
    });
    if forwarding {
        out.push(Consumer {
            name: FORWARDER,
            pos: decnet_fleet::forward::read_offset(&data.forwarder_offset())?,
        });
    }
    Ok(out)
}

/// The oldest position every consumer has committed past.
fn oldest(consumers: &[Consumer]) -> JournalPos {
    consumers
        .iter()
        .map(|c| c.pos.unwrap_or(JournalPos::START))
        .min()
        .unwrap_or(JournalPos::START)
}

/// `up`'s retention: once at start, then every ten minutes, deletes the
/// segments every consumer is done with and older than `retention`.
pub(super) fn spawn_retention(
    store: Store,
    data: DataDir,
    forwarding: bool,
    retention: Option<Duration>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let retention = retention?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            let cs = match consumers(Some(&store), &data, forwarding).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "journal retention skipped: cannot read the consumers' positions");
                    continue;
                }
            };
            let journal = data.journal();
            let upto = oldest(&cs);
            match tokio::task::spawn_blocking(move || retention::prune(&journal, upto, retention))
                .await
            {
                Ok(Ok(p)) if !p.segments.is_empty() => tracing::info!(
                    segments = p.segments.len(),
                    bytes = p.bytes,
                    "journal retention: deleted {} committed segments older than {} s",
                    p.segments.len(),
                    retention.as_secs()
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "journal retention failed; retrying in ten minutes")
                }
                Err(e) => tracing::warn!(error = %e, "journal retention task failed"),
            }
        }
    }))
}

/// Runs `decnet status`.
pub async fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(&a.data.data_dir);
    if !data.root().is_dir() {
        anyhow::bail!(
            "no data dir at {}: give the one `up` uses with --data-dir or DECNET_DATA_DIR",
            data.root().display()
        );
    }
    let (retention, forwarding) = match &a.config {
        Some(path) => {
            let registry = decnet_services::Registry::builtin();
            let key = decnet_engine::installation_key(data.root())?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let fleet =
                decnet_core::config::load_ini(&text, &path.display().to_string(), &registry, &key)?;
            (
                fleet.general.journal_retention,
                fleet.general.log_target.is_some(),
            )
        }
        // Without the config, a forwarder that ever ran is assumed to still run.
        None => (
            Some(DEFAULT_JOURNAL_RETENTION),
            data.forwarder_offset().exists(),
        ),
    };

    let segments = retention::segments(&data.journal())?;
    let total: u64 = segments.iter().map(|s| s.bytes).sum();
    let store = open_existing_store(&data, a.database_url.as_deref()).await?;
    let cs = consumers(store.as_ref(), &data, forwarding).await?;
    if let Some(s) = &store {
        s.close().await;
    }
    let due = match retention {
        Some(r) => Some(retention::due(&data.journal(), oldest(&cs), r)?),
        None => None,
    };
    let lag = |pos: Option<JournalPos>| -> u64 {
        let p = pos.unwrap_or(JournalPos::START);
        segments
            .iter()
            .map(|s| {
                if s.segment > p.segment {
                    s.bytes
                } else if s.segment == p.segment {
                    s.bytes.saturating_sub(p.offset)
                } else {
                    0
                }
            })
            .sum()
    };

    let live = health(&a.api).await;
    let state = match &live {
        Ok((200, body)) if body["status"] == "ok" => "ok",
        Ok(_) => "degraded",
        Err(_) => "not running",
    };
    let code = match state {
        "ok" => 0,
        "degraded" => 1,
        _ => 2,
    };

    if a.json {
        let body = json!({
            "data_dir": data.root(),
            "journal": {
                "bytes": total,
                "segments": segments.len(),
                "retention_secs": retention.map(|r| r.as_secs()),
                "due": due.as_ref().map(|d| json!({"bytes": d.bytes, "segments": d.segments.len()})),
            },
            "consumers": cs.iter().map(|c| json!({
                "name": c.name,
                "position": c.pos.map(|p| p.to_string()),
                "lag_bytes": lag(c.pos),
            })).collect::<Vec<_>>(),
            "live": {
                "state": state,
                "api": a.api,
                "health": live.as_ref().ok().map(|(_, b)| b.clone()),
                "error": live.as_ref().err().map(|e| format!("{e:#}")),
            },
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::from(code));
    }

    println!("data dir:  {}", data.root().display());
    println!("journal:   {} in {} segments", human(total), segments.len());
    match (&due, retention) {
        (Some(d), Some(r)) => println!(
            "retention: {} s; due for deletion: {} in {} segments",
            r.as_secs(),
            human(d.bytes),
            d.segments.len()
        ),
        _ => println!("retention: off (journal_retention unset): nothing is deleted"),
    }
    for c in &cs {
        match c.pos {
            Some(p) => println!(
                "consumer:  {:<10} at {p}, {} behind",
                c.name,
                human(lag(c.pos))
            ),
            None => println!(
                "consumer:  {:<10} never committed, {} behind",
                c.name,
                human(lag(None))
            ),
        }
    }
    match &live {
        Ok((_, body)) => {
            let mut parts = vec![format!("{state} (API at {})", a.api)];
            if let Some(obj) = body.as_object() {
                for (k, v) in obj {
                    if k == "status" || k == "workers" {
                        continue;
                    }
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    parts.push(format!("{k}: {v}"));
                }
            }
            println!("live:      {}", parts.join("; "));
            // The reason first, in the words the operator acts on.
            if let Some(reason) = body["journal"].as_str().filter(|r| *r != "ok") {
                println!("degraded:  {reason}");
            }
            if body["database"].as_str().is_some_and(|d| d != "ok") {
                println!("degraded:  database: not answering (see the decnet up log)");
            }
        }
        Err(e) => println!(
            "live:      not running (API at {} unreachable: {e:#})",
            a.api
        ),
    }
    Ok(ExitCode::from(code))
}

/// The store if it exists: never creates a database just to look at it.
async fn open_existing_store(data: &DataDir, url: Option<&str>) -> anyhow::Result<Option<Store>> {
    match url.filter(|u| !u.trim().is_empty()) {
        Some(_) => Ok(Some(super::fleet::open_store(data.root(), url).await?)),
        None if data.sqlite_db().exists() => {
            Ok(Some(super::fleet::open_store(data.root(), None).await?))
        }
        None => Ok(None),
    }
}

/// `GET <api>/api/v1/health`: status code and JSON body.
async fn health(api: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let rest = api
        .strip_prefix("http://")
        .context("--api must be an http:// URL (the API speaks plain HTTP)")?;
    let (authority, base) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let path = format!("{}/api/v1/health", base.trim_end_matches('/'));
    let fut = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", authority)
            .body(Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        let code = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&body).context("the health answer is not JSON")?;
        anyhow::Ok((code, json))
    };
    tokio::time::timeout(HEALTH_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", HEALTH_TIMEOUT.as_secs()))?
}

/// Bytes for people: `512 B`, `3.2 MiB`.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        unit = u;
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{v:.1} {unit}")
    }
}
