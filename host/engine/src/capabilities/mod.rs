//! Host capabilities given to plugins. Each follows one shape: the per-call state
//! struct, its `Host` trait implementation, and an `add_to_linker` that wires it
//! into a linker through a projection from the store's data.

pub mod assist;
pub mod automation;
pub mod clock;
pub mod config;
pub mod http;
pub mod kv;
pub mod log;
pub mod secrets;
