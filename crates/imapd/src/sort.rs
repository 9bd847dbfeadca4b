//! SORT (RFC 5256 §3) and SORT=DISPLAY (RFC 5957): the sort keys of a message, read once from
//! its header block, and their order. Also the base subject (RFC 5256 §2.1) and sent date
//! (§2.2) that THREAD uses (`thread.rs`).
//!
//! Strings compare under the `i;unicode-casemap` comparator (RFC 5051) that RFC 5255 §4
//! I18NLEVEL=1 names: [`fold`], then octet order.

use std::cmp::Ordering;

use mail_parser::MessageParser;

use crate::bodystructure::{parse_addresses, Address};
use crate::search::decode_words;

/// One sort criterion (RFC 5256 §3, RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// A criterion and whether REVERSE precedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub criterion: Criterion,
    pub reverse: bool,
}

/// What the criteria look at, for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// INTERNALDATE, Unix seconds.
    pub arrival: i64,
    /// RFC 5256 §2.2 sent date: Date in UTC, or INTERNALDATE when missing or unparseable.
    pub date: i64,
    pub size: u64,
    /// Base subject (RFC 5256 §2.1), case folded.
    pub subject: String,
    /// Whether the subject carried a reply or forward marker (THREAD=REFERENCES step 5).
    pub reply: bool,
    /// addr-mailbox (local part) of the first From / To / Cc address, case folded.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// RFC 5957 §3: display name of the first From / To address, or its addr-spec.
    pub display_from: String,
    pub display_to: String,
    /// Message-ID without angle brackets (THREAD=REFERENCES).
    pub message_id: Option<String>,
    /// References, or else the first In-Reply-To id (RFC 5256 §4 REFERENCES step 1).
    pub references: Vec<String>,
}

impl Fields {
    /// The fields of a message from its header block. Address and subject keys read the first
    /// field of each name, with the addresses parsed as for ENVELOPE (`bodystructure.rs`),
    /// the way Dovecot sorts (checked by `tests/tests/dovecot_diff.rs`).
    pub fn from_header(header: &[u8], internaldate: i64, size: u64) -> Fields {
        let mut f = Fields {
            arrival: internaldate,
            date: internaldate,
            size,
            ..Fields::default()
        };
        let first = |name: &str| store::mime::raw_header_bytes(header, name);
        if let Some(v) = first("Subject") {
            let (subject, reply) = base_subject(&decode_words(&v));
            f.subject = fold(&subject);
            f.reply = reply;
        }
        let addresses = |name: &str| first(name).map(|v| parse_addresses(&v));
        let (from, to, cc) = (addresses("From"), addresses("To"), addresses("Cc"));
        f.from = fold(&mailbox(from.as_deref()));
        f.to = fold(&mailbox(to.as_deref()));
        f.cc = fold(&mailbox(cc.as_deref()));
        f.display_from = fold(&display(from.as_deref()));
        f.display_to = fold(&display(to.as_deref()));
        // Date and the message ids: mail-parser's readers (RFC 5322 §3.3, §3.6.4).
        let Some(msg) = MessageParser::new().parse_headers(header) else {
            return f;
        };
        if let Some(d) = msg.date() {
            // RFC 5256 §2.2: a Date that does not parse counts as missing.
            if d.is_valid() {
                f.date = d.to_timestamp();
            }
        }
        f.message_id = msg.message_id().map(str::to_string);
        let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
            v.as_text_list()
                .map(|l| l.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        f.references = ids(msg.references());
        if f.references.is_empty() {
            f.references = ids(msg.in_reply_to()).into_iter().take(1).collect();
        }
        f
    }
}

/// addr-mailbox of the first address (RFC 5256 §3 FROM/TO/CC): its local part, or a group's
/// name when the list starts with a group.
fn mailbox(list: Option<&[Address]>) -> String {
    list.and_then(|l| l.first())
        .and_then(|a| a.mailbox.as_deref())
        .map(|m| decode_words(m).into_owned())
        .unwrap_or_default()
}

/// RFC 5957 §3: the display name of the first address when there is a non-empty one, else
/// its addr-spec.
fn display(list: Option<&[Address]>) -> String {
    let Some(a) = list.and_then(|l| l.first()) else {
        return String::new();
    };
    if let Some(name) = a.name.as_deref().map(decode_words) {
        if !name.trim().is_empty() {
            return name.into_owned();
        }
    }
    let mailbox = a.mailbox.as_deref().map(decode_words).unwrap_or_default();
    match a.host.as_deref() {
        Some(host) => format!("{mailbox}@{}", String::from_utf8_lossy(host)),
        None => mailbox.into_owned(),
    }
}

/// RFC 5051 §2 i;unicode-casemap: each character's titlecase, then NFKD; the result
/// compares as octets. So `café` holds `cafe`, `ΣΊΣΥΦΟΣ` is `σίσυφος`, `Ｆｕｌｌ` is
/// `full`; `Straße` is not `STRASSE` nor `ﬁle` `file` (the titlecase mapping is one
/// character to one, applied before the decomposition), as Dovecot answers.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.chars().map(titlecase).nfkd().collect()
}

