//! A classifier that tags messages ending in `!` as `excited` and makes them high
//! priority, and fails with the binding's own error when its config says so.
//!
//! ```sh
//! cargo build -p scrm-plugin-sdk --example shouty --target wasm32-wasip2 --release
//! scrm plugin install --tenant acme --slot classifier \
//!   target/wasm32-wasip2/release/examples/shouty.wasm
//! ```

use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Message, Priority};

// Exported only when built for wasm32-wasip2.
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
struct Shouty;

impl Classifier for Shouty {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        if scrm_plugin_sdk::config::bytes() == b"fail" {
            return Err(ClassifyError::InvalidConfig("this config says fail".into()));
        }
        let loud = msg
            .content
            .text()
            .is_some_and(|t| t.trim_end().ends_with('!'));
        if !loud {
            return Ok(Classification::default());
        }
        scrm_plugin_sdk::log::write(
            scrm_plugin_sdk::log::Level::Info,
            "excited",
            &[("wamid", &msg.id)],
        );
        Ok(Classification {
            tags: vec!["excited".to_string()],
            priority: Some(Priority::High),
            ..Classification::default()
        })
    }
}

scrm_plugin_sdk::export_classifier!(Shouty);
