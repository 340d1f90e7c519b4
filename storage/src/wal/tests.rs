//! WAL tests: round trips, torn tails and corruption repair, multi-page and multi-segment
//! records, group commit, failures, checkpoints.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::labels::Labels;
use crate::reader::Interval;

const SMALL_SEGMENT: usize = 2 * PAGE_SIZE;

fn opts(segment_size: usize, fsync: FsyncPolicy) -> WalOptions {
    // Uncompressed: the framing tests reason about record sizes (see the compressed tests).
    WalOptions { segment_size, fsync, compression: false, registry: Some(Registry::new()) }
}

fn samples_record(n: usize, seed: u64) -> Record {
    Record::Samples(
        (0..n)
            .map(|i| RefSample {
                ref_: seed * 1000 + (i as u64 % 7),
                t: 1_000 * i as i64 + seed as i64,
                v: (i as f64) * 0.5 + seed as f64,
            })
            .collect(),
    )
}

fn series_record(refs: std::ops::Range<u64>) -> Record {
    Record::Series(
        refs.map(|r| RefSeries { ref_: r, labels: Labels::from_pairs([("__name__", "m"), ("i", &*r.to_string())]) })
            .collect(),
    )
}

fn replay_all(dir: &Path) -> (Vec<Record>, ReplayStats) {
    let mut out = Vec::new();
    let stats = replay(dir, &mut |r| {
        out.push(r);
        Ok(())
    })
    .unwrap();
    (out, stats)
}

fn log_all(wal: &Wal, recs: &[Record]) {
    for r in recs {
        wal.log_record(r).unwrap();
    }
}

/// Copies a WAL directory (segments and checkpoint dirs) for destructive tests.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn seg_path(dir: &Path, i: u32) -> std::path::PathBuf {
    dir.join(segment_name(i))
}

#[test]
fn wal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
}

#[test]
fn sync_is_a_durability_barrier() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let wal = Wal::open(
        dir.path(),
        WalOptions { registry: Some(registry.clone()), ..opts(SMALL_SEGMENT, FsyncPolicy::Never) },
    )
    .unwrap();
    wal.sync().unwrap();
    assert_eq!(registry.counter("tickdb_wal_fsyncs_total", "").get(), 0, "nothing to sync");
    wal.log_record(&samples_record(3, 1)).unwrap();
    wal.sync().unwrap();
    wal.sync().unwrap();
    assert_eq!(registry.counter("tickdb_wal_fsyncs_total", "").get(), 1);
}

#[test]
fn unsynced_logs_wait_for_the_next_fsync_even_with_always() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let wal = Wal::open(
        dir.path(),
        WalOptions { registry: Some(registry.clone()), ..opts(SMALL_SEGMENT, FsyncPolicy::Always) },
    )
    .unwrap();
    let fsyncs = || registry.counter("tickdb_wal_fsyncs_total", "").get();
    let rec = samples_record(3, 1).to_bytes();
    wal.log_unsynced(&[&rec]).unwrap();
    wal.log_unsynced(&[&rec]).unwrap();
    assert_eq!(fsyncs(), 0, "unsynced writes do not fsync");
    // The next synced write makes them durable with its own fsync.
    wal.log(&[&rec]).unwrap();
    assert_eq!(fsyncs(), 1);
    drop(wal);
    assert_eq!(replay_all(dir.path()).0.len(), 3);
}

#[test]
fn checkpoint_while_logging() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap());
    for i in 0..10 {
        wal.log_record(&samples_record(500, i)).unwrap();
    }
    let last = wal.cut_segment().unwrap() - 1;
    let writer = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for i in 10..60 {
                wal.log_record(&samples_record(500, i)).unwrap();
            }
        })
    };
    let stats = wal.checkpoint(last, &mut |r| Some(r.clone())).unwrap();
    writer.join().unwrap();
    assert_eq!(stats.records_read, 10);
    drop(wal);
    let (got, rs) = replay_all(dir.path());
    assert!(rs.corruption.is_none());
    assert_eq!(got, (0..60).map(|i| samples_record(500, i)).collect::<Vec<_>>());
}

