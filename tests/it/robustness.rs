//! Bad input: every error is Prometheus's JSON envelope with the right status (unknown routes,
//! wrong methods, oversized and streamed bodies, bad encodings), and random input to the write,
//! import and query endpoints never makes the server fail (no 5xx) or stop answering.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

/// Asserts an error envelope with `status` and `error_type`; returns the message.
fn envelope(r: &Resp, status: u16, error_type: &str) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json", "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    assert_eq!(v["status"], "error", "{}", r.body);
    assert_eq!(v["errorType"], error_type, "{}", r.body);
    v["error"].as_str().expect("error message").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_are_envelopes() {
    let s = TestServer::start().await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/write", "/api/v1/label/x/values/extra"] {
        let msg = envelope(&s.get(path).await, 404, "not_found");
        assert_eq!(msg, format!("404 page not found: GET {path}"));
    }
    let msg = envelope(&s.get("/api/v1/write").await, 405, "bad_data");
    assert_eq!(msg, "method GET not allowed for /api/v1/write");
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/query"),
        (reqwest::Method::PUT, "/api/v1/import/prometheus"),
        (reqwest::Method::POST, "/api/v1/label/job/values"),
        (reqwest::Method::POST, "/-/healthy"),
    ] {
        let r = s.client.request(method.clone(), format!("{}{path}", s.url)).send().await.unwrap();
        let r = Resp { status: r.status().as_u16(), headers: r.headers().clone(), body: r.text().await.unwrap() };
        envelope(&r, 405, "bad_data");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limits_and_encodings() {
    let s = TestServer::with(|c| {
        c.query.max_form_bytes = 1000;
        c.write.max_body_bytes = 1000;
        c.write.max_decompressed_bytes = 1000;
    })
    .await;
    // A form body over the limit (declared length).
    let long = "x".repeat(2000);
    let msg = envelope(&s.post_form("/api/v1/query", &[("query", &long)]).await, 413, "bad_data");
    assert_eq!(msg, "form body larger than the limit of 1000 bytes");
    // An import body over the limit.
    let body = "m 1\n".repeat(300).into_bytes();
    envelope(&s.post_raw("/api/v1/import/prometheus", Some("text/plain"), body).await, 413, "bad_data");
    // Chunked bodies without a length are cut at the limit too.
    for (path, ct) in [
        ("/api/v1/query", "application/x-www-form-urlencoded"),
        ("/api/v1/write", "application/x-protobuf"),
        ("/api/v1/import/prometheus", "text/plain"),
    ] {
        let (status, body) = raw_chunked_post(&s.addr(), path, ct, &[b"query=", &[b'a'; 800], &[b'a'; 800]]).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert!(body.contains("\"errorType\":\"bad_data\""), "{path}: {body}");
    }
    // Unsupported encodings.
    let r = s
        .client
        .post(format!("{}/api/v1/write", s.url))
        .header("content-type", V1_CT)
        .header("content-encoding", "gzip")
        .body(vec![1, 2, 3])
        .send()
        .await
        .unwrap();
    let r = Resp { status: r.status().as_u16(), headers: r.headers().clone(), body: r.text().await.unwrap() };
    assert_eq!(envelope(&r, 415, "bad_data"), "unsupported Content-Encoding \"gzip\"; only snappy is supported");
    // Broken percent-encoding and bytes that are not UTF-8: decoded leniently, then rejected by
    // the parameter checks.
    for body in [&b"query=%zz%&time=%"[..], b"query=\xff\xfe", b"query=up&time=%ff"] {
        let r = s.post_raw("/api/v1/query", Some("application/x-www-form-urlencoded"), body.to_vec()).await;
        envelope(&r, 400, "bad_data");
    }
    let r = s.get("/api/v1/query?query=%ff%fe&time=1").await;
    envelope(&r, 400, "bad_data");
    assert_eq!(s.get("/-/healthy").await.status, 200);
    s.stop().await;
}

/// Sends a chunked POST over a raw connection (reqwest always sends a length for a buffered
/// body) and returns the status and body of the answer.
async fn raw_chunked_post(addr: &str, path: &str, content_type: &str, chunks: &[&[u8]]) -> (u16, String) {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        // The server may answer and close before the whole body is sent.
        if c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || c.write_all(chunk).await.is_err()
            || c.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Random and mutated input: no 5xx, no crash, and the server still stores and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_input_never_breaks_the_server() {
    let s = TestServer::start().await;
    let mut rng = StdRng::seed_from_u64(0x0071_cdb0);
    let valid_v1 = prost::Message::encode_to_vec(&standard_data());
    let valid_v2 = {
        let mut b = V2Builder::new();
        b.series(&[("__name__", "v2"), ("job", "x")], &[(BASE, 1.0), (BASE + 1000, 2.0)]);
        prost::Message::encode_to_vec(&b.req)
    };
    let ok_write = |status: u16| matches!(status, 204 | 400 | 413 | 415);
    for i in 0..300 {
        let ct = if i % 2 == 0 { V1_CT } else { V2_CT };
        let body: Vec<u8> = match i % 3 {
            // Random bytes, as sent.
            0 => (0..rng.random_range(0..200)).map(|_| rng.random()).collect(),
            // Random bytes, snappy-compressed (reach the protobuf decoder).
            1 => {
                let raw: Vec<u8> = (0..rng.random_range(0..300)).map(|_| rng.random()).collect();
                snap::raw::Encoder::new().compress_vec(&raw).unwrap()
            }
            // A valid request with a few bytes changed, truncated or extended.
            _ => {
                let mut raw = if i % 2 == 0 { valid_v1.clone() } else { valid_v2.clone() };
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..raw.len());
                    raw[at] = rng.random();
                }
                if rng.random_bool(0.3) {
                    raw.truncate(rng.random_range(0..raw.len()));
                }
                snap::raw::Encoder::new().compress_vec(&raw).unwrap()
            }
        };
        let r = s.write_body(ct, body).await;
        assert!(ok_write(r.status), "write #{i}: {} {}", r.status, r.body);
    }
    let alphabet: Vec<char> = "abc_{}=\"', \n#0123456789.e+-:TYPEHELP\\\u{e9}\t".chars().collect();
    for i in 0..200 {
        let text: String =
            (0..rng.random_range(0..120)).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        let r = s.post_raw("/api/v1/import/prometheus", Some("text/plain"), text.into_bytes()).await;
        assert!(ok_write(r.status), "import #{i}: {} {}", r.status, r.body);
    }
    let promql: Vec<&str> = vec![
        "up",
        "rate(",
        ")",
        "[5m]",
        "[1s:1ms]",
        "sum",
        " by (job)",
        "{",
        "}",
        "job=\"api\"",
        "=~",
        "\".*\"",
        "+",
        "/",
        "0",
        "1e308",
        "NaN",
        "offset -1h",
        "@ end()",
        "histogram_quantile(",
        ",",
        "topk(",
        "label_replace(",
        "\"",
        "\\",
        "or",
        "unless",
        "on()",
        "group_left",
        "-",
        "^",
        "%",
        "count_values(",
        "absent(",
        "vector(",
        "time()",
        "quantile_over_time(",
        "[1y]",
        "'",
        "`",
        "#",
        "\u{ff}",
    ];
    for i in 0..300 {
        let q: String = (0..rng.random_range(1..8)).map(|_| promql[rng.random_range(0..promql.len())]).collect();
        let t = rng.random_range(-1e10..1e10f64).to_string();
        let r = s.get_params("/api/v1/query", &[("query", &q), ("time", &t)]).await;
        // 503 would be a timeout: random queries over a tiny data set must not take minutes.
        assert!(matches!(r.status, 200 | 400 | 422), "query #{i} {q:?}: {} {}", r.status, r.body);
        let step = rng.random_range(-5..100).to_string();
        let r =
            s.get_params("/api/v1/query_range", &[("query", &q), ("start", &t), ("end", &t), ("step", &step)]).await;
        assert!(matches!(r.status, 200 | 400 | 422), "range #{i} {q:?}: {} {}", r.status, r.body);
    }
    // Still healthy, still storing and answering.
    assert_eq!(s.get("/-/healthy").await.status, 200);
    assert_eq!(s.get("/-/ready").await.status, 200);
    let r = s.write_v1(&write_request(vec![series(&[("__name__", "after_fuzz")], &[(BASE, 5.0)])])).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.query("after_fuzz", BASE).await;
    assert!(r.body.contains("\"5\""), "{}", r.body);
    s.stop().await;
}

