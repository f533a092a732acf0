//! The decision for one send: go now, wait (until when, and why), or refuse (and
//! why). Pure: the caller gathers the [`Facts`] from the store, so the same rules run
//! when the API accepts a request and again when the outbox is about to send it.
//!
//! The rules, in order:
//! 1. A mark-as-read always goes.
//! 2. Free-form messages (text, media, interactive, reaction, ...) go only inside the
//!    24-hour customer-service window, which opens with each inbound message from the
//!    contact; outside it they are refused: only a template may open a conversation.
//! 3. Templates inside the window are replies; they go unless they are marketing to a
//!    contact who stopped marketing.
//! 4. Templates outside the window are *business-initiated*. They are refused to a
//!    contact who opted out; marketing ones are refused when the contact stopped
//!    marketing and wait while Meta paused marketing to the contact (131049) or from
//!    the number (368). A contact without recorded opt-in gets at most one
//!    business-initiated message per 24 hours; the number reaches at most `daily_cap`
//!    distinct contacts with business-initiated messages per rolling 24 hours (its
//!    messaging tier). Over either, the send waits until the oldest one leaves the
//!    24-hour span.

use scrm_store::consent::Consent;
pub use scrm_wire::outbound::{Category, Kind};
use serde::Serialize;

/// 24 hours in milliseconds: the customer-service window, the opt-in rule and the
/// daily cap all use it.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Everything the rules need to know about one send, read from the store.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Now, Unix ms.
    pub now: i64,
    /// The send's kind.
    pub kind: Kind,
    /// The send's category.
    pub category: Category,
    /// The contact's last inbound message to this number, Unix ms.
    pub last_inbound_at: Option<i64>,
    /// The recipient's consent.
    pub consent: Consent,
    /// Meta paused marketing from this number until then (368), Unix ms.
    pub number_marketing_paused_until: Option<i64>,
    /// The number's daily cap on business-initiated conversations; `None` = unlimited.
    pub daily_cap: Option<u32>,
    /// Whether contacts without recorded opt-in are limited to one business-initiated
    /// message per 24 hours.
    pub require_opt_in: bool,
    /// Distinct recipients reached with business-initiated messages from this number
    /// in the last 24 hours, and the oldest such send (Unix ms).
    pub reached_24h: u32,
    /// When the oldest business-initiated send in the last 24 hours went, Unix ms.
    pub oldest_reached_at: Option<i64>,
    /// True when this recipient is among `reached_24h` already (no new conversation).
    pub recipient_reached: bool,
    /// The last business-initiated send to this recipient, Unix ms.
    pub last_business_initiated_to_recipient: Option<i64>,
}

/// Why a send waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The number's daily cap on business-initiated conversations is reached.
    DailyCap,
    /// The contact has no recorded opt-in and got a business-initiated message in the
    /// last 24 hours.
    OptInRequired,
    /// Meta paused marketing messages to this contact (131049).
    MarketingPausedForContact,
    /// Meta paused marketing messages from this number (368).
    MarketingPausedForNumber,
    /// Meta asked to slow down (130429, 131056) or the API failed and will be retried.
    Backoff,
    /// Pacing per recipient.
    RecipientPacing,
}

impl WaitReason {
    /// Its name as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::DailyCap => "daily_cap",
            WaitReason::OptInRequired => "opt_in_required",
            WaitReason::MarketingPausedForContact => "marketing_paused_for_contact",
            WaitReason::MarketingPausedForNumber => "marketing_paused_for_number",
            WaitReason::Backoff => "backoff",
            WaitReason::RecipientPacing => "recipient_pacing",
        }
    }
}

/// Why a send can never go as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Free-form outside the 24-hour customer-service window: use a template.
    OutsideServiceWindow,
    /// The contact opted out of business-initiated messages.
    OptedOut,
    /// The contact stopped marketing messages.
    MarketingStopped,
}

impl Refusal {
    /// Its machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::OutsideServiceWindow => "outside_service_window",
            Refusal::OptedOut => "contact_opted_out",
            Refusal::MarketingStopped => "marketing_stopped",
        }
    }

    /// A human explanation.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::OutsideServiceWindow => {
                "the contact's last message is more than 24 hours old (or there is none): outside the customer-service window only an approved template can be sent"
            }
            Refusal::OptedOut => {
                "the contact opted out (STOP): business-initiated messages are not sent until they opt in again"
            }
            Refusal::MarketingStopped => {
                "the contact stopped marketing messages: marketing templates are not sent to them"
            }
        }
    }
}

/// The decision for one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send now. `business_initiated` counts it against the daily cap and opt-in rule.
    Send {
        /// True when it opens a business-initiated conversation.
        business_initiated: bool,
    },
    /// Wait until `until` (Unix ms).
    Wait {
        /// When to look again.
        until: i64,
        /// Why.
        reason: WaitReason,
    },
    /// Never send as it is.
    Refuse(Refusal),
}

/// True when the customer-service window is open at `now`.
pub fn window_open(last_inbound_at: Option<i64>, now: i64) -> bool {
    last_inbound_at.is_some_and(|at| now - at < DAY_MS)
}

