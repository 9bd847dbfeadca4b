use mailstack_test::{Error, TestServer};
use serde_json::json;

const BOB: &str = "bob@example.test";
const MSG: &str = "Subject: hello\r\n\r\nHi Bob\r\n";

#[tokio::test]
async fn send_read_and_injected_faults() -> Result<(), Error> {
    let server = TestServer::start().await?;
    server.add_account(BOB, "secret").await?;
    server.send_mail("app@example.test", &[BOB], MSG).await?;
    let got = server.pop3_messages(BOB, "secret").await?;
    assert!(got[0].contains("Hi Bob"), "{got:?}");
    // 452 at RCPT, once.
    let full = "452 4.2.2 Mailbox full";
    let r =
        json!({"protocol": "smtp", "stage": "RCPT", "action": "reply", "reply": full, "times": 1});
    server.add_fault(r).await?;
    let refused = server.send_mail("app@example.test", &[BOB], MSG).await;
    assert!(matches!(refused, Err(Error::Smtp { code: 452, .. })));
    // The connection dropped at DATA: no answer, nothing delivered.
    let r = json!({"protocol": "smtp", "stage": "DATA", "action": "drop", "times": 1});
    server.add_fault(r).await?;
    let dropped = server.send_mail("app@example.test", &[BOB], MSG).await;
    assert!(matches!(dropped, Err(Error::Smtp { code: 0, .. })));
    assert_eq!(server.messages(BOB).await?.len(), 1);
    server.stop().await
}
