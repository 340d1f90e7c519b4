//! The head's symbol table and in-memory postings index.
//!
//! Series keep their labels as pairs of `u32` symbol ids ([`Symbols`]), so a label set of five
//! pairs costs 40 bytes however long the strings are, and every string is stored once per head.
//! Symbols are reference counted by the series that use them and freed when the last such
//! series is garbage-collected; freed ids are reused (they never leave memory).
//!
//! [`MemPostings`] maps `(name id, value id)` to the ids of the series carrying that pair. A pair
//! held by a single series (an `instance`, a `pod` uid) is stored inline without allocating;
//! larger lists are roaring bitmaps.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use roaring::RoaringBitmap;

/// A fast non-cryptographic hasher for integer keys (the Fx multiply-rotate scheme).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, i: u64) {
        self.hash = (self.hash.rotate_left(5) ^ i).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`], for integer keys that are not attacker-chosen in bulk.
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Interned label names and values, addressed by `u32` ids, reference counted.
#[derive(Default)]
pub(crate) struct Symbols {
    strings: Vec<Option<Arc<str>>>,
    refs: Vec<u32>,
    ids: HashMap<Arc<str>, u32>,
    free: Vec<u32>,
}

impl Symbols {
    /// The id of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// Interns `s` and takes one reference to it.
    pub fn acquire(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            self.refs[id as usize] += 1;
            return id;
        }
        let a: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = Some(a.clone());
                self.refs[id as usize] = 1;
                id
            }
            None => {
                let id = self.strings.len() as u32;
                self.strings.push(Some(a.clone()));
                self.refs.push(1);
                id
            }
        };
        self.ids.insert(a, id);
        id
    }

    /// Drops one reference; the symbol is freed when none remain.
    pub fn release(&mut self, id: u32) {
        let i = id as usize;
        let Some(r) = self.refs.get_mut(i) else { return };
        if *r == 0 {
            return;
        }
        *r -= 1;
        if *r == 0
            && let Some(s) = self.strings[i].take()
        {
            self.ids.remove(&s);
            self.free.push(id);
        }
    }

    /// The string of a live id. Ids held by a live series are always live (invariant kept by
    /// acquire/release), so a miss means a bug; it resolves to "" rather than panicking.
    pub fn resolve(&self, id: u32) -> &Arc<str> {
        static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        match self.strings.get(id as usize).and_then(Option::as_ref) {
            Some(s) => s,
            None => EMPTY.get_or_init(|| Arc::from("")),
        }
    }

    /// All live symbols, sorted.
    pub fn sorted(&self) -> Vec<String> {
        let mut v: Vec<String> = self.ids.keys().map(|s| s.to_string()).collect();
        v.sort_unstable();
        v
    }
}

/// A series' label pairs as symbol ids (name, value, name, value, ...), stored as LEB128
/// varints. Symbol ids are handed out in order of first use, so the common names and values
/// have small ids: a node_exporter series of six pairs takes 9 to 14 bytes instead of 48 as
/// `u32`s, and up to [`INLINE_PAIR_BYTES`] bytes are kept inline, with no allocation of
/// their own (98% of node_exporter's series; the rest in an exactly sized buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SymbolPairs {
    Inline { len: u8, bytes: [u8; INLINE_PAIR_BYTES] },
    Heap(Box<[u8]>),
}

/// Varint bytes kept inline: as many as fit beside the tag and length in the 24 bytes the
/// boxed variant takes anyway.
pub(crate) const INLINE_PAIR_BYTES: usize = 22;

impl SymbolPairs {
    pub fn new(ids: &[u32]) -> Self {
        let mut b = Vec::with_capacity(ids.len() * 2);
        for &id in ids {
            let mut x = id;
            while x >= 0x80 {
                b.push((x as u8) | 0x80);
                x >>= 7;
            }
            b.push(x as u8);
        }
        if b.len() <= INLINE_PAIR_BYTES {
            let mut bytes = [0u8; INLINE_PAIR_BYTES];
            bytes[..b.len()].copy_from_slice(&b);
            SymbolPairs::Inline { len: b.len() as u8, bytes }
        } else {
            SymbolPairs::Heap(b.into_boxed_slice())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            SymbolPairs::Inline { len, bytes } => &bytes[..usize::from(*len)],
            SymbolPairs::Heap(b) => b,
        }
    }

    /// The ids in order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        let mut bytes = self.bytes().iter();
        std::iter::from_fn(move || {
            let (mut x, mut shift) = (0u32, 0u32);
            loop {
                let b = *bytes.next()?;
                // A u32 takes at most five groups; `new` never writes more.
                x |= u32::from(b & 0x7f).wrapping_shl(shift);
                if b & 0x80 == 0 {
                    return Some(x);
                }
                shift += 7;
            }
        })
    }

    /// `(name id, value id)` pairs in order.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut ids = self.ids();
        std::iter::from_fn(move || Some((ids.next()?, ids.next()?)))
    }

    /// The number of pairs (each id ends with a byte below 0x80).
    pub fn num_pairs(&self) -> usize {
        self.bytes().iter().filter(|&&b| b < 0x80).count() / 2
    }

    pub fn to_vec(&self) -> Vec<u32> {
        self.ids().collect()
    }
}

/// The series ids of one label pair.
enum PostingList {
    One(u32),
    Many(RoaringBitmap),
}

impl PostingList {
    fn to_bitmap(&self) -> RoaringBitmap {
        match self {
            PostingList::One(id) => {
                let mut b = RoaringBitmap::new();
                b.insert(*id);
                b
            }
            PostingList::Many(b) => b.clone(),
        }
    }
    fn len(&self) -> u64 {
        match self {
            PostingList::One(_) => 1,
            PostingList::Many(b) => b.len(),
        }
    }
}

/// Label pair → series ids, plus the list of all series.
#[derive(Default)]
pub(crate) struct MemPostings {
    by_name: FxMap<u32, FxMap<u32, PostingList>>,
    all: RoaringBitmap,
}

impl MemPostings {
    /// Adds series `id` with `pairs` (name id, value id interleaved).
    pub fn add(&mut self, id: u32, pairs: &[u32]) {
        self.all.insert(id);
        for p in pairs.chunks_exact(2) {
            let values = self.by_name.entry(p[0]).or_default();
            match values.get_mut(&p[1]) {
                None => {
                    values.insert(p[1], PostingList::One(id));
                }
                Some(PostingList::One(other)) => {
                    let mut b = RoaringBitmap::new();
                    b.insert(*other);
                    b.insert(id);
                    values.insert(p[1], PostingList::Many(b));
                }
                Some(PostingList::Many(b)) => {
                    b.insert(id);
                }
            }
        }
    }

    /// Removes series `id` with `pairs`; empty lists and names disappear.
    pub fn remove(&mut self, id: u32, pairs: &[u32]) {
        self.all.remove(id);
        for p in pairs.chunks_exact(2) {
            let Some(values) = self.by_name.get_mut(&p[0]) else { continue };
            let now_empty = match values.get_mut(&p[1]) {
                Some(PostingList::One(other)) => *other == id,
                Some(PostingList::Many(b)) => {
                    b.remove(id);
                    if b.len() == 1
                        && let Some(last) = b.min()
                    {
                        values.insert(p[1], PostingList::One(last));
                    }
                    false
                }
                None => false,
            };
            if now_empty {
                values.remove(&p[1]);
            }
            if values.is_empty() {
                self.by_name.remove(&p[0]);
            }
        }
    }

    /// The ids carrying the pair (empty if none).
    pub fn get(&self, name: u32, value: u32) -> RoaringBitmap {
        self.by_name.get(&name).and_then(|v| v.get(&value)).map(PostingList::to_bitmap).unwrap_or_default()
    }

    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Ids of the label names present.
    pub fn names(&self) -> Vec<u32> {
        self.by_name.keys().copied().collect()
    }

    /// Ids of the values of `name`.
    pub fn values(&self, name: u32) -> Vec<u32> {
        self.by_name.get(&name).map(|v| v.keys().copied().collect()).unwrap_or_default()
    }

    /// `(value id, number of series)` for every value of every name: `f(name, value, count)`.
    pub fn for_each_count(&self, mut f: impl FnMut(u32, u32, u64)) {
        for (n, values) in &self.by_name {
            for (v, l) in values {
                f(*n, *v, l.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(b: &RoaringBitmap) -> Vec<u32> {
        b.iter().collect()
    }

    #[test]
    fn symbols_refcount_and_reuse() {
        let mut s = Symbols::default();
        let a = s.acquire("a");
        let b = s.acquire("b");
        assert_eq!(s.acquire("a"), a);
        assert_eq!(&**s.resolve(b), "b");
        s.release(a);
        assert_eq!(s.get("a"), Some(a));
        s.release(a);
        assert_eq!(s.get("a"), None);
        assert_eq!(&**s.resolve(a), "");
        // The freed id is reused.
        assert_eq!(s.acquire("c"), a);
        assert_eq!(s.sorted(), ["b", "c"]);
        // Releasing an unknown or dead id is harmless.
        s.release(99);
    }

    #[test]
    fn symbol_pairs_round_trip() {
        for ids in [vec![], vec![0, 1], vec![127, 128, 16383, 16384, 2_097_151, 2_097_152, u32::MAX, 0]] {
            let p = SymbolPairs::new(&ids);
            assert_eq!(p.to_vec(), ids);
            assert_eq!(p.num_pairs(), ids.len() / 2);
            assert_eq!(p.pairs().count(), ids.len() / 2);
        }
        // Small ids take a byte each, the largest five; 22 bytes stay inline.
        assert_eq!(SymbolPairs::new(&[1, 2, 3, 4]).bytes().len(), 4);
        assert_eq!(SymbolPairs::new(&[u32::MAX, 200]).bytes().len(), 7);
        assert!(matches!(SymbolPairs::new(&[300; 11]), SymbolPairs::Inline { len: 22, .. }));
        let long: Vec<u32> = (0..12).map(|i| 1000 + i).collect();
        assert!(matches!(SymbolPairs::new(&long), SymbolPairs::Heap(_)));
        assert_eq!(SymbolPairs::new(&long).to_vec(), long);
        assert_eq!(std::mem::size_of::<SymbolPairs>(), 24);
        assert_eq!(SymbolPairs::new(&[5, 300]).pairs().collect::<Vec<_>>(), [(5, 300)]);
    }

    #[test]
    fn postings_add_remove() {
        let mut p = MemPostings::default();
        p.add(1, &[0, 1, 2, 3]);
        p.add(2, &[0, 1, 2, 4]);
        p.add(3, &[0, 5]);
        assert_eq!(ids(&p.get(0, 1)), [1, 2]);
        assert_eq!(ids(&p.get(2, 3)), [1]);
        assert_eq!(ids(&p.get(9, 9)), Vec::<u32>::new());
        assert_eq!(ids(p.all()), [1, 2, 3]);
        p.remove(1, &[0, 1, 2, 3]);
        assert_eq!(ids(&p.get(0, 1)), [2]);
        assert_eq!(ids(&p.get(2, 3)), Vec::<u32>::new());
        let mut vals = p.values(2);
        vals.sort();
        assert_eq!(vals, [4]);
        p.remove(2, &[0, 1, 2, 4]);
        assert!(p.values(2).is_empty());
        let mut names = p.names();
        names.sort();
        assert_eq!(names, [0]);
        p.remove(3, &[0, 5]);
        assert!(p.names().is_empty());
        assert!(p.all().is_empty());
    }
}
