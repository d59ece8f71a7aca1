// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {IBLSSignatureChecker} from "./IBLSSignatureChecker.sol";

/// @title IAvsTaskManager
/// @notice Checkpoint tasks: every `checkpointInterval` blocks of an attested chain a task asks
///         the operators to attest (blockHash, stateRoot, receiptsRoot) of that block; a
///         stake-weighted BLS quorum answers; consumers read finalized checkpoints; a wrong
///         answer about this chain's own blocks can be challenged and its signers frozen.
/// @dev What operators sign: the EIP-712 hash of `Attestation(Task task,TaskResponse response)`
///      under the domain (name "avs-exex", version "1", the settlement chain id, this contract's
///      address): see `attestationDigest`. A signature therefore holds for exactly one task of one
///      deployment on one chain, and for one settlement fork (`taskCreatedParentHash`).
interface IAvsTaskManager {
    /// @notice A checkpoint task. Its EIP-712 struct hash is stored per index (`allTaskHashes`).
    /// @dev The windows are fixed at creation: no later configuration change moves this task's
    ///      deadlines. `taskCreatedParentHash` is `blockhash(taskCreatedBlock - 1)`: it binds the
    ///      task (and every signature over it) to the settlement fork it was created on, so a
    ///      task re-created after a reorg that changed a block at or below `taskCreatedBlock - 1`
    ///      (the checkpoint's block included, for checkpoints of the settlement chain) is another
    ///      task, and the old fork's signatures do not verify for it.
    struct Task {
        uint64 chainId;
        uint64 blockNumber;
        uint32 taskCreatedBlock;
        bytes32 taskCreatedParentHash;
        uint32 quorumThresholdPercentage;
        uint32 responseWindowBlocks;
        uint32 challengeWindowBlocks;
        bytes quorumNumbers;
    }

    /// @notice The operators' answer. They BLS-sign `attestationDigest(task, response)`.
    struct TaskResponse {
        uint32 referenceTaskIndex;
        bytes32 blockHash;
        bytes32 stateRoot;
        bytes32 receiptsRoot;
    }

    /// @notice Recorded with a response: when it landed and who did not sign.
    /// @dev hashOfNonSigners = keccak256(abi.encodePacked(taskCreatedBlock, nonSignerOperatorIds)).
    struct TaskResponseMetadata {
        uint32 taskRespondedBlock;
        bytes32 hashOfNonSigners;
    }

    /// @notice Lifecycle of a checkpoint (chainId, blockNumber).
    enum CheckpointStatus {
        None,
        Pending,
        Finalized,
        Invalidated
    }

    /// @notice What the contract knows of a checkpoint (chainId, blockNumber): its latest task's
    ///         status and, once answered, the attested roots (zero while Pending or None).
    /// @dev `challengeDeadline` is the last settlement block in which the response can be
    ///      challenged (`finalizedAt + challengeWindowBlocks` of the task; 0 unless answered).
    ///      Only checkpoints of the settlement chain itself can be challenged on-chain; the
    ///      deadline is the same rule for every chain, so a consumer's policy does not depend on
    ///      which chain it reads. The roots of an Invalidated checkpoint are the disproven ones.
    struct Checkpoint {
        CheckpointStatus status;
        uint32 taskIndex;
        uint32 finalizedAt;
        uint64 challengeDeadline;
        bytes32 blockHash;
        bytes32 stateRoot;
        bytes32 receiptsRoot;
    }

    /// @notice What a successful challenge proved wrong.
    enum ChallengeReason {
        BlockHash,
        StateRoot,
        ReceiptsRoot
    }

    /// @notice Task parameters, set by the owner.
    struct Config {
        uint64 checkpointInterval;
        uint32 responseWindowBlocks;
        uint32 challengeWindowBlocks;
        uint8 minimumThresholdPercentage;
        bool openTaskCreation;
    }

