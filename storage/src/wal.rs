//! The write-ahead log: Prometheus's `wlog` segment format with group commit.
//!
//! On disk (see `docs/format/wal.md`): a directory of segments named `%08d`, each a sequence of
//! 32 KiB pages holding CRC-32C checked record fragments (`segment.rs`), plus checkpoints
//! `checkpoint.%08d/` in the same format. Records are Prometheus's series / samples / tombstones
//! payloads ([`record`]).
//!
//! Start-up order for the head: [`replay`] (latest checkpoint, then the segments after it;
//! stops at the first corruption and reports it in [`ReplayStats::corruption`]), rebuild state,
//! then [`Wal::open_after_replay`] (or [`Wal::open`], which scans the segments itself): it
//! repairs a corrupt or torn tail by truncating the bad segment at the last good record and
//! deleting the segments after it, then appends to a new segment after the last one.
//!
//! Durability: [`Wal::log`] writes a batch under the writer lock, releases it, and then waits
//! for the [`FsyncPolicy`]. With `Always`, concurrent callers share fsyncs (group commit): one
//! caller becomes the leader and fsyncs the active segment without holding the writer lock,
//! the others wait on a condition variable and return when the leader's fsync covers their
//! batch. Segment cuts fsync the closed segment, so a fsync of the active segment covers every
//! earlier batch.
//!
//! Failures: a failed write rolls the segment back to where the batch started (truncate and
//! reload the partial page) and returns the error; the WAL stays usable. If the rollback fails,
//! or an fsync fails (after which Linux may have dropped the dirty pages), the WAL marks itself
//! failed and every later `log` returns an error: it never reports data durable that may not be.
//! Reopening (a restart) repairs the tail.

mod checkpoint;
pub mod record;
mod segment;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::metrics::{Counter, DEFAULT_BUCKETS, Gauge, Histogram, Registry};

pub use checkpoint::{CheckpointStats, ReplayStats, replay};
pub use record::{Record, RefSample, RefSeries, Stone};
pub use segment::{Corruption, HEADER_SIZE, PAGE_SIZE, segment_name};
use segment::{SegmentWriter, fsync_dir, list_checkpoints, list_segments, list_tmp_checkpoints};

/// Prometheus's default segment size (128 MiB).
pub const DEFAULT_SEGMENT_SIZE: usize = 128 << 20;

/// When [`Wal::log`] makes a batch durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every `log` returns after an fsync that covers its batch (shared between concurrent callers).
    Always,
    /// A background thread fsyncs this often; `log` returns once the data is written to the OS.
    Interval(Duration),
    /// Only segment cuts, checkpoints and `close` fsync.
    Never,
}

impl FromStr for FsyncPolicy {
    type Err = Error;

    /// `always`, `never`, or `interval:<duration>` with a duration like `5s`, `100ms`, `1m`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "invalid fsync policy {s:?}: want always, never or interval:<duration> (e.g. interval:5s)"
            ))
        };
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => {
                let d = s.strip_prefix("interval:").ok_or_else(bad)?;
                let d = parse_duration(d).ok_or_else(bad)?;
                if d.is_zero() {
                    return Err(bad());
                }
                Ok(FsyncPolicy::Interval(d))
            }
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Interval(d) => write!(f, "interval:{}ms", d.as_millis()),
        }
    }
}

/// `<integer><unit>` with unit `ms`, `s`, `m` or `h`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// How a [`Wal`] writes.
#[derive(Clone)]
pub struct WalOptions {
    /// Maximum segment size in bytes; a multiple of [`PAGE_SIZE`] (records never span segments;
    /// a single record larger than a segment gets a segment of its own).
    pub segment_size: usize,
    pub fsync: FsyncPolicy,
    /// Snappy-compress each record when that makes it smaller (Prometheus's
    /// `--storage.tsdb.wal-compression`, on by default there too); readers handle both.
    pub compression: bool,
    /// Where the `tickdb_wal_*` metrics are registered (a private registry if `None`).
    pub registry: Option<Registry>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, fsync: FsyncPolicy::Always, compression: true, registry: None }
    }
}

