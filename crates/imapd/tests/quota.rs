//! QUOTA (RFC 9208): GETQUOTAROOT / GETQUOTA report the store's usage; APPEND, COPY and SMTP
//! over quota are refused ([OVERQUOTA], 552 5.2.2).
use testkit::client::smtp_send;
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

fn quota_of(lines: &[String]) -> (u64, u64) {
    let q = lines
        .iter()
        .find(|l| l.starts_with("* QUOTA \"\" (STORAGE "))
        .unwrap_or_else(|| panic!("no QUOTA in {lines:?}"));
    let nums: Vec<u64> = q
        .trim_end_matches(')')
        .split(' ')
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_fills_up_via_append_and_smtp() {
    let s = start().await;
    let smtp = s.port("smtp");
    let mut a = s.imap_login(USER).await;
    // Unlimited: no quota root (RFC 9208 §4.3.2), GETQUOTA "" → NO.
    let r = a.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(r, vec!["* QUOTAROOT \"INBOX\""]);
    let (_, t) = a.cmd("GETQUOTA \"\"").await;
    assert!(t.contains("NO [NONEXISTENT]"), "{t}");
    s.store
        .update_account(USER, |acct| acct.quota_bytes = Some(4 * 1024))
        .await
        .expect("quota");
    // APPEND until full.
    let msg = message("filler", &"x".repeat(900));
    let mut refused = None;
    for i in 0..10 {
        let (_, t) = a
            .cmd(&format!(
                "APPEND INBOX {{{}+}}\r\n{}",
                msg.len(),
                String::from_utf8_lossy(&msg)
            ))
            .await;
        if !t.contains(" OK ") {
            refused = Some((i, t));
            break;
        }
    }
    let (n, t) = refused.expect("quota reached");
    assert!(n >= 3, "{n} appends fit");
    assert!(t.contains("NO [OVERQUOTA]"), "{t}");
    // GETQUOTAROOT reports the store's usage in KiB (RFC 9208 §5.1).
    let usage = s.store.usage(s.account(USER).id).expect("usage");
    let r = a.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(r[0], "* QUOTAROOT \"INBOX\" \"\"");
    assert_eq!(quota_of(&r), (usage.bytes.div_ceil(1024), 4));
    assert_eq!(r, a.ok("GETQUOTAROOT inbox").await);
    let r = a.ok("GETQUOTA \"\"").await;
    assert_eq!(quota_of(&r), (usage.bytes.div_ceil(1024), 4));
    // COPY over quota.
    a.ok("SELECT INBOX").await;
    let (_, t) = a.cmd("COPY 1:* Archive").await;
    assert!(t.contains("NO [OVERQUOTA]"), "{t}");
    // SMTP delivery over quota → 552 5.2.2 (the shared store check).
    let r = smtp_send(smtp, USER, &message("smtp", &"y".repeat(2000))).await;
    assert!(r.starts_with("552 5.2.2"), "{r}");
    assert_eq!(s.store.usage(s.account(USER).id).expect("usage"), usage);
    // SETQUOTA is the administrator's job.
    let (_, t) = a.cmd("SETQUOTA \"\" (STORAGE 100)").await;
    assert!(t.contains("NO [NOPERM]"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_count_quota() {
    let s = start().await;
    let smtp = s.port("smtp");
    s.store
        .update_account(USER, |acct| acct.quota_messages = Some(2))
        .await
        .expect("quota");
    let mut a = s.imap_login(USER).await;
    for i in 0..2 {
        let r = smtp_send(smtp, USER, &message(&format!("m{i}"), "x")).await;
        assert!(r.starts_with("250"), "{r}");
    }
    let r = smtp_send(smtp, USER, &message("third", "x")).await;
    assert!(r.starts_with("552 5.2.2"), "{r}");
    let (_, t) = a.cmd("APPEND Drafts {5+}\r\nhello").await;
    assert!(t.contains("NO [OVERQUOTA]"), "{t}");
    // MESSAGE only, because no byte limit is set (RFC 9208 §5.2).
    let r = a.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(r[1], "* QUOTA \"\" (MESSAGE 2 2)");
    // MOVE does not grow usage and is allowed.
    a.ok("SELECT INBOX").await;
    a.ok("MOVE 1 Archive").await;
}
