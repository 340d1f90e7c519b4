//! Memory-mapped head chunk files (`<dir>/chunks_head/NNNNNN`), Prometheus's `head_chunks` format.
//!
//! When a head series cuts a chunk, the full chunk is appended here and dropped from the heap;
//! the series keeps only its reference `(file sequence << 32) | offset`. Readers map the files
//! read-only (see [`crate::mmap`]); only fully written records are ever read.
//!
//! ```text
//! file:   magic 0x0130BC91 <4b BE> | version 1 <1b> | 3 zero bytes | record*
//! record: series_ref <8b BE> | mint <8b BE> | maxt <8b BE> | encoding <1b> | len <uvarint>
//!         | data <len bytes> | CRC32C <4b BE> over series_ref .. data
//! ```
//!
//! Files are cut at 128 MiB. After a restart writing continues in a new file. An all-zero rest
//! of a file ends its data (Prometheus writes its files zero-padded). A file with a
//! bad header or a bad record is truncated at the first bad record, and all later files are
//! deleted (their data is still in the WAL), with a warning.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use integer_encoding::VarInt;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::mmap::MappedFile;
use crate::reader::ChunkData;

pub(crate) const MAGIC: u32 = 0x0130_BC91;
pub(crate) const VERSION: u8 = 1;
pub(crate) const HEADER_LEN: usize = 8;
/// Maximum size of one head chunk file.
pub(crate) const MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// The top bit of the encoding byte marks out-of-order chunks.
pub(crate) const OOO_MASK: u8 = 0x80;
/// series_ref + mint + maxt + encoding.
const RECORD_FIXED: usize = 8 + 8 + 8 + 1;

/// A chunk found in the files at open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MappedChunk {
    pub series_ref: u64,
    pub chunk_ref: u64,
    pub mint: i64,
    pub maxt: i64,
    pub encoding: u8,
}

struct Writer {
    seq: u32,
    file: File,
    offset: u64,
}

/// Writes and reads the head chunk files of one directory.
pub(crate) struct ChunkDiskMapper {
    dir: PathBuf,
    writer: Mutex<Option<Writer>>,
    /// Sequence number → read-only map (remapped when a read goes past its end).
    maps: RwLock<BTreeMap<u32, MappedFile>>,
    /// Sequence numbers of all files on disk.
    files: Mutex<Vec<u32>>,
}

