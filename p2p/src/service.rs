//! The signature service: the loop that ties the [`Network`] to the [`Validator`], the
//! [`TaskTable`] (validation and aggregation state, one entry per task) and the
//! [`SubmitScheduler`].
//!
//! The AVS ExEx feeds it tasks ([`ServiceHandle::add_task`]), its own signatures
//! ([`ServiceHandle::publish_own`]) and on-chain outcomes ([`ServiceHandle::task_closed`]);
//! it reads [`ServiceEvent`]s: an aggregate reached quorum, and — if this node's operator is
//! the one whose turn it is — a task is due for submission. Inbound gossip is drained in bursts
//! so bursts are batch-verified, and every verdict is reported back to gossipsub.
//!
//! The service never waits for its application: the application waits for the service (the
//! reply to `publish_own`) and is also the one that reads the events, so events the
//! application has not taken yet wait in the service's own queue (bounded by the open tasks,
//! each a few events per member), and the loop keeps answering requests and gossip meanwhile.
//!
//! With a [`SignatureJournal`] ([`SignatureService::spawn_with_journal`]) every accepted
//! signature is persisted (one fsync per burst) before it is reported, and the journal's records are
//! validated again and counted when their task is added after a restart; a closed task's
//! records are pruned, and so are the records of tasks that were not re-added before a later
//! task (the ExEx re-derives open tasks in index order, so those closed while the node was
//! down).
//!
//! With [`ServiceConfig::metrics`] every gossiped signature's verdict is counted
//! ([`SignatureMetrics`]).
//!
//! For a task split into signing groups ([`crate::groups`]) the service gossips its own
//! signature on its group's topic (subscribing to the groups of its operator in the open
//! tasks), publishes its group's partial aggregate on the deployment topic when its turn comes
//! ([`crate::group_duty`]), and counts the group aggregates it receives as their signers'
//! signatures.

use crate::{
    aggregation::{Aggregate, AggregationError},
    group_duty::{GroupDuties, GroupTiming, Turn},
    groups::GroupId,
    journal::SignatureJournal,
    metrics::SignatureMetrics,
    network::{Channel, InboundId, InboundMessage, InboundMessages, Network, NetworkHandle},
    operators::TaskInfo,
    ranking::{SubmitScheduler, turn_rank},
    tasks::TaskTable,
    validation::{Equivocation, Outcome, Validator, ValidatorConfig, Verified},
    wire::{GossipMessage, GroupAggregate, MAX_GROUP_BITMAP, OperatorId, SignatureMessage},
};
use libp2p::gossipsub::MessageId;
use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    time::{Duration, Instant},
};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{debug, warn};

/// Configuration of the [`SignatureService`].
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Buffer limits of the validator.
    pub validator: ValidatorConfig,
    /// Extra collection time after quorum (fewer non-signers, less gas).
    pub aggregation_window: Duration,
    /// Delay between consecutive submitter ranks.
    pub submit_slot: Duration,
    /// This node's operator, if it runs one; `None` for an observer that never submits.
    pub local_operator: Option<OperatorId>,
    /// Most inbound messages verified in one batch.
    pub max_burst: usize,
    /// Capacity of the event channel to the application. When it is full, further events
    /// wait in the service (they are never dropped, and the service does not block).
    pub event_queue: usize,
    /// Where gossiped signatures' verdicts are counted, if anywhere.
    pub metrics: Option<SignatureMetrics>,
    /// When this node publishes its signing group's aggregate (tasks split into groups).
    pub group_timing: GroupTiming,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            validator: ValidatorConfig::default(),
            aggregation_window: Duration::from_millis(500),
            // About one settlement-chain block: long enough for rank 0's transaction to be
            // seen before rank 1 acts.
            submit_slot: Duration::from_secs(12),
            local_operator: None,
            max_burst: 256,
            event_queue: 256,
            metrics: None,
            group_timing: GroupTiming::default(),
        }
    }
}

