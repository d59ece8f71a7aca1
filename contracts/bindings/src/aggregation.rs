//! Turns a set of operator signatures over a task response into the `NonSignerStakesAndSignature`
//! that `respondToTask` (and EigenLayer's `checkSignatures`) take, and pre-verifies it exactly as
//! the contract will, so a peer never pays gas for an aggregate that would revert.
//!
//! Inputs come from the registries' history at the task's reference block (`taskCreatedBlock`):
//! the quorum members from `OperatorStateRetriever.getOperatorState`, the history indices from
//! `getCheckSignaturesIndices`. G2 public keys are not stored on-chain by EigenLayer's
//! BLSApkRegistry (only emitted at registration), so the caller supplies every member's keys.
//!
//! An operator in several of the task's quorums is counted once per quorum in the contract's
//! aggregate key, so its signature and G2 key are counted with the same multiplicity here.

use crate::{
    avs::{BN254, IAvsTaskManager, IBLSSignatureChecker},
    deployment::Deployment,
    eigenlayer::interfaces::IOperatorStateRetrieverCalls,
};
use alloy::{
    primitives::{B256, Bytes},
    providers::Provider,
};
use avs_bls::{
    BlsError, PublicKey, PublicKeyG2, Signature, aggregate_public_keys, aggregate_public_keys_g2,
    aggregate_signatures, verify_onchain_form,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An operator's registered BLS keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKeys {
    /// Its operator id (`hashG1Point(pubkeyG1)`).
    pub operator_id: B256,
    /// Its G1 public key, as the BLSApkRegistry holds it.
    pub pubkey_g1: PublicKey,
    /// Its G2 public key, from its registration.
    pub pubkey_g2: PublicKeyG2,
}

/// Why no aggregate could be built.
#[derive(Debug, thiserror::Error)]
pub enum AggregationError {
    /// Nothing to aggregate.
    #[error("no signatures to aggregate")]
    NoSignatures,
    /// A signer was not in the task's quorums at the reference block.
    #[error("operator {0} is not in the task's quorums at its reference block")]
    NotInQuorum(B256),
    /// A quorum member's keys are unknown, so the quorum's aggregate key cannot be formed.
    #[error("no BLS keys known for quorum member {0}")]
    MissingKeys(B256),
    /// Point arithmetic failed (e.g. the aggregate is the identity).
    #[error("aggregating: {0}")]
    Bls(#[from] BlsError),
    /// The aggregate does not pass the check the contract performs.
    #[error("the aggregate signature does not verify against the signers' aggregate key")]
    PreVerification,
    /// A registry view failed.
    #[error("reading registry history: {0}")]
    Call(#[from] alloy::contract::Error),
}

/// The checker input for `digest` signed by `signatures` (operator id, signature) on `task`.
///
/// Non-signers are every member of the task's quorums at `taskCreatedBlock` without a signature,
/// listed in ascending operator-id order as the checker requires.
pub async fn build_non_signer_stakes_and_signature<P: Provider>(
    provider: &P,
    deployment: &Deployment,
    task: &IAvsTaskManager::Task,
    digest: B256,
    keys: &HashMap<B256, OperatorKeys>,
    signatures: &[(B256, Signature)],
) -> Result<IBLSSignatureChecker::NonSignerStakesAndSignature, AggregationError> {
    if signatures.is_empty() {
        return Err(AggregationError::NoSignatures);
    }
    let el = &deployment.eigenlayer;
    let retriever = IOperatorStateRetrieverCalls::new(el.operator_state_retriever, provider);
    let quorum_members = retriever
        .getOperatorState(
            el.registry_coordinator,
            task.quorumNumbers.clone(),
            task.taskCreatedBlock,
        )
        .call()
        .await?;
    let member_ids: Vec<Vec<B256>> = quorum_members
        .iter()
        .map(|quorum| quorum.iter().map(|op| op.operatorId).collect())
        .collect();
    let aggregate = SignedAggregate::build(
        &member_ids,
        keys,
        signatures.iter().map(|(id, sig)| (*id, sig)),
        digest,
    )?;
    attach_registry_indices(provider, deployment, task, aggregate).await
}

/// A verified aggregate of one response, before the registries' history indices are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAggregate {
    /// Members of the task's quorums that did not sign, ascending by operator id.
    pub non_signers: Vec<B256>,
    /// Their G1 keys, same order.
    pub non_signer_pubkeys: Vec<PublicKey>,
    /// Each task quorum's aggregate G1 key at the reference block, in the task's quorum order.
    pub quorum_apks: Vec<PublicKey>,
    /// Sum of the signers' G2 keys.
    pub apk_g2: PublicKeyG2,
    /// Sum of the signatures.
    pub sigma: Signature,
}

/// Where the aggregation finds a quorum member's registered keys.
pub trait MemberKeys {
    /// The G1 and G2 public keys of operator `id`, if known.
    fn keys_of(&self, id: &B256) -> Option<(&PublicKey, &PublicKeyG2)>;
}

impl MemberKeys for HashMap<B256, OperatorKeys> {
    fn keys_of(&self, id: &B256) -> Option<(&PublicKey, &PublicKeyG2)> {
        self.get(id).map(|k| (&k.pubkey_g1, &k.pubkey_g2))
    }
}

impl SignedAggregate {
    /// Sums `signatures` (operator id, signature over `digest`) into what the checker verifies,
    /// for a task whose quorums have the members `quorum_members` (one list per task quorum,
    /// in the task's quorum order), and pre-verifies the sum in the contract's form.
    ///
    /// A signer counts once per task quorum it is a member of, as in the contract's aggregate
    /// key (Σ quorum APKs minus the non-signers); a signer in none of them is refused. A
    /// repeated signer counts once.
    pub fn build<'a>(
        quorum_members: &[Vec<B256>],
        keys: &impl MemberKeys,
        signatures: impl IntoIterator<Item = (B256, &'a Signature)>,
        digest: B256,
    ) -> Result<Self, AggregationError> {
        let signatures: BTreeMap<B256, &Signature> = signatures.into_iter().collect();
        let sigma =
            weighted_signature_sum(quorum_members, signatures.iter().map(|(id, s)| (*id, *s)))?;
        Self::from_sigma(
            quorum_members,
            keys,
            &signatures.keys().copied().collect(),
            sigma,
            digest,
        )
    }

