//! A full disk: the data dir lives on a 4 MiB tmpfs (needs root and permission to mount; the
//! test prints a SKIP line otherwise). Filling it must surface as an error (`is_disk_full`) on
//! commit and on block writes, must lose no acknowledged sample, must leave no half-written
//! block behind, and the database must work again once space is freed.

use std::path::{Path, PathBuf};
use std::process::Command;

use storage::db::{Db, DbOptions};
use storage::wal::FsyncPolicy;
use storage::{Appendable, Labels, Matcher, Queryable};

const SERIES: usize = 50;
const H: i64 = 3600 * 1000;

/// Unmounts on drop, also when the test panics.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).ok()?;
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&path).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { path, _dir: dir }),
            Ok(o) => {
                eprintln!("SKIP: cannot mount a tmpfs (not root?): {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        match Command::new("umount").arg(&self.path).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("umount {} failed: {}", self.path.display(), String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("umount {} failed: {e}", self.path.display()),
        }
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "disk_full_test".to_string()), ("series", i.to_string())])
}

fn value(i: usize, round: i64) -> f64 {
    i as f64 * 1e6 + round as f64 + 0.5
}

fn opts() -> DbOptions {
    DbOptions { retention_ms: 0, fsync: FsyncPolicy::Always, wal_segment_size: 256 * 1024, ..DbOptions::default() }
}

/// Writes a filler file leaving about `free` bytes on the file system of `dir`.
fn fill(dir: &Path, free: u64) -> PathBuf {
    let path = dir.join("filler");
    let avail = {
        let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let size = avail.saturating_sub(free) as usize;
    std::fs::write(&path, vec![0u8; size]).unwrap();
    path
}

/// Every round in `0..=acked` of every series is there with its exact value.
fn check_acked(db: &Db, acked: i64, step: i64) {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut n = 0;
    for s in q.select(true, None, &[Matcher::equal("__name__", "disk_full_test")]).unwrap() {
        let s = s.unwrap();
        let i: usize = s.labels.get("series").parse().unwrap();
        let samples = s.collect_samples().unwrap();
        assert!(samples.len() as i64 > acked, "series {i}: {} samples, acknowledged {}", samples.len(), acked + 1);
        for (round, smp) in samples.iter().take(acked as usize + 1).enumerate() {
            assert_eq!(smp.t, round as i64 * step, "series {i}");
            assert_eq!(smp.v.to_bits(), value(i, round as i64).to_bits(), "series {i} round {round}");
        }
        n += 1;
    }
    assert_eq!(n, SERIES);
}

#[test]
fn disk_full_surfaces_and_loses_nothing_acknowledged() {
    let Some(fs) = Tmpfs::mount("4m") else { return };
    let dir = fs.path.join("data");
    let step = 60_000;
    let db = Db::open(&dir, opts()).unwrap();
    let filler = fill(&fs.path, 256 * 1024);

    // WAL writes until the disk is full.
    let mut acked = -1i64;
    let mut err = None;
    for round in 0..200_000i64 {
        let mut app = db.appender();
        for i in 0..SERIES {
            app.append(None, &labels(i), round * step, value(i, round)).unwrap();
        }
        match app.commit() {
            Ok(_) => acked = round,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the disk never filled up");
    assert!(err.is_disk_full(), "not reported as a full disk: {err}");
    assert!(err.to_string().contains(&dir.display().to_string()), "error names no path: {err}");
    assert!(acked > 10, "too little written before the disk filled: {acked}");
    eprintln!("disk full after {} acknowledged rounds: {err}", acked + 1);
    check_acked(&db, acked, step);
    let _ = db.close();
    drop(db);

    // Free the space: everything acknowledged is still there after a restart, and writes work.
    std::fs::remove_file(&filler).unwrap();
    let db = Db::open(&dir, opts()).unwrap();
    check_acked(&db, acked, step);
    let next = db.head().max_time() / step + 1;
    let mut app = db.appender();
    for i in 0..SERIES {
        app.append(None, &labels(i), next * step, value(i, next)).unwrap();
    }
    app.commit().unwrap();

    // Block writes on a full disk: persisting the head fails with a disk-full error, leaves no
    // block (nor a `.tmp` leftover after the next open), and loses nothing.
    assert!(db.head().max_time() - db.head().min_time() > 3 * H / 2, "head too short to persist");
    let filler = fill(&fs.path, 8 * 1024);
    let e = db.maintain(0).expect_err("persisting the head on a full disk succeeded");
    assert!(e.is_disk_full(), "not reported as a full disk: {e}");
    assert!(db.block_metas().is_empty());
    check_acked(&db, next, step);
    let _ = db.close();
    drop(db);
    std::fs::remove_file(&filler).unwrap();
    let db = Db::open(&dir, opts()).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.contains(".tmp"), "leftover {name}");
    }
    check_acked(&db, next, step);
    assert!(db.maintain(0).unwrap().head_blocks >= 1);
    check_acked(&db, next, step);
    db.close().unwrap();
}
