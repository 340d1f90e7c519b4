//! [`IndexWriter`]: writes a block's `index` file in format version 2.
//!
//! The caller drives it through three stages, as Prometheus's `index.Writer`:
//! 1. [`IndexWriter::add_symbol`] for every label name and value, in strictly ascending byte order;
//! 2. [`IndexWriter::add_series`] for every series, in strictly ascending label-set order, with its
//!    chunk metas (refs ascending across the whole file, chunks of a series non-overlapping);
//! 3. [`IndexWriter::finish`], which writes the postings (the all-postings list under the empty
//!    name/value first, then one list per label name/value in order), the postings offset table
//!    and the TOC, then fsyncs. Optionally ([`IndexWriter::set_legacy_label_indices`]) it also
//!    writes the legacy label indices and label offset table that Prometheus ≤ 3.5 wrote.
//!
//! Postings are collected in memory while series are added (12 bytes per label of every series);
//! symbols are buffered until the first series (they are needed to resolve refs anyway).
//! The bytes produced are identical to Prometheus's writer for the same input (see
//! docs/format/index.md).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::index::encoding::Encbuf;
use crate::index::{FORMAT_V2, MAGIC_INDEX, SERIES_ALIGN, Toc};
use crate::labels::Labels;
use crate::reader::ChunkMeta;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Symbols,
    Series,
    Done,
}

/// Writes one index file. See the module docs for the call order.
pub struct IndexWriter {
    path: PathBuf,
    f: BufWriter<File>,
    pos: u64,
    stage: Stage,
    toc: Toc,
    /// All symbols, in order: a symbol's ref is its position here.
    symbols: Vec<String>,
    /// Encoded symbol entries (written when the series stage begins).
    symbol_buf: Encbuf,
    last_series: Option<Labels>,
    last_chunk_ref: u64,
    /// `(name ref, value ref, series id)` for every label of every series.
    postings: Vec<(u32, u32, u32)>,
    all: Vec<u32>,
    buf: Encbuf,
    legacy_label_indices: bool,
}

