//! Where a pull resumes, without losing a change.
//!
//! Pulls read `GET /Contacts?sort_by=Modified_Time&sort_order=asc` with
//! `If-Modified-Since`. Zoho's `Modified_Time` has whole seconds, so:
//!
//! - a second is **settled** once Zoho's clock (the response's `Date`) has passed it:
//!   no later write can carry it. The cursor only moves to settled times; records of
//!   the current second are handed over now *and* read again next time, so a second
//!   write within the same second is never missed (applying a record twice changes
//!   nothing).
//! - the cursor keeps the ids already read at its time (`seen`) and asks from one
//!   second before it, whether Zoho's "modified after" is strict or not, and skips
//!   what it has seen.
//! - when a whole page shares the cursor's second, the next pull reads the next page
//!   of that second (`page`) instead of the same page again.

use scrm_plugin_sdk::ConnectorError;
use serde::{Deserialize, Serialize};

/// The pull position the host stores between pulls (as JSON; empty: from the start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Newest settled `Modified_Time` read, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Ids read with exactly that time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// The page to read next (past 1 only inside a second with more than a page).
    #[serde(default = "first_page")]
    pub page: u32,
}

/// Records Zoho pages through with `page` and `per_page` (beyond: page tokens).
const MAX_PAGED: u64 = 2000;

fn first_page() -> u32 {
    1
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            since: None,
            seen: Vec::new(),
            page: 1,
        }
    }
}

/// What to do with one page.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    /// Indexes of the page's records to hand to the host, in page order.
    pub deliver: Vec<usize>,
    /// Where the next pull starts.
    pub next: Cursor,
    /// Whether reading on now makes progress (the page moved the cursor or the page).
    pub progressed: bool,
    /// The second whose remaining records were skipped: more of them than Zoho
    /// pages through without page tokens.
    pub skipped: Option<i64>,
}

impl Cursor {
    /// The cursor the host stored.
    ///
    /// # Errors
    /// `Invalid` when it is not one of ours.
    pub fn decode(raw: &str) -> Result<Cursor, ConnectorError> {
        if raw.trim().is_empty() {
            return Ok(Cursor::default());
        }
        serde_json::from_str(raw)
            .map_err(|e| ConnectorError::Invalid(format!("pull cursor {raw:?}: {e}")))
    }

    /// The cursor as the host stores it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `If-Modified-Since` to send, Unix seconds (one second early, see the
    /// module docs).
    pub fn if_modified_since(&self) -> Option<i64> {
        self.since.map(|s| s - 1)
    }

