// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title BN254
/// @notice Points and operations of the BN254 (alt_bn128) curve through the EVM precompiles
///         0x05 (modexp), 0x06 (add), 0x07 (scalar mul) and 0x08 (pairing).
/// @dev G2 coordinates use EigenLayer's (and the pairing precompile's) order: `X[0]` is the
///      imaginary part c1 and `X[1]` the real part c0, same for `Y`. `hashToG1` maps a digest
///      exactly as EigenLayer's BN254 library does, so signatures made for EigenLayer verify
///      here. Every precompile failure (a point not on the curve) reverts with `PrecompileFailed`.
library BN254 {
    /// @notice Base field modulus p.
    uint256 internal constant FP_MODULUS =
        21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice Scalar field modulus r (the group order).
    uint256 internal constant FR_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @dev (p + 1) / 4: since p = 3 mod 4, beta^((p+1)/4) is a square root of beta if one exists.
    uint256 private constant SQRT_EXPONENT =
        0xc19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52;

    // The negated G2 generator, in precompile order (c1 before c0).
    uint256 private constant NEG_G2_X1 =
        11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 private constant NEG_G2_X0 =
        10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 private constant NEG_G2_Y1 =
        17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 private constant NEG_G2_Y0 =
        13392588948715843804641432497768002650278120570034223513918757245338268106653;

    /// @notice A G1 point in affine coordinates; (0, 0) is the point at infinity.
    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    /// @notice A G2 point; each coordinate is an Fp2 element as [c1, c0].
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /// @notice A precompile call failed: an input is not a valid curve point.
    error PrecompileFailed(uint256 precompile);

    /// @notice The generator of G1, (1, 2).
    function generatorG1() internal pure returns (G1Point memory) {
        return G1Point(1, 2);
    }

    /// @notice The negation of the standard G2 generator.
    function negGeneratorG2() internal pure returns (G2Point memory) {
        return G2Point([NEG_G2_X1, NEG_G2_X0], [NEG_G2_Y1, NEG_G2_Y0]);
    }

    /// @notice -p: (x, p - y), and the point at infinity stays itself.
    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (p.X == 0 && p.Y == 0) return G1Point(0, 0);
        return G1Point(p.X, FP_MODULUS - (p.Y % FP_MODULUS));
    }

    /// @notice p1 + p2 through precompile 0x06.
    function plus(G1Point memory p1, G1Point memory p2) internal view returns (G1Point memory r) {
        (r.X, r.Y) = add(p1.X, p1.Y, p2.X, p2.Y);
    }

    /// @notice s * p through precompile 0x07.
    function scalarMul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        (r.X, r.Y) = mul(p.X, p.Y, s);
    }

    /// @notice (x1, y1) + (x2, y2) on coordinates, without memory structs (hot paths).
    function add(uint256 x1, uint256 y1, uint256 x2, uint256 y2)
        internal
        view
        returns (uint256 x, uint256 y)
    {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, x1)
            mstore(add(m, 0x20), y1)
            mstore(add(m, 0x40), x2)
            mstore(add(m, 0x60), y2)
            ok := staticcall(gas(), 0x06, m, 0x80, m, 0x40)
            x := mload(m)
            y := mload(add(m, 0x20))
        }
        if (!ok) revert PrecompileFailed(6);
    }

    /// @notice s * (x, y) on coordinates, without memory structs (hot paths).
    function mul(uint256 x, uint256 y, uint256 s) internal view returns (uint256 rx, uint256 ry) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, x)
            mstore(add(m, 0x20), y)
            mstore(add(m, 0x40), s)
            ok := staticcall(gas(), 0x07, m, 0x60, m, 0x40)
            rx := mload(m)
            ry := mload(add(m, 0x20))
        }
        if (!ok) revert PrecompileFailed(7);
    }

    /// @notice Whether e(a1, a2) * e(b1, b2) == 1, through precompile 0x08.
    function pairing(G1Point memory a1, G2Point memory a2, G1Point memory b1, G2Point memory b2)
        internal
        view
        returns (bool result)
    {
        bool ok;
        (ok, result) = tryPairing(a1, a2, b1, b2);
        if (!ok) revert PrecompileFailed(8);
    }

    /// @notice As `pairing`, but reports a failed precompile call (invalid input) instead of reverting.
    function tryPairing(G1Point memory a1, G2Point memory a2, G1Point memory b1, G2Point memory b2)
        internal
        view
        returns (bool ok, bool result)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mcopy(m, a1, 0x40)
            mcopy(add(m, 0x40), mload(a2), 0x40)
            mcopy(add(m, 0x80), mload(add(a2, 0x20)), 0x40)
            mcopy(add(m, 0xc0), b1, 0x40)
            mcopy(add(m, 0x100), mload(b2), 0x40)
            mcopy(add(m, 0x140), mload(add(b2, 0x20)), 0x40)
            ok := staticcall(gas(), 0x08, m, 0x180, m, 0x20)
            result := and(ok, mload(m))
        }
    }

    /// @notice keccak256(X || Y): EigenLayer's pubkey hash, which is also the operator id.
    function hashG1Point(G1Point memory p) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(p, 0x40)
        }
    }

    /// @notice Maps a digest to G1 by try-and-increment, as EigenLayer's `BN254.hashToG1`:
    ///         x = digest mod p, then the first x, x+1, ... with x^3 + 3 a square; y is
    ///         (x^3 + 3)^((p+1)/4), the root that library picks.
    function hashToG1(bytes32 digest) internal view returns (G1Point memory p) {
        (p.X, p.Y) = hashToG1Coords(digest);
    }

    /// @notice `hashToG1` on coordinates: one modexp (0x05) per candidate x, no memory struct.
    function hashToG1Coords(bytes32 digest) internal view returns (uint256 x, uint256 y) {
        bool ok = true;
        assembly ("memory-safe") {
            // The modulus stays on the stack (the compiler would otherwise re-materialise it).
            let p := FP_MODULUS
            // modexp input: lengths (32, 32, 32), base, exponent, modulus; the base changes per try.
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x80), SQRT_EXPONENT)
            mstore(add(m, 0xa0), p)
            let base := add(m, 0x60)
            x := mod(digest, p)
            for {} 1 {} {
                let beta := addmod(mulmod(mulmod(x, x, p), x, p), 3, p)
                mstore(base, beta)
                ok := staticcall(gas(), 0x05, m, 0xc0, 0x00, 0x20)
                y := mload(0x00)
                // About half of all x have a square x^3 + 3, so the loop ends quickly.
                if or(iszero(ok), eq(mulmod(y, y, p), beta)) { break }
                x := addmod(x, 1, p)
            }
        }
        if (!ok) revert PrecompileFailed(5);
    }

    /// @notice EigenLayer's combined signature and APK check on coordinates:
    ///         e(sigma + g*apk, -G2) * e(H(m) + g*G1, apkG2) == 1 with
    ///         g = keccak256(msgHash, apk, apkG2, sigma) mod r, which verifies the signature and
    ///         binds the G2 key to the G1 key in one 2-pair pairing.
    /// @param g2AndSigma memory pointer to six words: apkG2 (X[0], X[1], Y[0], Y[1]), sigma (X, Y)
    /// @return pairingOk whether the pairing precompile accepted the input (a valid G2 point)
    /// @return valid whether the pairing equation holds
    function verifyAggregate(bytes32 msgHash, uint256 apkX, uint256 apkY, uint256 g2AndSigma)
        internal
        view
        returns (bool pairingOk, bool valid)
    {
        (uint256 hx, uint256 hy) = hashToG1Coords(msgHash);
        uint256 failed;
        assembly ("memory-safe") {
            // The pairing input is built in place: [lhs, -G2, rhs, apkG2], 12 words.
            let p := mload(0x40)
            mstore(p, msgHash)
            mstore(add(p, 0x20), apkX)
            mstore(add(p, 0x40), apkY)
            mcopy(add(p, 0x60), g2AndSigma, 0xc0)
            let gamma := mod(keccak256(p, 0x120), FR_MODULUS)
            // lhs = sigma + gamma * apk
            mstore(p, apkX)
            mstore(add(p, 0x20), apkY)
            mstore(add(p, 0x40), gamma)
            if iszero(staticcall(gas(), 0x07, p, 0x60, p, 0x40)) { failed := 7 }
            mcopy(add(p, 0x40), add(g2AndSigma, 0x80), 0x40)
            if iszero(staticcall(gas(), 0x06, p, 0x80, p, 0x40)) { failed := 6 }
            // rhs = H(m) + gamma * G1
            let q := add(p, 0xc0)
            mstore(q, 1)
            mstore(add(q, 0x20), 2)
            mstore(add(q, 0x40), gamma)
            if iszero(staticcall(gas(), 0x07, q, 0x60, q, 0x40)) { failed := 7 }
            mstore(add(q, 0x40), hx)
            mstore(add(q, 0x60), hy)
            if iszero(staticcall(gas(), 0x06, q, 0x80, q, 0x40)) { failed := 6 }
            mstore(add(p, 0x40), NEG_G2_X1)
            mstore(add(p, 0x60), NEG_G2_X0)
            mstore(add(p, 0x80), NEG_G2_Y1)
            mstore(add(p, 0xa0), NEG_G2_Y0)
            mcopy(add(p, 0x100), g2AndSigma, 0x80)
            if iszero(failed) {
                pairingOk := staticcall(gas(), 0x08, p, 0x180, 0x00, 0x20)
                valid := and(pairingOk, eq(mload(0x00), 1))
            }
        }
        // Invalid sigma or apk (not on the curve) is an error, as in EigenLayer's library.
        if (failed != 0) revert PrecompileFailed(failed);
    }

    /// @notice base^exponent mod modulus through precompile 0x05.
    function expMod(uint256 base, uint256 exponent, uint256 modulus) internal view returns (uint256 r) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x60), base)
            mstore(add(m, 0x80), exponent)
            mstore(add(m, 0xa0), modulus)
            ok := staticcall(gas(), 0x05, m, 0xc0, m, 0x20)
            r := mload(m)
        }
        if (!ok) revert PrecompileFailed(5);
    }
}
