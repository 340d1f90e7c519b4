//! Annotations: the warnings and infos a query returns next to its result.
//!
//! Like Prometheus's `util/annotations`, annotations are de-duplicated by message; each carries
//! the byte offset of the expression it is about and is rendered as `<message> (<line>:<col>)`.
//! The histogram-monotonicity info merges across steps (count and time range).

use crate::gofmt::go_g;

/// Severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Warning,
    Info,
}

#[derive(Clone, Debug)]
struct Monotonicity {
    min_ts: i64,
    max_ts: i64,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
    count: usize,
}

#[derive(Clone, Debug)]
struct Anno {
    kind: Kind,
    msg: String,
    pos: Option<usize>,
    mono: Option<Monotonicity>,
}

/// An ordered, de-duplicated set of annotations.
#[derive(Clone, Debug, Default)]
pub(crate) struct Annotations {
    items: Vec<Anno>,
}

impl Annotations {
    pub(crate) fn add(&mut self, kind: Kind, msg: String, pos: Option<usize>) {
        if self.items.iter().any(|a| a.msg == msg && a.mono.is_none()) {
            return;
        }
        self.items.push(Anno { kind, msg, pos, mono: None });
    }

    pub(crate) fn warn(&mut self, msg: String, pos: Option<usize>) {
        self.add(Kind::Warning, format!("PromQL warning: {msg}"), pos);
    }

    pub(crate) fn info(&mut self, msg: String, pos: Option<usize>) {
        self.add(Kind::Info, format!("PromQL info: {msg}"), pos);
    }

    /// "input to histogram_quantile needed to be fixed for monotonicity", merged over steps.
    pub(crate) fn monotonicity(
        &mut self,
        metric: &str,
        pos: Option<usize>,
        ts: i64,
        min_b: f64,
        max_b: f64,
        diff: f64,
    ) {
        let mut msg = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
        if !metric.is_empty() {
            msg.push_str(&format!(" for metric name {}", go_quote(metric)));
        }
        if let Some(a) = self.items.iter_mut().find(|a| a.msg == msg && a.mono.is_some()) {
            if let Some(m) = a.mono.as_mut() {
                m.min_ts = m.min_ts.min(ts);
                m.max_ts = m.max_ts.max(ts);
                m.min_bucket = m.min_bucket.min(min_b);
                m.max_bucket = m.max_bucket.max(max_b);
                m.max_diff = m.max_diff.max(diff);
                m.count += 1;
            }
            return;
        }
        self.items.push(Anno {
            kind: Kind::Info,
            msg,
            pos,
            mono: Some(Monotonicity {
                min_ts: ts,
                max_ts: ts,
                min_bucket: min_b,
                max_bucket: max_b,
                max_diff: diff,
                count: 0,
            }),
        });
    }

    /// Renders (warnings, infos) against the query text, as the API shows them.
    pub(crate) fn render(&self, query: &str) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for a in &self.items {
            let pos = a.pos.map(|p| start_pos(query, p)).unwrap_or_else(|| "1:1".into());
            let s = match &a.mono {
                Some(m) => format!(
                    "{}, from buckets {} to {}, with a max diff of {}, over {} samples from {} to {} ({})",
                    a.msg,
                    go_g(m.min_bucket, None),
                    go_g(m.max_bucket, None),
                    go_g(m.max_diff, Some(2)),
                    m.count + 1,
                    rfc3339(m.min_ts),
                    rfc3339(m.max_ts),
                    pos
                ),
                None => format!("{} ({})", a.msg, pos),
            };
            match a.kind {
                Kind::Warning => warnings.push(s),
                Kind::Info => infos.push(s),
            }
        }
        (warnings, infos)
    }
}

fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => secs.to_string(),
    }
}

/// `line:col` (1-based) of byte offset `pos` in `query`.
pub(crate) fn start_pos(query: &str, pos: usize) -> String {
    let pos = pos.min(query.len());
    let before = &query.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{line}:{col}")
}

pub(crate) fn go_quote(s: &str) -> String {
    storage::labels::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(start_pos("rate(foo[5m])", 5), "1:6");
        assert_eq!(start_pos("a\nbc", 3), "2:2");
    }

    #[test]
    fn dedup() {
        let mut a = Annotations::default();
        a.warn("x".into(), Some(0));
        a.warn("x".into(), Some(3));
        a.info("y".into(), None);
        let (w, i) = a.render("abcd");
        assert_eq!(w, vec!["PromQL warning: x (1:1)"]);
        assert_eq!(i, vec!["PromQL info: y (1:1)"]);
    }
}
