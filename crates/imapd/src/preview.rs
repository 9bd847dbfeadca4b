//! The text of FETCH PREVIEW (RFC 8970 §3): a short plain-text summary of a message, made
//! from its first text part. Pure functions over the stored octets and their MIME structure;
//! `cmd/fetch.rs` writes the result.
//!
//! What Dovecot 2.3 answers is the model (the differential test compares the corpus):
//!
//! - the part: the message itself when it is text (or has no Content-Type), otherwise the
//!   first usable part of a multipart, depth first; in multipart/alternative the text/plain
//!   alternative, else text/html, else another text/*. Any other type (message/rfc822,
//!   images …) gives no preview text;
//! - its content decoded: Content-Transfer-Encoding undone (an encoding we cannot undo gives
//!   no text), the charset converted to UTF-8, text/html reduced to its text;
//! - lines starting with `>` are quotations: left out, unless the part has nothing else (then
//!   the quotation, marked with one `>`);
//! - white space runs become one space, none at either end; byte-order marks and NULs go;
//! - at most 200 characters (RFC 8970 §3 SHOULD) and never more than 256 octets (§3 MUST).

use store::mime::{raw_header_bytes, ParsedMessage, Part, PartKind};

/// RFC 8970 §3: "SHOULD NOT exceed 200 characters".
const MAX_CHARS: usize = 200;
/// RFC 8970 §3: "MUST NOT exceed 256 octets".
const MAX_OCTETS: usize = 256;

/// The preview text of a message: `""` when it has no text to show (a header-only message,
/// an attachment only), as Dovecot answers.
pub fn preview(raw: &[u8], p: &ParsedMessage) -> String {
    let Some(part) = first_text_part(raw, &p.root) else {
        return String::new();
    };
    let body = raw
        .get(part.body_start as usize..(part.body_end as usize).min(raw.len()))
        .unwrap_or_default();
    let Some(html) = text_kind(raw, part) else {
        return String::new();
    };
    let Some(decoded) = decode(body, part) else {
        return String::new();
    };
    let text = if html {
        html_to_text(&decoded)
    } else {
        decoded
    };
    summarize(&text)
}

/// Whether the part's own header names a Content-Type (Dovecot treats a part without one as
/// text, even where MIME's default is message/rfc822, as in a digest).
fn has_content_type(raw: &[u8], part: &Part) -> bool {
    raw.get(part.header_start as usize..part.body_start as usize)
        .and_then(|h| raw_header_bytes(h, "Content-Type"))
        .is_some_and(|v| !v.is_empty())
}

fn is_text(raw: &[u8], part: &Part) -> bool {
    part.is_text() || !has_content_type(raw, part)
}

/// How the chosen part's text is read, from its own Content-Type field as written: `None`
/// when that is not `text/…` (a bare `text` included, as Dovecot reads it).
fn text_kind(raw: &[u8], part: &Part) -> Option<bool> {
    let Some(value) = raw
        .get(part.header_start as usize..part.body_start as usize)
        .and_then(|h| raw_header_bytes(h, "Content-Type"))
    else {
        // No Content-Type: text/plain (RFC 2045 §5.2).
        return Some(false);
    };
    let value = String::from_utf8_lossy(&value).to_ascii_lowercase();
    let mime = value.split(';').next().unwrap_or_default().trim();
    if !mime.starts_with("text/") {
        return None;
    }
    Some(mime == "text/html")
}

/// The part whose text is the preview (see the module doc).
fn first_text_part<'a>(raw: &[u8], part: &'a Part) -> Option<&'a Part> {
    // A part without Content-Type is text even where our structure reads it as a message
    // (a digest's default): Dovecot shows its raw text.
    if is_text(raw, part) && !matches!(part.kind, PartKind::Multipart(_)) {
        return Some(part);
    }
    let PartKind::Multipart(children) = &part.kind else {
        return None;
    };
    if part.subtype.eq_ignore_ascii_case("alternative") {
        let texts = || {
            children
                .iter()
                .filter(|c| is_text(raw, c) && !matches!(c.kind, PartKind::Multipart(_)))
        };
        return texts()
            .find(|c| c.subtype.eq_ignore_ascii_case("plain") || !has_content_type(raw, c))
            .or_else(|| texts().find(|c| c.subtype.eq_ignore_ascii_case("html")))
            .or_else(|| texts().next());
    }
    children.iter().find_map(|c| first_text_part(raw, c))
}

