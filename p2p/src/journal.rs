//! A bounded, append-only journal of accepted signatures, so a restarted node resumes its
//! partial signature sets instead of starting from zero.
//!
//! Each record is the [`SIGNATURE_MESSAGE_LEN`]-byte wire encoding of a [`SignatureMessage`] followed by the first
//! four bytes of its keccak-256 as a checksum ([`RECORD_LEN`] bytes in all). Fixed-size
//! records need no length prefix: a crash in the middle of an append leaves a short or
//! corrupt tail, which [`SignatureJournal::open`] truncates away (everything from the first
//! bad record on is dropped; records are only ever appended, so only the tail can be torn).
//!
//! Records are not trusted on replay: the service validates them again, against the task's
//! operator set, when the task is added after the restart. Records of closed tasks are pruned
//! by rewriting the file (write to a temporary file, fsync, rename), so the file holds only
//! open tasks and at most `max_records` records. File I/O runs on the blocking pool.

use crate::wire::{SIGNATURE_MESSAGE_LEN, SignatureMessage};
use alloy::primitives::keccak256;
use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

const CHECKSUM_LEN: usize = 4;

/// Length of one journal record: the wire encoding plus a 4-byte checksum.
pub const RECORD_LEN: usize = SIGNATURE_MESSAGE_LEN + CHECKSUM_LEN;

/// A bound for a node's journal: open tasks × operators signing them. 4096 records (about
/// 700 KiB) cover e.g. 8 open tasks of a 500-operator set; a pruning rewrite stays cheap.
pub const DEFAULT_MAX_RECORDS: usize = 4096;

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading, writing or syncing the file failed.
    #[error("signature journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The journal holds `max_records` records; the signature is counted but not persisted.
    #[error("signature journal is full ({max} records)")]
    Full {
        /// The bound.
        max: usize,
    },
    /// The blocking I/O task panicked or was cancelled.
    #[error("signature journal I/O task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The journal file, its records (mirrored in memory for pruning) and its bound.
#[derive(Debug)]
pub struct SignatureJournal {
    path: PathBuf,
    file: Arc<File>,
    records: Vec<SignatureMessage>,
    max_records: usize,
}

impl SignatureJournal {
    /// Opens (or creates) the journal at `path`, truncating a torn tail. Returns the journal
    /// and the records it holds, oldest first; at most `max_records` are kept.
    pub async fn open(path: &Path, max_records: usize) -> Result<Self, JournalError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (file, mut records) = tokio::task::spawn_blocking(move || open_blocking(&p))
            .await?
            .map_err(|source| JournalError::Io {
                path: path.clone(),
                source,
            })?;
        // A smaller bound than the previous run's: keep the newest records.
        let excess = records.len().saturating_sub(max_records);
        records.drain(..excess);
        Ok(Self {
            path,
            file: Arc::new(file),
            records,
            max_records,
        })
    }

    /// The records held, oldest first.
    pub fn records(&self) -> &[SignatureMessage] {
        &self.records
    }

    /// Appends `messages` with one write and one fsync. Refuses (appending none) if they
    /// would exceed the bound.
    pub async fn append(&mut self, messages: &[SignatureMessage]) -> Result<(), JournalError> {
        if messages.is_empty() {
            return Ok(());
        }
        if self.records.len() + messages.len() > self.max_records {
            return Err(JournalError::Full {
                max: self.max_records,
            });
        }
        let bytes: Vec<u8> = messages.iter().flat_map(encode_record).collect();
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            (&*file).write_all(&bytes)?;
            file.sync_data()
        })
        .await?
        .map_err(|source| self.io(source))?;
        self.records.extend_from_slice(messages);
        Ok(())
    }

    /// Drops every record of `task_index` by rewriting the file atomically. A no-op when the
    /// task has no records.
    pub async fn prune(&mut self, task_index: u32) -> Result<(), JournalError> {
        if !self.records.iter().any(|m| m.task_index == task_index) {
            return Ok(());
        }
        let keep: Vec<SignatureMessage> = self
            .records
            .iter()
            .filter(|m| m.task_index != task_index)
            .copied()
            .collect();
        let bytes: Vec<u8> = keep.iter().flat_map(encode_record).collect();
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || rewrite_blocking(&path, &bytes))
            .await?
            .map_err(|source| self.io(source))?;
        self.file = Arc::new(file);
        self.records = keep;
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

