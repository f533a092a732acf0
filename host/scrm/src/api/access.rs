//! Who may call what under `/v1/`: the operator's token (every route, every tenant),
//! or a tenant's API token, which reaches only its own tenant's routes, and of those
//! only the ones its role allows ([`RULES`]). Routes not listed are the operator's.
//! Admin actions are written to the audit log with who, what, when and from where.

use super::AppState;
use super::client::ClientAddr;
use super::error::ApiError;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use scrm_store::people::{NewAudit, Role};
use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::people::TOKEN_PREFIX;

/// A token's use is written at most this often, ms.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator: every route of every tenant.
    Operator,
    /// A tenant's API token.
    Token {
        /// Its tenant.
        tenant: String,
        /// What it may do (a person's token: the person's role).
        role: Role,
        /// The person it acts for.
        person: Option<i64>,
        /// The token's id.
        id: i64,
    },
    /// A person logged into the web inbox (a session cookie).
    Session {
        /// Their tenant.
        tenant: String,
        /// Their role.
        role: Role,
        /// The person.
        person: i64,
    },
}

impl Principal {
    /// How the audit log and the messages' provenance name the caller:
    /// `operator`, `person:ID` or `token:ID`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::Token {
                person: Some(p), ..
            }
            | Principal::Session { person: p, .. } => format!("person:{p}"),
            Principal::Token { id, .. } => format!("token:{id}"),
        }
    }

    /// The caller's tenant and role; `None` for the operator.
    pub fn scope(&self) -> Option<(&str, Role)> {
        match self {
            Principal::Operator => None,
            Principal::Token { tenant, role, .. } | Principal::Session { tenant, role, .. } => {
                Some((tenant, *role))
            }
        }
    }

    /// The person acting, if any.
    pub fn person(&self) -> Option<i64> {
        match self {
            Principal::Operator => None,
            Principal::Token { person, .. } => *person,
            Principal::Session { person, .. } => Some(*person),
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The operator's token.
    Operator,
    /// A token of the route's tenant with at least this role (or the operator).
    Role(Role),
}

/// One route's rule: method, path (as routed, under `/v1`), what it needs, and the
/// audit log's name for it when it is an admin action.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The HTTP method.
    pub method: &'static str,
    /// The route, as in the router (`/tenants/{id}/secrets/{name}`).
    pub path: &'static str,
    /// Who may call it.
    pub need: Need,
    /// The audit log's name for the action, if it is audited.
    pub audit: Option<&'static str>,
}

const fn r(method: &'static str, path: &'static str, need: Need) -> Rule {
    Rule {
        method,
        path,
        need,
        audit: None,
    }
}

const fn a(method: &'static str, path: &'static str, need: Need, action: &'static str) -> Rule {
    Rule {
        method,
        path,
        need,
        audit: Some(action),
    }
}

const AGENT: Need = Need::Role(Role::Agent);
const MANAGER: Need = Need::Role(Role::Manager);
const ADMIN: Need = Need::Role(Role::Admin);
const OPERATOR: Need = Need::Operator;

