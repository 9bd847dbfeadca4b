//! CLI verbs around `serve`: listeners, the store lock and a clean stop, busy ports, listener
//! addresses, the admin token, certificates, and domains added from the command line.

use testkit::process::{cli, test_config};
use testkit::Mailstack;

use testkit::process::output_text as out;

#[test]
fn serve_reports_listeners_locks_store_and_stops_cleanly() {
    let mut server = Mailstack::builder().persistent().start();
    for s in testkit::MAIL_SERVICES {
        assert!(server.port(s) > 0);
    }
    assert!(server.ca().exists(), "generated CA");
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("import") && l.contains("ca.crt")),
        "{:?}",
        server.stdout
    );
    // A CLI verb while the server holds the store goes to the running server (cli_live.rs).
    let o = server.cli(&["user", "list"], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("alice@example.test"), "{}", out(&o));
    assert_eq!(server.stop(), Some(0), "SIGTERM exits 0");
    // The store is free again and the demo accounts persisted.
    let o = server.cli(&["user", "list"], "");
    let s = out(&o);
    assert!(
        s.contains("alice@example.test") && s.contains("catchall@example.test"),
        "{s}"
    );
}

#[test]
fn errors_name_the_address_and_say_each_cause_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    for (args, needle) in [
        (
            &["user", "del", "Ghost@Example.test"][..],
            "ghost@example.test: no such account",
        ),
        (
            &["user", "set", "ghost@example.test", "--save-sent", "true"][..],
            "ghost@example.test: no such account",
        ),
        (
            &["alias", "add", "a@example.test", "ghost@example.test"][..],
            "alias a@example.test → ghost@example.test: no such account",
        ),
        (
            &["user", "del", "no-domain"][..],
            "no-domain: invalid address",
        ),
    ] {
        let o = cli(&cfg, args, "");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(needle), "{args:?}: {}", out(&o));
    }
    // An i/o error whose text the message already includes is said once.
    let bad = dir.path().join("bad.toml");
    std::fs::write(dir.path().join("datafile"), "").expect("file");
    std::fs::write(&bad, "outbound = \"reject\"\ndata_dir = \"datafile\"\n").expect("cfg");
    let o = cli(&bad, &["user", "list"], "");
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("(os error"), "{text}");
    assert_eq!(text.matches("(os error").count(), 1, "said twice: {text}");
}

#[test]
fn quota_takes_the_units_people_type() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let run = |args: &[&str], stdin: &str| {
        let o = cli(&cfg, args, stdin);
        (o.status.code(), out(&o))
    };
    let (code, text) = run(
        &[
            "user",
            "add",
            "q@example.test",
            "--password-stdin",
            "--quota",
            "10MB",
        ],
        "a long enough secret\n",
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("quota 10000000 bytes (10 MB)"), "{text}");
    for (quota, shown) in [
        ("2GiB", "quota 2147483648 bytes (2 GiB)"),
        ("512 KiB", "quota 524288 bytes (512 KiB)"),
        ("1.5GB", "quota 1500000000 bytes (1500 MB)"),
        ("0", "quota unlimited"),
        ("unlimited", "quota unlimited"),
    ] {
        let (code, text) = run(&["user", "set", "q@example.test", "--quota", quota], "");
        assert_eq!(code, Some(0), "{quota}: {text}");
        assert!(text.contains(shown), "{quota}: {text}");
    }
    // A unit nobody uses: a usage error that lists the ones that work.
    let (code, text) = run(&["user", "set", "q@example.test", "--quota", "10XB"], "");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("500MB or 2GiB") && text.contains("unlimited"),
        "{text}"
    );
    // `user add --quota 0` is an account without a limit, as `user set --quota 0`.
    let (code, text) = run(
        &[
            "user",
            "add",
            "z@example.test",
            "--password-stdin",
            "--quota",
            "0",
        ],
        "a long enough secret\n",
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("quota unlimited"), "{text}");
    // The help says what 0 means.
    let (_, help) = run(&["user", "set", "--help"], "");
    assert!(help.contains("0 or `unlimited` for no limit"), "{help}");
}

