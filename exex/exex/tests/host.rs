//! The host against a real anvil: live following, reorgs, reverts, restarts of the node and of
//! the host, and a tampering proxy; and its state-root stage against a node serving blocks the
//! Ethereum execution specification executed, with their witnesses.

mod support;

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, U256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::{TransactionRequest, anvil::ReorgOptions},
};
use avs_exex::{
    BlockReceipt, BlockTransaction, ExExNotification, StateRootCheck,
    host::{FetchError, HostError, StateRootMode},
};
use avs_exex_stateless::test_utils::{Fixture, spec_fixtures};
use support::{
    RunningHost, StatefulAnvil, Tamper, TamperProxy, collect_until, node_hashes,
    witness_node::{Behaviour, WitnessNode},
};

const WAIT: Duration = Duration::from_secs(30);

async fn send_transfer(provider: &impl Provider) -> B256 {
    let from = provider.get_accounts().await.expect("accounts")[0];
    let tx = TransactionRequest::default()
        .with_from(from)
        .with_to(Address::repeat_byte(0x42))
        .with_value(U256::from(1_000));
    let pending = provider.send_transaction(tx).await.expect("send tx");
    pending.watch().await.expect("mined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_live_over_ws_and_delivers_verified_blocks_in_order() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(3), None).await.expect("mine");

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.ws_url = Some(anvil.ws_endpoint());
    // Polling far slower than the test: blocks must arrive through the subscription.
    config.poll_interval = Duration::from_secs(60);
    let mut host = RunningHost::start(config);

    let first = collect_until(&mut host.notifications, 3, WAIT).await;
    for _ in 0..3 {
        send_transfer(&provider).await;
    }
    let rest = collect_until(&mut host.notifications, 6, WAIT).await;

    let delivered: Vec<_> = first
        .iter()
        .chain(&rest)
        .flat_map(support::committed)
        .collect();
    let numbers: Vec<u64> = delivered.iter().map(|b| b.number).collect();
    assert_eq!(
        numbers,
        (0..=6).collect::<Vec<_>>(),
        "every block once, in order"
    );
    assert_eq!(
        delivered,
        node_hashes(&provider, 0, 6).await,
        "hashes are the node's"
    );
    // Blocks with a transfer carry its receipt.
    for n in first.iter().chain(&rest) {
        for block in n.committed_chain().expect("commits only").blocks_iter() {
            assert_eq!(block.receipts.len(), block.transactions().len());
            if block.number() >= 4 {
                assert_eq!(block.transactions().len(), 1, "block {}", block.number());
            }
        }
    }
    assert_eq!(host.metric("avs_exex_host_head_block"), 6.0);
    assert_eq!(host.metric("avs_exex_host_invalid_blocks_total"), 0.0);
    host.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_reorg_is_one_notification_with_exact_old_and_new_blocks() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(6), None).await.expect("mine");

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.poll_interval = Duration::from_millis(50);
    let mut host = RunningHost::start(config);
    collect_until(&mut host.notifications, 6, WAIT).await;
    let before = node_hashes(&provider, 0, 6).await;

    provider
        .anvil_reorg(ReorgOptions {
            depth: 2,
            tx_block_pairs: vec![],
        })
        .await
        .expect("anvil_reorg");
    let after = node_hashes(&provider, 0, 6).await;
    assert_ne!(before[5..], after[5..], "anvil replaced blocks 5 and 6");
    assert_eq!(before[..5], after[..5]);

    let notification = tokio::time::timeout(WAIT, host.notifications.recv())
        .await
        .expect("a reorg notification in time")
        .expect("host running");
    let ExExNotification::ChainReorged { old, new } = &notification else {
        panic!("expected ChainReorged, got {notification:?}")
    };
    let old: Vec<_> = old.blocks_iter().map(|b| b.num_hash()).collect();
    let new: Vec<_> = new.blocks_iter().map(|b| b.num_hash()).collect();
    assert_eq!(old, before[5..]);
    assert_eq!(new, after[5..]);
    assert_eq!(host.metric("avs_exex_host_reorgs_total"), 1.0);

    // A rollback without replacement is one ChainReverted.
    provider
        .anvil_rollback(Some(2))
        .await
        .expect("anvil_rollback");
    let notification = tokio::time::timeout(WAIT, host.notifications.recv())
        .await
        .expect("a revert notification in time")
        .expect("host running");
    let ExExNotification::ChainReverted { old } = &notification else {
        panic!("expected ChainReverted, got {notification:?}")
    };
    let old: Vec<_> = old.blocks_iter().map(|b| b.num_hash()).collect();
    assert_eq!(old, after[5..]);

    // And following continues on the new branch.
    provider.anvil_mine(Some(1), None).await.expect("mine");
    let next = collect_until(&mut host.notifications, 5, WAIT).await;
    assert_eq!(
        next.iter().flat_map(support::committed).collect::<Vec<_>>(),
        node_hashes(&provider, 5, 5).await
    );
    assert!(
        host.notifications.try_recv().is_err(),
        "nothing else was delivered"
    );
    host.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restart_with_state_is_followed_without_gap() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut anvil = StatefulAnvil::start(&state.path().join("anvil-state.json"));
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(anvil.url().parse().expect("url"));
    provider.anvil_mine(Some(4), None).await.expect("mine");

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.url(), data.path());
    config.ws_url = Some(anvil.ws_url());
    config.poll_interval = Duration::from_millis(100);
    config.retry_max = Duration::from_millis(400);
    let mut host = RunningHost::start(config);
    let mut delivered: Vec<_> = collect_until(&mut host.notifications, 4, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    let before = node_hashes(&provider, 0, 4).await;

    anvil.restart();
    assert_eq!(
        node_hashes(&provider, 0, 4).await,
        before,
        "anvil kept its chain"
    );
    provider
        .anvil_mine(Some(3), None)
        .await
        .expect("mine after restart");

    delivered.extend(
        collect_until(&mut host.notifications, 7, WAIT)
            .await
            .iter()
            .flat_map(support::committed),
    );
    assert_eq!(
        delivered,
        node_hashes(&provider, 0, 7).await,
        "no gap, no duplicate"
    );
    host.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_stopped_mid_backfill_resumes_without_gap_or_duplicate() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(300), None).await.expect("mine");
    let expected = node_hashes(&provider, 0, 300).await;

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.batch_size = 10;
    config.fetch_concurrency = 4;
    // Small segments, so pruning has something to remove.
    config.wal.max_segment_bytes = 16 * 1024;

    let mut host = RunningHost::start(config.clone());
    let mut delivered: Vec<_> = collect_until(&mut host.notifications, 100, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    // Stop mid-backfill; whatever the ExEx processed before the stop is in the sequence too.
    let (rest, result) = host.stop_collecting().await;
    result.expect("clean stop");
    delivered.extend(rest.iter().flat_map(support::committed));
    let stopped_at = delivered.last().expect("some blocks").number;
    assert!(
        stopped_at < 300,
        "the host was stopped before the end of backfill ({stopped_at})"
    );

    let mut host = RunningHost::start(config);
    delivered.extend(
        collect_until(&mut host.notifications, 300, WAIT)
            .await
            .iter()
            .flat_map(support::committed),
    );
    assert_eq!(
        delivered, expected,
        "across the restart: no gap, no duplicate, the node's hashes"
    );
    let wal_bytes = host.metric("avs_exex_host_wal_bytes");
    host.stop().await.expect("clean stop");
    assert!(wal_bytes > 0.0);
    let segments = std::fs::read_dir(data.path().join("wal"))
        .expect("wal dir")
        .count();
    assert!(
        segments < 10,
        "the WAL was pruned below the finished height ({segments} segments)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_receipts_or_transactions_are_never_delivered() {
    for tamper in [Tamper::Receipt, Tamper::Transaction] {
        let anvil = avs_test_support::anvil().spawn();
        let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
        provider.anvil_mine(Some(2), None).await.expect("mine");
        send_transfer(&provider).await; // block 3 has a transaction and a receipt to tamper with
        let proxy = TamperProxy::start(anvil.endpoint(), tamper).await;

        let data = tempfile::tempdir().expect("tempdir");
        let mut config = support::config(&proxy.url(), data.path());
        config.max_consecutive_invalid = 3;
        config.retry_initial = Duration::from_millis(10);
        config.retry_max = Duration::from_millis(20);
        config.batch_size = 1;
        let mut host = RunningHost::start(config);

        let result = tokio::time::timeout(WAIT, host.finished())
            .await
            .expect("the host gives up on the lying node in time");
        let Err(HostError::NodeLying { count: 3, last }) = result else {
            panic!("{tamper:?}: expected NodeLying after 3 invalid blocks, got {result:?}")
        };
        assert!(last.is_invalid_data(), "{last}");
        assert_eq!(
            support::delivered(&mut host.notifications),
            node_hashes(&provider, 0, 2).await,
            "{tamper:?}: block 3 never delivered"
        );
        assert_eq!(host.metric("avs_exex_host_invalid_blocks_total"), 3.0);
    }
}

/// A block the host cannot decode is a fatal error naming the block and the type, at once:
/// retrying would fetch the same block forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_transaction_type_stops_the_host_with_the_reason() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(2), None).await.expect("mine");
    send_transfer(&provider).await; // block 3
    let proxy = TamperProxy::start(anvil.endpoint(), Tamper::UnknownTxType).await;

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&proxy.url(), data.path());
    // Generous retries: the error must not go through them.
    config.retry_initial = Duration::from_secs(10);
    config.batch_size = 1;
    let mut host = RunningHost::start(config);
    let result = tokio::time::timeout(WAIT, host.finished())
        .await
        .expect("the host stops at once, without retrying");
    let Err(err @ HostError::UndecodableBlock(_)) = result else {
        panic!("expected UndecodableBlock, got {result:?}")
    };
    let message = err.to_string();
    assert!(
        message.contains("block 3") && message.contains("type 0x64"),
        "the error names the block and the type: {message}"
    );
    assert_eq!(
        support::delivered(&mut host.notifications),
        node_hashes(&provider, 0, 2).await,
        "blocks 0-2 delivered, 3 not"
    );
}

