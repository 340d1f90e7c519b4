//! Tests of the whole log: reopen, rotation, torn tails, failed writes, concurrency, search
//! against a brute-force filter, and the tamper suite against `verify`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;

use super::*;

/// Injected I/O failures (the next N writes or fdatasyncs fail).
#[derive(Default)]
pub struct Faults {
    pub fail_writes: u32,
    pub fail_syncs: u32,
}

impl Faults {
    pub fn before_write(&mut self) -> io::Result<()> {
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }
    pub fn before_sync(&mut self) -> io::Result<()> {
        if self.fail_syncs > 0 {
            self.fail_syncs -= 1;
            return Err(io::Error::other("injected fdatasync failure"));
        }
        Ok(())
    }
}

const T0: i64 = 1_765_000_000_000;

/// A clock that advances by `step` ms on every call.
fn ticking(step: i64) -> Clock {
    let t = Arc::new(AtomicI64::new(T0));
    Arc::new(move || t.fetch_add(step, Ordering::Relaxed))
}

fn opts(segment_bytes: u64) -> AuditOptions {
    AuditOptions { segment_bytes, fsync: true }
}

fn rec(i: usize) -> Record {
    let actors = ["alice", "bob", "carol", "dave"];
    let actions = ["rule.update", "token.create", "auth.failure", "silence.create", "rule.delete"];
    Record {
        actor: actors[i % actors.len()].into(),
        role: if i % 4 == 3 { "viewer".into() } else { "admin".into() },
        source_ip: format!("10.0.{}.{}", i / 256, i % 256),
        user_agent: "curl/8.5.0".into(),
        action: actions[i % actions.len()].into(),
        target: format!("group-{}", i % 7),
        before: i
            .is_multiple_of(3)
            .then(|| json!({"expr": format!("up == {i}"), "for": "5m", "labels": {"z": 1, "a": [i, "x"]}})),
        after: i
            .is_multiple_of(2)
            .then(|| json!({"expr": format!("up == {}", i + 1), "note": "quote \" and \\ and é"})),
        justification: i.is_multiple_of(5).then(|| format!("ticket OPS-{i}")),
        result: if i.is_multiple_of(11) { "refused: role viewer".into() } else { "ok".into() },
    }
}

fn assert_verifies(dir: &Path, entries: u64) {
    let r = verify(dir, None).unwrap();
    assert_eq!(r.first_error, None);
    assert_eq!(r.entries, entries);
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    list_segments(dir).unwrap().into_iter().map(|(_, p)| p).collect()
}

#[test]
fn append_reopen_continue() {
    let dir = tempfile::tempdir().unwrap();
    // The clock goes backwards at times: time_ms must not.
    let times = Arc::new(Mutex::new(vec![T0 + 50, T0 + 10, T0 + 60, T0, T0 + 60, T0 + 70].into_iter()));
    let clock: Clock = Arc::new(move || times.lock().next().unwrap_or(T0 + 100));
    let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), clock).unwrap();
    assert_eq!((log.len(), log.anchor().id, log.anchor().hash.as_str()), (0, 0, GENESIS_HASH));
    let first: Vec<Entry> = (0..3).map(|i| log.append(rec(i)).unwrap()).collect();
    assert_eq!(first.iter().map(|e| (e.id, e.time_ms)).collect::<Vec<_>>(), [(1, T0 + 50), (2, T0 + 50), (3, T0 + 60)]);
    assert_eq!(first[0].prev_hash, GENESIS_HASH);
    assert_eq!(first[1].prev_hash, first[0].hash);
    assert_eq!(first[1].time, "2025-12-06T05:46:40.050Z");
    assert_eq!(log.anchor(), Anchor { id: 3, hash: first[2].hash.clone(), time: first[2].time.clone() });
    drop(log);

    let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), Arc::new(|| T0)).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log.anchor().hash, first[2].hash);
    let e = log.append(rec(3)).unwrap();
    assert_eq!((e.id, e.time_ms, e.prev_hash.as_str()), (4, T0 + 60, first[2].hash.as_str()));
    drop(log);
    assert_verifies(dir.path(), 4);
    let text = std::fs::read_to_string(dir.path().join("audit-00000001.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.ends_with('\n'));
}

#[test]
fn one_writer_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), opts(1 << 20)).unwrap();
    assert!(matches!(AuditLog::open(dir.path(), opts(1 << 20)), Err(AuditError::Locked(_))));
    // Readers need no lock.
    assert_eq!(open_read_only(dir.path()).unwrap().len(), 0);
    drop(log);
    AuditLog::open(dir.path(), opts(1 << 20)).unwrap();
}

