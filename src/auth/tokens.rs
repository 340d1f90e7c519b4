//! The token store: every token `tickdb token create` issued, for listing and revocation.
//!
//! Persisted as `<data_dir>/auth/tokens.json` (mode 0600, replaced atomically; format in
//! docs/security.md). The store holds no secrets: a token is its signed JWT, which is printed
//! once and never stored. Revocation is checked on every request against an in-memory set.
//! Processes sharing the file (the server and the CLI) serialise their changes with an
//! advisory lock on `tokens.json.lock` and re-read the file before changing it; the server
//! picks up others' changes with [`TokenStore::reload_if_changed`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::auth::files::{self, FileStamp};
use crate::auth::jwt::{Audience, Claims, JwtKeys};
use crate::auth::{AuthError, Clock, Role, validate_scope};

/// The store's file under the data directory.
pub const TOKENS_FILE: &str = "auth/tokens.json";
/// Tokens expired longer ago than this are dropped when the file is next written.
const KEEP_EXPIRED: i64 = 7 * 86_400;
/// Longest token lifetime accepted.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

/// What is known about an issued token (never the token itself). Times are seconds since the
/// Unix epoch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's `jti`.
    pub id: String,
    pub subject: String,
    pub role: Role,
    #[serde(default)]
    pub scope: BTreeMap<String, String>,
    pub issued_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

/// The file: unknown fields are ignored, so an older tickdb reads a newer file.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenInfo>,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, TokenInfo>,
    revoked: HashSet<String>,
    /// The file version `tokens` was read from or written as.
    stamp: Option<FileStamp>,
}

impl State {
    fn from_tokens(tokens: Vec<TokenInfo>, stamp: Option<FileStamp>) -> State {
        let revoked = tokens.iter().filter(|t| t.revoked_at.is_some()).map(|t| t.id.clone()).collect();
        State { tokens: tokens.into_iter().map(|t| (t.id.clone(), t)).collect(), revoked, stamp }
    }
}

/// Issued tokens and revocations.
pub struct TokenStore {
    path: PathBuf,
    lock_path: PathBuf,
    keys: Arc<JwtKeys>,
    clock: Clock,
    state: RwLock<State>,
}

impl TokenStore {
    /// Opens (or starts) `<data_dir>/auth/tokens.json`.
    pub fn open(data_dir: &Path, keys: Arc<JwtKeys>, clock: Clock) -> Result<TokenStore, AuthError> {
        let path = data_dir.join(TOKENS_FILE);
        files::private_dir(path.parent().unwrap_or(data_dir))?;
        let lock_path = path.with_extension("json.lock");
        let state = RwLock::new(read(&path)?);
        Ok(TokenStore { path, lock_path, keys, clock, state })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn now_s(&self) -> i64 {
        (self.clock)().div_euclid(1000)
    }

    /// Issues a token: returns the signed JWT (shown once, not stored) and its record.
    pub fn create(
        &self,
        role: Role,
        ttl: Duration,
        subject: &str,
        scope: Vec<(String, String)>,
    ) -> Result<(String, TokenInfo), AuthError> {
        if subject.is_empty() {
            return Err(AuthError::Config("a token needs a subject".into()));
        }
        if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
            return Err(AuthError::Config("a token's ttl must be between 1s and 10y".into()));
        }
        let mut map = BTreeMap::new();
        for (k, v) in scope {
            if map.insert(k.clone(), v).is_some() {
                return Err(AuthError::Config(format!("scope label {k:?} given twice")));
            }
        }
        validate_scope(map.iter()).map_err(|e| AuthError::Config(format!("scope: {e}")))?;
        let now = self.now_s();
        let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let info = TokenInfo {
            id: files::random_hex(16),
            subject: subject.to_string(),
            role,
            scope: map,
            issued_at: now,
            expires_at: now.saturating_add(ttl_s),
            revoked_at: None,
        };
        let claims = Claims {
            sub: info.subject.clone(),
            role,
            scope: info.scope.clone(),
            jti: info.id.clone(),
            exp: info.expires_at,
            nbf: Some(now),
            iat: Some(now),
            iss: self.keys.issuer().to_string(),
            aud: Audience::One(self.keys.audience().to_string()),
        };
        let jwt = self.keys.sign(&claims)?;
        self.modify(|tokens| {
            tokens.insert(info.id.clone(), info.clone());
            Ok(())
        })?;
        tracing::info!(id = %info.id, subject = %info.subject, role = %role, expires_at = info.expires_at, "token created");
        Ok((jwt, info))
    }

