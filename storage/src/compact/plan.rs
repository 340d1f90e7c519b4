//! Compaction planning: which blocks to merge next, following Prometheus's `LeveledCompactor`
//! (tsdb/compact.go).
//!
//! 1. Overlapping blocks first (vertical compaction): the first run of blocks, by min time,
//!    whose time ranges overlap.
//! 2. Otherwise, leaving out the newest block (so a freshly cut block stays alone for one block
//!    range, as in Prometheus), for each range after the first (6h, 18h, ...) split the blocks into
//!    groups aligned to that range and pick the first group of more than one block that either
//!    fills the whole range or lies before the newest block's start. Groups containing a block
//!    whose last compaction failed are skipped.
//! 3. Otherwise rewrite one big-enough block with more than 5% tombstones (or any block whose
//!    tombstones cover as many entries as it has series).

use ulid::Ulid;

use crate::storage::Timestamp;

/// What planning needs to know of a block (from its meta.json).
#[derive(Clone, Debug, PartialEq)]
pub struct PlanBlock {
    pub ulid: Ulid,
    pub min_time: Timestamp,
    /// Exclusive, as in meta.json.
    pub max_time: Timestamp,
    pub num_series: u64,
    pub num_tombstones: u64,
    /// The block's compaction failed before (`compaction.failed` in meta.json).
    pub failed: bool,
}

/// Prometheus's `ExponentialBlockRanges(min, steps, step_size)`: `min, min*s, min*s^2, ...`.
pub fn exponential_block_ranges(min: i64, steps: usize, step_size: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut cur = min;
    for _ in 0..steps {
        out.push(cur);
        cur = cur.saturating_mul(step_size);
    }
    out
}

/// 31 days in ms: the largest block when retention does not bound it.
pub const MAX_BLOCK_DURATION_CAP_MS: i64 = 31 * 24 * 3600 * 1000;

/// The compaction ranges for a block range and a time retention (0 = off): ×3 steps from
/// `block_range`, up to 10% of the retention (31 days when retention is off or larger than 310d),
/// as Prometheus's server sets `MaxBlockDuration`.
pub fn compaction_ranges(block_range: i64, retention_ms: i64) -> Vec<i64> {
    let mut max = MAX_BLOCK_DURATION_CAP_MS;
    if retention_ms > 0 && retention_ms / 10 < max {
        max = retention_ms / 10;
    }
    let mut ranges = exponential_block_ranges(block_range, 10, 3);
    if max > block_range {
        if let Some(i) = ranges.iter().position(|r| *r > max) {
            ranges.truncate(i);
        }
    } else {
        ranges.truncate(1);
    }
    ranges
}

/// Picks the blocks to compact together next (empty: nothing to do). `blocks` may be in any
/// order; the answer is in min-time order.
pub fn plan(ranges: &[i64], blocks: &[PlanBlock]) -> Vec<Ulid> {
    let mut bs: Vec<&PlanBlock> = blocks.iter().collect();
    bs.sort_by_key(|b| (b.min_time, b.max_time));
    let overlapping = select_overlapping(&bs);
    if !overlapping.is_empty() {
        return overlapping;
    }
    if bs.is_empty() {
        return Vec::new();
    }
    // Leave the newest block out.
    bs.pop();
    let selected = select_dirs(ranges, &bs);
    if !selected.is_empty() {
        return selected.iter().map(|b| b.ulid).collect();
    }
    // Blocks with many tombstones, newest first.
    let mid = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    for b in bs.iter().rev() {
        if b.max_time.saturating_sub(b.min_time) < mid {
            if b.num_tombstones > 0 && b.num_tombstones >= b.num_series {
                return vec![b.ulid];
            }
            break;
        }
        if b.num_tombstones as f64 / (b.num_series + 1) as f64 > 0.05 {
            return vec![b.ulid];
        }
    }
    Vec::new()
}

/// The first run of blocks (sorted by min time) whose ranges overlap.
fn select_overlapping(bs: &[&PlanBlock]) -> Vec<Ulid> {
    let mut out = Vec::new();
    let Some(first) = bs.first() else { return out };
    let mut global_max = first.max_time;
    for i in 1..bs.len() {
        let b = bs[i];
        if b.min_time < global_max {
            if out.is_empty() {
                out.push(bs[i - 1].ulid);
            }
            out.push(b.ulid);
        } else if !out.is_empty() {
            break;
        }
        global_max = global_max.max(b.max_time);
    }
    out
}

fn select_dirs<'a>(ranges: &[i64], bs: &[&'a PlanBlock]) -> Vec<&'a PlanBlock> {
    if ranges.len() < 2 || bs.is_empty() {
        return Vec::new();
    }
    let high_time = bs[bs.len() - 1].min_time;
    for &iv in ranges[1..].iter().filter(|r| **r > 0) {
        for part in split_by_range(bs, iv) {
            if part.iter().any(|b| b.failed) {
                continue;
            }
            let mint = part[0].min_time;
            let maxt = part[part.len() - 1].max_time;
            if (maxt.saturating_sub(mint) == iv || maxt <= high_time) && part.len() > 1 {
                return part;
            }
        }
    }
    Vec::new()
}

