// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title IRegistrationPolicy
/// @notice Who may join the AVS: the registry coordinator asks the AVS on every registration.
interface IRegistrationPolicy {
    /// @notice Reverts (`OperatorIsFrozen`, `OperatorNotAllowlisted`) unless `operator` may register.
    function checkRegistration(address operator) external view;
}

/// @title IAvsServiceManager
/// @notice The AVS's service manager: its identity in EigenLayer (the `avs` of its operator sets,
///         its metadata URI, registrar and appointees), an operator allowlist, and the
///         punishment of operators who signed a wrong checkpoint: slashed, then frozen.
interface IAvsServiceManager is IRegistrationPolicy {
    /// @notice The allowlist was switched on or off.
    event AllowlistEnabledUpdated(bool enabled);
    /// @notice `operator` was added to (`allowed`) or removed from the allowlist.
    event AllowlistUpdated(address indexed operator, bool allowed);
    /// @notice `operator` was frozen: ejected from every quorum and barred from registering again.
    event OperatorFrozen(address indexed operator);
    /// @notice The task manager allowed to freeze operators changed.
    event TaskManagerUpdated(address taskManager);

    /// @notice Only the task manager may call this.
    error OnlyTaskManager();
    /// @notice `operator` is frozen and can never register again.
    error OperatorIsFrozen(address operator);
    /// @notice The allowlist is on and `operator` is not on it.
    error OperatorNotAllowlisted(address operator);
    /// @notice An address parameter was zero.
    error ZeroAddress();

    /// @notice Slashes each operator not yet frozen in the operator sets of `quorumNumbers`
    ///         through the slasher, then freezes it (task manager only). An operator is punished
    ///         once: a frozen one is skipped, so repeating a call slashes nobody twice.
    function freezeOperators(address[] calldata operators, uint32 taskIndex, bytes calldata quorumNumbers)
        external;

    /// @notice Whether `operator` is frozen.
    function frozen(address operator) external view returns (bool);

    /// @notice The blocks a task's response and challenge windows may take together:
    ///         EigenLayer's `DEALLOCATION_DELAY` minus the slasher's veto window and minus the
    ///         stake freshness bound (the DelegationManager's `minWithdrawalDelayBlocks`, which
    ///         the checkers' stale-stake rule allows between a stake update and a task). Then a
    ///         signer that leaves, or deallocates, right after its stake was recorded is still
    ///         slashable when the slash of its wrong signature comes due.
    function slashableWindowBlocks() external view returns (uint256);
}
