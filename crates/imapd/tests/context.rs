//! CONTEXT=SEARCH (RFC 5267 §4): `SEARCH RETURN (UPDATE)` keeps the search, and the changes
//! another session (or this one) makes are told as `ESEARCH (TAG …) ADDTO / REMOVEFROM`,
//! driven by the same change feed as EXISTS and EXPUNGE; CANCELUPDATE stops them, SELECT
//! ends them. The expected answers are the ones Dovecot 2.3 gave to the same exchange.

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// Five messages m1..m5, the odd ones \Seen; two sessions with the mailbox selected.
async fn start() -> (Stack, Imap, Imap) {
    let s = Stack::builder().user(USER).start().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(
        caps[0].split(' ').any(|c| c == "CONTEXT=SEARCH"),
        "{caps:?}"
    );
    a.ok("CREATE ctx").await;
    for i in 1..=5 {
        let flags = if i % 2 == 1 { "(\\Seen) " } else { "" };
        let m = format!("Subject: m{i}\r\n\r\nx\r\n");
        a.ok(&format!("APPEND ctx {flags}{{{}+}}\r\n{m}", m.len()))
            .await;
    }
    a.ok("SELECT ctx").await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT ctx").await;
    (s, a, b)
}

async fn tagged(a: &mut Imap, tag: &str, cmd: &str) -> Vec<String> {
    a.send(&format!("{tag} {cmd}\r\n")).await;
    let (u, t) = a.until(tag).await;
    assert!(t.starts_with(&format!("{tag} OK")), "{cmd}: {t}");
    u
}

fn esearch(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.starts_with("* ESEARCH"))
        .map(String::as_str)
        .collect()
}

/// RFC 5267 §4.2–§4.3: the initial answers, then additions and removals by flag changes,
/// arrivals and expunges, with the removal by expunge told before the EXPUNGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_follow_the_change_feed() {
    let (_s, mut a, mut b) = start().await;
    assert_eq!(
        tagged(&mut a, "S1", "SEARCH RETURN (UPDATE) UNSEEN").await,
        ["* ESEARCH (TAG \"S1\")"]
    );
    assert_eq!(
        tagged(&mut a, "S2", "UID SEARCH RETURN (UPDATE ALL COUNT) UNSEEN").await,
        ["* ESEARCH (TAG \"S2\") UID ALL 2,4 COUNT 2"]
    );
    assert_eq!(
        tagged(&mut a, "S3", "SEARCH RETURN (UPDATE MIN) SUBJECT m").await,
        ["* ESEARCH (TAG \"S3\") MIN 1"]
    );
    b.ok("STORE 2 +FLAGS (\\Seen)").await;
    let u = a.ok("NOOP").await;
    assert_eq!(
        esearch(&u),
        [
            "* ESEARCH (TAG \"S1\") REMOVEFROM (0 2)",
            "* ESEARCH (TAG \"S2\") UID REMOVEFROM (0 2)"
        ]
    );
    b.ok("APPEND ctx {15+}\r\nSubject: m6\r\n\r\n").await;
    let u = a.ok("NOOP").await;
    assert_eq!(u[0], "* 6 EXISTS");
    assert_eq!(
        esearch(&u),
        [
            "* ESEARCH (TAG \"S1\") ADDTO (0 6)",
            "* ESEARCH (TAG \"S2\") UID ADDTO (0 6)",
            "* ESEARCH (TAG \"S3\") ADDTO (0 6)"
        ]
    );
    b.ok("STORE 1 -FLAGS (\\Seen)").await;
    b.ok("STORE 4 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let u = a.ok("NOOP").await;
    let expunge = u.iter().position(|l| l == "* 4 EXPUNGE").expect("EXPUNGE");
    let removed = u
        .iter()
        .position(|l| l == "* ESEARCH (TAG \"S1\") REMOVEFROM (0 4)")
        .expect("REMOVEFROM");
    assert!(removed < expunge, "{u:?}");
    assert!(u.contains(&"* ESEARCH (TAG \"S3\") REMOVEFROM (0 4)".to_string()));
    assert!(u.contains(&"* ESEARCH (TAG \"S2\") UID REMOVEFROM (0 4)".to_string()));
    let added = u
        .iter()
        .position(|l| l == "* ESEARCH (TAG \"S1\") ADDTO (0 1)")
        .expect("ADDTO");
    assert!(added > expunge, "{u:?}");
    // This session's own STORE is told with its answer.
    let u = a.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(
        esearch(&u),
        [
            "* ESEARCH (TAG \"S1\") REMOVEFROM (0 1)",
            "* ESEARCH (TAG \"S2\") UID REMOVEFROM (0 1)"
        ]
    );
}

/// RFC 5267 §4.3 CANCELUPDATE: the named searches stop (an unknown tag is NO, no tag BAD);
/// SELECT ends every kept search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_reselect() {
    let (_s, mut a, mut b) = start().await;
    tagged(&mut a, "S1", "SEARCH RETURN (UPDATE) ALL").await;
    tagged(&mut a, "S2", "UID SEARCH RETURN (UPDATE) ALL").await;
    a.ok("CANCELUPDATE \"S2\"").await;
    let (_, t) = a.cmd("CANCELUPDATE \"nosuch\"").await;
    assert!(t.contains(" NO "), "{t}");
    for bad in [
        "CANCELUPDATE",
        "CANCELUPDATE S1 (",
        "SEARCH RETURN (UPDATE FOO) ALL",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad}: {t}");
    }
    b.ok("APPEND ctx {15+}\r\nSubject: m6\r\n\r\n").await;
    let u = a.ok("NOOP").await;
    assert_eq!(esearch(&u), ["* ESEARCH (TAG \"S1\") ADDTO (0 6)"]);
    a.ok("SELECT ctx").await;
    b.ok("APPEND ctx {15+}\r\nSubject: m7\r\n\r\n").await;
    let u = a.ok("NOOP").await;
    assert!(esearch(&u).is_empty(), "{u:?}");
    // Not selected: BAD, as for SEARCH.
    a.ok("UNSELECT").await;
    let (_, t) = a.cmd("CANCELUPDATE \"S1\"").await;
    assert!(t.contains(" BAD "), "{t}");
}

/// While idling the updates come as the changes do (RFC 2177 §3 with RFC 5267 §4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_while_idling() {
    let (_s, mut a, mut b) = start().await;
    tagged(&mut a, "S1", "SEARCH RETURN (UPDATE) UNSEEN").await;
    let idle = a.idle().await;
    b.ok("STORE 2 +FLAGS (\\Seen)").await;
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("* ESEARCH")) {
        seen.push(a.pushed().await);
    }
    assert!(seen.contains(&"* ESEARCH (TAG \"S1\") REMOVEFROM (0 2)".to_string()));
    a.done(&idle).await;
}
