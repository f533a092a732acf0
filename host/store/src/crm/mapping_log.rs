//! The mapping log: fields the mapper defaulted or could not fill, counted per
//! tenant, week and field, and the week's CRM writes that succeeded or failed.

use crate::StoreError;
use crate::params;
use crate::sql::Conn;

/// A week, ms.
pub const WEEK_MS: i64 = 7 * 86_400_000;
/// 1970-01-05, the first Monday of the epoch, ms.
const FIRST_MONDAY_MS: i64 = 4 * 86_400_000;

/// The start (Monday 00:00 UTC, Unix ms) of the week `at` falls in.
pub fn week_of(at: i64) -> i64 {
    (at - FIRST_MONDAY_MS).div_euclid(WEEK_MS) * WEEK_MS + FIRST_MONDAY_MS
}

/// One line of the mapping log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingCount {
    /// The week's Monday, Unix ms.
    pub week: i64,
    /// The CRM field.
    pub field: String,
    /// `defaulted` or `skipped`.
    pub outcome: String,
    /// Records.
    pub count: i64,
}

/// A week's finished CRM writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekWrites {
    /// The week's Monday, Unix ms.
    pub week: i64,
    /// Writes done.
    pub done: i64,
    /// Writes dead-lettered.
    pub failed: i64,
}

/// Counts `fields` of one record as `outcome` (`defaulted`, `skipped`) at `at`.
///
/// # Errors
/// On database failure.
pub(crate) fn log_mapping(
    conn: &Conn<'_>,
    tenant: &str,
    at: i64,
    outcome: &str,
    fields: &[String],
) -> Result<(), StoreError> {
    for field in fields {
        conn.execute(
            "INSERT INTO crm_mapping_log (tenant_id, week, field, outcome, count)
             VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (tenant_id, week, field, outcome)
             DO UPDATE SET count = crm_mapping_log.count + 1",
            params![tenant, week_of(at), field, outcome],
        )?;
    }
    Ok(())
}

/// The mapping log of the weeks from `since` on, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn mapping_log(
    conn: &Conn<'_>,
    tenant: &str,
    since: i64,
) -> Result<Vec<MappingCount>, StoreError> {
    conn.query(
        "SELECT week, field, outcome, count FROM crm_mapping_log
         WHERE tenant_id = ?1 AND week >= ?2 ORDER BY week, field, outcome",
        params![tenant, week_of(since)],
        |r| {
            Ok(MappingCount {
                week: r.get(0)?,
                field: r.get(1)?,
                outcome: r.get(2)?,
                count: r.get(3)?,
            })
        },
    )
}

/// The CRM writes finished (done or dead-lettered) per week from `since` on.
///
/// # Errors
/// On database failure.
pub(crate) fn week_writes(
    conn: &Conn<'_>,
    tenant: &str,
    since: i64,
) -> Result<Vec<WeekWrites>, StoreError> {
    let rows: Vec<(i64, String)> = conn.query(
        "SELECT updated_at, state FROM crm_jobs
         WHERE tenant_id = ?1 AND updated_at >= ?2 AND state IN ('done', 'dead')",
        params![tenant, week_of(since)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut weeks: std::collections::BTreeMap<i64, WeekWrites> = Default::default();
    for (at, state) in rows {
        let week = week_of(at);
        let w = weeks.entry(week).or_insert(WeekWrites {
            week,
            done: 0,
            failed: 0,
        });
        if state == "done" {
            w.done += 1;
        } else {
            w.failed += 1;
        }
    }
    Ok(weeks.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-12-05 (a Saturday) 17:00 UTC → Monday 2026-11-30.
        assert_eq!(week_of(1_796_490_000_000), 1_795_996_800_000);
        assert_eq!(week_of(1_795_996_800_000), 1_795_996_800_000);
        assert_eq!(week_of(1_795_996_799_999), 1_795_996_800_000 - WEEK_MS);
    }
}
