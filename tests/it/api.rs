//! The Prometheus HTTP API: golden JSON for every endpoint and every error path.

use expect_test::expect;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_queries() {
    let s = loaded_server().await;
    let t = BASE + 600_000;
    let r = s.query("up", t).await;
    assert_eq!(r.status, 200);
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"api"},"value":[1700000600,"1"]},{"metric":{"__name__":"up","instance":"b:9090","job":"api"},"value":[1700000600,"0"]}]}}"#]].assert_eq(&r.body);
    let r = s.query("sum by (job) (rate(http_requests_total[1m]))", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000600,"0.7333333333333333"]}]}}"#]].assert_eq(&r.body);
    let r = s.query("1 + 1", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"scalar","result":[1700000600,"2"]}}"#]].assert_eq(&r.body);
    let r = s.query("\"hello\"", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"string","result":[1700000600,"hello"]}}"#]]
        .assert_eq(&r.body);
    let r = s.query("up / 0", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a:9090","job":"api"},"value":[1700000600,"+Inf"]},{"metric":{"instance":"b:9090","job":"api"},"value":[1700000600,"NaN"]}]}}"#]].assert_eq(&r.body);
    let r = s.query("histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000600,"0.8333333333333335"]}]}}"#]].assert_eq(&r.body);
    // Range vectors are returned as matrices by instant queries.
    let r = s.query("up{instance=\"a:9090\"}[30s]", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"api"},"values":[[1700000585,"1"],[1700000600,"1"]]}]}}"#]].assert_eq(&r.body);
    // Annotations go into "warnings" and "infos".
    let r = s.query("quantile(2, up)", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000600,"+Inf"]}]},"warnings":["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"]}"#]].assert_eq(&r.body);
    let r = s.query("rate(up[5m])", t).await;
    expect![[r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a:9090","job":"api"},"value":[1700000600,"0"]},{"metric":{"instance":"b:9090","job":"api"},"value":[1700000600,"0"]}]},"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]}"#]].assert_eq(&r.body);
    // POST form, RFC 3339 time.
    let r = s.post_form("/api/v1/query", &[("query", "count(up)"), ("time", "2023-11-14T22:23:20Z")]).await;
    expect![[
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000600,"2"]}]}}"#
    ]]
    .assert_eq(&r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries() {
    let s = loaded_server().await;
    let params = [
        ("query", "sum by (code) (increase(http_requests_total[1m]))"),
        ("start", &secs(BASE + 60_000)),
        ("end", &secs(BASE + 120_000)),
        ("step", "30s"),
    ];
    let r = s.get_params("/api/v1/query_range", &params).await;
    assert_eq!(r.status, 200, "{}", r.body);
    expect![[r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"code":"200"},"values":[[1700000060,"40"],[1700000090,"40"],[1700000120,"40"]]},{"metric":{"code":"500"},"values":[[1700000060,"4"],[1700000090,"4"],[1700000120,"4"]]}]}}"#]].assert_eq(&r.body);
    let params = [("query", "up"), ("start", &secs(BASE + 285_000)), ("end", &secs(BASE + 315_000)), ("step", "15")];
    let r = s.post_form("/api/v1/query_range", &params).await;
    expect![[r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a:9090","job":"api"},"values":[[1700000285,"1"],[1700000300,"1"],[1700000315,"1"]]},{"metric":{"__name__":"up","instance":"b:9090","job":"api"},"values":[[1700000285,"1"],[1700000300,"0"],[1700000315,"0"]]}]}}"#]].assert_eq(&r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_endpoints() {
    let s = loaded_server().await;
    let r =
        s.get_params("/api/v1/series", &[("match[]", "up"), ("match[]", "http_requests_total{code=\"500\"}")]).await;
    expect![[r#"{"status":"success","data":[{"__name__":"http_requests_total","code":"500","job":"api"},{"__name__":"up","instance":"a:9090","job":"api"},{"__name__":"up","instance":"b:9090","job":"api"}]}"#]].assert_eq(&r.body);
    let r = s.post_form("/api/v1/series", &[("match[]", "{job=\"api\"}"), ("limit", "2")]).await;
    expect![[r#"{"status":"success","data":[{"__name__":"http_requests_total","code":"200","job":"api"},{"__name__":"http_requests_total","code":"500","job":"api"}],"warnings":["results truncated due to limit"]}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/labels").await;
    expect![[r#"{"status":"success","data":["__name__","code","instance","job","le"]}"#]].assert_eq(&r.body);
    let r = s.get_params("/api/v1/labels", &[("match[]", "up")]).await;
    expect![[r#"{"status":"success","data":["__name__","instance","job"]}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/label/__name__/values").await;
    expect![[r#"{"status":"success","data":["http_requests_total","request_duration_seconds_bucket","up"]}"#]]
        .assert_eq(&r.body);
    let r = s.get_params("/api/v1/label/code/values", &[("match[]", "http_requests_total"), ("limit", "1")]).await;
    expect![[r#"{"status":"success","data":["200"],"warnings":["results truncated due to limit"]}"#]]
        .assert_eq(&r.body);
    let r = s.get("/api/v1/metadata").await;
    expect![[r#"{"status":"success","data":{"http_requests_total":[{"help":"Requests served.","type":"counter","unit":""}]}}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/metadata?metric=nope").await;
    expect![[r#"{"status":"success","data":{}}"#]].assert_eq(&r.body);
    let r = s.get_params("/api/v1/query_exemplars", &[("query", "up"), ("start", "0"), ("end", "1")]).await;
    expect![[r#"{"status":"success","data":[]}"#]].assert_eq(&r.body);
    let r = s.get_params("/api/v1/format_query", &[("query", "sum(rate(x[5m]))by(job)")]).await;
    expect![[r#"{"status":"success","data":"sum by (job) (rate(x[5m]))"}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/rules").await;
    expect![[r#"{"status":"success","data":{"groups":[]}}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/alerts").await;
    expect![[r#"{"status":"success","data":{"alerts":[]}}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/status/tsdb").await;
    expect![[r#"
        {
          "data": {
            "headStats": {
              "chunkCount": 8,
              "maxTime": 1700000600000,
              "minTime": 1700000000000,
              "numLabelPairs": 12,
              "numSeries": 8
            },
            "labelValueCountByLabelName": [
              {
                "name": "le",
                "value": 4
              },
              {
                "name": "__name__",
                "value": 3
              },
              {
                "name": "code",
                "value": 2
              },
              {
                "name": "instance",
                "value": 2
              },
              {
                "name": "job",
                "value": 1
              }
            ],
            "memoryInBytesByLabelName": [
              {
                "name": "__name__",
                "value": 166
              },
              {
                "name": "job",
                "value": 24
              },
              {
                "name": "instance",
                "value": 12
              },
              {
                "name": "le",
                "value": 11
              },
              {
                "name": "code",
                "value": 6
              }
            ],
            "seriesCountByLabelValuePair": [
              {
                "name": "job=api",
                "value": 8
              },
              {
                "name": "__name__=request_duration_seconds_bucket",
                "value": 4
              },
              {
                "name": "__name__=http_requests_total",
                "value": 2
              },
              {
                "name": "__name__=up",
                "value": 2
              },
              {
                "name": "code=200",
                "value": 1
              },
              {
                "name": "code=500",
                "value": 1
              },
              {
                "name": "instance=a:9090",
                "value": 1
              },
              {
                "name": "instance=b:9090",
                "value": 1
              },
              {
                "name": "le=+Inf",
                "value": 1
              },
              {
                "name": "le=0.1",
                "value": 1
              }
            ],
            "seriesCountByMetricName": [
              {
                "name": "request_duration_seconds_bucket",
                "value": 4
              },
              {
                "name": "http_requests_total",
                "value": 2
              },
              {
                "name": "up",
                "value": 2
              }
            ]
          },
          "status": "success"
        }"#]]
    .assert_eq(&pretty(&r.body));
    let r = s.get("/api/v1/status/buildinfo").await;
    expect![[r#"{"status":"success","data":{"branch":"","buildDate":"","buildUser":"","goVersion":"","revision":"","version":"0.1.0"}}"#]].assert_eq(&r.body);
    let r = s.get("/api/v1/status/flags").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["query-timeout"], "2m");
    assert_eq!(v["data"]["retention"], "15d");
    let r = s.get("/api/v1/status/config").await;
    assert!(r.body.contains("max_concurrency: 20"), "{}", r.body);
    let r = s.get("/api/v1/status/runtimeinfo").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["storageRetention"], "15d");
    assert!(v["data"]["startTime"].as_str().unwrap().ends_with('Z'));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let s = loaded_server().await;
    let r = s.get("/-/healthy").await;
    assert_eq!((r.status, r.body.as_str()), (200, "tickdb is Healthy.\n"));
    let r = s.get("/-/ready").await;
    assert_eq!((r.status, r.body.as_str()), (200, "tickdb is Ready.\n"));
    s.query("up", BASE).await;
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    for needle in [
        "tickdb_http_request_duration_seconds_count{handler=\"/api/v1/query\"} 1\n",
        "tickdb_http_request_duration_seconds_count{handler=\"/api/v1/write\"} 1\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_cpu_seconds_total counter\n",
        "process_cpu_seconds_total ",
        "tickdb_head_series 8\n",
        "# TYPE tickdb_allocator_allocated_bytes gauge\n",
        "# TYPE tickdb_allocator_active_bytes gauge\n",
        "tickdb_memory_compactions_total 0\n",
    ] {
        assert!(r.body.contains(needle), "{needle} missing from\n{}", r.body);
    }
    let r = s.get("/nope").await;
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/write").await;
    assert_eq!(r.status, 405);
    s.stop().await;
}

/// Every error path of the query API, with Prometheus's status codes and messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_errors() {
    let s = loaded_server().await;
    let check = |r: Resp, status: u16| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.headers["content-type"], "application/json");
        r.body
    };
    let t = secs(BASE);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, expect_test::Expect);
    let cases: Vec<Case> = vec![
        (
            "/api/v1/query",
            vec![],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: no expression found in input"}"#
            ]],
        ),
        (
            "/api/v1/query",
            vec![("query", "sum(rate(x[5m])"), ("time", &t)],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:16: parse error: unclosed left parenthesis"}"#
            ]],
        ),
        (
            "/api/v1/query",
            vec![("query", "up"), ("time", "yesterday")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp"}"#
            ]],
        ),
        (
            "/api/v1/query",
            vec![("query", "up"), ("time", &t), ("timeout", "soon")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("start", "10"), ("end", "5"), ("step", "1")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start time"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("start", "0"), ("end", "5"), ("step", "0")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"zero or negative query resolution step widths are not accepted. Try a positive integer"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("start", "0"), ("end", "5"), ("step", "-1")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"zero or negative query resolution step widths are not accepted. Try a positive integer"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("start", "0"), ("end", "11001"), ("step", "1")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("end", "5"), ("step", "1")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"\" to a valid timestamp"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up"), ("start", "0"), ("end", "5"), ("step", "fast")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": cannot parse \"fast\" to a valid duration"}"#
            ]],
        ),
        (
            "/api/v1/query_range",
            vec![("query", "up[5m]"), ("start", "0"), ("end", "5"), ("step", "1")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"}"#
            ]],
        ),
        (
            "/api/v1/series",
            vec![],
            400,
            expect![[r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#]],
        ),
        (
            "/api/v1/series",
            vec![("match[]", "{job=\"\"}")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: vector selector must contain at least one non-empty matcher"}"#
            ]],
        ),
        (
            "/api/v1/series",
            vec![("match[]", "up"), ("start", "x")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"}"#
            ]],
        ),
        (
            "/api/v1/labels",
            vec![("match[]", "rate(up[5m])")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: expected a series selector, got \"rate(up[5m])\""}"#
            ]],
        ),
        (
            "/api/v1/format_query",
            vec![("query", "up{")],
            400,
            expect![[
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"}"#
            ]],
        ),
    ];
    for (path, params, status, exp) in cases {
        let body = check(s.get_params(path, &params).await, status);
        exp.assert_eq(&body);
    }
    // Execution errors are 422.
    let r = s.query("label_replace(up, \"instance\", \"x\", \"job\", \".*\")", BASE + 60_000).await;
    expect![[
        r#"{"status":"error","errorType":"execution","error":"vector cannot contain metrics with the same labelset"}"#
    ]]
    .assert_eq(&check(r, 422));
    // Label names are UTF-8 (Prometheus 3): `0bad` is a valid name with no values; a path that
    // is not UTF-8 is not.
    let r = s.get("/api/v1/label/0bad/values").await;
    expect![[r#"{"status":"success","data":[]}"#]].assert_eq(&check(r, 200));
    let r = s.get("/api/v1/label/%ff/values").await;
    assert!(check(r, 400).contains("\"errorType\":\"bad_data\""));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout() {
    let s = TestServer::with(|c| c.query.timeout = "1ms".parse().unwrap()).await;
    let r = s.write_v1(&standard_data()).await;
    assert_eq!(r.status, 204);
    // A subquery with 1 ms resolution over 10 minutes: far more work than fits in 1 ms.
    let r = s.query("count_over_time(sum(up)[10m:1ms])", BASE + 600_000).await;
    assert_eq!(r.status, 503, "{}", r.body);
    expect![[r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#]]
        .assert_eq(&r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_timeout() {
    let s = loaded_server().await;
    let t = secs(BASE + 600_000);
    let r = s
        .get_params(
            "/api/v1/query",
            &[("query", "count_over_time(sum(up)[10m:1ms])"), ("time", &t), ("timeout", "0.001")],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("\"errorType\":\"timeout\""), "{}", r.body);
    s.stop().await;
}

/// `query.max_samples`: a query loading more samples fails with `execution` (422), as in
/// Prometheus; a smaller one still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sample_limit() {
    let s = TestServer::with(|c| c.query.max_samples = 30).await;
    assert_eq!(s.write_v1(&standard_data()).await.status, 204);
    let r = s.query("up[10m]", BASE + 600_000).await;
    assert_eq!(r.status, 422, "{}", r.body);
    expect![[r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}"#]].assert_eq(&r.body);
    let r = s.query("up[1m]", BASE + 600_000).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}
