//! SELECT/EXAMINE, LIST/LSUB, CREATE/DELETE/RENAME, SUBSCRIBE, STATUS, NAMESPACE (RFC 3501 §6.3).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_and_status() {
    let s = start().await;
    s.append(USER, "INBOX", &message("one", "hello")).await;
    s.append(USER, "INBOX", &message("two", "world")).await;
    let mut c = s.imap_login(USER).await;
    let u = c.ok("SELECT inbox").await.join("\n");
    // RFC 3501 §6.3.1 required responses.
    for want in [
        "* 2 EXISTS",
        "* 2 RECENT",
        "* FLAGS (",
        "[UIDVALIDITY ",
        "[UIDNEXT 3]",
        "[UNSEEN 1]",
        "PERMANENTFLAGS",
    ] {
        assert!(u.contains(want), "missing {want} in {u}");
    }
    // \Recent belongs to one session (RFC 3501 §2.3.2).
    let mut c2 = s.imap_login(USER).await;
    let (u2, t2) = c2.cmd("EXAMINE INBOX").await;
    assert!(
        u2.iter().any(|l| l == "* 0 RECENT") && t2.contains("[READ-ONLY]"),
        "{u2:?} {t2}"
    );
    let st = c2
        .ok("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)")
        .await;
    assert!(
        st[0].starts_with("* STATUS \"INBOX\" (MESSAGES 2 UNSEEN 2 UIDNEXT 3 UIDVALIDITY "),
        "{st:?}"
    );
    let (_, t) = c2.cmd("SELECT Nope").await;
    assert!(t.contains("NO [NONEXISTENT]"), "{t}");
    let (_, t) = c2.cmd("FETCH 1 FLAGS").await;
    assert!(
        t.contains("BAD"),
        "failed SELECT deselects (RFC 3501 §6.3.1): {t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_create_rename_delete() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    c.ok("CREATE Work/Projects/Alpha").await;
    let (_, t) = c.cmd("CREATE Work").await;
    assert!(t.contains("[ALREADYEXISTS]"), "{t}");
    c.ok("CREATE \"Entw&APw-rfe\"").await;
    let all = c.ok("LIST \"\" *").await.join("\n");
    assert!(all.contains("(\\HasChildren) \"/\" \"Work\""), "{all}");
    assert!(
        all.contains("(\\HasNoChildren) \"/\" \"Work/Projects/Alpha\""),
        "{all}"
    );
    // RFC 6154 SPECIAL-USE attributes.
    assert!(all.contains("\\Sent") && all.contains("\\Trash"), "{all}");
    // mUTF-7 on the wire (RFC 3501 §5.1.3).
    assert!(all.contains("\"Entw&APw-rfe\""), "{all}");
    let top = c.ok("LIST \"\" %").await.join("\n");
    assert!(
        top.contains("\"Work\"") && !top.contains("Work/Projects"),
        "{top}"
    );
    let sub = c.ok("LIST Work/ %").await.join("\n");
    assert!(
        sub.contains("\"Work/Projects\"") && !sub.contains("Alpha"),
        "{sub}"
    );
    let root = c.ok("LIST \"\" \"\"").await;
    assert_eq!(root, vec!["* LIST (\\Noselect) \"/\" \"\""]);
    // Delete the parent: children stay, parent becomes \Noselect.
    c.ok("DELETE Work/Projects").await;
    let all = c.ok("LIST \"\" Work*").await.join("\n");
    assert!(
        all.contains("\\Noselect") && all.contains("Work/Projects/Alpha"),
        "{all}"
    );
    c.ok("RENAME Work/Projects/Alpha Archive2").await;
    let all = c.ok("LIST \"\" *").await.join("\n");
    assert!(
        all.contains("\"Archive2\"") && !all.contains("Alpha"),
        "{all}"
    );
    let (_, t) = c.cmd("DELETE INBOX").await;
    assert!(t.contains(" NO "), "{t}");
    let (_, t) = c.cmd("CREATE \"a//b\"").await;
    assert!(
        t.contains(" NO ") && t.contains("invalid mailbox name"),
        "{t}"
    );
    // SUBSCRIBE / LSUB.
    c.ok("SUBSCRIBE Archive2").await;
    let ls = c.ok("LSUB \"\" *").await.join("\n");
    assert!(ls.contains("\"Archive2\""), "{ls}");
    c.ok("UNSUBSCRIBE Archive2").await;
    let ls = c.ok("LSUB \"\" *").await.join("\n");
    assert!(!ls.contains("\"Archive2\""), "{ls}");
    let ns = c.ok("NAMESPACE").await;
    assert_eq!(ns, vec!["* NAMESPACE ((\"\" \"/\")) NIL NIL"]);
}
