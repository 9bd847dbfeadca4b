//! Fault injection (docs/spec.md §7.7) through all three protocols and the REST API: rules set
//! by `POST /api/faults` make SMTP, IMAP and POP3 answer errors, wait, drop the connection or
//! swallow a message; the trace marks each injected fault; bad rules get 422.

use std::time::Duration;

use serde_json::json;
use testkit::http::{get, send_json};
use testkit::{Pop3, Smtp, Stack, ALICE, BOB, PASSWORD};

async fn add(stack: &Stack, rule: serde_json::Value) -> u64 {
    let r = send_json(&stack.router(), "POST", "/api/faults", rule).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_u64().expect("id")
}

/// How many messages `address`'s INBOX holds.
fn inbox_count(stack: &Stack, address: &str) -> usize {
    let account = stack.store.account(address).expect("db").expect("account");
    let inbox = stack
        .store
        .mailbox(account.id, "INBOX")
        .expect("db")
        .expect("inbox");
    stack.store.messages(inbox.id).expect("db").len()
}

fn stack() -> testkit::StackBuilder {
    Stack::builder()
        .account(ALICE.0, PASSWORD)
        .account(BOB.0, PASSWORD)
}

#[tokio::test]
async fn smtp_rcpt_reply_and_data_drop() {
    let stack = stack().start().await;
    // 452 at RCPT for bob only, once; a dropped connection at the end of DATA, once.
    add(
        &stack,
        json!({"protocol": "smtp", "stage": "RCPT", "account": BOB.0, "action": "reply",
        "reply": "452 4.2.2 Mailbox full", "times": 1}),
    )
    .await;
    add(
        &stack,
        json!({"listener": "smtp", "stage": "end-of-data", "action": "drop", "times": 1}),
    )
    .await;
    let mut c = stack.smtp("smtp").await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<x@elsewhere.test>", 250).await;
    assert!(c
        .cmd(&format!("RCPT TO:<{}>", BOB.0), 452)
        .await
        .contains("Mailbox full"));
    c.cmd(&format!("RCPT TO:<{}>", ALICE.0), 250).await;
    c.cmd("DATA", 354).await;
    c.raw(b"Subject: lost\r\n\r\nnever stored\r\n.\r\n").await;
    assert!(
        c.closed().await,
        "the connection is dropped without an answer"
    );
    // Both rules are used up: the same transaction now goes through.
    let mut c = stack.smtp("smtp").await;
    c.ehlo().await;
    let (code, _) = c
        .send_mail("x@elsewhere.test", &[BOB.0], "Subject: kept\r\n\r\nhi\r\n")
        .await;
    assert_eq!(code, 250);
    assert_eq!(inbox_count(&stack, BOB.0), 1, "only the second message");
    assert_eq!(
        inbox_count(&stack, ALICE.0),
        0,
        "dropped at DATA: nothing stored"
    );
    let rules = get(&stack.router(), "/api/faults").await;
    assert_eq!(rules.json(), json!([]));
}

