//! What the API shows: every alert with its state and the reasons it is muted, and the
//! silences with their state.

use serde::{Deserialize, Serialize};

use super::{AckInfo, Dispatcher};
use crate::alert::{Fingerprint, LabelMap};

/// An alert's state as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Firing and notified normally.
    Active,
    /// Silenced or inhibited.
    Suppressed,
    /// Acknowledged: no repeats, no escalation.
    Acked,
    /// Resolved by the engine, expired, or resolved manually.
    Resolved,
}

/// One alert for the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub fingerprint: Fingerprint,
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub state: AlertState,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<Fingerprint>,
    pub ack: Option<AckInfo>,
    pub manually_resolved: Option<AckInfo>,
    /// Receivers of the groups the alert is in, plus escalation receivers already reached.
    pub receivers: Vec<String>,
}

/// A silence's state at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

/// One silence for the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
    pub state: SilenceState,
    /// From the configuration (cannot be expired through the API).
    pub from_config: bool,
}

impl Dispatcher {
    /// Every alert the dispatcher holds, by fingerprint.
    pub fn alerts(&self, now_ms: i64) -> Vec<AlertView> {
        let mut out = Vec::new();
        for (fp, a) in &self.st.alerts {
            let (silenced_by, inhibited_by) = self.mutes(*fp, &a.alert.labels, now_ms);
            let state = if a.alert.is_resolved_at(now_ms) || a.manual_resolve.is_some() {
                AlertState::Resolved
            } else if !silenced_by.is_empty() || !inhibited_by.is_empty() {
                AlertState::Suppressed
            } else if a.ack.is_some() {
                AlertState::Acked
            } else {
                AlertState::Active
            };
            let mut receivers = Vec::new();
            for g in self.st.groups.values().filter(|g| g.alerts.contains(fp)) {
                receivers.push(g.receiver.clone());
                let level = g.escalation.get(fp).map_or(0, |p| p.level);
                if let Some(node) = self.compiled.root.find(&g.route_id) {
                    receivers.extend(node.opts.escalation.iter().take(level).map(|(_, r)| r.clone()));
                }
            }
            receivers.sort();
            receivers.dedup();
            out.push(AlertView {
                fingerprint: *fp,
                labels: a.alert.labels.clone(),
                annotations: a.alert.annotations.clone(),
                starts_at_ms: a.alert.starts_at_ms,
                ends_at_ms: a.alert.ends_at_ms,
                state,
                silenced_by,
                inhibited_by,
                ack: a.ack.clone(),
                manually_resolved: a.manual_resolve.clone(),
                receivers,
            });
        }
        out
    }

    /// Configured silences (`config-<i>`) then API silences, with their state at `now_ms`.
    pub fn silences(&self, now_ms: i64) -> Vec<SilenceView> {
        let state = |s: i64, e: i64| {
            if now_ms < s {
                SilenceState::Pending
            } else if now_ms < e {
                SilenceState::Active
            } else {
                SilenceState::Expired
            }
        };
        let cfg = self.cfg.silences.iter().enumerate().map(|(i, d)| (format!("config-{i}"), d, true));
        let api = self.st.silences.iter().map(|s| (s.id.clone(), &s.def, false));
        cfg.chain(api)
            .map(|(id, d, from_config)| SilenceView {
                id,
                matchers: d.matchers.clone(),
                starts_at_ms: d.starts_at_ms,
                ends_at_ms: d.ends_at_ms,
                created_by: d.created_by.clone(),
                comment: d.comment.clone(),
                state: state(d.starts_at_ms, d.ends_at_ms),
                from_config,
            })
            .collect()
    }
}
