//! Unit tests of the AVS ExEx with the ExEx test kit: commit / reorg / revert sequences, the
//! generator role, and a simulated restart between persisting and sending a signature.
//!
//! Settlement blocks carry task-manager logs by rewriting the logs of a synthetic block's
//! receipt. Their receipts roots then no longer match (the host would reject such a block), but
//! the AVS ExEx never re-verifies blocks: it trusts what the host delivered.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    consensus::ReceiptEnvelope,
    primitives::{Address, B256, Bytes, Log},
    sol_types::SolEvent,
};
use avs_bls::SecretKey;
use avs_contracts::avs::{
    AvsTaskManager::{NewTaskCreated, TaskResponded},
    IAvsTaskManager::{Task, TaskResponse, TaskResponseMetadata},
    attestation_digest, signing_domain,
};
use tokio::{sync::mpsc, task::JoinHandle};

use super::*;
use avs_exex::{BlockWithReceipts, Chain, ExExEvent};
use avs_exex_test_utils::{ChainBuilder, TEST_CHAIN_ID, TestExExHandle, TxSpec, test_exex_context};

const TASK_MANAGER: Address = Address::repeat_byte(0xAA);
const WAIT: Duration = Duration::from_secs(20);

fn config(retention_blocks: u64) -> AvsConfig {
    let mut config = AvsConfig::same_chain(
        TEST_CHAIN_ID,
        TASK_MANAGER,
        Address::repeat_byte(0xBB),
        Address::repeat_byte(0xCC),
    );
    config.retention_blocks = retention_blocks;
    config
}

fn operator_key() -> SecretKey {
    SecretKey::from_be_bytes(&[7; 32]).expect("a valid scalar")
}

/// Fixed answers for operator standing, recording the reference blocks asked about.
#[derive(Debug, Clone)]
struct FixedRegistry {
    standing: OperatorStanding,
    asked: Arc<Mutex<Vec<u32>>>,
}

impl FixedRegistry {
    fn new(standing: OperatorStanding) -> Self {
        Self {
            standing,
            asked: Arc::default(),
        }
    }
}

impl OperatorRegistry for FixedRegistry {
    async fn standing(
        &self,
        _operator: avs_bls::OperatorId,
        _quorum_numbers: &Bytes,
        reference_block: u32,
    ) -> Result<OperatorStanding, RegistryError> {
        self.asked
            .lock()
            .expect("not poisoned")
            .push(reference_block);
        Ok(self.standing)
    }
}

/// An in-memory stand-in for the task manager's duplicate rule: one task per checkpoint.
#[derive(Debug, Clone, Default)]
struct InMemoryTaskManager {
    tasks: Arc<Mutex<BTreeMap<u64, u32>>>,
    next_index: Arc<Mutex<u32>>,
    calls: Arc<Mutex<Vec<u64>>>,
    /// The settlement node's head reported with each send (0: not ahead of the delivered tip).
    head: Arc<Mutex<u64>>,
    /// Checkpoints the contract refuses as unprovable (too old for their challenge deadline).
    unprovable: Arc<Mutex<Vec<u64>>>,
}

impl InMemoryTaskManager {
    /// What a settlement reorg does to the contract's state: the checkpoint's task is gone.
    fn forget(&self, checkpoint: u64) {
        self.tasks.lock().expect("not poisoned").remove(&checkpoint);
    }

    fn set_head(&self, head: u64) {
        *self.head.lock().expect("not poisoned") = head;
    }

    fn calls(&self) -> Vec<u64> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

impl TaskCreator for InMemoryTaskManager {
    async fn create_task(
        &self,
        _chain_id: u64,
        block_number: u64,
        _quorum_threshold_percentage: u32,
        _quorum_numbers: Bytes,
    ) -> Result<CreateOutcome, CreateError> {
        self.calls.lock().expect("not poisoned").push(block_number);
        if self
            .unprovable
            .lock()
            .expect("not poisoned")
            .contains(&block_number)
        {
            return Ok(CreateOutcome::Unprovable {
                challenge_deadline: block_number + 300,
                provable_until: block_number + 256,
            });
        }
        let mut tasks = self.tasks.lock().expect("not poisoned");
        if let Some(task_index) = tasks.get(&block_number) {
            return Ok(CreateOutcome::AlreadyTasked {
                task_index: *task_index,
            });
        }
        let mut next = self.next_index.lock().expect("not poisoned");
        let task_index = *next;
        *next += 1;
        tasks.insert(block_number, task_index);
        Ok(CreateOutcome::Sent {
            tx_hash: B256::with_last_byte(u8::try_from(task_index).unwrap_or(u8::MAX)),
            head: *self.head.lock().expect("not poisoned"),
        })
    }
}

struct Harness {
    handle: TestExExHandle,
    events: mpsc::Receiver<AvsEvent>,
    exex: JoinHandle<Result<(), AvsError>>,
    metrics: AvsMetrics,
    /// The ExEx's published task lifecycle, as the rest of the node reads it.
    tasks: TaskBook,
}

struct Setup {
    config: AvsConfig,
    store: SlashingProtectionStore,
    registry: FixedRegistry,
    generator: Option<InMemoryTaskManager>,
    attested: AttestedChain,
    events_capacity: usize,
}

impl Setup {
    async fn new(config: AvsConfig, store_path: &std::path::Path) -> Self {
        let attested = AttestedChain::new(config.attested_chain_id, 64);
        Self {
            config,
            store: SlashingProtectionStore::open(store_path)
                .await
                .expect("open store"),
            registry: FixedRegistry::new(OperatorStanding::Active),
            generator: None,
            attested,
            events_capacity: 64,
        }
    }

    fn start(self) -> Harness {
        let (ctx, handle) = test_exex_context();
        let (events_tx, events) = mpsc::channel(self.events_capacity);
        let metrics = AvsMetrics::register(&prometheus::Registry::new()).expect("metrics");
        let tasks = TaskBook::new();
        let deps = AvsDeps {
            config: self.config,
            bls_key: operator_key(),
            store: self.store,
            registry: self.registry,
            generator: self.generator,
            attested: self.attested,
            events: events_tx,
            metrics: metrics.clone(),
            tasks: tasks.clone(),
        };
        Harness {
            handle,
            events,
            exex: tokio::spawn(avs_exex(ctx, deps)),
            metrics,
            tasks,
        }
    }
}

impl Harness {
    /// Delivers `chain` as a committed notification.
    async fn commit(&self, chain: Chain) {
        self.handle
            .send_notification_chain_committed(chain)
            .await
            .expect("send");
    }

    async fn next(&mut self) -> AvsEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an AVS event within the timeout")
            .expect("the AVS ExEx is running")
    }

    async fn finished(&mut self) -> u64 {
        match self
            .handle
            .next_event(WAIT)
            .await
            .expect("a FinishedHeight")
        {
            ExExEvent::FinishedHeight(height) => height.number,
        }
    }

    fn assert_no_avs_event(&mut self) {
        if let Ok(event) = self.events.try_recv() {
            panic!("unexpected AVS event {event:?}");
        }
    }
}

