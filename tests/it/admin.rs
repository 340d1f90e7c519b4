//! The admin API end to end on the real server: authentication and roles on every admin route,
//! rule groups as versioned configuration (put, validation, dry run, diff, rollback, delete),
//! tokens through the API, and the audit log those actions leave (one entry each, with before
//! and after), checked through the audit API and `tickdb audit verify`.

use reqwest::StatusCode;
use serde_json::Value;
use tickdb::auth::Role;

use crate::harness::{TestServer, series, write_request};

const GROUP_V1: &str = "name: game\ninterval: 1s\nrules:\n  - record: game:players:sum\n    expr: sum(players)\n  - alert: Crowded\n    expr: players > 50\n    labels:\n      severity: warning\n";
const GROUP_V2: &str = "name: game\ninterval: 1s\nrules:\n  - record: game:players:sum\n    expr: sum(players)\n  - alert: Crowded\n    expr: players > 80\n    labels:\n      severity: critical\n";

struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = rb.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn put(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

fn client(s: &TestServer, token: Option<String>) -> Client {
    Client { base: s.url.clone(), http: reqwest::Client::new(), token }
}

async fn audit(admin: &Client, query: &str) -> Vec<Value> {
    let (st, v) = admin.get(&format!("/api/v1/admin/audit?{query}")).await;
    assert_eq!(st, 200, "{v}");
    v["data"]["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn admin_routes_refuse_missing_bad_and_weak_credentials() {
    // Every route is tried with a garbled token: no lockout of this address here (see below).
    let s = TestServer::with(|c| c.auth.lockout.max_failures = 0).await;
    let reader = s.token(Role::Reader, "grafana");
    let operator = s.token(Role::Operator, "oncall");
    let admin = client(&s, Some(s.token(Role::Admin, "root")));
    let routes = [
        (reqwest::Method::GET, "/api/v1/admin/rules"),
        (reqwest::Method::GET, "/api/v1/admin/rules/game"),
        (reqwest::Method::PUT, "/api/v1/admin/rules/game"),
        (reqwest::Method::DELETE, "/api/v1/admin/rules/game"),
        (reqwest::Method::GET, "/api/v1/admin/rules/game/versions"),
        (reqwest::Method::GET, "/api/v1/admin/rules/game/diff"),
        (reqwest::Method::POST, "/api/v1/admin/rules/game/rollback"),
        (reqwest::Method::GET, "/api/v1/admin/tokens"),
        (reqwest::Method::POST, "/api/v1/admin/tokens"),
        (reqwest::Method::DELETE, "/api/v1/admin/tokens/abc"),
        (reqwest::Method::GET, "/api/v1/admin/audit"),
        (reqwest::Method::GET, "/api/v1/admin/audit/anchor"),
    ];
    let http = reqwest::Client::new();
    for (m, path) in &routes {
        // No credentials: 401 with the schemes to use, even on loopback.
        let r = http.request(m.clone(), format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{m} {path}");
        assert!(r.headers().get("www-authenticate").is_some(), "{m} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["status"].as_str(), v["errorType"].as_str()), (Some("error"), Some("unauthorized")), "{v}");
        // A garbled token: 401; roles below admin: 403.
        for (tok, want) in [("not.a.jwt", 401), (reader.as_str(), 403), (operator.as_str(), 403)] {
            let r = http.request(m.clone(), format!("{}{path}", s.url)).bearer_auth(tok).send().await.unwrap();
            assert_eq!(r.status().as_u16(), want, "{m} {path} with {tok:.12}");
        }
    }
    // The refusals are security events in the audit log (written in the background).
    let mut failures = Vec::new();
    for _ in 0..100 {
        failures = audit(&admin, "action=auth.failure&limit=1000").await;
        if failures.len() >= routes.len() * 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(failures.len(), routes.len() * 3, "one entry per refusal");
    assert!(failures.iter().all(|e| e["result"].as_str().unwrap().starts_with("refused:")), "{failures:?}");
    assert!(failures.iter().any(|e| e["actor"] == "grafana"), "a 403 names who was refused");
    // Reads and writes stay open on loopback without credentials, as before.
    assert_eq!(s.get("/api/v1/query?query=1").await.status, 200);
}

#[tokio::test]
async fn rule_groups_are_versioned_validated_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let rd = dir.path().to_path_buf();
    std::fs::write(
        rd.join("file.yml"),
        "groups:\n  - name: from-file\n    rules:\n      - record: x\n        expr: vector(1)\n",
    )
    .unwrap();
    let s = TestServer::with(move |c| c.rules.dir = rd).await;
    let admin = client(&s, Some(s.token(Role::Admin, "alice")));
    let req = write_request(vec![series(
        &[("__name__", "players"), ("server", "eu-1")],
        &[(tickdb::server::now_ms(), 60.0)],
    )]);
    assert_eq!(s.write_v1(&req).await.status, 204);

    // Dry run: what it would record and which alerts would be active, nothing stored.
    let (st, v) = admin.post("/api/v1/admin/rules/game?dry_run=true", GROUP_V1).await;
    assert_eq!(st, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["recorded"][0]["metric"]["__name__"], "game:players:sum", "{v}");
    assert_eq!(d["recorded"][0]["value"], "60", "{v}");
    assert_eq!(d["alerts"][0]["labels"]["alertname"], "Crowded", "{v}");
    assert_eq!(d["alerts"][0]["state"], "firing", "{v}");
    assert_eq!(admin.get("/api/v1/admin/rules/game").await.0, 404, "a dry run stores nothing");

    // An invalid group: 400 with the exact error, nothing changes.
    let (st, v) = admin.put("/api/v1/admin/rules/game", "rules:\n  - alert: Bad\n    expr: players >\n").await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("api:game:3:"), "{v}");
    assert_eq!(admin.get("/api/v1/admin/rules/game").await.0, 404);

    // Version 1, live in the rule engine.
    let (st, v) = admin.put("/api/v1/admin/rules/game?message=first", GROUP_V1).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["version"]["version"], 1);
    assert_eq!(v["data"]["version"]["author"], "alice");
    let (_, rules) = admin.get("/api/v1/rules").await;
    let names: Vec<&str> =
        rules["data"]["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"game") && names.contains(&"from-file"), "{names:?}");
    // Version 2, a diff, a rollback to 1 (version 3).
    assert_eq!(admin.put("/api/v1/admin/rules/game?message=stricter", GROUP_V2).await.0, 200);
    let (_, v) = admin.get("/api/v1/admin/rules/game/diff").await;
    let diff = v["data"]["diff"].as_str().unwrap();
    let changed = |sign: char, what: &str| diff.lines().any(|l| l.starts_with(sign) && l.contains(what));
    assert!(changed('-', "players > 50") && changed('+', "players > 80"), "{diff}");
    assert!(!changed('-', "sum(players)"), "unchanged lines are context: {diff}");
    let (st, v) = admin.post("/api/v1/admin/rules/game/rollback?to=1&message=too%20strict", "").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["version"]["version"], 3);
    assert_eq!(v["data"]["version"]["from"], 1);
    let (_, v) = admin.get("/api/v1/admin/rules/game").await;
    assert!(v["data"]["text"].as_str().unwrap().contains("players > 50"), "{v}");
    let (_, v) = admin.get("/api/v1/admin/rules/game/versions").await;
    assert_eq!(v["data"]["versions"].as_array().unwrap().len(), 3);
    assert_eq!(admin.post("/api/v1/admin/rules/game/rollback?to=9", "").await.0, 404);

    // Groups of the rules directory are read-only through the API.
    let (st, v) = admin.put("/api/v1/admin/rules/from-file", "rules:\n  - record: y\n    expr: vector(2)\n").await;
    assert_eq!(st, 409, "{v}");

    // Delete needs a justification.
    assert_eq!(admin.delete("/api/v1/admin/rules/game").await.0, 400);
    let (st, v) = admin.delete("/api/v1/admin/rules/game?justification=event%20over").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(admin.get("/api/v1/admin/rules/game").await.0, 404);

    // Exactly one audit entry per change, with before and after, newest first.
    let entries = audit(&admin, "target=game").await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["rule.delete", "rule.rollback", "rule.put", "rule.put"], "{entries:?}");
    assert!(entries.iter().all(|e| e["actor"] == "alice" && e["result"] == "ok" && e["role"] == "admin"));
    assert_eq!(entries[3]["before"], Value::Null);
    assert!(entries[3]["after"].as_str().unwrap().contains("players > 50"));
    assert!(entries[2]["before"].as_str().unwrap().contains("players > 50"));
    assert!(entries[2]["after"].as_str().unwrap().contains("players > 80"));
    assert_eq!(entries[0]["after"], Value::Null);
    assert_eq!(entries[0]["justification"], "event over");

    // The chain verifies offline once the server is stopped.
    let (_, anchor) = admin.get("/api/v1/admin/audit/anchor").await;
    let data_dir = s.stop().await;
    let anchor_file = dir.path().join("anchor.json");
    std::fs::write(&anchor_file, anchor["data"].to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickdb"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir.path().join("data"))
        .arg("--anchor")
        .arg(&anchor_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("OK: 4 entries"), "{stdout}");
}

#[tokio::test]
async fn repeated_bad_credentials_lock_the_address_out() {
    let s = TestServer::start().await;
    let admin = client(&s, Some(s.token(Role::Admin, "root")));
    assert_eq!(admin.get("/api/v1/admin/rules").await.0, 200);
    let forger = client(&s, Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl".into()));
    for _ in 0..10 {
        assert_eq!(forger.get("/api/v1/admin/rules").await.0, 401);
    }
    // The 11th try, and then even a valid token from that address: 429 with Retry-After.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/admin/rules", s.url))
        .bearer_auth(admin.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errorType"], "too_many_requests", "{v}");
    // A locked-out write is answered 503 (Prometheus retries it; a 429 batch would be dropped).
    let writer = s.token(Role::Writer, "agent");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/write", s.url))
        .bearer_auth(writer)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(Vec::<u8>::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    // Requests without credentials guess nothing and stay served: a local Prometheus's
    // anonymous writes and Grafana's queries are not cut off by someone else's lockout.
    let t = tickdb::server::now_ms();
    let req = write_request(vec![series(&[("__name__", "up"), ("job", "x")], &[(t, 1.0)])]);
    assert_eq!(s.write_v1(&req).await.status, 204);
    assert_eq!(s.get("/api/v1/query?query=up").await.status, 200);
}

#[tokio::test]
async fn tokens_are_created_used_and_revoked_through_the_api() {
    let s = TestServer::with(|c| c.auth.require_on_loopback = true).await;
    let admin = client(&s, Some(s.token(Role::Admin, "root")));
    // Nothing is open without credentials now.
    assert_eq!(client(&s, None).get("/api/v1/query?query=1").await.0, 401);

    let (st, v) = admin.post("/api/v1/admin/tokens", r#"{"role":"reader","ttl":"1h","subject":"grafana"}"#).await;
    assert_eq!(st, 200, "{v}");
    let token = v["data"]["token"].as_str().unwrap().to_string();
    let id = v["data"]["info"]["id"].as_str().unwrap().to_string();
    let grafana = client(&s, Some(token));
    assert_eq!(grafana.get("/api/v1/query?query=1").await.0, 200);
    assert_eq!(grafana.get("/api/v1/admin/tokens").await.0, 403, "a reader cannot manage tokens");
    let (_, v) = admin.get("/api/v1/admin/tokens").await;
    assert!(v.to_string().contains(&id) && !v.to_string().contains("eyJ"), "listed by id, never the token: {v}");

    for bad in [r#"{"role":"god","ttl":"1h"}"#, r#"{"role":"reader","ttl":"soon"}"#, r#"{"role":"reader"}"#, "{"] {
        assert_eq!(admin.post("/api/v1/admin/tokens", bad).await.0, 400, "{bad}");
    }
    assert_eq!(admin.delete(&format!("/api/v1/admin/tokens/{id}")).await.0, 400, "justification needed");
    assert_eq!(admin.delete("/api/v1/admin/tokens/nope?justification=x").await.0, 404);
    let (st, v) = admin.delete(&format!("/api/v1/admin/tokens/{id}?justification=leaked")).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = grafana.get("/api/v1/query?query=1").await;
    assert_eq!(st, 401, "a revoked token is refused at once: {v}");

    let entries = audit(&admin, "action=token.create").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["target"], "grafana");
    let entries = audit(&admin, "action=token.revoke").await;
    assert_eq!((entries.len(), entries[0]["justification"].as_str()), (1, Some("leaked")));
}

#[tokio::test]
async fn scoped_tokens_write_and_read_only_their_tenant() {
    let s = TestServer::start().await;
    let tokens = s.handle().state.auth.tokens();
    let day = std::time::Duration::from_secs(86_400);
    let scope = vec![("tenant".to_string(), "eu-1".to_string())];
    let (writer, _) = tokens.create(Role::Writer, day, "agent-eu", scope.clone()).unwrap();
    let (reader, _) = tokens.create(Role::Reader, day, "grafana-eu", scope).unwrap();
    let t = tickdb::server::now_ms();
    let mine = series(&[("__name__", "players"), ("tenant", "eu-1"), ("server", "a")], &[(t, 1.0)]);
    let theirs = series(&[("__name__", "players"), ("tenant", "us-1"), ("server", "b")], &[(t, 2.0)]);
    let untagged = series(&[("__name__", "players"), ("server", "c")], &[(t, 3.0)]);
    let body = |ts| {
        let req = write_request(ts);
        snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(&req)).unwrap()
    };
    let write = |b: Vec<u8>| {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/write", s.url);
        let w = writer.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(w)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(b)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(write(body(vec![mine.clone()])).await.0, 204);
    // One series outside the scope refuses the whole request: nothing of it is written.
    for bad in [vec![mine.clone(), theirs.clone()], vec![untagged.clone()]] {
        let (st, text) = write(body(bad)).await;
        assert_eq!(st, 403, "{text}");
        assert!(text.contains("outside the token's scope"), "{text}");
    }
    // An unscoped write (anonymous on loopback) of the other tenant, for the read checks.
    assert_eq!(s.write_v1(&write_request(vec![theirs])).await.status, 204);

    let q = client(&s, Some(reader));
    let (_, v) = q.get("/api/v1/query?query=players").await;
    let got: Vec<&str> =
        v["data"]["result"].as_array().unwrap().iter().map(|r| r["metric"]["tenant"].as_str().unwrap()).collect();
    assert_eq!(got, ["eu-1"], "{v}");
    let (_, v) = q.get("/api/v1/query?query=count(%7B__name__%3D~%22.%2B%22%7D)").await;
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");
    let (_, v) = q.get("/api/v1/label/tenant/values").await;
    assert_eq!(v["data"], serde_json::json!(["eu-1"]), "{v}");
    let (_, v) = q.get("/api/v1/series?match[]=players").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    // Unscoped, both tenants are there.
    let (_, v) = client(&s, None).get("/api/v1/label/tenant/values").await;
    assert_eq!(v["data"], serde_json::json!(["eu-1", "us-1"]), "{v}");
}

#[tokio::test]
async fn tsdb_admin_deletes_cleans_and_snapshots_with_audit() {
    let s = TestServer::start().await;
    let admin = client(&s, Some(s.token(Role::Admin, "dba")));
    let t = tickdb::server::now_ms();
    let req = write_request(vec![
        series(&[("__name__", "players"), ("server", "a")], &[(t - 2000, 1.0), (t - 1000, 2.0)]),
        series(&[("__name__", "players"), ("server", "b")], &[(t - 2000, 3.0), (t - 1000, 4.0)]),
    ]);
    assert_eq!(s.write_v1(&req).await.status, 204);

    // A snapshot holds the head as a block, in <data_dir>/snapshots/<name>.
    let (st, v) = admin.post("/api/v1/admin/tsdb/snapshot", "").await;
    assert_eq!(st, 200, "{v}");
    let name = v["data"]["name"].as_str().unwrap().to_string();
    let snap = s.dir.path().join("data").join("snapshots").join(&name);
    let blocks: Vec<_> = std::fs::read_dir(&snap).unwrap().collect();
    assert_eq!(blocks.len(), 1, "the head as one block");
    assert_eq!(admin.post("/api/v1/admin/tsdb/snapshot?skip_head=maybe", "").await.0, 400);

    // Deleting needs match[] and a justification; then the series is gone.
    assert_eq!(admin.post("/api/v1/admin/tsdb/delete_series?match[]=players", "").await.0, 400);
    assert_eq!(admin.post("/api/v1/admin/tsdb/delete_series?justification=x", "").await.0, 400);
    assert_eq!(admin.post("/api/v1/admin/tsdb/delete_series?match[]=players{&justification=x", "").await.0, 400);
    let (st, v) = admin
        .post("/api/v1/admin/tsdb/delete_series?match[]=players%7Bserver%3D%22a%22%7D&justification=test%20data", "")
        .await;
    assert_eq!(st, 204, "{v}");
    let (_, v) = admin.get("/api/v1/query?query=players").await;
    let servers: Vec<&str> =
        v["data"]["result"].as_array().unwrap().iter().map(|r| r["metric"]["server"].as_str().unwrap()).collect();
    assert_eq!(servers, ["b"], "{v}");
    assert_eq!(admin.post("/api/v1/admin/tsdb/clean_tombstones", "").await.0, 204);

    let actions: Vec<String> =
        audit(&admin, "").await.iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        actions,
        ["tsdb.clean_tombstones", "tsdb.delete_series", "tsdb.snapshot"],
        "refused requests leave no entry"
    );
    let del = &audit(&admin, "action=tsdb.delete_series").await[0];
    assert_eq!(del["justification"], "test data");
    assert_eq!(del["after"]["match"][0], "players{server=\"a\"}", "{del}");
}

/// The OpenAPI description (docs/api/admin.yaml) and the server agree: every documented
/// operation is routed (answers neither "404 page not found" nor 405) and needs the admin
/// role (or the operator role where it says `x-required-role: operator`), and every admin
/// route of the server is documented.
#[tokio::test]
async fn the_openapi_description_matches_the_server() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root.join("docs/api/admin.yaml")).unwrap()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let s = TestServer::start().await;
    let admin = client(&s, Some(s.token(Role::Admin, "openapi")));
    let reader = client(&s, Some(s.token(Role::Reader, "reader")));
    let operator = client(&s, Some(s.token(Role::Operator, "ops")));
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{group}", "nosuchgroup")
            .replace("{version}", "1")
            .replace("{id}", "nosuchtoken")
            .replace("{name}", "nosuchtemplate");
        for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let (st, v) = admin.send(m.clone(), &concrete, None).await;
            assert_ne!(st, 405, "{method} {path}: {v}");
            assert!(!v.to_string().contains("404 page not found"), "{method} {path} is not routed: {v}");
            assert_eq!(reader.send(m.clone(), &concrete, None).await.0, 403, "{method} {path} needs the admin role");
            let for_operators = op["x-required-role"] == "operator";
            let (st, v) = operator.send(m, &concrete, None).await;
            assert_eq!(st == 403, !for_operators, "{method} {path} as an operator: {st} {v}");
            operations += 1;
        }
    }
    assert!(operations >= 20, "{operations}");
    // Every admin route of the router is documented.
    let server = std::fs::read_to_string(root.join("src/server.rs")).unwrap();
    let audit_api = std::fs::read_to_string(root.join("src/server/audit_api.rs")).unwrap();
    for src in [server, audit_api] {
        let routes = src.split(".route(").skip(1).filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next());
        for route in routes.filter(|r| r.starts_with("/api/v1/admin")) {
            assert!(paths.contains_key(route), "{route} is not in docs/api/admin.yaml");
        }
    }
}

