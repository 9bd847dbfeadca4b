//! mbsync (isync) two-way sync against the server: IMAP → Maildir, a new local folder and a
//! new local message go back up. Skipped when mbsync is missing.
use testkit::mail::dated as message;
use testkit::Stack;

const USER: &str = "alice@example.test";
const PASS: &str = testkit::PASSWORD;

/// Every daemon on a temporary store with alice; IMAP greets as `localhost`.
async fn start() -> Stack {
    Stack::builder().user(USER).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_two_way() {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v mbsync"])
        .output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("mbsync missing; skipped");
        return;
    }
    let s = start().await;
    s.append(USER, "INBOX", &message("for-mbsync", "synced body"))
        .await;
    let d = s.dir.path();
    let mail = d.join("mail");
    std::fs::create_dir_all(&mail).expect("mkdir");
    // isync ≥ 1.5 spells it TLSType, older ones SSLType.
    let ver = std::process::Command::new("mbsync")
        .arg("--version")
        .output()
        .expect("mbsync");
    let ver = String::from_utf8_lossy(&ver.stdout).to_string();
    let tls_kw = if ver.contains("1.4") || ver.contains("1.3") {
        "SSLType"
    } else {
        "TLSType"
    };
    let rc = format!(
        "IMAPAccount acc\nHost 127.0.0.1\nPort {}\nUser {USER}\nPass \"{PASS}\"\n{tls_kw} None\nAuthMechs LOGIN\n\n\
         IMAPStore remote\nAccount acc\n\nMaildirStore local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
         Channel ch\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
        s.port("imap"),
        mail.display(),
        mail.display()
    );
    let rcfile = d.join("mbsyncrc");
    std::fs::write(&rcfile, rc).expect("rc");
    let sync = || async {
        let out = tokio::process::Command::new("mbsync")
            .args(["-c", &rcfile.to_string_lossy(), "-a"])
            .output()
            .await
            .expect("spawn mbsync");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "mbsync failed: {text}");
    };
    sync().await;
    let inbox_new = std::fs::read_dir(mail.join("INBOX/new"))
        .expect("INBOX/new")
        .count()
        + std::fs::read_dir(mail.join("INBOX/cur"))
            .expect("INBOX/cur")
            .count();
    assert_eq!(inbox_new, 1, "message pulled down");
    assert!(
        mail.join("Sent").exists(),
        "special-use folder created locally"
    );
    // A new local folder with a message → created on the server (two-way).
    let nf = mail.join("Local");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(nf.join(sub)).expect("maildir");
    }
    std::fs::write(
        nf.join("new/1.local:2,"),
        message("pushed-up", "from maildir"),
    )
    .expect("msg");
    sync().await;
    let mb = s.mailbox(USER, "Local");
    assert_eq!(mb.exists, 1, "pushed to the server");
}
