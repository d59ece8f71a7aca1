//! Conversions between this crate's values and EigenLayer's Rust SDK (arkworks 0.5), shared by
//! the cross-check tests. Values cross as big-endian integers, never as in-memory types.

#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use alloy::primitives::U256;
use ark_bn254_05 as ark05;
use ark_ec_05::{AffineRepr, CurveGroup};
use ark_ff_05::{BigInteger, PrimeField};
use avs_bls::{G1Point, G2Point, SecretKey};

/// A field element of arkworks 0.5 as an integer.
pub fn fq05_to_u256(value: ark05::Fq) -> U256 {
    U256::from_be_slice(&value.into_bigint().to_bytes_be())
}

/// An integer as an arkworks 0.5 field element (the values here are always canonical).
pub fn u256_to_fq05(value: U256) -> ark05::Fq {
    ark05::Fq::from_be_bytes_mod_order(&value.to_be_bytes::<32>())
}

/// An arkworks 0.5 G1 point as the contract struct.
pub fn g1_from05(point: ark05::G1Affine) -> G1Point {
    G1Point {
        x: fq05_to_u256(point.x),
        y: fq05_to_u256(point.y),
    }
}

/// The contract struct as an arkworks 0.5 G1 point.
pub fn g1_to05(point: &G1Point) -> ark05::G1Affine {
    ark05::G1Affine::new(u256_to_fq05(point.x), u256_to_fq05(point.y))
}

/// An arkworks 0.5 G2 point as the contract struct (imaginary part first).
pub fn g2_from05(point: ark05::G2Affine) -> G2Point {
    G2Point {
        x: [fq05_to_u256(point.x.c1), fq05_to_u256(point.x.c0)],
        y: [fq05_to_u256(point.y.c1), fq05_to_u256(point.y.c0)],
    }
}

/// The contract struct as an arkworks 0.5 G2 point.
pub fn g2_to05(point: &G2Point) -> ark05::G2Affine {
    let fq2 = |c: &[U256; 2]| ark05::Fq2::new(u256_to_fq05(c[1]), u256_to_fq05(c[0]));
    ark05::G2Affine::new(fq2(&point.x), fq2(&point.y))
}

/// A key pair built as eigensdk's `eigen-crypto-bls` `BlsKeyPair` builds one: the secret parsed
/// from its decimal form into an arkworks 0.5 scalar, public keys as multiples of the
/// generators, signatures as eigen-crypto-bn254's `map_to_curve(message)` times the secret.
/// `eigen-crypto-bls` itself is not a dependency: over eigen-crypto-bn254, whose hashing and
/// verification the tests call directly, it adds only these scalar multiplications, and it
/// would bring alloy 1.x, the AWS SDK and eigen-utils into every test build.
pub struct EigenKeyPair {
    secret: ark05::Fr,
}

impl EigenKeyPair {
    /// The key pair of `secret`, parsed from its decimal form as eigensdk parses a key.
    pub fn new(secret: &SecretKey) -> Self {
        let decimal = U256::from_be_bytes(*secret.to_be_bytes()).to_string();
        Self {
            secret: <ark05::Fr as std::str::FromStr>::from_str(&decimal)
                .expect("a valid key is a valid eigensdk key"),
        }
    }

    /// The G1 public key.
    pub fn public_key(&self) -> ark05::G1Affine {
        (ark05::G1Affine::generator() * self.secret).into_affine()
    }

    /// The G2 public key.
    pub fn public_key_g2(&self) -> ark05::G2Affine {
        (ark05::G2Affine::generator() * self.secret).into_affine()
    }

    /// The signature of a 32-byte message, hashed with eigensdk's `map_to_curve`.
    pub fn sign_message(&self, message: &[u8; 32]) -> ark05::G1Affine {
        self.sign_hashed_to_curve_message(eigen_crypto_bn254::utils::map_to_curve(message))
    }

    /// The signature of a point already on the curve (a registration's proof of possession).
    pub fn sign_hashed_to_curve_message(&self, point: ark05::G1Affine) -> ark05::G1Affine {
        (point * self.secret).into_affine()
    }
}
