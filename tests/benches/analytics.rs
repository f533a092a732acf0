//! Analytics at scale (BENCHMARKS.md): a generated tenant of 1,000,000 messages,
//! 50,000 contacts and 20 agents over 26 weeks, on SQLite and on PostgreSQL side by
//! side; each analytics endpoint over the last 30 days, and the weekly report, through
//! the real HTTP API.
//!
//! The data: customers' texts from the Bitext customer-service corpus
//! (`../shared/fixtures/intents`, 3,568 real requests); each conversation turn is two
//! customer messages, an agent's answer 3–8 minutes later (recorded in the outbox as
//! `inbox person:N`, round-robin over the agents) and a flow's follow-up; the sales
//! side (first contacts spread over the weeks, sends with statuses, links and clicks,
//! orders) is described at [`sales`]. Generated in
//! the database with one `INSERT … SELECT` per table (a recursive series), so the
//! benchmark times the reads, not the load.
//!
//! `cargo bench -p scrm-e2e --bench analytics`; `SCRM_BENCH_ANALYTICS_MESSAGES` sets
//! the size (default 1,000,000; contacts are a twentieth), `SCRM_BENCH_RUNS` the
//! timed calls per endpoint (default 5; the median is reported).

use scrm_e2e::backend::{self, Backend};
use scrm_e2e::{Host, TOKEN};
use std::time::{Duration, Instant};

const PN: &str = "100200300";
const WEEKS: i64 = 26;
const AGENTS: usize = 20;

/// The customers' texts: the corpus's first column.
fn corpus() -> Vec<String> {
    let path = scrm_e2e::repo_root().join("../shared/fixtures/intents/bitext-train.csv");
    let mut r = csv::Reader::from_path(&path).expect("the Bitext corpus");
    r.records()
        .filter_map(Result::ok)
        .filter_map(|rec| rec.get(0).map(str::to_string))
        .collect()
}

/// Fills `acme` with `messages` messages over the last 26 weeks.
async fn generate(host: &Host, messages: usize, agents: &[i64]) -> Duration {
    let started = Instant::now();
    let texts = corpus();
    let contacts = (messages / 20).max(1) as i64;
    let (total, first_agent) = (messages as i64, agents[0]);
    let span = WEEKS * 7 * 86_400_000;
    let base = scrm_store::now_ms() - span;
    host.with_conn(move |c| {
        c.tx(|c| {
            c.execute("CREATE TABLE bench_texts (id BIGINT PRIMARY KEY, body TEXT NOT NULL)", &[])?;
            for (i, t) in texts.iter().enumerate() {
                c.execute(
                    "INSERT INTO bench_texts (id, body) VALUES (?1, ?2)",
                    scrm_store::params![i as i64, t],
                )?;
            }
            let n_texts = texts.len() as i64;
            let series = |n: i64| {
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {})",
                    n - 1
                )
            };
            c.execute(
                &format!(
                    "{} INSERT INTO contacts (tenant_id, wa_id, name, created_at, updated_at)
                     SELECT 'acme', '3930' || (1000000 + i), 'Customer ' || i, {base}, {base} FROM s",
                    series(contacts)
                ),
                &[],
            )?;
            let first_contact: i64 = c.query_one("SELECT MIN(id) FROM contacts WHERE tenant_id = 'acme'", &[], |r| r.get(0))?;
            c.execute(
                &format!(
                    "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at)
                     SELECT 'acme', id, '{PN}', {base}, {base} FROM contacts WHERE tenant_id = 'acme' ORDER BY id"
                ),
                &[],
            )?;
            let first_conv: i64 = c.query_one("SELECT MIN(id) FROM conversations WHERE tenant_id = 'acme'", &[], |r| r.get(0))?;
            // Message i is part (i % 4) of turn i / 4, in conversation (i / 4) % contacts:
            // two customer messages, the agent's answer 3–8 min later, a flow's follow-up.
            let gap = span / total * 4;
            let at = format!(
                "{base} + (s.i / 4) * {gap} + CASE s.i % 4 WHEN 0 THEN 0 WHEN 1 THEN 30000
                   WHEN 2 THEN 180000 + ((s.i / 4) * 7919 % 300000) ELSE 240000 + ((s.i / 4) * 7919 % 300000) END"
            );
            c.execute(
                &format!(
                    "{} INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                            text, content, context, raw, status, created_at, sender, classification)
                     SELECT 'acme', {first_conv} + (s.i / 4) % {contacts}, {first_contact} + (s.i / 4) % {contacts},
                            'wamid.bench.' || s.i,
                            CASE WHEN s.i % 4 < 2 THEN 'inbound' ELSE 'outbound' END,
                            CASE WHEN s.i % 40 = 3 THEN 'video' ELSE 'text' END, {at},
                            CASE WHEN s.i % 4 < 2 THEN t.body ELSE 'Thank you, we are on it' END,
                            '{{}}', '{{}}', '{{}}', CASE WHEN s.i % 4 < 2 THEN 'received' ELSE 'read' END, {at},
                            CASE s.i % 4 WHEN 2 THEN 'inbox person:' || ({first_agent} + (s.i / 4) % {n_agents})
                                         WHEN 3 THEN 'flow:quick-replies@1' END,
                            CASE WHEN s.i % 40 = 0 THEN '{{\"intent\": {{\"name\": \"price-inquiry\", \"confidence\": 0.9}}}}' END
                     FROM s JOIN bench_texts t ON t.id = (s.i * 7919) % {n_texts}",
                    series(total),
                    n_agents = AGENTS
                ),
                &[],
            )?;
            sales(c, base, span, first_conv, first_contact)?;
            c.execute("DROP TABLE bench_texts", &[])?;
            Ok(())
        })
    })
    .await
    .expect("generate the tenant");
    started.elapsed()
}

