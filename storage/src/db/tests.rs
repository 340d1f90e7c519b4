//! Database tests: head persistence, crash leftovers, retention, metrics. The cross-path
//! equivalence checks live in `storage/tests/path_tester.rs`.

use super::*;
use crate::Labels;
use crate::labels;
use crate::storage::Sample;

const H: i64 = 3600 * 1000;

fn opts() -> DbOptions {
    DbOptions { retention_ms: 0, ..DbOptions::default() }
}

fn append(db: &Db, labels: &Labels, ts: impl IntoIterator<Item = i64>) {
    let mut app = db.appender();
    for t in ts {
        app.append(None, labels, t, t as f64).unwrap();
    }
    app.commit().unwrap();
}

fn count(db: &Db, mint: i64, maxt: i64) -> usize {
    let q = db.querier(mint, maxt).unwrap();
    q.select(false, None, &[Matcher::regex("__name__", ".+").unwrap()])
        .unwrap()
        .map(|s| s.unwrap().collect_samples().unwrap().len())
        .sum()
}

fn minutes(from_h: i64, to_h: i64) -> impl Iterator<Item = i64> {
    (from_h * 60..to_h * 60).map(|m| m * 60_000)
}

#[test]
fn maintain_persists_full_ranges_of_the_head() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let l = labels! {"__name__" => "m"};
    append(&db, &l, minutes(0, 3));
    // 3h span is not more than 1.5 block ranges.
    assert_eq!(db.maintain(0).unwrap().head_blocks, 0);
    append(&db, &l, minutes(3, 7));
    let r = db.maintain(0).unwrap();
    // [0,2h) and [2h,4h) persisted; head keeps [4h,7h) (3h span).
    assert_eq!(r.head_blocks, 2);
    let ranges: Vec<(i64, i64)> = db.block_metas().iter().map(|m| (m.min_time, m.max_time)).collect();
    assert_eq!(ranges, [(0, 2 * H), (2 * H, 4 * H)]);
    assert_eq!(db.head().min_time(), 4 * H);
    assert_eq!(count(&db, i64::MIN, i64::MAX), 7 * 60);
    assert_eq!(count(&db, 2 * H - 60_000, 2 * H), 2);
    // Appends older than the newest block are out of bounds.
    let mut app = db.appender();
    assert!(app.append(None, &l, H, 1.0).is_err());
    app.rollback().unwrap();
    let rendered = db.options().registry.render();
    assert!(rendered.contains("tickdb_head_truncations_total 2"), "{rendered}");
    assert!(rendered.contains("tickdb_blocks_loaded 2"), "{rendered}");
    db.close().unwrap();
    assert!(matches!(db.querier(0, 1), Err(Error::Closed)));
}

#[test]
fn reopen_deletes_superseded_blocks_and_tmp_leftovers() {
    let d = tempfile::tempdir().unwrap();
    let l = labels! {"__name__" => "m"};
    let samples: Vec<Sample> = minutes(0, 4).map(|t| Sample::new(t, 1.0)).collect();
    let metas = backfill(d.path(), vec![(l.clone(), samples)], 2 * H).unwrap();
    assert_eq!(metas.len(), 2);
    // A compaction of both that "crashed" before deleting its parents.
    let blocks: Vec<Arc<dyn BlockReader>> = metas
        .iter()
        .map(|m| Arc::new(Block::open(&d.path().join(m.ulid.to_string())).unwrap()) as Arc<dyn BlockReader>)
        .collect();
    let out = Compactor::new(vec![2 * H, 6 * H]).compact(d.path(), &blocks, &metas, 0, 4 * H, None).unwrap().unwrap();
    assert_eq!(out.meta.compaction.level, 2);
    assert_eq!(out.chunks_reencoded, 0, "non-overlapping blocks copy their chunks");
    drop(blocks);
    std::fs::create_dir(d.path().join(format!("{}.tmp-for-creation", Ulid::new()))).unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let left: Vec<Ulid> = db.block_metas().iter().map(|m| m.ulid).collect();
    assert_eq!(left, [out.meta.ulid]);
    assert_eq!(count(&db, i64::MIN, i64::MAX), 4 * 60);
    for e in std::fs::read_dir(d.path()).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!n.contains(".tmp"), "{n}");
        assert!(!metas.iter().any(|m| m.ulid.to_string() == n), "superseded block {n} still there");
    }
}

