//! On-chain agreement: the project's own `AvsTaskManager` (whose BLS check is
//! `BLSSignatureChecker.trySignatureAndApkVerify`, built on the EVM's BN254 precompiles
//! 0x05–0x08) runs on a real anvil and must accept exactly the signatures and aggregates this
//! crate accepts, including the committed cross-language test vectors.
//!
//! The contract is deployed from the committed forge artifact with placeholder registry
//! addresses: its constructor only stores them, and the signature check never calls them.

use std::{path::PathBuf, time::Duration};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol,
    sol_types::SolValue,
};
use avs_bls::{
    G1Point, G2Point, SecretKey, aggregate_public_keys, aggregate_public_keys_g2,
    aggregate_signatures, verify_onchain_form,
};
use rand::{SeedableRng, rngs::StdRng};

sol! {
    #[sol(rpc)]
    contract Checker {
        struct Point1 { uint256 X; uint256 Y; }
        struct Point2 { uint256[2] X; uint256[2] Y; }
        function trySignatureAndApkVerify(bytes32 msgHash, Point1 apk, Point2 apkG2, Point1 sigma)
            external view returns (bool pairingSuccessful, bool signatureIsValid);
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn p1(p: &G1Point) -> Checker::Point1 {
    Checker::Point1 { X: p.x, Y: p.y }
}

fn p2(p: &G2Point) -> Checker::Point2 {
    Checker::Point2 { X: p.x, Y: p.y }
}

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The init code of `AvsTaskManager` from the committed artifact, with constructor arguments.
fn init_code() -> Bytes {
    let path = repo_file("contracts/bindings/artifacts/AvsTaskManager.json");
    let artifact: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("artifact is JSON");
    let hex = artifact["bytecode"]
        .as_str()
        .expect("artifact has a `bytecode` string");
    let mut code = alloy::hex::decode(hex).expect("bytecode is hex");
    let placeholders: Vec<Address> = (1..=6u8).map(Address::repeat_byte).collect();
    code.extend(
        (
            placeholders[0],
            placeholders[1],
            placeholders[2],
            placeholders[3],
            placeholders[4],
            placeholders[5],
        )
            .abi_encode_params(),
    );
    code.into()
}

async fn with_checker<F, Fut>(test: F)
where
    F: FnOnce(Checker::CheckerInstance<alloy::providers::DynProvider>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let anvil = avs_test_support::anvil().spawn();
    let signer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(anvil.endpoint_url())
        .erased();
    let deploy = async {
        let tx = TransactionRequest::default().with_deploy_code(init_code());
        let pending = provider
            .send_transaction(tx)
            .await
            .map_err(|e| e.to_string())?;
        pending.get_receipt().await.map_err(|e| e.to_string())
    };
    let receipt = tokio::time::timeout(TIMEOUT, deploy)
        .await
        .expect("deploying AvsTaskManager timed out")
        .expect("deploying AvsTaskManager failed");
    assert!(receipt.status(), "AvsTaskManager deployment reverted");
    let address = receipt
        .contract_address
        .expect("a deployment has a contract address");
    test(Checker::new(address, provider)).await;
}

async fn contract_verdict(
    checker: &Checker::CheckerInstance<alloy::providers::DynProvider>,
    digest: B256,
    apk: &G1Point,
    apk_g2: &G2Point,
    sigma: &G1Point,
) -> bool {
    let call = checker.trySignatureAndApkVerify(digest, p1(apk), p2(apk_g2), p1(sigma));
    let result = tokio::time::timeout(TIMEOUT, call.call())
        .await
        .expect("eth_call timed out")
        .expect("eth_call failed");
    assert!(
        result.pairingSuccessful,
        "pairing precompile rejected the input"
    );
    result.signatureIsValid
}

#[tokio::test]
async fn contract_agrees_on_fresh_signatures_and_aggregates() {
    with_checker(|checker| async move {
        let mut rng = StdRng::seed_from_u64(7);
        let keys: Vec<SecretKey> = (0..10).map(|_| SecretKey::random(&mut rng)).collect();
        let digest = B256::repeat_byte(0x77);
        let sigs: Vec<_> = keys.iter().map(|k| k.sign(digest)).collect();

        // A single signer.
        let (pk1, pk2, sig) = (
            keys[0].public_key().to_point(),
            keys[0].public_key_g2().to_point(),
            sigs[0].to_point(),
        );
        assert!(verify_onchain_form(digest, &pk1, &pk2, &sig));
        assert!(contract_verdict(&checker, digest, &pk1, &pk2, &sig).await);

        // Ten signers aggregated.
        let g1: Vec<_> = keys.iter().map(SecretKey::public_key).collect();
        let g2: Vec<_> = keys.iter().map(SecretKey::public_key_g2).collect();
        let apk1 = aggregate_public_keys(&g1).unwrap().to_point();
        let apk2 = aggregate_public_keys_g2(&g2).unwrap().to_point();
        let sigma = aggregate_signatures(&sigs).unwrap().to_point();
        assert!(verify_onchain_form(digest, &apk1, &apk2, &sigma));
        assert!(contract_verdict(&checker, digest, &apk1, &apk2, &sigma).await);

        // Tampered aggregate (one signature missing), and the right aggregate on another digest.
        let partial = aggregate_signatures(&sigs[1..]).unwrap().to_point();
        assert!(!verify_onchain_form(digest, &apk1, &apk2, &partial));
        assert!(!contract_verdict(&checker, digest, &apk1, &apk2, &partial).await);
        let other = B256::repeat_byte(0x78);
        assert!(!verify_onchain_form(other, &apk1, &apk2, &sigma));
        assert!(!contract_verdict(&checker, other, &apk1, &apk2, &sigma).await);
    })
    .await;
}

fn word(v: &serde_json::Value) -> U256 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a 0x uint256: {v}"))
}

fn g1_of(v: &serde_json::Value) -> G1Point {
    G1Point {
        x: word(&v["X"]),
        y: word(&v["Y"]),
    }
}

fn g2_of(v: &serde_json::Value) -> G2Point {
    G2Point {
        x: [word(&v["X"][0]), word(&v["X"][1])],
        y: [word(&v["Y"][0]), word(&v["Y"][1])],
    }
}

#[tokio::test]
async fn contract_agrees_with_committed_vectors() {
    let path = repo_file("contracts/test/vectors/bn254.json");
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("vectors are JSON");
    // The committed hash vectors match this crate (the contract side is checked below).
    for entry in vectors["hashToG1"].as_array().expect("hashToG1 array") {
        let digest: B256 = entry["digest"].as_str().unwrap().parse().unwrap();
        assert_eq!(G1Point::from(avs_bls::hash_to_g1(digest)), g1_of(entry));
    }
    with_checker(|checker| async move {
        let mut checked = 0;
        for (list, g1_key, g2_key) in [
            ("signatures", "pkG1", "pkG2"),
            ("aggregates", "apkG1", "apkG2"),
        ] {
            for entry in vectors[list].as_array().expect("vector list") {
                let digest: B256 = entry["digest"].as_str().unwrap().parse().unwrap();
                let (apk, apk2, sigma) = (
                    g1_of(&entry[g1_key]),
                    g2_of(&entry[g2_key]),
                    g1_of(&entry["sigma"]),
                );
                let valid = entry["valid"].as_bool().expect("valid flag");
                assert_eq!(
                    verify_onchain_form(digest, &apk, &apk2, &sigma),
                    valid,
                    "{list}: {entry}"
                );
                assert_eq!(
                    contract_verdict(&checker, digest, &apk, &apk2, &sigma).await,
                    valid,
                    "{list}: {entry}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 11);
    })
    .await;
}
