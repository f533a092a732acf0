//! Sales numbers from orders: conversion, average order value, close rate by payment
//! method, and the conversion cycle with and without a product video.
//!
//! - **Conversion rate**: of the customers who wrote in the range, the share who
//!   placed an order in the range at or after their first message in it.
//! - **Average order value**: per currency, the mean total of the orders placed in
//!   the range that are not cancelled and have a total.
//! - **Close rate by payment method**: of the orders placed in the range with a
//!   payment method (`unknown` when none was given), the share paid.
//! - **Conversion cycle**: for each customer whose first order ever was placed in
//!   the range, the days from their first contact (their first message either way)
//!   to that order; split by whether a video was sent to them within 24 hours of
//!   that first contact.
//!
//! No rows: zeros and empty lists, never NaN.

use crate::stats::{round1, share};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// An order as the sales numbers need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sale {
    /// The customer.
    pub contact: i64,
    /// When it was placed, Unix ms.
    pub placed_at: i64,
    /// Its total, when known.
    pub total: Option<f64>,
    /// Its currency, when known.
    pub currency: Option<String>,
    /// How it is paid, when known.
    pub payment_method: Option<String>,
    /// Paid.
    pub paid: bool,
    /// Cancelled.
    pub cancelled: bool,
}

/// Conversion of the range's customers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Conversion {
    /// Customers who wrote in the range.
    pub customers: u64,
    /// Of them, those who ordered after writing.
    pub converted: u64,
    /// `converted / customers`.
    pub rate: f64,
}

/// Conversion of customers who first wrote in the range at `first_inbound`
/// (contact → first message, Unix ms), given the range's orders.
pub fn conversion(first_inbound: &HashMap<i64, i64>, sales: &[Sale]) -> Conversion {
    let converted = first_inbound
        .iter()
        .filter(|(contact, first)| {
            sales
                .iter()
                .any(|s| s.contact == **contact && s.placed_at >= **first)
        })
        .count() as u64;
    let customers = first_inbound.len() as u64;
    Conversion {
        customers,
        converted,
        rate: share(converted, customers),
    }
}

/// The order value in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderValue {
    /// ISO 4217, or `unknown`.
    pub currency: String,
    /// Orders counted.
    pub orders: u64,
    /// Their totals' sum.
    pub revenue: f64,
    /// `revenue / orders`, rounded to cents.
    pub average: f64,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Average order value per currency, most orders first.
pub fn order_values(sales: &[Sale]) -> Vec<OrderValue> {
    let mut by: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for s in sales.iter().filter(|s| !s.cancelled) {
        if let Some(total) = s.total.filter(|t| t.is_finite()) {
            let key = s.currency.clone().unwrap_or_else(|| "unknown".into());
            let e = by.entry(key).or_default();
            e.0 += 1;
            e.1 += total;
        }
    }
    let mut out: Vec<OrderValue> = by
        .into_iter()
        .map(|(currency, (orders, revenue))| OrderValue {
            currency,
            orders,
            revenue: cents(revenue),
            average: cents(revenue / orders as f64),
        })
        .collect();
    out.sort_by(|a, b| b.orders.cmp(&a.orders).then(a.currency.cmp(&b.currency)));
    out
}

/// The close rate of one payment method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloseRate {
    /// `card`, `cash_on_delivery`, …, or `unknown`.
    pub payment_method: String,
    /// Orders placed with it.
    pub orders: u64,
    /// Of them, paid.
    pub paid: u64,
    /// `paid / orders`.
    pub close_rate: f64,
}

/// Close rate per payment method, most orders first.
pub fn close_rates(sales: &[Sale]) -> Vec<CloseRate> {
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for s in sales {
        let key = s.payment_method.clone().unwrap_or_else(|| "unknown".into());
        let e = by.entry(key).or_default();
        e.0 += 1;
        e.1 += u64::from(s.paid);
    }
    let mut out: Vec<CloseRate> = by
        .into_iter()
        .map(|(payment_method, (orders, paid))| CloseRate {
            payment_method,
            orders,
            paid,
            close_rate: share(paid, orders),
        })
        .collect();
    out.sort_by(|a, b| {
        b.orders
            .cmp(&a.orders)
            .then(a.payment_method.cmp(&b.payment_method))
    });
    out
}

