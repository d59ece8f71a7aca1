//! Connections to the configured chains for commands: a read-only or wallet provider on the
//! settlement endpoint, checked against the deployment file (chain id, code at every address)
//! before anything else is asked, so a wrong URL or a reset devnet fails with that diagnosis;
//! and, in two-chain mode, the attested chain's node, checked to be another chain.

use crate::{
    config::{NodeConfig, RpcUrl},
    node::AttestedNode,
};
use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use avs_contracts::transactor::wallet_provider;
use eyre::eyre;

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

/// Requests go over HTTP; new heads come over WebSocket when there is one: a separate `ws`
/// endpoint (reth and geth serve it on a port of their own), or a ws(s):// `rpc` that also
/// serves HTTP on the same address (as anvil does).
pub fn http_and_ws(rpc: &RpcUrl, ws: Option<&RpcUrl>) -> (String, Option<String>) {
    let url = rpc.as_str().to_owned();
    match ws {
        Some(ws) => (url, Some(ws.as_str().to_owned())),
        None if rpc.is_ws() => (url.replacen("ws", "http", 1), Some(url)),
        None => (url, None),
    }
}

/// Two-chain mode: the attested chain's node, which must serve another chain than the
/// settlement chain (a second node of the settlement chain adds nothing but a second host).
pub async fn attested_node(config: &NodeConfig) -> eyre::Result<AttestedNode> {
    let (http, ws) = http_and_ws(&config.attested_rpc, None);
    let unreachable = |e: &dyn std::fmt::Display| {
        eyre!(
            "cannot reach the attested chain's RPC {} ({e}): check --attested-rpc-url and that the node is running",
            config.attested_rpc
        )
    };
    let provider = ProviderBuilder::new()
        .connect(&http)
        .await
        .map_err(|e| unreachable(&e))?;
    let chain_id = provider.get_chain_id().await.map_err(|e| unreachable(&e))?;
    if chain_id == config.deployment.chain_id {
        return Err(eyre!(
            "attested_rpc_url {} serves chain {chain_id}, the settlement chain: remove \
             attested_rpc_url (the node then attests the settlement chain it follows)",
            config.attested_rpc
        ));
    }
    let head = provider
        .get_block_number()
        .await
        .map_err(|e| unreachable(&e))?;
    Ok(AttestedNode {
        chain_id,
        http,
        ws,
        head,
        retention_blocks: config.attested_retention_blocks,
    })
}
