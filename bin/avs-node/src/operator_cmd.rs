//! `avs-node operator register|set-socket|deregister|status`: the operator's standing with
//! EigenLayer and the AVS, through `avs_contracts::operator`. Registration is EigenLayer's
//! slashing-era flow: register as an EigenLayer operator (setting the allocation delay), wait
//! for that delay setting to take effect, allocate a fraction of the operator's magnitude to
//! the AVS's operator sets, then register for them. Every pre-flight check runs first, so a
//! missing allocation, too little slashable stake, a reused BLS key or a missing allowlist
//! entry is reported before the registration transaction is sent.
//!
//! The socket an operator publishes is its node's p2p multiaddress ending in the node's peer
//! id (the identity in the data directory): every node dials the operators from their sockets,
//! so it must be an address other operators can reach.

use crate::{chain, cli::NodeArgs, config::NodeConfig, keys, output};
use alloy::primitives::Address;
use avs_contracts::operator::{self, OperatorClient, OperatorStatus};
use avs_p2p::{load_or_create_identity, parse_socket};
use clap::Subcommand;
use eyre::{WrapErr, bail, eyre};
use libp2p::{Multiaddr, multiaddr::Protocol};

/// `avs-node operator …`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Register with EigenLayer (if needed), allocate to the AVS's operator sets and register
    /// for them.
    Register {
        /// The node's settings (keys, endpoint, deployment).
        #[command(flatten)]
        node: NodeArgs,
        /// Operator metadata URI recorded by EigenLayer's DelegationManager.
        #[arg(long, value_name = "URI")]
        metadata_uri: String,
        /// Blocks between allocating and the allocation counting (set once, when registering
        /// with EigenLayer; stakers see it as their notice period).
        #[arg(long, value_name = "BLOCKS", default_value_t = 0)]
        allocation_delay: u32,
        /// Fraction of the operator's magnitude in the strategy to allocate to each of the AVS's
        /// operator sets: that much of its stake becomes slashable by this AVS (0 < f ≤ 1).
        #[arg(long, value_name = "FRACTION", default_value_t = 1.0)]
        allocate: f64,
        /// How peers reach this node: a multiaddress; this node's `/p2p/<peer id>` is appended
        /// [default: the first external p2p address, else the first listen address].
        #[arg(long, value_name = "MULTIADDR")]
        socket: Option<String>,
    },
    /// Publish a new socket (where this node's p2p network is reached), e.g. after a move.
    SetSocket {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// How peers reach this node, as for `register` [default: as for `register`].
        #[arg(long, value_name = "MULTIADDR")]
        socket: Option<String>,
    },
    /// Deregister from the AVS's operator sets (the allocation stays slashable for
    /// EigenLayer's DEALLOCATION_DELAY).
    Deregister {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Show an operator's registration, allocation, slashable stake, freezing and allowlist state.
    Status {
        /// The node's settings.
        #[command(flatten)]
        node: NodeArgs,
        /// The operator to look up [default: the configured ECDSA key's address].
        #[arg(long, value_name = "ADDRESS")]
        operator: Option<Address>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl OperatorCommand {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Register {
                node,
                metadata_uri,
                allocation_delay,
                allocate,
                socket,
            } => {
                let config = node.load()?;
                let bls_key = keys::load_bls_key(config.bls_key_source()?).await?;
                let signer = keys::load_ecdsa_signer(&config.ecdsa_key).await?;
                let address = signer.address();
                let socket = published_socket(&config, socket)?;
                let provider = chain::connect(&config, Some(signer.clone())).await?;
                let mut client = OperatorClient::new(provider, &config.deployment, address);
                if client
                    .register_as_eigenlayer_operator(&metadata_uri, allocation_delay)
                    .await?
                {
                    output::line(format!(
                        "{address} registered as an EigenLayer operator (allocation delay {allocation_delay} blocks)"
                    ));
                }
                client
                    .wait_until_allocation_delay_set(ALLOCATION_DELAY_WAIT)
                    .await?;
                // Nothing is allocated for an operator that could not register anyway (frozen,
                // registered already, another key, …): allocating makes stake slashable.
                client.preflight_identity(&bls_key).await?;
                if client.allocate(allocate).await? {
                    output::line(format!(
                        "{address} allocated {allocate} of its magnitude to the AVS's operator sets"
                    ));
                }
                let operator_id = client.register_with_avs(&bls_key, &socket).await?;
                output::line(format!(
                    "{address} registered with the AVS, operator id {operator_id}, socket {socket}"
                ));
            }
            Self::SetSocket { node, socket } => {
                let config = node.load()?;
                let socket = published_socket(&config, socket)?;
                let signer = keys::load_ecdsa_signer(&config.ecdsa_key).await?;
                let address = signer.address();
                let provider = chain::connect(&config, Some(signer)).await?;
                OperatorClient::new(provider, &config.deployment, address)
                    .update_socket(&socket)
                    .await?;
                output::line(format!("{address} published socket {socket}"));
            }
            Self::Deregister { node } => {
                let config = node.load()?;
                let signer = keys::load_ecdsa_signer(&config.ecdsa_key).await?;
                let address = signer.address();
                let provider = chain::connect(&config, Some(signer)).await?;
                OperatorClient::new(provider, &config.deployment, address)
                    .deregister()
                    .await?;
                output::line(format!("{address} deregistered from the AVS"));
            }
            Self::Status {
                node,
                operator,
                json,
            } => {
                let config = node.load()?;
                let address = match operator {
                    Some(address) => address,
                    None => keys::load_ecdsa_signer(&config.ecdsa_key).await?.address(),
                };
                let provider = chain::connect(&config, None).await?;
                let status = operator::status(&provider, &config.deployment, address).await?;
                output::emit(json, &status, human_status);
            }
        }
        Ok(())
    }
}

