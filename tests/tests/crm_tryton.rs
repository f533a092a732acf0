//! Two-way CRM sync against a real Tryton (tests/src/tryton.rs): a WhatsApp message
//! creates the party and writes the chat history as notes; a rename in Tryton comes
//! back on the next pull (with the overwrite in the review queue); the host's own
//! writes are recognised as echoes; a newer WhatsApp profile name wins over an older
//! CRM name and a review can revert it, in both systems. A note a salesperson writes
//! on the party starting with /wa reaches the customer on WhatsApp, once.

use reqwest::StatusCode;
use scrm_e2e::Host;
use scrm_e2e::crm::{self, E164};
use scrm_e2e::graph::Graph;
use scrm_e2e::tryton::Tryton;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long the CRM queue may take to drain.
const SYNC_WAIT: Duration = Duration::from_secs(60);

/// The customer's party in Tryton.
async fn customer_party(tryton: &Tryton) -> i64 {
    tryton
        .find_party_by_phone(E164)
        .await
        .unwrap()
        .expect("the customer's party in Tryton")
}

async fn setup(tryton: &Tryton) -> Host {
    let host = setup_host(tryton, 0).await;
    install_sync(&host, tryton).await;
    host
}

/// A host with tenant `acme`, its Tryton key as a secret, and real-time sync pulling
/// every `pull_seconds` (0: only when the test asks).
async fn setup_host(tryton: &Tryton, pull_seconds: u32) -> Host {
    crm::setup_tenant("acme", &[("tryton_key", &tryton.key)], pull_seconds).await
}

