//! The operator's admin API: Meta apps, tenants, plugin components and bindings.

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scrm_engine::Slot;
use scrm_store::plugins::{BindingRow, ComponentRow};
use scrm_store::tenants::{NewTenant, Tenant};
use scrm_store::{apps, now_ms};
use scrm_wire::{phone, signature};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Ids of apps and tenants: short, URL- and shell-safe.
fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_id",
            format!("{what} id {id:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// Body of `POST /v1/apps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    id: String,
    app_secret: String,
    verify_token: String,
}

/// `POST /v1/apps`: adds a Meta app. Secrets are stored, never returned.
pub async fn add_app(
    State(state): State<AppState>,
    body: Result<Json<NewApp>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(app) = body?;
    check_id("app", &app.id)?;
    if app.app_secret.len() < 8 {
        return Err(ApiError::bad_request(
            "invalid_app_secret",
            "app_secret must be at least 8 characters (Meta's are 32 hex digits)",
        ));
    }
    if app.verify_token.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_verify_token",
            "verify_token must not be empty",
        ));
    }
    let id = app.id.clone();
    state
        .db
        .write(move |c| scrm_store::AppRepo::insert(c, &app.id, &app.app_secret, &app.verify_token))
        .await?;
    state.apps.clear();
    tracing::info!(app = %id, "app added");
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

/// `GET /v1/apps`.
pub async fn list_apps(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let apps = state.db.read(|c| scrm_store::AppRepo::list(c)).await?;
    Ok(Json(json!({"items": apps})))
}

/// Body of `PATCH /v1/apps/{id}`: each field absent stays as it is, `null` clears it
/// (the host's default applies again).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    #[serde(default, deserialize_with = "present")]
    graph_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    graph_version: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    backup_graph_url: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A Cloud API base URL as stored: http(s), a host, no credentials, query or
/// fragment, no trailing slash.
fn check_base_url(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(
            "invalid_url",
            format!("{field} {raw:?} {why}; e.g. https://graph.facebook.com"),
        )
    };
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `PATCH /v1/apps/{id}`: sets the app's Cloud API endpoints (`graph_url`,
/// `graph_version`, `backup_graph_url`); answers the app as it is now.
pub async fn patch_app(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<AppPatch>, JsonRejection>,
) -> Result<Json<apps::MetaApp>, ApiError> {
    let Json(p) = body?;
    if p.graph_url.is_none() && p.graph_version.is_none() && p.backup_graph_url.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_change",
            "send one or more of graph_url, graph_version, backup_graph_url (null clears one)",
        ));
    }
    let url = |field, v: Option<Option<String>>| -> Result<_, ApiError> {
        v.map(|o| o.map(|u| check_base_url(field, &u)).transpose())
            .transpose()
    };
    let patch = apps::EndpointsPatch {
        graph_url: url("graph_url", p.graph_url)?,
        backup_graph_url: url("backup_graph_url", p.backup_graph_url)?,
        graph_version: match p.graph_version {
            Some(Some(v)) if !is_graph_version(&v) => {
                return Err(ApiError::bad_request(
                    "invalid_graph_version",
                    format!("graph_version {v:?} must look like v23.0"),
                ));
            }
            other => other,
        },
    };
    let default_url = state.outbox.settings().graph_url.clone();
    let app = id.clone();
    let updated = state
        .db
        .write(move |c| {
            scrm_store::transaction_if(c, |tx| {
                let updated = scrm_store::AppRepo::set_endpoints(tx, &app, &patch)?;
                let primary = updated.graph_url.clone().unwrap_or(default_url);
                if updated.backup_graph_url.as_deref() == Some(primary.trim_end_matches('/')) {
                    return Ok(Err(ApiError::bad_request(
                        "invalid_backup_graph_url",
                        format!("backup_graph_url must differ from the primary ({primary})"),
                    )));
                }
                Ok(Ok(updated))
            })
        })
        .await??;
    state.health.app_changed(&id).await?;
    state.apps.clear();
    tracing::info!(app = %id, "app endpoints changed");
    Ok(Json(updated))
}

fn is_graph_version(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.len() <= 3
                && minor.len() <= 3
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        })
}

/// `POST /v1/apps/{id}/signature`: signs a body with the app's secret, so tools
/// (`scrm replay`) can post signed fixtures without ever holding the secret.
pub async fn sign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = state
        .db
        .read(move |c| scrm_store::AppRepo::get(c, &id))
        .await?
        .ok_or_else(|| ApiError::not_found("no such app"))?;
    let sig = signature::sign(app.app_secret.expose_secret().as_bytes(), &body);
    Ok(Json(json!({"signature": sig})))
}

