//! The "body" test's transforms (RFC 5173 §5): a small MIME walk (RFC 2045, RFC 2046
//! §5.1.1 boundaries, message/rfc822) over the message bytes, and the texts each transform
//! compares. Transfer encodings and charsets are undone with mail-parser's decoders.
//!
//! The walk never fails and never panics: a multipart without a usable boundary is a leaf,
//! nesting stops at [`MAX_DEPTH`], and at most [`MAX_PARTS`] parts are looked at.

use std::ops::Range;

use crate::message::{decode, parse_headers};
use mail_parser::parsers::MessageStream;
use mail_parser::HeaderValue;

/// Deepest part nesting walked.
pub(crate) const MAX_DEPTH: usize = 16;
/// Most parts walked in one message.
pub(crate) const MAX_PARTS: usize = 512;

#[derive(Debug)]
struct Part {
    /// Lower-case type and subtype (RFC 2045 §5.1).
    ctype: String,
    subtype: String,
    charset: Option<String>,
    encoding: Option<String>,
    header: Range<usize>,
    body: Range<usize>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Leaf,
    Multipart {
        parts: Vec<Part>,
        /// The preamble and the epilogue (RFC 2046 §5.1.1).
        outside: Vec<Range<usize>>,
    },
    Message(Box<Part>),
}

struct Walker<'m> {
    msg: &'m [u8],
    count: usize,
}

impl Walker<'_> {
    fn entity(&mut self, range: Range<usize>, digest: bool, depth: usize) -> Part {
        self.count += 1;
        let bytes = &self.msg[range.clone()];
        let h = parse_headers(bytes);
        let body = range.start + h.body_start..range.end;
        // RFC 2045 §5.2 / RFC 2046 §5.1.5: the default type.
        let (mut ctype, mut subtype) = if digest {
            ("message".to_string(), "rfc822".to_string())
        } else {
            ("text".to_string(), "plain".to_string())
        };
        let mut charset = None;
        let mut boundary = None;
        if let Some(f) = h.get("content-type").next() {
            let mut buf = f.raw.to_vec();
            buf.push(b'\n');
            if let HeaderValue::ContentType(ct) = MessageStream::new(&buf).parse_content_type() {
                ctype = ct.c_type.to_ascii_lowercase();
                subtype = ct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase();
                for a in ct.attributes.iter().flatten() {
                    if a.name.eq_ignore_ascii_case("charset") {
                        charset = Some(a.value.trim().to_ascii_lowercase());
                    } else if a.name.eq_ignore_ascii_case("boundary") {
                        boundary = Some(a.value.to_string());
                    }
                }
            }
        }
        let encoding = h
            .first_decoded("content-transfer-encoding")
            .map(|e| e.trim().to_ascii_lowercase());
        let header = range.start..body.start;
        let deeper = depth + 1 < MAX_DEPTH && self.count < MAX_PARTS;
        let kind = match (ctype.as_str(), boundary) {
            ("multipart", Some(b)) if deeper && !b.is_empty() => {
                self.multipart(body.clone(), &b, subtype == "digest", depth)
            }
            ("message", _) if subtype == "rfc822" && deeper => {
                Kind::Message(Box::new(self.entity(body.clone(), false, depth + 1)))
            }
            _ => Kind::Leaf,
        };
        Part {
            ctype,
            subtype,
            charset,
            encoding,
            header,
            body,
            kind,
        }
    }

    /// RFC 2046 §5.1.1: delimiter lines "--boundary", the last "--boundary--"; the line
    /// break before a delimiter belongs to it.
    fn multipart(
        &mut self,
        body: Range<usize>,
        boundary: &str,
        digest: bool,
        depth: usize,
    ) -> Kind {
        let delim = format!("--{boundary}");
        let msg = self.msg;
        let mut parts = Vec::new();
        let mut outside = Vec::new();
        let mut part_start: Option<usize> = None;
        let mut preamble_start = Some(body.start);
        let mut line = body.start;
        while line < body.end {
            let next = msg[line..body.end]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.end, |p| line + p + 1);
            if msg[line..next].starts_with(delim.as_bytes()) {
                let content_end = strip_break(msg, line).max(body.start);
                if let Some(s) = preamble_start.take() {
                    outside.push(s..content_end.max(s));
                }
                if let Some(s) = part_start.take() {
                    if self.count < MAX_PARTS {
                        parts.push(self.entity(s..content_end.max(s), digest, depth + 1));
                    }
                }
                let close = msg[line + delim.len()..next].starts_with(b"--");
                if close {
                    outside.push(next..body.end);
                    return Kind::Multipart { parts, outside };
                }
                part_start = Some(next);
            }
            line = next;
        }
        // No closing delimiter: the last part runs to the end.
        if let Some(s) = part_start {
            if self.count < MAX_PARTS {
                parts.push(self.entity(s..body.end, digest, depth + 1));
            }
        }
        if let Some(s) = preamble_start {
            outside.push(s..body.end);
        }
        Kind::Multipart { parts, outside }
    }
}

/// The offset of the line break ending just before `at` (or `at`).
fn strip_break(msg: &[u8], at: usize) -> usize {
    if at >= 2 && &msg[at - 2..at] == b"\r\n" {
        at - 2
    } else if at >= 1 && msg[at - 1] == b'\n' {
        at - 1
    } else {
        at
    }
}

