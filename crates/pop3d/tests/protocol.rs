//! Every command and every -ERR path of the AUTHORIZATION and TRANSACTION states, through a
//! scripted line client against the server on 127.0.0.1:0.

use testkit::{message, Daemon, Pop3, Stack, StackBuilder, PASSWORD};

const ALICE: &str = "alice@example.test";

/// POP3 alone (plain with STLS, and pop3s) on a temporary store, greeting as pop.example.test,
/// every session traced.
fn pop3() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Pop3])
        .hostname("pop.example.test")
        .trace(true)
}

async fn start() -> Stack {
    pop3().start().await
}

fn b64(s: &str) -> String {
    auth::sasl::encode_base64(s.as_bytes())
}

#[tokio::test]
async fn greeting_capa_and_quit() {
    let srv = start().await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    let g = c.line().await;
    assert!(g.starts_with("+OK pop.example.test"), "{g}");
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = c.multi().await;
    for want in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN LOGIN",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE NEVER",
        "STLS",
        "IMPLEMENTATION mailstack",
    ] {
        assert!(
            caps.iter().any(|c| c == want),
            "{want} missing from {caps:?}"
        );
    }
    assert_eq!(caps.len(), 10, "{caps:?}");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn transaction_commands() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let m1 = message("first", "one\r\n");
    let m2 = message("second", "two\r\nlines\r\n");
    let u1 = srv.deliver(&a, &m1).await;
    let u2 = srv.deliver(&a, &m2).await;
    let validity = srv.inbox(&a).uidvalidity;
    let mut c = srv.pop3_login(ALICE).await;

    let total = m1.len() + m2.len();
    assert_eq!(c.cmd("STAT").await, format!("+OK 2 {total}"));
    assert!(c.cmd("LIST").await.starts_with("+OK 2 messages"));
    assert_eq!(
        c.multi().await,
        vec![format!("1 {}", m1.len()), format!("2 {}", m2.len())]
    );
    assert_eq!(c.cmd("LIST 2").await, format!("+OK 2 {}", m2.len()));
    assert!(c.cmd("UIDL").await.starts_with("+OK"));
    assert_eq!(
        c.multi().await,
        vec![format!("1 {validity}.{u1}"), format!("2 {validity}.{u2}")]
    );
    assert_eq!(c.cmd("UIDL 1").await, format!("+OK 1 {validity}.{u1}"));
    assert_eq!(c.cmd("RETR 1").await, format!("+OK {} octets", m1.len()));
    assert_eq!(c.multi_raw().await, m1);
    assert!(c.cmd("TOP 2 1").await.starts_with("+OK"));
    let top = c.multi().await;
    assert_eq!(top.last().map(String::as_str), Some("two"));
    assert_eq!(c.cmd("NOOP").await, "+OK");
    // CAPA works after login too.
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(c.multi().await.iter().any(|l| l == "EXPIRE NEVER"));

    // DELE / RSET / -ERR paths.
    assert_eq!(c.cmd("DELE 1").await, "+OK message 1 deleted");
    assert_eq!(c.cmd("DELE 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.cmd("RETR 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.cmd("TOP 1 0").await, "-ERR message 1 already deleted");
    assert_eq!(c.cmd("LIST 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.cmd("UIDL 1").await, "-ERR message 1 already deleted");
    assert_eq!(c.cmd("STAT").await, format!("+OK 1 {}", m2.len()));
    assert!(c.cmd("LIST").await.starts_with("+OK 1 message ("));
    assert_eq!(c.multi().await, vec![format!("2 {}", m2.len())]);
    assert!(c
        .cmd("RSET")
        .await
        .starts_with("+OK maildrop has 2 messages"));
    assert_eq!(c.cmd("STAT").await, format!("+OK 2 {total}"));
    for bad in ["RETR 3", "RETR 0", "LIST 9", "UIDL 3", "DELE 3", "TOP 3 1"] {
        assert!(
            c.cmd(bad).await.starts_with("-ERR no such message"),
            "{bad}"
        );
    }
    // Syntax errors and wrong-state commands.
    assert_eq!(c.cmd("RETR").await, "-ERR a message number is required");
    assert_eq!(c.cmd("RETR x").await, "-ERR invalid message number");
    assert_eq!(
        c.cmd("TOP 1").await,
        "-ERR TOP needs a message number and a line count"
    );
    assert_eq!(
        c.cmd("USER bob@example.test").await,
        "-ERR USER is not valid in this state"
    );
    assert_eq!(
        c.cmd("PASS x").await,
        "-ERR PASS is not valid in this state"
    );
    assert_eq!(
        c.cmd("AUTH PLAIN").await,
        "-ERR AUTH is not valid in this state"
    );
    assert!(c
        .cmd("STLS")
        .await
        .starts_with("-ERR STLS is only valid before login"));
    assert_eq!(c.cmd("XYZZY").await, "-ERR unknown command");
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert!(c.closed().await);
    assert_eq!(srv.uids(&a), vec![u1, u2], "RSET undid the DELE");
}

#[tokio::test]
async fn authorization_errors() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    for cmd in [
        "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL",
    ] {
        let r = c.cmd(cmd).await;
        assert!(
            r.starts_with("-ERR") && r.ends_with("is not valid in this state"),
            "{cmd}: {r}"
        );
    }
    assert_eq!(c.cmd("PASS whatever").await, "-ERR send USER first");
    assert_eq!(
        c.cmd("USER").await,
        "-ERR USER needs a user name (your e-mail address)"
    );
    // Bad credentials: [AUTH] (RFC 3206), the same for unknown users; PASS then needs USER again.
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert_eq!(
        c.cmd("PASS wrong password 1").await,
        "-ERR [AUTH] invalid user name or password"
    );
    assert_eq!(
        c.cmd(&format!("PASS {PASSWORD}")).await,
        "-ERR send USER first"
    );
    assert!(c.cmd("USER nobody@example.test").await.starts_with("+OK"));
    assert_eq!(
        c.cmd(&format!("PASS {PASSWORD}")).await,
        "-ERR [AUTH] invalid user name or password"
    );
    // Case-insensitive address and a password with spaces.
    assert!(c.cmd("USER Alice@EXAMPLE.test").await.starts_with("+OK"));
    assert_eq!(
        c.cmd(&format!("PASS {PASSWORD}")).await,
        "+OK maildrop has 0 messages (0 octets)"
    );
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}

#[tokio::test]
async fn sasl_plain_and_login() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let plain = b64(&format!("\0{ALICE}\0{PASSWORD}"));

    // AUTH alone lists the mechanisms.
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert!(c.cmd("AUTH").await.starts_with("+OK"));
    assert_eq!(c.multi().await, vec!["PLAIN", "LOGIN"]);
    assert!(c
        .cmd("AUTH CRAM-MD5")
        .await
        .starts_with("-ERR unsupported SASL mechanism"));
    // Initial response.
    assert!(c
        .cmd(&format!("AUTH PLAIN {plain}"))
        .await
        .starts_with("+OK maildrop has"));
    c.cmd("QUIT").await;

    // Continuation with an empty challenge.
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert!(c.cmd(&plain).await.starts_with("+OK maildrop has"));
    c.cmd("QUIT").await;

    // LOGIN, a cancel, a bad password, bad base64.
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6");
    assert_eq!(c.cmd("*").await, "-ERR authentication cancelled");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(c.cmd("*").await, "-ERR authentication cancelled");
    assert_eq!(c.cmd("AUTH PLAIN !!!").await, "-ERR invalid base64");
    let wrong = b64(&format!("\0{ALICE}\0not the password"));
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {wrong}")).await,
        "-ERR [AUTH] invalid user name or password"
    );
    let proxy = b64(&format!("bob@example.test\0{ALICE}\0{PASSWORD}"));
    assert!(c
        .cmd(&format!("AUTH PLAIN {proxy}"))
        .await
        .starts_with("-ERR [AUTH]"));
    assert_eq!(c.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6");
    assert_eq!(c.cmd(&b64(ALICE)).await, "+ UGFzc3dvcmQ6");
    assert!(c.cmd(&b64(PASSWORD)).await.starts_with("+OK maildrop has"));
    c.cmd("QUIT").await;

    // LOGIN with the user name as initial response.
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(ALICE))).await,
        "+ UGFzc3dvcmQ6"
    );
    assert!(c.cmd(&b64(PASSWORD)).await.starts_with("+OK maildrop has"));
}

