//! Two sessions on one mailbox: EXISTS / EXPUNGE / FETCH FLAGS only where RFC 3501 §7 allows,
//! and IDLE (RFC 2177).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_session_updates() {
    let s = start().await;
    for i in 0..3 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    b.ok("EXPUNGE").await;
    // RFC 3501 §7.4.1: no EXPUNGE during FETCH; sequence numbers stay as A knows them.
    let r = a.ok("FETCH 3 UID").await;
    assert!(r.iter().any(|l| l == "* 3 FETCH (UID 3)"), "{r:?}");
    assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{r:?}");
    assert!(
        r.iter()
            .any(|l| l.contains("FETCH (UID 1 FLAGS (\\Flagged")),
        "flag change shown: {r:?}"
    );
    let r = a.ok("SEARCH ALL").await;
    assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{r:?}");
    // NOOP may send it (RFC 3501 §6.1.2).
    let r = a.ok("NOOP").await;
    assert!(r.contains(&"* 2 EXPUNGE".to_string()), "{r:?}");
    let r = a.ok("FETCH 2 UID").await;
    assert_eq!(r, vec!["* 2 FETCH (UID 3)"]);
    // An append by another session → EXISTS at the next command.
    b.ok("APPEND INBOX {5+}\r\nhello").await;
    let r = a.ok("NOOP").await;
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pushes_changes() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    a.send("i1 IDLE\r\n").await;
    assert!(
        a.response().await.starts_with("+ "),
        "RFC 2177 §3 continuation"
    );
    s.append(USER, "INBOX", &message("b", "x")).await;
    assert_eq!(a.response().await.trim_end(), "* 2 EXISTS");
    assert!(a.response().await.starts_with("* "));
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS (\\Deleted)").await;
    assert!(a.response().await.contains("FETCH (UID 1 FLAGS (\\Deleted"));
    b.ok("EXPUNGE").await;
    assert_eq!(a.response().await.trim_end(), "* 1 EXPUNGE");
    a.send("DONE\r\n").await;
    let (_, t) = a.until("i1").await;
    assert!(t.starts_with("i1 OK"), "{t}");
}
