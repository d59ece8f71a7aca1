//! `avs-node config check`: validates a configuration and prints what the node would connect
//! to (endpoints, chain, contracts, roles, ports, key sources) without any secret. It opens the
//! keystores (present, and keystores of their kind) and binds the configured ports (free now).
//! With `--online` it also decrypts the keys (prompting for passwords as `run` does), asks the
//! settlement endpoint whether the deployment is really there, and in two-chain mode whether
//! the attested endpoint answers for another chain.

use crate::{
    cli::NodeArgs,
    config::{NodeConfig, Role, RpcUrl},
    keys::{self, KeyType},
    output,
};
use alloy::{primitives::Address, providers::Provider};
use clap::Subcommand;
use serde::Serialize;
use std::net::SocketAddr;

/// `avs-node config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print what the node would use.
    Check {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Also check the deployment against the settlement RPC (chain id, code at every address).
        #[arg(long)]
        online: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `config check` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSummary {
    settlement_rpc: String,
    settlement_ws: Option<String>,
    attested_rpc: String,
    deployment: String,
    chain_id: u64,
    task_manager: Address,
    service_manager: Address,
    registry_coordinator: Address,
    roles: Vec<Role>,
    bls_key: Option<String>,
    ecdsa_key: String,
    wallet_key: Option<String>,
    datadir: String,
    p2p_listen_addrs: Vec<String>,
    bootnodes: Vec<String>,
    mdns: bool,
    target_peers: usize,
    min_peers: usize,
    metrics_addr: SocketAddr,
    node_api_addr: SocketAddr,
    online: Option<String>,
}

impl ConfigSummary {
    fn new(config: &NodeConfig) -> Self {
        let d = &config.deployment;
        Self {
            settlement_rpc: config.settlement_rpc.redacted(),
            settlement_ws: config.settlement_ws.as_ref().map(RpcUrl::redacted),
            attested_rpc: config.attested_rpc.redacted(),
            deployment: config.deployment_path.display().to_string(),
            chain_id: d.chain_id,
            task_manager: d.avs.task_manager,
            service_manager: d.avs.service_manager,
            registry_coordinator: d.eigenlayer.registry_coordinator,
            roles: config.roles.clone(),
            bls_key: config.bls_key.as_ref().map(ToString::to_string),
            ecdsa_key: config.ecdsa_key.to_string(),
            wallet_key: config.wallet_key_source().ok().map(ToString::to_string),
            datadir: config.datadir.display().to_string(),
            p2p_listen_addrs: strings(&config.p2p.listen_addrs),
            bootnodes: strings(&config.p2p.bootnodes),
            mdns: config.p2p.mdns,
            target_peers: config.p2p.target_peers,
            min_peers: config.p2p.min_peers,
            metrics_addr: config.metrics_addr,
            node_api_addr: config.node_api_addr,
            online: None,
        }
    }

    fn human(&self) -> String {
        let roles: Vec<&str> = self
            .roles
            .iter()
            .map(|r| match r {
                Role::Operator => "operator",
                Role::TaskGenerator => "task-generator",
            })
            .collect();
        let mut lines = vec![
            format!("settlement RPC    {}", self.settlement_rpc),
            format!(
                "settlement WS     {}",
                self.settlement_ws.as_deref().unwrap_or("none")
            ),
            format!("attested RPC      {}", self.attested_rpc),
            format!(
                "deployment        {} (chain {})",
                self.deployment, self.chain_id
            ),
            format!("task manager      {}", self.task_manager),
            format!("service manager   {}", self.service_manager),
            format!("registry coord.   {}", self.registry_coordinator),
            format!(
                "roles             {}",
                if roles.is_empty() {
                    "none (aggregate and submit only)".to_owned()
                } else {
                    roles.join(", ")
                }
            ),
            format!(
                "BLS key           {}",
                self.bls_key.as_deref().unwrap_or("not needed")
            ),
            format!("ECDSA key         {}", self.ecdsa_key),
            format!(
                "gas wallet        {}",
                self.wallet_key
                    .as_deref()
                    .unwrap_or("missing (wallet_keystore; `run` needs it)")
            ),
            format!("datadir           {}", self.datadir),
            format!("p2p listen        {}", self.p2p_listen_addrs.join(", ")),
            format!(
                "bootnodes         {}",
                if self.bootnodes.is_empty() {
                    "none".to_owned()
                } else {
                    self.bootnodes.join(", ")
                }
            ),
            format!("mDNS discovery    {}", if self.mdns { "on" } else { "off" }),
            format!(
                "peers             target {}, minimum {}",
                self.target_peers, self.min_peers
            ),
            format!("metrics           http://{}/metrics", self.metrics_addr),
            format!("node API          http://{}/eigen/node", self.node_api_addr),
        ];
        if let Some(online) = &self.online {
            lines.push(format!("online check      {online}"));
        }
        lines.join("\n")
    }
}

impl ConfigCommand {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        let Self::Check { node, online, json } = self;
        let config = node.load()?;
        // The keys: present and keystores of their kind offline; decrypted (prompting for a
        // password as `run` does) online. Then the ports: free now.
        let bls = if config.roles.contains(&crate::config::Role::Operator) {
            let source = config.bls_key_source()?;
            keys::inspect_key_source(KeyType::Bls, source)?;
            Some(source)
        } else {
            None
        };
        keys::inspect_key_source(KeyType::Ecdsa, &config.ecdsa_key)?;
        // Only an operator node runs and so needs the gas wallet.
        let wallet = match bls {
            Some(_) => Some(config.wallet_key_source()?),
            None => None,
        };
        if let Some(wallet) = wallet {
            keys::inspect_key_source(KeyType::Ecdsa, wallet)?;
        }
        if online {
            if let Some(source) = bls {
                keys::load_bls_key(source).await?;
            }
            // Decrypting the gas wallet (what `run` does); the operator key only where it is
            // the wallet.
            keys::load_ecdsa_signer(wallet.unwrap_or(&config.ecdsa_key)).await?;
        }
        crate::ports::check(&config)?;
        let mut summary = ConfigSummary::new(&config);
        if online {
            let provider = crate::chain::connect(&config, None).await?;
            let head = provider.get_block_number().await?;
            let mut online = format!(
                "ok: chain {} at block {head}, all {} contracts have code",
                config.deployment.chain_id,
                config.deployment.contracts().len()
            );
            let attested = if config.attested_rpc == config.settlement_rpc {
                None
            } else {
                let node = crate::chain::attested_node(&config).await?;
                online.push_str(&format!(
                    "; attested chain {} at block {}",
                    node.chain_id, node.head
                ));
                Some(node)
            };
            let depth =
                crate::chain::node_attest_depth(&config, &provider, attested.as_ref()).await?;
            online.push_str(&format!("; attesting at depth {depth}"));
            summary.online = Some(online);
        }
        output::emit(json, &summary, ConfigSummary::human);
        Ok(())
    }
}

fn strings(addrs: &[libp2p::Multiaddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}
