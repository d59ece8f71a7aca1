//! [`AvsConfig`]: what the AVS ExEx needs to know about the contracts, its roles and its limits.
//!
//! Everything is validated once by [`AvsConfig::validate`] before the ExEx starts, so a bad value
//! fails with a message naming the field instead of surfacing as odd behaviour later.

use std::time::Duration;

use alloy::primitives::{Address, Bytes};

/// Chain ids of local development chains (anvil/hardhat, geth --dev): the only chains on which
/// a [`FaultMode`] may be enabled.
pub const DEVNET_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// Configuration of the AVS ExEx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvsConfig {
    /// Chain id of the settlement chain (where the AVS contracts live).
    pub settlement_chain_id: u64,
    /// Chain id of the attested chain (whose checkpoints are verified); equal to
    /// `settlement_chain_id` in same-chain mode.
    pub attested_chain_id: u64,
    /// The `AvsTaskManager` proxy: its `NewTaskCreated`/`TaskResponded` logs drive the ExEx.
    pub task_manager: Address,
    /// EigenLayer's `RegistryCoordinator` proxy of the AVS.
    pub registry_coordinator: Address,
    /// EigenLayer's `OperatorStateRetriever`.
    pub operator_state_retriever: Address,
    /// How long a task may wait for its target block to appear in the attested chain before it is
    /// given up (counted in `avs_exex_tasks_target_timeouts_total`).
    pub target_wait: Duration,
    /// How many recent blocks are kept (attested view, settlement history) and re-delivered after
    /// a restart: `FinishedHeight` trails the tip by this many blocks so a restarted node can
    /// re-derive the tasks and target blocks it needs. It is also the depth at which settlement
    /// blocks count as settled for the slashing-protection watermark, so it must be at least the
    /// settlement host's `reorg_window` (the deepest reorg the host delivers).
    pub retention_blocks: u64,
    /// Task-generator role: `Some` makes this node create checkpoint tasks.
    pub generator: Option<GeneratorConfig>,
    /// Test-only misbehaviour (devnet chain ids only).
    pub fault_mode: FaultMode,
}

/// Parameters of the task-generator role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// A checkpoint task is created for every attested block whose number is a multiple of this
    /// (must match the task manager's `checkpointInterval`).
    pub interval: u64,
    /// How many attested blocks must follow a checkpoint before its task is created.
    pub confirmations: u64,
    /// `quorumThresholdPercentage` of created tasks (1..=100).
    pub quorum_threshold_percentage: u32,
    /// `quorumNumbers` of created tasks (one byte per quorum, ascending).
    pub quorum_numbers: Bytes,
    /// Settlement blocks after sending a `createNewTask` within which its `NewTaskCreated` log
    /// must arrive; later, the creation counts as lost and the checkpoint is created again.
    pub confirm_within_blocks: u64,
}

/// A deliberately wrong behaviour for end-to-end tests of challenges. Off by default and refused
/// outside [`DEVNET_CHAIN_IDS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FaultMode {
    /// Behave correctly.
    #[default]
    Off,
    /// TEST ONLY: sign responses whose `stateRoot` is wrong (the true root with every bit
    /// flipped), so a challenge against this node's signature succeeds.
    SignWrongStateRoot,
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has an unusable value.
    #[error("invalid AVS config `{field}`: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A fault mode was requested on a non-devnet chain.
    #[error(
        "fault mode {mode:?} is a test-only misbehaviour and is refused on chain {chain_id}: it is \
         only allowed on devnet chain ids {DEVNET_CHAIN_IDS:?}"
    )]
    FaultModeOutsideDevnet {
        /// The requested mode.
        mode: FaultMode,
        /// The settlement chain's id.
        chain_id: u64,
    },
}

