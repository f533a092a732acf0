//! A tenant's message templates: the registry automations and campaigns check a
//! template against before they are saved, and the WhatsApp Business Account (WABA)
//! the templates are synced from.
//!
//! A row is one template name in one language. Rows come from Meta (`source`
//! `meta`, written by [`replace_synced`]: the whole list at once, so a template
//! deleted at Meta is deleted here) or from the operator (`operator`, written by
//! [`put`] for tenants without a synced WABA; a sync keeps them, unless Meta has
//! the same name and language, whose row then becomes Meta's). A template's status
//! also moves with Meta's `message_template_status_update` webhooks
//! ([`apply_status`]); `status_at` keeps a late webhook from undoing a newer status.
//!
//! The store keeps what it is given: the caller (`scrm::templates`) parses Meta's
//! objects with `scrm_wire::template` and hands in the derived parameter summary.

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;
use serde_json::Value;

/// A template to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Meta's status (`APPROVED`, `PAUSED`, …).
    pub status: String,
    /// Meta's category (`MARKETING`, `UTILITY`, `AUTHENTICATION`, …).
    pub category: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// How many body parameters a send gives.
    pub body_params: i64,
    /// What a send needs, JSON.
    pub parameters: String,
    /// The components, JSON.
    pub components: String,
    /// Meta's id for it.
    pub meta_id: Option<String>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredTemplate {
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Meta's status.
    pub status: String,
    /// Meta's category.
    pub category: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// How many body parameters a send gives.
    pub body_params: i64,
    /// What a send needs (see `scrm_wire::template::Parameters`).
    pub parameters: Value,
    /// The components as Meta describes them.
    pub components: Value,
    /// Meta's id for it.
    pub meta_id: Option<String>,
    /// `meta` (synced) or `operator` (added by hand).
    pub source: String,
    /// When its status was last learned, Unix ms.
    pub status_at: i64,
    /// When a sync or an add last wrote it, Unix ms.
    pub synced_at: i64,
}

/// One template's name, language and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateKey {
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Meta's status.
    pub status: String,
}

/// Where a tenant's templates come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateAccount {
    /// The WABA recorded for the tenant (by the first successful sync that named it).
    pub waba_id: Option<String>,
    /// When the last sync succeeded, Unix ms.
    pub synced_at: Option<i64>,
    /// The WABAs the tenant's webhooks came from (`entry[].id`), sorted.
    pub seen_waba_ids: Vec<String>,
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Replaced {
    /// Templates new to the registry.
    pub added: u64,
    /// Templates whose status, category, components or id changed (or that had
    /// been added by the operator).
    pub updated: u64,
    /// Templates that were already as Meta has them.
    pub unchanged: u64,
    /// Synced templates Meta no longer has, now deleted.
    pub removed: Vec<TemplateKey>,
}

const COLUMNS: &str = "name, language, status, category, parameter_format, body_params, \
                       parameters, components, meta_id, source, status_at, synced_at";

fn stored(r: &Row<'_>) -> Result<StoredTemplate, StoreError> {
    Ok(StoredTemplate {
        name: r.get(0)?,
        language: r.get(1)?,
        status: r.get(2)?,
        category: r.get(3)?,
        parameter_format: r.get(4)?,
        body_params: r.get(5)?,
        parameters: serde_json::from_str(&r.get::<String>(6)?)?,
        components: serde_json::from_str(&r.get::<String>(7)?)?,
        meta_id: r.get(8)?,
        source: r.get(9)?,
        status_at: r.get(10)?,
        synced_at: r.get(11)?,
    })
}

/// The tenant's WABA, last sync and the WABAs its webhooks came from; `None` for an
/// unknown tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn account(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Option<TemplateAccount>, StoreError> {
    let Some((waba_id, synced_at)) = conn.query_opt(
        "SELECT waba_id, templates_synced_at FROM tenants WHERE id = ?1",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?
    else {
        return Ok(None);
    };
    let seen_waba_ids = conn.query(
        "SELECT DISTINCT waba_id FROM waba_numbers WHERE tenant_id = ?1 ORDER BY waba_id",
        params![tenant],
        |r| r.get(0),
    )?;
    Ok(Some(TemplateAccount {
        waba_id,
        synced_at,
        seen_waba_ids,
    }))
}

