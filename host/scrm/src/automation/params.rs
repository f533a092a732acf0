//! A flow's parameters: what `--set KEY=VALUE` may say, checked against what the
//! flow declares (`describe`) plus the parameters the host owns for every flow, and
//! turned into the JSON object the flow reads as its configuration.
//!
//! Values by kind: `duration` ("72h", "30m", "2d", "1h 30m") becomes milliseconds;
//! `integer` and `boolean` become numbers and booleans; `json` is parsed, and every
//! string in it that uses the template language is checked like a `message`;
//! `message` is checked as a template ([`super::template::check`]); `template` must
//! name a template the tenant can send (the caller's `templates` check); `schedule`
//! must be a cron expression ([`super::schedule`]).

use super::template;
use scrm_engine::flow::{FlowInfo, FlowParam};
use serde_json::{Map, Value};
use std::fmt;

/// The host's own parameters, which every flow has.
pub fn host_params() -> Vec<FlowParam> {
    vec![
        FlowParam {
            name: "min_interval".into(),
            kind: "duration".into(),
            default: Some("24h".into()),
            description:
                "at most one automated message per contact from this flow within this period".into(),
        },
        FlowParam {
            name: "business_initiated".into(),
            kind: "boolean".into(),
            default: Some("false".into()),
            description: "also message customers in conversations the business started (a \
                          business-initiated message in the last 24 h)"
                .into(),
        },
    ]
}

/// Every parameter of a flow: its own, then the host's it does not redeclare.
pub fn all_params(info: &FlowInfo) -> Vec<FlowParam> {
    let mut params = info.params.clone();
    for p in host_params() {
        if !params.iter().any(|q| q.name == p.name) {
            params.push(p);
        }
    }
    params
}

/// Why a parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter.
    pub param: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter {:?}: {}", self.param, self.reason)
    }
}

impl std::error::Error for ParamError {}

fn err(param: &str, reason: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_string(),
        reason: reason.into(),
    }
}

/// Parses a duration such as "72h", "30m", "2d" or "1h 30m" into milliseconds.
///
/// # Errors
/// The reason, naming the units.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} in {text:?}; write a number with a unit: 30s, 15m, 72h, 2d"))?;
    i64::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long"))
}

/// Formats milliseconds the way [`parse_duration`] reads them.
pub fn format_duration(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// Resolves the parameters of a flow: `current` (the values it runs with now, if
/// enabled before) updated with `sets`, defaults filled in, each value checked.
/// `templates` says whether the tenant can send a WhatsApp template by name.
///
/// # Errors
/// The first bad parameter: unknown (with the known ones), missing, or a value that
/// does not parse (with the position for templates and JSON).
pub fn resolve(
    info: &FlowInfo,
    current: Option<&Map<String, Value>>,
    sets: &[(String, String)],
    templates: &dyn Fn(&str) -> Result<(), String>,
) -> Result<Map<String, Value>, ParamError> {
    let params = all_params(info);
    let mut out = Map::new();
    for (name, _) in sets {
        if !params.iter().any(|p| p.name == *name) {
            let known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            return Err(err(
                name,
                format!(
                    "{} has no such parameter; its parameters are: {}",
                    info.name,
                    known.join(", ")
                ),
            ));
        }
    }
    // Plain values first, so messages (and templates inside JSON) can use them as
    // `flow.*`.
    let uses_templates = |p: &&FlowParam| p.kind == "message" || p.kind == "json";
    let mut ordered: Vec<&FlowParam> = params.iter().filter(|p| !uses_templates(p)).collect();
    ordered.extend(params.iter().filter(uses_templates));
    for p in ordered {
        let given = sets
            .iter()
            .rev()
            .find(|(n, _)| *n == p.name)
            .map(|(_, v)| v);
        let value = match (given, current.and_then(|c| c.get(&p.name))) {
            (Some(text), _) => parse(p, text, &Value::Object(out.clone()), templates)?,
            (None, Some(kept)) => kept.clone(),
            (None, None) => match &p.default {
                Some(text) => {
                    parse(p, text, &Value::Object(out.clone()), templates).map_err(|e| {
                        err(&p.name, format!("the flow's default is bad: {}", e.reason))
                    })?
                }
                None => {
                    return Err(err(
                        &p.name,
                        format!(
                            "required ({}): {}; give it with --set {}=…",
                            p.kind, p.description, p.name
                        ),
                    ));
                }
            },
        };
        out.insert(p.name.clone(), value);
    }
    Ok(out)
}

fn parse(
    p: &FlowParam,
    text: &str,
    flow: &Value,
    templates: &dyn Fn(&str) -> Result<(), String>,
) -> Result<Value, ParamError> {
    let name = p.name.as_str();
    match p.kind.as_str() {
        "duration" => parse_duration(text)
            .map(Value::from)
            .map_err(|e| err(name, e)),
        "integer" => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| err(name, format!("{text:?} is not a whole number"))),
        "boolean" => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(err(name, format!("{text:?} is not true or false"))),
        },
        "template" => {
            let t = text.trim();
            if t.is_empty() {
                return Err(err(name, "a template name is required"));
            }
            templates(t).map_err(|e| err(name, e))?;
            Ok(Value::from(t))
        }
        "message" => {
            template::check(text, flow).map_err(|e| err(name, e.to_string()))?;
            Ok(Value::from(text))
        }
        "schedule" => {
            if !text.trim().is_empty() {
                super::schedule::check(text).map_err(|e| err(name, e))?;
            }
            Ok(Value::from(text.trim()))
        }
        "json" => {
            let v: Value = serde_json::from_str(text).map_err(|e| {
                err(
                    name,
                    format!("not JSON: {e} (line {}, column {})", e.line(), e.column()),
                )
            })?;
            check_templates_in(&v, flow, "")
                .map_err(|(at, e)| err(name, format!("at {at}: {e}")))?;
            Ok(v)
        }
        _ => Ok(Value::from(text)),
    }
}

