//! Two sessions on one mailbox: EXISTS / EXPUNGE / FETCH FLAGS only where RFC 3501 §7 allows,
//! and IDLE (RFC 2177).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

/// Three messages in INBOX, and two sessions that have it selected.
async fn two_sessions_on_three_messages() -> (Stack, testkit::client::Imap, testkit::client::Imap) {
    let s = start().await;
    for i in 0..3 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    (s, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_session_updates() {
    let (_s, mut a, mut b) = two_sessions_on_three_messages().await;
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

/// A SELECT of the mailbox already selected keeps its in-memory index (docs/architecture.md
/// §3.6) — and that index has every change another session made meanwhile: the new SELECT
/// reports the messages, flags and expunges as they are now, also after switching to
/// another mailbox and back (where the index is built again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reselect_sees_what_another_session_changed() {
    let (s, mut a, mut b) = two_sessions_on_three_messages().await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    b.ok("LOGOUT").await;
    s.append(USER, "INBOX", &message("m3", "x")).await;
    for step in [
        "SELECT INBOX",
        "EXAMINE INBOX",
        "SELECT Archive",
        "SELECT INBOX",
    ] {
        let r = a.ok(step).await;
        if step.ends_with("INBOX") {
            assert!(r.iter().any(|l| l == "* 3 EXISTS"), "{step}: {r:?}");
            assert!(
                r.iter().any(|l| l.starts_with("* OK [UNSEEN 2]")),
                "{step}: {r:?}"
            );
            // \Recent goes to the first SELECT after the delivery (RFC 3501 §2.3.2): not
            // what this test is about.
            let f: Vec<String> = a
                .ok("FETCH 1:* (UID FLAGS)")
                .await
                .iter()
                .map(|l| l.replace("\\Recent", ""))
                .collect();
            assert_eq!(
                f,
                [
                    "* 1 FETCH (UID 2 FLAGS (\\Seen))",
                    "* 2 FETCH (UID 3 FLAGS ())",
                    "* 3 FETCH (UID 4 FLAGS ())",
                ],
                "{step}"
            );
        }
    }
}
