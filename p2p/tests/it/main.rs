//! The integration tests of `avs-p2p`, one test binary (one link, shared support): real
//! swarms on 127.0.0.1 with free ports, a real anvil with EigenLayer's contracts for the
//! registry and submission tests.

mod support;

mod chain;
mod crowd;
mod equivocation;
mod gossip;
mod groups;
mod journal;
mod mdns;
mod network;
mod peers;
mod rogue;
mod submission;
