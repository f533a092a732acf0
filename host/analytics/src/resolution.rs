//! Resolution: of the conversations a customer wrote in during the range, the share
//! that is resolved now — resolved after the customer's first message in the range
//! (a conversation resolved before and reopened by that message does not count) —
//! overall and per agent it is assigned to now.

use crate::stats::share;
use serde::Serialize;
use std::collections::BTreeMap;

/// One conversation, as the computation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    /// The customer's first message in the range, Unix ms.
    pub first_inbound: i64,
    /// When it was resolved, if it is resolved now.
    pub resolved_at: Option<i64>,
    /// Who it is assigned to now.
    pub assignee: Option<i64>,
}

/// An agent's conversations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResolution {
    /// The person.
    pub person: i64,
    /// Conversations assigned to them now with customer messages in the range.
    pub conversations: u64,
    /// Of them, resolved.
    pub resolved: u64,
    /// The share resolved.
    pub rate: f64,
}

/// Resolution over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolution {
    /// Conversations with customer messages in the range.
    pub conversations: u64,
    /// Of them, resolved since.
    pub resolved: u64,
    /// The share resolved.
    pub rate: f64,
    /// Per agent assigned now, by id.
    pub agents: Vec<AgentResolution>,
}

/// Resolution of `convs`.
pub fn resolution(convs: &[Conv]) -> Resolution {
    let done = |c: &Conv| c.resolved_at.is_some_and(|r| r >= c.first_inbound);
    let resolved = convs.iter().filter(|c| done(c)).count() as u64;
    let mut per: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for c in convs {
        if let Some(p) = c.assignee {
            let e = per.entry(p).or_default();
            e.0 += 1;
            e.1 += u64::from(done(c));
        }
    }
    Resolution {
        conversations: convs.len() as u64,
        resolved,
        rate: share(resolved, convs.len() as u64),
        agents: per
            .into_iter()
            .map(|(person, (n, r))| AgentResolution {
                person,
                conversations: n,
                resolved: r,
                rate: share(r, n),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_after_the_customer_wrote() {
        let c = |first, resolved_at, assignee| Conv {
            first_inbound: first,
            resolved_at,
            assignee,
        };
        let r = resolution(&[
            c(100, Some(200), Some(4)),
            c(100, Some(50), Some(4)), // resolved before, reopened: open now in effect
            c(100, None, Some(5)),
            c(100, Some(300), None),
        ]);
        assert_eq!((r.conversations, r.resolved, r.rate), (4, 2, 0.5));
        assert_eq!(
            r.agents[0],
            AgentResolution {
                person: 4,
                conversations: 2,
                resolved: 1,
                rate: 0.5
            }
        );
        assert_eq!((r.agents[1].person, r.agents[1].rate), (5, 0.0));
        assert_eq!(resolution(&[]).rate, 0.0);
    }
}
