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
//! # Low watermark
//! Per task manager ([`TaskManagerId`]) the store keeps a *low watermark*: a task index below
//! which it signs nothing at all ([`StoreError::BelowWatermark`]), because every task below it
//! is closed for good. The AVS ExEx raises it ([`SlashingProtectionStore::raise_watermark`])
//! once a task's creation and the end of its response window (or its response) are beyond any
//! reorg the node absorbs; an import raises it to at least the imported one. Records below the
//! watermark are never needed again: they are dropped from memory at once and from the file at
//! the next compaction, so the file stops growing with the chain.
//!
//! # Format
//! JSON lines: a record per signed task (`chain_id`, `task_manager`, `task_index`, `task_hash`,
//! `digest`, `signature`), and a watermark line (`chain_id`, `task_manager`, `low_watermark`)
//! per raise; the highest watermark line of a task manager counts. Files written before the
//! signing domain existed (records without `task_hash`, signatures over
//! `keccak256(abi.encode(response))`) are never reused: [`SlashingProtectionStore::open`] moves
//! such a file aside to `<file>.v1` (it refuses if that name is taken) and starts an empty store,
//! with a warning. Those signatures only verify on task managers of the old protocol, so no new
//! signature can conflict with them.
//!
//! Another node's record is moved in with the [`Interchange`] format
//! ([`SlashingProtectionStore::export`], [`SlashingProtectionStore::import`]).
//!
//! # Invariants
//! - [`SlashingProtectionStore::sign_once`] appends the record and `fsync`s it *before* it
//!   returns the signature, so no signature can leave the process without a durable record.
//! - Same key and same digest again: the stored signature is returned (a re-send, never a new
//!   signing decision). Same key, different digest: [`StoreError::Conflict`], nothing signed.
//! - The file is appended to, and otherwise only replaced whole: a compaction or an import
//!   writes `<file>.tmp`, fsyncs it, renames it over the file and fsyncs the directory, so a
//!   crash leaves either the old file or the new one (a leftover `<file>.tmp` is deleted at
//!   open). A crash while appending can leave only a torn *last* line, whose signature was never
//!   returned; [`SlashingProtectionStore::open`] drops it. Any other damage (a bad complete line,
//!   two digests for one key) refuses to open: guessing would risk a slashable signature.
//! - An import is all or nothing: a conflict or another task manager refuses it before anything
//!   is written.

use std::{
    collections::{BTreeMap, HashMap, btree_map, hash_map},
    fmt,
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use alloy::primitives::{Address, B256, FixedBytes};
use avs_bls::Signature;
use serde::{Deserialize, Serialize};

use super::interchange::{
    INTERCHANGE_FORMAT_VERSION, Interchange, InterchangeMetadata, SignedTask,
};

/// Which task a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

impl TaskKey {
    /// The task manager the task belongs to.
    pub const fn task_manager_id(&self) -> TaskManagerId {
        TaskManagerId {
            chain_id: self.chain_id,
            task_manager: self.task_manager,
        }
    }
}

/// A task manager on a settlement chain: the scope of task indices and of a low watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskManagerId {
    /// Settlement chain id.
    pub chain_id: u64,
    /// The `AvsTaskManager` proxy.
    pub task_manager: Address,
}

impl fmt::Display for TaskManagerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task manager {} on chain {}",
            self.task_manager, self.chain_id
        )
    }
}

/// A record line of the store file.
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

impl Record {
    fn line(key: &TaskKey, digest: B256, signature: &Signature) -> Vec<u8> {
        to_line(&Self {
            chain_id: key.chain_id,
            task_manager: key.task_manager,
            task_index: key.task_index,
            task_hash: Some(key.task_hash),
            digest,
            signature: FixedBytes(signature.to_bytes()),
        })
    }
}

/// A watermark line of the store file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatermarkLine {
    chain_id: u64,
    task_manager: Address,
    low_watermark: u32,
}

impl WatermarkLine {
    fn line(id: TaskManagerId, low_watermark: u32) -> Vec<u8> {
        to_line(&Self {
            chain_id: id.chain_id,
            task_manager: id.task_manager,
            low_watermark,
        })
    }
}

