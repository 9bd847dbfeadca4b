//! IDLE timing rules (RFC 2177 §3, docs/spec.md §8) with shortened limits: the autologout counts
//! from the last client input and DONE resets it; a re-check `* OK` comes before the
//! autologout. Margins are seconds wide, so a slow machine does not fail them.
use std::time::Duration;

use testkit::{Stack, StackBuilder};

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP with a 6 s autologout and a 3 s IDLE
/// re-check.
fn short() -> StackBuilder {
    Stack::builder().user(USER).imap_limits(imapd::Limits {
        prelogin_idle: Duration::from_secs(60),
        autologout: Duration::from_secs(6),
        idle_recheck: Duration::from_secs(3),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_resets_autologout_and_reidle_works() {
    let s = short().start().await;
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    // Three IDLEs of 2.5 s with DONE between: 7.5 s in total (over the 6 s autologout),
    // each stretch well under it. The 3 s re-check `* OK` may or may not come; either is fine.
    for _ in 0..3 {
        let tag = a.idle().await;
        // Time itself is what is tested here: 2.5 s idling, no event to wait for.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (_, t) = a.done(&tag).await;
        assert!(t.ends_with("OK IDLE terminated"), "{t}");
    }
    a.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_recheck_then_autologout() {
    let s = short().start().await;
    let mut a = s.imap_login(USER).await;
    a.ok("SELECT INBOX").await;
    let _tag = a.idle().await;
    // Nothing sent by the client: first the re-check, then the autologout.
    let r = a.response().await;
    assert!(r.starts_with("* OK still here"), "{r}");
    let r = a.response().await;
    assert!(r.starts_with("* BYE autologout"), "{r}");
    // RFC 3501 §7.1.5: after BYE the server closes; no tagged reply for the IDLE.
    assert_eq!(a.response().await, "", "connection closed");
}
