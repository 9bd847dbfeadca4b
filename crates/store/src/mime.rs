//! The MIME structure of a message, parsed once at delivery and cached in the `structure` tree
//! (keyed by blob, so COPY shares it). IMAP builds ENVELOPE, BODYSTRUCTURE and BODY[section]
//! answers from it without re-parsing.
//!
//! The design (docs/architecture.md §3.4) first named mail-parser for this job. We started with it and replaced it: IMAP
//! needs raw (undecoded) values and the exact octet offsets of every part, including in
//! malformed MIME, and a differential test against Dovecot (`tests/tests/dovecot_diff.rs`,
//! 46 messages, 687 FETCH items byte for byte) is only met by a parser that follows the
//! recovery rules below. mail-parser 0.11 also trips a `debug_assert!` on some multipart input.
//!
//! # Layout
//! - [`parse`]: header blocks, the part tree (RFC 2045/2046: multipart boundaries,
//!   message/rfc822, multipart/digest defaults) and the values ENVELOPE/BODYSTRUCTURE need.
//! - [`rfc822`]: the lexical scanner for header values (comments, quoted strings, parameters
//!   with RFC 2231 continuations).
//!
//! # Invariants
//! - Offsets are absolute byte offsets into the stored message; for every part
//!   `header_start <= body_start <= body_end <= len`. The tree is at most [`MAX_DEPTH`] deep
//!   and has at most [`MAX_PARTS`] parts; deeper or further parts are plain leaves.
//! - Never fails and never panics: malformed MIME still yields a tree, with the recovery rules
//!   of the server IMAP clients know best (Dovecot): a boundary is matched as a line prefix
//!   (the longest active one wins), the [CR]LF before a boundary line belongs to the boundary,
//!   a multipart without a usable boundary has no parts, a part of multipart/digest without
//!   Content-Type is message/rfc822, and Content-* headers count only in MIME parts
//!   (MIME-Version or Content-Type present, or any part of a multipart).
//! - Header values are kept raw (RFC 2047 words not decoded, as IMAP requires): the text after
//!   the colon and its white space, continuation lines joined with "\n" (the CR dropped).
//!   [`Envelope`] keeps them exactly ([`Envelope::raw`]) next to a readable text form.

pub mod rfc822;
mod tree;

use rfc822::Params;
use serde::{Deserialize, Serialize};
use tree::{Container, Parser};

/// Deepest part nesting parsed (Dovecot's limit too); deeper containers are leaves.
pub const MAX_DEPTH: usize = 100;
/// Most parts parsed in one message.
pub const MAX_PARTS: usize = 10_000;

/// Format of [`ParsedMessage`] as cached: a cached structure with another value (an older
/// format) is parsed again from the message.
pub const STRUCTURE_VERSION: u32 = 0x6d73_0002;

/// What IMAP needs of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMessage {
    /// [`STRUCTURE_VERSION`] when parsed.
    pub version: u32,
    /// Length of the top-level header block including the blank line.
    pub header_len: u32,
    /// Raw values of the headers ENVELOPE needs.
    pub envelope: Envelope,
    /// The part tree; the root is the message itself.
    pub root: Part,
}

/// RFC 3501 §7.4.2 ENVELOPE fields (None when absent), as readable text; [`Envelope::raw`]
/// gives the exact header value. A repeated
/// address header adds its addresses (joined with ","); a repeated other field: the last wins.
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
    /// Exact bytes of the fields above whose `String` differs from them, keyed by index in
    /// [`ENVELOPE_FIELDS`]: the `String`s are unfolded, trimmed and lossy UTF-8 (for display
    /// and substring tests), IMAP answers need the folds and the octets.
    pub exact: Vec<(u8, Vec<u8>)>,
}

/// Header names of the [`Envelope`] fields, in field order.
pub const ENVELOPE_FIELDS: [&str; 10] = [
    "Date",
    "Subject",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "In-Reply-To",
    "Message-ID",
];

impl Envelope {
    fn slot(&mut self, i: usize) -> Option<&mut Option<String>> {
        Some(match i {
            0 => &mut self.date,
            1 => &mut self.subject,
            2 => &mut self.from,
            3 => &mut self.sender,
            4 => &mut self.reply_to,
            5 => &mut self.to,
            6 => &mut self.cc,
            7 => &mut self.bcc,
            8 => &mut self.in_reply_to,
            9 => &mut self.message_id,
            _ => return None,
        })
    }

    /// The exact bytes of field `i` (index in [`ENVELOPE_FIELDS`]).
    pub fn raw(&self, i: usize) -> Option<&[u8]> {
        if let Some((_, b)) = self.exact.iter().find(|(k, _)| *k as usize == i) {
            return Some(b);
        }
        let v = [
            &self.date,
            &self.subject,
            &self.from,
            &self.sender,
            &self.reply_to,
            &self.to,
            &self.cc,
            &self.bcc,
            &self.in_reply_to,
            &self.message_id,
        ];
        v.get(i)?.as_deref().map(str::as_bytes)
    }