fn to_line(value: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("a store line always serializes");
    line.push(b'\n');
    line
}

/// Suffix a first-format store file is moved aside to.
const LEGACY_SUFFIX: &str = "v1";
/// Suffix of the file a compaction or an import writes before renaming it over the store.
const TEMP_SUFFIX: &str = "tmp";
/// Lines a compaction must be able to drop before the file is rewritten: bounds both the
/// rewrites (one per this many closed tasks) and the dead lines in the file.
const COMPACT_AFTER: usize = 64;

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

/// What [`SlashingProtectionStore::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records added.
    pub imported: usize,
    /// Records the store held already (same task, same digest).
    pub already_present: usize,
    /// Records below the resulting watermark, not kept (those tasks are never signed again).
    pub below_watermark: usize,
    /// The store's watermark before the import.
    pub previous_watermark: u32,
    /// The store's watermark now: the higher of its own and the imported one.
    pub watermark: u32,
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
    /// The task is below the low watermark: closed for good, nothing is signed for it.
    #[error(
        "slashing protection: task {} of task manager {} on chain {} is below the low watermark \
         {watermark} (closed for good); refusing to sign it",
        key.task_index, key.task_manager, key.chain_id
    )]
    BelowWatermark {
        /// The task (boxed: it is the large, rare variant).
        key: Box<TaskKey>,
        /// The watermark of its task manager.
        watermark: u32,
    },
    /// An import holds another digest for a task this store recorded: the whole import is
    /// refused.
    #[error(
        "import refused, nothing written: task {} (hash {}) is recorded here with digest \
         {recorded}, but the file has {imported}; two different responses to one task must never \
         both exist: find out which node signed what before going on",
        key.task_index, key.task_hash
    )]
    ImportConflict {
        /// The task (boxed: it is the large, rare variant).
        key: Box<TaskKey>,
        /// The digest this store recorded.
        recorded: B256,
        /// The digest in the imported file.
        imported: B256,
    },
    /// An import is for another task manager than the node's.
    #[error(
        "import refused, nothing written: the file is for {found}, but this node's deployment is \
         {expected}; import it into a node of that deployment"
    )]
    WrongTaskManager {
        /// The node's task manager.
        expected: Box<TaskManagerId>,
        /// The file's task manager.
        found: Box<TaskManagerId>,
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

type Records = HashMap<TaskKey, (B256, Signature)>;
type Watermarks = BTreeMap<TaskManagerId, u32>;

/// The store's contents and its open file, behind one lock.
#[derive(Debug)]
struct State {
    /// Positioned at the end, for appending.
    file: File,
    /// Every record at or above its task manager's watermark.
    records: Records,
    watermarks: Watermarks,
    /// Lines of the file a compaction would drop: records below their watermark and superseded
    /// watermark lines.
    prunable: usize,
}

impl State {
    fn watermark(&self, id: TaskManagerId) -> u32 {
        self.watermarks.get(&id).copied().unwrap_or(0)
    }

    /// `Some` when `key` may only get its recorded signature, `None` when it may be signed.
    fn check(&self, key: &TaskKey, digest: B256) -> Result<Option<Signing>, StoreError> {
        let watermark = self.watermark(key.task_manager_id());
        if key.task_index < watermark {
            return Err(StoreError::BelowWatermark {
                key: Box::new(*key),
                watermark,
            });
        }
        match self.records.get(key) {
            Some((recorded, signature)) if *recorded == digest => {
                Ok(Some(Signing::Resend(*signature)))
            }
            Some((recorded, _)) => Err(StoreError::Conflict {
                key: Box::new(*key),
                recorded: *recorded,
                requested: digest,
            }),
            None => Ok(None),
        }
    }

    /// Appends `line` and makes it durable.
    fn append(&mut self, path: &Path, line: &[u8]) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        self.file.write_all(line).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Raises the in-memory watermark of `id` (the file already holds its line) and drops the
    /// records below it.
    fn set_watermark(&mut self, id: TaskManagerId, watermark: u32) {
        if self.watermarks.insert(id, watermark).is_some() {
            self.prunable += 1;
        }
        let before = self.records.len();
        self.records
            .retain(|key, _| key.task_manager_id() != id || key.task_index >= watermark);
        self.prunable += before - self.records.len();
    }

    /// Rewrites the file without its prunable lines once there are at least `min_prunable`.
    fn compact_if(&mut self, path: &Path, min_prunable: usize) -> Result<(), StoreError> {
        if self.prunable == 0 || self.prunable < min_prunable {
            return Ok(());
        }
        self.file = write_whole(path, &self.watermarks, &self.records)?;
        tracing::info!(
            path = %path.display(),
            dropped_lines = self.prunable,
            kept_records = self.records.len(),
            watermarks = ?self.watermarks.values().collect::<Vec<_>>(),
            "compacted the slashing-protection store: records below the low watermark removed"
        );
        self.prunable = 0;
        Ok(())
    }
}

/// The persisted record of every task this operator signed (see the module docs).
#[derive(Debug, Clone)]
pub struct SlashingProtectionStore {
    path: PathBuf,
    state: Arc<Mutex<State>>,
}

impl SlashingProtectionStore {
    /// Opens (or creates) the store file at `path`, loading every record at or above its
    /// watermark (and compacting the file if enough lines are below).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let opened_path = path.clone();
        let state = tokio::task::spawn_blocking(move || {
            let mut state = load(&opened_path)?;
            state.compact_if(&opened_path, COMPACT_AFTER)?;
            Ok::<_, StoreError>(state)
        })
        .await
        .map_err(|err| StoreError::Writer(err.to_string()))??;
        Ok(Self {
            path,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("store lock is never held across a panic")
    }

    /// Runs `work` on the state on the blocking pool (file writes and fsyncs block).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path, &mut State) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (state, path) = (self.state.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut state = state
                .lock()
                .expect("store lock is never held across a panic");
            work(&path, &mut state)
        })
        .await
        .map_err(|err| StoreError::Writer(err.to_string()))?
    }

    /// The recorded digest and signature of a task, if it was signed (and is not below the
    /// watermark).
    pub fn get(&self, key: &TaskKey) -> Option<(B256, Signature)> {
        self.state().records.get(key).copied()
    }

    /// The low watermark of a task manager: no task below this index is signed (0 if never
    /// raised).
    pub fn watermark(&self, id: TaskManagerId) -> u32 {
        self.state().watermark(id)
    }

    /// Returns the one signature this operator may ever give for `key`: the recorded one if
    /// `digest` was signed before, else `sign(digest)` after durably recording it. A different
    /// digest than the recorded one is refused with [`StoreError::Conflict`], a task below the
    /// watermark with [`StoreError::BelowWatermark`].
    ///
    /// Calls for the same store must not run concurrently (the ExEx processes tasks in order);
    /// the record is checked and written under the store's lock to keep that safe anyway.
    pub async fn sign_once(
        &self,
        key: TaskKey,
        digest: B256,
        sign: impl FnOnce(B256) -> Signature,
    ) -> Result<Signing, StoreError> {
        if let Some(signing) = self.state().check(&key, digest)? {
            return Ok(signing);
        }
        let signature = sign(digest);
        let line = Record::line(&key, digest, &signature);
        self.blocking(move |path, state| {
            // Re-check under the lock: another caller may have recorded the key meanwhile.
            if let Some(signing) = state.check(&key, digest)? {
                return Ok(signing);
            }
            // The signature may only leave the process once this record survives a crash.
            state.append(path, &line)?;
            state.records.insert(key, (digest, signature));
            Ok(Signing::New(signature))
        })
        .await
    }

    /// Raises the low watermark of `id` to `watermark` (a lower value changes nothing): from now
    /// on no task below it is signed. Only for tasks closed for good: created and answered or
    /// expired beyond any reorg. The line is fsynced before the records below are dropped; the
    /// file is compacted once enough lines are prunable (logged at INFO).
    pub async fn raise_watermark(
        &self,
        id: TaskManagerId,
        watermark: u32,
    ) -> Result<(), StoreError> {
        self.blocking(move |path, state| {
            if watermark <= state.watermark(id) {
                return Ok(());
            }
            state.append(path, &WatermarkLine::line(id, watermark))?;
            state.set_watermark(id, watermark);
            state.compact_if(path, COMPACT_AFTER)
        })
        .await
    }

    /// This store's record for the task manager `id` in the [`Interchange`] format: its
    /// watermark and every signed task at or above it, by task index.
    pub fn export(&self, id: TaskManagerId) -> Interchange {
        let state = self.state();
        let mut tasks: Vec<SignedTask> = state
            .records
            .iter()
            .filter(|(key, _)| key.task_manager_id() == id)
            .map(|(key, (digest, signature))| SignedTask {
                task_index: key.task_index,
                task_hash: key.task_hash,
                signed_digest: *digest,
                signature: *signature,
            })
            .collect();
        tasks.sort_by_key(|task| (task.task_index, task.task_hash));
        Interchange {
            metadata: InterchangeMetadata {
                interchange_format_version: INTERCHANGE_FORMAT_VERSION.to_owned(),
                chain_id: id.chain_id,
                task_manager: id.task_manager,
                low_watermark: state.watermark(id),
            },
            tasks,
        }
    }

    /// Merges `interchange` into the store for the node's task manager `deployment`: the
    /// watermark becomes the higher of both, records at or above it are added (the same record
    /// twice is fine). Refused as a whole, with nothing written, if the file is for another task
    /// manager ([`StoreError::WrongTaskManager`]) or holds another digest for a task recorded
    /// here ([`StoreError::ImportConflict`]). The merged file replaces the old one atomically.
    pub async fn import(
        &self,
        deployment: TaskManagerId,
        interchange: Interchange,
    ) -> Result<ImportSummary, StoreError> {
        let found = interchange.metadata.task_manager_id();
        if found != deployment {
            return Err(StoreError::WrongTaskManager {
                expected: Box::new(deployment),
                found: Box::new(found),
            });
        }
        self.blocking(move |path, state| {
            for task in &interchange.tasks {
                let key = task.key(deployment);
                if let Some((recorded, _)) = state.records.get(&key)
                    && *recorded != task.signed_digest
                {
                    return Err(StoreError::ImportConflict {
                        key: Box::new(key),
                        recorded: *recorded,
                        imported: task.signed_digest,
                    });
                }
            }
            let previous_watermark = state.watermark(deployment);
            let watermark = previous_watermark.max(interchange.metadata.low_watermark);
            let mut summary = ImportSummary {
                imported: 0,
                already_present: 0,
                below_watermark: 0,
                previous_watermark,
                watermark,
            };
            // Built aside and swapped in only once the new file is in place.
            let mut watermarks = state.watermarks.clone();
            watermarks.insert(deployment, watermark);
            let mut records = state.records.clone();
            records.retain(|key, _| {
                key.task_manager_id() != deployment || key.task_index >= watermark
            });
            for task in &interchange.tasks {
                if task.task_index < watermark {
                    summary.below_watermark += 1;
                    continue;
                }
                match records.entry(task.key(deployment)) {
                    hash_map::Entry::Occupied(_) => summary.already_present += 1,
                    hash_map::Entry::Vacant(entry) => {
                        entry.insert((task.signed_digest, task.signature));
                        summary.imported += 1;
                    }
                }
            }
            state.file = write_whole(path, &watermarks, &records)?;
            state.records = records;
            state.watermarks = watermarks;
            state.prunable = 0;
            Ok(summary)
        })
        .await
    }
}

