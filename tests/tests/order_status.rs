//! The `order-status` flow end to end, with HubSpot (tests/src/hubspot.rs) as the
//! CRM and AfterShip (tests/src/aftership.rs) as the courier: "dov'è il mio pacco?"
//! is answered with the latest HubSpot order's parcel status, the delivery window in
//! the customer's time zone (a HubSpot contact property) and the tracking link; the
//! parcel moving on to out-for-delivery and delivered is told once each; a courier
//! answering a proxy's 502, or AfterShip's 429, fails that event only, which the
//! host retries. An order that ships in HubSpot reaches the flow with the next pull
//! (an `order` event from the CRM), and the customer is told without asking.

use scrm_e2e::aftership::{self, AfterShip, Fault};
use scrm_e2e::crm::{self, E164};
use scrm_e2e::graph::Graph;
use scrm_e2e::hubspot::{ACCESS_TOKEN, HubSpot};
use scrm_e2e::orders::{self, flow_status, sent_containing, texts};
use scrm_e2e::{Host, eventually};
use std::time::Duration;

const NUMBER: &str = "1Z999AA10123456784";
const LINK: &str = "https://tracking.example-courier.invalid/brt/1Z999AA10123456784";
/// 14:30 in Rome: 13:30 UTC, 13:30 in London in December.
const ESTIMATE: &str = "2026-12-10T14:30:00+01:00";

