//! The delivery queue on disk: one file per job (a notification for one receiver
//! integration) in `<data dir>/notifications/`, so a notification accepted by
//! [`super::Notifier::enqueue`] survives a crash or restart until it is delivered or fails
//! for good.
//!
//! Format: `<id>.json`, a JSON [`JobRecord`] (`"v": 1`). Writes are atomic: the record goes to
//! `<id>.json.tmp`, is fsync'd, renamed over `<id>.json`, and the directory is fsync'd; a
//! delivered or failed job's file is unlinked (directory fsync'd again). Ids start with the
//! enqueue time in ms (13 digits) and a per-process sequence, so name order is enqueue order.
//!
//! On open, leftover `*.tmp` files (a write that crashed before its rename) are removed, and a
//! file that does not parse or has an unknown version is renamed to `<name>.corrupt` and
//! logged; it never stops the others from loading.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{Error, Notification};

pub const FORMAT_VERSION: u32 = 1;
const EXT: &str = "json";

/// One persisted job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub v: u32,
    pub id: String,
    pub receiver: String,
    /// The integration's key, e.g. `discord[0]`.
    pub integration: String,
    pub enqueued_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before (Unix ms).
    pub next_attempt_ms: i64,
    #[serde(default)]
    pub last_error: Option<String>,
    pub notification: Notification,
}

/// The queue directory.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    seq: AtomicU64,
}

/// What [`DiskQueue::open`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub jobs: Vec<JobRecord>,
    /// Files moved aside as `*.corrupt`.
    pub corrupt: Vec<PathBuf>,
    /// `*.tmp` leftovers removed.
    pub removed_tmp: usize,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DiskQueue {
    /// Creates the directory if needed and loads the pending jobs (see the module docs).
    pub fn open(dir: &Path) -> Result<(DiskQueue, Loaded), Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut loaded = Loaded::default();
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                match fs::remove_file(&path) {
                    Ok(()) => loaded.removed_tmp += 1,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot remove a partial notification job file")
                    }
                }
            } else if path.extension().is_some_and(|x| x == EXT) {
                names.push(path);
            }
        }
        names.sort();
        for path in names {
            match read_record(&path) {
                Ok(r) => loaded.jobs.push(r),
                Err(why) => {
                    let aside = path.with_extension(format!("{EXT}.corrupt"));
                    tracing::error!(file = %path.display(), error = %why, moved_to = %aside.display(), "skipping a corrupt notification job file");
                    if let Err(e) = fs::rename(&path, &aside) {
                        tracing::warn!(file = %path.display(), error = %e, "cannot move a corrupt notification job file aside");
                    }
                    loaded.corrupt.push(aside);
                }
            }
        }
        if loaded.removed_tmp > 0 || !loaded.corrupt.is_empty() {
            let _ = sync_dir(dir);
        }
        Ok((DiskQueue { dir: dir.to_path_buf(), seq: AtomicU64::new(0) }, loaded))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh job id: enqueue time, sequence, random suffix (unique across restarts).
    pub fn new_id(&self, now_ms: i64) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:013}-{seq:06}-{:08x}", now_ms.max(0), rand::random::<u32>())
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{EXT}"))
    }

    /// Writes (or rewrites) records atomically; durable when it returns.
    pub fn write(&self, records: &[JobRecord]) -> Result<(), Error> {
        for r in records {
            let path = self.path(&r.id);
            let tmp = self.dir.join(format!("{}.{EXT}.tmp", r.id));
            let body = serde_json::to_vec(r).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(&body)?;
                f.sync_all()?;
                fs::rename(&tmp, &path)
            };
            if let Err(e) = write() {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(&path, e));
            }
        }
        if !records.is_empty() {
            sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }

    /// Removes a finished job's file (missing is fine).
    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

fn read_record(path: &Path) -> Result<JobRecord, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    let r: JobRecord = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if r.v != FORMAT_VERSION {
        return Err(format!("unsupported job format version {}", r.v));
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if r.id != stem {
        return Err(format!("job id {:?} does not match the file name", r.id));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::Status;
    use crate::notifier::render::tests::{alert, notification};

    fn record(q: &DiskQueue, now: i64) -> JobRecord {
        JobRecord {
            v: FORMAT_VERSION,
            id: q.new_id(now),
            receiver: "team".into(),
            integration: "webhook[0]".into(),
            enqueued_ms: now,
            attempts: 0,
            next_attempt_ms: now,
            last_error: None,
            notification: notification(vec![alert(Status::Firing, &[("alertname", "X")], &[])], &[], &[]),
        }
    }

    #[test]
    fn round_trips_in_enqueue_order() {
        let dir = tempfile::tempdir().unwrap();
        let (q, l) = DiskQueue::open(dir.path()).unwrap();
        assert!(l.jobs.is_empty());
        let rs: Vec<JobRecord> = (0..5).map(|i| record(&q, 1_700_000_000_000 + i / 2)).collect();
        q.write(&rs[2..]).unwrap();
        q.write(&rs[..2]).unwrap();
        let mut updated = rs[3].clone();
        updated.attempts = 2;
        updated.last_error = Some("boom".into());
        q.write(std::slice::from_ref(&updated)).unwrap();
        q.remove(&rs[4].id).unwrap();
        q.remove(&rs[4].id).unwrap();
        let (_, l) = DiskQueue::open(dir.path()).unwrap();
        assert_eq!(l.jobs, vec![rs[0].clone(), rs[1].clone(), rs[2].clone(), updated]);
    }

    #[test]
    fn corrupt_and_partial_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path()).unwrap();
        let good = record(&q, 1_700_000_000_000);
        q.write(std::slice::from_ref(&good)).unwrap();
        let text = serde_json::to_string(&good).unwrap();
        fs::write(dir.path().join("0000000000001-000000-00000000.json"), &text[..text.len() / 2]).unwrap();
        fs::write(dir.path().join("0000000000002-000000-00000000.json"), b"\x00\xff garbage").unwrap();
        fs::write(dir.path().join("0000000000003-000000-00000000.json"), text.replace("\"v\":1", "\"v\":99")).unwrap();
        fs::write(dir.path().join("0000000000004-000000-00000000.json"), &text).unwrap(); // id mismatch
        fs::write(dir.path().join("0000000000005-000000-00000000.json.tmp"), "half").unwrap();
        fs::write(dir.path().join("README"), "not a job").unwrap();
        let (_, l) = DiskQueue::open(dir.path()).unwrap();
        assert_eq!(l.jobs, vec![good]);
        assert_eq!(l.corrupt.len(), 4);
        assert_eq!(l.removed_tmp, 1);
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names.iter().filter(|n| n.ends_with(".corrupt")).count(), 4);
        assert!(!names.iter().any(|n| n.ends_with(".tmp")));
        // A second open finds the same good job and nothing new to move.
        let (_, l) = DiskQueue::open(dir.path()).unwrap();
        assert_eq!((l.jobs.len(), l.corrupt.len()), (1, 0));
    }
}
