//! The command tree. Each subcommand lives in its own module and is one variant of
//! [`Command`]; adding a command is one variant and one match arm in [`Command::run`].
//! Commands that run the node take [`NodeArgs`] (`--config` plus every [`NodeOptions`] flag).

use crate::{
    config::{NodeConfig, NodeOptions},
    config_check::ConfigCommand,
    keys::KeysCommand,
    logging::LogFormat,
    operator_cmd::OperatorCommand,
    proof_cmd::ProofCommand,
    slashing_protection_cmd::SlashingProtectionCommand,
    task_cmd::TaskCommand,
};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// An EigenLayer AVS that runs as an execution extension of an Ethereum node: it attests
/// checkpoints, BLS-signs them, gossips signatures and submits stake-weighted aggregates.
#[derive(Debug, Parser)]
#[command(name = "avs-node", version, about, propagate_version = true)]
pub struct Cli {
    /// Logging options (valid before or after the subcommand).
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Logging options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log line format.
    #[arg(long = "log-format", global = true, env = "AVS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub format: LogFormat,
    /// Log level or filter directive (RUST_LOG wins when set).
    #[arg(
        long = "log-level",
        global = true,
        env = "AVS_LOG_LEVEL",
        value_name = "LEVEL"
    )]
    pub level: Option<String>,
    /// More verbose logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator node: follow the chain, sign checkpoints, gossip, aggregate, submit.
    Run(crate::run::RunArgs),
    /// Run a local network: anvil, EigenLayer + AVS contracts, N operator nodes.
    #[cfg(feature = "devnet")]
    Devnet(crate::devnet::DevnetArgs),
    /// Inspect and validate the node configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create, import, show and list operator keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register, deregister and inspect the operator with EigenLayer and the AVS.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// List and inspect tasks; challenge a wrong response.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Prove an account, storage slot or receipt of an attested chain against a finalized
    /// checkpoint, as a consumer contract takes it.
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Export and import the slashing-protection record (moving an operator to another node).
    #[command(subcommand)]
    SlashingProtection(SlashingProtectionCommand),
}

impl Command {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Run(args) => args.run().await,
            #[cfg(feature = "devnet")]
            Self::Devnet(args) => args.run().await,
            Self::Config(command) => command.run().await,
            // Prompts and scrypt block: keep them off the async workers.
            Self::Keys(command) => {
                tokio::task::spawn_blocking(move || crate::keys::run(command)).await?
            }
            Self::Operator(command) => command.run().await,
            Self::Task(command) => command.run().await,
            Self::Proof(command) => command.run().await,
            Self::SlashingProtection(command) => command.run().await,
        }
    }
}

/// The node's settings: a TOML file and flags/environment variables that override it.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// TOML config file; flags and AVS_* environment variables override its values.
    #[arg(long, env = "AVS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node settings.
    #[command(flatten, next_help_heading = "Node")]
    pub options: NodeOptions,
}

impl NodeArgs {
    /// Merges and validates.
    pub fn load(self) -> Result<NodeConfig, crate::config::ConfigError> {
        NodeConfig::load(self.options, self.config.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        // Catches duplicate flags between flattened argument groups, bad defaults, etc.
        Cli::command().debug_assert();
    }

    #[test]
    fn logging_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "avs-node",
            "keys",
            "bls",
            "list",
            "--log-format",
            "json",
            "-vv",
        ])
        .unwrap();
        assert_eq!(cli.log.format, LogFormat::Json);
        assert_eq!(cli.log.verbose, 2);
    }
}