#[test]
fn time_and_size_retention() {
    let d = tempfile::tempdir().unwrap();
    let l = labels! {"__name__" => "m"};
    let samples: Vec<Sample> = minutes(0, 20).map(|t| Sample::new(t, 1.0)).collect();
    backfill(d.path(), vec![(l, samples)], 2 * H).unwrap();
    let db = Db::open(d.path(), DbOptions { retention_ms: 6 * H, ..DbOptions::default() }).unwrap();
    assert_eq!(db.block_metas().len(), 10);
    assert_eq!(db.apply_retention().unwrap(), 7);
    // Newest maxTime is 20h; blocks ending at or before 14h go.
    let mins: Vec<i64> = db.block_metas().iter().map(|m| m.min_time / H).collect();
    assert_eq!(mins, [14, 16, 18]);
    let size: u64 = db.blocks.read().iter().take(1).map(|b| b.block.size()).sum();
    db.close().unwrap();
    drop(db);
    let o = DbOptions { retention_ms: 0, retention_bytes: 2 * size + size / 2, ..DbOptions::default() };
    let db = Db::open(d.path(), o).unwrap();
    // WAL and head chunks are tiny but count too: two blocks fit, not three.
    assert_eq!(db.apply_retention().unwrap(), 1);
    assert_eq!(db.block_metas().len(), 2);
    assert!(db.options().registry.render().contains("tickdb_retention_deletions_total 1"));
}

#[test]
fn a_snapshot_is_a_working_copy_of_blocks_and_head() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let a = labels! {"__name__" => "a"};
    append(&db, &a, minutes(0, 7));
    db.maintain(0).unwrap();
    assert!(!db.block_metas().is_empty());
    let snap = d.path().join("snapshots").join("s1");
    let blocks = db.snapshot(&snap, true).unwrap();
    assert_eq!(blocks, db.block_metas().len() + 1, "every block and the head");
    assert!(db.snapshot(&snap, true).is_err(), "an existing snapshot is not overwritten");
    // Later deletions and compactions do not reach the snapshot's files.
    db.delete_series(&[Matcher::equal("__name__", "a")], 0, 10 * H).unwrap();
    db.clean_tombstones().unwrap();
    assert_eq!(count(&db, i64::MIN, i64::MAX), 0);
    // Restored by copying its blocks into an empty data dir.
    let restored = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&snap).unwrap() {
        let e = e.unwrap();
        let to = restored.path().join(e.file_name());
        std::fs::create_dir_all(to.join("chunks")).unwrap();
        for f in ["meta.json", "index", "tombstones"] {
            std::fs::copy(e.path().join(f), to.join(f)).unwrap();
        }
        for c in std::fs::read_dir(e.path().join("chunks")).unwrap() {
            let c = c.unwrap();
            std::fs::copy(c.path(), to.join("chunks").join(c.file_name())).unwrap();
        }
    }
    let db2 = Db::open(restored.path(), opts()).unwrap();
    assert_eq!(count(&db2, i64::MIN, i64::MAX), 7 * 60);
}

#[test]
fn delete_series_hits_head_and_blocks() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let a = labels! {"__name__" => "a"};
    let b = labels! {"__name__" => "b"};
    append(&db, &a, minutes(0, 6));
    append(&db, &b, minutes(0, 6));
    db.persist_head().unwrap();
    assert!(!db.block_metas().is_empty());
    db.delete_series(&[Matcher::equal("__name__", "a")], H, 5 * H).unwrap();
    let total = count(&db, i64::MIN, i64::MAX);
    assert_eq!(total, 12 * 60 - (4 * 60 + 1));
    db.maintain(0).unwrap();
    assert_eq!(count(&db, i64::MIN, i64::MAX), total);
    assert!(db.delete_series(&[Matcher::equal("__name__", "a")], 5, 4).is_err());
}

#[test]
fn head_truncation_waits_for_open_queriers() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let l = labels! {"__name__" => "m"};
    append(&db, &l, minutes(0, 4));
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let set = q.select(true, None, &[Matcher::equal("__name__", "m")]).unwrap();
    drop(q);
    let db2 = db.clone();
    let t = std::thread::spawn(move || db2.persist_head().unwrap());
    // Once the block is loaded the persist waits for our series set before truncating.
    while db.block_metas().is_empty() {
        std::thread::yield_now();
    }
    let n: usize = set.map(|s| s.unwrap().collect_samples().unwrap().len()).sum();
    assert_eq!(n, 4 * 60);
    assert_eq!(t.join().unwrap(), 1);
    assert_eq!(db.readers.active(), 0);
    assert_eq!(count(&db, i64::MIN, i64::MAX), 4 * 60);
}

