//! What one swarm received and sent ([`Traffic`]): bytes on every protocol stream (libp2p's
//! bandwidth counters, which count the muxed substreams: gossipsub with its control messages,
//! Kademlia, identify, ping — above noise and yamux, so encryption tags, yamux headers and
//! handshakes are not in) and signature-topic messages, duplicates included (gossipsub's own
//! counters). Both live in a per-swarm metrics registry that only this module reads;
//! [`super::NetworkHandle::traffic`] costs one text encoding of it, so it is for status
//! pages and measurements, not a hot path.

use libp2p::metrics::Registry;
use prometheus_client::encoding::text::encode;

/// Totals since the swarm started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes read from every protocol stream (above encryption and muxing).
    pub bytes_in: u64,
    /// Bytes written to every protocol stream.
    pub bytes_out: u64,
    /// Signature-topic messages received, every copy counted (a message forwarded to us by
    /// three peers counts three times).
    pub messages_in: u64,
    /// Of those, the first copies: the messages themselves. The rest were duplicates.
    pub unique_messages_in: u64,
    /// Bytes of the signature-topic messages received (each with gossipsub's envelope: topic,
    /// sequence number), every copy counted: what the signatures cost without gossipsub's
    /// control messages and the other protocols.
    pub message_bytes_in: u64,
}

impl Traffic {
    /// Copies received beyond the first of each message.
    pub fn duplicates_in(&self) -> u64 {
        self.messages_in.saturating_sub(self.unique_messages_in)
    }

    /// The counts accumulated since `earlier` (a snapshot of the same swarm).
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            bytes_in: self.bytes_in.saturating_sub(earlier.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(earlier.bytes_out),
            messages_in: self.messages_in.saturating_sub(earlier.messages_in),
            unique_messages_in: self
                .unique_messages_in
                .saturating_sub(earlier.unique_messages_in),
            message_bytes_in: self
                .message_bytes_in
                .saturating_sub(earlier.message_bytes_in),
        }
    }
}

/// Prefix of gossipsub's metrics in the registry.
pub(super) const GOSSIPSUB_PREFIX: &str = "gossipsub";

/// Reads [`Traffic`] back from the swarm's registry.
pub(super) fn read(registry: &Registry) -> Traffic {
    let mut text = String::new();
    if encode(&mut text, registry).is_err() {
        // Encoding into a String cannot fail; an empty snapshot is the total answer anyway.
        return Traffic::default();
    }
    parse(&text)
}

/// Sums the samples of the counters [`Traffic`] reports from OpenMetrics text.
fn parse(text: &str) -> Traffic {
    let mut t = Traffic::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        let slot = match name {
            "libp2p_bandwidth_bytes_total" if series.contains("direction=\"Inbound\"") => {
                &mut t.bytes_in
            }
            "libp2p_bandwidth_bytes_total" if series.contains("direction=\"Outbound\"") => {
                &mut t.bytes_out
            }
            "gossipsub_topic_msg_recv_counts_unfiltered_total" => &mut t.messages_in,
            "gossipsub_topic_msg_recv_counts_total" => &mut t.unique_messages_in,
            "gossipsub_topic_msg_recv_bytes_unfiltered_total" => &mut t.message_bytes_in,
            _ => continue,
        };
        *slot += value;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_both_directions_and_both_message_counters() {
        let text = "\
# HELP libp2p_bandwidth_bytes Bandwidth usage by direction and transport protocols.
# TYPE libp2p_bandwidth_bytes counter
# UNIT libp2p_bandwidth_bytes bytes
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Inbound\"} 100
libp2p_bandwidth_bytes_total{protocols=\"/ip4/udp/quic-v1\",direction=\"Inbound\"} 20
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Outbound\"} 7
gossipsub_topic_msg_recv_counts_unfiltered_total{hash=\"t\"} 9
gossipsub_topic_msg_recv_counts_total{hash=\"t\"} 4
gossipsub_topic_msg_recv_bytes_total{hash=\"t\"} 999
gossipsub_topic_msg_recv_bytes_unfiltered_total{hash=\"t\"} 1800
# EOF
";
        let t = parse(text);
        assert_eq!(
            t,
            Traffic {
                bytes_in: 120,
                bytes_out: 7,
                messages_in: 9,
                unique_messages_in: 4,
                message_bytes_in: 1800,
            }
        );
        assert_eq!(t.duplicates_in(), 5);
        assert_eq!(t.since(&Traffic { bytes_in: 20, ..t }).bytes_in, 100);
    }
}
