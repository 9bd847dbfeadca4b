//! ManageSieve (RFC 5804) end to end: the protocol line by line (every command, response
//! codes, literals, limits, STARTTLS), two sessions on one account, a script uploaded over
//! ManageSieve acting on the next SMTP delivery, and the third-party client `sieve-connect`
//! (upload, activate, list, download, delete over STARTTLS).

use std::process::Stdio;
use std::time::Duration;

use testkit::{Line, Stack, PASSWORD};
use tokio::io::AsyncWriteExt;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

async fn stack() -> Stack {
    let s = Stack::builder().start().await;
    s.add_user(ALICE).await;
    s.add_user(BOB).await;
    s
}

/// Reads lines up to and including the status line (`OK`/`NO`/`BYE`).
async fn answer(c: &mut Line) -> (Vec<String>, String) {
    let mut lines = Vec::new();
    loop {
        let l = c.line().await.expect("connection closed");
        if l.starts_with("OK") || l.starts_with("NO") || l.starts_with("BYE") {
            return (lines, l);
        }
        lines.push(l);
    }
}

async fn cmd(c: &mut Line, text: &str) -> (Vec<String>, String) {
    c.send(format!("{text}\r\n")).await.expect("write");
    answer(c).await
}

fn plain(user: &str) -> String {
    auth::sasl::encode_base64(format!("\0{user}\0{PASSWORD}").as_bytes())
}

async fn login(s: &Stack, user: &str) -> Line {
    let mut c = Line::connect(s.port("managesieve")).await;
    answer(&mut c).await;
    let (_, st) = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"", plain(user)),
    )
    .await;
    assert!(st.starts_with("OK"), "{st}");
    c
}

fn literal(script: &str) -> String {
    format!("{{{}+}}\r\n{script}", script.len())
}

const VACATION: &str = "require \"vacation\";\r\nvacation :days 1 \"away\";\r\n";

