//! What the server needs from the storage engine beyond the read/write traits: maintenance,
//! shutdown and head statistics. Implemented by `storage::db::Db`.

use std::sync::Arc;

use storage::{Appendable, Queryable, Timestamp};

/// Statistics of the in-memory head (for `/api/v1/status/tsdb`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadStats {
    pub num_series: u64,
    pub chunk_count: u64,
    pub min_time: Timestamp,
    pub max_time: Timestamp,
}

/// A storage engine the server can run on.
pub trait Backend: Send + Sync + 'static {
    fn queryable(&self) -> &dyn Queryable;
    fn appendable(&self) -> &dyn Appendable;
    /// Compaction, head truncation and retention; called periodically with the current time.
    fn maintain(&self, now_ms: Timestamp) -> storage::Result<()>;
    /// Flushes the WAL and stops background work. Further appends fail.
    fn close(&self) -> storage::Result<()>;
    fn head_stats(&self) -> HeadStats;
}

/// A shareable backend.
pub type SharedBackend = Arc<dyn Backend>;
