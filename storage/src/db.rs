//! The database: a data directory of immutable blocks plus the head, tied together.
//!
//! - [`Db::open`] takes the directory lock (a second opener gets a clear error), removes
//!   leftovers of interrupted writes (`*.tmp*`), loads the blocks, deletes blocks that a newer
//!   block supersedes (a crash between writing a compacted block and deleting its parents), and
//!   opens the head (WAL replay).
//! - Reads: [`Queryable`] gives a [`MergeQuerier`] over the blocks overlapping the range and the
//!   head's range reader; writes: [`Appendable`] hands out head appenders.
//! - [`Db::maintain`] is the periodic step (the server calls it on a timer; tests call it with
//!   an injected time): persist the oldest block range of the head once the head spans more than
//!   1.5 block ranges, run the compaction plans, apply retention.
//! - [`Db::delete_series`] writes tombstones to the head and the blocks; they are applied when
//!   the blocks are compacted.
//! - [`backfill`] writes samples directly as blocks (for `tickdb tsdb import`).
//!
//! Invariant: `blocks` is sorted by (min time, ULID) and only ever replaced as a whole under the
//! `maintenance` lock, so queriers see a consistent snapshot (they hold `Arc`s to the blocks
//! they read; a deleted block's files stay mapped until the last querier drops them).

mod backfill;
mod dir;
mod metrics;
mod readers;
pub mod retention;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use ulid::Ulid;

pub use backfill::backfill;
pub use dir::{DirLock, LOCK_FILE, dir_size};

use crate::block::{Block, BlockMeta};
use crate::compact::{CompactOutput, Compactor, PlanBlock, ProgressFn, compaction_ranges};
use crate::error::{Error, Result};
use crate::head::{CHUNKS_HEAD_DIR, Head, HeadOptions, WAL_DIR};
use crate::labels::LabelLimits;
use crate::matcher::Matcher;
use crate::metrics::Registry;
use crate::querier::{BlockQuerier, MergeQuerier};
use crate::reader::BlockReader;
use crate::storage::{Appendable, Appender, Querier, Queryable, Timestamp};
use crate::wal::FsyncPolicy;
use metrics::DbMetrics;
use readers::{GuardedQuerier, Readers};
use retention::RetentionBlock;

/// Default block range: 2 hours.
pub const DEFAULT_BLOCK_RANGE_MS: i64 = 2 * 3600 * 1000;
/// Default time retention: 15 days.
pub const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;
/// How long head truncation waits for older queriers to finish.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// Default WAL segment size: 128 MiB (Prometheus's).
pub const DEFAULT_WAL_SEGMENT_SIZE: usize = 128 << 20;

/// How a database is set up.
#[derive(Clone)]
pub struct DbOptions {
    /// Width of a level-1 block (and of the head's chunk ranges), ms.
    pub block_range_ms: i64,
    /// Time retention, ms; 0 = off.
    pub retention_ms: i64,
    /// Size retention (blocks + WAL + head chunks), bytes; 0 = off.
    pub retention_bytes: u64,
    /// How far behind a series' newest sample a sample is still accepted, ms; 0 = none.
    pub out_of_order_window_ms: i64,
    /// When WAL writes are fsync'd.
    pub fsync: FsyncPolicy,
    /// WAL segment size in bytes (a multiple of the 32 KiB page size).
    pub wal_segment_size: usize,
    /// Snappy-compress WAL records (Prometheus's `--storage.tsdb.wal-compression`).
    pub wal_compression: bool,
    pub label_limits: LabelLimits,
    /// Maximum number of head series; 0 = unlimited.
    pub max_series: usize,
    /// Where the `tickdb_*` storage metrics are registered.
    pub registry: Registry,
}

impl std::fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbOptions")
            .field("block_range_ms", &self.block_range_ms)
            .field("retention_ms", &self.retention_ms)
            .field("retention_bytes", &self.retention_bytes)
            .field("out_of_order_window_ms", &self.out_of_order_window_ms)
            .field("fsync", &self.fsync)
            .field("wal_segment_size", &self.wal_segment_size)
            .field("max_series", &self.max_series)
            .finish_non_exhaustive()
    }
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            block_range_ms: DEFAULT_BLOCK_RANGE_MS,
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: 0,
            out_of_order_window_ms: 0,
            fsync: FsyncPolicy::Always,
            wal_segment_size: DEFAULT_WAL_SEGMENT_SIZE,
            wal_compression: true,
            label_limits: LabelLimits::default(),
            max_series: 0,
            registry: Registry::default(),
        }
    }
}

