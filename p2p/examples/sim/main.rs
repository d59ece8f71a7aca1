//! Network simulation: N operator nodes' signature stacks in one process, measuring how a
//! leaderless gossip quorum forms as the operator set grows.
//!
//! ```sh
//! just sim 1000            # = cargo run --release -p avs-p2p --example sim -- --operators 1000
//! just sim 256 --stakes zipf --offline 0.1 --rogue 0.05 --latency-ms 50
//! ```
//!
//! Every node is the real stack a node runs between its ExEx and its submitter: a libp2p
//! [`Network`](avs_p2p::Network) (libp2p's in-process memory transport with noise and yamux
//! as over TCP, identify, Kademlia, gossipsub with the node's scoring, rate limits and bans)
//! and a
//! [`SignatureService`](avs_p2p::SignatureService) (batch validation, aggregation, submitter
//! ranking), with real BN254 keys from a seeded committee and stakes from a seeded
//! distribution. What replaces the chain: each task's [`TaskInfo`](avs_p2p::TaskInfo) is
//! handed to every node at once, as the ExEx hands over a `NewTaskCreated`, and each node
//! signs the response itself; the submitter is a stub that records which rank's node would
//! have sent `respondToTask`, and when, and then tells every node the task is answered, as the
//! `TaskResponded` log would.
//!
//! Options (see `--help`): the number of operators, the stake distribution (equal, or
//! Zipf-like with a few whales), the fraction of operators offline, the fraction of rogue
//! nodes (they publish a junk signature and two conflicting responses per task and forward
//! nothing), the one-way latency of every link, and the peers each node keeps.
//!
//! Per task it reports: time from the task reaching the nodes to the first node holding a
//! quorum aggregate, to every online honest node holding one, and to every online honest node
//! holding every honest signature; the submitting rank and its time; per node the bytes and
//! gossip messages received (duplicates counted) and CPU time; the equivocations detected.
//! All nodes share this machine's cores, so the wall times are those of N nodes on
//! `available_parallelism` cores: an upper bound for nodes on machines of their own once the
//! total CPU per task exceeds a core or two (the CPU figures say when).

// Printing the report is what this example is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod fleet;
mod measure;
mod report;

use avs_p2p::{Stake, fixtures::Committee};
use clap::{Parser, ValueEnum};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use std::time::Duration;

/// Stake of every operator under `equal`, and of the largest under `zipf`.
const BASE_STAKE: Stake = 1_000;

#[derive(Parser, Debug, Clone)]
#[command(about = "Simulate N operator nodes gossiping signatures to a quorum")]
pub(crate) struct Args {
    /// Operators in the set (each with a node unless offline).
    #[arg(long, default_value_t = 64)]
    pub(crate) operators: usize,
    /// Measured tasks, after one warm-up task.
    #[arg(long, default_value_t = 5)]
    pub(crate) tasks: u32,
    /// How stake is spread over the operators.
    #[arg(long, value_enum, default_value_t = Stakes::Equal)]
    pub(crate) stakes: Stakes,
    /// Quorum threshold, percent of the quorum's stake.
    #[arg(long, default_value_t = 67)]
    pub(crate) threshold: u8,
    /// Fraction of operators whose node is down for the whole run.
    #[arg(long, default_value_t = 0.05)]
    pub(crate) offline: f64,
    /// Fraction of operators whose node is rogue: per task it publishes a junk signature and
    /// two conflicting responses, and it forwards nothing.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rogue: f64,
    /// One-way latency of every link, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) latency_ms: u64,
    /// Peers each node keeps connected [default: the node's, 24].
    #[arg(long)]
    pub(crate) peers: Option<usize>,
    /// Delay between consecutive submitter ranks, in milliseconds (the node's default: 12 s).
    #[arg(long, default_value_t = 12_000)]
    pub(crate) submit_slot_ms: u64,
    /// Extra collection time after quorum, in milliseconds (the node's default is 500; 0
    /// measures when quorum itself is reached).
    #[arg(long, default_value_t = 0)]
    pub(crate) aggregation_window_ms: u64,
    /// Bound on one task, beyond the submitter slots it may take, in seconds (on one machine a
    /// large fleet's task is CPU-bound: every node verifies every signature).
    #[arg(long, default_value_t = 120)]
    pub(crate) task_timeout_s: u64,
    /// Seed of the keys, the stakes and the choice of offline and rogue operators.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// How stake is spread over the operators.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stakes {
    /// Every operator the same.
    Equal,
    /// Operator i (in random order) holds stake ∝ 1/(i+1): a few whales and a long tail, as in
    /// real operator sets.
    Zipf,
}

