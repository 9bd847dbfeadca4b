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

/// A syntax error or an unknown-but-well-formed command (both BAD): the reason.
fn bad(input: &str) -> String {
    match parse(input.as_bytes()) {
        Err(ParseError::Syntax { reason, .. } | ParseError::Unknown { reason, .. }) => reason,
        other => panic!("{input:?}: expected BAD, got {other:?}"),
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
            mailbox: "INBOX".into(),
            read_only: false,
            params: SelectParams::default(),
        }
    );
    assert_eq!(
        ok("a SELECT Entw&APw-rfe\r\n").kind,
        Kind::Select {
            mailbox: "Entwürfe".into(),
            read_only: false,
            params: SelectParams::default(),
        }
    );
    assert_eq!(
        ok("a LIST \"\" %\r\n").kind,
        Kind::List {
            reference: "".into(),
            patterns: vec!["%".into()],
            lsub: false,
            opts: ListOpts::default(),
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
        Kind::Append { ref messages, .. } if messages[0].message == b"hello" && messages[0].date.is_some())
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
        matches!(ok("a AUTHENTICATE PLAIN =\r\n").kind, Kind::Authenticate { initial: Some(ref v), .. } if v.expose().is_empty())
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
fn extensions() {
    // RFC 7162 §3.2.5.
    let Kind::Select { params, .. } =
        ok("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211 (1:3 41,43,45)))\r\n")
            .kind
    else {
        panic!("select")
    };
    let q = params.qresync.expect("qresync");
    assert_eq!(
        (q.uidvalidity.get(), q.modseq.get()),
        (67890007, 20050715194045000)
    );
    assert!(q.known_uids.is_some() && q.seq_match.is_some());
    let Kind::Select { params, .. } = ok("a EXAMINE x (CONDSTORE)\r\n").kind else {
        panic!("examine")
    };
    assert!(params.condstore && params.qresync.is_none());
    let Kind::Select { params, .. } = ok("a SELECT x (QRESYNC (1 2 (1 5)))\r\n").kind else {
        panic!("seq-match only")
    };
    assert!(params
        .qresync
        .is_some_and(|q| q.known_uids.is_none() && q.seq_match.is_some()));
    // RFC 7162 §3.1.4.1, §3.2.6, §3.1.3.
    assert!(matches!(
        ok("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n").kind,
        Kind::Fetch {
            changed_since: Some(m),
            vanished: true,
            ..
        } if m == ModSeq::new(12345)
    ));
    assert!(matches!(
        ok("a STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)\r\n").kind,
        Kind::Store {
            unchanged_since: Some(m),
            ..
        } if m == ModSeq::new(0)
    ));
    assert!(matches!(
        ok("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n").kind,
        Kind::Search {
            key: SearchKey::ModSeq(m),
            ..
        } if m == ModSeq::new(620162338)
    ));
    // RFC 4731 §3.1.
    let Kind::Search { ret, .. } = ok("a UID SEARCH RETURN (MIN COUNT) UNSEEN\r\n").kind else {
        panic!("esearch")
    };
    assert_eq!(
        ret,
        Some(SearchReturn {
            min: true,
            count: true,
            ..Default::default()
        })
    );
    assert!(matches!(
        ok("a SEARCH RETURN () ALL\r\n").kind,
        Kind::Search { ret: Some(_), .. }
    ));
    // RFC 5258 §3, RFC 5819.
    let Kind::List { patterns, opts, .. } = ok(
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" \"S%\") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n",
    )
    .kind
    else {
        panic!("list")
    };
    assert_eq!(patterns, vec!["INBOX".to_string(), "S%".to_string()]);
    assert!(opts.extended && opts.select_subscribed && opts.recursive_match);
    assert_eq!(
        opts.return_status,
        Some(vec!["MESSAGES".to_string(), "SIZE".to_string()])
    );
    // RFC 6154 §3, RFC 9208 §4.2.
    assert_eq!(
        ok("a CREATE Sent2 (USE (\\Sent))\r\n").kind,
        Kind::Create {
            mailbox: "Sent2".into(),
            special_use: vec!["\\Sent".into()]
        }
    );
    assert_eq!(
        ok("a GETQUOTAROOT inbox\r\n").kind,
        Kind::GetQuotaRoot("INBOX".into())
    );
    assert_eq!(
        ok("a GETQUOTA \"\"\r\n").kind,
        Kind::GetQuota(String::new())
    );
    for bad_input in [
        "a LIST (RECURSIVEMATCH) \"\" *\r\n",
        "a LIST (FOO) \"\" *\r\n",
        "a LIST \"\" * RETURN (BAR)\r\n",
        "a SELECT x (FOO)\r\n",
        "a SELECT x (QRESYNC (1 0))\r\n",
        "a FETCH 1 FLAGS (VANISHED)\r\n",
        "a STORE 1 (UNCHANGEDSINCE x) FLAGS \\Seen\r\n",
        "a SEARCH RETURN (SAVE\r\n",
        "a SEARCH RETURN (FOO) ALL\r\n",
    ] {
        assert!(!bad(bad_input).is_empty(), "{bad_input}");
    }
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
        "a SEARCH SINCE 32-Foo-2000\r\n",
        "a APPEND INBOX \"bad date\" {1}\r\nx\r\n",
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
        "a5 SELECT INBOX (QRESYNC (1 20 1:9 (1:3 2,4,6)))\r\n",
        "a6 LIST (SUBSCRIBED) \"\" (\"a\" %) RETURN (STATUS (MESSAGES))\r\n",
        "a7 UID FETCH 1:* FLAGS (CHANGEDSINCE 5 VANISHED)\r\n",
        "a8 UID SEARCH RETURN (MIN MAX) MODSEQ 7\r\n",
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
    assert!(s.contains(3u32, 10) && s.contains(10u32, 10) && !s.contains(5u32, 10));
    let rev = SeqSet(vec![(Bound::Star, Bound::Num(8))]);
    assert!(rev.contains(9u32, 10) && !rev.contains(7u32, 10));
}
