//! The slashing-protection store: the local record that makes an operator never sign two
//! different responses for one task, like the slashing-protection databases Ethereum validators
//! keep.
//!
//! # Model
//! One record per task, keyed by [`TaskKey`] (settlement chain id, task manager address, task
//! index and the task's EIP-712 struct hash), holding the digest that was signed and the
//! signature. The signed digest commits to the whole task (see
//! [`avs_contracts::avs::attestation_digest`]), so a signature for task *T* at index *i* is
//! useless for any other task that a reorg puts at index *i*: such a task is another key, and
//! signing it is not a second response to *T*.
//!
//! # Format
//! JSON lines, one [`TaskKey`] + digest + signature each. Files written before the signing
//! domain existed (records without `task_hash`, signatures over `keccak256(abi.encode(response))`)
//! are never reused: [`SlashingProtectionStore::open`] moves such a file aside to `<file>.v1` (it
//! refuses if that name is taken) and starts an empty store, with a warning. Those signatures
//! only verify on task managers of the old protocol, so no new signature can conflict with them.
//!
//! # Invariants
//! - [`SlashingProtectionStore::sign_once`] appends the record and `fsync`s it *before* it
//!   returns the signature, so no signature can leave the process without a durable record.
//! - Same key and same digest again: the stored signature is returned (a re-send, never a new
//!   signing decision). Same key, different digest: [`StoreError::Conflict`], nothing signed.
//! - The file is append-only JSON lines. A crash can leave only a torn *last* line, whose
//!   signature was never returned; [`SlashingProtectionStore::open`] drops it. Any other damage
//!   (a bad complete line, two digests for one key) refuses to open: guessing would risk a
//!   slashable signature.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use alloy::primitives::{Address, B256, FixedBytes};
use avs_bls::Signature;
use serde::{Deserialize, Serialize};

/// Which task a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskKey {
    /// Settlement chain id.
    pub chain_id: u64,
    /// The task manager contract.
    pub task_manager: Address,
    /// The task index in that contract.
    pub task_index: u32,
    /// The task's EIP-712 struct hash (`allTaskHashes(task_index)`).
    pub task_hash: B256,
}

/// One line of the store file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    chain_id: u64,
    task_manager: Address,
    task_index: u32,
    /// Absent in files of the first format (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_hash: Option<B256>,
    digest: B256,
    signature: FixedBytes<32>,
}

/// Suffix a first-format store file is moved aside to.
const LEGACY_SUFFIX: &str = "v1";

/// What [`SlashingProtectionStore::sign_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// No record existed: the digest was signed and recorded now.
    New(Signature),
    /// The same digest was signed before: its recorded signature, unchanged.
    Resend(Signature),
}

impl Signing {
    /// The signature, new or re-sent.
    pub const fn signature(&self) -> Signature {
        match self {
            Self::New(signature) | Self::Resend(signature) => *signature,
        }
    }
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Signing would produce a second, different response for a task: refused.
    #[error(
        "slashing protection: task {} (hash {}) of task manager {} on chain {} was already signed \
         with digest {recorded}; refusing to sign a different digest {requested}",
        key.task_index, key.task_hash, key.task_manager, key.chain_id
    )]
    Conflict {
        /// The task (boxed: it is the large, rare variant).
        key: Box<TaskKey>,
        /// The digest signed earlier.
        recorded: B256,
        /// The digest now requested.
        requested: B256,
    },
    /// Reading, writing or syncing the file failed.
    #[error("slashing-protection store {path}: {source}")]
    Io {
        /// The store file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A complete line of the file cannot be trusted.
    #[error(
        "slashing-protection store {path} line {line} is corrupt ({reason}); refusing to start: \
         restore the file from a backup (never delete it while this operator is registered)"
    )]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The blocking writer task died (a panic in the runtime's blocking pool).
    #[error("slashing-protection store writer failed: {0}")]
    Writer(String),
}

/// The persisted record of every task this operator signed (see the module docs).
#[derive(Debug, Clone)]
pub struct SlashingProtectionStore {
    path: PathBuf,
    file: Arc<Mutex<File>>,
    records: Arc<Mutex<HashMap<TaskKey, (B256, Signature)>>>,
}

impl SlashingProtectionStore {
    /// Opens (or creates) the store file at `path`, loading every record.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let opened_path = path.clone();
        let (file, records) = tokio::task::spawn_blocking(move || load(&opened_path))
            .await
            .map_err(|err| StoreError::Writer(err.to_string()))??;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
            records: Arc::new(Mutex::new(records)),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded digest and signature of a task, if it was signed.
    pub fn get(&self, key: &TaskKey) -> Option<(B256, Signature)> {
        self.records
            .lock()
            .expect("store lock is never held across a panic")
            .get(key)
            .copied()
    }

