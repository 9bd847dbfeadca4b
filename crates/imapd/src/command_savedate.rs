//! RFC 8514 §4.3 search keys, which imap-codec 2.0 does not know: `SAVEDBEFORE date`,
//! `SAVEDON date`, `SAVEDSINCE date` and `SAVEDATESUPPORTED`. A SEARCH, SORT or THREAD that
//! imap-codec rejects is looked at once more: `SAVEDATESUPPORTED` is written as `ALL` (every
//! mailbox here keeps save dates, so it matches every message), and each date key as
//! `HEADER <STAND_IN> "<B|O|S><days>"`, which [`restore`] turns into
//! [`SearchKey::SavedDate`] after parsing. A command that already holds the stand-in name is
//! not rewritten, so a stand-in is never a client's own. No I/O, no session state.

use crate::search::{DateCmp, SearchKey};

/// The header name a date key is written as (a client's own use of it is left alone).
const STAND_IN: &str = "X-Mailstack-Savedate-4294967295";

const COMMANDS: &[&str] = &["SEARCH", "SORT", "THREAD"];

/// Search keys whose argument is a string: a `SAVEDON` after them is that string.
const STRING_KEYS: &[&str] = &[
    "BCC",
    "BODY",
    "CC",
    "FROM",
    "KEYWORD",
    "SUBJECT",
    "TEXT",
    "TO",
    "UNKEYWORD",
];

/// What [`rewrite`] made of a command.
pub(super) enum Rewrite {
    /// No RFC 8514 key in it.
    None,
    /// An RFC 8514 key, but the command has not ended yet.
    Incomplete,
    /// A date key with a date that is not one (RFC 3501 §9 `date`).
    Bad(String),
    /// The command with the keys rewritten; the input after the command follows unchanged.
    Done(Vec<u8>),
}

/// Rewrites the RFC 8514 keys of the first command in `input` (see the module docs); quoted
/// strings, literals and the argument of a string key are left alone.
pub(super) fn rewrite(input: &[u8], name: &str) -> Rewrite {
    let base = name.strip_prefix("UID ").unwrap_or(name);
    if !COMMANDS.contains(&base)
        || input
            .windows(STAND_IN.len())
            .any(|w| w.eq_ignore_ascii_case(STAND_IN.as_bytes()))
    {
        return Rewrite::None;
    }
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut found = false;
    // The last two words, upper case, to tell a string key's argument.
    let mut prev: [String; 2] = Default::default();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if let Some((end, what)) = super::command_saved::string_end(input, i) {
            out.extend_from_slice(&input[i..end]);
            i = end;
            shift(&mut prev, what.into());
            continue;
        }
        match b {
            b'\n' => {
                if !found {
                    return Rewrite::None;
                }
                out.extend_from_slice(&input[i..]);
                return Rewrite::Done(out);
            }
            b' ' | b'(' | b')' | b'\r' => {
                out.push(b);
                i += 1;
                continue;
            }
            _ => {}
        }
        // A word: up to the next delimiter (at least one byte: a `{` that starts no
        // complete literal is a word of its own).
        let end = input[i + 1..]
            .iter()
            .position(|c| b" ()\r\n\"{".contains(c))
            .map_or(input.len(), |p| i + 1 + p);
        let word = String::from_utf8_lossy(&input[i..end]).to_ascii_uppercase();
        // HEADER takes two strings: the field name and the text.
        let is_argument =
            STRING_KEYS.contains(&prev[1].as_str()) || prev[1] == "HEADER" || prev[0] == "HEADER";
        let cmp = match word.as_str() {
            "SAVEDBEFORE" => Some((DateCmp::Before, 'B')),
            "SAVEDON" => Some((DateCmp::On, 'O')),
            "SAVEDSINCE" => Some((DateCmp::Since, 'S')),
            _ => None,
        };
        if end == input.len() && (cmp.is_some() || word == "SAVEDATESUPPORTED") {
            return Rewrite::Incomplete;
        }
        if !is_argument && word == "SAVEDATESUPPORTED" {
            // RFC 8514 §4.3: every message, as this mailbox keeps save dates.
            out.extend_from_slice(b"ALL");
            found = true;
            i = end;
            shift(&mut prev, "ALL".into());
            continue;
        }
        if let (false, Some((_, letter))) = (is_argument, cmp) {
            // The date: `1-Feb-2024` or `"1-Feb-2024"` (RFC 3501 §9 `date`).
            let from = end + 1;
            if input.get(end) != Some(&b' ') {
                return Rewrite::Bad(format!("{word} needs a date"));
            }
            let (text, after) = if input.get(from) == Some(&b'"') {
                match input[from + 1..].iter().position(|&c| c == b'"') {
                    Some(p) => (&input[from + 1..from + 1 + p], from + p + 2),
                    None if !input[from..].contains(&b'\n') => return Rewrite::Incomplete,
                    None => return Rewrite::Bad(format!("{word}: unterminated date")),
                }
            } else {
                let p = input[from..]
                    .iter()
                    .position(|c| b" ()\r\n".contains(c))
                    .map_or(input.len(), |p| from + p);
                if p == input.len() {
                    return Rewrite::Incomplete;
                }
                (&input[from..p], p)
            };
            let Some(days) = date_days(text) else {
                return Rewrite::Bad(format!(
                    "{word}: '{}' is not a date (d-Mon-yyyy)",
                    String::from_utf8_lossy(text)
                ));
            };
            out.extend_from_slice(format!("HEADER {STAND_IN} \"{letter}{days}\"").as_bytes());
            found = true;
            i = after;
            shift(&mut prev, "\"".into());
            continue;
        }
        out.extend_from_slice(&input[i..end]);
        shift(&mut prev, word);
        i = end;
    }
    if found {
        Rewrite::Incomplete
    } else {
        Rewrite::None
    }
}

