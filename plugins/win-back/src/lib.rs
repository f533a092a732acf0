//! Reference flow `win-back`: a customer who becomes a high churn risk gets the
//! configured recovery template (a discount code, say), at most once per `period`.
//!
//! The host's alerts set the contact field `churn_risk` to `high` when a customer's
//! churn risk turns high (interactions falling from their usual weekly rhythm, an
//! unhappy last conversation: `docs/analytics.md`) and clear it when it ends; the flow
//! reacts to that change. When it sends, it remembers when (in its key-value store),
//! so a customer whose risk comes and goes is not sent the offer again within the
//! period. Whether it worked — the customer ordered within the win-back window — is
//! reported by the host's `churn-risk` metric (`win_back`).
//!
//! ```sh
//! scrm flow enable --tenant acme win-back --set template=we_miss_you \
//!   --set 'parameters=["{{ contact.first_name | default(\"there\") }}", "TORNA15"]' --set period=30d
//! ```

use scrm_plugin_sdk::FieldValue;
use scrm_plugin_sdk::automation::param;
use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, ParamKind, TemplateSend, Trigger};
use serde::Deserialize;

/// The flow's parameters, as the host hands them over.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// The contact field that says the churn risk.
    pub field: String,
    /// The value that means "win them back".
    pub value: String,
    /// At most one send per contact in this long, ms.
    pub period: i64,
    /// The approved template.
    pub template: String,
    /// Its language.
    pub template_language: String,
    /// Its body parameters, in the host's template language.
    pub parameters: Vec<String>,
}

/// What the flow says about itself.
pub fn info() -> Info {
    Info {
        name: "win-back".into(),
        description: "a customer who becomes a high churn risk gets the recovery template, at most once per period".into(),
        triggers: vec!["field-changed".into()],
        params: vec![
            param("template", ParamKind::Template, None, "the approved recovery template (a discount code, say)"),
            param("template_language", ParamKind::Text, Some("en"), "its language code"),
            param("parameters", ParamKind::Json, Some("[]"), "its body parameters (a JSON list, each in the template language)"),
            param("period", ParamKind::Duration, Some("30d"), "at most one send per customer in this long"),
            param("field", ParamKind::Text, Some("churn_risk"), "the contact field the host sets when the churn risk turns high"),
            param("value", ParamKind::Text, Some("high"), "the field's value that starts a win-back"),
            param("business_initiated", ParamKind::Boolean, Some("true"), "a win-back is business-initiated by nature"),
        ],
    }
}

fn kv_err(e: scrm_plugin_sdk::kv::KvError) -> FlowError {
    FlowError::Failed(format!("kv: {e:?}"))
}

/// Whether `value` is the text `want`.
fn is(value: &FieldValue, want: &str) -> bool {
    matches!(value, FieldValue::Text(t) if t.eq_ignore_ascii_case(want))
}

/// True when the last send (Unix ms, if any) is `period` or more before `now`.
pub fn due(last_sent: Option<i64>, now: i64, period: i64) -> bool {
    last_sent.is_none_or(|at| now - at >= period)
}

/// The flow.
#[derive(Debug)]
pub struct WinBack;

impl scrm_plugin_sdk::Flow for WinBack {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let p: Params = scrm_plugin_sdk::automation::params()?;
        let (Some(contact), Trigger::FieldChanged(change)) = (e.contact.as_ref(), &e.trigger)
        else {
            return Ok(Vec::new());
        };
        if change.name != p.field || !is(&change.new, &p.value) {
            return Ok(Vec::new());
        }
        let key = format!("sent/{}", contact.id);
        let last = scrm_plugin_sdk::kv::get(&key)
            .map_err(kv_err)?
            .and_then(|b| String::from_utf8(b).ok()?.parse::<i64>().ok());
        if !due(last, e.now, p.period) {
            scrm_plugin_sdk::log::info(&format!(
                "contact {} was sent the win-back {} ms ago; not again within the period",
                contact.id,
                e.now - last.unwrap_or(e.now)
            ));
            return Ok(Vec::new());
        }
        scrm_plugin_sdk::kv::set(&key, e.now.to_string().as_bytes()).map_err(kv_err)?;
        Ok(vec![Action::Template(TemplateSend {
            name: p.template,
            language: p.template_language,
            parameters: p.parameters,
        })])
    }
}

scrm_plugin_sdk::export_flow!(WinBack);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_required_and_the_rest_has_defaults() {
        let i = info();
        let required: Vec<&str> = i
            .params
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(required, ["template"]);
        assert_eq!(i.triggers, ["field-changed"]);
    }

    #[test]
    fn once_per_period() {
        const DAY: i64 = 86_400_000;
        assert!(due(None, 10 * DAY, 30 * DAY));
        assert!(!due(Some(DAY), 10 * DAY, 30 * DAY));
        assert!(due(Some(DAY), 31 * DAY, 30 * DAY));
        assert!(is(&FieldValue::Text("High".into()), "high"));
        assert!(!is(&FieldValue::Empty, "high"));
    }
}
