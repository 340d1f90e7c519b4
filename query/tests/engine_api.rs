//! The public API: limits, errors and value types.

#[allow(dead_code)]
mod promqltest {
    pub mod head_store;
}

use promqltest::head_store::{TestStorage, new_storage};
use query::{Engine, EngineOptions, QueryError, Value};
use storage::{Sample, labels};

fn store() -> Box<dyn TestStorage> {
    let s = new_storage();
    let samples: Vec<Sample> = (0..10).map(|i| Sample::new(i * 60_000, i as f64)).collect();
    s.append(&labels! {"__name__" => "up", "job" => "a"}, &samples);
    s.append(&labels! {"__name__" => "up", "job" => "b"}, &samples);
    s
}

#[test]
fn instant_vector_and_scalar() {
    let s = store();
    let e = Engine::new(EngineOptions::default());
    let r = e.instant(s.queryable(), "sum(up)", 120_000).unwrap();
    match r.value {
        Value::Vector(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].v, 4.0);
            assert_eq!(v[0].t, 120_000);
        }
        other => panic!("unexpected {other:?}"),
    }
    let r = e.instant(s.queryable(), "1 + 2", 0).unwrap();
    assert_eq!(r.value, Value::Scalar { t: 0, v: 3.0 });
}

#[test]
fn too_many_samples() {
    let s = store();
    let e = Engine::new(EngineOptions { max_samples: 3, ..EngineOptions::default() });
    let err = e.range(s.queryable(), "up", 0, 540_000, 60_000).unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples(_)), "{err}");
    assert_eq!(err.to_string(), "query processing would load too many samples into memory in query execution");
    assert_eq!(err.error_type(), "execution");
}

