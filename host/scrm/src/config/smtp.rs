//! Where the host sends email from (weekly reports, alerts): an SMTP server as a URL
//! in lettre's form, and the sender's address.
//!
//! ```toml
//! [smtp]
//! url = "smtp://reports%40example.com:password@mail.example.com:587?tls=required"  # or SCRM_SMTP_URL
//! from = "scrm reports <reports@example.com>"                                        # or SCRM_SMTP_FROM
//! ```
//!
//! `smtp://` with `?tls=required` uses STARTTLS, `smtps://` TLS from the first byte,
//! plain `smtp://` no TLS (a relay on the same machine). Without `[smtp]` nothing
//! is emailed: reports are still stored and alerts still listed and posted to the
//! tenants' webhooks.

use super::ConfigError;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// `[smtp]` as the file writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    /// The server, as a URL.
    pub url: Option<SecretString>,
    /// The sender.
    pub from: Option<String>,
}

/// The SMTP server the host sends through.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// The server, as a URL (it may hold a password).
    pub url: SecretString,
    /// The sender.
    pub from: Mailbox,
}

impl Smtp {
    /// From the file's `[smtp]` and the environment's values (which win); `None`
    /// when no URL is set.
    ///
    /// # Errors
    /// A URL lettre does not accept, a missing or invalid sender.
    pub fn resolve(
        file: SmtpFile,
        url: Option<SecretString>,
        from: Option<String>,
    ) -> Result<Option<Smtp>, ConfigError> {
        let Some(url) = url
            .or(file.url)
            .filter(|u| !u.expose_secret().trim().is_empty())
        else {
            return Ok(None);
        };
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| ConfigError::Invalid(format!("smtp.url is not an SMTP URL: {e}")))?;
        let from = from.or(file.from).ok_or_else(|| {
            ConfigError::Invalid("smtp.from (or SCRM_SMTP_FROM) is required with smtp.url".into())
        })?;
        let from = from.parse::<Mailbox>().map_err(|e| {
            ConfigError::Invalid(format!("smtp.from {from:?} is not an email address: {e}"))
        })?;
        Ok(Some(Smtp { url, from }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str, from: Option<&str>) -> SmtpFile {
        SmtpFile {
            url: Some(SecretString::from(url)),
            from: from.map(str::to_owned),
        }
    }

    #[test]
    fn urls_and_senders_are_checked() {
        assert!(
            Smtp::resolve(SmtpFile::default(), None, None)
                .unwrap()
                .is_none()
        );
        let s = Smtp::resolve(
            file("smtp://127.0.0.1:2525", Some("scrm <r@example.com>")),
            None,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.from.email.to_string(), "r@example.com");
        let e = Smtp::resolve(file("http://x", Some("r@example.com")), None, None).unwrap_err();
        assert!(e.to_string().contains("smtp.url"), "{e}");
        let e = Smtp::resolve(file("smtp://127.0.0.1", None), None, None).unwrap_err();
        assert!(e.to_string().contains("smtp.from"), "{e}");
        let e = Smtp::resolve(file("smtp://127.0.0.1", Some("not an address")), None, None)
            .unwrap_err();
        assert!(e.to_string().contains("not an email address"), "{e}");
        let env = Smtp::resolve(
            SmtpFile::default(),
            Some("smtps://mail.example.com".into()),
            Some("a@b.example".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(env.url.expose_secret(), "smtps://mail.example.com");
    }
}
