// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {
    Ownable2StepUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {
    EIP712Upgradeable
} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {BLSSignatureChecker} from "./BLSSignatureChecker.sol";
import {BN254} from "./libraries/BN254.sol";
import {HeaderRlp} from "./libraries/HeaderRlp.sol";
import {IAvsTaskManager} from "./interfaces/IAvsTaskManager.sol";
import {IAvsServiceManager} from "./interfaces/IAvsServiceManager.sol";
import {IDelegationManager} from "./interfaces/IEigenLayerCore.sol";
import {
    IRegistryCoordinator,
    IStakeRegistry,
    IBLSApkRegistry,
    IIndexRegistry
} from "./interfaces/IEigenLayerMiddleware.sol";

/// @title AvsTaskManager
/// @notice Checkpoint tasks of the AVS (see IAvsTaskManager): creation by task generators,
///         BLS-quorum responses from anyone, consumer views, and challenges of wrong responses
///         about this chain's blocks.
/// @dev Invariants: task indices start at 0 and increase by one; a checkpoint (chainId,
///      blockNumber) has at most one live task (a new one is allowed only after the previous
///      expired unanswered or was invalidated); a task is answered at most once, within
///      `responseWindowBlocks` of its creation, with every quorum at or above its threshold at
///      `taskCreatedBlock`; a finalized checkpoint is only ever invalidated, by a successful
///      challenge within `challengeWindowBlocks` of the response.
///      Signing domain: operators sign `attestationDigest(task, response)`, the EIP-712 hash of
///      `Attestation(Task task,TaskResponse response)` under (name, version, chain id, this
///      proxy's address); the task's struct hash is what `allTaskHashes` stores, and it includes
///      the fork (`taskCreatedParentHash`) and the task's own windows. A quorum with zero total or
///      zero signed stake never passes. Checkpoints of this chain are only tasked while their
///      hash stays readable until the task's challenge deadline (`CheckpointNotProvable`).
///      Gas: `createNewTask` pre-writes non-zero values into the slots the response fills
///      (the task hash into the blockHash slot, where the response checks the task for free;
///      sentinels into the other roots and the non-signer hash), so `respondToTask` updates
///      non-zero slots (5k gas each) instead of creating them (22.1k each): the task generator
///      pays for the storage. No response-hash slot is written (the hash is rebuilt from the
///      stored fields) and no per-chain slot (`latestFinalized` walks the interval grid). `paused`
///      and the parameters share one slot with the checker's flag. Challenges are never paused,
///      so a wrong checkpoint can always be proven.
///      Deploy behind a transparent proxy; the implementation's initializers are locked.
contract AvsTaskManager is
    Initializable,
    Ownable2StepUpgradeable,
    EIP712Upgradeable,
    BLSSignatureChecker,
    IAvsTaskManager
{
    using BN254 for BN254.G1Point;

    /// @dev Value of a pre-written slot that holds no data yet; never a real hash or root.
    bytes32 private constant UNSET = bytes32(uint256(1));
    /// @dev Bit positions of `finalizedAt` and `status` in a TaskRecord's packed slot (after
    ///      chainId, blockNumber, taskCreatedBlock), for respondToTask's single write.
    uint256 private constant FINALIZED_AT_SHIFT = 160;
    uint256 private constant STATUS_SHIFT = 192;
    /// @dev uint256(CheckpointStatus.Finalized)
    uint256 private constant FINALIZED = 2;
    /// @notice Signer positions a challenge punishes in its own transaction; `freezeSigners`
    ///      does the rest. Bounds the gas of one call: slashing through EigenLayer's
    ///      AllocationManager and ejecting from the registries cost ~310k per signer (see
    ///      BENCHMARKS.md), so 32 keep a challenge near 11M gas, under EIP-7825's 16.7M cap on a
    ///      transaction.
    uint256 public constant FREEZE_BATCH = 32;
    /// @notice How many checkpoints below the highest tasked one `latestFinalized` looks at.
    uint256 public constant LATEST_SCAN_LIMIT = 256;
    /// @notice EIP-2935 block hash history contract (serves the last 8191 block hashes).
    address public constant HISTORY_STORAGE_ADDRESS = 0x0000F90827F1C53a10cb7A02335B175320002935;
    /// @notice Blocks back that `blockhash` reads, and that the EIP-2935 contract serves.
    uint256 public constant BLOCKHASH_RANGE = 256;
    uint256 public constant HISTORY_RANGE = 8191;
    /// @notice The EIP-712 domain's name and version (with the chain id and this address).
    string public constant SIGNING_DOMAIN_NAME = "avs-exex";
    string public constant SIGNING_DOMAIN_VERSION = "1";
    /// @notice EIP-712 type hashes of the signed structs.
    bytes32 public constant TASK_TYPEHASH = keccak256(
        "Task(uint64 chainId,uint64 blockNumber,uint32 taskCreatedBlock,bytes32 taskCreatedParentHash,"
        "uint32 quorumThresholdPercentage,uint32 responseWindowBlocks,uint32 challengeWindowBlocks,"
        "bytes quorumNumbers)"
    );
    bytes32 public constant TASK_RESPONSE_TYPEHASH = keccak256(
        "TaskResponse(uint32 referenceTaskIndex,bytes32 blockHash,bytes32 stateRoot,bytes32 receiptsRoot)"
    );
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(Task task,TaskResponse response)"
        "Task(uint64 chainId,uint64 blockNumber,uint32 taskCreatedBlock,bytes32 taskCreatedParentHash,"
        "uint32 quorumThresholdPercentage,uint32 responseWindowBlocks,uint32 challengeWindowBlocks,"
        "bytes quorumNumbers)"
        "TaskResponse(uint32 referenceTaskIndex,bytes32 blockHash,bytes32 stateRoot,bytes32 receiptsRoot)"
    );
    /// @notice Bounds of the configuration (see `setConfig`). The response window is stored in
    ///      24 bits per task (16.7M blocks, years on any chain).
    uint32 public constant MIN_RESPONSE_WINDOW_BLOCKS = 10;
    uint32 public constant MAX_RESPONSE_WINDOW_BLOCKS = type(uint24).max;
    uint32 public constant MIN_CHALLENGE_WINDOW_BLOCKS = 10;
    /// @notice Distinct checkpoint intervals the contract can have used over its life
    ///      (`latestFinalized` walks the union of their grids).
    uint256 public constant MAX_INTERVALS = 8;

    /// @dev Storage record of one task. Until the response, `blockHash` holds the task hash and
    ///      the next three slots UNSET (`hashOfNonSigners` stays UNSET when nobody abstained: it
    ///      is then implied); only `status` says whether the roots are a response. The task's
    ///      response window is kept so that whether its checkpoint may be tasked again never
    ///      depends on the current configuration; its challenge window is kept for consumers'
    ///      `checkpoint` view (a challenge presents the task itself). Both fill the status slot,
    ///      which creation writes anyway.
    struct TaskRecord {
        bytes32 blockHash;
        bytes32 stateRoot;
        bytes32 receiptsRoot;
        bytes32 hashOfNonSigners;
        uint64 chainId;
        uint64 blockNumber;
        uint32 taskCreatedBlock;
        uint32 finalizedAt;
        CheckpointStatus status;
        uint24 responseWindowBlocks;
        uint32 challengeWindowBlocks;
    }

    /// @notice The service manager that freezes operators.
    IAvsServiceManager public immutable serviceManager;
    /// @notice The IndexRegistry: operator lists at a block, for finding a response's signers.
    IIndexRegistry public immutable indexRegistry;

    // These pack into the slot of BLSSignatureChecker.staleStakesForbidden (see contract docs).
    /// @notice Whether task creation and responses are paused.
    bool public paused;
    /// @notice Index the next task gets (= number of tasks created).
    uint32 public latestTaskNum;
    uint64 private _checkpointInterval;
    uint32 private _responseWindowBlocks;
    uint32 private _challengeWindowBlocks;
    uint8 private _minimumThresholdPercentage;
    bool private _openTaskCreation;

    /// @notice Addresses allowed to create tasks (unless creation is open to anyone).
    mapping(address => bool) public isTaskGenerator;
    /// @notice The EIP-712 struct hash of the task (`taskHash`) per task index.
    mapping(uint32 => bytes32) public allTaskHashes;
    /// @dev Task records by index.
    mapping(uint32 => TaskRecord) private _tasks;
    /// @dev 1 + index of the latest task of each checkpoint (chainId << 64 | blockNumber); 0 = none.
    mapping(uint256 => uint32) private _checkpointTask;
    /// @dev 1 + the highest checkpoint block ever tasked per chain; 0 = none.
    mapping(uint64 => uint256) private _highestTasked;
    /// @dev Every distinct checkpoint interval ever configured (the current one included).
    uint64[] private _intervals;

    modifier whenNotPaused() {
        if (paused) revert Paused();
        _;
    }

    /// @param registryCoordinator_ the AVS's RegistryCoordinator (proxy)
    /// @param stakeRegistry_ its StakeRegistry (proxy)
    /// @param blsApkRegistry_ its BLSApkRegistry (proxy)
    /// @param indexRegistry_ its IndexRegistry (proxy)
    /// @param delegation_ EigenLayer's DelegationManager (proxy)
    /// @param serviceManager_ the AVS's service manager (proxy)
    constructor(
        IRegistryCoordinator registryCoordinator_,
        IStakeRegistry stakeRegistry_,
        IBLSApkRegistry blsApkRegistry_,
        IIndexRegistry indexRegistry_,
        IDelegationManager delegation_,
        IAvsServiceManager serviceManager_
    ) BLSSignatureChecker(registryCoordinator_, stakeRegistry_, blsApkRegistry_, delegation_) {
        indexRegistry = indexRegistry_;
        serviceManager = serviceManager_;
        _disableInitializers();
    }

    /// @notice Sets the owner, the task parameters and the initial task generators; switches
    ///         EigenLayer's stale-stake rule on, as EigenLayer's checker defaults to.
    function initialize(address initialOwner, Config calldata config_, address[] calldata generators)
        external
        initializer
    {
        if (initialOwner == address(0)) revert InvalidConfig("initialOwner");
        _transferOwnership(initialOwner);
        staleStakesForbidden = true;
        emit StaleStakesForbiddenUpdate(true);
        _setConfig(config_);
        for (uint256 i = 0; i < generators.length; i++) {
            isTaskGenerator[generators[i]] = true;
            emit TaskGeneratorUpdated(generators[i], true);
        }
    }

    // ------------------------------------------------------------------ tasks

    /// @inheritdoc IAvsTaskManager
    function createNewTask(
        uint64 chainId,
        uint64 blockNumber,
        uint32 quorumThresholdPercentage,
        bytes calldata quorumNumbers
    ) external whenNotPaused returns (uint32 taskIndex) {
        if (!_openTaskCreation && !isTaskGenerator[msg.sender]) {
            revert NotTaskGenerator(msg.sender);
        }
        if (blockNumber % _checkpointInterval != 0) {
            revert BlockNotOnInterval(blockNumber, _checkpointInterval);
        }
        if (chainId == block.chainid) _checkProvable(blockNumber);
        if (
            quorumThresholdPercentage == 0 || quorumThresholdPercentage > 100
                || quorumThresholdPercentage < _minimumThresholdPercentage
        ) revert InvalidThreshold(quorumThresholdPercentage, _minimumThresholdPercentage);
        if (quorumNumbers.length == 0) revert EmptyQuorumNumbers();
        _quorumBitmap(quorumNumbers);
        uint8 highest = uint8(quorumNumbers[quorumNumbers.length - 1]);
        if (highest >= registryCoordinator.quorumCount()) revert QuorumDoesNotExist(highest);

        uint256 key = _key(chainId, blockNumber);
        uint32 current = _checkpointTask[key];
        if (current != 0) {
            TaskRecord storage previous = _tasks[current - 1];
            CheckpointStatus status = previous.status;
            if (
                status == CheckpointStatus.Finalized
                    || (status == CheckpointStatus.Pending
                        && block.number <= uint256(previous.taskCreatedBlock) + previous.responseWindowBlocks)
            ) revert CheckpointAlreadyTasked(chainId, blockNumber, current - 1);
        }

        taskIndex = latestTaskNum;
        latestTaskNum = taskIndex + 1;
        _checkpointTask[key] = taskIndex + 1;
        Task memory task = Task({
            chainId: chainId,
            blockNumber: blockNumber,
            taskCreatedBlock: uint32(block.number),
            taskCreatedParentHash: blockhash(block.number - 1),
            quorumThresholdPercentage: quorumThresholdPercentage,
            responseWindowBlocks: _responseWindowBlocks,
            challengeWindowBlocks: _challengeWindowBlocks,
            quorumNumbers: quorumNumbers
        });
        _storeTask(taskIndex, task);
        if (uint256(blockNumber) + 1 > _highestTasked[chainId]) {
            _highestTasked[chainId] = uint256(blockNumber) + 1;
        }
        emit NewTaskCreated(taskIndex, task);
    }

    /// @dev Stores a new task's hash and pre-writes its record.
    function _storeTask(uint32 taskIndex, Task memory task) private {
        bytes32 structHash = _taskHash(task);
        allTaskHashes[taskIndex] = structHash;
        TaskRecord storage record = _tasks[taskIndex];
        // The response checks the task against this slot and then overwrites it with the block hash.
        record.blockHash = structHash;
        record.stateRoot = UNSET;
        record.receiptsRoot = UNSET;
        record.hashOfNonSigners = UNSET;
        record.chainId = task.chainId;
        record.blockNumber = task.blockNumber;
        record.taskCreatedBlock = task.taskCreatedBlock;
        record.status = CheckpointStatus.Pending;
        // casting to uint24 is safe: _setConfig bounds the response window by MAX_RESPONSE_WINDOW_BLOCKS.
        // forge-lint: disable-next-line(unsafe-typecast)
        record.responseWindowBlocks = uint24(task.responseWindowBlocks);
        record.challengeWindowBlocks = task.challengeWindowBlocks;
    }

    /// @inheritdoc IAvsTaskManager
    /// @dev Storage touched: the parameter slot (paused, stale-stake rule), the record's status
    ///      slot, and the record's root slots. Until the response, the record's blockHash slot
    ///      holds the task hash (see createNewTask): the task is checked against it at no extra
    ///      cost, since the response overwrites that slot anyway. The task's fields (its window
    ///      included) are read from calldata once its hash matched.
    function respondToTask(
        Task calldata task,
        TaskResponse calldata response,
        NonSignerStakesAndSignature calldata nonSignerStakesAndSignature
    ) external {
        uint256 taskIndex;
        uint256 record;
        bytes32 structHash = _taskHash(task);
        {
            bool isPaused;
            uint256 status;
            assembly ("memory-safe") {
                isPaused := and(shr(shl(3, paused.offset), sload(paused.slot)), 0xff)
                taskIndex := calldataload(response)
                if gt(taskIndex, 0xffffffff) { revert(0, 0) }
                mstore(0x00, taskIndex)
                mstore(0x20, _tasks.slot)
                record := keccak256(0x00, 0x40)
                status := and(shr(STATUS_SHIFT, sload(add(record, 4))), 0xff)
            }
            if (isPaused) revert Paused();
            // casting to uint32 is safe: taskIndex was checked to fit just above.
            if (status != uint256(CheckpointStatus.Pending)) {
                // forge-lint: disable-next-line(unsafe-typecast)
                if (status == uint256(CheckpointStatus.None)) revert TaskMismatch(uint32(taskIndex));
                // forge-lint: disable-next-line(unsafe-typecast)
                revert TaskAlreadyResponded(uint32(taskIndex));
            }
            // Until the response, the blockHash slot holds the task hash: the slot is overwritten
            // below anyway, so this check costs no extra cold read.
            bytes32 stored;
            assembly ("memory-safe") {
                stored := sload(record)
            }
            // forge-lint: disable-next-line(unsafe-typecast)
            if (structHash != stored) revert TaskMismatch(uint32(taskIndex));
            // The task hash binds the index to this checkpoint and window; a newer task for the
            // same checkpoint only exists once this one's response window is over.
            uint256 deadline = uint256(task.taskCreatedBlock) + task.responseWindowBlocks;
            // forge-lint: disable-next-line(unsafe-typecast)
            if (block.number > deadline) revert ResponseWindowClosed(uint32(taskIndex), deadline);
        }

        bytes32 hashOfNonSigners;
        {
            bytes calldata quorumNumbers = task.quorumNumbers;
            QuorumStakeTotals memory totals;
            (totals, hashOfNonSigners) = _checkSignatures(
                _attestationDigest(structHash, response),
                quorumNumbers,
                task.taskCreatedBlock,
                nonSignerStakesAndSignature
            );
            _checkThreshold(totals, quorumNumbers, task.quorumThresholdPercentage);
        }

        bytes32 topic = TaskResponded.selector;
        assembly ("memory-safe") {
            // The roots, the non-signer hash when someone abstained, finalizedAt and status.
            sstore(record, calldataload(add(response, 0x20)))
            sstore(add(record, 1), calldataload(add(response, 0x40)))
            sstore(add(record, 2), calldataload(add(response, 0x60)))
            // nonSignerPubkeys.length (bounds-checked by the checker)
            let params := nonSignerStakesAndSignature
            if calldataload(add(params, calldataload(add(params, 0x20)))) {
                sstore(add(record, 3), hashOfNonSigners)
            }
            let word := sload(add(record, 4))
            word := and(word, not(shl(FINALIZED_AT_SHIFT, 0xffffffffff)))
            word := or(word, or(shl(FINALIZED_AT_SHIFT, number()), shl(STATUS_SHIFT, FINALIZED)))
            sstore(add(record, 4), word)
            // TaskResponded(taskIndex, response, TaskResponseMetadata(block.number, hashOfNonSigners))
            let m := mload(0x40)
            calldatacopy(m, response, 0x80)
            mstore(add(m, 0x80), number())
            mstore(add(m, 0xa0), hashOfNonSigners)
            log2(m, 0xc0, topic, taskIndex)
        }
    }

    /// @dev Every quorum's signed stake must reach `threshold` percent of its total stake.
    function _checkThreshold(QuorumStakeTotals memory totals, bytes calldata quorumNumbers, uint256 threshold)
        private
        pure
    {
        uint256 failed;
        assembly ("memory-safe") {
            let signed := mload(totals)
            let total := mload(add(totals, 0x20))
            for { let i := 0 } lt(i, mload(total)) { i := add(i, 1) } {
                let at := shl(5, add(i, 1))
                if lt(mul(mload(add(signed, at)), 100), mul(mload(add(total, at)), threshold)) {
                    failed := add(i, 1)
                    break
                }
            }
        }
        if (failed != 0) {
            uint256 i = failed - 1;
            revert QuorumThresholdNotMet(
                uint8(quorumNumbers[i]), totals.signedStakeForQuorum[i], totals.totalStakeForQuorum[i]
            );
        }
    }

    /// @dev The EIP-712 struct hash of a task (a calldata task is copied: Solidity's decoder
    ///      refuses a field with dirty high bits, so every encoding of one task has one hash).
    function _taskHash(Task memory task) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TASK_TYPEHASH,
                task.chainId,
                task.blockNumber,
                task.taskCreatedBlock,
                task.taskCreatedParentHash,
                task.quorumThresholdPercentage,
                task.responseWindowBlocks,
                task.challengeWindowBlocks,
                keccak256(task.quorumNumbers)
            )
        );
    }

    /// @dev The signed message: EIP-712 hash of Attestation(task, response) under this domain.
    function _attestationDigest(bytes32 structHashOfTask, TaskResponse calldata response)
        private
        view
        returns (bytes32)
    {
        bytes32 responseHash = keccak256(
            abi.encode(
                TASK_RESPONSE_TYPEHASH,
                response.referenceTaskIndex,
                response.blockHash,
                response.stateRoot,
                response.receiptsRoot
            )
        );
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, structHashOfTask, responseHash)));
    }

    /// @dev The EIP-712 domain's name and version are constants of this code, not storage: the
    ///      domain separator then costs no storage read.
    function _EIP712Name() internal pure override returns (string memory) {
        return SIGNING_DOMAIN_NAME;
    }

    function _EIP712Version() internal pure override returns (string memory) {
        return SIGNING_DOMAIN_VERSION;
    }

    /// @dev Refuses a checkpoint of this chain that is not mined yet, or whose hash would leave
    ///      the range the contract can read before the task's latest challenge deadline: a wrong
    ///      response about it could never be proven. `blockhash` reads 256 blocks back; beyond
    ///      that only EIP-2935's history contract serves hashes (8,191 blocks), and only where it
    ///      records this chain's blocks (its code can exist before the fork that fills it, and it
    ///      has nothing from before that fork): so it must serve this checkpoint's hash now.
    function _checkProvable(uint64 blockNumber) private view {
        if (blockNumber >= block.number) revert BlockNotYetMined(blockNumber, block.number);
        uint256 deadline = block.number + _responseWindowBlocks + _challengeWindowBlocks;
        if (deadline <= uint256(blockNumber) + BLOCKHASH_RANGE) return;
        uint256 range = _historyHash(blockNumber) != 0 ? HISTORY_RANGE : BLOCKHASH_RANGE;
        if (deadline > uint256(blockNumber) + range) {
            revert CheckpointNotProvable(blockNumber, deadline, uint256(blockNumber) + range);
        }
    }

    // ------------------------------------------------------------- challenges

    /// @inheritdoc IAvsTaskManager
    function raiseAndResolveChallenge(
        Task calldata task,
        TaskResponse calldata response,
        TaskResponseMetadata calldata metadata,
        BN254.G1Point[] calldata nonSignerPubkeys,
        bytes calldata headerRlp
    ) external {
        uint32 taskIndex = response.referenceTaskIndex;
        if (_taskHash(task) != allTaskHashes[taskIndex]) revert TaskMismatch(taskIndex);
        TaskRecord storage record = _tasks[taskIndex];
        if (record.status != CheckpointStatus.Finalized) {
            revert CheckpointNotFinalized(task.chainId, task.blockNumber);
        }
        if (keccak256(abi.encode(response, metadata)) != _responseHash(taskIndex, record)) {
            revert ResponseMismatch(taskIndex);
        }
        {
            uint256 deadline = uint256(metadata.taskRespondedBlock) + task.challengeWindowBlocks;
            if (block.number > deadline) revert ChallengeWindowClosed(taskIndex, deadline);
        }
        if (task.chainId != block.chainid) revert NotThisChain(task.chainId);

        ChallengeReason reason = _disprove(taskIndex, task.blockNumber, response, headerRlp);
        bytes32[] memory nonSignerIds =
            _nonSignerIds(task.taskCreatedBlock, metadata.hashOfNonSigners, nonSignerPubkeys, taskIndex);

        record.status = CheckpointStatus.Invalidated;
        address[] memory signers = _signers(task, nonSignerIds, 0, FREEZE_BATCH);
        emit TaskChallengedSuccessfully(taskIndex, msg.sender, reason, signers);
        // The invalidation must stand whatever happens to the punishment: EigenLayer's pauser
        // can pause slashing or deregistration, and a revert here would leave the wrong
        // checkpoint finalized. `freezeSigners` (anyone, any range) punishes later.
        // A failure without a reason is almost always out of gas (the punishment gets 63/64 of
        // what is left): never let a challenger, or a gas estimator, skip the punishment by
        // sending too little gas.
        try serviceManager.freezeOperators(signers, taskIndex, task.quorumNumbers) {}
        catch (bytes memory failure) {
            if (failure.length == 0) revert PunishmentFailedWithoutReason(taskIndex);
            emit SignersNotPunished(taskIndex, failure);
        }
    }

    /// @inheritdoc IAvsTaskManager
    function freezeSigners(
        uint32 taskIndex,
        Task calldata task,
        BN254.G1Point[] calldata nonSignerPubkeys,
        uint256 start,
        uint256 end
    ) external {
        if (_taskHash(task) != allTaskHashes[taskIndex]) {
            revert TaskMismatch(taskIndex);
        }
        TaskRecord storage record = _tasks[taskIndex];
        if (record.status != CheckpointStatus.Invalidated) revert TaskNotInvalidated(taskIndex);
        bytes32[] memory nonSignerIds =
            _nonSignerIds(task.taskCreatedBlock, _hashOfNonSigners(record), nonSignerPubkeys, taskIndex);
        address[] memory signers = _signers(task, nonSignerIds, start, end);
        emit SignersFrozen(taskIndex, signers);
        serviceManager.freezeOperators(signers, taskIndex, task.quorumNumbers);
    }

    /// @dev What the response got wrong; reverts if it cannot be disproven.
    function _disprove(
        uint32 taskIndex,
        uint64 blockNumber,
        TaskResponse calldata response,
        bytes calldata headerRlp
    ) private view returns (ChallengeReason) {
        bytes32 trueHash = _blockHash(blockNumber);
        if (response.blockHash != trueHash) return ChallengeReason.BlockHash;
        if (headerRlp.length == 0) revert HeaderRequired();
        bytes32 headerHash = keccak256(headerRlp);
        if (headerHash != trueHash) revert HeaderHashMismatch(trueHash, headerHash);
        (bytes32 stateRoot, bytes32 receiptsRoot) = HeaderRlp.roots(headerRlp);
        if (response.stateRoot != stateRoot) return ChallengeReason.StateRoot;
        if (response.receiptsRoot != receiptsRoot) return ChallengeReason.ReceiptsRoot;
        revert ResponseIsCorrect(taskIndex);
    }

    /// @dev The canonical hash of `blockNumber`: `blockhash` for the last 256 blocks, else the
    ///      EIP-2935 history contract where the chain has it.
    function _blockHash(uint64 blockNumber) private view returns (bytes32 hash) {
        if (blockNumber >= block.number) revert BlockHashUnavailable(blockNumber);
        hash = blockhash(blockNumber);
        if (hash == 0) hash = _historyHash(blockNumber);
        if (hash == 0) revert BlockHashUnavailable(blockNumber);
    }

    /// @dev The EIP-2935 history contract's hash of `blockNumber`; zero where it has no code,
    ///      refuses, or does not know the block.
    function _historyHash(uint64 blockNumber) private view returns (bytes32 hash) {
        if (HISTORY_STORAGE_ADDRESS.code.length == 0) return 0;
        (bool ok, bytes memory ret) = HISTORY_STORAGE_ADDRESS.staticcall(abi.encode(uint256(blockNumber)));
        if (ok && ret.length == 32) hash = abi.decode(ret, (bytes32));
    }

    /// @dev Operator ids of the given non-signer keys, checked against the response's record.
    function _nonSignerIds(
        uint32 taskCreatedBlock,
        bytes32 hashOfNonSigners,
        BN254.G1Point[] calldata pubkeys,
        uint32 taskIndex
    ) private pure returns (bytes32[] memory ids) {
        ids = new bytes32[](pubkeys.length);
        for (uint256 i = 0; i < pubkeys.length; i++) {
            ids[i] = BN254.G1Point(pubkeys[i].X, pubkeys[i].Y).hashG1Point();
        }
        if (keccak256(abi.encodePacked(taskCreatedBlock, ids)) != hashOfNonSigners) {
            revert NonSignersMismatch(taskIndex);
        }
    }

    /// @dev Addresses of the operators at positions [start, end) of the task's quorums' operator
    ///      lists at `taskCreatedBlock` (concatenated in quorum order) that are not non-signers,
    ///      without duplicates within the range. `nonSignerIds` is strictly ascending: the
    ///      response was only accepted that way, and its hash is checked.
    function _signers(Task calldata task, bytes32[] memory nonSignerIds, uint256 start, uint256 end)
        private
        view
        returns (address[] memory signers)
    {
        signers = new address[](end > start ? end - start : 0);
        bytes32[] memory seen = new bytes32[](signers.length);
        uint256 count;
        uint256 position;
        for (uint256 i = 0; i < task.quorumNumbers.length && position < end; i++) {
            bytes32[] memory members = indexRegistry.getOperatorListAtBlockNumber(
                uint8(task.quorumNumbers[i]), task.taskCreatedBlock
            );
            for (uint256 j = 0; j < members.length && position < end; j++) {
                bytes32 id = members[j];
                position++;
                if (position <= start || _contains(nonSignerIds, id) || _seen(seen, count, id)) continue;
                seen[count] = id;
                signers[count] = registryCoordinator.getOperatorFromId(id);
                count++;
            }
        }
        assembly ("memory-safe") {
            mstore(signers, count)
        }
    }

    /// @dev Binary search in a strictly ascending array.
    function _contains(bytes32[] memory sorted, bytes32 id) private pure returns (bool) {
        uint256 lo = 0;
        uint256 hi = sorted.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (sorted[mid] == id) return true;
            if (uint256(sorted[mid]) < uint256(id)) lo = mid + 1;
            else hi = mid;
        }
        return false;
    }

    function _seen(bytes32[] memory ids, uint256 count, bytes32 id) private pure returns (bool) {
        for (uint256 i = 0; i < count; i++) {
            if (ids[i] == id) return true;
        }
        return false;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAvsTaskManager
    function finalizedCheckpoint(uint64 chainId, uint64 blockNumber)
        public
        view
        returns (
            bytes32 blockHash,
            bytes32 stateRoot,
            bytes32 receiptsRoot,
            uint32 taskIndex,
            uint32 finalizedAt
        )
    {
        uint32 current = _checkpointTask[_key(chainId, blockNumber)];
        if (current == 0) revert CheckpointNotFinalized(chainId, blockNumber);
        taskIndex = current - 1;
        TaskRecord storage r = _tasks[taskIndex];
        if (r.status != CheckpointStatus.Finalized) revert CheckpointNotFinalized(chainId, blockNumber);
        return (r.blockHash, r.stateRoot, r.receiptsRoot, taskIndex, r.finalizedAt);
    }

    /// @inheritdoc IAvsTaskManager
    function checkpoint(uint64 chainId, uint64 blockNumber) external view returns (Checkpoint memory c) {
        uint32 current = _checkpointTask[_key(chainId, blockNumber)];
        if (current == 0) return c;
        c.taskIndex = current - 1;
        TaskRecord storage r = _tasks[c.taskIndex];
        c.status = r.status;
        if (c.status == CheckpointStatus.Pending) return c;
        c.finalizedAt = r.finalizedAt;
        // A window of 0 is a record written before the window was stored (an upgraded proxy;
        // setConfig refuses windows below MIN_CHALLENGE_WINDOW_BLOCKS): its deadline is unknown,
        // so a consumer waiting for it waits forever rather than trusting a guess.
        uint32 window = r.challengeWindowBlocks;
        c.challengeDeadline = window == 0 ? type(uint64).max : uint64(r.finalizedAt) + window;
        c.blockHash = r.blockHash;
        c.stateRoot = r.stateRoot;
        c.receiptsRoot = r.receiptsRoot;
    }

    /// @inheritdoc IAvsTaskManager
    function attestationDigest(Task calldata task, TaskResponse calldata response)
        external
        view
        returns (bytes32)
    {
        return _attestationDigest(_taskHash(task), response);
    }

    /// @inheritdoc IAvsTaskManager
    function taskHash(Task calldata task) external pure returns (bytes32) {
        return _taskHash(task);
    }

    /// @inheritdoc IAvsTaskManager
    /// @dev Walks down from the highest tasked checkpoint of the chain over the union of the
    ///      grids of every interval the contract has used (so an interval change hides no
    ///      checkpoint), at most LATEST_SCAN_LIMIT grid points, so responses need not maintain a
    ///      per-chain slot.
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
        )
    {
        uint256 highest = _highestTasked[chainId];
        if (highest == 0) revert NoFinalizedCheckpoint(chainId);
        uint64[] memory intervals = _intervals;
        // The highest tasked checkpoint is on the grid of the interval it was tasked under.
        uint256 candidate = highest - 1;
        for (uint256 step = 0; step < LATEST_SCAN_LIMIT; step++) {
            // casting to uint64 is safe: candidate <= a tasked uint64 block number.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint32 current = _checkpointTask[_key(chainId, uint64(candidate))];
            if (current != 0 && _tasks[current - 1].status == CheckpointStatus.Finalized) {
                TaskRecord storage r = _tasks[current - 1];
                // casting to uint64 is safe: candidate <= a tasked uint64 block number.
                // forge-lint: disable-next-line(unsafe-typecast)
                blockNumber = uint64(candidate);
                return (blockNumber, r.blockHash, r.stateRoot, r.receiptsRoot, current - 1, r.finalizedAt);
            }
            if (candidate == 0) break;
            candidate = _gridPointBelow(candidate, intervals);
        }
        revert NoFinalizedCheckpoint(chainId);
    }

    /// @dev The highest multiple of any of `intervals` strictly below `candidate` (> 0); 0 is on
    ///      every grid.
    function _gridPointBelow(uint256 candidate, uint64[] memory intervals)
        private
        pure
        returns (uint256 next)
    {
        for (uint256 i = 0; i < intervals.length; i++) {
            uint256 below = candidate - 1;
            below -= below % intervals[i];
            if (below > next) next = below;
        }
    }

    /// @notice keccak256(abi.encode(response, metadata)) of task `taskIndex`, zero before its response.
    function allTaskResponses(uint32 taskIndex) external view returns (bytes32) {
        TaskRecord storage record = _tasks[taskIndex];
        CheckpointStatus status = record.status;
        if (status != CheckpointStatus.Finalized && status != CheckpointStatus.Invalidated) return 0;
        return _responseHash(taskIndex, record);
    }

    /// @dev The response hash rebuilt from the record: storing the roots for the consumer views
    ///      already commits to the response, so no separate hash slot is written.
    function _responseHash(uint32 taskIndex, TaskRecord storage record) private view returns (bytes32) {
        return keccak256(
            abi.encode(
                TaskResponse(taskIndex, record.blockHash, record.stateRoot, record.receiptsRoot),
                TaskResponseMetadata(record.finalizedAt, _hashOfNonSigners(record))
            )
        );
    }

    /// @dev The response's hashOfNonSigners: stored, or implied when nobody abstained.
    function _hashOfNonSigners(TaskRecord storage record) private view returns (bytes32 hash) {
        hash = record.hashOfNonSigners;
        if (hash == UNSET) hash = keccak256(abi.encodePacked(record.taskCreatedBlock));
    }

    /// @notice The task parameters.
    function config() public view returns (Config memory) {
        return Config({
            checkpointInterval: _checkpointInterval,
            responseWindowBlocks: _responseWindowBlocks,
            challengeWindowBlocks: _challengeWindowBlocks,
            minimumThresholdPercentage: _minimumThresholdPercentage,
            openTaskCreation: _openTaskCreation
        });
    }

    // ------------------------------------------------------------------ owner

    /// @notice Sets the task parameters (owner only).
    function setConfig(Config calldata config_) external onlyOwner {
        _setConfig(config_);
    }

    /// @notice Allows or disallows `generator` to create tasks (owner only).
    function setTaskGenerator(address generator, bool allowed) external onlyOwner {
        isTaskGenerator[generator] = allowed;
        emit TaskGeneratorUpdated(generator, allowed);
    }

    /// @notice Pauses task creation and responses (owner only); challenges stay open.
    function pause() external onlyOwner {
        paused = true;
        emit PausedUpdated(true);
    }

    /// @notice Resumes task creation and responses (owner only).
    function unpause() external onlyOwner {
        paused = false;
        emit PausedUpdated(false);
    }

    /// @dev Bounds every field; tasks already created keep the windows they were created with.
    function _setConfig(Config calldata c) private {
        if (c.checkpointInterval == 0) revert InvalidConfig("checkpointInterval: at least 1");
        if (
            c.responseWindowBlocks < MIN_RESPONSE_WINDOW_BLOCKS
                || c.responseWindowBlocks > MAX_RESPONSE_WINDOW_BLOCKS
        ) {
            revert InvalidConfig("responseWindowBlocks: 10 to 16777215 blocks");
        }
        if (c.challengeWindowBlocks < MIN_CHALLENGE_WINDOW_BLOCKS) {
            revert InvalidConfig("challengeWindowBlocks: at least 10 blocks");
        }
        if (c.minimumThresholdPercentage == 0 || c.minimumThresholdPercentage > 100) {
            revert InvalidConfig("minimumThresholdPercentage: 1 to 100");
        }
        // A signer may leave right after signing; it stays slashable only for the service
        // manager's window, which must cover the response, the challenge and its slash.
        if (
            uint256(c.responseWindowBlocks) + c.challengeWindowBlocks
                >= serviceManager.slashableWindowBlocks()
        ) {
            revert InvalidConfig("responseWindowBlocks + challengeWindowBlocks: below the slashable window");
        }
        _recordInterval(c.checkpointInterval);
        Config memory old = config();
        _checkpointInterval = c.checkpointInterval;
        _responseWindowBlocks = c.responseWindowBlocks;
        _challengeWindowBlocks = c.challengeWindowBlocks;
        _minimumThresholdPercentage = c.minimumThresholdPercentage;
        _openTaskCreation = c.openTaskCreation;
        emit ConfigUpdated(old, c);
    }

    /// @dev Adds a new interval to the history `latestFinalized` walks.
    function _recordInterval(uint64 interval) private {
        uint256 count = _intervals.length;
        for (uint256 i = 0; i < count; i++) {
            if (_intervals[i] == interval) return;
        }
        if (count == MAX_INTERVALS) revert InvalidConfig("checkpointInterval: at most 8 distinct intervals");
        _intervals.push(interval);
    }

    function _key(uint64 chainId, uint64 blockNumber) private pure returns (uint256) {
        return (uint256(chainId) << 64) | blockNumber;
    }
}
