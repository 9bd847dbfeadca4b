//! What lands in the store: shared copies, trace headers, capture, Sent copies, quota, size,
//! dot transparency, 8-bit and SMTPUTF8 content, BDAT, pipelining and the smuggling defence.

use submission::Outbound;
use testkit::mail::strip_trace;
use testkit::{Daemon, Stack, StackBuilder, PASSWORD};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const HOST: &str = "mail.example.test";

/// The SMTP server's three roles (`smtp`, `submission`, `submissions`) on a temporary store
/// with alice and bob, as mail.example.test.
fn smtp() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Smtp])
        .hostname(HOST)
        .user(ALICE)
        .user(BOB)
}

#[tokio::test]
async fn one_shared_copy_with_trace_headers() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    let body = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: both\r\n\r\nhi\r\n";
    let (code, text) = c.send_mail(ALICE, &[BOB, ALICE], body).await;
    assert_eq!(code, 250, "{text}");
    let a = s.store.account(ALICE).expect("a").expect("a");
    let b = s.store.account(BOB).expect("b").expect("b");
    let blob = |id| {
        let mb = s.store.mailbox(id, "INBOX").expect("mb").expect("mb");
        s.store.messages(mb.id).expect("msgs")[0].blob
    };
    assert_eq!(
        blob(a.id),
        blob(b.id),
        "one stored copy shared by both INBOXes"
    );
    let msg = &s.inbox_bytes(BOB)[0];
    assert_eq!(strip_trace(msg), body.as_bytes());
    let text = String::from_utf8_lossy(msg);
    assert!(text.starts_with("Return-Path: <alice@example.test>\r\nReceived: from client.example"));
    assert!(text.contains("by mail.example.test (mailstack) with ESMTPA"));
    assert!(
        !text.contains("\tfor <"),
        "no 'for' clause with two recipients"
    );
}

