//! Stake-weighted aggregation of validated signatures, per task and per response digest.
//!
//! Operators that disagree about a block sign different responses; each distinct response
//! (digest) of a task collects its own signers. A digest is *at quorum* when, for every quorum
//! of the task, the stake of its signers registered in that quorum satisfies
//! `signed × 100 ≥ total × quorumThresholdPercentage` — the comparison EigenLayer's
//! `BLSSignatureChecker` consumers make. From that moment the aggregator waits
//! `aggregation_window` more (each extra signer is one non-signer less, which is ~16k gas less
//! on-chain), or less if every member has signed, then yields an [`Aggregate`] once per task.
//!
//! A digest's signers come as individual signatures and, for a task split into signing groups
//! ([`crate::groups`]), as verified partial aggregates: at most one *piece* per group (a new
//! piece is merged with it when the two are disjoint, and replaces it only if, with the
//! individual signatures held, it covers every signer covered now and more, so coverage never
//! shrinks and a digest at quorum stays there). Stake, quorum and the final sum count every
//! signer once either way.
//!
//! The [`Aggregate`] carries what the submitter needs to build `NonSignerStakesAndSignature`:
//! the response, the signers and the non-signers sorted ascending by operator id (with their
//! G1 keys), each quorum's G1 APK at the reference block, the aggregate signature `σ` and the
//! signers' aggregate G2 key (checked against `σ` before it is returned). As in the contract's
//! aggregate key, a signer counts once per task quorum it is registered in. Registry indices
//! (`getCheckSignaturesIndices`) are the submitter's to fetch.

use crate::{
    groups::GroupId,
    operators::{QuorumNumber, Stake},
    tasks::{OpenTask, Phase, TaskTable},
    validation::Verified,
    wire::{OperatorId, TaskResponse},
};
use alloy::primitives::B256;
use avs_bls::{Signature, aggregate_signatures};
use avs_contracts::aggregation::{
    AggregationError as BuildError, SignedAggregate, weighted_signature_sum,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

/// Signed and total stake of one quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumStake {
    /// The quorum.
    pub quorum: QuorumNumber,
    /// Stake of the signers registered in it.
    pub signed: Stake,
    /// Stake of all its operators at the reference block.
    pub total: Stake,
}

/// A quorum-reaching aggregate, ready to be turned into a `respondToTask` call.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// The task.
    pub task_index: u32,
    /// The task's EIP-712 struct hash (which task at that index: a reorg may re-create it).
    pub task_hash: B256,
    /// The task's reference block.
    pub task_created_block: u32,
    /// The signed response.
    pub response: TaskResponse,
    /// The signed message ([`crate::TaskInfo::digest`] of the response).
    pub digest: B256,
    /// The task's quorums, in the task's order.
    pub quorum_numbers: Vec<QuorumNumber>,
    /// Signed/total stake per quorum, in `quorum_numbers` order.
    pub stakes: Vec<QuorumStake>,
    /// Signers, ascending by operator id.
    pub signers: Vec<OperatorId>,
    /// What the checker verifies: `sigma` and the signers' `apkG2` (pre-verified in the
    /// contract's form), the non-signers ascending by operator id with their G1 keys, and each
    /// quorum's G1 aggregate key at the reference block, in `quorum_numbers` order.
    pub signed: SignedAggregate,
}

/// Why an aggregate could not be built (a bug: only validated signatures are aggregated).
#[derive(Debug, thiserror::Error)]
#[error("building the aggregate of task {task_index}: {source}")]
pub struct AggregationError {
    /// The task.
    pub task_index: u32,
    /// What failed.
    #[source]
    pub source: BuildError,
}

/// A verified partial aggregate of one signing group's signatures over one digest.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    pub(crate) signers: BTreeSet<OperatorId>,
    /// Σ of the signers' signatures, each counted once per task quorum it is registered in.
    pub(crate) sigma: Signature,
}

