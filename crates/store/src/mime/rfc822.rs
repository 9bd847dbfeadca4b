//! RFC 5322 / RFC 2045 lexical scanning on raw header values: CFWS (comments nest), atoms,
//! dot-atoms, quoted strings, phrases, domains, MIME tokens, `type/subtype` and `; name=value`
//! parameters with RFC 2231 continuations merged.
//!
//! # Invariants
//! - Lenient like the IMAP servers clients are tested against (Dovecot's lib-mail): nothing
//!   fails hard; a scanner returns [`Step`] and leaves the position where the input stopped
//!   making sense, so callers can recover and still produce an answer.
//! - Works on bytes: 8-bit octets count as atom text (RFC 6532 raw UTF-8, legacy Latin-1).

/// Result of one scanning step: `Err` = malformed here, `End` = input exhausted, `More` =
/// more input follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Err,
    End,
    More,
}

/// RFC 5322 §3.2.3 atext (8-bit octets included).
pub fn is_atext(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 2045 §5.1 token character: atext without the tspecials "/", "=", "?" (and with ".").
fn is_token(b: u8) -> bool {
    (is_atext(b) && !b"/=?".contains(&b)) || b == b'.'
}

fn lwsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `(attribute, value)` pairs of a parameter list, raw bytes.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// A cursor over one header value.
pub struct Lexer<'a> {
    pub d: &'a [u8],
    pub pos: usize,
    /// Text of the last comment skipped (escapes removed), when asked for.
    pub comment: Option<Vec<u8>>,
}

impl<'a> Lexer<'a> {
    pub fn new(d: &'a [u8]) -> Self {
        Lexer {
            d,
            pos: 0,
            comment: None,
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.d.get(self.pos).copied()
    }

    pub fn at(&self, b: u8) -> bool {
        self.peek() == Some(b)
    }

    pub fn more(&self) -> Step {
        if self.pos < self.d.len() {
            Step::More
        } else {
            Step::End
        }
    }

    /// Skips one (nested) comment starting at "(".
    fn skip_comment(&mut self) -> Step {
        let mut level = 1;
        self.pos += 1;
        let mut text = Vec::new();
        while let Some(b) = self.peek() {
            match b {
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        self.pos += 1;
                        if let Some(c) = self.comment.as_mut() {
                            *c = text;
                        }
                        return self.more();
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(e) => text.push(e),
                        None => return Step::Err,
                    }
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            text.push(b);
            self.pos += 1;
        }
        Step::Err
    }

    /// Skips whitespace, folds and comments.
    pub fn skip_cfws(&mut self) -> Step {
        while let Some(b) = self.peek() {
            if lwsp(b) {
                self.pos += 1;
            } else if b == b'(' {
                if self.skip_comment() == Step::Err {
                    return Step::Err;
                }
            } else {
                break;
            }
        }
        self.more()
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool, out: &mut Vec<u8>) {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.d[start..self.pos]);
    }

    pub fn atom(&mut self, out: &mut Vec<u8>) -> Step {
        if !self.peek().is_some_and(is_atext) {
            return Step::Err;
        }
        self.take_while(is_atext, out);
        self.skip_cfws()
    }

