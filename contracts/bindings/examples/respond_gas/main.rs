//! Measures `respondToTask` gas against EigenLayer's real registries on anvil, next to
//! EigenLayer's own `checkSignatures` measured in the same run: 51 operators in quorum 0, one
//! task per row answered with 0, 1, 10, 33 and 50 non-signers.
//!
//! EigenLayer's checker is the slashing-era `MockAvsServiceManager` from `eigen-utils` (a
//! `ServiceManagerBase` that inherits EigenLayer's `BLSSignatureChecker` unchanged), deployed
//! once against the same registries (slashing-era registries driven by our coordinator), called directly and also through a transparent proxy like ours. Every figure is a
//! real transaction sent from the owner's account in its own block (cold accounts and storage,
//! the 21,000 base cost and the calldata included); all checkers get the very same calldata.
//!
//! With `--reference ARTIFACT`, EigenLayer's reference task manager (incredible-squaring's
//! `IncredibleSquaringTaskManager`, a forge artifact compiled locally from EigenLayer's
//! middleware sources, never committed) is deployed behind a proxy on the same registries and
//! answers a task per row with the same signers: the comparison for a whole `respondToTask`.
//! The stale-stake rule is set on every checker as ours is deployed (on).
//!
//! ```sh
//! just tools && cargo run --release -p avs-contracts --example respond_gas
//! # with the reference task manager, and anvil's callTracer tree of every transaction:
//! cargo run --release -p avs-contracts --example respond_gas -- --reference path/to/IncredibleSquaringTaskManager.json --trace
//! ```

// Printing the table is what this example is for.
#![allow(clippy::print_stdout)]

use alloy::{
    consensus::Transaction as _,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolValue},
};
use avs_contracts::{
    avs::{self, AvsTaskManager},
    eigenlayer,
    testing::TestDevnet,
    transactor::Transactor,
};
use std::collections::HashMap;

mod reference;

