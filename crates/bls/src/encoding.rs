//! Compressed wire encodings of G1 (32 bytes) and G2 (64 bytes) points.
//!
//! Layout (big-endian, like the contract's `uint256` words):
//!
//! * G1: the 32-byte x coordinate.
//! * G2: x as `c1 ‖ c0` (imaginary part first, EigenLayer's `G2Point.X` order), 64 bytes.
//!
//! Coordinates are below p < 2²⁵⁴, so the two top bits of the first byte are free and carry the
//! flags:
//!
//! * bit 7 ([`FLAG_Y_LARGER`]): y is the larger of the two square roots, i.e. `y > (p − 1)/2`
//!   (for Fp2: compare c1, or c0 when c1 = 0);
//! * bit 6 ([`FLAG_INFINITY`]): the identity; all other bits are then zero. Keys and signatures
//!   are never the identity, so decoding rejects it with [`BlsError::Identity`].
//!
//! Decoding is strict: wrong length, flag combinations we never write, coordinates `>= p`,
//! points off the curve and (for G2) points outside the prime-order subgroup are each rejected
//! with their own error. Every valid point has exactly one encoding. BN254 G1 has cofactor 1, so
//! on-curve already implies subgroup membership there.

use alloy::primitives::U256;
use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::{AffineRepr, short_weierstrass::SWCurveConfig};
use ark_ff::{Field, PrimeField, Zero};

use crate::{
    BlsError,
    point::{fq_from_u256, fq_to_u256},
};

/// Length of a compressed G1 point (signature, G1 public key).
pub const G1_COMPRESSED_LEN: usize = 32;
/// Length of a compressed G2 point (G2 public key).
pub const G2_COMPRESSED_LEN: usize = 64;
/// Flag bit in the first byte: y is the larger square root.
pub const FLAG_Y_LARGER: u8 = 0x80;
/// Flag bit in the first byte: the point at infinity.
pub const FLAG_INFINITY: u8 = 0x40;
const FLAGS: u8 = FLAG_Y_LARGER | FLAG_INFINITY;

fn fq_is_larger(value: &Fq) -> bool {
    value.into_bigint() > Fq::MODULUS_MINUS_ONE_DIV_TWO
}

fn fq2_is_larger(value: &Fq2) -> bool {
    if value.c1.is_zero() {
        fq_is_larger(&value.c0)
    } else {
        fq_is_larger(&value.c1)
    }
}

/// Splits off the flags; `bytes` has the checked length. Returns the flags and the coordinate
/// words with the flag bits cleared.
fn split_flags<const N: usize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<(u8, [U256; N]), BlsError> {
    if bytes.len() != 32 * N {
        return Err(BlsError::WrongLength {
            what,
            expected: 32 * N,
            got: bytes.len(),
        });
    }
    let flags = bytes[0] & FLAGS;
    let mut words = [U256::ZERO; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(32)) {
        *word = U256::from_be_slice(chunk);
    }
    words[0] &= U256::MAX >> 2;
    if flags & FLAG_INFINITY != 0 {
        return Err(
            if flags == FLAG_INFINITY && words.iter().all(U256::is_zero) {
                BlsError::Identity { what }
            } else {
                BlsError::NonCanonical {
                    what,
                    reason: "infinity flag with other bits set",
                }
            },
        );
    }
    Ok((flags, words))
}

fn with_flags<const L: usize>(mut out: [u8; L], larger: bool) -> [u8; L] {
    if larger {
        out[0] |= FLAG_Y_LARGER;
    }
    out
}

/// Compresses a G1 point (the identity encodes as `FLAG_INFINITY` followed by zeros).
pub(crate) fn encode_g1(point: &G1Affine) -> [u8; G1_COMPRESSED_LEN] {
    match point.xy() {
        Some((x, y)) => with_flags(fq_to_u256(x).to_be_bytes::<32>(), fq_is_larger(&y)),
        None => {
            let mut out = [0u8; G1_COMPRESSED_LEN];
            out[0] = FLAG_INFINITY;
            out
        }
    }
}

/// Strictly decodes a compressed G1 point; the identity is rejected.
pub(crate) fn decode_g1(bytes: &[u8], what: &'static str) -> Result<G1Affine, BlsError> {
    let (flags, [x]) = split_flags::<1>(bytes, what)?;
    let x = fq_from_u256(x, what)?;
    let rhs = x.square() * x + ark_bn254::g1::Config::COEFF_B;
    let mut y = rhs.sqrt().ok_or(BlsError::NotOnCurve { what })?;
    // y = 0 cannot occur: G1 has prime order, so it has no point of order two.
    if fq_is_larger(&y) != (flags & FLAG_Y_LARGER != 0) {
        y = -y;
    }
    Ok(G1Affine::new_unchecked(x, y))
}

