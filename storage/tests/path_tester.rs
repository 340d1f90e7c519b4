//! The storage path tester: the same data and the same queries must answer identically — same
//! series, same samples, bit-exact values — whichever path the data took:
//!
//! (a) from the head, (b) after the head is cut into blocks, (c) after compaction of several
//! blocks into one, (d) after close and reopen (WAL replay), (e) after deletions (against the
//! expected data minus the deleted ranges: with tombstones, after maintenance, after the
//! tombstones are compacted away, after reopen),
//! (f) with overlapping blocks (backfilled blocks over existing ones), before and after vertical
//! compaction.
//!
//! Expected answers come from a reference model: a `BTreeMap<Labels, BTreeMap<t, value bits>>`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use storage::db::{Db, DbOptions, backfill};
use storage::{Labels, Matcher, Queryable, STALE_NAN_BITS, Sample, labels};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const BLOCK: i64 = 2 * HOUR;
/// Not aligned to anything on purpose.
const BASE: i64 = 1_700_000_123_456;

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

/// One dataset: samples in append order, and deletions (matchers, mint, maxt).
struct Dataset {
    name: &'static str,
    appends: Vec<(Labels, i64, f64)>,
    deletions: Vec<(Vec<Matcher>, i64, i64)>,
    /// Extra series data written as backfilled (overlapping) blocks.
    backfill: Vec<(Labels, i64, f64)>,
}

fn counters_and_gauges() -> Dataset {
    let mut appends = Vec::new();
    let series = [
        labels! {"__name__" => "http_requests_total", "job" => "api", "instance" => "1"},
        labels! {"__name__" => "http_requests_total", "job" => "api", "instance" => "2"},
        labels! {"__name__" => "http_requests_total", "job" => "web", "instance" => "1"},
        labels! {"__name__" => "temperature", "job" => "web", "instance" => "1"},
        labels! {"__name__" => "temperature", "job" => "db", "instance" => "9"},
    ];
    // 13h of 15s scrapes (enough for several blocks and one 6h compaction with the unaligned
    // start); the gauge of job=db goes stale for an hour in the middle; counters
    // reset once.
    let mut counter = [0.0f64; 3];
    for i in 0..(13 * 240) {
        let t = BASE + i * 15_000;
        for (k, l) in series.iter().enumerate() {
            let v = if k < 3 {
                if i == 1000 && k == 1 {
                    counter[k] = 0.0;
                }
                counter[k] += ((i * 7 + k as i64 * 13) % 11) as f64;
                counter[k]
            } else {
                let x = (i as f64) / 37.0 + k as f64;
                x.sin() * 100.0 + (i % 7) as f64 * 0.001
            };
            if k == 4 && (1200..1440).contains(&i) {
                if i == 1200 {
                    appends.push((l.clone(), t, f64::from_bits(STALE_NAN_BITS)));
                }
                continue;
            }
            appends.push((l.clone(), t, v));
        }
    }
    // A short-lived series.
    for i in 0..50 {
        appends.push((labels! {"__name__" => "up", "job" => "batch"}, BASE + 3 * HOUR + i * 60_000, 1.0));
    }
    let deletions = vec![
        (vec![Matcher::equal("job", "api")], BASE + 2 * HOUR + 7, BASE + 3 * HOUR + 30 * MIN),
        (vec![Matcher::equal("__name__", "temperature"), Matcher::equal("instance", "9")], BASE, BASE + 30 * MIN),
        (vec![Matcher::equal("__name__", "up")], i64::MIN, i64::MAX),
    ];
    // Overlapping data: a second scraper at 7.5s offsets for one series over 3h..6h, and exact
    // duplicates of existing samples for another.
    let mut backfill = Vec::new();
    for i in 0..(3 * 240) {
        let t = BASE + 3 * HOUR + i * 15_000 + 7_500;
        backfill.push((labels! {"__name__" => "temperature", "job" => "web", "instance" => "1"}, t, i as f64));
    }
    for (l, t, v) in &appends {
        if l.get("instance") == "2" && *t >= BASE + HOUR && *t < BASE + 4 * HOUR {
            backfill.push((l.clone(), *t, *v));
        }
    }
    backfill.push((labels! {"__name__" => "backfilled_only"}, BASE + 5 * HOUR, 42.0));
    Dataset { name: "counters_and_gauges", appends, deletions, backfill }
}

