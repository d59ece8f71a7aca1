// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../../src/libraries/BN254.sol";
import {
    IRegistryCoordinator,
    IStakeRegistry,
    IBLSApkRegistry,
    IIndexRegistry
} from "../../src/interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "../../src/interfaces/IEigenLayerCore.sol";
import {IAvsServiceManager} from "../../src/interfaces/IAvsServiceManager.sol";
import {IAvsSlasher} from "../../src/interfaces/IEigenLayerSlashing.sol";

// Test doubles of EigenLayer's registries with the real history semantics: every update at a
// new block closes the previous entry (`nextUpdateBlockNumber`) and appends one; an update in
// the same block overwrites the last entry; reads "at block B, index i" revert unless entry i
// covers B. They are driven by MockRegistryCoordinator the way the real coordinator drives the
// real registries. Forge gas figures with them are indicative only (no proxies in between).

/// @notice One entry of a uint history (bitmaps, stakes) keyed by block.
struct HistoryEntry {
    uint32 updateBlockNumber;
    uint32 nextUpdateBlockNumber;
    uint192 value;
}

/// @notice Shared history helpers.
library History {
    function push(HistoryEntry[] storage h, uint192 value) internal {
        uint256 len = h.length;
        if (len != 0 && h[len - 1].updateBlockNumber == block.number) {
            h[len - 1].value = value;
            return;
        }
        if (len != 0) h[len - 1].nextUpdateBlockNumber = uint32(block.number);
        h.push(HistoryEntry(uint32(block.number), 0, value));
    }

    function at(HistoryEntry[] storage h, uint32 blockNumber, uint256 index) internal view returns (uint192) {
        HistoryEntry memory e = h[index];
        require(blockNumber >= e.updateBlockNumber, "History: entry is after blockNumber");
        require(
            e.nextUpdateBlockNumber == 0 || blockNumber < e.nextUpdateBlockNumber,
            "History: entry is before blockNumber"
        );
        return e.value;
    }

    function indexAt(HistoryEntry[] storage h, uint32 blockNumber) internal view returns (uint32) {
        for (uint256 i = h.length; i > 0; i--) {
            if (h[i - 1].updateBlockNumber <= blockNumber) return uint32(i - 1);
        }
        revert("History: no entry at blockNumber");
    }

    function latest(HistoryEntry[] storage h) internal view returns (uint192) {
        return h.length == 0 ? 0 : h[h.length - 1].value;
    }
}

/// @notice AllocationManager double: the deallocation delay and the AVS's metadata URI.
contract MockAllocationManager {
    /// @dev Mainnet's: 14 days of 12-second blocks.
    uint32 public constant DEALLOCATION_DELAY = 100_800;
    mapping(address => string) public metadataURI;

    function updateAVSMetadataURI(address avs, string calldata uri) external {
        require(msg.sender == avs, "MockAllocationManager: only the AVS");
        metadataURI[avs] = uri;
    }
}

/// @notice PermissionController double: records appointments.
contract MockPermissionController {
    mapping(address => mapping(address => mapping(address => mapping(bytes4 => bool)))) public canCall;

    function setAppointee(address account, address appointee, address target, bytes4 selector) external {
        require(msg.sender == account, "MockPermissionController: only the account");
        canCall[account][appointee][target][selector] = true;
    }

    function removeAppointee(address account, address appointee, address target, bytes4 selector) external {
        require(msg.sender == account, "MockPermissionController: only the account");
        canCall[account][appointee][target][selector] = false;
    }
}

/// @notice Slasher double: records every slash the AVS requests, per operator set.
contract MockSlasher is IAvsSlasher {
    uint32 public vetoWindowBlocks = 100;
    /// @notice Slashes requested per operator and operator set.
    mapping(address => mapping(uint32 => uint256)) public slashes;
    string public lastDescription;

    function slashOperators(address[] calldata operators, uint32 operatorSetId, string calldata description)
        external
    {
        for (uint256 i = 0; i < operators.length; i++) {
            slashes[operators[i]][operatorSetId]++;
        }
        lastDescription = description;
    }
}

/// @notice DelegationManager double: only the withdrawal delay.
contract MockDelegationManager is IDelegationManager {
    uint256 public minWithdrawalDelayBlocks;

    function setMinWithdrawalDelayBlocks(uint256 value) external {
        minWithdrawalDelayBlocks = value;
    }
}