/// Body of `POST /v1/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenantBody {
    id: String,
    app: String,
    phone_number_ids: Vec<String>,
    #[serde(default)]
    region: Option<String>,
}

/// `POST /v1/tenants`.
pub async fn add_tenant(
    State(state): State<AppState>,
    body: Result<Json<NewTenantBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    let Json(t) = body?;
    check_id("tenant", &t.id)?;
    if t.phone_number_ids.is_empty()
        || t.phone_number_ids
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::bad_request(
            "invalid_phone_number_id",
            "phone_number_ids must be one or more of Meta's numeric phone number ids",
        ));
    }
    let region = t.region.unwrap_or_else(|| "US".into()).to_ascii_uppercase();
    if !phone::is_known_region(&region) {
        return Err(ApiError::bad_request(
            "invalid_region",
            format!("region {region:?} is not an ISO 3166 alpha-2 code with phone numbering data"),
        ));
    }
    let new = NewTenant {
        id: t.id,
        app_id: t.app,
        phone_number_ids: t.phone_number_ids,
        default_region: region,
    };
    let id = new.id.clone();
    let tenant = state
        .db
        .write(move |c| {
            scrm_store::TenantRepo::insert(c, &new)?;
            scrm_store::TenantRepo::get(c, &new.id)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {id:?} vanished")))?;
    tracing::info!(tenant = %tenant.id, "tenant added");
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// `GET /v1/tenants`.
pub async fn list_tenants(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items = state.db.read(|c| scrm_store::TenantRepo::list(c)).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /v1/tenants/{id}`.
pub async fn get_tenant(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    let t = state
        .db
        .read(move |c| scrm_store::TenantRepo::get(c, &id))
        .await?;
    t.map(Json)
        .ok_or_else(|| ApiError::not_found("no such tenant"))
}

/// Query of `POST /v1/components`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentQuery {
    name: Option<String>,
}

/// A stored component as answered.
#[derive(Debug, Serialize)]
pub struct ComponentInfo {
    #[serde(flatten)]
    row: ComponentRow,
    slot: Slot,
}

/// `POST /v1/components` (body: the component bytes): checks that it implements a
/// supported world and stores it by hash.
pub async fn upload_component(
    State(state): State<AppState>,
    query: Result<Query<ComponentQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<ComponentInfo>), ApiError> {
    let Query(q) = query?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the component's bytes as the request body",
        ));
    }
    let name = q.name.unwrap_or_else(|| "plugin".into());
    check_id("component name", &name)?;
    let plugins = state.plugins.clone();
    let bytes = body.to_vec();
    let (inspected, size) = tokio::task::spawn_blocking(move || {
        let (inspected, _) = plugins.inspect(&bytes)?;
        plugins.save_component(&inspected.sha256, &bytes)?;
        Ok::<_, scrm_engine::error::InstallError>((inspected, bytes.len()))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let row = ComponentRow {
        sha256: inspected.sha256.clone(),
        name,
        world: inspected.slot.world(),
        size: size as i64,
        created_at: now_ms(),
    };
    let sha = row.sha256.clone();
    let bytes = body.to_vec();
    let stored = state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                scrm_store::PluginRepo::insert_component(tx, &row)?;
                // Every host on the database can load it from there.
                scrm_store::PluginRepo::put_component_bytes(tx, &row.sha256, &bytes)?;
                scrm_store::PluginRepo::component(tx, &row.sha256)
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("component {sha} vanished")))?;
    tracing::info!(sha256 = %stored.sha256, world = %stored.world, "component stored");
    Ok((
        StatusCode::CREATED,
        Json(ComponentInfo {
            row: stored,
            slot: inspected.slot,
        }),
    ))
}

/// Body of `PUT /v1/tenants/{id}/plugins/{slot}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// The component, by hash (from `POST /v1/components`).
    sha256: String,
    /// The binding's configuration text (JSON or TOML, as the plugin documents).
    #[serde(default)]
    config: Option<String>,
    /// Or binary configuration (such as a trained model), base64-encoded.
    #[serde(default)]
    config_base64: Option<String>,
    /// Limits for this binding's calls, within the host's maxima:
    /// `{"deadline_ms", "fuel", "memory_mib", "output_kib", "log_records_per_call",
    /// "isolation": "fresh" | "warm"}`.
    #[serde(default)]
    limits: Option<Value>,
    /// Outbound HTTP policy: `{"allow": [hosts], "allow_private": ["ip:port"],
    /// "max_requests": n, "credentials": [{"host", "header", "secret", "prefix"}]}`.
    #[serde(default)]
    http: Option<Value>,
}

/// `PUT /v1/tenants/{id}/plugins/{slot}`: installs a stored component as the
/// tenant's plugin for that slot; the next message uses it.
pub async fn install(
    State(state): State<AppState>,
    Path((tenant, slot)): Path<(String, String)>,
    body: Result<Json<InstallBody>, JsonRejection>,
) -> Result<(StatusCode, Json<BindingRow>), ApiError> {
    let Json(body) = body?;
    let slot: Slot = slot
        .parse()
        .map_err(|e: String| ApiError::bad_request("unknown_slot", e))?;
    if slot == Slot::Flow {
        return Err(ApiError::bad_request(
            "use_flows",
            "flows are enabled by name with parameters: POST /v1/flows adds a flow component, \
             PUT /v1/tenants/{id}/flows/{name} enables it (scrm flow add / scrm flow enable)",
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let sha = body.sha256.to_ascii_lowercase();
    let s = sha.clone();
    let Some(component) = state
        .db
        .read(move |c| scrm_store::PluginRepo::component(c, &s))
        .await?
    else {
        return Err(ApiError::not_found(format!(
            "no component {sha}; upload it first with POST /v1/components"
        )));
    };
    if component.world != slot.world() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_slot",
            format!(
                "component {} implements {}, slot {} needs {}",
                &sha[..12.min(sha.len())],
                component.world,
                slot.as_str(),
                slot.world()
            ),
        ));
    }
    let config = match (body.config, body.config_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "ambiguous_config",
                "send either config or config_base64, not both",
            ));
        }
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| {
                    ApiError::bad_request("invalid_base64", format!("config_base64: {e}"))
                })?
        }
        (None, None) => Vec::new(),
    };
    let limits = body.limits.unwrap_or_else(|| json!({}));
    state
        .plugins
        .limits_for(&limits)
        .map_err(|e| ApiError::bad_request("invalid_limits", format!("limits: {e}")))?;
    let http = body.http.unwrap_or_else(|| json!({}));
    serde_json::from_value::<scrm_engine::capabilities::http::HttpPolicy>(http.clone())
        .map_err(|e| e.to_string())
        .and_then(|p| p.validate())
        .map_err(|e| ApiError::bad_request("invalid_http_policy", format!("http: {e}")))?;
    let (tenant2, slot_name) = (tenant.clone(), slot.as_str());
    let row = state
        .db
        .write(move |c| {
            scrm_store::PluginRepo::insert_binding(
                c, &tenant2, slot_name, &sha, &config, &limits, &http,
            )?;
            scrm_store::PluginRepo::active_binding(c, &tenant2, slot_name)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("binding vanished"))?;
    activate(&state, &row).await?;
    tracing::info!(tenant = %row.tenant_id, slot = %row.slot, version = row.version, sha256 = %row.sha256, "plugin installed");
    Ok((StatusCode::CREATED, Json(row)))
}

