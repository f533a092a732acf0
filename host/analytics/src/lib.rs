//! The numbers managers act on, computed from plain rows.
//!
//! - [`range`]: a report's dates — `from`..=`to` or an ISO week (`2026-W48`) — in the
//!   tenant's time zone, as the Unix-ms bounds the store is asked for, with the
//!   checks a bad request fails (from after to, a week that does not exist, longer
//!   than the history kept);
//! - [`hours`]: business hours, and how much of an interval falls inside them;
//! - [`stats`]: median, mean and 90th percentile of durations — zeros for none, never
//!   NaN;
//! - [`responses`]: customer turns and the business's answers to them (first-response
//!   and response times, per agent);
//! - [`resolution`]: the share of conversations resolved, overall and per agent;
//! - [`churn`]: churn risk per customer (interactions falling, the last mood);
//! - [`funnel`]: the sales funnel, first contact to closed;
//! - [`sales`]: conversion, order value, close rate by payment method, conversion
//!   cycle;
//! - [`engagement`]: open rate and click-through rate, emoji against text;
//! - [`cost`]: Meta's charges priced with the tenant's rate card, cost per
//!   conversation and per customer acquired;
//! - [`heat`]: messages by local hour of the week;
//! - [`words`]: hot words — Unicode word boundaries, IT/EN stop words, Snowball stems,
//!   emoji counted as words — and the share of conversations that use watched words.
//!
//! **Never depends on** a database, an async runtime or HTTP: the store hands rows in
//! and the API hands the answers out. Every definition here is the one documented in
//! `docs/analytics.md`.

pub mod churn;
pub mod cost;
pub mod engagement;
pub mod funnel;
pub mod heat;
pub mod hours;
pub mod range;
pub mod resolution;
pub mod responses;
pub mod sales;
pub mod stats;
pub mod words;

pub use range::{DateRange, RangeError};
