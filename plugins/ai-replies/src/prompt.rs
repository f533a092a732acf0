//! The conversation the model sees: the system prompt, what scrm knows of the
//! customer (name, language, last order), then the conversation's last messages,
//! oldest first — the customer's as `user`, the business's as `assistant`.

use crate::Params;
use crate::chat::{ChatMessage, ChatRequest};
use scrm_plugin_sdk::profile::{self, Profile};
use scrm_plugin_sdk::{Direction, FieldValue, Message, OrderInfo, orders};

/// What the model is told about the customer, one fact per line; empty when
/// nothing is known.
pub fn facts(profile: Option<&Profile>, last_order: Option<&OrderInfo>) -> String {
    let mut lines = Vec::new();
    if let Some(p) = profile {
        let field = |name: &str| {
            p.fields
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| match v {
                    FieldValue::Text(t) if !t.trim().is_empty() => Some(t.clone()),
                    _ => None,
                })
        };
        let name = field("first_name").or_else(|| p.contact.name.clone());
        if let Some(name) = name {
            lines.push(format!("The customer's name: {name}."));
        }
        if let Some(language) = field("language") {
            lines.push(format!("The customer's language: {language}."));
        }
    }
    if let Some(o) = last_order {
        let mut line = format!(
            "Their last order: {}",
            o.number.clone().unwrap_or_else(|| o.id.clone())
        );
        if let Some(state) = &o.state {
            line.push_str(&format!(", {state}"));
        }
        if let (Some(total), Some(currency)) = (o.total, &o.currency) {
            line.push_str(&format!(", {total:.2} {currency}"));
        }
        if let Some(tracking) = &o.tracking_number {
            line.push_str(&format!(", tracking {tracking}"));
        }
        line.push('.');
        lines.push(line);
    }
    lines.join("\n")
}

/// The conversation's messages as chat messages, oldest first; `newest_first` is
/// what the host's history gives. Messages without text are left out.
pub fn turns(newest_first: &[Message]) -> Vec<ChatMessage> {
    newest_first
        .iter()
        .rev()
        .filter_map(|m| {
            let text = m.content.text()?.trim();
            (!text.is_empty()).then(|| ChatMessage {
                role: match m.direction {
                    Direction::Inbound => "user",
                    Direction::Outbound => "assistant",
                },
                content: text.to_owned(),
            })
        })
        .collect()
}

/// The request for an answer to `message`, with what the host knows.
pub fn request<'a>(p: &'a Params, message: &Message) -> ChatRequest<'a> {
    let profile = profile::get();
    let last_order = orders::recent(0, 1).ok().and_then(|o| o.into_iter().next());
    let limit = p.history.clamp(1, 50) as u32;
    let mut history = profile::history(limit);
    // The message being answered is the newest; the host may not list it yet.
    if !history.iter().any(|m| m.id == message.id) {
        history.insert(0, message.clone());
    }
    let mut system = p.system_prompt.clone();
    let known = facts(profile.as_ref(), last_order.as_ref());
    if !known.is_empty() {
        system.push_str("\n\n");
        system.push_str(&known);
    }
    let mut messages = vec![ChatMessage {
        role: "system",
        content: system,
    }];
    messages.extend(turns(&history));
    ChatRequest {
        model: &p.model,
        messages,
        max_tokens: p.max_tokens.clamp(1, 4096) as u32,
        temperature: 0.3,
    }
}
