//! Reference flow `ai-replies`: answers customers with a language model behind any
//! OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI, vLLM,
//! llama.cpp's server, Ollama), as drafts an agent approves (the default) or sent
//! at once.
//!
//! For an inbound message whose intent is in `intents` (or any, when empty) it
//! gives the model the system prompt, what scrm knows of the customer (name,
//! language, last order) and the conversation's last `history` messages, and either
//! leaves the answer as a draft in the web inbox (`mode = "draft"`) or sends it
//! (`mode = "send"`). Every call's tokens and cost (`price_*_per_1k`) are recorded
//! for the analytics and the tenant's monthly budget.
//!
//! Guardrails: in `send` mode a message tagged `complaint`, or whose sentiment is
//! below `min_sentiment`, goes to a person (`handoff`) instead; the host never
//! sends outside the 24-hour window (the flow leaves a draft then); an answer
//! longer than WhatsApp's limit is cut after a sentence; links to hosts not in
//! `allowed_links` are removed and the answer is never read as a template; a slow
//! or failing endpoint, or a spent budget, leaves the customer to a person
//! (`handoff`, and the tag `ai-handoff`), never stuck.
//!
//! ```sh
//! scrm flow enable --tenant acme ai-replies --set endpoint=http://127.0.0.1:11434/v1 \
//!   --set model=llama3.1:8b --set api_key_secret=ollama_key --set handoff=Assistenza
//! ```

pub mod chat;
pub mod guard;
pub mod prompt;

use chat::{ChatError, ChatRequest, ChatResponse};
use scrm_plugin_sdk::automation::param;
use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, ParamKind, Trigger};
use scrm_plugin_sdk::{assist, log};
use serde::Deserialize;

/// The flow's parameters, as the host hands them over.
#[derive(Debug, Clone, Deserialize)]
pub struct Params {
    /// The endpoint's base URL (`…/v1`); the flow posts to `/chat/completions` there.
    pub endpoint: String,
    /// The model.
    pub model: String,
    /// `draft` or `send`.
    pub mode: String,
    /// The intents it answers; empty: every message.
    pub intents: Vec<String>,
    /// The system prompt.
    pub system_prompt: String,
    /// How many of the conversation's last messages the model sees.
    pub history: i64,
    /// The longest answer, tokens.
    pub max_tokens: i64,
    /// Price per 1,000 prompt tokens.
    pub price_prompt_per_1k: f64,
    /// Price per 1,000 answer tokens.
    pub price_completion_per_1k: f64,
    /// How long to wait for the endpoint, ms.
    pub timeout: i64,
    /// In `send` mode, a sentiment below this (0 very negative, 1 very positive) goes
    /// to a person.
    pub min_sentiment: f64,
    /// The team name or person email a conversation is handed to.
    pub handoff: String,
    /// Hosts whose links may appear in an answer.
    pub allowed_links: Vec<String>,
}

const DEFAULT_PROMPT: &str = "You are the customer service assistant of this shop on WhatsApp. \
Answer in the customer's language, briefly and politely, in plain text without markdown. \
Use only what you are told here; if you do not know, say that a colleague will follow up.";

/// What the flow says about itself.
pub fn info() -> Info {
    Info {
        name: "ai-replies".into(),
        description: "drafts (or sends) answers with an OpenAI-compatible model, with cost per reply and guardrails".into(),
        triggers: vec!["message".into()],
        params: vec![
            param("endpoint", ParamKind::Text, None,
                "the OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1 (its host is allowed for the flow's HTTP)"),
            param("model", ParamKind::Text, None, "the model name, e.g. gpt-4o-mini or llama3.1:8b"),
            param("api_key_secret", ParamKind::Text, Some(""),
                "the tenant secret sent as the bearer token (empty: none, e.g. a local Ollama)"),
            param("mode", ParamKind::Text, Some("draft"), "draft (an agent approves) or send"),
            param("intents", ParamKind::Json, Some("[]"), "the intents to answer; [] answers every message"),
            param("system_prompt", ParamKind::Text, Some(DEFAULT_PROMPT), "the system prompt"),
            param("history", ParamKind::Integer, Some("10"), "how many of the conversation's last messages the model sees (at most 50)"),
            param("max_tokens", ParamKind::Integer, Some("300"), "the longest answer, in tokens"),
            param("price_prompt_per_1k", ParamKind::Json, Some("0"), "price per 1,000 prompt tokens"),
            param("price_completion_per_1k", ParamKind::Json, Some("0"), "price per 1,000 answer tokens"),
            param("timeout", ParamKind::Duration, Some("20s"), "how long to wait for the endpoint"),
            param("min_sentiment", ParamKind::Json, Some("0.3"),
                "send mode: a message below this sentiment (0 very negative, 1 very positive) goes to a person"),
            param("handoff", ParamKind::Text, Some(""),
                "the team name or person email a conversation is handed to when the bot does not answer"),
            param("allowed_links", ParamKind::Json, Some("[]"), "hosts whose links may appear in an answer"),
            param("min_interval", ParamKind::Duration, Some("0s"), "at most one sent answer per customer within this period"),
        ],
    }
}

