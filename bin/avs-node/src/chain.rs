//! Connections to the settlement chain for commands: a read-only or wallet provider on the
//! configured endpoint, checked against the deployment file (chain id, code at every address)
//! before anything else is asked, so a wrong URL or a reset devnet fails with that diagnosis.

use crate::config::NodeConfig;
use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use avs_contracts::transactor::wallet_provider;

/// Connects to the settlement endpoint (sending from `wallet` if given) and validates the
/// deployment against it.
pub async fn connect(
    config: &NodeConfig,
    wallet: Option<PrivateKeySigner>,
) -> eyre::Result<DynProvider> {
    let url = config.settlement_rpc.as_str();
    // Sending goes through the project's wallet provider, which asks the node for every nonce.
    let connected = match wallet {
        Some(signer) => wallet_provider(url, signer).await,
        None => ProviderBuilder::new()
            .connect(url)
            .await
            .map(Provider::erased),
    };
    let provider = connected.map_err(|e| {
        eyre::eyre!(
            "cannot connect to the settlement RPC {} ({e}): check --settlement-rpc-url and that the node is running",
            config.settlement_rpc
        )
    })?;
    config.deployment.validate(&provider).await?;
    Ok(provider)
}
