//! Edits and revokes: [`Amendment`], read from a `type: "edit"` / `type: "revoke"`
//! message, naming the earlier message it changes.

use serde::Serialize;
use serde_json::Value;

use crate::content::Content;
use crate::json::str_at;

/// A change to an earlier message (`type: "edit"` / `type: "revoke"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Amendment {
    /// The sender edited the message; the notification's content is the new version.
    Edit {
        /// The wamid of the edited message (`edit.original_message_id`).
        original_id: String,
        /// The WhatsApp type of the new version (`edit.message.type`).
        kind: String,
        /// The new text or caption as sent, even when the new content is unreadable.
        text: Option<String>,
    },
    /// The sender deleted the message for everyone.
    Revoke {
        /// The wamid of the deleted message (`revoke.original_message_id`).
        original_id: String,
    },
}

impl Amendment {
    /// The wamid of the message changed.
    pub fn original_id(&self) -> &str {
        match self {
            Self::Edit { original_id, .. } | Self::Revoke { original_id } => original_id,
        }
    }
}

/// Reads `type: "edit"` / `type: "revoke"`: what they change and, for an edit, the new
/// content. `None` when the original message id is missing (then the notification is
/// kept as an unsupported message).
pub(super) fn amendment(kind: &str, message: &Value) -> Option<(Amendment, Option<Content>)> {
    let data = message.get(kind)?;
    let original_id = str_at(data, "/original_message_id")?;
    match kind {
        "revoke" => Some((Amendment::Revoke { original_id }, None)),
        "edit" => {
            let inner = data.get("message").unwrap_or(&Value::Null);
            let new_kind = str_at(inner, "/type").unwrap_or_else(|| "unknown".to_owned());
            let content = Content::decode(&new_kind, inner);
            let text = content
                .as_ref()
                .and_then(Content::text)
                .map(str::to_owned)
                .or_else(|| str_at(inner, &format!("/{new_kind}/caption")))
                .or_else(|| str_at(inner, "/text/body"));
            Some((
                Amendment::Edit {
                    original_id,
                    kind: new_kind.clone(),
                    text,
                },
                Some(content.unwrap_or(Content::Unsupported(new_kind))),
            ))
        }
        _ => None,
    }
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::test_support::single_message;

    #[test]
    fn synthetic_edit_carries_the_new_content_and_the_original_id() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.edit1", "timestamp": "1700000050",
            "type": "edit", "edit": {"original_message_id": "wamid.orig", "message": {
                "context": {"id": "wamid.asked"}, "type": "text", "text": {"body": "fixed typo"}}}}),
        );
        assert_eq!(m.kind, "edit");
        assert_eq!(m.content, Content::Text("fixed typo".into()));
        assert_eq!(m.context.replied_to.as_deref(), Some("wamid.asked"));
        assert_eq!(
            m.amends,
            Some(Amendment::Edit {
                original_id: "wamid.orig".into(),
                kind: "text".into(),
                text: Some("fixed typo".into()),
            })
        );
        // A caption edit without the media id still yields the new caption.
        let m = single_message(
            json!({"from": "1", "id": "wamid.edit2", "timestamp": "1700000051",
            "type": "edit", "edit": {"original_message_id": "wamid.img", "message": {
                "type": "image", "image": {"caption": "new caption"}}}}),
        );
        assert_eq!(m.content, Content::Unsupported("image".into()));
        assert_eq!(
            m.amends,
            Some(Amendment::Edit {
                original_id: "wamid.img".into(),
                kind: "image".into(),
                text: Some("new caption".into()),
            })
        );
    }

    #[test]
    fn synthetic_revoke_names_the_deleted_message() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.rev", "timestamp": "1700000060",
            "type": "revoke", "revoke": {"original_message_id": "wamid.orig"}}),
        );
        assert_eq!(
            m.amends,
            Some(Amendment::Revoke {
                original_id: "wamid.orig".into()
            })
        );
        assert_eq!(
            m.amends.as_ref().map(Amendment::original_id),
            Some("wamid.orig")
        );
        assert_eq!(m.content, Content::Unsupported("revoke".into()));
        // Without the original id it is only an unsupported message, kept raw.
        let m = single_message(
            json!({"from": "1", "id": "wamid.rev2", "type": "revoke", "revoke": {}}),
        );
        assert_eq!(m.amends, None);
        assert_eq!(m.content, Content::Unsupported("revoke".into()));
    }
}
