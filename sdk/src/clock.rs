//! The host's wall clock.

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    crate::classifier::scrm::plugin::clock::now()
}
