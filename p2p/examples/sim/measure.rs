//! One task through the fleet: handed to every node at once, each honest node signing and
//! publishing its response, rogue nodes publishing junk and conflicting responses; measured
//! until a submission happened and every honest node holds a quorum and every honest
//! signature (or a deadline passes), then over a short window of trailing gossip.

use crate::{
    Args,
    fleet::{Fleet, Milestone},
    ms,
};
use avs_p2p::{
    Traffic,
    fixtures::{Committee, response},
    network::Channel,
    wire::{GossipMessage, GroupAggregate},
};
use std::time::{Duration, Instant};

/// How often, and how many times, a node offers its own signature again when the first
/// publish found no peer on its topic (the node's own retry, at a simulation's pace).
const REPUBLISH_INTERVAL: Duration = Duration::from_millis(250);
const REPUBLISH_ATTEMPTS: usize = 40;

/// Submitter ranks the bound allows for (rank r submits r slots after quorum).
const RANKS_WAITED: u32 = 3;
/// After the last milestone, how long trailing gossip (duplicates still in flight, gossip
/// announcements) is still counted as the task's traffic.
const TRAILING_GOSSIP: Duration = Duration::from_secs(2);

/// What one task took.
pub(crate) struct TaskMeasurement {
    pub(crate) index: u32,
    pub(crate) honest: usize,
    /// First node holding a quorum aggregate.
    pub(crate) first_quorum: Option<Duration>,
    /// Honest nodes that reached quorum themselves (the others learnt of the response first).
    pub(crate) at_quorum: usize,
    /// When the last honest node knew the task is answered: its own quorum, or the stub's
    /// response landing, whichever came first.
    pub(crate) all_know: Option<Duration>,
    /// Honest nodes holding every honest signature, and when the last of them did.
    pub(crate) complete: usize,
    pub(crate) last_complete: Option<Duration>,
    /// The stub submitter's first call: when, and the rank of the node that made it.
    pub(crate) submitted: Option<(Duration, Option<u32>)>,
    /// Submission turns that came after the first (a later rank acting before it heard).
    pub(crate) extra_submissions: usize,
    /// Signers of the first quorum aggregate.
    pub(crate) quorum_signers: usize,
    /// How long traffic and CPU were counted.
    pub(crate) window: Duration,
    /// Per honest node: traffic during the window.
    pub(crate) traffic: Vec<Traffic>,
    /// CPU time of the whole process during the window.
    pub(crate) cpu: Duration,
    /// Equivocation reports (each node that detected one counts).
    pub(crate) equivocations: usize,
    /// Publications of own signatures that failed.
    pub(crate) publish_errors: usize,
}

impl TaskMeasurement {
    pub(crate) fn line(&self) -> String {
        let opt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.0} ms", ms(d)));
        let bytes: u64 = self.traffic.iter().map(|t| t.bytes_in).sum();
        format!(
            "task {}: first quorum {}, all {} know it answered by {} ({} reached quorum themselves), {}/{} hold every signature by {}, submitted {} (rank {}), +{} late turns, {:.1} KB in per node in {:.1} s, cpu {:.2} s, {} equivocation reports{}",
            self.index,
            opt(self.first_quorum),
            self.honest,
            opt(self.all_know),
            self.at_quorum,
            self.complete,
            self.honest,
            opt(self.last_complete),
            opt(self.submitted.map(|s| s.0)),
            self.submitted
                .and_then(|s| s.1)
                .map_or("-".to_owned(), |r| r.to_string()),
            self.extra_submissions,
            bytes as f64 / self.traffic.len().max(1) as f64 / 1000.0,
            self.window.as_secs_f64(),
            self.cpu.as_secs_f64(),
            self.equivocations,
            if self.publish_errors > 0 {
                format!(", {} own signatures not published", self.publish_errors)
            } else {
                String::new()
            }
        )
    }
}

