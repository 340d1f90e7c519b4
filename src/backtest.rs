//! `tickdb rules backtest FILE --from T --to T`: replays a rule file over stored history, as
//! fast as the engine goes, and reports the alerts that would have fired.
//!
//! The rules run in the live engine's own [`rules::group::Group`]s (`for`, `keep_firing_for`,
//! `query_offset`, `limit`, group labels, stale markers: all the live code), queried through
//! the same [`LocalSource`] over the data dir read directly ([`crate::wiring::open_for_tools`]).
//! Their output goes to an in-memory [`Overlay`] that later rules and evaluations read together
//! with the history; nothing is written to the data dir.
//!
//! Each group is evaluated at `from`, `from + step`, ... up to `to` (step = the group's
//! interval unless `--step` is given); the groups of a file are interleaved in time order (ties
//! in file order), as they run concurrently in the server. Alert state starts empty at `from`:
//! `ALERTS_FOR_STATE` is not restored from the history.
//!
//! The data dir is opened as `tickdb tsdb dump` opens it, taking its lock: a directory a server
//! holds is refused with a clear error (run the backtest on a snapshot instead, see
//! docs/backtest.md); storage has no read-only open that would be safe beside a writer.

mod overlay;
mod report;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use rules::file::RuleFile;
use rules::group::{Group, GroupOptions, RuleKind};
use rules::source::{LocalSource, QuerySource};
use storage::{Appendable, Queryable, Timestamp};

pub use overlay::{Overlay, Shadow};
pub use report::{Episode, GroupReport, Report, RuleReport, render_json, render_text, rfc3339};

use crate::cli::{BacktestFormat, RulesBacktestArgs};
use crate::config::Config;

/// The evaluation window.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub from_ms: Timestamp,
    pub to_ms: Timestamp,
    /// Overrides every group's interval.
    pub step_ms: Option<i64>,
    /// Most evaluations of one group (0: no limit).
    pub max_steps: u64,
}

