//! The tenant's message-template registry: which WhatsApp templates a tenant has,
//! in which languages, whether Meta approved them, and what a send of each needs.
//! Automations and campaigns may only send approved templates, so a flow config or
//! a campaign that names a template is checked here when it is saved.
//!
//! - [`require_approved`] (and [`check`], its async form on a [`Db`]): the lookup
//!   other code calls — `unknown template "x" … (known: a, b, c)`, `template "x"
//!   (en_US) is PAUSED …`; then [`TemplateInfo::check_body_params`] for the number of
//!   body parameters a send gives;
//! - [`TemplateSync`]: fetches every page of the tenant's WABA's list from the Cloud
//!   API (`cloud::templates`) and replaces the stored list in one transaction;
//! - [`add`]: an operator's template file in Meta's format, for tenants whose
//!   templates are not synced, checked with the same wire types.
//!
//! The rows live in `scrm_store::templates`; Meta's wire format in
//! `scrm_wire::template`. Statuses also follow Meta's
//! `message_template_status_update` webhooks (the pipeline applies them).
//!
//! ```no_run
//! # fn demo(db: &scrm_store::Db) -> Result<(), Box<dyn std::error::Error>> {
//! use scrm::templates::{TemplateError, require_approved};
//! let checked = db.read_blocking(|s| Ok(require_approved(s, "acme", "order_update", "en_US")))?;
//! match checked {
//!     Ok(info) => info.check_body_params(2)?,
//!     Err(refusal @ TemplateError::NotApproved { .. }) => println!("refused: {refusal}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```

mod create;
mod lookup;
mod sync;

pub use create::CreateError;
pub use lookup::{TemplateError, TemplateInfo, check, check_send, require_approved};
pub use sync::{SyncError, SyncReport, TemplateSync};

use scrm_store::templates::{NewTemplate, StoredTemplate};
use scrm_store::{Db, Store, StoreError, TemplateRepo};
use scrm_wire::template::{DefinitionError, Status, Template, parse_definition};

/// The row the store keeps for `t`.
///
/// # Errors
/// When the components cannot be written as JSON (they always can).
pub fn new_template(t: &Template) -> Result<NewTemplate, serde_json::Error> {
    let parameters = t.parameters();
    Ok(NewTemplate {
        name: t.name.clone(),
        language: t.language.clone(),
        status: t.status.to_string(),
        category: t.category.to_string(),
        parameter_format: t.parameter_format.to_string(),
        body_params: parameters.body as i64,
        parameters: serde_json::to_string(&parameters)?,
        components: serde_json::to_string(&t.components)?,
        meta_id: t.id.clone(),
    })
}

/// Why an operator's template was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The file is not a valid template (JSON position or field path, and why).
    #[error("invalid template: {0}")]
    Invalid(#[from] DefinitionError),
    /// The file's name or language is not the one the request names.
    #[error("the template's {field} is {given:?}, but the request is for {expected:?}")]
    Mismatch {
        /// `name` or `language`.
        field: &'static str,
        /// The request's.
        expected: String,
        /// The file's.
        given: String,
    },
    /// The store failed (or the tenant does not exist: [`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks an operator's template file (Meta's template object; `status` defaults to
/// `APPROVED`) and stores it for `tenant`, replacing the template of the same name
/// and language; `expected` is the name and language the request names. Returns
/// the stored row and whether it is new.
///
/// # Errors
/// [`AddError`].
pub async fn add(
    db: &Db,
    tenant: &str,
    expected: Option<(&str, &str)>,
    body: &[u8],
) -> Result<(StoredTemplate, bool), AddError> {
    let t = parse_definition(body)?;
    if let Some((name, language)) = expected {
        for (field, want, given) in [("name", name, &t.name), ("language", language, &t.language)] {
            if want != given {
                return Err(AddError::Mismatch {
                    field,
                    expected: want.to_owned(),
                    given: given.clone(),
                });
            }
        }
    }
    let row = new_template(&t).map_err(StoreError::Json)?;
    let tenant = tenant.to_owned();
    let (stored, created) = db
        .write(move |s| {
            let created = TemplateRepo::put(s, &tenant, &row)?;
            let stored = TemplateRepo::get(s, &tenant, &row.name, &row.language)?
                .ok_or(StoreError::NoRows)?;
            Ok((stored, created))
        })
        .await?;
    tracing::info!(name = %stored.name, language = %stored.language, created, "operator template stored");
    Ok((stored, created))
}

/// Moves a stored template to the status a `message_template_status_update`
/// webhook announced at `at` (Unix ms), unless a newer status is known (a late
/// webhook does not undo a later sync); true when it changed. Events that are not
/// statuses (`FLAGGED`) and templates the registry does not have are left alone.
///
/// # Errors
/// On database failure.
pub fn apply_status_webhook(
    s: &dyn Store,
    tenant: &str,
    event: Option<&str>,
    raw: &serde_json::Value,
    at: i64,
) -> Result<bool, StoreError> {
    let status = event.and_then(Status::from_status_event);
    let name = raw["message_template_name"].as_str();
    let language = raw["message_template_language"].as_str();
    let (Some(status), Some(name), Some(language)) = (status, name, language) else {
        return Ok(false);
    };
    let changed = TemplateRepo::apply_status(s, tenant, name, language, status.as_str(), at)?;
    if changed {
        tracing::info!(tenant = %tenant, template = %name, language = %language, status = %status, "template status updated");
    }
    Ok(changed)
}
