//! `avs-node devnet`: a whole local network in one command.
//!
//! anvil (chain 31337) → EigenLayer's real slashing-era contracts and the AVS → N operators with
//! different stakes, registered through the real contracts → N `avs-node run` processes (node 0
//! is the bootnode; nodes 0 and 1 hold the task-generator role, see `--generators`) → one
//! console line per finalized checkpoint, checked
//! against anvil's own block. Ctrl-C or SIGTERM (or `--exit-after K` checkpoints) stops every
//! process.
//!
//! With `--attested-chain` a second anvil (chain 1337) is the attested chain: the nodes follow
//! both (`--attested-rpc-url`), task and finalize the second chain's checkpoints on the first,
//! and each checkpoint is checked against the second anvil's block.
//!
//! # Control surface for tests
//! Each node's process id is in `DIR/node-i.pid`, rewritten whenever the node is (re)started, so
//! a test can kill one node. Without `--restart-on-exit` a node that exits stops the devnet.
//! With it, the devnet restarts a node that exited — unless `DIR/node-i.hold` exists, in which
//! case the node stays down until that file is removed. A test creates the hold file, kills
//! the node, watches the others finalize without it, then removes the file to restart it.
//!
//! Keys are throwaway: generated per run, funded with `anvil_setBalance`, handed to the nodes
//! in plaintext through the environment (`--insecure`, refused outside devnet chain ids). They
//! are also written to `DIR/node-i/devnet-keys.env` (owner-only, devnet only), and
//! `DIR/node-i.sh` runs node i exactly as the devnet does: a node can be stopped (a hold file)
//! and restarted by hand with the same identity, or under a debugger.
//!
//! # Knobs for experiments
//! `--stakes` (a named distribution or one figure per operator), the nodes' `--confirmations`
//! and `--reorg-window`, `--node-rpc-url I=URL` to put a proxy between one node and the
//! settlement chain, and `--offline-operators M` (`--offline-stake`): operators registered
//! without a node, so that a few nodes run in an operator set of a thousand.

// The console lines are this command's output.
#![allow(clippy::print_stdout)]

use crate::{
    devnet_churn::{Churn, ChurnInterval, ChurnNode},
    devnet_offline,
    devnet_stakes::{self, StakeSpec},
    shutdown::Shutdown,
};
use alloy::{
    consensus::Transaction,
    node_bindings::Anvil,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use avs_bls::SecretKey;
use avs_contracts::{
    avs::AvsTaskManager,
    deploy,
    deployment::{DeployConfig, Deployment},
    operator::{self, OperatorClient, OperatorStatus},
    transactor::automine_wallet_provider,
};
use avs_p2p::load_or_create_identity;
use clap::Args;
use eyre::{WrapErr, bail, eyre};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::process::{Child, Command};

/// Arguments of `avs-node devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Number of operator nodes.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=MAX_OPERATORS))]
    pub operators: u16,
    /// Operators' stakes in whole tokens: `linear` (10, 20, 30, …), `equal` (10 each), `zipf`
    /// (1,000 / (i + 1): a few whales and a long tail), or one figure per operator
    /// (`10,20,…`).
    #[arg(long, default_value_t = StakeSpec::Linear, value_name = "DISTRIBUTION|LIST")]
    pub stakes: StakeSpec,
    /// Operators registered on-chain that run no node, as operators whose nodes are down:
    /// every task's operator set is --operators + M. Each holds --offline-stake tokens and
    /// publishes a socket nothing listens on. For measuring nodes in a large operator set
    /// (e.g. `--operators 8 --offline-operators 992 --stakes 1000,…`); the nodes' stake must
    /// still meet the quorum threshold.
    #[arg(long, default_value_t = 0, value_name = "M", value_parser = clap::value_parser!(u16).range(0..=MAX_OFFLINE_OPERATORS))]
    pub offline_operators: u16,
    /// Stake of each --offline-operators operator, in whole tokens.
    #[arg(long, default_value_t = 1, value_name = "TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub offline_stake: u64,
    /// The nodes' `--confirmations`: blocks they stay behind the attested chain's head
    /// [default: the node's].
    #[arg(long, value_name = "BLOCKS")]
    pub confirmations: Option<u64>,
    /// The nodes' `--reorg-window`: recent blocks kept for reorg handling [default: the
    /// node's].
    #[arg(long, value_name = "BLOCKS")]
    pub reorg_window: Option<u64>,
    /// Node I talks to the settlement chain through URL instead of anvil, e.g. a proxy that
    /// delays or drops its requests: `I=URL`, repeatable. An http(s):// URL is polled for new
    /// heads; a ws(s):// one must pass anvil's WebSocket through.
    #[arg(long = "node-rpc-url", value_name = "I=URL")]
    pub node_rpc_urls: Vec<NodeRpcUrl>,
    /// Folder for chain state, deployment, node data and logs (wiped at start).
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// anvil's RPC port.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Node i listens for p2p on BASE+i, serves metrics on BASE+100+i and the Node API on
    /// BASE+200+i.
    #[arg(long, default_value_t = 9700)]
    pub base_port: u16,
    /// Seconds per block once the network runs.
    #[arg(long, default_value_t = 1)]
    pub block_time: u64,
    /// Stop once the first K checkpoints (interval, 2·interval, …, K·interval) are all
    /// finalized (default: run until Ctrl-C).
    #[arg(long)]
    pub exit_after: Option<u32>,
    /// Restart a node whose process exited (see the module docs for `DIR/node-i.hold`),
    /// instead of stopping the devnet.
    #[arg(long)]
    pub restart_on_exit: bool,
    /// TEST ONLY: the K highest-stake operators sign wrong state roots
    /// (`avs-node run --fault-sign-wrong-state-root`), and every honest node runs the
    /// challenger role (each a stand-in for the others), so the whole fault → challenge →
    /// slash path runs with no manual step.
    #[arg(long, default_value_t = 0)]
    pub faulty: u16,
    /// Two-chain mode: start a second anvil (chain 1337) whose checkpoints the nodes attest
    /// and finalize on the first (`avs-node run --attested-rpc-url`). Not with --faulty:
    /// only settlement-chain checkpoints can be challenged.
    #[arg(long, conflicts_with = "faulty")]
    pub attested_chain: bool,
    /// The second anvil's RPC port with --attested-chain [default: PORT+1].
    #[arg(long, requires = "attested_chain")]
    pub attested_port: Option<u16>,
    /// The kind of chain the second anvil runs with --attested-chain: `optimism` is an
    /// OP-stack chain (`anvil --network optimism`: deposit transactions, type 0x7e).
    #[arg(long, value_enum, default_value_t = AttestedNetwork::Ethereum, requires = "attested_chain")]
    pub attested_network: AttestedNetwork,
    /// Nodes 0..K hold the task-generator role [default: 2, or 1 with one operator]. Each
    /// checkpoint is tasked once: a generator that sees the task already created sends
    /// nothing, and one of two creations sent in the same block reverts (its gas is the cost
    /// of the stand-in). Tasks keep coming while one generator is down.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub generators: Option<u16>,
    /// How deep a block must be before the nodes sign or task it (`avs-node run
    /// --attest-depth`), e.g. deeper than the reorgs a test inflicts [default: 0].
    #[arg(long, value_name = "BLOCKS")]
    pub attest_depth: Option<u64>,
    /// The churn benchmark: every MIN to MAX seconds SIGKILL a random node (restarted by
    /// `--restart-on-exit`), sample every node's reachable stake, and summarise at the end
    /// (checkpoints tasked and finalized, the lowest reachable stake).
    #[arg(long, value_name = "MIN-MAX", requires = "restart_on_exit")]
    pub churn: Option<ChurnInterval>,
}

