//! End to end, in separate processes: a faulty majority is caught with no manual step. On a
//! 4-operator devnet (stakes 10/20/30/40) operators 2 and 3 (70% ≥ the 66% threshold) sign
//! wrong state roots, so a wrong checkpoint is finalized. The honest nodes 0 and 1 run the
//! challenger role, each the other's stand-in: they see the response differ from their own
//! block, and the first proves it wrong on-chain and so slashes (10 % of their allocated
//! magnitude, through EigenLayer's AllocationManager) and freezes its signers (the second finds
//! that challenge, once mined, and carries on); the honest operators, now all of the stake, finalize a correct one.
//! No honest node pays for the wrong response: each refuses to submit an aggregate that is not
//! the response it signed, so the transaction that landed it comes from a faulty operator.
//! Consumers get nothing from the invalidated checkpoint (`avs-node proof` and the example
//! consumer on-chain refuse it).

use crate::support::{
    avs_node,
    devnet::{Devnet, field, http_get, labelled_metric},
};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::ProviderBuilder,
    signers::local::PrivateKeySigner,
};
use avs_contracts::{operator::WAD, proofs::RemoteTokenOracle};
use std::time::Duration;

/// The devnet's settlement chain, whose checkpoints can be challenged.
const SETTLEMENT_CHAIN: u64 = 31337;
/// Generous: debug build, 2 cores, other tests running in parallel.
const TIMEOUT: Duration = Duration::from_secs(180);
/// DEVNET TEST KEY: anvil's well-known, public first development account; pays for the challenge.
const CHALLENGER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn finalized(line: &str) -> bool {
    line.starts_with("checkpoint finalized")
}

/// `avs-node <args> <chain flags>` paying with the challenger key.
fn run_with_chain(chain: &[String], args: &[&str]) -> crate::support::Run {
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(chain.iter().map(String::as_str))
        .collect();
    avs_node(&all, &[("AVS_ECDSA_PRIVATE_KEY", CHALLENGER_KEY)])
}

/// `avs-node <args> <the devnet's chain flags>`; panics with stderr unless it succeeds.
fn command(chain: &[String], args: &[&str]) -> String {
    let run = run_with_chain(chain, args);
    assert!(run.success, "avs-node {args:?} failed:\n{}", run.stderr);
    run.stdout
}

fn status(chain: &[String], address: &str) -> serde_json::Value {
    let json = command(
        chain,
        &["operator", "status", "--operator", address, "--json"],
    );
    serde_json::from_str(&json).expect("status JSON")
}

fn frozen(chain: &[String], address: &str) -> bool {
    status(chain, address)["frozen"]
        .as_bool()
        .expect("frozen field")
}

/// Operator set 0's allocated magnitude of `address`, as EigenLayer's AllocationManager says.
fn magnitude(chain: &[String], address: &str) -> u64 {
    let status = status(chain, address);
    status["allocations"][0]["magnitude"]
        .as_u64()
        .unwrap_or_else(|| panic!("magnitude in {status}"))
}

