//! The head: the in-memory, appendable part of the database.
//!
//! - Series are found by the 64-bit hash of their labels in sharded maps (so appenders on
//!   different threads rarely contend) and numbered by `u32` ids that are never reused. Each
//!   series lives behind its own mutex in pages of 1024 slots ([`MemSeries`]).
//! - Labels are stored as `u32` symbol ids into a reference-counted head symbol table; postings
//!   map label pairs to roaring bitmaps of ids (`head/postings.rs`).
//! - Samples go through an [`Appender`] (`head/appender.rs`): staged, checked per sample,
//!   written to the WAL in one call at commit, and only then applied and visible.
//! - Full chunks are written to `chunks_head/` (`head/chunk_mapper.rs`) and dropped from the heap
//!   (a head without a directory keeps them on the heap); the WAL and those files are read back
//!   at [`Head::open`] (`head/replay.rs`). Out-of-order samples stay in memory (and the WAL).
//! - Memory: about 0.5 KB per series with 240 samples (1M series, 1 h at 15 s, measured by
//!   `TICKDB_HEAD_RSS=1 cargo bench -p tickdb-storage --bench head`), most of it the open chunk.
//! - [`HeadRangeReader`] serves a time range of the head through the same
//!   [`crate::reader::BlockReader`] traits as an on-disk block (`head/reader.rs`).
//! - [`Head::truncate`] drops data persisted in blocks, garbage-collects empty series and
//!   checkpoints the WAL; [`Head::delete`] records tombstones.
//!
//! Lock order (never taken the other way round): `gc` → hash shard → series slot → symbols →
//! postings; the chunk files' and WAL's own locks are innermost.

mod appender;
pub(crate) mod chunk_mapper;
mod postings;
mod reader;
mod replay;
pub(crate) mod series;
mod stats;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::chunkenc::XorEncoder;
use crate::error::{AppendError, Error, Result};
use crate::labels::{Label, LabelLimits, Labels};
use crate::matcher::Matcher;
use crate::metrics::{Counter, Gauge, Registry};
use crate::reader::Interval;
use crate::storage::{Appendable, Appender, Timestamp};
use crate::wal::{FsyncPolicy, Wal};

pub use appender::HeadAppender;
use chunk_mapper::{ChunkDiskMapper, ChunkStore};
use postings::{FxMap, MemPostings, SymbolPairs, Symbols};
pub use reader::{HeadChunkReader, HeadIndexReader, HeadRangeReader, HeadTombstoneReader};
use series::MemSeries;
pub use stats::{HeadStats, StatEntry};

/// Default chunk range: 2 hours in milliseconds.
pub const DEFAULT_CHUNK_RANGE: i64 = 2 * 3600 * 1000;
/// Number of hash shards (a power of two).
const HASH_SHARDS: usize = 64;
const PAGE_BITS: u32 = 10;
const PAGE_SIZE: usize = 1 << PAGE_BITS;
/// Name of the head chunk directory inside the data dir.
pub const CHUNKS_HEAD_DIR: &str = "chunks_head";
/// Name of the WAL directory inside the data dir.
pub const WAL_DIR: &str = "wal";

/// How a head is set up.
#[derive(Clone)]
pub struct HeadOptions {
    /// Data directory (holding `wal/` and `chunks_head/`); `None` keeps everything in memory
    /// with no WAL (tests, `rules test`).
    pub dir: Option<PathBuf>,
    /// When WAL writes are fsync'd.
    pub fsync: FsyncPolicy,
    /// Width of the chunk-range windows in ms (chunks never span a window boundary).
    pub chunk_range: i64,
    /// How far (ms) behind a series' newest sample a sample may still be accepted; 0 = none.
    pub out_of_order_window: i64,
    pub label_limits: LabelLimits,
    /// Maximum number of series; 0 = unlimited.
    pub max_series: usize,
    /// Samples older than this are out of bounds, and skipped when replaying the WAL: the max
    /// time of the newest persisted block (`i64::MIN` when there is none).
    pub min_valid_time: Timestamp,
    /// WAL segment size in bytes (a multiple of the 32 KiB page size).
    pub wal_segment_size: usize,
    /// Snappy-compress WAL records.
    pub wal_compression: bool,
    pub registry: Registry,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            dir: None,
            fsync: FsyncPolicy::Always,
            chunk_range: DEFAULT_CHUNK_RANGE,
            out_of_order_window: 0,
            label_limits: LabelLimits::default(),
            max_series: 0,
            min_valid_time: i64::MIN,
            wal_segment_size: crate::wal::DEFAULT_SEGMENT_SIZE,
            wal_compression: true,
            registry: Registry::default(),
        }
    }
}

