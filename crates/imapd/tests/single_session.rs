//! Single-session fixes from "IMAP under concurrency", one test per RFC requirement: mailbox
//! names that are not modified UTF-7 get NO (RFC 3501 §5.1.3); valid but unusual commands are
//! answered and unknown ones cost half a strike (RFC 3501 §7.1.3); ESEARCH MODSEQ for MIN/MAX
//! (RFC 4731 §3.2, RFC 7162 §3.1.6); subscriptions outlive mailboxes in LIST (SUBSCRIBED),
//! RECURSIVEMATCH/CHILDINFO and LSUB (RFC 5258 §3, §3.5, RFC 3501 §6.3.6, §6.3.9); SEARCH
//! decodes RFC 2047 words in header keys (RFC 3501 §6.4.4); ENVELOPE of a `<>` address as
//! Dovecot writes it (RFC 3501 §7.4.2).
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

/// The tagged status word ("OK", "NO", "BAD") of a tagged line.
fn status(tagged: &str) -> &str {
    tagged.split(' ').nth(1).unwrap_or("")
}

/// `CMD {n+}\r\nbytes` (RFC 7888 LITERAL+) for a UTF-8 search term.
fn literal(s: &str) -> String {
    format!("{{{}+}}\r\n{s}", s.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_5_1_3_name_not_modified_utf7_is_no_not_bad() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let mut c = s.imap_login(USER).await;
    for cmd in [
        "SELECT \"&Jjo\"",
        "EXAMINE &Jjo",
        "CREATE \"a&-b&ZZZ\"",
        "CREATE \"&AGE-\" (USE (\\Archive))",
        "DELETE &Jjo",
        "RENAME INBOX &Jjo",
        "RENAME &Jjo Other",
        "SUBSCRIBE &Jjo",
        "UNSUBSCRIBE &Jjo",
        "STATUS &Jjo (MESSAGES)",
        "STATUS &Jjo (APPENDLIMIT)",
        "APPEND &Jjo {1+}\r\nx",
        "GETQUOTAROOT &Jjo",
    ] {
        let (_, t) = c.cmd(cmd).await;
        assert!(t.contains(" NO [CANNOT] "), "{cmd} → {t}");
    }
    // LIST with such a pattern or reference matches nothing (Dovecot: OK, no LIST lines).
    for cmd in ["LIST \"\" &Jjo", "LIST &Jjo *", "LSUB \"\" &Jjo"] {
        assert!(c.ok(cmd).await.is_empty(), "{cmd}");
    }
    // COPY and MOVE need a selected mailbox first, then get NO.
    let (_, t) = c.cmd("COPY 1 &Jjo").await;
    assert!(t.contains(" BAD "), "{t}");
    c.ok("SELECT INBOX").await;
    for cmd in ["COPY 1 &Jjo", "UID MOVE 1 &Jjo"] {
        let (_, t) = c.cmd(cmd).await;
        assert!(t.contains(" NO [CANNOT] "), "{cmd} → {t}");
    }
    // NO is no strike: 30 of them in a row leave the session alone.
    for _ in 0..30 {
        let (_, t) = c.cmd("SELECT &Jjo").await;
        assert_eq!(status(&t), "NO", "{t}");
    }
    c.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_6_4_4_unsupported_charset_is_no_badcharset() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    let (_, t) = c.cmd("SEARCH CHARSET ISO-8859-1 ALL").await;
    assert!(
        t.contains(" NO [BADCHARSET (UTF-8 US-ASCII)] "),
        "RFC 3501 §6.4.4: NO, not BAD: {t}"
    );
    c.ok("SEARCH CHARSET utf-8 ALL").await;
}

/// Valid commands, in the syntax of extensions we advertise or that clients send without
/// asking, all answered (none BAD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_7_1_3_valid_unusual_commands_are_answered() {
    let s = start().await;
    s.append(USER, "INBOX", &message("hello", "x")).await;
    let mut c = s.imap_login(USER).await;
    for cmd in [
        "noop",
        "ID NIL",
        "ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")",
        "ENABLE UTF8=ACCEPT",
        "LIST \"\" \"\"",
        "LIST \"\" {1+}\r\n*",
        "LIST () \"\" %",
        "LIST (REMOTE) \"\" % RETURN ()",
        "XLIST \"\" *",
        "STATUS INBOX (APPENDLIMIT)",
        "STATUS INBOX (DELETED-STORAGE DELETED SIZE)",
        "STATUS {5+}\r\nINBOX (MESSAGES UIDNEXT UNSEEN RECENT HIGHESTMODSEQ)",
        "NAMESPACE",
        "GETQUOTAROOT INBOX",
        "SELECT INBOX (CONDSTORE)",
        "SEARCH CHARSET UTF-8 SUBJECT {5+}\r\nhello",
        "UID SEARCH RETURN (COUNT) CHARSET UTF-8 ALL",
        "UID SEARCH MODSEQ \"/flags/\\\\seen\" all 1",
        "UID SEARCH OR (SEEN FLAGGED) NOT (ANSWERED DRAFT)",
        "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)",
        "CHECK",
    ] {
        let (_, t) = c.cmd(cmd).await;
        assert_eq!(status(&t), "OK", "{cmd:?} → {t}");
    }
    let r = c.ok("XLIST \"\" Sent").await;
    assert_eq!(r, ["* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\""]);
    let r = c.ok("STATUS INBOX (APPENDLIMIT)").await;
    assert_eq!(
        r,
        [format!(
            "* STATUS \"INBOX\" (APPENDLIMIT {})",
            imapd::DEFAULT_MAX_LITERAL
        )]
    );
    // RFC 9208 §4.1.4: what EXPUNGE would free, in KiB (rounded up).
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.ok("STATUS INBOX (DELETED DELETED-STORAGE)").await;
    assert_eq!(r, ["* STATUS \"INBOX\" (DELETED 1 DELETED-STORAGE 1)"]);
}