fn file_name(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

pub(crate) fn chunk_ref(seq: u32, offset: u64) -> u64 {
    ((seq as u64) << 32) | (offset & 0xffff_ffff)
}

fn split_ref(r: u64) -> (u32, usize) {
    ((r >> 32) as u32, (r & 0xffff_ffff) as usize)
}

/// Encodes one record.
pub(crate) fn encode_record(series_ref: u64, mint: i64, maxt: i64, encoding: u8, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(RECORD_FIXED + 5 + data.len() + 4);
    b.extend_from_slice(&series_ref.to_be_bytes());
    b.extend_from_slice(&mint.to_be_bytes());
    b.extend_from_slice(&maxt.to_be_bytes());
    b.push(encoding);
    let mut tmp = [0u8; 10];
    let n = (data.len() as u64).encode_var(&mut tmp);
    b.extend_from_slice(&tmp[..n]);
    b.extend_from_slice(data);
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

/// Decodes the record at `off` of `buf`: the record and its total length.
/// Errors describe what is wrong (the caller adds path and offset).
pub(crate) fn decode_record(buf: &[u8], off: usize) -> std::result::Result<(MappedChunk, usize, usize, usize), String> {
    let rest = buf.get(off..).ok_or("offset past end of file")?;
    if rest.len() < RECORD_FIXED + 1 {
        return Err(format!("truncated record header ({} bytes left)", rest.len()));
    }
    let be64 = |i: usize| u64::from_be_bytes(rest[i..i + 8].try_into().unwrap_or([0; 8]));
    let series_ref = be64(0);
    let mint = be64(8) as i64;
    let maxt = be64(16) as i64;
    let encoding = rest[24];
    let (len, n) = u64::decode_var(&rest[RECORD_FIXED..]).ok_or("bad data length varint")?;
    let data_start = RECORD_FIXED + n;
    let len = usize::try_from(len).map_err(|_| "data length overflows")?;
    let data_end = data_start.checked_add(len).ok_or("data length overflows")?;
    if rest.len() < data_end + 4 || len > MAX_FILE_SIZE as usize {
        return Err(format!("truncated record: data of {len} bytes runs past end of file"));
    }
    let want = u32::from_be_bytes(rest[data_end..data_end + 4].try_into().unwrap_or([0; 4]));
    let got = crc32c::crc32c(&rest[..data_end]);
    if want != got {
        return Err(format!("checksum mismatch: stored {want:#010x}, computed {got:#010x}"));
    }
    if encoding & !OOO_MASK == 0 || mint > maxt {
        return Err(format!("bad record: encoding {encoding}, mint {mint}, maxt {maxt}"));
    }
    let c = MappedChunk { series_ref, chunk_ref: 0, mint, maxt, encoding };
    Ok((c, off + data_start, len, off + data_end + 4))
}

impl ChunkDiskMapper {
    /// Opens (creating) `dir`, scans the existing files, repairs corruption, and returns the
    /// chunks found in file order. New chunks go to a fresh file.
    pub fn open(dir: &Path) -> Result<(Self, Vec<MappedChunk>)> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create dir", dir, e))?;
        let mut seqs = Vec::new();
        for ent in fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))? {
            let ent = ent.map_err(|e| Error::io("read dir", dir, e))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() >= 6
                && name.bytes().all(|b| b.is_ascii_digit())
                && let Ok(seq) = name.parse::<u32>()
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut chunks = Vec::new();
        let mut kept = Vec::new();
        let mut broken = false;
        for &seq in &seqs {
            let path = file_name(dir, seq);
            if broken {
                tracing::warn!(path = %path.display(), "deleting head chunk file after a corrupt one; its data is replayed from the WAL");
                fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                continue;
            }
            let (good_len, ok) = {
                let map = MappedFile::open(&path)?;
                scan_file(&path, map.as_slice(), seq, &mut chunks)
            };
            if !ok {
                broken = true;
                if good_len <= HEADER_LEN {
                    tracing::warn!(path = %path.display(), "deleting corrupt head chunk file; its data is replayed from the WAL");
                    fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                    continue;
                }
                tracing::warn!(path = %path.display(), offset = good_len, "truncating corrupt head chunk file; the rest is replayed from the WAL");
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
                f.set_len(good_len as u64).map_err(|e| Error::io("truncate", &path, e))?;
                f.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
            }
            kept.push(seq);
        }
        let m = ChunkDiskMapper {
            dir: dir.to_path_buf(),
            writer: Mutex::new(None),
            maps: RwLock::new(BTreeMap::new()),
            files: Mutex::new(kept),
        };
        Ok((m, chunks))
    }

    fn new_file(&self, seq: u32) -> Result<Writer> {
        let path = file_name(&self.dir, seq);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut hdr = [0u8; HEADER_LEN];
        hdr[..4].copy_from_slice(&MAGIC.to_be_bytes());
        hdr[4] = VERSION;
        file.write_all(&hdr).map_err(|e| Error::io("write", &path, e))?;
        self.files.lock().push(seq);
        Ok(Writer { seq, file, offset: HEADER_LEN as u64 })
    }

    /// Appends a chunk and returns its reference.
    pub fn write(&self, series_ref: u64, mint: i64, maxt: i64, encoding: u8, data: &[u8]) -> Result<u64> {
        let rec = encode_record(series_ref, mint, maxt, encoding, data);
        let mut w = self.writer.lock();
        let full = w.as_ref().is_some_and(|w| w.offset + rec.len() as u64 > MAX_FILE_SIZE);
        if full && let Some(old) = w.take() {
            let path = file_name(&self.dir, old.seq);
            old.file.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        }
        if w.is_none() {
            let next = self.files.lock().last().map_or(1, |s| s + 1);
            *w = Some(self.new_file(next)?);
        }
        let Some(wr) = w.as_mut() else {
            return Err(Error::Other("head chunk writer missing".into()));
        };
        let r = chunk_ref(wr.seq, wr.offset);
        if let Err(e) = wr.file.write_all(&rec) {
            // Cut off a partial record so the file stays readable, and continue in a new file.
            let _ = wr.file.set_len(wr.offset);
            let path = file_name(&self.dir, wr.seq);
            *w = None;
            return Err(Error::io("write", path, e));
        }
        wr.offset += rec.len() as u64;
        Ok(r)
    }

    /// Reads the chunk at `r`.
    pub fn read(&self, r: u64) -> Result<ChunkData> {
        let (seq, off) = split_ref(r);
        let path = file_name(&self.dir, seq);
        for attempt in 0..2 {
            let map = {
                let maps = self.maps.read();
                maps.get(&seq).cloned()
            };
            let map = match map {
                Some(m) if attempt == 0 => m,
                _ => {
                    if !path.exists() {
                        return Err(Error::corruption(&path, off as u64, "head chunk file is gone"));
                    }
                    let m = MappedFile::open(&path)?;
                    self.maps.write().insert(seq, m.clone());
                    m
                }
            };
            match decode_record(map.as_slice(), off) {
                Ok((c, start, len, _)) => {
                    let bytes = map.as_slice()[start..start + len].to_vec();
                    return Ok(ChunkData { encoding: c.encoding & !OOO_MASK, bytes });
                }
                // The map may predate the write: map again once.
                Err(_) if attempt == 0 => continue,
                Err(e) => return Err(Error::corruption(&path, off as u64, e)),
            }
        }
        Err(Error::corruption(&path, off as u64, "unreadable head chunk"))
    }

    /// Deletes files with a sequence number below `min_seq` (never the file being written),
    /// returning how many were removed.
    pub fn delete_before(&self, min_seq: u32) -> Result<usize> {
        let active = self.writer.lock().as_ref().map(|w| w.seq);
        let mut files = self.files.lock();
        let mut removed = 0;
        let mut keep = Vec::with_capacity(files.len());
        for &seq in files.iter() {
            if seq < min_seq && Some(seq) != active {
                let path = file_name(&self.dir, seq);
                self.maps.write().remove(&seq);
                fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                removed += 1;
            } else {
                keep.push(seq);
            }
        }
        *files = keep;
        Ok(removed)
    }

    /// The sequence number of the file being written (or that will be written next).
    pub fn active_seq(&self) -> u32 {
        if let Some(w) = self.writer.lock().as_ref() {
            return w.seq;
        }
        self.files.lock().last().map_or(1, |s| s + 1)
    }

    /// Fsyncs the file being written.
    pub fn sync(&self) -> Result<()> {
        if let Some(w) = self.writer.lock().as_ref() {
            w.file.sync_all().map_err(|e| Error::io("fsync", file_name(&self.dir, w.seq), e))?;
        }
        Ok(())
    }

    /// Number of files on disk.
    #[cfg(test)]
    pub fn num_files(&self) -> usize {
        self.files.lock().len()
    }
}

