//! Restoring alerts' `for` state after a restart (Prometheus's `Group.RestoreForState`).
//!
//! For each alerting rule whose `for` is at least the grace period, the last
//! `ALERTS_FOR_STATE` sample of each of its current alerts within the outage tolerance gives
//! the `activeAt` before the restart (its value) and when the server went down (its time).
//! Then, as Prometheus: an alert that had already waited its `for` keeps its `activeAt`; one
//! that would fire within the grace period fires a grace period from now; any other resumes
//! its wait where it stopped (the outage does not count).
//!
//! Prometheus reads the series directly; we go through the [`QuerySource`] (the series may
//! live in a remote datasource): `last_over_time` and `ts_of_last_over_time` over the outage
//! tolerance give the last non-stale value and its time, and the selector evaluated one group
//! interval after that time tells whether a stale marker (the alert resolved) followed it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Group, for_state_selector};
use crate::alert::{LabelMap, label_map};
use crate::source::QuerySource;

pub(super) fn restore_for_state(g: &mut Group, ts_ms: i64, src: &dyn QuerySource) {
    let tol = crate::notify::duration::Duration(g.opts.outage_tolerance_ms.max(1)).to_string();
    let grace = g.opts.for_grace_period_ms;
    let interval = g.interval_ms;
    let name = g.name.clone();
    for r in g.alerting_rules_mut() {
        let hold = r.for_ms;
        if hold < grace || r.active.is_empty() {
            r.restored = true;
            continue;
        }
        let sel = for_state_selector(r);
        let last = match last_samples(src, &sel, &tol, ts_ms) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(group = %name, alertname = %r.name, error = %e, "failed to restore 'for' state");
                r.restored = true;
                continue;
            }
        };
        // Which (labels, time) are not followed by a stale marker.
        let mut live: BTreeSet<(LabelMap, i64)> = BTreeSet::new();
        let times: BTreeSet<i64> = last.values().map(|&(_, t)| t).collect();
        for t in times {
            let at = ts_ms.min(t + interval);
            match src.instant(&sel, at) {
                // An instant vector's samples carry the evaluation time: a series present one
                // interval after its last sample was not followed by a stale marker.
                Ok(v) => live.extend(
                    v.iter()
                        .map(|s| strip_name(label_map(&s.labels)))
                        .filter(|l| last.get(l).is_some_and(|&(_, lt)| lt == t))
                        .map(|l| (l, t)),
                ),
                Err(e) => {
                    tracing::error!(group = %name, alertname = %r.name, error = %e.0, "failed to restore 'for' state")
                }
            }
        }
        for a in r.active.values_mut() {
            let Some(&(v, t)) = last.get(&a.labels) else { continue };
            if !live.contains(&(a.labels.clone(), t)) {
                continue; // The alert had resolved: it starts afresh.
            }
            let down_at = t.div_euclid(1000) * 1000;
            let mut active_at = (v as i64) * 1000;
            let remaining = hold - (down_at - active_at);
            if remaining <= 0 {
                // Was firing: keeps its activeAt.
            } else if remaining < grace {
                active_at = ts_ms + grace - hold;
            } else {
                active_at += ts_ms - down_at;
            }
            tracing::debug!(group = %name, alertname = %r.name, active_at, "'for' state restored");
            a.active_at_ms = active_at;
        }
        r.restored = true;
    }
}

/// Per series (labels without `__name__`): the last non-stale value and its time (ms) within
/// the tolerance before `ts_ms`.
fn last_samples(
    src: &dyn QuerySource,
    sel: &str,
    tol: &str,
    ts_ms: i64,
) -> Result<BTreeMap<LabelMap, (f64, i64)>, String> {
    let values = src.instant(&format!("last_over_time({sel}[{tol}])"), ts_ms).map_err(|e| e.0)?;
    let times = src.instant(&format!("ts_of_last_over_time({sel}[{tol}])"), ts_ms).map_err(|e| e.0)?;
    let times: BTreeMap<LabelMap, i64> =
        times.iter().map(|s| (strip_name(label_map(&s.labels)), (s.v * 1000.0).round() as i64)).collect();
    Ok(values
        .iter()
        .filter_map(|s| {
            let l = strip_name(label_map(&s.labels));
            let t = *times.get(&l)?;
            Some((l, (s.v, t)))
        })
        .collect())
}

fn strip_name(mut l: LabelMap) -> LabelMap {
    l.remove(storage::METRIC_NAME);
    l
}
