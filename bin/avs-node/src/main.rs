//! `avs-node`: the one binary of avs-exex.
//!
//! It will wire the ExEx host, the AVS ExEx, the p2p network, metrics and the Node API into
//! one process. Subcommands are added as the components land; see the README's status.

use clap::Parser;

/// An EigenLayer AVS that runs as an execution extension of an Ethereum node.
#[derive(Debug, Parser)]
#[command(name = "avs-node", version, about)]
struct Cli {}

fn main() -> eyre::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