const OPERATORS: usize = 51;
const NON_SIGNERS: [usize; 5] = [0, 1, 10, 33, 50];

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let trace = args.iter().any(|arg| arg == "--trace");
    let reference_path = args
        .iter()
        .position(|arg| arg == "--reference")
        .map(|at| {
            args.get(at + 1)
                .cloned()
                .ok_or_else(|| eyre::eyre!("--reference needs the artifact's path"))
        })
        .transpose()?;
    // One account per operator plus the owner.
    let anvil = avs_test_support::anvil()
        .args(["--accounts", &(OPERATORS + 1).to_string()])
        .spawn();
    let stakes: Vec<u128> = (1..=OPERATORS as u128).collect();
    let devnet = TestDevnet::on(anvil, &stakes, |config| {
        // Every row needs its quorum: 1 of 51 signers is about 2% of the stake.
        config.avs.minimum_threshold_percentage = 1;
        config.avs.quorum_threshold_percentage = 1;
    })
    .await?;
    let mut tx = Transactor::new(devnet.provider.clone());

    // EigenLayer's checker against the same registries, directly and behind a proxy.
    let el = &devnet.deployment.eigenlayer;
    // No rewards coordinator is deployed; the checker never calls it.
    let args = (
        el.avs_directory,
        el.registry_coordinator,
        el.stake_registry,
        el.empty_contract,
        el.permission_controller,
        el.allocation_manager,
    )
        .abi_encode_params();
    let el_checker = tx
        .deploy(
            "EigenLayer BLSSignatureChecker (MockAvsServiceManager)",
            [
                avs_contracts::eigenlayer::bytecode::MOCK_AVS_SERVICE_MANAGER,
                &args[..],
            ]
            .concat(),
        )
        .await?;
    let el_proxied = eigenlayer::empty_proxy(
        &mut tx,
        "EigenLayer checker",
        el.empty_contract,
        el.proxy_admin,
    )
    .await?;
    eigenlayer::upgrade_and_call(
        &mut tx,
        "EigenLayer checker",
        el.proxy_admin,
        el_proxied,
        el_checker,
        Vec::new(),
    )
    .await?;
    let reference = match &reference_path {
        Some(path) => Some(reference::Reference::deploy(&devnet, &mut tx, path).await?),
        None => None,
    };
    // Same selectors as ours (EigenLayer's ABI).
    let ours = devnet.deployment.avs.task_manager;
    let our_rule = stale_stakes_forbidden(&devnet, ours)
        .await?
        .ok_or_else(|| eyre::eyre!("our task manager has no staleStakesForbidden"))?;
    let mut others = vec![
        ("EigenLayer's checker", el_checker),
        ("the same behind a proxy", el_proxied),
    ];
    if let Some(reference) = &reference {
        others.push(("the reference task manager", reference.address()));
    }
    println!("staleStakesForbidden as deployed: ours {our_rule}");
    for (name, checker) in others {
        // Compare like with like where the checker has the rule (the slashing-era checker has
        // none: it never refuses stale stakes).
        let rule = stale_stakes_forbidden(&devnet, checker).await?;
        println!("staleStakesForbidden as deployed: {name} {rule:?}");
        if rule.is_some_and(|rule| rule != our_rule) {
            let call = AvsTaskManager::setStaleStakesForbiddenCall { value: our_rule };
            tx.call("setStaleStakesForbidden", checker, call.abi_encode())
                .await?;
        }
    }

    println!();
    println!(
        "| non-signers | hashToG1 tries | EigenLayer `checkSignatures` | EigenLayer `checkSignatures` behind a proxy | our `checkSignatures` alone | our whole `respondToTask` | `respondToTask` − EigenLayer | reference `respondToTask` (tries) | ours − reference | ours − reference, equal tries |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut traces = Vec::new();
    let mut creations = Vec::new();
    for non_signers in NON_SIGNERS {
        let block = devnet.next_checkpoint().await?;
        let (task_index, task, created) = devnet.create_task_receipt(block).await?;
        let response = devnet.true_response(task_index, block).await?;
        let signers: Vec<usize> = (non_signers..OPERATORS).collect();
        let proof = devnet.aggregate(&task, &response, &signers).await?;
        let digest = avs::attestation_digest(&devnet.deployment.signing_domain(), &task, &response);
        // Every checker, cold, each in its own transaction, with identical calldata.
        let check = AvsTaskManager::checkSignaturesCall {
            msgHash: digest,
            quorumNumbers: task.quorumNumbers.clone(),
            referenceBlockNumber: task.taskCreatedBlock,
            params: proof.clone(),
        }
        .abi_encode();
        let theirs = tx
            .call("EigenLayer checkSignatures", el_checker, check.clone())
            .await?;
        let theirs_proxied = tx
            .call(
                "EigenLayer checkSignatures (proxy)",
                el_proxied,
                check.clone(),
            )
            .await?;
        let checked = tx.call("checkSignatures", ours, check).await?;
        let respond = devnet.respond(&task, &response, proof).await?;
        let tries = hash_to_g1_tries(digest);
        let versus_reference = match &reference {
            Some(reference) => {
                let number = u64::try_from(traces.len() + non_signers)? + 2;
                let (receipt, reference_digest, reference_created) = reference
                    .respond(&devnet, &mut tx, number, &signers)
                    .await?;
                creations.push((created.gas_used, Some(reference_created)));
                let reference_tries = hash_to_g1_tries(reference_digest);
                let difference = i128::from(respond.gas_used) - i128::from(receipt.gas_used);
                // One `hashToG1` try is one modexp call: 4,016 gas plus its set-up.
                let equal_tries = difference
                    - (i128::from(tries) - i128::from(reference_tries)) * HASH_TO_G1_TRY_GAS;
                if trace {
                    traces.push((
                        format!("reference respondToTask, {non_signers} non-signers"),
                        receipt.clone(),
                    ));
                }
                format!(
                    "{} ({reference_tries}) | {difference:+} | {equal_tries:+}",
                    receipt.gas_used
                )
            }
            None => {
                creations.push((created.gas_used, None));
                "— | — | —".to_owned()
            }
        };
        println!(
            "| {non_signers} | {tries} | {} | {} | {} | {} | {:+} | {versus_reference} |",
            theirs.gas_used,
            theirs_proxied.gas_used,
            checked.gas_used,
            respond.gas_used,
            i128::from(respond.gas_used) - i128::from(theirs.gas_used)
        );
        if trace {
            traces.push((
                format!("EigenLayer checkSignatures, {non_signers} non-signers"),
                theirs,
            ));
            traces.push((
                format!("our checkSignatures, {non_signers} non-signers"),
                checked,
            ));
            traces.push((
                format!("our respondToTask, {non_signers} non-signers"),
                respond,
            ));
        }
    }
    println!();
    println!("| task | our `createNewTask` | reference `createNewTask` |");
    println!("|---:|---:|---:|");
    for (row, (ours, theirs)) in creations.iter().enumerate() {
        let theirs = theirs.map_or_else(|| "—".to_owned(), |gas| gas.to_string());
        println!("| {row} | {ours} | {theirs} |");
    }
    let names = contract_names(&devnet, el_checker);
    for (title, receipt) in traces {
        print_trace(&devnet, &names, &title, &receipt).await?;
    }
    Ok(())
}