impl Plan {
    /// Evaluations at `step_ms` from `from` to `to`, both included (`from <= to`, `step_ms > 0`).
    fn steps(&self, step_ms: i64) -> u64 {
        // In i128: the span of two extreme timestamps does not fit an i64.
        let n = (i128::from(self.to_ms) - i128::from(self.from_ms)) / i128::from(step_ms) + 1;
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// One group on its way through the window.
struct GroupRun {
    group: Group,
    step_ms: i64,
    next_ms: Timestamp,
    tracker: report::GroupTracker,
}

/// The groups of one rule file, ready to run over a window.
pub struct Backtest {
    file: String,
    plan: Plan,
    runs: Vec<GroupRun>,
}

impl Backtest {
    /// Builds the groups of `rf` (read from `file`) and checks the window: `from <= to`, a
    /// positive step, at most `max_steps` evaluations per group.
    pub fn new(file: &str, rf: &RuleFile, opts: &GroupOptions, plan: Plan) -> anyhow::Result<Backtest> {
        if plan.from_ms > plan.to_ms {
            anyhow::bail!("--from ({}) is after --to ({})", rfc3339(plan.from_ms), rfc3339(plan.to_ms));
        }
        if let Some(s) = plan.step_ms
            && s <= 0
        {
            anyhow::bail!("--step must be positive");
        }
        if rf.groups.is_empty() {
            anyhow::bail!("{file}: no rule groups");
        }
        let mut runs = Vec::with_capacity(rf.groups.len());
        for def in &rf.groups {
            let group = Group::new(file, def, opts)?;
            let step_ms = plan.step_ms.unwrap_or(group.interval_ms());
            let steps = plan.steps(step_ms);
            if plan.max_steps > 0 && steps > plan.max_steps {
                anyhow::bail!(
                    "group {:?} would be evaluated {steps} times ({} to {} every {}), more than --max-steps {}; \
                     use a longer --step, a shorter window or a larger --max-steps",
                    group.name(),
                    rfc3339(plan.from_ms),
                    rfc3339(plan.to_ms),
                    crate::duration::PromDuration(std::time::Duration::from_millis(step_ms as u64)),
                    plan.max_steps
                );
            }
            let tracker = report::GroupTracker::new(&group, step_ms);
            runs.push(GroupRun { group, step_ms, next_ms: plan.from_ms, tracker });
        }
        Ok(Backtest { file: file.to_string(), plan, runs })
    }

    /// Group evaluations the run will do.
    pub fn evaluations(&self) -> u64 {
        self.runs.iter().map(|r| self.plan.steps(r.step_ms)).fold(0, u64::saturating_add)
    }

    /// The series these rules write, to hide from the stored history.
    pub fn shadow(&self) -> Shadow {
        let mut s = Shadow::default();
        for rule in self.runs.iter().flat_map(|r| r.group.rules()) {
            match rule.kind() {
                RuleKind::Recording => s.recorded.insert(rule.name().to_string()),
                RuleKind::Alerting => s.alerts.insert(rule.name().to_string()),
            };
            match rule.learned_kind() {
                Some("anomaly") => s.anomalies.insert(rule.name().to_string()),
                Some("forecast") => s.forecasts.insert(rule.name().to_string()),
                _ => false,
            };
        }
        s
    }

    /// Evaluates every group over the window, reading through `src` and writing to `out`;
    /// `progress` is called with the number of group evaluations done (every 64 and at the end).
    pub fn run(mut self, src: &dyn QuerySource, out: &dyn Appendable, progress: &mut dyn FnMut(u64)) -> Report {
        let started = Instant::now();
        let mut done = 0u64;
        // The group due first (ties: file order), until all are past `to`.
        while let Some(run) = self.runs.iter_mut().filter(|r| r.next_ms <= self.plan.to_ms).min_by_key(|r| r.next_ms) {
            let ts = run.next_ms;
            let rep = run.group.eval(ts, src, out);
            run.tracker.observe(ts, &run.group, &rep.failures);
            run.next_ms = ts.saturating_add(run.step_ms);
            done += 1;
            if done.is_multiple_of(64) {
                progress(done);
            }
        }
        progress(done);
        Report {
            file: self.file,
            from_ms: self.plan.from_ms,
            to_ms: self.plan.to_ms,
            groups: self.runs.into_iter().map(|r| r.tracker.finish()).collect(),
            wall: started.elapsed(),
        }
    }
}

/// Runs `backtest` over `stored` with the engine and group options of `cfg`.
pub fn backtest(
    bt: Backtest,
    stored: Arc<dyn Queryable>,
    cfg: &Config,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Report> {
    let overlay = Arc::new(Overlay::new(stored, bt.shadow())?);
    let engine = query::Engine::new(crate::engine::engine_options(cfg))
        .with_default_subquery_step(cfg.rules.evaluation_interval.as_millis());
    let src = LocalSource { engine, db: overlay.clone() };
    let report = bt.run(&src, overlay.as_ref(), progress);
    tracing::debug!(series = overlay.num_series(), "series written to the overlay");
    Ok(report)
}

/// `tickdb rules backtest`: prints the report to `out`.
pub fn run(a: &RulesBacktestArgs, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let mut cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = &a.data_dir {
        cfg.data_dir = d.clone();
    }
    let now = chrono::Utc::now().timestamp_millis();
    let time = |flag: &str, s: &str| {
        crate::server::params::parse_time_relative(s, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
    };
    let plan = Plan {
        from_ms: time("from", &a.from)?,
        to_ms: time("to", &a.to)?,
        step_ms: a.step.map(|d| d.as_millis()),
        max_steps: a.max_steps,
    };
    let name = a.file.display().to_string();
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("reading {name}"))?;
    let rf = rules::file::parse(&name, &text)
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let bt = Backtest::new(&name, &rf, &crate::rules_service::group_options(&cfg), plan)?;
    if cfg.data_dir.is_dir()
        && let Err(e) = storage::db::DirLock::acquire(&cfg.data_dir)
    {
        // Checked apart from the open below only to say what to do instead.
        anyhow::bail!(
            "{e}\n(a backtest reads the data directory itself; to backtest a live server's data, take a \
             snapshot with POST /api/v1/admin/tsdb/snapshot and pass --data-dir <data-dir>/snapshots/<name>)"
        );
    }
    let db = crate::wiring::open_for_tools(&cfg.data_dir)?;
    let bar = crate::progress::terminal_bar(bt.evaluations(), "{bar:40} {pos}/{len} evaluations ({eta})");
    let report = backtest(bt, Arc::new(crate::rules_service::BackendStore(db.clone())), &cfg, &mut |n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    db.close().map_err(|e| anyhow::anyhow!("closing {}: {e}", cfg.data_dir.display()))?;
    let report = report?;
    let text = match a.format {
        BacktestFormat::Text => render_text(&report),
        BacktestFormat::Json => serde_json::to_string_pretty(&render_json(&report))? + "\n",
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // `| head` closing the pipe is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
