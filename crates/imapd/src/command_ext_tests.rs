//! Parser tables for the extensions of issue 17 ("Protocol breadth"): RFC 3502 MULTIAPPEND,
//! RFC 5182 `$` and SEARCH RETURN (SAVE).
//! Valid input, malformed input, and every prefix re-fed (docs/conventions.md §11).

use super::*;
use crate::search::SearchKey;

use super::codec_tests::ok_bytes as ok;
use super::failure_tests::bad;

/// Every prefix of `full` is incomplete; the whole parses (tag `t1`).
pub(super) fn refeed(full: &[u8]) -> Kind {
    for cut in 0..full.len() {
        assert_eq!(
            parse(&full[..cut]),
            Err(ParseError::Incomplete),
            "{:?} cut at {cut}",
            String::from_utf8_lossy(full)
        );
    }
    ok(full)
}

/// RFC 3502 §6.3.11: the example of the RFC (two messages, the second with its own flags),
/// flags and dates per message, literal8 and LITERAL+ among them.
#[test]
fn multiappend() {
    let rfc =
        b"t1 APPEND saved-messages (\\Seen) {10}\r\n0123456789 (\\Seen) {11}\r\n01234567890\r\n";
    let Kind::Append { mailbox, messages } = ok(rfc) else {
        panic!("append")
    };
    assert_eq!(mailbox, "saved-messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].message, b"0123456789");
    assert_eq!(messages[1].message, b"01234567890");
    assert_eq!(messages[1].flags, vec!["\\Seen".to_string()]);
    refeed(rfc);

    let three =
        b"t1 APPEND INBOX {1+}\r\na \"01-Jan-2020 00:00:00 +0100\" ~{3}\r\nb\0c ($x) {1}\r\nd\r\n";
    let Kind::Append { messages, .. } = ok(three) else {
        panic!("append")
    };
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].date, None);
    assert_eq!(messages[1].date, Some((1_577_833_200, 60)));
    assert_eq!(messages[1].message, b"b\0c");
    assert_eq!(messages[2].flags, vec!["$x".to_string()]);
    refeed(three);

    // The mailbox as a literal.
    assert!(matches!(
        ok(b"t1 APPEND {5}\r\nINBOX {1}\r\na {1}\r\nb\r\n"),
        Kind::Append { ref mailbox, ref messages } if mailbox == "INBOX" && messages.len() == 2
    ));
    // Pipelined: the bytes used end at the first command.
    let two = b"t1 APPEND INBOX {1}\r\na {1}\r\nb\r\nu NOOP\r\n";
    let (_, used) = parse(two).expect("multiappend");
    assert_eq!(&two[used..], b"u NOOP\r\n");
}

#[test]
fn multiappend_malformed() {
    // A bad second message: BAD naming it; nothing is appended (the parser refuses the whole).
    assert!(
        bad(b"t1 APPEND INBOX {1}\r\na \"31-Feb-2020 00:00:00 +0000\" {1}\r\nb\r\n")
            .contains("message 2")
    );
    assert!(!bad(b"t1 APPEND INBOX {1}\r\na {3}\r\nb\0c\r\n").is_empty());
    assert!(!bad(b"t1 APPEND INBOX {1}\r\na (\\Seen {1}\r\nb\r\n").is_empty());
    assert!(!bad(b"t1 APPEND INBOX {1}\r\na junk\r\n").is_empty());
    assert!(!bad(b"t1 APPEND INBOX {1}\r\na {1}\r\nbjunk\r\n").is_empty());
    // Trailing space after the last message.
    assert!(!bad(b"t1 APPEND INBOX {1}\r\na {1}\r\nb \r\n").is_empty());
    // A mailbox name that is not modified UTF-7 is NO, for one message or several.
    assert!(matches!(
        ok(b"t1 APPEND \"&Jjo\" {1}\r\na {1}\r\nb\r\n"),
        Kind::Refused { .. }
    ));
}

