//! The sales funnel: the conversations whose first message falls in a range, and how
//! far each went by the range's end.
//!
//! | stage | a conversation is at it when |
//! |---|---|
//! | `first_contact` | its first message (either way) is in the range |
//! | `engaged` | the customer wrote after a business message (a two-way exchange) |
//! | `qualified` | a customer message was classified with a buying intent (price, purchase, …) |
//! | `order` | the contact placed an order at or after the first contact |
//! | `closed` | one of those orders is paid |
//!
//! Stages are cumulative (a conversation that ordered counts as engaged and
//! qualified even when it skipped a step, e.g. a catalogue order with no question
//! first), so each stage is a subset of the one before. Conversion at a stage is
//! its count over the previous stage's; overall conversion is closed over first
//! contact. No conversations: every count and share is 0.

use crate::stats::share;
use serde::Serialize;

/// The stage names, in order.
pub const STAGES: [&str; 5] = ["first_contact", "engaged", "qualified", "order", "closed"];

/// What is known of one conversation of the cohort by the range's end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Journey {
    /// The customer wrote after a business message.
    pub engaged: bool,
    /// A customer message had a buying intent.
    pub qualified: bool,
    /// The contact ordered.
    pub ordered: bool,
    /// An order is paid.
    pub closed: bool,
}

impl Journey {
    /// The furthest stage reached: 0 (first contact) to 4 (closed).
    pub fn depth(&self) -> usize {
        if self.closed {
            4
        } else if self.ordered {
            3
        } else if self.qualified {
            2
        } else if self.engaged {
            1
        } else {
            0
        }
    }
}

/// One stage's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// Its name (see [`STAGES`]).
    pub stage: &'static str,
    /// Conversations that reached it.
    pub count: u64,
    /// Share of the previous stage's (1 for the first stage with conversations).
    pub of_previous: f64,
    /// Share of first contacts.
    pub of_first: f64,
}

/// The funnel of a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    /// The five stages, in order.
    pub stages: Vec<Stage>,
    /// Closed over first contact.
    pub overall: f64,
    /// The overall conversion the funnel is held against.
    pub target: f64,
    /// Overall at or over the target.
    pub on_target: bool,
}

/// The funnel of `journeys`, held against `target`.
pub fn funnel(journeys: &[Journey], target: f64) -> Funnel {
    let mut reached = [0u64; 5];
    for j in journeys {
        for r in reached.iter_mut().take(j.depth() + 1) {
            *r += 1;
        }
    }
    let stages = STAGES
        .iter()
        .enumerate()
        .map(|(i, name)| Stage {
            stage: name,
            count: reached[i],
            of_previous: share(reached[i], if i == 0 { reached[0] } else { reached[i - 1] }),
            of_first: share(reached[i], reached[0]),
        })
        .collect();
    let overall = share(reached[4], reached[0]);
    Funnel {
        stages,
        overall,
        target,
        on_target: reached[0] > 0 && overall >= target,
    }
}

/// A message of a cohort conversation, oldest first per conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// From the customer.
    pub inbound: bool,
    /// The classifier's intent, for customer messages.
    pub intent: Option<String>,
}

/// Engaged and qualified from a conversation's messages in time order.
pub fn engagement(steps: &[Step], buying: &[String]) -> (bool, bool) {
    let mut business_wrote = false;
    let (mut engaged, mut qualified) = (false, false);
    for s in steps {
        if s.inbound {
            engaged |= business_wrote;
            qualified |= s
                .intent
                .as_deref()
                .is_some_and(|i| buying.iter().any(|b| b == i));
        } else {
            business_wrote = true;
        }
    }
    (engaged, qualified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(inbound: bool, intent: Option<&str>) -> Step {
        Step {
            inbound,
            intent: intent.map(str::to_owned),
        }
    }

    #[test]
    fn stages_are_cumulative_and_shares_chain() {
        let j = |engaged, qualified, ordered, closed| Journey {
            engaged,
            qualified,
            ordered,
            closed,
        };
        let journeys = [
            j(false, false, false, false),
            j(true, false, false, false),
            j(true, true, false, false),
            j(true, true, true, false),
            // A catalogue order straight away: ordered and paid without a question.
            j(false, false, true, true),
        ];
        let f = funnel(&journeys, 0.12);
        let counts: Vec<u64> = f.stages.iter().map(|s| s.count).collect();
        assert_eq!(counts, [5, 4, 3, 2, 1]);
        assert_eq!(f.stages[1].of_previous, 0.8);
        assert_eq!(f.stages[4].of_previous, 0.5);
        assert_eq!(f.stages[3].of_first, 0.4);
        assert_eq!(f.overall, 0.2);
        assert!(f.on_target);
    }

    #[test]
    fn no_conversations_is_zeros_and_not_on_target() {
        let f = funnel(&[], 0.12);
        assert!(
            f.stages
                .iter()
                .all(|s| s.count == 0 && s.of_previous == 0.0)
        );
        assert_eq!(f.overall, 0.0);
        assert!(!f.on_target);
    }

    #[test]
    fn engaged_needs_a_reply_after_the_business_and_qualified_a_buying_intent() {
        let buying = vec!["price-inquiry".to_string()];
        // The customer wrote twice before any answer: not engaged.
        assert_eq!(
            engagement(
                &[step(true, None), step(true, None), step(false, None)],
                &buying
            ),
            (false, false)
        );
        assert_eq!(
            engagement(
                &[step(false, None), step(true, Some("price-inquiry"))],
                &buying
            ),
            (true, true)
        );
        assert_eq!(
            engagement(&[step(true, Some("shipping")), step(false, None)], &buying),
            (false, false)
        );
    }
}
