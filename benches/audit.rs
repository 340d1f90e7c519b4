//! Audit log benchmark (a plain `main`, no criterion): append throughput with fdatasync for 1, 4
//! and 16 concurrent appenders, then search latency (p50/p99) over a log of 1M entries built
//! with fsync off.
//!
//! Run: `cargo bench -p tickdb --bench audit` (data under Cargo's target tmp dir;
//! `TICKDB_BENCH_DIR` to put it elsewhere, `AUDIT_BENCH_ENTRIES` for another log size).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use tickdb::audit::{AuditLog, AuditOptions, Clock, Query, Record};

const ACTORS: usize = 1000;
const ACTIONS: [&str; 12] = [
    "rule.update",
    "rule.create",
    "rule.delete",
    "token.create",
    "token.revoke",
    "auth.failure",
    "silence.create",
    "silence.expire",
    "alert.ack",
    "alert.resolve",
    "config.reload",
    "tsdb.delete",
];
const TARGETS: usize = 5000;

fn record(rng: &mut impl Rng) -> Record {
    let a = rng.random_range(0..ACTORS);
    let action = ACTIONS[rng.random_range(0..ACTIONS.len())];
    Record {
        actor: format!("user-{a}"),
        role: if a % 10 == 0 { "viewer".into() } else { "admin".into() },
        source_ip: format!("10.{}.{}.{}", a % 7, a % 251, rng.random_range(1..255)),
        user_agent: "tickdb-cli/0.1 (linux)".into(),
        action: action.into(),
        target: format!("group-{}", rng.random_range(0..TARGETS)),
        before: Some(serde_json::json!({"expr": "sum(rate(http_requests_total[5m])) > 10", "for": "5m"})),
        after: Some(serde_json::json!({"expr": "sum(rate(http_requests_total[5m])) > 20", "for": "10m"})),
        justification: Some("INC-1234 threshold too noisy".into()),
        result: "ok".into(),
    }
}

fn base_dir() -> tempfile::TempDir {
    match std::env::var("TICKDB_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d),
        Err(_) => tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")),
    }
    .expect("temp dir")
}

fn append_throughput(threads: usize, dur: Duration) -> f64 {
    let dir = base_dir();
    let log = AuditLog::open(dir.path(), AuditOptions::default()).expect("open");
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (log, count) = (log.clone(), count.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                while start.elapsed() < dur {
                    log.append(record(&mut rng)).expect("append");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("appender");
    }
    let n = count.load(Ordering::Relaxed);
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of tests
    }
    let secs = 5;
    println!("append throughput, fsync on ({secs} s each):");
    for threads in [1, 4, 16] {
        let rate = append_throughput(threads, Duration::from_secs(secs));
        println!("  {threads:>2} appenders: {rate:>8.0} entries/s");
    }

    let entries: u64 = std::env::var("AUDIT_BENCH_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = base_dir();
    // One appender, so one clock reading per entry: entries are exactly 100 ms apart and 1M
    // entries span about 28 hours.
    let t = Arc::new(AtomicI64::new(1_765_000_000_000));
    let clock: Clock = {
        let t = t.clone();
        Arc::new(move || t.fetch_add(100, Ordering::Relaxed))
    };
    let opts = AuditOptions { fsync: false, ..AuditOptions::default() };
    let log = AuditLog::open_with_clock(dir.path(), opts.clone(), clock.clone()).expect("open");
    let start = Instant::now();
    let mut rng = rand::rng();
    for _ in 0..entries {
        log.append(record(&mut rng)).expect("append");
    }
    println!("built {} entries (fsync off, 1 appender) in {:.1} s", log.len(), start.elapsed().as_secs_f64());
    drop(log);
    let size: u64 = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    let start = Instant::now();
    let log = AuditLog::open_with_clock(dir.path(), opts, clock).expect("reopen");
    println!(
        "reopened {} entries ({:.0} MB on disk) in {:.1} s",
        log.len(),
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let newest = log.anchor();
    let t_end = t.load(Ordering::Relaxed);
    let span = t_end - 1_765_000_000_000;

    type MakeQuery = Box<dyn Fn(&mut rand::rngs::ThreadRng) -> Query>;
    let s = |v: String| Some(v);
    let window = move |rng: &mut rand::rngs::ThreadRng, len: i64| {
        let from = 1_765_000_000_000 + rng.random_range(0..span - len);
        (Some(from), Some(from + len))
    };
    let kinds: Vec<(&str, MakeQuery)> = vec![
        (
            "actor",
            Box::new(move |r| Query { actor: s(format!("user-{}", r.random_range(0..ACTORS))), ..Query::default() }),
        ),
        (
            "action",
            Box::new(|r| Query { action: Some(ACTIONS[r.random_range(0..ACTIONS.len())].into()), ..Query::default() }),
        ),
        (
            "target",
            Box::new(|r| Query { target: Some(format!("group-{}", r.random_range(0..TARGETS))), ..Query::default() }),
        ),
        (
            "time range (1 h)",
            Box::new(move |r| {
                let (from_ms, to_ms) = window(r, 3_600_000);
                Query { from_ms, to_ms, ..Query::default() }
            }),
        ),
        (
            "actor+action",
            Box::new(|r| Query {
                actor: Some(format!("user-{}", r.random_range(0..ACTORS))),
                action: Some(ACTIONS[r.random_range(0..ACTIONS.len())].into()),
                ..Query::default()
            }),
        ),
        (
            "action+time (1 day)",
            Box::new(move |r| {
                let (from_ms, to_ms) = window(r, 86_400_000);
                Query {
                    action: Some(ACTIONS[r.random_range(0..ACTIONS.len())].into()),
                    from_ms,
                    to_ms,
                    ..Query::default()
                }
            }),
        ),
        (
            "actor+action+time (12 h)",
            Box::new(move |r| {
                let (from_ms, to_ms) = window(r, 43_200_000);
                Query {
                    actor: Some(format!("user-{}", r.random_range(0..ACTORS))),
                    action: Some(ACTIONS[r.random_range(0..ACTIONS.len())].into()),
                    from_ms,
                    to_ms,
                    ..Query::default()
                }
            }),
        ),
        (
            "actor+target (mostly empty)",
            Box::new(|r| Query {
                actor: Some(format!("user-{}", r.random_range(0..ACTORS))),
                target: Some(format!("group-{}", r.random_range(0..TARGETS))),
                ..Query::default()
            }),
        ),
        (
            "paging: 2nd page of an action",
            Box::new(move |r| Query {
                action: Some(ACTIONS[r.random_range(0..ACTIONS.len())].into()),
                before_id: Some(newest.id - r.random_range(0..newest.id / 2)),
                ..Query::default()
            }),
        ),
        (
            "text (actor, 1 page)",
            Box::new(|r| Query { text: Some(format!("\"user-{}\"", r.random_range(0..ACTORS))), ..Query::default() }),
        ),
    ];
    println!("search latency over {} entries, limit 100, 500 queries each:", log.len());
    let mut rng = rand::rng();
    for (name, make) in &kinds {
        let mut lat = Vec::with_capacity(500);
        let mut returned = 0;
        for _ in 0..500 {
            let q = make(&mut rng);
            let start = Instant::now();
            let page = log.search(&q).expect("search");
            lat.push(start.elapsed());
            returned += page.entries.len();
        }
        lat.sort();
        println!(
            "  {name:<36} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ({:.0} entries/page)",
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3,
            returned as f64 / 500.0
        );
    }
}
