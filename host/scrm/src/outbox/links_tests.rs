//! Tests of tracked links: the rewriting on its own, then queued sends against a
//! real store (SQLite and PostgreSQL, see `scrm_store::testing`).

use super::SendDefaults;
use super::enqueue::enqueue_checked;
use super::links::{is_preview_fetcher, is_token, new_token, record_click, rewrite};
use crate::config::PublicUrl;
use scrm_store::links::NewLink;
use scrm_store::{LinkRepo, Store, now_ms};
use scrm_wire::outbound;
use serde_json::json;

const BASE: &str = "https://crm.example.com";

fn base() -> PublicUrl {
    PublicUrl::parse(BASE).unwrap()
}

/// Tokens `tok0`, `tok1`, … in order.
fn counter() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("tok{}", n - 1)
    }
}

fn tracked(token: &str) -> String {
    format!("{BASE}/l/{token}")
}

fn urls(links: &[NewLink]) -> Vec<(&str, &str)> {
    links
        .iter()
        .map(|l| (l.token.as_str(), l.url.as_str()))
        .collect()
}

#[test]
fn rewrites_every_url_of_a_text_and_keeps_the_punctuation_around_them() {
    let mut body = json!({"type": "text", "text": {"body":
        "New in: https://shop.example/a, and (https://shop.example/b?c=1&d=2). See http://x.example/path!"}});
    let links = rewrite(&mut body, "text", &base(), counter());
    assert_eq!(
        urls(&links),
        [
            ("tok0", "https://shop.example/a"),
            ("tok1", "https://shop.example/b?c=1&d=2"),
            ("tok2", "http://x.example/path"),
        ]
    );
    assert_eq!(
        body["text"]["body"],
        format!(
            "New in: {}, and ({}). See {}!",
            tracked("tok0"),
            tracked("tok1"),
            tracked("tok2")
        )
    );
}

#[test]
fn one_url_written_twice_in_a_message_gets_one_token() {
    let mut body =
        json!({"text": {"body": "https://shop.example/sale or https://shop.example/sale."}});
    let links = rewrite(&mut body, "text", &base(), counter());
    assert_eq!(urls(&links), [("tok0", "https://shop.example/sale")]);
    assert_eq!(
        body["text"]["body"],
        format!("{} or {}.", tracked("tok0"), tracked("tok0"))
    );
}

#[test]
fn leaves_tracked_links_other_schemes_and_bare_domains_alone() {
    let text = format!(
        "Already {} and mailto:ops@shop.example, ftp://files.example/x, www.shop.example, ops@shop.example",
        tracked("abcdefghijklmnopqrstuv")
    );
    let mut body = json!({"text": {"body": text}});
    let links = rewrite(&mut body, "text", &base(), counter());
    assert!(links.is_empty(), "{links:?}");
    assert_eq!(body["text"]["body"], text);
}

#[test]
fn rewrites_a_template_url_button_parameter_only_when_it_is_a_whole_url() {
    let mut body = json!({"type": "template", "template": {"name": "promo", "language": {"code": "en"},
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "https://shop.example/in-body"}]},
        {"type": "button", "sub_type": "url", "index": "0",
         "parameters": [{"type": "text", "text": "https://shop.example/cart?id=7"}]},
        {"type": "button", "sub_type": "url", "index": "1",
         "parameters": [{"type": "text", "text": "orders/42"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "2",
         "parameters": [{"type": "payload", "payload": "https://shop.example/not-a-link"}]}
    ]}});
    let links = rewrite(&mut body, "template", &base(), counter());
    assert_eq!(urls(&links), [("tok0", "https://shop.example/cart?id=7")]);
    let c = &body["template"]["components"];
    assert_eq!(c[1]["parameters"][0]["text"], tracked("tok0"));
    assert_eq!(
        c[2]["parameters"][0]["text"], "orders/42",
        "a suffix of the approved base URL"
    );
    assert_eq!(
        c[0]["parameters"][0]["text"],
        "https://shop.example/in-body"
    );
    assert_eq!(
        c[3]["parameters"][0]["payload"],
        "https://shop.example/not-a-link"
    );
}