impl std::fmt::Debug for HeadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadOptions")
            .field("dir", &self.dir)
            .field("chunk_range", &self.chunk_range)
            .field("out_of_order_window", &self.out_of_order_window)
            .field("max_series", &self.max_series)
            .field("wal_segment_size", &self.wal_segment_size)
            .finish_non_exhaustive()
    }
}

/// A page of series slots.
struct Page {
    slots: Box<[Mutex<Option<MemSeries>>]>,
    live: AtomicU32,
}

/// Number of page-table shards. Page `p` is entry `p` of shard `hash(p) % PAGE_SHARDS` (a
/// shard's vector is sparse: 8 bytes per 1024 series per shard), so appenders working on
/// different pages rarely share a lock word, even when their pages are a fixed distance apart.
const PAGE_SHARDS: usize = 16;

/// One shard of the page table: page index → page (sparse).
type PageShard = RwLock<Vec<Option<Arc<Page>>>>;

/// Series by id, in pages of [`PAGE_SIZE`] slots.
struct SeriesStore {
    shards: Box<[PageShard]>,
}

impl Default for SeriesStore {
    fn default() -> Self {
        SeriesStore { shards: (0..PAGE_SHARDS).map(|_| RwLock::default()).collect() }
    }
}

/// (shard, index in shard) of the page holding `id`.
fn page_pos(id: u32) -> (usize, usize) {
    let p = id >> PAGE_BITS;
    ((p.wrapping_mul(0x9E37_79B9) >> 28) as usize % PAGE_SHARDS, p as usize)
}

impl SeriesStore {
    fn page(&self, id: u32) -> Option<Arc<Page>> {
        let (sh, i) = page_pos(id);
        self.shards[sh].read_recursive().get(i).cloned().flatten()
    }

    /// Runs `f` on series `id` under its lock; `None` if there is no such series.
    ///
    /// Holds the page-table shard's read lock (recursively acquirable, so it never waits behind
    /// a queued writer) instead of cloning the page's `Arc`: one shared atomic per call instead
    /// of three. `f` must not call back into the store.
    fn with<R>(&self, id: u32, f: impl FnOnce(&mut MemSeries) -> R) -> Option<R> {
        let (sh, i) = page_pos(id);
        let pages = self.shards[sh].read_recursive();
        let page = pages.get(i)?.as_ref()?;
        let mut slot = page.slots[id as usize & (PAGE_SIZE - 1)].lock();
        slot.as_mut().map(f)
    }

