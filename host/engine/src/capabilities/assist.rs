//! `scrm:plugin/assist` (since 0.1.2): drafts a flow leaves for an agent and what its
//! model calls cost. Both are collected in the call's state and handed to the host
//! with the call's result ([`Assisted`]), so they count only when the call succeeds;
//! the budget is read through the call's [`crate::storage::FlowReader`].

use super::automation::AutomationState;
use crate::bindings::scrm::plugin::assist::{self as assist_wit, Usage};

/// Most usage records one call may make.
pub const MAX_USAGE_RECORDS: usize = 20;
/// Most drafts one call may leave.
pub const MAX_DRAFTS: usize = 5;
/// Longest draft, bytes (WhatsApp's text limit is 4,096 characters).
pub const MAX_DRAFT_BYTES: usize = 16 << 10;

/// A draft answer a flow left for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The text, plain (never rendered as a template).
    pub text: String,
    /// Where it came from, for the agent.
    pub note: Option<String>,
}

/// One model call's usage, as the flow reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelUsage {
    /// The model.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Answer tokens.
    pub completion_tokens: u32,
    /// Cost in the tenant's currency.
    pub cost: f64,
    /// The endpoint's answer time, ms.
    pub latency_ms: u32,
}

/// What a call recorded through `assist`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assisted {
    /// Drafts, in order.
    pub drafts: Vec<Draft>,
    /// Model calls, in order.
    pub usage: Vec<ModelUsage>,
}

/// The `assist` part of a call's state.
#[derive(Debug, Default)]
pub struct AssistState {
    conversation: bool,
    recorded: Assisted,
}

impl AssistState {
    pub(super) fn new(conversation: bool) -> AssistState {
        AssistState {
            conversation,
            recorded: Assisted::default(),
        }
    }

    pub(super) fn take(&mut self) -> Assisted {
        std::mem::take(&mut self.recorded)
    }
}

impl assist_wit::Host for AutomationState {
    fn record_usage(&mut self, u: Usage) -> Result<(), String> {
        let recorded = &mut self.assist.recorded;
        if recorded.usage.len() >= MAX_USAGE_RECORDS {
            return Err(format!(
                "at most {MAX_USAGE_RECORDS} usage records per event"
            ));
        }
        if !u.cost.is_finite() || u.cost < 0.0 {
            return Err(format!(
                "a cost is a finite number not below 0, got {}",
                u.cost
            ));
        }
        recorded.usage.push(ModelUsage {
            model: u.model.chars().take(200).collect(),
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cost: u.cost,
            latency_ms: u.latency_ms,
        });
        Ok(())
    }

    fn budget_left(&mut self) -> Option<f64> {
        let reader = self.reader.as_ref()?;
        let spent_now: f64 = self.assist.recorded.usage.iter().map(|u| u.cost).sum();
        reader.budget_left().map(|left| left - spent_now)
    }

    fn draft(&mut self, text: String, note: Option<String>) -> Result<(), String> {
        if !self.assist.conversation {
            return Err("this event has no conversation to leave a draft in".into());
        }
        if text.trim().is_empty() || text.len() > MAX_DRAFT_BYTES {
            return Err(format!("a draft is 1..={MAX_DRAFT_BYTES} bytes of text"));
        }
        let recorded = &mut self.assist.recorded;
        if recorded.drafts.len() >= MAX_DRAFTS {
            return Err(format!("at most {MAX_DRAFTS} drafts per event"));
        }
        recorded.drafts.push(Draft {
            text,
            note: note.map(|n| n.chars().take(500).collect()),
        });
        Ok(())
    }
}
