//! Head tests: appends, visibility, typed errors, chunks, out-of-order data, restart,
//! truncation, deletion and concurrency. Data is read back through the block-reader traits,
//! the way the querier and the compactor see the head.

use std::sync::Arc;

use super::*;
use crate::CommitStats;
use crate::chunkenc::decode_all;
use crate::labels;
use crate::reader::{BlockReader, ChunkMeta, ChunkReader, IndexReader, TombstoneReader};
use crate::storage::{Appender, STALE_NAN_BITS, SeriesRef, is_stale_nan};

type Dump = Vec<(String, Vec<(i64, u64)>)>;

fn mem_head() -> Arc<Head> {
    Head::open(HeadOptions::default()).unwrap()
}

fn ooo_head(window: i64) -> Arc<Head> {
    Head::open(HeadOptions { out_of_order_window: window, ..Default::default() }).unwrap()
}

fn disk_opts(dir: &std::path::Path) -> HeadOptions {
    HeadOptions { dir: Some(dir.to_path_buf()), ..Default::default() }
}

/// Every series with its samples (time, value bits) in `[mint, maxt]`, in label order, read
/// through the block-reader traits: overlapping chunks merged, tombstones applied.
fn dump_range(head: &Arc<Head>, mint: i64, maxt: i64) -> Dump {
    let r = head.range_reader(mint, maxt);
    let ix = r.index().unwrap();
    let cr = r.chunks().unwrap();
    let ts = r.tombstones().unwrap();
    let ids = ix.sorted_ids(&ix.all_postings().unwrap()).unwrap();
    let mut out = Vec::new();
    let mut metas: Vec<ChunkMeta> = Vec::new();
    for id in ids {
        let l = ix.series(id, &mut metas).unwrap();
        let dels = ts.intervals(id);
        let mut samples: Vec<(i64, u64)> = Vec::new();
        let mut last_in_order = i64::MIN;
        for m in &metas {
            let c = cr.chunk(m).unwrap();
            assert_eq!(c.encoding, 1);
            let decoded = decode_all(&c.bytes).unwrap();
            assert_eq!((decoded.first().unwrap().t, decoded.last().unwrap().t), (m.min_time, m.max_time), "{l}");
            if m.chunk_ref as u32 & series::OOO_CHUNK_BIT == 0 {
                // In-order chunks never overlap (no sample is stored twice).
                assert!(m.min_time > last_in_order, "{l}: overlapping in-order chunks {metas:?}");
                last_in_order = m.max_time;
            }
            for s in decoded {
                if s.t >= mint && s.t <= maxt && !dels.iter().any(|iv| iv.contains(s.t)) {
                    samples.push((s.t, s.v.to_bits()));
                }
            }
        }
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
        if !samples.is_empty() {
            out.push((l.to_string(), samples));
        }
    }
    out
}

fn dump(head: &Arc<Head>) -> Dump {
    dump_range(head, i64::MIN, i64::MAX)
}

fn series(name: &str, i: usize) -> Labels {
    labels! {"__name__" => name, "instance" => &*format!("host-{i}"), "job" => "test"}
}

/// Appends `(labels, t, v)` in one transaction and commits; returns the per-sample results.
fn append_all(head: &Arc<Head>, samples: &[(Labels, i64, f64)]) -> Vec<Result<SeriesRef, AppendError>> {
    let mut app = head.appender();
    let res = samples.iter().map(|(l, t, v)| app.append(None, l, *t, *v)).collect();
    app.commit().unwrap();
    res
}

fn expect(pairs: &[(&Labels, &[(i64, f64)])]) -> Dump {
    let mut v: Dump =
        pairs.iter().map(|(l, s)| (l.to_string(), s.iter().map(|(t, v)| (*t, v.to_bits())).collect())).collect();
    v.sort();
    v
}

