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

/// One message's classification, for [`record_classifications`].
#[derive(Debug, Clone, Copy)]
pub struct ClassificationRecord<'a> {
    /// The message.
    pub message_id: i64,
    /// The classifier's label, when one ran.
    pub classifier: Option<&'a str>,
    /// What it decided.
    pub outcome: &'a ClassifyOutcome,
    /// A message's first results (see [`record_classification`]); false for an
    /// edit's new version.
    pub first: bool,
}

/// Records many classifications, in order, as [`record_classification`] would one
/// by one, with a few statements for all the first results: whether each was
/// recorded.
///
/// # Errors
/// On database failure.
pub(crate) fn record_classifications(
    tx: &Conn<'_>,
    records: &[ClassificationRecord<'_>],
) -> Result<Vec<bool>, StoreError> {
    let mut recorded = vec![false; records.len()];
    // First results waiting to be written together: indexes into `records`.
    let mut pending: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in records.iter().enumerate() {
        if r.first {
            // A message twice in one batch: the first occurrence decides.
            if seen.insert(r.message_id) {
                pending.push(i);
            }
            continue;
        }
        // An edit's result replaces whatever came before it: write those first.
        record_first_results(tx, records, &std::mem::take(&mut pending), &mut recorded)?;
        recorded[i] = record_classification(tx, r.message_id, r.classifier, r.outcome, false)?;
    }
    record_first_results(tx, records, &pending, &mut recorded)?;
    Ok(recorded)
}

/// One first result as written: `(message, classification, classifier, error,
/// outcome kind)`.
type FirstResult<'a> = (
    i64,
    Option<String>,
    Option<&'a str>,
    Option<&'a str>,
    &'static str,
);

/// Writes the first results `pending` (indexes into `records`, one per message)
/// where no result is recorded yet, and their tags; marks which were in `recorded`.
fn record_first_results(
    tx: &Conn<'_>,
    records: &[ClassificationRecord<'_>],
    pending: &[usize],
    recorded: &mut [bool],
) -> Result<(), StoreError> {
    let now = now_ms();
    let rows: Vec<FirstResult<'_>> = pending
        .iter()
        .map(|&i| {
            let r = &records[i];
            match r.outcome {
                ClassifyOutcome::Classified { classification, .. } => (
                    r.message_id,
                    Some(classification.to_string()),
                    r.classifier,
                    None,
                    "classified",
                ),
                ClassifyOutcome::Failed(reason) => (
                    r.message_id,
                    None,
                    r.classifier,
                    Some(reason.as_str()),
                    "failed",
                ),
                ClassifyOutcome::NoClassifier => (r.message_id, None, None, None, "none"),
            }
        })
        .collect();
    let mut won = std::collections::HashSet::new();
    for chunk in crate::bulk::chunks(rows.len()) {
        let rows = &rows[chunk];
        let sql = format!(
            "UPDATE messages SET classified_at = ?1,
                 classification = CASE v.column5 WHEN 'classified' THEN v.column2 ELSE messages.classification END,
                 classifier = CASE v.column5 WHEN 'none' THEN messages.classifier ELSE v.column3 END,
                 classify_error = CASE v.column5 WHEN 'classified' THEN NULL
                                  WHEN 'failed' THEN v.column4 ELSE messages.classify_error END
             FROM (VALUES {}) AS v
             WHERE messages.id = v.column1 AND messages.classified_at IS NULL
             RETURNING messages.id",
            crate::bulk::tuples(rows.len(), 5, 2)
        );
        let mut params: Vec<&dyn crate::sql::Param> = vec![&now];
        for (id, classification, classifier, error, kind) in rows {
            params.extend([
                id as &dyn crate::sql::Param,
                classification,
                classifier,
                error,
                kind,
            ]);
        }
        won.extend(tx.query(&sql, &params, |r| r.get::<i64>(0))?);
    }
    let mut tags: Vec<(i64, &str)> = Vec::new();
    for &i in pending {
        let r = &records[i];
        if !won.contains(&r.message_id) {
            continue;
        }
        recorded[i] = true;
        if let ClassifyOutcome::Classified { tags: t, .. } = r.outcome {
            tags.extend(t.iter().map(|t| (r.message_id, t.as_str())));
        }
    }
    tags.sort_unstable();
    tags.dedup();
    for chunk in crate::bulk::chunks(tags.len()) {
        let tags = &tags[chunk];
        let sql = format!(
            "INSERT INTO message_tags (message_id, tag) VALUES {} ON CONFLICT DO NOTHING",
            crate::bulk::tuples(tags.len(), 2, 1)
        );
        let params: Vec<&dyn crate::sql::Param> = tags
            .iter()
            .flat_map(|(id, tag)| [id as &dyn crate::sql::Param, tag])
            .collect();
        tx.execute(&sql, &params)?;
    }
    Ok(())
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
