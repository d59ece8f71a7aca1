//! Two-chain mode end to end, in separate processes: `avs-node devnet --attested-chain` runs a
//! second anvil (chain 1337) next to the settlement anvil (chain 31337). Each `avs-node run`
//! follows both (`--attested-rpc-url`): a second host feeds the attested blocks to the AVS ExEx,
//! the task generator tasks the second chain's checkpoints on the first, and the operators'
//! aggregate finalizes them there. The devnet checks every finalized checkpoint against the
//! second anvil's block, and the node's metrics show both hosts.

mod support;

use std::time::Duration;
use support::devnet::{Devnet, field, free_port, http_get, metric};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn three_nodes_finalize_the_attested_chains_checkpoints_on_the_settlement_chain() {
    let attested_port = free_port();
    let mut devnet = Devnet::start(
        3,
        &[
            "--attested-chain",
            "--attested-port",
            &attested_port.to_string(),
        ],
    );
    devnet.wait_line("the attested anvil started", TIMEOUT, |line| {
        line.starts_with("attesting anvil chain 1337")
    });
    while !devnet
        .stdout
        .iter()
        .any(|line| line.starts_with("checkpoint finalized") && field("block", line) == 30)
    {
        devnet.wait_line(
            "checkpoint 30 of the attested chain finalized",
            TIMEOUT,
            |line| line.starts_with("checkpoint finalized"),
        );
    }

    // Node 1 follows both chains, each with its own host and metrics.
    let (_, metrics) = http_get(devnet.base + 101, "/metrics");
    let attested_head = metric(&metrics, "avs_exex_attested_host_head_block")
        .unwrap_or_else(|| panic!("no attested host metrics:\n{metrics}"));
    assert!(
        attested_head >= 30.0,
        "attested head {attested_head}: its checkpoint 30 was finalized"
    );
    let settlement_head =
        metric(&metrics, "avs_exex_host_head_block").expect("avs_exex_host_head_block exported");
    assert!(settlement_head > 0.0, "settlement head {settlement_head}");

    devnet.interrupt_and_check_clean_exit(TIMEOUT, &[attested_port]);
    let finalized: Vec<&String> = devnet
        .stdout
        .iter()
        .filter(|line| line.starts_with("checkpoint finalized"))
        .collect();
    for line in &finalized {
        // The devnet compares with the attested anvil's block and refuses a task of any
        // other chain.
        assert!(
            line.ends_with("matches the chain"),
            "a finalized checkpoint differs from the attested anvil's block: {line}"
        );
    }
    let blocks: Vec<u64> = finalized.iter().map(|line| field("block", line)).collect();
    for checkpoint in [10, 20, 30] {
        assert!(
            blocks.contains(&checkpoint),
            "checkpoint {checkpoint} finalized: {finalized:#?}"
        );
    }
}
