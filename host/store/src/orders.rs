//! Orders: what each tenant's customers bought, for the sales analytics (conversion,
//! order value, close rate by payment method, the funnel).
//!
//! An order comes from one of three places, all keyed by the order's id where it
//! lives (`order_id`, unique per tenant): a WhatsApp `order` message (its wamid,
//! recorded when the message is stored: [`record_whatsapp`]); a CRM connector's
//! changed `order` record; or the API (the shop says an order was placed, paid or
//! cancelled). A later write with the same id updates the order: fields it leaves
//! out keep their value, the placing time keeps the earliest known, and the first
//! write that says `paid` stamps `paid_at`.
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> Result<(), scrm_store::StoreError> {
//! use scrm_store::OrderRepo;
//! use scrm_store::orders::{OrderState, OrderWrite};
//! let w = OrderWrite {
//!     order_id: "A-1001".into(),
//!     source: "api".into(),
//!     contact_id: 12,
//!     placed_at: Some(1_764_000_000_000),
//!     total: Some(59.9),
//!     currency: Some("EUR".into()),
//!     payment_method: Some("card".into()),
//!     state: Some(OrderState::Paid),
//!     at: 1_764_000_600_000,
//! };
//! let order = db.write(move |s| OrderRepo::upsert(s, "acme", &w)).await?;
//! # Ok(()) }
//! ```

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Placed, not (yet) known paid.
    Placed,
    /// Paid: the sale is closed.
    Paid,
    /// Cancelled or refunded.
    Cancelled,
}

impl OrderState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Placed => "placed",
            OrderState::Paid => "paid",
            OrderState::Cancelled => "cancelled",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<OrderState> {
        match s {
            "placed" => Some(OrderState::Placed),
            "paid" => Some(OrderState::Paid),
            "cancelled" => Some(OrderState::Cancelled),
            _ => None,
        }
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// Its id where it lives (a wamid, the CRM's id, the shop's id).
    pub order_id: String,
    /// `whatsapp`, `crm` or `api`: who first told the host about it.
    pub source: String,
    /// The customer.
    pub contact_id: i64,
    /// When it was placed, Unix ms.
    pub placed_at: i64,
    /// Its total, when known.
    pub total: Option<f64>,
    /// Its currency (ISO 4217), when known.
    pub currency: Option<String>,
    /// How it is paid (`card`, `cash_on_delivery`, …), when known.
    pub payment_method: Option<String>,
    /// Where it stands.
    pub state: OrderState,
    /// When it was first known paid, Unix ms.
    pub paid_at: Option<i64>,
    /// Last written, Unix ms.
    pub updated_at: i64,
}

/// A write of an order: fields that are `None` keep their stored value (or their
/// default, for a new order: placed now, state `placed`).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderWrite {
    /// Its id where it lives.
    pub order_id: String,
    /// `whatsapp`, `crm` or `api` (kept from the first write).
    pub source: String,
    /// The customer.
    pub contact_id: i64,
    /// When it was placed.
    pub placed_at: Option<i64>,
    /// Its total.
    pub total: Option<f64>,
    /// Its currency.
    pub currency: Option<String>,
    /// How it is paid.
    pub payment_method: Option<String>,
    /// Where it stands.
    pub state: Option<OrderState>,
    /// When this write happened (the state's time), Unix ms.
    pub at: i64,
}

const COLUMNS: &str = "order_id, source, contact_id, placed_at, total, currency, payment_method, state, paid_at, updated_at";

fn order(r: &Row<'_>) -> Result<Order, StoreError> {
    let state: String = r.get(7)?;
    Ok(Order {
        order_id: r.get(0)?,
        source: r.get(1)?,
        contact_id: r.get(2)?,
        placed_at: r.get(3)?,
        total: r.get(4)?,
        currency: r.get(5)?,
        payment_method: r.get(6)?,
        state: OrderState::parse(&state)
            .ok_or_else(|| StoreError::Column(format!("order state {state:?}")))?,
        paid_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// Creates or updates an order; the order as stored now.
pub(crate) fn upsert(conn: &Conn<'_>, tenant: &str, w: &OrderWrite) -> Result<Order, StoreError> {
    let state = w.state.map(OrderState::as_str);
    let paid_at = (w.state == Some(OrderState::Paid)).then_some(w.at);
    conn.query_one(
        &format!(
            "INSERT INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                                 payment_method, state, paid_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, coalesce(?5, ?10), ?6, ?7, ?8, coalesce(?9, 'placed'), ?11, ?12)
             ON CONFLICT (tenant_id, order_id) DO UPDATE SET
                 contact_id = excluded.contact_id,
                 placed_at = least(orders.placed_at, coalesce(?5, orders.placed_at)),
                 total = coalesce(?6, orders.total),
                 currency = coalesce(?7, orders.currency),
                 payment_method = coalesce(?8, orders.payment_method),
                 state = coalesce(?9, orders.state),
                 paid_at = coalesce(orders.paid_at, ?11),
                 updated_at = excluded.updated_at
             RETURNING {COLUMNS}"
        ),
        params![
            tenant,
            w.order_id,
            w.source,
            w.contact_id,
            w.placed_at,
            w.total,
            w.currency,
            w.payment_method,
            state,
            w.at,
            paid_at,
            now_ms()
        ],
        order,
    )
}

/// One order.
pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    order_id: &str,
) -> Result<Option<Order>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orders WHERE tenant_id = ?1 AND order_id = ?2"),
        params![tenant, order_id],
        order,
    )
}

