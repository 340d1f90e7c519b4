//! WAL segment files: names, listing, page framing on write, and a checking reader.
//!
//! Prometheus's `wlog` framing: a segment is a sequence of 32 KiB pages; a record is split into
//! fragments that never cross a page, each `type<1b> len<2b BE> crc32c<4b BE> data`. Types:
//! 0 page padding (rest of the page is zero), 1 full, 2 first, 3 middle, 4 last; bit 3 (`0x08`)
//! flags a snappy-compressed record, bit 4 (`0x10`) a zstd-compressed one. The whole record is
//! compressed once, before it is split, so the flag of its first fragment tells how to read the
//! assembled payload. tickdb writes snappy records (when smaller; `storage.wal_compression`)
//! and reads them (Prometheus 2.x compresses its WAL with snappy by default); it refuses zstd
//! ones with an error (not treated as a corrupt tail, so a valid log is never truncated). A
//! page with fewer than 7 free bytes left is zero-padded. Only the last page of a segment may
//! be partial.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

pub const PAGE_SIZE: usize = 32 * 1024;
pub const HEADER_SIZE: usize = 7;

const PAGE_TERM: u8 = 0;
const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;
const TYPE_MASK: u8 = 0x07;
const COMPRESSION_MASK: u8 = 0x18;
const SNAPPY: u8 = 0x08;
const ZSTD: u8 = 0x10;
/// Largest decompressed record accepted (a bad length prefix must not allocate gigabytes).
const MAX_DECOMPRESSED_RECORD: usize = 256 << 20;

/// `%08d`, as Prometheus names segments.
pub fn segment_name(index: u32) -> String {
    format!("{index:08}")
}

pub(crate) fn checkpoint_name(index: u32) -> String {
    format!("checkpoint.{index:08}")
}

fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io("read dir", dir, e))?;
        if let Ok(name) = e.file_name().into_string() {
            out.push((name, e.path()));
        }
    }
    Ok(out)
}

/// Segment files in `dir`, sorted by index.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut v: Vec<(u32, PathBuf)> = list_dir(dir)?
        .into_iter()
        .filter_map(|(n, p)| parse_index(&n).map(|i| (i, p)))
        .filter(|(_, p)| p.is_file())
        .collect();
    v.sort_by_key(|(i, _)| *i);
    Ok(v)
}

/// Complete checkpoint directories in `dir` (`checkpoint.NNNNNNNN`), sorted by index.
pub(crate) fn list_checkpoints(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut v: Vec<(u32, PathBuf)> = list_dir(dir)?
        .into_iter()
        .filter_map(|(n, p)| n.strip_prefix("checkpoint.").and_then(parse_index).map(|i| (i, p)))
        .filter(|(_, p)| p.is_dir())
        .collect();
    v.sort_by_key(|(i, _)| *i);
    Ok(v)
}

/// Leftover temporary checkpoint directories (`checkpoint.NNNNNNNN.tmp`).
pub(crate) fn list_tmp_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_dir(dir)?
        .into_iter()
        .filter(|(n, _)| n.starts_with("checkpoint.") && n.ends_with(".tmp"))
        .map(|(_, p)| p)
        .collect())
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| Error::io("fsync dir", dir, e))
}

/// The active segment being written: a page buffer over an append-only file.
pub(crate) struct SegmentWriter {
    pub(crate) index: u32,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<File>,
    page: Box<[u8]>,
    /// Bytes of the page filled.
    alloc: usize,
    /// Bytes of the page already written to the file.
    flushed: usize,
    /// Complete pages written to the file.
    done_pages: usize,
    /// Snappy-compress records that get smaller ([`SegmentWriter::compressed`]).
    compress: bool,
    zbuf: Vec<u8>,
    enc: snap::raw::Encoder,
    /// Test fault injection: writes reaching past this file offset fail with ENOSPC.
    #[cfg(test)]
    pub(crate) fail_writes_at: Option<u64>,
}

