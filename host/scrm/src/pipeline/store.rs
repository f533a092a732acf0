//! Storing what inbox bodies carry, inside the caller's transaction: messages with
//! their contacts and conversations, statuses, edits and revokes, account events,
//! and what the host does not model (kept raw).

use super::calls::{store_call, store_echo};
use super::changes::{store_account_event, store_amendment, store_status};
use super::plugins::ToClassify;
use crate::limits::optout;
use scrm_engine::responder::ConversationView;
use scrm_store::Store;
use scrm_store::StoreError;
use scrm_store::contacts::{Contact, ContactFacts};
use scrm_store::messages::NewInbound;
use scrm_wire::content::Content;
use scrm_wire::payload::{self, Event, InboundMessage};
use scrm_wire::phone;
use std::collections::{HashMap, HashSet};

/// What storing did, for metrics once it is committed.
#[derive(Default)]
pub(super) struct Counts {
    pub stored: u64,
    pub duplicates: u64,
    pub unhandled: Vec<(String, String)>,
}

/// What one batch's transaction has done so far: the messages for the plugins, the
/// counts for metrics, and what it looked up once for the whole batch.
struct BatchState<'a> {
    send_settings: &'a crate::config::SendSettings,
    jobs: Vec<ToClassify>,
    counts: Counts,
    /// `(app, phone number id)` → its tenant and the tenant's region.
    routes: HashMap<(String, String), Option<(String, String)>>,
    /// `(app, phone number id, account, display number)` this batch already
    /// recorded (one write each).
    learned: HashSet<(String, String, String, Option<String>)>,
    /// New messages waiting to be stored together (see [`flush`]): stored before
    /// any other event of the batch is, so the batch's order holds.
    pending: Vec<Pending>,
    /// `(inbox body, tenant, contact)` for each tenant a body reached: what the
    /// tenant's relay forwards (see [`crate::relay`]).
    reached: Vec<(i64, String, String)>,
    /// The tenants with an events hook, read once per batch when first needed.
    event_hooks: Option<HashSet<String>>,
}

/// A message waiting in [`BatchState::pending`]: where it arrived, what it says
/// about its sender, and itself.
struct Pending {
    arrival: Arrival,
    facts: ContactFacts,
    message: InboundMessage,
}

impl BatchState<'_> {
    /// Notes that inbox body `inbox_id` reached `tenant` (about `contact`, the first
    /// one named), for the relay.
    fn reach(&mut self, inbox_id: i64, tenant: &str, contact: Option<&str>) {
        if !self
            .reached
            .iter()
            .any(|(i, t, _)| *i == inbox_id && t == tenant)
        {
            let contact = contact.unwrap_or_default().to_owned();
            self.reached.push((inbox_id, tenant.to_owned(), contact));
        }
    }

    /// Whether `tenant` has an events hook (read once per batch).
    fn has_event_hook(&mut self, tx: &dyn Store, tenant: &str) -> Result<bool, StoreError> {
        if self.event_hooks.is_none() {
            let tenants = scrm_store::HookRepo::tenants_with(tx, crate::event_hooks::KIND)?;
            self.event_hooks = Some(tenants.into_iter().collect());
        }
        Ok(self
            .event_hooks
            .as_ref()
            .is_some_and(|t| t.contains(tenant)))
    }

    /// The tenant (and its region) that `phone_number_id` of `app_id` routes to,
    /// read once per batch.
    fn route(
        &mut self,
        tx: &dyn Store,
        app_id: &str,
        phone_number_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let key = (app_id.to_owned(), phone_number_id.to_owned());
        if let Some(known) = self.routes.get(&key) {
            return Ok(known.clone());
        }
        let found = scrm_store::TenantRepo::route(tx, app_id, phone_number_id)?;
        self.routes.insert(key, found.clone());
        Ok(found)
    }
}

/// One claimed inbox body, parsed outside the database thread: its id, its app and
/// its events, or why it is not a WhatsApp notification at all.
pub(super) struct Parsed {
    pub inbox_id: i64,
    pub app_id: String,
    pub events: Result<Vec<Event>, String>,
}

