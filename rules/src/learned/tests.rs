//! Anomaly and forecast rules through a group on the real in-memory head, with explicit
//! timestamps: parsing, cold start, scores and bands as series, alerts with severity, forecasts
//! and their crossing time, multivariate models fitted in the background, bounded series,
//! state round trips, and reload hand-over.

use crate::group::tests::{M, env, status};

/// 10 ± 1, repeating every 5 minutes (mean 10, standard deviation ~0.71).
fn noisy(m: i64) -> f64 {
    10.0 + ((m * 7) % 5 - 2) as f64 * 0.5
}

const ZSCORE_RULE: &str = "  - anomaly: PlayersOdd\n    expr: players\n    detector: zscore:window=2h,buckets=12,min_samples=30\n    labels: {team: game}\n    annotations: {summary: '{{ $labels.server }} scores {{ $value }}'}\n";

#[test]
fn an_anomaly_rule_learns_scores_and_alerts_with_severity() {
    let e = env();
    let series = [("__name__", "players"), ("server", "eu-1")];
    let mut g = e.group(ZSCORE_RULE);
    for m in 0..60 {
        e.add(&series, &[(m, noisy(m))]);
        let r = e.eval(&mut g, m);
        assert!(r.failures.is_empty(), "{r:?}");
        let st = g.rules()[0].learn_status().unwrap();
        if m < 29 {
            assert_eq!(st.warming_up, 1, "minute {m}: {st:?}");
            assert!(st.readiness.as_deref().unwrap().starts_with("warming up: "), "{st:?}");
        }
    }
    let st = g.rules()[0].learn_status().unwrap();
    assert_eq!((st.kind, st.tracked_series, st.warming_up), ("anomaly", 1, 0), "{st:?}");
    assert!(st.memory_bytes > 0 && st.memory_bytes < 64 << 10, "bounded: {st:?}");
    assert_eq!(status(&g), "PlayersOdd ok", "normal data raises no alert");
    // Scores, expectations and bands are series; cold start wrote none.
    let dump = e.dump("anomaly_.*");
    let score_line = dump.lines().find(|l| l.contains("anomaly_score")).unwrap();
    assert!(
        score_line.starts_with("{__name__=\"anomaly_score\", anomaly=\"PlayersOdd\", server=\"eu-1\", team=\"game\"} "),
        "{score_line}"
    );
    let first_scored: i64 = score_line.split(' ').nth(4).unwrap().split(':').next().unwrap().parse().unwrap();
    assert!(first_scored >= 29, "no score during the cold start: {score_line}");
    for name in ["anomaly_expected", "anomaly_lower", "anomaly_upper"] {
        assert!(dump.contains(&format!("{{__name__=\"{name}\", anomaly=\"PlayersOdd\"")), "{name}: {dump}");
    }
    // A spike: critical at once (no `for`), the score as value, the annotation templated.
    e.add(&series, &[(60, 100.0)]);
    e.eval(&mut g, 60);
    let alerts = g.rules()[0].active_alerts();
    assert_eq!(alerts.len(), 1, "{}", status(&g));
    let a = &alerts[0];
    assert_eq!(a.labels["severity"], "critical");
    assert_eq!((a.labels["server"].as_str(), a.labels["team"].as_str()), ("eu-1", "game"));
    assert_eq!(a.labels["alertname"], "PlayersOdd");
    assert_eq!(a.value, 1.0);
    assert_eq!(a.annotations["summary"], "eu-1 scores 1");
    assert_eq!(a.state.as_str(), "firing");
    let sent = g.alerts_to_send(60 * M);
    assert_eq!(sent.len(), 1);
    // Back to normal: resolved.
    e.add(&series, &[(61, noisy(61))]);
    e.eval(&mut g, 61);
    assert!(g.rules()[0].active_alerts().iter().all(|a| a.resolved_at_ms == 61 * M), "{}", status(&g));
}