/// @notice StakeRegistry double.
contract MockStakeRegistry is IStakeRegistry {
    using History for HistoryEntry[];

    address public immutable coordinator;
    address public immutable delegation;
    mapping(bytes32 => mapping(uint8 => HistoryEntry[])) internal _stakes;
    mapping(uint8 => HistoryEntry[]) internal _totals;
    mapping(uint8 => StrategyParams[]) internal _strategies;

    constructor(address coordinator_, address delegation_) {
        coordinator = coordinator_;
        delegation = delegation_;
    }

    modifier onlyCoordinator() {
        require(msg.sender == coordinator, "MockStakeRegistry: only coordinator");
        _;
    }

    function initializeQuorum(uint8 quorum) external onlyCoordinator {
        _totals[quorum].push(0);
    }

    function setStake(bytes32 operatorId, uint8 quorum, uint96 stake) external onlyCoordinator {
        uint192 old = _stakes[operatorId][quorum].latest();
        _stakes[operatorId][quorum].push(stake);
        _totals[quorum].push(_totals[quorum].latest() + stake - old);
    }

    function addStrategy(uint8 quorum, address strategy, uint96 multiplier) external {
        _strategies[quorum].push(StrategyParams(strategy, multiplier));
    }

    function getStakeAtBlockNumberAndIndex(
        uint8 quorum,
        uint32 blockNumber,
        bytes32 operatorId,
        uint256 index
    ) external view returns (uint96) {
        return uint96(_stakes[operatorId][quorum].at(blockNumber, index));
    }

    function getTotalStakeAtBlockNumberFromIndex(uint8 quorum, uint32 blockNumber, uint256 index)
        external
        view
        returns (uint96)
    {
        return uint96(_totals[quorum].at(blockNumber, index));
    }

    function stakeIndexAt(bytes32 operatorId, uint8 quorum, uint32 blockNumber)
        external
        view
        returns (uint32)
    {
        return _stakes[operatorId][quorum].indexAt(blockNumber);
    }

    function totalStakeIndexAt(uint8 quorum, uint32 blockNumber) external view returns (uint32) {
        return _totals[quorum].indexAt(blockNumber);
    }

    function strategyParamsLength(uint8 quorum) external view returns (uint256) {
        return _strategies[quorum].length;
    }

    function strategyParamsByIndex(uint8 quorum, uint256 index)
        external
        view
        returns (StrategyParams memory)
    {
        return _strategies[quorum][index];
    }
}

/// @notice BLSApkRegistry double: quorum APKs and their hash history.
contract MockBLSApkRegistry is IBLSApkRegistry {
    using BN254 for BN254.G1Point;

    struct ApkUpdate {
        bytes24 apkHash;
        uint32 updateBlockNumber;
        uint32 nextUpdateBlockNumber;
    }

    address public immutable coordinator;
    // One slot per entry, like the real registry, so reads cost what they cost there.
    mapping(uint8 => ApkUpdate[]) internal _history;
    /// @dev The full APK of each history entry, kept for tests (the real registry only stores hashes).
    mapping(uint8 => BN254.G1Point[]) internal _historyApks;
    mapping(uint8 => BN254.G1Point) internal _apk;

    constructor(address coordinator_) {
        coordinator = coordinator_;
    }

    modifier onlyCoordinator() {
        require(msg.sender == coordinator, "MockBLSApkRegistry: only coordinator");
        _;
    }

    function initializeQuorum(uint8 quorum) external onlyCoordinator {
        _history[quorum].push(ApkUpdate(bytes24(0), uint32(block.number), 0));
        _historyApks[quorum].push(BN254.G1Point(0, 0));
    }

    function update(uint8 quorum, BN254.G1Point memory delta) external onlyCoordinator {
        BN254.G1Point memory apk = _apk[quorum].plus(delta);
        _apk[quorum] = apk;
        bytes24 hash = bytes24(apk.hashG1Point());
        ApkUpdate[] storage h = _history[quorum];
        ApkUpdate storage last = h[h.length - 1];
        if (last.updateBlockNumber == block.number) {
            last.apkHash = hash;
            _historyApks[quorum][h.length - 1] = apk;
        } else {
            last.nextUpdateBlockNumber = uint32(block.number);
            h.push(ApkUpdate(hash, uint32(block.number), 0));
            _historyApks[quorum].push(apk);
        }
    }

    function getApkHashAtBlockNumberAndIndex(uint8 quorum, uint32 blockNumber, uint256 index)
        external
        view
        returns (bytes24)
    {
        ApkUpdate memory u = _history[quorum][index];
        require(blockNumber >= u.updateBlockNumber, "MockBLSApkRegistry: index too recent");
        require(
            u.nextUpdateBlockNumber == 0 || blockNumber < u.nextUpdateBlockNumber,
            "MockBLSApkRegistry: not latest"
        );
        return u.apkHash;
    }

    function getApk(uint8 quorum) external view returns (BN254.G1Point memory) {
        return _apk[quorum];
    }

    /// @notice Test helper: history index and APK of `quorum` at `blockNumber`.
    function apkAt(uint8 quorum, uint32 blockNumber) external view returns (uint32, BN254.G1Point memory) {
        ApkUpdate[] storage h = _history[quorum];
        for (uint256 i = h.length; i > 0; i--) {
            if (h[i - 1].updateBlockNumber <= blockNumber) {
                return (uint32(i - 1), _historyApks[quorum][i - 1]);
            }
        }
        revert("MockBLSApkRegistry: no apk at block");
    }
}

