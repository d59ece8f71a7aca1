// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {HistoryStorageDouble} from "./mocks/HistoryStorageDouble.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {HeaderRlp} from "../src/libraries/HeaderRlp.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {IBLSSignatureChecker} from "../src/interfaces/IBLSSignatureChecker.sol";

/// @dev External wrapper so the library's reverts can be expected.
contract HeaderRlpHarness {
    function roots(bytes calldata header) external pure returns (bytes32, bytes32) {
        return HeaderRlp.roots(header);
    }
}

contract ChallengeTest is AvsFixture {
    using BN254 for BN254.G1Point;

    event TaskChallengedSuccessfully(
        uint32 indexed taskIndex,
        address indexed challenger,
        IAvsTaskManager.ChallengeReason reason,
        address[] frozenOperators
    );

    bytes32 internal constant STATE = keccak256("true state root");
    bytes32 internal constant RECEIPTS = keccak256("true receipts root");
    uint64 internal constant CHECKPOINT = 990;

    bytes internal header;
    bytes32 internal headerHash;

    function setUp() public {
        _deployAvs(2);
        _registerOperators(0, 4, hex"00");
        _registerOperators(4, 1, hex"0001");
        header = _header(STATE, RECEIPTS);
        headerHash = keccak256(header);
        vm.setBlockhash(CHECKPOINT, headerHash);
    }

    /// @dev An RLP header list: parentHash, ommersHash, beneficiary, stateRoot, transactionsRoot,
    ///      receiptsRoot, logsBloom, difficulty, number.
    function _header(bytes32 stateRoot, bytes32 receiptsRoot) internal pure returns (bytes memory) {
        bytes memory payload = abi.encodePacked(
            bytes1(0xa0),
            keccak256("parent"),
            bytes1(0xa0),
            keccak256("ommers"),
            bytes1(0x94),
            address(0xC0FFEE)
        );
        payload = abi.encodePacked(
            payload, bytes1(0xa0), stateRoot, bytes1(0xa0), keccak256("txs"), bytes1(0xa0), receiptsRoot
        );
        payload = abi.encodePacked(payload, hex"b90100", new bytes(256), hex"80", hex"8203de");
        return abi.encodePacked(hex"f9", uint16(payload.length), payload);
    }

    /// @dev Creates, signs (all but `nonSigners`) and submits a response for CHECKPOINT.
    function _finalize(
        bytes32 blockHash,
        bytes32 stateRoot,
        bytes32 receiptsRoot,
        address[] memory nonSigners
    )
        internal
        returns (
            IAvsTaskManager.Task memory,
            IAvsTaskManager.TaskResponse memory,
            IAvsTaskManager.TaskResponseMetadata memory,
            BN254.G1Point[] memory
        )
    {
        return _finalizeOn(
            uint64(block.chainid), CHECKPOINT, blockHash, stateRoot, receiptsRoot, nonSigners, hex"0001"
        );
    }

    function testWrongBlockHashFreezesSigners() public {
        address[] memory nonSigners = _firstOperators(1);
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(keccak256("forged block"), STATE, RECEIPTS, nonSigners);

        address[] memory expectedFrozen = new address[](4);
        for (uint256 i = 0; i < 4; i++) {
            expectedFrozen[i] = operators[i + 1];
        }
        vm.expectEmit(true, true, false, true);
        emit TaskChallengedSuccessfully(
            response.referenceTaskIndex,
            address(this),
            IAvsTaskManager.ChallengeReason.BlockHash,
            expectedFrozen
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");

        assertFalse(sm.frozen(operators[0]), "the non-signer is not frozen");
        for (uint256 i = 1; i < 5; i++) {
            assertTrue(sm.frozen(operators[i]), "every signer is frozen");
        }
        // Operator 4 signed in two quorums and is frozen (and listed) once.
        IAvsTaskManager.Checkpoint memory c = tm.checkpoint(uint64(block.chainid), CHECKPOINT);
        assertEq(uint256(c.status), uint256(IAvsTaskManager.CheckpointStatus.Invalidated), "invalidated");
        assertEq(c.blockHash, response.blockHash, "the disproven roots stay readable");
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointNotFinalized.selector, uint64(block.chainid), CHECKPOINT
            )
        );
        tm.finalizedCheckpoint(uint64(block.chainid), CHECKPOINT);
        vm.expectRevert(
            abi.encodeWithSelector(IAvsTaskManager.NoFinalizedCheckpoint.selector, uint64(block.chainid))
        );
        tm.latestFinalized(uint64(block.chainid));

        // A second challenge of the same response fails; the checkpoint can be tasked again.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.CheckpointNotFinalized.selector, uint64(block.chainid), CHECKPOINT
            )
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
        _createTask(CHECKPOINT, 60, hex"00");
    }

    function testWrongStateRootProvenByHeader() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(headerHash, keccak256("forged state"), RECEIPTS, _noOperators());
        vm.expectRevert(IAvsTaskManager.HeaderRequired.selector);
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
        bytes memory otherHeader = _header(keccak256("forged state"), RECEIPTS);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.HeaderHashMismatch.selector, headerHash, keccak256(otherHeader)
            )
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, otherHeader);

        vm.expectEmit(true, true, false, false);
        emit TaskChallengedSuccessfully(
            response.referenceTaskIndex,
            address(this),
            IAvsTaskManager.ChallengeReason.StateRoot,
            new address[](0)
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, header);
        for (uint256 i = 0; i < 5; i++) {
            assertTrue(sm.frozen(operators[i]), "every signer is frozen");
        }
    }

    function testWrongReceiptsRootProvenByHeader() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(headerHash, STATE, keccak256("forged receipts"), _noOperators());
        vm.expectEmit(true, true, false, false);
        emit TaskChallengedSuccessfully(
            response.referenceTaskIndex,
            address(this),
            IAvsTaskManager.ChallengeReason.ReceiptsRoot,
            new address[](0)
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, header);
    }

    function testChallengeOfCorrectResponseFails() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(headerHash, STATE, RECEIPTS, _firstOperators(1));
        vm.expectRevert(
            abi.encodeWithSelector(IAvsTaskManager.ResponseIsCorrect.selector, response.referenceTaskIndex)
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, header);
        assertFalse(sm.frozen(operators[1]), "nobody frozen");
        (bytes32 blockHash,,,,) = tm.finalizedCheckpoint(uint64(block.chainid), CHECKPOINT);
        assertEq(blockHash, headerHash, "checkpoint stays finalized");
    }

    function testChallengeAfterWindowFails() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(keccak256("forged block"), STATE, RECEIPTS, _noOperators());
        uint256 deadline = uint256(metadata.taskRespondedBlock) + CHALLENGE_WINDOW;
        vm.roll(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.ChallengeWindowClosed.selector, response.referenceTaskIndex, deadline
            )
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
    }

    function testChallengeWindowIsTheTasksOwn() public {
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(keccak256("forged block"), STATE, RECEIPTS, _noOperators());
        uint256 deadline = uint256(metadata.taskRespondedBlock) + CHALLENGE_WINDOW;
        uint256 snapshot = vm.snapshotState();
        // Shortening the window after the response does not shorten this task's deadline ...
        IAvsTaskManager.Config memory c = _config();
        c.challengeWindowBlocks = tm.MIN_CHALLENGE_WINDOW_BLOCKS();
        vm.prank(OWNER);
        tm.setConfig(c);
        vm.roll(deadline);
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
        assertTrue(sm.frozen(operators[0]), "frozen at the task's own deadline");
        // ... and lengthening it does not extend it.
        vm.revertToState(snapshot);
        c.challengeWindowBlocks = CHALLENGE_WINDOW * 2;
        vm.prank(OWNER);
        tm.setConfig(c);
        vm.roll(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAvsTaskManager.ChallengeWindowClosed.selector, response.referenceTaskIndex, deadline
            )
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
    }

    function testChallengeNeedsMatchingRecords() public {
        address[] memory nonSigners = _firstOperators(2);
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(keccak256("forged block"), STATE, RECEIPTS, nonSigners);
        uint32 index = response.referenceTaskIndex;

        // Hiding a non-signer would freeze an honest operator: refused.
        BN254.G1Point[] memory fewer = new BN254.G1Point[](1);
        fewer[0] = pks[0];
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NonSignersMismatch.selector, index));
        tm.raiseAndResolveChallenge(task, response, metadata, fewer, "");

        IAvsTaskManager.TaskResponseMetadata memory otherMetadata = metadata;
        otherMetadata.taskRespondedBlock += 1;
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.ResponseMismatch.selector, index));
        tm.raiseAndResolveChallenge(task, response, otherMetadata, pks, "");
        otherMetadata.taskRespondedBlock -= 1;

        IAvsTaskManager.TaskResponse memory otherResponse = response;
        otherResponse.stateRoot = bytes32(uint256(1));
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.ResponseMismatch.selector, index));
        tm.raiseAndResolveChallenge(task, otherResponse, metadata, pks, "");
        otherResponse.stateRoot = STATE;

        task.quorumThresholdPercentage += 1;
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskMismatch.selector, index));
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
    }

    function testOnlyThisChainsCheckpoints() public {
        uint64 otherChain = uint64(block.chainid) + 1;
        (IAvsTaskManager.Task memory task, uint32 index) = _createTaskOn(otherChain, CHECKPOINT, 60, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response = _response(index, "x");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _noOperators());
        tm.respondToTask(task, response, params);
        IAvsTaskManager.TaskResponseMetadata memory metadata = IAvsTaskManager.TaskResponseMetadata(
            uint32(block.number), keccak256(abi.encodePacked(task.taskCreatedBlock))
        );
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NotThisChain.selector, otherChain));
        tm.raiseAndResolveChallenge(task, response, metadata, params.nonSignerPubkeys, "");
    }

    function testOldBlockUsesHistoryContract() public {
        // With EIP-2935's contract serving the checkpoint, it stays provable for 8,191 blocks, so
        // a challenge window beyond `blockhash`'s reach is accepted at creation.
        vm.etch(tm.HISTORY_STORAGE_ADDRESS(), address(new HistoryStorageDouble()).code);
        HistoryStorageDouble history = HistoryStorageDouble(payable(tm.HISTORY_STORAGE_ADDRESS()));
        history.set(CHECKPOINT, headerHash);
        IAvsTaskManager.Config memory c = _config();
        c.challengeWindowBlocks = 1000;
        vm.prank(OWNER);
        tm.setConfig(c);
        // Move the checkpoint out of BLOCKHASH's 256-block reach.
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalize(headerHash, keccak256("forged state"), RECEIPTS, _noOperators());
        vm.roll(uint256(CHECKPOINT) + 300);
        vm.setBlockhash(CHECKPOINT, bytes32(0));
        // Neither source knows the block: the challenge cannot be judged.
        history.set(CHECKPOINT, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.BlockHashUnavailable.selector, CHECKPOINT));
        tm.raiseAndResolveChallenge(task, response, metadata, pks, header);

        history.set(CHECKPOINT, headerHash);
        tm.raiseAndResolveChallenge(task, response, metadata, pks, header);
        assertTrue(sm.frozen(operators[0]), "signer frozen via EIP-2935 hash");
    }

    function testFutureBlocksOfThisChainCannotBeTasked() public {
        uint64 future = uint64(block.number + INTERVAL);
        future -= future % INTERVAL;
        vm.prank(GENERATOR);
        vm.expectRevert(
            abi.encodeWithSelector(IAvsTaskManager.BlockNotYetMined.selector, future, block.number)
        );
        tm.createNewTask(uint64(block.chainid), future, 60, hex"00");
        // Another chain's future is not this contract's to judge.
        _createTaskOn(uint64(block.chainid) + 1, future, 60, hex"00");
    }

    // -------------------------------------------------------------- RLP

    function testHeaderRlpReadsRoots() public {
        HeaderRlpHarness h = new HeaderRlpHarness();
        (bytes32 s, bytes32 r) = h.roots(header);
        assertEq(s, STATE, "stateRoot");
        assertEq(r, RECEIPTS, "receiptsRoot");
    }

    /// @dev Any input either parses or reverts with MalformedHeader: never a panic or an
    ///      out-of-bounds read.
    function testFuzzHeaderRlpOnlyFailsCleanly(bytes calldata input) public {
        HeaderRlpHarness h = new HeaderRlpHarness();
        try h.roots(input) {}
        catch (bytes memory reason) {
            assertEq(bytes32(reason), bytes32(HeaderRlp.MalformedHeader.selector), "only MalformedHeader");
        }
    }

    /// @dev Corrupt one byte of a valid header and cut it short: still parses or fails cleanly.
    function testFuzzMutatedHeaderFailsCleanly(uint256 position, bytes1 value, uint256 length) public {
        HeaderRlpHarness h = new HeaderRlpHarness();
        bytes memory mutated = _header(keccak256("s"), keccak256("r"));
        mutated[position % mutated.length] = value;
        length = length % (mutated.length + 1);
        assembly ("memory-safe") {
            mstore(mutated, length)
        }
        try h.roots(mutated) {}
        catch (bytes memory reason) {
            assertEq(bytes32(reason), bytes32(HeaderRlp.MalformedHeader.selector), "only MalformedHeader");
        }
    }

    function testFuzzHeaderRlpRoundTrip(bytes32 stateRoot, bytes32 receiptsRoot) public {
        HeaderRlpHarness h = new HeaderRlpHarness();
        (bytes32 s, bytes32 r) = h.roots(_header(stateRoot, receiptsRoot));
        assertEq(s, stateRoot, "stateRoot");
        assertEq(r, receiptsRoot, "receiptsRoot");
    }

    function testHeaderRlpRejectsMalformed() public {
        HeaderRlpHarness h = new HeaderRlpHarness();
        bytes memory truncated = new bytes(header.length - 1);
        for (uint256 i = 0; i < truncated.length; i++) {
            truncated[i] = header[i];
        }
        bytes[4] memory bad = [bytes(""), bytes(hex"c0"), truncated, bytes(hex"a0")];
        for (uint256 i = 0; i < bad.length; i++) {
            vm.expectRevert(HeaderRlp.MalformedHeader.selector);
            h.roots(bad[i]);
        }
        // A 31-byte state root is refused.
        bytes memory shortRoot = _header(STATE, RECEIPTS);
        shortRoot[3 + 33 + 33 + 21] = 0x9f;
        vm.expectRevert(HeaderRlp.MalformedHeader.selector);
        h.roots(shortRoot);
    }
}

