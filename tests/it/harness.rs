//! Starting a server and talking to it.

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};
use tickdb::config::Config;
use tickdb::remote::{self, v1, v2};
use tickdb::server::ServerHandle;

/// A base timestamp (ms) for test data: 2023-11-14T22:13:20Z.
pub const BASE: i64 = 1_700_000_000_000;

pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    handle: Option<ServerHandle>,
    pub dir: tempfile::TempDir,
}

/// An HTTP response reduced to what tests check.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(|_| {}).await
    }

    /// Starts a server with a modified default configuration.
    pub async fn with(f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::in_dir(dir, f).await
    }

    /// Starts a server on an existing data directory (e.g. to test restarts).
    pub async fn in_dir(dir: tempfile::TempDir, f: impl FnOnce(&mut Config)) -> TestServer {
        Self::in_dir_with_clock(dir, tickdb::server::system_clock(), f).await
    }

    /// Starts a server whose clock is `clock` (default query time, maintenance time).
    pub async fn with_clock(clock: tickdb::server::Clock, f: impl FnOnce(&mut Config)) -> TestServer {
        Self::in_dir_with_clock(tempfile::tempdir().expect("tempdir"), clock, f).await
    }

    async fn in_dir_with_clock(
        dir: tempfile::TempDir,
        clock: tickdb::server::Clock,
        f: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut cfg = Config {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..Default::default()
        };
        f(&mut cfg);
        let engine = tickdb::wiring::engine(&cfg);
        let flags = cfg.flag_values();
        let handle =
            tickdb::server::start_with_clock(cfg, Box::new(tickdb::wiring::open_storage), engine, flags, clock)
                .await
                .expect("start server");
        handle.wait_ready().await.expect("server ready");
        TestServer {
            url: format!("http://{}", handle.addr),
            client: tickdb::tls::client_builder().no_proxy().build().expect("client"),
            handle: Some(handle),
            dir,
        }
    }

    /// Gracefully stops the server (closing the storage) and returns its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(h) = self.handle.take() {
            h.shutdown().await.expect("clean shutdown");
        }
        self.dir
    }

    /// The running server.
    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server is running")
    }

    /// A new API token of `role` issued by the running server.
    pub fn token(&self, role: tickdb::auth::Role, subject: &str) -> String {
        let tokens = self.handle().state.auth.tokens();
        tokens.create(role, std::time::Duration::from_secs(3600), subject, Vec::new()).expect("token").0
    }

    /// Sends every later request of this server's client with a token of `role`.
    pub fn authenticate_as(&mut self, role: tickdb::auth::Role, subject: &str) {
        let mut h = HeaderMap::new();
        let v = format!("Bearer {}", self.token(role, subject));
        h.insert(reqwest::header::AUTHORIZATION, v.parse().expect("header value"));
        self.client = reqwest::Client::builder().default_headers(h).build().expect("client");
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    async fn finish(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.expect("body");
        Resp { status, headers, body }
    }

    pub async fn get(&self, path_and_query: &str) -> Resp {
        Self::finish(self.client.get(format!("{}{}", self.url, path_and_query)).send().await.expect("GET")).await
    }

    /// GET with parameters encoded by reqwest.
    pub async fn get_params(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        Self::finish(self.client.get(format!("{}{}", self.url, path)).query(params).send().await.expect("GET")).await
    }

    pub async fn post_form(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        Self::finish(self.client.post(format!("{}{}", self.url, path)).form(params).send().await.expect("POST")).await
    }

    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
        let mut req = self.client.post(format!("{}{}", self.url, path)).body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        Self::finish(req.send().await.expect("POST")).await
    }

    /// Sends a remote-write 1.0 request.
    pub async fn write_v1(&self, req: &v1::WriteRequest) -> Resp {
        self.write_body(V1_CT, remote::encode_compressed(req)).await
    }

    /// Sends a remote-write 2.0 request.
    pub async fn write_v2(&self, req: &v2::Request) -> Resp {
        self.write_body(V2_CT, remote::encode_compressed(req)).await
    }

    pub async fn write_body(&self, content_type: &str, body: Vec<u8>) -> Resp {
        let r = self
            .client
            .post(format!("{}/api/v1/write", self.url))
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .expect("write");
        Self::finish(r).await
    }

    /// Runs an instant query and returns the JSON body.
    pub async fn query(&self, q: &str, t_ms: i64) -> Resp {
        self.get_params("/api/v1/query", &[("query", q), ("time", &secs(t_ms))]).await
    }
}

