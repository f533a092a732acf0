//! Inbound messages: [`InboundMessage`] read out of `value.messages[]`, with the
//! sender's contact entry, what the message answers or refers to ([`Context`],
//! [`Referral`]) and any edit or revoke it carries.

use serde::Serialize;
use serde_json::Value;

use super::amendments::amendment;
use super::api_error::api_errors;
use super::event::other;
use super::{Amendment, ApiError, Event, Route};
use crate::content::Content;
use crate::json::{parse_at, str_at};

/// A message a customer sent to the business.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    /// Where it was delivered.
    pub route: Route,
    /// The WhatsApp message id ("wamid.…").
    pub id: String,
    /// The sender's WhatsApp id; absent when only a business-scoped user id is given.
    pub from: Option<String>,
    /// The sender's business-scoped user id (`messages[].from_user_id`), if given.
    pub from_user_id: Option<String>,
    /// The sender's profile name, from the matching `value.contacts[]` entry.
    pub profile_name: Option<String>,
    /// The business-scoped user id on the matching `value.contacts[]` entry.
    pub contact_user_id: Option<String>,
    /// The group the message was sent in, for group messages.
    pub group_id: Option<String>,
    /// When WhatsApp says it was sent, Unix seconds; 0 if absent or unreadable.
    pub timestamp: i64,
    /// The WhatsApp `type` string as sent ("unknown" if absent).
    pub kind: String,
    /// What it carries.
    pub content: Content,
    /// What it answers or refers to.
    pub context: Context,
    /// The errors Meta attached (unsupported messages carry these).
    pub errors: Vec<ApiError>,
    /// Set when this notification edits or revokes an earlier message rather than
    /// being a new one. For an edit, `content` holds the new content.
    pub amends: Option<Amendment>,
    /// The message object exactly as received.
    pub raw: Value,
}

impl InboundMessage {
    /// Reads a message object kept raw (such as a stored edit notification) as if it
    /// had been delivered under `route`; `None` when it has no wamid.
    pub fn from_raw(route: &Route, raw: &Value) -> Option<InboundMessage> {
        match message_event(route, raw, &[]) {
            Event::Message(message) => Some(message),
            _ => None,
        }
    }
}

/// What a message answers or refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The wamid of the message replied to (`context.id`), if any.
    pub replied_to: Option<String>,
    /// The catalogue product asked about (`context.referred_product.product_retailer_id`).
    pub referred_product: Option<String>,
    /// The click-to-WhatsApp ad the customer came from (`referral.source_id`).
    pub ad_source_id: Option<String>,
    /// The whole ad referral, when the customer came from a click-to-WhatsApp ad.
    pub referral: Option<Referral>,
}

/// The click-to-WhatsApp ad (or post) a message came from (`messages[].referral`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Referral {
    /// The ad or post id.
    pub source_id: Option<String>,
    /// `"ad"` or `"post"`.
    pub source_type: Option<String>,
    /// The URL the customer tapped.
    pub source_url: Option<String>,
    /// The ad's headline.
    pub headline: Option<String>,
    /// The ad's body text.
    pub body: Option<String>,
    /// `"image"` or `"video"`.
    pub media_type: Option<String>,
    /// The click id Meta uses for conversion reporting (`ctwa_clid`).
    pub ctwa_clid: Option<String>,
}

fn referral(message: &Value) -> Option<Referral> {
    let data = message.get("referral").filter(|r| r.is_object())?;
    Some(Referral {
        source_id: str_at(data, "/source_id"),
        source_type: str_at(data, "/source_type"),
        source_url: str_at(data, "/source_url"),
        headline: str_at(data, "/headline"),
        body: str_at(data, "/body"),
        media_type: str_at(data, "/media_type"),
        ctwa_clid: str_at(data, "/ctwa_clid"),
    })
}

