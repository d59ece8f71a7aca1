//! BLS signatures on BN254, bit-compatible with EigenLayer's middleware and the EVM precompiles.
