//! ManageSieve command syntax (RFC 5804 §4): a line's tokens (atoms, numbers, quoted strings,
//! and the literal announced at its end), and tokens → [`Command`]. No I/O: the session reads
//! the literal's bytes and asks for the next line.

/// One token of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A command name or other bare word (`ACTIVE`), case-insensitive.
    Atom(String),
    /// RFC 5804 §4 `number`.
    Number(u64),
    /// A quoted string or the bytes of a literal.
    Str(Vec<u8>),
    /// A literal larger than the session accepts (its bytes were read and dropped).
    Oversized(u64),
}

/// The longest quoted string (RFC 5804 §4: "quoted strings are limited to 1024 octets").
pub const MAX_QUOTED: usize = 1024;

/// What ends a line: nothing more, or a literal of this many bytes follows (RFC 5804 §4
/// `literal-c2s`; `{n+}` and the synchronising `{n}` are both taken without a continuation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    Done,
    Literal(u64),
}

/// Tokenizes one line (without its CRLF).
pub fn tokenize(line: &[u8], out: &mut Vec<Token>) -> Result<LineEnd, String> {
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' => i += 1,
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match line.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'"') => break,
                        // RFC 5804 §4 QUOTED-SPECIALS: only `"` and `\` are escaped.
                        Some(b'\\') => match line.get(i + 1) {
                            Some(&c @ (b'"' | b'\\')) => {
                                s.push(c);
                                i += 2;
                            }
                            _ => return Err("bad escape in quoted string".into()),
                        },
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                if s.len() > MAX_QUOTED {
                    return Err(format!(
                        "quoted string longer than {MAX_QUOTED} octets: use a literal"
                    ));
                }
                out.push(Token::Str(s));
                i += 1;
            }
            b'{' => {
                let close = line[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unterminated literal length")?;
                if i + close + 1 != line.len() {
                    return Err("a literal length must end the line".into());
                }
                let spec = &line[i + 1..i + close];
                let digits = spec.strip_suffix(b"+").unwrap_or(spec);
                return number(digits)
                    .map(LineEnd::Literal)
                    .ok_or_else(|| "bad literal length".into());
            }
            _ => {
                let end = line[i..]
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(line.len(), |p| i + p);
                let word = &line[i..end];
                out.push(match number(word) {
                    Some(n) => Token::Number(n),
                    None => Token::Atom(String::from_utf8_lossy(word).into_owned()),
                });
                i = end;
            }
        }
    }
    Ok(LineEnd::Done)
}

/// RFC 5804 §4 `number`: 1*DIGIT, below 2^32 (we allow u64 but refuse absurd lengths).
fn number(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 10 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

/// A ManageSieve command (RFC 5804 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    StartTls,
    Logout,
    Capability,
    Unauthenticate,
    HaveSpace {
        name: String,
        size: u64,
    },
    PutScript {
        name: String,
        script: Script,
    },
    ListScripts,
    SetActive {
        name: String,
    },
    GetScript {
        name: String,
    },
    DeleteScript {
        name: String,
    },
    RenameScript {
        from: String,
        to: String,
    },
    CheckScript {
        script: Script,
    },
    Noop {
        tag: Option<Vec<u8>>,
    },
}

/// A script argument: its bytes, or the size of one too large to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    Text(Vec<u8>),
    Oversized(u64),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Authenticate { .. } => "AUTHENTICATE",
            Command::StartTls => "STARTTLS",
            Command::Logout => "LOGOUT",
            Command::Capability => "CAPABILITY",
            Command::Unauthenticate => "UNAUTHENTICATE",
            Command::HaveSpace { .. } => "HAVESPACE",
            Command::PutScript { .. } => "PUTSCRIPT",
            Command::ListScripts => "LISTSCRIPTS",
            Command::SetActive { .. } => "SETACTIVE",
            Command::GetScript { .. } => "GETSCRIPT",
            Command::DeleteScript { .. } => "DELETESCRIPT",
            Command::RenameScript { .. } => "RENAMESCRIPT",
            Command::CheckScript { .. } => "CHECKSCRIPT",
            Command::Noop { .. } => "NOOP",
        }
    }
}

/// Tokens → command; the error text is for a `NO` reply.
pub fn parse(tokens: Vec<Token>) -> Result<Command, String> {
    let mut it = tokens.into_iter();
    let Some(Token::Atom(name)) = it.next() else {
        return Err("expected a command name".into());
    };
    let mut args = Args { it };
    let cmd = match name.to_ascii_uppercase().as_str() {
        // RFC 5804 §2.1.
        "AUTHENTICATE" => Command::Authenticate {
            mechanism: args.name("mechanism")?,
            initial: args.optional_bytes("initial response")?,
        },
        "STARTTLS" => Command::StartTls,
        "LOGOUT" => Command::Logout,
        "CAPABILITY" => Command::Capability,
        "UNAUTHENTICATE" => Command::Unauthenticate,
        "HAVESPACE" => Command::HaveSpace {
            name: args.name("script name")?,
            size: args.number("size")?,
        },
        "PUTSCRIPT" => Command::PutScript {
            name: args.name("script name")?,
            script: args.script()?,
        },
        "LISTSCRIPTS" => Command::ListScripts,
        "SETACTIVE" => Command::SetActive {
            name: args.name("script name")?,
        },
        "GETSCRIPT" => Command::GetScript {
            name: args.name("script name")?,
        },
        "DELETESCRIPT" => Command::DeleteScript {
            name: args.name("script name")?,
        },
        "RENAMESCRIPT" => Command::RenameScript {
            from: args.name("old script name")?,
            to: args.name("new script name")?,
        },
        "CHECKSCRIPT" => Command::CheckScript {
            script: args.script()?,
        },
        "NOOP" => Command::Noop {
            tag: args.optional_bytes("tag")?,
        },
        _ => return Err(format!("unknown command {name}")),
    };
    if args.it.next().is_some() {
        return Err(format!("too many arguments for {}", cmd.name()));
    }
    Ok(cmd)
}

