//! The dispatcher: Alertmanager's dispatch → inhibit → silence → dedup (notification log) →
//! notify pipeline as a pure state machine. Every method takes `now_ms`; nothing sleeps,
//! spawns or does I/O. The caller feeds alerts with [`Dispatcher::receive`], calls
//! [`Dispatcher::tick`] at [`Dispatcher::next_due_ms`] and delivers the returned
//! [`Notification`]s.
//!
//! Per aggregation group (route × group labels) the first flush is `group_wait` after the group
//! appeared (at once if the alert started more than `group_wait` ago, as Alertmanager), then a
//! flush every `group_interval`. A flush sends when a firing alert was not yet notified to the
//! receiver, when a notified alert resolved, or when `repeat_interval` passed since the last
//! send. Silenced, inhibited, acknowledged and manually resolved alerts are left out. Every
//! send is recorded in the notification log (per group and receiver: the alerts notified as
//! firing; per receiver: hashes of sent alert sets, kept for `dedup_window`), which is what a
//! [`DispatcherState`] snapshot carries across restarts so nothing is paged twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::{Compiled, Effective, GroupBy, NotifyConfig, RouteNode, SilenceDef, compile_silence};
use super::matcher::{Matcher, matches_all};
use super::{Notification, NotifiedAlert, NotifyError, Status};
use crate::alert::{Alert, Fingerprint, LabelMap};

mod view;
pub use view::{AlertState, AlertView, SilenceState, SilenceView};

#[cfg(test)]
mod tests;

/// Who acknowledged (or manually resolved) an alert, why and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckInfo {
    pub by: String,
    pub comment: String,
    pub at_ms: i64,
}

/// Counters for the API and `/metrics`. Suppressed notifications are counted here, never
/// dropped silently.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyStats {
    pub alerts_received: u64,
    pub notifications_sent: u64,
    /// Sends skipped because the same alert set went to the receiver within `dedup_window`.
    pub deduplicated: u64,
    /// Sends suppressed by a route's throttle (limit reached or cooldown).
    pub throttled: u64,
    /// `throttled` by `"<route id> <receiver>"`.
    pub throttled_by: BTreeMap<String, u64>,
    pub escalations_sent: u64,
    /// Alerts left out of a flush because silenced / inhibited (counted per flush).
    pub silenced: u64,
    pub inhibited: u64,
}

/// An alert as the dispatcher holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub alert: Alert,
    #[serde(default)]
    pub ack: Option<AckInfo>,
    /// Set by a manual resolve; cleared when the engine reports it resolved or it fires anew.
    #[serde(default)]
    pub manual_resolve: Option<AckInfo>,
}

/// Escalation progress of one alert in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationProgress {
    pub first_notified_ms: i64,
    /// Highest escalation level sent (0 = only the route's receiver).
    pub level: usize,
}

/// One aggregation group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub route_id: String,
    pub receiver: String,
    pub labels: LabelMap,
    pub alerts: BTreeSet<Fingerprint>,
    pub next_flush_ms: i64,
    pub flushed: bool,
    #[serde(default)]
    pub escalation: BTreeMap<Fingerprint, EscalationProgress>,
}

/// The notification log entry of one group and receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// Alerts notified as firing and not yet notified resolved.
    pub notified_firing: BTreeSet<Fingerprint>,
    pub hash: u64,
    pub sent_ms: i64,
}

/// Send times of one route × receiver throttle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleState {
    pub sent_ms: Vec<i64>,
    pub cooldown_until_ms: i64,
}

/// A silence created through the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSilence {
    pub id: String,
    pub def: SilenceDef,
}

/// Everything that must survive a restart (serde; the server writes it as JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DispatcherState {
    pub alerts: BTreeMap<Fingerprint, StoredAlert>,
    /// By group key.
    pub groups: BTreeMap<String, GroupState>,
    pub silences: Vec<StoredSilence>,
    pub next_silence_id: u64,
    /// Group key → receiver → entry.
    pub nflog: BTreeMap<String, BTreeMap<String, NflogEntry>>,
    /// Receiver → alert-set hash → last sent (ms).
    pub sent_hashes: BTreeMap<String, BTreeMap<u64, i64>>,
    /// Route id → receiver → state.
    pub throttle: BTreeMap<String, BTreeMap<String, ThrottleState>>,
    pub stats: NotifyStats,
    pub last_tick_ms: i64,
}