/// Most operator nodes: node i's ports are BASE+i, BASE+100+i and BASE+200+i.
const MAX_OPERATORS: i64 = 100;
/// Block states the settlement anvil keeps on disk with `--offline-operators` (beyond those
/// it holds in memory): the nodes read state at recent blocks only.
const MAX_PERSISTED_STATES: u32 = 256;
/// Block gas limit of the settlement anvil with `--offline-operators`: ten times anvil's
/// default, room for the stake refresh of a thousand operators (`BENCHMARKS.md` has what it
/// used).
const OFFLINE_MODE_BLOCK_GAS_LIMIT: u64 = 300_000_000;
/// Most operators without a node: the scale the network simulation measures.
const MAX_OFFLINE_OPERATORS: i64 = 2_000;

/// `--node-rpc-url I=URL`: node I's settlement endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRpcUrl {
    /// The node.
    pub node: usize,
    /// Its settlement RPC URL.
    pub url: String,
}

impl std::str::FromStr for NodeRpcUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (node, url) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not I=URL (e.g. 2=http://127.0.0.1:8600)"))?;
        let node = node
            .trim()
            .parse()
            .map_err(|_| format!("{node:?} is not a node index"))?;
        let url = url.trim();
        if !["http://", "https://", "ws://", "wss://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(format!("{url:?} is not an http(s):// or ws(s):// URL"));
        }
        Ok(Self {
            node,
            url: url.to_owned(),
        })
    }
}

/// Chain id of the devnet's settlement anvil.
const SETTLEMENT_CHAIN_ID: u64 = 31_337;
/// Blocks each checkpoint scan re-reads, deeper than the reorgs tests inflict.
const RESCAN_BLOCKS: u64 = 16;

/// Chain id of the second anvil with `--attested-chain`.
const ATTESTED_CHAIN_ID: u64 = 1_337;

/// One token of the devnet ERC-20.
pub(crate) const TOKEN: u128 = 1_000_000_000_000_000_000;
/// Longest wait for the first checkpoint before the devnet is declared broken, and the least
/// time per operator: on one machine, 64 debug-build nodes starting at once and answering the
/// checkpoints tasked while they registered need more than the 180 s a few nodes do.
const FIRST_CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(180);
const FIRST_CHECKPOINT_TIMEOUT_PER_OPERATOR: Duration = Duration::from_secs(8);

struct Operator {
    signer: PrivateKeySigner,
    bls: SecretKey,
    stake: u128,
    /// One of the `--faulty` ones: the K largest stakes.
    faulty: bool,
}

impl DevnetArgs {
    /// How many nodes hold the task-generator role.
    fn generators(&self) -> u16 {
        self.generators.unwrap_or(self.operators.min(2))
    }

    /// Operator i's stake in tokens.
    fn stakes(&self) -> eyre::Result<Vec<u64>> {
        self.stakes
            .stakes(usize::from(self.operators))
            .map_err(|e| eyre!(e))
    }

