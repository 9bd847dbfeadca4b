//! Bad input: over-long lines, literals over APPENDLIMIT, unknown commands, repeated errors,
//! pipelining and literals split across reads (docs/spec.md §8, RFC 3501 §7.1.3, RFC 7889).
use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_line_and_unknown() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    c.send(&format!("a1 NOOP {}\r\n", "x".repeat(70_000))).await;
    assert!(
        c.response().await.starts_with("* BAD"),
        "docs/spec.md §8: line over 64 KiB"
    );
    // The connection survives.
    c.ok("NOOP").await;
    let (_, t) = c.cmd("FROBNICATE").await;
    assert!(t.contains("BAD unknown command"), "{t}");
    let (_, t) = c.cmd("FETCH 1:x FLAGS").await;
    assert!(t.contains("BAD"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_bad_commands() {
    let s = start().await;
    let mut c = Imap::connect(s.port("imap")).await;
    // Syntax errors: MAX_BAD of them in a row close the session (docs/spec.md §8); unknown
    // but well-formed commands count half (tests/single_session.rs).
    for _ in 0..imapd::session::MAX_BAD - 1 {
        let (_, t) = c.cmd("NOOP (").await;
        assert!(t.contains("BAD"));
    }
    c.send("z FETCH 1:x FLAGS\r\n").await;
    let mut got_bye = false;
    loop {
        let r = c.response().await;
        if r.is_empty() {
            break;
        }
        got_bye |= r.starts_with("* BYE");
    }
    assert!(got_bye);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appendlimit() {
    let s = Stack::builder().user(USER).max_literal(100).start().await;
    let mut c = s.imap_login(USER).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains("APPENDLIMIT=100"));
    // RFC 7889: NO [TOOBIG] without a "+" continuation.
    c.send("a APPEND INBOX {200}\r\n").await;
    let r = c.response().await;
    assert!(r.starts_with("a NO [TOOBIG]"), "{r}");
    c.ok("NOOP").await;
    // LITERAL+ over the limit: BAD and close (RFC 7888 §4).
    c.send("b APPEND INBOX {200+}\r\n").await;
    assert!(c.response().await.starts_with("b BAD [TOOBIG]"));
    assert!(c.response().await.starts_with("* BYE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_and_split_literals() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    c.send("p1 NOOP\r\np2 SELECT INBOX\r\np3 APPEND INBOX {3+}\r\nabc\r\np4 NOOP\r\n")
        .await;
    let (_, t) = c.until("p4").await;
    assert!(t.starts_with("p4 OK"));
    // A literal trickled in byte by byte.
    c.send("q APPEND INBOX {5}\r\n").await;
    assert!(c.response().await.starts_with("+"));
    for b in b"hello\r\n" {
        c.send_bytes(&[*b]).await;
        tokio::task::yield_now().await;
    }
    let (_, t) = c.until("q").await;
    assert!(t.contains("APPENDUID"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_discards_pipelined() {
    let s = start().await;
    let mut c = Imap::connect(s.port("imap")).await;
    // Commands after STARTTLS in the same packet must never run (docs/spec.md §8).
    c.send("s STARTTLS\r\nx LOGIN alice@example.test \"long password 123\"\r\n")
        .await;
    let r = c.response().await;
    assert!(r.starts_with("s OK"), "{r}");
}
