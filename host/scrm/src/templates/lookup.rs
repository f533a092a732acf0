//! The rule other code asks before it accepts a template: does the tenant have it,
//! in that language, approved, and does the send give the parameters it takes.

use scrm_store::{Db, Store, StoreError, TemplateRepo};
use scrm_wire::template::{ParameterFormat, Parameters};
use serde::Serialize;

/// Why a template may not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The tenant has no template of that name.
    #[error(
        "unknown template {name:?} for tenant {tenant:?} ({})",
        known_list(known)
    )]
    Unknown {
        /// The tenant.
        tenant: String,
        /// The name asked for.
        name: String,
        /// The names the tenant has (sorted, each once).
        known: Vec<String>,
    },
    /// The tenant has the template, not in that language.
    #[error("template {name:?} has no language {language:?} (it has: {})", languages.join(", "))]
    UnknownLanguage {
        /// The name.
        name: String,
        /// The language asked for.
        language: String,
        /// The languages it has.
        languages: Vec<String>,
    },
    /// The template exists and is not approved (paused, rejected, pending, …).
    #[error("template {name:?} ({language}) is {status}: only APPROVED templates can be sent")]
    NotApproved {
        /// The name.
        name: String,
        /// The language.
        language: String,
        /// Meta's status.
        status: String,
    },
    /// The send gives another number of body parameters than the template takes.
    #[error("template {name:?} ({language}) takes {} body {}, got {given}", expected, plural(*expected, "parameter"))]
    BodyParams {
        /// The name.
        name: String,
        /// The language.
        language: String,
        /// What it takes.
        expected: usize,
        /// What the send gives.
        given: usize,
    },
    /// A named template's body parameters are not the names it takes.
    #[error("template {name:?} ({language}) takes the body parameters {}; {}", expected.join(", "), name_problems(missing, unexpected))]
    NamedParams {
        /// The name.
        name: String,
        /// The language.
        language: String,
        /// The names it takes.
        expected: Vec<String>,
        /// Names it takes that the send lacks.
        missing: Vec<String>,
        /// Names the send gives that it does not take.
        unexpected: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TemplateError {
    /// A machine-readable code: `unknown_template`, `unknown_template_language`,
    /// `template_not_approved`, `template_parameter_mismatch`, or `store`.
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::Unknown { .. } => "unknown_template",
            TemplateError::UnknownLanguage { .. } => "unknown_template_language",
            TemplateError::NotApproved { .. } => "template_not_approved",
            TemplateError::BodyParams { .. } | TemplateError::NamedParams { .. } => {
                "template_parameter_mismatch"
            }
            TemplateError::Store(_) => "store",
        }
    }
}

/// How many names an error lists before "and N more".
const LISTED: usize = 20;

fn known_list(known: &[String]) -> String {
    match known.len() {
        0 => "the tenant has no templates: sync them (scrm template sync) or add one (scrm template add)".into(),
        n if n <= LISTED => format!("known: {}", known.join(", ")),
        n => format!("known: {}, and {} more", known[..LISTED].join(", "), n - LISTED),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.into()
    } else {
        format!("{word}s")
    }
}

fn name_problems(missing: &[String], unexpected: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected {}", unexpected.join(", ")));
    }
    parts.join("; ")
}

/// An approved template, and what a send of it needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateInfo {
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Meta's category (`MARKETING`, `UTILITY`, `AUTHENTICATION`, …).
    pub category: String,
    /// Its status (`APPROVED`).
    pub status: String,
    /// What a send gives: body parameter count or names, header, buttons.
    pub parameters: Parameters,
}

impl TemplateInfo {
    /// Checks that a send gives `given` body parameters (positional, or the count
    /// of a named template's parameters).
    ///
    /// # Errors
    /// [`TemplateError::BodyParams`] when the template takes another number.
    pub fn check_body_params(&self, given: usize) -> Result<(), TemplateError> {
        if given == self.parameters.body {
            return Ok(());
        }
        Err(TemplateError::BodyParams {
            name: self.name.clone(),
            language: self.language.clone(),
            expected: self.parameters.body,
            given,
        })
    }