#[tokio::test]
async fn oversized_admin_bodies_are_refused_in_the_envelope() {
    let s = TestServer::start().await;
    let admin = client(&s, Some(s.token(Role::Admin, "root")));
    let huge = format!("rules:\n  - record: x\n    expr: vector(1)\n#{}\n", "x".repeat(2 << 20));
    let (st, v) = admin.put("/api/v1/admin/rules/big", &huge).await;
    assert_eq!(st, 413, "{v}");
    assert_eq!(v["errorType"], "bad_data", "{v}");
    assert_eq!(admin.get("/api/v1/admin/rules/big").await.0, 404);
    let (st, _) = admin.post("/api/v1/admin/tokens", &huge).await;
    assert_eq!(st, 413);
    // An oversized Authorization header is refused before any parsing.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/admin/rules", s.url))
        .header("Authorization", format!("Bearer {}", "a".repeat(9000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_template_makes_one_group_per_target() {
    let s = TestServer::start().await;
    let admin = client(&s, Some(s.token(Role::Admin, "ops")));
    let pack = "interval: 15s\nrules:\n  - alert: CpuHigh\n    expr: cpu{server=\"${server}\"} > ${cpu_threshold}\n    labels:\n      game: ${game}\n      severity: warning\n";
    // A template that is not a valid group even with its parameters filled in is refused.
    let (st, v) = admin.put("/api/v1/admin/rule_templates/bad", "rules:\n  - alert: X\n    expr: cpu >\n").await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = admin.put("/api/v1/admin/rule_templates/gameserver", pack).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["params"], serde_json::json!(["cpu_threshold", "game", "server"]));
    let (_, v) = admin.get("/api/v1/admin/rule_templates").await;
    assert_eq!(v["data"]["templates"][0]["name"], "gameserver", "{v}");

    // A target missing a parameter refuses the whole call: nothing is stored.
    let bad = r#"{"targets": [{"group": "mc-eu-1", "params": {"server": "eu-1", "cpu_threshold": "80", "game": "minecraft"}},
                              {"group": "mc-eu-2", "params": {"server": "eu-2", "game": "minecraft"}}]}"#;
    let (st, v) = admin.post("/api/v1/admin/rule_templates/gameserver/instantiate", bad).await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("mc-eu-2") && v["error"].as_str().unwrap().contains("cpu_threshold"),
        "{v}"
    );
    assert_eq!(admin.get("/api/v1/admin/rules/mc-eu-1").await.0, 404);

    let good = r#"{"message": "new servers", "targets": [
        {"group": "mc-eu-1", "params": {"server": "eu-1", "cpu_threshold": "80", "game": "minecraft"}},
        {"group": "mc-eu-2", "params": {"server": "eu-2", "cpu_threshold": "90", "game": "minecraft"}},
        {"group": "valheim-us-1", "params": {"server": "us-1", "cpu_threshold": "70", "game": "valheim"}}]}"#;
    let (st, v) = admin.post("/api/v1/admin/rule_templates/gameserver/instantiate", good).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["groups"].as_array().unwrap().len(), 3);
    let (_, v) = admin.get("/api/v1/admin/rules/mc-eu-2").await;
    let text = v["data"]["text"].as_str().unwrap();
    assert!(text.contains("cpu{server=\"eu-2\"} > 90") && text.contains("game: minecraft"), "{text}");
    let (_, rules) = admin.get("/api/v1/rules").await;
    assert_eq!(rules["data"]["groups"].as_array().unwrap().len(), 3, "all three run");
    let puts = audit(&admin, "action=rule.put").await;
    assert_eq!(puts.len(), 3);
    assert!(puts.iter().all(|e| e["justification"] == "template gameserver"), "{puts:?}");
    assert_eq!(audit(&admin, "action=rule_template.put").await.len(), 1, "the refused template left no entry");
}

