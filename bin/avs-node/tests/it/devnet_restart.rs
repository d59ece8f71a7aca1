//! End to end, in separate processes: nodes die and come back, and the peer network heals.
//!
//! A 5-operator devnet (stakes 10/20/30/40/50 of 150, threshold 66 %; nodes 0 and 1 hold the
//! task-generator role, node 0 is everyone's bootnode). In turn node 0 (the bootnode and a
//! generator), node 2 and node 3 are SIGKILLed and held down until a checkpoint tasked after
//! the kill finalizes without them, then restarted. Each time the others hold ≥ 66 % and keep
//! finalizing (node 1 keeps tasking while node 0 is down).
//!
//! Before issue 16 this partitioned the network for good: the restarted bootnode stayed alone
//! ("No known peers"), nodes 2 and 3 rejoined only through it, and the islands {0, 2, 3}
//! (53 %) and {1, 4} (47 %) were both below the threshold: no checkpoint finalized again. Now
//! every restarted node dials the peers it stored and its peers dial it again, so:
//! - after each restart, within [`HEAL_BOUND`], every node is connected to all four others and
//!   its `avs_exex_p2p_reachable_stake_ratio` is back at 1;
//! - every checkpoint of the run finalizes;
//! - the restarted node 3 signs again and its slashing-protection record never holds two
//!   different responses for one task;
//! - with the only bootnode down for good, node 4 comes back as a new node (fresh p2p
//!   identity, no peer store) and joins the three others from their on-chain sockets.

use crate::support::devnet::{CHECKPOINT_INTERVAL, Devnet, field, metric, signal, try_http_get};
use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(180);
/// Every node is connected to all and hears every operator again within this long after a
/// restart: the
/// restarted node starts (a few seconds in a debug build), redials and is redialled (back-off
/// at most a few seconds after a short outage), and signs the next checkpoint (one every 10
/// blocks of 1 s); the ratio counts the signatures of the last two tasks.
const HEAL_BOUND: Duration = Duration::from_secs(60);
/// Nodes killed and restarted, in this order: the bootnode and generator, then two others.
const KILLED: [usize; 3] = [0, 2, 3];
/// Operators of the devnet.
const NODES: u16 = 5;

fn finalized(line: &str) -> bool {
    line.starts_with("checkpoint finalized")
}

/// The highest task index finalized so far.
fn last_task(devnet: &Devnet) -> u64 {
    devnet
        .stdout
        .iter()
        .filter(|line| finalized(line))
        .map(|line| field("task", line))
        .max()
        .expect("a checkpoint was finalized")
}

/// The slashing-protection record's task lines as (task index, digest); its watermark lines
/// are skipped.
fn records(path: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("a bad record line {line:?}: {err}"));
            record.get("low_watermark").is_none().then(|| {
                (
                    record["task_index"].as_u64().expect("task_index"),
                    record["digest"].as_str().expect("digest").to_owned(),
                )
            })
        })
        .collect()
}

/// SIGKILLs `node`, holds it down until a checkpoint tasked after the kill finalized without
/// it, then lets the devnet restart it. Returns that checkpoint's line.
fn kill_and_restart(devnet: &mut Devnet, node: usize) -> String {
    let hold = devnet.dir().join(format!("node-{node}.hold"));
    std::fs::write(&hold, "").expect("hold file");
    signal("-KILL", devnet.node_pid(node));
    let exited = format!("node {node} exited");
    devnet.wait_line(&exited, TIMEOUT, |line| line.starts_with(&exited));
    // A checkpoint above the head at the kill was tasked after it (tasks created before may
    // carry the killed node's signature).
    let head_at_kill = devnet.block_number();
    let without = devnet.wait_line(
        &format!("a checkpoint finalized without node {node}"),
        TIMEOUT,
        |line| finalized(line) && field("block", line) > head_at_kill,
    );
    assert!(without.ends_with("matches the chain"), "{without}");
    std::fs::remove_file(&hold).expect("remove the hold file");
    let restarted = format!("node {node} restarted");
    devnet.wait_line(&restarted, TIMEOUT, |line| line.starts_with(&restarted));
    without
}

