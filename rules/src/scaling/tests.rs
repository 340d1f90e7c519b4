//! The policy arithmetic, table-driven, with an injected clock (times in ms).

use super::*;

fn docker(name: &str) -> Target {
    format!("docker/{name}").parse().unwrap()
}

fn def() -> ScalingDef {
    ScalingDef::new(docker("game"), "avg(cpu)")
}

#[test]
fn targets_parse_and_print() {
    let cases = [
        ("docker/game", Ok("docker/game")),
        ("deployment/game", Ok("deployment/default/game")),
        ("deployment/games/game-1", Ok("deployment/games/game-1")),
        ("statefulset/db/pg.main", Ok("statefulset/db/pg.main")),
        ("docker", Err("a target is docker/<service>")),
        ("docker/", Err("names are letters")),
        ("pod/x", Err("a target is")),
        ("deployment/a/b/c", Err("a target is")),
        ("docker/a b", Err("names are letters")),
        ("deployment//x", Err("names are letters")),
    ];
    for (input, want) in cases {
        let got = input.parse::<Target>().map(|t| t.to_string());
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{input}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{input}: {e}"),
            (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
        }
    }
    let t: Target = "deployment/games/game".parse().unwrap();
    assert_eq!(
        (t.actuator, t.kind, t.namespace.as_deref()),
        (ActuatorKind::Kubernetes, TargetKind::Deployment, Some("games"))
    );
}

/// One decision from a fresh state: (current, metric, predicted) → (desired, act, reason part).
#[test]
fn single_decisions() {
    let cases: &[(u32, f64, Option<f64>, u32, bool, &str)] = &[
        (4, 70.0, None, 4, false, "within 10% of target 70"),
        (4, 76.0, None, 4, false, "within 10%"),
        (4, 63.5, None, 4, false, "within 10%"),
        (4, 78.0, None, 5, true, "scale up 4 → 5"),
        (4, 140.0, None, 8, true, "scale up 4 → 8"),
        // ceil(4 × 5) = 20 → max 10 → +100% per 30 s allows 8.
        (4, 350.0, None, 8, true, "scale-up limited to 8"),
        (4, 35.0, None, 2, true, "scale down 4 → 2"),
        // ceil(0) → min 2.
        (4, 0.0, None, 2, true, "0 clamped to [2, 10]"),
        // −50% per minute: 10 → 5 at most.
        (10, 7.0, None, 5, true, "scale-down limited to 5"),
        // Below min: up to min at once, whatever the metric says.
        (1, 70.0, None, 2, true, "scale up 1 → 2"),
        (1, 0.0, None, 2, true, "scale up 1 → 2"),
        // Above max: down to max, within the rate policy.
        (12, 70.0, None, 10, true, "scale down 12 → 10"),
        (30, 70.0, None, 10, true, "scale down 30 → 10"),
        // From zero replicas: the minimum.
        (0, 50.0, None, 2, true, "scale up 0 → 2"),
        // No data holds.
        (4, f64::NAN, None, 4, false, "no metric value"),
        (4, f64::INFINITY, None, 4, false, "no metric value"),
        // Predictive: the larger of metric and forecast.
        (4, 50.0, Some(105.0), 6, true, "metric 105 vs target 70"),
        (4, 105.0, Some(50.0), 6, true, "metric 105"),
        (4, 70.0, Some(f64::NAN), 4, false, "within"),
    ];
    for &(current, metric, predicted, want, act, reason) in cases {
        let mut st = ScalingState::default();
        let d = st.decide(&def(), 0, current, metric, predicted);
        assert_eq!((d.desired, d.act), (want, act), "current {current} metric {metric} predicted {predicted:?}: {d:?}");
        assert!(d.reason.contains(reason), "current {current} metric {metric}: reason {:?} lacks {reason:?}", d.reason);
    }
}

#[test]
fn tolerance_and_bounds_are_configurable() {
    let mut d = def();
    d.tolerance = 0.0;
    d.min_replicas = 1;
    d.max_replicas = 3;
    d.target_value = 100.0;
    let cases = [(2, 101.0, 3), (2, 100.0, 2), (2, 99.0, 2), (2, 40.0, 1), (1, 1000.0, 2), (3, 1000.0, 3)];
    for (current, metric, want) in cases {
        let got = ScalingState::default().decide(&d, 0, current, metric, None).desired;
        assert_eq!(got, want, "current {current} metric {metric}");
    }
}