const ALERT_RULES: &str =
    "groups:\n  - name: gs\n    interval: 1s\n    rules:\n      - alert: TickRateLow\n        expr: tick_rate < 55\n";
const NOTIFICATIONS: &str = "route:\n  receiver: ops\n  group_wait: 1h\n  routes:\n    - matchers: [alertname=\"TickRateLow\"]\n      receiver: ops\n      escalation: [{after: 10m, receiver: pager}]\nreceivers:\n  - name: ops\n  - name: pager\n  - name: boss\n";

/// Users, escalation policies, silences, acks, manual resolves and reloads through the API:
/// each accepted action leaves exactly one audit entry with the right before and after, each
/// refused one (bad input, unknown alert or silence) leaves none, and no password or hash
/// reaches the log.
#[tokio::test]
async fn every_admin_action_leaves_exactly_one_entry() {
    let (rules, conf) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(rules.path().join("gs.yml"), ALERT_RULES).unwrap();
    let nf = conf.path().join("notifications.yml");
    std::fs::write(&nf, NOTIFICATIONS).unwrap();
    let (rd, nf2) = (rules.path().to_path_buf(), nf.clone());
    let s = TestServer::with(move |c| {
        c.rules.dir = rd;
        c.alerting.notifications_file = nf2;
    })
    .await;
    let admin = client(&s, Some(s.token(Role::Admin, "root")));
    let mut expected: Vec<&str> = Vec::new();

    // Users: created, used for Basic auth, changed, deleted.
    assert_eq!(admin.put("/api/v1/admin/users/grafana", r#"{"role": "reader", "password": "short"}"#).await.0, 400);
    assert_eq!(
        admin.put("/api/v1/admin/users/graf:ana", r#"{"role": "reader", "password": "long enough"}"#).await.0,
        400
    );
    assert_eq!(admin.put("/api/v1/admin/users/grafana", r#"{"role": "reader"}"#).await.0, 400, "new user, no password");
    assert_eq!(admin.put("/api/v1/admin/users/grafana", r#"{"role": "root", "password": "long enough"}"#).await.0, 400);
    let (st, v) = admin
        .put(
            "/api/v1/admin/users/grafana",
            r#"{"role": "reader", "password": "s3cret-pass", "scope": {"tenant": "eu-1"}}"#,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["created"], true);
    expected.push("user.create");
    let basic = |pw: &str| {
        reqwest::Client::new().get(format!("{}/api/v1/labels", s.url)).basic_auth("grafana", Some(pw.to_string()))
    };
    assert_eq!(basic("s3cret-pass").send().await.unwrap().status(), 200);
    assert_eq!(basic("wrong-pass").send().await.unwrap().status(), 401);
    let (st, v) = admin.put("/api/v1/admin/users/grafana", r#"{"role": "operator", "justification": "on call"}"#).await;
    assert_eq!(st, 200, "{v}");
    expected.push("user.update");
    assert_eq!(basic("s3cret-pass").send().await.unwrap().status(), 200, "the password is kept");
    let (_, v) = admin.get("/api/v1/admin/users").await;
    assert_eq!(v["data"]["users"], serde_json::json!([{"name": "grafana", "role": "operator", "scope": {}}]));
    assert_eq!(admin.delete("/api/v1/admin/users/grafana").await.0, 400, "needs a justification");
    assert_eq!(admin.delete("/api/v1/admin/users/nobody?justification=x").await.0, 404);
    assert_eq!(admin.delete("/api/v1/admin/users/grafana?justification=left").await.0, 200);
    expected.push("user.delete");
    assert_eq!(basic("s3cret-pass").send().await.unwrap().status(), 401);

    // Escalation policies: the file's, overridden, refused when bad, the override removed.
    let (st, v) = admin.get("/api/v1/admin/escalations").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["routes"][1]["route"], "route.routes[0]");
    assert_eq!(v["data"]["routes"][1]["effective"], serde_json::json!([{"after": "10m", "receiver": "pager"}]));
    let bad = [
        r#"{"route": "route.routes[5]", "steps": []}"#,
        r#"{"route": "route.routes[0]", "steps": [{"after": "5m", "receiver": "nobody"}]}"#,
        r#"{"route": "route.routes[0]", "steps": [{"after": "5m", "receiver": "pager"}, {"after": "1m", "receiver": "boss"}]}"#,
        r#"{"route": "route.routes[0]", "steps": [{"after": "soon", "receiver": "pager"}]}"#,
    ];
    for b in bad {
        assert_eq!(admin.put("/api/v1/admin/escalations", b).await.0, 400, "{b}");
    }
    let (st, v) = admin
        .put(
            "/api/v1/admin/escalations",
            r#"{"route": "route.routes[0]", "steps": [{"after": "5m", "receiver": "pager"}, {"after": "30m", "receiver": "boss"}], "justification": "weekend"}"#,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    expected.push("escalation.update");
    assert_eq!(v["data"]["effective"][1]["receiver"], "boss");
    // A reload of the notifications file keeps the override.
    assert_eq!(admin.post("/-/reload", "").await.0, 200);
    expected.push("config.reload");
    let (_, v) = admin.get("/api/v1/admin/escalations").await;
    assert_eq!(v["data"]["routes"][1]["effective"][1]["receiver"], "boss", "{v}");
    assert_eq!(admin.delete("/api/v1/admin/escalations?route=route.routes[0]").await.0, 400, "needs a justification");
    assert_eq!(admin.delete("/api/v1/admin/escalations?route=route&justification=x").await.0, 400, "no override");
    assert_eq!(admin.delete("/api/v1/admin/escalations?route=route.routes%5B0%5D&justification=back").await.0, 200);
    expected.push("escalation.delete");

    // An alert fires; it is acknowledged, silenced and resolved by hand.
    let t = tickdb::server::now_ms();
    let req = write_request(vec![series(&[("__name__", "tick_rate"), ("server", "eu-1")], &[(t, 20.0)])]);
    assert_eq!(s.write_v1(&req).await.status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let fp = loop {
        let (_, v) = admin.get("/api/v1/notifications/alerts").await;
        if let Some(fp) = v["data"][0]["fingerprint"].as_u64() {
            break format!("{fp:016x}");
        }
        assert!(std::time::Instant::now() < deadline, "no alert: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(admin.post("/api/v1/alerts/00000000000000ff/ack?by=ana", "").await.0, 404);
    assert_eq!(admin.post(&format!("/api/v1/alerts/{fp}/ack?by=ana&comment=looking"), "").await.0, 200);
    expected.push("alert.ack");
    let silence = r#"{"matchers": ["server=\"eu-1\""], "endsAt": "2099-01-01T00:00:00Z", "createdBy": "ana", "comment": "restart"}"#;
    assert_eq!(
        admin
            .post("/api/v1/silences", r#"{"matchers": ["server=\"eu-1\""], "endsAt": "2001-01-01T00:00:00Z"}"#)
            .await
            .0,
        400
    );
    let (st, v) = admin.post("/api/v1/silences", silence).await;
    assert_eq!(st, 200, "{v}");
    expected.push("silence.create");
    let id = v["data"]["silenceID"].as_str().unwrap().to_string();
    assert_eq!(admin.delete("/api/v1/silences/silence-999").await.0, 404);
    assert_eq!(admin.delete(&format!("/api/v1/silences/{id}")).await.0, 200);
    expected.push("silence.expire");
    assert_eq!(admin.delete(&format!("/api/v1/silences/{id}")).await.0, 400, "already expired");
    assert_eq!(admin.post(&format!("/api/v1/alerts/{fp}/resolve?by=ana&comment=fixed"), "").await.0, 200);
    expected.push("alert.resolve");

    // Exactly one entry per accepted action, in order, all "ok".
    let entries = audit(&admin, "limit=1000").await;
    let mut got: Vec<&str> = entries.iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    got.retain(|a| *a != "auth.failure");
    assert_eq!(got, expected);
    assert!(entries.iter().all(|e| e["result"] == "ok" || e["action"] == "auth.failure"), "{entries:?}");
    let one = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap().clone();
    let create = one("user.create");
    assert_eq!((create["actor"].as_str(), create["target"].as_str()), (Some("root"), Some("grafana")));
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"]["scope"]["tenant"], "eu-1");
    let update = one("user.update");
    assert_eq!(update["before"]["role"], "reader");
    assert_eq!(update["after"]["role"], "operator");
    assert_eq!(update["after"]["password_changed"], false);
    assert_eq!(update["justification"], "on call");
    assert_eq!(one("user.delete")["before"]["role"], "operator");
    let esc = one("escalation.update");
    assert_eq!(esc["target"], "route.routes[0]");
    assert_eq!(esc["before"]["effective"][0]["after"], "10m");
    assert_eq!(esc["after"]["steps"][1]["after"], "30m");
    assert_eq!(one("escalation.delete")["before"]["effective"][1]["receiver"], "boss");
    assert_eq!(one("alert.ack")["target"], fp.as_str());
    assert_eq!(one("alert.ack")["justification"], "looking");
    assert_eq!(one("silence.expire")["before"]["id"], id.as_str());
    assert_eq!(one("alert.resolve")["after"]["resolvedBy"], "ana");
    let log = serde_json::to_string(&entries).unwrap();
    assert!(!log.contains("s3cret") && !log.contains("argon2"), "no password or hash in the audit log");
    // The users file holds the hash, private to the server's user.
    let users = s.dir.path().join("data").join("auth").join("users.yml");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&users).unwrap().permissions().mode() & 0o777, 0o600);
    s.stop().await;
}
