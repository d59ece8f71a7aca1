// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title Minimal interface of EigenLayer's DelegationManager that the signature checker reads.

/// @notice The DelegationManager: only the withdrawal delay the stale-stake rule needs (a
///         `uint32` in the slashing-era core, ABI-compatible with this declaration).
interface IDelegationManager {
    /// @notice Minimum number of blocks a withdrawal waits before completion.
    function minWithdrawalDelayBlocks() external view returns (uint256);
}
