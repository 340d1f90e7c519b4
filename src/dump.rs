//! `tickdb tsdb dump`: every sample of the selected series as `{labels} value timestamp`
//! lines, exactly as `promtool tsdb dump` prints them (`fmt.Printf("%s %g %d\n", ...)`).

use std::collections::BTreeSet;
use std::io::Write;

use storage::{Labels, Queryable, SelectHints, Timestamp};

use crate::cli::DumpArgs;
use crate::server::params::parse_selector;

/// Opens the data directory and dumps to `out`.
pub fn run(a: &DumpArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let db = crate::wiring::open_for_tools(&a.data_dir)?;
    let res = dump(db.queryable(), &a.matches, a.min_time, a.max_time, out);
    db.close().map_err(|e| anyhow::anyhow!("closing {}: {e}", a.data_dir.display()))?;
    res
}

/// Writes the samples of series matching any of `selectors` within `[mint, maxt]`, series in
/// label order.
pub fn dump(
    db: &dyn Queryable,
    selectors: &[String],
    mint: Timestamp,
    maxt: Timestamp,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut sets = Vec::new();
    for s in selectors {
        sets.extend(parse_selector(s).map_err(|e| anyhow::anyhow!("invalid --match {s:?}: {}", e.message))?);
    }
    let q = db.querier(mint, maxt)?;
    let hints = SelectHints { start: mint, end: maxt, ..Default::default() };
    let mut done: BTreeSet<Labels> = BTreeSet::new();
    let mut w = std::io::BufWriter::new(out);
    // With one selector the series come sorted from storage; with several, de-duplicate.
    for set in &sets {
        for s in q.select(true, Some(&hints), set)? {
            let mut s = s?;
            if sets.len() > 1 && !done.insert(s.labels.clone()) {
                continue;
            }
            let lbs = s.labels.to_string();
            while let Some(x) = s.samples.next() {
                writeln!(w, "{lbs} {} {}", query::format_go_g(x.v), x.t)?;
            }
            if let Some(e) = s.samples.err() {
                anyhow::bail!("reading {lbs}: {e}");
            }
        }
    }
    w.flush()?;
    Ok(())
}
