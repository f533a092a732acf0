//! What a send of a template must give: its variables, read from the components.
//!
//! A positional template's body `Hi {{1}}, your order {{2}}` takes 2 parameters, in
//! order; a named one's `Hi {{first_name}}` takes `first_name`. A text header takes
//! at most one parameter; a media header takes the media; a `URL` button whose link
//! ends in `{{1}}` takes the link's suffix, a `COPY_CODE` button the coupon code and
//! an `OTP` button (authentication templates) the one-time code.

use super::{ButtonKind, ComponentKind, HeaderFormat, ParameterFormat, Template};
use serde::{Deserialize, Serialize};

/// One `{{…}}` of a template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `{{3}}`.
    Index(u32),
    /// `{{first_name}}`: lower-case letters, digits and `_`, starting with a letter.
    Name(String),
    /// Anything else between the braces (`{{ }}`, `{{First Name}}`, `{{1a}}`).
    Invalid(String),
}

/// Every `{{…}}` of `text`, in order (spaces inside the braces are ignored, as
/// Meta does).
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = after[..end].trim();
        out.push(classify(inner));
        rest = &after[end + 2..];
    }
    out
}

fn classify(inner: &str) -> Placeholder {
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        return match inner.parse() {
            Ok(n) => Placeholder::Index(n),
            Err(_) => Placeholder::Invalid(inner.to_string()),
        };
    }
    let mut bytes = inner.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if starts_with_letter
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Placeholder::Name(inner.to_string())
    } else {
        Placeholder::Invalid(inner.to_string())
    }
}

/// The parameter a template's header takes, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeaderParameter {
    /// A text header with a variable: one text parameter (named for named templates).
    Text {
        /// The variable's name, for named templates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// An image.
    Image,
    /// A video.
    Video,
    /// A document.
    Document,
    /// A location.
    Location,
}

/// A button that takes a parameter at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonParameter {
    /// Its position among the template's buttons, from 0 (the send's `index`).
    pub index: usize,
    /// The send's `sub_type`: `url` (a link suffix, or an OTP button's code) or
    /// `copy_code` (a coupon code).
    pub sub_type: String,
}

/// What a send of a template must give.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Parameters {
    /// How the variables are written.
    pub format: ParameterFormat,
    /// How many body parameters a send gives: the highest `{{n}}` of a positional
    /// body, the number of distinct names of a named one.
    pub body: usize,
    /// A named body's variables, in order of first appearance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_names: Vec<String>,
    /// The header's parameter, when it takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderParameter>,
    /// The buttons that take a parameter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ButtonParameter>,
    /// Component types not modelled here (`CAROUSEL`, `LIMITED_TIME_OFFER`, …), whose
    /// parameters a send must work out itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmodeled: Vec<String>,
}

/// A text's variable count: the highest index, or the distinct names in order.
fn variables(text: &str) -> (usize, Vec<String>) {
    let mut highest = 0usize;
    let mut names: Vec<String> = Vec::new();
    for p in placeholders(text) {
        match p {
            Placeholder::Index(n) => highest = highest.max(n as usize),
            Placeholder::Name(n) if !names.contains(&n) => names.push(n),
            _ => {}
        }
    }
    (highest, names)
}

fn header(t: &Template) -> Option<HeaderParameter> {
    let h = t.component(&ComponentKind::Header)?;
    match h.format.as_ref().unwrap_or(&HeaderFormat::Text) {
        HeaderFormat::Text => {
            let (highest, names) = variables(h.text.as_deref().unwrap_or(""));
            (highest > 0 || !names.is_empty()).then(move || HeaderParameter::Text {
                name: names.into_iter().next(),
            })
        }
        HeaderFormat::Image => Some(HeaderParameter::Image),
        HeaderFormat::Video => Some(HeaderParameter::Video),
        HeaderFormat::Document => Some(HeaderParameter::Document),
        HeaderFormat::Location => Some(HeaderParameter::Location),
        HeaderFormat::Other(_) => None,
    }
}

