//! Tombstones: deleted time intervals per series, and the block `tombstones` file.
//!
//! File layout (Prometheus `tsdb/tombstones`, see `docs/format/tombstones.md`):
//! `magic 0x0130BA30 <4b> | version 1 <1b> | { series_ref <uvarint64> mint <varint64>
//! maxt <varint64> }* | CRC32C <4b>`, one entry per (series, interval), the CRC over the entries
//! only (not the version byte). There is no trailing offset and no padding, whatever the upstream
//! doc says. [`write_tombstones`] replaces the file atomically (temp file, fsync, rename, fsync
//! of the directory); a missing file reads as no tombstones.
//!
//! [`MemTombstones`] is the in-memory form, shared by blocks and the head; adding an interval
//! merges it with overlapping or adjacent ones, so each series' list stays sorted and disjoint.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::index::encoding::{Decbuf, Encbuf};
use crate::reader::{Interval, TombstoneReader};

/// Magic number at the start of a tombstones file.
pub const MAGIC_TOMBSTONE: u32 = 0x0130_BA30;
/// The only tombstones format version.
pub const TOMBSTONES_FORMAT_V1: u8 = 1;
/// File name inside a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";

/// Adds `n` to the sorted, disjoint list `ivs`, merging overlapping and adjacent intervals
/// (intervals are closed and time is discrete, so `[1,2]` and `[3,4]` merge into `[1,4]`).
pub fn add_interval(ivs: &mut Vec<Interval>, n: Interval) {
    // First interval that could touch n: its maxt >= n.mint - 1.
    let lo = ivs.partition_point(|iv| iv.maxt < n.mint.saturating_sub(1));
    // First interval entirely after n: its mint > n.maxt + 1.
    let hi = ivs.partition_point(|iv| iv.mint <= n.maxt.saturating_add(1));
    if lo >= hi {
        ivs.insert(lo, n);
        return;
    }
    let merged = Interval { mint: n.mint.min(ivs[lo].mint), maxt: n.maxt.max(ivs[hi - 1].maxt) };
    ivs[lo] = merged;
    ivs.drain(lo + 1..hi);
}

/// In-memory tombstones, safe to share and update across threads.
#[derive(Default, Debug)]
pub struct MemTombstones {
    map: RwLock<HashMap<u32, Vec<Interval>>>,
}

impl Clone for MemTombstones {
    fn clone(&self) -> Self {
        MemTombstones { map: RwLock::new(self.map.read().clone()) }
    }
}

impl PartialEq for MemTombstones {
    fn eq(&self, other: &Self) -> bool {
        *self.map.read() == *other.map.read()
    }
}

impl MemTombstones {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `iv` of series `id` deleted.
    pub fn add(&self, id: u32, iv: Interval) {
        add_interval(self.map.write().entry(id).or_default(), iv);
    }

    /// Adds all intervals of `other`.
    pub fn merge(&self, other: &MemTombstones) {
        for (id, ivs) in other.sorted() {
            for iv in ivs {
                self.add(id, iv);
            }
        }
    }

    /// Forgets the tombstones of the given series.
    pub fn remove_series(&self, ids: &[u32]) {
        let mut m = self.map.write();
        for id in ids {
            m.remove(id);
        }
    }

    /// Drops intervals that end before `t`.
    pub fn truncate_before(&self, t: i64) {
        let mut m = self.map.write();
        m.retain(|_, ivs| {
            ivs.retain(|iv| iv.maxt >= t);
            !ivs.is_empty()
        });
    }

    /// Is time `t` of series `id` deleted?
    pub fn is_deleted(&self, id: u32, t: i64) -> bool {
        self.map.read().get(&id).is_some_and(|ivs| ivs.iter().any(|iv| iv.contains(t)))
    }

    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// All `(series id, intervals)`, sorted by id.
    pub fn sorted(&self) -> Vec<(u32, Vec<Interval>)> {
        let mut v: Vec<(u32, Vec<Interval>)> = self.map.read().iter().map(|(k, v)| (*k, v.clone())).collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }
}

impl TombstoneReader for MemTombstones {
    fn intervals(&self, id: u32) -> Vec<Interval> {
        self.map.read().get(&id).cloned().unwrap_or_default()
    }
    fn total(&self) -> u64 {
        self.map.read().values().map(|v| v.len() as u64).sum()
    }
}

/// Prometheus's `tombstones.Encode`: the version byte and the entries (sorted by series id),
/// no magic and no CRC. Also the payload of a memory-snapshot tombstone record.
pub fn encode_tombstones(t: &MemTombstones) -> Vec<u8> {
    let mut e = Encbuf::new();
    e.put_u8(TOMBSTONES_FORMAT_V1);
    for (id, ivs) in t.sorted() {
        for iv in ivs {
            e.put_uvarint(id as u64);
            e.put_varint(iv.mint);
            e.put_varint(iv.maxt);
        }
    }
    e.b
}

