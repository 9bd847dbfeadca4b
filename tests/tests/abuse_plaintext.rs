//! Plaintext login off-loopback without TLS is refused on all three protocols (docs/spec.md §4).
//! The servers run in-process with `allow_plaintext_from_loopback: false`, which makes the
//! test's 127.0.0.1 connections count as remote. Each protocol then shows the refusal does not
//! depend on the password, and that the same client succeeds after STARTTLS/STLS.

use testkit::{Line, Stack, StackBuilder, ALICE};

/// Every daemon with the demo accounts, the test's 127.0.0.1 connections counted as remote.
fn remote() -> StackBuilder {
    Stack::builder()
        .demo_accounts()
        .plaintext_from_loopback(false)
}

fn plain_b64(user: &str, pass: &str) -> String {
    auth::sasl::encode_base64(format!("\0{user}\0{pass}").as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_plaintext_login_refused_without_tls() {
    let s = remote().start().await;
    let mut c = Line::connect(s.port("imap")).await;
    let greeting = c.line().await.expect("greeting");
    // RFC 3501 §6.2.3: LOGINDISABLED, and no plaintext SASL advertised.
    assert!(greeting.contains("LOGINDISABLED"), "{greeting}");
    assert!(!greeting.contains("AUTH=PLAIN"), "{greeting}");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert_eq!(
        t,
        "t1 NO [PRIVACYREQUIRED] plaintext login requires TLS; use STARTTLS first"
    );
    let (_, t) = c
        .imap(&format!(
            "AUTHENTICATE PLAIN {}",
            plain_b64(ALICE.0, ALICE.1)
        ))
        .await;
    assert_eq!(
        t,
        "t2 NO [PRIVACYREQUIRED] plaintext mechanisms require TLS; use STARTTLS first"
    );
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.starts_with("t3 BAD"), "{t}");
    // After STARTTLS the same client logs in.
    let (_, t) = c.imap("STARTTLS").await;
    assert!(t.starts_with("t4 OK"), "{t}");
    c.upgrade(&s.ca).await;
    let (u, t) = c.imap("CAPABILITY").await;
    assert!(t.starts_with("t5 OK"), "{t}");
    assert!(
        u[0].contains("AUTH=PLAIN") && !u[0].contains("LOGINDISABLED"),
        "{u:?}"
    );
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t6 OK"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_plaintext_login_refused_without_tls() {
    let s = remote().start().await;
    let mut c = Line::connect(s.port("pop3")).await;
    c.line().await.expect("greeting");
    assert!(c.pop3("CAPA").await.starts_with("+OK"));
    let caps = c.pop3_body().await;
    assert!(
        caps.contains(&"STLS".to_string())
            && !caps.iter().any(|l| l == "USER" || l.starts_with("SASL")),
        "{caps:?}"
    );
    let refusal = "-ERR plaintext authentication is disabled on unencrypted connections: use STLS first, or connect to port 995 (POP3 over TLS)";
    assert_eq!(c.pop3(&format!("USER {}", ALICE.0)).await, refusal);
    assert_eq!(
        c.pop3(&format!("PASS {}", ALICE.1)).await,
        "-ERR send USER first"
    );
    assert_eq!(
        c.pop3(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
            .await,
        refusal
    );
    assert_eq!(c.pop3("STLS").await, "+OK begin TLS negotiation");
    c.upgrade(&s.ca).await;
    assert_eq!(c.pop3(&format!("USER {}", ALICE.0)).await, "+OK send PASS");
    let r = c.pop3(&format!("PASS {}", ALICE.1)).await;
    assert!(r.starts_with("+OK maildrop has"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_auth_refused_without_tls() {
    let s = remote().start().await;
    let mut c = Line::connect(s.port("submission")).await;
    c.smtp_reply().await;
    let ehlo = c.smtp("EHLO client.test").await;
    // docs/spec.md §4: AUTH is not advertised before STARTTLS.
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    for cmd in [
        format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)),
        "AUTH LOGIN".to_string(),
    ] {
        assert_eq!(
            c.smtp(&cmd).await,
            "538 5.7.11 Encryption required for requested authentication mechanism"
        );
    }
    assert!(c
        .smtp(&format!("MAIL FROM:<{}>", ALICE.0))
        .await
        .starts_with("530"));
    assert_eq!(c.smtp("STARTTLS").await, "220 2.0.0 Ready to start TLS");
    c.upgrade(&s.ca).await;
    let ehlo = c.smtp("EHLO client.test").await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert_eq!(
        c.smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
            .await,
        "235 2.7.0 Authentication successful"
    );
}
