//! Putting sends in the outbox: checking a request against the tenant's numbers and
//! WhatsApp's rules with facts read from the store, and queueing a responder's
//! actions.

use super::*;
use scrm_store::Store;

/// Turns a responder's `reply` and `template` actions for the inbound message
/// `message_id` into sends from the number that received it to its sender, in the
/// caller's transaction. Each action is keyed (`responder:{message}:{index}`), so
/// processing a message again never sends twice. Returns how many were queued; an
/// action the rules refuse is logged and counted, not sent.
///
/// # Errors
/// On database failure.
pub fn enqueue_actions(
    c: &dyn Store,
    tenant: &str,
    message_id: i64,
    actions: &[Value],
    defaults: &SendDefaults,
    metrics: &Metrics,
) -> Result<usize, StoreError> {
    let found = scrm_store::MessageRepo::inbound_origin(
        c,
        tenant,
        scrm_store::messages::MessageRef::Id(message_id),
    )?;
    let Some((from, Some(to))) = found else {
        return Ok(0);
    };
    let mut queued = 0;
    for (index, action) in actions.iter().enumerate() {
        let Some(body) = action_send(action, &from, &to) else {
            continue;
        };
        let key = format!("responder:{message_id}:{index}");
        let outcome = outbound::check(body)
            .map_err(SubmitError::from)
            .and_then(|checked| {
                enqueue_checked(c, tenant, checked, Some(&key), "responder", defaults)
            });
        match outcome {
            Ok(_) => queued += 1,
            Err(SubmitError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(tenant, message_id, index, error = %e, "responder action not sent");
                metrics.send(tenant, "refused");
            }
        }
    }
    Ok(queued)
}

/// The Cloud API message object a responder's `reply` or `template` action sends
/// from number `from` to `to`; none for the actions that send nothing.
pub fn action_send(action: &Value, from: &str, to: &str) -> Option<Value> {
    match action["type"].as_str() {
        Some("reply") => Some(serde_json::json!({"from": from, "to": to, "type": "text",
            "text": {"body": action["text"]}})),
        Some("template") => {
            let parameters: Vec<Value> = action["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| serde_json::json!({"type": "text", "text": p}))
                .collect();
            let mut template = serde_json::json!({"name": action["name"],
                "language": {"code": action["language"]}});
            if !parameters.is_empty() {
                template["components"] =
                    serde_json::json!([{"type": "body", "parameters": parameters}]);
            }
            Some(
                serde_json::json!({"from": from, "to": to, "type": "template", "template": template}),
            )
        }
        _ => None,
    }
}

/// What became of a flow's send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowSendOutcome {
    /// Queued now (outbox id).
    Queued(i64),
    /// Queued before (the same event handled again).
    AlreadyQueued(i64),
    /// The rules refused it; why.
    Refused(String),
}

/// Queues one message a flow sends, in the caller's transaction: `body` is a Cloud
/// API message object (with `from` and `to`), `key` makes it idempotent and `source`
/// (`flow:NAME@VERSION`) is recorded on it. The same rules as any send apply (the
/// window, the opt-in rule, opt-outs, the daily cap).
///
/// # Errors
/// On database failure.
pub fn enqueue_flow_send(
    c: &dyn Store,
    tenant: &str,
    body: Value,
    key: &str,
    source: &str,
    defaults: &SendDefaults,
) -> Result<FlowSendOutcome, StoreError> {
    let outcome = outbound::check(body)
        .map_err(SubmitError::from)
        .and_then(|checked| enqueue_checked(c, tenant, checked, Some(key), source, defaults));
    match outcome {
        Ok((item, true)) => Ok(FlowSendOutcome::Queued(item.id)),
        Ok((item, false)) => Ok(FlowSendOutcome::AlreadyQueued(item.id)),
        Err(SubmitError::Store(e)) => Err(e),
        Err(e) => Ok(FlowSendOutcome::Refused(e.to_string())),
    }
}

/// A reply someone wrote in the CRM, to send to a contact.
#[derive(Debug, Clone, Copy)]
pub struct CrmReply<'a> {
    /// The CRM's id of the note or reply: the send's idempotency key, so it goes once.
    pub crm_id: &'a str,
    /// The customer's WhatsApp id or E.164 number.
    pub to: &'a str,
    /// The business number of the contact's conversation.
    pub from: &'a str,
    /// When the customer last wrote, Unix ms.
    pub last_inbound_at: Option<i64>,
    /// The text.
    pub text: &'a str,
    /// The template (name, language) it goes out as outside the 24-hour window.
    pub template: Option<(&'a str, &'a str)>,
}

/// What became of a CRM reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Queued now (as text inside the window, or as the template).
    Queued,
    /// Queued before (the same CRM reply read again).
    AlreadyQueued,
    /// Not sent; the reason (the window is closed and no template is set, or a
    /// rule refused it).
    Refused(String),
}

/// The idempotency key of the send of CRM reply `crm_id`.
pub fn crm_reply_key(crm_id: &str) -> String {
    format!("crm-reply:{crm_id}")
}