/// A task for checkpoint `block_number` created in settlement block `created`; [`block`] fills
/// in the parent hash of the block that carries its log.
fn task(block_number: u64, created: u32) -> Task {
    Task {
        chainId: TEST_CHAIN_ID,
        blockNumber: block_number,
        taskCreatedBlock: created,
        taskCreatedParentHash: B256::ZERO,
        quorumThresholdPercentage: 67,
        responseWindowBlocks: 100,
        challengeWindowBlocks: 100,
        quorumNumbers: Bytes::from(vec![0]),
    }
}

fn created_log(task_index: u32, task: Task) -> Log {
    Log {
        address: TASK_MANAGER,
        data: NewTaskCreated {
            taskIndex: task_index,
            task,
        }
        .encode_log_data(),
    }
}

fn responded_log(response: TaskResponse) -> Log {
    let event = TaskResponded {
        taskIndex: response.referenceTaskIndex,
        taskResponse: response,
        taskResponseMetadata: TaskResponseMetadata {
            taskRespondedBlock: 9,
            hashOfNonSigners: B256::ZERO,
        },
    };
    Log {
        address: TASK_MANAGER,
        data: event.encode_log_data(),
    }
}

/// The next block of `builder`, its one transaction's receipt carrying `logs`. A task created
/// in it is bound to it as the contract binds it: the task must name this block, and gets its
/// parent hash.
fn block(builder: &mut ChainBuilder, logs: Vec<Log>) -> BlockWithReceipts {
    let parent = builder.parent();
    let logs = logs
        .into_iter()
        .map(|log| match NewTaskCreated::decode_log(&log) {
            Ok(created) => {
                let mut task = created.data.task;
                assert_eq!(
                    u64::from(task.taskCreatedBlock),
                    parent.number + 1,
                    "a test task must name the block that creates it"
                );
                task.taskCreatedParentHash = parent.hash;
                created_log(created.data.taskIndex, task)
            }
            Err(_) => log,
        })
        .collect();
    raw_block(builder, logs)
}

/// [`block`] without binding tasks to it: the logs as given.
fn raw_block(builder: &mut ChainBuilder, logs: Vec<Log>) -> BlockWithReceipts {
    block_of(builder, TxSpec::transfer(), logs)
}

/// The next block, its one transaction `tx` with `logs` in its receipt.
fn block_of(builder: &mut ChainBuilder, tx: TxSpec, logs: Vec<Log>) -> BlockWithReceipts {
    let mut block = builder.block(&[tx]);
    let avs_exex::BlockReceipt::Ethereum(ReceiptEnvelope::Eip1559(receipt)) =
        &mut block.receipts[0]
    else {
        unreachable!("the builder makes EIP-1559 receipts")
    };
    receipt.receipt.logs = logs;
    block
}

fn chain(blocks: &[BlockWithReceipts]) -> Chain {
    Chain::new(blocks.to_vec()).expect("consecutive blocks")
}

fn expected_response(task_index: u32, target: &BlockWithReceipts) -> TaskResponse {
    TaskResponse {
        referenceTaskIndex: task_index,
        blockHash: target.hash,
        stateRoot: target.header().state_root,
        receiptsRoot: target.header().receipts_root,
    }
}

fn expect_signed(event: AvsEvent, response: &TaskResponse) -> avs_bls::Signature {
    let AvsEvent::Signed(signed) = event else {
        panic!("expected Signed, got {event:?}")
    };
    assert_eq!(&signed.response, response);
    assert_eq!(signed.task_index, response.referenceTaskIndex);
    assert_eq!(
        signed.operator_id,
        operator_key().public_key().operator_id()
    );
    assert!(
        operator_key()
            .public_key_g2()
            .verify(signed.digest, &signed.signature),
        "the signature verifies against the operator's key"
    );
    signed.signature
}

/// Blocks 1..=5 of a settlement (= attested) chain whose block 4 creates task 0 for block 2.
/// The message an operator signs for `response` to `task` in the tests' deployment.
fn digest_of(task: &Task, response: &TaskResponse) -> B256 {
    attestation_digest(&signing_domain(TEST_CHAIN_ID, TASK_MANAGER), task, response)
}

/// Task 0 of [`five_blocks_with_task`], as created in `blocks[3]`.
fn five_blocks_task(blocks: &[BlockWithReceipts]) -> Task {
    Task {
        taskCreatedParentHash: blocks[2].hash,
        ..task(2, 4)
    }
}

fn five_blocks_with_task(builder: &mut ChainBuilder) -> Vec<BlockWithReceipts> {
    let mut blocks: Vec<_> = (0..3).map(|_| block(builder, vec![])).collect();
    blocks.push(block(builder, vec![created_log(0, task(2, 4))]));
    blocks.push(block(builder, vec![]));
    blocks
}

/// A started ExEx that has seen [`five_blocks_with_task`] and signed task 0: the harness, the
/// builder, the blocks and the signed (true) response.
async fn signed_five_block_task(
    dir: &std::path::Path,
) -> (Harness, ChainBuilder, Vec<BlockWithReceipts>, TaskResponse) {
    let mut h = Setup::new(config(2), &dir.join("sp.jsonl")).await.start();
    let mut builder = ChainBuilder::new(0);
    let blocks = five_blocks_with_task(&mut builder);
    h.commit(chain(&blocks)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    let truth = expected_response(0, &blocks[1]);
    expect_signed(h.next().await, &truth);
    (h, builder, blocks, truth)
}

#[tokio::test]
async fn commit_signs_each_task_once_and_reports_responses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Setup::new(config(2), &dir.path().join("sp.jsonl")).await;
    let registry = setup.registry.clone();
    let mut h = setup.start();
    let mut builder = ChainBuilder::new(0);
    let blocks = five_blocks_with_task(&mut builder);

    h.commit(chain(&blocks)).await;
    assert_eq!(
        h.next().await,
        AvsEvent::TaskCreated {
            task_index: 0,
            task: five_blocks_task(&blocks)
        }
    );
    expect_signed(h.next().await, &expected_response(0, &blocks[1]));
    assert_eq!(h.finished().await, 3, "tip 5 minus retention 2");
    assert_eq!(
        *registry.asked.lock().expect("not poisoned"),
        vec![4],
        "standing at taskCreatedBlock"
    );
    // The book shows what was signed, and only that digest may be submitted.
    let digest = digest_of(
        &five_blocks_task(&blocks),
        &expected_response(0, &blocks[1]),
    );
    let record = h.tasks.get(0).expect("task 0 in the book");
    assert_eq!(record.phase, TaskPhase::Signed { digest });
    assert_eq!(record.created_at, blocks[3].num_hash());
    let task_hash = five_blocks_task(&blocks).hash();
    assert_eq!(
        h.tasks.submission(0, task_hash, digest),
        Ok(five_blocks_task(&blocks))
    );
    assert_eq!(
        h.tasks.submission(0, task_hash, B256::repeat_byte(9)),
        Err(SubmitRefusal::Differs {
            own: digest,
            aggregate: B256::repeat_byte(9)
        })
    );

    let next = block(
        &mut builder,
        vec![responded_log(expected_response(0, &blocks[1]))],
    );
    h.commit(chain(std::slice::from_ref(&next))).await;
    assert_eq!(
        h.next().await,
        AvsEvent::TaskResponded {
            task_index: 0,
            block_number: next.number(),
            first: true,
        }
    );
    assert_eq!(
        h.tasks.get(0).map(|record| record.phase),
        Some(TaskPhase::Responded {
            block: next.number()
        })
    );
    assert_eq!(
        h.tasks.submission(0, task_hash, digest),
        Err(SubmitRefusal::Answered),
        "answered: nothing to submit"
    );
    // `FinishedHeight` stays at 3: task 0 holds it until the slashing-protection watermark
    // passes it (its response is not settled yet).
    h.assert_no_avs_event();

    // The response transaction is reverted: the response this node signed is restored (no
    // registry read, which may fail by then, and no new signature), and the task is reported
    // open again: the p2p layer submits at once, and the book shows what this node stands
    // behind.
    h.handle
        .send_notification_chain_reverted(chain(&[next]))
        .await
        .expect("send");
    assert_eq!(h.next().await, AvsEvent::ResponseReverted { task_index: 0 });
    assert_eq!(
        h.tasks.submission(0, task_hash, digest),
        Ok(five_blocks_task(&blocks)),
        "submittable as the p2p layer hears of the revert"
    );
    assert_eq!(
        *registry.asked.lock().expect("not poisoned"),
        vec![4],
        "restored, not answered again"
    );
    assert_eq!(
        h.tasks.get(0).map(|record| record.phase),
        Some(TaskPhase::Signed { digest }),
        "open again and signed again"
    );
    // Answered again on the new branch: not a first finality any more.
    let again = block(
        &mut builder,
        vec![responded_log(expected_response(0, &blocks[1]))],
    );
    h.commit(chain(std::slice::from_ref(&again))).await;
    assert_eq!(
        h.next().await,
        AvsEvent::TaskResponded {
            task_index: 0,
            block_number: again.number(),
            first: false,
        }
    );
    h.assert_no_avs_event();
    assert_eq!(h.metrics.tasks_seen.get(), 1);
    assert_eq!(h.metrics.responses_signed.get(), 1);
    assert_eq!(h.metrics.signing_latency_seconds.get_sample_count(), 1);
    h.exex.abort();
}

