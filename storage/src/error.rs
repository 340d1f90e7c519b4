//! The storage crate's error types.
//!
//! [`Error`] is what every fallible storage operation returns; [`AppendError`] is the per-sample
//! verdict of an [`crate::Appender`], so a caller can count rejections by kind and keep going.

use std::path::PathBuf;

use crate::labels::LabelError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file of the data dir (disk full surfaces here as ENOSPC).
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    /// Data on disk fails a check (CRC, magic, bounds). Carries where it was found.
    #[error("corruption in {path} at offset {offset}: {what}")]
    Corruption { path: PathBuf, offset: u64, what: String },
    /// A bad argument from the caller (bad matcher, bad time range, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Labels(#[from] LabelError),
    /// The database is closed or closing.
    #[error("storage is closed")]
    Closed,
    /// Anything else, with a description (kept rare).
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
    pub fn corruption(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Self {
        Error::Corruption { path: path.into(), offset, what: what.into() }
    }
    /// True for ENOSPC / EDQUOT: the disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
    }
}

/// Why one sample was not appended. The rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    /// Older than the newest sample of its series and outside the out-of-order window.
    #[error("out of order sample")]
    OutOfOrder,
    /// Older than what the head accepts at all (before the head's min valid time).
    #[error("out of bounds: sample too old")]
    OutOfBounds,
    /// Same timestamp as an existing sample but a different value.
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// The label set cannot be stored.
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] LabelError),
    /// The series limit of the head was reached.
    #[error("series limit reached")]
    TooManySeries,
    /// The storage is closed.
    #[error("storage is closed")]
    Closed,
}

impl AppendError {
    /// A short stable name for counting rejections (`out_of_order`, `too_old`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            AppendError::OutOfOrder => "out_of_order",
            AppendError::OutOfBounds => "too_old",
            AppendError::DuplicateSampleForTimestamp => "duplicate",
            AppendError::InvalidLabels(_) => "invalid_labels",
            AppendError::TooManySeries => "series_limit",
            AppendError::Closed => "closed",
        }
    }
}
