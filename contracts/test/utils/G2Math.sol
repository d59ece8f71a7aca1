// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../../src/libraries/BN254.sol";

/// @title G2Math
/// @notice Test-only G2 scalar multiplication (there is no G2 precompile), so tests can make
///         BLS public keys and aggregate keys from secret keys. Slow and not constant time:
///         never for production. Fp2 elements are (c0, c1) = c0 + c1*i with i^2 = -1; results
///         come out in EigenLayer's G2Point order ([c1, c0]). `G2MathTest` checks the result
///         against the pairing precompile.
library G2Math {
    uint256 internal constant P = BN254.FP_MODULUS;

    struct Fp2 {
        uint256 c0;
        uint256 c1;
    }

    struct Jacobian {
        Fp2 x;
        Fp2 y;
        Fp2 z;
    }

    /// @notice s * G2 as a BN254.G2Point (s must be non-zero mod r).
    function mulGenerator(uint256 s) internal view returns (BN254.G2Point memory) {
        Fp2 memory gx = Fp2(
            10857046999023057135944570762232829481370756359578518086990519993285655852781,
            11559732032986387107991004021392285783925812861821192530917403151452391805634
        );
        Fp2 memory gy = Fp2(
            8495653923123431417604973247489272438418190587263600148770280649306958101930,
            4082367875863433681332203403145435568316851327593401208105741076214120093531
        );
        s %= BN254.FR_MODULUS;
        require(s != 0, "G2Math: zero scalar");
        uint256 top = 255;
        while ((s >> top) & 1 == 0) top--;
        Jacobian memory acc = Jacobian(gx, gy, Fp2(1, 0));
        for (uint256 i = top; i > 0; i--) {
            acc = _double(acc);
            if ((s >> (i - 1)) & 1 == 1) acc = _addAffine(acc, gx, gy);
        }
        Fp2 memory zInv = _inv(acc.z);
        Fp2 memory zInv2 = _mul(zInv, zInv);
        Fp2 memory x = _mul(acc.x, zInv2);
        Fp2 memory y = _mul(acc.y, _mul(zInv2, zInv));
        return BN254.G2Point([x.c1, x.c0], [y.c1, y.c0]);
    }

    function _double(Jacobian memory p) private pure returns (Jacobian memory r) {
        Fp2 memory a = _mul(p.x, p.x);
        Fp2 memory b = _mul(p.y, p.y);
        Fp2 memory c = _mul(b, b);
        Fp2 memory xb = _add(p.x, b);
        Fp2 memory d = _sub(_sub(_mul(xb, xb), a), c);
        d = _add(d, d);
        Fp2 memory e = _add(_add(a, a), a);
        Fp2 memory f = _mul(e, e);
        r.x = _sub(f, _add(d, d));
        Fp2 memory c8 = _add(c, c);
        c8 = _add(c8, c8);
        c8 = _add(c8, c8);
        r.y = _sub(_mul(e, _sub(d, r.x)), c8);
        Fp2 memory yz = _mul(p.y, p.z);
        r.z = _add(yz, yz);
    }

    /// @dev p + (qx, qy); p != +-q holds for the small multiples a double-and-add reaches.
    function _addAffine(Jacobian memory p, Fp2 memory qx, Fp2 memory qy)
        private
        pure
        returns (Jacobian memory r)
    {
        Fp2 memory z1z1 = _mul(p.z, p.z);
        Fp2 memory u2 = _mul(qx, z1z1);
        Fp2 memory s2 = _mul(qy, _mul(p.z, z1z1));
        Fp2 memory h = _sub(u2, p.x);
        Fp2 memory hh = _mul(h, h);
        Fp2 memory i4 = _add(hh, hh);
        i4 = _add(i4, i4);
        Fp2 memory j = _mul(h, i4);
        Fp2 memory rr = _sub(s2, p.y);
        rr = _add(rr, rr);
        Fp2 memory v = _mul(p.x, i4);
        r.x = _sub(_sub(_mul(rr, rr), j), _add(v, v));
        Fp2 memory y1j = _mul(p.y, j);
        r.y = _sub(_mul(rr, _sub(v, r.x)), _add(y1j, y1j));
        Fp2 memory zh = _add(p.z, h);
        r.z = _sub(_sub(_mul(zh, zh), z1z1), hh);
    }

    function _add(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        return Fp2(addmod(a.c0, b.c0, P), addmod(a.c1, b.c1, P));
    }

    function _sub(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        return Fp2(addmod(a.c0, P - b.c0, P), addmod(a.c1, P - b.c1, P));
    }

    function _mul(Fp2 memory a, Fp2 memory b) private pure returns (Fp2 memory) {
        // (a0 + a1 i)(b0 + b1 i) = (a0 b0 - a1 b1) + (a0 b1 + a1 b0) i
        return Fp2(
            addmod(mulmod(a.c0, b.c0, P), P - mulmod(a.c1, b.c1, P), P),
            addmod(mulmod(a.c0, b.c1, P), mulmod(a.c1, b.c0, P), P)
        );
    }

    function _inv(Fp2 memory a) private view returns (Fp2 memory) {
        // 1 / (a0 + a1 i) = (a0 - a1 i) / (a0^2 + a1^2)
        uint256 norm = addmod(mulmod(a.c0, a.c0, P), mulmod(a.c1, a.c1, P), P);
        uint256 normInv = BN254.expMod(norm, P - 2, P);
        return Fp2(mulmod(a.c0, normInv, P), mulmod(P - a.c1, normInv, P));
    }
}