/// How long expired API silences stay listed (Alertmanager's default retention, 120h).
const SILENCE_RETENTION_MS: i64 = 120 * 3600 * 1000;

/// The alert dispatcher. See the module docs.
pub struct Dispatcher {
    cfg: NotifyConfig,
    compiled: Compiled,
    st: DispatcherState,
    /// Compiled matchers of `st.silences`, same order.
    api_silences: Vec<Vec<Matcher>>,
    /// Set by a reload or restore: re-route every stored alert at the next tick.
    reroute: bool,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("groups", &self.st.groups.len())
            .field("alerts", &self.st.alerts.len())
            .finish()
    }
}

impl Dispatcher {
    pub fn new(cfg: NotifyConfig) -> Result<Dispatcher, NotifyError> {
        Dispatcher::restore(cfg, DispatcherState::default())
    }

    /// A dispatcher continuing from a snapshot: silences, acks, the notification log,
    /// escalation progress and group timing are kept; alerts are re-routed through `cfg` at
    /// the next tick.
    pub fn restore(cfg: NotifyConfig, state: DispatcherState) -> Result<Dispatcher, NotifyError> {
        let compiled = cfg.compile()?;
        let mut api_silences = Vec::new();
        for s in &state.silences {
            api_silences.push(compile_silence(&s.def).map_err(NotifyError::InvalidSilence)?);
        }
        Ok(Dispatcher { cfg, compiled, st: state, api_silences, reroute: true })
    }

    /// Reloads the configuration, keeping all state. A bad config is rejected and the old one
    /// stays.
    pub fn set_config(&mut self, cfg: NotifyConfig) -> Result<(), NotifyError> {
        self.compiled = cfg.compile()?;
        self.cfg = cfg;
        self.reroute = true;
        Ok(())
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.cfg
    }

    pub fn snapshot(&self) -> DispatcherState {
        self.st.clone()
    }

    pub fn stats(&self) -> &NotifyStats {
        &self.st.stats
    }

    /// Takes alerts from the rule engine (re-sent while firing; `resolved` once resolved).
    pub fn receive(&mut self, alerts: Vec<Alert>, now_ms: i64) {
        for a in alerts {
            self.st.stats.alerts_received += 1;
            let fp = a.fingerprint();
            match self.st.alerts.get_mut(&fp) {
                Some(e) => {
                    let new_episode =
                        !a.resolved && (a.starts_at_ms != e.alert.starts_at_ms || e.alert.is_resolved_at(now_ms));
                    if new_episode {
                        e.ack = None;
                        e.manual_resolve = None;
                        for g in self.st.groups.values_mut() {
                            g.escalation.remove(&fp);
                        }
                    }
                    if a.resolved {
                        e.manual_resolve = None;
                    }
                    e.alert = a;
                }
                None => {
                    if a.is_resolved_at(now_ms) {
                        continue; // nothing was notified about it
                    }
                    self.st.alerts.insert(fp, StoredAlert { alert: a, ack: None, manual_resolve: None });
                }
            }
            self.route_alert(fp, now_ms);
        }
    }

    /// Puts an alert into the groups of every route it matches.
    fn route_alert(&mut self, fp: Fingerprint, now_ms: i64) {
        let Some(stored) = self.st.alerts.get(&fp) else { return };
        let labels = &stored.alert.labels;
        let starts = stored.alert.starts_at_ms;
        let mut nodes = Vec::new();
        self.compiled.root.match_routes(labels, &mut nodes);
        for node in nodes {
            let glabels = group_labels(&node.opts.group_by, labels);
            let key = group_key(&node.id, &glabels);
            let g = self.st.groups.entry(key).or_insert_with(|| GroupState {
                route_id: node.id.clone(),
                receiver: node.opts.receiver.clone(),
                labels: glabels,
                alerts: BTreeSet::new(),
                next_flush_ms: now_ms + node.opts.group_wait,
                flushed: false,
                escalation: BTreeMap::new(),
            });
            g.receiver.clone_from(&node.opts.receiver);
            // Alertmanager: an alert older than group_wait flushes a new group at once.
            if g.alerts.insert(fp) && !g.flushed && starts.saturating_add(node.opts.group_wait) <= now_ms {
                g.next_flush_ms = g.next_flush_ms.min(now_ms);
            }
        }
    }