/// The sales side of the generated tenant: each conversation's first message spread
/// over the 26 weeks (new customers keep arriving); the business's messages in the
/// outbox (a flow's follow-ups as marketing templates, a tenth of the answers with a
/// tracked link, a third of those clicked), Meta's statuses (all delivered, two in
/// three read, priced per message) and an order from every fourth customer a few
/// days after their first contact (card, cash on delivery or bank transfer; paid,
/// placed or cancelled).
fn sales(
    c: &scrm_store::Conn<'_>,
    base: i64,
    span: i64,
    first_conv: i64,
    first_contact: i64,
) -> Result<(), scrm_store::StoreError> {
    let n: i64 = c.query_one(
        "SELECT COUNT(*) FROM conversations WHERE tenant_id = 'acme'",
        &[],
        |r| r.get(0),
    )?;
    c.execute(
        &format!(
            "UPDATE conversations SET first_message_at = {base} + (id - {first_conv}) * {span} / {n}
             WHERE tenant_id = 'acme'"
        ),
        &[],
    )?;
    c.execute(
        &format!(
            "INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, source, state,
                                 not_before, created_at, updated_at, wamid, sent_at, country)
             SELECT 'acme', '{PN}', '39347' || (1000000 + m.contact_id - {first_contact}),
                    CASE WHEN m.sender LIKE 'flow:%' THEN 'template' ELSE 'text' END,
                    CASE WHEN m.sender LIKE 'flow:%' THEN 'marketing' ELSE 'service' END,
                    CASE WHEN m.id % 7 = 0 THEN '{{\"text\": {{\"body\": \"Ecco 🔥\"}}}}' ELSE '{{}}' END,
                    m.sender, 'sent', m.timestamp, m.timestamp, m.timestamp, m.wamid, m.timestamp,
                    'IT'
             FROM messages m WHERE m.tenant_id = 'acme' AND m.direction = 'outbound' ORDER BY m.id"
        ),
        &[],
    )?;
    c.execute(
        "INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at, pricing)
         SELECT 'acme', o.wamid, 'delivered', o.sent_at + 2000, '{}', o.sent_at + 2000,
                CASE WHEN o.kind = 'template'
                     THEN '{\"billable\": true, \"pricing_model\": \"PMP\", \"category\": \"marketing\"}'
                     ELSE '{\"billable\": false, \"pricing_model\": \"PMP\", \"category\": \"service\"}' END
         FROM outbox o WHERE o.tenant_id = 'acme'",
        &[],
    )?;
    c.execute(
        "INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at)
         SELECT 'acme', o.wamid, 'read', o.sent_at + 60000, '{}', o.sent_at + 60000
         FROM outbox o WHERE o.tenant_id = 'acme' AND o.id % 3 <> 0",
        &[],
    )?;
    c.execute(
        "INSERT INTO links (token, tenant_id, outbox_id, recipient, url, created_at)
         SELECT 'tok' || o.id, 'acme', o.id, o.to_wa, 'https://shop.example/p', o.sent_at
         FROM outbox o WHERE o.tenant_id = 'acme' AND o.id % 10 = 0",
        &[],
    )?;
    c.execute(
        "INSERT INTO link_clicks (token, tenant_id, clicked_at)
         SELECT l.token, 'acme', l.created_at + 120000 FROM links l
         JOIN outbox o ON o.id = l.outbox_id WHERE l.tenant_id = 'acme' AND o.id % 30 = 0",
        &[],
    )?;
    // What the status and click paths keep on each send's outbox row as they happen
    // (the same statements as migration 0031's backfill).
    let rollup = include_str!("../../host/store/src/migrations/0031_send_rollup.sql");
    for stmt in rollup
        .split(';')
        .filter(|s| s.contains("UPDATE outbox SET"))
    {
        let stmt = &stmt[stmt.find("UPDATE").expect("an update")..];
        c.execute(stmt, &[])?;
    }
    c.execute(
        "INSERT INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                             payment_method, state, paid_at, updated_at)
         SELECT 'acme', 'B-' || cv.contact_id, 'api', cv.contact_id,
                cv.first_message_at + (cv.contact_id % 7) * 86400000, 20 + cv.contact_id % 80, 'EUR',
                CASE cv.contact_id % 3 WHEN 0 THEN 'card' WHEN 1 THEN 'cash_on_delivery' ELSE 'bank_transfer' END,
                CASE cv.contact_id % 5 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'placed' ELSE 'paid' END,
                NULL, cv.first_message_at
         FROM conversations cv WHERE cv.tenant_id = 'acme' AND cv.contact_id % 4 = 0",
        &[],
    )?;
    Ok(())
}