/// What the service reports to the application.
#[derive(Clone, Debug)]
pub enum ServiceEvent {
    /// A signature was validated and counted (ours or a peer's).
    Accepted {
        /// The task.
        task_index: u32,
        /// The signer.
        operator_id: OperatorId,
    },
    /// A response of the task reached quorum (after the aggregation window).
    QuorumReached {
        /// The aggregate at that moment.
        aggregate: Box<Aggregate>,
        /// This node's submitter rank for the task, if it runs a member operator (see
        /// [`crate::ranking`]).
        rank: Option<u32>,
    },
    /// It is this node's turn to submit the task: it is still open `rank × submit_slot` after
    /// quorum. The aggregate is rebuilt now, so it includes late signers.
    SubmitDue(Box<Aggregate>),
    /// Building an aggregate failed (a bug: only validated signatures are aggregated).
    AggregationFailed(String),
    /// An operator signed two different responses to one task; both signatures verify. Its
    /// second response was neither forwarded nor aggregated.
    Equivocation(Box<Equivocation>),
}

/// Why a service request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Our own signature was not accepted by our own validator.
    #[error("own signature for task {task_index} not accepted: {reason}")]
    OwnSignature {
        /// The task.
        task_index: u32,
        /// Why.
        reason: String,
    },
    /// Our own signature names a task the service does not have open (never added, e.g. its
    /// operator set could not be read, or already closed).
    #[error("task {task_index} is not open in the signature service")]
    TaskNotOpen {
        /// The task.
        task_index: u32,
    },
    /// The network refused to publish.
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    /// The service has stopped.
    #[error("the signature service has stopped")]
    Stopped,
}

enum Request {
    AddTask(Box<TaskInfo>),
    Answered(u32),
    Unanswered(u32),
    Closed(u32),
    Reverted(u32),
    PublishOwn(
        SignatureMessage,
        tokio::sync::oneshot::Sender<Result<(), ServiceError>>,
    ),
    Republish(
        SignatureMessage,
        tokio::sync::oneshot::Sender<Result<(), ServiceError>>,
    ),
}

/// Cloneable handle to a running [`SignatureService`].
#[derive(Clone, Debug)]
pub struct ServiceHandle {
    requests: mpsc::Sender<Request>,
    network: NetworkHandle,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AddTask(t) => write!(f, "AddTask({})", t.task_index),
            Self::Answered(i) => write!(f, "Answered({i})"),
            Self::Unanswered(i) => write!(f, "Unanswered({i})"),
            Self::Closed(i) => write!(f, "Closed({i})"),
            Self::Reverted(i) => write!(f, "Reverted({i})"),
            Self::PublishOwn(m, _) => write!(f, "PublishOwn({})", m.task_index),
            Self::Republish(m, _) => write!(f, "Republish({})", m.task_index),
        }
    }
}

impl ServiceHandle {
    /// Starts validating and aggregating for a task (replays signatures that arrived early).
    pub async fn add_task(&self, task: TaskInfo) -> Result<(), ServiceError> {
        self.send(Request::AddTask(Box::new(task))).await
    }

    /// A `TaskResponded` of the task is canonical: cancel a pending submission and submit
    /// nothing more for it, but keep its signatures, since a reorg may take the response out
    /// again ([`Self::response_reverted`]). [`Self::task_closed`] ends it for good.
    pub async fn task_responded(&self, task_index: u32) -> Result<(), ServiceError> {
        self.send(Request::Answered(task_index)).await
    }

    /// The task's `TaskResponded` left the canonical chain: its aggregate is submitted again
    /// (by rank, as after quorum), from the signatures already gathered.
    pub async fn response_reverted(&self, task_index: u32) -> Result<(), ServiceError> {
        self.send(Request::Unanswered(task_index)).await
    }

    /// The task can no longer change (its response window has passed, answered or not): stop
    /// everything for it, including a pending submission, and forget its signatures.
    pub async fn task_closed(&self, task_index: u32) -> Result<(), ServiceError> {
        self.send(Request::Closed(task_index)).await
    }

    /// The task's creation left the canonical chain: stop everything for it, as for a closed
    /// task, but let its index be added again (a reorg may create another task there).
    pub async fn task_reverted(&self, task_index: u32) -> Result<(), ServiceError> {
        self.send(Request::Reverted(task_index)).await
    }

