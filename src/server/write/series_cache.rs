//! The remote-write handler's series cache: label fingerprint → head series ref.

use parking_lot::Mutex;
use storage::SeriesRef;

/// The head series refs of recently written series, keyed by a fingerprint of their labels as
/// sent (the raw name and value bytes, in request order): 63 bits of one hash are the stored
/// key and pick the slot, 5 bits of a second, independent hash pick the shard (a false match
/// needs both to collide: odds of 2^-68 per pair of series, about one in six million for a
/// cache of 10M series).
/// 12-byte slots kept between 3/8 and 3/4 full (16 to 32 bytes per series); no label strings
/// are kept (the head has them). Sharded to keep lock hold times short; a full shard is
/// emptied (cheap, and only costs the next write of each of its series one label-set build).
pub struct SeriesCache {
    shards: Vec<Mutex<RefTable>>,
    max_per_shard: usize,
}

const SHARDS: usize = 32;

/// MurmurHash3's 64-bit finalizer.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A series' cache key: (entry hash, shard hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheKey(u64, u32);

impl SeriesCache {
    /// A cache of up to `max_entries` series (0 disables caching).
    pub fn new(max_entries: usize) -> Self {
        SeriesCache {
            shards: (0..SHARDS).map(|_| Mutex::new(RefTable::default())).collect(),
            max_per_shard: max_entries / SHARDS,
        }
    }

    /// Two independent fast non-cryptographic hashes of the pairs, eight bytes at a time, with
    /// each string's length mixed in (so `("ab","c")` and `("a","bc")` differ).
    pub fn key(pairs: &[(&[u8], &[u8])]) -> CacheKey {
        const K1: u64 = 0x517c_c1b7_2722_0a95;
        const K2: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h1: u64 = pairs.len() as u64;
        let mut h2: u64 = !(pairs.len() as u64);
        let mut mix = |w: u64| {
            h1 = (h1.rotate_left(5) ^ w).wrapping_mul(K1);
            h2 = (h2.rotate_left(23) ^ w).wrapping_mul(K2);
        };
        for (n, v) in pairs {
            for s in [*n, *v] {
                let mut chunks = s.chunks_exact(8);
                for c in &mut chunks {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    mix(u64::from_le_bytes(a));
                }
                let mut a = [0u8; 8];
                let rest = chunks.remainder();
                a[..rest.len()].copy_from_slice(rest);
                mix(u64::from_le_bytes(a) ^ ((s.len() as u64) << 56));
            }
        }
        // Final avalanches, so every bit depends on all the input: a multiply only carries
        // entropy upwards, and the table picks buckets by the low bits (weak low bits made
        // probes run long and cache lookups a third of all ingestion CPU).
        CacheKey(fmix64(h1), fmix64(h2) as u32)
    }

    /// The shard of a key: chosen by the second hash, so its bits add to the entry hash's.
    fn shard(&self, key: CacheKey) -> &Mutex<RefTable> {
        &self.shards[key.1 as usize % SHARDS]
    }

    /// The last known series ref of the series `key` names.
    pub fn get(&self, key: CacheKey) -> Option<SeriesRef> {
        if self.max_per_shard == 0 {
            return None;
        }
        self.shard(key).lock().get(key.0).map(|id| SeriesRef(u64::from(id)))
    }

    /// Records the series ref of `key`. Only refs of 32 bits (head series ids) are kept; any
    /// other (a series staged by a transaction, not created yet) drops the entry.
    pub fn set(&self, key: CacheKey, r: SeriesRef) {
        if self.max_per_shard == 0 {
            return;
        }
        let mut shard = self.shard(key).lock();
        let Ok(id) = u32::try_from(r.0) else {
            shard.remove(key.0);
            return;
        };
        if shard.len >= self.max_per_shard && shard.get(key.0).is_none() {
            *shard = RefTable::default();
        }
        shard.insert(key.0, id);
    }
}

/// An open-addressing hash table of entry hash → series id with linear probing and one 12-byte
/// slot per entry (the hash as two `u32`s, so no padding), so a lookup usually touches a
/// single cache line (hashbrown keeps control
/// bytes apart from the entries: two misses per lookup on a table too big for the CPU cache,
/// which made cache probes the largest cost of ingestion). Removal shifts later entries back
/// (no tombstones). Stored keys have their low bit set, so 0 marks an empty slot; the bucket
/// is picked by the other low bits.
#[derive(Default)]
struct RefTable {
    slots: Vec<[u32; 3]>,
    len: usize,
}

/// The stored key of a slot (0: empty).
fn slot_key(s: &[u32; 3]) -> u64 {
    u64::from(s[0]) | (u64::from(s[1]) << 32)
}

impl RefTable {
    fn stored(k: u64) -> u64 {
        k | 1
    }

    fn ideal(&self, stored: u64) -> usize {
        (stored >> 1) as usize & (self.slots.len() - 1)
    }

