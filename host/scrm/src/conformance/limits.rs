//! The limits check: no call hit a limit, and how much of each the hungriest call
//! used (the headroom a plugin has before production would stop it).

use super::Check;
use crate::runner::Outcome;
use crate::runner::units::{bytes, ms, percent};
use scrm_engine::PluginLimits;
use std::time::Duration;

pub(super) use crate::runner::units::thousands;

/// The failure codes of a limit hit.
const LIMIT_CODES: [&str; 4] = [
    "plugin_timeout",
    "plugin_fuel_exhausted",
    "plugin_memory_cap",
    "plugin_output_too_large",
];

/// The most any one call used of each limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Headroom {
    /// Calls measured.
    pub calls: usize,
    /// The longest time the CPU deadline counted (wall time less waits for HTTP
    /// answers).
    pub time: Duration,
    /// The longest wall time, waits included.
    pub wall: Duration,
    /// The most fuel.
    pub fuel: u64,
    /// The largest peak memory, bytes.
    pub memory: usize,
}

impl Headroom {
    /// "time 1.21 ms of 200 ms (0.61 %) · fuel … · memory …".
    pub fn text(&self, l: &PluginLimits) -> String {
        let cap = (l.memory_mib as usize) << 20;
        let deadline = Duration::from_millis(l.deadline_ms);
        let waits = if self.wall > self.time {
            format!(
                " (wall {:.2} ms with waits for HTTP answers)",
                ms(self.wall)
            )
        } else {
            String::new()
        };
        format!(
            "time {:.2} ms of {} ms ({}){waits} · fuel {} of {} ({}) · memory {} of {} ({})",
            ms(self.time),
            l.deadline_ms,
            percent(ms(self.time), ms(deadline)),
            thousands(self.fuel),
            thousands(l.fuel),
            percent(self.fuel as f64, l.fuel as f64),
            bytes(self.memory),
            bytes(cap),
            percent(self.memory as f64, cap as f64),
        )
    }
}

/// The limits check over `outcomes`, and what the calls used at most (none when
/// no call was measured).
pub(super) fn check<'a>(
    outcomes: impl Iterator<Item = &'a Outcome>,
    limits: &PluginLimits,
) -> (Check, Option<Headroom>) {
    let mut most = Headroom {
        calls: 0,
        time: Duration::ZERO,
        wall: Duration::ZERO,
        fuel: 0,
        memory: 0,
    };
    let mut problems = Vec::new();
    for o in outcomes {
        if let Err(f) = &o.result
            && LIMIT_CODES.contains(&f.code.as_str())
        {
            problems.push(format!(
                "{} {}: {} {}",
                o.call,
                o.subject,
                f.code,
                super::messages::short(&f.message)
            ));
        }
        let Some(u) = &o.usage else { continue };
        most.calls += 1;
        most.time = most.time.max(u.counted());
        most.wall = most.wall.max(u.wall);
        most.fuel = most.fuel.max(u.fuel);
        most.memory = most.memory.max(u.peak_memory);
    }
    if most.calls == 0 {
        return (Check::fail("limits", "no call was measured"), None);
    }
    let covered = format!(
        "{} calls within every limit; the most one used: {}",
        most.calls,
        most.text(limits)
    );
    let mut check = Check::from_problems("limits", covered, &problems);
    if !check.passed {
        check.detail = format!("{}; the most one used: {}", check.detail, most.text(limits));
    }
    (check, Some(most))
}