pub(crate) async fn task(
    args: &Args,
    fleet: &Fleet,
    committee: &Committee,
    index: u32,
) -> eyre::Result<TaskMeasurement> {
    let info = committee.task(index, args.threshold);
    let honest = fleet.honest.len();
    let before = fleet.traffic().await?;
    let cpu_before = process_cpu()?;
    let mut reports = fleet.reports.lock().await;
    while reports.try_recv().is_ok() {}

    let start = Instant::now();
    let mut published = Vec::with_capacity(honest);
    for node in &fleet.honest {
        let service = node.service.clone();
        let info = info.clone();
        let message = committee.sign(node.operator, response(index, 0));
        published.push(tokio::spawn(async move {
            service.add_task(info).await?;
            if service.publish_own(message).await.is_ok() {
                return Ok(());
            }
            // As the node does: offer it again while no peer is on its topic yet (a group
            // topic joined with this task has no mesh for a heartbeat or two).
            let mut last = Err(avs_p2p::ServiceError::Stopped);
            for _ in 0..REPUBLISH_ATTEMPTS {
                tokio::time::sleep(REPUBLISH_INTERVAL).await;
                last = service.republish_own(message).await;
                if last.is_ok() {
                    break;
                }
            }
            last
        }));
    }
    for rogue in &fleet.rogue {
        let network = rogue.network.clone();
        let mut junk = committee.sign(rogue.operator, response(index, 0));
        // A valid point over another message: decodes, fails verification.
        junk.signature = committee.sign(rogue.operator, response(index, 9)).signature;
        let conflicting = [1, 2].map(|v| committee.sign(rogue.operator, response(index, v)));
        let channel = info.signature_channel(&junk.operator_id);
        let mut messages: Vec<(Channel, GossipMessage)> = std::iter::once(junk)
            .chain(conflicting)
            .map(|m| (channel, m.into()))
            .collect();
        // In a task split into groups, also a junk aggregate claiming its whole group.
        if let Channel::Group(group) = channel {
            let members = info.group_members(group).count();
            let claim = GroupAggregate {
                task_index: index,
                response: junk.response,
                task_hash: junk.task_hash,
                group,
                signature: junk.signature,
                signers: GroupAggregate::bitmap(members, 0..members),
            };
            messages.push((Channel::Deployment, claim.into()));
        }
        tokio::spawn(async move {
            for (channel, message) in messages {
                let _ = network.publish(channel, message).await;
            }
        });
    }

    let mut m = TaskMeasurement {
        index,
        honest,
        first_quorum: None,
        at_quorum: 0,
        all_know: None,
        complete: 0,
        last_complete: None,
        submitted: None,
        extra_submissions: 0,
        quorum_signers: 0,
        window: Duration::ZERO,
        traffic: Vec::new(),
        cpu: Duration::ZERO,
        equivocations: 0,
        publish_errors: 0,
    };
    // Each node's own quorum, if it reached one before it learnt of the response.
    let mut quorum_at: Vec<Option<Duration>> = vec![None; honest];
    let deadline = start
        + Duration::from_secs(args.task_timeout_s)
        + Duration::from_millis(args.submit_slot_ms) * RANKS_WAITED;
    while m.submitted.is_none() || m.complete < honest {
        let Ok(Some(report)) = tokio::time::timeout_at(deadline.into(), reports.recv()).await
        else {
            eprintln!(
                "sim: task {index} incomplete after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            break;
        };
        if report.task != index {
            continue;
        }
        let since = report.at.saturating_duration_since(start);
        match report.what {
            Milestone::Quorum { signers } => {
                if m.first_quorum.is_none() {
                    m.first_quorum = Some(since);
                    m.quorum_signers = signers;
                }
                quorum_at[report.node] = Some(since);
            }
            Milestone::AllSignatures => {
                m.complete += 1;
                m.last_complete = Some(since);
            }
            Milestone::SubmitDue { rank } => {
                if m.submitted.is_some() {
                    m.extra_submissions += 1;
                    continue;
                }
                m.submitted = Some((since, rank));
                // The stub's transaction lands at once: every node sees `TaskResponded`.
                for node in &fleet.honest {
                    let service = node.service.clone();
                    tokio::spawn(async move { service.task_responded(index).await });
                }
            }
            Milestone::Equivocation => m.equivocations += 1,
        }
    }
    let landed = m.submitted.map(|(at, _)| at);
    m.at_quorum = quorum_at
        .iter()
        .flatten()
        .filter(|q| landed.is_none_or(|landed| **q < landed))
        .count();
    m.all_know = m.submitted.map(|(landed, _)| {
        quorum_at
            .iter()
            .map(|q| q.map_or(landed, |q| q.min(landed)))
            .max()
            .unwrap_or(landed)
    });
    drop(reports);
    for p in published {
        if !matches!(p.await, Ok(Ok(()))) {
            m.publish_errors += 1;
        }
    }
    tokio::time::sleep(TRAILING_GOSSIP).await;
    m.window = start.elapsed();
    m.cpu = process_cpu()?.saturating_sub(cpu_before);
    let after = fleet.traffic().await?;
    m.traffic = after.iter().zip(&before).map(|(a, b)| a.since(b)).collect();
    // A node keeps a task well past its answer (until its response block is deep), so the
    // next task's turns skip the members silent in this one: close only the task before it.
    if let Some(previous) = index.checked_sub(1) {
        for node in &fleet.honest {
            node.service.task_closed(previous).await?;
        }
    }
    Ok(m)
}

/// The fleet at rest: traffic and CPU of `IDLE_WINDOW` with no task, per node and second.
pub(crate) struct Idle {
    pub(crate) bytes_in_per_sec: f64,
    pub(crate) cpu_per_sec: Duration,
}

/// How long the idle fleet is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(10);

pub(crate) async fn idle(fleet: &Fleet) -> eyre::Result<Idle> {
    let before = fleet.traffic().await?;
    let cpu_before = process_cpu()?;
    let start = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let secs = start.elapsed().as_secs_f64();
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    let after = fleet.traffic().await?;
    let bytes: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.since(b).bytes_in)
        .sum();
    let nodes = before.len().max(1) as f64;
    Ok(Idle {
        bytes_in_per_sec: bytes as f64 / nodes / secs,
        cpu_per_sec: cpu.div_f64(nodes * secs),
    })
}

/// User plus system CPU time of the whole process (`/proc/self/stat`, in clock ticks: Linux
/// reports them in USER_HZ, 100 per second on every architecture it exposes to user space).
fn process_cpu() -> eyre::Result<Duration> {
    const TICKS_PER_SEC: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| eyre::eyre!("malformed /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum::<Option<u64>>()
        .ok_or_else(|| eyre::eyre!("no utime/stime in /proc/self/stat"))?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}