/// The tenant's orders placed in `[from, to)` (of one contact, when given), newest
/// first, at most `limit`.
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    contact: Option<i64>,
    (from, to): (i64, i64),
    limit: u32,
) -> Result<Vec<Order>, StoreError> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM orders
             WHERE tenant_id = ?1 AND placed_at >= ?2 AND placed_at < ?3
               AND (?4 IS NULL OR contact_id = ?4)
             ORDER BY placed_at DESC, order_id LIMIT ?5"
        ),
        params![tenant, from, to, contact, i64::from(limit)],
        order,
    )
}

/// Records the WhatsApp order message `wamid` (its `raw` message object) as an order
/// placed at `at`: total Σ price × quantity, the first item's currency. Nothing
/// when the tenant has the order already.
pub(crate) fn record_whatsapp(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    wamid: &str,
    at: i64,
    raw: &serde_json::Value,
) -> Result<(), StoreError> {
    let items = raw
        .pointer("/order/product_items")
        .and_then(serde_json::Value::as_array);
    let total = items.map(|items| {
        items
            .iter()
            .map(|i| {
                i["item_price"].as_f64().unwrap_or(0.0) * i["quantity"].as_f64().unwrap_or(0.0)
            })
            .sum::<f64>()
    });
    let currency = items
        .and_then(|i| i.first())
        .and_then(|i| i["currency"].as_str());
    conn.execute(
        "INSERT INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                             state, updated_at)
         VALUES (?1, ?2, 'whatsapp', ?3, ?4, ?5, ?6, 'placed', ?7)
         ON CONFLICT (tenant_id, order_id) DO NOTHING",
        params![tenant, wamid, contact_id, at, total, currency, now_ms()],
    )?;
    Ok(())
}

crate::repo! {
    /// Orders.
    pub trait OrderRepo {
        /// Creates or updates an order.
        fn upsert(tenant: &str, w: &OrderWrite) -> Result<Order, StoreError>;
        /// One order.
        fn get(tenant: &str, order_id: &str) -> Result<Option<Order>, StoreError>;
        /// Orders placed in a range, newest first.
        fn list(tenant: &str, contact: Option<i64>, range: (i64, i64), limit: u32) -> Result<Vec<Order>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tenant `acme` and a contact of it; the contact's id.
    fn acme_contact(c: &Conn<'_>) -> Result<i64, StoreError> {
        crate::testing::add_acme(c)?;
        let facts = crate::contacts::ContactFacts {
            wa_id: Some("393470000001".into()),
            ..Default::default()
        };
        Ok(crate::contacts::upsert(c, "acme", &facts)?.id)
    }

    fn write(id: &str, state: Option<OrderState>, at: i64) -> OrderWrite {
        OrderWrite {
            order_id: id.into(),
            source: "api".into(),
            contact_id: 0,
            placed_at: None,
            total: None,
            currency: None,
            payment_method: None,
            state,
            at,
        }
    }

    #[test]
    fn later_writes_fill_in_and_paid_is_stamped_once() {
        for t in crate::testing::backends() {
            t.db.with_conn(|c| {
                let contact = acme_contact(c)?;
                let mut w = write("A-1", None, 1_000);
                w.contact_id = contact;
                w.total = Some(59.9);
                w.currency = Some("EUR".into());
                let o = upsert(c, "acme", &w)?;
                assert_eq!(
                    (o.state, o.placed_at, o.paid_at),
                    (OrderState::Placed, 1_000, None)
                );
                let mut w = write("A-1", Some(OrderState::Paid), 5_000);
                w.contact_id = contact;
                w.payment_method = Some("card".into());
                let o = upsert(c, "acme", &w)?;
                assert_eq!(o.state, OrderState::Paid);
                assert_eq!((o.total, o.currency.as_deref()), (Some(59.9), Some("EUR")));
                assert_eq!((o.placed_at, o.paid_at), (1_000, Some(5_000)));
                assert_eq!(o.payment_method.as_deref(), Some("card"));
                // A repeated "paid" keeps the first time; an earlier placing time wins.
                let mut w = write("A-1", Some(OrderState::Paid), 9_000);
                w.contact_id = contact;
                w.placed_at = Some(500);
                let o = upsert(c, "acme", &w)?;
                assert_eq!((o.placed_at, o.paid_at), (500, Some(5_000)));
                assert_eq!(list(c, "acme", Some(contact), (0, 10_000), 10)?.len(), 1);
                assert!(list(c, "acme", None, (600, 10_000), 10)?.is_empty());
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn a_whatsapp_order_is_recorded_once_with_its_total() {
        for t in crate::testing::backends() {
            t.db.with_conn(|c| {
                let contact = acme_contact(c)?;
                let raw = serde_json::json!({"order": {"product_items": [
                    {"product_retailer_id": "SER-30", "quantity": 2, "item_price": 29.9, "currency": "EUR"},
                    {"product_retailer_id": "CRE-50", "quantity": 1, "item_price": 10, "currency": "EUR"}
                ]}});
                record_whatsapp(c, "acme", contact, "wamid.1", 7_000, &raw)?;
                record_whatsapp(c, "acme", contact, "wamid.1", 8_000, &raw)?;
                let o = get(c, "acme", "wamid.1")?.unwrap();
                assert_eq!((o.source.as_str(), o.placed_at), ("whatsapp", 7_000));
                assert!((o.total.unwrap() - 69.8).abs() < 1e-9);
                assert_eq!(o.currency.as_deref(), Some("EUR"));
                Ok(())
            })
            .unwrap();
        }
    }
}
