// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {
    TransparentUpgradeableProxy
} from "@openzeppelin/contracts/proxy/transparent/TransparentUpgradeableProxy.sol";
import {Test} from "./Test.sol";
import {G2Math} from "./G2Math.sol";
import {BN254} from "../../src/libraries/BN254.sol";
import {AvsTaskManager} from "../../src/AvsTaskManager.sol";
import {AvsServiceManager} from "../../src/AvsServiceManager.sol";
import {IAvsTaskManager} from "../../src/interfaces/IAvsTaskManager.sol";
import {IAvsServiceManager} from "../../src/interfaces/IAvsServiceManager.sol";
import {IBLSSignatureChecker} from "../../src/interfaces/IBLSSignatureChecker.sol";
import {IAllocationManager, IPermissionController} from "../../src/interfaces/IEigenLayerSlashing.sol";
import {
    MockAllocationManager,
    MockPermissionController,
    MockSlasher,
    MockDelegationManager,
    MockRegistryCoordinator,
    MockStakeRegistry,
    MockBLSApkRegistry,
    MockIndexRegistry
} from "../mocks/MockEigenLayer.sol";

/// @title AvsFixture
/// @notice Deploys the AVS contracts behind transparent proxies on top of the registry doubles,
///         registers operators with real BN254 keys, and builds real aggregate signatures and
///         `NonSignerStakesAndSignature` parameters the way an aggregator does.
abstract contract AvsFixture is Test {
    using BN254 for BN254.G1Point;

    address internal constant OWNER = address(0xA11CE);
    address internal constant GENERATOR = address(0x6E7E);
    address internal constant PROXY_ADMIN = address(0xAD);
    uint64 internal constant INTERVAL = 10;
    uint32 internal constant RESPONSE_WINDOW = 100;
    /// @dev Response + challenge window fit `blockhash`'s 256 blocks for a checkpoint a few
    ///      blocks old (createNewTask refuses unprovable checkpoints of this chain).
    uint32 internal constant CHALLENGE_WINDOW = 120;
    uint8 internal constant MIN_THRESHOLD = 50;
    uint96 internal constant STAKE = 1 ether;

    MockDelegationManager internal delegation;
    MockAllocationManager internal allocationManager;
    MockPermissionController internal permissionController;
    MockSlasher internal slasher;
    MockRegistryCoordinator internal rc;
    MockStakeRegistry internal stakeReg;
    MockBLSApkRegistry internal apkReg;
    MockIndexRegistry internal indexReg;
    AvsServiceManager internal sm;
    AvsTaskManager internal tm;

    /// @dev Operators registered so far, by number; secret key by operator id.
    address[] internal operators;
    mapping(bytes32 => uint256) internal secretKeyOf;

    function _deployAvs(uint8 quorums) internal {
        vm.roll(1000);
        delegation = new MockDelegationManager();
        // Mainnet's withdrawal delay: the stale-stake rule is on by default.
        delegation.setMinWithdrawalDelayBlocks(50_400);
        allocationManager = new MockAllocationManager();
        permissionController = new MockPermissionController();
        slasher = new MockSlasher();
        rc = new MockRegistryCoordinator(delegation);
        stakeReg = rc.stakes();
        apkReg = rc.apks();
        indexReg = rc.indices();
        for (uint8 i = 0; i < quorums; i++) {
            rc.createQuorum();
        }

        AvsServiceManager smImpl = _serviceManagerImplementation();
        sm = AvsServiceManager(address(new TransparentUpgradeableProxy(address(smImpl), PROXY_ADMIN, "")));
        tm = _deployTaskManager();
        sm.initialize(OWNER, address(tm), false, "ipfs://avs-exex");
        rc.setServiceManager(sm);
        rc.setEjector(address(sm));
        vm.roll(block.number + 1);
    }

    /// @dev A service manager implementation on the fixture's doubles.
    function _serviceManagerImplementation() internal returns (AvsServiceManager) {
        return new AvsServiceManager(
            IAllocationManager(address(allocationManager)),
            IPermissionController(address(permissionController)),
            rc,
            slasher,
            address(stakeReg)
        );
    }

    /// @dev A task manager behind its own proxy on the fixture's registries.
    function _deployTaskManager() internal returns (AvsTaskManager) {
        AvsTaskManager tmImpl = new AvsTaskManager(rc, stakeReg, apkReg, indexReg, delegation, sm);
        address[] memory generators = new address[](1);
        generators[0] = GENERATOR;
        return AvsTaskManager(
            address(
                new TransparentUpgradeableProxy(
                    address(tmImpl),
                    PROXY_ADMIN,
                    abi.encodeCall(AvsTaskManager.initialize, (OWNER, _config(), generators))
                )
            )
        );
    }

    function _config() internal pure returns (IAvsTaskManager.Config memory) {
        return IAvsTaskManager.Config({
            checkpointInterval: INTERVAL,
            responseWindowBlocks: RESPONSE_WINDOW,
            challengeWindowBlocks: CHALLENGE_WINDOW,
            minimumThresholdPercentage: MIN_THRESHOLD,
            openTaskCreation: false
        });
    }

    function _secretKey(uint256 n) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("avs-exex test operator", n))) % BN254.FR_MODULUS;
    }

    function _operatorAddress(uint256 n) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("avs-exex test operator address", n)))));
    }

    function _pubkey(uint256 n) internal view returns (BN254.G1Point memory) {
        return BN254.generatorG1().scalarMul(_secretKey(n));
    }

    /// @dev Registers operators number `from` .. `from + count - 1` into `quorums`.
    function _registerOperators(uint256 from, uint256 count, bytes memory quorums) internal {
        for (uint256 n = from; n < from + count; n++) {
            BN254.G1Point memory pk = _pubkey(n);
            secretKeyOf[pk.hashG1Point()] = _secretKey(n);
            rc.registerOperator(_operatorAddress(n), pk, quorums, STAKE);
            operators.push(_operatorAddress(n));
        }
        vm.roll(block.number + 1);
    }

    function _createTask(uint64 blockNumber, uint32 threshold, bytes memory quorums)
        internal
        returns (IAvsTaskManager.Task memory task, uint32 taskIndex)
    {
        return _createTaskOn(uint64(block.chainid), blockNumber, threshold, quorums);
    }

    function _createTaskOn(uint64 chainId, uint64 blockNumber, uint32 threshold, bytes memory quorums)
        internal
        returns (IAvsTaskManager.Task memory task, uint32 taskIndex)
    {
        vm.prank(GENERATOR);
        taskIndex = tm.createNewTask(chainId, blockNumber, threshold, quorums);
        task = _expectedTask(chainId, blockNumber, threshold, quorums);
    }

    /// @dev The task `createNewTask` makes in this block, with the current windows.
    function _expectedTask(uint64 chainId, uint64 blockNumber, uint32 threshold, bytes memory quorums)
        internal
        view
        returns (IAvsTaskManager.Task memory)
    {
        IAvsTaskManager.Config memory c = tm.config();
        return IAvsTaskManager.Task({
            chainId: chainId,
            blockNumber: blockNumber,
            taskCreatedBlock: uint32(block.number),
            taskCreatedParentHash: blockhash(block.number - 1),
            quorumThresholdPercentage: threshold,
            responseWindowBlocks: c.responseWindowBlocks,
            challengeWindowBlocks: c.challengeWindowBlocks,
            quorumNumbers: quorums
        });
    }

    /// @dev Creates a task for checkpoint (chainId, blockNumber) in `quorums` (threshold 60%),
    ///      has every registered operator but `nonSigners` sign the given roots, and submits the
    ///      response; returns what a challenge of it presents.
    function _finalizeOn(
        uint64 chainId,
        uint64 blockNumber,
        bytes32 blockHash,
        bytes32 stateRoot,
        bytes32 receiptsRoot,
        address[] memory nonSigners,
        bytes memory quorums
    )
        internal
        returns (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory nonSignerPubkeys
        )
    {
        uint32 index;
        (task, index) = _createTaskOn(chainId, blockNumber, 60, quorums);
        vm.roll(block.number + 1);
        response = IAvsTaskManager.TaskResponse(index, blockHash, stateRoot, receiptsRoot);
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), nonSigners);
        tm.respondToTask(task, response, params);
        metadata = IAvsTaskManager.TaskResponseMetadata(
            uint32(block.number), keccak256(abi.encodePacked(task.taskCreatedBlock, _sortedIds(nonSigners)))
        );
        nonSignerPubkeys = params.nonSignerPubkeys;
    }

    function _response(uint32 taskIndex, bytes32 salt)
        internal
        pure
        returns (IAvsTaskManager.TaskResponse memory)
    {
        return IAvsTaskManager.TaskResponse(
            taskIndex,
            keccak256(abi.encode("block", salt)),
            keccak256(abi.encode("state", salt)),
            keccak256(abi.encode("receipts", salt))
        );
    }

    /// @dev Signature by every operator registered in the task's quorums at its creation block
    ///      except the `nonSigners` (operator addresses), with all registry indices filled in.
    function _sign(IAvsTaskManager.Task memory task, bytes32 digest, address[] memory nonSigners)
        internal
        view
        returns (IBLSSignatureChecker.NonSignerStakesAndSignature memory params)
    {
        uint32 ref = task.taskCreatedBlock;
        bytes memory quorums = task.quorumNumbers;
        bytes32[] memory ids = _sortedIds(nonSigners);

        params.nonSignerPubkeys = new BN254.G1Point[](ids.length);
        params.nonSignerQuorumBitmapIndices = new uint32[](ids.length);
        for (uint256 j = 0; j < ids.length; j++) {
            params.nonSignerPubkeys[j] = BN254.generatorG1().scalarMul(secretKeyOf[ids[j]]);
            params.nonSignerQuorumBitmapIndices[j] = rc.bitmapIndexAt(ids[j], ref);
        }
        params.quorumApks = new BN254.G1Point[](quorums.length);
        params.quorumApkIndices = new uint32[](quorums.length);
        params.totalStakeIndices = new uint32[](quorums.length);
        params.nonSignerStakeIndices = new uint32[][](quorums.length);
        uint256 signersKeySum;
        for (uint256 i = 0; i < quorums.length; i++) {
            uint8 q = uint8(quorums[i]);
            (params.quorumApkIndices[i], params.quorumApks[i]) = apkReg.apkAt(q, ref);
            params.totalStakeIndices[i] = stakeReg.totalStakeIndexAt(q, ref);
            params.nonSignerStakeIndices[i] = _stakeIndices(ids, q, ref);
            bytes32[] memory members = indexReg.getOperatorListAtBlockNumber(q, ref);
            for (uint256 m = 0; m < members.length; m++) {
                if (!_contains(ids, members[m])) {
                    signersKeySum = addmod(signersKeySum, secretKeyOf[members[m]], BN254.FR_MODULUS);
                }
            }
        }
        // Nobody signing gives the trivial aggregate: apkG2 and sigma at infinity (zeros).
        if (signersKeySum != 0) {
            params.apkG2 = G2Math.mulGenerator(signersKeySum);
            params.sigma = BN254.hashToG1(digest).scalarMul(signersKeySum);
        }
    }

    function _stakeIndices(bytes32[] memory ids, uint8 q, uint32 ref)
        private
        view
        returns (uint32[] memory out)
    {
        uint256 count;
        out = new uint32[](ids.length);
        for (uint256 j = 0; j < ids.length; j++) {
            if ((rc.bitmapAt(ids[j], ref) >> q) & 1 == 1) {
                out[count++] = stakeReg.stakeIndexAt(ids[j], q, ref);
            }
        }
        assembly ("memory-safe") {
            mstore(out, count)
        }
    }

    function _sortedIds(address[] memory ops) internal view returns (bytes32[] memory ids) {
        ids = new bytes32[](ops.length);
        for (uint256 i = 0; i < ops.length; i++) {
            bytes32 id = rc.getOperatorId(ops[i]);
            uint256 k = i;
            while (k > 0 && uint256(ids[k - 1]) > uint256(id)) {
                ids[k] = ids[k - 1];
                k--;
            }
            ids[k] = id;
        }
    }

    function _contains(bytes32[] memory ids, bytes32 id) private pure returns (bool) {
        for (uint256 i = 0; i < ids.length; i++) {
            if (ids[i] == id) return true;
        }
        return false;
    }

    function _firstOperators(uint256 count) internal view returns (address[] memory out) {
        out = new address[](count);
        for (uint256 i = 0; i < count; i++) {
            out[i] = operators[i];
        }
    }

    function _noOperators() internal pure returns (address[] memory) {
        return new address[](0);
    }

    /// @dev The EIP-712 message operators sign, written out from the type strings here (not
    ///      read from the contract), for task manager `tm`.
    function _digest(IAvsTaskManager.Task memory task, IAvsTaskManager.TaskResponse memory response)
        internal
        view
        returns (bytes32)
    {
        return _digestFor(address(tm), block.chainid, task, response);
    }

    string internal constant TASK_TYPE = "Task(uint64 chainId,uint64 blockNumber,uint32 taskCreatedBlock,"
        "bytes32 taskCreatedParentHash,uint32 quorumThresholdPercentage,uint32 responseWindowBlocks,"
        "uint32 challengeWindowBlocks,bytes quorumNumbers)";

    /// @dev The EIP-712 struct hash of a task, written out from its type string.
    function _taskHash(IAvsTaskManager.Task memory task) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256(bytes(TASK_TYPE)),
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

    function _digestFor(
        address verifyingContract,
        uint256 chainId,
        IAvsTaskManager.Task memory task,
        IAvsTaskManager.TaskResponse memory response
    ) internal pure returns (bytes32) {
        string memory responseType =
            "TaskResponse(uint32 referenceTaskIndex,bytes32 blockHash,bytes32 stateRoot,bytes32 receiptsRoot)";
        bytes32 taskHash = _taskHash(task);
        bytes32 responseHash = keccak256(abi.encode(keccak256(bytes(responseType)), response));
        bytes32 attestation = keccak256(
            abi.encode(
                keccak256(
                    abi.encodePacked("Attestation(Task task,TaskResponse response)", TASK_TYPE, responseType)
                ),
                taskHash,
                responseHash
            )
        );
        bytes32 domain = keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256("avs-exex"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, attestation));
    }

    function _q0() internal pure returns (bytes memory) {
        return hex"00";
    }
}
