//! [`BlockWriter`]: writes a complete block directory atomically.
//!
//! Everything is written under `<parent>/<ulid>.tmp`: chunk segments as series arrive, then at
//! [`BlockWriter::finish`] the index, an empty tombstones file and `meta.json`; every file and
//! the directory are fsynced and the directory is renamed to `<parent>/<ulid>`, then the parent
//! is fsynced. A writer dropped (or failing) before `finish` removes its temporary directory.
//!
//! Memory: chunk bytes are streamed to disk, but the index needs all symbols before the first
//! series, so each series' labels and chunk metas (plus the symbol set) are buffered until
//! `finish` — about the size of the block's index. A streaming two-pass writer can replace this
//! when blocks get large.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::meta::{BlockMeta, META_VERSION_1, write_meta};
use crate::block::sync_dir;
use crate::chunks::{CHUNKS_DIRNAME, ChunkWriter, DEFAULT_SEGMENT_SIZE};
use crate::error::{Error, Result};
use crate::index::{INDEX_FILENAME, IndexWriter};
use crate::labels::Labels;
use crate::reader::{ChunkData, ChunkMeta};
use crate::tombstones::{MemTombstones, write_tombstones};

/// Chunk encodings whose samples count as float samples in the stats (XOR, XOR2).
const FLOAT_ENCODINGS: [u8; 2] = [1, 4];

/// Writes one block. Call [`BlockWriter::add_series`] in strictly ascending label order, then
/// [`BlockWriter::finish`].
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    meta: BlockMeta,
    chunks: Option<ChunkWriter>,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    symbols: BTreeSet<Arc<str>>,
    legacy_label_indices: bool,
    done: bool,
}

impl BlockWriter {
    /// Starts block `meta.ulid` under `parent` covering `[meta.min_time, meta.max_time)`.
    /// `meta.stats` is ignored and computed; level, sources, parents and hints are kept.
    pub fn new(parent: &Path, meta: BlockMeta) -> Result<Self> {
        Self::with_segment_size(parent, meta, DEFAULT_SEGMENT_SIZE)
    }

    /// As [`BlockWriter::new`] with a chunk segment size limit.
    pub fn with_segment_size(parent: &Path, mut meta: BlockMeta, segment_size: u64) -> Result<Self> {
        if meta.min_time >= meta.max_time {
            return Err(Error::InvalidArgument(format!(
                "block time range [{}, {}) is empty",
                meta.min_time, meta.max_time
            )));
        }
        meta.stats = Default::default();
        meta.version = META_VERSION_1;
        let tmp = parent.join(format!("{}.tmp", meta.ulid));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("mkdir", &tmp, e))?;
        let mut w = BlockWriter {
            parent: parent.to_path_buf(),
            tmp: tmp.clone(),
            meta,
            chunks: None,
            series: Vec::new(),
            // Prometheus's head always contributes the empty string (the name and value of its
            // all-postings key) to a block's symbols; keeping it makes our files identical.
            symbols: BTreeSet::from([Arc::from("")]),
            legacy_label_indices: false,
            done: false,
        };
        w.chunks = Some(ChunkWriter::with_segment_size(&tmp.join(CHUNKS_DIRNAME), segment_size)?);
        Ok(w)
    }

    /// Also write the legacy label index sections, as Prometheus up to 3.5 (including the
    /// 2.42 `promtool` installed here) did; see [`IndexWriter::set_legacy_label_indices`].
    pub fn set_legacy_label_indices(&mut self, on: bool) {
        self.legacy_label_indices = on;
    }

    /// The temporary directory being written.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Adds the next series with its chunks (sorted by time, non-overlapping, all inside the
    /// block's range). Refs in the given metas are ignored and assigned. A series without chunks
    /// is skipped, as Prometheus's compactor does.
    pub fn add_series(&mut self, labels: Labels, chunks: Vec<(ChunkMeta, ChunkData)>) -> Result<()> {
        if let Some((last, _)) = self.series.last()
            && &labels <= last
        {
            return Err(Error::InvalidArgument(format!("block writer: series {labels} added after {last}")));
        }
        if chunks.is_empty() {
            return Ok(());
        }
        let (mint, maxt) = (self.meta.min_time, self.meta.max_time);
        for (i, (m, _)) in chunks.iter().enumerate() {
            if m.min_time < mint || m.max_time >= maxt || m.max_time < m.min_time {
                return Err(Error::InvalidArgument(format!(
                    "block writer: chunk [{}, {}] of {labels} outside block range [{mint}, {maxt})",
                    m.min_time, m.max_time
                )));
            }
            if i > 0 && m.min_time <= chunks[i - 1].0.max_time {
                return Err(Error::InvalidArgument(format!(
                    "block writer: chunks of {labels} overlap or are unsorted at [{}, {}]",
                    m.min_time, m.max_time
                )));
            }
        }
        let cw = self.chunks.as_mut().ok_or_else(|| Error::Other("block writer already finished".into()))?;
        let mut metas = Vec::with_capacity(chunks.len());
        for (mut m, data) in chunks {
            m.chunk_ref = cw.write_chunk(&data)?;
            metas.push(m);
            let samples = data.bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]) as u64).unwrap_or(0);
            self.meta.stats.num_samples += samples;
            if FLOAT_ENCODINGS.contains(&data.encoding) {
                self.meta.stats.num_float_samples += samples;
            } else {
                self.meta.stats.num_histogram_samples += samples;
            }
        }
        for l in labels.iter() {
            if !self.symbols.contains(&l.name) {
                self.symbols.insert(l.name.clone());
            }
            if !self.symbols.contains(&l.value) {
                self.symbols.insert(l.value.clone());
            }
        }
        self.meta.stats.num_chunks += metas.len() as u64;
        self.meta.stats.num_series += 1;
        self.series.push((labels, metas));
        Ok(())
    }

    /// Writes the index, tombstones and meta.json, and moves the block into place.
    /// Returns the final meta (with stats).
    pub fn finish(mut self) -> Result<BlockMeta> {
        let cw = self.chunks.take().ok_or_else(|| Error::Other("block writer already finished".into()))?;
        cw.finish()?;

        let mut iw = IndexWriter::create(&self.tmp.join(INDEX_FILENAME))?;
        iw.set_legacy_label_indices(self.legacy_label_indices);
        for s in std::mem::take(&mut self.symbols) {
            iw.add_symbol(&s)?;
        }
        for (labels, metas) in std::mem::take(&mut self.series) {
            iw.add_series(&labels, &metas)?;
        }
        iw.finish()?;
        write_tombstones(&self.tmp, &MemTombstones::new())?;
        write_meta(&self.tmp, &self.meta)?;
        sync_dir(&self.tmp)?;

        let dst = self.parent.join(self.meta.ulid.to_string());
        if dst.exists() {
            return Err(Error::InvalidArgument(format!("block directory {} already exists", dst.display())));
        }
        std::fs::rename(&self.tmp, &dst).map_err(|e| Error::io("rename", &self.tmp, e))?;
        self.done = true;
        sync_dir(&self.parent)?;
        Ok(self.meta.clone())
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover `.tmp` directory is also removed at the next start.
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
