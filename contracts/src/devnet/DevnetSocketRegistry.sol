// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title DevnetSocketRegistry
/// @notice Stores each operator's socket (its p2p address) for the RegistryCoordinator.
/// @dev The rewards-v2 RegistryCoordinator in `eigen-utils` takes a SocketRegistry in its
///      constructor and calls `setOperatorSocket` on registration, but that bytecode set has
///      none; this implements the same interface. Only the RegistryCoordinator may write.
contract DevnetSocketRegistry {
    address public immutable registryCoordinator;
    mapping(bytes32 => string) public operatorIdToSocket;

    error OnlyRegistryCoordinator();

    constructor(address registryCoordinator_) {
        registryCoordinator = registryCoordinator_;
    }

    function setOperatorSocket(bytes32 operatorId, string memory socket) external {
        if (msg.sender != registryCoordinator) revert OnlyRegistryCoordinator();
        operatorIdToSocket[operatorId] = socket;
    }

    function getOperatorSocket(bytes32 operatorId) external view returns (string memory) {
        return operatorIdToSocket[operatorId];
    }
}
