//! Session-level tests with a scripted line client: every reply path of the state machine,
//! AUTH, limits, STARTTLS and shutdown.

use testkit::{Daemon, Smtp, Stack, StackBuilder, PASSWORD};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const HOST: &str = "mail.example.test";

/// The SMTP server's three roles (`smtp`, `submission`, `submissions`) on a temporary store
/// with alice and bob, as mail.example.test.
fn smtp() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Smtp])
        .hostname(HOST)
        .user(ALICE)
        .user(BOB)
}

#[tokio::test]
async fn ehlo_lists_extensions_and_auth_on_loopback() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    let ehlo = c.ehlo().await;
    for ext in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "CHUNKING",
        "STARTTLS",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(ehlo.lines().any(|l| l == ext), "{ext} missing in {ehlo}");
    }
    // RFC 5321 §4.1.1.1: our name and a greeting of ours, not the parser library's.
    assert_eq!(ehlo.lines().next(), Some(format!("{HOST} Hello").as_str()));
    assert!(!ehlo.contains("had me"), "{ehlo}");
    assert!(c.cmd("HELO client.example", 250).await.contains(HOST));
    c.cmd("QUIT", 221).await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn auth_needs_tls_when_loopback_plaintext_is_off() {
    let s = smtp().plaintext_from_loopback(false).start().await;
    let mut c = s.smtp("submission").await;
    let ehlo = c.ehlo().await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    // RFC 4954 §6: 538 encryption required.
    let text = c
        .cmd(
            "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABsb25nIHBhc3N3b3JkIDEyMw==",
            538,
        )
        .await;
    assert!(text.starts_with("5.7.11"));
    let mut c = c.starttls(&s.ca).await;
    let ehlo = c.ehlo().await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    c.login(ALICE).await;
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
}

#[tokio::test]
async fn submission_requires_auth() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    let text = c.cmd("MAIL FROM:<alice@example.test>", 530).await;
    assert!(
        text.starts_with("5.7.0") && text.contains("POP-before-SMTP"),
        "{text}"
    );
}

#[tokio::test]
async fn auth_plain_and_login_variants() {
    // With the protocol trace on (redaction paths run).
    let s = smtp().trace(true).start().await;
    let b64 = |s: &str| auth::sasl::encode_base64(s.as_bytes());
    // PLAIN without initial response: empty 334 challenge.
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.send("AUTH PLAIN").await;
    assert_eq!(c.reply().await, (334, String::new()));
    c.cmd(&b64(&format!("\0{ALICE}\0{PASSWORD}")), 235).await;
    // Only once per session.
    c.cmd("AUTH PLAIN", 503).await;

    // LOGIN.
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    assert_eq!(c.cmd("AUTH LOGIN", 334).await, "VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(BOB), 334).await, "UGFzc3dvcmQ6");
    c.cmd(&b64(PASSWORD), 235).await;
    c.cmd("MAIL FROM:<bob@example.test>", 250).await;

    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    // Wrong password.
    let t = c
        .cmd(
            &format!("AUTH PLAIN {}", b64(&format!("\0{ALICE}\0wrong password!"))),
            535,
        )
        .await;
    assert!(t.starts_with("5.7.8"));
    // Bad base64, cancel, unknown mechanism.
    assert!(c.cmd("AUTH PLAIN %%%", 501).await.starts_with("5.5.2"));
    c.cmd("AUTH LOGIN", 334).await;
    assert!(c.cmd("*", 501).await.starts_with("5.0.0"));
    assert!(c.cmd("AUTH CRAM-MD5", 504).await.starts_with("5.5.4"));
}

#[tokio::test]
async fn throttled_logins_get_454() {
    let s = smtp().start().await;
    let bad = auth::sasl::encode_base64(format!("\0{BOB}\0not the password").as_bytes());
    let mut last = 0;
    // Failures grow the delay, then refuse; a fresh connection keeps us under the error limit.
    for _ in 0..4 {
        let mut c = s.smtp("submission").await;
        c.ehlo().await;
        for _ in 0..4 {
            c.send(&format!("AUTH PLAIN {bad}")).await;
            let (code, text) = c.reply().await;
            last = code;
            if code == 454 {
                assert!(text.starts_with("4.7.0"), "{text}");
                return;
            }
            assert_eq!(code, 535);
        }
    }
    panic!("never throttled (last reply {last})");
}

#[tokio::test]
async fn inbound_takes_local_mail_only() {
    let s = smtp().start().await;
    let mut c = s.smtp("smtp").await;
    let ehlo = c.ehlo().await;
    assert!(
        !ehlo.contains("AUTH") && ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    c.cmd("AUTH PLAIN", 503).await;
    // The null sender is fine inbound (bounces).
    c.cmd("MAIL FROM:<>", 250).await;
    // Open-relay test: an external recipient is refused.
    let t = c.cmd("RCPT TO:<victim@elsewhere.example>", 550).await;
    assert!(
        t.starts_with("5.7.1") && t.contains("relaying denied"),
        "{t}"
    );
    let t = c.cmd("RCPT TO:<nobody@example.test>", 550).await;
    assert!(t.starts_with("5.1.1"), "{t}");
    c.cmd("RCPT TO:<Alice@EXAMPLE.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw(b"Subject: hi\r\n\r\nhello\r\n.\r\n").await;
    assert!(c.expect(250).await.starts_with("2.6.0"));
    let inbox = s.inbox_bytes(ALICE);
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].starts_with(b"Return-Path: <>\r\nReceived: from client.example ([127.0.0.1])"));
    assert!(inbox[0].ends_with(b"Subject: hi\r\n\r\nhello\r\n"));
}

#[tokio::test]
async fn sender_must_be_owned() {
    let s = smtp().start().await;
    s.store
        .add_alias("al@example.test", ALICE)
        .await
        .expect("alias");
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    let t = c.cmd("MAIL FROM:<bob@example.test>", 553).await;
    assert!(
        t.starts_with("5.7.1") && t.contains("not owned by user"),
        "{t}"
    );
    c.cmd("MAIL FROM:<>", 553).await;
    c.cmd("MAIL FROM:<AL@example.test>", 250).await;
    c.cmd("RSET", 250).await;
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
}

#[tokio::test]
async fn sequence_errors_and_simple_commands() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.cmd("MAIL FROM:<alice@example.test>", 503).await;
    c.ehlo().await;
    c.cmd("RCPT TO:<bob@example.test>", 503).await;
    c.cmd("DATA", 503).await;
    assert!(c.cmd("VRFY bob", 252).await.starts_with("2.5.0"));
    c.cmd("HELP", 214).await;
    c.cmd("NOOP", 250).await;
    c.cmd("EXPN staff", 502).await;
    assert!(c.cmd("FOO bar", 500).await.starts_with("5.5.1"));
    c.cmd("MAIL FROM:<alice@example.test> FOO=BAR", 555).await;
    c.login(ALICE).await;
    // RSET in the middle of a transaction forgets it but keeps the login.
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
    c.cmd("MAIL FROM:<alice@example.test>", 503).await;
    c.cmd("RCPT TO:<bob@example.test>", 250).await;
    c.cmd("RSET", 250).await;
    c.cmd("RCPT TO:<bob@example.test>", 503).await;
    c.cmd("DATA", 503).await;
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
    c.cmd("DATA", 503).await;
}