    /// Checks what clap cannot: the options against each other.
    fn validate(&self) -> eyre::Result<()> {
        if self.generators() > self.operators {
            bail!(
                "--generators {} exceeds --operators {}: every generator is an operator node",
                self.generators(),
                self.operators
            );
        }
        let live: u128 = self.stakes()?.iter().map(|&s| u128::from(s)).sum();
        let offline = u128::from(self.offline_operators) * u128::from(self.offline_stake);
        let total = live + offline;
        let threshold = u128::from(
            DeployConfig::devnet(Address::ZERO)
                .avs
                .quorum_threshold_percentage,
        );
        if live * 100 < total * threshold {
            bail!(
                "the nodes' stake ({live} tokens) is {:.1} % of the operator set's {total}: below the {threshold} % quorum threshold, no checkpoint could finalize (raise --stakes, or lower --offline-stake or --offline-operators)",
                live as f64 * 100.0 / total as f64
            );
        }
        // The stake registry keeps stakes (and their sum) as uint96 base units.
        if total.checked_mul(TOKEN).is_none_or(|wei| wei >= 1 << 96) {
            bail!(
                "the operators' stakes (nodes and --offline-operators) add up to {total} tokens: the stake registry holds at most {} in all",
                ((1u128 << 96) - 1) / TOKEN
            );
        }
        let mut seen = std::collections::HashSet::new();
        for NodeRpcUrl { node, .. } in &self.node_rpc_urls {
            if *node >= usize::from(self.operators) {
                bail!(
                    "--node-rpc-url names node {node}, but there are {} (0..{})",
                    self.operators,
                    self.operators
                );
            }
            if !seen.insert(*node) {
                bail!("--node-rpc-url names node {node} twice");
            }
        }
        Ok(())
    }

