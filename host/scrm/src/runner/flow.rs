//! Flows in a local run: the flow describes itself, its parameters are resolved
//! from `--config` (a JSON object of values) with the automation's own rules, and
//! each new message of a webhook reaches it as a `message` event. Its reads are
//! answered from the run: the sender's profile (no CRM fields, no tags, no
//! consent), the run's messages of that contact, no orders, schedules computed in
//! UTC; parcel tracking is refused (no courier in a local run). Statuses, clicks,
//! timers and schedules are not fed to it.

use super::calls::{Arrived, conversation_of};
use super::{Outcome, RunError, Runner};
use crate::automation::params;
use scrm_engine::bindings::flow as wit_flow;
use scrm_engine::bindings::scrm::plugin::commerce::Tracking;
use scrm_engine::bindings::scrm::plugin::orders::OrderInfo;
use scrm_engine::bindings::scrm::plugin::profile::Profile;
use scrm_engine::bindings::types as wit;
use scrm_engine::capabilities::automation::TimerChange;
use scrm_engine::storage::{FlowReader, StorageError};
use scrm_engine::{LoadedComponent, PluginHost};
use serde_json::{Value, json};
use std::sync::Arc;

/// The configuration a flow runs with: its parameters resolved from `given` (a JSON
/// object of values, as text or JSON) over its defaults and the host's parameters.
///
/// # Errors
/// [`RunError::Config`] naming the first bad or missing parameter.
pub(super) fn resolve_config(
    host: &PluginHost,
    component: &Arc<LoadedComponent>,
    given: &[u8],
) -> Result<Vec<u8>, RunError> {
    let info = host
        .describe_flow(component)
        .map_err(|e| RunError::Describe(e.to_string()))?;
    let given: serde_json::Map<String, Value> = if given.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        serde_json::from_slice(given).map_err(|e| {
            RunError::Config(format!(
                "a flow's --config is a JSON object of its parameters ({e})"
            ))
        })?
    };
    let sets: Vec<(String, String)> = given
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    let resolved = params::resolve(&info, None, &sets, &|_| Ok(()))
        .map_err(|e| RunError::Config(e.to_string()))?;
    Ok(Value::Object(resolved).to_string().into_bytes())
}

impl Runner {
    /// What the flow says it is.
    pub(super) fn describe_flow(&mut self) -> Outcome {
        let component = self.binding.component.clone();
        self.measured(
            "describe",
            "the flow".into(),
            || self.host.describe_flow(&component),
            |info| json!(info),
            |e| self.call_failure(e),
        )
    }

    /// Hands a new message to the flow as its `message` event.
    pub(super) fn flow_message(
        &self,
        a: &Arrived,
        message: wit::Message,
        subject: String,
    ) -> Outcome {
        let contact = crate::slots::to_wit_contact(&a.contact);
        let view = conversation_of(a);
        let event = wit_flow::Event {
            trigger: wit_flow::Trigger::Message(wit_flow::Inbound {
                message: message.clone(),
                classification: None,
                business_initiated: false,
            }),
            contact: Some(contact.clone()),
            conversation: Some(wit::Conversation {
                id: view.id as u64,
                contact_id: contact.id,
                phone_number_id: view.phone_number_id,
                last_message_at: view.last_message_at,
                last_inbound_at: view.last_inbound_at,
                tags: Vec::new(),
            }),
            now: message.timestamp,
        };
        let history: Vec<wit::Message> = self
            .seen
            .iter()
            .filter(|s| s.contact.id == a.contact.id)
            .flat_map(|s| s.messages.clone())
            .collect();
        let reader = LocalReader {
            profile: Profile {
                contact,
                fields: Vec::new(),
                tags: Vec::new(),
                opted_in: false,
                opted_out: false,
                last_inbound_at: Some(message.timestamp),
            },
            history,
            now: message.timestamp,
        };
        self.measured(
            "handle",
            subject,
            || self.host.handle_flow(&self.binding, &event, Some(Box::new(reader))),
            |o| json!({"actions": o.actions, "timers": o.timers.iter().map(timer_json).collect::<Vec<_>>()}),
            |e| self.call_failure(e),
        )
    }
}

fn timer_json(t: &TimerChange) -> Value {
    match t {
        TimerChange::Schedule { key, at, payload } => json!({
            "schedule": key, "at": at, "payload": String::from_utf8_lossy(payload),
        }),
        TimerChange::Cancel { key } => json!({"cancel": key}),
    }
}

/// A flow's reads in a local run.
#[derive(Debug)]
struct LocalReader {
    profile: Profile,
    /// Newest first.
    history: Vec<wit::Message>,
    now: i64,
}

impl FlowReader for LocalReader {
    fn profile(&self) -> Result<Option<Profile>, StorageError> {
        Ok(Some(self.profile.clone()))
    }

    fn history(&self, limit: u32) -> Result<Vec<wit::Message>, StorageError> {
        Ok(self.history.iter().take(limit as usize).cloned().collect())
    }

    fn orders(&self, _since: i64, _limit: u32) -> Result<Vec<OrderInfo>, String> {
        Ok(Vec::new())
    }

    fn next_occurrence(&self, spec: &str, zone: Option<&str>) -> Result<i64, String> {
        let tz = crate::automation::schedule::zone(zone.unwrap_or("UTC"))?;
        crate::automation::schedule::next_after(spec, tz, self.now)
    }

    fn track(&self, _carrier: Option<&str>, _number: &str) -> Result<Tracking, String> {
        Err("no courier plugin in a local run".into())
    }
}
