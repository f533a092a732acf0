//! Tracked links: when a send is queued and the host has a `public_url` (and the
//! tenant has not turned tracking off), every http(s) URL in the message's text is
//! replaced by `{public_url}/l/{token}`; `GET /l/{token}` redirects to the original
//! and records the click ([`record_click`]).
//!
//! What is rewritten (see docs/links.md):
//! - `text.body`;
//! - `interactive.body.text`, `interactive.footer.text`, `interactive.header.text`
//!   and a `cta_url` message's `interactive.action.parameters.url`;
//! - a template's URL button parameters (`components[type=button, sub_type=url]
//!   .parameters[type=text].text`) only when the parameter is itself a whole http(s)
//!   URL: usually it is a suffix appended to the base URL approved with the
//!   template at Meta, which the host cannot see, so it is left as it is.
//!
//! URLs in text are found with `linkify` (trailing punctuation and brackets stay
//! outside the link). One token stands for one URL of one message (a URL written
//! twice in a message gets one token). Links already pointing at
//! `{public_url}/l/…` are left alone. A field whose rewritten text would pass
//! Meta's length limit for it keeps its original links: tracking never makes a
//! send fail. Tokens are 128 bits from the thread's CSPRNG (`rand`, seeded from the
//! operating system), URL-safe base64 without padding: 22 characters.