impl Parsed {
    /// Parses one inbox body.
    pub fn of(item: &scrm_store::inbox::InboxItem) -> Parsed {
        Parsed {
            inbox_id: item.id,
            app_id: item.app_id.clone(),
            events: payload::parse(&item.body)
                .map(|n| n.events())
                .map_err(|e| format!("{}: {e}", e.code())),
        }
    }
}

/// What storing a batch did: the messages that need their plugins, the counts for
/// metrics, and the inbox ids whose bodies are fully stored.
pub(super) struct StoredBatch {
    pub jobs: Vec<ToClassify>,
    pub counts: Counts,
    pub done: Vec<i64>,
}

/// Stores what `parsed` carries inside the caller's transaction; a body that is
/// not a webhook notification is kept and marked rejected (never retried).
pub(super) fn store_parsed(
    tx: &dyn Store,
    parsed: Vec<Parsed>,
    send_settings: &crate::config::SendSettings,
) -> Result<StoredBatch, StoreError> {
    let mut batch = BatchState {
        send_settings,
        jobs: Vec::new(),
        counts: Counts::default(),
        routes: HashMap::new(),
        learned: HashSet::new(),
        pending: Vec::new(),
        reached: Vec::new(),
        event_hooks: None,
    };
    let mut done = Vec::new();
    for Parsed {
        inbox_id,
        app_id,
        events,
    } in parsed
    {
        match events {
            Err(reason) => {
                tracing::warn!(inbox_id, %reason, "webhook body is not a WhatsApp notification");
                scrm_store::InboxRepo::mark_rejected(tx, inbox_id, &reason)?;
            }
            Ok(events) => {
                store_events(tx, &app_id, inbox_id, events, &mut batch)?;
                done.push(inbox_id);
            }
        }
    }
    flush(tx, &mut batch)?;
    crate::relay::queue(tx, &batch.reached)?;
    Ok(StoredBatch {
        jobs: batch.jobs,
        counts: batch.counts,
        done,
    })
}

/// Stores every event of one body inside the caller's transaction.
fn store_events(
    tx: &dyn Store,
    app_id: &str,
    inbox_id: i64,
    events: Vec<Event>,
    batch: &mut BatchState<'_>,
) -> Result<(), StoreError> {
    for (index, event) in events.into_iter().enumerate() {
        // A new message joins the batch's pending ones; anything else is stored
        // after them, in order.
        let joins = matches!(&event, Event::Message(m)
            if m.amends.is_none() && !matches!(m.content, Content::System(_)));
        if !joins {
            flush(tx, batch)?;
        }
        if let Event::Account(a) = event {
            // The tenant's app gets account-level bodies relayed too.
            if let Some(tenant) = store_account_event(tx, app_id, inbox_id, &a)? {
                batch.reach(inbox_id, &tenant, None);
            }
            continue;
        }
        let route = event.route();
        let tenant = match &route.phone_number_id {
            Some(pnid) => batch.route(tx, app_id, pnid)?,
            None => None,
        };
        let (kind, raw) = match &event {
            Event::Message(m) => (m.kind.clone(), &m.raw),
            Event::Status(s) => (format!("status:{}", s.status), &s.raw),
            Event::Call(c) => (format!("call:{}", c.event), &c.raw),
            Event::Echo(e) => (format!("echo:{}", e.kind), &e.raw),
            Event::Other(o) => (o.kind.clone(), &o.raw),
            Event::Account(_) => unreachable!("stored above"),
        };
        if let Some((t, _)) = &tenant {
            let contact = match &event {
                Event::Message(m) => m.from.as_deref(),
                Event::Status(st) => st.recipient_id.as_deref(),
                Event::Call(c) => c.customer.as_deref(),
                Event::Echo(e) => e.to.as_deref(),
                _ => None,
            };
            batch.reach(inbox_id, t, contact);
        }
        let Some((tenant, region)) = tenant else {
            if scrm_store::InboxRepo::record_unhandled(
                tx, inbox_id, index, None, "unrouted", &kind, raw,
            )? {
                tracing::warn!(inbox_id, phone_number_id = ?route.phone_number_id, "no tenant for this phone number id");
                batch.counts.unhandled.push(("unrouted".into(), kind));
            }
            continue;
        };
        if let Some(pnid) = &route.phone_number_id
            && batch.learned.insert((
                app_id.to_owned(),
                pnid.clone(),
                route.waba_id.clone(),
                route.display_phone_number.clone(),
            ))
        {
            scrm_store::EventRepo::learn_number(
                tx,
                app_id,
                pnid,
                &route.waba_id,
                route.display_phone_number.as_deref(),
                &tenant,
            )?;
        }
        match event {
            Event::Message(m) if m.amends.is_some() => {
                store_amendment(tx, &tenant, inbox_id, m, &mut batch.jobs)?;
            }
            Event::Message(m) => {
                let arrival = Arrival {
                    tenant,
                    inbox_id,
                    index,
                    kind,
                };
                if let Some(facts) = sender(tx, &arrival, &region, &m, &mut batch.counts)? {
                    batch.pending.push(Pending {
                        arrival,
                        facts,
                        message: m,
                    });
                    if !joins {
                        flush(tx, batch)?;
                    }
                }
            }
            Event::Status(s) => {
                let events = batch.has_event_hook(tx, &tenant)?;
                store_status(tx, &tenant, s, batch.send_settings, events)?;
            }
            Event::Call(c) => {
                if !store_call(tx, &tenant, &region, &c)? {
                    unroutable(tx, inbox_id, index, &tenant, &kind, &c.raw, batch)?;
                }
            }
            Event::Echo(e) => {
                if !store_echo(tx, &tenant, &region, &e)? {
                    unroutable(tx, inbox_id, index, &tenant, &kind, &e.raw, batch)?;
                }
            }
            Event::Other(o) => {
                if scrm_store::InboxRepo::record_unhandled(
                    tx,
                    inbox_id,
                    index,
                    Some(&tenant),
                    "unmodeled",
                    &o.kind,
                    &o.raw,
                )? {
                    batch.counts.unhandled.push(("unmodeled".into(), o.kind));
                }
            }
            Event::Account(_) => unreachable!("stored above"),
        }
    }
    Ok(())
}