#[test]
fn commit_makes_samples_visible_rollback_discards() {
    let head = mem_head();
    let a = series("up", 1);
    let b = series("up", 2);
    let mut app = head.appender();
    app.append(None, &a, 1000, 1.0).unwrap();
    app.append(None, &b, 1000, 2.0).unwrap();
    // Nothing is visible before commit, not even the series.
    assert!(dump(&head).is_empty());
    assert_eq!(head.num_series(), 0);
    let stats = app.commit().unwrap();
    assert_eq!(stats, CommitStats { samples: 2, series_created: 2 });
    assert_eq!(dump(&head), expect(&[(&a, &[(1000, 1.0)]), (&b, &[(1000, 2.0)])]));

    let c = series("down", 3);
    let mut app = head.appender();
    app.append(None, &a, 2000, 5.0).unwrap();
    app.append(None, &c, 2000, 5.0).unwrap();
    app.rollback().unwrap();
    // Rollback leaves neither samples nor series behind.
    assert_eq!(head.num_series(), 2);
    assert_eq!(HeadIndexReader::new(head.clone(), 0, 0).label_values("__name__").unwrap(), ["up"]);
    assert_eq!(dump(&head), expect(&[(&a, &[(1000, 1.0)]), (&b, &[(1000, 2.0)])]));
    // A dropped appender is a rollback too.
    let mut app = head.appender();
    app.append(None, &c, 2000, 5.0).unwrap();
    drop(app);
    assert_eq!(head.num_series(), 2);
}

#[test]
fn hints_skip_lookups_and_survive_staleness() {
    let head = mem_head();
    let a = series("up", 1);
    let mut app = head.appender();
    let pending = app.append(None, &a, 1, 1.0).unwrap();
    // The pending hint names the staged series within the same transaction.
    assert_eq!(app.append(Some(pending), &a, 2, 2.0).unwrap(), pending);
    app.commit().unwrap();
    let mut app = head.appender();
    // A pending hint from another appender is stale: the labels are used.
    let r = app.append(Some(pending), &a, 3, 3.0).unwrap();
    assert!(r.0 < u32::MAX as u64);
    // An unknown id is stale as well.
    assert_eq!(app.append(Some(SeriesRef(12345)), &a, 4, 4.0).unwrap(), r);
    assert_eq!(app.append(Some(r), &a, 5, 5.0).unwrap(), r);
    app.commit().unwrap();
    assert_eq!(dump(&head), expect(&[(&a, &[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0)])]));
}

#[test]
fn typed_errors_per_sample_rest_of_batch_stored() {
    let head = mem_head();
    let a = series("up", 1);
    let b = series("up", 2);
    append_all(&head, &[(a.clone(), 100, 1.0)]);
    head.set_min_valid_time(50);
    let bad_labels = Labels::from_pairs([("a", "1"), ("a", "2")]);
    let res = append_all(
        &head,
        &[
            (a.clone(), 90, 1.0),           // older than the newest sample
            (a.clone(), 100, 2.0),          // same time, other value
            (a.clone(), 100, 1.0),          // same time, same value: silently ignored
            (b.clone(), 10, 1.0),           // before the min valid time
            (bad_labels.clone(), 200, 1.0), // invalid labels
            (Labels::empty(), 200, 1.0),    // no labels at all
            (a.clone(), 110, 3.0),
            (b.clone(), 120, 4.0),
            (b.clone(), 115, 4.0), // out of order within the batch
            (b.clone(), 120, 5.0), // duplicate within the batch
        ],
    );
    let kinds: Vec<Option<AppendError>> = res.iter().map(|r| r.clone().err()).collect();
    assert_eq!(kinds[0], Some(AppendError::OutOfOrder));
    assert_eq!(kinds[1], Some(AppendError::DuplicateSampleForTimestamp));
    assert_eq!(kinds[2], None);
    assert_eq!(kinds[3], Some(AppendError::OutOfBounds));
    assert!(matches!(kinds[4], Some(AppendError::InvalidLabels(_))));
    assert!(matches!(kinds[5], Some(AppendError::InvalidLabels(_))));
    assert_eq!(
        &kinds[6..],
        &[None, None, Some(AppendError::OutOfOrder), Some(AppendError::DuplicateSampleForTimestamp)]
    );
    assert_eq!(dump(&head), expect(&[(&a, &[(100, 1.0), (110, 3.0)]), (&b, &[(120, 4.0)])]));
    let text = head.opts.registry.render();
    assert!(text.contains("tickdb_samples_rejected_total{reason=\"out_of_order\"} 2"), "{text}");
    assert!(text.contains("tickdb_samples_rejected_total{reason=\"duplicate\"} 2"), "{text}");
    assert!(text.contains("tickdb_samples_rejected_total{reason=\"too_old\"} 1"), "{text}");
    assert!(text.contains("tickdb_samples_appended_total 3"), "{text}");
    assert!(text.contains("tickdb_head_series 2"), "{text}");
}

