// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {
    Ownable2StepUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {
    EIP712Upgradeable
} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {BN254} from "./libraries/BN254.sol";
import {QuorumBitmap} from "./libraries/QuorumBitmap.sol";
import {
    OperatorSet,
    IAllocationManager,
    IAVSRegistrar,
    ISlashingStakeRegistry,
    ISlashingBLSApkRegistry,
    ISlashingIndexRegistry,
    ISocketRegistry
} from "./interfaces/IEigenLayerSlashing.sol";
import {IRegistrationPolicy} from "./interfaces/IAvsServiceManager.sol";

/// @title AvsRegistryCoordinator
/// @notice The AVS's registrar in EigenLayer's AllocationManager: operators join quorum `q` by
///         registering for operator set `q` of the AVS (`AllocationManager.registerForOperatorSets`),
///         and this contract drives EigenLayer's slashing-era registries (StakeRegistry weighing
///         *slashable* stake, BLSApkRegistry, IndexRegistry, SocketRegistry) and keeps the quorum
///         bitmap history that signature checkers and the OperatorStateRetriever read.
/// @dev EigenLayer ships its SlashingRegistryCoordinator only as source linking external
///      libraries; this is our own coordinator with the same view ABI (so EigenLayer's
///      OperatorStateRetriever and `checkSignatures`-style checkers read it unchanged) and the
///      same registration data, `abi.encode(uint8 registrationType, string socket,
///      PubkeyRegistrationParams)` with registration type 0 (no churn: a full quorum refuses).
///
///      Invariants:
///      - a quorum exists iff its operator set exists in the AllocationManager (created together
///        by `createSlashableStakeQuorum`), so membership in both always agrees;
///      - every removal goes through the AllocationManager (`deregisterFromOperatorSets` calls
///        back `deregisterOperator`), including ejections and stake refreshes below the minimum,
///        so the AllocationManager never lists an operator our registries dropped;
///      - the AVS decides who may register (`IRegistrationPolicy.checkRegistration`: never a
///        frozen operator, and only allowlisted ones while its allowlist is on).
///      Deploy behind a transparent proxy; the implementation's initializers are locked. The AVS
///      must appoint this contract for the AllocationManager's `setAVSRegistrar`,
///      `createOperatorSets` and `deregisterFromOperatorSets` (AvsServiceManager's initializer does).
contract AvsRegistryCoordinator is Initializable, Ownable2StepUpgradeable, EIP712Upgradeable, IAVSRegistrar {
    /// @notice Registration status of an operator.
    enum OperatorStatus {
        NEVER_REGISTERED,
        REGISTERED,
        DEREGISTERED
    }

    /// @notice An operator's id (hash of its G1 key) and status.
    struct OperatorInfo {
        bytes32 operatorId;
        OperatorStatus status;
    }

    /// @notice One entry of an operator's quorum bitmap history, valid in
    ///         `[updateBlockNumber, nextUpdateBlockNumber)` (0 = still current).
    struct QuorumBitmapUpdate {
        uint32 updateBlockNumber;
        uint32 nextUpdateBlockNumber;
        uint192 quorumBitmap;
    }

    /// @notice The EIP-712 type of the message an operator's BLS key signs to prove possession.
    bytes32 public constant PUBKEY_REGISTRATION_TYPEHASH =
        keccak256("BN254PubkeyRegistration(address operator)");
    /// @notice Quorums fit in the registries' 192-bit bitmaps.
    uint8 internal constant MAX_QUORUM_COUNT = 192;
    /// @notice The only registration type supported (EigenLayer's `RegistrationType.NORMAL`).
    uint8 internal constant REGISTRATION_NORMAL = 0;

    /// @notice EigenLayer's AllocationManager, the only caller of the registrar hooks.
    IAllocationManager public immutable allocationManager;
    /// @notice The StakeRegistry this coordinator writes.
    ISlashingStakeRegistry public immutable stakeRegistry;
    /// @notice The BLSApkRegistry this coordinator writes.
    ISlashingBLSApkRegistry public immutable blsApkRegistry;
    /// @notice The IndexRegistry this coordinator writes.
    ISlashingIndexRegistry public immutable indexRegistry;
    /// @notice The SocketRegistry this coordinator writes.
    ISocketRegistry public immutable socketRegistry;
    /// @notice The AVS (its service manager) whose operator sets are our quorums.
    address public immutable avs;

    /// @notice The address allowed to eject operators (the service manager, which freezes).
    address public ejector;
    /// @notice Number of quorums created so far; valid quorum numbers are `0..quorumCount`.
    uint8 public quorumCount;
    /// @notice Maximum number of operators per quorum.
    mapping(uint8 => uint32) public maxOperatorCount;
    /// @notice Block at which every operator's stake in a quorum was last refreshed together.
    mapping(uint8 => uint256) public quorumUpdateBlockNumber;
    mapping(address => OperatorInfo) private _operatorInfo;
    mapping(bytes32 => QuorumBitmapUpdate[]) private _bitmapHistory;

    event OperatorRegistered(address indexed operator, bytes32 indexed operatorId);
    event OperatorDeregistered(address indexed operator, bytes32 indexed operatorId);
    event OperatorSocketUpdate(bytes32 indexed operatorId, string socket);
    event QuorumCreated(uint8 indexed quorumNumber, uint32 maxOperatorCount, uint96 minimumStake);
    event QuorumBlockNumberUpdated(uint8 indexed quorumNumber, uint256 blocknumber);
    event EjectorUpdated(address previousEjector, address newEjector);

    error OnlyAllocationManager();
    error OnlyEjector();
    error InvalidAVS(address avs);
    error ZeroAddress();
    error QuorumDoesNotExist(uint32 quorumNumber);
    error DuplicateQuorum(uint32 quorumNumber);
    error EmptyQuorums();
    error AlreadyRegisteredForQuorums();
    error NotRegisteredForQuorums();
    error UnsupportedRegistrationType(uint8 registrationType);
    error MaxOperatorCountReached(uint8 quorumNumber);
    error MaxQuorumsReached();
    error LookAheadPeriodTooLong(uint32 lookAheadPeriod, uint32 deallocationDelay);
    error NotRegistered(address operator);
    error QuorumOperatorCountMismatch(uint8 quorumNumber, uint256 given, uint256 registered);
    error OperatorsNotSorted();
    error NoBitmapAtBlock(bytes32 operatorId, uint32 blockNumber);
    error BitmapUpdateNotAtBlock(bytes32 operatorId, uint32 blockNumber, uint256 index);

    modifier onlyAllocationManager() {
        if (msg.sender != address(allocationManager)) revert OnlyAllocationManager();
        _;
    }

    modifier onlyEjector() {
        if (msg.sender != ejector) revert OnlyEjector();
        _;
    }

    constructor(
        IAllocationManager allocationManager_,
        ISlashingStakeRegistry stakeRegistry_,
        ISlashingBLSApkRegistry blsApkRegistry_,
        ISlashingIndexRegistry indexRegistry_,
        ISocketRegistry socketRegistry_,
        address avs_
    ) {
        allocationManager = allocationManager_;
        stakeRegistry = stakeRegistry_;
        blsApkRegistry = blsApkRegistry_;
        indexRegistry = indexRegistry_;
        socketRegistry = socketRegistry_;
        avs = avs_;
        _disableInitializers();
    }

    /// @notice Sets the owner and the ejector, makes this contract the AVS's registrar and
    ///         creates quorum 0 (see `createSlashableStakeQuorum`). The AVS must have published
    ///         its metadata URI and appointed this contract before (its own initializer does).
    function initialize(
        address initialOwner,
        address ejector_,
        uint32 maxOperatorCount_,
        uint96 minimumStake,
        ISlashingStakeRegistry.StrategyParams[] calldata strategyParams,
        uint32 lookAheadPeriod
    ) external initializer {
        if (initialOwner == address(0)) revert ZeroAddress();
        __EIP712_init("AvsRegistryCoordinator", "1");
        _transferOwnership(initialOwner);
        _setEjector(ejector_);
        allocationManager.setAVSRegistrar(avs, address(this));
        _createQuorum(maxOperatorCount_, minimumStake, strategyParams, lookAheadPeriod);
    }

    // ------------------------------------------------------------ registrar hooks

    /// @inheritdoc IAVSRegistrar
    function registerOperator(
        address operator,
        address avs_,
        uint32[] calldata operatorSetIds,
        bytes calldata data
    ) external onlyAllocationManager {
        if (avs_ != avs) revert InvalidAVS(avs_);
        IRegistrationPolicy(avs_).checkRegistration(operator);
        (
            uint8 registrationType,
            string memory socket,
            ISlashingBLSApkRegistry.PubkeyRegistrationParams memory key
        ) = abi.decode(data, (uint8, string, ISlashingBLSApkRegistry.PubkeyRegistrationParams));
        if (registrationType != REGISTRATION_NORMAL) revert UnsupportedRegistrationType(registrationType);

        bytes32 operatorId =
            blsApkRegistry.getOrRegisterOperatorId(operator, key, pubkeyRegistrationMessageHash(operator));
        uint256 adding = _bitmapOf(operatorSetIds);
        uint256 current = _currentBitmap(operatorId);
        if (adding & current != 0) revert AlreadyRegisteredForQuorums();
        _pushBitmap(operatorId, current | adding);
        if (_operatorInfo[operator].status != OperatorStatus.REGISTERED) {
            _operatorInfo[operator] = OperatorInfo(operatorId, OperatorStatus.REGISTERED);
            emit OperatorRegistered(operator, operatorId);
        }

        bytes memory quorums = QuorumBitmap.toBytes(adding);
        blsApkRegistry.registerOperator(operator, quorums);
        stakeRegistry.registerOperator(operator, operatorId, quorums);
        uint32[] memory counts = indexRegistry.registerOperator(operatorId, quorums);
        for (uint256 i = 0; i < quorums.length; i++) {
            uint8 quorum = uint8(quorums[i]);
            if (counts[i] > maxOperatorCount[quorum]) revert MaxOperatorCountReached(quorum);
        }
        _setSocket(operatorId, socket);
    }

    /// @inheritdoc IAVSRegistrar
    function deregisterOperator(address operator, address avs_, uint32[] calldata operatorSetIds)
        external
        onlyAllocationManager
    {
        if (avs_ != avs) revert InvalidAVS(avs_);
        OperatorInfo storage info = _operatorInfo[operator];
        if (info.status != OperatorStatus.REGISTERED) revert NotRegistered(operator);
        bytes32 operatorId = info.operatorId;
        uint256 removing = _bitmapOf(operatorSetIds);
        uint256 current = _currentBitmap(operatorId);
        if (removing & current != removing) revert NotRegisteredForQuorums();
        uint256 remaining = current & ~removing;
        _pushBitmap(operatorId, remaining);
        if (remaining == 0) {
            info.status = OperatorStatus.DEREGISTERED;
            emit OperatorDeregistered(operator, operatorId);
        }
        bytes memory quorums = QuorumBitmap.toBytes(removing);
        blsApkRegistry.deregisterOperator(operator, quorums);
        stakeRegistry.deregisterOperator(operatorId, quorums);
        indexRegistry.deregisterOperator(operatorId, quorums);
    }

    /// @inheritdoc IAVSRegistrar
    function supportsAVS(address avs_) external view returns (bool) {
        return avs_ == avs;
    }

    // ------------------------------------------------------------ operators

    /// @notice Updates the caller's socket (registered operators only).
    function updateSocket(string memory socket) external {
        OperatorInfo storage info = _operatorInfo[msg.sender];
        if (info.status != OperatorStatus.REGISTERED) revert NotRegistered(msg.sender);
        _setSocket(info.operatorId, socket);
    }

    /// @notice Re-reads each operator's slashable stake in every quorum it is in; operators below
    ///         a quorum's minimum are removed from it (through the AllocationManager). Anyone
    ///         may call this: it only makes the registries agree with EigenLayer's state.
    function updateOperators(address[] calldata operators) external {
        for (uint256 i = 0; i < operators.length; i++) {
            OperatorInfo memory info = _operatorInfo[operators[i]];
            if (info.status != OperatorStatus.REGISTERED) continue;
            bytes memory quorums = QuorumBitmap.toBytes(_currentBitmap(info.operatorId));
            address[] memory one = new address[](1);
            bytes32[] memory oneId = new bytes32[](1);
            one[0] = operators[i];
            oneId[0] = info.operatorId;
            for (uint256 j = 0; j < quorums.length; j++) {
                uint8 quorum = uint8(quorums[j]);
                bool[] memory below = stakeRegistry.updateOperatorsStake(one, oneId, quorum);
                if (below[0]) _removeFromQuorum(operators[i], quorum);
            }
        }
    }

    /// @notice Re-reads the slashable stake of *every* operator of each quorum and records the
    ///         block as the quorum's update block (what the stale-stake rule of checkers reads).
    /// @param operatorsPerQuorum for each quorum, all its operators, ascending by address
    function updateOperatorsForQuorum(address[][] calldata operatorsPerQuorum, bytes calldata quorumNumbers)
        external
    {
        if (operatorsPerQuorum.length != quorumNumbers.length) {
            revert QuorumOperatorCountMismatch(0, operatorsPerQuorum.length, quorumNumbers.length);
        }
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            uint8 quorum = uint8(quorumNumbers[i]);
            if (quorum >= quorumCount) revert QuorumDoesNotExist(quorum);
            address[] calldata operators = operatorsPerQuorum[i];
            uint256 registered = indexRegistry.totalOperatorsForQuorum(quorum);
            if (operators.length != registered) {
                revert QuorumOperatorCountMismatch(quorum, operators.length, registered);
            }
            bytes32[] memory ids = new bytes32[](operators.length);
            for (uint256 j = 0; j < operators.length; j++) {
                if (j > 0 && operators[j] <= operators[j - 1]) revert OperatorsNotSorted();
                ids[j] = _operatorInfo[operators[j]].operatorId;
                if ((_currentBitmap(ids[j]) >> quorum) & 1 == 0) revert NotRegisteredForQuorums();
            }
            bool[] memory below = stakeRegistry.updateOperatorsStake(operators, ids, quorum);
            for (uint256 j = 0; j < operators.length; j++) {
                if (below[j]) _removeFromQuorum(operators[j], quorum);
            }
            quorumUpdateBlockNumber[quorum] = block.number;
            emit QuorumBlockNumberUpdated(quorum, block.number);
        }
    }

    // ------------------------------------------------------------ ejector

    /// @notice Removes `operator` from the quorums of `quorumNumbers` it is in (ejector only).
    function ejectOperator(address operator, bytes calldata quorumNumbers) external onlyEjector {
        _eject(operator, _bytesToBitmap(quorumNumbers));
    }

    // ------------------------------------------------------------ owner

    /// @notice Creates the next quorum and its operator set, weighing slashable stake: the
    ///         minimum of each operator's slashable shares now and `lookAheadPeriod` blocks ahead,
    ///         times each strategy's multiplier (owner only).
    function createSlashableStakeQuorum(
        uint32 maxOperatorCount_,
        uint96 minimumStake,
        ISlashingStakeRegistry.StrategyParams[] calldata strategyParams,
        uint32 lookAheadPeriod
    ) external onlyOwner {
        _createQuorum(maxOperatorCount_, minimumStake, strategyParams, lookAheadPeriod);
    }

    /// @notice Sets the maximum number of operators of `quorumNumber` (owner only).
    function setMaxOperatorCount(uint8 quorumNumber, uint32 count) external onlyOwner {
        if (quorumNumber >= quorumCount) revert QuorumDoesNotExist(quorumNumber);
        maxOperatorCount[quorumNumber] = count;
    }

    /// @notice Sets the address allowed to eject operators (owner only).
    function setEjector(address ejector_) external onlyOwner {
        _setEjector(ejector_);
    }

    // ------------------------------------------------------------ views

    /// @notice The G1 point an operator's BLS key signs to prove possession: EIP-712 digest of
    ///         `BN254PubkeyRegistration(operator)` under this coordinator's domain, hashed to G1.
    function pubkeyRegistrationMessageHash(address operator) public view returns (BN254.G1Point memory) {
        return BN254.hashToG1(calculatePubkeyRegistrationMessageHash(operator));
    }

    /// @notice The EIP-712 digest behind `pubkeyRegistrationMessageHash`.
    function calculatePubkeyRegistrationMessageHash(address operator) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PUBKEY_REGISTRATION_TYPEHASH, operator)));
    }

    /// @notice Id and status of `operator`.
    function getOperator(address operator) external view returns (OperatorInfo memory) {
        return _operatorInfo[operator];
    }

    /// @notice Operator id (hash of its G1 pubkey) of `operator`; zero if it never registered.
    function getOperatorId(address operator) external view returns (bytes32) {
        return _operatorInfo[operator].operatorId;
    }

    /// @notice Operator address of `operatorId`.
    function getOperatorFromId(bytes32 operatorId) external view returns (address) {
        return blsApkRegistry.getOperatorFromPubkeyHash(operatorId);
    }

    /// @notice Registration status of `operator`.
    function getOperatorStatus(address operator) external view returns (OperatorStatus) {
        return _operatorInfo[operator].status;
    }

    /// @notice Current quorum bitmap of `operatorId`.
    function getCurrentQuorumBitmap(bytes32 operatorId) external view returns (uint192) {
        return uint192(_currentBitmap(operatorId));
    }

    /// @notice For each operator, the index of its bitmap history entry valid at `blockNumber`.
    function getQuorumBitmapIndicesAtBlockNumber(uint32 blockNumber, bytes32[] memory operatorIds)
        external
        view
        returns (uint32[] memory indices)
    {
        indices = new uint32[](operatorIds.length);
        for (uint256 i = 0; i < operatorIds.length; i++) {
            QuorumBitmapUpdate[] storage history = _bitmapHistory[operatorIds[i]];
            uint256 j = history.length;
            while (j > 0 && history[j - 1].updateBlockNumber > blockNumber) j--;
            if (j == 0) revert NoBitmapAtBlock(operatorIds[i], blockNumber);
            // casting to uint32 is safe: a history grows by at most one entry per block.
            // forge-lint: disable-next-line(unsafe-typecast)
            indices[i] = uint32(j - 1);
        }
    }

    /// @notice Quorum bitmap of `operatorId` at `blockNumber`, read at history `index` (which
    ///         must be the entry valid at that block).
    function getQuorumBitmapAtBlockNumberByIndex(bytes32 operatorId, uint32 blockNumber, uint256 index)
        external
        view
        returns (uint192)
    {
        QuorumBitmapUpdate memory update = _bitmapHistory[operatorId][index];
        if (
            blockNumber < update.updateBlockNumber
                || (update.nextUpdateBlockNumber != 0 && blockNumber >= update.nextUpdateBlockNumber)
        ) revert BitmapUpdateNotAtBlock(operatorId, blockNumber, index);
        return update.quorumBitmap;
    }

    /// @notice Length of `operatorId`'s bitmap history.
    function getQuorumBitmapHistoryLength(bytes32 operatorId) external view returns (uint256) {
        return _bitmapHistory[operatorId].length;
    }

    /// @notice Entry `index` of `operatorId`'s bitmap history.
    function getQuorumBitmapUpdateByIndex(bytes32 operatorId, uint256 index)
        external
        view
        returns (QuorumBitmapUpdate memory)
    {
        return _bitmapHistory[operatorId][index];
    }

    // ------------------------------------------------------------ internals

    /// @dev Removes `operator` from the quorums of `bitmap` it is in, through the
    ///      AllocationManager (which calls back `deregisterOperator`).
    function _eject(address operator, uint256 bitmap) private {
        OperatorInfo memory info = _operatorInfo[operator];
        if (info.status != OperatorStatus.REGISTERED) return;
        uint256 leaving = _currentBitmap(info.operatorId) & bitmap;
        if (leaving == 0) return;
        bytes memory quorums = QuorumBitmap.toBytes(leaving);
        uint32[] memory ids = new uint32[](quorums.length);
        for (uint256 i = 0; i < quorums.length; i++) {
            ids[i] = uint8(quorums[i]);
        }
        allocationManager.deregisterFromOperatorSets(
            IAllocationManager.DeregisterParams({operator: operator, avs: avs, operatorSetIds: ids})
        );
    }

    function _createQuorum(
        uint32 maxOperatorCount_,
        uint96 minimumStake,
        ISlashingStakeRegistry.StrategyParams[] calldata strategyParams,
        uint32 lookAheadPeriod
    ) private {
        uint8 quorum = quorumCount;
        if (quorum >= MAX_QUORUM_COUNT) revert MaxQuorumsReached();
        uint32 delay = allocationManager.DEALLOCATION_DELAY();
        if (lookAheadPeriod >= delay) revert LookAheadPeriodTooLong(lookAheadPeriod, delay);
        quorumCount = quorum + 1;
        maxOperatorCount[quorum] = maxOperatorCount_;

        IAllocationManager.CreateSetParams[] memory sets = new IAllocationManager.CreateSetParams[](1);
        sets[0].operatorSetId = quorum;
        sets[0].strategies = new address[](strategyParams.length);
        for (uint256 i = 0; i < strategyParams.length; i++) {
            sets[0].strategies[i] = strategyParams[i].strategy;
        }
        allocationManager.createOperatorSets(avs, sets);
        stakeRegistry.initializeSlashableStakeQuorum(quorum, minimumStake, lookAheadPeriod, strategyParams);
        indexRegistry.initializeQuorum(quorum);
        blsApkRegistry.initializeQuorum(quorum);
        // A new quorum has no operators, so all of their stakes are as fresh as can be; each
        // operator's stake is read when it registers. (Checkers' stale-stake rule counts from here.)
        quorumUpdateBlockNumber[quorum] = block.number;
        emit QuorumBlockNumberUpdated(quorum, block.number);
        emit QuorumCreated(quorum, maxOperatorCount_, minimumStake);
    }

    function _removeFromQuorum(address operator, uint8 quorum) private {
        _eject(operator, uint256(1) << quorum);
    }

    /// @dev Bitmap of operator set ids, each an existing quorum and none twice.
    function _bitmapOf(uint32[] calldata ids) private view returns (uint256 bitmap) {
        if (ids.length == 0) revert EmptyQuorums();
        for (uint256 i = 0; i < ids.length; i++) {
            uint32 id = ids[i];
            if (id >= quorumCount) revert QuorumDoesNotExist(id);
            uint256 bit = uint256(1) << id;
            if (bitmap & bit != 0) revert DuplicateQuorum(id);
            bitmap |= bit;
        }
    }

    function _bytesToBitmap(bytes calldata quorumNumbers) private view returns (uint256 bitmap) {
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            uint8 quorum = uint8(quorumNumbers[i]);
            if (quorum >= quorumCount) revert QuorumDoesNotExist(quorum);
            bitmap |= uint256(1) << quorum;
        }
    }

    function _currentBitmap(bytes32 operatorId) private view returns (uint256) {
        QuorumBitmapUpdate[] storage history = _bitmapHistory[operatorId];
        return history.length == 0 ? 0 : history[history.length - 1].quorumBitmap;
    }

    /// @dev Records `bitmap` from this block on: a new entry closing the previous one, or an
    ///      overwrite when the latest entry was made in this block.
    function _pushBitmap(bytes32 operatorId, uint256 bitmap) private {
        QuorumBitmapUpdate[] storage history = _bitmapHistory[operatorId];
        uint256 length = history.length;
        // casting to uint192 is safe: bitmaps only hold quorums below MAX_QUORUM_COUNT (192).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint192 value = uint192(bitmap);
        if (length != 0 && history[length - 1].updateBlockNumber == uint32(block.number)) {
            history[length - 1].quorumBitmap = value;
            return;
        }
        if (length != 0) history[length - 1].nextUpdateBlockNumber = uint32(block.number);
        history.push(QuorumBitmapUpdate(uint32(block.number), 0, value));
    }

    function _setSocket(bytes32 operatorId, string memory socket) private {
        socketRegistry.setOperatorSocket(operatorId, socket);
        emit OperatorSocketUpdate(operatorId, socket);
    }

    function _setEjector(address ejector_) private {
        if (ejector_ == address(0)) revert ZeroAddress();
        emit EjectorUpdated(ejector, ejector_);
        ejector = ejector_;
    }
}
