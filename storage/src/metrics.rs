//! A small self-metrics registry rendered in the Prometheus text exposition format.
//!
//! Metrics are lock-free atomics once created; families with labels create children on first
//! use. The server renders [`Registry::render`] at `/metrics`. Storage registers its
//! `tickdb_*` metrics here; other crates use the same registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

/// A monotonically increasing counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A float gauge.
#[derive(Default, Debug)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn add(&self, d: f64) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some((f64::from_bits(b) + d).to_bits()));
    }
    pub fn inc(&self) {
        self.add(1.0)
    }
    pub fn dec(&self) {
        self.add(-1.0)
    }
}

/// A histogram with fixed upper bounds (cumulative on render).
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum: Gauge,
    count: AtomicU64,
}

/// Default latency buckets in seconds (Prometheus client defaults plus finer low end).
pub const DEFAULT_BUCKETS: &[f64] =
    &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Histogram {
            bounds: bounds.to_vec(),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: Gauge::default(),
            count: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.add(v);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    pub fn sum(&self) -> f64 {
        self.sum.get()
    }
}

enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
    /// A gauge computed at render time.
    GaugeFn(Arc<dyn Fn() -> f64 + Send + Sync>),
    /// A counter computed at render time (e.g. `process_cpu_seconds_total` read from /proc).
    CounterFn(Arc<dyn Fn() -> f64 + Send + Sync>),
}

struct Family {
    help: String,
    kind: &'static str,
    /// Rendered label string (`{a="b"}` or "") → metric.
    children: BTreeMap<String, Metric>,
}

/// A set of metric families.
#[derive(Default, Clone)]
pub struct Registry {
    families: Arc<RwLock<BTreeMap<String, Family>>>,
}

fn label_str(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s.push('}');
    s
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn get_or_insert(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Metric,
    ) -> MetricRef {
        let key = label_str(labels);
        if let Some(f) = self.families.read().get(name)
            && let Some(m) = f.children.get(&key)
        {
            return MetricRef::from(m);
        }
        let mut fams = self.families.write();
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            children: BTreeMap::new(),
        });
        MetricRef::from(&*fam.children.entry(key).or_insert_with(make))
    }

    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        self.counter_with(name, help, &[])
    }
    pub fn counter_with(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Counter> {
        match self.get_or_insert(name, help, "counter", labels, || Metric::Counter(Arc::default())) {
            MetricRef::Counter(c) => c,
            _ => panic!("metric {name} registered with another type"),
        }
    }
    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        self.gauge_with(name, help, &[])
    }
    pub fn gauge_with(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Gauge> {
        match self.get_or_insert(name, help, "gauge", labels, || Metric::Gauge(Arc::default())) {
            MetricRef::Gauge(g) => g,
            _ => panic!("metric {name} registered with another type"),
        }
    }
    /// A gauge whose value is computed by `f` at each render.
    pub fn gauge_fn(&self, name: &str, help: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        let mut fams = self.families.write();
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind: "gauge",
            children: BTreeMap::new(),
        });
        fam.children.insert(String::new(), Metric::GaugeFn(Arc::new(f)));
    }
    /// A counter whose value is computed by `f` at each render; `f` must never decrease.
    pub fn counter_fn(&self, name: &str, help: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        let mut fams = self.families.write();
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind: "counter",
            children: BTreeMap::new(),
        });
        fam.children.insert(String::new(), Metric::CounterFn(Arc::new(f)));
    }
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Arc<Histogram> {
        self.histogram_with(name, help, buckets, &[])
    }
    pub fn histogram_with(&self, name: &str, help: &str, buckets: &[f64], labels: &[(&str, &str)]) -> Arc<Histogram> {
        match self
            .get_or_insert(name, help, "histogram", labels, || Metric::Histogram(Arc::new(Histogram::new(buckets))))
        {
            MetricRef::Histogram(h) => h,
            _ => panic!("metric {name} registered with another type"),
        }
    }

    /// Removes the metrics labelled exactly `labels` from every family (e.g. those of a rule
    /// group a reload removed, as Prometheus unregisters them); families left empty go too.
    pub fn remove_labeled(&self, labels: &[(&str, &str)]) {
        let key = label_str(labels);
        let mut fams = self.families.write();
        fams.retain(|_, f| {
            if f.children.remove(&key).is_none() {
                return true;
            }
            !f.children.is_empty()
        });
    }

    /// Renders all families in the text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, fam) in self.families.read().iter() {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (labels, m) in &fam.children {
                match m {
                    Metric::Counter(c) => {
                        let _ = writeln!(out, "{name}{labels} {}", c.get());
                    }
                    Metric::Gauge(g) => {
                        let _ = writeln!(out, "{name}{labels} {}", fmt_float(g.get()));
                    }
                    Metric::GaugeFn(f) | Metric::CounterFn(f) => {
                        let _ = writeln!(out, "{name}{labels} {}", fmt_float(f()));
                    }
                    Metric::Histogram(h) => render_histogram(&mut out, name, labels, h),
                }
            }
        }
        out
    }
}

enum MetricRef {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
    Other,
}

impl From<&Metric> for MetricRef {
    fn from(m: &Metric) -> Self {
        match m {
            Metric::Counter(c) => MetricRef::Counter(c.clone()),
            Metric::Gauge(g) => MetricRef::Gauge(g.clone()),
            Metric::Histogram(h) => MetricRef::Histogram(h.clone()),
            Metric::GaugeFn(_) | Metric::CounterFn(_) => MetricRef::Other,
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let inner = labels.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    let mut cum = 0u64;
    for (b, c) in h.bounds.iter().zip(&h.counts) {
        cum += c.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{}\"}} {cum}", fmt_float(*b));
    }
    let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum{labels} {}", fmt_float(h.sum()));
    let _ = writeln!(out, "{name}_count{labels} {}", h.count());
}

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let r = Registry::new();
        r.counter("tickdb_x_total", "X.").add(3);
        r.gauge_with("tickdb_g", "G.", &[("a", "b")]).set(1.5);
        let h = r.histogram_with("tickdb_h_seconds", "H.", &[0.1, 1.0], &[("handler", "/q")]);
        h.observe(0.05);
        h.observe(5.0);
        let s = r.render();
        assert!(s.contains("# TYPE tickdb_x_total counter\ntickdb_x_total 3\n"), "{s}");
        assert!(s.contains("tickdb_g{a=\"b\"} 1.5\n"), "{s}");
        assert!(s.contains("tickdb_h_seconds_bucket{handler=\"/q\",le=\"0.1\"} 1\n"), "{s}");
        assert!(s.contains("tickdb_h_seconds_bucket{handler=\"/q\",le=\"+Inf\"} 2\n"), "{s}");
        assert!(s.contains("tickdb_h_seconds_count{handler=\"/q\"} 2\n"), "{s}");
        // Same name + labels returns the same child.
        r.counter("tickdb_x_total", "X.").inc();
        assert_eq!(r.counter("tickdb_x_total", "X.").get(), 4);
        r.counter_fn("process_cpu_seconds_total", "CPU.", || 1.25);
        // Removing by labels drops those children, and families left empty.
        r.gauge_with("tickdb_g", "G.", &[("a", "c")]).set(2.0);
        r.remove_labeled(&[("a", "b")]);
        let s = r.render();
        assert!(!s.contains("tickdb_g{a=\"b\"}") && s.contains("tickdb_g{a=\"c\"} 2\n"), "{s}");
        r.remove_labeled(&[("handler", "/q")]);
        assert!(!r.render().contains("tickdb_h_seconds"), "{}", r.render());
        assert!(r.render().contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25\n"));
    }
}
