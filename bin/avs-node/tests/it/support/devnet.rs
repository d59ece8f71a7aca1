//! A running `avs-node devnet` for end-to-end tests: started on free ports in a temp folder,
//! its stdout read line by line, stopped with SIGTERM (it stops its nodes and anvil) on drop.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

/// A devnet child process and everything it printed so far.
pub struct Devnet {
    child: Child,
    // Kept for its lifetime: the folder goes when the devnet does.
    folder: tempfile::TempDir,
    /// Node i's metrics are on `base + 100 + i`, its Node API on `base + 200 + i`.
    pub base: u16,
    /// anvil's RPC port.
    pub rpc_port: u16,
    operators: u16,
    lines: Receiver<String>,
    /// Every stdout line read so far.
    pub stdout: Vec<String>,
}

impl Devnet {
    /// Starts `avs-node devnet --operators N` with `extra` arguments.
    pub fn start(operators: u16, extra: &[&str]) -> Self {
        let anvil = avs_test_support::anvil_path().unwrap_or_else(|err| panic!("{err}"));
        let tools = anvil.parent().expect("anvil's folder").to_owned();
        let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let folder = tempfile::tempdir().expect("temp dir");
        let base = free_base(operators);
        let rpc_port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_avs-node"))
            .args(["devnet", "--operators", &operators.to_string()])
            .arg("--dir")
            .arg(folder.path().join("devnet"))
            .args(["--port", &rpc_port.to_string()])
            .args(["--base-port", &base.to_string()])
            .args(extra)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // A file, not a pipe nobody drains while the test waits.
            .stderr(std::fs::File::create(folder.path().join("stderr.log")).expect("stderr file"))
            .spawn()
            .expect("avs-node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        // A reader thread, so waits can have deadlines.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            folder,
            base,
            rpc_port,
            operators,
            lines,
            stdout: Vec::new(),
        }
    }

    /// The devnet folder (`--dir`).
    pub fn dir(&self) -> PathBuf {
        self.folder.path().join("devnet")
    }

    /// Reads stdout until a line satisfies `wanted` and returns it; panics with `what` and the
    /// node logs after `timeout` or if the devnet ends first.
    pub fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no {what} within {timeout:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("the devnet ended before {what}"))
                }
            }
        }
    }

    /// Waits for the devnet to exit by itself (`--exit-after`) and returns its status, having
    /// read all of its stdout.
    /// Polls `probe` (every 250 ms, keeping the devnet's output drained) until it returns a
    /// value; fails the test with `what` after `timeout`.
    pub fn eventually<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe() {
                return value;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no {what} within {timeout:?}"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("the devnet ended ({status}) before {what}"));
            }
            let pause = Instant::now() + Duration::from_millis(250);
            while let Ok(line) = self
                .lines
                .recv_timeout(pause.saturating_duration_since(Instant::now()))
            {
                self.stdout.push(line);
            }
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.stdout.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("the devnet did not exit within {timeout:?}"))
                }
            }
        }
        // stdout closed: the process is exiting.
        self.child.wait().expect("wait")
    }

    /// Panics with `message`, what the devnet printed and the tail of every node log.
    pub fn fail(&mut self, message: &str) -> ! {
        self.stop();
        let stderr =
            std::fs::read_to_string(self.folder.path().join("stderr.log")).unwrap_or_default();
        let logs: Vec<String> = (0..self.operators)
            .map(|i| {
                let log = std::fs::read_to_string(self.dir().join(format!("node-{i}.log")))
                    .unwrap_or_default();
                format!("--- node {i} log tail ---\n{}", tail(&log))
            })
            .collect();
        panic!(
            "{message}\nstdout:\n{}\nstderr:\n{}\n{}",
            self.stdout.join("\n"),
            tail(&stderr),
            logs.join("\n")
        );
    }

    /// One JSON-RPC call to the devnet's anvil; fails the test with the devnet's output and
    /// node logs if anvil does not answer (the devnet stops anvil when it stops).
    pub fn rpc(&mut self, method: &str, params: &serde_json::Value) -> serde_json::Value {
        try_rpc(self.rpc_port, method, params).unwrap_or_else(|err| self.fail(&err))
    }

    /// The devnet anvil's block number, as [`Devnet::rpc`].
    pub fn block_number(&mut self) -> u64 {
        try_block_number(self.rpc_port).unwrap_or_else(|err| self.fail(&err))
    }

    /// The flags that point an `avs-node` command at this devnet's chain and deployment.
    pub fn chain_args(&self) -> Vec<String> {
        vec![
            "--settlement-rpc-url".into(),
            format!("http://127.0.0.1:{}", self.rpc_port),
            "--deployment".into(),
            self.dir().join("deployment.json").display().to_string(),
            "--insecure".into(),
        ]
    }

    /// The deployment's tasks, as `avs-node task list --json` lists them, once every
    /// checkpoint up to `last` has a response; fails the test with `what` after `timeout`.
    pub fn wait_all_answered(
        &mut self,
        what: &str,
        timeout: Duration,
        last: u64,
    ) -> Vec<serde_json::Value> {
        let chain = self.chain_args();
        let mut args = vec!["task", "list", "--json"];
        args.extend(chain.iter().map(String::as_str));
        // DEVNET TEST KEY: anvil's well-known first development account (read-only use here).
        let key = (
            "AVS_ECDSA_PRIVATE_KEY",
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        );
        self.eventually(what, timeout, || {
            let listed = super::avs_node(&args, &[key]);
            assert!(listed.success, "task list: {}", listed.stderr);
            let tasks: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).expect("JSON");
            (FIRST_CHECKPOINT..=last)
                .step_by(CHECKPOINT_INTERVAL as usize)
                .all(|checkpoint| !responses_to(&tasks, checkpoint).is_empty())
                .then_some(tasks)
        })
    }

    /// Operator i's address, from the line the devnet printed when it registered it.
    pub fn operator_address(&self, i: usize) -> String {
        let prefix = format!("operator {i}: ");
        self.stdout
            .iter()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("operator {i} was not printed"))
            .to_owned()
    }

    /// The process id of node `i` from the file the devnet writes.
    pub fn node_pid(&self, i: usize) -> u32 {
        let path = self.dir().join(format!("node-{i}.pid"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
            .trim()
            .parse()
            .expect("a process id")
    }

    /// Ctrl-C: SIGINT to the devnet, which stops its nodes and anvil and prints its summary.
    pub fn interrupt(&mut self) {
        signal("-INT", self.child.id());
    }

    /// Ctrl-C, then checks that the devnet exits successfully and leaves no orphans: no node
    /// process, and nothing listening on its anvil's port or on `other_anvil_ports`.
    pub fn interrupt_and_check_clean_exit(&mut self, timeout: Duration, other_anvil_ports: &[u16]) {
        let nodes: Vec<u32> = (0..usize::from(self.operators))
            .map(|i| self.node_pid(i))
            .collect();
        self.interrupt();
        let status = self.wait_exit(timeout);
        if !status.success() {
            self.fail(&format!(
                "the devnet did not stop cleanly on Ctrl-C: {status}"
            ));
        }
        for (i, pid) in nodes.iter().enumerate() {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "node {i} (pid {pid}) outlived the devnet"
            );
        }
        for port in std::iter::once(self.rpc_port).chain(other_anvil_ports.iter().copied()) {
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "an anvil (port {port}) outlived the devnet"
            );
        }
    }

    /// SIGTERM (the devnet stops its nodes and anvil) and waits for the exit.
    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal("-TERM", self.child.id());
            let _ = self.child.wait();
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `signal` (e.g. `-KILL`) to `pid` with `kill(1)`.
pub fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Blocks between two checkpoints of the devnet's deployment.
pub const CHECKPOINT_INTERVAL: u64 = 10;
/// The settlement chain's first checkpoint: the devnet's settlement anvil starts at
/// EigenLayer's genesis block (slashing needs a chain older than the withdrawal delay).
pub const FIRST_CHECKPOINT: u64 = avs_test_support::EIGENLAYER_GENESIS_BLOCK + CHECKPOINT_INTERVAL;

