//! Email out: weekly reports and alerts to the addresses each tenant set, through the
//! host's SMTP server (`[smtp]`, `config::Smtp`), with lettre.

use crate::config::Smtp;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A recipient that is not an address.
    #[error("{0:?} is not an email address")]
    Address(String),
    /// The message could not be built.
    #[error("cannot build the email: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused it or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// A file to attach.
#[derive(Debug, Clone)]
pub struct File {
    /// Its name.
    pub name: String,
    /// Its MIME type.
    pub mime: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// An email to send.
#[derive(Debug, Clone)]
pub struct Email {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, when there is one.
    pub html: Option<String>,
    /// Attachments.
    pub files: Vec<File>,
}

/// Sends email through the host's SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// `true` when `address` is an email address.
pub fn valid_address(address: &str) -> bool {
    address.parse::<Mailbox>().is_ok()
}

impl Mailer {
    /// A mailer for `smtp`.
    ///
    /// # Errors
    /// A URL lettre does not accept (checked when the configuration loaded).
    pub fn new(smtp: &Smtp) -> Result<Mailer, MailError> {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp.url.expose_secret())?.build();
        Ok(Mailer {
            transport,
            from: smtp.from.clone(),
        })
    }

    /// Sends `email` (one message to all its recipients).
    ///
    /// # Errors
    /// A bad recipient, or the server's refusal.
    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(email.subject);
        for to in &email.to {
            b = b.to(to.parse().map_err(|_| MailError::Address(to.clone()))?);
        }
        let body = match email.html {
            Some(html) => MultiPart::alternative_plain_html(email.text, html),
            None => MultiPart::mixed().singlepart(SinglePart::plain(email.text)),
        };
        let mut all = MultiPart::mixed().multipart(body);
        for f in email.files {
            let mime = ContentType::parse(f.mime).unwrap_or(ContentType::TEXT_PLAIN);
            all = all.singlepart(Attachment::new(f.name).body(f.bytes, mime));
        }
        self.transport.send(b.multipart(all)?).await?;
        Ok(())
    }
}
