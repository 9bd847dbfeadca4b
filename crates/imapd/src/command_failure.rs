//! Why a command failed to parse, and how badly: [`failure_reason`] names the token where
//! imap-codec's grammar stops (imap-codec reports no position), [`well_formed`] tells a
//! well-formed command we do not know (an extension we do not serve: [`ParseError::Unknown`],
//! one strike toward the disconnect limit) from garbage ([`ParseError::Syntax`], two).

use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::CommandCodec;

use super::command_cursor::is_atom_char;
use super::*;

/// The error for a command imap-codec could not parse: [`ParseError::Unknown`] when it is
/// well formed and what stops it is a keyword (an unknown command name, search key, FETCH
/// or STATUS item, SELECT parameter), [`ParseError::Syntax`] otherwise.
pub(super) fn failed(input: &[u8], tag: String, name: &str, name_end: usize) -> ParseError {
    let (reason, keyword) = failure_reason(input, name, name_end);
    if keyword && well_formed(input) {
        ParseError::Unknown { tag, reason }
    } else {
        ParseError::Syntax {
            tag: Some(tag),
            reason,
        }
    }
}

/// Whether `input`, one command with its literals inline, has the shape every IMAP command
/// has (RFC 3501 §9, RFC 4466 §2.1 tagged-ext-val): a tag, a command name starting with a
/// letter, then atoms, quoted strings, literals and balanced parentheses and brackets up to
/// the line end. What tells a well-formed command we do not know from garbage.
pub fn well_formed(input: &[u8]) -> bool {
    let mut p = Parser { s: input, pos: 0 };
    if p.tag().is_err() || !p.eat(b' ') || !p.peek().is_ok_and(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let mut open: Vec<u8> = Vec::new();
    let mut i = p.pos;
    while let Some(&b) = input.get(i) {
        match b {
            b'\r' | b'\n' => {
                let end = if b == b'\r' { i + 2 } else { i + 1 };
                return open.is_empty()
                    && end == input.len()
                    && (b == b'\n' || input.get(i + 1) == Some(&b'\n'));
            }
            b'"' => {
                let mut q = Parser { s: input, pos: i };
                if q.quoted_raw().is_err() {
                    return false;
                }
                i = q.pos;
                continue;
            }
            // A literal, or an RFC 3516 literal8 (`~{n}`; a lone "~" is an atom character).
            b'{' | b'~' if b == b'{' || input.get(i + 1) == Some(&b'{') => {
                let at = i + usize::from(b == b'~');
                let Some(len) = input.get(at..).and_then(literal_prefix) else {
                    return false;
                };
                i = at + len;
                continue;
            }
            b'(' => open.push(b')'),
            b'[' => open.push(b']'),
            b')' if open.pop() != Some(b')') => return false,
            // RFC 3501 §9: "]" is an ASTRING-CHAR when no "[" is open.
            b']' if open.last() == Some(&b']') => {
                open.pop();
            }
            _ if !(0x20..0x7f).contains(&b) => return false,
            _ => {}
        }
        i += 1;
    }
    false
}

/// At `{n}` / `{n+}` CRLF and n octets: the length of all of it.
fn literal_prefix(s: &[u8]) -> Option<usize> {
    let close = s.iter().position(|&b| b == b'}')?;
    let (n, _) = literal_suffix(&s[..=close])?;
    let mut at = close + 1;
    if s.get(at) == Some(&b'\r') {
        at += 1;
    }
    if s.get(at) != Some(&b'\n') {
        return None;
    }
    let end = (at as u64 + 1).checked_add(n)?;
    (end <= s.len() as u64).then_some(end as usize)
}

/// Commands longer than this get a reason without the position (the search re-parses).
const LOCATE_MAX: usize = 1 << 20;

/// Why imap-codec failed on `input`: an unknown command, or the token holding the first byte
/// that no valid command can continue with. `name_end` is where the command name ends in
/// `input`. The flag says whether that is a keyword (an unknown command name, or a token that
/// starts with a letter, such as a search key, FETCH or STATUS item or SELECT parameter of an
/// extension we do not serve) rather than a malformed argument.
pub(super) fn failure_reason(input: &[u8], name: &str, name_end: usize) -> (String, bool) {
    if !is_served(name) {
        let keyword = name.starts_with(|c: char| c.is_ascii_alphabetic());
        let reason = match name.strip_prefix("UID ") {
            Some(sub) => format!("unknown UID command {sub}"),
            None if name.is_empty() => "missing command".into(),
            None => format!("unknown command {name}"),
        };
        return (reason, keyword);
    }
    if input.len() > LOCATE_MAX {
        return (format!("invalid {name} arguments"), false);
    }
    let fails = |n: usize| {
        matches!(
            CommandCodec::default().decode(&input[..n]),
            Err(CommandDecodeError::Failed)
        )
    };
    // Binary search for the shortest failing prefix; `input` itself fails.
    let (mut ok, mut bad) = (0usize, input.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if fails(mid) {
            bad = mid;
        } else {
            ok = mid;
        }
    }
    let line_end = |from: usize| {
        input[from..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .map_or(input.len(), |n| from + n)
    };
    if line_end(ok) == ok {
        return (
            format!("invalid {name} arguments: unexpected end of command"),
            false,
        );
    }
    // Show the whole token the bad byte is in (`1:x`, not `x`), never the command name.
    while ok > name_end && !b" ()".contains(&input[ok - 1]) {
        ok -= 1;
    }
    let at = &input[ok..line_end(ok)];
    let token = at
        .iter()
        .position(|b| b" ()[]".contains(b))
        .map_or(at, |n| &at[..n]);
    let keyword = token.first().is_some_and(u8::is_ascii_alphabetic)
        && token.iter().all(|&b| is_atom_char(b));
    if matches!(name, "LOGIN" | "AUTHENTICATE") {
        // Never echo credentials (they would reach protocol traces).
        return (format!("invalid {name} arguments"), false);
    }
    let near: String = at
        .iter()
        .take(24)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    (format!("invalid {name} arguments near \"{near}\""), keyword)
}

/// The command names we serve (RFC 3501 §6 and the extensions in the crate docs).
fn is_served(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "LOGIN",
        "AUTHENTICATE",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "NAMESPACE",
        "ENABLE",
        "ID",
        "IDLE",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "GETQUOTA",
        "GETQUOTAROOT",
        "SETQUOTA",
        "UID SEARCH",
        "UID FETCH",
        "UID STORE",
        "UID COPY",
        "UID MOVE",
        "UID EXPUNGE",
        "XLIST",
        // RFC 5267 §4.3.
        "CANCELUPDATE",
    ];
    NAMES.contains(&name)
}
