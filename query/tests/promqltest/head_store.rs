//! The storage the PromQL harness runs on: the real head (`storage::head::Head`) in in-memory
//! mode, read through the same `BlockQuerier` the database uses for its head, so the scripts
//! exercise the production read path (postings, chunk encoding, iterators), not a test double.

use std::sync::Arc;

use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appendable, Labels, Querier, Queryable, Sample};

/// What the harness needs from a storage.
pub trait TestStorage {
    fn queryable(&self) -> &dyn Queryable;
    /// Appends samples of one series, in time order.
    fn append(&self, labels: &Labels, samples: &[Sample]);
    /// Removes everything.
    fn clear(&mut self);
}

/// The storage used by the harness.
pub fn new_storage() -> Box<dyn TestStorage> {
    Box::new(HeadStore { head: open_head() })
}

fn open_head() -> Arc<Head> {
    // Scripts may load a series again with earlier samples after evals: accept any order.
    let opts = HeadOptions { dir: None, out_of_order_window: i64::MAX / 4, ..HeadOptions::default() };
    Head::open(opts).expect("opening an in-memory head")
}

pub struct HeadStore {
    head: Arc<Head>,
}

impl TestStorage for HeadStore {
    fn queryable(&self) -> &dyn Queryable {
        self
    }

    fn append(&self, labels: &Labels, samples: &[Sample]) {
        let mut app = Appendable::appender(&self.head);
        let mut hint = None;
        for s in samples {
            match app.append(hint, labels, s.t, s.v) {
                Ok(r) => hint = Some(r),
                Err(e) => panic!("appending {labels} @{}: {e}", s.t),
            }
        }
        app.commit().expect("committing samples to the head");
    }

    fn clear(&mut self) {
        self.head = open_head();
    }
}

impl Queryable for HeadStore {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        let reader = self.head.range_reader(mint, maxt);
        Ok(Box::new(BlockQuerier::new(&reader, mint, maxt)?))
    }
}
