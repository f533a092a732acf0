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
//! The contract itself is the WIT package `scrm:plugin@0.1.0` in the repository's
//! `wit/` directory; this crate generates Rust bindings for it with `wit-bindgen`
//! and adds small conveniences ([`config`], [`log`], [`Content::text`]).

// Lets the generated code name this crate the same way from inside and outside it.
extern crate self as scrm_plugin_sdk;

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Generated bindings for the `classifier` world.
#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
pub mod classifier {
    wit_bindgen::generate!({
        path: "../wit",
        world: "classifier",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::scrm_plugin_sdk::classifier",
        runtime_path: "::scrm_plugin_sdk::__private::wit_bindgen::rt",
    });
}

pub mod config;
mod content;
pub mod log;

pub use classifier::exports::scrm::plugin::classify::{ClassifyError, Guest as Classifier};
pub use classifier::scrm::plugin::types::{
    Classification, Contact, Content, Context, Direction, Entity, Intent, Media, Message, Order,
    OrderItem, Priority, Reaction, Reply, SharedContact, SystemNotice,
};

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
