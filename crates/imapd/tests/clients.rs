//! Real third-party clients against the in-process server: Python imaplib (plain, STARTTLS,
//! IMAPS), curl imap://. Skipped with a message when the client binary is missing.
mod common;
use common::*;

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
    s.append("INBOX", &message("seed", "x")).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imaplib_client.py");
    for (mode, port) in [("plain", s.port), ("starttls", s.port), ("ssl", s.tls_port)] {
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
    s.append("INBOX", &message("curl-one", "first body")).await;
    let base = format!("imap://127.0.0.1:{}", s.port);
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
    assert_eq!(s.mailbox("Drafts").exists, 1);
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
