//! The rest of the Rust test API: deliver without SMTP, wait for a message that arrives
//! later, fault rules cleared, a timeout that says which address it waited for.

use std::time::Duration;

use mailstack_test::{Error, TestServer};
use serde_json::json;

#[tokio::test]
async fn deliver_wait_and_faults() -> Result<(), Error> {
    let server = TestServer::start().await?;
    assert!(server.port("imap") > 0 && server.ca().exists());
    server.add_account("amy@example.test", "pw").await?;
    let uid = server
        .deliver("amy@example.test", "Subject: direct\r\n\r\nno SMTP\r\n")
        .await?;
    assert_eq!(uid, 1);
    let got = server.pop3_messages("amy@example.test", "pw").await?;
    assert!(got[0].starts_with("Subject: direct\r\n"), "{got:?}");
    // A message that arrives while wait_for_message waits (a long poll, not a sleep loop).
    let waiter = server.wait_for_message(
        "amy@example.test",
        |m| m.subject.as_deref() == Some("later"),
        Duration::from_secs(30),
    );
    let sender = async {
        server
            .send_mail(
                "x@example.test",
                &["amy@example.test"],
                "Subject: later\r\n\r\nhi\r\n",
            )
            .await
    };
    let (m, sent) = tokio::join!(waiter, sender);
    sent?;
    assert_eq!(m?.uid, 2);
    // Nothing matches: the timeout names the address.
    let none = server
        .wait_for_message("amy@example.test", |_| false, Duration::from_millis(300))
        .await;
    assert!(matches!(none, Err(Error::Timeout(ref a)) if a == "amy@example.test"));
    // A rule, then none.
    server
        .add_fault(json!({"protocol": "smtp", "stage": "MAIL", "action": "reply"}))
        .await?;
    let refused = server
        .send_mail(
            "x@example.test",
            &["amy@example.test"],
            "Subject: no\r\n\r\n",
        )
        .await;
    assert!(
        matches!(refused, Err(Error::Smtp { code: 451, .. })),
        "{refused:?}"
    );
    server.clear_faults().await?;
    server
        .send_mail(
            "x@example.test",
            &["amy@example.test"],
            "Subject: yes\r\n\r\n",
        )
        .await?;
    // A bad rule is the API's 422.
    let bad = server
        .add_fault(json!({"protocol": "smtp", "stage": "FETCH", "action": "drop"}))
        .await;
    assert!(
        matches!(bad, Err(Error::Status { status: 422, .. })),
        "{bad:?}"
    );
    Ok(())
}
