//! The `auth:` section of the configuration file (docs/security.md).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{AuthError, Permission};
use crate::duration::PromDuration;

/// Authentication and authorisation (`auth.*`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Permissions open to clients without credentials on every listener (`read`, `write`).
    /// On a loopback listener `read` and `write` are open anyway unless `require_on_loopback`.
    /// `operate` and `admin` always need credentials.
    pub anonymous: Vec<Permission>,
    /// Require credentials on a loopback listener too (only `anonymous` stays open).
    pub require_on_loopback: bool,
    /// JSON Web Token keys and claim checks.
    pub jwt: JwtConfig,
    /// YAML file of Basic-auth users (`users: [{name, role, password_hash}]`, argon2 PHC
    /// strings from `tickdb user hash-password`); empty = no Basic auth.
    pub basic_auth_users_file: PathBuf,
    /// How long a successful Basic-auth verification is remembered (argon2 is slow on
    /// purpose); failures are never remembered. 0 = no cache.
    pub basic_auth_cache_ttl: PromDuration,
    /// Requests per second per credential (token id or Basic user), 0 = unlimited.
    pub rate_limit: RateLimitConfig,
    /// Lock a client address out after repeated failed authentications.
    pub lockout: LockoutConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous: Vec::new(),
            require_on_loopback: false,
            jwt: JwtConfig::default(),
            basic_auth_users_file: PathBuf::new(),
            basic_auth_cache_ttl: PromDuration::from_secs(300),
            rate_limit: RateLimitConfig::default(),
            lockout: LockoutConfig::default(),
        }
    }
}

