//! `GET /v1/tenants/{id}/analytics/{metric}` (JSON, or CSV with `?format=csv`) and
//! the tenant's analytics settings. The numbers are `crate::analytics`'s.

use super::AppState;
use super::error::ApiError;
use crate::analytics::{self, Context, METRICS, Query, Settings};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use scrm_analytics::DateRange;
use scrm_store::AnalyticsRepo;
use scrm_store::analytics::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<scrm_analytics::RangeError> for ApiError {
    fn from(e: scrm_analytics::RangeError) -> ApiError {
        ApiError::bad_request(e.code(), e.to_string())
    }
}

/// The metric's query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricParams {
    from: Option<String>,
    to: Option<String>,
    /// A business number's Cloud API id.
    number: Option<String>,
    team: Option<i64>,
    agent: Option<i64>,
    limit: Option<usize>,
    format: Option<String>,
}

async fn tenant_context(state: &AppState, tenant: &str) -> Result<Context, ApiError> {
    analytics::context(&state.db, tenant)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {tenant:?}")))
}

/// `GET /v1/tenants/{id}/analytics/{metric}?from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub async fn metric(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    params: Result<QueryParams<MetricParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(p) = params?;
    if !METRICS.contains(&name.as_str()) {
        return Err(ApiError::bad_request(
            "unknown_metric",
            format!("no metric {name:?}; there are: {}", METRICS.join(", ")),
        ));
    }
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!("format {other:?} is not json or csv"),
            ));
        }
    };
    let limit = p.limit.unwrap_or(150);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1–1000",
        ));
    }
    let ctx = tenant_context(&state, &tenant).await?;
    let today = Utc::now().with_timezone(&ctx.tz).date_naive();
    let range = DateRange::parse(
        p.from.as_deref(),
        p.to.as_deref(),
        ctx.tz,
        today,
        30,
        ctx.retention_days,
    )?;
    let q = Query {
        range,
        scope: Scope {
            phone_number_id: p.number,
            team: p.team,
            person: p.agent,
        },
        limit,
    };
    let (body, rows) = compute(&state, &tenant, &ctx, &q, &name).await?;
    if csv {
        return csv_response(&name, &rows);
    }
    let mut v = json!({"metric": name, "range": q.range});
    if let (Value::Object(out), Value::Object(add)) = (&mut v, body) {
        out.extend(add);
    }
    Ok(Json(v).into_response())
}

/// A metric as JSON, and as CSV rows (a header row first).
async fn compute(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    name: &str,
) -> Result<(Value, Vec<Vec<String>>), ApiError> {
    let db = &state.db;
    Ok(match name {
        "response-times" => {
            let r = analytics::responses(db, tenant, ctx, q).await?;
            let mut rows = vec![
                vec![
                    "scope",
                    "count",
                    "median_s",
                    "mean_s",
                    "p90_s",
                    "conversations",
                    "flagged",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
            ];
            let line =
                |who: String, s: &scrm_analytics::stats::Summary, conv: String, flag: String| {
                    vec![
                        who,
                        s.count.to_string(),
                        s.median_s.to_string(),
                        s.mean_s.to_string(),
                        s.p90_s.to_string(),
                        conv,
                        flag,
                    ]
                };
            rows.push(line(
                "first_response".into(),
                &r.first_response,
                String::new(),
                String::new(),
            ));
            rows.push(line(
                "response".into(),
                &r.response,
                String::new(),
                String::new(),
            ));
            for a in &r.agents {
                rows.push(line(
                    format!("person:{}", a.person),
                    &a.response,
                    a.conversations.to_string(),
                    a.flagged.to_string(),
                ));
            }
            (json!(r), rows)
        }
        "hour-of-week" => {
            let g = analytics::hour_of_week(db, tenant, ctx, q).await?;
            let mut rows = vec![
                std::iter::once("day".to_string())
                    .chain((0..24).map(|h| h.to_string()))
                    .collect::<Vec<_>>(),
            ];
            for (d, name) in scrm_analytics::heat::DAY_NAMES.iter().enumerate() {
                rows.push(
                    std::iter::once(name.to_string())
                        .chain(g.cells[d].iter().map(ToString::to_string))
                        .collect(),
                );
            }
            let peaks = g.peaks(5);
            (
                json!({"cells": g.cells, "total": g.total, "days": scrm_analytics::heat::DAY_NAMES, "peaks": peaks}),
                rows,
            )
        }
        "hot-words" => {
            let (items, conversations) = analytics::hot_words(db, tenant, ctx, q).await?;
            let mut rows = vec![vec!["word".to_string(), "count".into(), "share".into()]];
            rows.extend(
                items
                    .iter()
                    .map(|w| vec![w.word.clone(), w.count.to_string(), w.share.to_string()]),
            );
            (
                json!({"conversations": conversations, "language": ctx.language, "items": items}),
                rows,
            )
        }
        "watched-words" => {
            let v = analytics::watched_words(db, tenant, ctx, q).await?;
            let mut rows = vec![vec![
                "promotion".to_string(),
                "word".into(),
                "conversations".into(),
                "share".into(),
                "below".into(),
            ]];
            for w in v["items"].as_array().into_iter().flatten() {
                rows.push(vec![
                    String::new(),
                    cell(&w["word"]),
                    cell(&w["conversations"]),
                    cell(&w["share"]),
                    String::new(),
                ]);
            }
            for p in v["promotions"].as_array().into_iter().flatten() {
                for w in p["words"].as_array().into_iter().flatten() {
                    rows.push(vec![
                        cell(&p["name"]),
                        cell(&w["word"]),
                        cell(&w["conversations"]),
                        cell(&w["share"]),
                        cell(&p["below"]),
                    ]);
                }
            }
            (v, rows)
        }
        _ => unreachable!("checked against METRICS"),
    })
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn csv_response(name: &str, rows: &[Vec<String>]) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(r).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /v1/tenants/{id}/analytics/settings`: the settings, defaults filled in.
pub async fn settings(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ctx = tenant_context(&state, &tenant).await?;
    Ok(Json(
        json!({"settings": ctx.settings, "time_zone": ctx.tz.name(), "language": ctx.language}),
    ))
}

/// `PUT /v1/tenants/{id}/analytics/settings`: replaces them (422
/// `invalid_analytics_settings` naming a wrong value).
pub async fn put_settings(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(raw) = body?;
    let invalid = |m: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_analytics_settings",
            m,
        )
    };
    let s: Settings = serde_json::from_value(raw).map_err(|e| invalid(e.to_string()))?;
    s.validate().map_err(invalid)?;
    super::require_tenant(&state, &tenant).await?;
    let v = serde_json::to_value(&s).map_err(|e| invalid(e.to_string()))?;
    let t = tenant.clone();
    state
        .db
        .write(move |c| AnalyticsRepo::put_settings(c, &t, &v))
        .await?;
    settings(State(state), Path(tenant)).await
}
