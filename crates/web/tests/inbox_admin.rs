//! The routes this server grew for the inbox page, live administration and fault injection,
//! with their bad input: a message without HTML or that attachment, an alias to nobody or in
//! a foreign domain, a domain that is not one, a rule that does not exist.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;
use testkit::http::{call, get, send_json, stack};

const MIXED: &str = "From: a@remote.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p>hi</p>\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; \
filename=\"a b.pdf\"\r\n\r\n%PDF\r\n--b--\r\n";

#[tokio::test]
async fn message_parts_and_their_refusals() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    let mb = env.store.mailbox(a.id, "INBOX").unwrap().unwrap();
    let append = |bytes: &'static str| store::AppendRequest {
        bytes: bytes.as_bytes(),
        ..Default::default()
    };
    let rich = env
        .store
        .append(a.id, mb.id, append(MIXED))
        .await
        .unwrap()
        .1;
    let plain = env
        .store
        .append(a.id, mb.id, append("Subject: p\r\n\r\ntext\r\n"))
        .await
        .unwrap()
        .1;
    let r = env.router_from([127, 0, 0, 1]);
    let at = |p: String| {
        let r = r.clone();
        async move { call(&r, "GET", &p, false, None, Body::empty()).await }
    };
    let base = "/api/dashboard/messages/alice@example.test";
    let html = at(format!("{base}/{rich}/html")).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    let pdf = at(format!("{base}/{rich}/attachments/0")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(
        pdf.headers["content-disposition"].to_str().unwrap(),
        "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"
    );
    assert_eq!(pdf.headers["content-type"], "application/octet-stream");
    assert_eq!(
        at(format!("{base}/{plain}/html")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        at(format!("{base}/{rich}/attachments/1")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        at(format!("{base}/999/raw")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        at(format!("{base}/{rich}/raw?mailbox=Nope")).await.status,
        StatusCode::NOT_FOUND
    );
    // A foreign Host reads nothing here either (docs/spec.md §6.4).
    let foreign = env.router_from([10, 0, 0, 1]);
    let resp = call(
        &foreign,
        "GET",
        &format!("{base}/{rich}/raw"),
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn aliases_and_domains_refuse_what_cannot_work() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    let r = env.router();
    let post = |path: &'static str, body: serde_json::Value| {
        let r = r.clone();
        async move { send_json(&r, "POST", path, body).await }
    };
    let added = post(
        "/api/aliases",
        json!({"alias": "Al@Example.test", "address": "alice@example.test"}),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    assert_eq!(added.json()["alias"], "al@example.test");
    let again = post(
        "/api/aliases",
        json!({"alias": "al@example.test", "address": "alice@example.test"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let nobody = post(
        "/api/aliases",
        json!({"alias": "x@example.test", "address": "ghost@example.test"}),
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let foreign = post(
        "/api/aliases",
        json!({"alias": "x@elsewhere.test", "address": "alice@example.test"}),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = post(
        "/api/aliases",
        json!({"alias": "not an address", "address": "alice@example.test"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let del = send_json(&r, "DELETE", "/api/aliases/al@example.test", json!(null)).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let del = send_json(&r, "DELETE", "/api/aliases/al@example.test", json!(null)).await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
    // Domains: a name is added and then local; something that is not a name is refused.
    let d = post("/api/domains", json!({"domain": "Elsewhere.Test"})).await;
    assert_eq!(d.status, StatusCode::CREATED);
    assert!(get(&r, "/api/domains")
        .await
        .json()
        .as_array()
        .unwrap()
        .contains(&json!("elsewhere.test")));
    assert_eq!(
        post("/api/domains", json!({"domain": "no spaces allowed"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/api/domains", json!({"domain": ""})).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/api/domains", json!({"name": "x.test"})).await.status,
        StatusCode::BAD_REQUEST
    );
    // A fault rule that does not exist.
    let none = send_json(&r, "DELETE", "/api/faults/42", json!(null)).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}
