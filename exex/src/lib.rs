//! A reth-shaped execution-extension API and a host that follows any Ethereum node over JSON-RPC.
