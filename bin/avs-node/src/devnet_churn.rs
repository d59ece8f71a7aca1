//! `avs-node devnet --churn MIN-MAX --restart-on-exit`: the churn benchmark. Every MIN to MAX
//! seconds (uniformly at random) one node, chosen at random, is SIGKILLed; the devnet restarts
//! it. Meanwhile every node's `avs_exex_p2p_reachable_stake_ratio` is sampled every
//! [`SAMPLE_INTERVAL`], and the summary at the end says how many checkpoints were tasked and
//! finalized and how low the reachable stake of a running node went.
//!
//! A node is not sampled for [`SETTLE`] after it started or was killed: it is starting, and
//! then catching up and hearing its first signatures, which says nothing about the network.

// The console lines are the devnet's output.
#![allow(clippy::print_stdout)]

use rand_08::Rng;
use std::{
    collections::BTreeSet,
    path::PathBuf,
    time::{Duration, Instant},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often every node's metrics are read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);
/// How long after its kill a node is not sampled.
pub const SETTLE: Duration = Duration::from_secs(45);
/// The metric sampled.
const REACHABLE_METRIC: &str = "avs_exex_p2p_reachable_stake_ratio";

/// The `--churn MIN-MAX` argument: seconds between kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChurnInterval {
    /// Shortest pause between two kills.
    pub min: Duration,
    /// Longest pause between two kills.
    pub max: Duration,
}

impl std::str::FromStr for ChurnInterval {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not MIN-MAX seconds, e.g. 10-40"))?;
        let secs = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| format!("{v:?} in {s:?}: {e}"))
        };
        let (min, max) = (secs(min)?, secs(max)?);
        if min == 0 || max < min {
            return Err(format!(
                "{s:?}: MIN must be at least 1 and MAX at least MIN"
            ));
        }
        Ok(Self {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        })
    }
}

/// One node as the churn sees it.
#[derive(Debug)]
pub struct ChurnNode {
    /// Where the devnet writes its process id.
    pub pid_path: PathBuf,
    /// Its metrics port on 127.0.0.1.
    pub metrics_port: u16,
}

/// The churn's record: kills and the lowest reachable stake seen.
#[derive(Debug)]
pub struct Churn {
    interval: ChurnInterval,
    nodes: Vec<ChurnNode>,
    started: Instant,
    /// When each node was last started or killed.
    settling_since: Vec<Instant>,
    kills: usize,
    /// The lowest ratio sampled on a settled node, with the node.
    lowest: Option<(f64, usize)>,
}

impl Churn {
    /// A churn over `nodes`.
    pub fn new(interval: ChurnInterval, nodes: Vec<ChurnNode>) -> Self {
        let now = Instant::now();
        Self {
            interval,
            settling_since: vec![now; nodes.len()],
            nodes,
            started: now,
            kills: 0,
            lowest: None,
        }
    }

    /// Kills and samples until dropped (the devnet's `select!` ends it).
    pub async fn run(&mut self) {
        let mut next_kill = Instant::now() + self.pause();
        loop {
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            if Instant::now() >= next_kill {
                self.kill_one().await;
                next_kill = Instant::now() + self.pause();
            }
            self.sample().await;
        }
    }

    fn pause(&self) -> Duration {
        let (min, max) = (self.interval.min.as_secs(), self.interval.max.as_secs());
        Duration::from_secs(rand_08::thread_rng().gen_range(min..=max))
    }

    async fn kill_one(&mut self) {
        let i = rand_08::thread_rng().gen_range(0..self.nodes.len());
        let Ok(pid) = std::fs::read_to_string(&self.nodes[i].pid_path) else {
            return;
        };
        let killed = tokio::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if killed {
            println!("churn: killed node {i}");
            self.settling_since[i] = Instant::now();
            self.kills += 1;
        }
    }

    async fn sample(&mut self) {
        let now = Instant::now();
        for i in 0..self.nodes.len() {
            if now.duration_since(self.settling_since[i]) < SETTLE {
                continue;
            }
            let Some(ratio) = read_metric(self.nodes[i].metrics_port, REACHABLE_METRIC).await
            else {
                continue;
            };
            if self.lowest.is_none_or(|(lowest, _)| ratio < lowest) {
                self.lowest = Some((ratio, i));
            }
        }
    }

    /// The churn's summary line, given the checkpoints tasked and finalized during the run.
    pub fn summary(&self, tasked: &BTreeSet<u64>, finalized: &BTreeSet<u64>) -> String {
        let missed: Vec<u64> = tasked.difference(finalized).copied().collect();
        format!(
            "churn: {} kills in {} s; checkpoints tasked {}, finalized {}, missed {}; lowest reachable stake of a running node {}",
            self.kills,
            self.started.elapsed().as_secs(),
            tasked.len(),
            tasked.intersection(finalized).count(),
            if missed.is_empty() {
                "none".to_owned()
            } else {
                format!("{missed:?}")
            },
            self.lowest.map_or_else(
                || "not sampled".to_owned(),
                |(ratio, node)| format!("{:.0}% (node {node})", 100.0 * ratio)
            ),
        )
    }
}

/// The value of an unlabelled metric of the node serving metrics on `port`; `None` if the node
/// does not answer within a second (restarting) or does not export it yet.
async fn read_metric(port: u16, name: &str) -> Option<f64> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await.ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()??;
    crate::metrics::sample(&body, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_min_dash_max_seconds() {
        assert_eq!(
            "10-40".parse(),
            Ok(ChurnInterval {
                min: Duration::from_secs(10),
                max: Duration::from_secs(40)
            })
        );
        for bad in ["10", "0-5", "40-10", "a-b", "-"] {
            assert!(bad.parse::<ChurnInterval>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_summary_counts_missed_checkpoints() {
        let churn = Churn::new(
            "1-2".parse().unwrap(),
            vec![ChurnNode {
                pid_path: PathBuf::from("node-0.pid"),
                metrics_port: 1,
            }],
        );
        let tasked: BTreeSet<u64> = [10, 20, 30].into();
        let finalized: BTreeSet<u64> = [10, 30, 40].into();
        let line = churn.summary(&tasked, &finalized);
        assert!(
            line.contains("tasked 3, finalized 2, missed [20]"),
            "{line}"
        );
        assert!(line.contains("not sampled"), "{line}");
    }
}
