//! The byte cursor behind the tag and the extension grammar imap-codec lacks
//! (`command_ext.rs`): RFC 3501 §9 atoms, numbers, quoted strings, literals, astrings,
//! mailbox names and flags, each returning `Fail::Incomplete` when the input stops early.

pub(super) enum Fail {
    Incomplete,
    Syntax(String),
    /// A keyword we do not know in an otherwise valid command (→ [`ParseError::Unknown`]).
    Unknown(String),
}

pub(super) type R<T> = Result<T, Fail>;

pub(super) fn syn<T>(why: impl Into<String>) -> R<T> {
    Err(Fail::Syntax(why.into()))
}

pub(super) fn unknown<T>(why: impl Into<String>) -> R<T> {
    Err(Fail::Unknown(why.into()))
}

/// Byte cursor for the tag and the extension grammar.
pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
}

pub(super) fn is_atom_char(b: u8) -> bool {
    // RFC 3501 §9 ATOM-CHAR: not atom-specials.
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

impl<'a> Parser<'a> {
    pub(super) fn peek(&self) -> R<u8> {
        self.s.get(self.pos).copied().ok_or(Fail::Incomplete)
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, b: u8) -> R<()> {
        match self.peek()? {
            c if c == b => {
                self.pos += 1;
                Ok(())
            }
            c => syn(format!("expected '{}', got '{}'", b as char, c as char)),
        }
    }

    pub(super) fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    pub(super) fn crlf(&mut self) -> R<()> {
        self.eat(b'\r');
        match self.peek()? {
            b'\n' => {
                self.pos += 1;
                Ok(())
            }
            _ => syn("unexpected characters at end of command"),
        }
    }

    /// Whether the command has more arguments (next byte is a space).
    pub(super) fn at_sp(&self) -> bool {
        self.s.get(self.pos) == Some(&b' ')
    }

    /// RFC 3501 §9 tag: ASTRING-CHAR except "+".
    pub(super) fn tag(&mut self) -> R<String> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if !(is_atom_char(b) || b == b']') || b == b'+' {
                break;
            }
            self.pos += 1;
        }
        if self.pos == self.s.len() {
            return Err(Fail::Incomplete);
        }
        if self.pos == start {
            return syn("missing tag");
        }
        if !b" \r\n".contains(&self.s[self.pos]) {
            return syn("invalid tag");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    /// An atom, with extra allowed characters (`]` for flags etc.).
    pub(super) fn atom_with(&mut self, extra: &[u8]) -> R<String> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if !(is_atom_char(b) || extra.contains(&b)) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == self.s.len() {
            return Err(Fail::Incomplete);
        }
        if self.pos == start {
            return syn("expected an atom");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    pub(super) fn atom(&mut self) -> R<String> {
        self.atom_with(b"")
    }

    pub(super) fn number(&mut self) -> R<u32> {
        let start = self.pos;
        while self.peek()?.is_ascii_digit() {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|d| d.parse().ok())
            .map_or_else(|| syn("expected a number"), Ok)
    }

    /// A quoted string at `"` (RFC 3501 §9 quoted), unescaped, as bytes.
    pub(super) fn quoted_raw(&mut self) -> R<Vec<u8>> {
        let mut out = Vec::new();
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let c = self.peek()?;
                    if c != b'"' && c != b'\\' {
                        return syn("bad escape in quoted string");
                    }
                    out.push(c);
                    self.pos += 1;
                }
                b'\r' | b'\n' => return syn("CR/LF in quoted string"),
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A literal at `{`: `{n}` or `{n+}` (RFC 7888), CRLF, n octets; returns the octets.
    pub(super) fn literal(&mut self) -> R<&'a [u8]> {
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        let start = self.pos;
        if self.s.len() < start.saturating_add(n) {
            return Err(Fail::Incomplete);
        }
        self.pos += n;
        Ok(&self.s[start..self.pos])
    }

    /// quoted / literal (RFC 3501 §9 string).
    pub(super) fn string(&mut self) -> R<String> {
        let out = match self.peek()? {
            b'"' => self.quoted_raw()?,
            b'{' => self.literal()?.to_vec(),
            _ => return syn("expected a string"),
        };
        String::from_utf8(out).map_or_else(|_| syn("string is not UTF-8"), Ok)
    }

    /// RFC 3501 §9 astring.
    pub(super) fn astring(&mut self) -> R<String> {
        match self.peek()? {
            b'"' | b'{' => self.string(),
            _ => self.atom_with(b"]"),
        }
    }

    /// A mailbox name, decoded from modified UTF-7 (RFC 3501 §5.1.3); `None` when it is not
    /// valid modified UTF-7 (a valid command that gets NO, not a syntax error).
    pub(super) fn mailbox(&mut self) -> R<Option<String>> {
        let raw = self.astring()?;
        if raw.eq_ignore_ascii_case("INBOX") {
            // RFC 3501 §5.1: INBOX is case-insensitive (spelled as imap-codec does).
            return Ok(Some("INBOX".into()));
        }
        Ok(crate::mutf7::decode(&raw))
    }

    /// list-mailbox: astring plus the wildcards; `None` when not valid modified UTF-7.
    pub(super) fn list_mailbox(&mut self) -> R<Option<String>> {
        let raw = match self.peek()? {
            b'"' | b'{' => self.string()?,
            _ => self.atom_with(b"%*]")?,
        };
        Ok(crate::mutf7::decode(&raw))
    }

    /// `(flag flag ...)` or a single flag.
    pub(super) fn flag_list(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        if self.eat(b'(') {
            if self.eat(b')') {
                return Ok(out);
            }
            loop {
                out.push(self.flag()?);
                if self.eat(b')') {
                    return Ok(out);
                }
                self.sp()?;
            }
        }
        loop {
            out.push(self.flag()?);
            if !self.at_sp() {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    pub(super) fn flag(&mut self) -> R<String> {
        if self.eat(b'\\') {
            let a = self.atom()?;
            return Ok(format!("\\{a}"));
        }
        self.atom()
    }

    pub(super) fn word(&mut self) -> R<String> {
        Ok(self.atom_with(b"")?.to_ascii_uppercase())
    }
}