/// `<path>.<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes a rename or a new directory entry in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => File::open(dir).and_then(|dir| dir.sync_all()),
        None => File::open(".").and_then(|dir| dir.sync_all()),
    }
}

/// Replaces the file at `path` with exactly `watermarks` and `records` (temp file, fsync,
/// rename, fsync of the directory) and returns it positioned for appending.
fn write_whole(
    path: &Path,
    watermarks: &Watermarks,
    records: &Records,
) -> Result<File, StoreError> {
    let temp = sibling(path, TEMP_SUFFIX);
    let io = |source| StoreError::Io {
        path: temp.clone(),
        source,
    };
    let mut contents = Vec::new();
    for (id, watermark) in watermarks {
        contents.extend(WatermarkLine::line(*id, *watermark));
    }
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by_key(|(key, _)| **key);
    for (key, (digest, signature)) in sorted {
        contents.extend(Record::line(key, *digest, signature));
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .map_err(io)?;
    file.write_all(&contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    // The open handle follows the file through the rename: it stays the store's append handle.
    std::fs::rename(&temp, path).map_err(io)?;
    sync_dir(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(file)
}

/// Reads the file, drops a torn last line and a leftover temp file, and returns the state with
/// the file positioned for appending.
fn load(path: &Path) -> Result<State, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let temp = sibling(path, TEMP_SUFFIX);
    if temp.exists() {
        // A compaction or import died before its rename: the store file is still the whole
        // truth, and the half-written copy must not be mistaken for it.
        tracing::warn!(
            path = %temp.display(),
            "removing an unfinished rewrite of the slashing-protection store"
        );
        std::fs::remove_file(&temp).map_err(io)?;
    }
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
        sync_dir(path).map_err(io)?;
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
            "dropping a torn last line (a crash while writing it; a record's signature never left)"
        );
        file.set_len(complete as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    file.seek(SeekFrom::Start(complete as u64)).map_err(io)?;

    let mut records = Records::new();
    let mut watermarks = Watermarks::new();
    let mut prunable = 0;
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
        let fields: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|err| corrupt(err.to_string()))?;
        if fields.contains_key("low_watermark") {
            let line: WatermarkLine =
                serde_json::from_value(fields.into()).map_err(|err| corrupt(err.to_string()))?;
            let id = TaskManagerId {
                chain_id: line.chain_id,
                task_manager: line.task_manager,
            };
            // Every raise appends a line: the highest counts, the others are prunable.
            match watermarks.entry(id) {
                btree_map::Entry::Vacant(entry) => {
                    entry.insert(line.low_watermark);
                }
                btree_map::Entry::Occupied(mut entry) => {
                    prunable += 1;
                    let highest = (*entry.get()).max(line.low_watermark);
                    entry.insert(highest);
                }
            }
            continue;
        }
        let record: Record =
            serde_json::from_value(fields.into()).map_err(|err| corrupt(err.to_string()))?;
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
        if !records.is_empty() || !watermarks.is_empty() {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                line: 1,
                reason: "records of the first format (no task_hash) mixed with current ones".into(),
            });
        }
        drop(file);
        return move_legacy_aside(path, legacy_lines);
    }
    let before = records.len();
    records.retain(|key, _| {
        key.task_index >= watermarks.get(&key.task_manager_id()).copied().unwrap_or(0)
    });
    prunable += before - records.len();
    Ok(State {
        file,
        records,
        watermarks,
        prunable,
    })
}

