//! Forwarding and vacation replies without writing Sieve (docs/spec.md §6.5): `mailstack
//! forward`, `mailstack vacation` and their REST routes write blocks of one Sieve script,
//! named [`SCRIPT`], which the user can read and edit (ManageSieve, the dashboard). Each block
//! sits between `# BEGIN <kind>` and `# END <kind>` lines and carries its settings as a JSON
//! comment, so the settings read back exactly; text outside the blocks is the user's and is
//! kept. Setting either makes the script the active one.

use serde::{Deserialize, Serialize};
use store::{AccountId, Store};

/// The script the settings live in.
pub const SCRIPT: &str = "mailstack";

/// The extensions the generated blocks use (RFC 3894 copy, RFC 5230 vacation, RFC 5260
/// date, RFC 5231 relational; envelope is core, RFC 5228 §5.4).
const REQUIRE: &str = "require [\"copy\", \"vacation\", \"date\", \"relational\", \"envelope\"];";
const HEADER: &str =
    "# Written by mailstack (`mailstack forward`, `mailstack vacation`, the REST API).\n\
# The BEGIN/END blocks are rewritten by those commands; anything else here is yours.\n";

/// `mailstack forward ADDR --to X [--keep-copy]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// Where mail goes.
    pub to: String,
    /// Keep a copy in INBOX too (`redirect :copy`, RFC 3894).
    #[serde(default)]
    pub keep_copy: bool,
}

/// `mailstack vacation ADDR …`: an automatic reply, optionally within dates, with its own
/// text for senders of the account's local domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vacation {
    /// First day (YYYY-MM-DD, UTC) replies are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD, UTC) replies are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub message: String,
    /// The text for senders in the local domains (otherwise `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    /// One reply per sender per this many days (RFC 5230 §4.1 `:days`), default 1.
    #[serde(default = "one_day")]
    pub days: u32,
}

fn one_day() -> u32 {
    1
}

/// What the blocks of the account's script say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub forward: Option<Forward>,
    pub vacation: Option<Vacation>,
    /// Whether [`SCRIPT`] is the active script (the settings only act when it is).
    pub active: bool,
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The account's current forward and vacation settings.
pub fn settings(store: &Store, account: AccountId) -> store::Result<Settings> {
    let text = store
        .sieve_script(account, SCRIPT)?
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let active = store
        .active_sieve_script(account)?
        .is_some_and(|(n, _)| n == SCRIPT);
    Ok(Settings {
        forward: block_settings(&text, "forward"),
        vacation: block_settings(&text, "vacation"),
        active,
    })
}

/// Sets (or with `None` removes) the forward. Returns the script's new text.
pub async fn set_forward(
    store: &Store,
    account: AccountId,
    forward: Option<&Forward>,
) -> Result<String, SettingsError> {
    let block = match forward {
        None => None,
        Some(f) => {
            let to = auth::normalize_address(&f.to)
                .map_err(|e| SettingsError::Invalid(format!("forward address: {e}")))?;
            let f = Forward {
                to,
                keep_copy: f.keep_copy,
            };
            // RFC 5228 §4.2 redirect; RFC 3894 §3 `:copy` keeps the message too.
            let copy = if f.keep_copy { ":copy " } else { "" };
            Some((
                settings_line(&f),
                format!("redirect {copy}{};\n", quote(&f.to)),
            ))
        }
    };
    write_block(store, account, "forward", block).await
}

/// Sets (or with `None` removes) the vacation reply. Returns the script's new text.
pub async fn set_vacation(
    store: &Store,
    account: AccountId,
    vacation: Option<&Vacation>,
) -> Result<String, SettingsError> {
    let block = match vacation {
        None => None,
        Some(v) => {
            check_vacation(v)?;
            let domains = store.domains()?;
            Some((settings_line(v), vacation_sieve(v, &domains)))
        }
    };
    write_block(store, account, "vacation", block).await
}

fn check_vacation(v: &Vacation) -> Result<(), SettingsError> {
    for d in [&v.from, &v.until].into_iter().flatten() {
        if !is_date(d) {
            return Err(SettingsError::Invalid(format!(
                "{d:?} is not a date: write YYYY-MM-DD"
            )));
        }
    }
    if let (Some(f), Some(u)) = (&v.from, &v.until) {
        if f > u {
            return Err(SettingsError::Invalid(format!(
                "the vacation ends ({u}) before it starts ({f})"
            )));
        }
    }
    if v.message.trim().is_empty() {
        return Err(SettingsError::Invalid(
            "the vacation message is empty".into(),
        ));
    }
    if v.days == 0 || v.days > 365 {
        return Err(SettingsError::Invalid(
            "days must be between 1 and 365".into(),
        ));
    }
    Ok(())
}

/// YYYY-MM-DD with a plausible month and day.
fn is_date(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<u32>().ok());
    matches!(
        (num(0..4), num(5..7), num(8..10)),
        (Some(1970..=9999), Some(1..=12), Some(1..=31))
    )
}

