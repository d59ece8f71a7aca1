// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsTaskManager} from "../interfaces/IAvsTaskManager.sol";

/// @title AttestedCheckpoints
/// @notice The consumer's gate in front of a proof: the roots of a checkpoint (chainId,
///         blockNumber) the AVS finalized, or a revert that says why they cannot be used.
/// @dev Policy `acceptChallengeable`: a finalized checkpoint of the settlement chain itself can
///      still be challenged (and invalidated, its signers slashed) until its `challengeDeadline`.
///      A consumer that acts irreversibly on such a value (releases funds) should pass `false`
///      and wait the window out; one that only displays or re-checks later may pass `true`.
///      Checkpoints of other chains cannot be challenged on-chain: nothing invalidates them and
///      waiting adds only delay, so their values rest on the signing quorum alone. Either way an
///      Invalidated checkpoint is refused.
library AttestedCheckpoints {
    /// @notice No response finalized this checkpoint: it was never tasked (`status` None),
    ///         its task is unanswered or expired (Pending).
    error CheckpointNotFinalized(uint64 chainId, uint64 blockNumber, IAvsTaskManager.CheckpointStatus status);
    /// @notice A challenge proved the checkpoint's response wrong; until a new task finalizes it,
    ///         it has no usable roots.
    error CheckpointInvalidated(uint64 chainId, uint64 blockNumber, uint32 taskIndex);
    /// @notice The checkpoint can still be challenged until `challengeDeadline` (inclusive) and the
    ///         caller asked for unchallengeable values only.
    error CheckpointChallengeable(uint64 chainId, uint64 blockNumber, uint64 challengeDeadline);

    /// @notice The finalized checkpoint (chainId, blockNumber) of `taskManager`, under the policy.
    function finalized(
        IAvsTaskManager taskManager,
        uint64 chainId,
        uint64 blockNumber,
        bool acceptChallengeable
    ) internal view returns (IAvsTaskManager.Checkpoint memory c) {
        c = taskManager.checkpoint(chainId, blockNumber);
        if (c.status == IAvsTaskManager.CheckpointStatus.Invalidated) {
            revert CheckpointInvalidated(chainId, blockNumber, c.taskIndex);
        }
        if (c.status != IAvsTaskManager.CheckpointStatus.Finalized) {
            revert CheckpointNotFinalized(chainId, blockNumber, c.status);
        }
        if (!acceptChallengeable && block.number <= c.challengeDeadline) {
            revert CheckpointChallengeable(chainId, blockNumber, c.challengeDeadline);
        }
    }
}
