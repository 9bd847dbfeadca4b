//! CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, LOGINDISABLED, LOGOUT, shutdown (RFC 3501 §6.1–6.2).
use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";
const PASS: &str = testkit::PASSWORD;

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_capability_login_logout() {
    let s = start().await;
    let mut c = Imap::connect(s.port("imap")).await;
    // RFC 3501 §7.1.1: greeting is an untagged OK.
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{}",
        c.greeting
    );
    let caps = c.ok("CAPABILITY").await;
    assert!(
        caps[0].contains("STARTTLS")
            && caps[0].contains("AUTH=PLAIN")
            && caps[0].contains("LITERAL+")
    );
    // RFC 3501 §6.2.3: wrong password → NO, with RFC 5530 code.
    let (_, t) = c.cmd(&format!("LOGIN {USER} wrongpassword")).await;
    assert!(t.contains("NO [AUTHENTICATIONFAILED]"), "{t}");
    // Wrong state: SELECT before login → BAD.
    let (_, t) = c.cmd("SELECT INBOX").await;
    assert!(t.contains(" BAD "), "{t}");
    let (_, t) = c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
    assert!(t.contains("OK [CAPABILITY"), "{t}");
    let (_, t) = c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
    assert!(t.contains(" BAD "), "already authenticated: {t}");
    // RFC 3501 §6.1.3: BYE then tagged OK.
    let (u, t) = c.cmd("LOGOUT").await;
    assert!(u[0].starts_with("* BYE") && t.contains("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_literal_and_authenticate() {
    let s = start().await;
    let mut c = Imap::connect(s.port("imap")).await;
    c.send(&format!("a1 LOGIN {{{}}}\r\n", USER.len())).await;
    assert!(
        c.response().await.starts_with("+ "),
        "RFC 3501 §7.5 continuation"
    );
    c.send(&format!("{USER} {{{}+}}\r\n{PASS}\r\n", PASS.len()))
        .await;
    let (_, t) = c.until("a1").await;
    assert!(t.starts_with("a1 OK"), "{t}");

    // RFC 4959 SASL-IR.
    let ir = auth::sasl::encode_base64(format!("\0{USER}\0{PASS}").as_bytes());
    let mut c = Imap::connect(s.port("imap")).await;
    c.ok(&format!("AUTHENTICATE PLAIN {ir}")).await;

    // RFC 3501 §6.2.2 continuation with "+ " framing; LOGIN mechanism.
    let mut c = Imap::connect(s.port("imap")).await;
    c.send("a AUTHENTICATE LOGIN\r\n").await;
    assert_eq!(c.response().await.trim_end(), "+ VXNlcm5hbWU6");
    c.send(&format!(
        "{}\r\n",
        auth::sasl::encode_base64(USER.as_bytes())
    ))
    .await;
    assert_eq!(c.response().await.trim_end(), "+ UGFzc3dvcmQ6");
    c.send(&format!(
        "{}\r\n",
        auth::sasl::encode_base64(PASS.as_bytes())
    ))
    .await;
    let (_, t) = c.until("a").await;
    assert!(t.starts_with("a OK"), "{t}");

    // "*" cancels → BAD (RFC 3501 §6.2.2).
    let mut c = Imap::connect(s.port("imap")).await;
    c.send("b AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.response().await.trim_end(), "+");
    c.send("*\r\n").await;
    let (_, t) = c.until("b").await;
    assert!(t.starts_with("b BAD"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logindisabled_without_tls() {
    let s = Stack::builder()
        .user(USER)
        .plaintext_from_loopback(false)
        .start()
        .await;
    let mut c = Imap::connect(s.port("imap")).await;
    // RFC 3501 §6.2.3 LOGINDISABLED.
    assert!(
        c.greeting.contains("LOGINDISABLED") && !c.greeting.contains("AUTH=PLAIN"),
        "{}",
        c.greeting
    );
    let (_, t) = c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
    assert!(t.contains("NO [PRIVACYREQUIRED]"), "{t}");
    let (_, t) = c.cmd("AUTHENTICATE PLAIN AGFAYgBj").await;
    assert!(t.contains(" NO "), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction() {
    assert_eq!(
        imapd::redact(b"a LOGIN bob secret\r\n").as_deref(),
        Some("a LOGIN bob <redacted>")
    );
    assert_eq!(
        imapd::redact(b"a AUTHENTICATE PLAIN AGFAYgBj\r\n").as_deref(),
        Some("a AUTHENTICATE PLAIN <redacted>")
    );
    assert_eq!(imapd::redact(b"a SELECT INBOX\r\n"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_bye() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    s.stop();
    // docs/spec.md §7: IMAP sessions get BYE on shutdown.
    assert_eq!(c.response().await.trim_end(), "* BYE server shutting down");
}
