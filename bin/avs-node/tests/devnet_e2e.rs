//! End to end, in separate processes: `avs-node devnet` starts anvil, deploys EigenLayer's real
//! contracts and the AVS, registers 4 operators and runs 4 `avs-node run` processes that
//! finalize checkpoints through gossip, aggregation and on-chain submission. The devnet checks
//! every finalized checkpoint against anvil's own block and prints the result.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(300);

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port whose node port ranges (base+i, base+100+i, base+200+i) are free.
fn free_base(nodes: u16) -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (start..start + 5_000)
        .step_by(300)
        .find(|&base| {
            (0..nodes).all(|i| {
                port_free(base + i) && port_free(base + 100 + i) && port_free(base + 200 + i)
            })
        })
        .expect("a free port range")
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn four_nodes_finalize_three_checkpoints_matching_the_chain() {
    let anvil = avs_test_support::anvil_path().unwrap_or_else(|err| panic!("{err}"));
    let tools = anvil.parent().expect("anvil's folder").to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let mut child = Command::new(env!("CARGO_BIN_EXE_avs-node"))
        .args(["devnet", "--operators", "4", "--exit-after", "3"])
        .arg("--dir")
        .arg(dir.path().join("devnet"))
        .args([
            "--port",
            &free_port().to_string(),
            "--base-port",
            &free_base(4).to_string(),
        ])
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avs-node starts");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            // SIGTERM lets the devnet stop its nodes and anvil before the test fails.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            panic!(
                "checkpoints 10, 20, 30 not finalized within {TIMEOUT:?}\n{}",
                node_logs(dir.path())
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        status.success(),
        "devnet failed: {status}\nstdout:\n{stdout}\nstderr:\n{}\n{}",
        tail(&stderr),
        node_logs(dir.path())
    );

    let finalized: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("checkpoint finalized"))
        .collect();
    assert!(finalized.len() >= 3, "stdout:\n{stdout}");
    for line in &finalized {
        assert!(
            line.ends_with("matches the chain"),
            "a finalized checkpoint differs from anvil's block: {line}"
        );
    }
    let mut blocks: Vec<u64> = finalized
        .iter()
        .map(|line| {
            let after = line.split(" block ").nth(1).expect("block field");
            after
                .split_whitespace()
                .next()
                .expect("number")
                .parse()
                .expect("block number")
        })
        .collect();
    blocks.sort_unstable();
    assert_eq!(
        &blocks[..3],
        &[10, 20, 30],
        "the first three checkpoints are finalized: {stdout}"
    );
}

/// The last lines of every node's log, so a failure in CI can be diagnosed.
fn node_logs(dir: &std::path::Path) -> String {
    (0..4)
        .map(|i| {
            let log = std::fs::read_to_string(dir.join(format!("devnet/node-{i}.log")))
                .unwrap_or_default();
            format!("--- node {i} log tail ---\n{}", tail(&log))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
