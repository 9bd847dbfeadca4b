//! Parser tables for the extensions of issue 17 ("Protocol breadth"): RFC 3502 MULTIAPPEND.
//! Valid input, malformed input, and every prefix re-fed (docs/conventions.md §11).

use super::*;

use super::codec_tests::{ok_bytes as ok, refeed};
use super::failure_tests::bad;

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
