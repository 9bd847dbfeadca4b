//! `serve --trace-protocol`: every line with the session's TLS state, passwords redacted,
//! message bodies elided to their first line unless `--trace-bodies`.

use std::time::Duration;

use testkit::{eventually_blocking, Line, Mailstack, ALICE};

const BODY_LINE: &str = "second line of the body, only with --trace-bodies";

/// Delivers one message over inbound SMTP, then logs in over POP3 and RETRs it.
async fn deliver_and_retrieve(server: &Mailstack) {
    let msg = format!("Subject: traced\r\n\r\nfirst line\r\n{BODY_LINE}");
    Line::smtp_deliver(server.port("smtp"), "x@example.org", ALICE.0, &msg).await;
    let mut pop = Line::pop3_login(server.port("pop3"), ALICE.0, ALICE.1).await;
    assert!(pop.pop3("RETR 1").await.starts_with("+OK"));
    let body = pop.pop3_body().await;
    assert!(body.iter().any(|l| l == BODY_LINE), "{body:?}");
    assert!(pop.pop3("QUIT").await.starts_with("+OK"));
}

/// The log once it contains `needle` (the server writes it after answering).
fn wait_for(server: &Mailstack, needle: &str) -> String {
    eventually_blocking(Duration::from_secs(60), || {
        let log = server.stderr();
        if log.contains(needle) {
            Ok(log)
        } else {
            Err(format!("no {needle:?} in the log yet:\n{log}"))
        }
    })
}

#[tokio::test]
async fn trace_redacts_and_elides_bodies() {
    let server = Mailstack::builder().args(&["--trace-protocol"]).start();
    deliver_and_retrieve(&server).await;
    let log = wait_for(&server, "C: QUIT");
    assert!(log.contains("C: PASS <redacted>"), "{log}");
    assert!(!log.contains(ALICE.1), "password in the trace");
    assert!(log.contains("tls=false"), "TLS state on each line: {log}");
    assert!(
        log.contains("--trace-bodies shows them"),
        "RETR body elided: {log}"
    );
    assert!(
        !log.contains(BODY_LINE),
        "body line traced without --trace-bodies"
    );
}

#[tokio::test]
async fn trace_bodies_shows_message_data() {
    let server = Mailstack::builder()
        .args(&["--trace-protocol", "--trace-bodies"])
        .start();
    deliver_and_retrieve(&server).await;
    let log = wait_for(&server, "C: QUIT");
    assert!(log.contains(BODY_LINE), "{log}");
    assert!(!log.contains(ALICE.1), "password in the trace");
}
