//! The tamper-evident audit log of admin actions.
//!
//! Every admin action appends one [`Entry`] through [`AuditLog::append`], which returns only
//! once the entry is on disk (fdatasync). Entries form a hash chain: each carries the hash of
//! the previous one, so changing, removing or reordering any line breaks the chain from that
//! line on, and [`verify()`] (`tickdb audit verify`) points at the first broken entry. Truncating
//! the tail is detected against an [`Anchor`] (`{id, hash}` of the head) exported earlier.
//!
//! - [`entry`]: the entry, its canonical JSON line and its hash.
//! - `segment`: segment files and the chain check shared by open and verify.
//! - `index`: the in-memory index (24 bytes per entry + postings) that [`AuditLog::search`]
//!   answers from, reading only the page's lines from disk.
//! - [`verify()`](mod@verify), [`export`]: offline verification, JSONL and CSV export.
//! - [`cli`]: `tickdb audit verify` and `tickdb audit export`.
//!
//! On-disk format: docs/format/audit.md.
//!
//! Invariants:
//! - ids are 1, 2, 3, ... without gaps, in file order; `time_ms` never decreases.
//! - An id and its hash are taken only by a batch whose write and fdatasync succeeded; a failed
//!   batch is truncated away and its callers get an error.
//! - Entry index `i` in `index::Index` is id `start.id + i + 1` (`start.id` is 0 until
//!   retention removed the oldest segments, see [`AuditLog::apply_retention`]).
//!
//! Appends are group-committed as in a WAL: the first caller to find no commit in progress
//! becomes the leader, takes every pending record, writes them with one `write` and one
//! fdatasync, hands each caller its result, and the next waiting caller leads the next batch.

pub mod cli;
pub mod entry;
pub mod export;
mod index;
mod segment;
pub mod verify;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};

pub use entry::{Entry, GENESIS_HASH, Record};
pub use export::{write_csv, write_jsonl};
pub use verify::verify;

use index::{Index, Slot};
use segment::{ChainChecker, Start, io_err, lines, list_segments, read_start, segment_name, sync_dir, write_start};

/// Default and maximum page size of [`AuditLog::search`].
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;
/// Candidates a `text` search examines before it returns a partial page with a cursor.
pub const TEXT_SCAN_BUDGET: usize = 100_000;
/// Candidates whose lines lie within this many bytes are read with one `pread`.
const READ_RUN_BYTES: u64 = 1 << 20;
/// ... when no more than this many bytes lie between two of them.
const READ_GAP_BYTES: u64 = 8 << 10;

/// A search candidate: entry index, where it is, its segment file and number.
type Candidate = (u32, Slot, Arc<File>, u32);

/// Options of [`AuditLog::open`].
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// A new segment is started once the current one has reached this size.
    pub segment_bytes: u64,
    /// fdatasync every batch (turn off only for benchmarks and tests).
    pub fsync: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { segment_bytes: 64 << 20, fsync: true }
    }
}

/// The head of the log at some moment: export it, and [`verify()`] later proves the log still
/// holds that entry unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// 0 for an empty log.
    pub id: u64,
    pub hash: String,
    /// The entry's `time` (empty for an empty log).
    #[serde(default)]
    pub time: String,
}

/// A search of the log. Every given filter must match; results are newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Inclusive bounds on `time_ms`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Case-sensitive substring of the entry's JSON line.
    pub text: Option<String>,
    /// Page size: 0 means [`DEFAULT_LIMIT`]; at most [`MAX_LIMIT`].
    pub limit: usize,
    /// Paging cursor: only entries with a smaller id (the previous page's `next_before_id`).
    pub before_id: Option<u64>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            actor: None,
            action: None,
            target: None,
            from_ms: None,
            to_ms: None,
            text: None,
            limit: DEFAULT_LIMIT,
            before_id: None,
        }
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page {
    /// Newest first.
    pub entries: Vec<Entry>,
    /// Pass as `before_id` for the next page; `None` when there is none. A `text` search that
    /// examined [`TEXT_SCAN_BUDGET`] candidates returns what it found so far (maybe nothing)
    /// with a cursor to continue from.
    pub next_before_id: Option<u64>,
    /// Matches in all pages, when cheap to count (not with `text`).
    pub total_matched: Option<u64>,
}

/// The first broken entry found by [`verify()`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyError {
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: u64,
    /// The id the entry at this position should have.
    pub id: u64,
    pub reason: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: entry {}: {}", self.file.display(), self.line, self.id, self.reason)
    }
}

