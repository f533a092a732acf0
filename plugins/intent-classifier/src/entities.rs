//! Entities found in a message's text: order and invoice numbers, amounts with their
//! currency, and product codes (SKUs) — written literally or named through the
//! tenant's product table.
//!
//! A hand-written scanner instead of regexes: the plugin stays small and the whole
//! pass costs about a microsecond.
//!
//! | kind | found when | value |
//! |---|---|---|
//! | `order-number` | 3+ digits after `#`, or after "order", "purchase", "ordine", … within four words | the digits |
//! | `invoice-number` | the same after "invoice", "bill", "fattura", … | the digits |
//! | `amount` | a number next to €, $, £, EUR, USD, GBP, CHF, "euro", "dollars", … | `12.50 EUR` |
//! | `sku` | a product name or code of the table; a code after "sku"/"codice"; a token like `AB-1234` | the code |

use scrm_intent::RulesView;
use scrm_plugin_sdk::{Content, Entity, Message};

/// Words that make the next number an order number.
const ORDER_CUES: &[&str] = &[
    "order",
    "orders",
    "purchase",
    "shipment",
    "tracking",
    "parcel",
    "package",
    "ordine",
    "ordinazione",
    "acquisto",
    "spedizione",
    "pacco",
    "pedido",
    "commande",
    "bestellung",
];

/// Words that make the next number an invoice number.
const INVOICE_CUES: &[&str] = &[
    "invoice", "bill", "receipt", "fattura", "ricevuta", "factura",
];

/// Words that introduce a product code.
const SKU_CUES: &[&str] = &[
    "sku", "codice", "code", "item", "art", "articolo", "ref", "model", "modello",
];

/// Currency words and codes (lowercase) and their ISO 4217 code.
const CURRENCY_WORDS: &[(&str, &str)] = &[
    ("eur", "EUR"),
    ("euro", "EUR"),
    ("euros", "EUR"),
    ("usd", "USD"),
    ("dollar", "USD"),
    ("dollars", "USD"),
    ("dollaro", "USD"),
    ("dollari", "USD"),
    ("bucks", "USD"),
    ("gbp", "GBP"),
    ("pound", "GBP"),
    ("pounds", "GBP"),
    ("sterlina", "GBP"),
    ("sterline", "GBP"),
    ("chf", "CHF"),
    ("franchi", "CHF"),
];

/// One lexical piece of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Letters, then letters or digits.
    Word,
    /// Digits, with `.` or `,` between digits.
    Number,
    /// Any other non-space character.
    Symbol,
}

#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((start, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        let kind = if c.is_ascii_digit() {
            Kind::Number
        } else if c.is_alphabetic() {
            Kind::Word
        } else {
            Kind::Symbol
        };
        let mut end = start + c.len_utf8();
        if kind != Kind::Symbol {
            while let Some(&(i, d)) = it.peek() {
                let keep = match kind {
                    Kind::Word => d.is_alphanumeric(),
                    _ => {
                        d.is_ascii_digit()
                            || ((d == '.' || d == ',')
                                && text[i + 1..].starts_with(|x: char| x.is_ascii_digit()))
                    }
                };
                if !keep {
                    break;
                }
                end = i + d.len_utf8();
                it.next();
            }
        }
        out.push(Piece {
            kind,
            text: &text[start..end],
            start,
            end,
        });
    }
    out
}

fn currency_of(p: &Piece<'_>) -> Option<&'static str> {
    match p.kind {
        Kind::Symbol => match p.text {
            "€" => Some("EUR"),
            "$" => Some("USD"),
            "£" => Some("GBP"),
            _ => None,
        },
        Kind::Word => CURRENCY_WORDS
            .iter()
            .find(|(w, _)| p.text.eq_ignore_ascii_case(w))
            .map(|(_, code)| *code),
        Kind::Number => None,
    }
}

/// `1.234,50` → `1234.50`; `10,5` → `10.5`; `1,234` → `1234`: the last separator is
/// the decimal one when both appear, and a lone one is decimal unless three digits
/// follow it.
fn normalise_number(s: &str) -> String {
    let last_sep = s.rfind(['.', ',']);
    let decimal = match last_sep {
        Some(i) => {
            let both = s.contains('.') && s.contains(',');
            let lone = s.matches(['.', ',']).count() == 1;
            let tail = s.len() - i - 1;
            if both || (lone && tail != 3) {
                Some(i)
            } else {
                None
            }
        }
        None => None,
    };
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if Some(i) == decimal {
            out.push('.');
        }
    }
    out
}

