//! A fake Kubernetes API server for the Kubernetes actuator's tests (no real cluster can be
//! installed on the test machines).
//!
//! It serves the few endpoints the actuator uses, with the JSON shapes of the real API:
//! - `GET /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}`: an `apps/v1`
//!   `Deployment` or `StatefulSet` (`metadata.resourceVersion`, `spec.replicas`,
//!   `spec.template.metadata.annotations`, `status.readyReplicas` omitted when 0, ...);
//! - `PATCH` of the same path: JSON merge patch (`application/merge-patch+json`; a strategic
//!   merge patch is applied the same way, good enough for maps); `metadata.resourceVersion` in
//!   the patch is a precondition (409 when stale);
//! - `GET .../{name}/scale` and `PATCH .../{name}/scale`: an `autoscaling/v1` `Scale`.
//!
//! Anything else answers a Kubernetes `Status` (404, 405, 415, 422 like the real server). Every
//! request needs `Authorization: Bearer` [`FakeKube::TOKEN`] (else 401). Every request is
//! recorded ([`FakeKube::requests`]), and error answers can be queued ([`FakeKube::fail_next`]).
//!
//! There is no controller: `status.replicas` follows `spec.replicas` at once, and
//! `status.readyReplicas` too unless pinned with [`FakeKube::set_ready`].
//!
//! ```ignore
//! let kube = FakeKube::start().await;                 // HTTPS, CA in the kubeconfig
//! kube.add_deployment("default", "web", 2);
//! let act = KubeActuator::connect(&kube.config()).await?;
//! act.scale(&target, 3).await?;
//! assert_eq!(kube.replicas("default", TargetKind::Deployment, "web"), Some(3));
//! assert_eq!(kube.requests()[1].method, "PATCH");
//! kube.fail_next(403, "Forbidden");                   // the next request answers 403
//! kube.fail_next_on("PATCH", 409, "Conflict");         // the next PATCH answers 409
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tickdb::actuators::TargetKind;
use tickdb::actuators::kubernetes::KubeConfig;
use tickdb::duration::PromDuration;

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, empty when none; see [`Recorded::query_params`].
    pub query: String,
    /// The `Content-Type` header, empty when none.
    pub content_type: String,
    /// The `Authorization` header, empty when none.
    pub authorization: String,
    pub body: String,
}

