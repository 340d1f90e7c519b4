//! The NAB evaluation of the anomaly detectors (docs/anomaly.md): every detector in
//! `nab_baseline.json` runs over the 28 files of `../shared/nab` (artificialNoAnomaly,
//! artificialWithAnomaly, realAWSCloudwatch); its scores become alarms through
//! [`rules::anomaly::Alarm`] (threshold + cooldown, one setting per detector for the whole
//! corpus), and the alarms are scored against the labeled windows of `combined_windows.json`:
//!
//! - NAB's standard profile (A_TP = 1, A_FP = -0.11, A_FN = -1), written from NAB's description:
//!   the first 15% of each file (at most 750 rows) is probationary and not scored; in a window
//!   only the earliest alarm counts, weighted by the scaled sigmoid `2 / (1 + e^(5y)) - 1` of its
//!   relative position `y = -(right - i + 1) / width` (normalised so the window's first row earns
//!   1); a missed window costs 1; an alarm outside every window costs `0.11 * sigmoid` of its
//!   distance after the preceding window (`y = (i - right) / (width - 1)`; the full 0.11 with no
//!   preceding window or from 3 widths on). Corpus score `100 (raw - null) / (perfect - null)`,
//!   null = never alarming, perfect = an alarm at every window's first row.
//! - Recall = detected windows / windows; precision = detected windows / (detected windows +
//!   alarms outside windows); false alarms per day over the scored part of the files.
//!
//! The test fails if a detector does worse than its recorded figures (with the file's
//! tolerance). `NAB_UPDATE=1` records the measured figures; `NAB_SWEEP=1` also prints the score
//! of each detector over a grid of thresholds (how the recorded thresholds were chosen).

use std::path::{Path, PathBuf};

use rules::anomaly::{Alarm, Detector, DetectorSpec, csv};
use serde::{Deserialize, Serialize};

const A_TP: f64 = 1.0;
const A_FP: f64 = -0.11;
const A_FN: f64 = -1.0;
const GROUPS: &[&str] = &["artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch"];

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    /// Allowed loss of NAB score points; precision/recall/false alarms get a hundredth of it.
    tolerance: f64,
    detectors: Vec<Recorded>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Recorded {
    name: String,
    spec: String,
    threshold: f64,
    cooldown: String,
    score: f64,
    precision: f64,
    recall: f64,
    false_alarms_per_day: f64,
}

