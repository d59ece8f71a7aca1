//! The host: follows a node over JSON-RPC and drives installed ExExes with verified
//! notifications.
//!
//! Startup: open the WAL and the finished heights, rebuild the canonical window from the WAL,
//! start every ExEx, then bring each one up to date (blocks from the node below the WAL, then WAL
//! replay above its finished height) before following the node live. Each step of live following
//! fetches the target head, fetches and verifies the missing blocks in batches (backfill and live
//! are the same path), detects forks by parent linkage, and delivers: WAL first, then every
//! ExEx's bounded channel.
//!
//! ```no_run
//! # async fn run() -> Result<(), avs_exex::host::HostError> {
//! use avs_exex::host::{Host, HostConfig};
//!
//! let registry = prometheus::Registry::new();
//! let mut host = Host::new(HostConfig::new("http://127.0.0.1:8545", "data/host"), &registry)?;
//! host.install_exex("noop", |mut ctx: avs_exex::ExExContext| async move {
//!     use futures::TryStreamExt;
//!     while ctx.notifications.try_next().await?.is_some() {}
//!     Ok(())
//! });
//! host.run(async { tokio::signal::ctrl_c().await.ok(); }).await
//! # }
//! ```

mod canonical;
mod config;
mod fetch;
mod metrics;

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    eips::{BlockNumHash, BlockNumberOrTag},
    primitives::BlockNumber,
    providers::{DynProvider, Provider, ProviderBuilder, WsConnect},
};
use futures::{FutureExt, StreamExt, future::BoxFuture, stream::BoxStream};
use tokio::{sync::mpsc, task::JoinSet};
use tracing::{debug, error, info, warn};

use self::{canonical::Canonical, fetch::Fetcher};
pub use self::{
    config::{FollowMode, HostConfig},
    fetch::FetchError,
    metrics::HostMetrics,
};
use crate::{
    chain::Chain,
    context::{ExExConfig, ExExContext, ExExNotifications},
    finished::{FinishedHeightError, FinishedHeights},
    notification::{ExExEvent, ExExHead, ExExNotification},
    wal::{Wal, WalError},
};

/// Why the host stopped.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A configuration value is unusable.
    #[error("invalid host configuration: {0}")]
    Config(String),
    /// Metrics could not be registered (e.g. registered twice in one registry).
    #[error("cannot register host metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The node could not be reached at startup.
    #[error("cannot reach the node at {url}: {source}")]
    Connect {
        /// The endpoint.
        url: String,
        /// The failure.
        source: FetchError,
    },
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A finished height could not be read or written.
    #[error(transparent)]
    FinishedHeight(#[from] FinishedHeightError),
    /// The node's chain diverged below the reorg window.
    #[error(
        "reorg deeper than the window of {window} blocks: the node no longer has our block \
         {lowest} or anything below it in the window; raise `reorg_window`, or follow with \
         confirmations/`finalized`, or wipe the data directory to resync from `start_block`"
    )]
    DeepReorg {
        /// The configured window.
        window: usize,
        /// The lowest block the window held.
        lowest: BlockNumber,
    },
    /// The node kept sending blocks that failed verification.
    #[error(
        "the node sent {count} invalid blocks in a row (last: {last}); it is faulty or lying — \
         point the host at another node"
    )]
    NodeLying {
        /// Consecutive failures.
        count: u32,
        /// The last failure.
        last: FetchError,
    },
    /// An ExEx's finished block is unknown to the WAL and the node's canonical chain.
    #[error(
        "ExEx `{id}` finished block {number} ({hash}), which the WAL does not hold; delete its \
         finished-height file to re-deliver from `start_block`"
    )]
    UnknownFinishedBlock {
        /// The ExEx.
        id: String,
        /// Its finished block number.
        number: BlockNumber,
        /// Its finished block hash.
        hash: alloy::primitives::B256,
    },
    /// An ExEx returned an error.
    #[error("ExEx `{id}` failed: {error:#}")]
    ExEx {
        /// The ExEx.
        id: String,
        /// Its error.
        error: eyre::Report,
    },
    /// An ExEx or host task panicked or was cancelled.
    #[error("task `{id}` panicked or was cancelled: {error}")]
    Task {
        /// The task.
        id: String,
        /// The join error.
        error: tokio::task::JoinError,
    },
}

