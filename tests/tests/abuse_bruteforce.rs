//! Brute force (docs/spec.md §4, §8): 50 wrong passwords for one account from one address are
//! throttled — growing delay, then temporary refusal — while the right password from another
//! address still works on IMAP, POP3 and SMTP; a throttled attempt answers the same whether
//! its password was right or wrong.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use testkit::{Line, Stack, ALICE};

const ATTACKER: [u8; 4] = [127, 0, 0, 5];

fn plain_b64(user: &str, pass: &str) -> String {
    auth::sasl::encode_base64(format!("\0{user}\0{pass}").as_bytes())
}

/// The answer with its numbers (retry-after seconds, tags) removed, for comparisons.
fn shape(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_digit()).collect()
}

async fn imap_from(ip: IpAddr, port: u16) -> Line {
    let mut c = Line::connect_from(ip, port).await;
    assert!(c.line().await.expect("greeting").starts_with("* OK"));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_wrong_passwords_are_throttled_per_address() {
    let s = Stack::start().await;
    let attacker: IpAddr = ATTACKER.into();
    let mut c = imap_from(attacker, s.port("imap")).await;
    // The first failures answer at once, then each answer is held back longer (250 ms, 500 ms,
    // 1 s …): lower bounds only, so a slow machine cannot fail this.
    let mut took = Vec::new();
    for i in 0..6 {
        let t0 = Instant::now();
        let (_, t) = c
            .imap(&format!("LOGIN {} \"wrong-guess-{i}\"", ALICE.0))
            .await;
        took.push(t0.elapsed());
        assert!(
            t.ends_with("NO [AUTHENTICATIONFAILED] invalid user name or password"),
            "{i}: {t}"
        );
    }
    assert!(took[3] >= Duration::from_millis(250), "{took:?}");
    assert!(took[4] >= Duration::from_millis(500), "{took:?}");
    assert!(took[5] >= Duration::from_millis(1000), "{took:?}");
    // The other 44 guesses, in parallel on 11 connections.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..11 {
        let port = s.port("imap");
        tasks.spawn(async move {
            let mut c = imap_from(attacker, port).await;
            let mut answers = Vec::new();
            for i in 0..4 {
                let (_, t) = c
                    .imap(&format!("LOGIN {} \"guess-{w}-{i}\"", ALICE.0))
                    .await;
                answers.push(t);
            }
            answers
        });
    }
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        for t in r.expect("task") {
            assert!(t.contains(" NO ["), "{t}");
            if t.contains("NO [UNAVAILABLE] too many failed logins") {
                refused += 1;
            }
        }
    }
    assert!(
        refused >= 30,
        "only {refused} of 44 guesses refused outright"
    );
    // Throttled now: the right password gets exactly the answer a wrong one gets.
    let (_, wrong) = c.imap(&format!("LOGIN {} \"still-wrong\"", ALICE.0)).await;
    let (_, right) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(
        wrong.contains("NO [UNAVAILABLE] too many failed logins; try again in"),
        "{wrong}"
    );
    assert_eq!(
        shape(&right),
        shape(&wrong),
        "a throttled answer reveals the password"
    );
    // Same on POP3 and SMTP from the throttled address (the throttle is shared).
    let mut p = Line::connect_from(attacker, s.port("pop3")).await;
    p.line().await.expect("greeting");
    let mut pop3 = Vec::new();
    for pw in ["nope-nope-nope", ALICE.1] {
        assert_eq!(p.pop3(&format!("USER {}", ALICE.0)).await, "+OK send PASS");
        pop3.push(p.pop3(&format!("PASS {pw}")).await);
    }
    assert!(pop3[0].starts_with("-ERR [SYS/TEMP]"), "{pop3:?}");
    assert_eq!(shape(&pop3[0]), shape(&pop3[1]), "{pop3:?}");
    let mut m = Line::connect_from(attacker, s.port("submission")).await;
    m.smtp_reply().await;
    m.smtp("EHLO attacker.test").await;
    let mut smtp = Vec::new();
    for pw in ["nope-nope-nope", ALICE.1] {
        smtp.push(
            m.smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, pw)))
                .await,
        );
    }
    assert!(
        smtp[0].starts_with("454 4.7.0 Too many failed logins"),
        "{smtp:?}"
    );
    assert_eq!(shape(&smtp[0]), shape(&smtp[1]), "{smtp:?}");

    // The owner, from another address, logs in on all three.
    let owner: IpAddr = [127, 0, 0, 6].into();
    let mut c = imap_from(owner, s.port("imap")).await;
    let (_, t) = c.imap(&format!("LOGIN {} \"{}\"", ALICE.0, ALICE.1)).await;
    assert!(t.starts_with("t1 OK"), "{t}");
    let mut p = Line::connect_from(owner, s.port("pop3")).await;
    p.line().await.expect("greeting");
    p.pop3(&format!("USER {}", ALICE.0)).await;
    let r = p.pop3(&format!("PASS {}", ALICE.1)).await;
    assert!(r.starts_with("+OK maildrop has"), "{r}");
    let mut m = Line::connect_from(owner, s.port("submission")).await;
    m.smtp_reply().await;
    m.smtp("EHLO owner.test").await;
    let r = m
        .smtp(&format!("AUTH PLAIN {}", plain_b64(ALICE.0, ALICE.1)))
        .await;
    assert_eq!(r, "235 2.7.0 Authentication successful");
}
