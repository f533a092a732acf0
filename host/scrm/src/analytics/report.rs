//! The weekly reports: a past ISO week beside the week before, as JSON, CSV rows, an
//! HTML page or a PDF —
//! - **service efficiency**: response times against the 3-minute target, resolution
//!   against the 85 % benchmark, and a row per agent with the flag;
//! - **sales funnel**: first contact → engaged → qualified → order → closed, overall
//!   conversion against the tenant's target (12 % by default), orders and their value;
//! - **cost effectiveness**: message cost, cost per conversation and per new
//!   customer against the tenant's range ($0.8–1.2 by default).

use super::cell;
use super::{Context, Query, resolution, responses};
use scrm_analytics::DateRange;
use scrm_store::{Db, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

/// The mean response time the report holds a week against, s.
pub const RESPONSE_TARGET_S: f64 = 180.0;
/// The share of conversations resolved it holds a week against.
pub const RESOLUTION_TARGET: f64 = 0.85;

/// One agent's week.
#[derive(Debug, Clone, Serialize)]
pub struct AgentWeek {
    /// The person.
    pub person: i64,
    /// Their name.
    pub name: String,
    /// Turns they answered.
    pub answered: u64,
    /// Their mean response time, s.
    pub mean_s: f64,
    /// Their median response time, s.
    pub median_s: f64,
    /// Mean over the flag threshold.
    pub flagged: bool,
    /// Conversations assigned to them now with customer messages in the week.
    pub assigned: u64,
    /// Of them, the share resolved.
    pub resolution_rate: f64,
}

/// One week's service numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceWeek {
    /// `2026-W48`.
    pub week: String,
    /// Mean response time, s.
    pub mean_response_s: f64,
    /// Median first response, s.
    pub median_first_response_s: f64,
    /// Customer turns that started in the week.
    pub turns: u64,
    /// Of them, not answered.
    pub unanswered: u64,
    /// Conversations with customer messages in the week.
    pub conversations: u64,
    /// Of them, the share resolved.
    pub resolution_rate: f64,
    /// Mean response under the target.
    pub response_on_target: bool,
    /// Resolution at or over the benchmark.
    pub resolution_on_target: bool,
    /// Per agent, slowest first.
    pub agents: Vec<AgentWeek>,
}

async fn service_week(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    range: DateRange,
) -> Result<ServiceWeek, StoreError> {
    let q = Query::tenant_wide(range, 0);
    let r = responses(db, tenant, ctx, &q).await?;
    let res = resolution(db, tenant, &q).await?;
    let names = super::Names::of(db, tenant).await?;
    let name = |id: i64| names.get(id);
    let mut ids: Vec<i64> = r
        .agents
        .iter()
        .map(|a| a.person)
        .chain(res.agents.iter().map(|a| a.person))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut agents: Vec<AgentWeek> = ids
        .into_iter()
        .map(|id| {
            let times = r.agents.iter().find(|a| a.person == id);
            let resolved = res.agents.iter().find(|a| a.person == id);
            AgentWeek {
                person: id,
                name: name(id),
                answered: times.map_or(0, |a| a.response.count),
                mean_s: times.map_or(0.0, |a| a.response.mean_s),
                median_s: times.map_or(0.0, |a| a.response.median_s),
                flagged: times.is_some_and(|a| a.flagged),
                assigned: resolved.map_or(0, |a| a.conversations),
                resolution_rate: resolved.map_or(0.0, |a| a.rate),
            }
        })
        .collect();
    agents.sort_by(|a, b| b.mean_s.total_cmp(&a.mean_s));
    Ok(ServiceWeek {
        week: DateRange::week_name(range.from),
        mean_response_s: r.response.mean_s,
        median_first_response_s: r.first_response.median_s,
        turns: r.turns,
        unanswered: r.unanswered,
        conversations: res.conversations,
        resolution_rate: res.rate,
        response_on_target: r.response.count > 0 && r.response.mean_s < RESPONSE_TARGET_S,
        resolution_on_target: res.conversations > 0 && res.rate >= RESOLUTION_TARGET,
        agents,
    })
}

/// One week's sales funnel and order numbers.
async fn sales_week(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    range: DateRange,
) -> Result<Value, StoreError> {
    let q = Query::tenant_wide(range, 0);
    let f = super::sales::funnel(db, tenant, ctx, &q).await?;
    let s = super::sales::conversion(db, tenant, &q).await?;
    let w = super::win_back(db, tenant, ctx, &q).await?;
    Ok(json!({
        "week": DateRange::week_name(range.from),
        "stages": f.stages,
        "overall": f.overall,
        "on_target": f.on_target,
        "conversion_rate": s.conversion.rate,
        "orders": s.orders,
        "order_value": s.order_value,
        "close_rate": s.close_rate,
        "cycle_mean_days": s.cycle.all.mean_days,
        "win_back": w,
    }))
}

