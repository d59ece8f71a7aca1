//! Rust bindings and deployer for the AVS contracts and EigenLayer's M2 contracts.
//!
//! - [`devnet`]: bindings of the devnet support contracts and OpenZeppelin's proxies, generated
//!   with `alloy::sol!` from the committed forge artifacts in `artifacts/` (so building this
//!   crate never needs forge; `just contracts` fails when the artifacts are stale).
//! - [`eigenlayer`]: EigenLayer's real M2 core and middleware, deployed from the bytecode the
//!   `eigen-utils` crate ships, behind proxies, as EigenLayer's own scripts deploy them.
//! - [`transactor`]: sends deployment and set-up transactions with named steps, clear errors
//!   and a gas record.

pub mod devnet;
pub mod eigenlayer;
pub mod transactor;
