//! Calling a tenant's flows (since WIT 0.1.1): `describe` once when the operator
//! adds a flow, `handle` for each event or timer. The actions come back as JSON
//! objects, like a responder's, with the timer changes the call made; the host
//! applies both in one transaction, so a failed call changes nothing.

use super::bindings::flow::{Action, Event, FlowError, Info, ParamKind};
use super::call::classify_failure;
use super::capabilities::automation::{AutomationState, TimerChange};
use super::error::{CallError, CallSite};
use super::storage::FlowReader;
use super::{ActiveBinding, LoadedComponent, PluginHost, SlotExports};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// What a flow says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    /// Its name.
    pub name: String,
    /// One line on what it does.
    pub description: String,
    /// The triggers it wants.
    pub triggers: Vec<String>,
    /// Its parameters.
    pub params: Vec<FlowParam>,
}

/// One parameter of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowParam {
    /// Its name.
    pub name: String,
    /// `text`, `message`, `duration`, `template`, `integer`, `boolean`, `json` or
    /// `schedule`.
    pub kind: String,
    /// Its default as text; none: required.
    pub default: Option<String>,
    /// What it does.
    pub description: String,
}

/// What handling one event produced.
#[derive(Debug, Clone, Default)]
pub struct FlowOutcome {
    /// The actions, as JSON objects (`{"type": "reply", "text": …}`, …).
    pub actions: Vec<Value>,
    /// The timer changes, in order.
    pub timers: Vec<TimerChange>,
    /// The drafts and model usage it recorded (`scrm:plugin/assist`).
    pub assist: super::capabilities::assist::Assisted,
}

impl PluginHost {
    /// Asks a flow component what it is. Blocking.
    ///
    /// # Errors
    /// When the component is not a flow or its `describe` fails.
    pub fn describe_flow(&self, component: &Arc<LoadedComponent>) -> Result<FlowInfo, CallError> {
        let site = CallSite {
            tenant: "(describe)".into(),
            plugin: "(describe)".into(),
            sha256: component.sha256[..12].to_string(),
        };
        let SlotExports::Flow(indices) = &component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the component is not a flow".into(),
            });
        };
        let mut store = self.bare_store(&site);
        let info = component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| indices.load(&mut store, &inst))
            .and_then(|guest| guest.call_describe(&mut store))
            .map_err(|e| classify_failure(&store, e, site, &self.limits))?;
        Ok(info_of(info))
    }

    /// Runs the flow `binding` on one event in a fresh instance; reads of the
    /// event's contact go through `reader`.
    ///
    /// # Errors
    /// A [`CallError`] naming tenant, plugin and cause; it fails this event only.
    pub fn handle_flow(
        &self,
        binding: &ActiveBinding,
        event: &Event,
        reader: Option<Box<dyn FlowReader>>,
    ) -> Result<FlowOutcome, CallError> {
        let site = binding.site();
        let SlotExports::Flow(indices) = &binding.component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the bound component is not a flow".into(),
            });
        };
        binding.ensure_active()?;
        let limits = &binding.limits;
        let mut store = self.store_for(binding);
        store.data_mut().automation = AutomationState::new(reader, event.conversation.is_some());
        let result = binding
            .component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| indices.load(&mut store, &inst))
            .and_then(|guest| guest.call_handle(&mut store, event));
        crate::usage::observe(&store, binding);
        let actions = match result {
            Err(e) => return Err(classify_failure(&store, e, site, limits)),
            Ok(Err(FlowError::InvalidConfig(message))) => {
                return Err(CallError::InvalidConfig { site, message });
            }
            Ok(Err(FlowError::Failed(message))) => {
                return Err(CallError::Guest { site, message });
            }
            Ok(Ok(actions)) => actions,
        };
        let actions: Vec<Value> = actions.into_iter().map(action_json).collect();
        let size = Value::Array(actions.clone()).to_string().len();
        let cap = (limits.output_kib as usize) << 10;
        if size > cap {
            return Err(CallError::OutputTooLarge { site, size, cap });
        }
        Ok(FlowOutcome {
            actions,
            timers: store.data_mut().take_timer_changes(),
            assist: store.data_mut().automation.take_assist(),
        })
    }
}

fn info_of(info: Info) -> FlowInfo {
    FlowInfo {
        name: info.name,
        description: info.description,
        triggers: info.triggers,
        params: info
            .params
            .into_iter()
            .map(|p| FlowParam {
                name: p.name,
                kind: match p.kind {
                    ParamKind::Text => "text",
                    ParamKind::Message => "message",
                    ParamKind::Duration => "duration",
                    ParamKind::Template => "template",
                    ParamKind::Integer => "integer",
                    ParamKind::Boolean => "boolean",
                    ParamKind::Json => "json",
                    ParamKind::Schedule => "schedule",
                }
                .to_string(),
                default: p.default,
                description: p.description,
            })
            .collect(),
    }
}

fn action_json(a: Action) -> Value {
    match a {
        Action::Reply(text) => json!({"type": "reply", "text": text}),
        Action::Template(t) => json!({
            "type": "template", "name": t.name, "language": t.language, "parameters": t.parameters
        }),
        Action::Interactive(i) => json!({
            "type": "interactive", "body": i.body, "list_button": i.list_button,
            "choices": i.choices.into_iter().map(|c| json!({
                "id": c.id, "title": c.title, "description": c.description
            })).collect::<Vec<_>>()
        }),
        Action::Tag(tag) => json!({"type": "tag", "tag": tag.trim().to_lowercase()}),
        Action::Assign(to) => json!({"type": "assign", "to": to}),
        Action::SetField((name, value)) => {
            json!({"type": "set_field", "name": name, "value": super::crm::value_json(&value)})
        }
    }
}
