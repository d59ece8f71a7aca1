//! The registry reader and the submitter against EigenLayer's real registries and our task
//! manager on anvil: operator sets as registered, an aggregate from the p2p [`avs_p2p::TaskTable`]
//! finalizing a checkpoint, a repeated submission that sends nothing, the fee cap, a decoded
//! on-chain refusal, replacement of a stuck response, the resend of a dropped one, and no resend
//! of one the node no longer stands behind.

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
};
use avs_contracts::{
    avs::IAvsTaskManager::Task,
    sender::{ConfirmPolicy, SendError, SenderConfig, WalletSender},
    testing::{TOKEN, TestDevnet},
};
use avs_p2p::{
    Aggregate, OperatorId, RegistryReader, SubmitError, SubmitMetrics, SubmitOutcome, Submitter,
    TaskInfo, fixtures::aggregate_of,
};
use std::{sync::Arc, time::Duration};

/// Stakes 10/20/30/40 (66% threshold): {0,2,3} sign 80%.
const STAKES: [u128; 4] = [10, 20, 30, 40];

fn reader(devnet: &TestDevnet) -> RegistryReader<DynProvider> {
    // A tiny log range so the scan crosses several eth_getLogs requests.
    RegistryReader::new(devnet.provider.clone(), &devnet.deployment).with_log_range(7)
}

/// A submitter paying from the devnet's submitter account at most `max_fee_per_gas`, polling
/// receipts every 50 ms.
fn submitter(devnet: &TestDevnet, max_fee_per_gas: u128, policy: ConfirmPolicy) -> Submitter {
    // A provider without a wallet: the wallet's sender signs and sends raw.
    let provider = ProviderBuilder::new()
        .connect_http(devnet.anvil.endpoint_url())
        .erased();
    let sender = WalletSender::new(
        provider,
        EthereumWallet::from(devnet.submitter_key()),
        devnet.deployment.chain_id,
        SenderConfig {
            max_fee_per_gas,
            poll_interval: Duration::from_millis(50),
            ..SenderConfig::default()
        },
    );
    let metrics = SubmitMetrics::register(&prometheus::Registry::new()).expect("fresh registry");
    Submitter::new(Arc::new(sender), devnet.deployment.clone(), policy, metrics)
}

/// The default fee cap.
fn cap() -> u128 {
    SenderConfig::default().max_fee_per_gas
}

fn fast_config() -> ConfirmPolicy {
    ConfirmPolicy {
        receipt_timeout: Duration::from_secs(20),
        ..ConfirmPolicy::default()
    }
}

/// The aggregate of `signers` (operator indices) over the task's true response, from the p2p
/// aggregator.
fn aggregate(
    devnet: &TestDevnet,
    info: TaskInfo,
    response: avs_p2p::TaskResponse,
    signers: &[usize],
) -> Aggregate {
    let keys: Vec<_> = signers
        .iter()
        .map(|&i| {
            let op = &devnet.operators[i];
            (OperatorId(op.operator_id), &op.bls)
        })
        .collect();
    aggregate_of(info, response, &keys).expect("signers reach quorum")
}

async fn nonce(devnet: &TestDevnet, address: Address) -> u64 {
    devnet
        .provider
        .get_transaction_count(address)
        .await
        .expect("nonce")
}

