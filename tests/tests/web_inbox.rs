//! The web inbox in a real headless Chromium: a wrong password is refused without
//! saying which part was wrong; an agent logs in, sees a new customer message appear
//! live, replies with a canned response that reaches the local Cloud API
//! personalised, takes and resolves the conversation; another team's conversation is
//! neither listed nor readable; a reply whose window closed while it was typed shows
//! the host's error and keeps the text; an expired session goes back to the login
//! page. A reply being typed survives live updates; the list is walked with the
//! arrow keys; an agent marks themselves away; a call and a message sent from the
//! WhatsApp Business app show up live; the inbox fits a phone's screen.
//! Screenshots of each step are saved under `target/browser/`. Failed logins are
//! rate-limited per account.

use fantoccini::Locator;
use scrm_e2e::browser::Browser;
use scrm_e2e::crm::{self, PN};
use scrm_e2e::graph::Graph;
use scrm_e2e::orders::sent_containing;
use scrm_e2e::{Host, eventually};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

async fn person(host: &Host, email: &str, team: i64) -> i64 {
    host.ok(
        "POST",
        "/v1/tenants/acme/people",
        Some(
            json!({"email": email, "name": email.split('@').next(), "role": "agent",
                    "password": PASSWORD, "teams": [team]}),
        ),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

/// A host with tenant `acme` and Giulia, an agent of its team Vendite (whose id).
async fn host_with_giulia() -> (Host, i64) {
    let host = Host::start().await;
    host.tenant("acme", &[PN], "IT").await;
    let team = host.team("acme", "Vendite").await;
    person(&host, "giulia@acme.example", team).await;
    (host, team)
}

async fn login(b: &Browser, host: &Host, email: &str, password: &str) -> anyhow::Result<()> {
    b.client.goto(&format!("{}/login", host.base)).await?;
    b.type_into("#tenant", "acme").await?;
    b.type_into("#email", email).await?;
    b.type_into("#password", password).await?;
    b.click("#login-submit").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_works_the_inbox_in_a_real_browser() {
    if !scrm_e2e::browser::available("an_agent_works_the_inbox_in_a_real_browser") {
        return;
    }
    let graph = Graph::start().await;
    let host = crm::setup_sending_tenant(&graph, "acme", &[], 0).await;
    let vendite = host.team("acme", "Vendite").await;
    let assistenza = host.team("acme", "Assistenza").await;
    let giulia = person(&host, "giulia@acme.example", vendite).await;
    person(&host, "sara@acme.example", assistenza).await;
    host.ok("PUT", "/v1/tenants/acme/canned/spedizione", Some(json!({"title": "Spedizione",
        "body": "Ciao {{ contact.first_name | default(\"\") }}, la spedizione è gratuita sopra i 49 €."}))).await;
    // Anna's conversation belongs to the other team.
    crm::inbound(
        &host,
        PN,
        "393471111111",
        Some("Anna"),
        &[("wamid.a1", "Ho un problema")],
    )
    .await;
    let anna = eventually(|| async {
        let v = host
            .ok("GET", "/v1/tenants/acme/inbox/conversations", None)
            .await;
        Ok(v["items"][0]["id"].as_i64())
    })
    .await
    .unwrap();
    host.ok(
        "POST",
        &format!("/v1/tenants/acme/inbox/conversations/{anna}/assign"),
        Some(json!({"team": assistenza, "round_robin": true})),
    )
    .await;

    let mut b = Browser::start("web_inbox")
        .await
        .expect("headless chromium");

    // A wrong password: refused, without saying which part was wrong.
    login(&b, &host, "giulia@acme.example", "wrong password!")
        .await
        .unwrap();
    let error = b.text("#login-error").await.unwrap();
    assert_eq!(error, "Wrong email or password.");
    b.screenshot("wrong-password").await.unwrap();
    login(&b, &host, "nobody@acme.example", "wrong password!")
        .await
        .unwrap();
    assert_eq!(
        b.text("#login-error").await.unwrap(),
        error,
        "the same answer for an unknown email"
    );

    // Logged in: the inbox, without the other team's conversation.
    login(&b, &host, "giulia@acme.example", PASSWORD)
        .await
        .unwrap();
    b.text("#conversations").await.unwrap();
    b.screenshot("inbox-empty").await.unwrap();
    let list = b.text("#conversations").await.unwrap();
    assert!(!list.contains("Anna"), "{list}");

    // A customer writes: the conversation appears without reloading.
    crm::inbound(
        &host,
        PN,
        "393472222222",
        Some("Bruno Verdi"),
        &[("wamid.b1", "Spedite in Sicilia?")],
    )
    .await;
    b.until_text("#conversations", "Bruno Verdi").await.unwrap();
    b.screenshot("live-message").await.unwrap();

    // Open it and answer with a canned response, personalised.
    b.click("#conversations li button").await.unwrap();
    b.until_text("#messages", "Spedite in Sicilia?")
        .await
        .unwrap();

    // A reply being typed survives the customer's next message arriving live.
    b.type_into("#reply-text", "Salve Bruno, ").await.unwrap();
    crm::inbound(
        &host,
        PN,
        "393472222222",
        Some("Bruno Verdi"),
        &[("wamid.b2", "Anche a Palermo?")],
    )
    .await;
    b.until_text("#messages", "Anche a Palermo?").await.unwrap();
    assert_eq!(value_of(&b, "#reply-text").await, "Salve Bruno, ");
    b.type_into("#reply-text", "/sped").await.unwrap();
    b.click("#canned-suggestions button[data-shortcut=spedizione]")
        .await
        .unwrap();
    let typed = value_of(&b, "#reply-text").await;
    assert!(typed.contains("{{ contact.first_name"), "{typed}");
    b.click("#reply-preview-button").await.unwrap();
    b.until_text("#reply-preview", "Ciao Bruno, la spedizione")
        .await
        .unwrap();
    b.screenshot("canned-preview").await.unwrap();
    b.click("#reply-send").await.unwrap();
    sent_containing(&graph, "Ciao Bruno, la spedizione è gratuita").await;
    b.until_text("#messages", "Ciao Bruno, la spedizione")
        .await
        .unwrap();
    b.until_text("#messages", &format!("person:{giulia}"))
        .await
        .unwrap();

    // Bruno calls, then the business writes to him from the WhatsApp Business app:
    // both appear live, in the timeline.
    let now = (scrm_store::now_ms() / 1000).to_string();
    let webhook = |field: &str, key: &str, items: serde_json::Value| {
        let mut value = json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN}});
        value[key] = items;
        json!({"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}]})
        .to_string()
    };
    let call = webhook(
        "calls",
        "calls",
        json!([{"id": "wacid.b1", "from": "393472222222",
        "to": "15550000000", "event": "terminate", "direction": "USER_INITIATED", "timestamp": now,
        "status": "COMPLETED", "start_time": now, "end_time": now, "duration": 95}]),
    );
    let echo = webhook(
        "smb_message_echoes",
        "message_echoes",
        json!([{"from": "15550000000",
        "to": "393472222222", "id": "wamid.echo1", "timestamp": now, "type": "text",
        "text": {"body": "Ti richiamo dopo, Bruno"}}]),
    );
    for body in [call, echo] {
        assert_eq!(
            host.post_signed(body.as_bytes(), scrm_e2e::APP_SECRET)
                .await
                .0,
            200
        );
    }
    b.until_text("#messages", "Incoming call: ended · 1 min 35 s")
        .await
        .unwrap();
    b.until_text("#messages", "Ti richiamo dopo, Bruno")
        .await
        .unwrap();
    b.until_text("#messages", "sent by the WhatsApp Business app")
        .await
        .unwrap();
    b.screenshot("call-and-echo").await.unwrap();

    // Take it, then resolve it.
    b.click("#act-take").await.unwrap();
    b.until_text("#conv-assignee", "giulia").await.unwrap();
    b.click("#act-resolve").await.unwrap();
    b.until_text("#conv-state", "Resolved").await.unwrap();
    b.screenshot("resolved").await.unwrap();

    // Another team's conversation cannot be opened, even by asking for it.
    let got = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
         fetch(`/v1/tenants/acme/inbox/conversations/${arguments[0]}`).then(r => done(r.status));",
            vec![json!(anna)],
        )
        .await
        .unwrap();
    assert_eq!(got, json!(404));

    // A reply typed while the window closes: the host's reason is shown, the text kept.
    crm::inbound(
        &host,
        PN,
        "393473333333",
        Some("Carla"),
        &[("wamid.c1", "Buongiorno")],
    )
    .await;
    b.until_text("#conversations", "Carla").await.unwrap();
    // Filtered by team: Bruno's (Vendite's) conversation, not Carla's (nobody's).
    host.ok(
        "POST",
        &format!(
            "/v1/tenants/acme/inbox/conversations/{}/assign",
            host.conversation_of("acme", "393472222222").await
        ),
        Some(json!({"person": giulia, "team": vendite})),
    )
    .await;
    let filter = b.client.find(Locator::Css("#f-assignee")).await.unwrap();
    filter
        .select_by_value(&format!("team:{vendite}"))
        .await
        .unwrap();
    let list = eventually(|| async {
        let t = b.text("#conversations").await?;
        Ok((!t.contains("Carla")).then_some(t))
    })
    .await
    .expect("the team filter leaves out unassigned conversations");
    assert!(list.contains("Bruno Verdi"), "{list}");
    filter.select_by_value("").await.unwrap();
    b.until_text("#conversations", "Carla").await.unwrap();
    // The list is walked with the arrow keys.
    b.client
        .execute(
            "document.querySelector('#conversations li button').focus()",
            vec![],
        )
        .await
        .unwrap();
    let focused = b.client.active_element().await.unwrap();
    focused.send_keys("\u{E015}").await.unwrap(); // ArrowDown
    let focused = b
        .client
        .execute("return [document.activeElement.dataset.id, [...document.querySelectorAll('#conversations li button')].map(x => x.dataset.id)]", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused[0], focused[1][1],
        "ArrowDown moves to the next: {focused}"
    );
    let carla_button = b
        .client
        .find(Locator::XPath(
            "//ul[@id='conversations']//button[contains(., 'Carla')]",
        ))
        .await
        .unwrap();
    carla_button.click().await.unwrap();
    b.until_text("#messages", "Buongiorno").await.unwrap();
    b.type_into("#reply-text", "Le scrivo domani")
        .await
        .unwrap();
    let day_ago = scrm_store::now_ms() - 25 * 3_600_000;
    host.with_conn(move |c| {
        c.execute(
            "UPDATE conversations SET last_inbound_at = ?1 WHERE id IN
           (SELECT conversation_id FROM messages WHERE wamid = 'wamid.c1')",
            scrm_store::params![day_ago],
        )
        .map(|_| ())
    })
    .await
    .unwrap();
    b.click("#reply-send").await.unwrap();
    let shown = b
        .until_text("#reply-error", "outside_service_window")
        .await
        .unwrap();
    assert!(shown.starts_with("Not sent: "), "{shown}");
    assert_eq!(value_of(&b, "#reply-text").await, "Le scrivo domani");
    b.screenshot("window-closed-error").await.unwrap();

    // Away: round-robin passes the agent by until they are back.
    b.click("#availability").await.unwrap();
    b.until_text("#availability", "Away").await.unwrap();
    let me = host.ok("GET", "/v1/tenants/acme/people", None).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == giulia)
        .cloned()
        .unwrap();
    assert_eq!(me["available"], false, "{me}");
    b.screenshot("away").await.unwrap();
    b.click("#availability").await.unwrap();
    b.until_text("#availability", "Available").await.unwrap();

    // Italian on request.
    b.click("button[data-lang=it]").await.unwrap();
    b.until_text("#list-title", "Conversazioni").await.unwrap();

    // The session ends: the next page load goes to the login page.
    host.with_conn(|c| {
        c.execute("UPDATE sessions SET expires_at = 0", &[])
            .map(|_| ())
    })
    .await
    .unwrap();
    b.client.goto(&format!("{}/", host.base)).await.unwrap();
    let url = b.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/login"), "{url}");
    b.text("#login-error").await.unwrap();
    b.screenshot("expired").await.unwrap();
    b.close().await;
}

