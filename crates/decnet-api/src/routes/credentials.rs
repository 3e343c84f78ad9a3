//! `/credentials`: captured credentials and secrets reused across targets.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::dto::{CredentialDto, Page, ReuseGroupDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::routes::page_request;
use crate::AppState;

/// `/credentials` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialsQuery {
    /// Exact principal (user name).
    principal: Option<String>,
    /// Exact secret kind (`password`, `ntlmssp_v2`, …).
    secret_kind: Option<String>,
    /// Decky.
    decky: Option<String>,
    /// Service.
    service: Option<String>,
    /// Attacker UUID.
    attacker_uuid: Option<Uuid>,
    /// Rows per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Captured credentials, newest first.
#[utoipa::path(
    get, path = "/api/v1/credentials", tag = "credentials",
    params(CredentialsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of credentials", body = Page<CredentialDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<CredentialsQuery>,
) -> Result<axum::Json<Page<CredentialDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let filter = decnet_store::CredentialFilter {
        principal: q.principal,
        secret_kind: q.secret_kind,
        decky: q.decky,
        service: q.service,
        attacker_uuid: q.attacker_uuid,
    };
    let p = state.store().list_credentials(&filter, &page).await?;
    Ok(axum::Json(Page::try_from_store(
        p,
        CredentialDto::try_from,
    )?))
}

/// `/credentials/reuse` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReuseQuery {
    /// How many groups, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Secrets tried against two or more deckies or for two or more principals,
/// most captured first. Each group carries exact counts and at most the first
/// 20 deckies, principals and attackers. The ranking is live: while captures
/// arrive a group can move between pages.
#[utoipa::path(
    get, path = "/api/v1/credentials/reuse", tag = "credentials",
    params(ReuseQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reuse groups", body = Page<ReuseGroupDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad parameter (named)", body = ErrorBody),
    )
)]
pub(crate) async fn reuse(
    State(state): State<AppState>,
    _user: AuthUser,
    Query(q): Query<ReuseQuery>,
) -> Result<axum::Json<Page<ReuseGroupDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let p = state.store().credential_reuse(&page).await?;
    Ok(axum::Json(Page::try_from_store(
        p,
        ReuseGroupDto::try_from,
    )?))
}
