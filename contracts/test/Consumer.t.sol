// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "./utils/Test.sol";
import {AvsFixture} from "./utils/AvsFixture.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {MptProof} from "../src/consumer/MptProof.sol";
import {StateProofs} from "../src/consumer/StateProofs.sol";
import {ReceiptProofs} from "../src/consumer/ReceiptProofs.sol";
import {AttestedCheckpoints} from "../src/consumer/AttestedCheckpoints.sol";
import {RemoteTokenOracle} from "../src/consumer/examples/RemoteTokenOracle.sol";

/// @dev External wrappers so the libraries' reverts can be expected and their gas measured.
contract ProofHarness {
    function account(bytes32 root, address who, bytes[] calldata proof)
        external
        pure
        returns (StateProofs.Account memory)
    {
        return StateProofs.verifyAccount(root, who, proof);
    }

    function storageAt(bytes32 root, bytes32 slot, bytes[] calldata proof) external pure returns (uint256) {
        return StateProofs.verifyStorage(root, slot, proof);
    }

    function receipt(bytes32 root, uint256 txIndex, bytes[] calldata proof)
        external
        pure
        returns (bool success, uint256 logs)
    {
        ReceiptProofs.Receipt memory r = ReceiptProofs.verifyReceipt(root, txIndex, proof);
        return (r.success, ReceiptProofs.logCount(r));
    }

    function firstLog(bytes32 root, uint256 txIndex, bytes[] calldata proof)
        external
        pure
        returns (ReceiptProofs.Log memory)
    {
        return ReceiptProofs.log(ReceiptProofs.verifyReceipt(root, txIndex, proof), 0);
    }
}

/// @dev The committed vectors (`cargo run -p avs-contracts --example consumer_vectors`): proofs
///      that anvil served, checked there with alloy's trie verifier; here with the Solidity one.
abstract contract ProofVectors is Test {
    bytes internal constant INCOMPLETE = abi.encodeWithSignature("Error(string)", "Incomplete Proof!");
    bytes32 internal constant TRANSFER_TOPIC = keccak256("Transfer(address,address,uint256)");

    string internal json;
    ProofHarness internal harness;
    bytes32 internal stateRoot;
    bytes32 internal receiptsRoot;
    address internal token;
    address internal holder;

    function _loadVectors() internal {
        json = vm.readFile(string.concat(vm.projectRoot(), "/test/vectors/proofs.json"));
        harness = new ProofHarness();
        stateRoot = vm.parseJsonBytes32(json, ".stateRoot");
        receiptsRoot = vm.parseJsonBytes32(json, ".receiptsRoot");
        token = vm.parseJsonAddress(json, ".token");
        holder = vm.parseJsonAddress(json, ".holder");
    }

    /// @dev `.accounts[i]` (0: the token, 1: an absent account, 2: the sending EOA).
    function _account(uint256 i) internal pure returns (string memory) {
        return string.concat(".accounts[", vm.toString(i), "]");
    }

    function _accountProof(uint256 i) internal view returns (bytes[] memory) {
        return vm.parseJsonBytesArray(json, string.concat(_account(i), ".accountProof"));
    }

    function _storageProof(uint256 i, uint256 s) internal view returns (bytes[] memory) {
        return
            vm.parseJsonBytesArray(json, string.concat(_account(i), ".storage[", vm.toString(s), "].proof"));
    }

    /// @dev `.receipts[i]`: transactions 0, 1, 2 (reverted), 127, 128, 130.
    function _receipt(uint256 i) internal pure returns (string memory) {
        return string.concat(".receipts[", vm.toString(i), "]");
    }

    function _receiptProof(uint256 i) internal view returns (bytes[] memory) {
        return vm.parseJsonBytesArray(json, string.concat(_receipt(i), ".proof"));
    }

    function _txIndex(uint256 i) internal view returns (uint256) {
        return vm.parseJsonUint(json, string.concat(_receipt(i), ".txIndex"));
    }
}

