//! A minimal in-memory storage implementing the storage contract, for the PromQL harness.
//!
//! The harness only talks to it through [`TestStorage`], so switching to the real head is one
//! line in `new_storage()`.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::sync::RwLock;
use storage::{
    matcher::matches_all, AppendError, Appendable, Appender, CommitStats, Labels, Matcher, Querier, Queryable, Sample,
    SelectHints, Series, SeriesRef, SeriesSet, VecSampleIterator,
};

/// What the harness needs from a storage.
pub trait TestStorage {
    fn queryable(&self) -> &dyn Queryable;
    /// Appends samples of one series (any order; a later value at the same time wins).
    fn append(&self, labels: &Labels, samples: &[Sample]);
    /// Removes everything.
    fn clear(&mut self);
}

/// The storage used by the harness.
pub fn new_storage() -> Box<dyn TestStorage> {
    Box::new(MemStore::default())
}

type Data = Arc<RwLock<BTreeMap<Labels, BTreeMap<i64, f64>>>>;

#[derive(Default, Clone)]
pub struct MemStore {
    data: Data,
}

impl TestStorage for MemStore {
    fn queryable(&self) -> &dyn Queryable {
        self
    }
    fn append(&self, labels: &Labels, samples: &[Sample]) {
        let mut app = self.appender();
        for s in samples {
            let _ = app.append(None, labels, s.t, s.v);
        }
        let _ = app.commit();
    }
    fn clear(&mut self) {
        self.data.write().unwrap().clear();
    }
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        Ok(Box::new(MemQuerier { data: self.data.clone(), mint, maxt }))
    }
}

struct MemQuerier {
    data: Data,
    mint: i64,
    maxt: i64,
}

impl Querier for MemQuerier {
    fn select(&self, _sorted: bool, _hints: Option<&SelectHints>, matchers: &[Matcher]) -> storage::Result<SeriesSet> {
        let data = self.data.read().unwrap();
        let mut out = Vec::new();
        for (l, s) in data.iter() {
            if !matches_all(matchers, l) {
                continue;
            }
            let samples: Vec<Sample> =
                s.range(self.mint..=self.maxt).map(|(&t, &v)| Sample { t, v }).collect();
            if samples.is_empty() {
                continue;
            }
            out.push(Ok(Series { labels: l.clone(), samples: Box::new(VecSampleIterator::new(samples)) }));
        }
        Ok(Box::new(out.into_iter()))
    }
    fn label_names(&self, _matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn label_values(&self, _name: &str, _matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender { data: self.data.clone(), staged: Vec::new() })
    }
}

struct MemAppender {
    data: Data,
    staged: Vec<(Labels, i64, f64)>,
}

impl Appender for MemAppender {
    fn append(&mut self, _hint: Option<SeriesRef>, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        self.staged.push((labels.clone(), t, v));
        Ok(SeriesRef(0))
    }
    fn commit(self: Box<Self>) -> storage::Result<CommitStats> {
        let mut d = self.data.write().unwrap();
        let n = self.staged.len() as u64;
        for (l, t, v) in self.staged {
            d.entry(l).or_default().insert(t, v);
        }
        Ok(CommitStats { samples: n, series_created: 0 })
    }
    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}
