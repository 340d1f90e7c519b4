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