/// What one [`Db::maintain`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Blocks persisted from the head.
    pub head_blocks: usize,
    /// Compactions run.
    pub compactions: usize,
    /// Blocks deleted by retention.
    pub retention_deleted: usize,
}

/// A loaded block and where it lives.
struct LoadedBlock {
    block: Arc<Block>,
    dir: PathBuf,
}

/// The database. Share it as `Arc<Db>`.
pub struct Db {
    dir: PathBuf,
    opts: DbOptions,
    head: Arc<Head>,
    blocks: RwLock<Arc<Vec<Arc<LoadedBlock>>>>,
    compactor: Compactor,
    /// Serialises maintenance, deletion and close.
    maintenance: Mutex<()>,
    metrics: DbMetrics,
    /// Queriers reading the head (truncation waits for them).
    readers: Arc<Readers>,
    closed: AtomicBool,
    _lock: DirLock,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.dir).field("blocks", &self.blocks.read().len()).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Arc<Db>> {
        if opts.block_range_ms <= 0 {
            return Err(Error::InvalidArgument(format!("block range must be positive, got {}ms", opts.block_range_ms)));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create data dir", dir, e))?;
        let lock = DirLock::acquire(dir)?;
        let metrics = DbMetrics::new(&opts.registry);
        let blocks = load_blocks(dir, &metrics)?;
        // Samples older than what the head itself persisted are in blocks already: WAL replay
        // skips them and appends get "out of bounds". Imported or copied-in blocks do not count
        // (see `dir::read_head_watermark`), so they never make the head drop acknowledged data.
        // A data dir with a WAL but no watermark was written by Prometheus: there every block
        // came from the head, so the newest block is the bound (Prometheus's own rule).
        let min_valid_time = match dir::read_head_watermark(dir)? {
            Some(t) => t,
            None if dir.join(crate::head::WAL_DIR).exists() => {
                blocks.iter().map(|b| b.block.meta().max_time).max().unwrap_or(i64::MIN)
            }
            None => {
                dir::write_head_watermark(dir, i64::MIN)?;
                i64::MIN
            }
        };
        let head = Head::open(HeadOptions {
            dir: Some(dir.to_path_buf()),
            fsync: opts.fsync,
            chunk_range: opts.block_range_ms,
            out_of_order_window: opts.out_of_order_window_ms,
            label_limits: opts.label_limits.clone(),
            max_series: opts.max_series,
            min_valid_time,
            wal_segment_size: opts.wal_segment_size,
            wal_compression: opts.wal_compression,
            registry: opts.registry.clone(),
        })?;
        let compactor = Compactor::new(compaction_ranges(opts.block_range_ms, opts.retention_ms));
        let db = Arc::new(Db {
            dir: dir.to_path_buf(),
            opts,
            head,
            blocks: RwLock::new(Arc::new(blocks)),
            compactor,
            maintenance: Mutex::new(()),
            metrics,
            readers: Arc::default(),
            closed: AtomicBool::new(false),
            _lock: lock,
        });
        db.update_block_metrics();
        Ok(db)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// The metas of the loaded blocks, by min time.
    pub fn block_metas(&self) -> Vec<BlockMeta> {
        self.blocks.read().iter().map(|b| b.block.meta().clone()).collect()
    }

    /// The loaded blocks, by min time.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().iter().map(|b| b.block.clone()).collect()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) { Err(Error::Closed) } else { Ok(()) }
    }

    /// The periodic maintenance step at wall-clock time `now_ms` (injected, so tests need no
    /// sleeps): persist full block ranges of the head, compact, apply retention. Retention
    /// follows Prometheus and is measured from the newest block's max time, so `now_ms` only
    /// serves logging and future policies.
    pub fn maintain(&self, now_ms: Timestamp) -> Result<MaintainReport> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        let head_blocks = self.persist_head_locked()?;
        let compactions = self.compact_blocks_locked(None)?;
        let retention_deleted = self.apply_retention_locked()?;
        let report = MaintainReport { head_blocks, compactions, retention_deleted };
        tracing::debug!(now_ms, ?report, "storage maintenance done");
        Ok(report)
    }

    /// Persists full block ranges of the head while it spans more than 1.5 block ranges, then
    /// truncates it. Returns the number of blocks written.
    pub fn persist_head(&self) -> Result<usize> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        self.persist_head_locked()
    }

    /// Runs compaction plans until there is nothing left to do. Returns the compactions run.
    pub fn compact_blocks(&self) -> Result<usize> {
        self.compact_blocks_with_progress(None)
    }

    /// [`Db::compact_blocks`] reporting each compaction's progress (the CLI draws a bar).
    pub fn compact_blocks_with_progress(&self, progress: Option<ProgressFn<'_>>) -> Result<usize> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        self.compact_blocks_locked(progress)
    }

    /// Drops blocks beyond the time and size retention. Returns the number dropped.
    pub fn apply_retention(&self) -> Result<usize> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        self.apply_retention_locked()
    }

    fn head_compactable(&self) -> bool {
        let (min, max) = (self.head.min_time(), self.head.max_time());
        min != i64::MAX && max != i64::MIN && max.saturating_sub(min) > self.opts.block_range_ms / 2 * 3
    }

    fn persist_head_locked(&self) -> Result<usize> {
        let range = self.opts.block_range_ms;
        let mut written = 0;
        // Each round strictly raises the head's min time; the bound guards against a head that
        // does not move.
        for _ in 0..10_000 {
            if !self.head_compactable() {
                break;
            }
            let mint = self.head.min_time();
            let maxt = range_start(mint, range).saturating_add(range);
            self.persist_head_range_locked(mint, maxt, None)?;
            written += 1;
            // Queriers opened before the new block was loaded may still read this window
            // from the head.
            let pending = self.readers.overlapping(maxt);
            if !self.readers.wait_for(&pending, READER_WAIT) {
                tracing::warn!(
                    readers = pending.len(),
                    "head queriers still open after {READER_WAIT:?}; truncating anyway"
                );
            }
            self.head.truncate(maxt)?;
            self.metrics.head_truncations.inc();
            if self.head.min_time() <= mint {
                tracing::warn!(mint, "head min time did not advance after truncation; stopping");
                break;
            }
        }
        Ok(written)
    }

    /// Writes the head's samples with `mint <= t < maxt` as a level-1 block and loads it (the
    /// head is not truncated). Returns the new block's meta (`None` when the range holds no
    /// sample).
    pub fn persist_head_range(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Option<BlockMeta>> {
        self.check_open()?;
        if maxt <= mint {
            return Err(Error::InvalidArgument(format!("persist range [{mint}, {maxt}) is empty")));
        }
        let _g = self.maintenance.lock();
        self.persist_head_range_locked(mint, maxt, progress)
    }

    fn persist_head_range_locked(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Option<BlockMeta>> {
        let reader: Arc<dyn BlockReader> = Arc::new(self.head.range_reader(mint, maxt - 1));
        let out = self.run_compaction(&[reader], &[], mint, maxt, progress)?;
        let Some(out) = out else { return Ok(None) };
        let meta = out.meta.clone();
        self.add_block(out)?;
        // The block is durable: from now on the head need not keep (or replay) what it holds.
        let watermark = dir::read_head_watermark(&self.dir)?.unwrap_or(i64::MIN);
        if maxt > watermark {
            dir::write_head_watermark(&self.dir, maxt)?;
        }
        Ok(Some(meta))
    }

    fn run_compaction(
        &self,
        sources: &[Arc<dyn BlockReader>],
        parents: &[BlockMeta],
        mint: Timestamp,
        maxt: Timestamp,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Option<CompactOutput>> {
        let start = Instant::now();
        let r = self.compactor.compact(&self.dir, sources, parents, mint, maxt, progress);
        self.metrics.compaction_duration.observe(start.elapsed().as_secs_f64());
        match &r {
            Ok(_) => self.metrics.compactions.inc(),
            Err(e) => {
                self.metrics.compactions_failed.inc();
                tracing::error!(error = %e, mint, maxt, "compaction failed");
            }
        }
        r
    }

    fn add_block(&self, out: CompactOutput) -> Result<()> {
        let block = Arc::new(Block::open(&out.dir)?);
        let mut blocks: Vec<Arc<LoadedBlock>> = self.blocks.read().iter().cloned().collect();
        blocks.push(Arc::new(LoadedBlock { block, dir: out.dir }));
        sort_blocks(&mut blocks);
        *self.blocks.write() = Arc::new(blocks);
        self.update_block_metrics();
        Ok(())
    }

    fn compact_blocks_locked(&self, progress: Option<ProgressFn<'_>>) -> Result<usize> {
        let mut done = 0;
        for _ in 0..1000 {
            let blocks = self.blocks.read().clone();
            let plan_input: Vec<PlanBlock> = blocks
                .iter()
                .map(|b| {
                    let m = b.block.meta();
                    PlanBlock {
                        ulid: m.ulid,
                        min_time: m.min_time,
                        max_time: m.max_time,
                        num_series: m.stats.num_series,
                        num_tombstones: m.stats.num_tombstones,
                        failed: m.compaction.failed,
                    }
                })
                .collect();
            let plan = self.compactor.plan(&plan_input);
            if plan.is_empty() {
                break;
            }
            let chosen: Vec<Arc<LoadedBlock>> =
                plan.iter().filter_map(|u| blocks.iter().find(|b| b.block.meta().ulid == *u).cloned()).collect();
            let parents: Vec<BlockMeta> = chosen.iter().map(|b| b.block.meta().clone()).collect();
            let mint = parents.iter().map(|m| m.min_time).min().unwrap_or(0);
            let maxt = parents.iter().map(|m| m.max_time).max().unwrap_or(0);
            let sources: Vec<Arc<dyn BlockReader>> =
                chosen.iter().map(|b| b.block.clone() as Arc<dyn BlockReader>).collect();
            let out = match self.run_compaction(&sources, &parents, mint, maxt, progress) {
                Ok(out) => out,
                Err(e) => {
                    // As Prometheus: mark the inputs so leveled planning stops picking them.
                    self.mark_compaction_failed(&chosen);
                    return Err(e);
                }
            };
            if let Some(out) = out {
                self.add_block(out)?;
            }
            self.delete_blocks(&plan)?;
            done += 1;
        }
        Ok(done)
    }

    /// Sets `compaction.failed` in the meta.json of `blocks` and reloads them (best effort:
    /// failures are logged).
    fn mark_compaction_failed(&self, blocks: &[Arc<LoadedBlock>]) {
        let mut reloaded = Vec::new();
        for b in blocks {
            let mut meta = b.block.meta();
            meta.compaction.failed = true;
            let r = crate::block::write_meta(&b.dir, &meta).and_then(|_| Block::open(&b.dir));
            match r {
                Ok(block) => reloaded.push(Arc::new(LoadedBlock { block: Arc::new(block), dir: b.dir.clone() })),
                Err(e) => tracing::error!(block = %meta.ulid, error = %e, "cannot mark block as failed to compact"),
            }
        }
        let mut all: Vec<Arc<LoadedBlock>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| !reloaded.iter().any(|r| r.block.meta().ulid == b.block.meta().ulid))
            .cloned()
            .collect();
        all.extend(reloaded);
        sort_blocks(&mut all);
        *self.blocks.write() = Arc::new(all);
    }

    /// Rewrites every block that has tombstones without the deleted samples (Prometheus's
    /// `CleanTombstones`, behind `/api/v1/admin/tsdb/clean_tombstones`). Returns the number of
    /// blocks rewritten; a block whose samples were all deleted is just removed.
    pub fn clean_tombstones(&self) -> Result<usize> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        let blocks = self.blocks.read().clone();
        let mut n = 0;
        for b in blocks.iter() {
            let meta = b.block.meta();
            if meta.stats.num_tombstones == 0 {
                continue;
            }
            let source: Arc<dyn BlockReader> = b.block.clone();
            if let Some(out) =
                self.run_compaction(&[source], std::slice::from_ref(&meta), meta.min_time, meta.max_time, None)?
            {
                self.add_block(out)?;
            }
            self.delete_blocks(&[meta.ulid])?;
            n += 1;
        }
        Ok(n)
    }

    /// Unloads and deletes blocks.
    fn delete_blocks(&self, ulids: &[Ulid]) -> Result<()> {
        let (gone, keep): (Vec<Arc<LoadedBlock>>, Vec<Arc<LoadedBlock>>) =
            self.blocks.read().iter().cloned().partition(|b| ulids.contains(&b.block.meta().ulid));
        *self.blocks.write() = Arc::new(keep);
        for b in &gone {
            dir::remove_block_dir(&b.dir)?;
        }
        self.update_block_metrics();
        Ok(())
    }

    fn apply_retention_locked(&self) -> Result<usize> {
        let blocks = self.blocks.read().clone();
        let rb: Vec<RetentionBlock> = blocks.iter().map(|b| retention_block(b)).collect();
        let mut drop = retention::beyond_time_retention(&rb, self.opts.retention_ms);
        let head_bytes = dir_size(&self.dir.join(WAL_DIR)) + dir_size(&self.dir.join(CHUNKS_HEAD_DIR));
        drop.extend(retention::beyond_size_retention(&rb, head_bytes, self.opts.retention_bytes));
        if drop.is_empty() {
            return Ok(0);
        }
        let ulids: Vec<Ulid> = drop.into_iter().collect();
        tracing::info!(blocks = ?ulids, "deleting blocks beyond retention");
        self.delete_blocks(&ulids)?;
        self.metrics.retention_deletions.add(ulids.len() as u64);
        Ok(ulids.len())
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers`: tombstones in
    /// the head (logged to the WAL) and in every overlapping block.
    pub fn delete_series(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Result<()> {
        self.check_open()?;
        if mint > maxt {
            return Err(Error::InvalidArgument(format!("delete range start {mint} is after end {maxt}")));
        }
        let _g = self.maintenance.lock();
        let blocks = self.blocks.read().clone();
        for b in blocks.iter() {
            let m = b.block.meta();
            if m.min_time <= maxt && mint < m.max_time {
                b.block.delete(matchers, mint, maxt)?;
            }
        }
        self.head.delete(matchers, mint, maxt)
    }

    /// A consistent snapshot in `dest` (which must not exist): every block hard-linked (block
    /// files are never rewritten in place, so the links keep this moment's contents) and, with
    /// `with_head`, the head's samples written as one more block. The result is a directory of
    /// ordinary blocks: copied into an empty data dir it is a working database (Prometheus's
    /// `/api/v1/admin/tsdb/snapshot`). Returns the number of blocks in the snapshot.
    pub fn snapshot(&self, dest: &Path, with_head: bool) -> Result<usize> {
        self.check_open()?;
        let _g = self.maintenance.lock();
        if dest.exists() {
            return Err(Error::InvalidArgument(format!("snapshot directory {} exists", dest.display())));
        }
        let tmp = dest.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove stale snapshot", &tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create snapshot dir", &tmp, e))?;
        let written = self.snapshot_into(&tmp, with_head);
        if written.is_err() {
            // No half snapshot is left behind.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let n = written?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::io("rename snapshot dir", dest, e))?;
        if let Some(parent) = dest.parent() {
            crate::block::sync_dir(parent)?;
        }
        Ok(n)
    }

    /// The blocks and (optionally) the head of a snapshot, written into `tmp`.
    fn snapshot_into(&self, tmp: &Path, with_head: bool) -> Result<usize> {
        let blocks = self.blocks.read().clone();
        let mut n = 0;
        for b in blocks.iter() {
            let name = b.dir.file_name().ok_or_else(|| Error::Other(format!("block dir {}", b.dir.display())))?;
            link_tree(&b.dir, &tmp.join(name))?;
            n += 1;
        }
        if with_head && self.head.num_series() > 0 && self.head.max_time() >= self.head.min_time() {
            let (mint, maxt) = (self.head.min_time(), self.head.max_time());
            let reader: Arc<dyn BlockReader> = Arc::new(self.head.range_reader(mint, maxt));
            if self.compactor.compact(tmp, &[reader], &[], mint, maxt + 1, None)?.is_some() {
                n += 1;
            }
        }
        crate::block::sync_dir(tmp)?;
        Ok(n)
    }

    /// Flushes and closes: fsyncs the WAL and head chunk files (the head stays on disk for the
    /// next open) and stops accepting writes. Further reads and maintenance fail with
    /// [`Error::Closed`]; the lock is released when the last `Arc<Db>` is dropped. Dropping an
    /// open `Db` closes it too.
    pub fn close(&self) -> Result<()> {
        let _g = self.maintenance.lock();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.head.close()
    }

    fn update_block_metrics(&self) {
        let blocks = self.blocks.read();
        self.metrics.blocks_loaded.set(blocks.len() as f64);
        self.metrics.blocks_bytes.set(blocks.iter().map(|b| b.block.size()).sum::<u64>() as f64);
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel)
            && let Err(e) = self.head.close()
        {
            tracing::error!(error = %e, dir = %self.dir.display(), "closing the head on drop failed");
        }
    }
}

impl Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        self.check_open()?;
        // Register before taking the block snapshot: a head persist that loads its block after
        // this point waits for us before truncating the head.
        let guard = self.readers.register(mint);
        let mut qs: Vec<Box<dyn Querier>> = Vec::new();
        let blocks = self.blocks.read().clone();
        for b in blocks.iter() {
            let m = b.block.meta();
            // Block max time is exclusive.
            if m.min_time <= maxt && mint < m.max_time {
                qs.push(Box::new(BlockQuerier::new(&*b.block, mint, maxt)?));
            }
        }
        let (hmin, hmax) = (self.head.min_time(), self.head.max_time());
        let with_head = hmin != i64::MAX && hmin <= maxt && mint <= hmax;
        if with_head {
            let reader = self.head.range_reader(mint, maxt);
            qs.push(Box::new(BlockQuerier::new(&reader, mint, maxt)?));
        }
        let q: Box<dyn Querier> = if qs.len() == 1 { qs.remove(0) } else { Box::new(MergeQuerier::new(qs)) };
        if with_head { Ok(Box::new(GuardedQuerier { inner: q, guard })) } else { Ok(q) }
    }
}

impl Queryable for Arc<Db> {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>> {
        (**self).querier(mint, maxt)
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(self.head.appender())
    }
}

impl Appendable for Arc<Db> {
    fn appender(&self) -> Box<dyn Appender> {
        (**self).appender()
    }
}

/// Hard-links every file of `from` into a new tree at `to`.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("create snapshot dir", to, e))?;
    for e in std::fs::read_dir(from).map_err(|e| Error::io("read block dir", from, e))? {
        let e = e.map_err(|e| Error::io("read block dir", from, e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().map_err(|err| Error::io("stat", &src, err))?.is_dir() {
            link_tree(&src, &dst)?;
        } else {
            std::fs::hard_link(&src, &dst).map_err(|err| Error::io("link block file", &src, err))?;
        }
    }
    Ok(())
}

/// Start of the `range`-aligned window holding `t` (floor division, also for negative `t`).
pub fn range_start(t: Timestamp, range: i64) -> Timestamp {
    t.div_euclid(range) * range
}

fn sort_blocks(blocks: &mut [Arc<LoadedBlock>]) {
    blocks.sort_by(|a, b| {
        let (ma, mb) = (a.block.meta(), b.block.meta());
        (ma.min_time, ma.ulid).cmp(&(mb.min_time, mb.ulid))
    });
}

fn retention_block(b: &LoadedBlock) -> RetentionBlock {
    let m = b.block.meta();
    RetentionBlock {
        ulid: m.ulid,
        min_time: m.min_time,
        max_time: m.max_time,
        level: m.compaction.level,
        sources: m.compaction.sources.clone(),
        parents: m.compaction.parents.iter().map(|p| p.ulid).collect(),
        deletable: m.compaction.deletable,
        size: b.block.size(),
    }
}

/// Loads the blocks of `dir`: removes `.tmp` leftovers, skips (and logs) blocks that fail to
/// open, deletes superseded blocks.
fn load_blocks(dir: &Path, metrics: &DbMetrics) -> Result<Vec<Arc<LoadedBlock>>> {
    let scan = dir::scan(dir)?;
    let mut loaded = Vec::new();
    for (ulid, path) in scan.blocks {
        match Block::open(&path) {
            Ok(block) => {
                loaded.push(Arc::new(LoadedBlock { block: Arc::new(block), dir: path }));
            }
            Err(e) => {
                tracing::error!(block = %ulid, error = %e, "cannot open block; leaving it in place and skipping it");
            }
        }
    }
    let rb: Vec<RetentionBlock> = loaded.iter().map(|b| retention_block(b)).collect();
    let superseded = retention::superseded(&rb);
    let (gone, mut keep): (Vec<_>, Vec<_>) =
        loaded.into_iter().partition(|b| superseded.contains(&b.block.meta().ulid));
    for b in gone {
        tracing::info!(block = %b.block.meta().ulid, "deleting block superseded by a compacted block");
        dir::remove_block_dir(&b.dir)?;
    }
    sort_blocks(&mut keep);
    metrics.blocks_loaded.set(keep.len() as f64);
    Ok(keep)
}

#[cfg(test)]
mod tests;