#[test]
fn fsync_policy_parses() {
    fn check(s: &str, expected: Option<FsyncPolicy>) {
        assert_eq!(s.parse::<FsyncPolicy>().ok(), expected, "{s}");
    }
    check("always", Some(FsyncPolicy::Always));
    check("never", Some(FsyncPolicy::Never));
    check("interval:5s", Some(FsyncPolicy::Interval(Duration::from_secs(5))));
    check("interval:100ms", Some(FsyncPolicy::Interval(Duration::from_millis(100))));
    check("interval:2m", Some(FsyncPolicy::Interval(Duration::from_secs(120))));
    check("interval:0s", None);
    check("interval:5", None);
    check("interval:", None);
    check("interval:-1s", None);
    check("sometimes", None);
    check("", None);
    assert_eq!(FsyncPolicy::Interval(Duration::from_secs(5)).to_string(), "interval:5000ms");
}

#[test]
fn rejects_bad_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    for size in [0, 1000, PAGE_SIZE + 1] {
        assert!(Wal::open(dir.path(), opts(size, FsyncPolicy::Never)).is_err(), "{size}");
    }
}

#[test]
fn round_trip_and_reopen_appends_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![
        series_record(0..3),
        samples_record(10, 1),
        Record::Tombstones(vec![Stone { ref_: 2, intervals: vec![Interval { mint: 1, maxt: 5 }] }]),
    ];
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Always)).unwrap();
    assert_eq!(wal.segments(), (0, 0));
    log_all(&wal, &recs);
    wal.log(&[]).unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.log_record(&recs[0]), Err(Error::Closed)));
    drop(wal);

    let (got, stats) = replay_all(dir.path());
    assert_eq!(got, recs);
    assert_eq!((stats.records, stats.series, stats.samples, stats.tombstones), (3, 3, 10, 1));
    assert!(stats.corruption.is_none());

    let wal = Wal::open_after_replay(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never), &stats).unwrap();
    assert_eq!(wal.segments(), (0, 1));
    wal.log_record(&recs[1]).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 4);
    assert_eq!(stats.last_segment, Some(1));
}

#[test]
fn replay_of_missing_dir_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (got, stats) = replay_all(&dir.path().join("nope"));
    assert!(got.is_empty());
    assert_eq!(stats.records, 0);
}

#[test]
fn multi_page_records_span_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    // ~12 bytes a sample: 3000 ≈ 36 KB; 9000 ≈ 108 KB, larger than a whole segment.
    let recs: Vec<Record> =
        [3000, 3000, 9000, 10, 5000, 1].iter().enumerate().map(|(i, &n)| samples_record(n, i as u64)).collect();
    log_all(&wal, &recs);
    let (first, last) = wal.segments();
    assert_eq!(first, 0);
    assert!(last >= 3, "expected several segments, got {last}");
    drop(wal);
    // Every segment but the oversize one respects the size limit, and each closed segment is
    // a whole number of pages.
    for i in first..last {
        let len = fs::metadata(seg_path(dir.path(), i)).unwrap().len() as usize;
        assert_eq!(len % PAGE_SIZE, 0, "segment {i}");
    }
    let (got, stats) = replay_all(dir.path());
    assert!(stats.corruption.is_none());
    assert_eq!(got, recs);
}

/// Writes records; returns the dir and the byte range of the last record in the last segment.
fn wal_with_last_record(last_len: usize) -> (tempfile::TempDir, Vec<Record>, u32, u64, u64) {
    wal_with_last_record_in(last_len, false)
}

fn wal_with_last_record_in(last_len: usize, compression: bool) -> (tempfile::TempDir, Vec<Record>, u32, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions { compression, ..opts(4 * PAGE_SIZE, FsyncPolicy::Never) }).unwrap();
    let mut recs: Vec<Record> = (0..20).map(|i| samples_record(40, i)).collect();
    log_all(&wal, &recs);
    let last = samples_record(last_len, 99);
    // Start the last record on a fresh segment boundary-independent position.
    let (seg, start) = {
        let w = wal.shared.writer.lock();
        (w.seg.index, w.seg.len())
    };
    wal.log_record(&last).unwrap();
    let (seg2, end) = {
        let w = wal.shared.writer.lock();
        (w.seg.index, w.seg.len())
    };
    assert_eq!(seg, seg2);
    recs.push(last);
    drop(wal);
    (dir, recs, seg, start, end)
}

