// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "./utils/Test.sol";
import {G2Math} from "./utils/G2Math.sol";
import {BN254} from "../src/libraries/BN254.sol";

/// @dev External wrapper so reverts of the library can be expected.
contract BN254Harness {
    function plus(BN254.G1Point memory a, BN254.G1Point memory b)
        external
        view
        returns (BN254.G1Point memory)
    {
        return BN254.plus(a, b);
    }
}

contract BN254Test is Test {
    using BN254 for BN254.G1Point;

    function testGeneratorPairing() public view {
        // e(G1, -G2) * e(G1, G2) == 1
        assertTrue(
            BN254.pairing(
                BN254.generatorG1(), BN254.negGeneratorG2(), BN254.generatorG1(), G2Math.mulGenerator(1)
            ),
            "e(G1,-G2) e(G1,G2) == 1"
        );
    }

    function testG2MathAgreesWithPairing() public view {
        uint256 sk = 0x1234567890abcdef1234567890abcdef;
        // e(sk*G1, -G2) * e(G1, sk*G2) == 1 iff sk*G2 is right.
        assertTrue(
            BN254.pairing(
                BN254.generatorG1().scalarMul(sk),
                BN254.negGeneratorG2(),
                BN254.generatorG1(),
                G2Math.mulGenerator(sk)
            ),
            "sk*G2 matches sk*G1"
        );
        assertFalse(
            BN254.pairing(
                BN254.generatorG1().scalarMul(sk),
                BN254.negGeneratorG2(),
                BN254.generatorG1(),
                G2Math.mulGenerator(sk + 1)
            ),
            "(sk+1)*G2 must not match sk*G1"
        );
    }

    function testNegateAndPlus() public view {
        BN254.G1Point memory p = BN254.generatorG1().scalarMul(7);
        BN254.G1Point memory zero = p.plus(p.negate());
        assertEq(zero.X, 0, "p + -p is infinity (X)");
        assertEq(zero.Y, 0, "p + -p is infinity (Y)");
        BN254.G1Point memory inf = BN254.G1Point(0, 0);
        assertEq(inf.negate().Y, 0, "-infinity is infinity");
        BN254.G1Point memory three = BN254.generatorG1().scalarMul(3);
        BN254.G1Point memory sum = BN254.generatorG1().plus(BN254.generatorG1().scalarMul(2));
        assertEq(sum.X, three.X, "G + 2G == 3G");
        assertEq(sum.Y, three.Y, "G + 2G == 3G");
    }

    function testPlusRevertsOffCurve() public {
        BN254Harness h = new BN254Harness();
        vm.expectRevert(abi.encodeWithSelector(BN254.PrecompileFailed.selector, uint256(6)));
        h.plus(BN254.G1Point(1, 3), BN254.generatorG1());
    }

    function testHashToG1IsOnCurve() public view {
        for (uint256 i = 0; i < 16; i++) {
            bytes32 digest = keccak256(abi.encode(i));
            BN254.G1Point memory h = BN254.hashToG1(digest);
            uint256 p = BN254.FP_MODULUS;
            assertEq(mulmod(h.Y, h.Y, p), addmod(mulmod(mulmod(h.X, h.X, p), h.X, p), 3, p), "y^2 == x^3 + 3");
            assertTrue(h.X >= uint256(digest) % p, "x starts at digest mod p");
        }
    }

    function testHashG1PointIsKeccakOfCoordinates() public pure {
        BN254.G1Point memory p = BN254.G1Point(5, 6);
        assertEq(p.hashG1Point(), keccak256(abi.encodePacked(uint256(5), uint256(6))), "hashG1Point");
    }
}