/// What an operator's node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Runs the real stack and signs honestly.
    Honest,
    /// No node: its stake never signs.
    Offline,
    /// Sends junk and conflicting responses, forwards nothing.
    Rogue,
}

fn main() -> eyre::Result<()> {
    let args = Args::parse();
    validate(&args)?;
    // The nodes' logs, all interleaved, errors only by default: `RUST_LOG=avs_p2p=debug` to
    // see a run's gossip.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn validate(args: &Args) -> eyre::Result<()> {
    eyre::ensure!(args.operators >= 2, "--operators must be at least 2");
    eyre::ensure!(
        (1..=100).contains(&args.threshold),
        "--threshold is a percentage in 1..=100"
    );
    for (name, f) in [("--offline", args.offline), ("--rogue", args.rogue)] {
        eyre::ensure!((0.0..1.0).contains(&f), "{name} is a fraction in [0, 1)");
    }
    eyre::ensure!(
        args.offline + args.rogue < 0.9,
        "--offline plus --rogue leave fewer than 10 % honest nodes"
    );
    eyre::ensure!(args.tasks >= 1, "--tasks must be at least 1");
    Ok(())
}

async fn run(args: Args) -> eyre::Result<()> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let stakes = stakes(&args, &mut rng);
    eprintln!(
        "sim: {} operators, {:?} stakes, {} % threshold, {:.0} % offline, {:.0} % rogue, {} ms links",
        args.operators,
        args.stakes,
        args.threshold,
        args.offline * 100.0,
        args.rogue * 100.0,
        args.latency_ms
    );
    let committee = Committee::new(args.operators, args.seed, |i| stakes[i]);
    let roles = roles(&args, &mut rng);
    let fleet = fleet::Fleet::start(&args, &committee, &roles, &mut rng).await?;
    // Task 0 warms up the meshes (grafts settle over the first heartbeats) and is not counted;
    // the idle fleet is measured after it, once start-up discovery is over.
    let warm_up = measure::task(&args, &fleet, &committee, 0).await?;
    eprintln!("{} (warm-up)", warm_up.line());
    fleet.wait_until_quiet().await?;
    let idle = measure::idle(&fleet).await?;
    eprintln!(
        "sim: idle fleet: {:.1} KB/s in and {:.2} ms/s CPU per node",
        idle.bytes_in_per_sec / 1e3,
        ms(idle.cpu_per_sec)
    );
    let mut tasks = Vec::new();
    for index in 1..=args.tasks {
        let m = measure::task(&args, &fleet, &committee, index).await?;
        eprintln!("{}", m.line());
        tasks.push(m);
    }
    let summary = report::Summary::new(
        &args,
        &fleet,
        &idle,
        &tasks,
        quorum_size(&stakes, args.threshold),
    );
    fleet.shutdown().await;
    summary.print();
    Ok(())
}

/// Each operator's stake.
fn stakes(args: &Args, rng: &mut StdRng) -> Vec<Stake> {
    match args.stakes {
        Stakes::Equal => vec![BASE_STAKE; args.operators],
        Stakes::Zipf => {
            let mut s: Vec<Stake> = (0..args.operators)
                .map(|i| (BASE_STAKE * 1000 / (i as Stake + 1)).max(1))
                .collect();
            s.shuffle(rng);
            s
        }
    }
}

/// The fewest operators whose stakes (largest first) meet `threshold` percent of the total:
/// the signatures a quorum needs at least.
fn quorum_size(stakes: &[Stake], threshold: u8) -> usize {
    let total: Stake = stakes.iter().sum();
    let mut sorted = stakes.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let mut signed: Stake = 0;
    for (i, stake) in sorted.iter().enumerate() {
        signed += stake;
        // The contract's rule: signed × 100 ≥ total × threshold.
        if signed * 100 >= total * Stake::from(threshold) {
            return i + 1;
        }
    }
    stakes.len()
}

/// Which operators are offline and which rogue, drawn from the seed.
fn roles(args: &Args, rng: &mut StdRng) -> Vec<Role> {
    let n = args.operators;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let offline = (args.offline * n as f64).round() as usize;
    let rogue = (args.rogue * n as f64).round() as usize;
    let mut roles = vec![Role::Honest; n];
    for &i in &order[..offline] {
        roles[i] = Role::Offline;
    }
    for &i in &order[offline..offline + rogue] {
        roles[i] = Role::Rogue;
    }
    // Never let the draw leave the first node (everyone's first bootnode) offline.
    if roles[0] != Role::Honest
        && let Some(j) = (1..n).find(|&j| roles[j] == Role::Honest)
    {
        roles.swap(0, j);
    }
    roles
}

/// A duration in milliseconds, for the report.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
