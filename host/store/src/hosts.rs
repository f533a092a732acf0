//! What several hosts on one database share beyond the rows they claim: singleton
//! jobs (one holder at a time, by lease), and the pacing state of WhatsApp's
//! throughput limits — each number's send schedule and each recipient's pace — so
//! that the limits hold across hosts, never per process.

use super::StoreError;
use crate::params;
use crate::sql::Conn;

/// The channel on which a change to a tenant's plugin slot is announced, with
/// `tenant/slot` as the payload: every host reloads that slot.
pub const PLUGINS_CHANNEL: &str = "scrm_plugins";

/// Announces `payload` on `channel` to every host listening ([`crate::Db::listen`])
/// when the enclosing transaction commits. PostgreSQL only: on SQLite the one host
/// made the change itself.
///
/// # Errors
/// On database failure.
pub(crate) fn notify(conn: &Conn<'_>, channel: &str, payload: &str) -> Result<(), StoreError> {
    if conn.dialect() == crate::Dialect::Postgres {
        conn.execute("SELECT pg_notify(?1, ?2)", params![channel, payload])?;
    }
    Ok(())
}

/// Gives back what `host` claimed, as it stops: its inbox bodies and CRM jobs
/// become claimable at once, its singleton jobs free, and its sends cut off
/// mid-call go to dead letters (whether Meta got them is unknown). How many sends.
///
/// # Errors
/// On database failure.
pub(crate) fn release_claims(conn: &Conn<'_>, host: &str, now: i64) -> Result<usize, StoreError> {
    conn.tx(|c| {
        c.execute(
            "UPDATE webhook_inbox SET claimed_by = NULL, lease_until = NULL
             WHERE state = 'pending' AND claimed_by = ?1",
            params![host],
        )?;
        c.execute(
            "UPDATE crm_jobs SET claimed_by = NULL, lease_until = NULL
             WHERE state = 'queued' AND claimed_by = ?1",
            params![host],
        )?;
        c.execute(
            "UPDATE flow_jobs SET claimed_by = NULL, lease_until = NULL
             WHERE state = 'pending' AND claimed_by = ?1",
            params![host],
        )?;
        c.execute(
            "DELETE FROM singleton_leases WHERE holder = ?1",
            params![host],
        )?;
        c.execute(
            "UPDATE outbox SET state = 'dead', updated_at = ?2, lease_until = NULL,
                    last_error = 'interrupted while sending: Meta may or may not have received it; re-queue to send again'
             WHERE state = 'sending' AND claimed_by = ?1",
            params![host, now],
        )
    })
}

/// Takes (or renews) the singleton job `name` for `holder` until `lease_until`:
/// true when `holder` has it — it was free, its lease ended by `now`, or `holder`
/// held it already.
///
/// # Errors
/// On database failure.
pub(crate) fn acquire(
    conn: &Conn<'_>,
    name: &str,
    holder: &str,
    now: i64,
    lease_until: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt(
            "INSERT INTO singleton_leases (name, holder, lease_until) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 lease_until = excluded.lease_until
             WHERE singleton_leases.holder = excluded.holder OR singleton_leases.lease_until <= ?4
             RETURNING holder",
            params![name, holder, lease_until, now],
            |r| r.get::<String>(0),
        )?
        .is_some())
}

/// Gives up the singleton job `name` if `holder` has it.
///
/// # Errors
/// On database failure.
pub(crate) fn release(conn: &Conn<'_>, name: &str, holder: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM singleton_leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )?;
    Ok(())
}

/// The next free send slot of `number` (µs since the epoch), at or after `now_us`,
/// keeping `interval_us` between slots; the slot is taken.
///
/// # Errors
/// On database failure.
pub(crate) fn take_send_slot(
    conn: &Conn<'_>,
    number: &str,
    now_us: i64,
    interval_us: i64,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO number_pace (phone_number_id, next_slot_us) VALUES (?1, ?2 + ?3)
         ON CONFLICT (phone_number_id) DO UPDATE
             SET next_slot_us = greatest(number_pace.next_slot_us, ?2) + ?3
         RETURNING next_slot_us - ?3",
        params![number, now_us, interval_us],
        |r| r.get(0),
    )
}