async fn activate(state: &AppState, row: &BindingRow) -> Result<(), ApiError> {
    let plugins = state.plugins.clone();
    let activated = crate::slots::binding_spec(row);
    tokio::task::spawn_blocking(move || plugins.activate(&activated))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    state
        .metrics
        .set_quarantined(row, row.quarantined_at.is_some());
    Ok(())
}

/// Body of `POST /v1/tenants/{id}/plugins/{slot}/rollback`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version to return to (default: the one before the active one).
    #[serde(default)]
    to: Option<i64>,
}

/// `POST /v1/tenants/{id}/plugins/{slot}/rollback`: makes the previous version (or
/// `to`) active again at once; the next message uses it.
pub async fn rollback(
    State(state): State<AppState>,
    Path((tenant, slot)): Path<(String, String)>,
    body: Option<Json<RollbackBody>>,
) -> Result<Json<BindingRow>, ApiError> {
    let to = body.and_then(|Json(b)| b.to);
    let slot: Slot = slot
        .parse()
        .map_err(|e: String| ApiError::bad_request("unknown_slot", e))?;
    let row = state
        .db
        .write(move |c| scrm_store::PluginRepo::rollback(c, &tenant, slot.as_str(), to))
        .await?;
    activate(&state, &row).await?;
    tracing::info!(tenant = %row.tenant_id, slot = %row.slot, version = row.version, "plugin rolled back");
    Ok(Json(row))
}

/// `POST /v1/tenants/{id}/plugins/{slot}/enable`: lifts a quarantine.
pub async fn enable(
    State(state): State<AppState>,
    Path((tenant, slot)): Path<(String, String)>,
) -> Result<Json<BindingRow>, ApiError> {
    let slot: Slot = slot
        .parse()
        .map_err(|e: String| ApiError::bad_request("unknown_slot", e))?;
    let row = state
        .db
        .write(move |c| scrm_store::PluginRepo::enable(c, &tenant, slot.as_str()))
        .await?;
    activate(&state, &row).await?;
    tracing::info!(tenant = %row.tenant_id, slot = %row.slot, version = row.version, "plugin re-enabled");
    Ok(Json(row))
}