#[test]
fn series_limit() {
    let head = Head::open(HeadOptions { max_series: 2, ..Default::default() }).unwrap();
    let res = append_all(
        &head,
        &[(series("a", 1), 1, 1.0), (series("a", 2), 1, 1.0), (series("a", 3), 1, 1.0), (series("a", 1), 2, 1.0)],
    );
    assert_eq!(res[2], Err(AppendError::TooManySeries));
    assert!(res[3].is_ok());
    assert_eq!(head.num_series(), 2);
}

#[test]
fn stale_nan_and_special_values_bit_exact() {
    let head = mem_head();
    let a = series("up", 1);
    let vals = [f64::from_bits(STALE_NAN_BITS), f64::NAN, -0.0, f64::INFINITY, f64::MIN_POSITIVE / 2.0, 1.5];
    let samples: Vec<(Labels, i64, f64)> = vals.iter().enumerate().map(|(i, v)| (a.clone(), i as i64, *v)).collect();
    assert!(append_all(&head, &samples).iter().all(|r| r.is_ok()));
    let d = dump(&head);
    let got: Vec<u64> = d[0].1.iter().map(|s| s.1).collect();
    assert_eq!(got, vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    assert!(is_stale_nan(f64::from_bits(got[0])));
    // A stale marker at the same timestamp as the same stale marker is a no-op, not a duplicate.
    assert!(append_all(&head, &[(a.clone(), 5, 1.5)])[0].is_ok());
}

fn chunk_metas(head: &Arc<Head>, l: &Labels) -> Vec<ChunkMeta> {
    let ix = HeadIndexReader::new(head.clone(), i64::MIN, i64::MAX);
    let id = ix.postings("instance", l.get("instance")).unwrap().min().unwrap();
    let mut metas = Vec::new();
    ix.series(id, &mut metas).unwrap();
    metas
}

#[test]
fn chunks_cut_at_120_and_at_range_boundary() {
    let head = mem_head();
    let a = series("up", 1);
    // 15s samples starting 5 minutes before a 2h boundary, for 2h10m.
    let start = DEFAULT_CHUNK_RANGE - 300_000;
    let samples: Vec<(Labels, i64, f64)> = (0..520).map(|i| (a.clone(), start + i * 15_000, i as f64)).collect();
    append_all(&head, &samples);
    let metas = chunk_metas(&head, &a);
    let sizes: Vec<i64> = metas.iter().map(|m| (m.max_time - m.min_time) / 15_000 + 1).collect();
    // 20 samples up to the boundary, then four chunks of 120 per 2h window, then the rest.
    assert_eq!(sizes, [20, 120, 120, 120, 120, 20]);
    assert_eq!(metas[1].min_time, DEFAULT_CHUNK_RANGE);
    assert_eq!(head.num_chunks(), 6);
    assert_eq!(dump(&head)[0].1.len(), 520);
}

#[test]
fn open_chunk_copy_is_a_snapshot() {
    let head = mem_head();
    let a = series("up", 1);
    append_all(&head, &[(a.clone(), 1, 1.0), (a.clone(), 2, 2.0)]);
    let metas = chunk_metas(&head, &a);
    append_all(&head, &[(a.clone(), 3, 3.0)]);
    let c = HeadChunkReader { head: head.clone() }.chunk(&metas[0]).unwrap();
    assert_eq!(decode_all(&c.bytes).unwrap().len(), 2);
}

#[test]
fn out_of_order_within_window_merged_outside_rejected() {
    let head = ooo_head(1000);
    let a = series("up", 1);
    let res = append_all(
        &head,
        &[
            (a.clone(), 5000, 5.0),
            (a.clone(), 4500, 4.5),
            (a.clone(), 3999, 0.0),
            (a.clone(), 4000, 4.0),
            (a.clone(), 6000, 6.0),
        ],
    );
    assert_eq!(res[2], Err(AppendError::OutOfOrder));
    assert!(res.iter().enumerate().all(|(i, r)| i == 2 || r.is_ok()));
    let res = append_all(
        &head,
        &[(a.clone(), 5500, 5.5), (a.clone(), 5200, 5.2), (a.clone(), 5200, 9.0), (a.clone(), 4999, 1.0)],
    );
    assert!(res[0].is_ok() && res[1].is_ok());
    assert_eq!(res[2], Err(AppendError::DuplicateSampleForTimestamp));
    assert_eq!(res[3], Err(AppendError::OutOfOrder));
    assert_eq!(
        dump(&head),
        expect(&[(&a, &[(4000, 4.0), (4500, 4.5), (5000, 5.0), (5200, 5.2), (5500, 5.5), (6000, 6.0)])])
    );
    // The out-of-order chunk overlaps the in-order one.
    let metas = chunk_metas(&head, &a);
    assert_eq!(metas.len(), 2);
    assert!(head.opts.registry.render().contains("tickdb_head_out_of_order_samples_appended_total 4"));
    // A range that only holds out-of-order samples.
    assert_eq!(dump_range(&head, 4000, 4600), expect(&[(&a, &[(4000, 4.0), (4500, 4.5)])]));
}

#[test]
fn truncate_drops_old_chunks_and_gcs_dead_series() {
    let head = mem_head();
    let old = series("old", 1);
    let live = series("live", 2);
    let mut samples: Vec<(Labels, i64, f64)> = (0..100).map(|i| (old.clone(), i * 15_000, 1.0)).collect();
    samples.extend((0..1000).map(|i| (live.clone(), i * 15_000, 2.0)));
    append_all(&head, &samples);
    assert_eq!(head.num_series(), 2);
    let mint = 500 * 15_000;
    head.truncate(mint).unwrap();
    assert_eq!(head.num_series(), 1);
    let ix = HeadIndexReader::new(head.clone(), i64::MIN, i64::MAX);
    assert!(ix.postings("__name__", "old").unwrap().is_empty());
    assert!(ix.postings("instance", "host-1").unwrap().is_empty());
    assert_eq!(ix.all_postings().unwrap().len(), 1);
    assert_eq!(ix.label_values("__name__").unwrap(), ["live"]);
    // The symbols of the dead series are freed.
    assert!(!ix.symbols().unwrap().contains(&"old".to_string()));
    let d = dump(&head);
    assert_eq!(d.len(), 1);
    // Whole chunks before mint are gone; the chunk holding mint stays.
    assert!(d[0].1[0].0 <= mint && d[0].1[0].0 > mint - 240 * 15_000);
    assert!(head.min_time() <= mint);
    // Samples before the truncation point are now out of bounds.
    assert_eq!(append_all(&head, &[(live.clone(), mint - 1, 1.0)])[0], Err(AppendError::OutOfBounds));
    // A dead series comes back as a new one.
    assert!(append_all(&head, &[(old.clone(), mint + 1, 1.0)])[0].is_ok());
    assert_eq!(head.num_series(), 2);
    let text = head.opts.registry.render();
    assert!(text.contains("tickdb_head_series_removed_total 1"), "{text}");
    assert!(text.contains("tickdb_head_series_created_total 3"), "{text}");
}

#[test]
fn delete_via_tombstones() {
    let head = mem_head();
    let a = series("up", 1);
    let b = series("up", 2);
    let samples: Vec<(Labels, i64, f64)> =
        (0..10).flat_map(|i| [(a.clone(), i * 10, i as f64), (b.clone(), i * 10, i as f64)]).collect();
    append_all(&head, &samples);
    head.delete(&[Matcher::equal("instance", "host-1")], 20, 49).unwrap();
    head.delete(&[Matcher::equal("instance", "host-1")], 50, 60).unwrap();
    let d = dump(&head);
    assert_eq!(d[0].1.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 10, 70, 80, 90]);
    assert_eq!(d[1].1.len(), 10);
    let ts = HeadTombstoneReader::new(&head);
    assert_eq!(ts.total(), 1);
    assert!(head.delete(&[Matcher::equal("job", "test")], 5, 1).is_err());
}