/// What to do about one inbound message, before the model is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Not for this flow (another intent, no text).
    Ignore,
    /// Hand the conversation to a person without asking the model; why.
    Handoff(String),
    /// Ask the model; `send`: send the answer (else leave a draft).
    Ask {
        /// Whether the answer is sent.
        send: bool,
    },
}

/// Decides, from the message's classification and the conversation, what to do.
/// `window_open`: the customer's 24-hour window is open now.
pub fn plan(
    p: &Params,
    text: Option<&str>,
    intent: Option<&str>,
    tags: &[String],
    sentiment: Option<f32>,
    window_open: bool,
) -> Plan {
    if text.is_none_or(|t| t.trim().is_empty()) {
        return Plan::Ignore;
    }
    if !p.intents.is_empty() && !intent.is_some_and(|i| p.intents.iter().any(|w| w == i)) {
        return Plan::Ignore;
    }
    let send = p.mode == "send";
    if send && tags.iter().any(|t| t == "complaint") {
        return Plan::Handoff("a complaint goes to a person".into());
    }
    if send && sentiment.is_some_and(|s| f64::from(s) < p.min_sentiment) {
        return Plan::Handoff(format!(
            "sentiment {:.2} is below {:.2}: a person answers",
            sentiment.unwrap_or_default(),
            p.min_sentiment
        ));
    }
    // Outside the window nothing may be sent: an agent decides (with a template).
    Plan::Ask {
        send: send && window_open,
    }
}

/// The actions that hand the conversation to a person.
fn handoff(p: &Params, why: &str) -> Vec<Action> {
    log::warn(&format!("handing the conversation to a person: {why}"));
    let mut actions = vec![Action::Tag("ai-handoff".into())];
    if !p.handoff.trim().is_empty() {
        actions.push(Action::Assign(p.handoff.clone()));
    }
    actions
}

/// Asks the endpoint; the answer and the call's latency in ms.
fn ask(p: &Params, request: &ChatRequest<'_>) -> Result<(ChatResponse, u32), ChatError> {
    let url = format!("{}/chat/completions", p.endpoint.trim_end_matches('/'));
    let body = serde_json::to_vec(request).map_err(|e| ChatError::Config(e.to_string()))?;
    let started = scrm_plugin_sdk::clock::now_ms();
    let answer = scrm_plugin_sdk::http::request_within(
        "POST",
        &url,
        &[("content-type", "application/json")],
        Some(&body),
        Some(std::time::Duration::from_millis(p.timeout.max(1) as u64)),
    )
    .map_err(|e| ChatError::Unavailable(format!("{e:?}")))?;
    let latency = (scrm_plugin_sdk::clock::now_ms() - started).clamp(0, i64::from(u32::MAX)) as u32;
    chat::read(answer.status, &answer.body).map(|r| (r, latency))
}

/// Records the call's tokens and cost.
fn record(p: &Params, r: &ChatResponse, latency_ms: u32) {
    let usage = r.usage.unwrap_or(chat::TokenUsage {
        prompt_tokens: 0,
        completion_tokens: 0,
    });
    let cost = f64::from(usage.prompt_tokens) / 1000.0 * p.price_prompt_per_1k
        + f64::from(usage.completion_tokens) / 1000.0 * p.price_completion_per_1k;
    let recorded = assist::record_usage(&assist::Usage {
        model: r.model.clone().unwrap_or_else(|| p.model.clone()),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cost,
        latency_ms,
    });
    if let Err(e) = recorded {
        log::warn(&format!("usage not recorded: {e}"));
    }
}

/// The flow.
#[derive(Debug)]
pub struct AiReplies;

