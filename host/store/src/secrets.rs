//! Tenant secrets: values plugins' HTTP requests need (CRM tokens), added by the
//! host, never shown to plugins nor served by the API. Stored sealed when the
//! handle has a secrets key (see [`crate::SecretsKey`]).

use super::{StoreError, now_ms};
use crate::SecretString;
use crate::params;
use crate::sql::Conn;

/// The tenant secret holding the Cloud API access token the outbox and media
/// transfers send with.
pub const TOKEN_SECRET: &str = "whatsapp_access_token";

/// Sets (or replaces) a secret.
///
/// # Errors
/// On database failure.
pub(crate) fn set(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    let stored = match conn.secrets_key() {
        Some(key) => crate::seal::seal(key, tenant, name, value),
        None => value.to_string(),
    };
    conn.execute(
        "INSERT INTO tenant_secrets (tenant_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
             expires_at = NULL",
        params![tenant, name, stored, now_ms()],)?;
    Ok(())
}

/// Replaces a secret's value with `value` if it still is `expected`, keeping when it
/// was set (a renewed access token is not a rotated credential); false when it
/// changed in between (another host renewed it first) or is gone.
///
/// # Errors
/// On database failure.
pub(crate) fn renew(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    expected: &str,
    value: &str,
) -> Result<bool, StoreError> {
    let Some(stored) = conn.query_opt(
        "SELECT value FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
        |r| r.get::<String>(0),
    )?
    else {
        return Ok(false);
    };
    if crate::seal::open(conn.secrets_key(), tenant, name, &stored)? != expected {
        return Ok(false);
    }
    let sealed = match conn.secrets_key() {
        Some(key) => crate::seal::seal(key, tenant, name, value),
        None => value.to_string(),
    };
    Ok(conn.execute(
        "UPDATE tenant_secrets SET value = ?4 WHERE tenant_id = ?1 AND name = ?2 AND value = ?3",
        params![tenant, name, stored, sealed],
    )? == 1)
}

/// Removes a secret; true when it existed.
///
/// # Errors
/// On database failure.
pub(crate) fn delete(conn: &Conn<'_>, tenant: &str, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
    )? == 1)
}

/// The names of a tenant's secrets with when they were set.
///
/// # Errors
/// On database failure.
pub(crate) fn names(conn: &Conn<'_>, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT name, updated_at FROM tenant_secrets WHERE tenant_id = ?1 ORDER BY name",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows)
}

/// One secret's value, for the host's own use (the Cloud API token).
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT value FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
        |r| r.get::<String>(0),
    )?
    .map(|stored| crate::seal::open(conn.secrets_key(), tenant, name, &stored))
    .transpose()
}

/// Every secret of a tenant, for the HTTP capability.
///
/// # Errors
/// On database failure.
pub(crate) fn all(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, SecretString)>, StoreError> {
    let rows = conn.query(
        "SELECT name, value FROM tenant_secrets WHERE tenant_id = ?1",
        params![tenant],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    rows.into_iter()
        .map(|(name, stored)| {
            let value = crate::seal::open(conn.secrets_key(), tenant, &name, &stored)?;
            Ok((name, SecretString::from(value)))
        })
        .collect()
}

/// A stored secret's name and age, for rotation warnings and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretAge {
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// When it was last set, Unix ms.
    pub set_at: i64,
    /// The tenant's rotation period, days.
    pub rotation_days: i64,
    /// When it stops working, Unix ms, when its issuer says.
    pub expires_at: Option<i64>,
}

impl SecretAge {
    /// Whether it is older than its tenant's rotation period at `now`.
    pub fn stale(&self, now: i64) -> bool {
        self.rotation_days > 0 && now - self.set_at > self.rotation_days * 86_400_000
    }
}

/// Every secret's age (of `tenant`, or of all tenants), by tenant and name.
///
/// # Errors
/// On database failure.
pub(crate) fn ages(conn: &Conn<'_>, tenant: Option<&str>) -> Result<Vec<SecretAge>, StoreError> {
    conn.query(
        "SELECT s.tenant_id, s.name, s.updated_at, t.secret_rotation_days, s.expires_at
         FROM tenant_secrets s JOIN tenants t ON t.id = s.tenant_id
         WHERE ?1 IS NULL OR s.tenant_id = ?1 ORDER BY s.tenant_id, s.name",
        params![tenant],
        |r| {
            Ok(SecretAge {
                tenant: r.get(0)?,
                name: r.get(1)?,
                set_at: r.get(2)?,
                rotation_days: r.get(3)?,
                expires_at: r.get(4)?,
            })
        },
    )
}