#[test]
fn unreadable_blocks_are_skipped_and_bad_options_refused() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join(Ulid::new().to_string());
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("meta.json"), b"{not json").unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    assert!(db.block_metas().is_empty());
    assert!(bad.exists(), "a broken block is left in place for inspection");
    db.close().unwrap();
    drop(db);
    let e = Db::open(d.path(), DbOptions { block_range_ms: 0, ..opts() }).unwrap_err().to_string();
    assert!(e.contains("block range"), "{e}");
}

#[test]
fn failed_compaction_marks_its_inputs() {
    let d = tempfile::tempdir().unwrap();
    let l = labels! {"__name__" => "m"};
    let samples: Vec<Sample> = minutes(0, 10).map(|t| Sample::new(t, 1.0)).collect();
    let metas = backfill(d.path(), vec![(l, samples)], 2 * H).unwrap();
    // Corrupt the first block's chunks: its bytes are copied, so break a chunk header in a
    // way the reader notices (truncate the segment).
    let seg = d.path().join(metas[0].ulid.to_string()).join("chunks").join("000001");
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 20).unwrap();
    drop(f);
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(db.block_metas().len(), 5);
    assert!(db.compact_blocks().is_err());
    let failed: Vec<bool> = db.block_metas().iter().map(|m| m.compaction.failed).collect();
    assert_eq!(failed, [true, true, true, false, false]);
    assert!(db.options().registry.render().contains("tickdb_compactions_failed_total 1"));
    // The group with a failed block is no longer planned; nothing else to do.
    assert_eq!(db.compact_blocks().unwrap(), 0);
}

fn samples_of(db: &Db, name: &str) -> Vec<(i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = Vec::new();
    for s in q.select(true, None, &[Matcher::equal("__name__", name)]).unwrap() {
        out.extend(s.unwrap().collect_samples().unwrap().into_iter().map(|s| (s.t, s.v)));
    }
    out
}