/// What [`verify()`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries verified (before the first error, if any).
    pub entries: u64,
    /// The id the chain starts at: 1, or the first id kept by retention.
    pub first_id: u64,
    /// The last verified entry.
    pub head: Option<Anchor>,
    pub first_error: Option<VerifyError>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    /// The cause is part of the message (and not a `source`, so it is not printed twice).
    #[error("audit log I/O on {}: {cause}", path.display())]
    Io { path: PathBuf, cause: Arc<io::Error> },
    #[error("audit log is corrupt: {0}")]
    Corrupt(VerifyError),
    /// A previous failure could not be undone; appends are refused until the log is reopened.
    #[error("audit log is unusable until reopened: {0}")]
    Poisoned(String),
    #[error("audit log {} is locked: another process has it open for appends", .0.display())]
    Locked(PathBuf),
    #[error("invalid audit query: {0}")]
    InvalidQuery(String),
}

/// The current time in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

type ResultSlot = Arc<Mutex<Option<Result<Entry, AuditError>>>>;

/// Records waiting for the next commit.
#[derive(Default)]
struct Queue {
    pending: Vec<(Record, ResultSlot)>,
    /// A caller is committing a batch.
    leader: bool,
}

/// The active segment and the chain's head; only the commit leader touches it.
struct Writer {
    file: Arc<File>,
    path: PathBuf,
    seg_no: u32,
    /// Position of the active segment in [`Index::segments`].
    seg_pos: u32,
    seg_len: u64,
    next_id: u64,
    prev_hash: String,
    last_time_ms: i64,
    poisoned: Option<String>,
}