    /// Returns the one signature this operator may ever give for `key`: the recorded one if
    /// `digest` was signed before, else `sign(digest)` after durably recording it. A different
    /// digest than the recorded one is refused with [`StoreError::Conflict`].
    ///
    /// Calls for the same store must not run concurrently (the ExEx processes tasks in order);
    /// the record is checked and written under the store's file lock to keep that safe anyway.
    pub async fn sign_once(
        &self,
        key: TaskKey,
        digest: B256,
        sign: impl FnOnce(B256) -> Signature,
    ) -> Result<Signing, StoreError> {
        if let Some(signing) = self.check(&key, digest)? {
            return Ok(signing);
        }
        let signature = sign(digest);
        let record = Record {
            chain_id: key.chain_id,
            task_manager: key.task_manager,
            task_index: key.task_index,
            task_hash: Some(key.task_hash),
            digest,
            signature: FixedBytes(signature.to_bytes()),
        };
        let mut line = serde_json::to_vec(&record).expect("a record always serializes");
        line.push(b'\n');
        let (file, records, path) = (self.file.clone(), self.records.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut file = file
                .lock()
                .expect("store lock is never held across a panic");
            // Re-check under the file lock: another caller may have recorded the key meanwhile.
            if let Some((recorded, stored)) = records.lock().expect("not poisoned").get(&key) {
                return if *recorded == digest {
                    Ok(Signing::Resend(*stored))
                } else {
                    Err(StoreError::Conflict {
                        key: Box::new(key),
                        recorded: *recorded,
                        requested: digest,
                    })
                };
            }
            let io = |source| StoreError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(&line).map_err(io)?;
            // The signature may only leave the process once this record survives a crash.
            file.sync_data().map_err(io)?;
            records
                .lock()
                .expect("not poisoned")
                .insert(key, (digest, signature));
            Ok(Signing::New(signature))
        })
        .await
        .map_err(|err| StoreError::Writer(err.to_string()))?
    }

    fn check(&self, key: &TaskKey, digest: B256) -> Result<Option<Signing>, StoreError> {
        match self.get(key) {
            Some((recorded, signature)) if recorded == digest => {
                Ok(Some(Signing::Resend(signature)))
            }
            Some((recorded, _)) => Err(StoreError::Conflict {
                key: Box::new(*key),
                recorded,
                requested: digest,
            }),
            None => Ok(None),
        }
    }
}

type Records = HashMap<TaskKey, (B256, Signature)>;

/// Reads the file, drops a torn last line, and returns the file positioned for appending.
fn load(path: &Path) -> Result<(File, Records), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    if created {
        // Make the new file's directory entry durable too, or a crash could lose the whole file.
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            File::open(dir).and_then(|dir| dir.sync_all()).map_err(io)?;
        }
    }
    let mut contents = Vec::new();
    file.read_to_end(&mut contents).map_err(io)?;
    let complete = contents
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |end| end + 1);
    if complete < contents.len() {
        tracing::warn!(
            path = %path.display(),
            bytes = contents.len() - complete,
            "dropping a torn last record (a crash while writing it; its signature never left)"
        );
        file.set_len(complete as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    file.seek(SeekFrom::Start(complete as u64)).map_err(io)?;

    let mut records = Records::new();
    let mut legacy_lines = 0;
    for (index, line) in contents[..complete]
        .split(|byte| *byte == b'\n')
        .enumerate()
    {
        if line.is_empty() {
            continue;
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_owned(),
            line: index + 1,
            reason,
        };
        let record: Record =
            serde_json::from_slice(line).map_err(|err| corrupt(err.to_string()))?;
        let signature = Signature::from_bytes(record.signature.as_slice())
            .map_err(|err| corrupt(err.to_string()))?;
        let Some(task_hash) = record.task_hash else {
            legacy_lines += 1;
            continue;
        };
        let key = TaskKey {
            chain_id: record.chain_id,
            task_manager: record.task_manager,
            task_index: record.task_index,
            task_hash,
        };
        match records.get(&key) {
            Some((digest, _)) if *digest != record.digest => {
                return Err(corrupt(format!(
                    "task {} (hash {task_hash}) has two different digests",
                    key.task_index
                )));
            }
            _ => {
                records.insert(key, (record.digest, signature));
            }
        }
    }
    if legacy_lines > 0 {
        if !records.is_empty() {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                line: 1,
                reason: "records of the first format (no task_hash) mixed with current ones".into(),
            });
        }
        drop(file);
        return move_legacy_aside(path, legacy_lines);
    }
    Ok((file, records))
}

