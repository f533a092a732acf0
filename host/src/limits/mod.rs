//! WhatsApp's rules, enforced before Meta would reject a send: the daily cap on
//! business-initiated conversations (messaging tier), the 24-hour customer-service
//! window, the opt-in rule, opt-out, throughput per number and pacing per recipient.
//!
//! [`policy`] decides, for one queued send, whether it may go now, must wait (and
//! until when, and why), or can never go as it is. [`optout`] recognises STOP
//! keywords. [`rate`] paces sends per number and per recipient.

pub mod optout;
