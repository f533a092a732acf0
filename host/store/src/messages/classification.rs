//! What the pipeline's plugins decided for a message: the classifier's tags and
//! details (or why it failed) and the responder's actions.

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};

/// The outcome of classifying one message.
#[derive(Debug, Clone)]
pub enum ClassifyOutcome {
    /// The classifier returned these tags and this classification JSON.
    Classified {
        /// Tags to attach.
        tags: Vec<String>,
        /// Intent, entities, sentiment, priority.
        classification: serde_json::Value,
    },
    /// The classifier failed; the message stays untagged with the reason.
    Failed(String),
    /// The tenant has no classifier installed.
    NoClassifier,
}

/// Records the classification of a message (tags, details or failure). With
/// `first`, only when no result was recorded yet: true for exactly one caller,
/// however many workers or hosts ran its plugins (the others skip the message);
/// without it (an edit's new version), always.
///
/// # Errors
/// On database failure.
pub(crate) fn record_classification(
    tx: &Conn<'_>,
    message_id: i64,
    classifier: Option<&str>,
    outcome: &ClassifyOutcome,
    first: bool,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let only_first = if first {
        " AND classified_at IS NULL"
    } else {
        ""
    };
    let n = match outcome {
        ClassifyOutcome::Classified { classification, .. } => tx.execute(
            &format!(
                "UPDATE messages SET classified_at = ?2, classification = ?3, classifier = ?4,
                     classify_error = NULL
                 WHERE id = ?1{only_first}"
            ),
            params![message_id, now, classification.to_string(), classifier],
        )?,
        ClassifyOutcome::Failed(reason) => tx.execute(
            &format!(
                "UPDATE messages SET classified_at = ?2, classifier = ?3, classify_error = ?4
                 WHERE id = ?1{only_first}"
            ),
            params![message_id, now, classifier, reason],
        )?,
        ClassifyOutcome::NoClassifier => tx.execute(
            &format!("UPDATE messages SET classified_at = ?2 WHERE id = ?1{only_first}"),
            params![message_id, now],
        )?,
    };
    if n == 0 {
        return Ok(false);
    }
    if let ClassifyOutcome::Classified { tags, .. } = outcome {
        for tag in tags {
            tx.execute(
                "INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![message_id, tag],
            )?;
        }
    }
    Ok(true)
}

/// Records what the responder decided for a message (its actions or why it failed);
/// `tag` actions also tag the message.
///
/// # Errors
/// On database failure.
pub(crate) fn record_response(
    tx: &Conn<'_>,
    message_id: i64,
    responder: &str,
    response: &Result<Vec<serde_json::Value>, String>,
) -> Result<(), StoreError> {
    match response {
        Ok(actions) => {
            tx.execute(
                "UPDATE messages SET actions = ?2, responder = ?3, respond_error = NULL WHERE id = ?1",
                params![message_id, serde_json::Value::Array(actions.clone()).to_string(), responder],)?;
            for tag in actions
                .iter()
                .filter(|a| a["type"] == "tag")
                .filter_map(|a| a["tag"].as_str())
            {
                tx.execute(
                    "INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![message_id, tag],)?;
            }
        }
        Err(reason) => {
            tx.execute(
                "UPDATE messages SET responder = ?2, respond_error = ?3 WHERE id = ?1",
                params![message_id, responder, reason],
            )?;
        }
    }
    Ok(())
}
