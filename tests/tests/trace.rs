//! `serve --trace-protocol`: every line with the session's TLS state, passwords redacted,
//! message bodies elided to their first line unless `--trace-bodies`.

use e2e::wire::Wire;
use e2e::{Server, ALICE};

const BODY_LINE: &str = "second line of the body, only with --trace-bodies";

/// Delivers one message over inbound SMTP, then logs in over POP3 and RETRs it.
async fn deliver_and_retrieve(server: &Server) {
    let msg = format!("Subject: traced\r\n\r\nfirst line\r\n{BODY_LINE}");
    Wire::smtp_deliver(server.port("smtp"), "x@example.org", ALICE.0, &msg).await;
    let mut pop = Wire::pop3_login(server.port("pop3"), ALICE.0, ALICE.1).await;
    assert!(pop.pop3("RETR 1").await.starts_with("+OK"));
    let body = pop.pop3_body().await;
    assert!(body.iter().any(|l| l == BODY_LINE), "{body:?}");
    assert!(pop.pop3("QUIT").await.starts_with("+OK"));
}

fn wait_for(server: &Server, needle: &str) -> String {
    for _ in 0..100 {
        let log = server.stderr();
        if log.contains(needle) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.stderr()
}

#[tokio::test]
async fn trace_redacts_and_elides_bodies() {
    let server = Server::start_with("", &["--trace-protocol"]);
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
    let server = Server::start_with("", &["--trace-protocol", "--trace-bodies"]);
    deliver_and_retrieve(&server).await;
    let log = wait_for(&server, "C: QUIT");
    assert!(log.contains(BODY_LINE), "{log}");
    assert!(!log.contains(ALICE.1), "password in the trace");
}
