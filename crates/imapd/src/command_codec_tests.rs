//! The imap-codec adapter: one test per command family (what our `Kind` gets), the extension
//! fallback, bad input (reasons, no credentials echoed, never a panic), chunked and pipelined
//! input.

use super::ext_tests::refeed;
use super::*;
use crate::response::days_from_civil;
use crate::search::{DateCmp, DateOf, SearchKey};
use SearchKey as K;

fn ok(input: &str) -> Kind {
    ok_bytes(input.as_bytes())
}

pub(super) fn ok_bytes(input: &[u8]) -> Kind {
    match parse(input) {
        Ok((c, n)) => {
            assert_eq!(n, input.len(), "{:?}", String::from_utf8_lossy(input));
            assert_eq!(c.tag, "t1");
            c.kind
        }
        Err(e) => panic!("{:?}: {e:?}", String::from_utf8_lossy(input)),
    }
}

/// BAD: a syntax error or an unknown-but-well-formed command; the tag and reason.
fn bad(input: &[u8]) -> (Option<String>, String) {
    match parse(input) {
        Err(ParseError::Syntax { tag, reason }) => (tag, reason),
        Err(ParseError::Unknown { tag, reason }) => (Some(tag), reason),
        other => panic!(
            "{:?}: expected BAD, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn set(v: &[(u32, Option<u32>)]) -> SeqSet {
    SeqSet(
        v.iter()
            .map(|&(a, b)| match b {
                Some(0) => (Bound::Num(a), Bound::Star),
                Some(b) => (Bound::Num(a), Bound::Num(b)),
                None => (Bound::Num(a), Bound::Num(a)),
            })
            .collect(),
    )
}

#[test]
fn any_state_and_auth() {
    assert_eq!(ok("t1 capability\r\n"), Kind::Capability);
    assert_eq!(ok("t1 NOOP\r\n"), Kind::Noop);
    assert_eq!(ok("t1 LOGOUT\r\n"), Kind::Logout);
    assert_eq!(ok("t1 STARTTLS\r\n"), Kind::StartTls);
    assert_eq!(ok("t1 ID NIL\r\n"), Kind::Id);
    assert_eq!(ok("t1 ID (\"name\" \"mutt\" \"os\" NIL)\r\n"), Kind::Id);
    assert_eq!(ok("t1 NAMESPACE\r\n"), Kind::Namespace);
    assert_eq!(ok("t1 IDLE\r\n"), Kind::Idle);
    // Quoted (8-bit UTF-8 kept, ext_utf8), literal, LITERAL+ (RFC 7888).
    assert_eq!(
        ok("t1 LOGIN \"j\\\\d\" \"p\u{e4}ss\"\r\n"),
        Kind::Login {
            user: "j\\d".into(),
            pass: "p\u{e4}ss".into()
        }
    );
    assert_eq!(
        ok("t1 LOGIN {4}\r\nuser {4+}\r\n\"pw\"\r\n"),
        Kind::Login {
            user: "user".into(),
            pass: "\"pw\"".into()
        }
    );
    // imap-codec decodes the SASL-IR base64; the SASL exchange gets it encoded again.
    let ir = auth::sasl::encode_base64(b"\0alice\0secret");
    assert_eq!(
        ok(&format!("t1 authenticate plain {ir}\r\n")),
        Kind::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(auth::Secret::new(ir.into_bytes()))
        }
    );
    assert_eq!(
        ok("t1 AUTHENTICATE PLAIN =\r\n"),
        Kind::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(auth::Secret::new(vec![]))
        }
    );
    assert_eq!(
        ok("t1 AUTHENTICATE x-foo\r\n"),
        Kind::Authenticate {
            mechanism: "X-FOO".into(),
            initial: None
        }
    );
}

