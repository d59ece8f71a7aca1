//! Rust bindings and deployer for the AVS contracts and EigenLayer's slashing-era contracts.
//!
//! - [`avs`] and [`devnet`]: bindings generated with `alloy::sol!` from the committed forge
//!   artifacts in `artifacts/` (so building this crate never needs forge; `just contracts`
//!   fails when the artifacts are stale).
//! - [`eigenlayer`]: EigenLayer's real slashing-era core (eigenlayer-contracts v1.3.0:
//!   AllocationManager, DelegationManager, …) and middleware registries, deployed (feature
//!   `deploy`) from the bytecode the `eigen-utils` crate ships (`eigenlayer::bytecode`, read
//!   from its sources by `build.rs`: the crate and the second alloy major version it would
//!   bring are never built), behind proxies, as EigenLayer's own scripts deploy them; the
//!   registry coordinator is ours (`AvsRegistryCoordinator`).
//! - [`aggregation`]: builds and pre-verifies the `NonSignerStakesAndSignature` of a response.
//! - `deploy` (feature `deploy`): EigenLayer + the AVS in one call, producing a
//!   [`deployment::Deployment`].
//! - [`deployment`]: the deployment file every component reads, validated against the chain.
//! - [`operator`]: operator onboarding (deposit, EigenLayer registration, allocation of slashable
//!   magnitude, registration for the AVS's operator sets with pre-flight checks, deregistration,
//!   status, stake refresh).
//! - [`proofs`]: consumer proofs: an account, storage slot or receipt of an attested chain,
//!   fetched from its node and checked against a finalized checkpoint, as the Solidity
//!   consumer libraries (`contracts/src/consumer/`) take them.
//! - [`sender`]: the one sender of a gas wallet's transactions (one nonce sequence, one fee cap,
//!   bounded receipt waits that notice and resend dropped transactions), shared by every
//!   component that pays from the wallet.
//! - [`slashing`]: the vetoable slasher's queue of slashes, and the execution of those due.
//! - [`stakes`]: stake freshness, which the task manager's stale-stake rule requires.
//! - `testing` (feature `test-utils`): a deployed devnet with onboarded operators for tests.
//! - [`transactor`]: sends deployment and set-up transactions with named steps, clear errors
//!   and a gas record (through a [`sender::WalletSender`] where a running node pays).
//!
//! ```no_run
//! # async fn run(provider: impl alloy::providers::Provider, owner: alloy::primitives::Address) -> eyre::Result<()> {
//! use avs_contracts::{deploy, deployment::DeployConfig};
//! let deployment = deploy::deploy(provider, DeployConfig::devnet(owner)).await?;
//! deployment.save("devnet/deployment.json")?;
//! # Ok(()) }
//! ```

pub mod aggregation;
pub mod avs;
#[cfg(feature = "deploy")]
pub mod deploy;
pub mod deployment;
pub mod devnet;
pub mod eigenlayer;
pub mod operator;
pub mod proofs;
pub mod sender;
pub mod slashing;
pub mod stakes;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod transactor;