contract ConsumerProofsTest is ProofVectors {
    function setUp() public {
        _loadVectors();
    }

    function testAccountProofOfAContract() public view {
        StateProofs.Account memory a = harness.account(stateRoot, token, _accountProof(0));
        assertTrue(a.exists, "the token exists");
        assertEq(a.nonce, vm.parseJsonUint(json, ".accounts[0].nonce"), "nonce");
        assertEq(a.balance, 0, "balance");
        assertEq(a.storageRoot, vm.parseJsonBytes32(json, ".accounts[0].storageRoot"), "storage root");
        assertEq(a.codeHash, vm.parseJsonBytes32(json, ".accounts[0].codeHash"), "code hash");
    }

    function testStorageProofsOfABalanceAndAnUnsetSlot() public view {
        bytes32 storageRoot = vm.parseJsonBytes32(json, ".accounts[0].storageRoot");
        // OpenZeppelin's ERC20 keeps balances at slot 0: the holder's entry is keccak(holder, 0).
        bytes32 slot = keccak256(abi.encode(holder, uint256(0)));
        assertEq(slot, vm.parseJsonBytes32(json, ".holderSlot"), "mapping slot");
        assertEq(harness.storageAt(storageRoot, slot, _storageProof(0, 0)), 130, "holder balance");
        bytes32 unset = vm.parseJsonBytes32(json, ".unsetSlot");
        assertEq(harness.storageAt(storageRoot, unset, _storageProof(0, 1)), 0, "an unset slot proves zero");
        assertEq(
            StateProofs.verifyAccountStorage(stateRoot, token, _accountProof(0), slot, _storageProof(0, 0)),
            130,
            "account and slot in one call"
        );
    }

    function testAbsentAccountIsAProvenAnswer() public view {
        address absent = vm.parseJsonAddress(json, ".accounts[1].address");
        StateProofs.Account memory a = harness.account(stateRoot, absent, _accountProof(1));
        assertFalse(a.exists, "absent");
        assertEq(a.balance, 0, "no balance");
        assertEq(a.storageRoot, MptProof.EMPTY_TRIE_ROOT, "empty storage");
        assertEq(a.codeHash, bytes32(0), "no code hash");
        // Any slot of it proves zero against the empty root.
        assertEq(
            harness.storageAt(a.storageRoot, bytes32(uint256(7)), _storageProof(1, 0)), 0, "empty storage"
        );
        assertEq(
            StateProofs.verifyAccountStorage(
                stateRoot, absent, _accountProof(1), bytes32(uint256(7)), new bytes[](0)
            ),
            0,
            "absent account's slot"
        );
    }

    function testAccountWithoutCode() public view {
        address eoa = vm.parseJsonAddress(json, ".accounts[2].address");
        StateProofs.Account memory a = harness.account(stateRoot, eoa, _accountProof(2));
        assertTrue(a.exists, "exists");
        assertEq(a.balance, vm.parseJsonUint(json, ".accounts[2].balance"), "balance");
        assertEq(a.codeHash, keccak256(""), "no code");
        assertEq(a.storageRoot, MptProof.EMPTY_TRIE_ROOT, "no storage");
    }

    function testReceiptProofsWithOneAndTwoByteKeys() public view {
        for (uint256 i = 0; i < 6; i++) {
            uint256 txIndex = _txIndex(i);
            bool success = vm.parseJsonBool(json, string.concat(_receipt(i), ".success"));
            (bool proven, uint256 logs) = harness.receipt(receiptsRoot, txIndex, _receiptProof(i));
            assertTrue(proven == success, string.concat("status of transaction ", vm.toString(txIndex)));
            assertEq(logs, success ? 1 : 0, "logs");
            if (!success) continue;
            ReceiptProofs.Log memory log = harness.firstLog(receiptsRoot, txIndex, _receiptProof(i));
            assertEq(log.emitter, token, "emitter");
            assertEq(log.topics.length, 3, "Transfer has 3 topics");
            assertEq(log.topics[0], TRANSFER_TOPIC, "Transfer");
            assertEq(
                address(uint160(uint256(log.topics[1]))),
                vm.parseJsonAddress(json, string.concat(_receipt(i), ".from")),
                "from"
            );
            assertEq(
                address(uint160(uint256(log.topics[2]))),
                vm.parseJsonAddress(json, string.concat(_receipt(i), ".to")),
                "to"
            );
            assertEq(
                abi.decode(log.data, (uint256)),
                vm.parseJsonUint(json, string.concat(_receipt(i), ".amount")),
                "amount"
            );
        }
    }

    function testAProofAgainstAnotherRootReverts() public {
        // The block's receipts root is another trie: the proof's first node is not its root.
        vm.expectRevert(INCOMPLETE);
        harness.account(receiptsRoot, token, _accountProof(0));
        vm.expectRevert(INCOMPLETE);
        harness.receipt(stateRoot, 0, _receiptProof(0));
        // Another block's root (same trie kind): nothing matches.
        vm.expectRevert(INCOMPLETE);
        harness.account(keccak256("another block's state root"), token, _accountProof(0));
    }

    function testAReceiptProofProvesOnlyItsIndex() public {
        // Receipt 128's proof (key 0x8180) does not hold receipt 1's path (key 0x01).
        vm.expectRevert(INCOMPLETE);
        harness.receipt(receiptsRoot, 1, _receiptProof(4));
    }

    function testAbsentReceiptAndLogIndexAreErrors() public {
        // Key 0x8183 (index 131) shares the branch of 0x8180..0x8182 in receipt 130's proof, whose
        // slot 3 is empty: the block has no transaction 131, proven.
        vm.expectRevert(abi.encodeWithSelector(ReceiptProofs.ReceiptAbsent.selector, 131));
        harness.receipt(receiptsRoot, 131, _receiptProof(5));
        // The reverted transaction has no logs.
        vm.expectRevert(abi.encodeWithSelector(ReceiptProofs.LogIndexOutOfRange.selector, 0, 0));
        harness.firstLog(receiptsRoot, 2, _receiptProof(2));
    }

    /// @dev Any flipped byte of any node of a proof makes it fail: the node's hash no longer
    ///      matches its parent's reference (or the root).
    function testFuzzFlippedByteReverts(uint8 which, uint256 node, uint256 pos, uint8 mask) public {
        bytes[] memory proof;
        which %= 3;
        if (which == 0) proof = _accountProof(0);
        else if (which == 1) proof = _storageProof(0, 0);
        else proof = _receiptProof(4);
        node %= proof.length;
        pos %= proof[node].length;
        proof[node][pos] ^= bytes1(mask | 1);
        vm.expectRevert();
        if (which == 0) {
            harness.account(stateRoot, token, proof);
        } else if (which == 1) {
            harness.storageAt(
                vm.parseJsonBytes32(json, ".accounts[0].storageRoot"),
                vm.parseJsonBytes32(json, ".holderSlot"),
                proof
            );
        } else {
            harness.receipt(receiptsRoot, 128, proof);
        }
    }

    /// @dev A proof with a node left out does not verify either (nor may it pass as an absence).
    function testFuzzDroppedNodeReverts(uint8 which, uint256 node) public {
        bytes[] memory full = which % 2 == 0 ? _accountProof(0) : _receiptProof(5);
        node %= full.length;
        bytes[] memory proof = new bytes[](full.length - 1);
        for (uint256 i = 0; i < proof.length; i++) {
            proof[i] = full[i < node ? i : i + 1];
        }
        vm.expectRevert(INCOMPLETE);
        if (which % 2 == 0) harness.account(stateRoot, token, proof);
        else harness.receipt(receiptsRoot, 130, proof);
    }
}

