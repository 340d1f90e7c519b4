//! Persistent blocks: a directory `<ULID>/` holding `meta.json`, `index`, `chunks/` and
//! `tombstones`, in Prometheus's format (readable by `promtool tsdb` and Prometheus itself).
//!
//! [`Block::open`] maps the index and chunk segments and loads the tombstones; a block then
//! serves the same [`BlockReader`] contract as the head. Blocks are immutable except for
//! deletions: [`Block::delete`] adds tombstones, atomically rewriting the `tombstones` file and
//! the stats in `meta.json`. [`BlockWriter`] writes new blocks atomically (`<ULID>.tmp`, then a
//! rename). The byte layouts are in `docs/format/`.

mod meta;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use ulid::Ulid;

pub use meta::{
    BlockDesc, BlockMeta, BlockMetaCompaction, BlockStats, META_FILENAME, META_VERSION_1, read_meta, write_meta,
};
pub use writer::BlockWriter;

use crate::chunks::{CHUNKS_DIRNAME, ChunkFileReader};
use crate::error::{Error, Result};
use crate::index::{INDEX_FILENAME, IndexFileReader, postings_for_matchers};
use crate::matcher::Matcher;
use crate::reader::{BlockReader, ChunkReader, IndexReader, Interval, TombstoneReader};
use crate::storage::Timestamp;
use crate::tombstones::{MemTombstones, read_tombstones, write_tombstones};

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).map_err(|e| Error::io("open dir", dir, e))?;
    f.sync_all().map_err(|e| Error::io("fsync dir", dir, e))
}

/// An open on-disk block.
pub struct Block {
    dir: PathBuf,
    meta: RwLock<BlockMeta>,
    index: Arc<IndexFileReader>,
    chunks: Arc<ChunkFileReader>,
    tombstones: RwLock<Arc<MemTombstones>>,
    /// Bytes of meta.json and tombstones (they change on delete).
    small_files: RwLock<(u64, u64)>,
    /// Serializes deletions.
    delete_lock: Mutex<()>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("dir", &self.dir).field("ulid", &self.ulid()).finish()
    }
}

impl Block {
    /// Opens the block in `dir`.
    pub fn open(dir: &Path) -> Result<Block> {
        let (meta, meta_size) = read_meta(dir)?;
        let index = IndexFileReader::open(&dir.join(INDEX_FILENAME))?;
        let chunks = ChunkFileReader::open(&dir.join(CHUNKS_DIRNAME))?;
        let (tombstones, ts_size) = read_tombstones(dir)?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta: RwLock::new(meta),
            index: Arc::new(index),
            chunks: Arc::new(chunks),
            tombstones: RwLock::new(Arc::new(tombstones)),
            small_files: RwLock::new((meta_size, ts_size)),
            delete_lock: Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A copy of the current meta.
    pub fn meta(&self) -> BlockMeta {
        self.meta.read().clone()
    }

    pub fn ulid(&self) -> Ulid {
        self.meta.read().ulid
    }

    /// The concrete index reader (for callers that need more than the trait).
    pub fn index_reader(&self) -> &Arc<IndexFileReader> {
        &self.index
    }

    /// The concrete chunk reader.
    pub fn chunk_reader(&self) -> &Arc<ChunkFileReader> {
        &self.chunks
    }

    /// Bytes on disk: index + chunk segments + tombstones + meta.json.
    pub fn size(&self) -> u64 {
        let (m, t) = *self.small_files.read();
        self.index.size() + self.chunks.size() + m + t
    }

    /// Does the block's range `[min, max)` overlap the inclusive range `[mint, maxt]`?
    pub fn overlaps(&self, mint: Timestamp, maxt: Timestamp) -> bool {
        let m = self.meta.read();
        m.min_time <= maxt && mint < m.max_time
    }

    /// Marks samples of the series matching `matchers` in `[mint, maxt]` (inclusive) deleted.
    /// The tombstones file and meta.json are rewritten atomically. Returns the number of series
    /// that got a new tombstone.
    pub fn delete(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Result<u64> {
        if mint > maxt {
            return Err(Error::InvalidArgument(format!("delete range [{mint}, {maxt}] is empty")));
        }
        let _guard = self.delete_lock.lock();
        let ids = postings_for_matchers(self.index.as_ref(), matchers)?;
        let stones = MemTombstones::clone(&self.tombstones.read());
        let mut chunks = Vec::new();
        let mut touched = 0;
        for id in ids {
            self.index.series(id, &mut chunks)?;
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else {
                continue;
            };
            if chunks.iter().any(|c| c.min_time <= maxt && mint <= c.max_time) {
                // Clamp to the series' data so tombstones stay small.
                stones.add(id, Interval { mint: mint.max(first.min_time), maxt: maxt.min(last.max_time) });
                touched += 1;
            }
        }
        let ts_size = write_tombstones(&self.dir, &stones)?;
        let mut meta = self.meta.read().clone();
        meta.stats.num_tombstones = stones.total();
        let meta_size = write_meta(&self.dir, &meta)?;
        *self.meta.write() = meta;
        *self.tombstones.write() = Arc::new(stones);
        *self.small_files.write() = (meta_size, ts_size);
        Ok(touched)
    }
}

impl BlockReader for Block {
    fn min_time(&self) -> Timestamp {
        self.meta.read().min_time
    }

    /// The last millisecond the block may hold: meta.json's `maxTime` is exclusive.
    fn max_time(&self) -> Timestamp {
        self.meta.read().max_time - 1
    }

    fn index(&self) -> Result<Arc<dyn IndexReader>> {
        Ok(self.index.clone())
    }

    fn chunks(&self) -> Result<Arc<dyn ChunkReader>> {
        Ok(self.chunks.clone())
    }

    fn tombstones(&self) -> Result<Arc<dyn TombstoneReader>> {
        Ok(self.tombstones.read().clone())
    }
}

#[cfg(test)]
mod tests;
