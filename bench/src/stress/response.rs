//! IMAP responses: one complete response (its lines and literals exactly as received)
//! becomes a [`Resp`], with the response codes the checker uses ([`Code`]).
//!
//! Grammar: RFC 3501 §9 (`response-data`, `msg-att`, `resp-text-code`), RFC 4315 §4 (APPENDUID,
//! COPYUID), RFC 7162 §7 (MODSEQ, HIGHESTMODSEQ, MODIFIED, VANISHED), RFC 4731 §3.1 (ESEARCH).

use super::parse::{Lexer, NumSet, PResult, Val};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    Preauth,
}

/// Response codes the checker uses (RFC 3501 §7.1, RFC 4315 §3, RFC 7162 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    PermanentFlags(Vec<String>),
    UidValidity(u32),
    UidNext(u32),
    HighestModseq(u64),
    NoModseq,
    AppendUid {
        validity: u32,
        uids: NumSet,
    },
    CopyUid {
        validity: u32,
        src: NumSet,
        dst: NumSet,
    },
    Modified(NumSet),
    Other(String),
}

/// One server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Tagged {
        tag: String,
        status: Status,
        code: Option<Code>,
        text: String,
    },
    /// `+ ...` (continuation request).
    Cont,
    /// Untagged OK/NO/BAD/BYE/PREAUTH.
    Cond {
        status: Status,
        code: Option<Code>,
        text: String,
    },
    Exists(u32),
    Expunge(u32),
    Recent(u32),
    Fetch {
        seq: u32,
        items: Vec<(String, Val)>,
    },
    Flags(Vec<String>),
    Search {
        nums: Vec<u32>,
        modseq: Option<u64>,
    },
    Esearch {
        uid: bool,
        count: Option<u32>,
        min: Option<u32>,
        max: Option<u32>,
        all: Option<NumSet>,
    },
    Vanished {
        earlier: bool,
        uids: NumSet,
    },
    /// CAPABILITY, ENABLED, LIST, STATUS, ...: not modelled.
    Other(String),
}

fn flag_list(v: &Val) -> Vec<String> {
    v.list()
        .unwrap_or_default()
        .iter()
        .filter_map(Val::text)
        .collect()
}

fn status(word: &str) -> Option<Status> {
    Some(match word.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        "BYE" => Status::Bye,
        "PREAUTH" => Status::Preauth,
        _ => return None,
    })
}

/// `[CODE args] text` after a status word.
fn resp_text(lx: &mut Lexer) -> PResult<(Option<Code>, String)> {
    lx.sp();
    if lx.peek() != Some(b'[') {
        return Ok((None, lx.text()));
    }
    let close = lx.b[lx.p..]
        .iter()
        .position(|&c| c == b']')
        .ok_or("unclosed response code")?;
    let inner = &lx.b[lx.p + 1..lx.p + close];
    lx.p += close + 1;
    let text = lx.text();
    let inner_s = String::from_utf8_lossy(inner).into_owned();
    let mut il = Lexer { b: inner, p: 0 };
    let name = il.atom()?.to_ascii_uppercase();
    let num = |il: &mut Lexer| il.num();
    let word = |il: &mut Lexer| -> PResult<String> {
        il.sp();
        il.atom()
    };
    let set = |il: &mut Lexer| -> PResult<NumSet> {
        let w = word(il)?;
        NumSet::parse(&w).ok_or_else(|| format!("bad set {w}"))
    };
    let code = match name.as_str() {
        "PERMANENTFLAGS" => Code::PermanentFlags(flag_list(&il.value()?)),
        "UIDVALIDITY" => Code::UidValidity(num(&mut il)? as u32),
        "UIDNEXT" => Code::UidNext(num(&mut il)? as u32),
        "HIGHESTMODSEQ" => Code::HighestModseq(num(&mut il)?),
        "NOMODSEQ" => Code::NoModseq,
        "APPENDUID" => Code::AppendUid {
            validity: num(&mut il)? as u32,
            uids: set(&mut il)?,
        },
        "COPYUID" => Code::CopyUid {
            validity: num(&mut il)? as u32,
            src: set(&mut il)?,
            dst: set(&mut il)?,
        },
        "MODIFIED" => Code::Modified(set(&mut il)?),
        _ => Code::Other(inner_s),
    };
    Ok((Some(code), text))
}

