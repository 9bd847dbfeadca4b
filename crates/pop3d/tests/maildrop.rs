//! The maildrop: the lock across sessions, DELE/RSET/QUIT/disconnect semantics, the snapshot
//! against IMAP-side expunges, the pop3_policy settings, timeouts, and the cross-protocol
//! effect seen through the store API.

use std::time::Duration;

use pop3d::Limits;
use store::Pop3Policy;
use testkit::{eventually, message, Daemon, Pop3, Stack, StackBuilder, PASSWORD};

const ALICE: &str = "alice@example.test";

/// POP3 alone (plain with STLS, and pop3s) on a temporary store, greeting as pop.example.test,
/// every session traced.
fn pop3() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Pop3])
        .hostname("pop.example.test")
        .trace(true)
}

async fn start() -> Stack {
    pop3().start().await
}

/// Logs in as alice once the server has noticed that her previous session ended and released
/// the maildrop lock (until then PASS answers `-ERR [IN-USE]`).
async fn login_when_unlocked(srv: &Stack) -> Pop3 {
    eventually(Duration::from_secs(30), || async {
        let mut c = Pop3::connect(srv.port("pop3")).await;
        c.line().await;
        c.cmd(&format!("USER {ALICE}")).await;
        let r = c.cmd(&format!("PASS {PASSWORD}")).await;
        if r.starts_with("+OK") {
            return Ok(c);
        }
        assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
        Err(r)
    })
    .await
}

#[tokio::test]
async fn second_session_gets_in_use_and_lock_is_released() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let mut first = srv.pop3_login(ALICE).await;

    let mut second = Pop3::connect(srv.port("pop3")).await;
    second.line().await;
    second.cmd(&format!("USER {ALICE}")).await;
    let r = second.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    // Still in AUTHORIZATION: the client can retry after the first session quits.
    assert!(first.cmd("QUIT").await.starts_with("+OK"));
    assert!(first.closed().await);
    second.cmd(&format!("USER {ALICE}")).await;
    assert!(second
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("+OK maildrop has"));
}

