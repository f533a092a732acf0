//! Two-way CRM sync against a local HubSpot (tests/src/hubspot.rs) through a real
//! host: a WhatsApp message becomes a contact with a WHATS_APP communication, a price
//! inquiry also a deal; a salesperson's edit comes back by pull (with the overwrite in
//! the review queue) and by a signed webhook; a badly signed webhook is refused; a
//! burst beyond HubSpot's rate limit is written completely and once, waiting out the
//! 429s; an outage, a failing HubSpot and a revoked token lose nothing; a reply a
//! salesperson logs in HubSpot (marked /wa) reaches the customer once, as text in
//! the 24-hour window and as the tenant's template outside it.

use reqwest::StatusCode;
use scrm_e2e::Host;
use scrm_e2e::crm::{self, E164};
use scrm_e2e::geocoding::{self, Geocoding};
use scrm_e2e::graph::Graph;
use scrm_e2e::hubspot::{self, ACCESS_TOKEN, CLIENT_SECRET, Delivery, HubSpot};
use serde_json::{Value, json};
use std::time::Duration;

/// Posts a webhook delivery to the host as HubSpot would.
async fn deliver(host: &Host, d: &Delivery) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = d
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    crm::post_webhook(host, "acme", &headers, d.body.clone()).await
}

/// A host with tenant `acme`: the keyword classifier, the reference mapper and the
/// HubSpot connector against `hub`, the token and client secret as tenant secrets.
async fn setup(hub: &HubSpot) -> Host {
    // HubSpot's own limit, as the host keeps it; pulls are triggered by the test.
    let host = crm::setup_tenant(
        "acme",
        &[
            ("hubspot_token", ACCESS_TOKEN),
            ("hubspot_client_secret", CLIENT_SECRET),
        ],
        0,
    )
    .await;
    // Changed orders are not pulled here (tests/tests/order_status.rs pulls them), so
    // that the back-to-back pulls stay within HubSpot's 5 searches a second.
    install(&host, hub, "pull_orders = false\n").await;
    host
}

/// [`setup`] with a host that sends through the local Cloud API `graph`.
async fn setup_sending(hub: &HubSpot, graph: &Graph) -> Host {
    let host = crm::setup_sending_tenant(
        graph,
        "acme",
        &[
            ("hubspot_token", ACCESS_TOKEN),
            ("hubspot_client_secret", CLIENT_SECRET),
        ],
        0,
    )
    .await;
    // Replies are searched for on every pull (HubSpot's default paces them at 5 s);
    // changed orders are not, as in `setup`.
    install(&host, hub, "reply_interval_ms = 0\npull_orders = false\n").await;
    host
}

/// The keyword classifier, the reference mapper and the HubSpot connector for `acme`,
/// with `extra` appended to the connector's config.
async fn install(host: &Host, hub: &HubSpot, extra: &str) {
    crm::install_classifier(host, "acme").await;
    crm::install_mapper(
        host,
        "acme",
        "required = [\"phone\"]\n[products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n",
    )
    .await;
    let config = format!(
        "base_url = \"{}\"\npull_settle_ms = 0\nwebhook_secret = \"hubspot_client_secret\"\n\
         webhook_url = \"{}\"\npull_properties = [\"country\", \"jobtitle\", \"address\", \"city\", \"zip\"]\n{extra}",
        hub.url(),
        crm::webhook_url(host, "acme")
    );
    let mut policy = crm::loopback_policy(hub.addr().port(), "hubspot_token", "Bearer ");
    policy["secrets"] = json!(["hubspot_client_secret"]);
    crm::install_connector(host, "acme", "hubspot-connector", &config, policy).await;
}

/// The bodies of the communications logged on `contact_id`.
fn bodies_of(hub: &HubSpot, contact_id: &str) -> Vec<String> {
    hub.communications_of(contact_id)
        .iter()
        .filter_map(|c| c.prop("hs_communication_body").map(str::to_owned))
        .collect()
}