#[tokio::test]
async fn long_lines_errors_and_close() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    let long = format!("NOOP {}", "x".repeat(5000));
    assert!(c.cmd(&long, 500).await.starts_with("5.5.2"));
    c.cmd("NOOP", 250).await;
    // Nine more errors: the tenth error is followed by 421 and close.
    for _ in 0..9 {
        c.cmd("BOGUS", 500).await;
    }
    assert_eq!(c.reply().await.0, 421);
    assert!(c.closed().await);
}

#[tokio::test]
async fn recipient_limit() {
    let s = smtp().start().await;
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<sender@elsewhere.example>", 250).await;
    let mut batch = String::new();
    for _ in 0..101 {
        batch.push_str("RCPT TO:<bob@example.test>\r\n");
    }
    c.raw(batch.as_bytes()).await;
    for _ in 0..100 {
        c.expect(250).await;
    }
    assert!(c.expect(452).await.starts_with("4.5.3"));
    c.cmd("DATA", 354).await;
    c.raw(b"x\r\n.\r\n").await;
    c.expect(250).await;
    assert_eq!(
        s.inbox_bytes(BOB).len(),
        1,
        "one copy for the repeated recipient"
    );
}

#[tokio::test]
async fn idle_timeout_says_421() {
    let s = smtp()
        .smtp_idle(std::time::Duration::from_millis(300))
        .start()
        .await;
    let mut c = s.smtp("smtp").await;
    let t = c.expect(421).await;
    assert!(t.starts_with("4.4.2"), "{t}");
    assert!(c.closed().await);
    // Also in the middle of DATA.
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<x@elsewhere.example>", 250).await;
    c.cmd("RCPT TO:<bob@example.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw(b"Subject: half\r\n").await;
    assert!(c.expect(421).await.starts_with("4.4.2"));
    assert!(c.closed().await);
    assert!(s.inbox_bytes(BOB).is_empty());
}

#[tokio::test]
async fn busy_server_greets_with_421() {
    let limits = net::ConnLimits {
        per_address: 1,
        total: 100,
    };
    let s = smtp().limiter(net::Limiter::new(limits)).start().await;
    let mut first = s.smtp("smtp").await;
    let mut second = Smtp::connect(s.port("smtp")).await;
    assert_eq!(second.reply().await.0, 421);
    first.cmd("NOOP", 250).await;
}

#[tokio::test]
async fn shutdown_says_421() {
    let mut s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    s.stop();
    let t = c.expect(421).await;
    assert!(t.starts_with("4.3.2"), "{t}");
    assert!(c.closed().await);
    s.stopped().await;
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_discarded() {
    let s = smtp().start().await;
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    // STARTTLS and a command in one packet: the NOOP must never be answered.
    c.raw(b"STARTTLS\r\nMAIL FROM:<evil@example.test>\r\n")
        .await;
    c.expect(220).await;
    let mut c = c.into_tls(&s.ca).await;
    // After TLS the session starts over: MAIL before EHLO is a sequence error, so the
    // smuggled MAIL did not run.
    c.cmd("RCPT TO:<bob@example.test>", 503).await;
    let ehlo = c.ehlo().await;
    assert!(!ehlo.contains("STARTTLS"));
    c.cmd("STARTTLS", 503).await;
    c.cmd("MAIL FROM:<x@elsewhere.example>", 250).await;
}

#[tokio::test]
async fn submissions_is_implicit_tls() {
    let s = smtp().start().await;
    let mut c = s.smtp("submissions").await;
    let ehlo = c.ehlo().await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    c.cmd("MAIL FROM:<alice@example.test>", 530).await;
    c.login(ALICE).await;
    let (code, _) = c
        .send_mail(ALICE, &[BOB], "Subject: tls\r\n\r\nover TLS\r\n")
        .await;
    assert_eq!(code, 250);
    let msg = &s.inbox_bytes(BOB)[0];
    assert!(String::from_utf8_lossy(msg).contains("with ESMTPSA"));
}
