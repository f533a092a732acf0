//! The inputs the message checks call a plugin on: every message of the real
//! webhook payloads built into the binary ([`WEBHOOKS`], copies of Meta's published
//! examples) and of the caller's own (`--fixtures DIR`), the contract's media types
//! the examples lack, and hostile texts (empty, huge, non-Latin, emoji-only, control
//! characters). Each case is one message in a payload of its own, so that a failure
//! names the message type and the file it came from.

use crate::runner::Input;
use serde_json::{Value, json};

/// Meta's webhook examples, by file name (`webhooks/README.md`).
pub const WEBHOOKS: [(&str, &[u8]); 16] = [
    (
        "button_message.json",
        include_bytes!("webhooks/button_message.json"),
    ),
    (
        "contact_sharing_message.json",
        include_bytes!("webhooks/contact_sharing_message.json"),
    ),
    (
        "group_create_message.json",
        include_bytes!("webhooks/group_create_message.json"),
    ),
    (
        "group_remove_participants.json",
        include_bytes!("webhooks/group_remove_participants.json"),
    ),
    (
        "group_settings_update.json",
        include_bytes!("webhooks/group_settings_update.json"),
    ),
    (
        "image_message.json",
        include_bytes!("webhooks/image_message.json"),
    ),
    (
        "interactive_button_reply_message.json",
        include_bytes!("webhooks/interactive_button_reply_message.json"),
    ),
    (
        "interactive_list_reply_message.json",
        include_bytes!("webhooks/interactive_list_reply_message.json"),
    ),
    (
        "location_message.json",
        include_bytes!("webhooks/location_message.json"),
    ),
    (
        "order_message.json",
        include_bytes!("webhooks/order_message.json"),
    ),
    (
        "reaction_message.json",
        include_bytes!("webhooks/reaction_message.json"),
    ),
    (
        "system_message.json",
        include_bytes!("webhooks/system_message.json"),
    ),
    (
        "text_message.json",
        include_bytes!("webhooks/text_message.json"),
    ),
    (
        "text_message_from_click_to_whatsapp_ad.json",
        include_bytes!("webhooks/text_message_from_click_to_whatsapp_ad.json"),
    ),
    (
        "text_message_with_context_product_inquiry.json",
        include_bytes!("webhooks/text_message_with_context_product_inquiry.json"),
    ),
    (
        "unsupported_message.json",
        include_bytes!("webhooks/unsupported_message.json"),
    ),
];

/// The longest text body the Cloud API carries, in characters.
const MAX_TEXT: usize = scrm_wire::outbound::MAX_TEXT;

/// One message to call the plugin on.
#[derive(Debug, Clone)]
pub struct Case {
    /// The check it counts for: `message text`, `input emoji-only`, ….
    pub check: String,
    /// Where it comes from, for failure messages: a file name, or what it is.
    pub source: String,
    /// A webhook payload carrying only this message.
    pub input: Input,
}

/// The message cases: each message of the built-in payloads and of `extra` (name,
/// bytes), then the media types they lack, then the hostile texts. The first case
/// is the plain text example, which the checks also use to see whether the plugin
/// takes its configuration.
///
/// # Errors
/// A one-line message naming an extra file that is not a webhook payload.
pub fn messages(extra: &[(String, Vec<u8>)]) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let text = WEBHOOKS
        .iter()
        .position(|(name, _)| *name == "text_message.json")
        .unwrap_or(0);
    let mut files: Vec<(String, &[u8])> = vec![(WEBHOOKS[text].0.into(), WEBHOOKS[text].1)];
    files.extend(
        WEBHOOKS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != text)
            .map(|(_, (n, b))| (n.to_string(), *b)),
    );
    files.extend(extra.iter().map(|(n, b)| (n.clone(), b.as_slice())));
    for (name, bytes) in files {
        let payload: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("{name} is not JSON ({e}): give Cloud API webhook payloads"))?;
        if payload.get("entry").is_none() {
            return Err(format!(
                "{name} is not a Cloud API webhook payload (an object with an \"entry\" array)"
            ));
        }
        for (kind, one) in split(&payload) {
            cases.push(case(format!("message {kind}"), name.clone(), &one)?);
        }
    }
    cases.extend(missing_media()?);
    cases.extend(hostile()?);
    Ok(cases)
}

fn case(check: String, source: String, payload: &Value) -> Result<Case, String> {
    let bytes = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let input = Input::parse(&bytes, &source)?;
    Ok(Case {
        check,
        source,
        input,
    })
}

/// Each message of a payload as a payload of its own, with its message type; the
/// rest (statuses, group and account notifications) reaches no message plugin.
pub fn split(payload: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in payload["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            for m in value["messages"].as_array().into_iter().flatten() {
                let kind = m["type"].as_str().unwrap_or("unknown").to_string();
                let mut v = value.clone();
                v["messages"] = json!([m]);
                if let Some(o) = v.as_object_mut() {
                    o.remove("statuses");
                }
                let mut c = change.clone();
                c["value"] = v;
                let mut e = entry.clone();
                e["changes"] = json!([c]);
                let mut p = payload.clone();
                p["entry"] = json!([e]);
                out.push((kind, p));
            }
        }
    }
    out
}

/// The text example with its message and sender changed.
fn text_payload(id: &str, body: &str, name: &str) -> Value {
    let mut p: Value = serde_json::from_slice(text_example()).unwrap_or(Value::Null);
    let value = &mut p["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["profile"]["name"] = json!(name);
    value["messages"][0]["id"] = json!(format!("wamid.conformance.{id}"));
    value["messages"][0]["text"]["body"] = json!(body);
    p
}

fn text_example() -> &'static [u8] {
    WEBHOOKS
        .iter()
        .find(|(n, _)| *n == "text_message.json")
        .map_or(b"{}", |(_, b)| b)
}

