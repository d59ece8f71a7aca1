//! Shared helpers: run the built binary, write a deployment file, run a devnet.

#![allow(dead_code, unreachable_pub)]

use alloy::primitives::Address;
use avs_contracts::{
    deployment::{AvsContracts, DeployConfig, Deployment, FORMAT_VERSION},
    eigenlayer::EigenLayerContracts,
};
use std::{path::Path, process::Command};

pub mod devnet;

/// The output of one run of `avs-node`.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The built binary, with no inherited AVS_* settings.
fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_avs-node"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AVS_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
}

/// Runs the built binary with `args` and `envs`, with no inherited AVS_* settings.
pub fn avs_node(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let output = command()
        .args(args)
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the avs-node binary runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes a deployment file for `chain_id` with placeholder addresses.
pub fn write_deployment(path: &Path, chain_id: u64) {
    let a = |n: u8| Address::repeat_byte(n);
    let deployment = Deployment {
        format_version: FORMAT_VERSION,
        chain_id,
        deployment_block: 1,
        eigenlayer_version: avs_contracts::eigenlayer::CORE_VERSION.to_owned(),
        eigenlayer: EigenLayerContracts {
            proxy_admin: a(1),
            empty_contract: a(2),
            pauser_registry: a(3),
            delegation_manager: a(4),
            strategy_manager: a(5),
            avs_directory: a(6),
            allocation_manager: a(7),
            eigen_pod_manager: a(8),
            permission_controller: a(9),
            registry_coordinator: a(10),
            bls_apk_registry: a(11),
            stake_registry: a(12),
            index_registry: a(13),
            operator_state_retriever: a(14),
            socket_registry: a(15),
            token: a(16),
            strategy: a(17),
        },
        avs: AvsContracts {
            service_manager: a(18),
            task_manager: a(19),
            slasher: a(21),
        },
        params: DeployConfig::devnet(a(20)),
        steps: Vec::new(),
    };
    deployment.save(path).expect("deployment file written");
}

/// A running `avs-node` whose stderr lines can be awaited; killed when dropped.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    /// Starts the built binary with `args`.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = command()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the avs-node binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first stderr line containing `needle`, within `timeout`; panics with every line
    /// seen otherwise.
    pub fn wait_line(&self, needle: &str, timeout: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}; stderr:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