#[test]
fn min_level_for_and_max_series() {
    let e = env();
    let rule = "  - anomaly: Odd\n    expr: players\n    detector: zscore:window=2h,buckets=12,min_samples=30\n    min_level: critical\n    for: 2m\n    max_series: 2\n";
    let mut g = e.group(rule);
    for m in 0..40 {
        for s in ["a", "b", "c"] {
            e.add(&[("__name__", "players"), ("server", s)], &[(m, noisy(m))]);
        }
        e.eval(&mut g, m);
    }
    let st = g.rules()[0].learn_status().unwrap();
    assert_eq!((st.tracked_series, st.dropped_series), (2, 1), "{st:?}");
    // Above 3 sigma but below 5: no alert with min_level critical.
    let sd = 0.71;
    e.add(&[("__name__", "players"), ("server", "a")], &[(40, 10.0 + 4.2 * sd)]);
    e.add(&[("__name__", "players"), ("server", "b")], &[(40, 200.0)]);
    e.eval(&mut g, 40);
    let alerts = g.rules()[0].active_alerts();
    assert_eq!(alerts.len(), 1, "{}", status(&g));
    assert_eq!((alerts[0].labels["server"].as_str(), alerts[0].state.as_str()), ("b", "pending"));
}

#[test]
fn a_forecast_rule_predicts_the_crossing_and_alerts() {
    let e = env();
    // Free disk falls by 10 per minute from 10000: it reaches 0 at minute 1000.
    let rule = "  - forecast: DiskFullSoon\n    expr: disk_free\n    model: linear:window=1h,buckets=12,min_samples=10\n    horizon: 24h\n    threshold: 0\n    direction: below\n";
    let mut g = e.group(rule);
    let series = [("__name__", "disk_free"), ("mount", "/")];
    for m in 0..=60 {
        e.add(&series, &[(m, 10_000.0 - 10.0 * m as f64)]);
        let r = e.eval(&mut g, m);
        assert!(r.failures.is_empty(), "{r:?}");
    }
    let cap = g.rules()[0].capacity().to_vec();
    assert_eq!(cap.len(), 1);
    let c = &cap[0];
    assert_eq!((c.value, c.threshold, c.horizon_ms), (9_400.0, 0.0, 24 * 60 * M));
    // The forecast 24 h ahead is far below 0; the crossing is found within one search step
    // (24h / 64) of minute 1000.
    assert!((c.forecast.value - (9_400.0 - 10.0 * 1440.0)).abs() < 1e-6, "{c:?}");
    let at = c.crossing_at_ms.unwrap();
    assert!((at - 1000 * M).abs() <= 24 * 60 * M / 64, "crossing at minute {}", at / M);
    assert!(c.crossing_earliest_ms.unwrap() <= at && at <= c.crossing_latest_ms.unwrap());
    let dump = e.dump("forecast_.*");
    assert!(
        dump.contains("{__name__=\"forecast_crossing_seconds\", forecast=\"DiskFullSoon\", mount=\"/\"}"),
        "{dump}"
    );
    let alerts = g.rules()[0].active_alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state.as_str(), "firing");
    assert!((alerts[0].value - (at - 60 * M) as f64 / 1000.0).abs() < 1e-9);
    // A flat series never crosses within the horizon: no alert, no crossing series.
    let e2 = env();
    let mut g2 = e2.group(rule);
    for m in 0..=60 {
        e2.add(&series, &[(m, 5_000.0)]);
        e2.eval(&mut g2, m);
    }
    assert!(g2.rules()[0].active_alerts().is_empty());
    assert_eq!(g2.rules()[0].capacity()[0].crossing_at_ms, None);
    assert!(!e2.dump("forecast_crossing_seconds").contains("forecast"));
}

#[test]
fn a_multivariate_rule_learns_the_joint_behaviour_of_a_target() {
    let e = env();
    let rule = "  - anomaly: ServerOdd\n    features:\n      cpu: cpu_usage\n      players: players\n    on: [server]\n    detector: gmm:components=1,train=200,min_samples=50\n    retrain: 10m\n";
    let mut g = e.group(rule);
    // CPU follows players (0.01 per player); both vary.
    let (cpu, players) =
        (|m: i64| 0.01 * (100.0 + noisy(m) * 5.0) + (m % 3) as f64 * 0.001, |m: i64| 100.0 + noisy(m) * 5.0);
    for m in 0..120 {
        e.add(&[("__name__", "cpu_usage"), ("server", "s1"), ("core", "all")], &[(m, cpu(m))]);
        e.add(&[("__name__", "players"), ("server", "s1")], &[(m, players(m))]);
        e.eval(&mut g, m);
        g.finish_training();
    }
    assert_eq!(status(&g), "ServerOdd ok");
    let st = g.rules()[0].learn_status().unwrap();
    assert_eq!((st.tracked_series, st.warming_up, st.model_error.clone()), (1, 0, None), "{st:?}");
    // High CPU with the usual players: each value alone is in range, together they are not.
    e.add(&[("__name__", "cpu_usage"), ("server", "s1"), ("core", "all")], &[(120, 3.0)]);
    e.add(&[("__name__", "players"), ("server", "s1")], &[(120, players(120))]);
    e.eval(&mut g, 120);
    let alerts = g.rules()[0].active_alerts();
    assert_eq!(alerts.len(), 1, "{}", status(&g));
    assert_eq!(alerts[0].labels["server"], "s1", "the alert is per target (the `on` labels)");
    assert!(!alerts[0].labels.contains_key("core"));
    assert!(e.dump("anomaly_score").contains("{__name__=\"anomaly_score\", anomaly=\"ServerOdd\", server=\"s1\"}"));
}