/// A consumer gets nothing from a checkpoint a challenge invalidated: `avs-node proof` refuses
/// it, and the example consumer on the settlement chain reverts with `CheckpointInvalidated`
/// before it looks at any proof.
fn consumers_refuse_the_invalidated_checkpoint(devnet: &Devnet, block: u64, task: u64) {
    let settlement = format!("http://127.0.0.1:{}", devnet.rpc_port);
    let deployment = devnet.dir().join("deployment.json");
    let any_account = devnet.operator_address(0);
    let block_arg = block.to_string();
    let refused = avs_node(
        &[
            "proof",
            "account",
            "--block",
            &block_arg,
            "--address",
            &any_account,
            "--settlement-rpc-url",
            &settlement,
            "--deployment",
            &deployment.display().to_string(),
        ],
        &[],
    );
    assert!(!refused.success, "a proof at an invalidated checkpoint");
    assert!(
        refused
            .stderr
            .contains(&format!("was invalidated by a challenge of task {task}")),
        "{}",
        refused.stderr
    );

    let task_manager: Address = serde_json::from_value(
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(&deployment).expect("deployment.json"),
        )
        .expect("deployment JSON")["avs"]["taskManager"]
            .clone(),
    )
    .expect("taskManager");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let signer: PrivateKeySigner = CHALLENGER_KEY.parse().expect("key");
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(settlement.parse().expect("url"));
        let oracle = RemoteTokenOracle::deploy(
            &provider,
            task_manager,
            SETTLEMENT_CHAIN,
            Address::repeat_byte(0x42),
            U256::ZERO,
            true,
        )
        .await
        .expect("deploy the example consumer");
        let err = oracle
            .balanceOf(Address::repeat_byte(0x43), block, vec![], vec![])
            .call()
            .await
            .expect_err("an invalidated checkpoint");
        let invalidated = err
            .as_decoded_error::<RemoteTokenOracle::CheckpointInvalidated>()
            .unwrap_or_else(|| panic!("CheckpointInvalidated expected: {err}"));
        assert_eq!(
            (
                invalidated.chainId,
                invalidated.blockNumber,
                u64::from(invalidated.taskIndex)
            ),
            (SETTLEMENT_CHAIN, block, task)
        );
    });
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
    let chain = devnet.chain_args();
    let address: Vec<String> = (0..4).map(|i| devnet.operator_address(i)).collect();
    let shown: serde_json::Value = serde_json::from_str(&command(
        &chain,
        &["task", "show", &task.to_string(), "--json"],
    ))
    .expect("task show JSON");
    let tx = shown["response"]["transaction"]
        .as_str()
        .unwrap_or_else(|| panic!("the response's transaction: {shown}"));
    let sender = devnet.rpc("eth_getTransactionByHash", &serde_json::json!([tx]))["from"]
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

    // The challenger node acts by itself.
    devnet.eventually(
        "the faulty signers frozen by the challenger",
        TIMEOUT,
        || (frozen(&chain, &address[2]) && frozen(&chain, &address[3])).then_some(()),
    );
    consumers_refuse_the_invalidated_checkpoint(&devnet, field("block", &wrong), task);
    // Whichever raised it, each challenger that saw the wrong response counts the challenge as
    // succeeded (the stand-in found it on-chain); tasks created before the freeze may land
    // wrong responses too, each challenged once.
    let base = devnet.base;
    for node in [0, 1] {
        devnet.eventually(
            &format!("node {node} counting a succeeded challenge"),
            TIMEOUT,
            || {
                let (_, metrics) = http_get(base + 100 + node, "/metrics");
                labelled_metric(
                    &metrics,
                    "avs_exex_challenges_total",
                    "result=\"succeeded\"",
                )
                .is_some_and(|n| n >= 1.0)
                .then_some(())
            },
        );
    }
    // By hand, on a task challenged already, the CLI finds the mined challenge and completes the
    // punishment (what finishes one that EigenLayer's pause interrupted): nothing is punished
    // twice.
    let again = run_with_chain(&chain, &["task", "challenge", &task.to_string()]);
    assert!(again.success, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains(&format!("task {task}: challenge succeeded in transaction")),
        "{}",
        again.stdout
    );
    // The signers lost the devnet's 10 % of their allocated magnitude; the honest operators
    // lost nothing. The devnet printed each punishment.
    for operator in [0, 1] {
        assert!(
            !frozen(&chain, &address[operator]),
            "operator {operator} is not frozen"
        );
        assert_eq!(
            magnitude(&chain, &address[operator]),
            WAD,
            "operator {operator}"
        );
    }
    for operator in [2, 3] {
        assert_eq!(
            magnitude(&chain, &address[operator]),
            WAD - WAD / 10,
            "operator {operator} slashed once"
        );
    }

    // Tasks created before the freeze still count the faulty stake and may land wrong again;
    // the first one created after it has only honest operators.
    devnet.wait_line("a correct checkpoint after the freeze", TIMEOUT, |line| {
        finalized(line) && field("task", line) > task && line.ends_with("matches the chain")
    });
    let slash_line = |line: &str| line.starts_with("operator slashed:");
    let slashed = match devnet.stdout.iter().find(|line| slash_line(line)) {
        Some(line) => line.clone(),
        None => devnet.wait_line("the devnet reporting a slash", TIMEOUT, slash_line),
    };
    let after = WAD - WAD / 10;
    assert!(
        slashed.contains("frozen true") && slashed.contains(&format!("magnitude {after}/{after}")),
        "{slashed}"
    );
}
