//! Traffic planning: what a campaign will ask of its sending number, said before
//! anything is sent. Pure: the caller reads the audience and the number's limits and
//! use from the store.
//!
//! - **Conversations.** Each recipient is counted as a new business-initiated
//!   conversation (those inside their 24-hour window do not open one, so the plan
//!   errs on the safe side). With what the number already reached in the last 24
//!   hours they must fit in 80 % of its daily cap ([`SHARE_PERCENT`]); the other
//!   20 % is headroom for customer-service replies and other sends.
//! - **API calls.** Recipients × interactions (3 by default: the template and the
//!   exchange it starts) must fit in 80 % of what the number's throughput (`mps`)
//!   carries in 24 hours.
//! - **Batch mode.** Above either 80 %, the campaign is spread over 24-hour windows,
//!   each using at most 80 % of the cap: the first what is left of it today, the
//!   next ones 24 hours apart. The runner never starts a window less than 24 hours
//!   after the previous one finished queueing.
//! - **Throughput.** Campaign sends are queued at most at half the number's `mps`
//!   ([`campaign_mps`]) and only while the number's campaign backlog is small, so a
//!   customer's reply never waits behind a campaign.

use crate::limits::policy::DAY_MS;
use serde::{Deserialize, Serialize};

/// The share of a limit (daily cap, daily throughput) a campaign may use, percent.
pub const SHARE_PERCENT: u64 = 80;
/// API calls expected per recipient unless the campaign says otherwise.
pub const DEFAULT_INTERACTIONS: u32 = 3;

/// The messages per second a campaign queues at: half the number's `mps`, at least 1.
pub fn campaign_mps(mps: u32) -> u32 {
    (mps / 2).max(1)
}

/// 80 % of `limit`, at least 1.
pub fn share_of(limit: u64) -> u64 {
    (limit * SHARE_PERCENT / 100).max(1)
}

/// What a plan is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// When the campaign starts, Unix ms.
    pub starts_at: i64,
    /// Contacts the audience matches.
    pub matched: u64,
    /// Those opted in, who will receive it.
    pub recipients: u64,
    /// Left out: no recorded opt-in.
    pub no_opt_in: u64,
    /// Left out: opted out (STOP).
    pub opted_out: u64,
    /// API calls expected per recipient.
    pub interactions: u32,
    /// The number's daily cap on business-initiated conversations; `None`: unlimited.
    pub daily_cap: Option<u32>,
    /// Distinct recipients the number reached with business-initiated messages in
    /// the last 24 hours.
    pub used_24h: u32,
    /// The number's messages per second.
    pub mps: u32,
}

/// Who the campaign reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudiencePlan {
    /// Contacts the audience matches.
    pub matched: u64,
    /// Opted-in contacts, who will receive it.
    pub recipients: u64,
    /// Left out for lack of opt-in.
    pub no_opt_in: u64,
    /// Left out because they opted out.
    pub opted_out: u64,
}

/// One 24-hour window of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Its batch number, from 0.
    pub batch: u32,
    /// Not started before, Unix ms.
    pub starts_at: i64,
    /// Recipients queued in it.
    pub recipients: u64,
    /// Percent of the daily cap the window uses (with what the number used already,
    /// for the first); `None`: no cap.
    pub cap_percent: Option<f64>,
    /// Seconds its sends take at the campaign's pace.
    pub send_seconds: u64,
}

/// A campaign's traffic plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Who it reaches.
    pub audience: AudiencePlan,
    /// API calls expected per recipient.
    pub interactions: u32,
    /// Recipients × interactions.
    pub api_calls: u64,
    /// The number's daily cap; `None`: unlimited.
    pub daily_cap: Option<u32>,
    /// What the number reached in the last 24 hours.
    pub used_24h: u32,
    /// 80 % of the daily cap: the most a window may use, what the number used included.
    pub cap_limit: Option<u64>,
    /// Percent of the daily cap the campaign would take in one go (with what is used).
    pub cap_percent: Option<f64>,
    /// The number's messages per second.
    pub mps: u32,
    /// The pace campaign sends are queued at (half of `mps`).
    pub campaign_mps: u32,
    /// API calls the number's throughput carries in 24 hours.
    pub api_calls_per_day: u64,
    /// Percent of that the campaign's API calls are.
    pub throughput_percent: f64,
    /// Whether it runs in batch mode (spread over 24-hour windows).
    pub batch_mode: bool,
    /// The windows it runs in (one unless in batch mode).
    pub windows: Vec<Window>,
    /// The plan in words, one line each.
    pub summary: Vec<String>,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// Makes the plan.
