//! Login, forced password change, token revocation, backoff, secrets.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Method, StatusCode};
use decnet_api::ratelimit::BackoffPolicy;
use decnet_api::{Bootstrap, JwtSecret};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn login_returns_a_bearer_token_flagging_the_forced_change() {
    let api = Api::new().await;
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_FIRST})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["must_change_password"], true);
    assert_eq!(r.body["expires_in"], 4 * 3600);
    assert!(r.body["access_token"].as_str().unwrap().split('.').count() == 3);

    let wrong = api
        .call(req(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "nope-nope-nope"})),
        ))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "unauthorized");
    let unknown = api
        .call(req(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ghost", "password": "nope-nope-nope"})),
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body, wrong.body,
        "unknown users look like wrong passwords"
    );
}

#[tokio::test]
async fn the_bootstrap_admin_must_change_its_password_before_anything_else() {
    let api = Api::new().await;
    let t = api.login("admin", ADMIN_FIRST).await;
    for uri in [
        "/api/v1/logs",
        "/api/v1/users",
        "/api/v1/stats",
        "/api/v1/auth/me",
        "/api/v1/stream",
    ] {
        let r = api.get(uri, &t).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(r.code(), "password_change_required", "{uri}");
    }
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/users",
            Some(&t),
            Some(json!({"username": "x", "role": "viewer", "password": "abcdefghijklmnop"})),
        ))
        .await;
    assert_eq!(r.code(), "password_change_required");

    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&t),
            Some(json!({"old_password": ADMIN_FIRST, "new_password": ADMIN_PW})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["must_change_password"], false);
    let fresh = r.body["access_token"].as_str().unwrap();
    assert_eq!(api.get("/api/v1/logs", fresh).await.status, StatusCode::OK);
    let me = api.get("/api/v1/auth/me", fresh).await;
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["role"], "admin");
    assert!(me.body.get("password_hash").is_none());
}

#[tokio::test]
async fn bootstrap_creates_the_admin_once_with_a_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let store = decnet_store::Store::connect(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let Bootstrap::Generated(pw) = decnet_api::bootstrap_admin(&store, None).await.unwrap() else {
        panic!("expected a generated password");
    };
    assert!(pw.len() >= 16);
    assert_eq!(
        decnet_api::bootstrap_admin(&store, None).await.unwrap(),
        Bootstrap::Existing
    );
    let api = Api::with_store(store, dir).await;
    api.login("admin", &pw).await;

    let dir = tempfile::tempdir().unwrap();
    let store = decnet_store::Store::connect(dir.path().to_str().unwrap())
        .await
        .unwrap();
    assert!(decnet_api::bootstrap_admin(&store, Some("short".into()))
        .await
        .is_err());
    assert_eq!(
        decnet_api::bootstrap_admin(&store, Some("long-enough-password".into()))
            .await
            .unwrap(),
        Bootstrap::FromEnv
    );
}

