//! Audiences: which of a tenant's contacts a campaign goes to, as a condition the
//! store evaluates in one SQL query on either backend.
//!
//! The application parses the expression people write (`tag:vip AND NOT
//! tag:complained`, see `scrm::campaigns::audience`) into an [`Audience`]; this
//! module compiles it to a `WHERE` condition over `contacts` and runs it
//! ([`members`]). Every condition is an `IN (subquery)` over a set computed once
//! (tagged contacts, contacts with a field value, opted-in contacts), so an audience
//! costs a few index lookups, not a query per contact.
//!
//! - `Tag(t)`: one of the contact's messages has tag `t` (`message_tags`), counting
//!   the messages of contacts merged into it;
//! - `Field { source, name, test }`: the host's value of the contact's field `name`
//!   (`crm_fields`, stored as JSON text): `Any` whoever wrote it last, `Crm` only a
//!   value that came from the CRM (`source = 'crm'`);
//! - `OptedIn`: recorded opt-in, not withdrawn by a later opt-out.
//!
//! Merged contacts (`contacts.merged_into`) are never members: the contact they were
//! merged into is.

use crate::StoreError;
use crate::sql::Conn;
use serde::Serialize;

/// An audience condition over a tenant's contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// One of the contact's messages carries this tag.
    Tag(String),
    /// A contact field's value.
    Field {
        /// Whose value counts.
        source: FieldSource,
        /// The field's name.
        name: String,
        /// What it must be.
        test: FieldTest,
    },
    /// Opted in, and not opted out since.
    OptedIn,
    /// Not the inner condition.
    Not(Box<Audience>),
    /// Both.
    And(Box<Audience>, Box<Audience>),
    /// Either.
    Or(Box<Audience>, Box<Audience>),
}

/// Which stored values a field condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    /// `field:`: the host's value, whoever wrote it last (the CRM, a flow, a person).
    Any,
    /// `crm:`: only a value the CRM wrote last.
    Crm,
}

/// What a field's value must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldTest {
    /// Set to something other than `null` or an empty string.
    Present,
    /// Equal to this text: a JSON string with this text, or a number or boolean
    /// written this way (`30`, `true`).
    Eq(String),
    /// Not [`FieldTest::Eq`] (a contact without the field matches).
    Ne(String),
}

/// One contact an audience matched, with its consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The contact.
    pub contact_id: i64,
    /// Where messages go: its WhatsApp id, else its E.164 digits.
    pub wa_id: String,
    /// Opted in and not opted out since.
    pub opted_in: bool,
    /// Opted out (STOP) and not opted in since.
    pub opted_out: bool,
}

/// The SQL condition of `a` on the contact aliased `ct`, binding values from `?{n}`
/// on (`?1` is the tenant).
struct Compiled {
    values: Vec<String>,
}

impl Compiled {
    fn bind(&mut self, v: impl Into<String>) -> String {
        self.values.push(v.into());
        format!("?{}", self.values.len() + 1)
    }

    fn condition(&mut self, a: &Audience) -> String {
        match a {
            Audience::Tag(tag) => {
                let t = self.bind(tag.as_str());
                format!(
                    "ct.id IN (SELECT COALESCE(mc.merged_into, mc.id) FROM message_tags mt
                       JOIN messages m ON m.id = mt.message_id
                       JOIN contacts mc ON mc.id = m.contact_id
                       WHERE mt.tag = {t} AND m.tenant_id = ?1)"
                )
            }
            Audience::Field { source, name, test } => self.field(*source, name, test),
            Audience::OptedIn => format!(
                "ct.id IN (SELECT oc.id FROM contacts oc {CONSENT_JOIN} WHERE oc.tenant_id = ?1 AND {OPTED_IN})"
            ),
            Audience::Not(inner) => format!("NOT ({})", self.condition(inner)),
            Audience::And(l, r) => format!("({}) AND ({})", self.condition(l), self.condition(r)),
            Audience::Or(l, r) => format!("({}) OR ({})", self.condition(l), self.condition(r)),
        }
    }

    fn field(&mut self, source: FieldSource, name: &str, test: &FieldTest) -> String {
        let n = self.bind(name);
        let source = match source {
            FieldSource::Any => "",
            FieldSource::Crm => " AND f.source = 'crm'",
        };
        let (value, negate) = match test {
            FieldTest::Present => ("f.value NOT IN ('null', '\"\"')".to_string(), false),
            FieldTest::Eq(v) | FieldTest::Ne(v) => {
                let as_string = self.bind(serde_json::Value::from(v.as_str()).to_string());
                let as_written = self.bind(v.as_str());
                (
                    format!("f.value IN ({as_string}, {as_written})"),
                    matches!(test, FieldTest::Ne(_)),
                )
            }
        };
        let set = format!(
            "ct.id IN (SELECT f.contact_id FROM crm_fields f
               WHERE f.tenant_id = ?1 AND f.field = {n}{source} AND {value})"
        );
        if negate { format!("NOT ({set})") } else { set }
    }
}

/// The consent row of contact `oc`: consent is keyed by the WhatsApp id's E.164
/// digits (`scrm_wire::phone::canonical_digits`), which is the contact's `wa_id` or,
/// for the Mexican and Brazilian forms, its phone without the `+`.
const CONSENT_JOIN: &str = "JOIN consent k ON k.tenant_id = oc.tenant_id
    AND k.wa_id IN (oc.wa_id, substr(oc.phone_e164, 2))";
const OPTED_IN: &str =
    "k.opted_in_at IS NOT NULL AND (k.opted_out_at IS NULL OR k.opted_in_at > k.opted_out_at)";
const OPTED_OUT: &str =
    "k.opted_out_at IS NOT NULL AND (k.opted_in_at IS NULL OR k.opted_out_at >= k.opted_in_at)";

/// Every contact of `tenant` that `audience` matches, by id, with its consent.
/// Contacts with neither a WhatsApp id nor a phone number cannot be messaged and
/// are left out; so are merged contacts.
///
/// # Errors
/// On database failure.
pub(crate) fn members(
    conn: &Conn<'_>,
    tenant: &str,
    audience: &Audience,
) -> Result<Vec<Member>, StoreError> {
    let mut c = Compiled { values: Vec::new() };
    let condition = c.condition(audience);
    let sql = format!(
        "SELECT ct.id, COALESCE(ct.wa_id, substr(ct.phone_e164, 2)),
                CASE WHEN ct.id IN (SELECT oc.id FROM contacts oc {CONSENT_JOIN}
                                    WHERE oc.tenant_id = ?1 AND {OPTED_IN}) THEN 1 ELSE 0 END,
                CASE WHEN ct.id IN (SELECT oc.id FROM contacts oc {CONSENT_JOIN}
                                    WHERE oc.tenant_id = ?1 AND {OPTED_OUT}) THEN 1 ELSE 0 END
         FROM contacts ct
         WHERE ct.tenant_id = ?1 AND ct.merged_into IS NULL
           AND (ct.wa_id IS NOT NULL OR ct.phone_e164 IS NOT NULL)
           AND ({condition})
         ORDER BY ct.id"
    );
    let mut params: Vec<&dyn crate::sql::Param> = vec![&tenant];
    params.extend(c.values.iter().map(|v| v as &dyn crate::sql::Param));
    conn.query(&sql, &params, |r| {
        Ok(Member {
            contact_id: r.get(0)?,
            wa_id: r.get(1)?,
            opted_in: r.get(2)?,
            opted_out: r.get(3)?,
        })
    })
}
