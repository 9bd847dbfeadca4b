//! A disk that fails (fsync error): the store refuses writes, and every daemon says "try
//! again later" in its own words instead of claiming success or reporting corruption.
use testkit::client::smtp_send;
use testkit::mail::dated as message;
use testkit::{Pop3, Stack};

const USER: &str = "alice@example.test";
const PASS: &str = testkit::PASSWORD;

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_disk_gives_temporary_errors_everywhere() {
    let s = start().await;
    s.append(USER, "INBOX", &message("a", "x")).await;
    let smtp = s.port("smtp");
    let pop3 = s.port("pop3");
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    s.store.inject_flush_failure();
    // IMAP: RFC 5530 §3 UNAVAILABLE, reads still work.
    let (_, t) = a.cmd("STORE 1 +FLAGS (\\Seen)").await;
    assert!(t.contains("NO [UNAVAILABLE]"), "{t}");
    let (_, t) = a.cmd("APPEND INBOX {5+}\r\nhello").await;
    assert!(t.contains("NO [UNAVAILABLE]"), "{t}");
    let r = a.ok("FETCH 1 (FLAGS)").await;
    assert!(r[0].contains("FETCH"), "{r:?}");
    // SMTP: RFC 5321 §4.2.2 451, the sender keeps the message and retries.
    let r = smtp_send(smtp, USER, &message("b", "y")).await;
    assert!(r.starts_with("451"), "{r}");
    // POP3: RFC 3206 [SYS/TEMP] at QUIT (the deletion is not done).
    let mut c = Pop3::connect(pop3).await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    assert!(c.cmd(&format!("PASS {PASS}")).await.starts_with("+OK"));
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    let r = c.cmd("QUIT").await;
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
    assert!(s
        .store
        .message(s.mailbox(USER, "INBOX").id, store::Uid::new(1))
        .expect("q")
        .is_some());
}
