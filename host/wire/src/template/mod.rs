//! Message templates as the Graph API describes them: the objects of
//! `GET /{version}/{waba-id}/message_templates`, and what a send of one needs.
//!
//! - [`Template`]: one template (name, language, status, category, parameter
//!   format, components); statuses, categories, component, header and button types
//!   Meta adds later parse as `Other(…)`, and unknown fields of a component or
//!   button are kept, so nothing Meta sends is lost when a template is stored again;
//! - [`parse_page`]: one page of the list with its paging cursors; a template that
//!   cannot be read is skipped with the reason, never the whole page;
//! - [`Template::parameters`] ([`params`]): what a send of the template must give —
//!   how many body parameters (positional `{{1}}`…) or which names (`{{first_name}}`),
//!   the header's parameter (text or media) and the buttons that take one;
//! - [`parse_definition`] ([`definition`]): an operator's template file in Meta's
//!   format, checked strictly (JSON position or field path in every refusal).
//!
//! ```
//! let page = br#"{"data": [{"name": "order_update", "language": "en_US",
//!     "status": "APPROVED", "category": "UTILITY", "id": "1",
//!     "components": [{"type": "BODY", "text": "Order {{1}} ships on {{2}}."}]}],
//!     "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}}"#;
//! let page = scrm_wire::template::parse_page(page).unwrap();
//! let t = &page.templates[0];
//! assert!(t.status.is_approved());
//! assert_eq!(t.parameters().body, 2);
//! assert_eq!(page.next_after, None);
//! ```

pub mod definition;
pub mod params;

pub use definition::{DefinitionError, parse_definition};
pub use params::{ButtonParameter, HeaderParameter, Parameters};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Declares an open set of Meta's upper-case names: the known ones as variants,
/// anything else kept as `Other` (upper-cased), so a new value never breaks parsing.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this build does not know (upper-cased as Meta writes them).
            Other(String),
        }

        impl $name {
            /// Meta's name for it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }

            /// Whether it is one this build knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                let upper = s.trim().to_ascii_uppercase();
                match upper.as_str() {
                    $($text => $name::$variant,)*
                    _ => $name::Other(upper),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// A template's review status. Only [`Status::Approved`] templates can be sent.
    Status {
        /// Approved: it can be sent.
        Approved = "APPROVED",
        /// Waiting for review.
        Pending = "PENDING",
        /// Refused at review.
        Rejected = "REJECTED",
        /// Paused by Meta for low quality (for 3 or 6 hours, or until unpaused).
        Paused = "PAUSED",
        /// Disabled by Meta for low quality.
        Disabled = "DISABLED",
        /// A rejection being appealed.
        InAppeal = "IN_APPEAL",
        /// Deleted, its name not yet free again.
        PendingDeletion = "PENDING_DELETION",
        /// Deleted.
        Deleted = "DELETED",
        /// The account's template limit was reached.
        LimitExceeded = "LIMIT_EXCEEDED",
        /// Archived (unused for long).
        Archived = "ARCHIVED",
    }
}

impl Status {
    /// Whether a template with this status may be sent.
    pub fn is_approved(&self) -> bool {
        *self == Status::Approved
    }

    /// The status a `message_template_status_update` webhook's `event` leaves the
    /// template in: the event itself when it is a status, `APPROVED` for
    /// `REINSTATED`, none for other events (`FLAGGED` only warns of low quality).
    pub fn from_status_event(event: &str) -> Option<Status> {
        match Status::from(event.to_string()) {
            Status::Other(e) if e == "REINSTATED" => Some(Status::Approved),
            Status::Other(_) => None,
            known => Some(known),
        }
    }
}

open_enum! {
    /// A template's category, which decides its price and the marketing rules.
    Category {
        /// Promotions, offers, re-engagement.
        Marketing = "MARKETING",
        /// Updates about a transaction the customer started.
        Utility = "UTILITY",
        /// One-time passcodes.
        Authentication = "AUTHENTICATION",
    }
}

open_enum! {
    /// How a template's variables are written.
    #[derive(Default)]
    ParameterFormat {
        /// `{{1}}`, `{{2}}`, … (Meta's default when the field is absent).
        #[default]
        Positional = "POSITIONAL",
        /// `{{first_name}}`, …
        Named = "NAMED",
    }
}

open_enum! {
    /// A component's type.
    ComponentKind {
        /// The header: text (one variable at most) or media.
        Header = "HEADER",
        /// The body text: every template has one.
        Body = "BODY",
        /// The footer text.
        Footer = "FOOTER",
        /// The buttons.
        Buttons = "BUTTONS",
    }
}

open_enum! {
    /// A header's format.
    HeaderFormat {
        /// Text.
        Text = "TEXT",
        /// An image, given at send time.
        Image = "IMAGE",
        /// A video, given at send time.
        Video = "VIDEO",
        /// A document, given at send time.
        Document = "DOCUMENT",
        /// A location, given at send time.
        Location = "LOCATION",
    }
}

open_enum! {
    /// A button's type.
    ButtonKind {
        /// A quick reply.
        QuickReply = "QUICK_REPLY",
        /// A link; a `{{1}}` at the end of its URL takes a parameter at send time.
        Url = "URL",
        /// A phone call.
        PhoneNumber = "PHONE_NUMBER",
        /// Copies a coupon code given at send time.
        CopyCode = "COPY_CODE",
        /// A one-time passcode (authentication templates); the code is given at send time.
        Otp = "OTP",
        /// Opens a WhatsApp Flow.
        Flow = "FLOW",
        /// Opens the catalog.
        Catalog = "CATALOG",
        /// A multi-product message.
        Mpm = "MPM",
        /// A WhatsApp call.
        VoiceCall = "VOICE_CALL",
    }
}

/// One component of a template. Fields this type does not name (`example`,
/// `add_security_recommendation`, `cards`, …) are kept in `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `HEADER`, `BODY`, `FOOTER`, `BUTTONS`, or a newer type.
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// A header's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<HeaderFormat>,
    /// The text, with its variables (`{{1}}` or `{{name}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The buttons of a `BUTTONS` component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// Every other field, as Meta sent it.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One button of a `BUTTONS` component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// `QUICK_REPLY`, `URL`, `PHONE_NUMBER`, `COPY_CODE`, `OTP`, …
    #[serde(rename = "type")]
    pub kind: ButtonKind,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A `URL` button's link; `{{1}}` at its end takes a parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Every other field, as Meta sent it (`phone_number`, `otp_type`, `example`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A message template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Meta's id for it (absent in an operator's file).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_id"
    )]
    pub id: Option<String>,
    /// Its name (lower-case letters, digits, `_`); one name has a version per language.
    pub name: String,
    /// Its language code (`en_US`, `it`, …).
    pub language: String,
    /// Its review status.
    pub status: Status,
    /// Its category.
    pub category: Category,
    /// How its variables are written; positional when absent.
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    /// Its components, in Meta's order.
    #[serde(default)]
    pub components: Vec<Component>,
}