/// Records when `tenant`'s secret `name` expires (none: not known); false when
/// there is no such secret. Setting a new value forgets it.
///
/// # Errors
/// On database failure.
pub(crate) fn set_expiry(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tenant_secrets SET expires_at = ?3 WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name, expires_at],
    )? == 1)
}

/// Sets how old `tenant`'s secrets may get before a rotation warning (0: never);
/// false when there is no such tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn set_rotation_days(
    conn: &Conn<'_>,
    tenant: &str,
    days: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tenants SET secret_rotation_days = ?2 WHERE id = ?1",
        params![tenant, days],
    )? == 1)
}

/// `tenant`'s rotation period in days, if the tenant exists.
///
/// # Errors
/// On database failure.
pub(crate) fn rotation_days(conn: &Conn<'_>, tenant: &str) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT secret_rotation_days FROM tenants WHERE id = ?1",
        params![tenant],
        |r| r.get(0),
    )
}

/// The setting that names the key the database's secrets are sealed with.
const KEY_SETTING: &str = "secrets_key_fingerprint";

/// Makes this connection's key the database's: refuses a key other than the one
/// its secrets were sealed with (a second host started without the first one's
/// key), records the key the first time, and seals every secret stored before
/// sealing existed. How many it sealed. Call in a transaction, at start.
///
/// # Errors
/// [`StoreError::Secrets`] for another key or no key; database failures.
pub(crate) fn adopt_key(conn: &Conn<'_>) -> Result<usize, StoreError> {
    let key = conn
        .secrets_key()
        .ok_or_else(|| StoreError::Secrets("no secrets key: secrets cannot be sealed".into()))?;
    let mine = key.fingerprint();
    match crate::settings::get(conn, KEY_SETTING)? {
        Some(theirs) if theirs != mine => {
            return Err(StoreError::Secrets(format!(
                "this database's secrets are sealed with another key (fingerprint {theirs}; this host's is {mine}): \
                 give every host the same SCRM_SECRETS_KEY, or the same secrets.key file"
            )));
        }
        Some(_) => {}
        None => crate::settings::set(conn, KEY_SETTING, &mine)?,
    }
    let plain: Vec<(String, String, String)> = conn
        .query(
            "SELECT tenant_id, name, value FROM tenant_secrets",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .into_iter()
        .filter(|(_, _, v): &(String, String, String)| !crate::seal::is_sealed(v))
        .collect();
    for (tenant, name, value) in &plain {
        conn.execute(
            "UPDATE tenant_secrets SET value = ?3 WHERE tenant_id = ?1 AND name = ?2",
            params![tenant, name, crate::seal::seal(key, tenant, name, value)],
        )?;
    }
    Ok(plain.len())
}

crate::repo! {
    /// Tenant secrets.
    pub trait SecretRepo {
        /// Sets (or replaces) a secret.
        fn set(tenant: &str, name: &str, value: &str) -> Result<(), StoreError>;
        /// Replaces a secret's value if it still is `expected`, keeping when it was set;
        /// false when it changed in between or is gone.
        fn renew(tenant: &str, name: &str, expected: &str, value: &str) -> Result<bool, StoreError>;
        /// Removes a secret; true when it existed.
        fn delete(tenant: &str, name: &str) -> Result<bool, StoreError>;
        /// The names of a tenant's secrets with when they were set.
        fn names(tenant: &str) -> Result<Vec<(String, i64)>, StoreError>;
        /// One secret's value, for the host's own use (the Cloud API token).
        fn get(tenant: &str, name: &str) -> Result<Option<String>, StoreError>;
        /// Every secret of a tenant, for the HTTP capability.
        fn all(tenant: &str) -> Result<Vec<(String, SecretString)>, StoreError>;
        /// Every secret's age (of `tenant`, or of all tenants), by tenant and name.
        fn ages(tenant: Option<&str>) -> Result<Vec<SecretAge>, StoreError>;
        /// Records when a secret expires.
        fn set_expiry(tenant: &str, name: &str, expires_at: Option<i64>) -> Result<bool, StoreError>;
        /// Sets how old a tenant's secrets may get before a rotation warning (0: never);
        /// false when there is no such tenant.
        fn set_rotation_days(tenant: &str, days: i64) -> Result<bool, StoreError>;
        /// A tenant's rotation period in days, if the tenant exists.
        fn rotation_days(tenant: &str) -> Result<Option<i64>, StoreError>;
        /// Makes this connection's key the database's (refusing another one), and
        /// seals the secrets stored before sealing existed; how many.
        fn adopt_key() -> Result<usize, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretsKey;

    fn setup(c: &Conn<'_>) -> Result<(), StoreError> {
        crate::apps::insert(c, "app", "secret", "verify")?;
        crate::tenants::insert(
            c,
            &crate::tenants::NewTenant {
                id: "acme".into(),
                app_id: "app".into(),
                phone_number_ids: vec!["100".into()],
                default_region: "IT".into(),
            },
        )
    }

    fn stored(c: &Conn<'_>) -> Result<Vec<String>, StoreError> {
        c.query(
            "SELECT value FROM tenant_secrets ORDER BY name",
            params![],
            |r| r.get(0),
        )
    }

    #[test]
    fn a_renewal_keeps_the_age_and_loses_to_one_made_in_between() {
        for t in crate::testing::backends() {
            let b = t.backend;
            let db = t.db.clone().with_secrets_key(SecretsKey::generate());
            db.with_conn(|c| {
                setup(c)?;
                set(c, "acme", "zoho", "v1")?;
                c.execute(
                    "UPDATE tenant_secrets SET updated_at = 1000 WHERE name = 'zoho'",
                    params![],
                )?;
                assert!(renew(c, "acme", "zoho", "v1", "v2")?, "{b}");
                assert_eq!(get(c, "acme", "zoho")?.as_deref(), Some("v2"), "{b}");
                assert_eq!(names(c, "acme")?, [("zoho".to_string(), 1000)], "{b}");
                // Another host renewed it from v1 too: its value stays.
                assert!(!renew(c, "acme", "zoho", "v1", "v3")?, "{b}");
                assert_eq!(get(c, "acme", "zoho")?.as_deref(), Some("v2"), "{b}");
                assert!(!renew(c, "acme", "gone", "v1", "v3")?, "{b}");
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn secrets_are_sealed_old_ones_at_adoption_and_another_key_is_refused() {
        for t in crate::testing::backends() {
            let b = t.backend;
            // Stored before sealing existed.
            t.db.with_conn(|c| {
                setup(c)?;
                set(c, "acme", "old", "plain-old-token")
            })
            .unwrap();
            let key = SecretsKey::generate();
            let db = t.db.clone().with_secrets_key(key.clone());
            db.with_conn(|c| {
                assert_eq!(adopt_key(c)?, 1, "{b}");
                set(c, "acme", "new", "fresh-token")?;
                for v in stored(c)? {
                    assert!(
                        crate::seal::is_sealed(&v) && !v.contains("token"),
                        "{b}: {v}"
                    );
                }
                assert_eq!(get(c, "acme", "old")?.as_deref(), Some("plain-old-token"));
                let all = all(c, "acme")?;
                assert_eq!(all.len(), 2, "{b}");
                // Adopting again seals nothing more.
                assert_eq!(adopt_key(c)?, 0, "{b}");
                Ok(())
            })
            .unwrap();
            let other = t.db.clone().with_secrets_key(SecretsKey::generate());
            let e = other.with_conn(adopt_key).unwrap_err().to_string();
            assert!(e.contains("sealed with another key"), "{b}: {e}");
            let e = other
                .with_conn(|c| get(c, "acme", "new"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("cannot be opened"), "{b}: {e}");
            // Nothing was changed by the refused host.
            db.with_conn(|c| {
                assert_eq!(get(c, "acme", "new")?.as_deref(), Some("fresh-token"));
                Ok(())
            })
            .unwrap();
        }
    }
}