    fn set(&mut self, i: usize, value: &[u8]) {
        let address = (2..=7).contains(&i);
        let mut bytes = match (address, self.raw(i)) {
            (true, Some(prev)) => {
                let mut b = prev.to_vec();
                b.push(b',');
                b
            }
            _ => Vec::new(),
        };
        bytes.extend_from_slice(value);
        self.exact.retain(|(k, _)| *k as usize != i);
        // The text form: unfolded, trimmed, lossy UTF-8; the exact bytes kept when different.
        let unfolded: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\n').collect();
        let text = String::from_utf8_lossy(unfolded.trim_ascii()).into_owned();
        // `i` indexes ENVELOPE_FIELDS (ten of them).
        if let (true, Ok(k)) = (text.as_bytes() != bytes.as_slice(), u8::try_from(i)) {
            self.exact.push((k, bytes));
        }
        if let Some(slot) = self.slot(i) {
            *slot = Some(text);
        }
    }
}

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub header_start: u32,
    pub body_start: u32,
    pub body_end: u32,
    /// Type and subtype as written ("text" "plain" when absent or not a MIME part).
    pub content_type: String,
    pub subtype: String,
    /// Content-Type parameters in order (RFC 2231 continuations merged).
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// Line feeds in the body.
    pub lines: u32,
    pub kind: PartKind,
}

impl Part {
    /// text/* (RFC 3501 §7.4.2: such a body has a line count).
    pub fn is_text(&self) -> bool {
        self.content_type.eq_ignore_ascii_case("text")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    Leaf,
    /// A multipart; no children when its boundary never appears (or it has none).
    Multipart(Vec<Part>),
    /// message/rfc822: the encapsulated message's envelope and root part.
    Message(Box<Envelope>, Box<Part>),
}

/// Parses `raw` (the full stored message). Never fails.
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let mut p = Parser::new(raw);
    let (root, _) = p.part(0, 0, Container::None);
    ParsedMessage {
        version: STRUCTURE_VERSION,
        header_len: root.body_start.saturating_sub(root.header_start),
        envelope: envelope(raw, root.header_start as usize, root.body_start as usize),
        root,
    }
}

/// Offset just past the blank line that ends the header block (or the end of input).
pub fn header_length(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let Some(end) = raw[i..].iter().position(|&b| b == b'\n').map(|p| i + p + 1) else {
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

/// Raw, unfolded value of the first header `name` in the header block starting at `start`
/// (leading and trailing white space trimmed; SEARCH uses it).
pub fn raw_header(raw: &[u8], start: usize, end: usize, name: &str) -> Option<String> {
    let v = raw_header_bytes(raw.get(start..end)?, name)?;
    Some(String::from_utf8_lossy(&v).into_owned())
}

/// [`raw_header`] as octets (8-bit header text kept as it is), for a whole header block.
pub fn raw_header_bytes(block: &[u8], name: &str) -> Option<Vec<u8>> {
    let v = fields(block).find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))?;
    let unfolded: Vec<u8> = v.value.iter().copied().filter(|&b| b != b'\n').collect();
    Some(unfolded.trim_ascii().to_vec())
}

/// One header field of a block: name (white space before the colon trimmed) and raw value.
struct Field<'a> {
    name: &'a [u8],
    value: Vec<u8>,
}

/// The fields of a header block (which ends at the first empty line or the end of `block`).
fn fields(block: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut lines = block.split_inclusive(|&b| b == b'\n').peekable();
    std::iter::from_fn(move || {
        let line = lines.next()?;
        let line = strip_eol(line);
        if line.is_empty() {
            return None;
        }
        let (name, mut value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                // The white space after the colon is not part of the value (unless the
                // value is only white space: then just the first blank goes).
                let skip = v.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
                let skip = if skip == v.len() { skip.min(1) } else { skip };
                (line[..c].trim_ascii_end(), v[skip..].to_vec())
            }
            None => (line, Vec::new()),
        };
        while let Some(next) = lines.peek() {
            if !next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                break;
            }
            value.push(b'\n');
            value.extend_from_slice(strip_eol(next));
            lines.next();
        }
        Some(Field { name, value })
    })
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn envelope(raw: &[u8], start: usize, end: usize) -> Envelope {
    let mut env = Envelope::default();
    for f in fields(raw.get(start..end).unwrap_or_default()) {
        if let Some(i) = ENVELOPE_FIELDS
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(f.name))
        {
            env.set(i, &f.value);
        }
    }
    env
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn text_params(p: Params) -> Vec<(String, String)> {
    p.into_iter().map(|(k, v)| (text(&k), text(&v))).collect()
}

#[cfg(test)]
mod tests;
