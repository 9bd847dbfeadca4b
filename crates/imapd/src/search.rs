//! SEARCH keys (RFC 3501 §6.4.4): [`SearchKey`] (converted from imap-codec's parse by
//! `command_codec.rs`) and evaluation per message.
//! Header keys (FROM, TO, CC, BCC, SUBJECT, HEADER) match case-insensitively as substrings
//! of the field's unfolded text with its RFC 2047 encoded words decoded; TEXT also looks at
//! the decoded header; BODY and TEXT match the body's raw (transfer-encoded) bytes.

#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

use std::borrow::Cow;

use crate::command::SeqSet;
use mail_parser::parsers::MessageStream;
use store::{Flags, MessageMeta, ModSeq, Uid};

use crate::selected::SeqNum;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    Seq(SeqSet),
    Uid(SeqSet),
    /// A system flag bit that must be set (or clear with `false`).
    Flag(u8, bool),
    Keyword(String, bool),
    Recent(bool),
    New,
    Header(String, String),
    Body(String),
    Text(String),
    /// Date comparisons in days since the epoch (Before/On/Since) of INTERNALDATE (RFC 3501
    /// BEFORE/ON/SINCE), the Date header (SENTBEFORE/...) or the save date (RFC 8514 §4.3
    /// SAVEDBEFORE/...).
    Date(DateCmp, i64, DateOf),
    Larger(u64),
    Smaller(u64),
    /// RFC 7162 §3.1.5: MODSEQ at or above the value.
    ModSeq(ModSeq),
    /// RFC 5032 §3 OLDER / YOUNGER: INTERNALDATE more than / at most `seconds` ago.
    Within {
        older: bool,
        seconds: u32,
    },
}

/// Which date of a message a [`SearchKey::Date`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOf {
    Internal,
    Sent,
    Saved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateCmp {
    Before,
    On,
    Since,
}

/// What one message offers to the evaluator. `raw` (the whole message) and `header` (its
/// header block, cached by the store while the mailbox is open) are loaded only when a key
/// needs them.
pub struct Candidate<'a> {
    pub seq: SeqNum,
    pub meta: &'a MessageMeta,
    pub recent: bool,
    pub max_seq: SeqNum,
    pub max_uid: Uid,
    pub raw: &'a mut dyn FnMut() -> Option<std::sync::Arc<Vec<u8>>>,
    pub header: &'a mut dyn FnMut() -> Option<std::sync::Arc<Vec<u8>>>,
}

impl SearchKey {
    /// Whether evaluating needs the message bytes.
    pub fn needs_body(&self) -> bool {
        match self {
            SearchKey::Header(..) | SearchKey::Body(_) | SearchKey::Text(_) => true,
            SearchKey::Date(_, _, of) => *of == DateOf::Sent,
            SearchKey::And(v) => v.iter().any(Self::needs_body),
            SearchKey::Or(a, b) => a.needs_body() || b.needs_body(),
            SearchKey::Not(a) => a.needs_body(),
            _ => false,
        }
    }

    /// Whether the key uses MODSEQ, so the answer carries the highest MODSEQ
    /// (RFC 7162 §3.1.5).
    pub fn uses_modseq(&self) -> bool {
        match self {
            SearchKey::ModSeq(_) => true,
            SearchKey::And(v) => v.iter().any(Self::uses_modseq),
            SearchKey::Or(a, b) => a.uses_modseq() || b.uses_modseq(),
            SearchKey::Not(a) => a.uses_modseq(),
            _ => false,
        }
    }

