//! The checks EigenLayer's contracts run, reproduced off-chain.
//!
//! Both `BLSSignatureChecker.trySignatureAndApkVerification` and
//! `BLSApkRegistry.registerBLSPublicKey` check that a G1 key and a G2 key share the same secret
//! and that σ is a signature, with one pairing and a Fiat–Shamir challenge γ:
//!
//! ```text
//! e(σ + γ·pkG1, −g2) · e(H + γ·g1, pkG2) == 1
//! ```
//!
//! They differ only in what γ hashes and in the order: see [`onchain_gamma`] and
//! [`PubkeyRegistrationParams::gamma`]. An aggregator calls [`verify_onchain_form`] before
//! paying for a transaction, so it submits only what the contract will accept.

use alloy::primitives::{B256, U256, keccak256};
use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;

use crate::{
    BlsError, G1Point, G2Point, SecretKey,
    hash::hash_to_g1,
    keys::{NEG_G2_PREPARED, pairing_product_is_one},
};

/// keccak256 of the packed words, reduced mod r (the contracts' `% BN254.FR_MODULUS`).
fn gamma_of(words: &[&[u8]]) -> Fr {
    let packed: Vec<u8> = words.concat();
    Fr::from_be_bytes_mod_order(keccak256(packed).as_slice())
}

fn fr_to_u256(value: Fr) -> U256 {
    U256::from_limbs(value.into_bigint().0)
}

/// `e(σ + γ·pk1, −g2) · e(H + γ·g1, pk2) == 1`; false if any point is invalid (the precompiles
/// would revert on it).
fn gamma_check(
    gamma: Fr,
    sigma: &G1Point,
    pk1: &G1Point,
    message: G1Affine,
    pk2: &G2Point,
) -> bool {
    let (Ok(sigma), Ok(pk1), Ok(pk2)) = (sigma.to_affine(), pk1.to_affine(), pk2.to_affine())
    else {
        return false;
    };
    let lhs = (G1Projective::from(sigma) + G1Projective::from(pk1) * gamma).into_affine();
    let rhs = (G1Projective::from(message) + G1Projective::from(G1Affine::generator()) * gamma)
        .into_affine();
    pairing_product_is_one([lhs, rhs], [NEG_G2_PREPARED.clone(), pk2.into()])
}

/// γ of `BLSSignatureChecker`: `keccak256(abi.encodePacked(msgHash, apk.X, apk.Y, apkG2.X[0],
/// apkG2.X[1], apkG2.Y[0], apkG2.Y[1], sigma.X, sigma.Y)) % r`, as an integer.
pub fn onchain_gamma(msg_hash: B256, apk_g1: &G1Point, apk_g2: &G2Point, sigma: &G1Point) -> U256 {
    fr_to_u256(checker_gamma(msg_hash, apk_g1, apk_g2, sigma))
}

fn checker_gamma(msg_hash: B256, apk_g1: &G1Point, apk_g2: &G2Point, sigma: &G1Point) -> Fr {
    gamma_of(&[
        msg_hash.as_slice(),
        &apk_g1.to_packed(),
        &apk_g2.to_packed(),
        &sigma.to_packed(),
    ])
}

/// Exactly the signature check of EigenLayer's `BLSSignatureChecker` for a message hash, the
/// signers' aggregate keys `apk_g1`/`apk_g2` and the aggregate signature `sigma`: true iff the
/// contract's pairing check would succeed.
pub fn verify_onchain_form(
    msg_hash: B256,
    apk_g1: &G1Point,
    apk_g2: &G2Point,
    sigma: &G1Point,
) -> bool {
    let gamma = checker_gamma(msg_hash, apk_g1, apk_g2, sigma);
    gamma_check(gamma, sigma, apk_g1, hash_to_g1(msg_hash), apk_g2)
}

/// What an operator submits to register its BLS key (EigenLayer's
/// `IBLSApkRegistry.PubkeyRegistrationParams`): the proof of possession
/// `pubkey_registration_signature = sk · H`, where H is the point the RegistryCoordinator's
/// `pubkeyRegistrationMessageHash(operator)` returns, plus both public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubkeyRegistrationParams {
    /// `sk · H` for the registration message point H.
    pub pubkey_registration_signature: G1Point,
    /// `sk · g1`.
    pub pubkey_g1: G1Point,
    /// `sk · g2`.
    pub pubkey_g2: G2Point,
}

