//! Credentials that renew themselves: an OAuth 2 refresh token (Zoho, Salesforce)
//! stored as a tenant secret. Plugins' requests carry its access token like any
//! other credential; the host renews the access token with the refresh-token grant
//! (RFC 6749 §6, through the `oauth2` crate) shortly before it expires, and when a
//! server answers 401 to it.
//!
//! The secret's value is JSON: `{"oauth2": {"token_url", "client_id",
//! "client_secret", "refresh_token", "access_token"?, "expires_at"?, …}}`. A renewal
//! replaces the value only if nobody renewed it in between (another host sharing
//! the database), and keeps the secret's age: rotation is about the refresh token
//! and the client secret, which a renewal does not change — unless the server
//! rotates the refresh token, which is then stored as well.

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse};
use scrm_store::{Db, SecretString, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// An OAuth 2 credential as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// The authorization server's token endpoint, e.g.
    /// `https://accounts.zoho.com/oauth/v2/token`.
    pub token_url: String,
    /// The OAuth client's id.
    pub client_id: String,
    /// The OAuth client's secret.
    pub client_secret: String,
    /// The long-lived refresh token.
    pub refresh_token: String,
    /// The current access token, if one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// When the access token expires (Unix ms); unknown when the server does not
    /// say (Salesforce): it is then renewed on a 401 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The access token's lifetime as issued, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_ms: Option<i64>,
    /// When the access token was last renewed (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<i64>,
    /// Why the last renewal failed, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    oauth2: OAuth2,
}

impl OAuth2 {
    /// A credential as an operator gives it, before its first access token.
    pub fn new(
        token_url: String,
        client_id: String,
        client_secret: String,
        refresh_token: String,
    ) -> OAuth2 {
        OAuth2 {
            token_url,
            client_id,
            client_secret,
            refresh_token,
            access_token: None,
            expires_at: None,
            lifetime_ms: None,
            renewed_at: None,
            last_error: None,
        }
    }

    /// The credential a stored secret value holds, if it is one.
    pub fn parse(value: &str) -> Option<OAuth2> {
        if !value.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str::<Stored>(value).ok().map(|s| s.oauth2)
    }

    /// The stored form.
    pub fn to_value(&self) -> String {
        serde_json::to_string(&Stored {
            oauth2: self.clone(),
        })
        .expect("a credential serializes")
    }

