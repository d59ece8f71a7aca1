//! Property tests: decoders facing the network never panic and round-trip valid points;
//! aggregates of valid signatures verify; one corrupted signature makes a batch fail.

use alloy::primitives::{B256, U256};
use avs_bls::{
    BatchItem, G1Point, G2Point, PublicKey, PublicKeyG2, SecretKey, Signature,
    aggregate_signatures, batch_verify, verify_aggregate,
};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

fn secret(seed: u64) -> SecretKey {
    SecretKey::random(&mut StdRng::seed_from_u64(seed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = Signature::from_bytes(&bytes);
        let _ = PublicKey::from_bytes(&bytes);
        let _ = PublicKeyG2::from_bytes(&bytes);
    }

    #[test]
    fn fixed_length_decoding_is_total_and_canonical(bytes in any::<[u8; 32]>(), wide in any::<[u8; 32]>()) {
        // Accepted encodings re-encode to exactly the same bytes (one encoding per point).
        if let Ok(sig) = Signature::from_bytes(&bytes) {
            prop_assert_eq!(sig.to_bytes(), bytes);
        }
        let mut g2 = [0u8; 64];
        g2[..32].copy_from_slice(&bytes);
        g2[32..].copy_from_slice(&wide);
        if let Ok(pk) = PublicKeyG2::from_bytes(&g2) {
            prop_assert_eq!(pk.to_bytes(), g2);
        }
    }

    #[test]
    fn contract_struct_conversion_is_total(x in any::<[u64; 4]>(), y in any::<[u64; 4]>(), z in any::<[u64; 4]>(), w in any::<[u64; 4]>()) {
        let (x, y, z, w) = (U256::from_limbs(x), U256::from_limbs(y), U256::from_limbs(z), U256::from_limbs(w));
        let _ = Signature::try_from(G1Point { x, y });
        let _ = PublicKeyG2::try_from(G2Point { x: [x, y], y: [z, w] });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn valid_points_roundtrip(seed in any::<u64>(), digest in any::<[u8; 32]>()) {
        let sk = secret(seed);
        let sig = sk.sign(B256::from(digest));
        prop_assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
        prop_assert_eq!(Signature::try_from(sig.to_point()).unwrap(), sig);
        let pk = sk.public_key();
        prop_assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        let pk2 = sk.public_key_g2();
        prop_assert_eq!(&PublicKeyG2::from_bytes(&pk2.to_bytes()).unwrap(), &pk2);
        prop_assert_eq!(&PublicKeyG2::try_from(pk2.to_point()).unwrap(), &pk2);
    }

    #[test]
    fn aggregate_of_valid_signatures_verifies(seed in any::<u64>(), n in 1usize..8, digest in any::<[u8; 32]>()) {
        let digest = B256::from(digest);
        let keys: Vec<SecretKey> = (0..n as u64).map(|i| secret(seed.wrapping_add(i))).collect();
        let pks: Vec<PublicKeyG2> = keys.iter().map(SecretKey::public_key_g2).collect();
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(digest)).collect();
        let aggregate = aggregate_signatures(&sigs).unwrap();
        prop_assert!(verify_aggregate(&pks, digest, &aggregate));
        // Wire round trip of the aggregate keeps it valid.
        let decoded = Signature::from_bytes(&aggregate.to_bytes()).unwrap();
        prop_assert!(verify_aggregate(&pks, digest, &decoded));
    }

    #[test]
    fn one_corrupted_signature_fails_the_batch(
        seed in any::<u64>(),
        n in 1usize..8,
        bad in any::<prop::sample::Index>(),
        same_message in any::<bool>(),
        corruption in 0u8..3,
    ) {
        let keys: Vec<SecretKey> = (0..n as u64).map(|i| secret(seed.wrapping_add(i))).collect();
        let pks: Vec<PublicKeyG2> = keys.iter().map(SecretKey::public_key_g2).collect();
        let digests: Vec<B256> = (0..n)
            .map(|i| if same_message { B256::repeat_byte(1) } else { B256::repeat_byte(i as u8) })
            .collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&digests).map(|(k, d)| k.sign(*d)).collect();
        let items = |sigs: &[Signature]| -> bool {
            let batch: Vec<BatchItem<'_>> = (0..n)
                .map(|i| BatchItem { public_key: &pks[i], digest: digests[i], signature: &sigs[i] })
                .collect();
            batch_verify(&batch)
        };
        prop_assert!(items(&sigs));

        let i = bad.index(n);
        sigs[i] = match corruption {
            // Signed the wrong message.
            0 => keys[i].sign(B256::repeat_byte(0xee)),
            // Signed by another key.
            1 => secret(seed ^ 0xdead_beef).sign(digests[i]),
            // A valid signature of a different signer of the same batch (or doubled).
            _ => aggregate_signatures([&sigs[i], &sigs[(i + 1) % n]]).unwrap(),
        };
        prop_assert!(!items(&sigs));
    }
}