struct Args {
    it: std::vec::IntoIter<Token>,
}

impl Args {
    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, String> {
        match self.it.next() {
            Some(Token::Str(s)) => Ok(s),
            Some(Token::Oversized(_)) => Err(format!("{what} too long")),
            _ => Err(format!("expected a string: {what}")),
        }
    }

    fn optional_bytes(&mut self, what: &str) -> Result<Option<Vec<u8>>, String> {
        if self.it.as_slice().is_empty() {
            return Ok(None);
        }
        self.bytes(what).map(Some)
    }

    /// A string that must be UTF-8 (RFC 5804 §1.6: names are UTF-8).
    fn name(&mut self, what: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(what)?).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn number(&mut self, what: &str) -> Result<u64, String> {
        match self.it.next() {
            Some(Token::Number(n)) => Ok(n),
            _ => Err(format!("expected a number: {what}")),
        }
    }

    fn script(&mut self) -> Result<Script, String> {
        match self.it.next() {
            Some(Token::Str(s)) => Ok(Script::Text(s)),
            Some(Token::Oversized(n)) => Ok(Script::Oversized(n)),
            _ => Err("expected a string: the script".into()),
        }
    }
}

/// A string for a reply: quoted when short and plain, else a literal `{n}` (RFC 5804 §4
/// `literal-s2c`).
pub fn string(s: &[u8]) -> Vec<u8> {
    let plain = s.len() <= MAX_QUOTED && !s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0);
    let mut out = Vec::with_capacity(s.len() + 8);
    if plain {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> (Vec<Token>, LineEnd) {
        let mut out = Vec::new();
        let end = tokenize(line.as_bytes(), &mut out).expect(line);
        (out, end)
    }

    fn s(text: &str) -> Token {
        Token::Str(text.as_bytes().to_vec())
    }

    #[test]
    fn tokenizes_words_numbers_strings_and_literals() {
        let (t, end) = tokens(r#"HAVESPACE "my \"script\"" 1234"#);
        assert_eq!(
            t,
            [
                Token::Atom("HAVESPACE".into()),
                s("my \"script\""),
                Token::Number(1234)
            ]
        );
        assert_eq!(end, LineEnd::Done);
        let (t, end) = tokens(r#"PUTSCRIPT "a" {31+}"#);
        assert_eq!(t, [Token::Atom("PUTSCRIPT".into()), s("a")]);
        assert_eq!(end, LineEnd::Literal(31));
        assert_eq!(tokens("CHECKSCRIPT {5}").1, LineEnd::Literal(5));
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            r#"GETSCRIPT "open"#,
            r#"GETSCRIPT "bad \n escape""#,
            "PUTSCRIPT {5+} \"x\"",
            "PUTSCRIPT {x+}",
            "PUTSCRIPT {99999999999}",
            "PUTSCRIPT {",
        ] {
            assert!(tokenize(bad.as_bytes(), &mut Vec::new()).is_err(), "{bad}");
        }
        let long = format!("NOOP \"{}\"", "x".repeat(MAX_QUOTED + 1));
        assert!(tokenize(long.as_bytes(), &mut Vec::new()).is_err());
    }

    #[test]
    fn parses_every_command() {
        let p = |line: &str| parse(tokens(line).0);
        assert_eq!(
            p(r#"authenticate "PLAIN" "AGEAYg==""#),
            Ok(Command::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some(b"AGEAYg==".to_vec())
            })
        );
        assert_eq!(
            p(r#"RENAMESCRIPT "a" "b""#),
            Ok(Command::RenameScript {
                from: "a".into(),
                to: "b".into()
            })
        );
        assert_eq!(p("NOOP"), Ok(Command::Noop { tag: None }));
        assert_eq!(
            p(r#"SETACTIVE """#),
            Ok(Command::SetActive { name: "".into() })
        );
        let mut t = tokens(r#"PUTSCRIPT "x""#).0;
        t.push(Token::Oversized(9_000_000));
        assert_eq!(
            parse(t),
            Ok(Command::PutScript {
                name: "x".into(),
                script: Script::Oversized(9_000_000)
            })
        );
        for bad in [
            "",
            "FROB",
            "HAVESPACE \"a\"",
            "HAVESPACE \"a\" \"b\"",
            "GETSCRIPT",
            "GETSCRIPT a",
            "LOGOUT now",
            "PUTSCRIPT \"a\"",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(parse(vec![
            Token::Atom("GETSCRIPT".into()),
            Token::Str(vec![0xff])
        ])
        .is_err());
    }

    #[test]
    fn reply_strings_quote_or_use_a_literal() {
        assert_eq!(string(br#"a "b" \c"#), br#""a \"b\" \\c""#);
        assert_eq!(string(b"two\r\nlines"), b"{10}\r\ntwo\r\nlines");
    }
}
