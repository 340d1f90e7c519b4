//! Offline verification of a whole log: every line, every link, every hash, and optionally an
//! anchor exported earlier. Needs no [`super::AuditLog`] and writes nothing.

use std::path::Path;

use super::segment::{ChainChecker, io_err, lines, list_segments, read_start};
use super::{Anchor, AuditError, VerifyError, VerifyReport};

/// Checks every segment of `dir` in order: each line parses and is in canonical form, ids are
/// contiguous from 1, each `prev_hash` is the previous `hash`, each `hash` recomputes, and
/// `time_ms` never decreases. With `anchor`, the log must still hold `anchor.id` with
/// `anchor.hash` (catches a truncated or rewritten tail). Stops at the first broken entry.
///
/// A last line without a newline is reported too: it is a torn write that
/// [`super::AuditLog::open`] would truncate, never an acknowledged entry.
///
/// After retention removed the oldest segments (`START`), the chain starts at the first id kept
/// from the hash `START` names, and the log must hold the `audit.retention` entry that recorded
/// exactly that start: removing old segments by hand and writing a `START` is detected. An
/// anchor older than the first id kept cannot be checked and is accepted.
pub fn verify(dir: &Path, anchor: Option<&Anchor>) -> Result<VerifyReport, AuditError> {
    let start = read_start(dir)?;
    let removed_through = start.as_ref().map_or(0, |s| s.removed_through);
    let segs: Vec<_> = list_segments(dir)?.into_iter().filter(|(no, _)| *no > removed_through).collect();
    let mut chain = ChainChecker::from_start(start.as_ref());
    let first_id = chain.next_id;
    let mut report = VerifyReport { entries: 0, first_id, head: None, first_error: None };
    let mut anchor_seen = anchor.is_none_or(|a| a.id < first_id);
    let mut start_recorded = start.is_none();
    let mut end = None;
    for (_, path) in &segs {
        let buf = std::fs::read(path).map_err(|e| io_err(path, e))?;
        let mut line_count = 0;
        for line in lines(&buf) {
            line_count = line.number;
            let id = chain.next_id;
            let fail = |reason: String| VerifyError { file: path.clone(), line: line.number, id, reason };
            if !line.terminated {
                report.first_error = Some(fail(
                    "last line has no newline (a torn write, never acknowledged; opening the log truncates it)".into(),
                ));
                return Ok(report);
            }
            let e = match chain.check(path, &line, true) {
                Ok(e) => e,
                Err(err) => {
                    report.first_error = Some(err);
                    return Ok(report);
                }
            };
            if let Some(a) = anchor.filter(|a| a.id == e.id) {
                if a.hash != e.hash {
                    report.first_error =
                        Some(fail(format!("hash {} differs from the anchor's {} (entry rewritten)", e.hash, a.hash)));
                    return Ok(report);
                }
                anchor_seen = true;
            }
            if !start_recorded
                && e.action == "audit.retention"
                && let (Some(st), Some(after)) = (&start, &e.after)
            {
                start_recorded = after["first_id"].as_u64() == Some(st.first_id)
                    && after["prev_hash"].as_str() == Some(&st.prev_hash);
            }
            report.entries += 1;
            report.head = Some(Anchor { id: e.id, hash: e.hash, time: e.time });
        }
        end = Some((path.clone(), line_count + 1));
    }
    if !start_recorded {
        let (file, line) = end.clone().unwrap_or_else(|| (dir.to_path_buf(), 0));
        report.first_error = Some(VerifyError {
            file,
            line,
            id: first_id,
            reason: format!(
                "START says the log begins at id {first_id}, but no audit.retention entry records that start: \
                 segments were removed outside retention"
            ),
        });
        return Ok(report);
    }
    if let (Some(a), false) = (anchor, anchor_seen) {
        let (file, line) = end.unwrap_or_else(|| (dir.to_path_buf(), 0));
        report.first_error = Some(VerifyError {
            file,
            line,
            id: chain.next_id,
            reason: format!(
                "the log ends at id {} but the anchor names id {} (hash {}): entries were removed from the tail",
                chain.next_id - 1,
                a.id,
                a.hash
            ),
        });
    }
    Ok(report)
}
