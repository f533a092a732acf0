//! The metrics as SVG charts (`?format=svg`), drawn by `charts-rs` (SVG only, with
//! its own embedded font for measuring text, so the server needs no system fonts).
//! Every chart prints its values on the marks — bars carry their number, heat-map
//! cells their count — so none is read by colour alone.

use charts_rs::{HeatmapChart, HorizontalBarChart, Series};
use scrm_analytics::heat::HourOfWeek;
use scrm_analytics::responses::ResponseTimes;
use scrm_analytics::words::HotWord;

/// Why a chart was not drawn.
#[derive(Debug, thiserror::Error)]
#[error("chart: {0}")]
pub struct ChartError(String);

const WIDTH: f32 = 720.0;

fn bars(
    (title, subtitle): (&str, &str),
    series: &str,
    labels: Vec<String>,
    values: Vec<f32>,
) -> Result<String, ChartError> {
    // An empty range says so on the chart rather than drawing bare axes.
    let (labels, values) = if labels.is_empty() {
        (vec!["(nothing in this range)".to_string()], vec![0.0])
    } else {
        (labels, values)
    };
    // Largest first, top to bottom: the chart draws its first category at the bottom.
    let (labels, values): (Vec<_>, Vec<_>) = labels.into_iter().zip(values).rev().unzip();
    let height = (80.0 + 28.0 * labels.len().max(1) as f32).max(160.0);
    let mut c = HorizontalBarChart::new(vec![Series::new(series.to_string(), values)], labels);
    c.title.text = title.to_string();
    c.sub_title.text = subtitle.to_string();
    c.width = WIDTH;
    c.height = height;
    c.margin.right = 40.0;
    c.series_list[0].label_show = true;
    c.legend.show = Some(false);
    c.svg().map_err(|e| ChartError(e.to_string()))
}

/// Mean response time per agent, minutes (the flagged marked `⚠`), with the
/// threshold in the title.
pub fn response_times(
    r: &ResponseTimes,
    name_of: impl Fn(i64) -> String,
) -> Result<String, ChartError> {
    let mut agents: Vec<_> = r.agents.iter().collect();
    agents.sort_by(|a, b| b.response.mean_s.total_cmp(&a.response.mean_s));
    let labels = agents
        .iter()
        .map(|a| format!("{}{}", if a.flagged { "⚠ " } else { "" }, name_of(a.person)))
        .collect();
    let values = agents
        .iter()
        .map(|a| ((a.response.mean_s / 60.0) * 10.0).round() as f32 / 10.0)
        .collect();
    let subtitle = format!(
        "⚠ over {} min · median first response {:.1} min",
        r.flag_over_s / 60.0,
        r.first_response.median_s / 60.0
    );
    bars(
        ("Mean response time per agent, minutes", &subtitle),
        "minutes",
        labels,
        values,
    )
}

/// Shares (0–1) as percentages, one bar each.
pub fn shares(title: &str, labels: Vec<String>, shares: &[f64]) -> Result<String, ChartError> {
    let values = shares
        .iter()
        .map(|s| ((s * 1000.0).round() / 10.0) as f32)
        .collect();
    bars((title, ""), "%", labels, values)
}

/// The sales funnel: conversations at each stage, overall conversion against the
/// target in the subtitle.
pub fn funnel(f: &scrm_analytics::funnel::Funnel) -> Result<String, ChartError> {
    let subtitle = format!(
        "closed / first contact: {:.1} % (target {:.0} %){}",
        f.overall * 100.0,
        f.target * 100.0,
        if f.on_target { "" } else { " ⚠ below target" }
    );
    bars(
        ("Sales funnel, conversations", &subtitle),
        "conversations",
        f.stages
            .iter()
            .map(|s| {
                format!(
                    "{} ({:.0} %)",
                    s.stage.replace('_', " "),
                    s.of_first * 100.0
                )
            })
            .collect(),
        f.stages.iter().map(|s| s.count as f32).collect(),
    )
}

