//! The login log (docs/spec.md §7.4): one line per attempt with address, client IP, protocol
//! and mechanism — failures at INFO, lockouts and refused attempts at WARN, successes at
//! DEBUG — and never the password.

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use auth::{LoginFrom, Secret};

const PW: &str = "correct horse battery staple";
const WRONG: &str = "wrong-horse-battery-9931";

/// Everything the subscriber writes, for the assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

fn from(ip: IpAddr, protocol: &'static str, mechanism: &'static str) -> LoginFrom {
    LoginFrom {
        ip,
        protocol,
        mechanism,
    }
}

#[tokio::test]
async fn every_attempt_is_logged_once_without_the_password() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The current-thread runtime of this test runs every log call on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let (_dir, auth) = testkit::accounts::temp_auth();
    auth.add_user("alice@example.test", &PW.into(), None)
        .await
        .expect("add");
    let ip: IpAddr = [192, 0, 2, 7].into();

    // A wrong password over IMAP AUTHENTICATE PLAIN.
    assert!(auth
        .login(
            "Alice@Example.test",
            &WRONG.into(),
            &from(ip, "imap", "PLAIN")
        )
        .await
        .is_err());
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("login failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{text}"));
    for needle in [
        " INFO ",
        "mailstack::auth",
        "address=\"alice@example.test\"",
        "ip=192.0.2.7",
        "protocol=\"imap\"",
        "mechanism=\"PLAIN\"",
        "reason=\"wrong password\"",
    ] {
        assert!(line.contains(needle), "{needle} missing: {line}");
    }

    // An unknown account over POP3 USER/PASS: the log says so (the client is not told).
    let _ = auth
        .login(
            "nobody@example.test",
            &WRONG.into(),
            &from(ip, "pop3", "USER/PASS"),
        )
        .await;
    let text = log.text();
    assert!(
        text.lines()
            .any(|l| l.contains("address=\"nobody@example.test\"")
                && l.contains("reason=\"no such account\"")
                && l.contains("mechanism=\"USER/PASS\"")),
        "{text}"
    );

    // A success over SMTP: DEBUG.
    auth.login("alice@example.test", &PW.into(), &from(ip, "smtp", "LOGIN"))
        .await
        .expect("right password");
    let text = log.text();
    assert!(
        text.lines().any(|l| l.contains("DEBUG")
            && l.contains("login succeeded")
            && l.contains("protocol=\"smtp\"")),
        "{text}"
    );

    // Brute force across accounts from one address: one WARN when it is locked out, then a
    // WARN for each refused attempt (whose password is not even checked).
    let attacker: IpAddr = [198, 51, 100, 9].into();
    for i in 0..30 {
        let _ = auth
            .login(
                &format!("user{i}@example.test"),
                &Secret::new(format!("{WRONG}-{i}")),
                &from(attacker, "imap", "LOGIN command"),
            )
            .await;
    }
    let _ = auth
        .login(
            "alice@example.test",
            &PW.into(),
            &from(attacker, "imap", "LOGIN command"),
        )
        .await;
    let text = log.text();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 2, "{text}");
    assert!(
        warns[0].contains("locked out") && warns[0].contains("ip=198.51.100.9"),
        "{}",
        warns[0]
    );
    assert!(
        warns[1].contains("login refused") && warns[1].contains("address=\"alice@example.test\""),
        "{}",
        warns[1]
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("login failed")).count(),
        32,
        "one line per failed attempt:\n{text}"
    );

    // Never a password, right or wrong.
    assert!(!text.contains(PW) && !text.contains(WRONG), "{text}");
}

#[tokio::test]
async fn junk_user_names_are_cut_and_escaped() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (_dir, auth) = testkit::accounts::temp_auth();
    let junk = format!("evil\nINFO forged line {}", "x".repeat(5000));
    let _ = auth
        .login(
            &junk,
            &WRONG.into(),
            &from([192, 0, 2, 1].into(), "pop3", "USER/PASS"),
        )
        .await;
    let text = log.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("evil\\nINFO forged"), "{text}");
    assert!(text.len() < 600, "{} bytes logged", text.len());
}
