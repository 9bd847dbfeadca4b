//! PREVIEW (RFC 8970): the exchange of the RFC's §3.3 (a text, an empty preview, LAZY), the
//! limits of §3 (200 characters, 256 octets), decoding and HTML, the BAD answers for a
//! modifier that does not exist, and a second session that fetches the preview of a message
//! another session expunged before it was told (RFC 2180 §4.1.1).

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";

async fn start(messages: &[&str]) -> (Stack, Imap) {
    let s = Stack::builder().user(USER).start().await;
    for m in messages {
        s.deliver(USER, m.as_bytes()).await;
    }
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "PREVIEW"), "{caps:?}");
    a.ok("SELECT INBOX").await;
    (s, a)
}

/// RFC 8970 §3.3: the preview of a text message, `""` for a message without text, and LAZY
/// answered with the text (RFC 8970 §3.1 allows it when the server has it at hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_example() {
    let (_s, mut a) = start(&[
        "Subject: one\r\n\r\nPreview text!\r\n",
        "Subject: two, headers only\r\n",
        "Subject: three\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n",
    ])
    .await;
    assert_eq!(
        a.ok("FETCH 1 (PREVIEW)").await,
        vec!["* 1 FETCH (PREVIEW \"Preview text!\")"]
    );
    assert_eq!(
        a.ok("FETCH 2 (PREVIEW)").await,
        vec!["* 2 FETCH (PREVIEW \"\")"]
    );
    assert_eq!(
        a.ok("FETCH 1:3 (RFC822.SIZE PREVIEW (LAZY))").await,
        vec![
            "* 1 FETCH (RFC822.SIZE 31 PREVIEW \"Preview text!\")",
            "* 2 FETCH (RFC822.SIZE 28 PREVIEW \"\")",
            "* 3 FETCH (RFC822.SIZE 51 PREVIEW \"\")",
        ]
    );
    let (u, t) = a.cmd("UID FETCH 1 PREVIEW").await;
    assert!(t.contains(" OK "), "{t}");
    assert_eq!(u, vec!["* 1 FETCH (UID 1 PREVIEW \"Preview text!\")"]);
}

/// RFC 8970 §3: white space collapsed, quoted lines left out, transfer encoding and charset
/// undone, HTML reduced to its text, at most 200 characters and 256 octets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_rules() {
    let long = format!("Subject: long\r\n\r\n{}\r\n", "word ".repeat(100));
    let wide = format!(
        "Subject: wide\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        "é".repeat(250)
    );
    let (_s, mut a) = start(&[
        "Subject: q\r\n\r\nHi,\r\n> old text\r\n\r\n  see   you\r\n",
        "Subject: qp\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nUn caf=E9\r\n",
        "Subject: h\r\nContent-Type: text/html\r\n\r\n<p>Hello&amp;<b>bye</b></p><script>x()</script>\r\n",
        &long,
        &wide,
    ])
    .await;
    let u = a.ok("FETCH 1:3 (PREVIEW)").await;
    assert_eq!(u[0], "* 1 FETCH (PREVIEW \"Hi, see you\")");
    assert_eq!(u[1], "* 2 FETCH (PREVIEW {8}\r\nUn café)");
    assert_eq!(u[2], "* 3 FETCH (PREVIEW \"Hello& bye\")");
    let u = a.ok("FETCH 4 (PREVIEW)").await;
    let text = u[0].split('"').nth(1).unwrap_or_default();
    assert_eq!(text.chars().count(), 199, "{text}");
    let u = a.ok("FETCH 5 (PREVIEW)").await;
    assert!(u[0].starts_with("* 5 FETCH (PREVIEW {256}\r\n"), "{u:?}");
}

/// RFC 8970 §3.1: LAZY is the only modifier. Bad modifiers are BAD, the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_modifiers() {
    let (_s, mut a) = start(&["Subject: one\r\n\r\nbody\r\n"]).await;
    for cmd in [
        "FETCH 1 (PREVIEW (FOO))",
        "FETCH 1 (PREVIEW ())",
        "FETCH 1 (PREVIEW (LAZY)",
        "FETCH 1 (PREVIEWX)",
    ] {
        let (_, t) = a.cmd(cmd).await;
        assert!(t.contains(" BAD "), "{cmd}: {t}");
    }
    let (_, t) = a.cmd("FETCH 9 (PREVIEW)").await;
    assert!(t.contains(" BAD ") || t.contains(" NO "), "{t}");
    a.ok("FETCH 1 (PREVIEW)").await;
}

/// RFC 2180 §4.1.1: a message another session expunged is still served, PREVIEW included,
/// until this session is told; then the EXPUNGE comes with the next NOOP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunged_elsewhere() {
    let (s, mut a) = start(&["Subject: one\r\n\r\nstill here\r\n"]).await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    // The \Deleted flag may be told with it; the EXPUNGE never is (RFC 3501 §7.4.1).
    let u = a.ok("FETCH 1 (PREVIEW)").await;
    assert_eq!(u[0], "* 1 FETCH (PREVIEW \"still here\")");
    assert!(!u.iter().any(|l| l.contains("EXPUNGE")), "{u:?}");
    assert!(a.ok("NOOP").await.contains(&"* 1 EXPUNGE".to_string()));
}
