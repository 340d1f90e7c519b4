use super::*;
use crate::anomaly::testdata::{DAY, HOUR, MIN, alarms, assert_same, players, rate, series};
use crate::anomaly::{DetectorSpec, Level};

const STEP: i64 = 5 * MIN;

fn both(spec: &str) -> [ZScore; 2] {
    let p = |robust: bool| match format!("zscore:{spec},robust={robust}").parse::<DetectorSpec>().unwrap() {
        DetectorSpec::Zscore(p) => ZScore::new(p),
        other => panic!("{other:?}"),
    };
    [p(false), p(true)]
}

#[test]
fn step_change_fires_on_the_first_sample_after_it() {
    for mut d in both("window=1d") {
        let s = series(1500, STEP, 1, |i, _| if i < 864 { 10.0 } else { 20.0 });
        let a = alarms(&mut d, &s, Level::Medium);
        assert_eq!(a.first(), Some(&864), "{:?}", d.params());
        // The window learns the new level: the mean within an eighth of the window (36 samples),
        // the median once the new level is half of it (144).
        let learned = if d.params().robust { 864 + 150 } else { 864 + 36 };
        assert!(a.iter().all(|&i| (864..learned).contains(&i)), "{a:?} {:?}", d.params());
    }
}

#[test]
fn spike_fires_once() {
    for mut d in both("window=1d") {
        let s = series(1500, STEP, 2, |i, _| if i == 700 { 30.0 } else { 10.0 });
        assert_eq!(alarms(&mut d, &s, Level::Critical), [700], "{:?}", d.params());
    }
}

#[test]
fn slow_drift_is_learned_and_a_fast_ramp_fires() {
    for mut d in both("window=1d") {
        // +1 per day: within the noise at every point.
        let s = series(7 * 288, STEP, 3, |_, t| 10.0 + t as f64 / DAY as f64);
        assert_eq!(alarms(&mut d, &s, Level::Medium), Vec::<usize>::new(), "{:?}", d.params());
    }
    for mut d in both("window=1d") {
        // +20 within 2 hours from sample 600.
        let s = series(900, STEP, 4, |i, _| 10.0 + (i.saturating_sub(600) as f64 * 20.0 / 24.0).min(20.0));
        let a = alarms(&mut d, &s, Level::Medium);
        assert!(a.first().is_some_and(|&i| (600..=606).contains(&i)), "{a:?} {:?}", d.params());
    }
}

#[test]
fn daily_pattern_pages_every_evening() {
    // The reason for the seasonal detector: a 7-day z-score fires on every evening peak.
    let [mut d, _] = both("window=7d");
    let s = series(14 * 288, STEP, 5, |_, t| players(t));
    let a = alarms(&mut d, &s, Level::Medium);
    let evenings: std::collections::BTreeSet<i64> = a.iter().map(|&i| s[i].0 / DAY).collect();
    assert!(evenings.len() >= 13, "fired on days {evenings:?}");
    assert!(a.iter().all(|&i| (16..=23).contains(&(s[i].0 % DAY / HOUR))), "{a:?}");
}

#[test]
fn constant_series_scores_zero_then_learns_a_new_value() {
    for mut d in both("window=1d") {
        let mut scores = Vec::new();
        for i in 0..1000 {
            scores.extend(d.update(i * STEP, 5.0));
        }
        assert_eq!(scores.len(), 1000 - 100);
        assert!(scores.iter().all(|s| s.score == 0.0 && s.z == 0.0 && s.level.is_none()), "{:?}", scores[0]);
        let s: Vec<_> = (1000..3000).map(|i| (i * STEP, 6.0)).collect();
        let a: Vec<usize> = alarms(&mut d, &s, Level::Medium);
        assert_eq!(a.first(), Some(&0), "{:?}", d.params());
        // Not forever: the new value is learned within the window (288 samples).
        assert!(a.last().is_some_and(|&i| i < 288), "{a:?}");
    }
}

#[test]
fn gaps_nan_and_inf_are_ignored() {
    for mut d in both("window=1d") {
        let mut s = series(2000, STEP, 6, |_, _| 10.0);
        for (i, p) in s.iter_mut().enumerate() {
            if i % 10 == 3 {
                p.1 = f64::NAN;
            }
            if i == 500 {
                p.1 = f64::INFINITY;
            }
            if i == 501 {
                p.1 = f64::NEG_INFINITY;
            }
            if i >= 1000 {
                p.0 += 6 * HOUR; // a six-hour gap
            }
        }
        let mut scored = 0;
        for &(t, v) in &s {
            let r = d.update(t, v);
            assert!(v.is_finite() || r.is_none());
            scored += r.is_some() as usize;
            assert!(r.is_none_or(|r| r.level.is_none()), "{t} {v} {r:?}");
        }
        assert!(scored > 1500, "{scored}");
        // A gap longer than the window empties it: warming up again.
        assert!(d.update(s.last().unwrap().0 + 2 * DAY, 10.0).is_none());
        assert_eq!(d.readiness().to_string(), "warming up: 1 of 100 samples");
        // Out-of-order samples are ignored.
        assert!(d.update(0, 1e9).is_none());
    }
}

#[test]
fn counters_need_rate() {
    // A counter growing ~10/s (noisy), restarting from 0 just before sample 1000.
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
    let [mut raw, _] = both("window=1d");
    assert!(alarms(&mut raw, &counter, Level::Critical).contains(&1000), "the reset looks like a crash");
    let [mut d, mut robust] = both("window=1d");
    let r = rate(&counter);
    assert_eq!(alarms(&mut d, &r, Level::Medium), Vec::<usize>::new());
    assert_eq!(alarms(&mut robust, &r, Level::Medium), Vec::<usize>::new());
}

#[test]
fn memory_is_bounded_by_the_buckets() {
    for mut d in both("window=1d,buckets=24") {
        for (t, v) in series(288, STEP, 8, |_, _| 1.0) {
            d.update(t, v);
        }
        let one_day = d.memory_bytes();
        for (t, v) in series(30 * 288, STEP, 9, |_, _| 1.0) {
            d.update(t + DAY, v);
        }
        assert_eq!(d.memory_bytes(), one_day, "{:?}", d.params());
        let per_bucket = if d.params().robust { 16 + 24 + 8 * 8 } else { 8 + 24 };
        assert!(one_day <= 300 + 26 * per_bucket, "{one_day} {:?}", d.params());
    }
}

#[test]
fn state_round_trips_through_serde() {
    for mut d in both("window=1d") {
        let s = series(1200, STEP, 10, |i, _| if i == 1100 { 40.0 } else { 10.0 });
        for &(t, v) in &s[..600] {
            d.update(t, v);
        }
        let mut copy: ZScore = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        for &(t, v) in &s[600..] {
            assert_same(d.update(t, v), copy.update(t, v));
        }
    }
}