impl fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_size", &self.segment_size)
            .field("fsync", &self.fsync)
            .field("compression", &self.compression)
            .finish()
    }
}

pub(crate) struct Metrics {
    fsync_duration: Arc<Histogram>,
    fsyncs: Arc<Counter>,
    pub(crate) corruptions: Arc<Counter>,
    segment_current: Arc<Gauge>,
    writes_failed: Arc<Counter>,
    records: Arc<Counter>,
    bytes: Arc<Counter>,
    pub(crate) checkpoints: Arc<Counter>,
    pub(crate) checkpoint_failures: Arc<Counter>,
}

impl Metrics {
    fn new(r: &Registry) -> Self {
        Metrics {
            fsync_duration: r.histogram(
                "tickdb_wal_fsync_duration_seconds",
                "Duration of WAL fsyncs.",
                DEFAULT_BUCKETS,
            ),
            fsyncs: r.counter("tickdb_wal_fsyncs_total", "WAL fsyncs."),
            corruptions: r.counter("tickdb_wal_corruptions_total", "WAL corruptions found and repaired."),
            segment_current: r.gauge("tickdb_wal_segment_current", "Index of the WAL segment being written."),
            writes_failed: r.counter("tickdb_wal_writes_failed_total", "WAL writes (batches) that failed."),
            records: r.counter("tickdb_wal_records_written_total", "Records written to the WAL."),
            bytes: r.counter("tickdb_wal_record_bytes_written_total", "Record payload bytes written to the WAL."),
            checkpoints: r.counter("tickdb_wal_checkpoints_total", "WAL checkpoints created."),
            checkpoint_failures: r.counter("tickdb_wal_checkpoint_failures_total", "WAL checkpoints that failed."),
        }
    }
}

struct Writer {
    seg: SegmentWriter,
    /// Lowest segment index still on disk.
    first: u32,
    /// Batches written to the OS so far.
    seq: u64,
    /// Set when the WAL can no longer promise durability.
    failed: Option<String>,
    closed: bool,
}

struct SyncState {
    /// Every batch with a sequence number up to this is durable.
    synced: u64,
    /// A leader is fsyncing.
    syncing: bool,
    /// An fsync failed: nothing written after `synced` can be trusted.
    failed: Option<(io::ErrorKind, String)>,
}

#[cfg(test)]
type FsyncHook = Box<dyn Fn(&Shared) + Send>;

pub(crate) struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced_cond: Condvar,
    pub(crate) metrics: Metrics,
    checkpoint_lock: Mutex<()>,
    bg_stop: Mutex<bool>,
    bg_cond: Condvar,
    /// Test hooks: called by the fsync leader before it fsyncs; a failing fsync.
    #[cfg(test)]
    fsync_hook: Mutex<Option<FsyncHook>>,
    #[cfg(test)]
    fail_fsync: std::sync::atomic::AtomicBool,
}

/// The write-ahead log. `Send + Sync`; share it through an `Arc`.
pub struct Wal {
    shared: Arc<Shared>,
    bg: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal").field("dir", &self.shared.dir).field("opts", &self.shared.opts).finish()
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

impl Wal {
    /// Opens (creating `dir` if needed) for appending to a new segment after the last one.
    /// Scans the segments after the latest checkpoint and repairs a corrupt or torn tail
    /// (truncates at the last good record, deletes later segments, logs a warning).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        Self::open_inner(dir, opts, None)
    }

    /// Like [`Wal::open`], but trusts what [`replay`] found instead of scanning again.
    pub fn open_after_replay(dir: &Path, opts: WalOptions, replayed: &ReplayStats) -> Result<Wal> {
        Self::open_inner(dir, opts, Some(replayed.corruption.clone()))
    }

