//! End to end, in separate processes: a faulty majority is caught. On a 4-operator devnet
//! (stakes 10/20/30/40) operators 2 and 3 (70% ≥ the 66% threshold) sign wrong state roots, so
//! a wrong checkpoint is finalized. `avs-node task challenge` proves it wrong on-chain, which
//! freezes its signers; the honest operators, now all of the stake, finalize a correct one.
//! No honest node pays for the wrong response: each refuses to submit an aggregate that is not
//! the response it signed, so the transaction that landed it comes from a faulty operator.

mod support;

use std::time::Duration;
use support::{
    avs_node,
    devnet::{Devnet, field, rpc},
};

/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(180);
/// DEVNET TEST KEY: anvil's well-known, public first development account; pays for the challenge.
const CHALLENGER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn finalized(line: &str) -> bool {
    line.starts_with("checkpoint finalized")
}

/// `avs-node <args> <the devnet's chain flags>`; panics with stderr unless it succeeds.
fn command(devnet: &Devnet, args: &[&str]) -> String {
    let chain = devnet.chain_args();
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(chain.iter().map(String::as_str))
        .collect();
    let run = avs_node(&all, &[("AVS_ECDSA_PRIVATE_KEY", CHALLENGER_KEY)]);
    assert!(run.success, "avs-node {all:?} failed:\n{}", run.stderr);
    run.stdout
}

fn frozen(devnet: &Devnet, operator: usize) -> bool {
    let address = devnet.operator_address(operator);
    let json = command(
        devnet,
        &["operator", "status", "--operator", &address, "--json"],
    );
    let status: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
    status["frozen"].as_bool().expect("frozen field")
}

#[test]
fn a_wrong_checkpoint_is_challenged_and_its_signers_frozen() {
    let mut devnet = Devnet::start(4, &["--faulty", "2"]);
    let wrong = devnet.wait_line("a wrong checkpoint finalized", TIMEOUT, |line| {
        finalized(line) && line.ends_with("DOES NOT MATCH THE CHAIN")
    });
    let task = field("task", &wrong);
    assert_eq!(
        field("signed", &wrong),
        70,
        "exactly the faulty operators 2 and 3 signed it: {wrong}"
    );
    assert!(!frozen(&devnet, 2), "nobody is frozen before the challenge");
    let shown: serde_json::Value = serde_json::from_str(&command(
        &devnet,
        &["task", "show", &task.to_string(), "--json"],
    ))
    .expect("task show JSON");
    let tx = shown["response"]["transaction"]
        .as_str()
        .unwrap_or_else(|| panic!("the response's transaction: {shown}"));
    let sender = rpc(
        devnet.rpc_port,
        "eth_getTransactionByHash",
        &serde_json::json!([tx]),
    )["from"]
        .as_str()
        .expect("a sender")
        .to_lowercase();
    let faulty: Vec<String> = [2, 3]
        .iter()
        .map(|&i| devnet.operator_address(i).to_lowercase())
        .collect();
    assert!(
        faulty.contains(&sender),
        "the wrong response was submitted by {sender}, not by a faulty operator {faulty:?}"
    );

    let challenged = command(&devnet, &["task", "challenge", &task.to_string()]);
    assert!(
        challenged.contains("challenge succeeded"),
        "challenge output: {challenged}"
    );
    for operator in [2, 3] {
        assert!(frozen(&devnet, operator), "operator {operator} is frozen");
    }
    for operator in [0, 1] {
        assert!(
            !frozen(&devnet, operator),
            "operator {operator} is not frozen"
        );
    }

    // Tasks created before the freeze still count the faulty stake and may land wrong again;
    // the first one created after it has only honest operators.
    devnet.wait_line("a correct checkpoint after the freeze", TIMEOUT, |line| {
        finalized(line) && field("task", line) > task && line.ends_with("matches the chain")
    });
}
