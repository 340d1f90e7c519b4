//! The block `index` file: symbols, series, postings, postings offset table, TOC.
//!
//! Bit-compatible with Prometheus's `tsdb/index` format version 2 (written) and versions 1–3
//! (read). The byte layout, and where Prometheus's own docs are wrong about it, is in
//! `docs/format/index.md`. [`IndexWriter`] writes a file, [`IndexFileReader`] reads one from a
//! memory map and serves it through [`crate::reader::IndexReader`], and
//! [`postings_for_matchers`] evaluates label matchers against any `IndexReader` (a block's or
//! the head's) with Prometheus's semantics.

pub(crate) mod encoding;
mod matchers;
mod reader;
mod writer;

pub use matchers::postings_for_matchers;
pub use reader::IndexFileReader;
pub use writer::IndexWriter;

/// Magic number at the start of an index file.
pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Index format versions.
pub const FORMAT_V1: u8 = 1;
pub const FORMAT_V2: u8 = 2;
pub const FORMAT_V3: u8 = 3;
/// Magic (4) + version (1).
pub const HEADER_LEN: usize = 5;
/// Six BE u64 section offsets + CRC32.
pub const TOC_LEN: usize = 6 * 8 + 4;
/// Series entries start on 16-byte boundaries; a series id is its offset / 16.
pub const SERIES_ALIGN: u64 = 16;
/// File name of the index inside a block directory.
pub const INDEX_FILENAME: &str = "index";

/// The table of contents at the end of an index file: absolute offsets of each section
/// (0 = absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Toc {
    pub symbols: u64,
    pub series: u64,
    pub label_indices: u64,
    pub label_indices_table: u64,
    pub postings: u64,
    pub postings_table: u64,
}

impl Toc {
    /// The 52 bytes of the TOC, CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(TOC_LEN);
        for x in [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
        ] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    /// Parses the 52-byte TOC; `None` if the length or the CRC is wrong.
    pub fn decode(b: &[u8]) -> Option<Toc> {
        if b.len() != TOC_LEN {
            return None;
        }
        let want = u32::from_be_bytes([b[48], b[49], b[50], b[51]]);
        if crc32c::crc32c(&b[..48]) != want {
            return None;
        }
        let f = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_be_bytes(a)
        };
        Some(Toc {
            symbols: f(0),
            series: f(1),
            label_indices: f(2),
            label_indices_table: f(3),
            postings: f(4),
            postings_table: f(5),
        })
    }
}

#[cfg(test)]
mod tests;