    /// Validates our own signature (its task must have been added), counts it and gossips it.
    pub async fn publish_own(&self, message: SignatureMessage) -> Result<(), ServiceError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Request::PublishOwn(message, tx)).await?;
        rx.await.map_err(|_| ServiceError::Stopped)?
    }

    /// Offers our own signature, already published with [`Self::publish_own`], to the
    /// network again (after a publish found no peer): on the topic it belongs on, while its
    /// task is open.
    pub async fn republish_own(&self, message: SignatureMessage) -> Result<(), ServiceError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Request::Republish(message, tx)).await?;
        rx.await.map_err(|_| ServiceError::Stopped)?
    }

    /// The underlying network (status, dial, shutdown).
    pub fn network(&self) -> &NetworkHandle {
        &self.network
    }

    async fn send(&self, r: Request) -> Result<(), ServiceError> {
        self.requests
            .send(r)
            .await
            .map_err(|_| ServiceError::Stopped)
    }
}

/// A started service: its handle, its events and its task.
#[derive(Debug)]
pub struct SignatureService {
    /// Handle for tasks, own signatures and closing.
    pub handle: ServiceHandle,
    /// Events for the application.
    pub events: mpsc::Receiver<ServiceEvent>,
    /// The service task; ends when every handle is dropped or the network stops.
    pub task: JoinHandle<()>,
}

impl SignatureService {
    /// Spawns the service over a started network, without persistence.
    pub fn spawn(network: Network, config: ServiceConfig) -> Self {
        Self::start(network, config, None)
    }

    /// Spawns the service over a started network, persisting accepted signatures in
    /// `journal` and restoring the signatures it already holds when their tasks are added.
    pub fn spawn_with_journal(
        network: Network,
        config: ServiceConfig,
        journal: SignatureJournal,
    ) -> Self {
        Self::start(network, config, Some(journal))
    }

    fn start(network: Network, config: ServiceConfig, journal: Option<SignatureJournal>) -> Self {
        let (req_tx, req_rx) = mpsc::channel(1024);
        let (ev_tx, ev_rx) = mpsc::channel(config.event_queue.max(1));
        let handle = ServiceHandle {
            requests: req_tx,
            network: network.handle.clone(),
        };
        let mut restored: HashMap<u32, Vec<SignatureMessage>> = HashMap::new();
        for message in journal.iter().flat_map(|j| j.records()) {
            restored
                .entry(message.task_index)
                .or_default()
                .push(*message);
        }
        let state = State {
            journal,
            restored,
            validator: Validator::new(config.validator),
            tasks: TaskTable::new(config.aggregation_window, config.validator.closed_history),
            scheduler: SubmitScheduler::new(config.submit_slot),
            duties: GroupDuties::new(config.group_timing),
            groups: HashMap::new(),
            latest_group: None,
            subscribed: BTreeSet::new(),
            network: network.handle,
            outbox: VecDeque::new(),
            config,
        };
        let task = tokio::spawn(state.run(network.inbound, req_rx, ev_tx));
        Self {
            handle,
            events: ev_rx,
            task,
        }
    }
}

struct State {
    validator: Validator,
    /// The one per-task record of validation and aggregation.
    tasks: TaskTable,
    scheduler: SubmitScheduler,
    /// When to publish our signing group's aggregates.
    duties: GroupDuties,
    /// Our operator's signing group in each open task split into groups.
    groups: HashMap<u32, GroupId>,
    /// Our operator's group in the latest task added that is split into groups.
    latest_group: Option<GroupId>,
    /// The group topics we are subscribed to.
    subscribed: BTreeSet<GroupId>,
    network: NetworkHandle,
    /// Events not yet taken by the application. The loop never waits for the application:
    /// the application waits for the loop (`publish_own` replies) while it is the one that
    /// drains the event queue, so a loop blocked on a full queue deadlocks both (a restarted node
    /// restoring a journal of 16 tasks × 16 signatures did). Each event is a first for a task
    /// the application added (a signature accepted, quorum, a submission turn, an
    /// equivocation): at most the open tasks' members plus a few per task, while the
    /// application keeps reading (ours reads in the loop where it adds tasks).
    outbox: VecDeque<ServiceEvent>,
    config: ServiceConfig,
    /// Where accepted signatures are persisted, if anywhere.
    journal: Option<SignatureJournal>,
    /// Journal records from before the start, by task, waiting for their task to be added.
    /// Bounded by the journal's bound.
    restored: HashMap<u32, Vec<SignatureMessage>>,
}