/// A host with tenant `acme` synced to `hub` (its contacts' `time_zone` property
/// pulled onto contacts; `connector` added to the connector's config), AfterShip as
/// its courier and the flow enabled.
async fn setup(hub: &HubSpot, graph: &Graph, ship: &AfterShip, connector: &str) -> Host {
    let host = orders::sending_host(graph, &[("hubspot_token", ACCESS_TOKEN)]).await;
    crm::install_classifier(&host, "acme").await;
    crm::install_mapper(
        &host,
        "acme",
        "required = [\"phone\"]\npull_fields = [\"time_zone\"]\n",
    )
    .await;
    let config = format!(
        "base_url = \"{}\"\npull_settle_ms = 0\npull_properties = [\"time_zone\"]\n{connector}",
        hub.url()
    );
    let policy = crm::loopback_policy(hub.addr().port(), "hubspot_token", "Bearer ");
    crm::install_connector(&host, "acme", "hubspot-connector", &config, policy).await;
    orders::install_courier(&host, ship).await;
    orders::enable_order_status(&host).await;
    host
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn where_is_my_parcel_is_answered_and_each_move_is_told_once() {
        let (hub, graph, ship) = (HubSpot::start().await, Graph::start().await, AfterShip::start().await);
        hub.define_property("contacts", "time_zone");
        let contact = hub.create_contact(&[("firstname", "Mario"), ("lastname", "Rossi"), ("phone", E164)]);
        hub.create_order(&contact, &[("hs_order_name", "#1042"), ("hs_currency_code", "EUR"),
            ("hs_total_price", "59.8"), ("hs_fulfillment_status", "Shipped"),
            ("hs_shipping_tracking_number", NUMBER)], &[("SER-30", "Siero viso", 2.0, 29.9)]);
        ship.set("brt", NUMBER, "InTransit", "In Transit", Some(ESTIMATE));
        // Orders are not pulled here: the customer asks (the next test pulls them).
        let host = setup(&hub, &graph, &ship, "pull_orders = false\n").await;

        // The customer's first message links them to the HubSpot contact; the time
        // zone a salesperson then notes there comes back with a pull.
        crm::customer_writes(&host, "Mario", &[("wamid.hello", "Buongiorno")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        hub.sales_edit(&contact, &[("time_zone", "Europe/London")]);
        crm::pull(&host, "acme").await;

        // A proxy in front of AfterShip fails the first lookup: the event is retried.
        ship.fail_next(&[Fault::BadGateway]);
        crm::customer_writes(&host, "Mario", &[("wamid.where", "Ciao, dov'è il mio pacco?")]).await;
        let retried = eventually(|| async {
            let s = flow_status(&host).await;
            let waiting = s["waiting"].as_array().cloned().unwrap_or_default();
            Ok(waiting.into_iter().find(|j| j["kind"] == "message" && j["attempts"] == 1))
        })
        .await
        .expect("the failed lookup waits for a retry");
        assert!(retried["outcome"].as_str().unwrap_or_default().contains("502"), "{retried}");
        let all = sent_containing(&graph, "in viaggio").await;
        let answer = all.iter().find(|t| t.contains("in viaggio")).unwrap();
        assert!(answer.starts_with("Ciao Mario! Il tuo ordine #1042 è in viaggio."), "{answer}");
        // 14:30 in Rome is 13:30 in London: two hours either side, in London.
        assert!(answer.contains("Consegna prevista: 10/12 11:30–15:30."), "{answer}");
        assert!(answer.contains(LINK), "{answer}");
        let lookups = ship.requests();
        assert!(lookups.iter().all(|q| q["as-api-key"] == aftership::API_KEY), "{lookups:?}");
        assert_eq!(lookups.last().unwrap()["tracking_numbers"], NUMBER);

        // AfterShip rate-limits a poll: that poll waits for its retry, the watch goes on.
        ship.fail_next(&[Fault::RateLimited(1)]);
        let limited = eventually(|| async {
            let s = flow_status(&host).await;
            let waiting = s["waiting"].as_array().cloned().unwrap_or_default();
            Ok(waiting.into_iter().find(|j| j["kind"] == "timer" && j["attempts"] == 1))
        })
        .await
        .expect("the rate-limited poll waits for a retry");
        assert!(limited["outcome"].as_str().unwrap_or_default().contains("429"), "{limited}");

        // The parcel moves on: each new status is told once.
        ship.set("brt", NUMBER, "OutForDelivery", "Out for Delivery", Some(ESTIMATE));
        sent_containing(&graph, "in consegna oggi").await;
        ship.set("brt", NUMBER, "Delivered", "Delivered", None);
        let all = sent_containing(&graph, "consegnato").await;
        let notice = all.iter().find(|t| t.contains(": consegnato")).unwrap();
        assert!(notice.starts_with("Aggiornamento sul tuo ordine #1042: consegnato."), "{notice}");
        // Delivered ends the watch: no more polls, no repeated notices.
        let polls = ship.requests().len();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(ship.requests().len(), polls, "polling went on after delivery");
        let all = texts(&graph);
        for needle in ["in viaggio", "in consegna oggi", ": consegnato"] {
            assert_eq!(all.iter().filter(|t| t.contains(needle)).count(), 1, "{needle}: {all:#?}");
        }
        let s = flow_status(&host).await;
        assert!(s["waiting"].as_array().is_none_or(Vec::is_empty), "{s}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_shipped_in_the_crm_is_told_without_being_asked() {
        let (hub, graph, ship) = (HubSpot::start().await, Graph::start().await, AfterShip::start().await);
        hub.define_property("contacts", "time_zone");
        let contact = hub.create_contact(&[("firstname", "Mario"), ("lastname", "Rossi"), ("phone", E164)]);
        ship.set("brt", NUMBER, "InTransit", "In Transit", Some(ESTIMATE));
        let host = setup(&hub, &graph, &ship, "order_interval_ms = 0\n").await;
        crm::customer_writes(&host, "Mario", &[("wamid.hello", "Buongiorno")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;

        // The shop records an order, not shipped yet: the flow hears of it from the
        // pull, and has nothing to tell.
        let order = hub.create_order(&contact, &[("hs_order_name", "#1043"), ("hs_currency_code", "EUR"),
            ("hs_total_price", "29.9"), ("hs_fulfillment_status", "Processing")],
            &[("SER-30", "Siero viso", 1.0, 29.9)]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let pulled = crm::pull(&host, "acme").await;
        assert_eq!(pulled["orders"], 1, "{pulled}");
        let heard = eventually(|| async {
            let s = flow_status(&host).await;
            let recent = s["recent"].as_array().cloned().unwrap_or_default();
            Ok(recent.into_iter().find(|j| j["kind"] == "order"))
        })
        .await
        .expect("the CRM's order reaches the flow");
        let event: serde_json::Value = serde_json::from_str(heard["event"].as_str().unwrap()).unwrap();
        assert_eq!(event["source"], "crm", "{heard}");
        assert_eq!(event["id"], order.as_str(), "{heard}");
        assert!(ship.requests().is_empty(), "{:?}", ship.requests());

        // It ships: the tracking number set in HubSpot comes with the next pull, and
        // the customer is told once.
        hub.sales_edit_object("order", &order, &[("hs_fulfillment_status", "Shipped"),
            ("hs_shipping_tracking_number", NUMBER)]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let pulled = crm::pull(&host, "acme").await;
        assert_eq!(pulled["orders"], 1, "{pulled}");
        let all = sent_containing(&graph, "#1043").await;
        let notice = all.iter().find(|t| t.contains("#1043")).unwrap();
        assert!(notice.starts_with("Aggiornamento sul tuo ordine #1043: in viaggio."), "{notice}");
        assert!(notice.contains(LINK), "{notice}");

        // Nothing changed since: the next pull brings no order, nothing more is sent.
        let pulled = crm::pull(&host, "acme").await;
        assert_eq!(pulled["orders"], 0, "{pulled}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let told = texts(&graph).into_iter().filter(|t| t.contains("#1043")).count();
        assert_eq!(told, 1, "{:#?}", texts(&graph));
    }
}
