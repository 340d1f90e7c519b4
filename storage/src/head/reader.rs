//! The head seen through the block-reader traits, so the querier and the compactor treat a
//! time range of the head exactly like an on-disk block.
//!
//! - [`HeadIndexReader`]: symbols, postings and label values from the memory postings; a
//!   series' chunk metas are those overlapping the reader's range, including the open chunk
//!   and out-of-order chunks (which may overlap in-order ones: the querier merges them).
//!   Postings are not filtered by time: a series without chunks in the range yields no chunk
//!   metas (callers skip it), as with Prometheus's head. A series removed since the postings
//!   were read yields empty labels and no chunks.
//! - [`HeadChunkReader`]: bytes of mapped chunks, a copy of the open chunk (cut to the meta's
//!   max time if it grew meanwhile), or an encoded slice of the out-of-order buffer.
//! - [`HeadTombstoneReader`]: a snapshot of the head's deletions.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::head::postings::FxMap;
use crate::head::series::unpack_ref;
use crate::head::{Head, pairs_to_labels};
use crate::labels::Labels;
use crate::reader::{BlockReader, ChunkData, ChunkMeta, ChunkReader, IndexReader, Interval, TombstoneReader};
use crate::storage::Timestamp;

/// A time range `[mint, maxt]` (inclusive) of the head as a [`BlockReader`].
#[derive(Clone)]
pub struct HeadRangeReader {
    pub head: Arc<Head>,
    pub mint: Timestamp,
    pub maxt: Timestamp,
}

impl HeadRangeReader {
    pub fn new(head: Arc<Head>, mint: Timestamp, maxt: Timestamp) -> Self {
        HeadRangeReader { head, mint, maxt }
    }
}

impl BlockReader for HeadRangeReader {
    fn min_time(&self) -> Timestamp {
        self.mint
    }
    fn max_time(&self) -> Timestamp {
        self.maxt
    }
    fn index(&self) -> Result<Arc<dyn IndexReader>> {
        Ok(Arc::new(HeadIndexReader::new(self.head.clone(), self.mint, self.maxt)))
    }
    fn chunks(&self) -> Result<Arc<dyn ChunkReader>> {
        Ok(Arc::new(HeadChunkReader { head: self.head.clone() }))
    }
    fn tombstones(&self) -> Result<Arc<dyn TombstoneReader>> {
        Ok(Arc::new(HeadTombstoneReader::new(&self.head)))
    }
}

/// The head's index over a time range.
pub struct HeadIndexReader {
    head: Arc<Head>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl HeadIndexReader {
    pub fn new(head: Arc<Head>, mint: Timestamp, maxt: Timestamp) -> Self {
        HeadIndexReader { head, mint, maxt }
    }
}

impl IndexReader for HeadIndexReader {
    fn symbols(&self) -> Result<Vec<String>> {
        Ok(self.head.symbols.read().sorted())
    }

    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        let ids = {
            let syms = self.head.symbols.read();
            syms.get(name).zip(syms.get(value))
        };
        Ok(match ids {
            Some((n, v)) => self.head.postings.read().get(n, v),
            None => RoaringBitmap::new(),
        })
    }

    fn all_postings(&self) -> Result<RoaringBitmap> {
        Ok(self.head.postings.read().all().clone())
    }

    fn label_names(&self) -> Result<Vec<String>> {
        let ids = self.head.postings.read().names();
        let syms = self.head.symbols.read();
        let mut v: Vec<String> = ids.into_iter().map(|i| syms.resolve(i).to_string()).collect();
        v.sort_unstable();
        Ok(v)
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let Some(n) = self.head.symbols.read().get(name) else { return Ok(Vec::new()) };
        let ids = self.head.postings.read().values(n);
        let syms = self.head.symbols.read();
        let mut v: Vec<String> = ids.into_iter().map(|i| syms.resolve(i).to_string()).collect();
        v.sort_unstable();
        Ok(v)
    }

    fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        let head = &self.head;
        let r = head.series.with(id, |s| {
            s.chunk_metas(id, self.mint, self.maxt, chunks);
            pairs_to_labels(&s.labels, &head.symbols.read())
        });
        Ok(r.unwrap_or_default())
    }

    fn sorted_ids(&self, ids: &RoaringBitmap) -> Result<Vec<u32>> {
        let head = &self.head;
        let mut v: Vec<(Labels, u32)> = ids.iter().filter_map(|id| head.series_labels(id).map(|l| (l, id))).collect();
        v.sort_unstable();
        Ok(v.into_iter().map(|(_, id)| id).collect())
    }
}

/// Reads head chunks by the refs of [`HeadIndexReader::series`].
pub struct HeadChunkReader {
    pub(crate) head: Arc<Head>,
}

impl ChunkReader for HeadChunkReader {
    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData> {
        let (id, cid) = unpack_ref(meta.chunk_ref);
        match self.head.series.with(id, |s| s.chunk(cid, meta, &self.head.chunks)) {
            Some(Ok(Some(c))) => Ok(c),
            Some(Err(e)) => Err(e),
            Some(Ok(None)) | None => Err(Error::Other(format!(
                "head chunk {:#x} of series {id} not found (truncated meanwhile)",
                meta.chunk_ref
            ))),
        }
    }
}

/// A snapshot of the head's tombstones.
pub struct HeadTombstoneReader {
    map: FxMap<u32, Vec<Interval>>,
}

impl HeadTombstoneReader {
    pub fn new(head: &Head) -> Self {
        HeadTombstoneReader { map: head.tombstones.read().clone() }
    }
}

impl TombstoneReader for HeadTombstoneReader {
    fn intervals(&self, id: u32) -> Vec<Interval> {
        self.map.get(&id).cloned().unwrap_or_default()
    }
    fn total(&self) -> u64 {
        self.map.values().map(|v| v.len() as u64).sum()
    }
}
