//! Sales in the real Tryton of [`crate::tryton`], as a shop records them: a sale
//! of products to a party, quoted, confirmed and processed (which creates its
//! customer shipment), then shipped with a carrier and a tracking number
//! (`shipping_reference`, module `stock_package_shipping`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use scrm_e2e::tryton::Tryton;
//! let crm = Tryton::start()?;
//! let party = crm.create_party("Mario Rossi", "+393471234567").await?;
//! let sale = crm.shipped_sale(party, &[("SER-30", "Siero viso", 2.0, "19.90")], "BRT", "1Z9").await?;
//! # let _ = sale;
//! # Ok(())
//! # }
//! ```

use crate::tryton::Tryton;
use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

/// A sale [`Tryton::shipped_sale`] recorded.
#[derive(Debug, Clone)]
pub struct Sale {
    /// Its id.
    pub id: i64,
    /// Its number (from the sale sequence).
    pub number: String,
    /// Its customer shipment's id.
    pub shipment: i64,
}

fn id_of(v: &Value) -> Result<i64> {
    v["id"].as_i64().with_context(|| format!("no id in {v}"))
}

impl Tryton {
    /// The id of the unit of measure "Unit".
    async fn unit(&self) -> Result<i64> {
        let found = self
            .search(
                "product.uom",
                &json!([["symbol", "=", "u"]]),
                &[],
                None,
                Some(1),
            )
            .await?;
        found.first().map(id_of).context("no unit of measure 'u'")?
    }

    /// A goods product with `code` and `name` sold at `price`; its
    /// `product.product` id (an existing one when the code is taken).
    pub async fn product(&self, code: &str, name: &str, price: &str) -> Result<i64> {
        let found = self
            .search(
                "product.product",
                &json!([["code", "=", code]]),
                &[],
                None,
                Some(1),
            )
            .await?;
        if let Some(p) = found.first() {
            return id_of(p);
        }
        let unit = self.unit().await?;
        let template = self
            .create(
                "product.template",
                &json!({"name": name, "type": "goods", "salable": true, "default_uom": unit,
                        "sale_uom": unit, "list_price": {"__class__": "Decimal", "decimal": price},
                        "products": [["create", [{"suffix_code": code}]]]}),
                &["products"],
            )
            .await?;
        template["products"][0]
            .as_i64()
            .with_context(|| format!("no product in {template}"))
    }

    /// A carrier whose party is named `name` (its service product made too); its id.
    pub async fn carrier(&self, name: &str) -> Result<i64> {
        let unit = self.unit().await?;
        let service = self
            .create(
                "product.template",
                &json!({"name": format!("{name} shipping"), "type": "service", "default_uom": unit,
                        "list_price": {"__class__": "Decimal", "decimal": "5"},
                        "products": [["create", [{}]]]}),
                &["products"],
            )
            .await?;
        let party = self
            .create("party.party", &json!({"name": name}), &[])
            .await?;
        let carrier = self
            .create(
                "carrier",
                &json!({"party": id_of(&party)?, "carrier_product": service["products"][0]}),
                &[],
            )
            .await?;
        id_of(&carrier)
    }

    /// Runs the sale's workflow button `action` (`quote`, `confirm`, `process`).
    async fn sale_action(&self, sale: i64, action: &str) -> Result<()> {
        self.ok(
            Method::POST,
            &format!("sale.sale/{sale}/{action}"),
            Some(&json!({})),
        )
        .await
        .map(drop)
    }

    /// Records a sale to `party` of `lines` (`(code, name, quantity, unit price)`),
    /// placed today, processed (its customer shipment created) and shipped with
    /// the carrier named `carrier` and the tracking number `tracking`.
    ///
    /// # Errors
    /// When Tryton refuses a step (the message holds its answer).
    pub async fn shipped_sale(
        &self,
        party: i64,
        lines: &[(&str, &str, f64, &str)],
        carrier: &str,
        tracking: &str,
    ) -> Result<Sale> {
        let address = self
            .create(
                "party.address",
                &json!({"party": party, "street": "Via Roma 1", "city": "Milano"}),
                &[],
            )
            .await?;
        let address = id_of(&address)?;
        let unit = self.unit().await?;
        let mut rows = Vec::new();
        for (code, name, quantity, price) in lines {
            let product = self.product(code, name, price).await?;
            rows.push(
                json!({"product": product, "quantity": quantity, "unit": unit,
                             "unit_price": {"__class__": "Decimal", "decimal": price}}),
            );
        }
        let sale = self
            .create(
                "sale.sale",
                &json!({"party": party, "invoice_address": address, "shipment_address": address,
                        "invoice_method": "manual", "lines": [["create", rows]]}),
                &[],
            )
            .await?;
        let id = id_of(&sale)?;
        for action in ["quote", "confirm", "process"] {
            self.sale_action(id, action).await?;
        }
        let read = self.read("sale.sale", id, &["number", "shipments"]).await?;
        let shipment = read["shipments"][0]
            .as_i64()
            .with_context(|| format!("no shipment in {read}"))?;
        let carrier = self.carrier(carrier).await?;
        self.write(
            "stock.shipment.out",
            shipment,
            &json!({"shipping_reference": tracking, "carrier": carrier}),
            &[],
        )
        .await?;
        Ok(Sale {
            id,
            number: read["number"].as_str().unwrap_or_default().to_string(),
            shipment,
        })
    }
}
