//! A WhatsApp Business Account's message templates from the Graph API:
//! `GET /{version}/{waba-id}/message_templates`, every page.
//!
//! Pages are followed by their cursor: while an answer has `paging.next`, the next
//! request asks the same endpoint for `after=<paging.cursors.after>`. The `next` URL
//! itself is not fetched: it names Meta's host, and the bearer token goes only to
//! the endpoint the tenant is configured with (a local server in the tests, a
//! backup base URL during failover).

use super::client::{CloudClient, Endpoint};
use scrm_wire::graph::SendError;
use scrm_wire::template::{Skipped, Template, parse_page};

/// The fields asked for: what the registry keeps.
const FIELDS: &str = "id,name,language,status,category,parameter_format,components";

/// Templates asked for per page.
const PAGE_SIZE: &str = "100";

/// Pages followed at most (10,000 templates, far above Meta's limit per account):
/// a server whose cursor never ends cannot keep a sync going for ever.
const MAX_PAGES: u32 = 100;

/// Every template of an account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// The templates that could be read, in Meta's order.
    pub templates: Vec<Template>,
    /// The ones that could not, with why (`index` is the position on its page).
    pub skipped: Vec<Skipped>,
    /// How many pages were read.
    pub pages: u32,
}

impl CloudClient {
    /// Reads every page of the template list of `waba_id` with `token`.
    ///
    /// # Errors
    /// [`SendError`] with Meta's code when Meta refused a page, why no answer came,
    /// or [`SendError::InvalidResponse`] for an answer that is not a template list
    /// (or whose cursor repeats, or that goes on past 100 pages). Nothing is
    /// returned then: a partial list must not replace a whole one.
    pub async fn message_templates(
        &self,
        ep: &Endpoint,
        waba_id: &str,
        token: &str,
    ) -> Result<Fetched, SendError> {
        let url = ep.url(&format!("{waba_id}/message_templates"));
        let mut out = Fetched::default();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("fields", FIELDS), ("limit", PAGE_SIZE)];
            if let Some(a) = &after {
                query.push(("after", a));
            }
            let body = self.get(&url, &query, token).await?;
            let page = parse_page(&body).map_err(|e| SendError::InvalidResponse(e.to_string()))?;
            out.pages += 1;
            out.templates.extend(page.templates);
            out.skipped.extend(page.skipped);
            match page.next_after {
                None => return Ok(out),
                Some(next) if after.as_ref() == Some(&next) => {
                    return Err(SendError::InvalidResponse(format!(
                        "the template list's next page has the same cursor as this one ({next})"
                    )));
                }
                Some(_) if out.pages >= MAX_PAGES => {
                    return Err(SendError::InvalidResponse(format!(
                        "the template list goes on past {MAX_PAGES} pages"
                    )));
                }
                Some(next) => after = Some(next),
            }
        }
    }
}
