//! The one place the host generates bindings for the `scrm:plugin` WIT package.
//! Every other module uses these types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "classifier",
});

pub use exports::scrm::plugin::classify::ClassifyError;
pub use scrm::plugin::types;
