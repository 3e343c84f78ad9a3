//! `/users`: admin-only CRUD, its guards and validation.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_viewer_cannot_mutate_or_list_accounts() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let viewer = api.viewer("vera").await;
    let admin_uuid = api.get("/api/v1/auth/me", &admin).await.body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls = [
        req(Method::GET, "/api/v1/users", Some(&viewer), None),
        req(
            Method::POST,
            "/api/v1/users",
            Some(&viewer),
            Some(json!({"username": "evil", "role": "admin", "password": "abcdefghijklmnop"})),
        ),
        req(
            Method::GET,
            &format!("/api/v1/users/{admin_uuid}"),
            Some(&viewer),
            None,
        ),
        req(
            Method::PUT,
            &format!("/api/v1/users/{admin_uuid}/role"),
            Some(&viewer),
            Some(json!({"role": "viewer"})),
        ),
        req(
            Method::PUT,
            &format!("/api/v1/users/{admin_uuid}/password"),
            Some(&viewer),
            Some(json!({"password": "abcdefghijklmnop"})),
        ),
        req(
            Method::DELETE,
            &format!("/api/v1/users/{admin_uuid}"),
            Some(&viewer),
            None,
        ),
    ];
    for c in calls {
        let what = format!("{} {}", c.method(), c.uri());
        let r = api.call(c).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(r.code(), "forbidden", "{what}");
    }
    // Nothing changed.
    assert_eq!(api.store.list_users().await.unwrap().len(), 2);
    // Reads are fine for a viewer.
    assert_eq!(
        api.get("/api/v1/logs", &viewer).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_creates_reads_changes_resets_and_deletes_accounts() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "bob", "role": "viewer", "password": "bobs-first-password"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["must_change_password"], true);
    assert_eq!(r.body["role"], "viewer");
    let uuid = r.body["uuid"].as_str().unwrap().to_owned();
    // Bob must change his password first.
    let bob = api.login("bob", "bobs-first-password").await;
    assert_eq!(
        api.get("/api/v1/logs", &bob).await.code(),
        "password_change_required"
    );

    let dup = api
        .call(req(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "bob", "role": "admin", "password": "another-password"})),
        ))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let r = api.get(&format!("/api/v1/users/{uuid}"), &admin).await;
    assert_eq!(r.body["username"], "bob");
    // Two accounts over two pages, neither repeated.
    let p1 = api.get("/api/v1/users?limit=1", &admin).await;
    assert_eq!(p1.body["items"][0]["username"], "admin");
    let c = p1.body["next_cursor"].as_str().unwrap();
    let p2 = api
        .get(&format!("/api/v1/users?limit=1&cursor={c}"), &admin)
        .await;
    assert_eq!(p2.body["items"][0]["username"], "bob");
    assert!(p2.body["next_cursor"].is_null());

    let r = api
        .call(req(
            Method::PUT,
            &format!("/api/v1/users/{uuid}/role"),
            Some(&admin),
            Some(json!({"role": "admin"})),
        ))
        .await;
    assert_eq!(r.body["role"], "admin");
    let r = api
        .call(req(
            Method::PUT,
            &format!("/api/v1/users/{uuid}/password"),
            Some(&admin),
            Some(json!({"password": "reset-password-123"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["must_change_password"], true);
    api.login("bob", "reset-password-123").await;

    let r = api
        .call(req(
            Method::DELETE,
            &format!("/api/v1/users/{uuid}"),
            Some(&admin),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.get(&format!("/api/v1/users/{uuid}"), &admin).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn the_last_admin_and_yourself_are_protected() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let me = api.get("/api/v1/auth/me", &admin).await.body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call(req(
            Method::DELETE,
            &format!("/api/v1/users/{me}"),
            Some(&admin),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = api
        .call(req(
            Method::PUT,
            &format!("/api/v1/users/{me}/role"),
            Some(&admin),
            Some(json!({"role": "viewer"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // With a second admin, the first may be demoted (by the second).
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "ann", "role": "admin", "password": "anns-first-password"})),
        ))
        .await;
    let ann_uuid = r.body["uuid"].as_str().unwrap().to_owned();
    let r = api
        .call(req(
            Method::PUT,
            &format!("/api/v1/users/{me}/role"),
            Some(&admin),
            Some(json!({"role": "viewer"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Now ann is the last admin: she cannot be deleted by anyone left.
    let t = api.login("ann", "anns-first-password").await;
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&t),
            Some(
                json!({"old_password": "anns-first-password", "new_password": "anns-new-password"}),
            ),
        ))
        .await;
    let ann = r.body["access_token"].as_str().unwrap().to_owned();
    let r = api
        .call(req(
            Method::DELETE,
            &format!("/api/v1/users/{ann_uuid}"),
            Some(&ann),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn account_fields_are_validated_by_name() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let create =
        |body: serde_json::Value| req(Method::POST, "/api/v1/users", Some(&admin), Some(body));
    let cases = [
        (
            json!({"username": "a b", "role": "viewer", "password": "abcdefghijklmnop"}),
            "username",
        ),
        (
            json!({"username": "", "role": "viewer", "password": "abcdefghijklmnop"}),
            "username",
        ),
        (
            json!({"username": "ok", "role": "root", "password": "abcdefghijklmnop"}),
            "role",
        ),
        (
            json!({"username": "ok", "role": "viewer", "password": "short"}),
            "password",
        ),
        (json!({"username": "ok", "role": "viewer"}), "password"),
        (
            json!({"username": 5, "role": "viewer", "password": "abcdefghijklmnop"}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let r = api.call(create(body.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.field(), field, "{body}: {:?}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(field));
    }
    let r = api.get("/api/v1/users/not-a-uuid", &admin).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "uuid")
    );
    let r = api
        .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()), &admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
