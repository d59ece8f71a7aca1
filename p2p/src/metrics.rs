//! Prometheus metrics of the signature service: every gossiped signature's verdict.
//!
//! `avs_exex_signatures_received_total{result, reason}`, where `result` is the gossip verdict
//! (`valid`, `invalid`, `ignored`) and `reason` says why a signature was not valid
//! (`bad_signature`, `duplicate`, `equivocation`, `wrong_channel`, ...); a signing group's
//! aggregate counts as `valid` with reason `group_aggregate` (rejected ones: `bad_bitmap`,
//! `not_a_task_group`, `bad_signature`; ignored ones: `no_new_signers`, and
//! `conflicts_with_aggregate` or `known_equivocator` when every signer it adds is counted for
//! another response or caught equivocating).
//! Invalid signatures are the ones that
//! lower the forwarding peer's score; a rising `invalid` rate means a faulty or hostile peer.
//! `avs_exex_equivocations_total` counts operators caught signing two responses to one task.

use crate::validation::{IgnoreReason, Outcome, RejectReason};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The signature service's metrics; cheap to clone (the counters are shared).
#[derive(Clone, Debug)]
pub struct SignatureMetrics {
    received: IntCounterVec,
    equivocations: IntCounter,
}

impl SignatureMetrics {
    /// Creates `avs_exex_signatures_received_total{result, reason}` in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let received = IntCounterVec::new(
            Opts::new(
                "avs_exex_signatures_received_total",
                "Gossiped signatures by verdict (valid, invalid, ignored) and reason",
            ),
            &["result", "reason"],
        )?;
        registry.register(Box::new(received.clone()))?;
        let equivocations = IntCounter::new(
            "avs_exex_equivocations_total",
            "Operators caught signing two different responses to one task (evidence kept)",
        )?;
        registry.register(Box::new(equivocations.clone()))?;
        Ok(Self {
            received,
            equivocations,
        })
    }

    /// Counts one final verdict (a deferred message is counted when it is decided).
    pub fn observe(&self, outcome: &Outcome) {
        let labels = match outcome {
            Outcome::Accept(_) => ["valid", ""],
            Outcome::AcceptAggregate(_) => ["valid", "group_aggregate"],
            Outcome::Reject(reason) => ["invalid", reject_label(*reason)],
            Outcome::Equivocation(_) => {
                self.equivocations.inc();
                ["ignored", "equivocation"]
            }
            Outcome::Ignore(reason) => ["ignored", ignore_label(*reason)],
            Outcome::Deferred => return,
        };
        self.received.with_label_values(&labels).inc();
    }

    /// Equivocations caught so far.
    pub fn equivocations(&self) -> u64 {
        self.equivocations.get()
    }

    /// Signatures counted under `result` and `reason` so far.
    pub fn count(&self, result: &str, reason: &str) -> u64 {
        self.received.with_label_values(&[result, reason]).get()
    }
}

fn reject_label(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::NotInQuorum => "not_in_quorum",
        RejectReason::MalformedSignature => "malformed_signature",
        RejectReason::BadSignature => "bad_signature",
        RejectReason::UnknownTask => "unknown_task",
        RejectReason::NotATaskGroup => "not_a_task_group",
        RejectReason::BadBitmap => "bad_bitmap",
    }
}

fn ignore_label(reason: IgnoreReason) -> &'static str {
    match reason {
        IgnoreReason::Stale => "stale",
        IgnoreReason::Duplicate => "duplicate",
        IgnoreReason::KnownEquivocator => "known_equivocator",
        IgnoreReason::PendingFull => "pending_full",
        IgnoreReason::PendingExpired => "pending_expired",
        IgnoreReason::WrongChannel => "wrong_channel",
        IgnoreReason::NoNewSigners => "no_new_signers",
        IgnoreReason::ConflictsWithAggregate => "conflicts_with_aggregate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_counted_by_result_and_reason() {
        let registry = Registry::new();
        let metrics = SignatureMetrics::register(&registry).unwrap();
        metrics.observe(&Outcome::Reject(RejectReason::BadSignature));
        metrics.observe(&Outcome::Reject(RejectReason::BadSignature));
        metrics.observe(&Outcome::Ignore(IgnoreReason::Duplicate));
        metrics.observe(&Outcome::Deferred);
        assert_eq!(metrics.equivocations(), 0);
        let families = registry.gather();
        let received = families
            .iter()
            .find(|f| f.name() == "avs_exex_signatures_received_total")
            .expect("registered");
        assert_eq!(
            received.get_metric().len(),
            2,
            "a deferred message is not counted"
        );
        assert_eq!(metrics.count("invalid", "bad_signature"), 2);
        assert_eq!(metrics.count("ignored", "duplicate"), 1);
    }
}
