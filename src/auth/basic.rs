//! Basic authentication (for Grafana and other clients that cannot send a bearer token)
//! against a users file with argon2 password hashes:
//!
//! ```yaml
//! users:
//!   - name: grafana
//!     role: reader
//!     password_hash: $argon2id$v=19$m=19456,t=2,p=1$...   # tickdb user hash-password
//!     scope: {tenant: acme}                             # optional
//! ```
//!
//! argon2 is slow on purpose (tens of milliseconds), and Grafana sends the password with every
//! request, so a successful verification is cached for a short time, keyed by a salted
//! SHA-256 of user and password. Failures are never cached. An unknown user costs the same
//! argon2 work as a wrong password, so response times do not tell which users exist.
//!
//! Without `auth.basic_auth_users_file` the file is `<data_dir>/auth/users.yml`, which may
//! not exist (no users). Users are managed by hand in the file or through the admin API
//! ([`Users::put`], [`Users::remove`]), which rewrites the file atomically (mode 0600, under
//! an advisory lock, after re-reading it so a hand edit is not lost; comments are not kept).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::files::{self, FileStamp};
use crate::auth::{AuthError, Clock, Role, validate_scope};

/// The users file when `auth.basic_auth_users_file` is not set, under the data dir.
pub const USERS_FILE: &str = "auth/users.yml";

/// Most cached verifications kept; beyond that expired ones are dropped, then all.
const MAX_CACHE_ENTRIES: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    role: Role,
    password_hash: String,
    #[serde(default)]
    scope: BTreeMap<String, String>,
}

/// A user's grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub role: Role,
    pub scope: Vec<(String, String)>,
    password_hash: String,
}

struct Loaded {
    users: HashMap<String, Arc<User>>,
    stamp: Option<FileStamp>,
    /// A hash with the users' cost parameters, verified for unknown users.
    dummy_hash: String,
}

struct CacheEntry {
    user: String,
    expires_ms: i64,
}

/// A user as the admin API shows it (never the hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub scope: BTreeMap<String, String>,
}

/// Shortest password [`Users::put`] accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The users file, reloaded when it changes, and the verification cache.
pub struct Users {
    path: PathBuf,
    /// The file was configured: its absence is an error (else: no users).
    must_exist: bool,
    /// Serialises this process's read-modify-write cycles (the file lock those of processes).
    write: Mutex<()>,
    ttl_ms: i64,
    clock: Clock,
    loaded: RwLock<Loaded>,
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
    /// Per-process salt of the cache keys.
    salt: [u8; 32],
}

/// The argon2 PHC string of `password` (argon2id, the crate's default cost: m=19456 KiB, t=2,
/// p=1), for the users file.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    hash_with(password, Params::default())
}

fn hash_with(password: &str, params: Params) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Config(format!("salt: {e}")))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Config(format!("hashing the password: {e}")))
}

fn parse(path: &Path, bytes: &[u8], stamp: FileStamp) -> Result<Loaded, AuthError> {
    let bad = |m: String| AuthError::Config(format!("{}: {m}", path.display()));
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let file: UsersFile = serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?;
    let mut users = HashMap::new();
    let mut params = None;
    for u in file.users {
        if u.name.is_empty() || u.name.contains(':') {
            return Err(bad(format!("user name {:?} must be non-empty and without ':'", u.name)));
        }
        let hash = PasswordHash::new(&u.password_hash)
            .map_err(|e| bad(format!("user {:?}: password_hash is not a PHC string: {e}", u.name)))?;
        if !hash.algorithm.as_str().starts_with("argon2") {
            return Err(bad(format!("user {:?}: password_hash is {}, not argon2", u.name, hash.algorithm)));
        }
        let p = Params::try_from(&hash).map_err(|e| bad(format!("user {:?}: argon2 parameters: {e}", u.name)))?;
        params.get_or_insert(p);
        validate_scope(u.scope.iter()).map_err(|e| bad(format!("user {:?}: scope: {e}", u.name)))?;
        let user = User { role: u.role, scope: u.scope.into_iter().collect(), password_hash: u.password_hash };
        if users.insert(u.name.clone(), Arc::new(user)).is_some() {
            return Err(bad(format!("user {:?} listed twice", u.name)));
        }
    }
    let dummy_hash = hash_with(&files::random_hex(16), params.unwrap_or_default())?;
    Ok(Loaded { users, stamp: Some(stamp), dummy_hash })
}

