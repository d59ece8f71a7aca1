//! Operator keys: `avs-node keys bls|ecdsa new|import|show|list`, and the loaders the node uses.
//!
//! Files follow EigenLayer's operator tooling: `<keys dir>/<name>.bls.key.json` (the BN254
//! EIP-2335-style keystore of [`avs_bls::keystore`]) and `<name>.ecdsa.key.json` (Web3 Secret
//! Storage), in `~/.eigenlayer/operator_keys` unless `--keys-dir` says otherwise. Keystores are
//! written with mode 0600 and never overwrite an existing file. `show` prints public data only.
//!
//! Key derivation (scrypt) takes about a second by design: the loaders
//! ([`load_bls_key`], [`load_ecdsa_signer`]) run it on the blocking pool.

use crate::{
    config::{BLS_PASSWORD_ENV, ECDSA_PASSWORD_ENV, KeySource},
    output,
    password::PasswordSource,
};
use alloy::{
    primitives::{Address, B256, U256},
    signers::local::{LocalSignerError, PrivateKeySigner},
};
use avs_bls::{
    SecretKey,
    keystore::{KdfParams, Keystore, KeystoreError},
};
use clap::{Args, Subcommand};
use eyre::{Result, bail, eyre};
use serde::Serialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// `avs-node keys bls|ecdsa …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// BN254 BLS keys (sign task responses).
    #[command(subcommand)]
    Bls(KeyAction),
    /// ECDSA keys (the operator's wallet: registers, creates tasks, submits).
    #[command(subcommand)]
    Ecdsa(KeyAction),
}

/// What to do with a key.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Create a new random key in an encrypted keystore.
    New(KeyFileArgs),
    /// Encrypt an existing private key (read from --private-key-file or a hidden prompt).
    Import {
        /// The keystore to write.
        #[command(flatten)]
        file: KeyFileArgs,
        /// File holding the private key (hex; BLS also accepts decimal as EigenLayer's tooling prints it).
        #[arg(long, value_name = "FILE")]
        private_key_file: Option<PathBuf>,
    },
    /// Decrypt a keystore and print its public data (address / public keys, operator id).
    Show(KeyFileArgs),
    /// List the keystores of this type in the keys directory.
    List {
        /// Keys directory.
        #[arg(long, env = "AVS_KEYS_DIR", value_name = "DIR")]
        keys_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which keystore, its password and the output format.
#[derive(Debug, Args)]
pub struct KeyFileArgs {
    /// Key name (`<keys dir>/<name>.<type>.key.json`) or a path to a keystore file.
    pub name: String,
    /// Keys directory.
    #[arg(long, env = "AVS_KEYS_DIR", value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// File holding the keystore password [otherwise $AVS_BLS_PASSWORD / $AVS_ECDSA_PASSWORD, otherwise a prompt].
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// BLS or ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// The operator's BN254 key.
    Bls,
    /// The secp256k1 wallet.
    Ecdsa,
}

impl KeyType {
    /// The subcommand of `avs-node keys` for this kind.
    const fn command(self) -> &'static str {
        match self {
            Self::Bls => "bls",
            Self::Ecdsa => "ecdsa",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Bls => "BLS",
            Self::Ecdsa => "ECDSA",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Bls => ".bls.key.json",
            Self::Ecdsa => ".ecdsa.key.json",
        }
    }

    fn password_env(self) -> &'static str {
        match self {
            Self::Bls => BLS_PASSWORD_ENV,
            Self::Ecdsa => ECDSA_PASSWORD_ENV,
        }
    }
}

/// Public data of a key, as `show`, `new` and `import` print it.
// Built once per command for printing: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all_fields = "camelCase", tag = "type")]
pub enum PublicKeyInfo {
    /// A BLS key.
    #[serde(rename = "bls")]
    Bls {
        /// The keystore.
        path: PathBuf,
        /// keccak256 of the G1 key: the operator id EigenLayer assigns.
        operator_id: B256,
        /// G1 public key `(x, y)`.
        g1_public_key: [U256; 2],
        /// G2 public key `([x.c1, x.c0], [y.c1, y.c0])`, EigenLayer's order.
        g2_public_key: [[U256; 2]; 2],
    },
    /// An ECDSA key.
    #[serde(rename = "ecdsa")]
    Ecdsa {
        /// The keystore.
        path: PathBuf,
        /// The account address.
        address: Address,
    },
}

