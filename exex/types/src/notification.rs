//! What the host tells an ExEx ([`ExExNotification`]) and what an ExEx tells the host
//! ([`ExExEvent`]), with reth's names and semantics.

use std::sync::Arc;

use alloy::eips::BlockNumHash;
use serde::{Deserialize, Serialize};

use crate::chain::Chain;

/// A change of the canonical chain, delivered to every ExEx in order.
///
/// As in reth: a reorg is one notification carrying both the blocks that left the canonical
/// chain (`old`) and those that replaced them (`new`); `old` and `new` start at the same height
/// (the block after the common ancestor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExExNotification {
    /// New blocks extend the canonical chain.
    ChainCommitted {
        /// The committed blocks.
        new: Arc<Chain>,
    },
    /// The blocks of `old` were replaced by the blocks of `new`.
    ChainReorged {
        /// Blocks no longer canonical.
        old: Arc<Chain>,
        /// Blocks now canonical.
        new: Arc<Chain>,
    },
    /// The blocks of `old` were removed and nothing replaced them (yet).
    ChainReverted {
        /// Blocks no longer canonical.
        old: Arc<Chain>,
    },
}

impl ExExNotification {
    /// The chain that became canonical, if any.
    pub fn committed_chain(&self) -> Option<Arc<Chain>> {
        match self {
            Self::ChainCommitted { new } | Self::ChainReorged { new, .. } => Some(Arc::clone(new)),
            Self::ChainReverted { .. } => None,
        }
    }

    /// The chain that stopped being canonical, if any.
    pub fn reverted_chain(&self) -> Option<Arc<Chain>> {
        match self {
            Self::ChainReorged { old, .. } | Self::ChainReverted { old } => Some(Arc::clone(old)),
            Self::ChainCommitted { .. } => None,
        }
    }

    /// The notification that undoes this one: commits become reverts and vice versa, a reorg
    /// swaps `old` and `new`.
    pub fn into_inverted(self) -> Self {
        match self {
            Self::ChainCommitted { new } => Self::ChainReverted { old: new },
            Self::ChainReverted { old } => Self::ChainCommitted { new: old },
            Self::ChainReorged { old, new } => Self::ChainReorged { old: new, new: old },
        }
    }
}

/// A message from an ExEx to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExExEvent {
    /// The ExEx has durably processed every block up to and including this one; the host will
    /// not deliver them again after a restart and may prune them from its write-ahead log.
    FinishedHeight(BlockNumHash),
}

/// The last block an ExEx finished before this run: it receives only blocks above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExExHead {
    /// Number and hash of the finished block.
    pub block: BlockNumHash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::{ChainBuilder, TxSpec};

    #[test]
    fn accessors_and_inversion_match_reth_semantics() {
        let mut builder = ChainBuilder::new(0);
        let base = builder.chain(2, &[]);
        let old = Arc::new(
            builder
                .fork_from(base.tip())
                .chain(2, &[TxSpec::transfer()]),
        );
        let new = Arc::new(builder.fork_from(base.tip()).chain(3, &[]));

        let committed = ExExNotification::ChainCommitted {
            new: Arc::clone(&new),
        };
        assert_eq!(committed.committed_chain(), Some(Arc::clone(&new)));
        assert_eq!(committed.reverted_chain(), None);
        assert_eq!(
            committed.clone().into_inverted(),
            ExExNotification::ChainReverted {
                old: Arc::clone(&new)
            }
        );
        assert_eq!(committed.clone().into_inverted().into_inverted(), committed);

        let reorg = ExExNotification::ChainReorged {
            old: Arc::clone(&old),
            new: Arc::clone(&new),
        };
        assert_eq!(reorg.committed_chain(), Some(Arc::clone(&new)));
        assert_eq!(reorg.reverted_chain(), Some(Arc::clone(&old)));
        assert_eq!(
            reorg.into_inverted(),
            ExExNotification::ChainReorged {
                old: new,
                new: Arc::clone(&old)
            }
        );

        let reverted = ExExNotification::ChainReverted {
            old: Arc::clone(&old),
        };
        assert_eq!(reverted.committed_chain(), None);
        assert_eq!(reverted.reverted_chain(), Some(old));
    }
}
