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
}

/// A shareable backend.
pub type SharedBackend = Arc<dyn Backend>;
