//! The in-memory index of the audit log: where each entry is (24 bytes per entry) and postings
//! of `actor`, `action` and `target` (value → sorted entry indexes). Entry index `i` is id
//! `base + i + 1` (`base` is 0 until retention removed the oldest segments); ids grow with
//! time, so a time range is an index range found by binary search.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use super::entry::Entry;
use super::{Anchor, Query};

/// Where an entry's line is and when it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub time_ms: i64,
    /// Byte offset of the line in its segment.
    pub offset: u64,
    /// Position of the segment in [`Index::segments`].
    pub seg: u32,
    /// Length of the line without its newline.
    pub len: u32,
}

/// Interned value → sorted entry indexes.
#[derive(Default)]
pub struct Postings(HashMap<Box<str>, Vec<u32>>);

impl Postings {
    fn add(&mut self, value: &str, idx: u32) {
        match self.0.get_mut(value) {
            Some(list) => list.push(idx),
            None => {
                self.0.insert(value.into(), vec![idx]);
            }
        }
    }
    fn get(&self, value: &str) -> &[u32] {
        self.0.get(value).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The index over all entries, and the open segment files to read them from.
pub struct Index {
    pub slots: Vec<Slot>,
    actor: Postings,
    action: Postings,
    target: Postings,
    /// Segment number and file, by position.
    pub segments: Vec<(u32, Arc<File>)>,
    pub head: Anchor,
    /// The id before the first entry (entries before it were removed by retention), and the
    /// hash it had.
    pub start: Anchor,
}

/// The candidates of a query: the index range of its time and cursor bounds and the postings
/// lists that must all contain an entry.
pub struct Candidates<'a> {
    lo: u32,
    hi: u32,
    lists: Vec<&'a [u32]>,
}

impl Index {
    pub fn new(head: Anchor) -> Index {
        Index {
            slots: Vec::new(),
            actor: Postings::default(),
            action: Postings::default(),
            target: Postings::default(),
            segments: Vec::new(),
            start: head.clone(),
            head,
        }
    }

    /// The id of the entry at index `i`.
    pub fn id_of(&self, i: u32) -> u64 {
        self.start.id + u64::from(i) + 1
    }

    /// Adds the next entry. Its index is `slots.len()`, which is `e.id - start.id - 1`.
    pub fn push(&mut self, e: &Entry, slot: Slot) {
        let idx = self.slots.len() as u32;
        self.slots.push(slot);
        self.actor.add(&e.actor, idx);
        self.action.add(&e.action, idx);
        self.target.add(&e.target, idx);
        self.head = Anchor { id: e.id, hash: e.hash.clone(), time: e.time.clone() };
    }

    /// The candidates of `q`, ignoring its `text` and `limit`.
    pub fn candidates(&self, q: &Query) -> Candidates<'_> {
        let n = self.slots.len();
        let lo = match q.from_ms {
            Some(from) => self.slots.partition_point(|s| s.time_ms < from),
            None => 0,
        };
        let mut hi = match q.to_ms {
            Some(to) => self.slots.partition_point(|s| s.time_ms <= to),
            None => n,
        };
        if let Some(before) = q.before_id {
            hi = hi.min(before.saturating_sub(1).saturating_sub(self.start.id).min(n as u64) as usize);
        }
        let mut lists = Vec::new();
        for (value, postings) in [(&q.actor, &self.actor), (&q.action, &self.action), (&q.target, &self.target)] {
            if let Some(v) = value {
                lists.push(postings.get(v));
            }
        }
        // Narrow every list to the range; the shortest drives the intersection.
        let (lo, hi) = (lo as u32, hi.max(lo) as u32);
        let mut lists: Vec<&[u32]> =
            lists.into_iter().map(|l| &l[l.partition_point(|&i| i < lo)..l.partition_point(|&i| i < hi)]).collect();
        lists.sort_by_key(|l| l.len());
        Candidates { lo, hi, lists }
    }
}