/// @notice IndexRegistry double: snapshots of each quorum's operator list.
contract MockIndexRegistry is IIndexRegistry {
    struct Snapshot {
        uint32 fromBlock;
        bytes32[] ids;
    }

    address public immutable coordinator;
    mapping(uint8 => Snapshot[]) internal _snapshots;

    constructor(address coordinator_) {
        coordinator = coordinator_;
    }

    function add(uint8 quorum, bytes32 id) external {
        require(msg.sender == coordinator, "MockIndexRegistry: only coordinator");
        bytes32[] memory current = _current(quorum);
        bytes32[] memory next = new bytes32[](current.length + 1);
        for (uint256 i = 0; i < current.length; i++) {
            next[i] = current[i];
        }
        next[current.length] = id;
        _write(quorum, next);
    }

    function remove(uint8 quorum, bytes32 id) external {
        require(msg.sender == coordinator, "MockIndexRegistry: only coordinator");
        bytes32[] memory current = _current(quorum);
        bytes32[] memory next = new bytes32[](current.length - 1);
        uint256 k;
        for (uint256 i = 0; i < current.length; i++) {
            if (current[i] != id) next[k++] = current[i];
        }
        _write(quorum, next);
    }

    function getOperatorListAtBlockNumber(uint8 quorum, uint32 blockNumber)
        external
        view
        returns (bytes32[] memory)
    {
        Snapshot[] storage s = _snapshots[quorum];
        for (uint256 i = s.length; i > 0; i--) {
            if (s[i - 1].fromBlock <= blockNumber) return s[i - 1].ids;
        }
        return new bytes32[](0);
    }

    function _current(uint8 quorum) private view returns (bytes32[] memory) {
        Snapshot[] storage s = _snapshots[quorum];
        return s.length == 0 ? new bytes32[](0) : s[s.length - 1].ids;
    }

    function _write(uint8 quorum, bytes32[] memory ids) private {
        Snapshot[] storage s = _snapshots[quorum];
        if (s.length != 0 && s[s.length - 1].fromBlock == block.number) {
            s[s.length - 1].ids = ids;
        } else {
            s.push();
            s[s.length - 1].fromBlock = uint32(block.number);
            s[s.length - 1].ids = ids;
        }
    }
}

