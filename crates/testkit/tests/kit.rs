//! The kit's own promises: the builder's daemon and TLS choices, one registry for every
//! daemon, the accounts it creates, and a stop that waits for every accept loop.

use testkit::{Daemon, Imap, Pop3, Stack, ALICE, PASSWORD};

#[tokio::test]
async fn every_daemon_by_default_with_starttls_and_implicit_tls() {
    let s = Stack::start().await;
    for service in [
        "imap",
        "imaps",
        "pop3",
        "pop3s",
        "smtp",
        "submission",
        "submissions",
        "http",
        "https",
    ] {
        assert!(s.serves(service), "{service}");
    }
    let c = Imap::connect(s.port("imap")).await;
    assert!(c.greeting.contains("STARTTLS"), "{}", c.greeting);
    // Implicit TLS verified against the kit's trust store; the demo account logs in.
    let mut c = Imap::connect_tls(s.port("imaps"), &s.ca).await;
    c.ok(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(s.mailbox_names(ALICE.0).iter().any(|m| m == "INBOX"));
}

#[tokio::test]
async fn only_and_tls_off() {
    let registry = net::Registry::new();
    let mut s = Stack::builder()
        .only(&[Daemon::Pop3, Daemon::Imap])
        .tls(false)
        .registry(registry.clone())
        .hostname("pop.example.test")
        .user("carol@example.test")
        .start()
        .await;
    assert!(s.serves("pop3") && s.serves("imap"));
    assert!(!s.serves("pop3s") && !s.serves("imaps") && !s.serves("smtp") && !s.serves("http"));
    let mut p = Pop3::connect(s.port("pop3")).await;
    assert!(p.line().await.starts_with("+OK pop.example.test"));
    assert!(p.cmd("CAPA").await.starts_with("+OK"));
    assert!(
        !p.multi().await.iter().any(|l| l == "STLS"),
        "no certificate"
    );
    let mut c = s.imap_login("carol@example.test").await;
    // The session is in the registry the test passed.
    assert!(registry.sessions().iter().any(|i| i.protocol == "imap"));
    // Stopping says goodbye to the open sessions and waits for every accept loop.
    s.stopped().await;
    assert_eq!(c.response().await.trim_end(), "* BYE server shutting down");
    assert_eq!(p.line().await, "-ERR [SYS/TEMP] server shutting down");
}

#[tokio::test]
async fn accounts_by_address_or_account() {
    let s = Stack::builder().only(&[]).start().await;
    let a = s.add_user("dave@example.test").await;
    let uid = s
        .deliver("dave@example.test", &testkit::message("one", "x"))
        .await;
    assert_eq!(s.uids(&a), vec![uid]);
    assert_eq!(s.count("dave@example.test", "INBOX"), 1);
    assert!(!s.seen(&a, uid));
    // Added with the kit's password: it logs in.
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let ok = s
        .auth
        .authenticate("dave@example.test", &PASSWORD.to_string().into(), ip)
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}
