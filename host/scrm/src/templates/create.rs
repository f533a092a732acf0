//! Creating a template at Meta (`POST /{version}/{waba-id}/message_templates`) and
//! keeping it in the registry with the status Meta answers (`PENDING` until its
//! review ends; the status webhook moves it on).

use super::new_template;
use super::sync::{SyncError, TemplateSync};
use scrm_store::templates::StoredTemplate;
use scrm_store::{StoreError, TemplateRepo};
use scrm_wire::graph::SendError;
use scrm_wire::template::{DefinitionError, Status, parse_definition};
use serde_json::{Value, json};

/// Why a template was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The file is not a valid template.
    #[error("invalid template: {0}")]
    Invalid(#[from] DefinitionError),
    /// No account, no token, or Meta refused (its code and message).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Meta answered something that is not a created template.
    #[error("Meta's answer to the creation is not a template id and status: {0}")]
    Answer(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TemplateSync {
    /// Creates the template `body` describes (Meta's template object: `name`,
    /// `language`, `category`, `components`, optionally `parameter_format`) in the
    /// tenant's WhatsApp Business Account, and stores it with Meta's id and status.
    ///
    /// # Errors
    /// [`CreateError`]; nothing is stored then.
    pub async fn create(&self, tenant: &str, body: &[u8]) -> Result<StoredTemplate, CreateError> {
        let mut t = parse_definition(body)?;
        let given: Value = serde_json::from_slice(body).map_err(StoreError::Json)?;
        let mut request = json!({
            "name": t.name, "language": t.language, "category": given["category"],
            "components": given["components"],
        });
        if let Some(f) = given.get("parameter_format") {
            request["parameter_format"] = f.clone();
        }
        let source = self.source(tenant, None).await?;
        let url = source
            .endpoint
            .url(&format!("{}/message_templates", source.waba_id));
        let graph = |error: SendError| SyncError::Graph {
            waba_id: source.waba_id.clone(),
            error,
        };
        let answer = self
            .client
            .post_json(&url, &request, &source.token)
            .await
            .map_err(graph)?;
        let answer: Value =
            serde_json::from_slice(&answer).map_err(|e| CreateError::Answer(e.to_string()))?;
        let (Some(id), Some(status)) = (answer["id"].as_str(), answer["status"].as_str()) else {
            return Err(CreateError::Answer(answer.to_string()));
        };
        t.id = Some(id.to_owned());
        t.status = Status::from(status.to_string());
        let row = new_template(&t).map_err(StoreError::Json)?;
        let tenant = tenant.to_owned();
        let stored = self
            .db
            .write(move |s| {
                TemplateRepo::put(s, &tenant, &row)?;
                TemplateRepo::get(s, &tenant, &row.name, &row.language)?.ok_or(StoreError::NoRows)
            })
            .await?;
        tracing::info!(name = %stored.name, language = %stored.language, status = %stored.status, "template created at Meta");
        Ok(stored)
    }
}
