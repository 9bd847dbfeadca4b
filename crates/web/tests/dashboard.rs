//! The dashboard routes: access rule, page headers, state snapshot, plain-text message view,
//! and the SSE feed naming the session behind each change.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use testkit::http::{call, stack};
use testkit::mail::remote as message;
use testkit::TOKEN;
use tower::ServiceExt;

#[tokio::test]
async fn page_is_served_with_a_strict_content_security_policy() {
    let env = stack().start().await;
    let r = env.router_from([127, 0, 0, 1]);
    for (path, ctype) in [
        ("/", "text/html"),
        ("/assets/dashboard.js", "text/javascript"),
        ("/assets/dashboard-util.js", "text/javascript"),
        ("/assets/dashboard-drawer.js", "text/javascript"),
        ("/assets/dashboard-backup.js", "text/javascript"),
        ("/assets/dashboard.css", "text/css"),
    ] {
        let resp = call(&r, "GET", path, false, None, Body::empty()).await;
        assert_eq!(resp.status, StatusCode::OK, "{path}");
        let ct = resp.headers["content-type"].to_str().expect("ascii");
        assert!(ct.starts_with(ctype), "{path}: {ct}");
        let csp = resp.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(resp.headers["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn state_is_open_to_loopback_and_needs_the_token_elsewhere() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    let uid = env
        .deliver_to("alice@example.test", message("hello-dashboard"))
        .await;
    // What the account's Sieve script does is shown (docs/spec.md §6.5).
    let forward = web::sieve_settings::Forward {
        to: "bob@example.test".into(),
        keep_copy: true,
    };
    web::sieve_settings::set_forward(&env.store, a.id, Some(&forward))
        .await
        .expect("forward");

    // Loopback, no token: readable, not admin.
    let local = env.router_from([127, 0, 0, 1]);
    let resp = call(
        &local,
        "GET",
        "/api/dashboard/state",
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let state = resp.json();
    assert_eq!(state["admin"], false);
    let alice = state["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["address"] == "alice@example.test")
        .expect("alice listed")
        .clone();
    let inbox = alice["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .find(|m| m["name"] == "INBOX")
        .expect("INBOX")
        .clone();
    assert_eq!(inbox["messages"], 1);
    assert_eq!(inbox["unseen"], 1);
    assert_eq!(alice["inbox"][0]["uid"], uid.get());
    assert_eq!(alice["inbox"][0]["subject"], "hello-dashboard");
    assert_eq!(alice["inbox"][0]["flags"], serde_json::json!([]));
    assert_eq!(alice["sieve"]["active"], "mailstack");
    assert_eq!(alice["sieve"]["forward"]["to"], "bob@example.test");
    assert_eq!(alice["sieve"]["vacation"], serde_json::Value::Null);

    // Another address: 401 without the token, admin with it.
    let remote = env.router_from([192, 0, 2, 7]);
    let resp = call(
        &remote,
        "GET",
        "/api/dashboard/state",
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    for path in [
        "/api/dashboard/events",
        "/api/dashboard/messages/alice@example.test/1",
        "/api/dashboard/sessions/1/trace",
    ] {
        let resp = call(&remote, "GET", path, false, None, Body::empty()).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let resp = call(
        &remote,
        "GET",
        "/api/dashboard/state",
        true,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json()["admin"], true);
    // EventSource cannot send headers: the token in the query (RFC 6750 §2.3) works too.
    let uri = format!("/api/dashboard/state?access_token={TOKEN}");
    let resp = call(&remote, "GET", &uri, false, None, Body::empty()).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json()["admin"], true);
    let resp = call(
        &remote,
        "GET",
        "/api/dashboard/state?access_token=wrong",
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

/// docs/spec.md §6.4: a loopback request naming a foreign host (a DNS-rebound page) reads
/// nothing without the token; the page itself carries no data and forbids framing.
#[tokio::test]
async fn token_less_reads_need_a_host_name_of_this_server() {
    let env = stack().start().await;
    env.add_user("alice@example.test").await;
    let local = env.router_from([127, 0, 0, 1]);
    let get = |path: &str, host: &str, token: bool| {
        let mut req = Request::builder().uri(path).header("host", host);
        if token {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        let req = req.body(Body::empty()).expect("request");
        let r = local.clone();
        async move {
            let resp = r.oneshot(req).await.expect("infallible");
            let status = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for path in [
        "/api/dashboard/state",
        "/api/dashboard/events",
        "/api/dashboard/messages/alice@example.test/1",
        "/api/dashboard/sessions/1/trace",
    ] {
        let (status, body) = get(path, "evil.example:3080", false).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{path}: {body}");
        assert!(!body.contains("alice"), "{path}: {body}");
        assert!(body.contains("evil.example:3080"), "{path}: {body}");
    }
    for host in [
        "localhost:3080",
        "127.0.0.1:3080",
        "[::1]:3080",
        testkit::http::HOST,
    ] {
        let (status, body) = get("/api/dashboard/state", host, false).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
        assert!(body.contains("alice@example.test"), "{host}: {body}");
    }
    // With the admin token any Host is answered.
    let (status, body) = get("/api/dashboard/state", "evil.example", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The page: no data in it, CSP forbids framing, on any Host.
    let (status, _) = get("/", "evil.example", false).await;
    assert_eq!(status, StatusCode::OK);
    let resp = call(&local, "GET", "/", false, None, Body::empty()).await;
    let csp = resp.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn message_view_is_plain_text() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    let mb = env
        .store
        .mailbox(a.id, "INBOX")
        .expect("mailbox")
        .expect("inbox");
    let msg = "From: x@remote.test\r\nSubject: <script>alert(1)</script>\r\n\
               Content-Type: text/html\r\n\r\n<img src=x onerror=alert(2)>\r\n";
    let req = store::AppendRequest {
        bytes: msg.as_bytes(),
        ..Default::default()
    };
    let uid = env.store.append(a.id, mb.id, req).await.expect("append").1;
    let r = env.router_from([127, 0, 0, 1]);
    let resp = call(
        &r,
        "GET",
        &format!("/api/dashboard/messages/alice@example.test/{uid}"),
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/json"));
    let v = resp.json();
    assert!(v["header"]
        .as_str()
        .expect("header")
        .contains("Subject: <script>alert(1)</script>"));
    assert!(v["text"]
        .as_str()
        .expect("text")
        .contains("<img src=x onerror=alert(2)>"));
    let missing = call(
        &r,
        "GET",
        "/api/dashboard/messages/alice@example.test/999",
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unknown_session = call(
        &r,
        "GET",
        "/api/dashboard/sessions/987654321/trace",
        false,
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(unknown_session.status, StatusCode::NOT_FOUND);
    // Malformed path parameters and unknown accounts: clear JSON errors, no panic.
    for (path, status) in [
        (
            "/api/dashboard/messages/alice@example.test/not-a-uid",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/dashboard/sessions/-1/trace", StatusCode::BAD_REQUEST),
        (
            "/api/dashboard/messages/nobody@example.test/1",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/dashboard/messages/alice@example.test/1?mailbox=NoSuchBox",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let resp = call(&r, "GET", path, false, None, Body::empty()).await;
        assert_eq!(resp.status, status, "{path}: {}", resp.text());
        assert!(!resp.error().is_empty(), "{path}");
    }
}

/// Reads SSE frames from the body until one of `event` whose data satisfies `want`.
async fn next_event(
    body: &mut Body,
    buf: &mut String,
    event: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if name == event {
                let v: serde_json::Value = serde_json::from_str(&data).expect("json data");
                if want(&v) {
                    return v;
                }
            }
        }
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {event} event; have {buf:?}"))
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn feed_names_the_session_behind_each_change() {
    let env = stack().start().await;
    let a = env.add_user("alice@example.test").await;
    let r = env.router_from([127, 0, 0, 1]);
    let req = Request::builder()
        .uri("/api/dashboard/events")
        .body(Body::empty())
        .expect("request");
    let resp = r.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    let mut body = resp.into_body();
    let mut buf = String::new();

    // A session appears in the registry: `session` events.
    let reg = env.web.registry.clone();
    let pop = reg.open(
        4242,
        "pop3s",
        3995,
        true,
        "127.0.0.1:5000".parse().expect("addr"),
    );
    pop.set_user(Some("alice@example.test"));
    pop.set_mailbox(Some("INBOX"));
    let imap = reg.open(
        4243,
        "imap",
        3143,
        false,
        "127.0.0.1:5001".parse().expect("addr"),
    );
    imap.set_user(Some("alice@example.test"));
    imap.set_mailbox(Some("INBOX"));
    let opened = next_event(&mut body, &mut buf, "session", |v| v["kind"] == "opened").await;
    assert_eq!(opened["session"]["id"], 4242);
    assert_eq!(opened["session"]["protocol"], "pop3s");

    // A delivery with no session behind it (REST API, CLI).
    let uid = env
        .deliver_to("alice@example.test", message("feed-test"))
        .await;
    let ch = next_event(&mut body, &mut buf, "change", |v| v["kind"] == "appended").await;
    assert_eq!(ch["uid"], uid.get());
    assert_eq!(ch["row"]["subject"], "feed-test");
    assert_eq!(ch["origin"], serde_json::Value::Null);
    assert_eq!(ch["notified"], 1);
    let mbs = next_event(&mut body, &mut buf, "mailboxes", |_| true).await;
    assert_eq!(mbs["account"], "alice@example.test");

    // The POP3 session deletes it at QUIT.
    let mb = env
        .store
        .mailbox(a.id, "INBOX")
        .expect("mailbox")
        .expect("inbox");
    store::with_origin(4242, env.store.expunge(a.id, mb.id, &[uid]))
        .await
        .expect("expunge");
    let ch = next_event(&mut body, &mut buf, "change", |v| v["kind"] == "expunged").await;
    assert_eq!(ch["uids"], serde_json::json!([uid]));
    assert_eq!(ch["origin"]["id"], 4242);
    assert_eq!(ch["notified"], 1, "the IMAP session, not the POP3 one");
    assert_eq!(
        ch["text"],
        format!(
            "POP3 session 4242 (alice@example.test, port 3995/TLS) deleted UID {uid} at QUIT \
             from alice@example.test INBOX → 1 IMAP session notified"
        )
    );
    drop(pop);
    let closed = next_event(&mut body, &mut buf, "session", |v| v["kind"] == "closed").await;
    assert_eq!(closed["session"]["id"], 4242);
    drop(imap);
}
