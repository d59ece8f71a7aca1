//! Encrypted BLS keystores in the JSON format of EigenLayer's operator tooling.
//!
//! The format is EIP-2335's (version 4) applied to BN254 keys, as `rust-bls-bn254` (the
//! keystore code of EigenLayer's Rust SDK) writes it:
//!
//! ```json
//! { "crypto": {
//!     "kdf":      { "function": "scrypt", "params": { "dklen": 32, "n": 262144, "r": 8, "p": 1, "salt": "<hex>" }, "message": "" },
//!     "checksum": { "function": "sha256", "params": {}, "message": "<hex>" },
//!     "cipher":   { "function": "aes-128-ctr", "params": { "iv": "<hex>" }, "message": "<hex>" } },
//!   "description": "", "pubkey": "<hex>", "path": "", "uuid": "<uuid>", "version": 4 }
//! ```
//!
//! * key derivation: scrypt, or pbkdf2 with `"prf": "hmac-sha256"` and `"c"` rounds, giving a
//!   32-byte key `dk`;
//! * checksum: `sha256(dk[16..32] ‖ ciphertext)`, which tells a wrong password apart;
//! * cipher: AES-128-CTR with key `dk[0..16]`; the plaintext is the 32-byte big-endian scalar;
//! * password: NFKD-normalised with control characters removed (EIP-2335);
//! * `pubkey`: hex of the arkworks uncompressed G2 public key. Files from EigenLayer's Go
//!   tooling carry `"pubKey": "E([x,y])"` (the G1 key in decimal) instead; both are checked
//!   against the decrypted key when present.
//!
//! Reading is strict and every failure has its own [`KeystoreError`]. Files of Ethereum
//! consensus-layer validators (BLS12-381: 48-byte `pubkey`, `m/12381/…` path) are refused with
//! [`KeystoreError::WrongCurve`] before any key derivation. New keystores use the standard strong
//! parameters ([`KdfParams::default`]: scrypt n = 2¹⁸, r = 8, p = 1) and are created with mode
//! 0600, never overwriting an existing file.
//!
//! ```
//! use avs_bls::{SecretKey, keystore::{KdfParams, Keystore}};
//!
//! let key = SecretKey::generate();
//! // Light parameters keep the example fast; real keystores use `KdfParams::default()`.
//! let light = KdfParams::Scrypt { log_n: 10, r: 8, p: 1 };
//! let keystore = Keystore::encrypt(&key, "correct horse", light).unwrap();
//! let json = keystore.to_json();
//! let back = Keystore::from_json(&json).unwrap().decrypt("correct horse").unwrap();
//! assert_eq!(back.public_key(), key.public_key());
//! ```

use std::{fs, io::Write, path::Path};

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy::hex;
use ark_serialize::CanonicalSerialize;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::{BlsError, SecretKey};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Largest scrypt memory (128·r·n bytes) accepted when reading, so that a hostile file cannot
/// make the node allocate without bound. The standard parameters need 256 MiB.
const MAX_SCRYPT_MEMORY: u64 = 2 << 30;
/// Largest scrypt work (memory × p) accepted when reading: 64 times the standard parameters.
const MAX_SCRYPT_WORK: u64 = 64 * (256 << 20);
/// Length of the derived key: 16 bytes of AES key, 16 bytes of checksum key.
const DKLEN: usize = 32;

