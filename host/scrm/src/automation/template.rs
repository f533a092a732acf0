//! The one template language of quick replies, flow messages, campaign parameters
//! and canned responses: Jinja syntax through `minijinja`.
//!
//! ```text
//! Ciao {{ contact.first_name | default("there") }}!
//! {% if contact.title and contact.last_name %}Gentile {{ contact.title }} {{ contact.last_name }}{% endif %}
//! Your order {{ order.number | default("") }} is {{ order.state | default("on its way") }}.
//! ```
//!
//! What a template can use (see [`context`]): `contact` (`first_name`, `last_name`,
//! `title`, `name`, `phone`, `email`, `language`, and every other field the host
//! keeps for the contact), `crm` (the contact's synced CRM fields by their names),
//! `order` (the newest order: `number`, `state`, `total`, `currency`,
//! `tracking_number`, `carrier`, `products`), `parcel` (where the order's parcel
//! is, as a flow that tracked it tells: `status`, `tag`, `window`, `link`, … see
//! [`PARCEL_FIELDS`]) and `flow` (the flow's parameters).
//!
//! A flow passes values it looked up itself (the order, the parcel) by opening its
//! message with `{% set order = {…} %}` / `{% set parcel = {…} %}`: they shadow the
//! host's (empty) ones for that message only.
//!
//! A value that can be missing must have a default (`| default("…")`) or sit under
//! an `{% if … %}`: [`check`] renders the template once with every optional value
//! missing and once with all of them present, so a template that would fail for some
//! customer is refused when it is saved, with the line and the expression, not when
//! it is sent. Printing a missing value fails; testing it in `if` is false.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};
use std::fmt;

/// Fuel for one rendering: bounds loops in a template.
const FUEL: u64 = 20_000;

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The line, 1-based, when known.
    pub line: Option<usize>,
    /// The expression at fault, when known.
    pub expression: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(e) = &self.expression {
            write!(f, "`{e}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for TemplateError {}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(FUEL));
    // Messages are plain text: nothing is escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn error_of(source: &str, e: &minijinja::Error) -> TemplateError {
    let expression = e
        .range()
        .and_then(|r| source.get(r))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let reason = match e.kind() {
        minijinja::ErrorKind::UndefinedError => match &expression {
            Some(x) => format!(
                "this value can be missing for a customer; give it a default, e.g. \
                 {{{{ {x} | default(\"…\") }}}}, or test it with {{% if {x} %}}"
            ),
            None => "a value here can be missing for a customer; give it a default with \
                     | default(\"…\")"
                .to_string(),
        },
        minijinja::ErrorKind::SyntaxError if source.contains("| default:") => format!(
            "{}; filters take their arguments in parentheses: | default(\"there\")",
            e.detail().unwrap_or("syntax error")
        ),
        _ => e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_string),
    };
    TemplateError {
        line: e.line(),
        expression,
        reason,
    }
}

/// Renders `source` with `ctx` (built by [`context`]).
///
/// # Errors
/// A [`TemplateError`] naming the line and expression.
pub fn render(source: &str, ctx: &Value) -> Result<String, TemplateError> {
    if !source.contains("{{") && !source.contains("{%") {
        return Ok(source.to_string());
    }
    let env = environment();
    let tmpl = env
        .template_from_str(source)
        .map_err(|e| error_of(source, &e))?;
    tmpl.render(ctx).map_err(|e| error_of(source, &e))
}

/// Checks that `source` renders for every customer: with all optional values
/// missing, and with all of them present (so a misspelt name is found in every
/// branch). `flow` is the flow's parameters.
///
/// # Errors
/// A [`TemplateError`] naming the line and expression.
pub fn check(source: &str, flow: &Value) -> Result<(), TemplateError> {
    render(source, &sparse_context(flow))?;
    render(source, &full_context(flow))?;
    Ok(())
}

/// The contact fields every template may name (present or not).
pub const CONTACT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "title",
    "name",
    "email",
    "language",
    "time_zone",
    "city",
    "country",
];

/// The order fields every template may name (present or not).
pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "number",
    "state",
    "total",
    "currency",
    "tracking_number",
    "carrier",
    "placed_at",
];

/// The parcel fields every template may name (present or not): what a flow that
/// tracked the order's parcel passes (`order-status`).
pub const PARCEL_FIELDS: &[&str] = &[
    "number",
    "carrier",
    "tag",
    "status",
    "status_text",
    "window",
    "window_date",
    "window_from",
    "window_to",
    "time_zone",
    "link",
    "location",
    "language",
];