/// One week's message cost and what it bought.
async fn cost_week(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    range: DateRange,
) -> Result<Value, StoreError> {
    let q = Query::tenant_wide(range, 0);
    let c = super::sales::cost(db, tenant, ctx, &q).await?;
    let e = &c.effectiveness;
    Ok(json!({
        "week": DateRange::week_name(range.from),
        "currency": c.messages.currency,
        "message_cost": c.messages.total,
        "charges": c.messages.charges,
        "unpriced": c.messages.unpriced,
        "fixed_costs": c.fixed_costs,
        "total": e.total,
        "conversations": e.conversations,
        "per_conversation": e.per_conversation,
        "new_customers": e.new_customers,
        "acquisition_cost": e.acquisition_cost,
        "on_target": e.on_target,
        "prices_configured": c.prices_configured,
    }))
}

/// The three reports of `week` — service efficiency, sales funnel, cost
/// effectiveness — each with the week before beside it.
///
/// # Errors
/// On database failure.
pub async fn weekly(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    week: DateRange,
) -> Result<Value, StoreError> {
    let before = week.previous_week();
    let this = service_week(db, tenant, ctx, week).await?;
    let previous = service_week(db, tenant, ctx, before).await?;
    let settings = &ctx.settings;
    Ok(json!({
        "kind": "weekly",
        "week": this.week,
        "from": week.from.to_string(),
        "to": week.to.to_string(),
        "time_zone": ctx.tz.name(),
        "service": {
            "targets": {"mean_response_s": RESPONSE_TARGET_S, "resolution_rate": RESOLUTION_TARGET,
                        "agent_flag_minutes": ctx.settings.agent_flag_minutes},
            "this_week": this,
            "previous_week": previous,
        },
        "sales": {
            "targets": {"overall": settings.funnel_target},
            "this_week": sales_week(db, tenant, ctx, week).await?,
            "previous_week": sales_week(db, tenant, ctx, before).await?,
        },
        "cost": {
            "targets": {"acquisition_cost": settings.acquisition_cost_target},
            "this_week": cost_week(db, tenant, ctx, week).await?,
            "previous_week": cost_week(db, tenant, ctx, before).await?,
        },
    }))
}

/// The report as CSV rows: one per week and measure, then one per agent and week.
pub fn rows(report: &Value) -> Vec<Vec<String>> {
    let s = &report["service"];
    let mut out = vec![
        ["section", "week", "measure", "value"]
            .map(String::from)
            .to_vec(),
    ];
    for key in ["this_week", "previous_week"] {
        let w = &s[key];
        for m in [
            "mean_response_s",
            "median_first_response_s",
            "turns",
            "unanswered",
            "conversations",
            "resolution_rate",
        ] {
            out.push(vec![
                "service".into(),
                cell(&w["week"]),
                m.into(),
                cell(&w[m]),
            ]);
        }
        for a in w["agents"].as_array().into_iter().flatten() {
            for m in [
                "answered",
                "mean_s",
                "flagged",
                "assigned",
                "resolution_rate",
            ] {
                out.push(vec![
                    format!("agent:{}", cell(&a["name"])),
                    cell(&w["week"]),
                    m.into(),
                    cell(&a[m]),
                ]);
            }
        }
    }
    sales_and_cost_rows(report, &mut out);
    out
}

fn sales_and_cost_rows(report: &Value, out: &mut Vec<Vec<String>>) {
    for key in ["this_week", "previous_week"] {
        let w = &report["sales"][key];
        for st in w["stages"].as_array().into_iter().flatten() {
            out.push(vec![
                "sales".into(),
                cell(&w["week"]),
                cell(&st["stage"]),
                cell(&st["count"]),
            ]);
        }
        for m in ["overall", "conversion_rate", "orders", "cycle_mean_days"] {
            out.push(vec![
                "sales".into(),
                cell(&w["week"]),
                m.into(),
                cell(&w[m]),
            ]);
        }
        let c = &report["cost"][key];
        for m in [
            "message_cost",
            "fixed_costs",
            "total",
            "conversations",
            "per_conversation",
            "new_customers",
            "acquisition_cost",
        ] {
            out.push(vec!["cost".into(), cell(&c["week"]), m.into(), cell(&c[m])]);
        }
    }
}

const PAGE: &str = include_str!("report.html");

