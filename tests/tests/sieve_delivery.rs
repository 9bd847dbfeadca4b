//! Sieve at final delivery (docs/spec.md §6.5) through real SMTP sessions: vacation replies
//! (once per sender per period, never to `<>`, lists, automatic mail or mail not addressed to
//! the account; the date window; the internal text), redirect with and without `:copy`
//! (local, captured, loops stopped), fileinto seen by an IMAP IDLE on that folder, and a
//! broken script that keeps the mail in INBOX.

use std::time::Duration;

use testkit::{eventually, Stack, StackBuilder};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.test";
const CATCH: &str = "catchall@example.test";

fn builder() -> StackBuilder {
    Stack::builder()
        .capture_account(CATCH)
        .outbound(submission::Outbound::Capture(CATCH.into()))
}

async fn stack() -> Stack {
    let s = builder().start().await;
    for a in [ALICE, BOB, CAROL, CATCH] {
        s.add_user(a).await;
    }
    s
}

async fn script(s: &Stack, who: &str, text: &str) {
    let a = s.account(who);
    s.store
        .put_sieve_script(a.id, "test", text, true)
        .await
        .expect("script");
}

/// `mailstack forward WHO --to TO [--keep-copy]`, as the CLI and REST do it.
async fn forward(s: &Stack, who: &str, to: &str, keep_copy: bool) {
    let f = web::sieve_settings::Forward {
        to: to.into(),
        keep_copy,
    };
    web::sieve_settings::set_forward(&s.store, s.account(who).id, Some(&f))
        .await
        .expect("forward");
}

/// One SMTP transaction on the inbound port; the final reply's code.
async fn send(s: &Stack, from: &str, to: &[&str], msg: &str) -> u16 {
    let mut c = s.smtp("smtp").await;
    c.ehlo().await;
    let (code, text) = c.send_mail(from, to, msg).await;
    assert_eq!(code, 250, "{text}");
    code
}

fn mail(from: &str, to: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@test>\r\n{extra}\r\nbody of {subject}\r\n",
        subject.replace(' ', ".")
    )
}

fn texts(s: &Stack, who: &str, mailbox: &str) -> Vec<String> {
    s.bodies(who, mailbox)
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

fn subjects(s: &Stack, who: &str, mailbox: &str) -> Vec<String> {
    texts(s, who, mailbox)
        .iter()
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect()
}

#[tokio::test]
async fn vacation_replies_once_per_sender_and_never_to_automatic_mail() {
    let s = stack().await;
    script(
        &s,
        ALICE,
        "require \"vacation\";\r\nvacation :days 7 :subject \"Away until Monday\" \"I am away.\";\r\n",
    )
    .await;
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "first", "")).await;
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "second", "")).await;
    send(&s, CAROL, &[ALICE], &mail(CAROL, ALICE, "from carol", "")).await;
    // None to <>, to list mail, to automatic mail, to mail not addressed to alice (RFC 3834
    // §2, RFC 5230 §4.5).
    send(&s, "", &[ALICE], &mail(BOB, ALICE, "bounce", "")).await;
    send(
        &s,
        CATCH,
        &[ALICE],
        &mail(CATCH, ALICE, "list", "List-Id: <l.example.test>\r\n"),
    )
    .await;
    send(
        &s,
        CATCH,
        &[ALICE],
        &mail(CATCH, ALICE, "auto", "Auto-Submitted: auto-generated\r\n"),
    )
    .await;
    send(
        &s,
        CATCH,
        &[ALICE],
        &mail(CATCH, "someone@else.test", "bcc", ""),
    )
    .await;

    // Every message is kept (vacation does not cancel the implicit keep).
    assert_eq!(s.count(ALICE, "INBOX"), 7);
    let bob = texts(&s, BOB, "INBOX");
    assert_eq!(bob.len(), 1, "one reply per sender per period: {bob:?}");
    let reply = &bob[0];
    for want in [
        "Subject: Away until Monday",
        "Auto-Submitted: auto-replied",
        "In-Reply-To: <first@test>",
        "I am away.",
        "Return-Path: <>",
    ] {
        assert!(reply.contains(want), "{want} missing in {reply}");
    }
    assert_eq!(s.count(CAROL, "INBOX"), 1, "carol gets her own reply");
    assert_eq!(
        s.count(CATCH, "INBOX"),
        0,
        "no reply to list, automatic or Bcc mail"
    );
}