#[test]
fn rotates_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(2000), ticking(1)).unwrap();
    for i in 0..40 {
        log.append(rec(i)).unwrap();
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "{files:?}");
    for f in &files[..files.len() - 1] {
        let len = std::fs::metadata(f).unwrap().len();
        // A segment ends with the batch that made it reach the limit (one entry here).
        assert!((2000..2000 + 1000).contains(&len), "{}: {len}", f.display());
    }
    drop(log);
    let log = AuditLog::open_with_clock(dir.path(), opts(2000), ticking(1)).unwrap();
    assert_eq!(log.append(rec(40)).unwrap().id, 41);
    let all = log.search(&Query { limit: 1000, ..Query::default() }).unwrap();
    assert_eq!(all.entries.iter().map(|e| e.id).collect::<Vec<_>>(), (1..=41).rev().collect::<Vec<_>>());
    assert_verifies(dir.path(), 41);
}

#[test]
fn repairs_a_torn_tail() {
    // (what is appended to a good log of 5 entries, whether open must truncate it)
    let good = {
        let e = Entry::seal(rec(99), 6, T0 + 10, GENESIS_HASH);
        e.to_line()
    };
    let cases: Vec<(String, bool)> = vec![
        (good[..good.len() / 2].to_string(), true),
        (good.clone(), true),               // complete but no newline: never acknowledged
        ("\0\0\0\0\0\0".to_string(), true), // zero-filled tail
        ("{\"id\":6,garbage\n".to_string(), true),
        (String::new(), false),
    ];
    for (tail, torn) in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), ticking(1)).unwrap();
        for i in 0..5 {
            log.append(rec(i)).unwrap();
        }
        drop(log);
        let seg = dir.path().join(segment_name(1));
        let len = std::fs::metadata(&seg).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        io::Write::write_all(&mut f, tail.as_bytes()).unwrap();
        drop(f);
        if torn {
            assert!(verify(dir.path(), None).unwrap().first_error.is_some(), "{tail:?}");
        }
        let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), ticking(1)).unwrap();
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), len, "{tail:?}");
        assert_eq!(log.len(), 5);
        assert_eq!(log.append(rec(5)).unwrap().id, 6);
        drop(log);
        assert_verifies(dir.path(), 6);
    }
}

#[test]
fn refuses_to_open_a_broken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), ticking(1)).unwrap();
    for i in 0..5 {
        log.append(rec(i)).unwrap();
    }
    drop(log);
    let seg = dir.path().join(segment_name(1));
    let text = std::fs::read_to_string(&seg).unwrap();
    let changed = text.replacen("\"actor\":\"bob\"", "\"actor\":\"eve\"", 1);
    std::fs::write(&seg, changed).unwrap();
    match AuditLog::open(dir.path(), opts(1 << 20)) {
        Err(AuditError::Corrupt(e)) => assert_eq!((e.line, e.id), (2, 2), "{e}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a tampered log"),
    }
}

#[test]
fn a_failed_write_or_sync_consumes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), ticking(1)).unwrap();
    log.append(rec(0)).unwrap();
    let seg = dir.path().join(segment_name(1));
    let len = std::fs::metadata(&seg).unwrap().len();
    for (writes, syncs) in [(1, 0), (0, 1)] {
        *log.faults.lock() = Faults { fail_writes: writes, fail_syncs: syncs };
        let err = log.append(rec(1)).unwrap_err();
        assert!(matches!(err, AuditError::Io { .. }), "{err}");
        assert_eq!(log.len(), 1);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), len, "the failed batch is truncated away");
    }
    let e = log.append(rec(1)).unwrap();
    assert_eq!(e.id, 2);
    drop(log);
    assert_verifies(dir.path(), 2);
}