/// Click-through rate per template, campaign and flow (the groups with links).
pub fn ctr(e: &scrm_analytics::engagement::Engagement) -> Result<String, ChartError> {
    let groups: Vec<_> = e
        .items
        .iter()
        .filter(|g| g.kind != "message" && g.rates.with_links > 0)
        .take(20)
        .collect();
    let subtitle = format!(
        "all: {:.1} % · open rate {:.1} % · emoji {:.1} % vs text {:.1} %",
        e.total.ctr * 100.0,
        e.total.open_rate * 100.0,
        e.emoji.emoji.ctr * 100.0,
        e.emoji.text_only.ctr * 100.0
    );
    bars(
        ("Click-through rate, %", &subtitle),
        "%",
        groups
            .iter()
            .map(|g| format!("{} {}", g.kind, g.name))
            .collect(),
        groups
            .iter()
            .map(|g| ((g.rates.ctr * 1000.0).round() / 10.0) as f32)
            .collect(),
    )
}

/// Message cost per country and category, with the acquisition cost in the subtitle.
pub fn cost(c: &crate::analytics::sales::Cost) -> Result<String, ChartError> {
    let m = &c.messages;
    let e = &c.effectiveness;
    let subtitle = format!(
        "total {:.2} {cur} · per conversation {:.2} · per new customer {:.2} (target {:.2}–{:.2}){}",
        e.total,
        e.per_conversation,
        e.acquisition_cost,
        e.target[0],
        e.target[1],
        if m.unpriced > 0 {
            format!(" · {} charges without a price", m.unpriced)
        } else {
            String::new()
        },
        cur = m.currency
    );
    bars(
        (&format!("Message cost, {}", m.currency), &subtitle),
        &m.currency,
        m.lines
            .iter()
            .map(|l| format!("{} {} ×{}", l.country, l.category, l.charges))
            .collect(),
        m.lines.iter().map(|l| l.cost as f32).collect(),
    )
}

/// The most written words.
pub fn hot_words(words: &[HotWord]) -> Result<String, ChartError> {
    let top = &words[..words.len().min(20)];
    bars(
        ("What customers write about most", "times written"),
        "times",
        top.iter().map(|w| w.word.clone()).collect(),
        top.iter().map(|w| w.count as f32).collect(),
    )
}

/// Customers' messages by weekday and hour: each cell shaded and its count written
/// in it.
pub fn hour_of_week(g: &HourOfWeek) -> Result<String, ChartError> {
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    // The chart's first row is at the bottom: Sunday first, so Monday is on top.
    let days: Vec<String> = scrm_analytics::heat::DAY_NAMES
        .iter()
        .rev()
        .map(|d| d.to_string())
        .collect();
    let mut cells = Vec::new();
    for (row, day) in (0..7).rev().enumerate() {
        for h in 0..24 {
            let n = g.cells[day][h];
            if n > 0 {
                cells.push((row * 24 + h, n as f32));
            }
        }
    }
    let mut c = HeatmapChart::new(cells, hours, days);
    c.title.text = "Customer messages by hour of the week".into();
    c.sub_title.text = format!("{} in all", g.total);
    c.width = 980.0;
    c.height = 380.0;
    c.svg().map_err(|e| ChartError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_carry_their_numbers() {
        let words = vec![
            HotWord {
                word: "spedizione".into(),
                count: 96,
                share: 0.18,
            },
            HotWord {
                word: "sconto".into(),
                count: 23,
                share: 0.05,
            },
        ];
        let svg = hot_words(&words).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("spedizione") && svg.contains("\n96\n"),
            "{svg}"
        );
        let mut g = HourOfWeek::new();
        g.cells[1][10] = 61;
        g.total = 61;
        let svg = hour_of_week(&g).unwrap();
        assert!(svg.contains("\n61\n") && svg.contains("tue"), "{svg}");
        assert!(
            hot_words(&[]).unwrap().starts_with("<svg"),
            "an empty chart, not an error"
        );
    }
}
