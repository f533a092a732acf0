//! An operator's template file, in Meta's own template format, checked before it is
//! stored: for operators whose templates are not synced from a WhatsApp Business
//! Account. The checks are Meta's review rules that a send depends on, and each
//! refusal says where: a line and column for JSON that does not parse or a field of
//! the wrong type, a field path (`components[1].text`) for a rule.
//!
//! `status` may be left out: the operator vouches that the template is approved.

use super::params::{Placeholder, placeholders};
use super::{
    ButtonKind, Category, Component, ComponentKind, HeaderFormat, ParameterFormat, Status, Template,
};
use serde::Deserialize;

/// Why a template file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    /// The line (from 1) of a JSON or type error.
    pub line: Option<usize>,
    /// The column (from 1) of a JSON or type error.
    pub column: Option<usize>,
    /// The field a rule refused, as a path (`components[1].text`).
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column, &self.path) {
            (Some(l), Some(c), _) => write!(f, "line {l}, column {c}: {}", self.message),
            (_, _, Some(p)) => write!(f, "`{p}`: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DefinitionError {}

fn at(path: impl Into<String>, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        line: None,
        column: None,
        path: Some(path.into()),
        message: message.into(),
    }
}

/// [`Template`] with an optional status, read straight from the bytes so that type
/// errors keep their position.
#[derive(Deserialize)]
struct Definition {
    #[serde(default, deserialize_with = "super::lenient_id")]
    id: Option<String>,
    name: String,
    language: String,
    #[serde(default)]
    status: Option<Status>,
    category: Category,
    #[serde(default)]
    parameter_format: ParameterFormat,
    #[serde(default)]
    components: Vec<Component>,
}

/// Parses and checks an operator's template file (Meta's template object: `name`,
/// `language`, `category`, `components`, optionally `status` and
/// `parameter_format`; other fields are ignored).
///
/// # Errors
/// [`DefinitionError`] with the position or field path and the reason.
pub fn parse_definition(body: &[u8]) -> Result<Template, DefinitionError> {
    let d: Definition = serde_json::from_slice(body).map_err(|e| DefinitionError {
        line: Some(e.line()),
        column: Some(e.column()),
        path: None,
        message: strip_position(&e.to_string()),
    })?;
    let t = Template {
        id: d.id,
        name: d.name,
        language: d.language,
        status: d.status.unwrap_or(Status::Approved),
        category: d.category,
        parameter_format: d.parameter_format,
        components: d.components,
    };
    check(&t)?;
    Ok(t)
}

/// serde_json ends its messages with " at line L column C", which the error says
/// on its own.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Meta's rules a stored template must meet.
///
/// # Errors
/// The first rule it breaks.
pub fn check(t: &Template) -> Result<(), DefinitionError> {
    let name_ok = (1..=512).contains(&t.name.len())
        && t.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(at(
            "name",
            format!(
                "must be 1 to 512 lower-case letters, digits or underscores, not {:?}",
                t.name
            ),
        ));
    }
    if !language_ok(&t.language) {
        return Err(at(
            "language",
            format!(
                "must be a language code such as en, en_US or pt_BR, not {:?}",
                t.language
            ),
        ));
    }
    known(
        t.status.is_known(),
        "status",
        t.status.as_str(),
        "APPROVED, PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL, PENDING_DELETION, DELETED, LIMIT_EXCEEDED, ARCHIVED",
    )?;
    known(
        t.category.is_known(),
        "category",
        t.category.as_str(),
        "MARKETING, UTILITY, AUTHENTICATION",
    )?;
    known(
        t.parameter_format.is_known(),
        "parameter_format",
        t.parameter_format.as_str(),
        "POSITIONAL, NAMED",
    )?;
    check_components(t)
}

fn known(ok: bool, field: &str, value: &str, allowed: &str) -> Result<(), DefinitionError> {
    if ok {
        Ok(())
    } else {
        Err(at(field, format!("{value:?} is not one of {allowed}")))
    }
}

