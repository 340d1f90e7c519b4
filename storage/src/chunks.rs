//! Block chunk segment files: `<block>/chunks/000001`, `000002`, ….
//!
//! Each segment starts with an 8-byte header (magic `0x85BD40DD`, version 1, 3 zero bytes) and
//! holds chunk records `len(data)<uvarint> | encoding<1b> | data | CRC32C(encoding, data)<4b>`.
//! A chunk's reference is `segment_index << 32 | offset`, where `segment_index` is 0-based (file
//! `000001` is index 0). [`ChunkWriter`] writes segments of at most
//! [`DEFAULT_SEGMENT_SIZE`] (configurable); [`ChunkFileReader`] maps them and serves
//! [`crate::reader::ChunkReader`], checking each record's CRC. The layout is in
//! `docs/format/chunks.md`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::index::encoding::{put_uvarint, read_uvarint};
use crate::mmap::MappedFile;
use crate::reader::{ChunkData, ChunkMeta, ChunkReader};

/// Magic number at the start of a chunk segment.
pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// The segment format version.
pub const CHUNKS_FORMAT_V1: u8 = 1;
/// Magic (4) + version (1) + padding (3).
pub const SEGMENT_HEADER_SIZE: u64 = 8;
/// Prometheus's default maximum segment size.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 << 20;
/// Worst-case record overhead: 5-byte length, encoding byte, CRC.
const MAX_RECORD_OVERHEAD: u64 = 5 + 1 + 4;
/// Directory of the segments inside a block.
pub const CHUNKS_DIRNAME: &str = "chunks";

/// Packs a block chunk reference.
pub fn chunk_ref(segment_index: u32, offset: u32) -> u64 {
    (segment_index as u64) << 32 | offset as u64
}

/// Unpacks a block chunk reference into `(segment_index, offset)`.
pub fn unpack_chunk_ref(r: u64) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// The path of segment number `seq` (1-based, as in the file name) in `dir`.
pub fn segment_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

/// Writes chunks into numbered segment files of a directory.
pub struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    /// Paths of the segments written so far; the last one is open.
    files: Vec<PathBuf>,
    cur: Option<BufWriter<File>>,
    /// Bytes written to the current segment.
    n: u64,
    chunks_in_segment: u64,
}

impl ChunkWriter {
    /// A writer into `dir` (created if missing) with the default segment size.
    pub fn new(dir: &Path) -> Result<Self> {
        Self::with_segment_size(dir, DEFAULT_SEGMENT_SIZE)
    }

