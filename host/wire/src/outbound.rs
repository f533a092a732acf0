//! Checking a send request: the body mirrors the Cloud API's own message object
//! (`to`, `type`, `text` / `template` / `image` / `interactive` / ...), plus two
//! optional scrm fields that are removed before the message goes to Meta: `from`
//! (the sending phone_number_id, needed when the tenant has several numbers) and
//! `category` (a template's category: `marketing`, the default, `utility` or
//! `authentication`). A mark-as-read is `{"status": "read", "message_id": "wamid…"}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What kind of message a send is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything that is not a template (text, media, interactive, reaction, ...).
    FreeForm,
    /// An approved template.
    Template,
    /// A mark-as-read.
    Read,
}

/// A template's category (Meta's), which decides the marketing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A free-form reply inside the customer-service window.
    Service,
    /// Marketing template.
    Marketing,
    /// Utility template (order updates, ...).
    Utility,
    /// Authentication template (one-time codes).
    Authentication,
}

impl Category {
    /// Its name as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Service => "service",
            Category::Marketing => "marketing",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(s: &str) -> Option<Category> {
        Some(match s {
            "service" => Category::Service,
            "marketing" => Category::Marketing,
            "utility" => Category::Utility,
            "authentication" => Category::Authentication,
            _ => return None,
        })
    }
}

/// A checked request, ready for the policy and the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The message object as it will be sent (scrm fields removed,
    /// `messaging_product` and `recipient_type` set).
    pub body: Value,
    /// The message type (`text`, `template`, ...) or `read`.
    pub kind: String,
    /// The rules' view of it.
    pub rule_kind: Kind,
    /// The category.
    pub category: Category,
    /// `to` as given (not yet normalised); `None` for a mark-as-read.
    pub to: Option<String>,
    /// `from` when given.
    pub from: Option<String>,
    /// The message a mark-as-read refers to.
    pub read_message_id: Option<String>,
}

/// Why a request is invalid: a machine-readable code and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Machine-readable code.
    pub code: &'static str,
    /// Human message.
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

fn field(message: impl Into<String>) -> Invalid {
    invalid("invalid_message", message)
}

/// Message types the host sends.
pub const TYPES: &[&str] = &[
    "text",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "interactive",
    "reaction",
    "location",
    "contacts",
];

const INTERACTIVE_TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
    "address_message",
    "order_details",
    "order_status",
];

/// The longest text body Meta accepts.
pub const MAX_TEXT: usize = 4096;

fn str_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn non_empty(obj: &Map<String, Value>, key: &str, path: &str) -> Result<(), Invalid> {
    match str_at(obj, key) {
        Some(s) if !s.trim().is_empty() => Ok(()),
        _ => Err(field(format!("`{path}` must be a non-empty string"))),
    }
}

fn object<'a>(v: Option<&'a Value>, path: &str) -> Result<&'a Map<String, Value>, Invalid> {
    v.and_then(Value::as_object)
        .ok_or_else(|| field(format!("`{path}` must be an object")))
}

/// Checks a request body.
///
/// # Errors
/// [`Invalid`] naming the first problem.
pub fn check(mut body: Value) -> Result<Checked, Invalid> {
    let Some(obj) = body.as_object_mut() else {
        return Err(invalid(
            "invalid_json",
            "the body must be a JSON object (a Cloud API message object)",
        ));
    };
    let from = match obj.remove("from") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(_) => return Err(field("`from` must be the sending number's phone_number_id")),
    };
    let category = match obj.remove("category") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Category::parse(&s) {
            Some(c) if c != Category::Service => Some(c),
            _ => {
                return Err(field(format!(
                    "`category` must be marketing, utility or authentication, got {s:?}"
                )));
            }
        },
        Some(_) => return Err(field("`category` must be a string")),
    };
    match obj.get("messaging_product") {
        None => {
            obj.insert("messaging_product".into(), Value::from("whatsapp"));
        }
        Some(Value::String(s)) if s == "whatsapp" => {}
        Some(_) => return Err(field("`messaging_product` must be \"whatsapp\"")),
    }
    if str_at(obj, "status") == Some("read") {
        non_empty(obj, "message_id", "message_id")?;
        let read_message_id = str_at(obj, "message_id").map(str::to_owned);
        return Ok(Checked {
            body,
            kind: "read".into(),
            rule_kind: Kind::Read,
            category: Category::Service,
            to: None,
            from,
            read_message_id,
        });
    }
    if obj.contains_key("status") {
        return Err(field(
            "`status` is only for a mark-as-read: {\"status\": \"read\", \"message_id\": …}",
        ));
    }
    let to = match obj.get("to") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            return Err(invalid(
                "invalid_recipient",
                "`to` must be the recipient's phone number",
            ));
        }
    };
    match obj.get("recipient_type") {
        None => {
            obj.insert("recipient_type".into(), Value::from("individual"));
        }
        Some(Value::String(s)) if s == "individual" => {}
        Some(_) => return Err(field("`recipient_type` must be \"individual\"")),
    }
    let kind = match obj.get("type") {
        None => {
            // Meta defaults to text; a body that carries exactly one other payload
            // (as some of Meta's own examples do) means that type.
            let present: Vec<&str> = TYPES
                .iter()
                .copied()
                .filter(|t| obj.contains_key(*t))
                .collect();
            let kind = match present.as_slice() {
                [one] => *one,
                _ => "text",
            };
            obj.insert("type".into(), Value::from(kind));
            kind.to_owned()
        }
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.clone(),
        Some(t) => {
            return Err(field(format!(
                "`type` must be one of {}, got {t}",
                TYPES.join(", ")
            )));
        }
    };
    check_payload(&kind, obj.get(&kind))?;
    if let Some(payload) = obj.get_mut(&kind) {
        conform(&kind, payload);
    }
    let (rule_kind, category) = if kind == "template" {
        (Kind::Template, category.unwrap_or(Category::Marketing))
    } else {
        (Kind::FreeForm, Category::Service)
    };
    Ok(Checked {
        body,
        kind,
        rule_kind,
        category,
        to: Some(to),
        from,
        read_message_id: None,
    })
}