/// The audit log of one data directory (`<data_dir>/audit`).
pub struct AuditLog {
    dir: PathBuf,
    opts: AuditOptions,
    clock: Clock,
    queue: Mutex<Queue>,
    committed: Condvar,
    writer: Mutex<Writer>,
    index: RwLock<Index>,
    /// `<dir>/LOCK`, locked (flock) while the log is open for appends.
    _lock: Option<File>,
    #[cfg(test)]
    faults: Mutex<tests::Faults>,
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`: reads every segment, rebuilds the index, checks the
    /// chain's links everywhere and the hashes of the last segment, and truncates a torn last
    /// line (never acknowledged: appends return only after fdatasync).
    pub fn open(dir: &Path, opts: AuditOptions) -> Result<Arc<AuditLog>, AuditError> {
        Self::open_with_clock(dir, opts, Arc::new(now_ms))
    }

    /// [`AuditLog::open`] with another time source.
    pub fn open_with_clock(dir: &Path, opts: AuditOptions, clock: Clock) -> Result<Arc<AuditLog>, AuditError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        // One writer per directory: a second one would fork the chain.
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AuditError::Locked(lock_path)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let mut segs = list_segments(dir)?;
        if segs.is_empty() {
            let path = dir.join(segment_name(1));
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| io_err(&path, e))?;
            sync_dir(dir)?;
            segs.push((1, path));
        }
        let start = read_start(dir)?;
        let (index, writer) = load(dir, &segs, start.as_ref(), true)?;
        tracing::info!(dir = %dir.display(), entries = index.slots.len(), segments = segs.len(), "audit log opened");
        Ok(Arc::new(AuditLog {
            dir: dir.to_path_buf(),
            opts,
            clock,
            queue: Mutex::new(Queue::default()),
            committed: Condvar::new(),
            writer: Mutex::new(writer),
            index: RwLock::new(index),
            _lock: Some(lock),
            #[cfg(test)]
            faults: Mutex::new(tests::Faults::default()),
        }))
    }

    /// Appends one entry and returns it once it is on disk. Concurrent callers share one write
    /// and one fdatasync. On error nothing was appended (no id or hash is used up).
    pub fn append(&self, rec: Record) -> Result<Entry, AuditError> {
        let slot: ResultSlot = Arc::new(Mutex::new(None));
        let mut q = self.queue.lock();
        q.pending.push((rec, slot.clone()));
        loop {
            if let Some(r) = slot.lock().take() {
                return r;
            }
            if !q.leader {
                // Our record is still pending: a leader fills its batch's slots before it
                // clears `leader`.
                q.leader = true;
                let batch = std::mem::take(&mut q.pending);
                let slots: Vec<ResultSlot> = batch.iter().map(|(_, s)| s.clone()).collect();
                let done = parking_lot::MutexGuard::unlocked(&mut q, || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.commit(batch)))
                });
                if done.is_err() {
                    // The chain's state may be half-updated: refuse appends until reopened,
                    // and never leave a caller waiting.
                    let msg = "an audit commit panicked".to_string();
                    tracing::error!(error = %msg, "audit log poisoned");
                    self.writer.lock().poisoned = Some(msg.clone());
                    for s in &slots {
                        s.lock().get_or_insert_with(|| Err(AuditError::Poisoned(msg.clone())));
                    }
                }
                q.leader = false;
                self.committed.notify_all();
                continue;
            }
            self.committed.wait(&mut q);
        }
    }

    /// Writes a batch and fills its callers' result slots.
    fn commit(&self, batch: Vec<(Record, ResultSlot)>) {
        let (recs, slots): (Vec<Record>, Vec<ResultSlot>) = batch.into_iter().unzip();
        let mut w = self.writer.lock();
        match self.write_batch(&mut w, recs) {
            Ok(entries) => {
                for (e, s) in entries.into_iter().zip(&slots) {
                    *s.lock() = Some(Ok(e));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, entries = slots.len(), "audit append failed; the actions are refused");
                for s in &slots {
                    *s.lock() = Some(Err(e.clone()));
                }
            }
        }
    }

    fn write_batch(&self, w: &mut Writer, recs: Vec<Record>) -> Result<Vec<Entry>, AuditError> {
        if let Some(p) = &w.poisoned {
            return Err(AuditError::Poisoned(p.clone()));
        }
        if w.seg_len > 0 && w.seg_len >= self.opts.segment_bytes {
            self.rotate(w)?;
        }
        let time_ms = w.last_time_ms.max((self.clock)());
        let mut prev = w.prev_hash.clone();
        let mut buf = Vec::with_capacity(recs.len() * 512);
        let mut entries = Vec::with_capacity(recs.len());
        let mut locs = Vec::with_capacity(recs.len());
        for (i, rec) in recs.into_iter().enumerate() {
            let e = Entry::seal(rec, w.next_id + i as u64, time_ms, &prev);
            let line = e.to_line();
            locs.push((buf.len() as u64, line.len() as u32));
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            prev.clone_from(&e.hash);
            entries.push(e);
        }
        if let Err(e) = self.write_and_sync(w, &buf) {
            // Undo the partial write so the file ends at the last acknowledged entry.
            if let Err(te) = w.file.set_len(w.seg_len) {
                let msg =
                    format!("truncating {} back to {} bytes after a failed append: {te}", w.path.display(), w.seg_len);
                tracing::error!(error = %msg, "audit log poisoned");
                w.poisoned = Some(msg);
            }
            return Err(io_err(&w.path, e));
        }
        {
            let mut ix = self.index.write();
            for (e, (off, len)) in entries.iter().zip(locs) {
                ix.push(e, Slot { time_ms, offset: w.seg_len + off, seg: w.seg_pos, len });
            }
        }
        w.seg_len += buf.len() as u64;
        w.next_id += entries.len() as u64;
        w.prev_hash = prev;
        w.last_time_ms = time_ms;
        Ok(entries)
    }

    fn write_and_sync(&self, w: &Writer, buf: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        self.faults.lock().before_write()?;
        w.file.write_all_at(buf, w.seg_len)?;
        if self.opts.fsync {
            #[cfg(test)]
            self.faults.lock().before_sync()?;
            w.file.sync_data()?;
        }
        Ok(())
    }

    /// Starts the next segment.
    fn rotate(&self, w: &mut Writer) -> Result<(), AuditError> {
        let no = w.seg_no + 1;
        let path = self.dir.join(segment_name(no));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        // Left over by a rotation that failed after creating the file: it holds nothing.
        file.set_len(0).map_err(|e| io_err(&path, e))?;
        sync_dir(&self.dir)?;
        let file = Arc::new(file);
        let pos = {
            let mut ix = self.index.write();
            ix.segments.push((no, file.clone()));
            (ix.segments.len() - 1) as u32
        };
        tracing::info!(segment = %path.display(), "audit log: new segment");
        w.file = file;
        w.path = path;
        w.seg_no = no;
        w.seg_pos = pos;
        w.seg_len = 0;
        Ok(())
    }

    /// Entries matching `q`, newest first, one page at a time. Reads only the page's lines
    /// from disk (and, with `text`, the candidates it examines).
    pub fn search(&self, q: &Query) -> Result<Page, AuditError> {
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            l if l > MAX_LIMIT => {
                return Err(AuditError::InvalidQuery(format!("limit {l} is over the maximum {MAX_LIMIT}")));
            }
            l => l,
        };
        // A literal (escaped) pattern: the regex crate's substring search is SIMD-accelerated.
        let text = match q.text.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => Some(
                regex::bytes::Regex::new(&regex::escape(t))
                    .map_err(|e| AuditError::InvalidQuery(format!("text: {e}")))?,
            ),
            None => None,
        };
        // Candidates in chunks, the index locked only while collecting each chunk.
        let chunk = if text.is_some() { 1024 } else { limit + 1 };
        let mut below = u32::MAX;
        let mut total = None;
        let mut first = true;
        let mut entries: Vec<Entry> = Vec::new();
        let mut examined = 0usize;
        let mut block = Vec::new();
        loop {
            let (base, batch): (u64, Vec<Candidate>) = {
                let ix = self.index.read();
                let c = ix.candidates(q);
                if first {
                    total = if text.is_none() { c.count() } else { None };
                    first = false;
                }
                let batch = c
                    .next_below(below, chunk)
                    .into_iter()
                    .filter_map(|i| {
                        let s = *ix.slots.get(i as usize)?;
                        let (no, f) = ix.segments.get(s.seg as usize)?;
                        Some((i, s, f.clone(), *no))
                    })
                    .collect();
                (ix.start.id, batch)
            };
            if batch.is_empty() {
                return Ok(Page { entries, next_before_id: None, total_matched: total });
            }
            // Runs of candidates close together in one segment are read with one pread.
            let mut start = 0;
            while start < batch.len() {
                let (_, first_slot, ref file, seg_no) = batch[start];
                let run_end = first_slot.offset + u64::from(first_slot.len);
                let mut end = start + 1;
                while end < batch.len() && {
                    let (prev, next) = (batch[end - 1].1, batch[end].1);
                    let next_end = next.offset + u64::from(next.len);
                    next.seg == first_slot.seg
                        && next_end <= prev.offset
                        && prev.offset - next_end <= READ_GAP_BYTES
                        && run_end - next.offset <= READ_RUN_BYTES
                } {
                    end += 1;
                }
                let run_start = batch[end - 1].1.offset;
                let path = || self.dir.join(segment_name(seg_no));
                block.resize((run_end - run_start) as usize, 0);
                file.read_exact_at(&mut block, run_start).map_err(|e| io_err(&path(), e))?;
                for &(i, slot, _, _) in &batch[start..end] {
                    below = i;
                    let id = base + u64::from(i) + 1;
                    let from = (slot.offset - run_start) as usize;
                    let line = block.get(from..from + slot.len as usize).unwrap_or_default();
                    if let Some(t) = &text {
                        examined += 1;
                        if !t.is_match(line) {
                            if examined >= TEXT_SCAN_BUDGET {
                                return Ok(Page { entries, next_before_id: Some(id), total_matched: None });
                            }
                            continue;
                        }
                    }
                    if entries.len() == limit {
                        // A match beyond the page: there is a next page.
                        let next = entries.last().map(|e| e.id);
                        return Ok(Page { entries, next_before_id: next, total_matched: total });
                    }
                    let e: Entry = serde_json::from_slice(line).map_err(|e| {
                        AuditError::Corrupt(VerifyError {
                            file: path(),
                            line: 0,
                            id,
                            reason: format!("entry at byte {} no longer parses: {e}", slot.offset),
                        })
                    })?;
                    entries.push(e);
                }
                start = end;
            }
        }
    }

    /// Calls `f` with every entry matching `q` (its `text`, `limit` and `before_id` ignored),
    /// oldest first: for exports. Reads one entry at a time.
    pub fn for_each(&self, q: &Query, mut f: impl FnMut(&Entry) -> io::Result<()>) -> Result<(), AuditError> {
        let picked: Vec<(Slot, Arc<File>, u32)> = {
            let ix = self.index.read();
            let mut idx = ix.candidates(q).next_below(u32::MAX, usize::MAX);
            idx.reverse();
            idx.into_iter()
                .filter_map(|i| {
                    let s = *ix.slots.get(i as usize)?;
                    let (no, f) = ix.segments.get(s.seg as usize)?;
                    Some((s, f.clone(), *no))
                })
                .collect()
        };
        let mut buf = Vec::new();
        for (slot, file, seg_no) in picked {
            let path = || self.dir.join(segment_name(seg_no));
            buf.resize(slot.len as usize, 0);
            file.read_exact_at(&mut buf, slot.offset).map_err(|e| io_err(&path(), e))?;
            let e: Entry = serde_json::from_slice(&buf).map_err(|e| {
                AuditError::Corrupt(VerifyError {
                    file: path(),
                    line: 0,
                    id: 0,
                    reason: format!("entry at byte {} no longer parses: {e}", slot.offset),
                })
            })?;
            f(&e).map_err(|e| io_err(Path::new("<output>"), e))?;
        }
        Ok(())
    }

    /// The head entry's `{id, hash, time}` (id 0 and the genesis hash for an empty log).
    pub fn anchor(&self) -> Anchor {
        self.index.read().head.clone()
    }

    /// The number of entries.
    pub fn len(&self) -> u64 {
        self.index.read().slots.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id of the oldest entry kept (1 unless retention removed segments).
    pub fn first_id(&self) -> u64 {
        self.index.read().start.id + 1
    }

    /// Removes the oldest segments whose every entry is older than `cutoff_ms` (never the
    /// segment being written), keeping the chain verifiable: first an `audit.retention` entry
    /// records the first id kept and the hash before it, then `START` says the same, then the
    /// files go and the index is rebuilt from what is left. Returns the number of segments
    /// removed. A crash at any step leaves a log that opens and verifies.
    pub fn apply_retention(&self, cutoff_ms: i64) -> Result<usize, AuditError> {
        // The plan: segment positions [0, p) go; the entry before the first kept one.
        let (p, seg_nos, first_kept, prev) = {
            // Lock order as in commit: the writer, then the index.
            let active = self.writer.lock().seg_pos as usize;
            let ix = self.index.read();
            let c = ix.slots.partition_point(|s| s.time_ms < cutoff_ms);
            let p = ix.slots.get(c).map_or(active, |s| s.seg as usize).min(active);
            if p == 0 {
                return Ok(0);
            }
            let first_kept = ix.slots.partition_point(|s| (s.seg as usize) < p);
            let seg_nos: Vec<u32> = ix.segments[..p].iter().map(|(n, _)| *n).collect();
            let prev = match first_kept.checked_sub(1) {
                Some(i) => {
                    let (slot, file) = (ix.slots[i], ix.segments[ix.slots[i].seg as usize].1.clone());
                    (slot, Some(file))
                }
                None => (Slot { time_ms: 0, offset: 0, seg: 0, len: 0 }, None),
            };
            (p, seg_nos, ix.id_of(first_kept as u32), (prev, ix.start.hash.clone()))
        };
        let ((slot, file), start_hash) = prev;
        let prev_hash = match file {
            Some(f) => {
                let mut buf = vec![0u8; slot.len as usize];
                f.read_exact_at(&mut buf, slot.offset).map_err(|e| io_err(&self.dir, e))?;
                serde_json::from_slice::<Entry>(&buf)
                    .map_err(|e| {
                        AuditError::Corrupt(VerifyError {
                            file: self.dir.clone(),
                            line: 0,
                            id: first_kept - 1,
                            reason: format!("entry no longer parses: {e}"),
                        })
                    })?
                    .hash
            }
            None => start_hash,
        };
        let start = Start { first_id: first_kept, prev_hash, removed_through: *seg_nos.last().unwrap_or(&0) };
        self.append(Record {
            actor: "tickdb".into(),
            role: "system".into(),
            action: "audit.retention".into(),
            target: format!("audit segments {:?}", seg_nos),
            after: Some(serde_json::json!({
                "first_id": start.first_id,
                "prev_hash": start.prev_hash,
                "removed_segments": seg_nos,
                "cutoff": entry::format_time(cutoff_ms),
            })),
            result: "ok".into(),
            ..Record::default()
        })?;
        // No appends while the files change and the index is rebuilt.
        let mut w = self.writer.lock();
        write_start(&self.dir, &start)?;
        for no in &seg_nos {
            let path = self.dir.join(segment_name(*no));
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
        sync_dir(&self.dir)?;
        let segs = list_segments(&self.dir)?;
        let (index, _) = load(&self.dir, &segs, Some(&start), false)?;
        w.seg_pos = index.segments.iter().position(|(n, _)| *n == w.seg_no).unwrap_or(0) as u32;
        *self.index.write() = index;
        tracing::info!(segments = p, first_id = start.first_id, "audit log: retention removed the oldest segments");
        Ok(p)
    }
}

/// Reads the segments into an index, checking the chain (hashes of the last segment only)
/// and, with `repair`, truncating a torn last line of the last segment. Without `repair` the
/// files are opened read-only and a torn last line is skipped.
fn load(
    dir: &Path,
    segs: &[(u32, PathBuf)],
    start: Option<&Start>,
    repair: bool,
) -> Result<(Index, Writer), AuditError> {
    let mut index = Index::new(match start {
        Some(st) => Anchor { id: st.first_id - 1, hash: st.prev_hash.clone(), time: String::new() },
        None => Anchor { id: 0, hash: GENESIS_HASH.to_string(), time: String::new() },
    });
    let mut chain = ChainChecker::from_start(start);
    let mut active = None;
    // Segments retention removed (a crash may have left some of them behind).
    let removed_through = start.map_or(0, |st| st.removed_through);
    let (gone, segs): (Vec<_>, Vec<_>) = segs.iter().partition(|(no, _)| *no <= removed_through);
    if repair && !gone.is_empty() {
        for (_, path) in &gone {
            std::fs::remove_file(path).map_err(|e| io_err(path, e))?;
        }
        sync_dir(dir)?;
        tracing::warn!(segments = gone.len(), "audit log: removed segments that retention had let go");
    }
    for (pos, (no, path)) in segs.iter().enumerate() {
        let last = pos + 1 == segs.len();
        let file = OpenOptions::new().read(true).write(repair).open(path).map_err(|e| io_err(path, e))?;
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut &file, &mut buf).map_err(|e| io_err(path, e))?;
        let mut good_len = 0u64;
        let mut it = lines(&buf).peekable();
        while let Some(line) = it.next() {
            let torn = last
                && it.peek().is_none()
                && (!line.terminated || serde_json::from_slice::<Entry>(line.bytes).is_err());
            if torn {
                if repair {
                    tracing::warn!(
                        file = %path.display(), line = line.number, bytes = buf.len() as u64 - good_len,
                        "audit log: truncating a torn last line (never acknowledged)"
                    );
                    file.set_len(good_len).and_then(|()| file.sync_all()).map_err(|e| io_err(path, e))?;
                }
                break;
            }
            if !line.terminated {
                return Err(AuditError::Corrupt(VerifyError {
                    file: path.clone(),
                    line: line.number,
                    id: chain.next_id,
                    reason: "no newline at the end of a full segment".into(),
                }));
            }
            let e = chain.check(path, &line, last).map_err(AuditError::Corrupt)?;
            let slot = Slot { time_ms: e.time_ms, offset: line.offset, seg: pos as u32, len: line.bytes.len() as u32 };
            index.push(&e, slot);
            good_len = line.offset + line.bytes.len() as u64 + 1;
        }
        index.segments.push((*no, Arc::new(file)));
        if last {
            active = Some((*no, path.clone(), pos as u32, good_len));
        }
    }
    let Some((seg_no, path, seg_pos, seg_len)) = active else {
        return Err(AuditError::Corrupt(VerifyError {
            file: PathBuf::new(),
            line: 0,
            id: 1,
            reason: "no segment files".into(),
        }));
    };
    let file = index.segments[seg_pos as usize].1.clone();
    let writer = Writer {
        file,
        path,
        seg_no,
        seg_pos,
        seg_len,
        next_id: chain.next_id,
        prev_hash: chain.prev_hash,
        last_time_ms: chain.last_time_ms,
        poisoned: None,
    };
    Ok((index, writer))
}

/// Opens the log in `dir` for reading only (no repair, no appends): for the offline CLI.
pub(crate) fn open_read_only(dir: &Path) -> Result<AuditLog, AuditError> {
    let segs = list_segments(dir)?;
    if segs.is_empty() {
        return Err(io_err(dir, io::Error::new(io::ErrorKind::NotFound, "no audit segments in this directory")));
    }
    let start = read_start(dir)?;
    let (index, writer) = load(dir, &segs, start.as_ref(), false)?;
    let mut w = writer;
    w.poisoned = Some("opened read-only".into());
    Ok(AuditLog {
        dir: dir.to_path_buf(),
        opts: AuditOptions::default(),
        clock: Arc::new(now_ms),
        queue: Mutex::new(Queue::default()),
        committed: Condvar::new(),
        writer: Mutex::new(w),
        index: RwLock::new(index),
        _lock: None,
        #[cfg(test)]
        faults: Mutex::new(tests::Faults::default()),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests;
