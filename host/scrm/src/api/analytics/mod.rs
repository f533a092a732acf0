//! `GET /v1/tenants/{id}/analytics/{metric}` (JSON; CSV with `?format=csv`; an SVG
//! chart with `?format=svg`) and
//! the tenant's analytics settings. The numbers are `crate::analytics`'s.

mod sales;

use super::AppState;
use super::error::ApiError;
use crate::analytics::{self, Context, METRICS, Query, Settings, cell, charts};
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
    let format = p.format.as_deref().unwrap_or("json");
    if !["json", "csv", "svg"].contains(&format) {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!("format {format:?} is not json, csv or svg"),
        ));
    }
    let limit = p.limit.unwrap_or(150);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1–1000",
        ));
    }
    if ["ctr", "cost", "model-usage"].contains(&name.as_str())
        && (p.team.is_some() || p.agent.is_some())
    {
        return Err(ApiError::bad_request(
            "unsupported_scope",
            format!("{name} is measured per business number (number=…), not per team or agent"),
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
    let out = compute(&state, &tenant, &ctx, &q, &name, format == "svg").await?;
    match (format, out.svg) {
        ("csv", _) => return csv_response(&name, &out.rows),
        ("svg", Some(svg)) => {
            let svg = svg.map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
            return Ok((
                [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
                svg,
            )
                .into_response());
        }
        _ => {}
    }
    let body = out.json;
    let mut v = json!({"metric": name, "range": q.range});
    if let (Value::Object(out), Value::Object(add)) = (&mut v, body) {
        out.extend(add);
    }
    Ok(Json(v).into_response())
}

/// What flows' model calls used and cost, per flow and month (UTC) of the range,
/// with the tenant's monthly budget and this month's spend.
async fn model_usage(state: &AppState, tenant: &str, q: &Query) -> Result<Output, ApiError> {
    let (from, to) = q.range.bounds_ms();
    let t = tenant.to_owned();
    let (months, budget, spent) = state
        .db
        .read(move |c| {
            let months = scrm_store::AssistRepo::usage_by_month(c, &t, from, to)?;
            let budget = scrm_store::AssistRepo::model_budget(c, &t)?;
            let since = scrm_store::assist::month_start(scrm_store::now_ms());
            let spent = scrm_store::AssistRepo::spent_since(c, &t, since)?;
            Ok((months, budget, spent))
        })
        .await?;
    let mut rows = vec![strings([
        "flow",
        "month",
        "calls",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "cost_per_call",
        "mean_latency_ms",
    ])];
    let per_call = |cost: f64, calls: i64| if calls > 0 { cost / calls as f64 } else { 0.0 };
    for m in &months {
        rows.push(vec![
            m.flow.clone(),
            m.month.clone(),
            m.calls.to_string(),
            m.prompt_tokens.to_string(),
            m.completion_tokens.to_string(),
            m.cost.to_string(),
            per_call(m.cost, m.calls).to_string(),
            m.mean_latency_ms.round().to_string(),
        ]);
    }
    let items: Vec<Value> = months
        .iter()
        .map(|m| {
            let mut v = json!(m);
            v["cost_per_call"] = json!(per_call(m.cost, m.calls));
            v
        })
        .collect();
    Ok(Output {
        json: json!({"items": items, "budget": budget, "spent_this_month": spent}),
        rows,
        svg: None,
    })
}

/// A metric as JSON, as CSV rows (a header row first), and as an SVG chart.
struct Output {
    json: Value,
    rows: Vec<Vec<String>>,
    svg: Option<Result<String, charts::ChartError>>,
}

fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_string()).collect()
}

async fn compute(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    name: &str,
    svg: bool,
) -> Result<Output, ApiError> {
    match name {
        "response-times" => response_times(state, tenant, ctx, q, svg).await,
        "resolution" => resolution(state, tenant, q, svg).await,
        "hour-of-week" => {
            let g = analytics::hour_of_week(&state.db, tenant, ctx, q).await?;
            let days = scrm_analytics::heat::DAY_NAMES;
            let mut rows = vec![
                std::iter::once("day".to_string())
                    .chain((0..24).map(|h| h.to_string()))
                    .collect(),
            ];
            for (d, name) in days.iter().enumerate() {
                rows.push(
                    std::iter::once(name.to_string())
                        .chain(g.cells[d].iter().map(ToString::to_string))
                        .collect(),
                );
            }
            Ok(Output {
                json: json!({"cells": g.cells, "total": g.total, "days": days, "peaks": g.peaks(5)}),
                rows,
                svg: svg.then(|| charts::hour_of_week(&g)),
            })
        }
        "hot-words" => {
            let (items, conversations) = analytics::hot_words(&state.db, tenant, ctx, q).await?;
            let mut rows = vec![strings(["word", "count", "share"])];
            rows.extend(
                items
                    .iter()
                    .map(|w| vec![w.word.clone(), w.count.to_string(), w.share.to_string()]),
            );
            Ok(Output {
                svg: svg.then(|| charts::hot_words(&items)),
                json: json!({"conversations": conversations, "language": ctx.language, "items": items}),
                rows,
            })
        }
        "watched-words" => watched_words(state, tenant, ctx, q, svg).await,
        "churn-risk" => churn_risk(state, tenant, ctx, q, svg).await,
        "funnel" => sales::funnel(state, tenant, ctx, q, svg).await,
        "conversion" => sales::conversion(state, tenant, q, svg).await,
        "ctr" => sales::ctr(state, tenant, q, svg).await,
        "cost" => sales::cost(state, tenant, ctx, q, svg).await,
        "model-usage" => model_usage(state, tenant, q).await,
        _ => unreachable!("checked against METRICS"),
    }
}

async fn response_times(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let r = analytics::responses(&state.db, tenant, ctx, q).await?;
    let mut rows = vec![strings([
        "scope",
        "count",
        "median_s",
        "mean_s",
        "p90_s",
        "conversations",
        "flagged",
    ])];
    let line = |who: String, s: &scrm_analytics::stats::Summary, extra: [String; 2]| {
        let [conv, flag] = extra;
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
        Default::default(),
    ));
    rows.push(line("response".into(), &r.response, Default::default()));
    for a in &r.agents {
        let extra = [a.conversations.to_string(), a.flagged.to_string()];
        rows.push(line(format!("person:{}", a.person), &a.response, extra));
    }
    let svg = if svg {
        let names = analytics::Names::of(&state.db, tenant).await?;
        Some(charts::response_times(&r, |id| names.get(id)))
    } else {
        None
    };
    Ok(Output {
        json: json!(r),
        rows,
        svg,
    })
}

