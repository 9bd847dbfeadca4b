//! RFC 8514 §4.3 search keys, which imap-codec 2.0 does not know: `SAVEDBEFORE date`,
//! `SAVEDON date`, `SAVEDSINCE date` and `SAVEDATESUPPORTED`. A SEARCH, SORT or THREAD that
//! imap-codec rejects is looked at once more: `SAVEDATESUPPORTED` is written as `ALL` (every
//! mailbox here keeps save dates, so it matches every message), and `SAVEDBEFORE date` as
//! `(HEADER <STAND_IN> "" BEFORE date)` (likewise ON, SINCE), so imap-codec checks the date
//! with its own grammar (RFC 3501 §9 `date`); [`restore`] turns each such pair back into a
//! save-date key after parsing. A command that already holds the stand-in name is not
//! rewritten, so a stand-in is never a client's own. No I/O, no session state.

use super::command_saved::{literal_pending, string_argument, string_end};
use crate::search::{DateOf, SearchKey};

/// The header name that marks a rewritten date key. It must not contain the `$` stand-in of
/// `command_saved` (a command may hold both).
const STAND_IN: &str = "X-Mailstack-Savedate";

const COMMANDS: &[&str] = &["SEARCH", "SORT", "THREAD"];

/// What [`rewrite`] made of a command.
pub(super) enum Rewrite {
    /// No RFC 8514 key in it.
    None,
    /// An RFC 8514 key, but the command has not ended yet.
    Incomplete,
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
        if let Some((end, what)) = string_end(input, i) {
            out.extend_from_slice(&input[i..end]);
            shift(&mut prev, what.into());
            i = end;
            continue;
        }
        match input[i] {
            b'\n' if found => {
                out.extend_from_slice(&input[i..]);
                return Rewrite::Done(out);
            }
            b'\n' => return Rewrite::None,
            b @ (b' ' | b'(' | b')' | b'\r') => {
                out.push(b);
                i += 1;
                continue;
            }
            _ => {}
        }
        let end = word_end(input, i);
        let word = String::from_utf8_lossy(&input[i..end]).to_ascii_uppercase();
        let as_key = !string_argument(&prev);
        let date = match word.as_str() {
            "SAVEDBEFORE" => Some("BEFORE"),
            "SAVEDON" => Some("ON"),
            "SAVEDSINCE" => Some("SINCE"),
            _ => None,
        };
        if !as_key || (date.is_none() && word != "SAVEDATESUPPORTED") {
            out.extend_from_slice(&input[i..end]);
            shift(&mut prev, word);
            i = end;
            continue;
        }
        found = true;
        let Some(internal) = date else {
            // RFC 8514 §4.3: every message, as every mailbox keeps save dates.
            out.extend_from_slice(b"ALL");
            shift(&mut prev, "ALL".into());
            i = end;
            continue;
        };
        // The date after one space: a quoted string, a literal or an atom; imap-codec checks
        // it (and says what is wrong with a missing one).
        out.extend_from_slice(format!("(HEADER {STAND_IN} \"\" {internal}").as_bytes());
        let mut at = end;
        if input.get(at) == Some(&b' ') {
            let from = at + 1;
            at = match string_end(input, from) {
                Some((e, _)) => e,
                None if literal_pending(input, from) => return Rewrite::Incomplete,
                None => word_end(input, from),
            };
            if at == input.len() {
                return Rewrite::Incomplete;
            }
            out.extend_from_slice(&input[end..at]);
        } else if at == input.len() {
            return Rewrite::Incomplete;
        }
        out.push(b')');
        shift(&mut prev, "DATE".into());
        i = at;
    }
    if found {
        Rewrite::Incomplete
    } else {
        Rewrite::None
    }
}

/// Where the word starting at `at` ends (at least one byte: a `{` that starts no complete
/// literal is a word of its own).
fn word_end(input: &[u8], at: usize) -> usize {
    input[at + 1..]
        .iter()
        .position(|c| b" ()\r\n\"{".contains(c))
        .map_or(input.len(), |p| at + 1 + p)
}

fn shift(prev: &mut [String; 2], word: String) {
    prev.swap(0, 1);
    prev[1] = word;
}