/// Queues a reply written in the CRM, in the caller's transaction: as text inside
/// the customer's 24-hour window, else as the tenant's reply template with the text
/// as its `{{1}}`; keyed by the CRM's id, so reading it again never sends twice.
///
/// # Errors
/// On database failure.
pub fn enqueue_crm_reply(
    c: &dyn Store,
    tenant: &str,
    reply: CrmReply<'_>,
    defaults: &SendDefaults,
) -> Result<ReplyOutcome, StoreError> {
    let body = if policy::window_open(reply.last_inbound_at, now_ms()) {
        serde_json::json!({"from": reply.from, "to": reply.to, "type": "text",
            "text": {"body": reply.text}})
    } else if let Some((name, language)) = reply.template {
        serde_json::json!({"from": reply.from, "to": reply.to, "type": "template",
            "template": {"name": name, "language": {"code": language},
                "components": [{"type": "body",
                    "parameters": [{"type": "text", "text": reply.text}]}]}})
    } else {
        return Ok(ReplyOutcome::Refused(
            "the customer's 24-hour window is closed and the tenant has no reply template \
             (scrm crm set --reply-template)"
                .into(),
        ));
    };
    let key = crm_reply_key(reply.crm_id);
    let outcome = outbound::check(body)
        .map_err(SubmitError::from)
        .and_then(|checked| enqueue_checked(c, tenant, checked, Some(&key), "crm", defaults));
    match outcome {
        Ok((_, true)) => Ok(ReplyOutcome::Queued),
        Ok((_, false)) => Ok(ReplyOutcome::AlreadyQueued),
        Err(SubmitError::Store(e)) => Err(e),
        Err(e) => Ok(ReplyOutcome::Refused(e.to_string())),
    }
}

/// Checks, decides and stores one request, with its tracked links (in one
/// transaction, nested in the caller's). The one place every send is queued.
pub(super) fn enqueue_checked(
    c: &dyn Store,
    tenant: &str,
    mut checked: Checked,
    idempotency_key: Option<&str>,
    source: &str,
    defaults: &SendDefaults,
) -> Result<(OutboxItem, bool), SubmitError> {
    let (region, numbers) =
        tenant_numbers(c, tenant)?.ok_or_else(|| SubmitError::UnknownTenant(tenant.into()))?;
    crate::media::check_outbound(c, tenant, &checked.body)?; // `scrm:` media ids exist and fit
    if checked.kind == "template" {
        crate::templates::check_send(c, tenant, &checked.body)?;
    }

    let (mut checked, to, from) = if let Some(wamid) = checked.read_message_id.clone() {
        // A mark-as-read goes from the number that received the message.
        let found = scrm_store::MessageRepo::inbound_origin(
            c,
            tenant,
            scrm_store::messages::MessageRef::Wamid(&wamid),
        )?;
        let Some((number, wa_id)) = found else {
            return Err(outbound::Invalid {
                code: "message_not_found",
                message: format!("no inbound message {wamid:?} for this tenant to mark as read"),
            }
            .into());
        };
        let to = wa_id.unwrap_or_default();
        (checked, to, number)
    } else {
        let raw_to = checked.to.clone().unwrap_or_default();
        let to = normalise_recipient(&raw_to, &region).ok_or_else(|| outbound::Invalid {
            code: "invalid_recipient",
            message: format!("`to` {raw_to:?} is not a valid phone number (region {region} assumed without a country code)"),
        })?;
        let from = match &checked.from {
            Some(f) if numbers.contains(f) => f.clone(),
            Some(f) => {
                return Err(outbound::Invalid {
                    code: "unknown_number",
                    message: format!(
                        "`from` {f:?} is not one of the tenant's numbers ({})",
                        numbers.join(", ")
                    ),
                }
                .into());
            }
            None if numbers.len() == 1 => numbers[0].clone(),
            None => {
                return Err(outbound::Invalid {
                    code: "from_required",
                    message: format!(
                        "the tenant has several numbers: say which one sends with `from` ({})",
                        numbers.join(", ")
                    ),
                }
                .into());
            }
        };
        if let Some(obj) = checked.body.as_object_mut() {
            obj.insert("to".into(), Value::from(to.clone()));
        }
        (checked, to, from)
    };
    checked.from = Some(from.clone());
    let now = now_ms();
    let limits = effective_limits(c, tenant, &from, defaults.limits)?;
    let (count, oldest) = scrm_store::OutboxRepo::reached_since(c, &from, now - policy::DAY_MS)?;
    let target = Target {
        tenant,
        number: &from,
        to: &to,
        kind: checked.rule_kind,
        category: checked.category,
    };
    let facts = gather(c, &target, limits, now, count, oldest, &HashSet::new())?;
    let (not_before, wait_reason) = match policy::decide(&facts) {
        Decision::Refuse(r) => return Err(SubmitError::Refused(r)),
        Decision::Wait { until, reason } => (until, Some(reason.as_str())),
        Decision::Send { .. } => (now, None),
    };
    let links = super::links::track(
        c,
        tenant,
        &checked.kind,
        &mut checked.body,
        defaults.public_url.as_ref(),
    )?;
    let send = NewSend {
        tenant,
        phone_number_id: &from,
        to: &to,
        kind: &checked.kind,
        category: checked.category.as_str(),
        body: &checked.body,
        idempotency_key,
        source,
        not_before,
        wait_reason,
    };
    Ok(store_with_links(c, &send, &links)?)
}

