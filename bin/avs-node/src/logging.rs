//! Logging with `tracing-subscriber`: human-readable by default, one JSON object per line with
//! `--log-format json` (for log shippers). The filter comes from `RUST_LOG` when set (full
//! `EnvFilter` syntax, e.g. `avs_p2p=debug,info`), otherwise from `--log-level` / `-v`.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use tracing_subscriber::{EnvFilter, fmt};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, with colours only when stderr is a terminal.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// The filter directive for `--log-level` raised by `verbosity` steps of `-v`.
pub fn level_directive(level: Option<&str>, verbosity: u8) -> String {
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    let base = level.unwrap_or("info");
    match LEVELS.iter().position(|l| l.eq_ignore_ascii_case(base)) {
        Some(index) => LEVELS[(index + usize::from(verbosity)).min(LEVELS.len() - 1)].to_owned(),
        // A full directive such as `avs_p2p=debug,info` is passed through unchanged.
        None => base.to_owned(),
    }
}

/// Installs the global subscriber; logs go to stderr so command output on stdout stays clean.
pub fn init(format: LogFormat, level: Option<&str>, verbosity: u8) -> eyre::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives).map_err(
            |e| eyre::eyre!("RUST_LOG={directives:?} is not a valid filter ({e}): use e.g. `info` or `avs_p2p=debug,info`"),
        )?,
        _ => {
            let directive = level_directive(level, verbosity);
            EnvFilter::try_new(&directive).map_err(|e| {
                eyre::eyre!("--log-level {directive:?} is not valid ({e}): use error, warn, info, debug or trace")
            })?
        }
    };
    // Colour codes only on a terminal: in a log file or a journal they are noise.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| eyre::eyre!("installing the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_the_level_and_saturates() {
        assert_eq!(level_directive(None, 0), "info");
        assert_eq!(level_directive(None, 1), "debug");
        assert_eq!(level_directive(Some("warn"), 1), "info");
        assert_eq!(level_directive(Some("INFO"), 9), "trace");
        assert_eq!(
            level_directive(Some("avs_p2p=debug,info"), 2),
            "avs_p2p=debug,info"
        );
    }
}