/// Records an event that names no customer as unhandled (`unroutable-sender`).
fn unroutable(
    tx: &dyn Store,
    inbox_id: i64,
    index: usize,
    tenant: &str,
    kind: &str,
    raw: &serde_json::Value,
    batch: &mut BatchState<'_>,
) -> Result<(), StoreError> {
    let reason = "unroutable-sender";
    if scrm_store::InboxRepo::record_unhandled(
        tx,
        inbox_id,
        index,
        Some(tenant),
        reason,
        kind,
        raw,
    )? {
        batch
            .counts
            .unhandled
            .push((reason.into(), kind.to_owned()));
    }
    Ok(())
}

/// Where an inbound message arrived: its tenant, the inbox body and its index in
/// it, and its kind for the unhandled list.
struct Arrival {
    tenant: String,
    inbox_id: i64,
    index: usize,
    kind: String,
}

/// A WhatsApp id's E.164 form, remembered for the process's next messages: parsing
/// a number was 7 % of the host's CPU under webhook load (docs/perf/README.md), and
/// the same customers write again and again. At most `MAX` ids are kept; the memo
/// starts again when full.
fn e164_of_wa_id(wa_id: &str) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    const MAX: usize = 100_000;
    static MEMO: LazyLock<Mutex<HashMap<String, Option<String>>>> = LazyLock::new(Mutex::default);
    let memo = || MEMO.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = memo().get(wa_id) {
        return known.clone();
    }
    let e164 = phone::wa_id_to_e164(wa_id);
    let mut m = memo();
    if m.len() >= MAX {
        m.clear();
    }
    m.insert(wa_id.to_string(), e164.clone());
    e164
}

/// What an inbound message tells about its sender (normalising the number with the
/// tenant's default `region` when it has no country code); `None`, recorded as
/// unhandled, when it names no sender at all. Content the host does not model is
/// recorded as unhandled too, and stored.
fn sender(
    tx: &dyn Store,
    arrival: &Arrival,
    region: &str,
    m: &InboundMessage,
    counts: &mut Counts,
) -> Result<Option<ContactFacts>, StoreError> {
    let Arrival {
        tenant,
        inbox_id,
        index,
        kind,
    } = arrival;
    let unhandled = |reason: &str, counts: &mut Counts| -> Result<(), StoreError> {
        if scrm_store::InboxRepo::record_unhandled(
            tx,
            *inbox_id,
            *index,
            Some(tenant),
            reason,
            kind,
            &m.raw,
        )? {
            counts.unhandled.push((reason.into(), kind.clone()));
        }
        Ok(())
    };
    if let Content::Unsupported(_) = m.content {
        unhandled("unmodeled", counts)?;
    }
    let facts = sender_facts(m, region);
    if facts.is_none() {
        unhandled("unroutable-sender", counts)?;
    }
    Ok(facts)
}

