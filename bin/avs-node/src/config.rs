//! [`NodeConfig`]: everything `avs-node` needs, merged from three sources and validated once.
//!
//! Precedence, highest first: command-line flag, environment variable (`AVS_…`), TOML file
//! (`--config`), built-in default. The flags and the file share one definition,
//! [`NodeOptions`] (TOML keys are the flag names in snake_case), so they cannot drift apart.
//!
//! [`NodeConfig::from_options`] turns the merged options into a validated config or a
//! [`ConfigError`] naming the setting (TOML key, flag and environment variable) and the fix.
//! Validation reads the deployment file but never contacts a chain and never reads secrets:
//! keys are loaded later with [`crate::keys::load_bls_key`] / [`crate::keys::load_ecdsa_signer`].
//!
//! ```no_run
//! use avs_node::config::{NodeConfig, NodeOptions};
//! let flags = NodeOptions::default(); // normally parsed by clap
//! let config = NodeConfig::load(flags, Some("etc/node.example.toml".as_ref()))?;
//! println!("{}", config.settlement_rpc);
//! # Ok::<(), avs_node::config::ConfigError>(())
//! ```

use crate::password::PasswordSource;
use avs_checkpoint::AttestDepth;
use avs_contracts::deployment::Deployment;
use avs_exex::host::StateRootMode;
use avs_p2p::config::{DEFAULT_MIN_PEERS, DEFAULT_TARGET_PEERS};
use clap::{Args, ValueEnum};
use libp2p::{Multiaddr, multiaddr::Protocol};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use url::Url;
use zeroize::Zeroizing;

/// Default Prometheus address (localhost only: metrics reveal the operator's activity).
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9090";
/// Default EigenLayer Node API address.
pub const DEFAULT_NODE_API_ADDR: &str = "127.0.0.1:9010";
/// Default p2p listen addresses (TCP and QUIC on the p2p crate's default port).
pub const DEFAULT_P2P_LISTEN: [&str; 2] =
    ["/ip4/0.0.0.0/tcp/9777", "/ip4/0.0.0.0/udp/9777/quic-v1"];
/// Environment variable holding the BLS keystore password.
pub const BLS_PASSWORD_ENV: &str = "AVS_BLS_PASSWORD";
/// Environment variable holding the ECDSA keystore password.
pub const ECDSA_PASSWORD_ENV: &str = "AVS_ECDSA_PASSWORD";
/// Environment variable holding the gas wallet's keystore password.
pub const WALLET_PASSWORD_ENV: &str = "AVS_WALLET_PASSWORD";
/// Chain ids on which `--insecure` (plaintext keys) is accepted: local devnets only.
pub const DEVNET_CHAIN_IDS: [u64; 2] = avs_checkpoint::DEVNET_CHAIN_IDS;

/// `attest_depth` as written: a number of blocks (a TOML integer, or digits) or a name
/// (`finalized`, `safe`), checked when the options are validated.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AttestDepthOption {
    /// A number of blocks.
    Blocks(u64),
    /// A block tag (or anything else, refused by validation with the setting's name).
    Named(String),
}

impl std::str::FromStr for AttestDepthOption {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(value
            .parse()
            .map_or_else(|_| Self::Named(value.to_owned()), Self::Blocks))
    }
}

/// A role this node plays besides aggregating and submitting (which every node does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Verify checkpoints and BLS-sign responses (needs the BLS key).
    Operator,
    /// Create checkpoint tasks on the settlement chain.
    TaskGenerator,
}