#[tokio::test]
async fn change_password_checks_old_new_and_length() {
    let api = Api::new().await;
    let t = api.login("admin", ADMIN_FIRST).await;
    let change = |old: &str, new: &str| {
        req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&t),
            Some(json!({"old_password": old, "new_password": new})),
        )
    };
    let r = api.call(change(ADMIN_FIRST, "short")).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "new_password")
    );
    let r = api.call(change(ADMIN_FIRST, &"x".repeat(129))).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "new_password")
    );
    let r = api.call(change(ADMIN_FIRST, ADMIN_FIRST)).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "new_password")
    );
    let r = api.call(change("not-the-old-one", ADMIN_PW)).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "old_password")
    );
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&t),
            Some(json!({"old_password": ADMIN_FIRST})),
        ))
        .await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "new_password")
    );
    assert_eq!(
        api.call(change(ADMIN_FIRST, &"y".repeat(128))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_issued_before_a_password_change_are_refused() {
    let api = Api::new().await;
    let first = api.login("admin", ADMIN_FIRST).await;
    let second = api.admin().await;
    // `first` was issued before the change: revoked although unexpired.
    let r = api.get("/api/v1/auth/me", &first).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/api/v1/auth/me", &second).await.status,
        StatusCode::OK
    );
    // The old password no longer logs in, the new one does.
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_FIRST})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let third = api.login("admin", ADMIN_PW).await;
    // A second change revokes the token used to make it.
    let r = api
        .call(req(
            Method::POST,
            "/api/v1/auth/change-password",
            Some(&third),
            Some(json!({"old_password": ADMIN_PW, "new_password": "yet-another-password"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/auth/me", &third).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/api/v1/auth/me", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_issued_before_a_role_change_are_refused() {
    let api = Api::new().await;
    let admin = api.admin().await;
    let viewer = api.viewer("vic").await;
    let uuid = api.get("/api/v1/auth/me", &viewer).await.body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call(req(
            Method::PUT,
            &format!("/api/v1/users/{uuid}/role"),
            Some(&admin),
            Some(json!({"role": "admin"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.get("/api/v1/auth/me", &viewer).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = api.login("vic", VIEWER_PW).await;
    assert_eq!(
        api.get("/api/v1/users", &again).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_or_missing_tokens_are_401() {
    let api = Api::new().await;
    let good = api.admin().await;
    let r = api.call(req(Method::GET, "/api/v1/logs", None, None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthorized");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    assert_eq!(
        api.get("/api/v1/logs", "garbage").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Signed with another secret.
    let other = JwtSecret::new(b"ffffeeeeddddccccbbbbaaaa99998888-other", "t").unwrap();
    let keys = decnet_api::auth::TokenKeys::new(&other, Duration::from_secs(60));
    let user = api.store.user_by_username("admin").await.unwrap().unwrap();
    let forged = keys.issue(&user).unwrap();
    assert_eq!(
        api.get("/api/v1/logs", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Expired (well signed, right issuer and audience).
    let now = chrono::Utc::now();
    let claims = decnet_api::auth::Claims {
        sub: user.uuid.to_string(),
        role: "admin".into(),
        iat: now.timestamp() - 7200,
        iat_us: now.timestamp_micros(),
        exp: now.timestamp() - 3600,
        jti: "x".into(),
        iss: "decnet".into(),
        aud: "decnet-api".into(),
    };
    let stale = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(
        api.get("/api/v1/logs", &stale).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The same claims unexpired are accepted: the refusal above was the expiry.
    let fresh = decnet_api::auth::Claims {
        exp: now.timestamp() + 3600,
        ..claims
    };
    let ok = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &fresh,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(api.get("/api/v1/logs", &ok).await.status, StatusCode::OK);
    // Tokens in the query string are not credentials.
    let r = api
        .call(req(
            Method::GET,
            &format!("/api/v1/logs?access_token={good}"),
            None,
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A deleted user's token stops working.
    let v = api.viewer("gone").await;
    let uuid = api.get("/api/v1/auth/me", &v).await.body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call(req(
            Method::DELETE,
            &format!("/api/v1/users/{uuid}"),
            Some(&good),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/auth/me", &v).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn login_from(ip: [u8; 4], user: &str, pw: &str) -> axum::http::Request<axum::body::Body> {
    let mut r = req(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"username": user, "password": pw})),
    );
    r.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((ip, 40000))));
    r
}

#[tokio::test]
async fn failed_logins_back_off_per_user_and_source_and_a_success_resets() {
    let mut api = Api::new().await;
    api.admin().await;
    // A long base delay so nothing expires while the test runs in real time;
    // time is then paused and advanced instead of slept. The per-source
    // budget is out of the way here (hardening.rs covers it).
    api.state = api.state.clone().with_login_backoff(BackoffPolicy {
        free_failures: 2,
        source_free_failures: 100,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(3600),
    });
    let a = [10, 0, 0, 1];
    for _ in 0..3 {
        let r = api.call(login_from(a, "admin", "wrong-password!")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Third failure: 60 s. Even the right password is not checked now.
    let r = api.call(login_from(a, "admin", ADMIN_PW)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "rate_limited");
    assert_eq!(r.headers["retry-after"], "60");
    // Keyed by (user, source): the user from another address is not locked
    // out by a stranger's failures here…
    let r = api.call(login_from([10, 0, 0, 2], "admin", ADMIN_PW)).await;
    assert_eq!(r.status, StatusCode::OK);
    // …and this address may still try another user (its own budget is larger).
    let r = api.call(login_from(a, "someone", "whatever-pass")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Unrelated user and address: unaffected.
    let r = api
        .call(login_from([10, 0, 0, 3], "someone", "whatever-pass"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Paused only while advancing: with the clock frozen, tokio would jump
    // it to the pool's timers whenever the test waits on SQLite's thread.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(60)).await;
    tokio::time::resume();
    // Another failure doubles the delay.
    let r = api.call(login_from(a, "admin", "wrong-again!!")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.call(login_from(a, "admin", ADMIN_PW)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((61..=120).contains(&retry), "{retry}");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(120)).await;
    tokio::time::resume();
    // A success resets the pair: the next failure is free again.
    let r = api.call(login_from(a, "admin", ADMIN_PW)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call(login_from(a, "admin", "wrong-password!")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.call(login_from(a, "admin", ADMIN_PW)).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn weak_jwt_secrets_are_refused_with_a_hint() {
    for weak in [
        &b"secret"[..],
        b"changeme",
        b"decnet",
        b"short-but-random-7f3a",
        b"secretsecretsecretsecretsecretsecret",
        b"changemechangemechangemechangeme",
        b"DECNETDECNETDECNETDECNETDECNETDECNET",
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let e = JwtSecret::new(weak, "DECNET_JWT_SECRET").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("DECNET_JWT_SECRET") && msg.contains("openssl rand"),
            "{msg}"
        );
    }
    assert!(JwtSecret::new(SECRET, "t").is_ok());
}

#[test]
fn a_generated_secret_is_kept_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt.secret");
    JwtSecret::load_or_generate(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = std::fs::read(&path).unwrap();
    assert!(first.len() >= 64);
    JwtSecret::load_or_generate(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first);
    // A weak value planted in the file is refused too.
    std::fs::write(&path, "changeme").unwrap();
    assert!(JwtSecret::load_or_generate(&path).is_err());
}
