//! Connections to the configured chains for commands: a read-only or wallet provider on the
//! settlement endpoint, checked against the deployment file (chain id, code at every address)
//! before anything else is asked, so a wrong URL or a reset devnet fails with that diagnosis;
//! in two-chain mode, the attested chain's node, checked to be another chain; and the
//! attestation depth, checked against the node that serves the attested chain.

use crate::{
    config::{NodeConfig, RpcUrl},
    node::AttestedNode,
};
use alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use avs_checkpoint::{AttestDepth, DEVNET_CHAIN_IDS};
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
    let attest_depth = attest_depth(
        config.attest_depth,
        chain_id,
        &provider,
        &config.attested_rpc.redacted(),
    )
    .await?;
    Ok(AttestedNode {
        chain_id,
        http,
        ws,
        head,
        retention_blocks: config.attested_retention_blocks,
        attest_depth,
    })
}

/// The attestation depth of the node serving the attested chain: `attested` in two-chain mode,
/// else the settlement node `settlement`.
pub async fn node_attest_depth<P: Provider>(
    config: &NodeConfig,
    settlement: &P,
    attested: Option<&AttestedNode>,
) -> eyre::Result<AttestDepth> {
    match attested {
        Some(node) => Ok(node.attest_depth),
        None => {
            attest_depth(
                config.attest_depth,
                config.deployment.chain_id,
                settlement,
                &config.settlement_rpc.redacted(),
            )
            .await
        }
    }
}

/// The attestation depth for chain `chain_id`, whose node at `url` is `provider`: the
/// configured one, whose tag the node must serve; else 0 blocks on the devnet chain ids and
/// `finalized` elsewhere, which the node must serve too (a node that cannot say which blocks are
/// final needs an explicit number of blocks: never a guess).
pub async fn attest_depth<P: Provider>(
    configured: Option<AttestDepth>,
    chain_id: u64,
    provider: &P,
    url: &str,
) -> eyre::Result<AttestDepth> {
    let depth = match configured {
        Some(depth) => depth,
        None if DEVNET_CHAIN_IDS.contains(&chain_id) => AttestDepth::Blocks(0),
        None => AttestDepth::Finalized,
    };
    let Some(tag) = depth.tag() else {
        return Ok(depth);
    };
    let why = match provider.get_block_by_number(tag).await {
        Ok(Some(_)) => return Ok(depth),
        Ok(None) => "it has no such block".to_owned(),
        Err(err) => err.to_string(),
    };
    let setting = if configured.is_some() {
        "attest_depth is"
    } else {
        "the default attest_depth is"
    };
    Err(eyre!(
        "{setting} `{depth}`, but the node at {url} (chain {chain_id}) does not serve the \
         `{depth}` block ({why}): set attest_depth (--attest-depth) to a number of blocks deep \
         enough for that chain, or use a node that serves the tag"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::providers::mock::Asserter;

    /// A node whose every answer to `eth_getBlockByNumber` is `block` (JSON), `count` times.
    fn node(block: &serde_json::Value, count: usize) -> DynProvider {
        let asserter = Asserter::new();
        for _ in 0..count {
            asserter.push_success(block);
        }
        ProviderBuilder::new()
            .connect_mocked_client(asserter)
            .erased()
    }

    fn some_block() -> serde_json::Value {
        serde_json::to_value(alloy::rpc::types::Block::<alloy::rpc::types::Transaction>::default())
            .expect("a block serializes")
    }

    #[tokio::test]
    async fn the_default_depth_is_zero_on_devnets_and_finalized_where_served() {
        // No answer is queued: a devnet asks the node nothing.
        let silent = node(&serde_json::Value::Null, 0);
        let depth = attest_depth(None, 31337, &silent, "devnet")
            .await
            .expect("devnet");
        assert_eq!(depth, AttestDepth::Blocks(0));
        let depth = attest_depth(None, 1, &node(&some_block(), 1), "mainnet")
            .await
            .expect("served");
        assert_eq!(depth, AttestDepth::Finalized);
        let configured = attest_depth(Some(AttestDepth::Blocks(12)), 1, &silent, "mainnet")
            .await
            .expect("a number needs no tag");
        assert_eq!(configured, AttestDepth::Blocks(12));
    }

    #[tokio::test]
    async fn a_tag_the_node_does_not_serve_is_refused_never_guessed() {
        let err = attest_depth(None, 1, &node(&serde_json::Value::Null, 1), "http://node")
            .await
            .expect_err("no finalized block");
        let message = err.to_string();
        assert!(
            message.starts_with("the default attest_depth is `finalized`, but the node at http://node (chain 1) does not serve"),
            "{message}"
        );
        assert!(
            message.contains("set attest_depth (--attest-depth) to a number of blocks"),
            "{message}"
        );
        let silent = node(&serde_json::Value::Null, 0);
        let err = attest_depth(Some(AttestDepth::Safe), 31337, &silent, "http://node")
            .await
            .expect_err("an RPC error");
        assert!(
            err.to_string().starts_with("attest_depth is `safe`"),
            "{err}"
        );
    }
}
