//! Reference flow `questionnaire`: N multiple-choice questions sent as interactive
//! messages (reply buttons for up to 3 options, a list beyond), the answers stored on
//! the contact (and so synced to the CRM), then 3 recommended products chosen by
//! rules over the answers. A customer who completed it and placed no order within
//! `delay` (default 48 h) gets the sample-request link, once.
//!
//! The reference configuration is the 5-question skin-type quiz: each option counts
//! for a skin type, the type with the most answers is stored as `skin_type`, and
//! the first rule whose conditions all hold picks the products:
//!
//! ```json
//! {"questions": [{"id": "q1", "text": "How does your skin feel…?",
//!                 "options": [{"id": "dry", "title": "Tight, dry", "type": "dry"}, …]}, …],
//!  "rules": [{"if": {"skin_type": "dry"}, "products": ["Ceramide Cleanser", …]}, …]}
//! ```
//!
//! It starts when a customer writes one of `start_keywords`. Its state (the step
//! and the answers so far) lives in the flow's key-value store; its follow-up is a
//! durable host timer (`sample/<contact>`), cancelled when an order arrives.

use scrm_plugin_sdk::automation::param;
use scrm_plugin_sdk::flows::{
    Action, Choice, Event, FlowError, Info, Interactive, ParamKind, TemplateSend, Trigger,
};
use scrm_plugin_sdk::{Content, FieldValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One option of a question.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuizOption {
    /// Its id (stored as the answer).
    pub id: String,
    /// What the customer sees (at most 20 characters for buttons, 24 for rows).
    pub title: String,
    /// The skin type (or other outcome) it counts for.
    #[serde(default, rename = "type")]
    pub counts_for: Option<String>,
}

/// One question.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its id; the answer is stored on the contact as `{field_prefix}{id}`.
    pub id: String,
    /// The question, in the host's template language.
    pub text: String,
    /// Its options (2 to 10).
    pub options: Vec<QuizOption>,
}

/// A recommendation rule: when every condition holds, these products.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Conditions: `skin_type` (the outcome) or a question id → the value it must have.
    #[serde(default, rename = "if")]
    pub when: BTreeMap<String, String>,
    /// The products (the first 3 are recommended).
    pub products: Vec<String>,
}

/// The flow's parameters as the host hands them over.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// The questions.
    pub questions: Vec<Question>,
    /// The recommendation rules.
    pub rules: Vec<Rule>,
    /// Words that start it.
    pub start_keywords: Vec<String>,
    /// Prefix of the contact fields the answers go to.
    pub field_prefix: String,
    /// The field the outcome goes to.
    pub outcome_field: String,
    /// How long after completing, without an order, the sample link goes (ms).
    pub delay: i64,
    /// The sample-request link.
    pub sample_link: String,
    /// The recommendation's first line (template language); the outcome and the
    /// products follow it.
    pub done_text: String,
    /// The approved template for the sample link outside the 24-hour window.
    pub sample_template: String,
    /// Its language.
    pub sample_template_language: String,
}

/// Progress of one customer.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Progress {
    /// The next question's index.
    pub step: usize,
    /// Answers so far: question id → option id.
    pub answers: BTreeMap<String, String>,
    /// When it was completed, Unix ms.
    pub completed_at: Option<i64>,
}

const QUIZ: &str = include_str!("skin_quiz.json");

