//! The verifier against the Ethereum execution specification: blocks the specification executed
//! (`tests/spec/blocks.py`) must verify with an honest witness, and every alteration of the
//! header, the witness or the pre-state must be caught.

use alloy::primitives::{B256, U256};
use avs_exex_stateless::{
    Verdict,
    test_utils::{Fixture, FullState, spec_fixtures},
};

/// The blocks the issue names; the generator must keep producing all of them.
const REQUIRED: [&str; 7] = [
    "transfers",
    "contract_creation",
    "storage_writes_and_zero",
    "selfdestruct_in_creation",
    "branch_collapse",
    "system_calls",
    "withdrawals",
];

/// A change to one header field.
type Alteration = fn(&mut alloy::consensus::Header);

fn verify(fixture: &Fixture, header: &alloy::consensus::Header, state: &FullState) -> Verdict {
    fixture.verify(header, state.root, &state.witness())
}

#[test]
fn every_spec_block_reexecutes_to_the_specs_roots() {
    let fixtures = spec_fixtures();
    for name in REQUIRED {
        assert!(
            fixtures.iter().any(|f| f.name == name),
            "the generator has no `{name}` block"
        );
    }
    for fixture in &fixtures {
        let state = FullState::of(&fixture.pre);
        assert_eq!(
            state.root, fixture.pre_state_root,
            "{}: the pre-state's root differs from the specification's",
            fixture.name
        );
        let executed = fixture
            .execute(state.root, &state.witness())
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        assert_eq!(
            executed.state_root, fixture.result.state_root,
            "{}: state root",
            fixture.name
        );
        assert_eq!(
            executed.receipts_root, fixture.result.receipts_root,
            "{}: receipts root",
            fixture.name
        );
        assert_eq!(
            executed.gas_used, fixture.result.gas_used,
            "{}",
            fixture.name
        );
        assert_eq!(
            verify(fixture, &fixture.header(), &state),
            Verdict::Verified,
            "{}",
            fixture.name
        );
        // The post-state the specification reports hashes to its root: the oracle is
        // self-consistent, and `FullState` reads it the same way.
        assert_eq!(FullState::of(&fixture.post).root, fixture.result.state_root);
    }
}

#[test]
fn an_altered_header_commitment_is_a_mismatch() {
    for fixture in spec_fixtures() {
        let state = FullState::of(&fixture.pre);
        let alterations: [(&str, Alteration); 4] = [
            ("stateRoot", |h| h.state_root.0[31] ^= 1),
            ("receiptsRoot", |h| h.receipts_root.0[0] ^= 1),
            ("gasUsed", |h| h.gas_used += 1),
            ("requestsHash", |h| h.requests_hash = Some(B256::ZERO)),
        ];
        for (field, alter) in alterations {
            let mut header = fixture.header();
            alter(&mut header);
            assert!(
                matches!(verify(&fixture, &header, &state), Verdict::Mismatch { field: f, .. } if f == field),
                "{}: an altered {field} is not caught",
                fixture.name
            );
        }
    }
}

/// A provider that alters one account's balance: in a witness for the real parent root its
/// nodes are not found under that root; with a recomputed parent root (a fabricated chain) the
/// block executes to a different state root than the header's.
#[test]
fn an_altered_pre_state_is_caught() {
    for fixture in spec_fixtures() {
        let mut pre = fixture.pre.clone();
        let sender = fixture.transactions().first().map(|tx| {
            use alloy::consensus::transaction::SignerRecoverable;
            tx.recover_signer().unwrap()
        });
        let Some(sender) = sender else { continue };
        pre.get_mut(&sender).unwrap().balance += U256::from(1);
        let lying = FullState::of(&pre);
        let honest_root = fixture.pre_state_root;
        assert!(
            matches!(
                fixture.verify(&fixture.header(), honest_root, &lying.witness()),
                Verdict::Unverifiable { .. }
            ),
            "{}: a witness for another state is used under the honest root",
            fixture.name
        );
        assert!(
            matches!(
                verify(&fixture, &fixture.header(), &lying),
                Verdict::Mismatch {
                    field: "stateRoot",
                    ..
                }
            ),
            "{}: a fabricated pre-state reproduces the header's root",
            fixture.name
        );
    }
}

/// Dropping any single node from the witness never makes a wrong verdict: the block verifies
/// (the node was not needed) or is unverifiable. The collapse cases need a sibling that the
/// block never reads, only the post-state hashing does.
#[test]
fn a_witness_missing_any_node_fails_closed() {
    for fixture in spec_fixtures() {
        let state = FullState::of(&fixture.pre);
        let mut post_state_failures = 0;
        for index in 0..state.nodes.len() {
            match fixture.verify(&fixture.header(), state.root, &state.witness_without(index)) {
                Verdict::Verified => {}
                Verdict::Unverifiable { reason } => {
                    if reason.starts_with("the post-state cannot be hashed") {
                        post_state_failures += 1;
                    }
                }
                mismatch @ Verdict::Mismatch { .. } => {
                    panic!("{}: node {index} dropped gives {mismatch:?}", fixture.name)
                }
            }
        }
        if matches!(
            fixture.name.as_str(),
            "branch_collapse" | "storage_writes_and_zero"
        ) {
            assert!(
                post_state_failures > 0,
                "{}: no dropped node made the collapse unprovable",
                fixture.name
            );
        }
    }
}

/// A witness of only what the block touches (what `debug_executionWitness` serves) is enough:
/// the proofs of changed and read keys, and the neighbours of deleted ones.
#[test]
fn a_block_witness_of_the_touched_keys_verifies() {
    for fixture in spec_fixtures() {
        let state = FullState::of(&fixture.pre);
        let proofs = FullState::for_block(&fixture);
        assert!(proofs.nodes.len() <= state.nodes.len());
        let witness = proofs.witness();
        assert_eq!(
            fixture.verify(&fixture.header(), state.root, &witness),
            Verdict::Verified,
            "{}",
            fixture.name
        );
    }
}