/// RFC 5182 §3: `$` where a sequence set stands, and nowhere else.
#[test]
fn saved_result_marker() {
    let Kind::Fetch {
        set, uid: false, ..
    } = refeed(b"t1 FETCH $ (FLAGS)\r\n")
    else {
        panic!("fetch")
    };
    assert!(set.is_saved());
    let Kind::Search {
        key,
        ret,
        uid: true,
    } = refeed(b"t1 UID SEARCH RETURN (SAVE MIN) UID $ SUBJECT $ OR $ HEADER X $\r\n")
    else {
        panic!("search")
    };
    assert!(ret.is_some_and(|r| r.save && r.min && !r.max));
    let SearchKey::And(keys) = key else {
        panic!("and")
    };
    assert!(matches!(&keys[0], SearchKey::Uid(s) if s.is_saved()));
    assert_eq!(keys[1], SearchKey::Header("Subject".into(), "$".into()));
    assert!(
        matches!(&keys[2], SearchKey::Or(a, _) if matches!(&**a, SearchKey::Seq(s) if s.is_saved()))
    );
    // COPY's mailbox and STORE's flags named `$` stay names.
    assert!(matches!(
        ok(b"t1 UID COPY $ $\r\n"),
        Kind::Copy { ref set, ref mailbox, .. } if set.is_saved() && mailbox == "$"
    ));
    assert!(matches!(
        ok(b"t1 STORE $ +FLAGS ($)\r\n"),
        Kind::Store { ref set, ref flags, .. } if set.is_saved() && flags == &["$".to_string()]
    ));
    assert!(matches!(
        ok(b"t1 UID EXPUNGE $\r\n"),
        Kind::Expunge { uids: Some(ref s) } if s.is_saved()
    ));
    assert!(matches!(ok(b"t1 SELECT $\r\n"), Kind::Select { ref mailbox, .. } if mailbox == "$"));
    // A literal holding " $ " is data.
    let Kind::Search { key, .. } = ok(b"t1 SEARCH $ BODY {3}\r\n $ \r\n") else {
        panic!("search")
    };
    assert!(matches!(&key, SearchKey::And(k) if k[1] == SearchKey::Body(" $ ".into())));
    // Pipelined: the bytes used are the first command's own.
    let two = b"t1 FETCH $ UID\r\nt2 NOOP\r\n";
    let (_, used) = parse(two).expect("first");
    assert_eq!(&two[used..], b"t2 NOOP\r\n");
    for malformed in [
        &b"t1 FETCH $$ FLAGS\r\n"[..],
        b"t1 FETCH $:4 FLAGS\r\n",
        b"t1 FETCH 1,$ FLAGS\r\n",
        b"t1 FETCH $ $\r\n",
        b"t1 SEARCH RETURN (SAVE\r\n",
        b"t1 FETCH 4294967295,$ FLAGS\r\n",
    ] {
        assert!(!bad(malformed).is_empty());
    }
}

/// RFC 8970 §3.1 PREVIEW and PREVIEW (LAZY): alone, among other items (in the order sent,
/// PREVIEW last), with a UID FETCH, `$` and CHANGEDSINCE; a BODY[...] naming a field
/// "preview" is not the item.
#[test]
fn preview_items() {
    let items = |input: &[u8]| match ok(input) {
        Kind::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    };
    let lazy = |l| FetchAtt::Preview { lazy: l };
    // RFC 8970 §3.3's example.
    assert_eq!(items(b"t1 FETCH 1 (PREVIEW)\r\n"), vec![lazy(false)]);
    assert_eq!(items(b"t1 FETCH 1 PREVIEW\r\n"), vec![lazy(false)]);
    assert_eq!(items(b"t1 FETCH 1 preview (lazy)\r\n"), vec![lazy(true)]);
    assert_eq!(
        items(b"t1 UID FETCH 1:* (UID PREVIEW (LAZY) FLAGS)\r\n"),
        vec![FetchAtt::Uid, FetchAtt::Flags, lazy(true)]
    );
    assert_eq!(
        items(b"t1 FETCH $ (PREVIEW)\r\n"),
        vec![lazy(false)],
        "the saved result works with PREVIEW"
    );
    let Kind::Fetch {
        items: i,
        changed_since,
        ..
    } = ok(b"t1 FETCH 1 (PREVIEW FLAGS) (CHANGEDSINCE 4)\r\n")
    else {
        panic!("fetch")
    };
    assert_eq!(i, vec![FetchAtt::Flags, lazy(false)]);
    assert_eq!(changed_since, Some(ModSeq::new(4)));
    let header = items(b"t1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (PREVIEW)] PREVIEW)\r\n");
    assert_eq!(header.len(), 2);
    refeed(b"t1 FETCH 1:3 (FLAGS PREVIEW (LAZY))\r\n");
}

/// RFC 8970 §3.1: LAZY is the only modifier; an empty list and an unknown modifier are BAD
/// (as Dovecot answers), never a panic.
#[test]
fn preview_malformed() {
    assert!(bad(b"t1 FETCH 1 (PREVIEW (FOO))\r\n").contains("FOO"));
    bad(b"t1 FETCH 1 (PREVIEW ())\r\n");
    bad(b"t1 FETCH 1 (PREVIEW (LAZY)\r\n");
    bad(b"t1 FETCH 1 (PREVIEW (LAZY\r\n");
    bad(b"t1 FETCH x (PREVIEW)\r\n");
    bad(b"t1 FETCH 1 (PREVIEWS)\r\n");
    bad(b"t1 FETCH\r\n");
    bad(b"t1 FETCH 1 (FLAGS PREVIEW\r\n");
    // A bracket left open across the line end: the attributes end there.
    let _ = parse(b"t1 FETCH 1 (BODY[\r\n] PREVIEW (LAZY)\r\n");
    let _ = parse(b"t1 FETCH 1 (BODY[\r\n] PREVIEW (LAZY");
}

