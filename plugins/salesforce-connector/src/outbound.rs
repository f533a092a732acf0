//! Salesforce Outbound Messages: SOAP `notifications` → Contact changes.
//!
//! A Flow or workflow rule on Contact sends, to the endpoint the operator set up
//! (`POST /v1/crm/{tenant}/webhook`), a SOAP envelope:
//!
//! ```xml
//! <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
//!     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
//!  <soapenv:Body>
//!   <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
//!    <OrganizationId>00D5g000004ScrmEAA</OrganizationId>
//!    <ActionId>04k5g000000ScrmAAA</ActionId>
//!    <SessionId xsi:nil="true"/>
//!    <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5g000004Scrm</EnterpriseUrl>
//!    <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004Scrm</PartnerUrl>
//!    <Notification>
//!     <Id>04l5g00000ScrmAAAA</Id>
//!     <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
//!      <sf:Id>0035g00000ScrmAAA</sf:Id>
//!      <sf:FirstName>Mario</sf:FirstName>
//!      <sf:LastName>Rossi</sf:LastName>
//!      <sf:LastModifiedDate>2026-11-25T19:20:00.000Z</sf:LastModifiedDate>
//!      <sf:WhatsApp_Number__c>+393471234567</sf:WhatsApp_Number__c>
//!     </sObject>
//!    </Notification>
//!   </notifications>
//!  </soapenv:Body>
//! </soapenv:Envelope>
//! ```
//!
//! Salesforce signs nothing: the documented checks are the `OrganizationId` in each
//! message (compared here with the configured org, on its case-sensitive 15-character
//! form), TLS, and optionally its client certificate and IP ranges (the operator's
//! proxy). A message from another org is refused as `unauthorized`. Notifications of
//! other objects are skipped. The parser refuses DTDs, so no entity expansion.

use crate::{Config, datetime};
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue};

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const OUTBOUND: &str = "http://soap.sforce.com/2005/09/outbound";
const SOBJECT: &str = "urn:sobject.enterprise.soap.sforce.com";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The 15-character, case-sensitive form of a Salesforce id (18-character ids add a
/// case-insensitive checksum).
fn id15(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

/// The child element of `node` named `name` in namespace `ns`.
fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
    })
}

fn text(node: roxmltree::Node<'_, '_>) -> String {
    node.text().unwrap_or_default().trim().to_string()
}

/// Whether `sobject`'s `xsi:type` names the enterprise `Contact` type.
fn is_contact(sobject: roxmltree::Node<'_, '_>) -> bool {
    let Some(kind) = sobject.attribute((XSI, "type")) else {
        return false;
    };
    let (prefix, local) = kind
        .split_once(':')
        .map_or((None, kind), |(p, l)| (Some(p), l));
    local == "Contact" && sobject.lookup_namespace_uri(prefix) == Some(SOBJECT)
}

/// What an Outbound Message carried.
#[derive(Debug)]
pub struct Parsed {
    /// The Contact changes, in the message's order.
    pub records: Vec<CrmRecord>,
    /// Notifications of other objects, skipped.
    pub skipped: usize,
}

