//! Applying a flow's actions: the guards every automated send passes, the sends
//! through the outbox (rendered in the template language), tags and contact fields.

use super::template;
use super::worker::Applier;
use crate::limits::policy::DAY_MS;
use crate::slots::flows::EventFacts;
use scrm_store::flows::FlowJob;
use scrm_store::{Store, StoreError};
use serde_json::{Value, json};

impl Applier {
    pub(super) fn apply_actions(
        &self,
        tx: &dyn Store,
        ctx: &ActionContext<'_>,
        actions: &[Value],
    ) -> Result<(usize, Vec<String>), StoreError> {
        let mut sent = 0;
        let mut notes = Vec::new();
        let mut guard_passed = false;
        for (index, action) in actions.iter().enumerate() {
            let kind = action["type"].as_str().unwrap_or_default();
            match kind {
                "reply" | "template" | "interactive" => {
                    if !guard_passed {
                        if let Some(reason) = self.send_guard(tx, ctx)? {
                            notes.push(format!("{kind} skipped: {reason}"));
                            continue;
                        }
                        guard_passed = true;
                    }
                    match self.send(tx, ctx, index, action)? {
                        Ok(note) => {
                            sent += 1;
                            notes.push(note);
                        }
                        Err(reason) => notes.push(format!("{kind} skipped: {reason}")),
                    }
                }
                "tag" => {
                    let tag = action["tag"].as_str().unwrap_or_default();
                    if !tag.is_empty()
                        && scrm_store::FlowRepo::tag_latest_message(
                            tx,
                            &ctx.job.tenant,
                            ctx.job.contact_id,
                            tag,
                        )?
                    {
                        notes.push(format!("tagged {tag:?}"));
                    }
                }
                "assign" => notes.push(match &ctx.facts.conversation {
                    Some(conv) => crate::conversations::assign_action(
                        tx,
                        &ctx.job.tenant,
                        conv.id,
                        action["to"].as_str().unwrap_or_default(),
                    )?,
                    None => "assign skipped: the event has no conversation".into(),
                }),
                "set_field" => notes.push(self.set_field(tx, ctx, action)?),
                _ => {}
            }
        }
        Ok((sent, notes))
    }

    /// Why no automated message may go to this contact now, if it may not.
    fn send_guard(
        &self,
        tx: &dyn Store,
        ctx: &ActionContext<'_>,
    ) -> Result<Option<String>, StoreError> {
        let Some(contact) = ctx
            .facts
            .contact
            .as_ref()
            .filter(|_| ctx.facts.conversation.is_some())
        else {
            return Ok(Some("the event has no contact with a conversation".into()));
        };
        if let Some(wa_id) = contact.wa_id.as_deref()
            && scrm_store::ConsentRepo::get(tx, &ctx.job.tenant, wa_id)?.opted_out()
        {
            return Ok(Some(
                "the contact opted out (STOP): no automated messages until they opt in again"
                    .into(),
            ));
        }
        if ctx.business_started && ctx.params["business_initiated"] != Value::Bool(true) {
            return Ok(Some(
                "the business started this conversation (a business-initiated message in the \
                 last 24 h); set business_initiated=true to message it anyway"
                    .into(),
            ));
        }
        let interval = ctx.params["min_interval"].as_i64().unwrap_or(DAY_MS);
        if let Some(last) = scrm_store::FlowRepo::last_flow_send(
            tx,
            &ctx.job.tenant,
            &ctx.job.flow,
            ctx.job.contact_id,
        )? && ctx.now - last < interval
        {
            return Ok(Some(format!(
                "this flow messaged the contact {} ago (min_interval {})",
                super::params::format_duration(ctx.now - last),
                super::params::format_duration(interval)
            )));
        }
        Ok(None)
    }

