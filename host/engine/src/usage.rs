//! What one plugin call used, measured on the store it ran in: instructions (fuel),
//! the instance's peak linear memory, wall time, time spent waiting for outbound
//! HTTP answers, and its requests. A binding may carry a [`UsageObserver`] that
//! receives this after each call; local runs (`scrm plugin run`) print it against
//! the binding's limits, and the pipeline's bindings carry none (one branch per call).

use crate::ActiveBinding;
use crate::call::CallState;
use std::sync::Arc;
use std::time::Duration;

/// What one call used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallUsage {
    /// Fuel consumed (≈ WebAssembly instructions), against the binding's `fuel`.
    pub fuel: u64,
    /// The largest size the instance's linear memories reached together, in bytes,
    /// against the binding's `memory_mib`. For a warm instance it includes what
    /// earlier calls left.
    pub peak_memory: usize,
    /// Wall time from the call's start (a fresh instance's creation included) to its
    /// answer.
    pub wall: Duration,
    /// Of `wall`, the time spent waiting for answers to outbound HTTP requests and
    /// other host lookups; the CPU deadline does not count it.
    pub waited: Duration,
    /// Outbound HTTP requests sent (past the policy checks).
    pub http_sent: u32,
    /// Outbound HTTP requests the binding's policy refused, with why.
    pub http_denied: Vec<String>,
}

impl CallUsage {
    /// The time the CPU deadline counts: wall time less the waits.
    pub fn counted(&self) -> Duration {
        self.wall.saturating_sub(self.waited)
    }
}

/// Receives the usage of each call of the binding that carries it.
#[derive(Clone)]
pub struct UsageObserver(Arc<dyn Fn(CallUsage) + Send + Sync>);

impl UsageObserver {
    /// An observer calling `f` after each call.
    pub fn new(f: impl Fn(CallUsage) + Send + Sync + 'static) -> UsageObserver {
        UsageObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for UsageObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageObserver")
    }
}

/// Reports the usage of the call that just ran on `store` to `binding`'s observer,
/// when it has one.
pub(crate) fn observe(store: &wasmtime::Store<CallState>, binding: &ActiveBinding) {
    let Some(observer) = &binding.usage else {
        return;
    };
    let state = store.data();
    let left = store.get_fuel().unwrap_or(0);
    let http = state.http.report();
    let denied = http
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .denied
        .clone();
    (observer.0)(CallUsage {
        fuel: binding.limits.fuel.saturating_sub(left),
        peak_memory: state.peak_memory(),
        wall: state.call_elapsed(),
        waited: state.call_waited(),
        http_sent: state.http.sent(),
        http_denied: denied,
    });
}