/// The Contact changes of an Outbound Message `body`.
///
/// # Errors
/// `unauthorized` when no org is configured or the message comes from another
/// org; `invalid` when the body is not an Outbound Message.
pub fn parse(cfg: &Config, body: &[u8]) -> Result<Parsed, ConnectorError> {
    let invalid =
        |why: &str| ConnectorError::Invalid(format!("not a Salesforce Outbound Message: {why}"));
    let text_body = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8"))?;
    let doc = roxmltree::Document::parse(text_body).map_err(|e| invalid(&e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Envelope" || root.tag_name().namespace() != Some(SOAP_ENV) {
        return Err(invalid("no SOAP envelope"));
    }
    let notifications = child(root, SOAP_ENV, "Body")
        .and_then(|b| child(b, OUTBOUND, "notifications"))
        .ok_or_else(|| invalid("no notifications element"))?;
    let org = child(notifications, OUTBOUND, "OrganizationId")
        .map(text)
        .ok_or_else(|| invalid("no OrganizationId"))?;
    if cfg.organization_id.is_empty() {
        return Err(ConnectorError::Unauthorized(
            "Outbound Messages are refused: the connector has no organization_id configured".into(),
        ));
    }
    if id15(&org) != id15(&cfg.organization_id) {
        return Err(ConnectorError::Unauthorized(
            "Outbound Message from another Salesforce org (OrganizationId does not match)".into(),
        ));
    }
    let mut records = Vec::new();
    let mut skipped = 0;
    for n in notifications.children().filter(|c| {
        c.is_element()
            && c.tag_name().name() == "Notification"
            && c.tag_name().namespace() == Some(OUTBOUND)
    }) {
        let Some(sobject) = child(n, OUTBOUND, "sObject") else {
            return Err(invalid("a Notification without an sObject"));
        };
        if !is_contact(sobject) {
            skipped += 1;
            continue;
        }
        let value = |name: &str| -> Option<Option<String>> {
            let node = child(sobject, SOBJECT, name)?;
            if node.attribute((XSI, "nil")) == Some("true") {
                return Some(None);
            }
            let t = text(node);
            Some((!t.is_empty()).then_some(t))
        };
        let Some(Some(id)) = value("Id") else {
            return Err(invalid("a Contact notification without an Id"));
        };
        let mut fields = Vec::new();
        let first = value("FirstName");
        let last = value("LastName");
        if first.is_some() || last.is_some() {
            fields.push(crate::name_field(
                first.flatten().as_deref(),
                last.flatten().as_deref(),
            ));
        }
        if let Some(phone) = value(&cfg.external_id_field) {
            fields.push(Field {
                name: "phone".into(),
                value: phone.map_or(FieldValue::Empty, FieldValue::Text),
            });
        }
        for f in &cfg.contact_fields {
            if let Some(v) = value(f) {
                fields.push(Field {
                    name: f.clone(),
                    value: v.map_or(FieldValue::Empty, FieldValue::Text),
                });
            }
        }
        let updated_at = value("LastModifiedDate")
            .flatten()
            .and_then(|d| datetime::parse_ms(&d));
        records.push(CrmRecord {
            object: "contact".into(),
            id: Some(id),
            fields,
            updated_at,
        });
    }
    Ok(Parsed { records, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "00D5g000004ScrmEAA";

    fn cfg() -> Config {
        Config {
            instance_url: "https://acme.my.salesforce.com".into(),
            organization_id: ORG.into(),
            contact_fields: vec!["Customer_Level__c".into()],
            ..Config::default()
        }
    }

    fn message(org: &str, sobjects: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5g000000ScrmAAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5g000004Scrm</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5g000004Scrm</PartnerUrl>
   {sobjects}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
        )
    }

    const MARIO: &str = r#"<Notification>
     <Id>04l5g00000ScrmAAAA</Id>
     <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
      <sf:Id>0035g00000ScrmAAAA</sf:Id>
      <sf:Customer_Level__c>Gold &amp; loyal</sf:Customer_Level__c>
      <sf:FirstName>Mario</sf:FirstName>
      <sf:LastModifiedDate>2026-11-25T19:20:00.000Z</sf:LastModifiedDate>
      <sf:LastName>Rossi</sf:LastName>
      <sf:WhatsApp_Number__c>+393471234567</sf:WhatsApp_Number__c>
     </sObject>
    </Notification>"#;

    #[test]
    fn contact_notifications_become_contact_records() {
        let records = parse(&cfg(), message(ORG, MARIO).as_bytes())
            .unwrap()
            .records;
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.object, "contact");
        assert_eq!(r.id.as_deref(), Some("0035g00000ScrmAAAA"));
        assert_eq!(r.updated_at, Some(1_795_634_400_000));
        let get = |n: &str| {
            r.fields
                .iter()
                .find(|f| f.name == n)
                .map(|f| f.value.clone())
        };
        assert!(matches!(get("name"), Some(FieldValue::Text(t)) if t == "Mario Rossi"));
        assert!(matches!(get("phone"), Some(FieldValue::Text(t)) if t == "+393471234567"));
        assert!(
            matches!(get("Customer_Level__c"), Some(FieldValue::Text(t)) if t == "Gold & loyal")
        );
    }

    #[test]
    fn the_org_is_compared_on_its_15_character_id() {
        assert!(parse(&cfg(), message("00D5g000004Scrm", MARIO).as_bytes()).is_ok());
        let other = parse(&cfg(), message("00D5g000004OtherEAA", MARIO).as_bytes());
        assert!(
            matches!(other, Err(ConnectorError::Unauthorized(_))),
            "{other:?}"
        );
        // Case matters in the 15-character form.
        let other = parse(&cfg(), message("00d5g000004scrmEAA", MARIO).as_bytes());
        assert!(
            matches!(other, Err(ConnectorError::Unauthorized(_))),
            "{other:?}"
        );
        let unset = Config {
            organization_id: String::new(),
            ..cfg()
        };
        assert!(matches!(
            parse(&unset, message(ORG, MARIO).as_bytes()),
            Err(ConnectorError::Unauthorized(_))
        ));
    }

    #[test]
    fn nil_fields_clear_and_other_objects_are_skipped() {
        let lead = r#"<Notification><Id>04l5g00000ScrmAAAB</Id>
            <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
              <sf:Id>00Q5g00000ScrmAAAA</sf:Id></sObject></Notification>"#;
        let cleared = r#"<Notification><Id>04l5g00000ScrmAAAC</Id>
            <sObject xsi:type="q:Contact" xmlns:q="urn:sobject.enterprise.soap.sforce.com">
              <q:Id>0035g00000ScrmAAAB</q:Id>
              <q:WhatsApp_Number__c xsi:nil="true"/>
              <q:LastName>Bianchi</q:LastName></sObject></Notification>"#;
        let parsed = parse(&cfg(), message(ORG, &format!("{lead}{cleared}")).as_bytes()).unwrap();
        assert_eq!(parsed.skipped, 1);
        let records = parsed.records;
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.id.as_deref(), Some("0035g00000ScrmAAAB"));
        assert_eq!(r.updated_at, None);
        assert!(matches!(&r.fields[0].value, FieldValue::Text(t) if t == "Bianchi"));
        assert!(matches!(&r.fields[1].value, FieldValue::Empty));
    }

    #[test]
    fn other_bodies_are_invalid() {
        for body in [
            "{}",
            "<a/>",
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>"#,
            // A DTD (entity expansion) is refused outright.
            r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>"#,
        ] {
            assert!(
                matches!(
                    parse(&cfg(), body.as_bytes()),
                    Err(ConnectorError::Invalid(_))
                ),
                "{body}"
            );
        }
    }
}