    fn open_inner(dir: &Path, opts: WalOptions, known: Option<Option<Corruption>>) -> Result<Wal> {
        if opts.segment_size < PAGE_SIZE || !opts.segment_size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument(format!(
                "WAL segment size {} is not a positive multiple of the {PAGE_SIZE}-byte page",
                opts.segment_size
            )));
        }
        let registry = opts.registry.clone().unwrap_or_default();
        let metrics = Metrics::new(&registry);
        fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
        for tmp in list_tmp_checkpoints(dir)? {
            tracing::info!(path = %tmp.display(), "removing incomplete WAL checkpoint");
            fs::remove_dir_all(&tmp).map_err(io_err("remove dir", &tmp))?;
        }
        let checkpoints = list_checkpoints(dir)?;
        let cp = checkpoints.last().map(|(i, _)| *i);
        // Finish an interrupted truncation: segments and checkpoints the latest checkpoint covers.
        if let Some(cp) = cp {
            for (i, p) in list_segments(dir)? {
                if i <= cp {
                    fs::remove_file(&p).map_err(io_err("remove segment", &p))?;
                }
            }
            for (i, p) in &checkpoints {
                if *i < cp {
                    fs::remove_dir_all(p).map_err(io_err("remove dir", p))?;
                }
            }
        }
        let mut segs = list_segments(dir)?;
        let corruption = match known {
            Some(c) => c.filter(|c| c.path.parent() == Some(dir) && segs.iter().any(|(i, _)| *i == c.segment)),
            None => scan(&segs)?,
        };
        if let Some(c) = corruption {
            metrics.corruptions.inc();
            let later: Vec<(u32, PathBuf)> = segs.iter().filter(|(i, _)| *i > c.segment).cloned().collect();
            tracing::warn!(
                segment = c.segment, offset = c.offset, error = %c.what, deleted_segments = later.len(),
                "WAL corruption: truncating segment at the last good record and deleting later segments"
            );
            let f = fs::OpenOptions::new().write(true).open(&c.path).map_err(io_err("open segment", &c.path))?;
            f.set_len(c.offset).map_err(io_err("truncate segment", &c.path))?;
            f.sync_all().map_err(io_err("fsync segment", &c.path))?;
            for (_, p) in &later {
                fs::remove_file(p).map_err(io_err("remove segment", p))?;
            }
            segs.retain(|(i, _)| *i <= c.segment);
        }
        let next = match (segs.last(), cp) {
            (Some((i, _)), _) => i.checked_add(1),
            (None, Some(cp)) => cp.checked_add(1),
            (None, None) => Some(0),
        }
        .ok_or_else(|| Error::Other("WAL segment index space exhausted".into()))?;
        let first = segs.first().map_or(next, |(i, _)| *i);
        let seg = SegmentWriter::create(dir, next)?.compressed(opts.compression);
        fsync_dir(dir)?;
        metrics.segment_current.set(f64::from(next));

        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            writer: Mutex::new(Writer { seg, first, seq: 0, failed: None, closed: false }),
            sync: Mutex::new(SyncState { synced: 0, syncing: false, failed: None }),
            synced_cond: Condvar::new(),
            metrics,
            checkpoint_lock: Mutex::new(()),
            bg_stop: Mutex::new(false),
            bg_cond: Condvar::new(),
            #[cfg(test)]
            fsync_hook: Mutex::new(None),
            #[cfg(test)]
            fail_fsync: std::sync::atomic::AtomicBool::new(false),
        });
        let bg = match shared.opts.fsync {
            FsyncPolicy::Interval(every) => {
                let s = shared.clone();
                let h = std::thread::Builder::new()
                    .name("tickdb-wal-fsync".into())
                    .spawn(move || s.background_fsync(every))
                    .map_err(|e| Error::io("spawn fsync thread", dir, e))?;
                Some(h)
            }
            _ => None,
        };
        Ok(Wal { shared, bg: Mutex::new(bg) })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends encoded records as one batch and returns once it is durable per the fsync
    /// policy. On error, no record of the batch is reported durable; a prefix of it may still
    /// be replayed if the batch spanned a segment cut.
    pub fn log(&self, records: &[&[u8]]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let seq = self.shared.write_batch(records)?;
        match self.shared.opts.fsync {
            FsyncPolicy::Always => self.shared.sync_upto(seq),
            _ => Ok(()),
        }
    }

    /// Appends encoded records as one batch and returns once they are written to the OS,
    /// whatever the fsync policy: they become durable with the next fsync (see
    /// [`crate::Appender::commit_unsynced`]).
    pub fn log_unsynced(&self, records: &[&[u8]]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.shared.write_batch(records).map(|_| ())
    }

    /// Encodes and logs one record (convenience).
    pub fn log_record(&self, rec: &Record) -> Result<()> {
        let buf = rec.to_bytes();
        self.log(&[&buf])
    }

    /// Makes everything logged so far durable, whatever the policy (a barrier for `interval` and
    /// `never`; shares the fsync with concurrent `always` callers).
    pub fn sync(&self) -> Result<()> {
        let seq = {
            let w = self.shared.writer.lock();
            self.shared.check_writable(&w)?;
            w.seq
        };
        self.shared.sync_upto(seq)
    }

    /// (first, last) segment index: `last` is the segment being written.
    pub fn segments(&self) -> (u32, u32) {
        let w = self.shared.writer.lock();
        (w.first, w.seg.index)
    }

    /// Closes the active segment (padded and fsync'd) and starts the next; returns its index.
    pub fn cut_segment(&self) -> Result<u32> {
        let mut w = self.shared.writer.lock();
        self.shared.check_writable(&w)?;
        self.shared.cut_locked(&mut w)?;
        Ok(w.seg.index)
    }

    /// Whether the WAL stopped accepting writes after an unrecoverable I/O error.
    pub fn is_failed(&self) -> bool {
        self.shared.writer.lock().failed.is_some()
    }

    /// Makes everything logged so far durable and stops accepting writes. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        let seq = {
            let mut w = self.shared.writer.lock();
            if w.closed {
                return Ok(());
            }
            w.closed = true;
            if w.failed.is_some() {
                return Ok(());
            }
            w.seq
        };
        self.shared.sync_upto(seq)
    }

    /// Writes a checkpoint of segments `..=last` (and the previous checkpoint): the records
    /// `keep` returns (possibly rewritten) go to `checkpoint.<last>` (written as `.tmp`,
    /// fsync'd, renamed); then segments `..=last` and older checkpoints are deleted.
    /// `last` must be below the segment being written (cut first to include it).
    pub fn checkpoint(&self, last: u32, keep: &mut dyn FnMut(&Record) -> Option<Record>) -> Result<CheckpointStats> {
        let _one = self.shared.checkpoint_lock.lock();
        let res = checkpoint::checkpoint(&self.shared, last, keep);
        match &res {
            Ok(_) => self.shared.metrics.checkpoints.inc(),
            Err(_) => self.shared.metrics.checkpoint_failures.inc(),
        }
        res
    }

    fn stop_background(&self) {
        *self.shared.bg_stop.lock() = true;
        self.shared.bg_cond.notify_all();
        if let Some(h) = self.bg.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "closing WAL");
        }
    }
}