#[test]
fn a_failed_batch_fails_every_caller() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(1 << 20), ticking(1)).unwrap();
    // Fill a batch by hand: three callers queued behind a leader that fails.
    let slots: Vec<ResultSlot> = (0..3).map(|_| Arc::new(Mutex::new(None))).collect();
    log.faults.lock().fail_syncs = 1;
    log.commit((0..3).map(|i| (rec(i), slots[i].clone())).collect());
    for s in &slots {
        assert!(matches!(s.lock().take(), Some(Err(AuditError::Io { .. }))));
    }
    assert_eq!(log.len(), 0);
    assert_eq!(log.append(rec(0)).unwrap().id, 1);
}

#[test]
fn concurrent_appenders_get_contiguous_ids() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(64 << 10), ticking(1)).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || (0..500).map(|i| log.append(rec(t * 1000 + i)).unwrap().id).collect::<Vec<_>>())
        })
        .collect();
    let mut ids: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=4000).collect::<Vec<_>>());
    assert_eq!(log.len(), 4000);
    drop(log);
    assert_verifies(dir.path(), 4000);
}

/// Every query answers what a brute-force filter over all entries answers, in pages.
#[test]
fn search_matches_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(10)).unwrap();
    let all: Vec<Entry> = (0..300).map(|i| log.append(rec(i)).unwrap()).collect();
    let s = |v: &str| Some(v.to_string());
    let queries = [
        Query::default(),
        Query { actor: s("alice"), ..Query::default() },
        Query { action: s("auth.failure"), ..Query::default() },
        Query { target: s("group-3"), ..Query::default() },
        Query { actor: s("bob"), action: s("token.create"), ..Query::default() },
        Query { actor: s("alice"), target: s("group-0"), action: s("rule.update"), ..Query::default() },
        Query { actor: s("nobody"), ..Query::default() },
        Query { from_ms: Some(T0 + 500), to_ms: Some(T0 + 1500), ..Query::default() },
        Query { from_ms: Some(T0 + 2000), actor: s("carol"), ..Query::default() },
        Query { to_ms: Some(T0 + 995), ..Query::default() },
        Query { text: s("OPS-1"), ..Query::default() },
        Query { text: s("refused"), actor: s("dave"), ..Query::default() },
        Query { text: s("no such text"), ..Query::default() },
    ];
    for q in queries {
        let want: Vec<u64> = all
            .iter()
            .rev()
            .filter(|e| q.actor.as_ref().is_none_or(|v| *v == e.actor))
            .filter(|e| q.action.as_ref().is_none_or(|v| *v == e.action))
            .filter(|e| q.target.as_ref().is_none_or(|v| *v == e.target))
            .filter(|e| q.from_ms.is_none_or(|t| e.time_ms >= t) && q.to_ms.is_none_or(|t| e.time_ms <= t))
            .filter(|e| q.text.as_ref().is_none_or(|t| e.to_line().contains(t.as_str())))
            .map(|e| e.id)
            .collect();
        let one = log.search(&Query { limit: 1000, ..q.clone() }).unwrap();
        assert_eq!(one.entries.iter().map(|e| e.id).collect::<Vec<_>>(), want, "{q:?}");
        assert_eq!(one.next_before_id, None);
        if q.text.is_none() {
            assert_eq!(one.total_matched, Some(want.len() as u64), "{q:?}");
        }
        for e in &one.entries {
            assert_eq!(e, &all[e.id as usize - 1]);
        }
        // Pages of 7.
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let page = log.search(&Query { limit: 7, before_id: cursor, ..q.clone() }).unwrap();
            assert!(page.entries.len() <= 7);
            got.extend(page.entries.iter().map(|e| e.id));
            match page.next_before_id {
                Some(c) => {
                    assert_eq!(page.entries.len(), 7);
                    cursor = Some(c);
                }
                None => break,
            }
        }
        assert_eq!(got, want, "paged {q:?}");
    }
    assert!(matches!(
        log.search(&Query { limit: MAX_LIMIT + 1, ..Query::default() }),
        Err(AuditError::InvalidQuery(_))
    ));
    assert_eq!(log.search(&Query { limit: 0, ..Query::default() }).unwrap().entries.len(), DEFAULT_LIMIT);
}

