//! End to end with real third-party clients against the in-process server: Python smtplib
//! (submission + STARTTLS, submissions with the generated CA, inbound), swaks (AUTH PLAIN and
//! LOGIN, --pipeline, a 10 MiB attachment), msmtp and curl (`smtp://` with `--ssl-reqd`).
//! Each delivered message is read back from the store and compared byte for byte.
//!
//! Needs: python3, swaks, msmtp, curl (Debian packages `python3 swaks msmtp curl`).

use std::path::Path;
use std::process::{Command, Output};

use testkit::mail::strip_trace;
use testkit::{Daemon, Stack, StackBuilder, PASSWORD};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const HOST: &str = "mail.example.test";

/// The SMTP server's three roles (`smtp`, `submission`, `submissions`) on a temporary store
/// with alice and bob, as mail.example.test.
fn smtp() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Smtp])
        .hostname(HOST)
        .user(ALICE)
        .user(BOB)
}

/// The message every client sends: a dot-leading line tests transparency end to end.
const MESSAGE: &str = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: real client\r\n\
Date: Tue, 1 Jul 2025 10:00:00 +0000\r\nMessage-ID: <t1@example.test>\r\n\r\nHello from a real client.\r\n\
.a line that starts with a dot\r\n\r\nBye.\r\n";

async fn run(mut cmd: Command) -> Output {
    let name = format!("{:?}", cmd.get_program());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}): install it (see this file's doc)"));
    out
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "client failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_message(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("message.eml");
    std::fs::write(&p, MESSAGE).expect("write message");
    p
}

/// The last message in bob's INBOX equals MESSAGE after the trace headers.
fn check_delivered(s: &Stack) {
    let inbox = s.inbox_bytes(BOB);
    let msg = inbox.last().expect("a message for bob");
    assert_eq!(String::from_utf8_lossy(strip_trace(msg)), MESSAGE);
}

const PY_SUBMISSION: &str = r#"
import smtplib, ssl, sys
port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = open(path, "rb").read()
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("127.0.0.1", port, local_hostname="py.client") as s:
    s.ehlo()
    # Unauthenticated submission is refused with 530.
    try:
        s.sendmail("alice@example.test", ["bob@example.test"], msg)
        sys.exit("unauthenticated mail accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 530, e
    s.starttls(context=ctx)
    s.ehlo()
    assert "auth" in s.esmtp_features and "starttls" not in s.esmtp_features, s.esmtp_features
    s.login("alice@example.test", "long password 123")
    # Spoofed sender refused.
    try:
        s.sendmail("bob@example.test", ["bob@example.test"], msg)
        sys.exit("spoofed sender accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 553, e
    refused = s.sendmail("alice@example.test", ["bob@example.test"], msg)
    assert refused == {}, refused
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_submission_starttls() {
    let s = smtp().start().await;
    let msg = write_message(s.dir.path());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_SUBMISSION, &s.port("submission").to_string()])
        .arg(&s.ca)
        .arg(&msg);
    ok(&run(cmd).await);
    check_delivered(&s);
    assert!(String::from_utf8_lossy(&s.inbox_bytes(BOB)[0]).contains("with ESMTPSA"));
}

const PY_SUBMISSIONS: &str = r#"
import smtplib, ssl, sys
port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = open(path, "rb").read()
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx) as s:
    s.login("alice@example.test", "long password 123")
    assert s.sendmail("alice@example.test", ["bob@example.test"], msg) == {}
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_submissions_implicit_tls() {
    let s = smtp().start().await;
    let msg = write_message(s.dir.path());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_SUBMISSIONS, &s.port("submissions").to_string()])
        .arg(&s.ca)
        .arg(&msg);
    ok(&run(cmd).await);
    check_delivered(&s);
}

const PY_INBOUND: &str = r#"
import smtplib, sys
port, path = int(sys.argv[1]), sys.argv[2]
msg = open(path, "rb").read()
with smtplib.SMTP("127.0.0.1", port) as s:
    # Open-relay test: an external recipient is refused.
    try:
        s.sendmail("someone@elsewhere.example", ["victim@elsewhere.example"], msg)
        sys.exit("relayed!")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients["victim@elsewhere.example"]
        assert code == 550 and b"5.7.1" in text, e
    assert s.sendmail("someone@elsewhere.example", ["bob@example.test"], msg) == {}
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_inbound() {
    let s = smtp().start().await;
    let msg = write_message(s.dir.path());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_INBOUND, &s.port("smtp").to_string()])
        .arg(&msg);
    ok(&run(cmd).await);
    check_delivered(&s);
    assert_eq!(s.inbox_bytes(BOB).len(), 1);
}

