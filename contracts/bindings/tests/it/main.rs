//! The integration tests of `avs-contracts`, one test binary: the AVS and EigenLayer's
//! slashing-era contracts deployed on a real anvil.

mod avs_tasks;
mod eigenlayer_deploy;
mod onboarding;
mod signing_safety;
mod slashing;