/// RFC 3501 §7.1.3: an unknown but well-formed command is BAD and costs half a strike, so a
/// client probing extensions is not hung up on after MAX_BAD of them; garbage still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_7_1_3_unknown_commands_count_half() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    let probes = [
        "GETMETADATA \"\" /private/vendor",
        "GETACL INBOX",
        "SETMETADATA INBOX (/private/comment \"x\")",
        "UID SEARCH X-GM-RAW \"has:attachment\"",
        "STATUS INBOX (MAILBOXID)",
        "SELECT INBOX (X-UNKNOWN)",
        "LIST \"\" * RETURN (MYRIGHTS)",
        "XAPPLEPUSHSERVICE aps-version 2",
    ];
    let max_bad = imapd::session::MAX_BAD as usize;
    for i in 0..2 * max_bad - 1 {
        let (_, t) = c.cmd(probes[i % probes.len()]).await;
        assert_eq!(status(&t), "BAD", "{t}");
    }
    // Still connected after 2 × MAX_BAD − 1 unknown commands; a valid one resets the count.
    c.ok("NOOP").await;
    for _ in 0..2 * max_bad - 1 {
        c.cmd("XYZZY").await;
    }
    let tag = c.next_tag();
    c.send(&format!("{tag} XYZZY\r\n")).await;
    let (u, t) = c.until(&tag).await;
    assert!(t.contains(" BAD "), "{t}");
    assert_eq!(
        c.response().await.trim_end(),
        "* BYE too many invalid commands"
    );
    assert!(u.is_empty(), "{u:?}");
    assert!(c.response().await.is_empty(), "closed");
}

/// RFC 4731 §3.2 / RFC 7162 §3.1.6: with only MIN and/or MAX, MODSEQ is the highest of the
/// messages returned; with ALL or COUNT, of every match (as Dovecot answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4731_3_2_esearch_modseq_of_the_returned_messages() {
    let s = start().await;
    for i in 1..=4 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX (CONDSTORE)").await;
    c.ok("STORE 2 +FLAGS (\\Flagged)").await;
    c.ok("STORE 1 +FLAGS (\\Seen)").await;
    let modseq = |lines: &[String], seq: u32| -> u64 {
        let l = lines
            .iter()
            .find(|l| l.starts_with(&format!("* {seq} FETCH")))
            .expect("fetch line");
        l.split("MODSEQ (")
            .nth(1)
            .expect("modseq")
            .split(')')
            .next()
            .expect("n")
            .parse()
            .expect("number")
    };
    let r = c.ok("FETCH 1:4 (MODSEQ)").await;
    let m: Vec<u64> = (1..=4).map(|n| modseq(&r, n)).collect();
    // Message 1 was changed last: its MODSEQ is the highest, above message 4's.
    let highest = m[0];
    assert!(m.iter().all(|&x| x <= highest) && m[3] < highest, "{m:?}");
    for (ret, want) in [
        ("MIN", format!("MIN 1 MODSEQ {}", m[0])),
        ("MAX", format!("MAX 4 MODSEQ {}", m[3])),
        ("MIN MAX", format!("MIN 1 MAX 4 MODSEQ {highest}")),
        ("COUNT", format!("COUNT 4 MODSEQ {highest}")),
        ("ALL", format!("ALL 1:4 MODSEQ {highest}")),
        ("", format!("ALL 1:4 MODSEQ {highest}")),
        ("MAX COUNT", format!("MAX 4 COUNT 4 MODSEQ {highest}")),
    ] {
        let (u, t) = c.cmd(&format!("SEARCH RETURN ({ret}) MODSEQ 1")).await;
        let tag = t.split(' ').next().expect("tag");
        assert_eq!(
            u,
            [format!("* ESEARCH (TAG \"{tag}\") {want}")],
            "RETURN ({ret})"
        );
    }
    let (u, t) = c.cmd("SEARCH RETURN (MIN MAX) 2:3 MODSEQ 1").await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(
        u,
        [format!(
            "* ESEARCH (TAG \"{tag}\") MIN 2 MAX 3 MODSEQ {}",
            m[1].max(m[2])
        )]
    );
    // Nothing matched: no MODSEQ (nor MIN/MAX).
    let (u, t) = c.cmd("SEARCH RETURN (MIN) MODSEQ 1000000").await;
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(u, [format!("* ESEARCH (TAG \"{tag}\")")]);
}