#[tokio::test]
async fn every_command_and_its_codes() {
    let s = stack().await;
    let mut c = Line::connect(s.port("managesieve")).await;
    let (caps, ok) = answer(&mut c).await;
    assert!(ok.starts_with("OK"), "{ok}");
    for want in [
        "\"IMPLEMENTATION\"",
        "\"SASL\" \"PLAIN LOGIN\"",
        "\"STARTTLS\"",
        "\"VERSION\" \"1.0\"",
    ] {
        assert!(caps.iter().any(|l| l.starts_with(want)), "{want}: {caps:?}");
    }
    let sieve = caps
        .iter()
        .find(|l| l.starts_with("\"SIEVE\""))
        .expect("SIEVE");
    for ext in [
        "fileinto",
        "vacation",
        "copy",
        "imap4flags",
        "date",
        "relational",
        "body",
        "variables",
    ] {
        assert!(sieve.contains(ext), "{ext}: {sieve}");
    }
    // Not authenticated yet.
    assert!(cmd(&mut c, "LISTSCRIPTS").await.1.starts_with("NO"));
    // Wrong password, then LOGIN with quoted responses (RFC 5804 §2.1).
    let bad = auth::sasl::encode_base64(format!("\0{ALICE}\0wrong").as_bytes());
    let (_, st) = cmd(&mut c, &format!("AUTHENTICATE \"PLAIN\" \"{bad}\"")).await;
    assert!(st.starts_with("NO"), "{st}");
    c.send("AUTHENTICATE \"LOGIN\"\r\n").await.expect("write");
    assert!(c.line().await.expect("challenge").starts_with('"'));
    c.send(format!(
        "\"{}\"\r\n",
        auth::sasl::encode_base64(ALICE.as_bytes())
    ))
    .await
    .expect("write");
    assert!(c.line().await.expect("challenge").starts_with('"'));
    let pass = auth::sasl::encode_base64(PASSWORD.as_bytes());
    c.send(format!("{{{}+}}\r\n{pass}\r\n", pass.len()))
        .await
        .expect("write");
    let (_, st) = answer(&mut c).await;
    assert!(st.starts_with("OK"), "{st}");

    // PUTSCRIPT with a literal; a broken script is refused with its line.
    let (_, st) = cmd(&mut c, &format!("PUTSCRIPT \"away\" {}", literal(VACATION))).await;
    assert_eq!(st, "OK");
    let broken = "require \"vacation\";\r\nkeep;\r\nfrobnicate;\r\n";
    let (_, st) = cmd(&mut c, &format!("PUTSCRIPT \"broken\" {}", literal(broken))).await;
    assert!(st.starts_with("NO") && st.contains("line 3"), "{st}");
    let (_, st) = cmd(&mut c, &format!("CHECKSCRIPT {}", literal(broken))).await;
    assert!(st.starts_with("NO") && st.contains("line 3"), "{st}");
    assert_eq!(
        cmd(&mut c, &format!("CHECKSCRIPT {}", literal("keep;")))
            .await
            .1,
        "OK"
    );
    let (lines, st) = cmd(&mut c, "LISTSCRIPTS").await;
    assert_eq!((lines, st.as_str()), (vec!["\"away\"".to_string()], "OK"));
    assert_eq!(cmd(&mut c, "SETACTIVE \"away\"").await.1, "OK");
    let (lines, _) = cmd(&mut c, "LISTSCRIPTS").await;
    assert_eq!(lines, ["\"away\" ACTIVE"]);
    let (st_nonexistent, missing) = cmd(&mut c, "SETACTIVE \"nope\"").await;
    assert!(
        st_nonexistent.is_empty() && missing.starts_with("NO (NONEXISTENT)"),
        "{missing}"
    );
    // GETSCRIPT: a literal, then OK.
    c.send("GETSCRIPT \"away\"\r\n").await.expect("write");
    assert_eq!(
        c.line().await.as_deref(),
        Some(format!("{{{}}}", VACATION.len()).as_str())
    );
    assert_eq!(c.read_exact(VACATION.len()).await, VACATION.as_bytes());
    assert_eq!(c.line().await.as_deref(), Some(""));
    assert_eq!(c.line().await.as_deref(), Some("OK"));
    assert!(cmd(&mut c, "DELETESCRIPT \"away\"")
        .await
        .1
        .starts_with("NO (ACTIVE)"));
    assert_eq!(
        cmd(&mut c, "RENAMESCRIPT \"away\" \"holiday\"").await.1,
        "OK"
    );
    assert_eq!(cmd(&mut c, "LISTSCRIPTS").await.0, ["\"holiday\" ACTIVE"]);
    assert_eq!(
        cmd(&mut c, &format!("PUTSCRIPT \"other\" {}", literal("keep;")))
            .await
            .1,
        "OK"
    );
    assert!(cmd(&mut c, "RENAMESCRIPT \"other\" \"holiday\"")
        .await
        .1
        .starts_with("NO (ALREADYEXISTS)"));
    assert_eq!(cmd(&mut c, "HAVESPACE \"x\" 1000").await.1, "OK");
    assert!(cmd(&mut c, "HAVESPACE \"x\" 999999999")
        .await
        .1
        .starts_with("NO (QUOTA/MAXSIZE)"));
    // An oversized literal is read and refused, and the session goes on.
    let big = "#".repeat(200 * 1024);
    assert!(cmd(&mut c, &format!("PUTSCRIPT \"big\" {}", literal(&big)))
        .await
        .1
        .starts_with("NO (QUOTA/MAXSIZE)"));
    assert_eq!(
        cmd(&mut c, "NOOP \"sync-1\"").await.1,
        "OK (TAG \"sync-1\") \"Done\""
    );
    assert_eq!(cmd(&mut c, "SETACTIVE \"\"").await.1, "OK");
    assert_eq!(cmd(&mut c, "DELETESCRIPT \"holiday\"").await.1, "OK");
    // Bad input: a clear NO, never a dropped connection.
    for bad in [
        "FROB",
        "GETSCRIPT",
        "PUTSCRIPT \"x\" {abc}",
        "GETSCRIPT \"unterminated",
    ] {
        assert!(cmd(&mut c, bad).await.1.starts_with("NO"), "{bad}");
    }
    assert!(cmd(&mut c, "LOGOUT").await.1.starts_with("OK"));
    assert!(c.line().await.is_none(), "closed after LOGOUT");
}