/// The watchtower check: a canonical response that differs from this node's own block is
/// disputed once (whatever the node signed), with what a challenge needs; a matching one is not.
#[tokio::test]
async fn a_response_that_differs_from_the_view_is_disputed_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, mut builder, blocks, truth) = signed_five_block_task(dir.path()).await;
    let wrong = TaskResponse {
        stateRoot: !truth.stateRoot,
        ..truth.clone()
    };
    let next = block(&mut builder, vec![responded_log(wrong.clone())]);
    h.commit(chain(std::slice::from_ref(&next))).await;
    assert!(matches!(h.next().await, AvsEvent::TaskResponded { .. }));
    let AvsEvent::ResponseDisputed(disputed) = h.next().await else {
        panic!("expected a dispute")
    };
    assert_eq!(disputed.task_index, 0);
    assert_eq!(disputed.response, wrong);
    assert_eq!(disputed.expected, truth);
    assert_eq!(disputed.task, five_blocks_task(&blocks));
    assert_eq!(disputed.metadata.taskRespondedBlock, 9);
    assert_eq!(h.metrics.responses_disputed.get(), 1);
    // Later blocks re-run the checks: the dispute is not raised again.
    let more = block(&mut builder, vec![]);
    h.commit(chain(std::slice::from_ref(&more))).await;
    h.finished().await;
    h.assert_no_avs_event();
    assert_eq!(h.metrics.responses_disputed.get(), 1);
    h.exex.abort();
}

/// An operator that signed but is listed as a non-signer of the finalized aggregate (read from
/// the `respondToTask` calldata) is told so: `avs_exex_own_signature_missing_total`.
#[tokio::test]
async fn a_signature_missing_from_the_finalized_aggregate_is_counted() {
    use alloy::{primitives::U256, sol_types::SolCall};
    use avs_contracts::avs::{AvsTaskManager::respondToTaskCall, IBLSSignatureChecker};
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, mut builder, blocks, truth) = signed_five_block_task(dir.path()).await;
    let me = operator_key().public_key().to_point();
    let call = respondToTaskCall {
        task: five_blocks_task(&blocks),
        response: truth.clone(),
        nonSignerStakesAndSignature: IBLSSignatureChecker::NonSignerStakesAndSignature {
            nonSignerQuorumBitmapIndices: vec![0],
            nonSignerPubkeys: vec![(me.x, me.y).into()],
            quorumApks: vec![],
            apkG2: ([U256::ZERO; 2], [U256::ZERO; 2]).into(),
            sigma: (U256::ZERO, U256::ZERO).into(),
            quorumApkIndices: vec![],
            totalStakeIndices: vec![],
            nonSignerStakeIndices: vec![],
        },
    };
    let next = block_of(
        &mut builder,
        TxSpec::call(call.abi_encode().into()),
        vec![responded_log(truth)],
    );
    h.commit(chain(std::slice::from_ref(&next))).await;
    assert!(matches!(h.next().await, AvsEvent::TaskResponded { .. }));
    h.finished().await;
    h.assert_no_avs_event();
    assert_eq!(h.metrics.own_signature_missing.get(), 1);
    h.exex.abort();
}

#[tokio::test]
async fn a_target_is_signed_only_once_at_the_attestation_depth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = Setup::new(config(2), &dir.path().join("sp.jsonl")).await;
    setup.attested = AttestedChain::new(TEST_CHAIN_ID, 64).with_depth(AttestDepth::Blocks(3));
    let mut h = setup.start();
    let mut builder = ChainBuilder::new(0);
    // Blocks 1..=5, task for checkpoint 3 in block 4: at tip 5 the horizon is block 2.
    let mut blocks: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    blocks.push(block(&mut builder, vec![created_log(0, task(3, 4))]));
    blocks.push(block(&mut builder, vec![]));
    h.commit(chain(&blocks)).await;
    assert!(matches!(h.next().await, AvsEvent::TaskCreated { .. }));
    assert_eq!(h.finished().await, 3);
    h.assert_no_avs_event();
    // Block 6 puts three blocks on top of block 3: now it is signed.
    let six = block(&mut builder, vec![]);
    h.commit(chain(std::slice::from_ref(&six))).await;
    expect_signed(h.next().await, &expected_response(0, &blocks[2]));
    h.exex.abort();
}