async fn resolution(
    state: &AppState,
    tenant: &str,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let r = analytics::resolution(&state.db, tenant, q).await?;
    let mut rows = vec![strings(["scope", "conversations", "resolved", "rate"])];
    let line = |who: String, n: u64, done: u64, rate: f64| {
        vec![who, n.to_string(), done.to_string(), rate.to_string()]
    };
    rows.push(line("all".into(), r.conversations, r.resolved, r.rate));
    for a in &r.agents {
        rows.push(line(
            format!("person:{}", a.person),
            a.conversations,
            a.resolved,
            a.rate,
        ));
    }
    let svg = if svg {
        let names = analytics::Names::of(&state.db, tenant).await?;
        let labels = r.agents.iter().map(|a| names.get(a.person)).collect();
        let rates: Vec<f64> = r.agents.iter().map(|a| a.rate).collect();
        let title = format!(
            "Conversations resolved per agent, % (all: {:.1} %)",
            r.rate * 100.0
        );
        Some(charts::shares(&title, labels, &rates))
    } else {
        None
    };
    Ok(Output {
        json: json!(r),
        rows,
        svg,
    })
}

async fn churn_risk(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let (items, high) = analytics::churn(&state.db, tenant, ctx, q).await?;
    let mut rows = vec![strings([
        "contact_id",
        "name",
        "wa_id",
        "baseline_per_week",
        "last_week",
        "sentiment",
        "score",
        "risk",
    ])];
    for i in &items {
        let r = &i.risk;
        rows.push(vec![
            i.contact_id.to_string(),
            i.name.clone().unwrap_or_default(),
            i.wa_id.clone().unwrap_or_default(),
            r.baseline_per_week.to_string(),
            r.last_week.to_string(),
            r.sentiment.map(|s| s.to_string()).unwrap_or_default(),
            r.score.to_string(),
            r.risk.to_string(),
        ]);
    }
    let svg = svg.then(|| {
        let top = &items[..items.len().min(20)];
        let labels = top
            .iter()
            .map(|i| {
                format!(
                    "{}{}",
                    if i.risk.risk == "high" { "⚠ " } else { "" },
                    i.name
                        .clone()
                        .or_else(|| i.wa_id.clone())
                        .unwrap_or_else(|| format!("#{}", i.contact_id))
                )
            })
            .collect();
        let scores: Vec<f64> = top.iter().map(|i| i.risk.score).collect();
        charts::shares(
            "Customers most at risk of leaving (score, %; ⚠ high risk)",
            labels,
            &scores,
        )
    });
    Ok(Output {
        json: json!({"as_of": q.range.to.to_string(), "high": high, "items": items,
                     "win_back": analytics::win_back(&state.db, tenant, ctx, q).await?}),
        rows,
        svg,
    })
}

