//! Wires the real storage engine (`storage::db::Db`) and query engine (`query::Engine`) into
//! the server and the offline tools.

use std::path::Path;
use std::sync::Arc;

use storage::db::{Db, DbOptions};
use storage::head::HeadStats;
use storage::metrics::Registry;
use storage::{Appendable, LabelLimits, Queryable, Sample, Timestamp};

use crate::backend::{Backend, SharedBackend};
use crate::config::Config;
use crate::engine::QueryEngine;

impl Backend for Db {
    fn queryable(&self) -> &dyn Queryable {
        self
    }
    fn appendable(&self) -> &dyn Appendable {
        self
    }
    fn maintain(&self, now_ms: Timestamp) -> storage::Result<()> {
        let r = Db::maintain(self, now_ms)?;
        if r.head_blocks + r.compactions + r.retention_deleted > 0 {
            tracing::info!(
                head_blocks = r.head_blocks,
                compactions = r.compactions,
                retention_deleted = r.retention_deleted,
                "storage maintenance"
            );
        }
        Ok(())
    }
    fn close(&self) -> storage::Result<()> {
        Db::close(self)
    }
    fn head_stats(&self, limit: usize) -> HeadStats {
        self.head().stats(limit)
    }
    fn compact_memory(&self) -> usize {
        self.head().compact_memory()
    }
    fn delete_series(&self, matchers: &[storage::Matcher], mint: Timestamp, maxt: Timestamp) -> storage::Result<()> {
        Db::delete_series(self, matchers, mint, maxt)
    }
    fn clean_tombstones(&self) -> storage::Result<usize> {
        Db::clean_tombstones(self)
    }
    fn snapshot(&self, dest: &Path, with_head: bool) -> storage::Result<usize> {
        Db::snapshot(self, dest, with_head)
    }
}

/// Storage options from the server configuration.
pub fn db_options(cfg: &Config, reg: &Registry) -> DbOptions {
    DbOptions {
        retention_ms: cfg.storage.retention.as_millis(),
        retention_bytes: cfg.storage.retention_size,
        out_of_order_window_ms: cfg.storage.out_of_order_time_window.as_millis(),
        max_series: cfg.storage.max_series,
        label_limits: LabelLimits {
            max_name_len: cfg.write.max_label_name_length,
            max_value_len: cfg.write.max_label_value_length,
            max_labels: cfg.write.max_labels_per_series,
        },
        registry: reg.clone(),
        fsync: cfg.fsync_policy().unwrap_or(storage::wal::FsyncPolicy::Always),
        wal_compression: cfg.storage.wal_compression,
        ..DbOptions::default()
    }
}

/// Opens the database of `cfg.data_dir` (replaying its WAL).
pub fn open_storage(cfg: &Config, reg: &Registry) -> anyhow::Result<SharedBackend> {
    let started = std::time::Instant::now();
    let db = Db::open(&cfg.data_dir, db_options(cfg, reg))
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", cfg.data_dir.display()))?;
    tracing::info!(dir = %cfg.data_dir.display(), elapsed_ms = started.elapsed().as_millis() as u64, "storage opened");
    Ok(db)
}

/// The PromQL engine configured from `cfg`.
pub fn engine(cfg: &Config) -> Arc<dyn QueryEngine> {
    Arc::new(query::Engine::new(crate::engine::engine_options(cfg)))
}

/// Opens a data directory for the offline tools.
pub fn open_for_tools(dir: &Path) -> anyhow::Result<SharedBackend> {
    // Do not create an empty database where a typo points.
    if !dir.is_dir() {
        anyhow::bail!("data directory {} does not exist", dir.display());
    }
    let db = Db::open(dir, DbOptions::default()).map_err(|e| anyhow::anyhow!("opening {}: {e}", dir.display()))?;
    Ok(db)
}

/// Writes samples as blocks into `dir`; returns the number of blocks written. `progress` is
/// called with the number of samples handed to storage so far.
pub fn backfill(
    dir: &Path,
    samples: Vec<crate::tsdb_import::ImportSample>,
    progress: &dyn Fn(usize),
) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    // A running server would not see the new blocks until restarted, and could compact or
    // delete around them: refuse while one holds the directory.
    let _lock = storage::db::DirLock::acquire(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut done = 0usize;
    let series = samples.into_iter().map(|(l, t, v)| {
        done += 1;
        if done.is_multiple_of(10_000) {
            progress(done);
        }
        (l, vec![Sample::new(t, v)])
    });
    let metas = storage::db::backfill(dir, series, storage::db::DEFAULT_BLOCK_RANGE_MS)
        .map_err(|e| anyhow::anyhow!("backfill into {}: {e}", dir.display()))?;
    Ok(metas.len())
}
