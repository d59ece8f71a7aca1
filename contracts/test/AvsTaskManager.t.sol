// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {AvsTaskManager} from "../src/AvsTaskManager.sol";
import {BLSSignatureChecker} from "../src/BLSSignatureChecker.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {IBLSSignatureChecker} from "../src/interfaces/IBLSSignatureChecker.sol";
import {
    IRegistryCoordinator,
    IStakeRegistry,
    IBLSApkRegistry
} from "../src/interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "../src/interfaces/IEigenLayerCore.sol";

contract AvsTaskManagerTest is AvsFixture {
    using BN254 for BN254.G1Point;

    uint64 internal constant CHAIN = 7;

    event NewTaskCreated(uint32 indexed taskIndex, IAvsTaskManager.Task task);
    event ConfigUpdated(IAvsTaskManager.Config oldConfig, IAvsTaskManager.Config newConfig);
    event TaskResponded(
        uint32 indexed taskIndex,
        IAvsTaskManager.TaskResponse taskResponse,
        IAvsTaskManager.TaskResponseMetadata taskResponseMetadata
    );

    function setUp() public {
        _deployAvs(2);
        _registerOperators(0, 6, hex"00");
        _registerOperators(6, 2, hex"0001");
        _registerOperators(8, 2, hex"01");
    }

    // ------------------------------------------------------------- creation

    function testCreateNewTaskStoresHashAndEmits() public {
        IAvsTaskManager.Task memory expected = _expectedTask(CHAIN, 100, 67, hex"00");
        vm.expectEmit(true, false, false, true);
        emit NewTaskCreated(0, expected);
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        assertEq(index, 0, "first task index");
        assertEq(tm.allTaskHashes(0), _taskHash(task), "stored task hash (EIP-712 struct hash)");
        assertEq(tm.taskHash(task), _taskHash(task), "taskHash view");
        assertEq(task.taskCreatedParentHash, blockhash(block.number - 1), "bound to the parent block");
        assertEq(task.responseWindowBlocks, RESPONSE_WINDOW, "response window fixed in the task");
        assertEq(task.challengeWindowBlocks, CHALLENGE_WINDOW, "challenge window fixed in the task");
        assertEq(tm.allTaskResponses(0), bytes32(0), "no response yet");
        (, uint32 second) = _createTaskOn(CHAIN, 110, 67, hex"00");
        assertEq(second, 1, "second task index");
        assertEq(tm.latestTaskNum(), 2, "latestTaskNum");
        IAvsTaskManager.Checkpoint memory c = tm.checkpoint(CHAIN, 110);
        assertEq(uint256(c.status), uint256(IAvsTaskManager.CheckpointStatus.Pending), "pending");
        assertEq(c.taskIndex, 1, "checkpoint task index");
        assertEq(c.stateRoot, bytes32(0), "no roots while pending");
        assertEq(c.challengeDeadline, 0, "no deadline while pending");
        assertEq(
            uint256(tm.checkpoint(CHAIN, 120).status), uint256(IAvsTaskManager.CheckpointStatus.None), "none"
        );
    }

    function testCreateRejectsNonGenerator() public {
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NotTaskGenerator.selector, address(this)));
        tm.createNewTask(CHAIN, 100, 67, hex"00");
    }

    function testOpenTaskCreationAndGeneratorSet() public {
        IAvsTaskManager.Config memory c = _config();
        c.openTaskCreation = true;
        vm.prank(OWNER);
        tm.setConfig(c);
        tm.createNewTask(CHAIN, 100, 67, hex"00");

        c.openTaskCreation = false;
        vm.prank(OWNER);
        tm.setConfig(c);
        vm.prank(OWNER);
        tm.setTaskGenerator(address(this), true);
        tm.createNewTask(CHAIN, 110, 67, hex"00");
        vm.prank(OWNER);
        tm.setTaskGenerator(address(this), false);
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NotTaskGenerator.selector, address(this)));
        tm.createNewTask(CHAIN, 120, 67, hex"00");
    }

    function testCreateRejectsBlockOffInterval() public {
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(IAvsTaskManager.BlockNotOnInterval.selector, uint64(105), INTERVAL)
        );
        tm.createNewTask(CHAIN, 105, 67, hex"00");
    }

    function testCreateRejectsBadThresholds() public {
        uint32[3] memory bad = [uint32(0), 101, MIN_THRESHOLD - 1];
        for (uint256 i = 0; i < bad.length; i++) {
            vm.prank(GENERATOR);
            vm.expectRevert(
                abi.encodeWithSelector(IAvsTaskManager.InvalidThreshold.selector, bad[i], MIN_THRESHOLD)
            );
            tm.createNewTask(CHAIN, 100, bad[i], hex"00");
        }
        vm.prank(GENERATOR);
        tm.createNewTask(CHAIN, 100, 100, hex"00");
        vm.prank(GENERATOR);
        tm.createNewTask(CHAIN, 110, MIN_THRESHOLD, hex"00");
    }

    function testCreateRejectsBadQuorumNumbers() public {
        vm.prank(GENERATOR);
        vm.expectRevert(IBLSSignatureChecker.EmptyQuorumNumbers.selector);
        tm.createNewTask(CHAIN, 100, 67, hex"");
        vm.prank(GENERATOR);
        vm.expectRevert(IBLSSignatureChecker.QuorumNumbersNotSorted.selector);
        tm.createNewTask(CHAIN, 100, 67, hex"0100");
        vm.prank(GENERATOR);
        vm.expectRevert(IBLSSignatureChecker.QuorumNumbersNotSorted.selector);
        tm.createNewTask(CHAIN, 100, 67, hex"0000");
        vm.prank(GENERATOR);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.QuorumDoesNotExist.selector, uint8(2)));
        tm.createNewTask(CHAIN, 100, 67, hex"0002");
    }

    function testOneLiveTaskPerCheckpoint() public {
        (, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointAlreadyTasked.selector, CHAIN, uint64(100), index
            )
        );
        tm.createNewTask(CHAIN, 100, 67, hex"00");
        // Another chain's checkpoint at the same height is independent.
        _createTaskOn(CHAIN + 1, 100, 67, hex"00");
        // Once the first task expired unanswered, the checkpoint can be tasked again.
        vm.roll(block.number + RESPONSE_WINDOW + 1);
        (, uint32 again) = _createTaskOn(CHAIN, 100, 67, hex"00");
        assertEq(again, 2, "re-created task index");
    }

    function testPausedBlocksCreateAndRespond() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();

        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        tm.pause();
        vm.prank(OWNER);
        tm.pause();
        vm.prank(GENERATOR);
        vm.expectRevert(IAvsTaskManager.Paused.selector);
        tm.createNewTask(CHAIN, 110, 67, hex"00");
        vm.expectRevert(IAvsTaskManager.Paused.selector);
        tm.respondToTask(task, response, params);
        vm.prank(OWNER);
        tm.unpause();
        tm.respondToTask(task, response, params);
    }

    // ------------------------------------------------------------- response

    function testRespondFinalizesCheckpoint() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 5);
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        address[] memory nonSigners = _firstOperators(1);
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), nonSigners);

        bytes32[] memory ids = _sortedIds(nonSigners);
        IAvsTaskManager.TaskResponseMetadata memory metadata = IAvsTaskManager.TaskResponseMetadata(
            uint32(block.number), keccak256(abi.encodePacked(task.taskCreatedBlock, ids))
        );
        vm.expectEmit(true, false, false, true);
        emit TaskResponded(index, response, metadata);
        tm.respondToTask(task, response, params);

        assertEq(tm.allTaskResponses(index), keccak256(abi.encode(response, metadata)), "response hash");
        (bytes32 blockHash, bytes32 stateRoot, bytes32 receiptsRoot, uint32 taskIndex, uint32 finalizedAt) =
            tm.finalizedCheckpoint(CHAIN, 100);
        assertEq(blockHash, response.blockHash, "blockHash");
        assertEq(stateRoot, response.stateRoot, "stateRoot");
        assertEq(receiptsRoot, response.receiptsRoot, "receiptsRoot");
        assertEq(taskIndex, index, "taskIndex");
        assertEq(finalizedAt, block.number, "finalizedAt");
        (uint64 latestBlock, bytes32 latestHash,,,,) = tm.latestFinalized(CHAIN);
        assertEq(latestBlock, 100, "latest block");
        assertEq(latestHash, response.blockHash, "latest hash");
        _checkCheckpointView(100, receiptsRoot, block.number + CHALLENGE_WINDOW);
    }

    function _checkCheckpointView(uint64 blockNumber, bytes32 receiptsRoot, uint256 deadline) private view {
        IAvsTaskManager.Checkpoint memory c = tm.checkpoint(CHAIN, blockNumber);
        assertEq(uint256(c.status), uint256(IAvsTaskManager.CheckpointStatus.Finalized), "finalized");
        assertEq(c.receiptsRoot, receiptsRoot, "checkpoint receiptsRoot");
        assertEq(c.challengeDeadline, deadline, "the task's own deadline");
    }

    function testLatestFinalizedTracksHighestBlock() public {
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NoFinalizedCheckpoint.selector, CHAIN));
        tm.latestFinalized(CHAIN);
        (IAvsTaskManager.Task memory t1, uint32 i1) = _createTaskOn(CHAIN, 200, 67, hex"00");
        (IAvsTaskManager.Task memory t2, uint32 i2) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        _respond(t1, _response(i1, "x"), _noOperators());
        _respond(t2, _response(i2, "y"), _noOperators());
        (uint64 latestBlock,,,,,) = tm.latestFinalized(CHAIN);
        assertEq(latestBlock, 200, "an older checkpoint finalized later does not move latest back");
        vm.expectRevert(
            abi.encodeWithSelector(IAvsTaskManager.CheckpointNotFinalized.selector, CHAIN, uint64(300))
        );
        tm.finalizedCheckpoint(CHAIN, 300);
    }

    function testRespondRejectsDuplicate() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        uint32 index = response.referenceTaskIndex;
        tm.respondToTask(task, response, params);
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskAlreadyResponded.selector, index));
        tm.respondToTask(task, response, params);
        // A different (also validly signed) response is refused as well.
        IAvsTaskManager.TaskResponse memory other = _response(index, "b");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory otherParams =
            _sign(task, _digest(task, other), _noOperators());
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskAlreadyResponded.selector, index));
        tm.respondToTask(task, other, otherParams);
    }

    function testRespondRejectsLateResponse() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        vm.roll(block.number + 1);
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _noOperators());
        vm.roll(uint256(task.taskCreatedBlock) + RESPONSE_WINDOW + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.ResponseWindowClosed.selector,
                index,
                uint256(task.taskCreatedBlock) + RESPONSE_WINDOW
            )
        );
        tm.respondToTask(task, response, params);
        // The last block of the window is still accepted.
        vm.roll(uint256(task.taskCreatedBlock) + RESPONSE_WINDOW);
        tm.respondToTask(task, response, params);
    }

    function testRespondRejectsReferenceBlockNotInPast() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        // Parameters are built from history at the creation block, but submitted in that block.
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _noOperators());
        vm.expectRevert(
            abi.encodeWithSelector(
                IBLSSignatureChecker.ReferenceBlockNotInPast.selector, task.taskCreatedBlock, block.number
            )
        );
        tm.respondToTask(task, response, params);
    }

    function testRespondRejectsTamperedTask() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        uint32 index = response.referenceTaskIndex;
        task.quorumThresholdPercentage = 1;
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskMismatch.selector, index));
        tm.respondToTask(task, response, params);
        task.quorumThresholdPercentage = 67;
        response.referenceTaskIndex = index + 1;
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskMismatch.selector, index + 1));
        tm.respondToTask(task, response, params);
    }

    function testRespondRejectsWrongSignature() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        // Signed a different response.
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, _response(index, "b")), _noOperators());
        vm.expectRevert(IBLSSignatureChecker.InvalidSignature.selector);
        tm.respondToTask(task, response, params);
        // Claims operator 0 did not sign, but its key is in the aggregate signature.
        params = _sign(task, _digest(task, response), _noOperators());
        IBLSSignatureChecker.NonSignerStakesAndSignature memory lying =
            _sign(task, _digest(task, response), _firstOperators(1));
        lying.sigma = params.sigma;
        lying.apkG2 = params.apkG2;
        vm.expectRevert(IBLSSignatureChecker.InvalidSignature.selector);
        tm.respondToTask(task, response, lying);
    }

    function testRespondRejectsBelowThreshold() public {
        // Quorum 0 holds operators 0..7 with equal stake: 3 non-signers leave 5/8 = 62.5%.
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _firstOperators(3));
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.QuorumThresholdNotMet.selector, uint8(0), 5 * STAKE, 8 * STAKE
            )
        );
        tm.respondToTask(task, response, params);
        // 2 non-signers: 6/8 = 75% >= 67%.
        tm.respondToTask(task, response, _sign(task, _digest(task, response), _firstOperators(2)));
    }

    function testRespondTwoQuorumsWithNonSignerInBoth() public {
        // Operators 6 and 7 are in both quorums: a non-signer key is subtracted twice.
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 50, hex"0001");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        address[] memory nonSigners = new address[](2);
        nonSigners[0] = operators[6];
        nonSigners[1] = operators[0];
        (IBLSSignatureChecker.QuorumStakeTotals memory totals,) = tm.checkSignatures(
            _digest(task, response),
            hex"0001",
            task.taskCreatedBlock,
            _sign(task, _digest(task, response), nonSigners)
        );
        assertEq(totals.totalStakeForQuorum[0], 8 * STAKE, "quorum 0 total");
        assertEq(totals.signedStakeForQuorum[0], 6 * STAKE, "quorum 0 signed");
        assertEq(totals.totalStakeForQuorum[1], 4 * STAKE, "quorum 1 total");
        assertEq(totals.signedStakeForQuorum[1], 3 * STAKE, "quorum 1 signed");
        tm.respondToTask(task, response, _sign(task, _digest(task, response), nonSigners));
    }

    function testRespondUsesHistoryAtCreationBlock() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        // Registry changes after creation do not affect the check at taskCreatedBlock...
        _registerOperators(10, 1, hex"00");
        rc.deregisterOperator(operators[1], hex"00");
        vm.roll(block.number + 1);
        tm.respondToTask(task, response, params);
    }

    function testRespondRejectsStaleHistoryIndex() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "a");
        // A later APK entry exists for quorum 0 once an operator joins: index 0 is then too old.
        _registerOperators(10, 1, hex"00");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _noOperators());
        params.quorumApkIndices[0] = 0;
        vm.expectRevert(bytes("MockBLSApkRegistry: not latest"));
        tm.respondToTask(task, response, params);
    }

    // -------------------------------------------------- checker rules directly

    function testCheckerRejectsLengthMismatches() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        bytes32 digest = _digest(task, _response(index, "a"));
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, digest, _firstOperators(1));

        IBLSSignatureChecker.NonSignerStakesAndSignature memory p = params;
        p.quorumApks = new BN254.G1Point[](2);
        vm.expectRevert(IBLSSignatureChecker.QuorumLengthMismatch.selector);
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);

        p = _sign(task, digest, _firstOperators(1));
        p.totalStakeIndices = new uint32[](0);
        vm.expectRevert(IBLSSignatureChecker.QuorumLengthMismatch.selector);
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);

        p = _sign(task, digest, _firstOperators(1));
        p.nonSignerStakeIndices = new uint32[][](2);
        vm.expectRevert(IBLSSignatureChecker.QuorumLengthMismatch.selector);
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);

        p = _sign(task, digest, _firstOperators(1));
        p.nonSignerQuorumBitmapIndices = new uint32[](2);
        vm.expectRevert(IBLSSignatureChecker.NonSignerLengthMismatch.selector);
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);

        p = _sign(task, digest, _firstOperators(1));
        p.nonSignerStakeIndices[0] = new uint32[](0);
        vm.expectRevert(
            abi.encodeWithSelector(IBLSSignatureChecker.NonSignerStakeIndicesTooShort.selector, 0)
        );
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);

        vm.expectRevert(IBLSSignatureChecker.EmptyQuorumNumbers.selector);
        tm.checkSignatures(digest, hex"", task.taskCreatedBlock, params);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.QuorumDoesNotExist.selector, uint8(5)));
        tm.checkSignatures(digest, hex"05", task.taskCreatedBlock, params);
    }

    function testCheckerRejectsUnsortedNonSigners() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        bytes32 digest = _digest(task, _response(index, "a"));
        IBLSSignatureChecker.NonSignerStakesAndSignature memory p = _sign(task, digest, _firstOperators(2));
        (p.nonSignerPubkeys[0], p.nonSignerPubkeys[1]) = (p.nonSignerPubkeys[1], p.nonSignerPubkeys[0]);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.NonSignersNotSorted.selector, 1));
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);
        // Duplicates are "not strictly ascending" too.
        p = _sign(task, digest, _firstOperators(2));
        p.nonSignerPubkeys[1] = p.nonSignerPubkeys[0];
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.NonSignersNotSorted.selector, 1));
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);
    }

    function testCheckerRejectsApkMismatch() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        bytes32 digest = _digest(task, _response(index, "a"));
        IBLSSignatureChecker.NonSignerStakesAndSignature memory p = _sign(task, digest, _noOperators());
        p.quorumApks[0] = BN254.generatorG1();
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.QuorumApkMismatch.selector, uint8(0)));
        tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, p);
    }

    function testCheckerReturnsSignatoryRecordHash() public {
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        bytes32 digest = _digest(task, _response(index, "a"));
        address[] memory nonSigners = _firstOperators(3);
        (IBLSSignatureChecker.QuorumStakeTotals memory totals, bytes32 record) =
            tm.checkSignatures(digest, hex"00", task.taskCreatedBlock, _sign(task, digest, nonSigners));
        assertEq(
            record, keccak256(abi.encodePacked(task.taskCreatedBlock, _sortedIds(nonSigners))), "record hash"
        );
        assertEq(totals.signedStakeForQuorum[0], 5 * STAKE, "signed stake");
    }

    function testStaleStakesRule() public {
        assertTrue(tm.staleStakesForbidden(), "on from initialization, as EigenLayer's checker defaults to");
        vm.expectRevert(IBLSSignatureChecker.OnlyCoordinatorOwner.selector);
        vm.prank(OWNER);
        tm.setStaleStakesForbidden(true);
        // The fixture deployed the coordinator double, so this contract is its owner.
        tm.setStaleStakesForbidden(true);
        assertTrue(tm.staleStakesForbidden(), "stale-stake rule on");
        delegation.setMinWithdrawalDelayBlocks(50);

        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        rc.setQuorumUpdateBlockNumber(0, task.taskCreatedBlock - 50);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.StakesStale.selector, uint8(0)));
        tm.respondToTask(task, response, params);
        rc.setQuorumUpdateBlockNumber(0, task.taskCreatedBlock - 49);
        tm.respondToTask(task, response, params);
    }

    function testStaleStakesRuleWithZeroDelay() public {
        // As EigenLayer: with the rule on, a zero withdrawal delay still requires a stake update
        // after the reference block (quorumUpdateBlockNumber + 0 > referenceBlockNumber).
        tm.setStaleStakesForbidden(true);
        delegation.setMinWithdrawalDelayBlocks(0);
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        rc.setQuorumUpdateBlockNumber(0, task.taskCreatedBlock);
        vm.expectRevert(abi.encodeWithSelector(IBLSSignatureChecker.StakesStale.selector, uint8(0)));
        tm.respondToTask(task, response, params);
        rc.setQuorumUpdateBlockNumber(0, task.taskCreatedBlock + 1);
        tm.respondToTask(task, response, params);
    }

    function testTaskIsHashedFromDecodedValues() public {
        // The task is hashed from its decoded fields: a dirty high bit in a field is refused by
        // the decoder, and padding bytes after the quorum numbers do not make another task.
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        ) = _signedTask();
        bytes memory data = abi.encodeCall(AvsTaskManager.respondToTask, (task, response, params));
        uint256 taskStart = 4 + uint256(bytes32(_slice(data, 4)));
        bytes memory dirty = bytes.concat(data);
        // The first byte of the taskCreatedBlock word (a uint32): a dirty high bit.
        dirty[taskStart + 0x40] = 0x01;
        (bool ok,) = address(tm).call(dirty);
        assertFalse(ok, "dirty field refused");
        // The first padding byte after the single quorum number (head: 8 words, then length).
        data[taskStart + 0x120 + 1] = 0x01;
        (ok,) = address(tm).call(data);
        assertTrue(ok, "padding is not part of the task");
    }

    function testAssemblySelectorsMatchDeclarations() public {
        SelectorHarness h = new SelectorHarness();
        h.check();
    }

    /// Checkpoint 100 of `CHAIN` tasked in quorum 0, one block later, with response "a" signed by
    /// every operator: the starting point of most response tests.
    function _signedTask()
        private
        returns (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IBLSSignatureChecker.NonSignerStakesAndSignature memory params
        )
    {
        uint32 index;
        (task, index) = _createTaskOn(CHAIN, 100, 67, hex"00");
        vm.roll(block.number + 1);
        response = _response(index, "a");
        params = _sign(task, _digest(task, response), _noOperators());
    }

    function _slice(bytes memory data, uint256 at) internal pure returns (bytes32 word) {
        assembly ("memory-safe") {
            word := mload(add(add(data, 0x20), at))
        }
    }

    // ------------------------------------------------------------- admin

    function testConfigOnlyOwnerAndValidated() public {
        IAvsTaskManager.Config memory c = _config();
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        tm.setConfig(c);
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        tm.setTaskGenerator(address(this), true);

        // Every field is bounded, and the error names the field and its range.
        IAvsTaskManager.Config[] memory bad = new IAvsTaskManager.Config[](8);
        string[8] memory reasons = [
            "checkpointInterval: at least 1",
            "minimumThresholdPercentage: 1 to 100",
            "minimumThresholdPercentage: 1 to 100",
            "responseWindowBlocks: 10 to 16777215 blocks",
            "responseWindowBlocks: 10 to 16777215 blocks",
            "challengeWindowBlocks: at least 10 blocks",
            "challengeWindowBlocks: at least 10 blocks",
            "responseWindowBlocks + challengeWindowBlocks: below the slashable window"
        ];
        for (uint256 i = 0; i < bad.length; i++) {
            bad[i] = _config();
        }
        bad[0].checkpointInterval = 0;
        bad[1].minimumThresholdPercentage = 0;
        bad[2].minimumThresholdPercentage = 101;
        bad[3].responseWindowBlocks = tm.MIN_RESPONSE_WINDOW_BLOCKS() - 1;
        bad[4].responseWindowBlocks = uint32(type(uint24).max) + 1;
        bad[5].challengeWindowBlocks = 0;
        bad[6].challengeWindowBlocks = tm.MIN_CHALLENGE_WINDOW_BLOCKS() - 1;
        // A signer that leaves right after signing must still be slashable when the challenge lands.
        bad[7].challengeWindowBlocks = uint32(sm.slashableWindowBlocks()) - bad[7].responseWindowBlocks;
        vm.startPrank(OWNER);
        for (uint256 i = 0; i < bad.length; i++) {
            vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.InvalidConfig.selector, reasons[i]));
            tm.setConfig(bad[i]);
        }
        // The bounds themselves are accepted; the event carries the old and the new values.
        IAvsTaskManager.Config memory old = tm.config();
        c.challengeWindowBlocks = tm.MIN_CHALLENGE_WINDOW_BLOCKS();
        c.responseWindowBlocks = uint32(sm.slashableWindowBlocks()) - c.challengeWindowBlocks - 1;
        c.minimumThresholdPercentage = 100;
        vm.expectEmit(false, false, false, true);
        emit ConfigUpdated(old, c);
        tm.setConfig(c);
        vm.stopPrank();
        assertEq(tm.config().challengeWindowBlocks, 10, "config stored");
    }

    function testAtMostEightDistinctIntervals() public {
        IAvsTaskManager.Config memory c = _config();
        vm.startPrank(OWNER);
        // INTERVAL is the first; seven more distinct ones fit, repeats cost nothing.
        for (uint64 i = 1; i <= 7; i++) {
            c.checkpointInterval = INTERVAL + i;
            tm.setConfig(c);
            tm.setConfig(c);
        }
        c.checkpointInterval = INTERVAL;
        tm.setConfig(c);
        c.checkpointInterval = 1000;
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.InvalidConfig.selector, "checkpointInterval: at most 8 distinct intervals"
            )
        );
        tm.setConfig(c);
        vm.stopPrank();
    }

    function testInitializersLocked() public {
        IAvsTaskManager.Config memory c = _config();
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        tm.initialize(address(this), c, new address[](0));
        AvsTaskManager impl = new AvsTaskManager(rc, stakeReg, apkReg, indexReg, delegation, sm);
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        impl.initialize(address(this), c, new address[](0));
    }

    function _respond(
        IAvsTaskManager.Task memory task,
        IAvsTaskManager.TaskResponse memory response,
        address[] memory nonSigners
    ) internal {
        tm.respondToTask(task, response, _sign(task, _digest(task, response), nonSigners));
    }
}

