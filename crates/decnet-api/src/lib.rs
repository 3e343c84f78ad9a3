//! DECNET's REST API (DESIGN §10): axum routes under `/api/v1`, bearer-token
//! auth with roles, an SSE stream fed by the bus, and the OpenAPI document.
//!
//! Layout: this file holds the wiring the binary calls ([`ApiConfig`],
//! [`AppState`], [`router`], [`serve`]); [`auth`] tokens, passwords and the
//! auth extractors; [`error`] the one error type and its JSON body;
//! [`extract`] JSON/query extractors whose rejections are that body;
//! [`ratelimit`] login backoff; [`password`] argon2 behind a bounded gate;
//! `listener` the HTTP accept loop (timeouts, connection cap); `routes/` one
//! module per resource; `stream` the SSE route; `transcript` the
//! session-shard reader; `openapi` the document.
//! The API reads the store and the bus, never a protocol module (DESIGN §2).
//!
//! Wiring (what `decnet up` does):
//! ```text
//! let config = ApiConfig::from_env(args.listen.as_deref())?;          // --listen / DECNET_API_LISTEN, CORS, TTL
//! let secret = JwtSecret::from_env_or_file(&data_dir)?;                // refuses weak DECNET_JWT_SECRET
//! if let Bootstrap::Generated(pw) =
//!     bootstrap_admin(&store, std::env::var(auth::ADMIN_PASSWORD_ENV).ok()).await? {
//!     println!("admin password (change it at first login): {pw}");   // print once, never log
//! }
//! let state = AppState::new(store, &secret, &config, &data_dir).with_bus(bus).with_deckies(fleet);
//! serve(&config, state, shutdown_signal).await?;
//! ```
//!
//! Authentication: every route needs a bearer token except `POST /auth/login`,
//! `GET /health` (a liveness probe: database/bus status and worker names and
//! ages, nothing captured) and `GET /openapi.json`.

pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
mod fresh;
mod listener;
mod openapi;
pub mod password;
pub mod ratelimit;
mod routes;
mod stream;
pub mod transcript;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, Method};
use axum::Router;
use decnet_bus::{Bus, HealthRegistry};
use decnet_core::health::Condition;
use decnet_store::Store;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use auth::{bootstrap_admin, Bootstrap, JwtSecret, SecretError};
pub use dto::{DeckyInfo, DeckyService};
pub use error::ApiError;
pub use openapi::openapi_json;

/// Environment variable with the listen address (`ADDR:PORT`).
pub const LISTEN_ENV: &str = "DECNET_API_LISTEN";
/// Environment variable with the CORS allowlist (comma-separated origins).
pub const CORS_ENV: &str = "DECNET_CORS_ORIGINS";
/// Environment variable with the token lifetime in minutes.
pub const TOKEN_TTL_ENV: &str = "DECNET_JWT_EXP_MINUTES";
/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
/// Default token lifetime.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(4 * 60 * 60);

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The listen address does not parse.
    #[error("invalid API listen address {value:?} (expected ADDR:PORT, e.g. 127.0.0.1:8000)")]
    Listen {
        /// The value given.
        value: String,
    },
    /// A CORS origin is not `scheme://host[:port]`.
    #[error("invalid CORS origin {value:?} in {CORS_ENV} (expected e.g. https://soc.example.com; `*` is not allowed)")]
    CorsOrigin {
        /// The value given.
        value: String,
    },
    /// The token lifetime is not a positive number of minutes.
    #[error("invalid {TOKEN_TTL_ENV} {value:?} (expected minutes, 1 to 10080)")]
    TokenTtl {
        /// The value given.
        value: String,
    },
}

/// Startup failures of [`serve`].
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("API server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How the API listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Listen address (default 127.0.0.1:8000).
    pub listen: SocketAddr,
    /// Origins allowed by CORS; empty sends no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Access-token lifetime.
    pub token_ttl: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: DEFAULT_LISTEN,
            cors_origins: Vec::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
        }
    }
}

impl ApiConfig {
    /// The config from `--listen` (when given, else `DECNET_API_LISTEN`),
    /// `DECNET_CORS_ORIGINS` and `DECNET_JWT_EXP_MINUTES`.
    pub fn from_env(listen_flag: Option<&str>) -> Result<ApiConfig, ConfigError> {
        let env = |k| {
            std::env::var(k)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let mut c = ApiConfig::default();
        if let Some(l) = listen_flag.map(str::to_owned).or_else(|| env(LISTEN_ENV)) {
            c.listen = parse_listen(&l)?;
        }
        if let Some(o) = env(CORS_ENV) {
            c.cors_origins = parse_cors_origins(&o)?;
        }
        if let Some(m) = env(TOKEN_TTL_ENV) {
            let minutes: u64 = m
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=10_080).contains(n))
                .ok_or(ConfigError::TokenTtl { value: m.clone() })?;
            c.token_ttl = Duration::from_secs(minutes * 60);
        }
        Ok(c)
    }
}

