//! Property tests of the send rules ([`super::policy::decide`]): random histories of
//! inbound messages, sends and the passing of time, with the facts each decision
//! needs computed from a plain model of what was sent. Whatever the history, nothing
//! goes that Meta would reject or that the tenant's limits forbid, and every wait
//! ends: at its `until` the same send is not held again for the same reason.

use super::policy::{Category, DAY_MS, Decision, Facts, Kind, Refusal, decide};
use proptest::prelude::*;
use scrm_store::consent::Consent;

const HOUR_MS: i64 = 3_600_000;

/// One recipient's standing, fixed for a history.
#[derive(Debug, Clone)]
struct Person {
    opted_in: bool,
    opted_out: bool,
    marketing_stopped: bool,
}

/// A step of a history.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes (ms).
    Wait(i64),
    /// The recipient writes in.
    Inbound(usize),
    /// The business tries a send.
    Send(usize, Kind, Category),
}

/// What went: `(recipient, kind, category, at, business_initiated)`.
type Sent = (usize, Kind, Category, i64, bool);

fn person() -> impl Strategy<Value = Person> {
    (
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(opted_in, opted_out, marketing_stopped)| Person {
            opted_in,
            opted_out,
            marketing_stopped,
        })
}

fn step(people: usize) -> impl Strategy<Value = Step> {
    let kind = prop_oneof![Just(Kind::FreeForm), Just(Kind::Template), Just(Kind::Read)];
    let category = prop_oneof![
        Just(Category::Marketing),
        Just(Category::Utility),
        Just(Category::Service)
    ];
    prop_oneof![
        2 => (0..30 * HOUR_MS).prop_map(Step::Wait),
        1 => (0..people).prop_map(Step::Inbound),
        4 => (0..people, kind, category).prop_map(|(r, k, c)| Step::Send(r, k, c)),
    ]
}

/// The model: who wrote in when, and what went.
struct World {
    people: Vec<Person>,
    cap: u32,
    require_opt_in: bool,
    inbound: Vec<Option<i64>>,
    sent: Vec<Sent>,
}

impl World {
    fn consent(&self, r: usize) -> Consent {
        let p = &self.people[r];
        Consent {
            wa_id: format!("39{r}"),
            opted_in_at: p.opted_in.then_some(1),
            opted_out_at: p.opted_out.then_some(2),
            marketing_stopped_at: p.marketing_stopped.then_some(2),
            ..Consent::default()
        }
    }

    /// The facts the store would give for a send to `r` at `now`.
    fn facts(&self, r: usize, kind: Kind, category: Category, now: i64) -> Facts {
        let span: Vec<&Sent> = self
            .sent
            .iter()
            .filter(|s| s.4 && s.3 > now - DAY_MS)
            .collect();
        let mut reached: Vec<usize> = span.iter().map(|s| s.0).collect();
        reached.sort_unstable();
        reached.dedup();
        Facts {
            now,
            kind,
            category,
            last_inbound_at: self.inbound[r],
            consent: self.consent(r),
            number_marketing_paused_until: None,
            daily_cap: Some(self.cap),
            require_opt_in: self.require_opt_in,
            reached_24h: reached.len() as u32,
            oldest_reached_at: span.iter().map(|s| s.3).min(),
            recipient_reached: reached.contains(&r),
            last_business_initiated_to_recipient: self
                .sent
                .iter()
                .filter(|s| s.4 && s.0 == r)
                .map(|s| s.3)
                .max(),
        }
    }
}