/// The median of `runs` timed GETs of `path`, and the last answer's size.
async fn time(http: &reqwest::Client, base: &str, path: &str, runs: usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        size = r.bytes().await.expect("body").len();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], size)
}

const ENDPOINTS: &[&str] = &[
    "response-times",
    "resolution",
    "hour-of-week",
    "hot-words",
    "watched-words",
    "churn-risk",
    "funnel",
    "conversion",
    "ctr",
    "cost",
];

#[tokio::main]
async fn main() {
    let messages = scrm_e2e::bench::env_size("SCRM_BENCH_ANALYTICS_MESSAGES", 1_000_000);
    let runs = scrm_e2e::bench::env_size("SCRM_BENCH_RUNS", 5);
    let http = reqwest::Client::new();
    let mut table: Vec<(String, Vec<String>)> = ENDPOINTS
        .iter()
        .map(|e| (e.to_string(), Vec::new()))
        .collect();
    let mut loads = Vec::new();
    let mut reports: Vec<(String, Vec<String>)> = ["json", "html", "pdf"]
        .iter()
        .map(|f| (format!("reports/weekly?format={f}"), Vec::new()))
        .collect();
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(_guard) = backend::enter(b, "analytics bench") else {
            continue;
        };
        let host = Host::start().await;
        host.tenant("acme", &[PN], "GB").await;
        host.ok(
            "PATCH",
            "/v1/tenants/acme",
            Some(serde_json::json!({"time_zone": "Europe/Rome"})),
        )
        .await;
        host.ok(
            "PUT",
            "/v1/tenants/acme/analytics/settings",
            Some(serde_json::json!({"watched_words": ["refund", "cancel"],
                "prices": {"currency": "EUR", "rates": {"IT": {"marketing": 0.0572, "utility": 0.0248}}},
                "business_hours": {"mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00",
                                   "thu": "09:00-18:00", "fri": "09:00-18:00", "sat": "09:00-13:00"}})),
        )
        .await;
        let mut agents = Vec::new();
        for a in 0..AGENTS {
            agents.push(
                host.person_token("acme", &format!("agent{a}@acme.example"), "agent", None)
                    .await
                    .0,
            );
        }
        let load = generate(&host, messages, &agents).await;
        loads.push(format!("{b:?}: {:.1} s", load.as_secs_f64()));
        eprintln!("{b:?}: {messages} messages generated in {load:?}");
        // The answers are about the data (not empty), before anything is timed.
        let r = host
            .ok("GET", "/v1/tenants/acme/analytics/response-times", None)
            .await;
        assert!(r["response"]["count"].as_u64() > Some(0), "{r}");
        assert_eq!(r["agents"].as_array().map(Vec::len), Some(AGENTS), "{r}");
        let w = host
            .ok("GET", "/v1/tenants/acme/analytics/hot-words?limit=5", None)
            .await;
        eprintln!(
            "{b:?}: {} answered turns, median {} s; hot words {}",
            r["response"]["count"], r["response"]["median_s"], w["items"]
        );
        let f = host
            .ok("GET", "/v1/tenants/acme/analytics/funnel", None)
            .await;
        let e = host.ok("GET", "/v1/tenants/acme/analytics/ctr", None).await;
        let cost = host
            .ok("GET", "/v1/tenants/acme/analytics/cost", None)
            .await;
        let conv = host
            .ok("GET", "/v1/tenants/acme/analytics/conversion", None)
            .await;
        assert!(f["stages"][4]["count"].as_u64() > Some(0), "{f}");
        assert!(e["total"]["clicked"].as_u64() > Some(0), "{}", e["total"]);
        assert!(cost["messages"]["charges"].as_u64() > Some(0), "{cost}");
        assert!(conv["orders"].as_u64() > Some(0), "{conv}");
        eprintln!(
            "{b:?}: funnel {}; ctr {} of {} sends; {} charges, {} {}; {} orders",
            f["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["count"].to_string())
                .collect::<Vec<_>>()
                .join(" → "),
            e["total"]["ctr"],
            e["total"]["sent"],
            cost["messages"]["charges"],
            cost["total"],
            cost["messages"]["currency"],
            conv["orders"]
        );
        for (i, e) in ENDPOINTS.iter().enumerate() {
            let (t, size) = time(
                &http,
                &host.base,
                &format!("/v1/tenants/acme/analytics/{e}"),
                runs,
            )
            .await;
            eprintln!("{b:?} {e}: median {t:?} ({size} bytes)");
            table[i]
                .1
                .push(format!("{:.0} ms", t.as_secs_f64() * 1000.0));
        }
        for (i, format) in ["json", "html", "pdf"].iter().enumerate() {
            let path = format!("/v1/tenants/acme/reports/weekly?format={format}");
            let (t, size) = time(&http, &host.base, &path, runs).await;
            eprintln!("{b:?} weekly report ({format}): median {t:?} ({size} bytes)");
            reports[i]
                .1
                .push(format!("{:.0} ms", t.as_secs_f64() * 1000.0));
        }
    }
    println!(
        "\n{messages} messages, last 30 days, median of {runs} calls over HTTP ({})\n",
        loads.join(", ")
    );
    println!("| endpoint | SQLite | PostgreSQL | target |\n|---|---:|---:|---:|");
    for (e, cells) in table {
        println!("| `{e}` | {} | ≤ 500 ms |", cells.join(" | "));
    }
    for (e, cells) in reports {
        println!(
            "| `{e}` (the last whole week beside the one before) | {} | ≤ 2 s |",
            cells.join(" | ")
        );
    }
}
