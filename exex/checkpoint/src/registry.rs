//! Operator standing from EigenLayer's registries at a task's reference block.
//!
//! An operator signs a task only if, at the task's `taskCreatedBlock`, it is registered in at
//! least one of the task's quorums with non-zero stake — exactly the set the contract's
//! signature check counts. A deregistered operator, or one the service manager froze (freezing
//! ejects it from its quorums), therefore does not sign.
//!
//! [`OperatorRegistry`] is the seam: [`RegistryReader`] asks the real `OperatorStateRetriever`
//! over JSON-RPC; unit tests supply fixed answers.

use std::future::Future;

use alloy::{
    primitives::{Address, Bytes},
    providers::DynProvider,
};
use avs_bls::OperatorId;
use avs_contracts::eigenlayer::interfaces::{
    IOperatorStateRetrieverCalls, OperatorStateRetriever::Operator,
};

/// Whether an operator may sign a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorStanding {
    /// Registered with stake in at least one of the task's quorums.
    Active,
    /// Registered in the task's quorums, but with zero stake in all of them.
    NoStake,
    /// Not registered in any of the task's quorums at the reference block.
    NotRegistered,
}

/// Reading the registries failed (the task is retried, never signed blindly).
#[derive(Debug, thiserror::Error)]
#[error("cannot read operator state at block {block} from the registries: {source}")]
pub struct RegistryError {
    /// The reference block asked about.
    pub block: u32,
    /// The underlying call error.
    #[source]
    pub source: alloy::contract::Error,
}

/// Answers "may this operator sign a task of these quorums created at this block?".
pub trait OperatorRegistry: Send + Sync {
    /// The operator's standing in `quorum_numbers` at `reference_block`.
    fn standing(
        &self,
        operator: OperatorId,
        quorum_numbers: &Bytes,
        reference_block: u32,
    ) -> impl Future<Output = Result<OperatorStanding, RegistryError>> + Send;
}

/// [`OperatorRegistry`] backed by `OperatorStateRetriever.getOperatorState` on the settlement
/// chain's node.
#[derive(Debug, Clone)]
pub struct RegistryReader {
    provider: DynProvider,
    retriever: Address,
    registry_coordinator: Address,
}

impl RegistryReader {
    /// Reads through `provider` from the given retriever and coordinator.
    pub const fn new(
        provider: DynProvider,
        retriever: Address,
        registry_coordinator: Address,
    ) -> Self {
        Self {
            provider,
            retriever,
            registry_coordinator,
        }
    }
}

impl OperatorRegistry for RegistryReader {
    async fn standing(
        &self,
        operator: OperatorId,
        quorum_numbers: &Bytes,
        reference_block: u32,
    ) -> Result<OperatorStanding, RegistryError> {
        let retriever = IOperatorStateRetrieverCalls::new(self.retriever, &self.provider);
        let state = retriever
            .getOperatorState(
                self.registry_coordinator,
                quorum_numbers.clone(),
                reference_block,
            )
            .call()
            .await
            .map_err(|source| RegistryError {
                block: reference_block,
                source,
            })?;
        Ok(standing_in(operator, &state))
    }
}

/// The standing of `operator` in per-quorum operator lists (as `getOperatorState` returns them).
fn standing_in(operator: OperatorId, quorums: &[Vec<Operator>]) -> OperatorStanding {
    let entries = quorums
        .iter()
        .flatten()
        .filter(|entry| entry.operatorId == operator.0);
    let mut standing = OperatorStanding::NotRegistered;
    for entry in entries {
        if entry.stake.is_zero() {
            standing = OperatorStanding::NoStake;
        } else {
            return OperatorStanding::Active;
        }
    }
    standing
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, Uint};

    fn entry(id: u8, stake: u64) -> Operator {
        Operator {
            operator: Address::repeat_byte(id),
            operatorId: B256::repeat_byte(id),
            stake: Uint::from(stake),
        }
    }

    #[test]
    fn standing_needs_stake_in_some_quorum() {
        let me = OperatorId(B256::repeat_byte(1));
        assert_eq!(
            standing_in(me, &[vec![entry(2, 5)]]),
            OperatorStanding::NotRegistered
        );
        assert_eq!(
            standing_in(me, &[vec![entry(1, 0)], vec![]]),
            OperatorStanding::NoStake
        );
        assert_eq!(
            standing_in(me, &[vec![entry(1, 0)], vec![entry(2, 3), entry(1, 9)]]),
            OperatorStanding::Active
        );
    }
}