/// Finds the first corruption in `segs` (including a gap in the numbering).
fn scan(segs: &[(u32, PathBuf)]) -> Result<Option<Corruption>> {
    let mut stats = ReplayStats::default();
    checkpoint::read_segments(segs, &mut |_| Ok(()), &mut stats)?;
    Ok(stats.corruption)
}

impl Shared {
    fn check_writable(&self, w: &Writer) -> Result<()> {
        if w.closed {
            return Err(Error::Closed);
        }
        if let Some(f) = &w.failed {
            return Err(Error::io("write", &w.seg.path, io::Error::other(format!("WAL failed earlier: {f}"))));
        }
        Ok(())
    }

    /// Writes a batch; returns its sequence number.
    fn write_batch(&self, records: &[&[u8]]) -> Result<u64> {
        let mut w = self.writer.lock();
        self.check_writable(&w)?;
        let mut start = (w.seg.index, w.seg.len());
        let mut bytes = 0u64;
        let mut result: Result<()> = Ok(());
        for r in records {
            if !w.seg.fits(r.len(), self.opts.segment_size) && !w.seg.is_empty() {
                if let Err(e) = self.cut_locked(&mut w) {
                    result = Err(e);
                    break;
                }
                start = (w.seg.index, 0);
            }
            if let Err(e) = w.seg.write_record(r) {
                result = Err(Error::io("write segment", &w.seg.path, e));
                break;
            }
            bytes += r.len() as u64;
        }
        if result.is_ok() {
            result = w.seg.flush().map_err(io_err("write segment", &w.seg.path));
        }
        match result {
            Ok(()) => {
                w.seq += 1;
                self.metrics.records.add(records.len() as u64);
                self.metrics.bytes.add(bytes);
                Ok(w.seq)
            }
            Err(e) => {
                self.metrics.writes_failed.inc();
                if w.failed.is_none() && w.seg.index == start.0 {
                    if let Err(re) = w.seg.rollback(start.1) {
                        tracing::error!(error = %re, path = %w.seg.path.display(), "WAL rollback after a failed write failed; WAL marked failed");
                        w.failed = Some(format!("{e}; rollback: {re}"));
                    } else {
                        tracing::warn!(error = %e, "WAL write failed; batch rolled back");
                    }
                }
                Err(e)
            }
        }
    }