pub(super) fn message_event(route: &Route, message: &Value, contacts: &[Value]) -> Event {
    // Without a wamid the host can neither dedupe nor answer it: keep it raw instead.
    let Some(id) = str_at(message, "/id") else {
        return other(route, "messages", message);
    };
    let from = str_at(message, "/from");
    let from_user_id = str_at(message, "/from_user_id");
    let contact = sender_contact(contacts, from.as_deref(), from_user_id.as_deref());
    // Meta's call-permission replies carry `interactive` without a message `type`.
    let kind = str_at(message, "/type")
        .or_else(|| message.get("interactive").map(|_| "interactive".to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    let (amends, content) = match amendment(&kind, message) {
        Some((amends, content)) => (Some(amends), content),
        None => (None, Content::decode(&kind, message)),
    };
    let content = content.unwrap_or_else(|| Content::Unsupported(kind.clone()));
    // An edit's context (a reply's replied-to id) sits inside the new version.
    let context_of = match &amends {
        Some(Amendment::Edit { .. }) => message.pointer("/edit/message").unwrap_or(message),
        _ => message,
    };
    Event::Message(InboundMessage {
        route: route.clone(),
        id,
        profile_name: contact.and_then(|c| str_at(c, "/profile/name")),
        contact_user_id: contact.and_then(|c| str_at(c, "/user_id")),
        from,
        from_user_id,
        group_id: str_at(message, "/group_id"),
        timestamp: parse_at(message, "/timestamp").unwrap_or(0),
        kind,
        content,
        context: Context {
            replied_to: str_at(context_of, "/context/id"),
            referred_product: str_at(context_of, "/context/referred_product/product_retailer_id"),
            ad_source_id: str_at(message, "/referral/source_id"),
            referral: referral(message),
        },
        errors: api_errors(message),
        amends,
        raw: message.clone(),
    })
}

/// Picks the `value.contacts[]` entry describing the sender: by WhatsApp id, then by
/// business-scoped user id, else the only contact (Meta sends one per sender).
fn sender_contact<'a>(
    contacts: &'a [Value],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a Value> {
    let matching = |pointer: &str, wanted: Option<&str>| {
        let wanted = wanted?;
        contacts
            .iter()
            .find(|contact| str_at(contact, pointer).as_deref() == Some(wanted))
    };
    matching("/wa_id", from)
        .or_else(|| matching("/user_id", from_user_id))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::content::{Location, Media, OrderItem, Reaction, Reply, SystemNotice};
    use crate::payload::parse;
    use crate::payload::test_support::{
        fixture_events, meta_docs_events, metadata, single_message,
    };

    const SENDER: &str = "16505551234";

    /// The single inbound message of a fixture, with the route every message fixture shares.
    fn fixture_message(name: &str, waba_id: &str) -> InboundMessage {
        let mut events = fixture_events(name);
        assert_eq!(events.len(), 1, "{name}");
        let Some(Event::Message(message)) = events.pop() else {
            panic!("{name}: expected a message")
        };
        assert_eq!(
            message.route,
            Route {
                waba_id: waba_id.into(),
                phone_number_id: Some("106540352242922".into()),
                display_phone_number: Some("15550783881".into()),
                field: "messages".into(),
            }
        );
        assert_eq!(message.from.as_deref(), Some(SENDER));
        assert_eq!(message.from_user_id, None);
        assert_eq!(message.contact_user_id, None);
        assert_eq!(message.raw["id"].as_str(), Some(message.id.as_str()));
        assert_eq!(message.raw["type"].as_str(), Some(message.kind.as_str()));
        message
    }

    fn media(id: &str, mime: &str, sha: &str, caption: Option<&str>) -> Media {
        Media {
            id: id.into(),
            mime_type: Some(mime.into()),
            sha256: Some(sha.into()),
            caption: caption.map(Into::into),
            filename: None,
        }
    }

    #[test]
    fn fixture_text_message() {
        let m = fixture_message("text_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_749_416_383);
        assert_eq!(m.kind, "text");
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(
            m.content,
            Content::Text("Does it come in another color?".into())
        );
        assert_eq!(m.content.text(), Some("Does it come in another color?"));
        assert_eq!(m.context, Context::default());
        assert!(m.errors.is_empty());
    }

    #[test]
    fn fixture_text_message_from_click_to_whatsapp_ad() {
        let m = fixture_message(
            "text_message_from_click_to_whatsapp_ad.json",
            "102290129340398",
        );
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA="
        );
        assert_eq!(m.timestamp, 1_750_275_992);
        assert_eq!(
            m.content.text(),
            Some("Hello! Can I get more info on this?")
        );
        assert_eq!(
            m.context.ad_source_id.as_deref(),
            Some("120226305854810726")
        );
        assert_eq!(m.context.replied_to, None);
        // The rest of the referral stays available in the raw message.
        assert_eq!(m.raw["referral"]["source_type"], "ad");
        assert_eq!(m.raw["referral"]["headline"], "Chat with us");
    }

    #[test]
    fn fixture_text_message_with_context_product_inquiry() {
        let m = fixture_message(
            "text_message_with_context_product_inquiry.json",
            "102290129340398",
        );
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA="
        );
        assert_eq!(m.timestamp, 1_750_016_800);
        assert_eq!(m.content, Content::Text("Is this still available?".into()));
        assert_eq!(
            m.context,
            Context {
                replied_to: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA".into()),
                referred_product: Some("di9ozbzfi4".into()),
                ad_source_id: None,
                referral: None,
            }
        );
    }

    #[test]
    fn fixture_image_message() {
        let m = fixture_message("image_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "image");
        assert_eq!(
            m.content,
            Content::Image(media(
                "1003383421387256",
                "image/jpeg",
                "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                Some("Taj Mahal"),
            ))
        );
        assert_eq!(m.content.text(), Some("Taj Mahal"));
    }

    #[test]
    fn fixture_location_message() {
        let m = fixture_message("location_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "location");
        assert_eq!(
            m.content,
            Content::Location(Location {
                latitude: 37.44221496582,
                longitude: -122.16165924072,
                name: Some("Philz Coffee".into()),
                address: Some("101 Forest Ave, Palo Alto, CA 94301".into()),
                url: Some("https://philzcoffee.com/".into()),
            })
        );
        assert_eq!(m.content.text(), None);
    }

    #[test]
    fn fixture_contact_sharing_message() {
        let m = fixture_message("contact_sharing_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "contacts");
        // The shared card must not be mistaken for the sender's own contact entry.
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        let Content::Contacts(cards) = &m.content else {
            panic!("expected contacts, got {:?}", m.content)
        };
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].name, "Lucía Gómez");
        assert_eq!(cards[0].phones, ["+1 (983) 555-2319"]);
        assert!(cards[0].emails.is_empty());
        assert_eq!(cards[0].organization.as_deref(), Some("Google"));
    }

    #[test]
    fn fixture_button_message() {
        let m = fixture_message("button_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA="
        );
        assert_eq!(m.timestamp, 1_750_091_045);
        assert_eq!(m.kind, "button");
        assert_eq!(
            m.content,
            Content::Button(Reply {
                id: "Unsubscribe".into(),
                title: "Unsubscribe".into(),
                description: None,
            })
        );
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA")
        );
    }

    #[test]
    fn fixture_interactive_button_reply_message() {
        let m = fixture_message("interactive_button_reply_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA="
        );
        assert_eq!(m.timestamp, 1_750_025_136);
        assert_eq!(m.kind, "interactive");
        assert_eq!(
            m.content,
            Content::InteractiveReply(Reply {
                id: "cancel-button".into(),
                title: "Cancel".into(),
                description: None,
            })
        );
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA")
        );
    }

    #[test]
    fn fixture_interactive_list_reply_message() {
        let m = fixture_message("interactive_list_reply_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA="
        );
        assert_eq!(m.timestamp, 1_749_854_575);
        assert_eq!(
            m.content,
            Content::InteractiveReply(Reply {
                id: "priority_express".into(),
                title: "Priority Mail Express".into(),
                description: Some("Next Day to 2 Days".into()),
            })
        );
        assert_eq!(m.content.text(), Some("Priority Mail Express"));
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA")
        );
    }

    #[test]
    fn fixture_order_message() {
        let m = fixture_message("order_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA="
        );
        assert_eq!(m.timestamp, 1_750_096_325);
        assert_eq!(m.kind, "order");
        let Content::Order(order) = &m.content else {
            panic!("expected an order, got {:?}", m.content)
        };
        assert_eq!(order.catalog_id, "194836987003835");
        assert_eq!(order.text, None, "an empty note is no note");
        assert_eq!(
            order.items,
            [
                OrderItem {
                    product_retailer_id: "di9ozbzfi4".into(),
                    quantity: 2,
                    item_price: 30.0,
                    currency: "USD".into(),
                },
                OrderItem {
                    product_retailer_id: "nqryix03ez".into(),
                    quantity: 1,
                    item_price: 25.0,
                    currency: "USD".into(),
                },
            ]
        );
    }

    #[test]
    fn fixture_reaction_message() {
        let m = fixture_message("reaction_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_749_419_544);
        assert_eq!(m.kind, "reaction");
        assert_eq!(
            m.content,
            Content::Reaction(Reaction {
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA".into(),
                emoji: Some("👍".into()),
            })
        );
        assert_eq!(m.content.text(), None);
    }

    #[test]
    fn fixture_system_message() {
        let m = fixture_message("system_message.json", "102290129340398");
        assert_eq!(m.id, "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==");
        assert_eq!(m.timestamp, 1_750_269_342);
        assert_eq!(m.kind, "system");
        // System messages come without `contacts`, so there is no profile name.
        assert_eq!(m.profile_name, None);
        assert_eq!(
            m.content,
            Content::System(SystemNotice {
                kind: "user_changed_number".into(),
                body: "User Sheena Nelson changed from 16505551234 to 12195555358".into(),
                new_wa_id: Some("12195555358".into()),
                identity: None,
            })
        );
    }

    #[test]
    fn fixture_unsupported_message() {
        let m = fixture_message("unsupported_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA"
        );
        assert_eq!(m.timestamp, 1_750_090_702);
        assert_eq!(m.kind, "unsupported");
        assert_eq!(m.content, Content::Unsupported("unsupported".into()));
        assert_eq!(
            m.errors,
            [ApiError {
                code: 131_051,
                title: "Message type unknown".into(),
                message: Some("Message type unknown".into()),
                details: Some("Message type is currently not supported.".into()),
            }]
        );
    }

    #[test]
    fn synthetic_unknown_type_is_unsupported_with_raw_kept() {
        let raw = json!({"from": "1", "id": "wamid.foo", "timestamp": "1700000000", "type": "foo",
                         "foo": {"bar": [1, 2, 3]}, "brand_new_field": true});
        let m = single_message(raw.clone());
        assert_eq!(m.kind, "foo");
        assert_eq!(m.content, Content::Unsupported("foo".into()));
        assert_eq!(m.raw, raw);
        assert_eq!(m.timestamp, 1_700_000_000);
    }

    #[test]
    fn synthetic_malformed_items_still_yield_events() {
        // An image without its `image` object.
        let m = single_message(
            json!({"from": "1", "id": "wamid.x", "timestamp": "soon", "type": "image"}),
        );
        assert_eq!(m.content, Content::Unsupported("image".into()));
        assert_eq!(m.timestamp, 0, "an unreadable timestamp is 0");
        // No type, no sender, odd context.
        let m = single_message(json!({"id": "wamid.y", "context": "nope", "referral": 5}));
        assert_eq!(m.kind, "unknown");
        assert_eq!(m.from, None);
        assert_eq!(m.content, Content::Unsupported("unknown".into()));
        assert_eq!(m.context, Context::default());
        // A text whose body is not a string, and errors of the wrong shape.
        let m = single_message(
            json!({"id": "wamid.z", "type": "text", "text": {"body": {}}, "errors": [7]}),
        );
        assert_eq!(m.content, Content::Unsupported("text".into()));
        assert_eq!(
            m.errors,
            [ApiError {
                code: 0,
                title: String::new(),
                message: None,
                details: None
            }]
        );
    }

    #[test]
    fn synthetic_voice_audio_message() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.v", "timestamp": "1700000000", "type": "audio",
            "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "abc=", "id": "media-1", "voice": true}}),
        );
        assert_eq!(m.kind, "audio");
        assert_eq!(
            m.content,
            Content::Voice(Media {
                id: "media-1".into(),
                mime_type: Some("audio/ogg; codecs=opus".into()),
                sha256: Some("abc=".into()),
                caption: None,
                filename: None,
            })
        );
    }

    #[test]
    fn synthetic_removed_reaction() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.r", "timestamp": "1700000000", "type": "reaction",
            "reaction": {"message_id": "wamid.target", "emoji": ""}}),
        );
        assert_eq!(
            m.content,
            Content::Reaction(Reaction {
                message_id: "wamid.target".into(),
                emoji: None
            })
        );
    }

    #[test]
    fn synthetic_sender_matched_by_business_scoped_user_id() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
            {"field": "messages", "value": {"metadata": metadata("pn"),
                "contacts": [{"profile": {"name": "Other"}, "wa_id": "9"},
                             {"profile": {"name": "Dana"}, "user_id": "US.123"}],
                "messages": [{"from_user_id": "US.123", "id": "wamid.u", "timestamp": "1700000000",
                              "type": "text", "text": {"body": "hey"}}]}}
        ]}]});
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        let Some(Event::Message(m)) = events.first() else {
            panic!("expected a message")
        };
        assert_eq!(m.from, None);
        assert_eq!(m.from_user_id.as_deref(), Some("US.123"));
        assert_eq!(m.profile_name.as_deref(), Some("Dana"));
        assert_eq!(m.contact_user_id.as_deref(), Some("US.123"));
    }

    #[test]
    fn fixture_click_to_whatsapp_ad_referral_is_read_whole() {
        let m = fixture_message(
            "text_message_from_click_to_whatsapp_ad.json",
            "102290129340398",
        );
        let referral = m.context.referral.expect("referral");
        assert_eq!(referral.source_id.as_deref(), Some("120226305854810726"));
        assert_eq!(referral.source_type.as_deref(), Some("ad"));
        assert_eq!(
            referral.source_url.as_deref(),
            Some("https://fb.me/3cr4Wqqkv")
        );
        assert_eq!(referral.headline.as_deref(), Some("Chat with us"));
        assert_eq!(
            referral.body.as_deref(),
            Some("Summer Succulents are here!")
        );
        assert_eq!(referral.media_type.as_deref(), Some("image"));
        assert!(referral.ctwa_clid.is_some_and(|c| c.starts_with("Aff-")));
    }

    fn the_reply(name: &str) -> (InboundMessage, Reply) {
        let mut events = meta_docs_events(name);
        let Some(Event::Message(m)) = events.pop() else {
            panic!("{name}: {events:?}");
        };
        assert_eq!(m.kind, "interactive", "{name}");
        let Content::InteractiveReply(reply) = m.content.clone() else {
            panic!("{name}: {:?}", m.content);
        };
        (m, reply)
    }

    #[test]
    fn flow_and_address_replies_are_named_by_their_nfm_name() {
        let (m, flow) = the_reply("interactive_nfm_reply_flow.json");
        assert_eq!(flow.id, "flow");
        assert!(flow.title.contains("flow_token"), "{flow:?}");
        assert!(m.context.replied_to.is_some());
        let (_, address) = the_reply("interactive_nfm_reply_address.json");
        assert_eq!(address.id, "address_message");
        let answer: Value = serde_json::from_str(&address.title).unwrap();
        assert_eq!(answer["values"]["city"], "Mumbai");
        assert!(
            address
                .description
                .is_some_and(|d| d.starts_with("CUSTOMER_NAME"))
        );
    }

    #[test]
    fn call_permission_replies_say_what_was_answered_and_for_how_long() {
        for (name, title, terms) in [
            (
                "interactive_call_permission_reply.json",
                "accept",
                "until 1768550400",
            ),
            (
                "interactive_call_permission_reply_permanent.json",
                "accept",
                "permanent",
            ),
            (
                "interactive_call_permission_reply_reject.json",
                "reject",
                "",
            ),
            (
                "interactive_call_permission_reply_automatic_callback.json",
                "accept",
                "1768550400, automatic",
            ),
            (
                "interactive_call_permission_reply_automatic_revoke.json",
                "reject",
                "automatic",
            ),
        ] {
            let (m, reply) = the_reply(name);
            assert_eq!(reply.id, "call_permission", "{name}");
            assert_eq!(reply.title, title, "{name}");
            let described = reply.description.unwrap_or_default();
            assert!(described.contains(terms), "{name}: {described}");
            assert!(m.from.is_some() && m.from_user_id.is_some(), "{name}");
        }
    }
}
