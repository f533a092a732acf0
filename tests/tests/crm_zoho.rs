//! Two-way CRM sync against a local Zoho CRM (tests/src/zoho.rs) through a real host:
//! a WhatsApp message upserts the contact by its mobile number (never a duplicate),
//! writes the chat history as notes and a sales signal as a deal; an edit in Zoho
//! comes back by pull and by notification (each overwrite in the review queue), the
//! host's own writes are echoes, a notification with the wrong token is refused; a
//! 429 is waited out and an outage retried without losing or repeating a write; a
//! contact sales created first is matched, and pulls page through the org. An OAuth
//! 2 credential renews its access token before it expires and after a 401, so
//! writes keep flowing; a revoked refresh token dead-letters and warns.

use reqwest::StatusCode;
use scrm_e2e::Host;
use scrm_e2e::crm::{self, E164};
use scrm_e2e::zoho::{ACCESS_TOKEN, Zoho, next_second};
use serde_json::{Value, json};
use std::time::Duration;

/// The verification token the operator gave Zoho's `POST /actions/watch`.
const CHANNEL_TOKEN: &str = "acme-zoho-channel-7f3c9e";
/// How long the CRM queue may take to drain.
const SYNC_WAIT: Duration = Duration::from_secs(90);

/// Posts a Zoho notification to the tenant's CRM webhook; status and body.
async fn notify(host: &Host, body: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(body).unwrap();
    crm::post_webhook(host, "acme", &[("content-type", "application/json")], body).await
}

