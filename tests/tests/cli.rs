//! Every CLI verb against a temporary store, with its exit codes (0 ok, 1 user error, 2 usage).

use testkit::process::{cli, test_config};

use testkit::process::output_text as out;

#[test]
fn user_alias_deliver_mailbox_verbs() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let ok = |args: &[&str], stdin: &str| {
        let o = cli(&cfg, args, stdin);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", out(&o));
        out(&o)
    };
    let fail = |args: &[&str], stdin: &str, code: i32, needle: &str| {
        let o = cli(&cfg, args, stdin);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", out(&o));
        assert!(
            out(&o).contains(needle),
            "{args:?}: {} lacks {needle:?}",
            out(&o)
        );
    };
    ok(
        &["user", "add", "Carol@Example.test", "--password-stdin"],
        "a long enough secret\n",
    );
    fail(
        &["user", "add", "carol@example.test", "--password-stdin"],
        "a long enough secret\n",
        1,
        "already exists",
    );
    fail(
        &["user", "add", "dave@example.test", "--password-stdin"],
        "short\n",
        1,
        "at least 12",
    );
    fail(
        &["user", "add", "dave@example.test", "--password-stdin"],
        "i-am-dave-really\n",
        1,
        "user name",
    );
    fail(
        &["user", "add", "not-an-address", "--password-stdin"],
        "a long enough secret\n",
        1,
        "domain",
    );
    ok(
        &["user", "passwd", "carol@example.test", "--password-stdin"],
        "another long secret\n",
    );
    fail(
        &["user", "passwd", "nobody@example.test", "--password-stdin"],
        "another long secret\n",
        1,
        "nobody@example.test: no such account",
    );
    let s = ok(
        &[
            "user",
            "set",
            "carol@example.test",
            "--pop3-policy",
            "mark-seen",
            "--quota",
            "100000",
            "--save-sent",
            "true",
        ],
        "",
    );
    assert!(
        s.contains("mark-seen") && s.contains("100000") && s.contains("true"),
        "{s}"
    );
    fail(
        &[
            "user",
            "set",
            "carol@example.test",
            "--pop3-policy",
            "sometimes",
        ],
        "",
        2,
        "invalid value",
    );
    fail(
        &["user", "set", "carol@example.test"],
        "",
        1,
        "nothing to change",
    );
    ok(
        &["alias", "add", "sales@example.test", "carol@example.test"],
        "",
    );
    fail(
        &["alias", "add", "sales@example.test", "carol@example.test"],
        "",
        1,
        "already in use",
    );
    let s = ok(
        &["deliver", "--to", "sales@example.test"],
        "Subject: hi\r\n\r\nhello\r\n",
    );
    assert!(s.contains("carol@example.test INBOX uid 1"), "{s}");
    ok(
        &[
            "deliver",
            "--to",
            "carol@example.test",
            "--mailbox",
            "Archive",
        ],
        "Subject: old\r\n\r\nold\r\n",
    );
    fail(
        &["deliver", "--to", "carol@example.test", "--mailbox", "Nope"],
        "x",
        1,
        "no mailbox",
    );
    fail(
        &["deliver", "--to", "ghost@example.test"],
        "x",
        1,
        "ghost@example.test: no such account or alias",
    );
    let s = ok(&["mailbox", "list", "carol@example.test"], "");
    let inbox = s
        .lines()
        .find(|l| l.starts_with("INBOX"))
        .expect("INBOX row");
    assert_eq!(
        inbox.split_whitespace().collect::<Vec<_>>()[1..3],
        ["1", "1"],
        "{s}"
    );
    for name in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            s.lines().any(|l| l.starts_with(name)),
            "{name} missing: {s}"
        );
    }
    let s = ok(&["user", "list"], "");
    assert!(
        s.contains("carol@example.test") && s.contains("sales@example.test"),
        "{s}"
    );
    ok(&["alias", "del", "sales@example.test"], "");
    fail(
        &["alias", "del", "sales@example.test"],
        "",
        1,
        "sales@example.test: alias error: no such alias",
    );
    ok(&["user", "del", "carol@example.test"], "");
    fail(
        &["mailbox", "list", "carol@example.test"],
        "",
        1,
        "carol@example.test: no such account",
    );
    fail(&["user", "frobnicate"], "", 2, "unrecognized subcommand");
}

#[test]
fn quota_refuses_cli_delivery() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let o = cli(
        &cfg,
        &[
            "user",
            "add",
            "q@example.test",
            "--password-stdin",
            "--quota",
            "50",
        ],
        "a long enough secret\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = cli(
        &cfg,
        &["deliver", "--to", "q@example.test"],
        &"x".repeat(60),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("full"), "{}", out(&o));
}

#[test]
fn malformed_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "hostname = \"x\"\noutbound = \"reject\"\n[listeners]\npop4 = \"127.0.0.1:0\"\n",
    )
    .expect("write");
    let o = cli(&p, &["user", "list"], "");
    assert_eq!(o.status.code(), Some(1));
    let s = out(&o);
    assert!(
        s.contains("bad.toml") && s.contains("line 4") && s.contains("pop4"),
        "{s}"
    );
}
