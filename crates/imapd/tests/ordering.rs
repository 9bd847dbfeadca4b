//! Several sessions on one mailbox: the ordering rule (nothing older follows something newer),
//! expunged messages readable until told (RFC 2180 §4.1.1), keywords announced before use
//! (RFC 3501 §7.2.6), HIGHESTMODSEQ on the first CONDSTORE enabling command (RFC 7162 §3.1).
use testkit::client::{code_value, pop3_dele_quit};
use testkit::mail::dated as message;
use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

/// (uid, flags text, modseq) of every FETCH line that carries FLAGS or MODSEQ.
fn fetches(lines: &[String]) -> Vec<(u32, String, Option<u64>)> {
    lines
        .iter()
        .filter(|l| l.contains(" FETCH ("))
        .filter_map(|l| {
            let uid = l
                .split("UID ")
                .nth(1)
                .and_then(|r| r.split([' ', ')']).next())
                .and_then(|v| v.parse().ok())?;
            let flags = l
                .split("FLAGS (")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .unwrap_or("")
                .to_string();
            let modseq = l
                .split("MODSEQ (")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|v| v.parse().ok());
            Some((uid, flags, modseq))
        })
        .collect()
}

/// A server with one INBOX message per body (subjects m0, m1, …) and two sessions that
/// selected it.
async fn two_on_inbox(bodies: &[&str]) -> (Stack, Imap, Imap) {
    let s = start().await;
    for (i, body) in bodies.iter().enumerate() {
        s.append(USER, "INBOX", &message(&format!("m{i}"), body))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    (s, a, b)
}

/// RFC 3501 §7.4.2 / docs/architecture.md §7 ordering rule: after a session's own STORE reply,
/// the older change another session made just before is not told afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_store_is_never_followed_by_an_older_state() {
    let (_s, mut a, mut b) = two_on_inbox(&["x"]).await;
    // B's change is published to A, but A has not been told yet.
    b.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let r = a.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(r.len(), 1, "one FETCH, the newest state: {r:?}");
    assert!(
        r[0].contains("\\Flagged") && r[0].contains("\\Seen"),
        "{r:?}"
    );
    // The echo of B's older change must not follow.
    let r = a.ok("NOOP").await;
    assert!(r.iter().all(|l| !l.contains("FETCH")), "{r:?}");
    let r = a.ok("FETCH 1 FLAGS").await;
    assert!(r[0].contains("\\Seen \\Flagged"), "{r:?}");
}

/// RFC 7162 §3.1: MODSEQ per message never goes backwards for a session, with two sessions
/// taking turns at STORE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modseq_never_goes_backwards_across_sessions() {
    let s = start().await;
    for i in 0..3 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    a.ok("ENABLE CONDSTORE").await;
    b.ok("ENABLE CONDSTORE").await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    for round in 0..12 {
        let n = round % 3 + 1;
        let flag = ["\\Seen", "\\Flagged", "\\Answered", "$Work"][round % 4];
        let op = if round % 2 == 0 { "+" } else { "-" };
        seen_b.extend(b.ok(&format!("STORE {n} {op}FLAGS ({flag})")).await);
        seen_a.extend(a.ok(&format!("STORE {} +FLAGS ({flag})", 4 - n)).await);
        seen_a.extend(a.ok("FETCH 1:* (FLAGS)").await);
        seen_b.extend(b.ok("NOOP").await);
    }
    seen_a.extend(a.ok("NOOP").await);
    for (who, lines) in [("A", &seen_a), ("B", &seen_b)] {
        let mut last = std::collections::HashMap::new();
        for (uid, _, m) in fetches(lines) {
            let m = m.expect("MODSEQ on every FETCH once CONDSTORE is on");
            let prev = last.insert(uid, m).unwrap_or(0);
            assert!(
                m >= prev,
                "{who}: UID {uid} MODSEQ {prev} then {m}: {lines:#?}"
            );
        }
    }
    // Both end with the same view as a fresh session (\Recent is per session).
    let mut c = s.imap_login(USER).await;
    c.ok("ENABLE CONDSTORE").await;
    c.ok("EXAMINE INBOX").await;
    let view = |lines: Vec<String>| {
        let mut v = fetches(&lines);
        for f in &mut v {
            f.1 = f.1.replace(" \\Recent", "").replace("\\Recent", "");
        }
        v
    };
    let want = view(c.ok("UID FETCH 1:* (FLAGS MODSEQ)").await);
    assert_eq!(want.len(), 3);
    assert_eq!(view(a.ok("UID FETCH 1:* (FLAGS MODSEQ)").await), want);
    assert_eq!(view(b.ok("UID FETCH 1:* (FLAGS MODSEQ)").await), want);
}

