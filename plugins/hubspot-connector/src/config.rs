//! The connector's configuration, parsed and checked once per call.

use serde::Deserialize;
use std::collections::BTreeMap;

/// HubSpot's search endpoints answer at most this many records per page.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The connector's configuration (JSON or TOML), as installed with the binding.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HubSpot's API base URL; paths `/crm/v3/…` are added to it.
    pub base_url: String,
    /// The contact property that holds the host's phone number (E.164).
    pub phone_property: String,
    /// One contact property for the host's name; unset: the name is split into
    /// `firstname` (first word) and `lastname` (the rest), and joined back on pulls.
    pub name_property: Option<String>,
    /// Other contact properties read on pulls and webhooks and handed to the mapper
    /// under their HubSpot names (for the mapper's `pull_fields`).
    pub pull_properties: Vec<String>,
    /// Contacts per pull page, 1–200.
    pub page_size: u32,
    /// Changes younger than this many milliseconds are left for the next pull:
    /// HubSpot's search index shows new writes "after a few moments", and a change
    /// indexed after the cursor passed its time would otherwise never be read.
    pub pull_settle_ms: u32,
    /// The HubSpot owner (`hubspot_owner_id`) put on communications and deals.
    pub owner_id: Option<String>,
    /// The pipeline of new deals (its internal id).
    pub deal_pipeline: String,
    /// The stage of new deals (its internal id).
    pub deal_stage: String,
    /// Deal record field → HubSpot deal property; other fields are not sent.
    pub deal_properties: BTreeMap<String, String>,
    /// The custom property (single-line text, on deals and communications) holding
    /// the host's key of a write, so that retries and later signals find it. Unset:
    /// no lookups (a retry after a lost answer may then write twice).
    pub key_property: Option<String>,
    /// The name of the tenant secret that holds the HubSpot app's client secret, for
    /// checking webhook signatures (the binding's HTTP policy must list it under
    /// `secrets`). Unset: webhooks are refused.
    pub webhook_secret: Option<String>,
    /// The public URL HubSpot posts webhooks to, exactly as configured in the app
    /// (`https://scrm.example.com/v1/crm/{tenant}/webhook`): the v3 signature covers it.
    pub webhook_url: Option<String>,
    /// A WhatsApp communication logged in HubSpot by a person (not by the host)
    /// whose text starts with this marker is a reply to send to the customer (the
    /// marker is removed); unset: none are sent.
    pub reply_marker: Option<String>,
    /// Replies are searched for at most this often, ms (each search counts against
    /// HubSpot's 5 searches a second, which pulls share).
    pub reply_interval_ms: u32,
    /// The order property holding the courier's slug (`brt`, `ups`, …; a custom
    /// property, HubSpot has none of its own); unset: the courier is left to the
    /// tracking service to recognise from the number.
    pub order_carrier_property: Option<String>,
    /// Orders changed in HubSpot are read on pulls (and handed to the host as
    /// `order` records, which reach the tenant's flows as `order` events) at most
    /// this often, ms; 0: on every pull. Like replies, they share HubSpot's search
    /// rate with the contacts.
    pub order_interval_ms: u32,
    /// Whether pulls read changed orders at all.
    pub pull_orders: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: "https://api.hubapi.com".into(),
            phone_property: "phone".into(),
            name_property: None,
            pull_properties: Vec::new(),
            page_size: 100,
            pull_settle_ms: 3_000,
            owner_id: None,
            deal_pipeline: "default".into(),
            deal_stage: "appointmentscheduled".into(),
            deal_properties: [
                ("name", "dealname"),
                ("message", "description"),
                ("amount", "amount"),
                ("stage", "dealstage"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            key_property: Some("scrm_key".into()),
            webhook_secret: None,
            webhook_url: None,
            reply_marker: Some("/wa".into()),
            reply_interval_ms: 5_000,
            order_carrier_property: None,
            order_interval_ms: 5_000,
            pull_orders: true,
        }
    }
}

impl Config {
    /// Parses `raw` (JSON or TOML; empty means all defaults) and checks it.
    ///
    /// # Errors
    /// A message naming the key that is wrong.
    pub fn parse(raw: &[u8]) -> Result<Config, String> {
        let cfg = scrm_plugin_sdk::config::parse_bytes::<Config>(raw)?.unwrap_or_default();
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let base = self.base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!(
                "base_url {:?} must start with https://",
                self.base_url
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(format!(
                "page_size {} must be between 1 and {MAX_PAGE_SIZE}",
                self.page_size
            ));
        }
        for (key, value) in [
            ("phone_property", Some(&self.phone_property)),
            ("name_property", self.name_property.as_ref()),
            ("deal_pipeline", Some(&self.deal_pipeline)),
            ("deal_stage", Some(&self.deal_stage)),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("{key} must not be empty"));
            }
        }
        if self.webhook_secret.is_some() != self.webhook_url.is_some() {
            return Err("webhook_secret and webhook_url go together: set both or neither".into());
        }
        if let Some(url) = &self.webhook_url
            && !url.starts_with("https://")
            && !url.starts_with("http://")
        {
            return Err(format!("webhook_url {url:?} must be a full URL"));
        }
        Ok(())
    }

    /// `base_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }

    /// The contact properties a pull or a webhook reads.
    pub fn contact_properties(&self) -> Vec<String> {
        let mut props = match &self.name_property {
            Some(p) => vec![p.clone()],
            None => vec!["firstname".to_string(), "lastname".to_string()],
        };
        props.push(self.phone_property.clone());
        props.push("lastmodifieddate".into());
        for p in &self.pull_properties {
            if !props.contains(p) {
                props.push(p.clone());
            }
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_means_hubspot_defaults() {
        let cfg = Config::parse(b"").unwrap();
        assert_eq!(cfg.base_url, "https://api.hubapi.com");
        assert_eq!(cfg.page_size, 100);
        assert_eq!(cfg.deal_properties["name"], "dealname");
        assert_eq!(
            cfg.contact_properties(),
            ["firstname", "lastname", "phone", "lastmodifieddate"]
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(
            Config::parse(b"colour = \"red\"\n")
                .unwrap_err()
                .contains("colour")
        );
        assert!(
            Config::parse(b"page_size = 500\n")
                .unwrap_err()
                .contains("page_size")
        );
        assert!(
            Config::parse(b"webhook_secret = \"hubspot_client_secret\"\n")
                .unwrap_err()
                .contains("webhook_url")
        );
        assert!(Config::parse(br#"{"base_url": "api.hubapi.com"}"#).is_err());
    }

    #[test]
    fn a_name_property_replaces_first_and_last_name() {
        let cfg = Config::parse(
            b"name_property = \"whatsapp_name\"\npull_properties = [\"hs_lead_status\", \"phone\"]\n",
        )
        .unwrap();
        assert_eq!(
            cfg.contact_properties(),
            [
                "whatsapp_name",
                "phone",
                "lastmodifieddate",
                "hs_lead_status"
            ]
        );
    }
}
