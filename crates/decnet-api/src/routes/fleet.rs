//! `/deckies`: the running fleet, as the binary described it.

use axum::extract::State;

use crate::auth::AuthUser;
use crate::dto::{DeckyInfo, Page};
use crate::error::{ApiError, ErrorBody};
use crate::extract::PathParam;
use crate::AppState;

/// Every running decky, by name (the fleet is small: one page).
#[utoipa::path(
    get, path = "/api/v1/deckies", tag = "deckies",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The fleet; next_cursor is always null", body = Page<DeckyInfo>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
) -> axum::Json<Page<DeckyInfo>> {
    let mut items = state.deckies().to_vec();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    axum::Json(Page {
        items,
        next_cursor: None,
    })
}

/// One decky.
#[utoipa::path(
    get, path = "/api/v1/deckies/{name}", tag = "deckies",
    params(("name" = String, Path, description = "Decky name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decky", body = DeckyInfo),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such decky", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    _user: AuthUser,
    PathParam(name): PathParam,
) -> Result<axum::Json<DeckyInfo>, ApiError> {
    state
        .deckies()
        .iter()
        .find(|d| d.name == name)
        .cloned()
        .map(axum::Json)
        .ok_or(ApiError::NotFound("decky"))
}
