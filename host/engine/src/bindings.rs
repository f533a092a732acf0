//! The one place the host generates bindings for the `scrm:plugin` WIT package.
//!
//! The host-side world below imports every capability the host offers and exports
//! every slot's interface, so the shared types are generated once; each slot then
//! looks up only its own export (`…::GuestIndices`) in a component.

wasmtime::component::bindgen!({
    path: "../../wit",
    inline: "
        package scrm:host;

        world plugins {
            import scrm:plugin/log@0.1.2;
            import scrm:plugin/config@0.1.2;
            import scrm:plugin/kv@0.1.2;
            import scrm:plugin/clock@0.1.2;
            import scrm:plugin/secrets@0.1.2;
            import scrm:plugin/timers@0.1.2;
            import scrm:plugin/profile@0.1.2;
            import scrm:plugin/orders@0.1.2;
            import scrm:plugin/parcels@0.1.2;
            import scrm:plugin/assist@0.1.2;
            export scrm:plugin/classify@0.1.2;
            export scrm:plugin/mapping@0.1.2;
            export scrm:plugin/connect@0.1.2;
            export scrm:plugin/respond@0.1.2;
            export scrm:plugin/geocode@0.1.2;
            export scrm:plugin/automate@0.1.2;
            export scrm:plugin/order-lookup@0.1.2;
            export scrm:plugin/track@0.1.2;
        }
    ",
    world: "plugins",
});

pub use exports::scrm::plugin::classify::ClassifyError;
pub use exports::scrm::plugin::{
    automate as flow, classify, connect, geocode, mapping, order_lookup, respond, track,
};
pub use scrm::plugin::types;