fn read(path: &Path, must_exist: bool) -> Result<Loaded, AuthError> {
    match files::read_stamped(path)? {
        Some((bytes, stamp)) => parse(path, &bytes, stamp),
        None if must_exist => {
            Err(AuthError::Config(format!("{}: basic auth users file does not exist", path.display())))
        }
        None => Ok(Loaded {
            users: HashMap::new(),
            stamp: None,
            dummy_hash: hash_with(&files::random_hex(16), Params::default())?,
        }),
    }
}

/// The users file's text: YAML whose strings are JSON-quoted (valid YAML, any character safe).
fn render(users: &HashMap<String, Arc<User>>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut names: Vec<&String> = users.keys().collect();
    names.sort();
    let mut out = String::from(
        "# Basic-auth users (tickdb). Managed through /api/v1/admin/users; hand edits are kept.\nusers:\n",
    );
    if names.is_empty() {
        out = out.replace("users:\n", "users: []\n");
    }
    for n in names {
        let u = &users[n];
        out.push_str(&format!(
            "  - name: {}\n    role: {}\n    password_hash: {}\n",
            q(n),
            u.role,
            q(&u.password_hash)
        ));
        if !u.scope.is_empty() {
            let pairs: Vec<String> = u.scope.iter().map(|(k, v)| format!("{}: {}", q(k), q(v))).collect();
            out.push_str(&format!("    scope: {{{}}}\n", pairs.join(", ")));
        }
    }
    out
}

/// Why [`Users::put`] would refuse these, if it would (a new user without a password is
/// refused by `put` itself).
pub fn check_user(name: &str, password: Option<&str>, scope: &BTreeMap<String, String>) -> Result<(), AuthError> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) || name.len() > 256 {
        return Err(AuthError::Rejected(format!(
            "user name {name:?} must be 1 to 256 characters, without ':' or control characters"
        )));
    }
    if let Some(p) = password
        && p.chars().count() < MIN_PASSWORD_LEN
    {
        return Err(AuthError::Rejected(format!("a password needs at least {MIN_PASSWORD_LEN} characters")));
    }
    validate_scope(scope.iter()).map_err(|e| AuthError::Rejected(format!("scope: {e}")))
}

fn info(name: &str, u: &User) -> UserInfo {
    UserInfo { name: name.to_string(), role: u.role, scope: u.scope.iter().cloned().collect() }
}

impl Users {
    /// Loads a configured users file (which must exist).
    pub fn load(path: &Path, cache_ttl: Duration, clock: Clock) -> Result<Users, AuthError> {
        Self::open(path, true, cache_ttl, clock)
    }

    /// Loads `path`; with `must_exist` false a missing file means no users yet.
    pub fn open(path: &Path, must_exist: bool, cache_ttl: Duration, clock: Clock) -> Result<Users, AuthError> {
        let loaded = read(path, must_exist)?;
        let mut salt = [0u8; 32];
        rand::rng().fill_bytes(&mut salt);
        Ok(Users {
            path: path.to_path_buf(),
            must_exist,
            write: Mutex::new(()),
            ttl_ms: i64::try_from(cache_ttl.as_millis()).unwrap_or(i64::MAX),
            clock,
            loaded: RwLock::new(loaded),
            cache: Mutex::new(HashMap::new()),
            salt,
        })
    }

