//! Keystores cross the border with EigenLayer's Rust tooling (`rust-bls-bn254`, the keystore
//! implementation of eigensdk-rs) in both directions, on real files.
//!
//! `rust-bls-bn254` refuses weak KDF parameters (scrypt n·r·p < 2²⁰, pbkdf2 c < 2¹⁸), so these
//! tests use the standard strong ones; scrypt is built optimised even in debug builds.

use alloy::primitives::U256;
use avs_bls::{
    SecretKey,
    keystore::{KdfParams, Keystore, KeystoreError},
};
use rand::{SeedableRng, rngs::StdRng};
use rust_bls_bn254::keystores::{
    base_keystore::Keystore as TheirKeystore, pbkdf2_keystore::Pbkdf2Keystore,
    scrypt_keystore::ScryptKeystore,
};

const PASSWORD: &str = "operator password ✓";

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
fn keystores_written_by_eigen_tooling_decrypt_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    for (name, mut theirs) in [
        ("scrypt", ScryptKeystore::new().to_keystore()),
        ("pbkdf2", Pbkdf2Keystore::new().to_keystore()),
    ] {
        let sk = SecretKey::random(&mut rng);
        theirs
            .encrypt(sk.to_be_bytes().as_slice(), PASSWORD, "", None, None)
            .unwrap();
        let path = dir.path().join(format!("{name}.json"));
        theirs.save(path_str(&path)).unwrap();

        let decrypted = avs_bls::keystore::load_secret_key(&path, PASSWORD)
            .unwrap_or_else(|e| panic!("{name} keystore from rust-bls-bn254: {e}"));
        assert_eq!(decrypted.public_key(), sk.public_key(), "{name}");
        assert_eq!(decrypted.public_key_g2(), sk.public_key_g2(), "{name}");
        assert!(matches!(
            avs_bls::keystore::load_secret_key(&path, "wrong"),
            Err(KeystoreError::WrongPassword)
        ));
    }
}

#[test]
fn keystores_written_by_us_decrypt_with_eigen_tooling() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    for (name, kdf) in [
        ("scrypt", KdfParams::SCRYPT_STANDARD),
        ("pbkdf2", KdfParams::PBKDF2_STANDARD),
    ] {
        let sk = SecretKey::random(&mut rng);
        let path = dir.path().join(format!("{name}.json"));
        Keystore::encrypt(&sk, PASSWORD, kdf)
            .unwrap()
            .write(&path)
            .unwrap();

        let theirs = TheirKeystore::from_file(path_str(&path)).unwrap();
        let secret = theirs
            .decrypt(PASSWORD)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(secret.as_slice(), sk.to_be_bytes().as_slice(), "{name}");
        // Their public key derivation from the decrypted bytes matches ours.
        let ours_again = SecretKey::from_be_bytes(&secret).unwrap();
        assert_eq!(ours_again.public_key_g2(), sk.public_key_g2());
    }
}

#[test]
fn go_tooling_layout_is_accepted_and_its_pubkey_checked() {
    // eigensdk-go stores `{"pubKey": "E([x,y])", "crypto": {...}}` without version or uuid.
    let sk = SecretKey::random(&mut StdRng::seed_from_u64(3));
    let ours = Keystore::encrypt(
        &sk,
        PASSWORD,
        KdfParams::Scrypt {
            log_n: 10,
            r: 8,
            p: 1,
        },
    )
    .unwrap();
    let pk = sk.public_key().to_point();
    let go_json = |x: U256, y: U256| {
        serde_json::json!({
            "pubKey": format!("E([{x},{y}])"),
            "crypto": serde_json::to_value(&ours.crypto).unwrap(),
        })
        .to_string()
    };
    let good = Keystore::from_json(&go_json(pk.x, pk.y)).unwrap();
    assert_eq!(
        good.decrypt(PASSWORD).unwrap().public_key(),
        sk.public_key()
    );
    let wrong = Keystore::from_json(&go_json(pk.y, pk.x)).unwrap();
    assert!(matches!(
        wrong.decrypt(PASSWORD),
        Err(KeystoreError::PublicKeyMismatch { field: "pubKey" })
    ));
}
