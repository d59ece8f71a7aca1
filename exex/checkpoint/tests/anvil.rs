//! The AVS ExEx against EigenLayer's real contracts on anvil, driven by the real host.
//!
//! Four operators are onboarded (deposit, EigenLayer and AVS registration with their BLS keys);
//! each runs an AVS ExEx on one host, operator 0 also as task generator with the owner's wallet.
//! Checks: a task is created for every `interval`-th attested block, exactly once, and every
//! operator signs each task with a signature that verifies against the key it registered, over
//! the block's true hash and roots.
//!
//! - `same_chain`: settlement = attested = one anvil.
//! - `two_chains`: tasks on the settlement anvil attest a second anvil (chain id 31338), whose
//!   blocks reach the AVS ExExes through a second host running `attested_chain_exex`.
//! - `deregistered`: one operator deregisters before the run; the registries (read at each
//!   task's reference block) make its ExEx skip every task while the others sign.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::{B256, Bytes, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use avs_bls::SecretKey;
use avs_checkpoint::{
    AttestedChain, AvsConfig, AvsDeps, AvsEvent, AvsMetrics, ContractTaskCreator, CreateError,
    CreateOutcome, GeneratorConfig, RegistryReader, SignedResponse, SlashingProtectionStore,
    TaskBook, TaskCreator, attested_chain_exex, avs_exex,
};
use avs_contracts::{
    avs::{AvsTaskManager, IAvsTaskManager::Task},
    deployment::Deployment,
    eigenlayer::interfaces::{IBLSApkRegistryCalls, IRegistryCoordinatorCalls},
    operator::OperatorClient,
    sender::{SendError, SenderConfig},
    testing::{TestDevnet, TestOperator, deploy_and_onboard, wallet_provider, wallet_sender},
};
use avs_exex::host::{Host, HostConfig};
use avs_test_support::AnvilInstance;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

const OPERATORS: usize = 4;
const INTERVAL: u64 = 5;
const ATTESTED_CHAIN_ID: u64 = 31338;
/// Bound for the whole run (deployment excluded).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn host_config(anvil: &AnvilInstance, dir: &std::path::Path, start_block: u64) -> HostConfig {
    let mut config = HostConfig::new(anvil.endpoint(), dir);
    config.start_block = start_block;
    config.poll_interval = Duration::from_millis(50);
    config.retry_initial = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(500);
    config
}

/// A host running until its shutdown sender is dropped or fires.
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<eyre::Result<()>>,
}

impl Running {
    fn start(host: Host) -> Self {
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            host.run(async {
                let _ = stop.await;
            })
            .await
            .map_err(Into::into)
        });
        Self {
            shutdown: Some(shutdown),
            task,
        }
    }

    async fn stop(mut self) -> eyre::Result<()> {
        drop(self.shutdown.take());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .map_err(|_| eyre::eyre!("host did not stop within 30s"))??
    }
}

/// Mines a block every 100 ms on each given anvil: the chains' heartbeat, not a synchronisation.
fn mine_continuously(anvils: Vec<DynProvider>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            for provider in &anvils {
                if let Err(err) = provider.anvil_mine(Some(1), None).await {
                    eprintln!("anvil_mine failed: {err}");
                }
            }
        }
    })
}

/// Everything the scenarios observe: the deployment, the operators, the running hosts and the
/// merged stream of every AVS ExEx's events tagged with its operator index.
struct Nodes {
    deployment: Deployment,
    operators: Vec<TestOperator>,
    hosts: Vec<Running>,
    events: mpsc::Receiver<(usize, AvsEvent)>,
    metrics: Vec<AvsMetrics>,
    settlement_provider: DynProvider,
    attested_provider: Option<DynProvider>,
    attested_chain_id: u64,
    attested_start: u64,
    _dir: tempfile::TempDir,
}

