//! The host: follows a node over JSON-RPC and drives installed ExExes with verified
//! notifications.
//!
//! Startup: open the WAL and the finished heights, rebuild the canonical window from the WAL,
//! start every ExEx, then bring each one up to date (blocks from the node below the WAL, then WAL
//! replay above its finished height) before following the node live. Each step of live following
//! fetches the target head, fetches and verifies the missing blocks in batches (backfill and live
//! are the same path; with state-root verification each block is also re-executed over the
//! node's execution witness, see [`StateRootMode`]), detects forks by parent linkage, and
//! delivers: WAL first, then every ExEx's bounded channel.
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
mod follow;
mod metrics;
mod proof_witness;
mod state_root;
mod verified_run;

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    eips::BlockNumHash,
    primitives::BlockNumber,
    providers::{Provider, ProviderBuilder},
};
use futures::{FutureExt, future::BoxFuture};
use tokio::{sync::mpsc, task::JoinSet};
use tracing::{debug, info, warn};

use self::{
    canonical::Canonical,
    fetch::Fetcher,
    follow::{Follower, Sink},
    verified_run::VerifiedRun,
};
pub use self::{
    config::{FollowMode, HostConfig},
    fetch::FetchError,
    metrics::HostMetrics,
    state_root::{StateRootConfig, StateRootMode},
};
use crate::{
    context::{ExExConfig, ExExContext, ExExNotifications},
    finished::{FinishedHeightError, FinishedHeights},
    notification::{ExExEvent, ExExHead},
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
    /// A block holds a transaction or receipt type this build cannot decode, so it cannot be
    /// verified (or delivered): following the chain is impossible, not merely delayed.
    #[error(
        "cannot follow the chain: {0}. This build decodes Ethereum's transaction types and \
         OP-stack deposits (0x7e); a chain with other types needs support for them"
    )]
    UndecodableBlock(FetchError),
    /// The end of the verified state-root run could not be recorded (or read) in the data
    /// directory.
    #[error("cannot record the end of the verified state-root run in the data directory: {0}")]
    StateRootMarker(std::io::Error),
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
            metrics: HostMetrics::register(registry, &config.metrics_namespace)?,
            config,
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

        let state_roots = state_root::StateRoots::probe(
            &config.state_root,
            &provider,
            chain_id,
            config.request_timeout,
            &metrics,
        )
        .await?;
        let state_root_required = matches!(state_roots, Some((StateRootMode::Required, _)));
        let state_roots = state_roots.map(|(_, stage)| stage);

        let dir = config.data_dir.clone();
        let segment_config = config.wal;
        let window = config.reorg_window;
        // Reading every WAL record is disk and decoding work: off the async threads.
        let (wal, finished_store, mut canonical, verified_run) = blocking(move || {
            let wal = Wal::open(&dir.join("wal"), segment_config)?;
            let finished = FinishedHeights::open(&dir.join("finished"))?;
            let mut run = VerifiedRun::open(&dir, window, state_root_required)
                .map_err(HostError::StateRootMarker)?;
            let canonical = rebuild_canonical(&wal, window, &mut run)?;
            Ok::<_, HostError>((wal, finished, canonical, run))
        })
        .await?;
        if let Some(reason) = verified_run.ended() {
            warn!(%reason, "state roots are not verified until the marker of the ended run is removed");
        }
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
                    state_root_required,
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
        let fetcher = Fetcher::new(provider, config.request_timeout, state_roots);
        let mut follower = Follower::new(
            config,
            fetcher,
            canonical,
            wal,
            sinks,
            finished_heights,
            metrics,
        );
        follower.verified_run = verified_run;
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
fn rebuild_canonical(
    wal: &Wal,
    window: usize,
    run: &mut VerifiedRun,
) -> Result<Canonical, HostError> {
    let mut canonical = Canonical::new(window, None);
    for position in 0..wal.records().len() {
        let notification = wal.read(position)?;
        canonical.apply(&notification);
        run.seed(&notification);
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn two_hosts_share_a_registry_under_different_metric_namespaces() {
        let registry = prometheus::Registry::new();
        let settlement = HostConfig::new("http://127.0.0.1:1", "unused");
        let mut attested = settlement.clone();
        Host::new(settlement, &registry).expect("first host");
        // The same names twice are refused by the registry …
        assert!(Host::new(attested.clone(), &registry).is_err());
        // … a namespace of its own is not.
        attested.metrics_namespace = "avs_exex_attested_host".to_owned();
        Host::new(attested.clone(), &registry).expect("second host");
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|family| family.name().to_owned())
            .collect();
        assert!(
            names.iter().any(|n| n == "avs_exex_host_head_block"),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n == "avs_exex_attested_host_head_block"),
            "{names:?}"
        );
        for bad in ["", "9lives", "avs-host"] {
            attested.metrics_namespace = bad.to_owned();
            let err = Host::new(attested.clone(), &registry).expect_err(bad);
            assert!(err.to_string().contains("metrics_namespace"), "{err}");
        }
    }
}
