//! The compactor: one code path turns any set of [`BlockReader`]s (on-disk blocks, or a time
//! range of the head) into one new block.
//!
//! - [`plan`]: which blocks to merge next (Prometheus's leveled compaction: overlapping blocks
//!   first, then aligned ranges of 2h·3^k, then blocks with many tombstones).
//! - [`Compactor::compact`]: streams the series of all sources in label order (k-way merge),
//!   applies tombstones and the time range, merges and de-duplicates samples of the same series,
//!   and writes one block. A chunk is copied byte for byte when nothing about it changes (one
//!   source, no tombstone, no overlap, inside the range); otherwise the samples are re-encoded
//!   into fresh XOR chunks of at most 120 samples.
//!
//! Persisting the head is the same call with the head's range reader as the only source and no
//! parents (level 1).

pub mod plan;
#[cfg(test)]
mod tests;
pub(crate) mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use plan::{PlanBlock, compaction_ranges, exponential_block_ranges, plan};

use crate::block::BlockMeta;
use crate::error::Result;
use crate::reader::BlockReader;
use crate::storage::Timestamp;

/// How far a compaction got: source series read so far out of the total (an upper bound on the
/// series written, as series present in several sources count once per source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub series_done: u64,
    pub series_total: u64,
}

/// Called as a compaction makes progress (the CLI draws a bar with it).
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Sync);

/// What a compaction wrote.
#[derive(Clone, Debug)]
pub struct CompactOutput {
    /// The directory of the new block.
    pub dir: PathBuf,
    pub meta: BlockMeta,
    /// Chunks copied unchanged / written fresh (for tests and metrics).
    pub chunks_copied: u64,
    pub chunks_reencoded: u64,
}

/// Merges blocks; holds the compaction ranges used for planning.
#[derive(Clone, Debug)]
pub struct Compactor {
    ranges: Vec<i64>,
}

impl Compactor {
    /// `ranges` as from [`compaction_ranges`]; the first is the block range.
    pub fn new(ranges: Vec<i64>) -> Self {
        Compactor { ranges }
    }

    pub fn ranges(&self) -> &[i64] {
        &self.ranges
    }

    /// The blocks to compact next, in min-time order (empty: nothing to do).
    pub fn plan(&self, blocks: &[PlanBlock]) -> Vec<ulid::Ulid> {
        plan::plan(&self.ranges, blocks)
    }

    /// Writes one block under `dest_dir` holding the samples of `sources` with
    /// `mint <= t < maxt`. `parents` are the metas of the sources that are blocks (empty when
    /// persisting the head): the new block gets level `max(parents) + 1` (1 without parents),
    /// the union of their sources, and them as parents. Returns `None` when there is no sample
    /// to write (no block is created).
    pub fn compact(
        &self,
        dest_dir: &Path,
        sources: &[Arc<dyn BlockReader>],
        parents: &[BlockMeta],
        mint: Timestamp,
        maxt: Timestamp,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<Option<CompactOutput>> {
        write::compact(dest_dir, sources, parents, mint, maxt, progress)
    }
}
