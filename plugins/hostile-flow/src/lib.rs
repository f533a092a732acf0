//! A flow that misbehaves on purpose, for testing that the host contains it: the
//! customer's message says how. `panic` traps, `loop` spins past the deadline,
//! `fail` returns an error (not a fault of the plugin), anything else is answered
//! with `ok: TEXT`.

use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, Param, ParamKind, Trigger};

/// The flow.
#[derive(Debug)]
pub struct Hostile;

impl scrm_plugin_sdk::Flow for Hostile {
    fn describe() -> Info {
        Info {
            name: "hostile-flow".into(),
            description: "misbehaves as the message says: panic, loop, fail".into(),
            triggers: vec!["message".into()],
            params: vec![Param {
                name: "min_interval".into(),
                kind: ParamKind::Duration,
                default: Some("0s".into()),
                description: "no spacing".into(),
            }],
        }
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let Trigger::Message(m) = e.trigger else {
            return Ok(Vec::new());
        };
        let text = m.message.content.text().unwrap_or_default().to_string();
        if text.contains("panic") {
            panic!("hostile flow panicked on purpose");
        }
        if text.contains("loop") {
            let mut i: u64 = 0;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        if text.contains("fail") {
            return Err(FlowError::Failed("refusing on purpose".into()));
        }
        Ok(vec![Action::Reply(format!("ok: {text}"))])
    }
}

scrm_plugin_sdk::export_flow!(Hostile);