/// What the flow says about itself.
pub fn info() -> Info {
    let quiz: serde_json::Value = serde_json::from_str(QUIZ).unwrap_or_default();
    let questions = quiz["questions"].to_string();
    let rules = quiz["rules"].to_string();
    Info {
        name: "questionnaire".into(),
        description: "a multiple-choice quiz as interactive messages; answers on the contact, 3 products recommended, sample link for completers who did not buy".into(),
        triggers: vec!["message".into(), "order".into()],
        params: vec![
            param("questions", ParamKind::Json, Some(&questions), "[{\"id\", \"text\", \"options\": [{\"id\", \"title\", \"type\"}]}]"),
            param("rules", ParamKind::Json, Some(&rules), "[{\"if\": {\"skin_type\": \"dry\"}, \"products\": [...]}], first match wins"),
            param("start_keywords", ParamKind::Json, Some(r#"["quiz", "skin test", "test pelle"]"#), "words that start the quiz"),
            param("field_prefix", ParamKind::Text, Some("skin_quiz_"), "contact fields for the answers: PREFIX + question id"),
            param("outcome_field", ParamKind::Text, Some("skin_type"), "contact field for the outcome"),
            param("delay", ParamKind::Duration, Some("48h"), "after completing, without an order for this long, the sample link goes"),
            param("sample_link", ParamKind::Text, Some("https://example.com/samples"), "the sample-request link"),
            param("done_text", ParamKind::Message, Some("Thank you {{ contact.first_name | default(\"\") }}! Here is what we recommend for your skin"), "the recommendation's first line (the outcome and the products follow)"),
            param("sample_template", ParamKind::Template, Some("sample_request"), "approved template for the sample link outside the 24-hour window (its {{1}} is the link)"),
            param("sample_template_language", ParamKind::Text, Some("en"), "its language"),
            param("min_interval", ParamKind::Duration, Some("0s"), "a quiz is a conversation: no spacing between its messages"),
            param("business_initiated", ParamKind::Boolean, Some("true"), "the customer starts the quiz, also when answering a campaign"),
        ],
    }
}

/// The interactive message asking question `q`.
pub fn ask(q: &Question) -> Action {
    let choices = q
        .options
        .iter()
        .map(|o| Choice {
            id: format!("quiz:{}:{}", q.id, o.id),
            title: o.title.clone(),
            description: None,
        })
        .collect();
    Action::Interactive(Interactive {
        body: q.text.clone(),
        choices,
        list_button: (q.options.len() > 3).then(|| "Choose".to_string()),
    })
}

/// The outcome with the most answers counting for it (ties: the first reached).
pub fn outcome(questions: &[Question], answers: &BTreeMap<String, String>) -> String {
    let mut votes: Vec<(String, usize)> = Vec::new();
    for q in questions {
        let Some(a) = answers.get(&q.id) else {
            continue;
        };
        let Some(t) = q
            .options
            .iter()
            .find(|o| o.id == *a)
            .and_then(|o| o.counts_for.clone())
        else {
            continue;
        };
        match votes.iter_mut().find(|(k, _)| *k == t) {
            Some((_, n)) => *n += 1,
            None => votes.push((t, 1)),
        }
    }
    let best = votes.iter().map(|(_, n)| *n).max().unwrap_or(0);
    votes
        .into_iter()
        .find(|(_, n)| *n == best)
        .map(|(t, _)| t)
        .unwrap_or_default()
}

/// The first 3 products of the first rule whose conditions all hold.
pub fn recommend(rules: &[Rule], outcome: &str, answers: &BTreeMap<String, String>) -> Vec<String> {
    rules
        .iter()
        .find(|r| {
            r.when.iter().all(|(k, v)| {
                if k == "skin_type" || k == "outcome" {
                    outcome == v
                } else {
                    answers.get(k) == Some(v)
                }
            })
        })
        .map(|r| r.products.iter().take(3).cloned().collect())
        .unwrap_or_default()
}

fn kv_get(key: &str) -> Result<Progress, FlowError> {
    let raw = scrm_plugin_sdk::kv::get(key).map_err(|e| FlowError::Failed(format!("kv: {e:?}")))?;
    Ok(raw
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

fn kv_set(key: &str, p: &Progress) -> Result<(), FlowError> {
    let bytes = serde_json::to_vec(p).map_err(|e| FlowError::Failed(e.to_string()))?;
    scrm_plugin_sdk::kv::set(key, &bytes).map_err(|e| FlowError::Failed(format!("kv: {e:?}")))
}

/// What one customer message does to the quiz: the new progress and the actions.
pub fn on_message(
    p: &Params,
    mut progress: Progress,
    content: &Content,
    now: i64,
) -> (Option<Progress>, Vec<Action>) {
    let started = |text: &str| {
        let t = text.to_lowercase();
        p.start_keywords
            .iter()
            .any(|k| t.contains(&k.to_lowercase()))
    };
    match content {
        Content::InteractiveReply(r) | Content::Button(r) if r.id.starts_with("quiz:") => {
            let mut parts = r.id.splitn(3, ':').skip(1);
            let (Some(qid), Some(aid)) = (parts.next(), parts.next()) else {
                return (None, Vec::new());
            };
            let Some(expected) = p.questions.get(progress.step) else {
                return (None, Vec::new());
            };
            if expected.id != qid || progress.completed_at.is_some() {
                // An old button tapped again: ask the current question once more.
                return (
                    None,
                    p.questions
                        .get(progress.step)
                        .map(ask)
                        .into_iter()
                        .collect(),
                );
            }
            progress.answers.insert(qid.to_string(), aid.to_string());
            progress.step += 1;
            let mut actions = vec![Action::SetField((
                format!("{}{qid}", p.field_prefix),
                FieldValue::Text(aid.to_string()),
            ))];
            match p.questions.get(progress.step) {
                Some(next) => actions.push(ask(next)),
                None => {
                    let result = outcome(&p.questions, &progress.answers);
                    let products = recommend(&p.rules, &result, &progress.answers);
                    progress.completed_at = Some(now);
                    actions.push(Action::SetField((
                        p.outcome_field.clone(),
                        FieldValue::Text(result.clone()),
                    )));
                    let list: String = products.iter().map(|x| format!("\n• {x}")).collect();
                    actions.push(Action::Reply(format!("{} ({result}):{list}", p.done_text)));
                }
            }
            (Some(progress), actions)
        }
        Content::Text(t) if started(t) => match p.questions.first() {
            Some(q) => (Some(Progress::default()), vec![ask(q)]),
            None => (None, Vec::new()),
        },
        _ => (None, Vec::new()),
    }
}

/// The flow.
#[derive(Debug)]
pub struct Questionnaire;

impl scrm_plugin_sdk::Flow for Questionnaire {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let p: Params = scrm_plugin_sdk::automation::params()?;
        let Some(contact) = e.contact.as_ref() else {
            return Ok(Vec::new());
        };
        let key = format!("progress/{}", contact.id);
        let timer = format!("sample/{}", contact.id);
        match e.trigger {
            Trigger::Message(m) => {
                let (next, actions) = on_message(&p, kv_get(&key)?, &m.message.content, e.now);
                if let Some(next) = next {
                    if next.completed_at.is_some() {
                        scrm_plugin_sdk::timers::schedule(&timer, e.now + p.delay, &[])
                            .map_err(FlowError::Failed)?;
                    }
                    kv_set(&key, &next)?;
                }
                Ok(actions)
            }
            Trigger::Order(_) => {
                scrm_plugin_sdk::timers::cancel(&timer);
                Ok(Vec::new())
            }
            Trigger::Timer(_) => {
                let progress = kv_get(&key)?;
                let Some(done) = progress.completed_at else {
                    return Ok(Vec::new());
                };
                let orders = scrm_plugin_sdk::orders::recent(done, 1).map_err(FlowError::Failed)?;
                if !orders.is_empty()
                    || scrm_plugin_sdk::kv::get(&format!("sampled/{}", contact.id))
                        .ok()
                        .flatten()
                        .is_some()
                {
                    return Ok(Vec::new());
                }
                scrm_plugin_sdk::kv::set(&format!("sampled/{}", contact.id), b"1")
                    .map_err(|e| FlowError::Failed(format!("kv: {e:?}")))?;
                let window_open = e
                    .conversation
                    .as_ref()
                    .and_then(|c| c.last_inbound_at)
                    .is_some_and(|at| e.now - at < 24 * 3_600_000);
                Ok(vec![if window_open {
                    Action::Reply(format!(
                        "Still deciding? Ask for free samples of your recommendations: {}",
                        p.sample_link
                    ))
                } else {
                    Action::Template(TemplateSend {
                        name: p.sample_template.clone(),
                        language: p.sample_template_language.clone(),
                        parameters: vec![p.sample_link.clone()],
                    })
                }])
            }
            _ => Ok(Vec::new()),
        }
    }
}

scrm_plugin_sdk::export_flow!(Questionnaire);

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_plugin_sdk::Reply;

    fn params() -> Params {
        let quiz: serde_json::Value = serde_json::from_str(QUIZ).unwrap();
        Params {
            questions: serde_json::from_value(quiz["questions"].clone()).unwrap(),
            rules: serde_json::from_value(quiz["rules"].clone()).unwrap(),
            start_keywords: vec!["quiz".into()],
            field_prefix: "skin_quiz_".into(),
            outcome_field: "skin_type".into(),
            delay: 1000,
            sample_link: "https://example.com/s".into(),
            done_text: "Thanks".into(),
            sample_template: "sample_request".into(),
            sample_template_language: "en".into(),
        }
    }

    fn tap(id: &str) -> Content {
        Content::InteractiveReply(Reply {
            id: id.into(),
            title: "x".into(),
            description: None,
        })
    }

    #[test]
    fn the_reference_quiz_has_five_questions_and_a_rule_per_type() {
        let p = params();
        assert_eq!(p.questions.len(), 5);
        for t in ["dry", "oily", "combination", "normal", "sensitive"] {
            let r = recommend(&p.rules, t, &BTreeMap::new());
            assert_eq!(r.len(), 3, "{t}");
        }
    }

    #[test]
    fn five_answers_give_the_outcome_fields_and_three_products() {
        let p = params();
        let (progress, actions) = on_message(
            &p,
            Progress::default(),
            &Content::Text("Quiz please".into()),
            0,
        );
        let mut progress = progress.unwrap();
        assert!(matches!(&actions[0], Action::Interactive(i) if i.list_button.is_some()));
        for q in p.questions.clone() {
            let dry = q
                .options
                .iter()
                .find(|o| o.counts_for.as_deref() == Some("dry"))
                .unwrap();
            let (next, actions) =
                on_message(&p, progress, &tap(&format!("quiz:{}:{}", q.id, dry.id)), 5);
            progress = next.unwrap();
            assert!(matches!(&actions[0], Action::SetField((f, _)) if f.starts_with("skin_quiz_")));
        }
        assert_eq!(progress.completed_at, Some(5));
        assert_eq!(outcome(&p.questions, &progress.answers), "dry");
    }

    #[test]
    fn a_stale_button_asks_the_current_question_again() {
        let p = params();
        let progress = Progress {
            step: 2,
            ..Progress::default()
        };
        let (next, actions) = on_message(&p, progress, &tap("quiz:q1:dry"), 0);
        assert!(next.is_none());
        assert!(matches!(&actions[0], Action::Interactive(i) if i.body == p.questions[2].text));
    }
}