/// Where a validated burst came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Gossip: verdicts go back to gossipsub, accepted signatures into the journal.
    Gossip,
    /// The journal: nothing to report, and already persisted.
    Journal,
}

/// How often buffered signatures are checked for expiry when nothing else wakes the loop.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

impl State {
    async fn run(
        mut self,
        mut inbound: InboundMessages,
        mut requests: mpsc::Receiver<Request>,
        events: mpsc::Sender<ServiceEvent>,
    ) {
        loop {
            let wake = [
                self.tasks.next_due(),
                self.scheduler.next_due(),
                self.duties.next_due(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + HOUSEKEEPING)
            .min(Instant::now() + HOUSEKEEPING);
            tokio::select! {
                msg = inbound.recv() => {
                    let Some(msg) = msg else { break };
                    let mut burst = vec![msg];
                    inbound.drain_ready(&mut burst, self.config.max_burst.saturating_sub(1));
                    if !self.process(burst, Origin::Gossip).await { break }
                }
                req = requests.recv() => {
                    let Some(req) = req else { break };
                    if !self.on_request(req).await { break }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    if !self.tick().await { break }
                }
                permit = events.reserve(), if !self.outbox.is_empty() => {
                    let Ok(permit) = permit else { break };
                    if let Some(event) = self.outbox.pop_front() {
                        permit.send(event);
                    }
                    // As many as fit now: a burst queues up to `max_burst` acceptances, and
                    // a submission turn behind them must not wait for one loop turn each.
                    self.flush(&events);
                }
            }
        }
        // What fits is still handed over (an application reading until the channel closes
        // gets it); the rest goes with the service.
        self.flush(&events);
        if !self.outbox.is_empty() {
            debug!(
                n = self.outbox.len(),
                "service stopped with events not taken"
            );
        }
        debug!("signature service stopped");
    }

    /// Validates a burst, reports every verdict of gossiped messages and persists the
    /// accepted ones. `false` once the network is gone.
    async fn process(&mut self, burst: Vec<InboundMessage>, origin: Origin) -> bool {
        let now = Instant::now();
        let outcomes = self.validator.validate_burst(&mut self.tasks, burst, now);
        let mut accepted = Vec::new();
        for (id, outcome) in outcomes {
            if origin == Origin::Gossip && !self.report(id, &outcome).await {
                return false;
            }
            match outcome {
                Outcome::Accept(v) => accepted.push(*v),
                Outcome::AcceptAggregate(a) => {
                    self.duties.grew(a.task_index, a.group, now);
                    for operator_id in a.newly_covered {
                        self.emit(ServiceEvent::Accepted {
                            task_index: a.task_index,
                            operator_id,
                        });
                    }
                }
                Outcome::Equivocation(evidence) => {
                    warn!(
                        task = evidence.task_index,
                        operator = %evidence.operator_id,
                        first = %evidence.first.digest,
                        second = %evidence.second.digest,
                        "operator signed two different responses to one task (equivocation)"
                    );
                    self.emit(ServiceEvent::Equivocation(evidence));
                }
                _ => {}
            }
        }
        if origin == Origin::Gossip {
            self.persist(&accepted).await;
        }
        for v in &accepted {
            self.accepted(v, now);
        }
        true
    }

    /// Counts a gossiped message's outcome and reports its verdict to gossipsub. `false` once
    /// the network is gone.
    async fn report(&self, id: InboundId, outcome: &Outcome) -> bool {
        if let Some(metrics) = &self.config.metrics {
            metrics.observe(outcome);
        }
        match outcome {
            Outcome::Accept(v) => debug!(
                peer = %id.source,
                task = v.task_index,
                operator = %v.operator_id,
                "signature accepted"
            ),
            Outcome::AcceptAggregate(a) => debug!(
                peer = %id.source,
                task = a.task_index,
                group = %a.group,
                signers = a.signers.len(),
                new = a.newly_covered.len(),
                "group aggregate accepted"
            ),
            Outcome::Deferred => {
                debug!(peer = %id.source, "signature deferred until its task is known")
            }
            other => debug!(peer = %id.source, outcome = ?other, "signature not accepted"),
        }
        match outcome.verdict() {
            Some(verdict) => self.network.report(id, verdict).await.is_ok(),
            None => true,
        }
    }

    /// Appends accepted signatures to the journal (one fsync per burst). A failure costs only
    /// durability across a restart, so it is logged and the signatures are still counted.
    async fn persist(&mut self, accepted: &[Verified]) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let messages: Vec<SignatureMessage> = accepted.iter().map(Verified::message).collect();
        if let Err(e) = journal.append(&messages).await {
            warn!(error = %e, n = messages.len(), "accepted signatures not journaled");
        }
    }