/// Decodes [`encode_tombstones`] output. `base` is the absolute offset of `b` in `path`, for
/// error reports.
pub fn decode_tombstones(b: &[u8], path: &Path, base: u64) -> Result<MemTombstones> {
    let mut d = Decbuf::new(b, base);
    let v = d.u8().map_err(|e| e.corruption(path))?;
    if v != TOMBSTONES_FORMAT_V1 {
        return Err(Error::corruption(path, base, format!("invalid tombstones format version {v}")));
    }
    let t = MemTombstones::new();
    while !d.is_empty() {
        let at = d.pos();
        let r = d.uvarint().map_err(|e| e.corruption(path))?;
        let mint = d.varint().map_err(|e| e.corruption(path))?;
        let maxt = d.varint().map_err(|e| e.corruption(path))?;
        let id =
            u32::try_from(r).map_err(|_| Error::corruption(path, at, format!("series ref {r} exceeds 32 bits")))?;
        if maxt < mint {
            return Err(Error::corruption(path, at, format!("interval [{mint}, {maxt}] is inverted")));
        }
        t.add(id, Interval { mint, maxt });
    }
    Ok(t)
}

/// Reads `dir/tombstones`; a missing file means no tombstones. Returns the tombstones and the
/// file size.
pub fn read_tombstones(dir: &Path) -> Result<(MemTombstones, u64)> {
    let path = dir.join(TOMBSTONES_FILENAME);
    let b = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((MemTombstones::new(), 0)),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    if b.len() < 4 + 1 + 4 {
        return Err(Error::corruption(&path, 0, format!("tombstones file too small ({} bytes)", b.len())));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC_TOMBSTONE {
        return Err(Error::corruption(&path, 0, format!("invalid magic number {magic:#010x}")));
    }
    let crc_at = b.len() - 4;
    let want = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
    if crc32c::crc32c(&b[5..crc_at]) != want {
        return Err(Error::corruption(&path, crc_at as u64, "tombstones checksum mismatch"));
    }
    let t = decode_tombstones(&b[4..crc_at], &path, 4)?;
    Ok((t, b.len() as u64))
}

/// Atomically replaces `dir/tombstones` with `t`. Returns the file size.
pub fn write_tombstones(dir: &Path, t: &MemTombstones) -> Result<u64> {
    let path = dir.join(TOMBSTONES_FILENAME);
    let tmp = dir.join(format!("{TOMBSTONES_FILENAME}.tmp"));
    let body = encode_tombstones(t);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&MAGIC_TOMBSTONE.to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32c::crc32c(&body[1..]).to_be_bytes());
    write_file_atomic(&tmp, &path, &out)?;
    Ok(out.len() as u64)
}