/// Applies the rules to one send.
pub fn decide(f: &Facts) -> Decision {
    let in_window = window_open(f.last_inbound_at, f.now);
    match f.kind {
        Kind::Read => {
            return Decision::Send {
                business_initiated: false,
            };
        }
        Kind::FreeForm if !in_window => return Decision::Refuse(Refusal::OutsideServiceWindow),
        Kind::FreeForm => {
            return Decision::Send {
                business_initiated: false,
            };
        }
        Kind::Template => {}
    }
    let marketing = f.category == Category::Marketing;
    if marketing && f.consent.marketing_stopped_at.is_some() {
        return Decision::Refuse(Refusal::MarketingStopped);
    }
    if in_window {
        return Decision::Send {
            business_initiated: false,
        };
    }
    if f.consent.opted_out() {
        return Decision::Refuse(Refusal::OptedOut);
    }
    if marketing {
        if let Some(until) = f.consent.marketing_paused_until.filter(|u| *u > f.now) {
            return Decision::Wait {
                until,
                reason: WaitReason::MarketingPausedForContact,
            };
        }
        if let Some(until) = f.number_marketing_paused_until.filter(|u| *u > f.now) {
            return Decision::Wait {
                until,
                reason: WaitReason::MarketingPausedForNumber,
            };
        }
    }
    if f.require_opt_in
        && !f.consent.opted_in()
        && let Some(last) = f
            .last_business_initiated_to_recipient
            .filter(|l| f.now - l < DAY_MS)
    {
        return Decision::Wait {
            until: last + DAY_MS,
            reason: WaitReason::OptInRequired,
        };
    }
    if let Some(cap) = f.daily_cap
        && !f.recipient_reached
        && f.reached_24h >= cap
    {
        let until = f.oldest_reached_at.map_or(f.now + DAY_MS, |o| o + DAY_MS);
        return Decision::Wait {
            until: until.max(f.now + 1),
            reason: WaitReason::DailyCap,
        };
    }
    Decision::Send {
        business_initiated: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY_MS;

    fn facts(kind: Kind) -> Facts {
        Facts {
            now: NOW,
            kind,
            category: if kind == Kind::Template {
                Category::Marketing
            } else {
                Category::Service
            },
            last_inbound_at: None,
            consent: Consent::default(),
            number_marketing_paused_until: None,
            daily_cap: Some(1000),
            require_opt_in: true,
            reached_24h: 0,
            oldest_reached_at: None,
            recipient_reached: false,
            last_business_initiated_to_recipient: None,
        }
    }

    #[test]
    fn refuses_free_form_outside_customer_service_window() {
        let mut f = facts(Kind::FreeForm);
        assert_eq!(decide(&f), Decision::Refuse(Refusal::OutsideServiceWindow));
        f.last_inbound_at = Some(NOW - DAY_MS);
        assert_eq!(decide(&f), Decision::Refuse(Refusal::OutsideServiceWindow));
        f.last_inbound_at = Some(NOW - DAY_MS + 1);
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: false
            }
        );
    }

    #[test]
    fn template_inside_window_is_a_reply_not_business_initiated() {
        let mut f = facts(Kind::Template);
        f.last_inbound_at = Some(NOW - 60_000);
        f.reached_24h = 5000;
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: false
            }
        );
    }

    #[test]
    fn template_outside_window_counts_against_the_daily_cap() {
        let mut f = facts(Kind::Template);
        f.reached_24h = 999;
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
        f.reached_24h = 1000;
        f.oldest_reached_at = Some(NOW - 3_600_000);
        assert_eq!(
            decide(&f),
            Decision::Wait {
                until: NOW - 3_600_000 + DAY_MS,
                reason: WaitReason::DailyCap
            }
        );
        f.recipient_reached = true;
        f.consent.opted_in_at = Some(1);
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
        f.daily_cap = None;
        f.recipient_reached = false;
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
    }

    #[test]
    fn contact_without_opt_in_gets_one_business_initiated_message_per_day() {
        let mut f = facts(Kind::Template);
        f.last_business_initiated_to_recipient = Some(NOW - 1000);
        assert_eq!(
            decide(&f),
            Decision::Wait {
                until: NOW - 1000 + DAY_MS,
                reason: WaitReason::OptInRequired
            }
        );
        f.consent.opted_in_at = Some(NOW - 5000);
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
        f.consent.opted_in_at = None;
        f.require_opt_in = false;
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
    }

    #[test]
    fn opted_out_contact_gets_no_business_initiated_message_but_replies_still_go() {
        let mut f = facts(Kind::Template);
        f.category = Category::Utility;
        f.consent.opted_out_at = Some(NOW - 10);
        assert_eq!(decide(&f), Decision::Refuse(Refusal::OptedOut));
        f.last_inbound_at = Some(NOW - 10);
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: false
            }
        );
        let mut reply = facts(Kind::FreeForm);
        reply.consent.opted_out_at = Some(NOW - 10);
        reply.last_inbound_at = Some(NOW - 10);
        assert_eq!(
            decide(&reply),
            Decision::Send {
                business_initiated: false
            }
        );
    }

    #[test]
    fn marketing_rules_stop_and_pause_marketing_only() {
        let mut f = facts(Kind::Template);
        f.consent.marketing_stopped_at = Some(1);
        assert_eq!(decide(&f), Decision::Refuse(Refusal::MarketingStopped));
        f.category = Category::Utility;
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: true
            }
        );
        f.category = Category::Marketing;
        f.consent.marketing_stopped_at = None;
        f.consent.marketing_paused_until = Some(NOW + 50);
        assert_eq!(
            decide(&f),
            Decision::Wait {
                until: NOW + 50,
                reason: WaitReason::MarketingPausedForContact
            }
        );
        f.consent.marketing_paused_until = Some(NOW - 50);
        f.number_marketing_paused_until = Some(NOW + 70);
        assert_eq!(
            decide(&f),
            Decision::Wait {
                until: NOW + 70,
                reason: WaitReason::MarketingPausedForNumber
            }
        );
    }

    #[test]
    fn mark_as_read_always_goes() {
        let mut f = facts(Kind::Read);
        f.consent.opted_out_at = Some(1);
        assert_eq!(
            decide(&f),
            Decision::Send {
                business_initiated: false
            }
        );
    }
}