    pub fn matches(&self, c: &mut Candidate<'_>) -> bool {
        use SearchKey as K;
        match self {
            K::All => true,
            K::And(v) => v.iter().all(|k| k.matches(c)),
            K::Or(a, b) => a.matches(c) || b.matches(c),
            K::Not(a) => !a.matches(c),
            K::Seq(s) => s.contains(c.seq, c.max_seq),
            K::Uid(s) => s.contains(c.meta.uid, c.max_uid),
            K::Flag(bit, on) => c.meta.flags.has(*bit) == *on,
            K::Keyword(k, on) => c.meta.flags.contains(k) == *on,
            K::Recent(on) => c.recent == *on,
            K::New => c.recent && !c.meta.flags.has(Flags::SEEN),
            K::Larger(n) => c.meta.size > *n,
            K::Smaller(n) => c.meta.size < *n,
            K::ModSeq(n) => c.meta.modseq >= *n,
            K::Within { older, seconds } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                let age = now - c.meta.internaldate;
                (age > i64::from(*seconds)) == *older
            }
            K::Date(cmp, day, of) => {
                let d = if *of == DateOf::Sent {
                    let Some(h) = (c.header)() else { return false };
                    match store::mime::raw_header(&h, 0, h.len(), "Date")
                        .and_then(|v| crate::response::parse_rfc5322_date(&v))
                    {
                        Some(d) => d,
                        None => return false,
                    }
                } else if *of == DateOf::Saved {
                    // RFC 8514 §4.3: the save date's day, kept in UTC.
                    c.meta.saved.div_euclid(86400)
                } else {
                    // RFC 3501 §6.4.4: dates disregard time and timezone; use the zone stored.
                    (c.meta.internaldate + i64::from(c.meta.tz_minutes) * 60).div_euclid(86400)
                };
                match cmp {
                    DateCmp::Before => d < *day,
                    DateCmp::On => d == *day,
                    DateCmp::Since => d >= *day,
                }
            }
            K::Header(name, value) => {
                let Some(h) = (c.header)() else { return false };
                header_contains(&h, name, value)
            }
            K::Body(s) => {
                let Some(raw) = (c.raw)() else { return false };
                let hl = store::mime::header_length(&raw);
                contains_ci(&raw[hl..], s.as_bytes())
            }
            K::Text(s) => {
                let Some(raw) = (c.raw)() else { return false };
                if contains_ci(&raw, s.as_bytes()) {
                    return true;
                }
                // RFC 3501 §6.4.4: "in the header or body"; the header as its readers see it.
                let hl = store::mime::header_length(&raw);
                let header = &raw[..hl];
                header.windows(2).any(|w| w == b"=?")
                    && contains_ci(decode_words(&unfold(header)).as_bytes(), s.as_bytes())
            }
        }
    }
}

/// RFC 3501 §6.4.4 HEADER (and FROM, TO, CC, BCC, SUBJECT, which search "the envelope
/// structure's" field, that is the header field as a reader sees it): any field `name` whose
/// unfolded value, RFC 2047 encoded words decoded, contains `value`; an empty value matches
/// every message that has the field.
fn header_contains(header: &[u8], name: &str, value: &str) -> bool {
    let mut found = false;
    let mut current: Option<Vec<u8>> = None;
    let check = |v: &Option<Vec<u8>>| {
        v.as_ref()
            .is_some_and(|v| contains_ci(decode_words(v).as_bytes(), value.as_bytes()))
    };
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(v) = current.as_mut() {
                v.extend_from_slice(line);
            }
            continue;
        }
        found |= check(&current);
        current = None;
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            if line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(name.as_bytes())
            {
                current = Some(line[colon + 1..].to_vec());
            }
        }
    }
    found || check(&current)
}

/// A header block with its folds removed (RFC 5322 §2.2.3: CRLF before white space).
fn unfold(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len());
    let mut i = 0;
    while i < header.len() {
        let eol = match header[i..] {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => 0,
        };
        if eol > 0
            && header
                .get(i + eol)
                .is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            i += eol;
            continue;
        }
        out.push(header[i]);
        i += 1;
    }
    out
}

/// RFC 2047 §6.1: `text` with every encoded word (`=?charset?B|Q?...?=`) replaced by its
/// decoded characters (mail-parser's decoder and charset tables), white space between two
/// adjacent encoded words dropped (§6.2). Encoded words are also decoded where §5 does not
/// allow them (inside quoted strings, touching other text), as mail readers do. Octets that
/// are not UTF-8 become U+FFFD.
pub fn decode_words(text: &[u8]) -> Cow<'_, str> {
    if !text.windows(2).any(|w| w == b"=?") {
        return String::from_utf8_lossy(text);
    }
    let mut out = String::with_capacity(text.len());
    let (mut i, mut plain_from) = (0, 0);
    // Where the white space after the last encoded word started, if only white space
    // followed it so far.
    let mut after_word: Option<usize> = None;
    while i < text.len() {
        if text[i] == b'=' && text.get(i + 1) == Some(&b'?') {
            let mut word = MessageStream::new(&text[i + 1..]);
            if let Some(decoded) = word.decode_rfc2047() {
                let keep_to = after_word.unwrap_or(i);
                out.push_str(&String::from_utf8_lossy(&text[plain_from..keep_to]));
                out.push_str(&decoded);
                i += 1 + word.offset();
                plain_from = i;
                after_word = Some(i);
                continue;
            }
        }
        if !matches!(text[i], b' ' | b'\t') {
            after_word = None;
        }
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(&text[plain_from..]));
    Cow::Owned(out)
}

