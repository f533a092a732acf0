//! Tenant-scoped API tokens: every `/v1/tenants/{id}/…` route, called with a token
//! of each role of another tenant, is refused before it runs; on its own tenant each
//! route admits exactly the roles its rule names; and ids guessed across tenants
//! (contacts, messages, conversations, outbox items, reviews, people, tokens) are
//! never read or changed through the token's own tenant.

use scrm::api::access::{Need, RULES};
use scrm_e2e::Host;
use scrm_e2e::crm::{self, CUSTOMER, PN};
use scrm_store::people::Role;
use serde_json::{Value, json};

/// A tenant's token with `role`, made by the operator.
async fn token(host: &Host, tenant: &str, role: Role) -> String {
    let v = host
        .ok(
            "POST",
            &format!("/v1/tenants/{tenant}/tokens"),
            Some(json!({"role": role.as_str(), "name": format!("{} test", role.as_str())})),
        )
        .await;
    v["token"].as_str().unwrap().to_string()
}

/// `path` with `{id}` as `tenant` and every other parameter as a value no row has.
fn concrete(path: &str, tenant: &str) -> String {
    path.replace("{id}", tenant)
        .replace("{slot}", "classifier")
        .replace("{name}", "nothing_here")
        .replace("{language}", "en")
        .replace("{metric}", "hot-words")
        .replace("{recipient}", "393470000000")
        .replace("{sha256}", &"0".repeat(64))
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "999999".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Calls `path` with `token`: its status and body (for the live event stream, only its
/// status and first event: the stream does not end).
async fn call(host: &Host, token: &str, method: &str, path: &str) -> (u16, Value) {
    if !path.ends_with("/inbox/events") {
        let (status, v) = host.api_as(token, method, path, None).await;
        return (status.as_u16(), v);
    }
    let mut resp = host
        .http
        .get(format!("{}{path}", host.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
        .await
        .expect("the stream answers at once")
        .unwrap()
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&first).to_string();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Calls every tenant route of `acme` with each of `globex`'s tokens (refused as
/// another tenant's), then each of `globex`'s routes with each role (refused below
/// the rule's role, admitted at or above it).
async fn every_route_is_scoped(host: &Host, globex: &[(Role, String)]) {
    let tenant_rules: Vec<_> = RULES
        .iter()
        .filter(|r| r.path.starts_with("/tenants/{id}"))
        .collect();
    assert!(tenant_rules.len() > 60, "{}", tenant_rules.len());
    for rule in &tenant_rules {
        let path = format!("/v1{}", concrete(rule.path, "acme"));
        for (role, t) in globex {
            let (status, v) = host.api_as(t, rule.method, &path, None).await;
            assert_eq!(status, 403, "{role:?} {} {path}: {v}", rule.method);
            assert_eq!(
                v["error"]["code"], "other_tenant",
                "{} {path}: {v}",
                rule.method
            );
        }
    }
    for rule in &tenant_rules {
        let Need::Role(needed) = rule.need else {
            panic!(
                "{} {} is a tenant route for the operator only",
                rule.method, rule.path
            );
        };
        let path = format!("/v1{}", concrete(rule.path, "globex"));
        for (role, t) in globex {
            let (status, v) = call(host, t, rule.method, &path).await;
            if *role < needed {
                assert_eq!(status, 403, "{role:?} {} {path}: {v}", rule.method);
                assert_eq!(v["error"]["code"], "insufficient_role", "{path}: {v}");
            } else {
                assert!(
                    status != 401 && status != 403 && status != 500,
                    "{role:?} {} {path}: {status} {v}",
                    rule.method
                );
            }
        }
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_i64())
        .collect()
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_token_never_reaches_another_tenant() {
        let host = Host::start().await;
        host.tenant("acme", &[PN], "IT").await;
        host.tenant("globex", &["106540352242999"], "IT").await;
        let mut globex = Vec::new();
        for role in Role::ALL {
            globex.push((role, token(&host, "globex", role).await));
        }
        every_route_is_scoped(&host, &globex).await;

        // acme has a customer, a conversation, a message, an outbox item, a review,
        // a person, a team and a token.
        crm::customer_writes(&host, "Mario", &[("wamid.scope1", "Buongiorno")]).await;
        let contacts = host.ok("GET", "/v1/tenants/acme/contacts", None).await;
        let contact = ids(&contacts)[0];
        let convs = host.ok("GET", "/v1/tenants/acme/conversations", None).await;
        let conv = ids(&convs)[0];
        let item = host
            .ok("POST", "/v1/tenants/acme/messages",
                Some(json!({"to": CUSTOMER, "type": "text", "text": {"body": "Ciao Mario"}})))
            .await["id"]
            .as_i64()
            .unwrap();
        let review = host
            .with_conn(move |c| {
                scrm_store::CrmRepo::add_review(c, "acme", &scrm_store::crm::NewReview {
                    kind: "conflict",
                    contact_id: contact,
                    field: Some("name"),
                    kept: Some((&json!("Mario"), "whatsapp", 1)),
                    lost: Some((&json!("Mariano"), "crm", 0)),
                    detail: json!({}),
                })
            })
            .await
            .unwrap();
        let person = host
            .ok("POST", "/v1/tenants/acme/people",
                Some(json!({"email": "giulia@acme.example", "name": "Giulia", "role": "agent"})))
            .await["id"]
            .as_i64()
            .unwrap();
        let team = host
            .ok("POST", "/v1/tenants/acme/teams", Some(json!({"name": "Vendite"})))
            .await["id"]
            .as_i64()
            .unwrap();
        let acme_admin = token(&host, "acme", Role::Admin).await;

        // globex's admin guesses those ids through its own tenant: nothing is found,
        // nothing changes.
        let admin = &globex[2].1;
        let h = &host;
        let get = |path: String| async move { h.api_as(admin, "GET", &path, None).await };
        let post = |path: String| async move { h.api_as(admin, "POST", &path, None).await };
        assert!(ids(&get("/v1/tenants/globex/contacts".into()).await.1).is_empty());
        assert!(ids(&get("/v1/tenants/globex/conversations".into()).await.1).is_empty());
        let (_, msgs) = get(format!("/v1/tenants/globex/messages?contact={contact}")).await;
        assert!(ids(&msgs).is_empty(), "{msgs}");
        assert!(ids(&get("/v1/tenants/globex/outbox".into()).await.1).is_empty());
        for (status, v) in [
            get(format!("/v1/tenants/globex/outbox/{item}")).await,
            post(format!("/v1/tenants/globex/outbox/{item}/cancel")).await,
            post(format!("/v1/tenants/globex/outbox/{item}/requeue")).await,
            post(format!("/v1/tenants/globex/conversations/{conv}/resolve")).await,
            post(format!("/v1/tenants/globex/crm/reviews/{review}/accept")).await,
            post(format!("/v1/tenants/globex/crm/reviews/{review}/revert")).await,
            post(format!("/v1/tenants/globex/people/{person}/disable")).await,
            get(format!("/v1/tenants/globex/inbox/conversations/{conv}")).await,
            h.api_as(admin, "POST", &format!("/v1/tenants/globex/inbox/conversations/{conv}/notes"),
                Some(json!({"body": "x"}))).await,
            h.api_as(admin, "POST", &format!("/v1/tenants/globex/inbox/conversations/{conv}/state"),
                Some(json!({"state": "resolved"}))).await,
            h.api_as(admin, "POST", &format!("/v1/tenants/globex/inbox/conversations/{conv}/messages"),
                Some(json!({"text": "x"}))).await,
            host.api_as(admin, "PUT", &format!("/v1/tenants/globex/teams/{team}/members/{person}"), None).await,
        ] {
            assert_eq!(status, 404, "{v}");
        }
        assert!(ids(&get("/v1/tenants/globex/crm/reviews".into()).await.1).is_empty());
        assert!(ids(&get("/v1/tenants/globex/people".into()).await.1).is_empty());
        let acme_tokens = host.ok("GET", "/v1/tenants/acme/tokens", None).await;
        for id in ids(&acme_tokens) {
            let (status, v) = post(format!("/v1/tenants/globex/tokens/{id}/revoke")).await;
            assert_eq!(status, 404, "{v}");
        }

        // acme's rows are as they were, and acme's own admin still works.
        let out = host.ok("GET", &format!("/v1/tenants/acme/outbox/{item}"), None).await;
        assert_ne!(out["state"], "cancelled", "{out}");
        let reviews = host.ok("GET", "/v1/tenants/acme/crm/reviews?state=open", None).await;
        assert_eq!(ids(&reviews), [review]);
        let people = host.api_as(&acme_admin, "GET", "/v1/tenants/acme/people", None).await.1;
        assert!(people["items"][0]["disabled_at"].is_null(), "{people}");
        assert_eq!(people["items"][0]["id"], person);
        let c = host.ok("GET", &format!("/v1/tenants/acme/inbox/conversations/{conv}"), None).await;
        assert_eq!(c["state"], "open", "{c}");
        assert!(c["notes"].as_array().unwrap().is_empty(), "{c}");
    }
}