impl Template {
    /// The first component of `kind`.
    pub fn component(&self, kind: &ComponentKind) -> Option<&Component> {
        self.components.iter().find(|c| c.kind == *kind)
    }
}

/// Meta writes ids as strings; a number is accepted too.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// One page of `GET /{version}/{waba-id}/message_templates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The templates that could be read, in Meta's order.
    pub templates: Vec<Template>,
    /// The ones that could not, with why.
    pub skipped: Vec<Skipped>,
    /// `paging.cursors.after` when `paging.next` says there is a next page: ask
    /// for it with `after=<this>`. `None` on the last page.
    pub next_after: Option<String>,
}

/// A template of a page that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its position on the page, from 0.
    pub index: usize,
    /// Its name, when it has one.
    pub name: Option<String>,
    /// Its language, when it has one.
    pub language: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// Why a page of templates could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The body is not JSON.
    #[error("the template list is not JSON: {0}")]
    NotJson(String),
    /// No `data` array.
    #[error("the template list has no `data` array")]
    NoData,
    /// `paging.next` is there but `paging.cursors.after` is not.
    #[error("the template list has a next page but no `paging.cursors.after` cursor")]
    NoCursor,
}

/// Parses one page of the template list. A template that cannot be read (a missing
/// name, a mistyped field) is reported in [`Page::skipped`]; unknown fields,
/// statuses and categories are kept.
///
/// # Errors
/// [`PageError`] when the body is not a template list at all.
pub fn parse_page(body: &[u8]) -> Result<Page, PageError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| PageError::NotJson(e.to_string()))?;
    let data = root
        .get("data")
        .and_then(Value::as_array)
        .ok_or(PageError::NoData)?;
    let mut templates = Vec::with_capacity(data.len());
    let mut skipped = Vec::new();
    for (index, item) in data.iter().enumerate() {
        match Template::deserialize(item) {
            Ok(t) => templates.push(t),
            Err(e) => skipped.push(Skipped {
                index,
                name: item["name"].as_str().map(str::to_string),
                language: item["language"].as_str().map(str::to_string),
                reason: e.to_string(),
            }),
        }
    }
    let paging = &root["paging"];
    let next_after = match paging.get("next") {
        Some(Value::String(next)) if !next.is_empty() => Some(
            paging["cursors"]["after"]
                .as_str()
                .filter(|a| !a.is_empty())
                .ok_or(PageError::NoCursor)?
                .to_string(),
        ),
        _ => None,
    };
    Ok(Page {
        templates,
        skipped,
        next_after,
    })
}

#[cfg(test)]
mod tests;
