//! [`IndexFileReader`]: reads a block's `index` file (versions 1, 2 and 3) from a memory map.
//!
//! On open it checks the header, the TOC's CRC, the symbol table's CRC and the postings offset
//! table's CRC, decodes all symbols into shared strings (so every [`Labels`] it returns shares
//! them) and keeps the postings offset table as `(value position, postings offset)` pairs per
//! label name; values are decoded from the map on demand. Series entries and postings lists are
//! CRC-checked when read. Any inconsistency is an [`Error::Corruption`] with the file offset.
//!
//! Version 1 files differ in two ways: symbol refs are absolute file offsets instead of
//! sequence numbers, and series ids are offsets instead of offset / 16. Their postings offset
//! table may be unsorted, so it is sorted on open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::index::encoding::{Decbuf, DecodeError, section_at};
use crate::index::{FORMAT_V1, FORMAT_V2, FORMAT_V3, HEADER_LEN, MAGIC_INDEX, SERIES_ALIGN, TOC_LEN, Toc};
use crate::labels::{Label, Labels};
use crate::mmap::MappedFile;
use crate::reader::{ChunkMeta, IndexReader};

/// One label name's entries of the postings offset table.
#[derive(Debug)]
struct NameEntry {
    name: String,
    /// `(absolute position of the value's uvarint-prefixed string, postings list offset)`,
    /// sorted by value.
    values: Vec<(u64, u64)>,
}

/// A read-only index file.
pub struct IndexFileReader {
    path: PathBuf,
    file: MappedFile,
    version: u8,
    toc: Toc,
    symbols: Vec<Arc<str>>,
    /// Version 1 only: the absolute offset of each symbol (its ref), ascending.
    symbol_offsets: Vec<u64>,
    /// Sorted by name; the all-postings key has the empty name.
    names: Vec<NameEntry>,
    /// End of the series section (start of the next non-empty section).
    series_end: u64,
}

impl std::fmt::Debug for IndexFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFileReader").field("path", &self.path).field("version", &self.version).finish()
    }
}