/// Scans one file, pushing its chunks. Returns the length of the valid prefix and whether the
/// whole file was valid.
fn scan_file(path: &Path, buf: &[u8], seq: u32, out: &mut Vec<MappedChunk>) -> (usize, bool) {
    if buf.len() < HEADER_LEN {
        tracing::warn!(path = %path.display(), len = buf.len(), "head chunk file shorter than its header");
        return (0, false);
    }
    let magic = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if magic != MAGIC || buf[4] != VERSION {
        tracing::warn!(path = %path.display(), magic, version = buf[4], "bad head chunk file header");
        return (0, false);
    }
    let mut off = HEADER_LEN;
    while off < buf.len() {
        match decode_record(buf, off) {
            Ok((mut c, _, _, end)) => {
                c.chunk_ref = chunk_ref(seq, off as u64);
                out.push(c);
                off = end;
            }
            // Prometheus pre-allocates its head chunk files: an all-zero rest is the end of
            // the written data, not corruption.
            Err(_) if buf[off..].iter().all(|&b| b == 0) => {
                tracing::debug!(path = %path.display(), offset = off, "zero padding ends the head chunk file");
                return (off, true);
            }
            Err(what) => {
                tracing::warn!(path = %path.display(), offset = off, %what, "corrupt head chunk record");
                return (off, false);
            }
        }
    }
    (off, true)
}

