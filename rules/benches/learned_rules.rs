//! Cost of anomaly and forecast rules per series per evaluation, and their memory per tracked
//! series, through a real group on the in-memory head (query included).
//!
//! `cargo bench -p tickdb-rules --bench learned_rules`: 10,000 series `players{server=...}` with a
//! sample every minute; one group per rule kind evaluates the same expression every minute. For
//! each kind it warms up over the first 120 minutes, then times 200 evaluations and prints the
//! mean time per evaluation, per series, the part above a recording rule of the same expression
//! (the query's own cost), and `memory_bytes` per tracked series. A plain `main`: the state
//! advances with every evaluation, which criterion's repeated iterations would not allow.

use std::sync::Arc;
use std::time::Instant;

use query::{Engine, EngineOptions};
use rules::group::{Group, GroupOptions};
use rules::source::LocalSource;
use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appendable, Labels, Querier, Queryable};

const SERIES: usize = 10_000;
const M: i64 = 60_000;
const WARM: i64 = 120;
const TIMED: i64 = 200;

struct HeadQ(Arc<Head>);

impl Queryable for HeadQ {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        let reader = self.0.range_reader(mint, maxt);
        Ok(Box::new(BlockQuerier::new(&reader, mint, maxt)?))
    }
}

fn value(m: i64, s: usize) -> f64 {
    100.0
        + 50.0 * ((m as f64) / 1440.0 * std::f64::consts::TAU).sin()
        + ((m as usize * 7919 + s * 104_729) % 97) as f64 / 97.0
}

fn main() {
    let head = Head::open(HeadOptions { dir: None, ..HeadOptions::default() }).expect("head");
    let labels: Vec<Labels> =
        (0..SERIES).map(|s| Labels::from_pairs([("__name__", "players"), ("server", &format!("s{s:05}"))])).collect();
    let t0 = Instant::now();
    for m in 0..WARM + TIMED {
        let mut app = Appendable::appender(&head);
        for (s, l) in labels.iter().enumerate() {
            app.append(None, l, m * M, value(m, s)).expect("append");
        }
        app.commit().expect("commit");
    }
    eprintln!("{} series x {} minutes loaded in {:.1?}", SERIES, WARM + TIMED, t0.elapsed());
    let src = LocalSource { engine: Engine::new(EngineOptions::default()), db: Arc::new(HeadQ(head.clone())) };
    let kinds = [
        ("recording (the query alone)", "  - record: players:copy\n    expr: players\n"),
        ("anomaly zscore", "  - anomaly: Odd\n    expr: players\n    detector: zscore:min_samples=60\n"),
        (
            "anomaly zscore robust",
            "  - anomaly: Odd\n    expr: players\n    detector: zscore:robust=true,min_samples=60\n",
        ),
        (
            "anomaly holt_winters",
            "  - anomaly: Odd\n    expr: players\n    detector: holt_winters:period=1h,slots=60\n",
        ),
        (
            "forecast linear",
            "  - forecast: F\n    expr: players\n    model: linear\n    horizon: 1d\n    threshold: 1000\n",
        ),
    ];
    let mut base = None;
    println!("| rule | per evaluation | per series | above the query alone | memory per series |");
    println!("|---|---:|---:|---:|---:|");
    for (name, rule) in kinds {
        // Output goes to a throw-away head: only the evaluation is measured.
        let out = Head::open(HeadOptions { dir: None, ..HeadOptions::default() }).expect("head");
        let text = format!("groups:\n- name: g\n  interval: 1m\n  rules:\n{rule}");
        let f = rules::file::parse("b.yml", &text).expect("rule file");
        let mut g = Group::new("b.yml", &f.groups[0], &GroupOptions::default()).expect("group");
        for m in 0..WARM {
            g.eval(m * M, &src, &out);
        }
        let t = Instant::now();
        for m in WARM..WARM + TIMED {
            let r = g.eval(m * M, &src, &out);
            assert!(r.failures.is_empty(), "{r:?}");
        }
        let per_eval = t.elapsed() / TIMED as u32;
        let per_series_us = per_eval.as_secs_f64() * 1e6 / SERIES as f64;
        let above = base.map_or("-".to_string(), |b: f64| format!("{:.2} µs", per_series_us - b));
        base.get_or_insert(per_series_us);
        let mem = g.rules()[0]
            .learn_status()
            .map_or("-".to_string(), |s| format!("{} B", s.memory_bytes / s.tracked_series.max(1)));
        println!("| {name} | {per_eval:.1?} | {per_series_us:.2} µs | {above} | {mem} |");
    }
}
