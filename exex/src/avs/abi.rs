//! The task manager's ABI as this module uses it: one place, so the rest of the AVS ExEx names
//! `abi::Task`, `abi::TaskResponse`, `abi::NewTaskCreated`, … whatever crate generates them.
//!
//! Generated from the committed forge artifact of `AvsTaskManager`, the same file the
//! `avs-contracts` bindings are generated from.
// TODO(issue 7): switch to the `avs-contracts` task-manager bindings once they are committed.

#![allow(missing_docs, unreachable_pub)]

alloy::sol!(
    #[sol(rpc)]
    #[sol(all_derives)]
    AvsTaskManager,
    "../contracts/bindings/artifacts/AvsTaskManager.json"
);

pub use AvsTaskManager::{AvsTaskManagerInstance, NewTaskCreated, Task, TaskResponded, TaskResponse};