    /// Runs the devnet until Ctrl-C or `--exit-after` checkpoints.
    pub async fn run(self) -> eyre::Result<()> {
        self.validate()?;
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .wrap_err_with(|| format!("wiping {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir)
            .wrap_err_with(|| format!("creating {}", self.dir.display()))?;

        let mut settlement = anvil_at(
            &self.dir,
            self.port,
            SETTLEMENT_CHAIN_ID,
            SETTLEMENT_GENESIS_BLOCK,
        );
        if self.offline_operators > 0 {
            // Registering a thousand operators mines thousands of blocks whose states anvil
            // would otherwise all write to disk (about 4 MB each at 1,000 operators: a full
            // disk within the registration); the nodes only read recent states.
            settlement = settlement
                .arg("--max-persisted-states")
                .arg(MAX_PERSISTED_STATES.to_string())
                // EigenLayer's `updateOperatorsForQuorum` must name the whole quorum in one
                // transaction, and the generator sends it before tasking: at 1,000 operators it
                // does not fit anvil's default 30M-gas block (no task was ever created).
                .arg("--gas-limit")
                .arg(OFFLINE_MODE_BLOCK_GAS_LIMIT.to_string());
        }
        let anvil = settlement.try_spawn().map_err(|err| {
            eyre!(
                "starting anvil on port {}: {err} (run `just tools`, or free the port with --port)",
                self.port
            )
        })?;
        let endpoint = anvil.endpoint();
        let owner = PrivateKeySigner::random();
        let chain = automine_wallet_provider(&endpoint, owner.clone()).await?;
        // alloy's block poller (behind every receipt wait) starts one block below the tip, and
        // below a genesis at SETTLEMENT_GENESIS_BLOCK there is none: it would log "failed to
        // fetch block" errors for as long as the deployment waits on receipts.
        chain.anvil_mine(Some(1), None).await?;
        fund(&chain, owner.address()).await?;
        // Started before the long deployment so that a busy port fails at once; it mines no
        // block until the nodes start.
        let attested_anvil = if self.attested_chain {
            let port = match self.attested_port {
                Some(port) => port,
                None => self.port.checked_add(1).ok_or_else(|| {
                    eyre!("--port 65535 leaves no port for the attested anvil: set --attested-port")
                })?,
            };
            let anvil = attested_anvil(&self.dir, port, self.attested_network)
                .try_spawn()
                .map_err(|err| {
                eyre!("starting the attested anvil on port {port}: {err} (run `just tools`, or free the port with --attested-port)")
            })?;
            let provider = automine_wallet_provider(&anvil.endpoint(), owner.clone()).await?;
            Some((anvil, provider))
        } else {
            None
        };

        println!("deploying EigenLayer (slashing-era core) and the AVS on anvil {endpoint} ...");
        let mut config = DeployConfig::devnet(owner.address());
        let stakes = self.stakes()?;
        let faulty = devnet_stakes::largest(&stakes, usize::from(self.faulty));
        let operators: Vec<Operator> = stakes
            .into_iter()
            .zip(faulty)
            .map(|(tokens, faulty)| Operator {
                signer: PrivateKeySigner::random(),
                bls: SecretKey::generate(),
                stake: TOKEN * u128::from(tokens),
                faulty,
            })
            .collect();
        config.avs.task_generators = operators
            .iter()
            .take(usize::from(self.generators()))
            .map(|op| op.signer.address())
            .collect();
        // The quorum takes every operator of the run, nodes or not (its default cap is 64).
        let members = u32::from(self.operators) + u32::from(self.offline_operators);
        let cap = &mut config.eigenlayer.quorum.max_operator_count;
        *cap = (*cap).max(members);
        let deployment = deploy::deploy(chain.clone(), config).await?;
        let deployment_path = self.dir.join("deployment.json");
        deployment.save(&deployment_path)?;
        for (i, op) in operators.iter().enumerate() {
            fund(&chain, op.signer.address()).await?;
            let provider = automine_wallet_provider(&endpoint, op.signer.clone()).await?;
            let mut client = OperatorClient::new(provider, &deployment, op.signer.address());
            // Published on-chain: every node dials the operators from their sockets.
            let socket = self.p2p_address(i)?;
            let id = client
                .onboard_devnet(U256::from(op.stake), &op.bls, &socket)
                .await?;
            let status = operator::status(&chain, &deployment, op.signer.address()).await?;
            println!(
                "operator {i}: {} stake {} tokens, operator id {id}, {}{}",
                op.signer.address(),
                op.stake / TOKEN,
                allocation_summary(&status),
                if op.faulty {
                    ", FAULTY (signs wrong state roots)"
                } else {
                    ""
                }
            );
        }

        let offline = devnet_offline::register(
            &chain,
            &endpoint,
            &deployment,
            usize::from(self.offline_operators),
            TOKEN * u128::from(self.offline_stake),
        )
        .await?;

        // From here on blocks come at a steady pace, as on a real chain.
        chain.anvil_set_interval_mining(self.block_time).await?;
        if let Some((anvil, provider)) = &attested_anvil {
            // Its blocks start now, with the nodes: no checkpoint backlog.
            provider.anvil_set_interval_mining(self.block_time).await?;
            println!(
                "attesting anvil chain {ATTESTED_CHAIN_ID} ({:?}) at {} (two-chain mode); tasks and responses on chain {SETTLEMENT_CHAIN_ID}",
                self.attested_network,
                anvil.endpoint()
            );
        }
        let attested = attested_anvil
            .as_ref()
            .map_or(&chain, |(_, provider)| provider);
        let attested_endpoint = attested_anvil.as_ref().map(|(anvil, _)| anvil.endpoint());
        let mut nodes = Nodes {
            args: &self,
            operators: &operators,
            deployment: &deployment_path,
            endpoint: &endpoint,
            attested_endpoint: attested_endpoint.as_deref(),
            bootnode: self.p2p_address(0)?,
            children: Vec::new(),
        };
        for i in 0..operators.len() {
            let child = nodes.spawn(i)?;
            nodes.children.push(Some(child));
            println!(
                "node {i}: metrics http://127.0.0.1:{}/metrics, Node API http://127.0.0.1:{}/eigen/node/health, log {}",
                self.metrics_port(i),
                self.api_port(i),
                self.log_path(i).display()
            );
        }
        println!(
            "state roots: best_effort — anvil computes non-standard state roots, so nodes sign \
             them unverified (a node following reth or geth re-executes every block)"
        );
        println!(
            "waiting for checkpoints every {} blocks (Ctrl-C stops the devnet) ...",
            deployment.params.avs.checkpoint_interval
        );

        // Every operator's stake by its BLS key, as `respondToTask` names non-signers.
        let stake_by_key: HashMap<(U256, U256), u128> = operators
            .iter()
            .map(|op| (g1_point(&op.bls), op.stake))
            .chain(offline)
            .collect();
        let shutdown = Shutdown::new();
        shutdown.trigger_on_os_signals();
        let mut latencies = Latencies::default();
        let mut churn = self.churn.map(|interval| {
            let nodes = (0..operators.len())
                .map(|i| ChurnNode {
                    pid_path: self.pid_path(i),
                    metrics_port: self.metrics_port(i),
                })
                .collect();
            Churn::new(interval, nodes)
        });
        let result = {
            let churning = async {
                match churn.as_mut() {
                    Some(churn) => churn.run().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = watch_checkpoints(&chain, attested, &deployment, &stake_by_key, self.exit_after, &mut nodes, &mut latencies) => result,
                () = shutdown.wait() => Ok(()),
                () = churning => Ok(()),
            }
        };
        if result.is_ok() {
            println!("{}", latencies.summary());
            if let Some(churn) = &churn {
                let tasked = tasked_checkpoints(&chain, &deployment).await?;
                println!("{}", churn.summary(&tasked, &latencies.finalized));
            }
        }
        let stopped = nodes.stop().await;
        drop(attested_anvil);
        drop(anvil);
        result.and(stopped)
    }

    fn p2p_port(&self, i: usize) -> u16 {
        self.base_port + i as u16
    }

    fn metrics_port(&self, i: usize) -> u16 {
        self.base_port + 100 + i as u16
    }

    fn api_port(&self, i: usize) -> u16 {
        self.base_port + 200 + i as u16
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}"))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.log"))
    }