/// RFC 3501 §6.4.6 .SILENT: when another session changed the message first, the session is
/// told the whole new state (the client cannot compute it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_store_after_a_foreign_change_tells_the_whole_state() {
    let (_s, mut a, mut b) = two_on_inbox(&["x"]).await;
    b.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let r = a.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r:?}");
    assert!(
        f[0].1.contains("\\Flagged") && f[0].1.contains("\\Seen"),
        "{r:?}"
    );
    // Without a foreign change, .SILENT stays silent (no echo later either).
    let r = a.ok("STORE 1 -FLAGS.SILENT (\\Seen)").await;
    assert!(r.is_empty(), "{r:?}");
    assert!(a.ok("NOOP").await.is_empty());
}

/// RFC 2180 §4.1.1: a message expunged by another session, not yet announced, is served with
/// its real data; the EXPUNGE comes at the next allowed point; its blob goes afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunged_elsewhere_stays_readable_until_told() {
    let (s, mut a, mut b) = two_on_inbox(&["body 0", "body 1", "body 2"]).await;
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    // The flag change is told, the expunge is not (RFC 3501 §7.4.1: not during FETCH).
    let r = a
        .ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (FROM MESSAGE-ID)] BODY.PEEK[TEXT])")
        .await;
    let all = r.join("\n");
    assert!(all.contains("Message-ID: <m1@x>"), "{all}");
    assert!(all.contains("From: Bob <bob@example.test>"), "{all}");
    assert!(all.contains("body 1"), "{all}");
    assert!(!all.contains("EXPUNGE"), "{all}");
    // SEARCH sees what the client sees.
    let r = a.ok("SEARCH BODY \"body 1\"").await;
    assert_eq!(r, vec!["* SEARCH 2"]);
    assert_eq!(s.store.graves(), 1, "kept for A");
    let r = a.ok("NOOP").await;
    assert!(r.contains(&"* 2 EXPUNGE".to_string()), "{r:?}");
    assert_eq!(s.store.graves(), 0, "released once every session was told");
    let r = a.ok("FETCH 2 (BODY.PEEK[TEXT])").await;
    assert!(r[0].contains("body 2"), "{r:?}");
}

/// RFC 2180 §4.1.1 with POP3: a POP3 QUIT that deletes a message an IMAP session still
/// addresses; the IMAP session reads it until told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_delete_keeps_message_readable_for_imap_until_told() {
    let s = start().await;
    s.append(USER, "INBOX", &message("p", "pop body")).await;
    let pop = s.port("pop3");
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    pop3_dele_quit(pop, USER, testkit::PASSWORD, &[1]).await;
    let r = a.ok("FETCH 1 BODY.PEEK[TEXT]").await;
    assert!(r[0].contains("pop body"), "{r:?}");
    let r = a.ok("NOOP").await;
    assert_eq!(r, vec!["* 1 EXPUNGE"]);
    assert_eq!(s.store.graves(), 0);
}

/// A session that closes (or logs out) before being told releases what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_view_releases_expunged_messages() {
    let (s, mut a, mut b) = two_on_inbox(&["x"]).await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    assert_eq!(s.store.graves(), 1);
    a.ok("UNSELECT").await;
    assert_eq!(s.store.graves(), 0);
}

