//! End to end, in separate processes: `avs-node devnet` starts anvil, deploys EigenLayer's real
//! contracts and the AVS, registers 4 operators and runs 4 `avs-node run` processes that
//! finalize checkpoints through gossip, aggregation and on-chain submission. The devnet checks
//! every finalized checkpoint against anvil's own block and prints the result. While it runs, a
//! node's Node API and metrics endpoint are queried as an operator's monitoring would.

mod support;

use std::time::Duration;
use support::devnet::{Devnet, field, http_get, metric};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn four_nodes_finalize_three_checkpoints_matching_the_chain() {
    let mut devnet = Devnet::start(4, &["--exit-after", "3"]);
    devnet.wait_line("first finalized checkpoint", TIMEOUT, |line| {
        line.starts_with("checkpoint finalized")
    });

    // Node 1 is up: its Node API says healthy and its metrics show the chain it follows and
    // EigenLayer's standard node metrics.
    let (status, body) = http_get(devnet.base + 201, "/eigen/node/health");
    assert_eq!(status, 200, "Node API health: {body}");
    let (status, metrics) = http_get(devnet.base + 101, "/metrics");
    assert_eq!(status, 200, "metrics: {metrics}");
    let head = metric(&metrics, "avs_host_head_block").expect("avs_host_head_block exported");
    assert!(head > 0.0, "head block {head}");
    // EigenLayer's standard node metric (with its avs_name label; the other eigen_* ones
    // appear once they have values).
    assert!(
        metrics.contains("\neigen_performance_score{avs_name=\"avs-exex\"} "),
        "eigen_performance_score missing from:\n{metrics}"
    );

    let status = devnet.wait_exit(TIMEOUT);
    if !status.success() {
        devnet.fail(&format!("devnet failed: {status}"));
    }
    let finalized: Vec<String> = devnet
        .stdout
        .iter()
        .filter(|line| line.starts_with("checkpoint finalized"))
        .cloned()
        .collect();
    for line in &finalized {
        assert!(
            line.ends_with("matches the chain"),
            "a finalized checkpoint differs from anvil's block: {line}"
        );
    }
    let mut blocks: Vec<u64> = finalized.iter().map(|line| field("block", line)).collect();
    blocks.sort_unstable();
    assert!(
        blocks.starts_with(&[10, 20, 30]),
        "the first three checkpoints are finalized: {finalized:#?}"
    );
}
