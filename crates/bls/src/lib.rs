//! BLS signatures on BN254, bit-compatible with EigenLayer's middleware and the EVM precompiles.
//!
//! Operators sign every task response digest with BLS over the BN254 (alt_bn128) curve so that
//! the AVS contracts can check an aggregate with the pairing precompile. This crate is the
//! off-chain half of that contract:
//!
//! * **Keys.** A [`SecretKey`] is a scalar `sk`; EigenLayer registers both public keys,
//!   [`PublicKey`] = `sk·g1` (its keccak hash is the [`OperatorId`]) and
//!   [`PublicKeyG2`] = `sk·g2` (what signatures verify against).
//! * **Signatures** live on G1: `σ = sk·H(m)` with [`hash_to_g1`], the middleware's
//!   try-and-increment `BN254.hashToG1`, reproduced bit for bit. Verification checks
//!   `e(σ, −g2)·e(H(m), pk) = 1` as one two-pair multi-pairing with both G2 sides prepared.
//! * **Aggregation** ([`aggregate_signatures`], [`aggregate_public_keys_g2`],
//!   [`verify_aggregate`]) sums points; [`batch_verify`] checks many independent signatures
//!   with random weights and one multi-pairing.
//! * **On-chain form.** [`verify_onchain_form`] runs exactly the γ-randomised check of
//!   `BLSSignatureChecker`, and [`PubkeyRegistrationParams`] is the proof of possession that
//!   `BLSApkRegistry` checks at registration.
//! * **Contract structs.** [`G1Point`] / [`G2Point`] mirror Solidity's `BN254.G1Point` /
//!   `G2Point` with `U256` coordinates, G2 in the EIP-197 order (imaginary part first).
//! * **Keystores** ([`keystore`]) in the EIP-2335-style JSON that EigenLayer's tooling writes.
//!
//! # Invariants
//!
//! * Decoded keys and signatures are on the curve, in the prime-order subgroup and never the
//!   identity. BN254 G1 has cofactor 1, so on-curve implies in-subgroup there; G2 keys get an
//!   explicit subgroup check.
//! * Every decoder is strict and total: wrong length, non-canonical coordinates (`>= p`), bad
//!   flags, off-curve points, G2 points outside the subgroup and the identity each produce their
//!   own [`BlsError`], never a panic, never a silently reduced value.
//! * Secret keys are wiped on drop and never printed.
//! * Aggregates are only meaningful for keys registered with a proof of possession (EigenLayer's
//!   registry enforces this), which rules out rogue-key attacks.
//!
//! # Wire encoding
//!
//! [`Signature::to_bytes`] and [`PublicKey::to_bytes`] give 32 bytes: the big-endian x
//! coordinate, whose two spare top bits carry flags — bit 7 of byte 0 ([`FLAG_Y_LARGER`]) is set
//! when y is the larger square root (`y > (p−1)/2`), bit 6 ([`FLAG_INFINITY`]) marks the
//! identity. [`PublicKeyG2::to_bytes`] gives 64 bytes, x as `c1 ‖ c0` with the same flags in
//! byte 0 (y compared by c1, or by c0 when c1 = 0).
//!
//! # Example
//!
//! ```
//! use alloy::primitives::B256;
//! use avs_bls::{SecretKey, Signature, aggregate_signatures, verify_aggregate};
//!
//! let digest = B256::repeat_byte(0x11); // the EIP-712 digest of (task, response) in the AVS
//! let operators: Vec<SecretKey> = (0..3).map(|_| SecretKey::generate()).collect();
//! let keys: Vec<_> = operators.iter().map(SecretKey::public_key_g2).collect();
//!
//! // Each operator signs and ships 32 bytes over the network.
//! let wire: Vec<[u8; 32]> = operators.iter().map(|sk| sk.sign(digest).to_bytes()).collect();
//!
//! // A peer decodes (strictly), verifies, aggregates.
//! let signatures: Vec<Signature> =
//!     wire.iter().map(|bytes| Signature::from_bytes(bytes)).collect::<Result<_, _>>().unwrap();
//! assert!(keys[0].verify(digest, &signatures[0]));
//! let aggregate = aggregate_signatures(&signatures).unwrap();
//! assert!(verify_aggregate(&keys, digest, &aggregate));
//! assert!(!verify_aggregate(&keys[..2], digest, &aggregate));
//! ```

mod aggregate;
mod batch;
mod encoding;
mod error;
mod hash;
mod keys;
pub mod keystore;
mod onchain;
mod point;
mod secret_mul;

pub use aggregate::{
    aggregate_public_keys, aggregate_public_keys_g2, aggregate_signatures, verify_aggregate,
};
pub use batch::{BatchItem, batch_verify, batch_verify_with_rng};
pub use encoding::{FLAG_INFINITY, FLAG_Y_LARGER, G1_COMPRESSED_LEN, G2_COMPRESSED_LEN};
pub use error::BlsError;
pub use hash::hash_to_g1;
pub use keys::{OperatorId, PublicKey, PublicKeyG2, SecretKey, Signature};
pub use onchain::{PubkeyRegistrationParams, onchain_gamma, verify_onchain_form};
pub use point::{G1Point, G2Point};