/// Takes one send to `to` from `number` at `now` (Unix ms) if the recipient's pace
/// allows it — `burst` sends at once, then one per `interval_ms` (GCRA) — else how
/// many ms to wait. Call inside the transaction that claims the send.
///
/// # Errors
/// On database failure.
pub(crate) fn take_recipient_pace(
    conn: &Conn<'_>,
    number: &str,
    to: &str,
    now: i64,
    burst: i64,
    interval_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let stored: Option<i64> = conn.query_opt(
        "SELECT tat_ms FROM recipient_pace WHERE phone_number_id = ?1 AND to_wa = ?2",
        params![number, to],
        |r| r.get(0),
    )?;
    let interval = interval_ms.max(1);
    let tolerance = (burst.max(1) - 1) * interval;
    let tat = stored.unwrap_or(now).max(now);
    if tat - now > tolerance {
        return Ok(Some(tat - tolerance - now));
    }
    conn.execute(
        "INSERT INTO recipient_pace (phone_number_id, to_wa, tat_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (phone_number_id, to_wa) DO UPDATE SET tat_ms = excluded.tat_ms",
        params![number, to, tat + interval],
    )?;
    Ok(None)
}

/// Forgets recipients' paces that ended before `before` (Unix ms): a recipient
/// whose pace has run out is as good as new.
///
/// # Errors
/// On database failure.
pub(crate) fn purge_paces(conn: &Conn<'_>, before: i64) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM recipient_pace WHERE tat_ms < ?1",
        params![before],
    )
}

