//! APPEND, STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT, SEARCH (RFC 3501 §6.3.11,
//! §6.4; RFC 4315; RFC 6851).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_store_expunge() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    let msg = message("app", "body text");
    c.send(&format!(
        "a1 APPEND INBOX (\\Flagged) \"17-Jul-1996 02:44:25 -0700\" {{{}}}\r\n",
        msg.len()
    ))
    .await;
    assert!(c.response().await.starts_with("+"));
    c.send_bytes(&msg).await;
    c.send("\r\n").await;
    let (_, t) = c.until("a1").await;
    // RFC 4315 §3 APPENDUID.
    assert!(
        t.starts_with("a1 OK [APPENDUID ") && t.contains(" 1]"),
        "{t}"
    );
    let (_, t) = c.cmd("APPEND Nope {1+}\r\nx").await;
    assert!(t.contains("NO [TRYCREATE]"), "{t}");
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1 (FLAGS INTERNALDATE)").await;
    assert!(
        r[0].contains("\\Flagged") && r[0].contains("\"17-Jul-1996 02:44:25 -0700\""),
        "{r:?}"
    );
    s.append(USER, "INBOX", &message("b", "x")).await;
    s.append(USER, "INBOX", &message("c", "y")).await;
    let u = c.ok("NOOP").await;
    assert!(u.contains(&"* 3 EXISTS".to_string()), "{u:?}");
    // RFC 3501 §6.4.6.
    let r = c.ok("STORE 1:2 +FLAGS (\\Deleted)").await;
    assert_eq!(r.len(), 2);
    assert!(r[0].contains("FLAGS (\\Flagged \\Deleted"), "{r:?}");
    let r = c.ok("STORE 3 +FLAGS.SILENT (\\Seen)").await;
    assert!(r.is_empty(), "{r:?}");
    c.ok("STORE 2 -FLAGS (\\Deleted)").await;
    c.ok("STORE 3 FLAGS (\\Deleted kw1)").await;
    // RFC 4315 §2.1: UID EXPUNGE only the given UIDs.
    let r = c.ok("UID EXPUNGE 3").await;
    assert_eq!(r, vec!["* 3 EXPUNGE"]);
    let r = c.ok("EXPUNGE").await;
    assert_eq!(r, vec!["* 1 EXPUNGE"]);
    let r = c.ok("FETCH 1 UID").await;
    assert_eq!(r, vec!["* 1 FETCH (UID 2)"]);
    c.ok("EXAMINE INBOX").await;
    let (_, t) = c.cmd("STORE 1 +FLAGS (\\Seen)").await;
    assert!(t.contains("NO"), "{t}");
    c.ok("UNSELECT").await;
    let (_, t) = c.cmd("FETCH 1 FLAGS").await;
    assert!(t.contains("BAD"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_move_close() {
    let s = start().await;
    for i in 0..4 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    let (_, t) = c.cmd("COPY 1:2 Archive").await;
    // RFC 4315 §3 COPYUID.
    assert!(t.contains("OK [COPYUID ") && t.contains(" 1:2 1:2]"), "{t}");
    let (_, t) = c.cmd("COPY 1 Nope").await;
    assert!(t.contains("NO [TRYCREATE]"), "{t}");
    // RFC 6851 §4.3: COPYUID in an untagged OK, then EXPUNGE.
    let u = c.ok("UID MOVE 3:4 Trash").await;
    assert!(u[0].starts_with("* OK [COPYUID "), "{u:?}");
    assert_eq!(&u[1..], ["* 4 EXPUNGE", "* 3 EXPUNGE"]);
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    // RFC 3501 §6.4.2: CLOSE expunges silently.
    let u = c.ok("CLOSE").await;
    assert!(u.is_empty(), "{u:?}");
    let st = c.ok("STATUS INBOX (MESSAGES)").await;
    assert!(st[0].contains("MESSAGES 1"), "{st:?}");
    let st = c.ok("STATUS Trash (MESSAGES)").await;
    assert!(st[0].contains("MESSAGES 2"), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_keys() {
    let s = start().await;
    s.append(USER, "INBOX", &message("Hello World", "apples and pears"))
        .await;
    s.append(USER, "INBOX", &message("second", "Grüße aus Köln"))
        .await;
    s.append(
        USER,
        "INBOX",
        "From: carol@x\r\nSubject: big\r\n\r\n"
            .repeat(20)
            .as_bytes(),
    )
    .await;
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2 +FLAGS (\\Seen \\Flagged)").await;
    let q = |k: &str| format!("SEARCH {k}");
    for (key, want) in [
        ("ALL", "* SEARCH 1 2 3"),
        ("SUBJECT hello", "* SEARCH 1"),
        ("HEADER Message-ID \"<second@x>\"", "* SEARCH 2"),
        ("FROM BOB", "* SEARCH 1 2"),
        ("BODY PEARS", "* SEARCH 1"),
        ("TEXT carol", "* SEARCH 3"),
        ("SEEN", "* SEARCH 2"),
        ("UNSEEN", "* SEARCH 1 3"),
        ("NOT SEEN FLAGGED", "* SEARCH"),
        ("OR SEEN SUBJECT big", "* SEARCH 2 3"),
        ("(OR 1 3) UNSEEN", "* SEARCH 1 3"),
        ("LARGER 500", "* SEARCH 3"),
        ("SMALLER 500", "* SEARCH 1 2"),
        ("2:*", "* SEARCH 2 3"),
        ("UID 1,3", "* SEARCH 1 3"),
        ("SENTON 1-Jul-2003", "* SEARCH 1 2"),
        ("SENTBEFORE 1-Jul-2003", "* SEARCH"),
        ("SINCE 1-Jan-2000", "* SEARCH 1 2 3"),
        ("BEFORE 1-Jan-2000", "* SEARCH"),
        ("RECENT", "* SEARCH 1 2 3"),
        ("NEW", "* SEARCH 1 3"),
        ("KEYWORD x", "* SEARCH"),
        ("CHARSET UTF-8 BODY \"köln\"", "* SEARCH 2"),
    ] {
        let r = c.ok(&q(key)).await;
        assert_eq!(r, vec![want.to_string()], "SEARCH {key}");
    }
    c.send("x UID SEARCH CHARSET UTF-8 TEXT {7}\r\n").await;
    assert!(c.response().await.starts_with("+"));
    c.send_bytes("grüße\r\n".as_bytes()).await;
    let (u, t) = c.until("x").await;
    assert!(t.contains("OK") && u == vec!["* SEARCH 2"], "{u:?} {t}");
    let (_, t) = c.cmd("SEARCH CHARSET KOI8-R ALL").await;
    assert!(t.contains("BAD") && t.contains("BADCHARSET"), "{t}");
    // RFC 4731 §3.2: the ESEARCH answer names the command's tag.
    let (r, t) = c.cmd("UID SEARCH RETURN () ALL").await;
    let tag = t.split(' ').next().unwrap_or_default();
    assert_eq!(r, vec![format!("* ESEARCH (TAG \"{tag}\") UID ALL 1:3")]);
}