/// The part's content as UTF-8: transfer encoding undone, charset converted. `None` for an
/// encoding we do not know or content that does not decode.
fn decode(body: &[u8], part: &Part) -> Option<String> {
    let encoding = part
        .encoding
        .as_deref()
        .map(|e| e.trim().to_ascii_lowercase());
    let octets = match encoding.as_deref() {
        None | Some("" | "7bit" | "8bit" | "binary") => body.to_vec(),
        Some("base64") => mail_parser::decoders::base64::base64_decode(body)?,
        Some("quoted-printable") => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)?
        }
        Some(_) => return None,
    };
    let charset = part
        .params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    let converted = match charset.as_deref() {
        None | Some("" | "us-ascii" | "utf-8" | "utf8") => None,
        // ISO-8859-1 proper (0x80–0x9F are C1 controls), as iconv converts it; the decoder
        // table below reads it as windows-1252.
        Some("iso-8859-1" | "iso8859-1" | "latin1" | "l1") => {
            Some(octets.iter().map(|&b| char::from(b)).collect())
        }
        Some(cs) => mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes())
            .map(|decode| decode(&octets)),
    };
    Some(converted.unwrap_or_else(|| String::from_utf8_lossy(&octets).into_owned()))
}

/// The summary of decoded text: quoted lines set aside, white space collapsed, limits
/// applied (RFC 8970 §3).
fn summarize(text: &str) -> String {
    let mut own = Collector::default();
    let mut quoted = Collector::default();
    for line in text.split('\n') {
        match line.strip_prefix('>') {
            Some(q) => quoted.push(q),
            None => own.push(line),
        }
        own.gap();
        quoted.gap();
        if own.full() {
            break;
        }
    }
    let out = if own.text.is_empty() {
        if quoted.text.is_empty() {
            return String::new();
        }
        format!(">{}", quoted.text)
    } else {
        own.text
    };
    limit(out.trim_end())
}

/// Words with single spaces between them, up to [`MAX_CHARS`].
#[derive(Default)]
struct Collector {
    text: String,
    chars: usize,
    space: bool,
}

impl Collector {
    fn push(&mut self, line: &str) {
        for c in line.chars() {
            if self.full() {
                return;
            }
            match c {
                // Byte-order marks and NULs are not text.
                '\u{feff}' | '\0' => {}
                ' ' | '\t' | '\r' | '\n' | '\u{b}' | '\u{c}' => self.gap(),
                c => {
                    if self.space && !self.text.is_empty() {
                        self.text.push(' ');
                        self.chars += 1;
                    }
                    self.space = false;
                    self.text.push(c);
                    self.chars += 1;
                }
            }
        }
    }

    fn gap(&mut self) {
        self.space = true;
    }

    fn full(&self) -> bool {
        self.chars >= MAX_CHARS
    }
}

/// At most [`MAX_CHARS`] characters and [`MAX_OCTETS`] octets, cut at a character boundary.
fn limit(s: &str) -> String {
    let mut end = 0;
    for (n, (i, c)) in s.char_indices().enumerate() {
        if n == MAX_CHARS || i + c.len_utf8() > MAX_OCTETS {
            break;
        }
        end = i + c.len_utf8();
    }
    s[..end].trim_end().to_string()
}