/// The responses to `checkpoint` among `tasks` (as `task list --json` lists them).
pub fn responses_to(tasks: &[serde_json::Value], checkpoint: u64) -> Vec<serde_json::Value> {
    tasks
        .iter()
        .filter(|t| t["blockNumber"] == checkpoint)
        .filter_map(|t| t.get("response").filter(|r| !r.is_null()).cloned())
        .collect()
}

/// The number after `field ` in a devnet line, e.g. `field("task", line)`.
pub fn field(name: &str, line: &str) -> u64 {
    line.split(&format!(" {name} "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no {name} number in {line:?}"))
}

/// A plain HTTP/1.1 GET on 127.0.0.1: the status code and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    try_http_get(port, path).unwrap_or_else(|err| panic!("{err}"))
}

/// [`http_get`], with nothing listening (e.g. a node restarting) as an error.
pub fn try_http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    try_http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

/// anvil's current block number, asked over JSON-RPC on `port`; an error if anvil does not
/// answer (e.g. the devnet stopped).
pub fn try_block_number(port: u16) -> Result<u64, String> {
    let result = try_rpc(port, "eth_blockNumber", &serde_json::json!([]))?;
    let hex = result.as_str().expect("a hex block number");
    Ok(u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("a hex block number"))
}

/// One JSON-RPC call to anvil on `port`: its `result`, or an error if nothing answers there.
/// A malformed answer fails the test.
pub fn try_rpc(
    port: u16,
    method: &str,
    params: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let (status, response) = try_http(
        port,
        &format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .map_err(|err| format!("{method}: {err}"))?;
    assert_eq!(status, 200, "{method}: {response}");
    let mut value: serde_json::Value = serde_json::from_str(&response)
        .unwrap_or_else(|err| panic!("{method} answer {response:?}: {err}"));
    Ok(value["result"].take())
}

/// Sends one raw HTTP/1.1 request and returns the status and body; an error if nothing
/// listens on `port`.
fn try_http(port: u16, request: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|err| format!("connecting to port {port}: {err}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The value of an unlabelled metric in a Prometheus text exposition.
pub fn metric(exposition: &str, name: &str) -> Option<f64> {
    avs_node::metrics::sample(exposition, name)
}

/// The first sample of metric `name` whose labels contain `labels` (e.g. `result="valid"`).
pub fn labelled_metric(exposition: &str, name: &str, labels: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (key, value) = line.rsplit_once(' ')?;
        let rest = key.strip_prefix(name)?.strip_prefix('{')?;
        rest.contains(labels)
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port whose node port ranges (base+i, base+100+i, base+200+i) are free. Devnets of one
/// test process start their search 300 ports apart, so two started together (not listening
/// yet) never pick the same range.
fn free_base(nodes: u16) -> u16 {
    static STARTED: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let start = 20_000 + (std::process::id() % 10_000) as u16 + 300 * (nth % 8);
    (start..start + 5_000)
        .step_by(300)
        .find(|&base| {
            (0..nodes).all(|i| {
                port_free(base + i) && port_free(base + 100 + i) && port_free(base + 200 + i)
            })
        })
        .expect("a free port range")
}

pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The last 30 lines of `text`.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