#[tokio::test]
async fn dot_transparency_and_8bit_smtputf8() {
    let s = smtp().start().await;
    s.store
        .add_alias("jörg@example.test", BOB)
        .await
        .expect("alias");
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    // Non-ASCII address without SMTPUTF8.
    c.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME", 250)
        .await;
    assert!(c
        .cmd("RCPT TO:<jörg@example.test>", 553)
        .await
        .starts_with("5.6.7"));
    c.cmd("RSET", 250).await;
    c.cmd("MAIL FROM:<alice@example.test> BODY=8BITMIME SMTPUTF8", 250)
        .await;
    c.cmd("RCPT TO:<jörg@example.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw("Subject: grüße\r\n\r\n..leading dot\r\n..\r\n...\r\nünïcødé\r\n.\r\n".as_bytes())
        .await;
    c.expect(250).await;
    let msg = &s.inbox_bytes(BOB)[0];
    assert_eq!(
        strip_trace(msg),
        "Subject: grüße\r\n\r\n.leading dot\r\n.\r\n..\r\nünïcødé\r\n".as_bytes()
    );
    assert!(String::from_utf8_lossy(msg).contains("for <jörg@example.test>"));
}

#[tokio::test]
async fn pipelined_transactions() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    c.raw(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n").await;
    c.expect(250).await;
    c.expect(250).await;
    c.expect(550).await;
    c.expect(354).await;
    c.raw(b"Subject: one\r\n\r\n1\r\n.\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n").await;
    c.expect(250).await;
    c.expect(250).await;
    c.expect(250).await;
    c.expect(354).await;
    c.raw(b"Subject: two\r\n\r\n2\r\n.\r\nQUIT\r\n").await;
    c.expect(250).await;
    c.expect(221).await;
    let inbox = s.inbox_bytes(BOB);
    assert_eq!(inbox.len(), 2);
    assert!(strip_trace(&inbox[1]).starts_with(b"Subject: two"));
}

#[tokio::test]
async fn bdat_chunks() {
    let s = smtp().max_message_size(1000).start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    // BDAT out of sequence: the chunk is still consumed.
    c.raw(b"BDAT 5\r\nhelloNOOP\r\n").await;
    c.expect(503).await;
    c.expect(250).await;
    c.login(ALICE).await;
    c.raw(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 14\r\nSubject: b\r\n\r\nBDAT 6 LAST\r\nbody\r\n").await;
    c.expect(250).await;
    c.expect(250).await;
    assert!(c.expect(250).await.contains("14 octets"));
    c.expect(250).await;
    assert_eq!(
        strip_trace(&s.inbox_bytes(BOB)[0]),
        b"Subject: b\r\n\r\nbody\r\n"
    );
    // DATA after BDAT in the same transaction is refused.
    c.raw(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 3\r\nabcDATA\r\n")
        .await;
    c.expect(250).await;
    c.expect(250).await;
    c.expect(250).await;
    c.expect(503).await;
    c.cmd("RSET", 250).await;
    // Too big: 552 5.3.4, and the next pipelined chunk gets 503 but is consumed.
    let big = "y".repeat(1200);
    let cmds = format!(
        "MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 1200\r\n{big}BDAT 2 LAST\r\nzzNOOP\r\n"
    );
    c.raw(cmds.as_bytes()).await;
    c.expect(250).await;
    c.expect(250).await;
    assert!(c.expect(552).await.starts_with("5.3.4"));
    c.expect(503).await;
    c.expect(250).await;
    assert_eq!(s.inbox_bytes(BOB).len(), 1);
}

#[tokio::test]
async fn size_limits() {
    let s = smtp().max_message_size(100).start().await;
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    assert!(c
        .cmd("MAIL FROM:<x@elsewhere.example> SIZE=101", 552)
        .await
        .starts_with("5.3.4"));
    c.cmd("MAIL FROM:<x@elsewhere.example> SIZE=50", 250).await;
    c.cmd("RCPT TO:<bob@example.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw(format!("{}\r\n.\r\n", "z".repeat(200)).as_bytes())
        .await;
    assert!(c.expect(552).await.starts_with("5.3.4"));
    c.cmd("NOOP", 250).await;
    assert!(s.inbox_bytes(BOB).is_empty());
}

#[tokio::test]
async fn quota_is_checked_at_rcpt_and_delivery() {
    let s = smtp().start().await;
    s.auth
        .add_user(
            "small@example.test",
            &PASSWORD.to_string().into(),
            Some(400),
        )
        .await
        .expect("user");
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    c.cmd("MAIL FROM:<x@elsewhere.example> SIZE=1000", 250)
        .await;
    assert!(c
        .cmd("RCPT TO:<small@example.test>", 552)
        .await
        .starts_with("5.2.2"));
    c.cmd("RSET", 250).await;
    c.cmd("MAIL FROM:<x@elsewhere.example>", 250).await;
    c.cmd("RCPT TO:<small@example.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw(format!("Subject: big\r\n\r\n{}\r\n.\r\n", "q".repeat(500)).as_bytes())
        .await;
    assert!(c.expect(552).await.starts_with("5.2.2"));
    let (code, _) = c
        .send_mail(
            "x@elsewhere.example",
            &["small@example.test"],
            "Subject: s\r\n\r\nok\r\n",
        )
        .await;
    assert_eq!(code, 250);
    assert_eq!(s.inbox_bytes("small@example.test").len(), 1);
}

#[tokio::test]
async fn bare_lf_and_cr_are_rejected_no_smuggling() {
    let s = smtp().start().await;
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    for payload in [
        &b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@elsewhere.example>\r\nRCPT TO:<bob@example.test>\r\n"[..],
        &b"Subject: a\r\n\r\nx\r\n.\nMAIL FROM:<evil@elsewhere.example>\r\n"[..],
        &b"Subject: a\r\n\r\nx\r.\r\nbare CR\r\n"[..],
    ] {
        c.cmd("MAIL FROM:<x@elsewhere.example>", 250).await;
        c.cmd("RCPT TO:<bob@example.test>", 250).await;
        c.cmd("DATA", 354).await;
        c.raw(payload).await;
        c.raw(b".\r\n").await;
        let t = c.expect(550).await;
        assert!(t.starts_with("5.6.0"), "{t}");
        // The smuggled commands were data, never executed: we are out of the transaction.
        c.cmd("NOOP", 250).await;
        c.cmd("RCPT TO:<bob@example.test>", 503).await;
    }
    assert!(s.inbox_bytes(BOB).is_empty());
}

#[tokio::test]
async fn outbound_reject_and_capture() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
    let t = c.cmd("RCPT TO:<someone@elsewhere.example>", 550).await;
    assert!(
        t.starts_with("5.7.1") && t.contains("relaying denied"),
        "{t}"
    );

    let s = smtp().outbound(Outbound::Capture(BOB.into())).start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    let body = "Subject: out\r\n\r\nto the world\r\n";
    let (code, _) = c
        .send_mail(
            ALICE,
            &["someone@elsewhere.example", "other@else.example", ALICE],
            body,
        )
        .await;
    assert_eq!(code, 250);
    let captured = &s.inbox_bytes(BOB)[0];
    let text = String::from_utf8_lossy(captured);
    assert!(
        text.starts_with(
            "X-Mailstack-Captured-For: someone@elsewhere.example, other@else.example\r\n"
        ),
        "{text}"
    );
    assert!(text.ends_with(body));
    assert_eq!(
        s.inbox_bytes(ALICE).len(),
        1,
        "the local recipient got its copy"
    );
}

#[tokio::test]
async fn save_sent_copies_with_seen() {
    let s = smtp().start().await;
    s.store
        .update_account(ALICE, |a| a.save_sent = true)
        .await
        .expect("update");
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    let body = "Subject: keep\r\n\r\nmine\r\n";
    assert_eq!(c.send_mail(ALICE, &[BOB], body).await.0, 250);
    let sent = s.messages(ALICE, "Sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, body.as_bytes());
    assert!(sent[0].1.contains("\\Seen"));
    // Bob has no save_sent: nothing in his Sent.
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(BOB).await;
    assert_eq!(c.send_mail(BOB, &[ALICE], body).await.0, 250);
    assert!(s.messages(BOB, "Sent").is_empty());
}

/// RFC 3030 §3: BINARYMIME is advertised; its content comes only by BDAT (DATA gets 503) and
/// is stored byte for byte, bare LF and NUL included (the smuggling check is for DATA's
/// line-oriented content).
#[tokio::test]
async fn binarymime_only_by_bdat_stored_as_sent() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    let ehlo = c.ehlo().await;
    assert!(ehlo.lines().any(|l| l == "BINARYMIME"), "{ehlo}");
    assert!(ehlo.lines().any(|l| l == "DSN"), "{ehlo}");
    c.login(ALICE).await;
    c.cmd("MAIL FROM:<alice@example.test> BODY=BINARYMIME", 250)
        .await;
    c.cmd("RCPT TO:<bob@example.test>", 250).await;
    let t = c.cmd("DATA", 503).await;
    assert!(t.contains("BINARYMIME"), "{t}");
    let body = b"Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\n\xff\r\n";
    c.raw(format!("BDAT {} LAST\r\n", body.len()).as_bytes())
        .await;
    c.raw(body).await;
    c.expect(250).await;
    assert_eq!(strip_trace(&s.inbox_bytes(BOB)[0]), body);
}

/// RFC 3461 / RFC 3464: NOTIFY=SUCCESS for a local recipient puts a delivered report into the
/// (local) sender's INBOX with ENVID and ORCPT; the delivered copy records what was asked in
/// X-Mailstack-DSN. NOTIFY=NEVER with another keyword is a syntax error; without NOTIFY
/// nothing is reported for a delivered message; the null sender never gets a report.
#[tokio::test]
async fn dsn_success_report_goes_to_the_local_sender() {
    let s = smtp().start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    c.cmd("MAIL FROM:<alice@example.test>", 250).await;
    let t = c
        .cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER,SUCCESS", 501)
        .await;
    assert!(t.starts_with("5.5.4"), "{t}");
    c.cmd("RSET", 250).await;
    c.cmd(
        "MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ+2B314159",
        250,
    )
    .await;
    c.cmd(
        "RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40Example.test",
        250,
    )
    .await;
    c.cmd("DATA", 354).await;
    c.raw(b"Subject: tracked\r\n\r\nthe body\r\n.\r\n").await;
    c.expect(250).await;

    let copy = String::from_utf8_lossy(&s.inbox_bytes(BOB)[0]).into_owned();
    assert!(
        copy.contains("X-Mailstack-DSN: ret=HDRS; envid=QQ+314159\r\nSubject: tracked"),
        "{copy}"
    );
    assert!(
        !copy.contains("rcpt="),
        "the shared copy names no recipients: {copy}"
    );
    let reports = s.inbox_bytes(ALICE);
    assert_eq!(reports.len(), 1);
    let r = String::from_utf8_lossy(&reports[0]).into_owned();
    for want in [
        "Return-Path: <>\r\n",
        "From: Mail Delivery System <MAILER-DAEMON@mail.example.test>\r\n",
        "To: <alice@example.test>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Original-Envelope-Id: QQ+314159\r\nReporting-MTA: dns; mail.example.test\r\n",
        "Original-Recipient: rfc822; Bob@Example.test\r\nFinal-Recipient: rfc822; \
         bob@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
        "Content-Type: text/rfc822-headers\r\n\r\nSubject: tracked\r\n\r\n",
    ] {
        assert!(r.contains(want), "{want:?} missing from\n{r}");
    }
    assert!(!r.contains("the body"), "RET=HDRS: {r}");

    // No NOTIFY: a delivered message makes no report.
    let (code, _) = c
        .send_mail(ALICE, &[BOB], "Subject: quiet\r\n\r\nx\r\n")
        .await;
    assert_eq!(code, 250);
    assert_eq!(s.inbox_bytes(ALICE).len(), 1);

    // The null sender (inbound) asks for success: never a report about a report.
    let mut mx = s.smtp("smtp").await;
    mx.ehlo().await;
    mx.cmd("MAIL FROM:<>", 250).await;
    mx.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS", 250)
        .await;
    mx.cmd("DATA", 354).await;
    mx.raw(b"Subject: bounce\r\n\r\nx\r\n.\r\n").await;
    mx.expect(250).await;
    assert_eq!(
        s.inbox_bytes(ALICE).len(),
        2,
        "the bounce itself, no report"
    );
}

/// Captured outbound mail records each recipient's DSN parameters (the capture copy names its
/// recipients anyway), so a test can see what its application asked the relay for.
#[tokio::test]
async fn dsn_parameters_of_captured_mail_are_recorded() {
    let s = smtp().outbound(Outbound::Capture(BOB.into())).start().await;
    let mut c = s.smtp("submission").await;
    c.ehlo().await;
    c.login(ALICE).await;
    c.cmd("MAIL FROM:<alice@example.test> RET=FULL", 250).await;
    c.cmd("RCPT TO:<x@elsewhere.example> NOTIFY=NEVER", 250)
        .await;
    c.cmd("RCPT TO:<y@elsewhere.example>", 250).await;
    c.cmd("DATA", 354).await;
    c.raw(b"Subject: out\r\n\r\nx\r\n.\r\n").await;
    c.expect(250).await;
    let captured = String::from_utf8_lossy(&s.inbox_bytes(BOB)[0]).into_owned();
    assert!(
        captured.contains(
            "X-Mailstack-DSN: ret=FULL;\r\n\trcpt=<x@elsewhere.example> notify=NEVER\r\n"
        ),
        "{captured}"
    );
    assert!(
        s.inbox_bytes(ALICE).is_empty(),
        "no report without NOTIFY=SUCCESS"
    );
}