    /// @notice A task was created.
    event NewTaskCreated(uint32 indexed taskIndex, Task task);
    /// @notice A task was answered with a quorum; its checkpoint is finalized.
    event TaskResponded(
        uint32 indexed taskIndex, TaskResponse taskResponse, TaskResponseMetadata taskResponseMetadata
    );
    /// @notice A response was proven wrong: its checkpoint is invalidated and `frozenOperators`
    ///         slashed and frozen (unless `SignersNotPunished` follows: then `freezeSigners` must
    ///         punish them from position 0).
    event TaskChallengedSuccessfully(
        uint32 indexed taskIndex,
        address indexed challenger,
        ChallengeReason reason,
        address[] frozenOperators
    );
    /// @notice More signers of an invalidated task's response were frozen (`freezeSigners`).
    event SignersFrozen(uint32 indexed taskIndex, address[] operators);
    /// @notice The challenge's own batch of signers could not be punished (the service manager
    ///         reverted with `reason`, e.g. EigenLayer paused slashing); the checkpoint is
    ///         invalidated all the same, and `freezeSigners` from position 0 retries.
    event SignersNotPunished(uint32 indexed taskIndex, bytes reason);
    /// @notice The task parameters changed (tasks created before keep their windows).
    event ConfigUpdated(Config oldConfig, Config newConfig);
    /// @notice `generator` was allowed (`allowed`) or no longer allowed to create tasks.
    event TaskGeneratorUpdated(address indexed generator, bool allowed);
    /// @notice Task creation and responses were paused or unpaused.
    event PausedUpdated(bool paused);

    /// @notice The contract is paused.
    error Paused();
    /// @notice The caller may not create tasks.
    error NotTaskGenerator(address caller);
    /// @notice The checkpoint block is not a multiple of the checkpoint interval.
    error BlockNotOnInterval(uint64 blockNumber, uint64 checkpointInterval);
    /// @notice A checkpoint of this (the settlement) chain must be a block that already exists.
    error BlockNotYetMined(uint64 blockNumber, uint256 currentBlock);
    /// @notice A checkpoint of this chain whose hash would leave the range the contract can read
    ///         (`blockhash`: 256 blocks; EIP-2935: 8,191) before the task's challenge deadline:
    ///         a response could never be challenged. Task it earlier or shorten the windows.
    error CheckpointNotProvable(uint64 blockNumber, uint256 challengeDeadline, uint256 provableUntil);
    /// @notice The threshold is 0, above 100, or below the configured minimum.
    error InvalidThreshold(uint32 quorumThresholdPercentage, uint8 minimumThresholdPercentage);
    /// @notice The checkpoint already has a live task (pending within its window, or finalized).
    error CheckpointAlreadyTasked(uint64 chainId, uint64 blockNumber, uint32 taskIndex);
    /// @notice The task does not hash to the stored task of that index.
    error TaskMismatch(uint32 taskIndex);
    /// @notice The task was already answered (or replaced by a newer task for its checkpoint).
    error TaskAlreadyResponded(uint32 taskIndex);
    /// @notice The response came after `taskCreatedBlock + responseWindowBlocks`.
    error ResponseWindowClosed(uint32 taskIndex, uint256 deadline);
    /// @notice A quorum's signed stake is below the task's threshold.
    error QuorumThresholdNotMet(uint8 quorumNumber, uint96 signedStake, uint96 totalStake);
    /// @notice The checkpoint is not finalized (no task, pending, or invalidated).
    error CheckpointNotFinalized(uint64 chainId, uint64 blockNumber);
    /// @notice The chain has no finalized checkpoint (or its latest one was invalidated).
    error NoFinalizedCheckpoint(uint64 chainId);
    /// @notice The response or its metadata does not hash to the stored response.
    error ResponseMismatch(uint32 taskIndex);
    /// @notice The challenge came after `taskRespondedBlock + challengeWindowBlocks`.
    error ChallengeWindowClosed(uint32 taskIndex, uint256 deadline);
    /// @notice The punishment of a challenge's signers reverted without a reason: out of gas,
    ///         almost always. Send the challenge with more gas.
    error PunishmentFailedWithoutReason(uint32 taskIndex);
    /// @notice Only checkpoints of this chain can be challenged.
    error NotThisChain(uint64 chainId);
    /// @notice The true hash of the block is not available on-chain (too old or not yet mined).
    error BlockHashUnavailable(uint64 blockNumber);
    /// @notice The block hash is right, so a header is needed to compare the roots.
    error HeaderRequired();
    /// @notice keccak256(headerRlp) is not the block's hash.
    error HeaderHashMismatch(bytes32 expected, bytes32 actual);
    /// @notice The provided non-signer keys do not hash to the response's `hashOfNonSigners`.
    error NonSignersMismatch(uint32 taskIndex);
    /// @notice The challenged response matches the chain: the challenge fails.
    error ResponseIsCorrect(uint32 taskIndex);
    /// @notice Only the signers of an invalidated (successfully challenged) task can be frozen.
    error TaskNotInvalidated(uint32 taskIndex);
    /// @notice A configuration value is out of range; `field` names it and the allowed range.
    error InvalidConfig(string field);

