//! The inbox's conversations over HTTP: the filtered list, one conversation with its
//! messages and notes, replies, assignment, state and private notes — each scoped to
//! what the caller may see (`crate::conversations::viewer`).

use super::AppState;
use super::access::Principal;
use super::error::ApiError;
use crate::conversations::{self, StateError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use scrm_store::MessageRepo;
use scrm_store::conversations::{AssigneeFilter, Viewer, WorkFilter, WorkItem};
use scrm_store::messages::MessageFilter;
use scrm_store::page::PageRequest;
use scrm_store::people::Role;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        let code = match e {
            StateError::Unknown(_) => "invalid_state",
            StateError::NeedsUntil => "invalid_until",
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    }
}

/// The caller's role (none: the operator) and person.
fn who(p: &Principal) -> (Option<Role>, Option<i64>) {
    (p.scope().map(|(_, r)| r), p.person())
}

async fn viewer_of(
    state: &AppState,
    tenant: &str,
    p: &Principal,
) -> Result<Option<Viewer>, ApiError> {
    let (role, person) = who(p);
    let t = tenant.to_string();
    Ok(state
        .db
        .read(move |c| conversations::viewer(c, &t, role, person))
        .await?)
}

fn hidden(tenant: &str, id: i64) -> ApiError {
    ApiError::not_found(format!(
        "tenant {tenant:?} has no conversation {id} that this caller may see"
    ))
}

/// Conversation `id` as the caller sees it; 404 unless the caller may see it.
pub(crate) async fn visible(
    state: &AppState,
    tenant: &str,
    id: i64,
    p: &Principal,
) -> Result<WorkItem, ApiError> {
    let viewer = viewer_of(state, tenant, p).await?;
    let t = tenant.to_string();
    let found = state
        .db
        .read(move |c| c.work_item(&t, id, viewer.as_ref()))
        .await?;
    found.ok_or_else(|| hidden(tenant, id))
}

/// The list's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open`, `pending`, `snoozed`, `resolved`.
    state: Option<String>,
    /// `me`, `unassigned`, `person:ID`, `team:ID`.
    assignee: Option<String>,
    /// A tag of one of its messages.
    tag: Option<String>,
    /// An intent of one of its messages.
    intent: Option<String>,
    /// The previous page's `next` cursor.
    before: Option<String>,
    /// At most this many (default 50, at most 200).
    limit: Option<u32>,
}

fn bad_query(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn assignee_filter(raw: Option<&str>, me: Option<i64>) -> Result<AssigneeFilter, ApiError> {
    let id = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad_query(format!("assignee {raw:?}: {s:?} is not an id")))
    };
    match raw {
        None | Some("") | Some("any") => Ok(AssigneeFilter::Any),
        Some("unassigned") => Ok(AssigneeFilter::Unassigned),
        Some("me") => me
            .map(AssigneeFilter::Person)
            .ok_or_else(|| bad_query("assignee=me needs a person's token or session".into())),
        Some(other) => match other.split_once(':') {
            Some(("person", n)) => Ok(AssigneeFilter::Person(id(n)?)),
            Some(("team", n)) => Ok(AssigneeFilter::Team(id(n)?)),
            _ => Err(bad_query(format!(
                "assignee {other:?} is not me, unassigned, person:ID or team:ID"
            ))),
        },
    }
}

/// `GET /v1/tenants/{id}/inbox/conversations`: newest activity first, filtered, only
/// what the caller may see; `{"items", "next"}`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = q.state.as_deref() {
        conversations::check_state(s, Some(i64::MAX), 0)?;
    }
    let assignee = assignee_filter(q.assignee.as_deref(), who(&p).1)?;
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => Some(
            b.split_once(':')
                .and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)))
                .ok_or_else(|| bad_query(format!("before {b:?} is not a `next` cursor")))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let viewer = viewer_of(&state, &tenant, &p).await?;
    let items = state
        .db
        .read(move |c| {
            c.work_list(
                &tenant,
                &WorkFilter {
                    state: q.state.as_deref(),
                    assignee,
                    tag: q.tag.as_deref(),
                    intent: q.intent.as_deref(),
                    viewer: viewer.as_ref(),
                    before,
                    limit,
                },
            )
        })
        .await?;
    let now = scrm_store::now_ms();
    let next = (items.len() == limit as usize)
        .then(|| {
            items
                .last()
                .map(|i| format!("{}:{}", i.last_message_at, i.id))
        })
        .flatten();
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            let mut v = json!(i);
            v["window_left_s"] = json!(conversations::window_left_s(i, now));
            v
        })
        .collect();
    Ok(Json(json!({"items": items, "next": next})))
}

