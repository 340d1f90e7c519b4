//! Merging across queriers: the same series may live in several blocks and in the head (block
//! boundaries, overlapping blocks, out-of-order data). [`MergeQuerier`] asks every querier for
//! sorted series and k-way merges them by labels; series with equal labels get one
//! [`MergedSampleIterator`] that merges their samples by time and keeps one sample per timestamp
//! (the one from the querier listed first).

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::storage::{Querier, Sample, SampleIterator, SelectHints, Series, SeriesSet, Timestamp};

/// A querier over several queriers (blocks then head, oldest first).
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    /// On duplicate timestamps the sample of the earlier querier in `queriers` wins.
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> Self {
        MergeQuerier { queriers }
    }
}

impl Querier for MergeQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Result<SeriesSet> {
        match self.queriers.len() {
            0 => Ok(Box::new(std::iter::empty())),
            1 => self.queriers[0].select(sorted, hints, matchers),
            _ => {
                // Merging needs every input sorted, whatever the caller asked for.
                let mut sets = Vec::with_capacity(self.queriers.len());
                for q in &self.queriers {
                    sets.push(q.select(true, hints, matchers)?);
                }
                Ok(Box::new(MergedSeriesSet::new(sets)))
            }
        }
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut all = BTreeSet::new();
        for q in &self.queriers {
            all.extend(q.label_names(matchers)?);
        }
        Ok(all.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut all = BTreeSet::new();
        for q in &self.queriers {
            all.extend(q.label_values(name, matchers)?);
        }
        Ok(all.into_iter().collect())
    }
}

/// One pending series of input `src` in the k-way merge (min-heap by labels, then input).
struct HeapEntry {
    labels: Labels,
    src: usize,
    series: Series,
}

impl PartialEq for HeapEntry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for HeapEntry {}
impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapEntry {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        o.labels.cmp(&self.labels).then(o.src.cmp(&self.src))
    }
}

/// K-way merge of sorted series sets by labels.
pub struct MergedSeriesSet {
    sets: Vec<SeriesSet>,
    heap: BinaryHeap<HeapEntry>,
    started: bool,
    /// An error from an input, reported once.
    failed: Option<Error>,
}

impl MergedSeriesSet {
    pub fn new(sets: Vec<SeriesSet>) -> Self {
        MergedSeriesSet { sets, heap: BinaryHeap::new(), started: false, failed: None }
    }

    fn pull(&mut self, src: usize) {
        match self.sets[src].next() {
            Some(Ok(series)) => self.heap.push(HeapEntry { labels: series.labels.clone(), src, series }),
            Some(Err(e)) if self.failed.is_none() => self.failed = Some(e),
            Some(Err(_)) | None => {}
        }
    }
}

impl Iterator for MergedSeriesSet {
    type Item = Result<Series>;

    fn next(&mut self) -> Option<Result<Series>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sets.len() {
                self.pull(i);
            }
        }
        if let Some(e) = self.failed.take() {
            self.heap.clear();
            self.sets.clear();
            return Some(Err(e));
        }
        let first = self.heap.pop()?;
        let labels = first.labels;
        let mut parts = vec![(first.src, first.series.samples)];
        self.pull(first.src);
        while self.heap.peek().is_some_and(|e| e.labels == labels) {
            let Some(e) = self.heap.pop() else { break };
            parts.push((e.src, e.series.samples));
            self.pull(e.src);
        }
        if let Some(e) = self.failed.take() {
            self.heap.clear();
            self.sets.clear();
            return Some(Err(e));
        }
        let samples: Box<dyn SampleIterator> = if parts.len() == 1 {
            // One part: no merge needed (`parts` always holds at least `first`).
            parts.remove(0).1
        } else {
            parts.sort_by_key(|(src, _)| *src);
            Box::new(MergedSampleIterator::new(parts.into_iter().map(|(_, s)| s).collect()))
        };
        Some(Ok(Series { labels, samples }))
    }
}

/// Merges sample iterators by time; on equal timestamps keeps the sample of the earliest input.
pub struct MergedSampleIterator {
    iters: Vec<Box<dyn SampleIterator>>,
    /// The current (not yet returned) sample of each input; `None` when exhausted.
    heads: Vec<Option<Sample>>,
    started: bool,
    last: Option<Sample>,
}

impl MergedSampleIterator {
    pub fn new(iters: Vec<Box<dyn SampleIterator>>) -> Self {
        let heads = vec![None; iters.len()];
        MergedSampleIterator { iters, heads, started: false, last: None }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for (h, it) in self.heads.iter_mut().zip(self.iters.iter_mut()) {
                *h = it.next();
            }
        }
    }
}

impl SampleIterator for MergedSampleIterator {
    fn next(&mut self) -> Option<Sample> {
        self.start();
        if self.err().is_some() {
            return None;
        }
        // Few inputs (overlapping blocks + head): a linear scan beats a heap.
        let mut best: Option<(usize, Sample)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(s) = h
                && best.is_none_or(|(_, b)| s.t < b.t)
            {
                best = Some((i, *s));
            }
        }
        let (_, s) = best?;
        for (h, it) in self.heads.iter_mut().zip(self.iters.iter_mut()) {
            if h.is_some_and(|x| x.t == s.t) {
                *h = it.next();
            }
        }
        self.last = Some(s);
        Some(s)
    }

    fn seek(&mut self, ts: Timestamp) -> Option<Sample> {
        if let Some(l) = self.last
            && l.t >= ts
        {
            return Some(l);
        }
        self.start();
        for (h, it) in self.heads.iter_mut().zip(self.iters.iter_mut()) {
            if h.is_some_and(|x| x.t < ts) {
                *h = it.seek(ts);
            }
        }
        self.next()
    }

    fn err(&self) -> Option<&Error> {
        self.iters.iter().find_map(|it| it.err())
    }
}
