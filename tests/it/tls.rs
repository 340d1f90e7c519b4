//! HTTPS on the listener: a certificate signed by a test CA (made with the `openssl` command) served
//! with rustls; clients that trust it get answers, plain HTTP gets none, a bad key file stops
//! the start with a clear error.

use std::process::Command;

use crate::harness::TestServer;

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA cert, server cert, key); None
/// without a working `openssl` command.
pub(crate) fn certificates(
    dir: &std::path::Path,
) -> Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let p = |n: &str| dir.join(n);
    let run =
        |args: &[&str]| Command::new("openssl").current_dir(dir).args(args).output().is_ok_and(|o| o.status.success());
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .ok()?;
    let ok = run(&[
        &["req", "-x509"][..],
        &ec,
        &["-days", "1", "-subj", "/CN=tickdb test CA", "-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat())
        && run(&[&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "leaf.csr"]].concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
    ok.then(|| (p("ca.pem"), p("cert.pem"), p("key.pem")))
}

#[tokio::test]
async fn the_listener_serves_https_with_the_configured_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = certificates(certs.path()) else {
        eprintln!("SKIPPED: the openssl command is not available to make a certificate");
        return;
    };
    let (c2, k2) = (cert.clone(), key.clone());
    let mut s = TestServer::with(move |c| {
        c.tls.cert_file = c2;
        c.tls.key_file = k2;
    })
    .await;
    let pem = std::fs::read(&ca).unwrap();
    let client = tickdb::tls::client_builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let https = s.url.replace("http://", "https://");
    let r = client.get(format!("{https}/api/v1/query?query=1%2B1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["data"]["result"][1], "2", "{v}");
    // Plain HTTP to the TLS port gets no HTTP answer; a client that does not trust the
    // certificate is refused by its own TLS check.
    assert!(reqwest::get(format!("{}/-/ready", s.url)).await.is_err());
    assert!(reqwest::get(format!("{https}/-/ready")).await.is_err());
    s.url = https;
    s.client = client;
    assert_eq!(s.get("/-/ready").await.status, 200);
    s.stop().await;

    // A key that is not a key: the start fails and says which files.
    std::fs::write(&key, "not a key").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tickdb::config::Config {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: tickdb::config::TlsConfig { cert_file: cert.clone(), key_file: key.clone() },
        ..Default::default()
    };
    let err = tickdb::server::start(
        cfg,
        Box::new(tickdb::wiring::open_storage),
        tickdb::wiring::engine(&tickdb::config::Config::default()),
        Default::default(),
    )
    .await
    .err()
    .expect("a bad key stops the start");
    assert!(err.to_string().contains("key.pem"), "{err}");
}