/// How long a stopping host waits for its ExExes to drain their notifications.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

type Launch = Box<dyn FnOnce(ExExContext) -> BoxFuture<'static, eyre::Result<()>> + Send>;

/// The host (see the module docs). Install ExExes, then [`Host::run`].
pub struct Host {
    config: HostConfig,
    metrics: HostMetrics,
    exexes: Vec<(String, Launch)>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<_> = self.exexes.iter().map(|(id, _)| id).collect();
        f.debug_struct("Host")
            .field("config", &self.config)
            .field("exexes", &ids)
            .finish()
    }
}

impl Host {
    /// A host with `config`, its metrics registered into `registry`.
    pub fn new(config: HostConfig, registry: &prometheus::Registry) -> Result<Self, HostError> {
        config.validate().map_err(HostError::Config)?;
        Ok(Self {
            config,
            metrics: HostMetrics::register(registry)?,
            exexes: Vec::new(),
        })
    }

    /// Installs an ExEx under `id` (its finished height is stored under this name: keep it
    /// stable across restarts).
    pub fn install_exex<F, Fut>(&mut self, id: impl Into<String>, exex: F)
    where
        F: FnOnce(ExExContext) -> Fut + Send + 'static,
        Fut: Future<Output = eyre::Result<()>> + Send + 'static,
    {
        self.exexes
            .push((id.into(), Box::new(move |ctx| exex(ctx).boxed())));
    }

    /// Runs until `shutdown` completes (then stops gracefully: ExExes see their stream end and
    /// their last finished heights are stored) or until a fatal error.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), HostError> {
        let Self {
            config,
            metrics,
            exexes,
        } = self;
        let provider = ProviderBuilder::new()
            .connect(&config.http_url)
            .await
            .map_err(|err| HostError::Connect {
                url: config.http_url.clone(),
                source: err.into(),
            })?
            .erased();
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|err| HostError::Connect {
                url: config.http_url.clone(),
                source: err.into(),
            })?;

        let dir = config.data_dir.clone();
        let segment_config = config.wal;
        let (wal, finished_store) = blocking(move || {
            let wal = Wal::open(&dir.join("wal"), segment_config)?;
            let finished = FinishedHeights::open(&dir.join("finished"))?;
            Ok::<_, HostError>((wal, finished))
        })
        .await?;
        let mut canonical = rebuild_canonical(&wal, config.reorg_window)?;
        metrics
            .wal_bytes
            .set(i64::try_from(wal.size_bytes()).unwrap_or(i64::MAX));
        let wal = Arc::new(Mutex::new(wal));

        let mut tasks = JoinSet::new();
        let finished_heights = Arc::new(Mutex::new(Vec::with_capacity(exexes.len())));
        let mut sinks = Vec::with_capacity(exexes.len());
        for (index, (id, launch)) in exexes.into_iter().enumerate() {
            let store = finished_store.clone();
            let load_id = id.clone();
            let head = blocking(move || store.load(&load_id)).await?;
            if let Some(head) = head {
                metrics
                    .finished_height
                    .with_label_values(&[id.as_str()])
                    .set(as_i64(head.number));
            }
            finished_heights.lock().expect("not poisoned").push(head);
            let (notifications_tx, notifications_rx) = mpsc::channel(config.channel_capacity);
            let (events_tx, events_rx) = mpsc::channel(config.channel_capacity);
            let ctx = ExExContext {
                head: head.map(|block| ExExHead { block }),
                config: ExExConfig {
                    id: id.clone(),
                    chain_id,
                },
                events: events_tx,
                notifications: ExExNotifications::new(notifications_rx),
                provider: provider.clone(),
            };
            let exex_id = id.clone();
            tasks.spawn(async move {
                launch(ctx)
                    .await
                    .map_err(|error| HostError::ExEx { id: exex_id, error })
            });
            tasks.spawn(record_events(
                id.clone(),
                index,
                events_rx,
                finished_store.clone(),
                Arc::clone(&finished_heights),
                metrics.clone(),
            ));
            sinks.push(Sink {
                id,
                tx: notifications_tx,
                head,
            });
        }

        // An empty WAL (first run, or a wiped log) with every ExEx already past some block:
        // resume from the lowest of them instead of re-fetching from `start_block`.
        if canonical.tip().is_none()
            && let Some(Some(lowest)) = sinks
                .iter()
                .map(|s| s.head)
                .min_by_key(|h| h.map(|h| h.number))
        {
            canonical = Canonical::new(config.reorg_window, Some(lowest));
        }
        let mut follower = Follower {
            fetcher: Fetcher::new(provider, config.request_timeout),
            canonical,
            wal,
            sinks,
            finished_heights,
            metrics,
            consecutive_invalid: 0,
            pruned_below: 0,
            ws: None,
            ws_retry_at: Instant::now(),
            ws_backoff: config.retry_initial,
            config,
        };
        let outcome = {
            let follow = follower.run().fuse();
            let shutdown = shutdown.fuse();
            futures::pin_mut!(follow, shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    result = &mut follow => break result,
                    Some(joined) = tasks.join_next() => match flatten(joined, "exex") {
                        Ok(()) => debug!("an ExEx task ended"),
                        Err(err) => break Err(err),
                    },
                }
            }
        };
        // Closing the notification channels ends every ExEx's stream; their event senders then
        // drop and the event recorders finish after storing the last heights.
        drop(follower);
        info!("host stopping: waiting for ExExes to finish");
        let drain = async {
            while let Some(joined) = tasks.join_next().await {
                if let Err(err) = flatten(joined, "exex") {
                    warn!(%err, "ExEx task failed during shutdown");
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            // An ExEx that ignores the end of its stream must not keep the process alive; what
            // it did not finish is replayed from the WAL next time.
            warn!(grace = ?SHUTDOWN_GRACE, "ExExes did not finish in time; aborting them");
        }
        outcome
    }
}