#[test]
fn mailboxes() {
    let select = |m: &str, read_only, params| Kind::Select {
        mailbox: m.into(),
        read_only,
        params,
    };
    // RFC 3501 §5.1: any case of INBOX is INBOX; §5.1.3 modified UTF-7 decoded.
    assert_eq!(
        ok("t1 SELECT iNbOx\r\n"),
        select("INBOX", false, SelectParams::default())
    );
    assert_eq!(
        ok("t1 EXAMINE \"Entw&APw-rfe\"\r\n"),
        select("Entwürfe", true, SelectParams::default())
    );
    assert_eq!(
        ok("t1 SELECT {5}\r\nInbox\r\n"),
        select("INBOX", false, SelectParams::default())
    );
    assert_eq!(
        ok("t1 EXAMINE a/b (CONDSTORE)\r\n"),
        select(
            "a/b",
            true,
            SelectParams {
                condstore: true,
                qresync: None
            }
        )
    );
    assert_eq!(
        ok("t1 SELECT x (QRESYNC (9 42 1:5,7 (3,5 7,9)))\r\n"),
        select(
            "x",
            false,
            SelectParams {
                condstore: false,
                qresync: Some(Qresync {
                    uidvalidity: UidValidity::new(9),
                    modseq: ModSeq::new(42),
                    known_uids: Some(set(&[(1, Some(5)), (7, None)])),
                    seq_match: Some((set(&[(3, None), (5, None)]), set(&[(7, None), (9, None)]))),
                })
            }
        )
    );
    assert_eq!(
        ok("t1 CREATE \"a b\"\r\n"),
        Kind::Create {
            mailbox: "a b".into(),
            special_use: vec![]
        }
    );
    assert_eq!(ok("t1 DELETE x\r\n"), Kind::Delete("x".into()));
    assert_eq!(
        ok("t1 RENAME x \"y&AOQ-\"\r\n"),
        Kind::Rename("x".into(), "yä".into())
    );
    assert_eq!(ok("t1 SUBSCRIBE x\r\n"), Kind::Subscribe("x".into()));
    assert_eq!(ok("t1 UNSUBSCRIBE x\r\n"), Kind::Unsubscribe("x".into()));
    assert_eq!(
        ok("t1 LSUB \"\" a/%\r\n"),
        Kind::List {
            reference: "".into(),
            patterns: vec!["a/%".into()],
            lsub: true,
            opts: ListOpts::default()
        }
    );
    assert_eq!(
        ok("t1 LIST \"\" \"*\"\r\n"),
        Kind::List {
            reference: "".into(),
            patterns: vec!["*".into()],
            lsub: false,
            opts: ListOpts::default()
        }
    );
    assert_eq!(
        ok("t1 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ DELETED)\r\n"),
        Kind::Status {
            mailbox: "INBOX".into(),
            items: [
                "MESSAGES",
                "RECENT",
                "UIDNEXT",
                "UIDVALIDITY",
                "UNSEEN",
                "SIZE",
                "HIGHESTMODSEQ",
                "DELETED"
            ]
            .map(String::from)
            .to_vec()
        }
    );
    assert_eq!(
        ok("t1 GETQUOTAROOT Sent\r\n"),
        Kind::GetQuotaRoot("Sent".into())
    );
    assert_eq!(ok("t1 GETQUOTA \"\"\r\n"), Kind::GetQuota("".into()));
    assert_eq!(
        ok("t1 SETQUOTA \"\" (STORAGE 512)\r\n"),
        Kind::SetQuota("".into())
    );
    assert_eq!(
        ok("t1 ENABLE condstore QRESYNC X-FOO\r\n"),
        Kind::Enable(["CONDSTORE", "QRESYNC", "X-FOO"].map(String::from).to_vec())
    );
}

#[test]
fn append() {
    let Kind::Append { mailbox, messages } =
        ok("t1 APPEND Sent (\\Seen $Label1) \" 7-Jul-1996 02:44:25 -0700\" {7}\r\na\r\nb\r\n\r\n")
    else {
        panic!("append")
    };
    let [AppendMsg {
        flags,
        date,
        message,
        catenate: None,
    }] = &messages[..]
    else {
        panic!("one message")
    };
    let (flags, date) = (flags.clone(), *date);
    assert_eq!(mailbox, "Sent");
    assert_eq!(flags, vec!["\\Seen".to_string(), "$Label1".to_string()]);
    let local = days_from_civil(1996, 7, 7) * 86400 + 2 * 3600 + 44 * 60 + 25;
    assert_eq!(date, Some((local + 7 * 3600, -420)));
    assert_eq!(message, b"a\r\nb\r\n\r");
    // RFC 3516 literal8 may carry NUL; a plain literal may not (RFC 3501 §4.3).
    assert!(matches!(
        ok_bytes(b"t1 APPEND x ~{3}\r\na\0b\r\n"),
        Kind::Append { ref messages, .. } if messages[0].message == b"a\0b" && messages[0].date.is_none()
    ));
    assert!(bad(b"t1 APPEND x {3}\r\na\0b\r\n").1.contains("APPEND"));
    assert!(
        !bad(b"t1 APPEND x \"31-Feb-2020 00:00:00 +0000\" {1}\r\nx\r\n")
            .1
            .is_empty()
    );
}