#[tokio::test]
async fn vacation_settings_window_and_internal_text() {
    let s = stack().await;
    let alice = s.account(ALICE);
    let v = web::sieve_settings::Vacation {
        from: Some("2000-01-01".into()),
        until: Some("2999-12-31".into()),
        subject: Some("Out of office".into()),
        message: "External: I am away.".into(),
        internal_message: Some("Internal: ask Bob.".into()),
        days: 1,
    };
    web::sieve_settings::set_vacation(&s.store, alice.id, Some(&v))
        .await
        .expect("set");
    let settings = web::sieve_settings::settings(&s.store, alice.id).expect("settings");
    assert_eq!(settings.vacation.as_ref(), Some(&v));
    assert!(settings.active);
    // A colleague (local domain) gets the internal text; an outsider the external one,
    // through the outbound path (captured, never sent).
    send(
        &s,
        CAROL,
        &[ALICE],
        &mail(CAROL, ALICE, "from a colleague", ""),
    )
    .await;
    send(
        &s,
        "dan@remote.test",
        &[ALICE],
        &mail("dan@remote.test", ALICE, "from outside", ""),
    )
    .await;
    let carol = texts(&s, CAROL, "INBOX");
    assert_eq!(carol.len(), 1);
    assert!(carol[0].contains("Internal: ask Bob."), "{}", carol[0]);
    let captured = texts(&s, CATCH, "INBOX");
    assert_eq!(captured.len(), 1);
    assert!(captured[0].contains("X-Mailstack-Captured-For: dan@remote.test"));
    assert!(
        captured[0].contains("External: I am away."),
        "{}",
        captured[0]
    );

    // Outside the window: no reply.
    let past = web::sieve_settings::Vacation {
        from: Some("2001-01-01".into()),
        until: Some("2001-01-31".into()),
        ..v
    };
    web::sieve_settings::set_vacation(&s.store, alice.id, Some(&past))
        .await
        .expect("set");
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "too late", "")).await;
    assert_eq!(s.count(BOB, "INBOX"), 0);
    // Off: the script goes when nothing is left in it.
    web::sieve_settings::set_vacation(&s.store, alice.id, None)
        .await
        .expect("off");
    assert!(s.store.sieve_scripts(alice.id).expect("list").is_empty());
    assert_eq!(s.count(ALICE, "INBOX"), 3);
}

#[tokio::test]
async fn redirect_with_and_without_a_copy() {
    let s = stack().await;
    forward(&s, ALICE, BOB, true).await;
    send(
        &s,
        CAROL,
        &[ALICE],
        &mail(CAROL, ALICE, "kept and forwarded", ""),
    )
    .await;
    assert_eq!(subjects(&s, ALICE, "INBOX"), ["kept and forwarded"]);
    assert_eq!(subjects(&s, BOB, "INBOX"), ["kept and forwarded"]);
    let copy = &texts(&s, BOB, "INBOX")[0];
    assert!(
        copy.starts_with("Delivered-To: alice@example.test\r\n"),
        "{copy}"
    );

    forward(&s, ALICE, BOB, false).await;
    send(
        &s,
        CAROL,
        &[ALICE],
        &mail(CAROL, ALICE, "only forwarded", ""),
    )
    .await;
    assert_eq!(subjects(&s, ALICE, "INBOX"), ["kept and forwarded"]);
    assert_eq!(
        subjects(&s, BOB, "INBOX"),
        ["kept and forwarded", "only forwarded"]
    );

    // Another domain: the outbound path (captured here).
    forward(&s, ALICE, "me@remote.test", false).await;
    send(
        &s,
        CAROL,
        &[ALICE],
        &mail(CAROL, ALICE, "to my other address", ""),
    )
    .await;
    let captured = texts(&s, CATCH, "INBOX");
    assert_eq!(captured.len(), 1);
    assert!(captured[0].starts_with("X-Mailstack-Captured-For: me@remote.test\r\n"));

    // A loop (alice → bob → alice) stops: the message stays with one of them, once.
    forward(&s, ALICE, BOB, false).await;
    forward(&s, BOB, ALICE, false).await;
    send(&s, CAROL, &[ALICE], &mail(CAROL, ALICE, "loop", "")).await;
    let count = |who| {
        subjects(&s, who, "INBOX")
            .iter()
            .filter(|t| *t == "loop")
            .count()
    };
    assert_eq!(count(ALICE) + count(BOB), 1, "kept exactly once");
}

#[tokio::test]
async fn fileinto_reaches_an_idle_session_on_that_folder() {
    let s = stack().await;
    let alice = s.account(ALICE);
    s.store
        .create_mailbox(alice.id, "Lists", None)
        .await
        .expect("mailbox");
    script(
        &s,
        ALICE,
        "require [\"fileinto\", \"imap4flags\", \"mailbox\"];\r\n\
         if header :contains \"subject\" \"[list]\" {\r\n  fileinto :flags \"\\\\Flagged\" \"Lists\";\r\n}\r\n\
         elsif header :contains \"subject\" \"new folder\" {\r\n  fileinto :create \"Projects/New\";\r\n}\r\n",
    )
    .await;
    let mut imap = s.imap_login(ALICE).await;
    imap.ok("SELECT Lists").await;
    let tag = imap.idle().await;
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "[list] hello", "")).await;
    let pushed = imap.pushed().await;
    assert_eq!(pushed, "* 1 EXISTS");
    imap.done(&tag).await;
    let lines = imap.ok("FETCH 1 FLAGS").await;
    assert!(lines.iter().any(|l| l.contains("\\Flagged")), "{lines:?}");
    assert_eq!(s.count(ALICE, "INBOX"), 0);

    send(
        &s,
        BOB,
        &[ALICE],
        &mail(BOB, ALICE, "new folder please", ""),
    )
    .await;
    assert_eq!(subjects(&s, ALICE, "Projects/New"), ["new folder please"]);
    // Anything else: the implicit keep.
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "plain", "")).await;
    assert_eq!(subjects(&s, ALICE, "INBOX"), ["plain"]);
}

