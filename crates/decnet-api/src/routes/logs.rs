//! `/logs`: stored events, filtered and keyset-paginated, and their histogram.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use decnet_core::EventType;
use decnet_store::{EventFilter, IngestGeneration, MAX_SEARCH_CHARS};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::dto::{BucketDto, EventDoc, EventOut, HistogramDto, Page};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::fresh::Snapshot;
use crate::routes::page_request;
use crate::AppState;

/// Widest histogram bucket, in seconds (one day).
pub(crate) const MAX_BUCKET_SECS: u32 = 86_400;
/// Histogram bucket when none is given.
pub(crate) const DEFAULT_BUCKET_SECS: u32 = 60;

/// Event filters shared by `/logs` and `/logs/histogram`.
#[derive(Debug, Default)]
pub(crate) struct EventFilterQuery {
    /// Exact decky name.
    decky: Option<String>,
    /// Exact service name.
    service: Option<String>,
    /// Exact event type (`connect`, `login_attempt`, …).
    event_type: Option<String>,
    /// Exact source IP.
    attacker_ip: Option<String>,
    /// Session id.
    session_id: Option<Uuid>,
    /// Case-insensitive substring of the event JSON, at most 512 characters.
    search: Option<String>,
    /// Inclusive lower bound, RFC 3339 (`2024-05-01T00:00:00Z`).
    start: Option<DateTime<Utc>>,
    /// Exclusive upper bound, RFC 3339.
    end: Option<DateTime<Utc>>,
}

impl EventFilterQuery {
    /// The store filter, every field checked.
    pub(crate) fn into_filter(self) -> Result<EventFilter, ApiError> {
        if let Some(t) = &self.event_type {
            if EventType::parse(t).is_none() {
                return Err(ApiError::invalid("event_type", "not a known event type"));
            }
        }
        if let Some(ip) = &self.attacker_ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(ApiError::invalid("attacker_ip", "not an IP address"));
            }
        }
        if let Some(s) = &self.search {
            if s.chars().count() > MAX_SEARCH_CHARS {
                return Err(ApiError::invalid(
                    "search",
                    format!("must be at most {MAX_SEARCH_CHARS} characters"),
                ));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s > e {
                return Err(ApiError::invalid("start", "must not be after end"));
            }
        }
        Ok(EventFilter {
            decky: self.decky,
            service: self.service,
            event_type: self.event_type,
            attacker_ip: self.attacker_ip,
            attacker_uuid: None,
            session_id: self.session_id,
            search: self.search.filter(|s| !s.is_empty()),
            start: self.start,
            end: self.end,
        })
    }
}

/// `/logs` parameters (no `#[serde(flatten)]`: it would turn numbers into
/// strings and lose the field names of errors).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    /// Exact decky name.
    decky: Option<String>,
    /// Exact service name.
    service: Option<String>,
    /// Exact event type (`connect`, `login_attempt`, …).
    event_type: Option<String>,
    /// Exact source IP.
    attacker_ip: Option<String>,
    /// Session id.
    session_id: Option<Uuid>,
    /// Case-insensitive substring of the event JSON, at most 512 characters.
    #[param(max_length = 512)]
    search: Option<String>,
    /// Inclusive lower bound, RFC 3339 (`2024-05-01T00:00:00Z`).
    start: Option<DateTime<Utc>>,
    /// Exclusive upper bound, RFC 3339.
    end: Option<DateTime<Utc>>,
    /// Rows per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Stored events, newest first.
#[utoipa::path(
    get, path = "/api/v1/logs", tag = "logs",
    params(LogsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = Page<EventDoc>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    Fresh(snapshot): Fresh,
    uri: Uri,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    // Only the newest page of a query is cached: it is what dashboards poll.
    let key = match (&q.cursor, &snapshot) {
        (None, Some(_)) => Some(uri.query().unwrap_or_default().to_owned()),
        _ => None,
    };
    let generation = snapshot.as_ref().map(|s| &s.ingest);
    if let (Some(k), Some(g)) = (&key, generation) {
        if let Some(body) = state.logs_cache().get(g, k) {
            return Ok(json_response(body));
        }
    }
    let page = page_request(q.limit, q.cursor)?;
    let filter = EventFilterQuery {
        decky: q.decky,
        service: q.service,
        event_type: q.event_type,
        attacker_ip: q.attacker_ip,
        session_id: q.session_id,
        search: q.search,
        start: q.start,
        end: q.end,
    }
    .into_filter()?;
    // Read after the generation was (the request's snapshot predates this
    // query), so the page is at least as new as the generation it is kept under.
    let p = state.store().list_events(&filter, &page).await?;
    let body = serde_json::to_vec(&Page::from_store(p, EventOut::from_stored))
        .map(Bytes::from)
        .map_err(ApiError::internal)?;
    if let (Some(k), Some(g)) = (key, generation) {
        state.logs_cache().put(g, k, body.clone());
    }
    Ok(json_response(body))
}

