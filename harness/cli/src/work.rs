//! Work folders: where a run keeps its KM databases and the sink's spool, in the temporary
//! directory. Each is locked (an exclusive `flock` on the folder) for as long as its process
//! lives; a folder nobody holds the lock of belonged to a process that was killed, and the
//! next command that makes a work folder removes it. A folder that is removed between its
//! making and its locking is made again.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The name prefixes of kmlab's work folders.
pub(crate) const PREFIXES: &[&str] = &[
    "kmlab-run-",
    "kmlab-matrix-",
    "kmlab-serve-",
    "kmlab-bench-",
    "kmlab-explain-",
];

/// Written into a work folder once its owner holds the lock.
const MARKER: &str = ".kmlab-work";

/// A work folder, removed when dropped, locked while it lives.
#[derive(Debug)]
pub(crate) struct WorkFolder {
    // Declared first, so dropped first: the folder goes before its lock is let go.
    dir: tempfile::TempDir,
    _lock: File,
}

impl WorkFolder {
    /// A new work folder named `prefix…` in the temporary directory, after removing the
    /// folders killed runs left there.
    pub(crate) fn create(prefix: &str) -> io::Result<Self> {
        Self::create_in(&std::env::temp_dir(), prefix)
    }

    fn create_in(parent: &Path, prefix: &str) -> io::Result<Self> {
        remove_stale(parent);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::make(parent, prefix) {
                // Another process's sweep removed it before it was locked.
                Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < 8 => {}
                made => return made,
            }
        }
    }

    fn make(parent: &Path, prefix: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        let lock = File::open(dir.path())?;
        flock(&lock, FlockOperation::LockExclusive)?;
        // Fails if the folder was removed while this process waited for the lock.
        File::create(dir.path().join(MARKER))?;
        Ok(Self { dir, _lock: lock })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes every work folder in `parent` whose owner is gone: one nobody holds the lock of.
/// Returns the folders removed. A folder that cannot be read or removed is left alone.
pub(crate) fn remove_stale(parent: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        let path = entry.path();
        // Not a symbolic link: only a real folder is looked into.
        if !fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir()) {
            continue;
        }
        let Ok(handle) = File::open(&path) else {
            continue;
        };
        if flock(&handle, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        if fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_whose_owner_is_gone_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let live = WorkFolder::create_in(parent.path(), "kmlab-run-").unwrap();
        // A killed run's folder: marked, its lock gone with its process.
        let dead = parent.path().join("kmlab-run-dead");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(MARKER), b"").unwrap();
        fs::write(dead.join("km.sqlite"), b"data").unwrap();
        // A run killed before it locked its folder.
        let young = parent.path().join("kmlab-matrix-young");
        fs::create_dir(&young).unwrap();
        // Someone else's folder.
        let other = parent.path().join("other-run-x");
        fs::create_dir(&other).unwrap();
        fs::write(other.join(MARKER), b"").unwrap();

        let mut removed = remove_stale(parent.path());
        removed.sort();
        assert_eq!(removed, [young.clone(), dead.clone()]);
        assert!(!dead.exists() && !young.exists());
        assert!(live.path().join(MARKER).exists());
        assert!(other.exists());

        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists());
    }
}
