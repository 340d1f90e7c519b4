//! `/api/v1/import/prometheus` and `/api/v1/export`.

use expect_test::expect;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_then_export() {
    let s = TestServer::start().await;
    let text = format!(
        "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{{room=\"a\"}} 21.5 {}\ntemp_celsius{{room=\"a\"}} 22 {}\ntemp_celsius{{room=\"b\"}} 19\n",
        BASE,
        BASE + 60_000
    );
    let path = format!("/api/v1/import/prometheus?extra_label=site=x&timestamp={}", BASE + 30_000);
    let r = s.post_raw(&path, Some("text/plain"), text.into_bytes()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get_params("/api/v1/export", &[("match[]", "temp_celsius")]).await;
    assert_eq!(r.status, 200);
    expect![[r#"
        {"metric":{"__name__":"temp_celsius","room":"a","site":"x"},"values":[21.5,22],"timestamps":[1700000000000,1700000060000]}
        {"metric":{"__name__":"temp_celsius","room":"b","site":"x"},"values":[19],"timestamps":[1700000030000]}
    "#]].assert_eq(&r.body);
    let r = s.get("/api/v1/metadata").await;
    expect![[r#"{"status":"success","data":{"temp_celsius":[{"help":"Temperature.","type":"gauge","unit":""}]}}"#]]
        .assert_eq(&r.body);
    let r = s
        .get_params("/api/v1/export", &[("match[]", "temp_celsius{room=\"a\"}"), ("start", &secs(BASE + 30_000))])
        .await;
    expect![[r#"
        {"metric":{"__name__":"temp_celsius","room":"a","site":"x"},"values":[22],"timestamps":[1700000060000]}
    "#]]
    .assert_eq(&r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_errors() {
    let s = TestServer::start().await;
    let r = s.post_raw("/api/v1/import/prometheus", None, b"ok 1 1000\nbroken{ 1\n".to_vec()).await;
    assert_eq!(r.status, 400);
    expect![[r#"{"status":"error","errorType":"bad_data","error":"line 2: invalid label name at column 9"}"#]]
        .assert_eq(&r.body);
    let r = s.post_raw("/api/v1/import/prometheus?extra_label=nope", None, b"ok 1\n".to_vec()).await;
    assert_eq!(r.status, 400);
    expect![[r#"{"status":"error","errorType":"bad_data","error":"extra_label \"nope\" is not name=value"}"#]]
        .assert_eq(&r.body);
    let r = s.get("/api/v1/export").await;
    assert_eq!(r.status, 400);
    expect![[r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#]]
        .assert_eq(&r.body);
    s.stop().await;
}