/// What recording a group aggregate would do ([`DigestState::piece_gain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PieceGain {
    /// It covers no signer the digest lacks, or would drop one it covers.
    None,
    /// It becomes the group's piece.
    Replace,
    /// It is disjoint from the group's piece: the two are summed.
    Merge,
}

/// One response digest of a task: its signers and their stake.
pub(crate) struct DigestState {
    pub(crate) response: TaskResponse,
    /// Individual signatures.
    pub(crate) signatures: BTreeMap<OperatorId, Signature>,
    /// The best partial aggregate of each signing group.
    pub(crate) pieces: BTreeMap<GroupId, Piece>,
    signed: BTreeMap<QuorumNumber, Stake>,
    /// When this digest first reached quorum.
    reached_at: Option<Instant>,
}

impl DigestState {
    fn new(response: TaskResponse) -> Self {
        Self {
            response,
            signatures: BTreeMap::new(),
            pieces: BTreeMap::new(),
            signed: BTreeMap::new(),
            reached_at: None,
        }
    }

    /// Whether `operator` is among the signers of a piece.
    fn in_piece(&self, operator: &OperatorId) -> bool {
        self.pieces.values().any(|p| p.signers.contains(operator))
    }

    /// Whether `operator` is counted for this response, individually or in a piece.
    pub(crate) fn counts(&self, operator: &OperatorId) -> bool {
        self.signatures.contains_key(operator) || self.in_piece(operator)
    }

    /// Every signer, individual or in a piece, ascending.
    pub(crate) fn signers(&self) -> BTreeSet<OperatorId> {
        let mut all: BTreeSet<OperatorId> = self.signatures.keys().copied().collect();
        for piece in self.pieces.values() {
            all.extend(&piece.signers);
        }
        all
    }

    /// The members of `group` this digest has a signature of, one way or the other.
    pub(crate) fn group_coverage(&self, group: GroupId) -> BTreeSet<OperatorId> {
        let mut covered: BTreeSet<OperatorId> = self
            .signatures
            .keys()
            .filter(|id| group.contains(id))
            .copied()
            .collect();
        if let Some(piece) = self.pieces.get(&group) {
            covered.extend(&piece.signers);
        }
        covered
    }

    /// What an aggregate of `group` with `signers` would do to this digest: merge with the
    /// group's piece (disjoint from it), replace it (it and the individual signatures held
    /// cover every signer covered now, and more), or nothing. Coverage only ever grows, so a
    /// digest at quorum stays there; and the decision needs only the bitmap, so the validator
    /// takes it before spending a pairing.
    pub(crate) fn piece_gain(&self, group: GroupId, signers: &BTreeSet<OperatorId>) -> PieceGain {
        let before = self.group_coverage(group);
        if signers.is_subset(&before) {
            return PieceGain::None;
        }
        match self.pieces.get(&group) {
            Some(held) if held.signers.is_disjoint(signers) => PieceGain::Merge,
            _ => {
                let individual =
                    |id: &OperatorId| group.contains(id) && self.signatures.contains_key(id);
                if before
                    .iter()
                    .all(|id| signers.contains(id) || individual(id))
                {
                    PieceGain::Replace
                } else {
                    PieceGain::None
                }
            }
        }
    }

    /// The individual signatures no piece covers.
    fn loose(&self) -> impl Iterator<Item = (&OperatorId, &Signature)> {
        self.signatures.iter().filter(|(id, _)| !self.in_piece(id))
    }
}

/// Whether `signed` meets `threshold_pct` of `totals` in every quorum. A quorum with no stake,
/// or with no signed stake, never does: the contract refuses both (`QuorumHasNoStake`,
/// `NoSignedStake`), since any threshold of nothing is met by nobody.
fn at_quorum(
    totals: &BTreeMap<QuorumNumber, Stake>,
    threshold_pct: u8,
    signed: &BTreeMap<QuorumNumber, Stake>,
) -> bool {
    let pct = Stake::from(threshold_pct);
    totals.iter().all(|(q, total)| {
        let s = signed.get(q).copied().unwrap_or(0);
        // Stakes are uint96, so × 100 cannot overflow u128.
        *total > 0 && s > 0 && s * 100 >= total * pct
    })
}