/// `GET /v1/tenants/{id}/inbox/conversations/{cid}`: the conversation, its newest
/// 200 messages (oldest first) with their statuses and senders, its notes, and the
/// customer's profile (`contact`, `crm`: their fields as templates see them).
pub async fn get(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let viewer = viewer_of(&state, &tenant, &p).await?;
    let t = tenant.clone();
    let found = state
        .db
        .read(move |c| {
            let Some(item) = c.work_item(&t, id, viewer.as_ref())? else {
                return Ok(None);
            };
            let filter = MessageFilter {
                conversation_id: Some(id),
                tag: None,
            };
            // The newest 200, oldest first.
            let after = MessageRepo::newest_start(c, &t, id, 200)?;
            let messages =
                MessageRepo::list(c, &t, filter, PageRequest::new(Some(after), Some(200)))?.items;
            let notes = c.notes(&t, id)?;
            let calls = scrm_store::CallRepo::calls_of_conversation(c, &t, id)?;
            let drafts = scrm_store::AssistRepo::waiting_drafts(c, &t, id)?;
            let profile = crate::automation::template::contact_context(c, &t, item.contact_id)?;
            let crm_id =
                scrm_store::CrmRepo::link(c, &t, "contact", item.contact_id)?.map(|l| l.crm_id);
            let record_url = scrm_store::CrmRepo::settings(c, &t)?.record_url;
            let crm = crm_id.map(|id| (record_url_of(&record_url, &id), id));
            Ok(Some((item, messages, notes, (calls, drafts), profile, crm)))
        })
        .await?;
    let (item, messages, notes, (calls, drafts), profile, crm) =
        found.ok_or_else(|| hidden(&tenant, id))?;
    let mut v = json!(item);
    v["window_left_s"] = json!(conversations::window_left_s(&item, scrm_store::now_ms()));
    v["messages"] = json!(messages);
    v["notes"] = json!(notes);
    v["calls"] = json!(calls);
    v["drafts"] = json!(drafts);
    // The customer's profile as templates see it: contact fields and CRM fields.
    if let Some(p) = profile {
        v["contact"] = p["contact"].clone();
        v["crm"] = p["crm"].clone();
    }
    // The contact's CRM record: its id, and where it opens (the tenant's `record_url`).
    if let Some((url, id)) = crm {
        v["crm_id"] = json!(id);
        v["crm_url"] = json!(url);
    }
    Ok(Json(v))
}

/// The tenant's CRM record URL for a CRM id (`{id}` percent-encoded in its place);
/// `None` when the tenant set none.
fn record_url_of(template: &str, crm_id: &str) -> Option<String> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    (!template.is_empty()).then(|| {
        template.replace(
            "{id}",
            &utf8_percent_encode(crm_id, NON_ALPHANUMERIC).to_string(),
        )
    })
}

/// A reply into a conversation: a text, or a template (a Cloud API `template`
/// object) when the 24-hour window is closed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Free-form text (inside the 24-hour window), in the template language: it is
    /// rendered for the customer (`{{ contact.first_name | default("") }}`).
    text: Option<String>,
    /// A canned response's shortcut, rendered for the customer.
    canned: Option<String>,
    /// A Cloud API template object (`name`, `language`, `components`).
    template: Option<Value>,
}

/// `POST /v1/tenants/{id}/inbox/conversations/{cid}/messages` `{"text"}`,
/// `{"canned"}` or `{"template"}`: queued through the outbox under every rule a send obeys, with the
/// caller as its sender; `202` the outbox item.
pub async fn reply(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Result<Json<Reply>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(r) = body?;
    // One read checks that the caller may see it and gets the recipient.
    let viewer = viewer_of(&state, &tenant, &p).await?;
    let t = tenant.clone();
    let item = state
        .db
        .read(move |c| c.work_item(&t, id, viewer.as_ref()))
        .await?
        .ok_or_else(|| hidden(&tenant, id))?;
    let Some(to) = item.wa_id.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_recipient",
            "the contact has no WhatsApp id to write to",
        ));
    };
    let mut message = json!({"to": to, "from": item.phone_number_id});
    let text = match (r.text, r.canned) {
        (None, None) => None,
        (text, canned) => Some(super::canned::render_for(&state, &tenant, id, text, canned).await?),
    };
    match (text, r.template) {
        (Some(text), None) => {
            message["type"] = json!("text");
            message["text"] = json!({ "body": text });
        }
        (None, Some(t)) => {
            message["type"] = json!("template");
            message["template"] = t;
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_message",
                "a reply has either `text` (or `canned`) or `template`",
            ));
        }
    }
    let source = format!("inbox {}", p.actor());
    let (item, _) = state.outbox.submit(&tenant, message, None, &source).await?;
    Ok((StatusCode::ACCEPTED, Json(item)).into_response())
}

