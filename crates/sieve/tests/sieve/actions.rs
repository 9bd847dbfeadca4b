//! Actions, the implicit keep (RFC 5228 §2.10.2), :copy (RFC 3894), duplicates (§2.10.3),
//! limits and runtime errors (§2.10.6).

use super::*;
use sieve::Action;

#[test]
fn empty_script_keeps() {
    assert_eq!(actions(""), [keep()]);
    assert_eq!(actions("# nothing\n"), [keep()]);
}

#[test]
fn keep_and_stop() {
    assert_eq!(actions("keep;"), [keep()]);
    assert_eq!(actions("keep; keep;"), [keep()]);
    assert_eq!(actions("stop; discard;"), [keep()]);
    assert_eq!(actions("if true { stop; } discard;"), [keep()]);
}

#[test]
fn discard_cancels_only_the_implicit_keep() {
    assert_eq!(actions("discard;"), [Action::Discard]);
    assert_eq!(actions("keep; discard;"), [keep()]);
    assert_eq!(actions("discard; keep;"), [keep()]);
    assert_eq!(
        actions("require \"fileinto\"; discard; fileinto \"Junk\";"),
        [fileinto("Junk")]
    );
}

#[test]
fn fileinto_and_redirect_cancel_the_implicit_keep() {
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"Junk\";"),
        [fileinto("Junk")]
    );
    assert_eq!(
        actions("redirect \"a@example.org\";"),
        [redirect("a@example.org")]
    );
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"Junk\"; keep;"),
        [fileinto("Junk"), keep()]
    );
}

#[test]
fn copy_keeps_the_implicit_keep() {
    assert_eq!(
        actions("require \"copy\"; redirect :copy \"a@example.org\";"),
        [redirect("a@example.org"), keep()]
    );
    assert_eq!(
        actions("require [\"copy\", \"fileinto\"]; fileinto :copy \"Archive\";"),
        [fileinto("Archive"), keep()]
    );
    // :copy on one, a plain redirect after it: the implicit keep is gone.
    assert_eq!(
        actions("require \"copy\"; redirect :copy \"a@example.org\"; redirect \"b@example.org\";"),
        [redirect("a@example.org"), redirect("b@example.org")]
    );
    assert_eq!(
        actions("require \"copy\"; redirect :copy \"a@example.org\"; discard;"),
        [redirect("a@example.org")]
    );
}

#[test]
fn duplicates_collapse() {
    // RFC 5228 §2.10.3.
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"Junk\"; fileinto \"Junk\";"),
        [fileinto("Junk")]
    );
    assert_eq!(
        actions("redirect \"a@example.org\"; redirect \"A@example.org\";"),
        [redirect("a@example.org")]
    );
    // fileinto "INBOX" is keep.
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"inbox\"; keep;"),
        [keep()]
    );
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"INBOX\";"),
        [keep()]
    );
}

#[test]
fn missing_mailbox_without_create_is_kept_in_inbox() {
    assert_eq!(
        actions("require \"fileinto\"; fileinto \"Nowhere\";"),
        [keep()]
    );
    assert_eq!(
        actions("require [\"fileinto\", \"mailbox\"]; fileinto :create \"Nowhere\";"),
        [Action::FileInto {
            mailbox: "Nowhere".into(),
            flags: vec![],
            create: true
        }]
    );
    // :create on an existing mailbox is harmless.
    assert_eq!(
        actions(
            "require [\"fileinto\", \"mailbox\"]; fileinto :create \"Junk\"; fileinto \"Junk\";"
        ),
        [Action::FileInto {
            mailbox: "Junk".into(),
            flags: vec![],
            create: true
        }]
    );
}

#[test]
fn mailboxexists() {
    assert!(holds("\"mailbox\"", "mailboxexists \"Junk\""));
    assert!(holds("\"mailbox\"", "mailboxexists [\"Junk\", \"inbox\"]"));
    assert!(!holds(
        "\"mailbox\"",
        "mailboxexists [\"Junk\", \"Nowhere\"]"
    ));
}

#[test]
fn redirect_address_forms() {
    assert_eq!(
        actions("redirect \"<x@example.org>\";"),
        [redirect("x@example.org")]
    );
    // RFC 5228 §2.4.2.3: a name-addr is an address too; the action carries the addr-spec.
    assert_eq!(
        actions("redirect \"Fred Bloggs <fred@example.org>\";"),
        [redirect("fred@example.org")]
    );
    // An address built at run time that is not valid is a runtime error.
    let out = run("require \"variables\"; set \"a\" \"not valid\"; redirect \"${a}\";");
    assert_eq!(out.actions, [keep()]);
    assert!(out.error.unwrap().contains("invalid address"));
}

#[test]
fn too_many_actions_is_a_runtime_error_that_keeps() {
    let mut src = String::from("require [\"fileinto\", \"copy\"];\n");
    for i in 0..3 {
        src.push_str(&format!("redirect :copy \"u{i}@example.org\";\n"));
    }
    let script = parse(&src);
    let mut c = ctx();
    c.max_actions = 3;
    let ok = sieve::execute(&script, &ENV, MSG, &c);
    assert_eq!(ok.actions.len(), 4);
    c.max_actions = 2;
    let out = sieve::execute(&script, &ENV, MSG, &c);
    assert_eq!(out.actions, [keep()]);
    assert!(out.error.unwrap().contains("too many actions"));
    // Collapsed duplicates do not count twice; keep never counts.
    let src = "require \"fileinto\"; fileinto \"Junk\"; fileinto \"Junk\"; keep; keep;";
    c.max_actions = 1;
    assert_eq!(sieve::execute(&parse(src), &ENV, MSG, &c).error, None);
    c.max_actions = 0;
    assert!(sieve::execute(&parse(src), &ENV, MSG, &c).error.is_some());
}

#[test]
fn runtime_error_discards_earlier_actions() {
    let out = run(
        "require [\"vacation\", \"fileinto\"];\nfileinto \"Junk\";\nvacation \"a\";\nvacation \"b\";",
    );
    assert_eq!(out.actions, [keep()]);
    assert!(out
        .error
        .unwrap()
        .contains("vacation executed more than once"));
}

#[test]
fn if_elsif_else_picks_one_branch() {
    let src = "require \"fileinto\";
if header :is \"x-caffeine\" \"none\" { fileinto \"Junk\"; }
elsif header :is \"x-caffeine\" \"C8H10N4O2\" { fileinto \"Lists\"; }
elsif true { fileinto \"Archive\"; }
else { discard; }";
    assert_eq!(actions(src), [fileinto("Lists")]);
    let src = "if false { discard; } elsif false { discard; } else { stop; } discard;";
    assert_eq!(actions(src), [keep()]);
}

#[test]
fn outcome_is_cloneable_and_script_is_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_send_sync::<sieve::Script>();
    let script = parse("keep;");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = script.clone();
            std::thread::spawn(move || sieve::execute(&s, &ENV, MSG, &ctx()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().actions, [keep()]);
    }
}