/// @dev A task manager on the registry doubles with 4 operators, an oracle of the vectors'
///      token on remote chain REMOTE, and the vectors' roots finalizable as checkpoint CHECKPOINT.
abstract contract OracleFixture is AvsFixture, ProofVectors {
    uint64 internal constant REMOTE = 10;
    uint64 internal constant CHECKPOINT = 100;

    RemoteTokenOracle internal oracle;

    function _setUpOracle() internal {
        _loadVectors();
        _deployAvs(1);
        _registerOperators(0, 4, hex"00");
        oracle = new RemoteTokenOracle(tm, REMOTE, token, 0, true);
    }

    function _finalizeVectors() internal returns (IAvsTaskManager.Task memory task) {
        (task,,,) = _finalizeOn(
            REMOTE,
            CHECKPOINT,
            vm.parseJsonBytes32(json, ".blockHash"),
            stateRoot,
            receiptsRoot,
            _firstOperators(1),
            hex"00"
        );
    }
}

/// @notice The example consumer against a real task manager (registry doubles): checkpoints of
///         a remote chain finalized with the vectors' roots, the gate's errors, and an
///         invalidated checkpoint of this chain after a real challenge.
contract RemoteTokenOracleTest is OracleFixture {
    /// @dev AvsTaskManager.MIN_CHALLENGE_WINDOW_BLOCKS.
    uint32 internal constant MIN_CHALLENGE_WINDOW = 10;

    RemoteTokenOracle internal cautious;

    function setUp() public {
        _setUpOracle();
        cautious = new RemoteTokenOracle(tm, REMOTE, token, 0, false);
    }

    function testBalanceAndTransferOfAFinalizedCheckpoint() public {
        _finalizeVectors();
        assertEq(oracle.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0)), 130, "balance");
        (address from, address to, uint256 amount) = oracle.transferAt(CHECKPOINT, 128, 0, _receiptProof(4));
        assertEq(from, vm.parseJsonAddress(json, ".receipts[4].from"), "from");
        assertEq(to, vm.parseJsonAddress(json, ".receipts[4].to"), "to");
        assertEq(amount, 129, "amount");
    }

    function testNotFinalizedCheckpointReverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointNotFinalized.selector,
                REMOTE,
                CHECKPOINT,
                IAvsTaskManager.CheckpointStatus.None
            )
        );
        oracle.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
        _createTaskOn(REMOTE, CHECKPOINT, 60, hex"00");
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointNotFinalized.selector,
                REMOTE,
                CHECKPOINT,
                IAvsTaskManager.CheckpointStatus.Pending
            )
        );
        oracle.transferAt(CHECKPOINT, 128, 0, _receiptProof(4));
    }

    function testWrongBlockReverts() public {
        _finalizeVectors();
        // The same proofs against checkpoint 110, whose roots are another block's.
        _finalizeOn(
            REMOTE,
            CHECKPOINT + INTERVAL,
            keccak256("b"),
            keccak256("s"),
            keccak256("r"),
            _noOperators(),
            hex"00"
        );
        vm.expectRevert(INCOMPLETE);
        oracle.balanceOf(holder, CHECKPOINT + INTERVAL, _accountProof(0), _storageProof(0, 0));
        vm.expectRevert(INCOMPLETE);
        oracle.transferAt(CHECKPOINT + INTERVAL, 128, 0, _receiptProof(4));
    }

    function testTamperedProofAndWrongLogRevert() public {
        _finalizeVectors();
        bytes[] memory storageProof = _storageProof(0, 0);
        storageProof[storageProof.length - 1][5] ^= 0x01;
        vm.expectRevert(INCOMPLETE);
        oracle.balanceOf(holder, CHECKPOINT, _accountProof(0), storageProof);
        // The reverted transaction's receipt is proven, but it did not happen.
        vm.expectRevert(abi.encodeWithSelector(RemoteTokenOracle.TransactionFailed.selector, 2));
        oracle.transferAt(CHECKPOINT, 2, 0, _receiptProof(2));
        // An oracle of another token refuses this token's Transfer.
        RemoteTokenOracle other = new RemoteTokenOracle(tm, REMOTE, address(0xBEEF), 0, true);
        vm.expectRevert(abi.encodeWithSelector(RemoteTokenOracle.NotATransfer.selector, 128, 0));
        other.transferAt(CHECKPOINT, 128, 0, _receiptProof(4));
    }

    function testCautiousConsumerWaitsOutTheChallengeWindow() public {
        _finalizeVectors();
        uint64 deadline = tm.checkpoint(REMOTE, CHECKPOINT).challengeDeadline;
        assertEq(deadline, block.number + CHALLENGE_WINDOW, "deadline: the task's challenge window");
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointChallengeable.selector, REMOTE, CHECKPOINT, deadline
            )
        );
        cautious.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
        vm.roll(deadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointChallengeable.selector, REMOTE, CHECKPOINT, deadline
            )
        );
        cautious.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
        vm.roll(deadline + 1);
        assertEq(
            cautious.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0)),
            130,
            "after the window"
        );
    }

    /// @dev A record written before the challenge window was stored (an upgraded proxy) has
    ///      an unknown deadline: a cautious consumer never treats it as past.
    function testRecordWithoutAWindowNeverPassesItsDeadline() public {
        IAvsTaskManager.Task memory task = _finalizeVectors();
        uint32 index = tm.checkpoint(REMOTE, CHECKPOINT).taskIndex;
        // _tasks is at slot 206 (forge inspect AvsTaskManager storageLayout); its record's fifth
        // word packs chainId (low 64 bits) ... responseWindowBlocks, then the challenge window
        // in the top 32 bits.
        bytes32 slot = bytes32(uint256(keccak256(abi.encode(uint256(index), uint256(206)))) + 4);
        uint256 word = uint256(vm.load(address(tm), slot));
        assertEq(uint64(word), REMOTE, "the record's chain id: the layout is as assumed");
        assertEq(word >> 224, task.challengeWindowBlocks, "the stored window");
        vm.store(address(tm), slot, bytes32(word & ((1 << 224) - 1)));

        assertEq(tm.checkpoint(REMOTE, CHECKPOINT).challengeDeadline, type(uint64).max, "unknown deadline");
        vm.roll(block.number + 1_000_000);
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointChallengeable.selector, REMOTE, CHECKPOINT, type(uint64).max
            )
        );
        cautious.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
        assertEq(
            oracle.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0)), 130, "accepting"
        );
    }

    function testChallengedCheckpointReverts() public {
        // A wrong block hash for this chain's block 990, finalized and then disproven.
        uint64 settled = 990;
        vm.setBlockhash(settled, keccak256("the real block 990"));
        RemoteTokenOracle local = new RemoteTokenOracle(tm, uint64(block.chainid), token, 0, true);
        (
            IAvsTaskManager.Task memory task,
            IAvsTaskManager.TaskResponse memory response,
            IAvsTaskManager.TaskResponseMetadata memory metadata,
            BN254.G1Point[] memory pks
        ) = _finalizeOn(
            uint64(block.chainid),
            settled,
            keccak256("forged"),
            stateRoot,
            receiptsRoot,
            _noOperators(),
            hex"00"
        );
        // Finalized, the forged checkpoint serves values...
        assertEq(
            local.balanceOf(holder, settled, _accountProof(0), _storageProof(0, 0)),
            130,
            "before the challenge"
        );
        tm.raiseAndResolveChallenge(task, response, metadata, pks, "");
        // ...and none once a challenge invalidated it.
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointInvalidated.selector,
                uint64(block.chainid),
                settled,
                response.referenceTaskIndex
            )
        );
        local.balanceOf(holder, settled, _accountProof(0), _storageProof(0, 0));

        // Stale value: the checkpoint is tasked again and finalized with other roots; the
        // disproven roots are never served again, the proofs against them fail. (The challenge
        // ejected every signer: new operators answer.)
        _registerOperators(4, 3, hex"00");
        (, IAvsTaskManager.TaskResponse memory again,,) = _finalizeOn(
            uint64(block.chainid),
            settled,
            keccak256("the real block 990"),
            keccak256("another state root"),
            keccak256("another receipts root"),
            _noOperators(),
            hex"00"
        );
        IAvsTaskManager.Checkpoint memory c = tm.checkpoint(uint64(block.chainid), settled);
        assertEq(c.taskIndex, again.referenceTaskIndex, "the newest task");
        assertEq(c.stateRoot, again.stateRoot, "its roots");
        vm.expectRevert(INCOMPLETE);
        local.balanceOf(holder, settled, _accountProof(0), _storageProof(0, 0));
    }

    /// @dev Changed parameter: the owner shortens the challenge window after a checkpoint was
    ///      finalized. The checkpoint stays challengeable for its task's own window (a challenge
    ///      checks the task's window), so a cautious consumer must keep waiting for that one,
    ///      not for the new configuration's.
    function testAShortenedChallengeWindowDoesNotShortenAFinalizedCheckpoints() public {
        IAvsTaskManager.Task memory task = _finalizeVectors();
        uint64 deadline = uint64(block.number) + task.challengeWindowBlocks;
        IAvsTaskManager.Config memory c = tm.config();
        c.challengeWindowBlocks = MIN_CHALLENGE_WINDOW;
        vm.prank(OWNER);
        tm.setConfig(c);
        vm.roll(block.number + MIN_CHALLENGE_WINDOW + 1);
        assertEq(tm.checkpoint(REMOTE, CHECKPOINT).challengeDeadline, deadline, "the task's own deadline");
        vm.expectRevert(
            abi.encodeWithSelector(
                AttestedCheckpoints.CheckpointChallengeable.selector, REMOTE, CHECKPOINT, deadline
            )
        );
        cautious.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
    }
}