impl AvsConfig {
    /// A same-chain configuration with defaults (no generator role, no fault mode).
    pub const fn same_chain(
        chain_id: u64,
        task_manager: Address,
        registry_coordinator: Address,
        operator_state_retriever: Address,
    ) -> Self {
        Self {
            settlement_chain_id: chain_id,
            attested_chain_id: chain_id,
            task_manager,
            registry_coordinator,
            operator_state_retriever,
            target_wait: Duration::from_secs(60),
            retention_blocks: 256,
            generator: None,
            fault_mode: FaultMode::Off,
        }
    }

    /// Whether the attested chain is the settlement chain itself.
    pub const fn is_same_chain(&self) -> bool {
        self.settlement_chain_id == self.attested_chain_id
    }

    /// Checks every field; the ExEx refuses to start with an invalid configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if self.task_manager.is_zero() {
            return Err(invalid(
                "task_manager",
                "set the AvsTaskManager proxy address",
            ));
        }
        if self.registry_coordinator.is_zero() {
            return Err(invalid(
                "registry_coordinator",
                "set the RegistryCoordinator address",
            ));
        }
        if self.operator_state_retriever.is_zero() {
            return Err(invalid(
                "operator_state_retriever",
                "set the OperatorStateRetriever address",
            ));
        }
        if self.retention_blocks == 0 {
            return Err(invalid("retention_blocks", "must be at least 1"));
        }
        if self.target_wait.is_zero() {
            return Err(invalid("target_wait", "must be longer than zero"));
        }
        if let Some(generator) = &self.generator {
            generator.validate(self.retention_blocks)?;
        }
        if self.fault_mode != FaultMode::Off
            && !DEVNET_CHAIN_IDS.contains(&self.settlement_chain_id)
        {
            return Err(ConfigError::FaultModeOutsideDevnet {
                mode: self.fault_mode,
                chain_id: self.settlement_chain_id,
            });
        }
        Ok(())
    }
}

impl GeneratorConfig {
    fn validate(&self, retention_blocks: u64) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
        if self.interval == 0 {
            return Err(invalid("generator.interval", "must be at least 1".into()));
        }
        if self.confirmations >= retention_blocks {
            return Err(invalid(
                "generator.confirmations",
                format!(
                    "{} must be below retention_blocks ({retention_blocks}), or checkpoints leave \
                     the attested view before they are confirmed",
                    self.confirmations
                ),
            ));
        }
        if !(1..=100).contains(&self.quorum_threshold_percentage) {
            return Err(invalid(
                "generator.quorum_threshold_percentage",
                format!("{} is not in 1..=100", self.quorum_threshold_percentage),
            ));
        }
        if self.quorum_numbers.is_empty()
            || self
                .quorum_numbers
                .windows(2)
                .any(|pair| pair[0] >= pair[1])
        {
            return Err(invalid(
                "generator.quorum_numbers",
                "must list at least one quorum, strictly ascending".into(),
            ));
        }
        if self.confirm_within_blocks == 0 {
            return Err(invalid(
                "generator.confirm_within_blocks",
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AvsConfig {
        AvsConfig::same_chain(
            31337,
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        )
    }

    #[test]
    fn fault_mode_is_refused_outside_devnets() {
        let mut config = config();
        config.fault_mode = FaultMode::SignWrongStateRoot;
        assert_eq!(config.validate(), Ok(()));
        config.settlement_chain_id = 1;
        config.attested_chain_id = 1;
        assert_eq!(
            config.validate(),
            Err(ConfigError::FaultModeOutsideDevnet {
                mode: FaultMode::SignWrongStateRoot,
                chain_id: 1
            })
        );
        config.fault_mode = FaultMode::Off;
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut config = config();
        config.task_manager = Address::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                field: "task_manager",
                ..
            })
        ));

        let mut config = self::config();
        config.generator = Some(GeneratorConfig {
            interval: 10,
            confirmations: 2,
            quorum_threshold_percentage: 67,
            quorum_numbers: Bytes::from(vec![1, 0]),
            confirm_within_blocks: 4,
        });
        let err = config.validate().expect_err("descending quorums");
        assert!(
            err.to_string().contains("generator.quorum_numbers"),
            "{err}"
        );
    }
}