/// Moves a first-format store to `<path>.v1` and opens a new, empty one in its place.
fn move_legacy_aside(path: &Path, records: usize) -> Result<(File, Records), StoreError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".");
    aside.push(LEGACY_SUFFIX);
    let aside = PathBuf::from(aside);
    if aside.exists() {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            line: 1,
            reason: format!(
                "it is in the first format (signatures without a signing domain) and {} exists \
                 already; move one of them away (keep both while this operator is registered)",
                aside.display()
            ),
        });
    }
    std::fs::rename(path, &aside).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        kept_as = %aside.display(),
        records,
        "slashing-protection store of the first format (signatures over the response alone, \
         valid only on task managers of that protocol): kept aside, starting a new store"
    );
    load(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use avs_bls::SecretKey;

    fn key(task_index: u32) -> TaskKey {
        TaskKey {
            chain_id: 31337,
            task_manager: Address::repeat_byte(7),
            task_index,
            task_hash: B256::repeat_byte(9),
        }
    }

    #[tokio::test]
    async fn refuses_a_conflicting_digest_also_after_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("slashing-protection.jsonl");
        let secret = SecretKey::generate();
        let (first, second) = (B256::repeat_byte(1), B256::repeat_byte(2));

        let store = SlashingProtectionStore::open(&path).await.expect("open");
        let signed = store
            .sign_once(key(0), first, |d| secret.sign(d))
            .await
            .expect("sign");
        assert_eq!(signed, Signing::New(secret.sign(first)));
        let again = store
            .sign_once(key(0), first, |_| panic!("must not re-sign"))
            .await;
        assert_eq!(again.expect("resend"), Signing::Resend(signed.signature()));
        let conflict = store
            .sign_once(key(0), second, |_| panic!("must not sign"))
            .await;
        assert!(
            matches!(conflict, Err(StoreError::Conflict { recorded, requested, .. }) if recorded == first && requested == second)
        );
        // Another task index is independent, and so is another task at the same index (a task
        // re-created after a reorg: the signed digest commits to the task).
        store
            .sign_once(key(1), second, |d| secret.sign(d))
            .await
            .expect("other task");
        let recreated = TaskKey {
            task_hash: B256::repeat_byte(10),
            ..key(0)
        };
        store
            .sign_once(recreated, second, |d| secret.sign(d))
            .await
            .expect("re-created task at the same index");
        drop(store);

        // A simulated restart: a fresh store on the same file.
        let reopened = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(reopened.get(&key(0)), Some((first, signed.signature())));
        let conflict = reopened
            .sign_once(key(0), second, |_| panic!("must not sign"))
            .await;
        assert!(
            matches!(conflict, Err(StoreError::Conflict { .. })),
            "{conflict:?}"
        );
        let resend = reopened
            .sign_once(key(0), first, |_| panic!("must not re-sign"))
            .await;
        assert_eq!(resend.expect("resend"), Signing::Resend(signed.signature()));
    }

    #[tokio::test]
    async fn drops_a_torn_last_line_and_refuses_corruption() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        store
            .sign_once(key(3), B256::repeat_byte(3), |d| secret.sign(d))
            .await
            .expect("sign");
        drop(store);
        let good = std::fs::read(&path).expect("read");
        std::fs::write(&path, [good.as_slice(), b"{\"chain_id\":1"].concat()).expect("tear");

        let store = SlashingProtectionStore::open(&path)
            .await
            .expect("torn tail is dropped");
        assert!(store.get(&key(3)).is_some());
        assert_eq!(std::fs::read(&path).expect("read"), good);
        drop(store);

        std::fs::write(&path, [b"not json\n".as_slice(), &good].concat()).expect("corrupt");
        let err = SlashingProtectionStore::open(&path)
            .await
            .expect_err("corrupt line");
        assert!(matches!(err, StoreError::Corrupt { line: 1, .. }), "{err}");
    }

    #[tokio::test]
    async fn a_first_format_store_is_moved_aside_never_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("slashing-protection.jsonl");
        let secret = SecretKey::generate();
        let signature = FixedBytes(secret.sign(B256::repeat_byte(1)).to_bytes());
        let legacy = format!(
            "{{\"chain_id\":31337,\"task_manager\":\"{}\",\"task_index\":0,\"digest\":\"{}\",\"signature\":\"{signature}\"}}\n",
            Address::repeat_byte(7),
            B256::repeat_byte(1)
        );
        std::fs::write(&path, &legacy).expect("write");

        let store = SlashingProtectionStore::open(&path)
            .await
            .expect("migrated");
        let aside = dir.path().join("slashing-protection.jsonl.v1");
        assert_eq!(std::fs::read_to_string(&aside).expect("kept"), legacy);
        assert_eq!(
            std::fs::read(&path).expect("new store").len(),
            0,
            "empty store"
        );
        store
            .sign_once(key(0), B256::repeat_byte(2), |d| secret.sign(d))
            .await
            .expect("the new protocol's task 0 is signed");
        drop(store);

        // A second first-format file with the aside name taken is refused, not overwritten.
        std::fs::write(&path, &legacy).expect("write");
        let err = SlashingProtectionStore::open(&path)
            .await
            .expect_err("aside name taken");
        assert!(err.to_string().contains("first format"), "{err}");
        // Mixed formats are refused.
        let current = std::fs::read_to_string(&aside).expect("read");
        std::fs::remove_file(&aside).expect("remove");
        let store = SlashingProtectionStore::open(&path)
            .await
            .expect("migrated again");
        store
            .sign_once(key(5), B256::repeat_byte(5), |d| secret.sign(d))
            .await
            .expect("sign");
        drop(store);
        let new_line = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, format!("{current}{new_line}")).expect("mix");
        std::fs::remove_file(&aside).expect("remove");
        let err = SlashingProtectionStore::open(&path)
            .await
            .expect_err("mixed");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
