//! Test support for avs-exex: finds the pinned foundry tools and runs anvil for tests.
//!
//! The project installs its own tools into `.tools/` (`just tools`). Every test that needs a
//! chain goes through [`anvil`] so that tool lookup is the same everywhere:
//!
//! 1. the `ANVIL` environment variable, if set (a path to the binary);
//! 2. `<workspace>/.tools/bin/anvil`;
//! 3. `anvil` on `PATH`.
//!
//! If none exists the test fails with an error that says to run `just tools`; it never passes
//! silently. The returned [`AnvilInstance`] kills the process when dropped, including while a
//! test unwinds from a panic, so no anvil outlives its test.
//!
//! ```no_run
//! let anvil = avs_test_support::anvil().spawn();
//! println!("{}", anvil.endpoint());
//! ```

use std::path::{Path, PathBuf};

pub use alloy::node_bindings::{Anvil, AnvilInstance};

/// A required tool could not be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{tool}` not found (looked at ${env_var}, {tools_path} and PATH): run `just tools` to install the pinned tools"
)]
pub struct ToolNotFound {
    /// The tool's binary name.
    pub tool: &'static str,
    /// The environment variable that overrides the lookup.
    pub env_var: &'static str,
    /// Where the project installs the tool.
    pub tools_path: String,
}

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives at `<root>/crates/test-support`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// Locates a pinned tool: `$ENV_VAR`, then `.tools/bin/<tool>`, then `PATH`.
pub fn find_tool(tool: &'static str, env_var: &'static str) -> Result<PathBuf, ToolNotFound> {
    if let Some(path) = std::env::var_os(env_var).map(PathBuf::from)
        && path.is_file()
    {
        return Ok(path);
    }
    let pinned = workspace_root().join(".tools/bin").join(tool);
    if pinned.is_file() {
        return Ok(pinned);
    }
    if let Some(found) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
    {
        return Ok(found);
    }
    Err(ToolNotFound {
        tool,
        env_var,
        tools_path: pinned.display().to_string(),
    })
}

/// Path of the anvil binary used by tests; see the crate docs for the lookup order.
pub fn anvil_path() -> Result<PathBuf, ToolNotFound> {
    find_tool("anvil", "ANVIL")
}

/// An anvil builder bound to the pinned binary on a free loopback port.
///
/// # Panics
/// If anvil cannot be found, with a message that says to run `just tools`.
pub fn anvil() -> Anvil {
    let path = anvil_path().unwrap_or_else(|err| panic!("{err}"));
    // Port 0 lets the OS pick a free port; alloy reads the real one from anvil's banner.
    Anvil::at(path).port(0u16)
}

/// The genesis block number of chains that run EigenLayer (the devnet's too: `avs-node devnet`
/// uses the same value). EigenLayer's slashing-era DelegationManager reads `block.number -
/// MIN_WITHDRAWAL_DELAY_BLOCKS` when it slashes, which underflows (reverts) on a chain younger
/// than the withdrawal delay (mainnet's 50,400 blocks); a chain that starts past it slashes as
/// mainnet does.
pub const EIGENLAYER_GENESIS_BLOCK: u64 = 100_000;

/// [`anvil`] with its chain starting at [`EIGENLAYER_GENESIS_BLOCK`]: for chains EigenLayer is
/// deployed on.
pub fn eigenlayer_anvil() -> Anvil {
    anvil().args(["--number", &EIGENLAYER_GENESIS_BLOCK.to_string()])
}

/// Whether a `harness = false` bench runs under `cargo bench`, which passes `--bench`. Under
/// `cargo test --all-targets` the same binary runs without it, and a bench should then make one
/// smoke run on small inputs: the tests keep its code working without paying for the
/// measurement.
pub fn bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}
