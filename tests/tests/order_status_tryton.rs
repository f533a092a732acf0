//! The Tryton connector's order lookup against a real trytond (`sale` and
//! `stock_package_shipping` activated, tests/src/tryton.rs): the customer's party
//! gets a sale that is processed and shipped with a carrier and a tracking number,
//! and "dov'è il mio ordine?" is answered by the `order-status` flow from that
//! sale (its number, its tracking number asked of the local AfterShip with the
//! carrier's slug), with the delivery window in the flow's default zone.

use scrm_e2e::aftership::AfterShip;
use scrm_e2e::crm::{self, E164};
use scrm_e2e::graph::Graph;
use scrm_e2e::orders::{self, sent_containing};
use scrm_e2e::tryton::Tryton;
use std::time::Duration;

const NUMBER: &str = "TRY0001234IT";

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_latest_tryton_sale_and_its_shipment_answer_where_is_my_order() {
        let tryton = tokio::task::spawn_blocking(Tryton::start)
            .await
            .unwrap()
            .expect("start Tryton");
        let (graph, ship) = (Graph::start().await, AfterShip::start().await);
        let host = orders::sending_host(&graph, &[("tryton_key", &tryton.key)]).await;
        crm::install_mapper(&host, "acme", "contact_object = \"party\"\nrequired = [\"phone\"]\n").await;
        let port = tryton.base.rsplit(':').next().unwrap().parse().unwrap();
        crm::install_connector(
            &host,
            "acme",
            "tryton-connector",
            &format!("url = \"{}\"\ndb = \"{}\"\n[carriers]\n\"BRT\" = \"brt\"\n", tryton.base, tryton.db),
            crm::loopback_policy(port, "tryton_key", "Bearer "),
        )
        .await;
        orders::install_courier(&host, &ship).await;
        orders::enable_order_status(&host).await;

        // The customer's first message makes their party in Tryton; the shop then
        // sells them two products and ships them with BRT.
        crm::customer_writes(&host, "Mario Rossi", &[("wamid.hello", "Buongiorno")]).await;
        crm::synced(&host, "acme", Duration::from_secs(60)).await;
        let party = tryton.find_party_by_phone(E164).await.unwrap().expect("the party");
        let older = tryton
            .shipped_sale(party, &[("CRM-50", "Crema", 1.0, "24.50")], "BRT", "OLD0000001IT")
            .await
            .expect("an older sale");
        let sale = tryton
            .shipped_sale(party, &[("SER-30", "Siero viso", 2.0, "19.90")], "BRT", NUMBER)
            .await
            .unwrap_or_else(|e| panic!("record the sale: {e:#}\n{}", tryton.log()));
        assert_ne!(older.number, sale.number);
        ship.set("brt", NUMBER, "InTransit", "In Transit", Some("2026-12-10T14:30:00+01:00"));

        crm::customer_writes(&host, "Mario Rossi", &[("wamid.where", "Dov'è il mio ordine?")]).await;
        let all = sent_containing(&graph, "in viaggio").await;
        let answer = all.iter().find(|t| t.contains("in viaggio")).unwrap();
        assert!(
            answer.starts_with(&format!("Ciao Mario! Il tuo ordine {} è in viaggio.", sale.number)),
            "{answer}"
        );
        // No time zone on the contact: the flow's default, Europe/Rome.
        assert!(answer.contains("Consegna prevista: 10/12 12:30–16:30."), "{answer}");
        assert!(answer.contains(NUMBER), "{answer}");
        let lookup = ship.requests().last().cloned().unwrap();
        assert_eq!(lookup["tracking_numbers"], NUMBER);
        assert_eq!(lookup["slug"], "brt", "the carrier's slug from Tryton");
    }
}
