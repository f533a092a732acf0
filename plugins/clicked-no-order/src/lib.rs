//! Reference flow `clicked-no-order`: a customer who clicked a tracked link and
//! placed no order within `delay` (default 72 h) gets the configured discount
//! template, once.
//!
//! The first click starts the clock (later clicks do not push it back); an order
//! (a WhatsApp order, or a CRM order the connector reports) stops it. When the
//! durable host timer fires — a settle delay after the deadline, so an order that
//! lands a moment before it is seen — the flow asks for the contact's orders since
//! the click once more and sends the template only if there are none. Sent once per
//! contact, ever (remembered in the flow's key-value store).
//!
//! ```sh
//! scrm flow enable --tenant acme clicked-no-order --set template=discount_15 \
//!   --set delay=72h --set 'parameters=["{{ contact.first_name | default(\"there\") }}", "SAVE15"]'
//! ```

use scrm_plugin_sdk::automation::param;
use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, ParamKind, TemplateSend, Trigger};
use serde::Deserialize;

/// The flow's parameters, as the host hands them over.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// How long after the click without an order the template goes, ms.
    pub delay: i64,
    /// The approved template.
    pub template: String,
    /// Its language.
    pub template_language: String,
    /// Its body parameters, in the host's template language.
    pub parameters: Vec<String>,
    /// Only clicks on URLs containing this count (empty: any).
    pub link_filter: String,
}

/// What the flow says about itself.
pub fn info() -> Info {
    Info {
        name: "clicked-no-order".into(),
        description: "a customer who clicked a tracked link and placed no order within the delay gets the discount template, once".into(),
        triggers: vec!["link-clicked".into(), "order".into()],
        params: vec![
            param("delay", ParamKind::Duration, Some("72h"), "how long after the click without an order the template goes"),
            param("template", ParamKind::Template, None, "the approved discount template"),
            param("template_language", ParamKind::Text, Some("en"), "its language code"),
            param("parameters", ParamKind::Json, Some("[]"), "its body parameters (a JSON list, each in the template language)"),
            param("link_filter", ParamKind::Text, Some(""), "only clicks on URLs containing this text count (empty: any link)"),
            param("business_initiated", ParamKind::Boolean, Some("true"), "a follow-up is business-initiated by nature"),
        ],
    }
}

fn kv_err(e: scrm_plugin_sdk::kv::KvError) -> FlowError {
    FlowError::Failed(format!("kv: {e:?}"))
}

/// The flow.
#[derive(Debug)]
pub struct ClickedNoOrder;

impl scrm_plugin_sdk::Flow for ClickedNoOrder {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let p: Params = scrm_plugin_sdk::automation::params()?;
        let Some(contact) = e.contact.as_ref() else {
            return Ok(Vec::new());
        };
        let (clicked_key, sent_key, timer) = (
            format!("clicked/{}", contact.id),
            format!("sent/{}", contact.id),
            format!("no-order/{}", contact.id),
        );
        let sent = scrm_plugin_sdk::kv::get(&sent_key)
            .map_err(kv_err)?
            .is_some();
        match e.trigger {
            Trigger::LinkClicked(click) => {
                if sent || !click.url.contains(&p.link_filter) {
                    return Ok(Vec::new());
                }
                if scrm_plugin_sdk::kv::get(&clicked_key)
                    .map_err(kv_err)?
                    .is_none()
                {
                    scrm_plugin_sdk::kv::set(&clicked_key, click.at.to_string().as_bytes())
                        .map_err(kv_err)?;
                    scrm_plugin_sdk::timers::schedule(&timer, click.at + p.delay, &[])
                        .map_err(FlowError::Failed)?;
                }
                Ok(Vec::new())
            }
            Trigger::Order(_) => {
                scrm_plugin_sdk::timers::cancel(&timer);
                scrm_plugin_sdk::kv::delete(&clicked_key).map_err(kv_err)?;
                Ok(Vec::new())
            }
            Trigger::Timer(_) => {
                let clicked_at = scrm_plugin_sdk::kv::get(&clicked_key)
                    .map_err(kv_err)?
                    .and_then(|b| String::from_utf8(b).ok()?.parse::<i64>().ok());
                let Some(clicked_at) = clicked_at else {
                    return Ok(Vec::new());
                };
                scrm_plugin_sdk::kv::delete(&clicked_key).map_err(kv_err)?;
                if sent {
                    return Ok(Vec::new());
                }
                let orders =
                    scrm_plugin_sdk::orders::recent(clicked_at, 1).map_err(FlowError::Failed)?;
                if !orders.is_empty() {
                    return Ok(Vec::new());
                }
                scrm_plugin_sdk::kv::set(&sent_key, e.now.to_string().as_bytes())
                    .map_err(kv_err)?;
                Ok(vec![Action::Template(TemplateSend {
                    name: p.template.clone(),
                    language: p.template_language.clone(),
                    parameters: p.parameters.clone(),
                })])
            }
            _ => Ok(Vec::new()),
        }
    }
}

scrm_plugin_sdk::export_flow!(ClickedNoOrder);

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
        assert_eq!(i.triggers, ["link-clicked", "order"]);
    }
}