    fn insert(&self, id: u32, s: MemSeries) {
        let page = match self.page(id) {
            Some(page) => page,
            None => {
                let (sh, i) = page_pos(id);
                let mut pages = self.shards[sh].write();
                if pages.len() <= i {
                    pages.resize(i + 1, None);
                }
                pages[i]
                    .get_or_insert_with(|| {
                        Arc::new(Page {
                            slots: (0..PAGE_SIZE).map(|_| Mutex::new(None)).collect(),
                            live: AtomicU32::new(0),
                        })
                    })
                    .clone()
            }
        };
        let mut slot = page.slots[id as usize & (PAGE_SIZE - 1)].lock();
        if slot.replace(s).is_none() {
            page.live.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes series `id`; frees its page when empty and no later id can land in it.
    fn remove(&self, id: u32, next_id: u32) -> Option<MemSeries> {
        let page = self.page(id)?;
        let s = page.slots[id as usize & (PAGE_SIZE - 1)].lock().take()?;
        let p = (id >> PAGE_BITS) as usize;
        if page.live.fetch_sub(1, Ordering::Relaxed) == 1 && ((p + 1) << PAGE_BITS) as u64 <= next_id as u64 {
            let (sh, i) = page_pos(id);
            let mut pages = self.shards[sh].write();
            if let Some(slot) = pages.get_mut(i)
                && slot.as_ref().is_some_and(|pg| pg.live.load(Ordering::Relaxed) == 0)
            {
                *slot = None;
            }
        }
        Some(s)
    }

    /// The pages, in id order, with their page numbers.
    fn numbered_pages(&self) -> Vec<(usize, Arc<Page>)> {
        let mut pages: Vec<(usize, Arc<Page>)> = Vec::new();
        for shard in self.shards.iter() {
            for (i, p) in shard.read().iter().enumerate() {
                if let Some(p) = p {
                    pages.push((i, p.clone()));
                }
            }
        }
        pages.sort_by_key(|(p, _)| *p);
        pages
    }

    /// The pages, in id order.
    fn pages(&self) -> impl Iterator<Item = Arc<Page>> {
        self.numbered_pages().into_iter().map(|(_, p)| p)
    }

    /// All live ids, ascending.
    fn ids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (p, page) in self.numbered_pages() {
            for (j, slot) in page.slots.iter().enumerate() {
                if slot.lock().is_some() {
                    out.push(((p << PAGE_BITS) | j) as u32);
                }
            }
        }
        out
    }
}

/// Hash → series id, with rare key collisions in a side map.
/// Keyed by the low 32 bits of the label hash (the shard is chosen by the high bits); equal
/// keys are told apart by comparing labels.
#[derive(Default)]
struct HashShard {
    map: FxMap<u32, u32>,
    collisions: FxMap<u32, Vec<u32>>,
}

impl HashShard {
    fn candidates(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let hash = hash as u32;
        self.map.get(&hash).copied().into_iter().chain(self.collisions.get(&hash).into_iter().flatten().copied())
    }
    fn insert(&mut self, hash: u64, id: u32) {
        let hash = hash as u32;
        if let std::collections::hash_map::Entry::Vacant(e) = self.map.entry(hash) {
            e.insert(id);
        } else {
            self.collisions.entry(hash).or_default().push(id);
        }
    }
    fn remove(&mut self, hash: u64, id: u32) {
        let hash = hash as u32;
        if self.map.get(&hash) == Some(&id) {
            self.map.remove(&hash);
            if let Some(v) = self.collisions.get_mut(&hash) {
                if let Some(next) = v.pop() {
                    self.map.insert(hash, next);
                }
                if v.is_empty() {
                    self.collisions.remove(&hash);
                }
            }
        } else if let Some(v) = self.collisions.get_mut(&hash) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.collisions.remove(&hash);
            }
        }
    }
}

pub(crate) struct HeadMetrics {
    series: Arc<Gauge>,
    chunks: Arc<Gauge>,
    series_created: Arc<Counter>,
    series_removed: Arc<Counter>,
    samples_appended: Arc<Counter>,
    ooo_appended: Arc<Counter>,
    min_time: Arc<Gauge>,
    max_time: Arc<Gauge>,
    /// `tickdb_samples_rejected_total` by reason, created up front.
    rejected: Vec<(&'static str, Arc<Counter>)>,
    registry: Registry,
}

impl HeadMetrics {
    fn new(r: &Registry) -> Self {
        // Every rejection reason up front, so the family renders with zeros.
        let rejected = [
            AppendError::OutOfOrder,
            AppendError::OutOfBounds,
            AppendError::DuplicateSampleForTimestamp,
            AppendError::InvalidLabels(crate::labels::LabelError::EmptyName),
            AppendError::TooManySeries,
            AppendError::Closed,
        ]
        .iter()
        .map(|e| (e.reason(), r.counter_with(REJECTED, REJECTED_HELP, &[("reason", e.reason())])))
        .collect();
        HeadMetrics {
            rejected,
            series: r.gauge("tickdb_head_series", "Number of series in the head."),
            chunks: r.gauge("tickdb_head_chunks", "Number of chunks in the head."),
            series_created: r.counter("tickdb_head_series_created_total", "Series created in the head."),
            series_removed: r.counter("tickdb_head_series_removed_total", "Series removed from the head."),
            samples_appended: r.counter("tickdb_samples_appended_total", "Samples appended to the head."),
            ooo_appended: r.counter(
                "tickdb_head_out_of_order_samples_appended_total",
                "Out-of-order samples appended to the head.",
            ),
            min_time: r.gauge("tickdb_head_min_time", "Lowest timestamp in the head (ms)."),
            max_time: r.gauge("tickdb_head_max_time", "Highest timestamp in the head (ms)."),
            registry: r.clone(),
        }
    }

