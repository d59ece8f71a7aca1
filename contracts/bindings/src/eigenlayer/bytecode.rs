//! EigenLayer's creation bytecode (feature `deploy`), as the pinned `eigen-utils` release ships
//! it. `build.rs` reads it from the crate's sources instead of compiling the crate, which would
//! bring a second alloy major version, the AWS SDK and a C build into every devnet and test
//! build; see `build.rs` for where the sources are found.

include!(concat!(env!("OUT_DIR"), "/eigenlayer_bytecode.rs"));
