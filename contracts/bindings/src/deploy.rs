//! One call that deploys EigenLayer's slashing-era core and the AVS on a chain.
//!
//! Order matters because constructors take proxy addresses and initializers call peers:
//! 1. EigenLayer's proxies (with the registry coordinator's), then the AVS's proxies;
//! 2. EigenLayer's core and registries ([`eigenlayer::initialize`]);
//! 3. the slasher (its initializer reads `DEALLOCATION_DELAY`);
//! 4. the service manager, whose initializer, as the AVS, publishes the metadata URI and
//!    appoints the coordinator, the slasher and the stake registry in EigenLayer's
//!    PermissionController (so the deployer need not be the owner);
//! 5. the registry coordinator, whose initializer makes it the AVS's registrar and creates
//!    quorum 0 = operator set 0 (slashable stake);
//! 6. the task manager, whose initializer checks its windows against the slashable window.
//!
//! Every implementation is upgraded-to and initialised in one transaction, so no initializer
//! is left open in between.

use crate::{
    avs::{
        AvsRegistryCoordinator, AvsServiceManager, AvsSlasher, AvsTaskManager, IAvsTaskManager,
        ISlashingStakeRegistry, MAX_RESPONSE_WINDOW_BLOCKS, MIN_CHALLENGE_WINDOW_BLOCKS,
        MIN_RESPONSE_WINDOW_BLOCKS,
    },
    deployment::{
        AvsContracts, AvsParams, DeployConfig, Deployment, FORMAT_VERSION, SlashingParams,
    },
    eigenlayer::{self, CORE_VERSION, EigenLayerContracts, EigenLayerParams},
    operator::WAD,
    transactor::{Transactor, TxError},
};
use alloy::{
    primitives::{Address, U256, aliases::U96},
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
                metadata_uri: "https://avs-exex.invalid/devnet.json".to_owned(),
                // Instant, so a devnet challenge shows its effect at once; 10 % per wrong signature.
                slashing: SlashingParams {
                    wad_to_slash: u128::from(WAD) / 10,
                    veto_window_blocks: 0,
                    veto_committee: None,
                },
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
        let el = &self.eigenlayer;
        if el.quorum.max_operator_count == 0 {
            return fail("maxOperatorCount must be at least 1");
        }
        if el.quorum.look_ahead_blocks >= el.deallocation_delay_blocks {
            return fail("lookAheadBlocks must be below deallocationDelayBlocks");
        }
        let slashing = &avs.slashing;
        if slashing.wad_to_slash == 0 || slashing.wad_to_slash > u128::from(WAD) {
            return fail("wadToSlash must be within 1..=1e18 (1e18 slashes everything allocated)");
        }
        if (slashing.veto_window_blocks == 0) != slashing.veto_committee.is_none()
            || slashing.veto_committee == Some(Address::ZERO)
        {
            return fail(
                "vetoCommittee must be a non-zero address exactly when vetoWindowBlocks is above 0 (vetoable slashing)",
            );
        }
        if slashing.veto_window_blocks >= el.deallocation_delay_blocks {
            return fail("vetoWindowBlocks must be below deallocationDelayBlocks");
        }
        // A signer may leave, or deallocate, right after its stake was recorded; a task may use
        // that record for minWithdrawalDelayBlocks (the stale-stake rule). Its stake must still
        // be slashable when the slash of a challenge at the end of both windows comes due (the
        // service manager's slashableWindowBlocks, which the task manager checks too).
        let slashable = u64::from(el.deallocation_delay_blocks)
            .saturating_sub(u64::from(slashing.veto_window_blocks))
            .saturating_sub(el.min_withdrawal_delay_blocks);
        if u64::from(avs.response_window_blocks) + u64::from(avs.challenge_window_blocks)
            >= slashable
        {
            return fail(&format!(
                "responseWindowBlocks + challengeWindowBlocks must be below deallocationDelayBlocks - vetoWindowBlocks - minWithdrawalDelayBlocks ({slashable}): a signer that leaves or deallocates right after its stake was recorded stays slashable only that long"
            ));
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
    let mut avs_proxy = async |name: &str| {
        eigenlayer::empty_proxy(&mut tx, name, el.empty_contract, el.proxy_admin).await
    };
    let service_manager = avs_proxy("AvsServiceManager").await?;
    let task_manager = avs_proxy("AvsTaskManager").await?;
    let slasher = avs_proxy("AvsSlasher").await?;
    eigenlayer::initialize(&mut tx, &mut el, &config.eigenlayer).await?;
    let avs = AvsContracts {
        service_manager,
        task_manager,
        slasher,
    };
    install_slasher(&mut tx, &el, &avs, owner, &config.avs.slashing).await?;
    install_service_manager(&mut tx, &el, &avs, owner, &config.avs).await?;
    install_registry_coordinator(&mut tx, &el, &avs, owner, &config.eigenlayer).await?;
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
        eigenlayer_version: CORE_VERSION.to_owned(),
        eigenlayer: el,
        avs,
        params: config,
        steps: tx.steps().to_vec(),
    })
}