    /// dot-atom, with CFWS allowed around the dots (RFC 822): every dot must be followed by
    /// atom text, so "a..b" and a trailing "a." are malformed (as in Dovecot's lib-mail).
    pub fn dot_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if !self.peek().is_some_and(is_atext) {
            return Step::Err;
        }
        loop {
            self.take_while(is_atext, out);
            let r = self.skip_cfws();
            if r != Step::More || !self.at(b'.') {
                return r;
            }
            self.pos += 1;
            out.push(b'.');
            if self.skip_cfws() != Step::More || !self.peek().is_some_and(is_atext) {
                return Step::Err;
            }
        }
    }

    /// The local part of an address when it is not a quoted string, as leniently as
    /// Dovecot's lib-mail reads it (for mailers that send "first..last@" or "name.@"):
    /// dots may lead, repeat, or end the local part just before "@"; CFWS may come before
    /// a dot but not after one.
    pub fn local_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if !self.peek().is_some_and(|b| is_atext(b) || b == b'.') {
            return Step::Err;
        }
        loop {
            self.take_while(|b| is_atext(b) || b == b'.', out);
            if out.last() == Some(&b'.') && !self.at(b'@') {
                return Step::Err;
            }
            let r = self.skip_cfws();
            if r != Step::More || !self.at(b'.') {
                return r;
            }
        }
    }

    /// RFC 2045 token (may be empty).
    pub fn mime_token(&mut self, out: &mut Vec<u8>) -> Step {
        self.take_while(is_token, out);
        self.skip_cfws()
    }

    /// quoted-string at `"`: escapes removed, folds ([CR]LF) removed.
    pub fn quoted(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => return self.skip_cfws(),
                b'\n' => {
                    if out.last() == Some(&b'\r') {
                        out.pop();
                    }
                }
                b'\\' => match self.peek() {
                    Some(e) => {
                        out.push(e);
                        self.pos += 1;
                    }
                    None => return Step::Err,
                },
                _ => out.push(b),
            }
        }
        Step::Err
    }

    fn atom_or_dot(&mut self, out: &mut Vec<u8>) -> Step {
        self.take_while(|b| is_atext(b) || b == b'.', out);
        self.skip_cfws()
    }

    /// phrase (RFC 5322 §3.2.5, obs-phrase included): words joined by one space.
    pub fn phrase(&mut self, out: &mut Vec<u8>) -> Step {
        match self.peek() {
            None => return Step::End,
            Some(b'.') => return Step::Err,
            _ => {}
        }
        loop {
            let r = if self.at(b'"') {
                self.quoted(out)
            } else {
                self.atom_or_dot(out)
            };
            if r != Step::More {
                return r;
            }
            match self.peek() {
                Some(b) if is_atext(b) || b == b'"' || b == b'.' => out.push(b' '),
                _ => break,
            }
        }
        self.skip_cfws()
    }

    fn domain_literal(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b'\\' {
                if self.peek().is_none() {
                    break;
                }
                self.pos += 1;
            } else if b == b']' {
                out.extend_from_slice(&self.d[start..self.pos]);
                return self.skip_cfws();
            }
        }
        Step::Err
    }

    /// domain at "@".
    pub fn domain(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        if self.skip_cfws() != Step::More {
            return Step::Err;
        }
        if self.at(b'[') {
            self.domain_literal(out)
        } else {
            self.dot_atom(out)
        }
    }

    /// `type/subtype` into `out`. On failure `out` keeps a type read without its "/" (as in
    /// "Content-Type: text") and nothing else.
    pub fn content_type(&mut self, out: &mut Vec<u8>) -> Step {
        let start = out.len();
        if self.skip_cfws() != Step::More {
            return Step::Err;
        }
        if self.mime_token(out) != Step::More || out.len() == start {
            return Step::Err;
        }
        if !self.at(b'/') {
            out.truncate(start);
            return Step::Err;
        }
        self.pos += 1;
        if self.skip_cfws() != Step::More {
            out.truncate(start);
            return Step::Err;
        }
        out.push(b'/');
        let sub = out.len();
        let r = self.mime_token(out);
        if r == Step::Err || out.len() == sub {
            out.truncate(start);
            return Step::Err;
        }
        r
    }

    /// One `; attribute=value` (RFC 2045 §5.1): `None` at the end of input, `Some(None)` when
    /// malformed here.
    fn param(&mut self) -> Option<Option<(Vec<u8>, Vec<u8>)>> {
        if self.pos >= self.d.len() {
            return None;
        }
        if !self.at(b';') {
            return Some(None);
        }
        self.pos += 1;
        if self.skip_cfws() != Step::More {
            return Some(None);
        }
        let mut key = Vec::new();
        if self.mime_token(&mut key) != Step::More || !self.at(b'=') {
            return Some(None);
        }
        self.pos += 1;
        let mut value = Vec::new();
        let r = match self.skip_cfws() {
            Step::More if self.at(b'"') => self.quoted(&mut value),
            Step::More if self.at(b'=') => {
                // Broken but common: name==?utf-8?b?...?=
                self.take_while(
                    |b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'),
                    &mut value,
                );
                Step::More
            }
            Step::More => self.mime_token(&mut value),
            other => other,
        };
        Some((r != Step::Err).then_some((key, value)))
    }

    /// All parameters, RFC 2231 continuations (`name*0`, `name*1*`) merged into `name` or
    /// `name*` (charset'language'%-encoded value, kept encoded) after the plain ones.
    pub fn params(&mut self) -> Params {
        let mut plain = Vec::new();
        // (key, index, extended, value)
        let mut split: Vec<(Vec<u8>, u32, bool, Vec<u8>)> = Vec::new();
        while let Some(r) = self.param() {
            let Some((key, value)) = r else {
                // Skip a byte and look for the next ";".
                if self.pos >= self.d.len() {
                    break;
                }
                self.pos += 1;
                continue;
            };
            match rfc2231_key(&key) {
                Some((name, idx, ext)) => split.push((name, idx, ext, value)),
                None => plain.push((key, value)),
            }
        }
        split.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut i = 0;
        while i < split.len() {
            let mut j = i;
            let (mut ok, mut ext) = (true, false);
            while j < split.len() && split[j].0.eq_ignore_ascii_case(&split[i].0) {
                ok &= u32::try_from(j - i) == Ok(split[j].1);
                ext |= split[j].2;
                j += 1;
            }
            if !ok {
                // Missing indexes: not RFC 2231 after all; keep them as they were.
                for (name, idx, e, value) in &split[i..j] {
                    let mut k = name.clone();
                    k.extend_from_slice(format!("*{idx}").as_bytes());
                    if *e {
                        k.push(b'*');
                    }
                    plain.push((k, value.clone()));
                }
            } else {
                let mut value = Vec::new();
                if ext && !split[i].2 {
                    value.extend_from_slice(b"''");
                }
                for (_, _, e, v) in &split[i..j] {
                    if ext && !e {
                        for &b in v {
                            if b == b'%' {
                                value.extend_from_slice(b"%25");
                            } else {
                                value.push(b);
                            }
                        }
                    } else {
                        value.extend_from_slice(v);
                    }
                }
                let mut key = split[i].0.clone();
                if ext {
                    key.push(b'*');
                }
                plain.push((key, value));
            }
            i = j;
        }
        plain
    }
}

