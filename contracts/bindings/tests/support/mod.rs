//! A deployed EigenLayer + AVS on anvil with registered operators, for the integration tests.

#![allow(dead_code, unreachable_pub)]

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    rlp::Encodable,
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use avs_bls::{SecretKey, Signature};
use avs_contracts::{
    aggregation::{self, OperatorKeys},
    avs::{AvsTaskManager, BN254, IAvsTaskManager, IBLSSignatureChecker},
    deploy,
    deployment::{DeployConfig, Deployment},
    operator::OperatorClient,
    transactor::{self, Transactor, TxError},
};
use avs_test_support::AnvilInstance;
use std::collections::HashMap;

/// One token in wei units of the devnet ERC-20.
pub const TOKEN: u128 = 1_000_000_000_000_000_000;

pub struct TestOperator {
    pub signer: PrivateKeySigner,
    pub bls: SecretKey,
    pub stake: u128,
    pub operator_id: B256,
}

pub struct TestDevnet {
    pub anvil: AnvilInstance,
    pub owner: PrivateKeySigner,
    pub provider: DynProvider,
    pub deployment: Deployment,
    pub operators: Vec<TestOperator>,
}

pub async fn wallet_provider(anvil: &AnvilInstance, signer: &PrivateKeySigner) -> DynProvider {
    transactor::wallet_provider(&anvil.endpoint(), signer.clone())
        .await
        .expect("anvil answers")
}

