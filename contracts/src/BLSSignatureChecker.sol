// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./libraries/BN254.sol";
import {IBLSSignatureChecker} from "./interfaces/IBLSSignatureChecker.sol";
import {IRegistryCoordinator, IStakeRegistry, IBLSApkRegistry} from "./interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "./interfaces/IEigenLayerCore.sol";

/// @title BLSSignatureChecker
/// @notice EigenLayer's M2 `checkSignatures` (same ABI, same rules) reading the real registries'
///         history: quorum APK, total stake and non-signer stake at the reference block through
///         the caller-supplied history indices, and non-signers' quorum bitmaps.
/// @dev Rules enforced, as in EigenLayer's checker: at least one quorum; every per-quorum array
///      has one entry per quorum; reference block strictly in the past; quorum numbers strictly
///      ascending (and existing, in the public entry point); non-signers strictly ascending by
///      operator id; each provided quorum APK matches the registry's APK hash at the index; the
///      stale-stake rule when switched on; the aggregate signature verifies against
///      `sum(quorumApks) - sum(nonSigner * quorumsItIsIn)` with the random-linear-combination
///      check that also binds `apkG2` to the G1 APK.
///      Gas: parameters stay in calldata, points go straight to the precompiles, a non-signer in
///      one signing quorum costs one point addition (no scalar multiplication), and registry
///      addresses are immutables. Storage: one bool; a derived contract's first small state
///      variables pack into the same slot (so reading them warms it), which is why there is no
///      storage gap here.
contract BLSSignatureChecker is IBLSSignatureChecker {
    using BN254 for BN254.G1Point;

    /// @notice The RegistryCoordinator whose quorums are checked.
    IRegistryCoordinator public immutable registryCoordinator;
    /// @notice The StakeRegistry of that coordinator.
    IStakeRegistry public immutable stakeRegistry;
    /// @notice The BLSApkRegistry of that coordinator.
    IBLSApkRegistry public immutable blsApkRegistry;
    /// @notice EigenLayer's DelegationManager (withdrawal delay for the stale-stake rule).
    IDelegationManager public immutable delegation;

    /// @notice Whether signatures over stakes older than the withdrawal delay are refused.
    bool public staleStakesForbidden;

    /// @param registryCoordinator_ the RegistryCoordinator (proxy) address
    /// @param stakeRegistry_ its StakeRegistry (proxy) address
    /// @param blsApkRegistry_ its BLSApkRegistry (proxy) address
    /// @param delegation_ EigenLayer's DelegationManager (proxy) address
    constructor(
        IRegistryCoordinator registryCoordinator_,
        IStakeRegistry stakeRegistry_,
        IBLSApkRegistry blsApkRegistry_,
        IDelegationManager delegation_
    ) {
        registryCoordinator = registryCoordinator_;
        stakeRegistry = stakeRegistry_;
        blsApkRegistry = blsApkRegistry_;
        delegation = delegation_;
    }

    /// @notice Switches the stale-stake rule (RegistryCoordinator owner only, as EigenLayer's).
    function setStaleStakesForbidden(bool value) external {
        if (msg.sender != registryCoordinator.owner()) revert OnlyCoordinatorOwner();
        staleStakesForbidden = value;
        emit StaleStakesForbiddenUpdate(value);
    }

    /// @inheritdoc IBLSSignatureChecker
    function checkSignatures(
        bytes32 msgHash,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) external view returns (QuorumStakeTotals memory, bytes32) {
        // A quorum the coordinator never created has no APK history either, but EigenLayer
        // refuses it up front with a clear reason; so do we.
        if (quorumNumbers.length != 0) {
            uint8 highest = uint8(quorumNumbers[quorumNumbers.length - 1]);
            if (highest >= registryCoordinator.quorumCount()) revert QuorumDoesNotExist(highest);
        }
        return _checkSignatures(msgHash, quorumNumbers, referenceBlockNumber, params);
    }

    /// @notice EigenLayer's combined check: e(sigma + g*apk, -G2) * e(H(m) + g*G1, apkG2) == 1 with
    ///         g = keccak256(msgHash, apk, apkG2, sigma) mod r.
    /// @return pairingSuccessful whether the pairing precompile ran
    /// @return signatureIsValid whether the pairing equation holds
    function trySignatureAndApkVerify(
        bytes32 msgHash,
        BN254.G1Point memory apk,
        BN254.G2Point memory apkG2,
        BN254.G1Point memory sigma
    ) public view returns (bool pairingSuccessful, bool signatureIsValid) {
        uint256 gamma = uint256(
            keccak256(
                abi.encodePacked(
                    msgHash, apk.X, apk.Y, apkG2.X[0], apkG2.X[1], apkG2.Y[0], apkG2.Y[1], sigma.X, sigma.Y
                )
            )
        ) % BN254.FR_MODULUS;
        BN254.G1Point memory lhs = sigma.plus(apk.scalarMul(gamma));
        BN254.G1Point memory rhs = BN254.hashToG1(msgHash).plus(BN254.generatorG1().scalarMul(gamma));
        // A failing pairing call (invalid G2 input) is reported, not reverted, as EigenLayer does.
        (pairingSuccessful, signatureIsValid) = _tryPairing(lhs, BN254.negGeneratorG2(), rhs, apkG2);
    }

    /// @dev The check without the quorum-existence call: callers that validated the quorum
    ///      numbers against `quorumCount` earlier (a task at creation) skip that external call.
    function _checkSignatures(
        bytes32 msgHash,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) internal view returns (QuorumStakeTotals memory totals, bytes32 signatoryRecordHash) {
        uint256 quorumCount = quorumNumbers.length;
        if (quorumCount == 0) revert EmptyQuorumNumbers();
        if (
            params.quorumApks.length != quorumCount || params.quorumApkIndices.length != quorumCount
                || params.totalStakeIndices.length != quorumCount
                || params.nonSignerStakeIndices.length != quorumCount
        ) revert QuorumLengthMismatch();
        uint256 nonSignerCount = params.nonSignerPubkeys.length;
        if (params.nonSignerQuorumBitmapIndices.length != nonSignerCount) revert NonSignerLengthMismatch();
        if (referenceBlockNumber >= block.number) {
            revert ReferenceBlockNotInPast(referenceBlockNumber, block.number);
        }
        uint256 signingBitmap = _quorumBitmap(quorumNumbers);

        // record = abi.encodePacked(referenceBlockNumber, nonSignerIds): its hash is the result,
        // and it holds the ids for the stake lookups below.
        bytes memory record = new bytes(4 + 32 * nonSignerCount);
        assembly ("memory-safe") {
            mstore(add(record, 0x20), shl(224, referenceBlockNumber))
        }
        uint256[] memory bitmaps = new uint256[](nonSignerCount);
        BN254.G1Point memory apk =
            _nonSignersApk(params, referenceBlockNumber, signingBitmap, record, bitmaps);

        (totals, apk) = _quorumTotals(quorumNumbers, referenceBlockNumber, params, record, bitmaps, apk);

        (bool pairingSuccessful, bool valid) =
            trySignatureAndApkVerify(msgHash, apk, params.apkG2, params.sigma);
        if (!pairingSuccessful || !valid) revert InvalidSignature();
        signatoryRecordHash = keccak256(record);
    }

    /// @dev -(sum of non-signer keys, each times the number of signing quorums it is in); writes
    ///      each id into `record` and each quorum bitmap into `bitmaps`.
    function _nonSignersApk(
        NonSignerStakesAndSignature calldata params,
        uint32 referenceBlockNumber,
        uint256 signingBitmap,
        bytes memory record,
        uint256[] memory bitmaps
    ) private view returns (BN254.G1Point memory sum) {
        bytes32 previous;
        for (uint256 j = 0; j < bitmaps.length; j++) {
            BN254.G1Point memory pubkey = params.nonSignerPubkeys[j];
            bytes32 id = pubkey.hashG1Point();
            if (j != 0 && uint256(id) <= uint256(previous)) revert NonSignersNotSorted(j);
            previous = id;
            assembly ("memory-safe") {
                mstore(add(add(record, 0x24), shl(5, j)), id)
            }
            uint256 bitmap = registryCoordinator.getQuorumBitmapAtBlockNumberByIndex(
                id, referenceBlockNumber, params.nonSignerQuorumBitmapIndices[j]
            );
            bitmaps[j] = bitmap;
            uint256 times = _popcount(bitmap & signingBitmap);
            if (times == 0) continue;
            sum = sum.plus(times == 1 ? pubkey : pubkey.scalarMul(times));
        }
        sum = sum.negate();
    }

    /// @dev Per quorum: the stale-stake rule, the APK check (adding the quorum APK to `apk`), and
    ///      the total and signed stake.
    function _quorumTotals(
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params,
        bytes memory record,
        uint256[] memory bitmaps,
        BN254.G1Point memory apk
    ) private view returns (QuorumStakeTotals memory totals, BN254.G1Point memory) {
        uint256 quorumCount = quorumNumbers.length;
        totals.signedStakeForQuorum = new uint96[](quorumCount);
        totals.totalStakeForQuorum = new uint96[](quorumCount);
        uint256 withdrawalDelayBlocks = staleStakesForbidden ? delegation.minWithdrawalDelayBlocks() : 0;
        for (uint256 i = 0; i < quorumCount; i++) {
            uint8 quorum = uint8(quorumNumbers[i]);
            if (
                withdrawalDelayBlocks != 0
                    && registryCoordinator.quorumUpdateBlockNumber(quorum) + withdrawalDelayBlocks
                        <= referenceBlockNumber
            ) revert StakesStale(quorum);
            apk = _addQuorumApk(apk, params, i, quorum, referenceBlockNumber);
            uint96 total = stakeRegistry.getTotalStakeAtBlockNumberFromIndex(
                quorum, referenceBlockNumber, params.totalStakeIndices[i]
            );
            totals.totalStakeForQuorum[i] = total;
            totals.signedStakeForQuorum[i] =
                total - _nonSignerStake(params, i, quorum, referenceBlockNumber, record, bitmaps);
        }

        return (totals, apk);
    }

    /// @dev apk + quorumApks[i], after checking it against the registry's APK hash history.
    function _addQuorumApk(
        BN254.G1Point memory apk,
        NonSignerStakesAndSignature calldata params,
        uint256 i,
        uint8 quorum,
        uint32 referenceBlockNumber
    ) private view returns (BN254.G1Point memory) {
        BN254.G1Point memory quorumApk = params.quorumApks[i];
        bytes24 registered = blsApkRegistry.getApkHashAtBlockNumberAndIndex(
            quorum, referenceBlockNumber, params.quorumApkIndices[i]
        );
        if (bytes24(quorumApk.hashG1Point()) != registered) revert QuorumApkMismatch(quorum);
        return apk.plus(quorumApk);
    }

    /// @dev Sum of the stakes in `quorum` of the non-signers registered in it at the reference block.
    function _nonSignerStake(
        NonSignerStakesAndSignature calldata params,
        uint256 quorumIndex,
        uint8 quorum,
        uint32 referenceBlockNumber,
        bytes memory record,
        uint256[] memory bitmaps
    ) private view returns (uint96 stake) {
        uint32[] calldata indices = params.nonSignerStakeIndices[quorumIndex];
        uint256 k = 0;
        for (uint256 j = 0; j < bitmaps.length; j++) {
            if ((bitmaps[j] >> quorum) & 1 == 0) continue;
            if (k == indices.length) revert NonSignerStakeIndicesTooShort(quorumIndex);
            bytes32 id;
            assembly ("memory-safe") {
                id := mload(add(add(record, 0x24), shl(5, j)))
            }
            stake += stakeRegistry.getStakeAtBlockNumberAndIndex(quorum, referenceBlockNumber, id, indices[k]);
            unchecked {
                k++;
            }
        }
    }

    /// @dev Bitmap of strictly ascending quorum numbers.
    function _quorumBitmap(bytes calldata quorumNumbers) internal pure returns (uint256 bitmap) {
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            uint256 bit = uint256(1) << uint8(quorumNumbers[i]);
            // Strictly ascending iff every new bit is above all bits set so far.
            if (bitmap >= bit) revert QuorumNumbersNotSorted();
            bitmap |= bit;
        }
    }

    function _popcount(uint256 x) private pure returns (uint256 count) {
        while (x != 0) {
            x &= x - 1;
            count++;
        }
    }

    function _tryPairing(
        BN254.G1Point memory a1,
        BN254.G2Point memory a2,
        BN254.G1Point memory b1,
        BN254.G2Point memory b2
    ) private view returns (bool ok, bool result) {
        uint256[12] memory input = [
            a1.X, a1.Y, a2.X[0], a2.X[1], a2.Y[0], a2.Y[1], b1.X, b1.Y, b2.X[0], b2.X[1], b2.Y[0], b2.Y[1]
        ];
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 0x180, input, 0x20)
            result := and(ok, mload(input))
        }
    }
}