/// The `value` of the first element matching `css`.
async fn value_of(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_fits_a_phone() {
    if !scrm_e2e::browser::available("the_inbox_fits_a_phone") {
        return;
    }
    let (host, _) = host_with_giulia().await;
    crm::inbound(
        &host,
        PN,
        "393472222222",
        Some("Bruno Verdi"),
        &[(
            "wamid.p1",
            "Buongiorno, avete il modello da 44 mm in acciaio spazzolato?",
        )],
    )
    .await;
    let mut b = Browser::start_sized("web_inbox_phone", 390, 844)
        .await
        .expect("headless chromium");
    login(&b, &host, "giulia@acme.example", PASSWORD)
        .await
        .unwrap();
    b.until_text("#conversations", "Bruno Verdi").await.unwrap();
    b.click("#conversations li button").await.unwrap();
    b.until_text("#messages", "acciaio spazzolato")
        .await
        .unwrap();
    // Nothing is wider than the screen: no sideways scrolling, every control in reach.
    let fit = b
        .client
        .execute(
            "const w = document.documentElement.clientWidth;
             const out = [...document.querySelectorAll('button, textarea, select, input, .msg')]
               .filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.id || e.className);
             return [document.documentElement.scrollWidth, w, out];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        fit[0].as_i64() <= fit[1].as_i64() && fit[2].as_array().is_some_and(Vec::is_empty),
        "wider than the screen: {fit}"
    );
    b.type_into("#reply-text", "Sì, in acciaio").await.unwrap();
    b.screenshot("phone").await.unwrap();
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_account() {
    let (host, team) = host_with_giulia().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |password: &'static str| {
        let http = http.clone();
        let url = format!("{}/login", host.base);
        async move {
            http.post(url)
                .form(&[
                    ("tenant", "acme"),
                    ("email", "giulia@acme.example"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(post("wrong password!").await.status(), 401);
    }
    // The right password now waits out the window too.
    let limited = post(PASSWORD).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("set-cookie").is_none());
    // Another account from elsewhere is not held up (by account, not globally) —
    // and a good login sets an HttpOnly, SameSite=Strict cookie.
    person(&host, "luca@acme.example", team).await;
    let ok = http
        .post(format!("{}/login", host.base))
        .form(&[
            ("tenant", "acme"),
            ("email", "luca@acme.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // The session reaches the API; a change without the CSRF token is refused.
    let session = cookie.split(';').next().unwrap().to_string();
    let r = http
        .get(format!("{}/v1/tenants/acme/inbox/conversations", host.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{}/v1/tenants/acme/canned/x", host.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "csrf_mismatch");
    // A login link works once.
    let link = host
        .ok(
            "POST",
            &format!(
                "/v1/tenants/acme/people/{}/login-link",
                host.ok("GET", "/v1/tenants/acme/people", None).await["items"][0]["id"]
            ),
            None,
        )
        .await;
    let url = link["url"].as_str().unwrap();
    assert_eq!(http.get(url).send().await.unwrap().status(), 303);
    assert_eq!(http.get(url).send().await.unwrap().status(), 410);
}

/// Adds a team to `acme` as the operator, saying it came through a proxy for
/// 203.0.113.9; the address the audit log recorded for it.
async fn audited_address(host: &Host, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tenants/acme/teams", host.base))
        .bearer_auth(scrm_e2e::TOKEN)
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let log = host.ok("GET", "/v1/tenants/acme/audit", None).await;
    let entry = &log["items"][0];
    assert_eq!(entry["action"], "team.add", "{log}");
    entry["remote_addr"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_behind_a_trusted_proxy_is_recorded_and_nobody_elses_header_is() {
    let direct = Host::start().await;
    direct.tenant("acme", &[PN], "IT").await;
    assert_eq!(
        audited_address(&direct, "Vendite").await,
        "127.0.0.1",
        "a header from a peer that is not a trusted proxy is ignored"
    );
    let proxied = Host::start_configured_temp(|s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    proxied.tenant("acme", &[PN], "IT").await;
    assert_eq!(
        audited_address(&proxied, "Vendite").await,
        "203.0.113.9",
        "the proxy's client, not what the client wrote itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_reads_the_charts() {
    if !scrm_e2e::browser::available("a_manager_reads_the_charts") {
        return;
    }
    let (host, _) = host_with_giulia().await;
    host.ok(
        "POST",
        "/v1/tenants/acme/people",
        Some(
            json!({"email": "marta@acme.example", "name": "Marta", "role": "manager",
                    "password": PASSWORD}),
        ),
    )
    .await;
    for (i, (wa, text)) in [
        ("393471111111", "Quanto costa la spedizione in Sicilia?"),
        ("393472222222", "Spedizione gratuita? 👍"),
        ("393473333333", "C'è uno sconto per la spedizione?"),
    ]
    .into_iter()
    .enumerate()
    {
        crm::inbound(&host, PN, wa, None, &[(&format!("wamid.r{i}"), text)]).await;
    }
    // A promotion one conversation in three talks about, against 90 %: an alert.
    let today = chrono::Utc::now().date_naive();
    host.ok(
        "PUT",
        "/v1/tenants/acme/analytics/settings",
        Some(json!({"promotions": [{"name": "Natale", "words": ["sconto"], "min_share": 0.9,
            "from": (today - chrono::Days::new(1)).to_string(), "to": (today + chrono::Days::new(1)).to_string()}]})),
    )
    .await;
    host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
    // Last week's reports, stored (no SMTP server here: not emailed).
    let week = {
        use chrono::Datelike;
        let w = (today - chrono::Days::new(7)).iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    };
    let sent = host
        .ok(
            "POST",
            &format!("/v1/tenants/acme/reports/{week}/send"),
            None,
        )
        .await;
    assert_eq!(sent["email"], false, "{sent}");
    let mut b = Browser::start_sized("web_inbox_reports", 1280, 4200)
        .await
        .expect("headless chromium");
    login(&b, &host, "marta@acme.example", PASSWORD)
        .await
        .unwrap();
    b.click("#reports").await.unwrap();
    b.until_text("#r-summary", "3 turns, 3 unanswered")
        .await
        .unwrap();
    b.until_text("#r-alerts", "promotion \"Natale\"")
        .await
        .unwrap();
    // Every chart is an SVG the browser drew, with the numbers on it.
    let drawn = eventually(|| async {
        let v = b
            .client
            .execute(
                "return [...document.querySelectorAll('#r-charts img')]
                   .map(i => [i.closest('figure').dataset.metric, i.complete && i.naturalWidth > 0]);",
                vec![],
            )
            .await?;
        let all = v.as_array().cloned().unwrap_or_default();
        Ok((all.len() == 10 && all.iter().all(|x| x[1] == true)).then_some(all))
    })
    .await
    .expect("ten charts drawn");
    let metrics: Vec<&str> = drawn.iter().map(|d| d[0].as_str().unwrap()).collect();
    assert_eq!(
        metrics,
        [
            "response-times",
            "resolution",
            "hour-of-week",
            "hot-words",
            "watched-words",
            "churn-risk",
            "funnel",
            "conversion",
            "ctr",
            "cost"
        ]
    );
    // The stored weekly report, with its page and PDF.
    b.until_text("#r-weekly", &week).await.unwrap();
    let pdf = b
        .client
        .execute(
            "const a = [...document.querySelectorAll('#r-weekly a')].find(a => a.textContent === 'PDF');
             return fetch(a.href).then(r => r.headers.get('content-type'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        pdf, "application/pdf",
        "the PDF link serves the stored report"
    );
    let svg = reqwest::Client::new()
        .get(format!(
            "{}/v1/tenants/acme/analytics/hot-words?format=svg",
            host.base
        ))
        .bearer_auth(scrm_e2e::TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        svg.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = svg.text().await.unwrap();
    assert!(
        svg.contains("spedizione") && svg.contains("\n3\n"),
        "the word and its count on the chart: {svg}"
    );
    b.screenshot("charts").await.unwrap();
    // Agents have no reports button.
    b.close().await;
}