fn sparse_context(flow: &Value) -> Value {
    json!({
        "contact": {"id": 1, "phone": "+390000000000", "wa_id": "390000000000"},
        "crm": {},
        "order": {},
        "parcel": {},
        "flow": flow,
    })
}

fn full_context(flow: &Value) -> Value {
    let mut contact: Map<String, Value> = CONTACT_FIELDS
        .iter()
        .map(|f| (f.to_string(), Value::from("x")))
        .collect();
    contact.insert("id".into(), 1.into());
    contact.insert("phone".into(), "+390000000000".into());
    contact.insert("wa_id".into(), "390000000000".into());
    let mut order: Map<String, Value> = ORDER_FIELDS
        .iter()
        .map(|f| (f.to_string(), Value::from("x")))
        .collect();
    order.insert("products".into(), json!(["x"]));
    let parcel: Map<String, Value> = PARCEL_FIELDS
        .iter()
        .map(|f| (f.to_string(), Value::from("x")))
        .collect();
    json!({"contact": contact, "crm": {}, "order": order, "parcel": parcel, "flow": flow})
}

/// What the host knows of a contact, for [`context`].
#[derive(Debug, Clone, Default)]
pub struct ContactView<'a> {
    /// Host id.
    pub id: i64,
    /// E.164 phone.
    pub phone: Option<&'a str>,
    /// WhatsApp id.
    pub wa_id: Option<&'a str>,
    /// The WhatsApp profile name.
    pub name: Option<&'a str>,
    /// The fields the host keeps for the contact (CRM sync, flows), by name.
    pub fields: &'a [(String, Value)],
}

/// The rendering context of a message to a contact: `contact`, `crm`, `order`
/// (the newest, as JSON with the [`ORDER_FIELDS`] and `products`) and `flow`.
///
/// `contact.first_name` and `last_name` come from the fields of those names (or
/// `firstname`, `lastname`, as CRMs spell them); without them, from the WhatsApp
/// profile name: its first word, and its last word when it has several.
pub fn context(contact: &ContactView<'_>, order: Option<&Value>, flow: &Value) -> Value {
    let mut c = Map::new();
    c.insert("id".into(), contact.id.into());
    for (k, v) in [
        ("phone", contact.phone),
        ("wa_id", contact.wa_id),
        ("name", contact.name),
    ] {
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            c.insert(k.into(), v.into());
        }
    }
    let mut crm = Map::new();
    for (name, value) in contact.fields {
        if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        crm.insert(name.clone(), value.clone());
        let key = match name.to_ascii_lowercase().as_str() {
            "firstname" | "first_name" => "first_name".to_string(),
            "lastname" | "last_name" | "surname" => "last_name".to_string(),
            "salutation" | "title" => "title".to_string(),
            other => other.to_string(),
        };
        c.entry(key).or_insert_with(|| value.clone());
    }
    if let Some(name) = contact.name {
        let words: Vec<&str> = name.split_whitespace().collect();
        if let Some(first) = words.first() {
            c.entry("first_name").or_insert_with(|| (*first).into());
        }
        if words.len() > 1 {
            c.entry("last_name")
                .or_insert_with(|| words[words.len() - 1].into());
        }
    }
    json!({
        "contact": c,
        "crm": crm,
        "order": order.cloned().unwrap_or_else(|| json!({})),
        "parcel": {},
        "flow": flow,
    })
}

