//! The EigenLayer slashing-era (core v1.3.0) functions this crate calls, declared with `sol!`,
//! and those of our registry coordinator that the node and the CLI call.
//!
//! These are our own declarations of the published ABI of the contracts whose bytecode
//! `eigen-utils` ships (`slashing::{core,middleware}`); `eigen-utils` itself is built on alloy
//! 1.x, so its generated types cannot cross into this alloy 2.x code. Only the selectors and
//! argument layouts must match, which the deployment tests exercise against the real bytecode.

#![allow(missing_docs)]

use alloy::sol;

sol! {
    /// EigenLayer's BN254 points as the middleware stores them (G2 coefficients imaginary first).
    library BN254 {
        struct G1Point { uint256 X; uint256 Y; }
        struct G2Point { uint256[2] X; uint256[2] Y; }
    }

    library IRegistryCoordinator {
        struct OperatorInfo { bytes32 operatorId; uint8 status; }
    }

    library IStakeRegistry {
        struct StrategyParams { address strategy; uint96 multiplier; }
    }

    library IBLSApkRegistry {
        struct PubkeyRegistrationParams {
            BN254.G1Point pubkeyRegistrationSignature;
            BN254.G1Point pubkeyG1;
            BN254.G2Point pubkeyG2;
        }
    }

    library OperatorStateRetriever {
        struct Operator { address operator; bytes32 operatorId; uint96 stake; }
        struct CheckSignaturesIndices {
            uint32[] nonSignerQuorumBitmapIndices;
            uint32[] quorumApkIndices;
            uint32[] totalStakeIndices;
            uint32[][] nonSignerStakeIndices;
        }
    }

    #[sol(rpc)]
    interface IDelegationManagerCalls {
        function initialize(address initialOwner, uint256 initialPausedStatus) external;
        function registerAsOperator(address initDelegationApprover, uint32 allocationDelay, string metadataURI) external;
        function isOperator(address operator) external view returns (bool);
        function getOperatorShares(address operator, address[] strategies) external view returns (uint256[]);
        function minWithdrawalDelayBlocks() external view returns (uint32);
    }

    #[sol(rpc)]
    interface IStrategyManagerCalls {
        function initialize(address initialOwner, address initialStrategyWhitelister, uint256 initialPausedStatus) external;
        function addStrategiesToDepositWhitelist(address[] strategiesToWhitelist) external;
        function depositIntoStrategy(address strategy, address token, uint256 amount) external returns (uint256 depositShares);
        function strategyIsWhitelistedForDeposit(address strategy) external view returns (bool);
        function stakerDepositShares(address staker, address strategy) external view returns (uint256);
        function getBurnableShares(address strategy) external view returns (uint256);
    }

    /// AllocationManager, AVSDirectory and EigenPodManager share this initializer shape.
    #[sol(rpc)]
    interface IPausableInitializer {
        function initialize(address initialOwner, uint256 initialPausedStatus) external;
    }

    library IAllocationManager {
        struct OperatorSet { address avs; uint32 id; }
        struct AllocateParams { OperatorSet operatorSet; address[] strategies; uint64[] newMagnitudes; }
        struct Allocation { uint64 currentMagnitude; int128 pendingDiff; uint32 effectBlock; }
        struct RegisterParams { address avs; uint32[] operatorSetIds; bytes data; }
        struct DeregisterParams { address operator; address avs; uint32[] operatorSetIds; }
    }

    #[sol(rpc)]
    interface IAllocationManagerCalls {
        function modifyAllocations(address operator, IAllocationManager.AllocateParams[] params) external;
        function registerForOperatorSets(address operator, IAllocationManager.RegisterParams params) external;
        function deregisterFromOperatorSets(IAllocationManager.DeregisterParams params) external;
        function getAllocation(address operator, IAllocationManager.OperatorSet operatorSet, address strategy) external view returns (IAllocationManager.Allocation);
        function getAllocationDelay(address operator) external view returns (bool isSet, uint32 delay);
        function getMaxMagnitude(address operator, address strategy) external view returns (uint64);
        function getAllocatableMagnitude(address operator, address strategy) external view returns (uint64);
        function getMinimumSlashableStake(IAllocationManager.OperatorSet operatorSet, address[] operators, address[] strategies, uint32 futureBlock) external view returns (uint256[][] slashableStake);
        function isMemberOfOperatorSet(address operator, IAllocationManager.OperatorSet operatorSet) external view returns (bool);
        function isOperatorSlashable(address operator, IAllocationManager.OperatorSet operatorSet) external view returns (bool);
        function getStrategiesInOperatorSet(IAllocationManager.OperatorSet operatorSet) external view returns (address[]);
        function getAVSRegistrar(address avs) external view returns (address);
        function DEALLOCATION_DELAY() external view returns (uint32);
        function ALLOCATION_CONFIGURATION_DELAY() external view returns (uint32);
        function version() external view returns (string);
        event OperatorSlashed(address operator, IAllocationManager.OperatorSet operatorSet, address[] strategies, uint256[] wadSlashed, string description);
    }

    #[sol(rpc)]
    interface IRegistryCoordinatorCalls {
        function initialize(address initialOwner, address ejector, uint32 maxOperatorCount, uint96 minimumStake, IStakeRegistry.StrategyParams[] strategyParams, uint32 lookAheadPeriod) external;
        /// Replaces the caller's socket (its p2p address); emits `OperatorSocketUpdate`.
        function updateSocket(string socket) external;
        function updateOperators(address[] operators) external;
        function updateOperatorsForQuorum(address[][] operatorsPerQuorum, bytes quorumNumbers) external;
        function quorumUpdateBlockNumber(uint8 quorumNumber) external view returns (uint256);
        function pubkeyRegistrationMessageHash(address operator) external view returns (BN254.G1Point);
        function getOperator(address operator) external view returns (IRegistryCoordinator.OperatorInfo);
        function getOperatorId(address operator) external view returns (bytes32);
        function getOperatorFromId(bytes32 operatorId) external view returns (address);
        function getOperatorStatus(address operator) external view returns (uint8);
        function getCurrentQuorumBitmap(bytes32 operatorId) external view returns (uint192);
        function maxOperatorCount(uint8 quorumNumber) external view returns (uint32);
        function quorumCount() external view returns (uint8);
        function ejector() external view returns (address);
        function avs() external view returns (address);
        /// Emitted at registration and by `updateSocket`: where the operator's node listens.
        event OperatorSocketUpdate(bytes32 indexed operatorId, string socket);
    }

    #[sol(rpc)]
    interface IStakeRegistryCalls {
        function strategyParamsLength(uint8 quorumNumber) external view returns (uint256);
        function strategyParamsByIndex(uint8 quorumNumber, uint256 index) external view returns (IStakeRegistry.StrategyParams);
        function weightOfOperatorForQuorum(uint8 quorumNumber, address operator) external view returns (uint96);
        function minimumStakeForQuorum(uint8 quorumNumber) external view returns (uint96);
        function getCurrentStake(bytes32 operatorId, uint8 quorumNumber) external view returns (uint96);
        function getCurrentTotalStake(uint8 quorumNumber) external view returns (uint96);
    }

    #[sol(rpc)]
    interface IBLSApkRegistryCalls {
        function pubkeyHashToOperator(bytes32 pubkeyHash) external view returns (address);
        function getRegisteredPubkey(address operator) external view returns (BN254.G1Point, bytes32);
        /// Emitted once per operator at key registration: the only on-chain record of its G2 key.
        event NewPubkeyRegistration(address indexed operator, BN254.G1Point pubkeyG1, BN254.G2Point pubkeyG2);
    }

    #[sol(rpc)]
    interface IIndexRegistryCalls {
        function totalOperatorsForQuorum(uint8 quorumNumber) external view returns (uint32);
    }

    #[sol(rpc)]
    interface IOperatorStateRetrieverCalls {
        function getCheckSignaturesIndices(address registryCoordinator, uint32 referenceBlockNumber, bytes quorumNumbers, bytes32[] nonSignerOperatorIds) external view returns (OperatorStateRetriever.CheckSignaturesIndices);
        function getOperatorState(address registryCoordinator, bytes quorumNumbers, uint32 blockNumber) external view returns (OperatorStateRetriever.Operator[][]);
    }
}