    /// Re-reads the file if it changed (`Ok(true)`); clears the cache then. On error the
    /// previous users stay.
    pub fn reload_if_changed(&self) -> Result<bool, AuthError> {
        if files::stamp(&self.path)? == self.loaded.read().stamp {
            return Ok(false);
        }
        let fresh = read(&self.path, self.must_exist)?;
        tracing::info!(path = %self.path.display(), users = fresh.users.len(), "basic auth users reloaded");
        *self.loaded.write() = fresh;
        self.cache.lock().clear();
        Ok(true)
    }

    /// Every user, by name.
    pub fn list(&self) -> Vec<UserInfo> {
        let l = self.loaded.read();
        let mut v: Vec<UserInfo> = l.users.iter().map(|(n, u)| info(n, u)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.loaded.read().users.is_empty()
    }

    /// Creates or updates user `name`: its role and scope, and its password (required for a
    /// new user; kept when `None`). Returns the user before (if it existed) and after. Costs an
    /// argon2 hash when a password is given (tens of milliseconds): call from a blocking
    /// context.
    pub fn put(
        &self,
        name: &str,
        role: Role,
        password: Option<&str>,
        scope: BTreeMap<String, String>,
    ) -> Result<(Option<UserInfo>, UserInfo), AuthError> {
        check_user(name, password, &scope)?;
        let hash = password.map(hash_password).transpose()?;
        self.modify(|users| {
            let before = users.get(name).map(|u| info(name, u));
            let password_hash = match (hash, users.get(name)) {
                (Some(h), _) => h,
                (None, Some(u)) => u.password_hash.clone(),
                (None, None) => return Err(AuthError::Rejected(format!("new user {name:?} needs a password"))),
            };
            let user = User { role, scope: scope.into_iter().collect(), password_hash };
            let after = info(name, &user);
            users.insert(name.to_string(), Arc::new(user));
            Ok((before, after))
        })
    }

    /// Deletes user `name`; returns what it was.
    pub fn remove(&self, name: &str) -> Result<UserInfo, AuthError> {
        self.modify(|users| {
            let u = users.remove(name).ok_or_else(|| AuthError::UnknownUser(name.to_string()))?;
            Ok(info(name, &u))
        })
    }

    /// Re-reads the file (under the file lock), applies `f` and writes the result back.
    fn modify<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, Arc<User>>) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let _w = self.write.lock();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            files::private_dir(dir)?;
        }
        let mut lock_name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        lock_name.push(".lock");
        let _lock = files::lock(&self.path.with_file_name(lock_name))?;
        let mut cur = read(&self.path, self.must_exist)?;
        let out = f(&mut cur.users)?;
        files::write_atomic(&self.path, render(&cur.users).as_bytes())?;
        cur.stamp = files::stamp(&self.path)?;
        *self.loaded.write() = cur;
        self.cache.lock().clear();
        Ok(out)
    }

    /// Drops expired cache entries.
    pub fn maintain(&self) {
        let now = (self.clock)();
        self.cache.lock().retain(|_, e| e.expires_ms > now);
    }

    /// Number of cached verifications (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cache.lock().len()
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0u8]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Checks a user's password.
    pub fn verify(&self, user: &str, password: &str) -> Result<User, AuthError> {
        let wrong = || AuthError::Invalid("unknown user or wrong password".into());
        let now = (self.clock)();
        let key = (self.ttl_ms > 0).then(|| self.cache_key(user, password));
        if let Some(key) = &key {
            let hit = self.cache.lock().get(key).is_some_and(|e| e.expires_ms > now && e.user == user);
            if hit && let Some(u) = self.loaded.read().users.get(user) {
                return Ok(User::clone(u));
            }
        }
        let (found, dummy) = {
            let l = self.loaded.read();
            (l.users.get(user).cloned(), l.dummy_hash.clone())
        };
        let hash_text = found.as_ref().map_or(dummy.as_str(), |u| u.password_hash.as_str());
        let hash = PasswordHash::new(hash_text).map_err(|_| wrong())?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &hash).is_ok();
        let Some(u) = found.filter(|_| ok) else {
            return Err(wrong());
        };
        if let Some(key) = key {
            let mut cache = self.cache.lock();
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.retain(|_, e| e.expires_ms > now);
                if cache.len() >= MAX_CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(key, CacheEntry { user: user.to_string(), expires_ms: now.saturating_add(self.ttl_ms) });
        }
        Ok(User::clone(&u))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    /// A cheap hash for tests (argon2id, 64 KiB, one pass).
    pub(crate) fn cheap_hash(password: &str) -> String {
        hash_with(password, Params::new(64, 1, 1, None).unwrap()).unwrap()
    }

    pub(crate) fn users_file(dir: &Path, users: &[(&str, &str, &str)]) -> PathBuf {
        let mut text = String::from("users:\n");
        for (name, role, password) in users {
            text.push_str(&format!(
                "  - name: {name}\n    role: {role}\n    password_hash: '{}'\n",
                cheap_hash(password)
            ));
        }
        let p = dir.join("users.yml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn verifies_caches_successes_only_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = users_file(dir.path(), &[("grafana", "reader", "s3cret"), ("ops", "operator", "pw")]);
        let now = Arc::new(AtomicI64::new(1_000_000));
        let n = now.clone();
        let users = Users::load(&path, Duration::from_secs(300), Arc::new(move || n.load(Ordering::Relaxed))).unwrap();
        for (user, password, want) in [
            ("grafana", "s3cret", Some(Role::Reader)),
            ("grafana", "wrong", None),
            ("grafana", "", None),
            ("nobody", "s3cret", None),
            ("ops", "pw", Some(Role::Operator)),
            ("Grafana", "s3cret", None),
        ] {
            assert_eq!(users.verify(user, password).ok().map(|u| u.role), want, "{user}:{password}");
        }
        assert_eq!(users.cached(), 2, "only successes are cached");
        // A cache hit needs the same password: a wrong one still fails.
        assert!(users.verify("grafana", "s3cret").is_ok());
        assert!(users.verify("grafana", "s3cret2").is_err());
        // Expiry.
        now.fetch_add(301_000, Ordering::Relaxed);
        users.maintain();
        assert_eq!(users.cached(), 0);
        assert!(users.verify("grafana", "s3cret").is_ok());
        assert_eq!(users.cached(), 1);
        // A changed file replaces users and empties the cache.
        users_file(dir.path(), &[("grafana", "admin", "new")]);
        assert!(users.reload_if_changed().unwrap());
        assert_eq!(users.cached(), 0);
        assert!(users.verify("grafana", "s3cret").is_err());
        assert_eq!(users.verify("grafana", "new").unwrap().role, Role::Admin);
        assert!(!users.reload_if_changed().unwrap());
        // A broken file keeps the previous users.
        std::fs::write(&path, "users: [{name: x}]\n").unwrap();
        assert!(users.reload_if_changed().is_err());
        assert!(users.verify("grafana", "new").is_ok());
    }

    #[test]
    fn users_are_managed_without_losing_hand_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth").join("users.yml");
        let users = Users::open(&path, false, Duration::from_secs(300), Arc::new(|| 0)).unwrap();
        assert!(users.is_empty(), "a missing default file means no users");
        let scope: BTreeMap<String, String> = [("tenant".to_string(), "eu \"1\"".to_string())].into();
        let (before, after) = users.put("grafana", Role::Reader, Some("s3cret-pass"), scope.clone()).unwrap();
        assert_eq!((before, after.role, after.scope), (None, Role::Reader, scope.clone()));
        assert_eq!(users.verify("grafana", "s3cret-pass").unwrap().scope, vec![("tenant".into(), "eu \"1\"".into())]);
        // A user added by hand meanwhile is kept by the next change.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}  - {{name: ops, role: admin, password_hash: '{}'}}\n", cheap_hash("pw")))
            .unwrap();
        let (before, after) = users.put("grafana", Role::Operator, None, BTreeMap::new()).unwrap();
        assert_eq!(before.map(|u| u.role), Some(Role::Reader));
        assert_eq!(after.role, Role::Operator);
        assert_eq!(users.list().iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["grafana", "ops"]);
        assert!(users.verify("grafana", "s3cret-pass").is_ok(), "password kept");
        assert!(users.verify("ops", "pw").is_ok());
        // Refusals change nothing.
        assert!(matches!(users.put("new", Role::Reader, None, BTreeMap::new()), Err(AuthError::Rejected(_))));
        assert!(matches!(
            users.put("a:b", Role::Reader, Some("long enough"), BTreeMap::new()),
            Err(AuthError::Rejected(_))
        ));
        assert!(matches!(users.put("x", Role::Reader, Some("short"), BTreeMap::new()), Err(AuthError::Rejected(_))));
        assert!(matches!(users.remove("nobody"), Err(AuthError::UnknownUser(_))));
        assert_eq!(users.remove("ops").unwrap().role, Role::Admin);
        // What was written loads again, and it is private.
        let again = Users::load(&path, Duration::ZERO, Arc::new(|| 0)).unwrap();
        assert_eq!(again.list(), users.list());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        users.remove("grafana").unwrap();
        assert!(Users::load(&path, Duration::ZERO, Arc::new(|| 0)).unwrap().is_empty(), "an empty list loads");
    }

    #[test]
    fn cache_hit_skips_argon2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yml");
        // Expensive parameters: a verification takes far longer than a cache hit.
        let hash = hash_with("pw", Params::new(32 * 1024, 3, 1, None).unwrap()).unwrap();
        std::fs::write(&path, format!("users:\n  - {{name: g, role: reader, password_hash: '{hash}'}}\n")).unwrap();
        let users = Users::load(&path, Duration::from_secs(300), Arc::new(|| 0)).unwrap();
        assert!(users.verify("g", "pw").is_ok());
        assert_eq!(users.cached(), 1);
        // Not a timing assertion: the entry is what a hit uses; remove the hash to prove it.
        users.loaded.write().users.insert(
            "g".into(),
            Arc::new(User { role: Role::Reader, scope: vec![], password_hash: "$argon2id$broken".into() }),
        );
        assert!(users.verify("g", "pw").is_ok(), "served from the cache");
        assert!(users.verify("g", "other").is_err());
    }

    #[test]
    fn rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yml");
        let good = cheap_hash("x");
        for (text, why) in [
            (format!("users:\n  - {{name: a, role: reader, password_hash: '{good}', extra: 1}}\n"), "unknown key"),
            (format!("users:\n  - {{name: 'a:b', role: reader, password_hash: '{good}'}}\n"), "colon in name"),
            (format!("users:\n  - {{name: a, role: root, password_hash: '{good}'}}\n"), "unknown role"),
            ("users:\n  - {name: a, role: reader, password_hash: plain}\n".to_string(), "not PHC"),
            (
                "users:\n  - {name: a, role: reader, password_hash: '$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA'}\n"
                    .to_string(),
                "not argon2",
            ),
            (
                format!(
                    "users:\n  - {{name: a, role: reader, password_hash: '{good}'}}\n  - {{name: a, role: admin, password_hash: '{good}'}}\n"
                ),
                "duplicate",
            ),
            (
                format!("users:\n  - {{name: a, role: reader, password_hash: '{good}', scope: {{a: ''}}}}\n"),
                "bad scope",
            ),
        ] {
            std::fs::write(&path, &text).unwrap();
            assert!(Users::load(&path, Duration::ZERO, Arc::new(|| 0)).is_err(), "{why}");
        }
        assert!(Users::load(&dir.path().join("missing.yml"), Duration::ZERO, Arc::new(|| 0)).is_err());
    }
}
