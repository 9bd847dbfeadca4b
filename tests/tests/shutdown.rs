//! Graceful shutdown (issue 9): SIGTERM while 8 SMTP clients deliver, 2 IMAP clients APPEND and
//! STORE, and idle IMAP / IMAP IDLE / SMTP / POP3 sessions wait. Every session gets its
//! protocol's goodbye (IMAP `* BYE`, SMTP `421`, POP3 `-ERR [SYS/TEMP]`), the POP3 session's
//! DELE without QUIT is not committed, the process exits 0 within 10 s, and everything the
//! server acknowledged is in the store afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::{eventually, Line, Mailstack, ALICE, BOB};

#[derive(Default)]
struct Acked {
    /// SMTP: subject token → recipient.
    smtp: Vec<(String, &'static str)>,
    /// IMAP APPEND: (account, token, uid).
    appended: Vec<(&'static str, String, u32)>,
    /// IMAP STORE: (account, uid, flag).
    flags: Vec<(&'static str, u32, String)>,
    /// Goodbyes the load clients saw.
    goodbyes: Vec<String>,
}

type Shared = Arc<Mutex<Acked>>;

fn acked(a: &Shared) -> std::sync::MutexGuard<'_, Acked> {
    a.lock().unwrap_or_else(|p| p.into_inner())
}

async fn smtp_load(port: u16, k: usize, a: Shared) {
    let rcpt = if k.is_multiple_of(2) { ALICE.0 } else { BOB.0 };
    let mut c = Line::connect(port).await;
    c.smtp_reply().await;
    c.smtp("EHLO load.test").await;
    for n in 0.. {
        let token = format!("load-{k}-{n}");
        let steps = [
            "MAIL FROM:<load@remote.test>".to_string(),
            format!("RCPT TO:<{rcpt}>"),
            "DATA".to_string(),
            format!("Subject: {token}\r\n\r\nbody\r\n."),
        ];
        for (i, step) in steps.iter().enumerate() {
            let r = c.smtp(step).await;
            if r.starts_with("421") {
                acked(&a).goodbyes.push(r);
                return;
            }
            if r.is_empty() {
                return;
            }
            if i == 3 {
                assert!(r.starts_with("250 2.6.0"), "{r}");
                acked(&a).smtp.push((token.clone(), rcpt));
            }
        }
    }
}

async fn imap_load(port: u16, k: usize, a: Shared) {
    let account = if k == 0 { ALICE } else { BOB };
    let mut c = Line::connect(port).await;
    c.line().await;
    c.imap(&format!("LOGIN {} \"{}\"", account.0, account.1))
        .await;
    c.imap("SELECT INBOX").await;
    for n in 0.. {
        let token = format!("append-{k}-{n}");
        let msg = format!("Subject: {token}\r\n\r\nappended\r\n");
        let (u, t) = c
            .imap(&format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len()))
            .await;
        if let Some(bye) = u.iter().find(|l| l.starts_with("* BYE")) {
            acked(&a).goodbyes.push(bye.clone());
        }
        if !t.contains(" OK ") {
            return;
        }
        let uid: u32 = t
            .split("[APPENDUID ")
            .nth(1)
            .and_then(|r| r.split([' ', ']']).nth(1))
            .and_then(|u| u.parse().ok())
            .expect("APPENDUID");
        acked(&a).appended.push((account.0, token, uid));
        let (u, t) = c
            .imap(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)"))
            .await;
        if let Some(bye) = u.iter().find(|l| l.starts_with("* BYE")) {
            acked(&a).goodbyes.push(bye.clone());
        }
        if !t.contains(" OK ") {
            return;
        }
        acked(&a).flags.push((account.0, uid, "\\Flagged".into()));
    }
}

async fn imap_logged_in(port: u16, who: (&str, &str)) -> Line {
    let mut c = Line::connect(port).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", who.0, who.1)).await;
    assert!(t.contains(" OK "), "{t}");
    let (_, t) = c.imap("SELECT INBOX").await;
    assert!(t.contains(" OK "), "{t}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_says_goodbye_and_loses_nothing() {
    // Persistent: the store is opened after the server stopped.
    let server = Mailstack::builder().persistent().start();
    let (smtp, imap, pop3) = (
        server.port("smtp"),
        server.port("imap"),
        server.port("pop3"),
    );
    // Bob has three messages; his POP3 session will DELE one and never QUIT.
    for i in 0..3 {
        let mut c = Line::connect(smtp).await;
        c.smtp_reply().await;
        c.smtp("EHLO x").await;
        c.smtp("MAIL FROM:<x@remote.test>").await;
        c.smtp(&format!("RCPT TO:<{}>", BOB.0)).await;
        c.smtp("DATA").await;
        assert!(c
            .smtp(&format!("Subject: keep-{i}\r\n\r\nkeep\r\n."))
            .await
            .starts_with("250"));
    }
    let mut pop = Line::connect(pop3).await;
    pop.line().await.expect("greeting");
    pop.pop3(&format!("USER {}", BOB.0)).await;
    let r = pop.pop3(&format!("PASS {}", BOB.1)).await;
    assert!(r.starts_with("+OK maildrop has 3 messages"), "{r}");
    assert_eq!(pop.pop3("DELE 1").await, "+OK message 1 deleted");

    let mut idle_imap = imap_logged_in(imap, ALICE).await;
    let mut in_idle = imap_logged_in(imap, BOB).await;
    in_idle.send("i IDLE\r\n").await.expect("send");
    assert!(in_idle.line().await.expect("+").starts_with('+'));
    let mut idle_smtp = Line::connect(smtp).await;
    idle_smtp.smtp_reply().await;
    assert!(idle_smtp.smtp("EHLO idle.test").await.starts_with("250"));

    let a: Shared = Arc::default();
    let mut load = tokio::task::JoinSet::new();
    for k in 0..8 {
        load.spawn(smtp_load(smtp, k, a.clone()));
    }
    for k in 0..2 {
        load.spawn(imap_load(imap, k, a.clone()));
    }
    // SIGTERM once the load is flowing: every client has had something acknowledged.
    eventually(Duration::from_secs(60), || async {
        let a = acked(&a);
        let clients = |tokens: Vec<&String>| {
            let mut k: Vec<&str> = tokens
                .iter()
                .filter_map(|t| t.rsplit_once('-').map(|(c, _)| c))
                .collect();
            k.sort_unstable();
            k.dedup();
            k.len()
        };
        let smtp = clients(a.smtp.iter().map(|(t, _)| t).collect());
        let imap = clients(a.appended.iter().map(|(_, t, _)| t).collect());
        if smtp == 8 && imap == 2 {
            Ok(())
        } else {
            Err(format!(
                "{smtp} of 8 SMTP and {imap} of 2 IMAP clients acknowledged"
            ))
        }
    })
    .await;

    let stopper = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let t0 = Instant::now();
        let code = server.stop();
        (server, code, t0.elapsed())
    });
    // The waiting sessions get their goodbye, then the connection closes.
    let bye = |r: Result<Vec<String>, Vec<String>>| r.expect("connection closed");
    assert_eq!(
        bye(idle_imap.closed_within(Duration::from_secs(15)).await),
        ["* BYE server shutting down"]
    );
    let got = bye(in_idle.closed_within(Duration::from_secs(15)).await);
    // IDLE answers its tag after the BYE (as LOGOUT does); the BYE is what counts.
    assert!(
        got.iter().any(|l| l == "* BYE server shutting down"),
        "{:?}",
        &got[got.len().saturating_sub(3)..]
    );
    assert_eq!(
        bye(idle_smtp.closed_within(Duration::from_secs(15)).await),
        ["421 4.3.2 Server shutting down, try again later"]
    );
    assert_eq!(
        bye(pop.closed_within(Duration::from_secs(15)).await),
        ["-ERR [SYS/TEMP] server shutting down"]
    );
    while let Some(r) = load.join_next().await {
        if let Err(e) = r {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    let (server, code, took) = stopper.await.expect("stopper");
    assert_eq!(code, Some(0), "exit status after SIGTERM");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");

    let a = acked(&a);
    assert!(!a.smtp.is_empty() && !a.appended.is_empty(), "no load ran");
    for g in &a.goodbyes {
        assert!(
            g == "421 4.3.2 Server shutting down, try again later"
                || g == "* BYE server shutting down",
            "{g}"
        );
    }
    // Everything acknowledged is there; bob's un-QUIT DELE was not committed.
    let store = store::Store::open(server.data_dir()).expect("store opens");
    let mut tokens: HashMap<(&str, String), Vec<store::MessageMeta>> = HashMap::new();
    for account in [ALICE.0, BOB.0] {
        let acc = store.account(account).expect("a").expect("account");
        let mb = store.mailbox(acc.id, "INBOX").expect("m").expect("INBOX");
        for m in store.messages(mb.id).expect("messages") {
            let subject = store
                .structure(m.blob)
                .expect("structure")
                .envelope
                .subject
                .unwrap_or_default();
            tokens
                .entry((account, subject.trim().to_string()))
                .or_default()
                .push(m);
        }
    }
    for i in 0..3 {
        assert_eq!(
            tokens.get(&(BOB.0, format!("keep-{i}"))).map(Vec::len),
            Some(1),
            "keep-{i}: a DELE without QUIT was committed"
        );
    }
    for (token, rcpt) in &a.smtp {
        assert_eq!(
            tokens.get(&(*rcpt, token.clone())).map(Vec::len),
            Some(1),
            "acknowledged {token} for {rcpt}"
        );
    }
    for (account, token, uid) in &a.appended {
        let found = tokens.get(&(*account, token.clone())).expect("appended");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].uid, store::Uid::new(*uid));
    }
    for (account, uid, flag) in &a.flags {
        let m = tokens
            .iter()
            .filter(|((acc, _), _)| acc == account)
            .flat_map(|(_, ms)| ms)
            .find(|m| m.uid == store::Uid::new(*uid))
            .expect("flagged message");
        assert!(m.flags.contains(flag), "{account} UID {uid} lost {flag}");
    }
}
