//! `tickdb audit verify` and `tickdb audit export`: offline commands on `<data-dir>/audit`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{AuditExportArgs, AuditExportFormat, AuditVerifyArgs};

use super::{Anchor, Query, open_read_only, verify};

/// The audit log directory of a data directory.
pub fn audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// Prints `OK: N entries, head id X hash H` (exit code 0) or `BROKEN: file:line: entry ID:
/// reason` (exit code 1).
pub fn run_verify(args: &AuditVerifyArgs, out: &mut impl Write) -> anyhow::Result<i32> {
    let anchor: Option<Anchor> = match &args.anchor {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("reading anchor {}: {e}", p.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("anchor {}: {e}", p.display()))?)
        }
        None => None,
    };
    let report = verify(&audit_dir(&args.data_dir), anchor.as_ref())?;
    match (&report.first_error, &report.head) {
        (Some(e), _) => {
            writeln!(out, "BROKEN: {e}")?;
            Ok(1)
        }
        (None, Some(h)) => {
            writeln!(out, "OK: {} entries, head id {} hash {}", report.entries, h.id, h.hash)?;
            Ok(0)
        }
        (None, None) => {
            writeln!(out, "OK: 0 entries, head id 0 hash {}", super::GENESIS_HASH)?;
            Ok(0)
        }
    }
}

/// Writes the matching entries, oldest first, as JSON lines or CSV.
pub fn run_export(args: &AuditExportArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let since = match &args.since {
        Some(s) => Some(crate::server::params::parse_time(s).map_err(|e| anyhow::anyhow!("--since: {e}"))?),
        None => None,
    };
    let q = Query { actor: args.actor.clone(), action: args.action.clone(), from_ms: since, ..Query::default() };
    let log = open_read_only(&audit_dir(&args.data_dir))?;
    if args.format == AuditExportFormat::Csv {
        super::export::write_csv_header(&mut *out)?;
    }
    log.for_each(&q, |e| match args.format {
        AuditExportFormat::Jsonl => {
            out.write_all(e.to_line().as_bytes())?;
            out.write_all(b"\n")
        }
        AuditExportFormat::Csv => super::export::write_csv_row(e, &mut *out),
    })?;
    out.flush()?;
    Ok(())
}
