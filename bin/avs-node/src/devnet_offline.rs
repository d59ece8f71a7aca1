//! `avs-node devnet --offline-operators M`: operators registered through the real contracts
//! that run no node, as operators whose nodes are down. The operator set every task names is
//! then `--operators` + M, so a handful of real nodes can be measured in a set of a thousand
//! (memory, signing groups, non-signers on chain) without a thousand processes.
//!
//! Each offline operator has fresh throwaway keys, `--offline-stake` tokens, and publishes a
//! socket on a port nothing listens on (`/ip4/127.0.0.1/tcp/1` with a peer id of its own):
//! the nodes dial it and fail, as they would an operator whose node is down.

// The progress lines are the devnet's output.
#![allow(clippy::print_stdout)]

use alloy::{primitives::U256, providers::DynProvider, signers::local::PrivateKeySigner};
use avs_bls::SecretKey;
use avs_contracts::{
    deployment::Deployment, operator::OperatorClient, transactor::automine_wallet_provider,
};
use libp2p::identity::Keypair;
use std::time::Instant;

/// A progress line every this many registrations.
const PROGRESS_EVERY: usize = 100;

/// The socket an offline operator publishes: a port nothing listens on, and its own peer id,
/// so each is a distinct peer whose dials fail at once.
fn dead_socket() -> String {
    let peer = Keypair::generate_ed25519().public().to_peer_id();
    format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")
}

/// An offline operator as the devnet's checkpoint lines count it: its BLS G1 key (how
/// `respondToTask` names a non-signer) and its stake in base units.
pub(crate) type OfflineOperator = ((U256, U256), u128);

/// Registers `count` operators of `stake` base units each, none with a node, one after the
/// other: sent at once from many wallets, some registrations reverted on anvil
/// (`registerForOperatorSets`).
pub(crate) async fn register(
    chain: &DynProvider,
    endpoint: &str,
    deployment: &Deployment,
    count: usize,
    stake: u128,
) -> eyre::Result<Vec<OfflineOperator>> {
    let mut registered = Vec::with_capacity(count);
    if count == 0 {
        return Ok(registered);
    }
    println!(
        "registering {count} offline operators (no node; {} tokens each) ...",
        stake / crate::devnet::TOKEN
    );
    let started = Instant::now();
    for i in 0..count {
        let signer = PrivateKeySigner::random();
        let bls = SecretKey::generate();
        crate::devnet::fund(chain, signer.address()).await?;
        let provider = automine_wallet_provider(endpoint, signer.clone()).await?;
        let mut client = OperatorClient::new(provider, deployment, signer.address());
        client
            .onboard_devnet(U256::from(stake), &bls, &dead_socket())
            .await
            .map_err(|e| eyre::eyre!("registering offline operator {i}: {e}"))?;
        registered.push((crate::devnet::g1_point(&bls), stake));
        let done = i + 1;
        if done % PROGRESS_EVERY == 0 || done == count {
            println!(
                "offline operators registered: {done}/{count} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_sockets_are_distinct_peers_on_a_closed_port() {
        let (a, b) = (dead_socket(), dead_socket());
        assert_ne!(a, b);
        for s in [a, b] {
            let addr: libp2p::Multiaddr = s.parse().expect("a multiaddr");
            assert!(s.starts_with("/ip4/127.0.0.1/tcp/1/p2p/"), "{s}");
            assert_eq!(addr.iter().count(), 3);
        }
    }
}