fn check_torn_at(src: &Path, recs: &[Record], seg: u32, start: u64, cut: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_dir(src, dir);
    let f = fs::OpenOptions::new().write(true).open(seg_path(dir, seg)).unwrap();
    f.set_len(cut).unwrap();
    drop(f);
    let n = recs.len() - 1;
    let (got, stats) = replay_all(dir);
    assert_eq!(got, recs[..n], "cut at {cut}");
    if cut > start {
        let c = stats.corruption.as_ref().unwrap_or_else(|| panic!("cut at {cut}: no corruption"));
        assert_eq!((c.segment, c.offset), (seg, start), "cut at {cut}: {}", c.what);
    } else {
        assert!(stats.corruption.is_none());
    }
    // Repair on open, then append: nothing earlier is lost and the new record follows.
    let registry = Registry::new();
    let wal =
        Wal::open(dir, WalOptions { registry: Some(registry.clone()), ..opts(4 * PAGE_SIZE, FsyncPolicy::Never) })
            .unwrap();
    assert_eq!(registry.counter("tickdb_wal_corruptions_total", "").get(), u64::from(cut > start));
    wal.log_record(&recs[0]).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir);
    assert!(stats.corruption.is_none(), "cut at {cut}: {:?}", stats.corruption);
    assert_eq!(got[..n], recs[..n]);
    assert_eq!(got[n..], recs[..1]);
}

/// The same with snappy-compressed records (the default): every cut of the last record loses
/// only that record, and the repaired log takes uncompressed records after compressed ones.
#[test]
fn torn_tail_of_a_compressed_record() {
    let (dir, recs, seg, start, end) = wal_with_last_record_in(3000, true);
    let raw = 3000 * 12;
    assert!(end - start < raw as u64 * 9 / 10, "compressed: {} bytes for ~{raw}", end - start);
    for cut in (start..end).step_by(97).chain([end - 1]) {
        check_torn_at(dir.path(), &recs, seg, start, cut);
    }
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let (dir, recs, seg, start, end) = wal_with_last_record(20);
    assert!(end - start > 200, "{start}..{end}");
    for cut in start..end {
        check_torn_at(dir.path(), &recs, seg, start, cut);
    }
}

#[test]
fn torn_tail_of_a_multi_page_record() {
    // A record of ~84 KB spans three or four pages; cut around every page boundary and at strides.
    let (dir, recs, seg, start, end) = wal_with_last_record(7000);
    assert!(end - start > 2 * PAGE_SIZE as u64);
    let mut cuts: Vec<u64> = (start..end).step_by(4099).collect();
    let first_page = start.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64;
    for b in (first_page..end).step_by(PAGE_SIZE) {
        cuts.extend([b - 1, b, b + 1, b + 6, b + 7, b + 8]);
    }
    cuts.push(end - 1);
    for cut in cuts.into_iter().filter(|&c| c >= start && c < end) {
        check_torn_at(dir.path(), &recs, seg, start, cut);
    }
}

#[test]
fn crc_flip_in_a_middle_page_truncates_there_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(4 * PAGE_SIZE, FsyncPolicy::Never)).unwrap();
    // ~1.2 KB records: many per page, several segments.
    let recs: Vec<Record> = (0..300).map(|i| samples_record(100, i)).collect();
    let mut ends = Vec::new();
    for r in &recs {
        wal.log_record(r).unwrap();
        let w = wal.shared.writer.lock();
        ends.push((w.seg.index, w.seg.len()));
    }
    assert!(wal.segments().1 >= 2);
    drop(wal);
    // Flip a byte in the middle of page 2 of segment 1.
    let off = PAGE_SIZE as u64 + PAGE_SIZE as u64 / 2;
    let p = seg_path(dir.path(), 1);
    let mut bytes = fs::read(&p).unwrap();
    bytes[off as usize] ^= 0x40;
    fs::write(&p, &bytes).unwrap();
    // Records wholly before the flipped byte survive.
    let good = ends.iter().take_while(|&&(s, e)| s < 1 || (s == 1 && e <= off)).count();
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got, recs[..good]);
    let c = stats.corruption.clone().unwrap();
    assert_eq!(c.segment, 1);
    assert!(c.what.contains("checksum"), "{}", c.what);

    let wal = Wal::open_after_replay(dir.path(), opts(4 * PAGE_SIZE, FsyncPolicy::Never), &stats).unwrap();
    assert_eq!(wal.segments(), (0, 2), "later segments deleted, new segment after the repaired one");
    wal.log_record(&recs[0]).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert!(stats.corruption.is_none());
    assert_eq!(got.len(), good + 1);
}