#[test]
fn selected_state() {
    assert_eq!(ok("t1 CHECK\r\n"), Kind::Check);
    assert_eq!(ok("t1 CLOSE\r\n"), Kind::Close);
    assert_eq!(ok("t1 UNSELECT\r\n"), Kind::Unselect);
    assert_eq!(ok("t1 EXPUNGE\r\n"), Kind::Expunge { uids: None });
    assert_eq!(
        ok("t1 UID EXPUNGE 3:*\r\n"),
        Kind::Expunge {
            uids: Some(set(&[(3, Some(0))]))
        }
    );
    assert_eq!(
        ok("t1 uid copy 1,3 Trash\r\n"),
        Kind::Copy {
            uid: true,
            set: set(&[(1, None), (3, None)]),
            mailbox: "Trash".into(),
            is_move: false
        }
    );
    assert_eq!(
        ok("t1 MOVE 2:4 Trash\r\n"),
        Kind::Copy {
            uid: false,
            set: set(&[(2, Some(4))]),
            mailbox: "Trash".into(),
            is_move: true
        }
    );
    assert_eq!(
        ok("t1 UID STORE 5 (UNCHANGEDSINCE 12) -FLAGS.SILENT (\\Deleted foo)\r\n"),
        Kind::Store {
            uid: true,
            set: set(&[(5, None)]),
            op: StoreOp::Remove,
            silent: true,
            flags: vec!["\\Deleted".into(), "foo".into()],
            unchanged_since: Some(ModSeq::new(12))
        }
    );
    assert_eq!(
        ok("t1 STORE 1:* FLAGS \\Seen \\Answered\r\n"),
        Kind::Store {
            uid: false,
            set: set(&[(1, Some(0))]),
            op: StoreOp::Set,
            silent: false,
            flags: vec!["\\Seen".into(), "\\Answered".into()],
            unchanged_since: None
        }
    );
}

#[test]
fn fetch_items() {
    let items = |input: &str| match ok(input) {
        Kind::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    };
    use FetchAtt as F;
    assert_eq!(
        items("t1 FETCH 1 FAST\r\n"),
        vec![F::Flags, F::InternalDate, F::Rfc822Size]
    );
    assert_eq!(items("t1 FETCH 1 ALL\r\n").len(), 4);
    assert_eq!(items("t1 FETCH 1 FULL\r\n").last(), Some(&F::Body));
    assert_eq!(
        items("t1 FETCH 1 (UID RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ)\r\n"),
        vec![
            F::Uid,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Text,
            F::Rfc822Size,
            F::Envelope,
            F::Body,
            F::BodyStructure,
            F::ModSeq
        ]
    );
    let sec = |peek, part: Vec<u32>, text, partial| F::Section {
        peek,
        section: Section { part, text },
        partial,
    };
    assert_eq!(
        items("t1 FETCH 1 (BODY[] BODY.PEEK[2.1.MIME]<10.20> BINARY.PEEK[1] BODY[HEADER.FIELDS.NOT (Received \"X-A\")])\r\n"),
        vec![
            sec(false, vec![], None, None),
            sec(true, vec![2, 1], Some(SectionText::Mime), Some((10, 20))),
            F::Binary {
                peek: true,
                part: vec![1],
                partial: None
            },
            sec(
                false,
                vec![],
                Some(SectionText::HeaderFieldsNot(vec!["Received".into(), "X-A".into()])),
                None
            ),
        ]
    );
    assert_eq!(
        items("t1 FETCH 1 body[3.TEXT]\r\n"),
        vec![sec(false, vec![3], Some(SectionText::Text), None)]
    );
    assert_eq!(
        items("t1 FETCH 1 (BINARY.SIZE[1.2] BINARY[]<0.10>)\r\n"),
        vec![
            F::BinarySize { part: vec![1, 2] },
            F::Binary {
                peek: false,
                part: vec![],
                partial: Some((0, 10))
            }
        ]
    );
    assert!(matches!(
        ok("t1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7 VANISHED)\r\n"),
        Kind::Fetch {
            uid: true,
            changed_since: Some(m),
            vanished: true,
            ..
        } if m == ModSeq::new(7)
    ));
}

