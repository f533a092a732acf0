//! HTTP: the WhatsApp webhook, the operator's admin API and the read API under
//! `/v1/` (bearer token), tracked links' redirects (`/l/{token}`), `/metrics` and
//! `/healthz`.

pub mod access;
pub mod admin;
pub mod analytics;
pub mod auth;
pub mod campaigns;
pub mod canned;
pub mod client;
pub mod cloud_api;
pub mod conversations;
pub mod crm;
pub mod drafts;
pub mod error;
pub mod event_hook;
pub mod flows;
pub mod health;
pub mod hooks;
pub mod links;
pub mod media;
pub mod orders;
pub mod people;
pub mod read;
pub mod relay;
pub mod send;
pub mod templates;
pub mod tenant;
pub mod web;
pub mod webhook;

use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use scrm_engine::PluginHost;
use scrm_store::Db;
use std::sync::Arc;

/// Largest request body: webhook bodies are small; components can be tens of MB.
const BODY_LIMIT: usize = 64 << 20;

/// What every handler can reach: the [`Services`] behind one `Arc`, since axum clones
/// the state for every request and every middleware layer it passes (a struct of
/// many `Arc`s cost 4 % of the host's CPU under webhook load, counting each up and
/// down; docs/perf).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state of a server made of `services`.
    pub fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The parts of a running host that handlers use.