/// `en`, `fil`, `en_US`, `zh_HK`, `es_LA`: two or three letters, then optionally `_`
/// and two to four letters or digits.
fn language_ok(code: &str) -> bool {
    let (lang, region) = match code.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (code, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn check_components(t: &Template) -> Result<(), DefinitionError> {
    let count = |k: &ComponentKind| t.components.iter().filter(|c| c.kind == *k).count();
    if count(&ComponentKind::Body) != 1 {
        return Err(at("components", "must have exactly one BODY component"));
    }
    for kind in [
        ComponentKind::Header,
        ComponentKind::Footer,
        ComponentKind::Buttons,
    ] {
        if count(&kind) > 1 {
            return Err(at(
                "components",
                format!("has more than one {kind} component"),
            ));
        }
    }
    for (i, c) in t.components.iter().enumerate() {
        let path = format!("components[{i}]");
        match c.kind {
            ComponentKind::Body => {
                let text = required_text(c, &path)?;
                check_variables(text, &t.parameter_format, &format!("{path}.text"), None)?;
            }
            ComponentKind::Header => check_header(c, t, &path)?,
            ComponentKind::Footer => {
                let text = required_text(c, &path)?;
                if !placeholders(text).is_empty() {
                    return Err(at(format!("{path}.text"), "a footer takes no variables"));
                }
            }
            ComponentKind::Buttons => check_buttons(c, &path)?,
            ComponentKind::Other(_) => {}
        }
    }
    Ok(())
}

fn required_text<'c>(c: &'c Component, path: &str) -> Result<&'c str, DefinitionError> {
    c.text
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| at(format!("{path}.text"), format!("a {} needs a text", c.kind)))
}

fn check_header(c: &Component, t: &Template, path: &str) -> Result<(), DefinitionError> {
    match c.format.as_ref().unwrap_or(&HeaderFormat::Text) {
        HeaderFormat::Text => {
            let text = required_text(c, path)?;
            check_variables(text, &t.parameter_format, &format!("{path}.text"), Some(1))
        }
        HeaderFormat::Other(f) => Err(at(
            format!("{path}.format"),
            format!("{f:?} is not one of TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION"),
        )),
        _ => Ok(()),
    }
}