#[test]
fn rate_policies_select_max_min_or_disabled() {
    let two = vec![
        RatePolicy { kind: RateKind::Percent, value: 100, period_ms: 30_000 },
        RatePolicy { kind: RateKind::Replicas, value: 1, period_ms: 30_000 },
    ];
    // current 4, metric 350 → wants 10.
    let cases = [(Select::Max, 8), (Select::Min, 5), (Select::Disabled, 4)];
    for (select, want) in cases {
        let mut d = def();
        d.up = Behavior { stabilization_ms: 0, policies: two.clone(), select };
        let got = ScalingState::default().decide(&d, 0, 4, 350.0, None);
        assert_eq!(got.desired, want, "{select:?}");
        assert_eq!(got.act, want != 4);
    }
    // Scale down disabled: never below current, even far below target.
    let mut d = def();
    d.down.select = Select::Disabled;
    assert_eq!(ScalingState::default().decide(&d, 0, 6, 1.0, None).desired, 6);
    // Replicas policy down: at most 2 removed per minute.
    d.down = Behavior {
        stabilization_ms: 0,
        policies: vec![RatePolicy { kind: RateKind::Replicas, value: 2, period_ms: 60_000 }],
        select: Select::Max,
    };
    assert_eq!(ScalingState::default().decide(&d, 0, 9, 1.0, None).desired, 7);
}

/// Feeds (time, metric) to one policy, acting on every decision; returns the replicas after
/// each step and the times of the actions.
fn run(def: &ScalingDef, start: u32, steps: &[(i64, f64)]) -> (Vec<u32>, Vec<i64>) {
    let mut st = ScalingState::default();
    let mut current = start;
    let mut replicas = Vec::new();
    let mut actions = Vec::new();
    for &(t, m) in steps {
        let d = st.decide(def, t, current, m, None);
        if d.act {
            st.record_action(t, current, d.desired);
            current = d.desired;
            actions.push(t);
        }
        replicas.push(current);
    }
    (replicas, actions)
}

#[test]
fn rate_policy_counts_changes_within_its_period() {
    let mut d = def();
    d.cooldown_ms = 0;
    // 2 → 4 at 0 s; at 10 s the period's start is 2, so 4 is the most; at 31 s the change at
    // 0 s has left the period: 4 → 8; at 40 s, 8 is the most again; at 61 s: 10 (max).
    let (replicas, actions) =
        run(&d, 2, &[(0, 140.0), (10_000, 280.0), (31_000, 280.0), (40_000, 280.0), (61_000, 280.0)]);
    assert_eq!(replicas, [4, 4, 8, 8, 10]);
    assert_eq!(actions, [0, 31_000, 61_000]);
}

#[test]
fn cooldown_holds_actions_after_an_action() {
    let mut d = def();
    d.cooldown_ms = 60_000;
    d.up.policies[0].value = 1000;
    let mut st = ScalingState::default();
    let first = st.decide(&d, 0, 2, 140.0, None);
    assert!(first.act);
    st.record_action(0, 2, 4);
    let held = st.decide(&d, 20_000, 4, 140.0, None);
    assert_eq!((held.desired, held.act), (8, false));
    assert!(held.reason.contains("in cooldown for 40s more"), "{}", held.reason);
    assert_eq!(st.cooldown_until(&d), Some(60_000));
    let after = st.decide(&d, 60_000, 4, 140.0, None);
    assert_eq!((after.desired, after.act), (8, true));
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let d = def();
    // Recommendation 6 at 0 s, then the metric halves: the 5-minute window still holds 6.
    let steps: Vec<(i64, f64)> = (0..=31).map(|i| (i * 10_000, if i == 0 { 70.0 } else { 35.0 })).collect();
    let (replicas, actions) = run(&d, 6, &steps);
    // At 300 s the high recommendation (taken at 0 s) leaves the window (a recommendation is
    // inside while t > now − 300 s, as the HPA has it): scale down to 3 (−50% allowed).
    assert_eq!(actions, [300_000]);
    assert_eq!(replicas[29], 6);
    assert_eq!(replicas[30], 3);
}