/// The rendering context of contact `contact_id` of `tenant` as the store knows it
/// (its synced fields; no order, `flow` empty), for campaigns and canned responses;
/// `None` when the contact does not exist.
///
/// # Errors
/// On database failure.
pub fn contact_context(
    s: &dyn scrm_store::Store,
    tenant: &str,
    contact_id: i64,
) -> Result<Option<Value>, scrm_store::StoreError> {
    let Some(contact) = scrm_store::ContactRepo::get(s, tenant, contact_id)? else {
        return Ok(None);
    };
    let fields: Vec<(String, Value)> = scrm_store::CrmRepo::fields(s, tenant, contact_id)?
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    let view = ContactView {
        id: contact.id,
        phone: contact.phone.as_deref(),
        wa_id: contact.wa_id.as_deref(),
        name: contact.name.as_deref(),
        fields: &fields,
    };
    Ok(Some(context(&view, None, &json!({}))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn renders_contact_crm_and_order() {
        let f = fields(&[("title", "Signor"), ("lastname", "Chen"), ("tier", "gold")]);
        let ctx = context(
            &ContactView {
                id: 7,
                phone: Some("+393471234567"),
                name: Some("Wei Chen"),
                fields: &f,
                ..Default::default()
            },
            Some(&json!({"number": "SO-42", "products": ["Serum", "Toner"]})),
            &json!({"shop": "Acme"}),
        );
        let out = render(
            "Ciao {{ contact.title }} {{ contact.last_name }} ({{ contact.first_name }}, {{ crm.tier }}): \
             {{ order.number }} = {{ order.products | join(\", \") }} @ {{ flow.shop }}",
            &ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            "Ciao Signor Chen (Wei, gold): SO-42 = Serum, Toner @ Acme"
        );
    }

    #[test]
    fn defaults_fill_missing_values() {
        let ctx = context(&ContactView::default(), None, &json!({}));
        let out = render(
            "Hi {{ contact.first_name | default(\"there\") }}{% if contact.title %} {{ contact.title }}{% endif %}!",
            &ctx,
        )
        .unwrap();
        assert_eq!(out, "Hi there!");
    }

    #[test]
    fn a_missing_value_without_default_is_refused_when_saved() {
        let err = check("Ciao {{ contact.first_name }}!", &json!({})).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert_eq!(err.expression.as_deref(), Some("contact.first_name"));
        assert!(err.reason.contains("default"), "{err}");
        check(
            "Ciao {{ contact.first_name | default(\"there\") }}!",
            &json!({}),
        )
        .unwrap();
    }

    #[test]
    fn a_misspelt_name_is_refused_in_any_branch() {
        let err = check(
            "Hi{% if contact.title %} {{ contact.titel }}{% endif %}",
            &json!({}),
        )
        .unwrap_err();
        assert_eq!(err.expression.as_deref(), Some("contact.titel"), "{err}");
    }

    #[test]
    fn crm_fields_need_a_default() {
        assert!(check("{{ crm.tier }}", &json!({})).is_err());
        check("{{ crm.tier | default(\"standard\") }}", &json!({})).unwrap();
    }

    #[test]
    fn liquid_style_defaults_get_a_hint() {
        let err = check("{{ contact.first_name | default: \"there\" }}", &json!({})).unwrap_err();
        assert!(err.reason.contains("default(\"there\")"), "{err}");
    }

    #[test]
    fn flow_parameters_are_checked_too() {
        check("{{ flow.shop }}", &json!({"shop": "Acme"})).unwrap();
        assert!(check("{{ flow.shoop }}", &json!({"shop": "Acme"})).is_err());
    }

    #[test]
    fn a_flow_passes_its_order_and_parcel_in_front_of_the_text() {
        let text = "{{ parcel.status | default(\"\") }}{% if parcel.window %} ({{ parcel.window }}){% endif %}";
        check(text, &json!({})).unwrap();
        // Like the order, the parcel may be missing: printing it needs a default.
        assert!(check("{{ parcel.status }}", &json!({})).is_err());
        let prelude = "{% set parcel = {\"status\": \"in viaggio %}\", \"window\": \"10/12 12:30\\u201316:30\"} %}";
        let ctx = context(&ContactView::default(), None, &json!({}));
        let out = render(&format!("{prelude}{text}"), &ctx).unwrap();
        assert_eq!(out, "in viaggio %} (10/12 12:30\u{2013}16:30)");
    }

    #[test]
    fn a_message_can_branch_on_the_parcels_language() {
        // A comparison with a missing value fails: compare its default.
        assert!(check("{% if parcel.language == \"it\" %}a{% endif %}", &json!({})).is_err());
        let text = "{% if parcel.language | default(\"it\") == \"it\" %}Ciao{% if contact.first_name %} {{ contact.first_name }}{% endif %}! {{ order.number | default(\"\") }} è {{ parcel.status | default(\"in viaggio\") }}.{% else %}Hi!{% endif %}";
        check(text, &json!({})).unwrap();
    }

    #[test]
    fn endless_loops_run_out_of_fuel() {
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &json!({}),
        )
        .unwrap_err();
        assert!(!err.reason.is_empty());
    }
}