    /// Pads and fsyncs the active segment, then starts the next one.
    fn cut_locked(&self, w: &mut Writer) -> Result<()> {
        w.seg.pad().map_err(io_err("write segment", &w.seg.path))?;
        let t0 = Instant::now();
        if let Err(e) = w.seg.file.sync_data() {
            w.failed = Some(format!("fsync {}: {e}", w.seg.path.display()));
            return Err(Error::io("fsync segment", &w.seg.path, e));
        }
        self.observe_fsync(t0);
        let next =
            w.seg.index.checked_add(1).ok_or_else(|| Error::Other("WAL segment index space exhausted".into()))?;
        let seg = SegmentWriter::create(&self.dir, next)?.compressed(self.opts.compression);
        fsync_dir(&self.dir)?;
        w.seg = seg;
        self.metrics.segment_current.set(f64::from(next));
        Ok(())
    }

    fn observe_fsync(&self, t0: Instant) {
        self.metrics.fsyncs.inc();
        self.metrics.fsync_duration.observe(t0.elapsed().as_secs_f64());
    }

    /// Group commit: returns once batch `seq` is durable. One caller at a time fsyncs (the
    /// leader, without the writer lock); the others wait for a leader's fsync that covers them.
    fn sync_upto(&self, seq: u64) -> Result<()> {
        let mut s = self.sync.lock();
        loop {
            if s.synced >= seq {
                return Ok(());
            }
            if let Some((kind, msg)) = &s.failed {
                return Err(Error::io("fsync", &self.dir, io::Error::new(*kind, msg.clone())));
            }
            if s.syncing {
                self.synced_cond.wait(&mut s);
                continue;
            }
            s.syncing = true;
            let outcome = MutexGuard::unlocked(&mut s, || self.lead_fsync());
            s.syncing = false;
            match outcome {
                Ok(target) => s.synced = s.synced.max(target),
                Err(e) => s.failed = Some((e.kind(), e.to_string())),
            }
            self.synced_cond.notify_all();
        }
    }

    /// Fsyncs the active segment; returns the batch number it covers.
    fn lead_fsync(&self) -> io::Result<u64> {
        #[cfg(test)]
        if let Some(hook) = self.fsync_hook.lock().as_ref() {
            hook(self);
        }
        let (file, path, target) = {
            let w = self.writer.lock();
            (w.seg.file.clone(), w.seg.path.clone(), w.seq)
        };
        let t0 = Instant::now();
        #[cfg(test)]
        let file_sync = || {
            if self.fail_fsync.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            file.sync_data()
        };
        #[cfg(not(test))]
        let file_sync = || file.sync_data();
        match file_sync() {
            Ok(()) => {
                self.observe_fsync(t0);
                Ok(target)
            }
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "WAL fsync failed; WAL marked failed");
                self.writer.lock().failed = Some(format!("fsync {}: {e}", path.display()));
                Err(e)
            }
        }
    }

    fn background_fsync(&self, every: Duration) {
        loop {
            {
                let mut stop = self.bg_stop.lock();
                if *stop {
                    return;
                }
                self.bg_cond.wait_for(&mut stop, every);
                if *stop {
                    return;
                }
            }
            let seq = self.writer.lock().seq;
            if let Err(e) = self.sync_upto(seq) {
                tracing::error!(error = %e, "WAL background fsync failed");
                return;
            }
        }
    }
}
