//! `avs-node slashing-protection export|import`: moves an operator's slashing-protection record
//! between nodes in the interchange format ([`avs_checkpoint::Interchange`]; the README shows it).
//!
//! Both commands take the data directory's lock, so both refuse while a node runs on it: an
//! import rewrites the record the running node signs through, and an export of a node that is
//! still signing is stale the moment it is written (migrating an operator means stopping the old
//! node first). Both read the node's configuration for the data directory and for the task
//! manager the record belongs to; neither contacts a chain nor decrypts a key.

use crate::{
    cli::NodeArgs,
    config::NodeConfig,
    datadir::{self, DataDirLock},
    output,
};
use avs_checkpoint::{Interchange, SlashingProtectionStore, TaskManagerId};
use clap::Subcommand;
use eyre::{WrapErr, bail};
use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

/// `avs-node slashing-protection …`.
#[derive(Debug, Subcommand)]
pub enum SlashingProtectionCommand {
    /// Write this node's record (its low watermark and every task it signed above it) as an
    /// interchange JSON file. The node must be stopped.
    Export {
        /// The node's settings (data directory, deployment).
        #[command(flatten)]
        node: NodeArgs,
        /// Where to write the file (`-`: stdout).
        #[arg(long, short, value_name = "FILE|-", default_value = "-")]
        output: PathBuf,
    },
    /// Merge an interchange JSON file into this node's record: refused as a whole if it is for
    /// another deployment or records another response to a task recorded here. The node must be
    /// stopped.
    Import {
        /// The interchange file another node exported.
        file: PathBuf,
        /// The node's settings (data directory, deployment).
        #[command(flatten)]
        node: NodeArgs,
    },
}

impl SlashingProtectionCommand {
    /// Runs the command.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Export { node, output } => export(&node.load()?, &output).await,
            Self::Import { file, node } => import(&node.load()?, &file).await,
        }
    }
}

/// The task manager of the node's deployment: the scope of its record.
fn task_manager(config: &NodeConfig) -> TaskManagerId {
    TaskManagerId {
        chain_id: config.deployment.chain_id,
        task_manager: config.deployment.avs.task_manager,
    }
}

async fn export(config: &NodeConfig, output: &Path) -> eyre::Result<()> {
    let path = datadir::slashing_protection_path(&config.datadir);
    if !path.exists() {
        bail!(
            "there is no slashing-protection record at {}: check --datadir",
            path.display()
        );
    }
    let _lock = DataDirLock::acquire(&config.datadir)?;
    let store = SlashingProtectionStore::open(&path).await?;
    let interchange = store.export(task_manager(config));
    let json = interchange.to_json();
    if output.as_os_str() == "-" {
        output::line(json);
        return Ok(());
    }
    write_durably(output, &json)
        .wrap_err_with(|| format!("writing the export to {}", output.display()))?;
    output::line(format!(
        "exported {} signed tasks of {}, low watermark {}, to {}",
        interchange.tasks.len(),
        interchange.metadata.task_manager_id(),
        interchange.metadata.low_watermark,
        output.display()
    ));
    Ok(())
}

/// Writes the file and syncs it and its directory entry: the operator deletes the old node's
/// data directory next, and the export must survive a crash by then.
fn write_durably(path: &Path, json: &str) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(json.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

async fn import(config: &NodeConfig, file: &Path) -> eyre::Result<()> {
    let text = std::fs::read_to_string(file)
        .wrap_err_with(|| format!("cannot read the interchange file {}", file.display()))?;
    let interchange = Interchange::from_json(&text).wrap_err_with(|| {
        format!(
            "{} is not a slashing-protection interchange file",
            file.display()
        )
    })?;
    let _lock = DataDirLock::acquire(&config.datadir)?;
    let path = datadir::slashing_protection_path(&config.datadir);
    let store = SlashingProtectionStore::open(&path).await?;
    let summary = store
        .import(task_manager(config), interchange)
        .await
        .wrap_err_with(|| format!("importing {} into {}", file.display(), path.display()))?;
    output::line(format!(
        "imported {} signed tasks into {} ({} already present, {} below the low watermark); low \
         watermark {} (was {})",
        summary.imported,
        path.display(),
        summary.already_present,
        summary.below_watermark,
        summary.watermark,
        summary.previous_watermark
    ));
    Ok(())
}