#[test]
fn add_interval_merges() {
    fn check(input: &[(i64, i64)], expected: &[(i64, i64)]) {
        let mut v = Vec::new();
        for &(a, b) in input {
            add_interval(&mut v, Interval { mint: a, maxt: b });
        }
        assert_eq!(v.iter().map(|i| (i.mint, i.maxt)).collect::<Vec<_>>(), expected);
    }
    check(&[(1, 2)], &[(1, 2)]);
    check(&[(1, 2), (3, 4)], &[(1, 4)]);
    check(&[(1, 2), (5, 6)], &[(1, 2), (5, 6)]);
    check(&[(5, 6), (1, 10)], &[(1, 10)]);
    check(&[(5, 6), (1, 2), (2, 5)], &[(1, 6)]);
}

#[test]
fn index_reader_labels_and_sorting() {
    let head = mem_head();
    let z = labels! {"__name__" => "z", "a" => "1"};
    let y = labels! {"__name__" => "y", "b" => "2"};
    let y2 = labels! {"__name__" => "y", "a" => "3"};
    append_all(&head, &[(z.clone(), 1, 1.0), (y.clone(), 1, 1.0), (y2.clone(), 1, 1.0)]);
    let ix = HeadIndexReader::new(head.clone(), i64::MIN, i64::MAX);
    assert_eq!(ix.label_names().unwrap(), ["__name__", "a", "b"]);
    assert_eq!(ix.label_values("__name__").unwrap(), ["y", "z"]);
    assert_eq!(ix.label_values("nope").unwrap(), Vec::<String>::new());
    assert_eq!(ix.symbols().unwrap(), ["1", "2", "3", "__name__", "a", "b", "y", "z"]);
    let ids = ix.sorted_ids(&ix.all_postings().unwrap()).unwrap();
    let mut m = Vec::new();
    let got: Vec<Labels> = ids.iter().map(|id| ix.series(*id, &mut m).unwrap()).collect();
    let mut want = vec![z, y, y2];
    want.sort();
    assert_eq!(got, want);
    let ids = crate::index::postings_for_matchers(&ix, &[Matcher::equal("__name__", "y")]).unwrap();
    assert_eq!(ids.len(), 2);
}

