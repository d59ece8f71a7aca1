//! The binary's command line: config precedence (flag > env > file), validation errors as
//! one line naming the setting, unknown options.

use crate::support::{avs_node, write_deployment};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(chain_id: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_deployment(&dir.path().join("deployment.json"), chain_id);
        // TEST-ONLY keystore of a random, never funded key (password `devnet-test`).
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/test-only.ecdsa.key.json"
            ),
            dir.path().join("ecdsa.key.json"),
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A config file with `extra` lines after the required settings, on ports the OS has just
    /// handed out (unless `extra` sets them): `config check` and `run` bind every port, and the
    /// tests of this file run in parallel, so the default ports would race.
    fn config(&self, extra: &str) -> String {
        let mut ports = String::new();
        for key in ["metrics_addr", "node_api_addr"] {
            if !extra.contains(key) {
                ports += &format!("{key} = \"{}\"\n", free_addr());
            }
        }
        if !extra.contains("p2p_listen_addrs") {
            let port = free_addr().port();
            ports += &format!("p2p_listen_addrs = [\"/ip4/127.0.0.1/tcp/{port}\"]\n");
        }
        self.config_with_default_ports(&format!("{ports}{extra}"))
    }

    /// A config file with `extra` lines after the required settings, and the default ports.
    fn config_with_default_ports(&self, extra: &str) -> String {
        let path = self.path("node.toml");
        std::fs::write(
            &path,
            format!(
                "settlement_rpc_url = \"http://file.example:8545\"\ndeployment = \"{}\"\ndatadir = \"{}\"\nroles = []\necdsa_keystore = \"{}\"\n{extra}",
                self.path("deployment.json"),
                self.path("data"),
                self.path("ecdsa.key.json"),
            ),
        )
        .unwrap();
        path
    }
}

/// A loopback address on a port the OS has just handed out (and that is free again).
fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