impl PublicKeyInfo {
    fn bls(path: &Path, key: &SecretKey) -> Self {
        let g1 = key.public_key().to_point();
        let g2 = key.public_key_g2().to_point();
        Self::Bls {
            path: path.to_owned(),
            operator_id: key.public_key().operator_id().0,
            g1_public_key: [g1.x, g1.y],
            g2_public_key: [g2.x, g2.y],
        }
    }

    fn human(&self) -> String {
        match self {
            Self::Bls {
                path,
                operator_id,
                g1_public_key,
                g2_public_key,
            } => format!(
                "BLS keystore  {}\noperator id   {operator_id}\nG1 public key ({}, {})\nG2 public key ([{}, {}], [{}, {}])",
                path.display(),
                g1_public_key[0],
                g1_public_key[1],
                g2_public_key[0][0],
                g2_public_key[0][1],
                g2_public_key[1][0],
                g2_public_key[1][1],
            ),
            Self::Ecdsa { path, address } => {
                format!(
                    "ECDSA keystore {}\naddress        {address}",
                    path.display()
                )
            }
        }
    }
}

/// Runs a `keys` command. Blocking (scrypt, prompts): call it from `spawn_blocking`.
pub fn run(command: KeysCommand) -> Result<()> {
    let (kind, action) = match command {
        KeysCommand::Bls(action) => (KeyType::Bls, action),
        KeysCommand::Ecdsa(action) => (KeyType::Ecdsa, action),
    };
    match action {
        KeyAction::New(args) => {
            let info = create(kind, &args, None)?;
            output::emit(args.json, &info, PublicKeyInfo::human);
        }
        KeyAction::Import {
            file,
            private_key_file,
        } => {
            let secret = read_private_key(kind, private_key_file.as_deref())?;
            let info = create(kind, &file, Some(secret))?;
            output::emit(file.json, &info, PublicKeyInfo::human);
        }
        KeyAction::Show(args) => {
            let path = keystore_path(kind, &args.name, args.keys_dir.as_deref())?;
            let password =
                password_source(kind, &args).read(&format!("{} keystore", kind.label()))?;
            let info = match kind {
                KeyType::Bls => PublicKeyInfo::bls(&path, &decrypt_bls(&path, &password)?),
                KeyType::Ecdsa => PublicKeyInfo::Ecdsa {
                    path: path.clone(),
                    address: decrypt_ecdsa(&path, &password)?.address(),
                },
            };
            output::emit(args.json, &info, PublicKeyInfo::human);
        }
        KeyAction::List { keys_dir, json } => {
            let listed = list(kind, &keys_dir_or_default(keys_dir.as_deref())?)?;
            output::emit(json, &listed, |listed| {
                if listed.is_empty() {
                    format!("no {} keystores", kind.label())
                } else {
                    listed
                        .iter()
                        .map(|k| format!("{:<20} {}", k.name, k.path.display()))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
    }
    Ok(())
}

/// A keystore found by `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedKey {
    /// Its name (file name without the suffix).
    pub name: String,
    /// Its path.
    pub path: PathBuf,
}

fn list(kind: KeyType, dir: &Path) -> Result<Vec<ListedKey>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => bail!(
            "cannot read the keys directory {} ({e}): check --keys-dir",
            dir.display()
        ),
    };
    let mut keys: Vec<ListedKey> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let name = file_name.strip_suffix(kind.suffix())?.to_owned();
            Some(ListedKey {
                name,
                path: entry.path(),
            })
        })
        .collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(keys)
}

