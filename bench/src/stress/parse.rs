//! The values of IMAP responses and their lexer: atoms (with `[section]<origin>`), numbers,
//! strings (quoted or literal), NIL and lists, kept as a small tree ([`Val`]) so that ENVELOPE,
//! BODYSTRUCTURE and body sections compare in a canonical form whatever the server chose
//! between quoted strings and literals (RFC 3501 §4.3: both are a `string`); number sets
//! (`1:3,7`). The responses themselves are in [`super::response`].

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

/// A cursor over a response's bytes.
pub(super) struct Lexer<'a> {
    pub(super) b: &'a [u8],
    pub(super) p: usize,
}

pub(super) type PResult<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    pub(super) fn sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.p += 1;
        }
    }

    pub(super) fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// An atom, including `[section]` (which may hold spaces and parentheses) and `<origin>`.
    pub(super) fn atom(&mut self) -> PResult<String> {
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

    pub(super) fn value(&mut self) -> PResult<Val> {
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
    pub(super) fn text(&mut self) -> String {
        self.sp();
        let end = self.b[self.p..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map_or(self.b.len(), |e| self.p + e);
        let t = String::from_utf8_lossy(&self.b[self.p..end]).into_owned();
        self.p = end;
        t
    }

    pub(super) fn num(&mut self) -> PResult<u64> {
        self.sp();
        match self.value()? {
            Val::Num(n) => Ok(n),
            v => Err(format!("number expected, got {v:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_set, NumSet};

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