    /// After a reload or restore: drops groups of routes that vanished or no longer match their
    /// alerts, and routes every stored alert anew.
    fn reconcile(&mut self, now_ms: i64) {
        self.reroute = false;
        let root = &self.compiled.root;
        let alerts = &self.st.alerts;
        let mut dropped = Vec::new();
        for (key, g) in &mut self.st.groups {
            let Some(node) = root.find(&g.route_id) else {
                dropped.push(key.clone());
                continue;
            };
            g.alerts.retain(|fp| {
                alerts.get(fp).is_some_and(|a| {
                    let mut nodes = Vec::new();
                    root.match_routes(&a.alert.labels, &mut nodes);
                    nodes.iter().any(|n| n.id == node.id) && group_labels(&n_gb(node), &a.alert.labels) == g.labels
                })
            });
            if g.alerts.is_empty() {
                dropped.push(key.clone());
            }
        }
        for key in dropped {
            self.st.groups.remove(&key);
            self.st.nflog.remove(&key);
        }
        let fps: Vec<Fingerprint> = self.st.alerts.keys().copied().collect();
        for fp in fps {
            self.route_alert(fp, now_ms);
        }
    }

    /// Flushes the groups that are due and sends due escalations.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Notification> {
        if self.reroute {
            self.reconcile(now_ms);
        }
        let mut out = Vec::new();
        let due: Vec<String> =
            self.st.groups.iter().filter(|(_, g)| g.next_flush_ms <= now_ms).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.flush_group(&key, now_ms, &mut out);
        }
        let keys: Vec<String> = self.st.groups.keys().cloned().collect();
        for key in keys {
            self.escalate(&key, now_ms, &mut out);
        }
        // Garbage: alerts in no group, old hashes, long-expired silences.
        let in_groups: BTreeSet<Fingerprint> = self.st.groups.values().flat_map(|g| g.alerts.iter().copied()).collect();
        self.st.alerts.retain(|fp, _| in_groups.contains(fp));
        let horizon = now_ms - self.compiled.dedup_window;
        for m in self.st.sent_hashes.values_mut() {
            m.retain(|_, t| *t > horizon);
        }
        self.st.sent_hashes.retain(|_, m| !m.is_empty());
        let mut i = 0;
        while i < self.st.silences.len() {
            if self.st.silences[i].def.ends_at_ms < now_ms.saturating_sub(SILENCE_RETENTION_MS) {
                self.st.silences.remove(i);
                self.api_silences.remove(i);
            } else {
                i += 1;
            }
        }
        self.st.last_tick_ms = now_ms;
        out
    }

    /// When `tick` should next be called (a time at or before `now` means at once); `None`
    /// when nothing is pending.
    pub fn next_due_ms(&self) -> Option<i64> {
        if self.reroute && !self.st.alerts.is_empty() {
            return Some(self.st.last_tick_ms);
        }
        let mut due: Option<i64> = None;
        let mut consider = |t: i64| due = Some(due.map_or(t, |d| d.min(t)));
        for g in self.st.groups.values() {
            consider(g.next_flush_ms);
            let Some(node) = self.compiled.root.find(&g.route_id) else { continue };
            let steps = &node.opts.escalation;
            for (fp, p) in &g.escalation {
                let Some((after, _)) = steps.get(p.level) else { continue };
                let t = p.first_notified_ms.saturating_add(*after);
                let eligible = self.st.alerts.get(fp).is_some_and(|a| a.ack.is_none() && a.manual_resolve.is_none());
                // A step already due at the last tick was skipped (muted); the next flush
                // re-checks it.
                if eligible && t > self.st.last_tick_ms {
                    consider(t);
                }
            }
        }
        due
    }

    fn flush_group(&mut self, key: &str, now_ms: i64, out: &mut Vec<Notification>) {
        let Some(g) = self.st.groups.get(key).cloned() else { return };
        let Some(opts) = self.compiled.root.find(&g.route_id).map(|n| n.opts.clone()) else { return };
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let mut still_firing = BTreeSet::new();
        for fp in &g.alerts {
            let Some(a) = self.st.alerts.get(fp) else { continue };
            if a.alert.is_resolved_at(now_ms) {
                resolved.push(*fp);
                continue;
            }
            if a.manual_resolve.is_some() {
                continue;
            }
            still_firing.insert(*fp);
            if a.ack.is_some() {
                continue;
            }
            let (silenced, inhibited) = self.mutes(*fp, &a.alert.labels, now_ms);
            if !silenced.is_empty() {
                self.st.stats.silenced += 1;
                continue;
            }
            if !inhibited.is_empty() {
                self.st.stats.inhibited += 1;
                continue;
            }
            firing.push(*fp);
        }
        let log = self.st.nflog.get(key).and_then(|m| m.get(&g.receiver)).cloned();
        let notified = log.as_ref().map(|l| l.notified_firing.clone()).unwrap_or_default();
        let resolved_send: Vec<Fingerprint> = resolved.iter().copied().filter(|fp| notified.contains(fp)).collect();
        let new_firing = firing.iter().any(|fp| !notified.contains(fp));
        let repeat_due = !firing.is_empty()
            && log.as_ref().is_some_and(|l| now_ms >= l.sent_ms.saturating_add(opts.repeat_interval));
        let mut committed = notified.clone();
        if new_firing || !resolved_send.is_empty() || repeat_due {
            let mut next_notified: BTreeSet<Fingerprint> = notified.intersection(&still_firing).copied().collect();
            next_notified.extend(firing.iter().copied());
            let hash = self.set_hash(&firing, &resolved_send);
            let only_repeat = !new_firing && resolved_send.is_empty();
            let horizon = now_ms - self.compiled.dedup_window;
            let seen = self.st.sent_hashes.get(&g.receiver).and_then(|m| m.get(&hash)).is_some_and(|t| *t > horizon);
            let commit = if !only_repeat && seen {
                self.st.stats.deduplicated += 1;
                true
            } else if !self.throttle_allows(&opts, &g.route_id, &g.receiver, now_ms) {
                false
            } else {
                let alerts = self.notified_alerts(&firing, &resolved_send);
                out.push(make_notification(&g.receiver, key, &g.labels, alerts, 0, now_ms));
                self.st.stats.notifications_sent += 1;
                self.st.sent_hashes.entry(g.receiver.clone()).or_default().insert(hash, now_ms);
                true
            };
            if commit {
                self.st.nflog.entry(key.to_string()).or_default().insert(
                    g.receiver.clone(),
                    NflogEntry { notified_firing: next_notified.clone(), hash, sent_ms: now_ms },
                );
                committed = next_notified;
                if let Some(gm) = self.st.groups.get_mut(key) {
                    for fp in &firing {
                        gm.escalation.entry(*fp).or_insert(EscalationProgress { first_notified_ms: now_ms, level: 0 });
                    }
                }
            }
        }
        let Some(gm) = self.st.groups.get_mut(key) else { return };
        let resolved_set: BTreeSet<Fingerprint> = resolved.into_iter().collect();
        let alerts = &self.st.alerts;
        // A resolved alert leaves the group once its resolution is sent (or nothing was sent).
        gm.alerts.retain(|fp| alerts.contains_key(fp) && (committed.contains(fp) || !resolved_set.contains(fp)));
        gm.escalation.retain(|fp, _| gm.alerts.contains(fp) && !resolved_set.contains(fp));
        if gm.alerts.is_empty() {
            self.st.groups.remove(key);
            self.st.nflog.remove(key);
        } else {
            gm.next_flush_ms = now_ms.saturating_add(opts.group_interval);
            gm.flushed = true;
        }
    }

    fn escalate(&mut self, key: &str, now_ms: i64, out: &mut Vec<Notification>) {
        let Some(g) = self.st.groups.get(key) else { return };
        let Some(opts) = self.compiled.root.find(&g.route_id).map(|n| n.opts.clone()) else { return };
        if opts.escalation.is_empty() {
            return;
        }
        let mut by_step: BTreeMap<usize, Vec<Fingerprint>> = BTreeMap::new();
        for (fp, p) in &g.escalation {
            let Some(a) = self.st.alerts.get(fp) else { continue };
            if a.alert.is_resolved_at(now_ms) || a.ack.is_some() || a.manual_resolve.is_some() {
                continue;
            }
            let (s, i) = self.mutes(*fp, &a.alert.labels, now_ms);
            if !s.is_empty() || !i.is_empty() {
                continue;
            }
            let reached =
                opts.escalation.iter().rposition(|(after, _)| p.first_notified_ms.saturating_add(*after) <= now_ms);
            if let Some(step) = reached.filter(|s| s + 1 > p.level) {
                by_step.entry(step).or_default().push(*fp);
            }
        }
        let (route_id, labels) = (g.route_id.clone(), g.labels.clone());
        for (step, fps) in by_step {
            let receiver = opts.escalation[step].1.clone();
            if self.throttle_allows(&opts, &route_id, &receiver, now_ms) {
                let alerts = self.notified_alerts(&fps, &[]);
                out.push(make_notification(&receiver, key, &labels, alerts, step + 1, now_ms));
                self.st.stats.escalations_sent += 1;
                self.st.stats.notifications_sent += 1;
            }
            // A throttled escalation is counted and not retried (the next level follows).
            if let Some(gm) = self.st.groups.get_mut(key) {
                for fp in fps {
                    if let Some(p) = gm.escalation.get_mut(&fp) {
                        p.level = step + 1;
                    }
                }
            }
        }
    }

    /// The route's throttle: records the send and returns true, or counts a suppression.
    fn throttle_allows(&mut self, opts: &Effective, route_id: &str, receiver: &str, now_ms: i64) -> bool {
        let Some((max, window, cooldown)) = opts.throttle else { return true };
        let t = self.st.throttle.entry(route_id.to_string()).or_default().entry(receiver.to_string()).or_default();
        let allowed = if now_ms < t.cooldown_until_ms {
            false
        } else {
            t.sent_ms.retain(|s| *s > now_ms - window);
            if t.sent_ms.len() >= max as usize {
                t.cooldown_until_ms = now_ms.saturating_add(cooldown);
                t.sent_ms.clear();
                false
            } else {
                t.sent_ms.push(now_ms);
                true
            }
        };
        if !allowed {
            self.st.stats.throttled += 1;
            *self.st.stats.throttled_by.entry(format!("{route_id} {receiver}")).or_default() += 1;
        }
        allowed
    }

    /// The silences and the inhibiting alerts muting an alert now.
    fn mutes(&self, fp: Fingerprint, labels: &LabelMap, now_ms: i64) -> (Vec<String>, Vec<Fingerprint>) {
        let mut silenced = Vec::new();
        for (i, (ms, def)) in self.compiled.silences.iter().zip(&self.cfg.silences).enumerate() {
            if def.starts_at_ms <= now_ms && now_ms < def.ends_at_ms && matches_all(ms, labels) {
                silenced.push(format!("config-{i}"));
            }
        }
        for (ms, s) in self.api_silences.iter().zip(&self.st.silences) {
            if s.def.starts_at_ms <= now_ms && now_ms < s.def.ends_at_ms && matches_all(ms, labels) {
                silenced.push(s.id.clone());
            }
        }
        let mut inhibited = Vec::new();
        for r in &self.compiled.inhibit {
            if !matches_all(&r.target, labels) {
                continue;
            }
            // Alertmanager: an alert matching both sides is not inhibited by another one that
            // also matches both.
            let two_sided = matches_all(&r.source, labels);
            for (sfp, s) in &self.st.alerts {
                if *sfp == fp || s.alert.is_resolved_at(now_ms) || s.manual_resolve.is_some() {
                    continue;
                }
                let sl = &s.alert.labels;
                if !matches_all(&r.source, sl) || (two_sided && matches_all(&r.target, sl)) {
                    continue;
                }
                if r.equal.iter().all(|n| sl.get(n) == labels.get(n)) && !inhibited.contains(sfp) {
                    inhibited.push(*sfp);
                }
            }
        }
        (silenced, inhibited)
    }

    /// Hash of an alert set: FNV-1a over (fingerprint, startsAt) of the firing alerts, then a
    /// separator, then the resolved fingerprints.
    fn set_hash(&self, firing: &[Fingerprint], resolved: &[Fingerprint]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |v: u64| {
            for b in v.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for fp in firing {
            mix(fp.0);
            mix(self.st.alerts.get(fp).map_or(0, |a| a.alert.starts_at_ms) as u64);
        }
        mix(u64::MAX);
        for fp in resolved {
            mix(fp.0);
        }
        h
    }

    fn notified_alerts(&self, firing: &[Fingerprint], resolved: &[Fingerprint]) -> Vec<NotifiedAlert> {
        let one = |fp: &Fingerprint, status| {
            self.st.alerts.get(fp).map(|a| NotifiedAlert { status, fingerprint: *fp, alert: a.alert.clone() })
        };
        let mut v: Vec<NotifiedAlert> = firing
            .iter()
            .filter_map(|fp| one(fp, Status::Firing))
            .chain(resolved.iter().filter_map(|fp| one(fp, Status::Resolved)))
            .collect();
        v.sort_by(|a, b| a.alert.labels.cmp(&b.alert.labels));
        v
    }

    /// Acknowledges an alert: no more escalation or repeats until it resolves and fires anew.
    /// Whether `fp` is an alert the dispatcher knows (what ack and resolve need).
    pub fn check_alert(&self, fp: Fingerprint) -> Result<(), NotifyError> {
        self.st.alerts.contains_key(&fp).then_some(()).ok_or(NotifyError::UnknownAlert(fp))
    }

    /// Why [`Dispatcher::add_silence`] would refuse `def`, if it would.
    pub fn check_silence(&self, def: &SilenceDef, now_ms: i64) -> Result<(), NotifyError> {
        self.silence_matchers(def, now_ms).map(|_| ())
    }

    fn silence_matchers(&self, def: &SilenceDef, now_ms: i64) -> Result<Vec<Matcher>, NotifyError> {
        let ms = compile_silence(def).map_err(NotifyError::InvalidSilence)?;
        if def.ends_at_ms <= now_ms {
            return Err(NotifyError::InvalidSilence(format!(
                "end time {} is in the past (now {now_ms})",
                def.ends_at_ms
            )));
        }
        Ok(ms)
    }

    /// Why [`Dispatcher::expire_silence`] would refuse `id`, if it would.
    pub fn check_expire(&self, id: &str, now_ms: i64) -> Result<(), NotifyError> {
        if id.strip_prefix("config-").and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n < self.cfg.silences.len())
        {
            return Err(NotifyError::StaticSilence(id.to_string()));
        }
        let s =
            self.st.silences.iter().find(|s| s.id == id).ok_or_else(|| NotifyError::UnknownSilence(id.to_string()))?;
        if s.def.ends_at_ms <= now_ms {
            return Err(NotifyError::SilenceExpired(id.to_string()));
        }
        Ok(())
    }

    pub fn ack(&mut self, fp: Fingerprint, who: &str, why: &str, now_ms: i64) -> Result<(), NotifyError> {
        let a = self.st.alerts.get_mut(&fp).ok_or(NotifyError::UnknownAlert(fp))?;
        a.ack = Some(AckInfo { by: who.to_string(), comment: why.to_string(), at_ms: now_ms });
        Ok(())
    }

    /// Manually resolves an alert: returns the resolved notifications for every receiver that
    /// was told it fires, and suppresses the alert until the engine resolves it or it fires
    /// with a new `startsAt`. Resolved notifications bypass throttling.
    pub fn resolve(
        &mut self,
        fp: Fingerprint,
        who: &str,
        why: &str,
        now_ms: i64,
    ) -> Result<Vec<Notification>, NotifyError> {
        let a = self.st.alerts.get_mut(&fp).ok_or(NotifyError::UnknownAlert(fp))?;
        if a.alert.is_resolved_at(now_ms) || a.manual_resolve.is_some() {
            return Ok(Vec::new());
        }
        a.manual_resolve = Some(AckInfo { by: who.to_string(), comment: why.to_string(), at_ms: now_ms });
        let mut alert = a.alert.clone();
        alert.ends_at_ms = now_ms;
        alert.resolved = true;
        let mut out = Vec::new();
        for (key, g) in &mut self.st.groups {
            g.escalation.remove(&fp);
            let Some(entry) = self.st.nflog.get_mut(key).and_then(|m| m.get_mut(&g.receiver)) else { continue };
            if entry.notified_firing.remove(&fp) {
                let na = NotifiedAlert { status: Status::Resolved, fingerprint: fp, alert: alert.clone() };
                out.push(make_notification(&g.receiver, key, &g.labels, vec![na], 0, now_ms));
                self.st.stats.notifications_sent += 1;
            }
        }
        Ok(out)
    }

    /// Adds a silence; returns its id.
    pub fn add_silence(&mut self, def: SilenceDef, now_ms: i64) -> Result<String, NotifyError> {
        let ms = self.silence_matchers(&def, now_ms)?;
        self.st.next_silence_id += 1;
        let id = format!("silence-{}", self.st.next_silence_id);
        self.st.silences.push(StoredSilence { id: id.clone(), def });
        self.api_silences.push(ms);
        Ok(id)
    }

    /// Ends a silence now (a pending one never starts).
    pub fn expire_silence(&mut self, id: &str, now_ms: i64) -> Result<(), NotifyError> {
        self.check_expire(id, now_ms)?;
        let Some(s) = self.st.silences.iter_mut().find(|s| s.id == id) else {
            return Err(NotifyError::UnknownSilence(id.to_string()));
        };
        s.def.starts_at_ms = s.def.starts_at_ms.min(now_ms);
        s.def.ends_at_ms = now_ms;
        Ok(())
    }
}

