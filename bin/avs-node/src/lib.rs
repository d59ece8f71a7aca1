//! `avs-node`: the one binary of avs-exex, as a library of small modules the binary wires.
//!
//! - [`cli`]: the command tree (`run`, `config check`, `keys …`, `operator …`, `task …`,
//!   `slashing-protection …`).
//! - [`devnet`]: `avs-node devnet`, a whole local network (anvil, contracts, N nodes);
//!   [`devnet_churn`]: its churn benchmark (`--churn`); [`devnet_stakes`]: `--stakes`.
//! - [`run`] and [`node`]: `avs-node run`, one operator node wiring the ExEx host, the AVS ExEx,
//!   the p2p signature service and the submitter; [`operator_peers`]: peers found from the
//!   operators' on-chain sockets.
//! - [`config`]: [`config::NodeConfig`], merged flag > env (`AVS_…`) > TOML file, validated.
//! - [`password`] and [`keys`]: keystore passwords, key management, key loading.
//! - [`health`], [`api`], [`metrics`], [`server`]: the EigenLayer Node API and Prometheus
//!   endpoints and the live component health behind them.
//! - [`logging`] and [`shutdown`]: tracing setup and the SIGINT/SIGTERM shutdown signal.
//! - [`datadir`] and [`ports`]: the data directory's single-writer lock, and the check that the
//!   configured ports are free, both before anything is written.
//! - [`rpc_retry`] and [`rpc_metrics`]: the transport layers of the node's provider (transient
//!   failures retried, every call timed); [`retry_schedule`]: reads retried while their answer still matters.
//! - [`challenge`] and [`evidence`]: proving a wrong response on-chain (by hand or as the
//!   challenger role), and the equivocation evidence log.
//!
//! Wiring a long-running command follows one pattern:
//!
//! ```no_run
//! # async fn run(flags: avs_node::config::NodeOptions) -> eyre::Result<()> {
//! use avs_node::{api, config::NodeConfig, health::HealthRegistry, metrics, server::HttpServer, shutdown::Shutdown};
//! let config = NodeConfig::load(flags, None)?;
//! let shutdown = Shutdown::new();
//! shutdown.trigger_on_os_signals();
//! let registry = prometheus::Registry::new();
//! let eigen = metrics::EigenMetrics::register(&registry)?;
//! let health = HealthRegistry::default();
//! let host_health = health.register("host", "chain follower", "follows the attested chain");
//! let metrics_server = HttpServer::start(config.metrics_addr, metrics::router(registry.clone()), shutdown.clone(), "--metrics-addr").await?;
//! let api_server = HttpServer::start(config.node_api_addr, api::router(api::NodeInfo::new(&config.node_name), health.clone()), shutdown.clone(), "--node-api-addr").await?;
//! // ... start the host, the AVS ExEx and p2p with `registry`, `host_health`, `shutdown` ...
//! shutdown.wait().await;
//! metrics_server.stopped().await?;
//! api_server.stopped().await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod chain;
pub mod challenge;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod datadir;
#[cfg(feature = "devnet")]
pub mod devnet;
#[cfg(feature = "devnet")]
pub mod devnet_churn;
#[cfg(feature = "devnet")]
mod devnet_offline;
#[cfg(feature = "devnet")]
pub mod devnet_stakes;
pub mod evidence;
pub mod health;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod operator_cmd;
pub mod operator_peers;
pub mod output;
pub mod password;
pub mod ports;
pub mod proof_cmd;
pub mod retry_schedule;
pub mod rpc_metrics;
pub mod rpc_retry;
pub mod run;
pub mod server;
pub mod shutdown;
pub mod slashing_protection_cmd;
pub mod status;
pub mod task_cmd;
