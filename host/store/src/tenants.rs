//! Tenants and the business phone numbers that route webhooks to them.

use super::{StoreError, conflict_on_unique, now_ms};
use crate::params;
use crate::sql::Conn;
use serde::Serialize;

/// A tenant: one business, its Meta app, its numbers and its default region.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tenant {
    /// The operator's id for the tenant.
    pub id: String,
    /// The Meta app whose webhooks carry this tenant's traffic.
    pub app_id: String,
    /// WhatsApp phone number ids (Meta's `phone_number_id`) owned by this tenant.
    pub phone_number_ids: Vec<String>,
    /// ISO 3166 region used to normalise numbers written without a country code.
    pub default_region: String,
    /// When it was added, Unix ms.
    pub created_at: i64,
}

/// A tenant to add.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Id.
    pub id: String,
    /// Meta app id.
    pub app_id: String,
    /// Phone number ids.
    pub phone_number_ids: Vec<String>,
    /// Default region.
    pub default_region: String,
}

/// Adds a tenant and its phone numbers in one transaction.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown app, [`StoreError::Conflict`] when the
/// tenant or one of the phone number ids exists already.
pub(crate) fn insert(conn: &Conn<'_>, t: &NewTenant) -> Result<(), StoreError> {
    conn.tx(|tx| {
        if super::apps::get(tx, &t.app_id)?.is_none() {
            return Err(StoreError::NotFound {
                what: "app",
                id: t.app_id.clone(),
            });
        }
        tx.execute(
            "INSERT INTO tenants (id, app_id, default_region, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![t.id, t.app_id, t.default_region, now_ms()],
        )
        .map_err(|e| conflict_on_unique(e, "tenant", &t.id))?;
        for pn in &t.phone_number_ids {
            tx.execute(
                "INSERT INTO phone_numbers (phone_number_id, tenant_id) VALUES (?1, ?2)",
                params![pn, t.id],
            )
            .map_err(|e| conflict_on_unique(e, "phone number id", pn))?;
        }
        Ok(())
    })
}

fn numbers(conn: &Conn<'_>, tenant: &str) -> Result<Vec<String>, StoreError> {
    let rows = conn.query(
        "SELECT phone_number_id FROM phone_numbers WHERE tenant_id = ?1 ORDER BY phone_number_id",
        params![tenant],
        |r| r.get(0),
    )?;
    Ok(rows)
}

/// Every tenant, by id.
///
/// # Errors
/// On database failure.
pub(crate) fn list(conn: &Conn<'_>) -> Result<Vec<Tenant>, StoreError> {
    let rows = conn.query(
        "SELECT id, app_id, default_region, created_at FROM tenants ORDER BY id",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    rows.into_iter()
        .map(|(id, app_id, default_region, created_at)| {
            Ok(Tenant {
                phone_number_ids: numbers(conn, &id)?,
                id,
                app_id,
                default_region,
                created_at,
            })
        })
        .collect()
}

/// One tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, id: &str) -> Result<Option<Tenant>, StoreError> {
    let row = conn.query_opt(
        "SELECT app_id, default_region, created_at FROM tenants WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    row.map(|(app_id, default_region, created_at)| {
        Ok(Tenant {
            id: id.to_string(),
            app_id,
            phone_number_ids: numbers(conn, id)?,
            default_region,
            created_at,
        })
    })
    .transpose()
}

/// The tenant that owns `phone_number_id` under `app_id`, with its default region.
///
/// # Errors
/// On database failure.
pub(crate) fn route(
    conn: &Conn<'_>,
    app_id: &str,
    phone_number_id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    conn.query_opt(
        "SELECT t.id, t.default_region FROM phone_numbers p JOIN tenants t ON t.id = p.tenant_id
             WHERE p.phone_number_id = ?1 AND t.app_id = ?2",
        params![phone_number_id, app_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The tenant that owns `phone_number_id`, under whichever app.
///
/// # Errors
/// On database failure.
pub(crate) fn owner(conn: &Conn<'_>, phone_number_id: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT tenant_id FROM phone_numbers WHERE phone_number_id = ?1",
        params![phone_number_id],
        |r| r.get(0),
    )
}

/// The tenant whose WhatsApp Business Account is `waba_id`: the one its template
/// sync recorded, else the one its numbers' webhooks came from.
///
/// # Errors
/// On database failure.
pub(crate) fn of_waba(conn: &Conn<'_>, waba_id: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT id FROM (SELECT id, 0 AS pref FROM tenants WHERE waba_id = ?1
                         UNION ALL
                         SELECT tenant_id AS id, 1 AS pref FROM waba_numbers WHERE waba_id = ?1) t
         ORDER BY pref LIMIT 1",
        params![waba_id],
        |r| r.get(0),
    )
}

