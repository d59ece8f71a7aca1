// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./libraries/BN254.sol";
import {IBLSSignatureChecker} from "./interfaces/IBLSSignatureChecker.sol";
import {IRegistryCoordinator, IStakeRegistry, IBLSApkRegistry} from "./interfaces/IEigenLayerMiddleware.sol";
import {IDelegationManager} from "./interfaces/IEigenLayerCore.sol";

/// @title BLSSignatureChecker
/// @notice EigenLayer's `checkSignatures` (same ABI, its rules plus a non-empty quorum) reading the real registries'
///         history: quorum APK, total stake and non-signer stake at the reference block through
///         the caller-supplied history indices, and non-signers' quorum bitmaps.
/// @dev Rules enforced, as in EigenLayer's checker: at least one quorum; every per-quorum array
///      has one entry per quorum; reference block strictly in the past; quorum numbers strictly
///      ascending (and existing, in the public entry point); non-signers strictly ascending by
///      operator id; each provided quorum APK matches the registry's APK hash at the index; the
///      stale-stake rule when switched on; the aggregate signature verifies against
///      `sum(quorumApks) - sum(nonSigner * quorumsItIsIn)` with the random-linear-combination
///      check that also binds `apkG2` to the G1 APK. Stricter than EigenLayer's: a quorum with
///      zero total stake at the reference block, or zero signed stake, is refused
///      (`QuorumHasNoStake`, `NoSignedStake`).
///      Gas (see BENCHMARKS.md, "Contracts gas"): the check runs in assembly over calldata.
///      Every array of the parameters is bounds-checked once and read in place (no ABI decoding
///      into memory); registry views are plain staticcalls with one-word answers, and the
///      registries are immutables; a non-signer in one signing quorum costs one point addition
///      (no scalar multiplication), the first one none; the reference block's record, bitmaps
///      and totals live in one memory frame; `hashToG1` keeps its constants on the stack.
///      Storage: one bool; a derived contract's first small state variables pack into the same
///      slot (so reading them warms it), which is why there is no storage gap here.
contract BLSSignatureChecker is IBLSSignatureChecker {
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

    // Selectors used inside assembly, which only takes number literals; a test checks each
    // against its declaration.
    uint256 internal constant GET_QUORUM_BITMAP_SELECTOR = 0x04ec6351;
    uint256 internal constant GET_APK_HASH_SELECTOR = 0x68bccaac;
    uint256 internal constant GET_TOTAL_STAKE_SELECTOR = 0xc8294c56;
    uint256 internal constant GET_STAKE_SELECTOR = 0xf2be94ae;
    uint256 internal constant EMPTY_QUORUM_NUMBERS_SELECTOR = 0x7db3fe22;
    uint256 internal constant QUORUM_LENGTH_MISMATCH_SELECTOR = 0x872d55c7;
    uint256 internal constant NON_SIGNER_LENGTH_MISMATCH_SELECTOR = 0x0f05c54c;
    uint256 internal constant QUORUM_NUMBERS_NOT_SORTED_SELECTOR = 0x11dfe001;
    uint256 internal constant NON_SIGNERS_NOT_SORTED_SELECTOR = 0xff0c6f9e;
    uint256 internal constant NON_SIGNER_STAKE_INDICES_TOO_SHORT_SELECTOR = 0xbb6fad66;
    uint256 internal constant QUORUM_APK_MISMATCH_SELECTOR = 0xd3c67d05;
    uint256 internal constant REGISTRY_CALL_FAILED_SELECTOR = 0xd866da0b;
    uint256 internal constant PRECOMPILE_FAILED_SELECTOR = 0x00a48593;
    uint256 internal constant REFERENCE_BLOCK_NOT_IN_PAST_SELECTOR = 0x41b1af09;
    /// @dev BN254.FP_MODULUS
    uint256 internal constant FP = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;

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
            uint256 count = _registryView(
                address(registryCoordinator),
                abi.encodeWithSelector(IRegistryCoordinator.quorumCount.selector)
            );
            if (highest >= count) revert QuorumDoesNotExist(highest);
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
        uint256 g2AndSigma;
        assembly ("memory-safe") {
            g2AndSigma := mload(0x40)
            mstore(0x40, add(g2AndSigma, 0xc0))
            mcopy(g2AndSigma, mload(apkG2), 0x40)
            mcopy(add(g2AndSigma, 0x40), mload(add(apkG2, 0x20)), 0x40)
            mcopy(add(g2AndSigma, 0x80), sigma, 0x40)
        }
        // A failing pairing call (invalid G2 input) is reported, not reverted, as EigenLayer does.
        return BN254.verifyAggregate(msgHash, apk.X, apk.Y, g2AndSigma);
    }

    /// @dev The check without the quorum-existence call: callers that validated the quorum
    ///      numbers against `quorumCount` earlier (a task at creation) skip that external call.
    ///      The work is done in assembly over calldata: every array of `params` is bounds-checked
    ///      once (as Solidity's accessors would) and then read in place; registry views are plain
    ///      staticcalls with one-word answers. Memory, allocated once (the "frame"): the APK
    ///      (2 words), the signatory record (reference block, then the non-signer ids: exactly
    ///      the bytes whose hash is returned; 32(n+1) bytes), the non-signers' quorum bitmaps
    ///      (n words), apkG2 and sigma (6 words), and the stake totals; calls use scratch memory
    ///      above it.
    function _checkSignatures(
        bytes32 msgHash,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) internal view returns (QuorumStakeTotals memory totals, bytes32 signatoryRecordHash) {
        (uint256 frame, uint256 nonSignerCount) = _frame(quorumNumbers.length, referenceBlockNumber, params);
        _aggregateKey(frame, nonSignerCount, quorumNumbers, referenceBlockNumber, params);
        totals = _stakeTotals(frame, nonSignerCount, quorumNumbers, referenceBlockNumber, params);
        _checkStakeNotEmpty(totals, quorumNumbers);
        if (staleStakesForbidden) _checkStakesFresh(quorumNumbers, referenceBlockNumber);
        uint256 apkX;
        uint256 apkY;
        assembly ("memory-safe") {
            apkX := mload(frame)
            apkY := mload(add(frame, 0x20))
        }
        (bool pairingSuccessful, bool valid) =
            BN254.verifyAggregate(msgHash, apkX, apkY, frame + 0x60 + 64 * nonSignerCount);
        if (!pairingSuccessful || !valid) revert InvalidSignature();
        assembly ("memory-safe") {
            signatoryRecordHash := keccak256(add(frame, 0x40), add(4, shl(5, nonSignerCount)))
        }
    }

    /// @dev Checks the shape of the input (array bounds, one entry per quorum and per
    ///      non-signer, reference block in the past) and allocates the frame.
    function _frame(
        uint256 quorumCount,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) private view returns (uint256 frame, uint256 nonSignerCount) {
        assembly ("memory-safe") {
            function fail(selector) {
                mstore(0x00, selector)
                revert(0x1c, 0x04)
            }
            // The length of a dynamic array member of the calldata tuple at `base` (its offset
            // at base + field), with Solidity's accessor checks: offset, length, elements
            // inside the calldata.
            function arrayLength(base, field, stride) -> length {
                let offset := calldataload(add(base, field))
                length := calldataload(add(base, offset))
                if or(
                    gt(or(offset, length), 0xffffffffffffffff),
                    gt(add(add(base, add(offset, 0x20)), mul(length, stride)), calldatasize())
                ) { revert(0, 0) }
            }
            if iszero(quorumCount) { fail(EMPTY_QUORUM_NUMBERS_SELECTOR) }
            // All four per-quorum arrays are bounds-checked before a mismatch is reported.
            let l0 := arrayLength(params, 0x40, 0x40) // quorumApks
            let l1 := arrayLength(params, 0x120, 0x20) // quorumApkIndices
            let l2 := arrayLength(params, 0x140, 0x20) // totalStakeIndices
            let l3 := arrayLength(params, 0x160, 0x20) // nonSignerStakeIndices
            if or(
                or(xor(l0, quorumCount), xor(l1, quorumCount)),
                or(xor(l2, quorumCount), xor(l3, quorumCount))
            ) {
                fail(QUORUM_LENGTH_MISMATCH_SELECTOR)
            }
            nonSignerCount := arrayLength(params, 0x20, 0x40) // nonSignerPubkeys
            // nonSignerQuorumBitmapIndices
            if xor(arrayLength(params, 0x00, 0x20), nonSignerCount) {
                fail(NON_SIGNER_LENGTH_MISMATCH_SELECTOR)
            }
            if iszero(lt(referenceBlockNumber, number())) {
                // ReferenceBlockNotInPast(referenceBlockNumber, block.number)
                mstore(0x00, REFERENCE_BLOCK_NOT_IN_PAST_SELECTOR)
                mstore(0x20, referenceBlockNumber)
                mstore(0x40, number())
                revert(0x1c, 0x44)
            }
            frame := mload(0x40)
            let g2AndSigma := add(frame, add(0x60, shl(6, nonSignerCount)))
            // totals: 2 words, then two arrays of quorumCount + 1 words.
            mstore(0x40, add(g2AndSigma, add(0x100, shl(6, add(quorumCount, 1)))))
            mstore(add(frame, 0x40), shl(224, referenceBlockNumber))
            calldatacopy(g2AndSigma, add(params, 0x60), 0xc0)
        }
    }

    /// @dev apk = sum(quorum APKs) - sum(non-signer keys, each once per signing quorum it is in),
    ///      into the frame; records the non-signer ids and quorum bitmaps on the way.
    function _aggregateKey(
        uint256 frame,
        uint256 nonSignerCount,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) private view {
        // Scratch "context" above the free memory pointer: the request being built (0x00),
        // the registries (0xa0, 0xc0), frame (0xe0), non-signer count (0x100), the
        // nonSignerQuorumBitmapIndices elements (0x120), an ecAdd input (0x140, 4 words).
        uint256 context;
        {
            address coordinator = address(registryCoordinator);
            address apkRegistry = address(blsApkRegistry);
            assembly ("memory-safe") {
                context := mload(0x40)
                mstore(add(context, 0xa0), coordinator)
                mstore(add(context, 0xc0), apkRegistry)
                mstore(add(context, 0xe0), frame)
                mstore(add(context, 0x100), nonSignerCount)
                mstore(add(context, 0x120), add(add(params, calldataload(params)), 0x20))
                mstore(add(context, 0x24), referenceBlockNumber)
            }
        }
        assembly ("memory-safe") {
            function failWith(selector, argument) {
                mstore(0x00, selector)
                mstore(0x20, argument)
                revert(0x1c, 0x24)
            }
            // A uint32 element (ABI-clean, as Solidity's decoder demands).
            function uint32At(data, index) -> value {
                value := calldataload(add(data, shl(5, index)))
                if gt(value, 0xffffffff) { revert(0, 0) }
            }
            // A registry view with a one-word answer; a revert is passed on unchanged.
            function registryView(registry, request, size) -> value {
                if iszero(staticcall(gas(), registry, request, size, 0x00, 0x20)) {
                    returndatacopy(request, 0, returndatasize())
                    revert(request, returndatasize())
                }
                if lt(returndatasize(), 0x20) { failWith(REGISTRY_CALL_FAILED_SELECTOR, registry) }
                value := mload(0x00)
            }
            function ecAdd(input) {
                if iszero(staticcall(gas(), 0x06, input, 0x80, input, 0x40)) {
                    failWith(PRECOMPILE_FAILED_SELECTOR, 6)
                }
            }
            // Bitmap of the quorum numbers, which must strictly ascend.
            function signingBitmap(quorums, count) -> bitmap {
                for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                    let bit := shl(byte(0, calldataload(add(quorums, i))), 1)
                    // Strictly ascending iff every new bit is above all bits set so far.
                    if iszero(lt(bitmap, bit)) {
                        mstore(0x00, QUORUM_NUMBERS_NOT_SORTED_SELECTOR)
                        revert(0x1c, 0x04)
                    }
                    bitmap := or(bitmap, bit)
                }
            }
            // (x, y) + the key at calldata `key`. (0, 0) is the empty sum, replaced by the key as
            // is: range-checked here, curve-checked by the addition to the quorum APK.
            function addKey(ctx, x, y, key) -> rx, ry {
                rx := calldataload(key)
                ry := calldataload(add(key, 0x20))
                switch or(x, y)
                case 0 {
                    if iszero(and(lt(rx, FP), lt(ry, FP))) { failWith(PRECOMPILE_FAILED_SELECTOR, 6) }
                }
                default {
                    let input := add(ctx, 0x140)
                    mstore(input, x)
                    mstore(add(input, 0x20), y)
                    mstore(add(input, 0x40), rx)
                    mstore(add(input, 0x60), ry)
                    ecAdd(input)
                    rx := mload(input)
                    ry := mload(add(input, 0x20))
                }
            }
            // Sum of the non-signer keys, each once per signing quorum it is in. For each
            // non-signer j: its id (the key's hash, strictly above the previous one) into the
            // record, its quorum bitmap (getQuorumBitmapAtBlockNumberByIndex) after the record.
            function nonSigners(ctx, keys, signing) -> x, y {
                let count := mload(add(ctx, 0x100))
                let record := add(mload(add(ctx, 0xe0)), 0x40)
                let indices := mload(add(ctx, 0x120))
                let coordinator := mload(add(ctx, 0xa0))
                mstore(ctx, shl(224, GET_QUORUM_BITMAP_SELECTOR))
                let previous := 0
                for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                    let key := add(keys, shl(6, j))
                    {
                        calldatacopy(0x00, key, 0x40)
                        let id := keccak256(0x00, 0x40)
                        if iszero(gt(id, previous)) {
                            failWith(NON_SIGNERS_NOT_SORTED_SELECTOR, j)
                        }
                        previous := id
                        mstore(add(record, add(4, shl(5, j))), id)
                        mstore(add(ctx, 0x04), id)
                    }
                    mstore(add(ctx, 0x44), uint32At(indices, j))
                    let bitmap := registryView(coordinator, ctx, 0x64)
                    // A quorum bitmap is a uint192.
                    if shr(192, bitmap) { failWith(REGISTRY_CALL_FAILED_SELECTOR, coordinator) }
                    mstore(add(record, shl(5, add(add(count, 1), j))), bitmap)
                    for { bitmap := and(bitmap, signing) } bitmap { bitmap := and(bitmap, sub(bitmap, 1)) } {
                        x, y := addKey(ctx, x, y, key)
                    }
                }
            }
            // Sum of the quorum APKs, each checked against the registry's APK hash
            // (getApkHashAtBlockNumberAndIndex), into the ecAdd input.
            function quorumApks(ctx, quorums, count, apks, indices) {
                mstore(ctx, shl(224, GET_APK_HASH_SELECTOR))
                let sum := add(ctx, 0x140)
                for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                    let quorum := byte(0, calldataload(add(quorums, i)))
                    mstore(add(ctx, 0x04), quorum)
                    mstore(add(ctx, 0x44), uint32At(indices, i))
                    let registered := registryView(mload(add(ctx, 0xc0)), ctx, 0x64)
                    let apk := add(apks, shl(6, i))
                    calldatacopy(0x00, apk, 0x40)
                    // The registry answers a bytes24, left-aligned: compare the top 24 bytes.
                    if shr(64, xor(keccak256(0x00, 0x40), registered)) {
                        failWith(QUORUM_APK_MISMATCH_SELECTOR, quorum)
                    }
                    switch i
                    case 0 { calldatacopy(sum, apk, 0x40) }
                    default {
                        calldatacopy(add(sum, 0x40), apk, 0x40)
                        ecAdd(sum)
                    }
                }
            }

            let signing := signingBitmap(quorumNumbers.offset, quorumNumbers.length)
            let nx, ny :=
                nonSigners(context, add(add(params, calldataload(add(params, 0x20))), 0x20), signing)
            quorumApks(
                context,
                quorumNumbers.offset,
                quorumNumbers.length,
                add(add(params, calldataload(add(params, 0x40))), 0x20),
                add(add(params, calldataload(add(params, 0x120))), 0x20)
            )
            // Subtract the non-signers; nothing to subtract is the point at infinity.
            let sum := add(context, 0x140)
            if or(nx, ny) {
                mstore(add(sum, 0x40), nx)
                mstore(add(sum, 0x60), sub(FP, ny))
                ecAdd(sum)
            }
            mcopy(frame, sum, 0x40)
        }
    }

    /// @dev Per quorum: total stake and signed stake (total minus the stake of the non-signers
    ///      registered in it), at the reference block.
    function _stakeTotals(
        uint256 frame,
        uint256 nonSignerCount,
        bytes calldata quorumNumbers,
        uint32 referenceBlockNumber,
        NonSignerStakesAndSignature calldata params
    ) private view returns (QuorumStakeTotals memory totals) {
        // Scratch context as in _aggregateKey: the request (0x00), the registry (0xa0), frame
        // (0xe0), non-signer count (0x100), the nonSignerStakeIndices elements (0x120).
        uint256 context;
        {
            address stakes = address(stakeRegistry);
            assembly ("memory-safe") {
                context := mload(0x40)
                mstore(add(context, 0xa0), stakes)
                mstore(add(context, 0xe0), frame)
                mstore(add(context, 0x100), nonSignerCount)
                mstore(add(context, 0x120), add(add(params, calldataload(add(params, 0x160))), 0x20))
                mstore(add(context, 0x24), referenceBlockNumber)
            }
        }
        assembly ("memory-safe") {
            function failWith(selector, argument) {
                mstore(0x00, selector)
                mstore(0x20, argument)
                revert(0x1c, 0x24)
            }
            function uint32At(data, index) -> value {
                value := calldataload(add(data, shl(5, index)))
                if gt(value, 0xffffffff) { revert(0, 0) }
            }
            // A registry view returning a stake (a uint96); a revert is passed on unchanged.
            function stakeView(ctx, size) -> value {
                let registry := mload(add(ctx, 0xa0))
                if iszero(staticcall(gas(), registry, ctx, size, 0x00, 0x20)) {
                    returndatacopy(ctx, 0, returndatasize())
                    revert(ctx, returndatasize())
                }
                value := mload(0x00)
                if or(lt(returndatasize(), 0x20), gt(value, 0xffffffffffffffffffffffff)) {
                    failWith(REGISTRY_CALL_FAILED_SELECTOR, registry)
                }
            }
            // Stake of the non-signers in `quorum` (number i): getStakeAtBlockNumberAndIndex for
            // each non-signer whose bitmap has the quorum, with the next entry of
            // nonSignerStakeIndices[i].
            function nonSigning(ctx, quorum, i) -> stake {
                // nonSignerStakeIndices[i], bounds-checked as Solidity's accessor would.
                let outer := mload(add(ctx, 0x120))
                let offset := calldataload(add(outer, shl(5, i)))
                let length := calldataload(add(outer, offset))
                let indices := add(add(outer, offset), 0x20)
                if or(
                    gt(or(offset, length), 0xffffffffffffffff),
                    gt(add(indices, shl(5, length)), calldatasize())
                ) {
                    revert(0, 0)
                }
                mstore(ctx, shl(224, GET_STAKE_SELECTOR))
                mstore(add(ctx, 0x04), quorum)
                let count := mload(add(ctx, 0x100))
                let record := add(mload(add(ctx, 0xe0)), 0x40)
                let bitmaps := add(record, shl(5, add(count, 1)))
                let k := 0
                for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                    if and(shr(quorum, mload(add(bitmaps, shl(5, j)))), 1) {
                        if eq(k, length) { failWith(NON_SIGNER_STAKE_INDICES_TOO_SHORT_SELECTOR, i) }
                        mstore(add(ctx, 0x44), mload(add(record, add(4, shl(5, j)))))
                        mstore(add(ctx, 0x64), uint32At(indices, k))
                        stake := add(stake, stakeView(ctx, 0x84))
                        k := add(k, 1)
                    }
                }
            }
            // Total stake of `quorum` (getTotalStakeAtBlockNumberFromIndex) and its signed stake.
            function quorumStakes(ctx, quorum, i, totalIndex) -> total, signed {
                mstore(ctx, shl(224, GET_TOTAL_STAKE_SELECTOR))
                mstore(add(ctx, 0x04), quorum)
                mstore(add(ctx, 0x44), totalIndex)
                total := stakeView(ctx, 0x64)
                let missing := nonSigning(ctx, quorum, i)
                // More non-signing than total stake: Panic(0x11), as EigenLayer's checked math.
                if gt(missing, total) {
                    mstore(0x00, 0x4e487b71)
                    mstore(0x20, 0x11)
                    revert(0x1c, 0x24)
                }
                signed := sub(total, missing)
            }

            let count := quorumNumbers.length
            // totals: [signed, total] pointers, then the two arrays, after apkG2 and sigma.
            totals := add(frame, add(0x120, shl(6, nonSignerCount)))
            let signedArray := add(totals, 0x40)
            let totalArray := add(signedArray, shl(5, add(count, 1)))
            mstore(totals, signedArray)
            mstore(add(totals, 0x20), totalArray)
            mstore(signedArray, count)
            mstore(totalArray, count)
            let totalIndices := add(add(params, calldataload(add(params, 0x140))), 0x20)
            for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                let total, signed :=
                    quorumStakes(
                        context,
                        byte(0, calldataload(add(quorumNumbers.offset, i))),
                        i,
                        uint32At(totalIndices, i)
                    )
                mstore(add(totalArray, shl(5, add(i, 1))), total)
                mstore(add(signedArray, shl(5, add(i, 1))), signed)
            }
        }
    }

    /// @dev No quorum may be empty, and somebody with stake must have signed in each: with zero
    ///      total stake every threshold passes (0 * 100 >= 0 * threshold) with the trivial
    ///      aggregate, so an emptied quorum (all signers ejected) would "attest" anything.
    function _checkStakeNotEmpty(QuorumStakeTotals memory totals, bytes calldata quorumNumbers) private pure {
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            if (totals.totalStakeForQuorum[i] == 0) revert QuorumHasNoStake(uint8(quorumNumbers[i]));
            if (totals.signedStakeForQuorum[i] == 0) revert NoSignedStake(uint8(quorumNumbers[i]));
        }
    }

    /// @dev EigenLayer's stale-stake rule: each quorum's stakes must have been updated within the
    ///      withdrawal delay before the reference block.
    function _checkStakesFresh(bytes calldata quorumNumbers, uint32 referenceBlockNumber) private view {
        uint256 withdrawalDelayBlocks = _registryView(
            address(delegation), abi.encodeWithSelector(IDelegationManager.minWithdrawalDelayBlocks.selector)
        );
        for (uint256 i = 0; i < quorumNumbers.length; i++) {
            uint8 quorum = uint8(quorumNumbers[i]);
            uint256 updated = _registryView(
                address(registryCoordinator),
                abi.encodeWithSelector(IRegistryCoordinator.quorumUpdateBlockNumber.selector, quorum)
            );
            if (updated + withdrawalDelayBlocks <= referenceBlockNumber) revert StakesStale(quorum);
        }
    }

    /// @dev staticcall of a registry view returning one word (cold paths: quorum count, the
    ///      stale-stake rule). A revert of the registry is passed on unchanged, and a short
    ///      answer is refused.
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
}
