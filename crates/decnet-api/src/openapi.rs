//! The OpenAPI document: every route's `utoipa::path`, the bearer scheme.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from POST /api/v1/auth/login, in the Authorization header only",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DECNET API",
        description = "Read the honeypot fleet's captures and administer accounts. Errors are \
                       `{\"error\":{\"code\",\"message\"}}`; list routes return \
                       `{\"items\",\"next_cursor\"}`.",
    ),
    paths(
        routes::auth::login,
        routes::auth::change_password,
        routes::auth::me,
        routes::users::list,
        routes::users::create,
        routes::users::get_one,
        routes::users::set_role,
        routes::users::reset_password,
        routes::users::delete,
        routes::fleet::list,
        routes::fleet::get_one,
        routes::logs::list,
        routes::logs::histogram,
        routes::attackers::list,
        routes::attackers::get_one,
        routes::attackers::events,
        routes::attackers::credentials,
        routes::attackers::sessions,
        routes::attackers::artifacts,
        routes::sessions::transcript,
        routes::credentials::list,
        routes::credentials::reuse,
        routes::system::stats,
        crate::stream::stream,
        routes::system::health,
        routes::system::openapi,
    ),
    components(schemas(crate::error::ErrorBody, crate::routes::attackers::SortDto)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and password change"),
        (name = "users", description = "Accounts (admin only)"),
        (name = "deckies", description = "The running fleet"),
        (name = "logs", description = "Captured events"),
        (name = "attackers", description = "Attackers and their activity"),
        (name = "sessions", description = "Session recordings"),
        (name = "credentials", description = "Captured credentials and reuse"),
        (name = "stream", description = "Live feed (SSE)"),
        (name = "system", description = "Stats, health, this document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document as JSON (built once).
pub fn openapi_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "OpenAPI document does not serialise");
            "{}".to_owned()
        })
    })
    .clone()
}
