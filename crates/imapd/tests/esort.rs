//! ESORT (RFC 5267 §3): `SORT RETURN (MIN MAX ALL COUNT)` answered with ESEARCH in sort
//! order, PARTIAL (RFC 5267 §4.4) for SORT and SEARCH, SAVE with SORT (RFC 5182), and the
//! refusals. The expected answers are Dovecot 2.3's for the same mailbox.

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// Five messages with subjects a, b, c, 0, d: `SORT (REVERSE SUBJECT)` is 5 3 2 1 4.
async fn start() -> (Stack, Imap) {
    let s = Stack::builder().user(USER).start().await;
    for subject in ["a", "b", "c", "0", "d"] {
        let m = format!("Subject: {subject}\r\n\r\nbody\r\n");
        s.append(USER, "INBOX", m.as_bytes()).await;
    }
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "ESORT"), "{caps:?}");
    a.ok("SELECT INBOX").await;
    (s, a)
}

/// The ESEARCH line of `cmd` without its `(TAG "…") ` prefix.
async fn esearch(a: &mut Imap, cmd: &str) -> String {
    let (u, t) = a.cmd(cmd).await;
    assert!(t.contains(" OK "), "{cmd} → {t}");
    let tag = t.split(' ').next().expect("tag");
    assert_eq!(u.len(), 1, "{cmd} → {u:?}");
    let prefix = format!("* ESEARCH (TAG \"{tag}\")");
    let rest = u[0].strip_prefix(&prefix).expect("ESEARCH with the tag");
    rest.trim_start().to_string()
}

/// RFC 5267 §3: MIN and MAX are the first and last in sort order, ALL keeps the order
/// (ascending runs as ranges), COUNT counts; RETURN () is ALL; nothing found: COUNT 0 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_options_follow_sort_order() {
    let (_s, mut a) = start().await;
    assert_eq!(
        a.ok("SORT (REVERSE SUBJECT) UTF-8 ALL").await,
        ["* SORT 5 3 2 1 4"]
    );
    let all = "SORT RETURN (MIN MAX ALL COUNT) (REVERSE SUBJECT) UTF-8 ALL";
    assert_eq!(
        esearch(&mut a, all).await,
        "MIN 5 MAX 4 ALL 5,3,2,1,4 COUNT 5"
    );
    assert_eq!(
        esearch(&mut a, "SORT RETURN () (SUBJECT) UTF-8 ALL").await,
        "ALL 4,1:3,5"
    );
    assert_eq!(
        esearch(
            &mut a,
            "UID SORT RETURN (MIN MAX) (REVERSE SUBJECT) UTF-8 ALL"
        )
        .await,
        "UID MIN 5 MAX 4"
    );
    // The RFC's A282 / A284 shapes.
    assert_eq!(
        esearch(
            &mut a,
            "SORT RETURN (MIN COUNT) (DATE) UTF-8 SINCE 1-Feb-1994"
        )
        .await,
        "MIN 1 COUNT 5"
    );
    assert_eq!(
        esearch(&mut a, "SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT orange").await,
        "COUNT 0"
    );
    assert_eq!(
        esearch(&mut a, "SORT RETURN (MIN) (SUBJECT) UTF-8 SUBJECT orange").await,
        ""
    );
}

/// RFC 5267 §4.4: PARTIAL low:high are positions in the result (sort order for SORT),
/// given back with the messages there, NIL when there are none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_ranges() {
    let (_s, mut a) = start().await;
    for (ret, want) in [
        ("PARTIAL 2:3", "PARTIAL (2:3 3,2)"),
        ("PARTIAL 4:9 COUNT", "PARTIAL (4:9 1,4) COUNT 5"),
        ("PARTIAL 3:2", "PARTIAL (2:3 3,2)"),
        ("PARTIAL 9:12", "PARTIAL (9:12 NIL)"),
        ("PARTIAL 1:100000000", "PARTIAL (1:100000000 5,3,2,1,4)"),
    ] {
        let cmd = format!("SORT RETURN ({ret}) (REVERSE SUBJECT) UTF-8 ALL");
        assert_eq!(esearch(&mut a, &cmd).await, want, "{cmd}");
    }
    assert_eq!(
        esearch(&mut a, "SEARCH RETURN (PARTIAL 2:4 MIN) ALL").await,
        "MIN 1 PARTIAL (2:4 2:4)"
    );
    assert_eq!(
        esearch(&mut a, "UID SEARCH RETURN (PARTIAL 1:2) SUBJECT d").await,
        "UID PARTIAL (1:2 5)"
    );
}

/// SAVE with SORT (RFC 5182 §2.2 with RFC 5267 §3): MIN saves the first in sort order; SAVE
/// alone answers nothing and saves every match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_save() {
    let (_s, mut a) = start().await;
    assert_eq!(
        esearch(&mut a, "SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL").await,
        "MIN 5"
    );
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 5"]);
    assert_eq!(
        a.ok("SORT RETURN (SAVE) (SUBJECT) UTF-8 1:3").await,
        Vec::<String>::new()
    );
    assert_eq!(a.ok("SEARCH $").await, ["* SEARCH 1 2 3"]);
    assert_eq!(
        esearch(&mut a, "SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 $").await,
        "ALL 3,2,1"
    );
}

/// Two sessions: a message appended by the other session is counted once this session has
/// been told of it (the EXISTS after the first answer, RFC 3501 §7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_what_the_session_knows() {
    let (s, mut a) = start().await;
    let mut b = s.imap_login(USER).await;
    let m = "Subject: e\r\n\r\nbody";
    b.ok(&format!("APPEND INBOX {{{}+}}\r\n{m}", m.len())).await;
    let cmd = "SORT RETURN (COUNT MAX) (SUBJECT) UTF-8 ALL";
    let u = a.ok(cmd).await;
    assert_eq!(u[0], "* ESEARCH (TAG \"t4\") MAX 5 COUNT 5", "{u:?}");
    assert!(u.contains(&"* 6 EXISTS".to_string()), "{u:?}");
    assert_eq!(esearch(&mut a, cmd).await, "MAX 6 COUNT 6");
}

/// Malformed RETURN options are BAD and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_return_options() {
    let (_s, mut a) = start().await;
    for bad in [
        "SORT RETURN (PARTIAL 0:2) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (PARTIAL -1:-2) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (PARTIAL 1:2 PARTIAL 1:3) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (PARTIAL 1) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (FOO) (SUBJECT) UTF-8 ALL",
        "SORT RETURN MIN (SUBJECT) UTF-8 ALL",
        "SORT RETURN (MIN) SUBJECT UTF-8 ALL",
        "SORT RETURN (MIN) (SUBJECT) UTF-8",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
    }
    a.ok("NOOP").await;
}