/// A customer's first order and what came before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstOrder {
    /// Their first contact, Unix ms.
    pub first_contact: i64,
    /// Their first order, Unix ms.
    pub placed_at: i64,
    /// A video was sent to them within 24 h of the first contact.
    pub video_in_24h: bool,
}

/// Cycle lengths in days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Days {
    /// Customers.
    pub count: u64,
    /// Mean days, one decimal.
    pub mean_days: f64,
    /// Median days, one decimal.
    pub median_days: f64,
}

fn days(ms: Vec<i64>) -> Days {
    if ms.is_empty() {
        return Days::default();
    }
    let s = crate::stats::summarize(ms);
    Days {
        count: s.count,
        mean_days: round1(s.mean_s / 86_400.0),
        median_days: round1(s.median_s / 86_400.0),
    }
}

/// The conversion cycle, overall and with / without a video in the first 24 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cycle {
    /// Every first order.
    pub all: Days,
    /// Customers sent a video within 24 h of first contact.
    pub with_video: Days,
    /// The others.
    pub without_video: Days,
}

/// The conversion cycle of `firsts`.
pub fn cycle(firsts: &[FirstOrder]) -> Cycle {
    let span = |f: &FirstOrder| (f.placed_at - f.first_contact).max(0);
    Cycle {
        all: days(firsts.iter().map(span).collect()),
        with_video: days(firsts.iter().filter(|f| f.video_in_24h).map(span).collect()),
        without_video: days(
            firsts
                .iter()
                .filter(|f| !f.video_in_24h)
                .map(span)
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn sale(contact: i64, at: i64, total: f64, method: &str, paid: bool) -> Sale {
        Sale {
            contact,
            placed_at: at,
            total: Some(total),
            currency: Some("EUR".into()),
            payment_method: Some(method.into()),
            paid,
            cancelled: false,
        }
    }

    #[test]
    fn conversion_counts_orders_after_the_first_message() {
        let first: HashMap<i64, i64> = [(1, 100), (2, 100), (3, 500), (4, 100)].into();
        let sales = [
            sale(1, 200, 10.0, "card", true),
            sale(1, 300, 10.0, "card", true),
            // Ordered before writing in the range: not converted by this conversation.
            sale(3, 400, 10.0, "card", true),
        ];
        let c = conversion(&first, &sales);
        assert_eq!((c.customers, c.converted, c.rate), (4, 1, 0.25));
        assert_eq!(conversion(&HashMap::new(), &[]).rate, 0.0);
    }

    #[test]
    fn order_values_and_close_rates_by_method() {
        let mut cancelled = sale(9, 0, 1000.0, "card", false);
        cancelled.cancelled = true;
        let sales = [
            sale(1, 0, 40.0, "card", true),
            sale(2, 0, 60.0, "card", false),
            sale(3, 0, 35.0, "cash_on_delivery", false),
            cancelled,
        ];
        let v = order_values(&sales);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].orders, v[0].revenue, v[0].average), (3, 135.0, 45.0));
        let r = close_rates(&sales);
        assert_eq!(r[0].payment_method, "card");
        assert_eq!((r[0].orders, r[0].paid), (3, 1));
        assert_eq!(r[0].close_rate, 0.3333);
        assert_eq!(
            (r[1].payment_method.as_str(), r[1].close_rate),
            ("cash_on_delivery", 0.0)
        );
    }

    #[test]
    fn the_cycle_splits_on_the_video() {
        let f = |days: f64, video| FirstOrder {
            first_contact: 0,
            placed_at: (days * DAY as f64) as i64,
            video_in_24h: video,
        };
        let c = cycle(&[
            f(1.0, true),
            f(2.8, true),
            f(3.0, false),
            f(5.0, false),
            f(4.0, false),
        ]);
        assert_eq!((c.all.count, c.all.median_days), (5, 3.0));
        assert_eq!((c.with_video.count, c.with_video.mean_days), (2, 1.9));
        assert_eq!((c.without_video.count, c.without_video.mean_days), (3, 4.0));
        assert_eq!(cycle(&[]).all, Days::default());
    }
}