#[tokio::test]
async fn the_reader_returns_the_registered_operators_with_stakes_and_keys() -> eyre::Result<()> {
    let mut devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let mut reader = reader(&devnet);

    let info = reader.task_info(task_index, &task).await?;
    assert_eq!(info.task_index, task_index);
    assert_eq!(info.task_created_block, task.taskCreatedBlock);
    assert_eq!(
        info.quorum_numbers,
        devnet.deployment.params.avs.quorum_numbers
    );
    assert_eq!(
        u32::from(info.quorum_threshold_percentage),
        task.quorumThresholdPercentage
    );
    let set = &info.operators;
    assert_eq!(set.reference_block, u64::from(task.taskCreatedBlock));
    assert_eq!(set.operators.len(), STAKES.len());
    for op in &devnet.operators {
        let got = &set.operators[&OperatorId(op.operator_id)];
        assert_eq!(got.pubkey_g1, op.bls.public_key());
        assert_eq!(got.pubkey_g2.to_bytes(), op.bls.public_key_g2().to_bytes());
        assert_eq!(
            got.stakes.iter().map(|(q, s)| (*q, *s)).collect::<Vec<_>>(),
            vec![(0, op.stake)]
        );
    }
    assert_eq!(set.total_stake(0), 100 * TOKEN);
    assert_eq!(reader.known_keys(), STAKES.len());

    // The same block again: the cached set itself.
    let again = reader.task_info(task_index, &task).await?;
    assert!(Arc::ptr_eq(&again.operators, &info.operators));

    // A later operator: absent at the old block, present (keys scanned on demand) at a new one.
    devnet.add_operator(50).await?;
    let old = reader
        .operator_set(task.taskCreatedBlock, &info.quorum_numbers)
        .await?;
    assert_eq!(old.operators.len(), STAKES.len());
    let head = u32::try_from(devnet.provider.get_block_number().await?)?;
    let new = reader.operator_set(head, &info.quorum_numbers).await?;
    assert_eq!(new.operators.len(), STAKES.len() + 1);
    let late = &devnet.operators[STAKES.len()];
    let got = &new.operators[&OperatorId(late.operator_id)];
    assert_eq!(got.pubkey_g1, late.bls.public_key());
    assert_eq!(got.stakes[&0], 50 * TOKEN);
    assert_eq!(new.total_stake(0), 150 * TOKEN);
    Ok(())
}

#[tokio::test]
async fn a_p2p_aggregate_finalizes_the_checkpoint_once() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let response = avs_p2p::TaskResponse::from(&devnet.true_response(task_index, block).await?);
    let info = reader(&devnet).task_info(task_index, &task).await?;
    let aggregate = aggregate(&devnet, info, response, &[0, 2, 3]);
    assert_eq!(
        aggregate.signed.non_signers,
        vec![devnet.operators[1].operator_id]
    );

    let submitter = submitter(&devnet, cap(), fast_config());
    let sender = submitter.sender();
    let before = nonce(&devnet, sender).await;
    let outcome = submitter.submit(&aggregate, &task).await?;
    let SubmitOutcome::Responded {
        tx_hash, gas_used, ..
    } = outcome
    else {
        panic!("expected Responded, got {outcome:?}")
    };
    assert_eq!(nonce(&devnet, sender).await, before + 1);
    let receipt = devnet
        .provider
        .get_transaction_receipt(tx_hash)
        .await?
        .expect("mined");
    assert!(receipt.status());
    assert_eq!(receipt.from, sender);
    assert_eq!(receipt.gas_used, gas_used);

    let finalized = devnet
        .task_manager()
        .finalizedCheckpoint(task.chainId, block)
        .call()
        .await?;
    assert_eq!(finalized.taskIndex, task_index);
    assert_eq!(
        (
            finalized.blockHash,
            finalized.stateRoot,
            finalized.receiptsRoot
        ),
        (
            response.block_hash,
            response.state_root,
            response.receipts_root
        )
    );

    // Again: a quiet success, and no transaction.
    assert_eq!(
        submitter.submit(&aggregate, &task).await?,
        SubmitOutcome::AlreadyResponded
    );
    assert_eq!(nonce(&devnet, sender).await, before + 1);
    let metrics = submitter.metrics();
    assert_eq!(
        (
            metrics.count("responded"),
            metrics.count("already_responded")
        ),
        (1, 1)
    );
    Ok(())
}

#[tokio::test]
async fn fee_cap_and_contract_refusals_are_errors_without_transactions() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let response = avs_p2p::TaskResponse::from(&devnet.true_response(task_index, block).await?);
    let info = reader(&devnet).task_info(task_index, &task).await?;
    let aggregate = aggregate(&devnet, info, response, &[0, 1, 2, 3]);

    let capped = submitter(&devnet, 1, fast_config());
    let sender = capped.sender();
    let before = nonce(&devnet, sender).await;
    match capped.submit(&aggregate, &task).await {
        Err(SubmitError::Send(SendError::FeeAboveCap {
            required, cap: 1, ..
        })) => assert!(required > 1),
        other => panic!("expected FeeAboveCap, got {other:?}"),
    }
    assert_eq!(capped.metrics().count("fee_cap"), 1);

    // Past the response window the contract refuses; the reason is decoded at estimation.
    let window = devnet.deployment.params.avs.response_window_blocks;
    devnet
        .provider
        .anvil_mine(Some(u64::from(window) + 1), None)
        .await?;
    let late = submitter(&devnet, cap(), fast_config());
    match late.submit(&aggregate, &task).await {
        Err(SubmitError::Reverted {
            task_index: t,
            reason,
            tx_hash: None,
        }) => {
            assert_eq!(t, task_index);
            assert!(reason.contains("ResponseWindowClosed"), "{reason}");
        }
        other => panic!("expected a ResponseWindowClosed revert, got {other:?}"),
    }
    assert_eq!(late.metrics().count("reverted"), 1);
    assert_eq!(
        nonce(&devnet, sender).await,
        before,
        "no transaction was sent"
    );
    Ok(())
}

