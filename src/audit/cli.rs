//! `tickdb audit verify` and `tickdb audit export`: offline commands on `<data-dir>/audit`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{AuditExportArgs, AuditExportFormat, AuditVerifyArgs};

use super::{Anchor, AuditError, Query, open_read_only, verify};

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
            if report.first_id > 1 {
                writeln!(out, "(the log starts at id {}: older entries were removed by retention)", report.first_id)?;
            }
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
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let written = (|| {
        if args.format == AuditExportFormat::Csv {
            super::export::write_csv_header(&mut out).map_err(|e| super::segment::io_err(Path::new("<output>"), e))?;
        }
        log.for_each(&q, |e| match args.format {
            AuditExportFormat::Jsonl => {
                out.write_all(e.to_line().as_bytes())?;
                out.write_all(b"\n")
            }
            AuditExportFormat::Csv => super::export::write_csv_row(e, &mut out),
        })?;
        out.flush().map_err(|e| super::segment::io_err(Path::new("<output>"), e))
    })();
    match written {
        // The reader went away (`| head`): not an error.
        Err(AuditError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, AuditOptions, Record};

    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_with_clock(
            &audit_dir(dir.path()),
            AuditOptions { fsync: false, ..AuditOptions::default() },
            std::sync::Arc::new(|| 0),
        )
        .unwrap();
        for actor in ["alice", "bob", "alice"] {
            log.append(Record {
                actor: actor.into(),
                action: "rule.update".into(),
                result: "ok".into(),
                ..Record::default()
            })
            .unwrap();
        }
        dir
    }

    fn verify_output(args: &AuditVerifyArgs) -> (i32, String) {
        let mut out = Vec::new();
        let code = run_verify(args, &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn verify_prints_ok_or_the_first_broken_entry() {
        let dir = data_dir();
        let args = AuditVerifyArgs { data_dir: dir.path().to_path_buf(), anchor: None };
        let (code, out) = verify_output(&args);
        let head = crate::audit::verify(&audit_dir(dir.path()), None).unwrap().head.unwrap();
        assert_eq!((code, out), (0, format!("OK: 3 entries, head id 3 hash {}\n", head.hash)));

        let anchor_file = dir.path().join("anchor.json");
        std::fs::write(&anchor_file, serde_json::to_string(&head).unwrap()).unwrap();
        let with_anchor = AuditVerifyArgs { data_dir: dir.path().to_path_buf(), anchor: Some(anchor_file) };
        assert_eq!(verify_output(&with_anchor).0, 0);

        let seg = audit_dir(dir.path()).join("audit-00000001.jsonl");
        let text = std::fs::read_to_string(&seg).unwrap();
        std::fs::write(&seg, text.replacen("bob", "eve", 1)).unwrap();
        let (code, out) = verify_output(&args);
        assert_eq!(code, 1);
        assert!(out.starts_with(&format!("BROKEN: {}:2: entry 2: hash ", seg.display())), "{out}");
    }

    #[test]
    fn export_filters_oldest_first() {
        let dir = data_dir();
        let export = |format, actor: Option<&str>| {
            let args = AuditExportArgs {
                data_dir: dir.path().to_path_buf(),
                format,
                actor: actor.map(str::to_string),
                action: None,
                since: Some("0".into()),
            };
            let mut out = Vec::new();
            run_export(&args, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let jsonl = export(AuditExportFormat::Jsonl, Some("alice"));
        let ids: Vec<u64> = jsonl.lines().map(|l| serde_json::from_str::<crate::audit::Entry>(l).unwrap().id).collect();
        assert_eq!(ids, [1, 3]);
        let csv = export(AuditExportFormat::Csv, None);
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.starts_with("id,time,"));
        assert_eq!(export(AuditExportFormat::Csv, Some("nobody")).lines().count(), 1);
    }
}