#[test]
fn read_only_export_is_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(4 << 10), ticking(10)).unwrap();
    for i in 0..50 {
        log.append(rec(i)).unwrap();
    }
    drop(log);
    let ro = open_read_only(dir.path()).unwrap();
    let mut ids = Vec::new();
    ro.for_each(&Query { actor: Some("bob".into()), ..Query::default() }, |e| {
        ids.push(e.id);
        Ok(())
    })
    .unwrap();
    assert_eq!(ids, (0..50).filter(|i| i % 4 == 1).map(|i| i + 1).collect::<Vec<u64>>());
    assert!(matches!(ro.append(rec(0)), Err(AuditError::Poisoned(_))));
}

// ---- the tamper suite ----

/// A log of 200 entries over several segments; returns the segment files.
fn tamper_log(dir: &Path) -> (Vec<PathBuf>, Anchor) {
    let log = AuditLog::open_with_clock(dir, opts(32 << 10), ticking(7)).unwrap();
    for i in 0..200 {
        log.append(rec(i)).unwrap();
    }
    let anchor = log.anchor();
    drop(log);
    let files = segment_files(dir);
    assert!(files.len() >= 3, "{files:?}");
    (files, anchor)
}

/// (file, line number, id) of every line, and the byte range of each line in its file.
fn line_map(files: &[PathBuf]) -> Vec<(PathBuf, u64, u64, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut id = 0;
    for f in files {
        let buf = std::fs::read(f).unwrap();
        for l in lines(&buf) {
            id += 1;
            let start = l.offset as usize;
            // The newline belongs to its line.
            out.push((f.clone(), l.number, id, start..start + l.bytes.len() + 1));
        }
    }
    out
}

fn expect_broken(dir: &Path, anchor: Option<&Anchor>, file: &Path, line: u64, id: u64, what: &str) {
    let r = verify(dir, anchor).unwrap();
    let e = r.first_error.unwrap_or_else(|| panic!("{what}: not detected"));
    assert_eq!((e.file.as_path(), e.line, e.id), (file, line, id), "{what}: {e}");
    assert_eq!(r.entries, id - 1, "{what}");
}

#[test]
fn tamper_single_byte_flips_are_detected_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = tamper_log(dir.path());
    let map = line_map(&files);
    // Positions: every 53rd byte of every file, plus bytes inside chosen fields of some lines.
    let mut positions: Vec<(usize, usize)> = Vec::new(); // (map index, offset in line)
    for (mi, (_, _, _, r)) in map.iter().enumerate() {
        for off in 0..r.len() {
            if (r.start + off) % 53 == 0 {
                positions.push((mi, off));
            }
        }
    }
    let contents: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for mi in [0usize, 1, 57, 99, 100, 150, 198, 199] {
        let (f, _, _, r) = &map[mi];
        let buf = &contents[files.iter().position(|x| x == f).unwrap()];
        let line = std::str::from_utf8(&buf[r.clone()]).unwrap();
        for field in [
            "\"hash\":\"",
            "\"prev_hash\":\"",
            "\"id\":",
            "\"time_ms\":",
            "\"actor\":\"",
            "\"expr\":\"",
            "\"note\":\"",
            "\"result\":\"",
        ] {
            if let Some(p) = line.find(field) {
                positions.push((mi, p + field.len() + 1));
                positions.push((mi, p + 2)); // the key itself
            }
        }
        positions.push((mi, r.len() - 1)); // the newline
        positions.push((mi, r.len() - 2)); // the closing brace
    }
    assert!(positions.len() >= 100, "{}", positions.len());
    for (mi, off) in positions {
        let (file, line, id, r) = &map[mi];
        let orig = std::fs::read(file).unwrap();
        for flip in [0x01u8, 0x20, 0x80] {
            let mut bad = orig.clone();
            bad[r.start + off] ^= flip;
            std::fs::write(file, &bad).unwrap();
            let what =
                format!("flip {flip:#x} at {}:{line} +{off} ({:?})", file.display(), orig[r.start + off] as char);
            expect_broken(dir.path(), None, file, *line, *id, &what);
        }
        std::fs::write(file, &orig).unwrap();
    }
    assert_verifies(dir.path(), 200);
}