    /// What the checker verifies for `signers` whose signatures are already summed into
    /// `sigma`, each counted once per task quorum it is a member of (as
    /// [`weighted_signature_sum`] sums them); pre-verifies the sum in the contract's form, so a
    /// `sigma` that is not exactly that sum is refused.
    pub fn from_sigma(
        quorum_members: &[Vec<B256>],
        keys: &impl MemberKeys,
        signers: &BTreeSet<B256>,
        sigma: Signature,
        digest: B256,
    ) -> Result<Self, AggregationError> {
        if signers.is_empty() {
            return Err(AggregationError::NoSignatures);
        }
        let key_of = |id: &B256| keys.keys_of(id).ok_or(AggregationError::MissingKeys(*id));

        let mut weighted = Vec::with_capacity(signers.len());
        for id in signers {
            let times = quorum_weight(quorum_members, id)?;
            let (g1, g2) = key_of(id)?;
            weighted.extend(std::iter::repeat_n((g1, g2), times));
        }
        let apk_g1 = aggregate_public_keys(weighted.iter().map(|(g1, _)| *g1))?;
        let apk_g2 = aggregate_public_keys_g2(weighted.iter().map(|(_, g2)| *g2))?;
        if !verify_onchain_form(
            digest,
            &apk_g1.to_point(),
            &apk_g2.to_point(),
            &sigma.to_point(),
        ) {
            return Err(AggregationError::PreVerification);
        }

        // Ascending and without repeats, as the checker requires.
        let non_signers: BTreeSet<B256> = quorum_members
            .iter()
            .flatten()
            .filter(|id| !signers.contains(*id))
            .copied()
            .collect();
        let non_signer_pubkeys = non_signers
            .iter()
            .map(|id| key_of(id).map(|(g1, _)| *g1))
            .collect::<Result<_, _>>()?;
        let quorum_apks = quorum_members
            .iter()
            .map(|members| {
                let member_keys = members
                    .iter()
                    .map(|id| key_of(id).map(|(g1, _)| g1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(aggregate_public_keys(member_keys)?)
            })
            .collect::<Result<_, AggregationError>>()?;
        Ok(Self {
            non_signers: non_signers.into_iter().collect(),
            non_signer_pubkeys,
            quorum_apks,
            apk_g2,
            sigma,
        })
    }
}

/// How many times signer `id` counts in a task's aggregate: once per task quorum (one list of
/// members each) it is a member of. A signer in none of them is refused.
pub fn quorum_weight(quorum_members: &[Vec<B256>], id: &B256) -> Result<usize, AggregationError> {
    match quorum_members.iter().filter(|m| m.contains(id)).count() {
        0 => Err(AggregationError::NotInQuorum(*id)),
        times => Ok(times),
    }
}

/// Σ of `signatures`, each counted [`quorum_weight`] times: the `sigma` the contract checks
/// against the quorums' aggregate key minus the non-signers.
pub fn weighted_signature_sum<'a>(
    quorum_members: &[Vec<B256>],
    signatures: impl IntoIterator<Item = (B256, &'a Signature)>,
) -> Result<Signature, AggregationError> {
    let mut weighted = Vec::new();
    for (id, signature) in signatures {
        weighted.extend(std::iter::repeat_n(
            signature,
            quorum_weight(quorum_members, &id)?,
        ));
    }
    if weighted.is_empty() {
        return Err(AggregationError::NoSignatures);
    }
    Ok(aggregate_signatures(weighted)?)
}

/// Completes a verified aggregate with the history indices `checkSignatures` needs, read from
/// `OperatorStateRetriever.getCheckSignaturesIndices` at the task's reference block.
pub async fn attach_registry_indices<P: Provider>(
    provider: &P,
    deployment: &Deployment,
    task: &IAvsTaskManager::Task,
    aggregate: SignedAggregate,
) -> Result<IBLSSignatureChecker::NonSignerStakesAndSignature, AggregationError> {
    let el = &deployment.eigenlayer;
    let indices = IOperatorStateRetrieverCalls::new(el.operator_state_retriever, provider)
        .getCheckSignaturesIndices(
            el.registry_coordinator,
            task.taskCreatedBlock,
            Bytes::clone(&task.quorumNumbers),
            aggregate.non_signers.clone(),
        )
        .call()
        .await?;
    let apk_g2 = aggregate.apk_g2.to_point();
    let sigma = aggregate.sigma.to_point();
    Ok(IBLSSignatureChecker::NonSignerStakesAndSignature {
        nonSignerQuorumBitmapIndices: indices.nonSignerQuorumBitmapIndices,
        nonSignerPubkeys: aggregate.non_signer_pubkeys.into_iter().map(g1).collect(),
        quorumApks: aggregate.quorum_apks.into_iter().map(g1).collect(),
        apkG2: BN254::G2Point::from((apk_g2.x, apk_g2.y)),
        sigma: BN254::G1Point::from((sigma.x, sigma.y)),
        quorumApkIndices: indices.quorumApkIndices,
        totalStakeIndices: indices.totalStakeIndices,
        nonSignerStakeIndices: indices.nonSignerStakeIndices,
    })
}

fn g1(key: PublicKey) -> BN254::G1Point {
    let point = key.to_point();
    BN254::G1Point::from((point.x, point.y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use avs_bls::SecretKey;

    struct Committee {
        secrets: Vec<SecretKey>,
        keys: HashMap<B256, OperatorKeys>,
        ids: Vec<B256>,
    }

    fn committee(n: usize) -> Committee {
        let secrets: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate()).collect();
        let keys: Vec<OperatorKeys> = secrets
            .iter()
            .map(|sk| {
                let pubkey_g1 = sk.public_key();
                OperatorKeys {
                    operator_id: pubkey_g1.operator_id().0,
                    pubkey_g1,
                    pubkey_g2: sk.public_key_g2(),
                }
            })
            .collect();
        Committee {
            secrets,
            ids: keys.iter().map(|k| k.operator_id).collect(),
            keys: keys.into_iter().map(|k| (k.operator_id, k)).collect(),
        }
    }

    const DIGEST: B256 = B256::repeat_byte(0x3c);

    #[test]
    fn two_quorums_count_a_shared_signer_twice_and_list_non_signers_once_ascending() {
        let c = committee(4);
        // Quorum 0: operators 0, 1, 2. Quorum 1: operators 0, 2, 3. Operators 0 and 1 sign.
        let quorums = vec![
            vec![c.ids[0], c.ids[1], c.ids[2]],
            vec![c.ids[0], c.ids[2], c.ids[3]],
        ];
        let signatures: Vec<(B256, Signature)> = [0, 1]
            .iter()
            .map(|&i| (c.ids[i], c.secrets[i].sign(DIGEST)))
            .collect();
        // A repeated signature changes nothing.
        let repeated = signatures.iter().chain(&signatures[..1]);
        let built =
            SignedAggregate::build(&quorums, &c.keys, repeated.map(|(id, s)| (*id, s)), DIGEST)
                .unwrap();

        let mut expected_non_signers = vec![c.ids[2], c.ids[3]];
        expected_non_signers.sort();
        assert_eq!(built.non_signers, expected_non_signers);
        assert_eq!(
            built
                .non_signer_pubkeys
                .iter()
                .map(|k| k.operator_id().0)
                .collect::<Vec<_>>(),
            expected_non_signers
        );
        let g1 = |i: usize| c.secrets[i].public_key();
        assert_eq!(
            built.quorum_apks,
            vec![
                aggregate_public_keys([&g1(0), &g1(1), &g1(2)]).unwrap(),
                aggregate_public_keys([&g1(0), &g1(2), &g1(3)]).unwrap(),
            ]
        );
        // Operator 0 is in both quorums: σ and apkG2 hold it twice, operator 1 once.
        let g2 = |i: usize| c.secrets[i].public_key_g2();
        assert_eq!(
            built.apk_g2,
            aggregate_public_keys_g2([&g2(0), &g2(0), &g2(1)]).unwrap()
        );
        assert_eq!(
            built.sigma,
            aggregate_signatures([&signatures[0].1, &signatures[0].1, &signatures[1].1]).unwrap()
        );
    }

    #[test]
    fn refuses_no_signers_strangers_unknown_keys_and_forgeries() {
        let c = committee(3);
        let quorums = vec![vec![c.ids[0], c.ids[1]]];
        let sign = |i: usize| (c.ids[i], c.secrets[i].sign(DIGEST));
        let build = |quorums: &[Vec<B256>],
                     keys: &HashMap<B256, OperatorKeys>,
                     sigs: &[(B256, Signature)]| {
            SignedAggregate::build(quorums, keys, sigs.iter().map(|(id, s)| (*id, s)), DIGEST)
        };

        assert!(matches!(
            build(&quorums, &c.keys, &[]),
            Err(AggregationError::NoSignatures)
        ));
        // Operator 2 is in no task quorum.
        let stranger = c.ids[2];
        assert!(matches!(
            build(&quorums, &c.keys, &[sign(0), sign(2)]),
            Err(AggregationError::NotInQuorum(id)) if id == stranger
        ));
        // A member whose keys are unknown: as signer, and as non-signer (its G1 key is needed).
        let mut partial = c.keys.clone();
        partial.remove(&c.ids[1]);
        let missing = c.ids[1];
        for signers in [vec![sign(0), sign(1)], vec![sign(0)]] {
            assert!(matches!(
                build(&quorums, &partial, &signers),
                Err(AggregationError::MissingKeys(id)) if id == missing
            ));
        }
        // Operator 1's signature, but over another digest.
        let forged = (c.ids[1], c.secrets[1].sign(B256::ZERO));
        assert!(matches!(
            build(&quorums, &c.keys, &[sign(0), forged]),
            Err(AggregationError::PreVerification)
        ));
    }
}