use crate::config::PublicUrl;
use base64::Engine as _;
use linkify::{LinkFinder, LinkKind};
use rand::RngCore;
use scrm_store::links::{LinkClick, NewLink};
use scrm_store::{LinkRepo, Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 16;
/// Characters in a token (URL-safe base64 of [`TOKEN_BYTES`], no padding).
pub const TOKEN_CHARS: usize = 22;

/// Meta's limits on the text fields links are rewritten in, in characters.
const TEXT_BODY_MAX: usize = scrm_wire::outbound::MAX_TEXT;
const INTERACTIVE_BODY_MAX: usize = 1024;
const INTERACTIVE_HEADER_FOOTER_MAX: usize = 60;

/// A new unguessable token.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `s` has the shape of a token (so anything else is refused without a
/// database read).
pub fn is_token(s: &str) -> bool {
    s.len() == TOKEN_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a `User-Agent` is a link-preview fetcher (WhatsApp building a preview,
/// a social network or chat app unfurling a forwarded link, a search crawler)
/// rather than a person following the link: it is redirected but not counted.
pub fn is_preview_fetcher(user_agent: &str) -> bool {
    const FETCHERS: &[&str] = &[
        "whatsapp/",
        "facebookexternalhit",
        "facebot",
        "meta-externalagent",
        "telegrambot",
        "twitterbot",
        "slackbot",
        "discordbot",
        "linkedinbot",
        "skypeuripreview",
        "googlebot",
        "bingbot",
        "applebot",
        "embedly",
        "iframely",
    ];
    let ua = user_agent.to_ascii_lowercase();
    FETCHERS.iter().any(|f| ua.contains(f))
}

/// Rewrites the links of a checked send's `body` (of message type `kind`) for
/// `tenant` when `public_url` is set and the tenant tracks links; the links to
/// store once the send is queued (none when nothing was rewritten).
///
/// # Errors
/// On database failure.
pub(super) fn track(
    c: &dyn Store,
    tenant: &str,
    kind: &str,
    body: &mut Value,
    public_url: Option<&PublicUrl>,
) -> Result<Vec<NewLink>, StoreError> {
    let Some(base) = public_url else {
        return Ok(Vec::new());
    };
    if !matches!(kind, "text" | "template" | "interactive") {
        return Ok(Vec::new());
    }
    if LinkRepo::tracking(c, tenant)? != Some(true) {
        return Ok(Vec::new());
    }
    Ok(rewrite(body, kind, base, new_token))
}

/// Records a click on the link `token` at `at` (Unix ms) with the browser's user
/// agent, in the caller's transaction (see [`crate::automation::record_click`],
/// which queues the flows' `link-clicked` event with it); the click with its link's
/// URL, message and contact, or `None` for an unknown token (nothing is written).
///
/// # Errors
/// On database failure.
pub fn record_click(
    tx: &dyn Store,
    token: &str,
    user_agent: Option<&str>,
    at: i64,
) -> Result<Option<LinkClick>, StoreError> {
    LinkRepo::record_click(tx, token, user_agent, at)
}

/// Rewrites the links of `body` (of message type `kind`) to `base`'s tracked links,
/// with tokens from `token`; the links made.
pub(crate) fn rewrite(
    body: &mut Value,
    kind: &str,
    base: &PublicUrl,
    token: impl FnMut() -> String,
) -> Vec<NewLink> {
    let mut r = Rewriter {
        base,
        token,
        finder: url_finder(),
        links: Vec::new(),
        by_url: HashMap::new(),
    };
    match kind {
        "text" => r.text_at(body.pointer_mut("/text/body"), TEXT_BODY_MAX),
        "interactive" => r.interactive(body.get_mut("interactive")),
        "template" => r.template(body.pointer_mut("/template/components")),
        _ => {}
    }
    r.links
}

fn url_finder() -> LinkFinder {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    finder
}

/// Whether `s` starts with `http://` or `https://`, in any case.
fn is_http(s: &str) -> bool {
    let head = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    head(7).as_deref() == Some("http://") || head(8).as_deref() == Some("https://")
}

struct Rewriter<'a, F> {
    base: &'a PublicUrl,
    token: F,
    finder: LinkFinder,
    links: Vec<NewLink>,
    /// Index in `links` of each URL's token, so a URL repeated in one message gets one.
    by_url: HashMap<String, usize>,
}

impl<F: FnMut() -> String> Rewriter<'_, F> {
    /// An http(s) URL, not tracked yet, that the redirect can send a browser to.
    fn trackable(&self, url: &str) -> bool {
        is_http(url) && !self.base.is_link(url) && url::Url::parse(url).is_ok()
    }

    /// The tracked link standing for `url`, made on first use.
    fn link_for(&mut self, url: &str) -> String {
        let i = match self.by_url.get(url) {
            Some(i) => *i,
            None => {
                self.links.push(NewLink {
                    token: (self.token)(),
                    url: url.to_owned(),
                });
                self.by_url.insert(url.to_owned(), self.links.len() - 1);
                self.links.len() - 1
            }
        };
        self.base.link(&self.links[i].token)
    }

    /// Rewrites the URLs inside the string at `field`, unless the result would be
    /// longer than `max` characters.
    fn text_at(&mut self, field: Option<&mut Value>, max: usize) {
        let Some(Value::String(text)) = field else {
            return;
        };
        let urls: Vec<(usize, usize)> = self
            .finder
            .links(text)
            .filter(|l| self.trackable(l.as_str()))
            .map(|l| (l.start(), l.end()))
            .collect();
        if urls.is_empty() {
            return;
        }
        let link_chars = self.base.link(&"x".repeat(TOKEN_CHARS)).chars().count();
        let removed: usize = urls.iter().map(|(s, e)| text[*s..*e].chars().count()).sum();
        if text.chars().count() - removed + urls.len() * link_chars > max {
            tracing::debug!(
                max,
                "links left untracked: the tracked text would be too long"
            );
            return;
        }
        let mut out = String::with_capacity(text.len() + urls.len() * link_chars);
        let mut at = 0;
        for (start, end) in urls {
            out.push_str(&text[at..start]);
            let link = self.link_for(&text[start..end]);
            out.push_str(&link);
            at = end;
        }
        out.push_str(&text[at..]);
        *text = out;
    }

    /// Rewrites the string at `field` when it is, as a whole, a trackable URL.
    fn url_at(&mut self, field: Option<&mut Value>) {
        let Some(Value::String(url)) = field else {
            return;
        };
        let trimmed = url.trim();
        // A whole URL: no spaces, and the finder sees all of it as one link.
        let whole = self
            .finder
            .links(trimmed)
            .next()
            .is_some_and(|l| l.start() == 0 && l.end() == trimmed.len());
        if whole && self.trackable(trimmed) {
            *url = self.link_for(trimmed);
        }
    }

    fn interactive(&mut self, interactive: Option<&mut Value>) {
        let Some(i) = interactive else {
            return;
        };
        self.text_at(i.pointer_mut("/body/text"), INTERACTIVE_BODY_MAX);
        self.text_at(i.pointer_mut("/footer/text"), INTERACTIVE_HEADER_FOOTER_MAX);
        if i.pointer("/header/type").and_then(Value::as_str) == Some("text") {
            self.text_at(i.pointer_mut("/header/text"), INTERACTIVE_HEADER_FOOTER_MAX);
        }
        if i.get("type").and_then(Value::as_str) == Some("cta_url") {
            self.url_at(i.pointer_mut("/action/parameters/url"));
        }
    }

    fn template(&mut self, components: Option<&mut Value>) {
        let Some(Value::Array(components)) = components else {
            return;
        };
        for c in components {
            let is_url_button = c.get("type").and_then(Value::as_str) == Some("button")
                && c.get("sub_type")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case("url"));
            if !is_url_button {
                continue;
            }
            let Some(Value::Array(params)) = c.get_mut("parameters") else {
                continue;
            };
            for p in params {
                if p.get("type").and_then(Value::as_str) == Some("text") {
                    self.url_at(p.get_mut("text"));
                }
            }
        }
    }
}
