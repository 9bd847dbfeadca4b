//! REST API routes: token guard, accounts, mailboxes, messages, inject, purge, captured, limits
//! and error answers.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use axum::body::Body;
use serde_json::json;
use testkit::http::{call, get, send_json, stack};
use testkit::mail::remote as message;
use testkit::{python, PASSWORD, TOKEN};

#[tokio::test]
async fn admin_routes_need_the_token() {
    let env = stack().start().await;
    let r = env.router();
    for (method, path) in web::routes() {
        if !path.starts_with("/api/accounts") && *path != "/api/captured" {
            continue;
        }
        let uri = path
            .replace("{addr}", "alice@example.test")
            .replace("{uid}", "1")
            .replace("{name}", "rules");
        let resp = call(
            &r,
            &method.to_uppercase(),
            &uri,
            false,
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(resp.status, 401, "{method} {path}");
        assert_eq!(
            resp.headers["www-authenticate"],
            "Bearer realm=\"mailstack\""
        );
        assert!(resp.error().contains("Bearer"));
    }
    for auth in [
        "Bearer wrong",
        "Basic dGVzdA==",
        "Bearer",
        "bearer test-admin-token-x",
        "",
    ] {
        let req = axum::http::Request::builder()
            .uri("/api/accounts")
            .header("authorization", auth)
            .body(Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(r.clone(), req).await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
    }
    let req = axum::http::Request::builder()
        .uri("/api/accounts")
        .header("authorization", format!("bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        tower::ServiceExt::oneshot(r.clone(), req)
            .await
            .unwrap()
            .status(),
        200
    );

    // An empty configured token refuses everyone, including an empty bearer.
    let mut ctx = env.web.clone();
    ctx.admin_token = auth::Secret::new(String::new());
    let r = web::router(ctx);
    let req = axum::http::Request::builder()
        .uri("/api/accounts")
        .header("authorization", "Bearer ")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        tower::ServiceExt::oneshot(r, req).await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn account_lifecycle() {
    let env = stack().start().await;
    let r = env.router();
    let resp = send_json(
        &r,
        "POST",
        "/api/accounts",
        json!({"address": "Alice@Example.Test", "password": PASSWORD, "quota": 1000000}),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let a = resp.json();
    assert_eq!(a["address"], "alice@example.test");
    assert_eq!(a["quota_bytes"], 1000000);
    assert_eq!(a["pop3_policy"], "keep");
    assert!(a.get("password").is_none(), "never the hash");

    let resp = send_json(
        &r,
        "POST",
        "/api/accounts",
        json!({"address": "alice@example.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(resp.status, 409);
    let resp = send_json(
        &r,
        "POST",
        "/api/accounts",
        json!({"address": "bob@example.test", "password": "short"}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("at least 12"));
    let resp = send_json(
        &r,
        "POST",
        "/api/accounts",
        json!({"address": "no-at-sign", "password": PASSWORD}),
    )
    .await;
    assert_eq!(resp.status, 400);
    let resp = send_json(
        &r,
        "POST",
        "/api/accounts",
        json!({"address": "x@example.test", "password": PASSWORD, "extra": 1}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("extra"));
    let resp = call(
        &r,
        "POST",
        "/api/accounts",
        true,
        Some("application/json"),
        "{not json",
    )
    .await;
    assert_eq!(resp.status, 400);
    let resp = call(&r, "POST", "/api/accounts", true, None, "{}").await;
    assert_eq!(resp.status, 400, "missing content type");

    let list = get(&r, "/api/accounts").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        get(&r, "/api/accounts/alice@example.test").await.json()["address"],
        "alice@example.test"
    );
    assert_eq!(
        get(&r, "/api/accounts/nobody@example.test").await.status,
        404
    );

    // PATCH: quota 0 = unlimited, policy, save_sent, password.
    let resp = send_json(&r, "PATCH", "/api/accounts/alice@example.test",
        json!({"quota": 0, "pop3_policy": "mark-seen", "save_sent": true, "password": "a brand new passphrase"})).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let a = resp.json();
    assert_eq!(a["quota_bytes"], serde_json::Value::Null);
    assert_eq!(a["pop3_policy"], "mark-seen");
    assert_eq!(a["save_sent"], true);
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    assert!(env
        .auth
        .authenticate("alice@example.test", &"a brand new passphrase".into(), ip)
        .await
        .is_ok());
    let resp = send_json(
        &r,
        "PATCH",
        "/api/accounts/alice@example.test",
        json!({"pop3_policy": "sometimes"}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("keep"));
    let resp = send_json(
        &r,
        "PATCH",
        "/api/accounts/alice@example.test",
        json!({"password": "short", "save_sent": false}),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        get(&r, "/api/accounts/alice@example.test").await.json()["save_sent"],
        true,
        "validated before applied"
    );
    let resp = send_json(
        &r,
        "PATCH",
        "/api/accounts/nobody@example.test",
        json!({"save_sent": true}),
    )
    .await;
    assert_eq!(resp.status, 404);
    let resp = send_json(
        &r,
        "PATCH",
        "/api/accounts/alice@example.test",
        json!({"quota": "lots"}),
    )
    .await;
    assert_eq!(resp.status, 400);

    let mbs = get(&r, "/api/accounts/alice@example.test/mailboxes")
        .await
        .json();
    let names: Vec<&str> = mbs
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for n in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(names.contains(&n), "{n}");
    }
    let sent = mbs
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Sent")
        .unwrap();
    assert_eq!(sent["special_use"], "\\Sent");
    assert_eq!(
        get(&r, "/api/accounts/nobody@example.test/mailboxes")
            .await
            .status,
        404
    );

    let resp = call(
        &r,
        "DELETE",
        "/api/accounts/alice@example.test",
        true,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, 204);
    let resp = call(
        &r,
        "DELETE",
        "/api/accounts/alice@example.test",
        true,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("alice@example.test"));
}

#[tokio::test]
async fn messages_inject_list_raw_delete_purge() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    let r = env.router();
    let base = "/api/accounts/alice@example.test/messages";

    let resp = call(
        &r,
        "POST",
        base,
        true,
        Some("message/rfc822"),
        message("first"),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["uid"], 1);
    assert_eq!(resp.json()["mailbox"], "INBOX");
    let resp = call(
        &r,
        "POST",
        &format!("{base}?mailbox=archive"),
        true,
        None,
        message("x"),
    )
    .await;
    assert_eq!(
        resp.status, 404,
        "mailbox names other than INBOX are case-sensitive"
    );
    let resp = call(
        &r,
        "POST",
        &format!("{base}?mailbox=Archive"),
        true,
        None,
        message("archived"),
    )
    .await;
    assert_eq!(resp.status, 201);
    // A body over 64 KiB is fine for injection (limit 50 MiB).
    let big = format!("{}{}\r\n", message("big"), "x".repeat(200 * 1024));
    let resp = call(&r, "POST", base, true, None, big.clone()).await;
    assert_eq!(resp.status, 201);
    assert_eq!(
        call(&r, "POST", base, true, None, Body::empty())
            .await
            .status,
        400
    );
    assert_eq!(
        call(
            &r,
            "POST",
            "/api/accounts/nobody@example.test/messages",
            true,
            None,
            message("x")
        )
        .await
        .status,
        404
    );

    // RFC 2047 subjects are listed decoded and filter as written.
    let encoded = message("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=");
    let resp = call(
        &r,
        "POST",
        &format!("{base}?mailbox=Drafts"),
        true,
        None,
        encoded,
    )
    .await;
    assert_eq!(resp.status, 201);
    let drafts = get(
        &r,
        &format!("{base}?mailbox=Drafts&subject=gr%C3%BC%C3%9Fe"),
    )
    .await
    .json();
    assert_eq!(drafts[0]["subject"], "Grüße");

    let list = get(&r, base).await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let m = &list[0];
    assert_eq!(m["uid"], 1);
    assert_eq!(m["subject"], "first");
    assert_eq!(m["from"], "Sender <sender@remote.test>");
    assert_eq!(m["to"], "someone@example.test");
    assert_eq!(m["date"], "Mon, 1 Jan 2024 10:00:00 +0000");
    assert_eq!(m["size"], message("first").len());
    assert_eq!(m["flags"], json!([]));
    assert_eq!(
        get(&r, &format!("{base}?subject=BIG"))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get(&r, &format!("{base}?from=nobody")).await.json(),
        json!([])
    );
    assert_eq!(
        get(&r, &format!("{base}?mailbox=Archive")).await.json()[0]["subject"],
        "archived"
    );
    assert_eq!(get(&r, &format!("{base}?mailbox=Nope")).await.status, 404);
    assert_eq!(get(&r, &format!("{base}?wait=forever")).await.status, 400);

    let raw = get(&r, &format!("{base}/2/raw")).await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.headers["content-type"], "message/rfc822");
    assert_eq!(raw.body, big.as_bytes());
    assert_eq!(get(&r, &format!("{base}/9/raw")).await.status, 404);
    let resp = get(&r, &format!("{base}/abc/raw")).await;
    assert_eq!(resp.status, 400);
    assert!(!resp.error().is_empty());

    assert_eq!(
        call(
            &r,
            "DELETE",
            &format!("{base}/1"),
            true,
            None,
            Body::empty()
        )
        .await
        .status,
        204
    );
    assert_eq!(
        call(
            &r,
            "DELETE",
            &format!("{base}/1"),
            true,
            None,
            Body::empty()
        )
        .await
        .status,
        404
    );
    assert_eq!(get(&r, base).await.json().as_array().unwrap().len(), 1);

    let resp = call(
        &r,
        "POST",
        "/api/accounts/alice@example.test/purge",
        true,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["deleted"], 3, "INBOX, Archive and Drafts");
    assert_eq!(get(&r, base).await.json(), json!([]));
    assert_eq!(
        get(&r, "/api/accounts/alice@example.test").await.json()["used_bytes"],
        0
    );
    let resp = call(
        &r,
        "POST",
        "/api/accounts/nobody@example.test/purge",
        true,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn inject_over_quota_and_aliases() {
    let env = stack().start().await;
    let pw = auth::Secret::new(PASSWORD.to_string());
    env.auth
        .add_user("small@example.test", &pw, Some(100))
        .await
        .unwrap();
    env.store
        .add_alias("alias@example.test", "small@example.test")
        .await
        .unwrap();
    let r = env.router();
    let resp = call(
        &r,
        "POST",
        "/api/accounts/alias@example.test/messages",
        true,
        None,
        message("too big for the quota"),
    )
    .await;
    assert_eq!(resp.status, 507);
    assert!(resp.error().contains("full"));
    // The alias resolves for reading too.
    assert_eq!(
        get(&r, "/api/accounts/alias@example.test/messages")
            .await
            .json(),
        json!([])
    );
}

#[tokio::test]
async fn captured_mail() {
    let env = stack().start().await;
    env.add_user("capture@example.test").await;
    env.deliver_to("capture@example.test", message("held outbound"))
        .await;
    let r = env.router();
    let resp = get(&r, "/api/captured").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()[0]["subject"], "held outbound");
    assert_eq!(
        get(&r, "/api/captured?subject=other").await.json(),
        json!([])
    );

    let mut ctx = env.web.clone();
    ctx.capture_account = None;
    let resp = get(&web::router(ctx), "/api/captured").await;
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("capture is off"));
}

#[tokio::test]
async fn limits_unknown_routes_and_openapi() {
    let env = stack().start().await;
    let r = env.router();
    let big = json!({"address": "a@example.test", "password": "x".repeat(70 * 1024)});
    let resp = send_json(&r, "POST", "/api/accounts", big).await;
    assert_eq!(resp.status, 413);
    assert!(resp.error().contains("too large"));

    // Injection accepts up to 50 MiB, not more.
    env.add_user("alice@example.test").await;
    let huge = vec![b'x'; web::INJECT_LIMIT + 1];
    let resp = call(
        &r,
        "POST",
        "/api/accounts/alice@example.test/messages",
        true,
        None,
        huge,
    )
    .await;
    assert_eq!(resp.status, 413);

    let resp = get(&r, "/api/nothing-here").await;
    assert_eq!(resp.status, 404);
    assert!(resp.error().contains("openapi"));

    let doc = get(&r, "/api/openapi.json").await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in web::routes() {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} not documented"
        );
        // And every documented route is really served (no 404 "no such route", no 405).
        let uri = path
            .replace("{addr}", "nobody@example.test")
            .replace("{uid}", "1")
            .replace("{name}", "rules");
        let resp = call(
            &r,
            &method.to_uppercase(),
            &uri,
            true,
            Some("application/json"),
            "{}",
        )
        .await;
        assert_ne!(resp.status, 405, "{method} {path}");
        if resp.status == 404 {
            assert!(!resp.error().contains("no such route"), "{method} {path}");
        }
        // Never a stack trace or a Rust debug dump in an answer.
        assert!(!resp.text().contains("panicked") && !resp.text().contains("RUST_BACKTRACE"));
    }
}

/// The OpenAPI document passes `openapi-spec-validator` (PyPI) when it is installed.
#[tokio::test]
async fn openapi_document_is_valid() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("SKIPPED: pip install openapi-spec-validator to validate the OpenAPI document");
        return;
    }
    let env = stack().start().await;
    let doc = get(&env.router(), "/api/openapi.json").await;
    let out = python(
        "import sys, json\nfrom openapi_spec_validator import validate\n\
         validate(json.loads(sys.stdin.read()))\nprint('valid')",
        &doc.text(),
    );
    assert_eq!(out.trim(), "valid");
}