#[test]
fn search_keys() {
    let key = |input: &str| match ok(input) {
        Kind::Search { key, .. } => key,
        other => panic!("{other:?}"),
    };
    let day = days_from_civil(2024, 2, 29);
    assert_eq!(
        key("t1 SEARCH CHARSET utf-8 SINCE 29-Feb-2024 SENTBEFORE \"1-Mar-2024\"\r\n"),
        K::And(vec![
            K::Date(DateCmp::Since, day, DateOf::Internal),
            K::Date(DateCmp::Before, day + 1, DateOf::Sent)
        ])
    );
    assert_eq!(
        key("t1 SEARCH OR FROM a (HEADER X-Y \"z\" LARGER 5) NOT 2:3\r\n"),
        K::And(vec![
            K::Or(
                Box::new(K::Header("From".into(), "a".into())),
                Box::new(K::And(vec![
                    K::Header("X-Y".into(), "z".into()),
                    K::Larger(5)
                ]))
            ),
            K::Not(Box::new(K::Seq(set(&[(2, Some(3))]))))
        ])
    );
    assert_eq!(
        key("t1 SEARCH KEYWORD $Junk UNKEYWORD foo NEW OLD\r\n"),
        K::And(vec![
            K::Keyword("$Junk".into(), true),
            K::Keyword("foo".into(), false),
            K::New,
            K::Recent(false)
        ])
    );
    assert_eq!(
        key("t1 UID SEARCH UID 4:* MODSEQ \"/flags/\\\\draft\" all 620\r\n"),
        K::And(vec![
            K::Uid(set(&[(4, Some(0))])),
            K::ModSeq(ModSeq::new(620))
        ])
    );
    assert_eq!(
        key("t1 SEARCH TEXT {6}\r\nGr\u{fc}\u{df}\r\n"),
        K::Text("Grüß".into())
    );
}

#[test]
fn extension_fallback() {
    // RFC 4731 §3.1: RETURN parsed here, keys by imap-codec; the whole input is consumed.
    let input = "t1 UID SEARCH RETURN (COUNT MAX) CHARSET UTF-8 SUBJECT {2}\r\nhi\r\n";
    assert_eq!(
        ok(input),
        Kind::Search {
            uid: true,
            key: K::Header("Subject".into(), "hi".into()),
            ret: Some(SearchReturn {
                count: true,
                max: true,
                ..Default::default()
            })
        }
    );
    // RFC 6154 §3.
    assert_eq!(
        ok("t1 CREATE {4+}\r\nArch (USE (\\Archive))\r\n"),
        Kind::Create {
            mailbox: "Arch".into(),
            special_use: vec!["\\Archive".into()]
        }
    );
    // RFC 5258 §3, RFC 5819, RFC 6154 §3.
    let Kind::List {
        reference,
        patterns,
        opts,
        lsub: false,
    } = ok("t1 LIST (SPECIAL-USE) inbox (% {3}\r\na/*) RETURN (SUBSCRIBED SPECIAL-USE STATUS (UNSEEN))\r\n")
    else {
        panic!("list")
    };
    assert_eq!(reference, "INBOX");
    assert_eq!(patterns, vec!["%".to_string(), "a/*".to_string()]);
    assert!(opts.extended && opts.select_special_use && opts.return_special_use);
    assert!(opts.return_subscribed && opts.return_status == Some(vec!["UNSEEN".into()]));
    assert!(matches!(
        ok("t1 LIST \"\" % RETURN ()\r\n"),
        Kind::List {
            opts: ListOpts { extended: true, .. },
            ..
        }
    ));
    // Syntax errors inside the extension grammar keep their own reason.
    assert_eq!(
        bad(b"t1 LIST (FOO) \"\" *\r\n").1,
        "unknown LIST selection option FOO"
    );
    assert_eq!(
        bad(b"t1 CREATE x (FOO)\r\n").1,
        "unknown CREATE parameter FOO"
    );
    assert!(bad(b"t1 SEARCH RETURN (SAVE PARTIAL 0:5) ALL\r\n")
        .1
        .contains("PARTIAL range broken"));
    assert!(bad(b"t1 SEARCH RETURN (MIN) BOGUS\r\n")
        .1
        .contains("near \"BOGUS\""));
}

