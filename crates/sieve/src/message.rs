//! The message as tests see it: the header fields of a header block (RFC 5322 §2.2), their
//! values unfolded and with RFC 2047 words decoded (RFC 5228 §2.7.2), the addr-specs of an
//! address-list (RFC 5228 §2.7.4, §5.1), and the address syntax checks of redirect and
//! vacation.
//!
//! The header block is split here (never fails: a line that is not a field is skipped);
//! decoding of values and address lists is mail-parser's.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

/// One header field: its name and its raw value (after the colon, folds kept, without the
/// final line break).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'m> {
    pub name: &'m str,
    pub raw: &'m [u8],
}

/// A header block and where the body after it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers<'m> {
    pub fields: Vec<Field<'m>>,
    pub body_start: usize,
}

impl<'m> Headers<'m> {
    /// Fields named `name` (case-insensitive, RFC 5322 §1.2.2), in message order.
    pub fn get<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Field<'m>> + 's {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn first_decoded(&self, name: &str) -> Option<String> {
        self.get(name).next().map(|f| decode(f.raw))
    }
}

/// Splits the header block at the start of `msg`: fields up to the first empty line (CRLF or
/// bare LF line ends), continuation lines joined to their field.
pub(crate) fn parse_headers(msg: &[u8]) -> Headers<'_> {
    let mut fields = Vec::new();
    let mut i = 0;
    let len = msg.len();
    let line_end = |from: usize| {
        msg[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(len, |p| from + p)
    };
    while i < len {
        if msg[i] == b'\n' {
            return Headers {
                fields,
                body_start: i + 1,
            };
        }
        if msg[i..].starts_with(b"\r\n") {
            return Headers {
                fields,
                body_start: i + 2,
            };
        }
        let mut end = line_end(i);
        // RFC 5322 §2.2.3: a line starting with white space continues the field.
        while end + 1 < len && matches!(msg[end + 1], b' ' | b'\t') {
            end = line_end(end + 1);
        }
        let mut field = &msg[i..end];
        if let Some(f) = field.strip_suffix(b"\r") {
            field = f;
        }
        if let Some(colon) = field.iter().position(|&b| b == b':') {
            // RFC 5322 §4.5.2 (obsolete syntax): white space before the colon.
            let name = trim_wsp_end(&field[..colon]);
            if let Ok(name) = std::str::from_utf8(name) {
                if valid_field_name(name) {
                    fields.push(Field {
                        name,
                        raw: &field[colon + 1..],
                    });
                }
            }
        }
        i = end.saturating_add(1);
    }
    Headers {
        fields,
        body_start: len,
    }
}

fn trim_wsp_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    &b[..n]
}

/// RFC 5322 §3.6.8: ftext is printable US-ASCII except ':'.
pub(crate) fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn with_newline(raw: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(raw.len() + 1);
    v.extend_from_slice(raw);
    v.push(b'\n');
    v
}

/// A field value unfolded, RFC 2047 words decoded, outer white space removed.
pub(crate) fn decode(raw: &[u8]) -> String {
    let buf = with_newline(raw);
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// The addr-specs of an address-list value (RFC 5322 §3.4); group members count, group
/// names and display names do not (RFC 5228 §2.7.4).
pub(crate) fn addresses(raw: &[u8]) -> Vec<String> {
    let buf = with_newline(raw);
    let value = MessageStream::new(&buf).parse_address();
    let mut out = Vec::new();
    let mut push = |a: Option<&str>| {
        if let Some(a) = a.map(str::trim).filter(|a| !a.is_empty()) {
            out.push(a.to_string());
        }
    };
    match value {
        HeaderValue::Address(Address::List(list)) => {
            for a in &list {
                push(a.address.as_deref());
            }
        }
        HeaderValue::Address(Address::Group(groups)) => {
            for g in &groups {
                for a in &g.addresses {
                    push(a.address.as_deref());
                }
            }
        }
        _ => {}
    }
    out
}

/// RFC 5228 §2.7.4: the local part and the domain of an addr-spec (split at the last '@');
/// `None` for the domain when there is no '@'.
pub(crate) fn split_address(addr: &str) -> (&str, Option<&str>) {
    match addr.rfind('@') {
        Some(i) => (&addr[..i], Some(&addr[i + 1..])),
        None => (addr, None),
    }
}

/// An addr-spec, optionally in angle brackets: the addr-spec, or `None` when it is not one.
fn plain_address(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s);
    let (local, domain) = split_address(s);
    let domain = domain?;
    let bad = |c: char| c.is_whitespace() || c.is_control();
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        !local
            .chars()
            .any(|c| c.is_control() || c == '\r' || c == '\n')
    } else {
        !local.is_empty()
            && !local.contains(|c: char| bad(c) || "<>()[],;:\"\\@".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
    };
    let domain_ok = !domain.is_empty()
        && !domain.contains(|c: char| bad(c) || "<>()[],;:\"\\@".contains(c))
        || (domain.starts_with('[') && domain.ends_with(']') && !domain.contains(bad));
    (local_ok && domain_ok).then(|| s.to_string())
}

/// An RFC 5322 §3.4 mailbox as redirect (RFC 5228 §2.4.2.3, §4.2) and vacation's `:from`
/// (RFC 5230 §4.3) take it: an addr-spec, `<addr-spec>` or a name-addr ("Name <addr>");
/// returns the addr-spec.
pub(crate) fn mailbox_address(s: &str) -> Option<String> {
    let s = s.trim();
    if s.ends_with('>') {
        let open = s.rfind('<')?;
        plain_address(&s[open..])
    } else {
        plain_address(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block() {
        let m = b"From: a@b\r\nSubject: one\r\n two\r\nX-Bad line\r\nX : y\n\nbody\r\n";
        let h = parse_headers(m);
        let names: Vec<_> = h.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["From", "Subject", "X"]);
        assert_eq!(decode(h.fields[1].raw), "one two");
        assert_eq!(&m[h.body_start..], b"body\r\n");
        // No blank line: everything is header, the body is empty.
        let h = parse_headers(b"Subject: x");
        assert_eq!(h.fields.len(), 1);
        assert_eq!(h.body_start, 10);
    }

    #[test]
    fn decoded_words_and_addresses() {
        assert_eq!(decode(b" =?UTF-8?Q?caf=C3=A9?= ok"), "café ok");
        assert_eq!(
            addresses(b" \"Doe, J\" <j@x.org>, k@y.org (c), team: a@z.org, b@z.org;"),
            ["j@x.org", "k@y.org", "a@z.org", "b@z.org"]
        );
        assert!(addresses(b" undisclosed-recipients:;").is_empty());
    }

    #[test]
    fn address_syntax() {
        assert_eq!(plain_address("<a@b.org>").as_deref(), Some("a@b.org"));
        assert!(plain_address("a b@c").is_none());
        assert!(plain_address("nobody").is_none());
        assert!(plain_address("a@").is_none());
        assert!(plain_address("\"a b\"@c.org").is_some());
        assert_eq!(
            mailbox_address("Me <me@x.org>").as_deref(),
            Some("me@x.org")
        );
        assert!(mailbox_address("Me <me>").is_none());
    }
}
