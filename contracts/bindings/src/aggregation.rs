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
use std::collections::{BTreeSet, HashMap};

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

    let signer_ids: BTreeSet<B256> = signatures.iter().map(|(id, _)| *id).collect();
    if let Some(stranger) = signer_ids
        .iter()
        .find(|id| !member_ids.iter().flatten().any(|m| m == *id))
    {
        return Err(AggregationError::NotInQuorum(*stranger));
    }
    let non_signers: Vec<B256> = member_ids
        .iter()
        .flatten()
        .filter(|id| !signer_ids.contains(*id))
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let key_of = |id: &B256| keys.get(id).ok_or(AggregationError::MissingKeys(*id));

    let mut quorum_apks = Vec::with_capacity(member_ids.len());
    for members in &member_ids {
        let member_keys = members.iter().map(key_of).collect::<Result<Vec<_>, _>>()?;
        quorum_apks.push(aggregate_public_keys(
            member_keys.iter().map(|k| &k.pubkey_g1),
        )?);
    }

    // Each signer counts once per task quorum it belongs to, as in the contract's aggregate key.
    let multiplicity = |id: &B256| {
        member_ids
            .iter()
            .filter(|members| members.contains(id))
            .count()
    };
    let weighted_signatures: Vec<&Signature> = signatures
        .iter()
        .flat_map(|(id, sig)| std::iter::repeat_n(sig, multiplicity(id)))
        .collect();
    let weighted_signers: Vec<&OperatorKeys> = signatures
        .iter()
        .map(|(id, _)| key_of(id).map(|k| std::iter::repeat_n(k, multiplicity(id))))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let sigma = aggregate_signatures(weighted_signatures)?;
    let apk_g1 = aggregate_public_keys(weighted_signers.iter().map(|k| &k.pubkey_g1))?;
    let apk_g2 = aggregate_public_keys_g2(weighted_signers.iter().map(|k| &k.pubkey_g2))?;
    if !verify_onchain_form(
        digest,
        &apk_g1.to_point(),
        &apk_g2.to_point(),
        &sigma.to_point(),
    ) {
        return Err(AggregationError::PreVerification);
    }

    let aggregate = SignedAggregate {
        non_signer_pubkeys: non_signers
            .iter()
            .map(|id| key_of(id).map(|k| k.pubkey_g1))
            .collect::<Result<_, _>>()?,
        non_signers,
        quorum_apks,
        apk_g2,
        sigma,
    };
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
