//! The webhook relay, end to end: signed webhooks into scrm → stored → relayed to
//! an existing pywa bot (pywa from PyPI, checking the signature with its own app
//! secret and parsing with its own handlers), in order per contact, retried while
//! the bot is down, dead-lettered and re-queued.

use reqwest::StatusCode;
use scrm_e2e::{APP_SECRET, Host, eventually};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;

const PN: &str = "100200300";
const OTHER_PN: &str = "100200399";
const ALICE: &str = "393471234567";
const BOB: &str = "393471234568";
const BOT_SECRET: &str = "the-bots-own-app-secret";

/// A pywa bot listening on loopback; what it printed so far.
struct Bot {
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
    _child: tokio::process::Child,
}

impl Bot {
    /// Starts the bot; it answers 500 to its first `fail` requests.
    async fn start(fail: u32) -> Bot {
        let venv = tokio::task::spawn_blocking(scrm_e2e::pywa::install)
            .await
            .unwrap()
            .unwrap();
        let script = scrm_e2e::repo_root().join("tests/pywa/relay_receiver.py");
        let mut child = tokio::process::Command::new(venv.join("bin/python"))
            .arg(script)
            .args([BOT_SECRET, PN, &fail.to_string()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = out
            .next_line()
            .await
            .unwrap()
            .expect("the bot says where it listens");
        let port = first.strip_prefix("listening ").expect("listening PORT");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Bot {
            url: format!("http://127.0.0.1:{port}/"),
            lines,
            _child: child,
        }
    }

    /// The messages pywa handled, in order, once there are `n`.
    async fn messages(&self, n: usize) -> Vec<Value> {
        let got = eventually(|| async {
            let lines = self.lines.lock().unwrap().clone();
            let msgs: Vec<Value> = lines
                .into_iter()
                .filter(|l| l.get("message").is_some())
                .collect();
            Ok((msgs.len() >= n).then_some(msgs))
        })
        .await;
        got.unwrap_or_else(|e| {
            panic!(
                "the bot handled fewer than {n} messages: {e}; {:?}",
                self.lines.lock().unwrap()
            )
        })
    }
}

async fn relayed_host(dir: &std::path::Path, max_attempts: u32) -> Host {
    let host = Host::start_configured(dir, |s| {
        s.relay.backoff_base_ms = 50;
        s.relay.backoff_max_ms = 200;
        s.relay.max_attempts = max_attempts;
    })
    .await;
    host.tenant("acme", &[PN], "IT").await;
    host.tenant("globex", &[OTHER_PN], "IT").await;
    host
}

async fn set_relay(host: &Host, url: &str) {
    host.ok(
        "PUT",
        "/v1/tenants/acme/relay",
        Some(json!({"url": url, "app_secret": BOT_SECRET})),
    )
    .await;
}

async fn post(host: &Host, body: &[u8]) {
    let (status, _) = host.post_signed(body, APP_SECRET).await;
    assert_eq!(status, StatusCode::OK);
}

/// One change: `from` writes `text` to number `pn`, as Meta sends it today (with
/// the business-scoped user id, which pywa requires).
fn change(pn: &str, from: &str, id: &str, text: &str) -> Value {
    let user = format!("US.{from}");
    json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": pn},
        "contacts": [{"profile": {"name": "Customer"}, "wa_id": from, "user_id": user}],
        "messages": [{"from": from, "from_user_id": user, "id": id, "timestamp": "1750000000",
                      "type": "text", "text": {"body": text}}]}})
}

fn webhook(changes: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": changes}]}))
    .unwrap()
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn an_existing_pywa_bot_gets_what_meta_sent_in_order_while_it_was_down() {
        let dir = tempfile::tempdir().unwrap();
        let host = relayed_host(dir.path(), 12).await;
        let bot = Bot::start(1).await;
        set_relay(&host, &bot.url).await;
        post(&host, &webhook(vec![change(PN, ALICE, "wamid.a1", "first")])).await;
        post(&host, &webhook(vec![change(PN, ALICE, "wamid.a2", "second")])).await;
        // One body for acme's number and globex's: acme's bot gets only its own.
        let mixed = vec![change(PN, BOB, "wamid.b1", "hello"),
                         change(OTHER_PN, "393470000009", "wamid.g1", "for globex")];
        post(&host, &webhook(mixed)).await;

        let msgs = bot.messages(3).await;
        let ids: Vec<&str> = msgs.iter().map(|m| m["message"].as_str().unwrap()).collect();
        let a1 = ids.iter().position(|i| *i == "wamid.a1").expect("a1 relayed");
        let a2 = ids.iter().position(|i| *i == "wamid.a2").expect("a2 relayed");
        assert!(a1 < a2, "a contact's webhooks keep their order, even after a retry: {ids:?}");
        assert!(ids.contains(&"wamid.b1"), "{ids:?}");
        assert!(!ids.contains(&"wamid.g1"), "another tenant's message is never relayed: {ids:?}");
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(bot.lines.lock().unwrap().iter().all(|l| l.get("refused").is_none()));

        // What scrm stored is what it relayed, and the relay's record says so.
        assert_eq!(host.messages("acme").await.len(), 3);
        let relay = host.ok("GET", "/v1/tenants/acme/relay", None).await;
        assert_eq!(relay["deliveries"]["delivered"], 3, "{relay}");
        assert_eq!(relay["url"], bot.url.as_str());
        let done = host.all("/v1/tenants/acme/relay/deliveries?state=delivered").await;
        let mut attempts: Vec<i64> = done.iter().map(|d| d["attempts"].as_i64().unwrap()).collect();
        attempts.sort();
        assert_eq!(attempts, [1, 1, 2], "the first request was refused once: {done:?}");
        let mut keys: Vec<&str> = done.iter().map(|d| d["ordering"].as_str().unwrap()).collect();
        keys.sort();
        assert_eq!(keys, [ALICE, ALICE, BOB], "ordered per contact");
    }

    #[tokio::test]
    async fn a_delivery_the_app_keeps_refusing_is_dead_until_requeued_and_bad_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let host = relayed_host(dir.path(), 2).await;
        let bot = Bot::start(2).await;

        let (status, v) = host.api("PUT", "/v1/tenants/acme/relay",
            Some(json!({"url": "ftp://bot", "app_secret": BOT_SECRET}))).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_url")), "{v}");
        let (status, v) = host.api("GET", "/v1/tenants/globex/relay", None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (404, Some("relay_not_set")), "{v}");

        set_relay(&host, &bot.url).await;
        post(&host, &webhook(vec![change(PN, ALICE, "wamid.d1", "are you there?")])).await;
        let dead = eventually(|| async {
            let dead = host.all("/v1/tenants/acme/relay/deliveries?state=dead").await;
            Ok((!dead.is_empty()).then_some(dead))
        })
        .await
        .expect("dead after two refusals");
        assert_eq!(dead[0]["attempts"], 2);
        assert_eq!(dead[0]["last_status"], 500);
        let id = dead[0]["id"].as_i64().unwrap();

        let path = format!("/v1/tenants/acme/relay/deliveries/{id}/requeue");
        host.ok("POST", &path, None).await;
        let msgs = bot.messages(1).await;
        assert_eq!(msgs[0]["message"], "wamid.d1");
        assert_eq!(msgs[0]["text"], "are you there?");
        let (status, v) = host.api("POST", &path, None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (409, Some("not_dead")), "{v}");
    }
}
