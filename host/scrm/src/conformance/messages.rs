//! The checks every plugin fed inputs must pass: it answers each message type, each
//! hostile input and each record shape without failing, and answers the same twice.
//! What makes an answer well-formed is the world's ([`super::classifier`],
//! [`super::responder`], [`super::mapper`]).

use super::cases::{self, Case};
use super::{Check, TestError};
use crate::runner::{CONFIG_PREFIX, Outcome, RunError, Runner};
use serde_json::Value;

/// One case and its outcomes on both passes.
#[derive(Debug)]
pub(super) struct Ran {
    pub case: Case,
    pub first: Vec<Outcome>,
    pub second: Vec<Outcome>,
}

impl Ran {
    /// The calls of the first pass (not the steps that reached no plugin).
    pub fn calls(&self) -> impl Iterator<Item = &Outcome> {
        self.first.iter().filter(|o| o.call != "skip")
    }
}

/// The message cases ([`cases::messages`]).
///
/// # Errors
/// [`TestError::Fixtures`] for an extra file that is not a webhook payload.
pub(super) fn cases(extra: &[(String, Vec<u8>)]) -> Result<Vec<Case>, TestError> {
    cases::messages(extra).map_err(TestError::Fixtures)
}

/// Calls the plugin on every case, on both runners.
///
/// # Errors
/// [`TestError::Run`] with [`RunError::Config`] when the plugin rejects its
/// configuration on the first case (the plain text example).
pub(super) fn run(
    first: &mut Runner,
    second: &mut Runner,
    cases: Vec<Case>,
) -> Result<Vec<Ran>, TestError> {
    let mut ran = Vec::with_capacity(cases.len());
    for (i, case) in cases.into_iter().enumerate() {
        let a = first.run_all(&case.input)?;
        if i == 0
            && let Some(why) = config_rejected(&a)
        {
            return Err(RunError::Config(why).into());
        }
        let b = second.run_all(&case.input)?;
        ran.push(Ran {
            case,
            first: a,
            second: b,
        });
    }
    Ok(ran)
}

/// The plugin's reason when a call failed blaming its configuration.
pub(super) fn config_rejected(outcomes: &[Outcome]) -> Option<String> {
    outcomes.iter().find_map(|o| match &o.result {
        Err(f) => f
            .message
            .strip_prefix(CONFIG_PREFIX)
            .map(crate::runner::one_line),
        Ok(_) => None,
    })
}

/// One check per message type, hostile input or record shape, in the order the
/// cases came: each call must answer (no trap, no limit hit, no error but those
/// whose codes are `allowed`: answers the contract gives as errors).
pub(super) fn answered(ran: &[Ran], allowed: &[&str]) -> Vec<Check> {
    let mut names: Vec<&str> = Vec::new();
    for r in ran {
        if !names.contains(&r.case.check.as_str()) {
            names.push(&r.case.check);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let group: Vec<&Ran> = ran.iter().filter(|r| r.case.check == name).collect();
            let mut problems = Vec::new();
            let mut calls = 0;
            for r in &group {
                for o in r.calls() {
                    calls += 1;
                    if let Err(f) = &o.result
                        && !allowed.contains(&f.code.as_str())
                    {
                        problems.push(format!(
                            "{}: {} {}",
                            r.case.source,
                            f.code,
                            short(&f.message)
                        ));
                    }
                }
            }
            let mut sources: Vec<&str> = group.iter().map(|r| r.case.source.as_str()).collect();
            sources.dedup();
            let covered = format!(
                "{calls} call{} answered ({})",
                if calls == 1 { "" } else { "s" },
                sources.join(", ")
            );
            Check::from_problems(name, covered, &problems)
        })
        .collect()
}

/// Whether both passes gave the same answers: the same calls, each answering the
/// same (as the plugin gave it) or failing with the same code.
pub(super) fn deterministic(ran: &[Ran]) -> Check {
    let mut problems = Vec::new();
    let mut calls = 0;
    for r in ran {
        let a: Vec<&Outcome> = r.first.iter().filter(|o| o.call != "skip").collect();
        let b: Vec<&Outcome> = r.second.iter().filter(|o| o.call != "skip").collect();
        calls += a.len();
        if a.len() != b.len() {
            problems.push(format!(
                "{}: {} calls, then {}",
                r.case.source,
                a.len(),
                b.len()
            ));
            continue;
        }
        for (x, y) in a.iter().zip(&b) {
            let (x, y) = (answer(x), answer(y));
            if let Some((at, x, y)) = difference("", &x, &y) {
                problems.push(format!(
                    "{}: {at} was {} the first time, {} the second",
                    r.case.source,
                    short(&x.to_string()),
                    short(&y.to_string())
                ));
            }
        }
    }
    Check::from_problems(
        "deterministic",
        format!(
            "the same answers to {calls} calls on a second pass (fresh instances, an empty key-value store, the same order)"
        ),
        &problems,
    )
}

/// What a call answered, for comparing: the plugin's own answer when the host
/// normalises it, else the host's; the code of a failure.
fn answer(o: &Outcome) -> Value {
    match (&o.result, &o.given) {
        (Ok(_), Some(given)) => given.clone(),
        (Ok(v), None) => v.clone(),
        (Err(f), _) => Value::String(format!("failure {}", f.code)),
    }
}

/// Where two answers first differ (`tags`, `entities[2].value`, or `the answer`),
/// and the two values there.
fn difference<'a>(at: &str, a: &'a Value, b: &'a Value) -> Option<(String, &'a Value, &'a Value)> {
    let here = || {
        let name = if at.is_empty() { "the answer" } else { at };
        Some((name.to_string(), a, b))
    };
    match (a, b) {
        _ if a == b => None,
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => x
            .iter()
            .find_map(|(k, v)| {
                let w = y.get(k)?;
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                difference(&path, v, w)
            })
            .or_else(here),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| difference(&format!("{at}[{i}]"), v, w))
            .or_else(here),
        _ => here(),
    }
}

/// `text` on one line, cut to 200 characters.
pub(super) fn short(text: &str) -> String {
    const MAX: usize = 200;
    let line = crate::runner::one_line(text);
    if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// The answers of the first pass that calls named `call` gave as the plugin gave
/// them, with the case each came from.
pub(super) fn given<'a>(ran: &'a [Ran], call: &str) -> Vec<(&'a str, &'a Value)> {
    ran.iter()
        .flat_map(|r| {
            r.calls()
                .filter(move |o| o.call == call)
                .filter_map(move |o| o.given.as_ref().map(|g| (r.case.source.as_str(), g)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_where_two_answers_first_differ() {
        let a = json!({"tags": ["seen", "n1"], "intent": null});
        let b = json!({"tags": ["seen", "n2"], "intent": null});
        let (at, x, y) = difference("", &a, &b).unwrap();
        assert_eq!((at.as_str(), x, y), ("tags[1]", &json!("n1"), &json!("n2")));
        let (at, ..) = difference("", &json!({"tags": ["a"]}), &json!({"tags": []})).unwrap();
        assert_eq!(at, "tags");
        let (at, ..) = difference("", &json!("failure plugin_trap"), &json!({})).unwrap();
        assert_eq!(at, "the answer");
        assert!(difference("", &a, &a.clone()).is_none());
    }

    #[test]
    fn short_keeps_one_line() {
        assert_eq!(
            short("trapped\nguest said: boom\n"),
            "trapped; guest said: boom"
        );
        assert!(short(&"x".repeat(500)).ends_with('…'));
    }
}
