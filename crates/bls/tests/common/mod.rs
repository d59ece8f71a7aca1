//! Conversions between this crate's values and EigenLayer's Rust SDK (arkworks 0.5), shared by
//! the cross-check tests. Values cross as big-endian integers, never as in-memory types.

#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use alloy::primitives::U256;
use ark_bn254_05 as ark05;
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

/// EigenLayer's key pair for the same secret (it takes the decimal form).
pub fn eigen_keypair(secret: &SecretKey) -> eigen_crypto_bls::BlsKeyPair {
    let decimal = U256::from_be_bytes(*secret.to_be_bytes()).to_string();
    eigen_crypto_bls::BlsKeyPair::new(decimal).expect("a valid key is a valid eigen key")
}
