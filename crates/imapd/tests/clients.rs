//! Real third-party clients against the in-process server: Python imaplib (plain, STARTTLS,
//! IMAPS), curl imap://. Skipped with a message when the client binary is missing.
use testkit::client::{pop3_dele_quit, smtp_send};
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";
const PASS: &str = testkit::PASSWORD;

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

fn have(bin: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run(cmd: &mut tokio::process::Command) -> (bool, String) {
    let out = cmd.output().await.expect("spawn");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let s = start().await;
    s.append(USER, "INBOX", &message("seed", "x")).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imaplib_client.py");
    for (mode, port) in [
        ("plain", s.port("imap")),
        ("starttls", s.port("imap")),
        ("ssl", s.port("imaps")),
    ] {
        let ca = s.ca.to_string_lossy().to_string();
        let (ok, out) = run(tokio::process::Command::new("python3").args([
            script,
            mode,
            &port.to_string(),
            &ca,
            USER,
            PASS,
        ]))
        .await;
        assert!(ok && out.contains("imaplib OK"), "imaplib {mode}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_imap() {
    if !have("curl") {
        eprintln!("curl missing; skipped");
        return;
    }
    let s = start().await;
    s.append(USER, "INBOX", &message("curl-one", "first body"))
        .await;
    let base = format!("imap://127.0.0.1:{}", s.port("imap"));
    let user = format!("{USER}:{PASS}");
    let curl = |args: &[&str]| {
        let mut c = tokio::process::Command::new("curl");
        c.args(["-sS", "--max-time", "30", "-u", &user]).args(args);
        c
    };
    // LIST.
    let (ok, out) = run(&mut curl(&[&format!("{base}/")])).await;
    assert!(ok && out.contains("INBOX") && out.contains("Sent"), "{out}");
    // FETCH by UID (RFC 5092 URL).
    let (ok, out) = run(&mut curl(&[&format!("{base}/INBOX;UID=1")])).await;
    assert!(
        ok && out.contains("first body") && out.contains("Subject: curl-one"),
        "{out}"
    );
    // APPEND with -T.
    let file = s.dir.path().join("up.eml");
    std::fs::write(&file, message("uploaded", "via curl")).expect("write");
    let (ok, out) = run(&mut curl(&[
        "-T",
        &file.to_string_lossy(),
        &format!("{base}/Drafts"),
    ]))
    .await;
    assert!(ok, "{out}");
    assert_eq!(s.mailbox(USER, "Drafts").exists, 1);
    // Custom command.
    let (ok, out) = run(&mut curl(&[
        "-X",
        "SEARCH SUBJECT curl",
        &format!("{base}/INBOX"),
    ]))
    .await;
    assert!(ok && out.contains("SEARCH 1"), "{out}");
    let (ok, out) = run(&mut curl(&[
        "-X",
        "STATUS Drafts (MESSAGES)",
        &format!("{base}/"),
    ]))
    .await;
    assert!(ok && out.contains("MESSAGES 1"), "{out}");
}

/// Python imaplib with raw IDLE (send/readline), ENABLE QRESYNC and GETQUOTAROOT; the test
/// delivers over the real SMTP server and deletes over the real POP3 server while it idles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_idle_quota() {
    use tokio::io::AsyncBufReadExt;
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let s = start().await;
    let smtp = s.port("smtp");
    let pop3 = s.port("pop3");
    s.store
        .update_account(USER, |a| a.quota_bytes = Some(1024 * 1024))
        .await
        .expect("quota");
    s.append(USER, "INBOX", &message("first", "x")).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imaplib_idle.py");
    let mut child = tokio::process::Command::new("python3")
        .args([script, &s.port("imap").to_string(), USER, PASS])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    async fn next(
        lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    ) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default()
    }
    let l = next(&mut lines).await;
    if l != "IDLING" {
        let out = child.wait_with_output().await.expect("wait");
        panic!("{l:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    let r = smtp_send(smtp, USER, &message("second", "y")).await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(next(&mut lines).await, "GOT-EXISTS");
    pop3_dele_quit(pop3, USER, PASS, &[1]).await;
    let l = next(&mut lines).await;
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(
        l,
        "imaplib idle OK",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// curl custom requests (-X): GETQUOTAROOT and SEARCH RETURN (ESEARCH).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_quota_esearch() {
    if !have("curl") {
        eprintln!("curl missing; skipped");
        return;
    }
    let s = start().await;
    s.store
        .update_account(USER, |a| {
            a.quota_bytes = Some(100 * 1024);
            a.quota_messages = Some(50);
        })
        .await
        .expect("quota");
    for i in 1..=3 {
        s.append(USER, "INBOX", &message(&format!("c{i}"), "x"))
            .await;
    }
    let base = format!("imap://127.0.0.1:{}", s.port("imap"));
    let user = format!("{USER}:{PASS}");
    let curl = |args: &[&str]| {
        let mut c = tokio::process::Command::new("curl");
        c.args(["-sS", "--max-time", "30", "-u", &user]).args(args);
        c
    };
    let (ok, out) = run(&mut curl(&[
        "-X",
        "GETQUOTAROOT INBOX",
        &format!("{base}/"),
    ]))
    .await;
    assert!(
        ok && out.contains("* QUOTAROOT \"INBOX\" \"\"")
            && out.contains("* QUOTA \"\" (STORAGE 1 100 MESSAGE 3 50)"),
        "{out}"
    );
    let (ok, out) = run(&mut curl(&[
        "-X",
        "SEARCH RETURN (MIN MAX COUNT) ALL",
        &format!("{base}/INBOX"),
    ]))
    .await;
    assert!(ok && out.contains("MIN 1 MAX 3 COUNT 3"), "{out}");
    assert!(out.contains("* ESEARCH (TAG "), "{out}");
}
