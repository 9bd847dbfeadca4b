//! The MIME structure of a message, parsed once at delivery with mail-parser and cached in the
//! `structure` tree (keyed by blob, so COPY shares it). IMAP builds ENVELOPE, BODYSTRUCTURE and
//! BODY[section] answers from it without re-parsing; header SEARCH reads `header` only.
//!
//! Offsets are absolute byte offsets into the stored message. Header values are kept raw
//! (unfolded, not decoded): IMAP passes RFC 2047 encoded words through as they are.

use mail_parser::{MessageParser, PartType};
use serde::{Deserialize, Serialize};

/// What IMAP needs of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMessage {
    /// Length of the top-level header block including the blank line.
    pub header_len: u32,
    /// Raw values of the headers ENVELOPE needs.
    pub envelope: Envelope,
    /// The part tree; the root is the message itself.
    pub root: Part,
}

/// RFC 3501 §7.4.2 ENVELOPE fields as raw header values (None when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub sender: Option<String>,
    pub reply_to: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub header_start: u32,
    pub body_start: u32,
    pub body_end: u32,
    /// Lower-cased type and subtype ("text", "plain").
    pub content_type: String,
    pub subtype: String,
    /// Content-Type parameters in order.
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// Lines of the body (text/* and message/rfc822).
    pub lines: u32,
    pub kind: PartKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    Leaf,
    Multipart(Vec<Part>),
    /// message/rfc822: the encapsulated message's envelope and root part.
    Message(Box<Envelope>, Box<Part>),
}

/// Parses `raw` (the full stored message). Never fails: input mail-parser cannot read becomes a
/// single text/plain part.
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let header_len = header_length(raw);
    // mail-parser runs on bytes from the network at delivery. A panic inside it (fuzzing found
    // a `debug_assert!` that fires on malformed multipart nesting, issue 9) must not take the
    // session down with the message: it falls back to one text/plain part like unparsable mail.
    let parsed =
        std::panic::catch_unwind(|| MessageParser::default().parse(raw)).unwrap_or_else(|_| {
            tracing::warn!("mail-parser panicked; storing the message as one text/plain part");
            None
        });
    let root = match &parsed {
        Some(m) if !m.parts.is_empty() => convert(raw, m, 0, 0),
        _ => fallback(raw, 0, header_len as u32),
    };
    ParsedMessage {
        header_len: header_len as u32,
        envelope: envelope(raw, 0, header_len),
        root,
    }
}

/// Offset just past the blank line that ends the header block (or the end of input).
pub fn header_length(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..].iter().position(|&b| b == b'\n').map(|p| i + p + 1);
        let Some(end) = line_end else {
            return raw.len();
        };
        let line = &raw[i..end];
        if line == b"\r\n" || line == b"\n" {
            return end;
        }
        i = end;
    }
    raw.len()
}

fn fallback(raw: &[u8], start: usize, body_start: u32) -> Part {
    Part {
        header_start: start as u32,
        body_start,
        body_end: raw.len() as u32,
        content_type: "text".into(),
        subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        id: None,
        description: None,
        encoding: None,
        md5: None,
        disposition: None,
        language: vec![],
        location: None,
        lines: count_lines(raw.get(body_start as usize..).unwrap_or_default()),
        kind: PartKind::Leaf,
    }
}

fn count_lines(body: &[u8]) -> u32 {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    let last_partial = !body.is_empty() && body.last() != Some(&b'\n');
    (n + last_partial as usize) as u32
}

/// Raw, unfolded value of the first header `name` in the header block starting at `start`.
pub fn raw_header(raw: &[u8], start: usize, end: usize, name: &str) -> Option<String> {
    let block = raw.get(start..end)?;
    let mut lines = block.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(name.as_bytes())
        {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let next = next.strip_suffix(b"\r").unwrap_or(next);
                value.extend_from_slice(next);
                lines.next();
            } else {
                break;
            }
        }
        return Some(String::from_utf8_lossy(value.trim_ascii()).into_owned());
    }
    None
}