/// A host with tenant `acme` syncing to `zoho`; `connector_extra` is appended to the
/// connector's TOML config.
async fn setup(zoho: &Zoho, connector_extra: &str) -> Host {
    // Pulls are triggered by the test, so each step sees exactly its own changes.
    let host = crm::setup_tenant("acme", &[("zoho_token", ACCESS_TOKEN)], 0).await;
    // The built-in rules tag "quanto costa" as a price inquiry: a sales signal.
    crm::install_classifier(&host, "acme").await;
    crm::install_mapper(
        &host,
        "acme",
        "required = [\"phone\"]\n[products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n",
    )
    .await;
    crm::install_connector(
        &host,
        "acme",
        "zoho-connector",
        &format!(
            "api_domain = \"{}\"\nnotification_token = \"{CHANNEL_TOKEN}\"\n{connector_extra}",
            zoho.base()
        ),
        crm::loopback_policy(zoho.addr().port(), "zoho_token", "Zoho-oauthtoken "),
    )
    .await;
    host
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_typed_in_zoho_are_read_with_their_country_or_the_tenants() {
        let zoho = Zoho::start().await;
        let host = setup(&zoho, "pull_fields = [\"Mailing_Country\"]\n").await;
        crm::install_mapper(
            &host,
            "acme",
            "required = [\"phone\"]\n[fields]\ncountry = \"Mailing_Country\"\n",
        )
        .await;
        let numbers = crm::crm_numbers(true);
        let mut ids = Vec::new();
        for n in &numbers {
            let id = zoho.create_contact(None, n.name, Some(n.raw));
            if let Some(c) = n.country {
                zoho.edit_contact(&id, |z| {
                    z.custom.insert("Mailing_Country".into(), json!(c));
                });
            }
            ids.push(id);
        }
        zoho.create_contact(None, crm::BAD_NUMBER.0, Some(crm::BAD_NUMBER.1));
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], numbers.len() + 1, "{applied}");
        crm::assert_crm_numbers_normalised(&host, "acme", &numbers, &applied).await;

        // Their messages go on the Zoho contacts the salespeople made.
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(zoho.contacts().len(), numbers.len() + 1, "no contact added");
        for (id, text) in [(&ids[3], "hola"), (&ids[4], "oi")] {
            let notes = zoho.notes_of(id);
            assert!(
                notes.iter().any(|n| n.content.as_deref().is_some_and(|c| c.contains(text))),
                "{id}: {notes:#?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whatsapp_and_zoho_sync_both_ways() {
        let zoho = Zoho::start().await;
        let host = setup(&zoho, "").await;

        // 1. A first message upserts the contact by its mobile number, adds the message
        //    as a note on it and, being a price inquiry, a deal for it.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.z1", "Ciao, quanto costa l'iPhone15 Pro Max?")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let found = zoho.contacts_by_phone(E164);
        assert_eq!(found.len(), 1, "{found:#?}");
        let contact = found[0].clone();
        assert_eq!(contact.full_name(), "Mario");
        assert_eq!(contact.first_name, None);
        let upsert = zoho
            .requests()
            .into_iter()
            .find(|r| r.path == "/crm/v8/Contacts/upsert")
            .expect("an upsert");
        let body = upsert.body.clone().unwrap();
        assert_eq!(body["duplicate_check_fields"], json!(["Mobile"]), "{body}");
        assert_eq!(body["data"][0]["Mobile"], E164, "{body}");
        assert_eq!(
            upsert.header("authorization"),
            Some(format!("Zoho-oauthtoken {ACCESS_TOKEN}").as_str()),
            "the host adds the tenant's token"
        );
        let notes = zoho.notes_of(&contact.id);
        assert_eq!(notes.len(), 1, "{notes:#?}");
        assert_eq!(notes[0].title.as_deref(), Some("WhatsApp"));
        assert!(
            notes[0]
                .content
                .as_deref()
                .is_some_and(|c| c.contains("quanto costa")),
            "{notes:#?}"
        );
        let deals = zoho.deals();
        assert_eq!(deals.len(), 1, "{deals:#?}");
        assert_eq!(deals[0].contact_id.as_deref(), Some(contact.id.as_str()));
        assert_eq!(deals[0].name, "WhatsApp: Mario — iPhone15 Pro Max");
        assert_eq!(deals[0].stage, "Qualification");
        assert!(
            deals[0]
                .description
                .as_deref()
                .is_some_and(|d| d.contains("price-inquiry")),
            "{deals:#?}"
        );

        // 2. A second message is a second note on the same contact: no duplicate.
        crm::customer_writes(&host, "Mario", &[("wamid.z2", "Grazie, ci penso")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(zoho.contacts().len(), 1, "{:#?}", zoho.contacts());
        let notes = zoho.notes_of(&contact.id);
        assert_eq!(notes.len(), 2, "{notes:#?}");
        assert!(
            notes
                .iter()
                .any(|n| n.content.as_deref().is_some_and(|c| c.contains("ci penso")))
        );

        // 3. Zoho notifies the host's own write back: an echo, nothing changes.
        let (status, applied) = notify(
            &host,
            &zoho.notification(&[&contact.id], "update", CHANNEL_TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["echoes"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");
        // The first pull sees the same: the contact the host itself wrote.
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["echoes"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");

        // 4. Sales renames the contact in Zoho; the next pull brings it back, and the
        //    overwrite of "Mario" is in the review queue.
        next_second().await;
        zoho.edit_contact(&contact.id, |c| {
            c.first_name = Some("Mario".into());
            c.last_name = "Rossi".into();
        });
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["changed"], 1, "{applied}");
        assert_eq!(applied["conflicts"], 1, "{applied}");
        let review = crm::assert_crm_rename_in_review(&host, "acme", "Mario Rossi", "Mario").await;
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["changed"], 0, "nothing new since: {again}");
        assert_eq!(again["conflicts"], 0, "nothing new since: {again}");
        crm::resolve_review(&host, "acme", &review, "accept").await;

        // 5. Sales edits again; this time Zoho's notification brings it at once.
        next_second().await;
        zoho.edit_contact(&contact.id, |c| c.last_name = "Bianchi".into());
        let (status, applied) = notify(
            &host,
            &zoho.notification(&[&contact.id], "update", CHANNEL_TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["changed"], 1, "{applied}");
        assert_eq!(applied["conflicts"], 1, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mario Bianchi");
        let open = crm::open_reviews(&host, "acme").await;
        assert_eq!(open.len(), 1, "{open:#?}");
        assert_eq!(open[0]["kept"], "Mario Bianchi");
        assert_eq!(open[0]["lost"], "Mario Rossi");

        // 6. A notification without the channel's token is refused, and changes nothing.
        let before = zoho.request_count();
        zoho.edit_contact(&contact.id, |c| c.last_name = "Verdi".into());
        let (status, body) = notify(
            &host,
            &zoho.notification(&[&contact.id], "update", "guessed-token"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "crm_unauthorized", "{body}");
        assert_eq!(zoho.request_count(), before, "refused before reading Zoho");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mario Bianchi");
        // Deletions and other modules are not mirrored.
        let (status, applied) = notify(
            &host,
            &zoho.notification(&[&contact.id], "delete", CHANNEL_TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["records"], 0, "{applied}");

        // Every request the connector made was one Zoho accepts.
        let refused: Vec<_> = zoho
            .requests()
            .into_iter()
            .filter(|r| r.status >= 400)
            .map(|r| (r.method, r.path, r.status, r.body))
            .collect();
        assert!(refused.is_empty(), "{refused:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zoho_rate_limits_and_outages_lose_nothing() {
        let zoho = Zoho::start().await;
        let host = setup(&zoho, "").await;

        // Zoho allows two requests per two seconds; four messages need at least five.
        zoho.set_rate_limit(2, Duration::from_secs(2));
        for i in 1..=4 {
            let (wamid, text) = (format!("wamid.r{i}"), format!("rate #{i}"));
            crm::customer_writes(&host, "Anna", &[(&wamid, &text)]).await;
        }
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert!(zoho.throttled() > 0, "the rate limit was hit");
        // Waiting for Zoho is not a failed attempt.
        assert!(
            jobs.iter().all(|j| j["attempts"] == 0),
            "rate-limited writes count no attempt: {jobs:#?}"
        );
        let found = zoho.contacts_by_phone(E164);
        assert_eq!(found.len(), 1, "{found:#?}");
        let notes = zoho.notes_of(&found[0].id);
        for i in 1..=4 {
            let text = format!("rate #{i}");
            assert_eq!(
                notes
                    .iter()
                    .filter(|n| n.content.as_deref().is_some_and(|c| c.contains(&text)))
                    .count(),
                1,
                "{text} in {notes:#?}"
            );
        }
        assert_eq!(notes.len(), 4, "{notes:#?}");
        let metrics = host.metrics().await;
        assert!(
            metrics.contains("scrm_crm_jobs_total{tenant=\"acme\",kind=\"message\",result=\"retry\"}"),
            "{metrics}"
        );

        // Zoho fails with 503: the write waits and is retried, and arrives once.
        zoho.clear_rate_limit();
        zoho.fail_with(Some(503));
        crm::customer_writes(&host, "Anna", &[("wamid.o1", "during the outage")]).await;
        crm::jobs_until(
            &host,
            "acme",
            "queued",
            "the write did not wait to be retried",
            |q| q.len() == 1 && crm::awaits_retry(&q[0]),
        )
        .await;
        assert!(zoho.failed() > 0);
        zoho.fail_with(None);
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let notes = zoho.notes_of(&found[0].id);
        assert_eq!(
            notes
                .iter()
                .filter(|n| n
                    .content
                    .as_deref()
                    .is_some_and(|c| c.contains("during the outage")))
                .count(),
            1,
            "{notes:#?}"
        );
        assert!(crm::jobs(&host, "acme", "dead").await.is_empty());

        // The access token expires: Zoho's 401 cannot get better by waiting, so the write
        // goes to the dead-letter list at once; with a fresh token it is re-queued.
        zoho.revoke_token(ACCESS_TOKEN);
        crm::customer_writes(&host, "Anna", &[("wamid.t1", "after the token expired")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        let dead: Vec<&Value> = jobs.iter().filter(|j| j["state"] == "dead").collect();
        assert_eq!(dead.len(), 1, "{jobs:#?}");
        assert!(
            dead[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("crm_unauthorized") && e.contains("INVALID_TOKEN")),
            "{dead:#?}"
        );
        zoho.accept_token(ACCESS_TOKEN);
        crm::requeue(&host, "acme", dead[0]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert!(zoho.notes_of(&found[0].id).iter().any(|n| {
            n.content
                .as_deref()
                .is_some_and(|c| c.contains("token expired"))
        }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn existing_contacts_are_matched_by_mobile_and_pulls_page_through_the_org() {
        let zoho = Zoho::start().await;
        // Sales already has the customer, and four other contacts.
        let mario = zoho.create_contact(Some("Mario"), "Rossi", Some(E164));
        for i in 1..=4 {
            zoho.create_contact(
                Some("Anna"),
                &format!("Bianchi {i}"),
                Some(&format!("+3934712345{i:02}")),
            );
        }
        let host = setup(&zoho, "page_size = 2\n").await;

        // The customer writes: the upsert finds the contact by its mobile number.
        crm::customer_writes(&host, "Mario Rossi", &[("wamid.m1", "buongiorno")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(zoho.contacts().len(), 5, "{:#?}", zoho.contacts());
        let found = zoho.contacts_by_phone(E164);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, mario);
        assert_eq!(found[0].full_name(), "Mario Rossi");
        assert_eq!(zoho.notes_of(&mario).len(), 1);

        // Sales deletes the contact; the customer's new profile name must reach Zoho:
        // the update of the linked id fails, and the upsert creates the contact again.
        zoho.delete_contact(&mario);
        next_second().await;
        crm::customer_writes(&host, "Mario R.", &[("wamid.m2", "ci sono ancora")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let found = zoho.contacts_by_phone(E164);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_ne!(found[0].id, mario);
        assert_eq!(found[0].full_name(), "Mario R.");
        assert_eq!(zoho.notes_of(&found[0].id).len(), 1);
        let statuses: Vec<(String, u16)> = zoho
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/crm/v8/Contacts/"))
            .map(|r| (format!("{} {}", r.method, r.path), r.status))
            .collect();
        assert!(
            statuses.contains(&(format!("PUT /crm/v8/Contacts/{mario}"), 400)),
            "{statuses:?}"
        );

        // One pull reads all five, two per page (once every change is a second old).
        next_second().await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 5, "{applied}");
        assert_eq!(
            applied["echoes"], 1,
            "Mario is the host's own write: {applied}"
        );
        assert_eq!(applied["created"], 4, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts.len(), 5, "{contacts:#?}");
        assert!(
            contacts
                .iter()
                .any(|c| c["name"] == "Anna Bianchi 3" && c["phone"] == "+393471234503"),
            "{contacts:#?}"
        );
        let pages = zoho
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/crm/v8/Contacts")
            .count();
        assert!(pages >= 3, "{pages} pages");
        // Nothing new: the next pull reads nothing.
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["records"], 0, "{again}");

        // A customer without a profile name: Zoho refuses a contact without Last_Name, so
        // the connector upserts it again with the placeholder, which reads back as no name.
        crm::inbound(
            &host,
            crm::PN,
            "393479876543",
            None,
            &[("wamid.n1", "ciao")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let nameless = zoho.contacts_by_phone("+393479876543");
        assert_eq!(nameless.len(), 1, "{nameless:#?}");
        assert_eq!(nameless[0].full_name(), "(WhatsApp)");
        assert_eq!(zoho.notes_of(&nameless[0].id).len(), 1);
        next_second().await;
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["records"], 1, "{applied}");
        assert_eq!(applied["echoes"], 1, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        let c = contacts
            .iter()
            .find(|c| c["phone"] == "+393479876543")
            .expect("the nameless contact");
        assert!(c["name"].is_null(), "{c}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oauth_credential_renews_its_expiring_token_and_writes_keep_flowing() {
        let zoho = Zoho::start().await;
        let host = setup(&zoho, "").await;
        let client = ("1000.SCRMCLIENT0001", "zoho-client-secret", "1000.refresh.scrm");
        // Zoho Accounts issues tokens that live 2 s (an hour in Zoho).
        zoho.issue_tokens(client, Duration::from_secs(2));
        let oauth = |refresh: &str| {
            json!({"oauth2": {"token_url": zoho.token_url(), "client_id": client.0,
                              "client_secret": client.1, "refresh_token": refresh}})
        };
        let path = "/v1/tenants/acme/secrets/zoho_token";
        // A wrong refresh token is refused when it is set; the old secret stays.
        let (status, body) = host.api("PUT", path, Some(oauth("1000.wrong"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "oauth2_refused", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("invalid_code"), "{body}");
        // The right one is traded for a first access token at once.
        host.ok("PUT", path, Some(oauth(client.2))).await;
        assert_eq!(zoho.tokens_issued(), 1);
        let unauthorized = |zoho: &Zoho| zoho.requests().iter().filter(|r| r.status == 401).count();

        crm::customer_writes(&host, "Mario", &[("wamid.z1", "Ciao!")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(zoho.tokens_issued(), 1, "the first token was still good");

        // Expired meanwhile: renewed before the next write goes out, so no 401.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        crm::customer_writes(&host, "Mario", &[("wamid.z2", "Ci siete?")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(zoho.tokens_issued(), 2);
        assert_eq!(unauthorized(&zoho), 0);

        // Zoho ends the token early: the 401 is followed by a renewal and the same
        // request again, and the write goes through on its first attempt.
        zoho.expire_issued_tokens();
        crm::customer_writes(&host, "Mario", &[("wamid.z3", "Grazie")]).await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done" && j["attempts"] == 0), "{jobs:#?}");
        assert_eq!(zoho.tokens_issued(), 3);
        assert_eq!(unauthorized(&zoho), 1);
        let contacts = zoho.contacts();
        assert_eq!(contacts.len(), 1);
        assert_eq!(zoho.notes_of(&contacts[0].id).len(), 3, "every message written once");

        let listed = host.ok("GET", "/v1/tenants/acme/secrets", None).await;
        let item = &listed["items"][0];
        assert_eq!(item["kind"], "oauth2", "{listed}");
        assert!(item["renewal_error"].is_null(), "{listed}");
        assert!(item["access_expires_at"].as_i64().is_some(), "{listed}");
        assert!(!listed.to_string().contains(client.2), "no secret is served");

        // The user revokes the app's access: the write is refused and dead-lettered
        // (nothing lost: re-authorize, set the credential again, re-queue), and the
        // tenant's health report says why.
        zoho.revoke_refresh_token();
        zoho.expire_issued_tokens();
        crm::customer_writes(&host, "Mario", &[("wamid.z4", "Ultimo messaggio")]).await;
        let dead = crm::jobs_until(&host, "acme", "dead", "refused write", |j| !j.is_empty()).await;
        assert!(
            dead[0]["last_error"].as_str().is_some_and(|e| e.starts_with("crm_unauthorized")),
            "{dead:#?}"
        );
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        let warning = health["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["code"] == "oauth2_renewal_failing")
            .unwrap_or_else(|| panic!("{health}"));
        assert!(warning["message"].as_str().unwrap().contains("invalid_code"), "{health}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_open_deal_per_product_and_a_lost_answer_never_duplicates() {
        let zoho = Zoho::start().await;
        let host = setup(&zoho, "").await;
        let key = |d: &scrm_e2e::zoho::Deal| d.key.clone().unwrap_or_default();

        crm::customer_writes(&host, "Mario", &[("wamid.zd1", "Quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let deals = zoho.deals();
        assert_eq!(deals.len(), 1, "{deals:#?}");
        let first = deals[0].clone();
        assert!(key(&first).ends_with(":deal:APL-IP15PM"), "{first:#?}");

        // The same product again: that deal is updated.
        crm::customer_writes(&host, "Mario", &[("wamid.zd2", "Voglio acquistare l'iPhone 15 pro max")])
            .await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let deals = zoho.deals();
        assert_eq!(deals.len(), 1, "{deals:#?}");
        assert!(
            deals[0].description.as_deref().is_some_and(|d| d.contains("Voglio acquistare")),
            "{deals:#?}"
        );

        // Won in Zoho: the next question opens a new deal with the same key.
        zoho.sales_set_deal_stage(&first.id, "Closed Won");
        crm::customer_writes(&host, "Mario", &[("wamid.zd3", "quanto costa l'iPhone15 Pro Max?")])
            .await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let deals = zoho.deals();
        assert_eq!(deals.len(), 2, "{deals:#?}");
        assert!(deals.iter().all(|d| key(d) == key(&first)), "{deals:#?}");
        assert_eq!(deals.iter().filter(|d| !d.stage.starts_with("Closed")).count(), 1);

        // Zoho stores the next note and deal but both answers are lost: the retries
        // find them by their keys.
        zoho.lose_deal_answers(2);
        crm::customer_writes(&host, "Mario", &[("wamid.zd4", "Voglio acquistare il prodotto B")])
            .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        assert_eq!(zoho.requests().iter().filter(|r| r.status == 504).count(), 2);
        let contact = zoho.contacts().pop().unwrap();
        let notes = zoho.notes_of(&contact.id);
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.content.as_deref().is_some_and(|c| c.ends_with("(wamid.zd4)")))
                .count(),
            1,
            "{notes:#?}"
        );
        let product_b: Vec<_> = zoho
            .deals()
            .into_iter()
            .filter(|d| key(d).ends_with(":deal:PRODOTTOB"))
            .collect();
        assert_eq!(product_b.len(), 1, "{product_b:#?}");
    }
}
