//! Media on the drop-in endpoint: `POST /{version}/{phone_number_id}/media` and
//! `GET /{version}/{media_id}`, as Meta takes and answers them.
//!
//! The ids are numeric, as Meta's are (Meta's spec, and clients, expect digits): an
//! scrm file is `9` and its media row's id in 23 digits — 24 digits, longer than
//! any id of Meta's (a 64-bit number has at most 19). A send through the endpoint
//! that names one is given the file's `scrm:<sha256>` id, which the outbox uploads
//! to Meta right before the send.

use super::{
    AppState, GraphError, access, answer_error, bad_token, caller, check_version, fbtrace_id,
    forbidden, unavailable, unknown_object,
};
use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `POST /{version}/{phone_number_id}/media`: multipart `file`, `type` (its MIME
/// type) and `messaging_product`, as Meta takes it; `{"id": "9…"}` (see the module
/// docs), an id any send of the tenant's through this endpoint can use.
pub async fn media(
    State(state): State<AppState>,
    Path((version, number)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let trace = fbtrace_id();
    let stored = async {
        check_version(&version, &format!("/{number}/media"))?;
        let (tenant, _) = caller(&state, &headers, &number, "/tenants/{id}/media").await?;
        let multipart = multipart.map_err(|e| bad_upload(&e.body_text()))?;
        let (w, file_name, mime) = read_upload(&state, multipart).await?;
        let ingested = state
            .media
            .ingest(&tenant, w, file_name, mime, None)
            .await
            .map_err(|e| {
                GraphError::new(400, 131053, "(#131053) Media upload error").details(e.to_string())
            })?;
        Ok::<_, GraphError>(json!({"id": numeric_id(ingested.row.id)}))
    }
    .await;
    match stored {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => answer_error(&e, &trace),
    }
}

/// The upload's file (written to the media store's temporary file), its name and
/// the MIME type its `type` part gives.
async fn read_upload(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(crate::media::Writer, Option<String>, Option<String>), GraphError> {
    let (mut file, mut mime) = (None, None);
    let max = crate::media::kinds::DOCUMENT_MAX;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_upload(&e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().map(str::to_owned);
                let part_type = field.content_type().map(str::to_owned);
                let mut w = state
                    .media
                    .writer()
                    .await
                    .map_err(|e| unavailable(&e.to_string()))?;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| bad_upload(&e.body_text()))?
                {
                    w.write(&chunk)
                        .await
                        .map_err(|e| unavailable(&e.to_string()))?;
                    if w.size() > max {
                        return Err(GraphError::new(400, 131053, "(#131053) Media upload error")
                            .details(format!("files may be at most {max} bytes")));
                    }
                }
                file = Some((w, name, part_type));
            }
            "type" => mime = Some(field.text().await.map_err(|e| bad_upload(&e.body_text()))?),
            "messaging_product" => {
                let p = field.text().await.map_err(|e| bad_upload(&e.body_text()))?;
                if p.trim() != "whatsapp" {
                    return Err(bad_upload("messaging_product must be whatsapp"));
                }
            }
            other => return Err(bad_upload(&format!("unknown part {other:?}"))),
        }
    }
    let (w, name, part_type) = file.ok_or_else(|| bad_upload("no `file` part"))?;
    if w.size() == 0 {
        return Err(bad_upload("the file is empty"));
    }
    Ok((w, name, mime.map(|m| m.trim().to_owned()).or(part_type)))
}

fn bad_upload(why: &str) -> GraphError {
    GraphError::new(400, 100, "(#100) Invalid parameter").details(format!(
        "an upload is multipart/form-data with `messaging_product`, `file` and `type`: {why}"
    ))
}

/// `GET /{version}/{media_id}[?phone_number_id=]`: where to download one of the
/// tenant's files, as Meta answers it. `media_id` is an scrm id (`scrm:<sha256>`)
/// or Meta's id of a file a customer sent (scrm downloaded it when it arrived, so
/// the client needs no Meta token). The `url` is scrm's
/// `/v1/tenants/{tenant}/media/{sha256}`, read with the same bearer token.
pub async fn media_url(
    State(state): State<AppState>,
    Path((version, media_id)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let trace = fbtrace_id();
    let found = async {
        check_version(&version, &format!("/{media_id}"))?;
        let tenant = reader(&state, &headers, q.get("phone_number_id")).await?;
        let (t, id) = (tenant.clone(), media_id.clone());
        let row = state
            .db
            .read(move |c| match (row_of(&id), id.strip_prefix("scrm:")) {
                (Some(row), _) => scrm_store::MediaRepo::stored_row(c, &t, row),
                (None, Some(sha)) => {
                    scrm_store::MediaRepo::visible(c, &t, &sha.to_ascii_lowercase())
                }
                (None, None) => scrm_store::MediaRepo::by_meta_id(c, &t, &id),
            })
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        let row = row
            .filter(|r| r.sha256.is_some())
            .ok_or_else(|| unknown_object(&media_id, "get"))?;
        let sha = row.sha256.unwrap_or_default();
        Ok::<_, GraphError>(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/v1/tenants/{tenant}/media/{sha}", own_base(&headers)),
            "mime_type": row.mime_type.unwrap_or_else(|| "application/octet-stream".into()),
            "sha256": sha,
            "file_size": row.size.unwrap_or_default(),
            "id": media_id,
        }))
    }
    .await;
    match found {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => answer_error(&e, &trace),
    }
}

