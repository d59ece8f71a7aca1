//! Smoke test of the tool chain: the pinned anvil starts, answers over alloy, and is stopped.

use alloy::providers::{Provider, ProviderBuilder, ext::AnvilApi};
use std::path::Path;

fn process_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; anvil is reaped by `AnvilInstance::drop`, so a
    // remaining entry means the process outlived its handle.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn anvil_answers_chain_id_and_block_number_then_stops() {
    let anvil = avs_test_support::anvil().chain_id(31_337).spawn();
    let pid = anvil.child().id();
    let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url());

    assert_eq!(provider.get_chain_id().await.expect("eth_chainId"), 31_337);
    assert_eq!(
        provider.get_block_number().await.expect("eth_blockNumber"),
        0
    );
    provider
        .anvil_mine(Some(3), None)
        .await
        .expect("anvil_mine");
    assert_eq!(
        provider.get_block_number().await.expect("eth_blockNumber"),
        3
    );

    assert!(
        process_alive(pid),
        "anvil should run while its handle lives"
    );
    drop(anvil);
    assert!(!process_alive(pid), "anvil {pid} outlived its handle");
}

#[test]
fn anvil_is_stopped_when_a_test_panics() {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let outcome = std::panic::catch_unwind(move || {
        let anvil = avs_test_support::anvil().spawn();
        pid_tx.send(anvil.child().id()).expect("send pid");
        panic!("simulated test failure while anvil runs");
    });
    assert!(outcome.is_err(), "the closure must have panicked");
    let pid = pid_rx.recv().expect("anvil was started");
    assert!(!process_alive(pid), "anvil {pid} outlived a panicking test");
}

#[test]
fn missing_tool_error_says_how_to_fix() {
    let err = avs_test_support::find_tool("surely-not-a-real-tool", "AVS_TEST_NO_SUCH_TOOL")
        .expect_err("tool cannot exist");
    let message = err.to_string();
    assert!(
        message.contains("run `just tools`"),
        "unhelpful error: {message}"
    );
    assert!(
        message.contains("$AVS_TEST_NO_SUCH_TOOL"),
        "error should name the override: {message}"
    );
}