#[test]
fn tamper_deleted_swapped_and_truncated_lines_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (files, anchor) = tamper_log(dir.path());
    let map = line_map(&files);
    let edit = |mi: usize, change: &dyn Fn(&mut Vec<Vec<u8>>, usize)| {
        let (file, line, id, _) = &map[mi];
        let orig = std::fs::read(file).unwrap();
        let mut ls: Vec<Vec<u8>> = orig.split_inclusive(|&b| b == b'\n').map(|l| l.to_vec()).collect();
        change(&mut ls, *line as usize - 1);
        std::fs::write(file, ls.concat()).unwrap();
        (orig, file.clone(), *line, *id)
    };
    for mi in [0usize, 1, 42, 100, 170, 198] {
        // Deleting line: the next entry now sits where this one was.
        let (orig, file, line, id) = edit(mi, &|ls, i| {
            ls.remove(i);
        });
        if mi + 1 < map.len() && map[mi + 1].0 == file {
            expect_broken(dir.path(), None, &file, line, id, &format!("delete {mi}"));
        } else {
            // The last line of a segment: the next segment's first line is out of place.
            let (nf, nl, nid, _) = &map[mi + 1];
            expect_broken(dir.path(), None, nf, *nl, *nid - 1, &format!("delete last of segment {mi}"));
        }
        std::fs::write(&file, &orig).unwrap();
        // Swapping with the next line (same segment).
        if mi + 1 < map.len() && map[mi + 1].0 == file {
            let (orig, file, line, id) = edit(mi, &|ls, i| ls.swap(i, i + 1));
            expect_broken(dir.path(), None, &file, line, id, &format!("swap {mi}"));
            std::fs::write(&file, &orig).unwrap();
        }
    }
    // Truncating the tail: invisible without an anchor, caught with one.
    let last = files.last().unwrap();
    let orig = std::fs::read(last).unwrap();
    let (_, _, _, r) = map.iter().rev().nth(2).unwrap();
    std::fs::write(last, &orig[..r.start]).unwrap();
    assert_verifies(dir.path(), 197);
    let lines_left = orig[..r.start].iter().filter(|&&b| b == b'\n').count() as u64;
    expect_broken(dir.path(), Some(&anchor), last, lines_left + 1, 198, "truncated tail");
    let e = verify(dir.path(), Some(&anchor)).unwrap().first_error.unwrap();
    assert!(e.reason.contains("anchor names id 200"), "{e}");
    // Removing the whole last segment is caught too.
    std::fs::write(last, &orig).unwrap();
    std::fs::remove_file(last).unwrap();
    assert!(verify(dir.path(), Some(&anchor)).unwrap().first_error.is_some());
    std::fs::write(last, &orig).unwrap();
    // A rewritten entry that keeps the chain consistent (all hashes recomputed) changes the
    // anchor's hash.
    assert_eq!(verify(dir.path(), Some(&anchor)).unwrap().first_error, None);
    let forged = Anchor { hash: "f".repeat(64), ..anchor.clone() };
    let (file, line, ..) = &map[199];
    expect_broken(dir.path(), Some(&forged), file, *line, 200, "anchor hash");
}

