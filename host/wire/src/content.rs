//! What an inbound WhatsApp message carries, decoded from its type-specific object.
//!
//! These types mirror the `content` variant of the plugin contract (`wit/types.wit`), so
//! the host can hand them to plugins field for field. Decoding is lenient: a type this
//! module does not know, or a known type whose object lacks a required field, decodes to
//! nothing and the caller records [`Content::Unsupported`] with the raw message kept.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::json::{array_at, parse_at, str_at};

/// What a message carries: one case per WhatsApp message type the host models.
///
/// Serialised as an object tagged by `type`, e.g. `{"type":"text","body":"hi"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A text message's body.
    Text(String),
    /// An image.
    Image(Media),
    /// An audio file that is not a voice note.
    Audio(Media),
    /// A voice note (`audio` with `voice: true`).
    Voice(Media),
    /// A video.
    Video(Media),
    /// A document.
    Document(Media),
    /// A sticker.
    Sticker(Media),
    /// A shared location.
    Location(Location),
    /// One or more shared contact cards.
    Contacts(Vec<SharedContact>),
    /// A reply to an interactive button, list or flow message.
    InteractiveReply(Reply),
    /// A tap on a template's quick-reply button.
    Button(Reply),
    /// A reaction to an earlier message, or its removal.
    Reaction(Reaction),
    /// A catalogue order.
    Order(Order),
    /// A system notice, such as the customer changing their number.
    System(SystemNotice),
    /// A type the host does not model (or could not read); holds the WhatsApp type name.
    Unsupported(String),
}

/// A media attachment; the host downloads the bytes by `id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Media {
    /// Meta's media id.
    pub id: String,
    /// The MIME type Meta reported.
    pub mime_type: Option<String>,
    /// The base64 SHA-256 Meta reported.
    pub sha256: Option<String>,
    /// The caption the sender typed, if any.
    pub caption: Option<String>,
    /// The original file name (documents only).
    pub filename: Option<String>,
}

/// A shared location.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Name of the place, if given.
    pub name: Option<String>,
    /// Street address, if given.
    pub address: Option<String>,
    /// A URL for the place, if given.
    pub url: Option<String>,
}

/// A contact card the customer shared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedContact {
    /// The card's formatted name, else its first and last names joined.
    pub name: String,
    /// Phone numbers on the card, as written.
    pub phones: Vec<String>,
    /// Email addresses on the card.
    pub emails: Vec<String>,
    /// The card's company, if any.
    pub organization: Option<String>,
}

/// The customer's answer to an interactive message or a template button.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// The option's id (button id, list row id, button payload, or `"flow"`).
    pub id: String,
    /// The title or text the customer saw and tapped (a flow's response JSON).
    pub title: String,
    /// The list row's description (a flow reply's body), if any.
    pub description: Option<String>,
}

/// A reaction to an earlier message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reaction {
    /// The wamid of the message reacted to.
    pub message_id: String,
    /// The emoji; `None` when the customer removed their reaction.
    pub emoji: Option<String>,
}

/// A catalogue order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// The catalogue the products come from.
    pub catalog_id: String,
    /// The note the customer wrote with the order, if any.
    pub text: Option<String>,
    /// The ordered products.
    pub items: Vec<OrderItem>,
}

/// One line of a catalogue order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderItem {
    /// The product's id in the business's catalogue (its SKU).
    pub product_retailer_id: String,
    /// How many were ordered.
    pub quantity: u32,
    /// Unit price, in `currency`.
    pub item_price: f64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// A system notice, such as the customer changing their number.
///
/// Meta's types: `user_changed_number` (current; older payloads say
/// `customer_changed_number`), `user_changed_user_id` (the business-scoped user id
/// changed) and `customer_identity_changed` (the customer reinstalled WhatsApp or
/// changed device; sent when identity change checks are on).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemNotice {
    /// Meta's notice type, e.g. `"user_changed_number"`.
    pub kind: String,
    /// The human-readable text of the notice.
    pub body: String,
    /// The customer's new WhatsApp id, for number changes.
    pub new_wa_id: Option<String>,
    /// The customer's new identity hash, for identity changes (not given to plugins:
    /// the released contract has no field for it).
    pub identity: Option<String>,
}

