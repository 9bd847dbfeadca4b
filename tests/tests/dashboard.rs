//! The dashboard's feed against the real server: SMTP delivers, IMAP sets \Seen, POP3 deletes
//! at QUIT — each change arrives on `/api/dashboard/events` naming the session that made it
//! and how many IMAP sessions were told; the session list and the per-session trace (secrets
//! redacted) follow the real connections.

use std::time::Duration;

use serde_json::Value;
use testkit::{Line, Mailstack, ALICE};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A Server-Sent Events stream read over HTTP/1.0 (no chunked framing).
struct Sse {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
    /// Events read but not matched yet: feeds interleave (a session's `closed` may come
    /// before or after the `change` it caused), so waits look here first.
    pending: Vec<(String, Value)>,
}

impl Sse {
    async fn open(port: u16, path: &str) -> Sse {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect http");
        let req = format!("GET {path} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.expect("request");
        let mut lines = BufReader::new(tcp).lines();
        let status = lines.next_line().await.expect("read").expect("status");
        assert!(status.contains(" 200 "), "{status}");
        // Skip the response header.
        while let Some(l) = lines.next_line().await.expect("read") {
            if l.is_empty() {
                break;
            }
        }
        Sse {
            lines,
            pending: Vec::new(),
        }
    }

    /// The next event called `name` whose data satisfies `want` (30 s at most).
    async fn wait(&mut self, name: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(|(e, v)| e == name && want(v)) {
            return self.pending.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut event = String::new();
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {name} event in time; saw {seen:#?}"))
                .expect("read")
                .unwrap_or_else(|| panic!("stream ended; saw {seen:#?}"));
            if std::env::var_os("DASHBOARD_DEBUG").is_some() {
                eprintln!("sse: {line}");
            }
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                let v: Value = serde_json::from_str(d.trim_start()).expect("json");
                if event == name && want(&v) {
                    return v;
                }
                seen.push(format!("{event}: {v}"));
                self.pending.push((event.clone(), v));
            }
        }
    }
}

async fn http_get(port: u16, path: &str) -> (u16, String) {
    let r = testkit::http::request(port, "GET", path, None, None).await;
    (r.status.as_u16(), r.text())
}

async fn imap_login(server: &Mailstack) -> Line {
    let mut w = Line::connect(server.port("imap")).await;
    assert!(w.line().await.is_some_and(|l| l.starts_with("* OK")));
    let (_, ok) = w.imap(&format!("LOGIN {} {}", ALICE.0, ALICE.1)).await;
    assert!(ok.contains("OK"), "{ok}");
    let (_, ok) = w.imap("SELECT INBOX").await;
    assert!(ok.contains("OK"), "{ok}");
    w
}

#[tokio::test]
async fn feed_follows_smtp_imap_and_pop3_on_one_mailbox() {
    let server = Mailstack::start();
    let http = server.port("http");
    let mut feed = Sse::open(http, "/api/dashboard/events").await;

    // Two IMAP sessions watch alice's INBOX.
    let mut watcher = imap_login(&server).await;
    let mut flagger = imap_login(&server).await;
    feed.wait("session", |v| {
        v["session"]["protocol"] == "imap"
            && v["session"]["user"] == ALICE.0
            && v["session"]["mailbox"] == "INBOX"
    })
    .await;

    // SMTP delivery → `appended`, both IMAP sessions told.
    let smtp = Line::smtp_deliver(
        server.port("smtp"),
        "x@example.org",
        ALICE.0,
        "Subject: watched <b>live</b>\r\n\r\nhello",
    )
    .await;
    let ch = feed
        .wait("change", |v| {
            v["kind"] == "appended" && v["row"]["subject"] == "watched <b>live</b>"
        })
        .await;
    let uid = ch["uid"].as_u64().expect("uid");
    assert_eq!(ch["origin"]["protocol"], "smtp");
    assert_eq!(ch["notified"], 2, "{ch}");
    assert!(
        ch["text"]
            .as_str()
            .expect("text")
            .contains(&format!("delivered UID {uid}")),
        "{ch}"
    );

    // IMAP \Seen from one session → `flags`, the other one told. (NOOP first: a session
    // learns of the new message, and its UID, at a command boundary; RFC 3501 §7.3.1.)
    let (untagged, _) = flagger.imap("NOOP").await;
    assert!(
        untagged.iter().any(|l| l.ends_with("EXISTS")),
        "{untagged:?}"
    );
    let (untagged, _) = watcher.imap("NOOP").await;
    assert!(
        untagged.iter().any(|l| l.ends_with("EXISTS")),
        "{untagged:?}"
    );
    let (_, ok) = flagger
        .imap(&format!("UID STORE {uid} +FLAGS (\\Seen)"))
        .await;
    assert!(ok.contains("OK"), "{ok}");
    let ch = feed
        .wait("change", |v| v["kind"] == "flags" && v["uid"] == uid)
        .await;
    assert_eq!(ch["flags"], serde_json::json!(["\\Seen"]));
    assert_eq!(ch["origin"]["protocol"], "imap");
    assert_eq!(ch["notified"], 1, "{ch}");

    // POP3 DELE + QUIT → `expunged`, named as the POP3 session, both IMAP sessions told.
    let mut pop = Line::pop3_login(server.port("pop3"), ALICE.0, ALICE.1).await;
    let opened = feed
        .wait("session", |v| {
            v["session"]["protocol"] == "pop3" && v["session"]["user"] == ALICE.0
        })
        .await;
    let pop_id = opened["session"]["id"].as_u64().expect("id");
    assert!(pop.pop3("DELE 1").await.starts_with("+OK"));
    assert!(pop.pop3("QUIT").await.starts_with("+OK"));
    let ch = feed.wait("change", |v| v["kind"] == "expunged").await;
    let pop_port = server.port("pop3");
    assert_eq!(
        ch["text"],
        format!(
            "POP3 session {pop_id} ({}, port {pop_port}) deleted UID {uid} at QUIT from {} INBOX \
             → 2 IMAP sessions notified",
            ALICE.0, ALICE.0
        )
    );
    feed.wait("session", |v| {
        v["kind"] == "closed" && v["session"]["id"] == pop_id
    })
    .await;
    // The IMAP watcher really was told.
    let (untagged, _) = watcher.imap("NOOP").await;
    assert!(
        untagged.iter().any(|l| l.ends_with("EXPUNGE")),
        "{untagged:?}"
    );

    // The POP3 session's trace (ended, still kept): commands visible, password not.
    let mut trace = Sse::open(http, &format!("/api/dashboard/sessions/{pop_id}/trace")).await;
    let pass = trace
        .wait("line", |v| {
            v["dir"] == "C" && v["text"].as_str().is_some_and(|t| t.starts_with("PASS"))
        })
        .await;
    assert_eq!(pass["text"], "PASS <redacted>");
    trace
        .wait("line", |v| v["dir"] == "C" && v["text"] == "DELE 1")
        .await;
    trace.wait("end", |_| true).await;

    // The snapshot lists the open IMAP sessions with user and mailbox; no password anywhere.
    let (status, body) = http_get(http, "/api/dashboard/state").await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(ALICE.1));
    let state: Value = serde_json::from_str(&body).expect("state json");
    let imap_sessions: Vec<&Value> = state["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["protocol"] == "imap" && s["mailbox"] == "INBOX")
        .collect();
    assert_eq!(imap_sessions.len(), 2, "{body}");
    // The same snapshot through curl, and the page's security headers.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "-D", "-"])
        .arg(format!("http://127.0.0.1:{http}/"))
        .output()
        .expect("curl");
    let page_head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        page_head.contains("content-security-policy: default-src 'self'; script-src 'self'"),
        "{page_head}"
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .arg(format!("http://127.0.0.1:{http}/api/dashboard/state"))
        .output()
        .expect("curl");
    let via_curl: Value = serde_json::from_slice(&out.stdout).expect("curl state json");
    assert!(via_curl["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .any(|a| a["address"] == ALICE.0));
    let (_, page) = http_get(http, "/").await;
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );
    drop((watcher, flagger, smtp, pop));
}

#[tokio::test]
async fn idle_and_starttls_show_in_the_session_list() {
    let server = Mailstack::start();
    let http = server.port("http");
    let mut feed = Sse::open(http, "/api/dashboard/events").await;
    let mut w = Line::connect(server.port("imap")).await;
    assert!(w.line().await.is_some_and(|l| l.starts_with("* OK")));
    let (_, ok) = w.imap("STARTTLS").await;
    assert!(ok.contains("OK"), "{ok}");
    w.upgrade(&server.ca()).await;
    feed.wait("session", |v| {
        v["kind"] == "updated" && v["session"]["protocol"] == "imap" && v["session"]["tls"] == true
    })
    .await;
    let (_, ok) = w.imap(&format!("LOGIN {} {}", ALICE.0, ALICE.1)).await;
    assert!(ok.contains("OK"), "{ok}");
    let (_, ok) = w.imap("SELECT INBOX").await;
    assert!(ok.contains("OK"), "{ok}");
    w.send("i1 IDLE\r\n").await.expect("idle");
    assert!(w.line().await.is_some_and(|l| l.starts_with('+')));
    feed.wait("session", |v| v["session"]["idle"] == true).await;
    w.send("DONE\r\n").await.expect("done");
    let (_, ok) = w.until_tag("i1").await;
    assert!(ok.contains("OK"), "{ok}");
    feed.wait("session", |v| {
        v["kind"] == "updated" && v["session"]["idle"] == false && v["session"]["user"] == ALICE.0
    })
    .await;
}

/// `GET path` over HTTP/1.0 with this `Host` header (and the token when given): status, head
/// (lower-cased) and body.
async fn get_with_host(
    port: u16,
    path: &str,
    host: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut raw),
    )
    .await
    .expect("answer in time")
    .expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// docs/spec.md §6.4: a DNS-rebound page (loopback peer, foreign `Host`) reads nothing from
/// the real server; a local `Host` reads without a token; the admin token works with any
/// `Host`; the page forbids framing.
#[tokio::test]
async fn dashboard_refuses_a_foreign_host_without_the_token() {
    let server = Mailstack::start();
    let http = server.port("http");
    drop(
        Line::smtp_deliver(
            server.port("smtp"),
            "x@example.org",
            ALICE.0,
            "Subject: private-subject\r\n\r\nprivate body",
        )
        .await,
    );
    for path in [
        "/api/dashboard/state",
        "/api/dashboard/events",
        "/api/dashboard/messages/alice@example.test/1",
        "/api/dashboard/sessions/1/trace",
    ] {
        for host in ["evil.example", &format!("evil.example:{http}")] {
            let (status, _, body) = get_with_host(http, path, host, None).await;
            assert_eq!(status, 421, "{path} {host}: {body}");
            assert!(
                !body.contains("alice") && !body.contains("private"),
                "{path}: {body}"
            );
            assert!(body.contains("evil.example"), "{path}: {body}");
        }
    }
    for host in [
        format!("localhost:{http}"),
        format!("127.0.0.1:{http}"),
        "localhost".to_string(),
    ] {
        let (status, _, body) = get_with_host(http, "/api/dashboard/state", &host, None).await;
        assert_eq!(status, 200, "{host}: {body}");
        assert!(body.contains("private-subject"), "{host}: {body}");
    }
    let (status, _, body) = get_with_host(
        http,
        "/api/dashboard/state",
        "evil.example",
        Some(server.admin_token()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("private-subject"), "{body}");
    let (status, head, _) = get_with_host(http, "/", &format!("localhost:{http}"), None).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'; script-src 'self'")
            && head.contains("frame-ancestors 'none'")
            && head.contains("x-frame-options: deny"),
        "{head}"
    );
}