fn flatten(
    joined: Result<Result<(), HostError>, tokio::task::JoinError>,
    id: &str,
) -> Result<(), HostError> {
    joined.map_err(|error| HostError::Task {
        id: id.to_owned(),
        error,
    })?
}

/// Runs blocking file I/O off the async runtime.
async fn blocking<T: Send + 'static, E: Into<HostError>>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, HostError> {
    tokio::task::spawn_blocking(move || f().map_err(Into::into))
        .await
        .map_err(|error| HostError::Task {
            id: "blocking-io".to_owned(),
            error,
        })?
}

const fn as_i64(value: u64) -> i64 {
    if value > i64::MAX as u64 {
        i64::MAX
    } else {
        value as i64
    }
}

/// Replays the WAL into a canonical window (the last `window` blocks and the tip).
fn rebuild_canonical(wal: &Wal, window: usize) -> Result<Canonical, HostError> {
    let mut canonical = Canonical::new(window, None);
    for position in 0..wal.records().len() {
        canonical.apply(&wal.read(position)?);
    }
    Ok(canonical)
}

/// Stores each `FinishedHeight` an ExEx reports.
async fn record_events(
    id: String,
    index: usize,
    mut events: mpsc::Receiver<ExExEvent>,
    store: FinishedHeights,
    heights: Arc<Mutex<Vec<Option<BlockNumHash>>>>,
    metrics: HostMetrics,
) -> Result<(), HostError> {
    while let Some(ExExEvent::FinishedHeight(height)) = events.recv().await {
        let (store, store_id) = (store.clone(), id.clone());
        blocking(move || store.store(&store_id, height)).await?;
        heights.lock().expect("not poisoned")[index] = Some(height);
        metrics
            .finished_height
            .with_label_values(&[id.as_str()])
            .set(as_i64(height.number));
        debug!(exex = %id, number = height.number, "finished height stored");
    }
    Ok(())
}

/// One installed ExEx's delivery channel.
struct Sink {
    id: String,
    tx: mpsc::Sender<ExExNotification>,
    /// The last block this ExEx finished before this run; committed blocks at or below it are
    /// not delivered again.
    head: Option<BlockNumHash>,
}