/// Every route under `/v1/` and who may call it. Tenant routes (`/tenants/{id}/…`)
/// admit tokens of that tenant only.
#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    a("POST", "/apps", OPERATOR, "app.add"),
    r("GET", "/apps", OPERATOR),
    a("PATCH", "/apps/{id}", OPERATOR, "app.change"),
    r("GET", "/apps/{id}/health", OPERATOR),
    r("POST", "/apps/{id}/health/probe", OPERATOR),
    r("POST", "/apps/{id}/signature", OPERATOR),
    r("GET", "/apps/{id}/events", OPERATOR),
    a("POST", "/tenants", OPERATOR, "tenant.add"),
    r("GET", "/tenants", OPERATOR),
    a("POST", "/components", OPERATOR, "component.upload"),
    a("POST", "/flows", OPERATOR, "flow.add"),
    r("GET", "/flows", ADMIN),
    r("GET", "/inbox", OPERATOR),
    r("GET", "/audit", OPERATOR),
    r("GET", "/tenants/{id}", AGENT),
    a("PATCH", "/tenants/{id}", ADMIN, "tenant.change"),
    r("GET", "/tenants/{id}/health", MANAGER),
    r("GET", "/tenants/{id}/plugins", MANAGER),
    r("GET", "/tenants/{id}/secrets", ADMIN),
    a("PUT", "/tenants/{id}/secrets/{name}", ADMIN, "secret.set"),
    a("DELETE", "/tenants/{id}/secrets/{name}", ADMIN, "secret.delete"),
    a("PUT", "/tenants/{id}/plugins/{slot}", ADMIN, "plugin.install"),
    a("POST", "/tenants/{id}/plugins/{slot}/rollback", ADMIN, "plugin.rollback"),
    a("POST", "/tenants/{id}/plugins/{slot}/enable", ADMIN, "plugin.enable"),
    r("GET", "/tenants/{id}/contacts", AGENT),
    r("GET", "/tenants/{id}/conversations", MANAGER),
    r("POST", "/tenants/{id}/conversations/{conversation}/resolve", AGENT),
    r("GET", "/tenants/{id}/messages", MANAGER),
    r("GET", "/tenants/{id}/calls", MANAGER),
    r("POST", "/tenants/{id}/messages", MANAGER),
    r("GET", "/tenants/{id}/inbox/conversations", AGENT),
    r("GET", "/tenants/{id}/inbox/conversations/{conversation}", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/messages", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/assign", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/state", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/notes", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/preview", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/drafts/{draft}/send", AGENT),
    r("POST", "/tenants/{id}/inbox/conversations/{conversation}/drafts/{draft}/discard", AGENT),
    r("GET", "/tenants/{id}/inbox/events", AGENT),
    a("POST", "/tenants/{id}/people/{person}/login-link", ADMIN, "person.login_link"),
    r("GET", "/tenants/{id}/canned", AGENT),
    a("PUT", "/tenants/{id}/canned/{shortcut}", MANAGER, "canned.set"),
    a("DELETE", "/tenants/{id}/canned/{shortcut}", MANAGER, "canned.delete"),
    r("POST", "/tenants/{id}/media", AGENT),
    r("GET", "/tenants/{id}/media", AGENT),
    r("GET", "/tenants/{id}/media/{sha256}", AGENT),
    r("GET", "/tenants/{id}/outbox", MANAGER),
    r("GET", "/tenants/{id}/outbox/{item}", MANAGER),
    a("POST", "/tenants/{id}/outbox/{item}/requeue", MANAGER, "outbox.requeue"),
    a("POST", "/tenants/{id}/outbox/{item}/cancel", MANAGER, "outbox.cancel"),
    r("GET", "/tenants/{id}/limits", MANAGER),
    a("PUT", "/tenants/{id}/limits", ADMIN, "limits.set"),
    a("PUT", "/tenants/{id}/numbers/{number}/limits", ADMIN, "limits.set_number"),
    r("GET", "/tenants/{id}/consent/{recipient}", AGENT),
    a("PUT", "/tenants/{id}/consent/{recipient}", MANAGER, "consent.set"),
    r("GET", "/tenants/{id}/events", MANAGER),
    a("PUT", "/tenants/{id}/event-hook", ADMIN, "event_hook.set"),
    r("GET", "/tenants/{id}/event-hook", MANAGER),
    a("DELETE", "/tenants/{id}/event-hook", ADMIN, "event_hook.remove"),
    r("GET", "/tenants/{id}/event-hook/deliveries", MANAGER),
    a("POST", "/tenants/{id}/event-hook/deliveries/{delivery}/requeue", MANAGER, "event_hook.requeue"),
    a("PUT", "/tenants/{id}/relay", ADMIN, "relay.set"),
    r("GET", "/tenants/{id}/relay", MANAGER),
    a("DELETE", "/tenants/{id}/relay", ADMIN, "relay.remove"),
    r("GET", "/tenants/{id}/relay/deliveries", MANAGER),
    a("POST", "/tenants/{id}/relay/deliveries/{delivery}/requeue", MANAGER, "relay.requeue"),
    r("GET", "/tenants/{id}/links/clicks", MANAGER),
    r("GET", "/tenants/{id}/links/messages", MANAGER),
    r("GET", "/tenants/{id}/templates", AGENT),
    a("POST", "/tenants/{id}/templates", ADMIN, "template.create"),
    a("POST", "/tenants/{id}/templates/sync", ADMIN, "template.sync"),
    a("PUT", "/tenants/{id}/templates/{name}/{language}", ADMIN, "template.set"),
    a("DELETE", "/tenants/{id}/templates/{name}/{language}", ADMIN, "template.delete"),
    r("GET", "/tenants/{id}/templates/{name}/{language}/check", AGENT),
    r("GET", "/tenants/{id}/crm", MANAGER),
    a("PUT", "/tenants/{id}/crm", ADMIN, "crm.settings"),
    r("GET", "/tenants/{id}/crm/jobs", MANAGER),
    a("POST", "/tenants/{id}/crm/jobs/{job}/requeue", MANAGER, "crm.requeue"),
    a("POST", "/tenants/{id}/crm/pull", MANAGER, "crm.pull"),
    a("POST", "/tenants/{id}/crm/audit", ADMIN, "crm.audit"),
    r("GET", "/tenants/{id}/crm/audit", MANAGER),
    r("GET", "/tenants/{id}/crm/mapping-log", MANAGER),
    a("POST", "/tenants/{id}/crm/backfill", ADMIN, "crm.backfill"),
    r("GET", "/tenants/{id}/crm/reviews", MANAGER),
    r("GET", "/tenants/{id}/crm/phone-problems", MANAGER),
    a("POST", "/tenants/{id}/crm/reviews/{review}/accept", MANAGER, "review.accept"),
    a("POST", "/tenants/{id}/crm/reviews/{review}/revert", MANAGER, "review.revert"),
    r("GET", "/tenants/{id}/flows", MANAGER),
    r("GET", "/tenants/{id}/flows/{name}", MANAGER),
    a("PUT", "/tenants/{id}/flows/{name}", ADMIN, "flow.enable"),
    a("POST", "/tenants/{id}/flows/{name}/disable", ADMIN, "flow.disable"),
    a("POST", "/tenants/{id}/campaigns", MANAGER, "campaign.create"),
    r("GET", "/tenants/{id}/campaigns", MANAGER),
    r("GET", "/tenants/{id}/campaigns/{cid}", MANAGER),
    r("GET", "/tenants/{id}/campaigns/{cid}/plan", MANAGER),
    a("POST", "/tenants/{id}/campaigns/{cid}/start", MANAGER, "campaign.start"),
    a("POST", "/tenants/{id}/campaigns/{cid}/pause", MANAGER, "campaign.pause"),
    r("GET", "/tenants/{id}/campaigns/{cid}/recipients", MANAGER),
    a("POST", "/tenants/{id}/people", ADMIN, "person.add"),
    r("GET", "/tenants/{id}/people", AGENT),
    a("POST", "/tenants/{id}/people/{person}/disable", ADMIN, "person.disable"),
    a("PUT", "/tenants/{id}/people/{person}/password", ADMIN, "person.password"),
    a("PUT", "/tenants/{id}/people/{person}/available", AGENT, "person.available"),
    r("GET", "/tenants/{id}/analytics/settings", MANAGER),
    a("PUT", "/tenants/{id}/analytics/settings", ADMIN, "analytics.settings"),
    r("GET", "/tenants/{id}/analytics/{metric}", MANAGER),
    r("GET", "/tenants/{id}/reports/weekly", MANAGER),
    r("GET", "/tenants/{id}/reports", MANAGER),
    r("GET", "/tenants/{id}/reports/{week}", MANAGER),
    a("POST", "/tenants/{id}/reports/{week}/send", MANAGER, "report.send"),
    r("GET", "/tenants/{id}/orders", AGENT),
    a("PUT", "/tenants/{id}/orders/{order}", MANAGER, "order.put"),
    r("GET", "/tenants/{id}/alerts", MANAGER),
    r("POST", "/tenants/{id}/alerts/check", MANAGER),
    a("POST", "/tenants/{id}/teams", ADMIN, "team.add"),
    r("GET", "/tenants/{id}/teams", AGENT),
    a("PUT", "/tenants/{id}/teams/{team}/members/{person}", ADMIN, "team.add_member"),
    a("DELETE", "/tenants/{id}/teams/{team}/members/{person}", ADMIN, "team.remove_member"),
    a("POST", "/tenants/{id}/tokens", ADMIN, "token.create"),
    r("GET", "/tenants/{id}/tokens", ADMIN),
    a("POST", "/tenants/{id}/tokens/{token}/revoke", ADMIN, "token.revoke"),
    r("GET", "/tenants/{id}/audit", ADMIN),
];