#[test]
fn learned_state_round_trips_and_survives_a_reload() {
    let e = env();
    let mut g = e.group(ZSCORE_RULE);
    for m in 0..40 {
        e.add(&[("__name__", "players"), ("server", "eu-1")], &[(m, noisy(m))]);
        e.eval(&mut g, m);
    }
    let saved = g.learned_state();
    assert_eq!(saved.len(), 1);
    let text = serde_json::to_string(&saved).unwrap();
    let back: Vec<(String, crate::learned::LearnedState)> = serde_json::from_str(&text).unwrap();
    // A fresh group restores it and is ready at once.
    let mut fresh = e.group(ZSCORE_RULE);
    assert_eq!(fresh.restore_learned_state(&back), 1);
    assert_eq!(fresh.rules()[0].learn_status().unwrap().warming_up, 0);
    // Another detector does not take it.
    let mut other = e.group(&ZSCORE_RULE.replace("min_samples=30", "min_samples=31"));
    assert_eq!(other.restore_learned_state(&back), 0);
    assert_eq!(other.rules()[0].learn_status().unwrap().tracked_series, 0);
    // A reload hands the detectors to the same rule.
    let mut reloaded = e.group(ZSCORE_RULE);
    reloaded.copy_state_from(&g);
    assert_eq!(reloaded.rules()[0].learn_status().unwrap().tracked_series, 1);
    // Both score the next sample the same.
    e.add(&[("__name__", "players"), ("server", "eu-1")], &[(40, 14.0)]);
    e.eval(&mut g, 40);
    e.eval(&mut fresh, 40);
    assert_eq!(g.learned_state()[0].1.series, fresh.learned_state()[0].1.series);
}

#[test]
fn bad_learned_rules_are_refused_with_positions() {
    let cases = [
        ("  - alert: A\n    expr: up\n    detector: zscore\n", "invalid field 'detector' in alerting rule"),
        ("  - record: r\n    expr: up\n    horizon: 1h\n", "invalid field 'horizon' in recording rule"),
        ("  - anomaly: A\n    expr: up\n    detector: zscore:window=0s\n", "window"),
        ("  - anomaly: A\n    expr: up\n    detector: lstm\n", "unknown detector kind"),
        ("  - anomaly: A\n    expr: up\n    min_level: severe\n", "min_level must be medium, high or critical"),
        ("  - anomaly: A\n    features: {a: up}\n    detector: gmm\n", "needs 'on'"),
        ("  - anomaly: A\n    features: {a: up}\n    on: [server]\n", "univariate"),
        (
            "  - anomaly: A\n    expr: up\n    features: {a: up}\n    on: [x]\n    detector: gmm\n",
            "either 'expr' or 'features'",
        ),
        ("  - anomaly: A\n    expr: up\n    forecast: B\n", "only one of 'record', 'alert', 'anomaly' and 'forecast'"),
        ("  - forecast: F\n    expr: up\n    threshold: 1\n", "needs 'horizon'"),
        ("  - forecast: F\n    expr: up\n    horizon: 1h\n", "needs 'threshold'"),
        (
            "  - forecast: F\n    expr: up\n    horizon: 1h\n    threshold: 1\n    model: arima\n",
            "unknown forecast model",
        ),
        (
            "  - forecast: F\n    expr: up\n    horizon: 1h\n    threshold: 1\n    direction: sideways\n",
            "direction must be",
        ),
        ("  - anomaly: A\n    expr: up\n    max_series: 0\n", "max_series must be positive"),
    ];
    for (rules, want) in cases {
        let text = format!("groups:\n- name: g\n  rules:\n{rules}");
        let errs = crate::file::parse("r.yml", &text).expect_err(rules);
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(all.iter().any(|e| e.contains(want)), "{rules}: want {want:?}, got {all:?}");
        assert!(all.iter().all(|e| e.starts_with("r.yml:")), "{all:?}");
    }
}