/// `maxFeePerGas` of `sender`'s pending transaction in anvil's pool, if there is one.
async fn pooled_max_fee(devnet: &TestDevnet, sender: Address) -> eyre::Result<Option<u128>> {
    let content: serde_json::Value = devnet
        .provider
        .raw_request("txpool_content".into(), ())
        .await?;
    let pending = content["pending"]
        .as_object()
        .ok_or_else(|| eyre::eyre!("txpool_content without pending: {content}"))?;
    let Some((_, by_nonce)) = pending
        .iter()
        .find(|(address, _)| address.parse::<Address>().ok() == Some(sender))
    else {
        return Ok(None);
    };
    let fee = by_nonce
        .as_object()
        .and_then(|txs| txs.values().next())
        .and_then(|tx| tx["maxFeePerGas"].as_str())
        .ok_or_else(|| eyre::eyre!("pooled transaction without maxFeePerGas: {by_nonce}"))?;
    Ok(Some(u128::from_str_radix(
        fee.trim_start_matches("0x"),
        16,
    )?))
}

/// A created task and an aggregate of its true response signed by operators 0, 2 and 3, on a
/// devnet that mines nothing until the test says so.
struct Unmined {
    devnet: TestDevnet,
    block: u64,
    task: Task,
    response: avs_p2p::TaskResponse,
    aggregate: Aggregate,
}

async fn unmined() -> eyre::Result<Unmined> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let response = avs_p2p::TaskResponse::from(&devnet.true_response(task_index, block).await?);
    let info = reader(&devnet).task_info(task_index, &task).await?;
    let aggregate = aggregate(&devnet, info, response, &[0, 2, 3]);
    devnet.provider.anvil_set_auto_mine(false).await?;
    Ok(Unmined {
        devnet,
        block,
        task,
        response,
        aggregate,
    })
}

/// Checks that checkpoint `block` is finalized with `response`'s block hash.
async fn assert_finalized(
    devnet: &TestDevnet,
    block: u64,
    response: avs_p2p::TaskResponse,
) -> eyre::Result<()> {
    let finalized = devnet
        .task_manager()
        .finalizedCheckpoint(devnet.deployment.chain_id, block)
        .call()
        .await?;
    assert_eq!(finalized.blockHash, response.block_hash);
    Ok(())
}

