//! One writer per output folder.
//!
//! A folder destination (JSONL, Parquet) keeps its files and its state together in one folder;
//! two writers there would cut back, rename and overwrite each other's files. [`FolderLock`]
//! takes an exclusive advisory lock (`flock`) on `<folder>/.intake.lock` for the writer's
//! lifetime, and writes the holder's pid into it so the second writer's error can name it.
//! The operating system releases the lock when the holder exits, however it exits, so a crash
//! never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".intake.lock";

/// An exclusive lock on an output folder, held until dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    path: PathBuf,
}

impl FolderLock {
    /// Locks `dir` (which must exist) or fails with a config error naming the folder and the
    /// pid of the process that holds it.
    pub fn acquire(dir: &Path) -> Result<FolderLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::from(e).context(format!("opening {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim().parse::<u32>() {
                    Ok(pid) => format!("process {pid}"),
                    Err(_) => "another process".to_string(),
                };
                return Err(Error::config(format!(
                    "the folder {} is being written by another sync ({holder} holds {LOCK_FILE}); wait for it to finish or stop it, or write to another folder",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::from(e).context(format!("locking {}", path.display())));
            }
        }
        // Best effort: the pid only makes the other writer's error more helpful.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        Ok(FolderLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let err = FolderLock::acquire(dir.path()).unwrap_err();
        assert!(err.is_config(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }
}
