//! I18NLEVEL=1 (RFC 5255 §4): SEARCH substring matching and SORT compare with the
//! i;unicode-casemap comparator (RFC 5051 §2: titlecase, then NFKD). RFC 5255 has no example
//! exchange for level 1; the cases are the ones Dovecot 2.3 was asked (the differential test
//! compares them too). A charset we lack stays NO [BADCHARSET].

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

const SUBJECTS: &[&str] = &[
    "café crème",
    "Straße",
    "ﬁle Ǆ",
    "CAFE",
    "ΣΊΣΥΦΟΣ",
    "İstanbul ı",
    "Ｆｕｌｌ",
];

async fn start() -> (Stack, Imap) {
    let s = Stack::builder().user(USER).start().await;
    for subject in SUBJECTS {
        let m = format!("Subject: {subject}\r\n\r\n{subject}\r\n");
        s.deliver(USER, m.as_bytes()).await;
    }
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "I18NLEVEL=1"), "{caps:?}");
    a.ok("SELECT INBOX").await;
    (s, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_sort_use_unicode_casemap() {
    let (_s, mut a) = start().await;
    for (needle, want) in [
        ("cafe", "* SEARCH 1 4"),
        ("\"CAFÉ\"", "* SEARCH 1"),
        ("strasse", "* SEARCH"),
        ("\"STRAßE\"", "* SEARCH 2"),
        ("file", "* SEARCH"),
        ("\"ǆ\"", "* SEARCH 3"),
        ("\"σίσυφος\"", "* SEARCH 5"),
        ("istanbul", "* SEARCH"),
        ("I", "* SEARCH 6"),
        ("full", "* SEARCH 7"),
    ] {
        let cmd = format!("SEARCH CHARSET UTF-8 SUBJECT {needle}");
        assert_eq!(a.ok(&cmd).await, [want], "{cmd}");
    }
    assert_eq!(
        a.ok("SEARCH CHARSET UTF-8 BODY \"CRÈME\"").await,
        ["* SEARCH 1"]
    );
    assert_eq!(
        a.ok("SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 4 1 7 6 2 3 5"]
    );
    assert_eq!(
        a.ok("SORT (REVERSE SUBJECT) UTF-8 ALL").await,
        ["* SORT 5 3 2 6 7 1 4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input() {
    let (_s, mut a) = start().await;
    let (_, t) = a.cmd("SEARCH CHARSET KOI8-R SUBJECT x").await;
    assert!(t.contains(" NO [BADCHARSET"), "{t}");
    // Not UTF-8 in a UTF-8 search: no match, no panic (Dovecot answers the same way).
    a.send_bytes(b"x1 SEARCH CHARSET UTF-8 SUBJECT {2+}\r\n\xff\xfe\r\n")
        .await;
    let (u, t) = a.until("x1").await;
    assert!(
        t.starts_with("x1 OK") || t.starts_with("x1 BAD"),
        "{t} {u:?}"
    );
    a.ok("NOOP").await;
}