/// @notice Gas of proof verification and of the example consumer's reads (BENCHMARKS.md, "Consumer
///         proofs"): execution gas of each view call (a consumer contract pays it inside its own
///         transaction; an eth_call pays nothing). Budgets are ~5% above the measured figures, so
///         a regression fails the suite.
contract ConsumerGasTest is OracleFixture {
    uint256 internal constant BUDGET_ACCOUNT = 230_000;
    uint256 internal constant BUDGET_STORAGE = 343_000;
    uint256 internal constant BUDGET_RECEIPT = 353_000;
    uint256 internal constant BUDGET_BALANCE = 618_000;
    uint256 internal constant BUDGET_TRANSFER = 393_000;

    function setUp() public {
        _setUpOracle();
        _finalizeVectors();
    }

    function _within(uint256 budget, string memory what) internal view {
        assertLt(uint256(vm.lastCallGas().gasTotalUsed), budget, what);
    }

    function testGasAccountProof() public {
        harness.account(stateRoot, token, _accountProof(0));
        _within(BUDGET_ACCOUNT, "account proof");
    }

    function testGasStorageProof() public {
        harness.storageAt(
            vm.parseJsonBytes32(json, ".accounts[0].storageRoot"),
            vm.parseJsonBytes32(json, ".holderSlot"),
            _storageProof(0, 0)
        );
        _within(BUDGET_STORAGE, "storage proof");
    }

    function testGasReceiptProof() public {
        harness.receipt(receiptsRoot, 128, _receiptProof(4));
        _within(BUDGET_RECEIPT, "receipt proof");
    }

    function testGasProvenBalance() public {
        oracle.balanceOf(holder, CHECKPOINT, _accountProof(0), _storageProof(0, 0));
        _within(BUDGET_BALANCE, "proven balance read");
    }

    function testGasProvenTransfer() public {
        oracle.transferAt(CHECKPOINT, 128, 0, _receiptProof(4));
        _within(BUDGET_TRANSFER, "proven Transfer read");
    }
}
