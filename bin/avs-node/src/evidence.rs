//! The equivocation evidence log: `<datadir>/evidence.jsonl`, one JSON object per line for every
//! operator the node caught signing two different responses to one task.
//!
//! Each record holds both responses, their EIP-712 digests and both BLS signatures, which
//! verify against the operator's registered G2 key: anyone can check a record without trusting
//! this node. `avs-node task show <index>` prints the records of a task.
//!
//! The file is append-only and `fsync`ed per record. It grows only when operators misbehave
//! (at most one record per operator per task), so it is never pruned: it is evidence. A torn
//! last line (a crash mid-append) is skipped when reading; any other bad line is an error.

use alloy::primitives::B256;
use avs_p2p::{Equivocation, OperatorId, ResponseSignature};
use serde::{Deserialize, Serialize};
use std::{
    fs::OpenOptions,
    io::{self, Write},
    path::{Path, PathBuf},
};

/// The file name inside the data directory.
pub const FILE_NAME: &str = "evidence.jsonl";

/// One response of an equivocation, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedResponseRecord {
    /// The attested block hash the operator signed.
    pub block_hash: B256,
    /// Its state root.
    pub state_root: B256,
    /// Its receipts root.
    pub receipts_root: B256,
    /// The EIP-712 digest of `Attestation(task, response)`.
    pub digest: B256,
    /// The compressed BN254 G1 signature over `digest`.
    pub signature: B256,
}

/// One line of the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRecord {
    /// The task.
    pub task_index: u32,
    /// The task's EIP-712 struct hash.
    pub task_hash: B256,
    /// The equivocating operator.
    pub operator_id: B256,
    /// The response this node accepted first.
    pub first: SignedResponseRecord,
    /// The different response signed afterwards.
    pub second: SignedResponseRecord,
}

impl From<&ResponseSignature> for SignedResponseRecord {
    fn from(signed: &ResponseSignature) -> Self {
        Self {
            block_hash: signed.response.block_hash,
            state_root: signed.response.state_root,
            receipts_root: signed.response.receipts_root,
            digest: signed.digest,
            signature: B256::from(signed.signature.to_bytes()),
        }
    }
}

impl From<&Equivocation> for EvidenceRecord {
    fn from(e: &Equivocation) -> Self {
        let OperatorId(operator_id) = e.operator_id;
        Self {
            task_index: e.task_index,
            task_hash: e.task_hash,
            operator_id,
            first: (&e.first).into(),
            second: (&e.second).into(),
        }
    }
}

/// Why the evidence log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The file could not be opened, written or read.
    #[error("equivocation evidence {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A complete line is not a record.
    #[error("equivocation evidence {path} line {line} is not a record: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        reason: String,
    },
}

/// Appends one record and syncs it to disk.
pub fn append(path: &Path, record: &EvidenceRecord) -> Result<(), EvidenceError> {
    let io = |source| EvidenceError::Io {
        path: path.to_owned(),
        source,
    };
    let mut line = serde_json::to_vec(record).expect("a record always serializes");
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    // A torn last line (a crash mid-append) is ended first, so this record is not glued to it;
    // reading skips the torn line as a corrupt one would not be.
    if ends_torn(&mut file).map_err(io)? {
        line.insert(0, b'\n');
    }
    file.write_all(&line).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Whether the file's last byte is not a newline (a torn last line).
fn ends_torn(file: &mut std::fs::File) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The records of task `task_index` (all of them with `None`); no file means no evidence. A
/// torn line (a crash mid-append, ended by the next append) is skipped.
pub fn read(path: &Path, task_index: Option<u32>) -> Result<Vec<EvidenceRecord>, EvidenceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(EvidenceError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    // Only a line with its newline was completely written.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let lines: Vec<&str> = complete.lines().collect();
    let mut records = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let record: EvidenceRecord = match serde_json::from_str(line) {
            Ok(record) => record,
            // A torn line is an unfinished JSON object that a later append ended.
            Err(e) if e.is_eof() && i + 1 < lines.len() => continue,
            Err(e) => {
                return Err(EvidenceError::Corrupt {
                    path: path.to_owned(),
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
        };
        if task_index.is_none_or(|index| index == record.task_index) {
            records.push(record);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(task_index: u32, byte: u8) -> EvidenceRecord {
        let signed = |b: u8| SignedResponseRecord {
            block_hash: B256::repeat_byte(b),
            state_root: B256::repeat_byte(b + 1),
            receipts_root: B256::repeat_byte(b + 2),
            digest: B256::repeat_byte(b + 3),
            signature: B256::repeat_byte(b + 4),
        };
        EvidenceRecord {
            task_index,
            task_hash: B256::repeat_byte(byte),
            operator_id: B256::repeat_byte(byte + 1),
            first: signed(10),
            second: signed(20),
        }
    }

    #[test]
    fn records_round_trip_by_task_and_a_torn_tail_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(
            read(&path, None).unwrap().is_empty(),
            "no file, no evidence"
        );
        append(&path, &record(3, 1)).unwrap();
        append(&path, &record(4, 2)).unwrap();
        append(&path, &record(3, 5)).unwrap();
        let task3 = read(&path, Some(3)).unwrap();
        assert_eq!(task3, vec![record(3, 1), record(3, 5)]);
        assert_eq!(read(&path, None).unwrap().len(), 3);
        // A crash mid-append leaves a partial last line: skipped, the rest still reads, and the
        // next append starts on a line of its own.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"taskIndex":3,"taskH"#).unwrap();
        assert_eq!(read(&path, Some(3)).unwrap().len(), 2);
        append(&path, &record(3, 7)).unwrap();
        assert_eq!(
            read(&path, Some(3)).unwrap(),
            vec![record(3, 1), record(3, 5), record(3, 7)]
        );
        // Damage inside the file is an error naming the line.
        std::fs::write(&path, "{}\n").unwrap();
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("line 1 is not a record"), "{err}");
    }
}
