//! `mailstack serve` with `[store] backend = "postgres"` on a private PostgreSQL
//! (docs/architecture.md §12): mail delivered over SMTP is read over IMAP and POP3, survives a
//! restart and a kill -9 (every acknowledged message is in the database), the CLI works offline
//! and through the running server, a second process on the same database works alongside it,
//! and a password in the URL is refused before anything connects.

use testkit::postgres::Cluster;
use testkit::process::output_text as out;
use testkit::process::{cli, test_config};
use testkit::{Imap, Mailstack};

/// carol's INBOX over IMAP, checked to hold the five messages sent.
async fn inbox_of_five(server: &Mailstack) -> Imap {
    let mut imap = Imap::login_to(
        server.port("imap"),
        "carol@example.test",
        "a long enough secret",
    )
    .await;
    let lines = imap.ok("SELECT INBOX").await;
    assert!(lines.iter().any(|l| l == "* 5 EXISTS"), "{lines:?}");
    imap
}

/// `mailstack mailbox list ADDRESS --json` with `config` succeeds and names INBOX.
fn lists_inbox(config: &std::path::Path, address: &str) {
    let o = cli(config, &["mailbox", "list", address, "--json"], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"INBOX\""),
        "{}",
        out(&o)
    );
}

fn store_section(url: &str) -> String {
    format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n")
}

#[tokio::test]
async fn serve_on_postgres_keeps_mail_across_restarts_and_kill() {
    let Some(cluster) = Cluster::get() else {
        return;
    };
    let url = cluster.database();
    let mut server = Mailstack::builder()
        .persistent()
        .config(&store_section(&url))
        .start();
    let said = server.cli(
        &["user", "add", "carol@example.test", "--password-stdin"],
        "a long enough secret\n",
    );
    assert!(said.status.success(), "{}", out(&said));
    for i in 0..5 {
        let reply = testkit::client::smtp_send(
            server.port("smtp"),
            "carol@example.test",
            format!("Subject: pg {i}\r\n\r\nbody {i}\r\n").as_bytes(),
        )
        .await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    let mut imap = inbox_of_five(&server).await;
    let fetched = imap.ok("FETCH 3 BODY[TEXT]").await;
    assert!(fetched.iter().any(|l| l.contains("body 2")), "{fetched:?}");
    imap.ok("STORE 1 +FLAGS (\\Flagged)").await;
    drop(imap);

    // A second process on the same database is another node (tests/two_nodes.rs): it reads
    // the same mail while the server runs.
    let dir = tempfile::tempdir().expect("tmp");
    let other = test_config(dir.path(), &store_section(&url));
    lists_inbox(&other, "carol@example.test");

    // kill -9, restart: everything acknowledged is there, flags too.
    server.kill();
    server.restart();
    let mut imap = inbox_of_five(&server).await;
    let flags = imap.ok("FETCH 1 FLAGS").await;
    assert!(flags.iter().any(|l| l.contains("\\Flagged")), "{flags:?}");
    drop(imap);
    let mut pop = testkit::Pop3::login_to(
        server.port("pop3"),
        "carol@example.test",
        "a long enough secret",
    )
    .await;
    pop.send("STAT").await;
    let stat = String::from_utf8_lossy(&pop.raw_line().await).into_owned();
    assert!(stat.starts_with("+OK 5 "), "{stat}");

    // Offline: the CLI opens the database itself.
    server.stop();
    let o = server.cli(&["mailbox", "list", "carol@example.test", "--json"], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"INBOX\""),
        "{}",
        out(&o)
    );
}

#[test]
fn a_password_in_the_url_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(
        dir.path(),
        &store_section("postgres://mail:hunter2@127.0.0.1/mail"),
    );
    let o = cli(&cfg, &["user", "list"], "");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("must not hold the password"),
        "{}",
        out(&o)
    );
    assert!(
        !out(&o).contains("hunter2"),
        "the secret is not echoed: {}",
        out(&o)
    );
}

/// `mailstack store copy` moves a sled store into PostgreSQL (and back) with UIDs kept;
/// `mailstack store migrate` reports the schema; bad specs are refused.
#[test]
fn store_copy_and_migrate_from_the_cli() {
    let Some(cluster) = Cluster::get() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let sled_cfg = test_config(dir.path(), "");
    let ok = |cfg: &std::path::Path, args: &[&str], stdin: &str| {
        let o = cli(cfg, args, stdin);
        assert!(o.status.success(), "{args:?}: {}", out(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(
        &sled_cfg,
        &["user", "add", "dora@example.test", "--password-stdin"],
        "a long enough secret\n",
    );
    for i in 0..3 {
        let said = ok(
            &sled_cfg,
            &["deliver", "--to", "dora@example.test"],
            &format!("Subject: {i}\r\n\r\nx\r\n"),
        );
        assert!(said.contains(&format!("INBOX uid {}", i + 1)), "{said}");
    }
    let data = dir.path().join("data");
    let url = cluster.database();
    let said = ok(
        &sled_cfg,
        &[
            "store",
            "copy",
            "--from",
            &format!("sled:{}", data.display()),
            "--to",
            &format!("postgres:{url}"),
        ],
        "",
    );
    assert!(said.contains("3 message bodies"), "{said}");
    let pg_dir = tempfile::tempdir().expect("tmp");
    let pg_cfg = test_config(pg_dir.path(), &store_section(&url));
    assert!(ok(&pg_cfg, &["store", "migrate"], "").contains("schema version"));
    let said = ok(
        &pg_cfg,
        &["deliver", "--to", "dora@example.test"],
        "Subject: after\r\n\r\nx\r\n",
    );
    assert!(
        said.contains("INBOX uid 4"),
        "UIDs go on where sled stopped: {said}"
    );
    // Into a store that has accounts: refused, nothing changed.
    let o = cli(
        &sled_cfg,
        &[
            "store",
            "copy",
            "--from",
            &format!("postgres:{url}"),
            "--to",
            &format!("sled:{}", data.display()),
        ],
        "",
    );
    assert!(
        !o.status.success() && out(&o).contains("already has accounts"),
        "{}",
        out(&o)
    );
    for bad in ["mysql://x/y", "postgres://u:secret@h/db"] {
        let o = cli(
            &sled_cfg,
            &["store", "copy", "--from", bad, "--to", "sled:/nonexistent"],
            "",
        );
        assert_eq!(o.status.code(), Some(1), "{bad}: {}", out(&o));
        assert!(!out(&o).contains("secret"), "{}", out(&o));
    }
}

/// `[store] ca_file` with a URL that says `sslmode=require`: the CLI reaches a database that
/// takes TLS only; without `ca_file` it says what is missing.
#[test]
fn the_cli_reaches_a_tls_only_database_with_ca_file() {
    let Some(tls) = Cluster::start_tls() else {
        return;
    };
    let url = tls.database();
    let dir = tempfile::tempdir().expect("tmp");
    let with_ca = test_config(
        dir.path(),
        &format!(
            "{}ca_file = \"{}\"\n",
            store_section(&url),
            tls.ca.display()
        ),
    );
    let o = cli(
        &with_ca,
        &["user", "add", "tls@example.test", "--password-stdin"],
        "a long enough secret\n",
    );
    assert!(o.status.success(), "{}", out(&o));
    lists_inbox(&with_ca, "tls@example.test");

    let other = tempfile::tempdir().expect("tmp");
    let without = test_config(other.path(), &store_section(&url));
    let o = cli(&without, &["mailbox", "list", "tls@example.test"], "");
    assert!(!o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("ca_file"), "{}", out(&o));
}
