//! EigenLayer's real slashing-era contracts on a local chain.
//!
//! The bytecode is EigenLayer's own, as shipped by the `eigen-utils` crate and read from its
//! sources at build time ([`bytecode`]; the crate itself is never compiled)
//! (`slashing::{core,middleware}`: eigenlayer-contracts [`CORE_VERSION`] — AllocationManager,
//! DelegationManager, StrategyManager, AVSDirectory, PermissionController, EigenPodManager — and
//! the StakeRegistry, BLSApkRegistry, IndexRegistry, SocketRegistry and OperatorStateRetriever);
//! what that set lacks (pauser registry, strategy, proxies) comes from `contracts/src/devnet` and
//! OpenZeppelin. It has no bytecode for a registry coordinator (EigenLayer's links external
//! libraries): the AVS deploys its own, `AvsRegistryCoordinator`.
//!
//! Mainnet runs later cores (v1.9+: one slasher per operator set fixed at creation,
//! `slashOperator` returning the slash id and shares); the AVS calls `slashOperator` from one
//! place, `AvsSlasher`, so serving that shape changes one contract.
//!
//! Deployment follows EigenLayer's scripts, because their constructors take the *proxy*
//! addresses of their peers and their implementations lock their initializers:
//!
//! 1. [`deploy_proxies`]: an empty implementation, a `ProxyAdmin`, a pauser registry, and a
//!    transparent proxy per contract, all pointing at the empty implementation;
//!    (the registry coordinator's proxy too: the registries' constructors name it);
//! 2. the AVS creates its own proxies;
//! 3. [`initialize`]: each implementation is deployed with its peers' proxy addresses, the proxy
//!    is upgraded to it and initialised in the same call, and the devnet token's strategy is
//!    whitelisted for deposits. The AVS then installs its coordinator, which creates quorum 0
//!    (= operator set 0) — see `crate::deploy`.

#[cfg(feature = "deploy")]
pub mod bytecode;
#[cfg(feature = "deploy")]
mod deploy;
pub mod interfaces;
mod params;

#[cfg(feature = "deploy")]
pub use deploy::{deploy_proxies, empty_proxy, initialize, install, upgrade_and_call};
pub use params::{CORE_VERSION, EigenLayerContracts, EigenLayerParams, QuorumParams};
