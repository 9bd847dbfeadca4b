//! SORT (RFC 5256 §3, RFC 5957 SORT=DISPLAY) and THREAD (RFC 5256 §3–§5: ORDEREDSUBJECT and
//! REFERENCES, and Dovecot's REFS) over the wire: the answers for a small threaded mailbox, the UID forms, search
//! criteria, bad input, and a second session's expunge.

use testkit::Stack;

const USER: &str = "alice@example.test";

/// A message with the header fields SORT and THREAD read.
fn msg(from: &str, to: &str, subject: &str, date: &str, id: &str, refs: &str) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n"
    );
    if !refs.is_empty() {
        m.push_str(&format!("References: {refs}\r\n"));
    }
    m.push_str("\r\nbody\r\n");
    m.into_bytes()
}

/// Five messages, appended in this order (so sequence numbers 1..5):
/// 1 "Plan" (a@x) 10:00, 2 "Re: Plan" (b@x, refs a@x) 12:00, 3 "Lunch" 09:00,
/// 4 "Re: Re: Plan" (refs a@x b@x) 11:00, 5 "Re: Lunch" without references 13:00.
async fn mailbox() -> Stack {
    let s = Stack::builder().user(USER).start().await;
    for m in [
        msg(
            "\"Zed\" <carol@example.test>",
            "bob@example.test",
            "Plan",
            "Tue, 1 Jul 2025 10:00:00 +0000",
            "a@x",
            "",
        ),
        msg(
            "alice@example.test",
            "\"Amy\" <zoe@example.test>",
            "Re: Plan",
            "Tue, 1 Jul 2025 12:00:00 +0000",
            "b@x",
            "<a@x>",
        ),
        msg(
            "bob@example.test",
            "carol@example.test",
            "Lunch",
            "Tue, 1 Jul 2025 11:00:00 +0200",
            "c@x",
            "",
        ),
        msg(
            "dave@example.test",
            "alice@example.test",
            "Re: Re: Plan",
            "Tue, 1 Jul 2025 11:00:00 +0000",
            "d@x",
            "<a@x> <b@x>",
        ),
        msg(
            "erin@example.test",
            "alice@example.test",
            "Re: Lunch",
            "Tue, 1 Jul 2025 13:00:00 +0000",
            "e@x",
            "",
        ),
    ] {
        s.append(USER, "INBOX", &m).await;
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_by_each_criterion() {
    let s = mailbox().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    for cap in [
        "SORT",
        "SORT=DISPLAY",
        "THREAD=ORDEREDSUBJECT",
        "THREAD=REFERENCES",
        "THREAD=REFS",
    ] {
        assert!(caps[0].split(' ').any(|c| c == cap), "{cap}: {caps:?}");
    }
    a.ok("SELECT INBOX").await;
    for (criteria, want) in [
        // Sent dates (UTC): 3 = 09:00, 1 = 10:00, 4 = 11:00, 2 = 12:00, 5 = 13:00.
        ("(DATE)", "* SORT 3 1 4 2 5"),
        ("(REVERSE DATE)", "* SORT 5 2 4 1 3"),
        // Arrival order is append order.
        ("(ARRIVAL)", "* SORT 1 2 3 4 5"),
        // Base subjects: LUNCH (3, 5), PLAN (1, 2, 4); ties in mailbox order.
        ("(SUBJECT)", "* SORT 3 5 1 2 4"),
        ("(SUBJECT REVERSE DATE)", "* SORT 5 3 2 4 1"),
        // FROM compares the local part: alice, bob, carol, dave, erin.
        ("(FROM)", "* SORT 2 3 1 4 5"),
        // DISPLAYFROM uses the display name when there is one: "Zed" sorts last.
        ("(DISPLAYFROM)", "* SORT 2 3 4 5 1"),
        ("(TO)", "* SORT 4 5 1 3 2"),
        // "ALICE@EXAMPLE.TEST" (4, 5) < "AMY" (2) < "BOB@…" (1) < "CAROL@…" (3).
        ("(DISPLAYTO)", "* SORT 4 5 2 1 3"),
        // No Cc anywhere: all equal, mailbox order.
        ("(CC)", "* SORT 1 2 3 4 5"),
    ] {
        let u = a.ok(&format!("SORT {criteria} UTF-8 ALL")).await;
        assert_eq!(u, [want], "SORT {criteria}");
    }
    // Search criteria apply first; the UID form answers UIDs.
    assert_eq!(
        a.ok("SORT (DATE) US-ASCII SUBJECT plan").await,
        ["* SORT 1 4 2"]
    );
    a.ok("STORE 1 +FLAGS (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    assert_eq!(a.ok("UID SORT (DATE) UTF-8 ALL").await, ["* SORT 3 4 2 5"]);
    assert_eq!(a.ok("SORT (DATE) UTF-8 ALL").await, ["* SORT 2 3 1 4"]);
    assert_eq!(
        a.ok("SORT (SIZE) UTF-8 SUBJECT nothing-matches").await,
        ["* SORT"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_both_algorithms() {
    let s = mailbox().await;
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    // ORDEREDSUBJECT: LUNCH (3, then 5), PLAN (1, then 4, 2 by date); threads by first date.
    assert_eq!(
        a.ok("THREAD ORDEREDSUBJECT UTF-8 ALL").await,
        ["* THREAD (3 5)(1 (4)(2))"]
    );
    // REFERENCES: 1 has replies 2 (refs a) and 4 (refs a b: under 2); 5 joins 3 by subject.
    assert_eq!(
        a.ok("THREAD REFERENCES UTF-8 ALL").await,
        ["* THREAD (3 5)(1 2 4)"]
    );
    assert_eq!(
        a.ok("UID THREAD REFERENCES UTF-8 SUBJECT plan").await,
        ["* THREAD (1 2 4)"]
    );
    assert_eq!(a.ok("THREAD REFERENCES UTF-8 NOT ALL").await, ["* THREAD"]);
    // Dovecot's REFS: no gathering by subject (5 stays apart from 3), threads by their
    // latest message (1 2 4 ends at 12:00, between 3 at 09:00 and 5 at 13:00).
    assert_eq!(
        a.ok("THREAD REFS UTF-8 ALL").await,
        ["* THREAD (3)(1 2 4)(5)"]
    );
    assert_eq!(
        a.ok("UID THREAD REFS UTF-8 NOT SUBJECT lunch").await,
        ["* THREAD (1 2 4)"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input() {
    let s = mailbox().await;
    let mut a = s.imap_login(USER).await;
    // Only with a mailbox selected.
    let (_, t) = a.cmd("SORT (DATE) UTF-8 ALL").await;
    assert!(t.contains(" BAD ") || t.contains(" NO "), "{t}");
    a.ok("SELECT INBOX").await;
    for bad in [
        "SORT DATE UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (BOGUS) UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT (DATE) ALL",
        "SORT (DATE) UTF-8",
        "THREAD UTF-8 ALL",
        "THREAD NOSUCHALGORITHM UTF-8 ALL",
        "THREAD REFERENCES UTF-8 BOGUSKEY",
        "THREAD REFSX UTF-8 ALL",
        "THREAD REFS UTF-8",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
        // A good command in between: syntax errors in a row end the session.
        a.ok("NOOP").await;
    }
    // A charset we lack: NO [BADCHARSET] (RFC 5256 §3, RFC 3501 §6.4.4).
    for cmd in [
        "SORT (DATE) KOI8-R ALL",
        "THREAD REFERENCES ISO-2022-JP ALL",
    ] {
        let (_, t) = a.cmd(cmd).await;
        assert!(t.contains(" NO [BADCHARSET"), "{cmd} → {t}");
    }
    // The session goes on.
    assert_eq!(a.ok("SORT (ARRIVAL) UTF-8 ALL").await, ["* SORT 1 2 3 4 5"]);
}

/// Another session expunges: until this one is told (it is, at the end of the next command
/// that may send EXPUNGE), SORT still answers with the sequence numbers it knows, the
/// expunged message included (RFC 2180 §4.1.1, as SEARCH does); afterwards the numbers shift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sessions_expunge() {
    let s = mailbox().await;
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 3 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let u = a.ok("SORT (DATE) UTF-8 ALL").await;
    assert_eq!(u[0], "* SORT 3 1 4 2 5", "{u:?}");
    a.ok("NOOP").await;
    assert_eq!(a.ok("SORT (DATE) UTF-8 ALL").await, ["* SORT 1 3 2 4"]);
    assert_eq!(
        a.ok("THREAD REFERENCES UTF-8 ALL").await,
        ["* THREAD (1 2 3)(4)"]
    );
    assert_eq!(a.ok("THREAD REFS UTF-8 ALL").await, ["* THREAD (1 2 3)(4)"]);
}

/// The fields one session's SORT read are shared with the other sessions on the mailbox
/// (`sort_cache`), and stay right while they change it: a message another session appends is
/// sorted in, one it expunges goes, and a mailbox nobody has selected keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_share_sort_fields_while_the_mailbox_changes() {
    let s = mailbox().await;
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    assert_eq!(
        a.ok("UID SORT (DATE) UTF-8 ALL").await,
        ["* SORT 3 1 4 2 5"]
    );
    // A delivery brings the earliest message of all; B expunges "Lunch" (UID 3).
    let early = msg(
        "x@example.test",
        "y@example.test",
        "Early",
        "Tue, 1 Jul 2025 08:00:00 +0000",
        "e@x",
        "",
    );
    s.append(USER, "INBOX", &early).await;
    b.ok("NOOP").await;
    b.ok("UID STORE 3 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    assert_eq!(
        b.ok("UID SORT (DATE) UTF-8 ALL").await,
        ["* SORT 6 1 4 2 5"]
    );
    a.ok("NOOP").await;
    assert_eq!(
        a.ok("UID SORT (DATE) UTF-8 ALL").await,
        ["* SORT 6 1 4 2 5"]
    );
    assert_eq!(
        a.ok("UID SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 6 5 1 2 4"]
    );
}