/// How long `register` waits for EigenLayer's ALLOCATION_CONFIGURATION_DELAY to pass after
/// registering the operator (mainnet's is ~126 hours: rerun `register` once it has).
const ALLOCATION_DELAY_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The socket to publish: `socket`, else the first external p2p address, else the first listen
/// address, ending in this node's peer id (its identity in the data directory, created now if
/// need be), and dialable as other nodes will parse it.
fn published_socket(config: &NodeConfig, socket: Option<String>) -> eyre::Result<String> {
    let key_path = config.datadir.join("p2p/node.key");
    let peer = load_or_create_identity(&key_path)?.public().to_peer_id();
    let addr: Multiaddr = match socket {
        Some(socket) => socket
            .parse()
            .wrap_err_with(|| format!("--socket {socket:?} is not a multiaddress"))?,
        None => config
            .p2p
            .external_addrs
            .first()
            .or(config.p2p.listen_addrs.first())
            .cloned()
            .ok_or_else(|| eyre!("no p2p address configured: pass --socket"))?,
    };
    let addr = match addr.iter().last() {
        Some(Protocol::P2p(id)) if id == peer => addr,
        Some(Protocol::P2p(id)) => bail!(
            "the socket names peer id {id}, but this node's identity ({}) is {peer}",
            key_path.display()
        ),
        _ => addr.with(Protocol::P2p(peer)),
    };
    parse_socket(&addr.to_string()).map_err(|err| {
        eyre!("{err}: pass --socket with the address other operators reach this node at, or set p2p_external_addrs")
    })?;
    Ok(addr.to_string())
}

fn human_status(status: &OperatorStatus) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut lines = vec![
        format!("operator            {}", status.operator),
        format!("EigenLayer operator {}", yes_no(status.eigenlayer_operator)),
        format!("registered with AVS {}", yes_no(status.registered)),
        format!(
            "operator id         {}",
            status
                .operator_id
                .map_or_else(|| "none".to_owned(), |id| id.to_string())
        ),
        format!("frozen              {}", yes_no(status.frozen)),
    ];
    if status.allowlist_enabled {
        lines.push(format!(
            "allowlisted         {}",
            yes_no(status.allowlisted)
        ));
    }
    lines.push(format!(
        "allocation delay    {}",
        status
            .allocation_delay
            .map_or_else(|| "not in effect yet".to_owned(), |d| format!("{d} blocks"))
    ));
    lines.push(format!("shares              {}", status.shares));
    for a in &status.allocations {
        lines.push(format!(
            "operator set {:<3}    magnitude {}/{}, slashable shares {}, stake {}",
            a.quorum, a.magnitude, a.max_magnitude, a.slashable_shares, a.stake
        ));
        if a.pending_diff != 0 {
            let kind = if a.pending_diff < 0 {
                "deallocation"
            } else {
                "allocation"
            };
            lines.push(format!(
                "                    pending {kind} of {} from block {}",
                a.pending_diff.unsigned_abs(),
                a.effect_block
            ));
        }
    }
    lines.join("\n")
}