    /// Revokes a token (a second revocation keeps the first time).
    pub fn revoke(&self, id: &str) -> Result<TokenInfo, AuthError> {
        let now = self.now_s();
        let info = self.modify(|tokens| {
            let t = tokens.get_mut(id).ok_or_else(|| AuthError::UnknownToken(id.to_string()))?;
            t.revoked_at.get_or_insert(now);
            Ok(t.clone())
        })?;
        tracing::info!(id, subject = %info.subject, "token revoked");
        Ok(info)
    }

    /// Every known token, oldest first.
    pub fn list(&self) -> Vec<TokenInfo> {
        let mut v: Vec<TokenInfo> = self.state.read().tokens.values().cloned().collect();
        v.sort_by(|a, b| (a.issued_at, &a.id).cmp(&(b.issued_at, &b.id)));
        v
    }

    /// O(1): whether the token with this `jti` was revoked.
    pub fn is_revoked(&self, id: &str) -> bool {
        self.state.read().revoked.contains(id)
    }

    /// Re-reads the file if another process replaced it since it was last read or written;
    /// `Ok(true)` if it did. On error the previous state is kept.
    pub fn reload_if_changed(&self) -> Result<bool, AuthError> {
        let current = files::stamp(&self.path)?;
        if current == self.state.read().stamp {
            return Ok(false);
        }
        if current.is_none() {
            // Forgetting revocations because a file vanished would re-enable revoked tokens.
            tracing::error!(path = %self.path.display(), "token store file disappeared; keeping the tokens and revocations in memory");
            self.state.write().stamp = None;
            return Ok(false);
        }
        let fresh = read(&self.path)?;
        tracing::info!(path = %self.path.display(), tokens = fresh.tokens.len(), "token store reloaded");
        *self.state.write() = fresh;
        Ok(true)
    }

    /// Read-modify-write under the file lock, starting from the file's current content.
    fn modify<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, TokenInfo>) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let _lock = files::lock(&self.lock_path)?;
        let mut state = read(&self.path)?;
        let out = f(&mut state.tokens)?;
        let now = self.now_s();
        let mut tokens: Vec<TokenInfo> =
            state.tokens.into_values().filter(|t| t.expires_at.saturating_add(KEEP_EXPIRED) > now).collect();
        tokens.sort_by(|a, b| (a.issued_at, &a.id).cmp(&(b.issued_at, &b.id)));
        let file = TokenFile { version: 1, tokens };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| AuthError::Config(format!("encoding tokens: {e}")))?;
        bytes.push(b'\n');
        files::write_atomic(&self.path, &bytes)?;
        let stamp = files::stamp(&self.path)?;
        *self.state.write() = State::from_tokens(file.tokens, stamp);
        Ok(out)
    }
}

