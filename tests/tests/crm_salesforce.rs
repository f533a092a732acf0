//! Two-way CRM sync against a local Salesforce org (tests/src/salesforce.rs) through
//! a real host with the real `salesforce-connector`, `crm-mapper` and
//! `keyword-classifier` plugins: WhatsApp messages upsert one Contact by its
//! WhatsApp number and log Tasks on it; a price inquiry opens an Opportunity with a
//! contact role; a sales edit comes back by pull (with the overwrite in the review
//! queue) and by Outbound Message, and a message from another org is refused;
//! Salesforce's request limit is waited out without losing or repeating a write; a
//! failing org is retried and a revoked token dead-letters; pulls page through
//! query locators (and survive a lost one) reading each change once; a contact has
//! one open Opportunity per product, complaints become Cases, and a create whose
//! answer was lost is found by its key instead of being made twice. An OAuth 2
//! credential renews the session the org ends, and writes keep flowing.

use reqwest::StatusCode;
use scrm_e2e::Host;
use scrm_e2e::crm::{self, CUSTOMER, E164};
use scrm_e2e::salesforce::{ACCESS_TOKEN, EXTERNAL_ID_FIELD, KEY_FIELD, Salesforce};
use serde_json::{Value, json};
use std::time::Duration;

/// How long the CRM queue may take to drain.
const SYNC_WAIT: Duration = Duration::from_secs(60);

/// Posts `body` to the tenant's CRM webhook as Salesforce posts Outbound Messages.
async fn outbound_message(host: &Host, body: String) -> (StatusCode, Value) {
    let headers = [
        ("content-type", "text/xml; charset=utf-8"),
        ("soapaction", "\"\""),
    ];
    crm::post_webhook(host, "acme", &headers, body).await
}

/// A host with tenant `acme` wired to `sf`: keyword classifier, reference mapper,
/// Salesforce connector with the token as a tenant secret; pulls only on demand.
async fn setup(sf: &Salesforce) -> Host {
    let host = crm::setup_tenant("acme", &[("salesforce_token", ACCESS_TOKEN)], 0).await;
    crm::install_classifier(&host, "acme").await;
    crm::install_mapper(
        &host,
        "acme",
        "contact_object = \"contact\"\nrequired = [\"phone\"]\n",
    )
    .await;
    crm::install_connector(
        &host,
        "acme",
        "salesforce-connector",
        &format!(
            "instance_url = \"{}\"\norganization_id = \"{}\"\nexternal_id_field = \"{EXTERNAL_ID_FIELD}\"\n\
             limit_wait_seconds = 1\n",
            sf.url(),
            sf.org_id()
        ),
        crm::loopback_policy(sf.addr().port(), "salesforce_token", "Bearer "),
    )
    .await;
    host
}

