//! Sales and service signals: one open deal per contact and product, one open case
//! per contact and case type, with what the signal says (product, amount, stage,
//! what the classifier found).

use crate::{Config, content_text, product_codes, squash, text};
use scrm_plugin_sdk::{
    Contact, Content, Conversation, CrmRecord, Field, FieldValue, KeyedRecord, Signal, SignalKind,
};

/// The product a signal is about: its standard code (the deal's key) and name.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Product {
    pub code: String,
    pub name: Option<String>,
}

/// The name the product table gives `code`, if any.
fn name_of(cfg: &Config, code: &str) -> Option<String> {
    cfg.products
        .iter()
        .find(|(_, c)| c.eq_ignore_ascii_case(code))
        .map(|(n, _)| n.clone())
}

/// The product of a signal: the ordered SKU, the catalogue product asked about, a
/// `sku` or `product` entity, or a product the text names; product names become
/// their standard codes through the `[products]` table.
pub(crate) fn product(cfg: &Config, signal: &Signal) -> Option<Product> {
    let by_code = |code: &str| Product {
        code: code.to_string(),
        name: name_of(cfg, code),
    };
    if let Content::Order(o) = &signal.message.content {
        let mut skus: Vec<&str> = o
            .items
            .iter()
            .map(|i| i.product_retailer_id.as_str())
            .collect();
        skus.sort_unstable();
        skus.dedup();
        if !skus.is_empty() {
            return Some(by_code(&skus.join("+")));
        }
    }
    if let Some(sku) = &signal.message.context.referred_product {
        return Some(by_code(sku));
    }
    for e in &signal.found.entities {
        match e.kind.as_str() {
            "sku" => return Some(by_code(&e.value)),
            "product" => {
                let code = product_codes(cfg, &e.value)
                    .into_iter()
                    .next()
                    // Not in the table: the name itself, spelled one way.
                    .unwrap_or_else(|| squash(&e.value).to_uppercase());
                return Some(Product {
                    code,
                    name: Some(e.value.clone()),
                });
            }
            _ => {}
        }
    }
    let body = content_text(&signal.message.content).unwrap_or_default();
    product_codes(cfg, body)
        .into_iter()
        .next()
        .map(|c| by_code(&c))
}

/// The amount a signal names: an order's total, or an `amount` entity.
fn amount(signal: &Signal) -> Option<(f64, Option<String>)> {
    if let Content::Order(o) = &signal.message.content {
        let total: f64 = o
            .items
            .iter()
            .map(|i| f64::from(i.quantity) * i.item_price)
            .sum();
        return Some((total, o.items.first().map(|i| i.currency.clone())));
    }
    signal
        .found
        .entities
        .iter()
        .filter(|e| e.kind == "amount")
        .find_map(|e| e.value.replace(',', ".").trim().parse::<f64>().ok())
        .map(|a| (a, None))
}

/// The case type the `[case_types]` table gives the message's words, if any.
fn case_type(cfg: &Config, body: &str) -> Option<String> {
    let hay = body.to_lowercase();
    cfg.case_types
        .iter()
        .find(|(word, _)| hay.contains(&word.to_lowercase()))
        .map(|(_, t)| t.clone())
}

