//! The crate through its public API: parse errors, every test and action, extensions,
//! the RFC examples, scripts as Roundcube writes them, vacation helpers, robustness.
//! One test binary, one module per area.

mod actions;
mod body;
mod dates;
mod flags;
mod parse_errors;
mod rfc_examples;
mod robustness;
mod roundcube;
mod tests_core;
mod vacation;
mod variables;

use sieve::{Action, Context, Envelope, Outcome};

/// A message most tests run against.
pub const MSG: &[u8] = b"Return-Path: <coyote@desert.example.org>\r\n\
Received: from mx.desert.example.org by mx.acme.example.com; Tue, 01 Dec 2026 09:00:05 +0000\r\n\
Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
From: \"Coyote, Wile E.\" <coyote@desert.example.org>\r\n\
Sender: owner-traps@lists.example.org\r\n\
To: Road Runner <roadrunner@acme.example.com>, team: a@x.example, b@y.example;\r\n\
Cc: boss@acme.example.com\r\n\
Subject: =?UTF-8?Q?I_have_a_present_for_you_=E2=98=BA?=\r\n\
Message-ID: <present@desert.example.org>\r\n\
X-Caffeine: C8H10N4O2\r\n\
X-Spam-Score: 7\r\n\
X-Multi: one\r\n\
X-Multi: two\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Look, I'm sorry about the whole anvil thing, and I really\r\n\
didn't mean to try and drop it on you from the top of the\r\n\
cliff.  I want to make it up to you.\r\n";

pub const ENV: Envelope<'static> = Envelope {
    from: "coyote@desert.example.org",
    to: "roadrunner@acme.example.com",
};

/// 2026-12-15T12:00:00Z.
pub const NOW: i64 = 1_797_336_000;

/// Mailboxes that exist for the tests.
pub fn exists(name: &str) -> bool {
    matches!(
        name,
        "INBOX" | "Junk" | "Lists" | "Archive" | "filter" | "spam" | "personal"
    )
}

pub fn ctx() -> Context<'static> {
    Context {
        now_unix: NOW,
        zone_minutes: 0,
        mailbox_exists: &exists,
        max_actions: 32,
    }
}

pub fn parse(src: &str) -> sieve::Script {
    sieve::parse(src).unwrap_or_else(|e| panic!("{e}\n--- script ---\n{src}"))
}

/// Runs `src` on `msg` with the default envelope and context.
pub fn run_on(src: &str, msg: &[u8]) -> Outcome {
    sieve::execute(&parse(src), &ENV, msg, &ctx())
}

pub fn run(src: &str) -> Outcome {
    run_on(src, MSG)
}

/// The actions of a run that must not fail.
pub fn actions(src: &str) -> Vec<Action> {
    let out = run(src);
    assert_eq!(out.error, None, "runtime error for:\n{src}");
    out.actions
}

/// Whether the test expression `test` is true for [`MSG`].
pub fn holds(requires: &str, test: &str) -> bool {
    let req = if requires.is_empty() {
        String::new()
    } else {
        format!("require [{requires}];\n")
    };
    let src = format!("{req}if {test} {{ discard; }}");
    match actions(&src).as_slice() {
        [Action::Discard] => true,
        [Action::Keep { .. }] => false,
        other => panic!("unexpected actions {other:?} for {test}"),
    }
}

pub fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

pub fn keep_flags(flags: &[&str]) -> Action {
    Action::Keep {
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn fileinto(mailbox: &str) -> Action {
    Action::FileInto {
        mailbox: mailbox.into(),
        flags: vec![],
        create: false,
    }
}

pub fn redirect(address: &str) -> Action {
    Action::Redirect {
        address: address.into(),
    }
}

/// The parse error of a script that must not parse.
pub fn error(src: &str) -> sieve::ParseError {
    match sieve::parse(src) {
        Ok(_) => panic!("parsed but should not:\n{src}"),
        Err(e) => e,
    }
}