    /// A writer whose segments hold at most `segment_size` bytes (at most 4 GiB, as offsets are
    /// 32-bit). A chunk larger than a segment gets a segment of its own.
    pub fn with_segment_size(dir: &Path, segment_size: u64) -> Result<Self> {
        if segment_size > u32::MAX as u64 || segment_size <= SEGMENT_HEADER_SIZE {
            return Err(Error::InvalidArgument(format!("chunk segment size {segment_size} out of range")));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("mkdir", dir, e))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            segment_size,
            files: Vec::new(),
            cur: None,
            n: 0,
            chunks_in_segment: 0,
        })
    }

    fn finalize_tail(&mut self) -> Result<()> {
        if let Some(mut f) = self.cur.take() {
            let path = self.files.last().cloned().unwrap_or_default();
            f.flush().map_err(|e| Error::io("flush", &path, e))?;
            f.get_ref().sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<()> {
        self.finalize_tail()?;
        let seq = u32::try_from(self.files.len() + 1)
            .map_err(|_| Error::InvalidArgument("too many chunk segments".into()))?;
        let path = segment_path(&self.dir, seq);
        let f = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut header = [0u8; SEGMENT_HEADER_SIZE as usize];
        header[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        w.write_all(&header).map_err(|e| Error::io("write", &path, e))?;
        self.files.push(path);
        self.cur = Some(w);
        self.n = SEGMENT_HEADER_SIZE;
        self.chunks_in_segment = 0;
        Ok(())
    }

    /// Appends one chunk and returns its reference.
    pub fn write_chunk(&mut self, chunk: &ChunkData) -> Result<u64> {
        let len = u32::try_from(chunk.bytes.len())
            .map_err(|_| Error::InvalidArgument(format!("chunk of {} bytes is too large", chunk.bytes.len())))?;
        let size = MAX_RECORD_OVERHEAD + len as u64;
        if self.cur.is_none() || (self.chunks_in_segment > 0 && self.n + size > self.segment_size) {
            self.cut()?;
        }
        let seg = (self.files.len() - 1) as u32;
        let r = chunk_ref(seg, self.n as u32);
        let mut head = Vec::with_capacity(6);
        put_uvarint(&mut head, len as u64);
        head.push(chunk.encoding);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[chunk.encoding]), &chunk.bytes);
        let path = self.files.last().cloned().unwrap_or_default();
        let w = match self.cur.as_mut() {
            Some(w) => w,
            None => return Err(Error::Other("chunk writer has no open segment".into())),
        };
        let io = |e| Error::io("write", &path, e);
        w.write_all(&head).map_err(io)?;
        w.write_all(&chunk.bytes).map_err(io)?;
        w.write_all(&crc.to_be_bytes()).map_err(io)?;
        self.n += (head.len() + chunk.bytes.len() + 4) as u64;
        self.chunks_in_segment += 1;
        Ok(r)
    }

    /// Writes the chunks of one series, filling in each meta's `chunk_ref`.
    pub fn write_chunks(&mut self, chunks: &mut [(ChunkMeta, ChunkData)]) -> Result<()> {
        for (meta, data) in chunks.iter_mut() {
            meta.chunk_ref = self.write_chunk(data)?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the last segment and the directory. Returns the segment paths.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.finalize_tail()?;
        crate::block::sync_dir(&self.dir)?;
        Ok(std::mem::take(&mut self.files))
    }
}

/// Reads the chunk segments of a directory through memory maps.
#[derive(Debug)]
pub struct ChunkFileReader {
    dir: PathBuf,
    segments: Vec<(PathBuf, MappedFile)>,
    size: u64,
}

impl ChunkFileReader {
    /// Maps every numbered segment of `dir` (in numeric order) and checks their headers.
    pub fn open(dir: &Path) -> Result<Self> {
        let mut seqs: Vec<(u64, PathBuf)> = Vec::new();
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("read dir", dir, e))?;
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
                seqs.push((n, entry.path()));
            }
        }
        seqs.sort();
        let mut segments = Vec::with_capacity(seqs.len());
        let mut size = 0;
        for (_, path) in seqs {
            let m = MappedFile::open(&path)?;
            let b = m.as_slice();
            if b.len() < SEGMENT_HEADER_SIZE as usize {
                return Err(Error::corruption(&path, 0, format!("segment too small ({} bytes)", b.len())));
            }
            let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if magic != MAGIC_CHUNKS {
                return Err(Error::corruption(&path, 0, format!("invalid magic number {magic:#010x}")));
            }
            if b[4] != CHUNKS_FORMAT_V1 {
                return Err(Error::corruption(&path, 4, format!("invalid chunk format version {}", b[4])));
            }
            size += b.len() as u64;
            segments.push((path, m));
        }
        Ok(ChunkFileReader { dir: dir.to_path_buf(), segments, size })
    }

    /// Total bytes of all segments.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of segment files.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The chunk at reference `r`, CRC-checked.
    pub fn chunk_at(&self, r: u64) -> Result<ChunkData> {
        let (encoding, bytes) = self.chunk_slice(r)?;
        Ok(ChunkData { encoding, bytes: bytes.to_vec() })
    }

    /// The encoding and bytes of the chunk at reference `r`, CRC-checked, borrowed from the
    /// memory map.
    pub fn chunk_slice(&self, r: u64) -> Result<(u8, &[u8])> {
        let (seg, off) = unpack_chunk_ref(r);
        let Some((path, m)) = self.segments.get(seg as usize) else {
            return Err(Error::corruption(
                &self.dir,
                off as u64,
                format!("chunk ref {r:#x}: segment index {seg} out of range"),
            ));
        };
        let b = m.as_slice();
        let bad = |what: String| Error::corruption(path, off as u64, format!("chunk ref {r:#x}: {what}"));
        let off = off as usize;
        if (off as u64) < SEGMENT_HEADER_SIZE || off >= b.len() {
            return Err(bad(format!("offset outside the segment of {} bytes", b.len())));
        }
        let (len, n) = read_uvarint(&b[off..b.len().min(off + 5)]).ok_or_else(|| bad("invalid length".into()))?;
        let enc_at = off + n;
        let end = (enc_at as u64 + 1 + len + 4) as usize;
        if len > u32::MAX as u64 || end > b.len() {
            return Err(bad(format!("chunk of {len} bytes runs past the end of the segment")));
        }
        let data_end = end - 4;
        let want = u32::from_be_bytes([b[data_end], b[data_end + 1], b[data_end + 2], b[data_end + 3]]);
        if crc32c::crc32c(&b[enc_at..data_end]) != want {
            return Err(bad("checksum mismatch".into()));
        }
        Ok((b[enc_at], &b[enc_at + 1..data_end]))
    }
}