/// The one HubSpot contact with the customer's number.
fn the_contact(hub: &HubSpot) -> hubspot::Object {
    let found = hub.contacts_by_phone(E164);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.into_iter().next().unwrap()
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whatsapp_and_hubspot_sync_both_ways() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;

        // 1. A price inquiry creates the contact (phone in E.164), logs the message as a
        //    WhatsApp communication on it, and opens a deal on it.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.h1", "Ciao, quanto costa l'iPhone15 Pro Max?")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert!(
            jobs.iter().any(|j| j["kind"] == "deal"),
            "a price inquiry queues a deal: {jobs:#?}"
        );
        let contact = the_contact(&hub);
        assert_eq!(contact.prop("firstname"), Some("Mario"));
        assert_eq!(contact.prop("lastname"), None);
        let comms = hub.communications_of(&contact.id);
        assert_eq!(comms.len(), 1, "{comms:#?}");
        let comm = &comms[0];
        assert_eq!(
            comm.prop("hs_communication_channel_type"),
            Some("WHATS_APP")
        );
        assert_eq!(comm.prop("hs_communication_logged_from"), Some("CRM"));
        let body = comm.prop("hs_communication_body").unwrap();
        assert!(
            body.contains("quanto costa l'iPhone15 Pro Max?") && body.contains("APL-IP15PM"),
            "{body}"
        );
        let logged_at = hubspot::parse_datetime(comm.prop("hs_timestamp").unwrap()).unwrap();
        assert!(
            (logged_at / 1000).abs_diff(crm::now_secs() as i64) < 120,
            "hs_timestamp is the message time: {logged_at}"
        );
        assert_eq!(comm.associations[0].type_id, 81);
        let deals = hub.deals_of(&contact.id);
        assert_eq!(deals.len(), 1, "{deals:#?}");
        assert_eq!(
            deals[0].prop("dealname"),
            Some("WhatsApp: Mario — iPhone15 Pro Max")
        );
        assert_eq!(deals[0].prop("pipeline"), Some("default"));
        assert_eq!(deals[0].prop("dealstage"), Some("appointmentscheduled"));
        assert!(
            deals[0]
                .prop("description")
                .is_some_and(|d| d.contains("quanto costa")),
            "{deals:#?}"
        );
        assert_eq!(deals[0].associations[0].type_id, 3);

        // The inbox links the customer to their HubSpot record, once the tenant says
        // where records open; a link without `{id}` is refused and changes nothing.
        let mut settings = host.ok("GET", "/v1/tenants/acme/crm", None).await["settings"].take();
        settings["record_url"] = json!("https://app.hubspot.com/contacts/4242/record/0-1");
        let (status, v) = host.api("PUT", "/v1/tenants/acme/crm", Some(settings.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], "invalid_crm_settings", "{v}");
        let conv_id = host.ok("GET", "/v1/tenants/acme/inbox/conversations", None).await["items"][0]["id"].clone();
        let conv = host.ok("GET", &format!("/v1/tenants/acme/inbox/conversations/{conv_id}"), None).await;
        assert_eq!(conv["crm_id"], contact.id.as_str(), "{conv}");
        assert!(conv.get("crm_url").is_none_or(Value::is_null), "no record_url yet: {conv}");
        settings["record_url"] = json!("https://app.hubspot.com/contacts/4242/record/0-1/{id}");
        host.ok("PUT", "/v1/tenants/acme/crm", Some(settings)).await;
        let conv = host.ok("GET", &format!("/v1/tenants/acme/inbox/conversations/{conv_id}"), None).await;
        assert_eq!(
            conv["crm_url"],
            format!("https://app.hubspot.com/contacts/4242/record/0-1/{}", contact.id)
        );

        // HubSpot's webhook for the host's own write is recognised as an echo.
        let own: Vec<Value> = hub
            .events_of(&contact.id)
            .into_iter()
            .filter(|e| e["changeSource"] == "INTEGRATION")
            .collect();
        assert!(!own.is_empty());
        let (status, applied) =
            deliver(&host, &hub.delivery(&crm::webhook_url(&host, "acme"), &own)).await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["echoes"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");

        // The first pull reads the contact (HubSpot touched it when the communication and
        // the deal were logged) and finds nothing to change; the next reads nothing.
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");
        assert_eq!(applied["conflicts"], 0, "{applied}");
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["records"], 0, "nothing new since: {again}");

        // 2. Sales adds the last name in HubSpot; the next pull brings it back, and the
        //    overwrite of "Mario" is in the review queue.
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.sales_edit(&contact.id, &[("lastname", "Rossi")]);
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 1, "{applied}");
        assert_eq!(applied["conflicts"], 1, "{applied}");
        let review = crm::assert_crm_rename_in_review(&host, "acme", "Mario Rossi", "Mario").await;
        crm::resolve_review(&host, "acme", &review, "accept").await;

        // 3. Sales changes the first name; HubSpot's signed webhook applies it at once
        //    (the event names only the first name: the connector reads the last name).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let events = hub.sales_edit(&contact.id, &[("firstname", "Mariano")]);
        assert_eq!(events.len(), 1, "{events:#?}");
        let delivery = hub.delivery(&crm::webhook_url(&host, "acme"), &events);

        // A badly signed, a tampered and a stale delivery are refused before anything
        // is applied.
        let bad_secret = hubspot::delivery_at(
            &crm::webhook_url(&host, "acme"),
            &events,
            crm::now_ms(),
            "not-the-client-secret",
        );
        let mut tampered = delivery.clone();
        tampered.body = String::from_utf8(tampered.body)
            .unwrap()
            .replace("Mariano", "Mallory")
            .into_bytes();
        let stale = hubspot::delivery_at(
            &crm::webhook_url(&host, "acme"),
            &events,
            crm::now_ms() - 6 * 60 * 1000,
            CLIENT_SECRET,
        );
        for (what, d) in [
            ("bad secret", &bad_secret),
            ("tampered", &tampered),
            ("stale", &stale),
        ] {
            let (status, body) = deliver(&host, d).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert_eq!(body["error"]["code"], "crm_unauthorized", "{what}: {body}");
        }
        assert_eq!(crm::contacts(&host, "acme").await[0]["name"], "Mario Rossi");

        let (status, applied) = deliver(&host, &delivery).await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 1, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mariano Rossi");
        let reviews = crm::open_reviews(&host, "acme").await;
        assert_eq!(reviews.len(), 1, "{reviews:#?}");
        assert_eq!(reviews[0]["kept"], "Mariano Rossi");
        // The connector read the contact to learn its last name.
        assert!(
            hub.requests()
                .iter()
                .any(|r| r.path == "/crm/v3/objects/contacts/batch/read" && r.status == 200)
        );

        // 4. The next message goes on the same contact, which keeps the CRM's name.
        crm::customer_writes(&host, "Mario", &[("wamid.h2", "Grazie, lo prendo!")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let contact = the_contact(&hub);
        assert_eq!(contact.prop("firstname"), Some("Mariano"));
        assert_eq!(contact.prop("lastname"), Some("Rossi"));
        assert_eq!(hub.communications_of(&contact.id).len(), 2);
        assert_eq!(
            hub.deals_of(&contact.id).len(),
            1,
            "no sales signal, no deal"
        );

        // Every request carried the private app's token, added by the host.
        assert!(
            hub.requests()
                .iter()
                .all(|r| r.token.as_deref() == Some(ACCESS_TOKEN)),
            "{:#?}",
            hub.requests()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_typed_in_hubspot_are_read_with_their_country_or_the_tenants() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        let numbers = crm::crm_numbers(true);
        let mut ids = Vec::new();
        for n in &numbers {
            let mut props = vec![("firstname", n.name), ("phone", n.raw)];
            if let Some(c) = n.country {
                props.push(("country", c));
            }
            ids.push(hub.create_contact(&props));
        }
        hub.create_contact(&[("firstname", crm::BAD_NUMBER.0), ("phone", crm::BAD_NUMBER.1)]);
        // The stand-in's clock and the host's may differ by a few ms; the
        // connector reads changes up to its own now.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], numbers.len() + 1, "{applied}");
        crm::assert_crm_numbers_normalised(&host, "acme", &numbers, &applied).await;

        // Their messages go on the HubSpot contacts the salespeople made.
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(hub.all("contacts").len(), numbers.len() + 1, "no contact added");
        for (id, text) in [(&ids[3], "hola"), (&ids[4], "oi")] {
            let bodies = bodies_of(&hub, id);
            assert!(bodies.iter().any(|b| b.contains(text)), "{id}: {bodies:#?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_emoji_satisfaction_score_reaches_hubspot_whenever_it_changes() {
        let hub = HubSpot::start().await;
        hub.define_property("contacts", "satisfaction");
        let host = setup(&hub).await;
        crm::install_mapper(
            &host,
            "acme",
            "required = [\"phone\"]\nsatisfaction_field = \"satisfaction\"\n",
        )
        .await;
        let score = |hub: &HubSpot| -> Option<f64> {
            the_contact(hub).prop("satisfaction").and_then(|v| v.parse().ok())
        };
        crm::customer_writes(&host, "Mario", &[("wamid.e1", "Grazie! 😍")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(score(&hub), Some(1.0));
        // Name and number stay the same; only the score moves, and it is written.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.e2", "😡😡"), ("wamid.e3", "ancora niente 😡")],
        )
        .await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(score(&hub), Some(0.05));
        // A message without emojis changes nothing: the contact is not written again.
        let updates = |hub: &HubSpot| {
            hub.requests()
                .iter()
                .filter(|r| r.method == "PATCH" && r.path.starts_with("/crm/v3/objects/contacts/"))
                .count()
        };
        let before = updates(&hub);
        assert!(before > 0, "the score was written with an update");
        crm::customer_writes(&host, "Mario", &[("wamid.e4", "ok")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(updates(&hub), before, "{:#?}", hub.requests());
        assert_eq!(bodies_of(&hub, &the_contact(&hub).id).len(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_crm_holds_up_only_its_own_tenant() {
        let (slow, fast) = (HubSpot::start().await, HubSpot::start().await);
        let host = setup(&slow).await;
        // A second tenant, on its own number and its own HubSpot.
        const BETA_PN: &str = "987654321";
        host.tenant("beta", &[BETA_PN], "IT").await;
        for (name, value) in [
            ("hubspot_token", ACCESS_TOKEN),
            ("hubspot_client_secret", CLIENT_SECRET),
        ] {
            host.ok(
                "PUT",
                &format!("/v1/tenants/beta/secrets/{name}"),
                Some(json!({"value": value})),
            )
            .await;
        }
        host.ok(
            "PUT",
            "/v1/tenants/beta/crm",
            Some(json!({"mode": "realtime", "batch_minutes": 15, "pull_seconds": 0,
                        "rate_requests": 100, "rate_seconds": 10, "retention_days": 180})),
        )
        .await;
        crm::install_classifier(&host, "beta").await;
        crm::install_mapper(&host, "beta", "required = [\"phone\"]\n").await;
        crm::install_connector(
            &host,
            "beta",
            "hubspot-connector",
            &format!("base_url = \"{}\"\npull_settle_ms = 0\n", fast.url()),
            crm::loopback_policy(fast.addr().port(), "hubspot_token", "Bearer "),
        )
        .await;

        // acme's HubSpot stops answering for a while, with two writes waiting on it.
        slow.stall(Some(Duration::from_secs(6)));
        crm::inbound(&host, crm::PN, "393470000011", Some("Anna"), &[("wamid.s1", "uno")]).await;
        crm::inbound(&host, crm::PN, "393470000012", Some("Aldo"), &[("wamid.s2", "due")]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // beta's customer writes meanwhile: its CRM gets the message at once.
        let asked = std::time::Instant::now();
        crm::inbound(&host, BETA_PN, "393470000021", Some("Bea"), &[("wamid.b1", "salve")]).await;
        let logged = loop {
            let bodies: Vec<String> = fast
                .all("communications")
                .iter()
                .filter_map(|c| c.prop("hs_communication_body").map(str::to_owned))
                .collect();
            if bodies.iter().any(|b| b.contains("salve")) {
                break asked.elapsed();
            }
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "beta waited on acme's hanging CRM: {:#?}",
                crm::jobs(&host, "beta", "queued").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            slow.all("communications").is_empty(),
            "acme's CRM was still hanging when beta's write landed ({logged:?})"
        );
        // acme's CRM answers again: its writes land, each once.
        slow.stall(None);
        let jobs = crm::synced(&host, "acme", Duration::from_secs(90)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let bodies: Vec<String> = slow
            .all("communications")
            .iter()
            .filter_map(|c| c.prop("hs_communication_body").map(str::to_owned))
            .collect();
        for text in ["uno", "due"] {
            assert_eq!(bodies.iter().filter(|b| b.contains(text)).count(), 1, "{bodies:#?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_the_rate_limit_is_written_once_waiting_out_the_429s() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        crm::customer_writes(&host, "Anna", &[("wamid.b0", "hello")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let contact = the_contact(&hub);

        // 120 messages: with the contact's own requests well over HubSpot's 100 per 10 s.
        let texts: Vec<(String, String)> = (1..=120)
            .map(|i| (format!("wamid.b{i}"), format!("burst message #{i}")))
            .collect();
        let refs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        crm::customer_writes(&host, "Anna", &refs).await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(120)).await;

        // Everything arrived, once.
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let bodies = bodies_of(&hub, &contact.id);
        assert_eq!(bodies.len(), 121, "one communication per message");
        for (_, text) in &texts {
            assert_eq!(
                bodies.iter().filter(|b| b.ends_with(text.as_str())).count(),
                1,
                "{text}"
            );
        }
        // HubSpot's limit was reached, and answered 429.
        let window = hubspot::DEFAULT_RATE_WINDOW;
        assert_eq!(
            hub.max_accepted_in_window(window),
            hubspot::DEFAULT_RATE_LIMIT as usize,
            "the burst filled the window, and no more"
        );
        let log = hub.requests();
        let rejected: Vec<usize> = (0..log.len()).filter(|i| log[*i].status == 429).collect();
        assert!(!rejected.is_empty(), "HubSpot's limit was never reached");
        // Each 429 was honoured: nothing reached HubSpot until its window had rolled
        // past, so the tenant's other writes did not each collect a 429 of their own.
        assert!(rejected.len() <= 2, "{} 429s", rejected.len());
        for i in rejected {
            if let Some(next) = log.get(i + 1) {
                let gap = next.at.duration_since(log[i].at);
                assert!(
                    gap >= window - Duration::from_millis(50),
                    "a request {gap:?} after a 429"
                );
            }
        }
        // Waiting for the CRM is not a failed attempt.
        assert!(
            jobs.iter().all(|j| j["attempts"] == 0),
            "{:#?}",
            jobs.iter()
                .filter(|j| j["attempts"] != 0)
                .collect::<Vec<_>>()
        );
        let metrics = host.metrics().await;
        assert!(
            metrics.contains("scrm_crm_jobs_total{tenant=\"acme\",kind=\"message\",result=\"retry\"}"),
            "some writes waited for HubSpot: {metrics}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_unreachable_hubspot_loses_nothing_and_a_revoked_token_dead_letters() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        crm::customer_writes(&host, "Anna", &[("wamid.d0", "before the outage")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let contact = the_contact(&hub);

        // HubSpot answers 503, then is unreachable; messages keep arriving.
        hub.fail_with(Some(503));
        crm::customer_writes(
            &host,
            "Anna",
            &[
                ("wamid.d1", "during the outage #1"),
                ("wamid.d2", "during the outage #2"),
            ],
        )
        .await;
        crm::jobs_until(
            &host,
            "acme",
            "queued",
            "writes did not fail with 503",
            |q| {
                q.len() == 2
                    && q.iter().all(|j| {
                        j["last_error"]
                            .as_str()
                            .is_some_and(|e| e.starts_with("crm_unavailable") && e.contains("503"))
                    })
            },
        )
        .await;
        hub.fail_with(None);
        hub.go_down().await;
        crm::customer_writes(&host, "Anna", &[("wamid.d3", "during the outage #3")]).await;
        crm::jobs_until(
            &host,
            "acme",
            "queued",
            "writes did not fail while HubSpot was down",
            |q| {
                q.iter().any(|j| {
                    j["message_id"].is_number()
                        && j["last_error"]
                            .as_str()
                            .is_some_and(|e| e.starts_with("crm_unavailable") && !e.contains("503"))
                })
            },
        )
        .await;
        assert!(
            crm::jobs(&host, "acme", "dead").await.is_empty(),
            "nothing is dead-lettered while HubSpot is down"
        );

        // It comes back: every message reaches it, once.
        hub.come_back().await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(90)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let bodies = bodies_of(&hub, &contact.id);
        assert_eq!(bodies.len(), 4, "{bodies:#?}");
        for i in 1..=3 {
            let text = format!("during the outage #{i}");
            assert_eq!(
                bodies.iter().filter(|b| b.contains(&text)).count(),
                1,
                "{text}"
            );
        }

        // The token is revoked: HubSpot's 401 cannot get better by waiting, so the write
        // goes to the dead-letter list at once; re-queued after the fix, it goes through.
        hub.revoke_token(ACCESS_TOKEN);
        crm::customer_writes(
            &host,
            "Anna",
            &[("wamid.d4", "after the token was revoked")],
        )
        .await;
        let dead = crm::jobs_until(
            &host,
            "acme",
            "dead",
            "the 401 was not dead-lettered",
            |d| !d.is_empty(),
        )
        .await;
        assert_eq!(dead.len(), 1, "{dead:#?}");
        assert!(
            dead[0]["last_error"].as_str().is_some_and(
                |e| e.starts_with("crm_unauthorized") && e.contains("INVALID_AUTHENTICATION")
            ),
            "{dead:#?}"
        );
        hub.accept_token(ACCESS_TOKEN);
        crm::requeue(&host, "acme", &dead[0]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(hub.communications_of(&contact.id).len(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_open_deal_per_product_and_a_lost_answer_never_duplicates() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        let wait = Duration::from_secs(60);
        let key_of = |d: &hubspot::Object| d.prop("scrm_key").map(str::to_owned);

        // A price question opens a deal for the product, keyed by its code.
        crm::customer_writes(&host, "Mario", &[("wamid.k1", "Quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", wait).await;
        let contact = the_contact(&hub);
        let deals = hub.deals_of(&contact.id);
        assert_eq!(deals.len(), 1, "{deals:#?}");
        let first = deals[0].clone();
        let key = key_of(&first).expect("the deal carries the host's key");
        assert!(key.ends_with(":deal:APL-IP15PM"), "{key}");
        assert!(
            first
                .prop("description")
                .is_some_and(|d| d.starts_with("Product: iPhone15 Pro Max (APL-IP15PM)")),
            "{first:#?}"
        );

        // Purchase intent for the same product updates that deal; another product
        // opens its own.
        crm::customer_writes(
            &host,
            "Mario",
            &[
                ("wamid.k2", "Voglio acquistare l'iPhone 15 pro max"),
                ("wamid.k3", "Voglio acquistare il prodotto A"),
            ],
        )
        .await;
        crm::synced(&host, "acme", wait).await;
        let deals = hub.deals_of(&contact.id);
        assert_eq!(deals.len(), 2, "{deals:#?}");
        let updated = deals.iter().find(|d| d.id == first.id).expect("same deal");
        assert!(
            updated
                .prop("description")
                .is_some_and(|d| d.contains("Voglio acquistare l'iPhone 15 pro max")),
            "{updated:#?}"
        );
        assert!(
            deals
                .iter()
                .any(|d| key_of(d).is_some_and(|k| k.ends_with(":deal:PRODOTTOA"))),
            "{deals:#?}"
        );

        // Won: the next question about the product opens a new deal.
        hub.sales_set_stage(&first.id, "closedwon");
        crm::customer_writes(&host, "Mario", &[("wamid.k4", "quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", wait).await;
        let deals = hub.deals_of(&contact.id);
        assert_eq!(deals.len(), 3, "{deals:#?}");
        let same_key: Vec<_> = deals.iter().filter(|d| key_of(d) == Some(key.clone())).collect();
        assert_eq!(same_key.len(), 2, "{deals:#?}");
        assert_eq!(
            same_key.iter().filter(|d| d.prop("hs_is_closed") == Some("false")).count(),
            1
        );

        // HubSpot stores the next two creations (a communication, a deal) but the
        // answers are lost: the retries find them by key instead of writing again.
        hub.lose_answers(2);
        crm::customer_writes(&host, "Mario", &[("wamid.k5", "Voglio acquistare il prodotto B")])
            .await;
        crm::synced(&host, "acme", wait).await;
        let lost = hub.requests().iter().filter(|r| r.status == 504).count();
        assert_eq!(lost, 2, "both answers were lost");
        assert_eq!(hub.communications_of(&contact.id).len(), 5);
        let deals = hub.deals_of(&contact.id);
        assert_eq!(deals.len(), 4, "{deals:#?}");
        let product_b = deals
            .iter()
            .filter(|d| key_of(d).is_some_and(|k| k.ends_with(":deal:PRODOTTOB")))
            .count();
        assert_eq!(product_b, 1, "{deals:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garbage_html_pages_and_retry_after_lose_and_repeat_nothing() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        crm::customer_writes(&host, "Anna", &[("wamid.g0", "first")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let contact = the_contact(&hub);
        let count = |hub: &HubSpot, text: &str| {
            bodies_of(hub, &contact.id).iter().filter(|b| b.ends_with(text)).count()
        };

        // The write is carried out but its answer is cut off: the retry finds it by its
        // key, so it is there once.
        hub.answer_badly(&[hubspot::Bad::Garbage]);
        crm::customer_writes(&host, "Anna", &[("wamid.g1", "answered with garbage")]).await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(count(&hub, "answered with garbage"), 1);
        assert!(
            jobs.iter().any(|j| j["attempts"] == 1),
            "the garbage answer was a failed attempt: {jobs:#?}"
        );

        // A proxy's HTML error pages: retried until HubSpot answers, then written once.
        hub.answer_badly(&[hubspot::Bad::HtmlBadGateway, hubspot::Bad::HtmlBadGateway]);
        crm::customer_writes(&host, "Anna", &[("wamid.g2", "behind a failing proxy")]).await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(count(&hub, "behind a failing proxy"), 1);
        assert!(crm::jobs(&host, "acme", "dead").await.is_empty());

        // 429 with Retry-After (and an HTML body): nothing goes to HubSpot before the
        // time it names, and waiting is not a failed attempt.
        hub.answer_badly(&[hubspot::Bad::RetryAfter(2)]);
        crm::customer_writes(&host, "Anna", &[("wamid.g3", "after a Retry-After")]).await;
        let jobs = crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(count(&hub, "after a Retry-After"), 1);
        let log = hub.requests();
        let i = log.iter().position(|r| r.status == 429).expect("a 429");
        let next = log.get(i + 1).expect("a request after the 429");
        assert!(
            next.at.duration_since(log[i].at) >= Duration::from_millis(1950),
            "{:?} after the 429",
            next.at.duration_since(log[i].at)
        );
        let last = jobs.iter().max_by_key(|j| j["id"].as_i64()).unwrap();
        assert_eq!(last["attempts"], 0, "{last:#?}");
        assert_eq!(bodies_of(&hub, &contact.id).len(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_written_in_hubspot_reaches_the_customer_once() {
        let graph = Graph::start().await;
        let hub = HubSpot::start().await;
        let host = setup_sending(&hub, &graph).await;
        crm::customer_writes(&host, "Mario", &[("wamid.r1", "Quando arriva il mio ordine?")])
            .await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let contact = the_contact(&hub);

        // A salesperson logs a call note and a WhatsApp reply marked /wa.
        hub.log_whatsapp(&contact.id, "<p>Chiamato il cliente, nessuna risposta</p>");
        hub.log_whatsapp(&contact.id, "<p>/wa Il suo ordine &egrave; partito: arriva domani.</p>");
        // The stand-in's stamps can run a millisecond ahead of the clock.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["replies"], 1, "{applied}");
        assert_eq!(applied["replies_refused"], 0, "{applied}");
        let sent = wait_sent(&graph, 1).await;
        assert_eq!(sent[0].body["type"], "text", "{:#?}", sent[0].body);
        assert_eq!(sent[0].body["to"], crm::CUSTOMER);
        assert_eq!(sent[0].body["text"]["body"], "Il suo ordine è partito: arriva domani.");
        // It is part of the conversation, as the business's message.
        let out = wait_outbound(&host, 1).await;
        assert_eq!(out[0]["text"], "Il suo ordine è partito: arriva domani.");
        // Read again (the next pull, a restart of the cursor): sent once, and not
        // written back to HubSpot as a second communication.
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["replies"], 0, "{again}");
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(graph.sent_messages().len(), 1);
        assert_eq!(hub.communications_of(&contact.id).len(), 3, "customer's + 2 logged");

        // A customer whose window closed a day ago gets the reply as the tenant's
        // template, the text as its parameter.
        let mut settings = host.ok("GET", "/v1/tenants/acme/crm", None).await["settings"].take();
        settings["reply_template"] = json!("order_update");
        settings["reply_template_language"] = json!("it");
        host.ok("PUT", "/v1/tenants/acme/crm", Some(settings)).await;
        let day_ago = crm::now_ms() as u64 / 1000 - 25 * 3600;
        crm::inbound_at(&host, crm::PN, "393331112222", Some("Lucia"), &[("wamid.r2", "Salve")], day_ago)
            .await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let lucia = hub.contacts_by_phone("+393331112222").pop().expect("Lucia in HubSpot");
        hub.log_whatsapp(&lucia.id, "<p>/wa Buongiorno Lucia, il suo reso è stato accettato.</p>");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["replies"], 1, "{applied}");
        let sent = wait_sent(&graph, 2).await;
        let body = &sent[1].body;
        assert_eq!(body["type"], "template", "{body:#}");
        assert_eq!(body["template"]["name"], "order_update");
        assert_eq!(body["template"]["language"]["code"], "it");
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["text"],
            "Buongiorno Lucia, il suo reso è stato accettato."
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sync_audit_finds_records_out_of_step_and_the_health_report_says_so() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        for (i, name) in ["Anna", "Bruno", "Carla"].iter().enumerate() {
            let wa = format!("39347100000{i}");
            let wamid = format!("wamid.a{i}");
            crm::inbound(&host, crm::PN, &wa, Some(name), &[(wamid.as_str(), "Ciao")]).await;
        }
        // Carla asks a price: a deal, audited with what the host wrote to it.
        crm::inbound(&host, crm::PN, "393471000002", Some("Carla"), &[("wamid.a9", "Quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;

        // Everything in step: 100 %.
        let (status, a) = host.api("POST", "/v1/tenants/acme/crm/audit", Some(json!({"sample": 100}))).await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert_eq!(a["sampled"], 4, "3 contacts and a deal: {a}");
        assert_eq!(a["accuracy"], 1.0, "{a}");
        assert!(a["fields"]["name"]["matched"].as_u64() >= Some(2), "{a}");
        assert_eq!(a["fields"]["deal_name"]["matched"], 1, "{a}");
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        assert_eq!(health["status"], "ok", "{health}");

        // A record changed behind the sync's back is found; a sales edit that a pull
        // has not brought yet is not counted against the sync.
        let anna = hub.contacts_by_phone("+393471000000").pop().unwrap();
        hub.corrupt(&anna.id, "firstname", "Anita");
        let bruno = hub.contacts_by_phone("+393471000001").pop().unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        hub.sales_edit(&bruno.id, &[("firstname", "Brunone")]);
        let carla = hub.contacts_by_phone("+393471000002").pop().unwrap();
        let deal = hub.deals_of(&carla.id).pop().expect("Carla's deal");
        hub.corrupt_object("deals", &deal.id, "dealname", "Old import");
        let a = host.ok("POST", "/v1/tenants/acme/crm/audit", None).await;
        let name = &a["fields"]["name"];
        assert_eq!(name["compared"].as_u64().unwrap() - name["matched"].as_u64().unwrap(), 1, "{a}");
        assert_eq!(a["fields"]["deal_name"]["matched"], 0, "{a}");
        assert_eq!(a["fields"]["deal_name"]["compared"], 1, "{a}");
        assert_eq!(a["below_target"], true, "{a}");
        let differs: Vec<(&str, &str)> = a["mismatches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["field"].as_str().unwrap(), m["crm"].as_str().unwrap_or("")))
            .collect();
        assert!(differs.contains(&("name", "Anita")), "{a}");
        assert!(differs.contains(&("deal_name", "Old import")), "{a}");
        assert!(
            !a["mismatches"].to_string().contains(&bruno.id),
            "a sales edit not pulled yet is not counted: {a}"
        );
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        assert!(
            health["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "crm_sync_accuracy"),
            "{health}"
        );
        // …and it is raised as an alert, once.
        let alerts = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert!(
            alerts["raised"].as_array().unwrap().iter().any(|a| a["kind"] == "crm_sync_accuracy"),
            "{alerts}"
        );
        let again = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(again["raised"], json!([]), "{again}");
        assert_eq!(host.ok("GET", "/v1/tenants/acme/crm/audit", None).await["accuracy"], a["accuracy"]);
        // Bad input is refused with a reason.
        let (status, body) = host.api("POST", "/v1/tenants/acme/crm/audit", Some(json!({"sample": 0}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_sample");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_mapping_log_counts_defaults_and_skips_and_the_crms_value_beats_a_default() {
        let hub = HubSpot::start().await;
        let host = setup(&hub).await;
        crm::install_mapper(
            &host,
            "acme",
            "required = [\"phone\"]\npull_fields = [\"jobtitle\"]\n[defaults]\njobtitle = \"WhatsApp customer\"\n",
        )
        .await;
        crm::customer_writes(&host, "Anna", &[("wamid.m1", "Buongiorno")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let anna = the_contact(&hub);
        assert_eq!(anna.prop("jobtitle"), Some("WhatsApp customer"));
        let v = mapping_log(&host).await;
        let week = &v["weeks"][0];
        assert_eq!(week["fields"]["jobtitle"]["defaulted"], 1, "{v}");
        assert_eq!(week["failed"], 0, "{v}");
        assert_eq!(week["error_rate"], 0.0, "{v}");
        assert_eq!(v["target_error_rate"], 0.02);

        // Sales fills the field in HubSpot; the pull brings it, and the next write of
        // the contact keeps it instead of putting the default back.
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.sales_edit(&anna.id, &[("jobtitle", "Buyer")]);
        crm::pull(&host, "acme").await;
        crm::customer_writes(&host, "Anna Rossi", &[("wamid.m2", "Ancora io")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let written = the_contact(&hub);
        assert_eq!(written.prop("lastname"), Some("Rossi"), "the contact was written again");
        assert_eq!(written.prop("jobtitle"), Some("Buyer"));
        assert_eq!(mapping_log(&host).await["weeks"][0]["fields"]["jobtitle"]["defaulted"], 1);

        // A required field nobody can fill: the write is dead-lettered, the field is
        // counted as skipped, and the week's error rate goes above the 2 % target.
        crm::install_mapper(&host, "acme", "required = [\"phone\", \"email\"]\n").await;
        crm::inbound(&host, crm::PN, "393479990000", Some("Bice"), &[("wamid.m3", "Ciao")]).await;
        crm::jobs_until(&host, "acme", "dead", "unmapped write", |d| !d.is_empty()).await;
        let v = mapping_log(&host).await;
        let week = &v["weeks"][0];
        assert_eq!(week["fields"]["email"]["skipped"], 1, "{v}");
        assert!(week["failed"].as_i64() >= Some(1), "{v}");
        assert_eq!(week["above_target"], true, "{v}");
        let (status, body) = host.api("GET", "/v1/tenants/acme/crm/mapping-log?weeks=0", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_weeks");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_postcode_is_completed_by_the_geocoder_and_never_guessed() {
        let hub = HubSpot::start().await;
        let geo = Geocoding::start().await;
        let host = setup(&hub).await;
        crm::install_mapper(
            &host,
            "acme",
            "required = [\"phone\"]\npull_fields = [\"address\", \"city\", \"zip\", \"country\"]\n",
        )
        .await;
        host.ok("PUT", "/v1/tenants/acme/secrets/google_key", Some(json!({"value": geocoding::API_KEY})))
            .await;
        let geocoder = host.upload(&scrm_e2e::guest("google-geocoder")).await;
        host.ok(
            "PUT",
            "/v1/tenants/acme/plugins/geocoder",
            Some(json!({
                "sha256": geocoder["sha256"],
                "config": format!("base_url = \"{}\"\ndefault_country = \"IT\"\n", geo.url()),
                "http": {"allow": ["127.0.0.1"],
                         "allow_private": [format!("127.0.0.1:{}", geo.addr().port())],
                         "credentials": [{"host": "127.0.0.1", "query": "key", "secret": "google_key"}]}
            })),
        )
        .await;
        let one = |postcode: &str, partial: bool| geocoding::Place {
            postcode: Some(postcode.into()),
            city: "Milano".into(),
            country: "IT".into(),
            partial,
        };
        geo.add("Via Dante 7, Milano, IT", vec![one("20121", false)]);
        geo.add("Via Roma 1, Milano, IT", vec![one("20121", false), one("20123", false)]);
        geo.add("Corso Como, Milano, IT", vec![one("20154", true)]);
        // Sales typed three customers' addresses in HubSpot, without postcodes.
        let customers = [
            ("393471234567", "Via Dante 7"),
            ("393471234568", "Via Roma 1"),
            ("393471234569", "Corso Como"),
        ];
        for (wa, street) in customers {
            hub.create_contact(&[
                ("firstname", "Cliente"),
                ("phone", &format!("+{wa}")),
                ("address", street),
                ("city", "Milano"),
                ("country", "IT"),
            ]);
        }
        // HubSpot stamps creations in one millisecond apart, a little ahead of the
        // clock: let the clock pass them before pulling (pull_settle_ms is 0 here).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["created"], 3, "{applied}");
        for (i, (wa, _)) in customers.iter().enumerate() {
            let wamid = format!("wamid.g{i}");
            crm::inbound(&host, crm::PN, wa, Some("Cliente"), &[(wamid.as_str(), "Ciao")]).await;
        }
        let jobs = crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let zip = |wa: &str| {
            hub.contacts_by_phone(&format!("+{wa}"))
                .pop()
                .and_then(|c| c.prop("zip").map(str::to_owned))
        };
        // One place: its postcode. Two places, or a partial match: none, not a guess.
        assert_eq!(zip(customers[0].0).as_deref(), Some("20121"));
        assert_eq!(zip(customers[1].0), None);
        assert_eq!(zip(customers[2].0), None);
        // The key went in the URL, added by the host; the plugin never held it.
        let asked = geo.requests();
        assert!(!asked.is_empty());
        assert!(asked.iter().all(|q| q.get("key").map(String::as_str) == Some(geocoding::API_KEY)));
        assert!(asked.iter().all(|q| q.get("components").map(String::as_str) == Some("country:IT")));
        // A place Google could not name is not asked again at the next write.
        let before = geo.requests().len();
        crm::inbound(&host, crm::PN, customers[1].0, Some("Cliente Due"), &[("wamid.g9", "Ancora")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(geo.requests().len(), before, "the miss is remembered");
    }
}

/// This week's mapping log of `acme`.
async fn mapping_log(host: &Host) -> Value {
    host.ok("GET", "/v1/tenants/acme/crm/mapping-log?weeks=1", None)
        .await
}

/// Waits until the local Cloud API received `n` messages; them.
async fn wait_sent(graph: &Graph, n: usize) -> Vec<scrm_e2e::graph::SentMessage> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let sent = graph.sent_messages();
        if sent.len() >= n {
            return sent;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} sent",
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `acme` has `n` outbound messages stored; them.
async fn wait_outbound(host: &Host, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out: Vec<Value> = host
            .messages("acme")
            .await
            .into_iter()
            .filter(|m| m["direction"] == "outbound")
            .collect();
        if out.len() >= n {
            return out;
        }
        assert!(std::time::Instant::now() < deadline, "{out:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A field a salesperson changes in HubSpot reaches the tenant's flows as a
/// `field-changed` event when the pull applies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_changed_in_hubspot_reaches_the_flows() {
    let hub = HubSpot::start().await;
    let graph = Graph::start().await;
    let host = setup_sending(&hub, &graph).await;
    scrm_e2e::flows::add_flow(&host, "hostile-flow").await;
    host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", None)
        .await;
    crm::customer_writes(&host, "Mario", &[("wamid.fc1", "Ciao")]).await;
    crm::synced(&host, "acme", Duration::from_secs(60)).await;
    let contact = the_contact(&hub);
    crm::pull(&host, "acme").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    hub.sales_edit(&contact.id, &[("lastname", "Rossi")]);
    let applied = crm::pull(&host, "acme").await;
    assert_eq!(applied["changed"], 1, "{applied}");
    let texts = scrm_e2e::eventually(|| async {
        let texts: Vec<String> = graph
            .sent_messages()
            .iter()
            .filter_map(|m| m.body["text"]["body"].as_str().map(str::to_owned))
            .filter(|t| t.starts_with("field "))
            .collect();
        Ok((!texts.is_empty()).then_some(texts))
    })
    .await
    .expect("the flow answered the field change");
    assert_eq!(texts, ["field name: Mario -> Mario Rossi"]);
}

/// The questionnaire's answers, stored on the contact by the flow, reach HubSpot
/// with the contact's next write (the properties the tenant defined for them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiz_answers_stored_on_the_contact_reach_hubspot() {
    let hub = HubSpot::start().await;
    for p in [
        "skin_type",
        "skin_quiz_q1",
        "skin_quiz_q2",
        "skin_quiz_q3",
        "skin_quiz_q4",
        "skin_quiz_q5",
    ] {
        hub.define_property("contacts", p);
    }
    let graph = Graph::start().await;
    let host = setup_sending(&hub, &graph).await;
    scrm_e2e::flows::add_flow(&host, "questionnaire").await;
    scrm_e2e::flows::add_template(&host, "sample_request", "en", "Samples: {{1}}").await;
    host.ok("PUT", "/v1/tenants/acme/flows/questionnaire", None)
        .await;
    crm::customer_writes(&host, "Mario", &[("wamid.q0", "quiz")]).await;
    let answers = [
        ("q1", "shiny"),
        ("q2", "often"),
        ("q3", "oily"),
        ("q4", "large"),
        ("q5", "greasy"),
    ];
    for (i, (q, a)) in answers.iter().enumerate() {
        // Each answer after the flow asked its question.
        scrm_e2e::eventually(|| async { Ok((graph.sent_count() > i).then_some(())) })
            .await
            .expect("the next question was sent");
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000", "phone_number_id": crm::PN},
                "contacts": [{"profile": {"name": "Mario"}, "wa_id": crm::CUSTOMER}],
                "messages": [{"from": crm::CUSTOMER, "id": format!("wamid.qa{i}"),
                    "timestamp": crm::now_secs().to_string(), "type": "interactive",
                    "interactive": {"type": "list_reply", "list_reply": {"id": format!("quiz:{q}:{a}"), "title": "x"}}}]
            }}]}]
        });
        let (status, _) = host
            .post_signed(&serde_json::to_vec(&body).unwrap(), scrm_e2e::APP_SECRET)
            .await;
        assert_eq!(status, StatusCode::OK);
        host.settle().await;
    }
    let contact = scrm_e2e::eventually(|| async {
        let found = hub.contacts_by_phone(E164);
        Ok(found
            .into_iter()
            .find(|c| c.prop("skin_type").is_some() && c.prop("skin_quiz_q5").is_some()))
    })
    .await
    .expect("the answers reached HubSpot");
    assert_eq!(contact.prop("skin_type"), Some("oily"));
    assert_eq!(contact.prop("skin_quiz_q2"), Some("often"));
}
