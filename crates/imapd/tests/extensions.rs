//! ESEARCH (RFC 4731), LIST-EXTENDED basics (RFC 5258), LIST-STATUS (RFC 5819), STATUS=SIZE
//! (RFC 8438), CREATE-SPECIAL-USE (RFC 6154 §3) and the advertised capabilities.
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_after_login() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    let r = a.ok("CAPABILITY").await;
    for cap in [
        "IDLE",
        "CONDSTORE",
        "QRESYNC",
        "ESEARCH",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "STATUS=SIZE",
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "CREATE-SPECIAL-USE",
        "SPECIAL-USE",
    ] {
        assert!(
            r[0].split(' ').any(|c| c == cap),
            "{cap} missing from {}",
            r[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esearch_return_options() {
    let s = start().await;
    for i in 1..=5 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    a.ok("STORE 2,3,5 +FLAGS (\\Seen)").await;
    let (u, t) = a.cmd("SEARCH RETURN (MIN MAX COUNT ALL) SEEN").await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(
        u,
        vec![format!(
            "* ESEARCH (TAG \"{tag}\") MIN 2 MAX 5 ALL 2:3,5 COUNT 3"
        )]
    );
    let (u, t) = a.cmd("UID SEARCH RETURN () UNSEEN").await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(u, vec![format!("* ESEARCH (TAG \"{tag}\") UID ALL 1,4")]);
    let (u, t) = a
        .cmd("SEARCH RETURN (COUNT MIN) SUBJECT nothing-matches")
        .await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(u, vec![format!("* ESEARCH (TAG \"{tag}\") COUNT 0")]);
    // Plain SEARCH is unchanged.
    assert_eq!(a.ok("SEARCH SEEN").await, vec!["* SEARCH 2 3 5"]);
    let (_, t) = a.cmd("SEARCH RETURN (SAVE BOGUS) ALL").await;
    assert!(t.contains(" BAD "), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_extended_and_status() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "12345")).await;
    s.append(USER, "INBOX", &message("b", "67890")).await;
    let mut a = s.imap_login(USER).await;
    a.ok("CREATE Work/Reports").await;
    // RFC 6154 §3 CREATE USE.
    a.ok("CREATE Outbox (USE (\\Sent))").await;
    // New mailboxes start subscribed; keep only INBOX and Work/Reports.
    for m in [
        "Archive", "Drafts", "Junk", "Sent", "Trash", "Outbox", "Work",
    ] {
        a.ok(&format!("UNSUBSCRIBE {m}")).await;
    }
    let (_, t) = a.cmd("CREATE Odd (USE (\\Important))").await;
    assert!(t.contains("NO [USEATTR]"), "{t}");
    let r = a.ok("LIST (SPECIAL-USE) \"\" *").await;
    assert!(
        r.contains(&"* LIST (\\HasNoChildren \\Sent) \"/\" \"Outbox\"".to_string()),
        "{r:?}"
    );
    assert!(!r.iter().any(|l| l.contains("INBOX")), "{r:?}");
    // RFC 5258 §3.1 SUBSCRIBED selection (+ \Subscribed), RECURSIVEMATCH → CHILDINFO.
    let r = a.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *").await;
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasChildren) \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/Reports\"",
        ]
    );
    // Several patterns, RETURN (SUBSCRIBED CHILDREN).
    let r = a
        .ok("LIST \"\" (\"INBOX\" \"Dra%\") RETURN (SUBSCRIBED CHILDREN)")
        .await;
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
        ]
    );
    // RFC 5819 LIST-STATUS with RFC 8438 SIZE; no STATUS for the \Noselect parent left
    // behind by deleting Work (its child stays, RFC 3501 §6.3.4).
    a.ok("DELETE Work").await;
    let size = s.mailbox(USER, "INBOX").size;
    let r = a
        .ok("LIST \"\" (INBOX Work Work/%) RETURN (STATUS (MESSAGES SIZE UNSEEN))")
        .await;
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren) \"/\" \"INBOX\"".to_string(),
            format!("* STATUS \"INBOX\" (MESSAGES 2 SIZE {size} UNSEEN 2)"),
            "* LIST (\\HasChildren \\Noselect) \"/\" \"Work\"".to_string(),
            "* LIST (\\HasNoChildren) \"/\" \"Work/Reports\"".to_string(),
            "* STATUS \"Work/Reports\" (MESSAGES 0 SIZE 0 UNSEEN 0)".to_string(),
        ]
    );
    let (_, t) = a.cmd("LIST \"\" * RETURN (STATUS (BOGUS))").await;
    assert!(t.contains(" BAD "), "{t}");
    // STATUS=SIZE and DELETED.
    a.ok("SELECT INBOX").await;
    a.ok("STORE 1 +FLAGS (\\Deleted)").await;
    let r = a.ok("STATUS INBOX (SIZE DELETED)").await;
    assert_eq!(
        r,
        vec![format!("* STATUS \"INBOX\" (SIZE {size} DELETED 1)")]
    );
    // LSUB stays RFC 3501.
    let r = a.ok("LSUB \"\" *").await;
    assert_eq!(r.len(), 2, "{r:?}");
}

/// RFC 5032 WITHIN: OLDER and YOUNGER compare INTERNALDATE with now; the interval is a
/// non-zero number of seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_older_and_younger() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "WITHIN"), "{caps:?}");
    let old = message("old", "x");
    let tag = a.next_tag();
    a.send(&format!(
        "{tag} APPEND INBOX \"01-Jan-2020 10:00:00 +0000\" {{{}+}}\r\n",
        old.len()
    ))
    .await;
    a.send(&format!("{}\r\n", String::from_utf8_lossy(&old)))
        .await;
    let (_, t) = a.until(&tag).await;
    assert!(t.contains(" OK "), "{t}");
    s.append(USER, "INBOX", &message("new", "y")).await;
    a.ok("SELECT INBOX").await;
    assert_eq!(a.ok("UID SEARCH YOUNGER 3600").await, ["* SEARCH 2"]);
    assert_eq!(a.ok("UID SEARCH OLDER 3600").await, ["* SEARCH 1"]);
    assert_eq!(
        a.ok("SEARCH OR OLDER 86400 YOUNGER 86400").await,
        ["* SEARCH 1 2"]
    );
    assert_eq!(
        a.ok("SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 4000000000")
            .await,
        ["* SORT 2 1"]
    );
    for bad in ["SEARCH OLDER 0", "SEARCH YOUNGER", "SEARCH OLDER -5"] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
        a.ok("NOOP").await;
    }
}
