//! Crash safety (issue 9): SIGKILL `mailstack serve` at a random moment while 16 SMTP clients
//! deliver and 4 IMAP clients APPEND / STORE / UID EXPUNGE, then check the store as the
//! killed server left it:
//! - every message that got `250` is present exactly once in each recipient's INBOX, and no
//!   message is ever present twice (an unanswered one at most once);
//! - every `OK`'d flag change is kept, every `OK`'d expunge stays expunged, every `OK`'d
//!   APPEND is present unless its expunge was sent;
//! - UIDVALIDITY never changes and UIDNEXT stays above every UID a client was ever told, so
//!   UIDs never go backwards (the next round's APPENDUIDs are checked against it too);
//! - the store opens without repair, its counters agree with its messages, and the server
//!   starts again on it.
//!
//! `MAILSTACK_CRASH_ROUNDS` sets the number of kill points (default 3; the full run uses 20).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::{Line, Mailstack, ALICE, BOB};

const SMTP_CLIENTS: usize = 16;
const IMAP_CLIENTS: usize = 4;

/// What the server acknowledged (or was asked and did not answer) during the rounds.
#[derive(Default)]
struct Ledger {
    /// SMTP messages that got 250: token → recipients.
    smtp_acked: HashMap<String, Vec<&'static str>>,
    /// SMTP messages whose final dot was sent without an answer: token → recipients.
    smtp_unknown: HashMap<String, Vec<&'static str>>,
    /// APPENDs answered OK: (account, token) → UID.
    appended: HashMap<(&'static str, String), u32>,
    /// UID EXPUNGE sent (answered or not).
    expunge_sent: HashSet<(&'static str, u32)>,
    /// UID EXPUNGE answered OK.
    expunged: HashSet<(&'static str, u32)>,
    /// STORE +FLAGS answered OK: (account, uid, flag).
    flags: Vec<(&'static str, u32, String)>,
    /// Highest UID the server told any client, per account.
    max_uid: HashMap<&'static str, u32>,
}

type Shared = Arc<Mutex<Ledger>>;

fn ledger(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

async fn smtp_client(port: u16, round: usize, k: usize, l: Shared) {
    let rcpts: Vec<&'static str> = match k % 3 {
        0 => vec![ALICE.0, BOB.0],
        1 => vec![ALICE.0],
        _ => vec![BOB.0],
    };
    let mut c = Line::connect(port).await;
    if c.smtp_reply().await.is_empty() || !c.smtp("EHLO load.test").await.starts_with("250") {
        return;
    }
    for n in 0.. {
        let token = format!("smtp-{round}-{k}-{n}");
        if !c
            .smtp("MAIL FROM:<load@remote.test>")
            .await
            .starts_with("250")
        {
            return;
        }
        for r in &rcpts {
            if !c.smtp(&format!("RCPT TO:<{r}>")).await.starts_with("250") {
                return;
            }
        }
        if !c.smtp("DATA").await.starts_with("354") {
            return;
        }
        ledger(&l).smtp_unknown.insert(token.clone(), rcpts.clone());
        let body = format!(
            "From: load@remote.test\r\nSubject: {token}\r\nMessage-ID: <{token}@load.test>\r\n\r\n{}\r\n.\r\n",
            "crash test body line\r\n".repeat(1 + n % 20)
        );
        if c.send(body).await.is_err() {
            return;
        }
        let reply = c.smtp_reply().await;
        if reply.starts_with("250") {
            let mut g = ledger(&l);
            g.smtp_unknown.remove(&token);
            g.smtp_acked.insert(token, rcpts.clone());
        } else {
            return;
        }
    }
}

fn tagged_ok(t: &str) -> bool {
    t.split(' ').nth(1) == Some("OK")
}

/// `[APPENDUID validity uid]` → uid.
fn appenduid(t: &str) -> Option<u32> {
    let rest = t.split("[APPENDUID ").nth(1)?;
    rest.split([' ', ']']).nth(1)?.parse().ok()
}

async fn imap_client(port: u16, round: usize, k: usize, floor: u32, l: Shared) {
    let account = if k < IMAP_CLIENTS / 2 { ALICE } else { BOB };
    let keyword = format!("$K{k}");
    let mut c = Line::connect(port).await;
    if c.line().await.is_none() {
        return;
    }
    let (_, t) = c
        .imap(&format!("LOGIN {} \"{}\"", account.0, account.1))
        .await;
    if !tagged_ok(&t) {
        return;
    }
    let (_, t) = c.imap("SELECT INBOX").await;
    if !tagged_ok(&t) {
        return;
    }
    for n in 0.. {
        let token = format!("imap-{round}-{k}-{n}");
        let msg =
            format!("Subject: {token}\r\nMessage-ID: <{token}@load.test>\r\n\r\nappended\r\n");
        let (_, t) = c
            .imap(&format!(
                "APPEND INBOX (\\Seen) {{{}+}}\r\n{msg}",
                msg.len()
            ))
            .await;
        if !tagged_ok(&t) {
            return;
        }
        let uid = appenduid(&t).expect("APPENDUID");
        assert!(
            uid > floor,
            "UID went backwards: APPENDUID {uid} after a restart, previous highest {floor}"
        );
        {
            let mut g = ledger(&l);
            g.appended.insert((account.0, token), uid);
            let m = g.max_uid.entry(account.0).or_default();
            *m = (*m).max(uid);
        }
        let (_, t) = c
            .imap(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            .await;
        if !tagged_ok(&t) {
            return;
        }
        ledger(&l).flags.push((account.0, uid, "\\Deleted".into()));
        if n % 2 == 0 {
            ledger(&l).expunge_sent.insert((account.0, uid));
            let (_, t) = c.imap(&format!("UID EXPUNGE {uid}")).await;
            if !tagged_ok(&t) {
                return;
            }
            ledger(&l).expunged.insert((account.0, uid));
        }
        // Mark a few delivered messages with this client's keyword.
        let (u, t) = c
            .imap(&format!("UID SEARCH UNKEYWORD {keyword} NOT DELETED"))
            .await;
        if !tagged_ok(&t) {
            return;
        }
        let uids: Vec<u32> = u
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|l| l.split_whitespace().filter_map(|x| x.parse().ok()))
            .take(5)
            .collect();
        if uids.is_empty() {
            continue;
        }
        let set: Vec<String> = uids.iter().map(u32::to_string).collect();
        let (_, t) = c
            .imap(&format!(
                "UID STORE {} +FLAGS.SILENT ({keyword})",
                set.join(",")
            ))
            .await;
        if !tagged_ok(&t) {
            return;
        }
        let mut g = ledger(&l);
        for u in uids {
            g.flags.push((account.0, u, keyword.clone()));
            let m = g.max_uid.entry(account.0).or_default();
            *m = (*m).max(u);
        }
    }
}

/// Checks the store the killed server left behind; returns each account's UIDVALIDITY and
/// UIDNEXT.
fn verify(server: &Mailstack, l: &Ledger, round: usize) -> HashMap<&'static str, (u32, u32)> {
    let dir = server.data_dir();
    // Opened on its own thread and closed before the server starts again.
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let store = store::Store::open(&dir).expect("the store opens after SIGKILL");
                let mut out = HashMap::new();
                for account in [ALICE.0, BOB.0] {
                    let acc = store.account(account).expect("account").expect("exists");
                    let mb = store
                        .mailbox(acc.id, "INBOX")
                        .expect("mailbox")
                        .expect("INBOX");
                    let msgs = store.messages(mb.id).expect("messages");
                    assert_eq!(
                        mb.exists as usize,
                        msgs.len(),
                        "round {round}: {account} EXISTS counter disagrees with its messages"
                    );
                    let mut by_token: HashMap<String, usize> = HashMap::new();
                    let mut flags_of = HashMap::new();
                    for m in &msgs {
                        assert!(m.uid < mb.uidnext, "round {round}: UID {} ≥ UIDNEXT", m.uid);
                        let s = store.structure(m.blob).expect("structure");
                        let token = s.envelope.subject.clone().unwrap_or_default();
                        *by_token.entry(token.trim().to_string()).or_default() += 1;
                        // The ledger holds UIDs as the clients read them off the wire.
                        flags_of.insert(m.uid.get(), m.flags.clone());
                    }
                    for (token, n) in &by_token {
                        assert!(*n <= 1, "round {round}: {account} has {token} {n} times");
                    }
                    for (token, rcpts) in &l.smtp_acked {
                        if rcpts.contains(&account) {
                            assert_eq!(
                                by_token.get(token).copied().unwrap_or(0),
                                1,
                                "round {round}: acknowledged {token} missing for {account}"
                            );
                        }
                    }
                    for ((acc_name, token), uid) in &l.appended {
                        if *acc_name != account {
                            continue;
                        }
                        if l.expunged.contains(&(account, *uid)) {
                            assert!(
                                !flags_of.contains_key(uid),
                                "round {round}: expunged UID {uid} came back"
                            );
                        } else if !l.expunge_sent.contains(&(account, *uid)) {
                            assert_eq!(
                                by_token.get(token).copied().unwrap_or(0),
                                1,
                                "round {round}: appended {token} (UID {uid}) missing"
                            );
                        }
                    }
                    for (acc_name, uid, flag) in &l.flags {
                        if *acc_name != account {
                            continue;
                        }
                        if let Some(f) = flags_of.get(uid) {
                            assert!(
                                f.contains(flag),
                                "round {round}: {account} UID {uid} lost acknowledged {flag} \
                                 (now {:?}; expunge sent {}, answered {})",
                                f.names(),
                                l.expunge_sent.contains(&(account, *uid)),
                                l.expunged.contains(&(account, *uid)),
                            );
                        }
                    }
                    let max = l.max_uid.get(account).copied().unwrap_or(0);
                    assert!(
                        mb.uidnext.get() > max,
                        "round {round}: UIDNEXT {} not above UID {max} a client saw",
                        mb.uidnext
                    );
                    out.insert(account, (mb.uidvalidity.get(), mb.uidnext.get()));
                }
                out
            })
            .join()
    });
    match result {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("MAILSTACK_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut server = Mailstack::builder().persistent().start();
    let l: Shared = Arc::default();
    let mut validity: Option<HashMap<&'static str, (u32, u32)>> = None;
    let mut seed = random_u64();
    for round in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..SMTP_CLIENTS {
            tasks.spawn(smtp_client(server.port("smtp"), round, k, l.clone()));
        }
        for k in 0..IMAP_CLIENTS {
            // Per account: the highest UID that account's clients were told so far.
            let account = if k < IMAP_CLIENTS / 2 { ALICE.0 } else { BOB.0 };
            let f = ledger(&l).max_uid.get(account).copied().unwrap_or(0);
            tasks.spawn(imap_client(server.port("imap"), round, k, f, l.clone()));
        }
        // A random kill point between 0.3 s and 2.3 s into the load.
        seed = seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
        let wait = Duration::from_millis(300 + seed % 2000);
        tokio::time::sleep(wait).await;
        server.kill();
        // Clients see the connection die; none may hang.
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        let now = {
            let g = ledger(&l);
            assert!(
                !g.smtp_acked.is_empty() || round > 0,
                "no message was acknowledged before the kill at {wait:?}"
            );
            verify(&server, &g, round)
        };
        if let Some(v) = &validity {
            for (account, (uv, next)) in &now {
                let (uv0, next0) = v[account];
                assert_eq!(*uv, uv0, "round {round}: UIDVALIDITY of {account} changed");
                assert!(
                    *next >= next0,
                    "round {round}: UIDNEXT of {account} went back"
                );
            }
        }
        validity = Some(now);
        server.restart();
    }
    // After the last restart the server answers and stops cleanly.
    let mut c = Line::connect(server.port("imap")).await;
    c.line().await.expect("greeting");
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(tagged_ok(&t), "{t}");
    assert_eq!(server.stop(), Some(0));
}
