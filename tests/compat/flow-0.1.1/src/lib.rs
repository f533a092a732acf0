//! A flow built against `scrm:plugin@0.1.1` (`tests/compat/wit-0.1.1`, a copy of the
//! released files), the last version before `assist`, so the tests can prove that
//! the current host still loads it and applies what it returns. It answers every
//! text message with the flow parameter `answer` and the contact's name (read
//! through 0.1.1's `profile`), and tags the conversation `compat`.

#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit-0.1.1",
        world: "flow",
        generate_all,
    });
}

use bindings::exports::scrm::plugin::automate::{
    Action, Event, FlowError, Guest, Info, Param, ParamKind, Trigger,
};
use bindings::scrm::plugin::{config, profile};

struct Compat;

impl Guest for Compat {
    fn describe() -> Info {
        Info {
            name: "compat-flow".into(),
            description: "a flow built against WIT 0.1.1".into(),
            triggers: vec!["message".into()],
            params: vec![Param {
                name: "answer".into(),
                kind: ParamKind::Text,
                default: Some("built against 0.1.1".into()),
                description: "what it answers".into(),
            }],
        }
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let Trigger::Message(_) = e.trigger else {
            return Ok(Vec::new());
        };
        let params = String::from_utf8_lossy(&config::get()).into_owned();
        let answer = params
            .split("\"answer\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| FlowError::InvalidConfig(format!("no answer in {params}")))?
            .to_owned();
        let name = profile::get()
            .and_then(|p| p.contact.name)
            .unwrap_or_else(|| "?".into());
        Ok(vec![
            Action::Reply(format!("{answer}, {name}")),
            Action::Tag("compat".into()),
        ])
    }
}

/// The generated export glue is unsafe code (the canonical ABI).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::Compat;
    crate::bindings::export!(Compat with_types_in crate::bindings);
}