fn n_gb(node: &RouteNode) -> GroupBy {
    node.opts.group_by.clone()
}

/// The group labels of an alert under a route's `group_by` (absent labels are left out).
fn group_labels(gb: &GroupBy, labels: &LabelMap) -> LabelMap {
    match gb {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names.iter().filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone()))).collect(),
    }
}

/// Alertmanager's group key: route id, `:`, the group labels.
fn group_key(route_id: &str, labels: &LabelMap) -> String {
    let ls: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{route_id}:{{{}}}", ls.join(","))
}

fn make_notification(
    receiver: &str,
    key: &str,
    group_labels: &LabelMap,
    alerts: Vec<NotifiedAlert>,
    level: usize,
    now_ms: i64,
) -> Notification {
    let common = |f: &dyn Fn(&NotifiedAlert) -> &LabelMap| -> LabelMap {
        let mut it = alerts.iter();
        let Some(first) = it.next() else { return LabelMap::new() };
        let mut c = f(first).clone();
        for a in it {
            let m = f(a);
            c.retain(|k, v| m.get(k) == Some(v));
        }
        c
    };
    let common_labels = common(&|a| &a.alert.labels);
    let common_annotations = common(&|a| &a.alert.annotations);
    let status = if alerts.iter().any(|a| a.status == Status::Firing) { Status::Firing } else { Status::Resolved };
    Notification {
        receiver: receiver.to_string(),
        group_key: key.to_string(),
        status,
        group_labels: group_labels.clone(),
        common_labels,
        common_annotations,
        alerts,
        escalation_level: level,
        created_ms: now_ms,
    }
}
