//! The process allocator (jemalloc): its statistics as metrics, and the policy that decides
//! when the head's long-lived buffers are re-packed ([`crate::backend::Backend::compact_memory`]).
//!
//! Remote write grows every series' open chunk a few bytes at a time. Each growth moves the
//! chunk to the next size class and leaves a hole behind; the holes keep mostly empty pages
//! resident. After five minutes of node_exporter data from 277k series the holes were a
//! quarter of the process's memory (docs/benchmarks.md). Every [`CHECK_INTERVAL`] the server
//! compares what jemalloc has in use (`stats.active`) with what the program holds
//! (`stats.allocated`) and, when the difference has grown enough since the last compaction
//! ([`Fragmentation::needs_compaction`]), has the head copy its buffers, which packs them
//! into the fullest pages.
//!
//! The build configures jemalloc for this (`.cargo/config.toml`): one arena, so the copies
//! fill the holes of the pages the writers allocated from instead of emptying all of them at
//! once; and a background thread that returns emptied pages to the system within about
//! 100 ms (`dirty_decay_ms:100`) rather than jemalloc's default of 10 s, during which each
//! compaction raised the peak it was meant to lower.

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::metrics::{Counter, Registry};
use tikv_jemalloc_ctl::{epoch, stats};
use tokio::sync::watch;

use crate::backend::SharedBackend;

/// How often fragmentation is checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// jemalloc's view of the heap at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragmentation {
    /// Bytes the program holds (`stats.allocated`).
    pub allocated: usize,
    /// Bytes of pages holding at least one allocation (`stats.active`).
    pub active: usize,
}

impl Fragmentation {
    /// The current statistics (`None` if jemalloc does not answer).
    pub fn read() -> Option<Self> {
        epoch::advance().ok()?;
        Some(Fragmentation { allocated: stats::allocated::read().ok()?, active: stats::active::read().ok()? })
    }

    /// Bytes in pages that hold something, minus what they hold.
    pub fn wasted(&self) -> usize {
        self.active.saturating_sub(self.allocated)
    }

    /// Worth a compaction when the waste has grown by more than 1/32 of what is held and
    /// 2 MiB since `after_last` (the waste measured right after the previous compaction; part
    /// of the waste is not the head's, and copying cannot reclaim it). Copying costs about
    /// 50 ns per series, so a head of a million series (about 300 MB) is compacted at most
    /// once per 9 MB of new waste; under steady remote write from 277k series that was about
    /// every 30 s, for 2 to 4% of the ingestion CPU.
    pub fn needs_compaction(&self, after_last: usize) -> bool {
        let grown = self.wasted().saturating_sub(after_last);
        grown > 2 << 20 && grown > self.allocated / 32
    }
}

/// The allocator's own accounting, which splits the resident memory into what the program
/// holds (`allocated`), the partly used pages around it (`active` minus `allocated`) and the
/// allocator's bookkeeping (`metadata`).
pub fn register_metrics(r: &Registry) {
    compactions(r);
    type Read = fn() -> tikv_jemalloc_ctl::Result<usize>;
    let gauges: [(&str, &str, Read); 4] = [
        ("allocated", "Bytes the program holds in allocations (jemalloc stats.allocated).", stats::allocated::read),
        ("active", "Bytes in pages with at least one live allocation (jemalloc stats.active).", stats::active::read),
        (
            "resident",
            "Bytes of the allocator's memory that are resident (jemalloc stats.resident).",
            stats::resident::read,
        ),
        (
            "metadata",
            "Bytes the allocator uses for its own bookkeeping (jemalloc stats.metadata).",
            stats::metadata::read,
        ),
    ];
    for (name, help, read) in gauges {
        r.gauge_fn(&format!("tickdb_allocator_{name}_bytes"), help, move || {
            // The statistics are a snapshot refreshed by advancing the epoch.
            let _ = epoch::advance();
            read().map(|v| v as f64).unwrap_or(f64::NAN)
        });
    }
}

/// The counter of compactions run (registered with the other process metrics, so it shows
/// from the start).
fn compactions(reg: &Registry) -> Arc<Counter> {
    reg.counter("tickdb_memory_compactions_total", "Head memory compactions run (allocator fragmentation).")
}

/// Checks fragmentation every [`CHECK_INTERVAL`] and compacts the head's memory when needed,
/// until `stop` turns true.
pub async fn compaction_loop(backend: SharedBackend, reg: Registry, mut stop: watch::Receiver<bool>) {
    let runs = compactions(&reg);
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut after_last = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let Some(before) = Fragmentation::read() else { continue };
        if !before.needs_compaction(after_last) {
            continue;
        }
        let b = Arc::clone(&backend);
        let start = Instant::now();
        let Ok(series) = tokio::task::spawn_blocking(move || b.compact_memory()).await else { continue };
        runs.inc();
        let after = Fragmentation::read().map_or(before.wasted(), |a| a.wasted());
        after_last = after;
        tracing::debug!(
            series,
            ms = start.elapsed().as_millis() as u64,
            wasted_before = before.wasted(),
            wasted_after = after,
            "compacted head memory"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_threshold() {
        const MB: usize = 1 << 20;
        let check = |allocated: usize, active: usize, after_last: usize, want: bool| {
            let f = Fragmentation { allocated, active };
            assert_eq!(f.needs_compaction(after_last), want, "{allocated} {active} {after_last}");
        };
        check(100 * MB, 100 * MB, 0, false);
        // Below 2 MiB of new waste: never.
        check(10 * MB, 12 * MB, 0, false);
        check(10 * MB, 12 * MB + 1, 0, true);
        // Above 2 MiB: more than 1/32 of what is held.
        check(160 * MB, 165 * MB, 0, false);
        check(160 * MB, 165 * MB + 1, 0, true);
        // Only the waste added since the last compaction counts.
        check(160 * MB, 165 * MB + 1, 8 * MB, false);
        check(160 * MB, 174 * MB, 8 * MB, true);
        // active below allocated (thread caches) counts as no waste.
        check(100 * MB, 90 * MB, 0, false);
    }

    #[test]
    fn reads_live_statistics() {
        // The test binary uses the system allocator, but jemalloc is linked in and answers
        // with its own (small) figures.
        let f = Fragmentation::read().expect("jemalloc statistics");
        assert!(f.active >= f.wasted());
    }
}
