//! POP3 command lines → [`Command`] (RFC 1939 §3, RFC 2449 §3, RFC 2595 §4, RFC 5034 §4).
//! No I/O and no store here: the session hands in one complete line and gets a command or a
//! reason it is not one.
//!
//! ```text
//! command  = keyword *(SP param) CRLF    ; RFC 1939 §3, keywords 3-4 chars, case-insensitive
//! msg      = 1*DIGIT                     ; message number, "1" is the first
//! ```

use auth::Secret;

/// One parsed POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 2449 §5.
    Capa,
    /// RFC 1939 §7 `USER name`.
    User(String),
    /// RFC 1939 §7 `PASS string` (the whole rest of the line: passwords may contain spaces).
    Pass(Secret<String>),
    /// RFC 5034 §4 `AUTH [mechanism [initial-response]]`; no mechanism lists the mechanisms.
    Auth {
        mechanism: Option<String>,
        initial: Option<Vec<u8>>,
    },
    /// RFC 2595 §4.
    Stls,
    /// RFC 1939 §5.
    Stat,
    /// RFC 1939 §5 `LIST [msg]`.
    List(Option<u32>),
    /// RFC 1939 §5 `RETR msg`.
    Retr(u32),
    /// RFC 1939 §5 `DELE msg`.
    Dele(u32),
    /// RFC 1939 §5.
    Noop,
    /// RFC 1939 §5.
    Rset,
    /// RFC 1939 §4 / §6.
    Quit,
    /// RFC 1939 §7 `TOP msg n`.
    Top(u32, u32),
    /// RFC 1939 §7 `UIDL [msg]`.
    Uidl(Option<u32>),
}

impl Command {
    /// The keyword, for logs and "not allowed in this state" replies.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
        }
    }
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The keyword is not one we implement (APOP, XTND, garbage).
    Unknown,
    /// A known keyword with bad arguments.
    Syntax(&'static str),
}

/// Parses one command line (with or without its CRLF / bare LF terminator).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = net::trim_eol(line);
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let keyword = std::str::from_utf8(keyword).map_err(|_| ParseError::Unknown)?;
    let upper = keyword.to_ascii_uppercase();
    // PASS keeps its argument verbatim (RFC 1939 §7: "the server may treat spaces in the
    // argument as part of the password").
    if upper == "PASS" {
        if rest.is_empty() {
            return Err(ParseError::Syntax("PASS needs a password"));
        }
        let pw = String::from_utf8(rest.to_vec())
            .map_err(|_| ParseError::Syntax("password is not UTF-8"))?;
        return Ok(Command::Pass(Secret::new(pw)));
    }
    let rest =
        std::str::from_utf8(rest).map_err(|_| ParseError::Syntax("arguments are not UTF-8"))?;
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let none = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax("no arguments expected"))
        }
    };
    match upper.as_str() {
        "CAPA" => none(Command::Capa),
        "STLS" => none(Command::Stls),
        "STAT" => none(Command::Stat),
        "NOOP" => none(Command::Noop),
        "RSET" => none(Command::Rset),
        "QUIT" => none(Command::Quit),
        "USER" => match args.as_slice() {
            // RFC 1939 §7: one argument; our user names are addresses (no spaces).
            [name] => Ok(Command::User((*name).to_string())),
            [] => Err(ParseError::Syntax(
                "USER needs a user name (your e-mail address)",
            )),
            _ => Err(ParseError::Syntax("USER takes one argument")),
        },
        "LIST" => optional_msg(&args).map(Command::List),
        "UIDL" => optional_msg(&args).map(Command::Uidl),
        "RETR" => one_msg(&args).map(Command::Retr),
        "DELE" => one_msg(&args).map(Command::Dele),
        "TOP" => match args.as_slice() {
            [msg, n] => Ok(Command::Top(number(msg)?, lines(n)?)),
            _ => Err(ParseError::Syntax(
                "TOP needs a message number and a line count",
            )),
        },
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [mech] => Ok(Command::Auth {
                mechanism: Some((*mech).to_string()),
                initial: None,
            }),
            [mech, ir] => Ok(Command::Auth {
                mechanism: Some((*mech).to_string()),
                initial: Some(ir.as_bytes().to_vec()),
            }),
            _ => Err(ParseError::Syntax(
                "AUTH takes a mechanism and an optional initial response",
            )),
        },
        _ => Err(ParseError::Unknown),
    }
}

fn optional_msg(args: &[&str]) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => Ok(Some(number(n)?)),
        _ => Err(ParseError::Syntax("too many arguments")),
    }
}

fn one_msg(args: &[&str]) -> Result<u32, ParseError> {
    match args {
        [n] => number(n),
        [] => Err(ParseError::Syntax("a message number is required")),
        _ => Err(ParseError::Syntax("too many arguments")),
    }
}

