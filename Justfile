# avs-exex tasks. `just --list` explains each recipe; `just devnet` and `just test` are the two
# commands of the README. Recipes that need anvil/forge/cast/solc install them first (`tools`).

set shell := ["bash", "-euo", "pipefail", "-c"]

# The pinned tools come first on PATH for every recipe.
export PATH := justfile_directory() / ".tools/bin" + ":" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Install the pinned anvil/forge/cast 1.7.1, solcjs, OpenZeppelin and solidity-merkle-trees into .tools/ (idempotent).
tools:
    @bash tools/install.sh

# Install the pinned Ethereum execution specification (Python) into .tools/spec-venv: the oracle of the stateless re-execution tests (idempotent).
spec:
    @bash tools/install-spec.sh

# Build every crate and target (debug), `avs-node devnet` included.
build:
    cargo build --workspace --all-targets --features avs-node/devnet

# Compile the Solidity contracts and check the Rust bindings' committed artifacts are current.
contracts: tools
    cd contracts && forge build
    bash contracts/artifacts.sh check

# Recompile the contracts and refresh the artifacts the Rust bindings are generated from.
contracts-export: tools
    cd contracts && forge build
    bash contracts/artifacts.sh export

# Everything CI checks: formatting, clippy, contract artifacts, forge tests, Rust tests.
test: tools spec lint contracts
    cd contracts && forge test
    cargo test --workspace --all-targets --features avs-node/devnet
    cargo test --workspace --doc

# Formatting and lints (rustfmt, clippy with warnings as errors, forge fmt).
lint: tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --features avs-node/devnet -- -D warnings
    cargo clippy -p avs-node -- -D warnings
    cd contracts && forge fmt --check

# Run a local devnet: anvil, EigenLayer + AVS contracts, N operator nodes finalizing checkpoints.
# The dev profile is used on purpose: its crypto dependencies are optimised (Cargo.toml), and it
# shares the build `just test` made instead of a long release build of the whole tree.
devnet operators="4": tools
    cargo build -p avs-node --features devnet
    ./target/debug/avs-node devnet --operators {{operators}}

# Simulate N operator nodes gossiping signatures to a quorum in one process (release build), e.g.
# `just sim 1000`, `just sim 256 --stakes zipf --offline 0.1 --rogue 0.05 --latency-ms 50`.
sim operators="64" *options="":
    cargo run --release -p avs-p2p --example sim -- --operators {{operators}} {{options}}

# Run the criterion benches and the forge gas report (figures go in BENCHMARKS.md).
bench: tools
    cargo bench --workspace
    cd contracts && forge test --gas-report

# Remove build outputs, the installed tools and devnet state.
clean:
    cargo clean
    rm -rf .tools devnet contracts/out contracts/cache