/// Moves a first-format store to `<path>.v1` and opens a new, empty one in its place.
fn move_legacy_aside(path: &Path, records: usize) -> Result<State, StoreError> {
    let aside = sibling(path, LEGACY_SUFFIX);
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

    fn deployment() -> TaskManagerId {
        key(0).task_manager_id()
    }

    fn digest(task_index: u32) -> B256 {
        B256::repeat_byte(u8::try_from(task_index).expect("small test indices"))
    }

    /// Signs `indices` at `digest(index)` with `secret`.
    async fn sign_all(
        store: &SlashingProtectionStore,
        secret: &SecretKey,
        indices: impl IntoIterator<Item = u32>,
    ) {
        for index in indices {
            store
                .sign_once(key(index), digest(index), |d| secret.sign(d))
                .await
                .expect("sign");
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn refuses_to_sign_below_the_watermark_also_after_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        sign_all(&store, &secret, [3]).await;
        store.raise_watermark(deployment(), 5).await.expect("raise");
        assert_eq!(store.watermark(deployment()), 5);
        assert_eq!(store.get(&key(3)), None, "records below are dropped");
        // Neither a recorded task nor a never-signed one below the watermark is signed.
        for index in [3, 4] {
            let refused = store
                .sign_once(key(index), digest(index), |_| panic!("must not sign"))
                .await;
            assert!(
                matches!(refused, Err(StoreError::BelowWatermark { watermark: 5, ref key }) if key.task_index == index),
                "{refused:?}"
            );
        }
        sign_all(&store, &secret, [5]).await;
        // A lower value changes nothing; another task manager has a watermark of its own.
        store.raise_watermark(deployment(), 2).await.expect("no-op");
        assert_eq!(store.watermark(deployment()), 5);
        let other = TaskKey {
            task_manager: Address::repeat_byte(8),
            ..key(1)
        };
        store
            .sign_once(other, digest(1), |d| secret.sign(d))
            .await
            .expect("task 1 of another task manager");
        drop(store);

        let reopened = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(reopened.watermark(deployment()), 5);
        assert_eq!(reopened.watermark(other.task_manager_id()), 0);
        assert!(reopened.get(&key(5)).is_some());
        let refused = reopened
            .sign_once(key(4), digest(4), |_| panic!("must not sign"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::BelowWatermark { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn import_merges_idempotently_and_raises_the_watermark() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = SecretKey::generate();
        let old = SlashingProtectionStore::open(dir.path().join("old.jsonl"))
            .await
            .expect("open");
        sign_all(&old, &secret, 1..=4).await;
        old.raise_watermark(deployment(), 2).await.expect("raise");
        let exported = old.export(deployment());
        assert_eq!(exported.metadata.low_watermark, 2);
        assert_eq!(exported.metadata.task_manager_id(), deployment());
        assert_eq!(
            exported
                .tasks
                .iter()
                .map(|task| task.task_index)
                .collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let text = exported.to_json();

        // The new node signed task 4 the same way already, and task 6 of its own.
        let path = dir.path().join("new.jsonl");
        let new = SlashingProtectionStore::open(&path).await.expect("open");
        sign_all(&new, &secret, [4, 6]).await;
        let parsed = || Interchange::from_json(&text).expect("parses");
        let summary = new.import(deployment(), parsed()).await.expect("import");
        assert_eq!(
            summary,
            ImportSummary {
                imported: 2,
                already_present: 1,
                below_watermark: 0,
                previous_watermark: 0,
                watermark: 2,
            }
        );
        let (_, recorded) = old.get(&key(3)).expect("signed by the old node");
        let resend = new
            .sign_once(key(3), digest(3), |_| panic!("must not re-sign"))
            .await;
        assert_eq!(resend.expect("resend"), Signing::Resend(recorded));
        let conflict = new
            .sign_once(key(3), digest(9), |_| panic!("must not sign"))
            .await;
        assert!(
            matches!(conflict, Err(StoreError::Conflict { .. })),
            "{conflict:?}"
        );

        let again = new.import(deployment(), parsed()).await.expect("again");
        assert_eq!((again.imported, again.already_present), (0, 3));

        // A file with a higher watermark: the records below it are gone, here too.
        let mut higher = parsed();
        higher.metadata.low_watermark = 4;
        let summary = new.import(deployment(), higher).await.expect("higher");
        assert_eq!(
            (
                summary.below_watermark,
                summary.already_present,
                summary.watermark
            ),
            (2, 1, 4)
        );
        assert_eq!(new.get(&key(3)), None);
        drop(new);
        let reopened = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(reopened.watermark(deployment()), 4);
        assert!(reopened.get(&key(4)).is_some() && reopened.get(&key(6)).is_some());
        assert_eq!(reopened.get(&key(3)), None);
    }

    #[tokio::test]
    async fn import_refuses_a_conflict_or_another_task_manager_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        sign_all(&store, &secret, [2, 3]).await;
        let before = std::fs::read(&path).expect("read");

        // Task 3 with another digest, next to a new task 7 and a higher watermark.
        let mut file = store.export(deployment());
        file.tasks[1].signed_digest = digest(9);
        file.tasks.push(SignedTask {
            task_index: 7,
            task_hash: key(7).task_hash,
            signed_digest: digest(7),
            signature: secret.sign(digest(7)),
        });
        file.metadata.low_watermark = 1;
        let err = store
            .import(deployment(), file)
            .await
            .expect_err("conflict");
        assert!(
            matches!(&err, StoreError::ImportConflict { key, recorded, imported }
                if key.task_index == 3 && *recorded == digest(3) && *imported == digest(9)),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("import refused, nothing written: task 3"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "file unchanged"
        );
        assert_eq!(store.watermark(deployment()), 0);
        assert_eq!(store.get(&key(7)), None);

        let elsewhere = TaskManagerId {
            chain_id: 1,
            ..deployment()
        };
        let mut file = store.export(deployment());
        file.metadata.chain_id = elsewhere.chain_id;
        let err = store
            .import(deployment(), file)
            .await
            .expect_err("another chain");
        let message = err.to_string();
        assert!(
            message.contains(&format!("the file is for {elsewhere}"))
                && message.contains(&format!("this node's deployment is {}", deployment())),
            "{message}"
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "file unchanged"
        );
        drop(store);
        let reopened = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(reopened.get(&key(3)).map(|(d, _)| d), Some(digest(3)));
    }

    #[tokio::test]
    async fn compaction_drops_records_below_the_watermark_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        sign_all(&store, &secret, 0..10).await;
        store.raise_watermark(deployment(), 6).await.expect("raise");
        // Fewer prunable lines than the threshold: appended, not rewritten.
        assert_eq!(lines(&path).len(), 11);
        drop(store);

        let store = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(store.get(&key(3)), None, "not loaded");
        let kept = store.get(&key(7)).expect("kept");
        store
            .blocking(|path, state| state.compact_if(path, 1))
            .await
            .expect("compact");
        let compacted = lines(&path);
        assert_eq!(compacted.len(), 5, "{compacted:#?}");
        assert!(
            compacted[0].contains("\"low_watermark\":6"),
            "{}",
            compacted[0]
        );
        assert!(
            compacted[1..]
                .iter()
                .zip(6..)
                .all(|(line, index)| line.contains(&format!("\"task_index\":{index},"))),
            "{compacted:#?}"
        );
        // The append handle follows the new file.
        sign_all(&store, &secret, [10]).await;
        drop(store);

        let reopened = SlashingProtectionStore::open(&path).await.expect("reopen");
        assert_eq!(reopened.watermark(deployment()), 6);
        assert_eq!(reopened.get(&key(7)), Some(kept));
        assert!(reopened.get(&key(10)).is_some());
        assert_eq!(reopened.get(&key(5)), None);
        let refused = reopened
            .sign_once(key(5), digest(5), |_| panic!("must not sign"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::BelowWatermark { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn raising_the_watermark_compacts_once_enough_lines_are_prunable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        let count = u32::try_from(COMPACT_AFTER).expect("small") + 1;
        sign_all(&store, &secret, 0..count).await;
        store
            .raise_watermark(deployment(), count - 1)
            .await
            .expect("raise");
        assert_eq!(lines(&path).len(), 2, "the watermark and the last record");
    }

    #[tokio::test]
    async fn a_leftover_temp_file_of_an_interrupted_rewrite_is_ignored_and_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.jsonl");
        let temp = dir.path().join("store.jsonl.tmp");
        let secret = SecretKey::generate();
        let store = SlashingProtectionStore::open(&path).await.expect("open");
        sign_all(&store, &secret, [1, 2]).await;
        store.raise_watermark(deployment(), 2).await.expect("raise");
        drop(store);
        let before = std::fs::read(&path).expect("read");

        // Died while writing the copy, and died after writing a complete copy but before the
        // rename: either way the store file is the truth.
        let complete_copy =
            String::from_utf8(WatermarkLine::line(deployment(), 100)).expect("utf-8");
        for leftover in ["{\"chain_id\":31337,\"task_man", complete_copy.as_str()] {
            std::fs::write(&temp, leftover).expect("write");
            let store = SlashingProtectionStore::open(&path).await.expect("open");
            assert!(!temp.exists(), "removed");
            assert_eq!(store.watermark(deployment()), 2);
            assert!(store.get(&key(2)).is_some());
            assert_eq!(std::fs::read(&path).expect("read"), before);
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