/// Encrypts `secret` (or a fresh key) into a new keystore file.
fn create(
    kind: KeyType,
    args: &KeyFileArgs,
    secret: Option<Zeroizing<Vec<u8>>>,
) -> Result<PublicKeyInfo> {
    let path = keystore_path(kind, &args.name, args.keys_dir.as_deref())?;
    if path.exists() {
        bail!(
            "{} already exists: choose another name (keystores are never overwritten)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let password = password_source(kind, args).read_new(&format!("{} keystore", kind.label()))?;
    match kind {
        KeyType::Bls => {
            let key = match secret {
                Some(bytes) => SecretKey::from_be_bytes(&bytes).map_err(|e| {
                    eyre!("the private key is not a valid BN254 secret key ({e}): check the file")
                })?,
                None => SecretKey::generate(),
            };
            Keystore::encrypt(&key, &password, KdfParams::default())
                .and_then(|keystore| keystore.write(&path))
                .map_err(|e| eyre!("writing {}: {e}", path.display()))?;
            Ok(PublicKeyInfo::bls(&path, &key))
        }
        KeyType::Ecdsa => {
            let key = match secret {
                Some(bytes) => Zeroizing::new(bytes.to_vec()),
                None => Zeroizing::new(PrivateKeySigner::random().to_bytes().to_vec()),
            };
            let signer = PrivateKeySigner::from_slice(&key).map_err(|e| {
                eyre!("the private key is not a valid secp256k1 key ({e}): check the file")
            })?;
            write_ecdsa_keystore(&path, &key, &password)?;
            Ok(PublicKeyInfo::Ecdsa {
                path,
                address: signer.address(),
            })
        }
    }
}

/// eth-keystore writes with default permissions and truncates existing files, so the keystore
/// is written into a fresh private directory, restricted to 0600, then hard-linked to its name
/// (which fails instead of replacing an existing file).
fn write_ecdsa_keystore(path: &Path, key: &[u8], password: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    create_private_dir(&staging)?;
    let result = (|| -> Result<()> {
        PrivateKeySigner::encrypt_keystore(
            &staging,
            &mut rand_08::thread_rng(),
            key,
            password,
            Some("key"),
        )
        .map_err(|e| eyre!("encrypting the ECDSA keystore: {e}"))?;
        let staged = staging.join("key");
        restrict_to_owner(&staged)?;
        std::fs::hard_link(&staged, path).map_err(|e| eyre!("writing {} ({e})", path.display()))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| eyre!("cannot create {} ({e}): check --keys-dir", dir.display()))
}

fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| eyre!("restricting {} to its owner ({e})", path.display()))?;
    }
    Ok(())
}

/// Reads a private key from a file or a hidden prompt: 0x-hex, or (BLS) decimal.
fn read_private_key(kind: KeyType, file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    let text = match file {
        Some(path) => Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            eyre!(
                "cannot read the private key file {} ({e}): check the path",
                path.display()
            )
        })?),
        None => Zeroizing::new(
            rpassword::prompt_password(format!("{} private key: ", kind.label())).map_err(|e| {
                eyre!("cannot prompt for the private key ({e}): pass --private-key-file")
            })?,
        ),
    };
    parse_private_key(kind, text.trim())
}

fn parse_private_key(kind: KeyType, text: &str) -> Result<Zeroizing<Vec<u8>>> {
    let stripped = text.strip_prefix("0x").unwrap_or(text);
    let is_hex = text.starts_with("0x")
        || (stripped.len() == 64 && stripped.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_hex {
        let bytes = alloy::hex::decode(stripped).map_err(|_| {
            eyre!("the private key is not valid hex: expect 0x followed by 64 hex digits")
        })?;
        if bytes.len() != 32 {
            bail!("the private key has {} bytes, expected 32", bytes.len());
        }
        return Ok(Zeroizing::new(bytes));
    }
    if kind == KeyType::Bls && !stripped.is_empty() && stripped.bytes().all(|b| b.is_ascii_digit())
    {
        let key = SecretKey::from_decimal(stripped)
            .map_err(|e| eyre!("the private key is not a valid BN254 secret key ({e})"))?;
        return Ok(Zeroizing::new(key.to_be_bytes().to_vec()));
    }
    bail!("the private key is neither 0x-hex nor (BLS only) decimal: check the input")
}

fn password_source(kind: KeyType, args: &KeyFileArgs) -> PasswordSource {
    PasswordSource::resolve(args.password_file.clone(), kind.password_env(), None)
}

/// `name` as a path when it looks like one, else `<keys dir>/<name><suffix>`.
fn keystore_path(kind: KeyType, name: &str, keys_dir: Option<&Path>) -> Result<PathBuf> {
    if name.contains(std::path::MAIN_SEPARATOR) || name.ends_with(".json") {
        return Ok(PathBuf::from(name));
    }
    if name.is_empty() || name.starts_with('.') {
        bail!("{name:?} is not a key name: use letters, digits, '-' or '_'");
    }
    Ok(keys_dir_or_default(keys_dir)?.join(format!("{name}{}", kind.suffix())))
}

fn keys_dir_or_default(keys_dir: Option<&Path>) -> Result<PathBuf> {
    match keys_dir {
        Some(dir) => Ok(dir.to_owned()),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".eigenlayer/operator_keys"))
            .ok_or_else(|| eyre!("$HOME is not set: pass --keys-dir")),
    }
}

