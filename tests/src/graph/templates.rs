//! `GET /{version}/{waba-id}/message_templates` for [`Graph`]: a WhatsApp Business
//! Account's templates, in pages the way Graph pages them.
//!
//! A page holds `limit` templates (Graph's default 25) after the `after` cursor;
//! its `paging` has opaque `cursors.before` / `cursors.after` (the first and last
//! template of the page) and, while more follow, a `next` URL (and a `previous` one
//! after the first page). `fields` picks the fields of each template, as on Graph:
//! a field the template node does not have is Graph's `(#100)` error. An account
//! with no templates set is an object that does not exist (`(#100)`, subcode 33).
//! `summary=total_count,message_template_count,message_template_limit,are_translations_complete`
//! adds Graph's `summary` object with those counts.
//! Scripted faults for the account id ([`Graph::fail_next_for`] with the WABA id,
//! e.g. [`Fault::Html`](super::Fault::Html) for a proxy's HTML 502) and tokens the server does not
//! accept (Meta's 190) work as for every other request.

use super::{Graph, MetaError, RecordedBody, Shared, before_answer, no_such_object};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Templates per page when the request gives no `limit` (Graph's default).
const DEFAULT_LIMIT: usize = 25;

/// The fields of Graph's template node (`WhatsAppBusinessHSM`) that `fields` may name.
const NODE_FIELDS: &[&str] = &[
    "id",
    "name",
    "language",
    "status",
    "category",
    "sub_category",
    "previous_category",
    "parameter_format",
    "components",
    "rejected_reason",
    "quality_score",
    "library_template_name",
    "message_send_ttl_seconds",
    "cta_url_link_tracking_opted_out",
    // Not in Meta's OpenAPI description, but asked for by pywa 4.5 of Meta's own
    // API (`TemplateDetails`), which would refuse a field the node does not have.
    "correct_category",
    "degrees_of_freedom_spec",
];

/// The fields Graph returns when `fields` is not given.
const DEFAULT_FIELDS: &[&str] = &[
    "name",
    "parameter_format",
    "components",
    "language",
    "status",
    "category",
    "id",
];

impl Graph {
    /// Serves `templates` (Meta's template objects, in order) as the template list
    /// of WhatsApp Business Account `waba_id`, replacing what it served before.
    pub fn set_templates(&self, waba_id: &str, templates: Vec<Value>) {
        self.shared
            .lock()
            .templates
            .insert(waba_id.to_string(), templates);
    }

    /// Caps the templates per page at `max`, whatever a request's `limit` asks (as
    /// Graph caps it), so that a short list still spans several pages.
    pub fn set_templates_page_max(&self, max: usize) {
        self.shared.lock().templates_page_max = Some(max.max(1));
    }

    /// The templates of the realistic Graph answer the wire tests read
    /// (`tests/fixtures/synthetic/message_templates.json`), in order.
    ///
    /// # Panics
    /// When the fixture cannot be read.
    pub fn fixture_templates() -> Vec<Value> {
        let path = crate::repo_root().join("tests/fixtures/synthetic/message_templates.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let v: Value = serde_json::from_str(&text).expect("fixture is JSON");
        v["data"].as_array().cloned().expect("fixture has data")
    }
}

fn cursor(index: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("scrm-cursor:{index}"))
}

fn from_cursor(c: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("scrm-cursor:")?
        .parse()
        .ok()
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Answers `GET /{version}/{waba_id}/message_templates?…`.
pub(super) async fn message_templates(
    shared: &Shared,
    version: &str,
    waba_id: &str,
    query: Option<&str>,
) -> Response {
    if let Some(resp) = before_answer(shared, waba_id).await {
        return resp;
    }
    let Some(all) = shared.lock().templates.get(waba_id).cloned() else {
        return no_such_object(waba_id);
    };
    let fields: Vec<String> = match query_param(query, "fields") {
        Some(f) => f.split(',').map(|s| s.trim().to_string()).collect(),
        None => DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = fields.iter().find(|f| !NODE_FIELDS.contains(&f.as_str())) {
        return MetaError::invalid_parameter(format!(
            "Tried accessing nonexisting field ({bad}) on node type (WhatsAppBusinessHSM)"
        ))
        .into_response();
    }
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIMIT)
        .min(shared.lock().templates_page_max.unwrap_or(usize::MAX));
    let start = match query_param(query, "after") {
        None => 0,
        Some(a) => match from_cursor(&a) {
            Some(i) => i + 1,
            None => {
                return MetaError::invalid_parameter("Invalid cursor (after)").into_response();
            }
        },
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|t| pick(t, &fields))
        .collect();
    let summary = summary(query_param(query, "summary"), all.len());
    if page.is_empty() {
        return axum::Json(with_summary(json!({"data": []}), summary)).into_response();
    }
    let last = start + page.len() - 1;
    let url = |after: Option<usize>, before: Option<usize>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("fields", &fields.join(","));
        q.append_pair("limit", &limit.to_string());
        if let Some(a) = after {
            q.append_pair("after", &cursor(a));
        }
        if let Some(b) = before {
            q.append_pair("before", &cursor(b));
        }
        format!(
            "{}/{version}/{waba_id}/message_templates?{}",
            shared.base(),
            q.finish()
        )
    };
    let mut paging = json!({"cursors": {"before": cursor(start), "after": cursor(last)}});
    if last + 1 < all.len() {
        paging["next"] = json!(url(Some(last), None));
    }
    if start > 0 {
        paging["previous"] = json!(url(None, Some(start)));
    }
    axum::Json(with_summary(
        json!({"data": page, "paging": paging}),
        summary,
    ))
    .into_response()
}

/// The `summary` Graph adds when asked (`summary=total_count,…`): the counts of
/// the account's templates and its limit (250, an account's first tier).
fn summary(asked: Option<String>, total: usize) -> Option<Value> {
    let asked = asked?;
    let mut out = serde_json::Map::new();
    for field in asked.split(',').map(str::trim) {
        let value = match field {
            "total_count" | "message_template_count" => json!(total),
            "message_template_limit" => json!(250),
            "are_translations_complete" => json!(true),
            _ => continue,
        };
        out.insert(field.to_string(), value);
    }
    Some(Value::Object(out))
}

fn with_summary(mut answer: Value, summary: Option<Value>) -> Value {
    if let Some(s) = summary {
        answer["summary"] = s;
    }
    answer
}

/// The template with only `fields` (and `id`, which Graph always adds).
fn pick(t: &Value, fields: &[String]) -> Value {
    let mut out = Map::new();
    for (k, v) in t.as_object().into_iter().flatten() {
        if k == "id" || fields.iter().any(|f| f == k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Answers `POST /{version}/{waba_id}/message_templates`: the template joins the
/// account's list as `PENDING`, as Meta keeps a new template until its review.
pub(super) fn create(shared: &Shared, waba_id: &str, body: &RecordedBody) -> Response {
    let Some(b) = body.json() else {
        return MetaError::invalid_parameter("the body must be a JSON template").into_response();
    };
    for field in ["name", "language", "category", "components"] {
        if b.get(field).is_none_or(Value::is_null) {
            return MetaError::invalid_parameter(format!("The parameter {field} is required."))
                .into_response();
        }
    }
    let mut all = shared.lock();
    let list = all.templates.entry(waba_id.to_string()).or_default();
    if list
        .iter()
        .any(|t| t["name"] == b["name"] && t["language"] == b["language"])
    {
        return MetaError::invalid_parameter(
            "Message template already exists with this name and language",
        )
        .into_response();
    }
    let id = format!("9{:014}", list.len() + 1);
    let mut t = b.clone();
    t["id"] = json!(id);
    t["status"] = json!("PENDING");
    list.push(t);
    axum::Json(json!({"id": id, "status": "PENDING", "category": b["category"]})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        assert_eq!(from_cursor(&cursor(41)), Some(41));
        assert_eq!(from_cursor("not a cursor"), None);
    }

    #[test]
    fn fields_pick_what_graph_would_return() {
        let t = json!({"id": "1", "name": "n", "status": "APPROVED", "components": []});
        assert_eq!(
            pick(&t, &["name".to_string()]),
            json!({"id": "1", "name": "n"})
        );
    }
}
