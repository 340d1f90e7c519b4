//! The Kubernetes actuator against the fake API server (`fake_kube`): the exact requests kube
//! sends for status, scale and restart of Deployments and StatefulSets, how API errors map to
//! actuator errors, and configuration errors. No real cluster can be installed here.

use tickdb::actuators::kubernetes::{KubeActuator, KubeConfig, RESTARTED_AT_ANNOTATION};
use tickdb::actuators::{Actuator, ActuatorError, ActuatorKind, Target, TargetKind};
use tickdb::duration::PromDuration;

use crate::fake_kube::FakeKube;

fn target(kind: TargetKind, ns: Option<&str>, name: &str) -> Target {
    Target { actuator: ActuatorKind::Kubernetes, kind, namespace: ns.map(str::to_string), name: name.to_string() }
}

async fn actuator(kube: &FakeKube) -> KubeActuator {
    KubeActuator::connect(&kube.config()).await.expect("connect")
}

/// The error's kind and message, or a panic naming what came back instead.
fn failed<T: std::fmt::Debug>(r: Result<T, ActuatorError>) -> (&'static str, String) {
    let e = r.expect_err("an error");
    (e.kind(), e.to_string())
}

const BEARER: &str = "Bearer fake-kube-token-0123456789";

#[tokio::test]
async fn status_of_a_deployment_is_one_get_over_tls_with_the_bearer_token() {
    let kube = FakeKube::start().await;
    assert!(kube.url().starts_with("https://"));
    kube.add_deployment("default", "web", 3);
    kube.set_ready("default", TargetKind::Deployment, "web", Some(2));
    let act = actuator(&kube).await;
    assert_eq!(act.kind(), ActuatorKind::Kubernetes);

    let s = act.status(&target(TargetKind::Deployment, None, "web")).await.unwrap();
    assert_eq!((s.replicas, s.ready), (3, 2));
    assert!(s.instances.is_empty());

    let reqs = kube.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/apis/apps/v1/namespaces/default/deployments/web");
    assert_eq!(reqs[0].authorization, BEARER);
    assert_eq!((reqs[0].query.as_str(), reqs[0].body.as_str()), ("", ""));
}

#[tokio::test]
async fn status_of_a_statefulset_reads_absent_ready_replicas_as_zero() {
    let kube = FakeKube::start_http().await;
    kube.add_statefulset("data", "db", 3);
    kube.set_ready("data", TargetKind::StatefulSet, "db", Some(0));
    let act = actuator(&kube).await;
    let s = act.status(&target(TargetKind::StatefulSet, Some("data"), "db")).await.unwrap();
    assert_eq!((s.replicas, s.ready), (3, 0));
    let reqs = kube.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/apis/apps/v1/namespaces/data/statefulsets/db")
    );
    assert_eq!(reqs[0].authorization, BEARER);
}

/// Scales and checks the two requests: GET scale, then PATCH scale with a merge patch.
async fn check_scale(kube: &FakeKube, act: &KubeActuator, t: &Target, path: &str, from: u32, to: u32) {
    kube.clear_requests();
    let r = act.scale(t, to).await.unwrap();
    assert_eq!((r.before, r.after), (from, to));
    assert!(r.added.is_empty() && r.removed.is_empty());
    assert_eq!(kube.replicas(t.namespace.as_deref().unwrap_or("default"), t.kind, &t.name), Some(to));

    let reqs = kube.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("GET", path));
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(reqs[1].path, path);
    assert_eq!(reqs[1].query_params(), [("fieldManager".to_string(), "tickdb".to_string())]);
    assert_eq!(reqs[1].content_type, "application/merge-patch+json");
    assert_eq!(reqs[1].json(), serde_json::json!({ "spec": { "replicas": to } }));
    assert!(reqs.iter().all(|r| r.authorization == BEARER));
}

#[tokio::test]
async fn scale_a_deployment_gets_then_merge_patches_the_scale_subresource() {
    let kube = FakeKube::start_http().await;
    kube.add_deployment("default", "web", 2);
    let act = actuator(&kube).await;
    let t = target(TargetKind::Deployment, None, "web");
    let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    check_scale(&kube, &act, &t, path, 2, 5).await;
    check_scale(&kube, &act, &t, path, 5, 0).await;
    check_scale(&kube, &act, &t, path, 0, 1).await;
    let s = act.status(&t).await.unwrap();
    assert_eq!((s.replicas, s.ready), (1, 1));
}

