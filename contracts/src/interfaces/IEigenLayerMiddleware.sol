// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";

/// @title Minimal read interfaces of EigenLayer's middleware registries and of a registry
///        coordinator (ours, `AvsRegistryCoordinator`, has EigenLayer's view ABI).
/// @notice Only what our contracts call, with the exact signatures of the deployed registries.

/// @notice The RegistryCoordinator: operator registration state and quorum bitmap history.
interface IRegistryCoordinator {
    /// @notice Registration status of an operator.
    enum OperatorStatus {
        NEVER_REGISTERED,
        REGISTERED,
        DEREGISTERED
    }

    /// @notice Number of quorums created so far; valid quorum numbers are `0..quorumCount`.
    function quorumCount() external view returns (uint8);
    /// @notice Block at which every operator's stake in `quorumNumber` was last updated together.
    function quorumUpdateBlockNumber(uint8 quorumNumber) external view returns (uint256);
    /// @notice Quorum bitmap of `operatorId` at `blockNumber`, read at history `index`.
    function getQuorumBitmapAtBlockNumberByIndex(bytes32 operatorId, uint32 blockNumber, uint256 index)
        external
        view
        returns (uint192);
    /// @notice Current quorum bitmap of `operatorId`.
    function getCurrentQuorumBitmap(bytes32 operatorId) external view returns (uint192);
    /// @notice Operator id (hash of its G1 pubkey) of `operator`.
    function getOperatorId(address operator) external view returns (bytes32);
    /// @notice Operator address of `operatorId`.
    function getOperatorFromId(bytes32 operatorId) external view returns (address);
    /// @notice Registration status of `operator`.
    function getOperatorStatus(address operator) external view returns (OperatorStatus);
    /// @notice Forcibly deregisters `operator` from `quorumNumbers` (ejector only).
    function ejectOperator(address operator, bytes memory quorumNumbers) external;
    /// @notice Owner of the coordinator (governs the stale-stake switch of signature checkers).
    function owner() external view returns (address);
    /// @notice The BLSApkRegistry this coordinator writes.
    function blsApkRegistry() external view returns (address);
    /// @notice The StakeRegistry this coordinator writes.
    function stakeRegistry() external view returns (address);
    /// @notice The IndexRegistry this coordinator writes.
    function indexRegistry() external view returns (address);
}

/// @notice The StakeRegistry: per-quorum stake history of operators and of the quorum total.
interface IStakeRegistry {
    /// @notice A strategy and its weight in a quorum.
    struct StrategyParams {
        address strategy;
        uint96 multiplier;
    }

    /// @notice The DelegationManager the registry reads shares from.
    function delegation() external view returns (address);
    /// @notice Stake of `operatorId` in `quorumNumber` at `blockNumber`, read at history `index`.
    function getStakeAtBlockNumberAndIndex(
        uint8 quorumNumber,
        uint32 blockNumber,
        bytes32 operatorId,
        uint256 index
    ) external view returns (uint96);
    /// @notice Total stake of `quorumNumber` at `blockNumber`, read at history `index`.
    function getTotalStakeAtBlockNumberFromIndex(uint8 quorumNumber, uint32 blockNumber, uint256 index)
        external
        view
        returns (uint96);
    /// @notice Number of strategies weighted in `quorumNumber`.
    function strategyParamsLength(uint8 quorumNumber) external view returns (uint256);
    /// @notice The `index`-th strategy of `quorumNumber`.
    function strategyParamsByIndex(uint8 quorumNumber, uint256 index)
        external
        view
        returns (StrategyParams memory);
}

/// @notice The BLSApkRegistry: operators' BLS keys and each quorum's aggregate key history.
interface IBLSApkRegistry {
    /// @notice The first 24 bytes of the hash of `quorumNumber`'s APK at `blockNumber`, at `index`.
    function getApkHashAtBlockNumberAndIndex(uint8 quorumNumber, uint32 blockNumber, uint256 index)
        external
        view
        returns (bytes24);
    /// @notice Current aggregate public key of `quorumNumber`.
    function getApk(uint8 quorumNumber) external view returns (BN254.G1Point memory);
}

/// @notice The IndexRegistry: the ordered operator list of each quorum over time.
interface IIndexRegistry {
    /// @notice Operator ids registered in `quorumNumber` at `blockNumber`.
    function getOperatorListAtBlockNumber(uint8 quorumNumber, uint32 blockNumber)
        external
        view
        returns (bytes32[] memory);
}