/// The recommended 1 h out-of-order window, end to end: accepted within, `OutOfOrder` beyond,
/// merged at query time, kept across a restart (WAL replay), persisted into blocks and
/// compacted with everything else.
#[test]
fn out_of_order_one_hour_window_end_to_end() {
    use crate::error::AppendError;
    let d = tempfile::tempdir().unwrap();
    let o = || DbOptions { out_of_order_window_ms: H, ..opts() };
    let db = Db::open(d.path(), o()).unwrap();
    let l = labels! {"__name__" => "m"};
    // In order: every minute up to 2h50, then only even minutes up to 3h50.
    let in_order: Vec<i64> = minutes(0, 4).filter(|t| *t < 170 * 60_000 || (t / 60_000) % 2 == 0).collect();
    let in_order: Vec<i64> = in_order.into_iter().filter(|t| *t <= 230 * 60_000).collect();
    append(&db, &l, in_order.iter().copied());
    // The odd minutes of the last hour arrive late, newest first: all within 1 h of 3h50.
    let late: Vec<i64> = (171..230).rev().filter(|m| m % 2 == 1).map(|m| m * 60_000).collect();
    let mut app = db.appender();
    for &t in &late {
        app.append(None, &l, t, t as f64).unwrap();
    }
    // More than 1 h behind the newest sample: refused, the rest of the batch is kept.
    assert_eq!(app.append(None, &l, 169 * 60_000 + 30_000, 1.0), Err(AppendError::OutOfOrder));
    // A different value at an out-of-order timestamp already staged is a duplicate.
    assert_eq!(app.append(None, &l, 171 * 60_000, 0.5), Err(AppendError::DuplicateSampleForTimestamp));
    app.commit().unwrap();
    let want: Vec<(i64, f64)> = minutes(0, 4).filter(|t| *t <= 230 * 60_000).map(|t| (t, t as f64)).collect();
    assert_eq!(samples_of(&db, "m"), want, "merged at query time");
    let rendered = db.options().registry.render();
    assert!(
        rendered.contains(&format!("tickdb_head_out_of_order_samples_appended_total {}", late.len())),
        "{rendered}"
    );

    // Restart: the WAL replays the out-of-order samples too.
    db.close().unwrap();
    drop(db);
    let db = Db::open(d.path(), o()).unwrap();
    assert_eq!(samples_of(&db, "m"), want, "after restart");

    // Persist to blocks (head past 1.5 ranges), then more late samples into the head's window.
    let more: Vec<i64> = (231..=420).map(|m| m * 60_000).collect();
    append(&db, &l, more.iter().copied());
    assert!(db.maintain(0).unwrap().head_blocks >= 1);
    let mut want: Vec<(i64, f64)> = want.into_iter().chain(more.iter().map(|&t| (t, t as f64))).collect();
    assert_eq!(samples_of(&db, "m"), want, "after persisting the out-of-order samples");
    let block_samples: u64 = db.block_metas().iter().map(|m| m.stats.num_samples).sum();
    assert_eq!(block_samples as usize, want.iter().filter(|(t, _)| *t < db.head().min_time()).count());
    // The head always keeps more than 1 h, so a sample 1 h behind the newest is never out of bounds.
    assert!(db.head().max_time() - db.head().min_time() > H);
    let mut app = db.appender();
    app.append(None, &l, 420 * 60_000 - H + 30_000, 7.0).unwrap();
    app.commit().unwrap();
    want.push((420 * 60_000 - H + 30_000, 7.0));
    want.sort_by_key(|s| s.0);
    let more: Vec<i64> = (421..=900).map(|m| m * 60_000).collect();
    append(&db, &l, more.iter().copied());
    want.extend(more.iter().map(|&t| (t, t as f64)));
    let r = db.maintain(0).unwrap();
    assert!(r.head_blocks >= 1 && r.compactions >= 1, "{r:?}");
    assert_eq!(samples_of(&db, "m"), want, "after compaction");
    db.close().unwrap();
    drop(db);
    let db = Db::open(d.path(), o()).unwrap();
    assert_eq!(samples_of(&db, "m"), want, "after compaction and restart");
}

#[test]
fn wal_segment_size_reaches_the_wal() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(
        d.path(),
        // Uncompressed, so these records fill more than one 64 KiB segment.
        DbOptions { wal_segment_size: 64 * 1024, wal_compression: false, fsync: FsyncPolicy::Never, ..opts() },
    )
    .unwrap();
    let pad = "x".repeat(200);
    let l = Labels::from_pairs([("__name__", "m"), ("pad", pad.as_str())]);
    for k in 0..400 {
        let mut app = db.appender();
        for i in 0..20 {
            let li = l.builder().set("i", &i.to_string()).build();
            app.append(None, &li, k * 1000, 1.0).unwrap();
        }
        app.commit().unwrap();
    }
    db.close().unwrap();
    drop(db);
    let segs: Vec<u64> = std::fs::read_dir(d.path().join(WAL_DIR))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.metadata().unwrap().len())
        .collect();
    assert!(segs.len() >= 2, "64 KiB segments were not cut: {segs:?}");
    assert!(segs.iter().all(|&n| n <= 64 * 1024), "{segs:?}");
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(count(&db, i64::MIN, i64::MAX), 400 * 20);
    // A size that is not a multiple of the 32 KiB page is refused.
    db.close().unwrap();
    drop(db);
    assert!(Db::open(d.path(), DbOptions { wal_segment_size: 1000, ..opts() }).is_err());
}

/// The self-metrics the issue names are registered under those names and move.
#[test]
fn self_metrics_are_rendered() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    append(&db, &labels! {"__name__" => "m"}, minutes(0, 7));
    db.maintain(0).unwrap();
    let text = db.options().registry.render();
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("tickdb_samples_appended_total"), (7 * 60) as f64);
    assert_eq!(value("tickdb_head_series"), 1.0);
    assert!(value("tickdb_head_chunks") >= 1.0);
    assert!(value("tickdb_wal_fsync_duration_seconds_count") >= 1.0);
    assert!(text.contains("# TYPE tickdb_wal_fsync_duration_seconds histogram"), "{text}");
    assert_eq!(value("tickdb_compactions_total"), 2.0);
    assert_eq!(value("tickdb_blocks_loaded"), 2.0);
}