#[tokio::test]
async fn killed_client_releases_the_lock_and_deletes_nothing() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let uid = srv.deliver(&a, &message("keep me", "body\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert_eq!(c.cmd("DELE 1").await, "+OK message 1 deleted");
    drop(c); // killed mid-session: no QUIT (RFC 1939 §6: nothing is deleted)

    // The server notices the close and drops the lock; log in again once it has.
    let mut c = login_when_unlocked(&srv).await;
    assert!(c.cmd("STAT").await.starts_with("+OK 1 "));
    assert_eq!(srv.uids(&a), vec![uid]);
}

#[tokio::test]
async fn quit_commits_deletions_in_one_transaction() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let mut uids = Vec::new();
    for i in 0..4 {
        uids.push(srv.deliver(&a, &message(&format!("m{i}"), "x\r\n")).await);
    }
    let mut changes = srv.store.subscribe(a.id);
    let mut c = srv.pop3_login(ALICE).await;
    c.cmd("DELE 1").await;
    c.cmd("DELE 3").await;
    // Before QUIT nothing is gone.
    assert_eq!(srv.uids(&a), uids);
    let r = c.cmd("QUIT").await;
    assert!(
        r.starts_with("+OK") && r.contains("2 messages deleted"),
        "{r}"
    );
    assert!(c.closed().await);
    assert_eq!(srv.uids(&a), vec![uids[1], uids[3]]);
    // One expunge event with both UIDs: what IMAP sessions receive.
    match changes.recv().await.expect("change") {
        store::Change::Expunged { uids: gone, .. } => assert_eq!(gone, vec![uids[0], uids[2]]),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn quit_in_authorization_and_after_rset_deletes_nothing() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let uid = srv.deliver(&a, &message("x", "y\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    c.cmd("DELE 1").await;
    c.cmd("RSET").await;
    assert!(c.cmd("QUIT").await.contains("0 messages deleted"));
    assert_eq!(srv.uids(&a), vec![uid]);
}

#[tokio::test]
async fn cross_protocol_effect_through_the_store() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let kept = srv
        .deliver(&a, &message("only retrieved", "stays\r\n"))
        .await;
    let gone = srv.deliver(&a, &message("deleted", "goes\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multi().await;
    assert!(c.cmd("RETR 2").await.starts_with("+OK"));
    c.multi().await;
    c.cmd("DELE 2").await;
    c.cmd("QUIT").await;
    let inbox = srv.inbox(&a);
    assert!(
        srv.store.message(inbox.id, gone).expect("read").is_none(),
        "DELE+QUIT removed it"
    );
    assert!(
        srv.store.message(inbox.id, kept).expect("read").is_some(),
        "RETR alone keeps it"
    );
    assert!(!srv.seen(&a, kept), "keep policy leaves flags alone");
}

#[tokio::test]
async fn message_expunged_by_another_session() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let m1 = message("one", "1\r\n");
    let m2 = message("two", "2\r\n");
    let u1 = srv.deliver(&a, &m1).await;
    srv.deliver(&a, &m2).await;
    let mut c = srv.pop3_login(ALICE).await;
    // An IMAP client expunges message 1 meanwhile.
    srv.store
        .expunge(a.id, srv.inbox(&a).id, &[u1])
        .await
        .expect("expunge");
    assert_eq!(
        c.cmd("RETR 1").await,
        "-ERR message 1 was deleted by another session"
    );
    assert_eq!(
        c.cmd("TOP 1 0").await,
        "-ERR message 1 was deleted by another session"
    );
    // STAT/LIST keep the snapshot's numbering.
    assert_eq!(
        c.cmd("STAT").await,
        format!("+OK 2 {}", m1.len() + m2.len())
    );
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}", m2.len()));
    assert!(c.cmd("RETR 2").await.starts_with("+OK"));
    assert_eq!(c.multi_raw().await, m2);
    // DELE of the vanished message and QUIT are fine.
    c.cmd("DELE 1").await;
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}

#[tokio::test]
async fn policy_delete_removes_retrieved_messages() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    srv.set_pop3_policy(ALICE, Pop3Policy::Delete).await;
    let retrieved = srv.deliver(&a, &message("r", "retrieved\r\n")).await;
    let topped = srv.deliver(&a, &message("t", "only top\r\n")).await;
    let untouched = srv.deliver(&a, &message("u", "untouched\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(c.multi().await.iter().any(|l| l == "EXPIRE 0"));
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multi().await;
    assert!(c.cmd("TOP 2 1").await.starts_with("+OK"));
    c.multi().await;
    assert!(c.cmd("QUIT").await.contains("(1 message deleted, "));
    assert_eq!(srv.uids(&a), vec![topped, untouched]);
    assert!(!srv.uids(&a).contains(&retrieved));

    // A disconnect without QUIT deletes nothing even under this policy.
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multi().await;
    drop(c);
    // Once the lock is free the session is over: a deletion would have been committed.
    login_when_unlocked(&srv).await;
    assert_eq!(srv.uids(&a), vec![topped, untouched]);
}

#[tokio::test]
async fn policy_mark_seen_sets_seen_on_retr() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    srv.set_pop3_policy(ALICE, Pop3Policy::MarkSeen).await;
    let u1 = srv.deliver(&a, &message("a", "x\r\n")).await;
    let u2 = srv.deliver(&a, &message("b", "y\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multi().await;
    assert!(c.cmd("TOP 2 0").await.starts_with("+OK"));
    c.multi().await;
    // Visible at once, before QUIT, as IMAP would see it.
    assert!(srv.seen(&a, u1));
    assert!(!srv.seen(&a, u2), "TOP does not mark seen");
    c.cmd("QUIT").await;
    assert_eq!(srv.uids(&a), vec![u1, u2], "mark-seen deletes nothing");
}

#[tokio::test]
async fn policy_keep_is_the_default() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    assert_eq!(a.pop3_policy, Pop3Policy::Keep);
    let u = srv.deliver(&a, &message("k", "x\r\n")).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multi().await;
    c.cmd("QUIT").await;
    assert_eq!(srv.uids(&a), vec![u]);
    assert!(!srv.seen(&a, u));
}

#[tokio::test]
async fn idle_timeouts_close_and_release_the_lock() {
    let limits = Limits {
        authorization_timeout: Duration::from_secs(2),
        transaction_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let srv = pop3().pop3_limits(limits).start().await;
    let a = srv.add_user(ALICE).await;
    let uid = srv.deliver(&a, &message("t", "x\r\n")).await;

    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert!(c.line().await.starts_with("-ERR autologout"));
    assert!(c.closed().await);

    let mut c = srv.pop3_login(ALICE).await;
    c.cmd("DELE 1").await;
    assert!(c.line().await.starts_with("-ERR autologout"));
    assert!(c.closed().await);
    // Timeout is not QUIT: nothing deleted, lock free.
    assert_eq!(srv.uids(&a), vec![uid]);
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("STAT").await.starts_with("+OK 1 "));
}
