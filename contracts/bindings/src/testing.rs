//! Test support (feature `test-utils`): EigenLayer's real contracts and the AVS deployed on an
//! anvil, with operators onboarded through the real registries.
//!
//! Every crate's chain tests start from here, so they all deploy the same way and send through
//! [`transactor::wallet_provider`] (nonces from the node). Accounts follow anvil's order: account
//! 0 owns the deployment and is its task generator, operators use accounts 1, 2, … and
//! [`TestDevnet::submitter_key`] is account 9.

use crate::{
    aggregation::{self, OperatorKeys},
    avs::{self, AvsTaskManager, BN254, IAvsTaskManager, IBLSSignatureChecker},
    deploy,
    deployment::{DeployConfig, Deployment},
    operator::OperatorClient,
    sender::{SenderConfig, WalletSender},
    transactor::{self, Transactor, TxError},
};
use alloy::{
    network::EthereumWallet,
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use avs_bls::{SecretKey, Signature};
use std::{collections::HashMap, sync::Arc};

/// One token of the devnet ERC-20 (18 decimals).
pub const TOKEN: u128 = 1_000_000_000_000_000_000;

/// An onboarded operator and its keys.
pub struct TestOperator {
    /// Its ECDSA key (an anvil account).
    pub signer: PrivateKeySigner,
    /// Its BLS key.
    pub bls: SecretKey,
    /// Its deposit, in wei of the devnet token.
    pub stake: u128,
    /// Its operator id.
    pub operator_id: B256,
}

/// A provider on `anvil` (mining each transaction as it arrives) sending from `signer`.
pub async fn wallet_provider(anvil: &AnvilInstance, signer: &PrivateKeySigner) -> DynProvider {
    transactor::automine_wallet_provider(&anvil.endpoint(), signer.clone())
        .await
        .expect("anvil answers")
}

/// The one sender of `signer`'s transactions on `anvil` (chain `chain_id`), paying and polling
/// as `config` says, to share between the components under test as a node shares it.
pub fn wallet_sender(
    anvil: &AnvilInstance,
    signer: PrivateKeySigner,
    chain_id: u64,
    config: SenderConfig,
) -> Arc<WalletSender> {
    // No wallet on the provider: the sender signs and sends raw.
    let provider = ProviderBuilder::new()
        .connect_http(anvil.endpoint_url())
        .erased();
    Arc::new(WalletSender::new(
        provider,
        EthereumWallet::from(signer),
        chain_id,
        config,
    ))
}

/// Mints, deposits and registers anvil account `account` with `stake_tokens` whole tokens.
pub async fn onboard(
    anvil: &AnvilInstance,
    deployment: &Deployment,
    account: usize,
    stake_tokens: u128,
) -> eyre::Result<TestOperator> {
    let signer: PrivateKeySigner = anvil.keys()[account].clone().into();
    let bls = SecretKey::generate();
    let provider = wallet_provider(anvil, &signer).await;
    let mut client = OperatorClient::new(provider, deployment, signer.address());
    let stake = stake_tokens * TOKEN;
    let socket = format!("/ip4/127.0.0.1/tcp/{}", 9000 + account);
    let operator_id = client
        .onboard_devnet(U256::from(stake), &bls, &socket)
        .await?;
    Ok(TestOperator {
        signer,
        bls,
        stake,
        operator_id,
    })
}

/// Deploys on `anvil` (owner = account 0; `configure` adjusts the devnet defaults) and onboards
/// one operator per entry of `stakes` (whole tokens) from accounts 1, 2, …
pub async fn deploy_and_onboard(
    anvil: &AnvilInstance,
    stakes: &[u128],
    configure: impl FnOnce(&mut DeployConfig),
) -> eyre::Result<(Deployment, Vec<TestOperator>)> {
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let mut config = DeployConfig::devnet(owner.address());
    configure(&mut config);
    let deployment = deploy::deploy(wallet_provider(anvil, &owner).await, config).await?;
    let mut operators = Vec::with_capacity(stakes.len());
    for (i, &stake) in stakes.iter().enumerate() {
        operators.push(onboard(anvil, &deployment, i + 1, stake).await?);
    }
    Ok((deployment, operators))
}

/// An anvil of its own with a deployment and onboarded operators.
pub struct TestDevnet {
    /// The chain (stopped when dropped).
    pub anvil: AnvilInstance,
    /// The owner's provider (account 0).
    pub provider: DynProvider,
    /// The deployment.
    pub deployment: Deployment,
    /// The operators, in onboarding order.
    pub operators: Vec<TestOperator>,
}

impl TestDevnet {
    /// See [`deploy_and_onboard`]; on a fresh anvil with its default ten accounts, whose chain
    /// starts at [`avs_test_support::EIGENLAYER_GENESIS_BLOCK`] (so slashing works).
    pub async fn start(
        stakes: &[u128],
        configure: impl FnOnce(&mut DeployConfig),
    ) -> eyre::Result<Self> {
        Self::on(
            avs_test_support::eigenlayer_anvil().spawn(),
            stakes,
            configure,
        )
        .await
    }

    /// See [`deploy_and_onboard`]; on `anvil` (e.g. one started with more accounts).
    pub async fn on(
        anvil: AnvilInstance,
        stakes: &[u128],
        configure: impl FnOnce(&mut DeployConfig),
    ) -> eyre::Result<Self> {
        let (deployment, operators) = deploy_and_onboard(&anvil, stakes, configure).await?;
        let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
        let provider = wallet_provider(&anvil, &owner).await;
        Ok(Self {
            anvil,
            provider,
            deployment,
            operators,
        })
    }

    /// Onboards the next anvil account with `stake_tokens` whole tokens.
    pub async fn add_operator(&mut self, stake_tokens: u128) -> eyre::Result<()> {
        let account = self.operators.len() + 1;
        let operator = onboard(&self.anvil, &self.deployment, account, stake_tokens).await?;
        self.operators.push(operator);
        Ok(())
    }

    /// A funded account that is neither the owner nor an operator (anvil account 9).
    pub fn submitter_key(&self) -> PrivateKeySigner {
        self.anvil.keys()[9].clone().into()
    }

    /// The owner's key (anvil account 0, the deployment's task generator).
    pub fn owner_key(&self) -> PrivateKeySigner {
        self.anvil.keys()[0].clone().into()
    }

    /// The one sender of `signer`'s transactions on this devnet ([`wallet_sender`]).
    pub fn wallet_sender(
        &self,
        signer: PrivateKeySigner,
        config: SenderConfig,
    ) -> Arc<WalletSender> {
        wallet_sender(&self.anvil, signer, self.deployment.chain_id, config)
    }

    /// Every operator's registered keys, by operator id.
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

    /// The task manager, called as the owner.
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

    /// Creates the task for checkpoint `block` (the owner is the task generator).
    pub async fn create_task(&self, block: u64) -> eyre::Result<(u32, IAvsTaskManager::Task)> {
        let (task_index, task, _) = self.create_task_receipt(block).await?;
        Ok((task_index, task))
    }

    /// [`Self::create_task`], with the creation's receipt (for its gas).
    pub async fn create_task_receipt(
        &self,
        block: u64,
    ) -> eyre::Result<(u32, IAvsTaskManager::Task, TransactionReceipt)> {
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
        let event = decode_event::<AvsTaskManager::NewTaskCreated>(&receipt)?;
        Ok((event.taskIndex, event.task, receipt))
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
            .ok_or_else(|| eyre::eyre!("block {block} missing"))?
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
                let operator = &self.operators[i];
                (operator.operator_id, operator.bls.sign(digest))
            })
            .collect()
    }

    /// The checker input for `response` signed by the operators at `signers`.
    pub async fn aggregate(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        signers: &[usize],
    ) -> eyre::Result<IBLSSignatureChecker::NonSignerStakesAndSignature> {
        let digest = avs::attestation_digest(&self.deployment.signing_domain(), task, response);
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

    /// `respondToTask` from the owner's account.
    pub async fn respond(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        proof: IBLSSignatureChecker::NonSignerStakesAndSignature,
    ) -> Result<TransactionReceipt, TxError> {
        let call = AvsTaskManager::respondToTaskCall {
            task: task.clone(),
            response: response.clone(),
            nonSignerStakesAndSignature: proof,
        };
        Transactor::new(self.provider.clone())
            .call(
                "respondToTask",
                self.deployment.avs.task_manager,
                call.abi_encode(),
            )
            .await
    }

    /// Challenges a response of a checkpoint of this chain with the block's header RLP.
    ///
    /// # Panics
    /// If anvil does not return the checkpoint block.
    pub async fn challenge(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        metadata: IAvsTaskManager::TaskResponseMetadata,
        non_signer_pubkeys: Vec<BN254::G1Point>,
    ) -> Result<TransactionReceipt, TxError> {
        let header_rlp = avs::header_rlp(&self.provider, task.blockNumber)
            .await
            .expect("anvil answers")
            .expect("the checkpoint block exists");
        let call = AvsTaskManager::raiseAndResolveChallengeCall {
            task: task.clone(),
            response: response.clone(),
            metadata,
            nonSignerPubkeys: non_signer_pubkeys,
            headerRlp: header_rlp,
        };
        Transactor::new(self.provider.clone())
            .call(
                "raiseAndResolveChallenge",
                self.deployment.avs.task_manager,
                call.abi_encode(),
            )
            .await
    }

    /// Creates the next task, lands a response with a wrong state root signed by `signers`, and
    /// challenges it. Returns the task, the response's non-signer keys (what `freezeSigners`
    /// takes) and the challenge's receipt.
    pub async fn challenge_wrong_response(
        &self,
        signers: &[usize],
    ) -> eyre::Result<(
        IAvsTaskManager::Task,
        Vec<BN254::G1Point>,
        TransactionReceipt,
    )> {
        let (_, task, mut wrong) = self.next_task().await?;
        wrong.stateRoot = B256::repeat_byte(0xbd);
        let proof = self.aggregate(&task, &wrong, signers).await?;
        let non_signer_pubkeys = proof.nonSignerPubkeys.clone();
        let receipt = self.respond(&task, &wrong, proof).await?;
        let metadata =
            decode_event::<AvsTaskManager::TaskResponded>(&receipt)?.taskResponseMetadata;
        let receipt = self
            .challenge(&task, &wrong, metadata, non_signer_pubkeys.clone())
            .await?;
        Ok((task, non_signer_pubkeys, receipt))
    }

    /// Challenges the response that `receipt` landed and checks that the contract refuses it as
    /// correct (`ResponseIsCorrect`): what an honest quorum's answer must always get.
    ///
    /// # Panics
    /// If the challenge does not revert with `ResponseIsCorrect`.
    pub async fn assert_unchallengeable(
        &self,
        task: &IAvsTaskManager::Task,
        response: &IAvsTaskManager::TaskResponse,
        receipt: &TransactionReceipt,
    ) -> eyre::Result<()> {
        let metadata = decode_event::<AvsTaskManager::TaskResponded>(receipt)?.taskResponseMetadata;
        let err = self
            .challenge(task, response, metadata, vec![])
            .await
            .expect_err("a correct response cannot be challenged");
        assert!(
            matches!(
                revert_error(&err),
                AvsTaskManager::AvsTaskManagerErrors::ResponseIsCorrect(_)
            ),
            "{err}"
        );
        Ok(())
    }

    /// Asserts that no operator was punished: none frozen, all registered, every allocated
    /// magnitude whole (what an honest quorum's operators must keep).
    ///
    /// # Panics
    /// Naming the first operator that was punished.
    pub async fn assert_nobody_punished(&self) -> eyre::Result<()> {
        for i in 0..self.operators.len() {
            let status =
                crate::operator::status(&self.provider, &self.deployment, self.operator_address(i))
                    .await?;
            assert!(
                !status.frozen && status.registered,
                "operator {i} punished: {status:?}"
            );
            for allocation in &status.allocations {
                assert_eq!(
                    allocation.magnitude,
                    crate::operator::WAD,
                    "operator {i} slashed: {status:?}"
                );
            }
        }
        Ok(())
    }

    /// The address of operator `i`.
    pub fn operator_address(&self, i: usize) -> Address {
        self.operators[i].signer.address()
    }
}

/// The first `E` event in `receipt`.
pub fn decode_event<E: SolEvent>(receipt: &TransactionReceipt) -> eyre::Result<E> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| E::decode_log(&log.inner).ok().map(|decoded| decoded.data))
        .ok_or_else(|| eyre::eyre!("no {} event in the receipt", E::SIGNATURE))
}

/// The task manager's custom error a transaction reverted with at gas estimation.
///
/// # Panics
/// If `err` is not such a revert (a test expecting a specific revert got something else).
pub fn revert_error(err: &TxError) -> AvsTaskManager::AvsTaskManagerErrors {
    err.revert()
        .unwrap_or_else(|| panic!("not a decodable AvsTaskManager error: {err}"))
}