contract ChallengeBatchTest is AvsFixture {
    uint64 internal constant CHECKPOINT = 990;

    function setUp() public {
        _deployAvs(1);
        _registerOperators(0, 70, hex"00");
    }

    function testLargeOperatorSetsAreFrozenInBatches() public {
        uint256 batch = tm.FREEZE_BATCH();
        assertEq(batch, 32, "batch size");
        address[] memory nonSigners = new address[](2);
        nonSigners[0] = operators[1];
        nonSigners[1] = operators[66];
        (IAvsTaskManager.Task memory task, uint32 index) = _createTask(CHECKPOINT, 60, hex"00");
        vm.roll(block.number + 1);
        IAvsTaskManager.TaskResponse memory response =
            IAvsTaskManager.TaskResponse(index, keccak256("forged"), bytes32(0), bytes32(0));
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), nonSigners);

        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskNotInvalidated.selector, index));
        tm.freezeSigners(index, task, params.nonSignerPubkeys, 0, 10);

        tm.respondToTask(task, response, params);
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.TaskNotInvalidated.selector, index));
        tm.freezeSigners(index, task, params.nonSignerPubkeys, 0, 10);

        IAvsTaskManager.TaskResponseMetadata memory metadata = IAvsTaskManager.TaskResponseMetadata(
            uint32(block.number), keccak256(abi.encodePacked(task.taskCreatedBlock, _sortedIds(nonSigners)))
        );
        tm.raiseAndResolveChallenge(task, response, metadata, params.nonSignerPubkeys, "");
        // The challenge froze the first 64 list positions (operators 0..63 but the non-signer 1).
        for (uint256 i = 0; i < 70; i++) {
            bool expected = i < batch && i != 1;
            assertTrue(sm.frozen(operators[i]) == expected, "first batch frozen by the challenge");
        }

        BN254.G1Point[] memory wrong = new BN254.G1Point[](1);
        wrong[0] = params.nonSignerPubkeys[0];
        vm.expectRevert(abi.encodeWithSelector(IAvsTaskManager.NonSignersMismatch.selector, index));
        tm.freezeSigners(index, task, wrong, batch, 1000);

        tm.freezeSigners(index, task, params.nonSignerPubkeys, batch, 1000);
        for (uint256 i = 0; i < 70; i++) {
            assertTrue(sm.frozen(operators[i]) == (i != 1 && i != 66), "every signer frozen, no non-signer");
        }
    }
}