/// Compresses a G2 point, x as `c1 ‖ c0`.
pub(crate) fn encode_g2(point: &G2Affine) -> [u8; G2_COMPRESSED_LEN] {
    let mut out = [0u8; G2_COMPRESSED_LEN];
    match point.xy() {
        Some((x, y)) => {
            out[..32].copy_from_slice(&fq_to_u256(x.c1).to_be_bytes::<32>());
            out[32..].copy_from_slice(&fq_to_u256(x.c0).to_be_bytes::<32>());
            with_flags(out, fq2_is_larger(&y))
        }
        None => {
            out[0] = FLAG_INFINITY;
            out
        }
    }
}

/// Strictly decodes a compressed G2 point, including the subgroup check; the identity is
/// rejected.
pub(crate) fn decode_g2(bytes: &[u8], what: &'static str) -> Result<G2Affine, BlsError> {
    let (flags, [c1, c0]) = split_flags::<2>(bytes, what)?;
    let x = Fq2::new(fq_from_u256(c0, what)?, fq_from_u256(c1, what)?);
    let rhs = x.square() * x + ark_bn254::g2::Config::COEFF_B;
    let mut y = rhs.sqrt().ok_or(BlsError::NotOnCurve { what })?;
    let want_larger = flags & FLAG_Y_LARGER != 0;
    if y.is_zero() && want_larger {
        return Err(BlsError::NonCanonical {
            what,
            reason: "sign flag set for y = 0",
        });
    }
    if fq2_is_larger(&y) != want_larger {
        y = -y;
    }
    let point = G2Affine::new_unchecked(x, y);
    if !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err(BlsError::NotInSubgroup { what });
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::Fr;
    use ark_ec::CurveGroup;

    const WHAT: &str = "test point";

    #[test]
    fn g1_roundtrip_both_signs() {
        for k in 1..50u64 {
            let p = (G1Affine::generator() * Fr::from(k)).into_affine();
            for q in [p, -p] {
                assert_eq!(decode_g1(&encode_g1(&q), WHAT).unwrap(), q);
            }
            assert_ne!(encode_g1(&p), encode_g1(&-p));
        }
    }

    #[test]
    fn g2_roundtrip_both_signs() {
        for k in 1..10u64 {
            let p = (G2Affine::generator() * Fr::from(k)).into_affine();
            for q in [p, -p] {
                assert_eq!(decode_g2(&encode_g2(&q), WHAT).unwrap(), q);
            }
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_input_distinctly() {
        let good = encode_g1(&G1Affine::generator());
        assert_eq!(
            decode_g1(&good[..31], WHAT),
            Err(BlsError::WrongLength {
                what: WHAT,
                expected: 32,
                got: 31
            })
        );
        assert_eq!(
            decode_g1(&encode_g1(&G1Affine::zero()), WHAT),
            Err(BlsError::Identity { what: WHAT })
        );
        let mut garbage_infinity = encode_g1(&G1Affine::zero());
        garbage_infinity[31] = 1;
        assert!(matches!(
            decode_g1(&garbage_infinity, WHAT),
            Err(BlsError::NonCanonical { .. })
        ));
        // x = p (the flag bits cleared) is not a canonical coordinate.
        let p_bytes = U256::from_limbs(Fq::MODULUS.0).to_be_bytes::<32>();
        assert!(matches!(
            decode_g1(&p_bytes, WHAT),
            Err(BlsError::NonCanonical { .. })
        ));
        // x = 0: 3 is not a square mod p, so there is no point with x = 0.
        assert_eq!(
            decode_g1(&[0u8; 32], WHAT),
            Err(BlsError::NotOnCurve { what: WHAT })
        );
        assert_eq!(
            decode_g2(&encode_g2(&G2Affine::zero()), WHAT),
            Err(BlsError::Identity { what: WHAT })
        );
    }

    #[test]
    fn g2_decoding_rejects_twist_points_outside_the_subgroup() {
        let point = crate::point::tests::twist_point_outside_subgroup();
        let mut bytes = encode_g2(&point);
        bytes[0] &= !FLAGS;
        assert_eq!(
            decode_g2(&bytes, WHAT),
            Err(BlsError::NotInSubgroup { what: WHAT })
        );
    }
}
