// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title DevnetPauserRegistry
/// @notice A pauser registry with EigenLayer's `IPauserRegistry` interface, for the devnet.
/// @dev EigenLayer's pausable contracts call `isPauser(msg.sender)` to pause and compare
///      `msg.sender` with `unpauser()` to unpause. The `eigen-utils` bytecode set ships no
///      pauser registry, so the devnet deploys this one.
contract DevnetPauserRegistry {
    mapping(address => bool) public isPauser;
    address public unpauser;

    event PauserStatusChanged(address pauser, bool canPause);
    event UnpauserChanged(address previousUnpauser, address newUnpauser);

    error OnlyUnpauser();
    error ZeroAddress();

    constructor(address[] memory pausers, address initialUnpauser) {
        if (initialUnpauser == address(0)) revert ZeroAddress();
        for (uint256 i = 0; i < pausers.length; i++) {
            _setIsPauser(pausers[i], true);
        }
        unpauser = initialUnpauser;
        emit UnpauserChanged(address(0), initialUnpauser);
    }

    function setIsPauser(address pauser, bool canPause) external {
        if (msg.sender != unpauser) revert OnlyUnpauser();
        _setIsPauser(pauser, canPause);
    }

    function setUnpauser(address newUnpauser) external {
        if (msg.sender != unpauser) revert OnlyUnpauser();
        if (newUnpauser == address(0)) revert ZeroAddress();
        emit UnpauserChanged(unpauser, newUnpauser);
        unpauser = newUnpauser;
    }

    function _setIsPauser(address pauser, bool canPause) internal {
        if (pauser == address(0)) revert ZeroAddress();
        isPauser[pauser] = canPause;
        emit PauserStatusChanged(pauser, canPause);
    }
}