/// The contract's media types Meta's examples lack (audio, voice, video,
/// document, sticker), made from the image example.
fn missing_media() -> Result<Vec<Case>, String> {
    let image = WEBHOOKS
        .iter()
        .find(|(n, _)| *n == "image_message.json")
        .map_or(&b"{}"[..], |(_, b)| b);
    let base: Value = serde_json::from_slice(image).map_err(|e| e.to_string())?;
    let media = base["entry"][0]["changes"][0]["value"]["messages"][0]["image"].clone();
    let mut cases = Vec::new();
    for (kind, mime, extra) in [
        ("audio", "audio/mpeg", json!({})),
        ("audio", "audio/ogg; codecs=opus", json!({"voice": true})),
        ("video", "video/mp4", json!({"caption": "unboxing"})),
        (
            "document",
            "application/pdf",
            json!({"filename": "invoice.pdf", "caption": "my invoice"}),
        ),
        ("sticker", "image/webp", json!({"animated": false})),
    ] {
        let mut p = base.clone();
        let m = &mut p["entry"][0]["changes"][0]["value"]["messages"][0];
        let mut content = media.clone();
        content["mime_type"] = json!(mime);
        if kind != "video"
            && kind != "document"
            && let Some(o) = content.as_object_mut()
        {
            o.remove("caption");
        }
        for (k, v) in extra.as_object().into_iter().flatten() {
            content[k] = v.clone();
        }
        if let Some(o) = m.as_object_mut() {
            o.remove("image");
            o.insert("type".into(), json!(kind));
            o.insert(kind.into(), content);
        }
        let what = if extra.get("voice").is_some() {
            "voice"
        } else {
            kind
        };
        cases.push(case(
            format!("message {what}"),
            format!("image_message.json as {what}"),
            &p,
        )?);
    }
    Ok(cases)
}

/// Texts that break careless plugins, each with a sender name to match.
pub fn hostile_texts() -> Vec<(&'static str, String, String)> {
    let words = "order 123456 where is my parcel? ¿dónde está mi pedido? 我的订单在哪里 ";
    let mut huge: String = words.chars().cycle().take(MAX_TEXT).collect();
    // End on a multi-byte character, where a byte-indexed cut would break it.
    huge.pop();
    huge.push('😀');
    vec![
        ("empty", String::new(), String::new()),
        ("whitespace", " \n\t \u{a0}\u{3000}".into(), " ".into()),
        ("huge", huge, "N".repeat(256)),
        (
            "non-latin",
            "我想买这个产品，多少钱？ كم سعر هذا المنتج؟ यह कितने का है? Сколько это стоит? ราคาเท่าไหร่ 値段はいくらですか".into(),
            "محمد 王芳 Дмитрий".into(),
        ),
        (
            "emoji-only",
            "😀🔥👍🏽❤️‍🔥🇮🇹👨‍👩‍👧‍👦🙏".into(),
            "🌸🌸".into(),
        ),
        (
            "control-characters",
            "a\u{0}b\u{7}c\u{1b}[31m\u{202e}txet\u{200b}\u{feff}\u{301}\r\n".into(),
            "\u{202e}eman".into(),
        ),
    ]
}

fn hostile() -> Result<Vec<Case>, String> {
    hostile_texts()
        .into_iter()
        .map(|(what, body, name)| {
            let p = text_payload(what, &body, &name);
            let source = match what {
                "huge" => format!("{MAX_TEXT} characters of text, the Cloud API's maximum"),
                other => format!("{other} text"),
            };
            case(format!("input {what}"), source, &p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_message_is_a_case_of_its_own() {
        let cases = messages(&[]).unwrap();
        assert_eq!(cases[0].source, "text_message.json");
        let checks: Vec<&str> = cases.iter().map(|c| c.check.as_str()).collect();
        for kind in [
            "text",
            "image",
            "audio",
            "voice",
            "video",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive",
            "button",
            "reaction",
            "order",
            "system",
            "unsupported",
        ] {
            assert!(
                checks.contains(&format!("message {kind}").as_str()),
                "{kind}"
            );
        }
        for what in ["empty", "huge", "non-latin", "emoji-only"] {
            assert!(checks.contains(&format!("input {what}").as_str()), "{what}");
        }
        for c in &cases {
            let Input::Webhook(n) = &c.input else {
                panic!("{}: a webhook", c.source)
            };
            let messages = n
                .events()
                .into_iter()
                .filter(|e| matches!(e, scrm_wire::payload::Event::Message(_)))
                .count();
            assert_eq!(messages, 1, "{}", c.source);
        }
        let huge = hostile_texts().into_iter().find(|h| h.0 == "huge").unwrap();
        assert_eq!(huge.1.chars().count(), MAX_TEXT);
    }

    #[test]
    fn extra_files_must_be_webhook_payloads() {
        let err = messages(&[("mine.json".into(), b"{\"fields\": {}}".to_vec())]).unwrap_err();
        assert!(
            err.starts_with("mine.json is not a Cloud API webhook payload"),
            "{err}"
        );
    }

    #[test]
    fn the_built_in_payloads_are_the_shared_fixtures() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/webhooks");
        let Ok(dir) = std::fs::read_dir(&shared) else {
            return; // Not in the development tree.
        };
        let names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        assert_eq!(names.len(), WEBHOOKS.len(), "{names:?}");
        for (name, bytes) in WEBHOOKS {
            let theirs = std::fs::read(shared.join(name)).unwrap();
            assert!(theirs == bytes, "{name} differs from the shared copy");
        }
    }
}
