//! IMAP literal limits beyond APPENDLIMIT (docs/spec.md §8 "without allocating it"): a client that
//! is not logged in must not get a `+` for a large literal, and the literals of one command
//! must not add up past the limit (`imapd::session::Session::read_command`: 8 KiB before login,
//! APPENDLIMIT plus one command line for the whole command after).

use testkit::{Line, Stack, ALICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preauth_literal_is_refused_without_continuation() {
    let s = Stack::start().await;
    let mut c = Line::connect(s.port("imap")).await;
    c.line().await.expect("greeting");
    // 1000 unauthenticated connections × 50 MiB each would be 50 GB of buffers. A client
    // that is not logged in needs literals only for LOGIN (docs/spec.md §4 caps passwords at
    // 1024 bytes): the proposed pre-auth literal limit is 8 KiB.
    c.send(format!("a LOGIN {{{}}}\r\n", 50 * 1024 * 1024))
        .await
        .expect("send");
    let answer = c.line().await.expect("answer");
    assert!(
        answer.starts_with("a BAD") || answer.starts_with("a NO"),
        "pre-auth literal got {answer:?}"
    );
    // A small literal (a password with a quote in it) is still fine.
    let pw = ALICE.1;
    c.send(format!("b LOGIN {} {{{}}}\r\n", ALICE.0, pw.len()))
        .await
        .expect("send");
    assert!(c.line().await.expect("+").starts_with('+'));
    c.send(format!("{pw}\r\n")).await.expect("send");
    let (_, t) = c.until_tag("b").await;
    assert!(t.starts_with("b OK"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_of_one_command_cannot_add_up_past_the_limit() {
    let s = Stack::builder()
        .demo_accounts()
        .max_literal(1024 * 1024)
        .start()
        .await;
    let mut c = Line::connect(s.port("imap")).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t1 OK"), "{t}");
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.starts_with("t2 OK"), "{t}");
    let part = 700 * 1024;
    c.send(format!("a SEARCH TEXT {{{part}}}\r\n"))
        .await
        .expect("send");
    assert!(c.line().await.expect("+").starts_with('+'));
    let mut next = vec![b'z'; part];
    next.extend_from_slice(format!(" TEXT {{{part}}}\r\n").as_bytes());
    c.send(&next).await.expect("send");
    // 1.4 MiB in one command: refused before the second literal, without "+".
    let answer = c.line().await.expect("answer");
    assert!(
        answer.starts_with("a BAD") || answer.starts_with("a NO"),
        "second literal got {answer:?}"
    );
    let (_, t) = c.imap("NOOP").await;
    assert!(t.contains(" OK"), "{t}");
}