/// `name*`, `name*3`, `name*3*` → (name, index, extended).
fn rfc2231_key(key: &[u8]) -> Option<(Vec<u8>, u32, bool)> {
    let star = key.iter().position(|&b| b == b'*')?;
    let mut rest = &key[star + 1..];
    if rest.is_empty() {
        // `name*`: one extended value.
        return Some((key[..star].to_vec(), 0, true));
    }
    let mut idx = 0u32;
    while let Some((&d, tail)) = rest.split_first() {
        if !d.is_ascii_digit() {
            break;
        }
        idx = idx.saturating_mul(10).saturating_add(u32::from(d - b'0'));
        rest = tail;
    }
    let ext = rest.first() == Some(&b'*');
    if ext {
        rest = &rest[1..];
    }
    rest.is_empty().then(|| (key[..star].to_vec(), idx, ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<(String, String)> {
        Lexer::new(s.as_bytes())
            .params()
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn parameters() {
        assert_eq!(
            params("; charset=\"us-ascii\" (comment); format=flowed"),
            [
                ("charset".into(), "us-ascii".into()),
                ("format".into(), "flowed".into())
            ]
        );
        // RFC 2231 §3 continuations and §4 charset'language'value.
        assert_eq!(
            params("; a*1=\"b\"; a*0=\"x \"; n*=UTF-8''%C3%BC; m*0*=utf-8''%25; m*1=\"%\""),
            [
                ("a".into(), "x b".into()),
                ("m*".into(), "utf-8''%25%25".into()),
                ("n*".into(), "UTF-8''%C3%BC".into())
            ]
        );
        assert_eq!(params("; x*1=b"), [("x*1".into(), "b".into())]);
    }

    #[test]
    fn content_type_and_phrase() {
        let mut out = Vec::new();
        let mut l = Lexer::new(b" TEXT / Plain ; x=y");
        assert_eq!(l.content_type(&mut out), Step::More);
        assert_eq!(out, b"TEXT/Plain");
        let mut out = Vec::new();
        let mut l = Lexer::new(b"\"John \\\"J\\\" Doe\" Jr. <j@x>");
        assert_eq!(l.phrase(&mut out), Step::More);
        assert_eq!(out, b"John \"J\" Doe Jr.");
        assert!(l.at(b'<'));
    }
}