/// What an inbound message tells about its sender: identity (business-scoped user id
/// and/or WhatsApp id), the number in E.164 (with the tenant's default `region` when
/// it has no country code) and the profile name; `None` when it names no sender.
pub(crate) fn sender_facts(m: &InboundMessage, region: &str) -> Option<ContactFacts> {
    customer_facts(
        m.from.as_deref(),
        m.from_user_id.clone().or(m.contact_user_id.clone()),
        m.profile_name.clone(),
        region,
    )
}

/// A customer as a contact: its WhatsApp id, business-scoped user id, number in
/// E.164 (with the tenant's default `region` when it has no country code) and
/// profile name; `None` when it has neither id.
pub(super) fn customer_facts(
    wa_id: Option<&str>,
    user_id: Option<String>,
    name: Option<String>,
    region: &str,
) -> Option<ContactFacts> {
    let facts = ContactFacts {
        wa_id: wa_id.map(str::to_owned),
        user_id,
        phone: wa_id
            .and_then(e164_of_wa_id)
            .or_else(|| wa_id.and_then(|f| phone::to_e164(f, Some(region)))),
        name,
    };
    (facts.wa_id.is_some() || facts.user_id.is_some()).then_some(facts)
}

/// Stores the batch's pending messages — their contacts, conversations and the
/// messages themselves with a few statements for all — then each one's side
/// effects, in order, and queues those that need their plugins.
fn flush(tx: &dyn Store, batch: &mut BatchState<'_>) -> Result<(), StoreError> {
    if batch.pending.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(&mut batch.pending);
    // Contacts, tenant by tenant, each in the order its messages came.
    let mut contacts: Vec<Option<Contact>> = vec![None; pending.len()];
    let mut tenants: Vec<&str> = pending.iter().map(|p| p.arrival.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for tenant in tenants {
        let (at, facts): (Vec<usize>, Vec<ContactFacts>) = pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.arrival.tenant == tenant)
            .map(|(i, p)| (i, p.facts.clone()))
            .unzip();
        for (i, c) in at
            .into_iter()
            .zip(scrm_store::ContactRepo::upsert_many(tx, tenant, &facts)?)
        {
            contacts[i] = Some(c);
        }
    }
    let contacts: Vec<Contact> = contacts.into_iter().flatten().collect();
    let fields: Vec<InboundFields> = pending
        .iter()
        .map(|p| InboundFields::of(&p.message))
        .collect::<Result<_, _>>()?;
    let rows: Vec<NewInbound<'_>> = pending
        .iter()
        .zip(&contacts)
        .zip(&fields)
        .map(|((p, contact), f)| f.row(&p.arrival, contact.id, &p.message))
        .collect();
    let stored = scrm_store::MessageRepo::insert_inbound_many(tx, &rows)?;
    drop(rows);
    for ((p, contact), (stored, f)) in pending
        .into_iter()
        .zip(contacts)
        .zip(stored.into_iter().zip(fields))
    {
        after_store(tx, p, contact, stored, f.pnid, batch)?;
    }
    Ok(())
}

/// The parts of an inbound message's row that are computed from it.
struct InboundFields {
    content: serde_json::Value,
    context: serde_json::Value,
    errors: Option<serde_json::Value>,
    pnid: String,
}

impl InboundFields {
    fn of(m: &InboundMessage) -> Result<InboundFields, StoreError> {
        Ok(InboundFields {
            content: serde_json::to_value(&m.content)?,
            context: serde_json::to_value(&m.context)?,
            errors: (!m.errors.is_empty())
                .then(|| serde_json::to_value(&m.errors))
                .transpose()?,
            pnid: m.route.phone_number_id.clone().unwrap_or_default(),
        })
    }