fn push(out: &mut Vec<Entity>, kind: &str, value: String) {
    if !out.iter().any(|e| e.kind == kind && e.value == value) {
        out.push(Entity {
            kind: kind.to_string(),
            value,
        });
    }
}

/// True when `needle` occurs in `hay` starting and ending at word boundaries.
fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// A literal product code: letters and digits in dash-separated groups, with at least
/// one uppercase letter, one digit and one dash (`AB-1234`, `BAG-RED-01`).
fn code_at(text: &str, start: usize) -> Option<&str> {
    let rest = &text[start..];
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    let code = rest[..len].trim_end_matches('-');
    let ok = code.len() >= 4
        && code.contains('-')
        && code.bytes().any(|b| b.is_ascii_digit())
        && code.bytes().any(|b| b.is_ascii_uppercase())
        && !code.bytes().any(|b| b.is_ascii_lowercase());
    ok.then_some(code)
}

/// The entities of `text`; `lower` is its lowercase form, `rules` holds the tenant's
/// product table.
pub fn extract(text: &str, lower: &str, rules: &RulesView<'_>) -> Vec<Entity> {
    let mut out = Vec::new();
    let ps = pieces(text);
    let mut used = vec![false; ps.len()];

    // Amounts first, so that their numbers are not taken for order numbers.
    for i in 0..ps.len() {
        if ps[i].kind != Kind::Number {
            continue;
        }
        let before = i.checked_sub(1).and_then(|j| currency_of(&ps[j]));
        let after = ps.get(i + 1).and_then(currency_of);
        if let Some(code) = before.or(after) {
            used[i] = true;
            push(
                &mut out,
                "amount",
                format!("{} {code}", normalise_number(ps[i].text)),
            );
        }
    }

    // Order and invoice numbers.
    for i in 0..ps.len() {
        let p = ps[i];
        if used[i] || p.kind != Kind::Number || !p.text.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if p.text.len() < 3 {
            continue;
        }
        let hashed = i > 0 && ps[i - 1].text == "#" && ps[i - 1].end == p.start;
        let mut cue = None;
        for j in (i.saturating_sub(4)..i).rev() {
            if ps[j].kind == Kind::Number {
                break;
            }
            if ps[j].kind != Kind::Word {
                continue;
            }
            let w = ps[j].text;
            if ORDER_CUES.iter().any(|c| w.eq_ignore_ascii_case(c)) {
                cue = Some("order-number");
                break;
            }
            if INVOICE_CUES.iter().any(|c| w.eq_ignore_ascii_case(c)) {
                cue = Some("invoice-number");
                break;
            }
        }
        let kind = match (cue, hashed) {
            (Some(kind), _) => kind,
            (None, true) => "order-number",
            (None, false) => continue,
        };
        used[i] = true;
        push(&mut out, kind, p.text.to_string());
    }

    // SKUs: literal codes, codes after a cue word, then the product table.
    let mut covered = 0;
    for i in 0..ps.len() {
        let p = ps[i];
        if p.start < covered {
            continue;
        }
        if p.kind == Kind::Word
            && let Some(code) = code_at(text, p.start)
        {
            covered = p.start + code.len();
            push(&mut out, "sku", code.to_string());
            continue;
        }
        if p.kind == Kind::Word && SKU_CUES.iter().any(|c| p.text.eq_ignore_ascii_case(c)) {
            // The code is the next piece that is not punctuation, as written.
            let next = ps[i + 1..]
                .iter()
                .find(|q| !matches!(q.text, ":" | "#" | "." | "-" | "n°"));
            if let Some(q) = next
                && q.kind != Kind::Symbol
                && q.text.bytes().any(|b| b.is_ascii_digit())
            {
                let end = text[q.start..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '-'))
                    .map_or(text.len(), |n| q.start + n);
                let code = text[q.start..end].trim_end_matches('-').to_uppercase();
                push(&mut out, "sku", code);
            }
        }
    }
    for (code, mut names) in rules.products() {
        let hit =
            contains_word(lower, &code.to_lowercase()) || names.any(|n| contains_word(lower, n));
        if hit {
            push(&mut out, "sku", code.to_string());
        }
    }
    out
}

