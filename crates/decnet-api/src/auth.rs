//! Authentication: the JWT secret (from `DECNET_JWT_SECRET` or `<data>/jwt.secret`),
//! HS256 access tokens, argon2 password hashes, the bootstrap admin, and the
//! extractors handlers use ([`AuthUser`], [`AdminUser`], [`AnyUser`]).
//!
//! Where credentials come from is one function, [`bearer_token`], so the
//! dashboard's cookie path (DESIGN §10) can be added beside it later.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use decnet_core::paths::DataDir;
use decnet_store::{NewUser, Role, Store, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::seq::SliceRandom as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::fresh::Lookup;
use crate::AppState;

/// Environment variable holding the JWT signing secret.
pub const JWT_SECRET_ENV: &str = "DECNET_JWT_SECRET";
/// Environment variable holding the bootstrap admin's first password.
pub const ADMIN_PASSWORD_ENV: &str = "DECNET_ADMIN_PASSWORD";
/// File under the data dir that keeps a generated secret.
pub const JWT_SECRET_FILE: &str = decnet_core::paths::JWT_SECRET_FILE;
/// The bootstrap admin's login name.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// Token issuer claim.
pub const ISSUER: &str = "decnet";
/// Token audience claim.
pub const AUDIENCE: &str = "decnet-api";
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Words that make a secret guessable however often they are repeated.
const WEAK_WORDS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "decnet",
    "password",
    "jwtsecret",
    "jwt-secret",
    "jwt_secret",
    "supersecret",
    "your-secret-key",
    "yoursecretkey",
    "default",
    "admin",
    "test",
    "0123456789",
    "1234567890",
];

/// Why a JWT secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `DECNET_JWT_SECRET` (or the secret file) holds a guessable value.
    #[error(
        "{origin} is too weak ({why}); set {JWT_SECRET_ENV} to at least {MIN_SECRET_BYTES} random \
         bytes, e.g. `export {JWT_SECRET_ENV}=$(openssl rand -hex 32)`, or unset it to have \
         DECNET generate one in <data>/{JWT_SECRET_FILE}"
    )]
    Weak {
        /// Where the value came from.
        origin: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The secret file could not be read or written.
    #[error("JWT secret file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The HS256 signing secret, checked not to be guessable.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    /// Accepts `value` if it is long and not a known-weak value.
    pub fn new(value: &[u8], origin: &str) -> Result<JwtSecret, SecretError> {
        let weak = |why| SecretError::Weak {
            origin: origin.to_owned(),
            why,
        };
        if value.len() < MIN_SECRET_BYTES {
            return Err(weak("shorter than 32 bytes"));
        }
        if value.windows(2).all(|w| w.first() == w.last()) {
            return Err(weak("one repeated character"));
        }
        let lower = String::from_utf8_lossy(value).to_ascii_lowercase();
        for w in WEAK_WORDS {
            // "secretsecret…" is as guessable as "secret".
            if lower.trim().len() >= w.len()
                && lower
                    .trim()
                    .as_bytes()
                    .chunks(w.len())
                    .all(|c| w.as_bytes().starts_with(c))
            {
                return Err(weak("a well-known default value"));
            }
        }
        Ok(JwtSecret(value.to_vec()))
    }

    /// `DECNET_JWT_SECRET` when set (refused if weak); otherwise the secret kept
    /// in `<data_dir>/jwt.secret`, generated (mode 0600) on first start.
    pub fn from_env_or_file(data_dir: &Path) -> Result<JwtSecret, SecretError> {
        match std::env::var(JWT_SECRET_ENV) {
            Ok(v) if !v.is_empty() => JwtSecret::new(v.as_bytes(), JWT_SECRET_ENV),
            _ => JwtSecret::load_or_generate(&DataDir::new(data_dir).jwt_secret()),
        }
    }

    /// Reads the secret at `path`, or writes a fresh random one there (mode 0600).
    pub fn load_or_generate(path: &Path) -> Result<JwtSecret, SecretError> {
        let io_err = |source| SecretError::File {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                if let Ok(meta) = std::fs::metadata(path) {
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), "JWT secret file is readable by others; chmod 600 it");
                    }
                }
                let trimmed = String::from_utf8_lossy(&bytes).trim().to_owned();
                JwtSecret::new(trimmed.as_bytes(), &path.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io_err)?;
                }
                let mut raw = [0u8; 32];
                rand::rngs::OsRng.fill(&mut raw);
                let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io_err)?;
                f.write_all(hex.as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
                    .and_then(|()| f.sync_all())
                    .map_err(io_err)?;
                tracing::info!(path = %path.display(), "generated a JWT secret");
                JwtSecret::new(hex.as_bytes(), &path.display().to_string())
            }
            Err(e) => Err(io_err(e)),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's UUID.
    pub sub: String,
    /// The role at issue time (the database's current role is what counts).
    pub role: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Issued at, microseconds: compared with `tokens_valid_from`, which is
    /// finer than a second, so a token from just before a password change
    /// is refused even within the same second.
    pub iat_us: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Issuer (`decnet`).
    pub iss: String,
    /// Audience (`decnet-api`).
    pub aud: String,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
    /// How long an issued token lives.
    pub ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("ttl", &self.ttl).finish()
    }
}

