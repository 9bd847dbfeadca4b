//! `mailstack forward`, `mailstack vacation` and `mailstack deliver` through a Sieve script
//! (docs/spec.md §6.5), with the server stopped (the store directly) and running (its REST
//! API): the same words both ways, the settings read back, bad input refused with exit 1
//! (usage errors 2), and the next delivery following the change.

use testkit::process::output_text as out;
use testkit::process::{cli, test_config};
use testkit::Mailstack;

const ALICE: &str = "alice@example.test";

/// Messages in INBOX from `mailbox list --json`.
fn inbox_count(json: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(json).expect("json");
    json.as_array()
        .and_then(|a| a.iter().find(|m| m["name"] == "INBOX"))
        .and_then(|m| m["messages"].as_u64())
        .unwrap_or(0)
}

#[test]
fn forward_and_vacation_offline() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let run = |args: &[&str], stdin: &str| cli(&cfg, args, stdin);
    let ok = |args: &[&str], stdin: &str| {
        let o = run(args, stdin);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", out(&o));
        out(&o)
    };
    ok(
        &["user", "add", ALICE, "--password-stdin"],
        "a long enough secret\n",
    );
    ok(
        &["user", "add", "bob@example.test", "--password-stdin"],
        "a long enough secret\n",
    );
    assert!(ok(&["forward", ALICE], "").contains("alice@example.test: not forwarding"));
    let said = ok(
        &["forward", ALICE, "--to", "Bob@Example.test", "--keep-copy"],
        "",
    );
    assert!(
        said.contains("alice@example.test: forwarding to bob@example.test (a copy stays in INBOX)"),
        "{said}"
    );
    let said = ok(
        &[
            "vacation",
            ALICE,
            "--from",
            "2000-01-01",
            "--until",
            "2999-12-31",
            "--subject",
            "Away",
            "--message",
            "I am away.\\nBack soon.",
            "--internal-message",
            "Ask Bob.",
        ],
        "",
    );
    assert!(
        said.contains("vacation replies from 2000-01-01 until 2999-12-31, once per sender per 1 day(s), another text for the local domains"),
        "{said}"
    );
    // Both settings read back; the next delivery follows them.
    assert!(ok(&["forward", ALICE], "").contains("forwarding to bob@example.test"));
    let said = ok(
        &["deliver", "--to", ALICE],
        "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    assert!(
        said.contains("delivered to alice@example.test through its Sieve script"),
        "{said}"
    );
    let listed = ok(&["mailbox", "list", "bob@example.test", "--json"], "");
    assert_eq!(inbox_count(&listed), 1, "the forwarded copy: {listed}");
    // Bad input: exit 1 with the reason, or 2 for usage.
    for (args, needle) in [
        (
            vec!["vacation", ALICE, "--message", "x", "--from", "tomorrow"],
            "not a date",
        ),
        (
            vec![
                "vacation",
                ALICE,
                "--message",
                "x",
                "--from",
                "2026-12-31",
                "--until",
                "2026-12-01",
            ],
            "ends",
        ),
        (
            vec!["vacation", ALICE, "--message", "x", "--days", "0"],
            "days",
        ),
        (
            vec!["forward", ALICE, "--to", "not an address"],
            "forward address",
        ),
        (
            vec!["forward", "nobody@example.test", "--to", "bob@example.test"],
            "no such account",
        ),
    ] {
        let o = run(&args, "");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(needle), "{args:?}: {}", out(&o));
    }
    let o = run(&["forward", ALICE, "--keep-copy"], "");
    assert_eq!(
        o.status.code(),
        Some(2),
        "--keep-copy needs --to: {}",
        out(&o)
    );
    let o = run(&["forward", ALICE, "--off", "--to", "x@example.test"], "");
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    // Off, both: the script goes.
    assert!(ok(&["forward", ALICE, "--off"], "").contains("not forwarding"));
    assert!(ok(&["vacation", ALICE, "--off"], "").contains("no vacation replies"));
    let said = ok(&["deliver", "--to", ALICE], "Subject: plain\r\n\r\nx\r\n");
    assert!(
        said.contains("INBOX uid"),
        "no script: straight to INBOX: {said}"
    );
}

#[tokio::test]
async fn forward_and_vacation_on_a_running_server() {
    let server = Mailstack::builder().persistent().start();
    let ok = |args: &[&str], stdin: &str| {
        let o = server.cli(args, stdin);
        assert!(o.status.success(), "{args:?}: {}", out(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let said = ok(&["forward", ALICE, "--to", "bob@example.test"], "");
    assert!(
        said.contains("forwarding to bob@example.test (no copy kept)"),
        "{said}"
    );
    let said = ok(
        &["vacation", ALICE, "--message", "Away.", "--days", "3"],
        "",
    );
    assert!(said.contains("once per sender per 3 day(s)"), "{said}");
    assert!(ok(&["vacation", ALICE], "").contains("vacation replies"));
    // The next delivery (through the running server) follows the script: forwarded, not kept.
    let said = ok(
        &["deliver", "--to", ALICE],
        "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: live\r\n\r\nhello\r\n",
    );
    assert!(said.contains("through its Sieve script"), "{said}");
    let inbox = |who: &str| inbox_count(&ok(&["mailbox", "list", who, "--json"], ""));
    assert_eq!(inbox("bob@example.test"), 1);
    assert_eq!(inbox(ALICE), 0);
    let o = server.cli(
        &["vacation", ALICE, "--message", "x", "--until", "someday"],
        "",
    );
    assert!(
        !o.status.success() && out(&o).contains("not a date"),
        "{}",
        out(&o)
    );
    assert!(ok(&["forward", ALICE, "--off"], "").contains("not forwarding"));
    assert!(ok(&["vacation", ALICE, "--off"], "").contains("no vacation replies"));
}
