//! Bindings of the devnet-only contracts in `contracts/src/devnet` and OpenZeppelin's proxies.
//!
//! EigenLayer's `eigen-utils` bytecode set lacks a pauser registry, a strategy and proxies; these fill the gaps so the devnet can deploy the real EigenLayer
//! contracts exactly as EigenLayer's own scripts do (proxies first, then implementations).

#![allow(missing_docs)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    EmptyContract,
    "artifacts/EmptyContract.json"
);
sol!(
    #[sol(rpc)]
    ProxyAdmin,
    "artifacts/ProxyAdmin.json"
);
sol!(
    #[sol(rpc)]
    TransparentUpgradeableProxy,
    "artifacts/TransparentUpgradeableProxy.json"
);
sol!(
    #[sol(rpc)]
    DevnetPauserRegistry,
    "artifacts/DevnetPauserRegistry.json"
);
sol!(
    #[sol(rpc)]
    DevnetToken,
    "artifacts/DevnetToken.json"
);
sol!(
    #[sol(rpc)]
    DevnetStrategy,
    "artifacts/DevnetStrategy.json"
);