fn check_json(args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["config", "check", "--json"];
    all.extend_from_slice(args);
    let run = avs_node(&all, envs);
    assert!(run.success, "config check failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("JSON output")
}

/// The single error line of a failed run.
fn error_line(args: &[&str], envs: &[(&str, &str)]) -> String {
    let run = avs_node(args, envs);
    assert!(!run.success, "expected a failure, got: {}", run.stdout);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {}", run.stderr);
    lines[0].to_owned()
}

/// The error line of `avs-node config check --config <config> <args>`.
fn check_error(config: &str, args: &[&str]) -> String {
    let mut all = vec!["config", "check", "--config", config];
    all.extend_from_slice(args);
    error_line(&all, &[])
}

#[test]
fn flag_beats_env_beats_file() {
    let setup = Setup::new(31337);
    let (file_metrics, file_api, env_metrics) = (free_addr(), free_addr(), free_addr());
    let config = setup.config(&format!(
        "metrics_addr = \"{file_metrics}\"\nnode_api_addr = \"{file_api}\"\n"
    ));

    let file_only = check_json(&["--config", &config], &[]);
    assert_eq!(file_only["settlementRpc"], "http://file.example:8545/");
    assert_eq!(file_only["metricsAddr"], file_metrics.to_string());
    assert_eq!(file_only["chainId"], 31337);
    assert_eq!(
        file_only["taskManager"],
        format!("{}", alloy::primitives::Address::repeat_byte(19))
    );

    let env_metrics_text = env_metrics.to_string();
    let env = [
        ("AVS_SETTLEMENT_RPC_URL", "ws://env.example:8546"),
        ("AVS_METRICS_ADDR", env_metrics_text.as_str()),
    ];
    let with_env = check_json(&["--config", &config], &env);
    assert_eq!(with_env["settlementRpc"], "ws://env.example:8546/");
    assert_eq!(with_env["metricsAddr"], env_metrics.to_string());
    assert_eq!(
        with_env["nodeApiAddr"],
        file_api.to_string(),
        "unset in env: the file's value"
    );

    let with_flag = check_json(
        &[
            "--config",
            &config,
            "--settlement-rpc-url",
            "https://flag.example/",
        ],
        &env,
    );
    assert_eq!(with_flag["settlementRpc"], "https://flag.example/");
    assert_eq!(with_flag["metricsAddr"], env_metrics.to_string());
    assert_eq!(
        with_flag["attestedRpc"], "https://flag.example/",
        "defaults to the settlement RPC"
    );

    // A separate WebSocket endpoint next to an http(s) one (reth, geth).
    assert_eq!(file_only["settlementWs"], serde_json::Value::Null);
    let with_ws = check_json(
        &[
            "--config",
            &config,
            "--settlement-ws-url",
            "ws://127.0.0.1:8546",
        ],
        &[],
    );
    assert_eq!(with_ws["settlementRpc"], "http://file.example:8545/");
    assert_eq!(with_ws["settlementWs"], "ws://127.0.0.1:8546/");

    // Peer counts: the defaults, or the file's.
    assert_eq!(file_only["targetPeers"], 24);
    assert_eq!(file_only["minPeers"], 4);
    let peers_file = setup.config("p2p_target_peers = 40\np2p_min_peers = 10\n");
    let peers = check_json(&["--config", &peers_file], &[]);
    assert_eq!(
        (peers["targetPeers"].clone(), peers["minPeers"].clone()),
        (40.into(), 10.into())
    );

    // A boolean: off by default, on from the file, off again from the env, on from the flag.
    assert_eq!(file_only["mdns"], false);
    let mdns_file = setup.config("p2p_mdns = true\n");
    assert_eq!(check_json(&["--config", &mdns_file], &[])["mdns"], true);
    let mdns_off = [("AVS_P2P_MDNS", "false")];
    assert_eq!(
        check_json(&["--config", &mdns_file], &mdns_off)["mdns"],
        false
    );
    assert_eq!(
        check_json(&["--config", &mdns_file, "--p2p-mdns"], &mdns_off)["mdns"],
        true
    );
}

#[test]
fn defaults_apply_and_secrets_stay_out_of_the_output() {
    // The only test of this file on the default ports, so none races it for them.
    let setup = Setup::new(31337);
    let config = setup.config_with_default_ports("");
    let run = avs_node(
        &[
            "config",
            "check",
            "--config",
            &config,
            "--settlement-rpc-url",
            "https://user:secret@rpc.example/v2/apikey123?key=abc",
        ],
        &[],
    );
    if run.success {
        for line in [
            "metrics           http://127.0.0.1:9090/metrics",
            "node API          http://127.0.0.1:9010/eigen/node",
        ] {
            assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
        }
    } else {
        // Another program on this machine holds a default port (a Prometheus on 9090): the
        // check names the default address it tried, which shows the default applied too.
        assert!(
            ["127.0.0.1:9090", "127.0.0.1:9010", "/tcp/9777", "/udp/9777"]
                .iter()
                .any(|default| run.stderr.contains(&format!("{default} cannot be bound"))),
            "{}",
            run.stderr
        );
    }
    for secret in ["secret", "apikey123", "abc"] {
        for output in [&run.stdout, &run.stderr] {
            assert!(!output.contains(secret), "{secret} leaked: {output}");
        }
    }
}

#[test]
fn bad_url_is_one_line_naming_the_setting() {
    let setup = Setup::new(31337);
    let config = setup.config("");
    let line = check_error(&config, &["--settlement-rpc-url", "ftp://x"]);
    assert!(
        line.starts_with(
            "error: settlement_rpc_url (--settlement-rpc-url, $AVS_SETTLEMENT_RPC_URL): "
        ),
        "{line}"
    );
    assert!(
        line.contains("ws://127.0.0.1:8546"),
        "names the fix: {line}"
    );
    let line = check_error(&config, &["--settlement-rpc-url", "not a url"]);
    assert!(line.contains("is not a URL"), "{line}");
}

#[test]
fn missing_files_are_one_line() {
    let setup = Setup::new(31337);
    let config = setup.config("");
    let line = check_error(&config, &["--deployment", "/nonexistent/deployment.json"]);
    assert!(
        line.contains("deployment (--deployment, $AVS_DEPLOYMENT)"),
        "{line}"
    );
    assert!(line.contains("/nonexistent/deployment.json"), "{line}");
    assert!(line.ends_with("check the path or deploy first"), "{line}");
    let line = error_line(
        &["config", "check", "--config", "/nonexistent/node.toml"],
        &[],
    );
    assert!(
        line.contains("--config: cannot read /nonexistent/node.toml"),
        "{line}"
    );
}

/// `config check` used to report success with a missing keystore, a file that is not one, a
/// wrong password (`--online`) or a port in use; each is now its one-line error.
#[test]
fn check_opens_the_keystores_and_binds_the_ports() {
    let setup = Setup::new(31337);
    let config = setup.config("");
    let missing = check_error(&config, &["--ecdsa-keystore", "/nonexistent/k.json"]);
    assert!(
        missing.contains("ECDSA keystore /nonexistent/k.json not found"),
        "{missing}"
    );
    std::fs::write(setup.path("empty.json"), "{}").unwrap();
    let empty = check_error(&config, &["--ecdsa-keystore", &setup.path("empty.json")]);
    assert!(empty.contains("is not an encrypted keystore"), "{empty}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let in_use = check_error(&config, &["--metrics-addr", &addr]);
    assert!(
        in_use.contains(&format!("metrics_addr {addr} cannot be bound")),
        "{in_use}"
    );
    // `--online` decrypts: a wrong password is caught before any network access.
    std::fs::write(setup.path("wrong-password"), "not-the-password").unwrap();
    let wrong = check_error(
        &config,
        &[
            "--online",
            "--ecdsa-password-file",
            &setup.path("wrong-password"),
        ],
    );
    assert!(
        wrong.contains("wrong password for the ECDSA keystore"),
        "{wrong}"
    );
}

/// Outside devnets the running node pays with a gas wallet of its own, never with the
/// EigenLayer operator's key: `run` refuses to start without `wallet_keystore`.
#[test]
fn run_needs_a_gas_wallet_outside_devnets() {
    let setup = Setup::new(1);
    let config = setup.config("");
    let bls = setup.path("op.bls.key.json");
    let line = error_line(
        &[
            "run",
            "--config",
            &config,
            "--roles",
            "operator",
            "--bls-keystore",
            &bls,
        ],
        &[],
    );
    assert!(
        line.contains(
            "wallet_keystore (--wallet-keystore, $AVS_WALLET_KEYSTORE): missing: a gas wallet pays"
        ),
        "{line}"
    );
}

/// A port in use stops `run` with the OS reason before the data directory is written.
#[test]
fn run_with_a_port_in_use_writes_nothing() {
    let setup = Setup::new(31337);
    let config = setup.config("");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let p2p = format!("/ip4/127.0.0.1/tcp/{port}");
    let line = error_line(
        &["run", "--config", &config, "--p2p-listen-addrs", &p2p],
        &[],
    );
    assert!(
        line.contains(&format!("p2p listen address {p2p} cannot be bound"))
            && line.to_lowercase().contains("address already in use"),
        "{line}"
    );
    assert!(
        !std::path::Path::new(&setup.path("data")).exists(),
        "the data directory was written"
    );
}

#[test]
fn validation_names_the_field_and_the_fix() {
    let setup = Setup::new(31337);
    let unknown = setup.config("metrics_adr = \"127.0.0.1:1\"\n");
    let line = error_line(&["config", "check", "--config", &unknown], &[]);
    assert!(line.contains("unknown field `metrics_adr`"), "{line}");

    let config = setup.config("");
    // The flags of one bad setting, and every fragment its error line must name.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--confirmations", "64"],
            &[
                "confirmations (--confirmations, $AVS_CONFIRMATIONS): 64 must be below reorg_window (64)",
            ],
        ),
        (
            &["--roles", "operator"],
            &["bls_keystore (--bls-keystore, $AVS_BLS_KEYSTORE): missing"],
        ),
        (
            &[
                "--metrics-addr",
                "127.0.0.1:9010",
                "--node-api-addr",
                "127.0.0.1:9010",
            ],
            &["also the metrics address"],
        ),
        (
            &["--ecdsa-private-key", "0x01"],
            &["conflicts with ecdsa_keystore"],
        ),
        (
            &["--max-fee-gwei", "0"],
            &["must be above 0 (omit it for the default of 200 gwei)"],
        ),
        (
            &["--attest-depth", "latest"],
            &[
                "attest_depth (--attest-depth, $AVS_ATTEST_DEPTH): `latest` is not `finalized`, `safe` or a number of blocks",
            ],
        ),
        (
            &["--state-root-verification", "on"],
            &[
                "state_root_verification (--state-root-verification, $AVS_STATE_ROOT_VERIFICATION): `on` is not a state-root verification mode (off, best_effort, required)",
            ],
        ),
        // settlement_ws_url must be a WebSocket URL, next to an http(s) settlement_rpc_url.
        (
            &["--settlement-ws-url", "http://127.0.0.1:8546"],
            &["\"http://127.0.0.1:8546\" is not a ws(s):// endpoint"],
        ),
        (
            &[
                "--settlement-rpc-url",
                "ws://127.0.0.1:8546",
                "--settlement-ws-url",
                "ws://127.0.0.1:8546",
            ],
            &["settlement_rpc_url is a WebSocket endpoint already"],
        ),
        // Multiaddresses are parsed when the config is read, not when the swarm starts.
        (
            &["--p2p-listen-addrs", "/ip4/999.0.0.1/tcp/9777"],
            &["\"/ip4/999.0.0.1/tcp/9777\" is not a multiaddress"],
        ),
        (
            &["--bootnodes", "/ip4/10.0.0.1/tcp/9777"],
            &["has no /p2p/<peer id>"],
        ),
        // Peer counts: a target of at least one, a minimum not above it.
        (
            &["--p2p-target-peers", "0"],
            &["p2p_target_peers (--p2p-target-peers, $AVS_P2P_TARGET_PEERS): must be at least 1"],
        ),
        (
            &["--p2p-target-peers", "8", "--p2p-min-peers", "9"],
            &["p2p_min_peers", "9 exceeds p2p_target_peers (8)"],
        ),
        (
            &["--p2p-target-peers", "97"],
            &[
                "p2p_target_peers",
                "97 exceeds the 96 connections a node keeps",
            ],
        ),
        // attested_retention_blocks belongs to two-chain mode and has a range.
        (
            &["--attested-retention-blocks", "600"],
            &[
                "attested_retention_blocks",
                "only applies in two-chain mode",
            ],
        ),
        (
            &[
                "--attested-rpc-url",
                "ws://127.0.0.1:9546",
                "--attested-retention-blocks",
                "0",
            ],
            &["0 is out of range: use 1..=10000000 blocks"],
        ),
        // The attested chain's endpoint is checked like the settlement chain's (two-chain mode).
        (
            &["--attested-rpc-url", "ftp://127.0.0.1:8545"],
            &[
                "attested_rpc_url",
                "is not an http(s):// or ws(s):// endpoint",
            ],
        ),
    ];
    for (args, fragments) in cases {
        let line = check_error(&config, args);
        for fragment in *fragments {
            assert!(line.contains(fragment), "{args:?}: {line}");
        }
    }
}