    /// @notice Creates the task for checkpoint (chainId, blockNumber).
    function createNewTask(
        uint64 chainId,
        uint64 blockNumber,
        uint32 quorumThresholdPercentage,
        bytes calldata quorumNumbers
    ) external returns (uint32 taskIndex);

    /// @notice Submits an aggregate-signed response; anyone may submit.
    function respondToTask(
        Task calldata task,
        TaskResponse calldata response,
        IBLSSignatureChecker.NonSignerStakesAndSignature calldata nonSignerStakesAndSignature
    ) external;

    /// @notice Proves a finalized response about this chain wrong within the challenge window,
    ///         by `blockhash`/EIP-2935 or by `headerRlp` (the block's RLP header); on success the
    ///         checkpoint is invalidated and the signers at the first FREEZE_BATCH positions of
    ///         the quorums' operator lists are slashed and frozen (`freezeSigners` does the
    ///         rest). The invalidation never depends on the punishment: if the service manager
    ///         reverts, `SignersNotPunished` is emitted instead. Reverts with the reason when the
    ///         challenge fails.
    /// @param nonSignerPubkeys the response's non-signer keys, in the order they were submitted
    function raiseAndResolveChallenge(
        Task calldata task,
        TaskResponse calldata response,
        TaskResponseMetadata calldata metadata,
        BN254.G1Point[] calldata nonSignerPubkeys,
        bytes calldata headerRlp
    ) external;

    /// @notice Slashes and freezes the signers of invalidated task `taskIndex` at positions
    ///         [start, end) of its quorums' operator lists at `taskCreatedBlock` (concatenated in
    ///         quorum order); anyone may call, already frozen operators are skipped.
    /// @param nonSignerPubkeys the response's non-signer keys, in the order they were submitted
    function freezeSigners(
        uint32 taskIndex,
        Task calldata task,
        BN254.G1Point[] calldata nonSignerPubkeys,
        uint256 start,
        uint256 end
    ) external;

    /// @notice The message operators BLS-sign for `response` to `task`: the EIP-712 hash of
    ///         `Attestation(task, response)` under this deployment's domain. Does not check that
    ///         `task` exists.
    function attestationDigest(Task calldata task, TaskResponse calldata response)
        external
        view
        returns (bytes32);

    /// @notice The EIP-712 struct hash of `task` (what `allTaskHashes` stores).
    function taskHash(Task calldata task) external pure returns (bytes32);

    /// @notice The finalized checkpoint (chainId, blockNumber); reverts if it is not finalized.
    function finalizedCheckpoint(uint64 chainId, uint64 blockNumber)
        external
        view
        returns (
            bytes32 blockHash,
            bytes32 stateRoot,
            bytes32 receiptsRoot,
            uint32 taskIndex,
            uint32 finalizedAt
        );

    /// @notice The status of checkpoint (chainId, blockNumber) with its roots and challenge
    ///         deadline (see `Checkpoint`); never reverts. Consumers: see `src/consumer/`.
    function checkpoint(uint64 chainId, uint64 blockNumber) external view returns (Checkpoint memory);

    /// @notice The highest finalized checkpoint of `chainId` among the `LATEST_SCAN_LIMIT` grid points
    ///         below its highest tasked one (pending, expired and invalidated ones are skipped);
    ///         reverts if there is none.
    function latestFinalized(uint64 chainId)
        external
        view
        returns (
            uint64 blockNumber,
            bytes32 blockHash,
            bytes32 stateRoot,
            bytes32 receiptsRoot,
            uint32 taskIndex,
            uint32 finalizedAt
        );
}