/// Writes what Meta's published spec requires where the API also accepts looser
/// forms: coordinates and template button indexes as strings, lowercase button
/// sub-types, and the (only) template language policy.
fn conform(kind: &str, payload: &mut Value) {
    let stringify = |v: &mut Value| {
        if let Value::Number(n) = v {
            *v = Value::String(n.to_string());
        }
    };
    match kind {
        "location" => {
            for key in ["latitude", "longitude"] {
                if let Some(v) = payload.get_mut(key) {
                    stringify(v);
                }
            }
        }
        "template" => {
            if let Some(language) = payload.get_mut("language").and_then(Value::as_object_mut) {
                language
                    .entry("policy")
                    .or_insert_with(|| Value::from("deterministic"));
            }
            for component in payload
                .get_mut("components")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(index) = component.get_mut("index") {
                    stringify(index);
                }
                if let Some(Value::String(sub)) = component.get_mut("sub_type") {
                    *sub = sub.to_lowercase();
                }
            }
        }
        _ => {}
    }
}

fn check_payload(kind: &str, payload: Option<&Value>) -> Result<(), Invalid> {
    if kind == "contacts" {
        return match payload.and_then(Value::as_array) {
            Some(cards) if !cards.is_empty() && cards.iter().all(|c| c.get("name").is_some()) => {
                Ok(())
            }
            _ => Err(field(
                "`contacts` must be a non-empty array of contact cards, each with `name`",
            )),
        };
    }
    let p = object(payload, kind)?;
    match kind {
        "text" => {
            non_empty(p, "body", "text.body")?;
            let len = str_at(p, "body").map_or(0, |b| b.chars().count());
            if len > MAX_TEXT {
                return Err(field(format!(
                    "`text.body` is {len} characters; Meta accepts at most {MAX_TEXT}"
                )));
            }
        }
        "template" => {
            non_empty(p, "name", "template.name")?;
            let language = object(p.get("language"), "template.language")?;
            non_empty(language, "code", "template.language.code")?;
            if let Some(c) = p.get("components")
                && !c.is_array()
            {
                return Err(field("`template.components` must be an array"));
            }
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            match (str_at(p, "id"), str_at(p, "link")) {
                (Some(id), None) if !id.is_empty() => {}
                (None, Some(link))
                    if link.starts_with("https://") || link.starts_with("http://") => {}
                (Some(_), Some(_)) => {
                    return Err(field(format!(
                        "`{kind}` takes either `id` or `link`, not both"
                    )));
                }
                _ => {
                    return Err(field(format!(
                        "`{kind}` needs an uploaded media `id` or an http(s) `link`"
                    )));
                }
            }
        }
        "interactive" => {
            let t = str_at(p, "type").unwrap_or_default();
            if !INTERACTIVE_TYPES.contains(&t) {
                return Err(field(format!(
                    "`interactive.type` must be one of {}, got {t:?}",
                    INTERACTIVE_TYPES.join(", ")
                )));
            }
            let action = object(p.get("action"), "interactive.action")?;
            if matches!(t, "button" | "list") {
                non_empty(
                    object(p.get("body"), "interactive.body")?,
                    "text",
                    "interactive.body.text",
                )?;
            }
            if t == "button" {
                let n = action
                    .get("buttons")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if !(1..=3).contains(&n) {
                    return Err(field(format!(
                        "`interactive.action.buttons` must have 1 to 3 buttons, got {n}"
                    )));
                }
            }
            if t == "list" {
                let n = action
                    .get("sections")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if !(1..=10).contains(&n) {
                    return Err(field(format!(
                        "`interactive.action.sections` must have 1 to 10 sections, got {n}"
                    )));
                }
                non_empty(action, "button", "interactive.action.button")?;
            }
        }
        "reaction" => {
            non_empty(p, "message_id", "reaction.message_id")?;
            if !p.get("emoji").is_some_and(Value::is_string) {
                return Err(field(
                    "`reaction.emoji` must be a string (empty removes the reaction)",
                ));
            }
        }
        "location" => {
            let ok = |k: &str, range: f64| {
                p.get(k)
                    .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
                    .is_some_and(|v: f64| v.abs() <= range)
            };
            if !ok("latitude", 90.0) || !ok("longitude", 180.0) {
                return Err(field(
                    "`location` needs numeric `latitude` (±90) and `longitude` (±180)",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_in_product_recipient_type_and_default_type() {
        let c = check(json!({"to": "+39 347 123 4567", "text": {"body": "hi"}})).unwrap();
        assert_eq!(c.kind, "text");
        assert_eq!(c.body["messaging_product"], "whatsapp");
        assert_eq!(c.body["recipient_type"], "individual");
        assert_eq!(c.body["type"], "text");
        assert_eq!(c.to.as_deref(), Some("+39 347 123 4567"));
        assert_eq!(c.rule_kind, Kind::FreeForm);
    }

    #[test]
    fn strips_scrm_fields_and_defaults_templates_to_marketing() {
        let c = check(json!({"to": "1", "type": "template", "from": "PN1",
            "template": {"name": "hello_world", "language": {"code": "en_US"}}}))
        .unwrap();
        assert_eq!(c.category, Category::Marketing);
        assert_eq!(c.from.as_deref(), Some("PN1"));
        assert!(c.body.get("from").is_none());
        let c = check(json!({"to": "1", "type": "template", "category": "utility",
            "template": {"name": "order", "language": {"code": "it"}}}))
        .unwrap();
        assert_eq!(c.category, Category::Utility);
        assert!(c.body.get("category").is_none());
    }

    #[test]
    fn accepts_every_fixture_request_of_meta() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/send");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".request.json") {
                continue;
            }
            // Meta's examples use placeholders where a real link would be.
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("<http(s)://", "https://example.com/")
                .replace("http(s)://", "https://example.com/");
            let body: Value = serde_json::from_str(&text).unwrap();
            let result = check(body);
            assert!(result.is_ok(), "{}: {:?}", path.display(), result.err());
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} fixtures");
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let cases = [
            (
                json!({"to": "1", "type": "text", "text": {"body": ""}}),
                "text.body",
            ),
            (json!({"to": "1", "type": "fax"}), "`type`"),
            (
                json!({"to": "1", "type": "template", "template": {"name": "x"}}),
                "template.language",
            ),
            (
                json!({"to": "1", "type": "image", "image": {"link": "ftp://x"}}),
                "`image`",
            ),
            (
                json!({"to": "1", "type": "interactive", "interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons": []}}}),
                "buttons",
            ),
            (json!({"type": "text", "text": {"body": "x"}}), "`to`"),
            (
                json!({"to": "1", "type": "reaction", "reaction": {"message_id": "w"}}),
                "emoji",
            ),
            (
                json!({"to": "1", "category": "spam", "text": {"body": "x"}}),
                "category",
            ),
            (
                json!({"to": "1", "text": {"body": "x".repeat(4097)}}),
                "4096",
            ),
        ];
        for (body, needle) in cases {
            let e = check(body.clone()).unwrap_err();
            assert!(e.message.contains(needle), "{body}: {e}");
        }
        assert_eq!(check(json!([1])).unwrap_err().code, "invalid_json");
        assert_eq!(
            check(json!({"text": {"body": "x"}})).unwrap_err().code,
            "invalid_recipient"
        );
    }

    #[test]
    fn conforms_to_the_published_spec() {
        let c = check(json!({"to": "1", "type": "location",
            "location": {"latitude": 45.46, "longitude": 9.19}}))
        .unwrap();
        assert_eq!(c.body["location"]["latitude"], "45.46");
        let c = check(
            json!({"to": "1", "type": "template", "template": {"name": "t",
            "language": {"code": "it"},
            "components": [{"type": "button", "sub_type": "QUICK_REPLY", "index": 0}]}}),
        )
        .unwrap();
        assert_eq!(c.body["template"]["language"]["policy"], "deterministic");
        assert_eq!(c.body["template"]["components"][0]["index"], "0");
        assert_eq!(
            c.body["template"]["components"][0]["sub_type"],
            "quick_reply"
        );
    }

    #[test]
    fn mark_as_read_needs_only_the_message_id() {
        let c = check(
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}),
        )
        .unwrap();
        assert_eq!(c.rule_kind, Kind::Read);
        assert_eq!(c.read_message_id.as_deref(), Some("wamid.X"));
        assert!(check(json!({"status": "read"})).is_err());
    }
}
