//! `/logs`: stored events, filtered and keyset-paginated, and their histogram.

use std::net::IpAddr;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use decnet_core::EventType;
use decnet_store::{EventFilter, MAX_SEARCH_CHARS};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::dto::{BucketDto, EventDoc, EventOut, HistogramDto, Page};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
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
    Query(q): Query<LogsQuery>,
) -> Result<axum::Json<Page<EventOut>>, ApiError> {
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
    let p = state.store().list_events(&filter, &page).await?;
    Ok(axum::Json(Page::from_store(p, EventOut::from_stored)))
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
    /// Range end, RFC 3339 (default: now).
    end: Option<DateTime<Utc>>,
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
    let end = q.end.unwrap_or_else(Utc::now);
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