/// RFC 4469 §5 CATENATE: TEXT and URL parts, with flags and date, mixed with plain messages
/// in a MULTIAPPEND; each prefix incomplete.
#[test]
fn catenate() {
    let rfc = b"t1 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {42}\r\n\r\n--------------030308070208000400050907\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME\")\r\n";
    let Kind::Append { mailbox, messages } = refeed(rfc) else {
        panic!("append")
    };
    assert_eq!(mailbox, "Drafts");
    assert_eq!(messages[0].flags, ["\\Seen", "\\Draft", "$MDNSent"]);
    assert_eq!(
        messages[0].catenate,
        Some(vec![
            CatPart::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER".into()),
            CatPart::Text(b"\r\n--------------030308070208000400050907\r\n".to_vec()),
            CatPart::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME".into()),
        ])
    );
    let mixed =
        b"t1 APPEND x {1+}\r\na \"01-Jan-2025 10:00:00 +0000\" catenate (TEXT {1+}\r\nb)\r\n";
    let Kind::Append { messages, .. } = refeed(mixed) else {
        panic!("append")
    };
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0].message.as_slice(), &messages[0].catenate),
        (&b"a"[..], &None)
    );
    assert!(messages[1].date.is_some());
    assert_eq!(
        messages[1].catenate,
        Some(vec![CatPart::Text(b"b".to_vec())])
    );
}

#[test]
fn catenate_malformed() {
    bad(b"t1 APPEND x CATENATE ()\r\n");
    bad(b"t1 APPEND x CATENATE (FOO \"x\")\r\n");
    bad(b"t1 APPEND x CATENATE (TEXT \"x\")\r\n");
    bad(b"t1 APPEND x CATENATE (URL)\r\n");
    bad(b"t1 APPEND x CATENATE (URL \"/x/;UID=1\"\r\n");
    bad(b"t1 APPEND x CATENATE (URL \"/x/;UID=1\") junk\r\n");
    bad(b"t1 APPEND x (\\Seen CATENATE (URL \"/x/;UID=1\")\r\n");
}

/// RFC 5267 §4.2 `RETURN (UPDATE)` and §4.3 CANCELUPDATE with one or several tags (quoted or
/// literal); malformed forms BAD.
#[test]
fn context_search() {
    let Kind::Search { ret: Some(r), .. } = ok(b"t1 SEARCH RETURN (UPDATE COUNT) UNSEEN\r\n")
    else {
        panic!("search")
    };
    assert!(r.update && r.count && !r.all);
    assert_eq!(
        refeed(b"t1 CANCELUPDATE \"a1\" {2}\r\nb2\r\n"),
        Kind::CancelUpdate(vec!["a1".into(), "b2".into()])
    );
    bad(b"t1 CANCELUPDATE\r\n");
    bad(b"t1 CANCELUPDATE \"a1\" \r\n");
    bad(b"t1 CANCELUPDATE (a1)\r\n");
    bad(b"t1 SEARCH RETURN (UPDATE FOO) ALL\r\n");
}

/// The grammar added for issue 17 never panics: commands built from its keywords and
/// punctuation in many orders (a small deterministic fuzz; `fuzz/` has the real one).
#[test]
fn extension_grammar_never_panics() {
    const PIECES: &[&str] = &[
        "t1 FETCH 1 ",
        "t1 UID FETCH 1:* ",
        "t1 APPEND x ",
        "t1 CANCELUPDATE ",
        "t1 SEARCH RETURN ",
        "PREVIEW",
        " (LAZY)",
        "(",
        ")",
        "[",
        "]",
        "<",
        ">",
        " ",
        "\r\n",
        "{2}\r\nab",
        "{0+}\r\n",
        "CATENATE",
        " URL ",
        " TEXT ",
        "\"/x/;UID=1\"",
        "LAZY",
        "UPDATE",
        "BODY[",
        "FLAGS",
        "\"a\"",
        "~{1}\r\nz",
        "(\\Seen) ",
        "\"01-Jan-2025 10:00:00 +0000\" ",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        input.extend_from_slice(PIECES[(seed % 5) as usize].as_bytes());
        for k in 0..(seed >> 60) + 2 {
            let i = ((seed >> (k * 5 % 55)) as usize) % PIECES.len();
            input.extend_from_slice(PIECES[i].as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        for cut in [input.len(), input.len() / 2] {
            let _ = parse(&input[..cut]);
        }
    }
}
