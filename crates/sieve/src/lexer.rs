//! Lexical tokens of a Sieve script (RFC 5228 §8.1): identifiers, tags, numbers with
//! quantifiers, quoted and multi-line strings, the punctuation of string lists, test lists and
//! blocks; white space and both comment forms are skipped.
//!
//! The whole script is turned into a token vector in one linear pass; every token carries the
//! 1-based line and column (in characters) where it starts and where it ends, so parse errors
//! can point at the token or just past the previous one (a missing `;`).

use crate::ParseError;

/// A position in the script: 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn error(self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.col,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A command or test name, lower-cased (identifiers are case-insensitive).
    Ident(String),
    /// `:name`, lower-cased, without the colon.
    Tag(String),
    Number(u64),
    /// A quoted or multi-line string, escapes and dot-stuffing already undone.
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Semicolon,
    LBrace,
    RBrace,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
    /// Position just after the token's last character.
    pub end: Pos,
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset into `src`.
    at: usize,
    line: u32,
    col: u32,
}

impl<'a> Lexer<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.at..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.at..]
    }

    /// Skips white space and comments (RFC 5228 §2.2, §2.3).
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                // RFC 5228 §2.3: hash comments run to the end of the line.
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                // RFC 5228 §2.3: bracketed comments do not nest.
                Some('/') if self.peek2() == Some('*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        if self.rest().starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(start.error("unterminated comment: '/*' without '*/'"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                s.push(c.to_ascii_lowercase());
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    /// RFC 5228 §2.4.1: digits with an optional K, M or G quantifier (powers of 2).
    fn number(&mut self, start: Pos) -> Result<Tok, ParseError> {
        let mut n: u64 = 0;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            self.bump();
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c as u8 - b'0')))
                .ok_or_else(|| start.error("number too large"))?;
        }
        let shift = match self.peek() {
            Some('k' | 'K') => 10,
            Some('m' | 'M') => 20,
            Some('g' | 'G') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.bump();
            n = n
                .checked_mul(1 << shift)
                .ok_or_else(|| start.error("number too large"))?;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.pos().error(format!(
                "invalid number: unexpected '{}' (quantifiers are K, M and G)",
                self.peek().unwrap_or(' ')
            )));
        }
        Ok(Tok::Number(n))
    }

    /// RFC 5228 §2.4.2: a quoted string; `\\` and `\"` are escapes, a backslash before any
    /// other character is dropped. Line breaks are allowed inside.
    fn quoted(&mut self, start: Pos) -> Result<Tok, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(start.error("unterminated string: missing closing '\"'")),
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => match self.bump() {
                    None => return Err(start.error("unterminated string: missing closing '\"'")),
                    Some(c) => s.push(c),
                },
                Some(c) => s.push(c),
            }
        }
    }

    /// RFC 5228 §2.4.2: `text:` then (white space and) a comment or line break, lines up to
    /// a line holding only ".", a leading "." of a line removed (dot-stuffing). Line breaks
    /// in the value are CRLF whatever the script used.
    fn multiline(&mut self, start: Pos) -> Result<Tok, ParseError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        match self.peek() {
            Some('#') => {
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            Some('\r') if self.peek2() == Some('\n') => {
                self.bump();
                self.bump();
            }
            Some('\n') => {
                self.bump();
            }
            None => return Err(start.error("unterminated multi-line string: missing '.' line")),
            Some(c) => {
                return Err(self
                    .pos()
                    .error(format!("'text:' must end its line, found '{c}'")))
            }
        }
        let mut s = String::new();
        loop {
            if self.at >= self.src.len() {
                return Err(start.error("unterminated multi-line string: missing '.' line"));
            }
            let rest = self.rest();
            let (line, nl) = match rest.find('\n') {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            for _ in rest[..nl].chars() {
                self.bump();
            }
            if line == "." {
                return Ok(Tok::Str(s));
            }
            s.push_str(line.strip_prefix('.').unwrap_or(line));
            s.push_str("\r\n");
        }
    }

    fn next(&mut self) -> Result<Option<Token>, ParseError> {
        self.skip_trivia()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let tok = match c {
            '[' | ']' | '(' | ')' | ',' | ';' | '{' | '}' => {
                self.bump();
                match c {
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    ';' => Tok::Semicolon,
                    '{' => Tok::LBrace,
                    _ => Tok::RBrace,
                }
            }
            '"' => self.quoted(pos)?,
            ':' => {
                self.bump();
                if !self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                {
                    return Err(pos.error("':' must be followed by a tag name"));
                }
                Tok::Tag(self.word())
            }
            '0'..='9' => self.number(pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let w = self.word();
                if w == "text" && self.peek() == Some(':') {
                    self.bump();
                    self.multiline(pos)?
                } else {
                    Tok::Ident(w)
                }
            }
            c => return Err(pos.error(format!("unexpected character '{}'", c.escape_debug()))),
        };
        Ok(Some(Token {
            tok,
            pos,
            end: self.pos(),
        }))
    }
}

/// Splits the script into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src,
        // A byte order mark some editors write is not part of the script.
        at: if src.starts_with('\u{feff}') { 3 } else { 0 },
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    while let Some(t) = lx.next()? {
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            toks("if header :Is [\"a\", \"b\\\"c\"] { keep; } # x\n/* y */ 10K"),
            vec![
                Tok::Ident("if".into()),
                Tok::Ident("header".into()),
                Tok::Tag("is".into()),
                Tok::LBracket,
                Tok::Str("a".into()),
                Tok::Comma,
                Tok::Str("b\"c".into()),
                Tok::RBracket,
                Tok::LBrace,
                Tok::Ident("keep".into()),
                Tok::Semicolon,
                Tok::RBrace,
                Tok::Number(10 * 1024),
            ]
        );
    }

    #[test]
    fn numbers_and_quantifiers() {
        assert_eq!(
            toks("1M 2g 0"),
            vec![Tok::Number(1 << 20), Tok::Number(2 << 30), Tok::Number(0)]
        );
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("17179869184G").is_err());
        assert!(tokenize("10x").is_err());
    }

    #[test]
    fn undefined_escape_drops_backslash() {
        // RFC 5228 §2.4.2: "\a" is "a"; "\\" is one backslash.
        assert_eq!(toks(r#""\a\\*""#), vec![Tok::Str("a\\*".into())]);
    }

    #[test]
    fn multiline_dot_stuffing() {
        let t = toks("text: # c\r\nline 1\n..dot\n.\n;");
        assert_eq!(
            t,
            vec![Tok::Str("line 1\r\n.dot\r\n".into()), Tok::Semicolon]
        );
    }

    #[test]
    fn positions_count_characters() {
        let t = tokenize("\"é\" keep\n  stop").unwrap();
        assert_eq!((t[1].pos.line, t[1].pos.col), (1, 5));
        assert_eq!((t[1].end.line, t[1].end.col), (1, 9));
        assert_eq!((t[2].pos.line, t[2].pos.col), (2, 3));
    }

    #[test]
    fn unterminated_forms() {
        let e = tokenize("keep;\n\"abc").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        let e = tokenize("text:\nabc\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        assert!(tokenize("/* never closed").is_err());
        assert!(tokenize("text: x\n.\n").is_err());
    }
}
