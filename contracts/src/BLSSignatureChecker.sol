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
        BN254.G1Point memory lhs;
        (uint256 x, uint256 y) = BN254.mul(apk.X, apk.Y, gamma);
        (lhs.X, lhs.Y) = BN254.add(sigma.X, sigma.Y, x, y);
        BN254.G1Point memory rhs = BN254.hashToG1(msgHash);
        (x, y) = BN254.mul(1, 2, gamma);
        (rhs.X, rhs.Y) = BN254.add(rhs.X, rhs.Y, x, y);
        // A failing pairing call (invalid G2 input) is reported, not reverted, as EigenLayer does.
        (pairingSuccessful, signatureIsValid) = BN254.tryPairing(lhs, BN254.negGeneratorG2(), rhs, apkG2);
    }

    /// @dev The check without the quorum-existence call: callers that validated the quorum
    ///      numbers against `quorumCount` earlier (a task at creation) skip that external call.
    function _checkSignatures(
        bytes32 msgHash,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) internal view returns (QuorumStakeTotals memory totals, bytes32 signatoryRecordHash) {
        _checkLengths(quorumNumbers.length, params);
        if (referenceBlockNumber >= block.number) {
            revert ReferenceBlockNotInPast(referenceBlockNumber, block.number);
        }

        // record = abi.encodePacked(referenceBlockNumber, nonSignerIds): its hash is the result,
        // and it holds the ids for the stake lookups.
        bytes memory record = new bytes(4 + 32 * params.nonSignerPubkeys.length);
        assembly ("memory-safe") {
            mstore(add(record, 0x20), shl(224, referenceBlockNumber))
        }
        uint256[] memory bitmaps = new uint256[](params.nonSignerPubkeys.length);
        BN254.G1Point memory apk;
        {
            (uint256 nx, uint256 ny) = _negatedNonSignersApk(
                params, referenceBlockNumber, _quorumBitmap(quorumNumbers), record, bitmaps
            );
            (uint256 qx, uint256 qy) = _sumQuorumApks(quorumNumbers, referenceBlockNumber, params);
            (apk.X, apk.Y) = BN254.add(qx, qy, nx, ny);
        }
        totals = _stakeTotals(quorumNumbers, referenceBlockNumber, params, record, bitmaps);

        (bool pairingSuccessful, bool valid) =
            trySignatureAndApkVerify(msgHash, apk, params.apkG2, params.sigma);
        if (!pairingSuccessful || !valid) revert InvalidSignature();
        signatoryRecordHash = keccak256(record);
    }

    /// @dev One entry per quorum in every per-quorum array, one per non-signer in both
    ///      non-signer arrays.
    function _checkLengths(uint256 quorumCount, NonSignerStakesAndSignature calldata params) private pure {
        if (quorumCount == 0) revert EmptyQuorumNumbers();
        if (
            params.quorumApks.length != quorumCount || params.quorumApkIndices.length != quorumCount
                || params.totalStakeIndices.length != quorumCount
                || params.nonSignerStakeIndices.length != quorumCount
        ) revert QuorumLengthMismatch();
        if (params.nonSignerQuorumBitmapIndices.length != params.nonSignerPubkeys.length) {
            revert NonSignerLengthMismatch();
        }
    }

    /// @dev -(sum of non-signer keys, each times the number of signing quorums it is in); writes
    ///      each id into `record` and each quorum bitmap into `bitmaps`.
    function _negatedNonSignersApk(
        NonSignerStakesAndSignature calldata params,
        uint32 referenceBlockNumber,
        uint256 signingBitmap,
        bytes memory record,
        uint256[] memory bitmaps
    ) private view returns (uint256 x, uint256 y) {
        uint256 previous;
        for (uint256 j = 0; j < bitmaps.length; j++) {
            uint256 px = params.nonSignerPubkeys[j].X;
            uint256 py = params.nonSignerPubkeys[j].Y;
            {
                uint256 id = _hashPoint(px, py);
                if (j != 0 && id <= previous) revert NonSignersNotSorted(j);
                previous = id;
                assembly ("memory-safe") {
                    mstore(add(add(record, 0x24), shl(5, j)), id)
                }
                bitmaps[j] = _bitmapAt(id, referenceBlockNumber, params.nonSignerQuorumBitmapIndices[j]);
            }
            uint256 times = _popcount(bitmaps[j] & signingBitmap);
            if (times == 0) continue;
            if (times != 1) (px, py) = BN254.mul(px, py, times);
            (x, y) = BN254.add(x, y, px, py);
        }
        if (y != 0) y = BN254.FP_MODULUS - y;
    }

    /// @dev Quorum bitmap of `operatorId` at the reference block, read at history `index`.
    function _bitmapAt(uint256 operatorId, uint32 referenceBlockNumber, uint32 index)
        private
        view
        returns (uint256)
    {
        return _registryView(
            address(registryCoordinator),
            abi.encodeWithSelector(
                IRegistryCoordinator.getQuorumBitmapAtBlockNumberByIndex.selector,
                operatorId,
                referenceBlockNumber,
                index
            )
        );
    }

    /// @dev keccak256(x || y): EigenLayer's pubkey hash, without building a memory struct.
    function _hashPoint(uint256 x, uint256 y) private pure returns (uint256 h) {
        assembly ("memory-safe") {
            mstore(0x00, x)
            mstore(0x20, y)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @dev Sum of the provided quorum APKs, each checked against the registry's APK hash history.
    function _sumQuorumApks(
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) private view returns (uint256 x, uint256 y) {
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            uint8 quorum = uint8(quorumNumbers[i]);
            BN254.G1Point calldata quorumApk = params.quorumApks[i];
            uint256 qx = quorumApk.X;
            uint256 qy = quorumApk.Y;
            bytes32 apkHash = bytes32(_hashPoint(qx, qy));
            uint256 registered = _registryView(
                address(blsApkRegistry),
                abi.encodeWithSelector(
                    IBLSApkRegistry.getApkHashAtBlockNumberAndIndex.selector,
                    quorum,
                    referenceBlockNumber,
                    params.quorumApkIndices[i]
                )
            );
            // The registry returns a bytes24, left-aligned in its word: compare the top 24 bytes.
            // forge-lint: disable-next-line(unsafe-typecast)
            if (bytes24(apkHash) != bytes24(bytes32(registered))) revert QuorumApkMismatch(quorum);
            (x, y) = i == 0 ? (qx, qy) : BN254.add(x, y, qx, qy);
        }
    }

    /// @dev Per quorum: the stale-stake rule, and the total and signed stake.
    function _stakeTotals(
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params,
        bytes memory record,
        uint256[] memory bitmaps
    ) private view returns (QuorumStakeTotals memory totals) {
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
            uint96 total = _stake(
                address(stakeRegistry),
                abi.encodeWithSelector(
                    IStakeRegistry.getTotalStakeAtBlockNumberFromIndex.selector,
                    quorum,
                    referenceBlockNumber,
                    params.totalStakeIndices[i]
                )
            );
            totals.totalStakeForQuorum[i] = total;
            totals.signedStakeForQuorum[i] =
                total - _nonSignerStake(params, i, quorum, referenceBlockNumber, record, bitmaps);
        }
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
            uint256 id;
            assembly ("memory-safe") {
                id := mload(add(add(record, 0x24), shl(5, j)))
            }
            stake += _stake(
                address(stakeRegistry),
                abi.encodeWithSelector(
                    IStakeRegistry.getStakeAtBlockNumberAndIndex.selector,
                    quorum,
                    referenceBlockNumber,
                    id,
                    indices[k]
                )
            );
            unchecked {
                k++;
            }
        }
    }

    /// @dev A registry view returning a stake (uint96), checked.
    function _stake(address registry, bytes memory request) private view returns (uint96) {
        uint256 value = _registryView(registry, request);
        if (value > type(uint96).max) revert RegistryCallFailed(registry);
        // casting to uint96 is safe: checked just above.
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint96(value);
    }

    /// @dev staticcall of a registry view returning one word. Cheaper than a high-level call
    ///      (no extcodesize check, no ABI decoding round trip); a revert of the registry is
    ///      passed on unchanged, and a short answer is refused.
    function _registryView(address registry, bytes memory request) private view returns (uint256 value) {
        bool short;
        assembly ("memory-safe") {
            if iszero(staticcall(gas(), registry, add(request, 0x20), mload(request), 0x00, 0x20)) {
                let m := mload(0x40)
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
            short := lt(returndatasize(), 0x20)
            value := mload(0x00)
        }
        if (short) revert RegistryCallFailed(registry);
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
}