impl Content {
    /// The human text of the message: body, caption, reply title, order note or notice body.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(body) => Some(body),
            Self::Image(media)
            | Self::Audio(media)
            | Self::Voice(media)
            | Self::Video(media)
            | Self::Document(media)
            | Self::Sticker(media) => media.caption.as_deref(),
            Self::InteractiveReply(reply) | Self::Button(reply) => Some(&reply.title),
            Self::Order(order) => order.text.as_deref(),
            Self::System(notice) => Some(&notice.body),
            Self::Location(_) | Self::Contacts(_) | Self::Reaction(_) | Self::Unsupported(_) => {
                None
            }
        }
    }

    /// Decodes the content of a message of WhatsApp type `kind`; `None` when the type is
    /// not modelled or its object is unreadable.
    pub fn decode(kind: &str, message: &Value) -> Option<Self> {
        // Every message type keeps its data in an object named after the type.
        let data = message.get(kind);
        Some(match kind {
            "text" => Self::Text(str_at(data?, "/body")?),
            "image" => Self::Image(media(data?)?),
            "audio" if data?.get("voice").and_then(Value::as_bool) == Some(true) => {
                Self::Voice(media(data?)?)
            }
            "audio" => Self::Audio(media(data?)?),
            "voice" => Self::Voice(media(data?)?),
            "video" => Self::Video(media(data?)?),
            "document" => Self::Document(media(data?)?),
            "sticker" => Self::Sticker(media(data?)?),
            "location" => Self::Location(location(data?)?),
            "contacts" => Self::Contacts(data?.as_array()?.iter().map(shared_contact).collect()),
            "interactive" => Self::InteractiveReply(interactive_reply(data?)?),
            "button" => Self::Button(button(data?)?),
            "reaction" => Self::Reaction(reaction(data?)?),
            "order" => Self::Order(order(data?)?),
            "system" => Self::System(system_notice(data?)),
            _ => return None,
        })
    }
}

fn media(data: &Value) -> Option<Media> {
    Some(Media {
        id: str_at(data, "/id")?,
        mime_type: str_at(data, "/mime_type"),
        sha256: str_at(data, "/sha256"),
        caption: str_at(data, "/caption"),
        filename: str_at(data, "/filename"),
    })
}

fn location(data: &Value) -> Option<Location> {
    Some(Location {
        latitude: parse_at(data, "/latitude")?,
        longitude: parse_at(data, "/longitude")?,
        name: str_at(data, "/name"),
        address: str_at(data, "/address"),
        url: str_at(data, "/url"),
    })
}

fn shared_contact(card: &Value) -> SharedContact {
    let name = str_at(card, "/name/formatted_name")
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| {
            let parts = ["/name/first_name", "/name/last_name"].map(|p| str_at(card, p));
            parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
        });
    SharedContact {
        name,
        phones: array_at(card, "phones")
            .iter()
            .filter_map(|phone| str_at(phone, "/phone").or_else(|| str_at(phone, "/wa_id")))
            .collect(),
        emails: array_at(card, "emails")
            .iter()
            .filter_map(|email| str_at(email, "/email"))
            .collect(),
        organization: str_at(card, "/org/company"),
    }
}

fn interactive_reply(data: &Value) -> Option<Reply> {
    let kind = str_at(data, "/type")?;
    let reply = data.get(&kind)?;
    match kind.as_str() {
        "button_reply" | "list_reply" => Some(Reply {
            id: str_at(reply, "/id")?,
            title: str_at(reply, "/title").unwrap_or_default(),
            description: str_at(reply, "/description"),
        }),
        // A flow completion (or an address message's answer) has no option id: its id
        // is the reply's name and its answer the response JSON.
        "nfm_reply" => {
            let body = str_at(reply, "/body");
            let (title, description) = match str_at(reply, "/response_json") {
                Some(response) => (response, body),
                None => (body.unwrap_or_default(), None),
            };
            Some(Reply {
                id: str_at(reply, "/name").unwrap_or_else(|| "flow".to_owned()),
                title,
                description,
            })
        }
        // The customer allows (or refuses) the business's calls.
        "call_permission_reply" => Some(Reply {
            id: "call_permission".to_owned(),
            title: str_at(reply, "/response")?,
            description: call_permission_terms(reply),
        }),
        _ => None,
    }
}

/// How long a call permission holds and who gave it: "permanent" or "until
/// 1768550400", then "automatic" when WhatsApp answered by itself; `None` for neither.
fn call_permission_terms(reply: &Value) -> Option<String> {
    let mut terms = Vec::new();
    if reply.get("is_permanent").and_then(Value::as_bool) == Some(true) {
        terms.push("permanent".to_owned());
    } else if let Some(at) = str_at(reply, "/expiration_timestamp") {
        terms.push(format!("until {at}"));
    }
    if str_at(reply, "/response_source").as_deref() == Some("automatic") {
        terms.push("automatic".to_owned());
    }
    (!terms.is_empty()).then(|| terms.join(", "))
}

fn button(data: &Value) -> Option<Reply> {
    let text = str_at(data, "/text");
    Some(Reply {
        id: str_at(data, "/payload").or_else(|| text.clone())?,
        title: text.unwrap_or_default(),
        description: None,
    })
}

