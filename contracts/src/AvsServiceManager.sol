// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {
    Ownable2StepUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAvsServiceManager, IRegistrationPolicy} from "./interfaces/IAvsServiceManager.sol";
import {IRegistryCoordinator, IStakeRegistry} from "./interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "./interfaces/IEigenLayerCore.sol";
import {IAllocationManager, IPermissionController, IAvsSlasher} from "./interfaces/IEigenLayerSlashing.sol";
import {QuorumBitmap} from "./libraries/QuorumBitmap.sol";

/// @title AvsServiceManager
/// @notice The AVS's address in EigenLayer's slashing-era core: the `avs` of its operator sets,
///         which publishes the metadata URI, names the registrar (our registry coordinator) and
///         appoints the contracts acting for it; it keeps the operator allowlist and punishes
///         the signers of a checkpoint proven wrong: slashed through the slasher, then frozen
///         (ejected and barred from registering again).
/// @dev This contract is the coordinator's ejector. Punishment happens once per operator (a
///      frozen one is skipped), so the task manager's permissionless freezing continuation can
///      be repeated without slashing anyone twice. Deploy behind a transparent proxy; the
///      implementation's initializers are locked.
contract AvsServiceManager is Initializable, Ownable2StepUpgradeable, IAvsServiceManager {
    /// @notice EigenLayer's AllocationManager.
    IAllocationManager public immutable allocationManager;
    /// @notice EigenLayer's PermissionController.
    IPermissionController public immutable permissionController;
    /// @notice The AVS's registry coordinator (its registrar).
    IRegistryCoordinator public immutable registryCoordinator;
    /// @notice The AVS's slasher.
    IAvsSlasher public immutable slasher;
    /// @notice The coordinator's StakeRegistry (edits the operator sets' strategies).
    address public immutable stakeRegistry;

    /// @notice The task manager, the only caller of `freezeOperators`.
    address public taskManager;
    /// @notice Whether registration is limited to allowlisted operators.
    bool public allowlistEnabled;
    /// @notice Operators allowed to register while the allowlist is on.
    mapping(address => bool) public allowlisted;
    /// @inheritdoc IAvsServiceManager
    mapping(address => bool) public frozen;

    constructor(
        IAllocationManager allocationManager_,
        IPermissionController permissionController_,
        IRegistryCoordinator registryCoordinator_,
        IAvsSlasher slasher_,
        address stakeRegistry_
    ) {
        allocationManager = allocationManager_;
        permissionController = permissionController_;
        registryCoordinator = registryCoordinator_;
        slasher = slasher_;
        stakeRegistry = stakeRegistry_;
        _disableInitializers();
    }

    /// @notice Sets the owner, the task manager and whether the allowlist starts switched on;
    ///         publishes the AVS's metadata URI (the AllocationManager requires one before
    ///         operator sets exist) and appoints the contracts acting for the AVS: the
    ///         coordinator (registrar, operator sets, ejection), the slasher (slashing) and the
    ///         stake registry (operator set strategies). Done here, as the AVS itself, so the
    ///         deployer need not be the owner.
    function initialize(
        address initialOwner,
        address taskManager_,
        bool allowlistEnabled_,
        string calldata metadataURI
    ) external initializer {
        if (initialOwner == address(0)) revert ZeroAddress();
        _transferOwnership(initialOwner);
        _setTaskManager(taskManager_);
        allowlistEnabled = allowlistEnabled_;
        emit AllowlistEnabledUpdated(allowlistEnabled_);
        allocationManager.updateAVSMetadataURI(address(this), metadataURI);
        address coordinator = address(registryCoordinator);
        _appoint(coordinator, IAllocationManager.setAVSRegistrar.selector);
        _appoint(coordinator, IAllocationManager.createOperatorSets.selector);
        _appoint(coordinator, IAllocationManager.deregisterFromOperatorSets.selector);
        _appoint(address(slasher), IAllocationManager.slashOperator.selector);
        _appoint(stakeRegistry, IAllocationManager.addStrategiesToOperatorSet.selector);
        _appoint(stakeRegistry, IAllocationManager.removeStrategiesFromOperatorSet.selector);
    }

    /// @inheritdoc IRegistrationPolicy
    function checkRegistration(address operator) external view {
        if (frozen[operator]) revert OperatorIsFrozen(operator);
        if (allowlistEnabled && !allowlisted[operator]) revert OperatorNotAllowlisted(operator);
    }

    /// @inheritdoc IAvsServiceManager
    function freezeOperators(address[] calldata operators, uint32 taskIndex, bytes calldata quorumNumbers)
        external
    {
        if (msg.sender != taskManager) revert OnlyTaskManager();
        address[] memory fresh = new address[](operators.length);
        uint256 count;
        for (uint256 i = 0; i < operators.length; i++) {
            if (!frozen[operators[i]]) fresh[count++] = operators[i];
        }
        if (count == 0) return;
        assembly ("memory-safe") {
            mstore(fresh, count)
        }
        string memory description =
            string.concat("avs-exex: signed the wrong checkpoint of task ", Strings.toString(taskIndex));
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            slasher.slashOperators(fresh, uint8(quorumNumbers[i]), description);
        }
        for (uint256 i = 0; i < count; i++) {
            _freeze(fresh[i]);
        }
    }

    /// @inheritdoc IAvsServiceManager
    function slashableWindowBlocks() external view returns (uint256) {
        uint256 delay = allocationManager.DEALLOCATION_DELAY();
        uint256 taken = slasher.vetoWindowBlocks()
            + IDelegationManager(IStakeRegistry(stakeRegistry).delegation()).minWithdrawalDelayBlocks();
        // Saturating: a later core could shorten the delay under what was configured.
        return taken < delay ? delay - taken : 0;
    }

    /// @notice Publishes the AVS's metadata URI in the AllocationManager (owner only).
    function updateAVSMetadataURI(string calldata metadataURI) external onlyOwner {
        allocationManager.updateAVSMetadataURI(address(this), metadataURI);
    }

    /// @notice Names the contract the AllocationManager calls on (de)registration (owner only).
    function setAVSRegistrar(address registrar) external onlyOwner {
        allocationManager.setAVSRegistrar(address(this), registrar);
    }

    /// @notice Lets `appointee` call `selector` of `target` as this AVS (owner only): the
    ///         coordinator creates operator sets and ejects, the slasher slashes, the stake
    ///         registry edits the sets' strategies.
    function setAppointee(address appointee, address target, bytes4 selector) external onlyOwner {
        permissionController.setAppointee(address(this), appointee, target, selector);
    }

    /// @notice Withdraws a permission given by `setAppointee` (owner only).
    function removeAppointee(address appointee, address target, bytes4 selector) external onlyOwner {
        permissionController.removeAppointee(address(this), appointee, target, selector);
    }

    /// @notice Sets the task manager (owner only).
    function setTaskManager(address taskManager_) external onlyOwner {
        _setTaskManager(taskManager_);
    }

    /// @notice Limits registration to allowlisted operators (owner only).
    function enableAllowlist() external onlyOwner {
        allowlistEnabled = true;
        emit AllowlistEnabledUpdated(true);
    }

    /// @notice Lets any non-frozen operator register (owner only).
    function disableAllowlist() external onlyOwner {
        allowlistEnabled = false;
        emit AllowlistEnabledUpdated(false);
    }

    /// @notice Adds operators to the allowlist (owner only).
    function addToAllowlist(address[] calldata operators) external onlyOwner {
        _setAllowlisted(operators, true);
    }

    /// @notice Removes operators from the allowlist (owner only); registered ones stay registered.
    function removeFromAllowlist(address[] calldata operators) external onlyOwner {
        _setAllowlisted(operators, false);
    }

    function _appoint(address appointee, bytes4 selector) private {
        permissionController.setAppointee(address(this), appointee, address(allocationManager), selector);
    }

    function _freeze(address operator) private {
        frozen[operator] = true;
        emit OperatorFrozen(operator);
        // Eject from the quorums it is in now; an operator that already left has nothing to
        // eject but stays barred from coming back (and slashable for the deallocation delay).
        IRegistryCoordinator.OperatorStatus status = registryCoordinator.getOperatorStatus(operator);
        if (status != IRegistryCoordinator.OperatorStatus.REGISTERED) return;
        uint256 bitmap =
            registryCoordinator.getCurrentQuorumBitmap(registryCoordinator.getOperatorId(operator));
        if (bitmap != 0) registryCoordinator.ejectOperator(operator, QuorumBitmap.toBytes(bitmap));
    }

    function _setTaskManager(address taskManager_) private {
        if (taskManager_ == address(0)) revert ZeroAddress();
        taskManager = taskManager_;
        emit TaskManagerUpdated(taskManager_);
    }

    function _setAllowlisted(address[] calldata operators, bool allowed) private {
        for (uint256 i = 0; i < operators.length; i++) {
            allowlisted[operators[i]] = allowed;
            emit AllowlistUpdated(operators[i], allowed);
        }
    }
}