fn read(path: &Path) -> Result<State, AuthError> {
    let Some((bytes, stamp)) = files::read_stamped(path)? else {
        return Ok(State::default());
    };
    let file: TokenFile = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::Config(format!("{}: not a token store: {e}", path.display())))?;
    if file.version != 1 {
        return Err(AuthError::Config(format!("{}: unknown token store version {}", path.display(), file.version)));
    }
    Ok(State::from_tokens(file.tokens, Some(stamp)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::auth::config::JwtConfig;

    fn store(dir: &Path, now: Arc<AtomicI64>) -> TokenStore {
        let keys = Arc::new(JwtKeys::load(&JwtConfig::default(), dir).unwrap());
        TokenStore::open(dir, keys, Arc::new(move || now.load(Ordering::Relaxed))).unwrap()
    }

    #[test]
    fn create_list_revoke_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let a = store(dir.path(), now.clone());
        let (jwt, info) = a
            .create(Role::Writer, Duration::from_secs(3600), "agent-1", vec![("tenant".into(), "acme".into())])
            .unwrap();
        assert_eq!(jwt.split('.').count(), 3);
        assert_eq!((info.issued_at, info.expires_at), (1_700_000_000, 1_700_003_600));
        assert_eq!(info.scope.get("tenant").map(String::as_str), Some("acme"));
        assert_eq!(std::fs::metadata(a.path()).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert!(!text.contains(&jwt) && !text.contains(jwt.rsplit('.').next().unwrap()), "no secret stored");

        // A second store (another process) sees the file as written.
        let b = store(dir.path(), now.clone());
        assert_eq!(b.list(), vec![info.clone()]);
        assert!(!b.is_revoked(&info.id));

        // Revoked by the second process; the first sees it after reload_if_changed.
        now.fetch_add(5_000, Ordering::Relaxed);
        let revoked = b.revoke(&info.id).unwrap();
        assert_eq!(revoked.revoked_at, Some(1_700_000_005));
        assert!(b.is_revoked(&info.id));
        assert!(!a.is_revoked(&info.id));
        assert!(a.reload_if_changed().unwrap());
        assert!(a.is_revoked(&info.id));
        assert!(!a.reload_if_changed().unwrap(), "unchanged file is not re-read");
        // Revoking again keeps the first time.
        now.fetch_add(5_000, Ordering::Relaxed);
        assert_eq!(a.revoke(&info.id).unwrap().revoked_at, Some(1_700_000_005));
        assert!(matches!(a.revoke("nope"), Err(AuthError::UnknownToken(_))));
        // Creating in one process keeps the other's changes.
        let (_, second) = b.create(Role::Reader, Duration::from_secs(60), "grafana", vec![]).unwrap();
        assert!(a.reload_if_changed().unwrap());
        assert_eq!(a.list().iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), vec![info.id.as_str(), &second.id]);
    }

    #[test]
    fn refuses_bad_requests_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let s = store(dir.path(), now.clone());
        let hour = Duration::from_secs(3600);
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        for (role, ttl, subject, scope, why) in [
            (Role::Admin, hour, "", vec![], "empty subject"),
            (Role::Admin, Duration::ZERO, "x", vec![], "zero ttl"),
            (Role::Admin, MAX_TTL + hour, "x", vec![], "ttl too long"),
            (Role::Admin, hour, "x", vec![pair("a", "1"), pair("a", "2")], "duplicate scope label"),
            (Role::Admin, hour, "x", vec![pair("__name__", "up")], "reserved label"),
            (Role::Admin, hour, "x", vec![pair("1a", "x")], "bad label name"),
            (Role::Admin, hour, "x", vec![pair("a", "")], "empty value"),
        ] {
            assert!(s.create(role, ttl, subject, scope).is_err(), "{why}");
        }
        assert!(s.list().is_empty());
        // Expired tokens are dropped a week after expiry, when the file is next written.
        let (_, old) = s.create(Role::Reader, Duration::from_secs(1), "old", vec![]).unwrap();
        now.fetch_add((KEEP_EXPIRED + 2) * 1000, Ordering::Relaxed);
        let (_, new) = s.create(Role::Reader, hour, "new", vec![]).unwrap();
        assert_eq!(s.list(), vec![new]);
        assert_ne!(old.id, s.list()[0].id);
        // A corrupt file is an error; the loaded state stays.
        std::fs::write(s.path(), b"{not json").unwrap();
        assert!(s.reload_if_changed().is_err());
        assert_eq!(s.list().len(), 1);
        assert!(TokenStore::open(dir.path(), s.keys.clone(), s.clock.clone()).is_err());
    }

    #[test]
    fn a_vanished_file_keeps_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), Arc::new(AtomicI64::new(1_700_000_000_000)));
        let (_, t) = s.create(Role::Admin, Duration::from_secs(60), "x", vec![]).unwrap();
        s.revoke(&t.id).unwrap();
        std::fs::remove_file(s.path()).unwrap();
        assert!(!s.reload_if_changed().unwrap());
        assert!(s.is_revoked(&t.id));
        assert!(!s.reload_if_changed().unwrap(), "reported once");
    }

    /// Two processes (two stores on one file) creating at once lose nothing: the file lock
    /// serialises their read-modify-write cycles.
    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let stores = [store(dir.path(), now.clone()), store(dir.path(), now.clone())];
        std::thread::scope(|s| {
            for (i, st) in stores.iter().enumerate() {
                s.spawn(move || {
                    for j in 0..15 {
                        st.create(Role::Reader, Duration::from_secs(60), &format!("s{i}-{j}"), vec![]).unwrap();
                    }
                });
            }
        });
        let fresh = store(dir.path(), now);
        assert_eq!(fresh.list().len(), 30);
    }
}
