//! CLI verbs against a running server (docs/spec.md §7.1): they go through its admin API and
//! take effect at once — a new account logs in, a changed password replaces the old one, a
//! delivery reaches an IDLE session — with the same output as offline; without a reachable
//! admin API they say which server holds the store.

use testkit::process::output_text as out;
use testkit::{Imap, Mailstack};

fn ok(server: &Mailstack, args: &[&str], stdin: &str) -> String {
    let o = server.cli(args, stdin);
    assert!(o.status.success(), "{args:?}: {}", out(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn verbs_act_on_the_running_server_at_once() {
    let server = Mailstack::builder().persistent().start();
    let imap = server.port("imap");
    let said = ok(
        &server,
        &[
            "user",
            "add",
            "carol@example.test",
            "--password-stdin",
            "--quota",
            "1MB",
        ],
        "first password 123\n",
    );
    assert!(
        said.contains(
            "created carol@example.test (INBOX, Sent, Drafts, Trash, Junk, Archive), quota 1000000 bytes (1 MB)"
        ),
        "{said}"
    );
    // The new account logs in at once; a second session idles on its INBOX.
    let mut watcher = Imap::login_to(imap, "carol@example.test", "first password 123").await;
    watcher.ok("SELECT INBOX").await;
    let tag = watcher.idle().await;
    let said = ok(
        &server,
        &["deliver", "--to", "carol@example.test"],
        "Subject: live\r\n\r\nhello\r\n",
    );
    assert!(
        said.contains("delivered to carol@example.test INBOX uid 1"),
        "{said}"
    );
    assert!(
        watcher.pushed().await.contains("* 1 EXISTS"),
        "pushed to the IDLE session"
    );
    watcher.done(&tag).await;
    // A new password replaces the old one at once (the credential cache included).
    ok(
        &server,
        &["user", "passwd", "carol@example.test", "--password-stdin"],
        "second password 456\n",
    );
    let mut c = Imap::connect(imap).await;
    let (_, tagged) = c
        .cmd("LOGIN carol@example.test \"first password 123\"")
        .await;
    assert!(tagged.contains("NO"), "old password refused: {tagged}");
    Imap::login_to(imap, "carol@example.test", "second password 456").await;
    // Aliases, settings, listings, with the offline wording.
    assert!(ok(
        &server,
        &["alias", "add", "c@example.test", "carol@example.test"],
        ""
    )
    .contains("alias c@example.test → carol@example.test"));
    let set = ok(
        &server,
        &[
            "user",
            "set",
            "carol@example.test",
            "--pop3-policy",
            "delete",
            "--save-sent",
            "false",
        ],
        "",
    );
    assert!(
        set.contains(
            "carol@example.test: pop3-policy delete, quota 1000000 bytes (1 MB), save-sent false"
        ),
        "{set}"
    );
    let list = ok(&server, &["user", "list"], "");
    assert!(
        list.lines()
            .any(|l| l.starts_with("carol@example.test") && l.contains("c@example.test")),
        "{list}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &server,
        &["mailbox", "list", "carol@example.test", "--json"],
        "",
    ))
    .expect("json");
    let inbox = json
        .as_array()
        .and_then(|a| a.iter().find(|m| m["name"] == "INBOX"));
    assert_eq!(
        inbox.map(|m| m["messages"].clone()),
        Some(1.into()),
        "{json}"
    );
    assert!(ok(&server, &["alias", "del", "c@example.test"], "")
        .contains("alias c@example.test removed"));
    // Refusals name the address, as offline.
    let o = server.cli(
        &["user", "add", "dave@elsewhere.test", "--password-stdin"],
        "long password 123\n",
    );
    assert!(
        !o.status.success() && out(&o).contains("elsewhere.test is not a local domain"),
        "{}",
        out(&o)
    );
    let o = server.cli(&["user", "del", "ghost@example.test"], "");
    assert!(
        !o.status.success() && out(&o).contains("ghost@example.test: no such account"),
        "{}",
        out(&o)
    );
    // --add-domain makes the domain local on the running server.
    let said = ok(
        &server,
        &[
            "user",
            "add",
            "dave@elsewhere.test",
            "--password-stdin",
            "--add-domain",
        ],
        "long password 123\n",
    );
    assert!(
        said.contains("added elsewhere.test to the local domains of the running server"),
        "{said}"
    );
    Imap::login_to(imap, "dave@elsewhere.test", "long password 123").await;
    assert!(ok(&server, &["user", "del", "carol@example.test"], "")
        .contains("deleted carol@example.test and all its mail"));
}

#[test]
fn without_its_admin_api_the_holder_is_named() {
    let server = Mailstack::builder().persistent().start();
    // A server whose admin API cannot be reached (its endpoint file is gone): the old message.
    std::fs::remove_file(server.data_dir().join("admin-endpoint")).expect("endpoint file");
    let o = server.cli(&["user", "list"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("in use by a running server")
            && out(&o).contains(&server.pid().to_string()),
        "{}",
        out(&o)
    );
}
