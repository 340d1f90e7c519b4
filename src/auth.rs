//! Authentication and authorisation of API requests (docs/security.md).
//!
//! [`Authenticator::check`] turns a request's `Authorization` header and client address into a
//! [`Principal`] allowed a [`Permission`], or an [`AuthError`] that maps to 401, 403 or 429.
//! Credentials are JSON Web Tokens (`Bearer`, [`jwt`]: HS256, EdDSA, RS256 with algorithm
//! pinning) recorded in a [`TokenStore`] for listing and revocation, or Basic auth against a
//! users file with argon2 hashes ([`basic`]). Requests without credentials are allowed what the
//! anonymous policy opens (by default `read` and `write` on a loopback listener only). Every
//! request is rate-limited per client address and per credential; repeated failures lock an
//! address out ([`limits`]). A principal's scope (label pairs) restricts what it may write
//! ([`Principal::check_write`]) and read ([`Principal::query_matchers`]).
//!
//! The HTTP middleware is not here: it calls [`Authenticator::check`] and
//! [`Authenticator::maintain`] (every few seconds, so tokens created or revoked by the CLI
//! take effect and limiter state is pruned).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub mod basic;
pub mod cli;
pub mod config;
mod files;
pub mod jwt;
pub mod limits;
pub mod tokens;

pub use config::AuthConfig;
pub use tokens::{TokenInfo, TokenStore};

/// Longest `Authorization` header looked at; longer ones are refused unparsed.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// The time source: milliseconds since the Unix epoch. Injected so tests control expiry,
/// lockout windows and rate limits without sleeping.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Queries, series and label lookups, rule and alert listings.
    Read,
    /// Remote write and import.
    Write,
    /// Operational actions: reload, silences, alert acknowledgement.
    Operate,
    /// Administration: token management, deletion, configuration.
    Admin,
}

/// What a credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `read`.
    Reader,
    /// `write` only: for agents that push samples and must not read them back.
    Writer,
    /// `read` and `operate`.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reader, Role::Writer, Role::Operator, Role::Admin];

    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Reader => p == Permission::Read,
            Role::Writer => p == Permission::Write,
            Role::Operator => matches!(p, Permission::Read | Permission::Operate),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The least role that allows `p` (the role of an anonymous principal).
    fn least_for(p: Permission) -> Role {
        match p {
            Permission::Read => Role::Reader,
            Permission::Write => Role::Writer,
            Permission::Operate => Role::Operator,
            Permission::Admin => Role::Admin,
        }
    }
}

impl Permission {
    pub const ALL: [Permission; 4] = [Permission::Read, Permission::Write, Permission::Operate, Permission::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Operate => "operate",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (reader, writer, operator, admin)"))
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission {s:?} (read, write, operate, admin)"))
    }
}

/// How a principal authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Bearer,
    Basic,
    Anonymous,
}

/// Who a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token `sub`, Basic user name, or `anonymous`.
    pub subject: String,
    pub role: Role,
    /// The token's `jti` (Bearer only).
    pub token_id: Option<String>,
    /// Label name = value every write must carry and every query is restricted to.
    pub scope: Vec<(String, String)>,
    pub method: AuthMethod,
}

impl Principal {
    /// Every written series must carry every scope label with its value (403 otherwise).
    pub fn check_write(&self, labels: &storage::Labels) -> Result<(), AuthError> {
        for (name, want) in &self.scope {
            let got = labels.get(name);
            if got != want {
                return Err(AuthError::OutOfScope { label: name.clone(), want: want.clone(), got: got.to_string() });
            }
        }
        Ok(())
    }

    /// Equality matchers to add to every selector of this principal's queries.
    pub fn query_matchers(&self) -> Vec<storage::Matcher> {
        self.scope.iter().map(|(n, v)| storage::Matcher::equal(n.as_str(), v.as_str())).collect()
    }

    /// The per-credential rate-limit key: the token id, or the Basic user.
    fn rate_limit_key(&self) -> Option<String> {
        match self.method {
            AuthMethod::Bearer => self.token_id.as_ref().map(|id| format!("t:{id}")),
            AuthMethod::Basic => Some(format!("u:{}", self.subject)),
            AuthMethod::Anonymous => None,
        }
    }
}

/// Checks scope pairs: Prometheus label names not reserved (`__…`), non-empty values.
pub(crate) fn validate_scope<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Result<(), String> {
    for (name, value) in pairs {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || name.starts_with("__") {
            return Err(format!("{name:?} is not a label name usable in a scope"));
        }
        if value.is_empty() {
            return Err(format!("label {name:?} has an empty value"));
        }
    }
    Ok(())
}