#[tokio::test]
async fn scale_a_statefulset_gets_then_merge_patches_the_scale_subresource() {
    let kube = FakeKube::start().await;
    kube.add_statefulset("data", "db", 3);
    let act = actuator(&kube).await;
    let t = target(TargetKind::StatefulSet, Some("data"), "db");
    check_scale(&kube, &act, &t, "/apis/apps/v1/namespaces/data/statefulsets/db/scale", 3, 1).await;
}

#[tokio::test]
async fn scale_to_the_current_count_sends_no_patch() {
    let kube = FakeKube::start_http().await;
    kube.add_deployment("default", "web", 4);
    let act = actuator(&kube).await;
    let r = act.scale(&target(TargetKind::Deployment, None, "web"), 4).await.unwrap();
    assert_eq!((r.before, r.after), (4, 4));
    let reqs = kube.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
}

/// Restarts and checks the one PATCH of the workload with the rollout annotation.
async fn check_restart(kube: &FakeKube, t: &Target, path: &str) {
    let act = actuator(kube).await;
    kube.clear_requests();
    let ns = t.namespace.as_deref().unwrap_or("default");
    let before = chrono::Utc::now().timestamp();
    let r = act.restart(t, None).await.unwrap();
    let after = chrono::Utc::now().timestamp();
    assert_eq!(r.restarted, vec![format!("{ns}/{}/{}", t.kind.as_str(), t.name)]);

    let reqs = kube.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let (req, body) = (&reqs[0], reqs[0].json());
    assert_eq!((req.method.as_str(), req.path.as_str()), ("PATCH", path));
    assert_eq!(req.query_params(), [("fieldManager".to_string(), "tickdb".to_string())]);
    assert_eq!(req.content_type, "application/merge-patch+json");
    assert_eq!(req.authorization, BEARER);
    let annotations = &body["spec"]["template"]["metadata"]["annotations"];
    let at = annotations[RESTARTED_AT_ANNOTATION].as_str().unwrap_or_else(|| panic!("no restartedAt: {body}"));
    let parsed = chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert!((before..=after).contains(&parsed.timestamp()), "{at} not between {before} and {after}");
    // Exactly the annotation, nothing else.
    assert_eq!(
        body,
        serde_json::json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT_ANNOTATION: at } } } } })
    );
    let stored = kube.template_annotations(ns, t.kind, &t.name);
    assert_eq!(stored.get(RESTARTED_AT_ANNOTATION).map(String::as_str), Some(at));
}

#[tokio::test]
async fn restart_patches_the_rollout_annotation_of_a_deployment_and_a_statefulset() {
    let kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    kube.add_statefulset("data", "db", 3);
    check_restart(
        &kube,
        &target(TargetKind::Deployment, None, "web"),
        "/apis/apps/v1/namespaces/default/deployments/web",
    )
    .await;
    check_restart(
        &kube,
        &target(TargetKind::StatefulSet, Some("data"), "db"),
        "/apis/apps/v1/namespaces/data/statefulsets/db",
    )
    .await;
    // The replicas are untouched.
    assert_eq!(kube.replicas("default", TargetKind::Deployment, "web"), Some(2));
    assert_eq!(kube.replicas("data", TargetKind::StatefulSet, "db"), Some(3));
}

#[tokio::test]
async fn one_instance_restarts_and_service_targets_are_invalid_without_a_request() {
    let kube = FakeKube::start_http().await;
    kube.add_deployment("default", "web", 2);
    let act = actuator(&kube).await;
    let (kind, msg) = failed(act.restart(&target(TargetKind::Deployment, None, "web"), Some("web-abc-123")).await);
    assert_eq!(kind, "invalid");
    assert!(msg.contains("deployment default/web") && msg.contains("web-abc-123"), "{msg}");

    let svc = target(TargetKind::Service, None, "web");
    let (kind, msg) = failed(act.status(&svc).await);
    assert_eq!(kind, "invalid");
    assert!(msg.contains("service default/web"), "{msg}");
    assert_eq!(failed(act.scale(&svc, 3).await).0, "invalid");
    assert_eq!(failed(act.restart(&svc, None).await).0, "invalid");

    let docker = Target { actuator: ActuatorKind::Docker, ..target(TargetKind::Deployment, None, "web") };
    assert_eq!(failed(act.status(&docker).await).0, "invalid");
    assert!(kube.requests().is_empty(), "{:#?}", kube.requests());
}