#[tokio::test]
async fn smtp_blackhole_connect_refusal_and_delay() {
    let stack = stack().start().await;
    let id = add(
        &stack,
        json!({"protocol": "smtp", "stage": "END-OF-DATA", "action": "blackhole"}),
    )
    .await;
    let mut c = stack.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE.0).await;
    let (code, _) = c
        .send_mail(ALICE.0, &[BOB.0], "Subject: void\r\n\r\nx\r\n")
        .await;
    assert_eq!(code, 250, "accepted");
    assert_eq!(inbox_count(&stack, BOB.0), 0, "…and never delivered");
    let gone = send_json(
        &stack.router(),
        "DELETE",
        &format!("/api/faults/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.text());
    let again = send_json(
        &stack.router(),
        "DELETE",
        &format!("/api/faults/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(again.status, 404);

    add(
        &stack,
        json!({"protocol": "smtp", "stage": "CONNECT", "action": "reply", "times": 1}),
    )
    .await;
    let mut c = Smtp::connect(stack.port("smtp")).await;
    let (code, text) = c.reply().await;
    assert_eq!(
        (code, text.contains("Injected fault")),
        (554, true),
        "{text}"
    );
    assert!(c.closed().await);

    add(&stack, json!({"protocol": "smtp", "stage": "EHLO", "action": "delay", "delay_ms": 300, "times": 1})).await;
    let mut c = stack.smtp("smtp").await;
    let t = std::time::Instant::now();
    c.ehlo().await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "EHLO answered after the delay"
    );
}

#[tokio::test]
async fn imap_and_pop3_commands_fail_on_demand() {
    let stack = stack().start().await;
    testkit::client::smtp_send(stack.port("smtp"), ALICE.0, b"Subject: one\r\n\r\nbody\r\n").await;
    add(
        &stack,
        json!({"protocol": "imap", "stage": "FETCH", "account": ALICE.0, "action": "reply",
        "reply": "NO [UNAVAILABLE] try later", "times": 1}),
    )
    .await;
    let mut imap = stack.imap_login(ALICE.0).await;
    imap.ok("SELECT INBOX").await;
    let (_, tagged) = imap.cmd("UID FETCH 1:* (FLAGS)").await;
    assert!(tagged.contains("NO [UNAVAILABLE] try later"), "{tagged}");
    imap.ok("UID FETCH 1:* (FLAGS)").await;
    add(
        &stack,
        json!({"protocol": "imap", "stage": "NOOP", "action": "reply", "reply": "BYE going away"}),
    )
    .await;
    imap.send("n1 NOOP\r\n").await;
    assert!(imap.response().await.starts_with("* BYE going away"));

    add(&stack, json!({"listener": "pop3", "stage": "RETR", "action": "reply", "reply": "-ERR [SYS/TEMP] disk on fire", "times": 1})).await;
    add(
        &stack,
        json!({"protocol": "pop3", "stage": "LIST", "action": "drop", "times": 1}),
    )
    .await;
    let mut pop = Pop3::login_to(stack.port("pop3"), ALICE.0, PASSWORD).await;
    assert_eq!(pop.cmd("RETR 1").await, "-ERR [SYS/TEMP] disk on fire");
    // The session's trace marks the answer as injected (dashboard, --trace-protocol).
    let session = stack
        .registry
        .sessions()
        .into_iter()
        .find(|s| s.protocol == "pop3")
        .expect("pop3");
    let (_, lines, _) = stack.registry.trace(session.id).expect("trace");
    assert!(
        lines
            .iter()
            .any(|l| l.text.starts_with("injected fault #") && l.text.contains("at RETR")),
        "{lines:?}"
    );
    assert!(pop.cmd("RETR 1").await.starts_with("+OK"));
    let _ = pop.multi().await;
    pop.send("LIST").await;
    assert!(pop.closed().await, "dropped at LIST");
}

#[tokio::test]
async fn bad_rules_are_refused_with_the_field() {
    let stack = stack().only(&[]).start().await;
    for (rule, field) in [
        (json!({"stage": "RCPT", "action": "drop"}), "protocol"),
        (
            json!({"protocol": "smtp", "stage": "FETCH", "action": "drop"}),
            "stage",
        ),
        (
            json!({"protocol": "smtp", "stage": "RCPT", "action": "reply", "reply": "250 fine"}),
            "reply",
        ),
        (
            json!({"protocol": "imap", "stage": "FETCH", "action": "blackhole"}),
            "action",
        ),
        (
            json!({"protocol": "pop3", "stage": "RETR", "action": "delay"}),
            "delay_ms",
        ),
        (
            json!({"protocol": "pop3", "stage": "RETR", "action": "drop", "probability": 2}),
            "probability",
        ),
    ] {
        let r = send_json(&stack.router(), "POST", "/api/faults", rule.clone()).await;
        assert_eq!(r.status, 422, "{rule}: {}", r.text());
        assert!(r.error().starts_with(field), "{rule}: {}", r.error());
    }
    let r = send_json(
        &stack.router(),
        "POST",
        "/api/faults",
        json!({"stage": "X", "action": "explode"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = testkit::http::call(&stack.router(), "GET", "/api/faults", false, None, "").await;
    assert_eq!(r.status, 401, "admin token required");
}

/// `mailstack fault …` against a running server (its admin API, found through the data
/// folder): add, list, the rule fires over SMTP, clear; without a server a clear error.
#[tokio::test]
async fn cli_fault_verbs_act_on_the_running_server() {
    use testkit::process::output_text as out;
    let server = testkit::Mailstack::builder().persistent().start();
    let o = server.cli(
        &[
            "fault",
            "add",
            "--protocol",
            "smtp",
            "--stage",
            "RCPT",
            "--reply",
            "452 4.2.2 Mailbox full",
            "--times",
            "1",
        ],
        "",
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("added #1 smtp RCPT: reply \"452 4.2.2 Mailbox full\""),
        "{}",
        out(&o)
    );
    let o = server.cli(
        &["fault", "add", "--protocol", "smtp", "--stage", "FETCH"],
        "",
    );
    assert!(
        !o.status.success() && out(&o).contains("stage"),
        "{}",
        out(&o)
    );
    let o = server.cli(&["fault", "list", "--json"], "");
    let rules: serde_json::Value = serde_json::from_str(out(&o).trim()).expect("json");
    assert_eq!(rules[0]["stage"], "RCPT");
    let mut c = Smtp::greeted(server.port("smtp")).await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<x@elsewhere.test>", 250).await;
    c.cmd(&format!("RCPT TO:<{}>", ALICE.0), 452).await;
    c.cmd(&format!("RCPT TO:<{}>", ALICE.0), 250).await;
    let o = server.cli(
        &[
            "fault",
            "add",
            "--protocol",
            "imap",
            "--stage",
            "select",
            "--action",
            "drop",
        ],
        "",
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = server.cli(&["fault", "clear"], "");
    assert!(out(&o).contains("removed 1 rule(s)"), "{}", out(&o));
    let o = server.cli(&["fault", "list"], "");
    assert!(out(&o).contains("no fault rules"), "{}", out(&o));
    drop(server);
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = testkit::process::test_config(dir.path(), "");
    let o = testkit::process::cli(&cfg, &["fault", "list"], "");
    assert!(
        !o.status.success() && out(&o).contains("no running server"),
        "{}",
        out(&o)
    );
}
