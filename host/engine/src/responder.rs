//! Calling a tenant's responder: an inbound message (with its classification) in,
//! actions out. The host records the actions; carrying them out (replies and
//! templates through the outbox, within WhatsApp's rules) belongs to the sender.

use super::bindings::respond::{Action, Event, RespondError};
use super::bindings::types as wit;
use super::call::classify_failure;
use super::classifier::Classification;
use super::error::CallError;
use super::{ActiveBinding, PluginHost, SlotExports};
use serde_json::{Value, json};

/// The conversation a message belongs to, as the responder sees it.
#[derive(Debug, Clone)]
pub struct ConversationView {
    /// Host id.
    pub id: i64,
    /// The business number.
    pub phone_number_id: String,
    /// Newest message, Unix ms.
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms.
    pub last_inbound_at: Option<i64>,
}

impl PluginHost {
    /// Runs `binding` (a responder) on one message in a fresh instance; the actions
    /// as JSON objects (`{"type": "reply", "text": …}`, …).
    ///
    /// # Errors
    /// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
    pub fn respond(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
        conversation: &ConversationView,
        classification: Option<&Classification>,
    ) -> Result<Vec<Value>, CallError> {
        self.respond_both(binding, msg, sender, conversation, classification)
            .map(|(_, actions)| actions)
    }

    /// [`PluginHost::respond`], returning the actions as the plugin gave them
    /// (before the host trims and lowercases tags), for checking plugins (`scrm
    /// plugin test`). The output cap applies as for `respond`.
    ///
    /// # Errors
    /// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
    pub fn respond_as_given(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
        conversation: &ConversationView,
        classification: Option<&Classification>,
    ) -> Result<Vec<Action>, CallError> {
        self.respond_both(binding, msg, sender, conversation, classification)
            .map(|(given, _)| given)
    }

    /// The actions as the plugin gave them and as the host records them.
    fn respond_both(
        &self,
        binding: &ActiveBinding,
        msg: &wit::Message,
        sender: &wit::Contact,
        conversation: &ConversationView,
        classification: Option<&Classification>,
    ) -> Result<(Vec<Action>, Vec<Value>), CallError> {
        let site = binding.site();
        let SlotExports::Responder(indices) = &binding.component.exports else {
            return Err(CallError::Guest {
                site,
                message: "the bound component is not a responder".into(),
            });
        };
        binding.ensure_active()?;
        let limits = &binding.limits;
        let event = Event {
            message: msg.clone(),
            sender: sender.clone(),
            conversation: wit::Conversation {
                id: conversation.id as u64,
                contact_id: sender.id,
                phone_number_id: conversation.phone_number_id.clone(),
                last_message_at: conversation.last_message_at,
                last_inbound_at: conversation.last_inbound_at,
                tags: classification.map(|c| c.tags.clone()).unwrap_or_default(),
            },
            classification: classification.map(to_wit_classification),
        };
        let mut store = self.store_for(binding);
        let result = binding
            .component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| indices.load(&mut store, &inst))
            .and_then(|guest| guest.call_respond(&mut store, &event));
        crate::usage::observe(&store, binding);
        match result {
            Err(e) => Err(classify_failure(&store, e, site, limits)),
            Ok(Err(RespondError::InvalidConfig(message))) => {
                Err(CallError::InvalidConfig { site, message })
            }
            Ok(Err(RespondError::Failed(message))) => Err(CallError::Guest { site, message }),
            Ok(Ok(given)) => {
                let actions: Vec<Value> = given.iter().map(action_json).collect();
                let size = Value::Array(actions.clone()).to_string().len();
                let cap = (limits.output_kib as usize) << 10;
                if size > cap {
                    return Err(CallError::OutputTooLarge { site, size, cap });
                }
                Ok((given, actions))
            }
        }
    }
}

/// An action as the host records it (tags trimmed and lowercased).
pub fn action_json(a: &Action) -> Value {
    match a {
        Action::Reply(text) => json!({"type": "reply", "text": text}),
        Action::Template(t) => json!({
            "type": "template", "name": t.name, "language": t.language, "parameters": t.parameters
        }),
        Action::Tag(tag) => json!({"type": "tag", "tag": tag.trim().to_lowercase()}),
        Action::Assign(to) => json!({"type": "assign", "to": to}),
        Action::SetField((name, value)) => {
            json!({"type": "set_field", "name": name, "value": super::crm::value_json(value)})
        }
    }
}

/// The contract's view of a stored classification.
pub fn to_wit_classification(c: &Classification) -> wit::Classification {
    let d = &c.details;
    wit::Classification {
        tags: c.tags.clone(),
        intent: d["intent"]["name"].as_str().map(|name| wit::Intent {
            name: name.to_string(),
            confidence: d["intent"]["confidence"].as_f64().unwrap_or(0.0) as f32,
        }),
        entities: d["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(wit::Entity {
                    kind: e["kind"].as_str()?.to_string(),
                    value: e["value"].as_str()?.to_string(),
                })
            })
            .collect(),
        sentiment: d["sentiment"].as_f64().map(|s| s as f32),
        priority: match d["priority"].as_str() {
            Some("low") => Some(wit::Priority::Low),
            Some("normal") => Some(wit::Priority::Normal),
            Some("high") => Some(wit::Priority::High),
            Some("urgent") => Some(wit::Priority::Urgent),
            _ => None,
        },
    }
}