/// Parses `ADDR:PORT` (`[v6]:PORT` for IPv6) or a bare port (on 127.0.0.1).
pub fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| ConfigError::Listen {
        value: s.to_owned(),
    })
}

/// Parses a comma-separated origin allowlist (`https://a.example, http://localhost:3000`).
pub fn parse_cors_origins(s: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for o in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let o = o.trim_end_matches('/');
        let bad = || ConfigError::CorsOrigin {
            value: o.to_owned(),
        };
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .ok_or_else(bad)?;
        if rest.is_empty()
            || rest.contains(['/', '*', ' ', '?', '#', '@'])
            || HeaderValue::from_str(o).is_err()
        {
            return Err(bad());
        }
        out.push(o.to_owned());
    }
    Ok(out)
}

/// Settings of the SSE stream (overridable for tests).
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Comment sent when nothing else was, to keep proxies from closing.
    pub keepalive: Duration,
    /// How often the store is polled when the bus is off.
    pub poll_interval: Duration,
    /// Events in the snapshot sent on connect.
    pub snapshot_events: u32,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            keepalive: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            snapshot_events: 20,
        }
    }
}

/// Limits of the API's HTTP listener (overridable for tests).
#[derive(Debug, Clone, Copy)]
pub struct ListenerSettings {
    /// A request head (request line and headers) must arrive within this
    /// long of hyper starting to wait for it. That clock also runs while a
    /// keep-alive connection waits for its next request, so it bounds idle
    /// keep-alive connections too.
    pub header_read_timeout: Duration,
    /// A connection on which nothing was read or written for this long while
    /// it waits on the peer (a stalled body, a response the client does not
    /// read) is closed. Keep it above the stream's keepalive interval.
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it new ones are closed at accept,
    /// so idle clients cannot exhaust the process's file descriptors.
    pub max_connections: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

#[derive(Clone)]
struct Inner {
    store: Store,
    keys: auth::TokenKeys,
    limiter: Arc<ratelimit::LoginLimiter>,
    /// Serialises user mutations so two requests cannot both remove "the
    /// other" admin and leave none.
    users_lock: Arc<tokio::sync::Mutex<()>>,
    bus: Option<Arc<dyn Bus>>,
    health: Option<HealthRegistry>,
    journal: Option<Condition>,
    deckies: Arc<Vec<DeckyInfo>>,
    data_dir: PathBuf,
    cors_origins: Vec<String>,
    stream: StreamSettings,
    listener: ListenerSettings,
    /// Users whose tokens were just revoked, so their open streams end at
    /// once instead of at the next periodic check.
    revocations: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// Users and ingest generation read after each request arrived, one read
    /// shared by concurrent requests.
    fresh: Arc<fresh::Gate>,
    /// The newest pages of `/logs`, valid while the ingest generation holds.
    logs_cache: Arc<routes::logs::PageCache>,
    started: Instant,
    shutdown: CancellationToken,
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("deckies", &self.inner.deckies.len())
            .field("bus", &self.inner.bus.is_some())
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`, signing tokens with `secret`; transcripts are read
    /// under `<data_dir>/artifacts`. No bus (the stream polls the store) and no
    /// deckies until set with the `with_*` methods.
    pub fn new(store: Store, secret: &JwtSecret, config: &ApiConfig, data_dir: &Path) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                keys: auth::TokenKeys::new(secret, config.token_ttl),
                limiter: Arc::new(ratelimit::LoginLimiter::new()),
                users_lock: Arc::default(),
                bus: None,
                health: None,
                journal: None,
                deckies: Arc::new(Vec::new()),
                data_dir: data_dir.to_path_buf(),
                cors_origins: config.cors_origins.clone(),
                stream: StreamSettings::default(),
                listener: ListenerSettings::default(),
                revocations: tokio::sync::broadcast::channel(64).0,
                fresh: Arc::default(),
                logs_cache: Arc::default(),
                started: Instant::now(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> AppState {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Uses `bus` for the live stream, and (inside a tokio runtime) listens to
    /// its worker heartbeats unless [`with_health`](Self::with_health) gave a registry.
    pub fn with_bus(self, bus: Arc<dyn Bus>) -> AppState {
        self.edit(|i| {
            if i.health.is_none() && tokio::runtime::Handle::try_current().is_ok() {
                match HealthRegistry::spawn(bus.as_ref()) {
                    Ok(r) => i.health = Some(r),
                    Err(e) => tracing::warn!(error = %e, "worker health unavailable"),
                }
            }
            i.bus = Some(bus);
        })
    }

    /// Reports worker health from this registry.
    pub fn with_health(self, registry: HealthRegistry) -> AppState {
        self.edit(|i| i.health = Some(registry))
    }

    /// Reports the journal's health: `/health` is 503 with the reason while it cannot record.
    pub fn with_journal(self, condition: Condition) -> AppState {
        self.edit(|i| i.journal = Some(condition))
    }

    /// The running fleet, as `GET /deckies` shows it.
    pub fn with_deckies(self, deckies: Vec<DeckyInfo>) -> AppState {
        self.edit(|i| i.deckies = Arc::new(deckies))
    }

    /// Overrides the CORS allowlist.
    pub fn with_cors_origins(self, origins: Vec<String>) -> AppState {
        self.edit(|i| i.cors_origins = origins)
    }

    /// Overrides the login backoff policy.
    pub fn with_login_backoff(self, policy: ratelimit::BackoffPolicy) -> AppState {
        self.edit(|i| i.limiter = Arc::new(ratelimit::LoginLimiter::with_policy(policy)))
    }

    /// Overrides the stream timings.
    pub fn with_stream_settings(self, s: StreamSettings) -> AppState {
        self.edit(|i| i.stream = s)
    }

    /// Overrides the listener's timeouts and connection cap.
    pub fn with_listener_settings(self, s: ListenerSettings) -> AppState {
        self.edit(|i| i.listener = s)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn keys(&self) -> &auth::TokenKeys {
        &self.inner.keys
    }

    pub(crate) fn limiter(&self) -> &ratelimit::LoginLimiter {
        &self.inner.limiter
    }

    pub(crate) async fn lock_users(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.users_lock.lock().await
    }

    pub(crate) fn bus(&self) -> Option<&Arc<dyn Bus>> {
        self.inner.bus.as_ref()
    }

    pub(crate) fn health(&self) -> Option<&HealthRegistry> {
        self.inner.health.as_ref()
    }

    pub(crate) fn journal(&self) -> Option<&Condition> {
        self.inner.journal.as_ref()
    }

    pub(crate) fn deckies(&self) -> &[DeckyInfo] {
        &self.inner.deckies
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub(crate) fn stream_settings(&self) -> StreamSettings {
        self.inner.stream
    }

    pub(crate) fn listener_settings(&self) -> ListenerSettings {
        self.inner.listener
    }

    /// Tells open streams that `user`'s tokens were revoked (they recheck and end).
    pub(crate) fn revoked(&self, user: uuid::Uuid) {
        // No receiver (no open stream) is not an error.
        let _ = self.inner.revocations.send(user);
    }

    pub(crate) fn revocations(&self) -> tokio::sync::broadcast::Receiver<uuid::Uuid> {
        self.inner.revocations.subscribe()
    }

    pub(crate) fn fresh(&self) -> &fresh::Gate {
        &self.inner.fresh
    }

    pub(crate) fn logs_cache(&self) -> &routes::logs::PageCache {
        &self.inner.logs_cache
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Cancelled when the server shuts down, so open SSE streams end and
    /// graceful shutdown does not wait on them forever.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }
}

/// The whole API as a router (tests drive it with `tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.inner.cors_origins);
    let (routes, _) = routes::routes().split_for_parts();
    let mut r = routes
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            routes::panic_response,
        ))
        .with_state(state);
    if let Some(c) = cors {
        r = r.layer(c);
    }
    r
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

/// Binds `config.listen` and serves until `shutdown` resolves.
pub async fn serve(
    config: &ApiConfig,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    tracing::info!(addr = %config.listen, "API listening");
    serve_on(listener, state, shutdown).await
}

/// Serves on an already bound listener until `shutdown` resolves; open SSE
/// streams are ended so shutdown completes. Connections get the limits of
/// [`ListenerSettings`] (header-read and idle timeouts, a connection cap).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let token = state.shutdown_token();
    let settings = state.listener_settings();
    let app = router(state);
    listener::run(listener, app, settings, shutdown, token.clone()).await;
    token.cancel();
    Ok(())
}
