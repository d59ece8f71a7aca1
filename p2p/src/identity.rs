//! The node's persistent libp2p identity: an ed25519 key in libp2p's protobuf encoding.
//!
//! The key is created on first start and reused afterwards, so a node keeps its `PeerId`
//! (and the reputation and bootnode entries attached to it) across restarts. On Unix the file
//! is created with mode 0600 atomically (no window in which it is world-readable).

use libp2p::identity::Keypair;
use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

/// Why the identity key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file exists but could not be read.
    #[error("cannot read node key {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The key file exists but does not hold a libp2p protobuf-encoded ed25519 key.
    #[error(
        "node key {path} is corrupt or not a libp2p ed25519 key ({reason}); \
         move it away to generate a new identity (the node's PeerId will change)"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A new key could not be written.
    #[error("cannot write node key {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Loads the identity key at `path`, or creates a fresh ed25519 key there if the file does
/// not exist (parent directories included).
pub fn load_or_create_identity(path: &Path) -> Result<Keypair, IdentityError> {
    match std::fs::read(path) {
        Ok(bytes) => decode(path, &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(path),
        Err(source) => Err(IdentityError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Keypair, IdentityError> {
    let corrupt = |reason: String| IdentityError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let key = Keypair::from_protobuf_encoding(bytes).map_err(|e| corrupt(e.to_string()))?;
    // Only ed25519 is accepted: it is what we write, and a different type here means the
    // file was put in place by something else.
    if key.clone().try_into_ed25519().is_err() {
        return Err(corrupt(format!(
            "key type {:?}, expected ed25519",
            key.key_type()
        )));
    }
    Ok(key)
}

fn create(path: &Path) -> Result<Keypair, IdentityError> {
    let write_err = |source| IdentityError::Write {
        path: path.to_owned(),
        source,
    };
    let key = Keypair::generate_ed25519();
    let bytes = key
        .to_protobuf_encoding()
        .map_err(|e| write_err(io::Error::other(e)))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    // `create_new`: never clobber a key another process created in the meantime.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(write_err)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(write_err)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/node.key");
        let first = load_or_create_identity(&path).unwrap();
        let again = load_or_create_identity(&path).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        std::fs::write(&path, b"not a key").unwrap();
        let err = load_or_create_identity(&path).unwrap_err();
        assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it away"), "{err}");
    }

    #[test]
    fn unreadable_key_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the key file should be: exists, but cannot be read as a file.
        let err = load_or_create_identity(dir.path()).unwrap_err();
        assert!(matches!(err, IdentityError::Read { .. }), "{err}");
    }
}
