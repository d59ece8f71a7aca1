//! EigenLayer's real M2 contracts on a local chain.
//!
//! The bytecode is EigenLayer's own, as shipped by the `eigen-utils` crate
//! (`rewardsv2::{core,middleware}`); what that set lacks (pauser registry, strategy, socket
//! registry, proxies) comes from `contracts/src/devnet` and OpenZeppelin.
//!
//! Deployment follows EigenLayer's scripts, because their constructors take the *proxy*
//! addresses of their peers and their implementations lock their initializers:
//!
//! 1. [`deploy_proxies`]: an empty implementation, a `ProxyAdmin`, a pauser registry, and a
//!    transparent proxy per contract, all pointing at the empty implementation;
//! 2. the AVS creates its own proxies (its service manager's address is a RegistryCoordinator
//!    constructor argument);
//! 3. [`initialize`]: each implementation is deployed with its peers' proxy addresses, the proxy
//!    is upgraded to it and initialised in the same call, quorum 0 is created in the
//!    RegistryCoordinator, and the devnet token's strategy is whitelisted for deposits.

#[cfg(feature = "deploy")]
mod deploy;
pub mod interfaces;
mod params;

#[cfg(feature = "deploy")]
pub use deploy::{deploy_proxies, empty_proxy, initialize, upgrade_and_call};
pub use params::{EigenLayerContracts, EigenLayerParams, QuorumParams};
