// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {ISignatureUtils} from "./IEigenLayerCore.sol";

/// @title IAvsServiceManager
/// @notice The AVS's service manager: the hooks EigenLayer's RegistryCoordinator calls on operator
///         (de)registration, an operator allowlist, and freezing of operators who signed a
///         wrong checkpoint.
interface IAvsServiceManager {
    /// @notice The allowlist was switched on or off.
    event AllowlistEnabledUpdated(bool enabled);
    /// @notice `operator` was added to (`allowed`) or removed from the allowlist.
    event AllowlistUpdated(address indexed operator, bool allowed);
    /// @notice `operator` was frozen: ejected from every quorum and barred from registering again.
    event OperatorFrozen(address indexed operator);
    /// @notice The task manager allowed to freeze operators changed.
    event TaskManagerUpdated(address taskManager);

    /// @notice Only the RegistryCoordinator may call this.
    error OnlyRegistryCoordinator();
    /// @notice Only the task manager may call this.
    error OnlyTaskManager();
    /// @notice `operator` is frozen and can never register again.
    error OperatorIsFrozen(address operator);
    /// @notice The allowlist is on and `operator` is not on it.
    error OperatorNotAllowlisted(address operator);
    /// @notice An address parameter was zero.
    error ZeroAddress();

    /// @notice Called by the RegistryCoordinator when `operator` registers; forwards to the AVSDirectory.
    function registerOperatorToAVS(
        address operator,
        ISignatureUtils.SignatureWithSaltAndExpiry memory operatorSignature
    ) external;

    /// @notice Called by the RegistryCoordinator when `operator` leaves every quorum.
    function deregisterOperatorFromAVS(address operator) external;

    /// @notice Freezes each operator (task manager only); already frozen ones are skipped.
    function freezeOperators(address[] calldata operators) external;

    /// @notice Whether `operator` is frozen.
    function frozen(address operator) external view returns (bool);

    /// @notice The AVSDirectory this service manager registers operators with.
    function avsDirectory() external view returns (address);

    /// @notice Every strategy weighted in any quorum (duplicates possible across quorums).
    function getRestakeableStrategies() external view returns (address[] memory);

    /// @notice The strategies weighted in the quorums `operator` is currently registered in.
    function getOperatorRestakedStrategies(address operator) external view returns (address[] memory);
}