/// Entities the message carries outside its text: the catalogue product it refers to
/// and the products of an order.
pub fn from_message(msg: &Message, out: &mut Vec<Entity>) {
    if let Some(sku) = &msg.context.referred_product {
        push(out, "sku", sku.clone());
    }
    if let Content::Order(order) = &msg.content {
        for item in &order.items {
            push(out, "sku", item.product_retailer_id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use scrm_intent::{Product, Rules};

    fn found(text: &str) -> Vec<(String, String)> {
        found_with(text, &[])
    }

    fn found_with(text: &str, products: &[Product]) -> Vec<(String, String)> {
        let rules = Rules {
            products: products.to_vec(),
            ..Rules::default()
        }
        .encode()
        .unwrap();
        extract(
            text,
            &text.to_lowercase(),
            &RulesView::parse(&rules).unwrap(),
        )
        .into_iter()
        .map(|e| (e.kind, e.value))
        .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn finds_order_numbers_after_a_hash_or_an_order_word() {
        assert_eq!(
            found("Where is #12345?"),
            pairs(&[("order-number", "12345")])
        );
        assert_eq!(
            found("status of order 00123842 please"),
            pairs(&[("order-number", "00123842")])
        );
        assert_eq!(
            found("dov'è il mio ordine n. 778899"),
            pairs(&[("order-number", "778899")])
        );
        assert_eq!(
            found("cancel purchase 113542617735902"),
            pairs(&[("order-number", "113542617735902")])
        );
        assert!(found("I am 42 and live at 12345 Main street").is_empty());
    }

    #[test]
    fn tells_invoice_numbers_from_order_numbers() {
        assert_eq!(
            found("I can't see my invoice #00108"),
            pairs(&[("invoice-number", "00108")])
        );
        assert_eq!(
            found("la fattura 2024001 è sbagliata"),
            pairs(&[("invoice-number", "2024001")])
        );
    }

    #[test]
    fn finds_amounts_with_their_currency_in_either_order() {
        assert_eq!(
            found("I paid €25 and then 10,50 EUR"),
            pairs(&[("amount", "25 EUR"), ("amount", "10.50 EUR")])
        );
        assert_eq!(found("reimburse $1,499"), pairs(&[("amount", "1499 USD")]));
        assert_eq!(
            found("costa 1.234,56 euro?"),
            pairs(&[("amount", "1234.56 EUR")])
        );
        assert_eq!(
            found("refunding 1200 dollars"),
            pairs(&[("amount", "1200 USD")])
        );
        assert_eq!(found("£3.5 please"), pairs(&[("amount", "3.5 GBP")]));
    }

    #[test]
    fn an_amount_is_not_an_order_number() {
        assert_eq!(
            found("order 123456 cost $300"),
            pairs(&[("amount", "300 USD"), ("order-number", "123456")])
        );
    }

    #[test]
    fn finds_product_codes_written_or_named() {
        assert_eq!(
            found("is BAG-RED-01 in stock?"),
            pairs(&[("sku", "BAG-RED-01")])
        );
        assert_eq!(found("sku: ab123 please"), pairs(&[("sku", "AB123")]));
        let table = [Product {
            code: "BAG-RED-01".into(),
            names: vec!["red bag".into(), "borsa rossa".into()],
        }];
        assert_eq!(
            found_with("Quanto costa la Borsa Rossa?", &table),
            pairs(&[("sku", "BAG-RED-01")])
        );
        assert!(found_with("a bored bag", &table).is_empty());
        assert!(found("a well-known brand").is_empty());
    }

    #[test]
    fn normalises_decimal_and_thousands_separators() {
        assert_eq!(normalise_number("1.234"), "1234");
        assert_eq!(normalise_number("1,5"), "1.5");
        assert_eq!(normalise_number("1,234.56"), "1234.56");
        assert_eq!(normalise_number("1.234.567"), "1234567");
    }
}