/// The rule of `method` on the routed path `path` (with or without `/v1`).
pub fn rule(method: &Method, path: &str) -> Option<&'static Rule> {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    RULES
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
}

/// Token checks and their last-use bookkeeping.
#[derive(Debug, Default)]
pub struct Tokens {
    /// Token id → when its use was last written, Unix ms.
    touched: Mutex<HashMap<i64, i64>>,
}

pub use crate::people::{new_token, token_sha256};

fn unauthenticated(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn forbidden(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// The caller of a request with bearer token `token`.
async fn principal(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if state.auth.accepts(token) {
        return Ok(Principal::Operator);
    }
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(unauthenticated(
            "invalid_token",
            "the bearer token is neither the operator token nor a tenant token",
        ));
    }
    let hash = token_sha256(token);
    let found = state
        .db
        .read(move |c| scrm_store::PeopleRepo::token_by_hash(c, &hash))
        .await?;
    let Some(t) = found else {
        return Err(unauthenticated(
            "invalid_token",
            "the token is unknown, revoked, or its person is disabled",
        ));
    };
    let now = scrm_store::now_ms();
    let due = {
        let mut touched = state
            .tokens
            .touched
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last = touched.get(&t.id).copied().or(t.last_used_at).unwrap_or(0);
        let due = now - last >= TOUCH_EVERY_MS;
        if due {
            touched.insert(t.id, now);
        }
        due
    };
    if due {
        let id = t.id;
        if let Err(e) = state
            .db
            .write(move |c| scrm_store::PeopleRepo::touch_token(c, id, now))
            .await
        {
            tracing::warn!(token = id, error = %e, "cannot record the token's use");
        }
    }
    Ok(Principal::Token {
        tenant: t.tenant_id,
        role: t.role,
        person: t.person_id,
        id: t.id,
    })
}

/// Whether `who` may call `rule` on tenant `tenant` (the route's `{id}`, if any).
fn admit(who: &Principal, rule: Option<&Rule>, tenant: Option<&str>) -> Result<(), ApiError> {
    let Some((own, role)) = who.scope() else {
        return Ok(());
    };
    let Some(rule) = rule else {
        return Err(forbidden(
            "operator_only",
            "this route is the operator's; a tenant token cannot call it".into(),
        ));
    };
    let needed = match rule.need {
        Need::Operator => {
            return Err(forbidden(
                "operator_only",
                format!("{} {} is the operator's", rule.method, rule.path),
            ));
        }
        Need::Role(r) => r,
    };
    match tenant {
        Some(t) if t == own => {}
        Some(t) => {
            return Err(forbidden(
                "other_tenant",
                format!("this token belongs to tenant {own:?}, not {t:?}"),
            ));
        }
        None if needed == Role::Admin && !rule.path.starts_with("/tenants/") => {}
        None => {
            return Err(forbidden(
                "operator_only",
                format!("{} {} is the operator's", rule.method, rule.path),
            ));
        }
    }
    if role < needed {
        return Err(forbidden(
            "insufficient_role",
            format!(
                "{} {} needs the {} role; this token has {}",
                rule.method,
                rule.path,
                needed.as_str(),
                role.as_str()
            ),
        ));
    }
    Ok(())
}

/// The caller of a request outside `/v1/` (the drop-in Cloud API endpoint) whose
/// bearer token is in `headers`: the operator, or a tenant token. Which tenant it
/// may act on is the caller's to check, with [`admit_as`].
///
/// # Errors
/// 401 `missing_token` / `invalid_token`.
pub(crate) async fn bearer(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("missing_token", "no bearer token"))?;
    principal(state, token).await
}

