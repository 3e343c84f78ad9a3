//! `/stats`, `/health` and `/openapi.json`.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::dto::{HealthDto, StatsDto, WorkerDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::AppState;

/// `/stats` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    /// Entries in each top-N list, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    top: Option<u32>,
}

/// Totals and top-N lists.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "system",
    params(StatsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Totals and top values", body = StatsDto),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<StatsQuery>,
) -> Result<axum::Json<StatsDto>, ApiError> {
    let top = q.top.unwrap_or(10);
    if !(1..=100).contains(&top) {
        return Err(ApiError::invalid("top", "must be between 1 and 100"));
    }
    let s = state.store().stats(top).await?;
    Ok(axum::Json(StatsDto::new(s, state.deckies().len())))
}

/// Liveness of the API, its database, the bus and every worker heard on the
/// bus. Unauthenticated, like a load balancer's probe: it reveals worker
/// names and ages, nothing captured.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "system",
    responses(
        (status = 200, description = "Database answers and the journal records", body = HealthDto),
        (status = 503, description = "Database down or journal unable to record (same body, status `degraded`, `journal` says why)", body = HealthDto),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> axum::response::Response {
    let db_ok = match state.store().ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "health: database ping failed");
            false
        }
    };
    let workers = state
        .health()
        .map(|h| {
            h.snapshot()
                .into_iter()
                .map(|w| WorkerDto {
                    worker: w.worker,
                    status: if w.ok { "ok" } else { "stale" }.into(),
                    age_s: (w.age.as_secs_f64() * 10.0).round() / 10.0,
                })
                .collect()
        })
        .unwrap_or_default();
    let journal = state.journal().and_then(|c| c.degraded());
    let ok = db_ok && journal.is_none();
    let body = HealthDto {
        status: if ok { "ok" } else { "degraded" }.into(),
        uptime_s: state.uptime().as_secs(),
        database: if db_ok { "ok" } else { "error" }.into(),
        bus: if state.bus().is_some() {
            "enabled"
        } else {
            "disabled"
        }
        .into(),
        journal: journal.unwrap_or_else(|| "ok".into()),
        workers,
    };
    let status = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::openapi_json(),
    )
}
