//! The slashing-protection interchange format: one operator's record for one task manager, as a
//! JSON document another node can import, in the spirit of Ethereum validators' EIP-3076.
//!
//! # Format (version `"1"`)
//! ```json
//! {
//!   "metadata": {
//!     "interchange_format_version": "1",
//!     "chain_id": "17000",
//!     "task_manager": "0x1000000000000000000000000000000000000001",
//!     "low_watermark": "120"
//!   },
//!   "tasks": [
//!     {
//!       "task_index": "121",
//!       "task_hash": "0x5f0c…(32 bytes)",
//!       "signed_digest": "0x9a41…(32 bytes)",
//!       "signature": "0x8c27…(32 bytes)"
//!     }
//!   ]
//! }
//! ```
//! - `metadata.chain_id` and `metadata.task_manager`: the settlement chain and the
//!   `AvsTaskManager` proxy every record of the file belongs to (the EIP-712 signing domain).
//! - `metadata.low_watermark`: no task with a lower index may ever be signed again (all of them
//!   are closed for good); an importing store raises its own watermark to at least this.
//! - `tasks`: one entry per signed task at or above the watermark: the task index, the task's
//!   EIP-712 struct hash (`allTaskHashes(task_index)`), the EIP-712 digest of (task, response)
//!   that was signed, and the BLS signature (a compressed BN254 G1 point). The store re-sends
//!   that very signature when asked to sign the same digest again.
//!
//! Integers are decimal strings, as in EIP-3076 (JSON tooling often reads numbers as doubles);
//! hashes and signatures are `0x`-prefixed hex. Unknown fields are refused, so a typo cannot
//! silently drop a record.

use alloy::primitives::{Address, B256};
use avs_bls::Signature;
use serde::{Deserialize, Serialize};

use super::store::{TaskKey, TaskManagerId};

/// The interchange format version this build reads and writes.
pub const INTERCHANGE_FORMAT_VERSION: &str = "1";

/// A slashing-protection interchange document (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interchange {
    /// Which task manager the records belong to, and the low watermark.
    pub metadata: InterchangeMetadata,
    /// The signed tasks at or above the watermark.
    pub tasks: Vec<SignedTask>,
}

/// The `metadata` object of an [`Interchange`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterchangeMetadata {
    /// Always [`INTERCHANGE_FORMAT_VERSION`] when written by this build.
    pub interchange_format_version: String,
    /// Settlement chain id.
    #[serde(with = "decimal")]
    pub chain_id: u64,
    /// The `AvsTaskManager` proxy.
    pub task_manager: Address,
    /// Tasks below this index are closed for good: never signed again.
    #[serde(with = "decimal")]
    pub low_watermark: u32,
}

/// One entry of [`Interchange::tasks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTask {
    /// The task index in the task manager.
    #[serde(with = "decimal")]
    pub task_index: u32,
    /// The task's EIP-712 struct hash.
    pub task_hash: B256,
    /// The EIP-712 digest of (task, response) that was signed.
    pub signed_digest: B256,
    /// The signature over `signed_digest`.
    #[serde(with = "signature")]
    pub signature: Signature,
}

/// Why an interchange document was refused.
#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    /// The text is not a document of this format.
    #[error("line {line} column {column}, at `{field}`: {reason}")]
    Malformed {
        /// Where in the document (`tasks[2].signed_digest`; `.` for the document itself).
        field: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// Another version of the format.
    #[error(
        "metadata.interchange_format_version is {found:?}, but this build reads version \
         {INTERCHANGE_FORMAT_VERSION:?}: export again with a matching avs-node"
    )]
    UnsupportedVersion {
        /// The version the document states.
        found: String,
    },
    /// The document contradicts itself: two digests for one task.
    #[error(
        "task {task_index} (hash {task_hash}) appears twice with different signed digests \
         ({first} and {second}): the document records two responses to one task and is refused"
    )]
    TwoDigests {
        /// The task index.
        task_index: u32,
        /// The task hash.
        task_hash: B256,
        /// The digest of its first entry.
        first: B256,
        /// The digest of a later entry.
        second: B256,
    },
}

impl Interchange {
    /// Parses and checks a document: the format version, every field (a signature must be a
    /// valid G1 point), and that no task has two different digests.
    pub fn from_json(text: &str) -> Result<Self, InterchangeError> {
        let malformed = |field: String, err: &serde_json::Error| InterchangeError::Malformed {
            field,
            line: err.line(),
            column: err.column(),
            reason: without_location(err),
        };
        let mut parser = serde_json::Deserializer::from_str(text);
        let interchange: Self = serde_path_to_error::deserialize(&mut parser)
            .map_err(|err| malformed(err.path().to_string(), err.inner()))?;
        parser
            .end()
            .map_err(|err| malformed(".".to_owned(), &err))?;
        if interchange.metadata.interchange_format_version != INTERCHANGE_FORMAT_VERSION {
            return Err(InterchangeError::UnsupportedVersion {
                found: interchange.metadata.interchange_format_version,
            });
        }
        let mut seen = std::collections::HashMap::new();
        for task in &interchange.tasks {
            let first = *seen
                .entry((task.task_index, task.task_hash))
                .or_insert(task.signed_digest);
            if first != task.signed_digest {
                return Err(InterchangeError::TwoDigests {
                    task_index: task.task_index,
                    task_hash: task.task_hash,
                    first,
                    second: task.signed_digest,
                });
            }
        }
        Ok(interchange)
    }