#[test]
fn bad_requests() {
    let s = store();
    let e = Engine::new(EngineOptions::default());
    let err = e.range(s.queryable(), "up[5m]", 0, 60_000, 60_000).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
    assert_eq!(
        err.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let err = e.instant(s.queryable(), "sum(up", 0).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
    assert!(err.to_string().contains("parse error"), "{err}");
}

#[test]
fn annotations_carry_positions() {
    let s = store();
    let e = Engine::new(EngineOptions::default());
    let r = e.instant(s.queryable(), "rate(up[5m])", 300_000).unwrap();
    assert_eq!(
        r.infos,
        vec![
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"
        ]
    );
}

#[test]
fn cancel_and_timeout() {
    let s = store();
    let e = Engine::new(EngineOptions::default());
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let err = e.instant_cancellable(s.queryable(), "up", 0, &cancel).unwrap_err();
    assert!(matches!(err, QueryError::Canceled));
    assert_eq!(err.error_type(), "canceled");
    let e = Engine::new(EngineOptions { timeout: std::time::Duration::ZERO, ..EngineOptions::default() });
    let err = e.range(s.queryable(), "up", 0, 540_000, 60_000).unwrap_err();
    assert_eq!(err.error_type(), "timeout", "{err}");
}

/// Odd but valid (or invalid) queries must give a result or an error, never a panic.
#[test]
fn no_panics_on_odd_queries() {
    let s = store();
    let e = Engine::new(EngineOptions::default());
    let queries = [
        "up @ 1e15",
        "up @ -1e15",
        "up offset 1000y",
        "up offset -1000y",
        "rate(up[1ms])",
        "topk(1e30, up)",
        "topk(-1e30, up)",
        "topk(NaN, up)",
        "limit_ratio(NaN, up)",
        "limit_ratio(2, up)",
        "quantile(NaN, up)",
        "up[5m:1s]",
        "rate(up[5m:7s] offset -3m)",
        "label_replace(up, \"a\", \"$1\", \"b\", \"(\")",
        "label_replace(up, \"\", \"x\", \"job\", \".*\")",
        "label_join(up, \"a\", \",\", \"\")",
        "histogram_quantile(0.5, up)",
        "histogram_quantile(0.5, label_replace(up, \"le\", \"+Inf\", \"job\", \".*\"))",
        "histogram_fraction(0, 1, label_replace(up, \"le\", \"x\", \"job\", \".*\"))",
        "count_values(\"\", up)",
        "count_values(\"v\", up)",
        "day_of_week(vector(1e30))",
        "year(vector(NaN))",
        "-up",
        "up and on() up",
        "up + on(job) group_left(x) up",
        "up + ignoring(job) up",
        "absent(nonexistent{a=\"b\", a=\"c\"})",
        "absent_over_time(nonexistent[5m])",
        "double_exponential_smoothing(up[5m], 0.5, 2)",
        "predict_linear(up[5m], 600)",
        "quantile_over_time(2, up[10m])",
        "sort_by_label(up, \"job\")",
        "scalar(up)",
        "timestamp(up @ 100)",
        "max_of(1, NaN)",
        "{__name__=~\"u.*\"}",
        "sum by (__name__) (up)",
        "clamp(up, 5, 1)",
        "round(up, 0)",
        "up % 0",
        "up ^ 1e308",
    ];
    for q in queries {
        let _ = e.instant(s.queryable(), q, 300_000);
        let _ = e.range(s.queryable(), q, 0, 600_000, 30_000);
    }
}

/// Timeouts, cancellation and the sample budget are checked inside the evaluator's inner
/// loops, so a query that would run for minutes stops with the right error soon after the
/// deadline (the test only asserts the error; it completes quickly because the check works).
#[test]
fn limits_fire_inside_long_loops() {
    let s = store();
    let queries = [
        "count_over_time(sum(up)[1d:1ms])",
        "count_over_time(up[1d:1ms])",
        "sum_over_time(vector(1)[1d:1ms])",
        "max_over_time(timestamp(up)[1d:1ms])",
        "count_over_time((up + on(job) up)[1d:1ms])",
        "count_over_time(topk(1, up)[1d:1ms])",
        "max_over_time(rate(up[5m])[1d:1ms])",
    ];
    let e = Engine::new(EngineOptions { timeout: std::time::Duration::from_millis(10), ..EngineOptions::default() });
    for q in queries {
        let err = e.instant(s.queryable(), q, 86_400_000).unwrap_err();
        assert!(matches!(err, QueryError::Timeout(_)), "{q}: {err}");
        assert_eq!(err.error_type(), "timeout");
    }
    // The sample budget stops a single huge series before it is fully built.
    let e = Engine::new(EngineOptions { max_samples: 100_000, ..EngineOptions::default() });
    for q in queries {
        let err = e.instant(s.queryable(), q, 86_400_000).unwrap_err();
        assert!(matches!(err, QueryError::TooManySamples(_)), "{q}: {err}");
    }
    // A cancel flag set before the query starts stops it at the first check.
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let e = Engine::new(EngineOptions::default());
    let err = e.instant_cancellable(s.queryable(), queries[0], 86_400_000, &cancel).unwrap_err();
    assert!(matches!(err, QueryError::Canceled), "{err}");
}

/// A max-samples case: `(query, start s, end s, step s (0: instant), peak, total)`. The query
/// must succeed with `max_samples = peak` and fail with `peak - 1`; `total` is the expected
/// [`query::QueryStats::samples_loaded`].
type LimitCase = (&'static str, i64, i64, i64, usize, Option<usize>);

/// Loads `series` (labels) with `1+1x100` every 10s, as the Prometheus tests' `load 10s`.
fn load_10s(series: &[storage::Labels]) -> Box<dyn TestStorage> {
    let s = new_storage();
    let samples: Vec<Sample> = (0..=100).map(|i| Sample::new(i * 10_000, (i + 1) as f64)).collect();
    for l in series {
        s.append(l, &samples);
    }
    s
}

fn run_limited(s: &dyn TestStorage, c: &LimitCase, limit: usize) -> Result<query::QueryResult, QueryError> {
    let e = Engine::new(EngineOptions { max_samples: limit, ..EngineOptions::default() });
    let (q, start, end, step, _, _) = *c;
    if step == 0 {
        e.instant(s.queryable(), q, start * 1000)
    } else {
        e.range(s.queryable(), q, start * 1000, end * 1000, step * 1000)
    }
}

fn check_limits(s: &dyn TestStorage, cases: &[LimitCase]) {
    let mut failures = Vec::new();
    for c in cases {
        let (q, start, end, step, peak, total) = *c;
        let case = format!("{q} [{start}s..{end}s step {step}s]");
        match run_limited(s, c, peak) {
            Ok(r) => {
                if let Some(t) = total
                    && r.stats.samples_loaded != t
                {
                    failures.push(format!("{case}: samples_loaded {} != {t}", r.stats.samples_loaded));
                }
            }
            Err(e) => failures.push(format!("{case}: fails with max_samples {peak}: {e}")),
        }
        match run_limited(s, c, peak - 1) {
            Err(QueryError::TooManySamples(_)) => {}
            other => failures.push(format!("{case}: max_samples {} gives {other:?}", peak - 1)),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The float cases of Prometheus's `TestQueryStatistics` (promql/engine_test.go): the peak
/// of samples in memory gates `max_samples`, and `samples_loaded` is its `TotalSamples`.
#[test]
fn max_samples_match_prometheus_query_statistics() {
    let s = load_10s(&[
        labels! {"__name__" => "metricWith1SampleEvery10Seconds"},
        labels! {"__name__" => "metricWith3SampleEvery10Seconds", "a" => "1", "b" => "1"},
        labels! {"__name__" => "metricWith3SampleEvery10Seconds", "a" => "2", "b" => "2"},
        labels! {"__name__" => "metricWith3SampleEvery10Seconds", "a" => "3", "b" => "2"},
    ]);
    let cases: &[LimitCase] = &[
        ("1", 21, 21, 0, 1, Some(0)),
        ("metricWith1SampleEvery10Seconds", 21, 21, 0, 1, Some(1)),
        ("timestamp(metricWith1SampleEvery10Seconds)", 21, 21, 0, 2, Some(1)),
        ("metricWith1SampleEvery10Seconds", 22, 22, 0, 1, Some(1)),
        ("metricWith1SampleEvery10Seconds offset 10s", 21, 21, 0, 1, Some(1)),
        ("metricWith1SampleEvery10Seconds @ 15", 21, 21, 0, 1, Some(1)),
        ("metricWith3SampleEvery10Seconds{a=\"1\"}", 21, 21, 0, 1, Some(1)),
        ("metricWith3SampleEvery10Seconds{a=\"1\"} @ 19", 21, 21, 0, 1, Some(1)),
        ("metricWith3SampleEvery10Seconds{a=\"1\"}[20s] @ 19", 21, 21, 0, 2, Some(2)),
        ("metricWith3SampleEvery10Seconds", 21, 21, 0, 3, Some(3)),
        ("metricWith1SampleEvery10Seconds[60s]", 201, 201, 0, 6, Some(6)),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s])[20s:5s]", 201, 201, 0, 10, Some(24)),
        ("max_over_time(metricWith1SampleEvery10Seconds[61s])[20s:5s]", 201, 201, 0, 11, Some(26)),
        ("metricWith1SampleEvery10Seconds[60s] @ 30", 201, 201, 0, 4, Some(4)),
        ("sum(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", 201, 201, 0, 7, Some(12)),
        ("sum by (b) (max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", 201, 201, 0, 7, Some(12)),
        ("metricWith1SampleEvery10Seconds[60s] offset 10s", 201, 201, 0, 6, Some(6)),
        ("metricWith3SampleEvery10Seconds[60s]", 201, 201, 0, 18, Some(18)),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s])", 201, 201, 0, 7, Some(6)),
        ("absent_over_time(metricWith1SampleEvery10Seconds[60s])", 201, 201, 0, 7, Some(6)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s])", 201, 201, 0, 9, Some(18)),
        ("metricWith1SampleEvery10Seconds[60s:5s]", 201, 201, 0, 12, Some(12)),
        ("metricWith1SampleEvery10Seconds[60s:5s] offset 10s", 201, 201, 0, 12, Some(12)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", 201, 201, 0, 51, Some(36)),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
            201,
            201,
            0,
            52,
            Some(72),
        ),
        ("metricWith3SampleEvery10Seconds{a=\"1\"}", 201, 220, 5, 4, Some(4)),
        ("metricWith3SampleEvery10Seconds{a=\"1\"}", 204, 223, 5, 4, Some(4)),
        ("timestamp(metricWith1SampleEvery10Seconds)", 201, 220, 5, 5, Some(4)),
        ("max_over_time(metricWith3SampleEvery10Seconds{a=\"1\"}[10s])", 991, 1021, 10, 2, Some(2)),
        ("metricWith3SampleEvery10Seconds{a=\"1\"} offset 10s", 201, 220, 5, 4, Some(4)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30)", 201, 220, 5, 12, Some(48)),
        ("metricWith3SampleEvery10Seconds", 201, 220, 5, 12, Some(12)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s])", 201, 220, 5, 18, Some(72)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", 201, 216, 5, 69, Some(144)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", 201, 220, 5, 69, Some(144)),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s:5s])", 201, 220, 5, 31, Some(48)),
        ("sum by (b) (max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))", 201, 220, 5, 31, Some(48)),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
            201,
            220,
            5,
            73,
            Some(288),
        ),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))",
            201,
            216,
            5,
            69,
            Some(192),
        ),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))",
            201,
            220,
            5,
            69,
            Some(192),
        ),
        ("max_over_time(metricWith1SampleEvery10Seconds[20s:10s])", 201, 201, 0, 5, Some(2)),
        ("sum_over_time(metricWith1SampleEvery10Seconds[30s:30s])", 90, 90, 0, 3, Some(1)),
        ("max_over_time(metricWith1SampleEvery10Seconds[30s:2m])", 240, 240, 0, 3, Some(1)),
        ("max_over_time(metricWith1SampleEvery10Seconds[30s:10s])", 201, 231, 30, 11, Some(6)),
        ("max_over_time(metricWith1SampleEvery10Seconds[20s:10s])", 201, 261, 10, 17, Some(14)),
        ("max_over_time(metricWith1SampleEvery10Seconds[30s:10s])", 201, 261, 60, 14, Some(6)),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:10s])", 200, 400, 30, 99, Some(126)),
        ("predict_linear(metricWith1SampleEvery10Seconds[60s] @ 100, 60)", 100, 300, 100, 12, Some(18)),
        ("sum_over_time(metricWith3SampleEvery10Seconds[20s:10s] @ 200)", 250, 250, 0, 11, Some(6)),
        ("sum_over_time(metricWith1SampleEvery10Seconds[20s:10s] offset 1m)", 240, 240, 0, 5, Some(2)),
        ("sum_over_time(metricWith3SampleEvery10Seconds[1m:10s] @ 200 offset 1m)", 300, 300, 0, 27, Some(18)),
        (
            "sum_over_time(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 300)[5m:1m] @ 600)[10m:2m]",
            800,
            800,
            0,
            23,
            Some(75),
        ),
        ("rate(sum_over_time(metricWith1SampleEvery10Seconds[30s])[1m:30s])", 240, 240, 0, 5, Some(2)),
    ];
    check_limits(&*s, cases);
}