    /// Checks that a send gives exactly the named body parameters the template
    /// takes (for a positional template: as many as it takes).
    ///
    /// # Errors
    /// [`TemplateError::NamedParams`] naming what is missing and what is extra, or
    /// [`TemplateError::BodyParams`] for a positional template.
    pub fn check_named_body_params<S: AsRef<str>>(&self, given: &[S]) -> Result<(), TemplateError> {
        if self.parameters.format != ParameterFormat::Named {
            return self.check_body_params(given.len());
        }
        let given: Vec<&str> = given.iter().map(AsRef::as_ref).collect();
        let expected = &self.parameters.body_names;
        let missing: Vec<String> = expected
            .iter()
            .filter(|e| !given.contains(&e.as_str()))
            .cloned()
            .collect();
        let unexpected: Vec<String> = given
            .iter()
            .filter(|g| !expected.iter().any(|e| e == *g))
            .map(|g| g.to_string())
            .collect();
        if missing.is_empty() && unexpected.is_empty() {
            return Ok(());
        }
        Err(TemplateError::NamedParams {
            name: self.name.clone(),
            language: self.language.clone(),
            expected: expected.clone(),
            missing,
            unexpected,
        })
    }
}

/// The tenant's template `name` in `language`, if it is approved: what flow configs
/// and campaigns check before they are saved (then
/// [`TemplateInfo::check_body_params`] for their parameters). Runs inside
/// [`Db::read`] / [`Db::write`] or a transaction.
///
/// # Errors
/// [`TemplateError`] saying why it may not be used: unknown (listing the names the
/// tenant has), not in that language, or not approved.
pub fn require_approved(
    s: &dyn Store,
    tenant: &str,
    name: &str,
    language: &str,
) -> Result<TemplateInfo, TemplateError> {
    let Some(row) = TemplateRepo::get(s, tenant, name, language)? else {
        let keys = TemplateRepo::keys(s, tenant)?;
        let languages: Vec<String> = keys
            .iter()
            .filter(|k| k.name == name)
            .map(|k| k.language.clone())
            .collect();
        if !languages.is_empty() {
            return Err(TemplateError::UnknownLanguage {
                name: name.into(),
                language: language.into(),
                languages,
            });
        }
        let mut known: Vec<String> = keys.into_iter().map(|k| k.name).collect();
        known.dedup();
        return Err(TemplateError::Unknown {
            tenant: tenant.into(),
            name: name.into(),
            known,
        });
    };
    if row.status != "APPROVED" {
        return Err(TemplateError::NotApproved {
            name: row.name,
            language: row.language,
            status: row.status,
        });
    }
    Ok(TemplateInfo {
        parameters: serde_json::from_value(row.parameters).map_err(StoreError::Json)?,
        name: row.name,
        language: row.language,
        category: row.category,
        status: row.status,
    })
}

/// [`require_approved`] on `db`, then (when given) the body parameter count.
///
/// # Errors
/// As [`require_approved`] and [`TemplateInfo::check_body_params`].
pub async fn check(
    db: &Db,
    tenant: &str,
    name: &str,
    language: &str,
    body_params: Option<usize>,
) -> Result<TemplateInfo, TemplateError> {
    let (tenant, name, language) = (tenant.to_owned(), name.to_owned(), language.to_owned());
    let info = db
        .read(move |s| Ok(require_approved(s, &tenant, &name, &language)))
        .await??;
    if let Some(n) = body_params {
        info.check_body_params(n)?;
    }
    Ok(info)
}