impl IndexWriter {
    /// Creates (truncating) the index file at `path` and writes its header.
    pub fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        let mut w = IndexWriter {
            path: path.to_path_buf(),
            f: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            stage: Stage::Symbols,
            toc: Toc::default(),
            symbols: Vec::new(),
            symbol_buf: Encbuf::new(),
            last_series: None,
            last_chunk_ref: 0,
            postings: Vec::new(),
            all: Vec::new(),
            buf: Encbuf::new(),
            legacy_label_indices: false,
        };
        let mut head = Encbuf::new();
        head.put_be32(MAGIC_INDEX);
        head.put_u8(FORMAT_V2);
        w.write(&head.b)?;
        w.toc.symbols = w.pos;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.f.write_all(b).map_err(|e| Error::io("write", &self.path, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> Result<()> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }

    /// Adds the next symbol; symbols must be strictly ascending and come before any series.
    pub fn add_symbol(&mut self, sym: &str) -> Result<()> {
        if self.stage != Stage::Symbols {
            return Err(Error::InvalidArgument(format!("index: symbol {sym:?} added after series")));
        }
        if let Some(last) = self.symbols.last()
            && sym <= last.as_str()
        {
            return Err(Error::InvalidArgument(format!("index: symbol {sym:?} out of order (after {last:?})")));
        }
        if self.symbols.len() >= u32::MAX as usize {
            return Err(Error::InvalidArgument("index: too many symbols".into()));
        }
        self.symbol_buf.put_uvarint_str(sym);
        self.symbols.push(sym.to_owned());
        Ok(())
    }

    /// Writes the symbol table: `len | #symbols | entries | CRC32` (CRC over count and entries).
    fn finish_symbols(&mut self) -> Result<()> {
        let entries = std::mem::take(&mut self.symbol_buf);
        self.write_table(self.symbols.len() as u32, &entries, "symbol table")?;
        self.toc.series = self.pos;
        self.stage = Stage::Series;
        Ok(())
    }

    fn symbol_ref(&self, s: &str) -> Result<u32> {
        self.symbols
            .binary_search_by(|x| x.as_str().cmp(s))
            .map(|i| i as u32)
            .map_err(|_| Error::InvalidArgument(format!("index: symbol {s:?} was not added")))
    }

    /// Adds the next series (label sets strictly ascending) and returns its id (offset / 16).
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u32> {
        match self.stage {
            Stage::Symbols => self.finish_symbols()?,
            Stage::Series => {}
            Stage::Done => return Err(Error::InvalidArgument("index: series added after finish".into())),
        }
        if let Some(last) = &self.last_series
            && labels <= last
        {
            return Err(Error::InvalidArgument(format!("index: out-of-order series {labels} after {last}")));
        }
        let mut last_ref = self.last_chunk_ref;
        for (i, c) in chunks.iter().enumerate() {
            if c.chunk_ref < last_ref {
                return Err(Error::InvalidArgument(format!(
                    "index: unsorted chunk reference {} after {last_ref} in series {labels}",
                    c.chunk_ref
                )));
            }
            last_ref = c.chunk_ref;
            if i > 0 && c.min_time <= chunks[i - 1].max_time {
                return Err(Error::InvalidArgument(format!(
                    "index: chunk min time {} not after previous chunk max time {} in series {labels}",
                    c.min_time,
                    chunks[i - 1].max_time
                )));
            }
            if c.max_time < c.min_time {
                return Err(Error::InvalidArgument(format!(
                    "index: chunk max time {} before min time {} in series {labels}",
                    c.max_time, c.min_time
                )));
            }
        }

        self.pad(SERIES_ALIGN)?;
        let id = u32::try_from(self.pos / SERIES_ALIGN)
            .map_err(|_| Error::InvalidArgument("index: series section exceeds 64 GiB".into()))?;

        let mut body = std::mem::take(&mut self.buf);
        body.reset();
        body.put_uvarint(labels.len() as u64);
        for l in labels.iter() {
            let n = self.symbol_ref(&l.name)?;
            let v = self.symbol_ref(&l.value)?;
            body.put_uvarint(n as u64);
            body.put_uvarint(v as u64);
            self.postings.push((n, v, id));
        }
        body.put_uvarint(chunks.len() as u64);
        if let Some(first) = chunks.first() {
            body.put_varint(first.min_time);
            body.put_uvarint(first.max_time.wrapping_sub(first.min_time) as u64);
            body.put_uvarint(first.chunk_ref);
            let mut t0 = first.max_time;
            let mut ref0 = first.chunk_ref;
            for c in &chunks[1..] {
                body.put_uvarint(c.min_time.wrapping_sub(t0) as u64);
                body.put_uvarint(c.max_time.wrapping_sub(c.min_time) as u64);
                body.put_varint(c.chunk_ref.wrapping_sub(ref0) as i64);
                t0 = c.max_time;
                ref0 = c.chunk_ref;
            }
        }
        let mut head = Encbuf::new();
        head.put_uvarint(body.len() as u64);
        body.put_crc_from(0);
        self.write(&head.b)?;
        self.write(&body.b)?;
        self.buf = body;

        self.all.push(id);
        self.last_series = Some(labels.clone());
        self.last_chunk_ref = last_ref;
        Ok(id)
    }

    /// Writes one postings list (4-byte aligned) and records its offset-table entry.
    fn write_postings(&mut self, table: &mut Encbuf, name: &str, value: &str, ids: &[u32]) -> Result<()> {
        self.pad(4)?;
        table.put_uvarint(2);
        table.put_uvarint_str(name);
        table.put_uvarint_str(value);
        table.put_uvarint(self.pos);
        let mut b = std::mem::take(&mut self.buf);
        b.reset();
        let len = u32::try_from(4 + 4 * ids.len() as u64)
            .map_err(|_| Error::InvalidArgument("index: postings list exceeds 4 GiB".into()))?;
        b.put_be32(len);
        b.put_be32(ids.len() as u32);
        for &id in ids {
            b.put_be32(id);
        }
        b.put_crc_from(4);
        self.write(&b.b)?;
        self.buf = b;
        Ok(())
    }

    /// Also writes the legacy label index sections ("label indices" and the "label offset
    /// table"), as Prometheus up to 3.5 did (removed upstream in August 2025; no reader of
    /// format 2 needs them). Off by default; used to reproduce older Prometheus files byte for
    /// byte.
    pub fn set_legacy_label_indices(&mut self, on: bool) {
        self.legacy_label_indices = on;
    }

    /// Writes one legacy label index: `len | #names=1 | #values | value_ref<4b>* | CRC32`.
    fn write_label_index(&mut self, values: &[u32]) -> Result<u64> {
        self.pad(4)?;
        let at = self.pos;
        let mut b = Encbuf::new();
        b.put_be32((8 + 4 * values.len()) as u32);
        b.put_be32(1);
        b.put_be32(values.len() as u32);
        for v in values {
            b.put_be32(*v);
        }
        b.put_crc_from(4);
        self.write(&b.b)?;
        Ok(at)
    }

    /// Writes a `len | #entries | entries | CRC32` table (CRC over count and entries).
    fn write_table(&mut self, count: u32, entries: &Encbuf, what: &str) -> Result<()> {
        let body_len = u32::try_from(4 + entries.len() as u64)
            .map_err(|_| Error::InvalidArgument(format!("index: {what} exceeds 4 GiB")))?;
        let cnt = count.to_be_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&cnt), &entries.b);
        self.write(&body_len.to_be_bytes())?;
        self.write(&cnt)?;
        self.write(&entries.b)?;
        self.write(&crc.to_be_bytes())
    }

    /// Writes postings, the postings offset table and the TOC, then flushes and fsyncs the file.
    /// Returns the file size.
    pub fn finish(mut self) -> Result<u64> {
        match self.stage {
            Stage::Symbols => self.finish_symbols()?,
            Stage::Series => {}
            Stage::Done => return Err(Error::InvalidArgument("index: finish called twice".into())),
        }
        self.stage = Stage::Done;

        // Group the (name, value, id) triples; symbol refs order like their strings and ids were
        // pushed ascending, so sorting gives Prometheus's list order.
        let mut postings = std::mem::take(&mut self.postings);
        postings.sort_unstable();
        let mut groups: Vec<(u32, u32, std::ops::Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < postings.len() {
            let (n, v, _) = postings[i];
            let start = i;
            while i < postings.len() && postings[i].0 == n && postings[i].1 == v {
                i += 1;
            }
            groups.push((n, v, start..i));
        }

        self.toc.label_indices = self.pos;
        let mut label_offsets = Encbuf::new();
        let mut label_count: u32 = 0;
        if self.legacy_label_indices {
            let mut g = 0;
            while g < groups.len() {
                let name = groups[g].0;
                let values: Vec<u32> = groups[g..].iter().take_while(|x| x.0 == name).map(|x| x.1).collect();
                g += values.len();
                let at = self.write_label_index(&values)?;
                label_offsets.put_uvarint(1);
                let name = self.symbols[name as usize].clone();
                label_offsets.put_uvarint_str(&name);
                label_offsets.put_uvarint(at);
                label_count += 1;
            }
        }

        self.toc.postings = self.pos;
        let mut table = Encbuf::new();
        let mut count: u32 = 0;
        let all = std::mem::take(&mut self.all);
        self.write_postings(&mut table, "", "", &all)?;
        count += 1;
        let mut ids = Vec::new();
        for (n, v, range) in groups {
            ids.clear();
            ids.extend(postings[range].iter().map(|p| p.2));
            let (name, value) = (self.symbols[n as usize].clone(), self.symbols[v as usize].clone());
            self.write_postings(&mut table, &name, &value, &ids)?;
            count =
                count.checked_add(1).ok_or_else(|| Error::InvalidArgument("index: too many postings lists".into()))?;
        }

        self.toc.label_indices_table = self.pos;
        if self.legacy_label_indices {
            self.write_table(label_count, &label_offsets, "label offset table")?;
        }
        self.toc.postings_table = self.pos;
        self.write_table(count, &table, "postings offset table")?;

        let toc = self.toc.encode();
        self.write(&toc)?;

        self.f.flush().map_err(|e| Error::io("flush", &self.path, e))?;
        self.f.get_ref().sync_all().map_err(|e| Error::io("fsync", &self.path, e))?;
        Ok(self.pos)
    }
}