/// Retention removes whole old segments, never the active one; the chain stays verifiable
/// from the first id kept, searches and paging use the right ids, the log reopens and goes
/// on, and a START not recorded by an `audit.retention` entry is detected.
#[test]
fn retention_removes_old_segments_and_keeps_the_chain_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    // 1 s between entries; ~20 entries per segment.
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(1000)).unwrap();
    for i in 0..200 {
        log.append(rec(i)).unwrap();
    }
    let segs_before = segment_files(dir.path()).len();
    assert!(segs_before >= 5, "{segs_before}");
    assert_eq!(log.apply_retention(T0).unwrap(), 0, "nothing older than the first entry");
    // Keep the last 100 s: the entries of segments ending before that go.
    let cutoff = T0 + 100_000;
    let removed = log.apply_retention(cutoff).unwrap();
    assert!(removed >= 2, "{removed}");
    let first = log.first_id();
    assert!(first > 1 && first <= 101, "first id kept {first}");
    assert_eq!(segment_files(dir.path()).len(), segs_before - removed);
    // Every entry from the first id kept is searchable with its own id; paging works.
    let all = log.search(&Query { limit: MAX_LIMIT, ..Query::default() }).unwrap().entries;
    let ids: Vec<u64> = all.iter().rev().map(|e| e.id).collect();
    assert_eq!(ids, (first..=201).collect::<Vec<_>>(), "200 entries and the retention entry");
    assert_eq!(all[0].action, "audit.retention");
    assert_eq!(all[0].after.as_ref().unwrap()["first_id"], first);
    let page = log.search(&Query { limit: 10, before_id: Some(first + 15), ..Query::default() }).unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        ((first + 5)..(first + 15)).rev().collect::<Vec<_>>()
    );
    let by_actor = log.search(&Query { actor: Some("alice".into()), limit: MAX_LIMIT, ..Query::default() }).unwrap();
    assert!(by_actor.entries.iter().all(|e| e.actor == "alice" && e.id >= first));
    let r = verify(dir.path(), None).unwrap();
    assert_eq!((r.first_error, r.first_id, r.entries), (None, first, 201 - first + 1));
    // An anchor older than the first id kept cannot be checked and passes; a newer one is checked.
    let old = Anchor { id: 3, hash: "x".repeat(64), time: String::new() };
    assert_eq!(verify(dir.path(), Some(&old)).unwrap().first_error, None);
    // Appends go on; reopened, the log has the same entries and goes on again.
    log.append(rec(500)).unwrap();
    drop(log);
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(1000)).unwrap();
    assert_eq!((log.first_id(), log.anchor().id), (first, 202));
    log.append(rec(501)).unwrap();
    drop(log);
    assert_verifies(dir.path(), 203 - first + 1);

    // Segments removed by hand with a forged START are detected.
    let segs = list_segments(dir.path()).unwrap();
    let (no, path) = &segs[0];
    let text = std::fs::read_to_string(path).unwrap();
    let last: Entry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    std::fs::remove_file(path).unwrap();
    let forged = Start { first_id: last.id + 1, prev_hash: last.hash, removed_through: *no };
    write_start(dir.path(), &forged).unwrap();
    let r = verify(dir.path(), None).unwrap();
    assert!(r.first_error.unwrap().reason.contains("no audit.retention entry records that start"));
}

/// A crash after START was written but before the segments were deleted: opening deletes them.
#[test]
fn retention_interrupted_before_deleting_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(1000)).unwrap();
    for i in 0..100 {
        log.append(rec(i)).unwrap();
    }
    drop(log);
    let segs = list_segments(dir.path()).unwrap();
    // What apply_retention would do for the first segment, stopped before the deletion.
    let text = std::fs::read_to_string(&segs[0].1).unwrap();
    let last: Entry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(1000)).unwrap();
    log.append(Record {
        action: "audit.retention".into(),
        after: Some(json!({"first_id": last.id + 1, "prev_hash": last.hash})),
        result: "ok".into(),
        ..Record::default()
    })
    .unwrap();
    drop(log);
    write_start(dir.path(), &Start { first_id: last.id + 1, prev_hash: last.hash.clone(), removed_through: segs[0].0 })
        .unwrap();
    assert!(segs[0].1.exists());
    let log = AuditLog::open_with_clock(dir.path(), opts(8 << 10), ticking(1000)).unwrap();
    assert!(!segs[0].1.exists(), "the segment retention let go is removed at open");
    assert_eq!(log.first_id(), last.id + 1);
    drop(log);
    assert_verifies(dir.path(), 101 - last.id);
}