    /// Reports a signature the table counted when it accepted it.
    fn accepted(&mut self, v: &Verified, now: Instant) {
        if let Some(task) = self.tasks.get(v.task_index)
            && let Channel::Group(group) = task.signature_channel(&v.operator_id)
        {
            self.duties.grew(v.task_index, group, now);
        }
        self.emit(ServiceEvent::Accepted {
            task_index: v.task_index,
            operator_id: v.operator_id,
        });
    }

    async fn on_request(&mut self, req: Request) -> bool {
        match req {
            Request::AddTask(task) => {
                let task = *task;
                let index = task.task_index;
                self.prune_unclaimed_before(index).await;
                let replay = self.validator.add_task(&mut self.tasks, task);
                if !replay.is_empty() {
                    debug!(
                        n = replay.len(),
                        "replaying signatures that arrived before their task"
                    );
                    if !self.process(replay, Origin::Gossip).await {
                        return false;
                    }
                }
                self.join_group(index).await;
                let restored = self.restored.remove(&index).unwrap_or_default();
                if !restored.is_empty() {
                    debug!(n = restored.len(), "restoring journaled signatures");
                    let source = self.network.peer_id();
                    let Some(task) = self.tasks.task(index) else {
                        return true;
                    };
                    let burst = restored
                        .into_iter()
                        .map(|message| InboundMessage {
                            id: InboundId {
                                message_id: MessageId::new(b"journal"),
                                source,
                            },
                            channel: task.signature_channel(&message.operator_id),
                            message: GossipMessage::Signature(message),
                        })
                        .collect();
                    return self.process(burst, Origin::Journal).await;
                }
                true
            }
            Request::Answered(index) => {
                self.tasks.mark_answered(index);
                self.scheduler.mark_answered(index);
                self.duties.stop(index);
                true
            }
            Request::Unanswered(index) => {
                if self.tasks.reopen(index) {
                    debug!(task = index, "response reverted; the task falls due again");
                }
                true
            }
            Request::Closed(index) => {
                self.stop_task(index).await;
                self.tasks.close_task(index);
                true
            }
            Request::Reverted(index) => {
                self.stop_task(index).await;
                self.tasks.forget_task(index);
                true
            }
            Request::PublishOwn(message, reply) => {
                let result = self.publish_own(message).await;
                let _ = reply.send(result);
                true
            }
            Request::Republish(message, reply) => {
                // A task this service never got (its operator set could not be read) is
                // still offered on the deployment topic, where nodes of a set signed one by
                // one take it.
                let channel = self
                    .tasks
                    .get(message.task_index)
                    .map_or(Channel::Deployment, |t| {
                        t.signature_channel(&message.operator_id)
                    });
                let result = self
                    .network
                    .publish(channel, GossipMessage::Signature(message))
                    .await
                    .map_err(ServiceError::from);
                let _ = reply.send(result);
                true
            }
        }
    }

    /// Subscribes to our operator's signing group of a newly added task, if it is split into
    /// groups, and leaves the groups no open task needs.
    async fn join_group(&mut self, index: u32) {
        let group = self.config.local_operator.and_then(|me| {
            let task = self.tasks.task(index)?;
            if !task.is_member(&me) {
                return None;
            }
            match task.signature_channel(&me) {
                Channel::Group(group) => Some(group),
                Channel::Deployment => None,
            }
        });
        if let Some(group) = group {
            self.groups.insert(index, group);
            self.latest_group = Some(group);
            self.sync_groups().await;
        }
    }

