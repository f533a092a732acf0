//! Orders over HTTP: the shop (or any system that knows payments) says an order was
//! placed, paid or cancelled — `PUT /v1/tenants/{id}/orders/{order}` — and reads a
//! tenant's or a customer's orders. WhatsApp orders and the CRM's arrive on their
//! own; a `PUT` with a WhatsApp order's id (its wamid) completes it (payment method,
//! paid). Orders feed the sales analytics (`docs/analytics.md`).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use scrm_store::orders::{Order, OrderState, OrderWrite};
use scrm_store::{ContactRepo, OrderRepo, TenantRepo};
use serde::Deserialize;
use serde_json::{Value, json};

/// An order as the API takes it; every field is optional on an update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutOrder {
    /// The customer, by contact id…
    contact_id: Option<i64>,
    /// …or by phone number (E.164, or national in the tenant's region).
    phone: Option<String>,
    /// When it was placed, RFC 3339 (default: now, for a new order).
    placed_at: Option<DateTime<Utc>>,
    /// Its total.
    total: Option<f64>,
    /// ISO 4217.
    currency: Option<String>,
    /// `card`, `cash_on_delivery`, `bank_transfer`, … (lower case, `_` for spaces).
    payment_method: Option<String>,
    /// `placed`, `paid` or `cancelled`.
    state: Option<OrderState>,
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_order", message)
}

impl PutOrder {
    /// Checks the values and normalises the currency and payment method.
    fn check(&mut self) -> Result<(), ApiError> {
        if let Some(t) = self.total
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(invalid(format!("total must be a number ≥ 0, got {t}")));
        }
        if let Some(c) = &self.currency {
            if !(c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic())) {
                return Err(invalid(format!(
                    "currency must be ISO 4217 (EUR, USD), got {c:?}"
                )));
            }
            self.currency = Some(c.to_ascii_uppercase());
        }
        if let Some(m) = &self.payment_method {
            let m = m.trim().to_lowercase().replace([' ', '-'], "_");
            if m.is_empty() || m.len() > 40 || !m.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(invalid(format!(
                    "payment_method must be a short name (card, cash_on_delivery), got {:?}",
                    self.payment_method.as_deref().unwrap_or_default()
                )));
            }
            self.payment_method = Some(m);
        }
        if self.contact_id.is_some() && self.phone.is_some() {
            return Err(invalid("give contact_id or phone, not both".into()));
        }
        Ok(())
    }
}

/// `PUT /v1/tenants/{id}/orders/{order}`: creates or updates the order.
pub async fn put(
    State(state): State<AppState>,
    Path((tenant, order_id)): Path<(String, String)>,
    body: Result<Json<PutOrder>, JsonRejection>,
) -> Result<Json<Order>, ApiError> {
    let Json(mut o) = body?;
    o.check()?;
    if order_id.is_empty() || order_id.len() > 200 {
        return Err(invalid("the order id must be 1–200 characters".into()));
    }
    let t = tenant.clone();
    let saved = state
        .db
        .write(move |c| {
            let Some(tn) = TenantRepo::get(c, &t)? else {
                return Ok(Err(ApiError::not_found(format!("no tenant {t:?}"))));
            };
            let existing = OrderRepo::get(c, &t, &order_id)?;
            let contact = match (&o.contact_id, &o.phone) {
                (Some(id), _) => ContactRepo::get(c, &t, *id)?.map(|c| c.id),
                (None, Some(phone)) => {
                    match scrm_wire::phone::to_e164(phone, Some(&tn.default_region)) {
                        Some(e164) => ContactRepo::id_by_phone(c, &t, &e164)?,
                        None => {
                            return Ok(Err(invalid(format!("{phone:?} is not a valid phone number"))));
                        }
                    }
                }
                (None, None) => existing.as_ref().map(|e| e.contact_id),
            };
            let Some(contact_id) = contact else {
                let message = if o.contact_id.is_none() && o.phone.is_none() {
                    "a new order needs its customer: contact_id or phone".to_string()
                } else {
                    "no contact of this tenant has that id or phone: orders are kept for WhatsApp customers".to_string()
                };
                return Ok(Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_contact", message)));
            };
            let w = OrderWrite {
                order_id: order_id.clone(),
                source: existing.map_or_else(|| "api".to_string(), |e| e.source),
                contact_id,
                placed_at: o.placed_at.map(|t| t.timestamp_millis()),
                total: o.total,
                currency: o.currency.take(),
                payment_method: o.payment_method.take(),
                state: o.state,
                at: scrm_store::now_ms(),
            };
            Ok(Ok(OrderRepo::upsert(c, &t, &w)?))
        })
        .await??;
    Ok(Json(saved))
}

/// The list's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOrders {
    /// One customer's orders.
    contact: Option<i64>,
    /// Placed at or after (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// `GET /v1/tenants/{id}/orders`: newest first.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListOrders>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let since = q.since.map_or(0, |t| t.timestamp_millis());
    let items = state
        .db
        .read(move |c| OrderRepo::list(c, &tenant, q.contact, (since, i64::MAX), limit))
        .await?;
    Ok(Json(json!({ "items": items })))
}
