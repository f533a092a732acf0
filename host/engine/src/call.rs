//! Per-call state and the store each call runs in: a fresh `Store` per call with a
//! CPU deadline, a memory cap, captured stderr (for panic messages) and no ambient
//! authority (no files, environment, network or sockets).
//!
//! The WASI context (and its stderr pipe) is built on the guest's first WASI call,
//! not with the store: most calls of a Rust guest never make one, and building it
//! is a measurable share of a fresh-instance call.

use super::capabilities::{
    automation::AutomationState, clock::ClockState, config::ConfigState, http::HttpState,
    kv::KvState, log::LogState, secrets::SecretsState,
};
use super::engine::deadline_ticks;
use super::error::{CallError, CallSite};
use crate::limits::PluginLimits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bytes of a guest's stderr kept to explain a trap.
const STDERR_CAPTURE: usize = 4096;

/// Everything one plugin call can reach.
pub struct CallState {
    limiter: MemoryCap,
    /// Built on first use (see the module docs).
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    /// Set together with `wasi`.
    stderr: Option<MemoryOutputPipe>,
    pub(super) log: LogState,
    pub(super) config: ConfigState,
    pub(super) kv: KvState,
    pub(super) clock: ClockState,
    pub(super) http: HttpState,
    pub(super) secrets: SecretsState,
    pub(crate) automation: AutomationState,
    deadline: Deadline,
}

/// A call's CPU deadline, kept as wall time less the time the call waited for answers
/// to its HTTP requests: a plugin is timed, a slow CRM is not (its requests have
/// their own timeouts).
#[derive(Debug, Clone, Copy)]
struct Deadline {
    started: Instant,
    /// What the call's requests had waited when it started (a warm instance's store
    /// serves many calls).
    waited_before: Duration,
    budget: Duration,
}

impl CallState {
    /// Starts the deadline of a new call on this store.
    pub(super) fn restart_deadline(&mut self, deadline_ms: u64) {
        self.deadline = Deadline {
            started: Instant::now(),
            waited_before: self.waited(),
            budget: Duration::from_millis(deadline_ms),
        };
    }

    /// Time the call spent waiting for the host: HTTP answers and order lookups.
    fn waited(&self) -> Duration {
        self.http.waited() + self.automation.waited()
    }

    /// The timer changes the call made.
    pub(super) fn take_timer_changes(
        &mut self,
    ) -> Vec<super::capabilities::automation::TimerChange> {
        self.automation.take_changes()
    }

    /// The largest size the instance's linear memories reached together, bytes.
    pub(crate) fn peak_memory(&self) -> usize {
        self.limiter.peak
    }

    /// Wall time since the call started.
    pub(crate) fn call_elapsed(&self) -> Duration {
        self.deadline.started.elapsed()
    }

    /// Time the call has spent waiting for the host since it started.
    pub(crate) fn call_waited(&self) -> Duration {
        self.waited().saturating_sub(self.deadline.waited_before)
    }

    /// What is left of the call's deadline, if anything.
    fn deadline_left(&self) -> Option<Duration> {
        let d = &self.deadline;
        let waited = self.waited().saturating_sub(d.waited_before);
        let used = d.started.elapsed().saturating_sub(waited);
        d.budget.checked_sub(used).filter(|left| !left.is_zero())
    }
}

/// Starts a call's deadline on `store`: the epoch interrupts the guest when the
/// deadline's wall time is up, and the guest goes on for as long as the call spent
/// waiting for HTTP answers meanwhile.
pub fn start_deadline(store: &mut Store<CallState>, deadline_ms: u64) {
    store.data_mut().restart_deadline(deadline_ms);
    store.set_epoch_deadline(deadline_ticks(deadline_ms));
}

impl wasmtime_wasi_http::WasiHttpView for CallState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let stderr = &mut self.stderr;
        let ctx = self.wasi.get_or_insert_with(|| {
            let pipe = MemoryOutputPipe::new(STDERR_CAPTURE);
            *stderr = Some(pipe.clone());
            WasiCtx::builder().stderr(pipe).build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// A memory limiter that remembers whether the cap was hit, so the trap can be
/// reported as what it is, and how large the instance's memories grew.
#[derive(Debug)]
struct MemoryCap {
    cap: usize,
    hit: bool,
    /// The linear memories' sizes together, bytes (wasmtime reports a memory's
    /// creation as growth from 0).
    total: usize,
    /// The largest `total` seen.
    peak: usize,
}

/// The error a refused memory growth traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory cap exceeded")]
struct MemoryCapExceeded;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Err(MemoryCapExceeded.into());
        }
        // Past the memory's own maximum the growth fails after this answer.
        if maximum.is_none_or(|max| desired <= max) {
            self.total = self.total.saturating_add(desired.saturating_sub(current));
            self.peak = self.peak.max(self.total);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables count against the same budget at pointer size per element.
        if desired.saturating_mul(8) > self.cap {
            self.hit = true;
            return Err(MemoryCapExceeded.into());
        }
        Ok(true)
    }
}

/// Creates the store for one call.
pub fn new_store(
    engine: &Engine,
    limits: &PluginLimits,
    site: &CallSite,
    config: Arc<[u8]>,
    kv: KvState,
    http: HttpState,
    secrets: SecretsState,
) -> Store<CallState> {
    let state = CallState {
        limiter: MemoryCap {
            cap: (limits.memory_mib as usize) << 20,
            hit: false,
            total: 0,
            peak: 0,
        },
        wasi: None,
        table: ResourceTable::new(),
        stderr: None,
        log: LogState::new(&site.tenant, &site.plugin, limits.log_records_per_call),
        config: ConfigState::new(config),
        kv,
        clock: ClockState,
        http,
        secrets,
        automation: AutomationState::default(),
        deadline: Deadline {
            started: Instant::now(),
            waited_before: Duration::ZERO,
            budget: Duration::from_millis(limits.deadline_ms),
        },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    start_deadline(&mut store, limits.deadline_ms);
    store.epoch_deadline_callback(|ctx| match ctx.data().deadline_left() {
        Some(left) => Ok(UpdateDeadline::Continue(deadline_ticks(
            u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
        ))),
        None => Err(Trap::Interrupt.into()),
    });
    // Cannot fail: fuel is enabled on every engine this module builds.
    let _ = store.set_fuel(limits.fuel);
    store
}

/// Turns a wasmtime error from instantiating or calling a plugin into a
/// [`CallError`] naming its cause.
pub fn classify_failure(
    store: &Store<CallState>,
    err: wasmtime::Error,
    site: CallSite,
    limits: &PluginLimits,
) -> CallError {
    let state = store.data();
    if state.limiter.hit || err.downcast_ref::<MemoryCapExceeded>().is_some() {
        return CallError::MemoryCap {
            site,
            cap_mib: limits.memory_mib,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return CallError::Timeout {
                site,
                deadline_ms: limits.deadline_ms,
            };
        }
        Some(Trap::OutOfFuel) => {
            return CallError::FuelExhausted {
                site,
                fuel: limits.fuel,
            };
        }
        _ => {}
    }
    let stderr = state
        .stderr
        .as_ref()
        .map(|p| String::from_utf8_lossy(&p.contents()).trim().to_string())
        .unwrap_or_default();
    let trap = match err.downcast_ref::<Trap>() {
        Some(t) => t.to_string(),
        None => format!("{err:#}"),
    };
    let cause = if stderr.is_empty() {
        trap
    } else {
        format!("{trap}; guest said: {stderr}")
    };
    CallError::Trap { site, cause }
}
