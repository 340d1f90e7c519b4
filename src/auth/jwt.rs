//! JSON Web Tokens: the configured keys, verification with algorithm pinning, and signing.
//!
//! Every key is bound to exactly one algorithm. The token header's `alg` picks the key; a
//! header naming an algorithm without a configured key is refused before any cryptography, so
//! an `HS256` token is only ever checked against the HS256 secret, never against an RSA or
//! Ed25519 public key used as an HMAC secret. `alg: none`, `crit` headers and anything that is
//! not three base64url parts are refused. Time claims are checked here against the injected
//! clock (jsonwebtoken's own time checks are turned off: they read the system clock).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::config::{JwtConfig, KeyFiles, SigningAlgorithm};
use crate::auth::files;
use crate::auth::{AuthError, Role, validate_scope};

/// Where the generated HS256 secret lives under the data directory.
pub const DEFAULT_HS256_SECRET: &str = "auth/hs256.key";
/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
const MIN_SECRET_LEN: usize = 32;

/// The claims tickdb reads and writes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Label name → value every write must carry and every query is restricted to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope: BTreeMap<String, String>,
    pub jti: String,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(default, deserialize_with = "opt_numeric_date", skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, deserialize_with = "opt_numeric_date", skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub iss: String,
    pub aud: Audience,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(v) => v.iter().any(|a| a == aud),
        }
    }
}

/// NumericDate: seconds since the epoch, possibly fractional (truncated).
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

fn opt_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date(d).map(Some)
}

struct VerifyKey {
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// The configured keys and claim expectations.
pub struct JwtKeys {
    verify: Vec<VerifyKey>,
    signer: Option<(Algorithm, EncodingKey)>,
    issuer: String,
    audience: String,
    leeway_s: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.verify.iter().map(|k| k.alg).collect();
        f.debug_struct("JwtKeys").field("verify", &algs).field("signer", &self.signer.as_ref().map(|s| s.0)).finish()
    }
}

fn config_err(path: &Path, what: &str, e: impl std::fmt::Display) -> AuthError {
    AuthError::Config(format!("{}: {what}: {e}", path.display()))
}

/// Signs and verifies a probe message, so a private key that does not belong to the public
/// key is found at start rather than by every client.
fn probe(alg: Algorithm, enc: &EncodingKey, dec: &DecodingKey, path: &Path) -> Result<(), AuthError> {
    let sig = jsonwebtoken::crypto::sign(b"tickdb key probe", enc, alg)
        .map_err(|e| config_err(path, "cannot sign with the private key", e))?;
    match jsonwebtoken::crypto::verify(&sig, b"tickdb key probe", dec, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(config_err(path, "private key", "does not match the public key")),
        Err(e) => Err(config_err(path, "public key", e)),
    }
}

impl JwtKeys {
    /// Loads the keys of `cfg`; creates the HS256 secret under `data_dir` if needed.
    pub fn load(cfg: &JwtConfig, data_dir: &Path) -> Result<JwtKeys, AuthError> {
        let mut verify = Vec::new();
        let mut signers: Vec<(Algorithm, EncodingKey)> = Vec::new();
        if cfg.hs256_enabled {
            let secret = if cfg.hs256_secret_file.as_os_str().is_empty() {
                ensure_default_secret(data_dir)?
            } else {
                read_secret(&cfg.hs256_secret_file)?
            };
            verify.push((Algorithm::HS256, DecodingKey::from_secret(&secret)));
            signers.push((Algorithm::HS256, EncodingKey::from_secret(&secret)));
        }
        let asym: [(Algorithm, &Option<KeyFiles>); 2] =
            [(Algorithm::EdDSA, &cfg.eddsa), (Algorithm::RS256, &cfg.rs256)];
        for (alg, key_files) in asym {
            let Some(kf) = key_files else { continue };
            let pem = std::fs::read(&kf.public_key_file).map_err(files::io_err(&kf.public_key_file))?;
            let dec = match alg {
                Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                _ => DecodingKey::from_rsa_pem(&pem),
            }
            .map_err(|e| config_err(&kf.public_key_file, &format!("not a {alg:?} public key"), e))?;
            if !kf.private_key_file.as_os_str().is_empty() {
                let pem = files::read_secret(&kf.private_key_file)?;
                let enc = match alg {
                    Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                    _ => EncodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| config_err(&kf.private_key_file, &format!("not a {alg:?} private key"), e))?;
                probe(alg, &enc, &dec, &kf.private_key_file)?;
                signers.push((alg, enc));
            }
            verify.push((alg, dec));
        }
        let wanted = match cfg.signing_algorithm {
            SigningAlgorithm::Auto => [Algorithm::EdDSA, Algorithm::RS256, Algorithm::HS256]
                .into_iter()
                .find(|a| signers.iter().any(|(s, _)| s == a)),
            SigningAlgorithm::HS256 => Some(Algorithm::HS256),
            SigningAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            SigningAlgorithm::RS256 => Some(Algorithm::RS256),
        };
        let signer = match wanted {
            Some(alg) => {
                let pos = signers.iter().position(|(a, _)| *a == alg).ok_or_else(|| {
                    AuthError::Config(format!("auth.jwt.signing_algorithm {alg:?}: no key to sign with is configured"))
                })?;
                Some(signers.swap_remove(pos))
            }
            None => None,
        };
        let verify = verify
            .into_iter()
            .map(|(alg, key)| {
                let mut validation = Validation::new(alg);
                // Claims are checked in `verify` against the injected clock.
                validation.required_spec_claims.clear();
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.validate_aud = false;
                validation.leeway = 0;
                VerifyKey { alg, key, validation }
            })
            .collect();
        Ok(JwtKeys {
            verify,
            signer,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway_s: i64::try_from(cfg.leeway.0.as_secs()).unwrap_or(i64::MAX),
        })
    }

