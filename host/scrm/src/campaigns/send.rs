//! One recipient's send: consent checked again at send time, the per-contact
//! parameters rendered with the template language, and the template queued through
//! the outbox, whose rules apply to it as to every send (`docs/sending.md`).

use crate::automation::template;
use crate::outbox::{FlowSendOutcome, SendDefaults, enqueue_flow_send};
use scrm_store::campaigns::{Campaign, Pending};
use scrm_store::{ConsentRepo, Store, StoreError};
use serde_json::{Value, json};

/// Why a recipient was skipped at send time, as recorded (`opted_out`, …).
pub type Skip = String;

/// The idempotency key of a campaign's send to a contact: queueing it again (a
/// round retried after a crash) never sends twice.
pub fn send_key(campaign: i64, contact: i64) -> String {
    format!("campaign:{campaign}:{contact}")
}

/// The outbox `source` of a campaign's sends.
pub fn source(campaign: i64) -> String {
    format!("campaign:{campaign}")
}

/// Queues campaign `c`'s template to recipient `p` in the caller's transaction: its
/// outbox row, or why it was skipped — the contact opted out (or never opted in)
/// since the campaign started, a parameter rendered empty, or the outbox's rules
/// refused it.
///
/// # Errors
/// On database failure.
pub fn queue(
    s: &dyn Store,
    c: &Campaign,
    p: &Pending,
    defaults: &SendDefaults,
) -> Result<Result<i64, Skip>, StoreError> {
    let consent = ConsentRepo::get(s, &c.tenant_id, &p.wa_id)?;
    if consent.opted_out() {
        return Ok(Err("opted_out".into()));
    }
    if !consent.opted_in() {
        return Ok(Err("no_opt_in".into()));
    }
    let Some(ctx) = template::contact_context(s, &c.tenant_id, p.contact_id)? else {
        return Ok(Err("contact_deleted".into()));
    };
    let parameters = match render(&c.params, &ctx) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let mut t = json!({"name": c.template, "language": {"code": c.language}});
    if !parameters.is_empty() {
        t["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    let body = json!({"from": c.phone_number_id, "to": p.wa_id, "type": "template",
        "category": c.category, "template": t});
    let outcome = enqueue_flow_send(
        s,
        &c.tenant_id,
        body,
        &send_key(c.id, p.contact_id),
        &source(c.id),
        defaults,
    )?;
    Ok(match outcome {
        FlowSendOutcome::Queued(id) | FlowSendOutcome::AlreadyQueued(id) => Ok(id),
        FlowSendOutcome::Refused(reason) => Err(format!("refused: {reason}")),
    })
}

/// The Cloud API body parameters of `params` rendered for one contact.
fn render(params: &Value, ctx: &Value) -> Result<Vec<Value>, Skip> {
    let mut out = Vec::new();
    for (label, source) in super::param_sources(params) {
        let text = template::render(source, ctx).map_err(|e| format!("parameter {label}: {e}"))?;
        if text.trim().is_empty() {
            return Err(format!(
                "parameter {label}: empty for this contact (WhatsApp refuses empty parameters)"
            ));
        }
        let mut p = json!({"type": "text", "text": text});
        if params.is_object() {
            p["parameter_name"] = Value::from(label);
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::template::ContactView;

    #[test]
    fn parameters_render_per_contact_and_named_ones_carry_their_name() {
        let fields = vec![("tier".to_string(), json!("gold"))];
        let ctx = template::context(
            &ContactView {
                id: 1,
                name: Some("Wei Chen"),
                fields: &fields,
                ..Default::default()
            },
            None,
            &json!({}),
        );
        let params = json!([
            "{{ contact.first_name | default(\"there\") }}",
            "{{ crm.tier | default(\"standard\") }}"
        ]);
        assert_eq!(
            render(&params, &ctx).unwrap(),
            [
                json!({"type": "text", "text": "Wei"}),
                json!({"type": "text", "text": "gold"})
            ]
        );
        let named = json!({"first_name": "{{ contact.first_name | default(\"there\") }}"});
        assert_eq!(
            render(&named, &ctx).unwrap(),
            [json!({"type": "text", "text": "Wei", "parameter_name": "first_name"})]
        );
        let empty = json!(["{{ contact.email | default(\"\") }}"]);
        assert!(render(&empty, &ctx).unwrap_err().contains("empty"));
    }
}
