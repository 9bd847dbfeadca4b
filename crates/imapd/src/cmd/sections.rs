//! What FETCH sends for a section: BODY[section] (RFC 3501 §6.4.5 part numbering,
//! HEADER.FIELDS filtering) and BINARY[part] (RFC 3516 §4.2 content decoding).

use store::mime::{ParsedMessage, Part, PartKind};

use crate::command::{Section, SectionText};
use crate::response;

/// Why a part's content cannot be decoded (RFC 3516 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undecodable {
    /// An encoding we do not know: NO [UNKNOWN-CTE].
    UnknownEncoding,
    /// base64 or quoted-printable that is broken: NO [PARSE], as Dovecot answers.
    Corrupt,
}

pub(super) fn part_name(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// RFC 3516 §4.2: the content of `part` with its Content-Transfer-Encoding undone, and
/// whether there was one to undo. The whole message for an empty part, and a multipart or
/// message part, are sent as stored (such parts carry no encoding of their own; Dovecot
/// decodes the leaves inside them, see the crate doc). A part that does not exist is empty,
/// as for BODY[]. `Err` for an encoding we do not know or content that does not decode
/// (§4.3 UNKNOWN-CTE).
pub(super) fn binary_bytes(
    raw: &[u8],
    p: &ParsedMessage,
    path: &[u32],
) -> Result<(Vec<u8>, bool), Undecodable> {
    if path.is_empty() {
        return Ok((raw.to_vec(), false));
    }
    let Some(part) = find_part(&p.root, path) else {
        return Ok((Vec::new(), false));
    };
    let body = raw
        .get(part.body_start as usize..(part.body_end as usize).min(raw.len()))
        .unwrap_or_default();
    if !matches!(part.kind, PartKind::Leaf) {
        return Ok((body.to_vec(), false));
    }
    let encoding = part
        .encoding
        .as_deref()
        .map(|e| e.trim().to_ascii_lowercase());
    let decoded = match encoding.as_deref() {
        None | Some("7bit" | "8bit" | "binary") => return Ok((body.to_vec(), false)),
        Some("base64") => strict_base64(body),
        Some("quoted-printable") => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        Some(_) => return Err(Undecodable::UnknownEncoding),
    };
    decoded.map(|d| (d, true)).ok_or(Undecodable::Corrupt)
}

/// RFC 2045 §6.8 base64 with line breaks: only alphabet characters, padding only at the end,
/// whole quanta. Anything else is corrupt (mail-parser's decoder alone would skip over it).
fn strict_base64(body: &[u8]) -> Option<Vec<u8>> {
    let chars: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let pad = chars.iter().rev().take_while(|&&b| b == b'=').count();
    let valid = chars.len().is_multiple_of(4)
        && pad <= 2
        && chars[..chars.len() - pad]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid {
        return None;
    }
    mail_parser::decoders::base64::base64_decode(&chars)
}

pub(super) fn section_name(s: &Section) -> String {
    let mut parts: Vec<String> = s.part.iter().map(u32::to_string).collect();
    if let Some(t) = &s.text {
        parts.push(match t {
            SectionText::Header => "HEADER".into(),
            SectionText::Text => "TEXT".into(),
            SectionText::Mime => "MIME".into(),
            SectionText::HeaderFields(f) => format!("HEADER.FIELDS ({})", quote_names(f)),
            SectionText::HeaderFieldsNot(f) => format!("HEADER.FIELDS.NOT ({})", quote_names(f)),
        });
    }
    parts.join(".")
}

/// The field names as Dovecot echoes them: upper case (RFC 3501 §7.4.2 leaves the case open;
/// clients compare it case-insensitively).
fn quote_names(f: &[String]) -> String {
    f.iter()
        .map(|n| n.to_ascii_uppercase())
        .map(|n| {
            if n.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
            {
                n
            } else {
                let mut o = Vec::new();
                response::string(&mut o, n.as_bytes());
                String::from_utf8_lossy(&o).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part a section's numbers point at (RFC 3501 §6.4.5 part numbering).
fn find_part<'a>(root: &'a Part, path: &[u32]) -> Option<&'a Part> {
    let mut cur = root;
    for (i, &n) in path.iter().enumerate() {
        let idx = n as usize - 1;
        let container = if i == 0 {
            cur
        } else {
            match &cur.kind {
                PartKind::Message(_, inner) => inner,
                PartKind::Multipart(_) => cur,
                PartKind::Leaf => return None,
            }
        };
        cur = match &container.kind {
            PartKind::Multipart(ch) => ch.get(idx)?,
            // A non-multipart message has one part, numbered 1.
            _ if idx == 0 => container,
            _ => return None,
        };
    }
    Some(cur)
}

pub(super) fn section_bytes(raw: &[u8], p: &ParsedMessage, s: &Section) -> Option<Vec<u8>> {
    let slice = |a: u32, b: u32| {
        raw.get(a as usize..(b as usize).min(raw.len()))
            .map(<[u8]>::to_vec)
    };
    let (header, text) = if s.part.is_empty() {
        // The structure's offsets are u32 (store::mime); so is the end of the message.
        let end = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        ((0, p.header_len), (p.header_len, end))
    } else {
        let part = find_part(&p.root, &s.part)?;
        match (&s.text, &part.kind) {
            (None, _) => return slice(part.body_start, part.body_end),
            (Some(SectionText::Mime), _) => return slice(part.header_start, part.body_start),
            (_, PartKind::Message(_, inner)) => (
                (inner.header_start, inner.body_start),
                (inner.body_start, inner.body_end),
            ),
            // HEADER/TEXT of a part that is not message/rfc822: nothing.
            _ => return Some(vec![]),
        }
    };
    match &s.text {
        None => Some(raw.to_vec()),
        Some(SectionText::Header) => slice(header.0, header.1),
        Some(SectionText::Text) => slice(text.0, text.1),
        Some(SectionText::Mime) => Some(vec![]),
        Some(SectionText::HeaderFields(names)) => Some(filter_header(
            &slice(header.0, header.1)?,
            names,
            true,
            s.part.is_empty(),
        )),
        Some(SectionText::HeaderFieldsNot(names)) => Some(filter_header(
            &slice(header.0, header.1)?,
            names,
            false,
            false,
        )),
    }
}

/// HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields with their continuation lines and
/// the blank line that ends the header (RFC 3501 §6.4.5); `add_eoh` for a top-level
/// HEADER.FIELDS.
fn filter_header(header: &[u8], names: &[String], keep: bool, add_eoh: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut take = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(line);
            return out;
        }
        if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let name = line
                .iter()
                .position(|&b| b == b':')
                .map_or(&line[..0], |c| line[..c].trim_ascii());
            take = names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
                == keep;
        }
        if take {
            out.extend_from_slice(line);
        }
    }
    // No blank line at the end of this header (it ended at the end of the message or ran into
    // a boundary). Dovecot adds one to a top-level HEADER.FIELDS; inside a message it ends an
    // unterminated last field, and an empty header becomes the blank line alone.
    if keep && (add_eoh || header.is_empty() || out.last().is_some_and(|&b| b != b'\n')) {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        let raw = b"Subject: hi\r\nFrom: a@b\r\nX-Long: a\r\n b\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\none\r\n--X\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n--X--\r\n";
        let p = store::mime::parse(raw);
        let sec = |part: Vec<u32>, text| Section { part, text };
        let get = |s: Section| {
            String::from_utf8(section_bytes(raw, &p, &s).unwrap_or_default()).unwrap_or_default()
        };
        assert_eq!(get(sec(vec![1], None)), "one");
        assert_eq!(get(sec(vec![2], None)), "<b>two</b>");
        assert_eq!(
            get(sec(vec![2], Some(SectionText::Mime))),
            "Content-Type: text/html\r\n\r\n"
        );
        assert_eq!(
            get(sec(
                vec![],
                Some(SectionText::HeaderFields(vec!["x-long".into()]))
            )),
            "X-Long: a\r\n b\r\n\r\n"
        );
        assert!(get(sec(
            vec![],
            Some(SectionText::HeaderFieldsNot(vec!["subject".into()]))
        ))
        .starts_with("From: a@b\r\n"));
        assert!(get(sec(vec![], Some(SectionText::Text))).starts_with("--X\r\n"));
        assert_eq!(section_bytes(raw, &p, &sec(vec![3], None)), None);
    }
}