#[tokio::test]
async fn starttls_sends_the_capabilities_again() {
    let s = stack().await;
    let mut c = Line::connect(s.port("managesieve")).await;
    answer(&mut c).await;
    let (_, st) = cmd(&mut c, "STARTTLS").await;
    assert!(st.starts_with("OK"), "{st}");
    c.upgrade(&s.ca).await;
    let (caps, ok) = answer(&mut c).await;
    assert!(ok.starts_with("OK"), "{ok}");
    assert!(
        !caps.iter().any(|l| l.starts_with("\"STARTTLS\"")),
        "{caps:?}"
    );
    let (_, st) = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"", plain(ALICE)),
    )
    .await;
    assert!(st.starts_with("OK"), "{st}");
    let (caps, _) = cmd(&mut c, "CAPABILITY").await;
    assert!(caps.contains(&format!("\"OWNER\" \"{ALICE}\"")), "{caps:?}");
}

/// What one session changes, another sees at once; delivery uses the script activated a
/// moment ago.
#[tokio::test]
async fn two_sessions_and_the_next_delivery() {
    let s = stack().await;
    let mut a = login(&s, ALICE).await;
    let mut b = login(&s, ALICE).await;
    assert_eq!(
        cmd(&mut a, &format!("PUTSCRIPT \"away\" {}", literal(VACATION)))
            .await
            .1,
        "OK"
    );
    assert_eq!(cmd(&mut b, "SETACTIVE \"away\"").await.1, "OK");
    assert_eq!(cmd(&mut a, "LISTSCRIPTS").await.0, ["\"away\" ACTIVE"]);
    // Deleting in one session what the other renames: one wins, the other gets a code.
    let (ra, rb) = tokio::join!(
        cmd(&mut a, "RENAMESCRIPT \"away\" \"x\""),
        cmd(&mut b, "RENAMESCRIPT \"away\" \"y\"")
    );
    let oks = [&ra.1, &rb.1].iter().filter(|s| s.as_str() == "OK").count();
    assert_eq!(oks, 1, "{ra:?} {rb:?}");
    assert!(ra.1.starts_with("NO (NONEXISTENT)") || rb.1.starts_with("NO (NONEXISTENT)"));

    let mut smtp = s.smtp("smtp").await;
    smtp.ehlo().await;
    let msg =
        format!("From: {BOB}\r\nTo: {ALICE}\r\nSubject: hi\r\nMessage-ID: <hi@test>\r\n\r\nhi\r\n");
    assert_eq!(smtp.send_mail(BOB, &[ALICE], &msg).await.0, 250);
    assert_eq!(s.count(BOB, "INBOX"), 1, "the vacation reply");
}