#[tokio::test]
async fn a_task_not_naming_the_block_that_created_it_is_not_signed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = Setup::new(config(2), &dir.path().join("sp.jsonl"))
        .await
        .start();
    let mut builder = ChainBuilder::new(0);
    let mut blocks: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    // Another fork's parent hash, then another creation block: both refused (fail closed).
    // Their response windows end at block 5, so the watermark passes them once block 6 settles.
    let other_fork = Task {
        taskCreatedParentHash: B256::repeat_byte(0x0F),
        responseWindowBlocks: 1,
        ..task(2, 4)
    };
    let wrong_block = Task {
        taskCreatedParentHash: blocks[2].hash,
        responseWindowBlocks: 1,
        ..task(1, 3)
    };
    blocks.push(raw_block(
        &mut builder,
        vec![created_log(0, other_fork), created_log(1, wrong_block)],
    ));
    blocks.push(block(&mut builder, vec![]));
    h.commit(chain(&blocks)).await;
    for index in 0..2 {
        assert!(matches!(
            h.next().await,
            AvsEvent::TaskCreated { task_index, .. } if task_index == index
        ));
    }
    assert_eq!(h.finished().await, 3, "no task is left open");
    h.assert_no_avs_event();
    assert_eq!(h.metrics.tasks_not_eligible.get(), 2);
    // A response to it that lands and is reverted does not reopen it.
    let responded = block(
        &mut builder,
        vec![responded_log(expected_response(0, &blocks[1]))],
    );
    h.commit(chain(std::slice::from_ref(&responded))).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskResponded { task_index: 0, .. }
    ));
    h.handle
        .send_notification_chain_reverted(chain(std::slice::from_ref(&responded)))
        .await
        .expect("send");
    // Notifications are processed in order: once the next block's height is finished, the
    // revert was handled.
    builder.fork_from(&blocks[4]);
    let next: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&next)).await;
    assert_eq!(h.finished().await, 6, "the watermark passed both tasks");
    for task_index in 0..2 {
        assert_eq!(
            h.next().await,
            AvsEvent::TaskClosed {
                task_index,
                answered: false
            },
            "refused, and its response reverted"
        );
    }
    h.assert_no_avs_event();
    assert_eq!(h.metrics.responses_signed.get(), 0);
    h.exex.abort();
}

#[tokio::test]
async fn reorg_drops_the_task_and_signs_the_task_recreated_at_its_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut h, mut builder, blocks, _) = signed_five_block_task(dir.path()).await;
    assert_eq!(h.finished().await, 3);

    // Blocks 2..=5 are replaced; the new branch re-creates task 0 for the *new* block 2 and
    // task 1 for block 1 (unchanged by the reorg).
    builder.fork_from(&blocks[0]);
    let new = vec![
        block(&mut builder, vec![]),
        block(&mut builder, vec![]),
        block(
            &mut builder,
            vec![created_log(0, task(2, 4)), created_log(1, task(1, 4))],
        ),
        block(&mut builder, vec![]),
    ];
    h.handle
        .send_notification_chain_reorged(chain(&blocks[1..]), chain(&new))
        .await
        .expect("send");
    assert_eq!(h.next().await, AvsEvent::TaskReverted { task_index: 0 });
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 1, .. }
    ));
    let recreated_task = Task {
        taskCreatedParentHash: new[1].hash,
        ..task(2, 4)
    };
    // The re-created task 0 names the new branch (its parent hash), so it is another task: the
    // old branch's signature is useless for it, and signing it is not a second response to the
    // old one. Both are signed; nothing is refused.
    let recreated = expect_signed(h.next().await, &expected_response(0, &new[0]));
    expect_signed(h.next().await, &expected_response(1, &blocks[0]));
    assert_eq!(h.metrics.slashing_protection_refusals.get(), 0);
    assert_eq!(h.metrics.responses_signed.get(), 3);
    assert_ne!(
        digest_of(
            &five_blocks_task(&blocks),
            &expected_response(0, &blocks[1])
        ),
        digest_of(
            &Task {
                taskCreatedParentHash: new[1].hash,
                ..task(2, 4)
            },
            &expected_response(0, &new[0])
        ),
    );
    assert!(
        operator_key().public_key_g2().verify(
            digest_of(
                &Task {
                    taskCreatedParentHash: new[1].hash,
                    ..task(2, 4)
                },
                &expected_response(0, &new[0])
            ),
            &recreated
        ),
        "signed over the re-created task"
    );
    // The book holds the re-created task, signed for the new branch's block: the old digest
    // cannot be submitted for it.
    let record = h.tasks.get(0).expect("re-created task 0");
    assert_eq!(record.task, recreated_task);
    assert_eq!(record.created_at, new[2].num_hash());
    let old_digest = digest_of(
        &five_blocks_task(&blocks),
        &expected_response(0, &blocks[1]),
    );
    // An aggregate for the old task at index 0 is not this task's: no alarm, no submission.
    assert_eq!(
        h.tasks
            .submission(0, five_blocks_task(&blocks).hash(), old_digest),
        Err(SubmitRefusal::UnknownTask)
    );
    h.exex.abort();
}

/// Two-chain mode: the attested chain is fed by its own ExEx on a second (test) host.
struct TwoChains {
    h: Harness,
    attested: TestExExHandle,
    attested_exex: JoinHandle<eyre::Result<()>>,
}

const ATTESTED_CHAIN_ID: u64 = 10_001;

async fn two_chains(dir: &std::path::Path) -> TwoChains {
    let mut config = config(2);
    config.attested_chain_id = ATTESTED_CHAIN_ID;
    let setup = Setup::new(config, &dir.join("sp.jsonl")).await;
    let (attested_ctx, attested) = test_exex_context();
    let attested_exex = tokio::spawn(attested_chain_exex(attested_ctx, setup.attested.clone(), 2));
    TwoChains {
        h: setup.start(),
        attested,
        attested_exex,
    }
}

fn attested_task(block_number: u64, created: u32) -> Task {
    Task {
        chainId: ATTESTED_CHAIN_ID,
        ..task(block_number, created)
    }
}

#[tokio::test]
async fn two_chains_withdraw_on_target_reorg_resend_same_and_refuse_different() {
    let dir = tempfile::tempdir().expect("temp dir");
    let TwoChains {
        mut h,
        mut attested,
        attested_exex,
    } = two_chains(dir.path()).await;
    let mut a = ChainBuilder::new(100);
    let original: Vec<_> = (0..3).map(|_| block(&mut a, vec![])).collect(); // 101..=103
    attested
        .send_notification_chain_committed(chain(&original))
        .await
        .expect("send");
    attested
        .next_event(WAIT)
        .await
        .expect("attested view applied");

    let mut s = ChainBuilder::new(0);
    let settlement = vec![block(&mut s, vec![created_log(0, attested_task(102, 1))])];
    h.commit(chain(&settlement)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    let response = expected_response(0, &original[1]);
    let signature = expect_signed(h.next().await, &response);

    // The target is reverted: withdrawn. Then the very same blocks come back: same signature.
    attested
        .send_notification_chain_reverted(chain(&original[1..]))
        .await
        .expect("send");
    assert_eq!(
        h.next().await,
        AvsEvent::ResponseWithdrawn { task_index: 0 }
    );
    attested
        .send_notification_chain_committed(chain(&original[1..]))
        .await
        .expect("send");
    assert_eq!(
        expect_signed(h.next().await, &response),
        signature,
        "re-sent unchanged"
    );
    assert_eq!(
        h.metrics.responses_signed.get(),
        1,
        "a re-send is not a new signature"
    );

    // A reorg replaces the target with a different block: withdrawn, and refused for good.
    a.fork_from(&original[0]);
    let fork: Vec<_> = (0..3).map(|_| block(&mut a, vec![])).collect(); // 102'..=104'
    attested
        .send_notification_chain_reorged(chain(&original[1..]), chain(&fork))
        .await
        .expect("send");
    assert_eq!(
        h.next().await,
        AvsEvent::ResponseWithdrawn { task_index: 0 }
    );
    // A second task (for block 101, untouched) is answered after task 0 was re-checked, so its
    // signature proves nothing else was sent for task 0.
    let settlement = vec![block(&mut s, vec![created_log(1, attested_task(101, 2))])];
    h.commit(chain(&settlement)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 1, .. }
    ));
    expect_signed(h.next().await, &expected_response(1, &original[0]));
    assert_eq!(h.metrics.slashing_protection_refusals.get(), 1);
    assert_eq!(h.metrics.responses_withdrawn.get(), 2);
    h.assert_no_avs_event();
    h.exex.abort();
    attested_exex.abort();
}

