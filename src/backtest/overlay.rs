//! What a backtest reads and writes: the stored history, read-only, under an in-memory
//! overlay that takes the rules' output.
//!
//! Writes (recorded series, `ALERTS`, `ALERTS_FOR_STATE`, stale markers) go to a head with no
//! directory: no WAL, nothing on disk, gone when the backtest ends. Reads are the union of the
//! two through storage's own [`MergeQuerier`] (stored first, overlay second), so a later rule or
//! a later evaluation sees earlier output exactly as it would in the server, where both live in
//! one database.
//!
//! Series the rule file itself writes are *shadowed* in the stored history: if a live server
//! already ran these rules, the data dir holds their output too, recorded at other instants;
//! merged with the backtest's own it would give two interleaved versions of one series. So a
//! stored series named like one of the file's recording rules, or an `ALERTS`/
//! `ALERTS_FOR_STATE` series of one of its alerts, is hidden: the backtest sees only what it
//! computed itself, as the live engine sees only what it computed.

use std::collections::BTreeSet;
use std::sync::Arc;

use rules::alerting::{ALERTS, ALERTS_FOR_STATE};
use storage::head::{Head, HeadOptions};
use storage::querier::{BlockQuerier, MergeQuerier};
use storage::{Appendable, Appender, Labels, Matcher, Querier, Queryable, SelectHints, SeriesSet, Timestamp};

/// The series of the stored history that the backtest computes itself.
#[derive(Clone, Debug, Default)]
pub struct Shadow {
    /// Metric names of the recording rules.
    pub recorded: BTreeSet<String>,
    /// `alertname`s of the alerting rules (their `ALERTS*` series).
    pub alerts: BTreeSet<String>,
    /// Names of the anomaly rules (their `anomaly_*{anomaly="<name>"}` series).
    pub anomalies: BTreeSet<String>,
    /// Names of the forecast rules (their `forecast_*{forecast="<name>"}` series).
    pub forecasts: BTreeSet<String>,
}

impl Shadow {
    fn hides(&self, l: &Labels) -> bool {
        let name = l.metric_name();
        self.recorded.contains(name)
            || ((name == ALERTS || name == ALERTS_FOR_STATE) && self.alerts.contains(l.get("alertname")))
            || (name.starts_with("anomaly_") && self.anomalies.contains(l.get("anomaly")))
            || (name.starts_with("forecast_") && self.forecasts.contains(l.get("forecast")))
    }
}

/// Stored history plus the in-memory overlay; [`Queryable`] over both, [`Appendable`] into
/// the overlay only.
pub struct Overlay {
    stored: Arc<dyn Queryable>,
    head: Arc<Head>,
    shadow: Arc<Shadow>,
}

impl Overlay {
    pub fn new(stored: Arc<dyn Queryable>, shadow: Shadow) -> storage::Result<Overlay> {
        let head = Head::open(HeadOptions { dir: None, ..HeadOptions::default() })?;
        Ok(Overlay { stored, head, shadow: Arc::new(shadow) })
    }

    /// Series the overlay holds (what the rules wrote).
    pub fn num_series(&self) -> u64 {
        self.head.num_series()
    }
}

impl Queryable for Overlay {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> storage::Result<Box<dyn Querier>> {
        let stored: Box<dyn Querier> =
            Box::new(ShadowedQuerier { inner: self.stored.querier(mint, maxt)?, shadow: self.shadow.clone() });
        if self.head.min_time() == i64::MAX {
            // Nothing written yet.
            return Ok(stored);
        }
        let written = BlockQuerier::new(&self.head.range_reader(mint, maxt), mint, maxt)?;
        Ok(Box::new(MergeQuerier::new(vec![stored, Box::new(written)])))
    }
}

impl Appendable for Overlay {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(self.head.appender())
    }
}

/// The stored history without the shadowed series.
struct ShadowedQuerier {
    inner: Box<dyn Querier>,
    shadow: Arc<Shadow>,
}

impl Querier for ShadowedQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> storage::Result<SeriesSet> {
        let set = self.inner.select(sorted, hints, matchers)?;
        let shadow = self.shadow.clone();
        Ok(Box::new(set.filter(move |s| !s.as_ref().is_ok_and(|s| shadow.hides(&s.labels)))))
    }

    // Label names and values are the index's (series outside the time range count too, see
    // storage::querier); shadowed series still contribute to them, which only metadata
    // functions could notice.
    fn label_names(&self, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        self.inner.label_names(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> storage::Result<Vec<String>> {
        self.inner.label_values(name, matchers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::tests::{HeadQ, head_with};
    use storage::{Sample, labels};

    /// A head with the given series, read as stored history.
    fn stored(series: &[(Labels, &[(i64, f64)])]) -> Arc<dyn Queryable> {
        let series: Vec<(Labels, Vec<(i64, f64)>)> = series.iter().map(|(l, s)| (l.clone(), s.to_vec())).collect();
        Arc::new(HeadQ(head_with(&series)))
    }

    fn read(q: &dyn Queryable, m: Matcher) -> Vec<(String, Vec<Sample>)> {
        let q = q.querier(0, 1000).unwrap();
        q.select(true, None, &[m])
            .unwrap()
            .map(|s| s.unwrap())
            .map(|s| (s.labels.to_string(), s.collect_samples().unwrap()))
            .collect()
    }

    #[test]
    fn union_of_history_and_output_with_shadowed_series() {
        let history = stored(&[
            (labels! {"__name__" => "up", "job" => "a"}, &[(10, 1.0), (20, 1.0)]),
            (labels! {"__name__" => "job:up:sum"}, &[(15, 9.0)]),
            (labels! {"__name__" => "ALERTS", "alertname" => "Mine"}, &[(15, 1.0)]),
            (labels! {"__name__" => "ALERTS", "alertname" => "Other"}, &[(15, 1.0)]),
        ]);
        let shadow = Shadow {
            recorded: ["job:up:sum".to_string()].into(),
            alerts: ["Mine".to_string()].into(),
            ..Shadow::default()
        };
        let o = Overlay::new(history, shadow).unwrap();
        // Before any write: the history without the shadowed series.
        assert_eq!(read(&o, Matcher::equal("__name__", "job:up:sum")), vec![]);
        let mut app = o.appender();
        app.append(None, &labels! {"__name__" => "job:up:sum"}, 20, 1.0).unwrap();
        app.append(None, &labels! {"__name__" => "up", "job" => "a"}, 30, 2.0).unwrap();
        app.commit().unwrap();
        let all = |name: &str| read(&o, Matcher::equal("__name__", name));
        assert_eq!(all("job:up:sum"), vec![("{__name__=\"job:up:sum\"}".into(), vec![Sample::new(20, 1.0)])]);
        assert_eq!(
            all("up"),
            vec![(
                "{__name__=\"up\", job=\"a\"}".into(),
                vec![Sample::new(10, 1.0), Sample::new(20, 1.0), Sample::new(30, 2.0)]
            )]
        );
        let alerts: Vec<String> = all("ALERTS").into_iter().map(|(l, _)| l).collect();
        assert_eq!(alerts, vec!["{__name__=\"ALERTS\", alertname=\"Other\"}"]);
        assert_eq!(o.num_series(), 2);
    }
}