impl scrm_plugin_sdk::Flow for AiReplies {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let Trigger::Message(inbound) = &e.trigger else {
            return Ok(Vec::new());
        };
        let p: Params = scrm_plugin_sdk::automation::params()?;
        let class = inbound.classification.as_ref();
        let tags = class.map(|c| c.tags.clone()).unwrap_or_default();
        let window_open = e
            .conversation
            .as_ref()
            .and_then(|c| c.last_inbound_at)
            .is_some_and(|at| e.now - at < 24 * 3_600_000);
        let send = match plan(
            &p,
            inbound.message.content.text(),
            class
                .and_then(|c| c.intent.as_ref())
                .map(|i| i.name.as_str()),
            &tags,
            class.and_then(|c| c.sentiment),
            window_open,
        ) {
            Plan::Ignore => return Ok(Vec::new()),
            Plan::Handoff(why) => return Ok(handoff(&p, &why)),
            Plan::Ask { send } => send,
        };
        if assist::budget_left().is_some_and(|left| left <= 0.0) {
            return Ok(handoff(&p, "the tenant's monthly model budget is spent"));
        }
        let request = prompt::request(&p, &inbound.message);
        let (answer, latency) = match ask(&p, &request) {
            Ok(answered) => answered,
            Err(ChatError::Config(why)) => {
                return Err(FlowError::InvalidConfig(format!(
                    "the endpoint refused: {why}"
                )));
            }
            Err(ChatError::Unavailable(why)) => return Ok(handoff(&p, &why)),
        };
        record(&p, &answer, latency);
        let text = answer
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        let (text, removed) = guard::strip_links(&text, &p.allowed_links);
        if !removed.is_empty() {
            log::warn(&format!(
                "links not allowed, removed: {}",
                removed.join(" ")
            ));
        }
        let text = guard::cut(&text, guard::TEXT_LIMIT);
        if text.is_empty() {
            return Ok(handoff(&p, "the model gave no answer"));
        }
        if send {
            return Ok(vec![Action::Reply(guard::literal(&text))]);
        }
        let note = format!("{} · {latency} ms", p.model);
        assist::draft(&text, Some(&note)).map_err(FlowError::Failed)?;
        Ok(Vec::new())
    }
}

scrm_plugin_sdk::export_flow!(AiReplies);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: &str, intents: &[&str]) -> Params {
        Params {
            endpoint: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.1:8b".into(),
            mode: mode.into(),
            intents: intents.iter().map(|s| (*s).to_owned()).collect(),
            system_prompt: DEFAULT_PROMPT.into(),
            history: 10,
            max_tokens: 300,
            price_prompt_per_1k: 0.0,
            price_completion_per_1k: 0.0,
            timeout: 20_000,
            min_sentiment: 0.3,
            handoff: "Assistenza".into(),
            allowed_links: Vec::new(),
        }
    }

    #[test]
    fn only_the_configured_intents_are_answered() {
        let p = params("draft", &["shipping"]);
        assert_eq!(
            plan(&p, Some("hi"), Some("returns"), &[], None, true),
            Plan::Ignore
        );
        assert_eq!(plan(&p, Some("hi"), None, &[], None, true), Plan::Ignore);
        assert_eq!(
            plan(&p, Some("hi"), Some("shipping"), &[], None, true),
            Plan::Ask { send: false }
        );
        assert_eq!(
            plan(&p, None, Some("shipping"), &[], None, true),
            Plan::Ignore
        );
    }

    #[test]
    fn send_mode_hands_complaints_and_anger_to_a_person_and_never_sends_outside_the_window() {
        let p = params("send", &[]);
        assert!(matches!(
            plan(&p, Some("x"), None, &["complaint".into()], None, true),
            Plan::Handoff(_)
        ));
        assert!(matches!(
            plan(&p, Some("x"), None, &[], Some(0.1), true),
            Plan::Handoff(_)
        ));
        assert_eq!(
            plan(&p, Some("x"), None, &[], Some(0.8), true),
            Plan::Ask { send: true }
        );
        assert_eq!(
            plan(&p, Some("x"), None, &[], None, false),
            Plan::Ask { send: false }
        );
        // Drafts are for a person anyway: complaints get one too.
        let d = params("draft", &[]);
        assert_eq!(
            plan(&d, Some("x"), None, &["complaint".into()], Some(0.1), true),
            Plan::Ask { send: false }
        );
    }

    #[test]
    fn every_declared_default_parses_as_its_kind() {
        assert!(info().params.iter().filter(|p| p.default.is_none()).count() == 2);
        for p in info().params.iter().filter(|p| p.kind == ParamKind::Json) {
            let v: serde_json::Value = serde_json::from_str(p.default.as_deref().unwrap()).unwrap();
            assert!(!v.is_null(), "{}", p.name);
        }
    }
}
