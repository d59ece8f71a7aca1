// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {
    Ownable2StepUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {IAvsServiceManager} from "./interfaces/IAvsServiceManager.sol";
import {IAVSDirectory, ISignatureUtils} from "./interfaces/IEigenLayerCore.sol";
import {IRegistryCoordinator, IStakeRegistry} from "./interfaces/IEigenLayerMiddleware.sol";
import {QuorumBitmap} from "./libraries/QuorumBitmap.sol";

/// @title AvsServiceManager
/// @notice The service manager EigenLayer's RegistryCoordinator talks to: it forwards operator
///         (de)registration to the AVSDirectory, reports restakeable strategies, publishes the
///         metadata URI, keeps an operator allowlist and freezes operators.
/// @dev Freezing: this contract is the RegistryCoordinator's ejector (the deployer calls
///      `registryCoordinator.setEjector(serviceManager)`), so freezing marks the operator and
///      ejects it from the quorums it is currently in. Registration of a frozen operator always
///      reverts, and of a non-allowlisted one while the allowlist is on. Deploy behind a
///      transparent proxy; the implementation's initializers are locked.
contract AvsServiceManager is Initializable, Ownable2StepUpgradeable, IAvsServiceManager {
    /// @notice EigenLayer's AVSDirectory.
    IAVSDirectory internal immutable _avsDirectory;
    /// @notice The RegistryCoordinator of this AVS.
    IRegistryCoordinator public immutable registryCoordinator;
    /// @notice Its StakeRegistry (strategies per quorum).
    IStakeRegistry public immutable stakeRegistry;

    /// @notice The task manager, the only caller of `freezeOperators`.
    address public taskManager;
    /// @notice Whether registration is limited to allowlisted operators.
    bool public allowlistEnabled;
    /// @notice Operators allowed to register while the allowlist is on.
    mapping(address => bool) public allowlisted;
    /// @inheritdoc IAvsServiceManager
    mapping(address => bool) public frozen;

    modifier onlyRegistryCoordinator() {
        if (msg.sender != address(registryCoordinator)) revert OnlyRegistryCoordinator();
        _;
    }

    /// @param avsDirectory_ EigenLayer's AVSDirectory (proxy)
    /// @param registryCoordinator_ the AVS's RegistryCoordinator (proxy)
    /// @param stakeRegistry_ its StakeRegistry (proxy)
    constructor(
        IAVSDirectory avsDirectory_,
        IRegistryCoordinator registryCoordinator_,
        IStakeRegistry stakeRegistry_
    ) {
        _avsDirectory = avsDirectory_;
        registryCoordinator = registryCoordinator_;
        stakeRegistry = stakeRegistry_;
        _disableInitializers();
    }

    /// @notice Sets the owner, the task manager and whether the allowlist starts switched on.
    function initialize(address initialOwner, address taskManager_, bool allowlistEnabled_)
        external
        initializer
    {
        if (initialOwner == address(0)) revert ZeroAddress();
        _transferOwnership(initialOwner);
        _setTaskManager(taskManager_);
        allowlistEnabled = allowlistEnabled_;
        emit AllowlistEnabledUpdated(allowlistEnabled_);
    }

    /// @inheritdoc IAvsServiceManager
    function registerOperatorToAVS(
        address operator,
        ISignatureUtils.SignatureWithSaltAndExpiry memory operatorSignature
    ) external onlyRegistryCoordinator {
        if (frozen[operator]) revert OperatorIsFrozen(operator);
        if (allowlistEnabled && !allowlisted[operator]) revert OperatorNotAllowlisted(operator);
        _avsDirectory.registerOperatorToAVS(operator, operatorSignature);
    }

    /// @inheritdoc IAvsServiceManager
    function deregisterOperatorFromAVS(address operator) external onlyRegistryCoordinator {
        _avsDirectory.deregisterOperatorFromAVS(operator);
    }

    /// @inheritdoc IAvsServiceManager
    function freezeOperators(address[] calldata operators) external {
        if (msg.sender != taskManager) revert OnlyTaskManager();
        for (uint256 i = 0; i < operators.length; i++) {
            _freeze(operators[i]);
        }
    }

    /// @notice Publishes the AVS's metadata URI through the AVSDirectory (owner only).
    function updateAVSMetadataURI(string memory metadataURI) external onlyOwner {
        _avsDirectory.updateAVSMetadataURI(metadataURI);
    }

    /// @notice Sets the task manager (owner only).
    function setTaskManager(address taskManager_) external onlyOwner {
        _setTaskManager(taskManager_);
    }

    /// @notice Limits registration to allowlisted operators (owner only).
    function enableAllowlist() external onlyOwner {
        allowlistEnabled = true;
        emit AllowlistEnabledUpdated(true);
    }

    /// @notice Lets any non-frozen operator register (owner only).
    function disableAllowlist() external onlyOwner {
        allowlistEnabled = false;
        emit AllowlistEnabledUpdated(false);
    }

    /// @notice Adds operators to the allowlist (owner only).
    function addToAllowlist(address[] calldata operators) external onlyOwner {
        _setAllowlisted(operators, true);
    }

    /// @notice Removes operators from the allowlist (owner only); registered ones stay registered.
    function removeFromAllowlist(address[] calldata operators) external onlyOwner {
        _setAllowlisted(operators, false);
    }

    /// @inheritdoc IAvsServiceManager
    function avsDirectory() external view returns (address) {
        return address(_avsDirectory);
    }

    /// @inheritdoc IAvsServiceManager
    function getRestakeableStrategies() external view returns (address[] memory) {
        uint256 quorumCount = registryCoordinator.quorumCount();
        return _strategiesOf(quorumCount == 0 ? 0 : (uint256(1) << quorumCount) - 1);
    }

    /// @inheritdoc IAvsServiceManager
    function getOperatorRestakedStrategies(address operator) external view returns (address[] memory) {
        bytes32 operatorId = registryCoordinator.getOperatorId(operator);
        return _strategiesOf(registryCoordinator.getCurrentQuorumBitmap(operatorId));
    }

    function _freeze(address operator) private {
        if (frozen[operator]) return;
        frozen[operator] = true;
        emit OperatorFrozen(operator);
        // Eject from the quorums it is in now: ejecting from quorums it is not in is refused (or
        // silently ignored) by the coordinator, and an operator that already left has nothing
        // to eject but stays barred from coming back.
        IRegistryCoordinator.OperatorStatus status = registryCoordinator.getOperatorStatus(operator);
        if (status != IRegistryCoordinator.OperatorStatus.REGISTERED) return;
        uint256 bitmap =
            registryCoordinator.getCurrentQuorumBitmap(registryCoordinator.getOperatorId(operator));
        if (bitmap != 0) registryCoordinator.ejectOperator(operator, QuorumBitmap.toBytes(bitmap));
    }

    function _setTaskManager(address taskManager_) private {
        if (taskManager_ == address(0)) revert ZeroAddress();
        taskManager = taskManager_;
        emit TaskManagerUpdated(taskManager_);
    }

    function _setAllowlisted(address[] calldata operators, bool allowed) private {
        for (uint256 i = 0; i < operators.length; i++) {
            allowlisted[operators[i]] = allowed;
            emit AllowlistUpdated(operators[i], allowed);
        }
    }

    /// @dev Strategies of every quorum in `bitmap`, in quorum order.
    function _strategiesOf(uint256 bitmap) private view returns (address[] memory strategies) {
        bytes memory quorums = QuorumBitmap.toBytes(bitmap);
        uint256[] memory lengths = new uint256[](quorums.length);
        uint256 total;
        for (uint256 i = 0; i < quorums.length; i++) {
            lengths[i] = stakeRegistry.strategyParamsLength(uint8(quorums[i]));
            total += lengths[i];
        }
        strategies = new address[](total);
        uint256 k;
        for (uint256 i = 0; i < quorums.length; i++) {
            for (uint256 j = 0; j < lengths[i]; j++) {
                strategies[k++] = stakeRegistry.strategyParamsByIndex(uint8(quorums[i]), j).strategy;
            }
        }
    }
}
