//! The checks of [`super::model`], [`super::fetch`] and the registry on scripted responses:
//! each known kind of server bug is caught, and the legitimate variants are not.

use std::time::{Duration, Instant};

use super::errors::Kind;
use super::history::Change;
use super::model::{Anchor, Pending, View};
use super::parse::Val;
use super::registry::{hollow, Expected, Registry};
use super::response::parse;

/// A CONDSTORE (or plain) view of INBOX after `* FLAGS`, `* n EXISTS`, UIDNEXT.
fn view(reg: &Registry, condstore: bool, exists: u32) -> View {
    let mut v = View::new("INBOX", condstore, reg);
    let mut p = Pending::default();
    for l in [
        "* FLAGS (\\Seen \\Deleted $Label1)".to_string(),
        format!("* {exists} EXISTS"),
        "* OK [UIDVALIDITY 7] x".to_string(),
        "* OK [UIDNEXT 100] x".to_string(),
    ] {
        v.apply(&parse(format!("{l}\r\n").as_bytes()).unwrap(), &mut p, reg);
    }
    assert!(p.violations.is_empty(), "{:?}", p.violations);
    v
}

/// Applies `lines`; returns the kinds of the violations found.
fn apply(v: &mut View, reg: &Registry, lines: &[&str]) -> Vec<Kind> {
    let mut p = Pending::new("test".into(), false);
    for l in lines {
        v.apply(&parse(format!("{l}\r\n").as_bytes()).unwrap(), &mut p, reg);
    }
    p.violations.iter().map(|x| x.kind).collect()
}

#[test]
fn modseq_never_goes_back_and_never_repeats_with_other_flags() {
    let reg = Registry::new(Instant::now());
    let mut v = view(&reg, true, 1);
    assert!(apply(
        &mut v,
        &reg,
        &["* 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (5))"]
    )
    .is_empty());
    // The same state again is fine, a newer one too.
    assert!(apply(
        &mut v,
        &reg,
        &["* 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (5))"]
    )
    .is_empty());
    assert_eq!(
        apply(&mut v, &reg, &["* 1 FETCH (UID 10 FLAGS () MODSEQ (4))"]),
        [Kind::ModseqBackwards]
    );
    assert_eq!(
        apply(
            &mut v,
            &reg,
            &["* 1 FETCH (UID 10 FLAGS ($Label1) MODSEQ (5))"]
        ),
        [Kind::ModseqFlagsDiffer]
    );
    assert_eq!(
        apply(&mut v, &reg, &["* 1 FETCH (UID 10 FLAGS ())"]),
        [Kind::CondstoreIncomplete]
    );
}

#[test]
fn keywords_must_be_announced_first() {
    let reg = Registry::new(Instant::now());
    let mut v = view(&reg, false, 1);
    assert_eq!(
        apply(&mut v, &reg, &["* 1 FETCH (UID 3 FLAGS (kw01))"]),
        [Kind::UnannouncedFlag]
    );
    assert!(apply(
        &mut v,
        &reg,
        &[
            "* FLAGS (\\Seen kw01)",
            "* 1 FETCH (UID 3 FLAGS (kw01 \\Recent))"
        ]
    )
    .is_empty());
}

#[test]
fn message_numbers_follow_expunge_and_exists() {
    let reg = Registry::new(Instant::now());
    let mut v = view(&reg, false, 3);
    let learn = [
        "* 1 FETCH (UID 1 FLAGS ())",
        "* 2 FETCH (UID 2 FLAGS ())",
        "* 3 FETCH (UID 3 FLAGS ())",
    ];
    assert!(apply(&mut v, &reg, &learn).is_empty());
    assert!(apply(&mut v, &reg, &["* 2 EXPUNGE"]).is_empty());
    assert_eq!(v.msgs[1].uid, Some(3));
    assert_eq!(apply(&mut v, &reg, &["* 5 EXPUNGE"]), [Kind::SeqOutOfRange]);
    assert_eq!(
        apply(&mut v, &reg, &["* 1 EXISTS"]),
        [Kind::ExistsDecreased]
    );
    // UIDs ascend with message numbers; a message announced later has a UID ≥ UIDNEXT.
    let mut v = view(&reg, false, 2);
    assert!(apply(&mut v, &reg, &["* 2 FETCH (UID 50 FLAGS ())"]).is_empty());
    assert_eq!(
        apply(&mut v, &reg, &["* 1 FETCH (UID 60 FLAGS ())"]),
        [Kind::UidInconsistent]
    );
    assert_eq!(
        apply(&mut v, &reg, &["* 3 EXISTS", "* 3 FETCH (UID 70 FLAGS ())"]),
        [Kind::UidInconsistent]
    );
    // No EXPUNGE while answering FETCH, STORE or SEARCH by number (RFC 3501 §7.4.1).
    let mut p = Pending::new("FETCH".into(), true);
    v.apply(&parse(b"* 1 EXPUNGE\r\n").unwrap(), &mut p, &reg);
    assert_eq!(p.violations[0].kind, Kind::ExpungeInFetch);
}