/// The text of an HTML document: tags, comments, scripts and style sheets removed, a space
/// where a tag was, character references resolved.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let space = |out: &mut String| {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    };
    while let Some(c) = rest.chars().next() {
        let head = |n: usize| rest.as_bytes().get(..n).map(<[u8]>::to_ascii_lowercase);
        let starts = |p: &str| head(p.len()).is_some_and(|h| h == p.as_bytes());
        if c != '<' && c != '&' {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        } else if starts("<!--") {
            rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
        } else if starts("<script") || starts("<style") {
            let close = if starts("<script") {
                "</script>"
            } else {
                "</style>"
            };
            let lowered = rest.to_ascii_lowercase();
            rest = lowered.find(close).map_or("", |e| &rest[e + close.len()..]);
            space(&mut out);
        } else if c == '<' {
            rest = tag_end(rest).map_or("", |e| &rest[e..]);
            space(&mut out);
        } else {
            let (text, used) = entity(rest);
            out.push_str(&text);
            rest = &rest[used..];
        }
    }
    out
}

/// Where a tag that starts at `s[0]` ends (after its `>`; quoted attribute values may hold
/// a `>`).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// A character reference at `s[0]` (`&amp;`, `&#233;`, `&#xe9;`): its text and length. An
/// unknown name is dropped; an `&` that starts no reference stays.
fn entity(s: &str) -> (String, usize) {
    let Some(end) = s
        .char_indices()
        .take(11)
        .find(|&(_, c)| c == ';' || c.is_whitespace())
        .filter(|&(_, c)| c == ';')
        .map(|(i, _)| i)
    else {
        return ("&".into(), 1);
    };
    let name = &s[1..end];
    let c = match name.to_ascii_lowercase().as_str() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        "eacute" => Some('é'),
        "copy" => Some('©'),
        n => match n.strip_prefix("#x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
            None => n
                .strip_prefix('#')
                .and_then(|d| d.parse().ok())
                .and_then(char::from_u32),
        },
    };
    (c.map(String::from).unwrap_or_default(), end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(raw: &str) -> String {
        preview(raw.as_bytes(), &store::mime::parse(raw.as_bytes()))
    }

    #[test]
    fn plain_text_collapsed() {
        assert_eq!(of("Subject: x\r\n\r\nA b c  d\r\ne\r\n"), "A b c d e");
        assert_eq!(of("Subject: x\r\n\r\n"), "");
        assert_eq!(of("Subject: x\r\n"), "");
    }

    #[test]
    fn quotations() {
        assert_eq!(
            of("Subject: x\r\n\r\nline\r\n> quoted\r\n\r\n\t tail\r\n"),
            "line tail"
        );
        assert_eq!(
            of("Subject: x\r\n\r\n> quoted only\r\n>more\r\n"),
            ">quoted only more"
        );
    }

    #[test]
    fn limits() {
        let long = format!("Subject: x\r\n\r\n{}", "abcdefghi ".repeat(30));
        let p = of(&long);
        assert_eq!(p.chars().count(), 199);
        assert!(p.ends_with('i'));
        // RFC 8970 §3: 200 characters of three octets each would be 600 octets.
        let wide = format!(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
            "本".repeat(300)
        );
        assert!(of(&wide).len() <= MAX_OCTETS);
    }

    #[test]
    fn decoding_and_html() {
        assert_eq!(
            of("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n77u/SGVsbG8gd29ybGQ=\r\n"),
            "Hello world"
        );
        assert_eq!(
            of("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n"),
            "café"
        );
        assert_eq!(
            of("Content-Type: text/html\r\n\r\n<b>a</b>b&amp;c&lt;&nbsp;x<style>p{}</style>y<!-- c -->z&#233;&eacute;&bogus;k\r\n"),
            "a b&c<\u{a0}x yzéék"
        );
        assert_eq!(
            of("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAA==\r\n"),
            ""
        );
        assert_eq!(
            of("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nabc\r\n"),
            ""
        );
    }

    #[test]
    fn alternative_prefers_plain() {
        let m = "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n";
        assert_eq!(of(m), "plain");
        let m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n";
        assert_eq!(of(m), "second");
    }
}
