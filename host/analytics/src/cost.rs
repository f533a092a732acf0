//! What the business's messages cost: Meta's charges priced with the tenant's rate
//! card, and the cost per conversation and per customer acquired.
//!
//! A **charge** is what Meta bills: under per-message pricing (`PMP`, since July
//! 2025) one per billable delivered message; under per-conversation pricing (`CBP`)
//! one per billable conversation id. Meta says which in each status's `pricing`
//! object; a send with no priced status yet is **estimated** as billable when it is
//! a template of a paid category (marketing, utility, authentication). Each charge
//! is priced by the recipient's country and its category from the tenant's
//! [`Prices`] (the `*` row for countries not listed); a charge with no price is
//! counted as `unpriced`, never as free.

use crate::stats::share;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The categories Meta prices.
pub const CATEGORIES: &[&str] = &[
    "marketing",
    "marketing_lite",
    "utility",
    "authentication",
    "authentication_international",
    "service",
];

/// A rate card: price per charge by recipient country (ISO 3166 alpha-2, or `*` for
/// the rest) and category, in `currency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prices {
    /// ISO 4217 currency of the rates (Meta's rate cards are in USD, EUR, …).
    pub currency: String,
    /// Country → category → price.
    pub rates: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            currency: "USD".into(),
            rates: BTreeMap::new(),
        }
    }
}

impl Prices {
    /// Checks the card; the message names the wrong entry.
    ///
    /// # Errors
    /// A currency that is not three letters, a country that is not two capital
    /// letters or `*`, an unknown category, a negative or non-finite price.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.currency.len() == 3 && self.currency.chars().all(|c| c.is_ascii_uppercase())) {
            return Err(format!(
                "prices.currency must be an ISO 4217 code (USD, EUR), got {:?}",
                self.currency
            ));
        }
        for (country, row) in &self.rates {
            let two = country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase());
            if !(two || country == "*") {
                return Err(format!(
                    "prices.rates: {country:?} is not a country code (IT, US) or *"
                ));
            }
            for (category, price) in row {
                if !CATEGORIES.contains(&category.as_str()) {
                    return Err(format!(
                        "prices.rates.{country}: unknown category {category:?}; there are: {}",
                        CATEGORIES.join(", ")
                    ));
                }
                if !(price.is_finite() && *price >= 0.0) {
                    return Err(format!(
                        "prices.rates.{country}.{category} must be a price ≥ 0, got {price}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The price of a charge of `category` to `country`.
    pub fn price(&self, country: Option<&str>, category: &str) -> Option<f64> {
        country
            .and_then(|c| self.rates.get(c))
            .and_then(|row| row.get(category))
            .or_else(|| self.rates.get("*").and_then(|row| row.get(category)))
            .copied()
    }
}

/// A billable send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The recipient's country, when the number says.
    pub country: Option<String>,
    /// Meta's pricing category.
    pub category: String,
    /// What Meta bills once: the wamid (per message) or the conversation id.
    pub key: String,
    /// No priced status yet: billable by the estimate.
    pub estimated: bool,
}

/// The charges of one country and category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// ISO country, or `unknown`.
    pub country: String,
    /// The category.
    pub category: String,
    /// Charges.
    pub charges: u64,
    /// Of them, estimated.
    pub estimated: u64,
    /// The unit price, when the card has one.
    pub price: Option<f64>,
    /// `charges × price` (0 when unpriced).
    pub cost: f64,
}

/// Charges priced, in the card's currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageCost {
    /// The card's currency.
    pub currency: String,
    /// Per country and category, costliest first.
    pub lines: Vec<Line>,
    /// Charges.
    pub charges: u64,
    /// Charges without a price on the card.
    pub unpriced: u64,
    /// The sum of the lines.
    pub total: f64,
}

