//! Schedules: cron expressions (`croner`: five fields, or six with seconds, `L`, `#`,
//! `W`, names such as `TUE`) evaluated in an IANA time zone (`chrono-tz`), so "at
//! 10:00 on Tuesdays" stays at 10:00 across daylight-saving changes.
//!
//! A flow's parameter of kind `schedule` names when the host hands it a `schedule`
//! event; `timers.next-occurrence` lets a flow wait for the next such time itself.

use chrono::TimeZone;
use chrono_tz::Tz;

/// Parses an IANA time zone name (`Europe/Rome`).
///
/// # Errors
/// The reason, with an example.
pub fn zone(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?}; use an IANA name such as Europe/Rome"))
}

/// Checks a cron expression.
///
/// # Errors
/// Why it does not parse.
pub fn check(spec: &str) -> Result<(), String> {
    parse(spec).map(drop)
}

fn parse(spec: &str) -> Result<croner::Cron, String> {
    spec.trim().parse::<croner::Cron>().map_err(|e| {
        format!("{e} in {spec:?}; write minute hour day-of-month month day-of-week, e.g. \"0 10 * * TUE\"")
    })
}

/// The first time after `after_ms` (Unix ms) that `spec` names in `zone`, Unix ms.
///
/// # Errors
/// When the expression does not parse or names no future time.
pub fn next_after(spec: &str, zone: Tz, after_ms: i64) -> Result<i64, String> {
    let cron = parse(spec)?;
    // Cron names whole seconds: start from the second `after_ms` falls in.
    let start = zone
        .timestamp_opt(after_ms.div_euclid(1000), 0)
        .single()
        .ok_or_else(|| format!("{after_ms} is not a time"))?;
    cron.find_next_occurrence(&start, false)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{spec:?} names no time after now: {e}"))
}

/// Schedules (or re-schedules) the host's timer of each `schedule` parameter of a
/// tenant's flow for its next time after `after_ms`, in the tenant's time zone, in
/// the caller's transaction; an empty expression cancels it. Returns the times set.
///
/// # Errors
/// On database failure; an expression that names no time is logged and skipped.
pub fn arm(
    tx: &dyn scrm_store::Store,
    tenant: &str,
    flow: &str,
    schedules: &[(String, String)],
    after_ms: i64,
) -> Result<Vec<(String, i64)>, scrm_store::StoreError> {
    let zone_name = scrm_store::FlowRepo::time_zone(tx, tenant)?.unwrap_or_else(|| "UTC".into());
    let tz = zone(&zone_name).unwrap_or(Tz::UTC);
    let mut set = Vec::new();
    for (param, spec) in schedules {
        let key = format!("schedule:{param}");
        if spec.is_empty() {
            scrm_store::FlowRepo::cancel_timer(tx, tenant, flow, 0, &key)?;
            continue;
        }
        match next_after(spec, tz, after_ms) {
            Ok(at) => {
                let event = serde_json::json!({"name": param}).to_string();
                scrm_store::FlowRepo::schedule_timer(
                    tx,
                    &scrm_store::flows::NewTimer {
                        kind: "schedule",
                        tenant,
                        flow,
                        contact_id: 0,
                        key: &key,
                        due_at: at,
                        fire_at: at,
                        event: &event,
                        payload: b"",
                    },
                )?;
                set.push((param.clone(), at));
            }
            Err(e) => tracing::warn!(tenant, flow, param, error = %e, "schedule not set"),
        }
    }
    Ok(set)
}

/// The `schedule` parameters of a flow and their values, from its parameter
/// declarations and the values it runs with.
pub fn schedules_of(
    params: &[scrm_engine::flow::FlowParam],
    values: &serde_json::Value,
) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|p| p.kind == "schedule")
        .map(|p| {
            (
                p.name.clone(),
                values[&p.name].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-03-24 (a Tuesday) 12:00 UTC; Rome is UTC+1 until 2026-03-29, then UTC+2.
    const TUE_NOON_UTC: i64 = 1_774_353_600_000;

    #[test]
    fn tuesday_at_ten_is_ten_in_the_zone_across_daylight_saving() {
        let rome = zone("Europe/Rome").unwrap();
        let first = next_after("0 10 * * TUE", rome, TUE_NOON_UTC).unwrap();
        // Next Tuesday, 2026-03-31, 10:00 in Rome = 08:00 UTC (summer time).
        assert_eq!(first, TUE_NOON_UTC + 7 * 86_400_000 - 4 * 3_600_000);
        let second = next_after("0 10 * * TUE", rome, first).unwrap();
        assert_eq!(second - first, 7 * 86_400_000);
        // Whole seconds, whatever the start's milliseconds.
        assert_eq!(next_after("* * * * * *", rome, 1_500).unwrap(), 2_000);
    }

    #[test]
    fn bad_input_says_why() {
        assert!(zone("Mars/Olympus").unwrap_err().contains("IANA"));
        assert!(check("61 10 * * TUE").is_err());
        assert!(check("0 10 * * TUE").is_ok());
    }
}
