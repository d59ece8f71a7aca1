//! Verdicts and bans: the application's verdict goes back to gossipsub (forward, or drop and
//! score), and repeated rejects from one forwarder ban it: disconnected and blocked until the
//! ban expires, and dropped from the DHT and the known peers (unless pinned: a bootnode or an
//! operator's socket), so it is found again only by discovery.

use super::{InboundId, Verdict, driver::Driver};
use crate::penalty::PenaltyOutcome;
use libp2p::PeerId;
use std::time::Instant;
use tracing::{debug, info, warn};

impl Driver {
    pub(super) fn report(&mut self, id: &InboundId, verdict: Verdict) {
        // `false` only means gossipsub already dropped the message from its cache (we were
        // slower than its history window); the penalty below still applies.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id.message_id, &id.source, verdict.into());
        if verdict == Verdict::Reject {
            self.penalise(id.source);
        }
    }

    fn penalise(&mut self, peer: PeerId) {
        match self.penalties.penalise(&peer, Instant::now()) {
            PenaltyOutcome::Ban { until } => {
                warn!(%peer, ban_secs = until.saturating_duration_since(Instant::now()).as_secs(), "banning peer for repeated invalid messages");
                // Blocking closes its connections and refuses new ones until unblocked.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                self.swarm.behaviour_mut().kad.remove_peer(&peer);
                self.peers.forget(&peer);
                self.rate.remove(&peer);
            }
            PenaltyOutcome::Counted { rejects } => debug!(%peer, rejects, "peer penalised"),
            PenaltyOutcome::AlreadyBanned => {}
        }
    }

    pub(super) fn expire_bans(&mut self) {
        for peer in self.penalties.expire(Instant::now()) {
            info!(%peer, "ban expired");
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }
}