/// Writes `data` to `tmp`, fsyncs it, renames it to `path` and fsyncs the directory.
pub(crate) fn write_file_atomic(tmp: &Path, path: &Path, data: &[u8]) -> Result<()> {
    let res = (|| {
        let mut f = File::create(tmp).map_err(|e| Error::io("create", tmp, e))?;
        f.write_all(data).map_err(|e| Error::io("write", tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", tmp, e))?;
        drop(f);
        std::fs::rename(tmp, path).map_err(|e| Error::io("rename", tmp, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    res?;
    if let Some(dir) = path.parent() {
        crate::block::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(mint: i64, maxt: i64) -> Interval {
        Interval { mint, maxt }
    }

    fn check(existing: &[(i64, i64)], add: (i64, i64), expected: &[(i64, i64)]) {
        let mut v: Vec<Interval> = existing.iter().map(|&(a, b)| iv(a, b)).collect();
        add_interval(&mut v, iv(add.0, add.1));
        let want: Vec<Interval> = expected.iter().map(|&(a, b)| iv(a, b)).collect();
        assert_eq!(v, want, "{existing:?} + {add:?}");
    }

    #[test]
    fn add_merges() {
        check(&[], (1, 2), &[(1, 2)]);
        check(&[(1, 2)], (5, 6), &[(1, 2), (5, 6)]);
        check(&[(5, 6)], (1, 2), &[(1, 2), (5, 6)]);
        check(&[(1, 2)], (3, 4), &[(1, 4)]);
        check(&[(3, 4)], (1, 2), &[(1, 4)]);
        check(&[(1, 2), (10, 20)], (5, 6), &[(1, 2), (5, 6), (10, 20)]);
        check(&[(1, 2), (10, 20)], (3, 9), &[(1, 20)]);
        check(&[(1, 2), (10, 20)], (0, 30), &[(0, 30)]);
        check(&[(1, 2), (10, 20), (30, 40)], (15, 25), &[(1, 2), (10, 25), (30, 40)]);
        check(&[(1, 2), (10, 20), (30, 40)], (12, 13), &[(1, 2), (10, 20), (30, 40)]);
        check(&[(1, 2), (10, 20), (30, 40)], (2, 30), &[(1, 40)]);
        check(&[(1, 2)], (i64::MIN, i64::MAX), &[(i64::MIN, i64::MAX)]);
        check(&[(i64::MIN, 0)], (1, i64::MAX), &[(i64::MIN, i64::MAX)]);
        check(&[(i64::MIN, -5)], (5, i64::MAX), &[(i64::MIN, -5), (5, i64::MAX)]);
    }

    #[test]
    fn add_matches_brute_force() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..2000 {
            let mut v = Vec::new();
            let mut set = std::collections::BTreeSet::new();
            for _ in 0..rng.random_range(1..6) {
                let a = rng.random_range(0..40i64);
                let b = a + rng.random_range(0..6i64);
                add_interval(&mut v, iv(a, b));
                set.extend(a..=b);
            }
            // Rebuild maximal runs from the set.
            let mut want: Vec<Interval> = Vec::new();
            for t in set {
                match want.last_mut() {
                    Some(l) if l.maxt + 1 == t => l.maxt = t,
                    _ => want.push(iv(t, t)),
                }
            }
            assert_eq!(v, want);
        }
    }

    #[test]
    fn mem_tombstones() {
        let t = MemTombstones::new();
        t.add(3, iv(10, 20));
        t.add(3, iv(21, 30));
        t.add(1, iv(0, 0));
        assert_eq!(t.intervals(3), [iv(10, 30)]);
        assert_eq!(t.total(), 2);
        assert!(t.is_deleted(3, 15) && !t.is_deleted(3, 31) && !t.is_deleted(2, 15));
        assert_eq!(t.sorted(), vec![(1, vec![iv(0, 0)]), (3, vec![iv(10, 30)])]);
        t.truncate_before(5);
        assert_eq!(t.sorted(), vec![(3, vec![iv(10, 30)])]);
        t.remove_series(&[3]);
        assert!(t.is_empty());
    }

    #[test]
    fn exact_bytes_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = MemTombstones::new();
        t.add(2, iv(-1, 1));
        t.add(1, iv(5, 10));
        t.add(1, iv(100, 200));
        let size = write_tombstones(dir.path(), &t).unwrap();
        let b = std::fs::read(dir.path().join("tombstones")).unwrap();
        let entries = [1, 10, 20, 1, 200, 1, 144, 3, 2, 1, 2];
        let mut want = vec![0x01, 0x30, 0xBA, 0x30, 1];
        want.extend_from_slice(&entries);
        want.extend_from_slice(&crc32c::crc32c(&entries).to_be_bytes());
        assert_eq!(b, want);
        assert_eq!(size, want.len() as u64);
        let (back, n) = read_tombstones(dir.path()).unwrap();
        assert_eq!(back, t);
        assert_eq!(n, size);
        assert!(!dir.path().join("tombstones.tmp").exists());
    }

    #[test]
    fn empty_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (t, n) = read_tombstones(dir.path()).unwrap();
        assert!(t.is_empty() && n == 0);
        write_tombstones(dir.path(), &t).unwrap();
        let b = std::fs::read(dir.path().join("tombstones")).unwrap();
        let mut want = vec![0x01, 0x30, 0xBA, 0x30, 1];
        want.extend_from_slice(&crc32c::crc32c(&[]).to_be_bytes());
        assert_eq!(b, want);
        assert!(read_tombstones(dir.path()).unwrap().0.is_empty());
    }

    #[test]
    fn corruption() {
        let dir = tempfile::tempdir().unwrap();
        let t = MemTombstones::new();
        t.add(7, iv(1, 1000));
        t.add(9, iv(-50, 50));
        write_tombstones(dir.path(), &t).unwrap();
        let path = dir.path().join("tombstones");
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x04;
            std::fs::write(&path, &b).unwrap();
            assert!(matches!(read_tombstones(dir.path()), Err(Error::Corruption { .. })), "flip at {i}");
        }
        for n in 0..good.len() {
            std::fs::write(&path, &good[..n]).unwrap();
            assert!(matches!(read_tombstones(dir.path()), Err(Error::Corruption { .. })), "truncated to {n}");
        }
        // A valid CRC over garbage entries is still caught by the decoder.
        let mut b = vec![0x01, 0x30, 0xBA, 0x30, 1, 0x80];
        b.extend_from_slice(&crc32c::crc32c(&[0x80]).to_be_bytes());
        std::fs::write(&path, &b).unwrap();
        assert!(matches!(read_tombstones(dir.path()), Err(Error::Corruption { .. })));
    }
}
