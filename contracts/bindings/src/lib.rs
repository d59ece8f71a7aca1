//! Rust bindings and deployer for the AVS contracts and EigenLayer's M2 contracts.