/// Why a keystore could not be read, written or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// Reading or writing the file failed.
    #[error("keystore file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The JSON is not a keystore or a field has the wrong shape (the file is corrupted).
    #[error("malformed keystore: {0}")]
    Malformed(String),
    /// The key derivation function is neither `scrypt` nor `pbkdf2`.
    #[error("unsupported keystore KDF `{0}` (supported: scrypt, pbkdf2)")]
    UnsupportedKdf(String),
    /// The KDF parameters are invalid or too expensive to run safely.
    #[error("invalid keystore KDF parameters: {0}")]
    InvalidKdfParams(String),
    /// The cipher is not `aes-128-ctr`.
    #[error("unsupported keystore cipher `{0}` (supported: aes-128-ctr)")]
    UnsupportedCipher(String),
    /// The checksum function is not `sha256`.
    #[error("unsupported keystore checksum `{0}` (supported: sha256)")]
    UnsupportedChecksum(String),
    /// The checksum does not match: the password is wrong (or the ciphertext was altered).
    #[error("wrong keystore password (checksum mismatch)")]
    WrongPassword,
    /// The file holds a key for another curve (e.g. a BLS12-381 validator keystore).
    #[error("keystore is for another curve: {0}; this node needs a BN254 (EigenLayer) BLS key")]
    WrongCurve(String),
    /// The decrypted secret is not a valid BN254 key.
    #[error("keystore secret: {0}")]
    InvalidSecretKey(#[from] BlsError),
    /// The decrypted key does not match the public key recorded in the file.
    #[error("keystore {field} does not match the decrypted secret key (file edited or corrupted)")]
    PublicKeyMismatch {
        /// The field that disagrees (`pubkey` or `pubKey`).
        field: &'static str,
    },
}

/// Key derivation settings for new keystores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfParams {
    /// scrypt with n = 2^`log_n`.
    Scrypt {
        /// log₂ of the CPU/memory cost n.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2 with HMAC-SHA256.
    Pbkdf2 {
        /// Number of rounds `c`.
        rounds: u32,
    },
}

impl KdfParams {
    /// EIP-2335's standard scrypt parameters (n = 2¹⁸, r = 8, p = 1), EigenLayer's default.
    pub const SCRYPT_STANDARD: Self = Self::Scrypt {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// EIP-2335's standard PBKDF2 parameters (c = 2¹⁸).
    pub const PBKDF2_STANDARD: Self = Self::Pbkdf2 { rounds: 1 << 18 };
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::SCRYPT_STANDARD
    }
}

/// One of the three `crypto` modules: a function name, its parameters and a hex message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// Function name (`scrypt`, `sha256`, `aes-128-ctr`, ...).
    pub function: String,
    /// Function parameters.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Hex payload (empty for the KDF).
    #[serde(default)]
    pub message: String,
}

/// The `crypto` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crypto {
    /// Key derivation.
    pub kdf: Module,
    /// Password check.
    pub checksum: Module,
    /// Encryption of the secret.
    pub cipher: Module,
}

/// An encrypted BLS keystore (see the module docs for the format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keystore {
    /// KDF, checksum and cipher.
    pub crypto: Crypto,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Hex of the arkworks uncompressed G2 public key (may be empty).
    #[serde(default)]
    pub pubkey: String,
    /// `E([x,y])` G1 public key written by EigenLayer's Go tooling instead of `pubkey`.
    #[serde(rename = "pubKey", default, skip_serializing_if = "Option::is_none")]
    pub go_pubkey: Option<String>,
    /// Derivation path (empty for EigenLayer keys).
    #[serde(default)]
    pub path: String,
    /// Random UUID of this file.
    #[serde(default)]
    pub uuid: String,
    /// Format version, 4.
    #[serde(default = "version_4")]
    pub version: u32,
}

fn version_4() -> u32 {
    4
}

/// EIP-2335 password processing: NFKD, then drop C0, C1 and DEL control characters.
fn process_password(password: &str) -> Zeroizing<Vec<u8>> {
    let normalized: Zeroizing<String> = Zeroizing::new(
        password
            .nfkd()
            .filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f..=0x9f))
            .collect(),
    );
    Zeroizing::new(normalized.as_bytes().to_vec())
}

fn malformed(what: impl Into<String>) -> KeystoreError {
    KeystoreError::Malformed(what.into())
}

fn hex_param(module: &Module, name: &str, section: &str) -> Result<Vec<u8>, KeystoreError> {
    let text = module
        .params
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            malformed(format!(
                "crypto.{section}.params.{name} must be a hex string"
            ))
        })?;
    hex::decode(text).map_err(|e| malformed(format!("crypto.{section}.params.{name}: {e}")))
}

