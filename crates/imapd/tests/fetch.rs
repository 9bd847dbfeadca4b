//! FETCH / UID FETCH items, BODY[section]<partial>, ENVELOPE, BODYSTRUCTURE (RFC 3501 §6.4.5, §7.4.2).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

const MULTI: &str = "From: \"Doe, John\" <john@example.test>\r\nTo: a@x, friends: b@y;\r\nSubject: multi\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <m@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello part one\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: in@x\r\n\r\ninner body\r\n--XX--\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_items() {
    let s = start().await;
    s.append(USER, "INBOX", &message("one", "hello")).await;
    s.append(USER, "INBOX", MULTI.as_bytes()).await;
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1 (FLAGS UID RFC822.SIZE INTERNALDATE)").await;
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Recent) UID 1 RFC822.SIZE "),
        "{r:?}"
    );
    assert!(r[0].contains("INTERNALDATE \""), "{r:?}");
    // RFC 3501 §7.4.2 ENVELOPE with sender/reply-to defaulted to from, and a group.
    let r = c.ok("FETCH 2 ENVELOPE").await;
    assert!(
        r[0].contains("(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"multi\" ((\"Doe, John\" NIL \"john\" \"example.test\")) ((\"Doe, John\" NIL \"john\" \"example.test\")) ((\"Doe, John\" NIL \"john\" \"example.test\")) ((NIL NIL \"a\" \"x\")(NIL NIL \"friends\" NIL)(NIL NIL \"b\" \"y\")(NIL NIL NIL NIL)) NIL NIL NIL \"<m@x>\")"),
        "{r:?}"
    );
    let r = c.ok("FETCH 2 BODYSTRUCTURE").await;
    assert!(
        // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1): no line ends.
        r[0].contains("(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 14 0"),
        "{r:?}"
    );
    assert!(r[0].contains("\"message\" \"rfc822\""), "{r:?}");
    assert!(r[0].contains("\"mixed\" (\"boundary\" \"XX\")"), "{r:?}");
    let r = c.ok("FETCH 2 BODY").await;
    assert!(r[0].contains("BODY ((\"text\" \"plain\""), "{r:?}");
    // Sections, nested parts, partial.
    let r = c
        .ok("FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[1.MIME])")
        .await;
    assert!(r[0].contains("BODY[1] {14}\r\nhello part one"), "{r:?}");
    assert!(
        r[0].contains("BODY[2.HEADER] {30}\r\nSubject: inner\r\nFrom: in@x\r\n\r\n"),
        "{r:?}"
    );
    assert!(r[0].contains("BODY[2.TEXT] {10}\r\ninner body"), "{r:?}");
    assert!(
        r[0].contains("BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"),
        "{r:?}"
    );
    let r = c
        .ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject)] BODY.PEEK[TEXT]<0.3>)")
        .await;
    assert!(
        r[0].contains("BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n"),
        "{r:?}"
    );
    assert!(r[0].contains("BODY[TEXT]<0> {3}\r\nhel"), "{r:?}");
    // PEEK leaves \Seen alone; BODY[] sets it and reports FLAGS (RFC 3501 §6.4.5).
    let r = c.ok("FETCH 1 FLAGS").await;
    assert!(!r[0].contains("\\Seen"));
    let r = c.ok("FETCH 1 BODY[]").await;
    assert!(
        r[0].contains("BODY[] {") && r[0].contains("FLAGS (\\Seen \\Recent)"),
        "{r:?}"
    );
    let r = c.ok("FETCH 1 (RFC822.HEADER RFC822.TEXT)").await;
    assert!(
        r[0].contains("RFC822.HEADER {") && r[0].contains("RFC822.TEXT {7}\r\nhello\r\n"),
        "{r:?}"
    );
    // RFC 3501 §6.4.8: UID FETCH always returns UID.
    let r = c.ok("UID FETCH 2 FLAGS").await;
    assert!(r[0].starts_with("* 2 FETCH (UID 2 FLAGS"), "{r:?}");
    let r = c.ok("UID FETCH 99 FLAGS").await;
    assert!(r.is_empty());
    let r = c.ok("FETCH 1:* FAST").await;
    assert_eq!(r.len(), 2);
    // Invalid message number → BAD.
    let (_, t) = c.cmd("FETCH 5 FLAGS").await;
    assert!(t.contains("BAD"), "{t}");
}

/// RFC 3501 §6.4.5: a non-PEEK body fetch of several unseen messages sets \Seen on each (in
/// one store transaction), reports it in each FETCH response, and leaves seen ones alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_fetch_sets_seen_on_every_message() {
    let s = start().await;
    for i in 0..4 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "body"))
            .await;
    }
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Seen)").await;
    let r = c.ok("FETCH 1:4 (BODY[TEXT])").await;
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains(" FETCH (")).collect();
    assert_eq!(fetches.len(), 4, "{r:?}");
    for l in &fetches {
        // Message 2 was seen already: its flags did not change, so no FLAGS is reported.
        let was_seen = l.starts_with("* 2 FETCH");
        assert_eq!(l.contains("FLAGS (\\Seen"), !was_seen, "{l}");
    }
    let inbox = s.mailbox(USER, "INBOX");
    let metas = s.store.messages(inbox.id).expect("messages");
    assert!(
        metas.iter().all(|m| m.flags.has(store::Flags::SEEN)),
        "{metas:?}"
    );
    assert_eq!(
        s.store
            .status(s.account(USER).id, "INBOX")
            .expect("status")
            .unseen,
        0
    );
    // A second fetch changes nothing: no FLAGS in the responses.
    let r = c.ok("FETCH 1:4 (BODY[TEXT])").await;
    assert!(r.iter().all(|l| !l.contains("FLAGS")), "{r:?}");
}
