//! Runs rule groups on their intervals, each in its own tokio task (Prometheus's
//! `rules/manager.go` and `Group.run`), and replaces them atomically on reload.
//!
//! - A group's evaluations are aligned to [`Group::eval_timestamp`] slots; the first one is the
//!   slot after the group starts. A group that overruns its interval skips the slots it missed
//!   and counts them in `tickdb_rule_group_iterations_missed_total`; other groups are not
//!   delayed (each runs on its own task, its CPU work on the blocking pool).
//! - Groups of the first load after start restore their alerts' `for` state after their first
//!   evaluation ([`Group::restore_for_state`]); groups of later reloads take over the state of
//!   the group they replace ([`Group::copy_state_from`]). A group removed by a reload writes
//!   stale markers for every series it wrote.
//! - After each evaluation the alerts due are handed to the injected `notify`.
//!
//! Time comes from the injected clock for evaluation timestamps; waiting uses tokio's timer,
//! so tests can run it under `tokio::time::pause()` with a clock derived from tokio's instant.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use storage::Appendable;
use storage::metrics::{Counter, Gauge, Registry};

use crate::alert::Alert;
use crate::file::RuleFile;
use crate::group::{Group, GroupError, GroupOptions};
use crate::source::QuerySource;

/// What the manager needs.
pub struct ManagerOptions {
    pub source: Arc<dyn QuerySource>,
    pub appendable: Arc<dyn Appendable>,
    pub notify: Arc<dyn Fn(Vec<Alert>) + Send + Sync>,
    /// Unix ms now.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    pub registry: Registry,
    pub group_options: GroupOptions,
    /// Where anomaly and forecast rules keep what they learned (`None`: nowhere). Saved every
    /// [`LEARNED_SAVE_INTERVAL_MS`] and at stop, restored when the group is first loaded.
    pub state_dir: Option<PathBuf>,
}

/// How often a group with learned rules saves their state.
pub const LEARNED_SAVE_INTERVAL_MS: i64 = 5 * 60_000;

/// The file of a group's learned state: its key's hash, so any key maps to a safe name.
fn state_file(dir: &std::path::Path, key: &str) -> PathBuf {
    dir.join(format!("{:016x}.json", storage::Labels::from_pairs([("group", key)]).hash64()))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedGroup {
    group: String,
    rules: Vec<(String, crate::learned::LearnedState)>,
}

/// Writes a group's learned state atomically (nothing for groups without learned rules).
fn save_learned(dir: &std::path::Path, g: &Group) {
    let rules = g.learned_state();
    if rules.is_empty() {
        return;
    }
    let path = state_file(dir, &g.key());
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec(&SavedGroup { group: g.key(), rules }).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::error!(rule_group = %g.key(), error = %e, "saving what the anomaly/forecast rules learned failed");
    }
}

/// Restores a group's learned state saved by [`save_learned`], if any.
fn restore_learned(dir: &std::path::Path, g: &mut Group) {
    let path = state_file(dir, &g.key());
    let Ok(bytes) = std::fs::read(&path) else { return };
    match serde_json::from_slice::<SavedGroup>(&bytes) {
        Ok(saved) if saved.group == g.key() => {
            let n = g.restore_learned_state(&saved.rules);
            tracing::info!(rule_group = %g.key(), rules = n, "learned anomaly/forecast state restored");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(rule_group = %g.key(), error = %e, "learned state unreadable; learning afresh"),
    }
}

/// The per-group metrics, labelled `rule_group="<file>;<name>"` as Prometheus's.
struct GroupMetrics {
    iterations: Arc<Counter>,
    missed: Arc<Counter>,
    evaluations: Arc<Counter>,
    failures: Arc<Counter>,
    last_duration: Arc<Gauge>,
    last_samples: Arc<Gauge>,
    last_eval_ts: Arc<Gauge>,
    interval: Arc<Gauge>,
    rules: Arc<Gauge>,
}

impl GroupMetrics {
    fn new(r: &Registry, key: &str) -> Self {
        let l = [("rule_group", key)];
        GroupMetrics {
            iterations: r.counter_with(
                "tickdb_rule_group_iterations_total",
                "Scheduled evaluations of a rule group, run or missed.",
                &l,
            ),
            missed: r.counter_with(
                "tickdb_rule_group_iterations_missed_total",
                "Evaluations of a rule group skipped because the previous one overran its interval.",
                &l,
            ),
            evaluations: r.counter_with("tickdb_rule_evaluations_total", "Rule evaluations.", &l),
            failures: r.counter_with("tickdb_rule_evaluation_failures_total", "Rule evaluations that failed.", &l),
            last_duration: r.gauge_with(
                "tickdb_rule_group_last_duration_seconds",
                "How long the last evaluation of a rule group took.",
                &l,
            ),
            last_samples: r.gauge_with(
                "tickdb_rule_group_last_evaluation_samples",
                "Samples returned by the last evaluation of a rule group.",
                &l,
            ),
            last_eval_ts: r.gauge_with(
                "tickdb_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last evaluation of a rule group.",
                &l,
            ),
            interval: r.gauge_with("tickdb_rule_group_interval_seconds", "The interval of a rule group.", &l),
            rules: r.gauge_with("tickdb_rule_group_rules", "The number of rules of a rule group.", &l),
        }
    }
}

struct Shared {
    source: Arc<dyn QuerySource>,
    appendable: Arc<dyn Appendable>,
    notify: Arc<dyn Fn(Vec<Alert>) + Send + Sync>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    registry: Registry,
    group_options: GroupOptions,
    state_dir: Option<PathBuf>,
}

/// A group's running loop.
struct Running {
    group: Arc<Mutex<Group>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the loop after its current evaluation, if one is under way.
    async fn stop(self) -> Arc<Mutex<Group>> {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "a rule group's task failed");
        }
        self.group
    }
}