impl TaskTable {
    /// The earliest time an aggregate falls due, for the caller's timer.
    pub fn next_due(&self) -> Option<Instant> {
        let window = self.window();
        self.open()
            .filter(|t| t.phase == Phase::Collecting)
            .flat_map(|t| t.digests.values().filter_map(|d| t.due(d, window)))
            .min()
    }

    /// Builds the aggregates due at `now`, at most one per task (the digest with most
    /// signers). Each task yields once; [`Self::aggregate`] rebuilds on demand later.
    pub fn take_due(&mut self, now: Instant) -> Vec<Result<Aggregate, AggregationError>> {
        let window = self.window();
        let mut out = Vec::new();
        for task in self.open_mut().filter(|t| t.phase == Phase::Collecting) {
            let best = task
                .digests
                .iter()
                .filter(|(_, d)| task.due(d, window).is_some_and(|at| at <= now))
                .max_by_key(|(digest, d)| (d.signers().len(), **digest))
                .map(|(digest, _)| *digest);
            if let Some(digest) = best {
                let built = task.build(digest);
                task.quorum_signers = task.digests.get(&digest).map(DigestState::signers);
                task.phase = Phase::Emitted {
                    build_failed: built.is_err(),
                };
                out.push(built);
            }
        }
        out
    }

    /// Builds the current aggregate of `task_index` for its best at-quorum digest, if any
    /// (e.g. to resubmit with more signers).
    pub fn aggregate(&self, task_index: u32) -> Option<Result<Aggregate, AggregationError>> {
        let task = self.get(task_index)?;
        let digest = task
            .digests
            .iter()
            .filter(|(_, d)| d.reached_at.is_some())
            .max_by_key(|(digest, d)| (d.signers().len(), **digest))
            .map(|(digest, _)| *digest)?;
        Some(task.build(digest))
    }
}

impl OpenTask {
    /// When the digest's aggregate is due, if it is at quorum.
    fn due(&self, d: &DigestState, window: Duration) -> Option<Instant> {
        let reached = d.reached_at?;
        Some(if d.signers().len() >= self.members {
            reached
        } else {
            reached + window
        })
    }

    /// Counts an accepted signature toward its digest (the caller checked it is the
    /// operator's first response). `false` if the signer has no stake record in the task's
    /// operator set.
    pub(crate) fn count(&mut self, v: &Verified, now: Instant) -> bool {
        let Some(op) = self.info.operators.operators.get(&v.operator_id) else {
            return false;
        };
        let contribution = self.signed_quorums(op);
        let d = self
            .digests
            .entry(v.digest)
            .or_insert_with(|| DigestState::new(v.response));
        if d.signatures.insert(v.operator_id, v.signature).is_some() || d.in_piece(&v.operator_id) {
            // Counted already (a piece covers it: its own signature is kept in case a piece
            // without it replaces that one).
            return true;
        }
        for (q, stake) in contribution {
            *d.signed.entry(q).or_default() += stake;
        }
        self.after_growth(v.digest, now);
        true
    }

    /// Records a verified partial aggregate of `group` over `digest` if it makes the digest
    /// cover more of the group ([`DigestState::piece_gain`]): as the group's piece, or merged
    /// with the piece it has when the two are disjoint. Returns the signers it newly covers
    /// (empty: nothing new, nothing changed).
    pub(crate) fn add_piece(
        &mut self,
        digest: B256,
        response: TaskResponse,
        group: GroupId,
        piece: Piece,
        now: Instant,
    ) -> Vec<OperatorId> {
        let d = self
            .digests
            .entry(digest)
            .or_insert_with(|| DigestState::new(response));
        let before = d.group_coverage(group);
        let best = match d.piece_gain(group, &piece.signers) {
            PieceGain::None => return Vec::new(),
            PieceGain::Replace => piece,
            PieceGain::Merge => {
                let held = &d.pieces[&group];
                let Ok(sigma) = aggregate_signatures([&held.sigma, &piece.sigma]) else {
                    return Vec::new();
                };
                Piece {
                    signers: held.signers.union(&piece.signers).copied().collect(),
                    sigma,
                }
            }
        };
        let newly: Vec<OperatorId> = best.signers.difference(&before).copied().collect();
        d.pieces.insert(group, best);
        self.recount(digest, now);
        newly
    }

