//! The run's summary over its measured tasks: one Markdown table row (the format of
//! BENCHMARKS.md's simulation table) and the figures behind it.

use crate::{
    Args,
    fleet::Fleet,
    measure::{Idle, TaskMeasurement},
    ms,
};
use avs_p2p::{Traffic, wire::SIGNATURE_MESSAGE_LEN};
use std::time::Duration;

pub(crate) struct Summary {
    row: Vec<String>,
    notes: Vec<String>,
}

impl Summary {
    /// `quorum_size`: the fewest signatures that meet the threshold (largest stakes first).
    pub(crate) fn new(
        args: &Args,
        fleet: &Fleet,
        idle: &Idle,
        tasks: &[TaskMeasurement],
        quorum_size: usize,
    ) -> Self {
        let honest = fleet.honest.len();
        let durations = |f: &dyn Fn(&TaskMeasurement) -> Option<Duration>| -> String {
            let mut v: Vec<Duration> = tasks.iter().filter_map(f).collect();
            if v.len() < tasks.len() {
                return format!("{} of {} tasks never", tasks.len() - v.len(), tasks.len());
            }
            v.sort();
            format!(
                "{:.0} / {:.0} ms",
                ms(v[v.len() / 2]),
                ms(*v.last().expect("at least one task"))
            )
        };
        let first = durations(&|t| t.first_quorum);
        let all_know = durations(&|t| t.all_know);
        let complete = durations(&|t| {
            (t.complete == t.honest)
                .then_some(t.last_complete)
                .flatten()
        });
        let submitted = durations(&|t| t.submitted.map(|s| s.0));
        let ranks: Vec<String> = tasks
            .iter()
            .map(|t| {
                t.submitted
                    .and_then(|s| s.1)
                    .map_or("-".to_owned(), |r| r.to_string())
            })
            .collect();
        // Per node and task.
        let per_node = |f: &dyn Fn(&TaskMeasurement, &Traffic) -> f64| -> (f64, f64) {
            let all: Vec<f64> = tasks
                .iter()
                .flat_map(|t| t.traffic.iter().map(move |n| f(t, n)))
                .collect();
            let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
            (mean, all.iter().copied().fold(0.0, f64::max))
        };
        // Stream bytes without what the idle fleet sends over a window as long (its mean).
        let idle_bytes = |t: &TaskMeasurement| idle.bytes_in_per_sec * t.window.as_secs_f64();
        let (raw_mean, raw_max) = per_node(&|_, n| n.bytes_in as f64);
        let idle_mean = tasks.iter().map(idle_bytes).sum::<f64>() / tasks.len().max(1) as f64;
        let wire_mean = (raw_mean - idle_mean).max(0.0);
        let wire_max = raw_max;
        let (payload_mean, _) = per_node(&|_, n| n.message_bytes_in as f64);
        let (msgs_mean, _) = per_node(&|_, n| n.messages_in as f64);
        let (dups_mean, _) = per_node(&|_, n| n.duplicates_in() as f64);
        let signers = tasks.iter().map(|t| t.quorum_signers).max().unwrap_or(0);
        let quorum_bytes = (quorum_size * SIGNATURE_MESSAGE_LEN) as f64;
        let cpu_per_node = tasks
            .iter()
            .map(|t| {
                t.cpu.saturating_sub(
                    idle.cpu_per_sec
                        .mul_f64(honest as f64 * t.window.as_secs_f64()),
                )
            })
            .sum::<Duration>()
            .as_secs_f64()
            / tasks.len() as f64
            / honest as f64;
        let equivocations: usize = tasks.iter().map(|t| t.equivocations).sum();
        let extra: usize = tasks.iter().map(|t| t.extra_submissions).sum();
        let nodes = honest + fleet.rogue.len();
        let row = vec![
            args.operators.to_string(),
            format!("{:?}", args.stakes).to_lowercase(),
            format!("{:.0} %", args.offline * 100.0),
            format!("{:.0} %", args.rogue * 100.0),
            format!("{} ms", args.latency_ms),
            fleet.peers.to_string(),
            first,
            all_know,
            complete,
            format!("{submitted} (ranks {})", ranks.join(",")),
            format!("{:.1} / {:.1} KB", wire_mean / 1e3, wire_max / 1e3),
            format!("{:.1}×", wire_mean / quorum_bytes.max(1.0)),
            format!("{:.1} KB", payload_mean / 1e3),
            format!(
                "{:.0} ({:.0} % duplicates)",
                msgs_mean,
                100.0 * dups_mean / msgs_mean.max(1.0)
            ),
            format!("{:.1} ms", cpu_per_node * 1e3),
            format!("{:.1} MB", fleet.rss_ready as f64 / 1e6 / nodes as f64),
        ];
        let notes = vec![
            format!(
                "{} tasks measured after a warm-up; {honest} honest nodes, {} rogue; meshes formed in {:.1} s",
                tasks.len(),
                fleet.rogue.len(),
                fleet.mesh_formed.as_secs_f64()
            ),
            format!(
                "a quorum needs {quorum_size} signatures = {:.1} KB of {SIGNATURE_MESSAGE_LEN}-byte signature messages (the first aggregates had up to {signers} signers)",
                quorum_bytes / 1e3
            ),
            format!(
                "idle fleet (subtracted from the mean bytes and the CPU; the max is raw): {:.1} KB/s in and {:.2} ms/s CPU per node",
                idle.bytes_in_per_sec / 1e3,
                ms(idle.cpu_per_sec)
            ),
            format!(
                "CPU per node: the whole process's CPU over the task (harness, every node's signing, rogue nodes) divided by the honest nodes"
            ),
            format!(
                "equivocation reports: {equivocations}; submission turns after the first: {extra}"
            ),
            format!(
                "process RSS {:.0} MB for {nodes} nodes once meshed",
                fleet.rss_ready as f64 / 1e6
            ),
        ];
        Self { row, notes }
    }

    pub(crate) fn print(&self) {
        println!(
            "| operators | stakes | offline | rogue | link latency | peers | first aggregate ready p50 / max | every node knows it answered p50 / max | every signature everywhere p50 / max | submitted p50 / max (ranks) | stream bytes in per node per task, mean / max | ÷ quorum's signatures | signature messages' bytes in per node | signature messages in per node | CPU per node per task | RSS per node |"
        );
        println!("|{}", "---:|".repeat(self.row.len()));
        println!("| {} |", self.row.join(" | "));
        for note in &self.notes {
            println!("- {note}");
        }
    }
}