/// Whether `who` may do what `method path` (a [`RULES`] route) does on `tenant`.
///
/// # Errors
/// 403 `other_tenant` / `insufficient_role`.
pub(crate) fn admit_as(
    who: &Principal,
    method: &Method,
    path: &str,
    tenant: &str,
) -> Result<(), ApiError> {
    admit(who, rule(method, path), Some(tenant))
}

/// Middleware for `/v1/`: identifies the caller, admits it by [`RULES`], puts its
/// [`Principal`] in the request's extensions, and audits admin actions.
pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let session = session_cookie(req.headers());
    let csrf = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    let rule = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| rule(req.method(), p.as_str()));
    let tenant = rule
        .filter(|r| r.path.starts_with("/tenants/{id}"))
        .and_then(|_| path_tenant(req.uri().path()));
    let who = match check(
        &state,
        token,
        session,
        (safe, csrf),
        rule,
        tenant.as_deref(),
    )
    .await
    {
        Ok(who) => who,
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let audit = rule.and_then(|r| r.audit);
    let addr = req
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.0.to_string());
    let target = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    req.extensions_mut().insert(who.clone());
    let response = next.run(req).await;
    if let Some(action) = audit {
        record(
            &state,
            &who,
            action,
            tenant,
            target,
            addr,
            response.status(),
        )
        .await;
    }
    response
}

async fn check(
    state: &AppState,
    token: Option<String>,
    session: Option<String>,
    (safe, csrf): (bool, Option<String>),
    rule: Option<&Rule>,
    tenant: Option<&str>,
) -> Result<Principal, ApiError> {
    let who = match (token, session) {
        (Some(token), _) => principal(state, &token).await?,
        (None, Some(id)) => session_principal(state, &id, safe, csrf.as_deref()).await?,
        (None, None) => {
            return Err(unauthenticated(
                "unauthenticated",
                "missing `Authorization: Bearer <token>` header (or a web inbox session)",
            ));
        }
    };
    admit(&who, rule, tenant)?;
    Ok(who)
}

