// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";

/// @title IBLSSignatureChecker
/// @notice EigenLayer's `checkSignatures` ABI: an aggregate BLS signature of the operators of
///         some quorums at a reference block, with the non-signers listed so their stake and keys
///         can be subtracted. Standard EigenLayer aggregation output plugs in unchanged.
interface IBLSSignatureChecker {
    /// @notice The aggregate signature and what is needed to read the registries' history.
    /// @dev `nonSignerPubkeys` are sorted strictly ascending by hash (operator id); the
    ///      `quorum*`/`totalStakeIndices`/`nonSignerStakeIndices` arrays have one entry per quorum.
    struct NonSignerStakesAndSignature {
        uint32[] nonSignerQuorumBitmapIndices;
        BN254.G1Point[] nonSignerPubkeys;
        BN254.G1Point[] quorumApks;
        BN254.G2Point apkG2;
        BN254.G1Point sigma;
        uint32[] quorumApkIndices;
        uint32[] totalStakeIndices;
        uint32[][] nonSignerStakeIndices;
    }

    /// @notice Signed and total stake per quorum, in the order of the checked quorum numbers.
    struct QuorumStakeTotals {
        uint96[] signedStakeForQuorum;
        uint96[] totalStakeForQuorum;
    }

    /// @notice The stale-stake rule was switched on or off.
    event StaleStakesForbiddenUpdate(bool value);

    /// @notice `quorumNumbers` is empty.
    error EmptyQuorumNumbers();
    /// @notice A per-quorum array's length differs from the number of quorums.
    error QuorumLengthMismatch();
    /// @notice `nonSignerPubkeys` and `nonSignerQuorumBitmapIndices` differ in length.
    error NonSignerLengthMismatch();
    /// @notice `nonSignerStakeIndices[quorumIndex]` has fewer entries than non-signers in that quorum.
    error NonSignerStakeIndicesTooShort(uint256 quorumIndex);
    /// @notice The reference block must be strictly before the current block.
    error ReferenceBlockNotInPast(uint32 referenceBlockNumber, uint256 currentBlock);
    /// @notice Quorum numbers must be strictly ascending (sorted, no duplicates).
    error QuorumNumbersNotSorted();
    /// @notice A quorum number is not below the RegistryCoordinator's `quorumCount`.
    error QuorumDoesNotExist(uint8 quorumNumber);
    /// @notice Non-signer pubkeys must be sorted strictly ascending by operator id.
    error NonSignersNotSorted(uint256 index);
    /// @notice The quorum's stake was last updated more than the withdrawal delay before the reference block.
    error StakesStale(uint8 quorumNumber);
    /// @notice The provided quorum APK does not hash to the registry's APK at the reference block.
    error QuorumApkMismatch(uint8 quorumNumber);
    /// @notice The aggregate signature does not verify.
    error InvalidSignature();
    /// @notice The quorum had no stake at the reference block: any threshold would pass with the
    ///         trivial aggregate (APK 0, signature 0), so nothing is attested by it.
    error QuorumHasNoStake(uint8 quorumNumber);
    /// @notice Nobody with stake in the quorum signed.
    error NoSignedStake(uint8 quorumNumber);
    /// @notice A registry answered a view with too little data or an out-of-range value.
    error RegistryCallFailed(address registry);
    /// @notice Only the RegistryCoordinator's owner may switch the stale-stake rule.
    error OnlyCoordinatorOwner();

    /// @notice Checks the aggregate signature over `msgHash` by the operators of `quorumNumbers`
    ///         at `referenceBlockNumber` minus the non-signers, and returns the stakes behind it.
    /// @return stakeTotals signed and total stake per quorum
    /// @return signatoryRecordHash keccak256(abi.encodePacked(referenceBlockNumber, nonSignerIds))
    function checkSignatures(
        bytes32 msgHash,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) external view returns (QuorumStakeTotals memory stakeTotals, bytes32 signatoryRecordHash);
}