/// Why a request is not allowed, or an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("invalid credentials: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token revoked")]
    Revoked,
    #[error("{subject} (role {role}) is not allowed to {need}")]
    Forbidden { subject: String, role: Role, need: Permission },
    #[error("series outside the credentials' scope: label {label} must be {want:?}, is {got:?}")]
    OutOfScope { label: String, want: String, got: String },
    #[error("rate limit exceeded, retry in {}s", retry_after.as_secs_f64().ceil())]
    RateLimited { retry_after: Duration },
    #[error("too many failed authentications from this address, retry in {}s", retry_after.as_secs())]
    LockedOut { retry_after: Duration },
    #[error("no token with id {0:?}")]
    UnknownToken(String),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// A management request the store refuses (a bad name, a short password...): 400.
    #[error("{0}")]
    Rejected(String),
    #[error("auth configuration: {0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl AuthError {
    /// The response status. The text of 401, 403 and 429 errors is meant for the client; that
    /// of a 500 (`Config`, `Io`: paths, file errors) for the log only.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing
            | AuthError::Invalid(_)
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::Revoked => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden { .. } | AuthError::OutOfScope { .. } => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } | AuthError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::UnknownToken(_) | AuthError::UnknownUser(_) => StatusCode::NOT_FOUND,
            AuthError::Rejected(_) => StatusCode::BAD_REQUEST,
            AuthError::Config(_) | AuthError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// For a `Retry-After` header (whole seconds, rounded up).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AuthError::RateLimited { retry_after } | AuthError::LockedOut { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Failed or refused authentication and authorisation, for the audit log. Requests
    /// without credentials and rate limiting are not.
    pub fn is_security_event(&self) -> bool {
        matches!(
            self,
            AuthError::Invalid(_)
                | AuthError::Expired
                | AuthError::NotYetValid
                | AuthError::Revoked
                | AuthError::Forbidden { .. }
                | AuthError::OutOfScope { .. }
                | AuthError::LockedOut { .. }
        )
    }

    /// For the `WWW-Authenticate` header of a 401.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        (self.status() == StatusCode::UNAUTHORIZED).then_some("Bearer realm=\"tickdb\", Basic realm=\"tickdb\"")
    }

    /// Counts toward an address's lockout.
    fn is_failed_authentication(&self) -> bool {
        matches!(self, AuthError::Invalid(_) | AuthError::Expired | AuthError::NotYetValid | AuthError::Revoked)
    }
}

/// Authenticates and authorises requests; shared by all request handlers.
pub struct Authenticator {
    keys: Arc<jwt::JwtKeys>,
    tokens: TokenStore,
    users: basic::Users,
    limits: limits::Limits,
    anonymous: Vec<Permission>,
    clock: Clock,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").field("keys", &self.keys).field("anonymous", &self.anonymous).finish()
    }
}

impl Authenticator {
    /// Loads keys, tokens and users. `loopback_listener`: the server listens on a loopback
    /// address only, which opens `read` and `write` to anonymous clients unless
    /// `auth.require_on_loopback`.
    pub fn new(cfg: &AuthConfig, data_dir: &Path, loopback_listener: bool) -> Result<Authenticator, AuthError> {
        Self::with_clock(cfg, data_dir, loopback_listener, system_clock())
    }