    fn rejected(&self, e: &AppendError) {
        let reason = e.reason();
        match self.rejected.iter().find(|(r, _)| *r == reason) {
            Some((_, c)) => c.inc(),
            None => self.registry.counter_with(REJECTED, REJECTED_HELP, &[("reason", reason)]).inc(),
        }
    }
}

const REJECTED: &str = "tickdb_samples_rejected_total";
const REJECTED_HELP: &str = "Samples rejected by the head, by reason.";

/// The in-memory head. Share it as `Arc<Head>`; it is `Send + Sync`.
pub struct Head {
    opts: HeadOptions,
    symbols: RwLock<Symbols>,
    postings: RwLock<MemPostings>,
    shards: Box<[RwLock<HashShard>]>,
    series: SeriesStore,
    next_id: AtomicU32,
    num_series: AtomicU64,
    num_chunks: AtomicI64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples older than this are out of bounds (the max time of the newest persisted block).
    min_valid_time: AtomicI64,
    tombstones: RwLock<FxMap<u32, Vec<Interval>>>,
    wal: Option<Wal>,
    chunks: ChunkStore,
    /// Commits hold it shared; garbage collection exclusively (so a commit never applies samples
    /// to a series being removed).
    gc: RwLock<()>,
    /// Distinguishes appenders, so a pending-series hint of one is not taken by another.
    appender_seq: AtomicU32,
    metrics: HeadMetrics,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head").field("opts", &self.opts).field("num_series", &self.num_series()).finish_non_exhaustive()
    }
}

/// Do the symbol-id pairs spell `labels`?
fn labels_equal(pairs: &SymbolPairs, labels: &Labels, syms: &Symbols) -> bool {
    pairs.num_pairs() == labels.len()
        && pairs
            .pairs()
            .zip(labels.iter())
            .all(|((n, v), l)| **syms.resolve(n) == *l.name && **syms.resolve(v) == *l.value)
}

fn pairs_to_labels(pairs: &SymbolPairs, syms: &Symbols) -> Labels {
    Labels::from_sorted(
        pairs.pairs().map(|(n, v)| Label { name: syms.resolve(n).clone(), value: syms.resolve(v).clone() }).collect(),
    )
}

impl Head {
    /// Opens a head: in memory when `opts.dir` is `None`, otherwise reading back the head chunk
    /// files and replaying the WAL of `dir`.
    pub fn open(opts: HeadOptions) -> Result<Arc<Head>> {
        replay::open(opts)
    }

    fn new_empty(opts: HeadOptions, wal: Option<Wal>, chunks: Option<ChunkDiskMapper>) -> Head {
        let metrics = HeadMetrics::new(&opts.registry);
        Head {
            symbols: RwLock::default(),
            postings: RwLock::default(),
            shards: (0..HASH_SHARDS).map(|_| RwLock::default()).collect(),
            series: SeriesStore::default(),
            next_id: AtomicU32::new(1),
            num_series: AtomicU64::new(0),
            num_chunks: AtomicI64::new(0),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            tombstones: RwLock::default(),
            wal,
            chunks: ChunkStore::new(chunks),
            gc: RwLock::new(()),
            appender_seq: AtomicU32::new(0),
            metrics,
            opts,
        }
    }

    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// A new appender (the same as [`Appendable::appender`] on `Arc<Head>`).
    pub fn appender(self: &Arc<Self>) -> HeadAppender {
        HeadAppender::new(self.clone())
    }