fn buttons(t: &Template) -> Vec<ButtonParameter> {
    let Some(c) = t.component(&ComponentKind::Buttons) else {
        return Vec::new();
    };
    c.buttons
        .iter()
        .enumerate()
        .filter_map(|(index, b)| {
            let sub_type = match b.kind {
                ButtonKind::Url if !placeholders(b.url.as_deref().unwrap_or("")).is_empty() => {
                    "url"
                }
                // An authentication template's code goes in as a URL button parameter.
                ButtonKind::Otp => "url",
                ButtonKind::CopyCode => "copy_code",
                _ => return None,
            };
            Some(ButtonParameter {
                index,
                sub_type: sub_type.into(),
            })
        })
        .collect()
}

impl Template {
    /// What a send of this template must give.
    pub fn parameters(&self) -> Parameters {
        let body = self
            .component(&ComponentKind::Body)
            .and_then(|b| b.text.as_deref())
            .unwrap_or("");
        let (highest, names) = variables(body);
        let (body, body_names) = match self.parameter_format {
            ParameterFormat::Named => (names.len(), names),
            _ => (highest, Vec::new()),
        };
        Parameters {
            format: self.parameter_format.clone(),
            body,
            body_names,
            header: header(self),
            buttons: buttons(self),
            unmodeled: self
                .components
                .iter()
                .filter(|c| !c.kind.is_known())
                .map(|c| c.kind.to_string())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: serde_json::Value) -> Template {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_indexes_names_and_nonsense_between_braces() {
        assert_eq!(
            placeholders("Hi {{1}}, {{ 2 }} and {{first_name}}; {{First}} {{}} {{1a}} {{3"),
            vec![
                Placeholder::Index(1),
                Placeholder::Index(2),
                Placeholder::Name("first_name".into()),
                Placeholder::Invalid("First".into()),
                Placeholder::Invalid(String::new()),
                Placeholder::Invalid("1a".into()),
            ]
        );
        assert!(placeholders("no variables { here }").is_empty());
    }

    #[test]
    fn a_positional_body_takes_its_highest_index() {
        let t = template(json!({"name": "n", "language": "en", "status": "APPROVED",
            "category": "UTILITY", "components": [
                {"type": "BODY", "text": "{{1}} then {{2}} then {{1}} again"}]}));
        let p = t.parameters();
        assert_eq!((p.body, p.body_names.len()), (2, 0));
        assert_eq!(p.header, None);
    }

    #[test]
    fn a_named_body_takes_its_distinct_names_in_order() {
        let t = template(json!({"name": "n", "language": "en", "status": "APPROVED",
            "category": "MARKETING", "parameter_format": "NAMED", "components": [
                {"type": "HEADER", "format": "TEXT", "text": "{{sale_name}} is on"},
                {"type": "BODY", "text": "{{first_name}}, code {{code}} for {{first_name}}"}]}));
        let p = t.parameters();
        assert_eq!(p.body, 2);
        assert_eq!(p.body_names, ["first_name", "code"]);
        assert_eq!(
            p.header,
            Some(HeaderParameter::Text {
                name: Some("sale_name".into())
            })
        );
    }

    #[test]
    fn media_headers_and_parameter_buttons_are_listed() {
        let t = template(json!({"name": "n", "language": "en", "status": "APPROVED",
            "category": "MARKETING", "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Look"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop"},
                    {"type": "URL", "text": "Static", "url": "https://x.example/"},
                    {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
                    {"type": "COPY_CODE", "example": "SAVE10"}]},
                {"type": "CAROUSEL", "cards": []}]}));
        let p = t.parameters();
        assert_eq!(p.header, Some(HeaderParameter::Image));
        assert_eq!(
            p.buttons,
            vec![
                ButtonParameter {
                    index: 2,
                    sub_type: "url".into()
                },
                ButtonParameter {
                    index: 3,
                    sub_type: "copy_code".into()
                },
            ]
        );
        assert_eq!(p.unmodeled, ["CAROUSEL"]);
    }
}
