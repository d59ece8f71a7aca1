// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {HistoryStorageDouble} from "./mocks/HistoryStorageDouble.sol";
import {AvsTaskManager} from "../src/AvsTaskManager.sol";
import {AvsServiceManager} from "../src/AvsServiceManager.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {IBLSSignatureChecker} from "../src/interfaces/IBLSSignatureChecker.sol";

/// @notice What a signature commits to, and the rules that keep an honest signer unpunishable:
///         the EIP-712 domain, the fork binding, empty quorums, provable checkpoints, windows
///         fixed per task, interval changes and two-step ownership. Each attack is written as it
///         would be tried, and must revert.
contract SigningSafetyTest is AvsFixture {
    uint64 internal constant CHAIN = 7;

    function setUp() public {
        // Quorum 0 holds four operators; quorum 1 exists but nobody ever registered in it.
        _deployAvs(2);
        _registerOperators(0, 4, hex"00");
    }

    function _signed(IAvsTaskManager.Task memory task, uint32 index, bytes32 salt)
        internal
        view
        returns (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        )
    {
        response = _response(index, salt);
        params = _sign(task, _digest(task, response), _noOperators());
    }

    // ------------------------------------------------------------- domain

    function testDigestIsTheEip712HashOfTaskAndResponse() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        assertEq(tm.attestationDigest(task, response), _digest(task, response), "EIP-712 digest");
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            tm.eip712Domain();
        assertEq(keccak256(bytes(name)), keccak256("avs-exex"), "domain name");
        assertEq(keccak256(bytes(version)), keccak256("1"), "domain version");
        assertEq(chainId, block.chainid, "domain chain id");
        assertEq(verifyingContract, address(tm), "domain contract is the proxy");
        // Every field of the task is signed.
        bytes32 digest = _digest(task, response);
        IAvsTaskManager.Task[8] memory changed;
        for (uint256 i = 0; i < changed.length; i++) {
            changed[i] = _copy(task);
        }
        changed[0].chainId++;
        changed[1].blockNumber++;
        changed[2].taskCreatedBlock++;
        changed[3].taskCreatedParentHash = keccak256("another fork");
        changed[4].quorumThresholdPercentage++;
        changed[5].responseWindowBlocks++;
        changed[6].challengeWindowBlocks++;
        changed[7].quorumNumbers = hex"01";
        for (uint256 i = 0; i < changed.length; i++) {
            assertTrue(tm.attestationDigest(changed[i], response) != digest, "field is signed");
        }
    }

    function _copy(IAvsTaskManager.Task memory task) internal pure returns (IAvsTaskManager.Task memory) {
        return abi.decode(abi.encode(task), (IAvsTaskManager.Task));
    }

    function testSignaturesDoNotReplayOnAnotherDeployment() public {
        AvsTaskManager other = _deployTaskManager();
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        // The same task, index and block on the second deployment (same registries, same keys).
        vm.prank(GENERATOR);
        assertEq(other.createNewTask(CHAIN, 100, 67, hex"00"), index, "same index");
        assertEq(other.allTaskHashes(index), tm.allTaskHashes(index), "identical task");
        vm.roll(block.number + 1);
        (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signed(task, index, "a");
        vm.expectRevert(IBLSSignatureChecker.InvalidSignature.selector);
        other.respondToTask(task, response, params);
        tm.respondToTask(task, response, params);
    }

    function testSignaturesDoNotReplayOnAnotherChain() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signed(task, index, "a");
        uint256 home = block.chainid;
        vm.chainId(home + 1);
        vm.expectRevert(IBLSSignatureChecker.InvalidSignature.selector);
        tm.respondToTask(task, response, params);
        vm.chainId(home);
        tm.respondToTask(task, response, params);
    }

    // ------------------------------------------------------------- reorgs

    /// A settlement reorg drops the creation of task 0; index 0 is created again on the new
    /// branch, for another checkpoint or for the same one after its parent block changed. The
    /// old branch's aggregate must not answer it (and so no challenge can freeze its signers).
    function testOldBranchAggregateDoesNotAnswerARecreatedTask() public {
        uint256 beforeCreation = vm.snapshotState();
        (IAvsTaskManager.Task memory oldTask, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        (
            IAvsTaskManager.TaskResponse memory oldResponse,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory oldParams
        ) = _signed(oldTask, index, "old branch");

        for (uint256 variant = 0; variant < 2; variant++) {
            assertTrue(vm.revertToState(beforeCreation), "reorg");
            beforeCreation = vm.snapshotState();
            // The new branch: another parent block below the creation block.
            vm.setBlockhash(block.number - 1, keccak256(abi.encode("new branch", variant)));
            uint64 checkpoint = variant == 0 ? 110 : 100;
            (IAvsTaskManager.Task memory newTask, uint32 newIndex) =
                _createTaskOn(CHAIN, checkpoint, 67, hex"00");
            assertEq(newIndex, index, "index re-created");
            assertTrue(tm.allTaskHashes(index) != _taskHash(oldTask), "another task");
            vm.roll(block.number + 1);
            vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskMismatch.selector, index));
            tm.respondToTask(oldTask, oldResponse, oldParams);
            vm.expectRevert(IBLSSignatureChecker.InvalidSignature.selector);
            tm.respondToTask(newTask, oldResponse, oldParams);
            (
                IAvsTaskManager.TaskResponse memory response,
                IBLSSignatureChecker.NonSignerStakesAndSignature memory params
            ) = _signed(newTask, index, "new branch");
            tm.respondToTask(newTask, response, params);
        }
    }

    // ------------------------------------------------------------- empty quorums

    function testZeroSignedStakeNeverPasses() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 50, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "nobody");
        bytes32 digest = _digest(task, response);
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, digest, _firstOperators(4));
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.NoSignedStake.selector, uint8(0)));
        tm.respondToTask(task, response, params);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.NoSignedStake.selector, uint8(0)));
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, params);
    }

    function testQuorumEmptiedByEjectionNeverPasses() public {
        // Everybody leaves quorum 0 (as after a challenge that froze every signer). Its APK is
        // then the point at infinity, so the trivial aggregate (APK 0, signature 0) matches the
        // registry and satisfies the pairing, and 0 * 100 >= 0 * threshold: without the rule
        // anyone could finalize anything, and challenging it would freeze nobody.
        for (uint256 i = 0; i < operators.length; i++) {
            rc.deregisterOperator(operators[i], hex"00");
        }
        vm.roll(block.number + 1);
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signed(task, index, "forged");
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.QuorumHasNoStake.selector, uint8(0)));
        tm.respondToTask(task, response, params);
        bytes32 digest = _digest(task, response);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.QuorumHasNoStake.selector, uint8(0)));
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, params);
    }

    // ------------------------------------------------------------- provable checkpoints

    function testUnprovableCheckpointOfThisChainIsRefused() public {
        uint64 checkpoint = uint64(block.number - 10);
        checkpoint -= checkpoint % INTERVAL;
        uint256 windows = RESPONSE_WINDOW + CHALLENGE_WINDOW;
        // Without EIP-2935 the hash is readable for 256 blocks: the last block at which the
        // checkpoint can still be tasked is checkpoint + 256 - windows.
        vm.roll(uint256(checkpoint) + 256 - windows + 1);
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointNotProvable.selector,
                checkpoint,
                uint256(checkpoint) + 257,
                uint256(checkpoint) + 256
            )
        );
        tm.createNewTask(uint64(block.chainid), checkpoint, 67, hex"00");
        // Another chain's checkpoint cannot be challenged here anyway (documented).
        _createTaskOn(CHAIN, checkpoint, 67, hex"00");

        vm.roll(uint256(checkpoint) + 256 - windows);
        _createTask(checkpoint, 67, hex"00");
    }

    function testHistoryContractExtendsTheProvableRangeOnlyForBlocksItServes() public {
        vm.etch(tm.HISTORY_STORAGE_ADDRESS(), address(new HistoryStorageDouble()).code);
        HistoryStorageDouble history = HistoryStorageDouble(payable(tm.HISTORY_STORAGE_ADDRESS()));
        uint64 checkpoint = uint64(block.number - 10);
        checkpoint -= checkpoint % INTERVAL;
        uint256 windows = RESPONSE_WINDOW + CHALLENGE_WINDOW;
        // The history serves the checkpoint: its hash stays readable for 8,191 blocks.
        history.set(checkpoint, keccak256("checkpoint"));
        vm.roll(uint256(checkpoint) + 8191 - windows);
        _createTask(checkpoint, 67, hex"00");

        vm.roll(block.number + INTERVAL + 1);
        uint64 later = checkpoint + INTERVAL;
        history.set(later, keccak256("later"));
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointNotProvable.selector,
                later,
                block.number + windows,
                uint256(later) + 8191
            )
        );
        tm.createNewTask(uint64(block.chainid), later, 67, hex"00");

        // Code that does not serve the block (deployed before the fork that fills it, or the
        // block predates that fork): only `blockhash`'s 256 blocks count.
        uint64 unserved = later + INTERVAL;
        vm.roll(uint256(unserved) + 256 - windows + 1);
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointNotProvable.selector,
                unserved,
                block.number + windows,
                uint256(unserved) + 256
            )
        );
        tm.createNewTask(uint64(block.chainid), unserved, 67, hex"00");
        vm.roll(block.number - 1);
        _createTask(unserved, 67, hex"00");
    }

    // ------------------------------------------------------------- windows per task

    function testShortenedResponseWindowDoesNotShortenCreatedTasks() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        IAvsTaskManager.Config memory c = _config();
        c.responseWindowBlocks = tm.MIN_RESPONSE_WINDOW_BLOCKS();
        vm.prank(OWNER);
        tm.setConfig(c);
        vm.roll(task.taskCreatedBlock + RESPONSE_WINDOW);
        // The checkpoint stays tasked for the task's own window, not the new one.
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointAlreadyTasked.selector, CHAIN, uint64(100), index
            )
        );
        tm.createNewTask(CHAIN, 100, 67, hex"00");
        (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signed(task, index, "a");
        tm.respondToTask(task, response, params);
        (,,,, uint32 finalizedAt) = tm.finalizedCheckpoint(CHAIN, 100);
        assertEq(finalizedAt, task.taskCreatedBlock + RESPONSE_WINDOW, "answered in the task's window");

        // A task created after the change gets the new window.
        (IAvsTaskManager.Task memory next,) = _createTaskOn(CHAIN, 110, 67, hex"00");
        assertEq(next.responseWindowBlocks, tm.MIN_RESPONSE_WINDOW_BLOCKS(), "new window for new tasks");
        assertEq(tm.allTaskHashes(1), _taskHash(next), "hash with the new window");
    }

    // ------------------------------------------------------------- latestFinalized

    function _finalize(uint64 checkpoint) internal {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, checkpoint, 67, hex"00");
        vm.roll(block.number + 1);
        (
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signed(task, index, bytes32(uint256(checkpoint)));
        tm.respondToTask(task, response, params);
    }

    function _setInterval(uint64 interval) internal {
        IAvsTaskManager.Config memory c = _config();
        c.checkpointInterval = interval;
        vm.prank(OWNER);
        tm.setConfig(c);
    }

    function testLatestFinalizedAcrossIntervalChanges() public {
        _finalize(100);
        _setInterval(15);
        // 105 is on the new grid only; it stays pending. 100 is on the old grid only.
        _createTaskOn(CHAIN, 105, 67, hex"00");
        (uint64 latest,,,,,) = tm.latestFinalized(CHAIN);
        assertEq(latest, 100, "checkpoint of the old interval found");
        _finalize(120);
        _setInterval(7);
        _createTaskOn(CHAIN, 126, 67, hex"00");
        (latest,,,,,) = tm.latestFinalized(CHAIN);
        assertEq(latest, 120, "highest finalized over every grid");
        (bytes32 blockHash,,, uint32 taskIndex,) = tm.finalizedCheckpoint(CHAIN, 100);
        assertEq(taskIndex, 0, "old checkpoint still readable");
        assertEq(blockHash, _response(0, bytes32(uint256(100))).blockHash, "its roots");
    }

    // ------------------------------------------------------------- ownership

    function testOwnershipTransfersInTwoSteps() public {
        address next = address(0xB0B);
        AvsServiceManager smProxy = sm;
        address[2] memory owned = [address(tm), address(smProxy)];
        for (uint256 i = 0; i < owned.length; i++) {
            Ownable2Step target = Ownable2Step(owned[i]);
            vm.expectRevert(bytes("Ownable: caller is not the owner"));
            target.transferOwnership(next);
            vm.prank(OWNER);
            target.transferOwnership(next);
            assertEq(target.owner(), OWNER, "owner unchanged until accepted");
            assertEq(target.pendingOwner(), next, "pending owner");
            vm.expectRevert(bytes("Ownable2Step: caller is not the new owner"));
            target.acceptOwnership();
            vm.prank(next);
            target.acceptOwnership();
            assertEq(target.owner(), next, "new owner after acceptance");
            assertEq(target.pendingOwner(), address(0), "no pending owner left");
        }
    }
}

/// @dev OpenZeppelin's two-step ownership functions, as both managers expose them.
interface Ownable2Step {
    function owner() external view returns (address);
    function pendingOwner() external view returns (address);
    function transferOwnership(address newOwner) external;
    function acceptOwnership() external;
}