/// `auth.jwt.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss` claim.
    pub issuer: String,
    /// Required `aud` claim (one of the token's audiences).
    pub audience: String,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`.
    pub leeway: PromDuration,
    /// Accept (and by default sign) HS256 tokens.
    pub hs256_enabled: bool,
    /// HS256 secret (the file's bytes, trailing newline removed; at least 32 bytes). Empty =
    /// `<data_dir>/auth/hs256.key`, generated (mode 0600) on first start.
    pub hs256_secret_file: PathBuf,
    /// Ed25519 keys (`alg: EdDSA`); absent = EdDSA tokens refused.
    pub eddsa: Option<KeyFiles>,
    /// RSA keys (`alg: RS256`); absent = RS256 tokens refused.
    pub rs256: Option<KeyFiles>,
    /// Algorithm `tickdb token create` signs with: `auto` (EdDSA, else RS256 if their private
    /// key is configured, else HS256), `HS256`, `EdDSA` or `RS256`.
    pub signing_algorithm: SigningAlgorithm,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: "tickdb".into(),
            audience: "tickdb".into(),
            leeway: PromDuration::from_secs(30),
            hs256_enabled: true,
            hs256_secret_file: PathBuf::new(),
            eddsa: None,
            rs256: None,
            signing_algorithm: SigningAlgorithm::Auto,
        }
    }
}

/// PEM key files of an asymmetric algorithm.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct KeyFiles {
    /// Public key (`-----BEGIN PUBLIC KEY-----`), used to verify tokens.
    pub public_key_file: PathBuf,
    /// Private key (PKCS#8 `-----BEGIN PRIVATE KEY-----`; for RSA also PKCS#1), needed only to
    /// create tokens; empty = verify only (tokens are minted elsewhere).
    pub private_key_file: PathBuf,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    HS256,
    EdDSA,
    RS256,
}

/// `auth.rate_limit.*`: GCRA limits; `0` turns a limit off.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second per token id (or Basic user).
    pub per_token: u32,
    /// Requests a token may send at once above the sustained rate.
    pub per_token_burst: u32,
    /// Sustained requests per second per client address (IPv6: per /64).
    pub per_ip: u32,
    pub per_ip_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { per_token: 1000, per_token_burst: 2000, per_ip: 2000, per_ip_burst: 4000 }
    }
}

/// `auth.lockout.*`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failed authentications from one address within `window` that lock it out; 0 = never.
    pub max_failures: u32,
    pub window: PromDuration,
    /// How long a locked-out address is refused, even with valid credentials.
    pub duration: PromDuration,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig { max_failures: 10, window: PromDuration::from_secs(300), duration: PromDuration::from_secs(900) }
    }
}

impl AuthConfig {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), AuthError> {
        let bad = |m: String| Err(AuthError::Config(m));
        for p in &self.anonymous {
            if !matches!(p, Permission::Read | Permission::Write) {
                return bad(format!("auth.anonymous: {p} cannot be opened to anonymous clients (only read, write)"));
            }
        }
        if self.jwt.issuer.is_empty() || self.jwt.audience.is_empty() {
            return bad("auth.jwt.issuer and auth.jwt.audience must not be empty".into());
        }
        if self.jwt.leeway.0 > Duration::from_secs(3600) {
            return bad("auth.jwt.leeway must be at most 1h".into());
        }
        let r = &self.rate_limit;
        if (r.per_token > 0 && r.per_token_burst == 0) || (r.per_ip > 0 && r.per_ip_burst == 0) {
            return bad("auth.rate_limit: a burst must be at least 1 where a rate is set".into());
        }
        let l = &self.lockout;
        if l.max_failures > 0 && (l.window.0.is_zero() || l.duration.0.is_zero()) {
            return bad("auth.lockout.window and auth.lockout.duration must be positive".into());
        }
        for (name, k) in [("eddsa", &self.jwt.eddsa), ("rs256", &self.jwt.rs256)] {
            if let Some(k) = k
                && k.public_key_file.as_os_str().is_empty()
            {
                return bad(format!("auth.jwt.{name}.public_key_file is required"));
            }
        }
        if !self.jwt.hs256_enabled && self.jwt.eddsa.is_none() && self.jwt.rs256.is_none() {
            return bad("auth.jwt: no algorithm left (hs256_enabled is false and no eddsa/rs256 keys)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<AuthConfig, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_partial() {
        let c = parse("anonymous: [read]\njwt:\n  leeway: 1m\n  eddsa:\n    public_key_file: /k.pem\n").unwrap();
        assert_eq!(c.anonymous, vec![Permission::Read]);
        assert_eq!(c.jwt.leeway, PromDuration::from_secs(60));
        assert_eq!(c.jwt.issuer, "tickdb");
        assert_eq!(c.jwt.eddsa.as_ref().unwrap().public_key_file, PathBuf::from("/k.pem"));
        assert_eq!(c.rate_limit, RateLimitConfig::default());
        assert!(c.validate().is_ok());
        let c = parse("jwt:\n  signing_algorithm: RS256\n").unwrap();
        assert_eq!(c.jwt.signing_algorithm, SigningAlgorithm::RS256);
    }

    #[test]
    fn rejects() {
        for (yaml, why) in [
            ("nope: 1\n", "unknown key"),
            ("anonymous: [everything]\n", "unknown permission"),
            ("jwt:\n  hs512_secret_file: x\n", "unknown jwt key"),
            ("jwt:\n  signing_algorithm: none\n", "unknown algorithm"),
        ] {
            assert!(parse(yaml).is_err(), "{why}: {yaml}");
        }
        for (yaml, why) in [
            ("anonymous: [admin]\n", "admin never anonymous"),
            ("anonymous: [operate]\n", "operate never anonymous"),
            ("jwt:\n  issuer: ''\n", "empty issuer"),
            ("rate_limit:\n  per_ip: 5\n  per_ip_burst: 0\n", "zero burst"),
            ("lockout:\n  window: 0s\n", "zero window"),
            ("jwt:\n  hs256_enabled: false\n", "no algorithm"),
            ("jwt:\n  rs256: {private_key_file: /p.pem}\n", "no public key"),
        ] {
            let c = parse(yaml).unwrap();
            assert!(c.validate().is_err(), "{why}: {yaml}");
        }
    }

    #[test]
    fn yaml_round_trip() {
        let mut c = AuthConfig::default();
        c.jwt.rs256 = Some(KeyFiles { public_key_file: "/pub.pem".into(), private_key_file: PathBuf::new() });
        c.anonymous = vec![Permission::Read, Permission::Write];
        let text = serde_saphyr::to_string(&c).unwrap();
        assert_eq!(parse(&text).unwrap(), c, "{text}");
    }

    /// docs/security.md shows the defaults.
    #[test]
    fn security_doc_matches_the_defaults() {
        let doc = include_str!("../../docs/security.md");
        let start = doc.find("## Defaults").expect("defaults section");
        let yaml = doc[start..].split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("yaml block");
        let yaml = yaml.strip_prefix("auth:\n").expect("auth: block");
        let unindented: String = yaml.lines().map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l))).collect();
        assert_eq!(parse(&unindented).unwrap(), AuthConfig::default());
    }
}