/// An OP-stack chain (`anvil --network optimism`): blocks mixing deposits (type 0x7e) and
/// EIP-1559 transactions are decoded, verified (their deposit receipts carry the deposit nonce
/// that the receipts root commits to) and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_an_op_stack_chain_with_deposit_transactions() {
    let anvil = avs_test_support::anvil()
        .args(["--network", "optimism"])
        .spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    let accounts = provider.get_accounts().await.expect("accounts");
    // One sender per transaction of the shared block: anvil's pool orders by sender nonce.
    let deposit = |n: u8| {
        serde_json::json!({
            "from": accounts[usize::from(n)], "to": Address::repeat_byte(0x42), "value": "0x1", "gas": "0x186a0",
            "type": "0x7e", "sourceHash": B256::repeat_byte(n), "mint": "0x5", "isSystemTx": false,
        })
    };
    // Block 1: a deposit alone; block 2: deposit, transfer, deposit.
    let _: B256 = provider
        .raw_request("eth_sendTransaction".into(), (deposit(1),))
        .await
        .expect("a deposit transaction");
    provider
        .anvil_set_auto_mine(false)
        .await
        .expect("automine off");
    let _: B256 = provider
        .raw_request("eth_sendTransaction".into(), (deposit(2),))
        .await
        .expect("deposit");
    let transfer = TransactionRequest::default()
        .with_from(accounts[0])
        .with_to(Address::repeat_byte(0x43))
        .with_value(U256::from(7));
    let _ = provider.send_transaction(transfer).await.expect("transfer");
    let _: B256 = provider
        .raw_request("eth_sendTransaction".into(), (deposit(3),))
        .await
        .expect("deposit");
    provider.evm_mine(None).await.expect("mine block 2");

    let data = tempfile::tempdir().expect("tempdir");
    let mut host = RunningHost::start(support::config(&anvil.endpoint(), data.path()));
    let received = collect_until(&mut host.notifications, 2, WAIT).await;
    let blocks: Vec<_> = received
        .iter()
        .filter_map(ExExNotification::committed_chain)
        .flat_map(|chain| chain.blocks_iter().cloned().collect::<Vec<_>>())
        .collect();
    let two = blocks
        .iter()
        .find(|b| b.number() == 2)
        .expect("block 2 delivered");
    let kinds: Vec<bool> = two
        .transactions()
        .iter()
        .map(|tx| matches!(tx, BlockTransaction::Deposit(_)))
        .collect();
    assert_eq!(kinds.len(), 3, "block 2 has three transactions");
    assert_eq!(
        kinds.iter().filter(|d| **d).count(),
        2,
        "two of them deposits: {kinds:?}"
    );
    for (tx, receipt) in two.transactions().iter().zip(&two.receipts) {
        assert_eq!(
            matches!(tx, BlockTransaction::Deposit(_)),
            matches!(receipt, BlockReceipt::Deposit(_)),
            "each deposit has a deposit receipt"
        );
    }
    assert_eq!(
        blocks.iter().map(|b| b.num_hash()).collect::<Vec<_>>(),
        node_hashes(&provider, 0, 2).await,
        "blocks 0-2 as the node has them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_blocks_are_replayed_from_the_wal_after_restart() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(40), None).await.expect("mine");
    let expected = node_hashes(&provider, 0, 40).await;

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.batch_size = 7;
    // One record per segment: replay must also work across segment files.
    config.wal.max_segment_bytes = 1;
    // The ExEx receives everything but only finishes up to block 25 (in the middle of a batch).
    let mut host = RunningHost::start_finishing_up_to(config.clone(), Some(25));
    collect_until(&mut host.notifications, 40, WAIT).await;
    host.stop().await.expect("clean stop");

    // Same node, same data directory: the ExEx must get exactly what it did not finish.
    let mut host = RunningHost::start(config);
    let replayed: Vec<_> = collect_until(&mut host.notifications, 40, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    assert_eq!(
        replayed,
        expected[26..],
        "exactly the blocks above the finished height"
    );
    let (rest, result) = host.stop_collecting().await;
    result.expect("clean stop");
    assert!(rest.is_empty(), "nothing else was delivered: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_hold_back_and_a_reorg_deeper_than_the_window_stops_the_host() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(10), None).await.expect("mine");

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.follow = avs_exex::host::FollowMode::Latest { confirmations: 3 };
    config.reorg_window = 2;
    let mut host = RunningHost::start(config);
    let delivered: Vec<_> = collect_until(&mut host.notifications, 7, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    assert_eq!(
        delivered.last().map(|b| b.number),
        Some(7),
        "head 10 minus 3 confirmations"
    );

    // Replace blocks 5..=10: block 7 (our tip) and the 2-block window below it all change.
    provider
        .anvil_reorg(ReorgOptions {
            depth: 6,
            tx_block_pairs: vec![],
        })
        .await
        .expect("anvil_reorg");
    let result = tokio::time::timeout(WAIT, host.finished())
        .await
        .expect("host stops in time");
    let Err(err @ HostError::DeepReorg { window: 2, .. }) = result else {
        panic!("expected DeepReorg, got {result:?}")
    };
    assert!(
        err.to_string().contains("raise `reorg_window`"),
        "actionable: {err}"
    );
    assert!(
        host.notifications.try_recv().is_err(),
        "no partial reorg was delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_exex_slows_the_host() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(20), None).await.expect("mine");

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.batch_size = 1;
    config.channel_capacity = 1;
    let (gate, mut host) = RunningHost::start_gated(config);
    let first = collect_until(&mut host.notifications, 0, WAIT).await;
    assert_eq!(first.len(), 1);
    // The ExEx holds the first notification and reads nothing more. A negative claim needs a
    // window of time: give the host half a second to run ahead if it wrongly could.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let head = host.metric("avs_exex_host_head_block");
    // Block 0 is held by the ExEx, block 1 sits in the channel (capacity 1), block 2 is waiting
    // to be sent: the host can be at most there.
    assert!(
        head <= 2.0,
        "the host ran ahead of a stalled ExEx to block {head}"
    );
    drop(gate);
    let rest = collect_until(&mut host.notifications, 20, WAIT).await;
    let delivered: Vec<_> = first
        .iter()
        .chain(&rest)
        .flat_map(support::committed)
        .collect();
    assert_eq!(delivered, node_hashes(&provider, 0, 20).await);
    host.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalized_mode_follows_the_finalized_tag() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(80), None).await.expect("mine");
    let finalized = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Finalized)
        .await
        .expect("rpc")
        .expect("anvil reports a finalized block")
        .header
        .number;
    assert!(
        finalized < 80,
        "anvil's finalized block trails its head ({finalized})"
    );

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.follow = avs_exex::host::FollowMode::Finalized;
    let mut host = RunningHost::start(config);
    let delivered: Vec<_> = collect_until(&mut host.notifications, finalized, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    assert_eq!(delivered, node_hashes(&provider, 0, finalized).await);
    provider.anvil_mine(Some(1), None).await.expect("mine");
    let next = collect_until(&mut host.notifications, finalized + 1, WAIT).await;
    assert_eq!(
        next.iter().flat_map(support::committed).collect::<Vec<_>>(),
        node_hashes(&provider, finalized + 1, finalized + 1).await
    );
    host.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_exex_gets_pruned_blocks_from_the_node_then_the_wal() {
    let anvil = avs_test_support::anvil().spawn();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    provider.anvil_mine(Some(120), None).await.expect("mine");
    let expected = node_hashes(&provider, 0, 120).await;

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(&anvil.endpoint(), data.path());
    config.batch_size = 10;
    config.reorg_window = 16;
    config.wal.max_segment_bytes = 1;
    let mut host = RunningHost::start(config.clone());
    collect_until(&mut host.notifications, 120, WAIT).await;
    host.stop().await.expect("clean stop");
    let first_segment = std::fs::read_dir(data.path().join("wal"))
        .expect("wal dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .min()
        .expect("segments");
    assert_ne!(
        first_segment,
        format!("{:020}.wal", 0),
        "the oldest records were pruned"
    );

    // The old ExEx has finished everything; a new one starts from `start_block`.
    let (host, mut others) = RunningHost::start_recorders(config, &["recorder", "newcomer"]);
    let newcomer: Vec<_> = collect_until(&mut others[0], 120, WAIT)
        .await
        .iter()
        .flat_map(support::committed)
        .collect();
    assert_eq!(newcomer, expected, "the newcomer gets every block once");
    let (rest, result) = host.stop_collecting().await;
    result.expect("clean stop");
    assert!(rest.is_empty(), "the old ExEx gets nothing again: {rest:?}");
}

/// Every block the execution specification executed reaches the ExEx with a verified state
/// root: fetched, verified, its witness fetched and the block re-executed, over JSON-RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_the_spec_executed_are_delivered_with_verified_state_roots() {
    for fixture in spec_fixtures() {
        let node = WitnessNode::start(&fixture, Behaviour::Honest).await;
        let SpecHost {
            mut host,
            block,
            _data,
        } = follow_spec_block(&node, &fixture, None).await;
        assert_eq!(block.hash, fixture.hash(), "{}", fixture.name);
        assert_eq!(
            block.state_root,
            StateRootCheck::Verified,
            "{}",
            fixture.name
        );
        assert_eq!(
            host.metric("avs_exex_host_state_root_verified_total"),
            1.0,
            "{}",
            fixture.name
        );
        host.stop().await.expect("clean stop");
    }
}

/// A host config for a witness node: the fixtures' chain id is 1, but their block numbers are
/// not mainnet's, so the fork rules are given (all forks through Prague from genesis).
fn spec_config(
    node: &WitnessNode,
    fixture: &Fixture,
    data: &std::path::Path,
) -> avs_exex::host::HostConfig {
    let mut config = support::config(&node.url(), data);
    config.state_root.rules = Some(fixture.rules());
    config.start_block = fixture.header().number;
    config
}

/// A host following `node` from `fixture`'s block (state roots in `mode`), and the block as its
/// ExEx received it.
struct SpecHost {
    host: RunningHost,
    block: avs_exex::BlockWithReceipts,
    _data: tempfile::TempDir,
}

async fn follow_spec_block(
    node: &WitnessNode,
    fixture: &Fixture,
    mode: Option<StateRootMode>,
) -> SpecHost {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = spec_config(node, fixture, data.path());
    config.state_root.mode = mode;
    let mut host = RunningHost::start(config);
    let number = fixture.header().number;
    let received = collect_until(&mut host.notifications, number, WAIT).await;
    let block = received
        .iter()
        .filter_map(|n| n.committed_chain())
        .find_map(|c| c.block_by_number(number).cloned())
        .expect("the block is delivered");
    SpecHost {
        host,
        block,
        _data: data,
    }
}

/// A node without `debug_executionWitness` but with `debug_traceBlockByNumber` and
/// `eth_getProof`: the witness assembled from proofs (and post-state hints for collapsed
/// siblings) re-executes every spec block to its root, or leaves it unverifiable, never wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_verified_from_proofs_where_the_node_serves_no_witness() {
    let mut verified = Vec::new();
    for fixture in spec_fixtures() {
        let node = WitnessNode::start(&fixture, Behaviour::ProofsOnly).await;
        let SpecHost {
            mut host,
            block,
            _data,
        } = follow_spec_block(&node, &fixture, None).await;
        match &block.state_root {
            StateRootCheck::Verified => verified.push(fixture.name.clone()),
            StateRootCheck::Unverifiable(reason) => {
                assert!(
                    reason.contains("lacks trie node"),
                    "{}: {reason}",
                    fixture.name
                );
            }
            StateRootCheck::NotChecked => panic!("{}: not checked", fixture.name),
        }
        host.stop().await.expect("clean stop");
    }
    // The node's trace reports the slots a block changes, not the ones it only reads:
    // `storage_writes_and_zero` also reads a slot it sets and clears within one transaction, so
    // its witness lacks that slot's proof and it stays unverifiable (fail closed).
    assert_eq!(
        verified,
        [
            "transfers",
            "contract_creation",
            "selfdestruct_in_creation",
            "branch_collapse",
            "system_calls",
            "withdrawals"
        ]
    );
}

/// A provider that lies about the state: a witness for a pre-state with one balance changed is
/// not proven by the parent's root (unverifiable, never verified); a header whose state root was
/// changed (its hash recomputed) re-executes to another root and is refused as invalid data
/// (under `required`; `best_effort` delivers it as unverifiable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_lying_about_the_state_is_caught() {
    let fixture = spec_fixtures()
        .into_iter()
        .find(|f| f.name == "transfers")
        .expect("the transfers block");

    let node = WitnessNode::start(&fixture, Behaviour::WitnessBalance).await;
    let SpecHost {
        mut host,
        block,
        _data,
    } = follow_spec_block(&node, &fixture, None).await;
    let StateRootCheck::Unverifiable(reason) = &block.state_root else {
        panic!("an altered witness gives {:?}", block.state_root)
    };
    assert!(reason.contains("lacks trie node"), "{reason}");
    assert_eq!(
        host.metric("avs_exex_host_state_root_unverifiable_total"),
        1.0
    );
    host.stop().await.expect("clean stop");

    let node = WitnessNode::start(&fixture, Behaviour::HeaderStateRoot).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = spec_config(&node, &fixture, data.path());
    config.max_consecutive_invalid = 2;
    let mut host = RunningHost::start(config);
    let result = host.finished().await;
    let Err(HostError::NodeLying { count: 2, last }) = result else {
        panic!("expected NodeLying after 2 state-root mismatches, got {result:?}")
    };
    assert!(
        matches!(
            last,
            FetchError::StateRoot {
                field: "stateRoot",
                ..
            }
        ),
        "{last}"
    );
    assert_eq!(
        host.metric("avs_exex_host_state_root_mismatched_total"),
        2.0
    );
    assert!(support::delivered(&mut host.notifications).is_empty());

    // Under best_effort the same block is delivered, unverified, with the reason.
    let SpecHost {
        mut host,
        block,
        _data,
    } = follow_spec_block(&node, &fixture, Some(StateRootMode::BestEffort)).await;
    assert!(
        matches!(&block.state_root, StateRootCheck::Unverifiable(r) if r.starts_with("re-execution gives stateRoot")),
        "{:?}",
        block.state_root
    );
    host.stop().await.expect("clean stop");
}

/// The mode chosen at start: `required` where the node serves witnesses, `best_effort`
/// against anvil (whose state roots are not Ethereum's: every block is unverifiable, saying
/// so), and `required` against anvil or a node without witnesses refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_root_mode_follows_what_the_node_serves() {
    let fixture = spec_fixtures().into_iter().next().expect("a fixture");
    let node = WitnessNode::start(&fixture, Behaviour::Honest).await;
    assert!(required_flag(&node.url(), fixture.header().number, None).await);

    let anvil = avs_test_support::anvil().spawn();
    assert!(!required_flag(&anvil.endpoint(), 0, None).await);
    let data = tempfile::tempdir().expect("tempdir");
    let mut host = RunningHost::start(support::config(&anvil.endpoint(), data.path()));
    let received = collect_until(&mut host.notifications, 0, WAIT).await;
    let block = received[0]
        .committed_chain()
        .expect("committed")
        .first()
        .clone();
    assert!(
        matches!(&block.state_root, StateRootCheck::Unverifiable(r) if r.contains("non-standard state root")),
        "{:?}",
        block.state_root
    );
    host.stop().await.expect("clean stop");

    let silent = WitnessNode::start(&fixture, Behaviour::NoWitness).await;
    for (url, reason) in [
        (anvil.endpoint(), "non-standard state root"),
        (
            silent.url(),
            "serves neither debug_executionWitness nor debug_traceBlockByNumber",
        ),
    ] {
        let data = tempfile::tempdir().expect("tempdir");
        let mut config = support::config(&url, data.path());
        config.state_root.mode = Some(StateRootMode::Required);
        let mut host = RunningHost::start(config);
        let result = host.finished().await;
        assert!(
            matches!(&result, Err(HostError::Config(m)) if m.contains("required") && m.contains(reason)),
            "{result:?}"
        );
    }
}

/// Whether a host started on `url` tells its ExExes that state roots are required.
async fn required_flag(url: &str, start_block: u64, mode: Option<StateRootMode>) -> bool {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(url, data.path());
    config.start_block = start_block;
    config.state_root.mode = mode;
    let mut host = avs_exex::host::Host::new(config, &prometheus::Registry::new()).expect("host");
    let (flag, flag_rx) = tokio::sync::oneshot::channel();
    host.install_exex("flag", move |ctx: avs_exex::ExExContext| async move {
        let _ = flag.send(ctx.config.state_root_required);
        Ok(())
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(host.run(async move {
        let _ = stopped.await;
    }));
    let required = tokio::time::timeout(WAIT, flag_rx)
        .await
        .expect("the ExEx starts in time")
        .expect("the ExEx reports");
    let _ = stop.send(());
    let _ = run.await;
    required
}