impl SegmentWriter {
    /// Creates a new, empty segment file (it must not exist).
    pub(crate) fn create(dir: &Path, index: u32) -> Result<Self> {
        let path = dir.join(segment_name(index));
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io("create segment", &path, e))?;
        Ok(SegmentWriter {
            index,
            path,
            file: Arc::new(file),
            page: vec![0u8; PAGE_SIZE].into_boxed_slice(),
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            compress: false,
            zbuf: Vec::new(),
            enc: snap::raw::Encoder::new(),
            #[cfg(test)]
            fail_writes_at: None,
        })
    }

    /// Writes records snappy-compressed (block format, as Prometheus) when that makes them
    /// smaller; the others stay as they are. Each fragment of a compressed record carries the
    /// flag (`0x08`), as Prometheus's writer sets it.
    pub(crate) fn compressed(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// Bytes written to the file so far.
    pub(crate) fn len(&self) -> u64 {
        (self.done_pages * PAGE_SIZE + self.flushed) as u64
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.done_pages == 0 && self.alloc == 0
    }

    /// Whether a record of `len` bytes fits the rest of a segment of `segment_size` bytes
    /// (Prometheus's rule: free space of this page and of the pages left, minus headers).
    pub(crate) fn fits(&self, len: usize, segment_size: usize) -> bool {
        let pages = (segment_size / PAGE_SIZE) as i64;
        let left = (PAGE_SIZE - self.alloc) as i64 - HEADER_SIZE as i64
            + (PAGE_SIZE - HEADER_SIZE) as i64 * (pages - self.done_pages as i64 - 1);
        len as i64 <= left
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < HEADER_SIZE
    }

    /// Writes `buf` at the file offset of page byte `from`.
    fn write_page_range(&mut self, from: usize, to: usize) -> io::Result<()> {
        let off = (self.done_pages * PAGE_SIZE + from) as u64;
        #[cfg(test)]
        if let Some(limit) = self.fail_writes_at
            && off + (to - from) as u64 > limit
        {
            let n = limit.saturating_sub(off) as usize;
            self.file.write_all_at(&self.page[from..from + n], off)?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.file.write_all_at(&self.page[from..to], off)
    }

    /// Writes the rest of the current page (zero padded) and starts a new one.
    fn complete_page(&mut self) -> io::Result<()> {
        self.write_page_range(self.flushed, PAGE_SIZE)?;
        self.page.fill(0);
        self.alloc = 0;
        self.flushed = 0;
        self.done_pages += 1;
        Ok(())
    }

    /// Frames `rec` into the page buffer, writing out pages as they fill. The partial page is
    /// not written: call [`SegmentWriter::flush`] at the end of a batch.
    pub(crate) fn write_record(&mut self, rec: &[u8]) -> io::Result<()> {
        if self.compress {
            let mut z = std::mem::take(&mut self.zbuf);
            z.resize(snap::raw::max_compress_len(rec.len()), 0);
            let done = match self.enc.compress(rec, &mut z) {
                Ok(n) if n < rec.len() => Some(self.frame(&z[..n], SNAPPY)),
                _ => None,
            };
            self.zbuf = z;
            if let Some(r) = done {
                return r;
            }
        }
        self.frame(rec, 0)
    }

    /// Frames `rec` (already compressed or not, as `flags` says) into pages.
    fn frame(&mut self, rec: &[u8], flags: u8) -> io::Result<()> {
        let mut rest = rec;
        let mut first = true;
        loop {
            let room = PAGE_SIZE - self.alloc - HEADER_SIZE;
            let n = rest.len().min(room);
            let part = &rest[..n];
            let typ = match (first, n == rest.len()) {
                (true, true) => FULL,
                (true, false) => FIRST,
                (false, true) => LAST,
                (false, false) => MIDDLE,
            };
            let a = self.alloc;
            self.page[a] = typ | flags;
            self.page[a + 1..a + 3].copy_from_slice(&(n as u16).to_be_bytes());
            self.page[a + 3..a + 7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            self.page[a + HEADER_SIZE..a + HEADER_SIZE + n].copy_from_slice(part);
            self.alloc += HEADER_SIZE + n;
            if self.page_full() {
                self.complete_page()?;
            }
            rest = &rest[n..];
            first = false;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Writes the filled but unwritten part of the current page.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.alloc > self.flushed {
            self.write_page_range(self.flushed, self.alloc)?;
            self.flushed = self.alloc;
        }
        Ok(())
    }

    /// Pads the current page with zeros to its end (before the segment is closed).
    pub(crate) fn pad(&mut self) -> io::Result<()> {
        if self.alloc > 0 { self.complete_page() } else { Ok(()) }
    }

    /// Undoes a failed batch: truncates the file to `len` (a length returned by
    /// [`SegmentWriter::len`] earlier) and reloads the partial page from the file.
    pub(crate) fn rollback(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        let done = (len / PAGE_SIZE as u64) as usize;
        let partial = (len % PAGE_SIZE as u64) as usize;
        self.page.fill(0);
        self.file.read_exact_at(&mut self.page[..partial], (done * PAGE_SIZE) as u64)?;
        self.done_pages = done;
        self.alloc = partial;
        self.flushed = partial;
        Ok(())
    }
}

/// What a record callback tells the reader.
pub(crate) enum Step {
    Continue,
    /// The record's payload is invalid: stop as at a corruption at the record's start.
    Corrupt(String),
}

/// Where and why reading a segment stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub segment: u32,
    pub path: PathBuf,
    /// Offset of the first byte not known good: truncating the segment here repairs it.
    pub offset: u64,
    pub what: String,
}

impl Corruption {
    pub fn to_error(&self) -> Error {
        Error::corruption(&self.path, self.offset, self.what.clone())
    }
}

/// Reads every record of a segment in order, checking the framing and CRCs. Returns the
/// number of records and the corruption that ended the read, if any. I/O errors and errors of
/// `f` are `Err`.
pub(crate) fn read_segment(
    index: u32,
    path: &Path,
    f: &mut dyn FnMut(&[u8]) -> Result<Step>,
) -> Result<(u64, Option<Corruption>)> {
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    read_segment_from(index, path, file, f)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_segment_from(
    index: u32,
    path: &Path,
    mut file: impl Read,
    f: &mut dyn FnMut(&[u8]) -> Result<Step>,
) -> Result<(u64, Option<Corruption>)> {
    let mut page = vec![0u8; PAGE_SIZE];
    let mut rec: Vec<u8> = Vec::new();
    // Offset of the first fragment of the record being assembled.
    let mut rec_start: Option<u64> = None;
    // Compression flag of the record being assembled (from its first fragment).
    let mut rec_comp = 0u8;
    let mut decompressed: Vec<u8> = Vec::new();
    let mut records = 0u64;
    let mut page_off = 0u64;
    let corrupt = |offset: u64, what: String| Corruption { segment: index, path: path.to_path_buf(), offset, what };
    loop {
        let n = read_full(&mut file, &mut page).map_err(|e| Error::io("read segment", path, e))?;
        if n == 0 {
            break;
        }
        let page = &page[..n];
        let mut i = 0usize;
        while i < n {
            let at = page_off + i as u64;
            let typ = page[i];
            if typ == PAGE_TERM {
                if let Some(p) = page[i..].iter().position(|&b| b != 0) {
                    let bad = at + p as u64;
                    return Ok((
                        records,
                        Some(corrupt(rec_start.unwrap_or(at), format!("non-zero byte in page padding at {bad}"))),
                    ));
                }
                break;
            }
            let good_end = rec_start.unwrap_or(at);
            if i + HEADER_SIZE > n {
                return Ok((records, Some(corrupt(good_end, "torn fragment header".into()))));
            }
            let len = u16::from_be_bytes([page[i + 1], page[i + 2]]) as usize;
            let crc = u32::from_be_bytes([page[i + 3], page[i + 4], page[i + 5], page[i + 6]]);
            let base = typ & TYPE_MASK;
            let comp = typ & COMPRESSION_MASK;
            if typ & !(TYPE_MASK | COMPRESSION_MASK) != 0 || base > LAST || comp == COMPRESSION_MASK {
                return Ok((records, Some(corrupt(good_end, format!("invalid fragment type {typ:#04x}")))));
            }
            if i + HEADER_SIZE + len > n {
                let what = if n < PAGE_SIZE { "torn fragment" } else { "fragment crosses page boundary" };
                return Ok((records, Some(corrupt(good_end, format!("{what} (length {len})")))));
            }
            let data = &page[i + HEADER_SIZE..i + HEADER_SIZE + len];
            if crc32c::crc32c(data) != crc {
                return Ok((records, Some(corrupt(good_end, format!("fragment checksum mismatch at {at}")))));
            }
            if comp == ZSTD {
                return Err(Error::Other(format!(
                    "{}: zstd-compressed WAL record at offset {at} is not supported (use snappy or no WAL compression)",
                    path.display()
                )));
            }
            let complete: Option<(u64, bool)> = match (base, rec_start) {
                (FULL, None) => {
                    rec_comp = comp;
                    Some((at, false))
                }
                (FIRST, None) => {
                    rec.clear();
                    rec.extend_from_slice(data);
                    rec_start = Some(at);
                    rec_comp = comp;
                    None
                }
                (MIDDLE, Some(_)) => {
                    rec.extend_from_slice(data);
                    None
                }
                (LAST, Some(s)) => {
                    rec.extend_from_slice(data);
                    Some((s, true))
                }
                _ => {
                    return Ok((records, Some(corrupt(good_end, format!("unexpected fragment type {base} at {at}")))));
                }
            };
            if let Some((start, assembled)) = complete {
                let mut payload: &[u8] = if assembled { &rec } else { data };
                if rec_comp == SNAPPY {
                    if let Err(what) = snappy_decode(payload, &mut decompressed) {
                        return Ok((records, Some(corrupt(start, what))));
                    }
                    payload = &decompressed;
                }
                match f(payload)? {
                    Step::Continue => records += 1,
                    Step::Corrupt(what) => return Ok((records, Some(corrupt(start, what)))),
                }
                rec_start = None;
            }
            i += HEADER_SIZE + len;
        }
        page_off += n as u64;
        if n < PAGE_SIZE {
            break;
        }
    }
    if let Some(s) = rec_start {
        return Ok((records, Some(corrupt(s, "torn record at end of segment".into()))));
    }
    Ok((records, None))
}

/// Decompresses a snappy (block format) record into `out`.
fn snappy_decode(data: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let len = snap::raw::decompress_len(data).map_err(|e| format!("bad snappy record: {e}"))?;
    if len > MAX_DECOMPRESSED_RECORD {
        return Err(format!("snappy record claims {len} bytes, more than the {MAX_DECOMPRESSED_RECORD} allowed"));
    }
    out.clear();
    out.resize(len, 0);
    let n = snap::raw::Decoder::new().decompress(data, out).map_err(|e| format!("bad snappy record: {e}"))?;
    out.truncate(n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<(u64, String)>) {
        let mut recs = Vec::new();
        let (n, c) = read_segment_from(0, Path::new("seg"), bytes, &mut |r| {
            recs.push(r.to_vec());
            Ok(Step::Continue)
        })
        .unwrap();
        assert_eq!(n as usize, recs.len());
        (recs, c.map(|c| (c.offset, c.what)))
    }

    fn write(records: &[Vec<u8>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 3).unwrap();
        for r in records {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(w.len(), fs::metadata(&w.path).unwrap().len());
        fs::read(&w.path).unwrap()
    }

    #[test]
    fn framing_known_bytes() {
        // A full fragment: type 1, len 3 BE, CRC-32C("abc") = 0x364b3fb7 BE, data.
        assert_eq!(write(&[b"abc".to_vec()]), [1, 0, 3, 0x36, 0x4b, 0x3f, 0xb7, b'a', b'b', b'c']);
        // An empty record is a full fragment of length 0.
        assert_eq!(write(&[vec![]]), [1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn records_split_across_pages() {
        let big: Vec<u8> = (0..3 * PAGE_SIZE as u32).map(|i| (i * 7 % 251) as u8).collect();
        let recs =
            vec![b"x".to_vec(), big.clone(), vec![], vec![9; PAGE_SIZE - 2 * HEADER_SIZE - 8 - 3], b"tail".to_vec()];
        let bytes = write(&recs);
        // First, middle and last fragments of the big record.
        assert_eq!(bytes[8], FIRST);
        assert_eq!(bytes[PAGE_SIZE], MIDDLE);
        let (got, c) = read_all(&bytes);
        assert_eq!(c, None);
        assert_eq!(got, recs);
    }

    #[test]
    fn page_padding_when_less_than_a_header_is_left() {
        // Leave exactly 6 bytes in the first page: it is padded, the next record starts a page.
        let recs = vec![vec![1; PAGE_SIZE - HEADER_SIZE - 6], b"next".to_vec()];
        let bytes = write(&recs);
        assert!(bytes[PAGE_SIZE - 6..PAGE_SIZE].iter().all(|&b| b == 0));
        assert_eq!(bytes[PAGE_SIZE], FULL);
        assert_eq!(read_all(&bytes), (recs, None));
    }

    /// Frames `payload` as one record split into fragments of at most `frag` bytes, each
    /// fragment's type byte or'ed with `flags` (as Prometheus's writer does).
    fn frame(payload: &[u8], frag: usize, flags: u8) -> Vec<u8> {
        let parts: Vec<&[u8]> = if payload.is_empty() { vec![payload] } else { payload.chunks(frag).collect() };
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let typ = match (i, parts.len()) {
                (_, 1) => FULL,
                (0, _) => FIRST,
                (i, n) if i == n - 1 => LAST,
                _ => MIDDLE,
            };
            out.push(typ | flags);
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(&crc32c::crc32c(p).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// With compression on, compressible records are written snappy-compressed with the flag on
    /// every fragment (also across pages) and read back as they were; incompressible ones stay
    /// raw.
    #[test]
    fn compressed_writes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 0).unwrap().compressed(true);
        let small = b"abcabcabcabcabcabcabcabcabcabc".to_vec();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let random: Vec<u8> = (0..40u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for r in [&small, &big, &random] {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
        let bytes = std::fs::read(&w.path).unwrap();
        assert_eq!(bytes[0], FULL | SNAPPY, "the small record is compressed");
        let (recs, corrupt) = read_all(&bytes);
        assert!(corrupt.is_none(), "{corrupt:?}");
        assert_eq!(recs, vec![small.clone(), big.clone(), random.clone()]);
        assert!(bytes.len() < small.len() + big.len() / 4, "compressed: {} bytes", bytes.len());
        // Every fragment of a compressed record carries the flag; the random record's does not.
        let mut i = 0;
        let mut flags = Vec::new();
        while i + HEADER_SIZE <= bytes.len() {
            let typ = bytes[i];
            if typ == 0 {
                i = (i / PAGE_SIZE + 1) * PAGE_SIZE;
                continue;
            }
            let len = u16::from_be_bytes([bytes[i + 1], bytes[i + 2]]) as usize;
            flags.push((typ & !COMPRESSION_MASK, typ & COMPRESSION_MASK));
            i += HEADER_SIZE + len;
        }
        assert!(flags.len() > 2);
        assert_eq!(flags.last(), Some(&(FULL, 0)), "the incompressible record stays raw");
        assert!(flags[..flags.len() - 1].iter().all(|&(_, f)| f == SNAPPY), "{flags:?}");
    }

    #[test]
    fn snappy_records_are_decompressed() {
        let check = |rec: &[u8], frag: usize| {
            let comp = snap::raw::Encoder::new().compress_vec(rec).unwrap();
            let mut bytes = frame(&comp, frag, SNAPPY);
            bytes.extend(frame(b"plain", 100, 0));
            assert_eq!(read_all(&bytes), (vec![rec.to_vec(), b"plain".to_vec()], None), "frag {frag}");
        };
        check(b"", 100);
        check(b"hello hello hello hello", 100);
        let big: Vec<u8> = (0..5000u32).flat_map(|i| (i % 97).to_le_bytes()).collect();
        check(&big, 100_000);
        check(&big, 7);
        check(&big, 1000);
    }

    #[test]
    fn bad_snappy_records_and_zstd() {
        // Valid framing, garbage snappy: corruption at the record start.
        let mut bytes = frame(b"ok", 100, 0);
        bytes.extend(frame(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2], 100, SNAPPY));
        let (got, c) = read_all(&bytes);
        assert_eq!(got, [b"ok".to_vec()]);
        let (off, what) = c.unwrap();
        assert_eq!(off, 9);
        assert!(what.contains("snappy"), "{what}");
        // A huge claimed length is refused before allocating.
        let mut huge = Vec::new();
        let mut n: u64 = 1 << 31;
        while n >= 0x80 {
            huge.push((n as u8) | 0x80);
            n >>= 7;
        }
        huge.push(n as u8);
        let (_, c) = read_all(&frame(&huge, 100, SNAPPY));
        assert!(c.unwrap().1.contains("snappy"));
        // zstd: an error, never a truncation point.
        let e = read_segment_from(0, Path::new("seg"), &frame(b"x", 100, ZSTD)[..], &mut |_| Ok(Step::Continue))
            .unwrap_err()
            .to_string();
        assert!(e.contains("zstd"), "{e}");
    }

    #[test]
    fn corruptions_are_reported_with_offsets() {
        let recs = vec![b"one".to_vec(), b"two".to_vec()];
        let good = write(&recs);
        let check = |bytes: &[u8], n: usize, offset: u64, what: &str| {
            let (got, c) = read_all(bytes);
            assert_eq!(got, recs[..n], "{what}");
            let (off, w) = c.expect(what);
            assert_eq!(off, offset, "{what}: {w}");
            assert!(w.contains(what), "{w}");
        };
        let mut b = good.clone();
        b[18] ^= 1; // data of record 2
        check(&b, 1, 10, "checksum");
        let mut b = good.clone();
        b[10] = 5;
        check(&b, 1, 10, "invalid fragment type");
        let mut b = good.clone();
        b[10] = 0x21;
        check(&b, 1, 10, "invalid fragment type");
        let mut b = good.clone();
        b[10] = FULL | SNAPPY;
        check(&b, 1, 10, "bad snappy record");
        let mut b = good.clone();
        b[10] = FULL | SNAPPY | ZSTD;
        check(&b, 1, 10, "invalid fragment type");
        let mut b = good.clone();
        b[10] = LAST;
        check(&b, 1, 10, "unexpected fragment");
        check(&good[..18], 1, 10, "torn fragment (length 3)");
        check(&good[..13], 1, 10, "torn fragment header");
        let mut b = good.clone();
        b.extend_from_slice(&[0, 0, 5]);
        check(&b, 2, 20, "non-zero byte in page padding at 22");
        // A first fragment with no continuation.
        let mut b = good.clone();
        b.extend_from_slice(&[FIRST, 0, 1]);
        b.extend_from_slice(&crc32c::crc32c(b"z").to_be_bytes());
        b.push(b'z');
        check(&b, 2, 20, "torn record");
        // Trailing zeros (a file extended but never written) are padding, not corruption.
        let mut b = good.clone();
        b.resize(PAGE_SIZE + 100, 0);
        assert_eq!(read_all(&b), (recs.clone(), None));
    }
}