/// A part's content with its transfer encoding undone and, for text, converted to UTF-8.
fn content(msg: &[u8], p: &Part) -> String {
    let raw = &msg[p.body.clone()];
    let octets = match p.encoding.as_deref() {
        Some("base64") => mail_parser::decoders::base64::base64_decode(raw),
        Some("quoted-printable") => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)
        }
        _ => None,
    };
    let octets = octets.as_deref().unwrap_or(raw);
    if p.ctype == "text" {
        if let Some(cs) = p.charset.as_deref() {
            if !matches!(cs, "utf-8" | "utf8" | "us-ascii" | "ascii") {
                if let Some(dec) =
                    mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes())
                {
                    return dec(octets);
                }
            }
        }
    }
    String::from_utf8_lossy(octets).into_owned()
}

/// RFC 5173 §5.2: "" matches every type, "type" a type, "type/subtype" exactly; a value
/// with a leading or trailing '/' or more than one '/' matches nothing.
fn type_matches(spec: &str, p: &Part) -> bool {
    if spec.is_empty() {
        return true;
    }
    if spec.starts_with('/') || spec.ends_with('/') || spec.matches('/').count() > 1 {
        return false;
    }
    match spec.split_once('/') {
        Some((t, s)) => t.eq_ignore_ascii_case(&p.ctype) && s.eq_ignore_ascii_case(&p.subtype),
        None => spec.eq_ignore_ascii_case(&p.ctype),
    }
}

/// The texts RFC 5173's `:raw` compares: the undecoded body after the top-level header.
pub(crate) fn raw(msg: &[u8]) -> Vec<String> {
    let h = parse_headers(msg);
    vec![String::from_utf8_lossy(&msg[h.body_start.min(msg.len())..]).into_owned()]
}

fn walk(msg: &[u8]) -> Part {
    Walker { msg, count: 0 }.entity(0..msg.len(), false, 0)
}

/// RFC 5173 §5.2 `:content`: each part whose type matches one of `types`: a leaf's decoded
/// content, a multipart's preamble and epilogue, a message/rfc822's header (decoded field
/// values); nested parts are visited whether or not their parent matched.
pub(crate) fn content_parts(msg: &[u8], types: &[String]) -> Vec<String> {
    let root = walk(msg);
    let mut out = Vec::new();
    let mut stack: Vec<&Part> = vec![&root];
    while let Some(p) = stack.pop() {
        let hit = types.iter().any(|t| type_matches(t, p));
        match &p.kind {
            Kind::Leaf => {
                if hit {
                    out.push(content(msg, p));
                }
            }
            Kind::Multipart { parts, outside } => {
                if hit {
                    for r in outside {
                        out.push(String::from_utf8_lossy(&msg[r.clone()]).into_owned());
                    }
                }
                stack.extend(parts.iter().rev());
            }
            Kind::Message(inner) => {
                if hit {
                    let h = parse_headers(&msg[inner.header.clone()]);
                    let text: Vec<String> = h
                        .fields
                        .iter()
                        .map(|f| format!("{}: {}", f.name, decode(f.raw)))
                        .collect();
                    out.push(text.join("\r\n"));
                }
                stack.push(inner);
            }
        }
    }
    out
}

/// RFC 5173 §5.3 `:text`: the text parts decoded (text/html reduced to its text), every
/// other part ignored.
pub(crate) fn text_parts(msg: &[u8]) -> Vec<String> {
    let root = walk(msg);
    let mut out = Vec::new();
    let mut stack: Vec<&Part> = vec![&root];
    while let Some(p) = stack.pop() {
        match &p.kind {
            Kind::Leaf if p.ctype == "text" => {
                let c = content(msg, p);
                out.push(if p.subtype == "html" {
                    mail_parser::decoders::html::html_to_text(&c)
                } else {
                    c
                });
            }
            Kind::Leaf => {}
            Kind::Multipart { parts, .. } => stack.extend(parts.iter().rev()),
            Kind::Message(inner) => stack.push(inner),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
preamble text\r\n--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 au lait\r\n--XX\r\n\
Content-Type: text/html\r\n\r\n<p>Hello <b>world</b></p>\r\n--XX\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
c2VjcmV0\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n\
--XX--\r\nepilogue\r\n";

    #[test]
    fn text_transform() {
        let t = text_parts(MULTI);
        assert_eq!(t[0], "café au lait");
        assert!(t[1].contains("Hello") && t[1].contains("world") && !t[1].contains("<b>"));
        assert_eq!(t[2], "inner body");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn content_transform() {
        let types = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(content_parts(MULTI, &types(&["application"])), ["secret"]);
        let multi = content_parts(MULTI, &types(&["multipart"]));
        assert_eq!(multi, ["preamble text", "epilogue\r\n"]);
        assert_eq!(
            content_parts(MULTI, &types(&["message/rfc822"])),
            ["Subject: inner"]
        );
        assert!(content_parts(MULTI, &types(&["/plain", "text/", "a/b/c"])).is_empty());
        assert_eq!(content_parts(MULTI, &types(&[""])).len(), 7);
    }

    #[test]
    fn raw_transform_and_plain_messages() {
        assert_eq!(raw(b"Subject: x\r\n\r\nhello=20\r\n"), ["hello=20\r\n"]);
        assert_eq!(text_parts(b"Subject: x\n\nplain\n"), ["plain\n"]);
        // A multipart without its boundary is one leaf, not text.
        assert!(text_parts(b"Content-Type: multipart/mixed\r\n\r\nx").is_empty());
    }
}
