//! Shared harness for the host's integration tests.

pub(crate) mod witness_node;

use std::{
    net::TcpListener as StdTcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    eips::{BlockNumHash, BlockNumberOrTag},
    providers::Provider,
    transports::http::reqwest,
};
use avs_exex::{
    ExExContext, ExExEvent, ExExNotification,
    host::{Host, HostConfig, HostError},
};
use futures::TryStreamExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

/// A config for tests: start at genesis, fast polling and retries.
pub(crate) fn config(url: &str, data_dir: &Path) -> HostConfig {
    let mut config = HostConfig::new(url, data_dir);
    config.poll_interval = Duration::from_millis(50);
    config.retry_initial = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(500);
    config
}

/// A host running on its own task with one recording ExEx.
pub(crate) struct RunningHost {
    /// Every notification the ExEx received, forwarded in order.
    pub(crate) notifications: mpsc::UnboundedReceiver<ExExNotification>,
    registry: prometheus::Registry,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), HostError>>>,
}

/// The ExEx under test: forwards each notification, then reports its committed tip finished
/// (never above `finish_limit`, if set).
async fn recorder(
    mut ctx: ExExContext,
    forward: mpsc::UnboundedSender<ExExNotification>,
    finish_limit: Option<u64>,
) -> eyre::Result<()> {
    while let Some(notification) = ctx.notifications.try_next().await? {
        let tip = notification.committed_chain().and_then(|chain| {
            let limit = finish_limit.unwrap_or(u64::MAX).min(chain.tip().number());
            chain.block_by_number(limit).map(|block| block.num_hash())
        });
        forward.send(notification)?;
        if let Some(tip) = tip {
            ctx.events.send(ExExEvent::FinishedHeight(tip)).await?;
        }
    }
    Ok(())
}

impl RunningHost {
    pub(crate) fn start(config: HostConfig) -> Self {
        Self::start_finishing_up_to(config, None)
    }

    /// Like [`RunningHost::start`], but the ExEx never reports a finished height above
    /// `finish_limit`.
    pub(crate) fn start_finishing_up_to(config: HostConfig, finish_limit: Option<u64>) -> Self {
        let registry = prometheus::Registry::new();
        let mut host = Host::new(config, &registry).expect("valid config");
        let (forward, notifications) = mpsc::unbounded_channel();
        host.install_exex("recorder", move |ctx| recorder(ctx, forward, finish_limit));
        Self::spawn(host, registry, notifications)
    }

    /// A host with one recording ExEx per id; returns the host (whose `notifications` are the
    /// first ExEx's) and the other ExExes' notification streams.
    pub(crate) fn start_recorders(
        config: HostConfig,
        ids: &[&str],
    ) -> (Self, Vec<mpsc::UnboundedReceiver<ExExNotification>>) {
        let registry = prometheus::Registry::new();
        let mut host = Host::new(config, &registry).expect("valid config");
        let mut streams: Vec<_> = ids
            .iter()
            .map(|id| {
                let (forward, notifications) = mpsc::unbounded_channel();
                host.install_exex(*id, move |ctx| recorder(ctx, forward, None));
                notifications
            })
            .collect();
        let first = streams.remove(0);
        (Self::spawn(host, registry, first), streams)
    }

    /// A host whose ExEx, after forwarding its first notification, reads nothing more until
    /// the returned gate is dropped.
    pub(crate) fn start_gated(config: HostConfig) -> (oneshot::Sender<()>, Self) {
        let registry = prometheus::Registry::new();
        let mut host = Host::new(config, &registry).expect("valid config");
        let (forward, notifications) = mpsc::unbounded_channel();
        let (gate, gate_rx) = oneshot::channel::<()>();
        host.install_exex("gated", move |mut ctx: ExExContext| async move {
            let first = ctx
                .notifications
                .try_next()
                .await?
                .expect("a first notification");
            forward.send(first)?;
            let _ = gate_rx.await;
            while let Some(notification) = ctx.notifications.try_next().await? {
                forward.send(notification)?;
            }
            Ok(())
        });
        (gate, Self::spawn(host, registry, notifications))
    }