/// Waits until every node is connected to every other and hears every operator
/// (`avs_exex_p2p_reachable_stake_ratio` = 1); fails after `bound`. Returns how long it took.
fn wait_healed(devnet: &mut Devnet, what: &str, bound: Duration) -> Duration {
    let base = devnet.base;
    let start = Instant::now();
    devnet.eventually(what, bound, || {
        (0..NODES)
            .all(|i| {
                let Ok((_, metrics)) = try_http_get(base + 100 + i, "/metrics") else {
                    return false;
                };
                metric(&metrics, "avs_exex_p2p_connected_peers") == Some(f64::from(NODES - 1))
                    && metric(&metrics, "avs_exex_p2p_reachable_stake_ratio") == Some(1.0)
            })
            .then(|| start.elapsed())
    })
}

#[test]
fn the_network_heals_after_the_bootnode_and_two_other_nodes_restart() {
    let mut devnet = Devnet::start(NODES, &["--restart-on-exit"]);
    devnet.wait_line("first finalized checkpoint", TIMEOUT, finalized);
    // Until chain discovery, nodes find each other through the bootnode: the network must
    // have formed before the bootnode goes.
    wait_healed(&mut devnet, "the network formed", TIMEOUT);

    let mut heal_times = Vec::new();
    for node in KILLED {
        let without = kill_and_restart(&mut devnet, node);
        let signed = field("signed", &without);
        let stake_of = |i: usize| 10 * (i as u64 + 1);
        let alive = 100 * (150 - stake_of(node)) / 150;
        assert!(
            (66..=alive).contains(&signed),
            "without node {node} at most {alive}% can sign, and at least the 66% threshold did: {without}"
        );
        heal_times.push(wait_healed(
            &mut devnet,
            &format!("every node connected to all and hearing all after node {node}'s restart"),
            HEAL_BOUND,
        ));
    }
    // The figures for the record (`cargo test -- --nocapture`).
    #[allow(clippy::print_stdout)]
    {
        println!("healed after each restart of {KILLED:?} in {heal_times:?}");
    }

    // The restarted node 3 signs again (a task above those finalized at its restart), and
    // never two responses to one task.
    let restarted = last_task(&devnet);
    let store = devnet.dir().join("node-3/slashing-protection.jsonl");
    devnet.eventually("node 3 signing after its restart", TIMEOUT, || {
        records(&store)
            .iter()
            .any(|(task, _)| *task > restarted)
            .then_some(())
    });
    let mut digests: HashMap<u64, String> = HashMap::new();
    for (task, digest) in records(&store) {
        let first = digests.entry(task).or_insert_with(|| digest.clone());
        assert_eq!(
            *first, digest,
            "two different responses signed for task {task}"
        );
    }

    // Every checkpoint of the run finalized: none was lost to a partition.
    let last =
        devnet.block_number() / CHECKPOINT_INTERVAL * CHECKPOINT_INTERVAL - CHECKPOINT_INTERVAL;
    devnet.wait_all_answered("every checkpoint of the run answered", TIMEOUT, last);

    // The only bootnode gone for good, and node 4 back as a new node (a fresh p2p identity, no
    // peer store): nobody knows it and it knows nobody, except the operators' sockets on
    // chain. It joins all three others from them.
    let dir = devnet.dir();
    let hold = |node: usize| dir.join(format!("node-{node}.hold"));
    std::fs::write(hold(0), "").expect("hold file");
    std::fs::write(hold(4), "").expect("hold file");
    for node in [0, 4] {
        signal("-KILL", devnet.node_pid(node));
        let exited = format!("node {node} exited");
        devnet.wait_line(&exited, TIMEOUT, |line| line.starts_with(&exited));
    }
    for file in ["p2p/node.key", "p2p/peers.json"] {
        std::fs::remove_file(dir.join("node-4").join(file)).expect(file);
    }
    std::fs::remove_file(hold(4)).expect("remove the hold file");
    devnet.wait_line("node 4's restart", TIMEOUT, |line| {
        line.starts_with("node 4 restarted")
    });
    let metrics_port = devnet.base + 104;
    devnet.eventually(
        "the new node 4 connected to nodes 1, 2 and 3 without a bootnode",
        HEAL_BOUND,
        || {
            let (_, metrics) = try_http_get(metrics_port, "/metrics").ok()?;
            (metric(&metrics, "avs_exex_p2p_connected_peers") == Some(3.0)).then_some(())
        },
    );
}