/// RFC 3501 §7.2.6: a keyword another session adds is announced by FLAGS (and
/// PERMANENTFLAGS) before the FETCH that carries it; the same for the session's own STORE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_keywords_are_announced_before_use() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let mut a = s.imap_login(USER).await;
    let mut b = s.imap_login(USER).await;
    let r = a.ok("SELECT INBOX").await;
    assert!(!r.iter().any(|l| l.contains("$Work")));
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS ($Work)").await;
    let r = a.ok("NOOP").await;
    let flags = r
        .iter()
        .position(|l| l.starts_with("* FLAGS (") && l.contains("$Work"));
    let perm = r
        .iter()
        .position(|l| l.contains("[PERMANENTFLAGS (") && l.contains("$Work"));
    let fetch = r
        .iter()
        .position(|l| l.contains("FETCH") && l.contains("$Work"));
    assert!(
        flags.is_some() && perm.is_some() && fetch.is_some() && flags < fetch && perm < fetch,
        "{r:?}"
    );
    // Own STORE with a new keyword: FLAGS first, then the FETCH.
    let r = a.ok("STORE 1 +FLAGS (Project-X)").await;
    assert!(
        r[0].starts_with("* FLAGS (") && r[0].contains("Project-X"),
        "{r:?}"
    );
    assert!(r.last().is_some_and(|l| l.contains("FETCH")), "{r:?}");
    // .SILENT sends no FETCH, but a new keyword is still announced.
    let r = a.ok("STORE 1 +FLAGS.SILENT (Quiet-Y)").await;
    assert!(
        r.iter()
            .any(|l| l.starts_with("* FLAGS (") && l.contains("Quiet-Y")),
        "{r:?}"
    );
    assert!(!r.iter().any(|l| l.contains("FETCH")), "{r:?}");
    // B learns of it before its FETCH shows it.
    let r = b.ok("FETCH 1 FLAGS").await;
    let flags = r
        .iter()
        .position(|l| l.starts_with("* FLAGS (") && l.contains("Project-X"));
    let fetch = r
        .iter()
        .position(|l| l.contains("FETCH (") && l.contains("Project-X"));
    assert!(flags.is_some() && flags < fetch, "{r:?}");
    // A new message delivered with a keyword: announced before the FETCH of it.
    let mb = s.mailbox(USER, "INBOX");
    s.store
        .append(
            s.account(USER).id,
            mb.id,
            store::AppendRequest {
                bytes: &message("b", "y"),
                flags: store::Flags::from_names(["Later"]),
                internaldate: None,
            },
        )
        .await
        .expect("append");
    // The keyword is announced before the EXISTS that tells of the message: a client knows
    // every keyword of every message it knows (the stress client's checkpoint check).
    let r = a.ok("NOOP").await;
    let flags = r
        .iter()
        .position(|l| l.starts_with("* FLAGS (") && l.contains("Later"));
    let exists = r.iter().position(|l| l == "* 2 EXISTS");
    assert!(
        flags.is_some() && exists.is_some() && flags < exists,
        "{r:?}"
    );
    let r = a.ok("FETCH 2 FLAGS").await;
    assert!(
        r.len() == 1 && r[0].contains("FETCH (") && r[0].contains("Later"),
        "announced once: {r:?}"
    );
}

/// RFC 7162 §3.1: the first CONDSTORE enabling command while a mailbox is selected is
/// answered with OK [HIGHESTMODSEQ], once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_condstore_command_reports_highestmodseq() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let mut a = s.imap_login(USER).await;
    let r = a.ok("SELECT INBOX").await;
    let h = code_value(&r, "HIGHESTMODSEQ");
    let r = a.ok("FETCH 1 (MODSEQ)").await;
    assert_eq!(code_value(&r, "HIGHESTMODSEQ"), h, "{r:?}");
    let r = a.ok("FETCH 1 (MODSEQ)").await;
    assert!(!r.iter().any(|l| l.contains("HIGHESTMODSEQ")), "{r:?}");
    // The same for SEARCH MODSEQ and STORE UNCHANGEDSINCE on a new session.
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    let r = b.ok("SEARCH MODSEQ 1").await;
    assert!(r.iter().any(|l| l.contains("[HIGHESTMODSEQ ")), "{r:?}");
    let mut c = s.imap_login(USER).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("STORE 1 (UNCHANGEDSINCE 100) +FLAGS (\\Seen)").await;
    let fetch = r.iter().position(|l| l.contains("FETCH"));
    let hms = r.iter().position(|l| l.contains("[HIGHESTMODSEQ "));
    assert!(fetch.is_some() && hms > fetch, "{r:?}");
    assert_eq!(code_value(&r, "HIGHESTMODSEQ"), h + 1, "{r:?}");
}

/// RFC 3501 §6.3.2: EXAMINE reports the same RECENT count SELECT would, and claims nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examine_reports_recent_like_select() {
    let s = start().await;
    for i in 0..2 {
        s.append(USER, "INBOX", &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = s.imap_login(USER).await;
    let r = a.ok("EXAMINE INBOX").await;
    assert!(r.contains(&"* 2 RECENT".to_string()), "{r:?}");
    let mut b = s.imap_login(USER).await;
    let r = b.ok("SELECT INBOX").await;
    assert!(
        r.contains(&"* 2 RECENT".to_string()),
        "EXAMINE claimed nothing: {r:?}"
    );
    let r = a.ok("EXAMINE INBOX").await;
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
}