fn json_response(body: Bytes) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Most pages [`PageCache`] keeps.
const CACHE_PAGES: usize = 64;
/// Most bytes [`PageCache`] keeps, all pages together.
const CACHE_BYTES: usize = 16 << 20;

/// Response bodies of `/logs` first pages, by query string, all built after
/// one ingest generation was read: a request whose own (fresh) generation is
/// that one gets the body; any other generation empties the cache. Bounded
/// by page count and bytes.
#[derive(Debug, Default)]
pub(crate) struct PageCache {
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    generation: Option<IngestGeneration>,
    pages: HashMap<String, Bytes>,
    bytes: usize,
}

impl PageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic mid-update leaves at worst a page too few or a stale byte count.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body kept for `key` under `generation`.
    fn get(&self, generation: &IngestGeneration, key: &str) -> Option<Bytes> {
        let s = self.lock();
        if s.generation.as_ref() != Some(generation) {
            return None;
        }
        s.pages.get(key).cloned()
    }

    /// Keeps `body` for `key`, built after `generation` was read.
    fn put(&self, generation: &IngestGeneration, key: String, body: Bytes) {
        if body.len() > CACHE_BYTES / 4 {
            return;
        }
        let mut s = self.lock();
        if s.generation.as_ref() != Some(generation) {
            s.generation = Some(generation.clone());
            s.pages.clear();
            s.bytes = 0;
        }
        while s.pages.len() >= CACHE_PAGES || s.bytes + body.len() > CACHE_BYTES {
            let Some(k) = s.pages.keys().next().cloned() else {
                break;
            };
            if let Some(old) = s.pages.remove(&k) {
                s.bytes -= old.len();
            }
        }
        s.bytes += body.len();
        if let Some(old) = s.pages.insert(key, body) {
            s.bytes -= old.len();
        }
    }

    /// Pages kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().pages.len()
    }
}

/// The snapshot the request was authenticated with, when it was.
pub(crate) struct Fresh(Option<Arc<Snapshot>>);

impl<S: Send + Sync> FromRequestParts<S> for Fresh {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Fresh(parts.extensions.get::<Arc<Snapshot>>().cloned()))
    }
}

/// `/logs/histogram` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistogramQuery {
    /// Bucket width in seconds, 1–86400 (default 60); the range may span at most 10,000 buckets.
    #[param(minimum = 1, maximum = 86400)]
    bucket: Option<u32>,
    /// Exact decky name.
    decky: Option<String>,
    /// Exact service name.
    service: Option<String>,
    /// Exact event type.
    event_type: Option<String>,
    /// Exact source IP.
    attacker_ip: Option<String>,
    /// Case-insensitive substring of the event JSON, at most 512 characters.
    search: Option<String>,
    /// Range start, RFC 3339 (default: 24 h before `end`).
    start: Option<DateTime<Utc>>,
    /// Range end, RFC 3339 (default: now, rounded up to the whole minute).
    end: Option<DateTime<Utc>>,
}

/// `t` rounded up to the whole minute: a default range on minute boundaries
/// is answered from the per-minute counters alone (no minute is cut).
fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let us = t.timestamp_micros();
    let rounded = us
        .div_euclid(60_000_000)
        .saturating_add(i64::from(us.rem_euclid(60_000_000) != 0));
    DateTime::from_timestamp_micros(rounded.saturating_mul(60_000_000)).unwrap_or(t)
}