/// Turns each `(HEADER <STAND_IN> "" BEFORE|ON|SINCE date)` of a parsed command back into a
/// save-date key.
pub(super) fn restore(key: &mut SearchKey) {
    match key {
        SearchKey::And(keys) => {
            if let [SearchKey::Header(name, _), SearchKey::Date(cmp, day, DateOf::Internal)] =
                keys.as_slice()
            {
                if name.eq_ignore_ascii_case(STAND_IN) {
                    *key = SearchKey::Date(*cmp, *day, DateOf::Saved);
                    return;
                }
            }
            keys.iter_mut().for_each(restore);
        }
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
    use super::super::{parse, Kind, ParseError};
    use super::*;
    use crate::search::DateCmp;

    fn done(input: &str) -> String {
        match rewrite(
            input.as_bytes(),
            &super::super::command_name(input.as_bytes(), input.find(' ').unwrap_or(0)).0,
        ) {
            Rewrite::Done(b) => String::from_utf8(b).expect("utf-8"),
            Rewrite::None => "None".into(),
            Rewrite::Incomplete => "Incomplete".into(),
        }
    }

    fn key(input: &str) -> SearchKey {
        match parse(input.as_bytes()).expect("parses").0.kind {
            Kind::Search { key, .. } => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_rewritten_and_strings_left_alone() {
        let m = format!("(HEADER {STAND_IN} \"\"");
        assert_eq!(
            done("a SEARCH SAVEDSINCE 1-Feb-2024 SUBJECT SAVEDON\r\n"),
            format!("a SEARCH {m} SINCE 1-Feb-2024) SUBJECT SAVEDON\r\n")
        );
        assert_eq!(
            done("a UID SEARCH NOT SAVEDBEFORE \"01-jan-1970\" SAVEDATESUPPORTED\r\nb NOOP\r\n"),
            format!("a UID SEARCH NOT {m} BEFORE \"01-jan-1970\") ALL\r\nb NOOP\r\n")
        );
        assert_eq!(done("a SEARCH SUBJECT \"SAVEDON 1-Feb-2024\"\r\n"), "None");
        assert_eq!(done("a SEARCH HEADER SAVEDON x\r\n"), "None");
        assert_eq!(done("a FETCH 1 SAVEDATE\r\n"), "None");
        assert_eq!(done("a SEARCH SAVEDON 1-Feb"), "Incomplete");
        assert_eq!(done("a SEARCH SAVEDON \"1-Feb"), "Incomplete");
        assert_eq!(done("a SEARCH SAVEDON {10}\r\n1-Feb"), "Incomplete");
        // A line end inside a quoted date or a brace that is no literal: complete (and BAD).
        assert!(done("a SEARCH SAVEDON \"1-Feb\r\n").starts_with("a SEARCH"));
        assert!(done("a SEARCH SAVEDON {x}\r\n").starts_with("a SEARCH"));
        // A brace that starts no literal is a word; scanning goes on past it.
        assert_eq!(done("a SEARCH {x SAVEDON"), "Incomplete");
        assert_eq!(done("a SEARCH {5}\r\nab"), "None");
    }

    #[test]
    fn parsed_keys_compare_the_save_date() {
        let day = crate::response::days_from_civil(2024, 2, 1);
        assert_eq!(
            key("a SEARCH SAVEDSINCE 1-Feb-2024\r\n"),
            SearchKey::Date(DateCmp::Since, day, DateOf::Saved)
        );
        assert_eq!(
            key("a SEARCH OR SAVEDON \"1-Feb-2024\" BEFORE 1-Feb-2024\r\n"),
            SearchKey::Or(
                Box::new(SearchKey::Date(DateCmp::On, day, DateOf::Saved)),
                Box::new(SearchKey::Date(DateCmp::Before, day, DateOf::Internal))
            )
        );
        assert_eq!(key("a SEARCH SAVEDATESUPPORTED\r\n"), SearchKey::All);
    }

    #[test]
    fn bad_dates_are_bad() {
        for bad in [
            "31-Feb-2024",
            "1-Foo-2024",
            "1-Feb-24",
            "x",
            "29-Feb-2023",
            "123-Jan-2024",
            "",
            "\"1-Feb-2024",
            "{x}",
        ] {
            let input = format!("a SEARCH SAVEDON {bad}\r\n");
            match parse(input.as_bytes()) {
                Err(ParseError::Syntax { .. } | ParseError::Unknown { .. }) => {}
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_client_s_own_stand_in_is_not_touched() {
        let input = format!("a SEARCH HEADER {STAND_IN} x SAVEDON 1-Feb-2024\r\n");
        assert_eq!(done(&input), "None");
    }
}
