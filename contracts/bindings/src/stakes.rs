//! Stake freshness. The task manager forbids stale stakes, as EigenLayer's checker does by
//! default: a response is refused (`StakesStale`) unless each of its quorums had its stakes
//! updated (`RegistryCoordinator.updateOperatorsForQuorum`) fewer than
//! `DelegationManager.minWithdrawalDelayBlocks` blocks before the task's reference block. So
//! somebody must update every quorum at least that often; the task generator does it before it
//! creates a task whose quorums would otherwise be close to stale ([`StakeFreshness`]).
//!
//! Between those updates an operator's delegated stake moves (deposits, queued withdrawals,
//! slashing) while the StakeRegistry keeps counting the recorded one. The generator therefore
//! also refreshes, on a period, exactly the operators whose recorded stake differs from their
//! current weight ([`StakeFreshness::changed_operators`], `RegistryCoordinator.updateOperators`).

use crate::{
    deployment::Deployment,
    eigenlayer::interfaces::{
        IDelegationManagerCalls, IOperatorStateRetrieverCalls, IRegistryCoordinatorCalls,
        IStakeRegistryCalls,
    },
};
use alloy::{
    primitives::{Address, Bytes},
    providers::Provider,
    sol_types::SolCall,
};

/// Reads how fresh a deployment's quorums are and builds the update that refreshes them.
#[derive(Debug, Clone, Copy)]
pub struct StakeFreshness {
    registry_coordinator: Address,
    operator_state_retriever: Address,
    delegation_manager: Address,
    stake_registry: Address,
}

impl StakeFreshness {
    /// For `deployment`'s registries.
    pub const fn new(deployment: &Deployment) -> Self {
        let el = &deployment.eigenlayer;
        Self {
            registry_coordinator: el.registry_coordinator,
            operator_state_retriever: el.operator_state_retriever,
            delegation_manager: el.delegation_manager,
            stake_registry: el.stake_registry,
        }
    }

    /// The registry coordinator, which the update is sent to.
    pub const fn registry_coordinator(&self) -> Address {
        self.registry_coordinator
    }

    /// The first reference block at which a task over `quorums` would have stale stakes
    /// (`min(quorumUpdateBlockNumber) + minWithdrawalDelayBlocks`), and that delay.
    pub async fn stale_from<P: Provider>(
        &self,
        provider: &P,
        quorums: &[u8],
    ) -> Result<(u64, u64), alloy::contract::Error> {
        let delay: u64 = IDelegationManagerCalls::new(self.delegation_manager, provider)
            .minWithdrawalDelayBlocks()
            .call()
            .await?
            .into();
        let coordinator = IRegistryCoordinatorCalls::new(self.registry_coordinator, provider);
        let mut oldest = u64::MAX;
        for &quorum in quorums {
            let updated: u64 = coordinator
                .quorumUpdateBlockNumber(quorum)
                .call()
                .await?
                .saturating_to();
            oldest = oldest.min(updated);
        }
        Ok((oldest.saturating_add(delay), delay))
    }

    /// The operators registered in `quorums` at `block` whose recorded stake differs from their
    /// current weight (what the StakeRegistry would record now), ascending by address, each
    /// once. The weights are read concurrently, a few at a time.
    pub async fn changed_operators<P: Provider>(
        &self,
        provider: &P,
        quorums: &[u8],
        block: u32,
    ) -> Result<Vec<Address>, alloy::contract::Error> {
        use futures::{StreamExt, TryStreamExt};
        /// Weight reads in flight at once: quick on a local node, gentle on a public one.
        const CONCURRENT_READS: usize = 16;
        let state = IOperatorStateRetrieverCalls::new(self.operator_state_retriever, provider)
            .getOperatorState(self.registry_coordinator, quorums.to_vec().into(), block)
            .call()
            .await?;
        let registry = IStakeRegistryCalls::new(self.stake_registry, provider);
        let recorded: Vec<(u8, Address, alloy::primitives::Uint<96, 2>)> = quorums
            .iter()
            .zip(state)
            .flat_map(|(&quorum, operators)| {
                operators
                    .into_iter()
                    .map(move |o| (quorum, o.operator, o.stake))
            })
            .collect();
        let changed: Vec<Option<Address>> = futures::stream::iter(recorded)
            .map(|(quorum, operator, stake)| {
                let registry = &registry;
                async move {
                    let weight = registry
                        .weightOfOperatorForQuorum(quorum, operator)
                        .call()
                        .await?;
                    Ok::<_, alloy::contract::Error>((weight != stake).then_some(operator))
                }
            })
            .buffer_unordered(CONCURRENT_READS)
            .try_collect()
            .await?;
        let mut changed: Vec<Address> = changed.into_iter().flatten().collect();
        changed.sort_unstable();
        changed.dedup();
        Ok(changed)
    }

    /// Calldata of `updateOperators(operators)`: the StakeRegistry records their current weights
    /// (and deregisters one that fell below a quorum's minimum stake).
    pub fn update_operators_call(operators: Vec<Address>) -> Bytes {
        IRegistryCoordinatorCalls::updateOperatorsCall { operators }
            .abi_encode()
            .into()
    }

    /// Calldata of `updateOperatorsForQuorum` for `quorums`: every operator registered in each
    /// at `block`, ascending by address, as the coordinator requires.
    pub async fn update_call<P: Provider>(
        &self,
        provider: &P,
        quorums: &[u8],
        block: u32,
    ) -> Result<Bytes, alloy::contract::Error> {
        let state = IOperatorStateRetrieverCalls::new(self.operator_state_retriever, provider)
            .getOperatorState(self.registry_coordinator, quorums.to_vec().into(), block)
            .call()
            .await?;
        let operators_per_quorum = state
            .into_iter()
            .map(|operators| {
                let mut addresses: Vec<Address> =
                    operators.into_iter().map(|o| o.operator).collect();
                addresses.sort_unstable();
                addresses
            })
            .collect();
        Ok(IRegistryCoordinatorCalls::updateOperatorsForQuorumCall {
            operatorsPerQuorum: operators_per_quorum,
            quorumNumbers: quorums.to_vec().into(),
        }
        .abi_encode()
        .into())
    }
}