/// Substring test under the i;unicode-casemap comparator (RFC 5255 §4 I18NLEVEL=1, RFC 5051
/// §2: `crate::sort::fold`); ASCII on both sides is compared without allocating.
pub fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.is_ascii() && hay.is_ascii() {
        let n: Vec<u8> = needle.to_ascii_lowercase();
        return hay
            .windows(n.len())
            .any(|w| w.iter().zip(&n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    let fold = |s: &[u8]| crate::sort::fold(&String::from_utf8_lossy(s));
    fold(hay).contains(&fold(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_match() {
        let h = b"From: Alice <a@x>\r\nSubject: Hello\r\n World\r\n\r\n";
        assert!(header_contains(h, "subject", "hello world"));
        assert!(header_contains(h, "FROM", "ALICE"));
        assert!(header_contains(h, "from", ""));
        assert!(!header_contains(h, "cc", ""));
        assert!(
            contains_ci("Grüße".as_bytes(), "GRÜSSE".as_bytes())
                || contains_ci("Grüße".as_bytes(), "grüße".as_bytes())
        );
    }

    /// RFC 5051 §2 i;unicode-casemap (RFC 5255 §4 I18NLEVEL=1), each case as Dovecot 2.3
    /// answered SEARCH SUBJECT: titlecase, then NFKD.
    #[test]
    fn unicode_casemap() {
        let m = |hay: &str, needle: &str| contains_ci(hay.as_bytes(), needle.as_bytes());
        assert!(m("café crème", "cafe") && m("CAFE", "cafe"));
        assert!(m("café crème", "CAFÉ") && !m("CAFE", "CAFÉ"));
        assert!(m("Straße", "straße") && !m("Straße", "strasse"));
        assert!(m("ﬁle Ǆ", "ǆ") && !m("ﬁle Ǆ", "file") && !m("ﬁle Ǆ", "dž"));
        assert!(m("ΣΊΣΥΦΟΣ", "σίσυφος") && !m("ΣΊΣΥΦΟΣ", "sisyphos"));
        assert!(m("İstanbul ı", "I") && !m("İstanbul ı", "istanbul"));
        assert!(m("Ｆｕｌｌ", "full") && !m("café crème", "e c"));
        // SORT order: octets of the folded strings (ﬁ stays a ligature, after ASCII).
        let mut subjects = ["ﬁle", "café", "Straße", "CAFE"];
        subjects.sort_by_key(|s| crate::sort::fold(s));
        assert_eq!(subjects, ["CAFE", "café", "Straße", "ﬁle"]);
    }

    /// RFC 2047 §6: encoded words decoded before matching (RFC 3501 §6.4.4).
    #[test]
    fn encoded_words() {
        for (raw, text) in [
            ("plain text", "plain text"),
            (
                "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@x>",
                "Jürgen Müller <j@x>",
            ),
            (
                "=?ISO-8859-1?Q?Gr=FC=DFe?= aus =?UTF-8?B?S8O2bG4=?=",
                "Grüße aus Köln",
            ),
            // §6.2: white space between adjacent encoded words goes.
            ("=?UTF-8?Q?a?= \t =?UTF-8?Q?b?=", "ab"),
            ("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b"),
            ("\"=?utf-8?q?Ren=C3=A9?=\" <r@x>", "\"René\" <r@x>"),
            ("=?bogus", "=?bogus"),
            ("a =?UTF-8?X?zz?= b", "a =?UTF-8?X?zz?= b"),
        ] {
            assert_eq!(decode_words(raw.as_bytes()), text, "{raw}");
        }
        assert_eq!(
            unfold(b"Subject: a\r\n b\r\nFrom: c\n\td\r\n"),
            b"Subject: a b\r\nFrom: c\td\r\n"
        );
        let h = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@x>\r\nSubject: Undelivered\r\n =?UTF-8?Q?Mail_zur=C3=BCck?=\r\n\r\n";
        assert!(header_contains(h, "from", "JÜRGEN <j@"));
        assert!(header_contains(h, "subject", "undelivered mail zurück"));
        assert!(!header_contains(h, "from", "=C3=BC"));
    }
}
