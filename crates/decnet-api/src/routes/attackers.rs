//! `/attackers`: attackers and what each did.

use axum::extract::State;
use decnet_store::{AttackerFilter, AttackerSort};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::dto::{
    ArtifactDto, AttackerDto, CredentialDto, EventDoc, EventOut, Page, PageQuery, SessionDto,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, PathParam, Query};
use crate::routes::page_request;
use crate::AppState;

/// Attacker order (always descending).
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SortDto {
    /// Most recently active first.
    #[default]
    LastSeen,
    /// Most recently first seen first.
    FirstSeen,
    /// Most events first.
    EventCount,
}

/// `/attackers` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttackersQuery {
    /// Order: `last_seen` (default), `first_seen` or `event_count`, descending.
    sort: Option<SortDto>,
    /// Exact source IP.
    ip: Option<String>,
    /// Touched this decky.
    decky: Option<String>,
    /// Touched this service.
    service: Option<String>,
    /// Rows per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The previous page's `next_cursor` (valid only with the same `sort`).
    cursor: Option<String>,
}

/// Attackers, most recently active first unless sorted otherwise.
#[utoipa::path(
    get, path = "/api/v1/attackers", tag = "attackers",
    params(AttackersQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of attackers", body = Page<AttackerDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<AttackersQuery>,
) -> Result<axum::Json<Page<AttackerDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    if let Some(ip) = &q.ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ApiError::invalid("ip", "not an IP address"));
        }
    }
    let sort = match q.sort.unwrap_or_default() {
        SortDto::LastSeen => AttackerSort::LastSeen,
        SortDto::FirstSeen => AttackerSort::FirstSeen,
        SortDto::EventCount => AttackerSort::EventCount,
    };
    let filter = AttackerFilter {
        ip: q.ip,
        decky: q.decky,
        service: q.service,
    };
    let p = state.store().list_attackers(&filter, sort, &page).await?;
    Ok(axum::Json(Page::from_store(p, AttackerDto::from)))
}

async fn existing(state: &AppState, raw: &str) -> Result<Uuid, ApiError> {
    let uuid = path_uuid("uuid", raw)?;
    match state.store().attacker(uuid).await? {
        Some(_) => Ok(uuid),
        None => Err(ApiError::NotFound("attacker")),
    }
}

/// One attacker.
#[utoipa::path(
    get, path = "/api/v1/attackers/{uuid}", tag = "attackers",
    params(("uuid" = Uuid, Path, description = "Attacker UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The attacker", body = AttackerDto),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such attacker", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
) -> Result<axum::Json<AttackerDto>, ApiError> {
    let uuid = path_uuid("uuid", &raw)?;
    let a = state
        .store()
        .attacker(uuid)
        .await?
        .ok_or(ApiError::NotFound("attacker"))?;
    Ok(axum::Json(a.into()))
}

/// An attacker's events, newest first.
#[utoipa::path(
    get, path = "/api/v1/attackers/{uuid}/events", tag = "attackers",
    params(("uuid" = Uuid, Path, description = "Attacker UUID"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = Page<EventDoc>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such attacker", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<EventOut>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let uuid = existing(&state, &raw).await?;
    let p = state.store().attacker_events(uuid, &page).await?;
    Ok(axum::Json(Page::from_store(p, EventOut::from_stored)))
}

/// Credentials an attacker offered, newest first.
#[utoipa::path(
    get, path = "/api/v1/attackers/{uuid}/credentials", tag = "attackers",
    params(("uuid" = Uuid, Path, description = "Attacker UUID"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of credentials", body = Page<CredentialDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such attacker", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn credentials(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<CredentialDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let uuid = existing(&state, &raw).await?;
    let p = state.store().attacker_credentials(uuid, &page).await?;
    Ok(axum::Json(Page::try_from_store(
        p,
        CredentialDto::try_from,
    )?))
}

/// An attacker's sessions, newest first.
#[utoipa::path(
    get, path = "/api/v1/attackers/{uuid}/sessions", tag = "attackers",
    params(("uuid" = Uuid, Path, description = "Attacker UUID"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sessions", body = Page<SessionDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such attacker", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn sessions(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<SessionDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let uuid = existing(&state, &raw).await?;
    let p = state.store().attacker_sessions(uuid, &page).await?;
    Ok(axum::Json(Page::from_store(p, SessionDto::from)))
}

/// Files an attacker sent or asked for, newest first.
#[utoipa::path(
    get, path = "/api/v1/attackers/{uuid}/artifacts", tag = "attackers",
    params(("uuid" = Uuid, Path, description = "Attacker UUID"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of artifacts", body = Page<ArtifactDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such attacker", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn artifacts(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(raw): PathParam,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<ArtifactDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let uuid = existing(&state, &raw).await?;
    let p = state.store().attacker_artifacts(uuid, &page).await?;
    Ok(axum::Json(Page::from_store(p, ArtifactDto::from)))
}