fn reaction(data: &Value) -> Option<Reaction> {
    Some(Reaction {
        message_id: str_at(data, "/message_id")?,
        // Meta signals a removed reaction with an empty or absent emoji.
        emoji: str_at(data, "/emoji").filter(|emoji| !emoji.is_empty()),
    })
}

fn order(data: &Value) -> Option<Order> {
    Some(Order {
        catalog_id: str_at(data, "/catalog_id")?,
        text: str_at(data, "/text").filter(|text| !text.is_empty()),
        // An unreadable line is skipped rather than invented; the raw message keeps it.
        items: array_at(data, "product_items")
            .iter()
            .filter_map(|item| {
                Some(OrderItem {
                    product_retailer_id: str_at(item, "/product_retailer_id")?,
                    quantity: parse_at(item, "/quantity")?,
                    item_price: parse_at(item, "/item_price")?,
                    currency: str_at(item, "/currency")?,
                })
            })
            .collect(),
    })
}

fn system_notice(data: &Value) -> SystemNotice {
    SystemNotice {
        kind: str_at(data, "/type").unwrap_or_default(),
        body: str_at(data, "/body").unwrap_or_default(),
        // Older payloads name the new id `new_wa_id`; current ones `wa_id`.
        new_wa_id: str_at(data, "/wa_id").or_else(|| str_at(data, "/new_wa_id")),
        identity: str_at(data, "/identity"),
    }
}

