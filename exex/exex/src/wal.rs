//! Write-ahead log of notifications: checksummed append-only segment files.
//!
//! Every notification is appended and synced to disk *before* any ExEx sees it, so after a crash
//! the host can re-deliver whatever an ExEx had not finished.
//!
//! # Why append-only files and not an embedded database
//! The log is written strictly in order, read back in order at startup, and pruned from the
//! front; that is exactly what segment files do, with one `fdatasync` per notification and no
//! extra dependency. A crash can only tear the *last* record; the checksum finds it and it is
//! truncated with a warning. Corruption anywhere else is reported, never skipped.
//!
//! # Format
//! The directory holds `<first record index, 20 digits>.wal` segments. A record is
//! `len: u32 LE | checksum: first 8 bytes of keccak256(payload) | payload (JSON notification)`.
//! A new segment starts when the current one exceeds [`WalConfig::max_segment_bytes`]; pruning
//! deletes whole segments whose records all lie below the prune height.
//!
//! All methods do blocking file I/O: call them from `spawn_blocking` (the host does).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber, keccak256},
};
use tracing::warn;

use crate::notification::ExExNotification;

const HEADER_LEN: usize = 12;
/// Records larger than this are treated as corrupt lengths (a chain batch is far smaller).
const MAX_RECORD_LEN: u32 = 1 << 30;

/// WAL tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalConfig {
    /// Start a new segment once the current one is larger than this.
    pub max_segment_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            max_segment_bytes: 64 << 20,
        }
    }
}

/// WAL failures.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// File-system error on a WAL file.
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record before the end of the log is damaged (not a torn write).
    #[error(
        "WAL segment {path} is corrupt at byte {offset} ({reason}); the log cannot be replayed — \
         restore the data directory from a backup or delete it to backfill from the node"
    )]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A notification could not be encoded.
    #[error("cannot encode notification for the WAL: {0}")]
    Encode(#[source] serde_json::Error),
}

/// What the WAL remembers about one record without keeping it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    segment: u64,
    offset: u64,
    len: u32,
    /// First committed block number and the hashes of the committed blocks, in order.
    committed: Option<(BlockNumber, Vec<B256>)>,
    /// Highest block number the record mentions (committed or reverted).
    max_number: BlockNumber,
}

impl RecordMeta {
    fn of(segment: u64, offset: u64, len: u32, notification: &ExExNotification) -> Self {
        let committed = notification.committed_chain().map(|chain| {
            (
                chain.first().number(),
                chain.blocks_iter().map(|block| block.hash).collect(),
            )
        });
        let max_number = notification
            .committed_chain()
            .into_iter()
            .chain(notification.reverted_chain())
            .map(|chain| chain.tip().number())
            .max()
            .unwrap_or_default();
        Self {
            segment,
            offset,
            len,
            committed,
            max_number,
        }
    }

    /// True if the record's committed chain holds this block.
    pub fn commits(&self, block: BlockNumHash) -> bool {
        self.committed.as_ref().is_some_and(|(first, hashes)| {
            block
                .number
                .checked_sub(*first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| hashes.get(i))
                == Some(&block.hash)
        })
    }

    /// The first committed block number, if the record commits blocks.
    pub fn first_committed(&self) -> Option<BlockNumber> {
        self.committed.as_ref().map(|(first, _)| *first)
    }
}

/// The write-ahead log (see the module docs).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    config: WalConfig,
    /// Index of the first record still on disk (records before it were pruned).
    first_index: u64,
    records: Vec<RecordMeta>,
    /// Segment ids (= index of their first record) and sizes, oldest first.
    segments: Vec<(u64, u64)>,
    writer: Option<File>,
}