#[test]
fn rewrites_an_interactive_messages_texts_and_its_cta_url() {
    let mut body = json!({"type": "interactive", "interactive": {"type": "cta_url",
        "header": {"type": "text", "text": "https://h.example/"},
        "body": {"text": "Track it at https://shop.example/track/9."},
        "footer": {"text": "Help: https://f.example"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Open https://d.example",
                                                      "url": "https://shop.example/order/9"}}}});
    let links = rewrite(&mut body, "interactive", &base(), counter());
    assert_eq!(links.len(), 4, "{links:?}");
    let i = &body["interactive"];
    assert_eq!(
        i["body"]["text"],
        format!("Track it at {}.", tracked("tok0"))
    );
    assert_eq!(i["footer"]["text"], format!("Help: {}", tracked("tok1")));
    assert_eq!(i["header"]["text"], tracked("tok2"));
    assert_eq!(i["action"]["parameters"]["url"], tracked("tok3"));
    assert_eq!(
        i["action"]["parameters"]["display_text"], "Open https://d.example",
        "the button's label is not a link"
    );
    assert_eq!(links[3].url, "https://shop.example/order/9");
}

#[test]
fn keeps_a_field_whose_tracked_text_would_pass_metas_limit() {
    // A footer takes 60 characters: this one fits with its link, not with a tracked one.
    let long = PublicUrl::parse("https://links.a-rather-long-host-name.example.com").unwrap();
    let footer = "Shop: https://s.example/x";
    let mut body = json!({"interactive": {"type": "button", "body": {"text": "https://s.example/y"},
        "footer": {"text": footer}, "action": {"buttons": []}}});
    let links = rewrite(&mut body, "interactive", &long, counter());
    assert_eq!(urls(&links), [("tok0", "https://s.example/y")]);
    assert_eq!(body["interactive"]["footer"]["text"], footer);
    let mut text = json!({"text": {"body": format!("{} https://s.example/z", "x".repeat(4070))}});
    assert!(rewrite(&mut text, "text", &base(), counter()).is_empty());
}

#[test]
fn other_message_types_are_left_as_they_are() {
    let mut body = json!({"type": "image", "image": {"link": "https://cdn.example/a.jpg",
                                                     "caption": "https://shop.example/a"}});
    let before = body.clone();
    assert!(rewrite(&mut body, "image", &base(), counter()).is_empty());
    assert_eq!(body, before);
}

#[test]
fn tokens_are_22_url_safe_characters_and_never_repeat() {
    let tokens: std::collections::HashSet<String> = (0..1000).map(|_| new_token()).collect();
    assert_eq!(tokens.len(), 1000);
    assert!(tokens.iter().all(|t| is_token(t)), "{tokens:?}");
    for bad in [
        "",
        "short",
        "abcdefghijklmnopqrstu!",
        "abcdefghijklmnopqrstuvw",
        "abc/efghijklmnopqrstuv",
    ] {
        assert!(!is_token(bad), "{bad}");
    }
}

#[test]
fn link_preview_fetchers_are_recognised_and_browsers_are_not() {
    for bot in [
        "WhatsApp/2.23.20.0 A",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "TelegramBot (like TwitterBot)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ] {
        assert!(is_preview_fetcher(bot), "{bot}");
    }
    for person in [
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    ] {
        assert!(!is_preview_fetcher(person), "{person}");
    }
}

// --- Queued sends, on a real store -------------------------------------------------

const PN: &str = "100";
const ALICE: &str = "393471234567";

/// A store of each backend with tenants `acme` and `beta`, and Alice writing to
/// `acme` just now (its 24-hour window is open).
fn stores() -> Vec<scrm_store::testing::TestDb> {
    let all = scrm_store::testing::backends();
    for t in &all {
        t.db.with_conn(|c| {
            scrm_store::AppRepo::insert(c, "app", "secret", "verify")?;
            for (id, pn) in [("acme", PN), ("beta", "200")] {
                scrm_store::TenantRepo::insert(
                    c,
                    &scrm_store::tenants::NewTenant {
                        id: id.into(),
                        app_id: "app".into(),
                        phone_number_ids: vec![pn.into()],
                        default_region: "IT".into(),
                    },
                )?;
            }
            let facts = scrm_store::contacts::ContactFacts {
                wa_id: Some(ALICE.into()),
                phone: Some(format!("+{ALICE}")),
                ..Default::default()
            };
            let contact = scrm_store::ContactRepo::upsert(c, "acme", &facts)?.id;
            c.execute(
                "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at,
                                            last_message_at, last_inbound_at)
                 VALUES ('acme', ?1, ?2, ?3, ?3, ?3)",
                scrm_store::params![contact, PN, now_ms()],
            )?;
            Ok(())
        })
        .unwrap();
    }
    all
}