#[test]
fn a_host_name_as_listener_address_gets_a_hint() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .expect("cfg")
        .replace("smtp = \"127.0.0.1:0\"", "smtp = \"localhost:4025\"");
    std::fs::write(&cfg, text).expect("write");
    let o = cli(&cfg, &["serve"], "");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = out(&o);
    assert!(
        text.contains("localhost:4025") && text.contains("write \"127.0.0.1:4025\""),
        "{text}"
    );
}

#[test]
fn serve_on_a_busy_port_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let text = std::fs::read_to_string(&cfg).expect("cfg").replace(
        "imaps = \"127.0.0.1:0\"",
        &format!("imaps = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&cfg, text).expect("write");
    let o = cli(&cfg, &["serve"], "");
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("cannot listen on 127.0.0.1:{port} for imaps"))
            && text.contains("change [listeners] imaps in")
            && text.contains("mailstack.toml"),
        "{text}"
    );
    // No demo account, no certificate, no admin token was made.
    assert!(!dir.path().join("certs").exists(), "certificates made");
    assert!(!dir.path().join("data/admin-token").exists(), "token made");
    drop(busy);
    let o = cli(&cfg, &["user", "list"], "");
    assert!(!out(&o).contains("alice@example.test"), "{}", out(&o));
}

/// One HTTP/1.1 GET with a bearer token; returns the status code.
fn http_status(port: u16, path: &str, token: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut head = String::new();
    let _ = s.read_to_string(&mut head);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_admin_token_survives_a_restart_and_rotates() {
    let mut server = Mailstack::builder().persistent().start();
    let said = server.stdout.join("\n");
    let token = said
        .lines()
        .find_map(|l| l.strip_prefix("mailstack: http admin token (Authorization: Bearer …): "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token line: {said}"))
        .to_string();
    let file = server.data_dir().join("admin-token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        http_status(server.port("http"), "/api/accounts", &token),
        200
    );
    // Printing it works while the server runs; replacing it does not.
    let o = server.cli(&["admin-token"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), token);
    let o = server.cli(&["admin-token", "--rotate"], "");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("in use"), "{}", out(&o));

    // After a restart the same token works, and it is not printed again.
    server.stop();
    server.restart();
    let said = server.stdout.join("\n");
    assert!(!said.contains(&token), "token shown again: {said}");
    assert!(said.contains("admin-token"), "{said}");
    assert_eq!(
        http_status(server.port("http"), "/api/accounts", &token),
        200
    );

    // Rotation: a new token; the old one stops working.
    server.stop();
    let o = server.cli(&["admin-token", "--rotate"], "");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let new = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(new.len() >= 32 && new != token, "{new}");
    server.restart();
    assert_eq!(http_status(server.port("http"), "/api/accounts", &new), 200);
    assert_eq!(
        http_status(server.port("http"), "/api/accounts", &token),
        401
    );
}

#[test]
fn certs_honours_generate_false_and_shows_canonical_paths() {
    // The repository's layout: config/ beside certs/, paths relative with "..".
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir(root.join("config")).expect("mkdir");
    let cfg = root.join("config/m.toml");
    let write = |generate: bool| {
        std::fs::write(
            &cfg,
            format!(
                "outbound = \"reject\"\ndata_dir = \"../data\"\n[tls]\ncert = \"../certs/server.crt\"\n\
                 key = \"../certs/server.key\"\ngenerate = {generate}\n"
            ),
        )
        .expect("write");
    };
    // generate = false (config/production.toml): nothing is written, and it says why.
    write(false);
    let o = cli(&cfg, &["certs"], "");
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("generate = false"), "{text}");
    assert!(!root.join("certs").exists(), "certs/ written: {text}");
    // generate = true: made, and every path is shown without "..".
    write(true);
    let o = cli(&cfg, &["certs"], "");
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(!text.contains(".."), "{text}");
    assert!(
        text.contains(&root.join("certs/ca.crt").display().to_string())
            && text.contains("valid until"),
        "{text}"
    );
    // Now that they exist, generate = false checks them and writes nothing.
    write(false);
    let before = std::fs::read(root.join("certs/server.crt")).expect("cert");
    let o = cli(&cfg, &["certs"], "");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("are in place"), "{}", out(&o));
    assert_eq!(
        std::fs::read(root.join("certs/server.crt")).expect("cert"),
        before
    );
}