#[test]
fn bad_input() {
    let reason = |input: &str| {
        let (tag, reason) = bad(input.as_bytes());
        assert_eq!(tag.as_deref(), Some("t1"), "{input}");
        reason
    };
    assert_eq!(reason("t1 FROBNICATE\r\n"), "unknown command FROBNICATE");
    // RFC 7162 §3.1.4.1: mod-sequence-value in CHANGEDSINCE is positive.
    assert!(!reason("t1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)\r\n").is_empty());
    assert_eq!(reason("t1 UID FROB 1\r\n"), "unknown UID command FROB");
    assert_eq!(reason("t1\r\n"), "missing command");
    // RFC 5256 §3: a threading algorithm we do not offer.
    assert_eq!(
        reason("t1 THREAD REFSX UTF-8 ALL\r\n"),
        "unknown threading algorithm REFSX (ORDEREDSUBJECT, REFERENCES, REFS)"
    );
    assert_eq!(
        reason("t1 FETCH 1:x FLAGS\r\n"),
        "invalid FETCH arguments near \"1:x FLAGS\""
    );
    assert_eq!(
        reason("t1 FETCH 0 FLAGS\r\n"),
        "invalid FETCH arguments near \"0 FLAGS\""
    );
    assert_eq!(
        reason("t1 NOOP extra\r\n"),
        "invalid NOOP arguments near \" extra\""
    );
    assert_eq!(
        reason("t1 FETCH 1 (FLAGS\r\n"),
        "invalid FETCH arguments: unexpected end of command"
    );
    assert_eq!(
        reason("t1 FETCH 1 FLAGS (VANISHED)\r\n"),
        "VANISHED needs CHANGEDSINCE"
    );
    // Credentials never come back in the reason (traces log responses).
    let r = reason("t1 LOGIN alice \"secret\r\n");
    assert!(
        !r.contains("secret") && r.starts_with("invalid LOGIN"),
        "{r}"
    );
    // Not UTF-8 where we need text.
    assert_eq!(
        bad(b"t1 LOGIN {2}\r\n\xff\xfe pw\r\n").1,
        "string is not UTF-8"
    );
    // No tag, or an invalid one.
    assert_eq!(bad(b"+ NOOP\r\n").0, None);
    assert_eq!(bad(b" NOOP\r\n").0, None);
    assert_eq!(bad(b"t(1 NOOP\r\n").0, None);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep (the fuzz target `imap_command` does the real work).
    let seeds: [&[u8]; 6] = [
        b"t1 UID FETCH 1:* (BODY.PEEK[1.HEADER.FIELDS (A)]<0.9>) (CHANGEDSINCE 3)\r\n",
        b"t1 SEARCH RETURN (MIN) OR (NOT SEEN) 1:3 SINCE 1-Jan-2000\r\n",
        b"t1 LIST (SUBSCRIBED) \"\" (% \"a\") RETURN (STATUS (SIZE))\r\n",
        b"t1 APPEND x (\\Seen) {3+}\r\nabc\r\n",
        b"t1 SELECT x (QRESYNC (1 2 3:4 (1 2)))\r\n",
        b"t1 CREATE x (USE (\\Sent))\r\n",
    ];
    let mut state = 0x2545_f491_u32;
    for seed in seeds {
        for _ in 0..300 {
            let mut v = seed.to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let i = state as usize % v.len();
                v[i] = (state >> 8) as u8;
            }
            if let Ok((_, n)) = parse(&v) {
                assert!(n <= v.len());
            }
        }
    }
}

#[test]
fn chunked_and_pipelined() {
    let inputs: [&[u8]; 6] = [
        b"t1 APPEND INBOX (\\Seen) ~{5}\r\na\0b\r\n\r\n",
        b"t1 CREATE {1}\r\nx (USE (\\Junk))\r\n",
        b"t1 STATUS {5}\r\nINBOX (MESSAGES SIZE)\r\n",
        b"t1 UID SEARCH RETURN () TEXT {3+}\r\nabc\r\n",
        b"t1 LIST \"\" ({1}\r\na {1+}\r\nb)\r\n",
        b"t1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    ];
    for full in inputs {
        refeed(full);
        // Pipelined: the first command's length is exactly its own bytes.
        let mut two = full.to_vec();
        two.extend_from_slice(b"t2 NOOP\r\n");
        let (_, n) = parse(&two).expect("first of two");
        assert_eq!(n, full.len());
        let (c, _) = parse(&two[n..]).expect("second of two");
        assert_eq!((c.tag.as_str(), c.kind), ("t2", Kind::Noop));
    }
}
