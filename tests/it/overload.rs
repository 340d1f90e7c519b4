//! Overload: the write slots (wait up to `write.max_queue_wait`, then 503) and the query slots
//! (a queue of `query.max_queue`, 503 beyond it or after the query timeout). Slots are taken
//! directly from the server's state to make it busy, and tests wait on the queue length
//! instead of sleeping.

use std::sync::Arc;

use expect_test::expect;

use crate::harness::*;

fn one_sample(name: &str) -> tickdb::remote::v1::WriteRequest {
    write_request(vec![series(&[("__name__", name)], &[(BASE, 1.0)])])
}

/// A write waits while every slot is busy (the queue length shows in /metrics) and is stored
/// once a slot frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_a_free_slot() {
    let s = Arc::new(
        TestServer::with(|c| {
            c.write.max_concurrency = 1;
            c.write.max_queue_wait = "1h".parse().unwrap();
        })
        .await,
    );
    let st = s.handle().state.clone();
    let held = st.write_slots.try_hold(1).expect("a free write slot");
    let mut waiting = st.write_slots.watch_waiting();
    let s2 = s.clone();
    let queued = tokio::spawn(async move { s2.write_v1(&one_sample("queued")).await.status });
    waiting.wait_for(|n| *n == 1).await.unwrap();
    let m = s.get("/metrics").await.body;
    assert!(m.contains("tickdb_write_queue_length 1\n"), "{m}");
    drop(held);
    assert_eq!(queued.await.unwrap(), 204);
    let r = s.query("queued", BASE).await;
    assert!(r.body.contains("\"value\":[1700000000,\"1\"]"), "{}", r.body);
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

/// With every slot busy past `write.max_queue_wait`, remote write and import answer 503 with
/// Retry-After (a 5xx, which every sender retries) and store nothing; once free, the same request succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_get_503_when_overloaded() {
    let s = TestServer::with(|c| {
        c.write.max_concurrency = 2;
        c.write.max_queue_wait = "0".parse().unwrap();
    })
    .await;
    let st = s.handle().state.clone();
    let held = st.write_slots.try_hold(2).expect("free write slots");
    let r = s.write_v1(&one_sample("rejected")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.headers["content-type"], "application/json");
    expect![[r#"{"status":"error","errorType":"unavailable","error":"too many concurrent write requests (write.max_concurrency 2); retry later"}"#]].assert_eq(&r.body);
    let r = s.post_raw("/api/v1/import/prometheus", Some("text/plain"), b"imported 1\n".to_vec()).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let r = s.get_params("/api/v1/series", &[("match[]", "{__name__=~\"rejected|imported\"}")]).await;
    expect![[r#"{"status":"success","data":[]}"#]].assert_eq(&r.body);
    drop(held);
    let r = s.write_v1(&one_sample("rejected")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    s.stop().await;
}

/// Queries beyond `query.max_concurrency` queue; beyond `query.max_queue` they get 503; a
/// queued query runs once a slot frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_queue_is_bounded() {
    let s = TestServer::with(|c| {
        c.query.max_concurrency = 1;
        c.query.max_queue = 1;
    })
    .await;
    assert_eq!(s.write_v1(&standard_data()).await.status, 204);
    let s = Arc::new(s);
    let st = s.handle().state.clone();
    let held = st.query_slots.try_hold(1).expect("a free query slot");
    let mut waiting = st.query_slots.watch_waiting();
    let s2 = s.clone();
    let queued = tokio::spawn(async move { s2.query("count(up)", BASE).await });
    waiting.wait_for(|n| *n == 1).await.unwrap();
    assert!(s.get("/metrics").await.body.contains("tickdb_query_queue_length 1\n"));
    let r = s.query("count(up)", BASE).await;
    assert_eq!(r.status, 503, "{}", r.body);
    expect![[r#"{"status":"error","errorType":"unavailable","error":"too many queries waiting (query.max_concurrency 1, query.max_queue 1)"}"#]].assert_eq(&r.body);
    // The other endpoints that read storage share the slots.
    let r = s.get_params("/api/v1/series", &[("match[]", "up")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    drop(held);
    let r = queued.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"2\""), "{}", r.body);
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

/// A query that waits in the queue longer than the query timeout fails with `timeout` (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_query_times_out() {
    let s = TestServer::with(|c| {
        c.query.max_concurrency = 1;
        c.query.timeout = "50ms".parse().unwrap();
    })
    .await;
    let held = s.handle().state.query_slots.try_hold(1).expect("a free query slot");
    let r = s.query("1", BASE).await;
    assert_eq!(r.status, 503, "{}", r.body);
    expect![[r#"{"status":"error","errorType":"timeout","error":"query timed out in query queue"}"#]]
        .assert_eq(&r.body);
    drop(held);
    assert_eq!(s.query("1", BASE).await.status, 200);
    s.stop().await;
}
