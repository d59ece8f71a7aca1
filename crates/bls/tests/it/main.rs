//! The integration tests of `avs-bls`, one test binary: cross-checks against EigenLayer's
//! SDK and keystore tooling, the on-chain pairing precompiles on anvil, and properties.

mod common;

mod eigen_crosscheck;
mod keystore_interop;
mod onchain;
mod properties;