impl TestDevnet {
    /// Deploys with `config` (owner = anvil account 0) and registers one operator per entry of
    /// `stakes` (whole tokens), from anvil accounts 1, 2, …
    pub async fn start(
        stakes: &[u128],
        configure: impl FnOnce(&mut DeployConfig),
    ) -> eyre::Result<Self> {
        let anvil = avs_test_support::anvil().spawn();
        let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
        let provider = wallet_provider(&anvil, &owner).await;
        let mut config = DeployConfig::devnet(owner.address());
        configure(&mut config);
        let deployment = deploy::deploy(provider.clone(), config).await?;
        let mut devnet = Self {
            anvil,
            owner,
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
        let provider = wallet_provider(&self.anvil, &signer).await;
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
            signer,
            bls,
            stake,
            operator_id,
        });
        Ok(())
    }

    pub fn keys(&self) -> HashMap<B256, OperatorKeys> {
        self.operators
            .iter()
            .map(|op| {
                let keys = OperatorKeys {
                    operator_id: op.operator_id,
                    pubkey_g1: op.bls.public_key(),
                    pubkey_g2: op.bls.public_key_g2(),
                };
                (op.operator_id, keys)
            })
            .collect()
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

    /// Creates the task for checkpoint `block` (owner is the task generator) and returns it.
    pub async fn create_task(&self, block: u64) -> eyre::Result<(u32, IAvsTaskManager::Task)> {
        let mut tx = Transactor::new(self.provider.clone());
        let call = AvsTaskManager::createNewTaskCall {
            chainId: self.deployment.chain_id,
            blockNumber: block,
            quorumThresholdPercentage: self
                .deployment
                .params
                .avs
                .quorum_threshold_percentage
                .into(),
            quorumNumbers: Bytes::from(self.deployment.params.avs.quorum_numbers.clone()),
        };
        let receipt = tx
            .call(
                "createNewTask",
                self.deployment.avs.task_manager,
                call.abi_encode(),
            )
            .await?;
        let event = decode_event::<AvsTaskManager::NewTaskCreated>(&receipt)?;
        Ok((event.taskIndex, event.task))
    }

    /// A task for the next checkpoint and its true response.
    pub async fn next_task(
        &self,
    ) -> eyre::Result<(u32, IAvsTaskManager::Task, IAvsTaskManager::TaskResponse)> {
        let block = self.next_checkpoint().await?;
        let (task_index, task) = self.create_task(block).await?;
        let response = self.true_response(task_index, block).await?;
        Ok((task_index, task, response))
    }

    /// The true response for a task: block hash and roots of its checkpoint block on anvil.
    pub async fn true_response(
        &self,
        task_index: u32,
        block: u64,
    ) -> eyre::Result<IAvsTaskManager::TaskResponse> {
        let header = self
            .provider
            .get_block_by_number(block.into())
            .await?
            .expect("block exists")
            .header;
        Ok(IAvsTaskManager::TaskResponse {
            referenceTaskIndex: task_index,
            blockHash: header.hash,
            stateRoot: header.state_root,
            receiptsRoot: header.receipts_root,
        })
    }

    /// Signatures of the operators at `signers` (indices into `operators`) over `digest`.
    pub fn sign(&self, signers: &[usize], digest: B256) -> Vec<(B256, Signature)> {
        signers
            .iter()
            .map(|&i| {
                (
                    self.operators[i].operator_id,
                    self.operators[i].bls.sign(digest),
                )
            })
            .collect()
    }

    pub async fn aggregate(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        signers: &[usize],
    ) -> eyre::Result<IBLSSignatureChecker::NonSignerStakesAndSignature> {
        let digest = response.digest();
        Ok(aggregation::build_non_signer_stakes_and_signature(
            &self.provider,
            &self.deployment,
            task,
            digest,
            &self.keys(),
            &self.sign(signers, digest),
        )
        .await?)
    }

    pub async fn respond(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        proof: IBLSSignatureChecker::NonSignerStakesAndSignature,
    ) -> Result<TransactionReceipt, TxError> {
        let mut tx = Transactor::new(self.provider.clone());
        let call = AvsTaskManager::respondToTaskCall {
            task: task.clone(),
            response: response.clone(),
            nonSignerStakesAndSignature: proof,
        };
        tx.call(
            "respondToTask",
            self.deployment.avs.task_manager,
            call.abi_encode(),
        )
        .await
    }

    /// Challenges a response of a checkpoint of this chain with the block's header RLP.
    pub async fn challenge(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        metadata: IAvsTaskManager::TaskResponseMetadata,
        non_signer_pubkeys: Vec<BN254::G1Point>,
    ) -> Result<TransactionReceipt, TxError> {
        let header = self
            .provider
            .get_block_by_number(task.blockNumber.into())
            .await
            .expect("the node answers")
            .expect("the checkpoint block exists")
            .header
            .inner;
        let mut header_rlp = Vec::new();
        header.encode(&mut header_rlp);
        let call = AvsTaskManager::raiseAndResolveChallengeCall {
            task: task.clone(),
            response: response.clone(),
            metadata,
            nonSignerPubkeys: non_signer_pubkeys,
            headerRlp: header_rlp.into(),
        };
        let mut tx = Transactor::new(self.provider.clone());
        tx.call(
            "raiseAndResolveChallenge",
            self.deployment.avs.task_manager,
            call.abi_encode(),
        )
        .await
    }

    pub fn operator_address(&self, i: usize) -> Address {
        self.operators[i].signer.address()
    }
}

pub fn decode_event<E: SolEvent>(receipt: &TransactionReceipt) -> eyre::Result<E> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| E::decode_log(&log.inner).ok().map(|decoded| decoded.data))
        .ok_or_else(|| eyre::eyre!("no {} event in the receipt", E::SIGNATURE))
}

/// The task manager's custom error a failed transaction reverted with.
pub fn revert_error(err: &TxError) -> AvsTaskManager::AvsTaskManagerErrors {
    let TxError::Rpc { source, .. } = err else {
        panic!("expected a revert at gas estimation, got {err}")
    };
    source
        .as_error_resp()
        .and_then(|payload| {
            payload.as_decoded_interface_error::<AvsTaskManager::AvsTaskManagerErrors>()
        })
        .unwrap_or_else(|| panic!("not a decodable AvsTaskManager error: {err}"))
}
