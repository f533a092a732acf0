//! The weekly reports (see `report`) as a PDF: the same three sections and numbers
//! as the HTML page, as tables.

use super::cell;
use super::pdf::{Block, document};
use serde_json::Value;

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn minutes(v: &Value) -> String {
    let s = num(v);
    format!("{}:{:02}", (s / 60.0).floor(), (s % 60.0).round() as i64)
}

fn percent(v: &Value) -> String {
    format!("{:.1} %", num(v) * 100.0)
}

fn missed(ok: &Value, value: String) -> String {
    if ok == &Value::Bool(true) {
        value
    } else {
        format!("{value} (missed)")
    }
}

fn row<const N: usize>(cells: [String; N]) -> Vec<String> {
    cells.to_vec()
}

fn service(r: &Value, out: &mut Vec<Block>) {
    let s = &r["service"];
    let (w, p) = (&s["this_week"], &s["previous_week"]);
    out.push(Block::Heading(format!(
        "Service efficiency — {}",
        cell(&r["week"])
    )));
    out.push(Block::Table(vec![
        row([
            "measure".into(),
            "target".into(),
            cell(&w["week"]),
            cell(&p["week"]),
        ]),
        row([
            "mean response (min:s)".into(),
            format!("under {}", minutes(&s["targets"]["mean_response_s"])),
            missed(&w["response_on_target"], minutes(&w["mean_response_s"])),
            minutes(&p["mean_response_s"]),
        ]),
        row([
            "median first response".into(),
            String::new(),
            minutes(&w["median_first_response_s"]),
            minutes(&p["median_first_response_s"]),
        ]),
        row([
            "resolution rate".into(),
            format!("at least {}", percent(&s["targets"]["resolution_rate"])),
            missed(&w["resolution_on_target"], percent(&w["resolution_rate"])),
            percent(&p["resolution_rate"]),
        ]),
        row([
            "customer turns / unanswered".into(),
            String::new(),
            format!("{} / {}", w["turns"], w["unanswered"]),
            format!("{} / {}", p["turns"], p["unanswered"]),
        ]),
    ]));
    let mut agents = vec![row([
        "agent".into(),
        "answered".into(),
        "mean".into(),
        "resolved".into(),
    ])];
    for a in w["agents"].as_array().into_iter().flatten() {
        let flag = if a["flagged"] == true {
            format!(
                " (!) over {} min: training suggested",
                num(&s["targets"]["agent_flag_minutes"])
            )
        } else {
            String::new()
        };
        agents.push(row([
            format!("{}{flag}", cell(&a["name"])),
            cell(&a["answered"]),
            minutes(&a["mean_s"]),
            percent(&a["resolution_rate"]),
        ]));
    }
    out.push(Block::Table(agents));
}

fn sales(r: &Value, out: &mut Vec<Block>) {
    let s = &r["sales"];
    let (w, p) = (&s["this_week"], &s["previous_week"]);
    out.push(Block::Heading(format!(
        "Sales funnel — {}",
        cell(&r["week"])
    )));
    let mut rows = vec![row([
        "stage".into(),
        cell(&w["week"]),
        "of previous".into(),
        cell(&p["week"]),
    ])];
    let before = p["stages"].as_array();
    for (i, st) in w["stages"].as_array().into_iter().flatten().enumerate() {
        let prev = before
            .and_then(|b| b.get(i))
            .map_or(Value::Null, |b| b["count"].clone());
        rows.push(row([
            cell(&st["stage"]).replace('_', " "),
            cell(&st["count"]),
            percent(&st["of_previous"]),
            cell(&prev),
        ]));
    }
    rows.push(row([
        format!(
            "overall (closed / first contact, target over {})",
            percent(&s["targets"]["overall"])
        ),
        missed(&w["on_target"], percent(&w["overall"])),
        String::new(),
        percent(&p["overall"]),
    ]));
    rows.push(row([
        "orders".into(),
        cell(&w["orders"]),
        String::new(),
        cell(&p["orders"]),
    ]));
    for v in w["order_value"].as_array().into_iter().flatten() {
        rows.push(row([
            format!("average order value ({})", cell(&v["currency"])),
            cell(&v["average"]),
            String::new(),
            String::new(),
        ]));
    }
    let wb = &w["win_back"];
    if wb["sent"].as_u64().unwrap_or(0) > 0 {
        rows.push(row([
            format!(
                "win-back recovered (order within {} days)",
                cell(&wb["days"])
            ),
            format!("{} of {}", cell(&wb["recovered"]), cell(&wb["sent"])),
            percent(&wb["rate"]),
            String::new(),
        ]));
    }
    for c in w["close_rate"].as_array().into_iter().flatten() {
        rows.push(row([
            format!(
                "close rate, {}",
                cell(&c["payment_method"]).replace('_', " ")
            ),
            percent(&c["close_rate"]),
            format!("of {}", cell(&c["orders"])),
            String::new(),
        ]));
    }
    out.push(Block::Table(rows));
}

fn cost(r: &Value, out: &mut Vec<Block>) {
    let c = &r["cost"];
    let (w, p) = (&c["this_week"], &c["previous_week"]);
    out.push(Block::Heading(format!(
        "Cost effectiveness — {}",
        cell(&r["week"])
    )));
    if w["prices_configured"] != true {
        out.push(Block::Text(
            "No rate card set: charges are counted but not priced (analytics settings: prices)."
                .into(),
        ));
    }
    let target = &c["targets"]["acquisition_cost"];
    let line = |label: &str, key: &str| row([label.to_string(), cell(&w[key]), cell(&p[key])]);
    out.push(Block::Table(vec![
        row([
            format!("measure ({})", cell(&w["currency"])),
            cell(&w["week"]),
            cell(&p["week"]),
        ]),
        line("message cost", "message_cost"),
        line("fixed costs", "fixed_costs"),
        line("conversations", "conversations"),
        line("cost per conversation", "per_conversation"),
        line("new customers", "new_customers"),
        row([
            format!(
                "acquisition cost per customer (target {}–{})",
                cell(&target[0]),
                cell(&target[1])
            ),
            if w["on_target"] == true {
                cell(&w["acquisition_cost"])
            } else {
                format!("{} (outside the range)", cell(&w["acquisition_cost"]))
            },
            cell(&p["acquisition_cost"]),
        ]),
    ]));
}

/// The report as PDF bytes.
pub fn pdf(report: &Value) -> Vec<u8> {
    let mut blocks = vec![Block::Text(format!(
        "Weekly reports for {} to {} ({})",
        cell(&report["from"]),
        cell(&report["to"]),
        cell(&report["time_zone"])
    ))];
    service(report, &mut blocks);
    sales(report, &mut blocks);
    cost(report, &mut blocks);
    document(
        &format!("Weekly reports {}", cell(&report["week"])),
        &blocks,
    )
}
