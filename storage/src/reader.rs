//! The block-reader contract shared by the head and on-disk blocks.
//!
//! Prometheus's best idea, kept: the in-memory head answers through the same traits as an
//! immutable block, so one querier ([`crate::querier`]) and one compactor ([`crate::compact`])
//! serve both. Series are numbered by `u32` ids (a block's id is its series entry offset / 16, a
//! head's id its series ref); postings lists are roaring bitmaps of those ids.

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::labels::Labels;
use crate::storage::Timestamp;

/// Where a chunk lives and what time span it covers (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Block: `segment << 32 | offset` as in Prometheus. Head: head-specific encoding.
    pub chunk_ref: u64,
    pub min_time: Timestamp,
    pub max_time: Timestamp,
}

/// A closed time interval `[mint, maxt]` (ms), used by tombstones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub mint: Timestamp,
    pub maxt: Timestamp,
}

impl Interval {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// The index of a block or of the head.
pub trait IndexReader: Send + Sync {
    /// All symbols (label names and values), sorted and unique.
    fn symbols(&self) -> Result<Vec<String>>;
    /// The ids of series with label `name="value"`.
    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap>;
    /// The ids of all series.
    fn all_postings(&self) -> Result<RoaringBitmap>;
    /// Sorted label names.
    fn label_names(&self) -> Result<Vec<String>>;
    /// Sorted values of a label name.
    fn label_values(&self, name: &str) -> Result<Vec<String>>;
    /// Labels of series `id`; its chunk metas are appended to `chunks` (cleared first), sorted
    /// by min time. Chunks may overlap (out-of-order data, the head's open chunk).
    fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels>;
    /// The ids in label-set order (a block's ids already are; the head sorts).
    fn sorted_ids(&self, ids: &RoaringBitmap) -> Result<Vec<u32>>;
}

/// Encoded chunk bytes plus their encoding (1 = XOR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkData {
    pub encoding: u8,
    pub bytes: Vec<u8>,
}

/// Reads chunks by [`ChunkMeta::chunk_ref`].
pub trait ChunkReader: Send + Sync {
    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData>;

    /// Lends the chunk's encoding and bytes to `f` and returns what `f` returns. Readers that
    /// can hand out their bytes without copying (an on-disk block lends a slice of its memory
    /// map) override this; the default reads the chunk with [`ChunkReader::chunk`].
    fn with_chunk(&self, meta: &ChunkMeta, f: &mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<()> {
        let c = self.chunk(meta)?;
        f(c.encoding, &c.bytes)
    }
}

/// Deleted intervals per series id.
pub trait TombstoneReader: Send + Sync {
    /// Sorted, non-overlapping deleted intervals of series `id` (empty if none).
    fn intervals(&self, id: u32) -> Vec<Interval>;
    /// Number of (series, interval) pairs.
    fn total(&self) -> u64;
}

/// A readable block: an on-disk block or a time range of the head.
pub trait BlockReader: Send + Sync {
    fn min_time(&self) -> Timestamp;
    /// Inclusive max time of the data the reader may hold.
    fn max_time(&self) -> Timestamp;
    fn index(&self) -> Result<std::sync::Arc<dyn IndexReader>>;
    fn chunks(&self) -> Result<std::sync::Arc<dyn ChunkReader>>;
    fn tombstones(&self) -> Result<std::sync::Arc<dyn TombstoneReader>>;
}
