//! [`ApiError`]: every failure a handler returns, mapped to a status code and the
//! `{"error":{"code","message"}}` body; 5xx bodies never carry internal detail.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use decnet_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Failures of the API, each with the status a client sees.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credentials (missing, malformed, expired or revoked token).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The account must change its password before anything else.
    #[error("password change required")]
    PasswordChangeRequired,
    /// No such resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An input is invalid; names the field.
    #[error("invalid {field}: {message}")]
    Validation {
        /// Which parameter or body field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request body is not JSON at all.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the API accepts.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The request conflicts with current state (username taken, last admin, …).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins; retry after this many seconds.
    #[error("too many failed attempts; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next attempt is accepted.
        retry_after: u64,
    },
    /// Too many password checks are running and waiting; retry after this
    /// many seconds (the bound that keeps argon2's memory in check).
    #[error("too many logins in progress; retry in {retry_after} s")]
    Overloaded {
        /// Seconds to wait before retrying.
        retry_after: u64,
    },
    /// A dependency (database) is unreachable.
    #[error("service unavailable")]
    Unavailable,
    /// Anything else: logged with its cause, answered with a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and human message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`unauthorized`, `validation_error`, …).
    pub code: String,
    /// Human-readable message; for 422 it names the field.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An internal error whose cause is logged, not returned.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::PasswordChangeRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PasswordChangeRequired => "password_change_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::Validation { .. } => "validation_error",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn body(&self) -> ErrorBody {
        let (message, field) = match self {
            // Never the cause: it may hold SQL, paths or library internals.
            ApiError::Internal(_) => ("internal server error".to_owned(), None),
            ApiError::Unavailable => ("a dependency is unavailable".to_owned(), None),
            ApiError::Validation { field, .. } => (self.to_string(), Some(field.clone())),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "api request failed"),
            ApiError::Unavailable => tracing::warn!("api dependency unavailable"),
            _ => {}
        }
        let status = self.status();
        let mut resp = (status, axum::Json(self.body())).into_response();
        match &self {
            ApiError::RateLimited { retry_after } | ApiError::Overloaded { retry_after } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp
    }
}

impl From<crate::password::Busy> for ApiError {
    fn from(_: crate::password::Busy) -> ApiError {
        ApiError::Overloaded {
            retry_after: crate::password::BUSY_RETRY_AFTER,
        }
    }
}

impl From<crate::password::HashError> for ApiError {
    fn from(e: crate::password::HashError) -> ApiError {
        match e {
            crate::password::HashError::Busy(b) => b.into(),
            crate::password::HashError::Argon2(cause) => ApiError::internal(cause),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Invalid { field, reason } => ApiError::invalid(field, reason),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Db(sqlx_err) if is_unavailable(&sqlx_err) => {
                tracing::warn!(error = %sqlx_err, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

/// A store error shared by every request that waited on one read (see `fresh`).
impl From<std::sync::Arc<StoreError>> for ApiError {
    fn from(e: std::sync::Arc<StoreError>) -> ApiError {
        match std::sync::Arc::try_unwrap(e) {
            Ok(e) => e.into(),
            Err(shared) => match &*shared {
                StoreError::Db(sqlx_err) if is_unavailable(sqlx_err) => {
                    tracing::warn!(error = %sqlx_err, "database unavailable");
                    ApiError::Unavailable
                }
                other => ApiError::internal(other),
            },
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}
