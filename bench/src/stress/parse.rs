//! IMAP response parsing for the stress checker: one complete response (its lines and literals
//! exactly as received) becomes a [`Resp`]. Values are kept as a small tree ([`Val`]) so that
//! ENVELOPE, BODYSTRUCTURE and body sections can be compared in a canonical form, whatever the
//! server chose between quoted strings and literals (RFC 3501 §4.3: both are a `string`).
//!
//! Grammar: RFC 3501 §9 (`response-data`, `msg-att`, `resp-text-code`), RFC 4315 §4 (APPENDUID,
//! COPYUID), RFC 7162 §7 (MODSEQ, HIGHESTMODSEQ, MODIFIED, VANISHED), RFC 4731 §3.1 (ESEARCH).

use std::fmt::Write as _;

/// One value of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Atom(String),
    Num(u64),
    /// A quoted string or a literal (RFC 3501 §4.3).
    Str(Vec<u8>),
    Nil,
    List(Vec<Val>),
}

impl Val {
    /// Canonical bytes: strings always quoted with their length, so equal values from a
    /// literal and from a quoted string compare equal.
    pub fn canon(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.canon_into(&mut out);
        out
    }

    fn canon_into(&self, out: &mut Vec<u8>) {
        match self {
            Val::Atom(a) => out.extend_from_slice(a.to_ascii_uppercase().as_bytes()),
            Val::Num(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Val::Str(s) => {
                out.extend_from_slice(format!("{{{}}}", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            Val::Nil => out.extend_from_slice(b"NIL"),
            Val::List(l) => {
                out.push(b'(');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    v.canon_into(out);
                }
                out.push(b')');
            }
        }
    }

    pub fn num(&self) -> Option<u64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&[Val]> {
        match self {
            Val::List(l) => Some(l),
            _ => None,
        }
    }

    /// The bytes of a string (`None` for NIL and anything else).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An atom, a number or a string as text (flags, keywords, dates).
    pub fn text(&self) -> Option<String> {
        match self {
            Val::Atom(a) => Some(a.clone()),
            Val::Num(n) => Some(n.to_string()),
            Val::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }
}

/// A set of numbers as inclusive ranges (`1:3,7`), as servers send it in VANISHED, COPYUID,
/// MODIFIED and ESEARCH ALL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumSet(pub Vec<(u32, u32)>);

impl NumSet {
    pub fn parse(s: &str) -> Option<NumSet> {
        let mut v = Vec::new();
        for part in s.split(',') {
            let (a, b) = match part.split_once(':') {
                Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
                None => {
                    let n: u32 = part.parse().ok()?;
                    (n, n)
                }
            };
            v.push((a.min(b), a.max(b)));
        }
        Some(NumSet(v))
    }

    pub fn contains(&self, n: u32) -> bool {
        self.0.iter().any(|&(a, b)| a <= n && n <= b)
    }

    /// Every number, in the order listed (each range ascending); `None` above `limit`.
    pub fn expand(&self, limit: usize) -> Option<Vec<u32>> {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            if out.len() + (b - a) as usize >= limit {
                return None;
            }
            out.extend(a..=b);
        }
        Some(out)
    }
}

/// `1:3,5` from numbers (sorted, deduplicated first).
pub fn fmt_set(nums: &[u32]) -> String {
    let mut v = nums.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut s = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !s.is_empty() {
            s.push(',');
        }
        if start == end {
            let _ = write!(s, "{start}");
        } else {
            let _ = write!(s, "{start}:{end}");
        }
        i += 1;
    }
    s
}

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

struct Lexer<'a> {
    b: &'a [u8],
    p: usize,
}

type PResult<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    fn sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.p += 1;
        }
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// An atom, including `[section]` (which may hold spaces and parentheses) and `<origin>`.
    fn atom(&mut self) -> PResult<String> {
        let start = self.p;
        while let Some(c) = self.peek() {
            match c {
                b'[' => {
                    let mut depth = 0usize;
                    while let Some(c) = self.peek() {
                        self.p += 1;
                        match c {
                            b'[' => depth += 1,
                            b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            b'\r' | b'\n' => return Err("unterminated [".into()),
                            _ => {}
                        }
                    }
                }
                b'<' => {
                    while let Some(c) = self.peek() {
                        self.p += 1;
                        if c == b'>' {
                            break;
                        }
                    }
                }
                b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{' => break,
                _ => self.p += 1,
            }
        }
        if self.p == start {
            return Err(format!("atom expected at byte {}", self.p));
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.p]).into_owned())
    }

    fn value(&mut self) -> PResult<Val> {
        self.sp();
        match self.peek() {
            None => Err("value expected at end of response".into()),
            Some(b'(') => {
                self.p += 1;
                let mut items = Vec::new();
                loop {
                    self.sp();
                    match self.peek() {
                        Some(b')') => {
                            self.p += 1;
                            return Ok(Val::List(items));
                        }
                        None | Some(b'\r') | Some(b'\n') => return Err("unclosed (".into()),
                        _ => items.push(self.value()?),
                    }
                }
            }
            Some(b'"') => {
                self.p += 1;
                let mut s = Vec::new();
                loop {
                    match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => return Err("unclosed quote".into()),
                        Some(b'"') => {
                            self.p += 1;
                            return Ok(Val::Str(s));
                        }
                        Some(b'\\') => {
                            self.p += 1;
                            s.push(self.peek().ok_or("bad escape")?);
                            self.p += 1;
                        }
                        Some(c) => {
                            s.push(c);
                            self.p += 1;
                        }
                    }
                }
            }
            Some(b'{') => {
                let close = self.b[self.p..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("unclosed {")?;
                let digits = &self.b[self.p + 1..self.p + close];
                let digits = digits.strip_suffix(b"+").unwrap_or(digits);
                let n: usize = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or("bad literal length")?;
                self.p += close + 1;
                if self.b.get(self.p..self.p + 2) != Some(b"\r\n") {
                    return Err("literal without CRLF".into());
                }
                self.p += 2;
                let body = self.b.get(self.p..self.p + n).ok_or("short literal")?;
                self.p += n;
                Ok(Val::Str(body.to_vec()))
            }
            Some(_) => {
                let a = self.atom()?;
                if a.eq_ignore_ascii_case("NIL") {
                    Ok(Val::Nil)
                } else if a.bytes().all(|c| c.is_ascii_digit()) {
                    a.parse()
                        .map(Val::Num)
                        .map_err(|_| "number too large".into())
                } else {
                    Ok(Val::Atom(a))
                }
            }
        }
    }

    /// The rest of the line as text.
    fn text(&mut self) -> String {
        self.sp();
        let end = self.b[self.p..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map_or(self.b.len(), |e| self.p + e);
        let t = String::from_utf8_lossy(&self.b[self.p..end]).into_owned();
        self.p = end;
        t
    }

    fn num(&mut self) -> PResult<u64> {
        self.sp();
        match self.value()? {
            Val::Num(n) => Ok(n),
            v => Err(format!("number expected, got {v:?}")),
        }
    }
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
BODY[HEADER.FIELDS (SUBJECT FROM)] {9}\r\nSubject:\r\n BODY[]<0> \"ab\" ENVELOPE (NIL \"x\\\"y\" NIL))\r\n";
        let r = parse(raw).unwrap();
        let Resp::Fetch { seq, items } = r else {
            panic!("{r:?}")
        };
        assert_eq!(seq, 3);
        assert_eq!(items[0], ("UID".into(), Val::Num(17)));
        assert_eq!(flag_list(&items[1].1), vec!["\\Seen", "$Label1"]);
        assert_eq!(items[2].1.list().unwrap()[0], Val::Num(42));
        assert_eq!(items[3].0, "BODY[HEADER.FIELDS (SUBJECT FROM)]");
        assert_eq!(items[3].1, Val::Str(b"Subject:\r".to_vec()));
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

    #[test]
    fn sets() {
        assert_eq!(fmt_set(&[5, 1, 2, 3, 9, 10]), "1:3,5,9:10");
        assert_eq!(
            NumSet::parse("6:4").unwrap().expand(10).unwrap(),
            vec![4, 5, 6]
        );
        assert!(NumSet::parse("1:100").unwrap().expand(10).is_none());
        assert!(NumSet::parse("x").is_none());
    }
}
