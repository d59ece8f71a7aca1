//! Writes the cross-language BN254 test vectors that the Solidity tests read:
//!
//! ```text
//! cargo run -p avs-bls --example bn254-vectors > contracts/test/vectors/bn254.json
//! ```
//!
//! Deterministic: keys and digests are derived from fixed labels with keccak256, so the output
//! only changes when the crate's behaviour does. Every number is a 0x-prefixed 32-byte hex
//! string; G2 coordinates are `[c1, c0]` (EigenLayer's `G2Point` / EIP-197 order). Each `valid`
//! flag is checked here against both the plain pairing check and the contracts' γ form before
//! anything is written.

use std::io::Write;

use alloy::primitives::{B256, U256, keccak256};
use avs_bls::{
    G1Point, G2Point, PublicKeyG2, SecretKey, Signature, aggregate_public_keys,
    aggregate_public_keys_g2, aggregate_signatures, hash_to_g1, verify_onchain_form,
};
use serde_json::{Value, json};

fn word(value: U256) -> String {
    format!("0x{}", alloy::hex::encode(value.to_be_bytes::<32>()))
}

fn g1(point: G1Point) -> Value {
    json!({ "X": word(point.x), "Y": word(point.y) })
}

fn g2(point: G2Point) -> Value {
    json!({ "X": [word(point.x[0]), word(point.x[1])], "Y": [word(point.y[0]), word(point.y[1])] })
}

fn digest(label: &str) -> B256 {
    keccak256(format!("avs-bls test vectors: {label}"))
}

fn secret(label: &str) -> SecretKey {
    // Clearing the top three bits puts the value below 2^253 < r.
    let mut bytes = keccak256(format!("avs-bls test vectors: key {label}")).0;
    bytes[0] &= 0x1f;
    SecretKey::from_be_bytes(&bytes).expect("a 253-bit non-zero value is a valid key")
}

/// Checks `valid` against both verification forms, then renders the entry's common fields.
fn checked(
    digest: B256,
    pk_g1: G1Point,
    pk_g2: &PublicKeyG2,
    sigma: &Signature,
    valid: bool,
) -> Value {
    assert_eq!(
        pk_g2.verify(digest, sigma),
        valid,
        "pairing check disagrees with `valid`"
    );
    assert_eq!(
        verify_onchain_form(digest, &pk_g1, &pk_g2.to_point(), &sigma.to_point()),
        valid,
        "γ form disagrees with `valid`"
    );
    json!({ "digest": digest.to_string(), "sigma": g1(sigma.to_point()), "valid": valid })
}

fn main() -> std::io::Result<()> {
    let hash_to_g1_entries: Vec<Value> = (0..32)
        .map(|i| {
            // Include the all-zero digest (needs increments) and one above p (reduced mod p).
            let d = match i {
                0 => B256::ZERO,
                1 => B256::repeat_byte(0xff),
                _ => digest(&format!("hash {i}")),
            };
            let p = G1Point::from(hash_to_g1(d));
            json!({ "digest": d.to_string(), "X": word(p.x), "Y": word(p.y) })
        })
        .collect();

    let signatures: Vec<Value> = (0..8)
        .map(|i| {
            let sk = secret(&format!("signer {i}"));
            let d = digest(&format!("message {i}"));
            let (sigma, valid) = match i {
                // Tampered: σ + g1.
                6 => {
                    let good = sk.sign(d).to_point().to_affine().expect("valid point");
                    let bad = (good + ark_bn254::G1Affine::new(1u64.into(), 2u64.into())).into();
                    (
                        Signature::from_affine(bad).expect("not the identity"),
                        false,
                    )
                }
                // Signature over a different digest than the one claimed.
                7 => (sk.sign(digest("another message")), false),
                _ => (sk.sign(d), true),
            };
            let pk_g2 = sk.public_key_g2();
            let mut entry = checked(d, sk.public_key().to_point(), &pk_g2, &sigma, valid);
            entry["pkG1"] = g1(sk.public_key().to_point());
            entry["pkG2"] = g2(pk_g2.to_point());
            entry
        })
        .collect();

    let aggregates: Vec<Value> = (0..3)
        .map(|i| {
            let signers: Vec<SecretKey> = (0..5)
                .map(|j| secret(&format!("aggregate {i} signer {j}")))
                .collect();
            let d = digest(&format!("aggregate message {i}"));
            // The last aggregate is invalid: its last signer signed another digest.
            let valid = i != 2;
            let sigs: Vec<Signature> = signers
                .iter()
                .enumerate()
                .map(|(j, sk)| {
                    if !valid && j == 4 {
                        sk.sign(digest("another message"))
                    } else {
                        sk.sign(d)
                    }
                })
                .collect();
            let g1_keys: Vec<_> = signers.iter().map(SecretKey::public_key).collect();
            let g2_keys: Vec<_> = signers.iter().map(SecretKey::public_key_g2).collect();
            let apk_g1 = aggregate_public_keys(&g1_keys)
                .expect("distinct keys")
                .to_point();
            let apk_g2 = aggregate_public_keys_g2(&g2_keys).expect("distinct keys");
            let sigma = aggregate_signatures(&sigs).expect("five signatures");
            let mut entry = checked(d, apk_g1, &apk_g2, &sigma, valid);
            entry["signers"] = json!(signers.len());
            entry["apkG1"] = g1(apk_g1);
            entry["apkG2"] = g2(apk_g2.to_point());
            entry
        })
        .collect();

    let vectors = json!({
        "hashToG1": hash_to_g1_entries,
        "signatures": signatures,
        "aggregates": aggregates,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &vectors)?;
    writeln!(out)
}