/// Checks a template send (a Cloud API message object of type `template`) against
/// the tenant's registry, for every caller of the outbox: the template exists in
/// that language, is approved, and the send gives the body parameters it takes. A
/// tenant with no templates at all (never synced, none added) is not checked:
/// Meta decides.
///
/// # Errors
/// [`TemplateError`] naming what the template expects.
pub fn check_send(
    s: &dyn Store,
    tenant: &str,
    body: &serde_json::Value,
) -> Result<(), TemplateError> {
    let t = &body["template"];
    let (Some(name), Some(language)) = (t["name"].as_str(), t["language"]["code"].as_str()) else {
        return Ok(()); // the message check names the missing field
    };
    if TemplateRepo::keys(s, tenant)?.is_empty() {
        return Ok(());
    }
    let info = require_approved(s, tenant, name, language)?;
    let params: Vec<&serde_json::Value> = t["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["type"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("body"))
        })
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .collect();
    if info.parameters.format == ParameterFormat::Named {
        let names: Vec<&str> = params
            .iter()
            .filter_map(|p| p["parameter_name"].as_str())
            .collect();
        info.check_named_body_params(&names)
    } else {
        info.check_body_params(params.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_store::templates::NewTemplate;
    use scrm_store::testing::backends;

    fn store(db: &Db) {
        db.write_blocking(|s| {
            scrm_store::AppRepo::insert(s, "app", "secret", "verify")?;
            scrm_store::TenantRepo::insert(
                s,
                &scrm_store::tenants::NewTenant {
                    id: "acme".into(),
                    app_id: "app".into(),
                    phone_number_ids: vec!["100".into()],
                    default_region: "IT".into(),
                },
            )?;
            let t = |name: &str, language: &str, status: &str, params: &str| NewTemplate {
                name: name.into(),
                language: language.into(),
                status: status.into(),
                category: "UTILITY".into(),
                parameter_format: if params.contains("NAMED") {
                    "NAMED"
                } else {
                    "POSITIONAL"
                }
                .into(),
                body_params: 2,
                parameters: params.into(),
                components: "[]".into(),
                meta_id: None,
            };
            let positional = r#"{"format":"POSITIONAL","body":2}"#;
            let named = r#"{"format":"NAMED","body":2,"body_names":["first_name","code"]}"#;
            TemplateRepo::replace_synced(
                s,
                "acme",
                "w",
                &[
                    t("order_update", "en_US", "APPROVED", positional),
                    t("order_update", "it", "APPROVED", positional),
                    t("promo", "en_US", "PAUSED", positional),
                    t("welcome", "en", "APPROVED", named),
                ],
                1,
            )?;
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn refuses_unknown_unapproved_and_mismatched_templates_with_the_reason() {
        for t in backends() {
            eprintln!("backend: {}", t.backend);
            store(&t.db);
            let check = |name: &str, language: &str| {
                t.db.read_blocking(|s| Ok(require_approved(s, "acme", name, language)))
                    .unwrap()
            };
            let info = check("order_update", "en_US").unwrap();
            assert_eq!(info.parameters.body, 2);
            info.check_body_params(2).unwrap();
            let e = info.check_body_params(1).unwrap_err();
            assert_eq!(
                e.to_string(),
                "template \"order_update\" (en_US) takes 2 body parameters, got 1"
            );
            assert_eq!(e.code(), "template_parameter_mismatch");

            let e = check("order_updat", "en_US").unwrap_err();
            assert_eq!(
                e.to_string(),
                "unknown template \"order_updat\" for tenant \"acme\" (known: order_update, promo, welcome)"
            );
            assert_eq!(e.code(), "unknown_template");
            let e = check("order_update", "de").unwrap_err();
            assert_eq!(
                e.to_string(),
                "template \"order_update\" has no language \"de\" (it has: en_US, it)"
            );
            let e = check("promo", "en_US").unwrap_err();
            assert_eq!(
                e.to_string(),
                "template \"promo\" (en_US) is PAUSED: only APPROVED templates can be sent"
            );
            assert_eq!(e.code(), "template_not_approved");

            let welcome = check("welcome", "en").unwrap();
            welcome
                .check_named_body_params(&["code", "first_name"])
                .unwrap();
            let e = welcome
                .check_named_body_params(&["first_name", "coupon"])
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                "template \"welcome\" (en) takes the body parameters first_name, code; missing code; unexpected coupon"
            );
        }
    }

    #[test]
    fn a_tenant_without_templates_is_told_how_to_get_them() {
        let e = TemplateError::Unknown {
            tenant: "t".into(),
            name: "x".into(),
            known: vec![],
        };
        assert!(e.to_string().contains("scrm template sync"), "{e}");
        let many: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();
        let e = TemplateError::Unknown {
            tenant: "t".into(),
            name: "x".into(),
            known: many,
        };
        assert!(e.to_string().ends_with("t19, and 5 more)"), "{e}");
    }
}