/// Installs the `AvsSlasher` behind its proxy: instant or vetoable, as `slashing` says.
async fn install_slasher<P: Provider>(
    tx: &mut Transactor<P>,
    el: &EigenLayerContracts,
    avs: &AvsContracts,
    owner: Address,
    slashing: &SlashingParams,
) -> Result<(), DeployError> {
    let init = AvsSlasher::initializeCall {
        initialOwner: owner,
        wadToSlash_: U256::from(slashing.wad_to_slash),
        vetoWindowBlocks_: slashing.veto_window_blocks,
        vetoCommittee_: slashing.veto_committee.unwrap_or_default(),
    };
    eigenlayer::install(
        tx,
        el.proxy_admin,
        "AvsSlasher",
        avs.slasher,
        &AvsSlasher::BYTECODE,
        (el.allocation_manager, avs.service_manager).abi_encode_params(),
        init.abi_encode(),
    )
    .await?;
    Ok(())
}

/// Installs the `AvsServiceManager`: the AVS in EigenLayer (metadata URI, appointees).
async fn install_service_manager<P: Provider>(
    tx: &mut Transactor<P>,
    el: &EigenLayerContracts,
    avs: &AvsContracts,
    owner: Address,
    params: &AvsParams,
) -> Result<(), DeployError> {
    let args = (
        el.allocation_manager,
        el.permission_controller,
        el.registry_coordinator,
        avs.slasher,
        el.stake_registry,
    )
        .abi_encode_params();
    let init = AvsServiceManager::initializeCall {
        initialOwner: owner,
        taskManager_: avs.task_manager,
        allowlistEnabled_: params.allowlist_enabled,
        metadataURI: params.metadata_uri.clone(),
    };
    eigenlayer::install(
        tx,
        el.proxy_admin,
        "AvsServiceManager",
        avs.service_manager,
        &AvsServiceManager::BYTECODE,
        args,
        init.abi_encode(),
    )
    .await?;
    Ok(())
}

/// Installs the `AvsRegistryCoordinator`: the AVS's registrar, with quorum 0 = operator set 0
/// weighing slashable stake in the devnet strategy; the service manager ejects (freezes).
async fn install_registry_coordinator<P: Provider>(
    tx: &mut Transactor<P>,
    el: &EigenLayerContracts,
    avs: &AvsContracts,
    owner: Address,
    params: &EigenLayerParams,
) -> Result<(), DeployError> {
    let args = (
        el.allocation_manager,
        el.stake_registry,
        el.bls_apk_registry,
        el.index_registry,
        el.socket_registry,
        avs.service_manager,
    )
        .abi_encode_params();
    let quorum = params.quorum;
    let init = AvsRegistryCoordinator::initializeCall {
        initialOwner: owner,
        ejector_: avs.service_manager,
        maxOperatorCount_: quorum.max_operator_count,
        minimumStake: U96::from(quorum.minimum_stake),
        strategyParams: vec![ISlashingStakeRegistry::StrategyParams {
            strategy: el.strategy,
            multiplier: U96::from(quorum.strategy_multiplier),
        }],
        lookAheadPeriod: quorum.look_ahead_blocks,
    };
    eigenlayer::install(
        tx,
        el.proxy_admin,
        "AvsRegistryCoordinator",
        el.registry_coordinator,
        &AvsRegistryCoordinator::BYTECODE,
        args,
        init.abi_encode(),
    )
    .await?;
    Ok(())
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
    eigenlayer::install(
        tx,
        el.proxy_admin,
        "AvsTaskManager",
        proxy,
        &AvsTaskManager::BYTECODE,
        args,
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
        let cases: [Case; 17] = [
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
            (
                |c| c.eigenlayer.quorum.look_ahead_blocks = c.eigenlayer.deallocation_delay_blocks,
                "lookAheadBlocks",
            ),
            (|c| c.avs.slashing.wad_to_slash = 0, "wadToSlash"),
            (
                |c| c.avs.slashing.wad_to_slash = u128::from(WAD) + 1,
                "wadToSlash",
            ),
            (|c| c.avs.slashing.veto_window_blocks = 10, "vetoCommittee"),
            (
                |c| c.avs.slashing.veto_committee = Some(Address::ZERO),
                "vetoCommittee",
            ),
            (
                |c| {
                    c.avs.slashing.veto_committee = Some(Address::repeat_byte(2));
                    c.avs.slashing.veto_window_blocks = c.eigenlayer.deallocation_delay_blocks;
                },
                "vetoWindowBlocks",
            ),
            (
                // A signer leaving at once must stay slashable through both windows.
                |c| c.eigenlayer.deallocation_delay_blocks = 200,
                "responseWindowBlocks + challengeWindowBlocks",
            ),
        ];
        for (edit, field) in cases {
            let message = refusal(edit);
            assert!(message.starts_with(field), "{field}: {message}");
        }
    }
}
