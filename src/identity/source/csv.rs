//! The CSV directory source: the file, checked for a change every
//! `csv_reload_seconds` by its stamp (size, times, inode), read again only
//! when it changed and not while it is being written.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::SourceError;
use crate::config::directory::CsvEncoding;
use crate::identity::directory::Directory;

pub(super) struct CsvSource {
    pub(super) path: PathBuf,
    pub(super) every: Duration,
    pub(super) encoding: CsvEncoding,
    /// The file's state at the last attempt, good or bad (`None`: it could
    /// not be looked at): an unchanged file is not read again.
    pub(super) tried: Option<Option<Stamp>>,
}

/// What tells a changed file: size, modification and change times, inode
/// (a file replaced by rename has a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    ctime: (i64, i64),
    inode: (u64, u64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        ctime: (m.ctime(), m.ctime_nsec()),
        inode: (m.dev(), m.ino()),
    })
}

impl CsvSource {
    /// `None` when the file is as at the last attempt, or is being written
    /// (it changed while it was read): the next check sees it again.
    pub(super) fn load(&mut self, force: bool) -> Option<Result<Directory, SourceError>> {
        let before = stamp(&self.path);
        if !force && self.tried == Some(before) {
            return None;
        }
        let result = self.read();
        if stamp(&self.path) != before && !force {
            return None;
        }
        self.tried = Some(before);
        Some(result)
    }

    pub(super) fn read(&self) -> Result<Directory, SourceError> {
        Ok(Directory::load_csv(&self.path, self.encoding)?.0)
    }
}
