//! Pacing: messages per second per phone number, and a burst-then-interval pace per
//! recipient, with GCRA limiters from the `governor` crate. Limiter state lives in
//! memory; a restart starts each bucket full, which is within Meta's own tolerance.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Lane = (u32, Arc<DefaultDirectRateLimiter>);
type RecipientLimiter = ((u32, u64), Arc<DefaultKeyedRateLimiter<String>>);

/// The pacers of every number and its recipients.
#[derive(Debug, Default)]
pub struct Pacer {
    numbers: Mutex<HashMap<String, Lane>>,
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

    fn number(&self, number: &str, mps: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut lanes = self.numbers.lock().expect("pacer lock");
        match lanes.get(number) {
            Some((m, limiter)) if *m == mps => limiter.clone(),
            _ => {
                // A burst of 50 ms worth lets the lane catch up after timer slack
                // without ever exceeding `mps` over any second.
                let quota = Quota::per_second(nz(mps)).allow_burst(nz(mps / 20));
                let limiter = Arc::new(RateLimiter::direct(quota));
                lanes.insert(number.to_owned(), (mps, limiter.clone()));
                limiter
            }
        }
    }

    /// Waits until `number` may send one more message at `mps` messages per second.
    pub async fn until_number_ready(&self, number: &str, mps: u32) {
        let limiter = self.number(number, mps);
        let clock = DefaultClock::default();
        while let Err(not_until) = limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
        }
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
        // 60 sends at 200/s with a burst of 10: at least 50 / 200 s = 250 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(240),
            "{:?}",
            started.elapsed()
        );
    }
}