/// Installs the reference mapper and the Tryton connector for `acme`.
async fn install_sync(host: &Host, tryton: &Tryton) {
    crm::install_mapper(
        host,
        "acme",
        "contact_object = \"party\"\nrequired = [\"phone\"]\n[products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n",
    )
    .await;
    let port = tryton.base.rsplit(':').next().unwrap().parse().unwrap();
    crm::install_connector(
        host,
        "acme",
        "tryton-connector",
        &format!("url = \"{}\"\ndb = \"{}\"\n", tryton.base, tryton.db),
        crm::loopback_policy(port, "tryton_key", "Bearer "),
    )
    .await;
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_typed_in_tryton_arrive_in_e164_and_tryton_refuses_the_rest() {
        let tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let host = setup(&tryton).await;
        // Tryton checks phone numbers itself (python-phonenumbers): typed with spaces,
        // dots and parentheses they are kept in E.164 (`value_compact`) …
        let ida = tryton.create_party("Ida Prefisso", "+39 (347) 765.4321").await.unwrap();
        let wing = tryton.create_party("Wing Chan", "+852 9123-4567").await.unwrap();
        // … and a number it cannot read is refused when typed, so none reaches the
        // host: a national number on a party without an address country, a Mexican
        // mobile with the old "1", a Brazilian mobile without its ninth digit.
        for raw in ["347 123 4560", "+52 1 55 1234 5678", "+55 (11) 8765-4321"] {
            let refused = tryton.create_party("Nobody", raw).await;
            assert!(refused.is_err(), "{raw}: {refused:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied = crm::pull(&host, "acme").await;
        // The two, and the shop's own party (its company's, made with the database),
        // which has no phone and is skipped.
        assert_eq!(applied["records"], 3, "{applied}");
        assert_eq!(applied["skipped"], 1, "{applied}");
        assert_eq!(applied["phone_problems"], 0, "{applied}");
        let contacts = crm::contacts(&host, "acme").await;
        for e164 in ["+393477654321", "+85291234567"] {
            assert_eq!(
                contacts.iter().filter(|c| c["phone"] == e164).count(),
                1,
                "{e164}: {contacts:#?}"
            );
        }

        // Wing writes in: the message is a note on the party sales made.
        crm::inbound(&host, crm::PN, "85291234567", Some("Wing"), &[("wamid.hk1", "nei hou")]).await;
        assert_eq!(crm::contacts(&host, "acme").await.len(), contacts.len(), "no new contact");
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let notes = tryton.notes_of(wing).await.unwrap();
        assert!(notes.iter().any(|n| n.contains("nei hou")), "{notes:?}");
        assert!(tryton.notes_of(ida).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whatsapp_and_tryton_sync_both_ways() {
        let tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let host = setup(&tryton).await;

        // 1. A first message creates the party (phone in E.164) and a note.
        crm::customer_writes(
            &host,
            "Mario",
            &[("wamid.t1", "Ciao, quanto costa l'iPhone15 Pro Max?")],
        )
        .await;
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let party = customer_party(&tryton).await;
        assert_eq!(tryton.party(party).await.unwrap()["name"], "Mario");
        let notes = tryton.notes_of(party).await.unwrap();
        assert_eq!(
            notes.iter().filter(|n| n.contains("quanto costa")).count(),
            1,
            "{notes:?}"
        );

        // The first pull sees the party the host itself created: an echo, not a change.
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["echoes"], 1, "{applied}");
        assert_eq!(applied["changed"], 0, "{applied}");

        // 2. Sales renames the party in Tryton; the next pull brings it back, and the
        //    overwrite of "Mario" is in the review queue.
        tokio::time::sleep(Duration::from_millis(20)).await;
        tryton.rename_party(party, "Mario Rossi").await.unwrap();
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["changed"], 1, "{applied}");
        assert_eq!(applied["conflicts"], 1, "{applied}");
        let review = crm::assert_crm_rename_in_review(&host, "acme", "Mario Rossi", "Mario").await;
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["records"], 0, "nothing new since: {again}");
        crm::resolve_review(&host, "acme", &review, "accept").await;

        // 3. The same profile name on the next message does not undo the CRM's name; the
        //    message becomes a second note on the same party.
        crm::customer_writes(&host, "Mario", &[("wamid.t2", "Grazie, lo prendo!")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(tryton.party(party).await.unwrap()["name"], "Mario Rossi");
        let notes = tryton.notes_of(party).await.unwrap();
        assert!(notes.iter().any(|n| n.contains("lo prendo")), "{notes:?}");
        assert_eq!(
            tryton.find_party_by_phone(E164).await.unwrap(),
            Some(party),
            "still one party"
        );

        // 4. The customer changes their WhatsApp profile name: newer than the CRM's, it
        //    wins, goes to Tryton, and the overwrite is reviewable; reverting it restores
        //    the CRM's name on both sides.
        tokio::time::sleep(Duration::from_millis(20)).await;
        crm::customer_writes(&host, "Mario R.", &[("wamid.t3", "ciao")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(tryton.party(party).await.unwrap()["name"], "Mario R.");
        let open = crm::open_reviews(&host, "acme").await;
        assert_eq!(open.len(), 1, "{open:#?}");
        assert_eq!(open[0]["kept"], "Mario R.");
        assert_eq!(open[0]["kept_source"], "whatsapp");
        assert_eq!(open[0]["lost"], "Mario Rossi");
        let reverted = crm::resolve_review(&host, "acme", &open[0], "revert").await;
        assert_eq!(reverted["state"], "reverted");
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(tryton.party(party).await.unwrap()["name"], "Mario Rossi");
        let contacts = crm::contacts(&host, "acme").await;
        assert_eq!(contacts[0]["name"], "Mario Rossi");
        // A closed review cannot be resolved twice.
        let (status, body) = host
            .api(
                "POST",
                &format!("/v1/tenants/acme/crm/reviews/{}/accept", open[0]["id"]),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "review_closed", "{body}");

        // CRM webhooks need no operator token (the connector checks the CRM's own
        // signature); Tryton sends none, and its connector says so.
        let (status, body) = crm::post_webhook(&host, "acme", &[], "{}").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "crm_invalid", "{body}");
        let (status, _) = crm::post_webhook(&host, "nobody", &[], "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crm_that_is_down_loses_nothing_and_is_caught_up_when_it_returns() {
        let mut tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let host = setup(&tryton).await;
        crm::customer_writes(&host, "Anna", &[("wamid.d0", "before the outage")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let party = customer_party(&tryton).await;

        // The CRM goes down; five messages arrive meanwhile.
        tryton.pause();
        for i in 1..=5 {
            let (wamid, text) = (format!("wamid.d{i}"), format!("during the outage #{i}"));
            crm::customer_writes(&host, "Anna", &[(&wamid, &text)]).await;
        }
        // Each write fails, is kept, and waits to be retried.
        crm::jobs_until(
            &host,
            "acme",
            "queued",
            "writes did not fail as expected",
            |q| q.len() == 5 && q.iter().all(crm::awaits_retry),
        )
        .await;
        assert!(
            crm::jobs(&host, "acme", "dead").await.is_empty(),
            "nothing is dead-lettered while the CRM is down"
        );

        // It comes back: every message reaches it, once, and nothing is dead.
        tokio::task::block_in_place(|| tryton.resume()).expect("restart Tryton");
        let jobs = crm::synced(&host, "acme", SYNC_WAIT).await;
        assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
        let notes = tryton.notes_of(party).await.unwrap();
        for i in 1..=5 {
            let text = format!("during the outage #{i}");
            assert_eq!(
                notes.iter().filter(|n| n.contains(&text)).count(),
                1,
                "{text} in {notes:?}"
            );
        }
        assert_eq!(notes.len(), 6, "{notes:?}");
        let metrics = host.metrics().await;
        assert!(
            metrics.contains("scrm_crm_jobs_total{tenant=\"acme\",kind=\"message\",result=\"retry\"}"),
            "{metrics}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn history_is_backfilled_once_and_scheduled_pulls_bring_changes_back() {
        let tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let host = setup_host(&tryton, 1).await;
        // History from before the CRM was connected.
        for i in 1..=3 {
            let (wamid, text) = (format!("wamid.h{i}"), format!("history #{i}"));
            crm::customer_writes(&host, "Bea", &[(&wamid, &text)]).await;
        }
        let status = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        assert_eq!(
            status["jobs"],
            json!({}),
            "nothing syncs before a connector: {status}"
        );
        install_sync(&host, &tryton).await;

        let (code, queued) = host
            .api(
                "POST",
                "/v1/tenants/acme/crm/backfill",
                Some(json!({"days": 180})),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
        assert_eq!(queued["queued"], 3, "{queued}");
        assert_eq!(queued["messages"], 3, "{queued}");
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let party = customer_party(&tryton).await;
        let notes = tryton.notes_of(party).await.unwrap();
        for i in 1..=3 {
            let text = format!("history #{i}");
            assert_eq!(
                notes.iter().filter(|n| n.contains(&text)).count(),
                1,
                "{notes:?}"
            );
        }
        // Again: nothing new is queued, nothing is written twice.
        let again = host
            .ok(
                "POST",
                "/v1/tenants/acme/crm/backfill",
                Some(json!({"days": 180})),
            )
            .await;
        assert_eq!(again["queued"], 0, "{again}");
        let status = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        assert_eq!(status["backfill"], json!({"done": 3}), "{status}");
        let (code, bad) = host
            .api(
                "POST",
                "/v1/tenants/acme/crm/backfill",
                Some(json!({"days": 0})),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad["error"]["code"], "invalid_backfill");

        // The scheduled pull (every second here) brings a rename back by itself.
        tryton.rename_party(party, "Beatrice").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let contacts = crm::contacts(&host, "acme").await;
            if contacts[0]["name"] == "Beatrice" {
                break;
            }
            assert!(Instant::now() < deadline, "rename not pulled: {contacts:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Batch mode: a new message waits for the next batch instead of going at once.
        host.ok(
            "PUT",
            "/v1/tenants/acme/crm",
            Some(json!({"mode": "batch", "batch_minutes": 60, "pull_seconds": 0})),
        )
        .await;
        crm::customer_writes(&host, "Bea", &[("wamid.h4", "in the next batch")]).await;
        let queued = crm::jobs(&host, "acme", "queued").await;
        assert_eq!(queued.len(), 1, "{queued:#?}");
        let due = queued[0]["due_at"].as_i64().unwrap();
        let now_ms = crm::now_ms();
        assert!(
            due > now_ms && due % 3_600_000 == 0,
            "due at the next hour: {due}"
        );
        let (code, bad) = host
            .api(
                "PUT",
                "/v1/tenants/acme/crm",
                Some(json!({"retention_days": 30})),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(bad["error"]["code"], "invalid_crm_settings");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_note_written_in_tryton_for_the_customer_is_sent_once() {
        let tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let graph = Graph::start().await;
        let host = crm::setup_sending_tenant(&graph, "acme", &[("tryton_key", &tryton.key)], 0).await;
        install_sync(&host, &tryton).await;
        crm::customer_writes(&host, "Mario", &[("wamid.t1", "Il mio ordine è partito?")]).await;
        crm::synced(&host, "acme", SYNC_WAIT).await;
        let party = customer_party(&tryton).await;

        // An internal note stays in Tryton; the /wa note goes to the customer.
        tryton.add_note(party, "Cliente da richiamare").await.unwrap();
        tryton
            .add_note(party, "/wa Sì, è partito stamattina: arriva domani.")
            .await
            .unwrap();
        let applied = crm::pull(&host, "acme").await;
        assert_eq!(applied["replies"], 1, "{applied}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while graph.sent_messages().is_empty() {
            assert!(Instant::now() < deadline, "nothing sent");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let sent = graph.sent_messages();
        assert_eq!(sent[0].body["type"], "text");
        assert_eq!(sent[0].body["to"], crm::CUSTOMER);
        assert_eq!(sent[0].body["text"]["body"], "Sì, è partito stamattina: arriva domani.");
        // Stored in the conversation as the business's message.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out: Vec<_> = host
                .messages("acme")
                .await
                .into_iter()
                .filter(|m| m["direction"] == "outbound")
                .collect();
            if out.len() == 1 {
                assert_eq!(out[0]["text"], "Sì, è partito stamattina: arriva domani.");
                break;
            }
            assert!(Instant::now() < deadline, "{out:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // The next pull sends nothing more, and no note is written back for it.
        let again = crm::pull(&host, "acme").await;
        assert_eq!(again["replies"], 0, "{again}");
        crm::synced(&host, "acme", SYNC_WAIT).await;
        assert_eq!(graph.sent_messages().len(), 1);
        let notes = tryton.notes_of(party).await.unwrap();
        assert_eq!(notes.len(), 3, "{notes:#?}");
    }
}
