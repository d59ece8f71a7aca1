//! End to end, in separate processes: `avs-node devnet` starts anvil, deploys EigenLayer's real
//! contracts and the AVS, registers 4 operators and runs 4 `avs-node run` processes that
//! finalize checkpoints through gossip, aggregation and on-chain submission. The devnet checks
//! every finalized checkpoint against anvil's own block and prints the result. While it runs, a
//! node's Node API and metrics endpoint are queried as an operator's monitoring would, and
//! Ctrl-C stops it cleanly with its latency summary.

use crate::support::devnet::{
    CHECKPOINT_INTERVAL, Devnet, FIRST_CHECKPOINT, field, http_get, labelled_metric, metric,
    responses_to, try_block_number,
};
use std::time::Duration;

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn four_nodes_finalize_three_checkpoints_matching_the_chain() {
    // No --exit-after: the checks below run while the devnet does, then Ctrl-C stops it.
    let mut devnet = Devnet::start(4, &[]);
    devnet.wait_line("first finalized checkpoint", TIMEOUT, |line| {
        line.starts_with("checkpoint finalized")
    });

    // Node 1 is up: its Node API says healthy and its metrics show the chain it follows, its
    // peers, the signatures it validated, the finalized tasks and EigenLayer's standard node
    // metrics. Peers and score are sampled every 5 s, so they are awaited.
    let base = devnet.base;
    let metrics = devnet.eventually("node 1 healthy with plausible metrics", TIMEOUT, || {
        let (status, _) = http_get(base + 201, "/eigen/node/health");
        let (_, metrics) = http_get(base + 101, "/metrics");
        let ready = status == 200
            && metric(&metrics, "avs_exex_p2p_connected_peers").is_some_and(|peers| peers >= 1.0)
            && metric(&metrics, "avs_exex_tasks_finalized_total").is_some_and(|n| n >= 1.0)
            // Other nodes' signatures validated (in the start-up burst they may all arrive
            // after their task closed and be ignored as stale).
            && labelled_metric(&metrics, "avs_exex_signatures_received_total", "result=\"valid\"")
                .is_some_and(|n| n >= 2.0)
            // EigenLayer's score: every service up. Sampled every 5 s from the health, so it
            // follows the 200 above.
            && labelled_metric(&metrics, "eigen_performance_score", "avs_name=\"avs-exex\"")
                == Some(100.0);
        ready.then_some(metrics)
    });
    let head =
        metric(&metrics, "avs_exex_host_head_block").expect("avs_exex_host_head_block exported");
    assert!(
        head >= 10.0,
        "head block {head}: checkpoint 10 was finalized"
    );
    // Node 1 can be restarted by hand: its command with its keys, owner-only, devnet-marked.
    let dir = devnet.dir();
    let script = std::fs::read_to_string(dir.join("node-1.sh")).expect("node-1.sh written");
    let keys_path = dir.join("node-1").join("devnet-keys.env");
    let keys = std::fs::read_to_string(&keys_path).expect("devnet-keys.env written");
    assert!(
        script.contains(" run ")
            && script.contains("devnet-node-1")
            && script.contains("devnet-keys.env"),
        "{script}"
    );
    assert!(
        keys.contains("THROWAWAY") && keys.contains("AVS_BLS_PRIVATE_KEY=0x"),
        "{keys}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "keys readable by their owner only");
        let syntax = std::process::Command::new("sh")
            .arg("-n")
            .arg(dir.join("node-1.sh"))
            .status()
            .unwrap();
        assert!(syntax.success(), "node-1.sh is valid sh: {script}");
        // It runs from anywhere: it changes to the devnet's directory, loads the keys and
        // starts this binary with the node's arguments (`--help` stops it there).
        let elsewhere = tempfile::tempdir().unwrap();
        let help = std::process::Command::new("sh")
            .arg(std::fs::canonicalize(dir.join("node-1.sh")).unwrap())
            .arg("--help")
            .current_dir(elsewhere.path())
            .output()
            .unwrap();
        assert!(
            help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage"),
            "node-1.sh --help: {}{}",
            String::from_utf8_lossy(&help.stdout),
            String::from_utf8_lossy(&help.stderr)
        );
    }
    let peers = metric(&metrics, "avs_exex_p2p_connected_peers").unwrap();
    assert!(peers <= 3.0, "at most the 3 other nodes are peers: {peers}");
    let latency = metric(&metrics, "avs_exex_quorum_latency_blocks_count").unwrap();
    assert!(latency >= 1.0, "finality latency observed: {latency}");
    let balance = metric(&metrics, "avs_exex_wallet_balance_ether").unwrap();
    assert!(balance > 0.0, "the devnet funds every wallet: {balance}");
    // EigenLayer's standard node metrics, with their avs_name label.
    let stake = labelled_metric(&metrics, "eigen_registered_stakes", "quorum_number=\"0\"")
        .expect("eigen_registered_stakes of quorum 0");
    assert!(stake > 0.0, "node 1 is registered with stake: {stake}");
    let calls = labelled_metric(&metrics, "eigen_rpc_request_total", "method=\"eth_call\"")
        .expect("eigen_rpc_request_total of eth_call");
    assert!(calls >= 1.0, "registry reads are eth_calls: {calls}");

    // The settlement chain's first three checkpoints finalized (possibly already), then Ctrl-C.
    let first_three = [0, 1, 2].map(|n| FIRST_CHECKPOINT + n * CHECKPOINT_INTERVAL);
    let finalized_blocks = |lines: &[String]| -> Vec<u64> {
        lines
            .iter()
            .filter(|line| line.starts_with("checkpoint finalized"))
            .map(|line| field("block", line))
            .collect()
    };
    while !first_three
        .iter()
        .all(|b| finalized_blocks(&devnet.stdout).contains(b))
    {
        devnet.wait_line("checkpoints 10, 20 and 30 finalized", TIMEOUT, |line| {
            line.starts_with("checkpoint finalized")
        });
    }
    devnet.interrupt_and_check_clean_exit(TIMEOUT, &[]);
    // The nodes log to files: plain text, no terminal colour codes.
    for i in 0..4 {
        let log =
            std::fs::read_to_string(devnet.dir().join(format!("node-{i}.log"))).expect("node log");
        assert!(log.contains("INFO"), "node {i} logged: {log}");
        assert!(!log.contains('\u{1b}'), "node {i} log has ANSI escapes");
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
    let summary = devnet
        .stdout
        .iter()
        .find(|line| line.starts_with("finality latency over "))
        .unwrap_or_else(|| panic!("no latency summary on Ctrl-C: {:#?}", devnet.stdout));
    assert!(summary.contains(" blocks / "), "{summary}");
    let mut blocks: Vec<u64> = finalized.iter().map(|line| field("block", line)).collect();
    blocks.sort_unstable();
    assert!(
        blocks.starts_with(&first_three),
        "the first three checkpoints are finalized: {finalized:#?}"
    );
}

/// Reorg depths of the storm, 1–8, in a fixed order.
const STORM: [u64; 14] = [3, 1, 8, 2, 5, 4, 7, 1, 6, 2, 8, 3, 5, 4];
/// Nodes sign and task blocks this deep: deeper than any reorg of the storm.
const STORM_ATTEST_DEPTH: u64 = 10;

/// A storm of settlement reorgs (anvil_reorg, depth 1–8, one every two blocks) takes out task
/// creations and responses again and again. Afterwards every checkpoint of the final chain is
/// finalized with the final chain's roots, and no node refused to sign a re-created task (issue
/// 15: before, re-created indices were stale in the validator, reverted responses were never
/// submitted again, and the slashing-protection record keyed by index refused re-created tasks).
#[test]
fn a_reorg_storm_leaves_every_checkpoint_finalized_with_the_final_roots() {
    let depth = STORM_ATTEST_DEPTH.to_string();
    let mut devnet = Devnet::start(4, &["--attest-depth", &depth]);
    devnet.wait_line("first finalized checkpoint", TIMEOUT, |line| {
        line.starts_with("checkpoint finalized")
    });
    let port = devnet.rpc_port;
    for reorg in STORM {
        let at = devnet.block_number();
        devnet.eventually("two more blocks", TIMEOUT, || {
            try_block_number(port).ok().filter(|&head| head >= at + 2)
        });
        devnet.rpc("anvil_reorg", &serde_json::json!([reorg, []]));
    }
    // Every checkpoint at the attestation depth by the end of the storm must end up answered
    // on the final chain. Awaited, not slept on: a re-created task waits up to 16 blocks for its
    // lost creation, and a response a reorg dropped unmined is sent again only after the
    // submitter's receipt timeout.
    let interval = CHECKPOINT_INTERVAL;
    let last = (devnet.block_number() - STORM_ATTEST_DEPTH) / interval * interval;
    let tasks = devnet.wait_all_answered(
        "every checkpoint up to the storm's end answered on the final chain",
        TIMEOUT,
        last,
    );
    // Each response carries the final chain's roots.
    for checkpoint in (FIRST_CHECKPOINT..=last).step_by(interval as usize) {
        let block = devnet.rpc(
            "eth_getBlockByNumber",
            &serde_json::json!([format!("{checkpoint:#x}"), false]),
        );
        let answered = responses_to(&tasks, checkpoint);
        for response in answered {
            for (ours, theirs) in [
                ("blockHash", "hash"),
                ("stateRoot", "stateRoot"),
                ("receiptsRoot", "receiptsRoot"),
            ] {
                assert_eq!(
                    response[ours], block[theirs],
                    "checkpoint {checkpoint}: {ours} differs from the final chain"
                );
            }
        }
    }
    devnet.interrupt_and_check_clean_exit(TIMEOUT, &[]);
    let logs: String = (0..4)
        .map(|i| std::fs::read_to_string(devnet.dir().join(format!("node-{i}.log"))).unwrap())
        .collect();
    for refusal in [
        "slashing protection refused",
        "task closed for good before it could be signed",
    ] {
        assert!(
            !logs.contains(refusal),
            "a node refused to sign a task: {refusal}"
        );
    }
    // The storm did hit what it was meant to.
    assert!(
        logs.contains("task creation reverted"),
        "no task creation was reorged out"
    );
    assert!(
        logs.contains("task response reverted"),
        "no response was reorged out"
    );
}