/// Replaces the tenant's synced templates with `templates`, fetched from `waba_id`
/// starting at `at` (Unix ms), and records the WABA and the sync, in one
/// transaction: synced templates not in the list are deleted; operator templates
/// stay unless the list has one of the same name and language. A status learned
/// from a webhook after `at` is kept.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown tenant; otherwise on database failure
/// (and then nothing changed).
pub(crate) fn replace_synced(
    conn: &Conn<'_>,
    tenant: &str,
    waba_id: &str,
    templates: &[NewTemplate],
    at: i64,
) -> Result<Replaced, StoreError> {
    conn.tx(|tx| {
        tx.lock(&format!("templates:{tenant}"))?;
        if tx.execute(
            "UPDATE tenants SET waba_id = ?2, templates_synced_at = ?3 WHERE id = ?1",
            params![tenant, waba_id, now_ms()],
        )? == 0
        {
            return Err(StoreError::NotFound {
                what: "tenant",
                id: tenant.to_owned(),
            });
        }
        let before = tx.query(
            &format!("SELECT {COLUMNS} FROM templates WHERE tenant_id = ?1"),
            params![tenant],
            stored,
        )?;
        let mut out = Replaced::default();
        for t in templates {
            match before
                .iter()
                .find(|b| b.name == t.name && b.language == t.language)
            {
                None => out.added += 1,
                Some(b) if same(b, t)? => out.unchanged += 1,
                Some(_) => out.updated += 1,
            }
            upsert(tx, tenant, t, "meta", at)?;
        }
        for b in before.iter().filter(|b| b.source == "meta") {
            if !templates
                .iter()
                .any(|t| t.name == b.name && t.language == b.language)
            {
                tx.execute(
                    "DELETE FROM templates WHERE tenant_id = ?1 AND name = ?2 AND language = ?3",
                    params![tenant, b.name, b.language],
                )?;
                out.removed.push(TemplateKey {
                    name: b.name.clone(),
                    language: b.language.clone(),
                    status: b.status.clone(),
                });
            }
        }
        Ok(out)
    })
}

/// Whether the stored row already is what Meta has.
fn same(b: &StoredTemplate, t: &NewTemplate) -> Result<bool, StoreError> {
    Ok(b.source == "meta"
        && b.status == t.status
        && b.category == t.category
        && b.parameter_format == t.parameter_format
        && b.meta_id == t.meta_id
        && b.components == serde_json::from_str::<Value>(&t.components)?)
}

fn upsert(
    conn: &Conn<'_>,
    tenant: &str,
    t: &NewTemplate,
    source: &str,
    at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO templates (tenant_id, name, language, status, category, parameter_format,
                                body_params, parameters, components, meta_id, source, status_at, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
         ON CONFLICT (tenant_id, name, language) DO UPDATE SET
             status = CASE WHEN templates.status_at > excluded.status_at
                           THEN templates.status ELSE excluded.status END,
             status_at = greatest(templates.status_at, excluded.status_at),
             category = excluded.category,
             parameter_format = excluded.parameter_format,
             body_params = excluded.body_params,
             parameters = excluded.parameters,
             components = excluded.components,
             meta_id = excluded.meta_id,
             source = excluded.source,
             synced_at = excluded.synced_at",
        params![
            tenant,
            t.name,
            t.language,
            t.status,
            t.category,
            t.parameter_format,
            t.body_params,
            t.parameters,
            t.components,
            t.meta_id,
            source,
            at
        ],
    )?;
    Ok(())
}

