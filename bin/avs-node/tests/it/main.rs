//! The integration tests of `avs-node`, one test binary (one link, shared support): the CLI
//! and its commands against real anvil chains, and, with the `devnet` feature, whole devnets of
//! `avs-node` processes.

mod support;

mod challenge;
mod cli;
#[cfg(feature = "devnet")]
mod devnet_challenge;
#[cfg(feature = "devnet")]
mod devnet_e2e;
#[cfg(feature = "devnet")]
mod devnet_restart;
#[cfg(feature = "devnet")]
mod devnet_two_chains;
mod keys;
mod monitoring_config;
mod operator;
mod servers;
mod wallet_sender;
