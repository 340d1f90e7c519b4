use super::*;
use crate::anomaly::testdata::{DAY, MIN, alarms, assert_same, players, rate, series};
use crate::anomaly::{DetectorSpec, Level};

const STEP: i64 = 5 * MIN;

fn build(spec: &str) -> AnyDetector {
    spec.parse::<DetectorSpec>().unwrap().build()
}

const ZS_HW: &str = "ensemble:members=zscore(window=1d)+holt_winters";

#[test]
fn score_is_the_largest_member_deviation_band_of_the_first() {
    let s = series(5 * 288, STEP, 11, |i, t| players(t) + if i == 1200 { 300.0 } else { 0.0 });
    let mut e = build(ZS_HW);
    let mut zs = build("zscore:window=1d");
    let mut hw = build("holt_winters");
    let mut before_hw = 0;
    for &(t, v) in &s {
        let (got, a, b) = (e.update(t, v), zs.update(t, v), hw.update(t, v));
        let want = match (a, b) {
            (None, b) => b,
            (Some(a), None) => {
                before_hw += 1;
                Some(a)
            }
            (Some(a), Some(b)) => {
                let z = if b.z.abs() > a.z.abs() { b.z } else { a.z };
                Some(Score { z, score: score_of_z(z), level: Level::from_z(z), ..a })
            }
        };
        assert_same(got, want);
    }
    // Scored from the z-score's warm-up on, through the Holt-Winters' first day.
    assert!(before_hw > 150, "{before_hw}");
}

#[test]
fn step_spike_and_slow_drift() {
    let mut d = build(ZS_HW);
    let s = series(1500, STEP, 1, |i, _| if i < 864 { 10.0 } else { 20.0 });
    assert_eq!(alarms(&mut d, &s, Level::Medium).first(), Some(&864));
    let mut d = build(ZS_HW);
    let s = series(1500, STEP, 2, |i, _| if i == 700 { 30.0 } else { 10.0 });
    assert_eq!(alarms(&mut d, &s, Level::Critical), [700]);
    let mut d = build(ZS_HW);
    let s = series(7 * 288, STEP, 3, |_, t| 10.0 + t as f64 / DAY as f64);
    assert_eq!(alarms(&mut d, &s, Level::Medium), Vec::<usize>::new());
}

#[test]
fn as_noisy_as_its_noisiest_member() {
    // A clean daily pattern: the seasonal model is quiet, the 1-day z-score pages on the evening
    // peaks, and so does an ensemble holding both; two seasonal members stay quiet.
    let s = series(6 * 288, STEP, 5, |_, t| players(t));
    assert!(!alarms(&mut build(ZS_HW), &s, Level::Medium).is_empty());
    let quiet = "ensemble:members=holt_winters+holt_winters(min_samples=24)";
    // (from day 2: the first day's offsets are rough and one sample at 304 is medium)
    let a = alarms(&mut build(quiet), &s, Level::Medium);
    assert!(a.iter().all(|&i| i < 2 * 288), "{a:?}");
    // And an outage at the evening peak of day 5 (from 19:00, two hours) fires at once.
    let start = (5 * DAY + 19 * 3_600_000) / STEP;
    let s = series(6 * 288, STEP, 5, |i, t| if (start..start + 24).contains(&(i as i64)) { 100.0 } else { players(t) });
    let a = alarms(&mut build(quiet), &s, Level::High);
    assert!(a.first().is_some_and(|&i| (start..start + 3).contains(&(i as i64))), "{a:?} start {start}");
}

#[test]
fn constant_series_scores_zero_then_a_departure_is_critical() {
    let mut d = build(ZS_HW);
    let scores: Vec<Score> = (0..1000).filter_map(|i| d.update(i * STEP, 5.0)).collect();
    assert_eq!(scores.len(), 900);
    assert!(scores.iter().all(|s| s.score == 0.0 && s.level.is_none()), "{:?}", scores[0]);
    assert_eq!(d.update(1000 * STEP, 6.0).and_then(|s| s.level), Some(Level::Critical));
}

#[test]
fn gaps_nan_and_inf_change_nothing() {
    let mut s = series(2000, STEP, 6, |_, _| 10.0);
    for (i, p) in s.iter_mut().enumerate() {
        if i % 10 == 3 {
            p.1 = f64::NAN;
        }
        if i == 500 {
            p.1 = f64::INFINITY;
        }
        if i >= 1000 {
            p.0 += 6 * 3_600_000; // a six-hour gap
        }
    }
    let mut d = build(ZS_HW);
    let mut clean = build(ZS_HW);
    for &(t, v) in &s {
        let r = d.update(t, v);
        assert!(r.is_none_or(|r| r.level.is_none()), "{t} {v} {r:?}");
        if v.is_finite() {
            assert_same(r, clean.update(t, v));
        } else {
            assert!(r.is_none());
        }
    }
    assert!(d.update(0, 1e9).is_none(), "out of order");
}

#[test]
fn counters_need_rate() {
    let counter: Vec<(i64, f64)> = {
        let inc = series(2000, STEP, 7, |_, _| 3000.0);
        let mut c = 0.0;
        inc.iter()
            .enumerate()
            .map(|(i, &(t, d))| {
                c = if i == 1000 { d } else { c + d };
                (t, c)
            })
            .collect()
    };
    assert!(alarms(&mut build(ZS_HW), &counter, Level::Critical).contains(&1000));
    assert_eq!(alarms(&mut build(ZS_HW), &rate(&counter), Level::Medium), Vec::<usize>::new());
}

#[test]
fn likelihood_goes_to_the_members_without_their_own() {
    let spec: DetectorSpec =
        "ensemble:members=zscore+holt_winters(likelihood=5),likelihood=10,likelihood_history=500".parse().unwrap();
    let DetectorSpec::Ensemble(p) = &spec else { panic!("{spec:?}") };
    let m = p.effective_members();
    assert_eq!(m[0].likelihood().map(|l| (l.short, l.history)), Some((10, 500)));
    assert_eq!(m[1].likelihood().map(|l| (l.short, l.history)), Some((5, 4000)));
    // Readiness: the z-score's 100 samples, then its likelihood's 100 scores.
    let mut d = spec.build();
    for i in 0..150 {
        d.update(i * STEP, 1.0);
    }
    assert_eq!(d.readiness().to_string(), "warming up: 50 of 100 samples");
}

#[test]
fn memory_is_the_members_and_state_round_trips() {
    let s = series(3 * 288, STEP, 8, |_, t| players(t));
    let mut d = build(ZS_HW);
    let (mut zs, mut hw) = (build("zscore:window=1d"), build("holt_winters"));
    for &(t, v) in &s[..2 * 288] {
        d.update(t, v);
        zs.update(t, v);
        hw.update(t, v);
    }
    let members = zs.memory_bytes() + hw.memory_bytes();
    assert!(d.memory_bytes() >= members && d.memory_bytes() < members + 64, "{}", d.memory_bytes());
    let mut back: AnyDetector = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    for &(t, v) in &s[2 * 288..] {
        assert_same(back.update(t, v), d.update(t, v));
    }
}
