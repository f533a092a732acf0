//! The web inbox, served by the host itself: the page and its assets (embedded in
//! the binary, no CDN), logging in with email and password or a one-time login link,
//! sessions (an `HttpOnly`, `SameSite=Strict` cookie; a CSRF token the page sends
//! back on every change), rate-limited failed logins, and live updates (Server-Sent
//! Events).
//!
//! The page is one HTML shell and a small script that calls the same `/v1/` API as
//! every other client, with the session instead of a token: the access rules and each
//! agent's view of conversations are enforced there, in one place.

use crate::api::AppState;
use crate::api::access::{self, SESSION_COOKIE};
use crate::api::client::ClientAddr;
use crate::api::error::ApiError;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use scrm_store::people::Person;
use serde::Deserialize;

/// How long a session lasts, ms (12 hours: a working day).
pub const SESSION_MS: i64 = 12 * 3_600_000;

/// How long a login link stays usable, ms.
pub const LOGIN_LINK_MS: i64 = 15 * 60_000;

/// Failed logins counted over this window, ms.
const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
/// Failed logins per account (tenant and email) in the window before refusing.
const MAX_FAILURES_ACCOUNT: i64 = 5;
/// Failed logins per address in the window before refusing.
const MAX_FAILURES_ADDRESS: i64 = 20;

