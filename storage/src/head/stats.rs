//! Cardinality statistics of the head for `/api/v1/status/tsdb`, shaped like Prometheus's
//! (`headStats` plus the top-N lists of `index.Stats`).

use crate::head::Head;
use crate::labels::METRIC_NAME;
use crate::storage::Timestamp;

/// One `{name, value}` entry of a top-N list (Prometheus's `index.Stat`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatEntry {
    pub name: String,
    pub value: u64,
}

/// What `/api/v1/status/tsdb` reports about the head.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// Lowest timestamp (ms); `i64::MAX` when the head is empty, as in Prometheus.
    pub min_time: Timestamp,
    /// Highest timestamp (ms); `i64::MIN` when the head is empty.
    pub max_time: Timestamp,
    /// Top series counts per metric name, descending.
    pub series_count_by_metric_name: Vec<StatEntry>,
    /// Top numbers of distinct values per label name.
    pub label_value_count_by_label_name: Vec<StatEntry>,
    /// Top label names by bytes of their values summed over series.
    pub memory_in_bytes_by_label_name: Vec<StatEntry>,
    /// Top `name=value` pairs by series count.
    pub series_count_by_label_value_pair: Vec<StatEntry>,
}

/// Keeps the `limit` largest entries, sorted by count descending then name.
fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<StatEntry> {
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v.into_iter().map(|(name, value)| StatEntry { name, value }).collect()
}

impl Head {
    /// Cardinality statistics, each top list limited to `limit` entries (Prometheus uses 10).
    pub fn stats(&self, limit: usize) -> HeadStats {
        let mut counts: Vec<(u32, u32, u64)> = Vec::new();
        self.postings.read().for_each_count(|n, v, c| counts.push((n, v, c)));
        let syms = self.symbols.read();
        let mut by_metric = Vec::new();
        let mut values_per_name: std::collections::HashMap<u32, (u64, u64)> = Default::default();
        let mut pairs = Vec::with_capacity(counts.len());
        for &(n, v, c) in &counts {
            let name = syms.resolve(n);
            let value = syms.resolve(v);
            if &**name == METRIC_NAME {
                by_metric.push((value.to_string(), c));
            }
            let e = values_per_name.entry(n).or_default();
            e.0 += 1;
            e.1 += value.len() as u64 * c;
            pairs.push((format!("{name}={value}"), c));
        }
        let value_counts = values_per_name.iter().map(|(n, (vc, _))| (syms.resolve(*n).to_string(), *vc)).collect();
        let memory = values_per_name.iter().map(|(n, (_, m))| (syms.resolve(*n).to_string(), *m)).collect();
        HeadStats {
            num_series: self.num_series(),
            num_label_pairs: counts.len() as u64,
            chunk_count: self.num_chunks(),
            min_time: self.min_time(),
            max_time: self.max_time(),
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(value_counts, limit),
            memory_in_bytes_by_label_name: top(memory, limit),
            series_count_by_label_value_pair: top(pairs, limit),
        }
    }
}
