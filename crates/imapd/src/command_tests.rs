use super::*;

fn ok(input: &str) -> Command {
    match parse(input.as_bytes()) {
        Ok((c, n)) => {
            assert_eq!(n, input.len(), "{input}");
            c
        }
        Err(e) => panic!("{input:?}: {e:?}"),
    }
}

fn bad(input: &str) -> String {
    match parse(input.as_bytes()) {
        Err(ParseError::Syntax { reason, .. }) => reason,
        other => panic!("{input:?}: expected syntax error, got {other:?}"),
    }
}

#[test]
fn valid() {
    assert_eq!(ok("a1 NOOP\r\n").kind, Kind::Noop);
    assert_eq!(ok("a1 noop\n").tag, "a1");
    assert_eq!(
        ok("a LOGIN \"us\\\"er\" {3}\r\npw1\r\n").kind,
        Kind::Login {
            user: "us\"er".into(),
            pass: "pw1".into()
        }
    );
    assert_eq!(
        ok("a LOGIN u {3+}\r\npw1\r\n").kind,
        Kind::Login {
            user: "u".into(),
            pass: "pw1".into()
        }
    );
    assert_eq!(
        ok("a SELECT inbox\r\n").kind,
        Kind::Select {
            mailbox: "inbox".into(),
            read_only: false
        }
    );
    assert_eq!(
        ok("a SELECT Entw&APw-rfe\r\n").kind,
        Kind::Select {
            mailbox: "Entwürfe".into(),
            read_only: false
        }
    );
    assert_eq!(
        ok("a LIST \"\" %\r\n").kind,
        Kind::List {
            reference: "".into(),
            pattern: "%".into(),
            lsub: false
        }
    );
    assert!(
        matches!(ok("a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n").kind,
        Kind::Fetch { uid: true, ref items, .. } if items.len() == 2)
    );
    assert!(
        matches!(ok("a FETCH 1 ALL\r\n").kind, Kind::Fetch { ref items, .. } if items.len() == 4)
    );
    assert!(matches!(
        ok("a FETCH 2,4:* BODY[1.2.MIME]\r\n").kind,
        Kind::Fetch { .. }
    ));
    assert!(
        matches!(ok("a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\n").kind,
        Kind::Store { op: StoreOp::Add, silent: true, ref flags, .. } if flags.len() == 2)
    );
    assert!(matches!(
        ok("a STORE 1 FLAGS \\Seen\r\n").kind,
        Kind::Store {
            op: StoreOp::Set,
            ..
        }
    ));
    assert!(
        matches!(ok("a APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello\r\n").kind,
        Kind::Append { ref message, date: Some(_), .. } if message == b"hello")
    );
    assert!(matches!(
        ok("a SEARCH CHARSET UTF-8 OR FROM x (SUBJECT \"y z\" UNSEEN) NOT 1:3\r\n").kind,
        Kind::Search { .. }
    ));
    assert!(matches!(
        ok("a UID SEARCH UID 5:*\r\n").kind,
        Kind::Search { uid: true, .. }
    ));
    assert!(matches!(
        ok("a AUTHENTICATE PLAIN AGEAYg==\r\n").kind,
        Kind::Authenticate {
            initial: Some(_),
            ..
        }
    ));
    assert!(
        matches!(ok("a AUTHENTICATE PLAIN =\r\n").kind, Kind::Authenticate { initial: Some(ref v), .. } if v.is_empty())
    );
    assert!(matches!(ok("a ID (\"name\" \"x\")\r\n").kind, Kind::Id));
    assert!(matches!(ok("a ID NIL\r\n").kind, Kind::Id));
    assert!(matches!(
        ok("a UID EXPUNGE 1:3\r\n").kind,
        Kind::Expunge { uids: Some(_) }
    ));
    assert!(
        matches!(ok("a STATUS INBOX (MESSAGES UNSEEN)\r\n").kind, Kind::Status { ref items, .. } if items.len() == 2)
    );
    assert!(matches!(
        ok("a UID MOVE 1 Trash\r\n").kind,
        Kind::Copy {
            is_move: true,
            uid: true,
            ..
        }
    ));
}

#[test]
fn malformed() {
    for input in [
        "a FOO\r\n",
        "a FETCH 0 FLAGS\r\n",
        "a FETCH x FLAGS\r\n",
        "a FETCH 1 (FLAGS\r\n",
        "a FETCH 1 BODY[9.FOO]\r\n",
        "a SELECT\r\n",
        "a NOOP extra\r\n",
        "a LOGIN \"unterminated\r\n",
        "a SEARCH FOO\r\n",
        "a SEARCH CHARSET KOI8-R ALL\r\n",
        "a SEARCH SINCE 32-Foo-2000\r\n",
        "a APPEND INBOX \"bad date\" {1}\r\nx\r\n",
        "a SELECT &Jjo\r\n",
        "a UID FOO\r\n",
        "a STORE 1 XFLAGS \\Seen\r\n",
    ] {
        assert!(!bad(input).is_empty());
    }
    assert!(matches!(
        parse(b"+ x\r\n"),
        Err(ParseError::Syntax { tag: None, .. })
    ));
}

#[test]
fn chunked_refeed() {
    let inputs = [
        "a1 LOGIN {5}\r\nalice {8}\r\npassword\r\n",
        "a2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)]<0.10>)\r\n",
        "a3 APPEND INBOX (\\Seen) {12}\r\nhello\r\nworld\r\n",
        "a4 SEARCH OR (FROM \"a b\") TO c NOT DELETED\r\n",
    ];
    for input in inputs {
        let full = input.as_bytes();
        for cut in 0..full.len() {
            assert_eq!(
                parse(&full[..cut]),
                Err(ParseError::Incomplete),
                "{input:?} cut at {cut}"
            );
        }
        for chunk in [1, 2, 4, 8, 512] {
            let mut buf = Vec::new();
            let mut got = None;
            for piece in full.chunks(chunk) {
                buf.extend_from_slice(piece);
                match parse(&buf) {
                    Ok((c, n)) => {
                        assert_eq!(n, full.len());
                        got = Some(c);
                    }
                    Err(ParseError::Incomplete) => {}
                    Err(e) => panic!("{input:?}: {e:?}"),
                }
            }
            assert!(got.is_some(), "{input:?} chunk {chunk}");
        }
    }
}

#[test]
fn pipelined() {
    let two = b"a NOOP\r\nb CAPABILITY\r\n";
    let (c, n) = parse(two).expect("first");
    assert_eq!(c.tag, "a");
    let (c2, _) = parse(&two[n..]).expect("second");
    assert_eq!(c2.kind, Kind::Capability);
}

#[test]
fn literal_suffixes() {
    assert_eq!(literal_suffix(b"a LOGIN {5}\r\n"), Some((5, false)));
    assert_eq!(literal_suffix(b"a APPEND x {100+}\r\n"), Some((100, true)));
    assert_eq!(literal_suffix(b"a NOOP\r\n"), None);
    assert_eq!(literal_suffix(b"a x {}\r\n"), None);
    assert_eq!(literal_suffix(b"a x {1a}\r\n"), None);
}

#[test]
fn seqset() {
    let s = SeqSet(vec![
        (Bound::Num(2), Bound::Num(4)),
        (Bound::Num(9), Bound::Star),
    ]);
    assert!(s.contains(3, 10) && s.contains(10, 10) && !s.contains(5, 10));
    let rev = SeqSet(vec![(Bound::Star, Bound::Num(8))]);
    assert!(rev.contains(9, 10) && !rev.contains(7, 10));
}
