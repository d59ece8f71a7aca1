//! In-process operator nodes (real swarms, each with a real [`Submitter`] paying from its
//! operator's wallet) answering tasks of a real EigenLayer deployment on anvil: in the normal
//! case exactly one `respondToTask` transaction per task, from rank 0; with rank 0 down since
//! the last task at quorum (it signed nothing there), rank 1 answers from its own wallet at
//! once; with the first signer unable to submit, the next signer answers, and not before one
//! submission slot has passed.

use crate::support::*;
use alloy::{
    consensus::Transaction as _,
    network::EthereumWallet,
    primitives::Address,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use avs_contracts::avs::{AvsTaskManager, IAvsTaskManager::Task};
use avs_contracts::sender::{ConfirmPolicy, SenderConfig, WalletSender};
use avs_contracts::testing::TestDevnet;
use avs_p2p::{
    OperatorId, RegistryReader, ServiceEvent, SignatureMessage, SignatureService, SubmitError,
    SubmitMetrics, SubmitOutcome, Submitter, submitter_rank,
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{sync::mpsc, task::JoinHandle};

/// Equal stakes at the devnet's 66 % threshold: any three of the four nodes are a quorum, two
/// are not.
const STAKES: [u128; 4] = [10, 10, 10, 10];
const SLOT: Duration = Duration::from_secs(2);

/// Tasks as created, shared with the drivers (the aggregate carries only the index).
type Tasks = Arc<Mutex<HashMap<u32, Task>>>;

/// A submission a node's driver made.
#[derive(Debug)]
struct Submitted {
    node: usize,
    task_index: u32,
    /// The node's rank for the task when its aggregate became ready.
    rank: Option<u32>,
    at: Instant,
    outcome: Result<SubmitOutcome, SubmitError>,
}

struct Node {
    service: SignatureService,
    driver: JoinHandle<()>,
    wallet: Address,
    /// Cleared: the driver drops due submissions (a node that signs but cannot submit).
    submits: Arc<AtomicBool>,
}

/// What `bin/avs-node`'s bridge does with a due submission: look the task up and submit.
async fn drive(
    node: usize,
    mut events: mpsc::Receiver<ServiceEvent>,
    submitter: Submitter,
    tasks: Tasks,
    submits: Arc<AtomicBool>,
    report: mpsc::Sender<Submitted>,
) {
    let mut ranks = HashMap::new();
    while let Some(event) = events.recv().await {
        let aggregate = match event {
            ServiceEvent::QuorumReached { aggregate, rank } => {
                ranks.insert(aggregate.task_index, rank);
                continue;
            }
            ServiceEvent::SubmitDue(aggregate) => aggregate,
            _ => continue,
        };
        if !submits.load(Ordering::SeqCst) {
            continue;
        }
        let task = tasks
            .lock()
            .expect("tasks lock")
            .get(&aggregate.task_index)
            .cloned();
        let Some(task) = task else { continue };
        let outcome = submitter.submit(&aggregate, &task).await;
        let submitted = Submitted {
            node,
            task_index: aggregate.task_index,
            rank: ranks.get(&aggregate.task_index).copied().flatten(),
            at: Instant::now(),
            outcome,
        };
        if report.send(submitted).await.is_err() {
            return;
        }
    }
}

async fn start_nodes(
    devnet: &TestDevnet,
    tasks: &Tasks,
    report: &mpsc::Sender<Submitted>,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut bootnodes = Vec::new();
    for (i, op) in devnet.operators.iter().enumerate() {
        let mut service = service(bootnodes.clone(), Some(OperatorId(op.operator_id)), SLOT).await;
        if i == 0 {
            bootnodes.push(tcp_addr(service.handle.network()));
        }
        // The operator's own account (anvil account i + 1) pays for its submissions.
        let signer: PrivateKeySigner = devnet.anvil.keys()[i + 1].clone().into();
        let wallet = signer.address();
        let sender = WalletSender::new(
            ProviderBuilder::new()
                .connect_http(devnet.anvil.endpoint_url())
                .erased(),
            EthereumWallet::from(signer),
            devnet.deployment.chain_id,
            SenderConfig {
                poll_interval: Duration::from_millis(50),
                ..SenderConfig::default()
            },
        );
        let submitter = Submitter::new(
            Arc::new(sender),
            devnet.deployment.clone(),
            ConfirmPolicy {
                receipt_timeout: Duration::from_secs(20),
                ..ConfirmPolicy::default()
            },
            SubmitMetrics::register(&prometheus::Registry::new()).expect("fresh registry"),
        );
        let events = std::mem::replace(&mut service.events, mpsc::channel(1).1);
        let submits = Arc::new(AtomicBool::new(true));
        let driver = tokio::spawn(drive(
            i,
            events,
            submitter,
            Arc::clone(tasks),
            Arc::clone(&submits),
            report.clone(),
        ));
        nodes.push(Node {
            service,
            driver,
            wallet,
            submits,
        });
    }
    let nets: Vec<_> = nodes
        .iter()
        .map(|n| n.service.handle.network().clone())
        .collect();
    all_status("full connectivity and subscriptions", &nets, |s| {
        s.subscribed.len() == nets.len() - 1
    })
    .await;
    nodes
}

/// Creates a task, gives it to the `live` nodes and has each publish its signature. Returns
/// the task index, its submitter ranks by node and the instant before the first signature.
async fn run_task(
    devnet: &TestDevnet,
    nodes: &[Node],
    live: &[usize],
    tasks: &Tasks,
) -> eyre::Result<(u32, Vec<u32>, Instant)> {
    let block = devnet.next_checkpoint().await?;
    let (task_index, task) = devnet.create_task(block).await?;
    let response = avs_p2p::TaskResponse::from(&devnet.true_response(task_index, block).await?);
    let info = RegistryReader::new(devnet.provider.clone(), &devnet.deployment)
        .task_info(task_index, &task)
        .await?;
    tasks.lock().expect("tasks lock").insert(task_index, task);
    let ids: Vec<OperatorId> = devnet
        .operators
        .iter()
        .map(|o| OperatorId(o.operator_id))
        .collect();
    let ranks = ids
        .iter()
        .map(|id| submitter_rank(task_index, *id, ids.iter().copied()).expect("member"))
        .collect();
    for &i in live {
        nodes[i].service.handle.add_task(info.clone()).await?;
    }
    let before_signatures = Instant::now();
    for &i in live {
        let message = SignatureMessage {
            task_index,
            response,
            signature: devnet.operators[i]
                .bls
                .sign(info.digest(&response))
                .to_bytes(),
            operator_id: ids[i],
            task_hash: info.attestation.task.hash(),
        };
        nodes[i].service.handle.publish_own(message).await?;
    }
    Ok((task_index, ranks, before_signatures))
}

/// Waits for the submission that answered `task_index`, checks it was mined from `node`'s
/// wallet, and tells the `live` nodes it is answered (their ExEx would see `TaskResponded`).
async fn answered(
    devnet: &TestDevnet,
    nodes: &[Node],
    live: &[usize],
    reports: &mut mpsc::Receiver<Submitted>,
    task_index: u32,
) -> eyre::Result<Submitted> {
    let submitted = tokio::time::timeout(WAIT, async {
        loop {
            let s = reports.recv().await.expect("drivers running");
            if s.task_index == task_index
                && matches!(s.outcome, Ok(SubmitOutcome::Responded { .. }))
            {
                return s;
            }
        }
    })
    .await
    .map_err(|_| eyre::eyre!("task {task_index} not answered within {WAIT:?}"))?;
    let Ok(SubmitOutcome::Responded { tx_hash, .. }) = submitted.outcome else {
        unreachable!("matched above")
    };
    let receipt = devnet
        .provider
        .get_transaction_receipt(tx_hash)
        .await?
        .ok_or_else(|| eyre::eyre!("receipt of {tx_hash}"))?;
    assert!(receipt.status(), "task {task_index}: the response reverted");
    assert_eq!(receipt.from, nodes[submitted.node].wallet);
    for &i in live {
        nodes[i].service.handle.task_responded(task_index).await?;
    }
    Ok(submitted)
}

/// `respondToTask` transactions to the task manager in every block, reverted ones included,
/// counted by the task they answer.
async fn responses_by_task(devnet: &TestDevnet) -> eyre::Result<BTreeMap<u32, usize>> {
    let head = devnet.provider.get_block_number().await?;
    let mut counts = BTreeMap::new();
    for number in devnet.deployment.deployment_block..=head {
        let block = devnet
            .provider
            .get_block_by_number(number.into())
            .full()
            .await?
            .ok_or_else(|| eyre::eyre!("block {number}"))?;
        for tx in block.transactions.txns() {
            if tx.to() != Some(devnet.deployment.avs.task_manager)
                || !tx
                    .input()
                    .starts_with(&AvsTaskManager::respondToTaskCall::SELECTOR)
            {
                continue;
            }
            let call = AvsTaskManager::respondToTaskCall::abi_decode(tx.input())?;
            *counts.entry(call.response.referenceTaskIndex).or_default() += 1;
        }
    }
    Ok(counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_response_per_task_and_a_node_down_since_the_last_quorum_holds_no_slot()
-> eyre::Result<()> {
    let devnet = TestDevnet::start(&STAKES, |_| {}).await?;
    let tasks: Tasks = Arc::default();
    let (report_tx, mut reports) = mpsc::channel(64);
    let nodes = start_nodes(&devnet, &tasks, &report_tx).await;
    let all: Vec<usize> = (0..nodes.len()).collect();

    // The normal case: everyone up, rank 0 answers at once.
    let mut answered_tasks = Vec::new();
    for _ in 0..2 {
        let (task_index, ranks, _) = run_task(&devnet, &nodes, &all, &tasks).await?;
        let submitted = answered(&devnet, &nodes, &all, &mut reports, task_index).await?;
        assert_eq!(ranks[submitted.node], 0, "task {task_index}");
        answered_tasks.push(task_index);
    }

    // A node goes down: from the first task at quorum without it on, it holds no slot. Rank 0
    // of the task after next is stopped before next; next is answered by the others (a slot
    // late if the stopped node was rank 0 there too), then the stopped node's task by rank 1,
    // at once: as rank 0 of the nodes that hold a slot. Task indices are sequential, so ranks
    // are known in advance.
    let next = answered_tasks[answered_tasks.len() - 1] + 1;
    let ids: Vec<OperatorId> = devnet
        .operators
        .iter()
        .map(|o| OperatorId(o.operator_id))
        .collect();
    let rank =
        |task: u32, i: usize| submitter_rank(task, ids[i], ids.iter().copied()).expect("member");
    let down = (0..nodes.len())
        .find(|&i| rank(next + 1, i) == 0)
        .expect("a rank 0");
    let stopped = nodes[down].service.handle.network().clone();
    stopped.shutdown().await;
    nodes[down].driver.abort();
    let live: Vec<usize> = all.iter().copied().filter(|&i| i != down).collect();
    let (task_index, _, _) = run_task(&devnet, &nodes, &live, &tasks).await?;
    assert_eq!(task_index, next);
    answered(&devnet, &nodes, &live, &mut reports, task_index).await?;
    answered_tasks.push(task_index);
    let (task_index, ranks, _) = run_task(&devnet, &nodes, &live, &tasks).await?;
    assert_eq!(task_index, next + 1);
    let submitted = answered(&devnet, &nodes, &live, &mut reports, task_index).await?;
    assert_eq!(ranks[submitted.node], 1);
    assert_eq!(
        submitted.rank,
        Some(0),
        "rank 1 of the set waited a slot for a member that signed nothing in the last task"
    );
    answered_tasks.push(task_index);

    // The first live node of the next task signs but cannot submit (its submitter is gone):
    // the second live node answers, one slot after quorum.
    let next = task_index + 1;
    let mut by_rank = live.clone();
    by_rank.sort_by_key(|&i| rank(next, i));
    let (silent, second) = (by_rank[0], by_rank[1]);
    nodes[silent].submits.store(false, Ordering::SeqCst);
    let (task_index, _, before_signatures) = run_task(&devnet, &nodes, &live, &tasks).await?;
    assert_eq!(task_index, next);
    let submitted = answered(&devnet, &nodes, &live, &mut reports, task_index).await?;
    assert_eq!(submitted.node, second, "task {task_index}");
    assert_eq!(submitted.rank, Some(1), "task {task_index}");
    let waited = submitted.at.duration_since(before_signatures);
    assert!(
        waited >= SLOT,
        "the second signer answered after {waited:?}, before one slot"
    );
    answered_tasks.push(task_index);

    // No node sends a second response: an absence is observable only over time, so wait past
    // rank 2's slot of the last task (the earlier tasks' slots have passed by now).
    tokio::time::sleep(SLOT * 2).await;
    let counts = responses_by_task(&devnet).await?;
    assert_eq!(
        counts,
        answered_tasks
            .iter()
            .map(|&t| (t, 1))
            .collect::<BTreeMap<_, _>>(),
        "respondToTask transactions per task"
    );
    drop(report_tx);
    while let Ok(extra) = reports.try_recv() {
        assert!(
            !matches!(extra.outcome, Ok(SubmitOutcome::Responded { .. })),
            "a second response: {extra:?}"
        );
    }

    for node in &nodes {
        node.driver.abort();
        node.service.handle.network().shutdown().await;
    }
    Ok(())
}
