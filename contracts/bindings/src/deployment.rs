//! The deployment file: chain id, every contract address, the deployment block and parameters.
//!
//! The deployer writes it once; the node, the CLI and the tests read it. Reading checks what a
//! JSON file cannot promise: that the chain answering at the configured RPC is the chain the
//! file describes, and that every address holds code. A wrong RPC URL or a restarted devnet is
//! then reported as such, instead of as a confusing revert later.

use crate::{
    eigenlayer::{EigenLayerContracts, EigenLayerParams},
    transactor::Step,
};
use alloy::{
    primitives::Address,
    providers::Provider,
    transports::{RpcError, TransportErrorKind},
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the file format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 2;

/// A deployed EigenLayer + AVS on one settlement chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Chain id of the settlement chain.
    pub chain_id: u64,
    /// Block of the first deployment transaction: where followers start scanning.
    pub deployment_block: u64,
    /// The eigenlayer-contracts release of the core (its contracts' `version()`).
    pub eigenlayer_version: String,
    /// EigenLayer's contracts.
    pub eigenlayer: EigenLayerContracts,
    /// The AVS's own contracts.
    pub avs: AvsContracts,
    /// The parameters the contracts were initialised with.
    pub params: DeployConfig,
    /// Every deployment transaction with its gas, in order.
    pub steps: Vec<Step>,
}

/// The AVS contracts (proxies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AvsContracts {
    /// `AvsServiceManager` proxy: the AVS in EigenLayer, registration policy, punishment.
    pub service_manager: Address,
    /// `AvsTaskManager` proxy: tasks, responses, checkpoints, challenges.
    pub task_manager: Address,
    /// `AvsSlasher` proxy: slashes through the AllocationManager (instant or vetoable).
    pub slasher: Address,
}

/// Everything a deployment is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployConfig {
    /// EigenLayer and quorum parameters; their owner owns the AVS contracts too.
    pub eigenlayer: EigenLayerParams,
    /// The AVS's own parameters.
    pub avs: AvsParams,
}

/// The AVS parameters of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AvsParams {
    /// A task every this many blocks of the attested chain.
    pub checkpoint_interval: u64,
    /// Blocks after task creation within which a response is accepted.
    pub response_window_blocks: u32,
    /// Blocks after a response within which it can be challenged.
    pub challenge_window_blocks: u32,
    /// Lowest quorum threshold a task may ask for, in percent.
    pub minimum_threshold_percentage: u8,
    /// Whether anyone may create tasks (otherwise only `task_generators`).
    pub open_task_creation: bool,
    /// Addresses allowed to create tasks.
    pub task_generators: Vec<Address>,
    /// Whether registration is restricted to the allowlist.
    pub allowlist_enabled: bool,
    /// The quorums tasks are created for.
    pub quorum_numbers: Vec<u8>,
    /// The quorum threshold tasks ask for, in percent.
    pub quorum_threshold_percentage: u8,
    /// The AVS's metadata URI, published in the AllocationManager.
    pub metadata_uri: String,
    /// What a proven-wrong signature costs.
    pub slashing: SlashingParams,
}

/// How the AVS slashes the signers of a checkpoint proven wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlashingParams {
    /// Fraction of each signer's allocated magnitude slashed, in WAD (1e18 = 100 %).
    pub wad_to_slash: u128,
    /// Blocks a slash waits for a veto; 0 slashes at once (and needs no committee).
    pub veto_window_blocks: u32,
    /// The address that may veto queued slashes (required with a veto window).
    pub veto_committee: Option<Address>,
}

/// A deployment file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The file could not be read or written.
    #[error("deployment file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a deployment file of this format.
    #[error("deployment file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by another version of the format.
    #[error(
        "deployment file {path} has format version {found}, this build reads version {FORMAT_VERSION}; redeploy or upgrade avs-node"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// The task manager does not define the signing domain this build signs under.
    #[error(
        "the task manager at {task_manager} does not define this build's signing domain \
         (\"avs-exex\" version 1): found {found}. It was deployed by another protocol version: \
         redeploy the AVS contracts (this version's storage layout differs, so the proxies \
         cannot be upgraded in place) before running this avs-node"
    )]
    SigningDomain {
        /// The task manager proxy.
        task_manager: Address,
        /// What it answered.
        found: String,
    },
    /// The RPC endpoint serves another chain than the deployment's.
    #[error(
        "the RPC endpoint serves chain {actual} but the deployment is on chain {expected}: check the settlement RPC URL"
    )]
    WrongChain {
        /// The deployment's chain id.
        expected: u64,
        /// The endpoint's chain id.
        actual: u64,
    },
    /// A deployed contract has no code: the chain was reset or the file is for another chain.
    #[error(
        "{name} at {address} has no code on chain {chain_id}: the chain was reset or the deployment file is stale; redeploy"
    )]
    NoCode {
        /// Which contract.
        name: &'static str,
        /// Its address.
        address: Address,
        /// The chain.
        chain_id: u64,
    },
    /// The endpoint did not answer.
    #[error("checking the deployment against the RPC endpoint failed: {0}")]
    Rpc(#[from] RpcError<TransportErrorKind>),
}