/// Checks every string in `v` that uses the template language; the error names its
/// JSON path.
fn check_templates_in(v: &Value, flow: &Value, path: &str) -> Result<(), (String, String)> {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => template::check(s, flow)
            .map_err(|e| {
                (
                    if path.is_empty() {
                        "/".into()
                    } else {
                        path.to_string()
                    },
                    e.to_string(),
                )
            }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_templates_in(item, flow, &format!("{path}/{i}"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, item)| check_templates_in(item, flow, &format!("{path}/{k}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> FlowInfo {
        FlowInfo {
            name: "clicked-no-order".into(),
            description: "d".into(),
            triggers: vec!["link-clicked".into()],
            params: vec![
                FlowParam {
                    name: "delay".into(),
                    kind: "duration".into(),
                    default: Some("72h".into()),
                    description: "wait".into(),
                },
                FlowParam {
                    name: "template".into(),
                    kind: "template".into(),
                    default: None,
                    description: "the discount template".into(),
                },
                FlowParam {
                    name: "greeting".into(),
                    kind: "message".into(),
                    default: Some("Hi {{ contact.first_name | default(\"there\") }}".into()),
                    description: "g".into(),
                },
            ],
        }
    }

    fn known(name: &str) -> Result<(), String> {
        if name == "discount_15" {
            Ok(())
        } else {
            Err(format!("unknown template {name:?} (known: discount_15)"))
        }
    }

    fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_durations_become_ms() {
        let out = resolve(&info(), None, &sets(&[("template", "discount_15")]), &known).unwrap();
        assert_eq!(out["delay"], 72 * 3_600_000);
        assert_eq!(out["min_interval"], 24 * 3_600_000);
        assert_eq!(out["business_initiated"], false);
        assert_eq!(out["template"], "discount_15");
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let e = resolve(&info(), None, &sets(&[("dealy", "1h")]), &known).unwrap_err();
        assert_eq!(e.param, "dealy");
        assert!(e.reason.contains("delay, template, greeting"), "{e}");
        let e = resolve(
            &info(),
            None,
            &sets(&[("template", "discount_15"), ("delay", "72 hours-ish")]),
            &known,
        )
        .unwrap_err();
        assert_eq!(e.param, "delay");
        let e = resolve(&info(), None, &sets(&[("template", "discount_51")]), &known).unwrap_err();
        assert!(e.reason.contains("unknown template"), "{e}");
        let e = resolve(&info(), None, &sets(&[]), &known).unwrap_err();
        assert_eq!(e.param, "template");
        assert!(e.reason.contains("required"), "{e}");
        let e = resolve(
            &info(),
            None,
            &sets(&[
                ("template", "discount_15"),
                ("greeting", "Hi {{ contact.first_name }}"),
            ]),
            &known,
        )
        .unwrap_err();
        assert!(e.reason.contains("line 1"), "{e}");
    }

    #[test]
    fn json_parameters_have_their_templates_checked() {
        let mut i = info();
        i.params.push(FlowParam {
            name: "answers".into(),
            kind: "json".into(),
            default: Some("[]".into()),
            description: "a".into(),
        });
        let bad =
            r#"[{"keywords": ["hours"], "text": "Open 9-18"}, {"text": "Hi {{ contact.name }}"}]"#;
        let e = resolve(
            &i,
            None,
            &sets(&[("template", "discount_15"), ("answers", bad)]),
            &known,
        )
        .unwrap_err();
        assert!(e.reason.starts_with("at /1/text"), "{e}");
        let e = resolve(
            &i,
            None,
            &sets(&[("template", "discount_15"), ("answers", "[{")]),
            &known,
        )
        .unwrap_err();
        assert!(e.reason.contains("line 1, column"), "{e}");
    }

    #[test]
    fn current_values_are_kept_unless_set_again() {
        let first = resolve(
            &info(),
            None,
            &sets(&[("template", "discount_15"), ("delay", "48h")]),
            &known,
        )
        .unwrap();
        let next = resolve(
            &info(),
            Some(&first),
            &sets(&[("min_interval", "7d")]),
            &known,
        )
        .unwrap();
        assert_eq!(next["delay"], 48 * 3_600_000);
        assert_eq!(next["min_interval"], 7 * 86_400_000);
    }
}