/// Node settings as flags, environment variables and TOML keys; every field is optional so
/// that sources can be layered with [`NodeOptions::or`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOptions {
    /// Settlement chain JSON-RPC endpoint (http(s):// or ws(s)://): AVS contracts, tasks, submission.
    #[arg(long, env = "AVS_SETTLEMENT_RPC_URL", value_name = "URL")]
    pub settlement_rpc_url: Option<String>,
    /// WebSocket endpoint of the same node for new-head subscriptions, when
    /// settlement_rpc_url is http(s):// (reth and geth serve WebSocket on a port of its own)
    /// [default: none; a ws(s):// settlement_rpc_url subscribes on that address].
    #[arg(long, env = "AVS_SETTLEMENT_WS_URL", value_name = "URL")]
    pub settlement_ws_url: Option<String>,
    /// Attested chain JSON-RPC endpoint whose checkpoints are verified, when it is another chain
    /// than the settlement chain (two-chain mode; ws(s):// if the node serves HTTP on the same
    /// address, else http(s)://, polled) [default: the settlement endpoint].
    #[arg(long, env = "AVS_ATTESTED_RPC_URL", value_name = "URL")]
    pub attested_rpc_url: Option<String>,
    /// Attested blocks kept in two-chain mode, so that a restarted node can still answer every
    /// open task: the response window counted in attested blocks (response_window_blocks ×
    /// settlement block time ÷ attested block time, e.g. 100 × 12 s ÷ 2 s = 600 on an L2 with
    /// 2 s blocks) [default: as many as the node keeps of the settlement chain, at least 256].
    #[arg(long, env = "AVS_ATTESTED_RETENTION_BLOCKS", value_name = "BLOCKS")]
    pub attested_retention_blocks: Option<u64>,
    /// Deployment file written by the deployer (chain id, contract addresses).
    #[arg(long, env = "AVS_DEPLOYMENT", value_name = "FILE")]
    pub deployment: Option<PathBuf>,
    /// Data directory: WAL, slashing-protection database, p2p identity key [default: ~/.local/share/avs-node/<chain id>].
    #[arg(long, env = "AVS_DATADIR", value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Operator BLS keystore (EigenLayer's BN254 keystore JSON).
    #[arg(long, env = "AVS_BLS_KEYSTORE", value_name = "FILE")]
    pub bls_keystore: Option<PathBuf>,
    /// File holding the BLS keystore password [otherwise $AVS_BLS_PASSWORD, otherwise a prompt].
    #[arg(long, value_name = "FILE")]
    pub bls_password_file: Option<PathBuf>,
    /// ECDSA keystore (Web3 Secret Storage) of the EigenLayer operator: registers and
    /// deregisters it (and pays on devnets, where it doubles as the gas wallet).
    #[arg(long, env = "AVS_ECDSA_KEYSTORE", value_name = "FILE")]
    pub ecdsa_keystore: Option<PathBuf>,
    /// File holding the ECDSA keystore password [otherwise $AVS_ECDSA_PASSWORD, otherwise a prompt].
    #[arg(long, value_name = "FILE")]
    pub ecdsa_password_file: Option<PathBuf>,
    /// DEVNET ONLY: accept plaintext hex keys (--bls-private-key, --ecdsa-private-key); refused on
    /// chains other than local devnets.
    #[arg(long, env = "AVS_INSECURE", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub insecure: Option<bool>,
    /// DEVNET ONLY (with --insecure): the BLS secret key as hex.
    #[arg(
        long,
        env = "AVS_BLS_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub bls_private_key: Option<String>,
    /// DEVNET ONLY (with --insecure): the ECDSA private key as hex.
    #[arg(
        long,
        env = "AVS_ECDSA_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub ecdsa_private_key: Option<String>,
    /// ECDSA keystore of the gas wallet that pays for submissions, challenges and task creation,
    /// so the operator's key need not be decrypted by a networked process [required by `run`
    /// except on devnets, where the operator's ECDSA key pays].
    #[arg(long, env = "AVS_WALLET_KEYSTORE", value_name = "FILE")]
    pub wallet_keystore: Option<PathBuf>,
    /// File holding the wallet keystore password [otherwise $AVS_WALLET_PASSWORD, otherwise a
    /// prompt].
    #[arg(long, value_name = "FILE")]
    pub wallet_password_file: Option<PathBuf>,
    /// DEVNET ONLY (with --insecure): the gas wallet's private key as hex.
    #[arg(
        long,
        env = "AVS_WALLET_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub wallet_private_key: Option<String>,
    /// Roles of this node, comma-separated [default: operator].
    #[arg(long, env = "AVS_ROLES", value_delimiter = ',', value_name = "ROLE")]
    pub roles: Option<Vec<Role>>,
    /// p2p listen multiaddresses, comma-separated [default: TCP and QUIC on 0.0.0.0:9777].
    #[arg(
        long = "p2p-listen-addrs",
        env = "AVS_P2P_LISTEN_ADDRS",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub p2p_listen_addrs: Option<Vec<String>>,
    /// Multiaddresses peers can reach this node at (behind NAT), comma-separated.
    #[arg(
        long = "p2p-external-addrs",
        env = "AVS_P2P_EXTERNAL_ADDRS",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub p2p_external_addrs: Option<Vec<String>>,
    /// Bootnodes: multiaddresses ending in /p2p/<peer id>, comma-separated.
    #[arg(
        long,
        env = "AVS_BOOTNODES",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub bootnodes: Option<Vec<String>>,
    /// Also find peers on the local network with mDNS and dial them (a LAN devnet without
    /// bootnodes); leave it off on public hosts, where it announces the node to its neighbours
    /// [default: false].
    #[arg(long, env = "AVS_P2P_MDNS", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub p2p_mdns: Option<bool>,
    /// Peers the node keeps connected: below this many it dials the peers it knows, bootnodes
    /// first [default: 24].
    #[arg(
        long = "p2p-target-peers",
        env = "AVS_P2P_TARGET_PEERS",
        value_name = "N"
    )]
    pub p2p_target_peers: Option<usize>,
    /// Below this many peers the node warns and searches the DHT more often [default: 4].
    #[arg(long = "p2p-min-peers", env = "AVS_P2P_MIN_PEERS", value_name = "N")]
    pub p2p_min_peers: Option<usize>,
    /// Prometheus metrics address [default: 127.0.0.1:9090].
    #[arg(long, env = "AVS_METRICS_ADDR", value_name = "IP:PORT")]
    pub metrics_addr: Option<String>,
    /// EigenLayer Node API address [default: 127.0.0.1:9010].
    #[arg(long, env = "AVS_NODE_API_ADDR", value_name = "IP:PORT")]
    pub node_api_addr: Option<String>,
    /// Node name reported by the Node API [default: avs-node].
    #[arg(long, env = "AVS_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// Recent blocks kept for reorg handling; a deeper reorg stops the node [default: 64].
    #[arg(long, env = "AVS_REORG_WINDOW", value_name = "BLOCKS")]
    pub reorg_window: Option<u64>,
    /// Blocks to stay behind the attested chain's head [default: 0].
    #[arg(long, env = "AVS_CONFIRMATIONS", value_name = "BLOCKS")]
    pub confirmations: Option<u64>,
    /// How deep an attested block must be before this node signs it (and, as a task generator,
    /// tasks it): `finalized`, `safe` or a number of blocks. Deeper costs latency (`finalized`
    /// is about 13 minutes on Ethereum) and keeps an operator from signing a block a reorg then
    /// replaces [default: 0 on devnet chains 31337/1337, else `finalized`, which the attested
    /// node must serve].
    #[arg(long, env = "AVS_ATTEST_DEPTH", value_name = "finalized|safe|BLOCKS")]
    pub attest_depth: Option<AttestDepthOption>,
    /// Delay between consecutive submitter ranks, in milliseconds [default: 12000].
    #[arg(long, env = "AVS_SUBMIT_SLOT_MS", value_name = "MS")]
    pub submit_slot_ms: Option<u64>,
    /// Extra signature collection time after quorum, in milliseconds [default: 500].
    #[arg(long, env = "AVS_AGGREGATION_WINDOW_MS", value_name = "MS")]
    pub aggregation_window_ms: Option<u64>,
    /// Highest max fee per gas any transaction of the gas wallet pays (responses, task
    /// creations and stake updates, challenges; replacements included), in gwei [default: 200].
    #[arg(long, env = "AVS_MAX_FEE_GWEI", value_name = "GWEI")]
    pub max_fee_gwei: Option<u64>,
    /// Settlement blocks between two refreshes of the operators whose delegated stake changed
    /// (`RegistryCoordinator.updateOperators`), sent by the task-generator role before a
    /// creation; 0 turns it off [default: 7200, about a day on Ethereum].
    #[arg(long, env = "AVS_STAKE_REFRESH_BLOCKS", value_name = "BLOCKS")]
    pub stake_refresh_blocks: Option<u64>,
    /// Watchtower: challenge on-chain, once and within the fee cap, every settlement-chain
    /// checkpoint response that differs from this node's view of the block, slashing and
    /// freezing its signers [default: false].
    #[arg(long, env = "AVS_CHALLENGER", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub challenger: Option<bool>,
    /// Re-execute every attested block over the node's `debug_executionWitness` (or proofs
    /// from `eth_getProof`) and sign a state root only if execution reproduces it: `off`,
    /// `best_effort` (unverifiable blocks are still signed) or `required` (nothing at or above
    /// a block that is not verified is signed; the node refuses to start unless the attested
    /// node serves witnesses or traces) [default: `required` if the attested node answers
    /// `debug_executionWitness`, else `best_effort`].
    #[arg(
        long,
        env = "AVS_STATE_ROOT_VERIFICATION",
        value_name = "off|best_effort|required"
    )]
    pub state_root_verification: Option<String>,
}