/// The checker's stale-stake rule, `None` when it has none.
async fn stale_stakes_forbidden(
    devnet: &TestDevnet,
    checker: Address,
) -> eyre::Result<Option<bool>> {
    let request = TransactionRequest::default()
        .to(checker)
        .input(Bytes::from(AvsTaskManager::staleStakesForbiddenCall {}.abi_encode()).into());
    match devnet.provider.call(request).await {
        Ok(out) => Ok(Some(
            AvsTaskManager::staleStakesForbiddenCall::abi_decode_returns(&out)?,
        )),
        Err(err) if err.as_error_resp().is_some() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Gas of one more `hashToG1` try in EigenLayer's and our code (the modexp call and its loop
/// step; measured as the difference between rows of equal shape).
const HASH_TO_G1_TRY_GAS: i128 = 4_116;

/// How many candidates EigenLayer's `hashToG1` tries for `digest` (one modexp precompile call,
/// 4,016 gas under Osaka pricing, each): x = digest mod p, x + 1, ... until x^3 + 3 is a square.
fn hash_to_g1_tries(digest: B256) -> u32 {
    let p = U256::from_str_radix(
        "30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47",
        16,
    )
    .expect("the BN254 base field modulus");
    let exponent = (p + U256::from(1)) >> 2;
    let mut x = U256::from_be_bytes(digest.0).reduce_mod(p);
    let mut tries = 1;
    loop {
        let beta = x.mul_mod(x, p).mul_mod(x, p).add_mod(U256::from(3), p);
        let y = beta.pow_mod(exponent, p);
        if y.mul_mod(y, p) == beta {
            return tries;
        }
        x = x.add_mod(U256::from(1), p);
        tries += 1;
    }
}

/// Names of the contracts a trace can reach, by address.
fn contract_names(devnet: &TestDevnet, el_checker: Address) -> HashMap<Address, String> {
    let el = &devnet.deployment.eigenlayer;
    let mut names: HashMap<Address, String> = [
        (el.registry_coordinator, "AvsRegistryCoordinator proxy"),
        (el.bls_apk_registry, "BLSApkRegistry proxy"),
        (el.stake_registry, "StakeRegistry proxy"),
        (el.delegation_manager, "DelegationManager proxy"),
        (devnet.deployment.avs.task_manager, "AvsTaskManager proxy"),
        (el_checker, "EigenLayer checker"),
        (Address::with_last_byte(5), "precompile 0x05 modexp"),
        (Address::with_last_byte(6), "precompile 0x06 ecAdd"),
        (Address::with_last_byte(7), "precompile 0x07 ecMul"),
        (Address::with_last_byte(8), "precompile 0x08 pairing"),
    ]
    .into_iter()
    .map(|(address, name)| (address, name.to_owned()))
    .collect();
    for step in &devnet.deployment.steps {
        if let Some(address) = step.address {
            names.entry(address).or_insert_with(|| step.name.clone());
        }
    }
    names
}

/// Function names of the selectors a trace shows.
fn selector_names() -> HashMap<[u8; 4], &'static str> {
    [
        "quorumCount()",
        "getQuorumBitmapAtBlockNumberByIndex(bytes32,uint32,uint256)",
        "getApkHashAtBlockNumberAndIndex(uint8,uint32,uint256)",
        "getTotalStakeAtBlockNumberFromIndex(uint8,uint32,uint256)",
        "getStakeAtBlockNumberAndIndex(uint8,uint32,bytes32,uint256)",
    ]
    .into_iter()
    .map(|signature| {
        let hash = keccak256(signature.as_bytes());
        let name = &signature[..signature.find('(').unwrap_or(signature.len())];
        ([hash[0], hash[1], hash[2], hash[3]], name)
    })
    .chain([
        (
            AvsTaskManager::checkSignaturesCall::SELECTOR,
            "checkSignatures",
        ),
        (AvsTaskManager::respondToTaskCall::SELECTOR, "respondToTask"),
    ])
    .collect()
}

/// Prints anvil's callTracer tree of `receipt`'s transaction: every call frame with the gas it
/// used (a frame's figure includes its children; cold-account surcharges are paid by the caller).
async fn print_trace(
    devnet: &TestDevnet,
    names: &HashMap<Address, String>,
    title: &str,
    receipt: &TransactionReceipt,
) -> eyre::Result<()> {
    let hash = receipt.transaction_hash;
    let input = devnet
        .provider
        .get_transaction_by_hash(hash)
        .await?
        .ok_or_else(|| eyre::eyre!("transaction {hash} not found"))?
        .input()
        .clone();
    let zeros = input.iter().filter(|&&b| b == 0).count() as u64;
    let calldata_gas = zeros * 4 + (input.len() as u64 - zeros) * 16;
    let frame: serde_json::Value = devnet
        .provider
        .raw_request(
            "debug_traceTransaction".into(),
            (hash, serde_json::json!({ "tracer": "callTracer" })),
        )
        .await?;
    println!();
    println!(
        "### {title}: {} gas (21,000 base + {calldata_gas} calldata + execution)",
        receipt.gas_used
    );
    println!();
    println!("```");
    print_frame(&frame, names, &selector_names(), 0);
    println!("```");
    Ok(())
}

fn print_frame(
    frame: &serde_json::Value,
    names: &HashMap<Address, String>,
    selectors: &HashMap<[u8; 4], &str>,
    depth: usize,
) {
    let field = |key: &str| frame.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let to: Address = field("to").parse().unwrap_or_default();
    let input = alloy::hex::decode(field("input")).unwrap_or_default();
    let function = input
        .get(..4)
        .and_then(|s| selectors.get(&[s[0], s[1], s[2], s[3]]).copied())
        .unwrap_or("");
    let target = names.get(&to).cloned().unwrap_or_else(|| to.to_string());
    println!(
        "{:indent$}{} {target} {function} gasUsed={}",
        "",
        field("type"),
        gas_of(frame),
        indent = depth * 2
    );
    let calls = frame
        .get("calls")
        .and_then(|c| c.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut i = 0;
    while i < calls.len() {
        let to = calls[i].get("to").and_then(|v| v.as_str());
        let is_precompile = to
            .and_then(|a| a.parse::<Address>().ok())
            .is_some_and(|a| a.0[..19].iter().all(|&b| b == 0));
        if is_precompile {
            // A run of calls to the same precompile is one line.
            let run: Vec<_> = calls[i..]
                .iter()
                .take_while(|c| c.get("to").and_then(|v| v.as_str()) == to)
                .collect();
            let target = to
                .and_then(|a| a.parse::<Address>().ok())
                .unwrap_or_default();
            println!(
                "{:indent$}{} × {} gasUsed={}",
                "",
                run.len(),
                names.get(&target).cloned().unwrap_or_default(),
                run.iter().map(|c| gas_of(c)).sum::<u64>(),
                indent = (depth + 1) * 2
            );
            i += run.len();
        } else {
            print_frame(&calls[i], names, selectors, depth + 1);
            i += 1;
        }
    }
}

/// A callTracer frame's `gasUsed`.
fn gas_of(frame: &serde_json::Value) -> u64 {
    frame
        .get("gasUsed")
        .and_then(|v| v.as_str())
        .and_then(|g| u64::from_str_radix(g.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}
