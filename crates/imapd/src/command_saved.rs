//! RFC 5182 SEARCHRES on the parsing side: `$`, the saved search result, used as a sequence
//! set (RFC 5182 §3 `seq-last-command`). imap-codec does not know `$`, so a command it
//! rejects is looked at once more: each bare `$` token where a set can stand is written as
//! a number imap-codec accepts ([`STAND_IN`]), the command parsed again, and every set that
//! came from a stand-in replaced by [`SeqSet::saved`]. The session puts the saved result in
//! its place before the command runs (`crate::searchres`). No I/O, no session state.

use super::*;
use crate::search::SearchKey;

/// What a `$` is written as for imap-codec: a valid number (RFC 3501 §9 nz-number). A command
/// that already holds these digits is not rewritten, so a stand-in is never a client's own.
const STAND_IN: &[u8] = b"4294967295";

/// The commands with a sequence-set argument or search keys (RFC 5182 §2.1: "$" can be used
/// wherever a sequence set can).
const WITH_SETS: &[&str] = &[
    "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE",
];

/// Search keys whose argument is a string: a `$` (or an RFC 8514 key word) after them is
/// that string.
const STRING_KEYS: &[&str] = &[
    "BCC",
    "BODY",
    "CC",
    "FROM",
    "HEADER",
    "KEYWORD",
    "SUBJECT",
    "TEXT",
    "TO",
    "UNKEYWORD",
];

impl SeqSet {
    /// RFC 5182 `$`: a set no client can write (imap-codec never gives a 0), replaced by the
    /// saved search result before the command runs, and matching nothing until then.
    pub fn saved() -> SeqSet {
        SeqSet(vec![(Bound::Num(0), Bound::Num(0))])
    }

    pub fn is_saved(&self) -> bool {
        self.0 == [(Bound::Num(0), Bound::Num(0))]
    }
}

impl Kind {
    /// Every sequence set of the command with whether it holds UIDs: FETCH, STORE, COPY,
    /// MOVE, UID EXPUNGE, and the sequence-set and UID keys of SEARCH, SORT and THREAD.
    pub fn sets_mut(&mut self, f: &mut dyn FnMut(&mut SeqSet, bool)) {
        match self {
            Kind::Fetch { uid, set, .. }
            | Kind::Store { uid, set, .. }
            | Kind::Copy { uid, set, .. } => f(set, *uid),
            Kind::Expunge { uids: Some(set) } => f(set, true),
            Kind::Search { key, .. } | Kind::Sort { key, .. } | Kind::Thread { key, .. } => {
                key_sets(key, f);
            }
            _ => {}
        }
    }
}

fn key_sets(key: &mut SearchKey, f: &mut dyn FnMut(&mut SeqSet, bool)) {
    match key {
        SearchKey::Seq(set) => f(set, false),
        SearchKey::Uid(set) => f(set, true),
        SearchKey::And(keys) => keys.iter_mut().for_each(|k| key_sets(k, f)),
        SearchKey::Or(a, b) => {
            key_sets(a, f);
            key_sets(b, f);
        }
        SearchKey::Not(k) => key_sets(k, f),
        _ => {}
    }
}

/// What [`rewrite`] made of a command.
pub(super) enum Rewrite {
    /// No `$` where a set can stand.
    None,
    /// A `$` is there but the command has not ended yet.
    Incomplete,
    /// The command (up to its line end) with each `$` written as [`STAND_IN`], and where
    /// the command ends in the input.
    Done(Vec<u8>, usize),
}