#[test]
fn open_scans_and_repairs_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    for i in 0..3 {
        wal.log_record(&samples_record(5, i)).unwrap();
        wal.cut_segment().unwrap();
    }
    drop(wal);
    fs::remove_file(seg_path(dir.path(), 1)).unwrap();
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 1);
    assert!(stats.corruption.unwrap().what.contains("missing segment"));
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    assert_eq!(wal.segments(), (0, 1));
}

#[test]
fn undecodable_record_stops_replay() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    wal.log_record(&samples_record(3, 1)).unwrap();
    wal.log(&[&[42u8, 1, 2, 3]]).unwrap();
    wal.log_record(&samples_record(3, 2)).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 1);
    assert!(stats.corruption.unwrap().what.contains("unknown record type 42"));
}

#[test]
fn other_prometheus_record_types_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    wal.log_record(&samples_record(3, 1)).unwrap();
    // An exemplar record and a metadata record, as a Prometheus WAL may hold.
    wal.log(&[&[4u8, 0, 0, 0, 0, 0, 0, 0, 1]]).unwrap();
    wal.log(&[&[6u8, 1, 2]]).unwrap();
    wal.log_record(&samples_record(3, 2)).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert_eq!(got.len(), 2);
    assert_eq!(stats.skipped_records, 2);
    assert!(stats.corruption.is_none());
}

#[test]
fn callback_errors_propagate() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    wal.log_record(&samples_record(3, 1)).unwrap();
    drop(wal);
    let r = replay(dir.path(), &mut |_| Err(Error::Other("stop".into())));
    assert!(matches!(r, Err(Error::Other(m)) if m == "stop"));
}

#[test]
fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let wal = Arc::new(
        Wal::open(
            dir.path(),
            WalOptions { registry: Some(registry.clone()), ..opts(SMALL_SEGMENT, FsyncPolicy::Always) },
        )
        .unwrap(),
    );
    const THREADS: usize = 4;
    const PER_THREAD: usize = 25;
    // The first leader waits until every thread has written its first batch, so that one
    // fsync must cover all of them (deterministic, no sleeps).
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let a = armed.clone();
    *wal.shared.fsync_hook.lock() = Some(Box::new(move |s: &Shared| {
        if a.swap(false, Ordering::SeqCst) {
            while s.writer.lock().seq < THREADS as u64 {
                std::thread::yield_now();
            }
        }
    }));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    wal.log_record(&samples_record(50, (t * 1000 + i) as u64)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let fsyncs = registry.counter("tickdb_wal_fsyncs_total", "").get();
    let writes = (THREADS * PER_THREAD) as u64;
    assert!(fsyncs < writes, "{fsyncs} fsyncs for {writes} writes");
    assert!(fsyncs >= 1);
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert!(stats.corruption.is_none());
    assert_eq!(got.len(), THREADS * PER_THREAD);
}

#[test]
fn failed_write_rolls_back_and_the_wal_continues() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    let wal = Wal::open(
        dir.path(),
        WalOptions { registry: Some(registry.clone()), ..opts(4 * PAGE_SIZE, FsyncPolicy::Always) },
    )
    .unwrap();
    let a = samples_record(100, 1);
    let b = samples_record(4000, 2); // ~48 KB: crosses pages
    let c = samples_record(10, 3);
    wal.log_record(&a).unwrap();
    let len = wal.shared.writer.lock().seg.len();
    wal.shared.writer.lock().seg.fail_writes_at = Some(len + PAGE_SIZE as u64);
    let err = wal.log_record(&b).unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert_eq!(registry.counter("tickdb_wal_writes_failed_total", "").get(), 1);
    assert_eq!(wal.shared.writer.lock().seg.len(), len, "rolled back");
    assert_eq!(fs::metadata(seg_path(dir.path(), 0)).unwrap().len(), len);
    assert!(!wal.is_failed());
    // Space is back.
    wal.shared.writer.lock().seg.fail_writes_at = None;
    wal.log_record(&c).unwrap();
    drop(wal);
    let (got, stats) = replay_all(dir.path());
    assert!(stats.corruption.is_none());
    assert_eq!(got, vec![a, c]);
}

#[test]
fn failed_fsync_marks_the_wal_failed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Always)).unwrap();
    wal.log_record(&samples_record(3, 1)).unwrap();
    wal.shared.fail_fsync.store(true, Ordering::Relaxed);
    assert!(wal.log_record(&samples_record(3, 2)).is_err());
    assert!(wal.is_failed());
    wal.shared.fail_fsync.store(false, Ordering::Relaxed);
    // Later writes are refused rather than reported durable.
    assert!(wal.log_record(&samples_record(3, 3)).is_err());
    assert!(wal.cut_segment().is_err());
}