impl ChunkReader for ChunkFileReader {
    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData> {
        self.chunk_at(meta.chunk_ref)
    }

    fn with_chunk(&self, meta: &ChunkMeta, f: &mut dyn FnMut(u8, &[u8]) -> Result<()>) -> Result<()> {
        let (encoding, bytes) = self.chunk_slice(meta.chunk_ref)?;
        f(encoding, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(encoding: u8, n: usize, seed: u8) -> ChunkData {
        ChunkData { encoding, bytes: (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect() }
    }

    fn write(dir: &Path, seg: u64, chunks: &[ChunkData]) -> Vec<u64> {
        let mut w = ChunkWriter::with_segment_size(dir, seg).unwrap();
        let refs = chunks.iter().map(|c| w.write_chunk(c).unwrap()).collect();
        w.finish().unwrap();
        refs
    }

    #[test]
    fn ref_packing() {
        assert_eq!(chunk_ref(0, 8), 8);
        assert_eq!(chunk_ref(2, 16), (2 << 32) | 16);
        assert_eq!(unpack_chunk_ref((3 << 32) | 99), (3, 99));
        assert_eq!(segment_path(Path::new("c"), 1), Path::new("c/000001"));
    }

    #[test]
    fn exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let refs = write(dir.path(), DEFAULT_SEGMENT_SIZE, &[ChunkData { encoding: 1, bytes: vec![0, 1, 2] }]);
        assert_eq!(refs, [8]);
        let got = std::fs::read(dir.path().join("000001")).unwrap();
        let mut want = vec![0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0, 3, 1, 0, 1, 2];
        want.extend_from_slice(&crc32c::crc32c(&[1, 0, 1, 2]).to_be_bytes());
        assert_eq!(got, want);
    }

    #[test]
    fn round_trip_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let chunks: Vec<ChunkData> =
            (0..50).map(|i| data(1 + (i % 3) as u8, [0, 1, 2, 127, 128, 300][i % 6], i as u8)).collect();
        let refs = write(dir.path(), 1000, &chunks);
        let r = ChunkFileReader::open(dir.path()).unwrap();
        assert!(r.segments() > 1, "expected several segments");
        for (rf, c) in refs.iter().zip(&chunks) {
            assert_eq!(&r.chunk_at(*rf).unwrap(), c);
            // The borrowed view lends the same bytes.
            let meta = ChunkMeta { chunk_ref: *rf, min_time: 0, max_time: 0 };
            let mut lent = None;
            r.with_chunk(&meta, &mut |encoding, bytes| {
                lent = Some(ChunkData { encoding, bytes: bytes.to_vec() });
                Ok(())
            })
            .unwrap();
            assert_eq!(lent.as_ref(), Some(c));
        }
        // Refs increase, and every segment but the first starts at offset 8.
        assert!(refs.windows(2).all(|w| w[0] < w[1]));
        let total: u64 =
            (1..=r.segments() as u32).map(|s| std::fs::metadata(segment_path(dir.path(), s)).unwrap().len()).sum();
        assert_eq!(r.size(), total);
        for s in 1..=r.segments() as u32 {
            assert!(std::fs::metadata(segment_path(dir.path(), s)).unwrap().len() <= 1000);
        }
    }

    #[test]
    fn oversized_chunk_gets_its_own_segment() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = [data(1, 10, 0), data(1, 500, 1), data(1, 10, 2)];
        let refs = write(dir.path(), 100, &chunks);
        assert_eq!(refs, [8, (1 << 32) | 8, (2 << 32) | 8]);
        let r = ChunkFileReader::open(dir.path()).unwrap();
        assert_eq!(r.chunk_at(refs[1]).unwrap(), chunks[1]);
    }

