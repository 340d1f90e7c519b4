//! [`Authenticator::check`] end to end: credentials, policy, limits, scope. Time is the
//! injected clock; nothing sleeps.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::*;
use crate::auth::config::{KeyFiles, SigningAlgorithm};

mod keys;

const T0: i64 = 1_700_000_000; // seconds

struct Env {
    dir: tempfile::TempDir,
    now: Arc<AtomicI64>,
    auth: Authenticator,
}

impl Env {
    fn new(cfg: AuthConfig, loopback: bool) -> Env {
        let dir = tempfile::tempdir().unwrap();
        Self::in_dir(dir, cfg, loopback)
    }

    fn in_dir(dir: tempfile::TempDir, cfg: AuthConfig, loopback: bool) -> Env {
        let now = Arc::new(AtomicI64::new(T0 * 1000));
        let n = now.clone();
        let auth =
            Authenticator::with_clock(&cfg, dir.path(), loopback, Arc::new(move || n.load(Ordering::Relaxed))).unwrap();
        Env { dir, now, auth }
    }

    fn advance(&self, d: Duration) {
        self.now.fetch_add(d.as_millis() as i64, Ordering::Relaxed);
    }

    fn now_s(&self) -> i64 {
        self.now.load(Ordering::Relaxed) / 1000
    }

    fn secret(&self) -> Vec<u8> {
        let mut s = std::fs::read(self.dir.path().join(jwt::DEFAULT_HS256_SECRET)).unwrap();
        assert_eq!(s.pop(), Some(b'\n'));
        s
    }

    fn check(&self, h: &HeaderMap, ip: &str, need: Permission) -> Result<Principal, AuthError> {
        self.auth.check(h, ip.parse().unwrap(), need)
    }

    /// Good claims at the current time.
    fn claims(&self) -> Value {
        let now = self.now_s();
        json!({"sub": "agent", "role": "admin", "jti": "id-1", "exp": now + 3600, "iat": now, "nbf": now,
               "iss": "tickdb", "aud": "tickdb"})
    }
}

fn authz(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(v).unwrap());
    h
}

fn bearer(t: &str) -> HeaderMap {
    authz(&format!("Bearer {t}"))
}

