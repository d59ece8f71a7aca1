//! Hash-to-curve exactly as EigenLayer's `BN254.hashToG1`.
//!
//! The middleware maps a 32-byte digest with try-and-increment: `x = digest mod p`; while
//! `β = x³ + 3` has no square root, `x += 1`; then `y = β^((p+1)/4)`. Because p ≡ 3 (mod 4),
//! that power *is* a square root whenever one exists, and it fixes which of the two roots is
//! taken. We run the same steps (same exponent, same acceptance test `y² == β`), so the point is
//! identical bit for bit to the contract's, which the cross-check tests confirm against
//! `eigen-crypto-bn254` and the test vectors confirm against the Solidity library.
//!
//! Not constant time, by design: the input is a public message digest.

use std::sync::LazyLock;

use alloy::primitives::B256;
use ark_bn254::{Fq, G1Affine};
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ff::{BigInt, BigInteger, Field, PrimeField};

/// (p + 1) / 4, the square-root exponent for p ≡ 3 (mod 4).
static SQRT_EXPONENT: LazyLock<BigInt<4>> = LazyLock::new(|| {
    let mut e = Fq::MODULUS;
    e.add_with_carry(&BigInt::from(1u64));
    e.div2();
    e.div2();
    e
});

/// Maps a message digest to G1 like the middleware's `BN254.hashToG1(bytes32)`.
pub fn hash_to_g1(digest: B256) -> G1Affine {
    let mut x = Fq::from_be_bytes_mod_order(digest.as_slice());
    loop {
        let beta = x.square() * x + ark_bn254::g1::Config::COEFF_B;
        let y = beta.pow(*SQRT_EXPONENT);
        if y.square() == beta {
            return G1Affine::new_unchecked(x, y);
        }
        x += Fq::ONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::U256;

    #[test]
    fn exponent_is_the_one_in_bn254_sol() {
        let expected = U256::from_str_radix(
            "c19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52",
            16,
        )
        .unwrap();
        assert_eq!(U256::from_limbs(SQRT_EXPONENT.0), expected);
    }

    #[test]
    fn points_are_on_the_curve() {
        for i in 0..64u8 {
            let p = hash_to_g1(B256::repeat_byte(i));
            assert!(p.is_on_curve());
        }
    }

    #[test]
    fn zero_digest_needs_increments() {
        // x = 0 gives β = 3, a non-residue, so the first accepted x is 1: the generator (1, 2)
        // or its negation; BN254.sol's exponent picks y = 2.
        let p = hash_to_g1(B256::ZERO);
        assert_eq!(p, G1Affine::new(Fq::ONE, Fq::from(2u64)));
    }
}
