//! Input limits against the real binary (docs/spec.md §8), with the server's memory watched from
//! /proc: a 10 MiB line without CRLF on every protocol, IMAP literal bombs (`{4294967295}`,
//! 60 MiB, LITERAL+ over the limit). Each ends with a well-behaved session on the same server.

use std::time::Duration;

use testkit::{Line, Mailstack, ALICE};

/// Peak resident memory the abuse may add to the server (KiB). The line reader keeps at most
/// one line limit plus one read chunk per connection; a server that buffered a 10 MiB line or
/// allocated a refused literal would pass this at once.
const GROWTH_LIMIT_KIB: u64 = 8 * 1024;

const TEN_MIB: usize = 10 * 1024 * 1024;

fn peak(server: &Mailstack) -> u64 {
    let (_, hwm) = server.memory_kib();
    assert!(hwm > 0, "no /proc/{}/status", server.pid());
    hwm
}

async fn imap_login(port: u16) -> Line {
    let mut c = Line::connect(port).await;
    assert!(c.line().await.expect("greeting").starts_with("* OK"));
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t1 OK"), "{t}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_line_without_crlf_on_every_protocol() {
    let server = Mailstack::start();
    // Warm up every listener once so the baseline includes their normal working set.
    imap_login(server.port("imap")).await;
    let before = peak(&server);
    let cases: &[(&str, &[&str])] = &[
        (
            "imap",
            &[
                "* BAD command line too long",
                "* BYE command line far too long",
            ],
        ),
        (
            "pop3",
            &[
                "-ERR command line too long (at most 512 octets)",
                "-ERR command line far too long; closing connection",
            ],
        ),
        (
            "smtp",
            &["500 5.5.2 Line too long", "500 5.5.2 Line too long"],
        ),
        (
            "submission",
            &["500 5.5.2 Line too long", "500 5.5.2 Line too long"],
        ),
    ];
    for (service, want) in cases {
        let mut c = Line::connect(server.port(service)).await;
        c.line().await.expect("greeting");
        let (lines, closed) = c.flood(TEN_MIB, b'x', Duration::from_secs(60)).await;
        assert!(closed, "{service}: connection left open after {lines:?}");
        assert_eq!(&lines, want, "{service}");
    }
    let after = peak(&server);
    assert!(
        after.saturating_sub(before) < GROWTH_LIMIT_KIB,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    // The server still serves every protocol.
    let mut c = imap_login(server.port("imap")).await;
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.starts_with("t2 OK"), "{t}");
    let mut p = Line::connect(server.port("pop3")).await;
    p.line().await.expect("greeting");
    assert_eq!(p.pop3(&format!("USER {}", ALICE.0)).await, "+OK send PASS");
    assert!(p
        .pop3(&format!("PASS {}", ALICE.1))
        .await
        .starts_with("+OK"));
    let mut s = Line::connect(server.port("smtp")).await;
    s.smtp_reply().await;
    assert!(s.smtp("EHLO client.test").await.starts_with("250"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_literal_bombs_are_refused_without_allocating() {
    let server = Mailstack::start();
    let mut c = imap_login(server.port("imap")).await;
    let before = peak(&server);
    let limit = 50 * 1024 * 1024;
    // RFC 7889 / docs/spec.md §8: NO [TOOBIG] at once — no "+" continuation first.
    for size in ["4294967295", "62914560", "99999999999999999999"] {
        c.send(format!("a APPEND INBOX {{{size}}}\r\n"))
            .await
            .expect("send");
        let answer = c.line().await.expect("answer");
        if size.len() > 19 {
            // Not even a number we can hold: a syntax error, still without "+".
            assert!(
                answer.starts_with("a BAD") || answer.starts_with("a NO"),
                "{answer}"
            );
        } else {
            assert_eq!(
                answer,
                format!("a NO [TOOBIG] message larger than APPENDLIMIT {limit}"),
                "{size}"
            );
        }
        let (_, t) = c.imap("NOOP").await;
        assert!(t.ends_with("OK NOOP completed") || t.contains(" OK"), "{t}");
    }
    // A literal in another command is a BAD [TOOBIG], also without "+".
    c.send("b SEARCH TEXT {4294967295}\r\n")
        .await
        .expect("send");
    assert_eq!(
        c.line().await.as_deref(),
        Some(format!("b BAD [TOOBIG] literal larger than {limit} octets").as_str())
    );
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.contains(" OK"), "{t}");
    // LITERAL+ over the limit: the client sends the bytes anyway, so the server cannot
    // resynchronise: BAD, BYE, close (RFC 7888 §4).
    c.send("c APPEND INBOX {4294967295+}\r\n")
        .await
        .expect("send");
    let rest = c
        .closed_within(Duration::from_secs(30))
        .await
        .expect("closed after LITERAL+ over the limit");
    assert_eq!(
        rest,
        [
            format!("c BAD [TOOBIG] literal larger than {limit} octets"),
            "* BYE literal too large".to_string()
        ]
    );
    let after = peak(&server);
    assert!(
        after.saturating_sub(before) < GROWTH_LIMIT_KIB,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    // A well-behaved APPEND still works.
    let mut c = imap_login(server.port("imap")).await;
    c.send("t2 APPEND INBOX {7}\r\n").await.expect("send");
    assert!(c.line().await.expect("+").starts_with('+'));
    c.send("Hello\r\n\r\n").await.expect("send");
    let (_, t) = c.until_tag("t2").await;
    assert!(t.starts_with("t2 OK") && t.contains("APPENDUID"), "{t}");
}
