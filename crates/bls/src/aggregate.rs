//! Aggregation of signatures and public keys, and verification of an aggregate on one message.
//!
//! Sums run in projective coordinates (a mixed addition per element, no inversion) and
//! normalise once at the end; per-step affine addition, as `eigen-crypto-bls` callers do, pays a
//! field inversion for every element.
//!
//! Aggregate verification is only sound for keys with a proof of possession (rogue-key attacks):
//! EigenLayer's BLSApkRegistry enforces one at registration, see
//! [`PubkeyRegistrationParams`](crate::PubkeyRegistrationParams).

use alloy::primitives::B256;
use ark_bn254::{G1Projective, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Zero;

use crate::{BlsError, PublicKey, PublicKeyG2, Signature};

/// Sums signatures: the aggregate verifies against the sum of the signers' G2 keys.
///
/// Errors only on an empty input. The result may be the identity (signatures that cancel); it
/// then fails verification against any valid key.
pub fn aggregate_signatures<'a>(
    signatures: impl IntoIterator<Item = &'a Signature>,
) -> Result<Signature, BlsError> {
    let mut count = 0usize;
    let sum = signatures.into_iter().fold(G1Projective::zero(), |acc, s| {
        count += 1;
        acc + s.as_affine()
    });
    if count == 0 {
        return Err(BlsError::EmptyAggregate("signatures"));
    }
    Ok(Signature(sum.into_affine()))
}

/// Sums G1 public keys (the `apk` of EigenLayer's registry).
///
/// Errors on an empty input or a sum equal to the identity (only possible for keys without a
/// proof of possession).
pub fn aggregate_public_keys<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
) -> Result<PublicKey, BlsError> {
    let mut count = 0usize;
    let sum = keys.into_iter().fold(G1Projective::zero(), |acc, k| {
        count += 1;
        acc + k.as_affine()
    });
    if count == 0 {
        return Err(BlsError::EmptyAggregate("G1 public keys"));
    }
    PublicKey::from_affine(sum.into_affine())
}

/// Sums G2 public keys; the result is what an aggregate signature verifies against.
///
/// Errors on an empty input or a sum equal to the identity.
pub fn aggregate_public_keys_g2<'a>(
    keys: impl IntoIterator<Item = &'a PublicKeyG2>,
) -> Result<PublicKeyG2, BlsError> {
    let mut count = 0usize;
    let sum = keys.into_iter().fold(G2Projective::zero(), |acc, k| {
        count += 1;
        acc + k.as_affine()
    });
    if count == 0 {
        return Err(BlsError::EmptyAggregate("G2 public keys"));
    }
    let sum = sum.into_affine();
    if sum.is_zero() {
        return Err(BlsError::Identity {
            what: "aggregate G2 public key",
        });
    }
    // A sum of subgroup points stays in the subgroup.
    Ok(PublicKeyG2::new_unchecked(sum))
}

/// Verifies an aggregate signature of `keys` on one `digest` (false for an empty key set).
pub fn verify_aggregate<'a>(
    keys: impl IntoIterator<Item = &'a PublicKeyG2>,
    digest: B256,
    signature: &Signature,
) -> bool {
    aggregate_public_keys_g2(keys).is_ok_and(|apk| apk.verify(digest, signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    #[test]
    fn aggregate_verifies_and_subsets_do_not() {
        let keys: Vec<SecretKey> = (0..5).map(|_| SecretKey::generate()).collect();
        let pks: Vec<PublicKeyG2> = keys.iter().map(SecretKey::public_key_g2).collect();
        let digest = B256::repeat_byte(0x42);
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(digest)).collect();
        let agg = aggregate_signatures(&sigs).unwrap();
        assert!(verify_aggregate(&pks, digest, &agg));
        assert!(!verify_aggregate(&pks[1..], digest, &agg));
        assert!(!verify_aggregate(&pks, B256::ZERO, &agg));
        // The G1 aggregate is the G1 key of the summed secret: same as summing G1 keys.
        let g1: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        assert!(aggregate_public_keys(&g1).is_ok());
    }

    #[test]
    fn empty_and_cancelling_inputs() {
        assert_eq!(
            aggregate_signatures([]),
            Err(BlsError::EmptyAggregate("signatures"))
        );
        assert!(!verify_aggregate(
            [],
            B256::ZERO,
            &SecretKey::generate().sign(B256::ZERO)
        ));
        let pk = SecretKey::generate().public_key();
        let neg = PublicKey::from_affine(-*pk.as_affine()).unwrap();
        assert!(matches!(
            aggregate_public_keys([&pk, &neg]),
            Err(BlsError::Identity { .. })
        ));
    }
}