    /// Reads one page of `(id, Modified_Time in Unix s)` rows, oldest first, asked
    /// for with `page_size`; `settled_before` is Zoho's clock (Unix s).
    pub fn step(
        &self,
        rows: &[(String, Option<i64>)],
        page_size: u32,
        settled_before: i64,
    ) -> Step {
        let full = rows.len() >= page_size as usize;
        let seen_before = |id: &str, t: Option<i64>| match (self.since, t) {
            (Some(s), Some(t)) => t < s || (t == s && self.seen.iter().any(|x| x == id)),
            _ => false,
        };
        let deliver = rows
            .iter()
            .enumerate()
            .filter(|(_, (id, t))| !seen_before(id, *t))
            .map(|(i, _)| i)
            .collect();
        let settled = |t: &Option<i64>| t.is_some_and(|t| t < settled_before);
        let newest_settled = rows
            .iter()
            .filter(|(_, t)| settled(t))
            .filter_map(|(_, t)| *t)
            .max();
        let since = match (self.since, newest_settled) {
            (Some(s), Some(n)) => Some(s.max(n)),
            (s, n) => s.or(n),
        };
        let moved = since != self.since;
        let mut seen = if moved { Vec::new() } else { self.seen.clone() };
        for (id, t) in rows {
            if since.is_some() && *t == since && settled(t) && !seen.contains(id) {
                seen.push(id.clone());
            }
        }
        // A full page of settled records none newer than the cursor (its own second,
        // or the second before when Zoho's "after" includes it): the rest is on the
        // next page.
        let crowded = full
            && !moved
            && !rows.is_empty()
            && rows
                .iter()
                .all(|(_, t)| settled(t) && since.is_some_and(|s| t.is_some_and(|t| t <= s)));
        let mut skipped = None;
        let next = if moved {
            Cursor {
                since,
                seen,
                page: 1,
            }
        } else if crowded && u64::from(self.page + 1) * u64::from(page_size) > MAX_PAGED {
            // Zoho pages past 2,000 records only with page tokens: rather than stall
            // every later pull, go on after this second (what is left of it is lost
            // until it changes again).
            skipped = since;
            Cursor {
                since: since.map(|s| s + 1),
                seen: Vec::new(),
                page: 1,
            }
        } else {
            Cursor {
                since,
                seen,
                page: if crowded { self.page + 1 } else { self.page },
            }
        };
        Step {
            deliver,
            next,
            progressed: moved || crowded,
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
        r.iter()
            .map(|(id, t)| ((*id).to_string(), Some(*t)))
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_start_empty() {
        assert_eq!(Cursor::decode("").unwrap(), Cursor::default());
        let c = Cursor {
            since: Some(100),
            seen: vec!["a".into()],
            page: 2,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(Cursor::default().encode(), r#"{"page":1}"#);
        assert!(Cursor::decode("{\"w\":1}").is_err());
        assert_eq!(c.if_modified_since(), Some(99));
    }

    #[test]
    fn settled_records_move_the_cursor_and_are_not_read_again() {
        let c = Cursor::default();
        let s = c.step(&rows(&[("a", 10), ("b", 11), ("c", 11)]), 9, 20);
        assert_eq!(s.deliver, vec![0, 1, 2]);
        assert_eq!(s.next.since, Some(11));
        assert_eq!(s.next.seen, vec!["b".to_string(), "c".to_string()]);
        assert!(s.progressed);
        // The next pull asks from 10 and gets b, c again (and a newer d): only d is new.
        let s2 = s
            .next
            .step(&rows(&[("b", 11), ("c", 11), ("d", 12)]), 9, 20);
        assert_eq!(s2.deliver, vec![2]);
        assert_eq!(s2.next.since, Some(12));
        assert_eq!(s2.next.seen, vec!["d".to_string()]);
    }

    #[test]
    fn records_of_the_current_second_are_read_again_until_it_is_over() {
        let c = Cursor {
            since: Some(10),
            seen: vec!["a".into()],
            page: 1,
        };
        // Zoho's clock says 12: b (11) is settled, c (12) may still change.
        let s = c.step(&rows(&[("b", 11), ("c", 12)]), 9, 12);
        assert_eq!(s.deliver, vec![0, 1]);
        assert_eq!(s.next.since, Some(11));
        assert_eq!(s.next.seen, vec!["b".to_string()]);
        // Next time c comes again (changed or not) and is handed over again.
        let s2 = s.next.step(&rows(&[("b", 11), ("c", 12)]), 9, 13);
        assert_eq!(s2.deliver, vec![1]);
        assert_eq!(s2.next.since, Some(12));
        // Nothing settled and nothing new: the cursor stays put.
        let idle = Cursor::default().step(&rows(&[("x", 5)]), 9, 5);
        assert_eq!(idle.deliver, vec![0]);
        assert_eq!(idle.next, Cursor::default());
        assert!(!idle.progressed);
    }

    #[test]
    fn a_second_with_more_than_a_page_is_read_page_by_page() {
        let c = Cursor {
            since: Some(10),
            seen: vec!["a".into(), "b".into()],
            page: 1,
        };
        // Page 1 again holds only seen records of second 10, and is full.
        let s = c.step(&rows(&[("a", 10), ("b", 10)]), 2, 20);
        assert!(s.deliver.is_empty());
        assert_eq!(s.next.page, 2);
        assert!(s.progressed);
        // Page 2 goes on within second 10, then past it: back to page 1 from there.
        let s2 = s.next.step(&rows(&[("c", 10), ("d", 11)]), 2, 20);
        assert_eq!(s2.deliver, vec![0, 1]);
        assert_eq!(
            s2.next,
            Cursor {
                since: Some(11),
                seen: vec!["d".into()],
                page: 1
            }
        );
    }

    #[test]
    fn an_inclusive_if_modified_since_cannot_stall_the_pull() {
        // Asking from 10 returns a full page of second 10 although the cursor is at 11.
        let c = Cursor {
            since: Some(11),
            seen: vec!["d".into()],
            page: 1,
        };
        let s = c.step(&rows(&[("a", 10), ("b", 10)]), 2, 20);
        assert!(s.deliver.is_empty());
        assert_eq!(s.next.page, 2);
        let s2 = s.next.step(&rows(&[("d", 11), ("e", 12)]), 2, 20);
        assert_eq!(s2.deliver, vec![1]);
        assert_eq!(s2.next.since, Some(12));
        assert_eq!(s2.next.page, 1);
    }

    #[test]
    fn a_second_beyond_zohos_page_limit_is_left_rather_than_stalling() {
        let c = Cursor {
            since: Some(10),
            seen: vec!["a".into(), "b".into()],
            page: 1000,
        };
        let s = c.step(&rows(&[("y", 10), ("z", 10)]), 2, 20);
        assert_eq!(s.skipped, Some(10));
        assert_eq!(
            s.next,
            Cursor {
                since: Some(11),
                seen: Vec::new(),
                page: 1
            }
        );
    }

    #[test]
    fn records_without_a_time_are_delivered_but_do_not_move_the_cursor() {
        let s = Cursor::default().step(&[("a".to_string(), None)], 9, 20);
        assert_eq!(s.deliver, vec![0]);
        assert_eq!(s.next, Cursor::default());
    }
}