fn out_of_order() -> Dataset {
    let l1 = labels! {"__name__" => "ooo", "s" => "1"};
    let l2 = labels! {"__name__" => "ooo", "s" => "2"};
    let mut appends = Vec::new();
    // In-order 30s samples for 13h, and every hour a burst of late samples up to 50 min old.
    for i in 0..(13 * 120) {
        let t = BASE + i * 30_000;
        appends.push((l1.clone(), t, i as f64));
        appends.push((l2.clone(), t, -(i as f64) * 0.5));
        if i % 120 == 119 {
            for j in 0..40 {
                let late = t - 50 * MIN + j * 60_000 + 10_000;
                appends.push((l1.clone(), late, 1e6 + j as f64));
                appends.push((l2.clone(), late, f64::from_bits(STALE_NAN_BITS)));
            }
        }
    }
    let deletions = vec![(vec![Matcher::equal("s", "1")], BASE + HOUR, BASE + 2 * HOUR)];
    let backfill = (0..100).map(|i| (l1.clone(), BASE + 4 * HOUR + i * 30_000 + 1, 7.0)).collect();
    Dataset { name: "out_of_order", appends, deletions, backfill }
}

fn sparse() -> Dataset {
    // 60 series, each with a handful of irregular samples somewhere in 13h (some only inside
    // one block), special float values included; one series with a 12h gap.
    let mut appends = Vec::new();
    for i in 0..60i64 {
        let l =
            labels! {"__name__" => "sparse", "job" => if i % 3 == 0 { "api" } else { "web" }, "id" => &i.to_string()};
        let start = BASE + (i * 37 % 13) * HOUR + i * 1_013;
        for k in 0..(i % 7 + 1) {
            let v = match k {
                3 => f64::INFINITY,
                4 => -0.0,
                5 => f64::NAN,
                _ => (i * 100 + k) as f64 / 3.0,
            };
            appends.push((l.clone(), start + k * (i + 1) * 45_000, v));
        }
    }
    let gap = labels! {"__name__" => "up", "job" => "gap"};
    appends.push((gap.clone(), BASE, 1.0));
    appends.push((gap.clone(), BASE + 12 * HOUR, 0.0));
    appends.sort_by_key(|(_, t, _)| *t);
    let deletions = vec![
        (vec![Matcher::regex("id", "1.|2.").unwrap()], BASE + 3 * HOUR, BASE + 9 * HOUR),
        (vec![Matcher::equal("job", "gap")], BASE + 12 * HOUR, BASE + 12 * HOUR),
    ];
    let backfill = vec![
        (labels! {"__name__" => "sparse", "job" => "api", "id" => "0"}, BASE + 2 * HOUR + 5, 5.0),
        (gap, BASE + 6 * HOUR, 0.5),
    ];
    Dataset { name: "sparse", appends, deletions, backfill }
}