fn u32_param(module: &Module, name: &str) -> Result<u32, KeystoreError> {
    module
        .params
        .get(name)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            malformed(format!(
                "crypto.kdf.params.{name} must be an integer below 2^32"
            ))
        })
}

fn hex_message(module: &Module, section: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(&module.message).map_err(|e| malformed(format!("crypto.{section}.message: {e}")))
}

/// The arkworks uncompressed G2 public key, the `pubkey` field's content.
fn pubkey_hex(secret: &SecretKey) -> String {
    let mut bytes = Vec::new();
    secret
        .public_key_g2()
        .as_affine()
        .serialize_uncompressed(&mut bytes)
        .expect("serializing into a Vec cannot fail");
    hex::encode(bytes)
}

impl Keystore {
    /// Encrypts `secret` under `password` with fresh random salt and IV.
    pub fn encrypt(
        secret: &SecretKey,
        password: &str,
        kdf: KdfParams,
    ) -> Result<Self, KeystoreError> {
        let mut rng = rand::rng();
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);

        let mut kdf_params = Map::new();
        kdf_params.insert("dklen".into(), DKLEN.into());
        let function = match kdf {
            KdfParams::Scrypt { log_n, r, p } => {
                let n = 1u64
                    .checked_shl(log_n.into())
                    .filter(|_| log_n < 64)
                    .ok_or_else(|| {
                        KeystoreError::InvalidKdfParams(format!("log_n = {log_n} is too large"))
                    })?;
                kdf_params.insert("n".into(), n.into());
                kdf_params.insert("r".into(), r.into());
                kdf_params.insert("p".into(), p.into());
                "scrypt"
            }
            KdfParams::Pbkdf2 { rounds } => {
                kdf_params.insert("c".into(), rounds.into());
                kdf_params.insert("prf".into(), "hmac-sha256".into());
                "pbkdf2"
            }
        };
        kdf_params.insert("salt".into(), hex::encode(salt).into());
        let kdf_module = Module {
            function: function.into(),
            params: kdf_params,
            message: String::new(),
        };
        let key = derive_key(&kdf_module, password)?;

        let mut ciphertext = secret.to_be_bytes();
        Aes128Ctr::new(key[..16].into(), (&iv).into()).apply_keystream(ciphertext.as_mut_slice());
        let checksum = Sha256::new()
            .chain_update(&key[16..32])
            .chain_update(ciphertext.as_slice())
            .finalize();