fn encode_record(message: &SignatureMessage) -> [u8; RECORD_LEN] {
    let mut record = [0u8; RECORD_LEN];
    let encoded = message.encode();
    record[..SIGNATURE_MESSAGE_LEN].copy_from_slice(&encoded);
    record[SIGNATURE_MESSAGE_LEN..].copy_from_slice(&keccak256(encoded)[..CHECKSUM_LEN]);
    record
}

/// The message of a record whose checksum matches and which decodes.
fn decode_record(record: &[u8]) -> Option<SignatureMessage> {
    let (payload, checksum) = record.split_at_checked(SIGNATURE_MESSAGE_LEN)?;
    if checksum != &keccak256(payload)[..CHECKSUM_LEN] {
        return None;
    }
    SignatureMessage::decode(payload).ok()
}

fn open_blocking(path: &Path) -> std::io::Result<(File, Vec<SignatureMessage>)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let records: Vec<SignatureMessage> =
        bytes.chunks(RECORD_LEN).map_while(decode_record).collect();
    let good_len = (records.len() * RECORD_LEN) as u64;
    if good_len < bytes.len() as u64 {
        tracing::warn!(
            path = %path.display(),
            dropped_bytes = bytes.len() as u64 - good_len,
            "truncating a torn signature journal tail"
        );
        file.set_len(good_len)?;
        file.sync_data()?;
    }
    Ok((file, records))
}

/// Replaces the file's contents with `bytes` atomically and returns it opened for appending.
fn rewrite_blocking(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let tmp = path.with_extension("tmp");
    let mut out = File::create(&tmp)?;
    out.write_all(bytes)?;
    out.sync_data()?;
    std::fs::rename(&tmp, path)?;
    // The rename is durable only once the directory entry is.
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{OperatorId, TaskResponse};
    use alloy::primitives::B256;

    fn message(task_index: u32, operator: u8) -> SignatureMessage {
        SignatureMessage {
            task_index,
            response: TaskResponse {
                reference_task_index: task_index,
                block_hash: B256::repeat_byte(1),
                state_root: B256::repeat_byte(2),
                receipts_root: B256::repeat_byte(3),
            },
            signature: [operator; 32],
            operator_id: OperatorId(B256::repeat_byte(operator)),
            task_hash: B256::repeat_byte(4),
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_a_torn_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p/signatures.journal");
        let mut journal = SignatureJournal::open(&path, 8).await.unwrap();
        assert!(journal.records().is_empty());
        let written = [message(1, 1), message(1, 2), message(2, 1)];
        journal.append(&written[..2]).await.unwrap();
        journal.append(&written[2..]).await.unwrap();
        drop(journal);

        // A crash mid-append: half of a fourth record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&encode_record(&message(3, 3))[..100])
            .unwrap();
        drop(file);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (3 * RECORD_LEN + 100) as u64
        );

        let mut journal = SignatureJournal::open(&path, 8).await.unwrap();
        assert_eq!(journal.records(), &written);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (3 * RECORD_LEN) as u64
        );
        // Appending after the truncation continues a well-formed file.
        journal.append(&[message(3, 3)]).await.unwrap();
        drop(journal);
        let journal = SignatureJournal::open(&path, 8).await.unwrap();
        assert_eq!(journal.records().len(), 4);
        assert_eq!(journal.records()[3], message(3, 3));
    }

    #[tokio::test]
    async fn a_corrupt_record_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signatures.journal");
        let mut journal = SignatureJournal::open(&path, 8).await.unwrap();
        journal
            .append(&[message(1, 1), message(1, 2), message(1, 3)])
            .await
            .unwrap();
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[RECORD_LEN + 50] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();

        let journal = SignatureJournal::open(&path, 8).await.unwrap();
        assert_eq!(journal.records(), &[message(1, 1)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RECORD_LEN as u64);
    }

    #[tokio::test]
    async fn pruning_drops_a_closed_task_and_the_bound_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signatures.journal");
        let mut journal = SignatureJournal::open(&path, 3).await.unwrap();
        journal
            .append(&[message(1, 1), message(2, 1), message(1, 2)])
            .await
            .unwrap();
        match journal.append(&[message(2, 2)]).await {
            Err(JournalError::Full { max: 3 }) => {}
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(journal.records().len(), 3);

        journal.prune(1).await.unwrap();
        assert_eq!(journal.records(), &[message(2, 1)]);
        journal.append(&[message(2, 2)]).await.unwrap();
        drop(journal);
        let journal = SignatureJournal::open(&path, 3).await.unwrap();
        assert_eq!(journal.records(), &[message(2, 1), message(2, 2)]);
        assert!(!path.with_extension("tmp").exists());
    }
}