fn defaults(public_url: Option<&str>) -> SendDefaults {
    SendDefaults {
        public_url: public_url.map(|u| PublicUrl::parse(u).unwrap()),
        ..SendDefaults::default()
    }
}

/// Queues a text to Alice with `key`; the stored row's body text, id and whether it
/// was new.
fn send_text(
    c: &dyn Store,
    text: &str,
    key: Option<&str>,
    defaults: &SendDefaults,
) -> (String, i64, bool) {
    let checked = outbound::check(json!({"to": ALICE, "type": "text", "text": {"body": text}}))
        .expect("a valid body");
    let (item, created) = enqueue_checked(c, "acme", checked, key, "api", defaults)
        .unwrap_or_else(|e| panic!("not queued: {e}"));
    let body = item.body["text"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (body, item.id, created)
}

#[test]
fn a_queued_send_is_stored_with_its_tracked_links_and_the_click_finds_them() {
    for t in stores() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            let d = defaults(Some(BASE));
            let (body, id, _) = send_text(c, "Your cart: https://shop.example/cart/7", None, &d);
            let links = LinkRepo::for_outbox(c, "acme", id)?;
            assert_eq!(links.len(), 1);
            assert_eq!(links[0].url, "https://shop.example/cart/7");
            assert_eq!(links[0].recipient, ALICE);
            assert_eq!(body, format!("Your cart: {}", tracked(&links[0].token)));
            assert!(is_token(&links[0].token));

            let click = record_click(c, &links[0].token, Some("Mozilla/5.0"), 42)?.expect("known");
            assert_eq!(
                (click.url.as_str(), click.outbox_id),
                ("https://shop.example/cart/7", id)
            );
            assert!(click.contact_id.is_some(), "Alice is a known contact");
            assert_eq!(record_click(c, "AAAAAAAAAAAAAAAAAAAAAA", None, 43)?, None);
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn a_send_queued_again_with_its_idempotency_key_makes_no_new_links() {
    for t in stores() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            let d = defaults(Some(BASE));
            let text = "https://shop.example/a and https://shop.example/b";
            let (first, id, created) = send_text(c, text, Some("k1"), &d);
            assert!(created);
            let (again, same, created) = send_text(c, text, Some("k1"), &d);
            assert!(!created);
            assert_eq!(
                (again, same),
                (first, id),
                "the stored send, with its links"
            );
            assert_eq!(LinkRepo::for_outbox(c, "acme", id)?.len(), 2);
            let total: i64 =
                c.query_one("SELECT count(*) FROM links", scrm_store::params![], |r| {
                    r.get(0)
                })?;
            assert_eq!(total, 2);
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn links_are_sent_as_written_without_public_url_or_when_the_tenant_turned_tracking_off() {
    for t in stores() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            let text = "https://shop.example/a";
            let (body, id, _) = send_text(c, text, None, &defaults(None));
            assert_eq!(body, text);
            assert!(LinkRepo::for_outbox(c, "acme", id)?.is_empty());
            LinkRepo::set_tracking(c, "acme", false)?;
            let (body, id, _) = send_text(c, text, None, &defaults(Some(BASE)));
            assert_eq!(body, text);
            assert!(LinkRepo::for_outbox(c, "acme", id)?.is_empty());
            LinkRepo::set_tracking(c, "acme", true)?;
            let (body, _, _) = send_text(c, text, None, &defaults(Some(BASE)));
            assert!(body.starts_with(&format!("{BASE}/l/")), "{body}");
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn a_refused_send_stores_no_links() {
    for t in stores() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            // Bob never wrote: a free-form text to him is refused, and nothing is kept.
            let checked = outbound::check(
                json!({"to": "393471234568", "type": "text", "text": {"body": "https://shop.example/a"}}),
            )
            .unwrap();
            let refused = enqueue_checked(c, "acme", checked, None, "api", &defaults(Some(BASE)));
            assert!(refused.is_err());
            let total: i64 =
                c.query_one("SELECT count(*) FROM links", scrm_store::params![], |r| r.get(0))?;
            assert_eq!(total, 0);
            Ok(())
        })
        .unwrap();
    }
}