/// The rule manager.
pub struct Manager {
    shared: Arc<Shared>,
    /// In file order, then group order.
    running: tokio::sync::Mutex<Vec<(String, Running)>>,
    /// The groups, for readers (the API); replaced as a whole by [`Manager::update`].
    view: Mutex<Vec<Arc<Mutex<Group>>>>,
    /// `(file, name)` of each group in `view`: readable without waiting for an evaluation.
    names: Mutex<Vec<(String, String)>>,
    /// Set by the first [`Manager::update`]: later loads copy state instead of restoring it.
    loaded_once: AtomicBool,
}

impl Manager {
    pub fn new(opts: ManagerOptions) -> Self {
        let ManagerOptions { source, appendable, notify, clock, registry, group_options, state_dir } = opts;
        Manager {
            shared: Arc::new(Shared { source, appendable, notify, clock, registry, group_options, state_dir }),
            running: tokio::sync::Mutex::new(Vec::new()),
            view: Mutex::new(Vec::new()),
            names: Mutex::new(Vec::new()),
            loaded_once: AtomicBool::new(false),
        }
    }

    /// Replaces the running groups by the groups of `files`. If any group cannot be built,
    /// nothing changes and every error is returned. A group with the same file and name as a
    /// running one takes over its state (alerts, series written) after the old one's current
    /// evaluation finished; removed groups mark their series stale.
    pub async fn update(&self, files: Vec<(PathBuf, RuleFile)>) -> Result<(), Vec<GroupError>> {
        let mut errs = Vec::new();
        let mut new = Vec::new();
        for (p, f) in &files {
            let file = p.display().to_string();
            for g in &f.groups {
                match Group::new(&file, g, &self.shared.group_options) {
                    Ok(g) => new.push(g),
                    Err(e) => errs.push(e),
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let first = !self.loaded_once.swap(true, Ordering::SeqCst);
        let mut running = self.running.lock().await;
        let mut old: HashMap<String, Running> = running.drain(..).collect();
        let mut next = Vec::with_capacity(new.len());
        for mut g in new {
            let key = g.key();
            if let Some(prev) = old.remove(&key) {
                let prev = prev.stop().await;
                g.copy_state_from(&prev.lock());
            } else {
                if first {
                    g.set_awaiting_restore();
                }
                if let Some(dir) = &self.shared.state_dir {
                    restore_learned(dir, &mut g);
                }
            }
            let group = Arc::new(Mutex::new(g));
            next.push((key.clone(), self.spawn(key, group)));
        }
        for (key, r) in old {
            let g = r.stop().await;
            let shared = self.shared.clone();
            let now = (shared.clock)();
            let res = tokio::task::spawn_blocking(move || {
                let mut g = g.lock();
                let ts = now.max(g.last_eval_ms() + 1);
                g.mark_stale(ts, shared.appendable.as_ref());
            })
            .await;
            if let Err(e) = res {
                tracing::error!(rule_group = %key, error = %e, "marking a removed group's series stale failed");
            }
            self.shared.registry.remove_labeled(&[("rule_group", key.as_str())]);
            tracing::info!(rule_group = %key, "rule group removed");
        }
        *self.names.lock() = next
            .iter()
            .map(|(_, r)| {
                let g = r.group.lock();
                (g.file().to_string(), g.name().to_string())
            })
            .collect();
        *self.view.lock() = next.iter().map(|(_, r)| r.group.clone()).collect();
        *running = next;
        Ok(())
    }

    /// The groups, in file order and then the order of each file. A group's lock is held for
    /// a whole evaluation (which may wait on a remote datasource): lock it from a blocking
    /// thread, never from an async task.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        self.view.lock().clone()
    }

    /// `(file, name)` of every group, without locking any.
    pub fn group_names(&self) -> Vec<(String, String)> {
        self.names.lock().clone()
    }

    /// Stops every group after its current evaluation. The series they wrote are not marked
    /// stale (as Prometheus on shutdown): a restart continues them.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        for (_, r) in running.drain(..) {
            let g = r.stop().await;
            if let Some(dir) = self.shared.state_dir.clone() {
                let _ = tokio::task::spawn_blocking(move || save_learned(&dir, &g.lock())).await;
            }
        }
    }