/// `GET /v1/tenants/{id}/plugins`: every binding version, newest first, with the
/// active ones marked.
pub async fn list_plugins(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let rows = state
        .db
        .read(move |c| scrm_store::PluginRepo::bindings_of(c, &tenant))
        .await?;
    Ok(Json(json!({"items": rows})))
}

/// `GET /v1/inbox`: how many webhook bodies are pending, done or rejected, and the
/// items kept raw by reason and kind.
pub async fn inbox_stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = state.db.read(|c| scrm_store::InboxRepo::stats(c)).await?;
    let unhandled: Vec<Value> = s
        .unhandled
        .iter()
        .map(|(reason, kind, count)| json!({"reason": reason, "kind": kind, "count": count}))
        .collect();
    Ok(Json(json!({
        "pending": s.pending, "done": s.done, "rejected": s.rejected, "unhandled": unhandled
    })))
}

/// Body of `PUT /v1/tenants/{id}/secrets/{name}`: a `value`, or an `oauth2`
/// credential that renews itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    oauth2: Option<OAuth2Body>,
    /// When it stops working (RFC 3339), when its issuer says: the host warns and
    /// alerts 14 days before.
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An OAuth 2 refresh-token credential as an operator gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Body {
    token_url: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
}

/// The value to store for a secret body: the value, or an OAuth 2 credential with
/// its first access token (so a wrong refresh token is refused now, not at the
/// first write).
async fn secret_value(body: SecretBody) -> Result<String, ApiError> {
    let o = match (body.value, body.oauth2) {
        (Some(v), None) if !v.is_empty() => return Ok(v),
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "invalid_secret",
                "value must not be empty",
            ));
        }
        (None, Some(o)) => o,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_secret",
                "give either value or oauth2 (token_url, client_id, client_secret, refresh_token)",
            ));
        }
    };
    let cred = crate::slots::oauth::OAuth2::new(
        o.token_url,
        o.client_id,
        o.client_secret,
        o.refresh_token,
    );
    cred.validate()
        .map_err(|e| ApiError::bad_request("invalid_secret", e))?;
    let renewed = tokio::task::spawn_blocking(move || cred.renewed(scrm_store::now_ms()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "oauth2_refused",
                format!("the token endpoint gave no access token for this refresh token: {e}"),
            )
        })?;
    Ok(renewed.to_value())
}

/// `PUT /v1/tenants/{id}/secrets/{name}`: sets a secret (e.g. a CRM token) that the
/// host adds to plugins' HTTP requests; it is never returned.
pub async fn set_secret(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    body: Result<Json<SecretBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    check_id("secret", &name)?;
    super::require_tenant(&state, &tenant).await?;
    let expires_at = body.expires_at.map(|t| t.timestamp_millis());
    let value = secret_value(body).await?;
    state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                crate::outbox::set_secret(tx, &tenant, &name, &value)?;
                scrm_store::SecretRepo::set_expiry(tx, &tenant, &name, expires_at)?;
                Ok(())
            })
        })
        .await?;
    state.outbox.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/tenants/{id}/secrets/{name}`.
pub async fn delete_secret(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let existed = state
        .db
        .write(move |c| scrm_store::SecretRepo::delete(c, &tenant, &name))
        .await?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such secret"))
    }
}

/// `GET /v1/tenants/{id}/secrets`: names only.
pub async fn list_secrets(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let (ages, values) = state
        .db
        .read(move |c| {
            Ok((
                scrm_store::SecretRepo::ages(c, Some(&tenant))?,
                scrm_store::SecretRepo::all(c, &tenant)?,
            ))
        })
        .await?;
    let now = scrm_store::now_ms();
    let items: Vec<Value> = ages
        .into_iter()
        .map(|a| {
            let mut item = json!({
                "name": a.name,
                "kind": "value",
                "updated_at": a.set_at,
                "age_days": (now - a.set_at) / 86_400_000,
                "due_for_rotation": a.stale(now),
            });
            if let Some(at) = a.expires_at {
                item["expires_at"] = json!(at);
            }
            let oauth = values
                .iter()
                .find(|(n, _)| *n == a.name)
                .and_then(|(_, v)| {
                    crate::slots::oauth::OAuth2::parse(secrecy::ExposeSecret::expose_secret(v))
                });
            if let Some(o) = oauth {
                item["kind"] = json!("oauth2");
                item["token_url"] = json!(o.token_url);
                item["access_expires_at"] = json!(o.expires_at);
                item["renewed_at"] = json!(o.renewed_at);
                item["renewal_error"] = json!(o.last_error);
            }
            item
        })
        .collect();
    Ok(Json(json!({"items": items})))
}
