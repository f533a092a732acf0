//! The connector's configuration, parsed and checked once per call.

use scrm_plugin_sdk::ConnectorError;
use serde::Deserialize;

/// What the operator installs with the binding (TOML or JSON; see the crate docs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The API domain of the org's data centre, e.g. `https://www.zohoapis.eu`.
    pub api_domain: String,
    /// The API version in paths.
    pub api_version: String,
    /// The module contacts live in.
    pub contacts_module: String,
    /// The phone field written with the customer's E.164 number and used as the
    /// upsert's `duplicate_check_fields`; it must be marked unique in Zoho.
    pub phone_field: String,
    /// Other Zoho fields a pull reads and hands to the mapper (its `pull_fields`).
    pub pull_fields: Vec<String>,
    /// `Note_Title` of chat-history notes.
    pub note_title: String,
    /// `Stage` of new deals (a value of the org's Stage picklist).
    pub deal_stage: String,
    /// `Closing_Date` of new deals: this many days after their creation.
    pub deal_closing_days: u32,
    /// A single-line field on Deals holding the host's key of each deal (one open
    /// deal per contact and product), so a retried create finds what a lost answer
    /// wrote; none: deals are not keyed.
    pub deal_key_field: Option<String>,
    /// Contacts per pull page (1–200).
    pub page_size: u32,
    /// `Last_Name` written for a contact whose name is unknown (Zoho requires one);
    /// read back as "no name".
    pub placeholder_last_name: String,
    /// The `token` given to `POST /actions/watch`: notifications without it are refused.
    pub notification_token: Option<String>,
    /// When set, notifications of other channels are refused too.
    pub channel_id: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_domain: String::new(),
            api_version: "v8".into(),
            contacts_module: "Contacts".into(),
            phone_field: "Mobile".into(),
            pull_fields: Vec::new(),
            note_title: "WhatsApp".into(),
            deal_stage: "Qualification".into(),
            deal_closing_days: 30,
            deal_key_field: Some("Scrm_Key".into()),
            page_size: 200,
            placeholder_last_name: "(WhatsApp)".into(),
            notification_token: None,
            channel_id: None,
        }
    }
}

impl Config {
    /// Parses `raw` (TOML or JSON) and checks it.
    ///
    /// # Errors
    /// [`ConnectorError::Invalid`] naming the wrong or missing key.
    pub fn parse(raw: &[u8]) -> Result<Config, ConnectorError> {
        let bad = |m: String| ConnectorError::Invalid(format!("zoho connector config: {m}"));
        let cfg = scrm_plugin_sdk::config::parse_bytes::<Config>(raw)
            .map_err(bad)?
            .ok_or_else(|| bad("api_domain is required".into()))?;
        if !(cfg.api_domain.starts_with("https://") || cfg.api_domain.starts_with("http://")) {
            return Err(bad(format!(
                "api_domain {:?} must be a URL such as https://www.zohoapis.com",
                cfg.api_domain
            )));
        }
        if !(1..=200).contains(&cfg.page_size) {
            return Err(bad(format!(
                "page_size {} is not in 1..=200",
                cfg.page_size
            )));
        }
        for (key, v) in [
            ("contacts_module", &cfg.contacts_module),
            ("phone_field", &cfg.phone_field),
            ("api_version", &cfg.api_version),
            ("placeholder_last_name", &cfg.placeholder_last_name),
        ] {
            // All but the placeholder go into URLs, query strings or JSON keys.
            let in_urls = key != "placeholder_last_name";
            if v.trim().is_empty() || (in_urls && v.contains(['/', '?', '&', '#', ' ', ','])) {
                return Err(bad(format!("{key} {v:?} is not valid")));
            }
        }
        if let Some(f) = cfg.pull_fields.iter().find(|f| {
            f.is_empty()
                || !f
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        }) {
            return Err(bad(format!(
                "pull_fields: {f:?} is not a Zoho field API name"
            )));
        }
        if cfg
            .notification_token
            .as_ref()
            .is_some_and(|t| t.is_empty())
        {
            return Err(bad("notification_token is empty".into()));
        }
        Ok(cfg)
    }

    /// The installed configuration.
    ///
    /// # Errors
    /// As [`Config::parse`].
    pub fn load() -> Result<Config, ConnectorError> {
        Config::parse(&scrm_plugin_sdk::config::bytes())
    }

    /// `{api_domain}/crm/{version}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/crm/{}/{path}",
            self.api_domain.trim_end_matches('/'),
            self.api_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_the_domain() {
        let cfg = Config::parse(b"api_domain = \"https://www.zohoapis.eu/\"\n").unwrap();
        assert_eq!(cfg.phone_field, "Mobile");
        assert_eq!(
            cfg.url("Contacts/upsert"),
            "https://www.zohoapis.eu/crm/v8/Contacts/upsert"
        );
        let json = Config::parse(br#"{"api_domain":"http://127.0.0.1:9","page_size":2}"#).unwrap();
        assert_eq!(json.page_size, 2);
    }

    #[test]
    fn rejects_missing_domain_unknown_keys_and_bad_page_sizes() {
        assert!(matches!(
            Config::parse(b""),
            Err(ConnectorError::Invalid(_))
        ));
        assert!(Config::parse(b"api_domain = \"www.zohoapis.com\"").is_err());
        assert!(Config::parse(b"api_domain = \"https://x\"\ntoken = \"t\"").is_err());
        assert!(Config::parse(b"api_domain = \"https://x\"\npage_size = 500").is_err());
        assert!(Config::parse(b"api_domain = \"https://x\"\nphone_field = \"Mo bile\"").is_err());
    }
}