/// Stores a send and its tracked links together. A send seen before (the same
/// idempotency key) keeps the links it was queued with: the tokens made for this
/// attempt are dropped unused.
fn store_with_links(
    c: &dyn Store,
    send: &NewSend<'_>,
    links: &[scrm_store::links::NewLink],
) -> Result<(OutboxItem, bool), StoreError> {
    scrm_store::transaction(c, |tx| {
        let (item, created) = scrm_store::OutboxRepo::enqueue(tx, send)?;
        if created && !links.is_empty() {
            scrm_store::LinkRepo::insert(tx, send.tenant, item.id, send.to, links)?;
        }
        Ok((item, created))
    })
}

/// A recipient as Meta's `to` wants it: E.164 digits without "+".
pub(super) fn normalise_recipient(raw: &str, region: &str) -> Option<String> {
    let e164 = if raw.starts_with('+') {
        phone::to_e164(raw, None)
    } else if raw.chars().all(|ch| ch.is_ascii_digit()) && raw.len() > 10 {
        // Digits only and long enough to carry a country code: a WhatsApp id.
        phone::wa_id_to_e164(raw).or_else(|| phone::to_e164(raw, Some(region)))
    } else {
        phone::to_e164(raw, Some(region))
    }?;
    Some(e164.trim_start_matches('+').to_owned())
}

pub(super) fn tenant_numbers(
    c: &dyn Store,
    tenant: &str,
) -> Result<Option<(String, Vec<String>)>, StoreError> {
    Ok(scrm_store::TenantRepo::get(c, tenant)?.map(|t| (t.default_region, t.phone_number_ids)))
}

/// The limits of `number`: defaults, then the tenant's overrides, then the number's.
///
/// # Errors
/// On database failure; stored overrides that no longer validate are ignored with a
/// warning rather than stopping sends.
pub fn effective_limits(
    c: &dyn Store,
    tenant: &str,
    number: &str,
    defaults: Limits,
) -> Result<Limits, StoreError> {
    let (t, n) = scrm_store::TenantRepo::limit_overrides(c, tenant, number)?;
    let mut limits = defaults;
    for json in [Some(t), n].into_iter().flatten() {
        match serde_json::from_str::<LimitOverrides>(&json)
            .map_err(|e| e.to_string())
            .and_then(|o| limits.with(&o))
        {
            Ok(l) => limits = l,
            Err(e) => tracing::warn!(tenant, error = %e, "ignoring invalid stored limit overrides"),
        }
    }
    Ok(limits)
}

/// The rules' kind of a stored message kind.
pub(super) fn rule_kind(kind: &str) -> policy::Kind {
    match kind {
        "read" => policy::Kind::Read,
        "template" => policy::Kind::Template,
        _ => policy::Kind::FreeForm,
    }
}

/// One send as the rules see it: who sends what to whom.
pub(super) struct Target<'a> {
    pub(super) tenant: &'a str,
    pub(super) number: &'a str,
    pub(super) to: &'a str,
    pub(super) kind: policy::Kind,
    pub(super) category: Category,
}

pub(super) fn gather(
    c: &dyn Store,
    t: &Target<'_>,
    limits: Limits,
    now: i64,
    reached: u32,
    oldest: Option<i64>,
    reached_this_round: &HashSet<String>,
) -> Result<Facts, StoreError> {
    let (last_bi, recipient_reached) = scrm_store::OutboxRepo::recipient_history(
        c,
        t.tenant,
        t.number,
        t.to,
        now - policy::DAY_MS,
    )?;
    Ok(Facts {
        now,
        kind: t.kind,
        category: t.category,
        last_inbound_at: if t.kind == policy::Kind::Read {
            None
        } else {
            scrm_store::OutboxRepo::last_inbound_at(c, t.tenant, t.number, t.to)?
        },
        consent: scrm_store::ConsentRepo::get(c, t.tenant, t.to)?,
        number_marketing_paused_until: scrm_store::OutboxRepo::number_paused_until(c, t.number)?,
        daily_cap: limits.daily_cap.get(),
        require_opt_in: limits.require_opt_in,
        reached_24h: reached,
        oldest_reached_at: oldest,
        recipient_reached: recipient_reached || reached_this_round.contains(t.to),
        last_business_initiated_to_recipient: last_bi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_normalised_to_digits() {
        assert_eq!(
            normalise_recipient("+39 347 123 4567", "US").as_deref(),
            Some("393471234567")
        );
        assert_eq!(
            normalise_recipient("347 123 4567", "IT").as_deref(),
            Some("393471234567")
        );
        assert_eq!(
            normalise_recipient("5215512345678", "US").as_deref(),
            Some("525512345678")
        );
        assert_eq!(normalise_recipient("not a number", "IT"), None);
    }
}