/// A text's variables follow the template's format: `{{1}}`… numbered from 1 without
/// a gap, or lower-case names; at most `limit` of them.
fn check_variables(
    text: &str,
    format: &ParameterFormat,
    path: &str,
    limit: Option<usize>,
) -> Result<(), DefinitionError> {
    let found = placeholders(text);
    let mut indexes = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for p in &found {
        match (p, format) {
            (Placeholder::Index(n), ParameterFormat::Positional) => indexes.push(*n),
            (Placeholder::Name(n), ParameterFormat::Named) => {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
            (Placeholder::Index(n), _) => {
                return Err(at(
                    path,
                    format!(
                        "{{{{{n}}}}} in a NAMED template: use names such as {{{{first_name}}}}"
                    ),
                ));
            }
            (Placeholder::Name(n), _) => {
                return Err(at(
                    path,
                    format!(
                        "{{{{{n}}}}} in a POSITIONAL template: use {{{{1}}}}, {{{{2}}}}, … or set \"parameter_format\": \"NAMED\""
                    ),
                ));
            }
            (Placeholder::Invalid(s), _) => {
                return Err(at(
                    path,
                    format!(
                        "{{{{{s}}}}} is not a variable: write {{{{1}}}} or a lower-case name such as {{{{first_name}}}}"
                    ),
                ));
            }
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    if let Some((pos, n)) = indexes
        .iter()
        .enumerate()
        .find(|(pos, n)| **n as usize != pos + 1)
    {
        return Err(at(
            path,
            format!(
                "variables must be numbered from {{{{1}}}} without a gap: {{{{{n}}}}} comes where {{{{{}}}}} should",
                pos + 1
            ),
        ));
    }
    let count = indexes.len() + names.len();
    match limit {
        Some(max) if count > max => Err(at(
            path,
            format!("takes at most {max} variable, not {count}"),
        )),
        _ => Ok(()),
    }
}

fn check_buttons(c: &Component, path: &str) -> Result<(), DefinitionError> {
    if c.buttons.is_empty() {
        return Err(at(
            format!("{path}.buttons"),
            "a BUTTONS component needs at least one button",
        ));
    }
    for (i, b) in c.buttons.iter().enumerate() {
        if b.kind != ButtonKind::Url {
            continue;
        }
        let path = format!("{path}.buttons[{i}].url");
        let Some(url) = b.url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Err(at(path, "a URL button needs a url"));
        };
        match placeholders(url).as_slice() {
            [] => {}
            [Placeholder::Index(1)] if url.trim_end().ends_with("}}") => {}
            _ => {
                return Err(at(
                    path,
                    "a URL button takes one variable, {{1}}, at the end of its url",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> String {
        parse_definition(body.as_bytes()).unwrap_err().to_string()
    }

    const GOOD: &str = r#"{"name": "order_update", "language": "en_US", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Order {{1}} ships on {{2}}."}]}"#;

    #[test]
    fn a_file_without_status_is_taken_as_approved() {
        let t = parse_definition(GOOD.as_bytes()).unwrap();
        assert_eq!(t.status, Status::Approved);
        assert_eq!(t.parameters().body, 2);
    }

    #[test]
    fn json_errors_name_the_line_and_column() {
        let e = parse_definition(b"{\"name\": \"x\",\n  \"language\": en}").unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(15)));
        assert!(
            e.to_string()
                .starts_with("line 2, column 15: expected value"),
            "{e}"
        );
        let e = refusal(r#"{"name": "x", "language": {"code": "en"}, "category": "UTILITY"}"#);
        assert!(e.contains("invalid type: map, expected a string"), "{e}");
        assert!(refusal(r#"{"name": "x", "language": "en"}"#).contains("missing field `category`"));
    }

    #[test]
    fn rules_name_the_field_they_refuse() {
        let cases = [
            (
                GOOD.replace("order_update", "Order Update"),
                "`name`: must be",
            ),
            (
                GOOD.replace("en_US", "english"),
                "`language`: must be a language code",
            ),
            (
                GOOD.replace("UTILITY", "TRANSACTIONAL"),
                "`category`: \"TRANSACTIONAL\" is not one of",
            ),
            (
                GOOD.replace("BODY", "FOOTER"),
                "`components`: must have exactly one BODY",
            ),
            (
                GOOD.replace("{{2}}", "{{3}}"),
                "`components[0].text`: variables must be numbered from {{1}} without a gap: {{3}} comes where {{2}} should",
            ),
            (
                GOOD.replace("{{2}}", "{{ship date}}"),
                "`components[0].text`: {{ship date}} is not a variable",
            ),
            (
                GOOD.replace("{{2}}", "{{date}}"),
                "{{date}} in a POSITIONAL template",
            ),
            (
                GOOD.replace("\"UTILITY\",", "\"UTILITY\", \"status\": \"APROVED\","),
                "`status`: \"APROVED\" is not one of",
            ),
        ];
        for (body, expected) in cases {
            let e = refusal(&body);
            assert!(e.contains(expected), "{body}\n→ {e}\nwanted {expected}");
        }
    }

    #[test]
    fn headers_footers_and_url_buttons_follow_metas_rules() {
        let with = |extra: &str| {
            format!(
                r#"{{"name": "t", "language": "it", "category": "MARKETING", "components": [
                {{"type": "BODY", "text": "Hi"}}, {extra}]}}"#
            )
        };
        assert!(
            refusal(&with(
                r#"{"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}"}"#
            ))
            .contains("`components[1].text`: takes at most 1 variable, not 2")
        );
        assert!(
            refusal(&with(r#"{"type": "HEADER", "format": "GIF"}"#))
                .contains("`components[1].format`")
        );
        assert!(
            refusal(&with(r#"{"type": "FOOTER", "text": "Bye {{1}}"}"#))
                .contains("a footer takes no variables")
        );
        assert!(refusal(&with(r#"{"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.example/{{1}}/more"}]}"#))
            .contains("`components[1].buttons[0].url`: a URL button takes one variable"));
        let ok = with(
            r#"{"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.example/t/{{1}}"}, {"type": "VOICE_CALL", "text": "Call"}]}"#,
        );
        let t = parse_definition(ok.as_bytes()).unwrap();
        assert_eq!(t.parameters().buttons.len(), 1);
    }

    #[test]
    fn named_templates_take_names_only() {
        let body = r#"{"name": "t", "language": "en", "category": "MARKETING", "parameter_format": "named",
            "components": [{"type": "BODY", "text": "Hi {{first_name}}, {{1}}"}]}"#;
        assert!(refusal(body).contains("{{1}} in a NAMED template"));
        let t = parse_definition(body.replace(", {{1}}", "").as_bytes()).unwrap();
        assert_eq!(t.parameter_format, ParameterFormat::Named);
        assert_eq!(t.parameters().body_names, ["first_name"]);
    }
}