#[tokio::test]
async fn two_chains_wait_for_a_target_that_is_not_there_yet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let TwoChains {
        mut h,
        attested,
        attested_exex,
    } = two_chains(dir.path()).await;
    let mut s = ChainBuilder::new(0);
    let settlement = vec![block(&mut s, vec![created_log(0, attested_task(3, 1))])];
    h.commit(chain(&settlement)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    h.assert_no_avs_event();

    let blocks = ChainBuilder::new(0).chain(4, &[]);
    let target = blocks.blocks()[2].clone();
    attested
        .send_notification_chain_committed(blocks)
        .await
        .expect("send");
    expect_signed(h.next().await, &expected_response(0, &target));
    h.exex.abort();
    attested_exex.abort();
}

#[tokio::test(start_paused = true)]
async fn a_missing_target_times_out_and_unblocks_finished_height() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(1);
    config.target_wait = Duration::from_secs(30);
    let mut h = Setup::new(config, &dir.path().join("sp.jsonl"))
        .await
        .start();
    let mut builder = ChainBuilder::new(0);
    // Task 0 targets block 50 of the same chain, which does not exist yet; its response window
    // ends at block 4.
    let short_window = Task {
        responseWindowBlocks: 2,
        ..task(50, 2)
    };
    let blocks = vec![
        block(&mut builder, vec![]),
        block(&mut builder, vec![created_log(0, short_window)]),
    ];
    h.commit(chain(&blocks)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    assert_eq!(
        h.finished().await,
        1,
        "held below the open task's creation block"
    );

    // Paused time jumps to the deadline once everything idles. The abandoned task holds
    // `FinishedHeight` until the watermark passes it (its response window settled, at tip 6);
    // then it is finished past.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let next: Vec<_> = (0..4).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&next)).await;
    assert_eq!(h.finished().await, 5);
    assert_eq!(h.metrics.target_timeouts.get(), 1);
    assert_eq!(
        h.next().await,
        AvsEvent::TaskClosed {
            task_index: 0,
            answered: false
        },
        "expired unanswered"
    );
    h.assert_no_avs_event();
    h.exex.abort();
}

#[tokio::test]
async fn an_operator_without_standing_does_not_sign() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = Setup::new(config(2), &dir.path().join("sp.jsonl")).await;
    setup.registry = FixedRegistry::new(OperatorStanding::NotRegistered);
    let mut h = setup.start();
    let blocks = five_blocks_with_task(&mut ChainBuilder::new(0));
    h.commit(chain(&blocks)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    assert_eq!(h.finished().await, 3);
    h.assert_no_avs_event();
    assert_eq!(h.metrics.tasks_not_eligible.get(), 1);
    h.exex.abort();
}

#[tokio::test]
async fn fault_mode_signs_a_wrong_state_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(2);
    config.fault_mode = FaultMode::SignWrongStateRoot;
    let mut h = Setup::new(config, &dir.path().join("sp.jsonl"))
        .await
        .start();
    let blocks = five_blocks_with_task(&mut ChainBuilder::new(0));
    h.commit(chain(&blocks)).await;
    assert!(matches!(h.next().await, AvsEvent::TaskCreated { .. }));
    let mut wrong = expected_response(0, &blocks[1]);
    wrong.stateRoot = !wrong.stateRoot;
    expect_signed(h.next().await, &wrong);
    h.exex.abort();
}