#[test]
fn interval_and_never_policies_are_durable_after_close() {
    for policy in [FsyncPolicy::Interval(Duration::from_millis(5)), FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let wal = Wal::open(dir.path(), WalOptions { registry: Some(registry.clone()), ..opts(SMALL_SEGMENT, policy) })
            .unwrap();
        for i in 0..20 {
            wal.log_record(&samples_record(10, i)).unwrap();
        }
        wal.close().unwrap();
        assert!(registry.counter("tickdb_wal_fsyncs_total", "").get() >= 1);
        drop(wal);
        assert_eq!(replay_all(dir.path()).0.len(), 20);
    }
}

/// Keeps series with even refs and samples of even refs (rewriting sample records).
fn keep_even(r: &Record) -> Option<Record> {
    match r {
        Record::Series(s) => {
            let k: Vec<RefSeries> = s.iter().filter(|s| s.ref_ % 2 == 0).cloned().collect();
            (!k.is_empty()).then_some(Record::Series(k))
        }
        Record::Samples(s) => {
            let k: Vec<RefSample> = s.iter().filter(|s| s.ref_ % 2 == 0).copied().collect();
            (!k.is_empty()).then_some(Record::Samples(k))
        }
        Record::Tombstones(_) => None,
    }
}

#[test]
fn checkpoint_keeps_filtered_records_and_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    let mut expected = Vec::new();
    for i in 0..6u64 {
        let s = series_record(i * 4..i * 4 + 4);
        let smp = samples_record(30, i);
        let t = Record::Tombstones(vec![Stone { ref_: i, intervals: vec![Interval { mint: 0, maxt: 1 }] }]);
        for r in [&s, &smp, &t] {
            wal.log_record(r).unwrap();
            if let Some(k) = keep_even(r) {
                expected.push(k);
            }
        }
        wal.cut_segment().unwrap();
    }
    assert_eq!(wal.segments(), (0, 6));
    assert!(wal.checkpoint(6, &mut keep_even).is_err(), "active segment");
    let stats = wal.checkpoint(3, &mut keep_even).unwrap();
    assert_eq!((stats.index, stats.from_checkpoint, stats.segments_read, stats.records_read), (3, None, 4, 12));
    assert_eq!(stats.segments_deleted, 4);
    assert_eq!(wal.segments(), (4, 6));
    assert!(dir.path().join("checkpoint.00000003").is_dir());
    assert!(!seg_path(dir.path(), 3).exists());
    assert!(wal.checkpoint(3, &mut keep_even).is_err(), "already covered");

    // Newer records after the checkpoint.
    let newer = samples_record(5, 7);
    wal.log_record(&newer).unwrap();
    let (got, rs) = replay_all(dir.path());
    let kept_by_cp = expected.iter().take_while(|_| true).count();
    assert_eq!(rs.checkpoint, Some(3));
    // Checkpoint (filtered segments 0-3), then segments 4-6 unfiltered.
    let mut want: Vec<Record> = Vec::new();
    let mut n = 0;
    for i in 0..6u64 {
        let s = series_record(i * 4..i * 4 + 4);
        let smp = samples_record(30, i);
        let t = Record::Tombstones(vec![Stone { ref_: i, intervals: vec![Interval { mint: 0, maxt: 1 }] }]);
        for r in [s, smp, t] {
            if i <= 3 {
                if let Some(k) = keep_even(&r) {
                    want.push(k);
                    n += 1;
                }
            } else {
                want.push(r);
            }
        }
    }
    want.push(newer.clone());
    assert!(n <= kept_by_cp);
    assert_eq!(got, want);
    assert_eq!(stats.records_kept as usize, n);

    // A second checkpoint folds in the first and deletes it.
    wal.cut_segment().unwrap();
    let stats2 = wal.checkpoint(6, &mut |r| Some(r.clone())).unwrap();
    assert_eq!(stats2.from_checkpoint, Some(3));
    assert_eq!(stats2.checkpoints_deleted, 1);
    assert!(!dir.path().join("checkpoint.00000003").exists());
    let (got2, _) = replay_all(dir.path());
    assert_eq!(got2, want);

    // Reopen: the next segment follows the last one; replay unchanged.
    drop(wal);
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    assert_eq!(wal.segments(), (7, 8));
    drop(wal);
    assert_eq!(replay_all(dir.path()).0, want);
}

