//! STARTTLS / STLS command injection (CVE-2011-0411 class, docs/spec.md §8): commands the client
//! pipelines behind STARTTLS in the same packet are discarded, never executed after the TLS
//! switch — on IMAP, POP3, SMTP port 25 and submission. Each test then runs a well-behaved
//! session to show the server still serves.

use testkit::{Line, Stack, ALICE, BOB};

fn plain_b64(user: &str, pass: &str) -> String {
    auth::sasl::encode_base64(format!("\0{user}\0{pass}").as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_commands_after_starttls_are_not_executed() {
    let s = Stack::start().await;
    let mut c = Line::connect(s.port("imap")).await;
    assert!(c.line().await.expect("greeting").starts_with("* OK"));
    c.send(format!(
        "a STARTTLS\r\nb LOGIN {} \"{}\"\r\nc SELECT INBOX\r\n",
        ALICE.0, ALICE.1
    ))
    .await
    .expect("send");
    assert_eq!(
        c.line().await.as_deref(),
        Some("a OK Begin TLS negotiation now")
    );
    c.upgrade(&s.ca).await;
    // Still not authenticated: the injected LOGIN never ran, and nothing answers b or c.
    let (untagged, tagged) = c.imap("SELECT INBOX").await;
    assert_eq!(
        tagged, "t1 BAD not authenticated; LOGIN first",
        "{untagged:?}"
    );
    assert!(
        untagged.is_empty(),
        "answers to injected commands: {untagged:?}"
    );
    // The same connection, used properly, works.
    let (_, tagged) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(tagged.starts_with("t2 OK"), "{tagged}");
    let (_, tagged) = c.imap("SELECT INBOX").await;
    assert!(tagged.starts_with("t3 OK"), "{tagged}");
    let (_, tagged) = c.imap("LOGOUT").await;
    assert!(tagged.starts_with("t4 OK"), "{tagged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_commands_after_stls_are_not_executed() {
    let s = Stack::start().await;
    let mut c = Line::connect(s.port("pop3")).await;
    assert!(c.line().await.expect("greeting").starts_with("+OK"));
    c.send(format!(
        "STLS\r\nUSER {}\r\nPASS {}\r\nDELE 1\r\nQUIT\r\n",
        ALICE.0, ALICE.1
    ))
    .await
    .expect("send");
    assert_eq!(c.line().await.as_deref(), Some("+OK begin TLS negotiation"));
    c.upgrade(&s.ca).await;
    // The injected USER/PASS never ran: still in AUTHORIZATION, no extra answers.
    assert_eq!(c.pop3("STAT").await, "-ERR STAT is not valid in this state");
    assert_eq!(c.pop3(&format!("USER {}", ALICE.0)).await, "+OK send PASS");
    let r = c.pop3(&format!("PASS {}", ALICE.1)).await;
    assert!(r.starts_with("+OK maildrop has 0 messages"), "{r}");
    assert_eq!(c.pop3("STAT").await, "+OK 0 0");
    let r = c.pop3("QUIT").await;
    assert!(r.starts_with("+OK"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_commands_after_starttls_are_not_executed() {
    let s = Stack::start().await;
    // Port 25: an injected transaction must not survive the switch.
    let mut c = Line::connect(s.port("smtp")).await;
    assert!(c.smtp_reply().await.starts_with("220 "));
    assert!(c.smtp("EHLO attacker.test").await.contains("STARTTLS"));
    c.send(format!(
        "STARTTLS\r\nEHLO attacker.test\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<{}>\r\n",
        ALICE.0
    ))
    .await
    .expect("send");
    assert_eq!(c.smtp_reply().await, "220 2.0.0 Ready to start TLS");
    c.upgrade(&s.ca).await;
    // Had the injected MAIL/RCPT run, DATA would get 354; the first reply we see is DATA's.
    assert_eq!(c.smtp("DATA").await, "503 5.5.1 Send MAIL and RCPT first");
    // The same connection delivers properly afterwards.
    assert!(c.smtp("EHLO client.test").await.starts_with("250"));
    assert!(c.smtp("MAIL FROM:<x@client.test>").await.starts_with("250"));
    assert!(c
        .smtp(&format!("RCPT TO:<{}>", ALICE.0))
        .await
        .starts_with("250"));
    assert!(c.smtp("DATA").await.starts_with("354"));
    let r = c.smtp("Subject: fine\r\n\r\nhello\r\n.").await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    assert_eq!(s.count(&s.account(ALICE.0), "INBOX"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_auth_after_starttls_is_not_executed() {
    let s = Stack::start().await;
    let mut c = Line::connect(s.port("submission")).await;
    assert!(c.smtp_reply().await.starts_with("220 "));
    assert!(c.smtp("EHLO client.test").await.contains("STARTTLS"));
    c.send(format!(
        "STARTTLS\r\nEHLO client.test\r\nAUTH PLAIN {}\r\n",
        plain_b64(ALICE.0, ALICE.1)
    ))
    .await
    .expect("send");
    assert_eq!(c.smtp_reply().await, "220 2.0.0 Ready to start TLS");
    c.upgrade(&s.ca).await;
    assert!(c.smtp("EHLO client.test").await.starts_with("250"));
    // The injected AUTH never ran: MAIL still needs authentication.
    let r = c.smtp(&format!("MAIL FROM:<{}>", ALICE.0)).await;
    assert!(r.starts_with("530 5.7.0"), "{r}");
    let r = c
        .smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
        .await;
    assert_eq!(r, "235 2.7.0 Authentication successful");
    assert!(c
        .smtp(&format!("MAIL FROM:<{}>", ALICE.0))
        .await
        .starts_with("250"));
    assert!(c
        .smtp(&format!("RCPT TO:<{}>", BOB.0))
        .await
        .starts_with("250"));
    assert!(c.smtp("DATA").await.starts_with("354"));
    let r = c.smtp("Subject: hi\r\n\r\nhello bob\r\n.").await;
    assert!(r.starts_with("250 2.6.0"), "{r}");
    assert_eq!(s.count(&s.account(BOB.0), "INBOX"), 1);
}