/// About a day of Ethereum blocks: withdrawn stake stops counting within a day, for one
/// `updateOperators` transaction a day at most (and none when nothing changed).
pub const DEFAULT_STAKE_REFRESH_BLOCKS: u64 = 7200;

macro_rules! layer {
    ($high:ident, $low:ident, $($field:ident),+ $(,)?) => {
        NodeOptions { $($field: $high.$field.or($low.$field)),+ }
    };
}

impl NodeOptions {
    /// Fields set here win, unset ones come from `lower`.
    pub fn or(self, lower: Self) -> Self {
        layer!(
            self,
            lower,
            settlement_rpc_url,
            settlement_ws_url,
            attested_rpc_url,
            attested_retention_blocks,
            deployment,
            datadir,
            bls_keystore,
            bls_password_file,
            ecdsa_keystore,
            ecdsa_password_file,
            insecure,
            bls_private_key,
            ecdsa_private_key,
            wallet_keystore,
            wallet_password_file,
            wallet_private_key,
            roles,
            p2p_listen_addrs,
            p2p_external_addrs,
            bootnodes,
            p2p_mdns,
            p2p_target_peers,
            p2p_min_peers,
            metrics_addr,
            node_api_addr,
            node_name,
            reorg_window,
            confirmations,
            attest_depth,
            submit_slot_ms,
            aggregation_window_ms,
            max_fee_gwei,
            stake_refresh_blocks,
            challenger,
            state_root_verification,
        )
    }

    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "config",
                format!(
                    "cannot read {} ({e}): check the --config path",
                    path.display()
                ),
            )
        })?;
        let options: Self = toml::from_str(&text).map_err(|e| {
            ConfigError::new(
                "config",
                format!(
                    "{} is not a valid config file: {}",
                    path.display(),
                    one_line(&e.to_string())
                ),
            )
        })?;
        // Secrets do not belong in files that get copied around; the env or a flag must carry them.
        if options.bls_private_key.is_some()
            || options.ecdsa_private_key.is_some()
            || options.wallet_private_key.is_some()
        {
            return Err(ConfigError::new(
                "config",
                format!(
                    "{} contains a plaintext private key: remove it and pass it with --insecure and $AVS_BLS_PRIVATE_KEY / $AVS_ECDSA_PRIVATE_KEY on a devnet",
                    path.display()
                ),
            ));
        }
        Ok(options)
    }
}

