//! Live state across protocols (RFC 2177 IDLE, RFC 7162 §3.2.10 VANISHED): an idling IMAP
//! session sees SMTP deliveries, other IMAP sessions' flag changes, POP3 DELE+QUIT and
//! `mailstack deliver` (store.append) as they happen. The real SMTP and POP3 servers run
//! in-process on the same store. Timeouts are generous (10 s); nothing is timed tightly.
use testkit::client::{pop3_dele_quit, smtp_send};
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sees_smtp_imap_pop3_and_deliver() {
    let s = start().await;
    let smtp = s.port("smtp");
    let pop3 = s.port("pop3");
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    let tag = a.idle().await;

    // SMTP delivery → EXISTS (+ RECENT) while idling.
    let r = smtp_send(smtp, USER, &message("via-smtp", "hello")).await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(a.pushed().await, "* 1 EXISTS");
    assert_eq!(a.pushed().await, "* 1 RECENT");

    // Another IMAP session sets \Seen → FETCH FLAGS.
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let r = a.pushed().await;
    assert!(r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen"), "{r}");

    // `mailstack deliver` is store.append on the same store.
    s.append(USER, "INBOX", &message("via-deliver", "x")).await;
    assert_eq!(a.pushed().await, "* 2 EXISTS");
    assert_eq!(a.pushed().await, "* 2 RECENT");

    // POP3 DELE + QUIT commits the deletion → EXPUNGE.
    drop(b);
    pop3_dele_quit(pop3, USER, testkit::PASSWORD, &[1]).await;
    assert_eq!(a.pushed().await, "* 1 EXPUNGE");

    // DONE ends IDLE; re-IDLE works and sees the next change.
    let (u, t) = a.done(&tag).await;
    assert!(
        u.is_empty() && t.ends_with("OK IDLE terminated"),
        "{u:?} {t}"
    );
    let r = a.ok("FETCH 1 (UID FLAGS)").await;
    assert_eq!(r, vec!["* 1 FETCH (UID 2 FLAGS (\\Recent))"]);
    let tag = a.idle().await;
    let r = smtp_send(smtp, USER, &message("again", "x")).await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(a.pushed().await, "* 2 EXISTS");
    a.pushed().await;
    let (_, t) = a.done(&tag).await;
    assert!(t.contains("OK"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_session_gets_vanished_and_modseq() {
    let s = start().await;
    let pop3 = s.port("pop3");
    for i in 0..3 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let r = a.ok("ENABLE QRESYNC").await;
    assert_eq!(r, vec!["* ENABLED QRESYNC"]);
    a.ok("SELECT INBOX").await;
    let tag = a.idle().await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    // RFC 7162 §3.1: unsolicited FETCH carries MODSEQ once CONDSTORE is on.
    let r = a.pushed().await;
    let modseq = s
        .store
        .message(s.mailbox(USER, "INBOX").id, store::Uid::new(3))
        .expect("meta");
    let modseq = modseq.expect("msg").modseq;
    assert_eq!(
        r,
        format!("* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ ({modseq}))")
    );
    drop(b);
    // POP3 DELE+QUIT → VANISHED, not EXPUNGE (RFC 7162 §3.2.10).
    pop3_dele_quit(pop3, USER, testkit::PASSWORD, &[1, 2]).await;
    assert_eq!(a.pushed().await, "* VANISHED 1:2");
    a.done(&tag).await;
    let r = a.ok("FETCH 1 UID").await;
    assert_eq!(r[0], "* 1 FETCH (UID 3)");
    // Our own EXPUNGE is reported as VANISHED too.
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.ok("EXPUNGE").await;
    assert_eq!(r, vec!["* VANISHED 3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_selected_mailbox_says_bye() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    b.ok("CREATE Project").await;
    a.ok("SELECT Project").await;
    let _tag = a.idle().await;
    b.ok("DELETE Project").await;
    let r = a.pushed().await;
    assert!(r.starts_with("* BYE selected mailbox was deleted"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_selected_mailbox_keeps_working() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    b.ok("CREATE Old").await;
    s.append(USER, "Old", &message("x", "y")).await;
    a.ok("SELECT Old").await;
    b.ok("RENAME Old New").await;
    s.append(USER, "New", &message("z", "y")).await;
    let r = a.ok("NOOP").await;
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
}
