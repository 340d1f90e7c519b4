//! `tickdb tsdb import --format openmetrics FILE`: backfills blocks from OpenMetrics text
//! through storage's backfill, with a progress bar on a terminal.

use crate::cli::ImportArgs;
use crate::openmetrics::{self, Entry, TimestampUnit};

/// A parsed sample ready for backfill.
pub type ImportSample = (storage::Labels, i64, f64);

/// Parses OpenMetrics text into samples (labels validated), in file order.
pub fn parse_samples(text: &str) -> anyhow::Result<Vec<ImportSample>> {
    let entries = openmetrics::parse_with_lines(text, TimestampUnit::Seconds)?;
    let limits = storage::LabelLimits::default();
    let mut out = Vec::with_capacity(entries.len());
    for (line, e) in entries {
        if let Entry::Sample { labels, value, timestamp } = e {
            let l = storage::Labels::from_pairs(labels.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            l.validate(&limits).map_err(|e| anyhow::anyhow!("line {line}: series {l}: {e}"))?;
            let t = timestamp
                .ok_or_else(|| anyhow::anyhow!("line {line}: sample of {l} has no timestamp; backfill needs one"))?;
            out.push((l, t, value));
        }
    }
    Ok(out)
}

pub fn run(a: &ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.file).map_err(|e| anyhow::anyhow!("reading {}: {e}", a.file.display()))?;
    let samples = parse_samples(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let bar = crate::progress::terminal_bar(samples.len() as u64, "{bar:40} {pos}/{len} samples ({eta})");
    let n = samples.len();
    let blocks = crate::wiring::backfill(&a.data_dir, samples, &|done| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    println!("imported {n} samples into {blocks} block(s) in {}", a.data_dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let s = parse_samples("# TYPE a gauge\na{x=\"1\"} 1.5 100.25\n# EOF\n").unwrap();
        assert_eq!(s, vec![(storage::labels! {"__name__" => "a", "x" => "1"}, 100250, 1.5)]);
        assert!(parse_samples("a 1\n# EOF\n").unwrap_err().to_string().contains("no timestamp"));
        assert!(parse_samples("a 1 1\n").unwrap_err().to_string().contains("missing # EOF"));
        let e = parse_samples("# TYPE a gauge\n\na 1 1\n# a comment\na 2\n# EOF\n").unwrap_err().to_string();
        assert!(e.starts_with("line 5: "), "{e}");
        let e = parse_samples("a 1 1\na{b=\"1\",b=\"2\"} 1 2\n# EOF\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2: "), "{e}");
        let e = parse_samples("a 1 1\na{b=\"1\"} x 2\n# EOF\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2: "), "{e}");
    }
}