    /// Sums the digest's signed stake again from its signers (after a piece changed).
    fn recount(&mut self, digest: B256, now: Instant) {
        let Some(d) = self.digests.get(&digest) else {
            return;
        };
        let mut signed: BTreeMap<QuorumNumber, Stake> = BTreeMap::new();
        for id in d.signers() {
            if let Some(op) = self.info.operators.operators.get(&id) {
                for (q, stake) in self.signed_quorums(op) {
                    *signed.entry(q).or_default() += stake;
                }
            }
        }
        if let Some(d) = self.digests.get_mut(&digest) {
            d.signed = signed;
        }
        self.after_growth(digest, now);
    }

    /// A digest gained signers: a failed build may be retried, and it may be at quorum now.
    fn after_growth(&mut self, digest: B256, now: Instant) {
        if self.phase == (Phase::Emitted { build_failed: true }) {
            self.phase = Phase::Collecting;
        }
        let Some(d) = self.digests.get_mut(&digest) else {
            return;
        };
        if d.reached_at.is_none()
            && at_quorum(
                &self.totals,
                self.info.quorum_threshold_percentage,
                &d.signed,
            )
        {
            d.reached_at = Some(now);
        }
    }

    /// This node's best partial aggregate of `group` over `digest`: the group's piece plus
    /// the individual signatures it lacks, with their signers.
    pub(crate) fn group_aggregate(&self, digest: B256, group: GroupId) -> Option<Piece> {
        let d = self.digests.get(&digest)?;
        let piece = d.pieces.get(&group);
        let loose: Vec<(B256, &Signature)> = d
            .signatures
            .iter()
            .filter(|(id, _)| group.contains(id) && piece.is_none_or(|p| !p.signers.contains(id)))
            .map(|(id, sig)| (id.0, sig))
            .collect();
        let mut signers: BTreeSet<OperatorId> =
            piece.map(|p| p.signers.clone()).unwrap_or_default();
        signers.extend(loose.iter().map(|(id, _)| OperatorId(*id)));
        let mut sums: Vec<Signature> = piece.map(|p| p.sigma).into_iter().collect();
        if !loose.is_empty() {
            match weighted_signature_sum(&self.quorum_members, loose) {
                Ok(sum) => sums.push(sum),
                Err(e) => {
                    // A validator bug: only members' verified signatures are held.
                    tracing::warn!(task = self.info.task_index, %group, error = %e, "group aggregate not summed");
                    return None;
                }
            }
        }
        let sigma = aggregate_signatures(&sums).ok()?;
        Some(Piece { signers, sigma })
    }

    /// The operator's stake in each of the task's quorums it is registered in.
    fn signed_quorums(&self, op: &crate::operators::OperatorInfo) -> Vec<(QuorumNumber, Stake)> {
        self.totals
            .keys()
            .filter_map(|q| op.stakes.get(q).map(|s| (*q, *s)))
            .collect()
    }

