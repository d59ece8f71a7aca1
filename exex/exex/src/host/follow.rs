//! Following the node: catch-up of each ExEx, then the live loop (target head, batched
//! fetch and verification, fork detection, reorgs), and delivery (WAL first, then every ExEx).

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use alloy::{
    eips::{BlockNumHash, BlockNumberOrTag},
    primitives::BlockNumber,
    providers::{DynProvider, Provider, ProviderBuilder, WsConnect},
};
use futures::{StreamExt, stream::BoxStream};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::{
    FetchError, FollowMode, HostConfig, HostError, HostMetrics, as_i64, blocking,
    canonical::Canonical, fetch::Fetcher, verified_run::VerifiedRun,
};
use crate::{chain::Chain, notification::ExExNotification, wal::Wal};
use avs_exex_types::StateRootCheck;

/// One installed ExEx's delivery channel.
pub(super) struct Sink {
    pub(super) id: String,
    pub(super) tx: mpsc::Sender<ExExNotification>,
    /// The last block this ExEx finished before this run; committed blocks at or below it are
    /// not delivered again.
    pub(super) head: Option<BlockNumHash>,
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
pub(super) enum StepError {
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
        if err.is_unsupported() {
            // The same block comes back on every retry: stop with the reason.
            Self::Fatal(HostError::UndecodableBlock(err))
        } else {
            Self::Retry(err.to_string())
        }
    }
}

/// Where fetched blocks go: the live canonical path, or to an ExEx catching up below the WAL.
#[derive(Debug, Clone, Copy)]
enum Path {
    Live,
    BelowWal,
}

pub(super) struct Follower {
    pub(super) config: HostConfig,
    pub(super) fetcher: Fetcher,
    pub(super) canonical: Canonical,
    pub(super) wal: Arc<Mutex<Wal>>,
    pub(super) sinks: Vec<Sink>,
    pub(super) finished_heights: Arc<Mutex<Vec<Option<BlockNumHash>>>>,
    pub(super) metrics: HostMetrics,
    pub(super) consecutive_invalid: u32,
    pub(super) pruned_below: BlockNumber,
    pub(super) ws: Option<(DynProvider, BoxStream<'static, alloy::rpc::types::Header>)>,
    pub(super) ws_retry_at: Instant,
    /// Delays before the next subscription attempts (reset once subscribed).
    pub(super) ws_delays: backon::ExponentialBackoff,
    /// The run of verified state roots of the live path.
    pub(super) verified_run: VerifiedRun,
}

impl Follower {
    /// A follower that has not fetched anything yet: no invalid blocks seen, nothing pruned,
    /// not subscribed to new heads.
    pub(super) fn new(
        config: HostConfig,
        fetcher: Fetcher,
        canonical: Canonical,
        wal: Arc<Mutex<Wal>>,
        sinks: Vec<Sink>,
        finished_heights: Arc<Mutex<Vec<Option<BlockNumHash>>>>,
        metrics: HostMetrics,
    ) -> Self {
        Self {
            verified_run: VerifiedRun::new(config.reorg_window),
            fetcher,
            canonical,
            wal,
            sinks,
            finished_heights,
            metrics,
            consecutive_invalid: 0,
            pruned_below: 0,
            ws: None,
            ws_retry_at: Instant::now(),
            ws_delays: config.retry_delays(),
            config,
        }
    }

