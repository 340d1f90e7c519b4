use super::*;
use crate::anomaly::testdata::{DAY, HOUR, MIN, alarms, assert_same, players, series};
use crate::anomaly::zscore::{ZScore, ZScoreParams};
use crate::anomaly::{Level, Readiness};

const STEP: i64 = 5 * MIN;

fn hw() -> HoltWinters {
    HoltWinters::new(HoltWintersParams::default())
}

#[test]
fn clean_daily_pattern_never_fires_where_the_zscore_does() {
    let s = series(14 * 288, STEP, 11, |_, t| players(t));
    assert_eq!(alarms(&mut hw(), &s, Level::Medium), Vec::<usize>::new());
    let mut z = ZScore::new(ZScoreParams::default());
    assert!(alarms(&mut z, &s, Level::Medium).len() > 100);
}

#[test]
fn missing_evening_peak_fires_at_once() {
    // Day 10, from 19:00: the server is down for two hours (players back to the day level).
    let start = (10 * DAY + 19 * HOUR) / STEP;
    let s =
        series(14 * 288, STEP, 12, |i, t| if (start..start + 24).contains(&(i as i64)) { 100.0 } else { players(t) });
    let a = alarms(&mut hw(), &s, Level::High);
    assert!(a.first().is_some_and(|&i| (start..start + 3).contains(&(i as i64))), "{a:?} start {start}");
    // ... and then only while the baseline recovers from the outage (the level it pulled down).
    assert!(a.iter().all(|&i| (start..start + 30).contains(&(i as i64))), "{a:?}");
}

#[test]
fn spike_and_step_in_a_seasonal_series() {
    let spike = 9 * 288 + 100;
    let s = series(12 * 288, STEP, 13, |i, t| players(t) + if i == spike { 60.0 } else { 0.0 });
    assert_eq!(alarms(&mut hw(), &s, Level::Critical), [spike]);
    let step = 9 * 288 + 50;
    let s = series(12 * 288, STEP, 14, |i, t| players(t) + if i >= step { 50.0 } else { 0.0 });
    let a = alarms(&mut hw(), &s, Level::Medium);
    assert_eq!(a.first(), Some(&step));
}

#[test]
fn gaps_and_nan_do_not_fire() {
    // A gap of 3h7m after day 5 (the samples after it are off the 5-minute grid), a NaN every
    // 7th sample (so each day other slots miss one).
    let shift = |i: usize, t: i64| if i > 5 * 288 { t + 3 * HOUR + 7 * MIN } else { t };
    let mut s = series(10 * 288, STEP, 15, |i, t| players(shift(i, t)));
    for (i, p) in s.iter_mut().enumerate() {
        p.0 = shift(i, p.0);
        if i % 7 == 0 {
            p.1 = f64::NAN;
        }
    }
    let mut d = hw();
    assert_eq!(alarms(&mut d, &s, Level::Medium), Vec::<usize>::new());
    assert!(d.update(s.last().unwrap().0 + STEP, f64::INFINITY).is_none());
}

#[test]
fn constant_series() {
    let mut d = hw();
    let mut scores = Vec::new();
    for i in 0..3 * 288 {
        scores.extend(d.update(i * STEP, 42.0));
    }
    assert!(scores.len() > 500, "{}", scores.len());
    assert!(scores.iter().all(|s| s.score < 1e-6 && (s.expected - 42.0).abs() < 1e-9), "{:?}", scores.first());
    let s = d.update(3 * DAY, 43.0).unwrap();
    assert_eq!(s.level, Some(Level::Critical));
}

#[test]
fn warm_up_is_one_period_plus_min_samples() {
    let mut d = hw();
    assert_eq!(d.readiness(), Readiness { samples: 0, needed: 12 });
    for i in 0..144 {
        assert!(d.update(i * STEP, 1.0).is_none());
    }
    assert_eq!(d.readiness().to_string(), "warming up: 144 of 300 samples");
    assert!(d.forecast(HOUR).is_none());
    let first = (0..400).find(|&i| d.update((144 + i) * STEP, 1.0).is_some());
    assert_eq!(first, Some(288 + 12 - 144));
    assert!(d.readiness().is_ready());
}

#[test]
fn forecasts_the_season_and_the_trend() {
    let last = 10 * DAY - STEP;
    // The daily pattern alone: the interval holds the truth.
    let mut d = hw();
    for (t, v) in series(10 * 288, STEP, 16, |_, t| players(t)) {
        d.observe(t, v);
    }
    for h in [HOUR, 6 * HOUR, 20 * HOUR] {
        let f = d.forecast(h).unwrap();
        let truth = players(last + h);
        assert_eq!(f.ts_ms, last + h);
        assert!(f.lower < truth && truth < f.upper, "h {h}: {f:?} vs {truth}");
    }
    // On a trend of +10 per day the trend is carried forward.
    let mut d = hw();
    for (t, v) in series(10 * 288, STEP, 16, |_, t| players(t) + 10.0 * t as f64 / DAY as f64) {
        d.observe(t, v);
    }
    for h in [HOUR, 6 * HOUR, 20 * HOUR] {
        let f = d.forecast(h).unwrap();
        let truth = players(last + h) + 10.0 * (last + h) as f64 / DAY as f64;
        assert!((f.value - truth).abs() < 8.0, "h {h}: {f:?} vs {truth}");
    }
    let (near, far) = (d.forecast(HOUR).unwrap(), d.forecast(20 * HOUR).unwrap());
    assert!(far.upper - far.lower > near.upper - near.lower, "the interval widens with the horizon");
}

#[test]
fn memory_and_serde() {
    let mut d = hw();
    let s = series(4 * 288, STEP, 17, |i, t| players(t) + if i == 1000 { 80.0 } else { 0.0 });
    for &(t, v) in &s[..600] {
        d.update(t, v);
    }
    assert!(d.memory_bytes() < 288 * 12 + 256, "{}", d.memory_bytes());
    let mut copy: HoltWinters = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    for &(t, v) in &s[600..] {
        assert_same(d.update(t, v), copy.update(t, v));
    }
    assert!(d.memory_bytes() <= 288 * 8 + 384, "counts dropped after warm-up: {}", d.memory_bytes());
}