#[tokio::test]
async fn an_unknown_workload_is_not_found_naming_it() {
    let kube = FakeKube::start_http().await;
    let act = actuator(&kube).await;
    let (kind, msg) = failed(act.status(&target(TargetKind::Deployment, Some("shop"), "cart")).await);
    assert_eq!(kind, "not_found");
    assert!(msg.contains("deployment shop/cart"), "{msg}");
    assert!(msg.contains("deployments.apps \"cart\" not found"), "{msg}");
    let (kind, msg) = failed(act.scale(&target(TargetKind::StatefulSet, None, "db"), 2).await);
    assert_eq!(kind, "not_found");
    assert!(msg.contains("statefulset default/db") && msg.contains("statefulsets.apps \"db\" not found"), "{msg}");
    let (kind, _) = failed(act.restart(&target(TargetKind::StatefulSet, None, "db"), None).await);
    assert_eq!(kind, "not_found");
}

#[tokio::test]
async fn api_errors_map_to_actuator_errors_with_the_api_message() {
    let kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    let act = actuator(&kube).await;
    let web = target(TargetKind::Deployment, None, "web");

    kube.fail_next(404, "NotFound");
    let (kind, msg) = failed(act.status(&web).await);
    assert_eq!(kind, "not_found");
    assert!(msg.contains("get deployment default/web: deployments.apps \"web\" not found"), "{msg}");

    // A concurrent change between the GET and the PATCH of the scale.
    kube.fail_next_on("PATCH", 409, "Conflict");
    let (kind, msg) = failed(act.scale(&web, 3).await);
    assert_eq!(kind, "conflict");
    assert!(msg.contains("scale deployment default/web"), "{msg}");
    assert!(msg.contains("the object has been modified"), "{msg}");
    assert!(msg.contains("Conflict, HTTP 409"), "{msg}");

    // RBAC: allowed to read the scale, not to patch it.
    kube.fail_next_on("PATCH", 403, "Forbidden");
    let (kind, msg) = failed(act.scale(&web, 3).await);
    assert_eq!(kind, "forbidden");
    assert!(msg.contains("scale deployment default/web"), "{msg}");
    assert!(
        msg.contains("cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"default\""),
        "{msg}"
    );
    kube.fail_next(403, "Forbidden");
    let (kind, msg) = failed(act.restart(&web, None).await);
    assert_eq!(kind, "forbidden");
    assert!(
        msg.contains("restart deployment default/web") && msg.contains("cannot patch resource \"deployments\""),
        "{msg}"
    );

    kube.fail_next_with(422, "Invalid", "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value");
    let (kind, msg) = failed(act.scale(&web, 3).await);
    assert_eq!(kind, "invalid");
    assert!(msg.contains("spec.replicas: Invalid value"), "{msg}");

    kube.fail_next(500, "InternalError");
    assert_eq!(failed(act.status(&web).await).0, "unavailable");
    kube.fail_next(503, "ServiceUnavailable");
    assert_eq!(failed(act.status(&web).await).0, "unavailable", "kube's own retries are off");

    // Nothing was changed by the failed calls.
    assert_eq!(kube.replicas("default", TargetKind::Deployment, "web"), Some(2));
    assert!(kube.template_annotations("default", TargetKind::Deployment, "web").is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_forbidden() {
    let kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    kube.write_kubeconfig(kube.ca_pem(), "not-the-token");
    let act = actuator(&kube).await;
    let (kind, msg) = failed(act.status(&target(TargetKind::Deployment, None, "web")).await);
    assert_eq!(kind, "forbidden");
    assert!(msg.contains("Unauthorized") && msg.contains("HTTP 401"), "{msg}");
    assert_eq!(kube.requests()[0].authorization, "Bearer not-the-token");
}

#[tokio::test]
async fn a_named_context_of_the_kubeconfig_is_used() {
    let kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    let cfg = KubeConfig { context: Some("fake".into()), ..kube.config() };
    let act = KubeActuator::connect(&cfg).await.unwrap();
    let s = act.status(&target(TargetKind::Deployment, None, "web")).await.unwrap();
    assert_eq!((s.replicas, s.ready), (2, 2));
}

#[tokio::test]
async fn a_server_that_is_down_or_silent_is_unavailable() {
    let mut kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    let web = target(TargetKind::Deployment, None, "web");

    let cfg = KubeConfig { timeout: PromDuration::from_secs(1), ..kube.config() };
    let act = KubeActuator::connect(&cfg).await.unwrap();
    kube.hang_next();
    let (kind, msg) = failed(act.status(&web).await);
    assert_eq!(kind, "unavailable");
    assert!(msg.contains("deployment default/web"), "{msg}");

    kube.stop();
    // connect sends nothing, so it succeeds while the server is down; the action does not.
    let act = actuator(&kube).await;
    let (kind, msg) = failed(act.status(&web).await);
    assert_eq!(kind, "unavailable");
    assert!(msg.contains("get deployment default/web") && msg.contains("unreachable"), "{msg}");
    let (kind, _) = failed(act.scale(&web, 3).await);
    assert_eq!(kind, "unavailable");
}

#[tokio::test]
async fn a_server_certificate_the_kubeconfig_does_not_trust_is_refused() {
    let kube = FakeKube::start().await;
    kube.add_deployment("default", "web", 2);
    kube.write_kubeconfig(None, FakeKube::TOKEN);
    let act = actuator(&kube).await;
    let (kind, msg) = failed(act.status(&target(TargetKind::Deployment, None, "web")).await);
    assert_eq!(kind, "unavailable");
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert!(kube.requests().is_empty(), "no request reaches an untrusted server");
}

#[tokio::test]
async fn a_bad_kubeconfig_is_a_clear_error_from_connect() {
    let dir = tempfile::tempdir().unwrap();
    let connect = |path: std::path::PathBuf, context: Option<&str>| {
        let cfg = KubeConfig { kubeconfig: path, context: context.map(str::to_string), ..KubeConfig::default() };
        async move { failed(KubeActuator::connect(&cfg).await) }
    };

    let missing = dir.path().join("missing");
    let (kind, msg) = connect(missing.clone(), None).await;
    assert_eq!(kind, "invalid");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "clusters: [this is: not, a kubeconfig").unwrap();
    let (kind, msg) = connect(garbage.clone(), None).await;
    assert_eq!(kind, "invalid");
    assert!(msg.contains("garbage") && msg.contains("YAML"), "{msg}");

    let kube = FakeKube::start_http().await;
    let (kind, msg) = connect(kube.kubeconfig_path(), Some("production")).await;
    assert_eq!(kind, "invalid");
    assert!(msg.contains("production"), "{msg}");

    let no_server = dir.path().join("no-server");
    std::fs::write(
        &no_server,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {}\nusers:\n- name: u\n  user: {}\n\
         contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let (kind, msg) = connect(no_server, None).await;
    assert_eq!(kind, "invalid");
    assert!(msg.contains("cluster url is missing"), "{msg}");

    let cfg = KubeConfig { field_manager: String::new(), ..kube.config() };
    assert_eq!(failed(KubeActuator::connect(&cfg).await).0, "invalid");
}

#[tokio::test]
async fn credentials_that_cannot_be_read_are_a_clear_error() {
    let kube = FakeKube::start_http().await;
    kube.add_deployment("default", "web", 2);
    let missing = kube.kubeconfig_path().with_file_name("no-such-token");
    let text = std::fs::read_to_string(kube.kubeconfig_path()).unwrap();
    let text = text.replace(&format!("token: {}", FakeKube::TOKEN), &format!("tokenFile: {}", missing.display()));
    std::fs::write(kube.kubeconfig_path(), text).unwrap();
    // kube reads the token file when it builds the client: connect says so.
    let (kind, msg) = failed(KubeActuator::connect(&kube.config()).await);
    assert_eq!(kind, "invalid");
    assert!(msg.contains("token file") && msg.contains("no-such-token"), "{msg}");
    assert!(kube.requests().is_empty(), "{:#?}", kube.requests());
}