#[tokio::test]
async fn a_broken_script_keeps_mail_in_inbox_and_tells_the_account() {
    let s = stack().await;
    // Stored past the checks (as an older version or a bug could leave it).
    script(&s, ALICE, "require \"fileinto\";\r\nfileinto \"x\"\r\n").await;
    send(
        &s,
        BOB,
        &[ALICE, CAROL],
        &mail(BOB, ALICE, "still arrives", ""),
    )
    .await;
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "again", "")).await;
    let inbox = subjects(&s, ALICE, "INBOX");
    assert!(inbox.contains(&"still arrives".to_string()), "{inbox:?}");
    assert!(inbox.contains(&"again".to_string()), "{inbox:?}");
    let reports = inbox
        .iter()
        .filter(|t| *t == "Your Sieve filter failed")
        .count();
    assert_eq!(reports, 1, "one report per hour: {inbox:?}");
    assert_eq!(subjects(&s, CAROL, "INBOX"), ["still arrives"]);

    // A runtime error (too many actions) keeps it too.
    let many: String = (0..40)
        .map(|i| format!("fileinto :copy \"F{i}\";\r\n"))
        .collect();
    script(
        &s,
        CAROL,
        &format!("require [\"fileinto\", \"copy\"];\r\n{many}"),
    )
    .await;
    send(&s, BOB, &[CAROL], &mail(BOB, CAROL, "too many", "")).await;
    let carol = subjects(&s, CAROL, "INBOX");
    assert!(carol.contains(&"too many".to_string()), "{carol:?}");
}

/// Two deliveries at once to an account with a vacation script: one reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_reply_once() {
    let s = stack().await;
    script(&s, ALICE, "require \"vacation\";\r\nvacation \"away\";\r\n").await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let port = s.port("smtp");
        tasks.push(tokio::spawn(async move {
            let mut c = testkit::Smtp::greeted(port).await;
            c.ehlo().await;
            c.send_mail(BOB, &[ALICE], &mail(BOB, ALICE, &format!("m{i}"), ""))
                .await
                .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), 250);
    }
    eventually(Duration::from_secs(10), || async {
        match s.count(ALICE, "INBOX") {
            6 => Ok(()),
            n => Err(n),
        }
    })
    .await;
    assert_eq!(s.count(BOB, "INBOX"), 1);
}

/// A chain of forwards without a loop stops after `MAX_HOPS` redirects (the message is kept
/// where it stopped), and a message that already went through 50 relays is not forwarded.
#[tokio::test]
async fn forwarding_chains_stop_at_the_hop_limit() {
    let s = stack().await;
    let chain: Vec<String> = (0..8).map(|i| format!("hop{i}@example.test")).collect();
    for a in &chain {
        s.add_user(a).await;
    }
    for pair in chain.windows(2) {
        forward(&s, &pair[0], &pair[1], false).await;
    }
    send(&s, BOB, &[&chain[0]], &mail(BOB, &chain[0], "chain", "")).await;
    let hops = submission::filter::MAX_HOPS as usize;
    let holders: Vec<usize> = (0..chain.len())
        .filter(|i| s.count(chain[*i].as_str(), "INBOX") > 0)
        .collect();
    // Kept once, by the account whose redirect would have been one hop too many (plus its
    // error notice).
    assert_eq!(holders, [hops], "{holders:?}");
    assert!(subjects(&s, &chain[hops], "INBOX").contains(&"chain".to_string()));

    let received: String = (0..51)
        .map(|i| format!("Received: from r{i}\r\n"))
        .collect();
    send(&s, BOB, &[ALICE], &mail(BOB, ALICE, "no forward", "")).await;
    forward(&s, ALICE, CAROL, false).await;
    send(
        &s,
        BOB,
        &[ALICE],
        &mail(BOB, ALICE, "relayed a lot", &received),
    )
    .await;
    assert!(subjects(&s, ALICE, "INBOX").contains(&"relayed a lot".to_string()));
    assert_eq!(s.count(CAROL, "INBOX"), 0);
}
