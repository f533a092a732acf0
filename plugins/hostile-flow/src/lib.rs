//! A flow that misbehaves on purpose, for testing that the host contains it: the
//! customer's message says how. `panic` traps, `loop` spins past the deadline,
//! `fail` returns an error (not a fault of the plugin), `timer` sets a timer due at
//! once (when it fires, the flow counts the firings of that contact's timer in its
//! key-value store and answers `fired N`; a timer with the payload `quiet` does
//! nothing), `next tuesday 10 ZONE` answers the next Tuesday 10:00 in ZONE (Unix ms);
//! schedule events (parameter `every`) are counted in the key-value store; a
//! contact field that changed is answered with `field NAME: OLD -> NEW`, a resolved
//! conversation with `Thanks for talking to us!`; anything else is answered with `ok: TEXT`.

use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, Param, ParamKind, Trigger};

/// The flow.
#[derive(Debug)]
pub struct Hostile;

impl scrm_plugin_sdk::Flow for Hostile {
    fn describe() -> Info {
        Info {
            name: "hostile-flow".into(),
            description: "misbehaves as the message says: panic, loop, fail".into(),
            triggers: vec!["message".into(), "field-changed".into(), "resolved".into()],
            params: vec![
                Param {
                    name: "min_interval".into(),
                    kind: ParamKind::Duration,
                    default: Some("0s".into()),
                    description: "no spacing".into(),
                },
                Param {
                    name: "every".into(),
                    kind: ParamKind::Schedule,
                    default: Some(String::new()),
                    description: "a schedule (cron) whose events the flow counts".into(),
                },
            ],
        }
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let contact = e.contact.as_ref().map_or(0, |c| c.id);
        let m = match e.trigger {
            Trigger::Message(m) => m,
            Trigger::FieldChanged(f) => {
                let text = |v: &scrm_plugin_sdk::FieldValue| match v {
                    scrm_plugin_sdk::FieldValue::Text(t) => t.clone(),
                    other => format!("{other:?}"),
                };
                let old = f.old.as_ref().map(text).unwrap_or_default();
                return Ok(vec![Action::Reply(format!(
                    "field {}: {old} -> {}",
                    f.name,
                    text(&f.new)
                ))]);
            }
            Trigger::Resolved => {
                return Ok(vec![Action::Reply("Thanks for talking to us!".into())]);
            }
            Trigger::Schedule(name) => {
                scrm_plugin_sdk::automation::count(&format!("schedule/{name}"))?;
                return Ok(Vec::new());
            }
            // A quiet timer (the timers benchmark) does nothing.
            Trigger::Timer(t) if t.payload == b"quiet" => return Ok(Vec::new()),
            Trigger::Timer(_) => {
                let n = scrm_plugin_sdk::automation::count(&format!("fired/{contact}"))?;
                return Ok(vec![Action::Reply(format!("fired {n}"))]);
            }
            _ => return Ok(Vec::new()),
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
        if let Some(zone) = text.strip_prefix("next tuesday 10 ") {
            let at = scrm_plugin_sdk::timers::next_occurrence("0 10 * * TUE", Some(zone))
                .map_err(FlowError::Failed)?;
            return Ok(vec![Action::Reply(format!("next: {at}"))]);
        }
        if text.contains("timer") {
            scrm_plugin_sdk::timers::schedule("t", e.now, &[]).map_err(FlowError::Failed)?;
            return Ok(Vec::new());
        }
        if text.contains("fail") {
            return Err(FlowError::Failed("refusing on purpose".into()));
        }
        Ok(vec![Action::Reply(format!("ok: {text}"))])
    }
}

scrm_plugin_sdk::export_flow!(Hostile);