/// A setting that cannot work, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// Which setting, as `key (--flag, $ENV)`.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            setting: describe(key),
            message: message.into(),
        }
    }
}

/// `settlement_rpc_url (--settlement-rpc-url, $AVS_SETTLEMENT_RPC_URL)`, from the key alone.
fn describe(key: &str) -> String {
    if key == "config" {
        return "--config".to_owned();
    }
    let flag = key.replace('_', "-");
    let env = format!("AVS_{}", key.to_uppercase());
    format!("{key} (--{flag}, ${env})")
}

/// Collapses a multi-line parser message (toml points at the line with a caret) into one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON-RPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcUrl(Url);

impl RpcUrl {
    /// Parses `value`, the setting `key`, as an http(s):// or ws(s):// endpoint.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(value).map_err(|e| {
            ConfigError::new(key, format!("{value:?} is not a URL ({e}): use e.g. ws://127.0.0.1:8546 or http://127.0.0.1:8545"))
        })?;
        if !matches!(url.scheme(), "http" | "https" | "ws" | "wss") || url.host().is_none() {
            return Err(ConfigError::new(
                key,
                format!(
                    "{value:?} is not an http(s):// or ws(s):// endpoint: use e.g. ws://127.0.0.1:8546"
                ),
            ));
        }
        Ok(Self(url))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether it is a WebSocket endpoint (subscriptions available).
    pub fn is_ws(&self) -> bool {
        matches!(self.0.scheme(), "ws" | "wss")
    }

    /// The URL without user info, query and path, for logs and `config check` (endpoints of
    /// RPC providers often carry an API key).
    pub fn redacted(&self) -> String {
        let mut url = self.0.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        if url.path() != "/" && !url.path().is_empty() {
            url.set_path("/…");
        }
        url.to_string()
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where a key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An encrypted keystore and how to get its password.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// Its password's source.
        password: PasswordSource,
    },
    /// DEVNET ONLY: a plaintext hex key (`--insecure`).
    Plaintext(Zeroizing<String>),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keystore { path, password } => f
                .debug_struct("Keystore")
                .field("path", path)
                .field("password", password)
                .finish(),
            Self::Plaintext(_) => f.write_str("Plaintext(<redacted>)"),
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keystore { path, password } => {
                write!(f, "keystore {} (password from {password})", path.display())
            }
            Self::Plaintext(_) => f.write_str("plaintext key (--insecure)"),
        }
    }
}