    /// Node i's multiaddress, with the peer id of the identity it will load (created now if
    /// need be): its socket, and node 0's is everyone's bootnode.
    fn p2p_address(&self, i: usize) -> eyre::Result<String> {
        let key = load_or_create_identity(&self.node_dir(i).join("p2p/node.key"))?;
        Ok(format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
            self.p2p_port(i),
            key.public().to_peer_id()
        ))
    }

    fn script_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.sh"))
    }

    fn pid_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.pid"))
    }

    fn hold_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.hold"))
    }

    /// Starts node i, after writing `DIR/node-i.sh`: the same command with the node's keys
    /// (`DIR/node-i/devnet-keys.env`), to restart it by hand with the same identity.
    fn spawn_node(
        &self,
        i: usize,
        op: &Operator,
        deployment: &Path,
        endpoint: &str,
        attested_endpoint: Option<&str>,
        bootnode: &str,
    ) -> eyre::Result<Child> {
        let args = self.node_args(
            i,
            op.faulty,
            deployment,
            endpoint,
            attested_endpoint,
            bootnode,
        );
        let keys = [
            (
                "AVS_BLS_PRIVATE_KEY",
                alloy::hex::encode_prefixed(*op.bls.to_be_bytes()),
            ),
            (
                "AVS_ECDSA_PRIVATE_KEY",
                alloy::hex::encode_prefixed(op.signer.to_bytes()),
            ),
        ];
        let exe = std::env::current_exe()?;
        self.write_restart_script(i, &exe, &args, &keys)?;
        // Appended: a restarted node's log follows its previous run's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))?;
        let child = Command::new(&exe)
            .args(&args)
            .envs(keys)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            // The path says it when the binary was rebuilt or removed since the devnet started
            // (Linux appends " (deleted)"): nodes start from the devnet's own binary.
            .wrap_err_with(|| format!("starting an avs-node process from {}", exe.display()))?;
        let pid = child.id().ok_or_else(|| eyre!("node {i} exited at once"))?;
        std::fs::write(self.pid_path(i), format!("{pid}\n"))?;
        Ok(child)
    }

    /// Node i's `avs-node run` arguments (keys go through the environment).
    fn node_args(
        &self,
        i: usize,
        faulty: bool,
        deployment: &Path,
        endpoint: &str,
        attested_endpoint: Option<&str>,
        bootnode: &str,
    ) -> Vec<String> {
        // anvil serves WebSocket on its HTTP port.
        let ws = |http: &str| http.replacen("http", "ws", 1);
        let mut args: Vec<String> = vec!["run".into()];
        let mut arg = |name: &str, value: String| {
            args.push(name.to_owned());
            args.push(value);
        };
        match self.node_rpc_urls.iter().find(|o| o.node == i) {
            // Everything through the override: http(s) is polled, ws(s) subscribes.
            Some(o) => arg("--settlement-rpc-url", o.url.clone()),
            // As an operator points at reth or geth: HTTP for calls, WebSocket for new heads.
            None => {
                arg("--settlement-rpc-url", endpoint.to_owned());
                arg("--settlement-ws-url", ws(endpoint));
            }
        }
        arg("--deployment", deployment.display().to_string());
        arg("--datadir", self.node_dir(i).display().to_string());
        let roles = if i < usize::from(self.generators()) {
            "operator,task-generator"
        } else {
            "operator"
        };
        arg("--roles", roles.to_owned());
        arg(
            "--p2p-listen-addrs",
            format!("/ip4/127.0.0.1/tcp/{}", self.p2p_port(i)),
        );
        arg(
            "--metrics-addr",
            format!("127.0.0.1:{}", self.metrics_port(i)),
        );
        arg("--node-api-addr", format!("127.0.0.1:{}", self.api_port(i)));
        arg("--node-name", format!("devnet-node-{i}"));
        arg("--submit-slot-ms", "3000".into());
        arg("--aggregation-window-ms", "300".into());
        // anvil's state roots are not Ethereum's: no block can be re-executed to them.
        arg("--state-root-verification", "best_effort".into());
        if i > 0 {
            arg("--bootnodes", bootnode.to_owned());
        }
        if let Some(attested) = attested_endpoint {
            // One ws:// URL gives both, as anvil serves them on one port.
            arg("--attested-rpc-url", ws(attested));
        }
        if let Some(depth) = self.attest_depth {
            arg("--attest-depth", depth.to_string());
        }
        if let Some(confirmations) = self.confirmations {
            arg("--confirmations", confirmations.to_string());
        }
        if let Some(window) = self.reorg_window {
            arg("--reorg-window", window.to_string());
        }
        args.push("--insecure".into());
        if faulty {
            args.push("--fault-sign-wrong-state-root".into());
        }
        if self.faulty > 0 && !faulty {
            args.push("--challenger".into());
        }
        args
    }

    /// `DIR/node-i.sh` runs node i as the devnet does, with its keys from
    /// `DIR/node-i/devnet-keys.env` (owner-only): stop the devnet's process first, e.g. with
    /// `--restart-on-exit` and a hold file. DEVNET ONLY: the keys are this run's throwaway keys.
    fn write_restart_script(
        &self,
        i: usize,
        exe: &Path,
        args: &[String],
        keys: &[(&str, String)],
    ) -> eyre::Result<()> {
        let keys_path = self.node_dir(i).join("devnet-keys.env");
        let mut env = String::from(
            "# avs-node devnet: THROWAWAY PLAINTEXT TEST KEYS of this devnet run. Never use them elsewhere.\n",
        );
        for (name, value) in keys {
            env.push_str(&format!("{name}={value}\n"));
        }
        write_private(&keys_path, &env)?;
        // The devnet's paths are relative to where it was started: the script goes there first.
        let cwd = std::env::current_dir().wrap_err("reading the current directory")?;
        let mut script = format!(
            "#!/bin/sh\n# Node {i} of this devnet, as `avs-node devnet` started it (DEVNET ONLY).\ncd {} || exit 1\nset -a\n. {}\nset +a\nexec {}",
            shell_quote(&cwd.display().to_string()),
            shell_quote(&keys_path.display().to_string()),
            shell_quote(&exe.display().to_string())
        );
        for a in args {
            script.push(' ');
            script.push_str(&shell_quote(a));
        }
        script.push_str(" \"$@\"\n");
        let path = self.script_path(i);
        std::fs::write(&path, script).wrap_err_with(|| format!("writing {}", path.display()))?;
        set_mode(&path, 0o755)
    }
}