/// Event counts per time bucket.
#[utoipa::path(
    get, path = "/api/v1/logs/histogram", tag = "logs",
    params(HistogramQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every bucket of the range", body = HistogramDto),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn histogram(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<HistogramQuery>,
) -> Result<axum::Json<HistogramDto>, ApiError> {
    let bucket = q.bucket.unwrap_or(DEFAULT_BUCKET_SECS);
    if !(1..=MAX_BUCKET_SECS).contains(&bucket) {
        return Err(ApiError::invalid(
            "bucket",
            format!("must be between 1 and {MAX_BUCKET_SECS} seconds"),
        ));
    }
    let end = q.end.unwrap_or_else(|| next_minute(Utc::now()));
    let start = q.start.unwrap_or(end - Duration::hours(24));
    let filter = EventFilterQuery {
        decky: q.decky,
        service: q.service,
        event_type: q.event_type,
        attacker_ip: q.attacker_ip,
        session_id: None,
        search: q.search,
        start: Some(start),
        end: Some(end),
    }
    .into_filter()?;
    let buckets = state
        .store()
        .histogram(&filter, bucket, start, end)
        .await?
        .into_iter()
        .map(|b| BucketDto {
            start: b.start,
            count: b.count,
        })
        .collect();
    Ok(axum::Json(HistogramDto {
        bucket,
        start,
        end,
        buckets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{router, ApiConfig, JwtSecret};
    use axum::body::Body;
    use decnet_core::EventType;
    use decnet_store::testing::{ev, put};
    use decnet_store::{NewUser, Role, Store};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn the_cache_is_bounded_and_forgets_everything_at_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let g0 = store.ingest_generation().await.unwrap();
        put(
            &store,
            &[ev(0, "web1", "ssh", EventType::Connect, "203.0.113.5")],
        )
        .await;
        let g1 = store.ingest_generation().await.unwrap();
        assert_ne!(g0, g1, "an ingest commit moves the generation");
        let cache = PageCache::default();
        for i in 0..(CACHE_PAGES * 2) {
            cache.put(&g0, format!("limit={i}"), Bytes::from(vec![b'x'; 100]));
        }
        assert_eq!(cache.len(), CACHE_PAGES);
        let big = Bytes::from(vec![b'y'; CACHE_BYTES / 4 - 1]);
        for i in 0..8 {
            cache.put(&g0, format!("big={i}"), big.clone());
        }
        assert!(cache.lock().bytes <= CACHE_BYTES);
        assert_eq!(cache.get(&g0, "big=7"), Some(big.clone()));
        assert_eq!(cache.get(&g1, "big=7"), None, "another generation misses");
        cache.put(&g1, "limit=1".into(), Bytes::from_static(b"{}"));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&g0, "big=7"), None);
    }

    #[tokio::test]
    async fn a_first_page_is_kept_until_an_ingest_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        put(
            &store,
            &[
                ev(0, "web1", "ssh", EventType::Connect, "203.0.113.5"),
                ev(1, "web1", "ssh", EventType::Disconnect, "203.0.113.5"),
            ],
        )
        .await;
        let user = store
            .create_user(&NewUser {
                username: "v".into(),
                password_hash: "x".into(),
                role: Role::Viewer,
                must_change_password: false,
            })
            .await
            .unwrap();
        let secret = JwtSecret::new(b"0f1e2d3c4b5a69788796a5b4c3d2e1f0-unit-secret", "t").unwrap();
        let state = AppState::new(store.clone(), &secret, &ApiConfig::default(), dir.path());
        let token = state.keys().issue(&user).unwrap();
        let get = |uri: String| {
            let app = router(state.clone());
            let token = token.clone();
            async move {
                let req = axum::http::Request::get(uri)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap();
                let resp = app.oneshot(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                (body, v)
            }
        };
        let (first, page) = get("/api/v1/logs?limit=1".into()).await;
        assert_eq!(state.logs_cache().len(), 1, "the first page was kept");
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        get(format!("/api/v1/logs?limit=1&cursor={cursor}")).await;
        assert_eq!(state.logs_cache().len(), 1, "later pages are not");
        assert_eq!(
            get("/api/v1/logs?limit=1".into()).await.0,
            first,
            "served as built"
        );
        put(
            &store,
            &[ev(5, "db1", "mysql", EventType::Connect, "198.51.100.7")],
        )
        .await;
        let (after, v) = get("/api/v1/logs?limit=1".into()).await;
        assert_ne!(after, first);
        assert_eq!(v["items"][0]["decky"], "db1");
    }
}
