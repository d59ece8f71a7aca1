//! The EigenLayer M2 (rewards v2) functions this crate calls, declared with `sol!`.
//!
//! These are our own declarations of the published ABI of the contracts whose bytecode
//! `eigen-utils` ships (`rewardsv2::{core,middleware}`); `eigen-utils` itself is built on alloy
//! 1.x, so its generated types cannot cross into this alloy 2.x code. Only the selectors and
//! argument layouts must match, which the deployment tests exercise against the real bytecode.

#![allow(missing_docs)]
// `sol!` generates one Rust function per Solidity function, with its arity (the
// RegistryCoordinator's initializer takes nine arguments).
#![allow(clippy::too_many_arguments)]

use alloy::sol;

sol! {
    /// EigenLayer's BN254 points as the middleware stores them (G2 coefficients imaginary first).
    library BN254 {
        struct G1Point { uint256 X; uint256 Y; }
        struct G2Point { uint256[2] X; uint256[2] Y; }
    }

    library ISignatureUtils {
        struct SignatureWithSaltAndExpiry { bytes signature; bytes32 salt; uint256 expiry; }
    }

    library IDelegationManager {
        struct OperatorDetails {
            address __deprecated_earningsReceiver;
            address delegationApprover;
            uint32 stakerOptOutWindowBlocks;
        }
    }

    library IRegistryCoordinator {
        struct OperatorSetParam { uint32 maxOperatorCount; uint16 kickBIPsOfOperatorStake; uint16 kickBIPsOfTotalStake; }
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
        function initialize(address initialOwner, address pauserRegistry, uint256 initialPausedStatus, uint256 minWithdrawalDelayBlocks, address[] strategies, uint256[] withdrawalDelayBlocks) external;
        function registerAsOperator(IDelegationManager.OperatorDetails registeringOperatorDetails, string metadataURI) external;
        function isOperator(address operator) external view returns (bool);
        function getOperatorShares(address operator, address[] strategies) external view returns (uint256[]);
        function minWithdrawalDelayBlocks() external view returns (uint256);
    }

    #[sol(rpc)]
    interface IStrategyManagerCalls {
        function initialize(address initialOwner, address initialStrategyWhitelister, address pauserRegistry, uint256 initialPausedStatus) external;
        function addStrategiesToDepositWhitelist(address[] strategiesToWhitelist, bool[] thirdPartyTransfersForbiddenValues) external;
        function depositIntoStrategy(address strategy, address token, uint256 amount) external returns (uint256 shares);
        function strategyIsWhitelistedForDeposit(address strategy) external view returns (bool);
        function stakerStrategyShares(address staker, address strategy) external view returns (uint256);
    }

    /// AVSDirectory, EigenPodManager and Slasher share this initializer shape.
    #[sol(rpc)]
    interface IPausableInitializer {
        function initialize(address initialOwner, address pauserRegistry, uint256 initialPausedStatus) external;
    }

    #[sol(rpc)]
    interface IAVSDirectoryCalls {
        function calculateOperatorAVSRegistrationDigestHash(address operator, address avs, bytes32 salt, uint256 expiry) external view returns (bytes32);
        function avsOperatorStatus(address avs, address operator) external view returns (uint8);
    }

    #[sol(rpc)]
    interface IRewardsCoordinatorCalls {
        function initialize(address initialOwner, address pauserRegistry, uint256 initialPausedStatus, address rewardsUpdater, uint32 activationDelay, uint16 defaultSplitBips) external;
    }

    #[sol(rpc)]
    interface IRegistryCoordinatorCalls {
        function initialize(address initialOwner, address churnApprover, address ejector, address pauserRegistry, uint256 initialPausedStatus, IRegistryCoordinator.OperatorSetParam[] operatorSetParams, uint96[] minimumStakes, IStakeRegistry.StrategyParams[][] strategyParams) external;
        function registerOperator(bytes quorumNumbers, string socket, IBLSApkRegistry.PubkeyRegistrationParams params, ISignatureUtils.SignatureWithSaltAndExpiry operatorSignature) external;
        function deregisterOperator(bytes quorumNumbers) external;
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
        function getOperatorSetParams(uint8 quorumNumber) external view returns (IRegistryCoordinator.OperatorSetParam);
        function quorumCount() external view returns (uint8);
        function ejector() external view returns (address);
        function setEjector(address ejector) external;
        /// Emitted at registration and by `updateSocket`: where the operator's node listens.
        event OperatorSocketUpdate(bytes32 indexed operatorId, string socket);
    }

    #[sol(rpc)]
    interface IStakeRegistryCalls {
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
