//! The sample budget of a query (`max_samples`) and its samples-touched statistic.
//!
//! A query fails with [`QueryError::TooManySamples`] exactly when Prometheus's would: the
//! count of samples held in memory is kept as Prometheus 3 keeps `evaluator.currentSamples`
//! (checked against the limit whenever it grows), node by node: a selector holds its points; a
//! `rangeEval` node (operators, instant functions, `count_values`) holds its inputs plus, at
//! each step, the gathered input elements and the outputs so far; an aggregation holds its
//! parameter and input; a range function holds its scalar arguments (and a subquery's
//! result), the outputs of the series done so far and the current step's window; a
//! step-invariant node counts each repeated sample. When a node is done the count drops back
//! to what it held before plus its result (except unary minus, subqueries, label functions
//! and range functions, which keep what they hold, as in Prometheus). The table tests in
//! `tests/engine_api.rs` carry Prometheus's own peaks.
//!
//! `QueryStats::samples_loaded` is Prometheus's `TotalSamples`: each step's selected sample,
//! each step's window of a range function, each point of a matrix selector.

use super::{Ev, Result, TICK_EVERY};
use crate::QueryError;

impl Ev<'_> {
    /// Accounts one more sample pushed into `pts` (a series being built): every
    /// [`TICK_EVERY`] samples the batch is added to the query's budget, so a series that would
    /// blow the limit fails early instead of after being fully built. The caller accounts the
    /// remainder (`pts.len() % TICK_EVERY`) when the series is done (see [`Ev::finish_series`]).
    #[inline]
    pub(crate) fn pushed(&self, len: usize) -> Result<()> {
        if len.is_multiple_of(TICK_EVERY as usize) { self.add_samples(TICK_EVERY as usize) } else { Ok(()) }
    }

    /// Accounts the samples of a finished series not yet accounted by [`Ev::pushed`].
    pub(crate) fn finish_series(&self, len: usize) -> Result<()> {
        self.add_samples(len % TICK_EVERY as usize)
    }

    /// Accounts `n` more samples in memory, failing beyond the limit.
    pub(crate) fn add_samples(&self, n: usize) -> Result<()> {
        let c = self.sh.current.get().saturating_add(n);
        self.sh.current.set(c);
        if c > self.sh.opts.max_samples {
            return Err(QueryError::TooManySamples("query execution".into()));
        }
        Ok(())
    }

    /// Samples in memory right now.
    pub(crate) fn current_samples(&self) -> usize {
        self.sh.current.get()
    }

    /// Sets the samples in memory without checking the limit (a release, or Prometheus's
    /// `currentSamples = originalNumSamples + result.TotalSamples()` once a node is done).
    pub(crate) fn set_current_samples(&self, n: usize) {
        self.sh.current.set(n);
    }

    /// Counts `n` samples touched by the query ([`crate::QueryStats::samples_loaded`]).
    pub(crate) fn touched(&self, n: usize) {
        self.sh.total.set(self.sh.total.get().saturating_add(n));
    }

    /// Samples touched so far (saved and restored around subqueries whose samples are
    /// counted again by the range function over them).
    pub(crate) fn total_touched(&self) -> usize {
        self.sh.total.get()
    }

    pub(crate) fn set_total_touched(&self, n: usize) {
        self.sh.total.set(n);
    }
}