    fn build(&self, digest: B256) -> Result<Aggregate, AggregationError> {
        let d = &self.digests[&digest];
        let info = &self.info;
        let quorum_members = &self.quorum_members;
        let failed = |source| AggregationError {
            task_index: info.task_index,
            source,
        };
        let loose: Vec<(B256, &Signature)> = d.loose().map(|(id, s)| (id.0, s)).collect();
        let mut sums: Vec<Signature> = d.pieces.values().map(|p| p.sigma).collect();
        if !loose.is_empty() {
            sums.push(weighted_signature_sum(quorum_members, loose).map_err(failed)?);
        }
        let sigma = aggregate_signatures(&sums).map_err(|e| failed(e.into()))?;
        let signers = d.signers();
        let signed = SignedAggregate::from_sigma(
            quorum_members,
            info.operators.as_ref(),
            &signers.iter().map(|id| id.0).collect(),
            sigma,
            digest,
        )
        .map_err(failed)?;
        let stakes = info
            .quorum_numbers
            .iter()
            .map(|q| QuorumStake {
                quorum: *q,
                signed: d.signed.get(q).copied().unwrap_or(0),
                total: self.totals.get(q).copied().unwrap_or(0),
            })
            .collect();
        Ok(Aggregate {
            task_index: info.task_index,
            task_hash: self.task_hash,
            task_created_block: info.task_created_block,
            response: d.response,
            digest,
            quorum_numbers: info.quorum_numbers.clone(),
            stakes,
            signers: signers.into_iter().collect(),
            signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        fixtures::{Committee, response, verified},
        validation::Outcome,
    };
    use avs_bls::{aggregate_public_keys, verify_aggregate};

    /// Records `v` as the validator does once it verified it; `true` if it brought its digest
    /// to quorum.
    fn add(tasks: &mut TaskTable, v: &Verified, now: Instant) -> bool {
        let reached = |tasks: &TaskTable| {
            tasks
                .get(v.task_index)
                .and_then(|task| task.digests.get(&v.digest))
                .is_some_and(|d| d.reached_at.is_some())
        };
        let before = reached(tasks);
        let accepted = matches!(tasks.decide(Box::new(v.clone()), now), Outcome::Accept(_));
        accepted && !before && reached(tasks)
    }

    #[test]
    fn quorum_is_stake_weighted_and_aggregate_is_complete() {
        // Stakes 40, 30, 20, 10: threshold 60% of 100.
        let c = Committee::new(4, 11, |i| [40, 30, 20, 10][i]);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(c.task(1, 60));
        let t0 = Instant::now();
        // 40 + 10 = 50 < 60.
        assert!(!add(&mut agg, &verified(&c, 0, 1, 0), t0));
        assert!(!add(&mut agg, &verified(&c, 3, 1, 0), t0));
        assert_eq!(agg.next_due(), None);
        assert!(agg.take_due(t0).is_empty());
        // + 20 = 70 ≥ 60.
        assert!(add(&mut agg, &verified(&c, 2, 1, 0), t0));
        assert_eq!(agg.next_due(), Some(t0));
        let out = agg.take_due(t0);
        assert_eq!(out.len(), 1);
        let a = out.into_iter().next().unwrap().unwrap();
        assert_eq!(a.task_index, 1);
        assert_eq!(a.digest, crate::fixtures::digest(response(1, 0)));
        assert_eq!(
            a.stakes,
            vec![QuorumStake {
                quorum: 0,
                signed: 70,
                total: 100
            }]
        );
        let mut signers = vec![c.operators[0].id, c.operators[2].id, c.operators[3].id];
        signers.sort();
        assert_eq!(a.signers, signers);
        assert_eq!(a.signed.non_signers, vec![c.operators[1].id.0]);
        assert_eq!(
            a.signed.non_signer_pubkeys[0].operator_id(),
            c.operators[1].id
        );
        let keys: Vec<_> = [0, 2, 3]
            .iter()
            .map(|i| c.operators[*i].secret.public_key_g2())
            .collect();
        assert!(verify_aggregate(&keys, a.digest, &a.signed.sigma));
        let all_g1: Vec<_> = c.operators.iter().map(|o| o.secret.public_key()).collect();
        assert_eq!(
            a.signed.quorum_apks[0],
            avs_bls::aggregate_public_keys(&all_g1).unwrap()
        );
        // Emitted once only.
        assert!(agg.take_due(t0 + Duration::from_secs(1)).is_empty());
        // Rebuilding on demand includes later signers.
        add(&mut agg, &verified(&c, 1, 1, 0), t0);
        let again = agg.aggregate(1).unwrap().unwrap();
        assert!(again.signed.non_signers.is_empty());
    }

    #[test]
    fn a_signer_in_two_task_quorums_counts_twice_as_in_the_contract() {
        // Operator 0 in quorums 0 and 1, operator 1 in 0, operator 2 in 1; 0 and 1 sign.
        let c = Committee::new(3, 11, |_| 10);
        let mut set = (*c.set).clone();
        let stakes = [vec![0, 1], vec![0], vec![1]];
        for (op, quorums) in c.operators.iter().zip(&stakes) {
            set.operators.get_mut(&op.id).unwrap().stakes =
                quorums.iter().map(|q| (*q, 10)).collect();
        }
        let mut info = c.task(3, 50);
        info.quorum_numbers = vec![0, 1];
        info.operators = std::sync::Arc::new(set);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(info);
        let now = Instant::now();
        for i in [0, 1] {
            add(&mut agg, &verified(&c, i, 3, 1), now);
        }
        let a = agg.aggregate(3).unwrap().unwrap();
        assert_eq!(a.signed.non_signers, vec![c.operators[2].id.0]);

        // The checker's key: Σ quorum APKs − non-signer = 2·k0 + k1 (sums compared instead of
        // subtracting: quorum APKs = k0+k1 and k0+k2).
        let key = |i: usize| c.operators[i].secret.public_key();
        let (k0, k1, k2) = (key(0), key(1), key(2));
        assert_eq!(
            aggregate_public_keys(&a.signed.quorum_apks).unwrap(),
            aggregate_public_keys([&k0, &k0, &k1, &k2]).unwrap()
        );
        let checker_apk = aggregate_public_keys([&k0, &k0, &k1]).unwrap();
        assert!(avs_bls::verify_onchain_form(
            a.digest,
            &checker_apk.to_point(),
            &a.signed.apk_g2.to_point(),
            &a.signed.sigma.to_point(),
        ));
    }

    #[test]
    fn a_failed_build_is_retried_after_the_next_signature_only() {
        let c = Committee::new(3, 17, |_| 10);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(c.task(1, 60));
        let t0 = Instant::now();
        // A "verified" signature that is not operator 1's over this response: only a
        // validator bug could let it in, and the pre-verification of the build catches it.
        let mut forged = verified(&c, 1, 1, 0);
        forged.signature = verified(&c, 1, 1, 1).signature;
        add(&mut agg, &verified(&c, 0, 1, 0), t0);
        assert!(add(&mut agg, &forged, t0));
        let out = agg.take_due(t0);
        assert!(matches!(
            out[..],
            [Err(AggregationError {
                task_index: 1,
                source: BuildError::PreVerification
            })]
        ));
        assert_eq!(agg.next_due(), None, "no retry without new input");
        assert!(agg.take_due(t0 + Duration::from_secs(1)).is_empty());
        // New input makes the task due again (here it fails again: the forged one stays).
        add(&mut agg, &verified(&c, 2, 1, 0), t0);
        assert_eq!(agg.next_due(), Some(t0));
        assert_eq!(agg.take_due(t0).len(), 1);
    }

    /// Operators `indices`' signatures over `response(task, 0)` as a piece of `group`.
    fn piece(c: &Committee, group: GroupId, indices: &[usize], task: u32) -> Piece {
        let agg = c.group_aggregate(group, indices, response(task, 0));
        Piece {
            signers: indices.iter().map(|&i| c.operators[i].id).collect(),
            sigma: Signature::from_bytes(&agg.signature).unwrap(),
        }
    }

    #[test]
    fn group_pieces_count_each_signer_once_merge_when_disjoint_and_build_valid_aggregates() {
        // Stake 1 each, threshold 60 % of 10.
        let c = Committee::new(10, 41, |_| 1);
        let group = GroupId::of(&c.operators[0].id, 1);
        let mates = c.group_indices(group);
        let others: Vec<usize> = (0..10).filter(|i| !mates.contains(i)).collect();
        assert!(mates.len() >= 4 && others.len() >= 2, "{mates:?}");
        let mut table = TaskTable::new(Duration::ZERO, 16);
        table.add_task(c.task(1, 60));
        let (t0, d) = (Instant::now(), crate::fixtures::digest(response(1, 0)));
        let r = response(1, 0);
        let add = |table: &mut TaskTable, p: Piece| {
            let t = table.open_mut().next().unwrap();
            t.add_piece(d, r, group, p, t0)
        };
        let signed = |table: &TaskTable| table.get(1).unwrap().digests[&d].signed[&0];

        // A piece of two: both newly covered.
        assert_eq!(add(&mut table, piece(&c, group, &mates[..2], 1)).len(), 2);
        assert_eq!(signed(&table), 2);
        // One of them again, individually: kept, not counted twice.
        assert!(matches!(
            table.decide(Box::new(verified(&c, mates[0], 1, 0)), t0),
            Outcome::Accept(_)
        ));
        assert_eq!(signed(&table), 2);
        // A disjoint piece merges with it.
        assert_eq!(add(&mut table, piece(&c, group, &mates[2..3], 1)).len(), 1);
        assert_eq!(
            table.get(1).unwrap().digests[&d].pieces[&group]
                .signers
                .len(),
            3
        );
        // An overlapping piece that covers less, or nothing new: ignored.
        assert!(add(&mut table, piece(&c, group, &mates[1..3], 1)).is_empty());
        // An overlapping one that covers more replaces it.
        assert_eq!(add(&mut table, piece(&c, group, &mates[..4], 1)).len(), 1);
        assert_eq!(signed(&table), 4);
        assert!(table.take_due(t0).is_empty(), "4 of 10 < 60 %");

        // Two individual signatures of the other group bring it to quorum; the aggregate sums
        // the piece and the loose signatures, each signer once.
        for &i in &others[..2] {
            table.decide(Box::new(verified(&c, i, 1, 0)), t0);
        }
        let a = table.take_due(t0).pop().unwrap().unwrap();
        let mut expected: Vec<OperatorId> = mates[..4]
            .iter()
            .chain(&others[..2])
            .map(|&i| c.operators[i].id)
            .collect();
        expected.sort();
        assert_eq!(a.signers, expected);
        assert_eq!(a.stakes[0].signed, 6);
        assert_eq!(a.signed.non_signers.len(), 4);
        let keys: Vec<_> = expected
            .iter()
            .map(|id| {
                c.operators
                    .iter()
                    .find(|o| o.id == *id)
                    .unwrap()
                    .secret
                    .public_key_g2()
            })
            .collect();
        assert!(verify_aggregate(&keys, d, &a.signed.sigma));
        // This node's own view of the group: the piece plus nothing loose.
        let ours = table.get(1).unwrap().group_aggregate(d, group).unwrap();
        assert_eq!(ours.signers.len(), 4);
    }

    #[test]
    fn a_piece_whose_sum_is_wrong_fails_the_build_not_the_chain() {
        let c = Committee::new(4, 42, |_| 1);
        let group = GroupId::of(&c.operators[0].id, 1);
        let mates = c.group_indices(group);
        let mut table = TaskTable::new(Duration::ZERO, 16);
        table.add_task(c.task(1, 1));
        let (t0, d) = (Instant::now(), crate::fixtures::digest(response(1, 0)));
        // Claims every mate but carries one signature: only a validator bug lets it in.
        let mut p = piece(&c, group, &mates[..1], 1);
        p.signers = mates.iter().map(|&i| c.operators[i].id).collect();
        let t = table.open_mut().next().unwrap();
        assert!(!t.add_piece(d, response(1, 0), group, p, t0).is_empty());
        assert!(matches!(
            table.take_due(t0)[..],
            [Err(AggregationError {
                source: BuildError::PreVerification,
                ..
            })]
        ));
    }

    #[test]
    fn empty_quorums_and_zero_signed_stake_never_reach_quorum() {
        let totals = BTreeMap::from([(0, 100), (1, 0)]);
        let signed = BTreeMap::from([(0, 100)]);
        assert!(!at_quorum(&totals, 1, &signed), "quorum 1 has no stake");
        let totals = BTreeMap::from([(0, 100)]);
        assert!(!at_quorum(&totals, 0, &BTreeMap::new()), "nobody signed");
        assert!(at_quorum(&totals, 0, &signed));
        // A committee whose only operator has zero stake: its signature never reaches quorum.
        let c = Committee::new(1, 3, |_| 0);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(c.task(1, 1));
        assert!(!add(&mut agg, &verified(&c, 0, 1, 0), Instant::now()));
        assert!(agg.take_due(Instant::now()).is_empty());
    }

    #[test]
    fn exact_threshold_counts_as_reached() {
        let c = Committee::new(2, 12, |_| 50);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(c.task(1, 50));
        assert!(add(&mut agg, &verified(&c, 0, 1, 0), Instant::now()));
    }

    #[test]
    fn disagreeing_responses_aggregate_separately() {
        let c = Committee::new(4, 13, |_| 25);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        agg.add_task(c.task(5, 75));
        let t0 = Instant::now();
        for i in 0..2 {
            add(&mut agg, &verified(&c, i, 5, 0), t0);
        }
        // Operators 2 and 3 saw another block: neither response reaches 75%.
        for i in 2..4 {
            add(&mut agg, &verified(&c, i, 5, 1), t0);
        }
        assert!(agg.take_due(t0).is_empty());
        assert!(agg.aggregate(5).is_none());
    }

    #[test]
    fn window_waits_unless_everyone_signed() {
        let c = Committee::new(3, 14, |_| 1);
        let w = Duration::from_secs(2);
        let mut agg = TaskTable::new(w, 16);
        agg.add_task(c.task(1, 60));
        agg.add_task(c.task(2, 60));
        let t0 = Instant::now();
        add(&mut agg, &verified(&c, 0, 1, 0), t0);
        assert!(add(&mut agg, &verified(&c, 1, 1, 0), t0));
        assert_eq!(agg.next_due(), Some(t0 + w));
        assert!(agg.take_due(t0 + w / 2).is_empty());
        // Task 2: all three sign → due at once despite the window.
        for i in 0..3 {
            add(&mut agg, &verified(&c, i, 2, 0), t0);
        }
        let now = agg.take_due(t0);
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].as_ref().unwrap().task_index, 2);
        // Task 1 picks up the late signer during its window.
        add(&mut agg, &verified(&c, 2, 1, 0), t0 + w / 2);
        let later = agg.take_due(t0 + w);
        assert_eq!(later[0].as_ref().unwrap().signers.len(), 3);
    }

    #[test]
    fn unknown_tasks_outsiders_and_repeats_are_ignored() {
        let c = Committee::new(2, 15, |_| 1);
        let other = Committee::new(1, 16, |_| 100);
        let mut agg = TaskTable::new(Duration::ZERO, 16);
        let t0 = Instant::now();
        assert!(!add(&mut agg, &verified(&c, 0, 1, 0), t0));
        agg.add_task(c.task(1, 100));
        assert!(!add(&mut agg, &verified(&other, 0, 1, 0), t0));
        assert!(!add(&mut agg, &verified(&c, 0, 1, 0), t0));
        assert!(!add(&mut agg, &verified(&c, 0, 1, 0), t0));
        assert!(add(&mut agg, &verified(&c, 1, 1, 0), t0));
        agg.close_task(1);
        assert!(agg.take_due(t0).is_empty());
    }
}