pub fn plan(i: &PlanInput) -> Plan {
    let interactions = i.interactions.max(1);
    let api_calls = i.recipients * u64::from(interactions);
    let api_calls_per_day = u64::from(i.mps) * (DAY_MS as u64 / 1_000);
    // Recipients per window each limit allows.
    let by_throughput = (share_of(api_calls_per_day) / u64::from(interactions)).max(1);
    let cap_limit = i.daily_cap.map(|c| share_of(u64::from(c)));
    let per_window = cap_limit.map_or(by_throughput, |l| l.min(by_throughput));
    let first = cap_limit.map_or(by_throughput, |l| {
        l.saturating_sub(u64::from(i.used_24h)).min(by_throughput)
    });
    let batch_mode = i.recipients > first;
    let pace = u64::from(campaign_mps(i.mps));
    let mut windows = Vec::new();
    let mut left = i.recipients;
    let mut day = 0i64;
    while left > 0 || windows.is_empty() {
        let quota = if day == 0 { first } else { per_window };
        let n = left.min(quota);
        if n > 0 || left == 0 {
            let used = if day == 0 { u64::from(i.used_24h) } else { 0 };
            windows.push(Window {
                batch: windows.len() as u32,
                starts_at: i.starts_at + day * DAY_MS,
                recipients: n,
                cap_percent: i.daily_cap.map(|c| percent(n + used, u64::from(c))),
                send_seconds: n.div_ceil(pace),
            });
        }
        left -= n;
        day += 1;
    }
    let mut p = Plan {
        audience: AudiencePlan {
            matched: i.matched,
            recipients: i.recipients,
            no_opt_in: i.no_opt_in,
            opted_out: i.opted_out,
        },
        interactions,
        api_calls,
        daily_cap: i.daily_cap,
        used_24h: i.used_24h,
        cap_limit,
        cap_percent: i
            .daily_cap
            .map(|c| percent(i.recipients + u64::from(i.used_24h), u64::from(c))),
        mps: i.mps,
        campaign_mps: campaign_mps(i.mps),
        api_calls_per_day,
        throughput_percent: percent(api_calls, api_calls_per_day),
        batch_mode,
        windows,
        summary: Vec::new(),
    };
    p.summary = summary(&p);
    p
}

fn summary(p: &Plan) -> Vec<String> {
    let a = &p.audience;
    let mut out = vec![
        format!(
            "audience: {} contacts match; {} opted in will receive it; {} left out ({} without opt-in, {} opted out)",
            a.matched,
            a.recipients,
            a.no_opt_in + a.opted_out,
            a.no_opt_in,
            a.opted_out
        ),
        format!(
            "traffic: {} recipients × {} interactions = {} API calls ({} % of the {} calls {} msg/s carry in 24 h)",
            a.recipients,
            p.interactions,
            p.api_calls,
            p.throughput_percent,
            p.api_calls_per_day,
            p.mps
        ),
    ];
    out.push(match (p.daily_cap, p.cap_limit, p.cap_percent) {
        (Some(cap), Some(limit), Some(pct)) => format!(
            "daily cap: {} used in the last 24 h + {} new = {} % of {cap} conversations; the limit for campaigns is 80 % ({limit})",
            p.used_24h, a.recipients, pct
        ),
        _ => "daily cap: unlimited".to_string(),
    });
    out.push(if p.batch_mode {
        format!(
            "batch mode: above 80 % of the limit, the campaign is spread over {} windows 24 h apart, \
             each using at most 80 % of the cap; the rest is kept for customer-service replies and other sends",
            p.windows.len()
        )
    } else {
        "one window: within 80 % of the limits".to_string()
    });
    for w in &p.windows {
        out.push(format!(
            "  window {}: from {}, {} recipients{}, ~{} s",
            w.batch + 1,
            stamp(w.starts_at),
            w.recipients,
            w.cap_percent
                .map(|c| format!(" ({c} % of the cap)"))
                .unwrap_or_default(),
            w.send_seconds
        ));
    }
    out.push(format!(
        "pace: at most {} msg/s of the number's {} (50 %), queued a second's worth at a time, so replies to customers go first",
        p.campaign_mps, p.mps
    ));
    out
}