fn basic(user: &str, password: &str) -> HeaderMap {
    authz(&format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))))
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// A token from raw header and payload bytes, HMAC-SHA256 signed with `secret`.
fn hs256_raw(header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    let msg = format!("{}.{}", b64(header), b64(payload));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = ring::hmac::sign(&key, msg.as_bytes());
    format!("{msg}.{}", b64(sig.as_ref()))
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    hs256_raw(br#"{"alg":"HS256","typ":"JWT"}"#, claims.to_string().as_bytes(), secret)
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    if val.is_null() {
        v.as_object_mut().unwrap().remove(key);
    } else {
        v[key] = val;
    }
    v
}

#[derive(Debug)]
enum Want {
    Ok,
    Missing,
    Invalid(&'static str),
    Expired,
    NotYetValid,
    Revoked,
}

fn assert_outcome(res: Result<Principal, AuthError>, want: &Want, case: &str) {
    match (&res, want) {
        (Ok(_), Want::Ok)
        | (Err(AuthError::Missing), Want::Missing)
        | (Err(AuthError::Expired), Want::Expired)
        | (Err(AuthError::NotYetValid), Want::NotYetValid)
        | (Err(AuthError::Revoked), Want::Revoked) => {}
        (Err(AuthError::Invalid(m)), Want::Invalid(sub)) if m.contains(sub) => {}
        _ => panic!("{case}: got {res:?}, want {want:?}"),
    }
}

fn strict() -> AuthConfig {
    AuthConfig { lockout: config::LockoutConfig { max_failures: 0, ..Default::default() }, ..Default::default() }
}

#[test]
fn bearer_tokens() {
    let env = Env::new(strict(), false);
    let s = env.secret();
    let c = env.claims();
    let now = env.now_s();
    let good = hs256(&c, &s);
    let (h, p, sig) = {
        let mut it = good.split('.');
        (it.next().unwrap().to_string(), it.next().unwrap().to_string(), it.next().unwrap().to_string())
    };
    let forged_payload = b64(with(c.clone(), "sub", json!("root")).to_string().as_bytes());
    let cases: Vec<(&str, HeaderMap, Want)> = vec![
        ("good", bearer(&good), Want::Ok),
        ("lowercase scheme", authz(&format!("bearer {good}")), Want::Ok),
        ("no header", HeaderMap::new(), Want::Missing),
        ("empty bearer", authz("Bearer"), Want::Invalid("three")),
        ("unknown scheme", authz("Digest abc"), Want::Invalid("scheme")),
        ("not base64", bearer("a!b.c$d.e%f"), Want::Invalid("base64url")),
        ("two parts", bearer(&format!("{h}.{p}")), Want::Invalid("three")),
        ("four parts", bearer(&format!("{good}.{sig}")), Want::Invalid("three")),
        ("padded", bearer(&format!("{h}.{p}.{sig}==")), Want::Invalid("base64url")),
        ("header not json", bearer(&format!("{}.{p}.{sig}", b64(b"{not json"))), Want::Invalid("header")),
        ("header not base64", bearer(&format!("a.{p}.{sig}")), Want::Invalid("header")),
        ("payload not json", bearer(&hs256_raw(br#"{"alg":"HS256"}"#, b"{not json", &s)), Want::Invalid("claims")),
        ("payload garbled", bearer(&format!("{h}.{}.{sig}", &p[1..])), Want::Invalid("")),
        ("wrong secret", bearer(&hs256(&c, &[7u8; 32])), Want::Invalid("signature")),
        ("forged payload", bearer(&format!("{h}.{forged_payload}.{sig}")), Want::Invalid("signature")),
        ("expired", bearer(&hs256(&with(c.clone(), "exp", json!(now - 31)), &s)), Want::Expired),
        ("expired at leeway", bearer(&hs256(&with(c.clone(), "exp", json!(now - 30)), &s)), Want::Expired),
        ("expired within leeway", bearer(&hs256(&with(c.clone(), "exp", json!(now - 29)), &s)), Want::Ok),
        ("fractional exp", bearer(&hs256(&with(c.clone(), "exp", json!(now as f64 + 0.5)), &s)), Want::Ok),
        ("no exp", bearer(&hs256(&with(c.clone(), "exp", Value::Null), &s)), Want::Invalid("exp")),
        ("nbf ahead", bearer(&hs256(&with(c.clone(), "nbf", json!(now + 31)), &s)), Want::NotYetValid),
        ("nbf within leeway", bearer(&hs256(&with(c.clone(), "nbf", json!(now + 30)), &s)), Want::Ok),
        ("iat in the future", bearer(&hs256(&with(c.clone(), "iat", json!(now + 31)), &s)), Want::Invalid("iat")),
        (
            "no nbf, no iat",
            bearer(&hs256(&with(with(c.clone(), "nbf", Value::Null), "iat", Value::Null), &s)),
            Want::Ok,
        ),
        ("wrong issuer", bearer(&hs256(&with(c.clone(), "iss", json!("evil")), &s)), Want::Invalid("issuer")),
        ("no issuer", bearer(&hs256(&with(c.clone(), "iss", Value::Null), &s)), Want::Invalid("iss")),
        ("wrong audience", bearer(&hs256(&with(c.clone(), "aud", json!("other")), &s)), Want::Invalid("audience")),
        ("audience list", bearer(&hs256(&with(c.clone(), "aud", json!(["x", "tickdb"])), &s)), Want::Ok),
        (
            "audience list without us",
            bearer(&hs256(&with(c.clone(), "aud", json!(["x"])), &s)),
            Want::Invalid("audience"),
        ),
        ("no jti", bearer(&hs256(&with(c.clone(), "jti", Value::Null), &s)), Want::Invalid("jti")),
        ("empty jti", bearer(&hs256(&with(c.clone(), "jti", json!("")), &s)), Want::Invalid("jti")),
        ("unknown role", bearer(&hs256(&with(c.clone(), "role", json!("root")), &s)), Want::Invalid("claims")),
        ("bad scope", bearer(&hs256(&with(c.clone(), "scope", json!({"__name__": "x"})), &s)), Want::Invalid("scope")),
        (
            "alg none, empty signature",
            bearer(&format!("{}.{p}.", b64(br#"{"alg":"none","typ":"JWT"}"#))),
            Want::Invalid("base64url"),
        ),
        ("alg none", bearer(&format!("{}.{p}.AAAA", b64(br#"{"alg":"none"}"#))), Want::Invalid("alg none")),
        ("alg None", bearer(&format!("{}.{p}.AAAA", b64(br#"{"alg":"None"}"#))), Want::Invalid("alg none")),
        ("alg HS512", bearer(&hs256_raw(br#"{"alg":"HS512"}"#, c.to_string().as_bytes(), &s)), Want::Invalid("HS512")),
        (
            "alg RS256 unconfigured",
            bearer(&format!("{}.{p}.{sig}", b64(br#"{"alg":"RS256"}"#))),
            Want::Invalid("RS256"),
        ),
        ("alg unknown", bearer(&format!("{}.{p}.{sig}", b64(br#"{"alg":"XX1"}"#))), Want::Invalid("algorithm")),
        ("no alg", bearer(&format!("{}.{p}.{sig}", b64(br#"{"typ":"JWT"}"#))), Want::Invalid("header")),
        (
            "crit",
            bearer(&hs256_raw(br#"{"alg":"HS256","crit":["exp"]}"#, c.to_string().as_bytes(), &s)),
            Want::Invalid("crit"),
        ),
    ];
    for (i, (case, h, want)) in cases.into_iter().enumerate() {
        assert_outcome(env.check(&h, &format!("192.0.2.{}", i + 1), Permission::Read), &want, case);
    }
    // A good token's principal.
    let c = with(with(env.claims(), "role", json!("writer")), "scope", json!({"tenant": "acme"}));
    let p = env.check(&bearer(&hs256(&c, &s)), "192.0.2.1", Permission::Write).unwrap();
    let want = Principal {
        subject: "agent".into(),
        role: Role::Writer,
        token_id: Some("id-1".into()),
        scope: vec![("tenant".into(), "acme".into())],
        method: AuthMethod::Bearer,
    };
    assert_eq!(p, want);
}

#[test]
fn malformed_header_values() {
    let env = Env::new(strict(), false);
    let mut two = bearer("a.b.c");
    two.append("authorization", HeaderValue::from_static("Bearer d.e.f"));
    let not_ascii = {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_bytes(b"Bearer \xff.\xfe.x").unwrap());
        h
    };
    let huge = bearer(&"a".repeat(MAX_AUTHORIZATION_LEN));
    let at_limit = authz(&format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN - 7)));
    for (case, h, want) in [
        ("two headers", two, Want::Invalid("more than one")),
        ("not ascii", not_ascii, Want::Invalid("ASCII")),
        // Refused by length before any parsing (the message says so).
        ("oversized", huge, Want::Invalid("longer than 8192")),
        ("at the limit is parsed", at_limit, Want::Invalid("three")),
    ] {
        assert_outcome(env.check(&h, "192.0.2.1", Permission::Read), &want, case);
    }
}

#[test]
fn algorithm_confusion_is_refused() {
    let Some(k) = keys::rsa() else { return };
    let dir = tempfile::tempdir().unwrap();
    let public = keys::write(dir.path(), "rsa.pub.pem", &k.public_pem);
    let rs = KeyFiles { public_key_file: public, private_key_file: Default::default() };
    for hs256_enabled in [true, false] {
        let mut cfg = strict();
        cfg.jwt.rs256 = Some(rs.clone());
        cfg.jwt.hs256_enabled = hs256_enabled;
        let env = Env::new(cfg, false);
        // HS256 signed with the RSA public key's PEM bytes (and DER) as the HMAC secret.
        for secret in [k.public_pem.as_bytes(), k.public_pem.trim_end().as_bytes(), &k.public_der[..]] {
            let t = hs256(&env.claims(), secret);
            let want = if hs256_enabled { "signature" } else { "not accepted" };
            assert_outcome(env.check(&bearer(&t), "192.0.2.1", Permission::Read), &Want::Invalid(want), "confusion");
        }
        // The right RS256 token is accepted.
        let t = keys::sign(jsonwebtoken::Algorithm::RS256, &k.private_pem, &env.claims());
        assert_outcome(env.check(&bearer(&t), "192.0.2.1", Permission::Read), &Want::Ok, "rs256");
    }
}

#[test]
fn eddsa_and_rs256_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ed = keys::ed25519();
    let other_ed = keys::ed25519();
    let ed_files = KeyFiles {
        public_key_file: keys::write(dir.path(), "ed.pub.pem", &ed.public_pem),
        private_key_file: keys::write(dir.path(), "ed.pem", &ed.private_pem),
    };
    let mut cfg = strict();
    cfg.jwt.eddsa = Some(ed_files.clone());
    cfg.jwt.hs256_enabled = false;
    let rsa = keys::rsa();
    if let Some(k) = &rsa {
        cfg.jwt.rs256 = Some(KeyFiles {
            public_key_file: keys::write(dir.path(), "rsa.pub.pem", &k.public_pem),
            private_key_file: keys::write(dir.path(), "rsa.pem", &k.private_pem),
        });
    }
    let env = Env::new(cfg.clone(), false);
    // `auto` signs with EdDSA.
    let (t, _) = env.auth.tokens().create(Role::Reader, Duration::from_secs(60), "grafana", vec![]).unwrap();
    assert_eq!(jsonwebtoken::decode_header(&t).unwrap().alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(env.check(&bearer(&t), "192.0.2.1", Permission::Read).unwrap().subject, "grafana");
    // Signed elsewhere with the right key / another key; an HS256 token when HS256 is off.
    let c = env.claims();
    let cases = [
        ("eddsa", keys::sign(jsonwebtoken::Algorithm::EdDSA, &ed.private_pem, &c), Want::Ok),
        (
            "other ed key",
            keys::sign(jsonwebtoken::Algorithm::EdDSA, &other_ed.private_pem, &c),
            Want::Invalid("signature"),
        ),
        ("hs256 off", hs256(&c, &[1u8; 32]), Want::Invalid("not accepted")),
    ];
    for (case, t, want) in cases {
        assert_outcome(env.check(&bearer(&t), "192.0.2.1", Permission::Read), &want, case);
    }
    if let Some(k) = &rsa {
        let t = keys::sign(jsonwebtoken::Algorithm::RS256, &k.private_pem, &c);
        assert_outcome(env.check(&bearer(&t), "192.0.2.1", Permission::Read), &Want::Ok, "rs256");
        // An RS256 token verified against Ed25519 would need the RSA key: refused by signature.
        let mut cfg = cfg.clone();
        cfg.jwt.signing_algorithm = SigningAlgorithm::RS256;
        let env = Env::new(cfg, false);
        let (t, _) = env.auth.tokens().create(Role::Reader, Duration::from_secs(60), "x", vec![]).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&t).unwrap().alg, jsonwebtoken::Algorithm::RS256);
        assert!(env.check(&bearer(&t), "192.0.2.1", Permission::Read).is_ok());
    }
    // A private key that does not match its public key is refused at start.
    let mut bad = cfg.clone();
    bad.jwt.eddsa = Some(KeyFiles {
        private_key_file: keys::write(dir.path(), "other.pem", &other_ed.private_pem),
        ..ed_files.clone()
    });
    let e = Authenticator::new(&bad, dir.path(), false).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
    // A public key of the wrong type, and a missing file.
    let mut bad = cfg.clone();
    bad.jwt.eddsa = Some(KeyFiles { public_key_file: dir.path().join("missing.pem"), ..Default::default() });
    assert!(Authenticator::new(&bad, dir.path(), false).is_err());
    if let Some(k) = &rsa {
        let mut bad = cfg.clone();
        bad.jwt.eddsa = Some(KeyFiles {
            public_key_file: keys::write(dir.path(), "rsa-as-ed.pem", &k.public_pem),
            ..Default::default()
        });
        assert!(Authenticator::new(&bad, dir.path(), false).is_err());
    }
    // Verify-only keys cannot create tokens.
    let mut verify_only = strict();
    verify_only.jwt.hs256_enabled = false;
    verify_only.jwt.eddsa = Some(KeyFiles { private_key_file: Default::default(), ..ed_files });
    let env = Env::new(verify_only, false);
    assert!(env.auth.tokens().create(Role::Reader, Duration::from_secs(60), "x", vec![]).is_err());
}

#[test]
fn revoked_tokens_are_refused() {
    let env = Env::new(strict(), false);
    let tokens = env.auth.tokens();
    let (t, info) = tokens.create(Role::Reader, Duration::from_secs(3600), "grafana", vec![]).unwrap();
    let (t2, _) = tokens.create(Role::Reader, Duration::from_secs(3600), "other", vec![]).unwrap();
    assert!(env.check(&bearer(&t), "192.0.2.1", Permission::Read).is_ok());
    tokens.revoke(&info.id).unwrap();
    assert_outcome(env.check(&bearer(&t), "192.0.2.1", Permission::Read), &Want::Revoked, "revoked");
    assert!(env.check(&bearer(&t2), "192.0.2.1", Permission::Read).is_ok(), "others unaffected");
    // Revoked by another process (the CLI): effective after maintain().
    let n = env.now.clone();
    let cli = Authenticator::with_clock(&strict(), env.dir.path(), true, Arc::new(move || n.load(Ordering::Relaxed)))
        .unwrap();
    let id2 = cli.tokens().list().into_iter().find(|t| t.subject == "other").unwrap().id;
    cli.tokens().revoke(&id2).unwrap();
    assert!(env.check(&bearer(&t2), "192.0.2.1", Permission::Read).is_ok());
    env.auth.maintain().unwrap();
    assert_outcome(env.check(&bearer(&t2), "192.0.2.1", Permission::Read), &Want::Revoked, "revoked by the CLI");
    // Expiry of a stored token.
    let (t3, _) = tokens.create(Role::Reader, Duration::from_secs(60), "short", vec![]).unwrap();
    env.advance(Duration::from_secs(60 + 30));
    assert_outcome(env.check(&bearer(&t3), "192.0.2.1", Permission::Read), &Want::Expired, "expired");
}

#[test]
fn roles_and_permissions() {
    use Permission::*;
    let table = [
        (Role::Reader, [true, false, false, false]),
        (Role::Writer, [false, true, false, false]),
        (Role::Operator, [true, false, true, false]),
        (Role::Admin, [true, true, true, true]),
    ];
    let env = Env::new(strict(), false);
    for (role, allowed) in table {
        let (t, _) = env.auth.tokens().create(role, Duration::from_secs(60), "x", vec![]).unwrap();
        for (need, want) in [Read, Write, Operate, Admin].into_iter().zip(allowed) {
            assert_eq!(role.allows(need), want, "{role} {need}");
            match env.check(&bearer(&t), "192.0.2.1", need) {
                Ok(p) => assert!(want && p.role == role, "{role} {need}"),
                Err(e @ AuthError::Forbidden { .. }) => {
                    assert!(!want, "{role} {need}");
                    assert_eq!(e.status(), StatusCode::FORBIDDEN);
                    assert!(e.is_security_event());
                }
                Err(e) => panic!("{role} {need}: {e}"),
            }
        }
    }
    for r in Role::ALL {
        assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
    }
    assert!("Admin".parse::<Role>().is_err());
    for p in Permission::ALL {
        assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
    }
}

#[test]
fn anonymous_policy() {
    use Permission::*;
    let open = |perms: &[Permission]| AuthConfig { anonymous: perms.to_vec(), ..strict() };
    let forced = |perms: &[Permission]| AuthConfig { require_on_loopback: true, ..open(perms) };
    // (config, loopback listener, permissions open without credentials)
    let table: Vec<(AuthConfig, bool, Vec<Permission>)> = vec![
        (strict(), true, vec![Read, Write]),
        (strict(), false, vec![]),
        (open(&[Read]), false, vec![Read]),
        (open(&[Read, Write]), false, vec![Read, Write]),
        (forced(&[]), true, vec![]),
        (forced(&[Write]), true, vec![Write]),
    ];
    for (i, (cfg, loopback, open)) in table.into_iter().enumerate() {
        let env = Env::new(cfg, loopback);
        for need in Permission::ALL {
            let res = env.check(&HeaderMap::new(), "192.0.2.1", need);
            if open.contains(&need) {
                let p = res.unwrap();
                assert_eq!(
                    (p.method, p.subject.as_str(), p.role.allows(need)),
                    (AuthMethod::Anonymous, "anonymous", true)
                );
                assert!(p.role != Role::Admin && p.scope.is_empty());
            } else {
                let e = res.unwrap_err();
                assert!(matches!(e, AuthError::Missing), "case {i} {need}: {e}");
                assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
                assert!(e.www_authenticate().is_some() && !e.is_security_event());
            }
        }
    }
}

#[test]
fn basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let users =
        basic::tests::users_file(dir.path(), &[("grafana", "reader", "s3cret"), ("ops", "operator", "pw:with:colons")]);
    let cfg = AuthConfig { basic_auth_users_file: users, ..strict() };
    let env = Env::in_dir(dir, cfg, false);
    let cases = [
        ("good", basic("grafana", "s3cret"), Want::Ok),
        ("cached", basic("grafana", "s3cret"), Want::Ok),
        ("colons in password", basic("ops", "pw:with:colons"), Want::Ok),
        ("wrong password", basic("grafana", "nope"), Want::Invalid("wrong password")),
        ("unknown user", basic("mallory", "s3cret"), Want::Invalid("wrong password")),
        ("lowercase scheme", authz(&format!("basic {}", STANDARD.encode("grafana:s3cret"))), Want::Ok),
        ("not base64", authz("Basic !!!"), Want::Invalid("base64")),
        ("no colon", authz(&format!("Basic {}", STANDARD.encode("grafana"))), Want::Invalid("':'")),
        ("not utf-8", authz(&format!("Basic {}", STANDARD.encode(b"g\xff:x"))), Want::Invalid("UTF-8")),
    ];
    for (case, h, want) in cases {
        assert_outcome(env.check(&h, "192.0.2.1", Permission::Read), &want, case);
    }
    let p = env.check(&basic("ops", "pw:with:colons"), "192.0.2.1", Permission::Operate).unwrap();
    assert_eq!((p.subject.as_str(), p.role, p.method, p.token_id), ("ops", Role::Operator, AuthMethod::Basic, None));
    assert!(matches!(
        env.check(&basic("grafana", "s3cret"), "192.0.2.1", Permission::Write),
        Err(AuthError::Forbidden { .. })
    ));
    assert_eq!(env.auth.users.cached(), 2, "two users verified, failures not cached");
    // Without a users file, Basic credentials are invalid.
    let env = Env::new(strict(), false);
    assert_outcome(
        env.check(&basic("grafana", "s3cret"), "192.0.2.1", Permission::Read),
        &Want::Invalid("has no users"),
        "off",
    );
}

#[test]
fn lockout_after_failures_and_release() {
    let cfg = AuthConfig {
        lockout: config::LockoutConfig {
            max_failures: 3,
            window: crate::duration::PromDuration::from_secs(60),
            duration: crate::duration::PromDuration::from_secs(120),
        },
        ..Default::default()
    };
    let env = Env::new(cfg, false);
    let (good, _) = env.auth.tokens().create(Role::Reader, Duration::from_secs(86_400), "x", vec![]).unwrap();
    let bad = bearer("x.y.z");
    let ip = "2001:db8::1";
    // Requests without credentials are not failures.
    for _ in 0..5 {
        assert!(matches!(env.check(&HeaderMap::new(), ip, Permission::Read), Err(AuthError::Missing)));
    }
    for i in 0..3 {
        let e = env.check(&bad, ip, Permission::Read).unwrap_err();
        assert!(matches!(e, AuthError::Invalid(_)) && e.is_security_event(), "failure {i}: {e}");
    }
    // Locked out, even with good credentials, and from the same /64.
    for addr in [ip, "2001:db8::2"] {
        let e = env.check(&bearer(&good), addr, Permission::Read).unwrap_err();
        assert!(matches!(e, AuthError::LockedOut { .. }), "{e}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(e.is_security_event());
    }
    assert!(env.check(&bearer(&good), "2001:db8:0:1::1", Permission::Read).is_ok(), "another /64");
    env.advance(Duration::from_secs(119));
    let e = env.check(&bearer(&good), ip, Permission::Read).unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    env.advance(Duration::from_secs(1));
    assert!(env.check(&bearer(&good), ip, Permission::Read).is_ok(), "released");
    // Failures spread over more than the window do not lock out.
    for _ in 0..2 {
        assert!(env.check(&bad, ip, Permission::Read).is_err());
    }
    env.advance(Duration::from_secs(60));
    assert!(env.check(&bad, ip, Permission::Read).is_err());
    assert!(env.check(&bearer(&good), ip, Permission::Read).is_ok());
    // Forbidden (valid credentials, wrong role) does not count.
    for _ in 0..5 {
        assert!(matches!(env.check(&bearer(&good), ip, Permission::Admin), Err(AuthError::Forbidden { .. })));
    }
    assert!(env.check(&bearer(&good), ip, Permission::Read).is_ok());
}

#[test]
fn rate_limits() {
    let mut cfg = strict();
    cfg.rate_limit = config::RateLimitConfig { per_token: 2, per_token_burst: 2, per_ip: 10, per_ip_burst: 3 };
    let env = Env::new(cfg, false);
    let (t, _) = env.auth.tokens().create(Role::Reader, Duration::from_secs(3600), "x", vec![]).unwrap();
    let (other, _) = env.auth.tokens().create(Role::Reader, Duration::from_secs(3600), "y", vec![]).unwrap();
    // Per token: a burst of 2, then one every 500ms; other tokens are not affected.
    assert!(env.check(&bearer(&t), "192.0.2.1", Permission::Read).is_ok());
    assert!(env.check(&bearer(&t), "192.0.2.2", Permission::Read).is_ok());
    let e = env.check(&bearer(&t), "192.0.2.3", Permission::Read).unwrap_err();
    assert!(matches!(e, AuthError::RateLimited { .. }) && !e.is_security_event(), "{e}");
    assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(e.retry_after(), Some(Duration::from_millis(500)));
    assert!(env.check(&bearer(&other), "192.0.2.4", Permission::Read).is_ok());
    env.advance(Duration::from_millis(500));
    assert!(env.check(&bearer(&t), "192.0.2.5", Permission::Read).is_ok());
    // Per address: a burst of 3 from one address, whatever the credentials.
    env.advance(Duration::from_secs(10));
    for _ in 0..3 {
        assert!(
            env.check(&HeaderMap::new(), "198.51.100.1", Permission::Read)
                .is_err_and(|e| matches!(e, AuthError::Missing))
        );
    }
    let e = env.check(&bearer(&other), "198.51.100.1", Permission::Read).unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_millis(100)));
    assert!(env.check(&bearer(&other), "198.51.100.2", Permission::Read).is_ok());
    // State is pruned by maintain() once it no longer limits.
    env.advance(Duration::from_secs(60));
    env.auth.maintain().unwrap();
    assert!(env.check(&bearer(&other), "198.51.100.1", Permission::Read).is_ok());
}

#[test]
fn scope_of_writes_and_queries() {
    let p = Principal {
        subject: "agent".into(),
        role: Role::Writer,
        token_id: None,
        scope: vec![("env".into(), "prod".into()), ("tenant".into(), "acme".into())],
        method: AuthMethod::Bearer,
    };
    let labels = |pairs: &[(&str, &str)]| storage::Labels::from_pairs(pairs.iter().copied());
    for (series, want) in [
        (labels(&[("__name__", "up"), ("env", "prod"), ("tenant", "acme")]), None),
        (labels(&[("__name__", "up"), ("env", "prod"), ("tenant", "acme"), ("x", "y")]), None),
        (labels(&[("__name__", "up"), ("env", "prod"), ("tenant", "other")]), Some(("tenant", "other"))),
        (labels(&[("__name__", "up"), ("env", "prod")]), Some(("tenant", ""))),
        (labels(&[("__name__", "up"), ("env", "dev"), ("tenant", "acme")]), Some(("env", "dev"))),
        (labels(&[]), Some(("env", ""))),
    ] {
        match (p.check_write(&series), want) {
            (Ok(()), None) => {}
            (Err(AuthError::OutOfScope { label, got, .. }), Some((l, g))) if label == l && got == g => {}
            (res, want) => panic!("{series}: {res:?}, want {want:?}"),
        }
    }
    let e = p.check_write(&labels(&[])).unwrap_err();
    assert_eq!((e.status(), e.is_security_event()), (StatusCode::FORBIDDEN, true));
    let m: Vec<String> = p.query_matchers().iter().map(|m| m.to_string()).collect();
    assert_eq!(m, vec![r#"env="prod""#, r#"tenant="acme""#]);
    let unscoped = Principal { scope: vec![], ..p };
    assert!(unscoped.check_write(&labels(&[])).is_ok());
    assert!(unscoped.query_matchers().is_empty());
}

#[test]
fn hs256_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(jwt::DEFAULT_HS256_SECRET);
    let a = Authenticator::new(&strict(), dir.path(), false).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let secret = std::fs::read_to_string(&path).unwrap();
    assert_eq!(secret.trim_end().len(), 64, "32 random bytes, hex");
    let (t, _) = a.tokens().create(Role::Reader, Duration::from_secs(60), "x", vec![]).unwrap();
    // A restart reuses the secret: its tokens stay valid.
    let b = Authenticator::new(&strict(), dir.path(), false).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret);
    assert!(b.check(&bearer(&t), "192.0.2.1".parse().unwrap(), Permission::Read).is_ok());
    // A configured secret file is used instead (and must be long enough).
    let own = dir.path().join("own.key");
    std::fs::write(&own, format!("{}\n", "k".repeat(32))).unwrap();
    let cfg =
        AuthConfig { jwt: config::JwtConfig { hs256_secret_file: own.clone(), ..Default::default() }, ..strict() };
    let c = Env::new(cfg.clone(), false);
    let tok = hs256(&c.claims(), "k".repeat(32).as_bytes());
    assert!(c.check(&bearer(&tok), "192.0.2.1", Permission::Read).is_ok());
    assert!(c.check(&bearer(&t), "192.0.2.1", Permission::Read).is_err(), "other secret");
    std::fs::write(&own, "short\n").unwrap();
    let e = Authenticator::new(&cfg, dir.path(), false).unwrap_err();
    assert!(e.to_string().contains("at least 32"), "{e}");
}

#[test]
fn error_classes() {
    let d = Duration::from_secs(3);
    let table: Vec<(AuthError, u16, Option<Duration>, bool)> = vec![
        (AuthError::Missing, 401, None, false),
        (AuthError::Invalid("x".into()), 401, None, true),
        (AuthError::Expired, 401, None, true),
        (AuthError::NotYetValid, 401, None, true),
        (AuthError::Revoked, 401, None, true),
        (AuthError::Forbidden { subject: "s".into(), role: Role::Reader, need: Permission::Admin }, 403, None, true),
        (AuthError::OutOfScope { label: "a".into(), want: "b".into(), got: "c".into() }, 403, None, true),
        (AuthError::RateLimited { retry_after: d }, 429, Some(d), false),
        (AuthError::LockedOut { retry_after: d }, 429, Some(d), true),
        (AuthError::UnknownToken("x".into()), 404, None, false),
        (AuthError::Config("x".into()), 500, None, false),
    ];
    for (e, status, retry, security) in table {
        assert_eq!((e.status().as_u16(), e.retry_after(), e.is_security_event()), (status, retry, security), "{e}");
    }
}

/// The peer address type the middleware passes.
#[test]
fn ipv4_mapped_peers_share_state_with_ipv4() {
    let mut cfg = AuthConfig::default();
    cfg.lockout.max_failures = 1;
    let env = Env::new(cfg, false);
    assert!(env.check(&bearer("x.y.z"), "::ffff:192.0.2.9", Permission::Read).is_err());
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    assert!(matches!(env.auth.check(&bearer("a.b.c"), ip, Permission::Read), Err(AuthError::LockedOut { .. })));
    // Requests without credentials are not locked out (they guess nothing).
    assert!(matches!(env.auth.check(&HeaderMap::new(), ip, Permission::Read), Err(AuthError::Missing)));
}
