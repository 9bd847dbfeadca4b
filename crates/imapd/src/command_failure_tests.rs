//! What a command that cannot run as sent is answered: NO for a valid command that can only
//! fail (`Kind::Refused`), BAD with one strike for a well-formed command we do not know, BAD
//! with two for garbage (`command_failure.rs`); and valid commands of advertised extensions
//! that imap-codec lacks (`command_ext.rs`).

use super::*;
use crate::response::Code;

fn ok(input: &str) -> Kind {
    match parse(input.as_bytes()) {
        Ok((c, n)) => {
            assert_eq!(n, input.len(), "{input:?}");
            assert_eq!(c.tag, "t1");
            c.kind
        }
        Err(e) => panic!("{input:?}: {e:?}"),
    }
}

/// BAD: the reason.
pub(super) fn bad(input: &[u8]) -> String {
    match parse(input) {
        Err(ParseError::Syntax { reason, .. } | ParseError::Unknown { reason, .. }) => reason,
        other => panic!(
            "{:?}: expected BAD, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// How many strikes toward the disconnect limit a BAD input costs (2 syntax, 1 unknown).
fn strikes(input: &[u8]) -> u32 {
    match parse(input) {
        Err(e @ (ParseError::Syntax { .. } | ParseError::Unknown { .. })) => e.strikes(),
        other => panic!(
            "{:?}: expected BAD, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// A valid command that can only be answered NO: its code, text, and whether it needs the
/// selected state.
fn refused(input: &str) -> (Option<Code>, String, bool) {
    match ok(input) {
        Kind::Refused {
            code,
            text,
            selected_only,
            ..
        } => (code, text, selected_only),
        other => panic!("{input:?}: expected a refusal, got {other:?}"),
    }
}

/// RFC 3501 §5.1.3: a mailbox name that is not modified UTF-7 makes a valid command that is
/// answered NO (as Dovecot does), in every command taking a mailbox name; a LIST pattern or
/// reference that is not modified UTF-7 matches nothing. RFC 3501 §6.4.4: a SEARCH charset
/// we lack is NO [BADCHARSET], not BAD.
#[test]
fn refused_not_bad() {
    for input in [
        "t1 SELECT \"&Jjo\"\r\n",
        "t1 EXAMINE &Jjo (CONDSTORE)\r\n",
        "t1 CREATE \"a&-b&ZZZ\"\r\n",
        "t1 CREATE &Jjo (USE (\\Sent))\r\n",
        "t1 DELETE &Jjo\r\n",
        "t1 RENAME INBOX &Jjo\r\n",
        "t1 RENAME &Jjo x\r\n",
        "t1 SUBSCRIBE &Jjo\r\n",
        "t1 UNSUBSCRIBE \"&AGE-\"\r\n",
        "t1 STATUS &Jjo (MESSAGES)\r\n",
        "t1 STATUS &Jjo (APPENDLIMIT)\r\n",
        "t1 APPEND &Jjo {1+}\r\nx\r\n",
        "t1 GETQUOTAROOT &Jjo\r\n",
        "t1 SELECT \"caf\u{e9}\"\r\n",
    ] {
        let (code, text, selected_only) = refused(input);
        assert_eq!(code, Some(Code::Cannot), "{input}");
        assert!(text.contains("modified UTF-7"), "{input}: {text}");
        assert!(!selected_only, "{input}");
    }
    for input in ["t1 COPY 1 &Jjo\r\n", "t1 UID MOVE 1:* &Jjo\r\n"] {
        assert!(refused(input).2, "{input}: selected state only");
    }
    let (code, text, selected_only) = refused("t1 SEARCH CHARSET KOI8-R ALL\r\n");
    assert_eq!(
        code,
        Some(Code::Other("BADCHARSET (UTF-8 US-ASCII)".into()))
    );
    assert_eq!(text, "unsupported charset KOI8-R");
    assert!(selected_only);
    assert!(matches!(
        refused("t1 UID SEARCH RETURN (COUNT) CHARSET ISO-8859-1 ALL\r\n"),
        (Some(Code::Other(_)), _, true)
    ));
    for input in [
        "t1 LIST \"\" &Jjo\r\n",
        "t1 LIST &Jjo *\r\n",
        "t1 LSUB \"\" \"&Jjo\"\r\n",
        "t1 LIST (SUBSCRIBED) \"\" (&Jjo)\r\n",
        "t1 XLIST &Jjo *\r\n",
    ] {
        let Kind::List { patterns, .. } = ok(input) else {
            panic!("{input}: a LIST")
        };
        assert!(patterns.is_empty(), "{input}: {patterns:?}");
    }
    let Kind::List { patterns, .. } = ok("t1 LIST \"\" (INBOX &Jjo)\r\n") else {
        panic!("a LIST")
    };
    assert_eq!(patterns, vec!["INBOX".to_string()]);
}

/// Valid commands that used to be refused as syntax errors: XLIST (older Apple and Microsoft
/// clients, answered as LIST), STATUS APPENDLIMIT (RFC 7889 §3, advertised), STATUS
/// DELETED-STORAGE (RFC 9208 §4.1.4, QUOTA=RES-STORAGE advertised).
#[test]
fn valid_commands_parse() {
    // RFC 3516 §4.1: APPEND with a literal8.
    assert!(matches!(
        ok("t1 APPEND INBOX ~{3}\r\na\x00b\r\n"),
        Kind::Append { ref messages, .. } if messages[0].message == b"a\x00b"
    ));
    // RFC 5032 WITHIN.
    assert!(matches!(
        ok("t1 UID SEARCH OLDER 3600\r\n"),
        Kind::Search {
            key: crate::search::SearchKey::Within {
                older: true,
                seconds: 3600
            },
            ..
        }
    ));
    assert!(matches!(
        ok("t1 UID SEARCH RETURN (MIN) YOUNGER 60\r\n"),
        Kind::Search { ret: Some(_), .. }
    ));
    assert!(matches!(
        ok("t1 UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n"),
        Kind::Sort { uid: true, ref keys, .. } if keys.len() == 2 && keys[0].reverse
    ));
    assert!(matches!(
        ok("t1 THREAD references US-ASCII SUBJECT x\r\n"),
        Kind::Thread {
            uid: false,
            algorithm: crate::thread::Algorithm::References,
            ..
        }
    ));
    assert!(matches!(
        ok("t1 XLIST \"\" \"*\"\r\n"),
        Kind::List { lsub: false, ref patterns, .. } if patterns == &["*".to_string()]
    ));
    assert_eq!(
        ok("t1 STATUS INBOX (MESSAGES APPENDLIMIT)\r\n"),
        Kind::Status {
            mailbox: "INBOX".into(),
            items: vec!["MESSAGES".into(), "APPENDLIMIT".into()]
        }
    );
    assert_eq!(
        ok("t1 STATUS {3+}\r\nx/y (appendlimit)\r\n"),
        Kind::Status {
            mailbox: "x/y".into(),
            items: vec!["APPENDLIMIT".into()]
        }
    );
    assert_eq!(
        ok("t1 STATUS INBOX (DELETED-STORAGE)\r\n"),
        Kind::Status {
            mailbox: "INBOX".into(),
            items: vec!["DELETED-STORAGE".into()]
        }
    );
}

/// Unknown but well formed (RFC 3501 §7.1.3 BAD, 1 strike) versus garbage (2 strikes).
#[test]
fn unknown_or_garbage() {
    for input in [
        "t1 FROBNICATE\r\n",
        "t1 X-FOO bar (baz \"q\") {1+}\r\nx\r\n",
        "t1 GETMETADATA \"\" /private/vendor\r\n",
        "t1 GETMETADATA (DEPTH 1) \"\" (/shared/comment /private/comment)\r\n",
        "t1 SETMETADATA INBOX (/private/comment \"x\")\r\n",
        "t1 ESEARCH IN (mailboxes INBOX) ALL\r\n",
        "t1 MYRIGHTS INBOX\r\n",
        "t1 NOTIFY NONE\r\n",
        "t1 UNAUTHENTICATE\r\n",
        "t1 UID FROB 1\r\n",
        "t1 STATUS INBOX (MAILBOXID)\r\n",
        "t1 SELECT INBOX (X-UNKNOWN)\r\n",
        "t1 UID SEARCH X-GM-RAW \"has:attachment\"\r\n",
        "t1 SEARCH FUZZY TEXT foo\r\n",
        "t1 UID FETCH 1:* (EMAILID THREADID)\r\n",
        "t1 LIST \"\" * RETURN (MYRIGHTS)\r\n",
        "t1 LIST (FOO) \"\" *\r\n",
        "t1 CREATE x (FOO)\r\n",
        "t1 SEARCH RETURN (FUZZY) ALL\r\n",
    ] {
        assert_eq!(
            strikes(input.as_bytes()),
            1,
            "{input}: {:?}",
            bad(input.as_bytes())
        );
    }
    for input in [
        "t1 FETCH 1:x FLAGS\r\n",
        "t1 FETCH 0 FLAGS\r\n",
        "t1 FETCH 1 (FLAGS\r\n",
        "t1 FETCH 1 (FLAGZ\r\n",
        "t1 NOOP extra\r\n",
        "t1 SELECT INBOX ()\r\n",
        "t1 STATUS INBOX ()\r\n",
        "t1 FETCH 1 FLAGS (VANISHED)\r\n",
        "t1 LIST (RECURSIVEMATCH) \"\" *\r\n",
        "t1 ((((\r\n",
        "t1 FOO )\r\n",
        "t1 FOO \"unterminated\r\n",
        "t1 FOO \u{e9}\r\n",
        "t1\r\n",
        "(\r\n",
    ] {
        assert_eq!(
            strikes(input.as_bytes()),
            2,
            "{input}: {:?}",
            bad(input.as_bytes())
        );
    }
    assert_eq!(strikes(b"t1 FOO \x01\r\n"), 2);
    assert!(well_formed(
        b"t1 FETCH 1 (BODY[HEADER.FIELDS (A B)]<0.10>)\r\n"
    ));
    assert!(well_formed(b"t1 LOGIN a]b {2}\r\n\0x\r\n"));
    assert!(!well_formed(b"t1 X {5}\r\nab\r\n"));
    assert!(well_formed(b"t1 X ~/mail ~{1}\r\n\0\r\n"));
    assert!(!well_formed(b"t1 X [a)\r\n"));
    assert!(!well_formed(b"t1 X\r\nt2 NOOP\r\n"));
}
