//! `operator status|register|deregister`, `task list|show` and `config check --online` against
//! a real EigenLayer + AVS deployment on anvil, through the built binary.

use crate::support::{Run, Running, avs_node};
use alloy::{
    network::EthereumWallet,
    primitives::Bytes,
    primitives::U256,
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use avs_contracts::{
    avs::AvsTaskManager, deploy, deployment::DeployConfig, operator::OperatorClient,
    transactor::Transactor,
};
use std::time::Duration;

const TOKEN: u128 = 1_000_000_000_000_000_000;

/// The one line of a failure, besides progress logged at INFO (e.g. waiting for a delay).
fn one_error_line(run: &Run) -> &str {
    assert!(!run.success, "expected a failure, got: {}", run.stdout);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains(" INFO "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {}", run.stderr);
    lines[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_lifecycle_against_a_real_deployment() -> eyre::Result<()> {
    let anvil = avs_test_support::anvil().spawn();
    let owner: PrivateKeySigner = anvil.keys()[0].clone().into();
    let owner_provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let deployment = deploy::deploy(
        owner_provider.clone(),
        DeployConfig::devnet(owner.address()),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).display().to_string();
    deployment.save(dir.path().join("deployment.json"))?;

    // The operator's keys, created and imported through the CLI.
    let operator: PrivateKeySigner = anvil.keys()[1].clone().into();
    std::fs::write(path("password"), "pw\n")?;
    std::fs::write(
        path("sk"),
        format!("0x{}", alloy::hex::encode(operator.to_bytes())),
    )?;
    let keys_dir = path("keys");
    let imported = avs_node(
        &[
            "keys",
            "ecdsa",
            "import",
            "op",
            "--keys-dir",
            &keys_dir,
            "--password-file",
            &path("password"),
            "--private-key-file",
            &path("sk"),
        ],
        &[],
    );
    assert!(imported.success, "{}", imported.stderr);
    let created = avs_node(
        &[
            "keys",
            "bls",
            "new",
            "op",
            "--keys-dir",
            &keys_dir,
            "--password-file",
            &path("password"),
            "--json",
        ],
        &[],
    );
    assert!(created.success, "{}", created.stderr);
    let bls: serde_json::Value = serde_json::from_str(&created.stdout)?;

    std::fs::write(
        path("node.toml"),
        format!(
            "settlement_rpc_url = \"{}\"\ndeployment = \"{}\"\ndatadir = \"{}\"\nbls_keystore = \"{keys_dir}/op.bls.key.json\"\nbls_password_file = \"{pw}\"\necdsa_keystore = \"{keys_dir}/op.ecdsa.key.json\"\necdsa_password_file = \"{pw}\"\nwallet_keystore = \"{keys_dir}/op.ecdsa.key.json\"\nwallet_password_file = \"{pw}\"\np2p_external_addrs = [\"/ip4/127.0.0.1/tcp/9777\"]\n\
             # `config check` binds the ports: OS-assigned ones cannot be taken already.\n\
             metrics_addr = \"127.0.0.1:0\"\nnode_api_addr = \"127.0.0.1:0\"\n\
             p2p_listen_addrs = [\"/ip4/127.0.0.1/tcp/0\"]\n",
            anvil.endpoint(),
            path("deployment.json"),
            path("data"),
            pw = path("password"),
        ),
    )?;
    let config = path("node.toml");

    let online = avs_node(&["config", "check", "--config", &config, "--online"], &[]);
    assert!(online.success, "{}", online.stderr);
    assert!(
        online.stdout.contains("online check      ok: chain 31337"),
        "{}",
        online.stdout
    );

    // `run` with a key no registered operator holds says so once, clearly, at start-up.
    let unregistered = Running::start(&["run", "--config", &config]);
    let line = unregistered.wait_line("NOT REGISTERED", Duration::from_secs(60));
    assert!(
        line.contains("WARN") && line.contains("register it with `avs-node operator register`"),
        "{line}"
    );
    drop(unregistered);

    // A deployment file of another chain is named as the problem, not as a later revert.
    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("deployment.json"))?)?;
    other["chainId"] = 1.into();
    std::fs::write(path("other.json"), other.to_string())?;
    let wrong_chain = avs_node(
        &[
            "config",
            "check",
            "--config",
            &config,
            "--deployment",
            &path("other.json"),
            "--online",
        ],
        &[],
    );
    let line = one_error_line(&wrong_chain);
    assert!(
        line.contains(
            "serves chain 31337 but the deployment is on chain 1: check the settlement RPC URL"
        ),
        "{line}"
    );

    // Two-chain mode needs an attested node of another chain, reachable at start-up: `run`
    // and `config check --online` check it alike.
    let other_chain = avs_test_support::anvil().chain_id(1337).spawn();
    let with_attested = |command: &[&str], url: &str| {
        let mut args = command.to_vec();
        args.extend(["--config", &config, "--attested-rpc-url", url]);
        avs_node(&args, &[])
    };
    let check = ["config", "check", "--online"];
    let same_chain = anvil.ws_endpoint();
    for command in [&["run"][..], &check] {
        for (url, expected) in [
            (
                same_chain.as_str(),
                "serves chain 31337, the settlement chain: remove attested_rpc_url",
            ),
            (
                "http://127.0.0.1:1",
                "cannot reach the attested chain's RPC http://127.0.0.1:1/",
            ),
        ] {
            let line = one_error_line(&with_attested(command, url)).to_owned();
            assert!(line.contains(expected), "{command:?} {url}: {line}");
        }
    }
    let checked = with_attested(&check, &other_chain.endpoint());
    assert!(checked.success, "{}", checked.stderr);
    assert!(
        checked
            .stdout
            .contains("; attested chain 1337 at block 0; attesting at depth 0 blocks"),
        "{}",
        checked.stdout
    );
    assert!(
        online.stdout.contains("; attesting at depth 0 blocks"),
        "the devnet default: {}",
        online.stdout
    );
    // A depth the node keeps no view of would never sign anything: refused at start-up.
    let deep = avs_node(
        &["run", "--config", &config, "--attest-depth", "100000"],
        &[],
    );
    let line = one_error_line(&deep);
    assert!(
        line.contains("attest_depth of 100000 blocks is not below the"),
        "{line}"
    );

    let status = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["operator", "status", "--config", &config, "--json"];
        args.extend_from_slice(extra);
        let run = avs_node(&args, &[]);
        assert!(run.success, "{}", run.stderr);
        serde_json::from_str(&run.stdout).expect("JSON status")
    };
    let before = status(&[]);
    assert_eq!(
        before["operator"],
        operator.address().to_string().to_lowercase()
    );
    assert_eq!(before["registered"], false);
    assert_eq!(before["eigenlayerOperator"], false);

    // `operator register` waits for EigenLayer's allocation configuration delay, counted in
    // blocks: keep blocks coming as a live chain does (this anvil mines only on transactions).
    let miner = {
        let provider = owner_provider.clone();
        tokio::spawn(async move {
            loop {
                let _ = provider.anvil_mine(Some(1), None).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // Without stake the pre-flight check refuses, as one line naming the fix.
    let refused = avs_node(
        &[
            "operator",
            "register",
            "--config",
            &config,
            "--metadata-uri",
            "https://example.invalid/op.json",
        ],
        &[],
    );
    let line = one_error_line(&refused);
    assert!(
        line.contains("below the minimum") && line.contains("deposit more"),
        "{line}"
    );

    let operator_provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(operator.clone()))
        .connect_http(anvil.endpoint_url())
        .erased();
    let mut client = OperatorClient::new(operator_provider, &deployment, operator.address());
    client.mint_devnet_tokens(U256::from(10 * TOKEN)).await?;
    client.deposit(U256::from(10 * TOKEN)).await?;

    let registered = avs_node(
        &[
            "operator",
            "register",
            "--config",
            &config,
            "--metadata-uri",
            "https://example.invalid/op.json",
        ],
        &[],
    );
    assert!(registered.success, "{}", registered.stderr);
    let after = status(&[]);
    assert_eq!(after["registered"], true);
    assert_eq!(after["eigenlayerOperator"], true);
    // `--allocate` defaults to all of the magnitude: all 10 tokens are slashable stake.
    let allocation = &after["allocations"][0];
    assert_eq!(
        allocation["magnitude"].as_u64(),
        Some(1_000_000_000_000_000_000),
        "{after}"
    );
    assert_eq!(
        allocation["stake"].as_str(),
        Some(format!("{:#x}", 10 * TOKEN).as_str()),
        "{after}"
    );
    assert_eq!(
        after["operatorId"], bls["operatorId"],
        "registered with the keystore's BLS key"
    );
    // Looking up another address needs no key.
    assert_eq!(
        status(&["--operator", &owner.address().to_string()])["registered"],
        false
    );

    // The published socket is the external address plus the node's peer id: what every node
    // reads (here through the node's own registry reader) and dials.
    let peer = avs_p2p::load_or_create_identity(std::path::Path::new(&path("data/p2p/node.key")))?
        .public()
        .to_peer_id();
    let operator_id: alloy::primitives::B256 = bls["operatorId"].as_str().unwrap().parse()?;
    let published = |head| {
        let provider = owner_provider.clone();
        let deployment = deployment.clone();
        async move {
            let mut reader = avs_p2p::RegistryReader::new(provider, &deployment);
            reader.catch_up(head).await?;
            eyre::Ok(
                reader
                    .socket(&avs_p2p::OperatorId(operator_id))
                    .map(str::to_owned),
            )
        }
    };
    let head = owner_provider.get_block_number().await?;
    assert_eq!(
        published(head).await?,
        Some(format!("/ip4/127.0.0.1/tcp/9777/p2p/{peer}")),
        "{}",
        registered.stdout
    );
    // Moved: `set-socket` publishes the new address; a listen-all or foreign one is refused.
    let set_socket = |socket: &str| {
        avs_node(
            &[
                "operator",
                "set-socket",
                "--config",
                &config,
                "--socket",
                socket,
            ],
            &[],
        )
    };
    let moved = set_socket("/dns4/op.example.org/udp/9777/quic-v1");
    assert!(moved.success, "{}", moved.stderr);
    let head = owner_provider.get_block_number().await?;
    assert_eq!(
        published(head).await?,
        Some(format!("/dns4/op.example.org/udp/9777/quic-v1/p2p/{peer}"))
    );
    let other_peer = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    for (socket, expected) in [
        ("/ip4/0.0.0.0/tcp/9777".to_owned(), "unspecified IP"),
        ("op.example.org:9777".to_owned(), "is not a multiaddress"),
        (
            format!("/ip4/10.0.0.1/tcp/9777/p2p/{other_peer}"),
            "but this node's identity",
        ),
    ] {
        let line = one_error_line(&set_socket(&socket)).to_owned();
        assert!(line.contains(expected), "{socket}: {line}");
    }

    let again = avs_node(
        &[
            "operator",
            "register",
            "--config",
            &config,
            "--metadata-uri",
            "https://example.invalid/op.json",
        ],
        &[],
    );
    assert!(one_error_line(&again).contains("already registered with the AVS"));

    let tasks = avs_node(&["task", "list", "--config", &config], &[]);
    assert!(tasks.success, "{}", tasks.stderr);
    assert_eq!(tasks.stdout.trim(), "no tasks");
    let missing = avs_node(&["task", "show", "0", "--config", &config], &[]);
    assert!(one_error_line(&missing).contains("task 0 does not exist"));

    // A task for a mined checkpoint of the settlement chain, created by the owner (generator).
    owner_provider.anvil_mine(Some(10), None).await?;
    let checkpoint = owner_provider.get_block_number().await? / 10 * 10;
    let create = AvsTaskManager::createNewTaskCall {
        chainId: 31337,
        blockNumber: checkpoint,
        quorumThresholdPercentage: 66,
        quorumNumbers: Bytes::from(vec![0u8]),
    };
    Transactor::new(owner_provider.clone())
        .call(
            "createNewTask",
            deployment.avs.task_manager,
            create.abi_encode(),
        )
        .await?;
    let listed = avs_node(&["task", "list", "--config", &config, "--json"], &[]);
    assert!(listed.success, "{}", listed.stderr);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["index"], 0);
    assert_eq!(listed[0]["chainId"], 31337);
    assert_eq!(listed[0]["blockNumber"], checkpoint);
    assert_eq!(listed[0]["response"], serde_json::Value::Null);
    let shown = avs_node(&["task", "show", "0", "--config", &config], &[]);
    assert!(shown.success, "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .contains(&format!("checkpoint      chain 31337 block {checkpoint}")),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("response        none yet"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("finalized       no"),
        "{}",
        shown.stdout
    );
    // A second task: `task show` picks a task's own logs by its indexed taskIndex.
    owner_provider.anvil_mine(Some(10), None).await?;
    let mut second = create.clone();
    second.blockNumber = checkpoint + 10;
    Transactor::new(owner_provider.clone())
        .call(
            "createNewTask",
            deployment.avs.task_manager,
            second.abi_encode(),
        )
        .await?;
    for (index, block) in [(0, checkpoint), (1, checkpoint + 10)] {
        let shown = avs_node(
            &["task", "show", &index.to_string(), "--config", &config],
            &[],
        );
        assert!(shown.success, "{}", shown.stderr);
        assert!(
            shown
                .stdout
                .contains(&format!("checkpoint      chain 31337 block {block}")),
            "task {index}: {}",
            shown.stdout
        );
    }

    let premature = avs_node(&["task", "challenge", "0", "--config", &config], &[]);
    assert!(one_error_line(&premature).contains("task 0 has no response yet"));

    let deregistered = avs_node(&["operator", "deregister", "--config", &config], &[]);
    assert!(deregistered.success, "{}", deregistered.stderr);
    assert_eq!(status(&[])["registered"], false);

    // A wrong endpoint is diagnosed as such.
    let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    assert_eq!(provider.get_chain_id().await?, 31337);
    let unreachable = avs_node(
        &[
            "operator",
            "status",
            "--config",
            &config,
            "--settlement-rpc-url",
            "http://127.0.0.1:1",
        ],
        &[],
    );
    assert!(
        one_error_line(&unreachable)
            .contains("checking the deployment against the RPC endpoint failed")
    );
    // The devnet's slasher is instant: nothing is ever queued.
    let slashes = avs_node(&["task", "slashes", "--config", &config, "--json"], &[]);
    assert!(slashes.success, "{}", slashes.stderr);
    assert_eq!(slashes.stdout.trim(), "[]");
    miner.abort();
    Ok(())
}