impl Nodes {
    async fn stop(self) -> eyre::Result<()> {
        for host in self.hosts {
            host.stop().await?;
        }
        Ok(())
    }

    async fn next_event(&mut self) -> eyre::Result<(usize, AvsEvent)> {
        tokio::time::timeout(RUN_TIMEOUT, self.events.recv())
            .await
            .map_err(|_| eyre::eyre!("no AVS event within {RUN_TIMEOUT:?}"))?
            .ok_or_else(|| eyre::eyre!("every AVS ExEx stopped"))
    }
}

/// Deploys and onboards on `settlement`, deregisters operator `deregistered` (if any), and starts
/// the hosts: one per chain, the settlement host with one AVS ExEx per operator (operator 0 also
/// generates tasks), following from the current blocks.
async fn start_nodes(
    settlement: &AnvilInstance,
    attested: Option<&AnvilInstance>,
    deregistered: Option<usize>,
) -> eyre::Result<Nodes> {
    let (deployment, operators) = deploy_and_onboard(settlement, &[10; OPERATORS], |config| {
        config.avs.checkpoint_interval = INTERVAL;
    })
    .await?;
    if let Some(index) = deregistered {
        let signer = &operators[index].signer;
        OperatorClient::new(
            wallet_provider(settlement, signer).await,
            &deployment,
            signer.address(),
        )
        .deregister()
        .await?;
    }
    let owner: PrivateKeySigner = settlement.keys()[0].clone().into();
    let settlement_provider = wallet_provider(settlement, &owner).await;
    let owner_sender = wallet_sender(
        settlement,
        owner.clone(),
        settlement_provider.get_chain_id().await?,
        SenderConfig::default(),
    );
    let attested_provider = match attested {
        Some(anvil) => Some(wallet_provider(anvil, &owner).await),
        None => None,
    };
    let settlement_chain_id = settlement_provider.get_chain_id().await?;
    let attested_chain_id = match &attested_provider {
        Some(provider) => provider.get_chain_id().await?,
        None => settlement_chain_id,
    };
    let settlement_start = settlement_provider.get_block_number().await? + 1;
    let attested_start = match &attested_provider {
        Some(provider) => provider.get_block_number().await? + 1,
        None => settlement_start,
    };
    let dir = tempfile::tempdir()?;
    let registry = prometheus::Registry::new();

    let attested_view = AttestedChain::new(attested_chain_id, 256);
    let mut hosts = Vec::new();
    if let Some(anvil) = attested {
        let mut host = Host::new(
            host_config(anvil, &dir.path().join("attested"), attested_start),
            &prometheus::Registry::new(),
        )?;
        let view = attested_view.clone();
        host.install_exex("attested", move |ctx| attested_chain_exex(ctx, view, 64));
        hosts.push(Running::start(host));
    }

    let mut host = Host::new(
        host_config(settlement, &dir.path().join("settlement"), settlement_start),
        &registry,
    )?;
    let (signed_tx, signed_rx) = mpsc::channel::<(usize, AvsEvent)>(256);
    let mut metrics = Vec::new();
    for (index, operator) in operators.iter().enumerate() {
        let mut config = AvsConfig::same_chain(
            settlement_chain_id,
            deployment.avs.task_manager,
            deployment.eigenlayer.registry_coordinator,
            deployment.eigenlayer.operator_state_retriever,
        );
        config.attested_chain_id = attested_chain_id;
        config.target_wait = Duration::from_secs(60);
        let generator = (index == 0).then(|| {
            config.generator = Some(GeneratorConfig {
                interval: INTERVAL,
                confirmations: 1,
                quorum_threshold_percentage: 66,
                quorum_numbers: Bytes::from(vec![0]),
                confirm_within_blocks: 8,
            });
            ContractTaskCreator::new(
                Arc::clone(&owner_sender),
                &deployment,
                Duration::from_secs(30),
            )
        });
        let operator_registry = prometheus::Registry::new();
        let avs_metrics = AvsMetrics::register(&operator_registry)?;
        metrics.push(avs_metrics.clone());
        let store =
            SlashingProtectionStore::open(dir.path().join(format!("sp-{index}.jsonl"))).await?;
        let bls_key = SecretKey::from_be_bytes(operator.bls.to_be_bytes().as_slice())?;
        let (events, mut rx) = mpsc::channel(64);
        let forward = signed_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if forward.send((index, event)).await.is_err() {
                    break;
                }
            }
        });
        let view = attested_view.clone();
        host.install_exex(format!("avs-{index}"), move |ctx| async move {
            let deps = AvsDeps {
                registry: RegistryReader::new(
                    ctx.provider.clone(),
                    config.operator_state_retriever,
                    config.registry_coordinator,
                ),
                config,
                bls_key,
                store,
                generator,
                attested: view,
                events,
                metrics: avs_metrics,
                tasks: TaskBook::new(),
            };
            avs_exex(ctx, deps).await.map_err(Into::into)
        });
    }
    drop(signed_tx);
    hosts.push(Running::start(host));
    Ok(Nodes {
        deployment,
        operators,
        hosts,
        events: signed_rx,
        metrics,
        settlement_provider,
        attested_provider,
        attested_chain_id,
        attested_start,
        _dir: dir,
    })
}

