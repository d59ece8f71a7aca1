//! The contract-facing point structs and their checked conversions to arkworks points.
//!
//! EigenLayer's Solidity library declares `G1Point { uint256 X; uint256 Y; }` and
//! `G2Point { uint256[2] X; uint256[2] Y; }`. The G2 coordinates are elements of
//! Fp2 = Fp[u]/(u² + 1) written `c0 + c1·u`, and the EVM pairing precompile (EIP-197) expects the
//! **imaginary part first**: `X[0] = c1`, `X[1] = c0`, same for `Y`. [`G2Point`] keeps that
//! order so that values move to and from `sol!` structs without reshuffling. Both structs encode
//! the identity as all-zero coordinates, as the precompiles do.

use alloy::primitives::U256;
use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, PrimeField};

use crate::BlsError;

/// A G1 point as EigenLayer's `BN254.G1Point` holds it: affine `(X, Y)`, identity = `(0, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct G1Point {
    /// Affine x coordinate (below the base field modulus p).
    pub x: U256,
    /// Affine y coordinate (below p).
    pub y: U256,
}

/// A G2 point as EigenLayer's `BN254.G2Point` holds it: `x = [c1, c0]`, `y = [c1, c0]`
/// (imaginary part first, the EIP-197 order); identity = all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct G2Point {
    /// Affine x coordinate as `[imaginary c1, real c0]`.
    pub x: [U256; 2],
    /// Affine y coordinate as `[imaginary c1, real c0]`.
    pub y: [U256; 2],
}

/// Converts a field element to its canonical integer.
pub(crate) fn fq_to_u256(value: Fq) -> U256 {
    U256::from_limbs(value.into_bigint().0)
}

/// Converts an integer to a field element, rejecting values `>= p` instead of reducing them: a
/// reduced value would be a different point than the one the contract sees.
pub(crate) fn fq_from_u256(value: U256, what: &'static str) -> Result<Fq, BlsError> {
    Fq::from_bigint(BigInt(value.into_limbs())).ok_or(BlsError::NonCanonical {
        what,
        reason: "coordinate is not below the base field modulus p",
    })
}

impl G1Point {
    /// Checked conversion to an arkworks point: coordinates must be canonical (`< p`) and on the
    /// curve; `(0, 0)` is the identity. No separate subgroup check is needed because BN254 G1
    /// has cofactor 1: every point on the curve is in the prime-order group.
    pub fn to_affine(&self) -> Result<G1Affine, BlsError> {
        const WHAT: &str = "G1 point";
        if self.x.is_zero() && self.y.is_zero() {
            return Ok(G1Affine::zero());
        }
        let point =
            G1Affine::new_unchecked(fq_from_u256(self.x, WHAT)?, fq_from_u256(self.y, WHAT)?);
        if !point.is_on_curve() {
            return Err(BlsError::NotOnCurve { what: WHAT });
        }
        Ok(point)
    }

    /// The 64 bytes `abi.encodePacked(X, Y)`.
    pub fn to_packed(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.x.to_be_bytes::<32>());
        out[32..].copy_from_slice(&self.y.to_be_bytes::<32>());
        out
    }
}

impl From<G1Affine> for G1Point {
    fn from(point: G1Affine) -> Self {
        match point.xy() {
            Some((x, y)) => Self {
                x: fq_to_u256(x),
                y: fq_to_u256(y),
            },
            None => Self::default(),
        }
    }
}

impl G2Point {
    /// Checked conversion to an arkworks point: canonical coordinates, on the twist curve and in
    /// the prime-order subgroup (G2 has a large cofactor, so this check is required); all-zero
    /// coordinates are the identity.
    pub fn to_affine(&self) -> Result<G2Affine, BlsError> {
        const WHAT: &str = "G2 point";
        if self.x.iter().chain(&self.y).all(U256::is_zero) {
            return Ok(G2Affine::zero());
        }
        let fq2 = |c: &[U256; 2]| -> Result<Fq2, BlsError> {
            Ok(Fq2::new(
                fq_from_u256(c[1], WHAT)?,
                fq_from_u256(c[0], WHAT)?,
            ))
        };
        let point = G2Affine::new_unchecked(fq2(&self.x)?, fq2(&self.y)?);
        if !point.is_on_curve() {
            return Err(BlsError::NotOnCurve { what: WHAT });
        }
        if !point.is_in_correct_subgroup_assuming_on_curve() {
            return Err(BlsError::NotInSubgroup { what: WHAT });
        }
        Ok(point)
    }

