// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {AvsServiceManager} from "../src/AvsServiceManager.sol";
import {IAvsServiceManager} from "../src/interfaces/IAvsServiceManager.sol";
import {ISignatureUtils} from "../src/interfaces/IEigenLayerCore.sol";
import {IRegistryCoordinator} from "../src/interfaces/IEigenLayerMiddleware.sol";

contract AvsServiceManagerTest is AvsFixture {
    address internal constant STRATEGY_A = address(0x5A);
    address internal constant STRATEGY_B = address(0x5B);

    function setUp() public {
        _deployAvs(2);
        _registerOperators(0, 2, hex"00");
    }

    function testRegistrationForwardsToAvsDirectory() public {
        assertTrue(avsDirectory.registered(address(sm), operators[0]), "registered in AVSDirectory");
        rc.deregisterOperator(operators[0], hex"00");
        assertFalse(avsDirectory.registered(address(sm), operators[0]), "deregistered from AVSDirectory");
    }

    function testOnlyRegistryCoordinatorCallsHooks() public {
        ISignatureUtils.SignatureWithSaltAndExpiry memory sig;
        vm.expectRevert(IAvsServiceManager.OnlyRegistryCoordinator.selector);
        sm.registerOperatorToAVS(address(1), sig);
        vm.expectRevert(IAvsServiceManager.OnlyRegistryCoordinator.selector);
        sm.deregisterOperatorFromAVS(operators[0]);
    }

    function testAllowlist() public {
        address newcomer = _operatorAddress(5);
        BN254.G1Point memory pk = _pubkey(5);
        address[] memory list = new address[](1);
        list[0] = newcomer;

        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.enableAllowlist();
        vm.prank(OWNER);
        sm.enableAllowlist();
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorNotAllowlisted.selector, newcomer));
        rc.registerOperator(newcomer, pk, hex"00", STAKE);

        vm.prank(OWNER);
        sm.addToAllowlist(list);
        rc.registerOperator(newcomer, pk, hex"00", STAKE);
        assertTrue(avsDirectory.registered(address(sm), newcomer), "allowlisted operator registered");
        rc.deregisterOperator(newcomer, hex"00");

        vm.prank(OWNER);
        sm.removeFromAllowlist(list);
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorNotAllowlisted.selector, newcomer));
        rc.registerOperator(newcomer, pk, hex"00", STAKE);

        vm.prank(OWNER);
        sm.disableAllowlist();
        rc.registerOperator(newcomer, pk, hex"00", STAKE);
        assertTrue(avsDirectory.registered(address(sm), newcomer), "registered with allowlist off");
    }

    function testFreezeEjectsAndBarsForever() public {
        address[] memory victims = new address[](1);
        victims[0] = operators[0];
        vm.expectRevert(IAvsServiceManager.OnlyTaskManager.selector);
        sm.freezeOperators(victims);

        vm.prank(address(tm));
        sm.freezeOperators(victims);
        assertTrue(sm.frozen(operators[0]), "frozen");
        assertEq(
            uint256(rc.getOperatorStatus(operators[0])),
            uint256(IRegistryCoordinator.OperatorStatus.DEREGISTERED),
            "ejected"
        );
        assertEq(rc.getCurrentQuorumBitmap(rc.getOperatorId(operators[0])), 0, "in no quorum");
        assertFalse(avsDirectory.registered(address(sm), operators[0]), "gone from AVSDirectory");

        // Freezing again is a no-op, not a revert.
        vm.prank(address(tm));
        sm.freezeOperators(victims);

        BN254.G1Point memory pk = _pubkey(0);
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorIsFrozen.selector, operators[0]));
        rc.registerOperator(operators[0], pk, hex"00", STAKE);
        // Even the allowlist cannot bring it back.
        vm.startPrank(OWNER);
        sm.enableAllowlist();
        sm.addToAllowlist(victims);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorIsFrozen.selector, operators[0]));
        rc.registerOperator(operators[0], pk, hex"00", STAKE);
    }

    function testFreezeOfDeregisteredOperatorStillBars() public {
        rc.deregisterOperator(operators[1], hex"00");
        address[] memory victims = new address[](1);
        victims[0] = operators[1];
        vm.prank(address(tm));
        sm.freezeOperators(victims);
        BN254.G1Point memory pk = _pubkey(1);
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorIsFrozen.selector, operators[1]));
        rc.registerOperator(operators[1], pk, hex"00", STAKE);
    }

    function testFreezeEjectsFromEveryQuorum() public {
        _registerOperators(7, 1, hex"0001");
        address[] memory victims = new address[](1);
        victims[0] = operators[2];
        vm.prank(address(tm));
        sm.freezeOperators(victims);
        assertEq(rc.getCurrentQuorumBitmap(rc.getOperatorId(operators[2])), 0, "left both quorums");
    }

    function testStrategies() public {
        stakeReg.addStrategy(0, STRATEGY_A, 1);
        stakeReg.addStrategy(1, STRATEGY_B, 1);
        address[] memory all = sm.getRestakeableStrategies();
        assertEq(all.length, 2, "two strategies");
        assertEq(all[0], STRATEGY_A, "quorum 0 strategy");
        assertEq(all[1], STRATEGY_B, "quorum 1 strategy");
        address[] memory mine = sm.getOperatorRestakedStrategies(operators[0]);
        assertEq(mine.length, 1, "operator 0 is in quorum 0 only");
        assertEq(mine[0], STRATEGY_A, "its strategy");
        assertEq(sm.avsDirectory(), address(avsDirectory), "avsDirectory()");
    }

    function testMetadataUriAndTaskManagerOwnerOnly() public {
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.updateAVSMetadataURI("ipfs://x");
        vm.prank(OWNER);
        sm.updateAVSMetadataURI("ipfs://x");
        assertEq(
            keccak256(bytes(avsDirectory.lastMetadataURI())), keccak256("ipfs://x"), "metadata forwarded"
        );
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.setTaskManager(address(1));
        vm.prank(OWNER);
        vm.expectRevert(IAvsServiceManager.ZeroAddress.selector);
        sm.setTaskManager(address(0));
    }

    function testInitializersLocked() public {
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        sm.initialize(address(this), address(tm), false);
        AvsServiceManager impl = new AvsServiceManager(avsDirectory, rc, stakeReg);
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        impl.initialize(address(this), address(tm), false);
    }
}
