//! The error shape everywhere: 404/405/400/415/422, 5xx without internals, CORS.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::IntoResponse as _;
use decnet_api::ApiError;
use http_body_util::BodyExt as _;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let api = Api::new().await;
    let t = api.admin().await;
    for uri in [
        "/",
        "/api/v1/nope",
        "/api/v2/logs",
        "/api/v1/logs/extra/segments",
    ] {
        let r = api.get(uri, &t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.code(), "not_found", "{uri}");
        assert!(r.body["error"]["message"].is_string());
    }
    let r = api.call(req(Method::GET, "/api/v1/nope", None, None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .call(req(Method::PATCH, "/api/v1/logs", Some(&t), None))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn body_errors_keep_the_json_shape() {
    let api = Api::new().await;
    let raw = |ct: &str, body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/auth/login")
            .header("content-type", ct)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let r = api.call(raw("application/json", "{not json")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let r = api.call(raw("text/plain", "{}")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let r = api
        .call(raw("application/json", r#"{"username":"admin"}"#))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "password")
    );
    let r = api
        .call(raw(
            "application/json; charset=utf-8",
            r#"{"username":"a","password":7}"#,
        ))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "password")
    );
    let r = api.call(raw("application/json", "[]")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = api
        .call(raw(
            "application/json",
            &json!({"username": "", "password": "x"}).to_string(),
        ))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "username")
    );
}

#[tokio::test]
async fn server_errors_never_carry_their_cause() {
    let resp =
        ApiError::internal("SELECT secret FROM users at /var/lib/decnet/decnet.db").into_response();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("SELECT") && !text.contains("/var/lib"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "internal_error");

    // A real failure: the database goes away under a running API.
    let api = Api::new().await;
    let t = api.admin().await;
    api.store.close().await;
    for uri in ["/api/v1/logs", "/api/v1/stats", "/api/v1/attackers"] {
        let r = api.get(uri, &t).await;
        assert!(r.status.is_server_error(), "{uri}: {}", r.status);
        assert!(r.body["error"]["code"].is_string(), "{uri}: {}", r.text);
        let lower = r.text.to_lowercase();
        for leak in ["pool", "sqlx", "sqlite", "closed", "decnet.db"] {
            assert!(!lower.contains(leak), "{uri} leaks {leak:?}: {}", r.text);
        }
    }
    let r = api
        .call(req(Method::GET, "/api/v1/health", None, None))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["database"], "error");
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v1/logs")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_answers_only_allowlisted_origins() {
    let api = Api::new().await;
    // No allowlist: no CORS headers at all.
    let r = api.call(preflight("https://soc.example.com")).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());

    let origins =
        decnet_api::parse_cors_origins("https://soc.example.com, http://localhost:3000/").unwrap();
    assert_eq!(
        origins,
        ["https://soc.example.com", "http://localhost:3000"]
    );
    let app = decnet_api::router(api.state.clone().with_cors_origins(origins));
    let r = send(app.clone(), preflight("https://soc.example.com")).await;
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://soc.example.com"
    );
    assert!(r.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let r = send(app.clone(), preflight("http://localhost:3000")).await;
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let r = send(app.clone(), preflight("https://evil.example.com")).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // Simple requests too, and error responses from allowed origins are readable.
    let mut get = req(Method::GET, "/api/v1/logs", None, None);
    get.headers_mut()
        .insert("origin", "https://soc.example.com".parse().unwrap());
    let r = send(app, get).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://soc.example.com"
    );

    for bad in ["*", "soc.example.com", "https://a.example/path", "ftp://x"] {
        assert!(decnet_api::parse_cors_origins(bad).is_err(), "{bad}");
    }
}

#[test]
fn listen_addresses_parse() {
    assert_eq!(decnet_api::DEFAULT_LISTEN.to_string(), "127.0.0.1:8000");
    assert_eq!(
        decnet_api::parse_listen("0.0.0.0:9000")
            .unwrap()
            .to_string(),
        "0.0.0.0:9000"
    );
    assert_eq!(
        decnet_api::parse_listen("8080").unwrap().to_string(),
        "127.0.0.1:8080"
    );
    assert_eq!(
        decnet_api::parse_listen("[::1]:8000").unwrap().to_string(),
        "[::1]:8000"
    );
    let e = decnet_api::parse_listen("localhost")
        .unwrap_err()
        .to_string();
    assert!(e.contains("localhost") && e.contains("ADDR:PORT"), "{e}");
    let c = decnet_api::ApiConfig::from_env(Some("127.0.0.1:0")).unwrap();
    assert_eq!(c.listen.port(), 0);
}

#[tokio::test]
async fn an_oversized_json_body_is_413_not_400() {
    let api = Api::new().await;
    // Past axum's default 2 MB body limit, well-formed JSON all the way.
    let big = format!(
        r#"{{"username":"admin","password":"{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let r = api
        .call(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(Body::from(big))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_a_422_naming_them() {
    let api = Api::new().await;
    let t = api.admin().await;
    // `/credentials` has no `search`: silently ignoring it returned everything unfiltered.
    for (uri, name) in [
        ("/api/v1/credentials?search=x", "search"),
        ("/api/v1/logs?limit=5&colour=red", "colour"),
        ("/api/v1/attackers?sort=last_seen&q=1", "q"),
    ] {
        let r = api.get(uri, &t).await;
        assert_eq!(
            (r.status, r.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, name),
            "{uri}: {:?}",
            r.body
        );
    }
    assert_eq!(
        api.get("/api/v1/logs?limit=5", &t).await.status,
        StatusCode::OK
    );
}
