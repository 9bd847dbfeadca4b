//! SMTP abuse: smuggling (RFC 5321 §2.3.8, the 2023 end-of-data variants), open relay on port
//! 25 and on submission without AUTH, spoofed MAIL FROM, the null sender on submission and the
//! recipient limit (RFC 5321 §4.5.3.1.8). Each test ends with a well-behaved delivery.

use testkit::{Line, Stack, ALICE, BOB};

fn plain_b64(user: &str, pass: &str) -> String {
    auth::sasl::encode_base64(format!("\0{user}\0{pass}").as_bytes())
}

async fn greeted(port: u16) -> Line {
    let mut c = Line::connect(port).await;
    assert!(c.smtp_reply().await.starts_with("220 "));
    assert!(c.smtp("EHLO client.test").await.starts_with("250"));
    c
}

/// A normal message from a well-behaved client on port 25 is accepted.
async fn deliver_ok(c: &mut Line, subject: &str) {
    assert!(c
        .smtp("MAIL FROM:<friend@remote.test>")
        .await
        .starts_with("250"));
    assert!(c
        .smtp(&format!("RCPT TO:<{}>", ALICE.0))
        .await
        .starts_with("250"));
    assert!(c.smtp("DATA").await.starts_with("354"));
    let r = c
        .smtp(&format!("Subject: {subject}\r\n\r\nall fine\r\n."))
        .await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_variants_never_split_a_message() {
    let s = Stack::start().await;
    // Each fake end-of-data is followed by a complete second transaction. A server that takes
    // the fake marker for the end would deliver "smuggled" as a message of its own.
    let fakes: &[&[u8]] = &[
        b"\n.\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n.\r\r\n",
    ];
    let mut c = greeted(s.port("smtp")).await;
    for fake in fakes {
        assert!(c.smtp("MAIL FROM:<a@remote.test>").await.starts_with("250"));
        assert!(c
            .smtp(&format!("RCPT TO:<{}>", ALICE.0))
            .await
            .starts_with("250"));
        assert!(c.smtp("DATA").await.starts_with("354"));
        let mut data = b"Subject: first\r\n\r\nfirst part".to_vec();
        data.extend_from_slice(fake);
        data.extend_from_slice(
            format!(
                "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<{}>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n",
                BOB.0
            )
            .as_bytes(),
        );
        c.send(&data).await.expect("send");
        // Exactly one answer for the whole content, and it is the smuggling refusal.
        assert_eq!(
            c.smtp_reply().await,
            "550 5.6.0 Bare LF or CR in message data; lines must end with CRLF",
            "fake end-of-data {:?}",
            String::from_utf8_lossy(fake)
        );
        assert_eq!(
            c.smtp("NOOP").await,
            "250 2.0.0 OK",
            "{fake:?}: stray replies"
        );
    }
    // A lone bare LF / bare CR inside a line are refused the same way.
    for body in ["bare\nLF\r\n", "bare\rCR\r\n"] {
        assert!(c.smtp("MAIL FROM:<a@remote.test>").await.starts_with("250"));
        assert!(c
            .smtp(&format!("RCPT TO:<{}>", ALICE.0))
            .await
            .starts_with("250"));
        assert!(c.smtp("DATA").await.starts_with("354"));
        let r = c.smtp(&format!("Subject: x\r\n\r\n{body}.")).await;
        assert!(r.starts_with("550 5.6.0"), "{body:?}: {r}");
    }
    assert_eq!(s.count(&s.account(ALICE.0), "INBOX"), 0);
    assert_eq!(
        s.count(&s.account(BOB.0), "INBOX"),
        0,
        "a smuggled message arrived"
    );
    // Each refusal counted toward the error limit; a fresh session delivers normally.
    let mut c = greeted(s.port("smtp")).await;
    deliver_ok(&mut c, "after smuggling").await;
    assert_eq!(s.count(&s.account(ALICE.0), "INBOX"), 1);
    assert_eq!(s.count(&s.account(BOB.0), "INBOX"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_25_is_not_an_open_relay() {
    let s = Stack::start().await;
    let mut c = greeted(s.port("smtp")).await;
    assert!(c
        .smtp("MAIL FROM:<spammer@remote.test>")
        .await
        .starts_with("250"));
    assert_eq!(
        c.smtp("RCPT TO:<victim@elsewhere.test>").await,
        "550 5.7.1 <victim@elsewhere.test>: relaying denied"
    );
    // Address tricks that old relays mis-parsed: none is accepted.
    for trick in [
        "victim%elsewhere.test@example.test",
        "@example.test:victim@elsewhere.test",
        "victim@elsewhere.test@example.test",
        "\"victim@elsewhere.test\"@example.test",
        "victim@elsewhere.test.",
        "victim@[192.0.2.1]",
        "elsewhere.test!victim@example.test",
    ] {
        let r = c.smtp(&format!("RCPT TO:<{trick}>")).await;
        assert!(r.starts_with('5'), "{trick}: {r}");
    }
    // No recipient was accepted, so there is no transaction to send.
    assert_eq!(c.smtp("DATA").await, "503 5.5.1 No valid recipients");
    // AUTH is not offered on port 25 at all.
    let r = c
        .smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
        .await;
    assert!(r.starts_with("503"), "{r}");
    let mut c = greeted(s.port("smtp")).await;
    deliver_ok(&mut c, "local mail still arrives").await;
    assert_eq!(s.count(&s.account(ALICE.0), "INBOX"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_requires_auth_and_owned_sender() {
    let s = Stack::start().await;
    // Without AUTH nothing can be sent, not even to a local user.
    let mut c = greeted(s.port("submission")).await;
    assert_eq!(
        c.smtp(&format!("MAIL FROM:<{}>", ALICE.0)).await,
        "530 5.7.0 Authentication required (POP-before-SMTP is not supported)"
    );
    assert_eq!(
        c.smtp("RCPT TO:<victim@elsewhere.test>").await,
        "503 5.5.1 Send MAIL first"
    );
    assert!(c.smtp("DATA").await.starts_with("503"));

    // With AUTH: the sender must be one of the account's addresses.
    let mut c = greeted(s.port("submission")).await;
    let r = c
        .smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
        .await;
    assert!(r.starts_with("235"), "{r}");
    for spoof in [
        BOB.0,
        "BOB@EXAMPLE.TEST",
        "ceo@elsewhere.test",
        "alice@example.test.evil",
    ] {
        let r = c.smtp(&format!("MAIL FROM:<{spoof}>")).await;
        assert!(
            r.starts_with("553 5.7.1") && r.contains("not owned by user alice@example.test"),
            "{spoof}: {r}"
        );
    }
    // The null sender is for bounces, which never come in through submission.
    assert_eq!(
        c.smtp("MAIL FROM:<>").await,
        "553 5.7.1 Null sender <> is only accepted for inbound mail"
    );
    // Authenticated relay is refused too (outbound = reject).
    assert!(c
        .smtp(&format!("MAIL FROM:<{}>", ALICE.0))
        .await
        .starts_with("250"));
    let r = c.smtp("RCPT TO:<victim@elsewhere.test>").await;
    assert!(r.starts_with("550 5.7.1"), "{r}");
    // And the honest path works on the same session.
    assert!(c
        .smtp(&format!("RCPT TO:<{}>", BOB.0))
        .await
        .starts_with("250"));
    assert!(c.smtp("DATA").await.starts_with("354"));
    let r = c.smtp("Subject: real\r\n\r\nfrom alice\r\n.").await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    let bodies = s.bodies(&s.account(BOB.0), "INBOX");
    assert_eq!(bodies.len(), 1);
    assert!(String::from_utf8_lossy(&bodies[0]).contains(&format!("Return-Path: <{}>", ALICE.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipient_limit() {
    let s = Stack::start().await;
    let mut c = greeted(s.port("smtp")).await;
    assert!(c
        .smtp("MAIL FROM:<list@remote.test>")
        .await
        .starts_with("250"));
    // RFC 5321 §4.5.3.1.8: at least 100 recipients; the 101st is refused with 452.
    let mut batch = String::new();
    for _ in 0..100 {
        batch.push_str(&format!("RCPT TO:<{}>\r\n", ALICE.0));
    }
    c.send(batch).await.expect("send");
    for i in 0..100 {
        let r = c.smtp_reply().await;
        assert!(r.starts_with("250 2.1.5"), "recipient {i}: {r}");
    }
    assert_eq!(
        c.smtp(&format!("RCPT TO:<{}>", BOB.0)).await,
        "452 4.5.3 Too many recipients"
    );
    assert!(c.smtp("DATA").await.starts_with("354"));
    let r = c.smtp("Subject: many\r\n\r\nhello\r\n.").await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    assert_eq!(
        s.count(&s.account(BOB.0), "INBOX"),
        0,
        "the refused recipient got it"
    );
    assert!(s.count(&s.account(ALICE.0), "INBOX") >= 1);
    // A well-behaved client afterwards.
    let mut c = greeted(s.port("smtp")).await;
    assert!(c.smtp("MAIL FROM:<x@remote.test>").await.starts_with("250"));
    assert!(c
        .smtp(&format!("RCPT TO:<{}>", BOB.0))
        .await
        .starts_with("250"));
    assert!(c.smtp("DATA").await.starts_with("354"));
    assert!(c.smtp("Subject: y\r\n\r\ny\r\n.").await.starts_with("250"));
    assert_eq!(s.count(&s.account(BOB.0), "INBOX"), 1);
}
