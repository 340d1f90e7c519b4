//! The database's self-metrics (`tickdb_*`), registered in the caller's [`Registry`].

use std::sync::Arc;

use crate::metrics::{Counter, Gauge, Histogram, Registry};

/// Compaction durations span milliseconds (a small head block) to many minutes (31d blocks).
const COMPACTION_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

pub(super) struct DbMetrics {
    pub compactions: Arc<Counter>,
    pub compactions_failed: Arc<Counter>,
    pub compaction_duration: Arc<Histogram>,
    pub blocks_loaded: Arc<Gauge>,
    pub blocks_bytes: Arc<Gauge>,
    pub retention_deletions: Arc<Counter>,
    pub head_truncations: Arc<Counter>,
}

impl DbMetrics {
    pub fn new(r: &Registry) -> Self {
        DbMetrics {
            compactions: r.counter("tickdb_compactions_total", "Compactions run (head persists included)."),
            compactions_failed: r.counter("tickdb_compactions_failed_total", "Compactions that failed."),
            compaction_duration: r.histogram(
                "tickdb_compaction_duration_seconds",
                "Duration of compactions (head persists included).",
                COMPACTION_BUCKETS,
            ),
            blocks_loaded: r.gauge("tickdb_blocks_loaded", "Number of blocks currently loaded."),
            blocks_bytes: r.gauge("tickdb_storage_blocks_bytes", "Bytes on disk of the loaded blocks."),
            retention_deletions: r
                .counter("tickdb_retention_deletions_total", "Blocks deleted by time or size retention."),
            head_truncations: r
                .counter("tickdb_head_truncations_total", "Times the head was truncated after a persist."),
        }
    }
}