    /// The slot holding `k`, or the empty slot where it would go (`None` when there are no slots).
    fn find(&self, k: u64) -> Option<(usize, bool)> {
        if self.slots.is_empty() {
            return None;
        }
        let sk = Self::stored(k);
        let mask = self.slots.len() - 1;
        let mut i = self.ideal(sk);
        loop {
            match slot_key(&self.slots[i]) {
                0 => return Some((i, false)),
                x if x == sk => return Some((i, true)),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn get(&self, k: u64) -> Option<u32> {
        match self.find(k) {
            Some((i, true)) => Some(self.slots[i][2]),
            _ => None,
        }
    }

    fn insert(&mut self, k: u64, v: u32) {
        // Keep the load at most 3/4 (there is always an empty slot, so probes end).
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let n = (self.slots.len() * 2).max(16);
            let old = std::mem::replace(&mut self.slots, vec![[0; 3]; n]);
            self.len = 0;
            for s in old {
                let sk = slot_key(&s);
                if sk != 0 {
                    self.insert(sk, s[2]);
                }
            }
        }
        if let Some((i, found)) = self.find(k) {
            if !found {
                self.len += 1;
            }
            let sk = Self::stored(k);
            self.slots[i] = [sk as u32, (sk >> 32) as u32, v];
        }
    }

    fn remove(&mut self, k: u64) {
        let Some((mut hole, true)) = self.find(k) else { return };
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let sk = slot_key(&self.slots[j]);
            if sk == 0 {
                break;
            }
            // The entry at j may move back into the hole if the hole lies on its probe path
            // (cyclically between its ideal slot and j).
            let ideal = self.ideal(sk);
            if (j.wrapping_sub(ideal) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = [0; 3];
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> CacheKey {
        let raw: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        SeriesCache::key(&raw)
    }

    #[test]
    fn cache_keeps_refs_by_fingerprint() {
        let c = SeriesCache::new(64);
        let off = SeriesCache::new(0);
        let pairs = [("__name__", "up"), ("job", "a")];
        let key = key(&pairs);
        off.set(key, SeriesRef(7));
        assert_eq!(off.get(key), None);
        assert_eq!(c.get(key), None);
        c.set(key, SeriesRef(7));
        assert_eq!(c.get(key), Some(SeriesRef(7)));
        assert_eq!(c.get(self::key(&[("__name__", "up")])), None);
        // Same entry hash, another shard: a miss.
        assert_eq!(c.get(CacheKey(key.0, key.1 ^ 1)), None);
        // A ref that is not a head series id (a pending one) drops the entry.
        c.set(key, SeriesRef(1 << 63 | 5));
        assert_eq!(c.get(key), None);
        // A full shard is emptied, and the new entry kept.
        let small = SeriesCache::new(SHARDS);
        small.set(CacheKey(2, 1), SeriesRef(1));
        small.set(CacheKey(4, 1), SeriesRef(2));
        assert_eq!(small.get(CacheKey(2, 1)), None);
        assert_eq!(small.get(CacheKey(4, 1)), Some(SeriesRef(2)));
    }

    #[test]
    fn keys_separate_boundaries() {
        let k = key;
        let distinct = |a: CacheKey, b: CacheKey| a.0 != b.0 && a.1 != b.1;
        assert!(distinct(k(&[("ab", "c")]), k(&[("a", "bc")])));
        assert!(distinct(k(&[("a", "")]), k(&[("a", "\0")])));
        assert!(distinct(k(&[("a", "b")]), k(&[("a", "b"), ("", "")])));
        assert!(distinct(k(&[("abcdefgh", "x")]), k(&[("abcdefghx", "")])));
        assert_eq!(k(&[("a", "b")]), k(&[("a", "b")]));
    }

    /// Random inserts, overwrites and removals agree with a `HashMap`, including keys that
    /// share buckets (small tables, keys differing only in high bits) and the key 0.
    #[test]
    fn ref_table_matches_a_hash_map() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for key_space in [4u64, 40, 1000] {
            let mut t = RefTable::default();
            let mut m = std::collections::HashMap::new();
            for step in 0..20_000u64 {
                let r = next();
                // Keys collide in their low bits (bucket) unless they differ in the high ones.
                let k = ((r % key_space) << 40) | ((r >> 60) & 1);
                match r >> 62 {
                    0 => {
                        t.remove(k);
                        m.remove(&(k | 1));
                    }
                    _ => {
                        t.insert(k, step as u32);
                        m.insert(k | 1, step as u32);
                    }
                }
                assert_eq!(t.len, m.len(), "step {step}");
                assert_eq!(t.get(k), m.get(&(k | 1)).copied(), "step {step} key {k:#x}");
            }
            for k in 0..key_space {
                for low in [0, 1] {
                    let k = (k << 40) | low;
                    assert_eq!(t.get(k), m.get(&(k | 1)).copied());
                }
            }
        }
        let mut t = RefTable::default();
        assert_eq!(t.get(0), None);
        t.remove(0);
        t.insert(0, 7);
        assert_eq!(t.get(0), Some(7));
    }
}