/// p2p network settings, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pSettings {
    /// Listen addresses.
    pub listen_addrs: Vec<Multiaddr>,
    /// Externally reachable addresses.
    pub external_addrs: Vec<Multiaddr>,
    /// Bootnodes (each with a `/p2p/<peer id>`).
    pub bootnodes: Vec<Multiaddr>,
    /// mDNS discovery on the local network.
    pub mdns: bool,
    /// Peers kept connected.
    pub target_peers: usize,
    /// Fewest peers before the node warns.
    pub min_peers: usize,
}

/// The validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Settlement chain endpoint.
    pub settlement_rpc: RpcUrl,
    /// Separate WebSocket endpoint of the settlement node, if configured.
    pub settlement_ws: Option<RpcUrl>,
    /// Attested chain endpoint (the settlement endpoint unless configured).
    pub attested_rpc: RpcUrl,
    /// Attested blocks kept in two-chain mode, if configured.
    pub attested_retention_blocks: Option<u64>,
    /// The deployment file's path.
    pub deployment_path: PathBuf,
    /// The deployment it holds (read, not yet checked against the chain: see
    /// `Deployment::validate`).
    pub deployment: Deployment,
    /// Data directory.
    pub datadir: PathBuf,
    /// The BLS key, if one is configured (see [`NodeConfig::bls_key_source`]).
    pub bls_key: Option<KeySource>,
    /// The operator's ECDSA key (registration; the gas wallet on devnets).
    pub ecdsa_key: KeySource,
    /// The gas wallet's key, if configured ([`NodeConfig::wallet_key_source`]).
    pub wallet_key: Option<KeySource>,
    /// Whether plaintext keys were allowed (devnet).
    pub insecure: bool,
    /// Roles, deduplicated, in declaration order.
    pub roles: Vec<Role>,
    /// p2p settings.
    pub p2p: P2pSettings,
    /// Prometheus address.
    pub metrics_addr: SocketAddr,
    /// Node API address.
    pub node_api_addr: SocketAddr,
    /// Node name for the Node API.
    pub node_name: String,
    /// Reorg window in blocks.
    pub reorg_window: u64,
    /// Confirmations behind the attested head.
    pub confirmations: u64,
    /// The configured attestation depth; `None`: the default, chosen against the attested
    /// node (see [`crate::chain::attest_depth`]).
    pub attest_depth: Option<AttestDepth>,
    /// Submitter rank slot.
    pub submit_slot: Duration,
    /// Aggregation window after quorum.
    pub aggregation_window: Duration,
    /// Fee cap in wei per gas of every transaction of the gas wallet (the sender's default
    /// unless configured).
    pub max_fee_per_gas: u128,
    /// Settlement blocks between refreshes of changed stakes (generator role); 0: never.
    pub stake_refresh_blocks: u64,
    /// Challenge responses that differ from this node's view.
    pub challenger: bool,
    /// State-root verification of the attested chain; `None`: chosen against the attested
    /// node at start (`required` where it serves witnesses).
    pub state_root_verification: Option<StateRootMode>,
}

impl NodeConfig {
    /// The BLS key of a node that signs with it (`run`, `operator register`, `config check` of
    /// an operator node); a configuration without one is refused here, not at load time.
    pub fn bls_key_source(&self) -> Result<&KeySource, ConfigError> {
        self.bls_key
            .as_ref()
            .ok_or_else(|| missing_key("bls_keystore", "the operator role needs the BLS key"))
    }

    /// The key of the wallet that pays for submissions, challenges and task creation:
    /// `wallet_keystore`, or on a devnet (and only there) the operator's ECDSA key.
    pub fn wallet_key_source(&self) -> Result<&KeySource, ConfigError> {
        match &self.wallet_key {
            Some(key) => Ok(key),
            None if DEVNET_CHAIN_IDS.contains(&self.deployment.chain_id) => Ok(&self.ecdsa_key),
            None => Err(missing_key(
                "wallet_keystore",
                "a gas wallet pays for submissions, challenges and task creation, so the \
                 operator's ECDSA key stays out of the running node (only devnets fall back to it)",
            )),
        }
    }