#[test]
fn vanished_of_an_unlearnt_uid_loses_the_view() {
    let reg = Registry::new(Instant::now());
    let mut v = view(&reg, true, 3);
    let learn = [
        "* 1 FETCH (UID 1 FLAGS () MODSEQ (1))",
        "* 2 FETCH (UID 2 FLAGS () MODSEQ (1))",
    ];
    assert!(apply(&mut v, &reg, &learn).is_empty());
    // UID 1 is known: removed. UID 0..=1 below every unknown message: nothing to guess.
    assert!(apply(&mut v, &reg, &["* VANISHED 1"]).is_empty());
    assert_eq!((v.count(), v.lost), (2, false));
    // UID 9 may be the unknown third message, or one never reported: the view is lost.
    let mut p = Pending::new("NOOP".into(), false);
    v.apply(&parse(b"* VANISHED 9\r\n").unwrap(), &mut p, &reg);
    assert!(v.lost && p.violations.is_empty() && !p.notes.is_empty());
}

#[test]
fn a_flag_given_by_an_own_store_goes_back_only_through_a_store() {
    let reg = Registry::new(Instant::now());
    let mut v = view(&reg, false, 1);
    assert!(apply(&mut v, &reg, &["* 1 FETCH (UID 4 FLAGS (\\Seen))"]).is_empty());
    let since = Instant::now();
    v.msgs[0].anchors.push(Anchor {
        flag: "\\seen".into(),
        present: true,
        since,
        origin: "s1 `STORE 1 +FLAGS (\\Seen)`".into(),
    });
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(
        apply(&mut v, &reg, &["* 1 FETCH (UID 4 FLAGS ())"]),
        [Kind::FlagsRegressed]
    );
    // Again, but another session removed \Seen meanwhile: not an error.
    v.msgs[0].anchors.push(Anchor {
        flag: "\\seen".into(),
        present: false,
        since: Instant::now(),
        origin: "s1".into(),
    });
    let done = reg.flag_op("INBOX", &[Some(4)], Change::Add(vec!["\\seen".into()]));
    done.store(
        reg.ms_since_start(Instant::now()) + 1,
        std::sync::atomic::Ordering::Relaxed,
    );
    assert!(apply(&mut v, &reg, &["* 1 FETCH (UID 4 FLAGS (\\Seen))"]).is_empty());
}

#[test]
fn immutable_data_and_appended_bytes() {
    let reg = Registry::new(Instant::now());
    let msg = b"Subject: hello\r\n\r\nbody\r\n";
    assert!(reg
        .expect(
            "INBOX",
            5,
            std::sync::Arc::new(Expected::of(msg, "test".into()))
        )
        .is_empty());
    let body = Val::Str(msg.to_vec());
    assert!(reg.observe("INBOX", 5, "BODY[]", &body, "a").is_empty());
    assert!(reg
        .observe("INBOX", 5, "RFC822.SIZE", &Val::Num(24), "a")
        .is_empty());
    let kinds =
        |v: Vec<super::errors::Violation>| v.into_iter().map(|x| x.kind).collect::<Vec<_>>();
    assert_eq!(
        kinds(reg.observe("INBOX", 5, "RFC822.SIZE", &Val::Num(25), "b")),
        [Kind::ImmutableChanged, Kind::ContentMismatch]
    );
    assert_eq!(
        kinds(reg.observe("INBOX", 6, "BODY[TEXT]", &Val::Str(b"x".to_vec()), "c")),
        []
    );
    assert_eq!(
        kinds(reg.expect(
            "INBOX",
            6,
            std::sync::Arc::new(Expected::of(msg, "t".into()))
        )),
        [Kind::ContentMismatch]
    );
}

#[test]
fn stand_ins_for_expunged_messages_are_hollow() {
    let real =
        parse(b"* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 4897 66))\r\n");
    let stand_in =
        parse(b"* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0))\r\n");
    let item = |r: Result<super::response::Resp, String>| match r {
        Ok(super::response::Resp::Fetch { items, .. }) => items[0].1.clone(),
        other => panic!("{other:?}"),
    };
    assert!(!hollow("BODYSTRUCTURE", &item(real)));
    assert!(hollow("BODYSTRUCTURE", &item(stand_in)));
    assert!(hollow("BODY[]", &Val::Nil));
    assert!(hollow("RFC822.SIZE", &Val::Num(0)));
    assert!(hollow(
        "INTERNALDATE",
        &Val::Str(b"01-Jan-1970 00:00:00 +0000".to_vec())
    ));
    assert!(!hollow(
        "INTERNALDATE",
        &Val::Str(b"04-Dec-2026 13:10:27 +0000".to_vec())
    ));
}