/// The process "dies" after the record is fsynced but before `Signed` leaves: the events channel
/// is full, so the ExEx is parked in the send when it is aborted. A fresh ExEx on the same store
/// file, given the same blocks again (no `FinishedHeight` was reported), re-sends the recorded
/// signature; one given a reorged target refuses.
#[tokio::test]
async fn restart_between_persisting_and_sending_resends_the_same_signature() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sp.jsonl");
    let blocks = five_blocks_with_task(&mut ChainBuilder::new(0));
    let key = TaskKey {
        chain_id: TEST_CHAIN_ID,
        task_manager: TASK_MANAGER,
        task_index: 0,
        task_hash: five_blocks_task(&blocks).hash(),
    };

    let mut setup = Setup::new(config(2), &path).await;
    setup.events_capacity = 1;
    let store = setup.store.clone();
    let mut first = setup.start();
    first.commit(chain(&blocks)).await;
    // Not reading the events: TaskCreated fills the channel, so Signed cannot be sent. Wait
    // (bounded) until the record is durable, then kill the ExEx.
    tokio::time::timeout(WAIT, async {
        while store.get(&key).is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the signature is recorded within the timeout");
    first.exex.abort();
    assert!(first.exex.await.expect_err("aborted").is_cancelled());
    assert!(matches!(
        first.events.recv().await,
        Some(AvsEvent::TaskCreated { .. })
    ));
    assert_eq!(
        first.events.recv().await,
        None,
        "Signed never left the process"
    );
    first.handle.assert_events_empty();
    let (digest, recorded) = store.get(&key).expect("recorded");
    drop(store);

    // Restart: same blocks re-delivered, same signature sent.
    let mut second = Setup::new(config(2), &path).await.start();
    second.commit(chain(&blocks)).await;
    assert!(matches!(second.next().await, AvsEvent::TaskCreated { .. }));
    let response = expected_response(0, &blocks[1]);
    assert_eq!(digest_of(&five_blocks_task(&blocks), &response), digest);
    assert_eq!(expect_signed(second.next().await, &response), recorded);
    assert_eq!(
        second.metrics.responses_signed.get(),
        0,
        "re-sent, not signed anew"
    );
    second.exex.abort();

    // Restart after a reorg replaced the target (and so the task's parent block) while the node
    // was down: the task re-created on the new branch is another task, signed anew.
    let mut builder = ChainBuilder::new(0);
    builder.fork_from(&blocks[0]);
    let mut fork = vec![blocks[0].clone()];
    fork.extend((0..2).map(|_| block(&mut builder, vec![])));
    fork.push(block(&mut builder, vec![created_log(0, task(2, 4))]));
    let mut third = Setup::new(config(2), &path).await.start();
    third.commit(chain(&fork)).await;
    assert!(matches!(third.next().await, AvsEvent::TaskCreated { .. }));
    let AvsEvent::Signed(signed) = third.next().await else {
        panic!("the re-created task is signed")
    };
    assert_eq!(signed.response, expected_response(0, &fork[1]));
    assert_ne!(signed.digest, digest, "another task, another message");
    assert_eq!(third.metrics.slashing_protection_refusals.get(), 0);
    third.exex.abort();
}

/// The tests' task manager, the scope of the store's watermark.
const DEPLOYMENT: TaskManagerId = TaskManagerId {
    chain_id: TEST_CHAIN_ID,
    task_manager: TASK_MANAGER,
};

/// The store key of a task as the ExEx announced it.
fn key_of(event: &AvsEvent) -> TaskKey {
    let AvsEvent::TaskCreated { task_index, task } = event else {
        panic!("expected TaskCreated, got {event:?}")
    };
    TaskKey {
        chain_id: TEST_CHAIN_ID,
        task_manager: TASK_MANAGER,
        task_index: *task_index,
        task_hash: task.hash(),
    }
}

/// The watermark moves over a task only once its creation and the end of its response window
/// (or its response) are `retention_blocks` deep, in index order: never past a task that is
/// still open, even when later tasks are closed. `FinishedHeight` stays below the first task it
/// has not passed.
#[tokio::test]
async fn the_watermark_advances_only_over_tasks_closed_for_good() {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Setup::new(config(2), &dir.path().join("sp.jsonl")).await;
    let store = setup.store.clone();
    let mut h = setup.start();
    let mut builder = ChainBuilder::new(0);

    // Task 0 (block 4) can be answered until block 7; task 1 (block 5) until block 105.
    let mut blocks: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    let short_window = Task {
        responseWindowBlocks: 3,
        ..task(2, 4)
    };
    blocks.push(block(&mut builder, vec![created_log(0, short_window)]));
    blocks.push(block(&mut builder, vec![created_log(1, task(3, 5))]));
    h.commit(chain(&blocks)).await;
    let task_0 = key_of(&h.next().await);
    key_of(&h.next().await);
    expect_signed(h.next().await, &expected_response(0, &blocks[1]));
    expect_signed(h.next().await, &expected_response(1, &blocks[2]));
    assert_eq!(h.finished().await, 3);

    // Task 1 is answered in block 6.
    let six = block(
        &mut builder,
        vec![responded_log(expected_response(1, &blocks[2]))],
    );
    h.commit(chain(std::slice::from_ref(&six))).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskResponded { task_index: 1, .. }
    ));
    // Block 9 (settled: 7) creates task 2, open until block 109. Task 1's response is settled,
    // but task 0's window is not over before the settled block: nothing moves.
    let mut more: Vec<_> = (0..2).map(|_| block(&mut builder, vec![])).collect();
    more.push(block(&mut builder, vec![created_log(2, task(6, 9))]));
    h.commit(chain(&more)).await;
    let task_2 = key_of(&h.next().await);
    // Task 1's response is settled: closed for good, before task 0 whose window is not.
    assert_eq!(
        h.next().await,
        AvsEvent::TaskClosed {
            task_index: 1,
            answered: true
        }
    );
    expect_signed(h.next().await, &expected_response(2, &six));
    assert_eq!(store.watermark(DEPLOYMENT), 0, "task 0 is still open");

    // Block 10 (settled: 8) closes task 0 for good: the watermark passes tasks 0 and 1 and
    // `FinishedHeight` moves up to the block before task 2's creation.
    let ten = block(&mut builder, vec![]);
    h.commit(chain(std::slice::from_ref(&ten))).await;
    assert_eq!(h.finished().await, 8);
    assert_eq!(store.watermark(DEPLOYMENT), 2);
    // Task 0 is reported closed for good too (the p2p layer drops its signatures); both leave
    // the book, task 2 stays.
    assert_eq!(
        h.next().await,
        AvsEvent::TaskClosed {
            task_index: 0,
            answered: false
        }
    );
    assert_eq!((h.tasks.get(0), h.tasks.get(1)), (None, None));
    assert!(matches!(
        h.tasks.get(2).map(|record| record.phase),
        Some(TaskPhase::Signed { .. })
    ));
    let refused = store
        .sign_once(task_0, B256::repeat_byte(1), |_| panic!("must not sign"))
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::BelowWatermark { watermark: 2, .. })
        ),
        "{refused:?}"
    );

    // Thirty blocks later task 2 is still open: neither the watermark nor `FinishedHeight`
    // passes it, though task 3 after it is created and signed.
    let later: Vec<_> = (0..29).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&later)).await;
    let forty = block(&mut builder, vec![created_log(3, task(35, 40))]);
    h.commit(chain(std::slice::from_ref(&forty))).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 3, .. }
    ));
    expect_signed(h.next().await, &expected_response(3, &later[24]));
    assert_eq!(store.watermark(DEPLOYMENT), 2);
    assert!(
        store.get(&task_2).is_some(),
        "an open task's record is kept"
    );
    h.handle.assert_events_empty();
    h.exex.abort();
}

/// A restarted node re-reads tasks below the watermark it loaded. Pruned before they could be
/// reported closed for good, they are reported closed then, so the p2p layer drops them too.
#[tokio::test]
async fn tasks_pruned_below_a_loaded_watermark_are_reported_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = Setup::new(config(2), &dir.path().join("sp.jsonl")).await;
    setup
        .store
        .raise_watermark(DEPLOYMENT, 1)
        .await
        .expect("raise the watermark");
    let mut h = setup.start();
    let mut builder = ChainBuilder::new(0);
    let blocks = five_blocks_with_task(&mut builder);
    h.commit(chain(&blocks)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    // Below the watermark: not signed. Three blocks later its creation is below the pruning
    // floor, long before its response window is settled.
    let more: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&more)).await;
    assert_eq!(
        h.next().await,
        AvsEvent::TaskClosed {
            task_index: 0,
            answered: false
        }
    );
    assert_eq!(h.tasks.get(0), None);
    h.assert_no_avs_event();
    assert_eq!(h.metrics.responses_signed.get(), 0);
    h.exex.abort();
}

/// A task answered, its response reverted, and then past its window unanswered is reported
/// closed unanswered (the node counts it as expired).
#[tokio::test]
async fn a_task_whose_response_was_reverted_and_then_expired_is_closed_unanswered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = Setup::new(config(2), &dir.path().join("sp.jsonl"))
        .await
        .start();
    let mut builder = ChainBuilder::new(0);
    let mut blocks: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    // Created in block 4, answerable until block 7.
    let short_window = Task {
        taskCreatedParentHash: blocks[2].hash,
        responseWindowBlocks: 3,
        ..task(2, 4)
    };
    blocks.push(block(&mut builder, vec![created_log(0, short_window)]));
    h.commit(chain(&blocks)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    expect_signed(h.next().await, &expected_response(0, &blocks[1]));
    let responded = block(
        &mut builder,
        vec![responded_log(expected_response(0, &blocks[1]))],
    );
    h.commit(chain(std::slice::from_ref(&responded))).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskResponded { first: true, .. }
    ));
    h.handle
        .send_notification_chain_reverted(chain(&[responded]))
        .await
        .expect("send");
    assert_eq!(h.next().await, AvsEvent::ResponseReverted { task_index: 0 });
    // Nobody answers again; block 10 settles block 8, past the window.
    builder.fork_from(&blocks[3]);
    let later: Vec<_> = (0..6).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&later)).await;
    assert_eq!(
        h.next().await,
        AvsEvent::TaskClosed {
            task_index: 0,
            answered: false
        }
    );
    h.exex.abort();
}