impl IndexFileReader {
    /// Maps and validates the index file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = MappedFile::open(path)?;
        Self::from_mapped(path, file)
    }

    fn from_mapped(path: &Path, file: MappedFile) -> Result<Self> {
        let corrupt = |off: u64, what: &str| Error::corruption(path, off, what);
        let b = file.as_slice();
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(corrupt(0, &format!("index file too small ({} bytes)", b.len())));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_INDEX {
            return Err(corrupt(0, &format!("invalid magic number {magic:#010x}")));
        }
        let version = b[4];
        if !matches!(version, FORMAT_V1 | FORMAT_V2 | FORMAT_V3) {
            return Err(corrupt(4, &format!("unknown index version {version}")));
        }
        let toc_off = b.len() - TOC_LEN;
        let toc = Toc::decode(&b[toc_off..]).ok_or_else(|| corrupt(toc_off as u64, "TOC checksum mismatch"))?;
        let file_end = toc_off as u64;
        for (what, off) in [("symbols", toc.symbols), ("series", toc.series), ("postings table", toc.postings_table)] {
            if off > file_end {
                return Err(corrupt(toc_off as u64, &format!("TOC {what} offset {off} past end of data")));
            }
        }

        let mut r = IndexFileReader {
            path: path.to_path_buf(),
            file: file.clone(),
            version,
            toc,
            symbols: Vec::new(),
            symbol_offsets: Vec::new(),
            names: Vec::new(),
            series_end: file_end,
        };
        r.series_end = [toc.label_indices, toc.postings, toc.label_indices_table, toc.postings_table, file_end]
            .into_iter()
            .filter(|&o| o > toc.series)
            .min()
            .unwrap_or(file_end);
        r.load_symbols().map_err(|e| e.corruption(path))?;
        r.load_postings_table().map_err(|e| e.corruption(path))?;
        Ok(r)
    }

    fn load_symbols(&mut self) -> Result<(), DecodeError> {
        if self.toc.symbols == 0 {
            return Ok(());
        }
        let b = self.file.as_slice();
        let mut d = section_at(b, self.toc.symbols, true)?;
        let count = d.be32()? as usize;
        // A symbol takes at least one byte: cap the reservation by what the section can hold.
        self.symbols.reserve(count.min(d.remaining()));
        for _ in 0..count {
            let at = d.pos();
            let s = d.uvarint_str()?;
            self.symbols.push(Arc::from(s));
            if self.version == FORMAT_V1 {
                self.symbol_offsets.push(at);
            }
        }
        Ok(())
    }

    fn load_postings_table(&mut self) -> Result<(), DecodeError> {
        if self.toc.postings_table == 0 {
            return Ok(());
        }
        let file = self.file.as_slice();
        let mut d = section_at(file, self.toc.postings_table, true)?;
        let count = d.be32()?;
        let mut names: Vec<NameEntry> = Vec::new();
        let mut sorted = true;
        for _ in 0..count {
            let at = d.pos();
            if d.uvarint()? != 2 {
                return Err(DecodeError { pos: at, what: "postings offset table entry without 2 keys" });
            }
            let name = d.uvarint_str()?;
            let value_pos = d.pos();
            d.uvarint_str()?;
            let off = d.uvarint()?;
            if off >= file.len() as u64 {
                return Err(DecodeError { pos: at, what: "postings offset past end of file" });
            }
            match names.last_mut() {
                Some(last) if last.name == name => last.values.push((value_pos, off)),
                last => {
                    if let Some(last) = last
                        && last.name.as_str() > name
                    {
                        sorted = false;
                    }
                    names.push(NameEntry { name: name.to_owned(), values: vec![(value_pos, off)] });
                }
            }
        }
        if !sorted {
            // Version 1 tables may be unsorted: merge the groups of each name.
            if self.version != FORMAT_V1 {
                return Err(DecodeError {
                    pos: self.toc.postings_table,
                    what: "postings offset table not sorted by name",
                });
            }
            names.sort_by(|a, b| a.name.cmp(&b.name));
            let mut merged: Vec<NameEntry> = Vec::new();
            for n in names {
                match merged.last_mut() {
                    Some(last) if last.name == n.name => last.values.extend(n.values),
                    _ => merged.push(n),
                }
            }
            names = merged;
        }
        for n in &mut names {
            let is_sorted = n.values.windows(2).all(|w| value_at(file, w[0].0) < value_at(file, w[1].0));
            if !is_sorted {
                if self.version != FORMAT_V1 {
                    return Err(DecodeError {
                        pos: self.toc.postings_table,
                        what: "postings offset table values not sorted",
                    });
                }
                n.values.sort_by(|a, b| value_at(file, a.0).cmp(value_at(file, b.0)));
                n.values.dedup_by(|a, b| value_at(file, a.0) == value_at(file, b.0));
            }
        }
        self.names = names;
        Ok(())
    }

    /// The format version of the file (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The table of contents.
    pub fn toc(&self) -> Toc {
        self.toc
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.file.len() as u64
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, e: DecodeError) -> Error {
        e.corruption(&self.path)
    }

    fn lookup_symbol(&self, r: u32, at: u64) -> Result<Arc<str>> {
        let idx = if self.version == FORMAT_V1 {
            self.symbol_offsets.binary_search(&(r as u64)).ok()
        } else {
            Some(r as usize).filter(|&i| i < self.symbols.len())
        };
        match idx {
            Some(i) => Ok(self.symbols[i].clone()),
            None => Err(Error::corruption(&self.path, at, format!("unknown symbol reference {r}"))),
        }
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        self.names.binary_search_by(|n| n.name.as_str().cmp(name)).ok().map(|i| &self.names[i])
    }

    /// Reads the postings list at `off`: `len | #entries | id* | CRC32`.
    fn read_postings_at(&self, off: u64, into: &mut RoaringBitmap) -> Result<()> {
        let mut d = section_at(self.file.as_slice(), off, true).map_err(|e| self.corrupt(e))?;
        let n = d.be32().map_err(|e| self.corrupt(e))? as usize;
        if d.remaining() != n.saturating_mul(4) {
            return Err(Error::corruption(
                &self.path,
                off,
                format!("postings list length does not match its {n} entries"),
            ));
        }
        let ids = d.rest().chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if into.is_empty() {
            *into = RoaringBitmap::from_sorted_iter(ids)
                .map_err(|_| Error::corruption(&self.path, off, "postings list not sorted"))?;
        } else {
            let mut prev: Option<u32> = None;
            for id in ids {
                if prev.is_some_and(|p| p >= id) {
                    return Err(Error::corruption(&self.path, off, "postings list not sorted"));
                }
                prev = Some(id);
                into.insert(id);
            }
        }
        Ok(())
    }

    /// The union of the postings of `name` for each of `values` (missing values are skipped).
    pub fn postings_for_values(&self, name: &str, values: &[&str]) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let Some(e) = self.name_entry(name) else {
            return Ok(out);
        };
        let file = self.file.as_slice();
        for v in values {
            if let Ok(i) = e.values.binary_search_by(|(pos, _)| value_at(file, *pos).cmp(v.as_bytes())) {
                self.read_postings_at(e.values[i].1, &mut out)?;
            }
        }
        Ok(out)
    }

    /// The union of the postings of every value of `name` accepted by `pred`.
    pub fn postings_matching(&self, name: &str, pred: &dyn Fn(&str) -> bool) -> Result<RoaringBitmap> {
        let mut out = RoaringBitmap::new();
        let Some(e) = self.name_entry(name).filter(|_| !name.is_empty()) else {
            return Ok(out);
        };
        let file = self.file.as_slice();
        for &(pos, off) in &e.values {
            let v = self.decode_value(file, pos)?;
            if pred(v) {
                self.read_postings_at(off, &mut out)?;
            }
        }
        Ok(out)
    }

    fn decode_value<'a>(&self, file: &'a [u8], pos: u64) -> Result<&'a str> {
        let rest = file.get(pos as usize..).unwrap_or(&[]);
        Decbuf::new(rest, pos).uvarint_str().map_err(|e| self.corrupt(e))
    }

    /// Byte offset of series `id`.
    fn series_offset(&self, id: u32) -> u64 {
        if self.version == FORMAT_V1 { id as u64 } else { id as u64 * SERIES_ALIGN }
    }

    /// The raw body of series `id` (CRC-checked).
    fn series_body(&self, id: u32) -> Result<Decbuf<'_>> {
        let off = self.series_offset(id);
        if off < self.toc.series || off >= self.series_end || self.toc.series == 0 {
            return Err(Error::corruption(&self.path, off, format!("series id {id} outside the series section")));
        }
        let b = self.file.as_slice();
        let end = self.series_end as usize;
        let mut d = Decbuf::new(&b[off as usize..end], off);
        let len = d.uvarint32().map_err(|e| self.corrupt(e))? as usize;
        let body_pos = d.pos();
        let body = d.bytes(len).map_err(|e| self.corrupt(e))?;
        let want = d.be32().map_err(|e| self.corrupt(e))?;
        if crc32c::crc32c(body) != want {
            return Err(Error::corruption(&self.path, off, format!("series {id}: checksum mismatch")));
        }
        Ok(Decbuf::new(body, body_pos))
    }

    fn decode_series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        let mut d = self.series_body(id)?;
        let c = |e: DecodeError| self.corrupt(e);
        let n = d.uvarint().map_err(c)?;
        let mut labels: Vec<Label> = Vec::with_capacity((n as usize).min(d.remaining() / 2));
        for _ in 0..n {
            let at = d.pos();
            let name = self.lookup_symbol(d.uvarint32().map_err(c)?, at)?;
            let at = d.pos();
            let value = self.lookup_symbol(d.uvarint32().map_err(c)?, at)?;
            if let Some(prev) = labels.last()
                && prev.name >= name
            {
                return Err(Error::corruption(&self.path, at, format!("series {id}: labels not sorted by name")));
            }
            labels.push(Label { name, value });
        }
        let k = d.uvarint().map_err(c)?;
        chunks.reserve((k as usize).min(d.remaining() / 3));
        let overflow =
            |d: &Decbuf<'_>| Error::corruption(&self.path, d.pos(), format!("series {id}: chunk time overflows"));
        let mut prev_max = 0i64;
        let mut prev_ref = 0u64;
        for i in 0..k {
            let (min_time, max_time, chunk_ref);
            if i == 0 {
                min_time = d.varint().map_err(c)?;
                let span = d.uvarint().map_err(c)?;
                max_time = (span as i64).checked_add(min_time).ok_or_else(|| overflow(&d))?;
                chunk_ref = d.uvarint().map_err(c)?;
            } else {
                let gap = d.uvarint().map_err(c)? as i64;
                min_time = gap.checked_add(prev_max).ok_or_else(|| overflow(&d))?;
                let span = d.uvarint().map_err(c)? as i64;
                max_time = span.checked_add(min_time).ok_or_else(|| overflow(&d))?;
                chunk_ref = prev_ref.wrapping_add(d.varint().map_err(c)? as u64);
            }
            prev_max = max_time;
            prev_ref = chunk_ref;
            chunks.push(ChunkMeta { chunk_ref, min_time, max_time });
        }
        Ok(Labels::from_sorted(labels))
    }
}