/// The float cases of Prometheus's `TestMaxQuerySamples`: each touches the limit exactly.
#[test]
fn max_samples_match_prometheus_max_query_samples() {
    let s = load_10s(&[
        labels! {"__name__" => "metric"},
        labels! {"__name__" => "bigmetric", "a" => "1"},
        labels! {"__name__" => "bigmetric", "a" => "2"},
    ]);
    let cases: &[LimitCase] = &[
        ("1", 1, 1, 0, 1, None),
        ("metric", 1, 1, 0, 1, None),
        ("metric[20s]", 10, 10, 0, 2, None),
        ("rate(metric[20s])", 10, 10, 0, 3, None),
        ("metric[20s:5s]", 10, 10, 0, 3, None),
        ("metric[20s] @ 10", 0, 0, 0, 2, None),
        ("1", 0, 2, 1, 3, None),
        ("metric", 0, 2, 1, 3, None),
        ("metric", 0, 10, 5, 3, None),
        ("rate(bigmetric[1s])", 0, 10, 5, 1, None),
        ("metric @ 10", 0, 10, 5, 3, None),
        ("rate(bigmetric[10s:1s] @ 10)", 0, 10, 5, 32, None),
        ("rate(bigmetric[10s:1s] @ 10) + rate(bigmetric[10s:1s] @ 30)", 0, 10, 5, 34, None),
        ("rate(bigmetric[10s:1s]) + rate(bigmetric[10s:1s] @ 30)", 10, 20, 5, 56, None),
        ("rate(rate(bigmetric[10:1s] @ 10)[100s:25s] @ 1000)[100s:20s] @ 2000", 10, 10, 0, 32, None),
        ("rate(rate(bigmetric[10s:1s] @ 10)[100s:25s] @ 1000)[17s:1s] @ 2000", 10, 10, 0, 34, None),
    ];
    check_limits(&*s, cases);
}