#[tokio::test]
async fn plaintext_refused_without_tls() {
    let srv = pop3().plaintext_from_loopback(false).start().await;
    srv.add_user(ALICE).await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = c.multi().await;
    assert!(
        !caps.iter().any(|c| c == "USER" || c.starts_with("SASL")),
        "{caps:?}"
    );
    assert!(caps.iter().any(|c| c == "STLS"));
    let r = c.cmd(&format!("USER {ALICE}")).await;
    assert!(
        r.starts_with("-ERR") && r.contains("STLS") && r.contains("995"),
        "{r}"
    );
    let r = c.cmd("AUTH PLAIN").await;
    assert!(r.starts_with("-ERR") && r.contains("STLS"), "{r}");
    // After STLS the same client may log in, and CAPA no longer offers STLS.
    assert!(c.cmd("STLS").await.starts_with("+OK"));
    c.start_tls(&srv.ca).await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = c.multi().await;
    assert!(
        caps.iter().any(|c| c == "USER") && !caps.iter().any(|c| c == "STLS"),
        "{caps:?}"
    );
    assert!(c
        .cmd("STLS")
        .await
        .starts_with("-ERR TLS is already active"));
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert!(c
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("+OK maildrop has"));
}

#[tokio::test]
async fn long_lines_and_bad_command_limit() {
    let srv = start().await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    let long = format!("USER {}", "x".repeat(600));
    assert_eq!(
        c.cmd(&long).await,
        "-ERR command line too long (at most 512 octets)"
    );
    // The rest of the line was discarded; the session goes on.
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    c.multi().await;
    // 1 error so far; 9 more close the connection.
    for i in 0..8 {
        assert_eq!(c.cmd(&format!("BOGUS{i}")).await, "-ERR unknown command");
    }
    assert_eq!(c.cmd("STAT 1 2").await, "-ERR no arguments expected");
    assert_eq!(
        c.line().await,
        "-ERR too many bad commands; closing connection"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn pipelined_commands() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    srv.deliver(&a, &message("p", "pipelined\r\n")).await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    c.send_raw(
        format!("USER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\nRETR 1\r\nNOOP\r\nQUIT\r\n").as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.line().await.starts_with("+OK maildrop has 1"));
    assert!(c.line().await.starts_with("+OK 1 "));
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.multi().await.contains(&"pipelined".to_string()));
    assert_eq!(c.line().await, "+OK");
    assert!(c.line().await.starts_with("+OK"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn throttled_logins_answer_sys_temp() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    let mut codes = Vec::new();
    for _ in 0..11 {
        assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
        codes.push(c.cmd("PASS wrong password 1").await);
    }
    assert!(
        codes[..10]
            .iter()
            .all(|r| r == "-ERR [AUTH] invalid user name or password"),
        "{codes:?}"
    );
    assert!(
        codes[10].starts_with("-ERR [SYS/TEMP] too many failed logins"),
        "{codes:?}"
    );
    // Even the right password is refused now, with the same answer (nothing revealed).
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert!(c
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("-ERR [SYS/TEMP] too many failed logins"));
}

#[tokio::test]
async fn shutdown_says_goodbye() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let mut c = srv.pop3_login(ALICE).await;
    let mut idle = Pop3::connect(srv.port("pop3")).await;
    idle.line().await;
    srv.stop();
    assert_eq!(c.line().await, "-ERR [SYS/TEMP] server shutting down");
    assert!(c.closed().await);
    assert_eq!(idle.line().await, "-ERR [SYS/TEMP] server shutting down");
    assert!(idle.closed().await);
}

#[test]
fn trace_redaction() {
    assert_eq!(
        pop3d::redact(b"PASS long password 123\r\n").as_deref(),
        Some("PASS <redacted>")
    );
    assert_eq!(
        pop3d::redact(b"AUTH PLAIN AGFAYgBj\r\n").as_deref(),
        Some("AUTH PLAIN <redacted>")
    );
    assert_eq!(pop3d::redact(b"STAT\r\n"), None);
}

/// RFC 2449 §6.5 / §8.1.1: with a login delay, CAPA advertises it and a second login of the
/// same account within it is refused with [LOGIN-DELAY] — after the credentials are checked,
/// so a wrong password still says [AUTH]; other accounts are not affected. Off by default
/// (greeting_capa_and_quit lists exactly ten capabilities, without LOGIN-DELAY).
#[tokio::test]
async fn login_delay_refuses_a_second_login_too_soon() {
    let limits = pop3d::Limits {
        login_delay: std::time::Duration::from_secs(3600),
        ..pop3d::Limits::default()
    };
    let srv = pop3().pop3_limits(limits).start().await;
    srv.add_user(ALICE).await;
    srv.add_user("bob@example.test").await;
    let port = srv.port("pop3");

    let mut c = Pop3::connect(port).await;
    c.line().await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(c.multi().await.iter().any(|l| l == "LOGIN-DELAY 3600"));
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert!(c
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("+OK maildrop has"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(c.multi().await.iter().any(|l| l == "LOGIN-DELAY 3600"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));

    let mut again = Pop3::connect(port).await;
    again.line().await;
    assert!(again.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert_eq!(
        again.cmd("PASS not the password").await,
        "-ERR [AUTH] invalid user name or password"
    );
    assert!(again.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    let r = again.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(
        r.starts_with("-ERR [LOGIN-DELAY] logged in less than 3600 s ago"),
        "{r}"
    );
    // SASL is held to the same rule.
    let plain = b64(&format!("\0{ALICE}\0{PASSWORD}"));
    let r = again.cmd(&format!("AUTH PLAIN {plain}")).await;
    assert!(r.starts_with("-ERR [LOGIN-DELAY]"), "{r}");
    // Still in AUTHORIZATION: another account logs in.
    assert!(again.cmd("STAT").await.starts_with("-ERR"));
    assert!(again.cmd("USER bob@example.test").await.starts_with("+OK"));
    let r = again.cmd(&format!("PASS {PASSWORD}")).await;
    assert!(r.starts_with("+OK maildrop has"), "{r}");
    assert!(again.cmd("STAT").await.starts_with("+OK"));
    assert!(again.cmd("QUIT").await.starts_with("+OK"));
}