impl Sink {
    /// The notification as this ExEx should see it (`None`: nothing new for it).
    fn view(&mut self, notification: &ExExNotification) -> Option<ExExNotification> {
        // A reorg reaching at or below the head also reverts what the ExEx finished: from then
        // on it must see every committed block again.
        if let Some(old) = notification.reverted_chain()
            && self
                .head
                .is_some_and(|head| old.first().number() <= head.number)
        {
            self.head = None;
        }
        let Some(floor) = self.head.map(|head| head.number) else {
            return Some(notification.clone());
        };
        match notification {
            ExExNotification::ChainCommitted { new } if new.first().number() <= floor => new
                .blocks_above(floor)
                .map(|new| ExExNotification::ChainCommitted { new: Arc::new(new) }),
            other => Some(other.clone()),
        }
    }
}

/// A failed step: fatal errors stop the host, others are retried with backoff.
enum StepError {
    Fatal(HostError),
    Retry(String),
}

impl From<HostError> for StepError {
    fn from(err: HostError) -> Self {
        Self::Fatal(err)
    }
}

impl From<FetchError> for StepError {
    fn from(err: FetchError) -> Self {
        Self::Retry(err.to_string())
    }
}

struct Follower {
    config: HostConfig,
    fetcher: Fetcher,
    canonical: Canonical,
    wal: Arc<Mutex<Wal>>,
    sinks: Vec<Sink>,
    finished_heights: Arc<Mutex<Vec<Option<BlockNumHash>>>>,
    metrics: HostMetrics,
    consecutive_invalid: u32,
    pruned_below: BlockNumber,
    ws: Option<(DynProvider, BoxStream<'static, alloy::rpc::types::Header>)>,
    ws_retry_at: Instant,
    ws_backoff: Duration,
}

impl Follower {
    async fn run(&mut self) -> Result<(), HostError> {
        let mut backoff = self.config.retry_initial;
        for index in 0..self.sinks.len() {
            loop {
                match self.catch_up(index).await {
                    Ok(()) => break,
                    Err(StepError::Fatal(err)) => return Err(err),
                    Err(StepError::Retry(reason)) => {
                        warn!(%reason, retry_in = ?backoff, "catch-up failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.config.retry_max);
                    }
                }
            }
        }
        backoff = self.config.retry_initial;
        loop {
            match self.sync().await {
                Ok(()) => {
                    backoff = self.config.retry_initial;
                    self.wait_for_head().await;
                }
                Err(StepError::Fatal(err)) => return Err(err),
                Err(StepError::Retry(reason)) => {
                    warn!(%reason, retry_in = ?backoff, "following the node failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.retry_max);
                }
            }
        }
    }

    /// Waits for a new-head notification (if subscribed) or the poll interval.
    async fn wait_for_head(&mut self) {
        if self.ws.is_none() {
            self.try_subscribe().await;
        }
        let poll = tokio::time::sleep(self.config.poll_interval);
        match &mut self.ws {
            Some((_, heads)) => tokio::select! {
                head = heads.next() => if head.is_none() {
                    warn!("newHeads subscription ended; polling until it is re-established");
                    self.ws = None;
                },
                () = poll => {}
            },
            None => poll.await,
        }
    }

    async fn try_subscribe(&mut self) {
        let Some(url) = self.config.ws_url.clone() else {
            return;
        };
        if Instant::now() < self.ws_retry_at {
            return;
        }
        let attempt = async {
            let provider = ProviderBuilder::new()
                .connect_ws(WsConnect::new(url))
                .await?
                .erased();
            let subscription = provider.subscribe_blocks().await?;
            Ok::<_, alloy::transports::TransportError>((
                provider,
                subscription.into_stream().boxed(),
            ))
        };
        match tokio::time::timeout(self.config.retry_max, attempt).await {
            Ok(Ok(ws)) => {
                info!("subscribed to newHeads");
                self.ws = Some(ws);
                self.ws_backoff = self.config.retry_initial;
            }
            Ok(Err(err)) => self.ws_failed(&err.to_string()),
            Err(_) => self.ws_failed("timed out"),
        }
    }

    fn ws_failed(&mut self, reason: &str) {
        warn!(%reason, retry_in = ?self.ws_backoff, "newHeads subscription failed; polling meanwhile");
        self.ws_retry_at = Instant::now() + self.ws_backoff;
        self.ws_backoff = (self.ws_backoff * 2).min(self.config.retry_max);
    }

    /// The head to follow, per [`FollowMode`].
    async fn target(&mut self) -> Result<BlockNumHash, StepError> {
        Ok(match self.config.follow {
            FollowMode::Latest { confirmations: 0 } => {
                self.fetcher.num_hash(BlockNumberOrTag::Latest).await?
            }
            FollowMode::Latest { confirmations } => {
                let latest = self.fetcher.num_hash(BlockNumberOrTag::Latest).await?;
                let number = latest.number.saturating_sub(confirmations);
                self.fetcher
                    .num_hash(BlockNumberOrTag::Number(number))
                    .await?
            }
            FollowMode::Finalized => self.fetcher.num_hash(BlockNumberOrTag::Finalized).await?,
        })
    }

    /// Brings the node's chain into line with ours: commits, reorgs or reverts.
    async fn sync(&mut self) -> Result<(), StepError> {
        let target = self.target().await?;
        loop {
            let tip = self.canonical.tip();
            if tip == Some(target) {
                return Ok(());
            }
            let next = tip.map_or(self.config.start_block, |tip| tip.number + 1);
            if target.number < next {
                if tip.is_none() {
                    return Ok(()); // The node has not reached the start block yet.
                }
                return self.reorg(target).await;
            }
            let to = target.number.min(next + self.config.batch_size - 1);
            let chain = self.fetch_chain(next, to).await?;
            match tip {
                Some(tip) if chain.first().parent_hash() != tip.hash => {
                    return self.reorg(target).await;
                }
                _ => {
                    self.deliver(ExExNotification::ChainCommitted {
                        new: Arc::new(chain),
                    })
                    .await?
                }
            }
        }
    }

    /// Finds the common ancestor with the node and delivers one reorg (or revert).
    async fn reorg(&mut self, target: BlockNumHash) -> Result<(), StepError> {
        let tip = self
            .canonical
            .tip()
            .expect("reorg is only called with a tip");
        let mut number = target.number.min(tip.number);
        let ancestor = loop {
            let Some(ours) = self.canonical.hash_at(number) else {
                return Err(StepError::Fatal(HostError::DeepReorg {
                    window: self.config.reorg_window,
                    lowest: number + 1,
                }));
            };
            let theirs = if number == target.number {
                target.hash
            } else {
                self.fetcher
                    .num_hash(BlockNumberOrTag::Number(number))
                    .await?
                    .hash
            };
            if ours == theirs {
                break BlockNumHash { number, hash: ours };
            }
            let Some(below) = number.checked_sub(1) else {
                return Err(StepError::Fatal(HostError::DeepReorg {
                    window: self.config.reorg_window,
                    lowest: 0,
                }));
            };
            number = below;
        };
        // Nothing of ours above the ancestor means the node simply moved on: retry the step.
        let Ok(old) = Chain::new(self.canonical.blocks_above(ancestor.number)) else {
            return Err(StepError::Retry(
                "the node's head moved during a reorg".into(),
            ));
        };
        let to = target.number.min(ancestor.number + self.config.batch_size);
        let notification = if to > ancestor.number {
            let new = self.fetch_chain(ancestor.number + 1, to).await?;
            if new.first().parent_hash() != ancestor.hash {
                return Err(StepError::Retry(
                    "the node reorged again while fetching".into(),
                ));
            }
            ExExNotification::ChainReorged {
                old: Arc::new(old),
                new: Arc::new(new),
            }
        } else {
            ExExNotification::ChainReverted { old: Arc::new(old) }
        };
        warn!(
            ancestor = ancestor.number,
            reverted = ?notification.reverted_chain().map(|c| c.range()),
            committed = ?notification.committed_chain().map(|c| c.range()),
            "chain reorganisation"
        );
        self.metrics.reorgs_total.inc();
        self.deliver(notification).await
    }

    /// Fetches and verifies `from..=to` with bounded concurrency; counts invalid blocks.
    async fn fetch_chain(
        &mut self,
        from: BlockNumber,
        to: BlockNumber,
    ) -> Result<Chain, StepError> {
        let started = Instant::now();
        let fetcher = &self.fetcher;
        let mut blocks = Vec::with_capacity(usize::try_from(to - from + 1).unwrap_or_default());
        let mut fetched = futures::stream::iter(from..=to)
            .map(|number| fetcher.block(number))
            .buffered(self.config.fetch_concurrency);
        let mut failure = None;
        while let Some(result) = fetched.next().await {
            match result {
                Ok(block) => blocks.push(block),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        drop(fetched);
        if let Some(err) = failure {
            return Err(self.fetch_failed(err));
        }
        self.consecutive_invalid = 0;
        let count = blocks.len();
        let chain = Chain::new(blocks)
            .map_err(|err| StepError::Retry(format!("the node's blocks do not link: {err}")))?;
        if count > 1 {
            let rate = count as f64 / started.elapsed().as_secs_f64().max(1e-9);
            self.metrics.backfill_blocks_per_second.set(rate);
            info!(
                from,
                to,
                blocks_per_second = rate as u64,
                "backfilled blocks"
            );
        }
        Ok(chain)
    }

    fn fetch_failed(&mut self, err: FetchError) -> StepError {
        if !err.is_invalid_data() {
            return StepError::Retry(err.to_string());
        }
        self.metrics.invalid_blocks_total.inc();
        self.consecutive_invalid += 1;
        error!(%err, consecutive = self.consecutive_invalid, "rejected an invalid block from the node");
        if self.consecutive_invalid >= self.config.max_consecutive_invalid {
            StepError::Fatal(HostError::NodeLying {
                count: self.consecutive_invalid,
                last: err,
            })
        } else {
            StepError::Retry(err.to_string())
        }
    }

    /// WAL first, then every ExEx (waiting while a channel is full), then pruning.
    async fn deliver(&mut self, notification: ExExNotification) -> Result<(), StepError> {
        let wal = Arc::clone(&self.wal);
        let record = notification.clone();
        let wal_bytes = blocking(move || {
            let mut wal = wal.lock().expect("not poisoned");
            wal.append(&record).map(|()| wal.size_bytes())
        })
        .await?;
        self.metrics.wal_bytes.set(as_i64(wal_bytes));
        self.canonical.apply(&notification);
        if let Some(new) = notification.committed_chain() {
            self.metrics.head_block.set(as_i64(new.tip().number()));
            self.metrics.delivered_blocks_total.inc_by(new.len() as u64);
        }
        for index in 0..self.sinks.len() {
            if let Some(view) = self.sinks[index].view(&notification) {
                self.send(index, view).await;
            }
        }
        self.prune().await?;
        Ok(())
    }

    async fn send(&mut self, index: usize, notification: ExExNotification) {
        let sink = &self.sinks[index];
        if sink.tx.send(notification).await.is_err() {
            debug!(exex = %sink.id, "ExEx no longer receives notifications");
        }
    }

    /// Prunes the WAL below the lowest finished height, keeping the reorg window.
    async fn prune(&mut self) -> Result<(), HostError> {
        let lowest = {
            let heights = self.finished_heights.lock().expect("not poisoned");
            match heights.iter().map(|h| h.map(|h| h.number)).min() {
                Some(Some(lowest)) => lowest,
                _ => return Ok(()), // Some ExEx has not finished anything (or none installed).
            }
        };
        let window_low = self.canonical.tip().map_or(0, |tip| {
            tip.number.saturating_sub(self.config.reorg_window as u64)
        });
        let below = lowest.min(window_low);
        if below <= self.pruned_below {
            return Ok(());
        }
        self.pruned_below = below;
        let wal = Arc::clone(&self.wal);
        let (removed, bytes) = blocking(move || {
            let mut wal = wal.lock().expect("not poisoned");
            wal.prune_below(below)
                .map(|removed| (removed, wal.size_bytes()))
        })
        .await?;
        if removed > 0 {
            debug!(removed, below, "pruned WAL records");
        }
        self.metrics.wal_bytes.set(as_i64(bytes));
        Ok(())
    }

    /// Delivers to ExEx `index` everything above its finished height that the others have
    /// already seen: blocks below the WAL from the node, then WAL replay.
    async fn catch_up(&mut self, index: usize) -> Result<(), StepError> {
        let head = self.sinks[index].head;
        let (position, wal_first) = {
            let wal = self.wal.lock().expect("not poisoned");
            let position = head.and_then(|head| wal.position_committing(head));
            (
                position,
                wal.records().first().and_then(|r| r.first_committed()),
            )
        };
        let replay_from = match (position, head) {
            (Some(position), _) => position,
            (None, head) => {
                let next = head.map_or(self.config.start_block, |head| head.number + 1);
                let wal_covers_next = wal_first.is_some_and(|first| first <= next);
                if wal_covers_next && let Some(head) = head {
                    if self
                        .canonical
                        .tip()
                        .is_some_and(|tip| tip.number < head.number)
                    {
                        0 // Finished above everything we hold: the live filter handles it.
                    } else {
                        return Err(StepError::Fatal(HostError::UnknownFinishedBlock {
                            id: self.sinks[index].id.clone(),
                            number: head.number,
                            hash: head.hash,
                        }));
                    }
                } else {
                    if let Some(first) = wal_first {
                        // Blocks between the ExEx's head and the WAL come from the node.
                        let mut from = next;
                        while from < first {
                            let to = (first - 1).min(from + self.config.batch_size - 1);
                            let chain = self.fetch_chain(from, to).await?;
                            let committed = ExExNotification::ChainCommitted {
                                new: Arc::new(chain),
                            };
                            self.send(index, committed).await;
                            from = to + 1;
                        }
                    }
                    0
                }
            }
        };
        let records = self.wal.lock().expect("not poisoned").records().len();
        for position in replay_from..records {
            let wal = Arc::clone(&self.wal);
            let notification =
                blocking(move || wal.lock().expect("not poisoned").read(position)).await?;
            let view = self.sinks[index].view(&notification);
            if let Some(view) = view {
                self.send(index, view).await;
            }
        }
        if records > replay_from {
            info!(exex = %self.sinks[index].id, records = records - replay_from, "replayed WAL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{ChainBuilder, TxSpec};

    fn sink(head: Option<BlockNumHash>) -> Sink {
        Sink {
            id: "t".into(),
            tx: mpsc::channel(1).0,
            head,
        }
    }

    #[test]
    fn an_exex_sees_only_blocks_above_its_head_until_a_reorg_reaches_below_it() {
        let mut builder = ChainBuilder::new(0);
        let chain = builder.chain(6, &[TxSpec::transfer()]);
        let head = chain.block_by_number(4).expect("4").num_hash();
        let mut sink = sink(Some(head));
        let commit = ExExNotification::ChainCommitted {
            new: Arc::new(chain.clone()),
        };

        let seen = sink
            .view(&commit)
            .and_then(|n| n.committed_chain())
            .expect("blocks 5-6");
        assert_eq!(seen.range(), 5..=6);
        let below = ExExNotification::ChainCommitted {
            new: Arc::new(Chain::new(chain.blocks()[..4].to_vec()).expect("1-4")),
        };
        assert_eq!(sink.view(&below), None, "blocks 1-4 were finished before");

        // A reorg from block 3 reverts finished blocks: it is delivered whole, and the ExEx now
        // needs every block of the new branch.
        let fork = chain.block_by_number(2).expect("2").clone();
        let new = builder.fork_from(&fork).chain(2, &[]);
        let old = Chain::new(chain.blocks()[2..].to_vec()).expect("3-6");
        let reorg = ExExNotification::ChainReorged {
            old: Arc::new(old),
            new: Arc::new(new),
        };
        assert_eq!(sink.view(&reorg), Some(reorg.clone()));
        let next = ExExNotification::ChainCommitted {
            new: Arc::new(builder.chain(1, &[])),
        };
        assert_eq!(sink.view(&next), Some(next.clone()));
        assert_eq!(sink.head, None);

        assert_eq!(self::sink(None).view(&commit), Some(commit));
    }

    #[test]
    fn config_rejects_zero_values() {
        let mut config = HostConfig::new("http://127.0.0.1:1", "unused");
        assert_eq!(config.validate(), Ok(()));
        config.batch_size = 0;
        assert_eq!(
            config.validate(),
            Err("batch_size must be at least 1".to_owned())
        );
        config.batch_size = 1;
        config.reorg_window = 0;
        let err = Host::new(config, &prometheus::Registry::new()).expect_err("invalid");
        assert!(err.to_string().contains("reorg_window"), "{err}");
    }
}
