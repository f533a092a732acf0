//! `scrm:plugin/timers`, `profile`, `orders` and `parcels` (since 0.1.1) and `assist`
//! (since 0.1.2, in `assist.rs`): what a flow needs
//! beyond its event. Timer changes are collected in the call's state and handed to
//! the host with the call's result, so they take effect only when the call
//! succeeds; reads go to the host through [`FlowReader`], given per call.

use crate::bindings::scrm::plugin::commerce::Tracking;
use crate::bindings::scrm::plugin::orders::{self as orders_wit, OrderInfo};
use crate::bindings::scrm::plugin::parcels as parcels_wit;
use crate::bindings::scrm::plugin::profile::{self as profile_wit, Profile};
use crate::bindings::scrm::plugin::timers as timers_wit;
use crate::bindings::types::Message;
use crate::storage::FlowReader;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker};

/// Most timer changes one call may make.
pub const MAX_TIMER_CHANGES: usize = 100;
/// Longest timer key, bytes.
pub const MAX_TIMER_KEY: usize = 200;
/// Largest timer payload, bytes.
pub const MAX_TIMER_PAYLOAD: usize = 16 << 10;
/// Most messages `profile.history` returns.
pub const MAX_HISTORY: u32 = 50;

/// A change to the flow's timers, made by a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerChange {
    /// Schedule (or replace) the timer `key`.
    Schedule {
        /// Its key.
        key: String,
        /// When it is due, Unix ms.
        at: i64,
        /// What it carries back to the flow.
        payload: Vec<u8>,
    },
    /// Cancel the pending timer `key`.
    Cancel {
        /// Its key.
        key: String,
    },
}

/// Per-call automation state: the timer changes, drafts and model usage so far,
/// and the reader of the event's contact.
#[derive(Debug, Default)]
pub struct AutomationState {
    pub(super) reader: Option<Box<dyn FlowReader>>,
    changes: Vec<TimerChange>,
    pub(super) assist: super::assist::AssistState,
    waited: Duration,
}

impl AutomationState {
    /// State for a call that may read through `reader` (none: reads find nothing);
    /// `conversation`: whether the event has one (drafts need it).
    pub fn new(reader: Option<Box<dyn FlowReader>>, conversation: bool) -> AutomationState {
        AutomationState {
            reader,
            changes: Vec::new(),
            assist: super::assist::AssistState::new(conversation),
            waited: Duration::ZERO,
        }
    }

    /// The timer changes the call made, in order.
    pub fn take_changes(&mut self) -> Vec<TimerChange> {
        std::mem::take(&mut self.changes)
    }

    /// The drafts and model usage the call recorded.
    pub fn take_assist(&mut self) -> super::assist::Assisted {
        self.assist.take()
    }

    /// Time spent waiting for the host's order lookups (not counted against the
    /// call's CPU deadline, like HTTP answers).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl timers_wit::Host for AutomationState {
    fn schedule(&mut self, key: String, at: i64, payload: Vec<u8>) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_TIMER_KEY {
            return Err(format!("timer keys must be 1..={MAX_TIMER_KEY} bytes"));
        }
        if payload.len() > MAX_TIMER_PAYLOAD {
            return Err(format!(
                "timer payloads are at most {MAX_TIMER_PAYLOAD} bytes, got {}",
                payload.len()
            ));
        }
        if self.changes.len() >= MAX_TIMER_CHANGES {
            return Err(format!(
                "at most {MAX_TIMER_CHANGES} timer changes per event"
            ));
        }
        self.changes.retain(|c| !matches!(c, TimerChange::Schedule { key: k, .. } | TimerChange::Cancel { key: k } if *k == key));
        self.changes
            .push(TimerChange::Schedule { key, at, payload });
        Ok(())
    }

    fn next_occurrence(&mut self, spec: String, zone: Option<String>) -> Result<i64, String> {
        self.next(&spec, zone.as_deref())
    }

    fn cancel(&mut self, key: String) {
        self.changes.retain(|c| !matches!(c, TimerChange::Schedule { key: k, .. } | TimerChange::Cancel { key: k } if *k == key));
        if self.changes.len() < MAX_TIMER_CHANGES {
            self.changes.push(TimerChange::Cancel { key });
        }
    }
}

impl AutomationState {
    fn next(&self, spec: &str, zone: Option<&str>) -> Result<i64, String> {
        match self.reader.as_ref() {
            Some(reader) => reader.next_occurrence(spec, zone),
            None => Err("no schedules in this context".into()),
        }
    }
}

impl profile_wit::Host for AutomationState {
    fn get(&mut self) -> Option<Profile> {
        let reader = self.reader.as_ref()?;
        reader.profile().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read a contact's profile for a flow");
            None
        })
    }

    fn history(&mut self, limit: u32) -> Vec<Message> {
        let Some(reader) = self.reader.as_ref() else {
            return Vec::new();
        };
        reader.history(limit.min(MAX_HISTORY)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read a contact's history for a flow");
            Vec::new()
        })
    }
}

impl orders_wit::Host for AutomationState {
    fn recent(&mut self, since: i64, limit: u32) -> Result<Vec<OrderInfo>, String> {
        let Some(reader) = self.reader.as_ref() else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let found = reader.orders(since, limit.min(MAX_HISTORY));
        self.waited += started.elapsed();
        found
    }
}

impl parcels_wit::Host for AutomationState {
    fn track(&mut self, carrier: Option<String>, number: String) -> Result<Tracking, String> {
        let Some(reader) = self.reader.as_ref() else {
            return Err("no courier in this context".into());
        };
        let started = Instant::now();
        let found = reader.track(carrier.as_deref(), &number);
        self.waited += started.elapsed();
        found
    }
}

struct Automation;

impl HasData for Automation {
    type Data<'a> = &'a mut AutomationState;
}

/// Adds `scrm:plugin/timers`, `profile`, `orders`, `parcels` and `assist` to
/// `linker`, reading state through `get`.
///
/// # Errors
/// When an interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut AutomationState,
) -> wasmtime::Result<()> {
    timers_wit::add_to_linker::<T, Automation>(linker, get)?;
    profile_wit::add_to_linker::<T, Automation>(linker, get)?;
    orders_wit::add_to_linker::<T, Automation>(linker, get)?;
    parcels_wit::add_to_linker::<T, Automation>(linker, get)?;
    crate::bindings::scrm::plugin::assist::add_to_linker::<T, Automation>(linker, get)
}
