//! BLS on BN254: this crate side by side with EigenLayer's Rust SDK in the same run: the
//! `eigen-crypto-bls` columns are eigensdk's code paths on arkworks 0.5 (eigen-crypto-bn254's
//! `map_to_curve` and `verify_message`; keys and signatures built as eigen-crypto-bls's
//! `BlsKeyPair` builds them, see `tests/it/common`). `cargo bench -p avs-bls`; figures go in
//! BENCHMARKS.md.
//!
//! eigensdk has no aggregation or batch API, so its columns use what an eigensdk caller does:
//! summing `G1Affine`s pairwise and normalising at every step (as eigensdk's aggregation
//! service does), and one `verify_message` per signature.

#![allow(missing_docs)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::{hint::black_box, time::Duration};

use alloy::primitives::B256;
use ark_ec::{CurveGroup as _, PrimeGroup as _};
use ark_ec_05::{CurveGroup as _, PrimeGroup as _};
use avs_bls::{BatchItem, PublicKeyG2, SecretKey, Signature, aggregate_signatures, batch_verify};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn digest(rng: &mut StdRng) -> B256 {
    B256::from(rng.random::<[u8; 32]>())
}

fn single_operations(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let sk = SecretKey::random(&mut rng);
    let pk = sk.public_key_g2();
    let eigen = common::EigenKeyPair::new(&sk);
    let eigen_pk = eigen.public_key_g2();
    let msg = digest(&mut rng);
    let sig = sk.sign(msg);
    let eigen_sig = eigen.sign_message(&msg.0);
    assert!(pk.verify(msg, &sig));
    assert!(eigen_crypto_bn254::utils::verify_message(
        eigen_pk, &msg.0, eigen_sig
    ));

    let mut group = c.benchmark_group("hash_to_g1");
    group.bench_function("avs-bls", |b| {
        b.iter(|| avs_bls::hash_to_g1(black_box(msg)))
    });
    group.bench_function("eigen-crypto-bls", |b| {
        b.iter(|| eigen_crypto_bn254::utils::map_to_curve(black_box(&msg.0)))
    });
    group.finish();

    let mut group = c.benchmark_group("sign");
    group.bench_function("avs-bls", |b| b.iter(|| sk.sign(black_box(msg))));
    group.bench_function("eigen-crypto-bls", |b| {
        b.iter(|| eigen.sign_message(black_box(&msg.0)))
    });
    group.finish();

    let mut group = c.benchmark_group("verify");
    group.bench_function("avs-bls", |b| {
        b.iter(|| pk.verify(black_box(msg), black_box(&sig)))
    });
    group.bench_function("eigen-crypto-bls", |b| {
        b.iter(|| eigen_crypto_bn254::utils::verify_message(eigen_pk, black_box(&msg.0), eigen_sig))
    });
    group.finish();

    // The floor under any verify with arkworks: the two-pair Miller loop with both G2 sides
    // already prepared, then the final exponentiation; no hashing, no decoding, no checks. Also
    // in arkworks 0.5 (eigen-crypto-bls's version), to show which version is the faster floor.
    let mut group = c.benchmark_group("verify_floor");
    macro_rules! multi_pairing_floor {
        ($name:literal, $bn:ident, $ec:ident) => {{
            use $ec::pairing::Pairing as _;
            let g1 = [
                ($bn::G1Projective::generator() * $bn::Fr::from(7u64)).into_affine(),
                ($bn::G1Projective::generator() * $bn::Fr::from(11u64)).into_affine(),
            ];
            let g2: [<$bn::Bn254 as $ec::pairing::Pairing>::G2Prepared; 2] = [
                $bn::G2Projective::generator().into_affine().into(),
                ($bn::G2Projective::generator() * $bn::Fr::from(13u64))
                    .into_affine()
                    .into(),
            ];
            group.bench_function($name, |b| {
                b.iter(|| {
                    $bn::Bn254::final_exponentiation($bn::Bn254::multi_miller_loop(
                        black_box(g1),
                        g2.clone(),
                    ))
                })
            });
        }};
    }
    multi_pairing_floor!("arkworks multi-pairing (G2 prepared)", ark_bn254, ark_ec);
    multi_pairing_floor!(
        "arkworks 0.5 multi-pairing (G2 prepared)",
        ark_bn254_05,
        ark_ec_05
    );
    group.finish();
}

struct Signers {
    keys: Vec<PublicKeyG2>,
    signatures: Vec<Signature>,
    eigen_keys: Vec<ark_bn254_05::G2Affine>,
    eigen_signatures: Vec<ark_bn254_05::G1Affine>,
}

/// `n` operators signing the same digest (the AVS case: one task response).
fn signers(n: usize, msg: B256) -> Signers {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let secrets: Vec<SecretKey> = (0..n).map(|_| SecretKey::random(&mut rng)).collect();
    let signatures: Vec<Signature> = secrets.iter().map(|sk| sk.sign(msg)).collect();
    Signers {
        keys: secrets.iter().map(SecretKey::public_key_g2).collect(),
        eigen_keys: secrets
            .iter()
            .map(|sk| common::g2_to05(&sk.public_key_g2().to_point()))
            .collect(),
        eigen_signatures: signatures
            .iter()
            .map(|s| common::g1_to05(&s.to_point()))
            .collect(),
        signatures,
    }
}

fn aggregation(c: &mut Criterion) {
    let msg = B256::repeat_byte(0x5a);
    let set = signers(1000, msg);
    let mut group = c.benchmark_group("aggregate_1000_signatures");
    group.bench_function("avs-bls", |b| {
        b.iter(|| aggregate_signatures(black_box(&set.signatures)))
    });
    group.bench_function("eigen-crypto-bls", |b| {
        b.iter(|| {
            let mut acc = set.eigen_signatures[0];
            for s in &set.eigen_signatures[1..] {
                acc = (acc + s).into_affine();
            }
            acc
        })
    });
    group.finish();
}

fn batch_verification(c: &mut Criterion) {
    let msg = B256::repeat_byte(0xa5);
    let mut group = c.benchmark_group("batch_verify");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    // Under `cargo test` (one smoke run per bench) a small batch: eigensdk's one-by-one
    // column over 1,000 signatures alone takes 14 s in a debug build.
    let sizes: &[usize] = if avs_test_support::bench_run() {
        &[100, 1000]
    } else {
        &[10]
    };
    for &n in sizes {
        let set = signers(n, msg);
        let items: Vec<BatchItem<'_>> = set
            .keys
            .iter()
            .zip(&set.signatures)
            .map(|(public_key, signature)| BatchItem {
                public_key,
                digest: msg,
                signature,
            })
            .collect();
        assert!(batch_verify(&items));
        group.bench_with_input(BenchmarkId::new("avs-bls", n), &items, |b, items| {
            b.iter(|| batch_verify(black_box(items)))
        });
        group.bench_with_input(BenchmarkId::new("eigen-crypto-bls", n), &set, |b, set| {
            b.iter(|| {
                set.eigen_keys
                    .iter()
                    .zip(&set.eigen_signatures)
                    .all(|(pk, sig)| eigen_crypto_bn254::utils::verify_message(*pk, &msg.0, *sig))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = single_operations, aggregation, batch_verification
}
criterion_main!(benches);