/// An engine that panics: the query gets a 500 `internal` envelope without the panic's detail,
/// and the server keeps serving.
struct PanickingEngine;

impl tickdb::engine::QueryEngine for PanickingEngine {
    fn instant(
        &self,
        _: &dyn storage::Queryable,
        expr: &str,
        _: i64,
        _: Option<std::time::Duration>,
    ) -> Result<tickdb::engine::QueryOutput, tickdb::engine::QueryFailure> {
        panic!("engine bug on {expr}")
    }
    fn range(
        &self,
        _: &dyn storage::Queryable,
        expr: &str,
        _: tickdb::engine::Range,
        _: Option<std::time::Duration>,
    ) -> Result<tickdb::engine::QueryOutput, tickdb::engine::QueryFailure> {
        panic!("engine bug on {expr}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tickdb::config::Config {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let h = tickdb::server::start(
        cfg,
        Box::new(tickdb::wiring::open_storage),
        std::sync::Arc::new(PanickingEngine),
        Default::default(),
    )
    .await
    .unwrap();
    h.wait_ready().await.unwrap();
    let c = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let url = format!("http://{}", h.addr);
    for _ in 0..3 {
        let r = c.get(format!("{url}/api/v1/query?query=up")).send().await.unwrap();
        let r = Resp { status: r.status().as_u16(), headers: r.headers().clone(), body: r.text().await.unwrap() };
        assert_eq!(envelope(&r, 500, "internal"), "internal error (see server log)");
    }
    assert_eq!(c.get(format!("{url}/-/healthy")).send().await.unwrap().status().as_u16(), 200);
    h.shutdown().await.unwrap();
}
