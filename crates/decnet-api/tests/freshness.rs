//! What the API shares between requests (one user read for a round of
//! concurrent requests, the newest `/logs` pages) never outlives a change
//! committed to the database, whichever process committed it.

use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, StatusCode};
use axum::Router;
use decnet_api::{router, ApiConfig, AppState, JwtSecret};
use decnet_core::EventType;
use decnet_store::Store;
use serde_json::json;

use crate::support::{ev, put, req, send, Api, Resp, SECRET};

/// A second API process on the same database: its own pool and state.
async fn second_api(api: &Api) -> (Store, Router) {
    let store = Store::connect(api.data.to_str().unwrap()).await.unwrap();
    let secret = JwtSecret::new(SECRET, "test").unwrap();
    let state = AppState::new(store.clone(), &secret, &ApiConfig::default(), &api.data);
    let app = router(state).layer(MockConnectInfo(std::net::SocketAddr::from((
        [192, 0, 2, 2],
        5555,
    ))));
    (store, app)
}

async fn uuid_of(api: &Api, token: &str) -> String {
    api.get("/api/v1/auth/me", token).await.body["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `token` is refused on the very next request, on a cached route and on another.
async fn refused(api: &Api, token: &str, why: &str) {
    for path in ["/api/v1/logs?limit=50", "/api/v1/auth/me"] {
        let r = api.get(path, token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: GET {path}");
    }
}

async fn ok(r: Resp, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {:?}", r.body);
}

#[tokio::test]
async fn changes_made_through_a_second_api_revoke_tokens_on_the_next_request() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let reset = api.viewer("reset").await;
    let promoted = api.viewer("promoted").await;
    let deleted = api.viewer("deleted").await;
    let kept = api.viewer("kept").await;
    let (reset_id, promoted_id, deleted_id) = (
        uuid_of(&api, &reset).await,
        uuid_of(&api, &promoted).await,
        uuid_of(&api, &deleted).await,
    );
    // Every token works here, and the newest page of /logs is now cached.
    for t in [&admin, &reset, &promoted, &deleted, &kept] {
        ok(api.get("/api/v1/logs?limit=50", t).await, "before").await;
    }
    let (_other_store, other) = second_api(&api).await;
    let call = |m, uri: String, body| send(other.clone(), req(m, &uri, Some(&admin), body));

    ok(
        call(
            Method::PUT,
            format!("/api/v1/users/{reset_id}/password"),
            Some(json!({"password": "a-fresh-password-1"})),
        )
        .await,
        "reset",
    )
    .await;
    refused(&api, &reset, "password reset by the other API").await;

    ok(
        call(
            Method::PUT,
            format!("/api/v1/users/{promoted_id}/role"),
            Some(json!({"role": "admin"})),
        )
        .await,
        "role",
    )
    .await;
    refused(&api, &promoted, "role changed by the other API").await;

    let r = call(Method::DELETE, format!("/api/v1/users/{deleted_id}"), None).await;
    assert!(r.status.is_success(), "delete: {:?}", r.body);
    refused(&api, &deleted, "user deleted by the other API").await;

    // The admin changes its own password there; its old token dies here too.
    let r = send(
        other.clone(),
        req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&admin),
            Some(json!({"old_password": crate::support::ADMIN_PW, "new_password": "admin-pw-number-3"})),
        ),
    )
    .await;
    ok(r, "own password").await;
    refused(&api, &admin, "own password changed through the other API").await;

    // Untouched accounts still work.
    ok(api.get("/api/v1/logs?limit=50", &kept).await, "kept").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_after_a_revocation_are_all_refused() {
    let api = Api::new().await;
    let viewer = api.viewer("v").await;
    let id = uuid::Uuid::parse_str(&uuid_of(&api, &viewer).await).unwrap();
    ok(api.get("/api/v1/logs", &viewer).await, "before").await;
    // A CLI-like writer on its own pool.
    let other = Store::connect(api.data.to_str().unwrap()).await.unwrap();
    other.bump_tokens_valid_from(id).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (app, t) = (api.app(), viewer.clone());
            let path = if i % 2 == 0 {
                "/api/v1/logs"
            } else {
                "/api/v1/stats"
            };
            tokio::spawn(async move { send(app, req(Method::GET, path, Some(&t), None)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_newest_logs_page_shows_an_event_committed_by_another_ingester() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    put(
        &api.store,
        &[
            ev(0, "web1", "ssh", EventType::Connect, "203.0.113.5"),
            ev(10, "web1", "ssh", EventType::Disconnect, "203.0.113.5"),
        ],
    )
    .await;
    let first = api.get("/api/v1/logs?limit=1", &t).await;
    let again = api.get("/api/v1/logs?limit=1", &t).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text, again.text, "the same page twice, byte for byte");
    assert_eq!(
        first.headers.get("content-type").unwrap(),
        "application/json"
    );

    // Another process's ingester commits a newer event.
    let other = Store::connect(api.data.to_str().unwrap()).await.unwrap();
    let newer = ev(20, "db1", "mysql", EventType::Connect, "198.51.100.7");
    put(&other, std::slice::from_ref(&newer)).await;
    let after = api.get("/api/v1/logs?limit=1", &t).await;
    assert_eq!(after.body["items"][0]["id"], newer.id.to_string());
    assert_eq!(
        after.body["items"][0]["attacker_uuid"]
            .as_str()
            .map(str::len),
        Some(36)
    );
    // The filtered first page and the full one agree on it.
    let by_decky = api.get("/api/v1/logs?decky=db1", &t).await;
    assert_eq!(by_decky.body["items"][0]["id"], newer.id.to_string());
}