/// An assignment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The person (none with no team: unassign).
    person: Option<i64>,
    /// The team.
    team: Option<i64>,
    /// With `team`: pick its next available agent by round-robin.
    #[serde(default)]
    round_robin: bool,
}

/// `POST /v1/tenants/{id}/inbox/conversations/{cid}/assign` `{"person"?, "team"?,
/// "round_robin"?}`: the conversation as assigned. Agents may only take a
/// conversation they see for themselves; managers and admins assign anyone.
pub async fn assign(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Result<Json<Assign>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(a) = body?;
    visible(&state, &tenant, id, &p).await?;
    let (role, me) = who(&p);
    if role == Some(Role::Agent) && (a.person.is_none() || a.person != me || a.team.is_some()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_role",
            "an agent can only take a conversation for themselves; reassigning needs the manager role",
        ));
    }
    if a.round_robin && a.team.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_assignment",
            "round_robin needs a team",
        ));
    }
    let t = tenant.clone();
    let done = state
        .db
        .write(move |c| match (a.round_robin, a.team) {
            (true, Some(team)) => conversations::assign_round_robin(c, &t, id, team),
            _ => conversations::assign(c, &t, id, a.person, a.team),
        })
        .await?;
    if !done {
        return Err(ApiError::not_found(
            "no such conversation, active person or team in this tenant",
        ));
    }
    get(State(state), Extension(p), Path((tenant, id))).await
}

/// A state change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    /// `open`, `pending`, `snoozed`, `resolved`.
    state: String,
    /// For `snoozed`: until when, Unix ms.
    until: Option<i64>,
}

/// `POST /v1/tenants/{id}/inbox/conversations/{cid}/state` `{"state", "until"?}`.
pub async fn set_state(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Result<Json<SetState>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(s) = body?;
    let until = conversations::check_state(&s.state, s.until, scrm_store::now_ms())?;
    visible(&state, &tenant, id, &p).await?;
    let t = tenant.clone();
    let done = state
        .db
        .write(move |c| {
            if s.state == "resolved" {
                // Resolving queues the flows' `resolved` event in the same transaction.
                let at = scrm_store::now_ms();
                return Ok(crate::automation::resolve_conversation(c, &t, id, at)?.is_some());
            }
            scrm_store::ConversationRepo::set_state(c, &t, id, &s.state, until)
        })
        .await?;
    if !done {
        return Err(hidden(&tenant, id));
    }
    get(State(state), Extension(p), Path((tenant, id))).await
}

/// A private note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Its text (never sent to the customer).
    body: String,
}

/// `POST /v1/tenants/{id}/inbox/conversations/{cid}/notes` `{"body"}`: `201` the note.
pub async fn add_note(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Result<Json<NewNote>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(n) = body?;
    if n.body.trim().is_empty() || n.body.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_note",
            "a note has 1 to 10000 bytes of text",
        ));
    }
    visible(&state, &tenant, id, &p).await?;
    let author = p.actor();
    let note = state
        .db
        .write(move |c| c.add_note(&tenant, id, &author, n.body.trim()))
        .await?;
    Ok((StatusCode::CREATED, Json(note)).into_response())
}

/// How often the live stream looks for new messages and statuses, ms.
const LIVE_POLL_MS: u64 = 1000;

/// `GET /v1/tenants/{id}/inbox/events`: Server-Sent Events for the web inbox. A
/// `change` event (`{"message": id, "status": id}`, the newest of each) whenever a
/// message of the tenant arrives or is sent, or a status moves; read from the store,
/// so changes made through any host of a fleet reach every page. The page then reads
/// what it shows again, through the routes that scope it to the caller.
pub async fn events(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let stream = futures_util::stream::unfold(
        (state, tenant, None::<(i64, i64, i64)>),
        |(state, tenant, last)| async move {
            loop {
                if last.is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(LIVE_POLL_MS)).await;
                }
                let t = tenant.clone();
                let marks = state
                    .db
                    .read(move |c| scrm_store::SessionRepo::change_marks(c, &t))
                    .await;
                let Ok(marks) = marks else {
                    tokio::time::sleep(std::time::Duration::from_millis(LIVE_POLL_MS)).await;
                    continue;
                };
                if last != Some(marks) {
                    let event = Event::default()
                        .event(if last.is_none() { "hello" } else { "change" })
                        .data(
                            json!({"message": marks.0, "status": marks.1, "call": marks.2})
                                .to_string(),
                        );
                    return Some((Ok(event), (state, tenant, Some(marks))));
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