crate::repo! {
    /// Singleton jobs and shared pacing state.
    pub trait HostRepo {
        /// Takes (or renews) the singleton job `name` for `holder` until `lease_until`:
        /// true when `holder` has it (free, expired by `now`, or held by `holder`).
        fn acquire(name: &str, holder: &str, now: i64, lease_until: i64) -> Result<bool, StoreError>;
        /// Gives back what `host` claimed as it stops (see the function); how many
        /// sends went to dead letters.
        fn release_claims(host: &str, now: i64) -> Result<usize, StoreError>;
        /// Gives up the singleton job `name` if `holder` has it.
        fn release(name: &str, holder: &str) -> Result<(), StoreError>;
        /// The next free send slot of `number` (µs since the epoch) at or after
        /// `now_us`, `interval_us` apart; the slot is taken.
        fn take_send_slot(number: &str, now_us: i64, interval_us: i64) -> Result<i64, StoreError>;
        /// Takes one send to `to` from `number` if its pace (`burst`, then one per
        /// `interval_ms`) allows it at `now`; else how many ms to wait.
        fn take_recipient_pace(number: &str, to: &str, now: i64, burst: i64, interval_ms: i64) -> Result<Option<i64>, StoreError>;
        /// Forgets recipients' paces that ended before `before`.
        fn purge_paces(before: i64) -> Result<usize, StoreError>;
        /// Announces `payload` on `channel` to every listening host when the
        /// transaction commits (PostgreSQL; a no-op on SQLite).
        fn notify(channel: &str, payload: &str) -> Result<(), StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_singleton_has_one_holder_until_its_lease_ends() {
        for t in crate::testing::backends() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                assert!(acquire(c, "pull", "a", 0, 100)?);
                assert!(!acquire(c, "pull", "b", 50, 150)?, "held by a");
                assert!(acquire(c, "pull", "a", 60, 160)?, "a renews");
                assert!(acquire(c, "pull", "b", 160, 260)?, "a's lease ended");
                release(c, "pull", "a")?;
                assert!(!acquire(c, "pull", "a", 170, 270)?, "a released nothing");
                release(c, "pull", "b")?;
                assert!(acquire(c, "pull", "a", 170, 270)?);
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn send_slots_are_spaced_and_never_in_the_past() {
        for t in crate::testing::backends() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                assert_eq!(take_send_slot(c, "n", 1_000, 10)?, 1_000);
                assert_eq!(take_send_slot(c, "n", 1_000, 10)?, 1_010);
                assert_eq!(take_send_slot(c, "n", 1_005, 10)?, 1_020);
                assert_eq!(take_send_slot(c, "n", 5_000, 10)?, 5_000, "idle: now");
                assert_eq!(take_send_slot(c, "m", 1_000, 10)?, 1_000, "per number");
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn a_recipient_gets_a_burst_then_one_per_interval() {
        for t in crate::testing::backends() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                for _ in 0..3 {
                    assert_eq!(take_recipient_pace(c, "n", "391", 0, 3, 1_000)?, None);
                }
                assert_eq!(
                    take_recipient_pace(c, "n", "391", 0, 3, 1_000)?,
                    Some(1_000)
                );
                assert_eq!(take_recipient_pace(c, "n", "392", 0, 3, 1_000)?, None);
                assert_eq!(take_recipient_pace(c, "n", "391", 1_000, 3, 1_000)?, None);
                assert_eq!(
                    take_recipient_pace(c, "n", "391", 1_000, 3, 1_000)?,
                    Some(1_000)
                );
                assert_eq!(purge_paces(c, 10_000)?, 2);
                Ok(())
            })
            .unwrap();
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::sync::atomic::{AtomicU64, Ordering};

        /// One store per backend for every case; each case paces its own recipient.
        fn stores() -> &'static Vec<crate::testing::TestDb> {
            static STORES: std::sync::OnceLock<Vec<crate::testing::TestDb>> =
                std::sync::OnceLock::new();
            STORES.get_or_init(crate::testing::backends)
        }

        static CASE: AtomicU64 = AtomicU64::new(0);

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: std::env::var("SCRM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
                ..ProptestConfig::default()
            })]

            /// Whatever the attempts, a recipient gets at most `burst` sends at once
            /// and then one per `interval` (in any span of length L, at most
            /// burst + L / interval), and a refused send told to wait `w` goes
            /// at `now + w`.
            #[test]
            fn a_recipients_pace_holds_and_its_waits_are_exact(
                burst in 1i64..4,
                interval in 1i64..50,
                gaps in prop::collection::vec(0i64..80, 1..40),
            ) {
                for t in stores() {
                    let to = format!("pace{}", CASE.fetch_add(1, Ordering::Relaxed));
                    let mut now = 1_000_000;
                    let mut sent: Vec<i64> = Vec::new();
                    for gap in &gaps {
                        now += gap;
                        let wait = t.db.with_conn(|c| take_recipient_pace(c, "100", &to, now, burst, interval)).unwrap();
                        match wait {
                            None => sent.push(now),
                            Some(w) => {
                                prop_assert!(w > 0, "{}: a wait of {w}", t.backend);
                                // One ms early is still too early; at the wait's end it goes.
                                if w > 1 {
                                    let early = t.db.with_conn(|c| take_recipient_pace(c, "100", &to, now + w - 1, burst, interval)).unwrap();
                                    prop_assert!(early.is_some(), "{}: went before its wait ended", t.backend);
                                }
                                now += w;
                                let at_end = t.db.with_conn(|c| take_recipient_pace(c, "100", &to, now, burst, interval)).unwrap();
                                prop_assert_eq!(at_end, None, "{}: held at the end of its wait", t.backend);
                                sent.push(now);
                            }
                        }
                    }
                    for (i, start) in sent.iter().enumerate() {
                        for (j, end) in sent.iter().enumerate().skip(i) {
                            let n = (j - i + 1) as i64;
                            prop_assert!(
                                n <= burst + (end - start) / interval,
                                "{}: {n} sends in {} ms (burst {burst}, interval {interval}): {sent:?}",
                                t.backend, end - start
                            );
                        }
                    }
                }
            }

            /// A number's send slots are at least one interval apart and never
            /// before the moment they are asked for.
            #[test]
            fn a_numbers_send_slots_keep_their_interval(
                interval in 1i64..1_000,
                gaps in prop::collection::vec(0i64..2_000, 1..30),
            ) {
                for t in stores() {
                    let number = format!("slot{}", CASE.fetch_add(1, Ordering::Relaxed));
                    let mut now = 1_000_000;
                    let mut last: Option<i64> = None;
                    for gap in &gaps {
                        now += gap;
                        let slot = t.db.with_conn(|c| take_send_slot(c, &number, now, interval)).unwrap();
                        prop_assert!(slot >= now, "{}: slot {slot} before {now}", t.backend);
                        if let Some(l) = last {
                            prop_assert!(slot - l >= interval, "{}: {l} then {slot}", t.backend);
                        }
                        last = Some(slot);
                    }
                }
            }
        }
    }
}