/// The tenant's limit overrides (JSON) and each of its numbers' overrides.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown tenant; otherwise on database failure.
pub(crate) fn limits(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<(String, Vec<(String, String)>), StoreError> {
    let own: String = conn
        .query_opt(
            "SELECT limits FROM tenants WHERE id = ?1",
            params![tenant],
            |r| r.get(0),
        )?
        .ok_or_else(|| StoreError::NotFound {
            what: "tenant",
            id: tenant.to_owned(),
        })?;

    let numbers = conn.query("SELECT phone_number_id, limits FROM phone_numbers WHERE tenant_id = ?1 ORDER BY phone_number_id", params![tenant], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((own, numbers))
}

/// Replaces the tenant's limit overrides (validated JSON).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown tenant; otherwise on database failure.
pub(crate) fn set_limits(conn: &Conn<'_>, tenant: &str, json: &str) -> Result<(), StoreError> {
    if conn.execute(
        "UPDATE tenants SET limits = ?2 WHERE id = ?1",
        params![tenant, json],
    )? == 0
    {
        return Err(StoreError::NotFound {
            what: "tenant",
            id: tenant.to_owned(),
        });
    }
    Ok(())
}

/// Replaces one number's limit overrides (validated JSON).
///
/// # Errors
/// [`StoreError::NotFound`] when the tenant has no such number.
pub(crate) fn set_number_limits(
    conn: &Conn<'_>,
    tenant: &str,
    number: &str,
    json: &str,
) -> Result<(), StoreError> {
    if conn.execute(
        "UPDATE phone_numbers SET limits = ?3 WHERE tenant_id = ?1 AND phone_number_id = ?2",
        params![tenant, number, json],
    )? == 0
    {
        return Err(StoreError::NotFound {
            what: "phone number",
            id: number.to_owned(),
        });
    }
    Ok(())
}
/// The stored limit overrides of `tenant` and of its `number` (JSON objects); `{}`
/// and none when the tenant is unknown.
///
/// # Errors
/// On database failure.
pub(crate) fn limit_overrides(
    c: &Conn<'_>,
    tenant: &str,
    number: &str,
) -> Result<(String, Option<String>), StoreError> {
    Ok(c.query_opt(
        "SELECT t.limits, p.limits FROM tenants t LEFT JOIN phone_numbers p
               ON p.tenant_id = t.id AND p.phone_number_id = ?2 WHERE t.id = ?1",
        params![tenant, number],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?
    .unwrap_or_else(|| ("{}".into(), None)))
}

/// Every tenant's id, sorted.
///
/// # Errors
/// On database failure.
pub(crate) fn ids(c: &Conn<'_>) -> Result<Vec<String>, StoreError> {
    c.query("SELECT id FROM tenants ORDER BY id", params![], |r| {
        r.get(0)
    })
}

crate::repo! {
    /// Tenants and their numbers.
    pub trait TenantRepo {
        /// Adds a tenant and its phone numbers in one transaction.
        fn insert(t: &NewTenant) -> Result<(), StoreError>;
        /// Every tenant, by id.
        fn list() -> Result<Vec<Tenant>, StoreError>;
        /// One tenant.
        fn get(id: &str) -> Result<Option<Tenant>, StoreError>;
        /// The tenant that owns `phone_number_id` under `app_id`, with its default region.
        fn route(app_id: &str, phone_number_id: &str) -> Result<Option<(String, String)>, StoreError>;
        /// The tenant that owns `phone_number_id`, under whichever app.
        fn owner(phone_number_id: &str) -> Result<Option<String>, StoreError>;
        /// The tenant whose WhatsApp Business Account is `waba_id`.
        fn of_waba(waba_id: &str) -> Result<Option<String>, StoreError>;
        /// The tenant's limit overrides (JSON) and each of its numbers' overrides.
        fn limits(tenant: &str) -> Result<(String, Vec<(String, String)>), StoreError>;
        /// Replaces the tenant's limit overrides (validated JSON).
        fn set_limits(tenant: &str, json: &str) -> Result<(), StoreError>;
        /// Replaces one number's limit overrides (validated JSON).
        fn set_number_limits(tenant: &str, number: &str, json: &str) -> Result<(), StoreError>;
        /// The stored limit overrides of `tenant` and of its `number` (JSON objects); `{}`
        /// and none when the tenant is unknown.
        fn limit_overrides(tenant: &str, number: &str) -> Result<(String, Option<String>), StoreError>;
        /// Every tenant's id, sorted.
        fn ids() -> Result<Vec<String>, StoreError>;
    }
}
