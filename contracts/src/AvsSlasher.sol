// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {
    Ownable2StepUpgradeable
} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {OperatorSet, IAllocationManager, IAvsSlasher} from "./interfaces/IEigenLayerSlashing.sol";

/// @title AvsSlasher
/// @notice Slashes operators of the AVS through EigenLayer's `AllocationManager.slashOperator`:
///         a fixed fraction (`wadToSlash`, 1e18 = all) of the magnitude each operator allocated
///         to the operator set, in every strategy of the set.
/// @dev Two modes, fixed at initialisation:
///      - instant (`vetoWindowBlocks == 0`): `slashOperators` slashes in the same transaction;
///      - vetoable: `slashOperators` queues one request per operator; the veto committee may
///        cancel a request during `vetoWindowBlocks`; afterwards anyone fulfils it. EigenLayer
///        recommends this while an AVS is young: a bug in the AVS cannot burn stake unchecked.
///      Only the service manager (the AVS) requests slashes, and only after a challenge proved
///      the operators signed a wrong checkpoint. An operator is slashable while it is a member
///      of the set or for `DEALLOCATION_DELAY` blocks after leaving it; the veto window is
///      bounded below that delay (the task manager bounds the challenge window with the rest).
///      An operator no longer slashable when its slash comes due is skipped with
///      `SlashExpired`, so one departed operator cannot block a batch. The AVS must appoint this
///      contract for `AllocationManager.slashOperator`. Deploy behind a transparent proxy.
contract AvsSlasher is Initializable, Ownable2StepUpgradeable, IAvsSlasher {
    /// @notice Lifecycle of a queued slash.
    enum RequestStatus {
        NONE,
        QUEUED,
        VETOED,
        FULFILLED,
        EXPIRED
    }

    /// @notice One queued slash of one operator.
    struct SlashRequest {
        address operator;
        uint32 operatorSetId;
        uint32 requestBlock;
        RequestStatus status;
        string description;
    }

    /// @notice EigenLayer's AllocationManager.
    IAllocationManager public immutable allocationManager;
    /// @notice The AVS (service manager): its operator sets are slashed, and only it requests.
    address public immutable avs;

    /// @notice Fraction of allocated magnitude slashed per strategy (1e18 = 100 %).
    uint256 public wadToSlash;
    /// @inheritdoc IAvsSlasher
    uint32 public vetoWindowBlocks;
    /// @notice The address that may veto queued slashes (unused when instant).
    address public vetoCommittee;
    /// @notice Number of slash requests ever queued; ids are `0..nextRequestId`.
    uint256 public nextRequestId;
    mapping(uint256 => SlashRequest) private _requests;

    event SlashQueued(uint256 indexed requestId, address indexed operator, uint32 operatorSetId);
    event SlashVetoed(uint256 indexed requestId);
    event OperatorSlashed(
        address indexed operator, uint32 operatorSetId, uint256 wadSlashed, string description
    );
    event SlashExpired(address indexed operator, uint32 operatorSetId);

    error OnlyAvs();
    error OnlyVetoCommittee();
    error InvalidConfig(string field);
    error NotQueued(uint256 requestId);
    error VetoWindowOver(uint256 requestId);
    error VetoWindowOpen(uint256 requestId, uint256 endsAtBlock);

    constructor(IAllocationManager allocationManager_, address avs_) {
        allocationManager = allocationManager_;
        avs = avs_;
        _disableInitializers();
    }

    /// @notice Sets the owner and the slashing parameters. `vetoWindowBlocks == 0` makes the
    ///         slasher instant (and `vetoCommittee` must then be zero).
    function initialize(
        address initialOwner,
        uint256 wadToSlash_,
        uint32 vetoWindowBlocks_,
        address vetoCommittee_
    ) external initializer {
        if (initialOwner == address(0)) revert InvalidConfig("initialOwner");
        if (wadToSlash_ == 0 || wadToSlash_ > 1e18) revert InvalidConfig("wadToSlash");
        if (vetoWindowBlocks_ >= allocationManager.DEALLOCATION_DELAY()) {
            revert InvalidConfig("vetoWindowBlocks");
        }
        if ((vetoWindowBlocks_ == 0) != (vetoCommittee_ == address(0))) {
            revert InvalidConfig("vetoCommittee");
        }
        _transferOwnership(initialOwner);
        wadToSlash = wadToSlash_;
        vetoWindowBlocks = vetoWindowBlocks_;
        vetoCommittee = vetoCommittee_;
    }

    /// @inheritdoc IAvsSlasher
    function slashOperators(address[] calldata operators, uint32 operatorSetId, string calldata description)
        external
    {
        if (msg.sender != avs) revert OnlyAvs();
        for (uint256 i = 0; i < operators.length; i++) {
            if (vetoWindowBlocks == 0) {
                _slash(operators[i], operatorSetId, description);
            } else {
                uint256 id = nextRequestId++;
                _requests[id] = SlashRequest({
                    operator: operators[i],
                    operatorSetId: operatorSetId,
                    requestBlock: uint32(block.number),
                    status: RequestStatus.QUEUED,
                    description: description
                });
                emit SlashQueued(id, operators[i], operatorSetId);
            }
        }
    }

    /// @notice Cancels a queued slash inside its veto window (the veto committee only).
    function vetoSlash(uint256 requestId) external {
        if (msg.sender != vetoCommittee) revert OnlyVetoCommittee();
        SlashRequest storage request = _requests[requestId];
        if (request.status != RequestStatus.QUEUED) revert NotQueued(requestId);
        if (block.number >= uint256(request.requestBlock) + vetoWindowBlocks) {
            revert VetoWindowOver(requestId);
        }
        request.status = RequestStatus.VETOED;
        emit SlashVetoed(requestId);
    }

    /// @notice Executes queued slashes whose veto window has passed (anyone). Requests already
    ///         vetoed or executed are skipped, so a batch cannot be blocked by someone executing
    ///         one of its requests first; a request still inside its window reverts the call.
    function fulfilSlashes(uint256[] calldata requestIds) external {
        for (uint256 i = 0; i < requestIds.length; i++) {
            SlashRequest storage request = _requests[requestIds[i]];
            RequestStatus status = request.status;
            if (status == RequestStatus.NONE) revert NotQueued(requestIds[i]);
            if (status != RequestStatus.QUEUED) continue;
            uint256 endsAt = uint256(request.requestBlock) + vetoWindowBlocks;
            if (block.number < endsAt) revert VetoWindowOpen(requestIds[i], endsAt);
            request.status = RequestStatus.FULFILLED;
            if (!_slash(request.operator, request.operatorSetId, request.description)) {
                request.status = RequestStatus.EXPIRED;
            }
        }
    }

    /// @notice Queued slash `requestId`.
    function getRequest(uint256 requestId) external view returns (SlashRequest memory) {
        return _requests[requestId];
    }

    /// @dev Slashes `operator` in every strategy of the set, or reports it no longer slashable.
    function _slash(address operator, uint32 operatorSetId, string memory description)
        private
        returns (bool)
    {
        OperatorSet memory set = OperatorSet(avs, operatorSetId);
        if (!allocationManager.isOperatorSlashable(operator, set)) {
            emit SlashExpired(operator, operatorSetId);
            return false;
        }
        address[] memory strategies = _ascending(allocationManager.getStrategiesInOperatorSet(set));
        uint256[] memory wads = new uint256[](strategies.length);
        uint256 wad = wadToSlash;
        for (uint256 i = 0; i < wads.length; i++) {
            wads[i] = wad;
        }
        allocationManager.slashOperator(
            avs,
            IAllocationManager.SlashingParams({
                operator: operator,
                operatorSetId: operatorSetId,
                strategies: strategies,
                wadsToSlash: wads,
                description: description
            })
        );
        emit OperatorSlashed(operator, operatorSetId, wad, description);
        return true;
    }

    /// @dev The AllocationManager takes strategies in ascending address order.
    function _ascending(address[] memory strategies) private pure returns (address[] memory) {
        for (uint256 i = 1; i < strategies.length; i++) {
            address key = strategies[i];
            uint256 j = i;
            while (j > 0 && strategies[j - 1] > key) {
                strategies[j] = strategies[j - 1];
                j--;
            }
            strategies[j] = key;
        }
        return strategies;
    }
}
