//! Database tests: head persistence, crash leftovers, retention, metrics. The cross-path
//! equivalence checks live in `storage/tests/path_tester.rs`.

use super::*;
use crate::labels;
use crate::storage::Sample;
use crate::Labels;

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
