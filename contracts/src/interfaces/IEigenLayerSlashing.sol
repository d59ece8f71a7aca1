// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";

/// @title Minimal interfaces of EigenLayer's slashing-era contracts (core v1.3.0 and the
///        registries deployed with it).
/// @notice Only what our contracts call, with the exact signatures of the deployed bytecode
///         (`eigen-utils`' `slashing` module).

/// @notice An operator set: an AVS and a set id (our quorum number).
struct OperatorSet {
    address avs;
    uint32 id;
}

/// @notice The AllocationManager: operator sets, allocations and slashing.
interface IAllocationManager {
    /// @notice Arguments of `slashOperator`.
    struct SlashingParams {
        address operator;
        uint32 operatorSetId;
        address[] strategies;
        uint256[] wadsToSlash;
        string description;
    }

    /// @notice Arguments of `deregisterFromOperatorSets`.
    struct DeregisterParams {
        address operator;
        address avs;
        uint32[] operatorSetIds;
    }

    /// @notice Arguments of `createOperatorSets`.
    struct CreateSetParams {
        uint32 operatorSetId;
        address[] strategies;
    }

    /// @notice Slashes `params.wadsToSlash` of the operator's allocated magnitude in each strategy.
    function slashOperator(address avs, SlashingParams calldata params) external;
    /// @notice Removes the operator from operator sets (the operator, or the AVS or its appointee).
    function deregisterFromOperatorSets(DeregisterParams calldata params) external;
    /// @notice Creates operator sets of `avs` (the AVS or its appointee).
    function createOperatorSets(address avs, CreateSetParams[] calldata params) external;
    /// @notice Whether `operator` can still be slashed in `operatorSet` (member, or deregistered
    ///         less than `DEALLOCATION_DELAY` blocks ago).
    function isOperatorSlashable(address operator, OperatorSet memory operatorSet)
        external
        view
        returns (bool);
    /// @notice Strategies of `operatorSet`.
    function getStrategiesInOperatorSet(OperatorSet memory operatorSet)
        external
        view
        returns (address[] memory);
    /// @notice Blocks a deallocation (or deregistration) stays slashable.
    function DEALLOCATION_DELAY() external view returns (uint32);
    /// @notice Publishes `avs`'s metadata URI (the AVS or its appointee); required before sets exist.
    function updateAVSMetadataURI(address avs, string calldata metadataURI) external;
    /// @notice Sets the contract the AllocationManager calls on (de)registration of `avs`'s operators.
    function setAVSRegistrar(address avs, address registrar) external;
    /// @notice Adds strategies to an operator set (the AVS or its appointee).
    function addStrategiesToOperatorSet(address avs, uint32 operatorSetId, address[] calldata strategies)
        external;
    /// @notice Removes strategies from an operator set (the AVS or its appointee).
    function removeStrategiesFromOperatorSet(address avs, uint32 operatorSetId, address[] calldata strategies)
        external;
}

/// @notice EigenLayer's PermissionController: who may call what on an account's behalf.
interface IPermissionController {
    /// @notice Lets `appointee` call `selector` of `target` for `account` (an admin of `account`,
    ///         or `account` itself while it has none).
    function setAppointee(address account, address appointee, address target, bytes4 selector) external;
    /// @notice Withdraws that permission.
    function removeAppointee(address account, address appointee, address target, bytes4 selector) external;
}

/// @notice The hook the AllocationManager calls on the AVS's registrar.
interface IAVSRegistrar {
    /// @notice Completes `operator`'s registration to `operatorSetIds` of `avs`; reverting refuses it.
    function registerOperator(
        address operator,
        address avs,
        uint32[] calldata operatorSetIds,
        bytes calldata data
    ) external;
    /// @notice Completes `operator`'s deregistration from `operatorSetIds` of `avs`.
    function deregisterOperator(address operator, address avs, uint32[] calldata operatorSetIds) external;
    /// @notice Whether this registrar serves `avs` (checked by `setAVSRegistrar`).
    function supportsAVS(address avs) external view returns (bool);
}

/// @notice The slashing-era StakeRegistry, as the registry coordinator drives it.
interface ISlashingStakeRegistry {
    /// @notice A strategy and its weight in a quorum.
    struct StrategyParams {
        address strategy;
        uint96 multiplier;
    }

    function registerOperator(address operator, bytes32 operatorId, bytes calldata quorumNumbers)
        external
        returns (uint96[] memory, uint96[] memory);
    function deregisterOperator(bytes32 operatorId, bytes calldata quorumNumbers) external;
    /// @notice Re-reads the operators' slashable stake; `true` where it fell below the minimum.
    function updateOperatorsStake(
        address[] memory operators,
        bytes32[] memory operatorIds,
        uint8 quorumNumber
    ) external returns (bool[] memory);
    function initializeSlashableStakeQuorum(
        uint8 quorumNumber,
        uint96 minimumStake,
        uint32 lookAheadPeriod,
        StrategyParams[] memory strategyParams
    ) external;
}

/// @notice The slashing-era BLSApkRegistry, as the registry coordinator drives it.
interface ISlashingBLSApkRegistry {
    /// @notice A BLS key with its proof of possession.
    struct PubkeyRegistrationParams {
        BN254.G1Point pubkeyRegistrationSignature;
        BN254.G1Point pubkeyG1;
        BN254.G2Point pubkeyG2;
    }

    function registerOperator(address operator, bytes calldata quorumNumbers) external;
    function deregisterOperator(address operator, bytes calldata quorumNumbers) external;
    function initializeQuorum(uint8 quorumNumber) external;
    /// @notice The operator's id, registering `params` (proof of possession checked) if it has none.
    function getOrRegisterOperatorId(
        address operator,
        PubkeyRegistrationParams calldata params,
        BN254.G1Point calldata pubkeyRegistrationMessageHash
    ) external returns (bytes32);
    function getOperatorFromPubkeyHash(bytes32 pubkeyHash) external view returns (address);
}

/// @notice The slashing-era IndexRegistry, as the registry coordinator drives it.
interface ISlashingIndexRegistry {
    function registerOperator(bytes32 operatorId, bytes calldata quorumNumbers)
        external
        returns (uint32[] memory);
    function deregisterOperator(bytes32 operatorId, bytes calldata quorumNumbers) external;
    function initializeQuorum(uint8 quorumNumber) external;
    function totalOperatorsForQuorum(uint8 quorumNumber) external view returns (uint32);
}

/// @notice The AVS's slasher, as the service manager drives it.
interface IAvsSlasher {
    /// @notice Slashes (or queues slashes of) `operators` in operator set `operatorSetId`.
    function slashOperators(address[] calldata operators, uint32 operatorSetId, string calldata description)
        external;
    /// @notice Blocks a queued slash waits for a veto; 0 when slashing is instant.
    function vetoWindowBlocks() external view returns (uint32);
}

/// @notice The SocketRegistry: each operator's socket (its p2p address).
interface ISocketRegistry {
    function setOperatorSocket(bytes32 operatorId, string memory socket) external;
}