/// `sieve-connect` (Debian) over STARTTLS: upload, activate, list, download, delete.
#[tokio::test]
async fn sieve_connect_manages_scripts() {
    if !testkit::have("sieve-connect") {
        let msg = "sieve-connect is not installed (make deps)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let s = stack().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("vacation.sieve");
    std::fs::write(&local, VACATION).expect("write");
    let port = s.port("managesieve").to_string();
    let ca = s.ca.display().to_string();
    let run = |args: Vec<String>| {
        let port = port.clone();
        let ca = ca.clone();
        async move {
            let mut cmd = tokio::process::Command::new("sieve-connect");
            cmd.args(["--server", "127.0.0.1", "--port", &port, "--user", ALICE])
                .args([
                    "--passwordfd",
                    "0",
                    "--tlscafile",
                    &ca,
                    "--tlshostname",
                    "localhost",
                ])
                .args(["--authmech", "PLAIN"])
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child = cmd.spawn().expect("spawn sieve-connect");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(format!("{PASSWORD}\n").as_bytes())
                .await
                .expect("password");
            drop(stdin);
            let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("sieve-connect timed out")
                .expect("sieve-connect");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "sieve-connect {args:?}: {text}");
            text
        }
    };
    let l = local.display().to_string();
    run(vec![
        "--upload".into(),
        "--localsieve".into(),
        l,
        "--remotesieve".into(),
        "away".into(),
    ])
    .await;
    run(vec![
        "--activate".into(),
        "--remotesieve".into(),
        "away".into(),
    ])
    .await;
    let listed = run(vec!["--list".into()]).await;
    assert!(
        listed.contains("away") && listed.to_lowercase().contains("active"),
        "{listed}"
    );
    let back = dir.path().join("back.sieve");
    run(vec![
        "--download".into(),
        "--remotesieve".into(),
        "away".into(),
        "--localsieve".into(),
        back.display().to_string(),
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(&back).expect("downloaded"),
        VACATION
    );
    let a = s.account(ALICE);
    assert_eq!(
        s.store
            .active_sieve_script(a.id)
            .expect("active")
            .map(|(n, _)| n),
        Some("away".into())
    );
    run(vec!["--deactivate".into()]).await;
    run(vec![
        "--delete".into(),
        "--remotesieve".into(),
        "away".into(),
    ])
    .await;
    assert!(s.store.sieve_scripts(a.id).expect("list").is_empty());
}

/// Bad authentication input: an unknown mechanism, a cancelled exchange, a response that is
/// not a string, and plaintext refused without TLS where the plaintext rule says so
/// (RFC 5804 §1.3 ENCRYPT-NEEDED) — then allowed after STARTTLS.
#[tokio::test]
async fn authentication_refusals() {
    let s = Stack::builder()
        .plaintext_from_loopback(false)
        .start()
        .await;
    s.add_user(ALICE).await;
    let mut c = Line::connect(s.port("managesieve")).await;
    let (caps, _) = answer(&mut c).await;
    assert!(
        caps.contains(&"\"SASL\" \"\"".to_string()),
        "no plaintext mechanism offered: {caps:?}"
    );
    let (_, st) = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"", plain(ALICE)),
    )
    .await;
    assert!(st.starts_with("NO (ENCRYPT-NEEDED)"), "{st}");
    assert!(cmd(&mut c, "AUTHENTICATE \"CRAM-MD5\"")
        .await
        .1
        .starts_with("NO"));
    assert!(cmd(&mut c, "STARTTLS").await.1.starts_with("OK"));
    c.upgrade(&s.ca).await;
    answer(&mut c).await;
    c.send("AUTHENTICATE \"LOGIN\"\r\n").await.expect("write");
    c.line().await.expect("challenge");
    c.send("\"*\"\r\n").await.expect("write");
    let (_, st) = answer(&mut c).await;
    assert!(st.starts_with("NO") && st.contains("cancelled"), "{st}");
    c.send("AUTHENTICATE \"LOGIN\"\r\n").await.expect("write");
    c.line().await.expect("challenge");
    c.send("not-a-string\r\n").await.expect("write");
    assert!(answer(&mut c).await.1.starts_with("NO"));
    let (_, st) = cmd(
        &mut c,
        &format!("AUTHENTICATE \"PLAIN\" \"{}\"", plain(ALICE)),
    )
    .await;
    assert!(st.starts_with("OK"), "{st}");
    assert!(
        cmd(&mut c, "STARTTLS").await.1.starts_with("NO"),
        "not after login"
    );
}