    /// Tells the network the group topics the open tasks need, and the latest task's: the
    /// next task most likely has the same group, and a topic joined only when its task
    /// arrives has no mesh yet when our signature is published on it.
    async fn sync_groups(&mut self) {
        let wanted: BTreeSet<GroupId> = self
            .groups
            .values()
            .copied()
            .chain(self.latest_group)
            .collect();
        if wanted == self.subscribed {
            return;
        }
        self.subscribed = wanted.clone();
        if let Err(e) = self.network.set_groups(wanted.into_iter().collect()).await {
            debug!(error = %e, "group topics not updated: the network has stopped");
        }
    }

    /// Stops submitting and publishing for a task, leaves its group topic unless another task
    /// needs it, and drops its journal records (the caller drops its entry).
    async fn stop_task(&mut self, index: u32) {
        self.forget_journaled(index).await;
        self.scheduler.mark_answered(index);
        self.duties.stop(index);
        if self.groups.remove(&index).is_some() {
            self.sync_groups().await;
        }
    }

    /// Drops the journal records of tasks below `index` that were never re-added: the ExEx
    /// adds still-open tasks in index order, so those tasks closed while the node was down.
    async fn prune_unclaimed_before(&mut self, index: u32) {
        let closed: Vec<u32> = self
            .restored
            .keys()
            .copied()
            .filter(|&task| task < index)
            .collect();
        for task in closed {
            self.forget_journaled(task).await;
        }
    }

    /// Drops a closed task's journal records, restored and on disk. A failure costs only disk
    /// space until the record bound, so it is logged.
    async fn forget_journaled(&mut self, task: u32) {
        self.restored.remove(&task);
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.prune(task).await
        {
            warn!(error = %e, task, "closed task's signatures not pruned");
        }
    }

    async fn publish_own(&mut self, message: SignatureMessage) -> Result<(), ServiceError> {
        let id = InboundId {
            message_id: MessageId::new(b"local"),
            source: self.network.peer_id(),
        };
        let task_index = message.task_index;
        let Some(channel) = self
            .tasks
            .task(task_index)
            .map(|t| t.signature_channel(&message.operator_id))
        else {
            return Err(ServiceError::TaskNotOpen { task_index });
        };
        let now = Instant::now();
        let inbound = InboundMessage {
            id,
            channel,
            message: GossipMessage::Signature(message),
        };
        match self.validator.validate(&mut self.tasks, inbound, now) {
            Outcome::Accept(v) => {
                self.persist(std::slice::from_ref(&v)).await;
                if let Channel::Group(group) = channel {
                    self.start_duty(&v, group, now);
                }
                self.accepted(&v, now);
                self.network
                    .publish(channel, GossipMessage::Signature(message))
                    .await?;
                Ok(())
            }
            other => Err(ServiceError::OwnSignature {
                task_index,
                reason: format!("{other:?}"),
            }),
        }
    }

    /// Our signature for a task split into groups was counted: our turns to publish the
    /// group's aggregate start.
    fn start_duty(&mut self, own: &Verified, group: GroupId, now: Instant) {
        let Some(task) = self.tasks.task(own.task_index) else {
            return;
        };
        let mates: Vec<OperatorId> = task.group_members(group).copied().collect();
        let holders = self
            .tasks
            .turn_holders(own.task_index, mates.iter().copied());
        let rank = turn_rank(own.task_index, own.operator_id, &mates, &holders);
        self.duties
            .start(own.task_index, group, own.digest, rank, now);
    }

