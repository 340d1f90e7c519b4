//! `tickdb anomaly score` as a user runs it (the built binary): a CSV in NAB's format with a
//! step change, scored into `timestamp,value,score,expected,lower,upper`.

use std::path::Path;
use std::process::Command;

fn tickdb(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickdb")).args(args).current_dir(cwd).output().expect("run");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// 300 samples every 5 minutes from 2014-04-01, 10 ± 0.5, stepping to 20 at row 250.
fn write_input(dir: &Path) {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..300u32 {
        let (h, m) = (i * 5 / 60, i * 5 % 60);
        let v = if i >= 250 { 20.0 } else { 10.0 } + if i % 2 == 0 { 0.5 } else { -0.5 };
        csv.push_str(&format!("2014-04-{:02} {:02}:{m:02}:00,{v}\n", 1 + h / 24, h % 24));
    }
    std::fs::write(dir.join("in.csv"), csv).unwrap();
}

#[test]
fn scores_a_csv_file() {
    let d = tempfile::tempdir().unwrap();
    write_input(d.path());
    let (code, stdout, stderr) =
        tickdb(&["anomaly", "score", "--input", "in.csv", "--detector", "zscore:window=1d"], d.path());
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 301);
    assert_eq!(lines[0], "timestamp,value,score,expected,lower,upper");
    assert_eq!(lines[1], "2014-04-01 00:00:00,10.5,,,,", "warming up: no score");
    // Row 100 is the first scored (min_samples 100): mean 10, sample std 0.5025, z 0.995.
    assert!(lines[101].starts_with("2014-04-01 08:20:00,10.5,0.165831"), "{}", lines[101]);
    // The step is critical (score 1) at once.
    let step: Vec<&str> = lines[251].split(',').collect();
    assert_eq!(&step[..3], ["2014-04-01 20:50:00", "20.5", "1"], "{}", lines[251]);
    let expected: f64 = step[3].parse().unwrap();
    let upper: f64 = step[5].parse().unwrap();
    assert!((expected - 10.0).abs() < 0.01 && upper < 12.0, "{}", lines[251]);
    assert!(
        stderr.starts_with(
            "zscore:window=1d,buckets=168,robust=false,sample=8,min_samples=100: 300 rows, 200 scored (ready"
        ),
        "{stderr}"
    );

    // --output writes the same to a file.
    let (code, stdout, _) = tickdb(
        &["anomaly", "score", "--input", "in.csv", "--detector", "zscore:window=1d", "--output", "out.csv"],
        d.path(),
    );
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(d.path().join("out.csv")).unwrap(), lines.join("\n") + "\n");
}

#[test]
fn clear_errors() {
    let d = tempfile::tempdir().unwrap();
    write_input(d.path());
    let (code, _, stderr) =
        tickdb(&["anomaly", "score", "--input", "in.csv", "--detector", "zscore:windw=1d"], d.path());
    assert_eq!(code, 2);
    assert!(stderr.contains(r#"zscore: unknown parameter "windw" (known: window, buckets, robust, sample, min_samples, likelihood, likelihood_history)"#), "{stderr}");
    std::fs::write(d.path().join("bad.csv"), "timestamp,value\n2014-04-01 00:00:00,1\nsoon,2\n").unwrap();
    let (code, _, stderr) = tickdb(&["anomaly", "score", "--input", "bad.csv", "--detector", "zscore"], d.path());
    assert_eq!(code, 1);
    assert!(stderr.starts_with("tickdb: bad.csv: line 3: bad timestamp \"soon\""), "{stderr}");
    let (code, _, stderr) = tickdb(&["anomaly", "score", "--input", "missing.csv", "--detector", "zscore"], d.path());
    assert_eq!(code, 1);
    assert!(stderr.starts_with("tickdb: reading missing.csv: "), "{stderr}");
}