/// docs/spec.md §4.1: `user add` and `alias add` outside `domains` are refused with the domain
/// and the config key; `--add-domain` makes the domain local (kept in the store), and the
/// account then receives mail on port 25 from the real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_user_add_outside_domains_is_refused_or_adds_the_domain() {
    let mut server = Mailstack::builder().persistent().start();
    assert_eq!(server.stop(), Some(0));
    let pw = "a long enough secret\n";
    let o = server.cli(
        &[
            "user",
            "add",
            "x@not-configured.example",
            "--password-stdin",
        ],
        pw,
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let s = out(&o);
    assert!(
        s.contains("not-configured.example is not a local domain")
            && s.contains("`domains`")
            && s.contains(&server.config.display().to_string())
            && s.contains("--add-domain")
            && !s.contains("created"),
        "{s}"
    );
    let o = server.cli(&["user", "list"], "");
    assert!(!out(&o).contains("not-configured"), "{}", out(&o));
    // An alias in a foreign domain: the same refusal.
    let o = server.cli(
        &["alias", "add", "sales@elsewhere.example", testkit::ALICE.0],
        "",
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("elsewhere.example is not a local domain")
            && out(&o).contains("`domains`"),
        "{}",
        out(&o)
    );
    // A refused password with --add-domain adds nothing.
    let o = server.cli(
        &[
            "user",
            "add",
            "x@not-configured.example",
            "--password-stdin",
            "--add-domain",
        ],
        "short\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(!out(&o).contains("added"), "{}", out(&o));
    // --add-domain: created, with a notice that says where the domain is kept.
    let o = server.cli(
        &[
            "user",
            "add",
            "X@Not-Configured.example",
            "--password-stdin",
            "--add-domain",
        ],
        pw,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let s = out(&o);
    assert!(
        s.contains("created x@not-configured.example")
            && s.contains("added not-configured.example to the local domains kept in the store"),
        "{s}"
    );
    // The domain is local now: an alias there needs no flag.
    let o = server.cli(
        &[
            "alias",
            "add",
            "info@not-configured.example",
            "x@not-configured.example",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // The config file is untouched.
    let text = std::fs::read_to_string(&server.config).expect("config");
    assert!(!text.contains("not-configured"), "{text}");

    // The server merges the store's domains with `domains`: port 25 delivers to the account
    // (and to its alias) instead of refusing it as relay.
    server.restart();
    for rcpt in ["x@not-configured.example", "info@not-configured.example"] {
        drop(
            testkit::Line::smtp_deliver(
                server.port("smtp"),
                "someone@example.org",
                rcpt,
                &format!("Subject: to {rcpt}\r\n\r\nhello"),
            )
            .await,
        );
    }
    let r = testkit::http::request(
        server.port("http"),
        "GET",
        "/api/accounts/x@not-configured.example/messages",
        Some(server.admin_token()),
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{}", r.text());
    // Still unknown elsewhere: the inbound role refuses another foreign domain as relay.
    let mut w = testkit::Line::connect(server.port("smtp")).await;
    assert!(w.smtp_reply().await.starts_with("220"));
    for cmd in ["EHLO client.example", "MAIL FROM:<someone@example.org>"] {
        assert!(w.smtp(cmd).await.starts_with("250"), "{cmd}");
    }
    let reply = w.smtp("RCPT TO:<x@still-foreign.example>").await;
    assert!(reply.starts_with("550"), "{reply}");
}
