//! The rule engine inside the server: loads the rule files of `rules.dir`, runs their groups
//! with the [`rules::manager::Manager`] against the local engine or a remote datasource, writes
//! their output into the local storage, reloads on SIGHUP and `POST /-/reload`, and hands the
//! alerts to the notifiers.
//!
//! A reload that finds an invalid file changes nothing: the previous groups keep running and
//! the error (file, line, group, rule) is returned to the caller and logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rules::alert::Alert;
use rules::manager::{Manager, ManagerOptions};
use rules::source::{LocalSource, QuerySource};
use storage::metrics::{Gauge, Registry};
use storage::{Appendable, Appender, Querier, Queryable, Timestamp};

use crate::backend::SharedBackend;
use crate::config::Config;
use crate::server::Clock;

/// The storage as the rule engine sees it: [`Queryable`] and [`Appendable`] over the backend.
#[derive(Clone)]
pub struct BackendStore(pub SharedBackend);

impl Queryable for BackendStore {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        self.0.queryable().querier(mint, maxt)
    }
}

impl Appendable for BackendStore {
    fn appender(&self) -> Box<dyn Appender> {
        self.0.appendable().appender()
    }
}

/// The options of every rule group, from the configuration (also `tickdb rules backtest`'s).
pub fn group_options(cfg: &Config) -> rules::group::GroupOptions {
    let external_url = if cfg.rules.external_url.is_empty() {
        format!("http://{}", cfg.listen)
    } else {
        cfg.rules.external_url.trim_end_matches('/').to_string()
    };
    rules::group::GroupOptions {
        external_labels: cfg.rules.external_labels.clone(),
        external_url,
        default_interval_ms: cfg.rules.evaluation_interval.as_millis(),
        resend_delay_ms: cfg.rules.resend_delay.as_millis(),
        outage_tolerance_ms: cfg.rules.outage_tolerance.as_millis(),
        for_grace_period_ms: cfg.rules.for_grace_period.as_millis(),
    }
}

/// What anomaly and forecast rules learned, under the data dir (one JSON file per group).
pub const LEARNED_DIR: &str = "learned";

/// Where alerts go after each group evaluation.
pub type AlertSink = Arc<dyn Fn(Vec<Alert>) + Send + Sync>;

/// The outcome of the last reload, for the API and metrics.
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus {
    pub ok: bool,
    pub at_ms: Timestamp,
    pub error: Option<String>,
    pub groups: usize,
}

/// The running rule engine.
pub struct RulesService {
    pub manager: Manager,
    dir: PathBuf,
    /// The live groups managed through the admin API (`<data_dir>/rules-api/active`).
    api_dir: PathBuf,
    /// What the groups evaluate with, for dry runs.
    source: Arc<dyn QuerySource>,
    appendable: Arc<dyn Appendable>,
    group_options: rules::group::GroupOptions,
    clock: Clock,
    reloading: tokio::sync::Mutex<()>,
    status: Mutex<ReloadStatus>,
    reload_ok: Arc<Gauge>,
    reload_time: Arc<Gauge>,
    /// The action engine, which runs the files' `scaling:` and `recovery:` rules.
    actions: std::sync::OnceLock<Arc<crate::actions::Actions>>,
}

impl RulesService {
    /// Builds the engine (without loading rules: call [`RulesService::reload`]).
    pub fn new(
        cfg: &Config,
        backend: SharedBackend,
        registry: &Registry,
        clock: Clock,
        sink: AlertSink,
    ) -> anyhow::Result<Arc<RulesService>> {
        let store = BackendStore(backend);
        let source: Arc<dyn QuerySource> = if cfg.rules.datasource_url.is_empty() {
            let engine = query::Engine::new(crate::engine::engine_options(cfg))
                .with_default_subquery_step(cfg.rules.evaluation_interval.as_millis());
            Arc::new(LocalSource { engine, db: Arc::new(store.clone()) })
        } else {
            Arc::new(
                crate::rules_source::RemoteSource::new(
                    &cfg.rules.datasource_url,
                    cfg.rules.datasource_timeout.0,
                    tokio::runtime::Handle::current(),
                )
                .map_err(anyhow::Error::msg)?,
            )
        };
        let group_options = group_options(cfg);
        let clk = clock.clone();
        let appendable: Arc<dyn Appendable> = Arc::new(store);
        let manager = Manager::new(ManagerOptions {
            source: source.clone(),
            appendable: appendable.clone(),
            notify: sink,
            clock: Arc::new(move || clk()),
            registry: registry.clone(),
            group_options: group_options.clone(),
            state_dir: Some(cfg.data_dir.join(LEARNED_DIR)),
        });
        Ok(Arc::new(RulesService {
            manager,
            dir: cfg.rules.dir.clone(),
            api_dir: cfg.data_dir.join("rules-api").join("active"),
            source,
            appendable,
            group_options,
            clock,
            reloading: tokio::sync::Mutex::new(()),
            status: Mutex::new(ReloadStatus::default()),
            reload_ok: registry.gauge(
                "tickdb_rules_config_last_reload_successful",
                "Whether the last rule reload succeeded (1) or failed (0).",
            ),
            reload_time: registry.gauge(
                "tickdb_rules_config_last_reload_success_timestamp_seconds",
                "Time of the last successful rule reload.",
            ),
            actions: std::sync::OnceLock::new(),
        }))
    }

