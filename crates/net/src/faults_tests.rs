//! Tests of `faults`: rule checks, matching, counting, expiry, probability.

use super::*;

fn spec(json: &str) -> RuleSpec {
    serde_json::from_str(json).expect("json")
}

#[test]
fn rules_are_checked_and_normalised() {
    let r = spec(
        r#"{"listener":"Submission","stage":"rcpt","action":"reply","reply":"452 4.2.2 Full"}"#,
    )
    .normalised()
    .expect("valid");
    assert_eq!(r.protocol.as_deref(), Some("smtp"));
    assert_eq!(r.stage, "RCPT");
    let err = |j: &str| spec(j).normalised().expect_err(j).0;
    assert!(err(r#"{"stage":"RCPT","action":"drop"}"#).starts_with("protocol"));
    assert!(err(r#"{"protocol":"smtp","stage":"FETCH","action":"drop"}"#).starts_with("stage"));
    assert!(
        err(r#"{"protocol":"smtp","stage":"RCPT","action":"reply","reply":"250 ok"}"#)
            .starts_with("reply")
    );
    assert!(
        err(r#"{"protocol":"imap","stage":"FETCH","action":"reply","reply":"OK fine"}"#)
            .starts_with("reply")
    );
    assert!(
        err(r#"{"protocol":"pop3","stage":"RETR","action":"reply","reply":"+OK"}"#)
            .starts_with("reply")
    );
    assert!(
        err(r#"{"protocol":"imap","stage":"FETCH","action":"blackhole"}"#).starts_with("action")
    );
    assert!(err(r#"{"protocol":"imap","stage":"FETCH","action":"delay"}"#).starts_with("delay_ms"));
    assert!(
        err(r#"{"protocol":"pop3","stage":"RETR","action":"drop","probability":0}"#)
            .starts_with("probability")
    );
    assert!(
        err(r#"{"protocol":"pop3","stage":"RETR","action":"drop","times":0}"#).starts_with("times")
    );
    assert!(
        err(r#"{"listener":"imap","protocol":"smtp","stage":"RCPT","action":"drop"}"#)
            .starts_with("listener")
    );
    assert!(
        err(r#"{"protocol":"smtp","stage":"RCPT","action":"reply","reply":"452 a\r\nb"}"#)
            .starts_with("reply")
    );
    assert!(
        serde_json::from_str::<RuleSpec>(r#"{"stage":"X","action":"drop","bogus":1}"#).is_err()
    );
    // A default reply per protocol.
    let d = spec(r#"{"protocol":"imap","stage":"select","action":"reply"}"#)
        .normalised()
        .expect("valid");
    assert_eq!(d.reply.as_deref(), Some("NO [UNAVAILABLE] Injected fault"));
}

#[test]
fn fire_matches_counts_and_expires() {
    let f = Faults::new();
    assert!(f.fire("smtp", true, "RCPT", &[]).is_none());
    let r = f
        .add(spec(r#"{"protocol":"smtp","stage":"RCPT","action":"reply","times":2,"account":"Bob@Example.test"}"#))
        .expect("add");
    assert!(f
        .fire("smtp", true, "RCPT", &["alice@example.test"])
        .is_none());
    assert!(f
        .fire("imap", true, "RCPT", &["bob@example.test"])
        .is_none());
    assert!(f
        .fire("smtp", true, "MAIL", &["bob@example.test"])
        .is_none());
    // Not on a non-loopback connection unless allowed.
    assert!(f
        .fire("smtp", false, "RCPT", &["bob@example.test"])
        .is_none());
    assert_eq!(
        f.fire("submission", true, "RCPT", &["bob@example.test"])
            .map(|r| r.fired),
        Some(1)
    );
    f.set_allow_non_loopback(true);
    assert_eq!(
        f.fire("smtp", false, "RCPT", &["bob@example.test"])
            .map(|r| r.id),
        Some(r.id)
    );
    // Used up: gone.
    assert!(f.rules().is_empty());
    assert!(f
        .fire("smtp", true, "RCPT", &["bob@example.test"])
        .is_none());
}

#[test]
fn stages_and_removal() {
    let f = Faults::new();
    let a = f
        .add(spec(
            r#"{"protocol":"imap","stage":"FETCH","action":"drop"}"#,
        ))
        .expect("a");
    let b = f
        .add(spec(r#"{"protocol":"pop3","stage":"*","action":"drop"}"#))
        .expect("b");
    assert!(f.fire("imaps", true, "UID FETCH", &[]).is_some());
    assert!(f.fire("imap", true, "STORE", &[]).is_none());
    assert!(
        f.fire("pop3", true, "CONNECT", &[]).is_none(),
        "* is commands only"
    );
    assert!(f.fire("pop3s", true, "RETR", &[]).is_some());
    assert!(f.remove(a.id));
    assert!(!f.remove(a.id));
    assert_eq!(f.rules().len(), 1);
    assert_eq!(f.clear(), 1);
    assert!(f.fire("pop3", true, "RETR", &[]).is_none());
    let _ = b;
}

#[test]
fn probability_fires_sometimes() {
    let f = Faults::new();
    f.add(spec(
        r#"{"protocol":"pop3","stage":"RETR","action":"drop","probability":0.5}"#,
    ))
    .expect("add");
    let fired = (0..1000)
        .filter(|_| f.fire("pop3", true, "RETR", &[]).is_some())
        .count();
    assert!((300..700).contains(&fired), "{fired} of 1000 at p = 0.5");
}
