//! End to end, in separate processes: a node dies and comes back. On a 4-operator devnet
//! (stakes 10/20/30/40) node 1 (stake 20, not the task generator) is SIGKILLed; the other three
//! hold 80% ≥ the 66% threshold and keep finalizing checkpoints without it. Restarted, node 1
//! catches up and signs a later task, and its slashing-protection record never holds two
//! different responses for one task.

mod support;

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};
use support::devnet::{Devnet, field, signal};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The node that is killed: operator 1, stake 20 of 100.
const NODE: usize = 1;

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

#[test]
fn a_killed_node_is_not_needed_and_catches_up_after_a_restart() {
    let mut devnet = Devnet::start(4, &["--restart-on-exit"]);
    devnet.wait_line("first finalized checkpoint", TIMEOUT, finalized);

    // Down and held down: the devnet restarts it only once the hold file is gone.
    let hold = devnet.dir().join(format!("node-{NODE}.hold"));
    std::fs::write(&hold, "").expect("hold file");
    signal("-KILL", devnet.node_pid(NODE));
    devnet.wait_line("node 1's exit", TIMEOUT, |line| {
        line.starts_with("node 1 exited")
    });

    // A checkpoint above the head at the kill was tasked after it (tasks created before, e.g.
    // in the start-up burst, may carry node 1's signature).
    let head_at_kill = devnet.block_number();
    let without = devnet.wait_line("a checkpoint finalized without node 1", TIMEOUT, |line| {
        finalized(line) && field("block", line) > head_at_kill
    });
    let signed = field("signed", &without);
    assert!(
        (66..=80).contains(&signed),
        "only operators 0, 2, 3 (80% of stake) can sign, and at least the 66% threshold did: {without}"
    );
    assert!(without.ends_with("matches the chain"), "{without}");

    std::fs::remove_file(&hold).expect("remove the hold file");
    devnet.wait_line("node 1's restart", TIMEOUT, |line| {
        line.starts_with("node 1 restarted")
    });

    // Every task above `restarted` was still open at the restart (node 1 was down since task
    // `killed + 1`): a record for one proves the restarted node signs again.
    let restarted = last_task(&devnet);
    let store = devnet
        .dir()
        .join(format!("node-{NODE}/slashing-protection.jsonl"));
    let deadline = Instant::now() + TIMEOUT;
    while !records(&store).iter().any(|(task, _)| *task > restarted) {
        if Instant::now() > deadline {
            devnet.fail(&format!(
                "node 1 signed no task after {restarted} within {TIMEOUT:?} of its restart"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let mut digests: HashMap<u64, String> = HashMap::new();
    for (task, digest) in records(&store) {
        let first = digests.entry(task).or_insert_with(|| digest.clone());
        assert_eq!(
            *first, digest,
            "two different responses signed for task {task}"
        );
    }
}
