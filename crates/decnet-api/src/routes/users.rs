//! `/users`: account administration (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use decnet_store::{NewUser, Role, User};
use uuid::Uuid;

use crate::auth::{check_password_policy, hash_password, AdminUser};
use crate::dto::{
    CreateUserRequest, Page, PageQuery, ResetPasswordRequest, SetRoleRequest, UserDto,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, Json, PathParam, Query};
use crate::routes::page_request;
use crate::AppState;

fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "must be 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

async fn load(state: &AppState, uuid: Uuid) -> Result<User, ApiError> {
    state
        .store()
        .user(uuid)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

async fn admin_count(state: &AppState) -> Result<usize, ApiError> {
    Ok(state
        .store()
        .list_users()
        .await?
        .iter()
        .filter(|u| u.role == Role::Admin)
        .count())
}

/// Lists accounts by username.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accounts", body = Page<UserDto>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad parameter", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<UserDto>>, ApiError> {
    let page = page_request(q.limit, q.cursor)?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after = match &page.cursor {
        Some(c) => Some(
            b64.decode(c)
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
                .ok_or_else(|| ApiError::invalid("cursor", "not a cursor returned by this API"))?,
        ),
        None => None,
    };
    // Accounts are few: page over the ordered list in memory.
    let mut users: Vec<User> = state
        .store()
        .list_users()
        .await?
        .into_iter()
        .filter(|u| {
            after
                .as_ref()
                .is_none_or(|a| u.username.as_str() > a.as_str())
        })
        .collect();
    let limit = page.limit as usize;
    let next_cursor = if users.len() > limit {
        users.truncate(limit);
        users.last().map(|u| b64.encode(&u.username))
    } else {
        None
    };
    Ok(axum::Json(Page {
        items: users.into_iter().map(UserDto::from).collect(),
        next_cursor,
    }))
}

/// Creates an account that must change its password at first login.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = UserDto),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<UserDto>), ApiError> {
    check_username(&req.username)?;
    check_password_policy("password", &req.password)?;
    let hash = hash_password(req.password).await?;
    let user = state
        .store()
        .create_user(&NewUser {
            username: req.username,
            password_hash: hash,
            role: req.role.into(),
            must_change_password: true,
        })
        .await?;
    tracing::info!(by = %admin.username, username = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// One account.
#[utoipa::path(
    get, path = "/api/v1/users/{uuid}", tag = "users",
    params(("uuid" = Uuid, Path, description = "User UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserDto),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    _admin: AdminUser,
    PathParam(uuid): PathParam,
) -> Result<axum::Json<UserDto>, ApiError> {
    let uuid = path_uuid("uuid", &uuid)?;
    Ok(axum::Json(load(&state, uuid).await?.into()))
}

/// Changes an account's role (never demoting the last admin); revokes its
/// tokens (its open streams end).
#[utoipa::path(
    put, path = "/api/v1/users/{uuid}/role", tag = "users",
    params(("uuid" = Uuid, Path, description = "User UUID")),
    request_body = SetRoleRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = UserDto),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no admin", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub(crate) async fn set_role(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    PathParam(uuid): PathParam,
    Json(req): Json<SetRoleRequest>,
) -> Result<axum::Json<UserDto>, ApiError> {
    let uuid = path_uuid("uuid", &uuid)?;
    let _guard = state.lock_users().await;
    let user = load(&state, uuid).await?;
    let role: Role = req.role.into();
    if user.role == Role::Admin && role != Role::Admin && admin_count(&state).await? <= 1 {
        return Err(ApiError::Conflict("cannot demote the last admin".into()));
    }
    if user.role != role {
        state.store().bump_tokens_valid_from(uuid).await?;
        state.revoked(uuid);
        state.store().set_role(uuid, role).await?;
        tracing::info!(by = %admin.username, username = %user.username, role = role.as_str(), "role changed");
    }
    Ok(axum::Json(load(&state, uuid).await?.into()))
}

/// Sets a new initial password the user must change; revokes their tokens
/// (their open streams end).
#[utoipa::path(
    put, path = "/api/v1/users/{uuid}/password", tag = "users",
    params(("uuid" = Uuid, Path, description = "User UUID")),
    request_body = ResetPasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reset", body = UserDto),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    PathParam(uuid): PathParam,
    Json(req): Json<ResetPasswordRequest>,
) -> Result<axum::Json<UserDto>, ApiError> {
    let uuid = path_uuid("uuid", &uuid)?;
    check_password_policy("password", &req.password)?;
    let user = load(&state, uuid).await?;
    let hash = hash_password(req.password).await?;
    state.store().bump_tokens_valid_from(uuid).await?;
    state.revoked(uuid);
    if !state.store().set_password(uuid, &hash, true).await? {
        return Err(ApiError::NotFound("user"));
    }
    tracing::info!(by = %admin.username, username = %user.username, "password reset");
    Ok(axum::Json(load(&state, uuid).await?.into()))
}

/// Deletes an account (not your own, not the last admin); its open streams end.
#[utoipa::path(
    delete, path = "/api/v1/users/{uuid}", tag = "users",
    params(("uuid" = Uuid, Path, description = "User UUID")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Yourself or the last admin", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    PathParam(uuid): PathParam,
) -> Result<StatusCode, ApiError> {
    let uuid = path_uuid("uuid", &uuid)?;
    if uuid == admin.uuid {
        return Err(ApiError::Conflict("cannot delete your own account".into()));
    }
    let _guard = state.lock_users().await;
    let user = load(&state, uuid).await?;
    if user.role == Role::Admin && admin_count(&state).await? <= 1 {
        return Err(ApiError::Conflict("cannot delete the last admin".into()));
    }
    if !state.store().delete_user(uuid).await? {
        return Err(ApiError::NotFound("user"));
    }
    state.revoked(uuid);
    tracing::info!(by = %admin.username, username = %user.username, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