/// Writes each bare `$` of the first command in `input` as [`STAND_IN`]; quoted strings,
/// literals and the argument of a string search key are left alone.
pub(super) fn rewrite(input: &[u8], name: &str) -> Rewrite {
    let base = name.strip_prefix("UID ").unwrap_or(name);
    if !WITH_SETS.contains(&base) || input.windows(STAND_IN.len()).any(|w| w == STAND_IN) {
        return Rewrite::None;
    }
    let mut out = Vec::with_capacity(input.len() + 16);
    let (mut i, mut count) = (0, 0);
    // The last two words, upper case, to tell a string key's argument.
    let mut words: [String; 2] = Default::default();
    let mut word = String::new();
    let push = |words: &mut [String; 2], w: String| {
        words.swap(0, 1);
        words[1] = w;
    };
    while i < input.len() {
        let b = input[i];
        let delim = |j: usize| input.get(j).is_none_or(|c| b" ()\r\n".contains(c));
        if b == b'$' && delim(i + 1) && i > 0 && b" (".contains(&input[i - 1]) {
            let keys = matches!(base, "SEARCH" | "SORT" | "THREAD");
            // A string key's argument (SUBJECT $), or anything but the first argument of a
            // command whose other arguments are flags or a mailbox name (COPY $ $).
            let not_a_set = if keys {
                string_argument(&words)
            } else {
                words[1] != base
            };
            if !not_a_set {
                if i + 1 == input.len() {
                    return Rewrite::Incomplete;
                }
                out.extend_from_slice(STAND_IN);
                count += 1;
                i += 1;
                push(&mut words, "$".into());
                continue;
            }
        }
        if let Some((end, what)) = string_end(input, i) {
            out.extend_from_slice(&input[i..end]);
            i = end;
            push(&mut words, what.into());
            continue;
        }
        if b == b'\n' {
            out.push(b);
            return if count == 0 {
                Rewrite::None
            } else {
                Rewrite::Done(out, i + 1)
            };
        }
        if b" ()".contains(&b) || b == b'\r' {
            if !word.is_empty() {
                push(&mut words, std::mem::take(&mut word).to_ascii_uppercase());
            }
        } else {
            word.push(char::from(b));
        }
        out.push(b);
        i += 1;
    }
    if count == 0 {
        Rewrite::None
    } else {
        Rewrite::Incomplete
    }
}

/// Whether the word after the last two words of a SEARCH (`words`, upper case) is a string
/// key's argument: after SUBJECT and the like, and both arguments of HEADER.
pub(super) fn string_argument(words: &[String; 2]) -> bool {
    STRING_KEYS.contains(&words[1].as_str()) || words[0] == "HEADER"
}

/// When a quoted string or a complete literal starts at `at`: where it ends, and `"` or `{`
/// for which it was. A quoted string ends at its closing quote, or before the line end that
/// cuts it (a quoted string holds no CR or LF: imap-codec rejects it), or at the end of the
/// input. Commands rewritten before imap-codec parses them skip strings with this, so a key
/// word inside one is left alone.
pub(super) fn string_end(input: &[u8], at: usize) -> Option<(usize, &'static str)> {
    match input.get(at)? {
        b'"' => {
            let mut i = at + 1;
            while i < input.len() && !b"\"\r\n".contains(&input[i]) {
                i += if input[i] == b'\\' { 2 } else { 1 };
            }
            let end = if input.get(i) == Some(&b'"') {
                i + 1
            } else {
                i
            };
            Some((end.min(input.len()), "\""))
        }
        b'{' => literal_end(input, at).map(|end| (end, "{")),
        _ => None,
    }
}

/// Whether a literal is announced at `at` (`{n}` / `{n+}` and its line end) whose octets have
/// not all arrived yet.
pub(super) fn literal_pending(input: &[u8], at: usize) -> bool {
    let Some(close) = input
        .get(at..)
        .and_then(|r| r.iter().position(|&b| b == b'}'))
    else {
        return false;
    };
    let digits = &input[at + 1..at + close];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    let rest = &input[at + close + 1..];
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (rest.starts_with(b"\r\n") || rest.starts_with(b"\n"))
        && literal_end(input, at).is_none()
}

/// The end of a literal `{n}` / `{n+}` announced at `at` (its CRLF and n octets), when the
/// input holds it all.
fn literal_end(input: &[u8], at: usize) -> Option<usize> {
    let close = at + input.get(at..)?.iter().position(|&b| b == b'}')?;
    let digits = input.get(at + 1..close)?;
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let mut start = close + 1;
    if input.get(start) == Some(&b'\r') {
        start += 1;
    }
    (input.get(start) == Some(&b'\n')).then_some(())?;
    let end = start + 1 + n;
    (end <= input.len()).then_some(end)
}

/// Parses a command whose `$`s were rewritten, turns each stand-in set back into
/// [`SeqSet::saved`], and counts the bytes used in the original input.
pub(super) fn parse_rewritten(
    rewritten: &[u8],
    end: usize,
) -> Result<(Command, usize), ParseError> {
    let (mut cmd, _) = parse(rewritten)?;
    let stand_in = SeqSet(vec![(Bound::Num(u32::MAX), Bound::Num(u32::MAX))]);
    cmd.kind.sets_mut(&mut |set, _| {
        if *set == stand_in {
            *set = SeqSet::saved();
        }
    });
    Ok((cmd, end))
}