fn shift(prev: &mut [String; 2], word: String) {
    prev.swap(0, 1);
    prev[1] = word;
}

/// RFC 3501 §9 `date-text` (`d-Mon-yyyy`, month case-insensitive) as days since 1970-01-01.
fn date_days(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let mut parts = text.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !(1..=2).contains(&d.len())
        || y.len() != 4
        || !d.bytes().chain(y.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let day: u32 = d.parse().ok()?;
    let year: i64 = y.parse().ok()?;
    let month = crate::response::MONTHS
        .iter()
        .position(|n| n.eq_ignore_ascii_case(m))
        .and_then(|p| u32::try_from(p + 1).ok())?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let len = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=len)
        .contains(&day)
        .then(|| crate::response::days_from_civil(year, month, day))
}

/// Turns the stand-in HEADER keys of a parsed command back into RFC 8514 date keys.
pub(super) fn restore(key: &mut SearchKey) {
    match key {
        SearchKey::Header(name, value) if name.eq_ignore_ascii_case(STAND_IN) => {
            let cmp = match value.as_bytes().first() {
                Some(b'B') => DateCmp::Before,
                Some(b'O') => DateCmp::On,
                _ => DateCmp::Since,
            };
            let days = value.get(1..).and_then(|d| d.parse().ok()).unwrap_or(0);
            *key = SearchKey::SavedDate(cmp, days);
        }
        SearchKey::And(keys) => keys.iter_mut().for_each(restore),
        SearchKey::Or(a, b) => {
            restore(a);
            restore(b);
        }
        SearchKey::Not(k) => restore(k),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(input: &str) -> String {
        match rewrite(
            input.as_bytes(),
            &super::super::command_name(input.as_bytes(), input.find(' ').unwrap_or(0)).0,
        ) {
            Rewrite::Done(b) => String::from_utf8(b).expect("utf-8"),
            Rewrite::None => "None".into(),
            Rewrite::Incomplete => "Incomplete".into(),
            Rewrite::Bad(r) => format!("Bad: {r}"),
        }
    }

    #[test]
    fn keys_are_rewritten_and_strings_left_alone() {
        assert_eq!(
            done("a SEARCH SAVEDSINCE 1-Feb-2024 SUBJECT SAVEDON\r\n"),
            format!("a SEARCH HEADER {STAND_IN} \"S19754\" SUBJECT SAVEDON\r\n")
        );
        assert_eq!(
            done("a UID SEARCH NOT SAVEDBEFORE \"01-jan-1970\" SAVEDATESUPPORTED\r\nb NOOP\r\n"),
            format!("a UID SEARCH NOT HEADER {STAND_IN} \"B0\" ALL\r\nb NOOP\r\n")
        );
        assert_eq!(done("a SEARCH SUBJECT \"SAVEDON 1-Feb-2024\"\r\n"), "None");
        assert_eq!(done("a SEARCH HEADER SAVEDON x\r\n"), "None");
        assert_eq!(done("a FETCH 1 SAVEDATE\r\n"), "None");
        assert_eq!(done("a SEARCH SAVEDON 1-Feb"), "Incomplete");
        // A brace that starts no literal is a word; scanning goes on past it.
        assert_eq!(done("a SEARCH {x SAVEDON"), "Incomplete");
        assert_eq!(done("a SEARCH {5}\r\nab"), "None");
    }

    #[test]
    fn bad_dates_are_named() {
        for bad in [
            "31-Feb-2024",
            "1-Foo-2024",
            "1-Feb-24",
            "x",
            "29-Feb-2023",
            "123-Jan-2024",
        ] {
            let r = done(&format!("a SEARCH SAVEDON {bad}\r\n"));
            assert!(r.starts_with("Bad: SAVEDON"), "{bad}: {r}");
        }
        assert!(done("a SEARCH SAVEDON\r\n").starts_with("Bad"), "no date");
        assert_eq!(date_days(b"29-Feb-2024"), Some(19_782));
        assert_eq!(date_days(b"1-Jan-1970"), Some(0));
        assert_eq!(date_days(b"31-Dec-1969"), Some(-1));
    }

    #[test]
    fn a_client_s_own_stand_in_is_not_touched() {
        let input = format!("a SEARCH HEADER {STAND_IN} x SAVEDON 1-Feb-2024\r\n");
        assert_eq!(done(&input), "None");
    }
}