    fn row<'a>(
        &'a self,
        arrival: &'a Arrival,
        contact_id: i64,
        m: &'a InboundMessage,
    ) -> NewInbound<'a> {
        NewInbound {
            tenant: &arrival.tenant,
            contact_id,
            phone_number_id: &self.pnid,
            wamid: &m.id,
            kind: &m.kind,
            timestamp: m.timestamp.saturating_mul(1000),
            text: m.content.text(),
            content: &self.content,
            context: &self.context,
            raw: &m.raw,
            errors: self.errors.as_ref(),
            inbox_id: arrival.inbox_id,
        }
    }
}

/// What follows storing one inbound message: its media download, an opt-out
/// keyword, a number change (once: not on redelivery), and queueing it for its
/// plugins when it still needs them.
fn after_store(
    tx: &dyn Store,
    p: Pending,
    contact: Contact,
    stored: scrm_store::messages::Stored,
    pnid: String,
    batch: &mut BatchState<'_>,
) -> Result<(), StoreError> {
    let Pending {
        arrival,
        message: m,
        ..
    } = p;
    let tenant = arrival.tenant;
    let at = m.timestamp.saturating_mul(1000);
    if stored.inserted {
        batch.counts.stored += 1;
        // Media: a download job, in the same transaction (crate::media).
        crate::media::record_inbound(tx, &tenant, stored.message_id, &pnid, &m.content)?;
        if batch.has_event_hook(tx, &tenant)? {
            crate::event_hooks::emit(
                tx,
                &tenant,
                "message.received",
                m.from.as_deref().unwrap_or_default(),
                serde_json::json!({"message_id": stored.message_id, "wamid": m.id,
                "from": m.from, "contact_id": contact.id, "phone_number_id": pnid,
                "type": m.kind, "timestamp": at}),
            )?;
        }
        // A message that is only STOP / START opts the sender out / in,
        // in the same transaction as the message (once: not on redelivery).
        if let (Content::Text(body), Some(wa_id)) = (&m.content, &m.from)
            && let Some(keyword) = optout::keyword(body)
        {
            crate::limits::optout::apply_keyword(tx, &tenant, wa_id, keyword, at)?;
        }
        // The customer moved to a new number: the contact (and what it
        // consented to) moves with them, so replies reach the new number.
        if let Content::System(notice) = &m.content
            && matches!(
                notice.kind.as_str(),
                "user_changed_number" | "customer_changed_number"
            )
            && let Some(new_wa_id) = &notice.new_wa_id
            && !scrm_store::ContactRepo::change_number(tx, &tenant, contact.id, new_wa_id)?
        {
            tracing::warn!(tenant = %tenant, contact = contact.id, "number change to a number another contact has; left for a merge");
        }
    } else {
        batch.counts.duplicates += 1;
    }
    if stored.unclassified {
        let mut message = m;
        // An edit that arrived before the message is its current version:
        // plugins see that.
        if let Some(edit) = stored
            .edited_by
            .as_ref()
            .and_then(|raw| InboundMessage::from_raw(&message.route, raw))
            && !matches!(edit.content, Content::Unsupported(_))
        {
            message.content = edit.content;
            message.context.replied_to = edit.context.replied_to;
        }
        batch.jobs.push(ToClassify {
            tenant,
            message_id: stored.message_id,
            conversation: ConversationView {
                id: stored.conversation_id,
                phone_number_id: pnid,
                last_message_at: at,
                last_inbound_at: Some(at),
            },
            message,
            contact,
            respond: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::e164_of_wa_id;

    #[test]
    fn a_senders_e164_form_is_remembered_and_the_same_as_parsed() {
        for _ in 0..2 {
            assert_eq!(
                e164_of_wa_id("393471234567").as_deref(),
                Some("+393471234567")
            );
            // Mexico's WhatsApp ids carry a 1 after the country code that E.164 drops.
            assert_eq!(
                e164_of_wa_id("5215512345678"),
                scrm_wire::phone::wa_id_to_e164("5215512345678")
            );
            assert_eq!(e164_of_wa_id("12"), None);
            assert_eq!(e164_of_wa_id("not-a-number"), None);
        }
    }
}