/// The max fee of `sender`'s pooled transaction, once one is above `floor`, waited for (bounded).
async fn pooled_above(
    devnet: &TestDevnet,
    sender: Address,
    floor: u128,
    within: Duration,
) -> eyre::Result<u128> {
    tokio::time::timeout(within, async {
        loop {
            if let Some(fee) = pooled_max_fee(devnet, sender).await?
                && fee > floor
            {
                return Ok::<_, eyre::Report>(fee);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|_| eyre::eyre!("no transaction of {sender} in the pool within {within:?}"))?
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees() -> eyre::Result<()> {
    let Unmined {
        devnet,
        block,
        task,
        response,
        aggregate,
    } = unmined().await?;
    // The first version gets stuck in the pool.
    let submitter = submitter(
        &devnet,
        cap(),
        ConfirmPolicy {
            receipt_timeout: Duration::from_secs(2),
            max_replacements: 3,
            ..fast_config()
        },
    );
    let sender = submitter.sender();
    let submission = tokio::spawn(async move {
        let outcome = submitter.submit(&aggregate, &task).await;
        (outcome, submitter)
    });

    // The first version appears, then a replacement with a higher fee.
    let first_fee = pooled_above(&devnet, sender, 0, Duration::from_secs(30)).await?;
    let replaced_fee = pooled_above(&devnet, sender, first_fee, Duration::from_secs(30)).await?;
    // At least +12.5%, the bump nodes require for a replacement.
    assert!(
        replaced_fee * 8 >= first_fee * 9,
        "{first_fee} -> {replaced_fee}"
    );
    devnet.provider.anvil_mine(Some(1), None).await?;

    let (outcome, submitter) = tokio::time::timeout(Duration::from_secs(30), submission).await??;
    let SubmitOutcome::Responded { tx_hash, .. } = outcome? else {
        panic!("expected Responded")
    };
    let mined = devnet
        .provider
        .get_transaction_by_hash(tx_hash)
        .await?
        .expect("mined transaction");
    assert!(
        alloy::consensus::Transaction::max_fee_per_gas(&mined) >= replaced_fee,
        "the mined version is a replacement"
    );
    assert_eq!(
        nonce(&devnet, sender).await,
        1,
        "one nonce used by all versions"
    );
    assert_eq!(submitter.metrics().count("responded"), 1);
    assert_finalized(&devnet, block, response).await
}

/// A response the node drops from its pool (as a reorg of the settlement chain or an eviction
/// does) is noticed within a few receipt polls and sent again, long before the receipt timeout
/// would have replaced it.
#[tokio::test]
async fn a_dropped_response_is_sent_again_long_before_the_receipt_timeout() -> eyre::Result<()> {
    const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
    let Unmined {
        devnet,
        block,
        task,
        response,
        aggregate,
    } = unmined().await?;
    // The response waits in the pool.
    let submitter = submitter(
        &devnet,
        cap(),
        ConfirmPolicy {
            receipt_timeout: RECEIPT_TIMEOUT,
            max_replacements: 0,
            max_resends: 3,
        },
    );
    let sender = submitter.sender();
    let submission = tokio::spawn(async move {
        let outcome = submitter.submit(&aggregate, &task).await;
        (outcome, submitter)
    });
    pooled_above(&devnet, sender, 0, Duration::from_secs(30)).await?;

    devnet.provider.anvil_drop_all_transactions().await?;
    let dropped_at = std::time::Instant::now();
    // Bounded far below the receipt timeout: the old submitter only resent after it.
    pooled_above(&devnet, sender, 0, RECEIPT_TIMEOUT / 12)
        .await
        .map_err(|_| eyre::eyre!("the dropped response was not sent again within 10 s"))?;
    let resent_after = dropped_at.elapsed();
    devnet.provider.anvil_mine(Some(1), None).await?;

    let (outcome, submitter) = tokio::time::timeout(Duration::from_secs(30), submission).await??;
    let SubmitOutcome::Responded { tx_hash, .. } = outcome? else {
        panic!("expected Responded")
    };
    assert!(
        resent_after < RECEIPT_TIMEOUT / 12,
        "resent after {resent_after:?}"
    );
    let receipt = devnet
        .provider
        .get_transaction_receipt(tx_hash)
        .await?
        .expect("mined");
    assert!(receipt.status());
    assert_eq!(receipt.from, sender);
    assert_eq!(
        nonce(&devnet, sender).await,
        1,
        "the resend reused the free nonce"
    );
    let metrics = submitter.metrics();
    assert_eq!((metrics.resends(), metrics.count("responded")), (1, 1));
    assert_finalized(&devnet, block, response).await
}

/// A response the node no longer stands behind (withdrawn while its transaction waited) is not
/// paid for again: dropped from the pool, it is abandoned instead of sent again.
#[tokio::test]
async fn a_dropped_response_no_longer_wanted_is_not_sent_again() -> eyre::Result<()> {
    let Unmined {
        devnet,
        task,
        aggregate,
        ..
    } = unmined().await?;
    let submitter = submitter(
        &devnet,
        cap(),
        ConfirmPolicy {
            receipt_timeout: Duration::from_secs(120),
            max_replacements: 0,
            max_resends: 3,
        },
    );
    let sender = submitter.sender();
    let wanted = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still_wanted = Arc::clone(&wanted);
    let submission = tokio::spawn(async move {
        let outcome = submitter
            .submit_while(&aggregate, &task, || {
                still_wanted.load(std::sync::atomic::Ordering::SeqCst)
            })
            .await;
        (outcome, submitter)
    });
    pooled_above(&devnet, sender, 0, Duration::from_secs(30)).await?;

    // The node withdraws its response (a reorg took the attested block out), then the pool
    // drops the transaction.
    wanted.store(false, std::sync::atomic::Ordering::SeqCst);
    devnet.provider.anvil_drop_all_transactions().await?;
    let (outcome, submitter) = tokio::time::timeout(Duration::from_secs(30), submission)
        .await
        .map_err(|_| eyre::eyre!("the submission did not give up within 30 s"))??;
    assert!(
        matches!(outcome, Err(SubmitError::Send(SendError::Abandoned { .. }))),
        "{outcome:?}"
    );
    devnet.provider.anvil_mine(Some(1), None).await?;
    assert_eq!(
        pooled_max_fee(&devnet, sender).await?,
        None,
        "nothing sent again"
    );
    assert_eq!(nonce(&devnet, sender).await, 0, "nothing mined");
    let metrics = submitter.metrics();
    assert_eq!((metrics.resends(), metrics.count("abandoned")), (0, 1));
    Ok(())
}

/// A provider in front of anvil that refuses `eth_getLogs` ranges above `max` blocks with a
/// JSON-RPC error, as public endpoints do, counting its refusals.
#[derive(Clone)]
struct CapLogRange<S> {
    inner: S,
    max: u64,
    refused: Arc<std::sync::atomic::AtomicU32>,
}

impl<S> tower::Service<alloy::rpc::json_rpc::RequestPacket> for CapLogRange<S>
where
    S: tower::Service<
            alloy::rpc::json_rpc::RequestPacket,
            Response = alloy::rpc::json_rpc::ResponsePacket,
            Error = alloy::transports::TransportError,
            Future = alloy::transports::TransportFut<'static>,
        >,
{
    type Response = alloy::rpc::json_rpc::ResponsePacket;
    type Error = alloy::transports::TransportError;
    type Future = alloy::transports::TransportFut<'static>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: alloy::rpc::json_rpc::RequestPacket) -> Self::Future {
        use alloy::rpc::json_rpc::{ErrorPayload, RequestPacket, Response, ResponsePacket};
        if let RequestPacket::Single(call) = &request
            && call.method() == "eth_getLogs"
        {
            let params: serde_json::Value =
                serde_json::from_str(call.params().map_or("[]", |p| p.get())).expect("params");
            let block = |key: &str| {
                let hex = params[0][key].as_str().expect("a block number");
                u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex")
            };
            if block("toBlock") - block("fromBlock") + 1 > self.max {
                self.refused
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let id = call.id().clone();
                return Box::pin(async move {
                    Ok(ResponsePacket::Single(Response {
                        id,
                        payload: alloy::rpc::json_rpc::ResponsePayload::Failure(ErrorPayload {
                            code: -32005,
                            message: "query exceeds max block range".into(),
                            data: None,
                        }),
                    }))
                });
            }
        }
        self.inner.call(request)
    }
}

struct CapLogRangeLayer(CapLogRange<()>);

impl<S> tower::Layer<S> for CapLogRangeLayer {
    type Service = CapLogRange<S>;

    fn layer(&self, inner: S) -> CapLogRange<S> {
        CapLogRange {
            inner,
            max: self.0.max,
            refused: self.0.refused.clone(),
        }
    }
}

/// Defect 5 of issue 15: the key scan used fixed 10k-block ranges, so a provider that caps
/// `eth_getLogs` ranges stopped the node at its first task. The range now halves on a refusal
/// (16 → 8 → 4 → 2 here, three refusals, then none), and the scan runs ahead of the first task.
#[tokio::test]
async fn the_key_scan_adapts_to_a_provider_range_limit() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let refused = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let client = alloy::rpc::client::RpcClient::builder()
        .layer(CapLogRangeLayer(CapLogRange {
            inner: (),
            max: 3,
            refused: refused.clone(),
        }))
        .http(devnet.anvil.endpoint_url());
    let provider = ProviderBuilder::new().connect_client(client).erased();
    let mut reader = RegistryReader::new(provider, &devnet.deployment).with_log_range(16);
    let head = devnet.provider.get_block_number().await?;
    let mut scanned = Vec::new();
    reader
        .prefetch_keys(head, |block| scanned.push(block))
        .await?;
    assert_eq!(reader.next_scan_block(), head + 1);
    assert_eq!(*scanned.last().expect("progress reported"), head);
    assert!(scanned.windows(2).all(|w| w[0] < w[1]), "{scanned:?}");
    assert_eq!(reader.known_keys(), STAKES.len(), "every key found");
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the provider refused 16, 8 and 4 blocks, and nothing after"
    );
    // The first task needs no scan any more: its set is built from the prefetched keys.
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let info = reader.task_info(task_index, &task).await?;
    assert_eq!(info.operators.operators.len(), STAKES.len());
    Ok(())
}
