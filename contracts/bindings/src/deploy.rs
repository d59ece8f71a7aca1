//! One call that deploys EigenLayer's real M2 contracts and the AVS on a chain.
//!
//! Order matters because constructors take proxy addresses: EigenLayer's proxies, then the
//! AVS's proxies, then EigenLayer's implementations (the RegistryCoordinator's constructor takes
//! the AVS service manager; the service manager is also its ejector, so freezing can eject),
//! then the AVS implementations. Every implementation is upgraded-to and initialised in one
//! transaction, so no initializer is left open in between.

use crate::{
    avs::{
        AvsServiceManager, AvsTaskManager, IAvsTaskManager, MAX_RESPONSE_WINDOW_BLOCKS,
        MIN_CHALLENGE_WINDOW_BLOCKS, MIN_RESPONSE_WINDOW_BLOCKS,
    },
    deployment::{AvsContracts, AvsParams, DeployConfig, Deployment, FORMAT_VERSION},
    eigenlayer::{self, EigenLayerContracts, EigenLayerParams},
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::Address,
    providers::Provider,
    sol_types::{SolCall, SolValue},
    transports::{RpcError, TransportErrorKind},
};

/// Why a deployment did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The configuration is inconsistent; nothing was sent.
    #[error("invalid deployment config: {0}")]
    Config(String),
    /// A deployment transaction failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The node did not answer a query.
    #[error("deployment: RPC error: {0}")]
    Rpc(#[from] RpcError<TransportErrorKind>),
}

impl DeployConfig {
    /// Devnet defaults: `owner` administers everything and is the one task generator; a task
    /// every 10 blocks at a 66% threshold of quorum 0; windows of 100 blocks.
    pub fn devnet(owner: Address) -> Self {
        Self {
            eigenlayer: EigenLayerParams::devnet(owner),
            avs: AvsParams {
                checkpoint_interval: 10,
                response_window_blocks: 100,
                challenge_window_blocks: 100,
                minimum_threshold_percentage: 50,
                open_task_creation: false,
                task_generators: vec![owner],
                allowlist_enabled: false,
                quorum_numbers: vec![0],
                quorum_threshold_percentage: 66,
            },
        }
    }

    /// Checks the parameters the contracts would refuse, before any transaction is sent.
    pub fn validate(&self) -> Result<(), DeployError> {
        let avs = &self.avs;
        let fail = |msg: &str| Err(DeployError::Config(msg.to_owned()));
        if avs.checkpoint_interval == 0 {
            return fail("checkpointInterval must be at least 1");
        }
        // The task manager's initializer refuses these too, but only at the last deployment step.
        if !(MIN_RESPONSE_WINDOW_BLOCKS..=MAX_RESPONSE_WINDOW_BLOCKS)
            .contains(&avs.response_window_blocks)
        {
            return fail(&format!(
                "responseWindowBlocks must be within {MIN_RESPONSE_WINDOW_BLOCKS}..={MAX_RESPONSE_WINDOW_BLOCKS}"
            ));
        }
        if avs.challenge_window_blocks < MIN_CHALLENGE_WINDOW_BLOCKS {
            return fail(&format!(
                "challengeWindowBlocks must be at least {MIN_CHALLENGE_WINDOW_BLOCKS}"
            ));
        }
        if !(1..=100).contains(&avs.minimum_threshold_percentage) {
            return fail("minimumThresholdPercentage must be within 1..=100");
        }
        if !(avs.minimum_threshold_percentage..=100).contains(&avs.quorum_threshold_percentage) {
            return fail(
                "quorumThresholdPercentage must be within minimumThresholdPercentage..=100",
            );
        }
        // The deployer creates exactly one quorum (0) in the RegistryCoordinator.
        if avs.quorum_numbers != [0] {
            return fail("quorumNumbers must be [0]: the deployer creates quorum 0 only");
        }
        if !avs.open_task_creation && avs.task_generators.is_empty() {
            return fail(
                "taskGenerators is empty and openTaskCreation is off: nobody could create tasks",
            );
        }
        if self.eigenlayer.quorum.max_operator_count == 0 {
            return fail("maxOperatorCount must be at least 1");
        }
        Ok(())
    }
}

