//! The run's summary over its measured tasks: one Markdown table row (the format of
//! BENCHMARKS.md's simulation table) and the figures behind it.

use crate::{Args, fleet::Fleet, measure::TaskMeasurement, ms};
use avs_p2p::wire::SIGNATURE_MESSAGE_LEN;
use std::time::Duration;

pub(crate) struct Summary {
    row: Vec<String>,
    notes: Vec<String>,
}

impl Summary {
    pub(crate) fn new(args: &Args, fleet: &Fleet, tasks: &[TaskMeasurement]) -> Self {
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
        let all = durations(&|t| (t.at_quorum == t.honest).then_some(t.last_quorum).flatten());
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
        let per_node = |f: &dyn Fn(&avs_p2p::Traffic) -> u64| -> (f64, u64) {
            let all: Vec<u64> = tasks.iter().flat_map(|t| t.traffic.iter().map(f)).collect();
            let mean = all.iter().sum::<u64>() as f64 / all.len().max(1) as f64;
            (mean, all.iter().copied().max().unwrap_or(0))
        };
        let (bytes_mean, bytes_max) = per_node(&|t| t.bytes_in);
        let (msgs_mean, _) = per_node(&|t| t.messages_in);
        let (dups_mean, _) = per_node(&|t| t.duplicates_in());
        let signers = tasks.iter().map(|t| t.quorum_signers).max().unwrap_or(0);
        let quorum_bytes = (signers * SIGNATURE_MESSAGE_LEN) as f64;
        let cpu_per_node = tasks.iter().map(|t| t.cpu).sum::<Duration>().as_secs_f64()
            / tasks.len() as f64
            / honest as f64;
        let equivocations: usize = tasks.iter().map(|t| t.equivocations).sum();
        let extra: usize = tasks.iter().map(|t| t.extra_submissions).sum();
        let row = vec![
            args.operators.to_string(),
            format!("{:?}", args.stakes).to_lowercase(),
            format!("{:.0} %", args.offline * 100.0),
            format!("{:.0} %", args.rogue * 100.0),
            format!("{} ms", args.latency_ms),
            fleet.peers.to_string(),
            first,
            all,
            complete,
            format!("{submitted} (ranks {})", ranks.join(",")),
            format!("{:.1} / {:.1} KB", bytes_mean / 1e3, bytes_max as f64 / 1e3),
            format!("{:.1}×", bytes_mean / quorum_bytes.max(1.0)),
            format!(
                "{:.0} ({:.0} % duplicates)",
                msgs_mean,
                100.0 * dups_mean / msgs_mean.max(1.0)
            ),
            format!("{:.1} ms", cpu_per_node * 1e3),
            format!(
                "{:.1} MB",
                fleet.rss_ready as f64 / 1e6 / (honest + fleet.rogue.len()) as f64
            ),
        ];
        let notes = vec![
            format!(
                "{} tasks measured after a warm-up; {} honest nodes, {} rogue; meshes formed in {:.1} s",
                tasks.len(),
                honest,
                fleet.rogue.len(),
                fleet.mesh_formed.as_secs_f64()
            ),
            format!(
                "quorum: {signers} signers = {:.1} KB of {SIGNATURE_MESSAGE_LEN}-byte signature messages",
                quorum_bytes / 1e3
            ),
            format!(
                "equivocation reports: {equivocations} (rogue nodes × honest nodes × tasks at most); submission turns after the first: {extra}"
            ),
            format!(
                "process RSS {:.0} MB for {} nodes once meshed",
                fleet.rss_ready as f64 / 1e6,
                honest + fleet.rogue.len()
            ),
        ];
        Self { row, notes }
    }

    pub(crate) fn print(&self) {
        println!(
            "| operators | stakes | offline | rogue | link latency | peers | first quorum p50 / max | all nodes at quorum p50 / max | all signatures everywhere p50 / max | submitted p50 / max (rank) | bytes in per node per task, mean / max | ÷ quorum's signatures | gossip messages in per node | CPU per node per task | RSS per node |"
        );
        println!("|{}", "---:|".repeat(self.row.len()));
        println!("| {} |", self.row.join(" | "));
        for note in &self.notes {
            println!("- {note}");
        }
    }
}
