//! A tenant's people, teams and API tokens over HTTP, and the audit log (see
//! `crate::people`; who may call these is in `super::access`).

use super::AppState;
use super::access::Principal;
use super::error::ApiError;
use crate::people::{self, AddPerson, CreateToken, PeopleError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use scrm_store::StoreError;
use scrm_store::people::Role;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> ApiError {
        match e {
            PeopleError::Store(s) => s.into(),
            PeopleError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
        }
    }
}

fn not_found(what: &'static str, id: i64) -> ApiError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
    .into()
}

/// `POST /v1/tenants/{id}/people` `{"email", "name", "role", ["password"], ["teams"]}`:
/// 201 and the person (never the password).
pub async fn add(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<AddPerson>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    super::require_tenant(&state, &tenant).await?;
    let p = people::add_person(&state.db, &tenant, req).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

/// `GET /v1/tenants/{id}/people`: every person, disabled ones too.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = state.db.read(move |c| c.people(&tenant)).await?;
    Ok(Json(json!({"items": items})))
}

/// Applies `change` to a person (false: no such person) and answers the person as
/// they are now; 404 when there is none.
async fn changed_person(
    state: &AppState,
    tenant: String,
    person: i64,
    change: impl FnOnce(&dyn scrm_store::Store, &str, i64) -> Result<bool, StoreError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .db
        .write(move |c| {
            Ok(if change(c, &tenant, person)? {
                c.person(&tenant, person)?
            } else {
                None
            })
        })
        .await?;
    let p = found.ok_or_else(|| not_found("person", person))?;
    Ok(Json(json!(p)))
}

/// `POST /v1/tenants/{id}/people/{person}/disable`: they can no longer log in, and
/// their tokens stop working.
pub async fn disable(
    State(state): State<AppState>,
    Path((tenant, person)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    changed_person(&state, tenant, person, |c, t, id| c.disable_person(t, id)).await
}

/// Whether a person takes new conversations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// `false`: away (round-robin passes them by); `true`: back.
    pub available: bool,
}

/// `PUT /v1/tenants/{id}/people/{person}/available` `{"available": bool}`: the person.
/// Agents set their own; managers and admins anyone's.
pub async fn set_available(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, person)): Path<(String, i64)>,
    body: Result<Json<Availability>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body?;
    if p.scope().is_some_and(|(_, r)| r == Role::Agent) && p.person() != Some(person) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_role",
            "an agent sets only their own availability; others' needs the manager role",
        ));
    }
    let available = req.available;
    changed_person(&state, tenant, person, move |c, t, id| {
        c.set_available(t, id, available)
    })
    .await
}

/// A new password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// At least 10 characters.
    pub password: String,
}

/// `PUT /v1/tenants/{id}/people/{person}/password` `{"password"}`: 204.
pub async fn set_password(
    State(state): State<AppState>,
    Path((tenant, person)): Path<(String, i64)>,
    body: Result<Json<NewPassword>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    people::set_password(&state.db, &tenant, person, req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A team to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddTeam {
    /// Its name, unique in the tenant.
    pub name: String,
    /// Its members, by person id.
    #[serde(default)]
    pub members: Vec<i64>,
}

/// `POST /v1/tenants/{id}/teams` `{"name", ["members"]}`: 201 and the team.
pub async fn add_team(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<AddTeam>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    if req.name.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            "a team needs a name",
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let team = state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                let team = tx.add_team(&tenant, &req.name)?;
                for p in &req.members {
                    if !tx.set_member(&tenant, team.id, *p, true)? {
                        return Err(StoreError::NotFound {
                            what: "person",
                            id: p.to_string(),
                        });
                    }
                }
                Ok(tx.team(&tenant, team.id)?.unwrap_or(team))
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(team)).into_response())
}

/// `GET /v1/tenants/{id}/teams`: every team with its members.
pub async fn teams(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = state.db.read(move |c| c.teams(&tenant)).await?;
    Ok(Json(json!({"items": items})))
}

async fn membership(
    state: &AppState,
    tenant: String,
    team: i64,
    person: i64,
    member: bool,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .db
        .write(move |c| {
            Ok(if c.set_member(&tenant, team, person, member)? {
                c.team(&tenant, team)?
            } else {
                None
            })
        })
        .await?;
    let t = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no team {team} with person {person} in this tenant"
        ))
    })?;
    Ok(Json(json!(t)))
}

/// `PUT /v1/tenants/{id}/teams/{team}/members/{person}`: the team, with them in it.
pub async fn add_member(
    State(state): State<AppState>,
    Path((tenant, team, person)): Path<(String, i64, i64)>,
) -> Result<Json<Value>, ApiError> {
    membership(&state, tenant, team, person, true).await
}

/// `DELETE /v1/tenants/{id}/teams/{team}/members/{person}`: the team, without them.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((tenant, team, person)): Path<(String, i64, i64)>,
) -> Result<Json<Value>, ApiError> {
    membership(&state, tenant, team, person, false).await
}

/// `POST /v1/tenants/{id}/tokens` `{["role"], ["person"], ["name"]}`: 201 and
/// `{"token", "id", "role", …}` — the only time the token is shown.
pub async fn create_token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    super::require_tenant(&state, &tenant).await?;
    let t = people::create_token(&state.db, &tenant, req).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// `GET /v1/tenants/{id}/tokens`: every token (never the token itself), with its
/// last use.
pub async fn tokens(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = state.db.read(move |c| c.tokens(&tenant)).await?;
    Ok(Json(json!({"items": items})))
}

/// `POST /v1/tenants/{id}/tokens/{token}/revoke`: the token stops working at once.
pub async fn revoke_token(
    State(state): State<AppState>,
    Path((tenant, token)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let found = state
        .db
        .write(move |c| {
            Ok(if c.revoke_token(&tenant, token)? {
                c.token(&tenant, token)?
            } else {
                None
            })
        })
        .await?;
    let t = found.ok_or_else(|| not_found("token", token))?;
    Ok(Json(json!(t)))
}

/// The audit log's query: `?before=ID&limit=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id.
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

async fn audit_page(
    state: &AppState,
    tenant: Option<String>,
    q: AuditQuery,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let before = q.before;
    let items = state
        .db
        .read(move |c| c.audit_log(tenant.as_deref(), before, limit))
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({"items": items, "next_before": next})))
}

/// `GET /v1/tenants/{id}/audit`: the tenant's audited actions, newest first.
pub async fn tenant_audit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    audit_page(&state, Some(tenant), q).await
}

/// `GET /v1/audit`: every audited action, of every tenant and none (the operator's).
pub async fn audit(
    State(state): State<AppState>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    audit_page(&state, None, q).await
}

/// `POST /v1/tenants/{id}/people/{person}/login-link`: `{"url", "expires_at"}`, a
/// one-time link into the web inbox, valid for 15 minutes (under the host's
/// `public_url`, else the address this request came to).
pub async fn login_link(
    State(state): State<AppState>,
    Path((tenant, person)): Path<(String, i64)>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let base = match state.outbox.defaults().public_url {
        Some(u) => u.as_str().to_string(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("127.0.0.1:8080");
            format!("http://{host}")
        }
    };
    let (url, expires_at) = crate::api::web::login_link_for(&state, &tenant, person, &base).await?;
    Ok(Json(json!({"url": url, "expires_at": expires_at})))
}
