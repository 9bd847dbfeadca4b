//! Slowloris before login (docs/spec.md §8): a client trickling one byte at a time, never idle for
//! a whole timeout, is still cut at the pre-auth timeout, because the timeout bounds a whole
//! command line (`net::Connection::read_line`), not each read. The servers run in-process
//! with a 2 s pre-auth timeout.

use std::time::Duration;

use testkit::{Line, Stack, StackBuilder, ALICE};

/// Trickles `line` one byte every `gap` until the server answers or closes; returns the
/// server's lines up to the close.
async fn trickle(c: &mut Line, line: &str, gap: Duration) -> Vec<String> {
    let mut out = Vec::new();
    for b in line.bytes() {
        if c.send([b]).await.is_err() {
            break;
        }
        match c.line_within(gap).await {
            Ok(Some(l)) => {
                out.push(l);
                break;
            }
            Ok(None) => return out,
            Err(()) => {}
        }
    }
    out.extend(c.rest().await);
    out
}

/// Every daemon with the demo accounts and 2 s idle limits before login.
fn short() -> StackBuilder {
    Stack::builder()
        .demo_accounts()
        .pop3_limits(pop3d::Limits {
            authorization_timeout: Duration::from_secs(2),
            ..Default::default()
        })
        .smtp_idle(Duration::from_secs(2))
        .imap_limits(imapd::Limits {
            prelogin_idle: Duration::from_secs(2),
            ..Default::default()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_slowloris_is_cut_before_login() {
    let s = short().start().await;
    let mut c = Line::connect(s.port("pop3")).await;
    c.line().await.expect("greeting");
    // 26 bytes at one per 500 ms would take 13 s; the line must be whole within 2 s.
    let got = trickle(
        &mut c,
        &format!("USER {}\r\n", ALICE.0),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(
        got,
        ["-ERR autologout: idle for too long; closing connection"]
    );
    // A normal client is served.
    let mut c = Line::connect(s.port("pop3")).await;
    c.line().await.expect("greeting");
    assert_eq!(c.pop3(&format!("USER {}", ALICE.0)).await, "+OK send PASS");
    assert!(c
        .pop3(&format!("PASS {}", ALICE.1))
        .await
        .starts_with("+OK"));
    assert!(c.pop3("QUIT").await.starts_with("+OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_slowloris_is_cut_on_both_roles() {
    let s = short().start().await;
    for port in [s.port("smtp"), s.port("submission")] {
        let mut c = Line::connect(port).await;
        c.smtp_reply().await;
        let got = trickle(
            &mut c,
            "EHLO slow.client.test\r\n",
            Duration::from_millis(500),
        )
        .await;
        assert_eq!(got, ["421 4.4.2 Idle timeout, closing connection"]);
        let mut c = Line::connect(port).await;
        c.smtp_reply().await;
        assert!(c.smtp("EHLO client.test").await.starts_with("250"));
        assert_eq!(c.smtp("QUIT").await, "221 2.0.0 Bye");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_slowloris_is_cut_at_the_prelogin_timeout() {
    let s = short().start().await;
    // The server's clock starts at accept: measure from before the connect, so a slow
    // greeting on a loaded machine does not make the cut look early.
    let started = std::time::Instant::now();
    let mut c = Line::connect(s.port("imap")).await;
    c.line().await.expect("greeting");
    let got = trickle(
        &mut c,
        &format!("a LOGIN {} \"{}\"\r\n", ALICE.0, ALICE.1),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(got, ["* BYE autologout; idle for too long"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "cut too early");
    let mut c = Line::connect(s.port("imap")).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t1 OK"), "{t}");
}