fn swaks(s: &Stack, mech: &str) -> Command {
    let mut cmd = Command::new("swaks");
    cmd.args([
        "--server",
        "127.0.0.1",
        "--port",
        &s.port("submission").to_string(),
    ])
    .args(["--from", ALICE, "--to", BOB, "--helo", "swaks.client"])
    .args([
        "--auth",
        mech,
        "--auth-user",
        ALICE,
        "--auth-password",
        PASSWORD,
    ])
    .args(["--tls", "--tls-verify", "--tls-ca-path"])
    .arg(&s.ca);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_plain_login_pipeline() {
    let s = smtp().start().await;
    // swaks sends --data as given, adding "\r\n.\r\n" unless the data already ends with the
    // end-of-data line: give it one so the delivered body is MESSAGE exactly.
    let msg = s.dir.path().join("swaks.eml");
    std::fs::write(&msg, format!("{MESSAGE}.\r\n")).expect("write message");
    for mech in ["PLAIN", "LOGIN"] {
        let mut cmd = swaks(&s, mech);
        cmd.arg("--data").arg(format!("@{}", msg.display()));
        ok(&run(cmd).await);
        check_delivered(&s);
    }
    let mut cmd = swaks(&s, "PLAIN");
    cmd.arg("--pipeline")
        .arg("--data")
        .arg(format!("@{}", msg.display()));
    ok(&run(cmd).await);
    check_delivered(&s);
    assert_eq!(s.inbox_bytes(BOB).len(), 3);
    // A spoofed sender makes swaks fail.
    let mut cmd = swaks(&s, "PLAIN");
    cmd.args(["--from", BOB])
        .arg("--data")
        .arg(format!("@{}", msg.display()));
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("553 5.7.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_ten_mib_attachment() {
    let s = smtp().start().await;
    let att = s.dir.path().join("big.bin");
    let bytes: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&att, &bytes).expect("write attachment");
    let mut cmd = swaks(&s, "PLAIN");
    cmd.arg("--pipeline")
        .arg("--attach-type")
        .arg("application/octet-stream");
    cmd.arg("--attach").arg(format!("@{}", att.display()));
    cmd.arg("--suppress-data");
    ok(&run(cmd).await);
    let inbox = s.inbox_bytes(BOB);
    assert_eq!(inbox.len(), 1);
    let msg = &inbox[0];
    assert!(
        msg.len() > 13 * 1024 * 1024,
        "base64 of 10 MiB: {}",
        msg.len()
    );
    let text = String::from_utf8_lossy(msg);
    assert!(text.contains("Received: from swaks.client"));
    // Decode the attachment back and compare.
    let parsed = s
        .store
        .structure(
            s.store
                .messages(
                    s.store
                        .mailbox(s.store.account(BOB).expect("a").expect("a").id, "INBOX")
                        .expect("m")
                        .expect("m")
                        .id,
                )
                .expect("msgs")[0]
                .blob,
        )
        .expect("structure");
    let b64 = find_base64_part(msg, &parsed.root).expect("attachment part");
    let b64: String = String::from_utf8_lossy(b64).split_whitespace().collect();
    let decoded = decode_b64(&b64);
    assert!(
        decoded == bytes,
        "attachment differs ({} vs {} bytes)",
        decoded.len(),
        bytes.len()
    );
}

fn find_base64_part<'a>(raw: &'a [u8], part: &store::mime::Part) -> Option<&'a [u8]> {
    if part
        .encoding
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("base64"))
        && part.subtype.eq_ignore_ascii_case("octet-stream")
    {
        return Some(&raw[part.body_start as usize..part.body_end as usize]);
    }
    match &part.kind {
        store::mime::PartKind::Multipart(children) => {
            children.iter().find_map(|c| find_base64_part(raw, c))
        }
        _ => None,
    }
}

fn decode_b64(s: &str) -> Vec<u8> {
    // The auth crate's decoder ("=" alone means empty, which cannot happen here).
    auth::sasl::decode_base64(s.as_bytes()).expect("base64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_starttls() {
    let s = smtp().start().await;
    let msg = write_message(s.dir.path());
    let conf = s.dir.path().join("msmtprc");
    let text = format!(
        "defaults\nlogfile -\naccount test\nhost 127.0.0.1\nport {}\nfrom {ALICE}\nauth plain\nuser {ALICE}\n\
         password {PASSWORD}\ntls on\ntls_starttls on\ntls_trust_file {}\ndomain msmtp.client\n\
         account default : test\n",
        s.port("submission"),
        s.ca.display()
    );
    std::fs::write(&conf, text).expect("conf");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("msmtp -C \"$1\" bob@example.test < \"$2\"")
        .arg("sh")
        .arg(&conf)
        .arg(&msg);
    ok(&run(cmd).await);
    check_delivered(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_smtp_ssl_reqd() {
    let s = smtp().start().await;
    let msg = write_message(s.dir.path());
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--url",
        &format!("smtp://127.0.0.1:{}/curl.client", s.port("submission")),
    ])
    .args(["--ssl-reqd", "--cacert"])
    .arg(&s.ca)
    .args(["--mail-from", ALICE, "--mail-rcpt", BOB])
    .args(["--user", &format!("{ALICE}:{PASSWORD}")])
    .arg("--upload-file")
    .arg(&msg);
    ok(&run(cmd).await);
    check_delivered(&s);
    // Without credentials the server says 530 and curl fails.
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--url",
        &format!("smtp://127.0.0.1:{}", s.port("submission")),
    ])
    .args(["--ssl-reqd", "--cacert"])
    .arg(&s.ca)
    .args(["--mail-from", ALICE, "--mail-rcpt", BOB, "--upload-file"])
    .arg(&msg);
    let out = run(cmd).await;
    assert!(!out.status.success());
    assert_eq!(s.inbox_bytes(BOB).len(), 1);
}
