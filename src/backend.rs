//! What the server needs from the storage engine beyond the read/write traits: maintenance,
//! shutdown and head statistics. Implemented by `storage::db::Db`.

use std::sync::Arc;

use storage::head::HeadStats;
use storage::{Appendable, Queryable, Timestamp};

/// A storage engine the server can run on.
pub trait Backend: Send + Sync + 'static {
    fn queryable(&self) -> &dyn Queryable;
    fn appendable(&self) -> &dyn Appendable;
    /// Compaction, head truncation and retention; called periodically with the current time.
    fn maintain(&self, now_ms: Timestamp) -> storage::Result<()>;
    /// Flushes the WAL and stops background work. Further appends fail.
    fn close(&self) -> storage::Result<()>;
    /// Head statistics with top-`limit` cardinality lists (for `/api/v1/status/tsdb`).
    fn head_stats(&self, limit: usize) -> HeadStats;
    /// Re-allocates the head's long-lived growing buffers so the allocator can pack them
    /// (`storage::head::Head::compact_memory`); returns the number of series visited.
    fn compact_memory(&self) -> usize;
    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers` (tombstones).
    fn delete_series(&self, matchers: &[storage::Matcher], mint: Timestamp, maxt: Timestamp) -> storage::Result<()>;
    /// Rewrites blocks without their deleted samples; returns the blocks rewritten.
    fn clean_tombstones(&self) -> storage::Result<usize>;
    /// A consistent copy of the database in `dest` (see `storage::db::Db::snapshot`).
    fn snapshot(&self, dest: &std::path::Path, with_head: bool) -> storage::Result<usize>;
}

/// A shareable backend.
pub type SharedBackend = Arc<dyn Backend>;