/// Stores an operator's template (replacing the row of the same name and language,
/// whatever its source); true when it is new.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown tenant; otherwise on database failure.
pub(crate) fn put(conn: &Conn<'_>, tenant: &str, t: &NewTemplate) -> Result<bool, StoreError> {
    conn.tx(|tx| {
        tx.lock(&format!("templates:{tenant}"))?;
        if super::tenants::get(tx, tenant)?.is_none() {
            return Err(StoreError::NotFound {
                what: "tenant",
                id: tenant.to_owned(),
            });
        }
        let existed = get(tx, tenant, &t.name, &t.language)?.is_some();
        // The operator's word is the newest status there is.
        let at = now_ms();
        tx.execute(
            "DELETE FROM templates WHERE tenant_id = ?1 AND name = ?2 AND language = ?3",
            params![tenant, t.name, t.language],
        )?;
        upsert(tx, tenant, t, "operator", at)?;
        Ok(!existed)
    })
}

/// Deletes one template; true when it existed.
///
/// # Errors
/// On database failure.
pub(crate) fn delete(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    language: &str,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM templates WHERE tenant_id = ?1 AND name = ?2 AND language = ?3",
        params![tenant, name, language],
    )? == 1)
}

/// One template.
///
/// # Errors
/// On database failure.
pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    language: &str,
) -> Result<Option<StoredTemplate>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM templates WHERE tenant_id = ?1 AND name = ?2 AND language = ?3"
        ),
        params![tenant, name, language],
        stored,
    )
}

/// The tenant's templates by name and language; only those with `status` when given.
///
/// # Errors
/// On database failure.
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    status: Option<&str>,
) -> Result<Vec<StoredTemplate>, StoreError> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM templates WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY name, language"
        ),
        params![tenant, status],
        stored,
    )
}

/// The name, language and status of each of the tenant's templates, by name and
/// language.
///
/// # Errors
/// On database failure.
pub(crate) fn keys(conn: &Conn<'_>, tenant: &str) -> Result<Vec<TemplateKey>, StoreError> {
    conn.query(
        "SELECT name, language, status FROM templates WHERE tenant_id = ?1 ORDER BY name, language",
        params![tenant],
        |r| {
            Ok(TemplateKey {
                name: r.get(0)?,
                language: r.get(1)?,
                status: r.get(2)?,
            })
        },
    )
}

/// Sets a stored template's status as Meta announced it at `at` (Unix ms), unless a
/// newer status is known; true when it changed. Unknown templates are left alone
/// (the next sync brings them).
///
/// # Errors
/// On database failure.
pub(crate) fn apply_status(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    language: &str,
    status: &str,
    at: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE templates SET status = ?4, status_at = ?5
         WHERE tenant_id = ?1 AND name = ?2 AND language = ?3 AND status_at <= ?5",
        params![tenant, name, language, status, at],
    )? == 1)
}

crate::repo! {
    /// A tenant's message templates and the WABA they are synced from.
    pub trait TemplateRepo {
        /// The tenant's WABA, last sync and the WABAs its webhooks came from; `None`
        /// for an unknown tenant.
        fn account(tenant: &str) -> Result<Option<TemplateAccount>, StoreError>;
        /// Replaces the tenant's synced templates with `templates` (fetched from
        /// `waba_id` from `at` on) and records the WABA, in one transaction.
        fn replace_synced(tenant: &str, waba_id: &str, templates: &[NewTemplate], at: i64) -> Result<Replaced, StoreError>;
        /// Stores an operator's template; true when it is new.
        fn put(tenant: &str, t: &NewTemplate) -> Result<bool, StoreError>;
        /// Deletes one template; true when it existed.
        fn delete(tenant: &str, name: &str, language: &str) -> Result<bool, StoreError>;
        /// One template.
        fn get(tenant: &str, name: &str, language: &str) -> Result<Option<StoredTemplate>, StoreError>;
        /// The tenant's templates by name and language; only those with `status` when given.
        fn list(tenant: &str, status: Option<&str>) -> Result<Vec<StoredTemplate>, StoreError>;
        /// The name, language and status of each of the tenant's templates.
        fn keys(tenant: &str) -> Result<Vec<TemplateKey>, StoreError>;
        /// Sets a template's status as Meta announced it at `at`, unless a newer one is known.
        fn apply_status(tenant: &str, name: &str, language: &str, status: &str, at: i64) -> Result<bool, StoreError>;
    }
}

#[cfg(test)]
mod tests;