impl Wal {
    /// Opens (or creates) the WAL in `dir`, indexing every record; a torn last record is
    /// truncated with a warning.
    pub fn open(dir: &Path, config: WalConfig) -> Result<Self, WalError> {
        fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(|source| io_err(dir, source))? {
            let entry = entry.map_err(|source| io_err(dir, source))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".wal"))
                && let Ok(id) = id.parse::<u64>()
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut wal = Self {
            dir: dir.to_owned(),
            config,
            first_index: ids.first().copied().unwrap_or_default(),
            records: Vec::new(),
            segments: Vec::new(),
            writer: None,
        };
        for (position, id) in ids.iter().enumerate() {
            let is_last = position + 1 == ids.len();
            let expected = wal.first_index + wal.records.len() as u64;
            if *id != expected {
                return Err(WalError::Corrupt {
                    path: wal.segment_path(*id),
                    offset: 0,
                    reason: format!("segment starts at record {id}, expected {expected}"),
                });
            }
            let size = wal.index_segment(*id, is_last)?;
            wal.segments.push((*id, size));
        }
        Ok(wal)
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.wal"))
    }

    /// Reads one segment's records into the index; returns the segment's (possibly truncated)
    /// size.
    fn index_segment(&mut self, id: u64, is_last: bool) -> Result<u64, WalError> {
        let path = self.segment_path(id);
        let file = File::open(&path).map_err(|source| io_err(&path, source))?;
        let file_len = file
            .metadata()
            .map_err(|source| io_err(&path, source))?
            .len();
        let mut reader = BufReader::new(file);
        let mut offset = 0u64;
        while offset < file_len {
            match read_record(&mut reader, file_len - offset) {
                Ok((len, notification)) => {
                    self.records
                        .push(RecordMeta::of(id, offset, len, &notification));
                    offset += HEADER_LEN as u64 + u64::from(len);
                }
                Err(reason) if is_last => {
                    warn!(
                        path = %path.display(), offset, %reason,
                        "truncating torn last WAL record (an interrupted write)"
                    );
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|source| io_err(&path, source))?;
                    file.set_len(offset)
                        .map_err(|source| io_err(&path, source))?;
                    file.sync_all().map_err(|source| io_err(&path, source))?;
                    return Ok(offset);
                }
                Err(reason) => {
                    return Err(WalError::Corrupt {
                        path,
                        offset,
                        reason,
                    });
                }
            }
        }
        Ok(offset)
    }

    /// Appends a notification and syncs it to disk.
    pub fn append(&mut self, notification: &ExExNotification) -> Result<(), WalError> {
        let payload = serde_json::to_vec(notification).map_err(WalError::Encode)?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|len| *len <= MAX_RECORD_LEN)
            .ok_or_else(|| {
                WalError::Encode(serde::ser::Error::custom("notification exceeds 1 GiB"))
            })?;
        let index = self.first_index + self.records.len() as u64;
        let roll = self
            .segments
            .last()
            .is_none_or(|(_, size)| *size > self.config.max_segment_bytes);
        if roll {
            self.segments.push((index, 0));
            self.writer = None;
        }
        let &(segment, size) = self
            .segments
            .last()
            .expect("a segment exists after rolling");
        let path = self.segment_path(segment);
        if self.writer.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| io_err(&path, source))?;
            self.writer = Some(file);
        }
        let writer = self.writer.as_mut().expect("opened above");
        let mut record = Vec::with_capacity(HEADER_LEN + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&keccak256(&payload)[..8]);
        record.extend_from_slice(&payload);
        writer
            .write_all(&record)
            .map_err(|source| io_err(&path, source))?;
        writer.sync_data().map_err(|source| io_err(&path, source))?;
        self.records
            .push(RecordMeta::of(segment, size, len, notification));
        self.segments.last_mut().expect("exists").1 = size + record.len() as u64;
        Ok(())
    }

    /// Indexed records still on disk, oldest first.
    pub fn records(&self) -> &[RecordMeta] {
        &self.records
    }

    /// Reads record `position` (an index into [`Wal::records`]).
    pub fn read(&self, position: usize) -> Result<ExExNotification, WalError> {
        let meta = &self.records[position];
        let path = self.segment_path(meta.segment);
        let mut file = File::open(&path).map_err(|source| io_err(&path, source))?;
        file.seek(SeekFrom::Start(meta.offset))
            .map_err(|source| io_err(&path, source))?;
        let mut reader = BufReader::new(file);
        read_record(&mut reader, HEADER_LEN as u64 + u64::from(meta.len))
            .map(|(_, notification)| notification)
            .map_err(|reason| WalError::Corrupt {
                path,
                offset: meta.offset,
                reason,
            })
    }

    /// Position of the last record whose committed chain holds `block`.
    pub fn position_committing(&self, block: BlockNumHash) -> Option<usize> {
        self.records
            .iter()
            .rposition(|record| record.commits(block))
    }

    /// Total bytes of the segments on disk.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, size)| size).sum()
    }

    /// Deletes whole segments (never the one being written) whose records all lie below
    /// `height`; returns how many records were removed.
    pub fn prune_below(&mut self, height: BlockNumber) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.segments.len() > 1 {
            let (segment, _) = self.segments[0];
            let count = self
                .records
                .iter()
                .take_while(|r| r.segment == segment)
                .count();
            if self.records[..count].iter().any(|r| r.max_number >= height) {
                break;
            }
            let path = self.segment_path(segment);
            fs::remove_file(&path).map_err(|source| io_err(&path, source))?;
            self.records.drain(..count);
            self.segments.remove(0);
            self.first_index += count as u64;
            removed += count;
        }
        Ok(removed)
    }
}