/// The wire shape of [`Content`]: an internally tagged view, with names for the payloads
/// that are not objects (serde cannot tag a bare string or list).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Tagged<'a> {
    Text { body: &'a str },
    Image(&'a Media),
    Audio(&'a Media),
    Voice(&'a Media),
    Video(&'a Media),
    Document(&'a Media),
    Sticker(&'a Media),
    Location(&'a Location),
    Contacts { contacts: &'a [SharedContact] },
    InteractiveReply(&'a Reply),
    Button(&'a Reply),
    Reaction(&'a Reaction),
    Order(&'a Order),
    System(&'a SystemNotice),
    Unsupported { name: &'a str },
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tagged = match self {
            Self::Text(body) => Tagged::Text { body },
            Self::Image(media) => Tagged::Image(media),
            Self::Audio(media) => Tagged::Audio(media),
            Self::Voice(media) => Tagged::Voice(media),
            Self::Video(media) => Tagged::Video(media),
            Self::Document(media) => Tagged::Document(media),
            Self::Sticker(media) => Tagged::Sticker(media),
            Self::Location(location) => Tagged::Location(location),
            Self::Contacts(contacts) => Tagged::Contacts { contacts },
            Self::InteractiveReply(reply) => Tagged::InteractiveReply(reply),
            Self::Button(reply) => Tagged::Button(reply),
            Self::Reaction(reaction) => Tagged::Reaction(reaction),
            Self::Order(order) => Tagged::Order(order),
            Self::System(notice) => Tagged::System(notice),
            Self::Unsupported(name) => Tagged::Unsupported { name },
        };
        tagged.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode(message: Value) -> Option<Content> {
        let kind = message["type"].as_str().unwrap_or_default().to_owned();
        Content::decode(&kind, &message)
    }

    #[test]
    fn synthetic_voice_audio_is_voice_and_plain_audio_is_audio() {
        let voice = json!({"type": "audio", "audio": {"id": "m1", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": true}});
        let Some(Content::Voice(media)) = decode(voice) else {
            panic!("expected a voice note")
        };
        assert_eq!(media.id, "m1");
        assert_eq!(media.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));

        let audio = json!({"type": "audio", "audio": {"id": "m2", "voice": false}});
        assert!(matches!(decode(audio), Some(Content::Audio(m)) if m.id == "m2"));
        let unflagged = json!({"type": "audio", "audio": {"id": "m3"}});
        assert!(matches!(decode(unflagged), Some(Content::Audio(_))));
    }

    #[test]
    fn synthetic_document_keeps_filename_and_caption() {
        let document = json!({"type": "document", "document": {"id": "d1", "filename": "receipt.pdf", "caption": "March"}});
        let content = decode(document).unwrap();
        assert_eq!(content.text(), Some("March"));
        let Content::Document(media) = content else {
            panic!("expected a document")
        };
        assert_eq!(media.filename.as_deref(), Some("receipt.pdf"));
    }

    #[test]
    fn synthetic_removed_reaction_has_no_emoji() {
        for reaction in [
            json!({"message_id": "wamid.A", "emoji": ""}),
            json!({"message_id": "wamid.A"}),
        ] {
            let content = decode(json!({"type": "reaction", "reaction": reaction}));
            assert_eq!(
                content,
                Some(Content::Reaction(Reaction {
                    message_id: "wamid.A".into(),
                    emoji: None
                }))
            );
        }
    }

    #[test]
    fn synthetic_flow_reply_uses_response_json() {
        let flow = json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {
            "name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"t\"}"}}});
        assert_eq!(
            decode(flow),
            Some(Content::InteractiveReply(Reply {
                id: "flow".into(),
                title: "{\"flow_token\":\"t\"}".into(),
                description: Some("Sent".into()),
            }))
        );
        let bodied = json!({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"body": "Sent"}}});
        assert!(matches!(decode(bodied), Some(Content::InteractiveReply(r)) if r.title == "Sent"));
    }

    #[test]
    fn synthetic_contact_name_falls_back_to_first_and_last() {
        let contacts = json!({"type": "contacts", "contacts": [
            {"name": {"first_name": "Ana", "last_name": "Ruiz"}, "emails": [{"email": "ana@example.com"}],
             "phones": [{"wa_id": "34600000000"}]},
            {"name": {"first_name": "Solo"}}
        ]});
        let Some(Content::Contacts(cards)) = decode(contacts) else {
            panic!("expected contacts")
        };
        assert_eq!(cards[0].name, "Ana Ruiz");
        assert_eq!(cards[0].emails, ["ana@example.com"]);
        assert_eq!(cards[0].phones, ["34600000000"]);
        assert_eq!(cards[0].organization, None);
        assert_eq!(cards[1].name, "Solo");
    }

    #[test]
    fn synthetic_missing_or_unknown_data_decodes_to_none() {
        assert_eq!(decode(json!({"type": "image"})), None);
        assert_eq!(
            decode(json!({"type": "image", "image": {"caption": "no id"}})),
            None
        );
        assert_eq!(
            decode(json!({"type": "text", "text": "not an object"})),
            None
        );
        assert_eq!(
            decode(json!({"type": "location", "location": {"latitude": 1.0}})),
            None
        );
        assert_eq!(
            decode(
                json!({"type": "interactive", "interactive": {"type": "call_permission_reply"}})
            ),
            None
        );
        assert_eq!(decode(json!({"type": "foo", "foo": {}})), None);
        assert_eq!(decode(json!({"type": "unsupported"})), None);
    }

    #[test]
    fn synthetic_identity_change_and_old_number_change_spellings() {
        let identity = json!({"type": "system", "system": {
            "body": "User A's security code changed", "identity": "abc123=", "customer": "16505551234",
            "type": "customer_identity_changed"}});
        let Some(Content::System(notice)) = decode(identity) else {
            panic!("expected a system notice")
        };
        assert_eq!(notice.kind, "customer_identity_changed");
        assert_eq!(notice.identity.as_deref(), Some("abc123="));
        assert_eq!(notice.new_wa_id, None);
        let old = json!({"type": "system", "system": {
            "body": "changed", "new_wa_id": 12195555358u64, "type": "customer_changed_number"}});
        let Some(Content::System(notice)) = decode(old) else {
            panic!("expected a system notice")
        };
        assert_eq!(notice.new_wa_id.as_deref(), Some("12195555358"));
        assert_eq!(notice.identity, None);
    }

    #[test]
    fn content_text_covers_every_human_readable_case() {
        let reply = Reply {
            id: "a".into(),
            title: "Yes".into(),
            description: None,
        };
        assert_eq!(Content::Text("hi".into()).text(), Some("hi"));
        assert_eq!(Content::Button(reply.clone()).text(), Some("Yes"));
        assert_eq!(Content::InteractiveReply(reply).text(), Some("Yes"));
        assert_eq!(Content::Unsupported("foo".into()).text(), None);
        let order = Order {
            catalog_id: "c".into(),
            text: Some("asap".into()),
            items: vec![],
        };
        assert_eq!(Content::Order(order).text(), Some("asap"));
    }

    #[test]
    fn content_serialises_tagged_by_type() {
        assert_eq!(
            serde_json::to_value(Content::Text("hi".into())).unwrap(),
            json!({"type": "text", "body": "hi"})
        );
        assert_eq!(
            serde_json::to_value(Content::Unsupported("foo".into())).unwrap(),
            json!({"type": "unsupported", "name": "foo"})
        );
        let reply = Reply {
            id: "a".into(),
            title: "Yes".into(),
            description: None,
        };
        assert_eq!(
            serde_json::to_value(Content::InteractiveReply(reply)).unwrap(),
            json!({"type": "interactive_reply", "id": "a", "title": "Yes", "description": null})
        );
        let card = SharedContact {
            name: "Ana".into(),
            phones: vec![],
            emails: vec![],
            organization: None,
        };
        assert_eq!(
            serde_json::to_value(Content::Contacts(vec![card])).unwrap()["contacts"][0]["name"],
            "Ana"
        );
    }
}
