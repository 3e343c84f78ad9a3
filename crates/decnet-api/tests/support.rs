//! An API over a fresh SQLite store in a tempdir, request helpers, fixtures.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use decnet_api::auth::hash_password;
use decnet_api::{router, ApiConfig, AppState, DeckyInfo, DeckyService, JwtSecret};
use decnet_store::{NewUser, Role, Store};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// The bootstrap admin's first password in tests.
pub const ADMIN_FIRST: &str = "first-admin-password";
/// The admin's password after the forced change.
pub const ADMIN_PW: &str = "the-admin-password-2";
/// Every viewer's password.
pub const VIEWER_PW: &str = "a-viewer-password";
/// A strong test secret.
pub const SECRET: &[u8] = b"0f1e2d3c4b5a69788796a5b4c3d2e1f0-test-secret";

/// A test API.
pub struct Api {
    pub state: AppState,
    pub store: Store,
    pub data: PathBuf,
    _dir: tempfile::TempDir,
}

/// A fleet of two deckies.
pub fn fleet() -> Vec<DeckyInfo> {
    vec![
        DeckyInfo {
            name: "web1".into(),
            ip: "127.42.0.10".parse().unwrap(),
            hostname: "web-01".into(),
            os_family: "linux".into(),
            distro: "debian".into(),
            archetype: Some("linux-server".into()),
            services: vec![
                DeckyService {
                    name: "ssh".into(),
                    port: 22,
                    transport: "tcp".into(),
                },
                DeckyService {
                    name: "http".into(),
                    port: 80,
                    transport: "tcp".into(),
                },
            ],
        },
        DeckyInfo {
            name: "db1".into(),
            ip: "127.42.0.11".parse().unwrap(),
            hostname: "db-01".into(),
            os_family: "linux".into(),
            distro: "rocky9".into(),
            archetype: None,
            services: vec![DeckyService {
                name: "mysql".into(),
                port: 3306,
                transport: "tcp".into(),
            }],
        },
    ]
}

impl Api {
    /// A fresh API with the bootstrap admin (must change `ADMIN_FIRST`).
    pub async fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(dir.path().to_str().unwrap()).await.unwrap();
        Api::with_store(store, dir).await
    }

    /// An API over `store`.
    pub async fn with_store(store: Store, dir: tempfile::TempDir) -> Api {
        decnet_api::bootstrap_admin(&store, Some(ADMIN_FIRST.into()))
            .await
            .unwrap();
        let secret = JwtSecret::new(SECRET, "test").unwrap();
        let state = AppState::new(store.clone(), &secret, &ApiConfig::default(), dir.path())
            .with_deckies(fleet());
        Api {
            state,
            store,
            data: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    /// The router, with connections appearing to come from 192.0.2.1.
    pub fn app(&self) -> Router {
        router(self.state.clone()).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 1], 5555))))
    }

    /// Sends one request through a fresh router.
    pub async fn call(&self, req: Request<Body>) -> Resp {
        send(self.app(), req).await
    }

    /// GET with a token.
    pub async fn get(&self, uri: &str, token: &str) -> Resp {
        self.call(req(Method::GET, uri, Some(token), None)).await
    }

    /// Logs in; panics unless 200.
    pub async fn login(&self, user: &str, pw: &str) -> String {
        let r = self
            .call(req(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({"username": user, "password": pw})),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The admin's token after the forced password change.
    pub async fn admin(&self) -> String {
        let t = self.login("admin", ADMIN_FIRST).await;
        let r = self
            .call(req(
                Method::POST,
                "/api/v1/auth/change-password",
                Some(&t),
                Some(serde_json::json!({"old_password": ADMIN_FIRST, "new_password": ADMIN_PW})),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// A viewer (no pending change) and its token.
    pub async fn viewer(&self, name: &str) -> String {
        self.store
            .create_user(&NewUser {
                username: name.into(),
                password_hash: hash_password(VIEWER_PW.into()).await.unwrap(),
                role: Role::Viewer,
                must_change_password: false,
            })
            .await
            .unwrap();
        self.login(name, VIEWER_PW).await
    }
}

/// A response, body parsed as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The error code of a JSON error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The field a 422 names.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

/// Sends one request.
pub async fn send(app: Router, req: Request<Body>) -> Resp {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

/// A request with an optional bearer token and JSON body.
pub fn req(method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

pub use decnet_store::testing::{at, ev, login as login_ev, put};

/// The API served on a real loopback socket by `serve_on`, stopped by [`Server::stop`].
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves `state` on 127.0.0.1 at any free port.
pub async fn start(state: AppState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        decnet_api::serve_on(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        stop: Some(tx),
        task,
    }
}

impl Server {
    /// Asks for a graceful shutdown and waits for it (open streams included).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("server shut down")
            .unwrap();
    }
}