/// Parses one complete response (the bytes of its lines with their literals).
pub fn parse(raw: &[u8]) -> PResult<Resp> {
    let mut lx = Lexer { b: raw, p: 0 };
    if raw.starts_with(b"+") {
        return Ok(Resp::Cont);
    }
    let tag = lx.atom()?;
    lx.sp();
    if tag != "*" {
        let w = lx.atom()?;
        let st = status(&w).ok_or_else(|| format!("tagged response with status {w}"))?;
        let (code, text) = resp_text(&mut lx)?;
        return Ok(Resp::Tagged {
            tag,
            status: st,
            code,
            text,
        });
    }
    let first = lx.atom()?;
    if let Ok(n) = first.parse::<u32>() {
        lx.sp();
        let what = lx.atom()?.to_ascii_uppercase();
        return match what.as_str() {
            "EXISTS" => Ok(Resp::Exists(n)),
            "EXPUNGE" => Ok(Resp::Expunge(n)),
            "RECENT" => Ok(Resp::Recent(n)),
            "FETCH" => {
                lx.sp();
                if lx.peek() != Some(b'(') {
                    return Err("FETCH without (".into());
                }
                lx.p += 1;
                let mut items = Vec::new();
                loop {
                    lx.sp();
                    match lx.peek() {
                        Some(b')') => break,
                        None | Some(b'\r') | Some(b'\n') => return Err("unclosed FETCH".into()),
                        _ => {}
                    }
                    let name = lx.atom()?.to_ascii_uppercase();
                    let v = lx.value()?;
                    items.push((name, v));
                }
                Ok(Resp::Fetch { seq: n, items })
            }
            _ => Ok(Resp::Other(String::from_utf8_lossy(raw).into_owned())),
        };
    }
    let upper = first.to_ascii_uppercase();
    if let Some(st) = status(&upper) {
        let (code, text) = resp_text(&mut lx)?;
        return Ok(Resp::Cond {
            status: st,
            code,
            text,
        });
    }
    match upper.as_str() {
        "FLAGS" => Ok(Resp::Flags(flag_list(&lx.value()?))),
        "SEARCH" => {
            let mut nums = Vec::new();
            let mut modseq = None;
            loop {
                lx.sp();
                if lx.at_end() {
                    break;
                }
                match lx.value()? {
                    Val::Num(n) => nums.push(n as u32),
                    // RFC 7162 §3.1.5: `(MODSEQ n)` at the end.
                    Val::List(l) => modseq = l.get(1).and_then(Val::num),
                    v => return Err(format!("SEARCH: unexpected {v:?}")),
                }
            }
            Ok(Resp::Search { nums, modseq })
        }
        "ESEARCH" => {
            let (mut uid, mut count, mut min, mut max, mut all) = (false, None, None, None, None);
            loop {
                lx.sp();
                if lx.at_end() {
                    break;
                }
                if lx.peek() == Some(b'(') {
                    lx.value()?; // (TAG "x")
                    continue;
                }
                let k = lx.atom()?.to_ascii_uppercase();
                match k.as_str() {
                    "UID" => uid = true,
                    "COUNT" => count = Some(lx.num()? as u32),
                    "MIN" => min = Some(lx.num()? as u32),
                    "MAX" => max = Some(lx.num()? as u32),
                    "ALL" => {
                        lx.sp();
                        let w = lx.atom()?;
                        all = Some(NumSet::parse(&w).ok_or("bad ALL set")?);
                    }
                    _ => {
                        lx.value()?;
                    }
                }
            }
            Ok(Resp::Esearch {
                uid,
                count,
                min,
                max,
                all,
            })
        }
        "VANISHED" => {
            lx.sp();
            let mut earlier = false;
            if lx.peek() == Some(b'(') {
                lx.value()?;
                earlier = true;
                lx.sp();
            }
            let w = lx.atom()?;
            Ok(Resp::Vanished {
                earlier,
                uids: NumSet::parse(&w).ok_or("bad VANISHED set")?,
            })
        }
        _ => Ok(Resp::Other(String::from_utf8_lossy(raw).into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_with_literals_and_sections() {
        let raw = b"* 3 FETCH (UID 17 FLAGS (\\Seen $Label1) MODSEQ (42) \
BODY[HEADER.FIELDS (SUBJECT FROM)] {10}\r\nSubject:\r\n BODY[]<0> \"ab\" ENVELOPE (NIL \"x\\\"y\" NIL))\r\n";
        let r = parse(raw).unwrap();
        let Resp::Fetch { seq, items } = r else {
            panic!("{r:?}")
        };
        assert_eq!(seq, 3);
        assert_eq!(items[0], ("UID".into(), Val::Num(17)));
        assert_eq!(flag_list(&items[1].1), vec!["\\Seen", "$Label1"]);
        assert_eq!(items[2].1.list().unwrap()[0], Val::Num(42));
        assert_eq!(items[3].0, "BODY[HEADER.FIELDS (SUBJECT FROM)]");
        assert_eq!(items[3].1, Val::Str(b"Subject:\r\n".to_vec()));
        assert_eq!(items[4].0, "BODY[]<0>");
        assert_eq!(
            items[5].1,
            Val::List(vec![Val::Nil, Val::Str(b"x\"y".to_vec()), Val::Nil])
        );
        // A literal and a quoted string with the same content are the same value.
        assert_eq!(
            parse(b"* 1 FETCH (BODY[] {2}\r\nab)\r\n"),
            parse(b"* 1 FETCH (BODY[] \"ab\")\r\n")
        );
    }

    #[test]
    fn codes_and_untagged() {
        assert_eq!(
            parse(b"a1 OK [COPYUID 9 4:6,8 10:13] done\r\n").unwrap(),
            Resp::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                code: Some(Code::CopyUid {
                    validity: 9,
                    src: NumSet(vec![(4, 6), (8, 8)]),
                    dst: NumSet(vec![(10, 13)]),
                }),
                text: "done".into(),
            }
        );
        assert_eq!(
            parse(b"* OK [PERMANENTFLAGS (\\Seen \\*)] x\r\n").unwrap(),
            Resp::Cond {
                status: Status::Ok,
                code: Some(Code::PermanentFlags(vec!["\\Seen".into(), "\\*".into()])),
                text: "x".into()
            }
        );
        assert_eq!(parse(b"* 4 EXPUNGE\r\n").unwrap(), Resp::Expunge(4));
        assert_eq!(
            parse(b"* SEARCH 2 5 (MODSEQ 17)\r\n").unwrap(),
            Resp::Search {
                nums: vec![2, 5],
                modseq: Some(17)
            }
        );
        assert_eq!(
            parse(b"* SEARCH\r\n").unwrap(),
            Resp::Search {
                nums: vec![],
                modseq: None
            }
        );
        assert_eq!(
            parse(b"* VANISHED (EARLIER) 3:5\r\n").unwrap(),
            Resp::Vanished {
                earlier: true,
                uids: NumSet(vec![(3, 5)])
            }
        );
        assert_eq!(
            parse(b"* ESEARCH (TAG \"a4\") UID MIN 2 MAX 9 COUNT 3 ALL 2,5,9\r\n").unwrap(),
            Resp::Esearch {
                uid: true,
                count: Some(3),
                min: Some(2),
                max: Some(9),
                all: NumSet::parse("2,5,9"),
            }
        );
        assert_eq!(
            parse(b"a2 OK [MODIFIED 7,9] Conditional STORE failed\r\n").unwrap(),
            Resp::Tagged {
                tag: "a2".into(),
                status: Status::Ok,
                code: Some(Code::Modified(NumSet(vec![(7, 7), (9, 9)]))),
                text: "Conditional STORE failed".into()
            }
        );
        assert!(matches!(parse(b"+ idling\r\n").unwrap(), Resp::Cont));
    }
}