/// The vacation block's Sieve: the date window (RFC 5260 §5 currentdate, RFC 5231 :value),
/// the internal text for senders of the local domains (envelope :domain, RFC 5228 §5.4).
fn vacation_sieve(v: &Vacation, domains: &[String]) -> String {
    let action = |text: &str| {
        let mut a = format!("vacation :days {}", v.days);
        if let Some(s) = &v.subject {
            a.push_str(&format!(" :subject {}", quote(s)));
        }
        a.push_str(&format!(" {};", quote(text)));
        a
    };
    let body = match (&v.internal_message, domains.is_empty()) {
        (Some(internal), false) => {
            let list: Vec<String> = domains.iter().map(|d| quote(d)).collect();
            format!(
                "if envelope :domain :is \"from\" [{}] {{\n    {}\n}} else {{\n    {}\n}}\n",
                list.join(", "),
                action(internal),
                action(&v.message)
            )
        }
        _ => format!("{}\n", action(&v.message)),
    };
    let mut tests = Vec::new();
    if let Some(f) = &v.from {
        tests.push(format!("currentdate :value \"ge\" \"date\" {}", quote(f)));
    }
    if let Some(u) = &v.until {
        tests.push(format!("currentdate :value \"le\" \"date\" {}", quote(u)));
    }
    if tests.is_empty() {
        return body;
    }
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("if allof ({}) {{\n{indented}}}\n", tests.join(", "))
}

/// A Sieve quoted string (RFC 5228 §2.4.2: `"` and `\` escaped; line breaks allowed).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn settings_line<T: Serialize>(t: &T) -> String {
    let json = serde_json::to_string(t).unwrap_or_default();
    format!("# settings: {json}\n")
}

fn begin(kind: &str) -> String {
    format!("# BEGIN {kind}")
}

fn end(kind: &str) -> String {
    format!("# END {kind}")
}

fn block_settings<T: for<'de> Deserialize<'de>>(text: &str, kind: &str) -> Option<T> {
    let (start, stop) = block_span(text, kind)?;
    text[start..stop]
        .lines()
        .find_map(|l| l.strip_prefix("# settings: "))
        .and_then(|json| serde_json::from_str(json).ok())
}

/// The byte span of a block, from its BEGIN line to the end of its END line.
fn block_span(text: &str, kind: &str) -> Option<(usize, usize)> {
    let b = begin(kind);
    let e = end(kind);
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        if start.is_none() && l == b {
            start = Some(offset);
        } else if start.is_some() && l == e {
            return Some((start?, offset + line.len()));
        }
        offset += line.len();
    }
    None
}

/// Rewrites one block of [`SCRIPT`], checks the whole script, stores it and makes it active;
/// a script left with nothing but our header is deactivated and removed.
async fn write_block(
    store: &Store,
    account: AccountId,
    kind: &str,
    block: Option<(String, String)>,
) -> Result<String, SettingsError> {
    // Edited as LF text, stored with CRLF (RFC 5228 §2.2; what ManageSieve clients expect).
    let mut text = store
        .sieve_script(account, SCRIPT)?
        .unwrap_or_default()
        .replace("\r\n", "\n");
    if let Some((s, e)) = block_span(&text, kind) {
        text.replace_range(s..e, "");
    }
    if !text.contains(REQUIRE) {
        text = format!("{HEADER}{REQUIRE}\n{text}");
    }
    if let Some((settings, sieve)) = block {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "{}\n{settings}{sieve}{}\n",
            begin(kind),
            end(kind)
        ));
    }
    let rest = text.replace(HEADER, "").replace(REQUIRE, "");
    if rest.trim().is_empty() {
        // Nothing left: no script, nothing active.
        if store.sieve_script(account, SCRIPT)?.is_some() {
            let active = store
                .active_sieve_script(account)?
                .is_some_and(|(n, _)| n == SCRIPT);
            if active {
                store.set_active_sieve_script(account, None).await?;
            }
            store.delete_sieve_script(account, SCRIPT).await?;
        }
        return Ok(String::new());
    }
    let text = text.replace('\n', "\r\n");
    sieve::parse(&text).map_err(|e| {
        SettingsError::Invalid(format!(
            "the script \"{SCRIPT}\" does not parse after the change ({e}); fix it with ManageSieve"
        ))
    })?;
    store.put_sieve_script(account, SCRIPT, &text, true).await?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_quotes() {
        assert!(is_date("2026-12-01"));
        for bad in ["2026-13-01", "2026-1-01", "tomorrow", "2026-12-32", ""] {
            assert!(!is_date(bad), "{bad}");
        }
        assert_eq!(quote("a \"b\" \\ c"), r#""a \"b\" \\ c""#);
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn vacation_block_has_the_window_and_the_internal_text() {
        let v = Vacation {
            from: Some("2026-12-01".into()),
            until: Some("2026-12-31".into()),
            subject: Some("Away".into()),
            message: "I am away.".into(),
            internal_message: Some("Back in January, ask Bob.".into()),
            days: 1,
        };
        let s = vacation_sieve(&v, &["example.test".into()]);
        assert!(s.starts_with("if allof (currentdate :value \"ge\" \"date\" \"2026-12-01\", currentdate :value \"le\" \"date\" \"2026-12-31\") {"), "{s}");
        assert!(
            s.contains("if envelope :domain :is \"from\" [\"example.test\"]"),
            "{s}"
        );
        assert!(
            s.contains("vacation :days 1 :subject \"Away\" \"Back in January, ask Bob.\";"),
            "{s}"
        );
        assert!(
            s.contains("vacation :days 1 :subject \"Away\" \"I am away.\";"),
            "{s}"
        );
    }

    #[test]
    fn blocks_are_found_and_read_back() {
        let f = Forward {
            to: "x@example.org".into(),
            keep_copy: true,
        };
        let text = format!(
            "mine;\n# BEGIN forward\n{}redirect :copy \"x@example.org\";\n# END forward\nalso mine;\n",
            settings_line(&f)
        );
        assert_eq!(block_settings::<Forward>(&text, "forward"), Some(f));
        let (s, e) = block_span(&text, "forward").expect("span");
        assert_eq!(&text[..s], "mine;\n");
        assert_eq!(&text[e..], "also mine;\n");
        assert_eq!(block_settings::<Vacation>(&text, "vacation"), None);
    }
}
