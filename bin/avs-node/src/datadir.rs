//! The data directory's single-writer lock. Two processes on one data directory could each sign
//! a different response to one task (the slashing-protection record is guarded in-process only),
//! so `avs-node run` (and `avs-node slashing-protection export|import`) holds an exclusive advisory lock on `<datadir>/LOCK` for its whole life
//! and a second process refuses to start, naming the holder's pid. The lock belongs to the open
//! file: the kernel releases it when the process ends, however it ends (a SIGKILLed node leaves
//! no stale lock behind).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use eyre::{WrapErr, eyre};

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the slashing-protection record in the data directory.
pub const SLASHING_PROTECTION_FILE: &str = "slashing-protection.jsonl";

/// The slashing-protection record of the node with data directory `datadir`.
pub fn slashing_protection_path(datadir: &Path) -> PathBuf {
    datadir.join(SLASHING_PROTECTION_FILE)
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Creates `datadir` if needed and takes its lock, recording this process's pid in it.
    pub fn acquire(datadir: &Path) -> eyre::Result<Self> {
        std::fs::create_dir_all(datadir)
            .wrap_err_with(|| format!("creating the data directory {}", datadir.display()))?;
        let path = datadir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .wrap_err_with(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(datadir, &mut file)),
            Err(TryLockError::Error(err)) => {
                return Err(eyre!("locking {}: {err}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_data())
            .wrap_err_with(|| format!("writing {}", path.display()))?;
        Ok(Self { _file: file, path })
    }

    /// Whether another process holds `datadir`'s lock, as the error [`Self::acquire`] would
    /// give, without creating or writing anything (an absent lock file is a free directory).
    pub fn check_free(datadir: &Path) -> eyre::Result<()> {
        let Ok(mut file) = File::open(datadir.join(LOCK_FILE)) else {
            return Ok(());
        };
        match file.try_lock_shared() {
            Err(TryLockError::WouldBlock) => Err(in_use(datadir, &mut file)),
            _ => Ok(()),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The error for a data directory whose lock `file` another process holds, naming its pid.
fn in_use(datadir: &Path, file: &mut File) -> eyre::Report {
    let mut holder = String::new();
    // Best effort: the holder wrote its pid when it took the lock.
    let _ = file.read_to_string(&mut holder);
    let holder = holder.trim();
    let holder = if holder.is_empty() {
        "another process".to_owned()
    } else {
        format!("process {holder}")
    };
    eyre!(
        "data directory {} is in use by {holder} (another avs-node): stop it first, or give this \
         node its own --datadir; two nodes on one data directory could sign two responses to one \
         task",
        datadir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).expect("first");
        assert_eq!(
            std::fs::read_to_string(first.path()).expect("read").trim(),
            std::process::id().to_string()
        );
        let err = DataDirLock::acquire(&data).expect_err("held");
        let message = err.to_string();
        assert!(
            message.contains(&format!("is in use by process {}", std::process::id())),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(&data).expect("released");
    }
}
