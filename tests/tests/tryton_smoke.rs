//! A real Tryton 8.2 server: every REST call the Tryton connector relies on, on
//! the wire, with the shapes it answers.

use reqwest::{Method, StatusCode};
use scrm_e2e::tryton::{Tryton, datetime, datetime_to_iso, encode_param};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn tryton_rest_round_trip() {
    let crm = Tryton::start().expect("start tryton");

    // The key is a bearer token; without it (or with a wrong one) 401.
    let (status, _) = crm
        .call(Method::GET, "party.party", None)
        .await
        .expect("call");
    assert_eq!(status, StatusCode::OK);
    let anon = crm
        .http
        .get(format!("{}/party.party", crm.rest_url()))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let wrong = crm
        .http
        .get(format!("{}/party.party", crm.rest_url()))
        .bearer_auth("not-the-key")
        .send()
        .await
        .expect("wrong key");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // Create a party with a mobile contact mechanism; the answer holds the fields
    // asked for with f=.
    let created = crm
        .ok(
            Method::POST,
            "party.party?f=name&f=contact_mechanisms.type&f=contact_mechanisms.value\
             &f=contact_mechanisms.value_compact&f=create_date&f=write_date",
            Some(&json!({
                "name": "Alice Example",
                "contact_mechanisms": [["create", [{"type": "mobile", "value": "+4915112345678"}]]],
            })),
        )
        .await
        .expect("create party");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["__name__"], "party.party");
    assert_eq!(created["name"], "Alice Example");
    let mechanism = &created["contact_mechanisms"][0];
    assert_eq!(mechanism["__name__"], "party.contact_mechanism");
    assert_eq!(mechanism["type"], "mobile");
    assert_eq!(mechanism["value_compact"], "+4915112345678");
    assert_eq!(mechanism["value"], "+49 1511 2345678", "value is formatted");
    assert_eq!(created["create_date"]["__class__"], "datetime");
    let created_at = datetime_to_iso(&created["create_date"]).expect("create_date");

    // Without f=, only id, __name__ and rec_name.
    let bare = crm
        .ok(Method::GET, &format!("party.party/{id}"), None)
        .await
        .expect("read");
    assert_eq!(
        bare,
        json!({"__name__": "party.party", "id": id, "rec_name": "Alice Example"})
    );

    // Find it by the E.164 number.
    assert_eq!(
        crm.find_party_by_phone("+4915112345678")
            .await
            .expect("find"),
        Some(id)
    );
    assert_eq!(
        crm.find_party_by_phone("+4915100000000")
            .await
            .expect("find"),
        None
    );
    let raw = crm
        .ok(
            Method::GET,
            &format!(
                "party.party?d={}&f=name",
                encode_param(&json!([[
                    "contact_mechanisms.value_compact",
                    "=",
                    "+4915112345678"
                ]]))
            ),
            None,
        )
        .await
        .expect("search");
    assert_eq!(
        raw,
        json!([{"__name__": "party.party", "id": id, "name": "Alice Example"}])
    );

    // A note attached to the party.
    let note = crm
        .ok(
            Method::POST,
            "ir.note?f=message&f=resource",
            Some(&json!({"resource": format!("party.party,{id}"), "message": "Wants a quote"})),
        )
        .await
        .expect("create note");
    assert_eq!(note["resource"], format!("party.party,{id}"));
    assert_eq!(note["message"], "Wants a quote");
    crm.add_note(id, "Called back").await.expect("add note");
    assert_eq!(
        crm.notes_of(id).await.expect("notes"),
        vec!["Wants a quote".to_string(), "Called back".to_string()]
    );

    // Nothing changed since the creation; then a rename is seen, with a later
    // write_date (compared with microsecond precision).
    let since = datetime(&created_at).expect("since");
    let none = crm.parties_changed_since(&since).await.expect("changes");
    assert!(none.is_empty(), "no change yet: {none:?}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    crm.rename_party(id, "Alice Renamed").await.expect("rename");
    let changed = crm.parties_changed_since(&since).await.expect("changes");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["id"], id);
    assert_eq!(changed[0]["name"], "Alice Renamed");
    let written_at = datetime_to_iso(&changed[0]["write_date"]).expect("write_date");
    assert!(written_at > created_at, "{written_at} > {created_at}");
    // A string datetime works in a domain as well.
    let by_string = crm
        .search(
            "party.party",
            &json!([["write_date", ">", created_at]]),
            &[],
            None,
            None,
        )
        .await
        .expect("search by string");
    assert_eq!(by_string.len(), 1);
    let none = crm
        .parties_changed_since(&changed[0]["write_date"])
        .await
        .expect("changes");
    assert!(none.is_empty(), "nothing after the last change: {none:?}");
    assert_eq!(crm.party(id).await.expect("party")["name"], "Alice Renamed");

    // Errors: 404 for a missing record, 400 with a JSON message for a validation
    // error.
    let (status, _) = crm
        .call(Method::GET, "party.party/999999", None)
        .await
        .expect("call");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = crm
        .call(
            Method::POST,
            "party.party",
            Some(&json!({"name": "Bad", "contact_mechanisms": [["create", [{"type": "mobile", "value": "+1 12"}]]]})),
        )
        .await
        .expect("call");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid")),
        "{body}"
    );
    assert!(matches!(body, Value::Object(_)));
}
