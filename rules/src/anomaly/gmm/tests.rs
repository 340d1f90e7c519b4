use super::*;
use crate::anomaly::testdata::{MIN, Noise, alarms, assert_same, series};
use crate::anomaly::zscore::{ZScore, ZScoreParams};

const STEP: i64 = MIN;

/// CPU %, memory GB, tick rate and players of one game server: players swing between 0 and 100
/// over the day and drive CPU and memory up and the tick rate down.
fn server(i: usize, noise: &mut Noise) -> [f64; 4] {
    let players = 50.0 + 50.0 * (i as f64 * std::f64::consts::TAU / 1440.0).sin() + 2.0 * noise.next();
    [
        10.0 + 0.6 * players + noise.next(),
        2.0 + 0.02 * players + 0.05 * noise.next(),
        20.0 - 0.05 * players + 0.2 * noise.next(),
        players,
    ]
}

fn params() -> GmmParams {
    GmmParams { components: 3, train: 2000, retrain_every: 500, min_samples: 1000, likelihood: None }
}

#[test]
fn fires_on_a_combination_no_single_metric_shows() {
    let mut noise = Noise::new(20);
    let mut g = Gmm::new(params(), 4);
    let mut fired = Vec::new();
    let mut cpu = ZScore::new(ZScoreParams { min_samples: 100, ..ZScoreParams::default() });
    let mut cpu_fired = Vec::new();
    for i in 0..4000 {
        let mut x = server(i, &mut noise);
        if i == 3500 {
            // A quiet server burning CPU: 70% CPU (normal at 100 players) with 10 players.
            x = [70.0, 2.2, 19.5, 10.0];
        }
        let t = i as i64 * STEP;
        if g.update(t, &x).unwrap().is_some_and(|s| s.level.is_some()) {
            fired.push(i);
        }
        if cpu.update(t, x[0]).is_some_and(|s| s.level.is_some()) {
            cpu_fired.push(i);
        }
    }
    assert_eq!(fired, [3500]);
    assert!(cpu_fired.is_empty(), "{cpu_fired:?}");
    assert!(g.model().is_some() && g.last_error().is_none());
}

#[test]
fn caller_driven_retraining() {
    let mut noise = Noise::new(21);
    let mut g = Gmm::new(GmmParams { retrain_every: 0, ..params() }, 4);
    for i in 0..999 {
        assert_eq!(g.update(i as i64 * STEP, &server(i, &mut noise)).unwrap(), None);
    }
    assert!(!g.needs_retrain());
    assert_eq!(g.readiness().to_string(), "warming up: 999 of 1000 samples");
    g.update(999 * STEP, &server(999, &mut noise)).unwrap();
    assert!(g.needs_retrain() && g.model().is_none(), "0 = never by itself");
    let model = GmmModel::fit(&g.training_set(), 3).unwrap();
    g.install(model);
    assert!(!g.needs_retrain());
    assert!(g.update(1000 * STEP, &server(1000, &mut noise)).unwrap().is_some());
    assert_eq!(g.update(1001 * STEP, &[1.0, 2.0]).unwrap_err(), AnomalyError::Dimension { expected: 4, got: 2 });
    assert_eq!(g.update(1001 * STEP, &[f64::NAN, 1.0, 1.0, 1.0]).unwrap(), None);
    // Bounded: the buffer holds `train` vectors.
    for i in 1001..5000 {
        g.update(i as i64 * STEP, &server(i, &mut noise)).unwrap();
    }
    assert_eq!(g.training_set().rows.len(), 2000 * 4);
    assert!(g.memory_bytes() < 2000 * 4 * 8 + 2048, "{}", g.memory_bytes());
}

#[test]
fn model_round_trips_through_serde() {
    let mut noise = Noise::new(22);
    let mut g = Gmm::new(params(), 4);
    for i in 0..1500 {
        g.update(i as i64 * STEP, &server(i, &mut noise)).unwrap();
    }
    let mut copy: Gmm = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    for i in 1500..2100 {
        let x = server(i, &mut noise);
        assert_same(g.update(i as i64 * STEP, &x).unwrap(), copy.update(i as i64 * STEP, &x).unwrap());
    }
}

#[test]
fn univariate_embedding_on_step_spike_and_constant() {
    let p = GmmParams::default();
    let s = series(2000, STEP, 23, |i, _| if i == 1500 { 25.0 } else { 10.0 });
    assert_eq!(
        alarms(&mut Univariate::new(p.clone()), &s, Level::Critical),
        [1500, 1501],
        "the spike and the drop back"
    );
    let s = series(2000, STEP, 24, |i, _| if i >= 1500 { 20.0 } else { 10.0 });
    let a = alarms(&mut Univariate::new(p.clone()), &s, Level::Medium);
    assert_eq!(a.first(), Some(&1500));
    // A constant series: standardisation falls back to unit scale, nothing fires.
    let s: Vec<(i64, f64)> = (0..1000).map(|i| (i * STEP, 3.0)).collect();
    let mut d = Univariate::new(p);
    assert_eq!(alarms(&mut d, &s, Level::Medium), Vec::<usize>::new());
    assert!(d.gmm().model().is_some(), "{:?}", d.gmm().last_error());
}