    /// Checks what an operator gives.
    ///
    /// # Errors
    /// A message naming the wrong field.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.token_url)
            .map_err(|e| format!("token_url {:?} is not a URL: {e}", self.token_url))?;
        let loopback = url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(format!(
                "token_url must be https:// (http:// only on loopback), not {:?}",
                self.token_url
            ));
        }
        for (field, v) in [
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            if v.trim().is_empty() {
                return Err(format!("{field} must not be empty"));
            }
        }
        Ok(())
    }

    /// The access token while it is good at `now`: not within a quarter of its
    /// lifetime (at most a minute) of expiring.
    pub fn usable(&self, now: i64) -> Option<&str> {
        let token = self.access_token.as_deref()?;
        match self.expires_at {
            None => Some(token),
            Some(at) => {
                let margin = self.lifetime_ms.map_or(60_000, |l| (l / 4).min(60_000));
                (now < at - margin).then_some(token)
            }
        }
    }

    /// Asks the token endpoint for a new access token (on a thread of its own, so it
    /// can be called from any thread). The credential with it, or why not.
    ///
    /// # Errors
    /// The server's error (`invalid_grant: …`), or why no answer came.
    pub fn renewed(&self, now: i64) -> Result<OAuth2, String> {
        let me = self.clone();
        let answer = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("no runtime for the token request: {e}"))?;
            rt.block_on(me.request())
        })
        .join()
        .map_err(|_| "the token request panicked".to_string())??;
        let mut next = self.clone();
        next.access_token = Some(answer.access_token().secret().clone());
        let lifetime = answer
            .expires_in()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        next.lifetime_ms = lifetime;
        next.expires_at = lifetime.map(|l| now.saturating_add(l));
        if let Some(rotated) = answer.refresh_token() {
            next.refresh_token = rotated.secret().clone();
        }
        next.renewed_at = Some(now);
        next.last_error = None;
        Ok(next)
    }

    async fn request(self) -> Result<oauth2::basic::BasicTokenResponse, String> {
        let url = oauth2::TokenUrl::new(self.token_url.clone()).map_err(|e| e.to_string())?;
        // Zoho and Salesforce take the client's id and secret as form fields.
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(url);
        // No redirects: a token endpoint that redirects is not followed (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TOKEN_TIMEOUT)
            .user_agent(concat!("scrm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        client
            .exchange_refresh_token(&RefreshToken::new(self.refresh_token.clone()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => match r.error_description() {
                    Some(d) => format!("{}: {d}", r.error()),
                    None => r.error().to_string(),
                },
                RequestTokenError::Request(e) => format!("no answer from the token endpoint: {e}"),
                RequestTokenError::Parse(e, body) => format!(
                    "the token endpoint's answer is not a token ({e}): {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
                RequestTokenError::Other(e) => e,
            })
    }
}

/// A lock per (tenant, secret name).
type Locks = Mutex<HashMap<(String, String), Arc<Mutex<()>>>>;

/// One renewal at a time per tenant secret in this process.
fn lock_for(tenant: &str, name: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Locks> = OnceLock::new();
    LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((tenant.to_string(), name.to_string()))
        .or_default()
        .clone()
}

/// The value credential `name` of `tenant` sends: the secret, or an OAuth 2
/// credential's access token, renewed first when it is about to expire or when
/// `refused` is the token a server just refused. Blocking.
///
/// # Errors
/// When the database fails. A failed renewal is not an error: it is logged and
/// kept on the credential (`last_error`, shown by the tenant health report), and
/// the old token goes out, so the CRM's 401 reaches the write's retry logic.
pub fn credential(
    db: &Db,
    tenant: &str,
    name: &str,
    refused: Option<&str>,
) -> Result<Option<SecretString>, StoreError> {
    let read = || db.read_blocking(|c| scrm_store::SecretRepo::get(c, tenant, name));
    let Some(value) = read()? else {
        return Ok(None);
    };
    let good = |cred: &OAuth2| -> Option<SecretString> {
        let token = cred.usable(scrm_store::now_ms())?;
        (Some(token) != refused).then(|| SecretString::from(token.to_string()))
    };
    let Some(cred) = OAuth2::parse(&value) else {
        return Ok(Some(SecretString::from(value)));
    };
    if let Some(token) = good(&cred) {
        return Ok(Some(token));
    }
    let lock = lock_for(tenant, name);
    let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
    // Renewed by another call while this one waited?
    let Some(value) = read()? else {
        return Ok(None);
    };
    let Some(cred) = OAuth2::parse(&value) else {
        return Ok(Some(SecretString::from(value)));
    };
    if let Some(token) = good(&cred) {
        return Ok(Some(token));
    }
    let now = scrm_store::now_ms();
    let next = match cred.renewed(now) {
        Ok(next) => {
            tracing::info!(%tenant, secret = %name, "OAuth 2 access token renewed");
            next
        }
        Err(why) => {
            tracing::warn!(%tenant, secret = %name, error = %why, "cannot renew an OAuth 2 access token");
            let mut failed = cred.clone();
            failed.last_error = Some(why);
            let new = failed.to_value();
            db.write_blocking(|c| scrm_store::SecretRepo::renew(c, tenant, name, &value, &new))?;
            return Ok(cred.access_token.map(SecretString::from));
        }
    };
    let new = next.to_value();
    let stored =
        db.write_blocking(|c| scrm_store::SecretRepo::renew(c, tenant, name, &value, &new))?;
    if !stored {
        // Another host renewed it meanwhile; its token is as good as this one.
        if let Some(theirs) = read()?.as_deref().and_then(OAuth2::parse)
            && let Some(token) = theirs.access_token
        {
            return Ok(Some(SecretString::from(token)));
        }
    }
    Ok(next.access_token.map(SecretString::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred() -> OAuth2 {
        OAuth2 {
            token_url: "https://accounts.zoho.com/oauth/v2/token".into(),
            client_id: "1000.ABC".into(),
            client_secret: "s3cret".into(),
            refresh_token: "1000.rt".into(),
            access_token: Some("1000.at".into()),
            expires_at: Some(3_600_000),
            lifetime_ms: Some(3_600_000),
            renewed_at: Some(0),
            last_error: None,
        }
    }

    #[test]
    fn a_stored_credential_round_trips_and_a_plain_token_is_not_one() {
        let c = cred();
        assert_eq!(OAuth2::parse(&c.to_value()), Some(c));
        assert_eq!(OAuth2::parse("pat-na1-0123"), None);
        assert_eq!(OAuth2::parse("{\"value\": 1}"), None);
    }

    #[test]
    fn the_token_is_renewed_a_minute_or_a_quarter_of_its_life_before_it_expires() {
        let mut c = cred();
        assert_eq!(c.usable(3_539_999), Some("1000.at"));
        assert_eq!(c.usable(3_540_000), None);
        c.lifetime_ms = Some(4_000);
        c.expires_at = Some(4_000);
        assert_eq!(c.usable(2_999), Some("1000.at"));
        assert_eq!(c.usable(3_000), None);
        c.expires_at = None;
        assert_eq!(
            c.usable(i64::MAX),
            Some("1000.at"),
            "no expiry: until refused"
        );
        c.access_token = None;
        assert_eq!(c.usable(0), None);
    }

    #[test]
    fn only_https_token_urls_and_complete_credentials_are_accepted() {
        assert!(cred().validate().is_ok());
        let mut c = cred();
        c.token_url = "http://accounts.zoho.com/oauth/v2/token".into();
        assert!(c.validate().unwrap_err().contains("https://"));
        c.token_url = "http://127.0.0.1:9/token".into();
        assert!(c.validate().is_ok());
        c.refresh_token = " ".into();
        assert!(c.validate().unwrap_err().contains("refresh_token"));
    }
}