/// Issue 15's migration: a signed task's record is exported, the store is wiped, the file is
/// imported into a fresh store, and the ExEx restarted on it with the task still open. A
/// different target block for it (an attested-chain reorg) is refused; the same one gets the
/// exported signature re-sent, not a new one.
#[tokio::test]
async fn export_wipe_import_restart_never_re_signs_an_open_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old_dir, new_dir) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::create_dir_all(&old_dir).expect("old data directory");
    std::fs::create_dir_all(&new_dir).expect("new data directory");
    let mut a = ChainBuilder::new(100);
    let original: Vec<_> = (0..3).map(|_| block(&mut a, vec![])).collect(); // 101..=103
    let mut s = ChainBuilder::new(0);
    let settlement = vec![block(&mut s, vec![created_log(0, attested_task(102, 1))])];

    // The old node signs task 0 for block 102.
    let TwoChains {
        mut h,
        mut attested,
        attested_exex,
    } = two_chains(&old_dir).await;
    attested
        .send_notification_chain_committed(chain(&original))
        .await
        .expect("send");
    attested.next_event(WAIT).await.expect("view applied");
    h.commit(chain(&settlement)).await;
    assert!(matches!(h.next().await, AvsEvent::TaskCreated { .. }));
    let response = expected_response(0, &original[1]);
    let signature = expect_signed(h.next().await, &response);
    h.exex.abort();
    attested_exex.abort();
    assert!(h.exex.await.expect_err("aborted").is_cancelled());

    // Export, wipe, import.
    let exported = SlashingProtectionStore::open(old_dir.join("sp.jsonl"))
        .await
        .expect("old store")
        .export(DEPLOYMENT)
        .to_json();
    std::fs::remove_dir_all(&old_dir).expect("wipe the old node");
    let summary = SlashingProtectionStore::open(new_dir.join("sp.jsonl"))
        .await
        .expect("new store")
        .import(
            DEPLOYMENT,
            Interchange::from_json(&exported).expect("parses"),
        )
        .await
        .expect("import");
    assert_eq!(summary.imported, 1);

    // The new node sees task 0 still open, but block 102 is another block on its attested
    // chain: the task's digest differs, and nothing is signed for it.
    let TwoChains {
        mut h,
        mut attested,
        attested_exex,
    } = two_chains(&new_dir).await;
    a.fork_from(&original[0]);
    let mut forked = vec![original[0].clone()];
    forked.extend((0..2).map(|_| block(&mut a, vec![]))); // 102'..=103'
    attested
        .send_notification_chain_committed(chain(&forked))
        .await
        .expect("send");
    attested.next_event(WAIT).await.expect("view applied");
    h.commit(chain(&settlement)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    // Task 1 (block 101, the same on both branches) is answered after task 0 was tried, so its
    // signature proves nothing was sent for task 0.
    let next = vec![block(&mut s, vec![created_log(1, attested_task(101, 2))])];
    h.commit(chain(&next)).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 1, .. }
    ));
    expect_signed(h.next().await, &expected_response(1, &original[0]));
    assert_eq!(h.metrics.slashing_protection_refusals.get(), 1);
    assert_eq!(h.metrics.responses_signed.get(), 1, "only task 1");
    h.assert_no_avs_event();
    h.exex.abort();
    attested_exex.abort();
    assert!(h.exex.await.expect_err("aborted").is_cancelled());

    // Restarted on the original attested chain: the old node's signature, re-sent.
    let TwoChains {
        mut h,
        attested,
        attested_exex,
    } = two_chains(&new_dir).await;
    attested
        .send_notification_chain_committed(chain(&original))
        .await
        .expect("send");
    h.commit(chain(&settlement)).await;
    assert!(matches!(h.next().await, AvsEvent::TaskCreated { .. }));
    assert_eq!(expect_signed(h.next().await, &response), signature);
    assert_eq!(h.metrics.responses_signed.get(), 0, "re-sent, not signed");
    h.exex.abort();
    attested_exex.abort();
}

fn generator_config() -> GeneratorConfig {
    GeneratorConfig {
        interval: 5,
        confirmations: 2,
        quorum_threshold_percentage: 67,
        quorum_numbers: Bytes::from(vec![0]),
        confirm_within_blocks: 1,
    }
}

/// An ExEx with the generator role (retention 3), creating through `contract`, with its
/// slashing-protection record in `dir`.
async fn generator_harness(dir: &std::path::Path, contract: &InMemoryTaskManager) -> Harness {
    let mut config = config(3);
    config.generator = Some(generator_config());
    let mut setup = Setup::new(config, &dir.join("sp.jsonl")).await;
    setup.generator = Some(contract.clone());
    setup.start()
}

#[tokio::test]
async fn generator_skips_an_unprovable_checkpoint_for_good() {
    let dir = tempfile::tempdir().expect("temp dir");
    let contract = InMemoryTaskManager::default();
    contract.unprovable.lock().expect("not poisoned").push(5);
    let mut h = generator_harness(dir.path(), &contract).await;
    let mut builder = ChainBuilder::new(0);
    // Blocks 1..=12: checkpoint 5 is refused as unprovable, checkpoint 10 is created.
    let blocks: Vec<_> = (0..12).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&blocks)).await;
    assert_eq!(h.finished().await, 9);
    assert_eq!(contract.calls(), vec![5, 10]);
    // Later blocks do not try checkpoint 5 again.
    let more: Vec<_> = (0..3).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&more)).await;
    assert_eq!(h.finished().await, 12);
    assert_eq!(
        contract.calls().iter().filter(|c| **c == 5).count(),
        1,
        "an unprovable checkpoint is skipped for good"
    );
    assert_eq!(h.metrics.task_creation_failures.get(), 1);
    h.exex.abort();
}

