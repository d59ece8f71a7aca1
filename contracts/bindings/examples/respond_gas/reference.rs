//! EigenLayer's reference task manager (incredible-squaring's `IncredibleSquaringTaskManager`:
//! `checkSignatures`, a stored response hash and an event, behind a transparent proxy), measured
//! on the same registries in the same run. Its bytecode is never part of this repository: pass
//! a forge artifact compiled locally from EigenLayer's middleware sources with `--reference`.

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    rpc::types::TransactionReceipt,
    sol,
    sol_types::{SolCall, SolValue},
};
use avs_contracts::{
    aggregation,
    avs::IAvsTaskManager,
    eigenlayer,
    testing::{TestDevnet, decode_event},
    transactor::Transactor,
};

sol! {
    /// The reference task manager's ABI, as far as the measurement calls it.
    interface IReferenceTaskManager {
        struct Task {
            uint256 numberToBeSquared;
            uint32 taskCreatedBlock;
            bytes quorumNumbers;
            uint32 quorumThresholdPercentage;
        }
        struct TaskResponse {
            uint32 referenceTaskIndex;
            uint256 numberSquared;
        }
        // EigenLayer's checker parameters (the same ABI as ours; converted by re-decoding).
        struct G1Point { uint256 X; uint256 Y; }
        struct G2Point { uint256[2] X; uint256[2] Y; }
        struct NonSignerStakesAndSignature {
            uint32[] nonSignerQuorumBitmapIndices;
            G1Point[] nonSignerPubkeys;
            G1Point[] quorumApks;
            G2Point apkG2;
            G1Point sigma;
            uint32[] quorumApkIndices;
            uint32[] totalStakeIndices;
            uint32[][] nonSignerStakeIndices;
        }
        event NewTaskCreated(uint32 indexed taskIndex, Task task);
        function initialize(address pauserRegistry, address initialOwner, address aggregator, address generator) external;
        function createNewTask(uint256 numberToBeSquared, uint32 quorumThresholdPercentage, bytes quorumNumbers) external;
        function respondToTask(Task task, TaskResponse taskResponse, NonSignerStakesAndSignature nonSignerStakesAndSignature) external;
    }
}

/// The deployed reference task manager (proxy), its owner being the devnet's owner, who is also
/// its task generator and aggregator.
pub(crate) struct Reference {
    proxy: Address,
}

impl Reference {
    /// Deploys the artifact at `path` on the devnet's registries behind a transparent proxy.
    pub(crate) async fn deploy(
        devnet: &TestDevnet,
        tx: &mut Transactor<alloy::providers::DynProvider>,
        path: &str,
    ) -> eyre::Result<Self> {
        let artifact: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let bytecode = artifact["bytecode"]["object"]
            .as_str()
            .ok_or_else(|| eyre::eyre!("{path}: no bytecode.object"))?;
        let bytecode: Bytes = bytecode.parse()?;
        let el = &devnet.deployment.eigenlayer;
        // Its response window: the reference deploys 30 blocks.
        let args = (el.registry_coordinator, 30u32).abi_encode_params();
        let implementation = tx
            .deploy(
                "reference task manager implementation",
                [bytecode.to_vec(), args].concat(),
            )
            .await?;
        let proxy = eigenlayer::empty_proxy(
            tx,
            "reference task manager",
            el.empty_contract,
            el.proxy_admin,
        )
        .await?;
        let owner = devnet.deployment.params.eigenlayer.owner;
        let init = IReferenceTaskManager::initializeCall {
            pauserRegistry: el.pauser_registry,
            initialOwner: owner,
            aggregator: owner,
            generator: owner,
        };
        eigenlayer::upgrade_and_call(
            tx,
            "reference task manager",
            el.proxy_admin,
            proxy,
            implementation,
            init.abi_encode(),
        )
        .await?;
        Ok(Self { proxy })
    }

    /// The proxy's address.
    pub(crate) const fn address(&self) -> Address {
        self.proxy
    }

    /// Creates a task, lets a block pass, and answers it with the operators at `signers`,
    /// from the aggregator's account. Returns the response's receipt, the digest the operators
    /// signed and the creation's gas.
    pub(crate) async fn respond(
        &self,
        devnet: &TestDevnet,
        tx: &mut Transactor<alloy::providers::DynProvider>,
        number: u64,
        signers: &[usize],
    ) -> eyre::Result<(TransactionReceipt, B256, u64)> {
        let params = &devnet.deployment.params.avs;
        let create = IReferenceTaskManager::createNewTaskCall {
            numberToBeSquared: U256::from(number),
            quorumThresholdPercentage: params.quorum_threshold_percentage.into(),
            quorumNumbers: params.quorum_numbers.clone().into(),
        };
        let created = tx
            .call("reference createNewTask", self.proxy, create.abi_encode())
            .await?;
        let event = decode_event::<IReferenceTaskManager::NewTaskCreated>(&created)?;
        let response = IReferenceTaskManager::TaskResponse {
            referenceTaskIndex: event.taskIndex,
            numberSquared: U256::from(number) * U256::from(number),
        };
        // What its operators sign: keccak256(abi.encode(taskResponse)).
        let digest = keccak256(response.abi_encode());
        // The aggregate is built the same way as ours: only the reference block and quorums
        // of the task matter to the registries.
        let task = IAvsTaskManager::Task {
            chainId: devnet.deployment.chain_id,
            blockNumber: number,
            taskCreatedBlock: event.task.taskCreatedBlock,
            taskCreatedParentHash: B256::ZERO,
            quorumThresholdPercentage: event.task.quorumThresholdPercentage,
            responseWindowBlocks: 30,
            challengeWindowBlocks: 0,
            quorumNumbers: event.task.quorumNumbers.clone(),
        };
        let proof = aggregation::build_non_signer_stakes_and_signature(
            &devnet.provider,
            &devnet.deployment,
            &task,
            digest,
            &devnet.keys(),
            &devnet.sign(signers, digest),
        )
        .await?;
        let respond = IReferenceTaskManager::respondToTaskCall {
            task: event.task,
            taskResponse: response,
            nonSignerStakesAndSignature: SolValue::abi_decode(&proof.abi_encode())?,
        };
        let receipt = tx
            .call("reference respondToTask", self.proxy, respond.abi_encode())
            .await?;
        Ok((receipt, digest, created.gas_used))
    }
}