    /// Publishes our group's aggregate at our turn if it has signers that neither the best
    /// aggregate we received nor our last publication has.
    async fn take_turn(&mut self, turn: Turn) -> bool {
        let Some(task) = self.tasks.get(turn.task_index) else {
            return true;
        };
        let received = task
            .digests
            .get(&turn.digest)
            .and_then(|d| d.pieces.get(&turn.group))
            .map_or(0, |p| p.signers.len());
        let Some(ours) = task.group_aggregate(turn.digest, turn.group) else {
            return true;
        };
        if ours.signers.len() <= received.max(turn.published) {
            return true;
        }
        let info = &task.info;
        let positions = info
            .group_members(turn.group)
            .enumerate()
            .filter(|(_, id)| ours.signers.contains(id))
            .map(|(i, _)| i);
        let members = info.group_members(turn.group).count();
        if members > MAX_GROUP_BITMAP * 8 {
            warn!(
                task = turn.task_index,
                group = %turn.group,
                members,
                "signing group too large for an aggregate's bitmap; not publishing it"
            );
            return true;
        }
        let Some(response) = task.digests.get(&turn.digest).map(|d| d.response) else {
            return true;
        };
        let message = GroupAggregate {
            task_index: turn.task_index,
            response,
            task_hash: task.task_hash,
            group: turn.group,
            signature: ours.sigma.to_bytes(),
            signers: GroupAggregate::bitmap(members, positions),
        };
        debug!(
            task = turn.task_index,
            group = %turn.group,
            signers = ours.signers.len(),
            received,
            "publishing our group's aggregate"
        );
        match self
            .network
            .publish(Channel::Deployment, GossipMessage::GroupAggregate(message))
            .await
        {
            // Only a publication that went out counts (and lengthens the wait for the next).
            Ok(()) => {
                self.duties
                    .published(turn.task_index, ours.signers.len(), Instant::now());
                true
            }
            Err(crate::network::NetworkError::Stopped) => false,
            Err(e) => {
                debug!(error = %e, task = turn.task_index, "group aggregate not published");
                true
            }
        }
    }

    async fn tick(&mut self) -> bool {
        let now = Instant::now();
        for (id, outcome) in self.validator.expire_pending(now) {
            if !self.report(id, &outcome).await {
                return false;
            }
        }
        for ready in self.tasks.take_due(now) {
            match ready {
                Ok(aggregate) => self.on_quorum(aggregate, now),
                Err(e) => self.emit_error(&e),
            }
        }
        for turn in self.duties.take_due(now) {
            if !self.take_turn(turn).await {
                return false;
            }
        }
        for task_index in self.scheduler.take_due(now) {
            let event = match self.tasks.aggregate(task_index) {
                Some(Ok(a)) => ServiceEvent::SubmitDue(Box::new(a)),
                Some(Err(e)) => ServiceEvent::AggregationFailed(e.to_string()),
                None => continue,
            };
            self.emit(event);
        }
        true
    }

    fn on_quorum(&mut self, aggregate: Aggregate, now: Instant) {
        // A member whose node looks down holds no slot ahead of ours (`crate::ranking`).
        let rank = self.config.local_operator.and_then(|me| {
            let task = self.tasks.task(aggregate.task_index)?;
            task.is_member(&me).then(|| {
                let members: Vec<OperatorId> = task.members().map(|(id, _)| *id).collect();
                let holders = self
                    .tasks
                    .turn_holders(aggregate.task_index, members.iter().copied());
                turn_rank(aggregate.task_index, me, &members, &holders)
            })
        });
        if let Some(rank) = rank {
            self.scheduler.schedule(aggregate.task_index, now, rank);
        }
        self.emit(ServiceEvent::QuorumReached {
            aggregate: Box::new(aggregate),
            rank,
        });
    }

    fn emit_error(&mut self, e: &AggregationError) {
        warn!(error = %e, "aggregation failed");
        self.emit(ServiceEvent::AggregationFailed(e.to_string()));
    }

    /// Queues an event for the application (see [`State::outbox`]).
    fn emit(&mut self, event: ServiceEvent) {
        self.outbox.push_back(event);
    }

    /// Hands queued events to the application while its channel has room, without waiting.
    fn flush(&mut self, events: &mpsc::Sender<ServiceEvent>) {
        while !self.outbox.is_empty() {
            let Ok(permit) = events.try_reserve() else {
                return;
            };
            if let Some(event) = self.outbox.pop_front() {
                permit.send(event);
            }
        }
    }
}
