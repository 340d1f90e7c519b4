//! Test keys: Ed25519 from `ring`, RSA from the `openssl` command (skipped loudly without it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::KeyPair as _;
use serde_json::Value;

pub(super) struct Keys {
    pub public_pem: String,
    pub private_pem: String,
    pub public_der: Vec<u8>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A fresh Ed25519 key pair (PKCS#8 private key, SubjectPublicKeyInfo public key).
pub(super) fn ed25519() -> Keys {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) key }
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    Keys { public_pem: pem("PUBLIC KEY", &spki), private_pem: pem("PRIVATE KEY", pkcs8.as_ref()), public_der: spki }
}

/// A 2048-bit RSA key pair made once by `openssl`; `None` (and a note on stderr) without it.
pub(super) fn rsa() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        let private = dir.path().join("rsa.pem");
        let ok = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&private)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
        let public = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).output().ok()?;
        let der =
            Command::new("openssl").args(["pkey", "-pubout", "-outform", "DER", "-in"]).arg(&private).output().ok()?;
        Some(Keys {
            public_pem: String::from_utf8(public.stdout).ok()?,
            private_pem: std::fs::read_to_string(&private).ok()?,
            public_der: der.stdout,
        })
    });
    if keys.is_none() {
        eprintln!("SKIPPED: RSA test cases need the `openssl` command, which is not available");
    }
    keys.as_ref()
}

pub(super) fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A token signed elsewhere (as an identity provider would).
pub(super) fn sign(alg: jsonwebtoken::Algorithm, private_pem: &str, claims: &Value) -> String {
    let key = match alg {
        jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(private_pem.as_bytes()),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(private_pem.as_bytes()),
    }
    .unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, &key).unwrap()
}
