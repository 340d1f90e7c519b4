//! The one place with `unsafe`: memory-mapping files read-only.
//!
//! Every mapped file is one we wrote and never modify in place while mapped (blocks are
//! immutable; head chunk files are append-only and only the written prefix is read).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::error::{Error, Result};

/// A read-only memory map of a whole file, shareable across threads.
#[derive(Clone, Debug)]
pub struct MappedFile {
    map: Option<Arc<Mmap>>,
}

impl MappedFile {
    /// Maps `path` read-only. An empty file maps to an empty slice.
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        if len == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: the files we map are immutable once written (blocks) or append-only with
        // readers restricted to the prefix that was fully written before mapping (head chunks).
        // Nobody truncates a mapped file while a reader holds it: deletion unlinks the path, the
        // mapping stays valid until dropped.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io("mmap", path, e))?;
        Ok(MappedFile { map: Some(Arc::new(map)) })
    }

    pub fn as_slice(&self) -> &[u8] {
        self.map.as_deref().map(|m| &m[..]).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