fn decrypt_bls(path: &Path, password: &str) -> Result<SecretKey> {
    avs_bls::keystore::load_secret_key(path, password).map_err(|e| match e {
        KeystoreError::WrongPassword => eyre!(
            "wrong password for the BLS keystore {}: check ${BLS_PASSWORD_ENV} or the password file",
            path.display()
        ),
        KeystoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => eyre!(
            "BLS keystore {} not found: check the path or create one with `avs-node keys bls new`",
            path.display()
        ),
        KeystoreError::Io { source, .. } => eyre!("cannot read the BLS keystore {} ({source})", path.display()),
        other => eyre!(
            "BLS keystore {} is unusable ({other}): restore it from your backup",
            path.display()
        ),
    })
}

fn decrypt_ecdsa(path: &Path, password: &str) -> Result<PrivateKeySigner> {
    if !path.is_file() {
        bail!(
            "ECDSA keystore {} not found: check the path or create one with `avs-node keys ecdsa new`",
            path.display()
        );
    }
    PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| match e {
        LocalSignerError::EthKeystoreError(eth_keystore::KeystoreError::MacMismatch) => eyre!(
            "wrong password for the ECDSA keystore {}: check ${ECDSA_PASSWORD_ENV} or the password file",
            path.display()
        ),
        other => eyre!(
            "ECDSA keystore {} is unusable ({other}): restore it from your backup",
            path.display()
        ),
    })
}

/// Checks, without decrypting it, that a key source can be used: a keystore file exists and
/// parses as an encrypted keystore of its kind (EIP-2335-style BN254 for BLS, Web3 v3 for
/// ECDSA); a plaintext key parses.
pub fn inspect_key_source(kind: KeyType, source: &KeySource) -> Result<()> {
    let path = match source {
        KeySource::Keystore { path, .. } => path,
        KeySource::Plaintext(hex) => {
            return parse_private_key(kind, hex.trim())
                .map(drop)
                .map_err(|e| eyre!("{} plaintext key: {e}", kind.label()));
        }
    };
    let not_found = || {
        eyre!(
            "{} keystore {} not found: check the path or create one with `avs-node keys {} new`",
            kind.label(),
            path.display(),
            kind.command()
        )
    };
    match kind {
        KeyType::Bls => match avs_bls::keystore::Keystore::read(path) {
            Ok(_) => Ok(()),
            Err(KeystoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(not_found())
            }
            Err(e) => Err(eyre!("BLS keystore {} is unusable ({e})", path.display())),
        },
        KeyType::Ecdsa => {
            let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => not_found(),
                _ => eyre!("cannot read the ECDSA keystore {} ({e})", path.display()),
            })?;
            serde_json::from_str::<eth_keystore::EthKeystore>(&text)
                .map(drop)
                .map_err(|e| {
                    eyre!(
                        "ECDSA keystore {} is not an encrypted keystore ({e})",
                        path.display()
                    )
                })
        }
    }
}

/// Loads the node's BLS key from its configured source, off the async runtime.
pub async fn load_bls_key(source: &KeySource) -> Result<SecretKey> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || match source {
        KeySource::Keystore { path, password } => {
            decrypt_bls(&path, &password.read("BLS keystore")?)
        }
        KeySource::Plaintext(hex) => {
            SecretKey::from_be_bytes(&parse_private_key(KeyType::Bls, hex.trim())?)
                .map_err(|e| eyre!("bls_private_key is not a valid BN254 secret key ({e})"))
        }
    })
    .await?
}

/// Loads the node's ECDSA wallet from its configured source, off the async runtime.
pub async fn load_ecdsa_signer(source: &KeySource) -> Result<PrivateKeySigner> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || match source {
        KeySource::Keystore { path, password } => {
            decrypt_ecdsa(&path, &password.read("ECDSA keystore")?)
        }
        KeySource::Plaintext(hex) => {
            PrivateKeySigner::from_slice(&parse_private_key(KeyType::Ecdsa, hex.trim())?)
                .map_err(|e| eyre!("ecdsa_private_key is not a valid secp256k1 key ({e})"))
        }
    })
    .await?
}
