//! RFC 8514 SAVEDATE: FETCH SAVEDATE is when a message was put into the mailbox (delivery,
//! APPEND, COPY, MOVE), not its INTERNALDATE; SAVEDBEFORE / SAVEDON / SAVEDSINCE compare its
//! day; SAVEDATESUPPORTED matches every message. Bad dates are BAD. A copy made by another
//! session carries its own save date and the original's INTERNALDATE.
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

/// APPENDs a message with `subject` and the INTERNALDATE `date`.
async fn append_dated(a: &mut testkit::client::Imap, mailbox: &str, date: &str, subject: &str) {
    let m = message(subject, "x");
    let tag = a.next_tag();
    a.send(&format!(
        "{tag} APPEND {mailbox} \"{date}\" {{{}+}}\r\n{}\r\n",
        m.len(),
        String::from_utf8_lossy(&m)
    ))
    .await;
    let (_, t) = a.until(&tag).await;
    assert!(t.contains(" OK "), "{t}");
}

/// The quoted date-time after `item` in a FETCH line.
fn date_of<'a>(line: &'a str, item: &str) -> &'a str {
    let at = line.find(&format!("{item} \"")).expect(item) + item.len() + 2;
    &line[at..at + line[at..].find('"').expect("closing quote")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savedate_fetch_and_search() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "SAVEDATE"), "{caps:?}");
    // An APPEND with a date in the past: INTERNALDATE is the client's, SAVEDATE is now.
    append_dated(&mut a, "INBOX", "01-Jan-2020 10:00:00 +0200", "old").await;
    s.append(USER, "INBOX", &message("new", "y")).await;
    a.ok("SELECT INBOX").await;
    let r = a.ok("FETCH 1 (INTERNALDATE SAVEDATE)").await;
    assert_eq!(date_of(&r[0], "INTERNALDATE"), "01-Jan-2020 10:00:00 +0200");
    let saved = date_of(&r[0], "SAVEDATE").to_string();
    assert!(
        saved.ends_with(" +0000") && !saved.contains("2020"),
        "{saved}"
    );
    let today = saved
        .split(' ')
        .next()
        .expect("day")
        .trim_start()
        .to_string();
    // SAVEDATE alone, and in a UID FETCH (which adds UID).
    let r = a.ok("FETCH 2 SAVEDATE").await;
    assert!(r[0].starts_with("* 2 FETCH (SAVEDATE \""), "{r:?}");
    let r = a.ok("UID FETCH 1 (SAVEDATE FLAGS)").await;
    assert!(
        r[0].contains("UID 1") && r[0].contains("SAVEDATE \""),
        "{r:?}"
    );
    // The search keys: by save date, not INTERNALDATE.
    assert_eq!(a.ok("SEARCH BEFORE 1-Jan-2021").await, ["* SEARCH 1"]);
    assert_eq!(a.ok("SEARCH SAVEDBEFORE 1-Jan-2021").await, ["* SEARCH"]);
    assert_eq!(
        a.ok(&format!("SEARCH SAVEDON {today}")).await,
        ["* SEARCH 1 2"]
    );
    assert_eq!(
        a.ok(&format!("UID SEARCH SAVEDSINCE \"{today}\" SUBJECT old"))
            .await,
        ["* SEARCH 1"]
    );
    assert_eq!(a.ok("SEARCH SAVEDATESUPPORTED").await, ["* SEARCH 1 2"]);
    assert_eq!(a.ok("SEARCH NOT SAVEDATESUPPORTED").await, ["* SEARCH"]);
    assert_eq!(
        a.ok("SEARCH OR SAVEDBEFORE 1-Jan-2000 SUBJECT new").await,
        ["* SEARCH 2"]
    );
    let r = a.ok("SEARCH RETURN (COUNT) SAVEDSINCE 1-Jan-2000").await;
    assert!(r[0].ends_with(") COUNT 2"), "{r:?}");
    assert_eq!(
        a.ok("SORT (REVERSE ARRIVAL) UTF-8 SAVEDSINCE 1-Jan-2000")
            .await,
        ["* SORT 2 1"]
    );
    // With a saved result (RFC 5182 `$`) in the same command.
    a.ok("SEARCH RETURN (SAVE) SUBJECT old").await;
    assert_eq!(
        a.ok("UID SEARCH SAVEDSINCE 1-Jan-2000 UID $").await,
        ["* SEARCH 1"]
    );
    // A key word as a string argument is a string.
    assert_eq!(a.ok("SEARCH SUBJECT SAVEDON").await, ["* SEARCH"]);
    // Bad input: BAD, and the session goes on.
    for bad in [
        "SEARCH SAVEDON 31-Feb-2024",
        "SEARCH SAVEDBEFORE",
        "SEARCH SAVEDSINCE yesterday",
        "SEARCH SAVEDON \"1-Feb-2024",
        "FETCH 1 (SAVEDATE",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
        a.ok("NOOP").await;
    }
}

/// Another session copies a message into the mailbox this one has selected: the copy is
/// announced, keeps the original's INTERNALDATE and has a save date of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_by_another_session_has_its_own_save_date() {
    let s = start().await;
    let mut a = s.imap_login(USER).await;
    // Archive is one of the folders every account starts with.
    append_dated(&mut a, "Archive", "02-Feb-2019 08:00:00 +0000", "kept").await;
    a.ok("SELECT INBOX").await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT Archive").await;
    let r = b.ok("FETCH 1 SAVEDATE").await;
    let first = date_of(&r[0], "SAVEDATE").to_string();
    b.ok("COPY 1 INBOX").await;
    b.ok("MOVE 1 INBOX").await;
    let r = a.ok("NOOP").await;
    assert!(r.iter().any(|l| l == "* 2 EXISTS"), "{r:?}");
    let r = a.ok("FETCH 1:2 (INTERNALDATE SAVEDATE)").await;
    for line in &r {
        assert_eq!(date_of(line, "INTERNALDATE"), "02-Feb-2019 08:00:00 +0000");
        assert!(
            date_of(line, "SAVEDATE") >= first.as_str(),
            "{line} vs {first}"
        );
    }
    assert_eq!(a.ok("SEARCH SAVEDSINCE 1-Jan-2020").await, ["* SEARCH 1 2"]);
    assert_eq!(a.ok("SEARCH SINCE 1-Jan-2020").await, ["* SEARCH"]);
}