pub const V1_CT: &str = "application/x-protobuf";
pub const V2_CT: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// Milliseconds as the API's float seconds.
pub fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A v1 series from label pairs and `(t, v)` samples.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1::TimeSeries {
    v1::TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| v1::Label { name: n.as_bytes().to_vec(), value: v.as_bytes().to_vec() })
            .collect(),
        samples: samples.iter().map(|(t, v)| v1::Sample { timestamp: *t, value: *v }).collect(),
        ..Default::default()
    }
}

pub fn write_request(ts: Vec<v1::TimeSeries>) -> v1::WriteRequest {
    v1::WriteRequest { timeseries: ts, metadata: vec![] }
}

/// Builds a v2 request, interning strings into the symbol table.
#[derive(Default)]
pub struct V2Builder {
    symbols: Vec<String>,
    pub req: v2::Request,
}

impl V2Builder {
    pub fn new() -> Self {
        let mut b = V2Builder::default();
        b.sym("");
        b
    }
    pub fn sym(&mut self, s: &str) -> u32 {
        if let Some(i) = self.symbols.iter().position(|x| x == s) {
            return i as u32;
        }
        self.symbols.push(s.to_string());
        self.req.symbols.push(s.as_bytes().to_vec());
        (self.symbols.len() - 1) as u32
    }
    pub fn series(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> &mut v2::TimeSeries {
        let mut refs = Vec::new();
        for (n, v) in labels {
            refs.push(self.sym(n));
            refs.push(self.sym(v));
        }
        self.req.timeseries.push(v2::TimeSeries {
            labels_refs: refs,
            samples: samples.iter().map(|(t, v)| v2::Sample { timestamp: *t, value: *v }).collect(),
            ..Default::default()
        });
        self.req.timeseries.last_mut().expect("just pushed")
    }
}

/// The standard data set of the API tests: two `up` series, a counter and a histogram, one
/// sample every 15 s for 10 minutes starting at [`BASE`].
pub fn standard_data() -> v1::WriteRequest {
    let steps = 0..=40i64;
    let pts = |f: &dyn Fn(i64) -> f64| steps.clone().map(|i| (BASE + i * 15_000, f(i))).collect::<Vec<_>>();
    let mut ts = vec![
        series(&[("__name__", "up"), ("job", "api"), ("instance", "a:9090")], &pts(&|_| 1.0)),
        series(
            &[("__name__", "up"), ("job", "api"), ("instance", "b:9090")],
            &pts(&|i| if i < 20 { 1.0 } else { 0.0 }),
        ),
        series(&[("__name__", "http_requests_total"), ("job", "api"), ("code", "200")], &pts(&|i| (i * 10) as f64)),
        series(&[("__name__", "http_requests_total"), ("job", "api"), ("code", "500")], &pts(&|i| i as f64)),
    ];
    for (le, frac) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
        ts.push(series(
            &[("__name__", "request_duration_seconds_bucket"), ("job", "api"), ("le", le)],
            &pts(&|i| (i as f64 * 100.0 * frac).floor()),
        ));
    }
    let mut req = write_request(ts);
    req.metadata.push(v1::MetricMetadata {
        r#type: v1::metric_metadata::MetricType::Counter as i32,
        metric_family_name: "http_requests_total".into(),
        help: "Requests served.".into(),
        unit: String::new(),
    });
    req
}

/// A server loaded with [`standard_data`].
pub async fn loaded_server() -> TestServer {
    let s = TestServer::start().await;
    let r = s.write_v1(&standard_data()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    s
}

/// Pretty-prints a JSON body for snapshots.
pub fn pretty(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| body.to_string()),
        Err(_) => body.to_string(),
    }
}
