//! Durable per-ExEx finished heights: one small file per ExEx, replaced atomically.
//!
//! A file holds `<number> <hash>\n`. It is written to a temporary file, synced and renamed over
//! the old one, so a crash leaves either the old or the new height, never a mix. Blocking I/O:
//! call from `spawn_blocking`.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use alloy::{eips::BlockNumHash, primitives::B256};

/// Finished-height store failures.
#[derive(Debug, thiserror::Error)]
pub enum FinishedHeightError {
    /// File-system error.
    #[error("finished-height I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not hold `<number> <hash>`.
    #[error(
        "finished-height file {path} is malformed ({content:?}); expected `<number> <0x hash>` — \
         fix it or delete it to re-deliver from the configured start block"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
    /// The ExEx id cannot be used as a file name.
    #[error("ExEx id {0:?} must be non-empty and use only ASCII letters, digits, '-' and '_'")]
    InvalidId(String),
}

/// Where finished heights live (a directory).
#[derive(Debug, Clone)]
pub struct FinishedHeights {
    dir: PathBuf,
}

impl FinishedHeights {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<Self, FinishedHeightError> {
        fs::create_dir_all(dir).map_err(|source| FinishedHeightError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, id: &str) -> Result<PathBuf, FinishedHeightError> {
        let valid = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(self.dir.join(format!("{id}.height")))
        } else {
            Err(FinishedHeightError::InvalidId(id.to_owned()))
        }
    }

    /// The stored height of ExEx `id`, if any.
    pub fn load(&self, id: &str) -> Result<Option<BlockNumHash>, FinishedHeightError> {
        let path = self.path(id)?;
        let content = match fs::read_to_string(&path) {
            Ok(content) => content,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FinishedHeightError::Io { path, source }),
        };
        let parsed = content.trim().split_once(' ').and_then(|(number, hash)| {
            Some(BlockNumHash {
                number: number.parse().ok()?,
                hash: hash.parse::<B256>().ok()?,
            })
        });
        parsed
            .map(Some)
            .ok_or(FinishedHeightError::Malformed { path, content })
    }

    /// Stores the height of ExEx `id` atomically.
    pub fn store(&self, id: &str, height: BlockNumHash) -> Result<(), FinishedHeightError> {
        let path = self.path(id)?;
        let tmp = path.with_extension("height.tmp");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| FinishedHeightError::Io { path, source }
        };
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        writeln!(file, "{} {}", height.number, height.hash).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_round_trip_and_bad_input_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FinishedHeights::open(dir.path()).expect("open");
        assert_eq!(store.load("avs").expect("load"), None);
        let height = BlockNumHash {
            number: 42,
            hash: B256::repeat_byte(4),
        };
        store.store("avs", height).expect("store");
        assert_eq!(store.load("avs").expect("load"), Some(height));
        let next = BlockNumHash {
            number: 43,
            hash: B256::repeat_byte(5),
        };
        store.store("avs", next).expect("store");
        assert_eq!(
            FinishedHeights::open(dir.path())
                .expect("reopen")
                .load("avs")
                .expect("load"),
            Some(next)
        );

        assert!(matches!(
            store.store("../x", next),
            Err(FinishedHeightError::InvalidId(_))
        ));
        fs::write(dir.path().join("bad.height"), "12").expect("write");
        assert!(matches!(
            store.load("bad"),
            Err(FinishedHeightError::Malformed { .. })
        ));
    }
}
