//! The Sieve routes (docs/spec.md §6.5): scripts (checked like ManageSieve's PUTSCRIPT),
//! activation, forward and vacation settings, and `POST …/deliver`, with their bad input.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::http::StatusCode;
use serde_json::json;
use testkit::http::{call, get, send_json, stack};

const BASE: &str = "/api/accounts/alice@example.test";

#[tokio::test]
async fn scripts_activation_and_their_refusals() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    let r = env.router();
    let put = |name: &str, body: &str, query: &str| {
        let r = r.clone();
        let uri = format!("{BASE}/sieve/{name}{query}");
        let body = body.to_string();
        async move { call(&r, "PUT", &uri, true, Some("text/plain"), body).await }
    };
    // A script that does not parse: 422 naming the line.
    let bad = put("rules", "keep;\r\nfrobnicate;\r\n", "").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.error().contains("line 2"), "{}", bad.error());
    assert_eq!(
        put(
            "rules",
            "require \"fileinto\";\r\nfileinto \"Archive\";\r\n",
            "?activate=true"
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("spare", "keep;\r\n", "").await.status,
        StatusCode::NO_CONTENT
    );
    let list = get(&r, &format!("{BASE}/sieve")).await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    assert_eq!(list["scripts"][0]["name"], "rules");
    assert_eq!(list["scripts"][0]["active"], true);
    assert_eq!(list["scripts"][1]["active"], false);
    let text = get(&r, &format!("{BASE}/sieve/rules")).await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(text.text().contains("fileinto \"Archive\""));
    assert_eq!(
        get(&r, &format!("{BASE}/sieve/nope")).await.status,
        StatusCode::NOT_FOUND
    );
    // The active script cannot go (RFC 5804 §2.10): 409.
    let del = call(&r, "DELETE", &format!("{BASE}/sieve/rules"), true, None, "").await;
    assert_eq!(del.status, StatusCode::CONFLICT);
    let act = send_json(
        &r,
        "PUT",
        &format!("{BASE}/sieve-active"),
        json!({ "name": "spare" }),
    )
    .await;
    assert_eq!(act.status, StatusCode::NO_CONTENT);
    let act = send_json(
        &r,
        "PUT",
        &format!("{BASE}/sieve-active"),
        json!({ "name": "ghost" }),
    )
    .await;
    assert_eq!(act.status, StatusCode::NOT_FOUND);
    let act = send_json(
        &r,
        "PUT",
        &format!("{BASE}/sieve-active"),
        json!({ "name": null }),
    )
    .await;
    assert_eq!(act.status, StatusCode::NO_CONTENT);
    assert_eq!(env.store.active_sieve_script(a.id).unwrap(), None);
    let del = call(&r, "DELETE", &format!("{BASE}/sieve/rules"), true, None, "").await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    // Bad names, bad bytes, too big.
    assert_eq!(
        put("a%0Ab", "keep;", "").await.status,
        StatusCode::BAD_REQUEST
    );
    let not_utf8 = call(
        &r,
        "PUT",
        &format!("{BASE}/sieve/x"),
        true,
        Some("text/plain"),
        vec![0xff, 0xfe],
    )
    .await;
    assert_eq!(not_utf8.status, StatusCode::BAD_REQUEST);
    let big = format!("#{}\r\nkeep;\r\n", "x".repeat(200 * 1024));
    assert_eq!(
        put("big", &big, "").await.status,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert_eq!(
        get(&r, "/api/accounts/nobody@example.test/sieve")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn forward_vacation_and_deliver() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    env.add_user("bob@example.test").await;
    let r = env.router();
    let f = send_json(
        &r,
        "PUT",
        &format!("{BASE}/forward"),
        json!({ "to": "bob@example.test", "keep_copy": true }),
    )
    .await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(f.json()["forward"]["to"], "bob@example.test");
    assert_eq!(f.json()["active"], true);
    let v = send_json(
        &r,
        "PUT",
        &format!("{BASE}/vacation"),
        json!({ "from": "2000-01-01", "until": "2999-12-31", "message": "Away.", "days": 2 }),
    )
    .await;
    assert_eq!(v.status, StatusCode::OK);
    let settings = get(&r, &format!("{BASE}/vacation")).await.json();
    assert_eq!(settings["vacation"]["days"], 2);
    assert_eq!(settings["forward"]["keep_copy"], true);
    let script = env.store.sieve_script(a.id, "mailstack").unwrap().unwrap();
    assert!(
        script.contains("redirect :copy \"bob@example.test\";"),
        "{script}"
    );
    assert!(script.contains("vacation :days 2 \"Away.\";"), "{script}");

    // Deliver through the script: kept and forwarded (202); no script: INBOX with a UID (201).
    let msg = "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhi\r\n";
    let d = call(
        &r,
        "POST",
        &format!("{BASE}/deliver"),
        true,
        Some("message/rfc822"),
        msg,
    )
    .await;
    assert_eq!(d.status, StatusCode::ACCEPTED);
    assert_eq!(env.count("alice@example.test", "INBOX"), 1);
    assert_eq!(env.count("bob@example.test", "INBOX"), 1);
    let d = call(
        &r,
        "POST",
        "/api/accounts/bob@example.test/deliver",
        true,
        Some("message/rfc822"),
        msg,
    )
    .await;
    assert_eq!(d.status, StatusCode::CREATED);
    assert_eq!(d.json()["uid"], 2);
    let empty = call(
        &r,
        "POST",
        &format!("{BASE}/deliver"),
        true,
        Some("message/rfc822"),
        "",
    )
    .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);

    // Bad settings: 422 with the reason, 400 for unknown fields.
    for (body, needle) in [
        (
            json!({ "message": "x", "from": "2026-12-31", "until": "2026-12-01" }),
            "ends",
        ),
        (
            json!({ "message": "x", "from": "2026-02-30x" }),
            "not a date",
        ),
        (json!({ "message": " " }), "empty"),
        (json!({ "message": "x", "days": 0 }), "days"),
    ] {
        let resp = send_json(&r, "PUT", &format!("{BASE}/vacation"), body.clone()).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(resp.error().contains(needle), "{body}: {}", resp.error());
    }
    let unknown = send_json(
        &r,
        "PUT",
        &format!("{BASE}/forward"),
        json!({ "to": "b@example.test", "copy": true }),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let bad_to = send_json(
        &r,
        "PUT",
        &format!("{BASE}/forward"),
        json!({ "to": "nobody" }),
    )
    .await;
    assert_eq!(bad_to.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Off: both gone, the script with them.
    for kind in ["forward", "vacation"] {
        let off = call(&r, "DELETE", &format!("{BASE}/{kind}"), true, None, "").await;
        assert_eq!(off.status, StatusCode::NO_CONTENT);
    }
    let settings = get(&r, &format!("{BASE}/forward")).await.json();
    assert_eq!(settings["forward"], serde_json::Value::Null);
    assert!(env.store.sieve_scripts(a.id).unwrap().is_empty());
}