    /// The 128 bytes `abi.encodePacked(X[0], X[1], Y[0], Y[1])`.
    pub fn to_packed(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        for (chunk, word) in out.chunks_exact_mut(32).zip(self.x.iter().chain(&self.y)) {
            chunk.copy_from_slice(&word.to_be_bytes::<32>());
        }
        out
    }
}

impl From<G2Affine> for G2Point {
    fn from(point: G2Affine) -> Self {
        match point.xy() {
            Some((x, y)) => Self {
                x: [fq_to_u256(x.c1), fq_to_u256(x.c0)],
                y: [fq_to_u256(y.c1), fq_to_u256(y.c0)],
            },
            None => Self::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ark_ec::CurveGroup;

    #[test]
    fn g2_generator_matches_eigenlayer_constants() {
        // BN254.sol's generatorG2(): X = [G2x1, G2x0], imaginary part first.
        let g2 = G2Point::from(G2Affine::generator());
        let hex = |s: &str| U256::from_str_radix(s, 16).unwrap();
        assert_eq!(
            g2.x,
            [
                hex("198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2"),
                hex("1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed"),
            ]
        );
        assert_eq!(
            g2.y,
            [
                hex("090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b"),
                hex("12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa"),
            ]
        );
        assert_eq!(g2.to_affine().unwrap(), G2Affine::generator());
    }

    #[test]
    fn g1_roundtrip_and_identity() {
        let p = (G1Affine::generator() * ark_bn254::Fr::from(7u64)).into_affine();
        assert_eq!(G1Point::from(p).to_affine().unwrap(), p);
        assert_eq!(G1Point::default().to_affine().unwrap(), G1Affine::zero());
        assert_eq!(G1Point::from(G1Affine::zero()), G1Point::default());
        assert_eq!(
            G1Point::from(G1Affine::generator()),
            G1Point {
                x: U256::from(1),
                y: U256::from(2)
            }
        );
    }

    #[test]
    fn g1_rejects_bad_points() {
        let off = G1Point {
            x: U256::from(1),
            y: U256::from(3),
        };
        assert_eq!(
            off.to_affine(),
            Err(BlsError::NotOnCurve { what: "G1 point" })
        );
        // (1, 2 + p) is the generator with y not reduced: the contract would see another value.
        let p = U256::from_limbs(Fq::MODULUS.0);
        let unreduced = G1Point {
            x: U256::from(1),
            y: U256::from(2) + p,
        };
        assert!(matches!(
            unreduced.to_affine(),
            Err(BlsError::NonCanonical { .. })
        ));
    }

    /// A point on the twist curve but outside the order-r subgroup: the first x = 1 + k + u
    /// with x³ + b′ a square (G2's cofactor is huge, so it is almost surely outside).
    pub(crate) fn twist_point_outside_subgroup() -> G2Affine {
        let b = <ark_bn254::g2::Config as ark_ec::short_weierstrass::SWCurveConfig>::COEFF_B;
        let mut x = Fq2::new(Fq::from(1u64), Fq::from(1u64));
        loop {
            if let Some(y) = ark_ff::Field::sqrt(&(x * x * x + b)) {
                let point = G2Affine::new_unchecked(x, y);
                assert!(!point.is_in_correct_subgroup_assuming_on_curve());
                return point;
            }
            x += Fq2::from(1u64);
        }
    }

    #[test]
    fn g2_rejects_point_outside_subgroup() {
        let err = G2Point::from(twist_point_outside_subgroup())
            .to_affine()
            .unwrap_err();
        assert_eq!(err, BlsError::NotInSubgroup { what: "G2 point" });
    }
}