fn envelope(raw: &[u8], start: usize, end: usize) -> Envelope {
    let h = |n| raw_header(raw, start, end, n);
    Envelope {
        date: h("Date"),
        subject: h("Subject"),
        from: h("From"),
        sender: h("Sender"),
        reply_to: h("Reply-To"),
        to: h("To"),
        cc: h("Cc"),
        bcc: h("Bcc"),
        in_reply_to: h("In-Reply-To"),
        message_id: h("Message-ID"),
    }
}

fn convert(raw: &[u8], msg: &mail_parser::Message<'_>, idx: usize, base: u32) -> Part {
    let Some(p) = msg.parts.get(idx) else {
        return fallback(raw, 0, 0);
    };
    let (hs, bs, be) = (
        base + p.offset_header,
        base + p.offset_body,
        base + p.offset_end,
    );
    let hdr = |n: &str| raw_header(raw, hs as usize, bs as usize, n);
    let ct = p.headers.iter().find_map(|h| h.value.as_content_type());
    let (ctype, sub, params) = match ct {
        Some(ct) => (
            ct.c_type.to_ascii_lowercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase(),
            ct.attributes
                .iter()
                .flatten()
                .map(|a| (a.name.to_string(), a.value.to_string()))
                .collect(),
        ),
        None => (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        ),
    };
    let disposition = p
        .headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case("Content-Disposition"))
        .and_then(|h| h.value.as_content_type())
        .map(|d| {
            let params = d
                .attributes
                .iter()
                .flatten()
                .map(|a| (a.name.to_string(), a.value.to_string()))
                .collect();
            (d.c_type.to_string(), params)
        });
    let body = raw.get(bs as usize..be as usize).unwrap_or_default();
    let kind = match &p.body {
        PartType::Multipart(children) => PartKind::Multipart(
            children
                .iter()
                .map(|&c| convert(raw, msg, c as usize, base))
                .collect(),
        ),
        PartType::Message(inner) if inner.raw_message.len() == raw.len() => {
            // Parsed in place: offsets are already absolute.
            let ilen = inner.parts.first().map_or(0, |r| r.offset_body) as usize;
            let istart = inner.parts.first().map_or(0, |r| r.offset_header) as usize;
            PartKind::Message(
                Box::new(envelope(raw, istart, ilen)),
                Box::new(convert(raw, inner, 0, 0)),
            )
        }
        PartType::Message(_) | PartType::Text(_) | PartType::Html(_) => PartKind::Leaf,
        PartType::Binary(_) | PartType::InlineBinary(_) => PartKind::Leaf,
    };
    let language = hdr("Content-Language")
        .map(|l| {
            l.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Part {
        header_start: hs,
        body_start: bs,
        body_end: be,
        lines: if ctype == "text" || matches!(kind, PartKind::Message(..)) {
            count_lines(body)
        } else {
            0
        },
        content_type: ctype,
        subtype: sub,
        params,
        id: hdr("Content-ID"),
        description: hdr("Content-Description"),
        encoding: hdr("Content-Transfer-Encoding"),
        md5: hdr("Content-MD5"),
        disposition,
        language,
        location: hdr("Content-Location"),
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_message() {
        let raw =
            b"From: a@b.c\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\n\r\nhello\r\nworld\r\n";
        let p = parse(raw);
        assert_eq!(p.header_len as usize, raw.len() - 14);
        assert_eq!(
            p.envelope.subject.as_deref(),
            Some("=?utf-8?q?caf=C3=A9?= folded")
        );
        assert_eq!(p.root.content_type, "text");
        assert_eq!(p.root.lines, 2);
    }

    #[test]
    fn multipart() {
        let raw = b"Content-Type: multipart/mixed; boundary=X\r\n\r\npre\r\n--X\r\nContent-Type: text/plain\r\n\r\none\r\n--X\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--X--\r\n";
        let p = parse(raw);
        let PartKind::Multipart(children) = &p.root.kind else {
            panic!("not multipart")
        };
        assert_eq!(children.len(), 2);
        assert_eq!(children[1].subtype, "png");
        assert_eq!(children[1].encoding.as_deref(), Some("base64"));
    }

    #[test]
    fn garbage_still_parses() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"no header at all",
            b"\xff\xfe\x00binary",
        ] {
            let p = parse(raw);
            assert!(p.header_len as usize <= raw.len());
        }
    }
}
