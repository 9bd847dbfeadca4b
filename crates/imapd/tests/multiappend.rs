//! MULTIAPPEND (RFC 3502): several messages in one APPEND, all or none, one
//! `[APPENDUID uidvalidity uid-set]` (RFC 4315 §3). The RFC's own exchange, the refusals
//! (missing mailbox, an empty message, over quota, a malformed message) that leave the
//! mailbox as it was, a second session that sees the messages arrive together or not at
//! all, and watchers (IDLE, NOOP) told nothing of a MULTIAPPEND refused part-way.

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

/// RFC 3502 §6.3.11: the two messages of the RFC's example.
const FIRST: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.example.net\r\n\
Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
const SECOND: &str = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n\
From: Joe Mooch <mooch@OWATAGU.example.net>\r\n\
Subject: Re: afternoon meeting\r\n\
To: foobar@blurdybloop.example.com\r\n\
Message-Id: <a0434793874930@OWATAGU.example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
3:30 is fine with me.\r\n";

async fn start() -> (Stack, Imap) {
    let s = Stack::builder().user(USER).start().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "MULTIAPPEND"), "{caps:?}");
    a.ok("CREATE saved-messages").await;
    (s, a)
}

/// `APPEND mailbox` with each message as a LITERAL+ `(flags) {n+}` literal.
fn multi(mailbox: &str, messages: &[&str]) -> String {
    let mut cmd = format!("APPEND {mailbox}");
    for m in messages {
        cmd.push_str(&format!(" {{{}+}}\r\n{m}", m.len()));
    }
    cmd
}

/// RFC 3502 §6.3.11 example: synchronizing literals, a `+` for each, one tagged OK, then the
/// TRYCREATE refusal of the example's A004.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_example() {
    let (s, mut a) = start().await;
    a.send(&format!(
        "A003 APPEND saved-messages (\\Seen) {{{}}}\r\n",
        FIRST.len()
    ))
    .await;
    assert!(a.response().await.starts_with("+ "));
    a.send(&format!(
        "{FIRST} (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {{{}}}\r\n",
        SECOND.len()
    ))
    .await;
    assert!(a.response().await.starts_with("+ "));
    a.send(&format!("{SECOND}\r\n")).await;
    let (u, t) = a.until("A003").await;
    assert!(u.is_empty(), "{u:?}");
    let validity = s.mailbox(USER, "saved-messages").uidvalidity;
    assert_eq!(
        t,
        format!("A003 OK [APPENDUID {validity} 1:2] APPEND completed")
    );
    let stored = s.messages(USER, "saved-messages");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].0, FIRST.as_bytes());
    assert_eq!(stored[1].0, SECOND.as_bytes());
    assert!(stored.iter().all(|(_, f)| f.has(store::Flags::SEEN)));
    a.ok("EXAMINE saved-messages").await;
    assert_eq!(
        a.ok("FETCH 2 INTERNALDATE").await,
        ["* 2 FETCH (INTERNALDATE \"07-Feb-1994 22:43:04 -0800\")"]
    );
    // A004: no such mailbox, nothing read past the first literal's refusal.
    let (_, t) = a.cmd(&multi("bogusname", &[FIRST, SECOND])).await;
    assert!(t.contains("NO [TRYCREATE]"), "{t}");
}

/// All or nothing (RFC 3502 §6.3.11): an empty third message, or three messages that do not
/// fit the quota together, append none; a malformed third message is BAD and appends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_appends_nothing() {
    let (s, mut a) = start().await;
    let (_, t) = a.cmd(&multi("saved-messages", &[FIRST, SECOND, ""])).await;
    assert!(t.contains("NO [CANNOT]") && t.contains("message 3"), "{t}");
    assert_eq!(s.count(USER, "saved-messages"), 0);
    // Malformed: a third message whose date is not a date.
    let (_, t) = a
        .cmd(&format!(
            "{} \"31-Feb-2020 00:00:00 +0000\" {{1+}}\r\nx",
            multi("saved-messages", &[FIRST, SECOND])
        ))
        .await;
    assert!(t.contains(" BAD "), "{t}");
    assert_eq!(s.count(USER, "saved-messages"), 0);
    // Over quota together, though each fits alone.
    let room = (FIRST.len() + SECOND.len() + FIRST.len() / 2) as u64;
    for (bytes, messages) in [(Some(room), None), (None, Some(2))] {
        s.store
            .update_account(USER, |acct| {
                acct.quota_bytes = bytes;
                acct.quota_messages = messages;
            })
            .await
            .expect("quota");
        let (_, t) = a
            .cmd(&multi("saved-messages", &[FIRST, SECOND, FIRST]))
            .await;
        assert!(t.contains("NO [OVERQUOTA]"), "{t}");
        assert_eq!(s.count(USER, "saved-messages"), 0);
    }
    // Two fit.
    let (_, t) = a.cmd(&multi("saved-messages", &[FIRST, SECOND])).await;
    assert!(t.contains(" OK [APPENDUID "), "{t}");
    assert_eq!(s.count(USER, "saved-messages"), 2);
    // The session goes on.
    a.ok("NOOP").await;
}