/// Retention runs inside `maintain`: by time (measured from the newest block's end, as in
/// Prometheus, so the injected `now` does not matter) and by size.
#[test]
fn maintain_applies_time_and_size_retention() {
    let d = tempfile::tempdir().unwrap();
    let l = labels! {"__name__" => "m"};
    let db = Db::open(d.path(), DbOptions { retention_ms: 10 * H, ..DbOptions::default() }).unwrap();
    // 10 h of retention: max block duration 1 h < the 2 h block range, so nothing is compacted.
    append(&db, &l, minutes(0, 16));
    let r = db.maintain(1_000).unwrap();
    assert_eq!((r.head_blocks, r.compactions), (7, 0), "no merge: {r:?}");
    // Blocks [0,2h) .. [12h,14h); newest ends at 14h, so those ending at or before 4h go.
    let mins: Vec<i64> = db.block_metas().iter().map(|m| m.min_time / H).collect();
    assert_eq!(mins, [4, 6, 8, 10, 12]);
    assert_eq!(r.retention_deleted, 2);
    assert_eq!(db.maintain(i64::MAX).unwrap(), MaintainReport::default(), "idempotent whatever now is");
    let one = db.blocks.read()[0].block.size();
    db.close().unwrap();
    drop(db);
    // Size: room for about two blocks plus the WAL and head chunks.
    let head = dir_size(&d.path().join(WAL_DIR)) + dir_size(&d.path().join(CHUNKS_HEAD_DIR));
    let o = DbOptions { retention_ms: 10 * H, retention_bytes: head + 2 * one + one / 2, ..DbOptions::default() };
    let db = Db::open(d.path(), o).unwrap();
    // Regression: old chunks left in a head chunk file must not pull the head's min time back
    // to 0 on replay (that made maintain persist a bogus head range).
    assert_eq!(db.head().min_time(), 14 * H);
    let r = db.maintain(0).unwrap();
    assert_eq!(r.retention_deleted, 3, "{r:?}");
    let mins: Vec<i64> = db.block_metas().iter().map(|m| m.min_time / H).collect();
    assert_eq!(mins, [10, 12]);
    assert_eq!(count(&db, 10 * H, i64::MAX), 6 * 60);
}

/// Labels: UTF-8 names and values are stored (Prometheus 3 allows any UTF-8 name); limits
/// are typed per-sample errors that leave the rest of the batch stored.
#[test]
fn label_validation_per_sample() {
    use crate::error::AppendError;
    use crate::labels::LabelError;
    let d = tempfile::tempdir().unwrap();
    let limits = LabelLimits { max_name_len: 20, max_value_len: 30, max_labels: 3 };
    let db = Db::open(d.path(), DbOptions { label_limits: limits, ..opts() }).unwrap();
    let utf8 = Labels::from_pairs([("__name__", "température.°C"), ("ключ", "значение ✓"), ("a b", "x")]);
    let mut app = db.appender();
    app.append(None, &utf8, 1, 1.0).unwrap();
    let long_name = Labels::from_pairs([("__name__", "m"), ("n".repeat(21).as_str(), "v")]);
    assert!(matches!(
        app.append(None, &long_name, 1, 1.0),
        Err(AppendError::InvalidLabels(LabelError::NameTooLong { .. }))
    ));
    let long_value = Labels::from_pairs([("__name__", "m"), ("a", "v".repeat(31).as_str())]);
    assert!(matches!(
        app.append(None, &long_value, 1, 1.0),
        Err(AppendError::InvalidLabels(LabelError::ValueTooLong { .. }))
    ));
    let many = Labels::from_pairs([("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]);
    assert!(matches!(
        app.append(None, &many, 1, 1.0),
        Err(AppendError::InvalidLabels(LabelError::TooManyLabels { .. }))
    ));
    let ok = Labels::from_pairs([("__name__", "m"), ("a", "1")]);
    app.append(None, &ok, 1, 2.0).unwrap();
    app.commit().unwrap();
    assert_eq!(count(&db, i64::MIN, i64::MAX), 2);
    db.close().unwrap();
    drop(db);
    let db = Db::open(d.path(), opts()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let got: Vec<Labels> =
        q.select(true, None, &[Matcher::equal("ключ", "значение ✓")]).unwrap().map(|s| s.unwrap().labels).collect();
    assert_eq!(got, [utf8]);
}