fn queries() -> Vec<(Vec<Matcher>, i64, i64)> {
    let ms: Vec<Vec<Matcher>> = vec![
        vec![Matcher::regex("__name__", ".+").unwrap()],
        vec![Matcher::equal("job", "api")],
        vec![Matcher::regex("job", "web|db").unwrap(), Matcher::not_equal("instance", "2")],
        vec![Matcher::equal("__name__", "temperature")],
        vec![Matcher::regex("__name__", "ooo|up").unwrap(), Matcher::not_regex("s", "2").unwrap()],
        vec![Matcher::equal("job", "nope")],
        vec![Matcher::equal("__name__", "sparse"), Matcher::regex("id", "[0-3].*").unwrap()],
    ];
    let ranges = [
        (i64::MIN, i64::MAX),
        (BASE, BASE),
        (BASE + 90 * MIN, BASE + 5 * HOUR + 7),
        (BASE + 2 * HOUR, BASE + 2 * HOUR + 15_000),
        (BASE + 9 * HOUR, BASE + 20 * HOUR),
        (BASE - HOUR, BASE - 1),
    ];
    ms.iter().flat_map(|m| ranges.iter().map(move |(a, b)| (m.clone(), *a, *b))).collect()
}

fn expected(model: &Model, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
    model
        .iter()
        .filter(|(l, _)| matchers.iter().all(|m| m.matches_labels(l)))
        .map(|(l, s)| (l.clone(), s.range(mint..=maxt).map(|(t, v)| (*t, *v)).collect::<Vec<_>>()))
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn actual(db: &dyn Queryable, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
    let q = db.querier(mint, maxt).unwrap();
    let set = q.select(true, None, matchers).unwrap();
    set.map(|s| {
        let s = s.unwrap();
        let labels = s.labels.clone();
        let samples: Vec<Sample> = s.collect_samples().unwrap();
        (labels, samples.into_iter().map(|s| (s.t, s.v.to_bits())).collect())
    })
    .collect()
}

fn check_all(stage: &str, ds: &Dataset, db: &Db, model: &Model) {
    let mut compared = 0;
    for (ms, mint, maxt) in queries() {
        let want = expected(model, &ms, mint, maxt);
        compared += want.iter().map(|(_, s)| s.len()).sum::<usize>();
        let got = actual(db, &ms, mint, maxt);
        if got != want {
            let summary = |v: &[(Labels, Vec<(i64, u64)>)]| -> Vec<String> {
                v.iter().map(|(l, s)| format!("{l}: {} samples", s.len())).collect()
            };
            // Find the first differing sample for a readable failure.
            let mut detail = String::new();
            for ((lw, sw), (lg, sg)) in want.iter().zip(got.iter()) {
                if lw != lg {
                    detail = format!("series differ: want {lw}, got {lg}");
                    break;
                }
                if let Some(i) = (0..sw.len().max(sg.len())).find(|i| sw.get(*i) != sg.get(*i)) {
                    detail = format!("{lw}: sample {i}: want {:?}, got {:?}", sw.get(i), sg.get(i));
                    break;
                }
            }
            panic!(
                "[{} / {stage}] query {ms:?} [{mint}, {maxt}]:\n want {:?}\n got  {:?}\n {detail}",
                ds.name,
                summary(&want),
                summary(&got)
            );
        }
    }
    check_seeks(stage, ds, db, model);
    let blocks: Vec<String> = db
        .block_metas()
        .iter()
        .map(|m| {
            format!(
                "[{:+.2}h, {:+.2}h) L{}",
                (m.min_time - BASE) as f64 / HOUR as f64,
                (m.max_time - BASE) as f64 / HOUR as f64,
                m.compaction.level
            )
        })
        .collect();
    eprintln!("[{} / {stage}] {compared} samples compared; blocks {blocks:?}", ds.name);
    // Label values over everything.
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let names: Vec<String> = {
        let mut v: Vec<String> = model.keys().map(|l| l.metric_name().to_string()).collect();
        v.sort();
        v.dedup();
        v
    };
    let got = q.label_values("__name__", &[]).unwrap();
    // The index may still list series whose samples were all deleted; every series with data
    // must be there.
    for n in &names {
        assert!(got.contains(n), "[{} / {stage}] label value {n} missing from {got:?}", ds.name);
    }
}

/// Seeks through every series at a stride that lands between, on and past samples; each seek
/// must return the first sample at or after the target (or stay on the current one).
fn check_seeks(stage: &str, ds: &Dataset, db: &Db, model: &Model) {
    let (mint, maxt) = (BASE + 30 * MIN + 1, BASE + 11 * HOUR);
    let q = db.querier(mint, maxt).unwrap();
    let set = q.select(false, None, &[Matcher::regex("__name__", ".+").unwrap()]).unwrap();
    let mut seen = 0;
    for s in set {
        let mut s = s.unwrap();
        let want = &model[&s.labels];
        seen += 1;
        let mut cur: Option<(i64, u64)> = None;
        let mut ts = mint - 1;
        while ts <= maxt + 20 * MIN {
            let got = s.samples.seek(ts).map(|x| (x.t, x.v.to_bits()));
            let first = first_from(want, ts.max(mint), maxt);
            let expect = match cur {
                Some(c) if c.0 >= ts => Some(c),
                _ => first,
            };
            assert_eq!(got, expect, "[{} / {stage}] {}: seek({ts})", ds.name, s.labels);
            cur = got;
            ts += 7 * MIN + 13_001;
            if ts % 3 == 0 {
                // An occasional next() between seeks.
                let n = s.samples.next().map(|x| (x.t, x.v.to_bits()));
                let after = cur.and_then(|c| first_from(want, c.0 + 1, maxt));
                if cur.is_some() {
                    assert_eq!(n, after, "[{} / {stage}] {}: next() after seek", ds.name, s.labels);
                    // Past the end, a seek never moves back: it keeps answering the last sample
                    // for targets at or before it.
                    if n.is_some() {
                        cur = n;
                    }
                }
            }
        }
        assert!(s.samples.err().is_none());
    }
    let with_data = model.values().filter(|m| m.range(mint..=maxt).next().is_some()).count();
    assert_eq!(seen, with_data, "[{} / {stage}] series with data in the seek range", ds.name);
}

/// The first sample with `from <= t <= to`.
fn first_from(m: &BTreeMap<i64, u64>, from: i64, to: i64) -> Option<(i64, u64)> {
    if from > to {
        return None;
    }
    m.range(from..=to).next().map(|(t, v)| (*t, *v))
}

fn opts() -> DbOptions {
    DbOptions { block_range_ms: BLOCK, retention_ms: 0, out_of_order_window_ms: HOUR, ..DbOptions::default() }
}

/// Appends the dataset; returns the model of what was accepted.
fn ingest(db: &Db, ds: &Dataset) -> Model {
    let mut model = Model::new();
    let mut app = storage::Appendable::appender(db);
    let mut rejected = 0;
    for (n, (l, t, v)) in ds.appends.iter().enumerate() {
        match app.append(None, l, *t, *v) {
            Ok(_) => {
                model.entry(l.clone()).or_default().insert(*t, v.to_bits());
            }
            Err(_) => rejected += 1,
        }
        if n % 500 == 499 {
            app.commit().unwrap();
            app = storage::Appendable::appender(db);
        }
    }
    app.commit().unwrap();
    assert_eq!(rejected, 0, "[{}] samples rejected (all are in order or within the 1h window)", ds.name);
    model
}

fn apply_deletions(model: &mut Model, ds: &Dataset) {
    for (ms, mint, maxt) in &ds.deletions {
        for (l, s) in model.iter_mut() {
            if ms.iter().all(|m| m.matches_labels(l)) {
                s.retain(|t, _| *t < *mint || *t > *maxt);
            }
        }
    }
    model.retain(|_, s| !s.is_empty());
}

/// Far enough in the future that nothing is held back; maintenance uses block times only.
const NOW: i64 = BASE + 30 * 24 * HOUR;

fn run(ds: Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let db = Db::open(path, opts()).unwrap();
    let mut model = ingest(&db, &ds);

    // (a) head only.
    assert!(db.block_metas().is_empty());
    check_all("head", &ds, &db, &model);

    // (d) the whole head from WAL replay.
    db.close().unwrap();
    drop(db);
    let db = Db::open(path, opts()).unwrap();
    assert!(db.block_metas().is_empty());
    check_all("head after WAL replay", &ds, &db, &model);

    // (b) head cut into blocks (no compaction yet).
    let cut = db.persist_head().unwrap();
    assert!(cut >= 2, "[{}] expected the head to be cut into several blocks, got {cut}", ds.name);
    check_all("head cut into blocks", &ds, &db, &model);

    // (c) blocks compacted together.
    let before = db.block_metas().len();
    db.compact_blocks().unwrap();
    let metas = db.block_metas();
    assert!(metas.len() < before, "[{}] no compaction happened ({before} blocks)", ds.name);
    assert!(metas.iter().any(|m| m.compaction.level >= 2));
    check_all("after compaction", &ds, &db, &model);

    // (d) close and reopen: blocks + WAL replay of the head.
    db.close().unwrap();
    drop(db);
    let db = Db::open(path, opts()).unwrap();
    check_all("after reopen", &ds, &db, &model);

    // (e) deletions: immediately, after maintenance (tombstones compacted away), after reopen.
    for (ms, mint, maxt) in &ds.deletions {
        db.delete_series(ms, *mint, *maxt).unwrap();
    }
    apply_deletions(&mut model, &ds);
    check_all("after deletion", &ds, &db, &model);
    db.maintain(NOW).unwrap();
    check_all("after deletion + maintenance", &ds, &db, &model);
    assert!(db.clean_tombstones().unwrap() > 0, "[{}] no block had tombstones", ds.name);
    assert!(db.block_metas().iter().all(|m| m.stats.num_tombstones == 0));
    check_all("after deletion + clean tombstones", &ds, &db, &model);
    db.close().unwrap();
    drop(db);
    let db = Db::open(path, opts()).unwrap();
    check_all("after deletion + reopen", &ds, &db, &model);
    db.close().unwrap();
    drop(db);

    // (f) overlapping blocks: backfill more data over the same time ranges.
    let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (l, t, v) in &ds.backfill {
        series.entry(l.clone()).or_default().push((*t, *v));
        model.entry(l.clone()).or_default().insert(*t, v.to_bits());
    }
    let written = backfill(
        path,
        series.into_iter().map(|(l, s)| (l, s.into_iter().map(|(t, v)| Sample::new(t, v)).collect())),
        BLOCK,
    )
    .unwrap();
    assert!(!written.is_empty());
    let db = Db::open(path, opts()).unwrap();
    assert!(has_overlap(&db), "[{}] backfill should overlap existing blocks", ds.name);
    check_all("overlapping blocks", &ds, &db, &model);
    db.compact_blocks().unwrap();
    assert!(!has_overlap(&db), "[{}] vertical compaction left overlapping blocks", ds.name);
    check_all("after vertical compaction", &ds, &db, &model);
    db.close().unwrap();
    drop(db);
    let db = Db::open(path, opts()).unwrap();
    check_all("after vertical compaction + reopen", &ds, &db, &model);
    db.close().unwrap();
    check_dir_clean(path);
}

fn has_overlap(db: &Arc<Db>) -> bool {
    let mut m = db.block_metas();
    m.sort_by_key(|m| m.min_time);
    m.windows(2).any(|w| w[1].min_time < w[0].max_time)
}

/// No leftovers of interrupted writes in the data dir.
fn check_dir_clean(path: &Path) {
    for e in std::fs::read_dir(path).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.contains(".tmp"), "leftover {name}");
    }
}

#[test]
fn path_counters_and_gauges() {
    run(counters_and_gauges());
}

#[test]
fn path_out_of_order() {
    run(out_of_order());
}

#[test]
fn path_sparse() {
    run(sparse());
}

#[test]
fn second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let Err(err) = Db::open(dir.path(), opts()) else { panic!("second open must fail") };
    let err = err.to_string();
    assert!(err.contains("locked"), "{err}");
    db.close().unwrap();
}
