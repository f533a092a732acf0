//! The SOQL the connector sends, and the pull cursor.
//!
//! Changes are read with one query ordered by `LastModifiedDate, Id` and paged with
//! the query locator (`nextRecordsUrl`). Salesforce keeps `LastModifiedDate` in
//! whole seconds, so the cursor is the newest change time read *and* the ids read
//! at exactly that second; the next query asks for
//! `LastModifiedDate >= since AND (LastModifiedDate > since OR Id NOT IN (seen))`,
//! which neither skips a record changed later in the same second nor repeats one.
//!
//! Field names come from the configuration and are checked by [`api_name`];
//! values are written with [`string`] (SOQL's backslash escapes).

use crate::datetime;
use serde::{Deserialize, Serialize};

/// Whether `name` is a Salesforce API name (`MobilePhone`, `WhatsApp_Number__c`):
/// a letter, then letters, digits and single underscores.
pub fn api_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 80
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.contains("___")
        && !name.ends_with('_')
}

/// Whether `id` looks like a Salesforce record id (15 or 18 letters and digits).
pub fn record_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A quoted SOQL string literal. SOQL escapes with a backslash (`O\'Brien`), and
/// line breaks, tabs, backspace and form feed have escapes of their own; other
/// control characters cannot be written and are dropped.
pub fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Percent-encodes `s` for a query parameter (everything but RFC 3986 unreserved
/// characters), so `'`, `>`, `=` and spaces in a SOQL query survive any proxy.
pub fn url_encode(s: &str) -> String {
    scrm_plugin_sdk::http::encode_component(s)
}

/// Where the next pull starts; stored by the host as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest `LastModifiedDate` read, Unix ms (whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Ids already read whose `LastModifiedDate` is exactly `since`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// The `nextRecordsUrl` of the query being paged, if it is not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl Cursor {
    /// Parses the host's stored cursor; empty means "from the start".
    ///
    /// # Errors
    /// When it is not a cursor this connector wrote.
    pub fn parse(raw: &str) -> Result<Cursor, String> {
        if raw.trim().is_empty() {
            return Ok(Cursor::default());
        }
        let c: Cursor = serde_json::from_str(raw).map_err(|e| format!("cursor {raw:?}: {e}"))?;
        if !c.seen.iter().all(|id| record_id(id)) {
            return Err(format!("cursor {raw:?}: an id is not a Salesforce id"));
        }
        Ok(c)
    }

    /// Takes a record read at `modified` (Unix ms) with `id` into the cursor.
    /// Records arrive ordered by `LastModifiedDate`, so `since` only moves forward.
    pub fn advance(&mut self, id: &str, modified: i64) {
        match self.since {
            Some(s) if modified < s => {}
            Some(s) if modified == s => {
                if !self.seen.iter().any(|x| x == id) {
                    self.seen.push(id.to_string());
                }
            }
            _ => {
                self.since = Some(modified);
                self.seen = vec![id.to_string()];
            }
        }
    }

    /// The cursor as the host stores it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The query for Contacts changed since `cursor` that carry a WhatsApp number in
/// `external_id_field`, oldest first, selecting `fields` besides the ones the
/// connector needs. Field names must have passed [`api_name`].
/// The Contacts with ids `ids` (already checked to be record ids), with the same
/// fields as [`changed_contacts`].
pub fn contacts_by_id(external_id_field: &str, fields: &[String], ids: &[String]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| string(id)).collect();
    format!(
        "SELECT {} FROM Contact WHERE Id IN ({})",
        contact_select(external_id_field, fields),
        ids.join(", ")
    )
}

/// The Contact fields every read selects: id, name, the WhatsApp number, the change
/// time, and the configured extra fields (each once).
fn contact_select(external_id_field: &str, fields: &[String]) -> String {
    let mut select = vec![
        "Id".to_string(),
        "FirstName".to_string(),
        "LastName".to_string(),
        external_id_field.to_string(),
        "LastModifiedDate".to_string(),
    ];
    for f in fields {
        if !select.iter().any(|s| s.eq_ignore_ascii_case(f)) {
            select.push(f.clone());
        }
    }
    select.join(", ")
}