#[test]
fn scale_up_stabilization_takes_the_lowest_recommendation() {
    let mut d = def();
    d.up.stabilization_ms = 60_000;
    d.cooldown_ms = 0;
    // A single spike does not scale up; a sustained rise does, once the window holds only highs.
    let steps = [
        (0, 70.0),
        (10_000, 280.0),
        (20_000, 70.0),
        (30_000, 140.0),
        (60_000, 140.0),
        (80_000, 140.0),
        (90_000, 140.0),
    ];
    let (replicas, actions) = run(&d, 4, &steps);
    // At 80 s the window (t > 20 s) holds only 8s.
    assert_eq!(replicas, [4, 4, 4, 4, 4, 8, 8]);
    assert_eq!(actions, [80_000]);
}

#[test]
fn flapping_metric_scales_up_once_and_never_down_while_it_flaps() {
    let d = def();
    // 140/35 every 15 s for 10 minutes: up at once (stabilization 0 up), then the 5-minute
    // scale-down window always holds a high recommendation.
    let steps: Vec<(i64, f64)> = (0..40).map(|i| (i * 15_000, if i % 2 == 0 { 140.0 } else { 35.0 })).collect();
    let (replicas, actions) = run(&d, 4, &steps);
    assert!(replicas.windows(2).all(|w| w[1] >= w[0]), "never down: {replicas:?}");
    assert_eq!(*replicas.last().unwrap(), 10);
    assert!(actions.len() <= 3, "{actions:?}");
    // Once it calms down at the low value, it scales down after the window, by at most half
    // per minute.
    let mut all = steps.clone();
    all.extend((40..100).map(|i| (i * 15_000, 35.0)));
    let (replicas, _) = run(&d, 4, &all);
    let last_high = 38 * 15_000;
    let first_down = all.iter().zip(&replicas).zip(replicas.iter().skip(1)).find(|((_, a), b)| b < a);
    let first_down = all[all.iter().position(|s| s == first_down.unwrap().0.0).unwrap() + 1].0;
    assert_eq!(first_down, last_high + 300_000, "down when the last high recommendation leaves the window");
    assert!(replicas.windows(2).all(|w| w[1] >= w[0] / 2), "at most half at a time: {replicas:?}");
    // ceil(10 × 35/70) = 5, a minute later ceil(5 × 0.5) = 3, then ceil(3 × 0.5) = 2 = min.
    assert_eq!(*replicas.last().unwrap(), 2, "{replicas:?}");
}

fn recovery() -> RecoveryDef {
    let mut d = RecoveryDef::new(docker("game"), "");
    d.for_ms = 60_000;
    d.max_restarts = 3;
    d.backoff_ms = 30_000;
    d
}

/// Steps every 10 s with `failing(t)`; restarts are recorded when decided. Returns the
/// decisions as (time, kind).
fn recover(def: &RecoveryDef, until: i64, failing: impl Fn(i64) -> Vec<String>) -> Vec<(i64, String)> {
    let mut st = RecoveryState::default();
    let mut out = Vec::new();
    let mut t = 0;
    while t <= until {
        for (inst, d) in st.observe(def, t, &failing(t)) {
            match d {
                RecoveryDecision::Restart { n, .. } => {
                    st.record_restart(&inst, t);
                    out.push((t, format!("restart {inst} #{n}")));
                }
                RecoveryDecision::Escalate { restarts } => out.push((t, format!("escalate {inst} after {restarts}"))),
                _ => {}
            }
        }
        t += 10_000;
    }
    out
}

#[test]
fn recovery_restarts_after_for_with_backoff_then_escalates() {
    let d = recovery();
    let got = recover(&d, 600_000, |_| vec!["a".into()]);
    // 1st at 60 s; failing again from 70 s: 2nd at 130 s (back-off 30 s long past);
    // from 140 s: 3rd at 200 s (back-off 60 s: ≥ 190 s); from 210 s: out of restarts at 270 s.
    let want: Vec<(i64, String)> = vec![
        (60_000, "restart a #1".into()),
        (130_000, "restart a #2".into()),
        (200_000, "restart a #3".into()),
        (270_000, "escalate a after 3".into()),
    ];
    assert_eq!(got, want);
}

