//! The fork rules a block is executed under.

use alloy::eips::{eip6110::MAINNET_DEPOSIT_CONTRACT_ADDRESS, eip7840::BlobParams};
use alloy::primitives::{Address, ChainId, address};
use alloy_evm::eth::spec::EthExecutorSpec;
use alloy_hardforks::{EthereumChainHardforks, EthereumHardfork, EthereumHardforks, ForkCondition};

/// A chain's hard forks (which rules apply at a block) and the few addresses execution needs.
#[derive(Debug, Clone)]
pub struct ChainRules {
    chain_id: ChainId,
    hardforks: EthereumChainHardforks,
    deposit_contract: Option<Address>,
}

impl ChainRules {
    /// The public Ethereum networks' rules by chain id (mainnet, Sepolia, Holesky, Hoodi);
    /// `None` for any other chain, whose fork schedule this build cannot know.
    pub fn for_chain_id(chain_id: ChainId) -> Option<Self> {
        let (hardforks, deposit_contract) = match chain_id {
            1 => (
                EthereumChainHardforks::mainnet(),
                MAINNET_DEPOSIT_CONTRACT_ADDRESS,
            ),
            11_155_111 => (
                EthereumChainHardforks::sepolia(),
                address!("0x7f02c3e3c98b133055b8b348b2ac625669ed295d"),
            ),
            17_000 => (
                EthereumChainHardforks::holesky(),
                address!("0x4242424242424242424242424242424242424242"),
            ),
            560_048 => (
                EthereumChainHardforks::hoodi(),
                // Hoodi deploys its deposit contract at mainnet's address.
                MAINNET_DEPOSIT_CONTRACT_ADDRESS,
            ),
            _ => return None,
        };
        Some(Self {
            chain_id,
            hardforks,
            deposit_contract: Some(deposit_contract),
        })
    }

    /// A development chain: every fork up to and including `last` active from genesis (how
    /// anvil, geth `--dev` and test networks run), no deposit contract. A `last` beyond
    /// alloy-hardforks' devnet list (Bpo2) is added after the whole list.
    pub fn dev(chain_id: ChainId, last: EthereumHardfork) -> Self {
        let forks = EthereumHardfork::devnet();
        let forks: Vec<_> = match forks.iter().position(|(fork, _)| *fork == last) {
            Some(i) => forks[..=i].to_vec(),
            None => forks
                .into_iter()
                .chain([(last, ForkCondition::ZERO_TIMESTAMP)])
                .collect(),
        };
        Self {
            chain_id,
            hardforks: EthereumChainHardforks::new(forks),
            deposit_contract: None,
        }
    }

    /// The chain id transactions are signed for.
    pub const fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Why a block at `number` and `timestamp` is outside what this build executes, if it is:
    /// before the merge (block rewards and ommers) or under a fork after BPO2 (Amsterdam and
    /// later blob schedules). Executing such a block would give a wrong root, not a verdict.
    pub fn unsupported_at(&self, number: u64, timestamp: u64) -> Option<String> {
        if !self.is_ethereum_fork_active_at_block(EthereumHardfork::Paris, number) {
            return Some("blocks before the merge are not executed by this build".to_owned());
        }
        [
            EthereumHardfork::Bpo3,
            EthereumHardfork::Bpo4,
            EthereumHardfork::Bpo5,
            EthereumHardfork::Amsterdam,
        ]
        .into_iter()
        .find(|fork| self.is_ethereum_fork_active_at_timestamp(*fork, timestamp))
        .map(|fork| format!("{fork} rules are not executed by this build"))
    }

    /// The blob fee parameters in force at `timestamp` (`None` before Cancun).
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        let active = |fork| self.is_ethereum_fork_active_at_timestamp(fork, timestamp);
        [
            (EthereumHardfork::Bpo2, BlobParams::bpo2()),
            (EthereumHardfork::Bpo1, BlobParams::bpo1()),
            (EthereumHardfork::Osaka, BlobParams::osaka()),
            (EthereumHardfork::Prague, BlobParams::prague()),
            (EthereumHardfork::Cancun, BlobParams::cancun()),
        ]
        .into_iter()
        .find(|(fork, _)| active(*fork))
        .map(|(_, params)| params)
    }
}

impl EthereumHardforks for ChainRules {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        self.hardforks.ethereum_fork_activation(fork)
    }
}

impl EthExecutorSpec for ChainRules {
    fn deposit_contract_address(&self) -> Option<alloy::primitives::Address> {
        self.deposit_contract
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_rules_stop_at_the_named_fork() {
        let rules = ChainRules::dev(31337, EthereumHardfork::Prague);
        assert!(rules.is_prague_active_at_timestamp(0));
        assert!(!rules.is_osaka_active_at_timestamp(u64::MAX));
        assert_eq!(rules.blob_params_at(0), Some(BlobParams::prague()));
    }

    #[test]
    fn blocks_before_the_merge_and_after_bpo2_are_unsupported() {
        let mainnet = ChainRules::for_chain_id(1).expect("mainnet");
        assert!(mainnet.unsupported_at(15_537_393, 1_663_224_162).is_some());
        assert_eq!(mainnet.unsupported_at(23_000_000, 1_760_000_000), None);
        let dev = ChainRules::dev(1, EthereumHardfork::Prague);
        assert_eq!(dev.unsupported_at(0, 0), None);
        let future = ChainRules::dev(1, EthereumHardfork::Amsterdam);
        assert!(
            future
                .unsupported_at(1, 0)
                .is_some_and(|r| r.contains("not executed"))
        );
    }

    #[test]
    fn public_networks_are_known_and_others_are_not() {
        let mainnet = ChainRules::for_chain_id(1).expect("mainnet");
        assert!(!mainnet.is_cancun_active_at_timestamp(1_700_000_000));
        assert!(mainnet.is_cancun_active_at_timestamp(1_710_338_135));
        assert_eq!(mainnet.blob_params_at(1_700_000_000), None);
        assert!(ChainRules::for_chain_id(31337).is_none());
    }
}