    fn spawn(
        host: Host,
        registry: prometheus::Registry,
        notifications: mpsc::UnboundedReceiver<ExExNotification>,
    ) -> Self {
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(host.run(async move {
            let _ = stop.await;
        }));
        Self {
            notifications,
            registry,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Stops the host gracefully and returns its result.
    pub(crate) async fn stop(&mut self) -> Result<(), HostError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.finished().await
    }

    /// Stops the host and returns what the ExEx received until then (not yet read).
    pub(crate) async fn stop_collecting(
        mut self,
    ) -> (Vec<ExExNotification>, Result<(), HostError>) {
        let result = self.stop().await;
        let mut rest = Vec::new();
        while let Ok(n) = self.notifications.try_recv() {
            rest.push(n);
        }
        (rest, result)
    }

    /// Waits for the host to end by itself.
    pub(crate) async fn finished(&mut self) -> Result<(), HostError> {
        let task = self.task.take().expect("the host task is awaited once");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the host stops within 30 s")
            .expect("the host task does not panic")
    }

    /// The summed value of metric `name`.
    pub(crate) fn metric(&self, name: &str) -> f64 {
        let family = self
            .registry
            .gather()
            .into_iter()
            .find(|family| family.name() == name)
            .unwrap_or_else(|| panic!("metric {name} is registered"));
        family
            .get_metric()
            .iter()
            .map(|m| m.get_gauge().get_value() + m.get_counter().get_value())
            .sum()
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Receives notifications until one commits block `number` (or above).
///
/// # Panics
/// After `timeout`, naming the last block seen.
pub(crate) async fn collect_until(
    notifications: &mut mpsc::UnboundedReceiver<ExExNotification>,
    number: u64,
    timeout: Duration,
) -> Vec<ExExNotification> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut received = Vec::new();
    loop {
        let last = received
            .last()
            .and_then(|n: &ExExNotification| n.committed_chain())
            .map(|c| c.tip().number());
        if last.is_some_and(|last| last >= number) {
            return received;
        }
        match tokio::time::timeout_at(deadline, notifications.recv()).await {
            Ok(Some(n)) => received.push(n),
            Ok(None) => panic!("the host stopped before block {number} (last: {last:?})"),
            Err(_) => panic!("block {number} not delivered within {timeout:?} (last: {last:?})"),
        }
    }
}

/// The committed blocks of a notification as (number, hash).
pub(crate) fn committed(notification: &ExExNotification) -> Vec<BlockNumHash> {
    notification
        .committed_chain()
        .map(|chain| chain.blocks_iter().map(|b| b.num_hash()).collect())
        .unwrap_or_default()
}

/// Every block the host committed so far, from the notifications already received.
pub(crate) fn delivered(
    notifications: &mut mpsc::UnboundedReceiver<ExExNotification>,
) -> Vec<BlockNumHash> {
    let mut delivered = Vec::new();
    while let Ok(n) = notifications.try_recv() {
        delivered.extend(committed(&n));
    }
    delivered
}

/// The node's (number, hash) for `from..=to`.
pub(crate) async fn node_hashes(provider: &impl Provider, from: u64, to: u64) -> Vec<BlockNumHash> {
    let mut hashes = Vec::new();
    for number in from..=to {
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .expect("rpc")
            .unwrap_or_else(|| panic!("node has block {number}"));
        hashes.push(BlockNumHash {
            number,
            hash: block.header.hash,
        });
    }
    hashes
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// An anvil on a fixed port that keeps its chain in a state file across restarts.
pub(crate) struct StatefulAnvil {
    child: Option<Child>,
    port: u16,
    state: PathBuf,
}

impl StatefulAnvil {
    pub(crate) fn start(state: &Path) -> Self {
        let mut anvil = Self {
            child: None,
            port: free_port(),
            state: state.to_owned(),
        };
        anvil.spawn();
        anvil
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let path = avs_test_support::anvil_path().unwrap_or_else(|err| panic!("{err}"));
        let child = Command::new(path)
            .args(["--port", &self.port.to_string(), "--state"])
            .arg(&self.state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "anvil did not listen on {} within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops anvil gracefully (it writes its state on SIGINT) and starts it again.
    pub(crate) fn restart(&mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "signalled anvil");
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().expect("try_wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "anvil did not exit within 15 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.spawn();
    }
}

impl Drop for StatefulAnvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the proxy alters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tamper {
    /// `cumulativeGasUsed` of the first receipt in `eth_getBlockReceipts` answers.
    Receipt,
    /// `value` of the first transaction in full-block answers.
    Transaction,
    /// The first transaction of full-block answers becomes type 0x64 (another L2's type, which
    /// this build does not decode).
    UnknownTxType,
}

/// An HTTP JSON-RPC proxy to anvil that alters answers.
pub(crate) struct TamperProxy {
    port: u16,
    task: JoinHandle<()>,
}

impl TamperProxy {
    pub(crate) async fn start(upstream: String, tamper: Tamper) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let client = reqwest::Client::new();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (client, upstream) = (client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, client, &upstream, tamper).await;
                });
            }
        });
        Self { port, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves keep-alive HTTP/1.1 requests on one connection.
async fn serve(
    stream: tokio::net::TcpStream,
    client: reqwest::Client,
    upstream: &str,
    tamper: Tamper,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).await?;
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let answer = client
            .post(upstream)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(std::io::Error::other)?
            .bytes()
            .await
            .map_err(std::io::Error::other)?;
        let mut response: serde_json::Value = serde_json::from_slice(&answer)?;
        alter(&request, &mut response, tamper);
        let out = serde_json::to_vec(&response)?;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            out.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(&out).await?;
    }
}

fn alter(request: &serde_json::Value, response: &mut serde_json::Value, tamper: Tamper) {
    let method = request["method"].as_str().unwrap_or_default();
    match tamper {
        Tamper::Receipt if method == "eth_getBlockReceipts" => {
            if let Some(receipt) = response["result"].get_mut(0) {
                receipt["cumulativeGasUsed"] = "0x1".into();
            }
        }
        Tamper::Transaction if method == "eth_getBlockByNumber" && request["params"][1] == true => {
            if let Some(tx) = response["result"]["transactions"].get_mut(0) {
                tx["value"] = "0x7".into();
            }
        }
        Tamper::UnknownTxType
            if method == "eth_getBlockByNumber" && request["params"][1] == true =>
        {
            if let Some(tx) = response["result"]["transactions"].get_mut(0) {
                tx["type"] = "0x64".into();
            }
        }
        _ => {}
    }
}