impl Recorded {
    /// The query's parameters in order, empty segments skipped (kube 5 writes
    /// `?&fieldManager=tickdb`, which the API server reads as one parameter, as this does).
    pub fn query_params(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap_or_default()
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

enum Failure {
    /// Answer this status with a Kubernetes `Status` body.
    Status { code: u16, reason: String, message: Option<String> },
    /// Never answer.
    Hang,
}

/// A queued failure and the method of the requests it applies to (`None`: any).
struct Queued {
    method: Option<Method>,
    failure: Failure,
}

#[derive(Default)]
struct Inner {
    /// (namespace, resource, name) -> the stored object (no `status`) and pinned readyReplicas.
    objects: BTreeMap<(String, &'static str, String), (Value, Option<u32>)>,
    requests: Vec<Recorded>,
    failures: VecDeque<Queued>,
    resource_version: u64,
}

impl Inner {
    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake API server and the kubeconfig that points at it.
pub struct FakeKube {
    inner: Shared,
    url: String,
    ca: Option<Vec<u8>>,
    dir: tempfile::TempDir,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl FakeKube {
    /// The bearer token of the kubeconfig's user; other tokens get 401.
    pub const TOKEN: &'static str = "fake-kube-token-0123456789";

    /// Starts the fake on `https://127.0.0.1:<free port>` with a certificate signed by a test CA
    /// (made with the `openssl` command); the kubeconfig holds the CA and the bearer token.
    pub async fn start() -> FakeKube {
        Self::start_with(true).await
    }

    /// The same over plain `http://` (the kubeconfig has no CA).
    pub async fn start_http() -> FakeKube {
        Self::start_with(false).await
    }

    async fn start_with(tls: bool) -> FakeKube {
        tickdb::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let inner: Shared = Arc::default();
        let app = axum::Router::new().fallback(handle).with_state(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        let (scheme, ca) = if tls {
            let (ca, cert, key) = crate::tls::certificates(dir.path())
                .expect("the fake Kubernetes API needs the openssl command for its certificate");
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key).await.expect("TLS config");
            let server = axum_server::from_tcp_rustls(listener, config).expect("server").handle(handle);
            tokio::spawn(async move { server.serve(app.into_make_service()).await });
            ("https", Some(std::fs::read(ca).expect("read CA")))
        } else {
            let server = axum_server::from_tcp(listener).expect("server").handle(handle);
            tokio::spawn(async move { server.serve(app.into_make_service()).await });
            ("http", None)
        };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let fake = FakeKube { inner, url, ca, dir, stop: Some(Box::new(move || h.shutdown())) };
        fake.write_kubeconfig(fake.ca_pem(), Self::TOKEN);
        fake
    }

    /// The API server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kubeconfig (cluster `fake`, user `tickdb` with [`Self::TOKEN`], context `fake`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// An actuator configuration for this fake: its kubeconfig and a 5s timeout.
    pub fn config(&self) -> KubeConfig {
        KubeConfig { kubeconfig: self.kubeconfig_path(), timeout: PromDuration::from_secs(5), ..KubeConfig::default() }
    }

    /// The test CA's certificate (PEM) the server's certificate is signed by; `None` over HTTP.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// Rewrites the kubeconfig with this CA (PEM; `None`: none, the system's roots are used)
    /// and this token, e.g. `write_kubeconfig(kube.ca_pem(), "wrong")` to see 401.
    pub fn write_kubeconfig(&self, ca: Option<&[u8]>, token: &str) {
        use base64::Engine;
        let ca = ca.map_or(String::new(), |pem| {
            format!("    certificate-authority-data: {}\n", base64::engine::general_purpose::STANDARD.encode(pem))
        });
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n{ca}\
             users:\n- name: tickdb\n  user:\n    token: {token}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tickdb\n    namespace: default\n\
             current-context: fake\n",
            url = self.url
        );
        std::fs::write(self.kubeconfig_path(), text).expect("write kubeconfig");
    }

    /// Adds a Deployment with `replicas` (all ready).
    pub fn add_deployment(&self, ns: &str, name: &str, replicas: u32) {
        self.add(ns, TargetKind::Deployment, name, replicas);
    }

    /// Adds a StatefulSet with `replicas` (all ready).
    pub fn add_statefulset(&self, ns: &str, name: &str, replicas: u32) {
        self.add(ns, TargetKind::StatefulSet, name, replicas);
    }

    fn add(&self, ns: &str, kind: TargetKind, name: &str, replicas: u32) {
        let mut inner = self.inner.lock().unwrap();
        let rv = inner.next_rv();
        let (resource, kind_name) = resource_of(kind);
        let mut spec = json!({
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [ { "name": "app", "image": "registry.example/app:1" } ] }
            }
        });
        if kind == TargetKind::StatefulSet {
            spec["serviceName"] = json!(name);
        }
        let object = json!({
            "apiVersion": "apps/v1",
            "kind": kind_name,
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": format!("00000000-0000-4000-8000-{:012}", inner.resource_version),
                "resourceVersion": rv,
                "generation": 1,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": spec,
        });
        inner.objects.insert((ns.to_string(), resource, name.to_string()), (object, None));
    }

    /// The workload's `spec.replicas`, `None` when there is no such workload.
    pub fn replicas(&self, ns: &str, kind: TargetKind, name: &str) -> Option<u32> {
        let o = self.object(ns, kind, name)?;
        o["spec"]["replicas"].as_u64().and_then(|r| u32::try_from(r).ok())
    }

    /// Pins `status.readyReplicas` (`None`: follow `spec.replicas` again).
    pub fn set_ready(&self, ns: &str, kind: TargetKind, name: &str, ready: Option<u32>) {
        let mut inner = self.inner.lock().unwrap();
        let key = (ns.to_string(), resource_of(kind).0, name.to_string());
        inner.objects.get_mut(&key).expect("no such workload").1 = ready;
    }

    /// The workload's pod template annotations.
    pub fn template_annotations(&self, ns: &str, kind: TargetKind, name: &str) -> BTreeMap<String, String> {
        let Some(o) = self.object(ns, kind, name) else { return BTreeMap::new() };
        serde_json::from_value(o["spec"]["template"]["metadata"]["annotations"].clone()).unwrap_or_default()
    }

    /// The workload as the API would answer a GET (with `status`).
    pub fn object(&self, ns: &str, kind: TargetKind, name: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap();
        let (o, ready) = inner.objects.get(&(ns.to_string(), resource_of(kind).0, name.to_string()))?;
        Some(with_status(o, *ready))
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.inner.lock().unwrap().requests.clear();
    }

    /// The next request (after the ones already queued) answers `code` with a `Status` whose
    /// `reason` is `reason` and whose message is what the real API says for it (404 not found,
    /// 403 RBAC denial, 409 modified object; otherwise a generic text). Call again to fail
    /// several requests in a row.
    pub fn fail_next(&self, code: u16, reason: &str) {
        self.queue(None, Failure::Status { code, reason: reason.to_string(), message: None });
    }

    /// Like [`Self::fail_next`] for the next request with this method (`"GET"`, `"PATCH"`):
    /// requests with other methods before it are answered normally.
    pub fn fail_next_on(&self, method: &str, code: u16, reason: &str) {
        let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        self.queue(Some(method), Failure::Status { code, reason: reason.to_string(), message: None });
    }

    /// Like [`Self::fail_next`] with this `message`.
    pub fn fail_next_with(&self, code: u16, reason: &str, message: &str) {
        self.queue(None, Failure::Status { code, reason: reason.to_string(), message: Some(message.to_string()) });
    }

    /// The next request is never answered (for timeouts).
    pub fn hang_next(&self) {
        self.queue(None, Failure::Hang);
    }

    fn queue(&self, method: Option<Method>, failure: Failure) {
        self.inner.lock().unwrap().failures.push_back(Queued { method, failure });
    }

    /// Stops the server now (open connections are closed); later requests are refused.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.stop();
    }
}

fn resource_of(kind: TargetKind) -> (&'static str, &'static str) {
    match kind {
        TargetKind::Deployment => ("deployments", "Deployment"),
        TargetKind::StatefulSet => ("statefulsets", "StatefulSet"),
        TargetKind::Service => panic!("the fake Kubernetes API has no Docker services"),
    }
}

/// The stored object with the `status` a converged controller would report.
fn with_status(o: &Value, ready: Option<u32>) -> Value {
    let mut o = o.clone();
    let replicas = o["spec"]["replicas"].as_u64().unwrap_or(1);
    let ready = ready.map_or(replicas, u64::from);
    let mut status = json!({ "observedGeneration": o["metadata"]["generation"], "replicas": replicas });
    // Like the real API, zero counts are omitted.
    if ready > 0 {
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(ready);
    }
    if replicas > 0 {
        status["updatedReplicas"] = json!(replicas);
    }
    o["status"] = status;
    o
}

fn scale_of(o: &Value, ready: Option<u32>) -> Value {
    let o = with_status(o, ready);
    let m = &o["metadata"];
    let labels = o["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    // autoscaling/v1 ScaleSpec.replicas is `omitempty`: a scale of 0 answers `"spec": {}`.
    let spec = match o["spec"]["replicas"].as_u64() {
        Some(0) => json!({}),
        _ => json!({ "replicas": o["spec"]["replicas"] }),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": spec,
        "status": { "replicas": o["status"]["replicas"], "selector": selector.join(",") },
    })
}

/// A Kubernetes `Status` answer.
fn status(code: u16, reason: &str, message: &str, details: Value) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn object_answer(v: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

async fn handle(State(inner): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        content_type: text(header::CONTENT_TYPE),
        authorization: text(header::AUTHORIZATION),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let failure = {
        let mut i = inner.lock().unwrap();
        i.requests.push(recorded.clone());
        let applies = i.failures.front().is_some_and(|q| q.method.as_ref().is_none_or(|m| *m == method));
        if applies { i.failures.pop_front().map(|q| q.failure) } else { None }
    };
    let parts: Vec<&str> = recorded.path.trim_start_matches('/').split('/').collect();
    // apis/apps/v1/namespaces/{ns}/{resource}/{name}[/scale]
    let target = match parts.as_slice() {
        ["apis", "apps", "v1", "namespaces", ns, resource @ ("deployments" | "statefulsets"), name, rest @ ..]
            if rest.is_empty() || rest == ["scale"] =>
        {
            let resource: &'static str = if *resource == "deployments" { "deployments" } else { "statefulsets" };
            Some((ns.to_string(), resource, name.to_string(), !rest.is_empty()))
        }
        _ => None,
    };
    let details = |t: &Option<(String, &'static str, String, bool)>| match t {
        Some((_, resource, name, _)) => json!({ "name": name, "group": "apps", "kind": resource }),
        None => json!({}),
    };
    match failure {
        Some(Failure::Hang) => return std::future::pending::<Response>().await,
        Some(Failure::Status { code, reason, message }) => {
            let (resource, name, sub, ns) = match &target {
                Some((ns, r, n, s)) => (*r, n.as_str(), if *s { "/scale" } else { "" }, ns.as_str()),
                None => ("resources", "", "", "default"),
            };
            let verb = if method == Method::PATCH { "patch" } else { "get" };
            let message = message.unwrap_or_else(|| match code {
                404 => format!("{resource}.apps \"{name}\" not found"),
                409 => format!(
                    "Operation cannot be fulfilled on {resource}.apps \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again"
                ),
                403 => format!(
                    "{resource}.apps \"{name}\" is forbidden: User \"system:serviceaccount:monitoring:tickdb\" \
                     cannot {verb} resource \"{resource}{sub}\" in API group \"apps\" in the namespace \"{ns}\""
                ),
                _ => format!("{reason} (fake answer {code})"),
            });
            return status(code, &reason, &message, details(&target));
        }
        None => {}
    }
    if recorded.authorization != format!("Bearer {}", FakeKube::TOKEN) {
        return status(401, "Unauthorized", "Unauthorized", json!({}));
    }
    let Some((ns, resource, name, scale)) = target else {
        return status(404, "NotFound", "the server could not find the requested resource", json!({}));
    };
    let d = details(&Some((ns.clone(), resource, name.clone(), scale)));
    let mut i = inner.lock().unwrap();
    let key = (ns.clone(), resource, name.clone());
    if !i.objects.contains_key(&key) {
        return status(404, "NotFound", &format!("{resource}.apps \"{name}\" not found"), d);
    }
    if method == Method::GET {
        let (o, ready) = &i.objects[&key];
        return object_answer(if scale { scale_of(o, *ready) } else { with_status(o, *ready) });
    }
    if method != Method::PATCH {
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", d);
    }
    let ct = recorded.content_type.split(';').next().unwrap_or("").trim();
    if ct != "application/merge-patch+json" && ct != "application/strategic-merge-patch+json" {
        let message = format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/merge-patch+json, application/strategic-merge-patch+json; got {ct:?}"
        );
        return status(415, "UnsupportedMediaType", &message, d);
    }
    let Ok(mut patch) = serde_json::from_str::<Value>(&recorded.body) else {
        return status(400, "BadRequest", "error decoding patch: invalid JSON", d);
    };
    if !patch.is_object() {
        return status(400, "BadRequest", "error decoding patch: not a JSON object", d);
    }
    let (object, _) = i.objects[&key].clone();
    if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
        && object["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        let message = format!(
            "Operation cannot be fulfilled on {resource}.apps \"{name}\": the object has been modified; please \
             apply your changes to the latest version and try again"
        );
        return status(409, "Conflict", &message, d);
    }
    let mut new = object.clone();
    if scale {
        // Only spec.replicas of a Scale is writable.
        match patch.pointer("/spec/replicas") {
            None => {}
            Some(r) => merge(&mut new, &json!({ "spec": { "replicas": r } })),
        }
    } else if let Some(p) = patch.as_object_mut() {
        // status is a subresource; identity fields are not the patch's to change.
        p.remove("status");
        p.remove("kind");
        p.remove("apiVersion");
        merge(&mut new, &patch);
        for k in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp"] {
            new["metadata"][k] = object["metadata"][k].clone();
        }
    }
    if !new["spec"]["replicas"].as_i64().is_some_and(|r| (0..=i64::from(i32::MAX)).contains(&r)) {
        let kind = object["kind"].as_str().unwrap_or("");
        let message = format!(
            "{kind}.apps \"{name}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
            new["spec"]["replicas"]
        );
        return status(422, "Invalid", &message, d);
    }
    if new != object {
        new["metadata"]["resourceVersion"] = json!(i.next_rv());
        if new["spec"] != object["spec"] {
            new["metadata"]["generation"] = json!(object["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
        }
    }
    let entry = i.objects.get_mut(&key).expect("checked above");
    entry.0 = new;
    let (o, ready) = &*entry;
    object_answer(if scale { scale_of(o, *ready) } else { with_status(o, *ready) })
}
