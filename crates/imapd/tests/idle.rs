//! IDLE timing rules (RFC 2177 §3, docs/spec.md §8) with shortened limits: the autologout counts
//! from the last client input and DONE resets it; a re-check `* OK` comes before the
//! autologout. Margins are seconds wide, so a slow machine does not fail them.
mod common;
use std::time::Duration;

use common::*;

fn short() -> Options {
    Options {
        limits: imapd::Limits {
            prelogin_idle: Duration::from_secs(60),
            autologout: Duration::from_secs(6),
            idle_recheck: Duration::from_secs(3),
        },
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_resets_autologout_and_reidle_works() {
    let s = start_with(short()).await;
    let mut a = s.logged_in().await;
    a.ok("SELECT INBOX").await;
    // Three IDLEs of 2.5 s with DONE between: 7.5 s in total (over the 6 s autologout),
    // each stretch well under it. The 3 s re-check `* OK` may or may not come; either is fine.
    for _ in 0..3 {
        let tag = a.idle().await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (_, t) = a.done(&tag).await;
        assert!(t.ends_with("OK IDLE terminated"), "{t}");
    }
    a.ok("NOOP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_recheck_then_autologout() {
    let s = start_with(short()).await;
    let mut a = s.logged_in().await;
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