    /// Reads every rule file of the directory and replaces the running groups; on any error
    /// nothing changes and the error lists every problem found. Returns the number of groups.
    pub async fn reload(&self) -> Result<usize, String> {
        let _one_at_a_time = self.reloading.lock().await;
        let dirs = [self.dir.clone(), self.api_dir.clone()];
        let loaded = tokio::task::spawn_blocking(move || load_dirs(&dirs))
            .await
            .map_err(|e| format!("loading rules panicked: {e}"))?;
        let result = match loaded {
            Ok(files) => {
                let groups = files.iter().map(|(_, f)| f.groups.len()).sum();
                let policies = policy_specs(&files);
                match self.check_policies(&policies) {
                    Err(e) => Err(e),
                    Ok(()) => {
                        let res = self.manager.update(files).await.map(|()| groups).map_err(|errs| join_errors(&errs));
                        if res.is_ok()
                            && let Some(a) = self.actions.get()
                        {
                            a.update(policies);
                        }
                        res
                    }
                }
            }
            Err(e) => Err(e),
        };
        let now = (self.clock)();
        let mut st = self.status.lock();
        match &result {
            Ok(groups) => {
                *st = ReloadStatus { ok: true, at_ms: now, error: None, groups: *groups };
                self.reload_ok.set(1.0);
                self.reload_time.set(now as f64 / 1000.0);
                tracing::info!(dir = %self.dir.display(), groups, "rules loaded");
            }
            Err(e) => {
                st.ok = false;
                st.error = Some(e.clone());
                self.reload_ok.set(0.0);
                tracing::error!(dir = %self.dir.display(), error = %e, "rules not reloaded; the previous rules keep running");
            }
        }
        result
    }

    /// Hands the files' policies to `actions` from now on (set once, before the first reload).
    pub fn set_actions(&self, actions: Arc<crate::actions::Actions>) {
        let _ = self.actions.set(actions);
    }

    /// What the rules query through (the local engine or the remote datasource).
    pub fn source(&self) -> Arc<dyn QuerySource> {
        self.source.clone()
    }

    fn check_policies(&self, specs: &[crate::actions::PolicySpec]) -> Result<(), String> {
        match self.actions.get() {
            Some(a) => a.check(specs),
            None if specs.is_empty() => Ok(()),
            None => Err(format!(
                "{}: scaling and recovery rules need the action engine, which is not running here",
                specs[0].file
            )),
        }
    }

    /// Where the rules write (the local storage).
    pub fn appendable(&self) -> Arc<dyn Appendable> {
        self.appendable.clone()
    }

    /// The options every group is built with (for validating a group before it is stored).
    pub fn group_options(&self) -> &rules::group::GroupOptions {
        &self.group_options
    }

    /// Names of the groups defined in the rules directory's files (read-only through the API).
    pub fn file_group_names(&self) -> Vec<String> {
        let dir = self.dir.as_path();
        self.manager
            .group_names()
            .into_iter()
            .filter(|(file, _)| Path::new(file).parent() == Some(dir))
            .map(|(_, name)| name)
            .collect()
    }

    /// Evaluates the one group of rule file `text` once at `t_ms` without writing anything:
    /// what its recording rules would record and which alerts would be pending or firing (an
    /// alert with `for` shows as pending: it fires if the condition holds that long).
    pub fn dry_run(&self, text: &str, t_ms: Timestamp) -> Result<DryRun, String> {
        let file = rules::file::parse("dry-run", text).map_err(|errs| join_errors(&errs))?;
        let def = file.groups.first().ok_or("no rule group")?;
        let mut g = rules::group::Group::new("dry-run", def, &self.group_options).map_err(|e| e.to_string())?;
        let capture = Capture::default();
        let report = g.eval(t_ms, self.source.as_ref(), &capture);
        let recorded = capture
            .0
            .lock()
            .iter()
            .filter(|(l, _)| l.metric_name() != "ALERTS" && l.metric_name() != "ALERTS_FOR_STATE")
            .cloned()
            .collect();
        let mut alerts = Vec::new();
        let mut errors = Vec::new();
        for (i, r) in g.rules().iter().enumerate() {
            if let Some(e) = r.last_error() {
                errors.push(format!("rule {}, {:?}: {e}", i + 1, r.name()));
            }
            for a in r.active_alerts() {
                alerts.push((a.labels, a.annotations, a.state.as_str(), a.value));
            }
        }
        Ok(DryRun { t_ms, samples: report.samples, recorded, alerts, errors })
    }

    pub fn status(&self) -> ReloadStatus {
        self.status.lock().clone()
    }

    pub async fn stop(&self) {
        self.manager.stop().await;
    }
}