        let mut cipher_params = Map::new();
        cipher_params.insert("iv".into(), hex::encode(iv).into());
        Ok(Self {
            crypto: Crypto {
                kdf: kdf_module,
                checksum: Module {
                    function: "sha256".into(),
                    params: Map::new(),
                    message: hex::encode(checksum),
                },
                cipher: Module {
                    function: "aes-128-ctr".into(),
                    params: cipher_params,
                    message: hex::encode(ciphertext.as_slice()),
                },
            },
            description: String::new(),
            pubkey: pubkey_hex(secret),
            go_pubkey: None,
            path: String::new(),
            uuid: uuid::Uuid::new_v4().to_string(),
            version: 4,
        })
    }

    /// Decrypts the secret key, checking the password, the key's validity and the recorded
    /// public key.
    pub fn decrypt(&self, password: &str) -> Result<SecretKey, KeystoreError> {
        self.check_curve()?;
        let cipher = &self.crypto.cipher;
        if cipher.function != "aes-128-ctr" {
            return Err(KeystoreError::UnsupportedCipher(cipher.function.clone()));
        }
        if self.crypto.checksum.function != "sha256" {
            return Err(KeystoreError::UnsupportedChecksum(
                self.crypto.checksum.function.clone(),
            ));
        }
        let iv = hex_param(cipher, "iv", "cipher")?;
        let iv: [u8; 16] = iv
            .try_into()
            .map_err(|_| malformed("crypto.cipher.params.iv must be 16 bytes"))?;
        let ciphertext = hex_message(cipher, "cipher")?;
        let expected = hex_message(&self.crypto.checksum, "checksum")?;
        if expected.len() != 32 {
            return Err(malformed("crypto.checksum.message must be 32 bytes"));
        }

        let key = derive_key(&self.crypto.kdf, password)?;
        let actual = Sha256::new()
            .chain_update(&key[16..32])
            .chain_update(&ciphertext)
            .finalize();
        // Compare without an early exit, so timing says nothing about the checksum.
        if actual
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(KeystoreError::WrongPassword);
        }

        let mut plaintext = Zeroizing::new(ciphertext);
        Aes128Ctr::new(key[..16].into(), (&iv).into()).apply_keystream(plaintext.as_mut_slice());
        let secret = SecretKey::from_be_bytes(&plaintext)?;
        self.check_public_key(&secret)?;
        Ok(secret)
    }

    /// Refuses keystores that are recognisably for BLS12-381 (Ethereum validator keys).
    fn check_curve(&self) -> Result<(), KeystoreError> {
        if self.pubkey.trim_start_matches("0x").len() == 96 {
            return Err(KeystoreError::WrongCurve(
                "`pubkey` is a 48-byte BLS12-381 public key".into(),
            ));
        }
        if self.path.starts_with("m/12381/") {
            return Err(KeystoreError::WrongCurve(format!(
                "path {} is an EIP-2334 BLS12-381 derivation path",
                self.path
            )));
        }
        Ok(())
    }

    fn check_public_key(&self, secret: &SecretKey) -> Result<(), KeystoreError> {
        if !self.pubkey.is_empty() {
            let recorded =
                hex::decode(&self.pubkey).map_err(|e| malformed(format!("pubkey: {e}")))?;
            if recorded.len() != 128 {
                return Err(malformed(format!(
                    "pubkey has {} bytes; expected 128 (arkworks uncompressed BN254 G2 key)",
                    recorded.len()
                )));
            }
            if hex::decode(pubkey_hex(secret)).ok() != Some(recorded) {
                return Err(KeystoreError::PublicKeyMismatch { field: "pubkey" });
            }
        }
        if let Some(go) = &self.go_pubkey {
            let point = secret.public_key().to_point();
            let (x, y) = go
                .trim()
                .strip_prefix("E([")
                .and_then(|s| s.strip_suffix("])"))
                .and_then(|s| s.split_once(','))
                .ok_or_else(|| malformed(format!("pubKey `{go}` is not of the form E([x,y])")))?;
            let parse = |s: &str| alloy::primitives::U256::from_str_radix(s.trim(), 10).ok();
            if (parse(x), parse(y)) != (Some(point.x), Some(point.y)) {
                return Err(KeystoreError::PublicKeyMismatch { field: "pubKey" });
            }
        }
        Ok(())
    }

    /// Parses keystore JSON.
    pub fn from_json(json: &str) -> Result<Self, KeystoreError> {
        serde_json::from_str(json).map_err(|e| malformed(e.to_string()))
    }

    /// Serialises to pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("a keystore has only string keys and plain values")
    }

    /// Reads a keystore file.
    pub fn read(path: &Path) -> Result<Self, KeystoreError> {
        let json = fs::read_to_string(path).map_err(|source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// Writes a new keystore file with mode 0600; fails if the file exists, so a key is never
    /// overwritten by accident.
    pub fn write(&self, path: &Path) -> Result<(), KeystoreError> {
        let io = |source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(self.to_json().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

/// Reads and decrypts a keystore file in one step.
pub fn load_secret_key(path: &Path, password: &str) -> Result<SecretKey, KeystoreError> {
    Keystore::read(path)?.decrypt(password)
}

/// Runs the keystore's KDF, validating its parameters first.
fn derive_key(kdf: &Module, password: &str) -> Result<Zeroizing<[u8; DKLEN]>, KeystoreError> {
    let dklen = kdf
        .params
        .get("dklen")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("crypto.kdf.params.dklen must be an integer"))?;
    if dklen != DKLEN as u64 {
        return Err(KeystoreError::InvalidKdfParams(format!(
            "dklen = {dklen}, expected 32"
        )));
    }
    let salt = hex_param(kdf, "salt", "kdf")?;
    let password = process_password(password);
    let mut key = Zeroizing::new([0u8; DKLEN]);
    match kdf.function.as_str() {
        "scrypt" => {
            let (n, r, p) = (
                u32_param(kdf, "n")?,
                u32_param(kdf, "r")?,
                u32_param(kdf, "p")?,
            );
            if n < 2 || !n.is_power_of_two() {
                return Err(KeystoreError::InvalidKdfParams(format!(
                    "scrypt n = {n} is not a power of two ≥ 2"
                )));
            }
            let memory = 128 * u64::from(r) * u64::from(n);
            if memory > MAX_SCRYPT_MEMORY {
                return Err(KeystoreError::InvalidKdfParams(format!(
                    "scrypt n = {n}, r = {r} needs {} MiB, more than the {} MiB allowed",
                    memory >> 20,
                    MAX_SCRYPT_MEMORY >> 20
                )));
            }
            // p runs the memory-hard mix p times over: bound the total work as well.
            if memory.saturating_mul(u64::from(p)) > MAX_SCRYPT_WORK {
                return Err(KeystoreError::InvalidKdfParams(format!(
                    "scrypt n = {n}, r = {r}, p = {p} is more than {} times the standard work",
                    MAX_SCRYPT_WORK / (256 << 20)
                )));
            }
            let params =
                scrypt::Params::new(n.trailing_zeros() as u8, r, p, DKLEN).map_err(|e| {
                    KeystoreError::InvalidKdfParams(format!(
                        "scrypt n = {n}, r = {r}, p = {p}: {e}"
                    ))
                })?;
            scrypt::scrypt(&password, &salt, &params, key.as_mut_slice())
                .map_err(|e| KeystoreError::InvalidKdfParams(format!("scrypt: {e}")))?;
        }
        "pbkdf2" => {
            let rounds = u32_param(kdf, "c")?;
            let prf = kdf
                .params
                .get("prf")
                .and_then(Value::as_str)
                .unwrap_or("hmac-sha256");
            if prf != "hmac-sha256" {
                return Err(KeystoreError::InvalidKdfParams(format!(
                    "pbkdf2 prf `{prf}` (supported: hmac-sha256)"
                )));
            }
            if rounds == 0 {
                return Err(KeystoreError::InvalidKdfParams("pbkdf2 c = 0".into()));
            }
            pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, rounds, key.as_mut_slice());
        }
        other => return Err(KeystoreError::UnsupportedKdf(other.into())),
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIGHT: KdfParams = KdfParams::Scrypt {
        log_n: 10,
        r: 8,
        p: 1,
    };

    fn sample() -> (SecretKey, Keystore) {
        let key = SecretKey::generate();
        let keystore = Keystore::encrypt(&key, "pässword", LIGHT).unwrap();
        (key, keystore)
    }

    #[test]
    fn scrypt_and_pbkdf2_roundtrip() {
        let (key, keystore) = sample();
        let back = Keystore::from_json(&keystore.to_json())
            .unwrap()
            .decrypt("pässword")
            .unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let pb = Keystore::encrypt(&key, "pw", KdfParams::Pbkdf2 { rounds: 1024 }).unwrap();
        assert_eq!(pb.crypto.kdf.function, "pbkdf2");
        assert_eq!(pb.decrypt("pw").unwrap().public_key(), key.public_key());
    }

    #[test]
    fn password_is_nfkd_normalised_and_control_chars_dropped() {
        let (key, keystore) = sample();
        // "ä" precomposed (U+00E4) vs decomposed (a + U+0308), plus a stray control char.
        let back = keystore.decrypt("pa\u{0308}ss\u{7f}word").unwrap();
        assert_eq!(back.public_key(), key.public_key());
    }

    #[test]
    fn wrong_password() {
        let (_, keystore) = sample();
        assert!(matches!(
            keystore.decrypt("password"),
            Err(KeystoreError::WrongPassword)
        ));
    }

    #[test]
    fn distinct_errors_for_bad_files() {
        let (_, keystore) = sample();
        let with = |edit: &dyn Fn(&mut Keystore)| {
            let mut k = keystore.clone();
            edit(&mut k);
            k.decrypt("pässword").unwrap_err()
        };
        assert!(matches!(
            with(&|k| k.crypto.kdf.function = "argon2id".into()),
            KeystoreError::UnsupportedKdf(f) if f == "argon2id"
        ));
        assert!(matches!(
            with(&|k| k.crypto.cipher.function = "aes-256-gcm".into()),
            KeystoreError::UnsupportedCipher(_)
        ));
        assert!(matches!(
            with(&|k| k.crypto.checksum.function = "keccak".into()),
            KeystoreError::UnsupportedChecksum(_)
        ));
        assert!(matches!(
            with(&|k| {
                k.crypto.kdf.params.insert("n".into(), 1000.into());
            }),
            KeystoreError::InvalidKdfParams(_)
        ));
        assert!(matches!(
            with(&|k| { k.crypto.kdf.params.insert("n".into(), (1u64 << 30).into()); }),
            KeystoreError::InvalidKdfParams(m) if m.contains("MiB")
        ));
        assert!(matches!(
            with(&|k| {
                k.crypto.kdf.params.insert("p".into(), u32::MAX.into());
            }),
            KeystoreError::InvalidKdfParams(m) if m.contains("standard work")
        ));
        assert!(matches!(
            with(&|k| {
                k.crypto.cipher.params.insert("iv".into(), "zz".into());
            }),
            KeystoreError::Malformed(_)
        ));
        assert!(matches!(
            with(&|k| k.pubkey = "ab".repeat(48)),
            KeystoreError::WrongCurve(_)
        ));
        assert!(matches!(
            with(&|k| k.path = "m/12381/3600/0/0/0".into()),
            KeystoreError::WrongCurve(_)
        ));
        let other_key = pubkey_hex(&SecretKey::generate());
        assert!(matches!(
            with(&|k| k.pubkey = other_key.clone()),
            KeystoreError::PublicKeyMismatch { field: "pubkey" }
        ));
        assert!(matches!(
            with(&|k| k.go_pubkey = Some("E([1,2])".into())),
            KeystoreError::PublicKeyMismatch { .. }
        ));
        // A flipped ciphertext byte is caught by the checksum.
        assert!(matches!(
            with(&|k| k.crypto.cipher.message.replace_range(
                0..2,
                if k.crypto.cipher.message.starts_with("00") {
                    "01"
                } else {
                    "00"
                }
            )),
            KeystoreError::WrongPassword
        ));
        assert!(matches!(
            Keystore::from_json("{\"crypto\": 1}"),
            Err(KeystoreError::Malformed(_))
        ));
        assert!(matches!(
            Keystore::from_json("not json"),
            Err(KeystoreError::Malformed(_))
        ));
    }

    #[test]
    fn encrypted_zero_secret_is_an_invalid_key() {
        // Build a keystore whose plaintext is 32 zero bytes: AES-CTR of zeros is the keystream.
        let (_, mut keystore) = sample();
        keystore.pubkey.clear();
        let key = derive_key(&keystore.crypto.kdf, "pässword").unwrap();
        let iv: [u8; 16] = hex_param(&keystore.crypto.cipher, "iv", "cipher")
            .unwrap()
            .try_into()
            .unwrap();
        let mut ciphertext = [0u8; 32];
        Aes128Ctr::new(key[..16].into(), (&iv).into()).apply_keystream(&mut ciphertext);
        let checksum = Sha256::new()
            .chain_update(&key[16..32])
            .chain_update(ciphertext)
            .finalize();
        keystore.crypto.cipher.message = hex::encode(ciphertext);
        keystore.crypto.checksum.message = hex::encode(checksum);
        assert!(matches!(
            keystore.decrypt("pässword"),
            Err(KeystoreError::InvalidSecretKey(_))
        ));
    }

    #[test]
    fn file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bls.json");
        let (key, keystore) = sample();
        keystore.write(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(matches!(
            keystore.write(&path),
            Err(KeystoreError::Io { .. })
        ));
        assert_eq!(
            load_secret_key(&path, "pässword").unwrap().public_key(),
            key.public_key()
        );
    }
}