/// @dev Exposes BLSSignatureChecker's assembly selector constants to compare them with the
///      declarations they stand for.
contract SelectorHarness is BLSSignatureChecker {
    constructor()
        BLSSignatureChecker(
            IRegistryCoordinator(address(1)),
            IStakeRegistry(address(2)),
            IBLSApkRegistry(address(3)),
            IDelegationManager(address(4))
        )
    {}

    function check() external pure {
        _eq(GET_QUORUM_BITMAP_SELECTOR, IRegistryCoordinator.getQuorumBitmapAtBlockNumberByIndex.selector);
        _eq(GET_APK_HASH_SELECTOR, IBLSApkRegistry.getApkHashAtBlockNumberAndIndex.selector);
        _eq(GET_TOTAL_STAKE_SELECTOR, IStakeRegistry.getTotalStakeAtBlockNumberFromIndex.selector);
        _eq(GET_STAKE_SELECTOR, IStakeRegistry.getStakeAtBlockNumberAndIndex.selector);
        _eq(EMPTY_QUORUM_NUMBERS_SELECTOR, IBLSSignatureChecker.EmptyQuorumNumbers.selector);
        _eq(QUORUM_LENGTH_MISMATCH_SELECTOR, IBLSSignatureChecker.QuorumLengthMismatch.selector);
        _eq(NON_SIGNER_LENGTH_MISMATCH_SELECTOR, IBLSSignatureChecker.NonSignerLengthMismatch.selector);
        _eq(QUORUM_NUMBERS_NOT_SORTED_SELECTOR, IBLSSignatureChecker.QuorumNumbersNotSorted.selector);
        _eq(NON_SIGNERS_NOT_SORTED_SELECTOR, IBLSSignatureChecker.NonSignersNotSorted.selector);
        _eq(
            NON_SIGNER_STAKE_INDICES_TOO_SHORT_SELECTOR,
            IBLSSignatureChecker.NonSignerStakeIndicesTooShort.selector
        );
        _eq(QUORUM_APK_MISMATCH_SELECTOR, IBLSSignatureChecker.QuorumApkMismatch.selector);
        _eq(REGISTRY_CALL_FAILED_SELECTOR, IBLSSignatureChecker.RegistryCallFailed.selector);
        _eq(PRECOMPILE_FAILED_SELECTOR, BN254.PrecompileFailed.selector);
        _eq(REFERENCE_BLOCK_NOT_IN_PAST_SELECTOR, IBLSSignatureChecker.ReferenceBlockNotInPast.selector);
        require(FP == BN254.FP_MODULUS, "FP");
    }

    function _eq(uint256 constant_, bytes4 selector) private pure {
        require(constant_ == uint32(selector), "selector constant differs from its declaration");
    }
}
