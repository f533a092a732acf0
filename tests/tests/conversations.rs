//! Conversations as people's work, over the inbox API with people's own tokens: a
//! responder's `assign` action hands conversations to a team by round-robin; agents
//! see their own and their team's (not unassigned ones, when the tenant says so, nor
//! another team's); a reply from the inbox reaches the local Cloud API with its
//! sender recorded; canned responses checked when saved and sent personalised; resolve, a customer's new message reopening, snooze, private
//! notes that are never sent, reassignment by a manager only, and agents away from
//! round-robin while they say so.

use scrm_e2e::crm::{self, PN};
use scrm_e2e::graph::Graph;
use scrm_e2e::orders::{sent_containing, texts};
use scrm_e2e::{Host, eventually, guest};
use serde_json::{Value, json};

const ANNA: &str = "393471111111";
const BRUNO: &str = "393472222222";
const CARLA: &str = "393473333333";

/// The conversations `token` sees, by the customer's WhatsApp id.
async fn seen(host: &Host, token: &str, query: &str) -> Vec<(String, Value)> {
    let (status, v) = host
        .api_as(
            token,
            "GET",
            &format!("/v1/tenants/acme/inbox/conversations{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["wa_id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

fn ids(list: &[(String, Value)]) -> Vec<&str> {
    let mut v: Vec<&str> = list.iter().map(|(w, _)| w.as_str()).collect();
    v.sort_unstable();
    v
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn agents_work_their_teams_conversations_and_nothing_else() {
        let graph = Graph::start().await;
        let host = crm::setup_sending_tenant(&graph, "acme", &[], 0).await;
        host.ok("PATCH", "/v1/tenants/acme", Some(json!({"agents_see_unassigned": false}))).await;
        let (vendite, assistenza) = (host.team("acme", "Vendite").await, host.team("acme", "Assistenza").await);
        let (giulia, giulia_t) = host.person_token("acme", "giulia@acme.example", "agent", Some(vendite)).await;
        let (luca, luca_t) = host.person_token("acme", "luca@acme.example", "agent", Some(vendite)).await;
        let (sara, sara_t) = host.person_token("acme", "sara@acme.example", "agent", Some(assistenza)).await;
        let (_, marta_t) = host.person_token("acme", "marta@acme.example", "manager", None).await;
        let rules = "[[rules]]\nwhen_keywords = [\"prezzo\"]\nassign = \"Vendite\"\n";
        host.install("acme", "responder", &guest("rule-responder"), Some(rules)).await;

        // Two price questions go to Vendite, one agent each by round-robin; a greeting
        // stays unassigned.
        crm::inbound(&host, PN, ANNA, Some("Anna"), &[("wamid.a1", "Qual è il prezzo?")]).await;
        crm::inbound(&host, PN, BRUNO, Some("Bruno"), &[("wamid.b1", "prezzo del siero?")]).await;
        crm::inbound(&host, PN, CARLA, Some("Carla"), &[("wamid.c1", "Buongiorno")]).await;
        let all = eventually(|| async {
            let all = seen(&host, &marta_t, "").await;
            let assigned = all.iter().filter(|(_, c)| c["assignee_team"].is_i64()).count();
            Ok((all.len() == 3 && assigned == 2).then_some(all))
        })
        .await
        .expect("the responder assigns both price questions");
        let conv = |w: &str| all.iter().find(|(x, _)| x == w).unwrap().1.clone();
        let (anna, bruno, carla) = (conv(ANNA), conv(BRUNO), conv(CARLA));
        assert_eq!(anna["assignee_team"], vendite);
        assert_eq!(bruno["assignee_team"], vendite);
        let mut people = [anna["assignee_person"].as_i64(), bruno["assignee_person"].as_i64()];
        people.sort_unstable();
        assert_eq!(people, [Some(giulia), Some(luca)], "round-robin: one each");
        assert!(carla["assignee_person"].is_null() && carla["assignee_team"].is_null());
        assert_eq!(carla["unread"], 1);
        assert!(carla["window_left_s"].as_i64().unwrap() > 86_000, "{carla}");

        // Agents see their team's conversations, not the unassigned one (the tenant
        // said so), not another team's.
        assert_eq!(ids(&seen(&host, &giulia_t, "").await), [ANNA, BRUNO]);
        assert_eq!(ids(&seen(&host, &luca_t, "?assignee=me").await).len(), 1);
        assert!(seen(&host, &sara_t, "").await.is_empty());
        let anna_id = anna["id"].as_i64().unwrap();
        let path = |id: i64, rest: &str| format!("/v1/tenants/acme/inbox/conversations/{id}{rest}");
        for (method, rest, body) in [
            ("GET", "", None),
            ("POST", "/messages", Some(json!({"text": "Ciao Anna"}))),
            ("POST", "/notes", Some(json!({"body": "guardo io"}))),
            ("POST", "/state", Some(json!({"state": "resolved"}))),
        ] {
            let (status, v) = host.api_as(&sara_t, method, &path(anna_id, rest), body).await;
            assert_eq!(status, 404, "{method} {rest}: {v}");
        }
        let (status, v) = host.api_as(&giulia_t, "GET", "/v1/tenants/acme/messages", None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (403, Some("insufficient_role")));

        // Anna's agent answers from the inbox: it reaches WhatsApp, with its sender.
        let (mine, other) = if anna["assignee_person"] == giulia { (&giulia_t, &luca_t) } else { (&luca_t, &giulia_t) };
        let me = if anna["assignee_person"] == giulia { giulia } else { luca };
        let (status, item) = host
            .api_as(mine, "POST", &path(anna_id, "/messages"), Some(json!({"text": "Ciao Anna, costa 29,90 €"})))
            .await;
        assert_eq!(status, 202, "{item}");
        sent_containing(&graph, "costa 29,90").await;
        let detail = eventually(|| async {
            let (_, d) = host.api_as(mine, "GET", &path(anna_id, ""), None).await;
            let sent = d["messages"].as_array().unwrap().iter()
                .any(|m| m["direction"] == "outbound" && m["source"] == format!("inbox person:{me}"));
            Ok(sent.then_some(d))
        })
        .await
        .expect("the reply is in the conversation with its sender");
        assert_eq!(detail["unread"], 0, "{detail}");

        // A canned response, checked when saved, found by its shortcut, previewed and
        // sent personalised.
        let (status, v) = host
            .api_as(&marta_t, "PUT", "/v1/tenants/acme/canned/nick",
                Some(json!({"body": "Ciao {{ contact.nickname }}"})))
            .await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_template")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("contact.nickname"), "{v}");
        let body = "Ciao {{ contact.first_name | default(\"\") }}, la spedizione è gratuita sopra i 49 €.";
        let (status, v) = host
            .api_as(&marta_t, "PUT", "/v1/tenants/acme/canned/spedizione",
                Some(json!({"title": "Spedizione", "body": body})))
            .await;
        assert_eq!(status, 200, "{v}");
        let (status, _) = host
            .api_as(mine, "PUT", "/v1/tenants/acme/canned/x", Some(json!({"body": "x"})))
            .await;
        assert_eq!(status, 403, "agents do not edit canned responses");
        let (_, found) = host.api_as(mine, "GET", "/v1/tenants/acme/canned?q=/sped", None).await;
        assert_eq!(found["items"][0]["shortcut"], "spedizione", "{found}");
        let (_, preview) = host
            .api_as(mine, "POST", &path(anna_id, "/preview"), Some(json!({"canned": "spedizione"})))
            .await;
        assert_eq!(preview["text"], "Ciao Anna, la spedizione è gratuita sopra i 49 €.", "{preview}");
        let (status, v) = host
            .api_as(mine, "POST", &path(anna_id, "/messages"), Some(json!({"canned": "/spedizione"})))
            .await;
        assert_eq!(status, 202, "{v}");
        sent_containing(&graph, "Ciao Anna, la spedizione").await;

        // A private note stays in scrm.
        let (status, note) = host
            .api_as(mine, "POST", &path(anna_id, "/notes"), Some(json!({"body": "vuole lo sconto"})))
            .await;
        assert_eq!(status, 201, "{note}");
        assert_eq!(note["author"], format!("person:{me}"));
        let (_, d) = host.api_as(other, "GET", &path(anna_id, ""), None).await;
        assert_eq!(d["notes"][0]["body"], "vuole lo sconto", "the team sees it");
        assert!(texts(&graph).iter().all(|t| !t.contains("sconto")));

        // Resolved, then reopened by Anna's next message.
        let (status, d) = host
            .api_as(mine, "POST", &path(anna_id, "/state"), Some(json!({"state": "resolved"})))
            .await;
        assert_eq!((status.as_u16(), d["state"].as_str()), (200, Some("resolved")), "{d}");
        assert_eq!(ids(&seen(&host, mine, "?state=resolved").await), [ANNA]);
        crm::inbound(&host, PN, ANNA, Some("Anna"), &[("wamid.a2", "Grazie, e la spedizione?")]).await;
        eventually(|| async {
            let (_, d) = host.api_as(mine, "GET", &path(anna_id, ""), None).await;
            Ok((d["state"] == "open").then_some(()))
        })
        .await
        .expect("a new message reopens the conversation");

        // Snoozed until later; a snooze in the past is refused.
        let bruno_id = bruno["id"].as_i64().unwrap();
        let later = scrm_store::now_ms() + 3_600_000;
        let (status, v) = host
            .api_as(&marta_t, "POST", &path(bruno_id, "/state"), Some(json!({"state": "snoozed", "until": 1})))
            .await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_until")), "{v}");
        let (_, d) = host
            .api_as(&marta_t, "POST", &path(bruno_id, "/state"), Some(json!({"state": "snoozed", "until": later})))
            .await;
        assert_eq!((d["state"].as_str(), d["snoozed_until"].as_i64()), (Some("snoozed"), Some(later)));

        // An agent cannot hand a conversation to someone else; the manager can.
        let carla_id = carla["id"].as_i64().unwrap();
        let (status, v) = host
            .api_as(&giulia_t, "POST", &path(anna_id, "/assign"), Some(json!({"person": sara})))
            .await;
        assert_eq!(status, 403, "{v}");
        let (status, d) = host
            .api_as(&marta_t, "POST", &path(carla_id, "/assign"), Some(json!({"team": assistenza, "round_robin": true})))
            .await;
        assert_eq!(status, 200, "{d}");
        assert_eq!((d["assignee_team"].as_i64(), d["assignee_person"].as_i64()), (Some(assistenza), Some(sara)));
        assert_eq!(ids(&seen(&host, &sara_t, "").await), [CARLA]);
        let (status, _) = host.api_as(&giulia_t, "GET", &path(carla_id, ""), None).await;
        assert_eq!(status, 404);

        // Agents say when they are away (their own availability only): round-robin
        // passes them by, and the conversation waits for the team.
        let away = |who: i64| format!("/v1/tenants/acme/people/{who}/available");
        let (status, v) = host.api_as(&giulia_t, "PUT", &away(sara), Some(json!({"available": false}))).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (403, Some("insufficient_role")), "{v}");
        let (status, v) = host.api_as(&sara_t, "PUT", &away(sara), Some(json!({"available": false}))).await;
        assert_eq!((status.as_u16(), v["available"].as_bool()), (200, Some(false)), "{v}");
        let (_, d) = host
            .api_as(&marta_t, "POST", &path(carla_id, "/assign"), Some(json!({"team": assistenza, "round_robin": true})))
            .await;
        assert_eq!((d["assignee_team"].as_i64(), d["assignee_person"].as_i64()), (Some(assistenza), None), "{d}");
        let (status, v) = host.api_as(&marta_t, "PUT", &away(sara), Some(json!({"available": true}))).await;
        assert_eq!((status.as_u16(), v["available"].as_bool()), (200, Some(true)), "{v}");
        let (_, d) = host
            .api_as(&marta_t, "POST", &path(carla_id, "/assign"), Some(json!({"team": assistenza, "round_robin": true})))
            .await;
        assert_eq!(d["assignee_person"].as_i64(), Some(sara), "{d}");
    }
}