/// Groups consecutive blocks that fall inside the same `tr`-aligned range; blocks that do not
/// fit one range are skipped.
fn split_by_range<'a>(bs: &[&'a PlanBlock], tr: i64) -> Vec<Vec<&'a PlanBlock>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bs.len() {
        let m = bs[i];
        // Floor to a multiple of `tr` (also for negative times).
        let t0 = m.min_time.div_euclid(tr) * tr;
        let end = t0.saturating_add(tr);
        if m.max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < bs.len() && bs[i].max_time <= end {
            group.push(bs[i]);
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * 1000;

    /// Blocks as `(min, max)` in hours; ulids numbered by position.
    fn blocks(spec: &[(i64, i64)]) -> Vec<PlanBlock> {
        spec.iter()
            .enumerate()
            .map(|(i, (a, b))| PlanBlock {
                ulid: Ulid::from_parts(0, i as u128),
                min_time: a * H,
                max_time: b * H,
                num_series: 10,
                num_tombstones: 0,
                failed: false,
            })
            .collect()
    }

    fn ids(v: &[Ulid]) -> Vec<usize> {
        v.iter().map(|u| u.random() as usize).collect()
    }

    fn check(spec: &[(i64, i64)], expected: &[usize]) {
        let ranges = exponential_block_ranges(2 * H, 4, 3); // 2h 6h 18h 54h
        assert_eq!(ids(&plan(&ranges, &blocks(spec))), expected, "blocks {spec:?}");
    }

    #[test]
    fn ranges() {
        assert_eq!(exponential_block_ranges(2, 4, 3), [2, 6, 18, 54]);
        // 15d retention: max 36h → 2h, 6h, 18h.
        assert_eq!(compaction_ranges(2 * H, 15 * 24 * H), [2 * H, 6 * H, 18 * H]);
        // No retention: up to 31d (2h·3^5 = 486h = 20.25d fits, 3^6 does not).
        assert_eq!(compaction_ranges(2 * H, 0).len(), 6);
        // Retention shorter than 10 block ranges: no compaction ranges beyond the first.
        assert_eq!(compaction_ranges(2 * H, 10 * H), [2 * H]);
    }

    #[test]
    fn leveled_plans() {
        // Nothing or a single block: nothing.
        check(&[], &[]);
        check(&[(0, 2)], &[]);
        // Three 2h blocks fill 6h, but the newest is left out and the other two neither fill
        // 6h nor end before the newest remaining block's start.
        check(&[(0, 2), (2, 4), (4, 6)], &[]);
        // Two blocks: the newest is left out, one remains.
        check(&[(0, 2), (2, 4)], &[]);
        // Full 6h range followed by a newer block.
        check(&[(0, 2), (2, 4), (4, 6), (6, 8)], &[0, 1, 2]);
        // Gaps are fine when the range lies before the newest block.
        check(&[(0, 2), (4, 6), (6, 8)], &[0, 1]);
        // Already compacted 6h blocks get merged to 18h.
        check(&[(0, 6), (6, 12), (12, 18), (18, 20)], &[0, 1, 2]);
        // A block that does not fit the range alignment is skipped.
        check(&[(1, 7), (7, 8), (8, 10), (10, 12), (12, 14)], &[]);
        check(&[(1, 7), (7, 8), (8, 10), (10, 12), (12, 14), (14, 16)], &[1, 2, 3]);
        // Order of input does not matter.
        check(&[(4, 6), (0, 2), (6, 8), (2, 4)], &[1, 3, 0]);
    }

    #[test]
    fn overlapping_first() {
        check(&[(0, 2), (1, 3)], &[0, 1]);
        check(&[(0, 2), (2, 4), (3, 5), (6, 8), (7, 9)], &[1, 2]);
        // A block contained in another.
        check(&[(0, 6), (2, 3), (6, 8)], &[0, 1]);
        // Transitive overlap.
        check(&[(0, 3), (2, 5), (4, 7), (8, 9)], &[0, 1, 2]);
        // Touching is not overlapping (max is exclusive).
        check(&[(0, 2), (2, 4)], &[]);
    }

    #[test]
    fn failed_groups_are_skipped() {
        let ranges = exponential_block_ranges(2 * H, 4, 3);
        let mut bs = blocks(&[(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14)]);
        bs[1].failed = true;
        assert_eq!(ids(&plan(&ranges, &bs)), [3, 4, 5]);
    }

    #[test]
    fn tombstone_rewrites() {
        let ranges = exponential_block_ranges(2 * H, 4, 3); // mid range = 18h
        let mut bs = blocks(&[(0, 18), (18, 36), (36, 38)]);
        assert_eq!(ids(&plan(&ranges, &bs)), Vec::<usize>::new());
        bs[0].num_tombstones = 1; // 1/11 > 5%
        assert_eq!(ids(&plan(&ranges, &bs)), [0]);
        bs[1].num_tombstones = 1;
        assert_eq!(ids(&plan(&ranges, &bs)), [1]);
        // Small block fully deleted.
        let mut bs = blocks(&[(0, 2), (2, 4)]);
        bs[0].num_tombstones = 10;
        assert_eq!(ids(&plan(&ranges, &bs)), [0]);
        bs[0].num_tombstones = 9;
        assert_eq!(ids(&plan(&ranges, &bs)), Vec::<usize>::new());
        // The newest block is never rewritten for tombstones.
        let mut bs = blocks(&[(0, 18), (18, 36)]);
        bs[1].num_tombstones = 5;
        assert_eq!(ids(&plan(&ranges, &bs)), Vec::<usize>::new());
    }
}