/// A message number: digits only. 0 parses (it is answered "no such message", not a syntax
/// error, as RFC 1939 only says the number must refer to an existing message).
fn number(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("invalid message number"));
    }
    s.parse()
        .map_err(|_| ParseError::Syntax("invalid message number"))
}

/// TOP's line count: a non-negative number (RFC 1939 §7); huge values mean "all".
fn lines(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("invalid line count"));
    }
    Ok(s.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        match parse(line.as_bytes()) {
            Ok(c) => c,
            Err(e) => panic!("{line:?}: {e:?}"),
        }
    }

    #[test]
    fn valid_commands() {
        let table: &[(&str, Command)] = &[
            ("CAPA\r\n", Command::Capa),
            ("capa\r\n", Command::Capa),
            ("STLS\r\n", Command::Stls),
            ("STAT\n", Command::Stat),
            ("NOOP\r\n", Command::Noop),
            ("RSET\r\n", Command::Rset),
            ("QUIT\r\n", Command::Quit),
            ("QUIT", Command::Quit),
            (
                "USER alice@example.test\r\n",
                Command::User("alice@example.test".into()),
            ),
            ("LIST\r\n", Command::List(None)),
            ("LIST 3\r\n", Command::List(Some(3))),
            ("list  3 \r\n", Command::List(Some(3))),
            ("UIDL\r\n", Command::Uidl(None)),
            ("UIDL 12\r\n", Command::Uidl(Some(12))),
            ("RETR 1\r\n", Command::Retr(1)),
            ("RETR 0\r\n", Command::Retr(0)),
            ("DELE 7\r\n", Command::Dele(7)),
            ("TOP 1 0\r\n", Command::Top(1, 0)),
            ("TOP 2 10\r\n", Command::Top(2, 10)),
            ("TOP 2 99999999999\r\n", Command::Top(2, u32::MAX)),
            (
                "AUTH\r\n",
                Command::Auth {
                    mechanism: None,
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN\r\n",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: None,
                },
            ),
            (
                "AUTH PLAIN AGFAYgBj\r\n",
                Command::Auth {
                    mechanism: Some("PLAIN".into()),
                    initial: Some(b"AGFAYgBj".to_vec()),
                },
            ),
            (
                "AUTH LOGIN =\r\n",
                Command::Auth {
                    mechanism: Some("LOGIN".into()),
                    initial: Some(b"=".to_vec()),
                },
            ),
        ];
        for (line, want) in table {
            assert_eq!(&ok(line), want, "{line:?}");
        }
    }

    #[test]
    fn pass_keeps_spaces() {
        let Command::Pass(pw) = ok("PASS long password 123 \r\n") else {
            panic!("not PASS")
        };
        assert_eq!(pw.expose(), "long password 123 ");
        assert!(!format!("{:?}", ok("PASS secret\r\n")).contains("secret"));
    }

    #[test]
    fn malformed() {
        let table: &[(&[u8], ParseError)] = &[
            (b"APOP x y\r\n", ParseError::Unknown),
            (b"\r\n", ParseError::Unknown),
            (b"HELO\r\n", ParseError::Unknown),
            (b"\xff\xfe\r\n", ParseError::Unknown),
            (b"PASS\r\n", ParseError::Syntax("PASS needs a password")),
            (
                b"USER\r\n",
                ParseError::Syntax("USER needs a user name (your e-mail address)"),
            ),
            (
                b"USER a b\r\n",
                ParseError::Syntax("USER takes one argument"),
            ),
            (b"STAT 1\r\n", ParseError::Syntax("no arguments expected")),
            (
                b"RETR\r\n",
                ParseError::Syntax("a message number is required"),
            ),
            (b"RETR x\r\n", ParseError::Syntax("invalid message number")),
            (b"RETR -1\r\n", ParseError::Syntax("invalid message number")),
            (b"RETR 1 2\r\n", ParseError::Syntax("too many arguments")),
            (
                b"DELE 99999999999\r\n",
                ParseError::Syntax("invalid message number"),
            ),
            (b"LIST 1 2\r\n", ParseError::Syntax("too many arguments")),
            (
                b"TOP 1\r\n",
                ParseError::Syntax("TOP needs a message number and a line count"),
            ),
            (b"TOP 1 x\r\n", ParseError::Syntax("invalid line count")),
            (
                b"AUTH A B C\r\n",
                ParseError::Syntax("AUTH takes a mechanism and an optional initial response"),
            ),
        ];
        for (line, want) in table {
            assert_eq!(
                parse(line).as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(ok("TOP 1 1").name(), "TOP");
        assert_eq!(ok("PASS x").name(), "PASS");
    }
}
