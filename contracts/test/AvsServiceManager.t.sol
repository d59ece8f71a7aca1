// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AvsFixture} from "./utils/AvsFixture.sol";
import {BN254} from "../src/libraries/BN254.sol";
import {AvsServiceManager} from "../src/AvsServiceManager.sol";
import {IAvsServiceManager} from "../src/interfaces/IAvsServiceManager.sol";
import {IRegistryCoordinator} from "../src/interfaces/IEigenLayerMiddleware.sol";
import {IAllocationManager} from "../src/interfaces/IEigenLayerSlashing.sol";

contract AvsServiceManagerTest is AvsFixture {
    function setUp() public {
        _deployAvs(2);
        _registerOperators(0, 2, hex"00");
    }

    function _one(address operator) private pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = operator;
    }

    function testAllowlist() public {
        address newcomer = _operatorAddress(5);
        BN254.G1Point memory pk = _pubkey(5);
        address[] memory list = _one(newcomer);

        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.enableAllowlist();
        vm.prank(OWNER);
        sm.enableAllowlist();
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorNotAllowlisted.selector, newcomer));
        rc.registerOperator(newcomer, pk, hex"00", STAKE);

        vm.prank(OWNER);
        sm.addToAllowlist(list);
        rc.registerOperator(newcomer, pk, hex"00", STAKE);
        assertEq(
            uint256(rc.getOperatorStatus(newcomer)),
            uint256(IRegistryCoordinator.OperatorStatus.REGISTERED),
            "allowlisted operator registered"
        );
        rc.deregisterOperator(newcomer, hex"00");

        vm.prank(OWNER);
        sm.removeFromAllowlist(list);
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorNotAllowlisted.selector, newcomer));
        rc.registerOperator(newcomer, pk, hex"00", STAKE);

        vm.prank(OWNER);
        sm.disableAllowlist();
        rc.registerOperator(newcomer, pk, hex"00", STAKE);
    }

    function testFreezeSlashesOnceEjectsAndBarsForever() public {
        address[] memory victims = _one(operators[0]);
        vm.expectRevert(IAvsServiceManager.OnlyTaskManager.selector);
        sm.freezeOperators(victims, 7, hex"00");

        vm.prank(address(tm));
        sm.freezeOperators(victims, 7, hex"00");
        assertEq(slasher.slashes(operators[0], 0), 1, "slashed in operator set 0");
        assertEq(slasher.slashes(operators[1], 0), 0, "the other operator untouched");
        assertEq(
            keccak256(bytes(slasher.lastDescription())),
            keccak256("avs-exex: signed the wrong checkpoint of task 7"),
            "description names the task"
        );
        assertTrue(sm.frozen(operators[0]), "frozen");
        assertEq(
            uint256(rc.getOperatorStatus(operators[0])),
            uint256(IRegistryCoordinator.OperatorStatus.DEREGISTERED),
            "ejected"
        );
        assertEq(rc.getCurrentQuorumBitmap(rc.getOperatorId(operators[0])), 0, "in no quorum");

        // Freezing again (the permissionless continuation repeated) slashes nobody twice.
        vm.prank(address(tm));
        sm.freezeOperators(victims, 7, hex"00");
        assertEq(slasher.slashes(operators[0], 0), 1, "slashed once");

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

    function testFreezeOfDeregisteredOperatorStillSlashesAndBars() public {
        rc.deregisterOperator(operators[1], hex"00");
        vm.prank(address(tm));
        sm.freezeOperators(_one(operators[1]), 3, hex"00");
        assertEq(slasher.slashes(operators[1], 0), 1, "slashed after leaving");
        BN254.G1Point memory pk = _pubkey(1);
        vm.expectRevert(abi.encodeWithSelector(IAvsServiceManager.OperatorIsFrozen.selector, operators[1]));
        rc.registerOperator(operators[1], pk, hex"00", STAKE);
    }

    function testFreezeSlashesInTheTaskQuorumsAndEjectsFromEvery() public {
        _registerOperators(7, 1, hex"0001");
        vm.prank(address(tm));
        sm.freezeOperators(_one(operators[2]), 1, hex"01");
        assertEq(slasher.slashes(operators[2], 0), 0, "not slashed in a quorum the task did not use");
        assertEq(slasher.slashes(operators[2], 1), 1, "slashed in the task's quorum");
        assertEq(rc.getCurrentQuorumBitmap(rc.getOperatorId(operators[2])), 0, "left both quorums");
    }

    function testSlashableWindow() public view {
        assertEq(
            sm.slashableWindowBlocks(),
            100_800 - 100 - 50_400,
            "deallocation delay minus veto window minus stake freshness"
        );
    }

    function testInitializerPublishesMetadataAndAppointsTheAvsContracts() public view {
        assertEq(
            keccak256(bytes(allocationManager.metadataURI(address(sm)))),
            keccak256("ipfs://avs-exex"),
            "metadata"
        );
        address am = address(allocationManager);
        bytes4[3] memory coordinatorCalls = [
            IAllocationManager.setAVSRegistrar.selector,
            IAllocationManager.createOperatorSets.selector,
            IAllocationManager.deregisterFromOperatorSets.selector
        ];
        for (uint256 i = 0; i < coordinatorCalls.length; i++) {
            assertTrue(
                permissionController.canCall(address(sm), address(rc), am, coordinatorCalls[i]), "coordinator"
            );
        }
        assertTrue(
            permissionController.canCall(
                address(sm), address(slasher), am, IAllocationManager.slashOperator.selector
            ),
            "slasher"
        );
        assertFalse(
            permissionController.canCall(
                address(sm), address(rc), am, IAllocationManager.slashOperator.selector
            ),
            "only the slasher slashes"
        );
        assertTrue(
            permissionController.canCall(
                address(sm), address(stakeReg), am, IAllocationManager.addStrategiesToOperatorSet.selector
            ),
            "stake registry"
        );
    }

    function testMetadataUriAndTaskManagerOwnerOnly() public {
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.updateAVSMetadataURI("ipfs://x");
        vm.prank(OWNER);
        sm.updateAVSMetadataURI("ipfs://x");
        assertEq(
            keccak256(bytes(allocationManager.metadataURI(address(sm)))), keccak256("ipfs://x"), "published"
        );
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.setAVSRegistrar(address(rc));
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.setAppointee(address(1), address(2), bytes4(0x12345678));
        vm.expectRevert(bytes("Ownable: caller is not the owner"));
        sm.setTaskManager(address(1));
        vm.prank(OWNER);
        vm.expectRevert(IAvsServiceManager.ZeroAddress.selector);
        sm.setTaskManager(address(0));
    }

    function testInitializersLocked() public {
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        sm.initialize(address(this), address(tm), false, "");
        AvsServiceManager impl = _serviceManagerImplementation();
        vm.expectRevert(bytes("Initializable: contract is already initialized"));
        impl.initialize(address(this), address(tm), false, "");
    }
}