/// Set in a [`ChunkStore`] reference naming a chunk kept on the heap.
const MEM_BIT: u64 = 1 << 63;
const MEM_SHARDS: usize = 16;
type MemShard = Mutex<std::collections::HashMap<u64, Box<[u8]>>>;

/// Where the head's full chunks live: the chunk files when the head has a directory, else (and
/// when writing a file fails) the heap. References are `u64`s either way, so a series keeps
/// 24 bytes per full chunk (`mint`, `maxt`, reference).
pub(crate) struct ChunkStore {
    pub disk: Option<ChunkDiskMapper>,
    mem: Box<[MemShard]>,
    next_mem: std::sync::atomic::AtomicU64,
}

impl ChunkStore {
    pub fn new(disk: Option<ChunkDiskMapper>) -> Self {
        ChunkStore {
            disk,
            mem: (0..MEM_SHARDS).map(|_| Mutex::new(Default::default())).collect(),
            next_mem: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn mem_shard(&self, r: u64) -> &MemShard {
        &self.mem[(r as usize) % MEM_SHARDS]
    }

    /// Stores a full XOR chunk of `series_ref` and returns its reference.
    pub fn write(&self, series_ref: u64, mint: i64, maxt: i64, data: Vec<u8>) -> u64 {
        if let Some(d) = &self.disk {
            match d.write(series_ref, mint, maxt, crate::chunkenc::ENCODING_XOR, &data) {
                Ok(r) => return r,
                Err(e) => {
                    tracing::error!(series = series_ref, error = %e, "writing head chunk failed; keeping it in memory")
                }
            }
        }
        let r = MEM_BIT | self.next_mem.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.mem_shard(r).lock().insert(r, data.into_boxed_slice());
        r
    }

    pub fn read(&self, r: u64) -> Result<ChunkData> {
        if r & MEM_BIT != 0 {
            return match self.mem_shard(r).lock().get(&r) {
                Some(b) => Ok(ChunkData { encoding: crate::chunkenc::ENCODING_XOR, bytes: b.to_vec() }),
                None => Err(Error::Other(format!("in-memory head chunk {r:#x} not found"))),
            };
        }
        match &self.disk {
            Some(d) => d.read(r),
            None => Err(Error::Other(format!("head chunk {r:#x} is mapped but the head has no chunk files"))),
        }
    }

    /// Frees a chunk dropped by truncation (heap chunks; file space is reclaimed per file).
    pub fn free(&self, r: u64) {
        if r & MEM_BIT != 0 {
            self.mem_shard(r).lock().remove(&r);
        }
    }

    /// The chunk file sequence of `r`, for file chunks.
    pub fn file_seq(r: u64) -> Option<u32> {
        (r & MEM_BIT == 0).then_some((r >> 32) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_some(m: &ChunkDiskMapper) -> Vec<u64> {
        (0..5u64).map(|i| m.write(i + 1, i as i64 * 10, i as i64 * 10 + 9, 1, &[i as u8; 7]).unwrap()).collect()
    }

    #[test]
    fn record_round_trip() {
        let rec = encode_record(7, -5, 100, 1, b"abc");
        let (c, start, len, end) = decode_record(&rec, 0).unwrap();
        assert_eq!((c.series_ref, c.mint, c.maxt, c.encoding), (7, -5, 100, 1));
        assert_eq!(&rec[start..start + len], b"abc");
        assert_eq!(end, rec.len());
    }

    #[test]
    fn record_corruption_is_an_error() {
        let rec = encode_record(7, 0, 100, 1, b"abcdef");
        // Every single-byte flip and every truncation is detected.
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x40;
            assert!(decode_record(&bad, 0).is_err(), "flip at {i}");
            assert!(decode_record(&rec[..i], 0).is_err(), "truncated at {i}");
        }
        assert!(decode_record(&rec, rec.len() + 3).is_err());
    }

    #[test]
    fn write_read_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert!(found.is_empty());
        let refs = write_some(&m);
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(m.read(*r).unwrap(), ChunkData { encoding: 1, bytes: vec![i as u8; 7] });
        }
        drop(m);
        let (m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert_eq!(found.iter().map(|c| c.chunk_ref).collect::<Vec<_>>(), refs);
        assert_eq!(found[2].series_ref, 3);
        assert_eq!((found[2].mint, found[2].maxt), (20, 29));
        // New writes go to a new file.
        let r = m.write(9, 0, 1, 1, b"x").unwrap();
        assert_eq!(r >> 32, 2);
        assert_eq!(m.num_files(), 2);
        assert_eq!(m.delete_before(2).unwrap(), 1);
        assert!(m.read(refs[0]).is_err());
        assert_eq!(m.read(r).unwrap().bytes, b"x");
    }

    #[test]
    fn corrupt_tail_is_truncated_and_later_files_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = ChunkDiskMapper::open(dir.path()).unwrap();
        write_some(&m);
        drop(m);
        let (m, _) = ChunkDiskMapper::open(dir.path()).unwrap();
        m.write(1, 100, 200, 1, b"second file").unwrap();
        drop(m);
        // Flip a byte in the third record of the first file.
        let p = file_name(dir.path(), 1);
        let mut b = fs::read(&p).unwrap();
        let rec_len = encode_record(1, 0, 9, 1, &[0; 7]).len();
        b[HEADER_LEN + 2 * rec_len + 3] ^= 1;
        fs::write(&p, &b).unwrap();
        let (_m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(fs::metadata(&p).unwrap().len() as usize, HEADER_LEN + 2 * rec_len);
        assert!(!file_name(dir.path(), 2).exists());
    }

    #[test]
    fn zero_padded_files_like_prometheus_are_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (m, _) = ChunkDiskMapper::open(dir.path()).unwrap();
        let refs = write_some(&m);
        drop(m);
        let (m, _) = ChunkDiskMapper::open(dir.path()).unwrap();
        let second = m.write(1, 100, 200, 1, b"second file").unwrap();
        drop(m);
        let p = file_name(dir.path(), 1);
        let len = fs::metadata(&p).unwrap().len();
        fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(128 * 1024).unwrap();
        let (m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert_eq!(found.len(), refs.len() + 1, "chunks of both files kept");
        assert!(file_name(dir.path(), 2).exists(), "a later file is not deleted");
        assert_eq!(m.read(second).unwrap().bytes, b"second file");
        assert!(fs::metadata(&p).unwrap().len() > len, "nothing truncated");
        // Garbage after zeros is still corruption.
        drop(m);
        let mut b = fs::read(&p).unwrap();
        let n = b.len();
        b[n - 1] = 1;
        fs::write(&p, &b).unwrap();
        let (_m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert_eq!(found.len(), refs.len());
        assert_eq!(fs::metadata(&p).unwrap().len(), len);
    }

    #[test]
    fn bad_header_deletes_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(file_name(dir.path(), 1), b"garbage!!!").unwrap();
        fs::write(dir.path().join("not-a-chunk-file"), b"x").unwrap();
        let (m, found) = ChunkDiskMapper::open(dir.path()).unwrap();
        assert!(found.is_empty());
        assert!(!file_name(dir.path(), 1).exists());
        assert_eq!(m.num_files(), 0);
    }
}
