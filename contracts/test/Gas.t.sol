// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {Vm} from "./utils/Test.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {IAvsTaskManager} from "../src/interfaces/IAvsTaskManager.sol";
import {IBLSSignatureChecker} from "../src/interfaces/IBLSSignatureChecker.sol";

/// @title GasTest
/// @notice Gas of createNewTask, respondToTask (1 quorum, 60 operators, 0/1/10/33/50 non-signers)
///         and a successful challenge, against the registry doubles. Run with `--isolate` so
///         every call is its own transaction (cold storage, intrinsic gas included); see
///         BENCHMARKS.md. Each figure is asserted against a budget a few percent above the
///         measured value, so a gas regression fails the suite. The figures that count against
///         EigenLayer's own `checkSignatures` are measured on anvil with the real registries
///         (`cargo run --release -p avs-contracts --example respond_gas`, see BENCHMARKS.md).
contract GasTest is AvsFixture {
    uint256 internal constant OPERATORS = 60;

    // Budgets (whole transaction through the proxy, with --isolate), ~3% above measured figures.
    uint256 internal constant BUDGET_0 = 236_000;
    uint256 internal constant BUDGET_1 = 255_000;
    uint256 internal constant BUDGET_10 = 380_000;
    uint256 internal constant BUDGET_33 = 699_000;
    uint256 internal constant BUDGET_50 = 935_000;

    IAvsTaskManager.Task internal task;
    uint32 internal taskIndex;

    function setUp() public {
        _deployAvs(1);
        // Non-signers are drawn from the first 50 operators (stake 1 each); the other ten hold
        // stake 100 each, so every scenario clears the 60% threshold.
        for (uint256 n = 0; n < OPERATORS; n++) {
            BN254.G1Point memory pk = _pubkey(n);
            secretKeyOf[keccak256(abi.encodePacked(pk.X, pk.Y))] = _secretKey(n);
            rc.registerOperator(_operatorAddress(n), pk, hex"00", n < 50 ? 1 ether : 100 ether);
            operators.push(_operatorAddress(n));
        }
        vm.roll(block.number + 1);
        (task, taskIndex) = _createTask(1000, 60, hex"00");
        vm.roll(block.number + 1);
    }

    function testGasCreateNewTask() public {
        // The usual case: the next checkpoint above every tasked one, just mined.
        vm.roll(1011);
        vm.prank(GENERATOR);
        tm.createNewTask(uint64(block.chainid), 1010, 60, hex"00");
    }

    function testGasRespond0() public {
        _respondAndCheck(0, BUDGET_0);
    }

    function testGasRespond1() public {
        _respondAndCheck(1, BUDGET_1);
    }

    function testGasRespond10() public {
        _respondAndCheck(10, BUDGET_10);
    }

    function testGasRespond33() public {
        _respondAndCheck(33, BUDGET_33);
    }

    function testGasRespond50() public {
        _respondAndCheck(50, BUDGET_50);
    }

    function testGasChallenge() public {
        IAvsTaskManager.TaskResponse memory response = _response(taskIndex, "wrong");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _firstOperators(10));
        tm.respondToTask(task, response, params);
        IAvsTaskManager.TaskResponseMetadata memory metadata = IAvsTaskManager.TaskResponseMetadata(
            uint32(block.number),
            keccak256(abi.encodePacked(task.taskCreatedBlock, _sortedIds(_firstOperators(10))))
        );
        vm.roll(block.number + 1);
        tm.raiseAndResolveChallenge(task, response, metadata, params.nonSignerPubkeys, "");
        // Positions 0..FREEZE_BATCH: the 10 non-signers and signers 10..31; freezeSigners the rest.
        assertTrue(sm.frozen(operators[31]), "signers of the challenge's batch frozen");
        assertFalse(sm.frozen(operators[32]), "the rest is left to freezeSigners");
    }

    function _respondAndCheck(uint256 nonSigners, uint256 budget) internal {
        IAvsTaskManager.TaskResponse memory response = _response(taskIndex, "a");
        IBLSSignatureChecker.NonSignerStakesAndSignature memory params =
            _sign(task, _digest(task, response), _firstOperators(nonSigners));
        tm.respondToTask(task, response, params);
        Vm.Gas memory gas = vm.lastCallGas();
        assertLt(uint256(gas.gasTotalUsed), budget, "respondToTask gas within budget");
    }
}
