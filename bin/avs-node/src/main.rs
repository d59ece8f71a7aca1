//! `avs-node`: parses the command line, sets up logging and runs the command. Every failure
//! ends as one line on stderr and a non-zero exit code.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = avs_node::cli::Cli::parse();
    if let Err(e) =
        avs_node::logging::init(cli.log.format, cli.log.level.as_deref(), cli.log.verbose)
    {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match cli.command.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error chain joined, so the cause and the fix stay together.
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
