//! The OpenAPI document: the info, tags and bearer scheme declared here, and
//! every operation taken from the one route table (`routes::routes`).

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

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
        let (_, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(routes::routes())
            .split_for_parts();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "OpenAPI document does not serialise");
            "{}".to_owned()
        })
    })
    .clone()
}