    /// Layers `flags` (already merged with the environment by clap) over the TOML file, if any,
    /// and validates the result.
    pub fn load(flags: NodeOptions, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match config_file {
            Some(path) => NodeOptions::from_file(path)?,
            None => NodeOptions::default(),
        };
        // Password sources follow the same precedence: a flag's password file beats the
        // environment's password, which beats the config file's password file.
        let bls_password = PasswordSource::resolve(
            flags.bls_password_file.clone(),
            BLS_PASSWORD_ENV,
            file.bls_password_file.clone(),
        );
        let ecdsa_password = PasswordSource::resolve(
            flags.ecdsa_password_file.clone(),
            ECDSA_PASSWORD_ENV,
            file.ecdsa_password_file.clone(),
        );
        let wallet_password = PasswordSource::resolve(
            flags.wallet_password_file.clone(),
            WALLET_PASSWORD_ENV,
            file.wallet_password_file.clone(),
        );
        Self::from_options(
            flags.or(file),
            bls_password,
            ecdsa_password,
            wallet_password,
        )
    }

    /// Validates merged options.
    pub fn from_options(
        options: NodeOptions,
        bls_password: PasswordSource,
        ecdsa_password: PasswordSource,
        wallet_password: PasswordSource,
    ) -> Result<Self, ConfigError> {
        let settlement_rpc = RpcUrl::parse(
            "settlement_rpc_url",
            required(
                "settlement_rpc_url",
                options.settlement_rpc_url,
                "the settlement chain's JSON-RPC URL",
            )?
            .as_str(),
        )?;
        let settlement_ws = match options.settlement_ws_url {
            None => None,
            Some(_) if settlement_rpc.is_ws() => {
                return Err(ConfigError::new(
                    "settlement_ws_url",
                    "settlement_rpc_url is a WebSocket endpoint already: give the node's http(s):// URL there, or drop settlement_ws_url",
                ));
            }
            Some(url) => {
                let ws = RpcUrl::parse("settlement_ws_url", &url)?;
                if !ws.is_ws() {
                    return Err(ConfigError::new(
                        "settlement_ws_url",
                        format!("{url:?} is not a ws(s):// endpoint: use e.g. ws://127.0.0.1:8546"),
                    ));
                }
                Some(ws)
            }
        };
        let attested_rpc = match options.attested_rpc_url {
            Some(url) => RpcUrl::parse("attested_rpc_url", &url)?,
            None => settlement_rpc.clone(),
        };
        let attested_retention_blocks = match options.attested_retention_blocks {
            Some(_) if attested_rpc == settlement_rpc => {
                return Err(ConfigError::new(
                    "attested_retention_blocks",
                    "only applies in two-chain mode: set attested_rpc_url to the attested chain's node, or drop it",
                ));
            }
            Some(blocks) if !(1..=10_000_000).contains(&blocks) => {
                return Err(ConfigError::new(
                    "attested_retention_blocks",
                    format!("{blocks} is out of range: use 1..=10000000 blocks"),
                ));
            }
            blocks => blocks,
        };
        let deployment_path = required(
            "deployment",
            options.deployment,
            "the deployment file the deployer wrote",
        )?;
        let deployment = Deployment::load(&deployment_path).map_err(|e| {
            let fix = match e {
                // A missing or unreadable file: the other variants already say what to do.
                avs_contracts::deployment::DeploymentError::Io { .. } => {
                    ": check the path or deploy first"
                }
                _ => "",
            };
            ConfigError::new("deployment", format!("{}{fix}", one_line(&e.to_string())))
        })?;

        let insecure = options.insecure.unwrap_or(false);
        if insecure && !DEVNET_CHAIN_IDS.contains(&deployment.chain_id) {
            return Err(ConfigError::new(
                "insecure",
                format!(
                    "plaintext keys are refused on chain {} (devnets only: {DEVNET_CHAIN_IDS:?}): use encrypted keystores (`avs-node keys … new|import`)",
                    deployment.chain_id
                ),
            ));
        }
        let mut roles = Vec::new();
        for role in options.roles.unwrap_or_else(|| vec![Role::Operator]) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        // Validated whenever configured; only the commands that BLS-sign require it
        // ([`NodeConfig::bls_key_source`]), so read-only commands work without it.
        let bls_key = optional_key_source(
            insecure,
            ("bls_keystore", options.bls_keystore),
            ("bls_private_key", options.bls_private_key),
            bls_password,
        )?;
        let ecdsa_key = key_source(
            insecure,
            ("ecdsa_keystore", options.ecdsa_keystore),
            ("ecdsa_private_key", options.ecdsa_private_key),
            ecdsa_password,
            "every node needs the operator's ECDSA key (its address, and registration)",
        )?;
        let wallet_key = optional_key_source(
            insecure,
            ("wallet_keystore", options.wallet_keystore),
            ("wallet_private_key", options.wallet_private_key),
            wallet_password,
        )?;

        let datadir = match options.datadir {
            Some(dir) => dir,
            None => default_datadir(deployment.chain_id).ok_or_else(|| {
                ConfigError::new(
                    "datadir",
                    "$HOME is not set, so there is no default: pass --datadir",
                )
            })?,
        };
        let p2p = P2pSettings {
            listen_addrs: multiaddrs(
                "p2p_listen_addrs",
                &options
                    .p2p_listen_addrs
                    .unwrap_or_else(|| DEFAULT_P2P_LISTEN.map(String::from).to_vec()),
                false,
            )?,
            external_addrs: multiaddrs(
                "p2p_external_addrs",
                &options.p2p_external_addrs.unwrap_or_default(),
                false,
            )?,
            bootnodes: multiaddrs("bootnodes", &options.bootnodes.unwrap_or_default(), true)?,
            mdns: options.p2p_mdns.unwrap_or(false),
            target_peers: options.p2p_target_peers.unwrap_or(DEFAULT_TARGET_PEERS),
            min_peers: options.p2p_min_peers.unwrap_or(DEFAULT_MIN_PEERS),
        };
        if p2p.target_peers == 0 {
            return Err(ConfigError::new("p2p_target_peers", "must be at least 1"));
        }
        let limits = avs_p2p::NetworkConfig::new(0, alloy::primitives::Address::ZERO);
        let connections = limits.max_inbound as usize + limits.max_outbound as usize;
        if p2p.target_peers > connections {
            return Err(ConfigError::new(
                "p2p_target_peers",
                format!(
                    "{} exceeds the {connections} connections a node keeps ({} inbound, {} outbound)",
                    p2p.target_peers, limits.max_inbound, limits.max_outbound
                ),
            ));
        }
        if p2p.min_peers > p2p.target_peers {
            return Err(ConfigError::new(
                "p2p_min_peers",
                format!(
                    "{} exceeds p2p_target_peers ({}): the minimum cannot be above the target",
                    p2p.min_peers, p2p.target_peers
                ),
            ));
        }
        let metrics_addr = socket_addr("metrics_addr", options.metrics_addr, DEFAULT_METRICS_ADDR)?;
        let node_api_addr = socket_addr(
            "node_api_addr",
            options.node_api_addr,
            DEFAULT_NODE_API_ADDR,
        )?;
        if metrics_addr == node_api_addr && metrics_addr.port() != 0 {
            return Err(ConfigError::new(
                "node_api_addr",
                format!(
                    "{node_api_addr} is also the metrics address: give the Node API its own port"
                ),
            ));
        }
        let node_name = options.node_name.unwrap_or_else(|| "avs-node".to_owned());
        if node_name.trim().is_empty() {
            return Err(ConfigError::new("node_name", "must not be empty"));
        }
        let reorg_window = options.reorg_window.unwrap_or(64);
        if !(1..=100_000).contains(&reorg_window) {
            return Err(ConfigError::new(
                "reorg_window",
                format!("{reorg_window} is out of range: use 1..=100000 blocks"),
            ));
        }
        let confirmations = options.confirmations.unwrap_or(0);
        if confirmations >= reorg_window {
            return Err(ConfigError::new(
                "confirmations",
                format!(
                    "{confirmations} must be below reorg_window ({reorg_window}): lower it or raise --reorg-window"
                ),
            ));
        }
        let attest_depth = options
            .attest_depth
            .map(|depth| match depth {
                AttestDepthOption::Blocks(blocks) => Ok(AttestDepth::Blocks(blocks)),
                AttestDepthOption::Named(name) => name
                    .parse()
                    .map_err(|reason: String| ConfigError::new("attest_depth", reason)),
            })
            .transpose()?;
        let submit_slot_ms = options.submit_slot_ms.unwrap_or(12_000);
        if submit_slot_ms == 0 {
            return Err(ConfigError::new(
                "submit_slot_ms",
                "must be above 0 (about one settlement block, e.g. 12000)",
            ));
        }
        let aggregation_window_ms = options.aggregation_window_ms.unwrap_or(500);
        if aggregation_window_ms >= submit_slot_ms {
            return Err(ConfigError::new(
                "aggregation_window_ms",
                format!(
                    "{aggregation_window_ms} ms must be shorter than submit_slot_ms ({submit_slot_ms} ms), or the next rank submits first"
                ),
            ));
        }
        let max_fee_per_gas = match options.max_fee_gwei {
            Some(0) => {
                return Err(ConfigError::new(
                    "max_fee_gwei",
                    "must be above 0 (omit it for the default of 200 gwei)",
                ));
            }
            Some(gwei) => u128::from(gwei) * 1_000_000_000,
            None => avs_contracts::sender::SenderConfig::default().max_fee_per_gas,
        };
        Ok(Self {
            settlement_rpc,
            settlement_ws,
            attested_rpc,
            attested_retention_blocks,
            deployment_path,
            deployment,
            datadir,
            bls_key,
            ecdsa_key,
            wallet_key,
            insecure,
            roles,
            p2p,
            metrics_addr,
            node_api_addr,
            node_name,
            reorg_window,
            confirmations,
            attest_depth,
            submit_slot: Duration::from_millis(submit_slot_ms),
            aggregation_window: Duration::from_millis(aggregation_window_ms),
            max_fee_per_gas,
            stake_refresh_blocks: options
                .stake_refresh_blocks
                .unwrap_or(DEFAULT_STAKE_REFRESH_BLOCKS),
            challenger: options.challenger.unwrap_or(false),
            state_root_verification: options
                .state_root_verification
                .map(|mode| {
                    mode.parse().map_err(|reason: String| {
                        ConfigError::new("state_root_verification", reason)
                    })
                })
                .transpose()?,
        })
    }

