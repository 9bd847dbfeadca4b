//! BINARY (RFC 3516): FETCH BINARY[part] with the Content-Transfer-Encoding undone,
//! BINARY.SIZE, partial fetches, literal8 answers and APPEND, \Seen, and the two refusals:
//! an encoding the server does not know (UNKNOWN-CTE) and a corrupt base64 body (PARSE).
//! The answers for the corpus are compared with Dovecot's in `tests/tests/dovecot_diff.rs`.

use testkit::Stack;

const USER: &str = "alice@example.test";

/// A multipart message: 1 quoted-printable text, 2 base64 bytes with a NUL, 3 plain 7bit,
/// 4 an unknown encoding, 5 corrupt base64.
const MESSAGE: &str = "From: a@example.test\r\nSubject: binary\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Gr=C3=BC=C3=9Fe, a soft=\r\n break.\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAEC/w==\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nAAE!C\r\n\
--b--\r\n";

async fn selected() -> (Stack, testkit::Imap) {
    let s = Stack::builder().user(USER).start().await;
    s.append(USER, "INBOX", MESSAGE.as_bytes()).await;
    let mut a = s.imap_login(USER).await;
    let caps = a.ok("CAPABILITY").await;
    assert!(caps[0].split(' ').any(|c| c == "BINARY"), "{caps:?}");
    a.ok("SELECT INBOX").await;
    (s, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_decoded() {
    let (_s, mut a) = selected().await;
    // Quoted-printable undone (soft line break removed); sent as a literal8.
    let r = a.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])").await;
    assert_eq!(
        r,
        ["* 1 FETCH (BINARY[1] ~{22}\r\nGrüße, a soft break. BINARY.SIZE[1] 22)"]
    );
    // base64 with a NUL and 0xff: four octets.
    let (u, _) = a.cmd("FETCH 1 BINARY.PEEK[2]").await;
    assert_eq!(u.len(), 1);
    assert!(
        u[0].starts_with("* 1 FETCH (BINARY[2] ~{4}\r\n\u{0}\u{1}\u{2}"),
        "{:?}",
        u[0]
    );
    assert_eq!(
        a.ok("FETCH 1 BINARY.SIZE[2]").await,
        ["* 1 FETCH (BINARY.SIZE[2] 4)"]
    );
    // 7bit: as stored, a plain literal. Partial: origin echoed.
    assert_eq!(
        a.ok("FETCH 1 BINARY.PEEK[3]").await,
        ["* 1 FETCH (BINARY[3] {5}\r\nplain)"]
    );
    assert_eq!(a.ok("FETCH 1 BINARY.PEEK[1]<4.5>").await, [a_partial()]);
    // A part that does not exist is empty, as BODY[] answers.
    assert_eq!(
        a.ok("FETCH 1 BINARY.SIZE[9]").await,
        ["* 1 FETCH (BINARY.SIZE[9] 0)"]
    );
    // Not PEEK: \Seen is set.
    let r = a.ok("FETCH 1 BINARY[3]").await;
    assert!(r.iter().any(|l| l.contains("\\Seen")), "{r:?}");
}

/// The expected answer to `BINARY.PEEK[1]<4.5>`: octets 4..9 of "Grüße, a soft break."
/// (ü and ß are two octets each; the CRLF before a boundary belongs to the boundary).
fn a_partial() -> String {
    let decoded = "Grüße, a soft break.".as_bytes();
    let slice = String::from_utf8_lossy(&decoded[4..9]).into_owned();
    format!("* 1 FETCH (BINARY[1]<4> ~{{5}}\r\n{slice})")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_parts_are_refused() {
    let (_s, mut a) = selected().await;
    // RFC 3516 §4.3: an encoding the server does not know.
    let (u, t) = a.cmd("FETCH 1 BINARY.PEEK[4]").await;
    assert!(t.contains(" NO [UNKNOWN-CTE]"), "{t}");
    assert!(u.is_empty(), "{u:?}");
    let (_, t) = a.cmd("FETCH 1 BINARY.SIZE[4]").await;
    assert!(t.contains(" NO [UNKNOWN-CTE]"), "{t}");
    // Corrupt base64: NO [PARSE], as Dovecot answers.
    let (_, t) = a.cmd("FETCH 1 BINARY.PEEK[5]").await;
    assert!(t.contains(" NO [PARSE]"), "{t}");
    // The other parts of the same message still decode.
    a.ok("FETCH 1 BINARY.SIZE[2]").await;
    // Bad syntax is BAD.
    for bad in [
        "FETCH 1 BINARY[1.HEADER]",
        "FETCH 1 BINARY[x]",
        "FETCH 1 BINARY.SIZE",
    ] {
        let (_, t) = a.cmd(bad).await;
        assert!(t.contains(" BAD "), "{bad} → {t}");
        a.ok("NOOP").await;
    }
}

/// RFC 3516 §4.1: APPEND with a literal8 stores octets a literal could not carry (a NUL);
/// another session sees the message arrive and reads it back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_literal8_seen_by_another_session() {
    let (s, mut a) = selected().await;
    let mut b = s.imap_login(USER).await;
    b.ok("SELECT INBOX").await;
    let body = "Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\u{0}b\r\n";
    let tag = a.next_tag();
    a.send(&format!("{tag} APPEND INBOX ~{{{}}}\r\n", body.len()))
        .await;
    assert!(a.response().await.starts_with('+'));
    a.send(&format!("{body}\r\n")).await;
    let (_, t) = a.until(&tag).await;
    assert!(t.contains(" OK "), "{t}");
    let r = b.ok("NOOP").await;
    assert!(r.iter().any(|l| l == "* 2 EXISTS"), "{r:?}");
    let r = b.ok("FETCH 2 BINARY.PEEK[1]").await;
    assert_eq!(r, ["* 2 FETCH (BINARY[1] ~{5}\r\na\u{0}b\r\n)"]);
}