#[test]
fn recovery_backoff_doubles_and_is_capped() {
    let mut d = recovery();
    d.for_ms = 0;
    d.max_restarts = 6;
    d.backoff_ms = 20_000;
    d.max_backoff_ms = 60_000;
    let got: Vec<i64> = recover(&d, 400_000, |_| vec!["a".into()]).into_iter().map(|(t, _)| t).collect();
    // Waits after restarts 1..5: 20, 40, 60, 60, 60 s (capped), then the escalation.
    assert_eq!(got, [0, 20_000, 60_000, 120_000, 180_000, 240_000, 250_000]);
    assert_eq!(backoff(&d, 1), 20_000);
    assert_eq!(backoff(&d, 2), 40_000);
    assert_eq!(backoff(&d, 40), 60_000);
}

#[test]
fn recovery_forgets_a_recovered_instance_and_counts_per_instance() {
    let d = recovery();
    // a fails 0–100 s (restarted at 60 s), healthy 100–200 s, fails again from 200 s: a new
    // streak, `for` again, and the back-off of its 2nd restart of the hour (30 s) is long past.
    // b fails all along, independently.
    let got = recover(&d, 300_000, |t| {
        let mut v = vec!["b".to_string()];
        if !(100_000..200_000).contains(&t) {
            v.push("a".into());
        }
        v
    });
    let a: Vec<_> = got.iter().filter(|(_, s)| s.contains(" a ")).cloned().collect();
    assert_eq!(a, vec![(60_000, "restart a #1".to_string()), (260_000, "restart a #2".to_string())]);
    let b: Vec<i64> = got.iter().filter(|(_, s)| s.contains(" b ")).map(|(t, _)| *t).collect();
    assert_eq!(b, [60_000, 130_000, 200_000, 270_000]);
}

#[test]
fn recovery_restarts_expire_after_an_hour() {
    let d = recovery();
    let mut st = RecoveryState::default();
    for t in [0, 100_000, 200_000] {
        st.record_restart("a", t);
    }
    assert_eq!(st.restarts()["a"], 3);
    // Failing from 3 600 s + 60 s − 10 s: the restart at 0 s has left the hour.
    let t0 = 3_590_000;
    assert!(matches!(st.observe(&d, t0, &["a".into()])[0].1, RecoveryDecision::Wait { .. }));
    let d1 = st.observe(&d, t0 + 60_000, &["a".into()]);
    assert!(matches!(d1[0].1, RecoveryDecision::Restart { n: 3, .. }), "{d1:?}");
    // Healthy and no restart within the hour: forgotten.
    st.observe(&d, 10_000_000, &[]);
    assert!(st.restarts().is_empty());
}

#[test]
fn breaker_opens_after_consecutive_failures_and_tries_again() {
    let def = BreakerDef { failures: 3, open_for_ms: 600_000 };
    let mut b = Breaker::default();
    assert!(!b.failure(&def, 0, "e1"));
    b.success();
    assert!(!b.failure(&def, 1, "e1"));
    assert!(!b.failure(&def, 2, "e2"));
    assert!(b.allows(3));
    assert!(b.failure(&def, 3, "e3"), "the third consecutive failure opens the circuit");
    assert!(b.is_open());
    assert_eq!(b.last_error(), Some("e3"));
    assert!(!b.allows(600_002));
    assert!(b.allows(600_003), "half-open: one trial");
    assert_eq!(b.state(600_003), BreakerState::HalfOpen);
    assert!(b.failure(&def, 600_004, "e4"), "a failed trial opens it again");
    assert!(!b.allows(1_200_003));
    assert!(b.allows(1_200_004));
    b.success();
    assert_eq!(b.state(1_200_005), BreakerState::Closed);
    // Open, then half-open: a good read with nothing to try closes it; while open it does not.
    for t in 0..3 {
        b.failure(&def, 2_000_000 + t, "e");
    }
    b.reachable(2_000_010);
    assert!(matches!(b.state(2_000_010), BreakerState::Open { .. }));
    b.reachable(2_600_003);
    assert_eq!(b.state(2_600_003), BreakerState::Closed);
    assert!(!b.is_open());
    assert_eq!(b.failures(), 0);
}