/// @notice RegistryCoordinator double: registers operators into the other registries and asks
///         the service manager's registration policy exactly as the real coordinator does.
contract MockRegistryCoordinator is IRegistryCoordinator {
    using History for HistoryEntry[];
    using BN254 for BN254.G1Point;

    address public owner;
    address public ejector;
    IAvsServiceManager public serviceManager;
    uint8 public quorumCount;
    mapping(uint8 => uint256) public quorumUpdateBlockNumber;

    MockStakeRegistry public immutable stakes;
    MockBLSApkRegistry public immutable apks;
    MockIndexRegistry public immutable indices;

    mapping(address => bytes32) public getOperatorId;
    mapping(bytes32 => address) public getOperatorFromId;
    mapping(address => OperatorStatus) public getOperatorStatus;
    mapping(bytes32 => BN254.G1Point) internal _pubkeys;
    mapping(bytes32 => HistoryEntry[]) internal _bitmaps;

    constructor(MockDelegationManager delegation) {
        owner = msg.sender;
        stakes = new MockStakeRegistry(address(this), address(delegation));
        apks = new MockBLSApkRegistry(address(this));
        indices = new MockIndexRegistry(address(this));
    }

    function stakeRegistry() external view returns (address) {
        return address(stakes);
    }

    function blsApkRegistry() external view returns (address) {
        return address(apks);
    }

    function indexRegistry() external view returns (address) {
        return address(indices);
    }

    function setServiceManager(IAvsServiceManager serviceManager_) external {
        require(msg.sender == owner, "MockRegistryCoordinator: only owner");
        serviceManager = serviceManager_;
    }

    function setEjector(address ejector_) external {
        require(msg.sender == owner, "MockRegistryCoordinator: only owner");
        ejector = ejector_;
    }

    function createQuorum() external returns (uint8 quorum) {
        quorum = quorumCount++;
        stakes.initializeQuorum(quorum);
        apks.initializeQuorum(quorum);
    }

    function setQuorumUpdateBlockNumber(uint8 quorum, uint256 blockNumber) external {
        quorumUpdateBlockNumber[quorum] = blockNumber;
    }

    /// @notice Registers `operator` with key `pubkey` into `quorums` with `stake` in each.
    function registerOperator(
        address operator,
        BN254.G1Point memory pubkey,
        bytes memory quorums,
        uint96 stake
    ) external {
        bytes32 id = pubkey.hashG1Point();
        serviceManager.checkRegistration(operator);
        getOperatorId[operator] = id;
        getOperatorFromId[id] = operator;
        getOperatorStatus[operator] = OperatorStatus.REGISTERED;
        _pubkeys[id] = pubkey;
        uint256 bitmap = _bitmaps[id].latest();
        for (uint256 i = 0; i < quorums.length; i++) {
            uint8 q = uint8(quorums[i]);
            require(q < quorumCount, "MockRegistryCoordinator: no such quorum");
            require((bitmap >> q) & 1 == 0, "MockRegistryCoordinator: already in quorum");
            bitmap |= uint256(1) << q;
            apks.update(q, pubkey);
            stakes.setStake(id, q, stake);
            indices.add(q, id);
        }
        _bitmaps[id].push(uint192(bitmap));
    }

    /// @notice The operator leaves `quorums` (as `deregisterOperator` called by the operator).
    function deregisterOperator(address operator, bytes memory quorums) external {
        _deregister(operator, quorums);
    }

    function ejectOperator(address operator, bytes memory quorums) external {
        require(msg.sender == ejector, "MockRegistryCoordinator: only ejector");
        _deregister(operator, quorums);
    }

    function updateStake(address operator, uint8 quorum, uint96 stake) external {
        stakes.setStake(getOperatorId[operator], quorum, stake);
    }

    function getQuorumBitmapAtBlockNumberByIndex(bytes32 operatorId, uint32 blockNumber, uint256 index)
        external
        view
        returns (uint192)
    {
        return _bitmaps[operatorId].at(blockNumber, index);
    }

    function getCurrentQuorumBitmap(bytes32 operatorId) external view returns (uint192) {
        return _bitmaps[operatorId].latest();
    }

    function bitmapIndexAt(bytes32 operatorId, uint32 blockNumber) external view returns (uint32) {
        return _bitmaps[operatorId].indexAt(blockNumber);
    }

    function bitmapAt(bytes32 operatorId, uint32 blockNumber) external view returns (uint192) {
        HistoryEntry[] storage h = _bitmaps[operatorId];
        if (h.length == 0 || h[0].updateBlockNumber > blockNumber) return 0;
        return h[h.indexAt(blockNumber)].value;
    }

    function _deregister(address operator, bytes memory quorums) private {
        require(
            getOperatorStatus[operator] == OperatorStatus.REGISTERED,
            "MockRegistryCoordinator: not registered"
        );
        bytes32 id = getOperatorId[operator];
        uint256 bitmap = _bitmaps[id].latest();
        BN254.G1Point memory negKey = _pubkeys[id].negate();
        for (uint256 i = 0; i < quorums.length; i++) {
            uint8 q = uint8(quorums[i]);
            require((bitmap >> q) & 1 == 1, "MockRegistryCoordinator: not in quorum");
            bitmap &= ~(uint256(1) << q);
            apks.update(q, negKey);
            stakes.setStake(id, q, 0);
            indices.remove(q, id);
        }
        _bitmaps[id].push(uint192(bitmap));
        if (bitmap == 0) getOperatorStatus[operator] = OperatorStatus.DEREGISTERED;
    }
}
