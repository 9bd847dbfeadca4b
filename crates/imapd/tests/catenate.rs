//! CATENATE (RFC 4469) and URL-PARTIAL (RFC 5550): a message put together from TEXT parts and
//! IMAP URLs (RFC 5092) naming messages and sections of the user's own mailboxes. The RFC's
//! §4 exchange (forwarding parts of a draft), PARTIAL ranges, the BADURL refusals (another
//! user, a mailbox, UIDVALIDITY or message that does not match, a malformed URL) after which
//! nothing is appended, BAD for malformed CATENATE lists, and a second session's expunge that
//! makes a URL fail.

use testkit::{Imap, Stack};

const USER: &str = "alice@example.test";
const OTHER: &str = "bob@example.test";

/// The draft of RFC 4469 §4, shortened: a header, a text part and an attachment.
const DRAFT: &str = "Subject: draft\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
Hello\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
AAAA\r\n\
--b--\r\n";

async fn start() -> (Stack, Imap, u32) {
    let s = Stack::builder().user(USER).user(OTHER).start().await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    for cap in ["CATENATE", "URL-PARTIAL"] {
        assert!(caps[0].split(' ').any(|c| c == cap), "{cap}: {caps:?}");
    }
    // Drafts exists from the start (special-use mailboxes of a new account).
    a.ok(&format!("APPEND Drafts {{{}+}}\r\n{DRAFT}", DRAFT.len()))
        .await;
    let validity = s.mailbox(USER, "Drafts").uidvalidity.get();
    (s, a, validity)
}

/// RFC 4469 §4: the header and the text part of the draft by URL, a new boundary line as
/// TEXT, the attachment's MIME header and body by URL; synchronizing literals get `+`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_example() {
    let (s, mut a, v) = start().await;
    a.send(&format!(
        "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY={v}/;UID=1/;section=HEADER\" TEXT {{5}}\r\n"
    ))
    .await;
    assert!(a.response().await.starts_with("+ "));
    a.send(&format!(
        "--b\r\n URL \"/Drafts;UIDVALIDITY={v}/;UID=1/;section=1.MIME\" URL \"/Drafts;UIDVALIDITY={v}/;UID=1/;section=1\" TEXT {{9}}\r\n"
    ))
    .await;
    assert!(a.response().await.starts_with("+ "));
    a.send("\r\n--b--\r\n)\r\n").await;
    let (_, t) = a.until("A003").await;
    assert!(t.starts_with("A003 OK [APPENDUID"), "{t}");
    let stored = s.messages(USER, "Drafts");
    assert_eq!(stored.len(), 2);
    let want = "Subject: draft\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b--\r\n";
    assert_eq!(String::from_utf8_lossy(&stored[1].0), want);
    assert!(stored[1].1.has(store::Flags::SEEN));
}

/// RFC 5550 §4: `;PARTIAL=offset.length` (from 0) and `;PARTIAL=offset` (to the end); a
/// range past the end is empty. A relative `;UID=n` names the selected mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_and_relative() {
    let (s, mut a, _) = start().await;
    let url = |p: &str| format!("\"/Drafts/;UID=1/;SECTION=1/;PARTIAL={p}\"");
    let cat = |parts: &str| format!("APPEND Drafts CATENATE (TEXT {{4+}}\r\nS: x{parts})");
    a.ok(&cat(&format!(" URL {} URL {}", url("1.3"), url("3"))))
        .await;
    a.ok(&cat(&format!(" URL {}", url("100.2")))).await;
    a.ok("SELECT Drafts").await;
    a.ok(&cat(" URL \";UID=1/;SECTION=2\"")).await;
    let stored = s.messages(USER, "Drafts");
    let body = |i: usize| String::from_utf8_lossy(&stored[i].0).into_owned();
    assert_eq!(body(1), "S: xelllo");
    assert_eq!(body(2), "S: x");
    assert_eq!(body(3), "S: xAAAA");
}

/// RFC 4469 §6: a URL that cannot be served is NO [BADURL url], and nothing is appended —
/// not even the other messages of a MULTIAPPEND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls() {
    let (s, mut a, v) = start().await;
    s.deliver(OTHER, DRAFT.as_bytes()).await;
    for url in [
        "imap://bob%40example.test@localhost/INBOX/;UID=1".to_string(),
        "/Nosuch/;UID=1".into(),
        format!("/Drafts;UIDVALIDITY={}/;UID=1", v + 1),
        "/Drafts/;UID=9".into(),
        "/Drafts/;UID=1/;SECTION=1]".into(),
        "/Drafts/;UID=1/;URLAUTH=anonymous".into(),
        ";UID=1".into(),
        "Drafts".into(),
    ] {
        let cmd = format!("APPEND Drafts {{2+}}\r\nok CATENATE (URL \"{url}\")");
        let (_, t) = a.cmd(&cmd).await;
        let shown: String = url.chars().filter(|&c| c != ']').collect();
        assert!(t.contains(&format!(" NO [BADURL {shown}]")), "{url}: {t}");
    }
    // The user's own account by its full URL works.
    a.ok(&format!(
        "APPEND Drafts CATENATE (URL \"imap://{}@localhost/Drafts/;UID=1\")",
        USER.replace('@', "%40")
    ))
    .await;
    assert_eq!(s.messages(USER, "Drafts").len(), 2);
    // A missing target mailbox is TRYCREATE, as for APPEND.
    let (_, t) = a
        .cmd("APPEND Nosuch CATENATE (URL \"/Drafts/;UID=1\")")
        .await;
    assert!(t.contains(" NO [TRYCREATE]"), "{t}");
}

/// RFC 4469 §5 grammar: malformed lists are BAD, never a panic; the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed() {
    let (_s, mut a, _) = start().await;
    for cmd in [
        "APPEND Drafts CATENATE ()",
        "APPEND Drafts CATENATE (FOO \"x\")",
        "APPEND Drafts CATENATE (TEXT \"x\")",
        "APPEND Drafts CATENATE (URL)",
        "APPEND Drafts CATENATE URL \"/Drafts/;UID=1\"",
    ] {
        let (_, t) = a.cmd(cmd).await;
        assert!(t.contains(" BAD "), "{cmd}: {t}");
        a.ok("NOOP").await;
    }
    // An empty result is refused like an empty APPEND.
    let (_, t) = a.cmd("APPEND Drafts CATENATE (TEXT {0+}\r\n)").await;
    assert!(t.contains(" NO "), "{t}");
}

/// Another session expunges the message a URL names: the URL fails at once (the URL reads
/// the mailbox, not this session's view), and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunged_by_another_session() {
    let (s, mut a, _) = start().await;
    a.ok("SELECT Drafts").await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT Drafts").await;
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    let (mut told, t) = a.cmd("APPEND Drafts CATENATE (URL \";UID=1\")").await;
    assert!(t.contains(" NO [BADURL ;UID=1]"), "{t}");
    assert!(s.messages(USER, "Drafts").is_empty());
    // The expunge is told with the APPEND's answer or the next NOOP (RFC 3501 §7.4.1).
    told.extend(a.ok("NOOP").await);
    assert!(told.contains(&"* 1 EXPUNGE".to_string()), "{told:?}");
}
