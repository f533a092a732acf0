//! Customer turns and the business's answers to them.
//!
//! - A **turn** starts with a customer message when none is open in its
//!   conversation; later customer messages join it.
//! - It is **answered** by the first business message that is not automated (an
//!   agent in the inbox, an API client, a reply written in the CRM). A flow's,
//!   responder's or campaign's message does not answer it: the customer is still
//!   waiting for a person.
//! - Its **response time** is the business time ([`crate::hours`]) from the turn's
//!   first message to that answer, credited to the agent who wrote it, if a person.
//! - A **first response** answers a turn that opened a conversation, or that came
//!   after 24 hours of silence in it.
//! - A turn is counted in the range it started in; one still open is `unanswered`.

use crate::hours::BusinessHours;
use crate::stats::{Summary, summarize};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

/// Silence after which a customer's message opens a new conversation session.
pub const SESSION_GAP_MS: i64 = 24 * 3_600_000;

/// Who sent a business message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The customer.
    Customer,
    /// A person (inbox, or an API token acting for them).
    Person(i64),
    /// Someone else not automated: an API client, the operator, a CRM reply.
    Other,
    /// A flow, responder or campaign.
    Automated,
}

/// One message, as the computation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    /// Its conversation.
    pub conversation: i64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Who sent it.
    pub sender: Sender,
}

/// An agent's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentTimes {
    /// The person.
    pub person: i64,
    /// Turns they answered.
    pub response: Summary,
    /// Conversations they answered in.
    pub conversations: u64,
    /// Whether their mean response time is over the threshold.
    pub flagged: bool,
}

/// Response times over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseTimes {
    /// Answers to turns that opened a conversation session.
    pub first_response: Summary,
    /// Answers to every turn.
    pub response: Summary,
    /// The median of each conversation's median response time, s.
    pub conversation_median_s: f64,
    /// Turns that started in the range.
    pub turns: u64,
    /// Of them, not answered (yet).
    pub unanswered: u64,
    /// Per agent who answered, by id.
    pub agents: Vec<AgentTimes>,
    /// The mean above which an agent is flagged, s.
    pub flag_over_s: f64,
}

/// Response times of the turns starting in `[start, end)`. `messages` are ordered
/// by conversation, then time, and reach back at least [`SESSION_GAP_MS`] before
/// `start` (to know which turns are open) and as far after `end` as answers are
/// looked for.
pub fn response_times(
    messages: &[Msg],
    (start, end): (i64, i64),
    hours: &BusinessHours,
    tz: Tz,
    flag_over_ms: i64,
) -> ResponseTimes {
    let mut first = Vec::new();
    let mut all = Vec::new();
    let mut per_conversation: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut per_agent: BTreeMap<i64, (Vec<i64>, std::collections::BTreeSet<i64>)> = BTreeMap::new();
    let (mut turns, mut unanswered) = (0u64, 0u64);
    let mut i = 0;
    while i < messages.len() {
        let conv = messages[i].conversation;
        let mut open: Option<(i64, bool)> = None; // (start, opens a session)
        let mut last: Option<i64> = None;
        while i < messages.len() && messages[i].conversation == conv {
            let m = messages[i];
            match m.sender {
                Sender::Customer => {
                    if open.is_none() {
                        let session = last.is_none_or(|l| m.at_ms - l >= SESSION_GAP_MS);
                        open = Some((m.at_ms, session));
                        if (start..end).contains(&m.at_ms) {
                            turns += 1;
                        }
                    }
                }
                Sender::Automated => {}
                Sender::Person(_) | Sender::Other => {
                    if let Some((t0, session)) = open.take()
                        && (start..end).contains(&t0)
                    {
                        let took = hours.business_ms(t0, m.at_ms, tz);
                        all.push(took);
                        per_conversation.entry(conv).or_default().push(took);
                        if session {
                            first.push(took);
                        }
                        if let Sender::Person(p) = m.sender {
                            let a = per_agent.entry(p).or_default();
                            a.0.push(took);
                            a.1.insert(conv);
                        }
                    }
                }
            }
            last = Some(m.at_ms);
            i += 1;
        }
        if open.is_some_and(|(t0, _)| (start..end).contains(&t0)) {
            unanswered += 1;
        }
    }
    let medians: Vec<i64> = per_conversation
        .into_values()
        .map(|v| (summarize(v).median_s * 1000.0) as i64)
        .collect();
    let flag_over_s = flag_over_ms as f64 / 1000.0;
    ResponseTimes {
        first_response: summarize(first),
        response: summarize(all),
        conversation_median_s: summarize(medians).median_s,
        turns,
        unanswered,
        agents: per_agent
            .into_iter()
            .map(|(person, (times, convs))| {
                let response = summarize(times);
                AgentTimes {
                    person,
                    flagged: response.mean_s > flag_over_s,
                    response,
                    conversations: convs.len() as u64,
                }
            })
            .collect(),
        flag_over_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn m(conversation: i64, at_min: i64, sender: Sender) -> Msg {
        Msg {
            conversation,
            at_ms: 1_000 * 24 * 60 * MIN + at_min * MIN,
            sender,
        }
    }

    #[test]
    fn turns_answers_agents_and_automation() {
        use Sender::*;
        let msgs = [
            // Conversation 1: a bot reply does not answer; Giulia (4) does after 5 min.
            m(1, 0, Customer),
            m(1, 1, Automated),
            m(1, 2, Customer),
            m(1, 5, Person(4)),
            // …then the customer again, answered by Luca (5) in 8 min.
            m(1, 10, Customer),
            m(1, 18, Person(5)),
            // Conversation 2: answered by Giulia in 3 min; then one left unanswered.
            m(2, 0, Customer),
            m(2, 3, Person(4)),
            m(2, 30, Customer),
        ];
        let base = 1_000 * 24 * 60 * MIN;
        let r = response_times(
            &msgs,
            (base, base + 60 * MIN),
            &BusinessHours::always(),
            chrono_tz::UTC,
            6 * MIN,
        );
        assert_eq!((r.turns, r.unanswered), (4, 1));
        assert_eq!(
            (r.response.count, r.response.median_s, r.response.mean_s),
            (3, 300.0, 320.0)
        );
        assert_eq!(
            (r.first_response.count, r.first_response.median_s),
            (2, 240.0),
            "5 and 3 min"
        );
        let giulia = &r.agents[0];
        assert_eq!(
            (
                giulia.person,
                giulia.response.mean_s,
                giulia.conversations,
                giulia.flagged
            ),
            (4, 240.0, 2, false)
        );
        let luca = &r.agents[1];
        assert_eq!(
            (luca.person, luca.response.mean_s, luca.flagged),
            (5, 480.0, true),
            "over 6 min"
        );
        assert_eq!(
            r.conversation_median_s, 285.0,
            "medians 6.5 and 3 min: their median"
        );
    }

    #[test]
    fn turns_before_the_range_and_empty_input() {
        let base = 1_000 * 24 * 60 * MIN;
        let msgs = [m(1, -30, Sender::Customer), m(1, 5, Sender::Person(4))];
        let r = response_times(
            &msgs,
            (base, base + 60 * MIN),
            &BusinessHours::always(),
            chrono_tz::UTC,
            6 * MIN,
        );
        assert_eq!(
            (r.turns, r.response.count),
            (0, 0),
            "it started before the range"
        );
        let r = response_times(
            &[],
            (0, 1),
            &BusinessHours::always(),
            chrono_tz::UTC,
            6 * MIN,
        );
        assert_eq!((r.turns, r.response.mean_s, r.agents.len()), (0, 0.0, 0));
    }
}
