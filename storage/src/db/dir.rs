//! The data directory: the lock file, leftovers of interrupted writes, block directories and
//! their sizes.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::error::{Error, Result};

/// Name of the lock file in the data dir (as Prometheus's).
pub const LOCK_FILE: &str = "lock";

/// An exclusive advisory lock on `<dir>/lock`, held while the database is open; released when
/// dropped (or when the process dies, as it is an OS file lock).
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock, failing with a clear error when another process (or another `Db` in this
    /// process) holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Other(format!(
                "data directory {} is locked by another tickdb process (lock file {}); \
                 stop it first or use another --data-dir",
                dir.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// What a scan of the data dir found.
#[derive(Debug, Default)]
pub struct DirScan {
    /// Directories named by a ULID (candidate blocks), sorted.
    pub blocks: Vec<(Ulid, PathBuf)>,
    /// Leftovers of interrupted block writes or deletions (names containing `.tmp`), removed.
    pub removed_tmp: Vec<PathBuf>,
}

/// Lists block directories and removes `*.tmp*` leftovers (logging each).
pub fn scan(dir: &Path) -> Result<DirScan> {
    let mut out = DirScan::default();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir {
            continue;
        }
        if name.contains(".tmp") {
            tracing::warn!(path = %path.display(), "removing leftover of an interrupted block write or deletion");
            remove_dir(&path)?;
            out.removed_tmp.push(path);
            continue;
        }
        if let Ok(u) = Ulid::from_string(name) {
            out.blocks.push((u, path));
        }
    }
    out.blocks.sort();
    Ok(out)
}

/// Removes a directory tree: first renamed to `<name>.tmp-for-deletion` so a crash midway
/// leaves something [`scan`] cleans up, not half a block.
pub fn remove_block_dir(path: &Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp-for-deletion");
    let tmp = PathBuf::from(tmp);
    std::fs::rename(path, &tmp).map_err(|e| Error::io("rename block for deletion", path, e))?;
    remove_dir(&tmp)
}

fn remove_dir(path: &Path) -> Result<()> {
    std::fs::remove_dir_all(path).map_err(|e| Error::io("remove dir", path, e))
}

/// Total size in bytes of the regular files under `path` (0 if it does not exist).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else { return 0 };
    let mut total = 0;
    for entry in rd.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            total += dir_size(&entry.path());
        } else if ft.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// Name of the file recording how far the head has been persisted into blocks.
pub const HEAD_WATERMARK_FILE: &str = "head_persisted";

/// How far (exclusive ms) this data dir's head has been persisted into blocks.
///
/// WAL replay skips samples older than this (they are in blocks already) and appends older than
/// it are out of bounds. Blocks that did not come from the head (imported with `tsdb import` or
/// copied in from Prometheus) do not move it, so they never make the head drop or refuse
/// samples of their time range: both are kept and merged at query and compaction time.
///
/// `Ok(None)` when the file does not exist: a new data dir, or one written by Prometheus.
pub fn read_head_watermark(dir: &Path) -> Result<Option<i64>> {
    let path = dir.join(HEAD_WATERMARK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| Error::corruption(&path, 0, format!("head watermark is not an integer: {:?}", text.trim())))
}

/// Durably records the head watermark (written to a temp file, fsync'd, renamed, dir fsync'd).
pub fn write_head_watermark(dir: &Path, t: i64) -> Result<()> {
    use std::io::Write as _;
    let path = dir.join(HEAD_WATERMARK_FILE);
    let tmp = dir.join(format!("{HEAD_WATERMARK_FILE}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(format!("{t}\n").as_bytes()).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    crate::block::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_clearly() {
        let d = tempfile::tempdir().unwrap();
        let l = DirLock::acquire(d.path()).unwrap();
        let e = DirLock::acquire(d.path()).unwrap_err().to_string();
        assert!(e.contains("locked by another"), "{e}");
        drop(l);
        DirLock::acquire(d.path()).unwrap();
    }

    #[test]
    fn scan_removes_tmp_and_lists_blocks() {
        let d = tempfile::tempdir().unwrap();
        let u = Ulid::new();
        std::fs::create_dir(d.path().join(u.to_string())).unwrap();
        std::fs::create_dir(d.path().join(format!("{u}.tmp-for-creation"))).unwrap();
        std::fs::create_dir(d.path().join("wal")).unwrap();
        std::fs::write(d.path().join("lock"), b"").unwrap();
        let s = scan(d.path()).unwrap();
        assert_eq!(s.blocks.len(), 1);
        assert_eq!(s.blocks[0].0, u);
        assert_eq!(s.removed_tmp.len(), 1);
        assert!(!d.path().join(format!("{u}.tmp-for-creation")).exists());
        std::fs::write(d.path().join(u.to_string()).join("f"), b"12345").unwrap();
        assert_eq!(dir_size(d.path()), 5);
        remove_block_dir(&d.path().join(u.to_string())).unwrap();
        assert!(scan(d.path()).unwrap().blocks.is_empty());
    }
}
