//! The route table: one module per resource, every path under `/api/v1`.

pub(crate) mod attackers;
pub(crate) mod auth;
pub(crate) mod credentials;
pub(crate) mod fleet;
pub(crate) mod logs;
pub(crate) mod sessions;
pub(crate) mod system;
pub(crate) mod users;

use std::any::Any;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use decnet_store::{PageRequest, MAX_PAGE};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::AppState;

/// Page size when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// Every route of the API, each declared once: `routes!` registers a handler
/// at the path and method its `#[utoipa::path]` names and adds that same
/// operation to the OpenAPI document, so the two cannot disagree.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::me))
        .routes(routes!(users::list))
        .routes(routes!(users::create))
        .routes(routes!(users::get_one))
        .routes(routes!(users::set_role))
        .routes(routes!(users::reset_password))
        .routes(routes!(users::delete))
        .routes(routes!(fleet::list))
        .routes(routes!(fleet::get_one))
        .routes(routes!(logs::list))
        .routes(routes!(logs::histogram))
        .routes(routes!(attackers::list))
        .routes(routes!(attackers::get_one))
        .routes(routes!(attackers::events))
        .routes(routes!(attackers::credentials))
        .routes(routes!(attackers::sessions))
        .routes(routes!(attackers::artifacts))
        .routes(routes!(sessions::transcript))
        .routes(routes!(credentials::list))
        .routes(routes!(credentials::reuse))
        .routes(routes!(system::stats))
        .routes(routes!(crate::stream::stream))
        .routes(routes!(system::health))
        .routes(routes!(system::openapi))
}

/// Unknown routes: 404 in the API's JSON shape.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

/// Known path, wrong method: 405 in the API's JSON shape.
pub(crate) async fn method_not_allowed() -> Response {
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail {
            code: "method_not_allowed".into(),
            message: "method not allowed on this route".into(),
            field: None,
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// A handler panicked: a bare 500 (the panic message stays in the log).
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    ApiError::internal(format!("handler panicked: {msg}")).into_response()
}

/// The peer address of the connection (proxies' forwarding headers are not
/// trusted: the API listens on loopback by default).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Also honours axum's `MockConnectInfo` in tests.
        Ok(ClientIp(
            ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The store's page request for a query, range-checked with the field named.
pub(crate) fn page_request(
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    if let Some(c) = &cursor {
        if c.is_empty() || c.len() > 256 {
            return Err(ApiError::invalid(
                "cursor",
                "not a cursor returned by this API",
            ));
        }
    }
    Ok(PageRequest::after(limit, cursor))
}