/// Checks what went against Meta's rules and the tenant's limits.
fn check(w: &World) -> Result<(), TestCaseError> {
    for (i, &(r, kind, category, at, bi)) in w.sent.iter().enumerate() {
        let p = &w.people[r];
        if kind == Kind::Template && category == Category::Marketing {
            prop_assert!(!p.marketing_stopped, "marketing to a stopped contact: {i}");
        }
        if !bi {
            continue;
        }
        prop_assert!(
            !p.opted_out,
            "business-initiated to an opted-out contact: {i}"
        );
        let mut reached: Vec<usize> = w.sent[..=i]
            .iter()
            .filter(|s| s.4 && s.3 > at - DAY_MS)
            .map(|s| s.0)
            .collect();
        reached.sort_unstable();
        reached.dedup();
        prop_assert!(
            reached.len() as u32 <= w.cap,
            "{} recipients in 24 hours over a cap of {} at send {i}",
            reached.len(),
            w.cap
        );
        if w.require_opt_in && !p.opted_in {
            let before = w.sent[..i]
                .iter()
                .filter(|s| s.4 && s.0 == r)
                .map(|s| s.3)
                .max();
            prop_assert!(
                before.is_none_or(|b| at - b >= DAY_MS),
                "two business-initiated sends within 24 hours to {r} without opt-in"
            );
        }
    }
    Ok(())
}

/// A wait ends: nothing else happening, looking again at each `until` moves it
/// forward, and within as many looks as there are business-initiated sends the
/// same send is no longer held for that reason. (It may be held once more when a
/// recipient counted in the cap was sent to again later: the cap's wait names the
/// oldest send of the 24 hours, not the one that frees a place.)
fn ends(
    w: &World,
    (r, kind, category): (usize, Kind, Category),
    mut until: i64,
    reason: super::policy::WaitReason,
) -> Result<(), TestCaseError> {
    let looks = w.sent.iter().filter(|s| s.4).count() + 1;
    for _ in 0..looks {
        match decide(&w.facts(r, kind, category, until)) {
            Decision::Wait {
                until: next,
                reason: again,
            } if again == reason => {
                prop_assert!(
                    next > until,
                    "{reason:?} does not move: {until} then {next}"
                );
                until = next;
            }
            _ => return Ok(()),
        }
    }
    Err(TestCaseError::fail(format!(
        "{reason:?} still holds after {looks} looks"
    )))
}

fn run(w: &mut World, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut now = 1_000 * DAY_MS;
    for s in steps {
        match *s {
            Step::Wait(ms) => now += ms,
            Step::Inbound(r) => w.inbound[r] = Some(now),
            Step::Send(r, kind, category) => {
                let f = w.facts(r, kind, category, now);
                match decide(&f) {
                    Decision::Send { business_initiated } => {
                        if kind == Kind::FreeForm {
                            prop_assert!(
                                w.inbound[r].is_some_and(|at| now - at < DAY_MS),
                                "free-form outside the window"
                            );
                        }
                        w.sent.push((r, kind, category, now, business_initiated));
                    }
                    Decision::Wait { until, reason } => {
                        prop_assert!(until > now, "a wait that has ended: {reason:?}");
                        ends(w, (r, kind, category), until, reason)?;
                    }
                    Decision::Refuse(why) => match why {
                        Refusal::OutsideServiceWindow => prop_assert!(
                            kind == Kind::FreeForm
                                && w.inbound[r].is_none_or(|at| now - at >= DAY_MS)
                        ),
                        Refusal::OptedOut => prop_assert!(w.people[r].opted_out),
                        Refusal::MarketingStopped => prop_assert!(
                            w.people[r].marketing_stopped && category == Category::Marketing
                        ),
                    },
                }
                check(w)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SCRM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_history_sends_what_the_rules_forbid(
        people in prop::collection::vec(person(), 1..6),
        cap in 1u32..4,
        require_opt_in in any::<bool>(),
        steps in prop::collection::vec(step(6), 1..80),
    ) {
        let n = people.len();
        let steps: Vec<Step> = steps
            .into_iter()
            .map(|s| match s {
                Step::Inbound(r) => Step::Inbound(r % n),
                Step::Send(r, k, c) => Step::Send(r % n, k, c),
                other => other,
            })
            .collect();
        let mut w = World { people, cap, require_opt_in, inbound: vec![None; n], sent: Vec::new() };
        run(&mut w, &steps)?;
    }
}