pub fn changed_contacts(external_id_field: &str, fields: &[String], cursor: &Cursor) -> String {
    let mut q = format!(
        "SELECT {} FROM Contact WHERE {external_id_field} != null",
        contact_select(external_id_field, fields)
    );
    if let Some(since) = cursor.since {
        let at = datetime::soql_datetime(since);
        if cursor.seen.is_empty() {
            q.push_str(&format!(" AND LastModifiedDate > {at}"));
        } else {
            let seen: Vec<String> = cursor.seen.iter().map(|id| string(id)).collect();
            q.push_str(&format!(
                " AND LastModifiedDate >= {at} AND (LastModifiedDate > {at} OR Id NOT IN ({}))",
                seen.join(", ")
            ));
        }
    }
    q.push_str(" ORDER BY LastModifiedDate ASC, Id ASC");
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_quotes_backslashes_and_breaks() {
        assert_eq!(string("O'Brien"), r"'O\'Brien'");
        assert_eq!(string(r"a\b"), r"'a\\b'");
        assert_eq!(string("say \"hi\"\n\tnow"), r#"'say \"hi\"\n\tnow'"#);
        assert_eq!(string("x\u{0}y\u{1b}z"), "'xyz'");
        assert_eq!(string("Zoë 🙂"), "'Zoë 🙂'");
        // An injection attempt stays one literal.
        assert_eq!(string("' OR Name != '"), r"'\' OR Name != \''");
    }

    #[test]
    fn api_names_are_checked() {
        for ok in ["MobilePhone", "WhatsApp_Number__c", "ns__Field__c", "A1"] {
            assert!(api_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1Field",
            "Name, Id",
            "Phone__c)",
            "a b",
            "x_",
            "_x",
            "Id;--",
        ] {
            assert!(!api_name(bad), "{bad}");
        }
        assert!(record_id("003000000000001"));
        assert!(record_id("003000000000001AAA"));
        assert!(!record_id("003'00000000001"));
    }

    #[test]
    fn first_pull_reads_every_contact_with_a_number() {
        assert_eq!(
            changed_contacts("WhatsApp_Number__c", &[], &Cursor::default()),
            "SELECT Id, FirstName, LastName, WhatsApp_Number__c, LastModifiedDate FROM Contact \
             WHERE WhatsApp_Number__c != null ORDER BY LastModifiedDate ASC, Id ASC"
        );
    }

    #[test]
    fn later_pulls_skip_exactly_what_was_read_in_the_last_second() {
        let mut c = Cursor::default();
        c.advance("003000000000001AAA", 1_795_634_400_000);
        c.advance("003000000000002AAA", 1_795_634_400_000);
        let q = changed_contacts(
            "WhatsApp_Number__c",
            &["Customer_Level__c".to_string(), "firstname".to_string()],
            &c,
        );
        assert_eq!(
            q,
            "SELECT Id, FirstName, LastName, WhatsApp_Number__c, LastModifiedDate, Customer_Level__c \
             FROM Contact WHERE WhatsApp_Number__c != null \
             AND LastModifiedDate >= 2026-11-25T19:20:00Z \
             AND (LastModifiedDate > 2026-11-25T19:20:00Z \
             OR Id NOT IN ('003000000000001AAA', '003000000000002AAA')) \
             ORDER BY LastModifiedDate ASC, Id ASC"
        );
    }

    #[test]
    fn the_cursor_moves_forward_and_round_trips() {
        let mut c = Cursor::default();
        c.advance("003000000000001AAA", 2_000);
        c.advance("003000000000002AAA", 3_000);
        c.advance("003000000000002AAA", 3_000);
        c.advance("003000000000003AAA", 1_000);
        assert_eq!(c.since, Some(3_000));
        assert_eq!(c.seen, ["003000000000002AAA"]);
        c.next = Some("/services/data/v62.0/query/01gD0000002HU6KIAW-2000".into());
        assert_eq!(Cursor::parse(&c.encode()).unwrap(), c);
        assert_eq!(Cursor::parse("").unwrap(), Cursor::default());
        assert!(Cursor::parse("{\"seen\":[\"x') OR Id != ('\"]}").is_err());
        assert!(Cursor::parse("not json").is_err());
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            url_encode("SELECT Id FROM Contact WHERE X > 2026-11-25T19:20:00Z AND Y = 'a+b'"),
            "SELECT%20Id%20FROM%20Contact%20WHERE%20X%20%3E%202026-11-25T19%3A20%3A00Z%20AND%20Y%20%3D%20%27a%2Bb%27"
        );
    }
}