/// The report as a self-contained HTML page (no scripts, nothing fetched).
///
/// # Errors
/// When the page's template fails (a bug).
pub fn html(report: &Value) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_filter("minutes", |s: f64| {
        format!("{}:{:02}", (s / 60.0).floor(), (s % 60.0).round() as i64)
    });
    env.add_filter("percent", |x: f64| format!("{:.1} %", x * 100.0));
    // 6.0 → "6", 6.5 → "6.5".
    env.add_filter("num", |x: f64| format!("{x}"));
    env.add_template("report.html", PAGE)?;
    env.get_template("report.html")?.render(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        let week = |name: &str, mean: f64, rate: f64| {
            json!({"week": name, "mean_response_s": mean, "median_first_response_s": 200.0, "turns": 10,
                   "unanswered": 1, "conversations": 8, "resolution_rate": rate,
                   "response_on_target": mean < 180.0, "resolution_on_target": rate >= 0.85,
                   "agents": [{"person": 4, "name": "Giulia <g>", "answered": 6, "mean_s": 390.0, "median_s": 300.0,
                               "flagged": true, "assigned": 5, "resolution_rate": 0.8}]})
        };
        json!({"kind": "weekly", "week": "2026-W48", "from": "2026-11-23", "to": "2026-11-29", "time_zone": "Europe/Rome",
               "service": {"targets": {"mean_response_s": 180.0, "resolution_rate": 0.85, "agent_flag_minutes": 6.0},
                           "this_week": week("2026-W48", 250.0, 0.9), "previous_week": week("2026-W47", 170.0, 0.8)},
               "sales": {"targets": {"overall": 0.12}, "this_week": sales("2026-W48", 0.1), "previous_week": sales("2026-W47", 0.15)},
               "cost": {"targets": {"acquisition_cost": [0.8, 1.2]}, "this_week": cost("2026-W48", 1.4), "previous_week": cost("2026-W47", 0.9)}})
    }

    fn sales(name: &str, overall: f64) -> Value {
        let stages: Vec<Value> = scrm_analytics::funnel::STAGES
            .iter()
            .zip([40, 30, 20, 8, 4])
            .map(|(s, n)| json!({"stage": s, "count": n, "of_previous": 0.5, "of_first": 0.1}))
            .collect();
        json!({"week": name, "stages": stages, "overall": overall, "on_target": overall >= 0.12,
               "conversion_rate": 0.2, "orders": 8, "cycle_mean_days": 3.7,
               "order_value": [{"currency": "EUR", "orders": 8, "revenue": 400.0, "average": 50.0}],
               "close_rate": [{"payment_method": "cash_on_delivery", "orders": 5, "paid": 1, "close_rate": 0.2}]})
    }

    fn cost(name: &str, cac: f64) -> Value {
        json!({"week": name, "currency": "USD", "message_cost": 3.2, "charges": 56, "unpriced": 0, "fixed_costs": 2.4,
               "total": 5.6, "conversations": 40, "per_conversation": 0.14, "new_customers": 4,
               "acquisition_cost": cac, "on_target": (0.8..=1.2).contains(&cac), "prices_configured": true})
    }

    #[test]
    fn html_shows_both_weeks_targets_and_flags_escaped() {
        let page = html(&sample()).unwrap();
        assert!(
            page.contains("2026-W48") && page.contains("2026-W47"),
            "{page}"
        );
        assert!(
            page.contains("4:10") && page.contains("90.0 %"),
            "mean 250 s, 90 %: {page}"
        );
        assert!(
            page.contains("Giulia &lt;g&gt;") && !page.contains("Giulia <g>"),
            "escaped: {page}"
        );
        assert!(page.contains("over 6 min"), "the flag in words: {page}");
        assert!(
            page.contains("Sales funnel") && page.contains("10.0 % (target over 12.0 %: missed)"),
            "{page}"
        );
        assert!(
            page.contains("cash on delivery") && page.contains("20.0 % of 5"),
            "{page}"
        );
        assert!(
            page.contains("Cost effectiveness") && page.contains("1.4 (outside the range)"),
            "{page}"
        );
    }

    #[test]
    fn pdf_has_the_three_reports() {
        let pdf = super::super::report_pdf::pdf(&sample());
        assert!(pdf.starts_with(b"%PDF-"));
        // A string is written literally when it is printable ASCII, else in hex.
        let has = |needle: &[u8]| {
            let hex: String = needle.iter().map(|b| format!("{b:02X}")).collect();
            let found = |n: &[u8]| pdf.windows(n.len()).any(|w| w == n);
            found(needle) || found(hex.as_bytes())
        };
        for needle in [
            b"Service efficiency \x97 2026-W48".as_slice(),
            b"Sales funnel \x97 2026-W48",
            b"Cost effectiveness \x97 2026-W48",
            b"over 6 min: training suggested",
            b"cash on delivery",
            b"outside the range",
        ] {
            assert!(has(needle), "{}", String::from_utf8_lossy(needle));
        }
    }

    #[test]
    fn csv_rows_per_week_and_agent() {
        let r = rows(&sample());
        assert_eq!(r[0], ["section", "week", "measure", "value"]);
        assert!(r.contains(&vec![
            "service".into(),
            "2026-W47".into(),
            "resolution_rate".into(),
            "0.8".into()
        ]));
        assert!(r.contains(&vec![
            "agent:Giulia <g>".into(),
            "2026-W48".into(),
            "flagged".into(),
            "true".into()
        ]));
        assert!(r.contains(&vec![
            "sales".into(),
            "2026-W48".into(),
            "closed".into(),
            "4".into()
        ]));
        assert!(r.contains(&vec![
            "cost".into(),
            "2026-W47".into(),
            "acquisition_cost".into(),
            "0.9".into()
        ]));
    }
}