    /// The algorithms tokens are accepted with.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.verify.iter().map(|k| k.alg).collect()
    }

    /// The algorithm new tokens are signed with, if any key can sign.
    pub fn signing_algorithm(&self) -> Option<Algorithm> {
        self.signer.as_ref().map(|s| s.0)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs `claims` with the signing key.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let (alg, key) = self.signer.as_ref().ok_or_else(|| {
            AuthError::Config("no key to sign tokens with: configure a private key or enable HS256".into())
        })?;
        let mut header = Header::new(*alg);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, key).map_err(|e| AuthError::Config(format!("signing a token: {e}")))
    }

    /// Verifies signature and claims of `token` at `now_s` (seconds since the epoch).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Claims, AuthError> {
        let invalid = |m: &str| AuthError::Invalid(m.to_string());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("not a JWT: expected three dot-separated parts"));
        };
        let b64url = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !(b64url(h) && b64url(p) && b64url(s)) {
            return Err(invalid("not a JWT: every part must be non-empty unpadded base64url"));
        }
        let header_json = URL_SAFE_NO_PAD.decode(h).map_err(|_| invalid("malformed token header: not base64url"))?;
        #[derive(Deserialize)]
        struct RawHeader {
            alg: String,
            crit: Option<serde::de::IgnoredAny>,
        }
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|_| invalid("malformed token header: not a JSON object with alg"))?;
        if header.crit.is_some() {
            return Err(invalid("token header has critical extensions (crit), which are not supported"));
        }
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(invalid("unsigned tokens (alg none) are refused"));
        }
        let alg = Algorithm::from_str(&header.alg).map_err(|_| invalid("unsupported token algorithm"))?;
        let Some(key) = self.verify.iter().find(|k| k.alg == alg) else {
            return Err(AuthError::Invalid(format!("token algorithm {alg:?} is not accepted by this server")));
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => invalid("token signature does not verify"),
            ErrorKind::InvalidAlgorithm => invalid("token algorithm does not match the key"),
            ErrorKind::Json(e) => AuthError::Invalid(format!("malformed token claims: {e}")),
            ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => invalid("malformed token"),
            _ => {
                tracing::warn!(error = %e, "token verification failed");
                invalid("token cannot be verified")
            }
        })?;
        let c = data.claims;
        if c.jti.is_empty() || c.sub.is_empty() {
            return Err(invalid("token has an empty jti or sub"));
        }
        if c.iss != self.issuer {
            return Err(invalid("token has the wrong issuer"));
        }
        if !c.aud.contains(&self.audience) {
            return Err(invalid("token has the wrong audience"));
        }
        if now_s >= c.exp.saturating_add(self.leeway_s) {
            return Err(AuthError::Expired);
        }
        if c.nbf.is_some_and(|nbf| nbf > now_s.saturating_add(self.leeway_s)) {
            return Err(AuthError::NotYetValid);
        }
        if c.iat.is_some_and(|iat| iat > now_s.saturating_add(self.leeway_s)) {
            return Err(invalid("token issued in the future (iat)"));
        }
        validate_scope(c.scope.iter()).map_err(|e| AuthError::Invalid(format!("token scope: {e}")))?;
        Ok(c)
    }
}

/// Reads a configured secret: the bytes, a trailing newline removed, at least 32 of them.
fn read_secret(path: &Path) -> Result<Vec<u8>, AuthError> {
    let mut s = files::read_secret(path)?;
    while s.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        s.pop();
    }
    if s.len() < MIN_SECRET_LEN {
        return Err(config_err(path, "HS256 secret", format!("{} bytes, need at least {MIN_SECRET_LEN}", s.len())));
    }
    Ok(s)
}

/// `<data_dir>/auth/hs256.key`, created on first use: 32 random bytes, hex-encoded, mode 0600.
fn ensure_default_secret(data_dir: &Path) -> Result<Vec<u8>, AuthError> {
    let path = data_dir.join(DEFAULT_HS256_SECRET);
    if !path.exists() {
        let dir = path.parent().unwrap_or(data_dir);
        files::private_dir(dir)?;
        let secret = format!("{}\n", files::random_hex(32));
        if files::create_exclusive(&path, secret.as_bytes())? {
            tracing::info!(path = %path.display(), "generated the HS256 token secret");
        }
    }
    read_secret(&path)
}