/// Deploys EigenLayer and the AVS with the provider's wallet (which becomes the deployer, not
/// necessarily the owner) and returns the deployment, including every step's gas.
pub async fn deploy<P: Provider>(
    provider: P,
    config: DeployConfig,
) -> Result<Deployment, DeployError> {
    config.validate()?;
    let chain_id = provider.get_chain_id().await?;
    let deployment_block = provider.get_block_number().await? + 1;
    let mut tx = Transactor::new(provider);
    let owner = config.eigenlayer.owner;

    let mut el = eigenlayer::deploy_proxies(&mut tx, owner).await?;
    let service_manager = eigenlayer::empty_proxy(
        &mut tx,
        "AvsServiceManager",
        el.empty_contract,
        el.proxy_admin,
    )
    .await?;
    let task_manager =
        eigenlayer::empty_proxy(&mut tx, "AvsTaskManager", el.empty_contract, el.proxy_admin)
            .await?;
    eigenlayer::initialize(
        &mut tx,
        &mut el,
        &config.eigenlayer,
        service_manager,
        service_manager,
    )
    .await?;

    let sm_args =
        (el.avs_directory, el.registry_coordinator, el.stake_registry).abi_encode_params();
    let sm_impl = tx
        .deploy(
            "AvsServiceManager implementation",
            [AvsServiceManager::BYTECODE.to_vec(), sm_args].concat(),
        )
        .await?;
    let sm_init = AvsServiceManager::initializeCall {
        initialOwner: owner,
        taskManager_: task_manager,
        allowlistEnabled_: config.avs.allowlist_enabled,
    };
    eigenlayer::upgrade_and_call(
        &mut tx,
        "AvsServiceManager",
        el.proxy_admin,
        service_manager,
        sm_impl,
        sm_init.abi_encode(),
    )
    .await?;

    install_task_manager(
        &mut tx,
        &el,
        service_manager,
        task_manager,
        owner,
        &config.avs,
    )
    .await?;

    Ok(Deployment {
        format_version: FORMAT_VERSION,
        chain_id,
        deployment_block,
        eigenlayer: el,
        avs: AvsContracts {
            service_manager,
            task_manager,
        },
        params: config,
        steps: tx.steps().to_vec(),
    })
}

/// Deploys an `AvsTaskManager` implementation on `el`'s registries and installs it behind the
/// (empty) `proxy`, initialized with `avs`'s parameters and owned by `owner`.
pub async fn install_task_manager<P: Provider>(
    tx: &mut Transactor<P>,
    el: &EigenLayerContracts,
    service_manager: Address,
    proxy: Address,
    owner: Address,
    avs: &AvsParams,
) -> Result<(), DeployError> {
    let args = (
        el.registry_coordinator,
        el.stake_registry,
        el.bls_apk_registry,
        el.index_registry,
        el.delegation_manager,
        service_manager,
    )
        .abi_encode_params();
    let implementation = tx
        .deploy(
            "AvsTaskManager implementation",
            [AvsTaskManager::BYTECODE.to_vec(), args].concat(),
        )
        .await?;
    let init = AvsTaskManager::initializeCall {
        initialOwner: owner,
        config_: IAvsTaskManager::Config {
            checkpointInterval: avs.checkpoint_interval,
            responseWindowBlocks: avs.response_window_blocks,
            challengeWindowBlocks: avs.challenge_window_blocks,
            minimumThresholdPercentage: avs.minimum_threshold_percentage,
            openTaskCreation: avs.open_task_creation,
        },
        generators: avs.task_generators.clone(),
    };
    eigenlayer::upgrade_and_call(
        tx,
        "AvsTaskManager",
        el.proxy_admin,
        proxy,
        implementation,
        init.abi_encode(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message `validate` gives for the devnet config changed by `edit`.
    fn refusal(edit: impl FnOnce(&mut DeployConfig)) -> String {
        let mut config = DeployConfig::devnet(Address::repeat_byte(1));
        edit(&mut config);
        match config.validate() {
            Err(DeployError::Config(message)) => message,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    /// A config edit and the field its refusal names.
    type Case = (fn(&mut DeployConfig), &'static str);

    #[test]
    fn every_parameter_the_contracts_refuse_is_refused_before_sending() {
        assert!(DeployConfig::devnet(Address::ZERO).validate().is_ok());
        let cases: [Case; 10] = [
            (|c| c.avs.checkpoint_interval = 0, "checkpointInterval"),
            (|c| c.avs.response_window_blocks = 9, "responseWindowBlocks"),
            (
                |c| c.avs.response_window_blocks = 1 << 24,
                "responseWindowBlocks",
            ),
            (
                |c| c.avs.challenge_window_blocks = 0,
                "challengeWindowBlocks",
            ),
            (
                |c| c.avs.challenge_window_blocks = 9,
                "challengeWindowBlocks",
            ),
            (
                |c| c.avs.minimum_threshold_percentage = 0,
                "minimumThresholdPercentage",
            ),
            (
                |c| c.avs.quorum_threshold_percentage = 40,
                "quorumThresholdPercentage",
            ),
            (|c| c.avs.quorum_numbers = vec![0, 1], "quorumNumbers"),
            (|c| c.avs.task_generators.clear(), "taskGenerators"),
            (
                |c| c.eigenlayer.quorum.max_operator_count = 0,
                "maxOperatorCount",
            ),
        ];
        for (edit, field) in cases {
            let message = refusal(edit);
            assert!(message.starts_with(field), "{field}: {message}");
        }
    }
}
