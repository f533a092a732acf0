//! What the business's messages achieve: open rate (read receipts) and click-through
//! rate (tracked links), per message type, template, campaign and flow, and whether
//! emoji lift clicks.
//!
//! - A **send** is an outbound message accepted by Meta in the range.
//! - **Open rate**: sends read / sends delivered (a read counts as delivered). Read
//!   receipts are off for some users, so this is a floor.
//! - **CTR**: sends with at least one clicked tracked link / sends with tracked links.
//! - **Read → click**: the median time from a send's read receipt to its first click,
//!   over sends that have both (a click before the receipt counts 0).
//! - **Emoji vs text**: CTR of the sends with links whose text has an emoji against
//!   those whose text has none; `lift` is the relative difference (0.25 = emoji sends
//!   are clicked 25 % more often), absent when text-only sends have no clicks.

use crate::stats::{Summary, share, summarize};
use serde::Serialize;
use std::collections::BTreeMap;

/// One send as the metric needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The groups it counts in: (`message`, its type), (`template`, name),
    /// (`campaign`, name), (`flow`, name).
    pub groups: Vec<(String, String)>,
    /// Meta reported it delivered (or read).
    pub delivered: bool,
    /// When it was read, Unix ms.
    pub read_at: Option<i64>,
    /// It carried tracked links.
    pub with_links: bool,
    /// Its first click, Unix ms.
    pub first_click: Option<i64>,
    /// Its text has an emoji.
    pub emoji: bool,
}

/// The numbers of a group of sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// Sends.
    pub sent: u64,
    /// Delivered.
    pub delivered: u64,
    /// Read.
    pub read: u64,
    /// `read / delivered`.
    pub open_rate: f64,
    /// Sends with tracked links.
    pub with_links: u64,
    /// Of them, clicked.
    pub clicked: u64,
    /// `clicked / with_links`.
    pub ctr: f64,
    /// Read receipt to first click.
    pub read_to_click: Summary,
}

fn rates<'a>(sends: impl Iterator<Item = &'a Send>) -> Rates {
    let (mut sent, mut delivered, mut read, mut with_links, mut clicked) = (0, 0, 0, 0, 0);
    let mut delays = Vec::new();
    for s in sends {
        sent += 1;
        delivered += u64::from(s.delivered || s.read_at.is_some());
        read += u64::from(s.read_at.is_some());
        if s.with_links {
            with_links += 1;
            clicked += u64::from(s.first_click.is_some());
        }
        if let (Some(r), Some(c)) = (s.read_at, s.first_click) {
            delays.push((c - r).max(0));
        }
    }
    Rates {
        sent,
        delivered,
        read,
        open_rate: share(read, delivered),
        with_links,
        clicked,
        ctr: share(clicked, with_links),
        read_to_click: summarize(delays),
    }
}

/// A group's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// `message`, `template`, `campaign` or `flow`.
    pub kind: String,
    /// The message type, template, campaign or flow.
    pub name: String,
    /// Its numbers.
    #[serde(flatten)]
    pub rates: Rates,
}

/// Emoji against text-only sends with links.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmojiLift {
    /// Sends with links and an emoji.
    pub emoji: Rates,
    /// Sends with links and no emoji.
    pub text_only: Rates,
    /// `emoji.ctr / text_only.ctr − 1`, when text-only sends were clicked.
    pub lift: Option<f64>,
}

/// The whole metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engagement {
    /// Every send.
    pub total: Rates,
    /// Per group, most sends first.
    pub items: Vec<Group>,
    /// Emoji vs text.
    pub emoji: EmojiLift,
}

/// Open rate and CTR of `sends`.
pub fn engagement(sends: &[Send]) -> Engagement {
    let mut groups: BTreeMap<(&str, &str), Vec<&Send>> = BTreeMap::new();
    for s in sends {
        for (k, n) in &s.groups {
            groups.entry((k, n)).or_default().push(s);
        }
    }
    let mut items: Vec<Group> = groups
        .into_iter()
        .map(|((kind, name), v)| Group {
            kind: kind.into(),
            name: name.into(),
            rates: rates(v.into_iter()),
        })
        .collect();
    items.sort_by_key(|g| std::cmp::Reverse(g.rates.sent));
    let linked = || sends.iter().filter(|s| s.with_links);
    let emoji = rates(linked().filter(|s| s.emoji));
    let text_only = rates(linked().filter(|s| !s.emoji));
    let lift = (text_only.ctr > 0.0).then(|| share_f(emoji.ctr / text_only.ctr - 1.0));
    Engagement {
        total: rates(sends.iter()),
        items,
        emoji: EmojiLift {
            emoji,
            text_only,
            lift,
        },
    }
}

fn share_f(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(
        template: &str,
        read: Option<i64>,
        links: bool,
        click: Option<i64>,
        emoji: bool,
    ) -> Send {
        Send {
            groups: vec![
                ("message".into(), "template".into()),
                ("template".into(), template.into()),
            ],
            delivered: true,
            read_at: read,
            with_links: links,
            first_click: click,
            emoji,
        }
    }

    #[test]
    fn open_rate_ctr_and_read_to_click() {
        let sends = [
            send("promo", Some(1_000), true, Some(61_000), true),
            send("promo", Some(1_000), true, None, true),
            send("promo", None, true, None, false),
            send("promo", Some(1_000), true, Some(181_000), false),
            send("order_update", None, false, None, false),
        ];
        let e = engagement(&sends);
        assert_eq!((e.total.sent, e.total.read, e.total.open_rate), (5, 3, 0.6));
        assert_eq!(
            (e.total.with_links, e.total.clicked, e.total.ctr),
            (4, 2, 0.5)
        );
        assert_eq!(e.total.read_to_click.median_s, 120.0);
        let promo = e.items.iter().find(|g| g.name == "promo").unwrap();
        assert_eq!((promo.rates.sent, promo.rates.ctr), (4, 0.5));
        assert_eq!(e.items[0].kind, "message");
        assert_eq!((e.emoji.emoji.ctr, e.emoji.text_only.ctr), (0.5, 0.5));
        assert_eq!(e.emoji.lift, Some(0.0));
    }

    #[test]
    fn nothing_sent_is_zeros_without_a_lift() {
        let e = engagement(&[]);
        assert_eq!(
            (e.total.sent, e.total.ctr, e.total.open_rate),
            (0, 0.0, 0.0)
        );
        assert!(e.items.is_empty());
        assert_eq!(e.emoji.lift, None);
    }
}
