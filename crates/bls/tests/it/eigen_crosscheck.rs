//! Cross-checks against EigenLayer's Rust SDK (`eigen-crypto-bn254`'s hash-to-curve and
//! verification, arkworks 0.5; keys and signatures built as `eigen-crypto-bls` builds them, see
//! [`crate::common::EigenKeyPair`]): same hash-to-curve, same keys, and signatures made by
//! either side verify with the other.

use alloy::primitives::B256;
use avs_bls::{G1Point, SecretKey, Signature, hash_to_g1};
use eigen_crypto_bn254::utils::{map_to_curve, verify_message};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[test]
fn hash_to_g1_matches_eigen_on_1000_random_digests() {
    let mut rng = StdRng::seed_from_u64(0x6861_7368);
    // Random digests plus the edge cases: zero, all ones (above p, so reduced), p itself.
    let mut digests: Vec<[u8; 32]> = (0..1000).map(|_| rng.random()).collect();
    digests.push([0; 32]);
    digests.push([0xff; 32]);
    digests.push(
        alloy::primitives::U256::from_limbs(<ark_bn254::Fq as ark_ff::PrimeField>::MODULUS.0)
            .to_be_bytes(),
    );
    for digest in &digests {
        let ours = G1Point::from(hash_to_g1(B256::from(*digest)));
        let theirs = crate::common::g1_from05(map_to_curve(digest));
        assert_eq!(
            ours,
            theirs,
            "hash_to_g1 differs for digest 0x{}",
            alloy::hex::encode(digest)
        );
    }
}

#[test]
fn keys_and_signatures_agree_both_ways() {
    let mut rng = StdRng::seed_from_u64(0x7369_676e);
    for _ in 0..20 {
        let sk = SecretKey::random(&mut rng);
        let eigen = crate::common::EigenKeyPair::new(&sk);
        assert_eq!(
            sk.public_key().to_point(),
            crate::common::g1_from05(eigen.public_key())
        );
        assert_eq!(
            sk.public_key_g2().to_point(),
            crate::common::g2_from05(eigen.public_key_g2())
        );

        let digest: [u8; 32] = rng.random();
        let ours = sk.sign(B256::from(digest));
        let theirs = eigen.sign_message(&digest);
        // BLS is deterministic: identical points.
        assert_eq!(ours.to_point(), crate::common::g1_from05(theirs));

        // Ours verifies with theirs...
        let eigen_pk = eigen.public_key_g2();
        assert!(verify_message(
            eigen_pk,
            &digest,
            crate::common::g1_to05(&ours.to_point())
        ));
        // ...theirs verifies with ours...
        let theirs_ours = Signature::try_from(crate::common::g1_from05(theirs)).unwrap();
        assert!(sk.public_key_g2().verify(B256::from(digest), &theirs_ours));
        // ...and both reject the other message.
        let mut other = digest;
        other[0] ^= 1;
        assert!(!verify_message(
            eigen_pk,
            &other,
            crate::common::g1_to05(&ours.to_point())
        ));
        assert!(!sk.public_key_g2().verify(B256::from(other), &theirs_ours));
    }
}

#[test]
fn hashed_message_signing_agrees() {
    // The registration proof signs a point the contract computed, not a digest.
    let mut rng = StdRng::seed_from_u64(0x0072_6567);
    let sk = SecretKey::random(&mut rng);
    let eigen = crate::common::EigenKeyPair::new(&sk);
    let h = G1Point::from(hash_to_g1(B256::from(rng.random::<[u8; 32]>())));
    let ours = sk.sign_hashed(&h).unwrap();
    let theirs = eigen.sign_hashed_to_curve_message(crate::common::g1_to05(&h));
    assert_eq!(ours.to_point(), crate::common::g1_from05(theirs));
}
