//! Weak passwords and public demo accounts (docs/spec.md §4), through the real CLI. `cli.rs` covers
//! `user add` with a short password and with the user name inside; this adds `passwd`, the
//! 1024-byte cap, control characters, case tricks, and `serve` refusing demo accounts on a
//! public address.

use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::process::{binary, cli, test_config};
use testkit::try_eventually_blocking;

use testkit::process::output_text as out;

#[test]
fn weak_passwords_are_refused_by_add_and_passwd() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    let add = |pw: &str| {
        cli(
            &cfg,
            &["user", "add", "carol@example.test", "--password-stdin"],
            &format!("{pw}\n"),
        )
    };
    let too_long = "x".repeat(1025);
    for (pw, why) in [
        ("eleven-char", "at least 12"),
        ("CAROL-rules-2026", "user name"),
        (too_long.as_str(), "longer than 1024"),
        ("tab\tinside-password", "control characters"),
    ] {
        let o = add(pw);
        assert_eq!(o.status.code(), Some(1), "{pw:.20}: {}", out(&o));
        assert!(out(&o).contains(why), "{pw:.20}: {}", out(&o));
    }
    let o = add("a perfectly fine secret");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let passwd = |pw: &str| {
        cli(
            &cfg,
            &["user", "passwd", "carol@example.test", "--password-stdin"],
            &format!("{pw}\n"),
        )
    };
    for (pw, why) in [
        ("short", "at least 12"),
        ("my-name-is-Carol!", "user name"),
        (too_long.as_str(), "longer than 1024"),
    ] {
        let o = passwd(pw);
        assert_eq!(o.status.code(), Some(1), "passwd {pw:.20}: {}", out(&o));
        assert!(out(&o).contains(why), "passwd {pw:.20}: {}", out(&o));
    }
    // A refused change leaves the old password working; a good one is accepted.
    let o = passwd("another fine secret");
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // Exactly 1024 bytes is allowed (the cap is inclusive).
    let o = passwd(&"y".repeat(1024));
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

/// Runs `serve` and expects it to refuse to start: exit 1 with `needle`, well before it could
/// have started serving.
fn serve_refuses(extra: &str, listeners: &str, needle: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("public.toml");
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"mail.example.test\"\ndata_dir = \"data\"\ndomains = [\"example.test\"]\n\
             outbound = \"reject\"\n[tls]\ncert = \"certs/server.crt\"\nkey = \"certs/server.key\"\n\
             generate = true\n[listeners]\n{listeners}\n{extra}"
        ),
    )
    .expect("write");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let exited = try_eventually_blocking(Duration::from_secs(60), || {
        child.try_wait().expect("wait").ok_or("still running")
    });
    let Ok(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve started with demo accounts on a public address");
    };
    let o = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains(needle), "{}", out(&o));
}

#[test]
fn demo_accounts_on_a_public_address_are_refused() {
    let demo =
        "[[demo_account]]\naddress = \"demo@example.test\"\npassword = \"public-demo-password\"\n";
    // Port 0 so that nothing real is bound if the check were missing.
    for listeners in [
        "imap = \"0.0.0.0:0\"",
        "smtp = \"127.0.0.1:0\"\nsubmission = \"[::]:0\"",
        "pop3 = \"127.0.0.1:0\"\npop3s = \"192.0.2.1:0\"",
    ] {
        serve_refuses(demo, listeners, "not on loopback");
    }
}
