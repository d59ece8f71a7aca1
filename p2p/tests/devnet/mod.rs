//! A deployed EigenLayer + AVS on anvil with registered operators (the real contracts, as in
//! `contracts/bindings/tests/support`), for the registry reader and submitter tests.

#![allow(dead_code, unreachable_pub)]

use alloy::{
    network::EthereumWallet,
    primitives::{B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use avs_bls::SecretKey;
use avs_contracts::{
    avs::{AvsTaskManager, IAvsTaskManager},
    deploy,
    deployment::{DeployConfig, Deployment},
    operator::OperatorClient,
    transactor::Transactor,
};
use avs_p2p::{OperatorId, TaskResponse, Verified};
use avs_test_support::AnvilInstance;

/// One token in wei units of the devnet ERC-20.
pub const TOKEN: u128 = 1_000_000_000_000_000_000;

pub struct TestOperator {
    pub bls: SecretKey,
    pub stake: u128,
    pub operator_id: B256,
}

pub struct TestDevnet {
    pub anvil: AnvilInstance,
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub operators: Vec<TestOperator>,
}

pub fn wallet_provider(anvil: &AnvilInstance, signer: &PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(anvil.endpoint_url())
        .erased()
}

impl TestDevnet {
    /// Deploys (owner = anvil account 0) and registers one operator per entry of `stakes`
    /// (whole tokens), from anvil accounts 1, 2, …
    pub async fn start(stakes: &[u128]) -> eyre::Result<Self> {
        let anvil = avs_test_support::anvil().spawn();
        let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
        let provider = wallet_provider(&anvil, &owner);
        let deployment =
            deploy::deploy(provider.clone(), DeployConfig::devnet(owner.address())).await?;
        let mut devnet = Self {
            anvil,
            provider,
            deployment,
            operators: Vec::new(),
        };
        for &stake in stakes {
            devnet.add_operator(stake).await?;
        }
        Ok(devnet)
    }

    pub async fn add_operator(&mut self, stake_tokens: u128) -> eyre::Result<()> {
        let index = self.operators.len() + 1;
        let signer: PrivateKeySigner = self.anvil.keys()[index].clone().into();
        let bls = SecretKey::generate();
        let provider = wallet_provider(&self.anvil, &signer);
        let mut client = OperatorClient::new(provider, &self.deployment, signer.address());
        let stake = stake_tokens * TOKEN;
        let operator_id = client
            .onboard_devnet(
                U256::from(stake),
                &bls,
                &signer,
                &format!("/ip4/127.0.0.1/tcp/{}", 9000 + index),
            )
            .await?;
        self.operators.push(TestOperator {
            bls,
            stake,
            operator_id,
        });
        Ok(())
    }

    /// A funded anvil account that is neither the owner nor an operator: the submitter's.
    pub fn submitter_key(&self) -> PrivateKeySigner {
        self.anvil.keys()[9].clone().into()
    }

    pub fn task_manager(&self) -> AvsTaskManager::AvsTaskManagerInstance<DynProvider> {
        AvsTaskManager::new(self.deployment.avs.task_manager, self.provider.clone())
    }

    /// Mines until the chain is past the next checkpoint block and returns that block number.
    pub async fn next_checkpoint(&self) -> eyre::Result<u64> {
        let interval = self.deployment.params.avs.checkpoint_interval;
        let head = self.provider.get_block_number().await?;
        let target = (head / interval + 1) * interval;
        self.provider
            .anvil_mine(Some(target - head + 1), None)
            .await?;
        Ok(target)
    }

    /// Creates the task for checkpoint `block` (owner is the task generator).
    pub async fn create_task(&self, block: u64) -> eyre::Result<(u32, IAvsTaskManager::Task)> {
        let params = &self.deployment.params.avs;
        let call = AvsTaskManager::createNewTaskCall {
            chainId: self.deployment.chain_id,
            blockNumber: block,
            quorumThresholdPercentage: params.quorum_threshold_percentage.into(),
            quorumNumbers: Bytes::from(params.quorum_numbers.clone()),
        };
        let receipt = Transactor::new(self.provider.clone())
            .call(
                "createNewTask",
                self.deployment.avs.task_manager,
                call.abi_encode(),
            )
            .await?;
        let event = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| AvsTaskManager::NewTaskCreated::decode_log(&log.inner).ok())
            .ok_or_else(|| eyre::eyre!("no NewTaskCreated in the receipt"))?;
        Ok((event.data.taskIndex, event.data.task))
    }

    /// The true response for a task: anvil's block hash and roots of its checkpoint block.
    pub async fn true_response(&self, task_index: u32, block: u64) -> eyre::Result<TaskResponse> {
        let header = self
            .provider
            .get_block_by_number(block.into())
            .await?
            .ok_or_else(|| eyre::eyre!("block {block} missing"))?
            .header;
        Ok(TaskResponse {
            reference_task_index: task_index,
            block_hash: header.hash,
            state_root: header.state_root,
            receipts_root: header.receipts_root,
        })
    }

    /// Validated-signature records of the operators at `signers` (indices) over `response`.
    pub fn verified(&self, signers: &[usize], response: TaskResponse) -> Vec<Verified> {
        let digest = response.digest();
        signers
            .iter()
            .map(|&i| Verified {
                task_index: response.reference_task_index,
                operator_id: OperatorId(self.operators[i].operator_id),
                response,
                digest,
                signature: self.operators[i].bls.sign(digest),
            })
            .collect()
    }
}
