//! libp2p gossip of task-response signatures, stake-weighted aggregation and submission.