    /// The document as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an interchange always serializes")
    }
}

impl InterchangeMetadata {
    /// The task manager the records belong to.
    pub const fn task_manager_id(&self) -> TaskManagerId {
        TaskManagerId {
            chain_id: self.chain_id,
            task_manager: self.task_manager,
        }
    }
}

impl SignedTask {
    /// The store's key of this entry under `deployment`.
    pub const fn key(&self, deployment: TaskManagerId) -> TaskKey {
        TaskKey {
            chain_id: deployment.chain_id,
            task_manager: deployment.task_manager,
            task_index: self.task_index,
            task_hash: self.task_hash,
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the error carries both already.
fn without_location(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_owned)
}

/// Integers as decimal strings.
mod decimal {
    use std::{fmt::Display, str::FromStr};

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|err| D::Error::custom(format!("{text:?} is not a decimal integer ({err})")))
    }
}

/// A BLS signature as its compressed G1 bytes, checked to be a point of the group.
mod signature {
    use alloy::primitives::FixedBytes;
    use avs_bls::Signature;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        signature: &Signature,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        FixedBytes(signature.to_bytes()).serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Signature, D::Error> {
        let bytes = FixedBytes::<32>::deserialize(deserializer)?;
        Signature::from_bytes(bytes.as_slice())
            .map_err(|err| D::Error::custom(format!("not a BN254 G1 signature: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avs_bls::SecretKey;

    fn document() -> Interchange {
        let secret = SecretKey::generate();
        Interchange {
            metadata: InterchangeMetadata {
                interchange_format_version: INTERCHANGE_FORMAT_VERSION.into(),
                chain_id: 17_000,
                task_manager: Address::repeat_byte(7),
                low_watermark: 3,
            },
            tasks: vec![SignedTask {
                task_index: 4,
                task_hash: B256::repeat_byte(4),
                signed_digest: B256::repeat_byte(5),
                signature: secret.sign(B256::repeat_byte(5)),
            }],
        }
    }

    #[test]
    fn round_trips_with_decimal_strings() {
        let document = document();
        let text = document.to_json();
        assert!(text.contains("\"chain_id\": \"17000\""), "{text}");
        assert!(text.contains("\"task_index\": \"4\""), "{text}");
        assert_eq!(Interchange::from_json(&text).expect("parses"), document);
    }

    #[test]
    fn malformed_documents_name_the_line_and_the_field() {
        let document = document();
        let text = document.to_json();
        let bad_digest = text.replace(&format!("{}", B256::repeat_byte(5)), "0x1234");
        let err = Interchange::from_json(&bad_digest).expect_err("short digest");
        let InterchangeError::Malformed { field, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(field, "tasks[0].signed_digest");
        let expected_line = bad_digest
            .lines()
            .position(|l| l.contains("0x1234"))
            .expect("present")
            + 1;
        assert_eq!(*line, expected_line, "{err}");

        let number = text.replace("\"task_index\": \"4\"", "\"task_index\": 4");
        let err = Interchange::from_json(&number).expect_err("a JSON number");
        assert!(
            err.to_string().contains("at `tasks[0].task_index`"),
            "{err}"
        );

        let not_a_point = text.replace(
            &format!(
                "{}",
                alloy::primitives::FixedBytes(document.tasks[0].signature.to_bytes())
            ),
            &format!("{}", B256::repeat_byte(0xff)),
        );
        let err = Interchange::from_json(&not_a_point).expect_err("not a point");
        assert!(
            err.to_string()
                .contains("at `tasks[0].signature`: not a BN254 G1 signature"),
            "{err}"
        );

        let typo = text.replace("signed_digest", "signed_digset");
        let err = Interchange::from_json(&typo).expect_err("unknown field");
        assert!(
            err.to_string().contains("unknown field `signed_digset`"),
            "{err}"
        );

        let err = Interchange::from_json(&format!("{text} trailing")).expect_err("trailing");
        assert!(matches!(err, InterchangeError::Malformed { .. }), "{err}");
    }

    #[test]
    fn refuses_other_versions_and_two_digests_for_one_task() {
        let mut other = document();
        other.metadata.interchange_format_version = "2".into();
        let err = Interchange::from_json(&other.to_json()).expect_err("version 2");
        assert!(
            matches!(&err, InterchangeError::UnsupportedVersion { found } if found == "2"),
            "{err}"
        );

        let mut twice = document();
        let mut second = twice.tasks[0];
        second.signed_digest = B256::repeat_byte(6);
        twice.tasks.push(second);
        let err = Interchange::from_json(&twice.to_json()).expect_err("two digests");
        assert!(
            matches!(err, InterchangeError::TwoDigests { task_index: 4, .. }),
            "{err}"
        );
        // The same entry twice is harmless.
        let mut same = document();
        same.tasks.push(same.tasks[0]);
        Interchange::from_json(&same.to_json()).expect("duplicates of one digest");
    }
}