async fn watched_words(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let v = analytics::watched_words(&state.db, tenant, ctx, q).await?;
    let mut rows = vec![strings([
        "promotion",
        "word",
        "conversations",
        "share",
        "below",
    ])];
    let (mut labels, mut shares) = (Vec::new(), Vec::new());
    for w in v["items"].as_array().into_iter().flatten() {
        rows.push(vec![
            String::new(),
            cell(&w["word"]),
            cell(&w["conversations"]),
            cell(&w["share"]),
            String::new(),
        ]);
        labels.push(cell(&w["word"]));
        shares.push(w["share"].as_f64().unwrap_or(0.0));
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
        let below = if p["below"] == true { "⚠ " } else { "" };
        labels.push(format!(
            "{below}{} (target {}%)",
            cell(&p["name"]),
            p["min_share"].as_f64().unwrap_or(0.0) * 100.0
        ));
        shares.push(p["share"].as_f64().unwrap_or(0.0));
    }
    Ok(Output {
        svg: svg.then(|| {
            charts::shares(
                "Share of conversations using the watched words, %",
                labels,
                &shares,
            )
        }),
        json: v,
        rows,
    })
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

/// The weekly report's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    week: Option<String>,
    format: Option<String>,
}

/// `GET /v1/tenants/{id}/reports/weekly?week=2026-W48&format=json|csv|html|pdf`: the
/// service-efficiency report of an ISO week (default: the last whole one) beside the
/// week before.
pub async fn weekly_report(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    params: Result<QueryParams<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(p) = params?;
    let format = p.format.as_deref().unwrap_or("json");
    if !["json", "csv", "html", "pdf"].contains(&format) {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!("format {format:?} is not json, csv, html or pdf"),
        ));
    }
    let ctx = tenant_context(&state, &tenant).await?;
    let week = match p.week.as_deref() {
        Some(w) => DateRange::iso_week(w, ctx.tz)?,
        None => {
            let today = Utc::now().with_timezone(&ctx.tz).date_naive();
            DateRange::iso_week(&DateRange::week_name(today), ctx.tz)?.previous_week()
        }
    };
    let report = analytics::report::weekly(&state.db, &tenant, &ctx, week).await?;
    report_response(&report, format)
}