const INDEX_HTML: &str = include_str!("assets/index.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The web inbox's routes (outside `/v1/`).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/login/link/{token}", get(login_link))
        .route("/logout", post(logout))
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /`: the inbox for a logged-in person; anyone else goes to the login page.
async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(id) = access::session_cookie(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let hash = access::token_sha256(&id);
    let now = scrm_store::now_ms();
    let found = state
        .db
        .read(move |c| scrm_store::SessionRepo::session(c, &hash, now))
        .await;
    match found {
        Ok(Some(s)) => html(
            StatusCode::OK,
            INDEX_HTML
                .replace("{{tenant}}", &esc(&s.tenant_id))
                .replace("{{person}}", &s.person_id.to_string())
                .replace("{{name}}", &esc(&s.name))
                .replace("{{role}}", s.role.as_str())
                .replace("{{csrf}}", &esc(&s.csrf)),
        ),
        Ok(None) => Redirect::to("/login?expired=1").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The login page's query.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    tenant: Option<String>,
    expired: Option<String>,
}

fn login_html(status: StatusCode, tenant: &str, email: &str, error: Option<&str>) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\" id=\"login-error\" data-code=\"{e}\"></p>")
    });
    html(
        status,
        LOGIN_HTML
            .replace("{{tenant}}", &esc(tenant))
            .replace("{{email}}", &esc(email))
            .replace("{{error}}", &error),
    )
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    let error = q.expired.as_ref().map(|_| "expired");
    login_html(StatusCode::OK, q.tenant.as_deref().unwrap_or(""), "", error)
}

/// The login form.
#[derive(Debug, Deserialize)]
struct LoginForm {
    tenant: String,
    email: String,
    password: String,
}

fn peer(addr: Option<axum::Extension<ClientAddr>>) -> String {
    addr.map_or_else(|| "unknown".into(), |a| a.0.0.to_string())
}

/// A request from another site's page (an `Origin` that is not this host) is refused:
/// nobody can log a visitor in under someone else's account.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// Starts a session for `person`: the cookie, and a redirect to the inbox.
async fn start_session(
    state: &AppState,
    person: Person,
    addr: String,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let id = access::new_token();
    let csrf = access::new_token();
    let hash = access::token_sha256(&id);
    let expires = scrm_store::now_ms() + SESSION_MS;
    state
        .db
        .write(move |c| {
            scrm_store::SessionRepo::create_session(c, &hash, &person, &csrf, expires, Some(&addr))
        })
        .await?;
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p == "https")
        || state
            .outbox
            .defaults()
            .public_url
            .is_some_and(|u| u.as_str().starts_with("https://"));
    let cookie = cookie::Cookie::build((SESSION_COOKIE, id))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::milliseconds(SESSION_MS))
        .build();
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie.to_string()).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?,
    );
    Ok(resp)
}

/// `POST /login`: email and password; a wrong one gets the same answer whichever
/// part was wrong; too many failures per account or address are refused for a while.
async fn login(
    State(state): State<AppState>,
    addr: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return login_html(StatusCode::BAD_REQUEST, "", "", Some("invalid"));
    };
    if !same_origin(&headers) {
        return login_html(StatusCode::FORBIDDEN, &f.tenant, &f.email, Some("origin"));
    }
    let addr = peer(addr);
    let (tenant, email) = (f.tenant.trim().to_string(), f.email.trim().to_lowercase());
    let account = format!("account:{tenant}:{email}");
    let address = format!("addr:{addr}");
    let since = scrm_store::now_ms() - FAILURE_WINDOW_MS;
    let (a, b, t, e) = (
        account.clone(),
        address.clone(),
        tenant.clone(),
        email.clone(),
    );
    let looked = state
        .db
        .read(move |c| {
            let by_account = scrm_store::SessionRepo::login_failures(c, &a, since)?;
            let by_address = scrm_store::SessionRepo::login_failures(c, &b, since)?;
            let found = scrm_store::PeopleRepo::login(c, &t, &e)?;
            Ok((by_account, by_address, found))
        })
        .await;
    let (by_account, by_address, found) = match looked {
        Ok(x) => x,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if by_account >= MAX_FAILURES_ACCOUNT || by_address >= MAX_FAILURES_ADDRESS {
        return login_html(
            StatusCode::TOO_MANY_REQUESTS,
            &tenant,
            &email,
            Some("rate_limited"),
        );
    }
    let password = f.password;
    let person = tokio::task::spawn_blocking(move || {
        // A dummy hash keeps the time the same whether or not the account exists.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| {
            crate::people::hash_password("not the password of anyone").unwrap_or_default()
        });
        match found {
            Some((p, Some(hash))) if p.disabled_at.is_none() => {
                crate::people::verify_password(&password, &hash).then_some(p)
            }
            _ => {
                crate::people::verify_password(&password, dummy);
                None
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some(person) = person else {
        let now = scrm_store::now_ms();
        let _ = state
            .db
            .write(move |c| scrm_store::SessionRepo::login_failed(c, &[&account, &address], now))
            .await;
        return login_html(StatusCode::UNAUTHORIZED, &tenant, &email, Some("invalid"));
    };
    let _ = state
        .db
        .write(move |c| scrm_store::SessionRepo::clear_login_failures(c, &account))
        .await;
    match start_session(&state, person, addr, &headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// `GET /login/link/{token}`: a one-time login link (`scrm person login-link`).
async fn login_link(
    State(state): State<AppState>,
    addr: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let hash = access::token_sha256(&token);
    let now = scrm_store::now_ms();
    let used = state
        .db
        .write(move |c| scrm_store::SessionRepo::use_login_link(c, &hash, now))
        .await;
    match used {
        Ok(Some(person)) => match start_session(&state, person, peer(addr), &headers).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
        Ok(None) => login_html(StatusCode::GONE, "", "", Some("link")),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /logout` (with the session's CSRF token in `X-CSRF-Token`): ends the session.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = access::session_cookie(&headers) {
        let hash = access::token_sha256(&id);
        let now = scrm_store::now_ms();
        let s = state
            .db
            .read({
                let hash = hash.clone();
                move |c| scrm_store::SessionRepo::session(c, &hash, now)
            })
            .await
            .ok()
            .flatten();
        let csrf = headers
            .get(access::CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        if s.is_some_and(|s| csrf == Some(s.csrf.as_str())) {
            let _ = state
                .db
                .write(move |c| scrm_store::SessionRepo::end_session(c, &hash))
                .await;
        } else {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_mismatch",
                "missing or wrong X-CSRF-Token for this session",
            )
            .into_response();
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Makes a one-time login link for `person` of `tenant`; its URL (under `base`) and
/// when it expires.
///
/// # Errors
/// `NotFound` for a person not of `tenant` or disabled.
pub async fn login_link_for(
    state: &AppState,
    tenant: &str,
    person: i64,
    base: &str,
) -> Result<(String, i64), ApiError> {
    let token = access::new_token();
    let hash = access::token_sha256(&token);
    let expires = scrm_store::now_ms() + LOGIN_LINK_MS;
    let t = tenant.to_string();
    let ok = state
        .db
        .write(move |c| {
            let found = scrm_store::PeopleRepo::person(c, &t, person)?;
            if found.is_none_or(|p| p.disabled_at.is_some()) {
                return Ok(false);
            }
            scrm_store::SessionRepo::add_login_link(c, &hash, &t, person, expires)?;
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(ApiError::not_found(format!(
            "tenant {tenant:?} has no active person {person}"
        )));
    }
    Ok((
        format!("{}/login/link/{token}", base.trim_end_matches('/')),
        expires,
    ))
}
