//! `tickdb anomaly score`: scores a `timestamp,value` CSV with the detector code anomaly rules
//! use (rules::anomaly) and writes `timestamp,value,score,expected,lower,upper`.

use std::io::Write;

use anyhow::Context;
use rules::anomaly::{Detector, Level, csv};

use crate::cli::AnomalyScoreArgs;

/// Runs the command; the CSV goes to `--output` or `out`, the summary to `err`.
pub fn score(args: &AnomalyScoreArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let rows = csv::read_rows(&text).with_context(|| args.input.display().to_string())?;
    let mut file;
    let out: &mut dyn Write = match &args.output {
        Some(p) => {
            file =
                std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
            &mut file
        }
        None => out,
    };
    let mut detector = args.detector.build();
    let (mut scored, mut levels) = (0usize, [0usize; 3]);
    writeln!(out, "timestamp,value,score,expected,lower,upper")?;
    for r in &rows {
        let v = fmt(r.value);
        match detector.update(r.ts_ms, r.value) {
            Some(s) => {
                scored += 1;
                if let Some(l) = s.level {
                    levels[l as usize] += 1;
                }
                writeln!(
                    out,
                    "{},{v},{},{},{},{}",
                    r.ts_text,
                    fmt(s.score),
                    fmt(s.expected),
                    fmt(s.lower),
                    fmt(s.upper)
                )?;
            }
            None => writeln!(out, "{},{v},,,,", r.ts_text)?,
        }
    }
    out.flush()?;
    writeln!(
        err,
        "{}: {} rows, {scored} scored ({}); {} {}, {} {}, {} {}",
        args.detector,
        rows.len(),
        detector.readiness(),
        levels[Level::Medium as usize],
        Level::Medium,
        levels[Level::High as usize],
        Level::High,
        levels[Level::Critical as usize],
        Level::Critical,
    )?;
    Ok(())
}

/// Shortest round-tripping form (`ryu`), `NaN` as such.
fn fmt(v: f64) -> String {
    if v.is_finite() { ryu::Buffer::new().format(v).trim_end_matches(".0").to_string() } else { v.to_string() }
}