impl PubkeyRegistrationParams {
    /// Builds the parameters for `message_hash`, the G1 point returned by
    /// `RegistryCoordinator.pubkeyRegistrationMessageHash(operator)`.
    pub fn new(secret_key: &SecretKey, message_hash: &G1Point) -> Result<Self, BlsError> {
        Ok(Self {
            pubkey_registration_signature: secret_key.sign_hashed(message_hash)?.to_point(),
            pubkey_g1: secret_key.public_key().to_point(),
            pubkey_g2: secret_key.public_key_g2().to_point(),
        })
    }

    /// γ of `BLSApkRegistry.registerBLSPublicKey`: `keccak256(abi.encodePacked(sig.X, sig.Y,
    /// pkG1.X, pkG1.Y, pkG2.X, pkG2.Y, H.X, H.Y)) % r`, as an integer.
    pub fn gamma(&self, message_hash: &G1Point) -> U256 {
        fr_to_u256(self.registry_gamma(message_hash))
    }

    fn registry_gamma(&self, message_hash: &G1Point) -> Fr {
        gamma_of(&[
            &self.pubkey_registration_signature.to_packed(),
            &self.pubkey_g1.to_packed(),
            &self.pubkey_g2.to_packed(),
            &message_hash.to_packed(),
        ])
    }

    /// The registry's check: true iff `registerBLSPublicKey` would accept these parameters.
    pub fn verify(&self, message_hash: &G1Point) -> bool {
        let Ok(message) = message_hash.to_affine() else {
            return false;
        };
        // The registry also refuses the zero key (its hash is ZERO_PK_HASH).
        if self.pubkey_g1 == G1Point::default() || message.is_zero() {
            return false;
        }
        gamma_check(
            self.registry_gamma(message_hash),
            &self.pubkey_registration_signature,
            &self.pubkey_g1,
            message,
            &self.pubkey_g2,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{aggregate_public_keys, aggregate_public_keys_g2, aggregate_signatures};

    #[test]
    fn onchain_form_accepts_aggregate_and_rejects_tampering() {
        let keys: Vec<SecretKey> = (0..4).map(|_| SecretKey::generate()).collect();
        let digest = B256::repeat_byte(0xab);
        let sigs: Vec<_> = keys.iter().map(|k| k.sign(digest)).collect();
        let sigma = aggregate_signatures(&sigs).unwrap().to_point();
        let g1: Vec<_> = keys.iter().map(SecretKey::public_key).collect();
        let g2: Vec<_> = keys.iter().map(SecretKey::public_key_g2).collect();
        let apk1 = aggregate_public_keys(&g1).unwrap().to_point();
        let apk2 = aggregate_public_keys_g2(&g2).unwrap().to_point();
        assert!(verify_onchain_form(digest, &apk1, &apk2, &sigma));
        assert!(!verify_onchain_form(B256::ZERO, &apk1, &apk2, &sigma));
        // G1 and G2 keys of different signer sets: the γ term catches the mismatch.
        let apk1_partial = aggregate_public_keys(&g1[1..]).unwrap().to_point();
        assert!(!verify_onchain_form(digest, &apk1_partial, &apk2, &sigma));
        let off_curve = G1Point {
            x: U256::from(1),
            y: U256::from(3),
        };
        assert!(!verify_onchain_form(digest, &apk1, &apk2, &off_curve));
    }

    #[test]
    fn registration_proof_verifies_only_for_its_message() {
        let sk = SecretKey::generate();
        let h = crate::hash_to_g1(B256::repeat_byte(9)).into();
        let params = PubkeyRegistrationParams::new(&sk, &h).unwrap();
        assert!(params.verify(&h));
        let other = crate::hash_to_g1(B256::repeat_byte(10)).into();
        assert!(!params.verify(&other));
        let mut mixed = params;
        mixed.pubkey_g2 = SecretKey::generate().public_key_g2().to_point();
        assert!(!mixed.verify(&h));
    }
}