impl Candidates<'_> {
    /// Up to `max` candidates below index `below`, newest first.
    pub fn next_below(&self, below: u32, max: usize) -> Vec<u32> {
        let below = below.min(self.hi);
        let mut out = Vec::with_capacity(max.min(4096));
        match self.lists.split_first() {
            None => {
                let start = below.saturating_sub(max as u32).max(self.lo);
                out.extend((start..below).rev());
            }
            Some((driver, rest)) => {
                let end = driver.partition_point(|&i| i < below);
                for &i in driver[..end].iter().rev() {
                    if rest.iter().all(|l| l.binary_search(&i).is_ok()) {
                        out.push(i);
                        if out.len() >= max {
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// The number of candidates, when it is cheap to know: a time range and at most one
    /// postings list, or a few lists the shortest of which is small.
    pub fn count(&self) -> Option<u64> {
        const MAX_INTERSECT: usize = 1 << 16;
        match self.lists.split_first() {
            None => Some(u64::from(self.hi - self.lo)),
            Some((l, [])) => Some(l.len() as u64),
            Some((driver, rest)) if driver.len() <= MAX_INTERSECT => {
                Some(driver.iter().filter(|i| rest.iter().all(|l| l.binary_search(i).is_ok())).count() as u64)
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::{GENESIS_HASH, Record};

    fn index() -> Index {
        let mut ix = Index::new(Anchor { id: 0, hash: GENESIS_HASH.into(), time: String::new() });
        // id, time, actor, action, target
        let rows = [
            (1, 100, "alice", "rule.update", "g1"),
            (2, 100, "bob", "rule.update", "g2"),
            (3, 200, "alice", "token.create", "t1"),
            (4, 300, "alice", "rule.update", "g1"),
            (5, 400, "carol", "auth.failure", ""),
            (6, 400, "alice", "rule.update", "g2"),
        ];
        for (id, t, actor, action, target) in rows {
            let rec = Record { actor: actor.into(), action: action.into(), target: target.into(), ..Record::default() };
            let e = Entry::seal(rec, id, t, GENESIS_HASH);
            ix.push(&e, Slot { time_ms: t, offset: 0, seg: 0, len: 0 });
        }
        ix
    }

    fn check(q: Query, expected_ids: &[u64], count: Option<u64>) {
        let ix = index();
        let c = ix.candidates(&q);
        let got: Vec<u64> = c.next_below(u32::MAX, 100).into_iter().map(|i| u64::from(i) + 1).collect();
        assert_eq!(got, expected_ids, "{q:?}");
        assert_eq!(c.count(), count, "{q:?}");
        // In pages of 1, the same answer.
        let mut paged = Vec::new();
        let mut below = u32::MAX;
        while let Some(&i) = c.next_below(below, 1).first() {
            paged.push(u64::from(i) + 1);
            below = i;
        }
        assert_eq!(paged, expected_ids, "paged {q:?}");
    }

    fn q() -> Query {
        Query::default()
    }

    #[test]
    fn candidates() {
        check(q(), &[6, 5, 4, 3, 2, 1], Some(6));
        check(Query { actor: Some("alice".into()), ..q() }, &[6, 4, 3, 1], Some(4));
        check(Query { actor: Some("nobody".into()), ..q() }, &[], Some(0));
        check(Query { action: Some("rule.update".into()), ..q() }, &[6, 4, 2, 1], Some(4));
        check(Query { target: Some("g2".into()), ..q() }, &[6, 2], Some(2));
        check(Query { target: Some(String::new()), ..q() }, &[5], Some(1));
        check(
            Query { actor: Some("alice".into()), action: Some("rule.update".into()), target: Some("g1".into()), ..q() },
            &[4, 1],
            Some(2),
        );
        check(Query { from_ms: Some(200), ..q() }, &[6, 5, 4, 3], Some(4));
        check(Query { to_ms: Some(200), ..q() }, &[3, 2, 1], Some(3));
        check(Query { from_ms: Some(150), to_ms: Some(399), ..q() }, &[4, 3], Some(2));
        check(Query { from_ms: Some(500), ..q() }, &[], Some(0));
        check(Query { from_ms: Some(300), to_ms: Some(100), ..q() }, &[], Some(0));
        check(Query { before_id: Some(4), ..q() }, &[3, 2, 1], Some(3));
        check(Query { before_id: Some(1), ..q() }, &[], Some(0));
        check(Query { before_id: Some(100), actor: Some("alice".into()), ..q() }, &[6, 4, 3, 1], Some(4));
        check(Query { before_id: Some(6), actor: Some("alice".into()), from_ms: Some(150), ..q() }, &[4, 3], Some(2));
    }
}