/// Peaks and totals measured on Prometheus 2.42 (`/api/v1/query?stats=all`, `peakSamples` and
/// `totalQueryableSamples`) over the data below, instant at 105s and range 3s..43s step 10s.
/// All totals and all peaks agree, except where Prometheus 3 changed its design and we follow
/// 3 (`promql/engine.go` since v3.0.0): aggregations (`rangeEvalAgg`) no longer gather each
/// step's input vector nor count their per-step output, and `label_replace`/`label_join`
/// (`evalLabelReplace`) no longer run step by step; those rows carry the 3.x peak, derived
/// from its code, with 2.42's in a comment.
#[test]
fn max_samples_match_prometheus_measured() {
    let s = load_10s(&[
        labels! {"__name__" => "metric"},
        labels! {"__name__" => "bigmetric", "a" => "1"},
        labels! {"__name__" => "bigmetric", "a" => "2"},
    ]);
    // `up` every 15s from 0s to 1200s: 40 samples per series in a 10m window at 1200s.
    let up: Vec<Sample> = (0..=80).map(|i| Sample::new(i * 15_000, 1.0)).collect();
    s.append(&labels! {"__name__" => "up", "job" => "a"}, &up);
    s.append(&labels! {"__name__" => "up", "job" => "b"}, &up);
    let cases: &[LimitCase] = &[
        ("sum(bigmetric)", 105, 105, 0, 2, Some(2)), // 2.42: 5 (see above)
        ("sum(bigmetric)", 3, 43, 10, 10, Some(10)), // 2.42: 17 (see above)
        ("count(metric)", 105, 105, 0, 1, Some(1)),  // 2.42: 3 (see above)
        ("count(metric)", 3, 43, 10, 5, Some(5)),    // 2.42: 11 (see above)
        ("bigmetric * 2", 105, 105, 0, 8, Some(2)),
        ("bigmetric * 2", 3, 43, 10, 28, Some(10)),
        ("2 * bigmetric", 105, 105, 0, 8, Some(2)),
        ("2 * bigmetric", 3, 43, 10, 28, Some(10)),
        ("bigmetric + on(a) bigmetric", 105, 105, 0, 10, Some(4)),
        ("bigmetric + on(a) bigmetric", 3, 43, 10, 34, Some(20)),
        ("abs(bigmetric)", 105, 105, 0, 6, Some(2)),
        ("abs(bigmetric)", 3, 43, 10, 22, Some(10)),
        ("-bigmetric", 105, 105, 0, 2, Some(2)),
        ("-bigmetric", 3, 43, 10, 10, Some(10)),
        ("sum_over_time(bigmetric[1m])", 105, 105, 0, 8, Some(12)),
        ("sum_over_time(bigmetric[1m])", 3, 43, 10, 15, Some(30)),
        ("rate(bigmetric[1m])", 105, 105, 0, 8, Some(12)),
        ("rate(bigmetric[1m])", 3, 43, 10, 13, Some(30)),
        ("count_values(\"v\", bigmetric)", 105, 105, 0, 5, Some(2)),
        ("count_values(\"v\", bigmetric)", 3, 43, 10, 17, Some(10)),
        ("topk(1, bigmetric)", 105, 105, 0, 3, Some(2)), // 2.42: 7 (see above)
        ("topk(1, bigmetric)", 3, 43, 10, 15, Some(10)), // 2.42: 23 (see above)
        ("quantile(0.5, bigmetric)", 105, 105, 0, 3, Some(2)), // 2.42: 7 (see above)
        ("quantile(0.5, bigmetric)", 3, 43, 10, 15, Some(10)), // 2.42: 23 (see above)
        ("label_replace(bigmetric, \"x\", \"y\", \"\", \"\")", 105, 105, 0, 2, Some(2)), // 2.42: 6 (see above)
        ("label_replace(bigmetric, \"x\", \"y\", \"\", \"\")", 3, 43, 10, 10, Some(10)), // 2.42: 22 (see above)
        ("timestamp(bigmetric)", 105, 105, 0, 4, Some(2)),
        ("timestamp(bigmetric)", 3, 43, 10, 12, Some(10)),
        ("quantile_over_time(0.5, bigmetric[1m])", 105, 105, 0, 9, Some(12)),
        ("quantile_over_time(0.5, bigmetric[1m])", 3, 43, 10, 20, Some(30)),
        ("sum_over_time(up[10m])", 105, 105, 0, 10, Some(16)),
        ("sum_over_time(up[10m])", 3, 43, 10, 13, Some(20)),
        ("sum(sum_over_time(up[10m]))", 105, 105, 0, 10, Some(16)),
        ("sum(sum_over_time(up[10m]))", 3, 43, 10, 13, Some(20)), // 2.42: 17 (see above)
        ("max_over_time(bigmetric[1m:10s])", 105, 105, 0, 20, Some(12)),
        ("max_over_time(bigmetric[1m:10s])", 3, 43, 10, 25, Some(30)),
        ("avg_over_time(rate(bigmetric[30s])[1m:10s])", 105, 105, 0, 20, Some(12)),
        ("avg_over_time(rate(bigmetric[30s])[1m:10s])", 3, 43, 10, 20, Some(20)),
        ("bigmetric @ 50", 105, 105, 0, 2, Some(2)),
        ("bigmetric @ 50", 3, 43, 10, 10, Some(10)),
        ("sum(bigmetric @ 50)", 105, 105, 0, 2, Some(2)), // 2.42: 5 (see above)
        ("sum(bigmetric @ 50)", 3, 43, 10, 5, Some(10)),
        ("vector(1)", 105, 105, 0, 3, Some(0)),
        ("vector(1)", 3, 43, 10, 5, Some(0)),
        ("time()", 105, 105, 0, 1, Some(0)),
        ("time()", 3, 43, 10, 5, Some(0)),
        ("scalar(metric)", 105, 105, 0, 3, Some(1)),
        ("scalar(metric)", 3, 43, 10, 11, Some(5)),
        ("sum(rate(bigmetric[1m])) by (a)", 105, 105, 0, 8, Some(12)),
        ("sum(rate(bigmetric[1m])) by (a)", 3, 43, 10, 13, Some(30)), // 2.42: 18 (see above)
        ("absent(nonexistent)", 105, 105, 0, 1, Some(0)),
        ("absent(nonexistent)", 3, 43, 10, 5, Some(0)),
        // The window's 40 points are held while the function runs (derived: 40 + 1 for the
        // first series' output, then 1 + 40 + 1).
        ("sum_over_time(up[10m])", 1200, 1200, 0, 42, Some(80)),
    ];
    check_limits(&*s, cases);
    let five = Engine::new(EngineOptions { max_samples: 5, ..EngineOptions::default() });
    let err = five.instant(s.queryable(), "sum_over_time(up[10m])", 1_200_000).unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples(_)), "{err}");
}
