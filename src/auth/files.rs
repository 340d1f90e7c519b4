//! Private files of the auth subsystem (`<data_dir>/auth/`): written atomically (temporary file,
//! fsync, rename, fsync of the directory) with mode 0600, so a reader sees the old or the new
//! content and no other user can read secrets.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::auth::AuthError;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuthError + '_ {
    move |source| AuthError::Io { path: path.to_path_buf(), source }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub(crate) fn private_dir(dir: &Path) -> Result<(), AuthError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err(dir))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp.{}.{:08x}", std::process::id(), rand::rng().next_u32()));
    path.with_file_name(name)
}

fn write_tmp(path: &Path, bytes: &[u8]) -> Result<PathBuf, AuthError> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io_err(&tmp))?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    Ok(tmp)
}

fn sync_parent(path: &Path) -> Result<(), AuthError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically, mode 0600.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let tmp = write_tmp(path, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_parent(path)
}

/// Creates `path` with `bytes` (mode 0600) unless it exists; `Ok(false)` if it existed. The
/// content appears complete or not at all, also when two processes race (hard link of a
/// finished temporary file, which fails if the name exists).
pub(crate) fn create_exclusive(path: &Path, bytes: &[u8]) -> Result<bool, AuthError> {
    let tmp = write_tmp(path, bytes)?;
    let res = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match res {
        Ok(()) => sync_parent(path).map(|_| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads a secret or key file, warning when other users may read it.
pub(crate) fn read_secret(path: &Path) -> Result<Vec<u8>, AuthError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "secret file is readable by other users; chmod 600 it");
    }
    fs::read(path).map_err(io_err(path))
}

/// What identifies a version of a file: a rewrite by [`write_atomic`] gives a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct FileStamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    pub(crate) fn of(m: &fs::Metadata) -> FileStamp {
        FileStamp {
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        }
    }
}

/// The file's stamp, `None` if it does not exist.
pub(crate) fn stamp(path: &Path) -> Result<Option<FileStamp>, AuthError> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(FileStamp::of(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads a file and the stamp of the version read; `None` if it does not exist.
pub(crate) fn read_stamped(path: &Path) -> Result<Option<(Vec<u8>, FileStamp)>, AuthError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = f.metadata().map_err(io_err(path))?;
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    io::Read::read_to_end(&mut f, &mut buf).map_err(io_err(path))?;
    Ok(Some((buf, FileStamp::of(&meta))))
}

/// An exclusive advisory lock (`flock`) on `path` (created 0600), held until dropped:
/// serialises read-modify-write cycles of processes sharing a file (server and CLI).
pub(crate) fn lock(path: &Path) -> Result<File, AuthError> {
    let f = OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).map_err(io_err(path))?;
    f.lock().map_err(io_err(path))?;
    Ok(f)
}

/// `n` random bytes from the thread-local CSPRNG (ChaCha, seeded by the OS), hex-encoded.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_and_exclusive_writes_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("f");
        private_dir(p.parent().unwrap()).unwrap();
        assert_eq!(fs::metadata(p.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(stamp(&p).unwrap(), None);
        write_atomic(&p, b"one").unwrap();
        let s1 = stamp(&p).unwrap().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        write_atomic(&p, b"two").unwrap();
        assert_ne!(stamp(&p).unwrap().unwrap(), s1, "same length, new inode");
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!create_exclusive(&p, b"three").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let q = dir.path().join("sub").join("g");
        assert!(create_exclusive(&q, b"new").unwrap());
        assert_eq!(fs::metadata(&q).unwrap().permissions().mode() & 0o777, 0o600);
        // No temporary files left behind.
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 2);
    }
}