/// A Unix-ms time as RFC 3339 (UTC, seconds).
pub fn stamp(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The batch of each of `n` recipients, in order, by the plan's windows.
pub fn batches(plan: &Plan, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    for w in &plan.windows {
        for _ in 0..w.recipients {
            if out.len() == n {
                return out;
            }
            out.push(i64::from(w.batch));
        }
    }
    let last = plan.windows.last().map_or(0, |w| i64::from(w.batch));
    out.resize(n, last);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(recipients: u64, cap: Option<u32>, used: u32) -> PlanInput {
        PlanInput {
            starts_at: 1_000,
            matched: recipients + 3,
            recipients,
            no_opt_in: 2,
            opted_out: 1,
            interactions: 3,
            daily_cap: cap,
            used_24h: used,
            mps: 80,
        }
    }

    #[test]
    fn within_80_percent_of_the_cap_is_one_window() {
        let p = plan(&input(800, Some(1_000), 0));
        assert!(!p.batch_mode);
        assert_eq!(p.api_calls, 2_400);
        assert_eq!(p.cap_limit, Some(800));
        assert_eq!(p.cap_percent, Some(80.0));
        assert_eq!(p.windows.len(), 1);
        assert_eq!(p.windows[0].recipients, 800);
        assert_eq!(p.windows[0].starts_at, 1_000);
        assert_eq!(p.windows[0].send_seconds, 20, "800 at 40/s");
        assert!(
            p.summary.iter().any(|l| l.contains("one window")),
            "{:?}",
            p.summary
        );
        assert!(p.summary[0].contains("3 left out (2 without opt-in, 1 opted out)"));
    }

    #[test]
    fn above_80_percent_of_the_cap_is_batch_mode_with_windows_24_hours_apart() {
        let p = plan(&input(801, Some(1_000), 0));
        assert!(p.batch_mode);
        let w: Vec<(u32, i64, u64)> = p
            .windows
            .iter()
            .map(|w| (w.batch, w.starts_at, w.recipients))
            .collect();
        assert_eq!(w, [(0, 1_000, 800), (1, 1_000 + DAY_MS, 1)]);
        assert!(p.summary.iter().any(|l| l.starts_with("batch mode")));

        // What the number used already counts against the first window only.
        let p = plan(&input(2_000, Some(1_000), 300));
        let w: Vec<u64> = p.windows.iter().map(|w| w.recipients).collect();
        assert_eq!(w, [500, 800, 700]);
        assert_eq!(p.windows[0].cap_percent, Some(80.0));
        assert_eq!(p.windows[2].starts_at, 1_000 + 2 * DAY_MS);
        assert_eq!(p.cap_percent, Some(230.0));
    }

    #[test]
    fn a_number_already_at_80_percent_starts_tomorrow() {
        let p = plan(&input(10, Some(1_000), 900));
        assert!(p.batch_mode);
        assert_eq!(p.windows.len(), 1);
        assert_eq!(p.windows[0].batch, 0);
        assert_eq!(p.windows[0].starts_at, 1_000 + DAY_MS);
        assert_eq!(p.windows[0].recipients, 10);
    }

    #[test]
    fn a_small_cap_still_leaves_headroom() {
        let p = plan(&input(6, Some(5), 0));
        assert!(p.batch_mode);
        let w: Vec<u64> = p.windows.iter().map(|w| w.recipients).collect();
        assert_eq!(w, [4, 2], "80 % of 5 is 4");
        assert_eq!(batches(&p, 6), [0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn throughput_can_force_batch_mode_without_a_cap() {
        let mut i = input(1_000_000, None, 0);
        i.mps = 1;
        i.interactions = 10;
        let p = plan(&i);
        // 1 msg/s carries 86,400 calls a day; 80 % of that is 69,120, 6,912 recipients.
        assert_eq!(p.api_calls_per_day, 86_400);
        assert!(p.batch_mode);
        assert_eq!(p.windows[0].recipients, 6_912);
        assert_eq!(p.campaign_mps, 1);
        let p = plan(&input(1_000, None, 0));
        assert!(!p.batch_mode);
        assert_eq!(p.cap_percent, None);
        assert!(p.summary.iter().any(|l| l == "daily cap: unlimited"));
    }

    #[test]
    fn an_empty_audience_plans_one_empty_window() {
        let p = plan(&input(0, Some(1_000), 0));
        assert!(!p.batch_mode);
        assert_eq!(p.windows.len(), 1);
        assert_eq!(p.windows[0].recipients, 0);
        assert!(batches(&p, 0).is_empty());
    }

    #[test]
    fn campaigns_use_half_the_throughput() {
        assert_eq!(campaign_mps(80), 40);
        assert_eq!(campaign_mps(1), 1);
        assert_eq!(share_of(5), 4);
        assert_eq!(share_of(1), 1);
    }
}
