//! Replies written in HubSpot: a WhatsApp communication a person logs on a contact
//! (`hs_communication_channel_type = WHATS_APP`, without the host's `scrm_key`)
//! whose text starts with `reply_marker` (`/wa Il suo ordine è partito`) is a
//! message for the customer. Each pull reads the ones changed since the last, finds
//! their contacts (one batch association read) and hands them to the host, which
//! sends each once. Replies written more than a day before the first pull are not
//! sent.

use crate::client::Client;
use crate::config::Config;
use crate::keyed::COMMUNICATIONS;
use scrm_plugin_sdk::{ConnectorError, CrmReply};
use serde_json::{Value, json};

/// Communications read per pull.
const PAGE: usize = 100;

/// A day, ms: how far back the first pull looks.
const FIRST_LOOK_BACK_MS: i64 = 86_400_000;

/// The text of an HTML body (HubSpot keeps rich text): tags dropped, block ends as
/// line breaks, entities decoded.
pub fn plain(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[i + 1..i + j].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" || tag == "/div" || tag == "/li" {
            out.push('\n');
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    html_escape::decode_html_entities(&out)
        .replace('\u{a0}', " ")
        .trim()
        .to_string()
}

/// The reply text of a communication body, when it starts with `marker`.
pub fn reply_text(body: &str, marker: &str) -> Option<String> {
    scrm_plugin_sdk::replies::reply_text(&plain(body), marker)
}

/// The replies changed after `since` up to `until` (Unix ms), and where the next
/// read starts.
///
/// # Errors
/// The CRM's errors, as [`Client::call`] maps them.
pub fn read(cfg: &Config, since: i64, until: i64) -> Result<(Vec<CrmReply>, i64), ConnectorError> {
    let Some(marker) = cfg.reply_marker.as_deref().filter(|m| !m.is_empty()) else {
        return Ok((Vec::new(), until));
    };
    let since = if since == 0 {
        until - FIRST_LOOK_BACK_MS
    } else {
        since
    };
    let api = Client::new(cfg);
    let mut filters = vec![
        json!({"propertyName": "hs_communication_channel_type", "operator": "EQ", "value": "WHATS_APP"}),
        json!({"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since.to_string()}),
        json!({"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": until.to_string()}),
    ];
    if let Some(key) = &cfg.key_property {
        filters.push(json!({"propertyName": key, "operator": "NOT_HAS_PROPERTY"}));
    }
    let found = api.call(
        "POST",
        &format!("{COMMUNICATIONS}/search"),
        Some(&json!({
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["hs_communication_body", "hs_timestamp", "hs_lastmodifieddate"],
            "limit": PAGE,
        })),
    )?;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    let modified = |r: &Value| {
        r["properties"]["hs_lastmodifieddate"]
            .as_str()
            .and_then(crate::timestamps::parse_ms)
            .or_else(|| {
                r["updatedAt"]
                    .as_str()
                    .and_then(crate::timestamps::parse_ms)
            })
    };
    let next = if results.len() < PAGE {
        until
    } else {
        results.iter().filter_map(modified).max().unwrap_or(until)
    };
    let wanted: Vec<(String, String, i64)> = results
        .iter()
        .filter_map(|r| {
            let id = r["id"].as_str()?.to_string();
            let text = reply_text(r["properties"]["hs_communication_body"].as_str()?, marker)?;
            let at = r["properties"]["hs_timestamp"]
                .as_str()
                .and_then(crate::timestamps::parse_ms)
                .or_else(|| modified(r))
                .unwrap_or(until);
            Some((id, text, at))
        })
        .collect();
    if wanted.is_empty() {
        return Ok((Vec::new(), next));
    }
    let inputs: Vec<Value> = wanted.iter().map(|(id, _, _)| json!({"id": id})).collect();
    let assoc = api.call(
        "POST",
        "/crm/v4/associations/communications/contacts/batch/read",
        Some(&json!({"inputs": inputs})),
    )?;
    let mut replies = Vec::new();
    for (id, text, at) in wanted {
        let contact = assoc["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["from"]["id"].as_str() == Some(id.as_str()))
            .and_then(|r| {
                r["to"][0]["toObjectId"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .or_else(|| r["to"][0]["toObjectId"].as_str().map(str::to_owned))
            });
        match contact {
            Some(contact_id) => replies.push(CrmReply {
                id,
                contact_id,
                text,
                written_at: at,
            }),
            None => scrm_plugin_sdk::log::warn(&format!(
                "WhatsApp reply {id} is on no contact; not sent"
            )),
        }
    }
    Ok((replies, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_starts_a_reply_and_html_is_read_as_text() {
        assert_eq!(
            reply_text("<p>/wa Il suo ordine &egrave; partito&nbsp;</p>", "/wa").as_deref(),
            Some("Il suo ordine è partito")
        );
        assert_eq!(
            reply_text("<p>/WA: Spedito &amp; tracciato<br>Grazie</p>", "/wa").as_deref(),
            Some("Spedito & tracciato\nGrazie")
        );
        assert_eq!(reply_text("<p>Chiamato il cliente</p>", "/wa"), None);
        assert_eq!(reply_text("/wa", "/wa"), None, "nothing to send");
    }
}