fn composites(sf: &Salesforce) -> Vec<Vec<String>> {
    sf.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/composite"))
        .map(|r| r.subrequests)
        .collect()
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_typed_in_salesforce_are_read_with_their_country_or_the_tenants() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;
        crm::install_mapper(
            &host,
            "acme",
            "contact_object = \"contact\"\nrequired = [\"phone\"]\n[fields]\ncountry = \"MailingCountry\"\n",
        )
        .await;
        crm::install_connector(
            &host,
            "acme",
            "salesforce-connector",
            &format!(
                "instance_url = \"{}\"\norganization_id = \"{}\"\nexternal_id_field = \"{EXTERNAL_ID_FIELD}\"\n\
                 limit_wait_seconds = 1\ncontact_fields = [\"MailingCountry\"]\n",
                sf.url(),
                sf.org_id()
            ),
            crm::loopback_policy(sf.addr().port(), "salesforce_token", "Bearer "),
        )
        .await;
        let numbers = crm::crm_numbers(true);
        let mut ids = Vec::new();
        for n in &numbers {
            let mut fields = json!({"LastName": n.name});
            fields[EXTERNAL_ID_FIELD] = json!(n.raw);
            if let Some(c) = n.country {
                fields["MailingCountry"] = json!(c);
            }
            ids.push(sf.sales_create_contact(fields));
        }
        let mut bad = json!({"LastName": crm::BAD_NUMBER.0});
        bad[EXTERNAL_ID_FIELD] = json!(crm::BAD_NUMBER.1);
        sf.sales_create_contact(bad);
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], numbers.len() + 1, "{applied}");
        crm::assert_crm_numbers_normalised(&host, "acme", &numbers, &applied).await;

        // Their messages are logged on the Contacts the salespeople made.
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        assert_eq!(sf.contacts().len(), numbers.len() + 1, "no Contact added");
        for (id, text) in [(&ids[3], "hola"), (&ids[4], "oi")] {
            let tasks = sf.tasks_of(id);
            assert!(
                tasks.iter().any(|t| t["Description"].as_str().is_some_and(|d| d.contains(text))),
                "{id}: {tasks:#?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whatsapp_and_salesforce_sync_both_ways() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;

        // 1. A first message upserts the Contact by its WhatsApp number and logs a Task,
        //    one composite request each.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.s1", "Ciao, avete il modello blu?")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let contact = sf.contact_by_whatsapp(E164).expect("Contact upserted");
        let cid = contact["Id"].as_str().unwrap().to_string();
        assert_eq!(contact["LastName"], "Mario");
        assert_eq!(contact["FirstName"], Value::Null);
        assert_eq!(contact["MobilePhone"], E164);
        let tasks = sf.tasks_of(&cid);
        assert_eq!(tasks.len(), 1, "{tasks:#?}");
        assert_eq!(
            tasks[0]["Description"],
            "[WhatsApp, customer] Ciao, avete il modello blu?"
        );
        assert_eq!(tasks[0]["Subject"], "WhatsApp message (inbound)");
        assert_eq!(tasks[0]["Status"], "Completed");
        assert_eq!(tasks[0]["TaskSubtype"], "Task");
        assert!(
            tasks[0]["ActivityDate"]
                .as_str()
                .is_some_and(|d| d.len() == 10)
        );
        let calls = composites(&sf);
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert!(
            calls[0][0].starts_with(&format!(
                "PATCH /services/data/v62.0/sobjects/Contact/{EXTERNAL_ID_FIELD}/%2B{CUSTOMER}"
            )),
            "{calls:#?}"
        );
        assert!(calls[1][0].starts_with("POST /services/data/v62.0/sobjects/Task"));

        // 2. A price inquiry: no second Contact, a second Task, and an Opportunity with
        //    the Contact as its primary contact role, created together.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.s2", "Quanto costa l'iPhone15 Pro Max?")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert!(jobs.iter().any(|j| j["kind"] == "deal"), "{jobs:#?}");
        assert_eq!(sf.contacts().len(), 1, "no duplicate Contact");
        assert_eq!(sf.tasks_of(&cid).len(), 2);
        let opps = sf.opportunities_of(&cid);
        assert_eq!(opps.len(), 1, "{opps:#?}");
        assert_eq!(opps[0]["Name"], "WhatsApp: Mario");
        assert_eq!(opps[0]["StageName"], "Prospecting");
        assert!(
            opps[0]["Description"]
                .as_str()
                .is_some_and(|d| d.contains("Quanto costa")),
            "{opps:#?}"
        );
        let roles = sf.contact_roles();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0]["IsPrimary"], true);
        let deal_call = composites(&sf).pop().unwrap();
        assert_eq!(deal_call.len(), 3, "{deal_call:#?}");
        assert!(deal_call[1].starts_with("POST /services/data/v62.0/sobjects/OpportunityContactRole"));

        // 3. The first pull sees only the host's own write: an echo.
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["echoes"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");

        // 4. Sales renames the Contact in Salesforce; the pull brings it back and the
        //    overwrite of "Mario" is in the review queue.
        sf.sales_edit(&cid, json!({"FirstName": "Mario", "LastName": "Rossi"}))
            .await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["changed"], 1, "{applied}");
        assert_eq!(applied["conflicts"], 1, "{applied}");
        crm::assert_crm_rename_in_review(&host, "acme", "Mario Rossi", "Mario").await;
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["records"], 0, "nothing new since: {again}");

        // 5. An Outbound Message about the next edit is applied at once.
        sf.sales_edit(&cid, json!({"LastName": "Rossi-Bianchi"}))
            .await;
        let (status, applied) = outbound_message(&host, sf.outbound_message(&[&cid])).await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 1, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mario Rossi-Bianchi");
        // Salesforce delivers at least once: the same message again changes nothing.
        let (status, applied) = outbound_message(&host, sf.outbound_message(&[&cid])).await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");

        // 6. The same message claiming another org is refused, and changes nothing.
        sf.sales_edit(&cid, json!({"LastName": "Verdi"})).await;
        let (status, body) = outbound_message(
            &host,
            sf.outbound_message_from("00D5g000001OtherEAA", &[&cid]),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "crm_unauthorized", "{body}");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mario Rossi-Bianchi");
        // Anything that is not an Outbound Message is refused as invalid.
        let (status, body) = outbound_message(&host, "{}".into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "crm_invalid", "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_request_limit_is_waited_out_and_nothing_is_lost_or_repeated() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;
        crm::customer_writes(&host, "Anna", &[("wamid.l0", "before the limit")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"]
            .as_str()
            .unwrap()
            .to_string();

        // The org has used up its daily requests: every call is refused with 403
        // REQUEST_LIMIT_EXCEEDED while three messages arrive.
        sf.set_limit(sf.usage(), Duration::from_secs(86_400));
        for i in 1..=3 {
            let (wamid, text) = (format!("wamid.l{i}"), format!("during the limit #{i}"));
            crm::customer_writes(&host, "Anna", &[(&wamid, &text)]).await;
        }
        crm::jobs_until(
            &host,
            "acme",
            "queued",
            "writes did not wait for the limit",
            |q| {
                q.len() == 3
                    && sf.limited() >= 1
                    && q.iter().all(|j| {
                        j["attempts"] == 0
                            && j["last_error"]
                                .as_str()
                                .is_some_and(|e| e.contains("rate limited"))
                    })
            },
        )
        .await;
        assert!(
            crm::jobs(&host, "acme", "dead").await.is_empty(),
            "nothing is dead-lettered while the org is over its limit"
        );
        assert_eq!(sf.tasks_of(&cid).len(), 1, "nothing written while limited");
        // After a refusal the connector pauses (limit_wait_seconds = 1) instead of
        // asking again for each of the three jobs: about one refused request a second.
        let before = sf.limited();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let refused = sf.limited() - before;
        assert!(refused <= 5, "{refused} requests refused in 3 s");

        // The rolling window frees requests: every message reaches Salesforce, once.
        sf.set_limit(15_000, Duration::from_secs(86_400));
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let tasks = sf.tasks_of(&cid);
        assert_eq!(tasks.len(), 4, "{tasks:#?}");
        for i in 1..=3 {
            let text = format!("during the limit #{i}");
            assert_eq!(
                tasks
                    .iter()
                    .filter(|t| t["Description"].as_str().is_some_and(|d| d.contains(&text)))
                    .count(),
                1,
                "{text}"
            );
        }
        assert_eq!(sf.contacts().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_session_is_dead_lettered_and_a_failing_org_is_retried() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;

        // Salesforce answers 503: the write waits and is retried, nothing is dead.
        sf.fail_with(Some(503));
        crm::customer_writes(&host, "Luca", &[("wamid.f1", "while Salesforce is down")]).await;
        crm::jobs_until(&host, "acme", "queued", "no retry", |q| {
            q.len() == 1 && crm::awaits_retry(&q[0])
        })
        .await;
        sf.fail_with(None);
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(sf.tasks_of(&cid).len(), 1);

        // The token is revoked: 401 INVALID_SESSION_ID cannot succeed later, so the
        // write goes to the dead-letter list at once, and can be re-queued once fixed.
        sf.set_token("00D5g000004ScrmEAA!AQ4AQRotatedSessionKey");
        crm::customer_writes(
            &host,
            "Luca",
            &[("wamid.f2", "after the token was revoked")],
        )
        .await;
        let dead = crm::jobs_until(&host, "acme", "dead", "not dead-lettered", |d| {
            !d.is_empty()
        })
        .await;
        assert!(
            dead[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("crm_unauthorized") && e.contains("INVALID_SESSION_ID")),
            "{dead:#?}"
        );
        host.ok(
            "PUT",
            "/v1/tenants/acme/secrets/salesforce_token",
            Some(json!({"value": "00D5g000004ScrmEAA!AQ4AQRotatedSessionKey"})),
        )
        .await;
        crm::requeue(&host, "acme", &dead[0]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(sf.tasks_of(&cid).len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pulls_page_through_every_change_once_even_when_a_locator_expires() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;
        // Sales creates five Contacts, most in the same second; Salesforce answers in
        // batches of two, and the locator of the second page is lost.
        for i in 1..=5 {
            sf.sales_create_contact(json!({
                "FirstName": "Cliente",
                "LastName": format!("Numero{i}"),
                EXTERNAL_ID_FIELD: format!("+3934712345{i:02}"),
            }));
        }
        sf.set_query_batch(Some(2));
        sf.lose_next_query_locator();
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 5, "{applied}");
        assert_eq!(applied["created"], 5, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        let mut names: Vec<&str> = contacts.iter().filter_map(|c| c["name"].as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            (1..=5)
                .map(|i| format!("Cliente Numero{i}"))
                .collect::<Vec<_>>()
        );
        let queries: Vec<String> = sf
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/query"))
            .map(|r| format!("{} {}", r.status, r.path))
            .collect();
        // The first query, the lost locator, the query again from the cursor, its next page.
        assert_eq!(queries.len(), 4, "{queries:#?}");
        assert!(queries[1].starts_with("400 "), "{queries:#?}");

        // Nothing new: nothing read. One edit: exactly that Contact.
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["records"], 0, "{again}");
        let third = sf.contact_by_whatsapp("+393471234503").unwrap();
        sf.sales_edit(third["Id"].as_str().unwrap(), json!({"FirstName": "Carla"}))
            .await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 1, "{applied}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_open_opportunity_per_product_complaints_become_cases_and_lost_answers_never_duplicate() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;
        crm::install_mapper(
            &host,
            "acme",
            "contact_object = \"contact\"\nrequired = [\"phone\"]\ncase_object = \"case\"\n\
             [products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n\
             [case_types]\nreclamo = \"Complaint\"\npreventivo = \"Question\"\n",
        )
        .await;
        let key_of = |r: &Value| r[KEY_FIELD].as_str().unwrap_or_default().to_string();
        let open = |sf: &Salesforce| -> Vec<Value> {
            sf.opportunities().into_iter().filter(|o| o["IsClosed"] == false).collect()
        };

        // A price question opens an Opportunity for the product, keyed by its code.
        crm::customer_writes(&host, "Mario", &[("wamid.o1", "Quanto costa l'iPhone15 Pro Max?")])
            .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let opps = sf.opportunities_of(&cid);
        assert_eq!(opps.len(), 1, "{opps:#?}");
        let first = opps[0].clone();
        let key = key_of(&first);
        assert!(key.ends_with(":deal:APL-IP15PM"), "{first:#?}");
        assert_eq!(first["Name"], "WhatsApp: Mario — iPhone15 Pro Max");
        assert!(
            first["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Product: iPhone15 Pro Max (APL-IP15PM)")),
            "{first:#?}"
        );
        assert!(sf.tasks_of(&cid).iter().all(|t| key_of(t).starts_with("wamid.")));

        // Purchase intent for the same product updates it.
        crm::customer_writes(&host, "Mario", &[("wamid.o2", "Voglio acquistare l'iPhone 15 pro max")])
            .await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let opps = sf.opportunities_of(&cid);
        assert_eq!(opps.len(), 1, "{opps:#?}");
        assert!(
            opps[0]["Description"]
                .as_str()
                .is_some_and(|d| d.contains("Voglio acquistare l'iPhone 15 pro max")),
            "{opps:#?}"
        );

        // Won in Salesforce: the next question about the product opens a new one.
        sf.sales_edit(first["Id"].as_str().unwrap(), json!({"StageName": "Closed Won"}))
            .await;
        crm::customer_writes(&host, "Mario", &[("wamid.o3", "quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let opps = sf.opportunities_of(&cid);
        assert_eq!(opps.len(), 2, "{opps:#?}");
        assert!(opps.iter().all(|o| key_of(o) == key), "{opps:#?}");
        assert_eq!(open(&sf).len(), 1, "{opps:#?}");

        // A complaint is a Case on the Contact, typed by its keyword; no Opportunity.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.o4", "Faccio reclamo: il telefono è arrivato rotto")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().any(|j| j["kind"] == "case"), "{jobs:#?}");
        let cases = sf.cases();
        assert_eq!(cases.len(), 1, "{cases:#?}");
        assert_eq!(cases[0]["ContactId"], cid.as_str());
        assert_eq!(cases[0]["Type"], "Complaint");
        assert_eq!(cases[0]["Origin"], "WhatsApp");
        assert_eq!(cases[0]["Status"], "New");
        assert_eq!(cases[0]["Priority"], "High");
        assert_eq!(cases[0]["Subject"], "WhatsApp: Mario — Complaint");
        assert!(key_of(&cases[0]).ends_with(":case:Complaint"), "{cases:#?}");
        assert_eq!(sf.opportunities_of(&cid).len(), 2);

        // Salesforce carries out the next two creates (a Task, an Opportunity) but the
        // answers are lost: the retries find them by key instead of creating again.
        sf.lose_answers(2);
        crm::customer_writes(&host, "Mario", &[("wamid.o5", "Voglio acquistare il prodotto B")])
            .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let lost = sf.requests().iter().filter(|r| r.status == 504).count();
        assert_eq!(lost, 2, "both answers were lost");
        assert_eq!(sf.tasks_of(&cid).len(), 5, "one Task per message");
        let product_b: Vec<Value> = sf
            .opportunities_of(&cid)
            .into_iter()
            .filter(|o| key_of(o).ends_with(":deal:PRODOTTOB"))
            .collect();
        assert_eq!(product_b.len(), 1, "{product_b:#?}");
        assert_eq!(sf.contact_roles().len(), 3, "one contact role per Opportunity");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_ended_session_is_renewed_with_the_refresh_token_and_writes_keep_flowing() {
        let sf = Salesforce::start().await;
        let host = setup(&sf).await;
        let client = ("3MVG9ScrmConsumerKey", "scrm-consumer-secret", "5Aep861ScrmRefresh");
        // Sessions end after 2 s; Salesforce's token answer does not say so.
        sf.issue_tokens(client, Duration::from_secs(2));
        host.ok(
            "PUT",
            "/v1/tenants/acme/secrets/salesforce_token",
            Some(json!({"oauth2": {"token_url": sf.token_url(), "client_id": client.0,
                                   "client_secret": client.1, "refresh_token": client.2}})),
        )
        .await;
        assert_eq!(sf.tokens_issued(), 1);
        let refused = |sf: &Salesforce| sf.requests().iter().filter(|r| r.status == 401).count();
        for (i, text) in ["Ciao!", "Quanto costa l'iPhone15 Pro Max?", "Grazie"].iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(2200)).await;
            }
            let wamid = format!("wamid.sf{i}");
            crm::customer_writes(&host, "Mario", &[(wamid.as_str(), text)]).await;
            let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
            assert!(
                jobs.iter().all(|j| j["state"] == "done" && j["attempts"] == 0),
                "{jobs:#?}"
            );
        }
        // Each ended session cost one 401 and one renewal, never a failed write.
        assert_eq!(sf.tokens_issued(), 3);
        assert_eq!(refused(&sf), 2);
        let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"].as_str().unwrap().to_string();
        assert_eq!(sf.tasks_of(&cid).len(), 3);
        assert_eq!(sf.opportunities_of(&cid).len(), 1);
        // A wrong refresh token is refused when set, with Salesforce's reason.
        let (status, body) = host
            .api(
                "PUT",
                "/v1/tenants/acme/secrets/salesforce_token",
                Some(json!({"oauth2": {"token_url": sf.token_url(), "client_id": client.0,
                                       "client_secret": client.1, "refresh_token": "5Aep861Wrong"}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("invalid_grant: expired access/refresh token"),
            "{body}"
        );
    }
}