/// The web inbox's session cookie.
pub const SESSION_COOKIE: &str = "scrm_session";

/// The header a page sends its CSRF token in, on every request that changes something.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session id in the request's cookies, if any.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// The person of a live session; a request that changes something must carry the
/// session's CSRF token (`X-CSRF-Token`).
async fn session_principal(
    state: &AppState,
    id: &str,
    safe: bool,
    csrf: Option<&str>,
) -> Result<Principal, ApiError> {
    let hash = token_sha256(id);
    let now = scrm_store::now_ms();
    let found = state
        .db
        .read(move |c| scrm_store::SessionRepo::session(c, &hash, now))
        .await?;
    let Some(s) = found else {
        return Err(unauthenticated(
            "session_expired",
            "the session has expired or ended; log in again",
        ));
    };
    if !safe {
        use subtle::ConstantTimeEq;
        let ok = csrf.is_some_and(|c| bool::from(c.as_bytes().ct_eq(s.csrf.as_bytes())));
        if !ok {
            return Err(forbidden(
                "csrf_mismatch",
                "missing or wrong X-CSRF-Token for this session; reload the page".into(),
            ));
        }
    }
    Ok(Principal::Session {
        tenant: s.tenant_id,
        role: s.role,
        person: s.person_id,
    })
}

/// The tenant id of a `/v1/tenants/{id}/…` path (with or without `/v1`), decoded
/// as the router decodes it.
fn path_tenant(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    let mut first = segments.next()?;
    if first == "v1" {
        first = segments.next()?;
    }
    if first != "tenants" {
        return None;
    }
    let raw = segments.next()?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

async fn record(
    state: &AppState,
    who: &Principal,
    action: &'static str,
    tenant: Option<String>,
    target: String,
    addr: Option<String>,
    status: StatusCode,
) {
    let actor = who.actor();
    let written = state
        .db
        .write(move |c| {
            scrm_store::PeopleRepo::audit(
                c,
                &NewAudit {
                    tenant_id: tenant.as_deref(),
                    actor: &actor,
                    action,
                    target: &target,
                    status: status.as_u16(),
                    remote_addr: addr.as_deref(),
                },
            )
        })
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, action, "cannot write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(tenant: &str, role: Role) -> Principal {
        Principal::Token {
            tenant: tenant.into(),
            role,
            person: None,
            id: 1,
        }
    }

    #[test]
    fn the_tenant_is_read_from_the_path() {
        assert_eq!(
            path_tenant("/v1/tenants/acme/contacts").as_deref(),
            Some("acme")
        );
        assert_eq!(path_tenant("/tenants/a%20b").as_deref(), Some("a b"));
        assert_eq!(path_tenant("/v1/apps/1"), None);
    }

    #[test]
    fn every_rule_is_found_and_unique() {
        for r in RULES {
            let m = Method::from_bytes(r.method.as_bytes()).unwrap();
            let found = rule(&m, &format!("/v1{}", r.path)).unwrap();
            assert!(
                std::ptr::eq(found, r),
                "{} {} listed twice",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn a_token_reaches_its_own_tenant_by_role_only() {
        let secrets = rule(&Method::PUT, "/tenants/{id}/secrets/{name}");
        let contacts = rule(&Method::GET, "/tenants/{id}/contacts");
        assert!(admit(&token("acme", Role::Admin), secrets, Some("acme")).is_ok());
        assert_eq!(
            admit(&token("acme", Role::Manager), secrets, Some("acme"))
                .unwrap_err()
                .code,
            "insufficient_role"
        );
        assert!(admit(&token("acme", Role::Agent), contacts, Some("acme")).is_ok());
        assert_eq!(
            admit(&token("acme", Role::Admin), contacts, Some("globex"))
                .unwrap_err()
                .code,
            "other_tenant"
        );
        let tenants = rule(&Method::POST, "/tenants");
        assert_eq!(
            admit(&token("acme", Role::Admin), tenants, None)
                .unwrap_err()
                .code,
            "operator_only"
        );
        assert_eq!(
            admit(&token("acme", Role::Admin), None, None)
                .unwrap_err()
                .code,
            "operator_only"
        );
        assert!(admit(&Principal::Operator, tenants, None).is_ok());
        assert!(admit(&Principal::Operator, None, Some("globex")).is_ok());
    }
}