struct File {
    name: String,
    ts: Vec<i64>,
    values: Vec<f64>,
    /// Labeled windows as row index ranges, inclusive.
    windows: Vec<(usize, usize)>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Metrics {
    raw: f64,
    null: f64,
    perfect: f64,
    windows: usize,
    detected: usize,
    false_alarms: usize,
    days: f64,
}

impl Metrics {
    fn score(&self) -> f64 {
        100.0 * (self.raw - self.null) / (self.perfect - self.null)
    }
    fn recall(&self) -> f64 {
        self.detected as f64 / self.windows.max(1) as f64
    }
    fn precision(&self) -> f64 {
        let alarms = self.detected + self.false_alarms;
        if alarms == 0 { 0.0 } else { self.detected as f64 / alarms as f64 }
    }
    fn false_alarms_per_day(&self) -> f64 {
        self.false_alarms as f64 / self.days
    }
}

fn scaled_sigmoid(y: f64) -> f64 {
    if y >= 3.0 { -1.0 } else { 2.0 / (1.0 + (5.0 * y).exp()) - 1.0 }
}

/// Scores one file's alarms (row indices, increasing).
fn score_file(f: &File, alarms: &[usize]) -> Metrics {
    let n = f.ts.len();
    let probation = ((0.15 * n as f64).floor() as usize).min(750);
    let mut m =
        Metrics { days: (f.ts[n - 1] - f.ts[probation.min(n - 1)]) as f64 / 86_400_000.0, ..Metrics::default() };
    let max_tp = scaled_sigmoid(-1.0);
    // Windows with scored rows.
    let windows: Vec<(usize, usize)> = f.windows.iter().copied().filter(|&(_, r)| r >= probation).collect();
    m.windows = windows.len();
    m.null = A_FN * windows.len() as f64;
    m.perfect = A_TP * windows.len() as f64;
    let mut detected = vec![false; windows.len()];
    m.raw = m.null;
    for &i in alarms.iter().filter(|&&i| i >= probation) {
        if let Some(w) = windows.iter().position(|&(l, r)| (l..=r).contains(&i)) {
            if !detected[w] {
                let (l, r) = windows[w];
                let width = (r - l + 1) as f64;
                let y = -((r - i + 1) as f64) / width;
                m.raw += A_TP * scaled_sigmoid(y) / max_tp - A_FN;
                detected[w] = true;
            }
        } else {
            m.false_alarms += 1;
            let prev = windows.iter().rev().find(|&&(_, r)| r < i);
            let y = match prev {
                Some(&(l, r)) => (i - r) as f64 / ((r - l) as f64).max(1.0),
                None => 3.0,
            };
            m.raw += -A_FP * scaled_sigmoid(y);
        }
    }
    m.detected = detected.iter().filter(|d| **d).count();
    m
}

fn sum(ms: impl Iterator<Item = Metrics>) -> Metrics {
    ms.fold(Metrics::default(), |a, b| Metrics {
        raw: a.raw + b.raw,
        null: a.null + b.null,
        perfect: a.perfect + b.perfect,
        windows: a.windows + b.windows,
        detected: a.detected + b.detected,
        false_alarms: a.false_alarms + b.false_alarms,
        days: a.days + b.days,
    })
}

fn load(nab: &Path) -> Vec<File> {
    let windows: std::collections::BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&std::fs::read_to_string(nab.join("combined_windows.json")).unwrap()).unwrap();
    let mut files = Vec::new();
    for (name, ws) in &windows {
        if !GROUPS.iter().any(|g| name.starts_with(&format!("{g}/"))) {
            continue;
        }
        let text = std::fs::read_to_string(nab.join("data").join(name)).unwrap();
        let rows = csv::read_series(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let index = |s: &str, first: bool| {
            let t = csv::parse_timestamp(s).unwrap();
            if first { ts.partition_point(|&x| x < t) } else { ts.partition_point(|&x| x <= t) - 1 }
        };
        let windows = ws.iter().map(|(a, b)| (index(a, true), index(b, false))).collect();
        files.push(File { name: name.clone(), values: rows.iter().map(|r| r.1).collect(), ts, windows });
    }
    files
}

/// Each file's scores (0 while the detector warms up).
fn run(spec: &DetectorSpec, files: &[File]) -> Vec<Vec<f64>> {
    files
        .iter()
        .map(|f| {
            let mut d = spec.build();
            f.ts.iter().zip(&f.values).map(|(&t, &v)| d.update(t, v).map_or(0.0, |s| s.score)).collect()
        })
        .collect()
}

fn evaluate(files: &[File], scores: &[Vec<f64>], threshold: f64, cooldown_ms: i64) -> (Metrics, Vec<Metrics>) {
    let per_file: Vec<Metrics> = files
        .iter()
        .zip(scores)
        .map(|(f, s)| {
            let mut alarm = Alarm::new(threshold, cooldown_ms);
            let alarms: Vec<usize> = (0..s.len()).filter(|&i| alarm.observe(f.ts[i], s[i])).collect();
            score_file(f, &alarms)
        })
        .collect();
    (sum(per_file.iter().copied()), per_file)
}

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nab_baseline.json")
}