/// The tenant a media read is for: the token's own, or for the operator's token
/// the owner of `phone_number_id`; admitted to read the tenant's media.
async fn reader(
    state: &AppState,
    headers: &HeaderMap,
    number: Option<&String>,
) -> Result<String, GraphError> {
    let who = access::bearer(state, headers).await.map_err(bad_token)?;
    let tenant = match (who.scope(), number) {
        (Some((own, _)), _) => own.to_owned(),
        (None, Some(n)) => {
            let key = n.clone();
            state
                .db
                .read(move |c| scrm_store::TenantRepo::owner(c, &key))
                .await
                .map_err(|e| unavailable(&e.to_string()))?
                .ok_or_else(|| unknown_object(n, "get"))?
        }
        (None, None) => {
            return Err(GraphError::new(400, 100, "(#100) Invalid parameter")
                .details("with the operator's token, say whose media with ?phone_number_id="));
        }
    };
    access::admit_as(&who, &Method::GET, "/tenants/{id}/media/{sha256}", &tenant)
        .map_err(|e| forbidden(e.message))?;
    Ok(tenant)
}

/// `scheme://host` as the client reached this host.
fn own_base(headers: &HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = get("x-forwarded-proto").unwrap_or("http");
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}")
}

/// The numeric id of media row `row`.
fn numeric_id(row: i64) -> String {
    format!("9{row:023}")
}

/// The media row a numeric scrm id names, if `id` is one.
fn row_of(id: &str) -> Option<i64> {
    let digits = id.strip_prefix('9')?;
    if id.len() != 24 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Media kinds whose object may carry an `id`.
const KINDS: [&str; 5] = ["image", "audio", "video", "document", "sticker"];

/// Gives every media object in `body` that names an scrm file by its numeric id
/// (`{"image": {"id": "9…"}}`, in a message, an interactive header or a template
/// parameter) the file's `scrm:<sha256>` id; other ids (Meta's) are left alone.
///
/// # Errors
/// `131053` naming an id that is not one of the tenant's stored files.
pub(super) async fn scrm_media_ids(
    state: &AppState,
    tenant: &str,
    body: &mut Value,
) -> Result<(), GraphError> {
    let mut rows = Vec::new();
    collect(body, false, &mut |id| rows.extend(row_of(id)));
    if rows.is_empty() {
        return Ok(());
    }
    let t = tenant.to_owned();
    let found = state
        .db
        .read(move |c| {
            rows.iter()
                .map(|r| Ok((*r, scrm_store::MediaRepo::stored_row(c, &t, *r)?)))
                .collect::<Result<Vec<_>, scrm_store::StoreError>>()
        })
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let mut missing = None;
    rewrite(body, false, &mut |id| {
        let row = row_of(id)?;
        let scrm = found
            .iter()
            .find(|(r, _)| *r == row)
            .and_then(|(_, m)| m.as_ref())
            .and_then(|m| m.scrm_id.clone());
        if scrm.is_none() {
            missing = Some(id.to_owned());
        }
        scrm
    });
    match missing {
        Some(id) => Err(GraphError::new(400, 131053, "(#131053) Media upload error")
            .details(format!("media id {id} is not a file of this account"))),
        None => Ok(()),
    }
}

/// Calls `f` with the `id` of every media object under `v` (`in_media`: `v` is one).
fn collect(v: &Value, in_media: bool, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(o) => {
            if in_media && let Some(id) = o.get("id").and_then(Value::as_str) {
                f(id);
            }
            for (k, child) in o {
                collect(child, KINDS.contains(&k.as_str()), f);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect(c, false, f)),
        _ => {}
    }
}

/// Replaces the `id` of every media object under `v` with what `f` gives for it.
fn rewrite(v: &mut Value, in_media: bool, f: &mut impl FnMut(&str) -> Option<String>) {
    match v {
        Value::Object(o) => {
            if in_media
                && let Some(Value::String(id)) = o.get_mut("id")
                && let Some(new) = f(id)
            {
                *id = new;
            }
            for (k, child) in o.iter_mut() {
                let media = KINDS.contains(&k.as_str());
                rewrite(child, media, f);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, false, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_longer_than_any_of_metas_and_read_back() {
        let id = numeric_id(42);
        assert_eq!(id.len(), 24);
        assert_eq!(row_of(&id), Some(42));
        assert_eq!(row_of(&i64::MAX.to_string()), None);
        assert_eq!(row_of("1234567890"), None);
        assert_eq!(row_of("9x0000000000000000000042"), None);
    }

    #[test]
    fn media_ids_are_found_wherever_a_send_carries_media() {
        let mut body = json!({"type": "template", "template": {"components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": numeric_id(7)}}]}]},
            "interactive": {"header": {"type": "video", "video": {"id": "1234"}}},
            "document": {"id": numeric_id(8)}, "text": {"id": numeric_id(9)}});
        let mut seen = Vec::new();
        collect(&body, false, &mut |id| seen.push(id.to_owned()));
        assert_eq!(seen.len(), 3, "{seen:?}");
        rewrite(&mut body, false, &mut |id| {
            row_of(id).map(|r| format!("scrm:{r}"))
        });
        assert_eq!(body["document"]["id"], "scrm:8");
        assert_eq!(body["interactive"]["header"]["video"]["id"], "1234");
        assert_eq!(body["text"]["id"], numeric_id(9));
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["image"]["id"],
            "scrm:7"
        );
    }
}