/// RFC 3501 §6.4.4: FROM, TO, CC, BCC, SUBJECT and HEADER match the field's text as a reader
/// sees it, RFC 2047 encoded words decoded, case-insensitively (as Dovecot matches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_6_4_4_search_decodes_encoded_words() {
    let s = start().await;
    s.append(
        USER,
        "INBOX",
        b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n\
          To: \"Doe, John\" <jdoe@example.com>, =?utf-8?q?Ren=C3=A9?= <rene@x.test>\r\n\
          Cc: \"John \\\"JJ\\\" Smith\" <jj@y.test>\r\n\
          Bcc: =?ISO-8859-1?B?SvxyZ2Vu?= <hidden@example.org>\r\n\
          Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus =?UTF-8?B?S8O2bG4=?=\r\n\
          \r\nbody one\r\n",
    )
    .await;
    s.append(
        USER,
        "INBOX",
        b"From: MAILER DAEMON <>\r\nTo: bob@example.test (Bob  Smith)\r\n\
          Subject: Undelivered\r\n =?UTF-8?Q?Mail_zur=C3=BCck?=\r\n\r\nbody two\r\n",
    )
    .await;
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    for (key, term, want) in [
        ("FROM", "jürgen", "1"),
        ("FROM", "MÜLLER", "1"),
        ("FROM", "Müller <juergen", "1"),
        ("FROM", "juergen@example", "1"),
        ("FROM", "mailer daemon", "2"),
        ("FROM", "=?UTF-8", ""),
        ("SUBJECT", "grüße aus köln", "1"),
        ("SUBJECT", "undelivered mail zurück", "2"),
        ("TO", "René", "1"),
        ("TO", "doe, john", "1"),
        ("TO", "Bob  Smith", "2"),
        ("CC", "\\\"JJ", "1"),
        ("BCC", "jürgen", "1"),
        ("HEADER Subject", "KÖLN", "1"),
        ("TEXT", "jürgen", "1"),
        ("BODY", "jürgen", ""),
    ] {
        let r = c
            .ok(&format!("SEARCH CHARSET UTF-8 {key} {}", literal(term)))
            .await;
        let want = if want.is_empty() {
            "* SEARCH".to_string()
        } else {
            format!("* SEARCH {want}")
        };
        assert_eq!(r, [want], "{key} {term:?}");
    }
}