impl Deployment {
    /// The EIP-712 domain every signature for this deployment is made under (settlement chain
    /// id and task manager address): see [`crate::avs::attestation_digest`].
    pub fn signing_domain(&self) -> alloy::sol_types::Eip712Domain {
        crate::avs::signing_domain(self.chain_id, self.avs.task_manager)
    }

    /// Reads a deployment file (without contacting the chain; see [`Self::validate`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DeploymentError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentError::Io {
            path: path.into(),
            source,
        })?;
        // Check the version first so an old file gets the version error, not a field error.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Versioned {
            format_version: u32,
        }
        let versioned: Versioned =
            serde_json::from_str(&text).map_err(|source| DeploymentError::Parse {
                path: path.into(),
                source,
            })?;
        if versioned.format_version != FORMAT_VERSION {
            return Err(DeploymentError::Version {
                path: path.into(),
                found: versioned.format_version,
            });
        }
        serde_json::from_str(&text).map_err(|source| DeploymentError::Parse {
            path: path.into(),
            source,
        })
    }

    /// Writes the file atomically (temporary file, fsync, rename), so a crash never leaves a
    /// half-written deployment behind.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DeploymentError> {
        use std::io::Write;
        let path = path.as_ref();
        let io_err = |source| DeploymentError::Io {
            path: path.into(),
            source,
        };
        let json = serde_json::to_string_pretty(self).expect("a deployment always serializes");
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io_err)?;
        file.write_all(json.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, path).map_err(io_err)
    }

    /// Every named contract address of the deployment.
    pub fn contracts(&self) -> Vec<(&'static str, Address)> {
        let el = &self.eigenlayer;
        vec![
            ("DelegationManager", el.delegation_manager),
            ("StrategyManager", el.strategy_manager),
            ("AVSDirectory", el.avs_directory),
            ("AllocationManager", el.allocation_manager),
            ("PermissionController", el.permission_controller),
            ("EigenPodManager", el.eigen_pod_manager),
            ("AvsRegistryCoordinator", el.registry_coordinator),
            ("BLSApkRegistry", el.bls_apk_registry),
            ("StakeRegistry", el.stake_registry),
            ("IndexRegistry", el.index_registry),
            ("OperatorStateRetriever", el.operator_state_retriever),
            ("SocketRegistry", el.socket_registry),
            ("PauserRegistry", el.pauser_registry),
            ("ProxyAdmin", el.proxy_admin),
            ("token", el.token),
            ("strategy", el.strategy),
            ("AvsServiceManager", self.avs.service_manager),
            ("AvsTaskManager", self.avs.task_manager),
            ("AvsSlasher", self.avs.slasher),
        ]
    }

    /// Checks the deployment against the chain behind `provider`: same chain id, code at every
    /// address.
    pub async fn validate<P: Provider>(&self, provider: &P) -> Result<(), DeploymentError> {
        let actual = provider.get_chain_id().await?;
        if actual != self.chain_id {
            return Err(DeploymentError::WrongChain {
                expected: self.chain_id,
                actual,
            });
        }
        for (name, address) in self.contracts() {
            if provider.get_code_at(address).await?.is_empty() {
                return Err(DeploymentError::NoCode {
                    name,
                    address,
                    chain_id: self.chain_id,
                });
            }
        }
        self.check_signing_domain(provider).await
    }

    /// The task manager must define the signing domain this build signs under: a task manager
    /// of another protocol version would turn every signature into a wasted (or, worse,
    /// misread) message, so the node refuses to start rather than sign.
    async fn check_signing_domain<P: Provider>(&self, provider: &P) -> Result<(), DeploymentError> {
        let task_manager = self.avs.task_manager;
        let mismatch = |found: String| DeploymentError::SigningDomain {
            task_manager,
            found,
        };
        let answer = crate::avs::AvsTaskManager::new(task_manager, provider)
            .eip712Domain()
            .call()
            .await
            .map_err(|err| match err {
                // The node did not answer: say so, not that the contract is wrong.
                alloy::contract::Error::TransportError(rpc) if rpc.as_error_resp().is_none() => {
                    DeploymentError::Rpc(rpc)
                }
                other => mismatch(format!("no eip712Domain() ({other})")),
            })?;
        let found = alloy::sol_types::Eip712Domain::new(
            Some(answer.name.into()),
            Some(answer.version.into()),
            Some(answer.chainId),
            Some(answer.verifyingContract),
            None,
        );
        let expected = self.signing_domain();
        if found != expected {
            return Err(mismatch(format!(
                "{found:?}, this build signs under {expected:?}"
            )));
        }
        Ok(())
    }
}
