//! The authorization-server half of the local CRMs: an OAuth 2 token endpoint that
//! trades one client's refresh token for access tokens (the `refresh_token` grant,
//! RFC 6749 §6) which expire after a set lifetime, in Zoho's or Salesforce's
//! dialect. The CRM stand-ins embed one ([`crate::zoho::Zoho::issue_tokens`],
//! [`crate::salesforce::Salesforce::issue_tokens`]) and accept its tokens until they
//! expire.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Whose wire format the token endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST {accounts}/oauth/v2/token` (parameters in the query or the form body):
    /// 200 `{access_token, api_domain, token_type, expires_in}`; a bad grant is
    /// answered 200 `{"error": "invalid_code"}`, a bad client `invalid_client`.
    Zoho,
    /// `POST /services/oauth2/token` (form body): 200 `{access_token, signature,
    /// scope, instance_url, id, token_type, issued_at}` with no lifetime (the session
    /// timeout applies); a bad grant is 400 `{"error": "invalid_grant",
    /// "error_description": "expired access/refresh token"}`.
    Salesforce,
}

/// One OAuth client and the access tokens issued to it.
#[derive(Debug)]
pub struct Issuer {
    dialect: Dialect,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    lifetime: Duration,
    issued: Vec<(String, Instant)>,
    /// The server's base URL (Salesforce answers it as `instance_url`).
    base: String,
}

impl Issuer {
    /// An issuer for one client whose tokens live `lifetime`.
    pub fn new(
        dialect: Dialect,
        (client_id, client_secret, refresh_token): (&str, &str, &str),
        lifetime: Duration,
        base: String,
    ) -> Issuer {
        Issuer {
            dialect,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            lifetime,
            issued: Vec::new(),
            base,
        }
    }

    /// Whether `token` was issued here and has not expired.
    pub fn valid(&self, token: &str) -> bool {
        self.issued
            .iter()
            .any(|(t, at)| t == token && at.elapsed() < self.lifetime)
    }

    /// Access tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.len()
    }

    /// Every token issued so far expires now (a session ended early, a password
    /// change): the next request with one is refused.
    pub fn expire_all(&mut self) {
        let past = Instant::now()
            .checked_sub(self.lifetime)
            .unwrap_or_else(Instant::now);
        for (_, at) in &mut self.issued {
            *at = past;
        }
    }

    /// The refresh token is revoked (the user removed the app's access).
    pub fn revoke_refresh_token(&mut self) {
        self.refresh_token = format!("revoked-{}", self.refresh_token);
    }

    /// Answers a token request whose parameters are `params` (query and form body
    /// together): the status and JSON body.
    pub fn grant(&mut self, params: &HashMap<String, String>) -> (u16, Value) {
        let p = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        let bad_client =
            p("client_id") != self.client_id || p("client_secret") != self.client_secret;
        let bad_grant =
            p("grant_type") != "refresh_token" || p("refresh_token") != self.refresh_token;
        match (self.dialect, bad_client, bad_grant) {
            (Dialect::Zoho, true, _) => return (200, json!({"error": "invalid_client"})),
            (Dialect::Zoho, _, true) => return (200, json!({"error": "invalid_code"})),
            (Dialect::Salesforce, true, _) => {
                return (
                    400,
                    json!({"error": "invalid_client_id", "error_description": "client identifier invalid"}),
                );
            }
            (Dialect::Salesforce, _, true) => {
                return (
                    400,
                    json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
                );
            }
            _ => {}
        }
        let n = self.issued.len() + 1;
        let token = match self.dialect {
            Dialect::Zoho => format!("1000.{n:032x}.scrmtestissued"),
            Dialect::Salesforce => format!("00D5g000004ScrmEAA!AQ4AQIssued{n:020}"),
        };
        self.issued.push((token.clone(), Instant::now()));
        let body = match self.dialect {
            Dialect::Zoho => json!({
                "access_token": token,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ",
                "api_domain": self.base,
                "token_type": "Bearer",
                "expires_in": self.lifetime.as_secs(),
            }),
            Dialect::Salesforce => json!({
                "access_token": token,
                "signature": "dGVzdCBzaWduYXR1cmU=",
                "scope": "refresh_token api",
                "instance_url": self.base,
                "id": format!("{}/id/00D5g000004ScrmEAA/0055g00000ScrmAAA", self.base),
                "token_type": "Bearer",
                "issued_at": crate::crm::now_ms().to_string(),
            }),
        };
        (200, body)
    }
}

/// The parameters of a token request: its query and its form body.
pub fn params(query: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for part in [query.unwrap_or_default().as_bytes(), body] {
        for (k, v) in form_urlencoded::parse(part) {
            out.insert(k.into_owned(), v.into_owned());
        }
    }
    out
}