#[test]
fn plaintext_keys_need_insecure_and_a_devnet() {
    let devnet = Setup::new(31337);
    // DEVNET TEST KEY: anvil's well-known, public first development account.
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let args = |config: &str| -> Vec<String> {
        [
            "config",
            "check",
            "--json",
            "--config",
            config,
            "--roles",
            "task-generator",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    };
    let config = devnet.config("");
    // Drop the keystore from the file so only the plaintext key is given.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.lines()
            .filter(|l| !l.starts_with("ecdsa_keystore"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let a = args(&config);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();

    let line = error_line(&a, &[("AVS_ECDSA_PRIVATE_KEY", key)]);
    assert!(line.contains("plaintext keys need --insecure"), "{line}");

    let mut insecure = a.clone();
    insecure.push("--insecure");
    let ok = avs_node(&insecure, &[("AVS_ECDSA_PRIVATE_KEY", key)]);
    assert!(ok.success, "{}", ok.stderr);
    assert!(
        ok.stdout.contains("plaintext key (--insecure)"),
        "{}",
        ok.stdout
    );
    assert!(!ok.stdout.contains("ac0974bec"), "the key is never printed");

    let mainnet = Setup::new(1);
    let config = mainnet.config("");
    let line = check_error(&config, &["--insecure"]);
    assert!(
        line.contains("plaintext keys are refused on chain 1"),
        "{line}"
    );
}

/// `avs-node <args>` fails and its stderr contains `expected`.
fn fails_with(args: &[&str], expected: &str) {
    let run = avs_node(args, &[]);
    assert!(!run.success, "{args:?} succeeded: {}", run.stdout);
    assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
}

#[test]
fn unknown_options_fail_with_usage() {
    fails_with(
        &["config", "check", "--no-such-flag"],
        "unexpected argument '--no-such-flag'",
    );
    fails_with(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
}

#[test]
fn attest_depth_is_a_tag_or_a_number_in_the_file_and_as_a_flag() {
    use avs_node::config::{AttestDepthOption, NodeOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    for (line, expected) in [
        ("attest_depth = 12", AttestDepthOption::Blocks(12)),
        (
            "attest_depth = \"finalized\"",
            AttestDepthOption::Named("finalized".into()),
        ),
    ] {
        let path = dir.path().join("node.toml");
        std::fs::write(&path, line).expect("write");
        let options = NodeOptions::from_file(&path).expect("parses");
        assert_eq!(options.attest_depth, Some(expected), "{line}");
    }
    assert_eq!("7".parse(), Ok(AttestDepthOption::Blocks(7)));
    assert_eq!("safe".parse(), Ok(AttestDepthOption::Named("safe".into())));
}

/// Two processes on one data directory could sign two responses to one task: `run` refuses to
/// start while another process holds the directory's lock, naming it, and starts once it is
/// free (here it then stops at the next check, a node without the operator role).
#[test]
fn run_refuses_a_data_directory_another_process_holds() {
    let setup = Setup::new(31337);
    let config = setup.config("");
    let held = avs_node::datadir::DataDirLock::acquire(std::path::Path::new(&setup.path("data")))
        .expect("this test process takes the lock");
    let line = error_line(&["run", "--config", &config], &[]);
    assert!(
        line.contains(&format!(
            "data directory {} is in use by process {} (another avs-node)",
            setup.path("data"),
            std::process::id()
        )),
        "{line}"
    );
    drop(held);
    let line = error_line(&["run", "--config", &config], &[]);
    assert!(line.contains("needs the operator role"), "{line}");
}

#[test]
fn example_configs_parse() {
    use avs_node::config::{NodeOptions, Role};
    let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    let example = NodeOptions::from_file(&etc.join("node.example.toml")).expect("example parses");
    assert_eq!(
        example.settlement_rpc_url.as_deref(),
        Some("http://127.0.0.1:8545")
    );
    assert_eq!(
        example.settlement_ws_url.as_deref(),
        Some("ws://127.0.0.1:8546")
    );
    assert_eq!(example.roles, Some(vec![Role::Operator]));
    assert_eq!(example.metrics_addr.as_deref(), Some("127.0.0.1:9090"));
    let devnet =
        NodeOptions::from_file(&etc.join("devnet/node.toml")).expect("devnet config parses");
    assert_eq!(devnet.insecure, Some(true));
    assert_eq!(
        devnet.roles,
        Some(vec![Role::Operator, Role::TaskGenerator])
    );
}

/// The slashing-protection record of [`Setup`]'s deployment (task manager `0x1313…` on chain
/// 31337), for `slashing-protection export|import`.
mod slashing_protection {
    use super::*;
    use alloy::primitives::{Address, B256};
    use avs_bls::SecretKey;
    use avs_checkpoint::{
        Interchange, Signing, SlashingProtectionStore, StoreError, TaskKey, TaskManagerId,
    };
    use std::path::{Path, PathBuf};

    const DEPLOYMENT: TaskManagerId = TaskManagerId {
        chain_id: 31337,
        task_manager: Address::repeat_byte(19),
    };

    fn key(task_index: u32) -> TaskKey {
        TaskKey {
            chain_id: DEPLOYMENT.chain_id,
            task_manager: DEPLOYMENT.task_manager,
            task_index,
            task_hash: B256::with_last_byte(u8::try_from(task_index).expect("small")),
        }
    }

    fn digest(task_index: u32) -> B256 {
        B256::repeat_byte(0x40 + u8::try_from(task_index).expect("small"))
    }

    fn store_path(data: &Path) -> PathBuf {
        data.join(avs_node::datadir::SLASHING_PROTECTION_FILE)
    }

    /// Runs `work` on the store of data directory `data` (created if needed).
    fn with_store<T>(data: &Path, work: impl AsyncFnOnce(&SlashingProtectionStore) -> T) -> T {
        std::fs::create_dir_all(data).expect("data directory");
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                let store = SlashingProtectionStore::open(store_path(data))
                    .await
                    .expect("open the store");
                work(&store).await
            })
    }

    /// An old node that signed `indices` and raised its watermark to `watermark`.
    fn signed(data: &Path, indices: std::ops::Range<u32>, watermark: u32) {
        let secret = SecretKey::generate();
        with_store(data, async |store| {
            for index in indices {
                store
                    .sign_once(key(index), digest(index), |d| secret.sign(d))
                    .await
                    .expect("sign");
            }
            store
                .raise_watermark(DEPLOYMENT, watermark)
                .await
                .expect("raise");
        });
    }

    fn success(args: &[&str]) -> String {
        let run = avs_node(args, &[]);
        assert!(run.success, "{args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// The migration an operator does: export from the stopped old node, wipe it, import into
    /// the new node's data directory. The new node re-sends the old node's signatures, refuses
    /// another response to a task the old node signed, and never signs below the watermark.
    #[test]
    fn export_wipe_import_moves_the_record_to_a_fresh_data_directory() {
        let setup = Setup::new(31337);
        let config = setup.config("");
        let data = PathBuf::from(setup.path("data"));
        signed(&data, 0..3, 1);
        let (recorded, signature) =
            with_store(&data, async |store| store.get(&key(2)).expect("recorded"));

        let exported = setup.path("exported.json");
        let stdout = success(&[
            "slashing-protection",
            "export",
            "--config",
            &config,
            "--output",
            &exported,
        ]);
        assert_eq!(
            stdout.trim(),
            format!("exported 2 signed tasks of {DEPLOYMENT}, low watermark 1, to {exported}")
        );
        let text = std::fs::read_to_string(&exported).expect("exported file");
        let to_stdout = success(&["slashing-protection", "export", "--config", &config]);
        assert_eq!(to_stdout.trim(), text.trim(), "`--output -` is the default");
        let interchange = Interchange::from_json(&text).expect("a valid interchange file");
        assert_eq!(interchange.metadata.low_watermark, 1);
        assert_eq!(
            interchange
                .tasks
                .iter()
                .map(|task| task.task_index)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );

        std::fs::remove_dir_all(&data).expect("wipe the old node");
        let import = [
            "slashing-protection",
            "import",
            &exported,
            "--config",
            &config,
        ];
        let stdout = success(&import);
        assert!(
            stdout.starts_with(&format!(
                "imported 2 signed tasks into {} (0 already present, 0 below the low watermark); \
                 low watermark 1 (was 0)",
                store_path(&data).display()
            )),
            "{stdout}"
        );
        let again = success(&import);
        assert!(again.starts_with("imported 0 signed tasks"), "{again}");
        assert!(again.contains("(2 already present"), "{again}");

        with_store(&data, async |store| {
            let resend = store
                .sign_once(key(2), recorded, |_| panic!("must not re-sign"))
                .await;
            assert_eq!(resend.expect("re-sent"), Signing::Resend(signature));
            let conflict = store
                .sign_once(key(2), digest(9), |_| panic!("must not sign"))
                .await;
            assert!(
                matches!(conflict, Err(StoreError::Conflict { .. })),
                "{conflict:?}"
            );
            let below = store
                .sign_once(key(0), digest(0), |_| panic!("must not sign"))
                .await;
            assert!(
                matches!(below, Err(StoreError::BelowWatermark { watermark: 1, .. })),
                "{below:?}"
            );
        });
    }

    /// Import refuses, writing nothing: a data directory a running node holds, a malformed file
    /// (naming the line and the field), another response to a recorded task, another
    /// deployment's file.
    #[test]
    fn import_refuses_a_held_directory_a_malformed_file_and_conflicts() {
        let setup = Setup::new(31337);
        let config = setup.config("");
        let data = PathBuf::from(setup.path("data"));
        signed(&data, 1..2, 0);
        let exported = setup.path("exported.json");
        success(&[
            "slashing-protection",
            "export",
            "--config",
            &config,
            "--output",
            &exported,
        ]);
        let text = std::fs::read_to_string(&exported).expect("exported file");
        let before = std::fs::read(store_path(&data)).expect("store file");
        let import = |file: &str| {
            error_line(
                &["slashing-protection", "import", file, "--config", &config],
                &[],
            )
        };

        let held = avs_node::datadir::DataDirLock::acquire(&data).expect("held by this test");
        let line = import(&exported);
        assert!(
            line.contains(&format!(
                "data directory {} is in use by process {}",
                data.display(),
                std::process::id()
            )),
            "{line}"
        );
        let line = error_line(&["slashing-protection", "export", "--config", &config], &[]);
        assert!(line.contains("is in use by process"), "export too: {line}");
        drop(held);

        // A cut-short digest and a missing field: the line and the field are named.
        let recorded = format!("{}", digest(1));
        let malformed = setup.path("malformed.json");
        std::fs::write(&malformed, text.replace(&recorded, "0x4141")).expect("write");
        let line_number = text
            .lines()
            .position(|l| l.contains(&recorded))
            .expect("the digest's line")
            + 1;
        let line = import(&malformed);
        assert!(
            line.contains(&format!(
                "{malformed} is not a slashing-protection interchange file: line {line_number} column"
            )) && line.contains("at `tasks[0].signed_digest`"),
            "{line}"
        );
        let missing: String = text
            .lines()
            .filter(|l| !l.contains("signed_digest"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&malformed, missing).expect("write");
        let line = import(&malformed);
        assert!(
            line.contains("at `tasks[0]`: missing field `signed_digest`"),
            "{line}"
        );

        // Another digest for task 1: refused as a whole.
        let conflicting = setup.path("conflicting.json");
        std::fs::write(
            &conflicting,
            text.replace(&recorded, &format!("{}", digest(9))),
        )
        .expect("write");
        let line = import(&conflicting);
        assert!(
            line.contains(&format!(
                "import refused, nothing written: task 1 (hash {}) is recorded here with digest \
                 {recorded}, but the file has {}",
                key(1).task_hash,
                digest(9)
            )),
            "{line}"
        );

        // Another deployment's file.
        let foreign = setup.path("foreign.json");
        let other = format!("{}", Address::repeat_byte(20));
        std::fs::write(
            &foreign,
            text.replace(&format!("{}", DEPLOYMENT.task_manager), &other),
        )
        .expect("write");
        let line = import(&foreign);
        assert!(
            line.contains(&format!(
                "the file is for task manager {other} on chain 31337, but this node's deployment \
                 is {DEPLOYMENT}"
            )),
            "{line}"
        );
        assert_eq!(
            std::fs::read(store_path(&data)).expect("store file"),
            before,
            "nothing was written"
        );
    }
}

/// `avs-node devnet` (feature `devnet`) refuses inconsistent arguments before any work.
#[cfg(feature = "devnet")]
#[test]
fn devnet_arguments_are_checked_before_any_work() {
    // Faulty signers on an attested chain could never be challenged: refused before any work.
    fails_with(
        &["devnet", "--attested-chain", "--faulty", "1"],
        "the argument '--attested-chain' cannot be used with '--faulty <FAULTY>'",
    );
    // --attested-port needs --attested-chain.
    fails_with(&["devnet", "--attested-port", "9000"], "--attested-chain");
    // Generators are operator nodes (checked before the devnet folder is touched).
    fails_with(
        &[
            "devnet",
            "--operators",
            "1",
            "--generators",
            "2",
            "--dir",
            "/nonexistent/devnet",
        ],
        "--generators 2 exceeds --operators 1",
    );
    fails_with(&["devnet", "--generators", "0"], "0 is not in 1..");
    // The experiment knobs: stakes, per-node RPC overrides, the operator count.
    let dir = ["--dir", "/nonexistent/devnet"];
    fails_with(
        &[
            "devnet",
            "--operators",
            "3",
            "--stakes",
            "10,20",
            dir[0],
            dir[1],
        ],
        "--stakes lists 2 stakes for 3 operators",
    );
    fails_with(
        &["devnet", "--stakes", "10,ten"],
        "\"ten\" is not a whole number of tokens",
    );
    fails_with(&["devnet", "--stakes", "10,0"], "stake of 0 tokens");
    fails_with(
        &[
            "devnet",
            "--operators",
            "2",
            "--node-rpc-url",
            "2=http://127.0.0.1:1",
            dir[0],
            dir[1],
        ],
        "--node-rpc-url names node 2, but there are 2",
    );
    fails_with(
        &[
            "devnet",
            "--operators",
            "2",
            "--node-rpc-url",
            "1=http://127.0.0.1:1",
            "--node-rpc-url",
            "1=http://127.0.0.1:2",
            dir[0],
            dir[1],
        ],
        "--node-rpc-url names node 1 twice",
    );
    fails_with(
        &["devnet", "--node-rpc-url", "1=ftp://x"],
        "is not an http(s):// or ws(s):// URL",
    );
    fails_with(&["devnet", "--node-rpc-url", "http://x"], "is not I=URL");
    fails_with(&["devnet", "--operators", "101"], "101 is not in 1..=100");
    fails_with(
        &[
            "devnet",
            "--operators",
            "2",
            "--stakes",
            "40000000000,40000000000",
            dir[0],
            dir[1],
        ],
        "the stake registry holds at most 79228162514 in all",
    );
    // Operators without a node: their stake must leave the nodes a quorum.
    fails_with(
        &[
            "devnet",
            "--operators",
            "2",
            "--stakes",
            "10,10",
            "--offline-operators",
            "11",
            dir[0],
            dir[1],
        ],
        "the nodes' stake (20 tokens) is 64.5 % of the operator set's 31: below the 66 % quorum threshold",
    );
    fails_with(
        &["devnet", "--offline-operators", "2001"],
        "2001 is not in 0..=2000",
    );
    fails_with(&["devnet", "--offline-stake", "0"], "0 is not in 1..");
}