/// The Unicode simple titlecase mapping: the upper case where that is one character (`ß`
/// and `ﬁ`, whose upper case is two, stay), except the four digraphs whose titlecase is
/// their own letter (`ǆ` → `ǅ`) and Georgian, which has no titlecase letters.
fn titlecase(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        '\u{10d0}'..='\u{10fa}' | '\u{10fd}'..='\u{10ff}' => c,
        c if c.is_ascii() => c.to_ascii_uppercase(),
        c => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// The order of two messages under `keys`; equal messages keep mailbox order (RFC 5256 §3:
/// the caller's stable sort over messages in sequence order does that).
pub fn compare(a: &Fields, b: &Fields, keys: &[Key]) -> Ordering {
    for k in keys {
        let o = match k.criterion {
            Criterion::Arrival => a.arrival.cmp(&b.arrival),
            Criterion::Cc => a.cc.cmp(&b.cc),
            Criterion::Date => a.date.cmp(&b.date),
            Criterion::From => a.from.cmp(&b.from),
            Criterion::Size => a.size.cmp(&b.size),
            Criterion::Subject => a.subject.cmp(&b.subject),
            Criterion::To => a.to.cmp(&b.to),
            Criterion::DisplayFrom => a.display_from.cmp(&b.display_from),
            Criterion::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if k.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// RFC 5256 §2.1: the base subject (the caller has decoded RFC 2047 words and unfolded), and
/// whether a reply or forward marker was removed on the way (`re:`, `fwd:`, `(fwd)`,
/// `[fwd: …]`).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Tabs and runs of white space become one space.
    let mut s: String = subject
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut reply = false;
    loop {
        // (2) Trailing "(fwd)" and white space.
        loop {
            let t = s.trim_end();
            let tail = t.len().checked_sub(5).and_then(|i| t.get(i..));
            if tail.is_some_and(|x| x.eq_ignore_ascii_case("(fwd)")) {
                s = t[..t.len() - 5].to_string();
                reply = true;
            } else {
                s.truncate(t.len());
                break;
            }
        }
        // (5) Repeat (3) and (4) until nothing changes.
        loop {
            let before = s.len();
            // (3) Leading white space and subj-leader (*subj-blob subj-refwd).
            loop {
                if let Some(rest) = s.strip_prefix(' ') {
                    s = rest.to_string();
                } else if let Some(n) = leader(&s) {
                    s = s[n..].to_string();
                    reply = true;
                } else {
                    break;
                }
            }
            // (4) A leading subj-blob, when something remains after it.
            if let Some(n) = blob(&s) {
                if !s[n..].trim().is_empty() {
                    s = s[n..].to_string();
                }
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd:" … "]" around the whole subject.
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && lower.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

/// Length of a subj-blob at the start: "[" *BLOBCHAR "]" *WSP.
fn blob(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b[1..].iter().position(|&c| c == b'[' || c == b']')? + 1;
    if b[close] != b']' {
        return None;
    }
    let mut n = close + 1;
    while b.get(n) == Some(&b' ') {
        n += 1;
    }
    Some(n)
}

/// Length of a subj-leader at the start: *subj-blob subj-refwd, where subj-refwd is
/// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
fn leader(s: &str) -> Option<usize> {
    let mut n = 0;
    while let Some(k) = blob(&s[n..]) {
        n += k;
    }
    let rest = &s.as_bytes()[n..];
    let word = if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"fwd") {
        3
    } else if rest.len() >= 2
        && (rest[..2].eq_ignore_ascii_case(b"re") || rest[..2].eq_ignore_ascii_case(b"fw"))
    {
        2
    } else {
        return None;
    };
    n += word;
    while s.as_bytes().get(n) == Some(&b' ') {
        n += 1;
    }
    if let Some(k) = blob(&s[n..]) {
        n += k;
    }
    (s.as_bytes().get(n) == Some(&b':')).then_some(n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        for (raw, base, reply) in [
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE:Hello", "Hello", true),
            ("Re: Re: re: Hello", "Hello", true),
            ("Fwd: Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)  ", "Hello", true),
            ("[PATCH] Hello", "Hello", false),
            ("[list] Re: [PATCH 2/3] Hello", "Hello", true),
            ("Re[2]: Hello", "Hello", true),
            ("[fwd: Re: Hello]", "Hello", true),
            ("[PATCH]", "[PATCH]", false),
            ("  spaced \t  out  ", "spaced out", false),
            ("Re:", "", true),
            ("", "", false),
            ("Reply: not a marker", "Reply: not a marker", false),
            ("Refund", "Refund", false),
        ] {
            assert_eq!(base_subject(raw), (base.to_string(), reply), "{raw:?}");
        }
    }

    fn fields(header: &str) -> Fields {
        Fields::from_header(header.as_bytes(), 1_000, 10)
    }

    #[test]
    fn fields_from_a_header() {
        let f = fields(
            "From: \"Zed Q\" <alice@example.test>\r\nTo: bob@example.test\r\n\
             Cc: Carol <carol@example.test>\r\nSubject: Re: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\
             Date: Tue, 1 Jul 2025 12:00:00 +0200\r\nMessage-ID: <m1@x>\r\n\
             In-Reply-To: <m0@x> <other@x>\r\n\r\n",
        );
        assert_eq!(f.from, "ALICE");
        assert_eq!(f.to, "BOB");
        assert_eq!(f.cc, "CAROL");
        assert_eq!(f.display_from, "ZED Q");
        assert_eq!(f.display_to, "BOB@EXAMPLE.TEST");
        // RFC 5051 §2: titlecase (ß stays), then NFKD (Ü decomposed).
        assert_eq!(f.subject, "GRU\u{308}ßE");
        assert!(f.reply);
        assert_eq!(f.date, 1_751_364_000, "12:00 +0200 is 10:00 UTC");
        assert_eq!(f.message_id.as_deref(), Some("m1@x"));
        assert_eq!(f.references, ["m0@x"]);
        // No Date, or one that does not parse: the internal date (RFC 5256 §2.2).
        assert_eq!(fields("Subject: x\r\n\r\n").date, 1_000);
        assert_eq!(fields("Date: not a date\r\n\r\n").date, 1_000);
        let f = fields("References: <a@x> <b@x>\r\nIn-Reply-To: <c@x>\r\n\r\n");
        assert_eq!(f.references, ["a@x", "b@x"]);
    }

    #[test]
    fn compare_with_reverse_and_ties() {
        let a = Fields {
            size: 5,
            subject: "A".into(),
            ..Fields::default()
        };
        let b = Fields {
            size: 5,
            subject: "B".into(),
            ..Fields::default()
        };
        let key = |criterion, reverse| Key { criterion, reverse };
        assert_eq!(
            compare(&a, &b, &[key(Criterion::Size, false)]),
            Ordering::Equal
        );
        assert_eq!(
            compare(
                &a,
                &b,
                &[key(Criterion::Size, false), key(Criterion::Subject, false)]
            ),
            Ordering::Less
        );
        assert_eq!(
            compare(&a, &b, &[key(Criterion::Subject, true)]),
            Ordering::Greater
        );
    }
}