#[derive(Debug)]
pub struct Services {
    /// The store.
    pub db: Db,
    /// The plugin runtime.
    pub plugins: Arc<PluginHost>,
    /// The inbound worker (to wake it).
    pub pipeline: Pipeline,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Operator authentication.
    pub auth: Arc<auth::AdminAuth>,
    /// Tenant tokens' last-use bookkeeping.
    pub tokens: Arc<access::Tokens>,
    /// Sending.
    pub outbox: crate::outbox::Outbox,
    /// Durable, group-committed webhook intake.
    pub inbox: scrm_store::inbox::Appender,
    /// The apps' secrets, for verifying webhooks.
    pub apps: Arc<webhook::AppsCache>,
    /// Cloud API health and failover per app.
    pub health: Arc<crate::cloud::health::Health>,
    /// Media files: uploads, downloads, serving.
    pub media: crate::media::MediaStore,
    /// Two-way CRM sync.
    pub sync: crate::sync::SyncEngine,
    /// Syncing tenants' message templates from Meta.
    pub templates: crate::templates::TemplateSync,
    /// The reverse proxies whose `X-Forwarded-For` is believed (`client`).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Weekly reports and alert notices out.
    pub delivery: crate::analytics::deliver::Delivery,
    /// The webhook relay's sender (woken when a delivery is re-queued).
    pub relay: crate::relay::Relay,
    /// The model endpoints flows may name (`[flows] endpoints`).
    pub flow_endpoints: crate::automation::endpoint::Allowlist,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/apps", post(admin::add_app).get(admin::list_apps))
        .route("/apps/{id}", patch(admin::patch_app))
        .route("/apps/{id}/health", get(health::get))
        .route("/apps/{id}/health/probe", post(health::probe))
        .route("/apps/{id}/signature", post(admin::sign))
        .route("/apps/{id}/events", get(read::app_events))
        .route("/tenants", post(admin::add_tenant).get(admin::list_tenants))
        .route("/tenants/{id}", get(admin::get_tenant).patch(tenant::patch))
        .route("/tenants/{id}/health", get(tenant::health))
        .route("/tenants/{id}/plugins", get(admin::list_plugins))
        .route("/tenants/{id}/secrets", get(admin::list_secrets))
        .route(
            "/tenants/{id}/secrets/{name}",
            put(admin::set_secret).delete(admin::delete_secret),
        )
        .route("/tenants/{id}/plugins/{slot}", put(admin::install))
        .route(
            "/tenants/{id}/plugins/{slot}/rollback",
            post(admin::rollback),
        )
        .route("/tenants/{id}/plugins/{slot}/enable", post(admin::enable))
        .route("/tenants/{id}/contacts", get(read::contacts))
        .route("/tenants/{id}/conversations", get(read::conversations))
        .route("/tenants/{id}/calls", get(read::calls))
        .route(
            "/tenants/{id}/conversations/{conversation}/resolve",
            post(flows::resolve),
        )
        .route(
            "/tenants/{id}/messages",
            get(read::messages).post(send::send),
        )
        .route(
            "/tenants/{id}/media",
            post(media::upload)
                .get(media::list)
                .layer(DefaultBodyLimit::max(media::UPLOAD_BODY_LIMIT)),
        )
        .route("/tenants/{id}/media/{sha256}", get(media::get))
        .route("/tenants/{id}/outbox", get(send::list))
        .route("/tenants/{id}/outbox/{item}", get(send::get))
        .route("/tenants/{id}/outbox/{item}/requeue", post(send::requeue))
        .route("/tenants/{id}/outbox/{item}/cancel", post(send::cancel))
        .route(
            "/tenants/{id}/limits",
            get(send::get_limits).put(send::put_tenant_limits),
        )
        .route(
            "/tenants/{id}/numbers/{number}/limits",
            put(send::put_number_limits),
        )
        .route(
            "/tenants/{id}/consent/{recipient}",
            get(send::get_consent).put(send::put_consent),
        )
        .route(
            "/tenants/{id}/relay",
            put(relay::put).get(relay::get).delete(relay::delete),
        )
        .route("/tenants/{id}/relay/deliveries", get(relay::deliveries))
        .route(
            "/tenants/{id}/event-hook",
            put(event_hook::put)
                .get(event_hook::get)
                .delete(event_hook::delete),
        )
        .route(
            "/tenants/{id}/event-hook/deliveries",
            get(event_hook::deliveries),
        )
        .route(
            "/tenants/{id}/event-hook/deliveries/{delivery}/requeue",
            post(relay::requeue),
        )
        .route(
            "/tenants/{id}/relay/deliveries/{delivery}/requeue",
            post(relay::requeue),
        )
        .route("/tenants/{id}/events", get(read::tenant_events))
        .route("/tenants/{id}/links/clicks", get(links::clicks))
        .route("/tenants/{id}/links/messages", get(links::messages))
        .route(
            "/tenants/{id}/templates",
            get(templates::list).post(templates::create),
        )
        .route("/tenants/{id}/templates/sync", post(templates::sync))
        .route(
            "/tenants/{id}/templates/{name}/{language}",
            put(templates::put).delete(templates::delete),
        )
        .route(
            "/tenants/{id}/templates/{name}/{language}/check",
            get(templates::check),
        )
        .route(
            "/tenants/{id}/crm",
            get(crm::get_settings).put(crm::put_settings),
        )
        .route("/tenants/{id}/crm/jobs", get(crm::jobs))
        .route("/tenants/{id}/crm/jobs/{job}/requeue", post(crm::requeue))
        .route("/tenants/{id}/crm/pull", post(crm::pull))
        .route(
            "/tenants/{id}/crm/audit",
            post(crm::audit).get(crm::last_audit),
        )
        .route("/tenants/{id}/crm/mapping-log", get(crm::mapping_log))
        .route("/tenants/{id}/crm/backfill", post(crm::backfill))
        .route("/tenants/{id}/crm/reviews", get(crm::reviews))
        .route("/tenants/{id}/crm/phone-problems", get(crm::phone_problems))
        .route(
            "/tenants/{id}/crm/reviews/{review}/accept",
            post(crm::accept),
        )
        .route(
            "/tenants/{id}/crm/reviews/{review}/revert",
            post(crm::revert),
        )
        .route("/components", post(admin::upload_component))
        .route(
            "/flows",
            post(flows::add)
                .get(flows::catalog)
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route("/tenants/{id}/flows", get(flows::list))
        .route(
            "/tenants/{id}/flows/{name}",
            get(flows::get).put(flows::enable),
        )
        .route("/tenants/{id}/flows/{name}/disable", post(flows::disable))
        .route(
            "/tenants/{id}/campaigns",
            post(campaigns::create).get(campaigns::list),
        )
        .route("/tenants/{id}/campaigns/{cid}", get(campaigns::get))
        .route("/tenants/{id}/campaigns/{cid}/plan", get(campaigns::plan))
        .route(
            "/tenants/{id}/campaigns/{cid}/start",
            post(campaigns::start),
        )
        .route(
            "/tenants/{id}/campaigns/{cid}/pause",
            post(campaigns::pause),
        )
        .route(
            "/tenants/{id}/campaigns/{cid}/recipients",
            get(campaigns::recipients),
        )
        .route("/tenants/{id}/people", post(people::add).get(people::list))
        .route(
            "/tenants/{id}/people/{person}/disable",
            post(people::disable),
        )
        .route(
            "/tenants/{id}/people/{person}/password",
            put(people::set_password),
        )
        .route(
            "/tenants/{id}/people/{person}/available",
            put(people::set_available),
        )
        .route(
            "/tenants/{id}/teams",
            post(people::add_team).get(people::teams),
        )
        .route(
            "/tenants/{id}/teams/{team}/members/{person}",
            put(people::add_member).delete(people::remove_member),
        )
        .route(
            "/tenants/{id}/tokens",
            post(people::create_token).get(people::tokens),
        )
        .route(
            "/tenants/{id}/tokens/{token}/revoke",
            post(people::revoke_token),
        )
        .route("/tenants/{id}/audit", get(people::tenant_audit))
        .route(
            "/tenants/{id}/inbox/conversations",
            get(conversations::list),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}",
            get(conversations::get),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/messages",
            post(conversations::reply),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/assign",
            post(conversations::assign),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/state",
            post(conversations::set_state),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/notes",
            post(conversations::add_note),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/preview",
            post(canned::preview),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/drafts/{draft}/send",
            post(drafts::send),
        )
        .route(
            "/tenants/{id}/inbox/conversations/{conversation}/drafts/{draft}/discard",
            post(drafts::discard),
        )
        .route("/tenants/{id}/inbox/events", get(conversations::events))
        .route(
            "/tenants/{id}/people/{person}/login-link",
            post(people::login_link),
        )
        .route(
            "/tenants/{id}/analytics/settings",
            get(analytics::settings).put(analytics::put_settings),
        )
        .route("/tenants/{id}/analytics/{metric}", get(analytics::metric))
        .route(
            "/tenants/{id}/reports/weekly",
            get(analytics::weekly_report),
        )
        .route("/tenants/{id}/orders", get(orders::list))
        .route("/tenants/{id}/orders/{order}", put(orders::put))
        .route("/tenants/{id}/reports", get(analytics::stored_reports))
        .route(
            "/tenants/{id}/reports/{week}",
            get(analytics::stored_report),
        )
        .route(
            "/tenants/{id}/reports/{week}/send",
            post(analytics::send_report),
        )
        .route("/tenants/{id}/alerts", get(analytics::alerts))
        .route("/tenants/{id}/alerts/check", post(analytics::check_alerts))
        .route("/tenants/{id}/canned", get(canned::search))
        .route(
            "/tenants/{id}/canned/{shortcut}",
            put(canned::put).delete(canned::delete),
        )
        .route("/audit", get(people::audit))
        .route("/inbox", get(admin::inbox_stats))
        .fallback(|| async { error::ApiError::not_found("no such API route; see docs/api.md") })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ));
    Router::new()
        .merge(crate::api::web::routes())
        .route(
            "/webhooks/whatsapp",
            get(webhook::verify).post(webhook::receive),
        )
        .route("/webhooks/whatsapp/{app}", post(webhook::receive_app))
        // CRMs cannot send the operator token: the tenant's connector checks the
        // CRM's own signature instead.
        .route("/v1/crm/{tenant}/webhook", post(crm::webhook))
        // What customers tap in messages: no token, and unknown tokens are a 404 page.
        .route("/l/{token}", get(links::follow))
        // The Cloud API's own send surface, for clients written for Meta's.
        .route("/{version}/{number}/messages", post(cloud_api::messages))
        .route("/{version}/{media_id}", get(cloud_api::media_url))
        .route(
            "/{version}/{waba}/message_templates",
            get(cloud_api::message_templates),
        )
        .route(
            "/{version}/{number}/media",
            post(cloud_api::media).layer(DefaultBodyLimit::max(media::UPLOAD_BODY_LIMIT)),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/v1", v1)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client::remember,
        ))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some((instances, memories)) = state.plugins.pool_usage() {
        state.metrics.pool_instances.set(instances as i64);
        state.metrics.pool_memories.set(memories as i64);
    }
    match state
        .db
        .read(|c| scrm_store::SecretRepo::ages(c, None))
        .await
    {
        Ok(ages) => state.metrics.set_secret_ages(&ages, scrm_store::now_ms()),
        Err(e) => tracing::warn!(error = %e, "cannot read secret ages for /metrics"),
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Fails with 404 `not_found` unless `tenant` exists.
pub(crate) async fn require_tenant(state: &AppState, tenant: &str) -> Result<(), error::ApiError> {
    let t = tenant.to_string();
    match state
        .db
        .read(move |c| scrm_store::TenantRepo::get(c, &t))
        .await?
    {
        Some(_) => Ok(()),
        None => Err(error::ApiError::not_found(format!("no tenant {tenant:?}"))),
    }
}