    /// Queues one send; the note, or why it was not sent.
    fn send(
        &self,
        tx: &dyn Store,
        ctx: &ActionContext<'_>,
        index: usize,
        action: &Value,
    ) -> Result<Result<String, String>, StoreError> {
        let (Some(contact), Some(conv)) = (&ctx.facts.contact, &ctx.facts.conversation) else {
            return Ok(Err("no contact".into()));
        };
        let to = contact
            .wa_id
            .clone()
            .or_else(|| contact.phone.clone())
            .unwrap_or_default();
        let kind = action["type"].as_str().unwrap_or_default();
        let window_open = crate::limits::policy::window_open(conv.last_inbound_at, ctx.now);
        if kind != "template" && !window_open {
            return Ok(Err(
                "the customer's 24-hour window is closed: free-form messages only inside it; \
                 send a template"
                    .into(),
            ));
        }
        let view = template::ContactView {
            id: contact.id,
            phone: contact.phone.as_deref(),
            wa_id: contact.wa_id.as_deref(),
            name: contact.name.as_deref(),
            fields: &ctx.facts.fields,
        };
        let render_ctx = template::context(&view, ctx.facts.order.as_ref(), ctx.params);
        let body = match message_body(action, &render_ctx) {
            Ok(b) => b,
            Err(e) => return Ok(Err(format!("template: {e}"))),
        };
        let mut body = body;
        body["from"] = Value::from(conv.phone_number_id.clone());
        body["to"] = Value::from(to);
        let key = format!("flow:{}:{index}", ctx.job.id);
        let source = format!("flow:{}@{}", ctx.job.flow, ctx.version);
        let outcome = crate::outbox::enqueue_flow_send(
            tx,
            &ctx.job.tenant,
            body,
            &key,
            &source,
            &self.defaults,
        )?;
        Ok(match outcome {
            crate::outbox::FlowSendOutcome::Queued(id)
            | crate::outbox::FlowSendOutcome::AlreadyQueued(id) => {
                scrm_store::FlowRepo::record_flow_send(
                    tx,
                    &ctx.job.tenant,
                    &ctx.job.flow,
                    ctx.job.contact_id,
                    ctx.now,
                )?;
                self.metrics
                    .flow_send(&ctx.job.tenant, &ctx.job.flow, ctx.version);
                Ok(format!("{kind} queued (outbox {id})"))
            }
            crate::outbox::FlowSendOutcome::Refused(reason) => Err(reason),
        })
    }

    fn set_field(
        &self,
        tx: &dyn Store,
        ctx: &ActionContext<'_>,
        action: &Value,
    ) -> Result<String, StoreError> {
        let name = action["name"].as_str().unwrap_or_default();
        if name.is_empty() || ctx.job.contact_id == 0 {
            return Ok("set_field skipped: no field or no contact".into());
        }
        let old = ctx
            .facts
            .fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        let value = action["value"].clone();
        if old.as_ref() == Some(&value) {
            return Ok(format!("field {name} unchanged"));
        }
        scrm_store::CrmRepo::set_field(
            tx,
            &ctx.job.tenant,
            ctx.job.contact_id,
            name,
            &scrm_store::crm::FieldClock {
                value: value.clone(),
                changed_at: ctx.now,
                // Set on the host's side, like what a customer tells on WhatsApp:
                // it goes to the CRM.
                source: "whatsapp".into(),
            },
        )?;
        scrm_store::CrmRepo::enqueue_contact(tx, &ctx.job.tenant, ctx.job.contact_id)?;
        super::emit(
            tx,
            &ctx.job.tenant,
            "field-changed",
            ctx.job.contact_id,
            &json!({"name": name, "old": old, "new": value}),
            Some(&ctx.job.flow),
        )?;
        Ok(format!("field {name} set"))
    }
}

pub(super) struct ActionContext<'a> {
    pub(super) job: &'a FlowJob,
    pub(super) version: i64,
    pub(super) facts: &'a EventFacts,
    pub(super) params: &'a Value,
    pub(super) business_started: bool,
    pub(super) now: i64,
}

/// The Cloud API message object of a send action, its texts rendered.
fn message_body(action: &Value, ctx: &Value) -> Result<Value, template::TemplateError> {
    let text = |v: &Value| template::render(v.as_str().unwrap_or_default(), ctx);
    Ok(match action["type"].as_str() {
        Some("reply") => json!({"type": "text", "text": {"body": text(&action["text"])?}}),
        Some("template") => {
            let mut parameters = Vec::new();
            for p in action["parameters"].as_array().into_iter().flatten() {
                parameters.push(json!({"type": "text", "text": text(p)?}));
            }
            let mut t = json!({"name": action["name"], "language": {"code": action["language"]}});
            if !parameters.is_empty() {
                t["components"] = json!([{"type": "body", "parameters": parameters}]);
            }
            json!({"type": "template", "template": t})
        }
        _ => {
            let body = text(&action["body"])?;
            let choices = action["choices"].as_array().cloned().unwrap_or_default();
            let interactive = match action["list_button"].as_str() {
                Some(button) => {
                    let rows: Vec<Value> = choices
                        .iter()
                        .map(|c| {
                            let mut row = json!({"id": c["id"], "title": c["title"]});
                            if let Some(d) = c["description"].as_str() {
                                row["description"] = Value::from(d);
                            }
                            row
                        })
                        .collect();
                    json!({"type": "list", "body": {"text": body},
                        "action": {"button": button, "sections": [{"title": button, "rows": rows}]}})
                }
                None => {
                    let buttons: Vec<Value> = choices
                        .iter()
                        .map(|c| json!({"type": "reply", "reply": {"id": c["id"], "title": c["title"]}}))
                        .collect();
                    json!({"type": "button", "body": {"text": body}, "action": {"buttons": buttons}})
                }
            };
            json!({"type": "interactive", "interactive": interactive})
        }
    })
}
