//! SEARCHRES (RFC 5182): `SEARCH RETURN (SAVE)` and `$` as a sequence set in later
//! commands; the RFC's example exchanges, the MIN/MAX rule (§2.2), the resets of §2.1
//! (SELECT, EXAMINE, UNSELECT, CLOSE), `$` with nothing saved (empty, not an error), a
//! message expunged by another session leaving the saved result, and malformed `$`s.

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// Five messages; 2, 3 and 5 \Flagged, 3 from Smith, 5 larger than 4096 octets.
async fn start() -> (Stack, Imap) {
    let s = Stack::builder().user(USER).start().await;
    for (i, from) in ["a", "b", "Smith", "d", "e"].iter().enumerate() {
        let body = if i == 4 {
            "x".repeat(5000)
        } else {
            "hi".into()
        };
        let m = format!(
            "From: {from} <{from}@example.test>\r\nSubject: m{}\r\n\r\n{body}\r\n",
            i + 1
        );
        s.append(USER, "INBOX", m.as_bytes()).await;
    }
    s.store
        .create_mailbox(s.account(USER).id, "foo", None)
        .await
        .expect("create");
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "SEARCHRES"), "{caps:?}");
    a.ok("SELECT INBOX").await;
    a.ok("STORE 2,3,5 +FLAGS.SILENT (\\Flagged)").await;
    (s, a)
}

/// RFC 5182 §2.1 / §4 examples: SAVE alone answers no ESEARCH; `$` in FETCH, SEARCH,
/// UID SEARCH, STORE and COPY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_examples() {
    let (s, mut a) = start().await;
    let (u, t) = a
        .cmd("SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"")
        .await;
    assert!(u.is_empty(), "{u:?}");
    assert!(t.contains(" OK "), "{t}");
    assert_eq!(
        a.ok("FETCH $ (UID FLAGS)").await,
        [
            "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
            "* 5 FETCH (UID 5 FLAGS (\\Flagged \\Recent))"
        ]
    );
    // `$` combined with other keys.
    assert_eq!(a.ok("SEARCH $ SMALLER 4096").await, ["* SEARCH 2"]);
    assert_eq!(a.ok("UID SEARCH UID $").await, ["* SEARCH 2 5"]);
    assert_eq!(a.ok("SEARCH OR $ 1").await, ["* SEARCH 1 2 5"]);
    let u = a.ok("STORE $ +FLAGS (\\Seen)").await;
    assert_eq!(u.len(), 2, "{u:?}");
    let (_, t) = a.cmd("COPY $ foo").await;
    assert!(t.contains("[COPYUID ") && t.contains(" 2,5 1:2]"), "{t}");
    assert_eq!(s.count(USER, "foo"), 2);
    // A pipelined SEARCH SAVE and its use (RFC 5182 §2.1 asks for them in order).
    a.send("p1 SEARCH RETURN (SAVE) FROM Smith\r\np2 UID FETCH $ UID\r\n")
        .await;
    let (u, t) = a.until("p2").await;
    assert_eq!(
        u,
        ["p1 OK SEARCH completed, result saved", "* 3 FETCH (UID 3)"]
    );
    assert!(t.starts_with("p2 OK"), "{t}");
}

/// RFC 5182 §2.2: with MIN or MAX (and not ALL or COUNT) only what is returned is saved;
/// with ALL or COUNT every match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_max_save_what_they_return() {
    let (_s, mut a) = start().await;
    let (u, t) = a.cmd("SEARCH RETURN (SAVE MIN) FLAGGED").await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(u, [format!("* ESEARCH (TAG \"{tag}\") MIN 2")]);
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 2"]);
    a.ok("SEARCH RETURN (MIN SAVE MAX) FLAGGED").await;
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 2 5"]);
    let (u, _) = a.cmd("UID SEARCH RETURN (SAVE COUNT MIN) FLAGGED").await;
    assert!(u[0].ends_with("UID MIN 2 COUNT 3"), "{u:?}");
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 2 3 5"]);
    // A SAVE search that fails (NO) empties `$` (RFC 5182 §2.1; Dovecot does the same).
    a.ok("SEARCH RETURN (SAVE) ALL").await;
    let (_, t) = a.cmd("SEARCH RETURN (SAVE) CHARSET FOO ALL").await;
    assert!(t.contains("NO [BADCHARSET"), "{t}");
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH"]);
    // Nothing matched: `$` is empty.
    a.ok("SEARCH RETURN (SAVE) SUBJECT nothing-matches").await;
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH"]);
}

/// RFC 5182 §2.1: `$` starts empty and is emptied by SELECT, EXAMINE, UNSELECT and CLOSE;
/// an empty `$` is no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_until_saved_and_reset_on_select() {
    let (_s, mut a) = start().await;
    assert_eq!(a.ok("FETCH $ FLAGS").await, Vec::<String>::new());
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH"]);
    assert_eq!(a.ok("UID STORE $ +FLAGS (x)").await, Vec::<String>::new());
    for reset in ["SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"] {
        a.ok("SEARCH RETURN (SAVE) ALL").await;
        assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 1 2 3 4 5"]);
        a.ok(reset).await;
        a.ok("SELECT INBOX").await;
        assert_eq!(a.ok("SEARCH $").await, ["* SEARCH"], "after {reset}");
    }
    // A failed SELECT leaves no mailbox selected; the next one starts empty.
    a.ok("SEARCH RETURN (SAVE) ALL").await;
    let (_, t) = a.cmd("SELECT nosuch").await;
    assert!(t.contains(" NO "), "{t}");
    a.ok("SELECT INBOX").await;
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH"]);
}

/// Two sessions: a message of the saved result expunged by the other session leaves `$`
/// once this session has been told, and the rest keep their new sequence numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunged_elsewhere_leaves_the_result() {
    let (s, mut a) = start().await;
    a.ok("SEARCH RETURN (SAVE) FLAGGED").await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let u = a.ok("NOOP").await;
    assert!(u.contains(&"* 2 EXPUNGE".to_string()), "{u:?}");
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 2 4"]);
    assert_eq!(a.ok("UID SEARCH $").await, ["* SEARCH 3 5"]);
    // The other session's `$` is its own.
    assert_eq!(b.ok("SEARCH $").await, ["* SEARCH"]);
}

/// Malformed `$` is BAD; a `$` that is a string or a mailbox name stays one; `$` outside
/// the selected state is BAD like any FETCH there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_literal_dollars() {
    let (_s, mut a) = start().await;
    a.ok("SEARCH RETURN (SAVE) ALL").await;
    for bad in [
        "FETCH $$ FLAGS",
        "FETCH $:3 FLAGS",
        "FETCH 1,$ FLAGS",
        "SEARCH RETURN (SAVE",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
    }
    assert_eq!(a.ok("SEARCH SUBJECT $").await, ["* SEARCH"]);
    assert_eq!(a.ok("SEARCH HEADER X-Y $ $").await, ["* SEARCH"]);
    let (_, t) = a.cmd("SELECT $").await;
    assert!(t.contains(" NO "), "{t}");
    let (_, t) = a.cmd("FETCH $ FLAGS").await;
    assert!(t.contains(" BAD "), "{t}");
}
