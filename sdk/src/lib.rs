//! The Rust SDK for scrm plugins.
//!
//! A plugin is a type that implements a slot's trait plus one macro call. For the
//! classifier slot:
//!
//! ```ignore
//! use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Message};
//!
//! struct Shouty;
//!
//! impl Classifier for Shouty {
//!     fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
//!         let loud = msg.content.text().is_some_and(|t| t.ends_with('!'));
//!         let tags = if loud { vec!["excited".to_string()] } else { vec![] };
//!         Ok(Classification { tags, ..Classification::default() })
//!     }
//! }
//!
//! scrm_plugin_sdk::export_classifier!(Shouty);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to install with
//! `scrm plugin install --tenant T --slot classifier FILE.wasm`.
//!
//! The contract itself is the WIT package `scrm:plugin@0.1.2` in the repository's
//! `wit/` directory; this crate generates Rust bindings for it with `wit-bindgen`
//! and adds small conveniences ([`config`], [`log`], [`Content::text`]).

// Lets the generated code name this crate the same way from inside and outside it.
extern crate self as scrm_plugin_sdk;

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Generated bindings for the `classifier` world (and the shared types and imports).
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod classifier {
    wit_bindgen::generate!({
        path: "wit",
        world: "classifier",
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::classifier",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// Generated bindings for the `mapper` world.
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod mapper {
    wit_bindgen::generate!({
        path: "wit",
        world: "mapper",
        with: {
            "scrm:plugin/types@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::types,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::mapper",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// Generated bindings for the `connector` world (including `wasi:http`).
#[allow(missing_docs, missing_debug_implementations, unsafe_code, clippy::all)]
pub mod connector {
    wit_bindgen::generate!({
        path: "wit",
        world: "connector",
        with: {
            "scrm:plugin/types@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::types,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::scrm_plugin_sdk::connector",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// Generated bindings for the `responder` world.
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod responder {
    wit_bindgen::generate!({
        path: "wit",
        world: "responder",
        with: {
            "scrm:plugin/types@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::types,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::responder",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod geocoder {
    wit_bindgen::generate!({
        path: "wit",
        world: "geocoder",
        with: {
            "scrm:plugin/types@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::types,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::geocoder",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// Generated bindings for the `flow` world (since 0.1.1).
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod flow {
    wit_bindgen::generate!({
        path: "wit",
        world: "flow",
        with: {
            "scrm:plugin/commerce@0.1.2": ::scrm_plugin_sdk::connector::scrm::plugin::commerce,
            "scrm:plugin/types@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::types,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::flow",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// Generated bindings for the `courier` world (since 0.1.1).
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod courier {
    wit_bindgen::generate!({
        path: "wit",
        world: "courier",
        with: {
            "scrm:plugin/commerce@0.1.2": ::scrm_plugin_sdk::connector::scrm::plugin::commerce,
            "scrm:plugin/log@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::log,
            "scrm:plugin/config@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::config,
            "scrm:plugin/kv@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::kv,
            "scrm:plugin/clock@0.1.2": ::scrm_plugin_sdk::classifier::scrm::plugin::clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        generate_all,
        default_bindings_module: "::scrm_plugin_sdk::courier",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

pub mod automation;
pub mod clock;
pub mod config;
mod content;
pub mod http;
pub mod kv;
pub mod log;
pub mod replies;
pub mod secrets;

pub use classifier::exports::scrm::plugin::classify::{ClassifyError, Guest as Classifier};
pub use classifier::scrm::plugin::types::{
    Classification, Contact, ContactChanges, ContactFacts, Content, Context, Conversation,
    CrmRecord, Direction, Entity, Field, FieldValue, Intent, KeyedRecord, Media, Message, Order,
    OrderItem, Priority, Reaction, Reply, SharedContact, Signal, SignalKind, SystemNotice,
};
pub use connector::exports::scrm::plugin::connect::{
    Changes, ConnectorError, CrmReply, Guest as Connector, Pushed, WriteKey,
};
pub use connector::exports::scrm::plugin::order_lookup::Guest as OrderLookup;
pub use connector::scrm::plugin::commerce::{Checkpoint, OrderInfo, OrderLine, Tracking};
pub use courier::exports::scrm::plugin::track::{Guest as Courier, TrackError};
pub use flow::exports::scrm::plugin::automate as flows;
pub use flow::exports::scrm::plugin::automate::Guest as Flow;
pub use flow::scrm::plugin::{assist, orders, parcels, profile, timers};
pub use geocoder::exports::scrm::plugin::geocode::{GeocodeError, Guest as Geocoder};
pub use mapper::exports::scrm::plugin::mapping::{Guest as Mapper, MapError, Mapped};
pub use responder::exports::scrm::plugin::respond::{
    Action, Event, Guest as Responder, RespondError, TemplateSend,
};

/// Exports `$ty` as this component's mapper. `$ty` must implement [`Mapper`].
#[macro_export]
macro_rules! export_mapper {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_mapper_impl!($ty with_types_in $crate::mapper);
    };
}

/// Exports `$ty` as this component's connector. `$ty` must implement [`Connector`]
/// and (since 0.1.1) [`OrderLookup`].
#[macro_export]
macro_rules! export_connector {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_connector_impl!($ty with_types_in $crate::connector);
    };
}

/// Exports `$ty` as this component's geocoder. `$ty` must implement [`Geocoder`].
#[macro_export]
macro_rules! export_geocoder {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_geocoder_impl!($ty with_types_in $crate::geocoder);
    };
}

/// Exports `$ty` as this component's courier. `$ty` must implement [`Courier`].
#[macro_export]
macro_rules! export_courier {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_courier_impl!($ty with_types_in $crate::courier);
    };
}

/// Exports `$ty` as this component's flow. `$ty` must implement [`Flow`].
#[macro_export]
macro_rules! export_flow {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_flow_impl!($ty with_types_in $crate::flow);
    };
}

/// Exports `$ty` as this component's responder. `$ty` must implement [`Responder`].
#[macro_export]
macro_rules! export_responder {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_responder_impl!($ty with_types_in $crate::responder);
    };
}

/// Exports `$ty` as this component's classifier. `$ty` must implement [`Classifier`].
///
/// The export exists only when building for WebAssembly, so the same crate also
/// builds natively for unit tests (component export names are not valid native
/// linker symbols).
#[macro_export]
macro_rules! export_classifier {
    ($ty:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::__export_classifier_impl!($ty with_types_in $crate::classifier);
    };
}
