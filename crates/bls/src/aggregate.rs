//! Aggregation of signatures and public keys, and verification of an aggregate on one message.
//!
//! Sums use a tree of *batched affine additions*: each level adds disjoint pairs of affine
//! points with the chord formula and shares one field inversion across the whole level
//! (Montgomery's trick), about 6 field multiplications per addition against 11 for a mixed
//! projective addition. Per-step affine addition with its own inversion, as `eigen-crypto-bls`
//! callers do, costs an inversion for every element. Pairs with equal x (a doubling or a
//! cancellation, never seen with honest signers) fall back to projective addition.
//!
//! Aggregate verification is only sound for keys with a proof of possession (rogue-key attacks):
//! EigenLayer's BLSApkRegistry enforces one at registration, see
//! [`PubkeyRegistrationParams`](crate::PubkeyRegistrationParams).

use alloy::primitives::B256;
use ark_ec::{
    AffineRepr, CurveGroup,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{Field, Zero};

use crate::{BlsError, PublicKey, PublicKeyG2, Signature};

/// Sums signatures: the aggregate verifies against the sum of the signers' G2 keys.
///
/// Errors only on an empty input. The result may be the identity (signatures that cancel); it
/// then fails verification against any valid key.
pub fn aggregate_signatures<'a>(
    signatures: impl IntoIterator<Item = &'a Signature>,
) -> Result<Signature, BlsError> {
    let points: Vec<_> = signatures.into_iter().map(|s| *s.as_affine()).collect();
    if points.is_empty() {
        return Err(BlsError::EmptyAggregate("signatures"));
    }
    Ok(Signature(sum_affine(points).into_affine()))
}

/// Sums G1 public keys (the `apk` of EigenLayer's registry).
///
/// Errors on an empty input or a sum equal to the identity (only possible for keys without a
/// proof of possession).
pub fn aggregate_public_keys<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
) -> Result<PublicKey, BlsError> {
    let points: Vec<_> = keys.into_iter().map(|k| *k.as_affine()).collect();
    if points.is_empty() {
        return Err(BlsError::EmptyAggregate("G1 public keys"));
    }
    PublicKey::from_affine(sum_affine(points).into_affine())
}

/// Sums G2 public keys; the result is what an aggregate signature verifies against.
///
/// Errors on an empty input or a sum equal to the identity.
pub fn aggregate_public_keys_g2<'a>(
    keys: impl IntoIterator<Item = &'a PublicKeyG2>,
) -> Result<PublicKeyG2, BlsError> {
    let points: Vec<_> = keys.into_iter().map(|k| *k.as_affine()).collect();
    if points.is_empty() {
        return Err(BlsError::EmptyAggregate("G2 public keys"));
    }
    let sum = sum_affine(points).into_affine();
    if sum.is_zero() {
        return Err(BlsError::Identity {
            what: "aggregate G2 public key",
        });
    }
    // A sum of subgroup points stays in the subgroup.
    Ok(PublicKeyG2::new_unchecked(sum))
}

/// Below this many points a level's batch inversion no longer pays for itself.
const TREE_CUTOFF: usize = 16;

/// Sums affine points with batched affine additions (see the module docs).
fn sum_affine<P: SWCurveConfig>(points: impl IntoIterator<Item = Affine<P>>) -> Projective<P> {
    let mut level: Vec<Affine<P>> = points.into_iter().filter(|p| !p.is_zero()).collect();
    let mut rest = Projective::<P>::zero();
    let mut inverses = Vec::with_capacity(level.len() / 2);
    while level.len() > TREE_CUTOFF {
        inverses.clear();
        inverses.extend(level.chunks_exact(2).map(|pair| pair[1].x - pair[0].x));
        // Zero denominators (equal x) are left as zero by the batch inversion.
        ark_ff::batch_inversion(&mut inverses);
        let mut next = Vec::with_capacity(level.len() / 2 + 1);
        for (pair, inverse) in level.chunks_exact(2).zip(&inverses) {
            let (a, b) = (pair[0], pair[1]);
            if a.x == b.x {
                rest += a;
                rest += b;
                continue;
            }
            let lambda = (b.y - a.y) * inverse;
            let x = lambda.square() - a.x - b.x;
            let y = lambda * (a.x - x) - a.y;
            next.push(Affine::new_unchecked(x, y));
        }
        if let [.., last] = level.as_slice()
            && level.len() % 2 == 1
        {
            next.push(*last);
        }
        level = next;
    }
    level.iter().fold(rest, |acc, p| acc + p)
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
    fn tree_sum_matches_projective_sum_with_doublings_and_cancellations() {
        use ark_bn254::{Fr, G1Affine, G1Projective};
        for n in [1usize, 2, 15, 16, 17, 33, 100] {
            let mut points: Vec<G1Affine> = (1..=n as u64)
                .map(|k| (G1Affine::generator() * Fr::from(k * 7919)).into_affine())
                .collect();
            // Adjacent, so they meet in the first level: equal points (a doubling), a point and
            // its negation (a cancellation); and the identity.
            let (a, b) = (points[0], points[n / 2]);
            points.splice(0..0, [a, a, b, -b, G1Affine::zero()]);
            let expected: G1Projective = points.iter().map(|p| G1Projective::from(*p)).sum();
            assert_eq!(sum_affine(points.iter().copied()), expected, "n = {n}");
        }
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
