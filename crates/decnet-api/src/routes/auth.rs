//! `/auth`: login with backoff, password change, who am I.

use crate::auth::{check_password_policy, hash_password, verify_password, AnyUser, AuthUser};
use crate::dto::{ChangePasswordRequest, LoginRequest, TokenResponse, UserDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::ClientIp;
use crate::AppState;
use axum::extract::State;

/// Longest username or password a login even looks at.
const MAX_LOGIN_FIELD: usize = 256;

fn token_response(state: &AppState, user: &decnet_store::User) -> Result<TokenResponse, ApiError> {
    Ok(TokenResponse {
        access_token: state.keys().issue(user)?,
        token_type: "bearer".into(),
        expires_in: state.keys().ttl.as_secs(),
        must_change_password: user.must_change_password,
    })
}

/// Exchanges a username and password for an access token.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 422, description = "Malformed body", body = ErrorBody),
        (status = 429, description = "Too many failures for this username from this address, or from this address overall; see Retry-After", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password checks in progress; see Retry-After", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    if req.username.is_empty() || req.username.chars().count() > MAX_LOGIN_FIELD {
        return Err(ApiError::invalid("username", "must be 1 to 256 characters"));
    }
    if req.password.chars().count() > MAX_LOGIN_FIELD {
        return Err(ApiError::invalid(
            "password",
            "must be at most 256 characters",
        ));
    }
    // Admitted before anything costly: the store lookup and argon2 run only
    // for attempts the backoff lets through.
    let attempt = state
        .limiter()
        .begin(&req.username, ip)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let user = match state.store().user_by_username(&req.username).await {
        Ok(u) => u,
        Err(e) => {
            attempt.abandon();
            return Err(e.into());
        }
    };
    let ok =
        match verify_password(req.password, user.as_ref().map(|u| u.password_hash.clone())).await {
            Ok(ok) => ok,
            // Saturated: the password was never checked.
            Err(e) => {
                attempt.abandon();
                return Err(e);
            }
        };
    match user {
        Some(user) if ok => {
            attempt.succeeded();
            tracing::info!(username = %user.username, ?ip, "login");
            Ok(axum::Json(token_response(&state, &user)?))
        }
        _ => {
            attempt.failed();
            tracing::info!(?ip, "failed login");
            Err(ApiError::Unauthorized("wrong username or password"))
        }
    }
}

/// Changes the caller's own password; every token issued before is revoked
/// (open streams end) and a fresh one is returned. Wrong `old_password`
/// guesses back off like failed logins, per (username, source) and per source.
#[utoipa::path(
    post, path = "/api/v1/auth/change-password", tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; a new token", body = TokenResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Wrong old password or new one too short/long/unchanged", body = ErrorBody),
        (status = 429, description = "Too many wrong old passwords; see Retry-After", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password checks in progress; see Retry-After", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AnyUser(user): AnyUser,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    check_password_policy("new_password", &req.new_password)?;
    if req.new_password == req.old_password {
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the old password",
        ));
    }
    let attempt = state
        .limiter()
        .begin(&user.username, ip)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let ok = match verify_password(req.old_password, Some(user.password_hash.clone())).await {
        Ok(ok) => ok,
        Err(e) => {
            attempt.abandon();
            return Err(e);
        }
    };
    if !ok {
        attempt.failed();
        tracing::info!(username = %user.username, ?ip, "wrong old password");
        return Err(ApiError::invalid(
            "old_password",
            "is not the current password",
        ));
    }
    attempt.succeeded();
    let hash = hash_password(req.new_password).await?;
    // Revoke first: if the second write fails the old password still works,
    // but no token issued under it does.
    state.store().bump_tokens_valid_from(user.uuid).await?;
    state.revoked(user.uuid);
    if !state.store().set_password(user.uuid, &hash, false).await? {
        return Err(ApiError::Unauthorized("account no longer exists"));
    }
    let user = state
        .store()
        .user(user.uuid)
        .await?
        .ok_or(ApiError::Unauthorized("account no longer exists"))?;
    tracing::info!(username = %user.username, "password changed");
    Ok(axum::Json(token_response(&state, &user)?))
}

/// The caller's account.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserDto),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Password change required", body = ErrorBody),
    )
)]
pub(crate) async fn me(AuthUser(user): AuthUser) -> axum::Json<UserDto> {
    axum::Json(user.into())
}
