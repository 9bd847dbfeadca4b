//! CONDSTORE and QRESYNC (RFC 7162): resync on SELECT, CHANGEDSINCE/VANISHED, UNCHANGEDSINCE
//! with [MODIFIED], SEARCH MODSEQ, CLOSED, ENABLE.
use testkit::client::code_value;
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_reselect_gets_exactly_the_changes() {
    let s = start().await;
    for i in 1..=6 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    // The client's last session: remember UIDVALIDITY and HIGHESTMODSEQ.
    let mut a = s.imap_login(USER).await;
    a.ok("ENABLE QRESYNC").await;
    let sel = a.ok("SELECT INBOX").await;
    let uidvalidity = code_value(&sel, "UIDVALIDITY");
    let modseq = code_value(&sel, "HIGHESTMODSEQ");
    a.ok("LOGOUT").await;

    // Meanwhile another session changes flags and expunges.
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("UID STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    b.ok("UID STORE 5 +FLAGS.SILENT ($Work)").await;
    // Changed, then expunged: only VANISHED may report it.
    b.ok("UID STORE 3,4 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    s.append(USER, "INBOX", &message("new", "x")).await;
    b.ok("LOGOUT").await;

    let mut a = s.imap_login(USER).await;
    a.ok("ENABLE QRESYNC").await;
    let r = a
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:6))"
        ))
        .await;
    let store = &s.store;
    let mb = s.mailbox(USER, "INBOX");
    let ms = |uid| {
        store
            .message(mb.id, store::Uid::new(uid))
            .expect("store")
            .expect("msg")
            .modseq
    };
    let vanished: Vec<&String> = r.iter().filter(|l| l.contains("VANISHED")).collect();
    assert_eq!(vanished, vec!["* VANISHED (EARLIER) 3:4"], "{r:?}");
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains("FETCH")).collect();
    assert_eq!(
        fetches,
        vec![
            &format!("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ({}))", ms(2)),
            &format!("* 3 FETCH (UID 5 FLAGS ($Work) MODSEQ ({}))", ms(5)),
        ],
        "{r:?}"
    );
    assert!(r.contains(&"* 5 EXISTS".to_string()), "{r:?}");
    // The HIGHESTMODSEQ now matches the store.
    assert_eq!(code_value(&r, "HIGHESTMODSEQ"), mb.highestmodseq.get());

    // Same question by FETCH: UID FETCH (CHANGEDSINCE VANISHED) (RFC 7162 §3.2.6).
    let r = a
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
        ))
        .await;
    assert_eq!(r[0], "* VANISHED (EARLIER) 3:4", "{r:?}");
    assert_eq!(r.len(), 4, "{r:?}");
    assert!(r[3].contains("UID 7") && r[3].contains("MODSEQ"), "{r:?}");

    // Without known UIDs: all UIDs (RFC 7162 §3.2.5.1). CLOSED first (§3.2.11).
    let r = a
        .ok(&format!("EXAMINE INBOX (QRESYNC ({uidvalidity} {modseq}))"))
        .await;
    assert_eq!(r[0], "* OK [CLOSED] previous mailbox closed");
    assert!(r.contains(&"* VANISHED (EARLIER) 3:4".to_string()), "{r:?}");
    assert_eq!(r.iter().filter(|l| l.contains("FETCH")).count(), 3);

    // A wrong UIDVALIDITY gets a plain SELECT.
    let r = a
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({} {modseq}))",
            uidvalidity + 1
        ))
        .await;
    assert!(
        !r.iter()
            .any(|l| l.contains("VANISHED") || l.contains("FETCH")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore_store_fetch_search() {
    let s = start().await;
    for i in 1..=3 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    // QRESYNC parameter without ENABLE QRESYNC → BAD (RFC 7162 §3.2.5).
    let (_, t) = a.cmd("SELECT INBOX (QRESYNC (1 1))").await;
    assert!(t.contains(" BAD "), "{t}");
    let r = a.ok("SELECT INBOX (CONDSTORE)").await;
    let start_modseq = code_value(&r, "HIGHESTMODSEQ");
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Answered)").await;
    // UNCHANGEDSINCE with an old MODSEQ fails for message 1 only (RFC 7162 §3.1.3).
    let (u, t) = a
        .cmd(&format!(
            "STORE 1:2 (UNCHANGEDSINCE {start_modseq}) +FLAGS (\\Seen)"
        ))
        .await;
    assert!(t.contains("OK [MODIFIED 1]"), "{t} {u:?}");
    // The FETCH for message 1 is the pushed change from B, the one for 2 is our STORE.
    assert!(
        u.iter()
            .any(|l| l.starts_with("* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (")),
        "{u:?}"
    );
    let m1 = s
        .store
        .message(s.mailbox(USER, "INBOX").id, store::Uid::new(1))
        .expect("store")
        .expect("msg");
    assert!(!m1.flags.has(store::Flags::SEEN));
    // UID STORE .SILENT still reports the new MODSEQ under CONDSTORE.
    let u = a.ok("UID STORE 3 +FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].starts_with("* 3 FETCH (UID 3 MODSEQ ("), "{u:?}");
    // CHANGEDSINCE: only messages changed after the value; MODSEQ implied.
    let u = a
        .ok(&format!("FETCH 1:* (UID) (CHANGEDSINCE {start_modseq})"))
        .await;
    assert_eq!(u.len(), 3, "{u:?}");
    let m3 = s
        .store
        .message(s.mailbox(USER, "INBOX").id, store::Uid::new(3))
        .expect("store")
        .expect("msg")
        .modseq;
    let u = a
        .ok(&format!("FETCH 1:* (UID) (CHANGEDSINCE {})", m3.prev()))
        .await;
    assert_eq!(u, vec![format!("* 3 FETCH (UID 3 MODSEQ ({m3}))")]);
    // SEARCH MODSEQ with the highest MODSEQ of the matches (RFC 7162 §3.1.5).
    let u = a.ok(&format!("SEARCH MODSEQ {m3}")).await;
    assert_eq!(u, vec![format!("* SEARCH 3 (MODSEQ {m3})")]);
    let u = a
        .ok(&format!(
            "UID SEARCH RETURN (COUNT) MODSEQ {}",
            start_modseq + 1
        ))
        .await;
    assert!(u[0].ends_with(&format!("UID COUNT 3 MODSEQ {m3}")), "{u:?}");
    // VANISHED needs QRESYNC (RFC 7162 §3.2.6).
    let (_, t) = a.cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)").await;
    assert!(t.contains(" BAD "), "{t}");
    // STATUS HIGHESTMODSEQ.
    let u = a.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)").await;
    assert_eq!(
        u,
        vec![format!(
            "* STATUS \"INBOX\" (HIGHESTMODSEQ {m3} MESSAGES 3)"
        )]
    );
    // [CLOSED] whenever SELECT closes a selected mailbox (RFC 7162 §3.2.11).
    let u = a.ok("SELECT Sent").await;
    assert_eq!(u[0], "* OK [CLOSED] previous mailbox closed");
    let u = a.ok("ENABLE CONDSTORE QRESYNC X-UNKNOWN").await;
    assert_eq!(u, vec!["* ENABLED CONDSTORE QRESYNC"]);
    let u = a.ok("SELECT INBOX").await;
    assert_eq!(u[0], "* OK [CLOSED] previous mailbox closed");
    a.ok("UNSELECT").await;
    let u = a.ok("SELECT INBOX").await;
    assert!(!u.iter().any(|l| l.contains("CLOSED")), "{u:?}");
}