/// Reads one record; `available` bounds how many bytes remain in the file. Errors are
/// descriptions (the caller decides between truncation and corruption).
fn read_record(reader: &mut impl Read, available: u64) -> Result<(u32, ExExNotification), String> {
    if available < HEADER_LEN as u64 {
        return Err(format!(
            "{available} trailing bytes, shorter than a record header"
        ));
    }
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header).map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    if len > MAX_RECORD_LEN || u64::from(len) > available - HEADER_LEN as u64 {
        return Err(format!("record length {len} exceeds the remaining file"));
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).map_err(|e| e.to_string())?;
    if keccak256(&payload)[..8] != header[4..] {
        return Err("checksum mismatch".to_owned());
    }
    let notification = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    Ok((len, notification))
}

fn io_err(path: &Path, source: io::Error) -> WalError {
    WalError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use avs_exex_types::test_utils::{ChainBuilder, TxSpec};

    fn commits(builder: &mut ChainBuilder, count: usize) -> Vec<ExExNotification> {
        (0..count)
            .map(|_| ExExNotification::ChainCommitted {
                new: Arc::new(builder.chain(2, &[TxSpec::with_log()])),
            })
            .collect()
    }

    #[test]
    fn records_survive_reopen_and_are_found_by_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let notifications = commits(&mut ChainBuilder::new(0), 3);
        {
            let mut wal = Wal::open(dir.path(), WalConfig::default()).expect("open");
            for n in &notifications {
                wal.append(n).expect("append");
            }
        }
        let wal = Wal::open(dir.path(), WalConfig::default()).expect("reopen");
        assert_eq!(wal.records().len(), 3);
        for (i, n) in notifications.iter().enumerate() {
            assert_eq!(&wal.read(i).expect("read"), n);
        }
        let block_4 = notifications[1]
            .committed_chain()
            .expect("commit")
            .tip()
            .num_hash();
        assert_eq!(block_4.number, 4);
        assert_eq!(wal.position_committing(block_4), Some(1));
        assert_eq!(
            wal.position_committing(BlockNumHash {
                number: 4,
                hash: B256::ZERO
            }),
            None
        );
    }

    #[test]
    fn torn_last_record_is_truncated_and_log_stays_appendable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut builder = ChainBuilder::new(0);
        let notifications = commits(&mut builder, 2);
        let segment;
        {
            let mut wal = Wal::open(dir.path(), WalConfig::default()).expect("open");
            for n in &notifications {
                wal.append(n).expect("append");
            }
            segment = wal.segment_path(0);
        }
        // Simulate a crash in the middle of writing the second record.
        let full = fs::metadata(&segment).expect("segment").len();
        let file = OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open segment");
        file.set_len(full - 10).expect("tear");
        drop(file);

        let mut wal = Wal::open(dir.path(), WalConfig::default()).expect("reopen after tear");
        assert_eq!(wal.records().len(), 1);
        assert_eq!(wal.read(0).expect("first intact"), notifications[0]);
        let again = commits(&mut builder, 1).remove(0);
        wal.append(&again).expect("append after truncation");
        let wal = Wal::open(dir.path(), WalConfig::default()).expect("reopen");
        assert_eq!(wal.records().len(), 2);
        assert_eq!(wal.read(1).expect("new record"), again);
    }

    #[test]
    fn corruption_before_the_end_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = WalConfig {
            max_segment_bytes: 1,
        };
        let mut wal = Wal::open(dir.path(), config).expect("open");
        for n in commits(&mut ChainBuilder::new(0), 2) {
            wal.append(&n).expect("append");
        }
        let first = wal.segment_path(0);
        drop(wal);
        let mut bytes = fs::read(&first).expect("read");
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs::write(&first, bytes).expect("write");
        let err = Wal::open(dir.path(), config).expect_err("corrupt middle segment");
        assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
    }

    #[test]
    fn prune_removes_whole_segments_below_height() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Tiny segments: one record each.
        let config = WalConfig {
            max_segment_bytes: 1,
        };
        let mut wal = Wal::open(dir.path(), config).expect("open");
        for n in commits(&mut ChainBuilder::new(0), 4) {
            wal.append(&n).expect("append");
        }
        // Records commit blocks 1-2, 3-4, 5-6, 7-8.
        let before = wal.size_bytes();
        assert_eq!(wal.prune_below(5).expect("prune"), 2);
        assert!(wal.size_bytes() < before);
        assert_eq!(wal.records().len(), 2);
        assert_eq!(wal.records()[0].first_committed(), Some(5));
        // The segment being written is never removed.
        assert_eq!(wal.prune_below(100).expect("prune"), 1);
        drop(wal);
        let wal = Wal::open(dir.path(), config).expect("reopen");
        assert_eq!(wal.records().len(), 1);
        assert_eq!(wal.records()[0].first_committed(), Some(7));
        assert_eq!(
            wal.read(0)
                .expect("read")
                .committed_chain()
                .expect("c")
                .tip()
                .number(),
            8
        );
    }
}