/// The main scenario: blocks are mined continuously until every registered operator signed the
/// tasks of the first three checkpoints; then tasks, keys and responses are checked.
async fn run(
    settlement: &AnvilInstance,
    attested: Option<&AnvilInstance>,
    deregistered: Option<usize>,
) -> eyre::Result<()> {
    let mut nodes = start_nodes(settlement, attested, deregistered).await?;
    let signers: Vec<usize> = (0..OPERATORS)
        .filter(|op| Some(*op) != deregistered)
        .collect();
    let (settlement_provider, attested_provider) = (
        nodes.settlement_provider.clone(),
        nodes.attested_provider.clone(),
    );
    let mut mined = vec![settlement_provider.clone()];
    mined.extend(attested_provider.clone());
    let metrics = nodes.metrics.clone();
    let miner = mine_continuously(mined);

    // Collect until every operator signed the tasks of the first three checkpoints.
    let mut tasks: BTreeMap<u32, Task> = BTreeMap::new();
    let mut signed: BTreeMap<(usize, u32), SignedResponse> = BTreeMap::new();
    let complete = |tasks: &BTreeMap<u32, Task>,
                    signed: &BTreeMap<(usize, u32), SignedResponse>| {
        tasks.len() >= 3
            && tasks
                .keys()
                .take(3)
                .all(|i| signers.iter().all(|op| signed.contains_key(&(*op, *i))))
            && deregistered.is_none_or(|op| metrics[op].tasks_not_eligible.get() >= 3)
    };
    let collected = tokio::time::timeout(RUN_TIMEOUT, async {
        while !complete(&tasks, &signed) {
            let (op, event) = nodes.next_event().await?;
            match event {
                AvsEvent::TaskCreated { task_index, task } if op == 0 => {
                    tasks.insert(task_index, task);
                }
                AvsEvent::Signed(response) => {
                    eyre::ensure!(
                        Some(op) != deregistered,
                        "deregistered operator {op} signed task {}",
                        response.task_index
                    );
                    let previous = signed.insert((op, response.task_index), response.clone());
                    assert!(
                        previous.is_none_or(|p| p == response),
                        "operator {op} sent two different responses for task {}",
                        response.task_index
                    );
                }
                AvsEvent::TaskReverted { .. } | AvsEvent::ResponseWithdrawn { .. } => {
                    eyre::bail!("no reorgs on anvil, yet got {event:?}")
                }
                _ => {}
            }
        }
        Ok(())
    })
    .await;
    miner.abort();
    let Nodes {
        deployment,
        operators,
        hosts,
        attested_chain_id,
        attested_start,
        ..
    } = nodes;
    for host in hosts {
        host.stop().await?;
    }
    collected.map_err(|_| {
        eyre::eyre!(
            "within {RUN_TIMEOUT:?} expected 3 tasks signed by all {OPERATORS} operators; got tasks \
             {tasks:?} and signatures {:?}",
            signed.keys().collect::<Vec<_>>()
        )
    })??;

    // Tasks: one per checkpoint, on the interval grid, starting at the first checkpoint the
    // generator followed, for the attested chain.
    let checkpoints: Vec<u64> = tasks.values().map(|task| task.blockNumber).collect();
    let first = attested_start.div_ceil(INTERVAL) * INTERVAL;
    let expected: Vec<u64> = (0..checkpoints.len() as u64)
        .map(|i| first + i * INTERVAL)
        .collect();
    assert_eq!(
        checkpoints, expected,
        "a task for every {INTERVAL}th block, exactly once"
    );
    assert!(tasks.values().all(|task| task.chainId == attested_chain_id));
    assert_eq!(
        tasks
            .values()
            .map(|t| t.blockNumber)
            .collect::<BTreeSet<_>>()
            .len(),
        tasks.len(),
        "no checkpoint tasked twice"
    );

    let attested_reader = attested_provider.as_ref().unwrap_or(&settlement_provider);
    let coordinator = IRegistryCoordinatorCalls::new(
        deployment.eigenlayer.registry_coordinator,
        &settlement_provider,
    );
    let apk_registry =
        IBLSApkRegistryCalls::new(deployment.eigenlayer.bls_apk_registry, &settlement_provider);
    for ((op, task_index), response) in signed
        .iter()
        .filter(|((_, i), _)| tasks.keys().take(3).any(|t| t == i))
    {
        let operator = &operators[*op];
        // The key the operator registered on-chain is the one that signed.
        let registered_id: B256 = coordinator
            .getOperatorId(operator.signer.address())
            .call()
            .await?;
        assert_eq!(response.operator_id.0, registered_id, "operator {op}");
        let registered = apk_registry
            .getRegisteredPubkey(operator.signer.address())
            .call()
            .await?;
        let local = operator.bls.public_key().to_point();
        assert_eq!(
            (registered._0.X, registered._0.Y),
            (local.x, local.y),
            "operator {op}"
        );
        // The contract's own EIP-712 hash of (task, response) is the message that was signed.
        let on_chain = AvsTaskManager::new(deployment.avs.task_manager, &settlement_provider)
            .attestationDigest(tasks[task_index].clone(), response.response.clone())
            .call()
            .await?;
        assert_eq!(
            response.digest, on_chain,
            "operator {op}, task {task_index}"
        );
        assert!(
            operator
                .bls
                .public_key_g2()
                .verify(on_chain, &response.signature),
            "operator {op}'s signature for task {task_index} verifies"
        );
        // Over the attested block's true hash and roots.
        let target = tasks[task_index].blockNumber;
        let header = attested_reader
            .get_block_by_number(target.into())
            .await?
            .ok_or_else(|| eyre::eyre!("block {target} exists"))?
            .header;
        assert_eq!(
            (
                response.response.blockHash,
                response.response.stateRoot,
                response.response.receiptsRoot
            ),
            (header.hash, header.state_root, header.receipts_root),
            "task {task_index} (block {target})"
        );
        assert_eq!(response.response.referenceTaskIndex, *task_index);
    }
    assert!(metrics[0].tasks_created.get() >= 3);
    assert!(
        metrics
            .iter()
            .all(|m| m.slashing_protection_refusals.get() == 0)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_chain_tasks_every_interval_signed_by_every_operator() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    run(&anvil, None, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chains_tasks_on_settlement_attest_the_other_anvil() -> eyre::Result<()> {
    let settlement = avs_test_support::anvil().spawn();
    let attested = avs_test_support::anvil()
        .chain_id(ATTESTED_CHAIN_ID)
        .spawn();
    run(&settlement, Some(&attested), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistered_operator_does_not_sign() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    run(&anvil, None, Some(3)).await
}

/// A task creator sending from the devnet's owner (its task generator).
fn owner_task_creator(devnet: &TestDevnet) -> ContractTaskCreator {
    ContractTaskCreator::new(
        devnet.wallet_sender(devnet.owner_key(), SenderConfig::default()),
        &devnet.deployment,
        Duration::from_secs(30),
    )
}

/// The wallet's fee cap applies to the generator too: above it no task creation (and no stake
/// update before it) is sent, and the typed refusal reaches the generator as an error; under
/// the cap the same checkpoint is created.
#[tokio::test]
async fn contract_task_creator_refuses_to_create_above_the_fee_cap() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&[10], |_| {}).await?;
    let owner = devnet.owner_key();
    let config = SenderConfig {
        max_fee_per_gas: 1,
        ..SenderConfig::default()
    };
    let capped = ContractTaskCreator::new(
        devnet.wallet_sender(owner.clone(), config),
        &devnet.deployment,
        Duration::from_secs(30),
    );
    let chain = devnet.deployment.chain_id;
    let quorums = Bytes::from(vec![0]);
    let checkpoint = devnet.next_checkpoint().await?;
    let nonce_before = devnet
        .provider
        .get_transaction_count(owner.address())
        .pending()
        .await?;
    let tasks_before = devnet.task_manager().latestTaskNum().call().await?;
    match capped
        .create_task(chain, checkpoint, 66, quorums.clone())
        .await
    {
        Err(CreateError::Send(SendError::FeeAboveCap {
            step,
            required,
            cap: 1,
        })) => {
            assert_eq!(step, "createNewTask");
            assert!(required > 1, "{required}");
        }
        other => panic!("expected FeeAboveCap, got {other:?}"),
    }
    assert_eq!(
        devnet
            .provider
            .get_transaction_count(owner.address())
            .pending()
            .await?,
        nonce_before,
        "nothing was sent"
    );
    devnet.provider.anvil_mine(Some(1), None).await?;
    assert_eq!(
        devnet.task_manager().latestTaskNum().call().await?,
        tasks_before
    );

    let outcome = owner_task_creator(&devnet)
        .create_task(chain, checkpoint, 66, quorums)
        .await?;
    assert!(matches!(outcome, CreateOutcome::Sent { .. }), "{outcome:?}");
    devnet.provider.anvil_mine(Some(1), None).await?;
    assert_eq!(
        devnet.task_manager().latestTaskNum().call().await?,
        tasks_before + 1
    );
    Ok(())
}

/// The contract's refusals reach the generator as outcomes, not errors: a checkpoint of this
/// chain too old to be provable until its challenge deadline, and a checkpoint tasked already.
#[tokio::test]
async fn contract_task_creator_reports_unprovable_and_duplicate_checkpoints() -> eyre::Result<()> {
    let devnet = TestDevnet::start(&[10], |_| {}).await?;
    let creator = owner_task_creator(&devnet);
    let chain = devnet.deployment.chain_id;
    let quorums = Bytes::from(vec![0]);
    // Without EIP-2935's history contract (anvil deploys it; mining past its 8,191 blocks takes
    // a minute) the contract reads hashes 256 blocks back.
    devnet
        .provider
        .anvil_set_code(
            "0x0000F90827F1C53a10cb7A02335B175320002935".parse()?,
            Bytes::new(),
        )
        .await?;
    let old = devnet.next_checkpoint().await?;
    devnet.provider.anvil_mine(Some(256), None).await?;
    let outcome = creator.create_task(chain, old, 66, quorums.clone()).await?;
    assert!(
        matches!(outcome, CreateOutcome::Unprovable { provable_until, .. } if provable_until == old + 256),
        "{outcome:?}"
    );
    let fresh = devnet.next_checkpoint().await?;
    let outcome = creator
        .create_task(chain, fresh, 66, quorums.clone())
        .await?;
    assert!(matches!(outcome, CreateOutcome::Sent { .. }), "{outcome:?}");
    devnet.provider.anvil_mine(Some(1), None).await?;
    let outcome = creator.create_task(chain, fresh, 66, quorums).await?;
    assert_eq!(outcome, CreateOutcome::AlreadyTasked { task_index: 0 });
    Ok(())
}

/// The stale-stake rule is on: once the withdrawal delay has passed since a quorum's last stake
/// update, no task can be answered. The generator updates the stakes before tasking, so the
/// tasks it creates can be.
#[tokio::test]
async fn contract_task_creator_keeps_stakes_fresh_for_the_stale_stake_rule() -> eyre::Result<()> {
    use avs_contracts::{
        avs::AvsTaskManager::AvsTaskManagerErrors,
        eigenlayer::interfaces::IRegistryCoordinatorCalls, testing::revert_error,
    };
    const DELAY: u64 = 40;
    let devnet = TestDevnet::start(&[10, 20], |config| {
        config.eigenlayer.min_withdrawal_delay_blocks = DELAY;
    })
    .await?;
    let coordinator = IRegistryCoordinatorCalls::new(
        devnet.deployment.eigenlayer.registry_coordinator,
        &devnet.provider,
    );
    // The coordinator counts a new quorum's stakes as fresh from its creation.
    let created: u64 = coordinator
        .quorumUpdateBlockNumber(0)
        .call()
        .await?
        .saturating_to();
    assert!(created > 0, "set at quorum creation");
    let head = devnet.provider.get_block_number().await?;
    if head <= created + DELAY {
        devnet
            .provider
            .anvil_mine(Some(created + DELAY + 1 - head), None)
            .await?;
    }
    // A task created without the update cannot be answered.
    let (_, stale_task, stale_response) = devnet.next_task().await?;
    let proof = devnet
        .aggregate(&stale_task, &stale_response, &[0, 1])
        .await?;
    let err = devnet
        .respond(&stale_task, &stale_response, proof)
        .await
        .expect_err("stale stakes");
    assert!(
        matches!(revert_error(&err), AvsTaskManagerErrors::StakesStale(_)),
        "{err}"
    );

    let creator = owner_task_creator(&devnet);
    let checkpoint = create_next_checkpoint(&devnet, &creator).await?;
    let updated = coordinator.quorumUpdateBlockNumber(0).call().await?;
    assert!(updated > U256::from(created), "the stakes were updated");
    let task_index = newest_task_index(&devnet).await?;
    let task = devnet
        .task_manager()
        .allTaskHashes(task_index)
        .call()
        .await?;
    assert_ne!(task, B256::ZERO, "the task was created");
    // Answer it: the reference block is after the update.
    let (task, response) = created_task(&devnet, task_index, checkpoint).await?;
    let proof = devnet.aggregate(&task, &response, &[0, 1]).await?;
    devnet.respond(&task, &response, proof).await?;
    Ok(())
}

/// Defect 6 of issue 15: stake updates were documented as periodic but nothing sent them, so
/// withdrawn stake kept counting. The generator now refreshes, once per period and before a
/// creation, exactly the operators whose delegated stake changed.
#[tokio::test]
async fn contract_task_creator_refreshes_changed_stakes_once_per_period() -> eyre::Result<()> {
    use alloy::primitives::{U256, aliases::U96};
    use avs_contracts::{eigenlayer::interfaces::IStakeRegistryCalls, testing::TOKEN};
    const PERIOD: u64 = 20;
    let devnet = TestDevnet::start(&[10, 20], |_| {}).await?;
    let metrics = AvsMetrics::register(&prometheus::Registry::new())?;
    let creator = owner_task_creator(&devnet).with_stake_refresh(PERIOD, &metrics);
    let stakes = IStakeRegistryCalls::new(
        devnet.deployment.eigenlayer.stake_registry,
        &devnet.provider,
    );
    let recorded = |i: usize| {
        let stakes = &stakes;
        let id = devnet.operators[i].operator_id;
        async move { stakes.getCurrentStake(id, 0).call().await }
    };
    let deposit = |i: usize, tokens: u128| {
        let devnet = &devnet;
        async move {
            let provider = wallet_provider(&devnet.anvil, &devnet.operators[i].signer).await;
            let mut client =
                OperatorClient::new(provider, &devnet.deployment, devnet.operator_address(i));
            client
                .mint_devnet_tokens(U256::from(tokens * TOKEN))
                .await?;
            client.deposit(U256::from(tokens * TOKEN)).await?;
            eyre::Ok(())
        }
    };
    let create = || async {
        create_next_checkpoint(&devnet, &creator).await?;
        eyre::Ok(())
    };

    // Nothing changed: the first (due) refresh finds nothing and sends nothing.
    create().await?;
    assert_eq!(metrics.stake_refreshes.get(), 0);
    // Operator 0 deposits 5 more: recorded only once the refresh is due again.
    deposit(0, 5).await?;
    create().await?;
    assert_eq!(recorded(0).await?, U96::from(10 * TOKEN), "not due yet");
    devnet.provider.anvil_mine(Some(PERIOD), None).await?;
    create().await?;
    assert_eq!(recorded(0).await?, U96::from(15 * TOKEN), "refreshed");
    assert_eq!(recorded(1).await?, U96::from(20 * TOKEN), "unchanged");
    assert_eq!(metrics.stake_refreshes.get(), 1);
    assert_eq!(
        metrics.stake_refresh_operators.get(),
        1,
        "only the changed one"
    );
    // The update and the creation went out in one nonce sequence: both were mined.
    let task_index = newest_task_index(&devnet).await?;
    assert_eq!(task_index, 2, "three tasks created");
    Ok(())
}

/// Creates (through `creator`) the task of the devnet's next checkpoint, mines it and returns
/// the checkpoint.
async fn create_next_checkpoint(
    devnet: &TestDevnet,
    creator: &ContractTaskCreator,
) -> eyre::Result<u64> {
    let checkpoint = devnet.next_checkpoint().await?;
    let outcome = creator
        .create_task(
            devnet.deployment.chain_id,
            checkpoint,
            66,
            Bytes::from(vec![0]),
        )
        .await?;
    eyre::ensure!(matches!(outcome, CreateOutcome::Sent { .. }), "{outcome:?}");
    devnet.provider.anvil_mine(Some(1), None).await?;
    Ok(checkpoint)
}

/// The index of the newest task.
async fn newest_task_index(devnet: &TestDevnet) -> eyre::Result<u32> {
    Ok(devnet.task_manager().latestTaskNum().call().await? - 1)
}

/// Task `task_index` (from its `NewTaskCreated` log) and the true response for `checkpoint`.
async fn created_task(
    devnet: &TestDevnet,
    task_index: u32,
    checkpoint: u64,
) -> eyre::Result<(Task, avs_contracts::avs::IAvsTaskManager::TaskResponse)> {
    let logs = devnet
        .task_manager()
        .NewTaskCreated_filter()
        .topic1(U256::from(task_index))
        .from_block(0)
        .query()
        .await?;
    let (event, _) = logs
        .into_iter()
        .next()
        .ok_or_else(|| eyre::eyre!("no NewTaskCreated for task {task_index}"))?;
    let response = devnet.true_response(task_index, checkpoint).await?;
    Ok((event.task, response))
}

/// A real settlement reorg (anvil snapshot/revert): the block creating the task is replaced, so
/// every operator drops the task, the generator creates it again (the contract's state was
/// reverted with it, so it gets the same index), and every operator signs it: the same response
/// (the target block is below the fork), but another message, since the re-created task names
/// the new branch (`taskCreatedParentHash`). Nothing is refused by slashing protection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorged_out_task_creation_is_created_again_and_signed_for_the_new_branch()
-> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let mut nodes = start_nodes(&anvil, None, None).await?;
    let provider = nodes.settlement_provider.clone();
    let head = provider.get_block_number().await?;
    let checkpoint = (head / INTERVAL + 1) * INTERVAL;
    provider.anvil_mine(Some(checkpoint - head), None).await?;
    let snapshot = provider.anvil_snapshot().await?;
    // Block checkpoint+1 confirms the checkpoint; the generator's transaction mines the next.
    provider.anvil_mine(Some(1), None).await?;

    let mut first: BTreeMap<usize, SignedResponse> = BTreeMap::new();
    let mut task_index = None;
    while first.len() < OPERATORS {
        match nodes.next_event().await? {
            (
                0,
                AvsEvent::TaskCreated {
                    task_index: index,
                    task,
                },
            ) => {
                assert_eq!(task.blockNumber, checkpoint);
                task_index = Some(index);
            }
            (op, AvsEvent::Signed(signed)) => {
                assert_eq!(signed.task_index, task_index.unwrap_or(signed.task_index));
                first.insert(op, signed);
            }
            (_, AvsEvent::TaskCreated { .. }) => {}
            (op, other) => eyre::bail!("operator {op}: unexpected {other:?} before the reorg"),
        }
    }
    let task_index = task_index.ok_or_else(|| eyre::eyre!("operator 0 saw no task"))?;

    // Replace everything above the checkpoint with a different, longer branch.
    assert!(
        provider.anvil_revert(snapshot).await?,
        "anvil reverted to the snapshot"
    );
    let sender: PrivateKeySigner = anvil.keys()[9].clone().into();
    wallet_provider(&anvil, &sender)
        .await
        .send_transaction(
            alloy::rpc::types::TransactionRequest::default()
                .to(anvil.addresses()[8])
                .value(U256::from(1)),
        )
        .await?
        .get_receipt()
        .await?;
    provider.anvil_mine(Some(2), None).await?;

    let mut seen: BTreeMap<usize, Vec<&'static str>> = BTreeMap::new();
    let done = |seen: &BTreeMap<usize, Vec<&'static str>>| {
        seen.len() == OPERATORS && seen.values().all(|steps| steps.len() == 3)
    };
    while !done(&seen) {
        let (op, event) = nodes.next_event().await?;
        let step = match event {
            AvsEvent::TaskReverted { task_index: index } if index == task_index => "reverted",
            AvsEvent::TaskCreated {
                task_index: index,
                task,
            } if index == task_index => {
                assert_eq!(task.blockNumber, checkpoint, "the same checkpoint again");
                "created"
            }
            AvsEvent::Signed(signed) => {
                assert_eq!(
                    signed.response, first[&op].response,
                    "operator {op} attests the same block"
                );
                assert_ne!(
                    signed.digest, first[&op].digest,
                    "operator {op} signs the task of the new branch"
                );
                "signed"
            }
            other => eyre::bail!("operator {op}: unexpected {other:?} after the reorg"),
        };
        seen.entry(op).or_default().push(step);
    }
    assert!(
        seen.values()
            .all(|steps| steps == &["reverted", "created", "signed"]),
        "{seen:?}"
    );
    assert_eq!(
        nodes.metrics[0].tasks_created.get(),
        2,
        "created, reorged out, created again"
    );
    for metrics in &nodes.metrics {
        assert_eq!(metrics.tasks_reverted.get(), 1);
        assert_eq!(
            metrics.responses_signed.get(),
            2,
            "the re-created task is another task"
        );
        assert_eq!(metrics.slashing_protection_refusals.get(), 0);
    }
    nodes.stop().await
}