/// The bytes of the uvarint-prefixed string at `pos` (empty if malformed; such values were
/// validated when the table was loaded).
fn value_at(file: &[u8], pos: u64) -> &[u8] {
    let rest = file.get(pos as usize..).unwrap_or(&[]);
    Decbuf::new(rest, pos).uvarint_bytes().unwrap_or(&[])
}

impl IndexReader for IndexFileReader {
    fn symbols(&self) -> Result<Vec<String>> {
        Ok(self.symbols.iter().map(|s| s.to_string()).collect())
    }

    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        self.postings_for_values(name, &[value])
    }

    fn all_postings(&self) -> Result<RoaringBitmap> {
        self.postings_for_values("", &[""])
    }

    fn label_names(&self) -> Result<Vec<String>> {
        Ok(self.names.iter().filter(|n| !n.name.is_empty()).map(|n| n.name.clone()).collect())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let Some(e) = self.name_entry(name).filter(|_| !name.is_empty()) else {
            return Ok(Vec::new());
        };
        let file = self.file.as_slice();
        e.values.iter().map(|&(pos, _)| self.decode_value(file, pos).map(str::to_owned)).collect()
    }

    fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        self.decode_series(id, chunks)
    }

    fn sorted_ids(&self, ids: &RoaringBitmap) -> Result<Vec<u32>> {
        // Series are written in label order, so ids already are.
        Ok(ids.iter().collect())
    }
}