/// RFC 5258 §3.1, §3.5 and RFC 3501 §6.3.6, §6.3.9: subscriptions are names; they outlive
/// their mailboxes, LIST (SUBSCRIBED) shows the ones that do not exist as \NonExistent,
/// RECURSIVEMATCH adds parents with CHILDINFO, LSUB "%" shows an unsubscribed parent of a
/// subscribed name as \Noselect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc5258_3_subscriptions_outlive_mailboxes() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    for m in ["Archive", "Drafts", "Junk", "Sent", "Trash"] {
        c.ok(&format!("UNSUBSCRIBE {m}")).await;
    }
    c.ok("CREATE Foo/Bar").await;
    c.ok("CREATE Foo/Baz").await;
    c.ok("CREATE Moo").await;
    c.ok("CREATE X/Y").await;
    for m in ["Foo", "Foo/Bar", "X"] {
        c.ok(&format!("UNSUBSCRIBE {m}")).await;
    }
    // RFC 3501 §6.3.6: a name that does not exist can be subscribed; deleting a mailbox
    // leaves its subscription.
    c.ok("SUBSCRIBE Ghost/Child").await;
    c.ok("DELETE X/Y").await;
    c.ok("UNSUBSCRIBE Never/Subscribed").await;

    let r = c.ok("LIST (SUBSCRIBED) \"\" *").await;
    assert_eq!(
        r,
        [
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Foo/Baz\"",
            "* LIST (\\HasNoChildren \\NonExistent \\Subscribed) \"/\" \"Ghost/Child\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Moo\"",
            "* LIST (\\HasNoChildren \\NonExistent \\Subscribed) \"/\" \"X/Y\"",
        ]
    );
    // RFC 5258 §3.5: parents of subscribed names, with CHILDINFO; "Ghost" is no mailbox and
    // what it holds is hidden by "%": \NonExistent.
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert_eq!(
        r,
        [
            "* LIST (\\HasChildren) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\NonExistent) \"/\" \"Ghost\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Moo\"",
            "* LIST (\\HasNoChildren) \"/\" \"X\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        ]
    );
    // With "*" the subscribed names match themselves: "Ghost" (no mailbox) is not listed,
    // the mailbox "Foo" still is (RFC 5258 §3.1 RECURSIVEMATCH note 2).
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *").await;
    assert!(
        r.iter().any(|l| l.contains("\"Foo\" (\"CHILDINFO\"")),
        "{r:?}"
    );
    assert!(!r.iter().any(|l| l.contains("\"Ghost\"")), "{r:?}");
    // A subscribed parent with subscribed children gets CHILDINFO too (RFC 5258 §5 ex. 8).
    c.ok("SUBSCRIBE Foo").await;
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Foo").await;
    assert_eq!(
        r,
        ["* LIST (\\HasChildren \\Subscribed) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"]
    );
    c.ok("UNSUBSCRIBE Foo").await;

    // RFC 3501 §6.3.9: "%" shows an unsubscribed parent of a subscribed name, \Noselect.
    let r = c.ok("LSUB \"\" %").await;
    assert_eq!(
        r,
        [
            "* LSUB (\\HasChildren \\Noselect) \"/\" \"Foo\"",
            "* LSUB (\\HasNoChildren \\Noselect) \"/\" \"Ghost\"",
            "* LSUB (\\HasNoChildren) \"/\" \"INBOX\"",
            "* LSUB (\\HasNoChildren) \"/\" \"Moo\"",
            "* LSUB (\\HasNoChildren \\Noselect) \"/\" \"X\"",
        ]
    );
    let r = c.ok("LSUB \"\" *").await;
    let names: Vec<&str> = r
        .iter()
        .map(|l| l.rsplit(' ').next().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "\"Foo/Baz\"",
            "\"Ghost/Child\"",
            "\"INBOX\"",
            "\"Moo\"",
            "\"X/Y\""
        ]
    );
    // Selection by existing mailboxes: RETURN (SUBSCRIBED) marks them, lists no ghosts.
    let r = c.ok("LIST \"\" X* RETURN (SUBSCRIBED)").await;
    assert_eq!(r, ["* LIST (\\HasNoChildren) \"/\" \"X\""]);
    // The subscription is to the name: a new mailbox of that name is subscribed again.
    c.ok("CREATE X/Y").await;
    let r = c.ok("LIST (SUBSCRIBED) \"\" X/Y").await;
    assert_eq!(r, ["* LIST (\\HasNoChildren \\Subscribed) \"/\" \"X/Y\""]);
}

/// RFC 3501 §7.4.2 ENVELOPE of the null reverse-path a bounce comes from, as Dovecot writes
/// it: no mailbox and no domain, not a syntax error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3501_7_4_2_envelope_of_null_address() {
    let s = start().await;
    s.append(
        USER,
        "INBOX",
        b"From: MAILER DAEMON <>\r\nSubject: bounce\r\n\r\nx\r\n",
    )
    .await;
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1 ENVELOPE").await;
    assert!(
        r[0].contains("((\"MAILER DAEMON\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))"),
        "{r:?}"
    );
}

/// RFC 7162 §7: `*` is not allowed in QRESYNC known-uids (Dovecot answers BAD as well).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_known_uids_without_star() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let mut c = s.imap_login(USER).await;
    c.ok("ENABLE QRESYNC").await;
    let v = s.mailbox(USER, "INBOX").uidvalidity;
    let (_, t) = c.cmd(&format!("SELECT INBOX (QRESYNC ({v} 1 1:*))")).await;
    assert!(t.contains(" BAD "), "{t}");
    c.ok(&format!("SELECT INBOX (QRESYNC ({v} 1 1:5))")).await;
}

/// RFC 3501 §6.3.11: APPEND of an empty literal is a valid command; the message cannot be
/// stored, so the answer is NO (as Dovecot), not BAD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_append_is_no() {
    let s = start().await;
    let mut c = s.imap_login(USER).await;
    let (_, t) = c.cmd("APPEND INBOX {0+}\r\n").await;
    assert!(t.contains(" NO "), "{t}");
}
