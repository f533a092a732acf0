//! Pacing: messages per second per phone number (an evenly spaced schedule of send
//! slots), and a burst-then-interval pace per recipient (GCRA limiters from the
//! `governor` crate). The state lives in memory; a restart starts each recipient's
//! bucket full, which is within Meta's own tolerance.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type RecipientLimiter = ((u32, u64), Arc<DefaultKeyedRateLimiter<String>>);

/// The pacers of every number and its recipients.
#[derive(Debug, Default)]
pub struct Pacer {
    numbers: Mutex<HashMap<String, tokio::time::Instant>>,
    recipients: Mutex<HashMap<String, RecipientLimiter>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("max(1) is non-zero")
}

impl Pacer {
    /// A pacer with no state.
    pub fn new() -> Pacer {
        Pacer::default()
    }

    /// Waits until `number` may send one more message at `mps` messages per second.
    ///
    /// Each send gets the next slot on the number's schedule (one every `1/mps`
    /// seconds) and sleeps until it. Slots are handed out from the schedule, not
    /// from the moment a task woke up, so timer slack does not add up and the
    /// number sustains `mps` without ever bunching above it.
    pub async fn until_number_ready(&self, number: &str, mps: u32) {
        let interval = Duration::from_secs(1) / mps.max(1);
        let slot = {
            let mut lanes = self.numbers.lock().expect("pacer lock");
            let now = tokio::time::Instant::now();
            let next = lanes.entry(number.to_owned()).or_insert(now);
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Takes one send to `to` from `number` if the recipient's pace allows it now;
    /// otherwise how long to wait.
    pub fn recipient(
        &self,
        number: &str,
        to: &str,
        burst: u32,
        interval_ms: u64,
    ) -> Result<(), Duration> {
        let limiter = {
            let mut all = self.recipients.lock().expect("pacer lock");
            match all.get(number) {
                Some((params, limiter)) if *params == (burst, interval_ms) => limiter.clone(),
                _ => {
                    let quota = Quota::with_period(Duration::from_millis(interval_ms.max(1)))
                        .expect("period is non-zero")
                        .allow_burst(nz(burst));
                    let limiter = Arc::new(RateLimiter::keyed(quota));
                    all.insert(number.to_owned(), ((burst, interval_ms), limiter.clone()));
                    limiter
                }
            }
        };
        let clock = DefaultClock::default();
        limiter
            .check_key(&to.to_owned())
            .map_err(|not_until| not_until.wait_time_from(clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_gets_a_burst_then_waits_the_interval() {
        let pacer = Pacer::new();
        for _ in 0..3 {
            assert_eq!(pacer.recipient("n1", "391", 3, 60_000), Ok(()));
        }
        let wait = pacer.recipient("n1", "391", 3, 60_000).unwrap_err();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            pacer.recipient("n1", "392", 3, 60_000),
            Ok(()),
            "other recipients are not affected"
        );
        assert_eq!(
            pacer.recipient("n2", "391", 3, 60_000),
            Ok(()),
            "other numbers are not affected"
        );
    }

    #[tokio::test]
    async fn number_lane_keeps_to_its_rate() {
        let pacer = Pacer::new();
        let started = std::time::Instant::now();
        for _ in 0..60 {
            pacer.until_number_ready("n1", 200).await;
        }
        // 60 sends at 200/s, evenly spaced: at least 59 / 200 s = 295 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
    }
}