    #[test]
    fn write_chunks_fills_refs() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ChunkWriter::new(dir.path()).unwrap();
        let m = ChunkMeta { chunk_ref: 0, min_time: 0, max_time: 1 };
        let mut cs = vec![(m, data(1, 4, 0)), (m, data(1, 6, 0))];
        w.write_chunks(&mut cs).unwrap();
        w.finish().unwrap();
        assert_eq!(cs[0].0.chunk_ref, 8);
        assert_eq!(cs[1].0.chunk_ref, 8 + 1 + 1 + 4 + 4);
        let r = ChunkFileReader::open(dir.path()).unwrap();
        assert_eq!(r.chunk(&cs[1].0).unwrap(), cs[1].1);
    }

    fn expect_corruption(r: Result<impl std::fmt::Debug>, what: &str) {
        assert!(matches!(r, Err(Error::Corruption { .. })), "{what}: got {r:?}");
    }

    #[test]
    fn corruption() {
        let dir = tempfile::tempdir().unwrap();
        let refs = write(dir.path(), DEFAULT_SEGMENT_SIZE, &[data(1, 20, 0), data(1, 20, 1)]);
        let path = dir.path().join("000001");
        let good = std::fs::read(&path).unwrap();
        let r = ChunkFileReader::open(dir.path()).unwrap();
        expect_corruption(r.chunk_at(1 << 32 | 8), "segment out of range");
        expect_corruption(r.chunk_at(0), "inside header");
        expect_corruption(r.chunk_at(good.len() as u64), "past end");
        expect_corruption(r.chunk_at(refs[1] - 1), "misaligned");
        // Every single flipped byte of a record gives an error or a different ref's data.
        for i in 8..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            std::fs::write(&path, &b).unwrap();
            let r = ChunkFileReader::open(dir.path()).unwrap();
            let which = if (i as u64) < refs[1] { refs[0] } else { refs[1] };
            expect_corruption(r.chunk_at(which), &format!("flip at {i}"));
        }
        // Truncation.
        std::fs::write(&path, &good[..good.len() - 2]).unwrap();
        let r = ChunkFileReader::open(dir.path()).unwrap();
        assert!(r.chunk_at(refs[0]).is_ok());
        expect_corruption(r.chunk_at(refs[1]), "truncated");
        // Headers.
        let mut b = good.clone();
        b[1] ^= 1;
        std::fs::write(&path, &b).unwrap();
        expect_corruption(ChunkFileReader::open(dir.path()), "magic");
        let mut b = good.clone();
        b[4] = 2;
        std::fs::write(&path, &b).unwrap();
        expect_corruption(ChunkFileReader::open(dir.path()), "version");
        std::fs::write(&path, &good[..5]).unwrap();
        expect_corruption(ChunkFileReader::open(dir.path()), "short header");
    }
}