    /// Whether this node plays `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

fn required<T>(key: &str, value: Option<T>, what: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::new(key, format!("missing: set {what} with the flag, the environment variable or `{key}` in the config file")))
}

/// A keystore path, or with `--insecure` a plaintext key; never both.
fn key_source(
    insecure: bool,
    keystore: (&str, Option<PathBuf>),
    plain: (&str, Option<String>),
    password: PasswordSource,
    why: &str,
) -> Result<KeySource, ConfigError> {
    let keystore_key = keystore.0;
    optional_key_source(insecure, keystore, plain, password)?
        .ok_or_else(|| missing_key(keystore_key, why))
}

/// A key source if either form is configured; conflicting or insecure settings are refused.
fn optional_key_source(
    insecure: bool,
    (keystore_key, keystore): (&str, Option<PathBuf>),
    (plain_key, plain): (&str, Option<String>),
    password: PasswordSource,
) -> Result<Option<KeySource>, ConfigError> {
    match (keystore, plain) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            plain_key,
            format!("conflicts with {keystore_key}: pass only one of them"),
        )),
        (Some(path), None) => Ok(Some(KeySource::Keystore { path, password })),
        (None, Some(_)) if !insecure => Err(ConfigError::new(
            plain_key,
            "plaintext keys need --insecure (devnets only); otherwise use an encrypted keystore",
        )),
        (None, Some(hex)) => Ok(Some(KeySource::Plaintext(Zeroizing::new(hex)))),
        (None, None) => Ok(None),
    }
}

fn missing_key(keystore_key: &str, why: &str) -> ConfigError {
    ConfigError::new(
        keystore_key,
        format!("missing: {why}; create one with `avs-node keys … new`"),
    )
}

fn default_datadir(chain_id: u64) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/share"),
    };
    Some(base.join("avs-node").join(chain_id.to_string()))
}

fn multiaddrs(
    key: &str,
    addrs: &[String],
    need_peer_id: bool,
) -> Result<Vec<Multiaddr>, ConfigError> {
    addrs
        .iter()
        .map(|text| {
            let addr: Multiaddr = text.parse().map_err(|_| {
                ConfigError::new(
                    key,
                    format!("{text:?} is not a multiaddress: use e.g. /ip4/10.0.0.1/tcp/9777"),
                )
            })?;
            if need_peer_id && !addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
                return Err(ConfigError::new(
                    key,
                    format!("{text:?} has no /p2p/<peer id>: append the bootnode's peer id"),
                ));
            }
            Ok(addr)
        })
        .collect()
}

fn socket_addr(key: &str, value: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("{text:?} is not an IP:PORT address: use e.g. {default}"),
        )
    })
}