#[test]
fn stats_report_cardinality() {
    let head = mem_head();
    let mut samples = Vec::new();
    for i in 0..5 {
        samples.push((series("a", i), 1, 1.0));
    }
    samples.push((series("b", 0), 1, 1.0));
    append_all(&head, &samples);
    let s = head.stats(2);
    assert_eq!(s.num_series, 6);
    assert_eq!(s.chunk_count, 6);
    assert_eq!((s.min_time, s.max_time), (1, 1));
    let e = |name: &str, value| StatEntry { name: name.to_string(), value };
    assert_eq!(s.series_count_by_metric_name, [e("a", 5), e("b", 1)]);
    assert_eq!(s.label_value_count_by_label_name, [e("instance", 5), e("__name__", 2)]);
    assert_eq!(s.series_count_by_label_value_pair[0], e("job=test", 6));
    // 5 pairs of instance (host-0 twice), 2 of __name__, 1 of job.
    assert_eq!(s.num_label_pairs, 8);
    assert_eq!(s.memory_in_bytes_by_label_name[0], e("instance", 6 * 6));
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""seriesCountByMetricName":[{"name":"a","value":5},{"name":"b","value":1}]"#), "{json}");
}

#[test]
fn concurrent_appenders_from_two_threads() {
    let head = mem_head();
    let threads: Vec<_> = (0..2)
        .map(|th| {
            let head = head.clone();
            std::thread::spawn(move || {
                for batch in 0..20 {
                    let mut app = head.appender();
                    for i in 0..100 {
                        // Both threads write the same shared series and their own ones.
                        app.append(None, &series("shared", i), batch * 1000 + th, 1.0).ok();
                        app.append(None, &series(&format!("own{th}"), i), batch * 1000, batch as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(head.num_series(), 300);
    let d = dump(&head);
    assert_eq!(d.len(), 300);
    for (l, s) in &d {
        if l.contains("own") {
            assert_eq!(s.len(), 20, "{l}");
        } else {
            // Per batch, one or both threads' samples landed depending on the commit order.
            assert!(s.len() >= 20 && s.windows(2).all(|w| w[0].0 < w[1].0), "{l}");
        }
    }
}

// ---- restart: WAL + head chunk files ----

fn workload(head: &Arc<Head>, n_series: usize, n_samples: i64, t0: i64) {
    for batch in 0..n_samples / 50 {
        let mut app = head.appender();
        for s in 0..n_series {
            for k in 0..50 {
                let i = batch * 50 + k;
                let v = if i % 97 == 0 { f64::from_bits(STALE_NAN_BITS) } else { (i * s as i64) as f64 / 3.0 };
                app.append(None, &series("m", s), t0 + i * 15_000, v).unwrap();
            }
        }
        app.commit().unwrap();
    }
}

#[test]
fn restart_replays_wal_and_head_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(HeadOptions { out_of_order_window: 3_600_000, ..disk_opts(dir.path()) }).unwrap();
    workload(&head, 5, 400, 0);
    // Some out-of-order samples and a deletion.
    // (the last one falls in the time range of a chunk already written to the chunk files)
    let res = append_all(
        &head,
        &[
            (series("m", 0), 399 * 15_000 - 7, 7.0),
            (series("m", 1), 398 * 15_000 - 3, 3.0),
            (series("m", 3), 5_000_003, 9.0),
        ],
    );
    assert!(res.iter().all(|r| r.is_ok()));
    head.delete(&[Matcher::equal("instance", "host-2")], 0, 100_000).unwrap();
    let before = dump(&head);
    let metas_before: Vec<Vec<ChunkMeta>> = (0..5).map(|i| chunk_metas(&head, &series("m", i))).collect();
    assert!(head.chunks.disk.as_ref().unwrap().num_files() >= 1);
    drop(head);
    let head = Head::open(HeadOptions { out_of_order_window: 3_600_000, ..disk_opts(dir.path()) }).unwrap();
    assert_eq!(dump(&head), before);
    // The same chunks, cut at the same places: mapped ones read back, the open one rebuilt.
    let metas_after: Vec<Vec<ChunkMeta>> = (0..5).map(|i| chunk_metas(&head, &series("m", i))).collect();
    assert_eq!(metas_after, metas_before);
    assert_eq!(head.num_series(), 5);
    // Appending continues where it left off.
    assert_eq!(
        append_all(&head, &[(series("m", 0), 399 * 15_000, 1.0)])[0],
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    assert!(append_all(&head, &[(series("m", 0), 400 * 15_000, 1.0)])[0].is_ok());
    let before = dump(&head);
    drop(head);
    let head = Head::open(HeadOptions { out_of_order_window: 3_600_000, ..disk_opts(dir.path()) }).unwrap();
    assert_eq!(dump(&head), before);
}

#[test]
fn unsynced_commits_are_visible_at_once_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    let a = series("rule", 1);
    let mut app = head.appender();
    app.append(None, &a, 1000, 1.5).unwrap();
    assert_eq!(app.commit_unsynced().unwrap(), CommitStats { samples: 1, series_created: 1 });
    assert_eq!(dump(&head), expect(&[(&a, &[(1000, 1.5)])]));
    let before = dump(&head);
    drop(head);
    let head = Head::open(disk_opts(dir.path())).unwrap();
    assert_eq!(dump(&head), before);
}

#[test]
fn restart_after_truncate_uses_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    workload(&head, 3, 1000, 0);
    append_all(&head, &[(series("gone", 1), 10, 1.0)]);
    let mint = 500 * 15_000;
    head.truncate(mint).unwrap();
    workload(&head, 3, 100, 1000 * 15_000);
    let before = dump_range(&head, mint, i64::MAX);
    drop(head);
    // As the database does: the newest block's max time bounds what is replayed.
    let head = Head::open(HeadOptions { min_valid_time: mint, ..disk_opts(dir.path()) }).unwrap();
    assert_eq!(dump_range(&head, mint, i64::MAX), before);
    assert_eq!(head.num_series(), 3);
    assert_eq!(head.min_valid_time(), mint);
    // Only the checkpoint and the segments after it remain.
    let wal_entries: Vec<String> = std::fs::read_dir(dir.path().join(WAL_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(wal_entries.iter().any(|n| n.starts_with("checkpoint.")), "{wal_entries:?}");
}

#[test]
fn corrupt_head_chunks_fall_back_to_wal() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    workload(&head, 3, 600, 0);
    let before = dump(&head);
    drop(head);
    let chunks_dir = dir.path().join(CHUNKS_HEAD_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&chunks_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut b = std::fs::read(&files[0]).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&files[0], &b).unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    assert_eq!(dump(&head), before);
}

#[test]
fn torn_wal_tail_keeps_committed_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    let a = series("up", 1);
    append_all(&head, &[(a.clone(), 1, 1.0)]);
    append_all(&head, &[(a.clone(), 2, 2.0)]);
    drop(head);
    let wal_dir = dir.path().join(WAL_DIR);
    let mut segs: Vec<_> =
        std::fs::read_dir(&wal_dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    segs.sort();
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    // Cut the last record in half.
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    let head = Head::open(disk_opts(dir.path())).unwrap();
    assert_eq!(dump(&head), expect(&[(&a, &[(1, 1.0)])]));
    // The head keeps working after the repair.
    assert!(append_all(&head, &[(a.clone(), 3, 3.0)])[0].is_ok());
    drop(head);
    let head = Head::open(disk_opts(dir.path())).unwrap();
    assert_eq!(dump(&head), expect(&[(&a, &[(1, 1.0), (3, 3.0)])]));
}

#[test]
fn hash_shard_collisions() {
    let mut s = HashShard::default();
    s.insert(7, 1);
    s.insert(7, 2);
    s.insert(7 | (1 << 40), 3); // same low 32 bits
    s.insert(8, 4);
    let c = |s: &HashShard, h: u64| s.candidates(h).collect::<Vec<_>>();
    assert_eq!(c(&s, 7), [1, 2, 3]);
    s.remove(7, 1);
    assert_eq!(c(&s, 7), [3, 2]);
    s.remove(7, 2);
    s.remove(7, 3);
    assert!(c(&s, 7).is_empty());
    assert!(s.collisions.is_empty());
    assert_eq!(c(&s, 8), [4]);
}

#[test]
fn thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Head>();
    send_sync::<HeadRangeReader>();
    send::<HeadAppender>();
}

#[test]
fn series_slot_is_small() {
    // Per-series memory matters: keep the slot within 144 bytes.
    assert!(std::mem::size_of::<parking_lot::Mutex<Option<MemSeries>>>() <= 144);
}

/// Writes `records` as a WAL in `dir` (as a previous run would have).
fn write_wal(dir: &std::path::Path, records: &[crate::wal::Record]) {
    let wal = Wal::open(&dir.join(WAL_DIR), crate::wal::WalOptions::default()).unwrap();
    for r in records {
        wal.log_record(r).unwrap();
    }
    wal.close().unwrap();
}

#[test]
fn replay_handles_record_order_and_unknown_refs() {
    use crate::wal::{Record, RefSample, RefSeries, Stone};
    let dir = tempfile::tempdir().unwrap();
    let a = series("up", 1);
    let b = series("up", 2);
    write_wal(
        dir.path(),
        &[
            // Samples of a series whose record comes later (two concurrent commits).
            Record::Samples(vec![RefSample { ref_: 7, t: 10, v: 1.0 }, RefSample { ref_: 7, t: 20, v: 2.0 }]),
            Record::Series(vec![RefSeries { ref_: 7, labels: a.clone() }, RefSeries { ref_: 9, labels: b.clone() }]),
            // Samples of a series that never gets a record are dropped.
            Record::Samples(vec![RefSample { ref_: 8, t: 10, v: 1.0 }, RefSample { ref_: 9, t: 10, v: 5.0 }]),
            // A second record for the same labels under another ref maps onto the first.
            Record::Series(vec![RefSeries { ref_: 11, labels: a.clone() }]),
            Record::Samples(vec![RefSample { ref_: 11, t: 30, v: 3.0 }, RefSample { ref_: 7, t: 15, v: 9.0 }]),
            Record::Tombstones(vec![Stone { ref_: 9, intervals: vec![Interval { mint: 10, maxt: 10 }] }]),
        ],
    );
    let head = Head::open(disk_opts(dir.path())).unwrap();
    // t=15 was out of order when written (after t=20): it comes back as such.
    assert_eq!(dump(&head), expect(&[(&a, &[(10, 1.0), (15, 9.0), (20, 2.0), (30, 3.0)])]));
    assert_eq!(head.num_series(), 2);
    // New series continue after the highest replayed id.
    append_all(&head, &[(series("up", 3), 40, 1.0)]);
    let ix = HeadIndexReader::new(head.clone(), i64::MIN, i64::MAX);
    assert_eq!(ix.postings("instance", "host-3").unwrap().iter().collect::<Vec<_>>(), [12]);
}

#[test]
fn concurrent_appenders_with_wal_replay_identically() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(disk_opts(dir.path())).unwrap();
    // Both threads work on the same batch at a time, so their shared samples never conflict.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|th| {
            let head = head.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                for batch in 0..30i64 {
                    barrier.wait();
                    let mut app = head.appender();
                    for i in 0..50 {
                        // Both threads create and write the same series with the same samples
                        // (the second write of a sample is a no-op), and their own series.
                        app.append(None, &series("shared", i), batch * 1000, batch as f64).unwrap();
                        app.append(None, &series(&format!("own{th}"), i), batch * 1000, i as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let before = dump(&head);
    assert_eq!(before.len(), 150);
    assert!(before.iter().all(|(_, s)| s.len() == 30));
    drop(head);
    let head = Head::open(disk_opts(dir.path())).unwrap();
    assert_eq!(dump(&head), before);
}

/// Two appenders stage samples for one series, both valid when staged; the later timestamp
/// commits first. The earlier one is acknowledged too, so it must be stored (in the out-of-order
/// buffer, even with no out-of-order window), as WAL replay would store it.
#[test]
fn commit_that_loses_a_race_keeps_its_acknowledged_samples() {
    let head = mem_head();
    let l = series("raced", 0);
    let mut setup = head.appender();
    setup.append(None, &l, 0, 0.0).unwrap();
    setup.commit().unwrap();
    let mut slow = head.appender();
    let mut fast = head.appender();
    slow.append(None, &l, 10, 1.0).unwrap();
    fast.append(None, &l, 20, 2.0).unwrap();
    assert_eq!(fast.commit().unwrap().samples, 1);
    assert_eq!(slow.commit().unwrap().samples, 1, "the acknowledged sample is stored");
    let d = dump(&head);
    assert_eq!(d.len(), 1);
    let want: Vec<(i64, u64)> = [(0, 0.0f64), (10, 1.0), (20, 2.0)].iter().map(|(t, v)| (*t, v.to_bits())).collect();
    assert_eq!(d[0].1, want);
}

/// Compacting memory copies every open chunk and label set: nothing read back changes, and
/// appends continue the same chunks bit for bit (compared with a head that never compacted).
#[test]
fn compact_memory_keeps_every_sample_and_chunk() {
    let (head, control) = (mem_head(), mem_head());
    workload(&head, 7, 150, 0);
    workload(&control, 7, 150, 0);
    // Series with and without an open chunk, and with many labels.
    let many = Labels::from_pairs((0..40).map(|i| (format!("l{i:02}"), format!("v{}", i * 1000))));
    for h in [&head, &control] {
        append_all(h, &[(many.clone(), 5, 1.5)]);
    }
    assert_eq!(head.compact_memory(), 8);
    assert_eq!(dump(&head), dump(&control));
    workload(&head, 7, 100, 150 * 15_000);
    workload(&control, 7, 100, 150 * 15_000);
    assert_eq!(head.compact_memory(), 8);
    assert_eq!(dump(&head), dump(&control));
    for i in 0..7 {
        assert_eq!(chunk_metas(&head, &series("m", i)), chunk_metas(&control, &series("m", i)));
    }
    assert_eq!(head.series_labels(head.lookup(&many, many.hash64()).unwrap()), Some(many));
}