impl TokenKeys {
    /// Keys for `secret`, issuing tokens valid for `ttl`.
    pub fn new(secret: &JwtSecret, ttl: Duration) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        TokenKeys {
            enc: EncodingKey::from_secret(&secret.0),
            dec: DecodingKey::from_secret(&secret.0),
            validation,
            ttl,
        }
    }

    /// A token for `user`, issued now.
    pub fn issue(&self, user: &User) -> Result<String, ApiError> {
        let now = Utc::now();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user.uuid.to_string(),
            role: user.role.as_str().to_owned(),
            iat: now.timestamp(),
            iat_us: now.timestamp_micros(),
            exp: now.timestamp().saturating_add(ttl),
            jti: Uuid::new_v4().simple().to_string(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(ApiError::internal)
    }

    /// The claims of a well-signed, unexpired token of ours.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::Unauthorized("invalid or expired token"))
    }
}

/// Hashes a password with argon2id (default parameters) through the
/// process-wide hashing gate ([`crate::password`]), off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    crate::password::hash(password)
        .await
        .map_err(ApiError::from)
}

/// Checks a password against a stored hash through the hashing gate; `None`
/// checks against a dummy hash so unknown users cost the same time. A stored
/// hash that does not parse never matches (and is logged); a saturated gate
/// is [`ApiError::Overloaded`].
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    match crate::password::verify(password, hash).await {
        Ok(ok) => Ok(ok),
        Err(crate::password::HashError::Busy(b)) => Err(b.into()),
        Err(crate::password::HashError::Argon2(e)) => {
            tracing::warn!(error = %e, "password check failed; treating it as a mismatch");
            Ok(false)
        }
    }
}

/// Checks a new password's length, naming `field` when it is wrong.
pub fn check_password_policy(field: &'static str, password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A random password of `n` letters and digits.
pub fn random_password(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(*ALPHABET.choose(&mut rng).unwrap_or(&b'x')))
        .collect()
}

/// What [`bootstrap_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users already exist; nothing was created.
    Existing,
    /// `admin` was created with `DECNET_ADMIN_PASSWORD`.
    FromEnv,
    /// `admin` was created with this random password: print it once, never log it.
    Generated(String),
}

/// Creates the `admin` account on first start (no users yet), with
/// `admin_password` (normally `DECNET_ADMIN_PASSWORD`) or a random password;
/// either way it must be changed before anything else works.
pub async fn bootstrap_admin(
    store: &Store,
    admin_password: Option<String>,
) -> Result<Bootstrap, ApiError> {
    if !store.list_users().await?.is_empty() {
        return Ok(Bootstrap::Existing);
    }
    let (password, outcome) = match admin_password.filter(|p| !p.is_empty()) {
        Some(p) => {
            check_password_policy(ADMIN_PASSWORD_ENV, &p)?;
            (p, Bootstrap::FromEnv)
        }
        None => {
            let p = random_password(20);
            (p.clone(), Bootstrap::Generated(p))
        }
    };
    let hash = hash_password(password).await?;
    store
        .create_user(&NewUser {
            username: BOOTSTRAP_ADMIN.to_owned(),
            password_hash: hash,
            role: Role::Admin,
            must_change_password: true,
        })
        .await?;
    tracing::info!(
        username = BOOTSTRAP_ADMIN,
        "created the bootstrap admin account"
    );
    Ok(outcome)
}

/// The bearer token of a request (`Authorization: Bearer …` only: never a
/// query parameter, so tokens stay out of URLs and logs).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves the request's credentials to a current user: signature, expiry,
/// the user still existing, and the token postdating `tokens_valid_from`.
async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<(User, Claims), ApiError> {
    let token = bearer_token(parts).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let claims = state.keys().verify(token)?;
    let uuid = Uuid::parse_str(&claims.sub)
        .map_err(|_| ApiError::Unauthorized("invalid or expired token"))?;
    // The user as stored after this request arrived, from a read shared with
    // the requests that arrived alongside it (see `fresh`).
    let snapshot = state
        .fresh()
        .current(state.store())
        .await
        .map_err(ApiError::from)?;
    let user = match snapshot.user(uuid) {
        Lookup::Found(u) => Some(u.clone()),
        Lookup::Absent => None,
        Lookup::Unknown => state.store().user(uuid).await?,
    }
    .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
    parts.extensions.insert(snapshot);
    if is_revoked(&claims, &user) {
        return Err(ApiError::Unauthorized("token was revoked"));
    }
    Ok((user, claims))
}

/// Whether `user`'s tokens were revoked after `claims` were issued (password
/// change or reset, role change).
pub(crate) fn is_revoked(claims: &Claims, user: &User) -> bool {
    claims.iat_us < user.tokens_valid_from.timestamp_micros()
}

/// Any authenticated user, even one who must still change their password
/// (only the change-password route takes this).
#[derive(Debug, Clone)]
pub struct AnyUser(pub User);

impl FromRequestParts<AppState> for AnyUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(|(u, _)| AnyUser(u))
    }
}

/// An authenticated user (viewer or admin) who has no pending password change.
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        AuthSession::from_request_parts(parts, state)
            .await
            .map(|s| AuthUser(s.user))
    }
}

/// Like [`AuthUser`], with the token's claims: for responses that outlive the
/// request (the SSE stream ends when the token expires or is revoked).
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// The user.
    pub user: User,
    /// The claims of the token the request presented.
    pub claims: Claims,
}

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user, claims) = authenticate(parts, state).await?;
        if user.must_change_password {
            return Err(ApiError::PasswordChangeRequired);
        }
        Ok(AuthSession { user, claims })
    }
}

/// An authenticated admin; a viewer gets 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden("this action needs the admin role"));
        }
        Ok(AdminUser(user))
    }
}