    fn spawn(&self, key: String, group: Arc<Mutex<Group>>) -> Running {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics = GroupMetrics::new(&self.shared.registry, &key);
        {
            let g = group.lock();
            metrics.interval.set(g.interval_ms() as f64 / 1000.0);
            metrics.rules.set(g.rules().len() as f64);
        }
        let task = tokio::spawn(run_group(self.shared.clone(), group.clone(), metrics, stopped));
        Running { group, stop, task }
    }
}

/// Waits `ms` of the injected clock's time (tokio's timer; never less than 1 ms per wake-up).
/// Returns false when stopped.
async fn sleep_until(shared: &Shared, at_ms: i64, stopped: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    loop {
        if *stopped.borrow() {
            return false;
        }
        let now = (shared.clock)();
        if now >= at_ms {
            return true;
        }
        let wait = Duration::from_millis(u64::try_from(at_ms - now).unwrap_or(1).max(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = stopped.changed() => {
                if r.is_err() {
                    return false;
                }
            }
        }
    }
}

/// One group's loop: evaluate at each slot, count missed slots, send alerts.
async fn run_group(
    shared: Arc<Shared>,
    group: Arc<Mutex<Group>>,
    m: GroupMetrics,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let (interval, key) = {
        let g = group.lock();
        (g.interval_ms(), g.key())
    };
    // The first slot after now, as Prometheus (a restarted server does not evaluate twice in
    // one slot). A group that took over from a reload continues after its predecessor's slot.
    let now = (shared.clock)();
    let (mut ts, last) = {
        let g = group.lock();
        (g.eval_timestamp(now) + interval, g.last_eval_ms())
    };
    if last > 0 && ts <= last {
        ts = last + interval;
    }
    let mut last_save = now;
    loop {
        if !sleep_until(&shared, ts, &mut stopped).await {
            return;
        }
        m.iterations.inc();
        let sh = shared.clone();
        let g = group.clone();
        let save = ts - last_save >= LEARNED_SAVE_INTERVAL_MS;
        if save {
            last_save = ts;
        }
        let res = tokio::task::spawn_blocking(move || {
            let mut g = g.lock();
            let report = g.eval(ts, sh.source.as_ref(), sh.appendable.as_ref());
            if g.awaiting_restore() {
                g.restore_for_state((sh.clock)(), sh.source.as_ref());
            }
            if let (true, Some(dir)) = (save, &sh.state_dir) {
                save_learned(dir, &g);
            }
            let alerts = g.alerts_to_send(ts);
            (report, alerts, g.rules().len())
        })
        .await;
        match res {
            Ok((report, alerts, rules)) => {
                m.evaluations.add(rules as u64);
                m.failures.add(report.failures.len() as u64);
                m.last_duration.set(report.duration.as_secs_f64());
                m.last_samples.set(report.samples as f64);
                m.last_eval_ts.set(ts as f64 / 1000.0);
                if !alerts.is_empty() {
                    (shared.notify)(alerts);
                }
            }
            Err(e) => tracing::error!(rule_group = %key, error = %e, "rule group evaluation panicked"),
        }
        // The next slot; slots that passed during the evaluation are missed.
        let now = (shared.clock)();
        let next = ts + interval;
        if now >= next + interval {
            let missed = (now - next) / interval;
            m.missed.add(missed as u64);
            m.iterations.add(missed as u64);
            tracing::warn!(rule_group = %key, missed, "rule group evaluation overran its interval");
            ts = next + missed * interval;
        } else {
            ts = next;
        }
    }
}

#[cfg(test)]
#[path = "manager/tests.rs"]
mod tests;
