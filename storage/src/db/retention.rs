//! Which blocks to drop: superseded blocks (left behind by a crash between writing a compacted
//! block and deleting its parents), blocks beyond the time retention and blocks beyond the size
//! retention. Pure functions over block descriptions, so the rules are table-tested.

use std::collections::BTreeSet;

use ulid::Ulid;

use crate::storage::Timestamp;

/// What the rules need to know of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionBlock {
    pub ulid: Ulid,
    pub min_time: Timestamp,
    /// Exclusive.
    pub max_time: Timestamp,
    pub level: u32,
    pub sources: Vec<Ulid>,
    pub parents: Vec<Ulid>,
    /// Marked deletable in meta.json.
    pub deletable: bool,
    /// Bytes on disk.
    pub size: u64,
}

/// Blocks that another loaded block replaces: marked deletable, listed as a parent of a loaded
/// block, or whose sources are all contained in another block's sources that is newer (higher
/// level, or same level and a later ULID) — as Prometheus does on reload.
pub fn superseded(blocks: &[RetentionBlock]) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    for b in blocks {
        if b.deletable {
            out.insert(b.ulid);
        }
        for p in &b.parents {
            if *p != b.ulid {
                out.insert(*p);
            }
        }
    }
    for a in blocks {
        let sa: BTreeSet<&Ulid> = a.sources.iter().collect();
        if sa.is_empty() {
            continue;
        }
        for b in blocks {
            if a.ulid == b.ulid || out.contains(&b.ulid) {
                continue;
            }
            let sb: BTreeSet<&Ulid> = b.sources.iter().collect();
            if !sa.is_subset(&sb) {
                continue;
            }
            let newer = sa != sb || b.level > a.level || (b.level == a.level && b.ulid > a.ulid);
            if newer {
                out.insert(a.ulid);
                break;
            }
        }
    }
    out
}

/// Prometheus's time retention: sorted newest first by max time, every block whose max time is
/// at least `retention_ms` older than the newest block's max time goes (with all older ones).
/// `retention_ms == 0` disables it.
pub fn beyond_time_retention(blocks: &[RetentionBlock], retention_ms: i64) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if retention_ms <= 0 || blocks.is_empty() {
        return out;
    }
    let mut bs: Vec<&RetentionBlock> = blocks.iter().collect();
    bs.sort_by_key(|b| std::cmp::Reverse(b.max_time));
    let newest = bs[0].max_time;
    for (i, b) in bs.iter().enumerate() {
        if i > 0 && newest - b.max_time >= retention_ms {
            out.extend(bs[i..].iter().map(|b| b.ulid));
            break;
        }
    }
    out
}

/// Prometheus's size retention: newest first, add up `head_bytes` and block sizes; once the sum
/// exceeds `max_bytes`, that block and all older ones go. `max_bytes == 0` disables it.
pub fn beyond_size_retention(blocks: &[RetentionBlock], head_bytes: u64, max_bytes: u64) -> BTreeSet<Ulid> {
    let mut out = BTreeSet::new();
    if max_bytes == 0 {
        return out;
    }
    let mut bs: Vec<&RetentionBlock> = blocks.iter().collect();
    bs.sort_by_key(|b| std::cmp::Reverse(b.max_time));
    let mut sum = head_bytes;
    for (i, b) in bs.iter().enumerate() {
        sum = sum.saturating_add(b.size);
        if sum > max_bytes {
            out.extend(bs[i..].iter().map(|b| b.ulid));
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u128) -> Ulid {
        Ulid::from_parts(0, n)
    }

    /// `(id, min, max, size)`; level 1, its own source.
    fn blocks(spec: &[(u128, i64, i64, u64)]) -> Vec<RetentionBlock> {
        spec.iter()
            .map(|&(id, min_time, max_time, size)| RetentionBlock {
                ulid: u(id),
                min_time,
                max_time,
                level: 1,
                sources: vec![u(id)],
                parents: vec![],
                deletable: false,
                size,
            })
            .collect()
    }

    fn ids(s: &BTreeSet<Ulid>) -> Vec<u128> {
        s.iter().map(|u| u.random()).collect()
    }

    #[test]
    fn time_retention() {
        let check = |spec: &[(u128, i64, i64, u64)], ret: i64, expected: &[u128]| {
            assert_eq!(ids(&beyond_time_retention(&blocks(spec), ret)), expected, "{spec:?} retention {ret}");
        };
        check(&[], 10, &[]);
        check(&[(1, 0, 10, 0)], 5, &[]); // the newest block is never dropped
        check(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 20, 30, 0)], 0, &[]);
        check(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 20, 30, 0)], 10, &[1, 2]);
        check(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 20, 30, 0)], 15, &[1]);
        check(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 20, 30, 0)], 20, &[1]);
        check(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 20, 30, 0)], 21, &[]);
        // Input order does not matter.
        check(&[(3, 20, 30, 0), (1, 0, 10, 0), (2, 10, 20, 0)], 15, &[1]);
    }

    #[test]
    fn size_retention() {
        let check = |head: u64, max: u64, expected: &[u128]| {
            let bs = blocks(&[(1, 0, 10, 100), (2, 10, 20, 100), (3, 20, 30, 100)]);
            assert_eq!(ids(&beyond_size_retention(&bs, head, max)), expected, "head {head} max {max}");
        };
        check(0, 0, &[]);
        check(0, 300, &[]);
        check(0, 299, &[1]);
        check(50, 299, &[1]);
        check(50, 249, &[1, 2]);
        check(0, 100, &[1, 2]);
        check(0, 99, &[1, 2, 3]);
    }

    #[test]
    fn superseded_blocks() {
        // 3 was compacted from 1 and 2, which were not deleted yet.
        let mut bs = blocks(&[(1, 0, 10, 0), (2, 10, 20, 0), (3, 0, 20, 0)]);
        bs[2].level = 2;
        bs[2].sources = vec![u(1), u(2)];
        assert_eq!(ids(&superseded(&bs)), [1, 2]);
        // Same via the parents list only.
        bs[2].sources = vec![u(3)];
        bs[2].parents = vec![u(1), u(2)];
        assert_eq!(ids(&superseded(&bs)), [1, 2]);
        // A rewrite (same sources, higher level) supersedes the original.
        let mut bs = blocks(&[(1, 0, 10, 0), (2, 0, 10, 0)]);
        bs[1].sources = vec![u(1)];
        bs[1].level = 2;
        assert_eq!(ids(&superseded(&bs)), [1]);
        // Independent blocks: nothing.
        assert_eq!(ids(&superseded(&blocks(&[(1, 0, 10, 0), (2, 10, 20, 0)]))), Vec::<u128>::new());
        // Marked deletable.
        let mut bs = blocks(&[(1, 0, 10, 0)]);
        bs[0].deletable = true;
        assert_eq!(ids(&superseded(&bs)), [1]);
    }
}