    /// Number of series in the head.
    /// Copies every series' open chunk and label ids into fresh allocations, a batch at a
    /// time, freeing the old ones after each batch; returns the number of series visited.
    ///
    /// Open chunks grow a few bytes at a time and move up the allocator's size classes. The
    /// holes they leave keep mostly empty pages resident: after five minutes of remote write
    /// that was a quarter of the process's memory. New allocations go to the fullest (oldest)
    /// pages first, so copying packs the live data into few pages and lets the emptied ones go.
    /// The old copies are freed in batches on a helper thread, which keeps the extra memory
    /// small (a few batches of 8192 series, about 1.5 MB) and the freed holes out of this
    /// thread's allocator cache. Costs about 50 ns per series; the server runs it when its
    /// allocator reports fragmentation.
    pub fn compact_memory(&self) -> usize {
        const BATCH: usize = 8192;
        type Old = Vec<(Option<XorEncoder>, SymbolPairs)>;
        let mut visited = 0;
        std::thread::scope(|scope| {
            // The old copies are freed on another thread: freed here, they would sit in this
            // thread's allocator cache and the next batch's copies would be put right back
            // into the same holes.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Old>(1);
            // If no thread can be started, the sends below fail and hand each batch back,
            // to be freed here: a less effective compaction, not a failed one.
            let _ = std::thread::Builder::new()
                .name("head-compact-free".into())
                .spawn_scoped(scope, move || rx.into_iter().for_each(drop));
            let mut old: Old = Vec::with_capacity(BATCH);
            for page in self.series.pages() {
                for slot in page.slots.iter() {
                    if let Some(s) = slot.lock().as_mut() {
                        let enc = s.open.as_mut().map(|enc| {
                            let copy = enc.clone();
                            std::mem::replace(enc, copy)
                        });
                        let labels = s.labels.clone();
                        old.push((enc, std::mem::replace(&mut s.labels, labels)));
                        visited += 1;
                    }
                    if old.len() == BATCH {
                        // The receiver only stops when this sender is gone.
                        let _ = tx.send(std::mem::replace(&mut old, Vec::with_capacity(BATCH)));
                    }
                }
            }
            let _ = tx.send(old);
        });
        visited
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    /// Number of chunks (full and open) in the head.
    pub fn num_chunks(&self) -> u64 {
        self.num_chunks.load(Ordering::Relaxed).max(0) as u64
    }

    /// Lowest sample timestamp in the head (`i64::MAX` when empty).
    pub fn min_time(&self) -> Timestamp {
        self.min_time.load(Ordering::Relaxed)
    }

    /// Highest sample timestamp in the head (`i64::MIN` when empty).
    pub fn max_time(&self) -> Timestamp {
        self.max_time.load(Ordering::Relaxed)
    }

    /// Samples older than this are rejected as out of bounds.
    pub fn min_valid_time(&self) -> Timestamp {
        self.min_valid_time.load(Ordering::Relaxed)
    }

    /// Raises the min valid time (e.g. to the max time of the newest block at startup).
    pub fn set_min_valid_time(&self, t: Timestamp) {
        self.min_valid_time.fetch_max(t, Ordering::Relaxed);
    }

    /// A reader over `[mint, maxt]` (inclusive), usable like a block.
    pub fn range_reader(self: &Arc<Self>, mint: Timestamp, maxt: Timestamp) -> HeadRangeReader {
        HeadRangeReader::new(self.clone(), mint, maxt)
    }

    fn shard(&self, hash: u64) -> &RwLock<HashShard> {
        &self.shards[(hash >> 58) as usize % HASH_SHARDS]
    }

    /// The id of the series with exactly `labels`, if it exists.
    pub(crate) fn lookup(&self, labels: &Labels, hash: u64) -> Option<u32> {
        let shard = self.shard(hash).read();
        shard.candidates(hash).find(|&id| {
            self.series.with(id, |s| labels_equal(&s.labels, labels, &self.symbols.read())).unwrap_or(false)
        })
    }

    /// Returns the id of the series with `labels`, creating it (with id `want`, if given, as
    /// during replay) when missing. `Ok((id, created))`.
    pub(crate) fn get_or_create(
        &self,
        labels: &Labels,
        hash: u64,
        want: Option<u32>,
    ) -> Result<(u32, bool), AppendError> {
        let mut shard = self.shard(hash).write();
        if let Some(id) = shard.candidates(hash).find(|&id| {
            self.series.with(id, |s| labels_equal(&s.labels, labels, &self.symbols.read())).unwrap_or(false)
        }) {
            return Ok((id, false));
        }
        if self.opts.max_series > 0
            && self.num_series.load(Ordering::Relaxed) >= self.opts.max_series as u64
            && want.is_none()
        {
            return Err(AppendError::TooManySeries);
        }
        let id = match want {
            Some(id) => {
                self.next_id.fetch_max(id.saturating_add(1), Ordering::Relaxed);
                id
            }
            // Ids are never reused; after 2^32 - 1 series creations the head is full.
            None => match self.next_id.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1)) {
                Ok(id) => id,
                Err(_) => return Err(AppendError::TooManySeries),
            },
        };
        let pairs: Vec<u32> = {
            let mut syms = self.symbols.write();
            let mut v = Vec::with_capacity(labels.len() * 2);
            for l in labels.iter() {
                v.push(syms.acquire(&l.name));
                v.push(syms.acquire(&l.value));
            }
            v
        };
        self.postings.write().add(id, &pairs);
        self.series.insert(id, MemSeries::new(SymbolPairs::new(&pairs)));
        shard.insert(hash, id);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        self.metrics.series.inc();
        self.metrics.series_created.inc();
        Ok((id, true))
    }

    /// Removes series `id` (its data must be gone already) from every index.
    fn remove_series(&self, id: u32) {
        let Some(s) = self.series.remove(id, self.next_id.load(Ordering::Relaxed)) else { return };
        s.closed.iter().for_each(|c| self.chunks.free(c.r));
        let labels = pairs_to_labels(&s.labels, &self.symbols.read());
        self.shard(labels.hash64()).write().remove(labels.hash64(), id);
        let ids = s.labels.to_vec();
        self.postings.write().remove(id, &ids);
        {
            let mut syms = self.symbols.write();
            for &sym in &ids {
                syms.release(sym);
            }
        }
        self.tombstones.write().remove(&id);
        self.num_chunks.fetch_sub(s.num_chunks() as i64, Ordering::Relaxed);
        self.num_series.fetch_sub(1, Ordering::Relaxed);
        self.metrics.series.dec();
        self.metrics.series_removed.inc();
    }

    /// The labels of series `id`.
    pub fn series_labels(&self, id: u32) -> Option<Labels> {
        let syms = &self.symbols;
        self.series.with(id, |s| pairs_to_labels(&s.labels, &syms.read()))
    }

    /// Widens the head's time range to include `t`. Loads first: the shared cache lines are
    /// written only when the range actually grows.
    fn note_time(&self, t: Timestamp) {
        if t < self.min_time.load(Ordering::Relaxed) && self.min_time.fetch_min(t, Ordering::Relaxed) > t {
            self.metrics.min_time.set(t as f64);
        }
        if t > self.max_time.load(Ordering::Relaxed) && self.max_time.fetch_max(t, Ordering::Relaxed) < t {
            self.metrics.max_time.set(t as f64);
        }
    }

    fn chunk_created(&self, n: i64) {
        self.num_chunks.fetch_add(n, Ordering::Relaxed);
        self.metrics.chunks.add(n as f64);
    }

    /// Applies one checked sample to series `id` (commit and replay). Re-checks it against the
    /// series as it is now; returns whether it was stored (`Err` for a rejection).
    ///
    /// The sample is already in the WAL and was checked against the out-of-order window when it
    /// was staged, so it is never rejected as out of order here: if a concurrent commit to the
    /// same series got ahead of it in the meantime, it goes to the out-of-order buffer, exactly
    /// as WAL replay would put it. (Dropping it would lose a sample whose commit is
    /// acknowledged, and make the head disagree with its own WAL.)
    pub(crate) fn apply_sample(&self, id: u32, t: Timestamp, v: f64) -> Result<bool, AppendError> {
        let window = i64::MAX;
        let range = self.opts.chunk_range;
        let r = self.series.with(id, |s| {
            let had_open = s.open.is_some();
            match s.check(t, v, window, None)? {
                series::Verdict::InOrder => {
                    let cut = s.append(id, t, v, range, &self.chunks);
                    Ok((true, false, usize::from(cut || !had_open)))
                }
                series::Verdict::OutOfOrder => Ok((s.insert_ooo(t, v), true, 0)),
                series::Verdict::Duplicate => Ok((false, false, 0)),
            }
        });
        match r {
            None => Err(AppendError::Closed),
            Some(Err(e)) => Err(e),
            Some(Ok((stored, ooo, new_chunks))) => {
                if new_chunks > 0 {
                    self.chunk_created(new_chunks as i64);
                }
                if stored {
                    self.note_time(t);
                    if ooo {
                        self.metrics.ooo_appended.inc();
                    }
                }
                Ok(stored)
            }
        }
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers` (tombstones,
    /// also written to the WAL).
    pub fn delete(self: &Arc<Self>, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Result<()> {
        if mint > maxt {
            return Err(Error::InvalidArgument(format!("delete range start {mint} is after end {maxt}")));
        }
        let ix = HeadIndexReader::new(self.clone(), i64::MIN, i64::MAX);
        let ids = crate::index::postings_for_matchers(&ix, matchers)?;
        let iv = Interval { mint, maxt };
        let ids: Vec<u32> = ids.iter().collect();
        if let Some(wal) = &self.wal {
            replay::log_tombstones(wal, &ids, iv)?;
        }
        let mut ts = self.tombstones.write();
        for id in ids {
            add_interval(ts.entry(id).or_default(), iv);
        }
        Ok(())
    }

    /// Drops everything older than `mint` (persisted in a block by now): raises the min valid
    /// time, drops old chunks, removes series left without data, deletes unreferenced head chunk
    /// files and checkpoints the WAL.
    pub fn truncate(&self, mint: Timestamp) -> Result<()> {
        self.set_min_valid_time(mint);
        let mut dropped_chunks = 0i64;
        let mut min_seq: Option<u32> = None;
        let mut new_min = i64::MAX;
        let mut dead = Vec::new();
        {
            let _gc = self.gc.write();
            for id in self.series.ids() {
                let r = self.series.with(id, |s| {
                    let d = s.truncate_before(mint, &self.chunks);
                    (d, s.is_empty(), s.min_mapped_seq(), s.min_time())
                });
                let Some((d, empty, seq, smin)) = r else { continue };
                dropped_chunks += d as i64;
                if empty {
                    dead.push(id);
                }
                if let Some(seq) = seq {
                    min_seq = Some(min_seq.map_or(seq, |m| m.min(seq)));
                }
                if let Some(t) = smin {
                    new_min = new_min.min(t);
                }
            }
            self.num_chunks.fetch_sub(dropped_chunks, Ordering::Relaxed);
            for &id in &dead {
                self.remove_series(id);
            }
            {
                let mut ts = self.tombstones.write();
                ts.retain(|_, ivs| {
                    ivs.retain(|iv| iv.maxt >= mint);
                    !ivs.is_empty()
                });
            }
        }
        self.metrics.chunks.set(self.num_chunks() as f64);
        self.min_time.store(new_min, Ordering::Relaxed);
        if new_min != i64::MAX {
            self.metrics.min_time.set(new_min as f64);
        }
        if self.num_series() == 0 {
            self.max_time.store(i64::MIN, Ordering::Relaxed);
        }
        if let Some(m) = &self.chunks.disk {
            let keep = min_seq.unwrap_or_else(|| m.active_seq());
            m.delete_before(keep)?;
        }
        if let Some(wal) = &self.wal {
            replay::checkpoint(self, wal, mint)?;
        }
        tracing::debug!(mint, removed_series = dead.len(), dropped_chunks, "head truncated");
        Ok(())
    }

    /// Fsyncs the head chunk file being written (the WAL is durable per its fsync policy,
    /// and fully on close).
    pub fn sync(&self) -> Result<()> {
        if let Some(m) = &self.chunks.disk {
            m.sync()?;
        }
        Ok(())
    }

    /// Makes the WAL durable and stops accepting writes (appends then fail at commit).
    pub fn close(&self) -> Result<()> {
        self.sync()?;
        if let Some(w) = &self.wal {
            w.close()?;
        }
        Ok(())
    }
}

/// Adds `iv` to sorted, non-overlapping intervals, merging overlapping and adjacent ones.
pub(crate) fn add_interval(ivs: &mut Vec<Interval>, iv: Interval) {
    ivs.push(iv);
    ivs.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(ivs.len());
    for iv in ivs.drain(..) {
        match out.last_mut() {
            Some(last) if iv.mint <= last.maxt.saturating_add(1) => last.maxt = last.maxt.max(iv.maxt),
            _ => out.push(iv),
        }
    }
    *ivs = out;
}

impl Appendable for Arc<Head> {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(HeadAppender::new(self.clone()))
    }
}