    /// [`Authenticator::new`] with a given clock.
    pub fn with_clock(
        cfg: &AuthConfig,
        data_dir: &Path,
        loopback_listener: bool,
        clock: Clock,
    ) -> Result<Authenticator, AuthError> {
        cfg.validate()?;
        let keys = Arc::new(jwt::JwtKeys::load(&cfg.jwt, data_dir)?);
        let tokens = TokenStore::open(data_dir, keys.clone(), clock.clone())?;
        let users = if cfg.basic_auth_users_file.as_os_str().is_empty() {
            basic::Users::open(&data_dir.join(basic::USERS_FILE), false, cfg.basic_auth_cache_ttl.0, clock.clone())?
        } else {
            basic::Users::load(&cfg.basic_auth_users_file, cfg.basic_auth_cache_ttl.0, clock.clone())?
        };
        let mut anonymous = cfg.anonymous.clone();
        if loopback_listener && !cfg.require_on_loopback {
            anonymous.extend([Permission::Read, Permission::Write]);
        }
        anonymous.sort_by_key(|p| *p as u8);
        anonymous.dedup();
        let limits = limits::Limits::new(&cfg.rate_limit, &cfg.lockout, clock.clone());
        Ok(Authenticator { keys, tokens, users, limits, anonymous, clock })
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The Basic-auth users.
    pub fn users(&self) -> &basic::Users {
        &self.users
    }

    /// Whether a request without credentials is allowed `p`.
    pub fn anonymous_allows(&self, p: Permission) -> bool {
        self.anonymous.contains(&p)
    }

    /// Re-reads the token store and users file if they changed on disk, and drops limiter
    /// and cache entries that no longer matter. The server calls this every few seconds.
    pub fn maintain(&self) -> Result<(), AuthError> {
        self.limits.maintain();
        self.users.maintain();
        if let Err(e) = self.users.reload_if_changed() {
            tracing::error!(error = %e, "basic auth users file not reloaded, keeping the previous users");
        }
        self.tokens.reload_if_changed().map(|_| ())
    }

    /// Authenticates the request (Bearer JWT or Basic) and authorises `need`. `peer` is the
    /// client address (lockout and per-address rate limit). Without credentials the result
    /// is an anonymous principal where the policy opens `need`, else [`AuthError::Missing`].
    ///
    /// Cost: microseconds, except a Basic-auth password not in the verification cache, which
    /// costs one argon2 verification (tens of milliseconds of CPU): call it where blocking
    /// that long is acceptable (e.g. `spawn_blocking` for Basic credentials).
    pub fn check(&self, headers: &HeaderMap, peer: IpAddr, need: Permission) -> Result<Principal, AuthError> {
        // A lockout stops credential guessing; requests without credentials guess nothing, and
        // refusing them would let anyone on a shared address (loopback) cut off the anonymous
        // writes of a local Prometheus. The per-address rate limit applies to all.
        self.limits.check_address(peer, headers.contains_key(header::AUTHORIZATION))?;
        let res = self.authenticate(headers, need);
        match &res {
            Err(e) if e.is_failed_authentication() => {
                self.limits.record_failure(peer);
                tracing::debug!(%peer, error = %e, "authentication failed");
            }
            Err(_) => {}
            Ok(p) => {
                if let Some(key) = p.rate_limit_key() {
                    self.limits.check_credential(&key)?;
                }
                if !p.role.allows(need) {
                    return Err(AuthError::Forbidden { subject: p.subject.clone(), role: p.role, need });
                }
            }
        }
        res
    }

    fn authenticate(&self, headers: &HeaderMap, need: Permission) -> Result<Principal, AuthError> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            if self.anonymous_allows(need) {
                return Ok(Principal {
                    subject: "anonymous".into(),
                    role: Role::least_for(need),
                    token_id: None,
                    scope: Vec::new(),
                    method: AuthMethod::Anonymous,
                });
            }
            return Err(AuthError::Missing);
        };
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthError::Invalid(format!("Authorization header longer than {MAX_AUTHORIZATION_LEN} bytes")));
        }
        if values.next().is_some() {
            return Err(AuthError::Invalid("more than one Authorization header".into()));
        }
        let value = value.to_str().map_err(|_| AuthError::Invalid("Authorization header is not ASCII".into()))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = rest.trim_start_matches(' ');
        if scheme.eq_ignore_ascii_case("bearer") {
            self.bearer(credentials)
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic(credentials)
        } else {
            Err(AuthError::Invalid("unsupported authorization scheme (use Bearer or Basic)".into()))
        }
    }

    fn bearer(&self, token: &str) -> Result<Principal, AuthError> {
        let now_s = (self.clock)().div_euclid(1000);
        let claims = self.keys.verify(token, now_s)?;
        if self.tokens.is_revoked(&claims.jti) {
            return Err(AuthError::Revoked);
        }
        Ok(Principal {
            subject: claims.sub,
            role: claims.role,
            token_id: Some(claims.jti),
            scope: claims.scope.into_iter().collect(),
            method: AuthMethod::Bearer,
        })
    }

    fn basic(&self, credentials: &str) -> Result<Principal, AuthError> {
        let users = &self.users;
        if users.is_empty() {
            return Err(AuthError::Invalid("Basic authentication has no users".into()));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .map_err(|_| AuthError::Invalid("Basic credentials are not base64".into()))?;
        let text = String::from_utf8(raw).map_err(|_| AuthError::Invalid("Basic credentials are not UTF-8".into()))?;
        let (user, password) =
            text.split_once(':').ok_or_else(|| AuthError::Invalid("Basic credentials have no ':'".into()))?;
        let u = users.verify(user, password)?;
        Ok(Principal {
            subject: user.to_string(),
            role: u.role,
            token_id: None,
            scope: u.scope,
            method: AuthMethod::Basic,
        })
    }
}

#[cfg(test)]
mod tests;