fn money(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Prices `charges` (each key once) with `prices`.
pub fn message_cost(charges: &[Charge], prices: &Prices) -> MessageCost {
    let mut seen = HashSet::new();
    let mut lines: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for c in charges {
        if !seen.insert((c.key.as_str(), c.category.as_str())) {
            continue;
        }
        let country = c.country.clone().unwrap_or_else(|| "unknown".into());
        let e = lines.entry((country, c.category.clone())).or_default();
        e.0 += 1;
        e.1 += u64::from(c.estimated);
    }
    let mut out: Vec<Line> = lines
        .into_iter()
        .map(|((country, category), (charges, estimated))| {
            let price = prices.price(Some(&country), &category);
            Line {
                cost: money(price.unwrap_or(0.0) * charges as f64),
                country,
                category,
                charges,
                estimated,
                price,
            }
        })
        .collect();
    out.sort_by(|a, b| b.cost.total_cmp(&a.cost).then(b.charges.cmp(&a.charges)));
    MessageCost {
        currency: prices.currency.clone(),
        charges: out.iter().map(|l| l.charges).sum(),
        unpriced: out
            .iter()
            .filter(|l| l.price.is_none())
            .map(|l| l.charges)
            .sum(),
        total: money(out.iter().map(|l| l.cost).sum()),
        lines: out,
    }
}

/// Cost per conversation and per customer acquired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effectiveness {
    /// Message cost plus the fixed costs of the range.
    pub total: f64,
    /// Conversations with messages in the range.
    pub conversations: u64,
    /// `total / conversations` (0 without conversations).
    pub per_conversation: f64,
    /// Customers whose first order was placed in the range.
    pub new_customers: u64,
    /// `total / new_customers` (0 without new customers).
    pub acquisition_cost: f64,
    /// The acquisition cost range the business holds itself to.
    pub target: [f64; 2],
    /// Acquisition cost inside the range (false without new customers).
    pub on_target: bool,
}

/// Cost effectiveness of `total` spent on `conversations` that won `new_customers`.
pub fn effectiveness(
    total: f64,
    conversations: u64,
    new_customers: u64,
    target: [f64; 2],
) -> Effectiveness {
    let per = |n: u64| if n == 0 { 0.0 } else { money(total / n as f64) };
    let acquisition_cost = per(new_customers);
    Effectiveness {
        total: money(total),
        conversations,
        per_conversation: per(conversations),
        new_customers,
        acquisition_cost,
        target,
        on_target: new_customers > 0 && (target[0]..=target[1]).contains(&acquisition_cost),
    }
}

/// The share of charges that are estimated.
pub fn estimated_share(cost: &MessageCost) -> f64 {
    share(cost.lines.iter().map(|l| l.estimated).sum(), cost.charges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Prices {
        serde_json::from_value(serde_json::json!({
            "currency": "EUR",
            "rates": {
                "IT": {"marketing": 0.0572, "utility": 0.02},
                "*": {"marketing": 0.05}
            }
        }))
        .unwrap()
    }

    fn charge(country: &str, category: &str, key: &str) -> Charge {
        Charge {
            country: Some(country.into()),
            category: category.into(),
            key: key.into(),
            estimated: false,
        }
    }

    #[test]
    fn charges_priced_by_country_with_the_rest_row_and_keys_once() {
        let charges = [
            charge("IT", "marketing", "w1"),
            charge("IT", "marketing", "w2"),
            // Per-conversation: a second message of the same conversation is free.
            charge("IT", "utility", "conv-9"),
            charge("IT", "utility", "conv-9"),
            charge("DE", "marketing", "w3"),
            charge("DE", "authentication", "w4"),
        ];
        let c = message_cost(&charges, &card());
        assert_eq!(c.currency, "EUR");
        assert_eq!((c.charges, c.unpriced), (5, 1));
        assert_eq!(c.total, 0.1144 + 0.02 + 0.05);
        assert_eq!(c.lines[0].country, "IT");
        assert_eq!(c.lines[0].cost, 0.1144);
        assert_eq!(card().validate(), Ok(()));
    }

    #[test]
    fn bad_cards_are_named() {
        let mut p = card();
        p.rates.insert("Italy".into(), BTreeMap::new());
        assert!(p.validate().unwrap_err().contains("\"Italy\""));
        let mut p = card();
        p.rates.get_mut("IT").unwrap().insert("promo".into(), 1.0);
        assert!(p.validate().unwrap_err().contains("unknown category"));
        let mut p = card();
        p.rates
            .get_mut("IT")
            .unwrap()
            .insert("service".into(), -1.0);
        assert!(p.validate().unwrap_err().contains("≥ 0"));
    }

    #[test]
    fn effectiveness_without_customers_is_zero_not_nan() {
        let e = effectiveness(10.0, 0, 0, [0.8, 1.2]);
        assert_eq!(
            (e.per_conversation, e.acquisition_cost, e.on_target),
            (0.0, 0.0, false)
        );
        let e = effectiveness(10.0, 20, 10, [0.8, 1.2]);
        assert_eq!(
            (e.per_conversation, e.acquisition_cost, e.on_target),
            (0.5, 1.0, true)
        );
    }
}