/// A report in `format` (checked: json, csv, html or pdf).
fn report_response(report: &Value, format: &str) -> Result<Response, ApiError> {
    let report = report.clone();
    match format {
        "csv" => csv_response(
            &format!("weekly-{}", week_label(&report)),
            &analytics::report::rows(&report),
        ),
        "html" => {
            let page = analytics::report::html(&report).map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
            Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
        }
        "pdf" => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"weekly-{}.pdf\"", week_label(&report)),
                ),
            ],
            analytics::report_pdf::pdf(&report),
        )
            .into_response()),
        _ => Ok(Json(report).into_response()),
    }
}

/// The stored report's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredParams {
    format: Option<String>,
}

fn checked_format(format: Option<&str>) -> Result<&str, ApiError> {
    let format = format.unwrap_or("json");
    if ["json", "csv", "html", "pdf"].contains(&format) {
        Ok(format)
    } else {
        Err(ApiError::bad_request(
            "invalid_format",
            format!("format {format:?} is not json, csv, html or pdf"),
        ))
    }
}

/// `GET /v1/tenants/{id}/reports`: the stored weekly reports, newest first.
pub async fn stored_reports(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let items = state
        .db
        .read(move |c| scrm_store::ReportRepo::list(c, &tenant, 200))
        .await?;
    Ok(Json(
        json!({"items": items, "email": state.delivery.can_email()}),
    ))
}

/// `GET /v1/tenants/{id}/reports/{week}?format=json|csv|html|pdf`: a stored report
/// as it was generated.
pub async fn stored_report(
    State(state): State<AppState>,
    Path((tenant, week)): Path<(String, String)>,
    params: Result<QueryParams<StoredParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(p) = params?;
    let format = checked_format(p.format.as_deref())?;
    super::require_tenant(&state, &tenant).await?;
    let w = week.clone();
    let stored = state
        .db
        .read(move |c| scrm_store::ReportRepo::get(c, &tenant, &w))
        .await?;
    let (_, body) = stored.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_report",
            format!("no stored report for {week:?}: reports are stored each Monday, or sent with POST …/reports/{{week}}/send"),
        )
    })?;
    report_response(&body, format)
}

/// `POST /v1/tenants/{id}/reports/{week}/send`: generates and stores the week's
/// reports (unless stored) and emails them to the report recipients (unless done).
pub async fn send_report(
    State(state): State<AppState>,
    Path((tenant, week)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let ctx = tenant_context(&state, &tenant).await?;
    let range = DateRange::iso_week(&week, ctx.tz)?;
    let today = Utc::now().with_timezone(&ctx.tz).date_naive();
    if range.to >= today {
        return Err(ApiError::bad_request(
            "week_not_over",
            format!("{week} has not ended yet; its report is stored once it has"),
        ));
    }
    let info = state.delivery.weekly(&tenant, &ctx, range).await?;
    Ok(Json(json!({
        "report": info,
        "recipients": ctx.settings.report_recipients,
        "email": state.delivery.can_email(),
    })))
}

fn week_label(report: &Value) -> String {
    report["week"].as_str().unwrap_or("week").to_string()
}

/// The alerts list's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// Cleared ones too.
    #[serde(default)]
    all: bool,
    limit: Option<u32>,
}

/// `GET /v1/tenants/{id}/alerts[?all=true]`: open alerts (and cleared ones), newest
/// first.
pub async fn alerts(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    params: Result<QueryParams<AlertParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let QueryParams(p) = params?;
    super::require_tenant(&state, &tenant).await?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let items = state
        .db
        .read(move |c| scrm_store::AlertRepo::alerts(c, &tenant, p.all, limit))
        .await?;
    Ok(Json(json!({"items": items})))
}

/// `POST /v1/tenants/{id}/alerts/check`: checks the conditions now; the alerts raised
/// and cleared.
pub async fn check_alerts(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let limits = state.outbox.settings().limits;
    let (raised, cleared) = analytics::alerts::check(&state.db, &tenant, limits)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {tenant:?}")))?;
    // Their notices go out now rather than on the next delivery pass.
    let delivered = state.delivery.deliver_notices().await?;
    Ok(Json(
        json!({"raised": raised, "cleared": cleared, "notices_delivered": delivered}),
    ))
}
