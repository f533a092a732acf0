//! The calls a local run makes per slot, on each input, as production makes them:
//! a webhook's messages reach a classifier, a responder, a mapper or a flow the way
//! the pipeline and the CRM sync hand them over; records reach mappers, connectors
//! and geocoders; parcels reach couriers.

use super::{Failure, Outcome, Runner, Seen};
use crate::pipeline::{edited_message, sender_facts};
use scrm_engine::bindings::respond::Action;
use scrm_engine::bindings::types as wit;
use scrm_engine::classifier::Classification;
use scrm_engine::crm::{CrmCallError, CrmRecord};
use scrm_engine::responder::{ConversationView, action_json};
use scrm_engine::{ActiveBinding, PluginHost, Slot};
use scrm_store::contacts::Contact;
use scrm_wire::payload::{Amendment, Event, InboundMessage, Notification};
use serde_json::{Value, json};

/// An event no plugin is called on: what it was, and why.
pub(super) struct Skipped(String, &'static str);

/// One message of a webhook as the plugins get it.
pub(super) struct Arrived {
    pub message: InboundMessage,
    pub contact: Contact,
    /// False for an edit: the classifier sees the new version, nothing answers it.
    pub new: bool,
}

impl Runner {
    pub(super) fn on_webhook(&mut self, n: &Notification) -> Vec<Outcome> {
        let mut out = Vec::new();
        for event in n.events() {
            match self.arrive(event) {
                Ok(m) => out.extend(self.on_message(&m)),
                Err(Skipped(subject, why)) => out.push(Outcome {
                    call: "skip",
                    subject,
                    result: Ok(json!(why)),
                    given: None,
                    usage: None,
                    logs: Vec::new(),
                }),
            }
        }
        out
    }

    /// The message an event brings, with its sender as a contact of the run; what
    /// to report when it brings none the plugins see.
    fn arrive(&mut self, event: Event) -> Result<Arrived, Skipped> {
        let m = match event {
            Event::Message(m) => m,
            Event::Status(s) => {
                return Err(Skipped(
                    format!("status {} of {}", s.status, s.id),
                    "statuses reach flows only, as their own events",
                ));
            }
            Event::Account(a) => {
                return Err(Skipped(
                    format!("{} notification", a.kind),
                    "account notifications reach no plugin",
                ));
            }
            Event::Call(c) => {
                return Err(Skipped(
                    format!("call {} ({})", c.call_id, c.state()),
                    "calls are stored on the conversation; no plugin sees them",
                ));
            }
            Event::Echo(e) => {
                return Err(Skipped(
                    format!("echo {}", e.id),
                    "messages sent from the WhatsApp Business app reach no plugin",
                ));
            }
            Event::Other(o) => {
                return Err(Skipped(
                    format!("{} notification", o.kind),
                    "the host keeps it raw; no plugin sees it",
                ));
            }
        };
        if let Some(Amendment::Revoke { original_id }) = &m.amends {
            return Err(Skipped(
                format!("revoke of {original_id}"),
                "a revoke is recorded, not classified",
            ));
        }
        let Some(facts) = sender_facts(&m, &self.region) else {
            return Err(Skipped(m.id.clone(), "the message names no sender"));
        };
        let contact = self.contact(facts);
        let new = m.amends.is_none();
        Ok(Arrived {
            message: edited_message(m),
            contact,
            new,
        })
    }

    /// The run's contact for `facts`, found by user id or WhatsApp id, else new.
    fn contact(&mut self, facts: scrm_store::contacts::ContactFacts) -> Contact {
        let same = |c: &Contact| {
            (facts.user_id.is_some() && c.user_id == facts.user_id)
                || (facts.wa_id.is_some() && c.wa_id == facts.wa_id)
        };
        if let Some(s) = self.seen.iter().find(|s| same(&s.contact)) {
            return s.contact.clone();
        }
        let now = scrm_store::now_ms();
        let contact = Contact {
            id: self.seen.len() as i64 + 1,
            wa_id: facts.wa_id,
            user_id: facts.user_id,
            phone: facts.phone,
            name: facts.name,
            created_at: now,
            updated_at: now,
            merged_into: None,
        };
        self.seen.push(Seen {
            contact: contact.clone(),
            messages: Vec::new(),
        });
        contact
    }

    fn on_message(&mut self, a: &Arrived) -> Vec<Outcome> {
        let subject = format!(
            "{} ({} from {})",
            a.message.id,
            a.message.kind,
            a.contact
                .phone
                .as_deref()
                .or(a.contact.wa_id.as_deref())
                .unwrap_or("?")
        );
        let wit_message = crate::slots::to_wit_message(&a.message);
        if let Some(s) = self.seen.iter_mut().find(|s| s.contact.id == a.contact.id) {
            s.messages.insert(0, wit_message.clone());
        }
        let host = &self.host;
        let b = &self.binding;
        match self.info.slot {
            Slot::Classifier => vec![self.measured_given(
                "classify",
                subject,
                || {
                    let sender = crate::slots::to_wit_contact(&a.contact);
                    host.classify_as_given(b, &wit_message, &sender)
                },
                |given| {
                    let as_given = classification_json(&given);
                    let c = Classification::from_wit(given);
                    let mut v = c.details;
                    v["tags"] = json!(c.tags);
                    (v, Some(as_given))
                },
                |e| self.call_failure(e),
            )],
            _ if !a.new => vec![Outcome {
                call: "skip",
                subject,
                result: Ok(json!("an edit reaches the classifier only")),
                given: None,
                usage: None,
                logs: Vec::new(),
            }],
            Slot::Responder => vec![self.measured_given(
                "respond",
                subject,
                || {
                    let conversation = conversation_of(a);
                    let sender = crate::slots::to_wit_contact(&a.contact);
                    host.respond_as_given(b, &wit_message, &sender, &conversation, None)
                },
                |given| {
                    let host: Vec<Value> = given.iter().map(action_json).collect();
                    let given = given.iter().map(action_as_given).collect();
                    (Value::Array(host), Some(Value::Array(given)))
                },
                |e| self.call_failure(e),
            )],
            Slot::Mapper => self.map_message(a, &wit_message, subject),
            Slot::Flow => vec![self.flow_message(a, wit_message, subject)],
            _ => Vec::new(),
        }
    }

    /// What the CRM sync asks a mapper for a new message: the sender's record, then
    /// the message's.
    fn map_message(&self, a: &Arrived, msg: &wit::Message, subject: String) -> Vec<Outcome> {
        let (host, b) = (&self.host, &self.binding);
        let contact = crate::slots::to_wit_contact(&a.contact);
        let facts = self.facts(a.contact.id, msg.timestamp);
        let unclassified = scrm_engine::classifier::Classification {
            tags: Vec::new(),
            details: Value::Null,
        };
        vec![
            self.measured(
                "contact-to-crm",
                format!("contact of {subject}"),
                || host.map_contact(b, &contact, &facts),
                |m| json!({"record": m.record, "defaulted": m.defaulted}),
                |e| self.crm_failure(e),
            ),
            self.measured(
                "message-to-crm",
                subject,
                || host.map_message(b, msg, &contact, &unclassified),
                |r| json!(r),
                |e| self.crm_failure(e),
            ),
        ]
    }

    /// The facts of contact `id` at `now`, from the messages of the run, counted
    /// as the CRM sync counts them.
    fn facts(&self, id: i64, now: i64) -> wit::ContactFacts {
        let times: Vec<i64> = self
            .seen
            .iter()
            .filter(|s| s.contact.id == id)
            .flat_map(|s| s.messages.iter().map(|m| m.timestamp))
            .collect();
        let since = now - crate::sync::FREQUENCY_WINDOW_MS;
        let activity = scrm_store::crm::Activity {
            recent: times.iter().filter(|&&t| t >= since && t <= now).count() as i64,
            last_at: times.iter().copied().filter(|&t| t <= now).max(),
            latest_classified: None,
            unread_priority: None,
        };
        crate::sync::facts_of(&activity, now, None)
    }

    pub(super) fn on_record(&mut self, r: &CrmRecord) -> Vec<Outcome> {
        let (host, b) = (&self.host, &self.binding);
        let subject = format!("{} {}", r.object, r.id.as_deref().unwrap_or("(no id)"));
        let outcome = match self.info.slot {
            Slot::Mapper => self.measured(
                "crm-to-contact",
                subject,
                || host.map_from_crm(b, r),
                |c| json!(c),
                |e| self.crm_failure(e),
            ),
            Slot::Connector => self.measured(
                "push-contact",
                subject,
                || host.push_contact(b, r),
                |p| json!(p),
                |e| self.crm_failure(e),
            ),
            _ => self.measured(
                "complete",
                subject,
                || host.complete_address(b, r),
                |done| json!(done),
                |e| self.crm_failure(e),
            ),
        };
        vec![outcome]
    }

    pub(super) fn on_parcel(&mut self, p: &super::Parcel) -> Outcome {
        let (host, b) = (&self.host, &self.binding);
        self.measured(
            "track",
            format!(
                "{} {}",
                p.carrier.as_deref().unwrap_or("(any carrier)"),
                p.number
            ),
            || host.track(b, p.carrier.as_deref(), &p.number),
            |t| tracking_json(&t),
            |e| match e {
                scrm_engine::courier::TrackFailure::Call(e) => self.call_failure(e),
                other => Failure {
                    code: "plugin_error".into(),
                    message: other.to_string(),
                },
            },
        )
    }

    /// A connector's first page of changes.
    pub(super) fn pull_changes(&mut self) -> Outcome {
        let (host, b) = (&self.host, &self.binding);
        self.measured(
            "pull-changes",
            "from the start (cursor \"\")".into(),
            || host.pull_changes(b, ""),
            |c| json!(c),
            |e| self.crm_failure(e),
        )
    }

    /// A connector call made by `f`, measured like every call of a run: for checks
    /// that drive a connector's exports one by one (`scrm plugin test`).
    pub fn call_connector<T: serde::Serialize>(
        &self,
        call: &'static str,
        subject: String,
        f: impl FnOnce(&PluginHost, &ActiveBinding) -> Result<T, CrmCallError>,
    ) -> Outcome {
        let (host, b) = (&self.host, &*self.binding);
        self.measured(
            call,
            subject,
            || f(host, b),
            |t| json!(t),
            |e| self.crm_failure(e),
        )
    }

    /// A mapper, connector or geocoder error as a failure.
    fn crm_failure(&self, e: CrmCallError) -> Failure {
        match e {
            CrmCallError::Call(e) => self.call_failure(e),
            CrmCallError::InvalidConfig { message, .. } => Failure {
                code: "crm_invalid".into(),
                message: format!("{}{message}", super::CONFIG_PREFIX),
            },
            other => Failure {
                code: other.code().into(),
                message: other.to_string(),
            },
        }
    }
}

/// The conversation a message is in, as the pipeline gives it to the responder: one
/// per contact in a run.
pub(super) fn conversation_of(a: &Arrived) -> ConversationView {
    let at = a.message.timestamp.saturating_mul(1000);
    ConversationView {
        id: a.contact.id,
        phone_number_id: a.message.route.phone_number_id.clone().unwrap_or_default(),
        last_message_at: at,
        last_inbound_at: Some(at),
    }
}

/// A classifier's answer as the plugin gave it, as JSON (a confidence or
/// sentiment that is not a number, NaN or infinite, becomes its name as text).
fn classification_json(c: &wit::Classification) -> Value {
    // Through its shortest text, so that 0.9f32 reads 0.9, not 0.8999999761581421.
    let number = |x: f32| match x.to_string().parse::<f64>() {
        Ok(v) if x.is_finite() => json!(v),
        _ => json!(x.to_string()),
    };
    json!({
        "tags": c.tags,
        "intent": c.intent.as_ref().map(|i| json!({"name": i.name, "confidence": number(i.confidence)})),
        "entities": c.entities.iter().map(|e| json!({"kind": e.kind, "value": e.value})).collect::<Vec<_>>(),
        "sentiment": c.sentiment.map(number),
        "priority": c.priority.map(|p| match p {
            wit::Priority::Low => "low",
            wit::Priority::Normal => "normal",
            wit::Priority::High => "high",
            wit::Priority::Urgent => "urgent",
        }),
    })
}

/// A responder's action as the plugin gave it, as JSON (a tag as written).
fn action_as_given(a: &Action) -> Value {
    match a {
        Action::Tag(tag) => json!({"type": "tag", "tag": tag}),
        other => action_json(other),
    }
}

fn tracking_json(t: &scrm_engine::bindings::scrm::plugin::commerce::Tracking) -> Value {
    json!({
        "number": t.number,
        "carrier": t.carrier,
        "tag": t.tag,
        "status_text": t.status_text,
        "expected_from": t.expected_from,
        "expected_to": t.expected_to,
        "link": t.link,
        "checkpoints": t.checkpoints.iter().map(|c| json!({
            "at": c.at, "tag": c.tag, "message": c.message, "location": c.location,
        })).collect::<Vec<_>>(),
    })
}