    pub(super) async fn run(&mut self) -> Result<(), HostError> {
        let mut delays = self.config.retry_delays();
        for index in 0..self.sinks.len() {
            loop {
                match self.catch_up(index).await {
                    Ok(()) => break,
                    Err(StepError::Fatal(err)) => return Err(err),
                    Err(StepError::Retry(reason)) => {
                        let wait = delays.next().unwrap_or(self.config.retry_max);
                        warn!(%reason, retry_in = ?wait, "catch-up failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        delays = self.config.retry_delays();
        loop {
            match self.sync().await {
                Ok(()) => {
                    delays = self.config.retry_delays();
                    self.wait_for_head().await;
                }
                Err(StepError::Fatal(err)) => return Err(err),
                Err(StepError::Retry(reason)) => {
                    let wait = delays.next().unwrap_or(self.config.retry_max);
                    warn!(%reason, retry_in = ?wait, "following the node failed; retrying");
                    tokio::time::sleep(wait).await;
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
                self.ws_delays = self.config.retry_delays();
            }
            Ok(Err(err)) => self.ws_failed(&err.to_string()),
            Err(_) => self.ws_failed("timed out"),
        }
    }

    fn ws_failed(&mut self, reason: &str) {
        let wait = self.ws_delays.next().unwrap_or(self.config.retry_max);
        warn!(%reason, retry_in = ?wait, "newHeads subscription failed; polling meanwhile");
        self.ws_retry_at = Instant::now() + wait;
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
            let (chain, run) = self.fetch_chain(next, to, Path::Live).await?;
            match tip {
                Some(tip) if chain.first().parent_hash() != tip.hash => {
                    return self.reorg(target).await;
                }
                _ => {
                    self.commit_run(run, &chain)?;
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
            let (new, run) = self
                .fetch_chain(ancestor.number + 1, to, Path::Live)
                .await?;
            if new.first().parent_hash() != ancestor.hash {
                return Err(StepError::Retry(
                    "the node reorged again while fetching".into(),
                ));
            }
            self.commit_run(run, &new)?;
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

    /// Fetches and verifies `from..=to` with bounded concurrency; counts invalid blocks. The
    /// blocks' state-root verdicts are then those of the verified run (see [`VerifiedRun`]),
    /// applied to a copy of it that the caller commits ([`Self::commit_run`]) once it delivers
    /// the chain.
    async fn fetch_chain(
        &mut self,
        from: BlockNumber,
        to: BlockNumber,
        path: Path,
    ) -> Result<(Chain, VerifiedRun), StepError> {
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
        let mut run = self.verified_run.clone();
        match path {
            Path::Live => run.extend(&mut blocks),
            Path::BelowWal => VerifiedRun::outside(&mut blocks),
        }
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
        Ok((chain, run))
    }

    /// Adopts the verified run a delivered live chain was judged by, recording its end (under
    /// `required`), and counts the chain's state-root verdicts.
    fn commit_run(&mut self, run: VerifiedRun, chain: &Chain) -> Result<(), StepError> {
        self.verified_run = run;
        self.verified_run
            .persist()
            .map_err(|source| StepError::Fatal(HostError::StateRootMarker(source)))?;
        for block in chain.blocks_iter() {
            match block.state_root {
                StateRootCheck::Verified => self.metrics.state_root_verified_total.inc(),
                StateRootCheck::Unverifiable(_) => {
                    self.metrics.state_root_unverifiable_total.inc();
                }
                StateRootCheck::NotChecked => {}
            }
        }
        Ok(())
    }

    fn fetch_failed(&mut self, err: FetchError) -> StepError {
        if !err.is_invalid_data() {
            return err.into();
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
        let position_of_head = position;
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
                            let (chain, _) = self.fetch_chain(from, to, Path::BelowWal).await?;
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
            let mut notification =
                blocking(move || wal.lock().expect("not poisoned").read(position)).await?;
            // The record holding the ExEx's finished block was processed up to that block,
            // including whatever it reverted: only its committed blocks above the head remain.
            if Some(position) == position_of_head
                && let Some(new) = notification.committed_chain()
            {
                notification = ExExNotification::ChainCommitted { new };
            }
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
    use avs_exex_types::test_utils::{ChainBuilder, TxSpec};

    fn sink(head: Option<BlockNumHash>) -> Sink {
        Sink {
            id: "t".into(),
            tx: mpsc::channel(1).0,
            head,
        }
    }

    /// A follower over `wal` with one ExEx at `head`, whose node is never called.
    fn follower_over(
        wal: Wal,
        head: Option<BlockNumHash>,
    ) -> (Follower, mpsc::Receiver<ExExNotification>) {
        let (tx, rx) = mpsc::channel(16);
        let provider = ProviderBuilder::new()
            .connect_mocked_client(alloy::transports::mock::Asserter::new())
            .erased();
        let config = HostConfig::new("http://127.0.0.1:1", "unused");
        let canonical = Canonical::new(config.reorg_window, None);
        let fetcher = Fetcher::new(provider, config.request_timeout, None);
        let follower = Follower::new(
            config,
            fetcher,
            canonical,
            Arc::new(Mutex::new(wal)),
            vec![Sink {
                id: "t".into(),
                tx,
                head,
            }],
            Arc::new(Mutex::new(vec![head])),
            HostMetrics::register(&prometheus::Registry::new(), "avs_exex_host").expect("metrics"),
        );
        (follower, rx)
    }

    /// (reverted, committed) block ranges of a notification.
    type Ranges = (Option<(u64, u64)>, Option<(u64, u64)>);

    fn ranges(notification: &ExExNotification) -> Ranges {
        let range = |c: Arc<Chain>| (c.first().number(), c.tip().number());
        (
            notification.reverted_chain().map(range),
            notification.committed_chain().map(range),
        )
    }

    #[tokio::test]
    async fn wal_replay_resumes_inside_the_record_holding_the_finished_block() {
        let mut builder = ChainBuilder::new(0);
        let first = builder.chain(3, &[TxSpec::with_log()]);
        let fork_point = first.block_by_number(2).expect("2").clone();
        let old = Chain::new(first.blocks()[2..].to_vec()).expect("3");
        let new = builder.fork_from(&fork_point).chain(3, &[]);
        let after = builder.chain(1, &[]);
        let records = [
            ExExNotification::ChainCommitted {
                new: Arc::new(first.clone()),
            },
            ExExNotification::ChainReorged {
                old: Arc::new(old),
                new: Arc::new(new.clone()),
            },
            ExExNotification::ChainCommitted {
                new: Arc::new(after),
            },
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let mut wal = Wal::open(dir.path(), crate::wal::WalConfig::default()).expect("wal");
        for record in &records {
            wal.append(record).expect("append");
        }
        drop(wal);

        // Finished inside the reorg's new branch: the reorg itself was already processed.
        let head = new.block_by_number(4).expect("4").num_hash();
        let wal = Wal::open(dir.path(), crate::wal::WalConfig::default()).expect("wal");
        let (mut follower, mut rx) = follower_over(wal, Some(head));
        assert!(follower.catch_up(0).await.is_ok());
        assert_eq!(ranges(&rx.try_recv().expect("5")), (None, Some((5, 5))));
        assert_eq!(ranges(&rx.try_recv().expect("6")), (None, Some((6, 6))));
        assert!(rx.try_recv().is_err());

        // Finished before the fork: the rest of the first record, then the whole reorg.
        let head = first.block_by_number(1).expect("1").num_hash();
        let wal = Wal::open(dir.path(), crate::wal::WalConfig::default()).expect("wal");
        let (mut follower, mut rx) = follower_over(wal, Some(head));
        assert!(follower.catch_up(0).await.is_ok());
        assert_eq!(ranges(&rx.try_recv().expect("2-3")), (None, Some((2, 3))));
        assert_eq!(
            ranges(&rx.try_recv().expect("reorg")),
            (Some((3, 3)), Some((3, 5)))
        );
        assert_eq!(ranges(&rx.try_recv().expect("6")), (None, Some((6, 6))));
        assert!(rx.try_recv().is_err());
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
}
