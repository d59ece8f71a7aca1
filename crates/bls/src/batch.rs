//! Batch verification of many `(public key, digest, signature)` triples.
//!
//! Checks `e(Σ rᵢσᵢ, −g2) · Π_m e(H(m), Σ_{i: mᵢ = m} rᵢ·pkᵢ) == 1` with fresh random non-zero
//! 64-bit scalars `rᵢ`: two multi-scalar multiplications (G1 over the signatures, G2 over the
//! keys of each distinct message) and a single multi-pairing with one Miller loop per distinct
//! message plus one. If any triple is invalid the product is 1 with probability at most 2⁻⁶⁴
//! over the choice of the `rᵢ`, so a forged signature cannot hide among valid ones; without the
//! random weights, two invalid signatures could cancel.
//!
//! Grouping by message is what makes the AVS case cheap: every operator signs the same task
//! response, so a batch of 1,000 costs two MSMs and a two-pair pairing.

use std::collections::HashMap;

use alloy::primitives::B256;
use ark_bn254::{Bn254, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM, pairing::Pairing};

use crate::{
    PublicKeyG2, Signature,
    hash::hash_to_g1,
    keys::{NEG_G2_PREPARED, pairing_output_is_one},
};

/// One signature to check in a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's G2 key.
    pub public_key: &'a PublicKeyG2,
    /// The signed digest.
    pub digest: B256,
    /// The signature.
    pub signature: &'a Signature,
}

/// Verifies all items at once with weights from the thread's cryptographic RNG.
///
/// True iff (with overwhelming probability) every item verifies on its own; an empty batch is
/// true. On false, check items one by one to find the culprit.
pub fn batch_verify(items: &[BatchItem<'_>]) -> bool {
    batch_verify_with_rng(items, &mut rand::rng())
}

/// [`batch_verify`] with a caller-supplied RNG, which must be cryptographic and unpredictable
/// to whoever produced the signatures.
pub fn batch_verify_with_rng<R: rand::CryptoRng + ?Sized>(
    items: &[BatchItem<'_>],
    rng: &mut R,
) -> bool {
    if items.is_empty() {
        return true;
    }
    if items
        .iter()
        .any(|item| item.public_key.as_affine().is_zero())
    {
        return false;
    }
    let weights: Vec<u64> = items
        .iter()
        .map(|_| {
            loop {
                let r = rng.next_u64();
                if r != 0 {
                    break r;
                }
            }
        })
        .collect();

    let signatures: Vec<G1Affine> = items
        .iter()
        .map(|item| *item.signature.as_affine())
        .collect();
    let weighted_signature = G1Projective::msm_u64(&signatures, &weights).into_affine();

    // Group keys (and their weights) by message, keeping first-seen order.
    let mut groups: Vec<(B256, Vec<G2Affine>, Vec<u64>)> = Vec::new();
    let mut index: HashMap<B256, usize> = HashMap::new();
    for (item, weight) in items.iter().zip(&weights) {
        let slot = *index.entry(item.digest).or_insert_with(|| {
            groups.push((item.digest, Vec::new(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(*item.public_key.as_affine());
        groups[slot].2.push(*weight);
    }

    let mut g1 = Vec::with_capacity(groups.len() + 1);
    let mut g2: Vec<<Bn254 as Pairing>::G2Prepared> = Vec::with_capacity(groups.len() + 1);
    g1.push(weighted_signature);
    g2.push(NEG_G2_PREPARED.clone());
    for (digest, keys, key_weights) in &groups {
        g1.push(hash_to_g1(*digest));
        g2.push(
            G2Projective::msm_u64(keys, key_weights)
                .into_affine()
                .into(),
        );
    }
    pairing_output_is_one(Bn254::final_exponentiation(Bn254::multi_miller_loop(
        g1, g2,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    #[test]
    fn mixed_messages_verify_and_a_swap_fails() {
        let keys: Vec<SecretKey> = (0..6).map(|_| SecretKey::generate()).collect();
        let pks: Vec<PublicKeyG2> = keys.iter().map(SecretKey::public_key_g2).collect();
        let digests: Vec<B256> = (0..6u8).map(|i| B256::repeat_byte(i % 3)).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&digests).map(|(k, d)| k.sign(*d)).collect();
        let items: Vec<BatchItem<'_>> = (0..6)
            .map(|i| BatchItem {
                public_key: &pks[i],
                digest: digests[i],
                signature: &sigs[i],
            })
            .collect();
        assert!(batch_verify(&items));
        assert!(batch_verify(&[]));

        // Two signatures swapped between signers of the same message: the plain sum is
        // unchanged, only the random weights catch it.
        let mut swapped = items.clone();
        swapped[0].signature = &sigs[3];
        swapped[3].signature = &sigs[0];
        assert_eq!(digests[0], digests[3]);
        assert!(!batch_verify(&swapped));
    }
}
