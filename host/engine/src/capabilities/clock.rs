//! `scrm:plugin/clock`: the host's wall clock.

use crate::bindings::scrm::plugin::clock as wit;
use wasmtime::component::{HasData, Linker};

/// Per-call clock state (none needed; the type keeps the capability's shape).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClockState;

impl wit::Host for ClockState {
    fn now(&mut self) -> i64 {
        crate::now_ms()
    }
}

struct Clock;

impl HasData for Clock {
    type Data<'a> = &'a mut ClockState;
}

/// Adds `scrm:plugin/clock` to `linker`, reading state through `get`.
///
/// # Errors
/// When the interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ClockState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Clock>(linker, get)
}