#[test]
fn nab_scores_do_not_regress() {
    let nab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/nab");
    if !nab.join("combined_windows.json").exists() {
        eprintln!("SKIPPED: NAB data not found at {} (see rules/tests/nab.rs)", nab.display());
        return;
    }
    let files = load(&nab);
    assert_eq!(files.len(), 28, "expected the 28 files of the three groups");
    let mut baseline: Baseline = serde_json::from_str(&std::fs::read_to_string(baseline_path()).unwrap()).unwrap();
    let sweep = std::env::var_os("NAB_SWEEP").is_some();
    let mut failures = Vec::new();
    println!(
        "{:<28} {:>7} {:>9} {:>6} {:>10} {:>9} {:>8}",
        "detector", "score", "precision", "recall", "FA/day", "threshold", "cooldown"
    );
    // The detectors run on all cores (the debug build is slow: the Gaussian mixture's fits).
    let all_scores: Vec<Vec<Vec<f64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = baseline
            .detectors
            .iter()
            .map(|rec| {
                let spec: DetectorSpec = rec.spec.parse().unwrap_or_else(|e| panic!("{}: {e}", rec.name));
                let files = &files;
                scope.spawn(move || run(&spec, files))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("detector run")).collect()
    });
    for (rec, scores) in baseline.detectors.iter_mut().zip(all_scores) {
        let cooldown = rules::notify::duration::parse(&rec.cooldown).unwrap().ms();
        if sweep {
            for t in (3..=60).map(|i| i as f64 / 60.0) {
                for cd in ["0s", "1h", "4h", "12h", "16h", "20h", "1d"] {
                    let cd_ms = rules::notify::duration::parse(cd).unwrap().ms();
                    let (m, _) = evaluate(&files, &scores, t, cd_ms);
                    println!("  sweep {} threshold {t:.3} cooldown {cd}: {:.1}", rec.name, m.score());
                }
            }
        }
        let (m, per_file) = evaluate(&files, &scores, rec.threshold, cooldown);
        if std::env::var_os("NAB_FILES").is_some() {
            for (f, pm) in files.iter().zip(&per_file) {
                println!(
                    "    {:<60} windows {} detected {} false alarms {}",
                    f.name, pm.windows, pm.detected, pm.false_alarms
                );
            }
        }
        println!(
            "{:<28} {:>7.1} {:>9.3} {:>6.3} {:>10.3} {:>9.3} {:>8}",
            rec.name,
            m.score(),
            m.precision(),
            m.recall(),
            m.false_alarms_per_day(),
            rec.threshold,
            rec.cooldown
        );
        let tol = baseline.tolerance;
        let checks = [
            ("score", m.score() >= rec.score - tol, m.score(), rec.score),
            ("precision", m.precision() >= rec.precision - tol / 100.0, m.precision(), rec.precision),
            ("recall", m.recall() >= rec.recall - tol / 100.0, m.recall(), rec.recall),
            (
                "false alarms/day",
                m.false_alarms_per_day() <= rec.false_alarms_per_day + tol / 100.0,
                m.false_alarms_per_day(),
                rec.false_alarms_per_day,
            ),
        ];
        for (what, ok, got, want) in checks {
            if !ok {
                failures.push(format!("{}: {what} {got:.3}, recorded {want:.3}", rec.name));
            }
        }
        let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
        rec.score = round(m.score(), 2);
        rec.precision = round(m.precision(), 4);
        rec.recall = round(m.recall(), 4);
        rec.false_alarms_per_day = round(m.false_alarms_per_day(), 4);
    }
    if std::env::var_os("NAB_UPDATE").is_some() {
        std::fs::write(baseline_path(), serde_json::to_string_pretty(&baseline).unwrap() + "\n").unwrap();
        println!("recorded the figures in {}", baseline_path().display());
        return;
    }
    assert!(failures.is_empty(), "worse than recorded:\n{}", failures.join("\n"));
}

#[test]
fn scoring_follows_the_standard_profile() {
    // 1000 rows: probation 150 rows; one window [400, 499].
    let f = File {
        name: "t".into(),
        ts: (0..1000).map(|i| i * 300_000).collect(),
        values: vec![0.0; 1000],
        windows: vec![(400, 499)],
    };
    let s = |alarms: &[usize]| score_file(&f, alarms);
    assert_eq!(s(&[]).raw, -1.0);
    assert!((s(&[400]).raw - 1.0).abs() < 1e-12, "first row of the window earns A_TP");
    assert!(s(&[450]).raw < s(&[420]).raw && s(&[450]).raw > 0.5);
    assert!(s(&[499]).raw.abs() < 0.03, "the last row earns about 0");
    assert_eq!(s(&[420, 450]).raw, s(&[420]).raw, "only the first detection counts");
    assert_eq!(s(&[100]).raw, -1.0, "probationary alarms are ignored");
    assert!((s(&[200]).raw - (-1.0 - 0.11)).abs() < 1e-12, "an alarm before any window costs 0.11");
    let just_after = s(&[500]).raw + 1.0;
    assert!(just_after < 0.0 && just_after > -0.02, "{just_after}: right after the window is cheap");
    assert!((s(&[900]).raw - (-1.11)).abs() < 1e-12, "3 widths after costs the full 0.11");
    let m = s(&[420, 200, 900]);
    assert_eq!((m.detected, m.false_alarms, m.windows), (1, 2, 1));
    assert!((m.precision() - 1.0 / 3.0).abs() < 1e-12 && m.recall() == 1.0);
}