/// A group as the API shows it: its rules, their health and their active (not resolved)
/// alerts, as Prometheus's `ActiveAlerts`.
pub fn group_view(g: &rules::group::Group) -> crate::server::rules_api::GroupView {
    use crate::server::rules_api::{AlertView, GroupView, RuleView};
    use rules::group::RuleKind;
    let rules = g
        .rules()
        .iter()
        .map(|r| RuleView {
            alerting: r.kind() == RuleKind::Alerting,
            name: r.name().to_string(),
            query: r.query().to_string(),
            duration_s: r.for_ms() as f64 / 1000.0,
            keep_firing_for_s: r.keep_firing_for_ms() as f64 / 1000.0,
            labels: r.labels().clone(),
            annotations: r.annotations().clone(),
            alerts: r
                .active_alerts()
                .into_iter()
                .filter(|a| a.resolved_at_ms == 0)
                .map(|a| AlertView {
                    state: a.state.as_str(),
                    active_at_ms: a.active_at_ms,
                    keep_firing_since_ms: (a.keep_firing_since_ms != 0).then_some(a.keep_firing_since_ms),
                    value: a.value,
                    labels: a.labels,
                    annotations: a.annotations,
                })
                .collect(),
            health: r.health().as_str().to_string(),
            last_error: r.last_error().map(str::to_string),
            eval_duration_s: r.eval_duration().as_secs_f64(),
            last_eval_ms: r.last_eval_ms(),
            learning: r.learn_status(),
        })
        .collect();
    GroupView {
        name: g.name().to_string(),
        file: g.file().to_string(),
        interval_s: g.interval_ms() as f64 / 1000.0,
        limit: g.limit(),
        rules,
        eval_duration_s: g.last_duration().as_secs_f64(),
        last_eval_ms: g.last_eval_ms(),
    }
}

fn join_errors<E: std::fmt::Display>(errs: &[E]) -> String {
    errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

/// The rule files of `dir`: `*.yml` and `*.yaml`, sorted by name (an empty path: none).
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if dir.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| format!("reading rules directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The rule files of the rules directory (it must exist when set) and of the API's directory
/// (missing until the first group is stored through the API).
/// The `scaling:` and `recovery:` rules of the files, with their groups' intervals.
fn policy_specs(files: &[(PathBuf, rules::file::RuleFile)]) -> Vec<crate::actions::PolicySpec> {
    let mut out = Vec::new();
    for (path, f) in files {
        for g in &f.groups {
            for p in &g.policies {
                out.push(crate::actions::PolicySpec {
                    file: path.display().to_string(),
                    group: g.name.clone(),
                    interval_ms: g.interval_ms,
                    entry: p.clone(),
                });
            }
        }
    }
    out
}

fn load_dirs([dir, api_dir]: &[PathBuf; 2]) -> Result<Vec<(PathBuf, rules::file::RuleFile)>, String> {
    let mut files = rule_files(dir)?;
    if api_dir.is_dir() {
        files.extend(rule_files(api_dir)?);
    }
    rules::file::load(&files).map_err(|errs| join_errors(&errs))
}

/// What a dry run of a group would do.
#[derive(Clone, Debug)]
pub struct DryRun {
    pub t_ms: Timestamp,
    /// Samples the rules produced (recorded series and `ALERTS*`).
    pub samples: usize,
    /// The recorded series and their values.
    pub recorded: Vec<(storage::Labels, f64)>,
    /// Alerts: labels, annotations, state (`pending`/`firing`), value.
    pub alerts: Vec<(rules::alert::LabelMap, rules::alert::LabelMap, &'static str, f64)>,
    /// Rules that failed, with their errors.
    pub errors: Vec<String>,
}

/// An [`Appendable`] that keeps what is committed in memory (the dry run writes nothing).
#[derive(Clone, Default)]
pub(crate) struct Capture(pub(crate) Arc<Mutex<Vec<(storage::Labels, f64)>>>);

struct CaptureAppender {
    into: Capture,
    staged: Vec<(storage::Labels, f64)>,
}

impl Appendable for Capture {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(CaptureAppender { into: self.clone(), staged: Vec::new() })
    }
}

impl Appender for CaptureAppender {
    fn append(
        &mut self,
        _hint: Option<storage::SeriesRef>,
        labels: &storage::Labels,
        _t: Timestamp,
        v: f64,
    ) -> Result<storage::SeriesRef, storage::AppendError> {
        if !storage::is_stale_nan(v) {
            self.staged.push((labels.clone(), v));
        }
        Ok(storage::SeriesRef(0))
    }
    fn commit(self: Box<Self>) -> storage::Result<storage::CommitStats> {
        let n = self.staged.len() as u64;
        self.into.0.lock().extend(self.staged);
        Ok(storage::CommitStats { samples: n, series_created: 0 })
    }
    fn rollback(self: Box<Self>) -> storage::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_files_are_yaml_files_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yaml", "notes.txt", "c.yml.bak"] {
            std::fs::write(d.path().join(f), "groups: []\n").unwrap();
        }
        std::fs::create_dir(d.path().join("sub.yml")).unwrap();
        let names: Vec<String> = rule_files(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yml"]);
        assert!(rule_files(Path::new("")).unwrap().is_empty());
        assert!(rule_files(&d.path().join("missing")).unwrap_err().contains("reading rules directory"));
    }
}