#[test]
fn open_cleans_interrupted_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    wal.log_record(&samples_record(3, 0)).unwrap();
    wal.cut_segment().unwrap();
    wal.log_record(&samples_record(3, 2)).unwrap();
    wal.cut_segment().unwrap();
    // Simulate a crash after the rename but before deleting segments, plus a stale .tmp.
    let _ = wal.checkpoint(0, &mut |r| Some(r.clone())).unwrap();
    drop(wal);
    fs::copy(seg_path(dir.path(), 1), seg_path(dir.path(), 0)).unwrap();
    fs::create_dir(dir.path().join("checkpoint.00000001.tmp")).unwrap();
    let (got, _) = replay_all(dir.path());
    assert_eq!(got.len(), 2, "segment 0 is covered by the checkpoint and skipped");
    let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
    assert_eq!(wal.segments().0, 1);
    assert!(!seg_path(dir.path(), 0).exists());
    assert!(!dir.path().join("checkpoint.00000001.tmp").exists());
}

/// Oracle: Prometheus (promtool 2.42's `tsdb dump`, which replays the WAL of a data dir) reads
/// our segments, including a record spanning pages and several segments. Skipped when promtool
/// is not installed (the project's test script installs it).
#[test]
fn promtool_replays_our_wal() {
    let Ok(out) = std::process::Command::new("promtool").arg("--version").output() else {
        eprintln!("promtool not found; skipping");
        return;
    };
    assert!(out.status.success());
    // Uncompressed and snappy-compressed (the default) records.
    for compression in [false, true] {
        promtool_replays_our_wal_with(compression);
    }
}

fn promtool_replays_our_wal_with(compression: bool) {
    let db = tempfile::tempdir().unwrap();
    let wal = Wal::open(&db.path().join("wal"), WalOptions { compression, ..opts(SMALL_SEGMENT, FsyncPolicy::Never) })
        .unwrap();
    let t0 = 1_763_770_000_000i64;
    let series = (1..=3u64).map(|r| RefSeries {
        ref_: r,
        labels: Labels::from_pairs([("__name__", "tick_test"), ("i", &*r.to_string())]),
    });
    wal.log_record(&Record::Series(series.collect())).unwrap();
    for k in 0..500i64 {
        wal.log_record(&Record::Samples(
            (1..=3u64).map(|r| RefSample { ref_: r, t: t0 + k * 1000, v: (k * r as i64) as f64 }).collect(),
        ))
        .unwrap();
    }
    let big = (0..5000i64).map(|k| RefSample { ref_: 3, t: t0 + 1_000_000 + k, v: 0.5 }).collect();
    wal.log_record(&Record::Samples(big)).unwrap();
    assert!(wal.segments().1 >= 1);
    drop(wal);
    let out = std::process::Command::new("promtool").arg("tsdb").arg("dump").arg(db.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3 * 500 + 5000);
    assert!(
        text.contains(&format!("{{__name__=\"tick_test\", i=\"2\"}} 998 {}", t0 + 499_000)),
        "{}",
        &text[..200.min(text.len())]
    );
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Raw records of any size (including empty and multi-page) in batches come back in order.
        #[test]
        fn framing_round_trip(sizes in prop::collection::vec(prop_oneof![0usize..64, 0usize..40_000, 60_000usize..140_000], 1..12)) {
            let dir = tempfile::tempdir().unwrap();
            let wal = Wal::open(dir.path(), opts(SMALL_SEGMENT, FsyncPolicy::Never)).unwrap();
            // Arbitrary bytes (not valid records): read back through the segment reader directly.
            let recs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect()).collect();
            for batch in recs.chunks(3) {
                let refs: Vec<&[u8]> = batch.iter().map(|r| r.as_slice()).collect();
                wal.log(&refs).unwrap();
            }
            drop(wal);
            let mut got = Vec::new();
            for (i, p) in segment::list_segments(dir.path()).unwrap() {
                let (_, c) = segment::read_segment(i, &p, &mut |r| {
                    got.push(r.to_vec());
                    Ok(segment::Step::Continue)
                })
                .unwrap();
                prop_assert!(c.is_none(), "{:?}", c);
            }
            prop_assert_eq!(got, recs);
        }
    }
}
