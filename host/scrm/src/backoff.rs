//! Exponential back-off with jitter, shared by everything that retries: the outbox,
//! media downloads and CRM writes.

use rand::Rng;

/// Exponential back-off with jitter, in ms: `base · 2^(attempts-1)`, capped at `max`,
/// then a random point in its upper half.
pub fn backoff_ms(base: u64, max: u64, attempts: i64) -> i64 {
    let exp = base.saturating_mul(1u64 << attempts.clamp(1, 20).saturating_sub(1));
    let capped = exp.min(max).max(1);
    rand::rng().random_range(capped / 2..=capped) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        for _ in 0..50 {
            let first = backoff_ms(1000, 60_000, 1);
            assert!((500..=1000).contains(&first), "{first}");
            let third = backoff_ms(1000, 60_000, 3);
            assert!((2000..=4000).contains(&third), "{third}");
            assert!(backoff_ms(1000, 60_000, 15) <= 60_000);
        }
    }
}
