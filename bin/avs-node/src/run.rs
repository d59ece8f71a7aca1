//! `avs-node run`: one operator node (host + AVS ExEx + p2p + submitter) with its metrics and
//! EigenLayer Node API servers, until SIGINT/SIGTERM.
//!
//! Start-up checks everything that can be checked before joining the network: the config, both
//! keys (decrypting them), and the deployment against the settlement chain (chain id, code at
//! every address). A failure is one line naming the problem and the fix.

use crate::{
    api,
    cli::NodeArgs,
    config::{NodeConfig, Role},
    health::{HealthRegistry, ServiceStatus},
    keys, metrics,
    node::{NodeParams, Telemetry, run_node},
    server::HttpServer,
    shutdown::Shutdown,
};
use avs_checkpoint::FaultMode;
use avs_p2p::NetworkConfig;
use clap::Args;
use eyre::eyre;

/// Arguments of `avs-node run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Node settings (config file, flags, environment).
    #[command(flatten)]
    pub node: NodeArgs,
    /// TEST ONLY (devnet chain ids): sign responses with a wrong state root so challenges can
    /// be exercised end to end.
    #[arg(long, env = "AVS_FAULT_SIGN_WRONG_STATE_ROOT", hide = true)]
    pub fault_sign_wrong_state_root: bool,
}

impl RunArgs {
    /// Runs the node until a shutdown signal or a fatal error.
    pub async fn run(self) -> eyre::Result<()> {
        let config = self.node.load()?;
        // Another node on this data directory, then a port in use, are reported before anything
        // is written to the data directory.
        crate::datadir::DataDirLock::check_free(&config.datadir)?;
        crate::ports::check(&config)?;
        // Before anything reads or writes the data directory; held until the node has stopped.
        let _lock = crate::datadir::DataDirLock::acquire(&config.datadir)?;
        let fault_mode = if self.fault_sign_wrong_state_root {
            FaultMode::SignWrongStateRoot
        } else {
            FaultMode::Off
        };
        let params = node_params(&config, fault_mode).await?;

        let shutdown = Shutdown::new();
        shutdown.trigger_on_os_signals();
        let registry = prometheus::Registry::new();
        let eigen = metrics::EigenMetrics::register(&registry)?;
        let health = HealthRegistry::default();
        let node_health =
            health.register("node", "operator node", "host, AVS ExEx, p2p and submitter");
        let metrics_server = HttpServer::start(
            config.metrics_addr,
            metrics::router(registry.clone()),
            shutdown.clone(),
            "--metrics-addr",
        )
        .await?;
        let api_server = HttpServer::start(
            config.node_api_addr,
            api::router(api::NodeInfo::new(&config.node_name), health.clone()),
            shutdown.clone(),
            "--node-api-addr",
        )
        .await?;
        tracing::info!(
            metrics = %metrics_server.local_addr(),
            node_api = %api_server.local_addr(),
            operator = %params.bls_key.public_key().operator_id(),
            "avs-node starting"
        );

        node_health.set(ServiceStatus::Up);
        let stop = shutdown.clone();
        let telemetry = Telemetry {
            registry,
            eigen,
            health,
        };
        let result = run_node(params, telemetry, async move { stop.wait().await }).await;
        node_health.set(ServiceStatus::Down);
        shutdown.trigger();
        metrics_server.stopped().await?;
        api_server.stopped().await?;
        result
    }
}

/// Warns once, at start-up, when the operator of the configured BLS key is not registered with
/// the AVS (or is frozen): such a node runs, but signs nothing.
async fn warn_unless_registered(
    provider: &alloy::providers::DynProvider,
    deployment: &avs_contracts::deployment::Deployment,
    bls_key: &avs_bls::SecretKey,
) -> eyre::Result<()> {
    use avs_contracts::{
        avs::AvsServiceManager, eigenlayer::interfaces::IRegistryCoordinatorCalls,
    };
    let operator_id = bls_key.public_key().operator_id();
    let coordinator =
        IRegistryCoordinatorCalls::new(deployment.eigenlayer.registry_coordinator, provider);
    let operator = coordinator.getOperatorFromId(operator_id.0).call().await?;
    let registered = !operator.is_zero()
        && coordinator.getOperatorStatus(operator).call().await?
            == avs_contracts::operator::STATUS_REGISTERED;
    if !registered {
        tracing::warn!(
            %operator_id,
            "NOT REGISTERED: no operator with this BLS key is registered with the AVS, so this \
             node will sign no task; register it with `avs-node operator register`"
        );
        return Ok(());
    }
    let frozen = AvsServiceManager::new(deployment.avs.service_manager, provider)
        .frozen(operator)
        .call()
        .await?;
    if frozen {
        tracing::warn!(%operator, "FROZEN: this operator was frozen by a challenge and signs no task");
    }
    Ok(())
}

/// Decrypts the keys, checks the deployment against the chain and maps the config.
async fn node_params(config: &NodeConfig, fault_mode: FaultMode) -> eyre::Result<NodeParams> {
    if !config.roles.contains(&Role::Operator) {
        return Err(eyre!(
            "avs-node run needs the operator role (--roles operator): observer nodes are not supported yet"
        ));
    }
    // The gas wallet: the EigenLayer operator key is not decrypted here (except on devnets,
    // where it is the wallet). Both sources are checked before any password is asked for.
    let (bls_source, wallet_source) = (config.bls_key_source()?, config.wallet_key_source()?);
    let bls_key = keys::load_bls_key(bls_source).await?;
    let wallet = keys::load_ecdsa_signer(wallet_source).await?;

    let (settlement_http, settlement_ws) =
        crate::chain::http_and_ws(&config.settlement_rpc, config.settlement_ws.as_ref());
    // Chain id and code at every address, before joining the network.
    let provider = crate::chain::connect(config, None).await?;
    let attested = if config.attested_rpc == config.settlement_rpc {
        None
    } else {
        Some(crate::chain::attested_node(config).await?)
    };
    let attest_depth =
        crate::chain::node_attest_depth(config, &provider, attested.as_ref()).await?;

    let deployment = &config.deployment;
    let mut network = NetworkConfig::new(deployment.chain_id, deployment.avs.task_manager);
    network.listen_addrs = config.p2p.listen_addrs.clone();
    network.external_addrs = config.p2p.external_addrs.clone();
    network.bootnodes = config.p2p.bootnodes.clone();
    network.mdns = config.p2p.mdns;
    network.target_peers = config.p2p.target_peers;
    network.min_peers = config.p2p.min_peers;
    let params = NodeParams {
        settlement_http,
        settlement_ws,
        attested,
        deployment: deployment.clone(),
        data_dir: config.datadir.clone(),
        bls_key,
        wallet,
        network,
        task_generator: config.roles.contains(&Role::TaskGenerator),
        confirmations: config.confirmations,
        attest_depth,
        reorg_window: config.reorg_window,
        submit_slot: config.submit_slot,
        aggregation_window: config.aggregation_window,
        max_fee_per_gas: config.max_fee_per_gas,
        stake_refresh_blocks: config.stake_refresh_blocks,
        challenger: config.challenger,
        state_root_verification: config.state_root_verification,
        fault_mode,
    };
    params.check()?;
    // Once everything else is known to be right, so the warning never precedes an error.
    if let Err(err) = warn_unless_registered(&provider, &config.deployment, &params.bls_key).await {
        // Advisory only: the node works the same either way.
        tracing::warn!(error = %err, "could not check whether the operator is registered");
    }
    Ok(params)
}