/// A file only its owner can read (the devnet's key files), created so from the start.
fn write_private(path: &Path, contents: &str) -> eyre::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .wrap_err_with(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    // An older file keeps its mode through `open`: tighten it too.
    set_mode(path, 0o600)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> eyre::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .wrap_err_with(|| format!("setting the permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> eyre::Result<()> {
    Ok(())
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The node processes and what it takes to (re)start one.
struct Nodes<'a> {
    args: &'a DevnetArgs,
    operators: &'a [Operator],
    deployment: &'a Path,
    endpoint: &'a str,
    /// The second anvil's endpoint in two-chain mode.
    attested_endpoint: Option<&'a str>,
    bootnode: String,
    /// `None` while a node is held down (`--restart-on-exit` and `DIR/node-i.hold`).
    children: Vec<Option<Child>>,
}

impl Nodes<'_> {
    fn spawn(&self, i: usize) -> eyre::Result<Child> {
        self.args.spawn_node(
            i,
            &self.operators[i],
            self.deployment,
            self.endpoint,
            self.attested_endpoint,
            &self.bootnode,
        )
    }

    /// Notices nodes that exited: an error, or with `--restart-on-exit` a restart once no hold
    /// file keeps the node down.
    fn supervise(&mut self) -> eyre::Result<()> {
        for i in 0..self.children.len() {
            if let Some(node) = &mut self.children[i] {
                let Some(status) = node.try_wait()? else {
                    continue;
                };
                if !self.args.restart_on_exit {
                    bail!("node {i} exited ({status}); see its log in the devnet folder");
                }
                println!("node {i} exited ({status})");
                self.children[i] = None;
            }
            if !self.args.hold_path(i).exists() {
                self.children[i] = Some(self.spawn(i)?);
                println!("node {i} restarted");
            }
        }
        Ok(())
    }

    /// SIGTERM every node (graceful: WAL and stores flushed), SIGKILL after a grace period.
    /// Fails naming each node that did not stop cleanly (an error exit, or killed).
    async fn stop(&mut self) -> eyre::Result<()> {
        for node in self.children.iter().flatten() {
            if let Some(pid) = node.id() {
                // `kill -TERM`: a graceful stop without unsafe signal code.
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        let mut unclean = Vec::new();
        for (i, node) in self.children.iter_mut().enumerate() {
            let Some(node) = node else { continue };
            match tokio::time::timeout(Duration::from_secs(10), node.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => unclean.push(format!("node {i} exited with {status}")),
                Ok(Err(e)) => unclean.push(format!("node {i}: {e}")),
                Err(_) => {
                    let _ = node.kill().await;
                    unclean.push(format!("node {i} ignored SIGTERM for 10 s and was killed"));
                }
            }
        }
        if unclean.is_empty() {
            Ok(())
        } else {
            Err(eyre!(
                "{} on shutdown; see the node logs in the devnet folder",
                unclean.join(", ")
            ))
        }
    }
}

/// The settlement chain's genesis block number. EigenLayer's slashing-era DelegationManager
/// reads `block.number - MIN_WITHDRAWAL_DELAY_BLOCKS` when it slashes, which reverts on a chain
/// younger than the withdrawal delay (50,400 blocks, as on mainnet): the settlement chain starts
/// past it, like the tests' (`avs_test_support::EIGENLAYER_GENESIS_BLOCK`). The attested chain
/// of `--attested-chain` has no EigenLayer and starts at 0.
const SETTLEMENT_GENESIS_BLOCK: u64 = 100_000;

/// The kind of chain `--attested-chain` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AttestedNetwork {
    /// Ethereum's block and transaction types.
    Ethereum,
    /// An OP-stack chain: deposit transactions (type 0x7e) and their receipts.
    Optimism,
}

fn anvil_at(dir: &Path, port: u16, chain_id: u64, genesis: u64) -> Anvil {
    let state = dir.join(format!("anvil-{chain_id}-state.json"));
    Anvil::new()
        .port(port)
        .chain_id(chain_id)
        .arg("--number")
        .arg(genesis.to_string())
        .arg("--state")
        .arg(state.as_os_str())
}

/// The second anvil of `--attested-chain`, of the given kind.
fn attested_anvil(dir: &Path, port: u16, network: AttestedNetwork) -> Anvil {
    let anvil = anvil_at(dir, port, ATTESTED_CHAIN_ID, 0);
    match network {
        AttestedNetwork::Ethereum => anvil,
        AttestedNetwork::Optimism => anvil.args(["--network", "optimism"]),
    }
}

pub(crate) async fn fund(chain: &DynProvider, address: Address) -> eyre::Result<()> {
    chain
        .anvil_set_balance(address, U256::from(1_000u128 * TOKEN))
        .await?;
    Ok(())
}

/// Prints each finalized checkpoint (responses on `chain`) and checks it against the attested
/// anvil's block (`attested`: `chain` itself unless in two-chain mode).
///
/// Reorgs (a test's `anvil_reorg`) are tolerated: each scan re-reads the last
/// [`RESCAN_BLOCKS`] blocks, and a response whose transaction left the chain is skipped.
async fn watch_checkpoints(
    chain: &DynProvider,
    attested: &DynProvider,
    deployment: &Deployment,
    stake_by_key: &HashMap<(U256, U256), u128>,
    exit_after: Option<u32>,
    nodes: &mut Nodes<'_>,
    latencies: &mut Latencies,
) -> eyre::Result<()> {
    let total: u128 = stake_by_key.values().sum();
    let mut from = deployment.deployment_block;
    let interval = deployment.params.avs.checkpoint_interval;
    // Response transactions and punishment logs already reported (scans overlap).
    let mut reported = std::collections::HashSet::new();
    let mut punishments = std::collections::HashSet::new();
    // Checkpoints that passed while the operators registered are tasked in a burst when the
    // nodes start: their latency measures the catch-up, not the network.
    let live_from = attested.get_block_number().await?;
    // `--exit-after K`: the first K checkpoints of the attested chain, which may not start at 0.
    let genesis = attested
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Earliest)
        .await?
        .map_or(0, |block| block.header.number);
    let first_checkpoint = (genesis / interval + 1) * interval;
    let attested_chain_id = attested.get_chain_id().await?;
    let first_checkpoint_timeout = FIRST_CHECKPOINT_TIMEOUT
        .max(FIRST_CHECKPOINT_TIMEOUT_PER_OPERATOR * nodes.operators.len() as u32);
    let started = tokio::time::Instant::now();
    loop {
        nodes.supervise()?;
        if latencies.finalized.is_empty() && started.elapsed() > first_checkpoint_timeout {
            bail!(
                "no checkpoint finalized within {first_checkpoint_timeout:?}; see the node logs in the devnet folder"
            );
        }
        let head = chain.get_block_number().await?;
        if head >= from {
            let filter = Filter::new()
                .address(deployment.avs.task_manager)
                .event_signature(AvsTaskManager::TaskResponded::SIGNATURE_HASH)
                .from_block(from)
                .to_block(head);
            for log in chain.get_logs(&filter).await? {
                let event = AvsTaskManager::TaskResponded::decode_log(&log.inner)?.data;
                let tx_hash = log
                    .transaction_hash
                    .ok_or_else(|| eyre!("log without transaction"))?;
                if !reported.insert(tx_hash) {
                    continue;
                }
                // A response a reorg took out since the log was read: its replacement, if
                // any, shows up in a later scan.
                let Some(tx) = chain.get_transaction_by_hash(tx_hash).await? else {
                    continue;
                };
                let call = AvsTaskManager::respondToTaskCall::abi_decode(tx.inner.input())?;
                let unsigned: u128 = call
                    .nonSignerStakesAndSignature
                    .nonSignerPubkeys
                    .iter()
                    .map(|p| stake_by_key.get(&(p.X, p.Y)).copied().unwrap_or_default())
                    .sum();
                let block_number = call.task.blockNumber;
                if call.task.chainId != attested_chain_id {
                    bail!(
                        "task {} attests chain {}, not the devnet's attested chain {attested_chain_id}",
                        event.taskIndex,
                        call.task.chainId
                    );
                }
                let checkpoint = attested
                    .get_block_by_number(block_number.into())
                    .await?
                    .ok_or_else(|| eyre!("no block"))?;
                let response = &event.taskResponse;
                let matches = response.blockHash == checkpoint.header.hash
                    && response.stateRoot == checkpoint.header.state_root
                    && response.receiptsRoot == checkpoint.header.receipts_root;
                let responded_at = log.block_number.unwrap_or(head);
                let created = chain
                    .get_block_by_number(u64::from(call.task.taskCreatedBlock).into())
                    .await?;
                let responded = chain.get_block_by_number(responded_at.into()).await?;
                let seconds = match (created, responded) {
                    (Some(c), Some(r)) => r.header.timestamp.saturating_sub(c.header.timestamp),
                    _ => 0,
                };
                let blocks = responded_at.saturating_sub(u64::from(call.task.taskCreatedBlock));
                if block_number > live_from {
                    latencies.record(blocks, seconds);
                } else {
                    latencies.catch_up += 1;
                }
                println!(
                    "checkpoint finalized: task {} block {} hash {} signed {:.0}% of stake, latency {} blocks / {} s, submitter {}, {}",
                    event.taskIndex,
                    block_number,
                    short(response.blockHash),
                    100.0 * (total - unsigned) as f64 / total as f64,
                    blocks,
                    seconds,
                    tx.inner.signer(),
                    if matches {
                        "matches the chain"
                    } else {
                        "DOES NOT MATCH THE CHAIN"
                    },
                );
                latencies.finalized.insert(block_number);
                if exit_after.is_some_and(|k| {
                    (0..u64::from(k)).all(|n| {
                        latencies
                            .finalized
                            .contains(&(first_checkpoint + n * interval))
                    })
                }) {
                    return Ok(());
                }
            }
            report_punishments(chain, deployment, from, head, &mut punishments).await?;
            // The next scan overlaps the last blocks: a reorg may have replaced them with
            // blocks holding other responses.
            from = (head + 1)
                .saturating_sub(RESCAN_BLOCKS)
                .max(deployment.deployment_block);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `allocated magnitude m/max to operator set q, slashable stake s` for each operator set.
fn allocation_summary(status: &OperatorStatus) -> String {
    status
        .allocations
        .iter()
        .map(|a| {
            format!(
                "allocated magnitude {}/{} to operator set {}, slashable stake {} tokens",
                a.magnitude,
                a.max_magnitude,
                a.quorum,
                a.slashable_shares / U256::from(TOKEN)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints, for each challenge won in blocks `from..=head` (and each later freezing batch),
/// every punished operator's standing now: slashed magnitude and slashable stake, frozen.
async fn report_punishments(
    chain: &DynProvider,
    deployment: &Deployment,
    from: u64,
    head: u64,
    reported: &mut std::collections::HashSet<(B256, u64)>,
) -> eyre::Result<()> {
    let filter = Filter::new()
        .address(deployment.avs.task_manager)
        .event_signature(vec![
            AvsTaskManager::TaskChallengedSuccessfully::SIGNATURE_HASH,
            AvsTaskManager::SignersFrozen::SIGNATURE_HASH,
        ])
        .from_block(from)
        .to_block(head);
    for log in chain.get_logs(&filter).await? {
        let (Some(tx_hash), Some(index)) = (log.transaction_hash, log.log_index) else {
            continue;
        };
        if !reported.insert((tx_hash, index)) {
            continue;
        }
        let (task, operators) =
            match AvsTaskManager::TaskChallengedSuccessfully::decode_log(&log.inner) {
                Ok(event) => (event.data.taskIndex, event.data.frozenOperators),
                Err(_) => {
                    let event = AvsTaskManager::SignersFrozen::decode_log(&log.inner)?.data;
                    (event.taskIndex, event.operators)
                }
            };
        for address in operators {
            let status = operator::status(chain, deployment, address).await?;
            println!(
                "operator slashed: task {task} signer {address} frozen {}, now {}",
                status.frozen,
                allocation_summary(&status)
            );
        }
    }
    Ok(())
}

/// Blocks a task must be old to count as due in the churn summary: it had time to finalize.
const CHURN_DUE_BLOCKS: u64 = 30;

/// The checkpoints tasked on `chain` since the deployment, except those tasked in the last
/// [`CHURN_DUE_BLOCKS`] blocks (not due yet).
async fn tasked_checkpoints(
    chain: &DynProvider,
    deployment: &Deployment,
) -> eyre::Result<std::collections::BTreeSet<u64>> {
    let head = chain.get_block_number().await?;
    let filter = Filter::new()
        .address(deployment.avs.task_manager)
        .event_signature(AvsTaskManager::NewTaskCreated::SIGNATURE_HASH)
        .from_block(deployment.deployment_block)
        .to_block(head.saturating_sub(CHURN_DUE_BLOCKS));
    let mut tasked = std::collections::BTreeSet::new();
    for log in chain.get_logs(&filter).await? {
        let event = AvsTaskManager::NewTaskCreated::decode_log(&log.inner)?.data;
        tasked.insert(event.task.blockNumber);
    }
    Ok(tasked)
}

/// Finality latencies of the checkpoints seen, task creation → response, in blocks and in
/// seconds of block timestamps, and the checkpoints finalized.
#[derive(Debug, Default)]
struct Latencies {
    blocks: Vec<u64>,
    seconds: Vec<u64>,
    /// Checkpoints tasked while the network was catching up (not in the figures).
    catch_up: usize,
    /// Every checkpoint finalized (catch-up included).
    finalized: std::collections::BTreeSet<u64>,
}

impl Latencies {
    fn record(&mut self, blocks: u64, seconds: u64) {
        self.blocks.push(blocks);
        self.seconds.push(seconds);
    }

    /// `finality latency over N live checkpoints: p50 … blocks / … s, p95 …, max …`.
    fn summary(&self) -> String {
        let stat = |values: &[u64], q: f64| percentile(values, q).unwrap_or_default();
        format!(
            "finality latency over {} live checkpoints ({} tasked while catching up not counted): p50 {} blocks / {} s, p95 {} blocks / {} s, max {} blocks / {} s",
            self.blocks.len(),
            self.catch_up,
            stat(&self.blocks, 0.5),
            stat(&self.seconds, 0.5),
            stat(&self.blocks, 0.95),
            stat(&self.seconds, 0.95),
            stat(&self.blocks, 1.0),
            stat(&self.seconds, 1.0),
        )
    }
}

/// The nearest-rank `q` quantile (0 < q ≤ 1) of `values`.
fn percentile(values: &[u64], q: f64) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// An operator's BLS G1 key as the coordinates `respondToTask` names non-signers by.
pub(crate) fn g1_point(key: &SecretKey) -> (U256, U256) {
    let point = key.public_key().to_point();
    (point.x, point.y)
}

fn short(hash: B256) -> String {
    let hex = hash.to_string();
    format!("{}…{}", &hex[..10], &hex[hex.len() - 6..])
}

#[cfg(test)]
mod tests {
    use super::{Latencies, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=20).rev().collect();
        assert_eq!(percentile(&values, 0.5), Some(10));
        assert_eq!(percentile(&values, 0.95), Some(19));
        assert_eq!(percentile(&values, 1.0), Some(20));
        assert_eq!(percentile(&[7], 0.5), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn the_summary_names_both_units() {
        let mut latencies = Latencies::default();
        for (blocks, seconds) in [(1, 1), (2, 2), (4, 5)] {
            latencies.record(blocks, seconds);
        }
        latencies.catch_up = 2;
        assert_eq!(
            latencies.summary(),
            "finality latency over 3 live checkpoints (2 tasked while catching up not counted): p50 2 blocks / 2 s, p95 4 blocks / 5 s, max 4 blocks / 5 s"
        );
    }
}
