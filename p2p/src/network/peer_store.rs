//! The peer store: the peers a node was connected to, kept in the data directory
//! (`p2p/peers.json` by default) so a restarted node dials them before any bootnode.
//!
//! The file is a cache, not a record: a node that cannot read it (corrupt, from a newer
//! version) warns, moves it aside as `<name>.unreadable` for inspection and starts with its
//! bootnodes. It is written atomically (a temporary file renamed over it), so a crash while
//! saving leaves the previous version.

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use std::{
    io::Write,
    path::{Path, PathBuf},
};
use tracing::warn;

/// Version of the file format; a file of another version is not read.
const FORMAT_VERSION: u32 = 1;

/// One stored peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredPeer {
    /// Its libp2p identity.
    #[serde(with = "peer_id_string")]
    pub(super) peer_id: PeerId,
    /// Addresses without `/p2p`, the one that worked last first.
    pub(super) addrs: Vec<Multiaddr>,
    /// Unix seconds of the last time the node was connected to it.
    pub(super) last_connected: u64,
    /// A dial of the node reached it (its address is not only its own claim).
    #[serde(default)]
    pub(super) verified: bool,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    peers: Vec<StoredPeer>,
}

/// Errors saving the peer store.
#[derive(Debug, thiserror::Error)]
pub enum PeerStoreError {
    /// Writing the file failed.
    #[error("cannot write the peer store {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads the peers stored at `path`: none if the file does not exist; none, with a warning
/// and the file moved aside, if it cannot be read.
pub(super) fn load(path: &Path) -> Vec<StoredPeer> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the peer store; starting from the bootnodes");
            return Vec::new();
        }
    };
    let problem = match serde_json::from_str::<File>(&text) {
        Ok(file) if file.version == FORMAT_VERSION => return file.peers,
        Ok(file) => format!(
            "format version {} (this node reads {FORMAT_VERSION})",
            file.version
        ),
        Err(e) => e.to_string(),
    };
    let aside = unreadable_path(path);
    let moved = std::fs::rename(path, &aside);
    warn!(
        path = %path.display(),
        %problem,
        moved_to = %aside.display(),
        moved = moved.is_ok(),
        "unreadable peer store set aside; starting from the bootnodes"
    );
    Vec::new()
}

/// Writes `peers` to `path` atomically, creating its folder.
pub(super) fn save(path: &Path, peers: Vec<StoredPeer>) -> Result<(), PeerStoreError> {
    let write_err = |source| PeerStoreError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let text = serde_json::to_vec_pretty(&File {
        version: FORMAT_VERSION,
        peers,
    })
    .expect("peer ids and multiaddrs serialise");
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
    file.write_all(&text).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

fn unreadable_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".unreadable");
    path.with_file_name(name)
}

/// A peer id as its base58 text, as libp2p prints it.
mod peer_id_string {
    use libp2p::PeerId;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(peer: &PeerId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(peer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PeerId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| D::Error::custom(format!("peer id {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> StoredPeer {
        StoredPeer {
            peer_id: PeerId::random(),
            addrs: vec![format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()],
            last_connected: u64::from(port),
            verified: port.is_multiple_of(2),
        }
    }

    #[test]
    fn peers_survive_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p/peers.json");
        assert!(load(&path).is_empty(), "no file: no peers");
        let peers = vec![peer(1), peer(2)];
        save(&path, peers.clone()).unwrap();
        assert_eq!(load(&path), peers);
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn an_unreadable_store_is_set_aside_and_the_node_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        for bad in [
            "not json".to_owned(),
            r#"{"version":1,"peers":[{"peer_id":"nope","addrs":[],"last_connected":1}]}"#
                .to_owned(),
            r#"{"version":2,"peers":[]}"#.to_owned(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            assert!(load(&path).is_empty(), "{bad}");
            assert!(!path.exists(), "{bad}: moved aside");
            assert_eq!(
                std::fs::read_to_string(dir.path().join("peers.json.unreadable")).unwrap(),
                bad,
                "kept for inspection"
            );
        }
    }

    #[test]
    fn a_store_that_cannot_be_written_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        std::fs::write(dir.path().join("p2p"), "").unwrap();
        let err = save(&dir.path().join("p2p/peers.json"), vec![peer(1)]).unwrap_err();
        assert!(err.to_string().contains("p2p/peers.json"), "{err}");
    }
}
