//! Segment files (`audit-00000001.jsonl`, ...), their lines, and the chain check shared by
//! [`super::AuditLog::open`] and [`super::verify`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::entry::{Entry, GENESIS_HASH, format_time};
use super::{AuditError, VerifyError};

/// The file name of segment `n`.
pub fn segment_name(n: u32) -> String {
    format!("audit-{n:08}.jsonl")
}

/// The segment number of a file name, if it is a segment's.
fn parse_segment_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments of `dir`, by number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, AuditError> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| io_err(dir, e))?;
        if let Some(n) = ent.file_name().to_str().and_then(parse_segment_name) {
            out.push((n, ent.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub fn io_err(path: &Path, e: io::Error) -> AuditError {
    AuditError::Io { path: path.to_path_buf(), cause: Arc::new(e) }
}

/// Makes a created or removed file's directory entry durable.
pub fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err(dir, e))
}

/// `<dir>/START`: where the chain begins once retention removed the oldest segments. Written
/// (atomically) after the `audit.retention` entry that records it and before the segments are
/// deleted; at open, segments up to `removed_through` still present are deleted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Start {
    /// The id of the first entry kept.
    pub first_id: u64,
    /// The hash of the entry before it (the last one removed).
    pub prev_hash: String,
    /// The highest segment number removed.
    pub removed_through: u32,
}

pub const START_FILE: &str = "START";

/// The START file of `dir`, if retention ever removed segments.
pub fn read_start(dir: &Path) -> Result<Option<Start>, AuditError> {
    let path = dir.join(START_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            AuditError::Corrupt(VerifyError { file: path, line: 1, id: 0, reason: format!("unreadable START: {e}") })
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// Replaces `dir`'s START file atomically.
pub fn write_start(dir: &Path, start: &Start) -> Result<(), AuditError> {
    use std::io::Write as _;
    let path = dir.join(START_FILE);
    let tmp = dir.join("START.tmp");
    let bytes = serde_json::to_vec(start).map_err(|e| io_err(&tmp, io::Error::other(e)))?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    sync_dir(dir)
}

/// One line of a segment.
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The bytes without the newline.
    pub bytes: &'a [u8],
    /// Whether a newline ends it (only a torn last line has none).
    pub terminated: bool,
}

/// The lines of a segment's contents.
pub fn lines(buf: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut pos = 0usize;
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        number += 1;
        let start = pos;
        let (end, terminated) = match buf[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, true),
            None => (buf.len(), false),
        };
        pos = end + 1;
        Some(Line { number, offset: start as u64, bytes: &buf[start..end], terminated })
    })
}

/// Follows the hash chain entry by entry.
pub struct ChainChecker {
    /// The id the next entry must have.
    pub next_id: u64,
    /// The hash the next entry's `prev_hash` must equal.
    pub prev_hash: String,
    pub last_time_ms: i64,
}

impl Default for ChainChecker {
    fn default() -> Self {
        ChainChecker { next_id: 1, prev_hash: GENESIS_HASH.to_string(), last_time_ms: i64::MIN }
    }
}

impl ChainChecker {
    /// A checker expecting the first entry after `start` (the genesis without one).
    pub fn from_start(start: Option<&Start>) -> ChainChecker {
        match start {
            Some(st) => ChainChecker { next_id: st.first_id, prev_hash: st.prev_hash.clone(), last_time_ms: i64::MIN },
            None => ChainChecker::default(),
        }
    }

    /// Checks that `line` is the next entry of the chain and advances past it. `full` also
    /// recomputes the hash and checks the line is the entry's canonical form; without it only
    /// the links (ids, `prev_hash`, time order) are checked.
    pub fn check(&mut self, file: &Path, line: &Line<'_>, full: bool) -> Result<Entry, VerifyError> {
        let fail =
            |reason: String| VerifyError { file: file.to_path_buf(), line: line.number, id: self.next_id, reason };
        let e: Entry = serde_json::from_slice(line.bytes).map_err(|e| fail(format!("not a valid entry: {e}")))?;
        if e.id != self.next_id {
            return Err(fail(format!(
                "has id {} where {} was expected (entries missing, reordered or renumbered)",
                e.id, self.next_id
            )));
        }
        if e.prev_hash != self.prev_hash {
            return Err(fail(format!(
                "prev_hash {} is not the hash of the previous entry ({})",
                e.prev_hash, self.prev_hash
            )));
        }
        if e.time_ms < self.last_time_ms {
            return Err(fail(format!("time_ms {} is before the previous entry's {}", e.time_ms, self.last_time_ms)));
        }
        if full {
            let h = e.compute_hash();
            if e.hash != h {
                return Err(fail(format!("hash {} does not match the entry's contents (recomputed {h})", e.hash)));
            }
            if e.time != format_time(e.time_ms) {
                return Err(fail(format!("time {:?} is not time_ms {}", e.time, e.time_ms)));
            }
            if e.to_line().as_bytes() != line.bytes {
                return Err(fail("line is not in canonical form".to_string()));
            }
        }
        self.next_id += 1;
        self.prev_hash.clone_from(&e.hash);
        self.last_time_ms = e.time_ms;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(1), "audit-00000001.jsonl");
        assert_eq!(parse_segment_name("audit-00000012.jsonl"), Some(12));
        for bad in ["audit-1.jsonl", "audit-0000001x.jsonl", "audit-00000001.json", "x-00000001.jsonl"] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    fn check_lines(input: &str, expected: &[(u64, u64, &str, bool)]) {
        let got: Vec<_> = lines(input.as_bytes())
            .map(|l| (l.number, l.offset, std::str::from_utf8(l.bytes).unwrap(), l.terminated))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn splits_lines() {
        check_lines("", &[]);
        check_lines("a\n", &[(1, 0, "a", true)]);
        check_lines("a\nbc\n", &[(1, 0, "a", true), (2, 2, "bc", true)]);
        check_lines("a\nbc", &[(1, 0, "a", true), (2, 2, "bc", false)]);
        check_lines("\n\n", &[(1, 0, "", true), (2, 1, "", true)]);
    }
}