/// A second session with the mailbox selected sees all the messages of a MULTIAPPEND
/// (EXISTS 3), and nothing of a refused one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_session_sees_all_or_nothing() {
    let (s, mut a) = start().await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT saved-messages").await;
    let (_, t) = a.cmd(&multi("saved-messages", &[FIRST, SECOND, ""])).await;
    assert!(t.contains(" NO "), "{t}");
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    let (_, t) = a
        .cmd(&multi("saved-messages", &[FIRST, SECOND, FIRST]))
        .await;
    assert!(t.ends_with("1:3] APPEND completed"), "{t}");
    let u = b.ok("NOOP").await;
    assert!(u.contains(&"* 3 EXISTS".to_string()), "{u:?}");
    assert!(!u.iter().any(|l| l.contains("EXPUNGE")), "{u:?}");
    let f = b.ok("FETCH 1:3 (UID RFC822.SIZE)").await;
    assert_eq!(f.len(), 3, "{f:?}");
}

/// Two watchers, one idling and one polling with NOOP, never see part of a MULTIAPPEND whose
/// third message is over quota (RFC 3502 §6.3.11): the store refuses all three in one
/// transaction, so there is nothing to tell — no EXISTS, no EXPUNGE, UIDNEXT and
/// HIGHESTMODSEQ as they were — and the next message appended is the first thing each is
/// told, as message 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_never_see_a_partial_multiappend() {
    let (s, mut a) = start().await;
    let room = (FIRST.len() + SECOND.len() + FIRST.len() / 2) as u64;
    s.store
        .update_account(USER, |acct| acct.quota_bytes = Some(room))
        .await
        .expect("quota");
    let mut idler = s.imap_login(USER).await;
    idler.ok("SELECT saved-messages").await;
    let mut poller = s.imap_login(USER).await;
    poller.ok("SELECT saved-messages").await;
    let before = s.mailbox(USER, "saved-messages");
    let tag = idler.idle().await;
    let (_, t) = a
        .cmd(&multi("saved-messages", &[FIRST, SECOND, FIRST]))
        .await;
    assert!(t.contains("NO [OVERQUOTA]"), "{t}");
    let after = s.mailbox(USER, "saved-messages");
    assert_eq!(
        (after.uidnext, after.highestmodseq, after.exists),
        (before.uidnext, before.highestmodseq, 0)
    );
    assert_eq!(poller.ok("NOOP").await, Vec::<String>::new());
    // The next append (one message, it fits) is the first thing either watcher is told.
    let (_, t) = a.cmd(&multi("saved-messages", &[SECOND])).await;
    assert!(t.contains(" OK [APPENDUID "), "{t}");
    assert_eq!(idler.pushed().await, "* 1 EXISTS");
    assert_eq!(idler.pushed().await, "* 1 RECENT");
    let (u, t) = idler.done(&tag).await;
    assert!(
        u.is_empty() && t.ends_with("OK IDLE terminated"),
        "{u:?} {t}"
    );
    let u = poller.ok("NOOP").await;
    assert_eq!(u.first().map(String::as_str), Some("* 1 EXISTS"), "{u:?}");
    assert!(
        u[1..]
            .iter()
            .all(|l| !l.contains("EXISTS") && !l.contains("EXPUNGE")),
        "{u:?}"
    );
}
