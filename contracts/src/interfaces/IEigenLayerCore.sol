// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title Minimal interfaces of EigenLayer's M2 core contracts that the AVS calls.
/// @notice Only the functions our contracts use, with the exact signatures of the rewards-v2
///         deployment the devnet runs (AVSDirectory, DelegationManager).

/// @notice EigenLayer's signature container used for operator-to-AVS registration.
interface ISignatureUtils {
    /// @notice An ECDSA signature with a salt and an expiry timestamp.
    struct SignatureWithSaltAndExpiry {
        bytes signature;
        bytes32 salt;
        uint256 expiry;
    }
}

/// @notice The AVSDirectory records which operators are registered to which AVS.
interface IAVSDirectory {
    /// @notice Registers `operator` to the calling AVS (the caller must be the service manager).
    function registerOperatorToAVS(
        address operator,
        ISignatureUtils.SignatureWithSaltAndExpiry memory operatorSignature
    ) external;

    /// @notice Deregisters `operator` from the calling AVS.
    function deregisterOperatorFromAVS(address operator) external;

    /// @notice Emits the AVS's metadata URI for off-chain indexers.
    function updateAVSMetadataURI(string memory metadataURI) external;
}

/// @notice The DelegationManager: only the withdrawal delay the stale-stake rule needs.
interface IDelegationManager {
    /// @notice Minimum number of blocks a withdrawal waits before completion.
    function minWithdrawalDelayBlocks() external view returns (uint256);
}