/// The keyed deal or case record for a signal; none for a service request when no
/// `case_object` is configured.
pub(crate) fn record(
    cfg: &Config,
    conv: &Conversation,
    c: &Contact,
    signal: &Signal,
) -> Option<KeyedRecord> {
    let who = c
        .name
        .clone()
        .or(c.phone.clone())
        .unwrap_or_else(|| format!("contact {}", c.id));
    let body = content_text(&signal.message.content)
        .unwrap_or_default()
        .to_string();
    let mut fields = vec![
        text("source", "whatsapp"),
        text("tags", conv.tags.join(",")),
        Field {
            name: "last_message_at".into(),
            value: FieldValue::Timestamp(conv.last_message_at),
        },
        text("message", body.clone()),
    ];
    fields.extend(crate::facts::classification_fields(
        &cfg.facts,
        &signal.found,
    ));
    let (object, key) = match signal.kind {
        SignalKind::Sales => {
            let product = product(cfg, signal);
            let label = product
                .as_ref()
                .map(|p| p.name.clone().unwrap_or_else(|| p.code.clone()));
            let name = match &label {
                Some(l) => format!("WhatsApp: {who} — {l}"),
                None => format!("WhatsApp: {who}"),
            };
            fields.insert(0, text("name", name));
            if let Some(p) = &product {
                fields.push(text("sku", p.code.clone()));
                if let Some(n) = &p.name {
                    fields.push(text("product", n.clone()));
                }
            }
            if let Some((a, currency)) = amount(signal) {
                fields.push(Field {
                    name: "amount".into(),
                    value: FieldValue::Number(a),
                });
                if let Some(cur) = currency {
                    fields.push(text("currency", cur));
                }
            }
            if let Some(stage) = signal
                .found
                .tags
                .iter()
                .find_map(|t| cfg.deal_stages.get(t))
            {
                fields.push(text("stage", stage.clone()));
            }
            (
                cfg.deal_object.clone(),
                product.map(|p| p.code).unwrap_or_default(),
            )
        }
        SignalKind::Service => {
            if cfg.case_object.is_empty() {
                return None;
            }
            let kind = case_type(cfg, &body);
            let label = kind
                .clone()
                .or_else(|| signal.found.tags.first().cloned())
                .unwrap_or_else(|| "service request".into());
            fields.insert(0, text("name", format!("WhatsApp: {who} — {label}")));
            if let Some(k) = &kind {
                fields.push(text("type", k.clone()));
            }
            if let Some(p) = signal.found.priority {
                fields.push(text("priority", cfg.priority.value(p).to_string()));
            }
            (cfg.case_object.clone(), kind.unwrap_or_default())
        }
    };
    Some(KeyedRecord {
        key,
        record: CrmRecord {
            object,
            id: None,
            fields,
            updated_at: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_plugin_sdk::{Classification, Context, Direction, Entity, Message, Order, OrderItem};

    fn cfg() -> Config {
        let mut c = Config::default();
        c.products
            .insert("iPhone15 Pro Max".into(), "APL-IP15PM".into());
        c.case_types.insert("reclamo".into(), "Complaint".into());
        c.case_object = "case".into();
        c
    }

    fn signal(kind: SignalKind, content: Content, entities: &[(&str, &str)]) -> Signal {
        Signal {
            kind,
            message: Message {
                id: "wamid.1".into(),
                direction: Direction::Inbound,
                timestamp: 1,
                content,
                context: Context {
                    replied_to: None,
                    referred_product: None,
                    ad_source_id: None,
                },
            },
            found: Classification {
                tags: vec!["purchase-intent".into()],
                intent: None,
                entities: entities
                    .iter()
                    .map(|(k, v)| Entity {
                        kind: (*k).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                sentiment: None,
                priority: None,
            },
        }
    }

    fn text_content(t: &str) -> Content {
        Content::Text(t.into())
    }

    #[test]
    fn a_product_is_found_by_order_entity_or_text_and_named_by_its_code() {
        let c = cfg();
        let by_entity = signal(
            SignalKind::Sales,
            text_content("Voglio acquistare l'iPhone 15 pro max"),
            &[("product", "iPhone 15 pro max")],
        );
        assert_eq!(
            product(&c, &by_entity),
            Some(Product {
                code: "APL-IP15PM".into(),
                name: Some("iPhone 15 pro max".into())
            })
        );
        let unknown = signal(
            SignalKind::Sales,
            text_content("x"),
            &[("product", "prodotto A")],
        );
        assert_eq!(product(&c, &unknown).unwrap().code, "PRODOTTOA");
        let by_text = signal(
            SignalKind::Sales,
            text_content("quanto costa l'IPHONE15 pro-max?"),
            &[],
        );
        assert_eq!(
            product(&c, &by_text),
            Some(Product {
                code: "APL-IP15PM".into(),
                name: Some("iPhone15 Pro Max".into())
            })
        );
        let order = Content::Order(Order {
            catalog_id: "c".into(),
            text: None,
            items: vec![OrderItem {
                product_retailer_id: "SKU-9".into(),
                quantity: 2,
                item_price: 10.5,
                currency: "EUR".into(),
            }],
        });
        let ordered = signal(SignalKind::Sales, order, &[]);
        assert_eq!(product(&c, &ordered).unwrap().code, "SKU-9");
        assert_eq!(amount(&ordered), Some((21.0, Some("EUR".into()))));
        assert_eq!(
            product(&c, &signal(SignalKind::Sales, text_content("ciao"), &[])),
            None
        );
    }

    #[test]
    fn cases_are_keyed_by_type_and_only_written_when_configured() {
        let mut c = cfg();
        let conv = Conversation {
            id: 1,
            contact_id: 1,
            phone_number_id: "pn".into(),
            last_message_at: 5,
            last_inbound_at: Some(5),
            tags: vec!["complaint".into()],
        };
        let who = Contact {
            id: 1,
            wa_id: None,
            user_id: None,
            phone: Some("+393471234567".into()),
            name: Some("Mario".into()),
        };
        let s = signal(SignalKind::Service, text_content("Faccio reclamo"), &[]);
        let keyed = record(&c, &conv, &who, &s).unwrap();
        assert_eq!(keyed.key, "Complaint");
        assert_eq!(keyed.record.object, "case");
        assert!(keyed.record.fields.iter().any(|f| f.name == "name"
            && matches!(&f.value, FieldValue::Text(t) if t == "WhatsApp: Mario — Complaint")));
        c.case_object.clear();
        assert!(record(&c, &conv, &who, &s).is_none());
    }
}
