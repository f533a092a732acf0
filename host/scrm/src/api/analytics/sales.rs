//! The sales and engagement metrics as JSON, CSV rows and SVG charts: `funnel`,
//! `conversion`, `ctr` and `cost`.

use super::{Output, strings};
use crate::analytics::{self, Context, Query, charts};
use crate::api::AppState;
use crate::api::error::ApiError;
use serde_json::json;

pub(super) async fn funnel(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let f = analytics::sales::funnel(&state.db, tenant, ctx, q).await?;
    let mut rows = vec![strings(["stage", "count", "of_previous", "of_first"])];
    for s in &f.stages {
        rows.push(vec![
            s.stage.to_string(),
            s.count.to_string(),
            s.of_previous.to_string(),
            s.of_first.to_string(),
        ]);
    }
    Ok(Output {
        svg: svg.then(|| charts::funnel(&f)),
        json: json!(f),
        rows,
    })
}

pub(super) async fn conversion(
    state: &AppState,
    tenant: &str,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let s = analytics::sales::conversion(&state.db, tenant, q).await?;
    let mut rows = vec![strings(["measure", "key", "count", "value"])];
    let c = &s.conversion;
    rows.push(vec![
        "conversion".into(),
        String::new(),
        c.customers.to_string(),
        c.rate.to_string(),
    ]);
    for v in &s.order_value {
        rows.push(vec![
            "order_value".into(),
            v.currency.clone(),
            v.orders.to_string(),
            v.average.to_string(),
        ]);
    }
    for r in &s.close_rate {
        rows.push(vec![
            "close_rate".into(),
            r.payment_method.clone(),
            r.orders.to_string(),
            r.close_rate.to_string(),
        ]);
    }
    for (key, d) in [
        ("all", &s.cycle.all),
        ("with_video", &s.cycle.with_video),
        ("without_video", &s.cycle.without_video),
    ] {
        rows.push(vec![
            "cycle_mean_days".into(),
            key.into(),
            d.count.to_string(),
            d.mean_days.to_string(),
        ]);
    }
    let svg = svg.then(|| {
        let labels = s
            .close_rate
            .iter()
            .map(|r| {
                format!(
                    "{} ({} orders)",
                    r.payment_method.replace('_', " "),
                    r.orders
                )
            })
            .collect();
        let rates: Vec<f64> = s.close_rate.iter().map(|r| r.close_rate).collect();
        let title = format!(
            "Close rate by payment method, % (conversion {:.1} %)",
            c.rate * 100.0
        );
        charts::shares(&title, labels, &rates)
    });
    Ok(Output {
        json: json!(s),
        rows,
        svg,
    })
}

pub(super) async fn ctr(
    state: &AppState,
    tenant: &str,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let e = analytics::sales::engagement(&state.db, tenant, q).await?;
    let mut rows = vec![strings([
        "kind",
        "name",
        "sent",
        "delivered",
        "read",
        "open_rate",
        "with_links",
        "clicked",
        "ctr",
        "read_to_click_median_s",
    ])];
    let line = |kind: &str, name: &str, r: &scrm_analytics::engagement::Rates| {
        vec![
            kind.to_string(),
            name.to_string(),
            r.sent.to_string(),
            r.delivered.to_string(),
            r.read.to_string(),
            r.open_rate.to_string(),
            r.with_links.to_string(),
            r.clicked.to_string(),
            r.ctr.to_string(),
            r.read_to_click.median_s.to_string(),
        ]
    };
    rows.push(line("all", "", &e.total));
    for g in &e.items {
        rows.push(line(&g.kind, &g.name, &g.rates));
    }
    rows.push(line("emoji", "with", &e.emoji.emoji));
    rows.push(line("emoji", "without", &e.emoji.text_only));
    Ok(Output {
        svg: svg.then(|| charts::ctr(&e)),
        json: json!(e),
        rows,
    })
}

pub(super) async fn cost(
    state: &AppState,
    tenant: &str,
    ctx: &Context,
    q: &Query,
    svg: bool,
) -> Result<Output, ApiError> {
    let c = analytics::sales::cost(&state.db, tenant, ctx, q).await?;
    let mut rows = vec![strings([
        "country",
        "category",
        "charges",
        "estimated",
        "price",
        "cost",
    ])];
    for l in &c.messages.lines {
        rows.push(vec![
            l.country.clone(),
            l.category.clone(),
            l.charges.to_string(),
            l.estimated.to_string(),
            l.price.map(|p| p.to_string()).unwrap_or_default(),
            l.cost.to_string(),
        ]);
    }
    Ok(Output {
        svg: svg.then(|| charts::cost(&c)),
        json: json!(c),
        rows,
    })
}