#[tokio::test]
async fn generator_creates_each_confirmed_checkpoint_once_and_again_after_a_reorg() {
    let dir = tempfile::tempdir().expect("temp dir");
    let contract = InMemoryTaskManager::default();
    let mut h = generator_harness(dir.path(), &contract).await;
    let mut builder = ChainBuilder::new(0);

    // Blocks 1..=6: checkpoint 5 has only one confirmation.
    let first: Vec<_> = (0..6).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&first)).await;
    assert_eq!(h.finished().await, 3);
    assert_eq!(contract.calls(), Vec::<u64>::new());

    // Block 7 confirms checkpoint 5; its creation shows up in block 8.
    let seven = block(&mut builder, vec![]);
    h.commit(chain(std::slice::from_ref(&seven))).await;
    assert_eq!(h.finished().await, 4);
    assert_eq!(contract.calls(), vec![5]);
    assert_eq!(h.metrics.tasks_created.get(), 1);
    let eight = block(&mut builder, vec![created_log(0, task(5, 8))]);
    h.commit(chain(std::slice::from_ref(&eight))).await;
    assert!(matches!(
        h.next().await,
        AvsEvent::TaskCreated { task_index: 0, .. }
    ));
    assert!(matches!(h.next().await, AvsEvent::Signed(_)));
    assert_eq!(h.finished().await, 5);
    assert_eq!(
        contract.calls(),
        vec![5],
        "a created checkpoint is not created again"
    );

    // Block 8 (with the creation) is reorged out: the contract forgets the task, the generator
    // creates it again.
    contract.forget(5);
    builder.fork_from(&seven);
    let replacement = block(&mut builder, vec![]);
    h.handle
        .send_notification_chain_reorged(chain(&[eight]), chain(&[replacement]))
        .await
        .expect("send");
    assert_eq!(h.next().await, AvsEvent::TaskReverted { task_index: 0 });
    tokio::time::timeout(WAIT, async {
        while contract.calls().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the checkpoint is created again");
    assert_eq!(contract.calls(), vec![5, 5]);
    assert_eq!(h.metrics.tasks_created.get(), 2);
    h.exex.abort();
}

#[tokio::test]
async fn a_restarted_generator_treats_existing_tasks_as_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let contract = InMemoryTaskManager::default();
    let blocks = ChainBuilder::new(0).chain(13, &[TxSpec::transfer()]);
    for run in 0..2 {
        let mut h = generator_harness(dir.path(), &contract).await;
        h.commit(blocks.clone()).await;
        assert_eq!(h.finished().await, 10);
        assert_eq!(h.metrics.tasks_created.get(), if run == 0 { 2 } else { 0 });
        h.exex.abort();
    }
    assert_eq!(
        contract.calls(),
        vec![5, 10, 5, 10],
        "the restart asked, the contract refused"
    );
    assert_eq!(contract.tasks.lock().expect("not poisoned").len(), 2);
}

/// Set in the child process of [`a_killed_process_resends_the_same_signature_after_restart`]:
/// the store path it runs with.
const KILL_CHILD_STORE: &str = "AVS_EXEX_KILL_RESTART_CHILD_STORE";

/// A real kill: this test re-runs itself as a child process whose ExEx records a signature and
/// then parks sending it (nobody reads its events channel); the parent `SIGKILL`s the child as
/// soon as the record is on disk, then runs a fresh ExEx on the same store file and blocks, which
/// re-sends exactly the recorded signature.
#[tokio::test]
async fn a_killed_process_resends_the_same_signature_after_restart() {
    let blocks = five_blocks_with_task(&mut ChainBuilder::new(0));
    if let Some(path) = std::env::var_os(KILL_CHILD_STORE) {
        let mut setup = Setup::new(config(2), std::path::Path::new(&path)).await;
        setup.events_capacity = 1;
        let h = setup.start();
        h.commit(chain(&blocks)).await;
        // Keep the unread receiver alive until killed.
        std::future::pending::<()>().await;
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sp.jsonl");
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "tests::a_killed_process_resends_the_same_signature_after_restart",
            "--exact",
        ])
        .env(KILL_CHILD_STORE, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the child test process");
    tokio::time::timeout(WAIT, async {
        while !std::fs::read(&path).is_ok_and(|bytes| bytes.ends_with(b"\n")) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the child records its signature within the timeout");
    child.kill().await.expect("SIGKILL the child");

    let store = SlashingProtectionStore::open(&path)
        .await
        .expect("reopen after the kill");
    let key = TaskKey {
        chain_id: TEST_CHAIN_ID,
        task_manager: TASK_MANAGER,
        task_index: 0,
        task_hash: five_blocks_task(&blocks).hash(),
    };
    let (digest, recorded) = store.get(&key).expect("the child's record survived");
    let response = expected_response(0, &blocks[1]);
    assert_eq!(digest, digest_of(&five_blocks_task(&blocks), &response));

    let mut h = Setup::new(config(2), &path).await.start();
    h.commit(chain(&blocks)).await;
    assert!(matches!(h.next().await, AvsEvent::TaskCreated { .. }));
    assert_eq!(
        expect_signed(h.next().await, &response),
        recorded,
        "the recorded signature"
    );
    assert_eq!(
        h.metrics.responses_signed.get(),
        0,
        "re-sent, never signed anew"
    );
    h.exex.abort();
}

/// Blocks 1..=7 to a generator: checkpoint 5, confirmed at 7, is sent once. The builder goes on
/// from block 7.
async fn checkpoint_5_sent(h: &mut Harness, contract: &InMemoryTaskManager) -> ChainBuilder {
    let mut builder = ChainBuilder::new(0);
    let first: Vec<_> = (0..7).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&first)).await;
    assert_eq!(h.finished().await, 4);
    assert_eq!(contract.calls(), vec![5]);
    builder
}

#[tokio::test]
async fn an_own_creation_missing_from_the_settlement_chain_is_created_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let contract = InMemoryTaskManager::default();
    let mut h = generator_harness(dir.path(), &contract).await;
    let mut builder = checkpoint_5_sent(&mut h, &contract).await;

    // Sent at settlement tip 7, so its log is due by block 8 (confirm_within_blocks 1). The
    // transaction was mined and reorged out before the host delivered it (or dropped): block 8
    // has no creation log, and the contract has no task. Still within the allowance.
    contract.forget(5);
    let eight = block(&mut builder, vec![]);
    h.commit(chain(&[eight])).await;
    assert_eq!(h.finished().await, 5);
    assert_eq!(contract.calls(), vec![5], "the log may still come");
    // Block 9 passes the allowance without the log: the checkpoint is created again.
    let nine = block(&mut builder, vec![]);
    h.commit(chain(&[nine])).await;
    assert_eq!(h.finished().await, 6);
    assert_eq!(contract.calls(), vec![5, 5], "created again");
    assert_eq!(h.metrics.tasks_created.get(), 2);
    h.exex.abort();
}

#[tokio::test]
async fn a_creation_sent_while_backfilling_is_awaited_relative_to_the_nodes_head() {
    let dir = tempfile::tempdir().expect("temp dir");
    let contract = InMemoryTaskManager::default();
    // The host delivers block 7 while the node is already at 20: the creation lands near 21.
    contract.set_head(20);
    let mut h = generator_harness(dir.path(), &contract).await;
    let mut builder = checkpoint_5_sent(&mut h, &contract).await;
    // Backfilled blocks 8 and 9 cannot hold the log yet: no second creation.
    let later: Vec<_> = (0..2).map(|_| block(&mut builder, vec![])).collect();
    h.commit(chain(&later)).await;
    assert_eq!(h.finished().await, 6);
    assert_eq!(
        contract.calls(),
        vec![5],
        "not created again while backfilling"
    );
    h.exex.abort();
}

#[tokio::test]
async fn refuses_to_start_with_a_view_smaller_than_the_retention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut setup = Setup::new(config(100), &dir.path().join("sp.jsonl")).await;
    setup.attested = AttestedChain::new(TEST_CHAIN_ID, 10);
    let h = setup.start();
    let result = tokio::time::timeout(WAIT, h.exex)
        .await
        .expect("stops at once")
        .expect("no panic");
    let err = result.expect_err("retention 100 > capacity 10");
    assert!(err.to_string().contains("retention_blocks"), "{err}");
}
